#include "common/buf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ai_buf_init(struct ai_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void ai_buf_free(struct ai_buf *b)
{
	free(b->data);
	ai_buf_init(b);
}

void ai_buf_reset(struct ai_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static void grow(struct ai_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + extra + 1) {
		if (ncap > SIZE_MAX / 2)
			abort();
		ncap *= 2;
	}
	char *n = realloc(b->data, ncap);
	if (!n)
		abort();
	b->data = n;
	b->cap = ncap;
}

void ai_buf_add(struct ai_buf *b, const void *data, size_t len)
{
	grow(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void ai_buf_addc(struct ai_buf *b, char c)
{
	ai_buf_add(b, &c, 1);
}

void ai_buf_adds(struct ai_buf *b, const char *s)
{
	ai_buf_add(b, s, strlen(s));
}

void ai_buf_printf(struct ai_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

const char *ai_buf_cstr(struct ai_buf *b)
{
	grow(b, 0);
	b->data[b->len] = '\0';
	return b->data;
}

char *ai_buf_steal(struct ai_buf *b)
{
	ai_buf_cstr(b);
	char *d = b->data;
	ai_buf_init(b);
	return d;
}
