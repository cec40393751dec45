/* Fuzz target: CRIU images through analyze/criu.c and analyze/criu_files.c. A checkpoint archive
 * is whoever made it's bytes: each input is read as a pstree image, as a core image, as each of
 * the files/fdinfo/ids/fs/remap/tcp-stream/ghost-file images, and walked as an image of
 * whatever magic it claims, every length-delimited field descended into as a message. Every
 * span the walker hands back must lie inside the one it came from. */
#include "analyze/criu.h"
#include <stdlib.h>
#include "analyze/criu_files.h"
#include <string.h>

static volatile unsigned sink;

static void inside(const struct az_pb *in, const uint8_t *lo, const uint8_t *hi)
{
	if (in->p < lo || in->end > hi || in->p > in->end)
		abort();
}

static void walk(struct az_pb b, int depth)
{
	const uint8_t *lo = b.p, *hi = b.end;
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	bool bad;
	while (az_pb_next(&b, &f, &v, &sub, &bad)) {
		inside(&b, lo, hi);
		if (f == 0)
			abort();
		sink += f + (unsigned)v;
		if (!sub.p)
			continue;
		inside(&sub, lo, b.p);
		if ((uint64_t)(sub.end - sub.p) != v)
			abort();
		if (depth < 8)
			walk(sub, depth + 1);
		/* A packed repeated varint field, as pstree's threads are. */
		uint64_t x;
		while (sub.p < sub.end && az_pb_varint(&sub, &x))
			sink += (unsigned)x;
	}
	if (!bad && b.p != hi)
		abort(); /* the walk stops early only on malformed input */
}

struct seen {
	size_t next;
};

static int on_pstree(void *ud, size_t index, const struct az_criu_pstree *e, ai_err_t *err)
{
	struct seen *s = ud;
	if (index != s->next++ || e->pid < 0 || e->pid > INT32_MAX || e->ppid > INT32_MAX || e->threads < 0)
		abort();
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const uint8_t *lo_, *hi_;

static int on_file(void *ud, const struct az_criu_file *f, ai_err_t *err)
{
	if (f->name && (f->name < lo_ || f->name + f->name_len > hi_ || f->name_len > (size_t)(hi_ - lo_)))
		abort();
	sink += f->type + f->id + f->ino + f->src_addr[3] + f->dst_addr[3];
	return 0;
}

static int on_fdinfo(void *ud, const struct az_criu_fdinfo *f, ai_err_t *err)
{
	sink += f->id + f->fd + f->type;
	return 0;
}

static int on_remap(void *ud, const struct az_criu_remap *r, ai_err_t *err)
{
	sink += r->orig_id + r->remap_id;
	return 0;
}

struct pieces {
	uint64_t at;
};

/* Pieces come in ascending, non-overlapping order, inside the input. */
static int on_piece(void *ud, uint64_t off, const uint8_t *p, size_t len, ai_err_t *err)
{
	struct pieces *x = ud;
	if (off < x->at || p < lo_ || p + len > hi_)
		abort();
	x->at = off + len;
	return 0;
}

static void files_images(const uint8_t *d, size_t size)
{
	ai_err_t err;
	lo_ = d;
	hi_ = d + size;
	az_criu_files_read(d, size, on_file, NULL, &err);
	az_criu_fdinfo_read(d, size, on_fdinfo, NULL, &err);
	az_criu_remap_read(d, size, on_remap, NULL, &err);
	struct az_criu_ids ids;
	if (az_criu_ids_read(d, size, &ids, &err) == 0 &&
	    (ids.files_id > UINT32_MAX || ids.fs_id > UINT32_MAX))
		abort();
	struct az_criu_fs fs;
	if (az_criu_fs_read(d, size, &fs, &err) == 0 && (fs.cwd_id > UINT32_MAX || fs.root_id > UINT32_MAX))
		abort();
	struct az_criu_tcp t;
	az_criu_tcp_read(d, size, &t, &err);
	struct az_criu_ghost g;
	struct pieces pc = {0};
	if (az_criu_ghost_read(d, size, &g, on_piece, &pc, &err) == 0 && g.have_size && g.chunks &&
	    pc.at > g.size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: a read past the input is a heap overflow the sanitizers report. */
	uint8_t *d = malloc(size ? size : 1);
	if (!d)
		return 0;
	memcpy(d, data, size);
	ai_err_t err;
	struct seen s = {0};
	az_criu_pstree_read(d, size, on_pstree, &s, &err);

	struct az_criu_core c;
	if (az_criu_core_read(d, size, &c, &err) == 0 && c.comm) {
		if (c.comm < d || c.comm_len > 256 || c.comm + c.comm_len > d + size ||
		    memchr(c.comm, 0, c.comm_len))
			abort();
	}

	files_images(d, size);

	uint32_t magic = 0;
	if (size >= 8 && (le32(d) == AZ_CRIU_IMG_COMMON_MAGIC || le32(d) == AZ_CRIU_IMG_SERVICE_MAGIC))
		magic = le32(d + 4);
	else if (size >= 4)
		magic = le32(d);
	struct az_criu_img im;
	if (az_criu_open(&im, d, size, magic) == 0) {
		struct az_pb e;
		bool bad;
		const uint8_t *prev = d;
		while (az_criu_next(&im, &e, &bad)) {
			inside(&e, prev, d + size);
			prev = e.end;
			walk(e, 0);
		}
		if (!bad && im.off != size)
			abort();
	}
	free(d);
	return 0;
}

#include "tests/fuzz/driver.inc"
