/* Options shared by the subcommands; each heavier subcommand lives in its own module and is
 * registered in az_commands (commands.c). Only main() and the az_cmd_* entry points print. */
#ifndef AZ_CLI_H
#define AZ_CLI_H
#include <stdbool.h>

enum {
	AZ_EXIT_OK = 0,
	AZ_EXIT_FAIL = 1,
	AZ_EXIT_USAGE = 2,
	AZ_EXIT_INPUT = 3,
	AZ_EXIT_PARTIAL = 4,
	AZ_EXIT_UNSIGNED = 5
};

struct az_opts {
	const char *cmd, *bundle, *bundle2, *pub, *image, *format, *output;
	bool json, quiet, progress, changed, stats, all;
};

struct az_command {
	const char *name;
	int (*run)(struct az_opts *o);
};
extern const struct az_command az_commands[];

#endif
