#include "analyze/criu_files.h"
#include <string.h>
#include "analyze/criu.h"

/* Every entry of an image of magic to one(); errors name the entry. */
typedef int (*entry_fn)(struct az_pb *e, void *ud, ai_err_t *err);

static int each_entry(const uint8_t *d, size_t len, uint32_t magic, const char *what, entry_fn one, void *ud,
		      ai_err_t *err)
{
	struct az_criu_img im;
	if (az_criu_open(&im, d, len, magic) < 0)
		return ai_err_set(err, 0, "not a CRIU %s image (bad magic)", what);
	struct az_pb e;
	bool bad;
	size_t n = 0;
	while (az_criu_next(&im, &e, &bad)) {
		if (one(&e, ud, err) < 0)
			return ai_err_wrap(err, "entry %zu", n);
		n++;
	}
	if (bad)
		return ai_err_set(err, 0, "truncated entry after %zu entries", n);
	return 0;
}

static int malformed(ai_err_t *err)
{
	return ai_err_set(err, 0, "malformed protobuf");
}

static uint32_t u32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The first entry only: ids and fs images have one. */
static int first_entry(const uint8_t *d, size_t len, uint32_t magic, const char *what, struct az_pb *e,
		       ai_err_t *err)
{
	struct az_criu_img im;
	bool bad;
	if (az_criu_open(&im, d, len, magic) < 0)
		return ai_err_set(err, 0, "not a CRIU %s image (bad magic)", what);
	if (!az_criu_next(&im, e, &bad))
		return ai_err_set(err, 0, bad ? "truncated entry" : "no entry");
	return 0;
}

/* task_kobj_ids_entry: files_id 2, fs_id 3 */
int az_criu_ids_read(const uint8_t *d, size_t len, struct az_criu_ids *out, ai_err_t *err)
{
	out->files_id = out->fs_id = -1;
	struct az_pb e, sub;
	if (first_entry(d, len, AZ_CRIU_IDS_MAGIC, "ids", &e, err) < 0)
		return -1;
	uint32_t f;
	uint64_t v;
	bool bad;
	while (az_pb_next(&e, &f, &v, &sub, &bad))
		if (!sub.p && (f == 2 || f == 3))
			*(f == 2 ? &out->files_id : &out->fs_id) = u32(v);
	return bad ? malformed(err) : 0;
}

/* fs_entry: cwd_id 1, root_id 2 */
int az_criu_fs_read(const uint8_t *d, size_t len, struct az_criu_fs *out, ai_err_t *err)
{
	out->cwd_id = out->root_id = -1;
	struct az_pb e, sub;
	if (first_entry(d, len, AZ_CRIU_FS_MAGIC, "fs", &e, err) < 0)
		return -1;
	uint32_t f;
	uint64_t v;
	bool bad;
	while (az_pb_next(&e, &f, &v, &sub, &bad))
		if (!sub.p && (f == 1 || f == 2))
			*(f == 1 ? &out->cwd_id : &out->root_id) = u32(v);
	return bad ? malformed(err) : 0;
}

/* reg_file_entry: flags 2, pos 3, name 6, size 8, mode 10 */
static int read_reg(struct az_pb *b, struct az_criu_file *x, ai_err_t *err)
{
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(b, &f, &v, &sub, &bad)) {
		if (f == 6 && sub.p) {
			x->name = sub.p;
			x->name_len = (size_t)(sub.end - sub.p);
		} else if (sub.p) {
			continue;
		} else if (f == 2) {
			x->flags = u32(v);
		} else if (f == 3) {
			x->pos = v;
		} else if (f == 8) {
			x->size = v;
			x->have_size = true;
		} else if (f == 10) {
			x->mode = u32(v);
			x->have_mode = true;
		}
	}
	return bad ? malformed(err) : 0;
}

