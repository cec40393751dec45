/* A byte-level scanner of JSON text, ahead of jansson: where one value ends (resumable, so a
 * document can be fed in chunks), and a copy of one value with its over-long strings cut. jansson
 * then parses only what the scanner delimited; it still checks everything the scanner does not
 * (bracket kinds, escapes, UTF-8, numbers). */
#ifndef AZ_JSCAN_H
#define AZ_JSCAN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/buf.h"

/* The longest string a reader keeps (bytes of JSON text; a `*_hex` string: decoded bytes). */
#define AZ_J_MAX_STRING (1u << 20)
/* Past this much copied text in one value, its later strings keep only 4 KiB each. */
#define AZ_J_MAX_CUT_VALUE (16u << 20)

/* Where one value ends. Begin at the value's first byte (not whitespace). */
struct az_jscan {
	uint64_t depth;
	uint8_t mode;
	bool esc, in_str;
};
void az_jscan_init(struct az_jscan *s);
/* Consume bytes of the value from p: returns how many belong to it; *done when it is complete
 * (a number or literal ends before the byte that ends it, which is not consumed). */
size_t az_jscan_feed(struct az_jscan *s, const char *p, size_t len, bool *done);
/* The length of the value at p (a number or literal may end at len), or 0 when it does not end. */
size_t az_jscan_extent(const char *p, size_t len);

/* Strings cut at load, for a warning. */
struct az_j_cuts {
	uint64_t n;	/* strings cut */
	uint64_t bytes; /* their lengths in the document, in all */
};
/* Copy the value text p[0..len) into out with every string longer than AZ_J_MAX_STRING cut to
 * that many bytes (at a character boundary, never inside an escape) followed by the marker
 * "…[cut, N bytes]" (N: its length in the document); a string under a key ending in "_hex" (or in
 * an array under such a key) is cut to an even length and gets the marker hex-encoded, so the
 * decoded bytes end with it. Counts the cuts in *cuts (may be NULL). */
void az_jscan_cut(const char *p, size_t len, struct ai_buf *out, struct az_j_cuts *cuts);

#endif
