/* afterimage-capture: the only place that prints and exits. */
#include "capture/capture.h"
#include "capture/jsonline.h"
#include "common/esc.h"
#include "capture/sidecar.h"
#include "common/cleanup.h"
#include "common/sign.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define AI_DEFAULT_SOCKET "/run/afterimage/trigger.sock"

enum { EXIT_COMPLETE = 0, EXIT_NOBUNDLE = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };

static const char usage_text[] =
    "usage: afterimage-capture COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  keygen -o BASE              write BASE.key (Ed25519 PKCS#8 PEM, 0600) and BASE.pub (minisign)\n"
    "  snapshot --pid PID (--key FILE | --key-fd N) -o OUTDIR [--name NAME]\n"
    "           [--host-root DIR] [--fd-cap BYTES] [--trigger WORD]\n"
    "                              capture the container PID belongs to into OUTDIR/NAME.tar\n"
    "  serve (--key FILE | --key-fd N) -o|--output OUTDIR [--token-file FILE] [--listen ADDR:PORT|none]\n"
    "           [--socket PATH|none] [--target auto | --target-pid PID | --target-exe REGEX |\n"
    "           --target-cgroup SUBSTR] [--baseline] [--no-freeze] [--freeze-all] [--no-harden]\n"
    "           [--no-exit-trigger] [--grace SECONDS] [--http-timeout MS] [--max-conns N]\n"
    "           [--host-root DIR] [--cgroup-root DIR] [--upload URL [--ca-file FILE]\n"
    "           [--upload-retries N] [--delete-after-upload]]\n"
    "                              the sidecar: capture on HTTP/exec trigger, SIGTERM or target exit\n"
    "                              (docs/sidecar.md); defaults: --listen 0.0.0.0:9102,\n"
    "                              --socket " AI_DEFAULT_SOCKET "\n"
    "  trigger [--socket PATH] [--reason TEXT | --status | --sandbox-check]\n"
    "                              ask a running serve to capture now; prints its JSON reply\n"
    "  version                     print the version\n"
    "\n"
    "snapshot prints one JSON line and exits 0 for a complete bundle, 3 for a partial one (sealed\n"
    "and signed, complete=false), 1 when no bundle was written, 2 for a usage error.\n"
    "The key is never taken from the environment or the command line: pass a file or a descriptor.\n";

static int usage(const char *msg)
{
	if (msg)
		ai_eprintf("afterimage-capture", "%s", msg);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int fail(const ai_err_t *err, int code)
{
	ai_eprintf("afterimage-capture", "%s", err->msg);
	return code;
}

static int cmd_keygen(int argc, char **argv)
{
	const char *base = NULL;
	static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {0, 0, 0, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			base = optarg;
		else
			return usage(NULL);
	}
	if (!base)
		return usage("keygen needs -o BASE");
	ai_err_t err = {0};
	cleanup_pkey EVP_PKEY *key = NULL;
	if (ai_key_generate(&key, &err) < 0 || ai_key_write(key, base, &err) < 0)
		return fail(&err, 1);
	struct ai_pubkey pub;
	if (ai_key_pub(key, &pub, &err) < 0)
		return fail(&err, 1);
	char id[17];
	ai_hex(pub.keyid, 8, id);
	printf("{\"key\":\"%s.key\",\"pub\":\"%s.pub\",\"key_id\":\"%s\"}\n", base, base, id);
	return 0;
}

/* A decimal option value in [lo, hi]. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Setup shared by snapshot and serve: the key from a file or a descriptor (never env or argv,
 * closed once read), the output directory, and the pod identity the downward API exports. */
static int setup_key_outdir(const char *key_path, int key_fd, const char *outdir, EVP_PKEY **key, int *outfd,
			    const char *pod[3], ai_err_t *err)
{
	int kr = key_path ? ai_key_read_file(key_path, key, err) : ai_key_read_fd(key_fd, key, err);
	if (key_fd >= 0)
		close(key_fd);
	if (kr < 0)
		return -1;
	*outfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*outfd < 0)
		return ai_err_set(err, errno, "output directory %s", outdir);
	pod[0] = getenv("AFTERIMAGE_POD_NAME");
	pod[1] = getenv("AFTERIMAGE_POD_NAMESPACE");
	pod[2] = getenv("AFTERIMAGE_POD_UID");
	return 0;
}

