#include "common/esc.h"
#include "common/json.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum esc_mode { ESC_TEXT, ESC_HTML, ESC_CSV };

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	size_t n;
	if (s[0] < 0x80)
		return 1;
	else if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > len)
		return 0;
	return ai_utf8_valid((const char *)s, n) ? n : 0;
}

static void esc_generic(struct ai_buf *out, const char *s, size_t len, enum esc_mode mode)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = utf8_seq(p + i, len - i);
		/* C1 controls (U+0080..U+009F, 0xc2 0x80..0x9f) are terminal escapes too (CSI, OSC) */
		if (n == 0 || c < 0x20 || c == 0x7f || (n == 2 && c == 0xc2 && p[i + 1] < 0xa0)) {
			ai_buf_printf(out, "\\x%02x", c);
			i++;
			continue;
		}
		if (n == 1) {
			/* Doubled wherever \xHH stands for a byte, so a name that spells "\x1b" does
			 * not read back as one holding ESC. */
			if (c == '\\' && (mode == ESC_TEXT || mode == ESC_CSV))
				ai_buf_adds(out, "\\\\");
			else if (mode == ESC_HTML && c == '&')
				ai_buf_adds(out, "&amp;");
			else if (mode == ESC_HTML && c == '<')
				ai_buf_adds(out, "&lt;");
			else if (mode == ESC_HTML && c == '>')
				ai_buf_adds(out, "&gt;");
			else if (mode == ESC_HTML && c == '"')
				ai_buf_adds(out, "&quot;");
			else if (mode == ESC_HTML && c == '\'')
				ai_buf_adds(out, "&#39;");
			else if (mode == ESC_CSV && c == '"')
				ai_buf_adds(out, "\"\"");
			else
				ai_buf_addc(out, (char)c);
		} else {
			ai_buf_add(out, p + i, n);
		}
		i += n;
	}
}

void ai_esc_text(struct ai_buf *out, const char *s, size_t len)
{
	if (!s) {
		ai_buf_adds(out, "-");
		return;
	}
	esc_generic(out, s, len, ESC_TEXT);
}

void ai_esc_html(struct ai_buf *out, const char *s, size_t len)
{
	if (s)
		esc_generic(out, s, len, ESC_HTML);
}

void ai_esc_csv(struct ai_buf *out, const char *s, size_t len)
{
	ai_buf_addc(out, '"');
	if (s)
		esc_generic(out, s, len, ESC_CSV);
	ai_buf_addc(out, '"');
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			return; /* nothing sane to do about a broken stderr */
		p += n;
		len -= (size_t)n;
	}
}

static void emit(const char *lead, const char *prog, const char *tail, const char *fmt, va_list ap)
{
	struct ai_buf raw = {0}, out = {0};
	ai_buf_init(&raw);
	ai_buf_init(&out);
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n > 0) {
		char *tmp = malloc((size_t)n + 1);
		if (tmp) {
			vsnprintf(tmp, (size_t)n + 1, fmt, ap);
			ai_buf_add(&raw, tmp, (size_t)n);
			free(tmp);
		}
	}
	ai_buf_adds(&out, lead);
	if (prog) {
		ai_buf_adds(&out, prog);
		ai_buf_adds(&out, ": ");
	}
	esc_generic(&out, raw.data ? raw.data : "", raw.len, ESC_TEXT);
	ai_buf_adds(&out, tail);
	write_all(STDERR_FILENO, out.data, out.len);
	ai_buf_free(&raw);
	ai_buf_free(&out);
}

void ai_eprintf(const char *prog, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("", prog, "\n", fmt, ap);
	va_end(ap);
}

void ai_eprogress(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("\r", NULL, "", fmt, ap);
	va_end(ap);
}
