#include "analyze/elfcore.h"
#include <stdlib.h>
#include <string.h>

#define PT_LOAD_     1u
#define PT_NOTE_     4u
#define NT_PRSTATUS_ 1u
#define NT_PRPSINFO_ 3u
#define NT_AUXV_     6u
#define NT_FILE_     0x46494c45u
#define EM_X86_64_   62u

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

void az_elfcore_init(struct az_elfcore *c)
{
	memset(c, 0, sizeof(*c));
	c->pid = -1;
}

void az_elfcore_free(struct az_elfcore *c)
{
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i].path);
	free(c->files);
	free(c->segs);
	free(c->tids);
	free(c->sps);
	free(c->sps_sorted);
	free(c->hdr);
	free(c->order);
	free(c->notes);
	az_elfcore_init(c);
}

bool az_elfcore_magic(const uint8_t *p, size_t n)
{
	return n >= 18 &&
	       !memcmp(p,
		       "\x7f"
		       "ELF",
		       4) &&
	       p[4] == 2 && p[5] == 1 && le16(p + 16) == 4;
}

/* ---- notes */

static void add_thread(struct az_elfcore *c, int64_t tid, uint64_t sp)
{
	if (c->nthreads >= AZ_ELF_MAX_THREADS)
		return;
	if (!(c->nthreads & (c->nthreads - 1)) || !c->nthreads) {
		size_t cap = c->nthreads ? c->nthreads * 2 : 1;
		c->tids = realloc(c->tids, cap * sizeof(*c->tids));
		c->sps = realloc(c->sps, cap * sizeof(*c->sps));
		if (!c->tids || !c->sps)
			abort();
	}
	c->tids[c->nthreads] = tid;
	c->sps[c->nthreads++] = sp;
}

/* elf_prstatus (x86_64): pr_pid at 32, pr_reg (27 longs: rsp is the 20th) at 112 */
static void note_prstatus(struct az_elfcore *c, const uint8_t *d, size_t n)
{
	if (n < 36)
		return;
	int64_t tid = (int32_t)le32(d + 32);
	uint64_t sp = c->machine == EM_X86_64_ && n >= 112 + 27 * 8 ? le64(d + 112 + 19 * 8) : 0;
	if (c->pid < 0 && !c->nthreads)
		c->pid = tid;
	add_thread(c, tid, sp);
}

/* elf_prpsinfo (64-bit): pr_pid at 24, pr_fname[16] at 40, pr_psargs[80] at 56 */
static void note_prpsinfo(struct az_elfcore *c, const uint8_t *d, size_t n)
{
	if (n < 136)
		return;
	c->pid = (int32_t)le32(d + 24);
	memcpy(c->fname, d + 40, 16);
	c->fname[16] = '\0';
	memcpy(c->psargs, d + 56, 80);
	c->psargs[80] = '\0';
}

static void note_auxv(struct az_elfcore *c, const uint8_t *d, size_t n)
{
	for (size_t i = 0; i + 16 <= n; i += 16) {
		uint64_t k = le64(d + i), v = le64(d + i + 8);
		if (k == 3)
			c->at_phdr = v;
		else if (k == 9)
			c->at_entry = v;
		else if (k == 0)
			break;
	}
}

