/* The overlay upperdir: everything the container wrote. Walked one dirfd at a time with
 * O_NOFOLLOW and O_NOATIME, stored under fs/upper/ as an OCI layer would hold it (overlay
 * whiteouts and opaque dirs become .wh. markers), indexed in fs/upper.json. FIFOs, sockets and
 * devices are recorded but never opened nor stored. */
#include "capture/capture.h"
#include "common/cleanup.h"
#include "common/safeopen.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_DEPTH	     512
#define XATTR_LIST_MAX_BYTES 65536
#define XATTR_VAL_MAX	     65536
#define MAX_XATTRS	     64
/* A directory is read, sorted and walked a batch at a time: memory stays bounded by a batch,
 * not by the entries of the largest directory (one of a million names is 20 MB of pointers and
 * copies). Directories up to this size are walked in name order, larger ones batch by batch. */
#define BATCH_NAMES 32768
#define BATCH_BYTES (1u << 20)

static const char C[] = "upper";

struct link_slot {
	dev_t dev;
	ino_t ino;
	char *member; /* NULL: empty slot */
	uint64_t size;
	char sha256[AI_SHA256_HEXLEN];
};

struct walk {
	struct ai_capture *cap;
	const struct ai_tree_opts *o;
	struct ai_spool *index; /* fs/upper.json, spooled entry by entry */
	struct ai_json j;	/* writes the index */
	struct ai_buf rel;	/* path relative to the upperdir, no leading slash */
	struct link_slot *links;
	size_t nlinks, links_cap;
	bool userxattr;
	struct timespec now;
	uint64_t upper_used; /* logical bytes of content stored so far, against o->budget */
};

struct xattrs {
	size_t n;
	char *names[MAX_XATTRS];
	void *values[MAX_XATTRS];
	size_t sizes[MAX_XATTRS];
	size_t dropped; /* not kept: past MAX_XATTRS, or unreadable as too large */
};

static void xattrs_free(struct xattrs *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->names[i]);
		free(x->values[i]);
	}
	x->n = 0;
}

static const void *xattr_get(const struct xattrs *x, const char *name, size_t *len)
{
	for (size_t i = 0; i < x->n; i++)
		if (!strcmp(x->names[i], name)) {
			*len = x->sizes[i];
			return x->values[i];
		}
	return NULL;
}

/* The xattrs that say what an entry is (overlay's opaque, whiteout, redirect, metacopy; file
 * capabilities and labels) are taken first, so a file that carries more than MAX_XATTRS cannot
 * push them out. */
static bool xattr_first(const char *n)
{
	return !strncmp(n, "trusted.overlay.", 16) || !strncmp(n, "user.overlay.", 13) ||
	       !strncmp(n, "security.", 9);
}

/* Read the xattrs through an fd when we have one, else through /proc/self/fd/DIR/NAME with
 * the l* calls, which never follow the last component. What is not kept is counted in
 * x->dropped and logged. */
