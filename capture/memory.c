/* --memory: one ELF core per target process (memory/PID.core) and memory/index.json.
 *
 * The order is CRIU's (criu/seize.c) for a frozen cgroup: inside the freeze window .collect only
 * PTRACE_SEIZEs and PTRACE_INTERRUPTs every thread. Under the cgroup v2 freezer the interrupt
 * takes the frozen task to its ptrace-stop at once; under v1 it reaches it on the thaw, before
 * it runs a single instruction of its own. Either way every seized thread is stopped from the
 * freeze on, so .finish, after the thaw, reads registers (PTRACE_GETREGSET) and pages
 * (process_vm_readv) of stopped threads: what the freeze saw, while the freeze window grows only
 * by the seizing. Each process is detached as soon as its core is written; a tracee still
 * seized when the capturing thread ends (one that never stopped) is released by the kernel. */
#include "capture/capture.h"
#include "capture/memcore.h"
#include "capture/procparse.h"
#include "common/cleanup.h"
#include "common/safeopen.h"
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

#define MAX_THREADS	  4096	      /* seized per process; the others are counted */
#define SEIZE_ROUNDS	  8	      /* task listings until no new thread shows up */
#define STOP_WAIT_MS	  1000	      /* for every seized thread of a process to stop */
#define MAPS_MAX	  (32u << 20) /* bytes of /proc/PID/maps read */
#define MAX_VMAS	  65000	      /* program headers are 16-bit counted */
#define AUXV_MAX	  4096
#define XSTATE_MAX	  (64u << 10)
#define READ_CHUNK	  (1u << 20)
#define UNREADABLE_NAMED  64 /* ranges listed in the index per process; the others counted */
#define XSTATE_SCRATCH_SZ XSTATE_MAX

struct mthr {
	pid_t tid;    /* as this capture's /proc sees it */
	pid_t ns_tid; /* in the process's own pid namespace (NSpid): what the core says */
	bool seized, stopped, gone;
	int inject; /* the signal of a signal-delivery-stop, given back at detach */
	struct ai_mc_thread t;
};

struct mproc {
	const struct ai_proc *p;
	struct mthr *th;
	size_t nth, cap;
	size_t nbeyond;	  /* threads past MAX_THREADS */
	int seize_errno;  /* the first refused seize */
	int list_errno;	  /* the task directory could not be listed */
	bool all_refused; /* not one thread seized */
};

struct mstate {
	struct mproc *procs;
	size_t n;
	uint64_t total_used;
	char *buf; /* READ_CHUNK, for the pages */
	void *xscratch;
	struct ai_spool idx;
	struct ai_json ij;
};

static bool memory_enabled(const struct ai_capture *cap)
{
	return cap->memory != AI_MEMORY_OFF;
}

static struct mthr *thr_find(struct mproc *mp, pid_t tid)
{
	for (size_t i = 0; i < mp->nth; i++)
		if (mp->th[i].tid == tid)
			return &mp->th[i];
	return NULL;
}

static struct mthr *thr_add(struct mproc *mp, pid_t tid)
{
	if (mp->nth == MAX_THREADS) {
		mp->nbeyond++;
		return NULL;
	}
	if (mp->nth == mp->cap) {
		size_t ncap = mp->cap ? mp->cap * 2 : 8;
		struct mthr *n = realloc(mp->th, ncap * sizeof(*n));
		if (!n)
			return NULL;
		mp->th = n;
		mp->cap = ncap;
	}
	struct mthr *t = &mp->th[mp->nth++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->t.tid = tid;
	return t;
}

/* One listing of /proc/PID/task: seize and interrupt every thread not seen yet. The count of
 * new threads found. */
static size_t seize_round(struct mproc *mp)
{
	int fd = openat(mp->p->procfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (!mp->list_errno)
			mp->list_errno = errno;
		if (fd >= 0)
			close(fd);
		return 0;
	}
	size_t found = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		pid_t tid = ai_proc_pid(de->d_name);
		if (tid <= 0 || thr_find(mp, tid))
			continue;
		struct mthr *t = thr_add(mp, tid);
		if (!t)
			continue;
		found++;
		if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
			if (!mp->seize_errno)
				mp->seize_errno = errno;
			t->gone = errno == ESRCH;
			continue;
		}
		t->seized = true;
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 && !mp->seize_errno)
			mp->seize_errno = errno;
	}
	closedir(d);
	return found;
}

