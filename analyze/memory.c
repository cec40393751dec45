/* Process memory (memory.h): the two back ends behind one source, the checkpoint reader's command
 * lines, and the `memory` command. */
#include "analyze/memory.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "analyze/attr.h"
#include "analyze/cli.h"
#include "analyze/context.h"
#include "analyze/criu_mm.h"
#include "analyze/elfcore.h"
#include "analyze/util.h"
#include "common/json.h"
#include "common/buf.h"
#include "common/cleanup.h"

#define CHUNK (64u << 10)

struct mem_proc {
	int64_t pid;
	bool core;    /* an ELF core; else CRIU images */
	char *member; /* the member holding its bytes; NULL: the raw file */
	struct az_elfcore ec;
	struct az_criu_mm mm;
	struct az_criu_pagemap pm;
	bool have_mm, have_pm;
	int64_t size;	 /* of the core file or member, -1 unknown: segments past it were cut */
	char prefix[24]; /* a pod's container prefix ("containers/N/") of its CRIU images */
};

/* memory/index.json's name of a mapping the capture read from /proc/PID/maps ("[heap]",
 * "[stack]", ...): what an ELF core cannot say (NT_FILE names files only). */
struct mem_name {
	int64_t pid;
	uint64_t start;
	const char *kind;
};

struct mem_file {
	uint32_t id;
	char *path;
	size_t len;
};

static const char *strip_dot(const char *n)
{
	while (n[0] == '.' && n[1] == '/')
		n += 2;
	return n;
}

/* A pod bundle keeps each container's members under "containers/N/": the name within it, and the
 * prefix's length (0 for a member of no container). */
static const char *in_container(const char *n, size_t *plen)
{
	*plen = 0;
	if (strncmp(n, "containers/", 11))
		return n;
	const char *d = n + 11;
	size_t k = 0;
	while (d[k] >= '0' && d[k] <= '9' && k < 4)
		k++;
	if (!k || d[k] != '/')
		return n;
	*plen = (size_t)(d + k + 1 - n);
	return n + *plen;
}

/* "PREFIX<digits>SUFFIX" -> the number */
static bool num_name(const char *s, const char *prefix, const char *suffix, int64_t *out)
{
	size_t pl = strlen(prefix);
	if (strncmp(s, prefix, pl))
		return false;
	s += pl;
	int64_t x = 0;
	size_t nd = 0;
	for (; *s >= '0' && *s <= '9' && nd < 10; s++, nd++)
		x = x * 10 + (*s - '0');
	if (!nd || strcmp(s, suffix))
		return false;
	*out = x;
	return true;
}

static void note(struct az_mem *m, const char *fmt, const char *a)
{
	m->skipped++;
	size_t l = strlen(m->notes);
	if (l < sizeof(m->notes) - 64)
		snprintf(m->notes + l, sizeof(m->notes) - l, "%s%s: %s", l ? "; " : "", a, fmt);
}

static struct mem_proc *proc_get(struct az_mem *m, int64_t pid, bool core, ai_err_t *err)
{
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].pid == pid && m->procs[i].core == core)
			return &m->procs[i];
	if (m->nprocs >= AZ_MEM_MAX_PROCS) {
		ai_err_set(err, 0, "%s: more than %u processes with memory", m->path, AZ_MEM_MAX_PROCS);
		return NULL;
	}
	if (!(m->nprocs & (m->nprocs - 1)) || !m->nprocs) {
		m->procs = realloc(m->procs, (m->nprocs ? m->nprocs * 2 : 1) * sizeof(*m->procs));
		if (!m->procs)
			abort();
	}
	struct mem_proc *p = &m->procs[m->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->core = core;
	p->size = -1;
	az_elfcore_init(&p->ec);
	return p;
}

static int add_file(void *ud, uint32_t id, const uint8_t *name, size_t len, ai_err_t *err)
{
	struct az_mem *m = ud;
	if (!(m->nfiles & (m->nfiles - 1)) || !m->nfiles) {
		m->files = realloc(m->files, (m->nfiles ? m->nfiles * 2 : 1) * sizeof(*m->files));
		if (!m->files)
			abort();
	}
	struct mem_file *f = &m->files[m->nfiles++];
	f->id = id;
	f->len = len;
	f->path = malloc(len + 1);
	if (!f->path)
		abort();
	memcpy(f->path, name, len);
	f->path[len] = '\0';
	return 0;
}

static int cmp_file(const void *a, const void *b)
{
	const struct mem_file *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static const struct mem_file *file_by_id(const struct az_mem *m, uint64_t id)
{
	if (id > UINT32_MAX || !m->nfiles)
		return NULL;
	struct mem_file key = {.id = (uint32_t)id};
	return bsearch(&key, m->files, m->nfiles, sizeof(*m->files), cmp_file);
}

/* ---- pass 1: headers and small images */

/* An ELF core member (or file) up to the end of its notes. */
static int core_headers(struct az_mem *m, struct mem_proc *p, struct archive *a, int fd, ai_err_t *err)
{
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		abort();
	int rc = 0;
	while (!p->ec.headers_done) {
		ssize_t n = a ? archive_read_data(a, buf, CHUNK) : read(fd, buf, CHUNK);
		if (n < 0 && !a && errno == EINTR)
			continue;
		if (n < 0) {
			rc = a ? ai_err_set(err, 0, "%s", archive_error_string(a))
			       : ai_err_set(err, errno, "read");
			break;
		}
		if (n == 0) {
			rc = az_elfcore_end(&p->ec, err);
			break;
		}
		if ((rc = az_elfcore_feed(&p->ec, buf, (size_t)n, NULL, NULL, err)) < 0)
			break;
	}
	free(buf);
	return rc;
}

static int read_image(struct archive *a, struct archive_entry *e, char **doc, size_t *len, ai_err_t *err)
{
	return az_read_member(a, e, AZ_MEM_MAX_IMAGE, doc, len, err);
}

static const char *index_kind(const char *path)
{
	static const char *const special[][2] = {{"[heap]", "heap"},
						 {"[stack]", "stack"},
						 {"[vdso]", "vdso"},
						 {"[vvar]", "vvar"},
						 {"[vsyscall]", "vsyscall"}};
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (!strcmp(path, special[i][0]))
			return special[i][1];
	return NULL;
}

/* memory/index.json: the names /proc/PID/maps gave the mappings each core holds. Bounded like
 * any small member; what is not a known name is left to the core's own. */
static int read_index(struct az_mem *m, struct archive *a, struct archive_entry *e, const char *name)
{
	cleanup_free char *doc = NULL;
	size_t len;
	ai_err_t e2;
	if (az_read_member(a, e, AZ_MEM_MAX_INDEX, &doc, &len, &e2) < 0) {
		note(m, e2.msg, name);
		return 0;
	}
	json_error_t je;
	json_t *root cleanup_json = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je);
	json_t *procs = json_object_get(root, "processes");
	if (!json_is_array(procs)) {
		note(m, "not an index of processes: its mapping names are not used", name);
		return 0;
	}
	size_t i, k;
	json_t *pj, *mj;
	json_array_foreach(procs, i, pj)
	{
		json_t *pid = json_object_get(pj, "pid");
		if (!json_is_integer(pid))
			continue;
		json_array_foreach(json_object_get(pj, "mappings"), k, mj)
		{
			const char *path = json_string_value(json_object_get(mj, "path"));
			const char *start = json_string_value(json_object_get(mj, "start"));
			const char *kind = path ? index_kind(path) : NULL;
			char *end;
			if (!kind || !start || strncmp(start, "0x", 2))
				continue;
			uint64_t s0 = strtoull(start + 2, &end, 16);
			if (*end || m->nnames >= AZ_MEM_MAX_NAMES)
				continue;
			if (!(m->nnames & (m->nnames - 1)) || !m->nnames) {
				m->names =
				    realloc(m->names, (m->nnames ? m->nnames * 2 : 1) * sizeof(*m->names));
				if (!m->names)
					abort();
			}
			m->names[m->nnames++] = (struct mem_name){json_integer_value(pid), s0, kind};
		}
	}
	return 0;
}