static void read_xattrs(struct walk *w, int fd, int dirfd, const char *name, struct xattrs *x)
{
	char path[PATH_MAX];
	if (fd < 0) {
		if ((size_t)snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name) >= sizeof(path))
			return;
	}
	cleanup_free char *list = malloc(XATTR_LIST_MAX_BYTES);
	cleanup_free void *val = malloc(XATTR_VAL_MAX);
	if (!list || !val) {
		ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len,
			    "xattrs: out of memory");
		return;
	}
	ssize_t ll = fd >= 0 ? flistxattr(fd, list, XATTR_LIST_MAX_BYTES)
			     : llistxattr(path, list, XATTR_LIST_MAX_BYTES);
	if (ll < 0) {
		if (errno != ENOTSUP && errno != EPERM)
			ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len,
				    "listxattr: %s", strerror(errno));
		return;
	}
	size_t over = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (ssize_t off = 0; off < ll;) {
			const char *n = list + off;
			size_t nl = strnlen(n, (size_t)(ll - off));
			off += (ssize_t)nl + 1;
			if (xattr_first(n) != (pass == 0))
				continue;
			if (x->n == MAX_XATTRS) {
				over++;
				continue;
			}
			ssize_t vl = fd >= 0 ? fgetxattr(fd, n, val, XATTR_VAL_MAX)
					     : lgetxattr(path, n, val, XATTR_VAL_MAX);
			if (vl < 0) {
				if (errno == ERANGE)
					x->dropped++;
				ai_log_path(w->cap, errno == ERANGE ? AI_LOG_TRUNCATED : AI_LOG_ERROR,
					    w->o->coll, w->rel.data, w->rel.len, "getxattr %s: %s", n,
					    strerror(errno));
				continue;
			}
			x->names[x->n] = strndup(n, nl);
			x->values[x->n] = malloc(vl ? (size_t)vl : 1);
			x->sizes[x->n] = (size_t)vl;
			if (!x->names[x->n] || !x->values[x->n]) {
				free(x->names[x->n]);
				free(x->values[x->n]);
				ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len,
					    "xattrs: out of memory");
				return;
			}
			memcpy(x->values[x->n], val, (size_t)vl);
			x->n++;
		}
	}
	if (over) {
		x->dropped += over;
		ai_log_path(w->cap, AI_LOG_TRUNCATED, w->o->coll, w->rel.data, w->rel.len,
			    "more than %d xattrs: %zu not kept (overlay and security ones kept first)",
			    MAX_XATTRS, over);
	}
}

static bool overlay_flag(const struct walk *w, const struct xattrs *x, const char *suffix, const char **val,
			 size_t *len)
{
	if (!w->o->overlay)
		return false; /* a volume: an overlay xattr there is only a name */
	char name[64];
	snprintf(name, sizeof(name), "%s.overlay.%s", w->userxattr ? "user" : "trusted", suffix);
	const void *v = xattr_get(x, name, len);
	if (!v && !w->userxattr) {
		snprintf(name, sizeof(name), "user.overlay.%s", suffix);
		v = xattr_get(x, name, len);
	}
	if (val)
		*val = v;
	return v != NULL;
}

static void b64(const void *in, size_t len, struct ai_buf *out)
{
	size_t need = 4 * ((len + 2) / 3) + 1;
	cleanup_free unsigned char *tmp = malloc(need);
	if (!tmp)
		return;
	int n = EVP_EncodeBlock(tmp, in, (int)len);
	ai_buf_add(out, tmp, (size_t)n);
}

static const char *type_name(mode_t m, bool whiteout)
{
	if (whiteout)
		return "whiteout";
	switch (m & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "chardev";
	case S_IFBLK:
		return "blockdev";
	default:
		return "unknown";
	}
}

