#include "analyze/util.h"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/hash.h"
#include "common/json.h"

int az_j_parse(const char *doc, size_t len, const char *what, json_t **out, ai_err_t *err)
{
	json_error_t je;
	json_t *j = json_loadb(doc, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!j)
		return ai_err_set(err, 0, "%s: invalid JSON at line %d column %d: %s", what, je.line,
				  je.column, je.text);
	*out = j;
	return 0;
}

static size_t skip_ws(const char *p, size_t len, size_t i)
{
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

/* One JSON value at p[*i]; *i moves past it. With JSON_DISABLE_EOF_CHECK jansson reports in
 * position the bytes the value took (after a number it ungets the byte that ended it). */
static json_t *value_at(const char *p, size_t len, size_t *i, const char *what, ai_err_t *err)
{
	json_error_t je;
	json_t *v = json_loadb(
	    p + *i, len - *i,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
	if (!v) {
		ai_err_set(err, 0, "%s: invalid JSON at byte %zu: %s", what,
			   *i + (je.position > 0 ? (size_t)je.position : 0), je.text);
		return NULL;
	}
	size_t used = je.position > 0 ? (size_t)je.position : 0;
	if (used > len - *i)
		used = len - *i;
	*i += used;
	return v;
}

/* The same, but a value whose text is longer than the longest string kept is first copied with
 * its long strings cut (jscan.h), so jansson never holds a hostile 250 MB string (it would cost
 * three to four times that while lexing). */
static json_t *value_cut_at(const char *p, size_t len, size_t *i, const char *what, struct az_j_cuts *cuts,
			    ai_err_t *err)
{
	size_t ext = az_jscan_extent(p + *i, len - *i);
	if (ext <= AZ_J_MAX_STRING)
		return value_at(p, len, i, what, err); /* small, or unterminated: jansson says why */
	cleanup_buf struct ai_buf c;
	ai_buf_init(&c);
	az_jscan_cut(p + *i, ext, &c, cuts);
	json_error_t je;
	json_t *v = json_loadb(c.data, c.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
	if (!v) {
		ai_err_set(err, 0, "%s: invalid JSON in the value at byte %zu: %s", what, *i, je.text);
		return NULL;
	}
	*i += ext;
	return v;
}

/* At an opening '{' or '[': step in; false (and past `close`) when the container is empty. */
static bool open_container(const char *doc, size_t len, size_t *i, char close)
{
	*i = skip_ws(doc, len, *i + 1);
	if (*i < len && doc[*i] == close) {
		(*i)++;
		return false;
	}
	return true;
}

/* After an item: 1 on ',' (another follows), 0 on `close`, -1 (err set) on anything else. */
static int next_item(const char *doc, size_t len, size_t *i, char close, const char *what, ai_err_t *err)
{
	*i = skip_ws(doc, len, *i);
	if (*i >= len || (doc[*i] != ',' && doc[*i] != close))
		return ai_err_set(err, 0, "%s: invalid JSON at byte %zu: ',' or '%c' expected", what, *i,
				  close);
	int more = doc[*i] == ',';
	*i = skip_ws(doc, len, *i + 1);
	return more;
}

static int stream_array(const char *doc, size_t len, size_t *i, const char *what, const char *key,
			az_j_elem_fn elem, void *ud, struct az_j_cuts *cuts, ai_err_t *err)
{
	int more = open_container(doc, len, i, ']');
	for (size_t n = 0; more > 0; n++) {
		json_t *e cleanup_json = value_cut_at(doc, len, i, what, cuts, err);
		if (!e)
			return -1;
		if (elem(ud, e, n, err) < 0)
			return ai_err_wrap(err, "%s: %s[%zu]", what, key, n);
		more = next_item(doc, len, i, ']', what, err);
	}
	return more;
}

int az_j_stream_ex(const char *doc, size_t len, const char *what, const char *key, unsigned flags,
		   az_j_elem_fn elem, az_j_other_fn other, void *ud, struct az_j_cuts *cuts, ai_err_t *err)
{
	size_t i = skip_ws(doc, len, 0);
	bool seen = false;
	json_t *keys cleanup_json = json_object(); /* the other top-level keys, to refuse repeats */
	if (!keys)
		abort();
	if (i >= len || doc[i] != '{')
		return ai_err_set(err, 0, "%s: not a JSON object", what);
	/* JSON has no raw NUL byte (a string writes \u0000); jansson reads some as nothing */
	const char *nul = memchr(doc, '\0', len);
	if (nul)
		return ai_err_set(err, 0, "%s: invalid JSON at byte %zu: a NUL byte", what,
				  (size_t)(nul - doc));
	int more = open_container(doc, len, &i, '}');
	while (more > 0) {
		if (i >= len || doc[i] != '"')
			return ai_err_set(err, 0, "%s: invalid JSON at byte %zu: object key expected", what,
					  i);
		if (az_jscan_extent(doc + i, len - i) > AZ_J_MAX_STRING)
			return ai_err_set(err, 0, "%s: an object key at byte %zu longer than %u bytes", what,
					  i, AZ_J_MAX_STRING);
		json_t *k cleanup_json = value_at(doc, len, &i, what, err);
		if (!k)
			return -1;
		i = skip_ws(doc, len, i);
		if (i >= len || doc[i] != ':')
			return ai_err_set(err, 0, "%s: invalid JSON at byte %zu: ':' expected", what, i);
		i = skip_ws(doc, len, i + 1);
		const char *ks = json_string_value(k);
		if (key && !strcmp(ks, key) && strlen(ks) == json_string_length(k)) {
			if (seen)
				return ai_err_set(err, 0, "%s: duplicate object key \"%s\"", what, key);
			seen = true;
			if (i >= len || doc[i] != '[')
				return ai_err_set(err, 0, "%s: \"%s\" is not an array", what, key);
			if (stream_array(doc, len, &i, what, key, elem, ud, cuts, err) < 0)
				return -1;
		} else {
			if (json_object_get(keys, ks))
				return ai_err_set(err, 0, "%s: duplicate object key", what);
			json_object_set_new(keys, ks, json_null());
			json_t *v cleanup_json = value_cut_at(doc, len, &i, what, cuts, err);
			if (!v || (other && other(ud, ks, v, err) < 0))
				return -1;
		}
		more = next_item(doc, len, &i, '}', what, err);
	}
	if (more < 0)
		return -1;
	if (skip_ws(doc, len, i) != len)
		return ai_err_set(err, 0, "%s: invalid JSON at byte %zu: end of input expected", what, i);
	if (!seen && key && !(flags & AZ_J_KEY_OPTIONAL))
		return ai_err_set(err, 0, "%s: no \"%s\" array", what, key);
	return 0;
}

int az_j_stream(const char *doc, size_t len, const char *what, const char *key, az_j_elem_fn elem,
		az_j_other_fn other, void *ud, ai_err_t *err)
{
	return az_j_stream_ex(doc, len, what, key, 0, elem, other, ud, NULL, err);
}

struct read_array {
	size_t size, cap;
	az_j_item_fn one;
	char *items;
	size_t *n;
	az_j_other_fn other;
	void *other_ud;
};

static int read_array_elem(void *ud, json_t *e, size_t i, ai_err_t *err)
{
	struct read_array *r = ud;
	if (i == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 256;
		if (!(r->items = realloc(r->items, ncap * r->size)))
			abort();
		memset(r->items + r->cap * r->size, 0, (ncap - r->cap) * r->size);
		r->cap = ncap;
	}
	*r->n = i + 1;
	return r->one(e, r->items + i * r->size, err);
}

static int read_array_other(void *ud, const char *key, json_t *v, ai_err_t *err)
{
	struct read_array *r = ud;
	return r->other ? r->other(r->other_ud, key, v, err) : 0;
}

int az_j_read_array_ex(const char *doc, size_t len, const char *what, const char *key, size_t size,
		       az_j_item_fn one, void **items, size_t *n, az_j_other_fn other, void *ud,
		       struct az_j_cuts *cuts, ai_err_t *err)
{
	struct read_array r = {.size = size, .one = one, .n = n, .other = other, .other_ud = ud};
	*n = 0;
	int rc = az_j_stream_ex(doc, len, what, key, 0, read_array_elem, read_array_other, &r, cuts, err);
	if (!r.items && !(r.items = calloc(1, size)))
		abort();
	*items = r.items;
	return rc;
}

int az_j_read_array(const char *doc, size_t len, const char *what, const char *key, size_t size,
		    az_j_item_fn one, void **items, size_t *n, az_j_other_fn other, void *ud, ai_err_t *err)
{
	return az_j_read_array_ex(doc, len, what, key, size, one, items, n, other, ud, NULL, err);
}

int az_j_strv(json_t *v, json_t *hexv, struct az_str *out, ai_err_t *err)
{
	out->s = NULL;
	out->len = 0;
	if (hexv && json_is_string(hexv)) {
		const char *h = json_string_value(hexv);
		size_t hl = json_string_length(hexv);
		if (hl % 2)
			return ai_err_set(err, 0, "odd-length hex string");
		char *b = malloc(hl / 2 + 1);
		if (!b)
			abort();
		for (size_t i = 0; i < hl / 2; i++) {
			int hi = ai_hexval((unsigned char)h[2 * i]),
			    lo = ai_hexval((unsigned char)h[2 * i + 1]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(b);
				return ai_err_set(err, 0, "invalid hex string (bad digit or NUL byte)");
			}
			b[i] = (char)(hi << 4 | lo);
		}
		b[hl / 2] = '\0';
		out->s = b;
		out->len = hl / 2;
		return 0;
	}
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return ai_err_set(err, 0, "expected a string");
	size_t l = json_string_length(v);
	const char *s = json_string_value(v);
	if (memchr(s, '\0', l))
		return ai_err_set(err, 0, "string holds a NUL byte");
	return az_str_set(out, s, l);
}

int az_j_str(json_t *obj, const char *key, struct az_str *out, ai_err_t *err)
{
	char hk[128];
	snprintf(hk, sizeof(hk), "%s_hex", key);
	if (az_j_strv(json_object_get(obj, key), json_object_get(obj, hk), out, err) < 0)
		return ai_err_wrap(err, "\"%s\"", key);
	return 0;
}

int64_t az_j_int(json_t *obj, const char *key, int64_t def)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	return def;
}

bool az_j_bool(json_t *obj, const char *key)
{
	return json_is_true(json_object_get(obj, key));
}

void az_j_fixed(json_t *obj, const char *key, char *out, size_t outlen)
{
	json_t *v = json_object_get(obj, key);
	out[0] = '\0';
	if (!json_is_string(v) || json_string_length(v) >= outlen)
		return;
	const char *s = json_string_value(v);
	for (size_t i = 0; i < json_string_length(v); i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return;
	memcpy(out, s, json_string_length(v) + 1);
}

void az_j_sha256(json_t *obj, const char *key, char out[65])
{
	json_t *v = json_object_get(obj, key);
	out[0] = '\0';
	if (!json_is_string(v) || json_string_length(v) != 64)
		return;
	const char *s = json_string_value(v);
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return;
	memcpy(out, s, 65);
}

/* The field as a view shows it: whole when short, else cut with its marker, in tmp. */
static const char *view_field(struct ai_buf *tmp, const char *s, size_t *len)
{
	if (!s || *len <= AZ_VIEW_MAX_FIELD)
		return s;
	/* a string the loader cut already (jscan.h) ends in its marker: N stays the bundle's length */
	size_t whole = *len;
	static const char mk[] = "\xe2\x80\xa6[cut, ";
	for (size_t b = *len > 48 ? *len - 48 : 0; b + sizeof(mk) - 1 < *len; b++)
		if (!memcmp(s + b, mk, sizeof(mk) - 1)) {
			unsigned long long n = strtoull(s + b + sizeof(mk) - 1, NULL, 10);
			if (n > whole)
				whole = (size_t)n;
			break;
		}
	size_t k = AZ_VIEW_MAX_FIELD;
	for (int back = 0; back < 3 && k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80; back++)
		k--; /* s[k] begins the next character (or the bytes were not UTF-8 anyway) */
	ai_buf_add(tmp, s, k);
	ai_buf_printf(tmp, "\xe2\x80\xa6[cut, %zu bytes]", whole);
	*len = tmp->len;
	return tmp->data;
}

void az_esc_text(struct ai_buf *out, const char *s, size_t len)
{
	cleanup_buf struct ai_buf t;
	ai_buf_init(&t);
	s = view_field(&t, s, &len);
	ai_esc_text(out, s, len);
}

void az_esc_html(struct ai_buf *out, const char *s, size_t len)
{
	cleanup_buf struct ai_buf t;
	ai_buf_init(&t);
	s = view_field(&t, s, &len);
	ai_esc_html(out, s, len);
}

void az_esc_csv(struct ai_buf *out, const char *s, size_t len)
{
	cleanup_buf struct ai_buf t;
	ai_buf_init(&t);
	s = view_field(&t, s, &len);
	ai_esc_csv(out, s, len);
}

int az_write_stdout(const struct ai_buf *b, ai_err_t *err)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(STDOUT_FILENO, b->data + off, b->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ai_err_set(err, errno, "write stdout");
		}
		off += (size_t)n;
	}
	return 0;
}

void az_perm_string(uint32_t mode, char out[10])
{
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[i] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
	if (mode & 04000)
		out[2] = (mode & 0100) ? 's' : 'S';
	if (mode & 02000)
		out[5] = (mode & 010) ? 's' : 'S';
	if (mode & 01000)
		out[8] = (mode & 01) ? 't' : 'T';
	out[9] = '\0';
}

void az_time_iso(char *out, size_t outlen, int64_t ns)
{
	if (ns == 0) {
		out[0] = '\0';
		return;
	}
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;
	if (rem < 0) {
		rem += 1000000000;
		sec--;
	}
	ai_time_format(out, outlen, sec, (long)rem);
}

int64_t az_time_parse(const char *s)
{
	if (!s)
		return 0;
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return 0;
	int64_t ns = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits < 9) {
				ns = ns * 10 + (*p - '0');
				digits++;
			}
		for (; digits < 9; digits++)
			ns *= 10;
	}
	int64_t off = 0;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2)
			off = (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
	}
	int64_t sec = (int64_t)timegm(&tm) - off;
	/* Nanoseconds since 1970 in an int64_t reach the years 1678..2261; a time beyond (an image
	 * config "created" in 3938) is as unknown as an unparsable one, not an overflow. */
	if (sec >= INT64_MAX / 1000000000 || sec <= INT64_MIN / 1000000000)
		return 0;
	return sec * 1000000000 + ns;
}

int az_read_fd(int fd, const char *name, size_t max, char **out, size_t *len, ai_err_t *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ai_err_set(err, errno, "%s", name);
	if (!S_ISREG(st.st_mode))
		return ai_err_set(err, 0, "%s: not a regular file", name);
	if ((uint64_t)st.st_size > max)
		return ai_err_set(err, 0, "%s: larger than %zu bytes", name, max);
	char *b = malloc((size_t)st.st_size + 1);
	if (!b)
		abort();
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(b);
			return ai_err_set(err, n < 0 ? errno : 0, "%s: short read", name);
		}
		got += (size_t)n;
	}
	b[got] = '\0';
	*out = b;
	*len = got;
	return 0;
}
