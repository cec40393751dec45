/* processes.json: one object per pinned process of the target, plus exe/PID members for
 * executables an attacker could have brought along (deleted, memfd, upperdir). Everything is
 * read relative to the pinned /proc/PID dirfd so a recycled pid can never feed us another
 * process's data. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "capture/capture.h"
#include "capture/parallel.h"
#include "capture/procparse.h"
#include "common/buf.h"
#include "common/bundle.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/safeopen.h"

#define COLL "processes"

#define PROC_SMALL_MAX (64u << 10)
#define PROC_ARGS_MAX  (256u << 10)
#define PROC_MAPS_MAX  (1u << 20)

/* ---- the frozen half: /proc into memory, on several threads (no logging, no bundle) ---- */

enum { PR_STAT, PR_STATUS, PR_CMDLINE, PR_ENVIRON, PR_CGROUP, PR_MAPS, PR_LIMITS, PR_NFILES };
static const char *const pr_file_name[PR_NFILES] = {"stat",   "status", "cmdline", "environ",
						    "cgroup", "maps",	"limits"};
static const size_t pr_file_max[PR_NFILES] = {PROC_SMALL_MAX, PROC_SMALL_MAX, PROC_ARGS_MAX, PROC_ARGS_MAX,
					      PROC_SMALL_MAX, PROC_MAPS_MAX,  PROC_SMALL_MAX};
#define PR_NNS 7
static const char *const pr_ns_kind[PR_NNS] = {"mnt", "pid", "net", "ipc", "uts", "user", "cgroup"};
static const char *const pr_ns_link[PR_NNS] = {"ns/mnt", "ns/pid",  "ns/net",	"ns/ipc",
					       "ns/uts", "ns/user", "ns/cgroup"};
enum { PR_CWD, PR_ROOT, PR_EXE, PR_NS0, PR_NLINKS = PR_NS0 + PR_NNS };
static const char *const pr_link_name[PR_NS0] = {"cwd", "root", "exe"};

/* One scratch buffer per thread: room for the largest read (maps) plus the byte that tells
 * there was more, and for any link (64 KiB). Mapped for the read and unmapped after it. */
#define PR_SCRATCH (PROC_MAPS_MAX + 1)

/* One file or link read while frozen: its bytes, or how it failed (errno, the message a live
 * read gives, and whether the process was already gone then), so the thawed half logs exactly
 * what a live read would have. */
struct rpart {
	char *s; /* malloc'ed, NUL-terminated; NULL when not read */
	size_t len;
	bool trunc;
	int errnum;
	char *msg; /* NULL when it did not fail (or was not tried) */
	bool dead;
};

struct rawproc {
	struct rpart file[PR_NFILES];
	struct rpart link[PR_NLINKS];
	struct rpart exeopen; /* the open of /proc/PID/exe: its fd is exefd */
	int exefd;	      /* -1 when not open */
	bool zombie;
	bool alive_end; /* still the same process once everything was read */
};

struct procs_raw {
	struct rawproc *procs;
	size_t n;
	int64_t boot_epoch_ns;
	struct timespec now;
};

static void rpart_free(struct rpart *rp)
{
	free(rp->s);
	free(rp->msg);
}

static void procs_raw_free(struct procs_raw *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct rawproc *rp = &r->procs[i];
		for (size_t k = 0; k < PR_NFILES; k++)
			rpart_free(&rp->file[k]);
		for (size_t k = 0; k < PR_NLINKS; k++)
			rpart_free(&rp->link[k]);
		rpart_free(&rp->exeopen);
		if (rp->exefd >= 0)
			close(rp->exefd);
	}
	free(r->procs);
	free(r);
}

static bool pr_dead_now(const struct ai_proc *p, int errnum)
{
	return (errnum == ESRCH || errnum == ENOENT) && ai_proc_exited(p);
}

static void pr_fail(struct rpart *rp, const struct ai_proc *p, int en, const char *verb, const char *name)
{
	ai_err_t e;
	ai_err_set(&e, en, "%s %s", verb, name);
	rp->errnum = en;
	rp->msg = strdup(e.msg);
	rp->dead = pr_dead_now(p, en);
}

static void pr_keep(struct rpart *rp, const struct ai_proc *p, const char *name, const char *data, size_t len)
{
	rp->s = malloc(len + 1);
	if (!rp->s) {
		pr_fail(rp, p, ENOMEM, "read", name);
		return;
	}
	memcpy(rp->s, data, len);
	rp->s[len] = '\0';
	rp->len = len;
}

/* One read() is the whole file for the single-record seq_files (stat, status, cgroup, limits:
 * the kernel formats the record into its own buffer and copies what fits) and for cmdline and
 * environ (the kernel loops until the user buffer is full or the area ends): a buffer one byte
 * larger than the cap makes the short read the end, without the read that returns 0. maps is
 * one record per mapping, a page at a time: read until 0. */