static void seize_proc(struct mproc *mp)
{
	for (int r = 0; r < SEIZE_ROUNDS && seize_round(mp) > 0; r++)
		;
	mp->all_refused = true;
	for (size_t i = 0; i < mp->nth; i++)
		if (mp->th[i].seized)
			mp->all_refused = false;
}

static void mstate_free(struct mstate *ms);

/* Inside the freeze window: seize every thread, nothing else (no logging, no bundle). */
static int memory_collect(struct ai_capture *cap, void **state, ai_err_t *err)
{
	struct mstate *ms = calloc(1, sizeof(*ms));
	size_t n = ai_capture_nprocs(cap);
	if (!ms || !(ms->procs = calloc(n ? n : 1, sizeof(*ms->procs)))) {
		free(ms);
		return ai_err_set(err, ENOMEM, "memory");
	}
	ai_spool_init(&ms->idx, cap->outdir_fd);
	*state = ms;
	ms->n = n;
	for (size_t i = 0; i < n; i++) {
		ms->procs[i].p = ai_capture_proc(cap, i, NULL);
		if (ai_capture_stopping(cap))
			continue;
		seize_proc(&ms->procs[i]);
	}
	return 0;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* One waitpid for a seized thread not stopped yet. */
static void poll_stop(struct mthr *t)
{
	int st;
	pid_t r = waitpid(t->tid, &st, __WALL | WNOHANG);
	if (r == 0)
		return;
	if (r < 0) {
		t->gone = errno == ECHILD;
		if (t->gone)
			t->seized = false;
		return;
	}
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		t->gone = true;
		t->seized = false;
		return;
	}
	if (!WIFSTOPPED(st))
		return;
	t->stopped = true;
	/* PTRACE_EVENT_STOP: our interrupt (or a group-stop); else a signal arrived first: it is
	 * recorded and given back at detach */
	if ((st >> 16) != PTRACE_EVENT_STOP) {
		t->inject = WSTOPSIG(st);
		t->t.cursig = t->inject;
	}
}

/* Until every seized thread is stopped (or gone), at most STOP_WAIT_MS. */
static void wait_stops(struct mproc *mp)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		bool waiting = false;
		for (size_t i = 0; i < mp->nth; i++) {
			struct mthr *t = &mp->th[i];
			if (t->seized && !t->stopped) {
				poll_stop(t);
				waiting |= t->seized && !t->stopped;
			}
		}
		if (!waiting || ms_since(&t0) > STOP_WAIT_MS)
			return;
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
}

static void read_regs(struct mstate *ms, struct mthr *t)
{
	struct iovec iov = {&t->t.regs, sizeof(t->t.regs)};
	t->t.have_regs = ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_PRSTATUS, &iov) == 0;
	iov = (struct iovec){&t->t.fp, sizeof(t->t.fp)};
	t->t.have_fp = ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_PRFPREG, &iov) == 0;
	iov = (struct iovec){ms->xscratch, XSTATE_SCRATCH_SZ};
	if (ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_X86_XSTATE, &iov) == 0 && iov.iov_len &&
	    (t->t.xstate = malloc(iov.iov_len))) {
		memcpy(t->t.xstate, ms->xscratch, iov.iov_len);
		t->t.xstate_len = iov.iov_len;
	}
	if (t->inject)
		t->t.have_si = ptrace(PTRACE_GETSIGINFO, t->tid, 0, &t->t.si) == 0;
}

static void detach_all(struct mproc *mp)
{
	for (size_t i = 0; i < mp->nth; i++) {
		struct mthr *t = &mp->th[i];
		if (!t->seized)
			continue;
		if (!t->stopped)
			poll_stop(t);
		if (t->stopped && ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->inject) == 0)
			t->seized = false;
		/* not stopped: it cannot be detached; the kernel releases it with this thread */
	}
}

