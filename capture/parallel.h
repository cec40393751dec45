/* Run fn(arg, i, t) for every i < n on up to AI_PAR_MAX threads (t: 0..AI_PAR_MAX-1, the
 * thread's slot; each thread takes indices in increasing order). Inline when one CPU is
 * usable or a thread cannot be started. Header-only so the unit tests that include
 * processes.c and fds.c link without snapshot.c. */
#ifndef AI_PARALLEL_H
#define AI_PARALLEL_H
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mman.h>

#define AI_PAR_MAX 4

struct ai_par {
	size_t n, next;
	void (*fn)(void *, size_t, unsigned);
	void *arg;
};
struct ai_par_thread {
	struct ai_par *p;
	unsigned t;
};

static inline void ai_par_run(struct ai_par *p, unsigned t)
{
	for (;;) {
		size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
		if (i >= p->n)
			return;
		p->fn(p->arg, i, t);
	}
}

static inline void *ai_par_main(void *arg)
{
	struct ai_par_thread *pt = arg;
	ai_par_run(pt->p, pt->t);
	return NULL;
}

#define AI_PAR_STACK (1u << 20)

static inline void ai_parallel(size_t n, void (*fn)(void *arg, size_t i, unsigned t), void *arg)
{
	static int ncpu; /* per including file; computed once */
	if (!ncpu) {
		cpu_set_t set;
		ncpu = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
		if (ncpu < 1)
			ncpu = 1;
	}
	unsigned want = (unsigned)(ncpu < AI_PAR_MAX ? ncpu : AI_PAR_MAX);
	if (want > n)
		want = (unsigned)n;
	struct ai_par p = {.n = n, .fn = fn, .arg = arg};
	pthread_t th[AI_PAR_MAX];
	struct ai_par_thread pt[AI_PAR_MAX];
	void *stk[AI_PAR_MAX];
	unsigned started = 0;
	/* Stacks of our own, unmapped after the join: glibc would cache them, resident. */
	for (unsigned t = 1; t < want; t++) {
		stk[started] = mmap(NULL, AI_PAR_STACK, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
		if (stk[started] == MAP_FAILED)
			break;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstack(&attr, stk[started], AI_PAR_STACK);
		pt[started] = (struct ai_par_thread){&p, t};
		int rc = pthread_create(&th[started], &attr, ai_par_main, &pt[started]);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			munmap(stk[started], AI_PAR_STACK);
			break;
		}
		started++;
	}
	ai_par_run(&p, 0);
	for (unsigned t = 0; t < started; t++) {
		pthread_join(th[t], NULL);
		munmap(stk[t], AI_PAR_STACK);
	}
}

#endif