static void pr_read_file(const struct ai_proc *p, char *scratch, size_t k, struct rpart *rp)
{
	const char *name = pr_file_name[k];
	size_t max = pr_file_max[k];
	bool one_read = k != PR_MAPS;
	int fd = openat(p->procfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		pr_fail(rp, p, errno, "open", name);
		return;
	}
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, scratch + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int en = errno;
			close(fd);
			pr_fail(rp, p, en, "read", name);
			return;
		}
		len += (size_t)n;
		if (n == 0 || one_read || len > max)
			break;
	}
	close(fd);
	rp->trunc = len > max;
	pr_keep(rp, p, name, scratch, rp->trunc ? max : len);
}

/* One readlinkat into the scratch buffer (a link is at most 64 KiB, as ai_readlinkat). */
static void pr_read_link(const struct ai_proc *p, char *scratch, const char *name, struct rpart *rp)
{
	ssize_t n = readlinkat(p->procfd, name, scratch, 65536);
	if (n < 0) {
		pr_fail(rp, p, errno, "readlink", name);
		return;
	}
	if (n >= 65536) {
		pr_fail(rp, p, ENAMETOOLONG, "readlink", name);
		return;
	}
	pr_keep(rp, p, name, scratch, (size_t)n);
}

struct pr_job {
	struct ai_capture *cap;
	struct procs_raw *r;
	char *scratch[AI_PAR_MAX];
};