/* ---- after the thaw: the core of one process */

/* What one process's core is built from, read after its threads stopped. */
struct core {
	struct ai_mc_proc info;
	char *maps; /* /proc/PID/maps: the vmas' paths point here */
	size_t maps_len;
	bool maps_cut;
	char *auxv;
	struct ai_mc_vma *v;
	const char **why; /* per vma: NULL (dumped, maybe cut) or why it is not */
	uint64_t *want;	  /* per vma: bytes it would have given */
	size_t nv, nv_beyond;
	struct ai_mc_thread *th; /* stopped threads, the main one first */
	size_t nth;
	uint64_t cut; /* bytes left out by the caps */
	bool cut_by_total;
	/* unreadable ranges met while reading */
	uint64_t ur_start[UNREADABLE_NAMED], ur_end[UNREADABLE_NAMED];
	int ur_errno[UNREADABLE_NAMED];
	size_t nur, nur_more;
	uint64_t unreadable;
};

static void core_free(struct core *c)
{
	free(c->maps);
	free(c->auxv);
	free(c->v);
	free(c->why);
	free(c->want);
	free(c->th);
}

/* The innermost NSpid of a thread: the tid its own threads library keeps (gdb matches the
 * core's threads to libpthread's by it); the tid we see when unreadable. */
static pid_t ns_tid(const struct ai_proc *p, pid_t tid)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "task/%d/status", (int)tid);
	cleanup_free char *st = NULL;
	size_t len;
	bool cut;
	ai_err_t e = {0};
	struct ai_pp_slice f;
	uint64_t v, last = 0;
	if (ai_read_small(p->procfd, rel, 16384, &st, &len, &cut, &e) < 0 ||
	    !ai_pp_field(st, len, "NSpid", &f))
		return tid;
	while (ai_pp_next_u64(&f, &v))
		last = v;
	return last && last <= INT32_MAX ? (pid_t)last : tid;
}

static void read_info(const struct ai_proc *p, struct core *c)
{
	struct ai_mc_proc *in = &c->info;
	in->pid = ns_tid(p, p->pid);
	cleanup_free char *stat = NULL, *status = NULL, *cmd = NULL;
	size_t len;
	bool cut;
	ai_err_t e = {0};
	struct ai_pp_stat st;
	if (ai_read_small(p->procfd, "stat", 4096, &stat, &len, &cut, &e) == 0 &&
	    ai_pp_parse_stat(stat, len, &st) == 0) {
		in->state = st.state;
		in->ppid = (pid_t)st.ppid;
		memcpy(in->comm, st.comm.s, st.comm.len < 15 ? st.comm.len : 15);
	}
	struct ai_pp_slice f;
	uint64_t v;
	if (ai_read_small(p->procfd, "status", 16384, &status, &len, &cut, &e) == 0) {
		if (ai_pp_field(status, len, "Uid", &f) && ai_pp_next_u64(&f, &v))
			in->uid = (uid_t)v;
		if (ai_pp_field(status, len, "Gid", &f) && ai_pp_next_u64(&f, &v))
			in->gid = (gid_t)v;
	}
	if (ai_read_small(p->procfd, "cmdline", sizeof(in->psargs) - 1, &cmd, &len, &cut, &e) == 0) {
		for (size_t i = 0; i < len; i++)
			in->psargs[i] = cmd[i] ? cmd[i] : ' ';
		while (len && in->psargs[len - 1] == ' ')
			in->psargs[--len] = '\0';
	}
	if (ai_read_small(p->procfd, "auxv", AUXV_MAX, &c->auxv, &len, &cut, &e) == 0) {
		in->auxv = c->auxv;
		in->auxv_len = len;
	}
}

static bool starts(const struct ai_pp_slice *s, const char *pfx)
{
	size_t n = strlen(pfx);
	return s->len >= n && !memcmp(s->s, pfx, n);
}

static bool is(const struct ai_pp_slice *s, const char *lit)
{
	return s->len == strlen(lit) && !memcmp(s->s, lit, s->len);
}