/* Common head of an index entry; the caller adds type-specific fields and closes it. */
static void index_begin(struct walk *w, const struct stat *st, bool whiteout, const struct xattrs *x)
{
	struct ai_json *j = &w->j;
	cleanup_buf struct ai_buf cpath;
	ai_buf_init(&cpath);
	ai_buf_addc(&cpath, '/');
	ai_buf_add(&cpath, w->rel.data, w->rel.len);
	ai_json_obj_begin(j);
	ai_json_kbytes(j, "path", cpath.data, cpath.len);
	ai_json_kstr(j, "type", type_name(st->st_mode, whiteout));
	char mode[16];
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st->st_mode & 07777));
	ai_json_kstr(j, "mode", mode);
	ai_json_kuint(j, "uid", st->st_uid);
	ai_json_kuint(j, "gid", st->st_gid);
	ai_json_kint(j, "size", st->st_size);
	ai_json_kuint(j, "ino", st->st_ino);
	ai_json_kuint(j, "nlink", st->st_nlink);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		char rdev[32];
		snprintf(rdev, sizeof(rdev), "%u:%u", major(st->st_rdev), minor(st->st_rdev));
		ai_json_kstr(j, "rdev", rdev);
	}
	ai_json_ktime(j, "atime", st->st_atim.tv_sec, st->st_atim.tv_nsec);
	ai_json_ktime(j, "mtime", st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	ai_json_ktime(j, "ctime", st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
	if (x && x->n) {
		ai_json_key(j, "xattrs");
		ai_json_obj_begin(j);
		for (size_t i = 0; i < x->n; i++) {
			cleanup_buf struct ai_buf v;
			ai_buf_init(&v);
			b64(x->values[i], x->sizes[i], &v);
			ai_json_key(j, x->names[i]);
			ai_json_strn(j, v.data ? v.data : "", v.len);
		}
		ai_json_obj_end(j);
	}
	if (x && x->dropped)
		ai_json_kuint(j, "xattrs_dropped", x->dropped);
	ai_json_key(j, "overlay");
	ai_json_arr_begin(j);
	const char *rv = NULL;
	size_t rl = 0;
	if (whiteout)
		ai_json_str(j, "whiteout");
	if (x) {
		const char *ov;
		size_t ol;
		if (S_ISDIR(st->st_mode) && overlay_flag(w, x, "opaque", &ov, &ol) && ol >= 1 && ov[0] == 'y')
			ai_json_str(j, "opaque");
		if (overlay_flag(w, x, "metacopy", NULL, &ol))
			ai_json_str(j, "metacopy");
		if (overlay_flag(w, x, "redirect", &rv, &rl))
			ai_json_str(j, "redirect");
	}
	ai_json_arr_end(j);
	if (rv)
		ai_json_kbytes(j, "redirect", rv, rl);
}

static void member_meta(struct walk *w, struct ai_buf *member, const struct stat *st, const struct xattrs *x,
			struct ai_member_meta *m)
{
	ai_buf_reset(member);
	ai_buf_adds(member, w->o->base);
	ai_buf_add(member, w->rel.data, w->rel.len);
	memset(m, 0, sizeof(*m));
	m->path = member->data;
	m->path_len = member->len;
	m->mode = st->st_mode;
	m->uid = st->st_uid;
	m->gid = st->st_gid;
	m->atime = st->st_atim;
	m->mtime = st->st_mtim;
	m->ctime = st->st_ctim;
	if (x) {
		m->nxattr = x->n;
		m->xattr_names = (const char *const *)x->names;
		m->xattr_values = (const void *const *)x->values;
		m->xattr_sizes = x->sizes;
	}
}

static struct link_slot *link_find(struct walk *w, dev_t dev, ino_t ino, bool insert)
{
	if (insert && (w->nlinks + 1) * 2 > w->links_cap) {
		size_t ncap = w->links_cap ? w->links_cap * 2 : 64;
		struct link_slot *n = calloc(ncap, sizeof(*n));
		if (!n)
			return NULL;
		for (size_t i = 0; i < w->links_cap; i++) {
			if (!w->links[i].member)
				continue;
			size_t h = (w->links[i].ino * 0x9e3779b97f4a7c15ull) & (ncap - 1);
			while (n[h].member)
				h = (h + 1) & (ncap - 1);
			n[h] = w->links[i];
		}
		free(w->links);
		w->links = n;
		w->links_cap = ncap;
	}
	if (!w->links_cap)
		return NULL;
	size_t h = (ino * 0x9e3779b97f4a7c15ull) & (w->links_cap - 1);
	while (w->links[h].member) {
		if (w->links[h].dev == dev && w->links[h].ino == ino)
			return &w->links[h];
		h = (h + 1) & (w->links_cap - 1);
	}
	if (!insert)
		return NULL;
	w->links[h].dev = dev;
	w->links[h].ino = ino;
	w->nlinks++;
	return &w->links[h];
}

/* The bundle refused an entry: past the output budget that is a cut, recorded in the index
 * ("cut") and logged as one (the budget makes the bundle partial by itself); else an error. */
static void refused(struct walk *w, int r, const char *what, const ai_err_t *err)
{
	enum ai_log_level lvl = r == AI_BUNDLE_OVER_BUDGET ? AI_LOG_TRUNCATED : AI_LOG_ERROR;
	ai_log_path(w->cap, lvl, w->o->coll, w->rel.data, w->rel.len, "%s%s", what, err->msg);
	if (r == AI_BUNDLE_OVER_BUDGET)
		ai_json_kstr(&w->j, "cut", "output_budget");
	else
		ai_json_kstr(&w->j, "error", err->msg);
}

/* Content not stored at all (a budget already spent): the entry says what was not kept. */
static void not_stored(struct walk *w, const char *cut)
{
	struct ai_json *j = &w->j;
	ai_json_kstr(j, "sha256", NULL);
	ai_json_key(j, "member");
	ai_json_null(j);
	ai_json_kbool(j, "truncated", true);
	ai_json_kuint(j, "stored_size", 0);
	ai_json_kstr(j, "cut", cut);
}

/* Why a stored file is shorter than it was: the output budget, the upperdir budget, the
 * per-file cap, or it grew while read (it kept its size at open); NULL when whole. Logged. */
static const char *file_cut(struct walk *w, const struct ai_member_result *res, uint64_t cap)
{
	struct ai_capture *c = w->cap;
	unsigned long long kept = res->size, had = res->source_size;
	if (res->budget_cut) {
		ai_log_path(c, AI_LOG_TRUNCATED, w->o->coll, w->rel.data, w->rel.len,
			    "output budget reached: kept the first %llu of %llu bytes", kept, had);
		return "output_budget";
	}
	if (res->capped && cap < c->file_cap) {
		c->budget_cut = true;
		ai_log_path(c, AI_LOG_TRUNCATED, w->o->coll, w->rel.data, w->rel.len,
			    "%s budget of %llu bytes reached: kept the first %llu of %llu bytes", w->o->what,
			    (unsigned long long)w->o->budget, kept, had);
		return w->o->budget_name;
	}
	if (res->capped) {
		ai_log_path(c, AI_LOG_TRUNCATED, w->o->coll, w->rel.data, w->rel.len,
			    "larger than the file cap: kept the first %llu of %llu bytes", kept, had);
		return "file_cap";
	}
	if (res->grew) {
		ai_log_path(c, AI_LOG_TRUNCATED, w->o->coll, w->rel.data, w->rel.len,
			    "file grew while read: kept the first %llu bytes", kept);
		return "grew";
	}
	return NULL;
}

/* A secret's file: its sha256 (of at most the file cap) and size in the index, its content never
 * in the bundle. */
static void hash_only(struct walk *w, int fd, const struct stat *st)
{
	struct ai_json *j = &w->j;
	uint8_t d[AI_SHA256_LEN];
	char hex[AI_SHA256_HEXLEN];
	uint64_t n = 0;
	ai_err_t err = {0};
	if (ai_hash_fd_max(fd, 0, w->cap->file_cap, d, &n, &err) < 0) {
		ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len, "%s", err.msg);
		ai_json_kstr(j, "error", err.msg);
		ai_json_kstr(j, "sha256", NULL);
	} else {
		ai_hex(d, sizeof(d), hex);
		ai_json_kstr(j, "sha256", hex);
		ai_json_kuint(j, "hashed_size", n);
		if ((off_t)n < st->st_size)
			ai_json_kstr(j, "cut", "file_cap");
	}
	ai_json_key(j, "member");
	ai_json_null(j);
	ai_json_kstr(j, "content", "not stored (secret)");
}

