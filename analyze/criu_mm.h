/* CRIU's memory images, decoded on their own like the rest of criu.h: mm-PID.img (the VMAs and
 * the argument and environment ranges), pagemap-PID.img (which pages are in pages-ID.img, in
 * order) and files.img / reg-files.img (a regular file's id to its path, for file-backed VMAs and
 * the exe). No libarchive, no model: bytes in, plain structs out, every count bounded by the
 * image's own size. pages-ID.img itself is raw pages, streamed by the caller through a cursor
 * (az_criu_pcur) that turns an offset in it into a virtual address. docs/memory.md names every
 * field used. */
#ifndef AZ_CRIU_MM_H
#define AZ_CRIU_MM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

#define AZ_CRIU_MM_MAGIC       0x57492820u
#define AZ_CRIU_PAGEMAP_MAGIC  0x56084025u
#define AZ_CRIU_FILES_MAGIC    0x56303138u
#define AZ_CRIU_REGFILES_MAGIC 0x50363636u
#define AZ_CRIU_PAGE	       4096u

/* vma_entry.status bits (CRIU's criu/include/image.h) */
#define AZ_VMA_REGULAR	    (1u << 0)
#define AZ_VMA_STACK	    (1u << 1)
#define AZ_VMA_VSYSCALL	    (1u << 2)
#define AZ_VMA_VDSO	    (1u << 3)
#define AZ_VMA_HEAP	    (1u << 5)
#define AZ_VMA_FILE_PRIVATE (1u << 6)
#define AZ_VMA_FILE_SHARED  (1u << 7)
#define AZ_VMA_ANON_SHARED  (1u << 8)
#define AZ_VMA_ANON_PRIVATE (1u << 9)
#define AZ_VMA_SYSVIPC	    (1u << 10)
#define AZ_VMA_SOCKET	    (1u << 11)
#define AZ_VMA_VVAR	    (1u << 12)
#define AZ_VMA_AIORING	    (1u << 13)
#define AZ_VMA_MEMFD	    (1u << 14)

/* pagemap_entry.flags bits (criu/include/pagemap.h) */
#define AZ_PE_PARENT  (1u << 0)
#define AZ_PE_LAZY    (1u << 1)
#define AZ_PE_PRESENT (1u << 2)

struct az_criu_vma {
	uint64_t start, end, pgoff, shmid; /* shmid: the file id of a file-backed VMA */
	uint32_t prot, flags, status;	   /* PROT_*, MAP_*, AZ_VMA_* */
};

struct az_criu_mm {
	uint64_t start_stack, arg_start, arg_end, env_start, env_end;
	uint32_t exe_file_id;
	bool have_exe;
	struct az_criu_vma *vmas; /* in the image's order (CRIU writes them sorted) */
	size_t nvmas;
};
/* The first entry of an mm image into *out (vmas malloc'ed): 0, or -1 (err says what). */
int az_criu_mm_read(const uint8_t *d, size_t len, struct az_criu_mm *out, ai_err_t *err);
void az_criu_mm_free(struct az_criu_mm *mm);

struct az_criu_pme {
	uint64_t vaddr, nr_pages; /* nr_pages: the 64-bit field 5 when there, else the 32-bit field 2 */
	uint32_t flags;		  /* AZ_PE_*, as CRIU reads an old image when absent */
	bool present;		  /* its pages are in pages-ID.img (else zero, in a parent, or lazy) */
};
struct az_criu_pagemap {
	uint32_t pages_id; /* pages-<pages_id>.img holds the present pages */
	struct az_criu_pme *e;
	size_t n;
	uint64_t present_pages;
};
/* pagemap_head, then every pagemap_entry: 0, or -1. Entries are refused when a range overflows
 * the address space or has no pages. */
int az_criu_pagemap_read(const uint8_t *d, size_t len, struct az_criu_pagemap *out, ai_err_t *err);
void az_criu_pagemap_free(struct az_criu_pagemap *pm);

/* A walk over pages-ID.img in stream order: at offset off (the bytes streamed so far), the
 * address it holds and how many bytes from there stay contiguous (at most avail). Offsets must
 * only grow. false when off is past the last present page (the image holds more than its
 * pagemap says). */
struct az_criu_pcur {
	const struct az_criu_pagemap *pm;
	size_t i;      /* current entry */
	uint64_t base; /* pages-image offset of entry i */
};
void az_criu_pcur_init(struct az_criu_pcur *c, const struct az_criu_pagemap *pm);
bool az_criu_pcur_at(struct az_criu_pcur *c, uint64_t off, uint64_t avail, uint64_t *vaddr, uint64_t *run);

/* files.img (file_entry with reg) or an older reg-files.img (reg_file_entry): each regular file's
 * id and path to each(). */
typedef int (*az_criu_reg_fn)(void *ud, uint32_t id, const uint8_t *name, size_t len, ai_err_t *err);
int az_criu_regfiles_read(const uint8_t *d, size_t len, az_criu_reg_fn each, void *ud, ai_err_t *err);

/* Bytes of [start, end) out of the pages as they stream by: the command line (mm_arg_start ..
 * mm_arg_end) and environment of a process. Capped at AZ_CRIU_MAX_ARGS; bytes in no present page
 * stay zero and are counted missing. */
#define AZ_CRIU_MAX_ARGS (256u << 10)
struct az_criu_grab {
	uint64_t start, end; /* end clamped to start + AZ_CRIU_MAX_ARGS */
	uint8_t *buf;
	uint64_t got; /* bytes copied in, at most end - start */
};
void az_criu_grab_init(struct az_criu_grab *g, uint64_t start, uint64_t end);
void az_criu_grab_feed(struct az_criu_grab *g, uint64_t vaddr, const uint8_t *p, size_t n);
void az_criu_grab_free(struct az_criu_grab *g);

#endif