/* Whether a mapping goes into the core under the mode, and if not why. */
static const char *skip_reason(enum ai_memory_mode mode, const struct ai_pp_map *m)
{
	const struct ai_pp_slice *p = &m->path;
	bool priv = m->perms.s[3] == 'p', writable = m->perms.s[1] == 'w';
	if (m->perms.s[0] != 'r')
		return "not readable";
	if (is(p, "[vvar]") || is(p, "[vsyscall]") || is(p, "[vvar_vclock]"))
		return "kernel special mapping";
	if (!p->len || is(p, "[heap]") || starts(p, "[stack") || is(p, "[vdso]") || starts(p, "[anon"))
		return NULL;
	if (p->s[0] != '/')
		return "kernel special mapping";
	/* shared memory without a file of its own */
	if (starts(p, "/memfd:") || starts(p, "/SYSV") || starts(p, "/dev/zero"))
		return NULL;
	if (starts(p, "/dev/") && !starts(p, "/dev/shm/"))
		return "device mapping: never read";
	if (mode == AI_MEMORY_ALL || (priv && writable))
		return NULL; /* a private writable file mapping holds the data and bss of a binary */
	return "file-backed (--memory=all dumps it)";
}

static int read_maps(const struct ai_proc *p, enum ai_memory_mode mode, struct core *c, ai_err_t *err)
{
	if (ai_read_small(p->procfd, "maps", MAPS_MAX, &c->maps, &c->maps_len, &c->maps_cut, err) < 0)
		return -1;
	size_t lines = 0;
	for (size_t i = 0; i < c->maps_len; i++)
		lines += c->maps[i] == '\n';
	lines = (lines < MAX_VMAS ? lines : MAX_VMAS) + 1;
	c->v = calloc(lines, sizeof(*c->v));
	c->why = calloc(lines, sizeof(*c->why));
	c->want = calloc(lines, sizeof(*c->want));
	if (!c->v || !c->why || !c->want)
		return ai_err_set(err, ENOMEM, "maps");
	const char *s = c->maps, *end = c->maps + c->maps_len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		struct ai_pp_map m;
		uint64_t a, b, off;
		if (ai_pp_parse_map(s, len, &m) == 0 && ai_pp_hex_u64(m.start, &a) &&
		    ai_pp_hex_u64(m.end, &b) && ai_pp_hex_u64(m.offset, &off) && b > a && m.perms.len == 4) {
			if (c->nv == lines - 1) {
				c->nv_beyond++;
			} else {
				struct ai_mc_vma *v = &c->v[c->nv];
				*v = (struct ai_mc_vma){.start = a, .end = b, .offset = off};
				v->flags = (m.perms.s[0] == 'r' ? PF_R : 0) |
					   (m.perms.s[1] == 'w' ? PF_W : 0) |
					   (m.perms.s[2] == 'x' ? PF_X : 0);
				v->shared = m.perms.s[3] == 's';
				v->path = m.path.s;
				v->path_len = m.path.len;
				c->why[c->nv] = skip_reason(mode, &m);
				c->want[c->nv] = c->why[c->nv] ? 0 : b - a;
				c->nv++;
			}
		}
		s = nl ? nl + 1 : end;
	}
	return 0;
}

/* The mappings that hold a thread's stack pointer, [stack], [vdso] and the data of the binaries
 * come first under the caps: without them gdb has no backtrace and no globals. */
static bool first_class(const struct core *c, size_t i)
{
	const struct ai_mc_vma *v = &c->v[i];
	struct ai_pp_slice p = {v->path, v->path_len};
	if (starts(&p, "[stack") || is(&p, "[vdso]") || (p.len && p.s[0] == '/' && (v->flags & PF_W)))
		return true;
	for (size_t t = 0; t < c->nth; t++)
		if (c->th[t].have_regs && c->th[t].regs.rsp >= v->start && c->th[t].regs.rsp < v->end)
			return true;
	return false;
}

/* Give each mapping its dump size within limit bytes: the first class first, then the others in
 * address order; a mapping that does not fit whole keeps what fits (whole pages). */