static void pr_read_proc(void *arg, size_t i, unsigned t)
{
	struct pr_job *jb = arg;
	const struct ai_proc *p = ai_capture_proc(jb->cap, i, NULL);
	struct rawproc *rp = &jb->r->procs[i];
	if (!jb->scratch[t]) {
		void *m = mmap(NULL, PR_SCRATCH, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED) {
			for (size_t k = 0; k < PR_NFILES; k++)
				pr_fail(&rp->file[k], p, ENOMEM, "read", pr_file_name[k]);
			for (size_t k = 0; k < PR_NLINKS; k++)
				pr_fail(&rp->link[k], p, ENOMEM, "readlink",
					k < PR_NS0 ? pr_link_name[k] : pr_ns_link[k - PR_NS0]);
			rp->alive_end = ai_proc_alive(p);
			return;
		}
		jb->scratch[t] = m;
	}
	char *scratch = jb->scratch[t];
	/* The order of the thawed half's report: stat first, it tells a zombie (no mm, fs, ns). */
	pr_read_file(p, scratch, PR_STAT, &rp->file[PR_STAT]);
	struct ai_pp_stat st;
	if (rp->file[PR_STAT].s && ai_pp_parse_stat(rp->file[PR_STAT].s, rp->file[PR_STAT].len, &st) == 0)
		rp->zombie = st.state == 'Z' || st.state == 'X';
	pr_read_file(p, scratch, PR_STATUS, &rp->file[PR_STATUS]);
	pr_read_file(p, scratch, PR_CMDLINE, &rp->file[PR_CMDLINE]);
	pr_read_file(p, scratch, PR_ENVIRON, &rp->file[PR_ENVIRON]);
	for (size_t k = 0; k < PR_NS0; k++)
		pr_read_link(p, scratch, pr_link_name[k], &rp->link[k]);
	/* /proc/PID/exe opens the very inode being executed, deleted or not: held, it is hashed or
	 * stored after the thaw whatever the target does next. O_NONBLOCK because it is
	 * target-controlled what sits there in theory; the thawed half checks S_ISREG. */
	if (rp->link[PR_EXE].s) {
		rp->exefd = openat(p->procfd, "exe", O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (rp->exefd < 0)
			pr_fail(&rp->exeopen, p, errno, "open", "exe");
	}
	for (size_t k = 0; k < PR_NNS; k++)
		pr_read_link(p, scratch, pr_ns_link[k], &rp->link[PR_NS0 + k]);
	pr_read_file(p, scratch, PR_CGROUP, &rp->file[PR_CGROUP]);
	if (!rp->zombie) /* a zombie has no mm: maps would only produce a spurious failure */
		pr_read_file(p, scratch, PR_MAPS, &rp->file[PR_MAPS]);
	pr_read_file(p, scratch, PR_LIMITS, &rp->file[PR_LIMITS]);
	rp->alive_end = ai_proc_alive(p);
}

static int boot_epoch_ns(int64_t *out, struct timespec *now, ai_err_t *err)
{
	struct timespec rt, bt;
	if (clock_gettime(CLOCK_REALTIME, &rt) < 0 || clock_gettime(CLOCK_BOOTTIME, &bt) < 0)
		return ai_err_set(err, errno, "clock_gettime");
	*now = rt;
	*out = ((int64_t)rt.tv_sec - (int64_t)bt.tv_sec) * 1000000000 +
	       ((int64_t)rt.tv_nsec - (int64_t)bt.tv_nsec);
	return 0;
}

/* Frozen: stat, status, cmdline, environ, the cwd/root/exe/ns links, cgroup, maps and limits of
 * every process, and an fd on its executable. */
static int processes_collect(struct ai_capture *cap, void **state, ai_err_t *err)
{
	size_t n = ai_capture_nprocs(cap);
	struct procs_raw *r = calloc(1, sizeof(*r));
	if (!r || (n && !(r->procs = calloc(n, sizeof(*r->procs))))) {
		free(r);
		return ai_err_set(err, ENOMEM, "processes");
	}
	r->n = n;
	for (size_t i = 0; i < r->n; i++)
		r->procs[i].exefd = -1;
	if (boot_epoch_ns(&r->boot_epoch_ns, &r->now, err) < 0) {
		procs_raw_free(r);
		return ai_err_wrap(err, "processes");
	}
	struct pr_job jb = {.cap = cap, .r = r};
	ai_parallel(r->n, pr_read_proc, &jb);
	for (unsigned t = 0; t < AI_PAR_MAX; t++)
		if (jb.scratch[t])
			munmap(jb.scratch[t], PR_SCRATCH);
	*state = r;
	return 0;
}

/* ---- the thawed half: log, hash or store the executables, write processes.json ---- */

struct exe_cache_ent {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	uint64_t hashed;
	char sha256[AI_SHA256_HEXLEN];
};

/* A container's host upperdir, opened at the first executable that needs it. */
struct upper_slot {
	int fd; /* -1 when absent or unopenable */
	bool tried;
};

struct pctx {
	struct ai_capture *cap;
	struct ai_json *j;
	struct upper_slot *upper; /* one per container */
	int64_t boot_epoch_ns;
	long hz;
	struct timespec now;
	struct exe_cache_ent *cache; /* executables hashed but not stored, shared by many processes */
	size_t ncache;
};

static void pctx_release(struct pctx *c)
{
	for (size_t i = 0; c->upper && i < c->cap->ncontainers; i++)
		ai_closep(&c->upper[i].fd);
	free(c->upper);
	free(c->cache);
}
#define cleanup_pctx __attribute__((cleanup(pctx_release)))

struct pstate {
	struct pctx *c;
	const struct ai_container *ct; /* the process's container */
	const struct ai_proc *p;
	struct rawproc *rp;
	bool vanished;
	bool zombie;
	struct ai_buf errs;	    /* "; "-joined, becomes the process's "error" */
	const char *cut[PR_NFILES]; /* the /proc files a cap cut: "truncated_parts" */
	size_t ncut;
};

static void pstate_release(struct pstate *ps)
{
	ai_buf_free(&ps->errs);
}
#define cleanup_pstate __attribute__((cleanup(pstate_release)))

/* A failed read of one part: a process that exited is a warning, a zombie has no mm/fs/ns any
 * more so that is expected; everything else is an error that makes the bundle partial. */
static void part_failed_as(struct pstate *ps, const char *what, int en, const char *msg, bool dead)
{
	enum ai_log_level lvl = AI_LOG_ERROR;
	bool quiet = false;
	if (ps->vanished) {
		lvl = AI_LOG_WARNING;
		quiet = true; /* one warning per vanished process is enough */
	} else if ((en == ESRCH || en == ENOENT) && dead) {
		ps->vanished = true;
		lvl = AI_LOG_WARNING;
	} else if (ps->zombie && (en == ESRCH || en == ENOENT || en == EACCES)) {
		lvl = AI_LOG_INFO;
	}
	if (!quiet) {
		/* A part named by its /proc entry ("environ", "ns/mnt"; not "hash exe") is logged with
		 * that path: an EACCES says exactly which entry was refused. */
		char path[96];
		int pl = strchr(what, ' ')
			     ? -1
			     : snprintf(path, sizeof(path), "/proc/%d/%s", (int)ps->p->pid, what);
		if (ps->vanished)
			ai_log_path(ps->c->cap, lvl, COLL, pl > 0 ? path : NULL, pl > 0 ? (size_t)pl : 0,
				    "pid %d: exited during capture (%s: %s)", (int)ps->p->pid, what, msg);
		else
			ai_log_path(ps->c->cap, lvl, COLL, pl > 0 ? path : NULL, pl > 0 ? (size_t)pl : 0,
				    "pid %d: %s: %s", (int)ps->p->pid, what, msg);
	}
	if (ps->errs.len)
		ai_buf_adds(&ps->errs, "; ");
	ai_buf_printf(&ps->errs, "%s: %s", what, msg);
}

/* A failure seen now (after the thaw): is the process gone now? */
static void part_failed(struct pstate *ps, const char *what, const ai_err_t *e)
{
	part_failed_as(ps, what, e->errnum, e->msg, pr_dead_now(ps->p, e->errnum));
}

/* What the frozen half read of one part: true with its bytes, or false after reporting how it
 * failed as a live read would have. */
static bool got_part(struct pstate *ps, const char *name, const struct rpart *rp, size_t max)
{
	if (!rp->s) {
		/* An ESRCH while frozen can be a process in the middle of its exit (its mm already
		 * gone, not a zombie yet): by now it is one, or gone. */
		bool dead =
		    rp->dead || ((rp->errnum == ESRCH || rp->errnum == ENOENT) && ai_proc_exited(ps->p));
		part_failed_as(ps, name, rp->errnum, rp->msg ? rp->msg : "not read", dead);
		return false;
	}
	if (rp->trunc) {
		ai_log(ps->c->cap, AI_LOG_TRUNCATED, COLL, "pid %d: %s cut at %zu bytes", (int)ps->p->pid,
		       name, max);
		if (ps->ncut < PR_NFILES)
			ps->cut[ps->ncut++] = name;
	}
	return true;
}

static bool got_file(struct pstate *ps, size_t k)
{
	return got_part(ps, pr_file_name[k], &ps->rp->file[k], pr_file_max[k]);
}

static char *hex_dup(const char *s, size_t len)
{
	char *h = malloc(2 * len + 1);
	if (!h)
		abort(); /* same policy as ai_buf: no sane partial document */
	ai_hex((const uint8_t *)s, len, h);
	return h;
}

/* The value of an array of hostile strings (the caller wrote the key). Arrays have no per-element "_hex"
 * sibling, so when any element is not UTF-8 a parallel "<key>_hex" array carries the exact bytes of every
 * element. */
static void emit_nul_list(struct ai_json *j, const char *key, const char *buf, size_t len)
{
	struct ai_pp_slice sl;
	const char *p = buf, *end = buf + len;
	bool all_utf8 = true;
	ai_json_arr_begin(j);
	while (ai_pp_next_nul(&p, end, &sl)) {
		ai_json_strn(j, sl.s, sl.len);
		if (!ai_utf8_valid(sl.s, sl.len))
			all_utf8 = false;
	}
	ai_json_arr_end(j);
	if (all_utf8)
		return;
	char hkey[64];
	snprintf(hkey, sizeof(hkey), "%s_hex", key);
	ai_json_key(j, hkey);
	ai_json_arr_begin(j);
	p = buf;
	while (ai_pp_next_nul(&p, end, &sl)) {
		cleanup_free char *h = hex_dup(sl.s, sl.len);
		ai_json_str(j, h);
	}
	ai_json_arr_end(j);
}

static void emit_hex_field(struct ai_json *j, const char *key, const char *status, size_t slen,
			   const char *skey)
{
	struct ai_pp_slice v;
	if (status && ai_pp_field(status, slen, skey, &v) && ai_pp_is_hex(&v)) {
		ai_json_key(j, key);
		ai_json_strn(j, v.s, v.len);
	} else {
		ai_json_key(j, key);
		ai_json_null(j);
	}
}

static void emit_u64_list(struct ai_json *j, const char *key, const char *status, size_t slen,
			  const char *skey, size_t want)
{
	struct ai_pp_slice v;
	ai_json_key(j, key);
	if (!status || !ai_pp_field(status, slen, skey, &v)) {
		ai_json_null(j);
		return;
	}
	ai_json_arr_begin(j);
	uint64_t n;
	size_t count = 0;
	while ((want == 0 || count < want) && ai_pp_next_u64(&v, &n)) {
		ai_json_uint(j, n);
		count++;
	}
	ai_json_arr_end(j);
}

static void emit_int_field(struct ai_json *j, const char *key, const char *status, size_t slen,
			   const char *skey)
{
	struct ai_pp_slice v;
	uint64_t n;
	ai_json_key(j, key);
	if (status && ai_pp_field(status, slen, skey, &v) && ai_pp_next_u64(&v, &n))
		ai_json_uint(j, n);
	else
		ai_json_null(j);
}

static int upper_dir(struct pctx *c, const struct ai_container *ct)
{
	struct upper_slot *us = &c->upper[ct - c->cap->containers];
	if (us->tried)
		return us->fd;
	us->tried = true;
	struct ai_capture *cap = c->cap;
	const struct ai_overlay *ov = &ct->overlay;
	if (!ov->found || !ov->upperdir)
		return -1;
	const char *u = ov->upperdir;
	while (*u == '/')
		u++;
	ai_err_t e = {0};
	us->fd = ai_safe_openat(cap->host_root_fd, *u ? u : ".", O_PATH | O_DIRECTORY | O_CLOEXEC, &e);
	if (us->fd < 0)
		ai_log_path(cap, AI_LOG_ERROR, COLL, ov->upperdir, strlen(ov->upperdir),
			    "open upperdir: %s; every executable will be stored", e.msg);
	return us->fd;
}

/* 1: the exe path exists as a regular file in the upperdir (added or copied up at runtime),
 * 0: it comes from an image layer, -1: cannot tell (logged; the caller stores to be safe).
 * Both layers report the overlay st_dev, so only a lookup in the upperdir itself can tell. */
static int exe_in_upper(struct pstate *ps, const char *path, size_t len)
{
	struct pctx *c = ps->c;
	if (!ps->ct->overlay.found)
		return 0;
	int ufd = upper_dir(c, ps->ct);
	if (ufd < 0)
		return -1;
	while (len && *path == '/') {
		path++;
		len--;
	}
	if (!len || memchr(path, '\0', len))
		return 0;
	ai_err_t e = {0};
	/* The upperdir is one filesystem: whatever is mounted inside the host's copy of it is not
	 * the upper's own file (EXDEV). */
	cleanup_close int fd =
	    ai_safe_openat2(ufd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, AI_SAFE_NO_XDEV, &e);
	if (fd < 0) {
		/* ELOOP/ENOTDIR: a symlink or file in the upper shadows a component, so this
		 * resolved path cannot be in the upper. */
		if (e.errnum == ENOENT || e.errnum == ENOTDIR || e.errnum == ELOOP || e.errnum == EXDEV)
			return 0;
		ai_log_path(c->cap, AI_LOG_ERROR, COLL, path, len, "pid %d: exe lookup in upperdir: %s",
			    (int)ps->p->pid, e.msg);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	return S_ISREG(st.st_mode) ? 1 : 0;
}

/* At most max bytes, as the copy is capped: a hash of a longer executable covers its first max
 * bytes only (exe.size says how many, exe.truncated that it is a prefix). */
static int hash_exe(int fd, uint64_t max, char hex[AI_SHA256_HEXLEN], uint64_t *size, ai_err_t *err)
{
	uint8_t md[AI_SHA256_LEN];
	if (ai_hash_fd_max(fd, 0, max, md, size, err) < 0)
		return -1;
	ai_hex(md, sizeof(md), hex);
	return 0;
}

static struct exe_cache_ent *cache_find(struct pctx *c, const struct stat *st)
{
	for (size_t i = 0; i < c->ncache; i++) {
		struct exe_cache_ent *ce = &c->cache[i];
		if (ce->dev == st->st_dev && ce->ino == st->st_ino && ce->size == st->st_size &&
		    ce->mtime.tv_sec == st->st_mtim.tv_sec && ce->mtime.tv_nsec == st->st_mtim.tv_nsec &&
		    ce->ctime.tv_sec == st->st_ctim.tv_sec && ce->ctime.tv_nsec == st->st_ctim.tv_nsec)
			return ce;
	}
	return NULL;
}

static void cache_add(struct pctx *c, const struct stat *st, const char *hex, uint64_t hashed)
{
	struct exe_cache_ent *n = realloc(c->cache, (c->ncache + 1) * sizeof(*n));
	if (!n)
		return; /* only an optimisation */
	c->cache = n;
	struct exe_cache_ent *ce = &c->cache[c->ncache++];
	ce->dev = st->st_dev;
	ce->ino = st->st_ino;
	ce->size = st->st_size;
	ce->mtime = st->st_mtim;
	ce->ctime = st->st_ctim;
	ce->hashed = hashed;
	memcpy(ce->sha256, hex, AI_SHA256_HEXLEN);
}

static void emit_exe(struct pstate *ps)
{
	struct pctx *c = ps->c;
	struct ai_json *j = c->j;
	struct ai_capture *cap = c->cap;
	int pid = (int)ps->p->pid;
	const struct rpart *link = &ps->rp->link[PR_EXE];

	ai_json_key(j, "exe");
	if (!got_part(ps, "exe", link, 0)) {
		ai_json_null(j);
		return;
	}
	const char *path = link->s;
	size_t plen = link->len;
	bool deleted = ai_pp_link_deleted(path, plen);
	bool memfd = ai_pp_link_memfd(path, plen);

	char sha[AI_SHA256_HEXLEN] = "";
	uint64_t size = 0, source_size = 0;
	bool have_hash = false, truncated = false, stored = false, have_st = false;
	char member[64];
	ai_capture_member(ps->c->cap, member, sizeof(member), AI_M_EXE "/%d", pid);

	ai_err_t e = {0};
	/* Opened while frozen (pr_read_proc). Out of fds then (a target of many processes holds
	 * three each while frozen): opened now, and said so. */
	cleanup_close int fd = ps->rp->exefd;
	ps->rp->exefd = -1;
	const struct rpart *eo = &ps->rp->exeopen;
	if (fd < 0 && (eo->errnum == EMFILE || eo->errnum == ENFILE)) {
		fd = openat(ps->p->procfd, "exe", O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd >= 0)
			ai_log_path(cap, AI_LOG_WARNING, COLL, path, plen,
				    "pid %d: exe opened after the thaw (out of fds while frozen)", pid);
		else
			ai_err_set(&e, errno, "open exe");
	}
	struct stat st;
	if (fd < 0) {
		if (e.errnum)
			part_failed(ps, "exe", &e);
		else
			part_failed_as(ps, "exe", eo->errnum, eo->msg ? eo->msg : "open exe: not opened",
				       eo->dead);
	} else if (fstat(fd, &st) < 0) {
		ai_err_set(&e, errno, "fstat exe");
		part_failed(ps, "exe", &e);
	} else if (!S_ISREG(st.st_mode)) {
		ai_log_path(cap, AI_LOG_SKIP, COLL, path, plen, "pid %d: exe is not a regular file", pid);
	} else {
		have_st = true;
		source_size = (uint64_t)st.st_size;
		/* Looked up after the thaw: an exe unlinked since the freeze (no link left) is stored
		 * too, whatever the upperdir says now. */
		bool store = deleted || memfd || st.st_nlink == 0;
		if (!store)
			store = exe_in_upper(ps, path, plen) != 0;
		if (store) {
			struct ai_member_meta meta = {
			    .path = member,
			    .path_len = strlen(member),
			    .mode = S_IFREG | 0400,
			    .atime = c->now,
			    .mtime = c->now,
			    .ctime = c->now,
			};
			struct ai_member_result res;
			memset(&res, 0, sizeof(res));
			int sr = ai_bundle_add_fd(cap->bundle, &meta, fd, cap->exe_cap, &res, &e);
			if (sr == AI_BUNDLE_OVER_BUDGET) {
				/* not stored, but still hashed below */
				ai_log_path(cap, AI_LOG_TRUNCATED, COLL, path, plen,
					    "pid %d: exe not stored, hashed only: %s", pid, e.msg);
				store = false;
			} else if (sr < 0) {
				ai_log_path(cap, AI_LOG_ERROR, COLL, path, plen, "pid %d: store exe: %s", pid,
					    e.msg);
				if (ps->errs.len)
					ai_buf_adds(&ps->errs, "; ");
				ai_buf_printf(&ps->errs, "store exe: %s", e.msg);
			} else {
				stored = have_hash = true;
				memcpy(sha, res.sha256, AI_SHA256_HEXLEN);
				size = res.size;
				source_size = res.source_size;
				truncated = res.truncated;
				if (res.truncated)
					ai_log_path(cap, AI_LOG_TRUNCATED, COLL, path, plen,
						    "pid %d: exe stored cut at %" PRIu64 " of %" PRIu64
						    " bytes (%s)",
						    pid, res.size, res.source_size,
						    res.budget_cut ? "output budget reached"
						    : res.capped   ? "the exe cap"
								   : "it grew while read");
				if (res.short_read)
					ai_log_path(cap, AI_LOG_WARNING, COLL, path, plen,
						    "pid %d: exe shrank while stored, zero padded", pid);
			}
		}
		if (!store) {
			struct exe_cache_ent *ce = cache_find(c, &st);
			if (ce) {
				memcpy(sha, ce->sha256, AI_SHA256_HEXLEN);
				size = ce->hashed;
				have_hash = true;
			} else if (ai_err_clear(&e), lseek(fd, 0, SEEK_SET) < 0) {
				ai_err_set(&e, errno, "seek exe"); /* a refused store moved it */
				part_failed(ps, "hash exe", &e);
			} else if (hash_exe(fd, cap->exe_cap, sha, &size, &e) < 0) {
				part_failed(ps, "hash exe", &e);
			} else {
				have_hash = true;
				cache_add(c, &st, sha, size);
				if (size < source_size)
					ai_log_path(cap, AI_LOG_TRUNCATED, COLL, path, plen,
						    "pid %d: exe hash covers its first %" PRIu64
						    " of %" PRIu64 " bytes only (the exe cap)",
						    pid, size, source_size);
			}
			truncated = have_hash && size < source_size;
		}
	}

	ai_json_obj_begin(j);
	ai_json_kbytes(j, "path", path, plen);
	ai_json_kbool(j, "deleted", deleted);
	ai_json_kbool(j, "memfd", memfd);
	ai_json_kstr(j, "sha256", have_hash ? sha : NULL);
	ai_json_kuint(j, "size", size);
	ai_json_key(j, "source_size");
	if (have_st)
		ai_json_uint(j, source_size);
	else
		ai_json_null(j);
	ai_json_kstr(j, "member", stored ? member : NULL);
	ai_json_kbool(j, "truncated", truncated);
	ai_json_obj_end(j);
}

static void emit_ns(struct pstate *ps)
{
	struct ai_json *j = ps->c->j;
	ai_json_key(j, "ns");
	ai_json_obj_begin(j);
	for (size_t i = 0; i < PR_NNS; i++) {
		const struct rpart *link = &ps->rp->link[PR_NS0 + i];
		uint64_t ino;
		ai_json_key(j, pr_ns_kind[i]);
		if (got_part(ps, pr_ns_link[i], link, 0) && ai_pp_ns_inode(link->s, link->len, &ino))
			ai_json_uint(j, ino);
		else
			ai_json_null(j);
	}
	ai_json_obj_end(j);
}

static void emit_maps(struct pstate *ps)
{
	struct ai_json *j = ps->c->j;
	ai_json_key(j, "maps");
	if (!got_file(ps, PR_MAPS)) {
		ai_json_null(j);
		return;
	}
	const char *buf = ps->rp->file[PR_MAPS].s;
	size_t len = ps->rp->file[PR_MAPS].len;
	int r = ps->rp->file[PR_MAPS].trunc ? 1 : 0;
	ai_json_arr_begin(j);
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl && r == 1)
			break; /* the line the cap cut in half */
		const char *le = nl ? nl : end;
		struct ai_pp_map m;
		if (ai_pp_parse_map(p, (size_t)(le - p), &m) == 0) {
			ai_json_obj_begin(j);
			ai_json_kbytes(j, "start", m.start.s, m.start.len);
			ai_json_kbytes(j, "end", m.end.s, m.end.len);
			ai_json_kbytes(j, "perms", m.perms.s, m.perms.len);
			ai_json_kbytes(j, "offset", m.offset.s, m.offset.len);
			ai_json_kbytes(j, "dev", m.dev.s, m.dev.len);
			ai_json_kuint(j, "inode", m.inode);
			ai_json_kbytes(j, "path", m.path.s, m.path.len);
			ai_json_obj_end(j);
		} else if (le > p) {
			ai_log(ps->c->cap, AI_LOG_ERROR, COLL, "pid %d: unparsable maps line",
			       (int)ps->p->pid);
		}
		p = le + 1;
	}
	ai_json_arr_end(j);
}

