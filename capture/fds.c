/* fds.json: every open file descriptor of the target's processes, and the content of the ones
 * that exist nowhere else any more (deleted-but-open files, memfds) as fds/recovered/PID-FD.
 * Only regular files are ever opened: a FIFO, socket or device is described, never touched. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include "capture/capture.h"
#include "capture/parallel.h"
#include "capture/procparse.h"
#include "common/buf.h"
#include "common/bundle.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/json.h"
#include "common/safeopen.h"

#define COLL "fds"
/* epoll and inotify fdinfo list every watch; the fields we use come first. */
#define FDINFO_MAX (256u << 10)

static int fdi_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* ---- collection ---- */

/* Read while frozen (collect, possibly in several threads: no logging, no bundle), described
 * and stored after the thaw (finish). What collect learns of a failure is kept with it: its
 * errno and whether the process was still alive then, so finish logs what a live read would. */
struct rawfd {
	int fdnum;
	char *target; /* NULL: readlink failed */
	size_t tlen;
	int rl_errnum;
	char *rl_msg;
	bool rl_alive;
	bool have_st;
	struct stat st;
	int st_errno;
	bool st_alive;
	bool have_info, itrunc;
	struct ai_pp_fdinfo fi;
	int ie_errnum;
	char *ie_msg;
	bool ie_alive;
	/* deleted regular file or memfd: opened while frozen, read after the thaw */
	int rec_state; /* 0 not tried, 1 recfd open, 2 same inode as an earlier fd, -1 open failed, -2 fstat
			  failed, -3 changed */
	int recfd;
	int rec_errno;
	bool rec_alive;
};

struct rawfdproc {
	struct rawfd *fds;
	size_t n;
	const char *fail_what; /* "open fd", "fdopendir", "open fdinfo" or NULL */
	int fail_errnum;
	bool fail_alive;
	int readdir_errnum;
	bool readdir_alive;
	bool oom;
	bool alive_end;
};

struct seen {
	dev_t dev;
	ino_t ino;
};

struct fds_raw {
	struct rawfdproc *procs;
	size_t n;
	struct seen *seen[AI_PAR_MAX]; /* per thread: inodes already opened for recovery */
	size_t nseen[AI_PAR_MAX];
};

static void fds_raw_free(struct fds_raw *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct rawfdproc *rp = &r->procs[i];
		for (size_t k = 0; k < rp->n; k++) {
			struct rawfd *f = &rp->fds[k];
			free(f->target);
			free(f->rl_msg);
			free(f->ie_msg);
			if (f->recfd >= 0)
				close(f->recfd);
		}
		free(rp->fds);
	}
	for (unsigned t = 0; t < AI_PAR_MAX; t++)
		free(r->seen[t]);
	free(r->procs);
	free(r);
}

static bool dead_now(const struct ai_proc *p, int errnum)
{
	return (errnum == ESRCH || errnum == ENOENT) && ai_proc_exited(p);
}

/* Record why fdinfo could not be read (errno), and whether the process was still alive then. */
static void fdinfo_failed(struct rawfd *f, const struct ai_proc *p, const char *op, const char *name)
{
	f->ie_errnum = errno;
	ai_err_t e;
	ai_err_set(&e, f->ie_errnum, "%s %s", op, name);
	f->ie_msg = strdup(e.msg);
	f->ie_alive = !dead_now(p, f->ie_errnum);
}

/* fdinfo is one seq_file record: a read with room for it all returns it all, so a short read
 * is the end (no extra read for EOF). */
static void raw_fdinfo(int infodir, const char *name, const struct ai_proc *p, struct rawfd *f)
{
	int fd = openat(infodir, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0) {
		fdinfo_failed(f, p, "open", name);
		return;
	}
	char stackbuf[4096];
	char *buf = stackbuf;
	size_t cap = sizeof(stackbuf), len = 0;
	for (;;) {
		if (len == cap) {
			if (cap > FDINFO_MAX)
				break;
			size_t ncap = cap * 2 > FDINFO_MAX + 1 ? FDINFO_MAX + 1 : cap * 2;
			char *nb = buf == stackbuf ? malloc(ncap) : realloc(buf, ncap);
			if (!nb)
				break;
			if (buf == stackbuf)
				memcpy(nb, stackbuf, len);
			buf = nb;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fdinfo_failed(f, p, "read", name);
			len = 0;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len < cap)
			break;
	}
	close(fd);
	if (!f->ie_errnum) {
		f->itrunc = len > FDINFO_MAX;
		if (f->itrunc)
			len = FDINFO_MAX;
		ai_pp_parse_fdinfo(buf, len, &f->fi);
		f->have_info = true;
	}
	if (buf != stackbuf)
		free(buf);
}

