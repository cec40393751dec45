#include <stddef.h>
#include "analyze/cli.h"

const struct az_command az_commands[] = {
	{NULL, NULL},
};
