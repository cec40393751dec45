/* Process memory in evidence, behind one small interface whatever holds it: ELF cores (a raw core
 * file, or bundle members memory/PID.core: elfcore.c) and CRIU images (checkpoint/mm-PID.img,
 * pagemap-PID.img, pages-ID.img of a checkpoint archive or a bundle's checkpoint/: criu_mm.c).
 * az_mem_open makes one pass that reads only headers and the small images (the mappings);
 * az_mem_stream makes another that streams every dumped byte in file order, 64 KiB at a time:
 * memory stays bounded whatever the size of a core or a pages image. The `memory` command
 * (az_cmd_memory, cli.h) lists, filters and searches on top of it. */
#ifndef AZ_MEMORY_H
#define AZ_MEMORY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

struct archive;

#define AZ_MEM_MAX_IMAGE (64u << 20) /* one mm, pagemap or files image */
#define AZ_MEM_MAX_PROCS 10000u	     /* processes with memory in one input */
#define AZ_MEM_MAX_NAMES 1000000u    /* named mappings read from memory/index.json */
#define AZ_MEM_MAX_INDEX (32u << 20) /* memory/index.json: a few hundred bytes a mapping */
#define AZ_MEM_MAX_CTX	 4096u	     /* --context */
#define AZ_MEM_MAX_MATCH 4096u	     /* longest match --regex finds whole */
#define AZ_MEM_MAX_HITS	 100000u     /* matches printed */

#define AZ_MEM_R 1u
#define AZ_MEM_W 2u
#define AZ_MEM_X 4u

struct az_mem_map {
	int64_t pid;
	uint64_t start, end;
	uint64_t dumped;  /* bytes of it the evidence holds */
	unsigned prot;	  /* AZ_MEM_R | W | X */
	const char *kind; /* heap, stack, anon, shm, file, memfd, vdso, vvar, vsyscall, other */
	char *path;	  /* the file behind it, NUL-terminated; NULL when none */
	size_t pathlen;
};

struct mem_proc;
struct mem_file;
struct mem_name;
struct az_mem {
	const char *path;
	const char *form; /* "ELF core", "CRIU images", "ELF cores and CRIU images" */
	bool raw;	  /* path is an ELF core file itself, not an archive */
	struct mem_proc *procs;
	size_t nprocs;
	struct mem_file *files; /* by id, after the first pass */
	size_t nfiles;
	size_t *by_member; /* procs with a member, by member name */
	size_t nby_member;
	struct az_mem_map *maps; /* by pid, then address */
	size_t nmaps;
	struct mem_name *names; /* memory/index.json's mapping names */
	size_t nnames;
	size_t skipped; /* images or segments that could not be used (said in notes) */
	char notes[1024];
};

int az_mem_open(struct az_mem *m, const char *path, ai_err_t *err);
void az_mem_close(struct az_mem *m);
/* Every dumped byte of process pid (-1: of every process) to fn, in evidence order. */
typedef int (*az_mem_data_fn)(void *ud, int64_t pid, uint64_t vaddr, const uint8_t *p, size_t n,
			      ai_err_t *err);
int az_mem_stream(struct az_mem *m, int64_t pid, az_mem_data_fn fn, void *ud, ai_err_t *err);
/* The bytes of [start, start + len) of pid into out (zeroed first; bytes not in the evidence stay
 * zero): *got counts those found. One az_mem_stream pass. */
int az_mem_read(struct az_mem *m, int64_t pid, uint64_t start, size_t len, uint8_t *out, size_t *got,
		ai_err_t *err);

/* For the checkpoint reader: command lines out of the CRIU images as the archive goes by (mm and
 * pagemap before the pages, as CRIU and Podman write them; for another order the reader streams
 * the pages images again in a second pass, az_criu_cmdlines_pending). */
struct az_criu_cmdlines;
struct az_criu_cmdlines *az_criu_cmdlines_new(void);
void az_criu_cmdlines_free(struct az_criu_cmdlines *c);
/* A member under checkpoint/ (base: its name after that), the archive at its data: true when it
 * was an mm-, pagemap- or pages- image (read; a malformed one just gives no command line). */
bool az_criu_cmdlines_member(struct az_criu_cmdlines *c, struct archive *a, const char *base);
/* A process has its mm and pagemap but its pages went by before them: a second pass over the
 * pages images (az_criu_cmdlines_member again) picks its arguments up. */
bool az_criu_cmdlines_pending(const struct az_criu_cmdlines *c);
/* pid's arguments as /proc/PID/cmdline has them (NUL after each), or NULL. */
const uint8_t *az_criu_mm_cmdline(const struct az_criu_cmdlines *c, int64_t pid, size_t *len);
/* Its environment likewise (mm_env_start .. mm_env_end, as /proc/PID/environ), or NULL. */
const uint8_t *az_criu_mm_environ(const struct az_criu_cmdlines *c, int64_t pid, size_t *len);

#endif
