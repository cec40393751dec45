/* Fuzz target: CRIU images through analyze/criu.c. A checkpoint archive is whoever made it's
 * bytes: each input is read as a pstree image, as a core image, and walked as an image of
 * whatever magic it claims, every length-delimited field descended into as a message. Every
 * span the walker hands back must lie inside the one it came from. */
#include "analyze/criu.h"
#include <stdlib.h>
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
