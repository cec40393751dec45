/* The sidecar's strict HTTP/1.1 head parser (capture/http.c, linked from libcapture.a). */
#include "capture/http.h"
#include "tests/unit/t.h"
#include <stdio.h>
#include <string.h>

static int P(const char *s, struct ai_http_req *r)
{
	return ai_http_parse(s, strlen(s), r);
}

int main(void)
{
	struct ai_http_req r;
	const char *kube =
	    "GET /v1/capture?reason=preStop HTTP/1.1\r\nHost: 10.0.0.5:9102\r\nUser-Agent: "
	    "kube-probe/1.30\r\n"
	    "Authorization: Bearer 0123456789abcdef\r\nAccept: */*\r\nConnection: close\r\n\r\n";
	T_OK(P(kube, &r) == (int)strlen(kube), "the kubelet's preStop httpGet parses, head length returned");
	T_STREQ(r.path, "/v1/capture", "path");
	T_STREQ(r.query, "reason=preStop", "query");
	T_OK(r.method == AI_HTTP_GET && r.minor == 1 && r.has_host, "GET, HTTP/1.1, Host seen");
	T_OK(ai_http_bearer_ok(&r, "0123456789abcdef", 16), "bearer token accepted");
	T_OK(!ai_http_bearer_ok(&r, "0123456789abcdeX", 16), "one different byte refused");
	T_OK(!ai_http_bearer_ok(&r, "0123456789abcde", 15), "a prefix of the token refused");
	T_OK(!ai_http_bearer_ok(&r, "0123456789abcdef0", 17), "a longer token refused");
	char v[64];
	T_OK(ai_http_query_get(r.query, "reason", v, sizeof(v)) == 7 && !strcmp(v, "preStop"),
	     "reason=preStop");

	/* incremental: every strict prefix needs more bytes (or is already refused) */
	int need_more = 1;
	for (size_t i = 0; i < strlen(kube); i++)
		if (ai_http_parse(kube, i, &r) != 0)
			need_more = 0;
	T_OK(need_more, "every prefix of a valid head asks for more bytes");
	/* pipelined bytes after the head are left alone */
	char two[512];
	snprintf(two, sizeof(two), "%sGET /x", kube);
	T_OK(P(two, &r) == (int)strlen(kube), "bytes after the head are not consumed");

	T_OK(P("GET / HTTP/1.1\nHost: x\n\n", &r) == -400, "bare LF: 400");
	T_OK(P("GET / HTTP/1.1\rHost: x\r\n\r\n", &r) == -400, "bare CR: 400");
	T_OK(P("GET / HTTP/1.1\r\nHost : x\r\n\r\n", &r) == -400, "space before colon: 400");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", &r) == -400, "obs-fold: 400");
	T_OK(P("GET / HTTP/1.1\r\n\r\n", &r) == -400, "HTTP/1.1 without Host: 400");
	T_OK(P("GET / HTTP/1.0\r\n\r\n", &r) > 0, "HTTP/1.0 without Host is fine");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", &r) == -400, "two Host fields: 400");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", &r) == -400,
	     "two Content-Length: 400");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n", &r) == -400,
	     "signed Content-Length: 400");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r) > 0,
	     "Content-Length: 0 is fine");
	T_OK(P("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", &r) == -413, "a body: 413");
	T_OK(P("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", &r) == -413,
	     "chunked body: 413");
	T_OK(P("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", &r) == -405, "unknown method: 405");
	T_OK(P("get / HTTP/1.1\r\nHost: x\r\n\r\n", &r) == -405, "methods are case-sensitive");
	T_OK(P("GET / HTTP/2.0\r\nHost: x\r\n\r\n", &r) == -505, "HTTP/2.0: 505");
	T_OK(P("GET / HTTP/1.2\r\nHost: x\r\n\r\n", &r) == -505, "HTTP/1.2: 505");
	T_OK(P("GET / FOO/1.1\r\nHost: x\r\n\r\n", &r) == -400, "not HTTP: 400");
	T_OK(P("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", &r) == -400, "two spaces: 400");
	T_OK(P("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", &r) == -400, "absolute-form target: 400");
	T_OK(P("GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", &r) == -400, "fragment in target: 400");
	T_OK(ai_http_parse("GET / HTTP/1.1\r\nHost: x\0\r\n\r\n", 28, &r) == -400, "NUL byte: 400");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\x01\r\n\r\n", &r) == -400, "control byte in a value: 400");

	static char big[AI_HTTP_MAX_HEAD + 100];
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	T_OK(ai_http_parse(big, AI_HTTP_MAX_HEAD - 1, &r) == 0, "under the limit without an end: need more");
	T_OK(ai_http_parse(big, AI_HTTP_MAX_HEAD, &r) == -413,
	     "head of AI_HTTP_MAX_HEAD bytes without an end: 413");
	T_OK(ai_http_parse(big, sizeof(big) - 1, &r) == -413, "longer: 413");
	char longt[AI_HTTP_MAX_TARGET + 64];
	int n = snprintf(longt, sizeof(longt), "GET /");
	memset(longt + n, 'p', AI_HTTP_MAX_TARGET);
	snprintf(longt + n + AI_HTTP_MAX_TARGET, sizeof(longt) - (size_t)n - AI_HTTP_MAX_TARGET,
		 " HTTP/1.1\r\n\r\n");
	T_OK(P(longt, &r) == -413, "target over AI_HTTP_MAX_TARGET: 413");
	char many[4096];
	n = snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 0; i < AI_HTTP_MAX_HEADERS; i++)
		n += snprintf(many + n, sizeof(many) - (size_t)n, "X%d: y\r\n", i);
	snprintf(many + n, sizeof(many) - (size_t)n, "\r\n");
	T_OK(P(many, &r) == -413, "more than AI_HTTP_MAX_HEADERS fields: 413");

	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
	       &r) == -400,
	     "two Authorization fields: 400");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\nauthorization:bearer   0123456789abcdef\t\r\n\r\n", &r) > 0 &&
		 ai_http_bearer_ok(&r, "0123456789abcdef", 16),
	     "field name and scheme case-insensitive, OWS trimmed");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic 0123456789abcdef\r\n\r\n", &r) > 0 &&
		 !ai_http_bearer_ok(&r, "0123456789abcdef", 16),
	     "Basic scheme refused");
	T_OK(P("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r) > 0 && !ai_http_bearer_ok(&r, "0123456789abcdef", 16),
	     "no Authorization refused");

	T_OK(ai_http_query_get("a=1&reason=OOM%20kill+now&b=2", "reason", v, sizeof(v)) == 12 &&
		 !strcmp(v, "OOM kill now"),
	     "percent and plus decoding");
	T_OK(ai_http_query_get("reason=%zz", "reason", v, sizeof(v)) == -2, "bad escape: malformed");
	T_OK(ai_http_query_get("reason=%4", "reason", v, sizeof(v)) == -2, "truncated escape: malformed");
	T_OK(ai_http_query_get("reason=abc", "reason", v, 3) == -2, "too long for the buffer: malformed");
	T_OK(ai_http_query_get("reasons=x", "reason", v, sizeof(v)) == -1, "a longer key is another key");
	T_OK(ai_http_query_get("", "reason", v, sizeof(v)) == -1, "absent");
	T_OK(ai_http_query_get("reason", "reason", v, sizeof(v)) == 0 && v[0] == '\0',
	     "key without value: empty");
	T_STREQ(ai_http_reason(413), "Content Too Large", "413 reason phrase");
	return t_done();
}
