/* Unit tests of the memory readers: CRIU pagemap entries with the 32-bit and the 64-bit page
 * counts, flags as CRIU reads old images, the pages cursor, mm's ranges and VMAs (hand-built
 * images); the ELF core reader pushed whole and byte by byte (a core written by
 * tests/fixtures/mkcore.py); the memory source over that core and over the real Podman archive. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "analyze/criu.h"
#include "analyze/criu_mm.h"
#include "analyze/elfcore.h"
#include "analyze/memory.h"
#include "tests/unit/t.h"

struct w {
	uint8_t b[4096];
	size_t n;
};

static void varint(struct w *w, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;
		v >>= 7;
		w->b[w->n++] = c | (v ? 0x80 : 0);
	} while (v);
}

static void fld(struct w *w, unsigned f, uint64_t v)
{
	varint(w, (uint64_t)f << 3);
	varint(w, v);
}

static void le32(struct w *w, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		w->b[w->n++] = (uint8_t)(v >> (8 * i));
}

/* an entry: u32 size, then the message */
static void entry(struct w *img, const struct w *m)
{
	le32(img, (uint32_t)m->n);
	memcpy(img->b + img->n, m->b, m->n);
	img->n += m->n;
}

static void test_pagemap(void)
{
	struct w img = {.n = 0}, m;
	le32(&img, AZ_CRIU_IMG_COMMON_MAGIC);
	le32(&img, AZ_CRIU_PAGEMAP_MAGIC);
	m.n = 0;
	fld(&m, 1, 7); /* pages_id */
	entry(&img, &m);
	m.n = 0; /* both counts: the 64-bit one wins */
	fld(&m, 1, 0x400000);
	fld(&m, 2, 1);
	fld(&m, 4, AZ_PE_PRESENT);
	fld(&m, 5, 3);
	entry(&img, &m);
	m.n = 0; /* an old image: the 32-bit count, no flags: present */
	fld(&m, 1, 0x500000);
	fld(&m, 2, 2);
	entry(&img, &m);
	m.n = 0; /* in_parent */
	fld(&m, 1, 0x600000);
	fld(&m, 2, 1);
	fld(&m, 3, 1);
	entry(&img, &m);
	m.n = 0; /* zero pages: flags without PE_PRESENT */
	fld(&m, 1, 0x700000);
	fld(&m, 5, 0x100000000ull); /* more pages than 32 bits count */
	fld(&m, 4, 0);
	entry(&img, &m);
	struct az_criu_pagemap pm;
	ai_err_t err;
	T_OK(az_criu_pagemap_read(img.b, img.n, &pm, &err) == 0, "pagemap decodes");
	T_OK(pm.pages_id == 7 && pm.n == 4, "pagemap: pages_id 7, 4 entries");
	T_OK(pm.e[0].nr_pages == 3 && pm.e[0].present,
	     "pagemap: the 64-bit nr_pages wins over the 32-bit one");
	T_OK(pm.e[1].nr_pages == 2 && pm.e[1].present && pm.e[1].flags == AZ_PE_PRESENT,
	     "pagemap: an old entry (compat_nr_pages, no flags) is present");
	T_OK(!pm.e[2].present && (pm.e[2].flags & AZ_PE_PARENT), "pagemap: in_parent is not in this image");
	T_OK(!pm.e[3].present && pm.e[3].nr_pages == 0x100000000ull, "pagemap: zero pages, 2^32 of them");
	T_OK(pm.present_pages == 5, "pagemap: 5 present pages");
	struct az_criu_pcur c;
	az_criu_pcur_init(&c, &pm);
	uint64_t va, run;
	T_OK(az_criu_pcur_at(&c, 100, 1 << 20, &va, &run) && va == 0x400000 + 100 && run == 3 * 4096 - 100,
	     "pages cursor: offset 100 is in the first entry, to its end");
	T_OK(az_criu_pcur_at(&c, 3 * 4096, 10, &va, &run) && va == 0x500000 && run == 10,
	     "pages cursor: offset 3 pages is the second entry's start");
	T_OK(!az_criu_pcur_at(&c, 5 * 4096, 10, &va, &run), "pages cursor: past the present pages: none");
	az_criu_pagemap_free(&pm);
	img.n -= 3;
	T_OK(az_criu_pagemap_read(img.b, img.n, &pm, &err) < 0 && strstr(err.msg, "truncated entry after 3"),
	     "pagemap cut short: an error that says so (%s)", err.msg);
}

