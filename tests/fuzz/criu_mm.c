/* Fuzz target: CRIU memory images through analyze/criu_mm.c. Each input is read as an mm image, a
 * pagemap image and a files image; a pagemap that decodes is then walked as its pages image would
 * stream (every run inside one present entry, runs contiguous in the stream), and a command line
 * grabbed from the input's own bytes must stay inside its buffer. */
#include "analyze/criu_mm.h"
#include <stdlib.h>
#include <string.h>

static int on_file(void *ud, uint32_t id, const uint8_t *name, size_t len, ai_err_t *err)
{
	const uint8_t *const *b = ud;
	if (name < b[0] || name + len > b[1] || memchr(name, 0, len))
		abort();
	return 0;
}

static void walk_pages(const struct az_criu_pagemap *pm, const uint8_t *d, size_t size)
{
	struct az_criu_pcur cur;
	az_criu_pcur_init(&cur, pm);
	struct az_criu_grab g;
	az_criu_grab_init(&g, pm->n ? pm->e[0].vaddr : 0, pm->n ? pm->e[0].vaddr + 300000 : 0);
	uint64_t off = 0, total = pm->present_pages * AZ_CRIU_PAGE;
	/* a pages image as long as the input, at most 1 MiB: offsets stepping by the input's bytes */
	uint64_t len = total < (1u << 20) ? total : (1u << 20);
	size_t step = size ? (size_t)d[0] * 97 + 1 : 4096;
	while (off < len) {
		uint64_t va, run;
		if (!az_criu_pcur_at(&cur, off, step, &va, &run))
			abort(); /* every offset below the present pages maps somewhere */
		if (!run || run > step)
			abort();
		const struct az_criu_pme *pe = &pm->e[cur.i];
		if (!pe->present || va < pe->vaddr || va + run > pe->vaddr + pe->nr_pages * AZ_CRIU_PAGE)
			abort();
		az_criu_grab_feed(&g, va, d, run < size ? (size_t)run : size);
		off += run;
	}
	if (g.got > g.end - g.start)
		abort();
	az_criu_grab_free(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *d = malloc(size ? size : 1);
	if (!d)
		return 0;
	memcpy(d, data, size);
	ai_err_t err;
	struct az_criu_mm mm;
	if (az_criu_mm_read(d, size, &mm, &err) == 0) {
		for (size_t i = 0; i < mm.nvmas; i++)
			if (mm.vmas[i].end <= mm.vmas[i].start)
				abort();
		az_criu_mm_free(&mm);
	}
	struct az_criu_pagemap pm;
	if (az_criu_pagemap_read(d, size, &pm, &err) == 0) {
		uint64_t pages = 0;
		for (size_t i = 0; i < pm.n; i++) {
			if (!pm.e[i].nr_pages || pm.e[i].vaddr % AZ_CRIU_PAGE)
				abort();
			if (pm.e[i].present)
				pages += pm.e[i].nr_pages;
		}
		if (pages != pm.present_pages)
			abort();
		walk_pages(&pm, d, size);
		az_criu_pagemap_free(&pm);
	}
	const uint8_t *bounds[2] = {d, d + size};
	az_criu_regfiles_read(d, size, on_file, bounds, &err);
	free(d);
	return 0;
}

#include "tests/fuzz/driver.inc"
