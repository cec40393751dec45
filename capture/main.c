/* afterimage-capture: the only place that prints and exits. One table of commands, each with its
 * usage; one dispatch; every command answers --help and -h with its own usage on stdout. */
#include "capture/capture.h"
#include "capture/criurun.h"
#include "capture/jsonline.h"
#include "capture/opts.h"
#include "capture/seal.h"
#include "capture/sidecar.h"
#include "common/cleanup.h"
#include "common/esc.h"
#include "common/safeopen.h"
#include "common/sign.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define AI_DEFAULT_SOCKET "/run/afterimage/trigger.sock"
#define PROG		  "afterimage-capture"

enum { EXIT_COMPLETE = 0, EXIT_NOBUNDLE = 1, EXIT_USAGE = 2, EXIT_PARTIAL = 3, EXIT_INTERRUPTED = 4 };

/* snapshot: SIGTERM, SIGHUP and SIGINT only ask the capture to stop; ai_snapshot thaws,
 * abandons the bundle (its .partial removed) and returns, and main exits EXIT_INTERRUPTED. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void catch_stop_signals(void)
{
	struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

struct command {
	const char *name;
	int (*run)(const struct command *cmd, int argc, char **argv);
	/* What follows the name in a usage line; continuation lines after '\n'. */
	const char *synopsis;
	/* What it does, one line or a few after '\n'. */
	const char *summary;
	/* Said in the command's own usage only; NULL for nothing. */
	const char *notes;
};

/* Lines of a '\n'-separated text: the next one into line/len, false after the last. */
static bool next_line(const char **p, const char **line, int *len)
{
	if (!*p)
		return false;
	const char *nl = strchr(*p, '\n');
	*line = *p;
	*len = nl ? (int)(nl - *p) : (int)strlen(*p);
	*p = nl ? nl + 1 : NULL;
	return true;
}

#define SUMMARY_COL 30
#define CONT_INDENT "           "

static void print_usage(FILE *f, const struct command *c)
{
	const char *p = c->synopsis, *line;
	int len;
	fprintf(f, "usage: " PROG " %s", c->name);
	for (bool first = true; next_line(&p, &line, &len); first = false)
		fprintf(f, first ? " %.*s" : "\n" CONT_INDENT "%.*s", len, line);
	fputs("\n\n", f);
	for (p = c->summary; next_line(&p, &line, &len);)
		fprintf(f, "%.*s\n", len, line);
	if (c->notes)
		fprintf(f, "\n%s", c->notes);
}

/* A usage error: the message (escaped: it may quote argv) and the command's usage, on stderr. */
static int usage(const struct command *c, const char *msg)
{
	ai_eprintf(PROG, "%s", msg);
	print_usage(stderr, c);
	return EXIT_USAGE;
}

static int fail(const ai_err_t *err, int code)
{
	ai_eprintf(PROG, "%s", err->msg);
	return code;
}

/* Parse a command's options; -1 to go on, else the status to exit with. */
static int parse(const struct command *c, const struct ai_opt *opts, size_t n, int argc, char **argv,
		 int *first_arg)
{
	ai_err_t err = {0};
	int arg0;
	switch (ai_opts_parse(opts, n, argc, argv, first_arg ? first_arg : &arg0, &err)) {
	case AI_OPTS_OK:
		return -1;
	case AI_OPTS_HELP:
		print_usage(stdout, c);
		return 0;
	default:
		return usage(c, err.msg);
	}
}

#define NOPTS(a) (sizeof(a) / sizeof((a)[0]))

/* What a capture may keep, for snapshot and serve alike (capture.h has the defaults). */
#define LIMIT_OPTS(fc, ub, ob)                                                                               \
	AI_OPT_N("file-cap", 0, AI_OPT_U64, &(fc), 1, UINT64_MAX, "--file-cap takes a byte count > 0"),      \
	    AI_OPT_N("upper-budget", 0, AI_OPT_U64, &(ub), 1, UINT64_MAX,                                    \
		     "--upper-budget takes a byte count > 0"),                                               \
	    AI_OPT_N("output-budget", 0, AI_OPT_U64, &(ob), 1, UINT64_MAX,                                   \
		     "--output-budget takes a byte count > 0")
#define LIMIT_NOTES                                                                                          \
	"Limits, in bytes: --file-cap 268435456 (256 MiB) of each upperdir file, --upper-budget\n"           \
	"2147483648 (2 GiB) of all upperdir content, --output-budget 4294967296 (4 GiB) of the bundle\n"     \
	"(never more than the output directory has free). A cut is logged and marked; a budget that\n"       \
	"cuts makes the bundle partial (docs/capture.md).\n"