static void apply_caps(struct core *c, uint64_t limit)
{
	uint64_t left = limit;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->nv; i++) {
			if (!c->want[i] || first_class(c, i) != (pass == 0))
				continue;
			uint64_t give = c->want[i] <= left ? c->want[i] : left & ~(AI_MC_PAGE - 1);
			c->v[i].dump = give;
			left -= give;
			c->cut += c->want[i] - give;
		}
	}
}

static void note_unreadable(struct core *c, uint64_t a, uint64_t b, int en)
{
	c->unreadable += b - a;
	if (c->nur && c->ur_end[c->nur - 1] == a && c->ur_errno[c->nur - 1] == en) {
		c->ur_end[c->nur - 1] = b;
		return;
	}
	if (c->nur == UNREADABLE_NAMED) {
		c->nur_more++;
		return;
	}
	c->ur_start[c->nur] = a;
	c->ur_end[c->nur] = b;
	c->ur_errno[c->nur++] = en;
}

/* The dumped bytes of one mapping into the member; a page that cannot be read is zeros. */
static int copy_vma(struct mstate *ms, pid_t pid, struct core *c, const struct ai_mc_vma *v,
		    struct ai_bundle_stream *bs, ai_err_t *err)
{
	uint64_t off = 0;
	while (off < v->dump) {
		size_t want = v->dump - off < READ_CHUNK ? (size_t)(v->dump - off) : READ_CHUNK;
		struct iovec local = {ms->buf, want}, remote = {(void *)(uintptr_t)(v->start + off), want};
		ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (n > 0) {
			if (ai_bundle_stream_write(bs, ms->buf, (size_t)n, err) < 0)
				return -1;
			off += (uint64_t)n;
			continue;
		}
		/* the page at off cannot be read: the process is gone (all the rest), or it is one page */
		int en = n < 0 ? errno : EFAULT;
		uint64_t skip = en == ESRCH || en == EPERM ? v->dump - off : AI_MC_PAGE;
		if (skip > v->dump - off)
			skip = v->dump - off;
		if (ai_bundle_stream_zeros(bs, skip, err) < 0)
			return -1;
		note_unreadable(c, v->start + off, v->start + off + skip, en);
		off += skip;
	}
	return 0;
}

static int write_core(struct mstate *ms, struct ai_capture *cap, const struct ai_proc *p, struct core *c,
		      char sha[AI_SHA256_HEXLEN], uint64_t *size, ai_err_t *err)
{
	cleanup_buf struct ai_buf notes = {0};
	cleanup_buf struct ai_buf head = {0};
	ai_mc_notes(&c->info, c->th, c->nth, c->v, c->nv, &notes);
	uint64_t data_off;
	*size = ai_mc_headers(c->v, c->nv, notes.len, &head, &data_off);
	char name[64];
	int nl = ai_capture_member(cap, name, sizeof(name), AI_M_MEMORY_DIR "/%d.core", (int)p->pid);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct ai_member_meta meta = {.path = name,
				      .path_len = (size_t)nl,
				      .mode = S_IFREG | 0400,
				      .atime = now,
				      .mtime = now,
				      .ctime = now};
	struct ai_bundle_stream bs;
	int r = ai_bundle_stream_begin(cap->bundle, &meta, *size, &bs, err);
	if (r < 0)
		return r;
	static const char pad[AI_MC_PAGE];
	uint64_t gap = data_off - head.len - notes.len;
	if (ai_bundle_stream_write(&bs, head.data, head.len, err) < 0 ||
	    ai_bundle_stream_write(&bs, notes.data, notes.len, err) < 0 ||
	    ai_bundle_stream_write(&bs, pad, (size_t)gap, err) < 0)
		goto fail;
	for (size_t i = 0; i < c->nv; i++)
		if (c->v[i].dump && copy_vma(ms, p->pid, c, &c->v[i], &bs, err) < 0)
			goto fail;
	return ai_bundle_stream_end(&bs, sha, err);
fail:;
	ai_err_t e2 = {0};
	ai_bundle_stream_end(&bs, sha, &e2); /* zero padded: the archive stays whole */
	return -1;
}