static void add_file(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	struct ai_json *j = &w->j;
	cleanup_buf struct ai_buf member;
	ai_buf_init(&member);
	struct ai_member_meta m;

	if (st->st_nlink > 1) {
		struct link_slot *s = link_find(w, st->st_dev, st->st_ino, false);
		if (s) {
			struct xattrs none = {0};
			member_meta(w, &member, st, NULL, &m);
			m.hardlink = s->member;
			m.hardlink_sha256 = s->sha256[0] ? s->sha256 : NULL;
			m.hardlink_size = s->size;
			ai_err_t err = {0};
			index_begin(w, st, false, &none);
			size_t skip = strlen(w->o->base) - 1; /* keeps the leading '/' */
			ai_json_kbytes(j, "hardlink_to", s->member + skip, strlen(s->member) - skip);
			ai_json_kstr(j, "sha256", s->sha256[0] ? s->sha256 : NULL);
			int r = ai_bundle_add_entry(w->cap->bundle, &m, &err);
			if (r < 0) {
				refused(w, r, "hardlink: ", &err);
				ai_json_key(j, "member");
				ai_json_null(j);
			} else {
				ai_json_kbytes(j, "member", member.data, member.len);
			}
			ai_json_obj_end(j);
			return;
		}
	}

	ai_err_t err = {0};
	cleanup_close int fd = ai_open_regular(dirfd, name, st, &err);
	struct xattrs x = {0};
	if (fd >= 0)
		read_xattrs(w, fd, dirfd, name, &x);
	index_begin(w, st, false, &x);
	if (fd < 0) {
		ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len, "%s", err.msg);
		ai_json_kstr(j, "error", err.msg);
		ai_json_obj_end(j);
		xattrs_free(&x);
		return;
	}
	size_t ml;
	if (overlay_flag(w, &x, "metacopy", NULL, &ml)) {
		/* A metacopy upper holds metadata only; its data lives in a lower layer, and
		 * reading the upper file would yield holes, not evidence. */
		member_meta(w, &member, st, &x, &m);
		ai_json_kstr(j, "sha256", NULL);
		ai_json_key(j, "member");
		ai_json_null(j);
		ai_json_obj_end(j);
		xattrs_free(&x);
		return;
	}
	if (w->o->hash_only) {
		hash_only(w, fd, st);
		ai_json_obj_end(j);
		xattrs_free(&x);
		return;
	}
	member_meta(w, &member, st, &x, &m);
	struct ai_capture *c = w->cap;
	uint64_t left = w->o->budget > w->upper_used ? w->o->budget - w->upper_used : 0;
	if (!left && st->st_size > 0) {
		c->budget_cut = true;
		ai_log_path(c, AI_LOG_TRUNCATED, w->o->coll, w->rel.data, w->rel.len,
			    "%s budget of %llu bytes spent: none of its %lld bytes stored", w->o->what,
			    (unsigned long long)w->o->budget, (long long)st->st_size);
		not_stored(w, w->o->budget_name);
		ai_json_obj_end(j);
		xattrs_free(&x);
		return;
	}
	/* Never 0 (no cap): an empty file stored once the budget is spent keeps at most a byte. */
	uint64_t fcap = left < c->file_cap ? left : c->file_cap;
	fcap = fcap ? fcap : 1;
	struct ai_member_result res;
	int r = ai_bundle_add_fd(c->bundle, &m, fd, fcap, &res, &err);
	if (r == AI_BUNDLE_OVER_BUDGET) {
		ai_log_path(c, AI_LOG_TRUNCATED, w->o->coll, w->rel.data, w->rel.len, "%s", err.msg);
		not_stored(w, "output_budget");
	} else if (r < 0 && !res.sha256[0]) {
		ai_log_path(c, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len, "%s", err.msg);
		ai_json_kstr(j, "error", err.msg);
		ai_json_key(j, "member");
		ai_json_null(j);
	} else {
		if (r < 0) {
			ai_log_path(c, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len, "%s", err.msg);
			ai_json_kstr(j, "error", err.msg);
		}
		w->upper_used += res.size;
		const char *cut = file_cut(w, &res, fcap);
		ai_json_kstr(j, "sha256", res.sha256);
		ai_json_kbytes(j, "member", member.data, member.len);
		ai_json_kbool(j, "truncated", res.truncated);
		ai_json_kuint(j, "stored_size", res.size);
		ai_json_kbool(j, "sparse", res.sparse);
		ai_json_kstr(j, "cut", cut);
		if (st->st_nlink > 1) {
			struct link_slot *s = link_find(w, st->st_dev, st->st_ino, true);
			if (s) {
				s->member = strndup(member.data, member.len);
				s->size = res.size;
				memcpy(s->sha256, res.sha256, sizeof(s->sha256));
			}
		}
	}
	ai_json_obj_end(j);
	xattrs_free(&x);
}

