/* CRIU file, socket and fs images -> model (see ckpt_criu.h). */
#include "analyze/ckpt_criu.h"
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "analyze/archive.h"
#include "analyze/criu_files.h"
#include "analyze/model.h"
#include "common/cleanup.h"
#include "common/hash.h"

struct cc_task {
	int64_t pid, a, b; /* ids: files_id, fs_id; fs: cwd_id, root_id */
};

struct cc_fdi {
	int64_t files_id;
	struct az_criu_fdinfo x;
};

struct cc_file {
	struct az_criu_file x; /* name points at name below */
	struct az_str name;
	bool ghost;
	int64_t ghost_idx; /* into ghosts, -1 when its content is unknown */
};

struct cc_ghost {
	uint32_t id;
	char sha256[65];
	int64_t size, ino; /* ino -1 when absent */
	struct az_str member;
};

struct cc_tcp {
	uint32_t ino;
	struct az_criu_tcp q;
};

#define VEC(T)                                                                                               \
	struct {                                                                                             \
		T *v;                                                                                        \
		size_t n, cap;                                                                               \
	}

struct az_ck_criu {
	VEC(struct cc_task) ids;
	VEC(struct cc_task) fs;
	VEC(struct cc_fdi) fdi;
	VEC(struct cc_file) files;
	VEC(struct az_criu_remap) remap;
	VEC(struct cc_ghost) ghosts;
	VEC(struct cc_tcp) tcp;
	bool have_files, have_remap;
	size_t ghosts_unread;
	int64_t cur_files_id; /* of the fdinfo image being read */
};

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : 16;
	v = realloc(v, *cap * size);
	if (!v)
		abort();
	return v;
}
#define PUSH(vec) ((vec).v = grow((vec).v, &(vec).cap, (vec).n, sizeof(*(vec).v)), &(vec).v[(vec).n++])

struct az_ck_criu *az_ck_criu_new(void)
{
	struct az_ck_criu *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	return c;
}

void az_ck_criu_free(struct az_ck_criu *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->files.n; i++)
		az_str_free(&c->files.v[i].name);
	for (size_t i = 0; i < c->ghosts.n; i++)
		az_str_free(&c->ghosts.v[i].member);
	free(c->ids.v);
	free(c->fs.v);
	free(c->fdi.v);
	free(c->files.v);
	free(c->remap.v);
	free(c->ghosts.v);
	free(c->tcp.v);
	free(c);
}

/* "PREFIX<number>.img", decimal or hex as CRIU names them. */
static bool numbered(const char *base, const char *prefix, bool hex, uint64_t *n)
{
	size_t pl = strlen(prefix);
	if (strncmp(base, prefix, pl))
		return false;
	const char *p = base + pl;
	uint64_t x = 0;
	size_t nd = 0;
	for (;; p++, nd++) {
		int d = *p >= '0' && *p <= '9'		? *p - '0'
			: hex && *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
							: -1;
		if (d < 0 || nd >= (hex ? 8 : 10))
			break;
		x = x * (hex ? 16 : 10) + (uint64_t)d;
	}
	if (!nd || strcmp(p, ".img") || x > UINT32_MAX)
		return false;
	*n = x;
	return true;
}

/* ---- per-image callbacks */

static int on_file(void *ud, const struct az_criu_file *x, ai_err_t *err)
{
	struct az_ck_criu *c = ud;
	if (c->files.n >= AZ_CK_MAX_RECORDS)
		return ai_err_set(err, 0, "more than %u files", AZ_CK_MAX_RECORDS);
	if (x->name &&
	    (x->name_len > AZ_MAX_PATH || (x->type != AZ_CRIU_FD_UNIXSK && memchr(x->name, 0, x->name_len))))
		return ai_err_set(err, 0, "file %u: bad name", x->id);
	struct cc_file *f = PUSH(c->files);
	memset(f, 0, sizeof(*f));
	f->x = *x;
	f->x.name = NULL;
	f->ghost_idx = -1;
	if (x->name)
		az_str_set(&f->name, (const char *)x->name, x->name_len);
	return 0;
}