/* The stopped threads, the main one (tid == pid) first: gdb takes the first as the current. */
static int gather_threads(struct mstate *ms, struct mproc *mp, struct core *c)
{
	c->th = calloc(mp->nth ? mp->nth : 1, sizeof(*c->th));
	if (!c->th)
		return -1;
	for (int main_pass = 1; main_pass >= 0; main_pass--)
		for (size_t i = 0; i < mp->nth; i++) {
			struct mthr *t = &mp->th[i];
			if (!t->stopped || (t->tid == mp->p->pid) != main_pass)
				continue;
			read_regs(ms, t);
			t->ns_tid = ns_tid(mp->p, t->tid);
			t->t.tid = t->ns_tid;
			c->th[c->nth++] = t->t;
		}
	return 0;
}

/* ---- the log and the index */

static void log_threads(struct ai_capture *cap, const struct mproc *mp)
{
	int pid = (int)mp->p->pid;
	size_t missed = 0;
	for (size_t i = 0; i < mp->nth; i++)
		missed += !mp->th[i].gone && !mp->th[i].stopped;
	if (missed)
		ai_log(cap, AI_LOG_ERROR, "memory",
		       "pid %d: %zu threads not in ptrace-stop (%s): no registers for them", pid, missed,
		       mp->seize_errno ? strerror(mp->seize_errno) : "did not stop in time");
	if (mp->nbeyond)
		ai_log(cap, AI_LOG_TRUNCATED, "memory", "pid %d: %zu threads past the %d seized", pid,
		       mp->nbeyond, MAX_THREADS);
}

static void log_core(struct ai_capture *cap, const struct ai_proc *p, const struct core *c, uint64_t limit)
{
	int pid = (int)p->pid;
	if (c->cut) {
		ai_log(cap, AI_LOG_TRUNCATED, "memory",
		       "pid %d: %llu bytes of memory left out of the core by the %s (%llu bytes kept)", pid,
		       (unsigned long long)c->cut,
		       c->cut_by_total ? "--memory-total budget" : "--memory-cap per process",
		       (unsigned long long)limit);
		if (c->cut_by_total)
			cap->budget_cut = true;
	}
	if (c->unreadable)
		ai_log(cap, AI_LOG_WARNING, "memory",
		       "pid %d: %llu bytes in %zu ranges could not be read (zeros in the core; listed in "
		       "memory/index.json)",
		       pid, (unsigned long long)c->unreadable, c->nur + c->nur_more);
	if (c->maps_cut || c->nv_beyond)
		ai_log(cap, AI_LOG_TRUNCATED, "memory", "pid %d: mappings past the first %zu not in the core",
		       pid, c->nv);
}

static void json_hex(struct ai_json *j, const char *key, uint64_t v)
{
	char h[24];
	snprintf(h, sizeof(h), "0x%llx", (unsigned long long)v);
	ai_json_kstr(j, key, h);
}

static void index_mappings(struct ai_json *j, const struct core *c)
{
	ai_json_key(j, "mappings");
	ai_json_arr_begin(j);
	for (size_t i = 0; i < c->nv; i++) {
		const struct ai_mc_vma *v = &c->v[i];
		ai_json_obj_begin(j);
		json_hex(j, "start", v->start);
		json_hex(j, "end", v->end);
		char perms[5] = {v->flags & PF_R ? 'r' : '-', v->flags & PF_W ? 'w' : '-',
				 v->flags & PF_X ? 'x' : '-', v->shared ? 's' : 'p', 0};
		ai_json_kstr(j, "perms", perms);
		ai_json_kuint(j, "offset", v->offset);
		ai_json_kbytes(j, "path", v->path, v->path_len);
		ai_json_kuint(j, "dumped", v->dump);
		if (c->want[i] > v->dump)
			ai_json_kuint(j, "cut", c->want[i] - v->dump);
		if (c->why[i])
			ai_json_kstr(j, "not_dumped", c->why[i]);
		ai_json_obj_end(j);
	}
	ai_json_arr_end(j);
}