static void emit_limits(struct pstate *ps)
{
	struct ai_json *j = ps->c->j;
	ai_json_key(j, "limits");
	if (!got_file(ps, PR_LIMITS)) {
		ai_json_null(j);
		return;
	}
	const char *buf = ps->rp->file[PR_LIMITS].s;
	size_t len = ps->rp->file[PR_LIMITS].len;
	ai_json_arr_begin(j);
	const char *p = buf, *end = buf + len;
	bool header = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct ai_pp_limit l;
		if (header) {
			header = false; /* "Limit  Soft Limit  Hard Limit  Units" */
		} else if (le > p && ai_pp_parse_limit(p, (size_t)(le - p), &l) == 0) {
			ai_json_obj_begin(j);
			ai_json_kbytes(j, "name", l.name.s, l.name.len);
			ai_json_kbytes(j, "soft", l.soft.s, l.soft.len);
			ai_json_kbytes(j, "hard", l.hard.s, l.hard.len);
			ai_json_kbytes(j, "units", l.units.s, l.units.len);
			ai_json_obj_end(j);
		}
		p = le + 1;
	}
	ai_json_arr_end(j);
}

static void emit_process(struct pctx *c, const struct ai_container *ct, const struct ai_proc *p,
			 struct rawproc *rp)
{
	struct ai_json *j = c->j;
	cleanup_pstate struct pstate ps = {.c = c, .ct = ct, .p = p, .rp = rp};
	ai_buf_init(&ps.errs);
	const struct rpart *f = rp->file;
	const char *status = NULL;
	size_t slen = 0;
	struct ai_pp_stat st = {0};
	bool have_stat = false;
	int pid = (int)p->pid;