static int on_fdinfo(void *ud, const struct az_criu_fdinfo *x, ai_err_t *err)
{
	struct az_ck_criu *c = ud;
	if (c->fdi.n >= AZ_CK_MAX_RECORDS)
		return ai_err_set(err, 0, "more than %u fds", AZ_CK_MAX_RECORDS);
	struct cc_fdi *f = PUSH(c->fdi);
	f->files_id = c->cur_files_id;
	f->x = *x;
	return 0;
}

static int on_remap(void *ud, const struct az_criu_remap *x, ai_err_t *err)
{
	struct az_ck_criu *c = ud;
	if (c->remap.n >= AZ_CK_MAX_RECORDS)
		return ai_err_set(err, 0, "more than %u remaps", AZ_CK_MAX_RECORDS);
	*PUSH(c->remap) = *x;
	return 0;
}

struct piece_ctx {
	struct ai_hash h;
	uint64_t at;
};

/* Holes (between chunks) hash as the zeros they read as. */
static void hash_zeros(struct ai_hash *h, uint64_t n)
{
	static const uint8_t z[4096];
	while (n) {
		size_t k = n < sizeof(z) ? (size_t)n : sizeof(z);
		ai_hash_update(h, z, k);
		n -= k;
	}
}

static int on_piece(void *ud, uint64_t off, const uint8_t *p, size_t len, ai_err_t *err)
{
	struct piece_ctx *x = ud;
	(void)err;
	hash_zeros(&x->h, off - x->at);
	ai_hash_update(&x->h, p, len);
	x->at = off + len;
	return 0;
}

static int read_ghost(struct az_ck_criu *c, uint32_t id, const char *name, const uint8_t *d, size_t len,
		      ai_err_t *err)
{
	struct piece_ctx x = {.at = 0};
	if (ai_hash_init_sha256(&x.h, err) < 0)
		return -1;
	struct az_criu_ghost g;
	if (az_criu_ghost_read(d, len, &g, on_piece, &x, err) < 0) {
		ai_hash_free(&x.h);
		return -1;
	}
	if (g.have_size && g.size > AZ_CK_MAX_GHOST) {
		ai_hash_free(&x.h); /* a sparse file claiming more than the bound: not hashed */
		c->ghosts_unread++;
		return 0;
	}
	if (g.have_size)
		hash_zeros(&x.h, g.size - x.at);
	uint8_t dg[32];
	if (ai_hash_final(&x.h, dg, err) < 0)
		return -1;
	struct cc_ghost *gh = PUSH(c->ghosts);
	memset(gh, 0, sizeof(*gh));
	gh->id = id;
	ai_hex(dg, 32, gh->sha256);
	gh->size = (int64_t)(g.have_size ? g.size : x.at);
	gh->ino = g.ino && g.ino <= INT64_MAX ? (int64_t)g.ino : -1;
	az_str_set(&gh->member, name, strlen(name));
	return 0;
}

/* One image into records; d is its bytes. */
static int read_image(struct az_ck_criu *c, const char *base, const char *full, const uint8_t *d, size_t len,
		      ai_err_t *err)
{
	uint64_t n;
	if (!strcmp(base, "files.img"))
		return az_criu_files_read(d, len, on_file, c, err);
	if (!strcmp(base, "remap-fpath.img"))
		return az_criu_remap_read(d, len, on_remap, c, err);
	if (numbered(base, "fdinfo-", false, &n)) {
		c->cur_files_id = (int64_t)n;
		return az_criu_fdinfo_read(d, len, on_fdinfo, c, err);
	}
	if (numbered(base, "ghost-file-", true, &n))
		return read_ghost(c, (uint32_t)n, full, d, len, err);
	if (numbered(base, "tcp-stream-", true, &n)) {
		struct cc_tcp *t = PUSH(c->tcp);
		t->ino = (uint32_t)n;
		return az_criu_tcp_read(d, len, &t->q, err);
	}
	bool ids = numbered(base, "ids-", false, &n);
	if (ids || numbered(base, "fs-", false, &n)) {
		if ((ids ? c->ids.n : c->fs.n) >= AZ_CK_MAX_RECORDS)
			return ai_err_set(err, 0, "more than %u images", AZ_CK_MAX_RECORDS);
		struct cc_task *t = ids ? PUSH(c->ids) : PUSH(c->fs);
		t->pid = (int64_t)n;
		if (ids) {
			struct az_criu_ids x;
			int r = az_criu_ids_read(d, len, &x, err);
			t->a = x.files_id;
			t->b = x.fs_id;
			return r;
		}
		struct az_criu_fs x;
		int r = az_criu_fs_read(d, len, &x, err);
		t->a = x.cwd_id;
		t->b = x.root_id;
		return r;
	}
	return 1; /* not one of ours */
}