static void index_unreadable(struct ai_json *j, const struct core *c)
{
	ai_json_key(j, "unreadable");
	ai_json_arr_begin(j);
	for (size_t i = 0; i < c->nur; i++) {
		ai_json_obj_begin(j);
		json_hex(j, "start", c->ur_start[i]);
		json_hex(j, "end", c->ur_end[i]);
		ai_json_kstr(j, "error", strerror(c->ur_errno[i]));
		ai_json_obj_end(j);
	}
	ai_json_arr_end(j);
	ai_json_kuint(j, "unreadable_bytes", c->unreadable);
	ai_json_kuint(j, "unreadable_ranges_not_listed", c->nur_more);
}

static void index_threads(struct ai_json *j, const struct mproc *mp)
{
	ai_json_key(j, "threads");
	ai_json_arr_begin(j);
	for (size_t i = 0; i < mp->nth; i++) {
		const struct mthr *t = &mp->th[i];
		ai_json_obj_begin(j);
		ai_json_kint(j, "tid", t->tid);
		if (t->ns_tid)
			ai_json_kint(j, "ns_tid", t->ns_tid);
		ai_json_kbool(j, "registers", t->stopped);
		if (t->inject)
			ai_json_kint(j, "signal", t->inject);
		if (t->gone)
			ai_json_kbool(j, "exited", true);
		ai_json_obj_end(j);
	}
	ai_json_arr_end(j);
}

/* One process's entry; member NULL when no core was written (why says so). */
static void index_proc(const struct ai_capture *cap, struct mstate *ms, const struct mproc *mp,
		       const struct core *c, const char *sha, uint64_t size, const char *why)
{
	struct ai_json *j = &ms->ij;
	ai_json_obj_begin(j);
	ai_json_kint(j, "pid", mp->p->pid);
	if (!why) {
		char name[64];
		ai_capture_member(cap, name, sizeof(name), AI_M_MEMORY_DIR "/%d.core", (int)mp->p->pid);
		ai_json_kstr(j, "member", name);
		ai_json_kstr(j, "sha256", sha);
		ai_json_kuint(j, "size", size);
	} else {
		ai_json_kstr(j, "member", NULL);
		ai_json_kstr(j, "error", why);
	}
	index_threads(j, mp);
	if (c) {
		ai_json_kuint(j, "cut_bytes", c->cut);
		index_mappings(j, c);
		index_unreadable(j, c);
	}
	ai_json_obj_end(j);
	ai_spool_drain(&ms->idx);
}

/* The bytes the core of this process may hold: the per-process cap, what is left of the total,
 * and the output budget's room (less the headers). */
static uint64_t core_limit(struct ai_capture *cap, struct mstate *ms, bool *by_total)
{
	uint64_t lim = cap->memory_cap;
	uint64_t left = cap->memory_total > cap->memory_used ? cap->memory_total - cap->memory_used : 0;
	*by_total = left < lim;
	if (left < lim)
		lim = left;
	uint64_t room = ai_bundle_stream_room(cap->bundle, 64);
	uint64_t overhead = 16u << 20; /* headers and notes, generously */
	room = room > overhead ? room - overhead : 0;
	if (room < lim) {
		lim = room;
		*by_total = true;
	}
	return lim;
}