/* A core's mappings named as the capture saw them: the heuristics are for cores without an
 * index (gcore's, a core file given alone). */
static int cmp_name(const void *a, const void *b)
{
	const struct mem_name *x = a, *y = b;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The maps [from, nmaps) of one core (its pids are the capture's, as the index's are). */
static void apply_names(struct az_mem *m, size_t from)
{
	for (size_t i = from; i < m->nmaps && m->nnames; i++) {
		struct az_mem_map *x = &m->maps[i];
		if (x->path)
			continue; /* a file's mapping: the core's NT_FILE named it */
		struct mem_name q = {.pid = x->pid, .start = x->start};
		const struct mem_name *n = bsearch(&q, m->names, m->nnames, sizeof(q), cmp_name);
		if (n)
			x->kind = n->kind;
	}
}

/* One member of pass 1. */
static int open_member(struct az_mem *m, struct archive *a, struct archive_entry *e, const char *name,
		       ai_err_t *err)
{
	int64_t pid;
	size_t plen;
	const char *rel = in_container(name, &plen);
	if (!strcmp(rel, "memory/index.json"))
		return read_index(m, a, e, name);
	if (num_name(rel, "memory/", ".core", &pid)) {
		struct mem_proc *p = proc_get(m, pid, true, err);
		if (!p)
			return -1;
		if (p->member) {
			note(m, "appears twice: the first is used", name);
			return 0;
		}
		ai_err_t e2;
		p->size = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
		if (core_headers(m, p, a, -1, &e2) < 0) {
			note(m, e2.msg, name);
			p->ec.headers_done = true;
		}
		p->member = strdup(name);
		if (!p->member)
			abort();
		return 0;
	}
	if (strncmp(rel, "checkpoint/", 11))
		return 0;
	const char *base = rel + 11;
	bool is_mm = num_name(base, "mm-", ".img", &pid);
	bool is_pm = !is_mm && num_name(base, "pagemap-", ".img", &pid);
	bool is_files = !strcmp(base, "files.img") || !strcmp(base, "reg-files.img");
	if (!is_mm && !is_pm && !is_files)
		return 0;
	cleanup_free char *doc = NULL;
	size_t len;
	ai_err_t e2;
	if (read_image(a, e, &doc, &len, &e2) < 0) {
		note(m, e2.msg, name);
		return 0;
	}
	if (is_files) {
		if (az_criu_regfiles_read((const uint8_t *)doc, len, add_file, m, &e2) < 0)
			note(m, e2.msg, name);
		return 0;
	}
	struct mem_proc *p = proc_get(m, pid, false, err);
	if (!p)
		return -1;
	if (plen && plen < sizeof(p->prefix) && (is_mm ? !p->have_mm : !p->have_pm))
		snprintf(p->prefix, sizeof(p->prefix), "%.*s", (int)plen, name);
	if (is_mm && !p->have_mm) {
		if (az_criu_mm_read((const uint8_t *)doc, len, &p->mm, &e2) < 0)
			note(m, e2.msg, name);
		else
			p->have_mm = true;
	} else if (is_pm && !p->have_pm) {
		if (az_criu_pagemap_read((const uint8_t *)doc, len, &p->pm, &e2) < 0)
			note(m, e2.msg, name);
		else
			p->have_pm = true;
	}
	return 0;
}

static const char *criu_kind(const struct az_criu_vma *v)
{
	uint32_t s = v->status;
	if (s & AZ_VMA_HEAP)
		return "heap";
	if (s & AZ_VMA_STACK)
		return "stack";
	if (s & AZ_VMA_VDSO)
		return "vdso";
	if (s & AZ_VMA_VVAR)
		return "vvar";
	if (s & AZ_VMA_VSYSCALL)
		return "vsyscall";
	if (s & AZ_VMA_MEMFD)
		return "memfd";
	if (s & (AZ_VMA_FILE_PRIVATE | AZ_VMA_FILE_SHARED))
		return "file";
	if (s & (AZ_VMA_ANON_SHARED | AZ_VMA_SYSVIPC))
		return "shm";
	if (s & AZ_VMA_ANON_PRIVATE)
		return "anon";
	return "other";
}

static struct az_mem_map *map_add(struct az_mem *m)
{
	if (!(m->nmaps & (m->nmaps - 1)) || !m->nmaps) {
		m->maps = realloc(m->maps, (m->nmaps ? m->nmaps * 2 : 1) * sizeof(*m->maps));
		if (!m->maps)
			abort();
	}
	struct az_mem_map *x = &m->maps[m->nmaps++];
	memset(x, 0, sizeof(*x));
	return x;
}

static void map_path(struct az_mem_map *x, const char *p, size_t len)
{
	x->path = malloc(len + 1);
	if (!x->path)
		abort();
	memcpy(x->path, p, len);
	x->path[len] = '\0';
	x->pathlen = len;
}

static uint64_t overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	uint64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
	return hi > lo ? hi - lo : 0;
}

