/* az_j_stream (util.h) for a document that streams past in chunks of any size, as verify reads a
 * member once: the top-level object is split by the byte scanner (jscan.h), each element of the
 * array at `key` and each other top-level value is collected alone (at most max_value bytes) and
 * parsed by jansson, then handed on. Memory: one value, whatever the document's size. The same
 * refusals as az_j_stream: duplicate keys, a repeated or (unless AZ_J_KEY_OPTIONAL) missing `key`,
 * anything after the object. */
#ifndef AZ_JPUSH_H
#define AZ_JPUSH_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "analyze/jscan.h"
#include "analyze/util.h"
#include "common/buf.h"
#include "common/err.h"

struct az_jpush {
	const char *what, *key;
	unsigned flags;
	size_t max_value;
	az_j_elem_fn elem;
	az_j_other_fn other;
	void *ud;
	int state;
	bool collecting, is_key, is_elem, seen, failed;
	struct az_jscan sc;
	struct ai_buf cur; /* the value being collected */
	char *curkey;	   /* the key of the top-level value being collected */
	size_t n;	   /* elements of `key` so far */
	uint64_t pos;	   /* bytes fed so far */
	json_t *keys;	   /* top-level keys seen, to refuse repeats */
};

void az_jpush_init(struct az_jpush *p, const char *what, const char *key, unsigned flags, size_t max_value,
		   az_j_elem_fn elem, az_j_other_fn other, void *ud);
/* -1 (err set) on the first error; every later call returns -1 again without looking. */
int az_jpush_feed(struct az_jpush *p, const char *buf, size_t len, ai_err_t *err);
/* The end of the document. */
int az_jpush_end(struct az_jpush *p, ai_err_t *err);
void az_jpush_free(struct az_jpush *p);

#endif