static void raw_fd(struct fds_raw *r, unsigned t, const struct ai_proc *p, int fddir, int infodir,
		   struct rawfd *f)
{
	char name[16];
	snprintf(name, sizeof(name), "%d", f->fdnum);
	f->recfd = -1;
	ai_err_t e = {0};
	if (ai_readlinkat(fddir, name, &f->target, &f->tlen, &e) < 0) {
		f->target = NULL;
		f->rl_errnum = e.errnum;
		f->rl_msg = strdup(e.msg);
		f->rl_alive = !dead_now(p, e.errnum);
		return;
	}
	f->have_st = fstatat(fddir, name, &f->st, 0) == 0;
	if (!f->have_st) {
		f->st_errno = errno;
		f->st_alive = !dead_now(p, f->st_errno);
	}
	raw_fdinfo(infodir, name, p, f);

	enum ai_fd_type type = ai_pp_fd_classify(f->target, f->tlen, f->have_st ? &f->st : NULL);
	bool deleted = type == AI_FD_MEMFD || type == AI_FD_DELETED;
	if (!(deleted && f->have_st && S_ISREG(f->st.st_mode)))
		return;
	for (size_t i = 0; i < r->nseen[t]; i++)
		if (r->seen[t][i].dev == f->st.st_dev && r->seen[t][i].ino == f->st.st_ino) {
			f->rec_state = 2; /* stored once, through the first fd on it */
			return;
		}
	/* O_NOFOLLOW would refuse the magic link (ELOOP); O_NONBLOCK keeps a FIFO swapped in
	 * after the fstatat from blocking us, and the fstat below refuses it. */
	int fd = openat(fddir, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		f->rec_state = -1;
		f->rec_errno = errno;
		f->rec_alive = ai_proc_alive(p);
		return;
	}
	struct stat fst;
	if (fstat(fd, &fst) < 0) {
		f->rec_state = -2;
		f->rec_errno = errno;
		close(fd);
		return;
	}
	if (!S_ISREG(fst.st_mode) || fst.st_dev != f->st.st_dev || fst.st_ino != f->st.st_ino) {
		f->rec_state = -3;
		close(fd);
		return;
	}
	f->st = fst; /* the times of the very inode we read */
	f->rec_state = 1;
	f->recfd = fd;
	struct seen *ns = realloc(r->seen[t], (r->nseen[t] + 1) * sizeof(*ns));
	if (ns) {
		r->seen[t] = ns;
		r->seen[t][r->nseen[t]++] = (struct seen){fst.st_dev, fst.st_ino};
	}
}

struct raw_job {
	struct ai_capture *cap;
	struct fds_raw *r;
};

