/* A tiny assertion kit for the unit binaries: one "ok - ..." / "not ok - ..." line per check,
 * exit status 1 when any check failed. */
#ifndef AI_T_H
#define AI_T_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed, t_passed;

#define T_OK(cond, ...)                                                                                      \
	do {                                                                                                 \
		int t_cond_ = !!(cond);                                                                      \
		if (t_cond_) {                                                                               \
			t_passed++;                                                                          \
			printf("ok - ");                                                                     \
		} else {                                                                                     \
			t_failed++;                                                                          \
			printf("not ok - ");                                                                 \
		}                                                                                            \
		printf(__VA_ARGS__);                                                                         \
		printf(t_cond_ ? "\n" : "  (%s:%d)\n", __FILE__, __LINE__);                                  \
	} while (0)

#define T_STREQ(a, b, ...)                                                                                   \
	do {                                                                                                 \
		const char *t_a = (a), *t_b = (b);                                                           \
		int t_c = t_a && t_b && strcmp(t_a, t_b) == 0;                                               \
		T_OK(t_c, __VA_ARGS__);                                                                      \
		if (!t_c)                                                                                    \
			printf("#   got:  %s\n#   want: %s\n", t_a ? t_a : "(null)", t_b ? t_b : "(null)");  \
	} while (0)

static inline int t_done(void)
{
	fflush(stdout);
	return t_failed ? 1 : 0;
}

/* Run a shell command, capture the first line of its stdout. */
static inline int t_sh(char *out, size_t outlen, const char *cmd)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	if (out && outlen) {
		out[0] = '\0';
		if (fgets(out, (int)outlen, p))
			out[strcspn(out, "\n")] = '\0';
	}
	char sink[4096];
	while (fread(sink, 1, sizeof(sink), p) > 0)
		;
	int st = pclose(p);
	return st;
}
#endif