	if (got_file(&ps, PR_STAT)) {
		if (ai_pp_parse_stat(f[PR_STAT].s, f[PR_STAT].len, &st) == 0) {
			have_stat = true;
			ps.zombie = st.state == 'Z' || st.state == 'X';
		} else {
			ai_log(c->cap, AI_LOG_ERROR, COLL, "pid %d: unparsable stat", pid);
			ai_buf_adds(&ps.errs, ps.errs.len ? "; unparsable stat" : "unparsable stat");
		}
	}
	if (got_file(&ps, PR_STATUS)) {
		status = f[PR_STATUS].s;
		slen = f[PR_STATUS].len;
	}

	ai_json_obj_begin(j);
	ai_json_kint(j, "pid", p->pid);
	emit_u64_list(j, "nspid", status, slen, "NSpid", 0);
	if (have_stat) {
		ai_json_kint(j, "ppid", st.ppid);
		ai_json_kbytes(j, "comm", st.comm.s, st.comm.len);
	} else {
		ai_json_kstr(j, "ppid", NULL);
		ai_json_kstr(j, "comm", NULL);
	}

	ai_json_key(j, "cmdline");
	if (got_file(&ps, PR_CMDLINE))
		emit_nul_list(j, "cmdline", f[PR_CMDLINE].s, f[PR_CMDLINE].len);
	else
		ai_json_null(j);
	ai_json_key(j, "environ");
	if (got_file(&ps, PR_ENVIRON))
		emit_nul_list(j, "environ", f[PR_ENVIRON].s, f[PR_ENVIRON].len);
	else
		ai_json_null(j);

