/* Small helpers shared by the analyzer's modules: reading hostile JSON with jansson into
 * az_str bytes (escaping for a terminal, CSV, HTML: common/esc.h). */
#ifndef AZ_UTIL_H
#define AZ_UTIL_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "analyze/jscan.h"
#include "analyze/model.h"
#include "common/buf.h"
#include "common/esc.h"
#include "common/err.h"

static inline void az_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(az_json_decrefp)))

/* Parse a document (duplicate keys refused). */
int az_j_parse(const char *doc, size_t len, const char *what, json_t **out, ai_err_t *err);
/* The array at top-level key `key` of a JSON object document, one element at a time: each element
 * is parsed by jansson on its own and handed to elem(), so an index of a million entries never
 * becomes one DOM (~2.5 KB per entry). Other top-level members go to other() (NULL: ignored).
 * Refuses what az_j_parse refuses, plus a repeated `key`; a missing `key` is an error. */
typedef int (*az_j_elem_fn)(void *ud, json_t *e, size_t i, ai_err_t *err);
typedef int (*az_j_other_fn)(void *ud, const char *key, json_t *v, ai_err_t *err);
int az_j_stream(const char *doc, size_t len, const char *what, const char *key, az_j_elem_fn elem,
		az_j_other_fn other, void *ud, ai_err_t *err);
/* az_j_stream, and: key NULL (every top-level member goes to other()), or AZ_J_KEY_OPTIONAL (a
 * missing key is no error). Both cut every string longer than AZ_J_MAX_STRING in an element or a
 * top-level value before jansson sees it (jscan.h), counting the cuts in *cuts (may be NULL); a
 * top-level key that long is refused. */
#define AZ_J_KEY_OPTIONAL 1u
int az_j_stream_ex(const char *doc, size_t len, const char *what, const char *key, unsigned flags,
		   az_j_elem_fn elem, az_j_other_fn other, void *ud, struct az_j_cuts *cuts, ai_err_t *err);
/* az_j_stream into an array of `size`-byte items, each zeroed, then filled by one(). *n counts every
 * item begun, a failed one too, so the caller's free function sees it; *items is never NULL after. */
typedef int (*az_j_item_fn)(json_t *e, void *item, ai_err_t *err);
int az_j_read_array(const char *doc, size_t len, const char *what, const char *key, size_t size,
		    az_j_item_fn one, void **items, size_t *n, az_j_other_fn other, void *ud, ai_err_t *err);
int az_j_read_array_ex(const char *doc, size_t len, const char *what, const char *key, size_t size,
		       az_j_item_fn one, void **items, size_t *n, az_j_other_fn other, void *ud,
		       struct az_j_cuts *cuts, ai_err_t *err);
/* obj[key] as bytes, preferring obj[key_hex]; absent or null leaves out->s NULL. */
int az_j_str(json_t *obj, const char *key, struct az_str *out, ai_err_t *err);
/* Same for a string element v (with its parallel hex element hexv, may be NULL). */
int az_j_strv(json_t *v, json_t *hexv, struct az_str *out, ai_err_t *err);
int64_t az_j_int(json_t *obj, const char *key, int64_t def);
bool az_j_bool(json_t *obj, const char *key);
/* Copy a short ASCII string field into a fixed buffer ("" when absent or too long). */
void az_j_fixed(json_t *obj, const char *key, char *out, size_t outlen);
/* A lowercase 64-hex sha256 field, or "". */
void az_j_sha256(json_t *obj, const char *key, char out[65]);

/* What a text, HTML or CSV view renders of one hostile field: its first AZ_VIEW_MAX_FIELD bytes
 * (cut back to a character boundary), then "…[cut, N bytes]" (N: the field's whole length),
 * escaped as ai_esc_text / ai_esc_html / ai_esc_csv do. JSON views print fields whole. */
#define AZ_VIEW_MAX_FIELD 4096u
void az_esc_text(struct ai_buf *out, const char *s, size_t len);
void az_esc_html(struct ai_buf *out, const char *s, size_t len);
void az_esc_csv(struct ai_buf *out, const char *s, size_t len);

/* Write a buffer fully to stdout; -1 on error. */
int az_write_stdout(const struct ai_buf *b, ai_err_t *err);
/* Read a whole regular file from an open fd, refusing anything else or more than max bytes;
 * *out is malloc'ed and NUL-terminated. name is for messages. */
int az_read_fd(int fd, const char *name, size_t max, char **out, size_t *len, ai_err_t *err);
/* "rwxr-xr-x" style permission string (9 chars + setuid/sticky letters) into out[10]. */
void az_perm_string(uint32_t mode, char out[10]);
/* RFC 3339 / ISO 8601 (fraction and offset optional) to ns since the epoch, 0 when absent or unparsable. */
int64_t az_time_parse(const char *s);
/* ISO 8601 UTC with nanoseconds, "" for 0. */
void az_time_iso(char *out, size_t outlen, int64_t ns);

#endif