static bool ours(const char *base)
{
	uint64_t n;
	return !strcmp(base, "files.img") || !strcmp(base, "remap-fpath.img") ||
	       numbered(base, "fdinfo-", false, &n) || numbered(base, "ghost-file-", true, &n) ||
	       numbered(base, "tcp-stream-", true, &n) || numbered(base, "ids-", false, &n) ||
	       numbered(base, "fs-", false, &n);
}

int az_ck_criu_member(struct az_ck_criu *c, const char *base, struct archive *a, struct archive_entry *e,
		      ai_err_t *err)
{
	if (!ours(base))
		return 0;
	bool files = !strcmp(base, "files.img"), remap = !strcmp(base, "remap-fpath.img");
	if ((files && c->have_files) || (remap && c->have_remap))
		return ai_err_set(err, 0, "member checkpoint/%s appears twice", base);
	c->have_files |= files;
	c->have_remap |= remap;
	bool ghost = !strncmp(base, "ghost-file-", 11);
	size_t max = files ? AZ_CK_MAX_FILES : ghost ? AZ_CK_MAX_GHOST + 4096 : AZ_MAX_SMALL_MEMBER;
	if (ghost && archive_entry_size_is_set(e) && archive_entry_size(e) > (la_int64_t)max) {
		c->ghosts_unread++; /* its content is over the bound: the fd shows as deleted, unrecovered */
		return 1;
	}
	cleanup_free char *doc = NULL;
	size_t len;
	if (az_read_member(a, e, max, &doc, &len, err) < 0)
		return -1;
	char full[64];
	snprintf(full, sizeof(full), "checkpoint/%s", base);
	if (read_image(c, base, full, (const uint8_t *)doc, len, err) < 0)
		return ai_err_wrap(err, "checkpoint/%s", base);
	return 1;
}

/* ---- the join */

