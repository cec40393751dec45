/* Fuzz target: the sidecar's HTTP request-head parser and query decoder. Invariants checked on
 * every input: a positive result is a head length within the input and within the limit, ending
 * in CRLFCRLF; the parsed strings are NUL-terminated inside their buffers. */
#include "capture/http.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ai_http_req req;
	int r = ai_http_parse((const char *)data, size, &req);
	if (r > 0) {
		if ((size_t)r > size || r > AI_HTTP_MAX_HEAD || memcmp(data + r - 4, "\r\n\r\n", 4) != 0)
			abort();
		if (memchr(req.path, '\0', sizeof(req.path)) == NULL ||
		    memchr(req.query, '\0', sizeof(req.query)) == NULL)
			abort();
		if (req.path[0] != '/')
			abort();
		char out[129];
		int q = ai_http_query_get(req.query, "reason", out, sizeof(out));
		if (q >= 0 && ((size_t)q >= sizeof(out) || out[q] != '\0'))
			abort();
		(void)ai_http_bearer_ok(&req, "0123456789abcdef", 16);
	} else if (r != 0 && r != -400 && r != -413 && r != -405 && r != -505) {
		abort();
	}
	/* the query decoder on its own, over the raw bytes as a C string */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	char out[64];
	int q = ai_http_query_get(s, "reason", out, sizeof(out));
	if (q >= 0 && ((size_t)q >= sizeof(out) || out[q] != '\0'))
		abort();
	free(s);
	return 0;
}

#include "tests/fuzz/driver.inc"