static int cmd_snapshot(int argc, char **argv)
{
	struct ai_snapshot_opts o = {.trigger = "manual"};
	const char *key_path = NULL, *sockets_source = NULL;
	int key_fd = -1;
	uint64_t v;
	enum { O_KEYFD = 256, O_HOSTROOT, O_FDCAP, O_TRIGGER, O_SOCKSRC };
	static const struct option opts[] = {
	    {"pid", required_argument, 0, 'p'},
	    {"key", required_argument, 0, 'k'},
	    {"key-fd", required_argument, 0, O_KEYFD},
	    {"output", required_argument, 0, 'o'},
	    {"name", required_argument, 0, 'n'},
	    {"host-root", required_argument, 0, O_HOSTROOT},
	    {"fd-cap", required_argument, 0, O_FDCAP},
	    {"trigger", required_argument, 0, O_TRIGGER},
	    {"sockets-source", required_argument, 0, O_SOCKSRC},
	    {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "p:k:o:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u64(optarg, 1, 4194304, &v) < 0)
				return usage("--pid takes a process id");
			o.pid = (pid_t)v;
			break;
		case 'k':
			key_path = optarg;
			break;
		case O_KEYFD:
			if (parse_u64(optarg, 0, 65535, &v) < 0)
				return usage("--key-fd takes a descriptor number");
			key_fd = (int)v;
			break;
		case 'o':
			o.outdir = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case O_HOSTROOT:
			o.host_root = optarg;
			break;
		case O_FDCAP:
			if (parse_u64(optarg, 1, UINT64_MAX, &o.fd_cap) < 0)
				return usage("--fd-cap takes a byte count > 0");
			break;
		case O_TRIGGER:
			o.trigger = optarg;
			break;
		case O_SOCKSRC:
			sockets_source = optarg;
			break;
		default:
			return usage(NULL);
		}
	}
	if (!o.pid || !o.outdir || (!key_path && key_fd < 0) || (key_path && key_fd >= 0))
		return usage("snapshot needs --pid, -o OUTDIR and one of --key or --key-fd");
	if (sockets_source) {
		if (strcmp(sockets_source, "proc") == 0)
			ai_sockets_force_proc = true;
		else if (strcmp(sockets_source, "netlink") != 0)
			return usage("--sockets-source is netlink or proc");
	}
	if (o.name)
		for (const char *p = o.name; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == '/' || *p == 0x7f)
				return usage("--name must be a plain file name without control characters");

	ai_err_t err = {0};
	cleanup_pkey EVP_PKEY *key = NULL;
	cleanup_close int outfd = -1;
	const char *pod[3];
	if (setup_key_outdir(key_path, key_fd, o.outdir, &key, &outfd, pod, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	o.outdir_fd = outfd;
	o.key = key;
	o.pod = pod;

	struct ai_snapshot_result r;
	if (ai_snapshot(&o, &r, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	cleanup_buf struct ai_buf line;
	ai_buf_init(&line);
	struct ai_json j;
	ai_json_init(&j, &line);
	ai_json_obj_begin(&j);
	ai_jsonline_result(&j, &r);
	ai_json_obj_end(&j);
	printf("%s\n", ai_buf_cstr(&line));
	return r.complete ? EXIT_COMPLETE : EXIT_PARTIAL;
}

/* The bearer token: read once from its file into a locked page, never from env or argv. */
static char *read_token(const char *path, size_t *len, ai_err_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ai_err_set(err, errno, "token file %s", path);
		return NULL;
	}
	char *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		ai_err_set(err, errno, "mmap");
		return NULL;
	}
	mlock(buf, 4096);
	madvise(buf, 4096, MADV_DONTDUMP);
	size_t got = 0;
	ssize_t n;
	while ((n = read(fd, buf + got, 4095 - got)) > 0)
		got += (size_t)n;
	while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' '))
		got--;
	buf[got] = '\0';
	bool ok = n == 0 && got >= 16 && got <= 512;
	for (size_t i = 0; i < got; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
			ok = false;
	if (!ok) {
		ai_err_set(err, n < 0 ? errno : 0, "token file %s: want 16..512 visible ASCII characters",
			   path);
		munmap(buf, 4096);
		return NULL;
	}
	*len = got;
	return buf;
}

static int cmd_serve(int argc, char **argv)
{
	struct ai_serve_opts o = {
	    .listen = "0.0.0.0:9102",
	    .socket_path = AI_DEFAULT_SOCKET,
	    .freeze = true,
	    .harden = true,
	    .watch_exit = true,
	    .grace_ms = 25000,
	    .http_timeout_ms = 5000,
	    .max_conns = 64,
	    .log_fd = 2,
	};
	struct ai_upload_opts up = {.retries = 4, .backoff_ms = 500, .timeout_ms = 10000};
	const char *key_path = NULL, *token_file = NULL;
	int key_fd = -1;
	uint64_t v;
	int nsel = 0;
	enum {
		O_KEYFD = 256,
		O_TOKEN,
		O_LISTEN,
		O_SOCKET,
		O_TARGET,
		O_TPID,
		O_TEXE,
		O_TCG,
		O_BASELINE,
		O_NOFREEZE,
		O_FREEZEALL,
		O_NOHARDEN,
		O_NOEXIT,
		O_GRACE,
		O_HTTPTMO,
		O_MAXCONN,
		O_HOSTROOT,
		O_CGROOT,
		O_UPLOAD,
		O_CAFILE,
		O_RETRIES,
		O_DELETE,
		O_HOLD,
	};
	static const struct option opts[] = {
	    {"key", required_argument, 0, 'k'},
	    {"key-fd", required_argument, 0, O_KEYFD},
	    {"output", required_argument, 0, 'o'},
	    {"token-file", required_argument, 0, O_TOKEN},
	    {"listen", required_argument, 0, O_LISTEN},
	    {"socket", required_argument, 0, O_SOCKET},
	    {"target", required_argument, 0, O_TARGET},
	    {"target-pid", required_argument, 0, O_TPID},
	    {"target-exe", required_argument, 0, O_TEXE},
	    {"target-cgroup", required_argument, 0, O_TCG},
	    {"baseline", no_argument, 0, O_BASELINE},
	    {"no-freeze", no_argument, 0, O_NOFREEZE},
	    {"freeze-all", no_argument, 0, O_FREEZEALL},
	    {"no-harden", no_argument, 0, O_NOHARDEN},
	    {"no-exit-trigger", no_argument, 0, O_NOEXIT},
	    {"grace", required_argument, 0, O_GRACE},
	    {"http-timeout", required_argument, 0, O_HTTPTMO},
	    {"max-conns", required_argument, 0, O_MAXCONN},
	    {"host-root", required_argument, 0, O_HOSTROOT},
	    {"cgroup-root", required_argument, 0, O_CGROOT},
	    {"upload", required_argument, 0, O_UPLOAD},
	    {"ca-file", required_argument, 0, O_CAFILE},
	    {"upload-retries", required_argument, 0, O_RETRIES},
	    {"delete-after-upload", no_argument, 0, O_DELETE},
	    {"debug-freeze-hold-ms", required_argument, 0, O_HOLD},
	    {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "k:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case O_KEYFD:
			if (parse_u64(optarg, 0, 65535, &v) < 0)
				return usage("--key-fd takes a descriptor number");
			key_fd = (int)v;
			break;
		case 'o':
			o.outdir = optarg;
			break;
		case O_TOKEN:
			token_file = optarg;
			break;
		case O_LISTEN:
			o.listen = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case O_SOCKET:
			o.socket_path = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case O_TARGET:
			if (strcmp(optarg, "auto") != 0)
				return usage("--target takes auto (or use --target-pid/-exe/-cgroup)");
			o.target.sel = AI_SELECT_AUTO;
			nsel++;
			break;
		case O_TPID:
			if (parse_u64(optarg, 1, 4194304, &v) < 0)
				return usage("--target-pid takes a process id");
			o.target.sel = AI_SELECT_PID;
			o.target.pid = (pid_t)v;
			nsel++;
			break;
		case O_TEXE:
			o.target.sel = AI_SELECT_EXE;
			o.target.pattern = optarg;
			nsel++;
			break;
		case O_TCG:
			o.target.sel = AI_SELECT_CGROUP;
			o.target.pattern = optarg;
			nsel++;
			break;
		case O_BASELINE:
			o.baseline = true;
			break;
		case O_NOFREEZE:
			o.freeze = false;
			break;
		case O_FREEZEALL:
			o.freeze_all = true;
			break;
		case O_NOHARDEN:
			o.harden = false;
			break;
		case O_NOEXIT:
			o.watch_exit = false;
			break;
		case O_GRACE:
			if (parse_u64(optarg, 1, 3600, &v) < 0)
				return usage("--grace takes seconds (1..3600)");
			o.grace_ms = (unsigned)v * 1000;
			break;
		case O_HTTPTMO:
			if (parse_u64(optarg, 10, 600000, &v) < 0)
				return usage("--http-timeout takes milliseconds (10..600000)");
			o.http_timeout_ms = (unsigned)v;
			break;
		case O_MAXCONN:
			if (parse_u64(optarg, 1, 4096, &v) < 0)
				return usage("--max-conns takes 1..4096");
			o.max_conns = (unsigned)v;
			break;
		case O_HOSTROOT:
			o.host_root = optarg;
			break;
		case O_CGROOT:
			o.cgroup_root = optarg;
			break;
		case O_UPLOAD:
			up.url = optarg;
			break;
		case O_CAFILE:
			up.ca_file = optarg;
			break;
		case O_RETRIES:
			if (parse_u64(optarg, 0, 100, &v) < 0)
				return usage("--upload-retries takes 0..100");
			up.retries = (unsigned)v;
			break;
		case O_DELETE:
			o.delete_after_upload = true;
			break;
		case O_HOLD:
			if (parse_u64(optarg, 0, 600000, &v) < 0)
				return usage("--debug-freeze-hold-ms takes milliseconds");
			o.freeze_hold_ms = (unsigned)v;
			break;
		default:
			return usage(NULL);
		}
	}
	if (optind != argc)
		return usage("serve takes no positional arguments");
	if (!o.outdir || (!key_path && key_fd < 0) || (key_path && key_fd >= 0))
		return usage("serve needs -o OUTDIR and one of --key or --key-fd");
	if (nsel > 1)
		return usage("choose one of --target, --target-pid, --target-exe, --target-cgroup");
	if (o.listen && !token_file)
		return usage("the HTTP trigger needs --token-file (or --listen none)");
	if (up.ca_file && !up.url)
		return usage("--ca-file goes with --upload");
	if (o.delete_after_upload && !up.url)
		return usage("--delete-after-upload goes with --upload");

	ai_err_t err = {0};
	if (token_file) {
		o.token = read_token(token_file, &o.token_len, &err);
		if (!o.token)
			return fail(&err, EXIT_NOBUNDLE);
	}
	cleanup_pkey EVP_PKEY *key = NULL;
	cleanup_close int outfd = -1;
	const char *pod[3];
	if (setup_key_outdir(key_path, key_fd, o.outdir, &key, &outfd, pod, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	o.outdir_fd = outfd;
	o.key = key;
	o.upload = up.url ? &up : NULL;
	o.pod = pod;
	if (ai_serve(&o, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	return 0;
}

static int cmd_trigger(int argc, char **argv)
{
	const char *sock = AI_DEFAULT_SOCKET, *reason = NULL;
	const char *cmd = NULL;
	enum { O_SOCKET = 256, O_REASON, O_STATUS, O_SANDBOX };
	static const struct option opts[] = {
	    {"socket", required_argument, 0, O_SOCKET},
	    {"reason", required_argument, 0, O_REASON},
	    {"status", no_argument, 0, O_STATUS},
	    {"sandbox-check", no_argument, 0, O_SANDBOX},
	    {0, 0, 0, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_SOCKET:
			sock = optarg;
			break;
		case O_REASON:
			reason = optarg;
			break;
		case O_STATUS:
			cmd = "status";
			break;
		case O_SANDBOX:
			cmd = "sandbox-check";
			break;
		default:
			return usage(NULL);
		}
	}
	if (reason && cmd)
		return usage("--reason goes with a capture, not with --status or --sandbox-check");
	if (reason && (strlen(reason) > 128 || strchr(reason, '\n')))
		return usage("--reason: at most 128 characters on one line");
	char line[160];
	if (!cmd) {
		snprintf(line, sizeof(line), "capture%s%s", reason ? " " : "", reason ? reason : "");
		cmd = line;
	}
	ai_err_t err = {0};
	cleanup_buf struct ai_buf reply;
	ai_buf_init(&reply);
	if (ai_trigger(sock, cmd, &reply, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	fwrite(reply.data, 1, reply.len, stdout);
	return strstr(ai_buf_cstr(&reply), "\"error\"") ? EXIT_NOBUNDLE : 0;
}

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
    {"keygen", cmd_keygen},
    {"snapshot", cmd_snapshot},
    {"serve", cmd_serve},
    {"trigger", cmd_trigger},
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(NULL);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("afterimage-capture %s\n", AI_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return usage("unknown command");
}