static int cmp_task(const void *x, const void *y)
{
	const struct cc_task *a = x, *b = y;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static int cmp_file(const void *x, const void *y)
{
	const struct cc_file *a = x, *b = y;
	return a->x.id < b->x.id ? -1 : a->x.id > b->x.id;
}

static int cmp_fdi(const void *x, const void *y)
{
	const struct cc_fdi *a = x, *b = y;
	if (a->files_id != b->files_id)
		return a->files_id < b->files_id ? -1 : 1;
	return a->x.fd < b->x.fd ? -1 : a->x.fd > b->x.fd;
}

static int cmp_ghost(const void *x, const void *y)
{
	const struct cc_ghost *a = x, *b = y;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int cmp_tcp(const void *x, const void *y)
{
	const struct cc_tcp *a = x, *b = y;
	return a->ino < b->ino ? -1 : a->ino > b->ino;
}

static void sort(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n)
		qsort(v, n, size, cmp);
}

/* The first element equal to key in a sorted array, or NULL. */
static void *find(void *v, size_t n, size_t size, const void *key, int (*cmp)(const void *, const void *))
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp((char *)v + mid * size, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !cmp((char *)v + lo * size, key) ? (char *)v + lo * size : NULL;
}

static struct cc_file *file_of(struct az_ck_criu *c, int64_t id)
{
	if (id < 0 || id > UINT32_MAX)
		return NULL;
	struct cc_file key = {.x.id = (uint32_t)id};
	return find(c->files.v, c->files.n, sizeof(key), &key, cmp_file);
}

static const struct cc_task *task_of(const struct cc_task *v, size_t n, int64_t pid)
{
	struct cc_task key = {.pid = pid};
	return find((void *)v, n, sizeof(key), &key, cmp_task);
}

static void mark_ghosts(struct az_ck_criu *c)
{
	for (size_t i = 0; i < c->remap.n; i++) {
		const struct az_criu_remap *r = &c->remap.v[i];
		struct cc_file *f = file_of(c, r->orig_id);
		if (!f || r->type != 1)
			continue;
		f->ghost = true;
		struct cc_ghost key = {.id = r->remap_id};
		struct cc_ghost *g = find(c->ghosts.v, c->ghosts.n, sizeof(key), &key, cmp_ghost);
		f->ghost_idx = g ? g - c->ghosts.v : -1;
	}
}

static const char *anon_name(uint32_t type)
{
	/* fdinfo.proto fd_types, as /proc/PID/fd shows them */
	static const char *const n[] = {
	    [6] = "anon_inode:[eventfd]",  [7] = "anon_inode:[eventpoll]", [8] = "anon_inode:inotify",
	    [9] = "anon_inode:[signalfd]", [12] = "anon_inode:[fanotify]", [17] = "anon_inode:[timerfd]",
	    [20] = "anon_inode:[pidfd]"};
	return type < sizeof(n) / sizeof(n[0]) ? n[type] : NULL;
}

static void fill_fd(struct az_ck_criu *c, struct az_fd *d, const struct cc_fdi *fi)
{
	const struct cc_file *f = file_of(c, fi->x.id);
	char t[64];
	d->fd = fi->x.fd;
	d->pos = d->ino = d->size = d->rec_size = -1;
	d->type = AZ_FD_OTHER;
	uint32_t flags = f ? f->x.flags : 0;
	if (fi->x.flags & 1) /* FD_CLOEXEC, which the kernel's fdinfo shows as O_CLOEXEC */
		flags |= O_CLOEXEC;
	snprintf(d->flags, sizeof(d->flags), "0%o", flags);
	if (!f) {
		snprintf(t, sizeof(t), "criu-file:[%u]", fi->x.id);
		az_str_set(&d->target, t, strlen(t));
		return;
	}
	switch (f->x.type) {
	case AZ_CRIU_FD_REG:
		d->pos = (int64_t)(f->x.pos > INT64_MAX ? INT64_MAX : f->x.pos);
		d->size = f->x.have_size && f->x.size <= INT64_MAX ? (int64_t)f->x.size : -1;
		d->mode = f->x.have_mode ? f->x.mode : 0;
		d->type = S_ISDIR(d->mode)			 ? AZ_FD_DIR
			  : S_ISCHR(d->mode) || S_ISBLK(d->mode) ? AZ_FD_DEVICE
								 : AZ_FD_FILE;
		az_str_set(&d->target, f->name.s ? f->name.s : "", f->name.len);
		if (f->ghost) {
			d->deleted = true;
			d->type = AZ_FD_DELETED;
			cleanup_buf struct ai_buf b;
			ai_buf_init(&b);
			ai_buf_add(&b, f->name.s ? f->name.s : "", f->name.len);
			ai_buf_adds(&b, " (deleted)");
			az_str_set(&d->target, b.data, b.len);
			if (f->ghost_idx >= 0) {
				const struct cc_ghost *g = &c->ghosts.v[f->ghost_idx];
				az_str_set(&d->rec_member, g->member.s, g->member.len);
				memcpy(d->rec_sha256, g->sha256, sizeof(d->rec_sha256));
				d->rec_size = g->size;
				d->ino = g->ino; /* what groups the holders of one deleted file */
			}
		}
		return;
	case AZ_CRIU_FD_PIPE:
	case AZ_CRIU_FD_FIFO:
		d->type = AZ_FD_PIPE;
		d->ino = f->x.pipe_id;
		snprintf(t, sizeof(t), "pipe:[%u]", f->x.pipe_id);
		break;
	case AZ_CRIU_FD_INETSK:
	case AZ_CRIU_FD_UNIXSK:
		d->type = AZ_FD_SOCKET;
		d->ino = f->x.ino;
		snprintf(t, sizeof(t), "socket:[%u]", f->x.ino);
		break;
	case 18: /* MEMFD */
		d->type = AZ_FD_MEMFD;
		d->memfd = true;
		snprintf(t, sizeof(t), "/memfd: (deleted)");
		break;
	default:
		if (anon_name(f->x.type)) {
			d->type = AZ_FD_ANON;
			snprintf(t, sizeof(t), "%s", anon_name(f->x.type));
		} else {
			snprintf(t, sizeof(t), "criu-type-%u:[%u]", f->x.type, f->x.id);
		}
		break;
	}
	az_str_set(&d->target, t, strlen(t));
}

static void fill_fds(struct az_ck_criu *c, struct az_model *m)
{
	size_t cap = 0;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct cc_task *t = task_of(c->ids.v, c->ids.n, m->procs[i].pid);
		if (!t || t->a < 0)
			continue;
		struct cc_fdi key = {.files_id = t->a, .x.fd = 0};
		size_t lo = 0, hi = c->fdi.n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (c->fdi.v[mid].files_id < key.files_id)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < c->fdi.n && c->fdi.v[lo].files_id == t->a; lo++) {
			if (m->nfds >= AZ_CK_MAX_FDS) {
				m->ck.fds_cut++; /* a hostile tree sharing one table many times over */
				continue;
			}
			m->fds = grow(m->fds, &cap, m->nfds, sizeof(*m->fds));
			struct az_fd *d = &m->fds[m->nfds++];
			memset(d, 0, sizeof(*d));
			d->pid = m->procs[i].pid;
			fill_fd(c, d, &c->fdi.v[lo]);
		}
	}
}

