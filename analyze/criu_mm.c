#include "analyze/criu_mm.h"
#include <stdlib.h>
#include <string.h>
#include "analyze/criu.h"

/* vma_entry: start 1, end 2, pgoff 3, shmid 4, prot 5, flags 6, status 7 (fd 8, madv 9 unused) */
static bool read_vma(struct az_pb m, struct az_criu_vma *v)
{
	memset(v, 0, sizeof(*v));
	uint32_t f;
	uint64_t x;
	struct az_pb sub;
	bool bad, have_start = false, have_end = false;
	while (az_pb_next(&m, &f, &x, &sub, &bad)) {
		if (sub.p)
			continue;
		switch (f) {
		case 1:
			v->start = x;
			have_start = true;
			break;
		case 2:
			v->end = x;
			have_end = true;
			break;
		case 3:
			v->pgoff = x;
			break;
		case 4:
			v->shmid = x;
			break;
		case 5:
			v->prot = (uint32_t)x;
			break;
		case 6:
			v->flags = (uint32_t)x;
			break;
		case 7:
			v->status = (uint32_t)x;
			break;
		default:
			break;
		}
	}
	return !bad && have_start && have_end && v->end > v->start;
}

static void add_vma(struct az_criu_mm *mm, size_t *cap, const struct az_criu_vma *v)
{
	if (mm->nvmas == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		mm->vmas = realloc(mm->vmas, *cap * sizeof(*mm->vmas));
		if (!mm->vmas)
			abort();
	}
	mm->vmas[mm->nvmas++] = *v;
}

/* mm_entry: mm_start_stack 5, mm_arg_start 8, mm_arg_end 9, mm_env_start 10, mm_env_end 11, exe_file_id 12,
 * vmas 14 */
int az_criu_mm_read(const uint8_t *d, size_t len, struct az_criu_mm *mm, ai_err_t *err)
{
	memset(mm, 0, sizeof(*mm));
	struct az_criu_img im;
	if (az_criu_open(&im, d, len, AZ_CRIU_MM_MAGIC) < 0)
		return ai_err_set(err, 0, "not a CRIU mm image (bad magic)");
	struct az_pb e;
	bool bad;
	if (!az_criu_next(&im, &e, &bad))
		return ai_err_set(err, 0, bad ? "truncated entry" : "no entry");
	uint32_t f;
	uint64_t x;
	struct az_pb sub;
	size_t cap = 0;
	while (az_pb_next(&e, &f, &x, &sub, &bad)) {
		if (f == 14 && sub.p) {
			struct az_criu_vma v;
			if (!read_vma(sub, &v)) {
				size_t k = mm->nvmas;
				az_criu_mm_free(mm);
				return ai_err_set(err, 0, "vma %zu: malformed", k);
			}
			add_vma(mm, &cap, &v);
			continue;
		}
		if (sub.p)
			continue;
		if (f == 5)
			mm->start_stack = x;
		else if (f == 8)
			mm->arg_start = x;
		else if (f == 9)
			mm->arg_end = x;
		else if (f == 10)
			mm->env_start = x;
		else if (f == 11)
			mm->env_end = x;
		else if (f == 12) {
			mm->exe_file_id = (uint32_t)x;
			mm->have_exe = true;
		}
	}
	if (bad) {
		az_criu_mm_free(mm);
		return ai_err_set(err, 0, "malformed protobuf");
	}
	return 0;
}

void az_criu_mm_free(struct az_criu_mm *mm)
{
	free(mm->vmas);
	mm->vmas = NULL;
	mm->nvmas = 0;
}

