/* Errors as values, crun style: a function that fails returns < 0 and fills an ai_err with
 * context; callers add their own prefix and pass it up. Only main() prints. */
#ifndef AI_ERR_H
#define AI_ERR_H
#include <stdarg.h>

typedef struct ai_err {
	int errnum;	/* errno of the root cause, 0 when none */
	char msg[1024]; /* "outer context: inner context: strerror" */
} ai_err_t;

/* Fill err (errnum may be 0) and return -1, so `return ai_err_set(...)` reads naturally. */
int ai_err_set(ai_err_t *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Put "CONTEXT: " in front of what err already says; returns -1. */
int ai_err_wrap(ai_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ai_err_clear(ai_err_t *err);

#endif
