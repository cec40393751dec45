/* JSON value extents and cuts (see jscan.h). */
#include "analyze/jscan.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/hash.h"

enum { M_START, M_STR, M_SCALAR, M_CONT, M_DONE };

void az_jscan_init(struct az_jscan *s)
{
	memset(s, 0, sizeof(*s));
}

static bool ends_scalar(char c)
{
	return c == ',' || c == '}' || c == ']' || c == ':' || c == ' ' || c == '\t' || c == '\n' ||
	       c == '\r';
}

size_t az_jscan_feed(struct az_jscan *s, const char *p, size_t len, bool *done)
{
	size_t i = 0;
	*done = s->mode == M_DONE;
	while (i < len && s->mode != M_DONE) {
		char c = p[i];
		switch (s->mode) {
		case M_START:
			s->mode = c == '"' ? M_STR : (c == '{' || c == '[') ? M_CONT : M_SCALAR;
			if (s->mode == M_CONT)
				s->depth = 1;
			if (s->mode != M_SCALAR)
				i++;
			break;
		case M_STR:
			/* the bulk of a document: run to the next quote or backslash */
			while (i < len && !s->esc && p[i] != '"' && p[i] != '\\')
				i++;
			if (i == len)
				break;
			if (s->esc)
				s->esc = false;
			else if (p[i] == '\\')
				s->esc = true;
			else
				s->mode = M_DONE;
			i++;
			break;
		case M_SCALAR:
			if (ends_scalar(c)) {
				s->mode = M_DONE;
				break;
			}
			i++;
			break;
		case M_CONT:
			if (s->in_str) {
				while (i < len && !s->esc && p[i] != '"' && p[i] != '\\')
					i++;
				if (i == len)
					break;
				if (s->esc)
					s->esc = false;
				else if (p[i] == '\\')
					s->esc = true;
				else
					s->in_str = false;
			} else if (c == '"')
				s->in_str = true;
			else if (c == '{' || c == '[')
				s->depth++;
			else if ((c == '}' || c == ']') && --s->depth == 0)
				s->mode = M_DONE;
			i++;
			break;
		}
	}
	*done = s->mode == M_DONE;
	return i;
}

size_t az_jscan_extent(const char *p, size_t len)
{
	struct az_jscan s;
	az_jscan_init(&s);
	bool done;
	size_t n = az_jscan_feed(&s, p, len, &done);
	if (!done && s.mode == M_SCALAR)
		return n; /* a number or literal at the end of the text */
	return done ? n : 0;
}

/* ---- cutting */

/* The bytes of the string's content s[0..n) to keep, at most max: never inside an escape (a
 * surrogate pair counts as one), never inside a UTF-8 sequence. */
static size_t cut_point(const char *s, size_t n, size_t max)
{
	size_t j = 0;
	while (j < n) {
		unsigned char c = (unsigned char)s[j];
		size_t l = 1;
		if (c == '\\') {
			l = j + 1 < n && s[j + 1] == 'u' ? 6 : 2;
			if (l == 6 && j + 12 <= n && (s[j + 2] == 'd' || s[j + 2] == 'D') && s[j + 3] &&
			    strchr("89abAB", s[j + 3]) && s[j + 6] == '\\' && s[j + 7] == 'u')
				l = 12;
		} else if (c >= 0xf0)
			l = 4;
		else if (c >= 0xe0)
			l = 3;
		else if (c >= 0xc0)
			l = 2;
		if (j + l > max)
			break;
		j += l;
	}
	return j;
}

struct frame {
	bool obj, expect_key, key_hex, hex;
};
#define MAX_FRAMES 4096 /* deeper than jansson parses at all: copied as is, jansson refuses it */

static void add_string(struct ai_buf *out, const char *s, size_t n, bool hex, size_t max,
		       struct az_j_cuts *cuts)
{
	if (n <= max) {
		ai_buf_addc(out, '"');
		ai_buf_add(out, s, n);
		ai_buf_addc(out, '"');
		return;
	}
	char marker[64];
	int ml = snprintf(marker, sizeof(marker), "\xe2\x80\xa6[cut, %llu bytes]",
			  (unsigned long long)(hex ? n / 2 : n));
	ai_buf_addc(out, '"');
	if (hex) {
		ai_buf_add(out, s, max & ~(size_t)1);
		char h[2 * sizeof(marker) + 1];
		ai_hex((const uint8_t *)marker, (size_t)ml, h);
		ai_buf_add(out, h, 2 * (size_t)ml);
	} else {
		ai_buf_add(out, s, cut_point(s, n, max));
		ai_buf_add(out, marker, (size_t)ml);
	}
	ai_buf_addc(out, '"');
	if (cuts) {
		cuts->n++;
		cuts->bytes += hex ? n / 2 : n;
	}
}

void az_jscan_cut(const char *p, size_t len, struct ai_buf *out, struct az_j_cuts *cuts)
{
	struct frame *fr = calloc(MAX_FRAMES, sizeof(*fr));
	if (!fr)
		abort();
	size_t depth = 0, i = 0, start = out->len;
	while (i < len) {
		char c = p[i];
		struct frame *top = depth ? &fr[depth - 1] : NULL;
		if (c == '"') {
			size_t j = i + 1;
			bool esc = false;
			while (j < len && (esc || p[j] != '"')) {
				esc = !esc && p[j] == '\\';
				j++;
			}
			size_t n = j - i - 1; /* up to the closing quote (or the end: jansson refuses it) */
			bool key = top && top->obj && top->expect_key;
			bool hex = false;
			if (key)
				top->key_hex = n >= 4 && !memcmp(p + j - 4, "_hex", 4);
			else if (top)
				hex = top->obj ? top->key_hex : top->hex;
			size_t max = out->len - start > AZ_J_MAX_CUT_VALUE ? 4096 : AZ_J_MAX_STRING;
			add_string(out, p + i + 1, n, hex, max, cuts);
			i = j + 1;
			continue;
		}
		if ((c == '{' || c == '[') && depth < MAX_FRAMES) {
			bool inherit = top && (top->obj ? top->key_hex : top->hex);
			fr[depth++] = (struct frame){.obj = c == '{', .expect_key = c == '{', .hex = inherit};
		} else if ((c == '}' || c == ']') && depth)
			depth--;
		else if (c == ':' && top && top->obj)
			top->expect_key = false;
		else if (c == ',' && top && top->obj)
			top->expect_key = true;
		ai_buf_addc(out, c);
		i++;
	}
	free(fr);
}