static const char *sk_state(uint32_t st, bool dgram_or_unix)
{
	static const char *const tcp[] = {
	    NULL,    "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",	"TIME_WAIT",
	    "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",	 "NEW_SYN_RECV"};
	if (st == 7 && dgram_or_unix)
		return "UNCONN";
	return st > 0 && st < sizeof(tcp) / sizeof(tcp[0]) ? tcp[st] : "UNKNOWN";
}

static const char *sk_type(uint32_t t)
{
	return t == 1 ? "stream" : t == 2 ? "dgram" : t == 5 ? "seqpacket" : "other";
}

/* CRIU's words are the address's bytes in the dumping (little-endian) host's order. */
static void sk_addr(const uint32_t *w, uint8_t n, bool v6, struct az_str *out)
{
	uint8_t b[16] = {0};
	for (int i = 0; i < (v6 ? 4 : 1) && i < n; i++)
		for (int k = 0; k < 4; k++)
			b[i * 4 + k] = (uint8_t)(w[i] >> (8 * k));
	char s[INET6_ADDRSTRLEN] = "";
	inet_ntop(v6 ? AF_INET6 : AF_INET, b, s, sizeof(s));
	az_str_set(out, s, strlen(s));
}

static void fill_sock(struct az_ck_criu *c, struct az_sock *s, const struct cc_file *f)
{
	const struct az_criu_file *x = &f->x;
	s->inode = x->ino;
	s->uid = s->rxq = s->txq = -1;
	s->lport = s->rport = -1;
	bool un = x->type == AZ_CRIU_FD_UNIXSK;
	snprintf(s->type, sizeof(s->type), "%s", sk_type(x->sktype));
	if (un) {
		snprintf(s->family, sizeof(s->family), "unix");
		snprintf(s->proto, sizeof(s->proto), "unix");
		snprintf(s->state, sizeof(s->state), "%s", sk_state(x->state, true));
		if (f->name.s && f->name.len) {
			s->abstract = f->name.s[0] == '\0';
			cleanup_buf struct ai_buf b;
			ai_buf_init(&b);
			if (s->abstract)
				ai_buf_addc(&b, '@');
			ai_buf_add(&b, f->name.s + s->abstract, f->name.len - s->abstract);
			az_str_set(&s->path, b.data ? b.data : "", b.len);
		}
		return;
	}
	bool v6 = x->family == AF_INET6;
	snprintf(s->family, sizeof(s->family), "%s", v6 ? "inet6" : x->family == AF_INET ? "inet" : "other");
	snprintf(s->proto, sizeof(s->proto), "%s", x->proto == 6 ? "tcp" : x->proto == 17 ? "udp" : "other");
	snprintf(s->state, sizeof(s->state), "%s", sk_state(x->state, x->proto != 6));
	sk_addr(x->src_addr, x->nsrc, v6, &s->laddr);
	sk_addr(x->dst_addr, x->ndst, v6, &s->raddr);
	s->lport = x->src_port;
	s->rport = x->dst_port;
	struct cc_tcp key = {.ino = x->ino};
	const struct cc_tcp *q = find(c->tcp.v, c->tcp.n, sizeof(key), &key, cmp_tcp);
	if (q) {
		s->rxq = q->q.inq_len;
		s->txq = q->q.outq_len;
	}
}