static void raw_proc(void *arg, size_t i, unsigned t)
{
	struct raw_job *jb = arg;
	const struct ai_proc *p = ai_capture_proc(jb->cap, i, NULL);
	struct rawfdproc *rp = &jb->r->procs[i];
	int fdd = openat(p->procfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fdd < 0) {
		rp->fail_what = "open fd";
		rp->fail_errnum = errno;
		rp->fail_alive = !dead_now(p, rp->fail_errnum);
		return;
	}
	DIR *d = fdopendir(fdd);
	if (!d) {
		rp->fail_what = "fdopendir";
		rp->fail_errnum = errno;
		rp->fail_alive = true; /* logged as an error whatever */
		close(fdd);
		return;
	}
	int infodir = openat(p->procfd, "fdinfo", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (infodir < 0) {
		rp->fail_what = "open fdinfo";
		rp->fail_errnum = errno;
		rp->fail_alive = !dead_now(p, rp->fail_errnum);
		closedir(d);
		return;
	}
	/* List first, then describe: readdir of /proc/PID/fd is cheap, and sorting keeps the
	 * output stable whatever order the kernel hands out. */
	int *fds = NULL;
	size_t n = 0, cap_n = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		char *ep;
		errno = 0;
		long v = strtol(de->d_name, &ep, 10);
		if (*ep || ep == de->d_name || v < 0 || v > INT32_MAX) {
			errno = 0;
			continue;
		}
		if (n == cap_n) {
			size_t nc = cap_n ? cap_n * 2 : 64;
			int *nf = realloc(fds, nc * sizeof(*nf));
			if (!nf) {
				rp->oom = true;
				break;
			}
			fds = nf;
			cap_n = nc;
		}
		fds[n++] = (int)v;
		errno = 0;
	}
	if (errno) {
		rp->readdir_errnum = errno;
		rp->readdir_alive = !dead_now(p, errno);
	}
	if (n)
		qsort(fds, n, sizeof(*fds), fdi_cmp_int);
	rp->fds = n ? calloc(n, sizeof(*rp->fds)) : NULL;
	if (n && !rp->fds) {
		rp->oom = true;
		n = 0;
	}
	for (size_t k = 0; k < n; k++) {
		rp->fds[k].fdnum = fds[k];
		raw_fd(jb->r, t, p, dirfd(d), infodir, &rp->fds[k]);
		rp->n = k + 1;
	}
	free(fds);
	close(infodir);
	closedir(d);
	rp->alive_end = ai_proc_alive(p);
}

/* One inode shared by several fds (a memfd inherited across fork) is stored once. */
struct recovered {
	dev_t dev;
	ino_t ino;
	char member[64];
	uint64_t size, source_size;
	bool truncated, sparse;
	bool refused;	 /* not stored: the output budget was spent (later fds of it are not tried) */
	const char *cut; /* "fd_cap", "output_budget", "grew" or NULL */
	char sha256[AI_SHA256_HEXLEN];
};

struct fctx {
	struct ai_capture *cap;
	struct ai_json *j;
	struct recovered *rec;
	size_t nrec;
};

static void fctx_release(struct fctx *c)
{
	free(c->rec);
}
#define cleanup_fctx __attribute__((cleanup(fctx_release)))

static const struct recovered *rec_find(const struct fctx *c, const struct stat *st)
{
	for (size_t i = 0; i < c->nrec; i++)
		if (c->rec[i].dev == st->st_dev && c->rec[i].ino == st->st_ino)
			return &c->rec[i];
	return NULL;
}

static void rec_add(struct fctx *c, const struct recovered *r)
{
	struct recovered *n = realloc(c->rec, (c->nrec + 1) * sizeof(*n));
	if (n) { /* dedup is only an optimisation */
		c->rec = n;
		c->rec[c->nrec++] = *r;
	}
}

static enum ai_log_level lvl_of(bool alive)
{
	return alive ? AI_LOG_ERROR : AI_LOG_WARNING;
}

/* Store the content of a deleted file or memfd, read through the fd opened while frozen;
 * false when nothing was stored (*over_budget: because the output budget was spent). */