static void criu_maps(struct az_mem *m, struct mem_proc *p)
{
	size_t k = 0; /* pagemap entries and VMAs are both sorted by address */
	uint64_t work = 0;
	for (size_t i = 0; i < p->mm.nvmas; i++) {
		const struct az_criu_vma *v = &p->mm.vmas[i];
		struct az_mem_map *x = map_add(m);
		x->pid = p->pid;
		x->start = v->start;
		x->end = v->end;
		x->prot = (v->prot & 1 ? AZ_MEM_R : 0) | (v->prot & 2 ? AZ_MEM_W : 0) |
			  (v->prot & 4 ? AZ_MEM_X : 0);
		x->kind = criu_kind(v);
		/* CRIU leaves VMA_AREA_STACK unset: the stack is the VMA holding mm_start_stack, or
		 * one that grows down (MAP_GROWSDOWN) */
		if (!strcmp(x->kind, "anon") &&
		    ((p->mm.start_stack >= v->start && p->mm.start_stack < v->end) || (v->flags & 0x100)))
			x->kind = "stack";
		if (v->status & (AZ_VMA_FILE_PRIVATE | AZ_VMA_FILE_SHARED | AZ_VMA_MEMFD)) {
			const struct mem_file *f = file_by_id(m, v->shmid);
			if (f)
				map_path(x, f->path, f->len);
		}
		while (k < p->pm.n && p->pm.e[k].vaddr + p->pm.e[k].nr_pages * AZ_CRIU_PAGE <= v->start)
			k++;
		/* sorted images cost one step per entry; overlapping hostile ones are cut off */
		for (size_t j = k; j < p->pm.n && p->pm.e[j].vaddr < v->end && work++ < 50000000u; j++)
			if (p->pm.e[j].present)
				x->dumped += overlap(v->start, v->end, p->pm.e[j].vaddr,
						     p->pm.e[j].vaddr + p->pm.e[j].nr_pages * AZ_CRIU_PAGE);
	}
}

/* gcore marks no heap or stack: the stack is the mapping holding a thread's stack pointer; the
 * heap the first anonymous mapping after the executable's own (the one holding AT_PHDR). */
static void core_maps(struct az_mem *m, struct mem_proc *p)
{
	const struct az_elfcore *c = &p->ec;
	if (!c->segs)
		return; /* its headers were cut short or refused: said in the notes */
	const struct az_elf_file *exe = az_elfcore_file_at(c, c->at_phdr ? c->at_phdr : c->at_entry);
	uint64_t exe_end = 0;
	for (size_t i = 0; exe && i < c->nfiles; i++)
		if (c->files[i].len == exe->len && !memcmp(c->files[i].path, exe->path, exe->len) &&
		    c->files[i].end > exe_end)
			exe_end = c->files[i].end;
	bool heap_done = !exe;
	size_t first = m->nmaps, cut = 0;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct az_elf_seg *s = &c->segs[i];
		if (s->type != 1 || !s->memsz || s->vaddr > UINT64_MAX - s->memsz)
			continue; /* a range past 2^64 maps nothing */
		struct az_mem_map *x = map_add(m);
		x->pid = p->pid;
		x->start = s->vaddr;
		x->end = s->vaddr + s->memsz;
		x->prot = (s->flags & 4 ? AZ_MEM_R : 0) | (s->flags & 2 ? AZ_MEM_W : 0) |
			  (s->flags & 1 ? AZ_MEM_X : 0);
		x->dumped = s->skipped ? 0 : s->filesz;
		if (p->size >= 0 && s->off + x->dumped > (uint64_t)p->size) {
			x->dumped = s->off < (uint64_t)p->size ? (uint64_t)p->size - s->off : 0;
			if (!cut++)
				note(m, "the core is cut short: segments hold less than their headers say",
				     p->member ? p->member : "core");
		}
		const struct az_elf_file *f = az_elfcore_file_at(c, s->vaddr);
		x->kind = f ? "file" : "anon";
		if (f)
			map_path(x, f->path, f->len);
		if (!f && c->sps_sorted && az_elfcore_sp_in(c, x->start, x->end))
			x->kind = "stack";
	}
	for (size_t i = first; !heap_done && i < m->nmaps; i++) {
		struct az_mem_map *x = &m->maps[i];
		/* the anonymous mapping right at the executable's end is its .bss, not yet the heap
		 * (the kernel puts the brk area a random gap above it) */
		if (x->start <= exe_end)
			continue;
		if (!strcmp(x->kind, "anon") && (x->prot & AZ_MEM_W))
			x->kind = "heap";
		heap_done = true;
	}
}

static int cmp_map(const void *a, const void *b)
{
	const struct az_mem_map *x = a, *y = b;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_member(const void *a, const void *b, void *ud)
{
	const struct az_mem *m = ud;
	return strcmp(m->procs[*(const size_t *)a].member, m->procs[*(const size_t *)b].member);
}

static void index_members(struct az_mem *m)
{
	m->by_member = calloc(m->nprocs ? m->nprocs : 1, sizeof(*m->by_member));
	if (!m->by_member)
		abort();
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].member && (m->procs[i].core || m->procs[i].have_mm))
			m->by_member[m->nby_member++] = i;
	if (m->nby_member)
		qsort_r(m->by_member, m->nby_member, sizeof(*m->by_member), cmp_member, m);
}

/* The first process whose bytes are in member name, or NULL. */
static struct mem_proc *proc_of_member(const struct az_mem *m, const char *name)
{
	size_t lo = 0, hi = m->nby_member;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->procs[m->by_member[mid]].member, name);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nby_member && !strcmp(m->procs[m->by_member[lo]].member, name)
		   ? &m->procs[m->by_member[lo]]
		   : NULL;
}

static void build_maps(struct az_mem *m)
{
	bool core = false, criu = false;
	if (m->nfiles)
		qsort(m->files, m->nfiles, sizeof(*m->files), cmp_file);
	if (m->nnames)
		qsort(m->names, m->nnames, sizeof(*m->names), cmp_name);
	for (size_t i = 0; i < m->nprocs; i++) {
		struct mem_proc *p = &m->procs[i];
		if (p->core) {
			core = true;
			if (m->raw && p->ec.pid >= 0)
				p->pid = p->ec.pid;
			size_t from = m->nmaps;
			core_maps(m, p);
			apply_names(m, from);
			continue;
		}
		if (!p->have_mm)
			continue; /* a pagemap without its mm: nothing to map it to */
		criu = true;
		if (p->have_pm) {
			char b[64];
			snprintf(b, sizeof(b), "%scheckpoint/pages-%u.img", p->prefix, p->pm.pages_id);
			p->member = strdup(b);
			if (!p->member)
				abort();
		}
		criu_maps(m, p);
	}
	if (m->nmaps)
		qsort(m->maps, m->nmaps, sizeof(*m->maps), cmp_map);
	index_members(m);
	m->form = core && criu ? "ELF cores and CRIU images" : core ? "ELF core" : "CRIU images";
}