/* --memory[=anon|all]: bare means anon. */
static const char *set_memory(const struct ai_opt *o, const char *arg)
{
	enum ai_memory_mode *m = o->dst;
	if (!arg || !strcmp(arg, "anon"))
		*m = AI_MEMORY_ANON;
	else if (!strcmp(arg, "all"))
		*m = AI_MEMORY_ALL;
	else
		return "--memory takes anon or all (--memory alone: anon)";
	return NULL;
}

#define MEMORY_OPTS(mode, mcap, mtotal)                                                                      \
	AI_OPT_FO("memory", &(mode), set_memory),                                                            \
	    AI_OPT_N("memory-cap", 0, AI_OPT_U64, &(mcap), 4096, UINT64_MAX,                                 \
		     "--memory-cap takes a byte count >= 4096"),                                             \
	    AI_OPT_N("memory-total", 0, AI_OPT_U64, &(mtotal), 4096, UINT64_MAX,                             \
		     "--memory-total takes a byte count >= 4096")
#define MEMORY_NOTES                                                                                         \
	"--memory[=anon|all] writes one ELF core per process (memory/PID.core, gdb -c reads it):\n"          \
	"anonymous, heap, stack and private writable mappings; =all adds every readable file\n"              \
	"mapping. --memory-cap 268435456 (256 MiB) of each core, --memory-total 1073741824 (1 GiB)\n"        \
	"of all of them; a cut is logged, the total's makes the bundle partial (docs/memory.md).\n"

/* ---- what snapshot and serve share: the key from a file or a descriptor (never env or argv,
 * closed once read), the output directory, the host root, the pod identity */
struct common {
	const char *key_path;
	int key_fd;
	const char *outdir;
	const char *host_root;
	bool allow_loose_mode; /* key and token files that group or others may read */
};

#define COMMON_OPTS(co)                                                                                      \
	AI_OPT_S("key", 'k', AI_OPT_STR, &(co).key_path),                                                    \
	    AI_OPT_N("key-fd", 0, AI_OPT_INT, &(co).key_fd, 0, 65535, "--key-fd takes a descriptor number"), \
	    AI_OPT_S("output", 'o', AI_OPT_STR, &(co).outdir),                                               \
	    AI_OPT_S("host-root", 0, AI_OPT_STR, &(co).host_root),                                           \
	    AI_OPT_FLAG("allow-loose-secret-mode", AI_OPT_TRUE, &(co).allow_loose_mode)

/* -o and exactly one of --key, --key-fd */
static bool common_complete(const struct common *co)
{
	return co->outdir && (co->key_path != NULL) != (co->key_fd >= 0);
}

static int common_setup(const struct common *co, EVP_PKEY **key, int *outfd, const char *pod[3],
			ai_err_t *err)
{
	int kr = co->key_path ? ai_key_read_file(co->key_path, co->allow_loose_mode, key, err)
			      : ai_key_read_fd(co->key_fd, key, err);
	if (co->key_fd >= 0)
		close(co->key_fd);
	if (kr < 0)
		return -1;
	*outfd = open(co->outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*outfd < 0)
		return ai_err_set(err, errno, "output directory %s", co->outdir);
	pod[0] = getenv("AFTERIMAGE_POD_NAME");
	pod[1] = getenv("AFTERIMAGE_POD_NAMESPACE");
	pod[2] = getenv("AFTERIMAGE_POD_UID");
	return 0;
}

/* ---- the commands */
static int cmd_keygen(const struct command *cmd, int argc, char **argv)
{
	const char *base = NULL;
	const struct ai_opt opts[] = {AI_OPT_S("output", 'o', AI_OPT_STR, &base)};
	int r = parse(cmd, opts, NOPTS(opts), argc, argv, NULL);
	if (r >= 0)
		return r;
	if (!base)
		return usage(cmd, "keygen needs -o BASE");
	ai_err_t err = {0};
	cleanup_pkey EVP_PKEY *key = NULL;
	if (ai_key_generate(&key, &err) < 0 || ai_key_write(key, base, &err) < 0)
		return fail(&err, 1);
	struct ai_pubkey pub;
	if (ai_key_pub(key, &pub, &err) < 0)
		return fail(&err, 1);
	char id[17];
	ai_keyid_str(pub.keyid, id);
	cleanup_buf struct ai_buf line, path;
	ai_buf_init(&line);
	ai_buf_init(&path);
	struct ai_json j;
	ai_json_init(&j, &line);
	ai_json_obj_begin(&j);
	ai_buf_printf(&path, "%s.key", base);
	ai_json_kbytes(&j, "key", path.data, path.len);
	ai_buf_reset(&path);
	ai_buf_printf(&path, "%s.pub", base);
	ai_json_kbytes(&j, "pub", path.data, path.len);
	ai_json_kstr(&j, "key_id", id);
	ai_json_obj_end(&j);
	ai_jsonline_safe(&line);
	printf("%s\n", ai_buf_cstr(&line));
	return 0;
}

