/* Table-driven command-line options for afterimage-capture's commands: a command lists each of
 * its options once (long name, short letter, what its value fills) and getopt_long parses them.
 * Nothing here prints: a usage error comes back as a message for main to print. */
#ifndef AI_OPTS_H
#define AI_OPTS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

enum ai_opt_kind {
	AI_OPT_STR,	 /* const char *dst = the value */
	AI_OPT_STR_NONE, /* the same, but "none" stores NULL */
	AI_OPT_TRUE,	 /* bool *dst = true, no value */
	AI_OPT_FALSE,	 /* bool *dst = false, no value */
	AI_OPT_CONST,	 /* const char *dst = o->value, no value */
	AI_OPT_INT,	 /* int *dst, a decimal in lo..hi */
	AI_OPT_UINT,	 /* unsigned *dst, a decimal in lo..hi */
	AI_OPT_U64,	 /* uint64_t *dst, a decimal in lo..hi */
	AI_OPT_FN,	 /* o->fn handles the value */
};

struct ai_opt {
	const char *name; /* --name */
	int letter;	  /* -l as well, 0 for none */
	enum ai_opt_kind kind;
	void *dst;
	uint64_t lo, hi;   /* numbers: the accepted range */
	unsigned scale;	   /* AI_OPT_UINT: stored as value * scale (0 stores the value) */
	const char *bad;   /* numbers: the usage message for anything else */
	const char *value; /* AI_OPT_CONST */
	bool optional;	   /* AI_OPT_FN: the value may be left out (--name alone: fn gets NULL) */
	/* AI_OPT_FN: NULL when the value is taken, else the usage message */
	const char *(*fn)(const struct ai_opt *o, const char *arg);
};

/* Table rows: a string (or, with AI_OPT_STR_NONE, a string or "none"), a flag (AI_OPT_TRUE,
 * AI_OPT_FALSE), a constant, a number, a handler. */
#define AI_OPT_S(n, l, k, d) ((struct ai_opt){.name = (n), .letter = (l), .kind = (k), .dst = (d)})
#define AI_OPT_FLAG(n, k, d) ((struct ai_opt){.name = (n), .kind = (k), .dst = (d)})
#define AI_OPT_K(n, d, v)    ((struct ai_opt){.name = (n), .kind = AI_OPT_CONST, .dst = (d), .value = (v)})
#define AI_OPT_F(n, d, f)    ((struct ai_opt){.name = (n), .kind = AI_OPT_FN, .dst = (d), .fn = (f)})
#define AI_OPT_FO(n, d, f)                                                                                   \
	((struct ai_opt){.name = (n), .kind = AI_OPT_FN, .dst = (d), .fn = (f), .optional = true})
#define AI_OPT_N(n, l, k, d, lo_, hi_, msg)                                                                  \
	((struct ai_opt){                                                                                    \
	    .name = (n), .letter = (l), .kind = (k), .dst = (d), .lo = (lo_), .hi = (hi_), .bad = (msg)})

enum { AI_OPTS_OK, AI_OPTS_HELP, AI_OPTS_USAGE };

/* Parse argv (argv[0] is the command's name) by the table, in order; --help and -h are every
 * command's. Returns AI_OPTS_OK with *first_arg at the first positional argument, AI_OPTS_HELP
 * for --help, or AI_OPTS_USAGE with the message in err. */
int ai_opts_parse(const struct ai_opt *opts, size_t n, int argc, char **argv, int *first_arg, ai_err_t *err);

/* A decimal (no sign, nothing after it) in lo..hi into *out; -1 for anything else. */
int ai_opt_number(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