static int open_raw(struct az_mem *m, int fd, ai_err_t *err)
{
	m->raw = true;
	struct mem_proc *p = proc_get(m, -1, true, err);
	struct stat st;
	if (fstat(fd, &st) == 0)
		p->size = (int64_t)st.st_size;
	if (core_headers(m, p, NULL, fd, err) < 0)
		return ai_err_wrap(err, "%s", m->path);
	if (p->ec.skipped)
		note(m, "segments out of file order or overlapping: not read", "core");
	return 0;
}

static int open_archive(struct az_mem *m, ai_err_t *err)
{
	struct archive *a cleanup_archive = NULL;
	if (az_tar_open_file(&a, m->path, true, err) < 0)
		return -1;
	struct archive_entry *e;
	size_t count = 0;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (++count > 2000000u)
			return ai_err_set(err, 0, "%s: too many members", m->path);
		const char *name = archive_entry_pathname(e);
		if (!name || archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (open_member(m, a, e, strip_dot(name), err) < 0)
			return -1;
	}
	if (r != ARCHIVE_EOF)
		return ai_err_set(err, 0, "%s: unreadable archive after %zu members: %s", m->path, count,
				  archive_error_string(a) ? archive_error_string(a) : "error");
	return 0;
}

int az_mem_open(struct az_mem *m, const char *path, ai_err_t *err)
{
	memset(m, 0, sizeof(*m));
	m->path = path;
	int fd = az_open_regular(path, err);
	if (fd < 0)
		return -1;
	uint8_t head[64];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	int rc;
	if (n >= 18 && az_elfcore_magic(head, (size_t)n))
		rc = open_raw(m, fd, err);
	else if (n >= 4 && !memcmp(head,
				   "\x7f"
				   "ELF",
				   4))
		rc =
		    ai_err_set(err, 0, "%s: an ELF file but not a 64-bit little-endian core (ET_CORE)", path);
	else
		rc = open_archive(m, err);
	close(fd);
	if (rc < 0)
		return -1;
	build_maps(m);
	if (!m->nmaps)
		return ai_err_set(err, 0,
				  "%s: no process memory (no ELF core, memory/PID.core member or CRIU "
				  "checkpoint/mm-PID.img)%s%s",
				  path, m->notes[0] ? ": " : "", m->notes);
	return 0;
}

void az_mem_close(struct az_mem *m)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		az_elfcore_free(&m->procs[i].ec);
		az_criu_mm_free(&m->procs[i].mm);
		az_criu_pagemap_free(&m->procs[i].pm);
		free(m->procs[i].member);
	}
	free(m->procs);
	free(m->names);
	for (size_t i = 0; i < m->nfiles; i++)
		free(m->files[i].path);
	free(m->files);
	for (size_t i = 0; i < m->nmaps; i++)
		free(m->maps[i].path);
	free(m->maps);
	free(m->by_member);
	memset(m, 0, sizeof(*m));
}

/* ---- pass 2: the bytes */

struct core_fwd {
	int64_t pid;
	az_mem_data_fn fn;
	void *ud;
};

static int core_fwd(void *ud, uint64_t vaddr, const uint8_t *p, size_t n, ai_err_t *err)
{
	struct core_fwd *f = ud;
	return f->fn(f->ud, f->pid, vaddr, p, n, err);
}

/* One process's bytes from a reader (an archive member, or the raw file's fd). */
static int stream_proc(struct mem_proc *p, struct archive *a, int fd, az_mem_data_fn fn, void *ud,
		       ai_err_t *err)
{
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		abort();
	struct az_elfcore ec;
	az_elfcore_init(&ec);
	struct az_criu_pcur cur;
	az_criu_pcur_init(&cur, &p->pm);
	struct core_fwd fwd = {p->pid, fn, ud};
	uint64_t off = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = a ? archive_read_data(a, buf, CHUNK) : read(fd, buf, CHUNK);
		if (n < 0 && !a && errno == EINTR)
			continue;
		if (n < 0) {
			rc = a ? ai_err_set(err, 0, "%s", archive_error_string(a))
			       : ai_err_set(err, errno, "read");
			break;
		}
		if (n == 0)
			break;
		if (p->core) {
			if ((rc = az_elfcore_feed(&ec, buf, (size_t)n, core_fwd, &fwd, err)) < 0)
				break;
			continue;
		}
		for (size_t i = 0; i < (size_t)n;) {
			uint64_t va, run;
			if (!az_criu_pcur_at(&cur, off + i, (uint64_t)n - i, &va, &run))
				break; /* more pages than the pagemap says: not memory of any address */
			if ((rc = fn(ud, p->pid, va, buf + i, (size_t)run, err)) < 0)
				break;
			i += (size_t)run;
		}
		if (rc < 0)
			break;
		off += (uint64_t)n;
	}
	az_elfcore_free(&ec);
	free(buf);
	return rc;
}

int az_mem_stream(struct az_mem *m, int64_t pid, az_mem_data_fn fn, void *ud, ai_err_t *err)
{
	if (m->raw) {
		if (pid >= 0 && pid != m->procs[0].pid)
			return 0;
		int fd = az_open_regular(m->path, err);
		if (fd < 0)
			return -1;
		int rc = stream_proc(&m->procs[0], NULL, fd, fn, ud, err);
		close(fd);
		return rc < 0 ? ai_err_wrap(err, "%s", m->path) : 0;
	}
	struct archive *a cleanup_archive = NULL;
	if (az_tar_open_file(&a, m->path, true, err) < 0)
		return -1;
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);
		if (!name || archive_entry_filetype(e) != AE_IFREG)
			continue;
		name = strip_dot(name);
		struct mem_proc *p = proc_of_member(m, name);
		if (!p || (pid >= 0 && p->pid != pid))
			continue;
		if (stream_proc(p, a, -1, fn, ud, err) < 0)
			return ai_err_wrap(err, "%s: %s", m->path, name);
	}
	if (r != ARCHIVE_EOF)
		return ai_err_set(err, 0, "%s: unreadable archive: %s", m->path,
				  archive_error_string(a) ? archive_error_string(a) : "error");
	return 0;
}

struct rd {
	int64_t pid;
	uint64_t start;
	size_t len, got;
	uint8_t *out;
};

