/* ELF core files (ET_CORE, 64-bit little-endian: what gdb's gcore, the kernel and afterimage's
 * memory capture write), read as a stream: bytes are pushed in file order, in pieces of any size,
 * and never held beyond the headers and notes. The program headers give the PT_LOAD segments
 * (address, size, flags, the bytes present in the file); the notes give NT_FILE (the path behind
 * each file-backed range), NT_PRPSINFO (pid, name, arguments), NT_PRSTATUS (each thread's pid and,
 * on x86_64, its stack pointer) and NT_AUXV (AT_PHDR, AT_ENTRY). Segment data goes to a callback
 * with its virtual address. Hostile input: every count and size is bounded, segments out of file
 * order or overlapping are skipped and counted, a file cut short is reported, never fatal. */
#ifndef AZ_ELFCORE_H
#define AZ_ELFCORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

#define AZ_ELF_MAX_PHNUM   65535u      /* e_phnum (PN_XNUM cores are refused) */
#define AZ_ELF_MAX_HDR	   (4u << 20)  /* e_phoff + the program headers */
#define AZ_ELF_MAX_NOTES   (16u << 20) /* all PT_NOTE segments together */
#define AZ_ELF_MAX_FILES   1000000u    /* NT_FILE entries */
#define AZ_ELF_MAX_THREADS 100000u     /* NT_PRSTATUS notes */

struct az_elf_seg {
	uint64_t vaddr, memsz, off, filesz;
	uint32_t type, flags; /* PT_*, PF_X 1 | PF_W 2 | PF_R 4 */
	bool skipped;	      /* out of file order or overlapping another: its data is not read */
};

struct az_elf_file {
	uint64_t start, end, pgoff; /* pgoff in bytes */
	char *path;		    /* NUL-terminated, may hold any other byte */
	size_t len;
};

struct az_elfcore {
	/* what was read */
	uint16_t machine;
	struct az_elf_seg *segs; /* in program-header order */
	size_t nsegs, skipped;
	struct az_elf_file *files;
	size_t nfiles;
	int64_t pid; /* NT_PRPSINFO's, else the first NT_PRSTATUS's; -1 */
	char fname[17], psargs[81];
	int64_t *tids;
	uint64_t *sps;	      /* stack pointers of the threads (0 when not known) */
	uint64_t *sps_sorted; /* the same, sorted, once headers_done */
	size_t nthreads;
	uint64_t at_phdr, at_entry;
	bool headers_done; /* program headers and every note read: the maps are known */
	bool truncated;	   /* set by az_elfcore_end when the file ended before a segment's end */
	/* the stream */
	uint64_t pos;
	uint8_t *hdr;
	size_t hdrlen, hdrwant;
	size_t *order;	     /* segment indexes by file offset */
	size_t norder, next; /* order: its length, the segment being read */
	uint8_t *notes;
	size_t noteslen, notes_pending;
};

void az_elfcore_init(struct az_elfcore *c);
void az_elfcore_free(struct az_elfcore *c);
/* Is this the start of an ELF core (the magic, 64-bit LSB, ET_CORE)? */
bool az_elfcore_magic(const uint8_t *p, size_t n);
/* Push the next n bytes of the file. Bytes of PT_LOAD segments go to data (may be NULL: headers
 * only) with their address. 0, or -1 (err set: not an ELF core, or headers beyond the bounds). */
typedef int (*az_elf_data_fn)(void *ud, uint64_t vaddr, const uint8_t *p, size_t n, ai_err_t *err);
int az_elfcore_feed(struct az_elfcore *c, const uint8_t *p, size_t n, az_elf_data_fn data, void *ud,
		    ai_err_t *err);
/* The file ended: 0, or -1 when not even the headers were there; truncated says whether
 * segments were cut. */
int az_elfcore_end(struct az_elfcore *c, ai_err_t *err);
/* The NT_FILE entry holding addr, or NULL (files are sorted by start once read). */
const struct az_elf_file *az_elfcore_file_at(const struct az_elfcore *c, uint64_t addr);
/* Does a thread's stack pointer lie in [start, end)? (once headers_done) */
bool az_elfcore_sp_in(const struct az_elfcore *c, uint64_t start, uint64_t end);

#endif
