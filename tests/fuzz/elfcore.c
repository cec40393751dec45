/* Fuzz target: ELF cores through analyze/elfcore.c. The input is a core file, pushed once whole and
 * once in pieces of 1..64 bytes (the first byte picks the size): both must deliver the same segment
 * bytes at the same addresses, every byte inside a PT_LOAD segment's [vaddr, vaddr + filesz), and
 * the same mappings and notes. */
#include "analyze/elfcore.h"
#include <stdlib.h>
#include <string.h>

struct acc {
	const struct az_elfcore *c;
	uint64_t bytes, sum;
};

static int on_data(void *ud, uint64_t vaddr, const uint8_t *p, size_t n, ai_err_t *err)
{
	struct acc *a = ud;
	bool inside = false;
	for (size_t i = 0; i < a->c->nsegs && !inside; i++) {
		const struct az_elf_seg *s = &a->c->segs[i];
		inside = s->type == 1 && !s->skipped && vaddr >= s->vaddr && n <= s->filesz &&
			 vaddr - s->vaddr <= s->filesz - n;
	}
	if (!inside || !n)
		abort();
	for (size_t i = 0; i < n; i++)
		a->sum = a->sum * 31 + p[i] + (vaddr + i);
	a->bytes += n;
	return 0;
}

static int run(const uint8_t *d, size_t size, size_t piece, struct az_elfcore *c, struct acc *a)
{
	az_elfcore_init(c);
	a->c = c;
	a->bytes = a->sum = 0;
	ai_err_t err;
	for (size_t o = 0; o < size;) {
		size_t n = size - o < piece ? size - o : piece;
		if (az_elfcore_feed(c, d + o, n, on_data, a, &err) < 0)
			return -1;
		o += n;
	}
	return az_elfcore_end(c, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *d = malloc(size ? size : 1);
	if (!d)
		return 0;
	memcpy(d, data, size);
	size_t piece = size ? (size_t)(d[size - 1] % 64) + 1 : 1;
	struct az_elfcore a, b;
	struct acc aa, ab;
	int ra = run(d, size, size ? size : 1, &a, &aa);
	int rb = run(d, size, piece, &b, &ab);
	if (ra != rb || aa.bytes != ab.bytes || aa.sum != ab.sum || a.nsegs != b.nsegs ||
	    a.nfiles != b.nfiles || a.nthreads != b.nthreads || a.pid != b.pid || a.truncated != b.truncated)
		abort();
	for (size_t i = 0; i < a.nfiles; i++)
		if (strlen(a.files[i].path) != a.files[i].len ||
		    az_elfcore_file_at(&a, a.files[i].start) == NULL)
			abort();
	az_elfcore_free(&a);
	az_elfcore_free(&b);
	free(d);
	return 0;
}

#include "tests/fuzz/driver.inc"