static int rd_fn(void *ud, int64_t pid, uint64_t vaddr, const uint8_t *p, size_t n, ai_err_t *err)
{
	struct rd *r = ud;
	uint64_t end = r->start + r->len;
	if (pid != r->pid || vaddr >= end || vaddr + n <= r->start)
		return 0;
	uint64_t lo = vaddr > r->start ? vaddr : r->start, hi = vaddr + n < end ? vaddr + n : end;
	memcpy(r->out + (lo - r->start), p + (lo - vaddr), (size_t)(hi - lo));
	r->got += (size_t)(hi - lo);
	return 0;
}

int az_mem_read(struct az_mem *m, int64_t pid, uint64_t start, size_t len, uint8_t *out, size_t *got,
		ai_err_t *err)
{
	memset(out, 0, len);
	if (start > UINT64_MAX - len)
		return ai_err_set(err, 0, "range past the end of the address space");
	struct rd r = {pid, start, len, 0, out};
	int rc = az_mem_stream(m, pid, rd_fn, &r, err);
	*got = r.got;
	return rc;
}

/* ---- command lines for the checkpoint reader */

struct cl_proc {
	int64_t pid;
	bool have_mm, have_pm;
	uint64_t arg_start, arg_end, env_start, env_end;
	struct az_criu_pagemap pm;
	struct az_criu_grab g, env;
};

struct az_criu_cmdlines {
	struct cl_proc *p;
	size_t n;
	size_t lookups; /* pages images looked up: bounded, so a hostile archive's millions cost nothing */
};

struct az_criu_cmdlines *az_criu_cmdlines_new(void)
{
	struct az_criu_cmdlines *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	return c;
}

void az_criu_cmdlines_free(struct az_criu_cmdlines *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		az_criu_pagemap_free(&c->p[i].pm);
		az_criu_grab_free(&c->p[i].g);
		az_criu_grab_free(&c->p[i].env);
	}
	free(c->p);
	free(c);
}

static struct cl_proc *cl_get(struct az_criu_cmdlines *c, int64_t pid)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->p[i].pid == pid)
			return &c->p[i];
	if (c->n >= AZ_MEM_MAX_PROCS)
		return NULL;
	if (!(c->n & (c->n - 1)) || !c->n) {
		c->p = realloc(c->p, (c->n ? c->n * 2 : 1) * sizeof(*c->p));
		if (!c->p)
			abort();
	}
	struct cl_proc *p = &c->p[c->n++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

static void cl_pages(struct az_criu_cmdlines *c, struct archive *a, int64_t id)
{
	struct cl_proc *p = NULL;
	if (++c->lookups > AZ_MEM_MAX_PROCS)
		return;
	for (size_t i = 0; i < c->n && !p; i++)
		if (c->p[i].have_mm && c->p[i].have_pm && !c->p[i].g.buf && c->p[i].pm.pages_id == id)
			p = &c->p[i];
	if (!p)
		return;
	az_criu_grab_init(&p->g, p->arg_start, p->arg_end);
	az_criu_grab_init(&p->env, p->env_start, p->env_end);
	if (!p->g.buf && !p->env.buf)
		return;
	uint64_t stop = p->g.end > p->env.end ? p->g.end : p->env.end;
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		abort();
	struct az_criu_pcur cur;
	az_criu_pcur_init(&cur, &p->pm);
	uint64_t off = 0, last = 0;
	la_ssize_t n;
	/* CRIU writes the pagemap sorted: once past the range, the rest of the member is skipped by
	 * the next header, unread */
	while (last < stop && (n = archive_read_data(a, buf, CHUNK)) > 0) {
		for (size_t i = 0; i < (size_t)n;) {
			uint64_t va, run;
			if (!az_criu_pcur_at(&cur, off + i, (uint64_t)n - i, &va, &run))
				break;
			az_criu_grab_feed(&p->g, va, buf + i, (size_t)run);
			az_criu_grab_feed(&p->env, va, buf + i, (size_t)run);
			last = va + run;
			i += (size_t)run;
		}
		off += (uint64_t)n;
	}
	free(buf);
}

bool az_criu_cmdlines_member(struct az_criu_cmdlines *c, struct archive *a, const char *base)
{
	int64_t pid;
	bool mm = num_name(base, "mm-", ".img", &pid), pm = !mm && num_name(base, "pagemap-", ".img", &pid);
	if (!mm && !pm) {
		if (num_name(base, "pages-", ".img", &pid))
			cl_pages(c, a, pid);
		return num_name(base, "pages-", ".img", &pid);
	}
	struct cl_proc *p = cl_get(c, pid);
	if (!p)
		return true;
	/* read with the same bound as the memory command's images */
	cleanup_buf struct ai_buf b;
	ai_buf_init(&b);
	uint8_t chunk[8192];
	la_ssize_t n;
	while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0 && b.len <= AZ_MEM_MAX_IMAGE)
		ai_buf_add(&b, chunk, (size_t)n);
	if (n < 0 || b.len > AZ_MEM_MAX_IMAGE)
		return true;
	const uint8_t *doc = (const uint8_t *)b.data;
	size_t len = b.len;
	ai_err_t err;
	if (mm && !p->have_mm) {
		struct az_criu_mm x;
		if (az_criu_mm_read(doc, len, &x, &err) == 0) {
			p->arg_start = x.arg_start;
			p->arg_end = x.arg_end;
			p->env_start = x.env_start;
			p->env_end = x.env_end;
			p->have_mm = true;
			az_criu_mm_free(&x);
		}
	} else if (pm && !p->have_pm) {
		p->have_pm = az_criu_pagemap_read(doc, len, &p->pm, &err) == 0;
	}
	return true;
}

bool az_criu_cmdlines_pending(const struct az_criu_cmdlines *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->p[i].have_mm && c->p[i].have_pm && !c->p[i].g.buf &&
		    c->p[i].arg_end > c->p[i].arg_start)
			return true;
	return false;
}

static const uint8_t *grabbed(const struct az_criu_cmdlines *c, int64_t pid, bool env, size_t *len)
{
	for (size_t i = 0; c && i < c->n; i++) {
		const struct az_criu_grab *g = env ? &c->p[i].env : &c->p[i].g;
		if (c->p[i].pid != pid || !g->buf || !g->got)
			continue;
		*len = (size_t)(g->end - g->start);
		return g->buf;
	}
	return NULL;
}

const uint8_t *az_criu_mm_cmdline(const struct az_criu_cmdlines *c, int64_t pid, size_t *len)
{
	return grabbed(c, pid, false, len);
}

const uint8_t *az_criu_mm_environ(const struct az_criu_cmdlines *c, int64_t pid, size_t *len)
{
	return grabbed(c, pid, true, len);
}

/* ---- the memory command */

struct mem_filter {
	int64_t pid; /* -1: all */
	unsigned prot_on, prot_off;
	const char *vma;
	uint64_t lo, hi; /* --addr, [lo, hi) */
};