	if (got_part(&ps, "cwd", &rp->link[PR_CWD], 0))
		ai_json_kbytes(j, "cwd", rp->link[PR_CWD].s, rp->link[PR_CWD].len);
	else
		ai_json_kstr(j, "cwd", NULL);
	if (got_part(&ps, "root", &rp->link[PR_ROOT], 0))
		ai_json_kbytes(j, "root", rp->link[PR_ROOT].s, rp->link[PR_ROOT].len);
	else
		ai_json_kstr(j, "root", NULL);

	emit_exe(&ps);

	if (have_stat) {
		char state[2] = {st.state, '\0'};
		ai_json_kbytes(j, "state", state, 1);
	} else {
		ai_json_kstr(j, "state", NULL);
	}
	struct ai_pp_slice v;
	uint64_t n;
	ai_json_key(j, "threads");
	if (status && ai_pp_field(status, slen, "Threads", &v) && ai_pp_next_u64(&v, &n))
		ai_json_uint(j, n);
	else if (have_stat && st.threads >= 0)
		ai_json_int(j, st.threads);
	else
		ai_json_null(j);
	emit_u64_list(j, "uid", status, slen, "Uid", 4);
	emit_u64_list(j, "gid", status, slen, "Gid", 4);
	emit_u64_list(j, "groups", status, slen, "Groups", 0);
	emit_hex_field(j, "cap_inh", status, slen, "CapInh");
	emit_hex_field(j, "cap_prm", status, slen, "CapPrm");
	emit_hex_field(j, "cap_eff", status, slen, "CapEff");
	emit_hex_field(j, "cap_bnd", status, slen, "CapBnd");
	emit_hex_field(j, "cap_amb", status, slen, "CapAmb");
	emit_int_field(j, "no_new_privs", status, slen, "NoNewPrivs");
	emit_int_field(j, "seccomp", status, slen, "Seccomp");

