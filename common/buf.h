/* A growable byte buffer; every JSON document and text member is built in one. */
#ifndef AI_BUF_H
#define AI_BUF_H
#include <stddef.h>
#include <stdint.h>

struct ai_buf {
	char *data; /* always NUL-terminated when len > 0 or after ai_buf_cstr */
	size_t len;
	size_t cap;
};

void ai_buf_init(struct ai_buf *b);
void ai_buf_free(struct ai_buf *b);
void ai_buf_reset(struct ai_buf *b);
/* Appends abort() on allocation failure: there is no sane partial JSON to recover. */
void ai_buf_add(struct ai_buf *b, const void *data, size_t len);
void ai_buf_addc(struct ai_buf *b, char c);
void ai_buf_adds(struct ai_buf *b, const char *s);
void ai_buf_printf(struct ai_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ai_buf_cstr(struct ai_buf *b);
char *ai_buf_steal(struct ai_buf *b);

static inline void ai_buf_freep(struct ai_buf *b)
{
	ai_buf_free(b);
}
#define cleanup_buf __attribute__((cleanup(ai_buf_freep)))

#endif
