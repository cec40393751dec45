/* Fuzz verify's streaming readers: the first byte picks the reader and the chunk size, the rest is
 * the document. SHA256SUMS (sums.c): the lines reported must not depend on how the document is
 * cut into chunks. The manifest's member list (jpush.c): fed in chunks, it must accept and refuse
 * exactly what az_j_stream does over the whole document, with the same elements and other members
 * handed on before any error (a raw NUL byte aside: az_j_stream refuses the document before it
 * begins, jpush at it or at an error before it). A difference aborts (a failed replay). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/jpush.h"
#include "analyze/sums.h"
#include "analyze/util.h"
#include "common/buf.h"

static void sums_cb(void *ud, const struct az_sums_line *l)
{
	struct ai_buf *log = ud;
	ai_buf_printf(log, "%zu:%d:", l->lineno, (int)l->problem);
	if (l->problem == AZ_SUMS_OK) {
		ai_buf_add(log, l->name, l->name_len);
		ai_buf_addc(log, ':');
		ai_buf_add(log, l->hex, 64);
	}
	ai_buf_addc(log, '\n');
}

static void sums_run(const char *d, size_t len, size_t chunk, struct ai_buf *log)
{
	struct az_sums s;
	az_sums_init(&s, sums_cb, log);
	for (size_t i = 0; i < len; i += chunk)
		az_sums_feed(&s, d + i, len - i < chunk ? len - i : chunk);
	az_sums_end(&s);
	az_sums_free(&s);
}

struct seen {
	struct ai_buf log;
	size_t n;
};

static int on_elem(void *ud, json_t *e, size_t i, ai_err_t *err)
{
	(void)err;
	struct seen *s = ud;
	char *t = json_dumps(e, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	ai_buf_printf(&s->log, "e%zu=%s\n", i, t ? t : "?");
	free(t);
	s->n++;
	return 0;
}

static int on_other(void *ud, const char *key, json_t *v, ai_err_t *err)
{
	(void)err;
	struct seen *s = ud;
	char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	ai_buf_printf(&s->log, "o %s=%s\n", key, t ? t : "?");
	free(t);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *d = (const char *)data + 1;
	size_t len = size - 1, chunk = (size_t)(data[0] >> 1) + 1;
	if (!(data[0] & 1)) {
		struct ai_buf a, b;
		ai_buf_init(&a);
		ai_buf_init(&b);
		sums_run(d, len, len ? len : 1, &a);
		sums_run(d, len, chunk, &b);
		if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
			abort();
		ai_buf_free(&a);
		ai_buf_free(&b);
		return 0;
	}
	struct seen w, p;
	memset(&w, 0, sizeof(w));
	memset(&p, 0, sizeof(p));
	ai_buf_init(&w.log);
	ai_buf_init(&p.log);
	ai_err_t e1, e2;
	int r1 = az_j_stream(d, len, "f.json", "members", on_elem, on_other, &w, &e1);
	struct az_jpush jp;
	az_jpush_init(&jp, "f.json", "members", 0, 1u << 20, on_elem, on_other, &p);
	int r2 = 0;
	for (size_t i = 0; i < len && r2 == 0; i += chunk)
		r2 = az_jpush_feed(&jp, d + i, len - i < chunk ? len - i : chunk, &e2);
	if (r2 == 0)
		r2 = az_jpush_end(&jp, &e2);
	az_jpush_free(&jp);
	/* a raw NUL byte: az_j_stream refuses the document before it begins, jpush where it is */
	bool nul = r1 < 0 && strstr(e1.msg, "a NUL byte");
	if ((r1 < 0) != (r2 < 0) || (!nul && (w.n != p.n || w.log.len != p.log.len ||
					      (w.log.len && memcmp(w.log.data, p.log.data, w.log.len)))))
		abort();
	ai_buf_free(&w.log);
	ai_buf_free(&p.log);
	return 0;
}

#include "tests/fuzz/driver.inc"
