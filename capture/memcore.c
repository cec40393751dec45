#include "capture/memcore.h"
#include <elf.h>
#include <string.h>
#include <sys/procfs.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

static void note(struct ai_buf *out, const char *name, uint32_t type, const void *desc, size_t len)
{
	Elf64_Nhdr nh = {.n_namesz = (uint32_t)strlen(name) + 1, .n_descsz = (uint32_t)len, .n_type = type};
	static const char pad[4];
	ai_buf_add(out, &nh, sizeof(nh));
	ai_buf_add(out, name, nh.n_namesz);
	ai_buf_add(out, pad, (4 - nh.n_namesz % 4) % 4);
	ai_buf_add(out, desc, len);
	ai_buf_add(out, pad, (4 - len % 4) % 4);
}

static void prstatus(struct ai_buf *out, const struct ai_mc_proc *p, const struct ai_mc_thread *t)
{
	struct elf_prstatus st;
	memset(&st, 0, sizeof(st));
	st.pr_info.si_signo = t->cursig;
	st.pr_cursig = (short)t->cursig;
	st.pr_pid = t->tid;
	st.pr_ppid = p->ppid;
	if (t->have_regs)
		memcpy(&st.pr_reg, &t->regs,
		       sizeof(st.pr_reg) < sizeof(t->regs) ? sizeof(st.pr_reg) : sizeof(t->regs));
	st.pr_fpvalid = t->have_fp;
	note(out, "CORE", NT_PRSTATUS, &st, sizeof(st));
}

static void prpsinfo(struct ai_buf *out, const struct ai_mc_proc *p)
{
	struct elf_prpsinfo ps;
	memset(&ps, 0, sizeof(ps));
	static const char states[] = "RSDTZW";
	const char *s = p->state ? strchr(states, p->state) : NULL;
	ps.pr_state = s ? (char)(s - states) : 0;
	ps.pr_sname = p->state ? p->state : '.';
	ps.pr_zomb = p->state == 'Z';
	ps.pr_uid = p->uid;
	ps.pr_gid = p->gid;
	ps.pr_pid = p->pid;
	ps.pr_ppid = p->ppid;
	memcpy(ps.pr_fname, p->comm, sizeof(ps.pr_fname));
	memcpy(ps.pr_psargs, p->psargs, sizeof(ps.pr_psargs));
	note(out, "CORE", NT_PRPSINFO, &ps, sizeof(ps));
}

static bool file_backed(const struct ai_mc_vma *v)
{
	return v->path_len && v->path[0] == '/';
}

/* NT_FILE: count, page size, (start, end, offset in pages) of each, then their names. */
static void nt_file(struct ai_buf *out, const struct ai_mc_vma *v, size_t nv)
{
	struct ai_buf d = {0};
	uint64_t n = 0;
	for (size_t i = 0; i < nv; i++)
		n += file_backed(&v[i]);
	uint64_t head[2] = {n, AI_MC_PAGE};
	ai_buf_add(&d, head, sizeof(head));
	for (size_t i = 0; i < nv; i++) {
		if (!file_backed(&v[i]))
			continue;
		uint64_t e[3] = {v[i].start, v[i].end, v[i].offset / AI_MC_PAGE};
		ai_buf_add(&d, e, sizeof(e));
	}
	for (size_t i = 0; i < nv; i++) {
		if (!file_backed(&v[i]))
			continue;
		ai_buf_add(&d, v[i].path, v[i].path_len);
		ai_buf_addc(&d, '\0');
	}
	note(out, "CORE", NT_FILE, d.data, d.len);
	ai_buf_free(&d);
}

void ai_mc_notes(const struct ai_mc_proc *p, const struct ai_mc_thread *th, size_t nth,
		 const struct ai_mc_vma *v, size_t nv, struct ai_buf *out)
{
	for (size_t i = 0; i < nth; i++) {
		const struct ai_mc_thread *t = &th[i];
		prstatus(out, p, t);
		if (i == 0) {
			prpsinfo(out, p);
			if (p->auxv_len)
				note(out, "CORE", NT_AUXV, p->auxv, p->auxv_len);
			nt_file(out, v, nv);
		}
		if (t->have_fp)
			note(out, "CORE", NT_FPREGSET, &t->fp, sizeof(t->fp));
		if (t->xstate)
			note(out, "LINUX", NT_X86_XSTATE, t->xstate, t->xstate_len);
		if (t->have_si)
			note(out, "CORE", NT_SIGINFO, &t->si, sizeof(t->si));
	}
}

uint64_t ai_mc_headers(const struct ai_mc_vma *v, size_t nv, uint64_t notes_len, struct ai_buf *out,
		       uint64_t *data_off)
{
	Elf64_Ehdr eh;
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_CORE;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(Elf64_Ehdr);
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (Elf64_Half)(nv + 1);
	ai_buf_add(out, &eh, sizeof(eh));
	uint64_t notes_off = sizeof(Elf64_Ehdr) + (nv + 1) * sizeof(Elf64_Phdr);
	Elf64_Phdr ph = {.p_type = PT_NOTE, .p_offset = notes_off, .p_filesz = notes_len, .p_align = 4};
	ai_buf_add(out, &ph, sizeof(ph));
	uint64_t off = (notes_off + notes_len + AI_MC_PAGE - 1) & ~(AI_MC_PAGE - 1);
	*data_off = off;
	for (size_t i = 0; i < nv; i++) {
		ph = (Elf64_Phdr){
		    .p_type = PT_LOAD,
		    .p_flags = v[i].flags,
		    .p_offset = off,
		    .p_vaddr = v[i].start,
		    .p_filesz = v[i].dump,
		    .p_memsz = v[i].end - v[i].start,
		    .p_align = AI_MC_PAGE,
		};
		ai_buf_add(out, &ph, sizeof(ph));
		off += v[i].dump;
	}
	return off;
}