static void test_mm(void)
{
	struct w img = {.n = 0}, m = {.n = 0}, v = {.n = 0};
	le32(&img, AZ_CRIU_IMG_COMMON_MAGIC);
	le32(&img, AZ_CRIU_MM_MAGIC);
	fld(&v, 1, 0x1000);
	fld(&v, 2, 0x3000);
	fld(&v, 3, 0);
	fld(&v, 4, 9);
	fld(&v, 5, 5);
	fld(&v, 6, 2);
	fld(&v, 7, AZ_VMA_REGULAR | AZ_VMA_FILE_PRIVATE);
	fld(&m, 5, 0x2800);
	fld(&m, 8, 0x2f00);
	fld(&m, 9, 0x2f10);
	fld(&m, 10, 0x2f10);
	fld(&m, 11, 0x2f20);
	fld(&m, 12, 9);
	varint(&m, 14 << 3 | 2);
	varint(&m, v.n);
	memcpy(m.b + m.n, v.b, v.n);
	m.n += v.n;
	entry(&img, &m);
	struct az_criu_mm mm;
	ai_err_t err;
	T_OK(az_criu_mm_read(img.b, img.n, &mm, &err) == 0, "mm decodes");
	T_OK(mm.arg_start == 0x2f00 && mm.arg_end == 0x2f10 && mm.env_start == 0x2f10 &&
		 mm.env_end == 0x2f20 && mm.start_stack == 0x2800 && mm.have_exe && mm.exe_file_id == 9,
	     "mm: arg, env, stack start, exe_file_id");
	T_OK(mm.nvmas == 1 && mm.vmas[0].start == 0x1000 && mm.vmas[0].end == 0x3000 &&
		 mm.vmas[0].shmid == 9 && mm.vmas[0].prot == 5 && (mm.vmas[0].status & AZ_VMA_FILE_PRIVATE),
	     "mm: the VMA's start, end, shmid, prot, status");
	az_criu_mm_free(&mm);
}

struct sum {
	uint64_t bytes, sum, first;
};

static int on_data(void *ud, uint64_t vaddr, const uint8_t *p, size_t n, ai_err_t *err)
{
	struct sum *s = ud;
	if (!s->bytes)
		s->first = vaddr;
	for (size_t i = 0; i < n; i++)
		s->sum = s->sum * 31 + p[i] + vaddr + i;
	s->bytes += n;
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *b = malloc(1 << 20);
	*len = b ? fread(b, 1, 1 << 20, f) : 0;
	fclose(f);
	return b;
}

