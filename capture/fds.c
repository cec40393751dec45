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
#include "common/buf.h"
#include "common/bundle.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/json.h"
#include "common/safeopen.h"

#define COLL "fds"
/* epoll and inotify fdinfo list every watch; the fields we use come first. */
#define FDINFO_MAX (256u << 10)

/* ---- pure helpers (exercised by tests/unit/test_procparse.c) ---- */

enum fdi_type { FDT_FILE, FDT_DIR, FDT_SOCKET, FDT_PIPE, FDT_ANON, FDT_MEMFD, FDT_DELETED, FDT_DEVICE, FDT_OTHER };

static const char *const fdi_type_names[] = { "file", "dir", "socket", "pipe", "anon", "memfd", "deleted",
					      "device", "other" };

static bool fdi_prefix(const char *s, size_t len, const char *pre)
{
	size_t n = strlen(pre);
	return len >= n && !memcmp(s, pre, n);
}

static bool fdi_suffix(const char *s, size_t len, const char *suf)
{
	size_t n = strlen(suf);
	return len >= n && !memcmp(s + len - n, suf, n);
}

/* The link text decides for the kernel's pseudo files; the inode mode (st, NULL when fstatat
 * failed) decides for paths, so a file named "/dev/x" in the container is not a device. */
static enum fdi_type fdi_classify(const char *t, size_t len, const struct stat *st)
{
	if (fdi_prefix(t, len, "socket:["))
		return FDT_SOCKET;
	if (fdi_prefix(t, len, "pipe:["))
		return FDT_PIPE;
	if (fdi_prefix(t, len, "anon_inode:"))
		return FDT_ANON;
	if (fdi_prefix(t, len, "/memfd:"))
		return FDT_MEMFD;
	if (len && t[0] == '/' && fdi_suffix(t, len, " (deleted)"))
		return FDT_DELETED;
	if (st) {
		if (S_ISDIR(st->st_mode))
			return FDT_DIR;
		if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
			return FDT_DEVICE;
		if (S_ISREG(st->st_mode))
			return FDT_FILE;
		if (S_ISSOCK(st->st_mode))
			return FDT_SOCKET;
		return FDT_OTHER;
	}
	if (fdi_prefix(t, len, "/dev/"))
		return FDT_DEVICE;
	return FDT_OTHER;
}

struct fdi_info {
	bool has_pos, has_flags, has_mnt, has_ino;
	uint64_t pos, mnt_id, ino;
	char flags[24]; /* octal digits as the kernel printed them */
};

static bool fdi_u64(const char *s, size_t len, int base, uint64_t *out)
{
	char num[32];
	if (!len || len >= sizeof(num))
		return false;
	memcpy(num, s, len);
	num[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (num[i] < '0' || num[i] > (base == 8 ? '7' : '9'))
			return false;
	errno = 0;
	char *ep;
	unsigned long long v = strtoull(num, &ep, base);
	if (errno || *ep)
		return false;
	*out = v;
	return true;
}

static void fdi_parse_info(const char *buf, size_t len, struct fdi_info *fi)
{
	memset(fi, 0, sizeof(*fi));
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (colon) {
			size_t klen = (size_t)(colon - p);
			const char *v = colon + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(le - v);
			while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			uint64_t n;
			if (klen == 3 && !memcmp(p, "pos", 3) && !fi->has_pos && fdi_u64(v, vlen, 10, &n)) {
				fi->pos = n;
				fi->has_pos = true;
			} else if (klen == 5 && !memcmp(p, "flags", 5) && !fi->has_flags && vlen < sizeof(fi->flags) &&
				   fdi_u64(v, vlen, 8, &n)) {
				memcpy(fi->flags, v, vlen);
				fi->flags[vlen] = '\0';
				fi->has_flags = true;
			} else if (klen == 6 && !memcmp(p, "mnt_id", 6) && !fi->has_mnt && fdi_u64(v, vlen, 10, &n)) {
				fi->mnt_id = n;
				fi->has_mnt = true;
			} else if (klen == 3 && !memcmp(p, "ino", 3) && !fi->has_ino && fdi_u64(v, vlen, 10, &n)) {
				fi->ino = n;
				fi->has_ino = true;
			}
		}
		p = le + 1;
	}
}

static int fdi_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* ---- collection ---- */