static int cmp_sockfd(const void *x, const void *y, void *ud)
{
	const struct az_fd *f = ud, *a = &f[*(const size_t *)x], *b = &f[*(const size_t *)y];
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return *(const size_t *)x < *(const size_t *)y ? -1 : *(const size_t *)x > *(const size_t *)y;
}

/* One socket per inet/unix file entry, in files.img order; owners from the socket fds already
 * filled, found through an index sorted by inode (in (pid, fd) order within one inode). */
static void fill_socks(struct az_ck_criu *c, struct az_model *m)
{
	size_t nix = 0;
	cleanup_free size_t *ix = malloc((m->nfds ? m->nfds : 1) * sizeof(*ix));
	if (!ix)
		abort();
	for (size_t k = 0; k < m->nfds; k++)
		if (m->fds[k].type == AZ_FD_SOCKET)
			ix[nix++] = k;
	if (nix)
		qsort_r(ix, nix, sizeof(*ix), cmp_sockfd, m->fds);
	size_t n = 0;
	for (size_t i = 0; i < c->files.n; i++)
		n += c->files.v[i].x.type == AZ_CRIU_FD_INETSK || c->files.v[i].x.type == AZ_CRIU_FD_UNIXSK;
	m->socks = calloc(n ? n : 1, sizeof(*m->socks));
	if (!m->socks)
		abort();
	for (size_t i = 0; i < c->files.n; i++) {
		const struct cc_file *f = &c->files.v[i];
		if (f->x.type != AZ_CRIU_FD_INETSK && f->x.type != AZ_CRIU_FD_UNIXSK)
			continue;
		struct az_sock *s = &m->socks[m->nsocks++];
		fill_sock(c, s, f);
		size_t cap = 0, lo = 0, hi = nix;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (m->fds[ix[mid]].ino < (int64_t)f->x.ino)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < nix && m->fds[ix[lo]].ino == (int64_t)f->x.ino; lo++) {
			const struct az_fd *d = &m->fds[ix[lo]];
			s->owners = grow(s->owners, &cap, s->nowners, sizeof(*s->owners));
			s->owners[s->nowners++] = (struct az_owner){d->pid, d->fd};
		}
	}
}

static void fill_cwd(struct az_ck_criu *c, struct az_model *m)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct cc_task *t = task_of(c->fs.v, c->fs.n, m->procs[i].pid);
		const struct cc_file *f = t ? file_of(c, t->a) : NULL;
		if (f && f->x.type == AZ_CRIU_FD_REG && f->name.s)
			az_str_set(&m->procs[i].cwd, f->name.s, f->name.len);
	}
}

void az_ck_criu_finish(struct az_ck_criu *c, struct az_model *m)
{
	sort(c->ids.v, c->ids.n, sizeof(*c->ids.v), cmp_task);
	sort(c->fs.v, c->fs.n, sizeof(*c->fs.v), cmp_task);
	sort(c->files.v, c->files.n, sizeof(*c->files.v), cmp_file);
	sort(c->fdi.v, c->fdi.n, sizeof(*c->fdi.v), cmp_fdi);
	sort(c->ghosts.v, c->ghosts.n, sizeof(*c->ghosts.v), cmp_ghost);
	sort(c->tcp.v, c->tcp.n, sizeof(*c->tcp.v), cmp_tcp);
	m->ck.ghosts_unread = c->ghosts_unread;
	fill_cwd(c, m);
	if (!c->have_files)
		return;
	mark_ghosts(c);
	fill_fds(c, m);
	fill_socks(c, m);
	snprintf(m->sock_source, sizeof(m->sock_source), "checkpoint");
	m->have[AZ_HAVE_FDS] = m->have[AZ_HAVE_SOCKS] = true;
}
