/* --criu: the target's process tree checkpointed by CRIU (`criu dump --leave-running`) into the
 * bundle's checkpoint/ members, so the bundle is also a CRIU image directory. Only when the criu
 * found on PATH is 4.1 or later and passes `criu check`; whatever stops it (not asked, missing,
 * too old, check or dump failing) is recorded in the manifest's "criu" object and the capture log,
 * and the capture goes on.
 *
 * It runs after the thaw (not a volatile collector): CRIU freezes the tree itself (PTRACE_SEIZE
 * and PTRACE_INTERRUPT) for the time of its dump, so its images are consistent in themselves; doing
 * it inside afterimage's cgroup freeze would make the freeze window as long as the whole dump of
 * every page (docs/memory.md, "CRIU"). CRIU writes into a private directory in the output
 * directory (never the target's filesystem: no --link-remap, ghost files are copied up to the
 * deleted-open file cap); each image is then stored as a member, hashed as it is written, and the
 * directory is removed. Running criu itself (its command line, the runner of a hardened serve)
 * is criurun.c's. */
#include "capture/capture.h"
#include "capture/criurun.h"
#include "capture/procparse.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CRIU_MIN_MAJOR	4
#define CRIU_MIN_MINOR	1
#define CRIU_OUT_MAX	(64u << 10) /* bytes kept of criu's stdout and stderr */
#define CRIU_MAX_IMAGES 100000

/* One run of the criu binary: how it ended and what it printed. */
struct criu_run {
	struct ai_criu_reply rep;
	char out[CRIU_OUT_MAX + 1]; /* its stdout and stderr, NUL-terminated, cut at CRIU_OUT_MAX */
	size_t out_len;
};

/* What the manifest's "criu" object says. */
struct criu_state {
	const char *status; /* not-requested missing too-old version-unreadable check-failed ... */
	char reason[512];
	char path[4096];
	char version[32];
	pid_t root;
	bool shell_job;
	int exit_code; /* of the dump; -1 when it did not exit */
	double ms;
	size_t images;
	uint64_t image_bytes;
	const char *const *argv; /* of the dump, NULL before */
};