	emit_ns(&ps);

	if (got_file(&ps, PR_CGROUP)) {
		size_t cglen = f[PR_CGROUP].len;
		while (cglen && f[PR_CGROUP].s[cglen - 1] == '\n')
			cglen--;
		ai_json_kbytes(j, "cgroup", f[PR_CGROUP].s, cglen);
	} else {
		ai_json_kstr(j, "cgroup", NULL);
	}

	if (have_stat) {
		int64_t ns = ai_pp_ticks_to_ns(c->boot_epoch_ns, st.starttime, c->hz);
		int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
		if (nsec < 0) {
			sec--;
			nsec += 1000000000;
		}
		ai_json_ktime(j, "start_time", sec, (long)nsec);
	} else {
		ai_json_kstr(j, "start_time", NULL);
		ai_json_kstr(j, "start_time_ns", NULL);
	}

	if (ps.zombie) {
		/* a zombie has no mm: maps would only produce a spurious failure */
		ai_json_key(j, "maps");
		ai_json_null(j);
	} else {
		emit_maps(&ps);
	}
	emit_limits(&ps);

	/* Everything above may describe a pid that was already gone once all was read; say so
	 * rather than guess. */
	if (!ps.vanished && !rp->alive_end) {
		ps.vanished = true;
		ai_log(c->cap, AI_LOG_WARNING, COLL, "pid %d: exited during capture", pid);
	}
	if (ps.vanished)
		ai_json_kbool(j, "vanished", true);
	if (ps.zombie)
		ai_json_kbool(j, "zombie", true);
	if (ps.ncut) {
		ai_json_key(j, "truncated_parts");
		ai_json_arr_begin(j);
		for (size_t i = 0; i < ps.ncut; i++)
			ai_json_str(j, ps.cut[i]);
		ai_json_arr_end(j);
	}
	if (ps.errs.len)
		ai_json_kbytes(j, "error", ps.errs.data, ps.errs.len);
	ai_json_obj_end(j);
}