struct hit_ctx {
	const struct az_mem *m;
	const struct mem_filter *f;
	const struct az_opts *o;
	/* what is searched */
	const char *needle;
	size_t nlen, maxlen, ctx;
	regex_t re;
	bool regex;
	/* the current run: contiguous bytes of one mapping */
	size_t map;
	bool active;
	uint64_t wbase;
	uint8_t *win;
	size_t wlen, cap, scan;
	/* output */
	struct ai_buf out;
	struct ai_json j;
	uint64_t hits;
	bool capped;
};

static bool vma_match(const struct az_mem_map *x, const char *v)
{
	if (!v)
		return true;
	if (!strcmp(v, "anon"))
		return !strcmp(x->kind, "anon") || !strcmp(x->kind, "heap") || !strcmp(x->kind, "stack") ||
		       !strcmp(x->kind, "shm");
	if (!strcmp(v, "heap") || !strcmp(v, "stack") || !strcmp(v, "file"))
		return !strcmp(x->kind, v) || (!strcmp(v, "file") && !strcmp(x->kind, "memfd"));
	if (!x->path)
		return false;
	size_t l = strlen(v);
	if (x->pathlen == l && !memcmp(x->path, v, l))
		return true;
	/* a bare name matches the last component */
	return !strchr(v, '/') && x->pathlen > l && x->path[x->pathlen - l - 1] == '/' &&
	       !memcmp(x->path + x->pathlen - l, v, l);
}

static bool map_selected(const struct az_mem_map *x, const struct mem_filter *f)
{
	return (f->pid < 0 || x->pid == f->pid) && (x->prot & f->prot_on) == f->prot_on &&
	       !(x->prot & f->prot_off) && vma_match(x, f->vma) && x->end > f->lo && x->start < f->hi;
}

static void prot_str(unsigned p, char out[4])
{
	out[0] = p & AZ_MEM_R ? 'r' : '-';
	out[1] = p & AZ_MEM_W ? 'w' : '-';
	out[2] = p & AZ_MEM_X ? 'x' : '-';
	out[3] = '\0';
}

static void json_map(struct ai_json *j, const struct az_mem_map *x, const char *layer)
{
	char b[32], pr[4];
	ai_json_kint(j, "pid", x->pid);
	snprintf(b, sizeof(b), "0x%llx", (unsigned long long)x->start);
	ai_json_kstr(j, "start", b);
	snprintf(b, sizeof(b), "0x%llx", (unsigned long long)x->end);
	ai_json_kstr(j, "end", b);
	ai_json_kuint(j, "size", x->end - x->start);
	prot_str(x->prot, pr);
	ai_json_kstr(j, "prot", pr);
	ai_json_kstr(j, "kind", x->kind);
	if (x->path)
		ai_json_kbytes(j, "path", x->path, x->pathlen);
	else
		ai_json_kstr(j, "path", NULL);
	ai_json_kuint(j, "dumped", x->dumped);
	if (layer)
		ai_json_kstr(j, "origin", layer);
}

/* --image: "layer N", "upper" (added or modified in the container), "-" */
static void origin_of(const struct az_attr *attr, const struct az_mem_map *x, char *out, size_t outlen)
{
	struct az_origin o;
	if (!attr || !x->path || !az_attr_lookup(attr, x->path, x->pathlen, &o)) {
		snprintf(out, outlen, "-");
		return;
	}
	if (o.status == AZ_ST_ADDED || o.status == AZ_ST_MODIFIED || o.status == AZ_ST_REPLACED)
		snprintf(out, outlen, "upper (%s)", az_status_name(o.status));
	else if (o.layer)
		snprintf(out, outlen, "layer %d", o.layer);
	else
		snprintf(out, outlen, "%s", az_status_name(o.status));
}

/* --image: each map's file in the attribution of its process's container (a pod's containers
 * each over their own image). */
static const struct az_attr *map_attr(const struct az_ctx *c, const struct az_mem_map *x)
{
	if (!c)
		return NULL;
	const struct az_proc *p = az_model_proc(&c->m, x->pid);
	return az_attrs_of(&c->attrs, p ? p->ct : 0);
}

static void list_maps(const struct az_mem *m, const struct mem_filter *f, const struct az_ctx *c, bool json,
		      struct ai_buf *out)
{
	const struct az_attr *attr = c ? c->attr : NULL;
	struct ai_json j;
	if (json) {
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		ai_json_kstr(&j, "source", m->form);
		ai_json_key(&j, "maps");
		ai_json_arr_begin(&j);
	} else {
		ai_buf_printf(out, "%-7s %-33s %12s %-4s %-8s %12s %s%s\n", "PID", "START-END", "SIZE",
			      "PROT", "KIND", "DUMPED", attr ? "ORIGIN        " : "", "PATH");
	}
	for (size_t i = 0; i < m->nmaps; i++) {
		const struct az_mem_map *x = &m->maps[i];
		if (!map_selected(x, f))
			continue;
		char org[64], pr[4];
		origin_of(map_attr(c, x), x, org, sizeof(org));
		if (json) {
			ai_json_obj_begin(&j);
			json_map(&j, x, attr ? org : NULL);
			ai_json_obj_end(&j);
			continue;
		}
		prot_str(x->prot, pr);
		ai_buf_printf(out, "%-7lld %016llx-%016llx %12llu %-4s %-8s %12llu ", (long long)x->pid,
			      (unsigned long long)x->start, (unsigned long long)x->end,
			      (unsigned long long)(x->end - x->start), pr, x->kind,
			      (unsigned long long)x->dumped);
		if (attr)
			ai_buf_printf(out, "%-14s", org);
		if (x->path)
			az_esc_text(out, x->path, x->pathlen);
		else
			ai_buf_addc(out, '-');
		ai_buf_addc(out, '\n');
	}
	if (json) {
		ai_json_arr_end(&j);
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
	}
}

/* ---- search: a sliding window over each run, so a match across chunk boundaries is found */

static void hexdump(struct ai_buf *out, uint64_t base, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		ai_buf_printf(out, "  %016llx ", (unsigned long long)(base + i));
		for (size_t k = 0; k < 16; k++) {
			if (i + k < n)
				ai_buf_printf(out, " %02x", p[i + k]);
			else
				ai_buf_adds(out, "   ");
		}
		ai_buf_adds(out, "  |");
		for (size_t k = 0; k < 16 && i + k < n; k++)
			ai_buf_addc(out, p[i + k] >= 0x20 && p[i + k] < 0x7f ? (char)p[i + k] : '.');
		ai_buf_adds(out, "|\n");
	}
}