static int set_volumes(const char *v)
{
	if (!v || !strcmp(v, "ephemeral"))
		ai_volumes_mode = AI_VOLUMES_EPHEMERAL;
	else if (!strcmp(v, "writable"))
		ai_volumes_mode = AI_VOLUMES_WRITABLE;
	else if (!strcmp(v, "none"))
		ai_volumes_mode = AI_VOLUMES_NONE;
	else
		return -1;
	return 0;
}

static int cmd_snapshot(const struct command *cmd, int argc, char **argv)
{
	struct ai_snapshot_opts o = {.trigger = "manual"};
	struct common co = {.key_fd = -1};
	const char *sockets_source = NULL, *cgroup_root = NULL, *volumes = NULL;
	unsigned max_procs = AI_DEFAULT_MAX_PROCS, hold_ms = 0;
	bool whole_pod = false, freeze = true;
	const struct ai_opt opts[] = {
	    AI_OPT_N("pid", 'p', AI_OPT_INT, &o.pid, 1, 4194304, "--pid takes a process id"),
	    AI_OPT_FLAG("pod", AI_OPT_TRUE, &whole_pod),
	    AI_OPT_FLAG("no-freeze", AI_OPT_FALSE, &freeze),
	    AI_OPT_FLAG("freeze-all", AI_OPT_TRUE, &o.freeze_all),
	    AI_OPT_S("cgroup-root", 0, AI_OPT_STR, &cgroup_root),
	    AI_OPT_N("debug-freeze-hold-ms", 0, AI_OPT_UINT, &hold_ms, 0, 600000,
		     "--debug-freeze-hold-ms takes milliseconds"),
	    AI_OPT_N("max-procs", 0, AI_OPT_UINT, &max_procs, 1, 4194304, "--max-procs takes 1..4194304"),
	    COMMON_OPTS(co),
	    AI_OPT_S("name", 'n', AI_OPT_STR, &o.name),
	    AI_OPT_N("fd-cap", 0, AI_OPT_U64, &o.fd_cap, 1, UINT64_MAX, "--fd-cap takes a byte count > 0"),
	    LIMIT_OPTS(o.file_cap, o.upper_budget, o.output_budget),
	    AI_OPT_S("trigger", 0, AI_OPT_STR, &o.trigger),
	    AI_OPT_S("sockets-source", 0, AI_OPT_STR, &sockets_source),
	    AI_OPT_S("volumes", 0, AI_OPT_STR, &volumes),
	    AI_OPT_FLAG("criu", AI_OPT_TRUE, &o.criu),
	    MEMORY_OPTS(o.memory, o.memory_cap, o.memory_total),
	    AI_OPT_FLAG("freeze", AI_OPT_TRUE, &freeze), /* the default since format 2; kept for scripts */
	};
	int r = parse(cmd, opts, NOPTS(opts), argc, argv, NULL);
	if (r >= 0)
		return r;
	if (cgroup_root && !freeze)
		return usage(cmd, "--cgroup-root does not go with --no-freeze");
	if (!o.pid || !common_complete(&co))
		return usage(cmd, "snapshot needs --pid, -o OUTDIR and one of --key or --key-fd");
	if (set_volumes(volumes) < 0)
		return usage(cmd, "--volumes is ephemeral, writable or none");
	if (sockets_source) {
		if (strcmp(sockets_source, "proc") == 0)
			ai_sockets_force_proc = true;
		else if (strcmp(sockets_source, "netlink") != 0)
			return usage(cmd, "--sockets-source is netlink or proc");
	}
	if (o.name)
		for (const char *p = o.name; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == '/' || *p == 0x7f)
				return usage(cmd,
					     "--name must be a plain file name without control characters");

	catch_stop_signals();
	ai_err_t err = {0};
	cleanup_pkey EVP_PKEY *key = NULL;
	cleanup_close int outfd = -1;
	const char *pod[3];
	if (common_setup(&co, &key, &outfd, pod, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	o.outdir = co.outdir;
	o.host_root = co.host_root;
	o.outdir_fd = outfd;
	o.key = key;
	o.pod = pod;
	o.max_procs = max_procs;
	o.stop = &stop_signal;
	cleanup_close int proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	pid_t pids[AI_MAX_CONTAINERS] = {o.pid};
	size_t npids = 1;
	if (whole_pod) {
		struct ai_found found[AI_MAX_CONTAINERS];
		if (ai_discover_pod(proc_fd, o.pid, found, AI_MAX_CONTAINERS, &npids, &err) < 0)
			return fail(&err, EXIT_NOBUNDLE);
		for (size_t i = 0; i < npids; i++)
			pids[i] = found[i].pid;
		o.pids = pids;
		o.npids = npids;
	}
	/* Frozen by default, as serve is: one window for every container of a pod, a watchdog that
	 * thaws if we die. Not freezable (our own cgroup, no freezer): said so in the bundle's log
	 * and captured live. */
	static struct ai_freezer_set fz;
	struct ai_freeze_hooks hooks;
	fz.watchdog_pipe = -1;
	if (freeze) {
		ai_err_t ferr = {0};
		if (ai_freezer_set_open(proc_fd, pids, npids, cgroup_root, &fz, &ferr) < 0)
			snprintf(fz.why, sizeof(fz.why), "%s", ferr.msg);
		fz.hold_ms = hold_ms;
		ai_freezer_set_hooks(&fz, &hooks);
		o.freeze = &hooks;
	}
	struct ai_snapshot_result res;
	int sr = ai_snapshot(&o, &res, &err);
	ai_freezer_set_close(&fz);
	for (unsigned i = 0; i < res.nleftovers && i < AI_LEFTOVERS_NAMED; i++)
		ai_eprintf(PROG,
			   "warning: %s/%s: left by an interrupted capture, not a bundle (never reused)",
			   co.outdir, res.leftover[i]);
	if (res.nleftovers > AI_LEFTOVERS_NAMED)
		ai_eprintf(PROG, "warning: and %u more", res.nleftovers - AI_LEFTOVERS_NAMED);
	if (sr < 0 && stop_signal) {
		ai_eprintf(PROG, "interrupted by %s (signal %d): capture abandoned, no bundle written",
			   strsignal(stop_signal), (int)stop_signal);
		return EXIT_INTERRUPTED;
	}
	if (sr < 0)
		return fail(&err, EXIT_NOBUNDLE);
	cleanup_buf struct ai_buf line;
	ai_buf_init(&line);
	struct ai_json j;
	ai_json_init(&j, &line);
	ai_json_obj_begin(&j);
	ai_jsonline_result(&j, &res);
	ai_json_obj_end(&j);
	ai_jsonline_safe(&line);
	printf("%s\n", ai_buf_cstr(&line));
	return res.complete ? EXIT_COMPLETE : EXIT_PARTIAL;
}

/* The bearer token: read once from its file into a locked page, never from env or argv. */
static char *read_token(const char *path, bool allow_loose_mode, size_t *len, ai_err_t *err)
{
	cleanup_close int fd = ai_open_secret(path, "token file", allow_loose_mode, err);
	if (fd < 0)
		return NULL;
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

/* serve's target selection: one of --target auto, --target-pid, --target-exe, --target-cgroup */
struct target_sel {
	struct ai_discover_opts *d;
	int n;
};

static const char *sel_target(const struct ai_opt *o, const char *arg)
{
	struct target_sel *t = o->dst;
	if (!strcmp(o->name, "target")) {
		if (strcmp(arg, "auto") != 0 && strcmp(arg, "pod") != 0)
			return "--target takes auto or pod (or use --target-pid/-exe/-cgroup)";
		t->d->sel = strcmp(arg, "pod") ? AI_SELECT_AUTO : AI_SELECT_POD;
	} else if (!strcmp(o->name, "target-pid")) {
		uint64_t v;
		if (ai_opt_number(arg, 1, 4194304, &v) < 0)
			return "--target-pid takes a process id";
		t->d->sel = AI_SELECT_PID;
		t->d->pid = (pid_t)v;
	} else {
		t->d->sel = !strcmp(o->name, "target-exe") ? AI_SELECT_EXE : AI_SELECT_CGROUP;
		t->d->pattern = arg;
	}
	t->n++;
	return NULL;
}

static int cmd_serve(const struct command *cmd, int argc, char **argv)
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
	    .max_conns_per_peer = 16,
	    .max_socket_conns = 16,
	    .log_fd = 2,
	};
	struct ai_upload_opts up = {.retries = 4, .backoff_ms = 500, .timeout_ms = 10000};
	struct common co = {.key_fd = -1};
	const char *token_file = NULL, *volumes = NULL;
	unsigned grace_s = o.grace_ms / 1000;
	struct target_sel sel = {.d = &o.target};
	const struct ai_opt opts[] = {
	    COMMON_OPTS(co),
	    AI_OPT_S("token-file", 0, AI_OPT_STR, &token_file),
	    AI_OPT_S("listen", 0, AI_OPT_STR_NONE, &o.listen),
	    AI_OPT_S("socket", 0, AI_OPT_STR_NONE, &o.socket_path),
	    AI_OPT_F("target", &sel, sel_target),
	    AI_OPT_F("target-pid", &sel, sel_target),
	    AI_OPT_F("target-exe", &sel, sel_target),
	    AI_OPT_F("target-cgroup", &sel, sel_target),
	    AI_OPT_FLAG("baseline", AI_OPT_TRUE, &o.baseline),
	    AI_OPT_S("volumes", 0, AI_OPT_STR, &volumes),
	    AI_OPT_FLAG("no-freeze", AI_OPT_FALSE, &o.freeze),
	    AI_OPT_FLAG("freeze-all", AI_OPT_TRUE, &o.freeze_all),
	    AI_OPT_FLAG("no-harden", AI_OPT_FALSE, &o.harden),
	    AI_OPT_FLAG("criu", AI_OPT_TRUE, &o.criu),
	    AI_OPT_FLAG("no-exit-trigger", AI_OPT_FALSE, &o.watch_exit),
	    AI_OPT_N("grace", 0, AI_OPT_UINT, &grace_s, 1, 3600, "--grace takes seconds (1..3600)"),
	    AI_OPT_N("http-timeout", 0, AI_OPT_UINT, &o.http_timeout_ms, 10, 600000,
		     "--http-timeout takes milliseconds (10..600000)"),
	    AI_OPT_N("max-conns", 0, AI_OPT_UINT, &o.max_conns, 1, 4096, "--max-conns takes 1..4096"),
	    AI_OPT_N("max-conns-per-peer", 0, AI_OPT_UINT, &o.max_conns_per_peer, 1, 4096,
		     "--max-conns-per-peer takes 1..4096"),
	    AI_OPT_N("max-socket-conns", 0, AI_OPT_UINT, &o.max_socket_conns, 1, 1024,
		     "--max-socket-conns takes 1..1024"),
	    AI_OPT_S("cgroup-root", 0, AI_OPT_STR, &o.cgroup_root),
	    AI_OPT_S("upload", 0, AI_OPT_STR, &up.url),
	    AI_OPT_S("upload-sig", 0, AI_OPT_STR, &up.sig_url),
	    AI_OPT_S("ca-file", 0, AI_OPT_STR, &up.ca_file),
	    AI_OPT_N("upload-retries", 0, AI_OPT_UINT, &up.retries, 0, 100, "--upload-retries takes 0..100"),
	    AI_OPT_FLAG("delete-after-upload", AI_OPT_TRUE, &o.delete_after_upload),
	    LIMIT_OPTS(o.file_cap, o.upper_budget, o.output_budget),
	    MEMORY_OPTS(o.memory, o.memory_cap, o.memory_total),
	    AI_OPT_N("debug-freeze-hold-ms", 0, AI_OPT_UINT, &o.freeze_hold_ms, 0, 600000,
		     "--debug-freeze-hold-ms takes milliseconds"),
	};
	int first_arg;
	int r = parse(cmd, opts, NOPTS(opts), argc, argv, &first_arg);
	if (r >= 0)
		return r;
	o.grace_ms = grace_s * 1000;
	if (first_arg != argc)
		return usage(cmd, "serve takes no positional arguments");
	if (!common_complete(&co))
		return usage(cmd, "serve needs -o OUTDIR and one of --key or --key-fd");
	if (sel.n > 1)
		return usage(cmd, "choose one of --target, --target-pid, --target-exe, --target-cgroup");
	if (set_volumes(volumes) < 0)
		return usage(cmd, "--volumes is ephemeral, writable or none");
	if (o.listen && !token_file)
		return usage(cmd, "the HTTP trigger needs --token-file (or --listen none)");
	if (up.ca_file && !up.url)
		return usage(cmd, "--ca-file goes with --upload");
	if (up.sig_url && !up.url)
		return usage(cmd, "--upload-sig goes with --upload");
	if (o.delete_after_upload && !up.url)
		return usage(cmd, "--delete-after-upload goes with --upload");
	if (o.criu && o.freeze_all)
		return usage(
		    cmd, "--criu runs after the thaw (CRIU freezes the tree itself): not with --freeze-all");

	ai_err_t err = {0};
	/* Forked first, before the token and the key are read: the runner never holds a secret. */
	if (o.criu && o.harden && ai_criu_runner_start(&err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	if (token_file) {
		o.token = read_token(token_file, co.allow_loose_mode, &o.token_len, &err);
		if (!o.token)
			return fail(&err, EXIT_NOBUNDLE);
	}
	cleanup_pkey EVP_PKEY *key = NULL;
	cleanup_close int outfd = -1;
	const char *pod[3];
	if (common_setup(&co, &key, &outfd, pod, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	o.outdir = co.outdir;
	o.host_root = co.host_root;
	o.outdir_fd = outfd;
	o.key = key;
	o.upload = up.url ? &up : NULL;
	o.pod = pod;
	if (ai_serve(&o, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	return 0;
}

static int cmd_trigger(const struct command *cmd, int argc, char **argv)
{
	const char *sock = AI_DEFAULT_SOCKET, *reason = NULL, *req = NULL;
	const struct ai_opt opts[] = {
	    AI_OPT_S("socket", 0, AI_OPT_STR, &sock),
	    AI_OPT_S("reason", 0, AI_OPT_STR, &reason),
	    AI_OPT_K("status", &req, "status"),
	    AI_OPT_K("sandbox-check", &req, "sandbox-check"),
	};
	int r = parse(cmd, opts, NOPTS(opts), argc, argv, NULL);
	if (r >= 0)
		return r;
	if (reason && req)
		return usage(cmd, "--reason goes with a capture, not with --status or --sandbox-check");
	if (reason && (strlen(reason) > 128 || strchr(reason, '\n')))
		return usage(cmd, "--reason: at most 128 characters on one line");
	char line[160];
	if (!req) {
		snprintf(line, sizeof(line), "capture%s%s", reason ? " " : "", reason ? reason : "");
		req = line;
	}
	ai_err_t err = {0};
	cleanup_buf struct ai_buf reply;
	ai_buf_init(&reply);
	if (ai_trigger(sock, req, &reply, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	fwrite(reply.data, 1, reply.len, stdout);
	return strstr(ai_buf_cstr(&reply), "\"error\"") ? EXIT_NOBUNDLE : 0;
}

static int cmd_seal(const struct command *cmd, int argc, char **argv)
{
	struct ai_seal_opts o = {0};
	struct common co = {.key_fd = -1};
	const struct ai_opt opts[] = {
	    AI_OPT_S("key", 'k', AI_OPT_STR, &co.key_path),
	    AI_OPT_N("key-fd", 0, AI_OPT_INT, &co.key_fd, 0, 65535, "--key-fd takes a descriptor number"),
	    AI_OPT_S("output", 'o', AI_OPT_STR, &co.outdir), AI_OPT_S("name", 'n', AI_OPT_STR, &o.name),
	    AI_OPT_FLAG("allow-loose-secret-mode", AI_OPT_TRUE, &co.allow_loose_mode)};
	int first;
	int r = parse(cmd, opts, NOPTS(opts), argc, argv, &first);
	if (r >= 0)
		return r;
	if (first >= argc || !common_complete(&co))
		return usage(cmd, "seal needs FILE..., -o OUTDIR and one of --key or --key-fd");
	if (o.name)
		for (const char *p = o.name; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == '/' || *p == 0x7f)
				return usage(cmd,
					     "--name must be a plain file name without control characters");
	ai_err_t err = {0};
	cleanup_pkey EVP_PKEY *key = NULL;
	cleanup_close int outfd = -1;
	const char *pod[3];
	if (common_setup(&co, &key, &outfd, pod, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	o.files = (const char *const *)argv + first;
	o.nfiles = (size_t)(argc - first);
	o.outdir_fd = outfd;
	o.outdir = co.outdir;
	o.key = key;
	struct ai_seal_result res;
	if (ai_seal(&o, &res, &err) < 0)
		return fail(&err, EXIT_NOBUNDLE);
	cleanup_buf struct ai_buf line;
	ai_buf_init(&line);
	struct ai_json j;
	ai_json_init(&j, &line);
	ai_json_obj_begin(&j);
	ai_json_kbytes(&j, "bundle", res.path, strlen(res.path));
	ai_json_kstr(&j, "sha256", res.sha256);
	ai_json_kuint(&j, "files", res.nfiles);
	ai_json_kbool(&j, "complete", res.complete);
	ai_json_obj_end(&j);
	ai_jsonline_safe(&line);
	printf("%s\n", ai_buf_cstr(&line));
	return res.complete ? EXIT_COMPLETE : EXIT_PARTIAL;
}

static int cmd_version(const struct command *cmd, int argc, char **argv)
{
	int r = parse(cmd, NULL, 0, argc, argv, NULL);
	if (r >= 0)
		return r;
	printf(PROG " %s\n", AI_VERSION);
	return 0;
}

static const struct command commands[] = {
    {"keygen", cmd_keygen, "-o BASE", "write BASE.key (Ed25519 PKCS#8 PEM, 0600) and BASE.pub (minisign)",
     NULL},
    {"snapshot", cmd_snapshot,
     "--pid PID [--pod] (--key FILE | --key-fd N) -o OUTDIR [--name NAME]\n"
     "[--no-freeze] [--freeze-all] [--cgroup-root DIR] [--volumes ephemeral|writable|none]\n"
     "[--host-root DIR] [--fd-cap BYTES] [--file-cap BYTES] [--upper-budget BYTES]\n"
     "[--output-budget BYTES] [--max-procs N] [--trigger WORD] [--sockets-source netlink|proc]\n"
     "[--criu] [--memory[=anon|all]] [--memory-cap BYTES] [--memory-total BYTES]\n"
     "[--allow-loose-secret-mode] [--debug-freeze-hold-ms MS]",
     "capture the container PID belongs to (--pod: every container of its pod) into OUTDIR/NAME.tar",
     "Prints one JSON line and exits 0 for a complete bundle, 3 for a partial one (sealed and\n"
     "signed, complete=false), 1 when no bundle was written, 2 for a usage error, 4 when\n"
     "interrupted (SIGTERM, SIGHUP, SIGINT: the target thawed, no bundle and no .partial left).\n"
     "A NAME.tar.partial in OUTDIR is what a killed capture left: it is reported, never reused;\n"
     "--name NAME is refused when taken, a default name gets the next free -2, -3, ...\n"
     "--max-procs (default 100000, fewer when the descriptor limit is lower) caps the processes\n"
     "captured; the rest are counted in the capture log.\n"
     "--pod: every container sharing PID's pid namespace (not ours, not the pause/catatonit one),\n"
     "one bundle, their cgroups frozen in one window. Frozen by default (a watchdog thaws if the\n"
     "capture dies); --no-freeze captures live. --volumes (default ephemeral): tmpfs mounts\n"
     "(/dev/shm) and emptyDirs stored; writable adds writable bind mounts; none lists them only.\n"
     "Secret, configmap, projected and downward-API volumes: hashed, never stored.\n"
     "The key is never taken from the environment or the command line: pass a file or a descriptor.\n"
     "A key file must be a regular file only its owner can read (chmod 600), unless\n"
     "--allow-loose-secret-mode.\n"
     "--freeze freezes the container's cgroup while its volatile state is read (as serve does;\n"
     "--cgroup-root, default /sys/fs/cgroup, is where the cgroup tree is mounted).\n"
     "--fd-cap 67108864 (64 MiB) of each deleted-open file or memfd; executables: 256 MiB.\n"
     "--criu: also `criu dump --leave-running` of the tree into checkpoint/ (the criu on PATH,\n"
     "4.1 or later, passing `criu check`); why it did not run is in the manifest's \"criu\".\n" LIMIT_NOTES
	 MEMORY_NOTES},
    {"serve", cmd_serve,
     "(--key FILE | --key-fd N) -o|--output OUTDIR [--token-file FILE] [--listen ADDR:PORT|none]\n"
     "[--socket PATH|none] [--target auto|pod | --target-pid PID | --target-exe REGEX |\n"
     "--target-cgroup SUBSTR] [--volumes ephemeral|writable|none] [--baseline] [--no-freeze]\n"
     "[--freeze-all] [--no-harden]\n"
     "[--no-exit-trigger] [--grace SECONDS] [--http-timeout MS] [--max-conns N]\n"
     "[--max-conns-per-peer N] [--max-socket-conns N] [--host-root DIR] [--cgroup-root DIR]\n"
     "[--upload URL [--upload-sig URL] [--ca-file FILE] [--upload-retries N]\n"
     "[--delete-after-upload]] [--file-cap BYTES] [--upper-budget BYTES] [--output-budget BYTES]\n"
     "[--criu] [--memory[=anon|all]] [--memory-cap BYTES] [--memory-total BYTES]\n"
     "[--allow-loose-secret-mode] [--debug-freeze-hold-ms MS]",
     "the sidecar: capture on HTTP/exec trigger, SIGTERM or target exit\n"
     "(docs/sidecar.md); defaults: --listen 0.0.0.0:9102,\n"
     "--socket " AI_DEFAULT_SOCKET,
     "The HTTP trigger needs --token-file; the socket's directory is created (0700) when missing.\n"
     "--target pod captures every app container of the pod (frozen together); auto turns into it\n"
     "when it sees several app containers from inside a pod, and refuses to choose on a host.\n"
     "Logs one JSON object per line on stderr. The key is never taken from the environment or the\n"
     "command line: pass a file or a descriptor. Key and token files must be regular files only\n"
     "their owner can read (chmod 600), unless --allow-loose-secret-mode.\n"
     "--criu: each capture also checkpoints the tree with CRIU after the thaw (as snapshot --criu),\n"
     "run by a helper process forked before hardening (docs/sidecar.md).\n" LIMIT_NOTES MEMORY_NOTES
     "With --memory the seccomp allowlist also admits ptrace and process_vm_readv.\n"},
    {"trigger", cmd_trigger, "[--socket PATH] [--reason TEXT | --status | --sandbox-check]",
     "ask a running serve to capture now; prints its JSON reply", NULL},
    {"seal", cmd_seal,
     "FILE... (--key FILE | --key-fd N) -o OUTDIR [--name NAME] [--allow-loose-secret-mode]",
     "wrap existing files (a checkpoint archive, a log) into a signed bundle OUTDIR/NAME.tar",
     "Each FILE (a regular file; symlinks, FIFOs and devices refused) is hashed as it is read and\n"
     "stored as sealed/BASENAME; sealed.json records its path, size, mode, owner and times and the\n"
     "host. Prints one JSON line; exits 0, 3 when a file changed while read (sealed, complete=false),\n"
     "1 when no bundle was written, 2 for a usage error. afterimage-analyze reads a sealed\n"
     "checkpoint archive through the bundle.\n"},
    {"version", cmd_version, NULL, "print the version", NULL},
};

/* The overall usage: every command's synopsis with its summary in a column. */
static void print_overall(FILE *f)
{
	fputs("usage: " PROG " COMMAND [OPTIONS]\n\ncommands:\n", f);
	for (size_t i = 0; i < NOPTS(commands); i++) {
		const struct command *c = &commands[i];
		const char *p = c->synopsis, *line;
		int len, col = fprintf(f, "  %s", c->name);
		for (bool first = true; next_line(&p, &line, &len); first = false) {
			if (first)
				col += fprintf(f, " %.*s", len, line);
			else
				col = fprintf(f, "\n" CONT_INDENT "%.*s", len, line) -
				      1; /* after the newline */
		}
		p = c->summary;
		for (bool first = true; next_line(&p, &line, &len); first = false) {
			if (!first || col > SUMMARY_COL - 2) { /* a line of its own past the synopsis */
				fputc('\n', f);
				col = 0;
			}
			fprintf(f, "%*s%.*s", SUMMARY_COL - col, "", len, line);
		}
		fputc('\n', f);
	}
	fputs(
	    "\n" PROG " COMMAND --help prints that command's usage.\n"
	    "snapshot prints one JSON line and exits 0 for a complete bundle, 3 for a partial one (sealed\n"
	    "and signed, complete=false), 1 when no bundle was written, 2 for a usage error, 4 when\n"
	    "interrupted by SIGTERM, SIGHUP or SIGINT (no bundle, no .partial left).\n"
	    "The key is never taken from the environment or the command line: pass a file or a descriptor.\n",
	    f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_overall(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		print_overall(stdout);
		return 0;
	}
	const char *name = !strcmp(argv[1], "--version") ? "version" : argv[1];
	for (size_t i = 0; i < NOPTS(commands); i++)
		if (!strcmp(name, commands[i].name))
			return commands[i].run(&commands[i], argc - 1, argv + 1);
	ai_eprintf(PROG, "unknown command");
	print_overall(stderr);
	return EXIT_USAGE;
}
