#include "capture/opts.h"
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define AI_OPTS_MAX 40
#define LONG_ONLY   256 /* getopt_long's value for table entry i without a letter: LONG_ONLY + i */

int ai_opt_number(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static bool takes_value(const struct ai_opt *o)
{
	return o->kind != AI_OPT_TRUE && o->kind != AI_OPT_FALSE && o->kind != AI_OPT_CONST;
}

/* Returns NULL when the value was stored, else the usage message. */
static const char *apply(const struct ai_opt *o, const char *arg)
{
	uint64_t v;
	switch (o->kind) {
	case AI_OPT_STR:
		*(const char **)o->dst = arg;
		return NULL;
	case AI_OPT_STR_NONE:
		*(const char **)o->dst = strcmp(arg, "none") ? arg : NULL;
		return NULL;
	case AI_OPT_TRUE:
	case AI_OPT_FALSE:
		*(bool *)o->dst = o->kind == AI_OPT_TRUE;
		return NULL;
	case AI_OPT_CONST:
		*(const char **)o->dst = o->value;
		return NULL;
	case AI_OPT_FN:
		return o->fn(o, arg);
	case AI_OPT_INT:
	case AI_OPT_UINT:
	case AI_OPT_U64:
		break;
	}
	if (ai_opt_number(arg, o->lo, o->hi, &v) < 0)
		return o->bad;
	if (o->kind == AI_OPT_INT)
		*(int *)o->dst = (int)v;
	else if (o->kind == AI_OPT_UINT)
		*(unsigned *)o->dst = (unsigned)v;
	else
		*(uint64_t *)o->dst = v;
	return NULL;
}

/* What getopt_long returns for table entry i. */
static int getopt_val(const struct ai_opt *opts, size_t i)
{
	return opts[i].letter ? opts[i].letter : LONG_ONLY + (int)i;
}

int ai_opts_parse(const struct ai_opt *opts, size_t n, int argc, char **argv, int *first_arg, ai_err_t *err)
{
	if (n > AI_OPTS_MAX)
		abort(); /* a programming error: the tables are ours */
	struct option lo[AI_OPTS_MAX + 2];
	/* ':' first: a missing value is told from an unknown option */
	char shorts[2 * AI_OPTS_MAX + 4] = ":h";
	size_t ns = strlen(shorts);
	for (size_t i = 0; i < n; i++) {
		int has = opts[i].optional	  ? optional_argument
			  : takes_value(&opts[i]) ? required_argument
						  : no_argument;
		lo[i] = (struct option){opts[i].name, has, NULL, getopt_val(opts, i)};
		if (opts[i].letter) {
			shorts[ns++] = (char)opts[i].letter;
			if (has == required_argument)
				shorts[ns++] = ':';
		}
	}
	shorts[ns] = '\0';
	lo[n] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 1] = (struct option){0, 0, 0, 0};
	opterr = 0; /* getopt would print the offending argument raw: our messages go through main */
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		if (c == 'h')
			return AI_OPTS_HELP;
		if (c == '?' || c == ':') {
			const char *bad = argv[optind - 1];
			bool is_long = !strncmp(bad, "--", 2);
			if (c == ':' && is_long)
				ai_err_set(err, 0, "option '%s' needs a value", bad);
			else if (c == ':')
				ai_err_set(err, 0, "option '-%c' needs a value", optopt);
			else if (is_long || !optopt)
				ai_err_set(err, 0, "unrecognized option '%s'", bad);
			else
				ai_err_set(err, 0, "unrecognized option '-%c'", optopt);
			return AI_OPTS_USAGE;
		}
		const struct ai_opt *o = NULL;
		for (size_t i = 0; i < n && !o; i++)
			if (c == getopt_val(opts, i))
				o = &opts[i];
		const char *msg = o ? apply(o, optarg) : "unexpected option";
		if (msg) {
			ai_err_set(err, 0, "%s", msg);
			return AI_OPTS_USAGE;
		}
	}
	*first_arg = optind;
	return AI_OPTS_OK;
}
