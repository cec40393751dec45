/* afterimage-capture: the only place that prints and exits. */
#include "capture/capture.h"
#include "common/cleanup.h"
#include "common/sign.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_COMPLETE = 0, EXIT_NOBUNDLE = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3 };

static const char usage_text[] =
	"usage: afterimage-capture COMMAND [OPTIONS]\n"
	"\n"
	"commands:\n"
	"  keygen -o BASE              write BASE.key (Ed25519 PKCS#8 PEM, 0600) and BASE.pub (minisign)\n"
	"  snapshot --pid PID (--key FILE | --key-fd N) -o OUTDIR [--name NAME]\n"
	"           [--host-root DIR] [--fd-cap BYTES] [--trigger WORD]\n"
	"                              capture the container PID belongs to into OUTDIR/NAME.tar\n"
	"  version                     print the version\n"
	"\n"
	"snapshot prints one JSON line and exits 0 for a complete bundle, 3 for a partial one (sealed\n"
	"and signed, complete=false), 1 when no bundle was written, 2 for a usage error.\n"
	"The key is never taken from the environment or the command line: pass a file or a descriptor.\n";

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "afterimage-capture: %s\n", msg);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int fail(const ai_err_t *err, int code)
{
	fprintf(stderr, "afterimage-capture: %s\n", err->msg);
	return code;
}

static int cmd_keygen(int argc, char **argv)
{
	const char *base = NULL;
	static const struct option opts[] = { { "output", required_argument, 0, 'o' }, { 0, 0, 0, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		if (c == 'o')
			base = optarg;
		else
			return usage(NULL);
	}
	if (!base)
		return usage("keygen needs -o BASE");
	ai_err_t err = { 0 };
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

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int cmd_snapshot(int argc, char **argv)
{
	struct ai_snapshot_opts o = { .trigger = "manual" };
	const char *key_path = NULL, *sockets_source = NULL;
	int key_fd = -1;
	uint64_t v;
	enum { O_KEYFD = 256, O_HOSTROOT, O_FDCAP, O_TRIGGER, O_SOCKSRC };
	static const struct option opts[] = {
		{ "pid", required_argument, 0, 'p' },
		{ "key", required_argument, 0, 'k' },
		{ "key-fd", required_argument, 0, O_KEYFD },
		{ "output", required_argument, 0, 'o' },
		{ "name", required_argument, 0, 'n' },
		{ "host-root", required_argument, 0, O_HOSTROOT },
		{ "fd-cap", required_argument, 0, O_FDCAP },
		{ "trigger", required_argument, 0, O_TRIGGER },
		{ "sockets-source", required_argument, 0, O_SOCKSRC },
		{ 0, 0, 0, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "p:k:o:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u64(optarg, &v) < 0 || v == 0 || v > 4194304)
				return usage("--pid takes a process id");
			o.pid = (pid_t)v;
			break;
		case 'k':
			key_path = optarg;
			break;
		case O_KEYFD:
			if (parse_u64(optarg, &v) < 0 || v > 65535)
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
			if (parse_u64(optarg, &o.fd_cap) < 0 || o.fd_cap == 0)
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

	ai_err_t err = { 0 };
	cleanup_pkey EVP_PKEY *key = NULL;
	int kr = key_path ? ai_key_read_file(key_path, &key, &err) : ai_key_read_fd(key_fd, &key, &err);
	if (key_fd >= 0)
		close(key_fd);
	if (kr < 0)
		return fail(&err, EXIT_NOBUNDLE);

	cleanup_close int outfd = open(o.outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (outfd < 0) {
		ai_err_set(&err, errno, "output directory %s", o.outdir);
		return fail(&err, EXIT_NOBUNDLE);
	}
	o.outdir_fd = outfd;
	o.key = key;
	const char *pod[3] = { getenv("AFTERIMAGE_POD_NAME"), getenv("AFTERIMAGE_POD_NAMESPACE"),
			       getenv("AFTERIMAGE_POD_UID") };
	o.pod = pod;

	struct ai_snapshot_result r;
	if (ai_snapshot(&o, &r, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	/* The path is ours (OUTDIR/NAME) and NAME has no control characters; OUTDIR is the
	 * operator's, so escape it through the JSON writer anyway. */
	cleanup_buf struct ai_buf line;
	ai_buf_init(&line);
	struct ai_json j;
	ai_json_init(&j, &line);
	ai_json_obj_begin(&j);
	ai_json_kbytes(&j, "bundle", r.path, strlen(r.path));
	ai_json_kstr(&j, "sha256", r.sha256);
	ai_json_kbool(&j, "complete", r.complete);
	ai_json_kuint(&j, "errors", r.nerrors);
	ai_json_obj_end(&j);
	printf("%s\n", ai_buf_cstr(&line));
	return r.complete ? EXIT_COMPLETE : EXIT_PARTIAL;
}

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "keygen", cmd_keygen },
	{ "snapshot", cmd_snapshot },
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