static int flush_out(struct hit_ctx *h, ai_err_t *err)
{
	if (h->out.len < (1u << 20))
		return 0;
	int rc = az_write_stdout(&h->out, err);
	ai_buf_reset(&h->out);
	return rc;
}

static int report(struct hit_ctx *h, size_t pos, size_t len, ai_err_t *err)
{
	if (h->hits >= AZ_MEM_MAX_HITS) {
		h->capped = true;
		return 0;
	}
	h->hits++;
	const struct az_mem_map *x = &h->m->maps[h->map];
	uint64_t addr = h->wbase + pos;
	size_t c0 = pos > h->ctx ? pos - h->ctx : 0;
	size_t c1 = pos + len + h->ctx < h->wlen ? pos + len + h->ctx : h->wlen;
	char pr[4];
	prot_str(x->prot, pr);
	if (h->o->json) {
		struct ai_json *j = &h->j;
		char b[32];
		ai_json_obj_begin(j);
		ai_json_kint(j, "pid", x->pid);
		snprintf(b, sizeof(b), "0x%llx", (unsigned long long)addr);
		ai_json_kstr(j, "address", b);
		ai_json_kuint(j, "length", len);
		ai_json_kbytes(j, "match", (const char *)h->win + pos, len);
		ai_json_key(j, "map");
		ai_json_obj_begin(j);
		json_map(j, x, NULL);
		ai_json_obj_end(j);
		snprintf(b, sizeof(b), "0x%llx", (unsigned long long)(h->wbase + c0));
		ai_json_kstr(j, "context_start", b);
		cleanup_buf struct ai_buf hx;
		ai_buf_init(&hx);
		for (size_t i = c0; i < c1; i++)
			ai_buf_printf(&hx, "%02x", h->win[i]);
		ai_json_kstr(j, "context_hex", ai_buf_cstr(&hx));
		ai_json_obj_end(j);
	} else {
		ai_buf_printf(&h->out, "pid %lld  0x%016llx  +0x%llx in %016llx-%016llx %s %s ",
			      (long long)x->pid, (unsigned long long)addr,
			      (unsigned long long)(addr - x->start), (unsigned long long)x->start,
			      (unsigned long long)x->end, pr, x->kind);
		if (x->path)
			az_esc_text(&h->out, x->path, x->pathlen);
		ai_buf_printf(&h->out, "  (%zu bytes)\n", len);
		hexdump(&h->out, h->wbase + c0, h->win + c0, c1 - c0);
	}
	return flush_out(h, err);
}

/* Matches starting before limit: every one whose bytes (and context) the window holds. */
static int scan(struct hit_ctx *h, bool final, ai_err_t *err)
{
	size_t keep = h->maxlen + h->ctx;
	size_t limit = final ? h->wlen : h->wlen > keep ? h->wlen - keep : 0;
	while (h->scan < limit) {
		size_t pos, len;
		if (!h->regex) {
			size_t span = limit + h->nlen - 1 < h->wlen ? limit + h->nlen - 1 : h->wlen;
			const uint8_t *q = span > h->scan
					       ? memmem(h->win + h->scan, span - h->scan, h->needle, h->nlen)
					       : NULL;
			if (!q)
				break;
			pos = (size_t)(q - h->win);
			len = h->nlen;
		} else {
			regmatch_t pm[1] = {{.rm_so = (regoff_t)h->scan, .rm_eo = (regoff_t)h->wlen}};
			int fl =
			    REG_STARTEND | (h->scan || h->wbase != h->m->maps[h->map].start ? REG_NOTBOL : 0);
			if (regexec(&h->re, (const char *)h->win, 1, pm, fl) || (size_t)pm[0].rm_so >= limit)
				break;
			pos = (size_t)pm[0].rm_so;
			len = (size_t)(pm[0].rm_eo - pm[0].rm_so);
		}
		if (report(h, pos, len, err) < 0)
			return -1;
		h->scan = pos + (len ? len : 1);
	}
	if (h->scan < limit)
		h->scan = limit;
	return 0;
}

static int run_end(struct hit_ctx *h, ai_err_t *err)
{
	if (!h->active)
		return 0;
	h->active = false;
	return scan(h, true, err);
}

static int run_add(struct hit_ctx *h, size_t map, uint64_t va, const uint8_t *p, size_t n, ai_err_t *err)
{
	if (!h->active || h->map != map || va != h->wbase + h->wlen) {
		if (run_end(h, err) < 0)
			return -1;
		h->active = true;
		h->map = map;
		h->wbase = va;
		h->wlen = h->scan = 0;
	}
	while (n) {
		if (h->wlen == h->cap) { /* slide: keep the context before the next start */
			size_t drop = h->scan > h->ctx ? h->scan - h->ctx : 0;
			memmove(h->win, h->win + drop, h->wlen - drop);
			h->wlen -= drop;
			h->scan -= drop;
			h->wbase += drop;
		}
		size_t take = h->cap - h->wlen < n ? h->cap - h->wlen : n;
		memcpy(h->win + h->wlen, p, take);
		h->wlen += take;
		p += take;
		n -= take;
		if (scan(h, false, err) < 0)
			return -1;
	}
	return 0;
}

