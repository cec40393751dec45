/* containers/storage's container list, scanned for one entry (storejson.h). The keys of each
 * entry are read at the entry's own level only: a nested value or another string that holds the
 * id is stepped over whole, strings with their escapes, so it never matches. */
#include "capture/storejson.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256 /* of a value stepped over (containers/storage's nest two or three deep) */

struct sc {
	const char *base, *p, *e;
	ai_err_t *err;
};

static int fail(struct sc *s, const char *what)
{
	return ai_err_set(s->err, 0, "%s at byte %zu", what, (size_t)(s->p - s->base));
}

static void ws(struct sc *s)
{
	while (s->p < s->e && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* The string at s->p: its body as written (escapes kept) in [*b, *b + *n), s->p past it. */
static int str_raw(struct sc *s, const char **b, size_t *n)
{
	if (s->p >= s->e || *s->p != '"')
		return fail(s, "a string expected");
	const char *q = s->p + 1;
	while (q < s->e) {
		unsigned char c = (unsigned char)*q;
		if (c == '"') {
			*b = s->p + 1;
			*n = (size_t)(q - *b);
			s->p = q + 1;
			return 0;
		}
		if (c < 0x20)
			return fail(s, "a control character in a string");
		q += c == '\\' ? 2 : 1;
	}
	return fail(s, "an unterminated string");
}

/* One value of any kind stepped over; brackets must pair up, strings end. */
static int skip_value(struct sc *s)
{
	char stack[MAX_DEPTH];
	size_t d = 0;
	ws(s);
	do {
		if (s->p >= s->e)
			return fail(s, "a truncated value");
		char c = *s->p;
		const char *b;
		size_t n;
		if (c == '"') {
			if (str_raw(s, &b, &n) < 0)
				return -1;
		} else if (c == '{' || c == '[') {
			if (d == MAX_DEPTH)
				return fail(s, "a value nested too deep");
			stack[d++] = c == '{' ? '}' : ']';
			s->p++;
		} else if (c == '}' || c == ']') {
			if (!d || stack[d - 1] != c)
				return fail(s, "an unpaired bracket");
			d--;
			s->p++;
		} else if (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (!d)
				return fail(s, "a value expected");
			s->p++;
		} else {
			const char *q = s->p;
			while (s->p < s->e &&
			       ((*s->p >= '0' && *s->p <= '9') || (*s->p >= 'a' && *s->p <= 'z') ||
				(*s->p >= 'A' && *s->p <= 'Z') || *s->p == '.' || *s->p == '+' ||
				*s->p == '-'))
				s->p++;
			if (s->p == q)
				return fail(s, "an unexpected byte");
		}
	} while (d);
	return 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

static long u4(const char *p)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* A string body unescaped into out (at most cap bytes): its length, -1 when an escape is
 * invalid or it holds a NUL, -2 when it is longer than cap. */
static long unesc(const char *b, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		char tmp[4];
		size_t tl = 1;
		if (b[i] != '\\') {
			tmp[0] = b[i++];
		} else {
			if (i + 1 >= n)
				return -1;
			char c = b[i + 1];
			i += 2;
			const char *simple = strchr("\"\\/bfnrt", c);
			if (c && simple) {
				static const char map[] = "\"\\/\b\f\n\r\t";
				tmp[0] = map[simple - "\"\\/bfnrt"];
			} else if (c == 'u') {
				if (i + 4 > n)
					return -1;
				long cp = u4(b + i);
				i += 4;
				if (cp < 0)
					return -1;
				if (cp >= 0xd800 && cp < 0xdc00) {
					if (i + 6 > n || b[i] != '\\' || b[i + 1] != 'u')
						return -1;
					long lo = u4(b + i + 2);
					if (lo < 0xdc00 || lo > 0xdfff)
						return -1;
					i += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return -1;
				}
				if (cp < 0x80) {
					tmp[0] = (char)cp;
				} else if (cp < 0x800) {
					tmp[0] = (char)(0xc0 | (cp >> 6)),
					tmp[1] = (char)(0x80 | (cp & 0x3f));
					tl = 2;
				} else if (cp < 0x10000) {
					tmp[0] = (char)(0xe0 | (cp >> 12)),
					tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
					tmp[2] = (char)(0x80 | (cp & 0x3f));
					tl = 3;
				} else {
					tmp[0] = (char)(0xf0 | (cp >> 18)),
					tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
					tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3f)),
					tmp[3] = (char)(0x80 | (cp & 0x3f));
					tl = 4;
				}
			} else {
				return -1;
			}
		}
		if (!tmp[0] && tl == 1)
			return -1;
		if (o + tl > cap)
			return -2;
		memcpy(out + o, tmp, tl);
		o += tl;
	}
	return (long)o;
}

/* The keys of interest of one object; a value is kept only when it is a string. */
struct want {
	const char *key;
	const char *b; /* its raw body, NULL when not a string */
	size_t n;
	unsigned seen;
};