/* A repeated uint32, packed or not, at most 4 values kept (an IPv6 address). */
static bool addr_word(const struct az_pb *sub, uint64_t v, uint32_t *a, uint8_t *n)
{
	if (!sub->p) {
		if (*n < 4)
			a[*n] = u32(v);
		if (*n < 255)
			(*n)++;
		return true;
	}
	struct az_pb p = *sub;
	uint64_t w;
	while (p.p < p.end) {
		if (!az_pb_varint(&p, &w))
			return false;
		if (*n < 4)
			a[*n] = u32(w);
		if (*n < 255)
			(*n)++;
	}
	return true;
}

/* inet_sk_entry: ino 2, family 3, type 4, proto 5, state 6, src_port 7, dst_port 8, flags 9,
 * src_addr 11, dst_addr 12 */
static int read_inet(struct az_pb *b, struct az_criu_file *x, ai_err_t *err)
{
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(b, &f, &v, &sub, &bad)) {
		if (f == 11 || f == 12) {
			if (!addr_word(&sub, v, f == 11 ? x->src_addr : x->dst_addr,
				       f == 11 ? &x->nsrc : &x->ndst))
				return malformed(err);
			continue;
		}
		if (sub.p)
			continue;
		uint32_t *dst[] = {[2] = &x->ino,   [3] = &x->family,	[4] = &x->sktype,   [5] = &x->proto,
				   [6] = &x->state, [7] = &x->src_port, [8] = &x->dst_port, [9] = &x->flags};
		if (f >= 2 && f <= 9)
			*dst[f] = u32(v);
	}
	return bad ? malformed(err) : 0;
}

/* unix_sk_entry: ino 2, type 3, state 4, flags 5, peer 8, name 11 (bytes: abstract names start
 * with a NUL) */
static int read_unix(struct az_pb *b, struct az_criu_file *x, ai_err_t *err)
{
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(b, &f, &v, &sub, &bad)) {
		if (f == 11 && sub.p) {
			x->name = sub.p;
			x->name_len = (size_t)(sub.end - sub.p);
			continue;
		}
		if (sub.p)
			continue;
		if (f == 2)
			x->ino = u32(v);
		else if (f == 3)
			x->sktype = u32(v);
		else if (f == 4)
			x->state = u32(v);
		else if (f == 5)
			x->flags = u32(v);
		else if (f == 8)
			x->peer = u32(v);
	}
	return bad ? malformed(err) : 0;
}

/* pipe_entry / fifo_entry: pipe_id 2 */
static int read_pipe(struct az_pb *b, struct az_criu_file *x, ai_err_t *err)
{
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(b, &f, &v, &sub, &bad))
		if (!sub.p && f == 2)
			x->pipe_id = u32(v);
	return bad ? malformed(err) : 0;
}

struct files_ctx {
	az_criu_file_fn each;
	void *ud;
};

/* file_entry: type 1, id 2, reg 3, isk 4, usk 16, fifo 17, pipe 18 */
static int file_one(struct az_pb *e, void *ud, ai_err_t *err)
{
	struct files_ctx *c = ud;
	struct az_criu_file x;
	memset(&x, 0, sizeof(x));
	bool have_type = false, have_id = false;
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(e, &f, &v, &sub, &bad)) {
		int r = 0;
		if (!sub.p && f == 1) {
			x.type = u32(v);
			have_type = true;
		} else if (!sub.p && f == 2) {
			x.id = u32(v);
			have_id = true;
		} else if (sub.p && f == 3) {
			r = read_reg(&sub, &x, err);
		} else if (sub.p && f == 4) {
			r = read_inet(&sub, &x, err);
		} else if (sub.p && f == 16) {
			r = read_unix(&sub, &x, err);
		} else if (sub.p && (f == 17 || f == 18)) {
			r = read_pipe(&sub, &x, err);
		}
		if (r < 0)
			return -1;
	}
	if (bad)
		return malformed(err);
	if (!have_type || !have_id)
		return ai_err_set(err, 0, "no %s", have_type ? "id" : "type");
	return c->each(c->ud, &x, err);
}