static int cmp_file(const void *x, const void *y)
{
	const struct az_elf_file *a = x, *b = y;
	return a->start < b->start ? -1 : a->start > b->start;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* count, page_size, count x {start, end, file_ofs in pages}, then count NUL-terminated paths */
static void note_file(struct az_elfcore *c, const uint8_t *d, size_t n)
{
	if (n < 16 || c->files)
		return;
	uint64_t count = le64(d), page = le64(d + 8);
	if (count > AZ_ELF_MAX_FILES || count > (n - 16) / 24 || page > (1u << 30))
		return;
	c->files = calloc(count ? count : 1, sizeof(*c->files));
	if (!c->files)
		abort();
	const uint8_t *s = d + 16 + count * 24, *end = d + n;
	for (uint64_t i = 0; i < count; i++) {
		const uint8_t *e = d + 16 + i * 24;
		const uint8_t *nul = s < end ? memchr(s, '\0', (size_t)(end - s)) : NULL;
		if (!nul)
			break;
		if (le64(e + 8) <= le64(e)) { /* an empty or reversed range maps nothing */
			s = nul + 1;
			continue;
		}
		struct az_elf_file *f = &c->files[c->nfiles++];
		f->start = le64(e);
		f->end = le64(e + 8);
		uint64_t ofs = le64(e + 16);
		f->pgoff = page && ofs <= UINT64_MAX / page ? ofs * page : 0;
		f->len = (size_t)(nul - s);
		f->path = malloc(f->len + 1);
		if (!f->path)
			abort();
		memcpy(f->path, s, f->len + 1);
		s = nul + 1;
	}
	if (c->nfiles)
		qsort(c->files, c->nfiles, sizeof(*c->files), cmp_file);
}

static void parse_notes(struct az_elfcore *c, const uint8_t *d, size_t n)
{
	size_t o = 0;
	while (n - o >= 12) {
		uint32_t namesz = le32(d + o), descsz = le32(d + o + 4), type = le32(d + o + 8);
		o += 12;
		size_t na = ((size_t)namesz + 3) & ~(size_t)3, da = ((size_t)descsz + 3) & ~(size_t)3;
		if (na > n - o)
			return;
		const uint8_t *name = d + o;
		o += na;
		if (descsz > n - o)
			return;
		const uint8_t *desc = d + o;
		o += da > n - o ? n - o : da;
		if (namesz != 5 || memcmp(name, "CORE", 5))
			continue;
		if (type == NT_PRSTATUS_)
			note_prstatus(c, desc, descsz);
		else if (type == NT_PRPSINFO_)
			note_prpsinfo(c, desc, descsz);
		else if (type == NT_AUXV_)
			note_auxv(c, desc, descsz);
		else if (type == NT_FILE_)
			note_file(c, desc, descsz);
	}
}

/* the notes are all read: the stack pointers sorted, for az_elfcore_sp_in */
static void headers_done(struct az_elfcore *c)
{
	c->headers_done = true;
	free(c->sps_sorted);
	c->sps_sorted = malloc((c->nthreads ? c->nthreads : 1) * sizeof(*c->sps_sorted));
	if (!c->sps_sorted)
		abort();
	if (c->nthreads)
		memcpy(c->sps_sorted, c->sps, c->nthreads * sizeof(*c->sps));
	if (c->nthreads)
		qsort(c->sps_sorted, c->nthreads, sizeof(*c->sps_sorted), cmp_u64);
}

/* ---- headers */

static int cmp_off(const void *x, const void *y, void *ud)
{
	const struct az_elf_seg *s = ud;
	const struct az_elf_seg *a = &s[*(const size_t *)x], *b = &s[*(const size_t *)y];
	return a->off < b->off ? -1 : a->off > b->off;
}

static int parse_ehdr(struct az_elfcore *c, ai_err_t *err)
{
	const uint8_t *h = c->hdr;
	if (!az_elfcore_magic(h, 64))
		return ai_err_set(err, 0, "not a 64-bit little-endian ELF core file");
	c->machine = le16(h + 18);
	uint64_t phoff = le64(h + 32);
	uint16_t phentsize = le16(h + 54), phnum = le16(h + 56);
	if (phnum == 0xffff)
		return ai_err_set(err, 0, "ELF core: more than 65534 program headers (PN_XNUM): not read");
	if (phnum && phentsize != 56)
		return ai_err_set(err, 0, "ELF core: program header size %u, not 56", phentsize);
	if (phoff < 64 || phoff > AZ_ELF_MAX_HDR - (uint64_t)phnum * 56)
		return ai_err_set(err, 0, "ELF core: program headers at %llu: out of bounds",
				  (unsigned long long)phoff);
	c->hdrwant = (size_t)(phoff + (uint64_t)phnum * 56);
	c->nsegs = phnum;
	uint8_t *nh = realloc(c->hdr, c->hdrwant > 64 ? c->hdrwant : 64);
	if (!nh)
		abort();
	c->hdr = nh;
	return 0;
}

static void parse_phdrs(struct az_elfcore *c)
{
	size_t phoff = c->hdrwant - c->nsegs * 56;
	c->segs = calloc(c->nsegs ? c->nsegs : 1, sizeof(*c->segs));
	c->order = calloc(c->nsegs ? c->nsegs : 1, sizeof(*c->order));
	if (!c->segs || !c->order)
		abort();
	size_t n = 0, notes = 0;
	for (size_t i = 0; i < c->nsegs; i++) {
		const uint8_t *p = c->hdr + phoff + i * 56;
		struct az_elf_seg *s = &c->segs[i];
		s->type = le32(p);
		s->flags = le32(p + 4);
		s->off = le64(p + 8);
		s->vaddr = le64(p + 16);
		s->filesz = le64(p + 32);
		s->memsz = le64(p + 40);
		if (s->type != PT_LOAD_ && s->type != PT_NOTE_)
			continue;
		if (s->type == PT_LOAD_ && s->filesz > s->memsz)
			s->filesz = s->memsz;
		bool bad = s->off > UINT64_MAX - s->filesz || s->vaddr > UINT64_MAX - s->memsz ||
			   (s->filesz && s->off < c->hdrwant) ||
			   (s->type == PT_NOTE_ && s->filesz > AZ_ELF_MAX_NOTES - notes);
		if (bad) {
			s->skipped = true;
			c->skipped++;
			continue;
		}
		if (!s->filesz)
			continue;
		if (s->type == PT_NOTE_)
			notes += s->filesz;
		c->order[n++] = i;
	}
	qsort_r(c->order, n, sizeof(*c->order), cmp_off, c->segs);
	/* a segment overlapping the one before it in the file is not read */
	size_t k = 0;
	uint64_t end = 0;
	notes = 0;
	for (size_t i = 0; i < n; i++) {
		struct az_elf_seg *s = &c->segs[c->order[i]];
		if (s->off < end) {
			s->skipped = true;
			c->skipped++;
			continue;
		}
		end = s->off + s->filesz;
		if (s->type == PT_NOTE_)
			notes += s->filesz;
		c->order[k++] = c->order[i];
	}
	c->norder = k;
	c->notes_pending = (size_t)notes;
	c->notes = malloc(notes ? notes : 1);
	if (!c->notes)
		abort();
	if (notes == 0)
		headers_done(c);
}

/* One segment's bytes at the stream's position. */
static int seg_bytes(struct az_elfcore *c, struct az_elf_seg *s, const uint8_t *p, size_t take,
		     az_elf_data_fn data, void *ud, ai_err_t *err)
{
	uint64_t in = c->pos - s->off;
	if (s->type == PT_NOTE_) {
		memcpy(c->notes + c->noteslen, p, take);
		c->noteslen += take;
		c->notes_pending -= take;
		if (in + take == s->filesz)
			parse_notes(c, c->notes + c->noteslen - s->filesz, (size_t)s->filesz);
		if (!c->notes_pending)
			headers_done(c);
		return 0;
	}
	return data ? data(ud, s->vaddr + in, p, take, err) : 0;
}

int az_elfcore_feed(struct az_elfcore *c, const uint8_t *p, size_t n, az_elf_data_fn data, void *ud,
		    ai_err_t *err)
{
	while (n) {
		if (!c->segs) { /* the headers */
			if (!c->hdr && !(c->hdr = malloc(64)))
				abort();
			size_t want = c->hdrwant ? c->hdrwant : 64;
			size_t take = want - c->hdrlen < n ? want - c->hdrlen : n;
			memcpy(c->hdr + c->hdrlen, p, take);
			c->hdrlen += take;
			c->pos += take;
			p += take;
			n -= take;
			if (c->hdrlen < want)
				return 0;
			if (!c->hdrwant && parse_ehdr(c, err) < 0)
				return -1;
			if (c->hdrlen == c->hdrwant)
				parse_phdrs(c);
			continue;
		}
		while (c->next < c->norder) {
			const struct az_elf_seg *s = &c->segs[c->order[c->next]];
			if (c->pos < s->off + s->filesz)
				break;
			c->next++;
		}
		if (c->next == c->norder) {
			c->pos += n;
			return 0;
		}
		struct az_elf_seg *s = &c->segs[c->order[c->next]];
		size_t take;
		if (c->pos < s->off) {
			take = s->off - c->pos < n ? (size_t)(s->off - c->pos) : n;
		} else {
			take = s->off + s->filesz - c->pos < n ? (size_t)(s->off + s->filesz - c->pos) : n;
			if (seg_bytes(c, s, p, take, data, ud, err) < 0)
				return -1;
		}
		c->pos += take;
		p += take;
		n -= take;
	}
	return 0;
}

int az_elfcore_end(struct az_elfcore *c, ai_err_t *err)
{
	if (!c->segs)
		return ai_err_set(err, 0, "not an ELF core file, or cut short in its headers (%llu bytes)",
				  (unsigned long long)c->pos);
	while (c->next < c->norder) {
		const struct az_elf_seg *s = &c->segs[c->order[c->next]];
		if (c->pos < s->off + s->filesz) {
			c->truncated = true;
			break;
		}
		c->next++;
	}
	if (!c->headers_done)
		headers_done(c);
	return 0;
}

/* files sorted by start: the last that starts at or below addr (overlapping hostile entries may
 * hide one another, never cost more than a binary search) */
const struct az_elf_file *az_elfcore_file_at(const struct az_elfcore *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nfiles;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->files[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && addr < c->files[lo - 1].end ? &c->files[lo - 1] : NULL;
}

bool az_elfcore_sp_in(const struct az_elfcore *c, uint64_t start, uint64_t end)
{
	size_t lo = 0, hi = c->nthreads;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->sps_sorted[mid] < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nthreads && c->sps_sorted[lo] < end;
}