/* pagemap_entry: vaddr 1, compat_nr_pages 2 (u32), in_parent 3, flags 4, nr_pages 5 (u64, newer) */
static bool read_pme(struct az_pb m, struct az_criu_pme *pe)
{
	memset(pe, 0, sizeof(*pe));
	uint32_t f;
	uint64_t x, compat = 0, big = 0;
	struct az_pb sub;
	bool bad, have_vaddr = false, have_compat = false, have_big = false, have_flags = false,
		  in_parent = false;
	while (az_pb_next(&m, &f, &x, &sub, &bad)) {
		if (sub.p)
			continue;
		if (f == 1) {
			pe->vaddr = x;
			have_vaddr = true;
		} else if (f == 2) {
			compat = x & 0xffffffffu;
			have_compat = true;
		} else if (f == 3)
			in_parent = x != 0;
		else if (f == 4) {
			pe->flags = (uint32_t)x;
			have_flags = true;
		} else if (f == 5) {
			big = x;
			have_big = true;
		}
	}
	if (bad || !have_vaddr || (!have_compat && !have_big))
		return false;
	/* as CRIU's init_compat_pagemap_entry reads an image written before flags and nr_pages */
	if (in_parent)
		pe->flags |= AZ_PE_PARENT;
	else if (!have_flags)
		pe->flags = AZ_PE_PRESENT;
	pe->nr_pages = have_big ? big : compat;
	pe->present = (pe->flags & AZ_PE_PRESENT) != 0;
	if (pe->vaddr % AZ_CRIU_PAGE || !pe->nr_pages || pe->nr_pages > (UINT64_MAX / AZ_CRIU_PAGE) ||
	    pe->vaddr > UINT64_MAX - pe->nr_pages * AZ_CRIU_PAGE)
		return false;
	return true;
}

int az_criu_pagemap_read(const uint8_t *d, size_t len, struct az_criu_pagemap *pm, ai_err_t *err)
{
	memset(pm, 0, sizeof(*pm));
	struct az_criu_img im;
	if (az_criu_open(&im, d, len, AZ_CRIU_PAGEMAP_MAGIC) < 0)
		return ai_err_set(err, 0, "not a CRIU pagemap image (bad magic)");
	struct az_pb e;
	bool bad;
	if (!az_criu_next(&im, &e, &bad))
		return ai_err_set(err, 0, bad ? "truncated head" : "no pagemap_head");
	uint32_t f;
	uint64_t x;
	struct az_pb sub;
	bool have_id = false;
	while (az_pb_next(&e, &f, &x, &sub, &bad))
		if (f == 1 && !sub.p && x <= UINT32_MAX) {
			pm->pages_id = (uint32_t)x;
			have_id = true;
		}
	if (bad || !have_id)
		return ai_err_set(err, 0, "pagemap_head: no pages_id");
	size_t cap = 0;
	while (az_criu_next(&im, &e, &bad)) {
		struct az_criu_pme pe;
		size_t k = pm->n;
		if (!read_pme(e, &pe)) {
			az_criu_pagemap_free(pm);
			return ai_err_set(err, 0, "pagemap entry %zu: malformed or out of range", k);
		}
		if (pe.present && pe.nr_pages > UINT64_MAX / AZ_CRIU_PAGE - pm->present_pages) {
			az_criu_pagemap_free(pm);
			return ai_err_set(err, 0, "pagemap entry %zu: too many pages", k);
		}
		if (pm->n == cap) {
			cap = cap ? cap * 2 : 32;
			pm->e = realloc(pm->e, cap * sizeof(*pm->e));
			if (!pm->e)
				abort();
		}
		pm->e[pm->n++] = pe;
		if (pe.present)
			pm->present_pages += pe.nr_pages;
	}
	if (bad) {
		size_t k = pm->n;
		az_criu_pagemap_free(pm);
		return ai_err_set(err, 0, "truncated entry after %zu entries", k);
	}
	return 0;
}

void az_criu_pagemap_free(struct az_criu_pagemap *pm)
{
	free(pm->e);
	pm->e = NULL;
	pm->n = 0;
}

void az_criu_pcur_init(struct az_criu_pcur *c, const struct az_criu_pagemap *pm)
{
	c->pm = pm;
	c->i = 0;
	c->base = 0;
}

