/* A small streaming JSON writer (parsing is jansson's job). Strings from a target are bytes, not
 * text: ai_json_bytes writes valid UTF-8 as is, with invalid bytes as U+FFFD, and then adds a
 * sibling "<key>_hex" holding the exact bytes, so nothing a hostile name carries is lost. */
#ifndef AI_JSON_H
#define AI_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/buf.h"

#define AI_JSON_MAX_DEPTH 32

struct ai_json {
	struct ai_buf *out;
	int depth;
	bool first[AI_JSON_MAX_DEPTH];
	bool after_key;
};

void ai_json_init(struct ai_json *j, struct ai_buf *out);
void ai_json_obj_begin(struct ai_json *j);
void ai_json_obj_end(struct ai_json *j);
void ai_json_arr_begin(struct ai_json *j);
void ai_json_arr_end(struct ai_json *j);
void ai_json_key(struct ai_json *j, const char *key);
void ai_json_str(struct ai_json *j, const char *s); /* NULL writes null */
void ai_json_strn(struct ai_json *j, const char *s, size_t len);
void ai_json_int(struct ai_json *j, int64_t v);
void ai_json_uint(struct ai_json *j, uint64_t v);
void ai_json_bool(struct ai_json *j, bool v);
void ai_json_null(struct ai_json *j);
void ai_json_raw(struct ai_json *j, const char *raw); /* pre-formed JSON value */

/* key: value pairs inside an object */
void ai_json_kstr(struct ai_json *j, const char *key, const char *s);
void ai_json_kint(struct ai_json *j, const char *key, int64_t v);
void ai_json_kuint(struct ai_json *j, const char *key, uint64_t v);
void ai_json_kbool(struct ai_json *j, const char *key, bool v);
/* Hostile bytes: "key": "text" and, when not valid UTF-8, "key_hex": "..." as well. */
void ai_json_kbytes(struct ai_json *j, const char *key, const char *s, size_t len);
/* Time as both "key": "2026-11-25T20:32:36.123456789Z" and "key_ns": integer. */
void ai_json_ktime(struct ai_json *j, const char *key, int64_t sec, long nsec);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool ai_utf8_valid(const char *s, size_t len);
/* Format a UTC timestamp with nanoseconds into out (>= 40 bytes). */
void ai_time_format(char *out, size_t outlen, int64_t sec, long nsec);

#endif