static double ms_since(struct timespec t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

/* Run criu for q, its output in a file of work_fd named outname, kept in r->out. */
static void run(const struct ai_criu_req *q, int images_fd, int work_fd, const char *outname,
		struct criu_run *r)
{
	memset(r, 0, sizeof(*r));
	cleanup_close int outfd = openat(work_fd, outname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (outfd < 0) {
		r->rep.spawn_failed = 1;
		r->rep.spawn_errno = errno;
		return;
	}
	ai_criu_exec(q, images_fd, work_fd, outfd, &r->rep);
	ssize_t n = pread(outfd, r->out, CRIU_OUT_MAX, 0);
	r->out_len = n > 0 ? (size_t)n : 0;
	r->out[r->out_len] = '\0';
}

static bool run_ok(const struct criu_run *r)
{
	return !r->rep.spawn_failed && !r->rep.timed_out && WIFEXITED(r->rep.status) &&
	       WEXITSTATUS(r->rep.status) == 0;
}

/* "exited 1", "killed by signal 9", "timed out", "could not be started: ...". */
static void run_why(const struct criu_run *r, char *out, size_t len)
{
	if (r->rep.spawn_failed)
		snprintf(out, len, "could not be started: %s", strerror(r->rep.spawn_errno));
	else if (r->rep.timed_out)
		snprintf(out, len, "timed out (killed)");
	else if (WIFEXITED(r->rep.status))
		snprintf(out, len, "exited %d", WEXITSTATUS(r->rep.status));
	else
		snprintf(out, len, "killed by signal %d", WTERMSIG(r->rep.status));
}

/* The last non-empty line of criu's output: the error it ended on. */
static void last_line(const struct criu_run *r, char *out, size_t len)
{
	size_t end = r->out_len;
	while (end && (r->out[end - 1] == '\n' || r->out[end - 1] == ' '))
		end--;
	size_t start = end;
	while (start && r->out[start - 1] != '\n')
		start--;
	snprintf(out, len, "%.*s", (int)(end - start), r->out + start);
}

/* The first "Error (" line of CRIU's log, but for the RLIMIT_NOFILE one CRIU logs and goes on
 * from: what made the dump fail. Read from the log's last 64 KiB only (-v4 logs are long). */
static void log_error(int workfd, char *out, size_t len)
{
	static char buf[CRIU_OUT_MAX + 1];
	cleanup_close int fd = openat(workfd, "dump.log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	off_t off = st.st_size > (off_t)CRIU_OUT_MAX ? st.st_size - (off_t)CRIU_OUT_MAX : 0;
	ssize_t n = pread(fd, buf, CRIU_OUT_MAX, off);
	if (n <= 0)
		return;
	buf[n] = '\0';
	const char *best = NULL;
	for (const char *p = buf; !best && (p = strstr(p, "Error (")); p++) {
		size_t l = strcspn(p, "\n");
		if (!memmem(p, l, "RLIMIT_NOFILE", 13))
			best = p;
	}
	if (best)
		snprintf(out, len, "%.*s", (int)strcspn(best, "\n"), best);
}

/* "Version: 4.2" (also "4.1.1", "4.2-dirty"): major and minor. */
static bool parse_version(const char *out, char *ver, size_t len, unsigned *major, unsigned *minor)
{
	const char *v = strstr(out, "Version: ");
	if (!v)
		return false;
	v += strlen("Version: ");
	size_t n = strspn(v, "0123456789.");
	if (!n || sscanf(v, "%u.%u", major, minor) != 2)
		return false;
	snprintf(ver, len, "%.*s", (int)(n < 31 ? n : 31), v);
	return true;
}

/* The root of the tree to dump: the process that is pid 1 of the target's pid namespace (the
 * container's init, as this pid namespace sees it; *ns_init), else the first one whose parent is
 * not in the container (a pod's shared pid namespace). */
static pid_t tree_root(const struct ai_target *t, bool *ns_init)
{
	pid_t orphan = 0;
	*ns_init = false;
	for (size_t i = 0; i < t->nprocs; i++) {
		char buf[4096];
		cleanup_close int fd = openat(t->procs[i].procfd, "status", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
		if (n <= 0)
			continue;
		struct ai_pp_slice sl;
		uint64_t v = 0, last = 0, ppid = 0;
		if (ai_pp_field(buf, (size_t)n, "NSpid", &sl))
			while (ai_pp_next_u64(&sl, &v))
				last = v;
		if (last == 1) {
			*ns_init = true;
			return t->procs[i].pid;
		}
		if (!orphan && ai_pp_field(buf, (size_t)n, "PPid", &sl) && ai_pp_next_u64(&sl, &ppid)) {
			bool inside = false;
			for (size_t k = 0; k < t->nprocs && !inside; k++)
				inside = (uint64_t)t->procs[k].pid == ppid;
			if (!inside)
				orphan = t->procs[i].pid;
		}
	}
	return orphan;
}

/* True when root's pid namespace is the capture's own. */
static bool pidns_ours(const struct ai_target *t, pid_t root)
{
	uint64_t mine = 0, theirs = 1;
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == root && ai_ns_inode(t->procs[i].procfd, "ns/pid", &theirs) < 0)
			return false;
	return ai_ns_inode(AT_FDCWD, "/proc/self/ns/pid", &mine) == 0 && mine == theirs;
}

/* Where to start: the root, or st says why there is none CRIU can dump. */
static bool choose_root(const struct ai_target *t, struct criu_state *st)
{
	bool ns_init;
	st->root = tree_root(t, &ns_init);
	if (!st->root) {
		st->status = "dump-failed";
		snprintf(st->reason, sizeof(st->reason), "no root of the target's process tree found");
		return false;
	}
	if (!ns_init && !pidns_ours(t, st->root)) {
		st->status = "unsupported";
		snprintf(
		    st->reason, sizeof(st->reason),
		    "pid %d heads the container but is not the init of its pid namespace, which is not "
		    "the capture's: CRIU dumps such a namespace only whole, from its init (a pod's shared "
		    "pid namespace: capture from inside the pod)",
		    (int)st->root);
		return false;
	}
	return true;
}

/* A terminal on the root's stdio: CRIU then needs --shell-job (the tty is outside the tree). */
static bool has_tty(const struct ai_target *t, pid_t root)
{
	for (size_t i = 0; i < t->nprocs; i++) {
		if (t->procs[i].pid != root)
			continue;
		for (int fd = 0; fd < 3; fd++) {
			char name[16], link[256];
			snprintf(name, sizeof(name), "fd/%d", fd);
			ssize_t n = readlinkat(t->procs[i].procfd, name, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (!strncmp(link, "/dev/pts/", 9) || !strncmp(link, "/dev/tty", 8) ||
			    !strcmp(link, "/dev/console"))
				return true;
		}
	}
	return false;
}

/* The private directory CRIU writes into: OUTDIR/.criu-RANDOM/{images,work}, 0700. */
struct criu_dirs {
	int outdir_fd;
	char name[32];
	int top, images, work; /* directory fds, -1 when not open */
};

static int dirs_make(struct criu_dirs *d, int outdir_fd, ai_err_t *err)
{
	*d = (struct criu_dirs){.outdir_fd = outdir_fd, .top = -1, .images = -1, .work = -1};
	uint8_t r[6];
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return ai_err_set(err, errno, "getrandom");
	snprintf(d->name, sizeof(d->name), ".criu-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
		 r[5]);
	if (mkdirat(outdir_fd, d->name, 0700) < 0) {
		d->name[0] = '\0';
		return ai_err_set(err, errno, "mkdir %s in the output directory", d->name);
	}
	d->top = openat(outdir_fd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->top < 0 || mkdirat(d->top, "images", 0700) < 0 || mkdirat(d->top, "work", 0700) < 0)
		return ai_err_set(err, errno, "the CRIU directory in the output directory");
	d->images = openat(d->top, "images", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d->work = openat(d->top, "work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->images < 0 || d->work < 0)
		return ai_err_set(err, errno, "the CRIU directory in the output directory");
	return 0;
}

/* A stream of its own over the directory at fd: a dup would share the offset another walk of
 * the same directory left at its end. */
static DIR *dir_stream(int fd)
{
	int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = own >= 0 ? fdopendir(own) : NULL;
	if (!d && own >= 0)
		close(own);
	return d;
}

/* Empty one directory (regular files only: CRIU writes nothing else) and close it. */
static void dir_empty(int *fd)
{
	if (*fd < 0)
		return;
	DIR *dir = dir_stream(*fd);
	struct dirent *de;
	while (dir && (de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(*fd, de->d_name, 0);
	if (dir)
		closedir(dir);
	close(*fd);
	*fd = -1;
}

/* Remove the private directory; what could not be removed is logged. */
static void dirs_remove(struct ai_capture *cap, struct criu_dirs *d)
{
	if (!d->name[0])
		return;
	dir_empty(&d->images);
	dir_empty(&d->work);
	if (d->top >= 0) {
		unlinkat(d->top, "images", AT_REMOVEDIR);
		unlinkat(d->top, "work", AT_REMOVEDIR);
		close(d->top);
		d->top = -1;
	}
	if (unlinkat(d->outdir_fd, d->name, AT_REMOVEDIR) < 0)
		ai_log_path(cap, AI_LOG_WARNING, "criu", d->name, strlen(d->name),
			    "could not remove CRIU's directory from the output directory: %s",
			    strerror(errno));
	d->name[0] = '\0';
}

/* Probe: the version (>= 4.1), then `criu check`. 0 when usable; else st says why. */
static int probe(struct ai_capture *cap, struct criu_state *st, int workfd)
{
	static struct criu_run r; /* CRIU_OUT_MAX is too big for a thread's stack; one capture at a time */
	run(&(struct ai_criu_req){.op = AI_CRIU_VERSION}, workfd, workfd, "version.out", &r);
	unsigned major = 0, minor = 0;
	char why[128];
	if (!run_ok(&r) || !parse_version(r.out, st->version, sizeof(st->version), &major, &minor)) {
		run_why(&r, why, sizeof(why));
		st->status = "version-unreadable";
		snprintf(st->reason, sizeof(st->reason), "%s --version %s without a \"Version: X.Y\" line",
			 st->path, run_ok(&r) ? "printed" : why);
		return -1;
	}
	if (major < CRIU_MIN_MAJOR || (major == CRIU_MIN_MAJOR && minor < CRIU_MIN_MINOR)) {
		st->status = "too-old";
		snprintf(st->reason, sizeof(st->reason), "criu %s at %s: 4.1 or later is needed", st->version,
			 st->path);
		return -1;
	}
	run(&(struct ai_criu_req){.op = AI_CRIU_CHECK}, workfd, workfd, "check.out", &r);
	if (!run_ok(&r)) {
		char line[256];
		run_why(&r, why, sizeof(why));
		last_line(&r, line, sizeof(line));
		st->status = "check-failed";
		snprintf(st->reason, sizeof(st->reason), "criu check %s: %s", why, line);
		char member[96];
		ai_capture_member(cap, member, sizeof(member), "criu/check.out");
		if (ai_bundle_add_mem(cap->bundle, member, r.out, r.out_len, &(ai_err_t){0}) < 0)
			ai_log(cap, AI_LOG_ERROR, "criu", "criu/check.out not stored");
		return -1;
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted (members in a stable order); NULL with *n 0 when unreadable. */
static char **list_dir(int fd, size_t *n)
{
	*n = 0;
	DIR *dir = dir_stream(fd);
	if (!dir)
		return NULL;
	char **names = NULL;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(dir)) && *n < CRIU_MAX_IMAGES) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		names[*n] = strdup(de->d_name);
		if (names[*n])
			(*n)++;
	}
	closedir(dir);
	if (names)
		qsort(names, *n, sizeof(*names), cmp_names);
	return names;
}

/* Store one file of dir as member prefix/name, hashed as written. */
static int store_one(struct ai_capture *cap, int dirfd, const char *prefix, const char *name, uint64_t *bytes)
{
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char member[512];
	int ml = ai_capture_member(cap, member, sizeof(member), "%s/%s", prefix, name);
	if (ml >= (int)sizeof(member))
		ml = (int)sizeof(member) - 1;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ai_log_path(cap, AI_LOG_SKIP, "criu", member, (size_t)ml, "not a regular file CRIU wrote: %s",
			    fd < 0 ? strerror(errno) : "skipped");
		return -1;
	}
	struct ai_member_meta meta = {.path = member,
				      .path_len = (size_t)ml,
				      .mode = st.st_mode,
				      .atime = st.st_atim,
				      .mtime = st.st_mtim,
				      .ctime = st.st_ctim};
	struct ai_member_result res = {0};
	ai_err_t err = {0};
	int r = ai_bundle_add_fd(cap->bundle, &meta, fd, 0, &res, &err);
	if (r < 0) {
		ai_log_path(cap, AI_LOG_ERROR, "criu", member, (size_t)ml, "not stored: %s", err.msg);
		return -1;
	}
	if (res.truncated)
		ai_log_path(cap, AI_LOG_TRUNCATED, "criu", member, (size_t)ml,
			    "cut at %llu of %llu bytes (output budget)", (unsigned long long)res.size,
			    (unsigned long long)res.source_size);
	*bytes += res.size;
	return 0;
}

/* Every file of dir as a member under prefix; how many were stored. */
static size_t store_dir(struct ai_capture *cap, int dirfd, const char *prefix, uint64_t *bytes)
{
	size_t n, stored = 0;
	char **names = list_dir(dirfd, &n);
	for (size_t i = 0; i < n; i++) {
		if (!ai_capture_stopping(cap) && store_one(cap, dirfd, prefix, names[i], bytes) == 0)
			stored++;
		free(names[i]);
	}
	free(names);
	return stored;
}

/* The dump itself, then its images and log into the bundle. */
static void dump(struct ai_capture *cap, struct criu_state *st, const struct criu_dirs *d)
{
	static struct criu_run r;
	static struct ai_criu_argv a;
	st->shell_job = has_tty(&cap->containers[0].target, st->root);
	struct ai_criu_req q = {
	    .op = AI_CRIU_DUMP, .pid = st->root, .shell_job = st->shell_job, .ghost_limit = cap->fd_cap};
	/* recorded with its directories named by the members they become */
	ai_criu_build_argv(st->path, &q, "checkpoint", "criu", &a);
	st->argv = a.argv;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run(&q, d->images, d->work, "dump.out", &r);
	st->ms = ms_since(t0);
	st->exit_code = !r.rep.spawn_failed && !r.rep.timed_out && WIFEXITED(r.rep.status)
			    ? WEXITSTATUS(r.rep.status)
			    : -1;
	uint64_t log_bytes = 0;
	store_dir(cap, d->work, "criu", &log_bytes); /* dump.log, dump.out: kept whatever happened */
	if (!run_ok(&r)) {
		char why[128], line[256] = "";
		run_why(&r, why, sizeof(why));
		last_line(&r, line, sizeof(line));
		log_error(d->work, line, sizeof(line)); /* its log says more than its output, when any */
		st->status = "dump-failed";
		snprintf(st->reason, sizeof(st->reason), "criu dump %s: %s (its output: criu/ members)", why,
			 line);
		return; /* a failed dump's images are not a checkpoint: not stored */
	}
	st->images = store_dir(cap, d->images, "checkpoint", &st->image_bytes);
	st->status = "dumped";
}

static void state_json(const struct criu_state *st, bool requested, struct ai_buf *out)
{
	struct ai_json j;
	ai_json_init(&j, out);
	ai_json_obj_begin(&j);
	ai_json_kbool(&j, "requested", requested);
	ai_json_kstr(&j, "status", st->status);
	ai_json_kbytes(&j, "reason", st->reason, strlen(st->reason));
	if (st->path[0])
		ai_json_kbytes(&j, "path", st->path, strlen(st->path));
	else
		ai_json_kstr(&j, "path", NULL);
	ai_json_kstr(&j, "version", st->version[0] ? st->version : NULL);
	if (st->argv) {
		ai_json_kint(&j, "tree_root", st->root);
		ai_json_kbool(&j, "shell_job", st->shell_job);
		ai_json_kint(&j, "exit_code", st->exit_code);
		ai_json_key(&j, "ms");
		char ms[32];
		snprintf(ms, sizeof(ms), "%.3f", st->ms);
		ai_json_raw(&j, ms);
		ai_json_kuint(&j, "images", st->images);
		ai_json_kuint(&j, "image_bytes", st->image_bytes);
		ai_json_key(&j, "argv");
		ai_json_arr_begin(&j);
		for (size_t i = 0; st->argv[i]; i++)
			ai_json_str(&j, st->argv[i]);
		ai_json_arr_end(&j);
	}
	ai_json_obj_end(&j);
}

/* Find, probe and run criu; st says how far it got. */
static void checkpoint(struct ai_capture *cap, struct criu_state *st)
{
	if (!ai_criu_find(st->path, sizeof(st->path))) {
		st->path[0] = '\0';
		st->status = "missing";
		snprintf(st->reason, sizeof(st->reason), "no criu executable on PATH");
		return;
	}
	struct criu_dirs d;
	ai_err_t err = {0};
	if (dirs_make(&d, cap->outdir_fd, &err) < 0) {
		st->status = "dump-failed";
		snprintf(st->reason, sizeof(st->reason), "%s", err.msg);
		dirs_remove(cap, &d);
		return;
	}
	if (probe(cap, st, d.work) == 0) {
		if (choose_root(&cap->containers[0].target, st))
			dump(cap, st, &d);
	}
	dirs_remove(cap, &d);
}

static int criu_collect(struct ai_capture *cap, void **state, ai_err_t *err)
{
	(void)state;
	(void)err;
	struct criu_state st = {.status = "not-requested", .exit_code = -1};
	if (!cap->criu) {
		snprintf(st.reason, sizeof(st.reason), "--criu not given");
	} else {
		checkpoint(cap, &st);
		bool failed_dump = !strcmp(st.status, "dump-failed");
		if (strcmp(st.status, "dumped"))
			/* CRIU unusable on this node is a skip; asked, usable and failing, an error */
			ai_log(cap, failed_dump ? AI_LOG_ERROR : AI_LOG_SKIP, "criu",
			       "no checkpoint (%s): %s", st.status, st.reason);
		else
			ai_log(cap, AI_LOG_INFO, "criu",
			       "checkpoint of the tree of pid %d: %zu images, %.0f ms", (int)st.root,
			       st.images, st.ms);
	}
	ai_buf_reset(&cap->criu_manifest);
	state_json(&st, cap->criu, &cap->criu_manifest);
	return 0;
}

const struct ai_collector ai_collector_criu = {
    .name = "criu",
    .collect = criu_collect,
};