/* The object at s->p, its own keys only, s->p past it. */
static int scan_object(struct sc *s, struct want *w, size_t nw)
{
	ws(s);
	if (s->p >= s->e || *s->p != '{')
		return fail(s, "an object expected");
	s->p++;
	ws(s);
	if (s->p < s->e && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		const char *kb;
		size_t kn;
		ws(s);
		if (str_raw(s, &kb, &kn) < 0)
			return -1;
		char key[32];
		long kl = unesc(kb, kn, key, sizeof(key) - 1);
		ws(s);
		if (s->p >= s->e || *s->p != ':')
			return fail(s, "a ':' expected");
		s->p++;
		ws(s);
		struct want *hit = NULL;
		for (size_t i = 0; kl >= 0 && i < nw && !hit; i++)
			if (strlen(w[i].key) == (size_t)kl && !memcmp(w[i].key, key, (size_t)kl))
				hit = &w[i];
		if (hit) {
			hit->seen++;
			hit->b = NULL;
			if (s->p < s->e && *s->p == '"') {
				if (str_raw(s, &hit->b, &hit->n) < 0)
					return -1;
			} else if (skip_value(s) < 0) {
				return -1;
			}
		} else if (skip_value(s) < 0) {
			return -1;
		}
		ws(s);
		if (s->p >= s->e)
			return fail(s, "a truncated object");
		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		if (*s->p != ',')
			return fail(s, "a ',' or '}' expected");
		s->p++;
	}
}

static bool hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A string value that must be 64 lowercase hex into out[65]: true when it is. */
static bool take_hex(const struct want *w, char out[65])
{
	char buf[64];
	long l = w->b ? unesc(w->b, w->n, buf, sizeof(buf)) : -1;
	out[0] = '\0';
	if (l != 64 || !hex64(buf, 64))
		return false;
	memcpy(out, buf, 64);
	out[64] = '\0';
	return true;
}

/* podman's metadata string is itself JSON: {"image-name":"...","image-id":...}. Anything else
 * (CRI-O writes its own form) leaves the name unknown, never an error. */
static void take_name(const struct want *meta, struct ai_store_entry *out)
{
	if (!meta->b)
		return;
	char *doc = malloc(meta->n + 1);
	if (!doc)
		abort();
	long l = unesc(meta->b, meta->n, doc, meta->n);
	if (l > 0) {
		ai_err_t e2;
		struct sc s = {doc, doc, doc + l, &e2};
		struct want w[] = {{.key = "image-name"}};
		if (scan_object(&s, w, 1) == 0 && w[0].seen == 1 && w[0].b) {
			long nl = unesc(w[0].b, w[0].n, out->image_name, sizeof(out->image_name) - 1);
			if (nl == -2)
				out->name_cut = true;
			if (nl > 0)
				out->image_name_len = (size_t)nl;
		}
	}
	out->image_name[out->image_name_len] = '\0';
	free(doc);
}

static int find(const char *doc, size_t len, const char *id, struct ai_store_entry *out, ai_err_t *err)
{
	if (!id || !hex64(id, strlen(id)))
		return ai_err_set(err, 0, "not a 64-hex container id");
	struct sc s = {doc, doc, doc + len, err};
	ws(&s);
	if (s.p >= s.e || *s.p != '[')
		return fail(&s, "not a JSON array");
	s.p++;
	ws(&s);
	int found = 0;
	if (s.p < s.e && *s.p == ']')
		s.p++;
	else
		for (;;) {
			struct want w[] = {
			    {.key = "id"}, {.key = "image"}, {.key = "layer"}, {.key = "metadata"}};
			const char *at = s.p;
			if (scan_object(&s, w, sizeof(w) / sizeof(w[0])) < 0)
				return -1;
			char eid[64];
			if (w[0].seen && w[0].b && unesc(w[0].b, w[0].n, eid, sizeof(eid)) == 64 &&
			    !memcmp(eid, id, 64)) {
				const char *end = s.p;
				s.p = at; /* where the errors point: the entry's start */
				if (found)
					return fail(&s, "a second entry with the container's id");
				for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
					if (w[i].seen > 1)
						return fail(&s, "a key twice in the container's entry");
				s.p = end;
				found = 1;
				out->image_id_bad = w[1].seen && !take_hex(&w[1], out->image_id);
				take_hex(&w[2], out->layer);
				take_name(&w[3], out);
			}
			ws(&s);
			if (s.p >= s.e)
				return fail(&s, "a truncated array");
			if (*s.p == ']') {
				s.p++;
				break;
			}
			if (*s.p != ',')
				return fail(&s, "a ',' or ']' expected");
			s.p++;
			ws(&s);
		}
	ws(&s);
	if (s.p != s.e)
		return fail(&s, "bytes after the array");
	return found;
}

int ai_store_find(const char *doc, size_t len, const char *id, struct ai_store_entry *out, ai_err_t *err)
{
	memset(out, 0, sizeof(*out));
	int rc = find(doc, len, id, out, err);
	if (rc != 1)
		memset(out, 0, sizeof(*out)); /* nothing half-taken from a document that failed later */
	return rc;
}