static bool recover(struct fctx *c, const struct ai_proc *p, struct rawfd *f, struct recovered *out,
		    bool *over_budget)
{
	struct ai_capture *cap = c->cap;
	const char *target = f->target;
	size_t tlen = f->tlen;
	int fdnum = f->fdnum;
	const struct recovered *have = rec_find(c, &f->st);
	if (have && have->refused) {
		ai_log_path(cap, AI_LOG_TRUNCATED, COLL, target, tlen,
			    "pid %d fd %d: not recovered: the output budget refused this inode through an "
			    "earlier fd",
			    (int)p->pid, fdnum);
		*over_budget = true;
		return false;
	}
	if (have) {
		*out = *have;
		return true;
	}
	switch (f->rec_state) {
	case -1:
		if (f->rec_errno == ENOENT && f->rec_alive)
			ai_log_path(cap, AI_LOG_INFO, COLL, target, tlen,
				    "pid %d fd %d: closed before recovery", (int)p->pid, fdnum);
		else
			ai_log_path(cap,
				    (f->rec_errno == ESRCH || f->rec_errno == ENOENT) && !f->rec_alive
					? AI_LOG_WARNING
					: AI_LOG_ERROR,
				    COLL, target, tlen, "pid %d fd %d: open for recovery: %s", (int)p->pid,
				    fdnum, strerror(f->rec_errno));
		return false;
	case -2:
		ai_log_path(cap, AI_LOG_ERROR, COLL, target, tlen, "pid %d fd %d: fstat: %s", (int)p->pid,
			    fdnum, strerror(f->rec_errno));
		return false;
	case -3:
		ai_log_path(cap, AI_LOG_SKIP, COLL, target, tlen,
			    "pid %d fd %d: changed to a non regular file or another inode, not read",
			    (int)p->pid, fdnum);
		return false;
	case 2:
		ai_log_path(
		    cap, AI_LOG_ERROR, COLL, target, tlen,
		    "pid %d fd %d: not recovered: storing the same inode through an earlier fd failed",
		    (int)p->pid, fdnum);
		return false;
	case 1:
		break;
	default:
		return false;
	}

	struct recovered r = {.dev = f->st.st_dev, .ino = f->st.st_ino};
	ai_capture_member(c->cap, r.member, sizeof(r.member), AI_M_RECOVERED "/%d-%d", (int)p->pid, fdnum);
	struct ai_member_meta meta = {
	    .path = r.member,
	    .path_len = strlen(r.member),
	    .mode = S_IFREG | 0400,
	    .atime = f->st.st_atim,
	    .mtime = f->st.st_mtim,
	    .ctime = f->st.st_ctim,
	};
	struct ai_member_result res;
	memset(&res, 0, sizeof(res));
	ai_err_t e = {0};
	int rc = ai_bundle_add_fd(cap->bundle, &meta, f->recfd, cap->fd_cap, &res, &e);
	close(f->recfd);
	f->recfd = -1;
	if (rc == AI_BUNDLE_OVER_BUDGET) {
		ai_log_path(cap, AI_LOG_TRUNCATED, COLL, target, tlen,
			    "pid %d fd %d: content of %" PRIu64 " bytes not recovered: %s", (int)p->pid,
			    fdnum, res.source_size, e.msg);
		*over_budget = true;
		r.refused = true;
		rec_add(c, &r);
		return false;
	}
	if (rc < 0) {
		ai_log_path(cap, AI_LOG_ERROR, COLL, target, tlen, "pid %d fd %d: store: %s", (int)p->pid,
			    fdnum, e.msg);
		return false;
	}
	r.size = res.size;
	r.source_size = res.source_size;
	r.truncated = res.truncated;
	r.sparse = res.sparse;
	r.cut = res.budget_cut ? "output_budget" : res.capped ? "fd_cap" : res.grew ? "grew" : NULL;
	memcpy(r.sha256, res.sha256, AI_SHA256_HEXLEN);
	if (res.truncated)
		ai_log_path(cap, AI_LOG_TRUNCATED, COLL, target, tlen,
			    "pid %d fd %d: recovered content cut at %" PRIu64 " of %" PRIu64 " bytes (%s)",
			    (int)p->pid, fdnum, res.size, res.source_size,
			    res.budget_cut ? "output budget reached"
			    : res.capped   ? "--fd-cap"
					   : "it grew while read");
	if (res.short_read)
		ai_log_path(cap, AI_LOG_WARNING, COLL, target, tlen,
			    "pid %d fd %d: file shrank while stored, zero padded", (int)p->pid, fdnum);

	*out = r;
	rec_add(c, &r);
	return true;
}

