/* Strict HTTP/1.1 request-head parser (RFC 9112 grammar, minus everything the trigger endpoint
 * does not need). Pure: no I/O, no allocation; fuzzed by tests/fuzz/http_parse.c. */
#include "capture/http.h"
#include "common/hash.h"
#include <string.h>
#include <strings.h>

static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar / SP / HTAB; obs-text (0x80-0xff) is accepted as opaque bytes. */
static bool is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* request-target: origin-form only, visible ASCII. */
static bool is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static bool ieq(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

int ai_http_parse(const char *buf, size_t len, struct ai_http_req *req)
{
	memset(req, 0, sizeof(*req));
	/* Only look at the first AI_HTTP_MAX_HEAD bytes: the end of the head must be in there. */
	size_t scan = len < AI_HTTP_MAX_HEAD ? len : AI_HTTP_MAX_HEAD;
	size_t end = 0;
	for (size_t i = 0; i + 3 < scan; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
			end = i + 4;
			break;
		}
	}
	/* A bare LF anywhere in what we have is malformed at once (no waiting for more). */
	for (size_t i = 0; i < scan; i++) {
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return -400;
		if (buf[i] == '\r' && i + 1 < scan && buf[i + 1] != '\n')
			return -400;
		if (buf[i] == '\0')
			return -400;
	}
	if (!end)
		return len >= AI_HTTP_MAX_HEAD ? -413 : 0;

	/* Request line: METHOD SP TARGET SP HTTP/1.x CRLF */
	const char *p = buf, *lim = buf + end - 2; /* lim: the final CRLF */
	const char *eol = memchr(p, '\r', (size_t)(lim - p));
	if (!eol)
		return -400;
	const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1 || sp1 == p)
		return -400;
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return -400;
	size_t mlen = (size_t)(sp1 - p);
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
	if (!sp2 || sp2 == t)
		return -400;
	const char *ver = sp2 + 1;
	if (eol - ver != 8 || memcmp(ver, "HTTP/1.", 7) != 0)
		return memchr(ver, ' ', (size_t)(eol - ver)) || eol - ver < 5 || memcmp(ver, "HTTP/", 5)
			   ? -400
			   : -505;
	if (ver[7] == '1')
		req->minor = 1;
	else if (ver[7] == '0')
		req->minor = 0;
	else
		return -505;
	if (*t != '/')
		return -400;
	size_t tlen = (size_t)(sp2 - t);
	if (tlen >= AI_HTTP_MAX_TARGET)
		return -413; /* a 414 in spirit; the endpoint answers 413 for every oversize */
	for (const char *q = t; q < sp2; q++)
		if (!is_target_char((unsigned char)*q) || *q == '#')
			return -400;
	const char *qm = memchr(t, '?', tlen);
	size_t plen = qm ? (size_t)(qm - t) : tlen;
	memcpy(req->path, t, plen);
	req->path[plen] = '\0';
	if (qm) {
		memcpy(req->query, qm + 1, tlen - plen - 1);
		req->query[tlen - plen - 1] = '\0';
	}
	/* Known methods only, checked after the line is known to be well formed. */
	int method = 0;
	if (mlen == 3 && !memcmp(p, "GET", 3))
		method = AI_HTTP_GET;
	else if (mlen == 4 && !memcmp(p, "POST", 4))
		method = AI_HTTP_POST;
	else if (mlen == 4 && !memcmp(p, "HEAD", 4))
		method = AI_HTTP_HEAD;

	/* Header fields. */
	int nhdr = 0;
	bool has_cl = false;
	p = eol + 2;
	while (p < lim) {
		eol = memchr(p, '\r', (size_t)(lim - p));
		if (!eol)
			return -400;
		if (++nhdr > AI_HTTP_MAX_HEADERS)
			return -413;
		if (*p == ' ' || *p == '\t')
			return -400; /* obs-fold */
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return -400;
		for (const char *q = p; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				return -400; /* includes whitespace before the colon */
		const char *v = colon + 1, *ve = eol;
		for (const char *q = v; q < ve; q++)
			if (!is_value_char((unsigned char)*q))
				return -400;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t nlen = (size_t)(colon - p), vlen = (size_t)(ve - v);
		if (ieq(p, nlen, "authorization")) {
			if (req->has_auth)
				return -400;
			req->has_auth = true;
			if (vlen >= sizeof(req->auth)) {
				req->auth_too_long = true;
			} else {
				memcpy(req->auth, v, vlen);
				req->auth[vlen] = '\0';
			}
		} else if (ieq(p, nlen, "host")) {
			if (req->has_host)
				return -400;
			req->has_host = true;
		} else if (ieq(p, nlen, "content-length")) {
			if (has_cl || vlen == 0 || vlen > 18)
				return -400;
			has_cl = true;
			unsigned long long cl = 0;
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					return -400;
				cl = cl * 10 + (unsigned)(v[i] - '0');
			}
			if (cl > 0)
				return -413; /* the endpoint takes no body */
		} else if (ieq(p, nlen, "transfer-encoding")) {
			return -413; /* a body in chunks: refused like any body */
		}
		p = eol + 2;
	}
	if (req->minor == 1 && !req->has_host)
		return -400;
	if (!method)
		return -405;
	req->method = (enum ai_http_method)method;
	return (int)end;
}

int ai_http_query_get(const char *query, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);
		if (plen > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			size_t o = 0;
			for (size_t i = klen + 1; i < plen; i++) {
				char c = p[i];
				if (c == '%') {
					if (i + 2 >= plen)
						return -2;
					int h = ai_hexval(p[i + 1]), l = ai_hexval(p[i + 2]);
					if (h < 0 || l < 0)
						return -2;
					c = (char)(h * 16 + l);
					i += 2;
				} else if (c == '+') {
					c = ' ';
				}
				if (o + 1 >= outlen)
					return -2;
				out[o++] = c;
			}
			out[o] = '\0';
			return (int)o;
		}
		if (plen == klen && !strncmp(p, key, klen)) {
			if (outlen)
				out[0] = '\0';
			return 0;
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	return -1;
}

bool ai_http_bearer_ok(const struct ai_http_req *req, const char *token, size_t token_len)
{
	if (!req->has_auth || req->auth_too_long || token_len == 0)
		return false;
	const char *a = req->auth;
	if (strncasecmp(a, "Bearer ", 7) != 0)
		return false;
	a += 7;
	while (*a == ' ')
		a++;
	size_t alen = strlen(a);
	/* Compare every byte of the token whatever the given length, no early exit. */
	unsigned char diff = (unsigned char)(alen != token_len);
	for (size_t i = 0; i < token_len; i++)
		diff |= (unsigned char)(token[i] ^ (i < alen ? a[i] : 0));
	return diff == 0;
}

const char *ai_http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}
