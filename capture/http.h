/* A tiny strict HTTP/1.1 request-head parser for the sidecar's trigger endpoint. It parses only
 * what the endpoint needs (method, path, query, Authorization, Content-Length, Host) and refuses
 * everything unusual: bare LF, obs-fold, whitespace before a colon, control bytes, duplicate or
 * non-numeric Content-Length, Transfer-Encoding, bodies, heads over AI_HTTP_MAX_HEAD. */
#ifndef AI_HTTP_H
#define AI_HTTP_H
#include <stdbool.h>
#include <stddef.h>

#define AI_HTTP_MAX_HEAD    8192
#define AI_HTTP_MAX_HEADERS 64
#define AI_HTTP_MAX_TARGET  1024

enum ai_http_method { AI_HTTP_GET = 1, AI_HTTP_POST, AI_HTTP_HEAD };

struct ai_http_req {
	enum ai_http_method method;
	int minor;			/* HTTP/1.<minor>, 0 or 1 */
	char path[AI_HTTP_MAX_TARGET];	/* before '?', NUL-terminated, not decoded */
	char query[AI_HTTP_MAX_TARGET]; /* after '?', may be empty */
	char auth[512];			/* the Authorization value, OWS trimmed */
	bool has_auth, has_host;
	bool auth_too_long;
};

/* Parse the request head at the start of buf[0..len). Returns the head length (> 0) once
 * "\r\n\r\n" was seen and the head is valid, 0 when more bytes are needed, or a negative HTTP
 * status: -400 malformed, -413 too large (head over AI_HTTP_MAX_HEAD or a body), -405 method,
 * -505 version. */
int ai_http_parse(const char *buf, size_t len, struct ai_http_req *req);

/* Find key in an x-www-form query ("a=1&reason=x"), percent-decode its value into out (NUL
 * terminated). Returns the value length, -1 when absent, -2 when malformed or too long. */
int ai_http_query_get(const char *query, const char *key, char *out, size_t outlen);

/* True when the Authorization value is "Bearer TOKEN" with exactly this token (constant time
 * in the token's length). */
bool ai_http_bearer_ok(const struct ai_http_req *req, const char *token, size_t token_len);

const char *ai_http_reason(int status);

#endif