static void emit_fd(struct fctx *c, const struct ai_proc *p, struct rawfd *f)
{
	struct ai_capture *cap = c->cap;
	struct ai_json *j = c->j;
	int fdnum = f->fdnum;
	if (!f->target) {
		if (f->rl_errnum == ENOENT && f->rl_alive)
			return; /* closed since the listing: there is nothing to describe */
		char path[64];
		int pl = snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)p->pid, fdnum);
		ai_log_path(cap,
			    (f->rl_errnum == ESRCH || f->rl_errnum == ENOENT) && !f->rl_alive ? AI_LOG_WARNING
											      : AI_LOG_ERROR,
			    COLL, path, (size_t)pl, "pid %d fd %d: %s", (int)p->pid, fdnum,
			    f->rl_msg ? f->rl_msg : "readlink failed");
		return;
	}
	const char *target = f->target;
	size_t tlen = f->tlen;
	bool have_st = f->have_st;
	const struct stat st = f->st;
	struct ai_pp_fdinfo fi;
	memset(&fi, 0, sizeof(fi));
	if (f->have_info) {
		fi = f->fi;
		if (f->itrunc)
			ai_log(cap, AI_LOG_TRUNCATED, COLL, "pid %d fd %d: fdinfo cut at %u bytes",
			       (int)p->pid, fdnum, FDINFO_MAX);
	} else if (!(f->ie_errnum == ENOENT && f->ie_alive)) {
		ai_log(cap,
		       (f->ie_errnum == ESRCH || f->ie_errnum == ENOENT) && !f->ie_alive ? AI_LOG_WARNING
											 : AI_LOG_ERROR,
		       COLL, "pid %d fd %d: %s", (int)p->pid, fdnum, f->ie_msg ? f->ie_msg : "fdinfo failed");
	}
	if (!have_st && !(f->st_errno == ENOENT && f->st_alive))
		ai_log_path(cap,
			    (f->st_errno == ESRCH || f->st_errno == ENOENT) && !f->st_alive ? AI_LOG_WARNING
											    : AI_LOG_ERROR,
			    COLL, target, tlen, "pid %d fd %d: fstatat: %s", (int)p->pid, fdnum,
			    strerror(f->st_errno));

	enum ai_fd_type type = ai_pp_fd_classify(target, tlen, have_st ? &st : NULL);
	bool memfd = type == AI_FD_MEMFD;
	bool deleted = memfd || type == AI_FD_DELETED;

	/* Without a stat we do not know what sits behind the link, so it is never opened. */
	struct recovered recbuf;
	const struct recovered *rec = NULL;
	bool over_budget = false;
	if (deleted && have_st && S_ISREG(st.st_mode)) {
		if (recover(c, p, f, &recbuf, &over_budget))
			rec = &recbuf;
	} else if (deleted && have_st) {
		ai_log_path(cap, AI_LOG_SKIP, COLL, target, tlen,
			    "pid %d fd %d: deleted but not a regular file, not opened", (int)p->pid, fdnum);
	}

	ai_json_obj_begin(j);
	ai_json_kint(j, "pid", p->pid);
	ai_json_kint(j, "fd", fdnum);
	ai_json_kbytes(j, "target", target, tlen);
	ai_json_kstr(j, "type", ai_fd_type_name(type));
	ai_json_kstr(j, "flags", fi.has_flags ? fi.flags : NULL);
	ai_json_key(j, "pos");
	if (fi.has_pos)
		ai_json_uint(j, fi.pos);
	else
		ai_json_null(j);
	ai_json_key(j, "mnt_id");
	if (fi.has_mnt)
		ai_json_uint(j, fi.mnt_id);
	else
		ai_json_null(j);
	ai_json_key(j, "ino");
	if (fi.has_ino)
		ai_json_uint(j, fi.ino);
	else if (have_st)
		ai_json_uint(j, (uint64_t)st.st_ino);
	else
		ai_json_null(j);
	if (have_st) {
		char dev[32], mode[16];
		snprintf(dev, sizeof(dev), "%u:%u", major(st.st_dev), minor(st.st_dev));
		/* with the file type bits: "deleted" alone would hide that it is a FIFO */
		snprintf(mode, sizeof(mode), "0%o", (unsigned)st.st_mode);
		ai_json_kstr(j, "dev", dev);
		ai_json_kstr(j, "mode", mode);
		ai_json_kint(j, "size", (int64_t)st.st_size);
	} else {
		ai_json_kstr(j, "dev", NULL);
		ai_json_kstr(j, "mode", NULL);
		ai_json_kstr(j, "size", NULL);
	}
	ai_json_kbool(j, "deleted", deleted);
	ai_json_kbool(j, "memfd", memfd);
	if (f->have_info && f->itrunc)
		ai_json_kbool(j, "fdinfo_truncated", true);
	ai_json_key(j, "recovered");
	if (rec) {
		ai_json_obj_begin(j);
		ai_json_kstr(j, "member", rec->member);
		ai_json_kuint(j, "size", rec->size);
		ai_json_kstr(j, "sha256", rec->sha256);
		ai_json_kbool(j, "truncated", rec->truncated);
		ai_json_kuint(j, "source_size", rec->source_size);
		ai_json_kbool(j, "sparse", rec->sparse);
		ai_json_kstr(j, "cut", rec->cut);
		ai_json_obj_end(j);
	} else {
		ai_json_null(j);
	}
	if (over_budget)
		ai_json_kstr(j, "cut", "output_budget");
	ai_json_obj_end(j);
}

