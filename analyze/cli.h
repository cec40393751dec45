/* The analyzer's subcommands: the options they share, their exit codes, and the row each has in
 * the one command table (main.c), whose dispatcher parses the options, answers --help and checks
 * the arguments for every row alike. The entry points (commands.c) and main() are the only code
 * that prints. */
#ifndef AZ_CLI_H
#define AZ_CLI_H
#include <stdbool.h>
#include "analyze/filter.h"

enum {
	AZ_EXIT_OK = 0,
	AZ_EXIT_FAIL = 1,
	AZ_EXIT_USAGE = 2,
	AZ_EXIT_INPUT = 3,
	AZ_EXIT_PARTIAL = 4,
	AZ_EXIT_UNSIGNED = 5
};

#define AZ_MAX_IMAGES 32
struct az_opts {
	const char *cmd, *bundle, *bundle2, *pub, *image, *format, *output, *member;
	/* every --image, in order (image is the last): layers takes NAME=REF per container */
	const char *images[AZ_MAX_IMAGES];
	size_t nimages;
	bool json, quiet, progress, changed, stats, show_secrets;
	struct az_filter filter; /* --pid --container --path --min-severity --since --until */
	/* memory (--pid is also the filter's) */
	const char *pid, *search, *regex, *context, *prot, *vma, *addr;
	bool maps;
};

struct az_command {
	const char *name;
	int nargs;	   /* positional arguments: 0, 1 (BUNDLE: o->bundle) or 2 (A B: o->bundle2 too) */
	const char *usage; /* its synopsis line (the overall usage lists these), then what it does */
	int (*run)(struct az_opts *o);
};

/* The entry points: a return value is the exit code. */
int az_cmd_ps(struct az_opts *o);
int az_cmd_fds(struct az_opts *o);
int az_cmd_net(struct az_opts *o);
int az_cmd_mounts(struct az_opts *o);
int az_cmd_files(struct az_opts *o);
int az_cmd_layers(struct az_opts *o);
int az_cmd_findings(struct az_opts *o);
int az_cmd_iocs(struct az_opts *o);
int az_cmd_timeline(struct az_opts *o);
int az_cmd_report(struct az_opts *o);
int az_cmd_diff(struct az_opts *o);
int az_cmd_extract(struct az_opts *o);
int az_cmd_memory(struct az_opts *o);

#endif