static void add_symlink(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	struct ai_json *j = &w->j;
	ai_err_t err = {0};
	cleanup_free char *target = NULL;
	size_t tl = 0;
	struct xattrs x = {0};
	read_xattrs(w, -1, dirfd, name, &x);
	index_begin(w, st, false, &x);
	if (ai_readlinkat(dirfd, name, &target, &tl, &err) < 0) {
		ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len, "%s", err.msg);
		ai_json_kstr(j, "error", err.msg);
		ai_json_obj_end(j);
		xattrs_free(&x);
		return;
	}
	ai_json_kbytes(j, "target", target, tl);
	cleanup_buf struct ai_buf member;
	ai_buf_init(&member);
	struct ai_member_meta m;
	member_meta(w, &member, st, &x, &m);
	m.symlink = target;
	int r = ai_bundle_add_entry(w->cap->bundle, &m, &err);
	if (r < 0) {
		refused(w, r, "", &err);
	} else {
		ai_json_kbytes(j, "member", member.data, member.len);
	}
	ai_json_obj_end(j);
	xattrs_free(&x);
}

/* An empty regular marker (.wh.NAME or .wh..wh..opq) next to the current path. */
static int add_marker(struct walk *w, const char *dir, size_t dirlen, const char *marker, size_t mlen,
		      const struct stat *st, struct ai_buf *member, ai_err_t *err)
{
	ai_buf_reset(member);
	ai_buf_adds(member, w->o->base);
	if (dirlen) {
		ai_buf_add(member, dir, dirlen);
		ai_buf_addc(member, '/');
	}
	ai_buf_add(member, marker, mlen);
	struct ai_member_meta m = {
	    .path = member->data,
	    .path_len = member->len,
	    .mode = S_IFREG | 0000,
	    .uid = st->st_uid,
	    .gid = st->st_gid,
	    .atime = st->st_atim,
	    .mtime = st->st_mtim,
	    .ctime = st->st_ctim,
	};
	return ai_bundle_add_entry(w->cap->bundle, &m, err);
}

