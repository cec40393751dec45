/* afterimage-analyze: placeholder until the analyzer lands (issue 4). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version"))) {
		printf("afterimage-analyze %s\n", AI_VERSION);
		return 0;
	}
	fprintf(stderr, "usage: afterimage-analyze version\n");
	return 2;
}