int az_criu_files_read(const uint8_t *d, size_t len, az_criu_file_fn each, void *ud, ai_err_t *err)
{
	struct files_ctx c = {each, ud};
	return each_entry(d, len, AZ_CRIU_FILES_MAGIC, "files", file_one, &c, err);
}

struct fdinfo_ctx {
	az_criu_fdinfo_fn each;
	void *ud;
};

/* fdinfo_entry: id 1, flags 2, type 3, fd 4 */
static int fdinfo_one(struct az_pb *e, void *ud, ai_err_t *err)
{
	struct fdinfo_ctx *c = ud;
	struct az_criu_fdinfo x = {0};
	unsigned seen = 0;
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(e, &f, &v, &sub, &bad)) {
		if (sub.p || f < 1 || f > 4)
			continue;
		uint32_t *dst[] = {NULL, &x.id, &x.flags, &x.type, &x.fd};
		*dst[f] = u32(v);
		seen |= 1u << f;
	}
	if (bad)
		return malformed(err);
	if ((seen & 0x1a) != 0x1a) /* id, type, fd */
		return ai_err_set(err, 0, "no id, type or fd");
	return c->each(c->ud, &x, err);
}

int az_criu_fdinfo_read(const uint8_t *d, size_t len, az_criu_fdinfo_fn each, void *ud, ai_err_t *err)
{
	struct fdinfo_ctx c = {each, ud};
	return each_entry(d, len, AZ_CRIU_FDINFO_MAGIC, "fdinfo", fdinfo_one, &c, err);
}

struct remap_ctx {
	az_criu_remap_fn each;
	void *ud;
};

/* remap_file_path_entry: orig_id 1, remap_id 2, remap_type 3. CRIU before remap_type marked a
 * ghost with the top bit of remap_id (REMAP_GHOST). */
static int remap_one(struct az_pb *e, void *ud, ai_err_t *err)
{
	struct remap_ctx *c = ud;
	struct az_criu_remap x = {0};
	bool have_type = false;
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(e, &f, &v, &sub, &bad)) {
		if (sub.p)
			continue;
		if (f == 1)
			x.orig_id = u32(v);
		else if (f == 2)
			x.remap_id = u32(v);
		else if (f == 3) {
			x.type = u32(v);
			have_type = true;
		}
	}
	if (bad)
		return malformed(err);
	if (!have_type && (x.remap_id & 0x80000000u)) {
		x.type = 1;
		x.remap_id &= ~0x80000000u;
	}
	return c->each(c->ud, &x, err);
}

int az_criu_remap_read(const uint8_t *d, size_t len, az_criu_remap_fn each, void *ud, ai_err_t *err)
{
	struct remap_ctx c = {each, ud};
	return each_entry(d, len, AZ_CRIU_REMAP_FPATH_MAGIC, "remap-fpath", remap_one, &c, err);
}

/* tcp_stream_entry: inq_len 1, outq_len 3, unsq_len 12 */
int az_criu_tcp_read(const uint8_t *d, size_t len, struct az_criu_tcp *out, ai_err_t *err)
{
	memset(out, 0, sizeof(*out));
	struct az_pb e, sub;
	if (first_entry(d, len, AZ_CRIU_TCP_STREAM_MAGIC, "tcp-stream", &e, err) < 0)
		return -1;
	uint32_t f;
	uint64_t v;
	bool bad;
	while (az_pb_next(&e, &f, &v, &sub, &bad)) {
		if (sub.p)
			continue;
		if (f == 1)
			out->inq_len = u32(v);
		else if (f == 3)
			out->outq_len = u32(v);
		else if (f == 12)
			out->unsq_len = u32(v);
	}
	return bad ? malformed(err) : 0;
}