static void add_special(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	struct ai_json *j = &w->j;
	bool whiteout = w->o->overlay && S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
	index_begin(w, st, whiteout, NULL);
	if (!whiteout) {
		ai_log_path(w->cap, AI_LOG_SKIP, w->o->coll, w->rel.data, w->rel.len,
			    "%s: metadata only, never opened", type_name(st->st_mode, false));
		ai_json_key(j, "member");
		ai_json_null(j);
		ai_json_obj_end(j);
		return;
	}
	size_t dirlen = w->rel.len - strlen(name);
	dirlen = dirlen ? dirlen - 1 : 0;
	cleanup_buf struct ai_buf marker, member;
	ai_buf_init(&marker);
	ai_buf_init(&member);
	ai_buf_adds(&marker, ".wh.");
	ai_buf_adds(&marker, name);
	ai_err_t err = {0};
	int r = add_marker(w, w->rel.data, dirlen, marker.data, marker.len, st, &member, &err);
	if (r < 0) {
		refused(w, r, "whiteout: ", &err);
	} else {
		ai_json_kbytes(j, "member", member.data, member.len);
	}
	ai_json_obj_end(j);
}

static void walk_dir(struct walk *w, int dirfd, int depth);

static void add_dir(struct walk *w, int dirfd, const char *name, const struct stat *st, int depth)
{
	struct ai_json *j = &w->j;
	ai_err_t err = {0};
	/* O_NOATIME: listing a directory would otherwise touch its atime. */
	int fl = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	cleanup_close int fd = openat(dirfd, name, fl | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, fl);
	/* The directory opened must be the one just stat'ed (a swap in between is refused, as for
	 * files), and on its parent's filesystem: a mount inside the host's upperdir is not part of
	 * the container's upper layer and is never walked. */
	struct stat fst, pst;
	const char *why = NULL;
	if (fd >= 0 && fstat(fd, &fst) == 0 && (fst.st_dev != st->st_dev || fst.st_ino != st->st_ino))
		why = "changed under us (not the directory seen before): not walked";
	else if (fd >= 0 && fstat(dirfd, &pst) == 0 && pst.st_dev != st->st_dev)
		why = "another filesystem is mounted here: not walked";
	if (why) {
		ai_log_path(w->cap, AI_LOG_SKIP, w->o->coll, w->rel.data, w->rel.len, "%s", why);
		close(steal_fd(&fd));
		errno = EXDEV;
	}
	struct xattrs x = {0};
	if (fd >= 0)
		read_xattrs(w, fd, dirfd, name, &x);
	index_begin(w, st, false, &x);
	cleanup_buf struct ai_buf member;
	ai_buf_init(&member);
	struct ai_member_meta m;
	member_meta(w, &member, st, &x, &m);
	int r = ai_bundle_add_entry(w->cap->bundle, &m, &err);
	if (r < 0) {
		refused(w, r, "", &err);
	} else {
		ai_json_kbytes(j, "member", member.data, member.len);
	}
	const char *ov;
	size_t ol;
	bool opaque = overlay_flag(w, &x, "opaque", &ov, &ol) && ol >= 1 && ov[0] == 'y';
	r = opaque ? add_marker(w, w->rel.data, w->rel.len, ".wh..wh..opq", 12, st, &member, &err) : 0;
	if (r < 0)
		ai_log_path(w->cap, r == AI_BUNDLE_OVER_BUDGET ? AI_LOG_TRUNCATED : AI_LOG_ERROR, w->o->coll,
			    w->rel.data, w->rel.len, "opaque marker: %s", err.msg);
	if (fd < 0 && why) {
		ai_json_kstr(j, "error", why);
	} else if (fd < 0) {
		ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len, "open dir: %s",
			    strerror(errno));
		ai_json_kstr(j, "error", "cannot open directory");
	}
	/* What lies below is not in the bundle at all, not even in the index: partial. */
	bool too_deep = fd >= 0 && depth >= MAX_DEPTH;
	if (too_deep)
		ai_json_kstr(j, "cut", "max_depth");
	ai_json_obj_end(j);
	xattrs_free(&x);
	if (fd < 0)
		return;
	if (too_deep) {
		w->cap->budget_cut = true;
		ai_log_path(w->cap, AI_LOG_SKIP, w->o->coll, w->rel.data, w->rel.len,
			    "deeper than %d levels: not walked", MAX_DEPTH);
		return;
	}
	walk_dir(w, steal_fd(&fd), depth + 1);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_entry(struct walk *w, int dirfd, const char *name, int depth)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len, "stat: %s",
			    strerror(errno));
	} else if (S_ISDIR(st.st_mode)) {
		add_dir(w, dirfd, name, &st, depth);
	} else if (S_ISREG(st.st_mode)) {
		add_file(w, dirfd, name, &st);
	} else if (S_ISLNK(st.st_mode)) {
		add_symlink(w, dirfd, name, &st);
	} else {
		add_special(w, dirfd, name, &st);
	}
	if (w->o->overlay && strncmp(name, ".wh.", 4) == 0)
		ai_log_path(w->cap, AI_LOG_WARNING, w->o->coll, w->rel.data, w->rel.len,
			    "a real file named like an OCI whiteout: OCI tools will read it as one");
	ai_spool_drain(w->index);
}

