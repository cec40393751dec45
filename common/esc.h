/* Escaping hostile bytes (names and strings from a target, a bundle or an image) for the place
 * they are shown: a terminal, an HTML page, a CSV cell. Everything that prints text built from
 * such bytes goes through here, so no control sequence ever reaches a terminal. */
#ifndef AI_ESC_H
#define AI_ESC_H
#include <stddef.h>
#include "common/buf.h"

/* Terminal text: valid UTF-8 printable text as is, everything else (C0 and C1 controls, DEL,
 * invalid UTF-8) as \xHH, backslash doubled. NULL prints "-". */
void ai_esc_text(struct ai_buf *out, const char *s, size_t len);
/* HTML text (also valid in attributes): &<>"' escaped, invalid UTF-8 and controls as \xHH. */
void ai_esc_html(struct ai_buf *out, const char *s, size_t len);
/* A CSV field, always quoted, quotes doubled, controls and invalid UTF-8 as \xHH, backslash
 * doubled: it reads back to exactly the bytes given (the escape fuzz target checks). */
void ai_esc_csv(struct ai_buf *out, const char *s, size_t len);

/* The one way a program writes a message to stderr: "PROG: " then the formatted message, all of
 * it escaped as terminal text (a trailing newline is added). Messages routinely carry names from
 * the target or the bundle, so nothing formatted here reaches the terminal raw. */
void ai_eprintf(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a progress line: "\r" + escaped text, no newline. */
void ai_eprogress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
