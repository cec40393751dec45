#include "common/json.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ai_json_init(struct ai_json *j, struct ai_buf *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
	j->first[0] = true;
}

/* Separators are decided here so callers never track commas. */
static void before_value(struct ai_json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (!j->first[j->depth])
		ai_buf_addc(j->out, ',');
	j->first[j->depth] = false;
}

static void open_(struct ai_json *j, char c)
{
	before_value(j);
	ai_buf_addc(j->out, c);
	if (j->depth + 1 >= AI_JSON_MAX_DEPTH)
		abort(); /* a programming error: our documents are shallow */
	j->depth++;
	j->first[j->depth] = true;
}

static void close_(struct ai_json *j, char c)
{
	ai_buf_addc(j->out, c);
	if (j->depth > 0)
		j->depth--;
}

void ai_json_obj_begin(struct ai_json *j)
{
	open_(j, '{');
}
void ai_json_obj_end(struct ai_json *j)
{
	close_(j, '}');
}
void ai_json_arr_begin(struct ai_json *j)
{
	open_(j, '[');
}
void ai_json_arr_end(struct ai_json *j)
{
	close_(j, ']');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool ai_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(u + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

static void write_string(struct ai_buf *out, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	ai_buf_addc(out, '"');
	size_t run = 0; /* start of a run of bytes that need no escaping */
	for (size_t i = 0; i < len;) {
		unsigned char c = u[i];
		size_t n = utf8_seq(u + i, len - i);
		if (n == 1 && c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) {
			i++;
			continue;
		}
		if (n > 1) {
			i += n;
			continue;
		}
		ai_buf_add(out, s + run, i - run);
		if (n == 0)
			ai_buf_adds(out, "\xef\xbf\xbd"); /* U+FFFD; exact bytes go in _hex */
		else if (c == '"')
			ai_buf_adds(out, "\\\"");
		else if (c == '\\')
			ai_buf_adds(out, "\\\\");
		else if (c == '\n')
			ai_buf_adds(out, "\\n");
		else if (c == '\t')
			ai_buf_adds(out, "\\t");
		else
			ai_buf_printf(out, "\\u%04x", c);
		i++;
		run = i;
	}
	ai_buf_add(out, s + run, len - run);
	ai_buf_addc(out, '"');
}

void ai_json_key(struct ai_json *j, const char *key)
{
	before_value(j);
	write_string(j->out, key, strlen(key));
	ai_buf_addc(j->out, ':');
	j->after_key = true;
}

void ai_json_strn(struct ai_json *j, const char *s, size_t len)
{
	before_value(j);
	write_string(j->out, s, len);
}

void ai_json_str(struct ai_json *j, const char *s)
{
	if (!s)
		ai_json_null(j);
	else
		ai_json_strn(j, s, strlen(s));
}

void ai_json_int(struct ai_json *j, int64_t v)
{
	before_value(j);
	ai_buf_printf(j->out, "%" PRId64, v);
}

void ai_json_uint(struct ai_json *j, uint64_t v)
{
	before_value(j);
	ai_buf_printf(j->out, "%" PRIu64, v);
}

void ai_json_bool(struct ai_json *j, bool v)
{
	before_value(j);
	ai_buf_adds(j->out, v ? "true" : "false");
}

void ai_json_null(struct ai_json *j)
{
	before_value(j);
	ai_buf_adds(j->out, "null");
}

void ai_json_raw(struct ai_json *j, const char *raw)
{
	before_value(j);
	ai_buf_adds(j->out, raw);
}

void ai_json_kstr(struct ai_json *j, const char *key, const char *s)
{
	ai_json_key(j, key);
	ai_json_str(j, s);
}

void ai_json_kint(struct ai_json *j, const char *key, int64_t v)
{
	ai_json_key(j, key);
	ai_json_int(j, v);
}

void ai_json_kuint(struct ai_json *j, const char *key, uint64_t v)
{
	ai_json_key(j, key);
	ai_json_uint(j, v);
}

void ai_json_kbool(struct ai_json *j, const char *key, bool v)
{
	ai_json_key(j, key);
	ai_json_bool(j, v);
}

void ai_json_kbytes(struct ai_json *j, const char *key, const char *s, size_t len)
{
	ai_json_key(j, key);
	if (!s) {
		ai_json_null(j);
		return;
	}
	ai_json_strn(j, s, len);
	if (ai_utf8_valid(s, len))
		return;
	char hkey[128];
	snprintf(hkey, sizeof(hkey), "%s_hex", key);
	ai_json_key(j, hkey);
	before_value(j);
	ai_buf_addc(j->out, '"');
	for (size_t i = 0; i < len; i++)
		ai_buf_printf(j->out, "%02x", (unsigned char)s[i]);
	ai_buf_addc(j->out, '"');
}

void ai_time_format(char *out, size_t outlen, int64_t sec, long nsec)
{
	struct tm tm;
	time_t t = (time_t)sec;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, outlen, "invalid");
		return;
	}
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outlen, "%s.%09ldZ", base, nsec);
}

void ai_json_ktime(struct ai_json *j, const char *key, int64_t sec, long nsec)
{
	char t[64], nkey[128];
	ai_time_format(t, sizeof(t), sec, nsec);
	ai_json_kstr(j, key, t);
	snprintf(nkey, sizeof(nkey), "%s_ns", key);
	ai_json_kint(j, nkey, sec * 1000000000LL + nsec);
}