/* Takes ownership of dirfd. Names are sorted (within each batch of a huge directory) so two
 * captures of one tree read alike. */
static void walk_dir(struct walk *w, int dirfd, int depth)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len, "fdopendir: %s",
			    strerror(errno));
		close(dirfd);
		return;
	}
	cleanup_closedir DIR *dir = d;
	cleanup_buf struct ai_buf arena; /* the batch's names, NUL-separated */
	ai_buf_init(&arena);
	cleanup_free char **names = NULL;
	size_t base = w->rel.len;
	for (bool more = true, batched = false; more && !ai_capture_stopping(w->cap);) {
		ai_buf_reset(&arena);
		size_t n = 0;
		while (n < BATCH_NAMES && arena.len < BATCH_BYTES) {
			errno = 0;
			struct dirent *de = readdir(dir);
			if (!de) {
				if (errno)
					ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len,
						    "readdir: %s", strerror(errno));
				more = false;
				break;
			}
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			ai_buf_add(&arena, de->d_name, strlen(de->d_name) + 1);
			n++;
		}
		if (more && !batched) {
			batched = true;
			ai_log_path(w->cap, AI_LOG_INFO, w->o->coll, w->rel.data, w->rel.len,
				    "more than %d entries: walked in batches of up to %d, each in name order",
				    BATCH_NAMES, BATCH_NAMES);
		}
		if (!names && !(names = malloc(BATCH_NAMES * sizeof(*names)))) {
			ai_log_path(w->cap, AI_LOG_ERROR, w->o->coll, w->rel.data, w->rel.len,
				    "out of memory");
			break;
		}
		for (size_t i = 0, off = 0; i < n; i++) {
			names[i] = arena.data + off;
			off += strlen(names[i]) + 1;
		}
		qsort(names, n, sizeof(*names), cmp_names);
		for (size_t i = 0; i < n && !ai_capture_stopping(w->cap); i++) {
			w->rel.len = base;
			if (base)
				ai_buf_addc(&w->rel, '/');
			ai_buf_adds(&w->rel, names[i]);
			walk_entry(w, dirfd, names[i], depth);
		}
	}
	w->rel.len = base;
	if (w->rel.data)
		w->rel.data[base] = '\0';
}