/* Thawed: log what the frozen half met, hash or store the executables, write processes.json. */
static int processes_finish(struct ai_capture *cap, void *state, ai_err_t *err)
{
	struct procs_raw *r = state;
	cleanup_buf struct ai_buf doc;
	ai_buf_init(&doc);
	struct ai_json j;
	ai_json_init(&j, &doc);
	cleanup_pctx struct pctx c = {.cap = cap, .j = &j};
	c.upper = calloc(cap->ncontainers ? cap->ncontainers : 1, sizeof(*c.upper));
	if (!c.upper)
		return ai_err_set(err, ENOMEM, "processes");
	for (size_t i = 0; i < cap->ncontainers; i++)
		c.upper[i].fd = -1;
	c.boot_epoch_ns = r->boot_epoch_ns;
	c.now = r->now;
	c.hz = sysconf(_SC_CLK_TCK);

	ai_json_obj_begin(&j);
	/* start times are counted in clock ticks since boot: that is all the precision they have */
	if (c.hz > 0)
		ai_json_kint(&j, "start_time_tick_ns", 1000000000 / c.hz);
	ai_json_key(&j, "processes");
	ai_json_arr_begin(&j);
	for (size_t i = 0; i < r->n && !ai_capture_stopping(cap); i++) { /* abandoned: stop */
		const struct ai_container *ct;
		const struct ai_proc *p = ai_capture_proc(cap, i, &ct);
		emit_process(&c, ct, p, &r->procs[i]);
	}
	ai_json_arr_end(&j);
	ai_json_obj_end(&j);

	if (ai_capture_put_json(cap, AI_M_PROCESSES, &doc, err) < 0)
		return ai_err_wrap(err, "processes");
	return 0;
}

static void processes_discard(void *state)
{
	procs_raw_free(state);
}

const struct ai_collector ai_collector_processes = {
    .name = "processes",
    .flags = AI_COLL_VOLATILE,
    .collect = processes_collect,
    .finish = processes_finish,
    .discard = processes_discard,
};