bool az_criu_pcur_at(struct az_criu_pcur *c, uint64_t off, uint64_t avail, uint64_t *vaddr, uint64_t *run)
{
	const struct az_criu_pagemap *pm = c->pm;
	for (; c->i < pm->n; c->i++) {
		const struct az_criu_pme *pe = &pm->e[c->i];
		if (!pe->present)
			continue;
		uint64_t len = pe->nr_pages * AZ_CRIU_PAGE;
		if (off < c->base)
			return false; /* offsets only grow: not reached */
		if (off - c->base < len) {
			uint64_t in = off - c->base;
			*vaddr = pe->vaddr + in;
			*run = len - in < avail ? len - in : avail;
			return true;
		}
		c->base += len;
	}
	return false;
}

/* file_entry: type 1, id 2, reg 3; reg_file_entry: id 1, name 6 */
static int reg_entry(struct az_pb m, uint32_t *id, struct az_pb *name)
{
	uint32_t f;
	uint64_t x;
	struct az_pb sub;
	bool bad, have_id = false;
	name->p = NULL;
	while (az_pb_next(&m, &f, &x, &sub, &bad)) {
		if (f == 1 && !sub.p && x <= UINT32_MAX) {
			*id = (uint32_t)x;
			have_id = true;
		} else if (f == 6 && sub.p)
			*name = sub;
	}
	return bad ? -1 : have_id && name->p ? 1 : 0;
}

int az_criu_regfiles_read(const uint8_t *d, size_t len, az_criu_reg_fn each, void *ud, ai_err_t *err)
{
	struct az_criu_img im;
	bool old = false;
	if (az_criu_open(&im, d, len, AZ_CRIU_FILES_MAGIC) < 0) {
		if (az_criu_open(&im, d, len, AZ_CRIU_REGFILES_MAGIC) < 0)
			return ai_err_set(err, 0, "not a CRIU files or reg-files image (bad magic)");
		old = true;
	}
	struct az_pb e;
	bool bad;
	size_t n = 0;
	while (az_criu_next(&im, &e, &bad)) {
		struct az_pb reg = e;
		if (!old) {
			uint32_t f;
			uint64_t x;
			struct az_pb sub;
			reg.p = NULL;
			while (az_pb_next(&e, &f, &x, &sub, &bad))
				if (f == 3 && sub.p)
					reg = sub;
			if (bad)
				return ai_err_set(err, 0, "entry %zu: malformed protobuf", n);
		}
		uint32_t id = 0;
		struct az_pb name;
		int r = reg.p ? reg_entry(reg, &id, &name) : 0;
		if (r < 0)
			return ai_err_set(err, 0, "entry %zu: malformed reg entry", n);
		size_t nl = r ? (size_t)(name.end - name.p) : 0;
		if (r > 0 && nl && !memchr(name.p, '\0', nl) && each(ud, id, name.p, nl, err) < 0)
			return -1;
		n++;
	}
	if (bad)
		return ai_err_set(err, 0, "truncated entry after %zu entries", n);
	return 0;
}

void az_criu_grab_init(struct az_criu_grab *g, uint64_t start, uint64_t end)
{
	memset(g, 0, sizeof(*g));
	if (end <= start)
		return;
	g->start = start;
	g->end = end - start > AZ_CRIU_MAX_ARGS ? start + AZ_CRIU_MAX_ARGS : end;
	g->buf = calloc(1, (size_t)(g->end - g->start));
	if (!g->buf)
		abort();
}

void az_criu_grab_feed(struct az_criu_grab *g, uint64_t vaddr, const uint8_t *p, size_t n)
{
	if (!g->buf || !n || vaddr >= g->end || vaddr + n <= g->start || vaddr > UINT64_MAX - n)
		return;
	uint64_t lo = vaddr > g->start ? vaddr : g->start;
	uint64_t hi = vaddr + n < g->end ? vaddr + n : g->end;
	memcpy(g->buf + (lo - g->start), p + (lo - vaddr), (size_t)(hi - lo));
	g->got += hi - lo;
	if (g->got > g->end - g->start) /* overlapping pagemap entries write a byte twice */
		g->got = g->end - g->start;
}

void az_criu_grab_free(struct az_criu_grab *g)
{
	free(g->buf);
	g->buf = NULL;
}