uint64_t ai_tree_walk(struct ai_capture *cap, struct ai_json *j, struct ai_spool *index, int rootfd,
		      const struct ai_tree_opts *o)
{
	struct walk w = {.cap = cap, .o = o, .index = index, .j = *j, .userxattr = o->userxattr};
	ai_buf_init(&w.rel);
	ai_buf_adds(&w.rel, "");
	walk_dir(&w, rootfd, 0);
	*j = w.j;
	ai_buf_free(&w.rel);
	for (size_t i = 0; i < w.links_cap; i++)
		free(w.links[i].member);
	free(w.links);
	return w.upper_used;
}

/* The overlay to walk: the one mounts found, or, when the target is gone or its root overlay
 * could not be read any more, the one it had when last seen (still on disk). */
static const struct ai_overlay *overlay_of(struct ai_capture *cap, struct ai_container *ct)
{
	if (ct->overlay.found || !ct->overlay_hint || !ct->overlay_hint->found)
		return &ct->overlay;
	if (ct->target.nprocs) /* pinned at the start: the overlay went away under us */
		ai_log(cap, AI_LOG_WARNING, "mounts",
		       "root overlay not readable now, using the one seen before");
	ai_overlay_free(&ct->overlay);
	if (ai_overlay_copy(&ct->overlay, ct->overlay_hint) < 0)
		ai_log(cap, AI_LOG_ERROR, C, "copying the overlay seen before: out of memory");
	return &ct->overlay;
}

/* One fs/upper.json per bundle: the first container's. */
static int collect_upper(struct ai_capture *cap, void **state, ai_err_t *err)
{
	const struct ai_overlay *ov = overlay_of(cap, ai_capture_ct(cap));
	if (!ov->found || !ov->upperdir)
		return ai_err_set(err, 0, "the container root is not an overlay mount with an upperdir");
	int fl = O_RDONLY | O_DIRECTORY;
	int fd = ai_safe_openat(cap->host_root_fd, ov->upperdir, fl | O_NOATIME, err);
	if (fd < 0 && err->errnum == EPERM)
		fd = ai_safe_openat(cap->host_root_fd, ov->upperdir, fl, err);
	if (fd < 0)
		return ai_err_wrap(err,
				   "upperdir (use --host-root when the host's storage is mounted elsewhere)");
	cleanup_spool struct ai_spool doc;
	ai_spool_init(&doc, cap->outdir_fd);
	struct ai_json j;
	ai_json_init(&j, &doc.buf);
	ai_json_obj_begin(&j);
	ai_json_kbytes(&j, "upperdir", ov->upperdir, strlen(ov->upperdir));
	ai_json_key(&j, "entries");
	ai_json_arr_begin(&j);
	char base[64];
	ai_capture_member(cap, base, sizeof(base), "%s/", AI_M_UPPER_DIR);
	struct ai_tree_opts to = {
	    .coll = C,
	    .what = "upperdir",
	    .base = base,
	    .overlay = true,
	    .userxattr = ov->options && strstr(ov->options, "userxattr"),
	    .budget = cap->upper_budget,
	    .budget_name = "upper_budget",
	};
	ai_tree_walk(cap, &j, &doc, fd, &to);
	return ai_capture_add_index(cap, &j, &doc, AI_M_UPPER_IDX, err);
}

/* Not volatile: the walk is long, so it runs after the thaw (--freeze-all keeps it frozen). The
 * upperdir outlives the container's processes. */
const struct ai_collector ai_collector_upper = {
    .name = "upper",
    .flags = AI_COLL_WORKS_WITHOUT_TARGET,
    .collect = collect_upper,
};