static void test_elfcore(void)
{
	char line[64];
	char path[] = "/tmp/ai-test-memory-XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "python3 tests/fixtures/mkcore.py %s UNIT-NEEDLE", path);
	T_OK(fd >= 0 && t_sh(line, sizeof(line), cmd) == 0, "mkcore.py wrote a core");
	size_t len = 0;
	uint8_t *d = slurp(path, &len);
	struct az_elfcore a, b;
	struct sum sa = {0}, sb = {0};
	ai_err_t err;
	az_elfcore_init(&a);
	az_elfcore_init(&b);
	T_OK(d && az_elfcore_feed(&a, d, len, on_data, &sa, &err) == 0 && az_elfcore_end(&a, &err) == 0,
	     "core pushed whole");
	int rb = 0;
	for (size_t i = 0; d && i < len && !rb; i++)
		rb = az_elfcore_feed(&b, d + i, 1, on_data, &sb, &err);
	T_OK(d && !rb && az_elfcore_end(&b, &err) == 0, "core pushed byte by byte");
	T_OK(sa.bytes == 4096 + 128 * 1024 && sa.bytes == sb.bytes && sa.sum == sb.sum && sa.first == 0x10000,
	     "the same segment bytes at the same addresses either way (%llu bytes)",
	     (unsigned long long)sa.bytes);
	T_OK(a.pid == 4242 && !strcmp(a.fname, "mkcore") && !strcmp(a.psargs, "mkcore --arg"), "NT_PRPSINFO");
	T_OK(a.nfiles == 1 && !strcmp(a.files[0].path, "/usr/lib/fake.so") && a.files[0].start == 0x10000,
	     "NT_FILE");
	az_elfcore_free(&a);
	az_elfcore_free(&b);
	free(d);

	struct az_mem m;
	T_OK(az_mem_open(&m, path, &err) == 0 && m.raw && m.nmaps == 2,
	     "memory source over the core: 2 maps");
	uint64_t at = strtoull(line, NULL, 16);
	uint8_t buf[32];
	size_t got = 0;
	T_OK(az_mem_read(&m, 4242, at, 11, buf, &got, &err) == 0 && got == 11 &&
		 !memcmp(buf, "UNIT-NEEDLE", 11),
	     "az_mem_read at the needle's address across a 64 KiB chunk");
	T_OK(az_mem_read(&m, 4242, 0x20000, 16, buf, &got, &err) == 0 && got == 0,
	     "az_mem_read where nothing is mapped: nothing found");
	az_mem_close(&m);
	unlink(path);
}

static void test_checkpoint(void)
{
	struct az_mem m;
	ai_err_t err;
	int r = az_mem_open(&m, "tests/data/podman-checkpoint/checkpoint.tar", &err);
	T_OK(r == 0 && !m.raw && !strcmp(m.form, "CRIU images"), "memory source over the Podman archive");
	T_OK(r == 0 && m.nmaps == 111 && m.maps[0].pid == 1 && !strcmp(m.maps[0].kind, "file") &&
		 m.maps[0].path && !strcmp(m.maps[0].path, "/bin/busybox"),
	     "111 VMAs, pid 1's first from /bin/busybox (files.img)");
	size_t heaps = 0;
	for (size_t i = 0; r == 0 && i < m.nmaps; i++)
		heaps += !strcmp(m.maps[i].kind, "heap") && m.maps[i].dumped > 0;
	T_OK(heaps == 10, "a heap with dumped pages for each of the 10 processes");
	az_mem_close(&m);
}

/* The checkpoint reader's command lines and environments, over the real archive's members. */
static void test_cmdlines(void)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	int r = archive_read_open_filename(a, "tests/data/podman-checkpoint/checkpoint.tar", 65536);
	T_OK(r == ARCHIVE_OK, "the Podman archive opens");
	struct az_criu_cmdlines *c = az_criu_cmdlines_new();
	struct archive_entry *e;
	while (r == ARCHIVE_OK && archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		if (n && !strncmp(n, "checkpoint/", 11))
			az_criu_cmdlines_member(c, a, n + 11);
	}
	archive_read_free(a);
	size_t len = 0;
	const uint8_t *cl = az_criu_mm_cmdline(c, 11, &len);
	static const char want[] = "httpd\0-f\0-p\0008080\0-h\0/data";
	T_OK(cl && len >= sizeof(want) && !memcmp(cl, want, sizeof(want)),
	     "pid 11's command line: httpd -f -p 8080 -h /data");
	const uint8_t *env = az_criu_mm_environ(c, 11, &len);
	T_OK(env && len > 9 && memmem(env, len, "HOSTNAME=", 9), "pid 11's environment holds HOSTNAME=");
	T_OK(!az_criu_mm_cmdline(c, 4242, &len), "no command line for a pid not in the archive");
	az_criu_cmdlines_free(c);
}

int main(void)
{
	test_cmdlines();
	test_pagemap();
	test_mm();
	test_elfcore();
	test_checkpoint();
	return t_done();
}
