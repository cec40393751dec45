#include <stddef.h>
#include "analyze/cli.h"

int az_cmd_layers(struct az_opts *o);

const struct az_command az_commands[] = {
	{"layers", az_cmd_layers},
	{NULL, NULL},
};