static void dump_proc(struct ai_capture *cap, struct mstate *ms, struct mproc *mp)
{
	int pid = (int)mp->p->pid;
	wait_stops(mp);
	/* threads started before the freeze took them, or since (no freeze) */
	for (int r = 0; r < SEIZE_ROUNDS && seize_round(mp) > 0; r++)
		wait_stops(mp);
	log_threads(cap, mp);
	struct core c = {0};
	ai_err_t e = {0};
	char sha[AI_SHA256_HEXLEN] = "";
	uint64_t size = 0;
	read_info(mp->p, &c);
	if (gather_threads(ms, mp, &c) < 0 || read_maps(mp->p, cap->memory, &c, &e) < 0) {
		ai_log(cap, ai_proc_exited(mp->p) ? AI_LOG_WARNING : AI_LOG_ERROR, "memory",
		       "pid %d: no core: %s", pid, e.msg[0] ? e.msg : "out of memory");
		index_proc(cap, ms, mp, NULL, NULL, 0, e.msg[0] ? e.msg : "out of memory");
		core_free(&c);
		return;
	}
	uint64_t limit = core_limit(cap, ms, &c.cut_by_total);
	apply_caps(&c, limit);
	int r = write_core(ms, cap, mp->p, &c, sha, &size, &e);
	detach_all(mp);
	if (r < 0) {
		if (r == AI_BUNDLE_OVER_BUDGET)
			cap->budget_cut = true;
		ai_log(cap, AI_LOG_ERROR, "memory", "pid %d: core: %s", pid, e.msg);
		index_proc(cap, ms, mp, &c, NULL, 0, e.msg);
	} else {
		for (size_t i = 0; i < c.nv; i++) {
			ms->total_used += c.v[i].dump;
			cap->memory_used += c.v[i].dump;
		}
		log_core(cap, mp->p, &c, limit);
		index_proc(cap, ms, mp, &c, sha, size, NULL);
	}
	core_free(&c);
}

static void refused(struct ai_capture *cap, struct mstate *ms, struct mproc *mp)
{
	int pid = (int)mp->p->pid;
	int en = mp->seize_errno ? mp->seize_errno : mp->list_errno ? mp->list_errno : ESRCH;
	bool gone = ai_proc_exited(mp->p);
	ai_log(cap, gone ? AI_LOG_WARNING : AI_LOG_ERROR, "memory", "pid %d: no core: ptrace seize: %s%s",
	       pid, strerror(en), gone ? " (the process exited)" : "");
	char why[128];
	snprintf(why, sizeof(why), "ptrace seize: %s", strerror(en));
	index_proc(cap, ms, mp, NULL, NULL, 0, why);
}

static int memory_finish(struct ai_capture *cap, void *state, ai_err_t *err)
{
	struct mstate *ms = state;
	ms->buf = malloc(READ_CHUNK);
	ms->xscratch = malloc(XSTATE_SCRATCH_SZ);
	if (!ms->buf || !ms->xscratch)
		return ai_err_set(err, ENOMEM, "memory");
	ai_json_init(&ms->ij, &ms->idx.buf);
	ai_json_obj_begin(&ms->ij);
	ai_json_kstr(&ms->ij, "mode", cap->memory == AI_MEMORY_ALL ? "all" : "anon");
	ai_json_kuint(&ms->ij, "cap", cap->memory_cap);
	ai_json_kuint(&ms->ij, "total", cap->memory_total);
	ai_json_key(&ms->ij, "processes");
	ai_json_arr_begin(&ms->ij);
	for (size_t i = 0; i < ms->n; i++) {
		struct mproc *mp = &ms->procs[i];
		if (ai_capture_stopping(cap))
			break;
		if (mp->all_refused || !mp->nth)
			refused(cap, ms, mp);
		else
			dump_proc(cap, ms, mp);
		detach_all(mp);
	}
	ai_json_arr_end(&ms->ij);
	ai_json_kuint(&ms->ij, "bytes", ms->total_used);
	ai_json_obj_end(&ms->ij);
	ai_buf_addc(&ms->idx.buf, '\n');
	char member[96];
	ai_capture_member(cap, member, sizeof(member), "%s", AI_M_MEMORY_IDX);
	return ai_bundle_add_spool(cap->bundle, member, &ms->idx, err);
}

static void mstate_free(struct mstate *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		struct mproc *mp = &ms->procs[i];
		detach_all(mp);
		for (size_t k = 0; k < mp->nth; k++)
			free(mp->th[k].t.xstate);
		free(mp->th);
	}
	free(ms->procs);
	free(ms->buf);
	free(ms->xscratch);
	ai_spool_free(&ms->idx);
	free(ms);
}

/* Every seized thread that stopped is detached here too, whatever happened before. */
static void memory_discard(void *state)
{
	mstate_free(state);
}

const struct ai_collector ai_collector_memory = {
    .name = "memory",
    .flags = AI_COLL_VOLATILE,
    .enabled = memory_enabled,
    .collect = memory_collect,
    .finish = memory_finish,
    .discard = memory_discard,
};
