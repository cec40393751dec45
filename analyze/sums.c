/* SHA256SUMS lines (see sums.h). */
#include "analyze/sums.h"
#include <stdlib.h>
#include <string.h>
#include "common/hash.h"

void az_sums_init(struct az_sums *s, az_sums_fn fn, void *ud)
{
	memset(s, 0, sizeof(*s));
	s->fn = fn;
	s->ud = ud;
	s->line = malloc(AZ_SUMS_MAX_LINE);
	s->name = malloc(AZ_SUMS_MAX_LINE);
	if (!s->line || !s->name)
		abort();
}

void az_sums_free(struct az_sums *s)
{
	free(s->line);
	free(s->name);
	s->line = s->name = NULL;
}

static void problem(struct az_sums *s, enum az_sums_problem why)
{
	struct az_sums_line l = {.lineno = s->lineno, .problem = why};
	s->fn(s->ud, &l);
}

/* One whole line, without its newline. */
static void one_line(struct az_sums *s)
{
	s->lineno++;
	if (s->overlong) {
		problem(s, AZ_SUMS_LONG_LINE);
		return;
	}
	const char *p = s->line, *end = s->line + s->len;
	bool esc = p < end && *p == '\\';
	const char *h = p + esc;
	if (end - h < 66 || h[64] != ' ' || h[65] != ' ') {
		problem(s, AZ_SUMS_MALFORMED);
		return;
	}
	struct az_sums_line l = {.lineno = s->lineno};
	for (int i = 0; i < 32; i++) {
		int hi = ai_hexval((unsigned char)h[2 * i]), lo = ai_hexval((unsigned char)h[2 * i + 1]);
		if (hi < 0 || lo < 0 || (h[2 * i] >= 'A' && h[2 * i] <= 'F') ||
		    (h[2 * i + 1] >= 'A' && h[2 * i + 1] <= 'F')) {
			problem(s, AZ_SUMS_MALFORMED);
			return;
		}
		l.sha[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(l.hex, h, 64);
	l.hex[64] = '\0';
	size_t n = 0;
	for (const char *q = h + 66; q < end; q++) {
		if (esc && *q == '\\' && q + 1 < end) {
			q++;
			s->name[n++] = *q == 'n' ? '\n' : *q;
		} else
			s->name[n++] = *q;
	}
	if (n > AZ_SUMS_MAX_NAME) {
		problem(s, AZ_SUMS_LONG_NAME);
		return;
	}
	s->name[n] = '\0';
	l.name = s->name;
	l.name_len = n;
	s->fn(s->ud, &l);
}

void az_sums_feed(struct az_sums *s, const char *p, size_t len)
{
	while (len) {
		const char *nl = memchr(p, '\n', len);
		size_t take = nl ? (size_t)(nl - p) : len;
		if (!s->overlong) {
			if (s->len + take > AZ_SUMS_MAX_LINE - 1) {
				s->overlong = true;
			} else {
				memcpy(s->line + s->len, p, take);
				s->len += take;
			}
		}
		if (!nl)
			return;
		one_line(s);
		s->len = 0;
		s->overlong = false;
		p = nl + 1;
		len -= take + 1;
	}
}

void az_sums_end(struct az_sums *s)
{
	if (!s->len && !s->overlong)
		return;
	s->lineno++;
	problem(s, AZ_SUMS_UNTERMINATED);
	s->len = 0;
	s->overlong = false;
}
