/* The ELF core (ET_CORE, x86_64) of one process, laid out the way the kernel's coredump does it:
 * the ELF header, one PT_NOTE then one PT_LOAD per mapping, the notes, then the dumped bytes of
 * each mapping at page-aligned offsets. Pure layout: memory.c gathers what goes in and streams
 * the pages after the headers this builds. */
#ifndef AI_MEMCORE_H
#define AI_MEMCORE_H
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>
#include "common/buf.h"

#define AI_MC_PAGE 4096ull

/* One thread, as read at its ptrace-stop. */
struct ai_mc_thread {
	pid_t tid;
	bool have_regs, have_fp, have_si;
	struct user_regs_struct regs;
	struct user_fpregs_struct fp;
	void *xstate; /* NT_X86_XSTATE as the kernel gave it, NULL when not read */
	size_t xstate_len;
	siginfo_t si; /* only for a signal-delivery-stop: the signal it was stopped with */
	int cursig;
};

/* One mapping of /proc/PID/maps and how much of it the core holds. */
struct ai_mc_vma {
	uint64_t start, end, offset;
	unsigned flags; /* PF_R | PF_W | PF_X */
	bool shared;
	const char *path; /* into the caller's maps buffer; may be empty */
	size_t path_len;
	uint64_t dump; /* bytes from start stored in the core (p_filesz) */
};

/* What NT_PRPSINFO says of the process. */
struct ai_mc_proc {
	pid_t pid, ppid;
	uid_t uid;
	gid_t gid;
	char state;
	char comm[16];
	char psargs[80];
	const void *auxv;
	size_t auxv_len;
};

/* The notes: per thread (the first one given first) NT_PRSTATUS, NT_FPREGSET, NT_X86_XSTATE
 * and NT_SIGINFO; after the first thread's NT_PRSTATUS, NT_PRPSINFO, NT_AUXV and NT_FILE (every
 * file-backed mapping). Appended to out. */
void ai_mc_notes(const struct ai_mc_proc *p, const struct ai_mc_thread *th, size_t nth,
		 const struct ai_mc_vma *v, size_t nv, struct ai_buf *out);
/* The ELF header and program headers for nv mappings after a note segment of notes_len bytes,
 * appended to out; *data_off receives where the first mapping's bytes go and the return value is
 * the whole core's size. */
uint64_t ai_mc_headers(const struct ai_mc_vma *v, size_t nv, uint64_t notes_len, struct ai_buf *out,
		       uint64_t *data_off);

#endif