static void finish_proc(struct fctx *c, const struct ai_proc *p, struct rawfdproc *rp)
{
	struct ai_capture *cap = c->cap;
	if (rp->fail_what) {
		/* with the /proc entry refused: fd/ or fdinfo/ (EACCES without ptrace access) */
		char path[64];
		int pl = snprintf(path, sizeof(path), "/proc/%d/%s", (int)p->pid,
				  strstr(rp->fail_what, "fdinfo") ? "fdinfo" : "fd");
		ai_log_path(cap, lvl_of(rp->fail_alive), COLL, path, (size_t)pl, "pid %d: %s: %s",
			    (int)p->pid, rp->fail_what, strerror(rp->fail_errnum));
		return;
	}
	if (rp->oom)
		ai_log(cap, AI_LOG_ERROR, COLL, "pid %d: out of memory listing fds", (int)p->pid);
	if (rp->readdir_errnum)
		ai_log(cap, lvl_of(rp->readdir_alive), COLL, "pid %d: readdir fd: %s", (int)p->pid,
		       strerror(rp->readdir_errnum));
	for (size_t i = 0; i < rp->n; i++)
		emit_fd(c, p, &rp->fds[i]);
	if (!rp->alive_end)
		ai_log(cap, AI_LOG_WARNING, COLL, "pid %d: exited during capture, its fd list may be partial",
		       (int)p->pid);
}

/* Frozen: every fd's link, stat and fdinfo, and an fd on every deleted file or memfd. */
static int fds_collect(struct ai_capture *cap, void **state, ai_err_t *err)
{
	size_t n = ai_capture_nprocs(cap);
	struct fds_raw *r = calloc(1, sizeof(*r));
	if (!r || (n && !(r->procs = calloc(n, sizeof(*r->procs))))) {
		free(r);
		return ai_err_set(err, ENOMEM, "fds");
	}
	r->n = n;
	struct raw_job jb = {cap, r};
	ai_parallel(r->n, raw_proc, &jb);
	*state = r;
	return 0;
}

/* Thawed: log what the frozen half met, store the recovered contents, write fds.json. */
static int fds_finish(struct ai_capture *cap, void *state, ai_err_t *err)
{
	struct fds_raw *r = state;
	cleanup_buf struct ai_buf doc;
	ai_buf_init(&doc);
	struct ai_json j;
	ai_json_init(&j, &doc);
	cleanup_fctx struct fctx c = {.cap = cap, .j = &j};

	ai_json_obj_begin(&j);
	ai_json_key(&j, "fds");
	ai_json_arr_begin(&j);
	for (size_t i = 0; i < r->n && !ai_capture_stopping(cap); i++) /* abandoned: stop */
		finish_proc(&c, ai_capture_proc(cap, i, NULL), &r->procs[i]);
	ai_json_arr_end(&j);
	ai_json_obj_end(&j);

	if (ai_capture_put_json(cap, AI_M_FDS, &doc, err) < 0)
		return ai_err_wrap(err, "fds");
	return 0;
}

static void fds_discard(void *state)
{
	fds_raw_free(state);
}

const struct ai_collector ai_collector_fds = {
    .name = "fds",
    .flags = AI_COLL_VOLATILE,
    .collect = fds_collect,
    .finish = fds_finish,
    .discard = fds_discard,
};