/* The first selected mapping of pid that ends after va, by binary search. */
static size_t first_map(const struct az_mem *m, int64_t pid, uint64_t va)
{
	size_t lo = 0, hi = m->nmaps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct az_mem_map *x = &m->maps[mid];
		if (x->pid < pid || (x->pid == pid && x->end <= va))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int on_data(void *ud, int64_t pid, uint64_t va, const uint8_t *p, size_t n, ai_err_t *err)
{
	struct hit_ctx *h = ud;
	if (va > UINT64_MAX - n)
		n = (size_t)(UINT64_MAX - va);
	for (size_t i = first_map(h->m, pid, va); i < h->m->nmaps; i++) {
		const struct az_mem_map *x = &h->m->maps[i];
		if (x->pid != pid || x->start >= va + n)
			break;
		if (!map_selected(x, h->f))
			continue;
		uint64_t lo = x->start > va ? x->start : va, hi = x->end < va + n ? x->end : va + n;
		if (lo < h->f->lo)
			lo = h->f->lo;
		if (hi > h->f->hi)
			hi = h->f->hi;
		if (hi > lo && run_add(h, i, lo, p + (lo - va), (size_t)(hi - lo), err) < 0)
			return -1;
	}
	return 0;
}

static int search(struct az_mem *m, const struct mem_filter *f, struct az_opts *o, ai_err_t *err)
{
	struct hit_ctx *h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	h->m = m;
	h->f = f;
	h->o = o;
	h->ctx = o->context ? strtoul(o->context, NULL, 10) : 64;
	if (o->regex) {
		int rc = regcomp(&h->re, o->regex, REG_EXTENDED);
		if (rc) {
			char msg[256];
			regerror(rc, &h->re, msg, sizeof(msg));
			free(h);
			return ai_err_set(err, 0, "--regex: %s", msg);
		}
		h->regex = true;
		h->maxlen = AZ_MEM_MAX_MATCH;
	} else {
		h->needle = o->search;
		h->nlen = strlen(o->search);
		h->maxlen = h->nlen;
	}
	h->cap = CHUNK + h->maxlen + 2 * h->ctx;
	h->win = malloc(h->cap);
	if (!h->win)
		abort();
	ai_buf_init(&h->out);
	if (o->json) {
		ai_json_init(&h->j, &h->out);
		ai_json_obj_begin(&h->j);
		ai_json_kstr(&h->j, "source", m->form);
		ai_json_key(&h->j, "matches");
		ai_json_arr_begin(&h->j);
	}
	int rc = az_mem_stream(m, f->pid, on_data, h, err);
	if (!rc)
		rc = run_end(h, err);
	if (!rc && o->json) {
		ai_json_arr_end(&h->j);
		ai_json_kuint(&h->j, "count", h->hits);
		ai_json_kbool(&h->j, "capped", h->capped);
		ai_json_obj_end(&h->j);
		ai_buf_addc(&h->out, '\n');
	}
	if (!rc)
		rc = az_write_stdout(&h->out, err);
	if (!rc && !o->json && !o->quiet)
		ai_eprintf(NULL, "%llu match%s%s", (unsigned long long)h->hits, h->hits == 1 ? "" : "es",
			   h->capped ? " (more not shown: the limit)" : "");
	if (h->regex)
		regfree(&h->re);
	ai_buf_free(&h->out);
	free(h->win);
	free(h);
	return rc;
}

static bool parse_u64(const char *s, int base, uint64_t *out)
{
	if (!s || !*s)
		return false;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end || *s == '-')
		return false;
	*out = v;
	return true;
}

static int usage_err(const char *msg, const char *arg)
{
	ai_eprintf("afterimage-analyze memory", "%s%s", msg, arg ? arg : "");
	return AZ_EXIT_USAGE;
}

static int parse_filter(const struct az_opts *o, struct mem_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->pid = -1;
	f->hi = UINT64_MAX;
	f->vma = o->vma;
	uint64_t v;
	if (o->pid) {
		if (!parse_u64(o->pid, 10, &v) || v > INT32_MAX)
			return usage_err("--pid: not a process id: ", o->pid);
		f->pid = (int64_t)v;
	}
	if (o->context && (!parse_u64(o->context, 10, &v) || v > AZ_MEM_MAX_CTX))
		return usage_err("--context: a byte count from 0 to 4096, not ", o->context);
	if (o->search && o->regex)
		return usage_err("--search and --regex: one or the other", NULL);
	if (o->maps && (o->search || o->regex))
		return usage_err("--maps lists, --search and --regex search: one or the other", NULL);
	if (o->search && (!*o->search || strlen(o->search) > AZ_MEM_MAX_MATCH))
		return usage_err("--search: from 1 to 4096 bytes", NULL);
	if (o->prot) {
		const char *p = o->prot;
		bool exact = strlen(p) == 3 && strchr("r-", p[0]) && strchr("w-", p[1]) && strchr("x-", p[2]);
		for (size_t i = 0; p[i]; i++) {
			unsigned bit = p[i] == 'r'   ? AZ_MEM_R
				       : p[i] == 'w' ? AZ_MEM_W
				       : p[i] == 'x' ? AZ_MEM_X
						     : 0;
			if (!bit && p[i] != '-')
				return usage_err("--prot: letters r, w, x (or rwx with - for absent), not ",
						 p);
			f->prot_on |= bit;
		}
		if (exact)
			f->prot_off = (AZ_MEM_R | AZ_MEM_W | AZ_MEM_X) & ~f->prot_on;
	}
	if (o->addr) {
		char lo[32], *dash = strchr(o->addr, '-');
		size_t l = dash ? (size_t)(dash - o->addr) : 0;
		if (!dash || l >= sizeof(lo))
			return usage_err("--addr: START-END in hex, not ", o->addr);
		memcpy(lo, o->addr, l);
		lo[l] = '\0';
		if (!parse_u64(lo, 16, &f->lo) || !parse_u64(dash + 1, 16, &f->hi) || f->hi <= f->lo)
			return usage_err("--addr: START-END in hex with START < END, not ", o->addr);
	}
	return 0;
}

int az_cmd_memory(struct az_opts *o)
{
	struct mem_filter f;
	int rc = parse_filter(o, &f);
	if (rc)
		return rc;
	struct az_mem m;
	ai_err_t err;
	if (az_mem_open(&m, o->bundle, &err) < 0) {
		az_mem_close(&m);
		ai_eprintf("afterimage-analyze", "memory: %s", err.msg);
		return AZ_EXIT_INPUT;
	}
	if (m.notes[0] && !o->quiet)
		ai_eprintf(NULL, "warning: %s: %zu item%s not used: %s", o->bundle, m.skipped,
			   m.skipped == 1 ? "" : "s", m.notes);
	rc = 0;
	if (o->search || o->regex) {
		if (search(&m, &f, o, &err) < 0) {
			ai_eprintf("afterimage-analyze", "memory: %s", err.msg);
			rc = AZ_EXIT_INPUT;
		}
		az_mem_close(&m);
		return rc;
	}
	struct az_ctx c;
	bool have_ctx = false;
	if (o->image) {
		if (m.raw) {
			az_mem_close(&m);
			return usage_err("--image: needs a bundle or checkpoint archive, not a core file",
					 NULL);
		}
		int lrc = az_ctx_load(&c, o->bundle, o->images, o->nimages, o->progress, &err);
		if (lrc < 0) {
			az_ctx_free(&c);
			az_mem_close(&m);
			ai_eprintf("afterimage-analyze", "memory: %s", err.msg);
			return lrc == -2 ? AZ_EXIT_USAGE : AZ_EXIT_INPUT; /* -2: a NAME of no container */
		}
		have_ctx = true;
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	list_maps(&m, &f, have_ctx ? &c : NULL, o->json, &out);
	if (have_ctx)
		az_ctx_free(&c);
	az_mem_close(&m);
	if (az_write_stdout(&out, &err) < 0) {
		ai_eprintf("afterimage-analyze", "memory: %s", err.msg);
		return AZ_EXIT_INPUT;
	}
	return 0;
}