/* timeval: tv_sec 1, tv_usec 2 */
static bool read_timeval(struct az_pb b, int64_t *ns)
{
	uint32_t f;
	uint64_t v, sec = 0, usec = 0;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(&b, &f, &v, &sub, &bad))
		if (!sub.p && (f == 1 || f == 2))
			*(f == 1 ? &sec : &usec) = v;
	if (bad)
		return false;
	*ns = sec < (uint64_t)INT64_MAX / 1000000000 - 1 && usec < 1000000
		  ? (int64_t)sec * 1000000000 + (int64_t)usec * 1000
		  : 0;
	return true;
}

/* ghost_file_entry: uid 1, gid 2, mode 3, ino 5, atim 7, mtim 8, chunks 9, size 10 */
static int ghost_entry(struct az_pb e, struct az_criu_ghost *g, ai_err_t *err)
{
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(&e, &f, &v, &sub, &bad)) {
		if (sub.p) {
			if ((f == 7 || f == 8) && !read_timeval(sub, f == 7 ? &g->atime_ns : &g->mtime_ns))
				return malformed(err);
			continue;
		}
		if (f == 1)
			g->uid = u32(v);
		else if (f == 2)
			g->gid = u32(v);
		else if (f == 3)
			g->mode = u32(v);
		else if (f == 5)
			g->ino = v;
		else if (f == 9)
			g->chunks = v != 0;
		else if (f == 10) {
			g->size = v;
			g->have_size = true;
		}
	}
	return bad ? malformed(err) : 0;
}

/* ghost_chunk_entry: len 1, off 2; each followed by len bytes of data, offsets ascending */
static int ghost_chunks(struct az_criu_img *im, const struct az_criu_ghost *g, az_criu_piece_fn each,
			void *ud, ai_err_t *err)
{
	uint64_t end = 0;
	struct az_pb e;
	bool bad;
	size_t n = 0;
	while (az_criu_next(im, &e, &bad)) {
		uint32_t f;
		uint64_t v, clen = 0, off = 0;
		struct az_pb sub;
		bool fbad;
		while (az_pb_next(&e, &f, &v, &sub, &fbad))
			if (!sub.p && (f == 1 || f == 2))
				*(f == 1 ? &clen : &off) = v;
		if (fbad)
			return ai_err_set(err, 0, "chunk %zu: malformed protobuf", n);
		if (off < end || clen > im->len - im->off ||
		    (g->have_size && (off > g->size || clen > g->size - off)))
			return ai_err_set(err, 0, "chunk %zu: out of order, past the image or past the size",
					  n);
		if (each(ud, off, im->d + im->off, (size_t)clen, err) < 0)
			return -1;
		im->off += (size_t)clen;
		end = off + clen;
		n++;
	}
	return bad ? ai_err_set(err, 0, "truncated chunk after %zu chunks", n) : 0;
}

int az_criu_ghost_read(const uint8_t *d, size_t len, struct az_criu_ghost *g, az_criu_piece_fn each, void *ud,
		       ai_err_t *err)
{
	memset(g, 0, sizeof(*g));
	struct az_criu_img im;
	struct az_pb e;
	bool bad;
	if (az_criu_open(&im, d, len, AZ_CRIU_GHOST_FILE_MAGIC) < 0)
		return ai_err_set(err, 0, "not a CRIU ghost-file image (bad magic)");
	if (!az_criu_next(&im, &e, &bad))
		return ai_err_set(err, 0, bad ? "truncated entry" : "no entry");
	if (ghost_entry(e, g, err) < 0)
		return -1;
	if (g->chunks)
		return ghost_chunks(&im, g, each, ud, err);
	size_t rest = im.len - im.off;
	if (g->have_size && g->size != rest)
		return ai_err_set(err, 0, "content of %zu bytes, the entry says %llu", rest,
				  (unsigned long long)g->size);
	return rest ? each(ud, 0, im.d + im.off, rest, err) : 0;
}