/* One inode shared by several fds (a memfd inherited across fork) is stored once. */
struct recovered {
	dev_t dev;
	ino_t ino;
	char member[64];
	uint64_t size;
	bool truncated;
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

/* Failing on a process that has gone is a warning, not a hole in the evidence. */
static enum ai_log_level fail_level(const struct ai_proc *p, int errnum)
{
	if ((errnum == ESRCH || errnum == ENOENT) && !ai_proc_alive(p))
		return AI_LOG_WARNING;
	return AI_LOG_ERROR;
}

/* Copy the content of a deleted file or memfd into the bundle; false when nothing was stored. */
static bool recover(struct fctx *c, const struct ai_proc *p, int fddir, const char *name, int fdnum,
		    const struct stat *st, const char *target, size_t tlen, struct recovered *out)
{
	struct ai_capture *cap = c->cap;
	const struct recovered *have = rec_find(c, st);
	if (have) {
		*out = *have;
		return true;
	}

	/* O_NOFOLLOW would refuse the magic link (ELOOP); O_NONBLOCK keeps a FIFO swapped in
	 * after the fstatat from blocking us, and the fstat below refuses it. */
	cleanup_close int fd = openat(fddir, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		int en = errno;
		if (en == ENOENT && ai_proc_alive(p))
			ai_log_path(cap, AI_LOG_INFO, COLL, target, tlen, "pid %d fd %d: closed before recovery",
				    (int)p->pid, fdnum);
		else
			ai_log_path(cap, fail_level(p, en), COLL, target, tlen, "pid %d fd %d: open for recovery: %s",
				    (int)p->pid, fdnum, strerror(en));
		return false;
	}
	struct stat fst;
	if (fstat(fd, &fst) < 0) {
		ai_log_path(cap, AI_LOG_ERROR, COLL, target, tlen, "pid %d fd %d: fstat: %s", (int)p->pid, fdnum,
			    strerror(errno));
		return false;
	}
	if (!S_ISREG(fst.st_mode) || fst.st_dev != st->st_dev || fst.st_ino != st->st_ino) {
		ai_log_path(cap, AI_LOG_SKIP, COLL, target, tlen,
			    "pid %d fd %d: changed to a non regular file or another inode, not read", (int)p->pid,
			    fdnum);
		return false;
	}

	struct recovered r = { .dev = fst.st_dev, .ino = fst.st_ino };
	snprintf(r.member, sizeof(r.member), AI_M_RECOVERED "/%d-%d", (int)p->pid, fdnum);
	struct ai_member_meta meta = {
		.path = r.member,
		.path_len = strlen(r.member),
		.mode = S_IFREG | 0400,
		.atime = fst.st_atim,
		.mtime = fst.st_mtim,
		.ctime = fst.st_ctim,
	};
	struct ai_member_result res;
	memset(&res, 0, sizeof(res));
	ai_err_t e = { 0 };
	if (ai_bundle_add_fd(cap->bundle, &meta, fd, cap->fd_cap, &res, &e) < 0) {
		ai_log_path(cap, AI_LOG_ERROR, COLL, target, tlen, "pid %d fd %d: store: %s", (int)p->pid, fdnum,
			    e.msg);
		return false;
	}
	r.size = res.size;
	r.truncated = res.truncated;
	memcpy(r.sha256, res.sha256, AI_SHA256_HEXLEN);
	if (res.truncated)
		ai_log_path(cap, AI_LOG_TRUNCATED, COLL, target, tlen,
			    "pid %d fd %d: recovered content cut at %" PRIu64 " of %" PRIu64 " bytes", (int)p->pid,
			    fdnum, res.size, res.source_size);
	if (res.short_read)
		ai_log_path(cap, AI_LOG_WARNING, COLL, target, tlen,
			    "pid %d fd %d: file shrank while stored, zero padded", (int)p->pid, fdnum);

	*out = r;
	struct recovered *n = realloc(c->rec, (c->nrec + 1) * sizeof(*n));
	if (n) { /* dedup is only an optimisation */
		c->rec = n;
		c->rec[c->nrec++] = r;
	}
	return true;
}

/* Returns false when the fd disappeared (closed meanwhile) and nothing was emitted. */
static bool emit_fd(struct fctx *c, const struct ai_proc *p, int fddir, int infodir, int fdnum)
{
	struct ai_capture *cap = c->cap;
	struct ai_json *j = c->j;
	char name[16];
	snprintf(name, sizeof(name), "%d", fdnum);

	cleanup_free char *target = NULL;
	size_t tlen = 0;
	ai_err_t e = { 0 };
	if (ai_readlinkat(fddir, name, &target, &tlen, &e) < 0) {
		if (e.errnum == ENOENT && ai_proc_alive(p))
			return false; /* closed since the listing: there is nothing to describe */
		ai_log(cap, fail_level(p, e.errnum), COLL, "pid %d fd %d: %s", (int)p->pid, fdnum, e.msg);
		return false;
	}

	struct stat st;
	bool have_st = fstatat(fddir, name, &st, 0) == 0;
	int st_errno = have_st ? 0 : errno;

	struct fdi_info fi;
	memset(&fi, 0, sizeof(fi));
	cleanup_free char *info = NULL;
	size_t ilen = 0;
	bool itrunc = false;
	ai_err_t ie = { 0 };
	if (ai_read_small(infodir, name, FDINFO_MAX, &info, &ilen, &itrunc, &ie) == 0) {
		fdi_parse_info(info, ilen, &fi);
		if (itrunc)
			ai_log(cap, AI_LOG_TRUNCATED, COLL, "pid %d fd %d: fdinfo cut at %u bytes", (int)p->pid, fdnum,
			       FDINFO_MAX);
	} else if (!(ie.errnum == ENOENT && ai_proc_alive(p))) {
		ai_log(cap, fail_level(p, ie.errnum), COLL, "pid %d fd %d: %s", (int)p->pid, fdnum, ie.msg);
	}
	if (!have_st && !(st_errno == ENOENT && ai_proc_alive(p)))
		ai_log_path(cap, fail_level(p, st_errno), COLL, target, tlen, "pid %d fd %d: fstatat: %s",
			    (int)p->pid, fdnum, strerror(st_errno));

	enum fdi_type type = fdi_classify(target, tlen, have_st ? &st : NULL);
	bool memfd = type == FDT_MEMFD;
	bool deleted = memfd || type == FDT_DELETED;

	/* Without a stat we do not know what sits behind the link, so it is never opened. */
	struct recovered recbuf;
	const struct recovered *rec = NULL;
	if (deleted && have_st && S_ISREG(st.st_mode)) {
		if (recover(c, p, fddir, name, fdnum, &st, target, tlen, &recbuf))
			rec = &recbuf;
	} else if (deleted && have_st) {
		ai_log_path(cap, AI_LOG_SKIP, COLL, target, tlen,
			    "pid %d fd %d: deleted but not a regular file, not opened", (int)p->pid, fdnum);
	}

	ai_json_obj_begin(j);
	ai_json_kint(j, "pid", p->pid);
	ai_json_kint(j, "fd", fdnum);
	ai_json_kbytes(j, "target", target, tlen);
	ai_json_kstr(j, "type", fdi_type_names[type]);
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
	ai_json_key(j, "recovered");
	if (rec) {
		ai_json_obj_begin(j);
		ai_json_kstr(j, "member", rec->member);
		ai_json_kuint(j, "size", rec->size);
		ai_json_kstr(j, "sha256", rec->sha256);
		ai_json_kbool(j, "truncated", rec->truncated);
		ai_json_obj_end(j);
	} else {
		ai_json_null(j);
	}
	ai_json_obj_end(j);
	return true;
}

static void collect_proc(struct fctx *c, const struct ai_proc *p)
{
	struct ai_capture *cap = c->cap;
	cleanup_close int fdd = openat(p->procfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fdd < 0) {
		int en = errno;
		ai_log(cap, fail_level(p, en), COLL, "pid %d: open fd: %s", (int)p->pid, strerror(en));
		return;
	}
	cleanup_closedir DIR *d = fdopendir(fdd);
	if (!d) {
		ai_log(cap, AI_LOG_ERROR, COLL, "pid %d: fdopendir: %s", (int)p->pid, strerror(errno));
		return;
	}
	fdd = -1; /* owned by d now */
	cleanup_close int infodir = openat(p->procfd, "fdinfo", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (infodir < 0) {
		int en = errno;
		ai_log(cap, fail_level(p, en), COLL, "pid %d: open fdinfo: %s", (int)p->pid, strerror(en));
		return;
	}

	/* List first, then describe: readdir of /proc/PID/fd is cheap, and sorting keeps the
	 * output stable whatever order the kernel hands out. */
	cleanup_free int *fds = NULL;
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
				ai_log(cap, AI_LOG_ERROR, COLL, "pid %d: out of memory listing fds", (int)p->pid);
				break;
			}
			fds = nf;
			cap_n = nc;
		}
		fds[n++] = (int)v;
		errno = 0;
	}
	if (errno) {
		int en = errno;
		ai_log(cap, fail_level(p, en), COLL, "pid %d: readdir fd: %s", (int)p->pid, strerror(en));
	}
	if (n)
		qsort(fds, n, sizeof(*fds), fdi_cmp_int);

	for (size_t i = 0; i < n; i++)
		emit_fd(c, p, dirfd(d), infodir, fds[i]);

	if (!ai_proc_alive(p))
		ai_log(cap, AI_LOG_WARNING, COLL, "pid %d: exited during capture, its fd list may be partial",
		       (int)p->pid);
}

static int collect_fds(struct ai_capture *cap, ai_err_t *err)
{
	cleanup_buf struct ai_buf doc;
	ai_buf_init(&doc);
	struct ai_json j;
	ai_json_init(&j, &doc);
	cleanup_fctx struct fctx c = { .cap = cap, .j = &j };

	ai_json_obj_begin(&j);
	ai_json_key(&j, "fds");
	ai_json_arr_begin(&j);
	for (size_t i = 0; i < cap->target.nprocs; i++)
		collect_proc(&c, &cap->target.procs[i]);
	ai_json_arr_end(&j);
	ai_json_obj_end(&j);

	if (ai_capture_put_json(cap, AI_M_FDS, &doc, err) < 0)
		return ai_err_wrap(err, "fds");
	return 0;
}

const struct ai_collector ai_collector_fds = { "fds", collect_fds };
