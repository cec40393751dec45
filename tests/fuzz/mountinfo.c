/* Fuzz target: a hostile /proc/PID/mountinfo (a compromised container controls its mount points'
 * names) through the line parser and the overlay option parser. */
#include "capture/mountinfo.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	size_t start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && buf[i] != '\n')
			continue;
		struct ai_mountinfo m;
		ai_err_t err = {0};
		if (ai_mountinfo_parse_line(buf + start, i - start, &m, &err) == 0) {
			struct ai_ovl_opts o;
			if (ai_mountinfo_parse_overlay(m.super_options.s, m.super_options.len, &o, &err) == 0)
				ai_mountinfo_ovl_free(&o);
		}
		start = i + 1;
	}
	/* the whole input as one overlay option string as well */
	struct ai_ovl_opts o;
	ai_err_t err = {0};
	if (ai_mountinfo_parse_overlay((const char *)data, size, &o, &err) == 0)
		ai_mountinfo_ovl_free(&o);
	free(buf);
	return 0;
}

#include "tests/fuzz/driver.inc"
