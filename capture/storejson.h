/* A bounded scanner for containers/storage's container list (podman's and CRI-O's
 * overlay-containers/containers.json and volatile-containers.json: one JSON array of every
 * container of the host): the entry of one container id, its image id and the image name its
 * metadata string holds. No DOM, no recursion, no allocation but the metadata string unescaped
 * once; split out of identity.c so the unit test and the fuzz target reach it without a host.
 * The capture stores what it takes from the entry, never the list (it names other containers). */
#ifndef AI_STOREJSON_H
#define AI_STOREJSON_H
#include <stdbool.h>
#include <stddef.h>
#include "common/err.h"

#define AI_STORE_NAME_MAX 512 /* bytes kept of an image name (longer: not recorded, name_cut) */

struct ai_store_entry {
	char image_id[65];		    /* "image": 64 lowercase hex, "" when absent or not that */
	bool image_id_bad;		    /* "image" was there but not 64 lowercase hex */
	char layer[65];			    /* "layer" (the container's own layer): 64 hex or "" */
	char image_name[AI_STORE_NAME_MAX]; /* metadata's "image-name", NUL-free UTF-8, "" when none */
	size_t image_name_len;
	bool name_cut; /* the image name was longer than AI_STORE_NAME_MAX - 1 bytes: not kept */
};

/* The entry whose "id" is id (64 lowercase hex) in the document doc[0..len): 1 found (*out
 * filled), 0 no entry has that id, -1 the document is not a JSON array of objects as
 * containers/storage writes it, or is ambiguous (the id twice, a key of the entry twice): err
 * says what and at which byte. Strings are compared unescaped (an "id" written with \u escapes
 * is the same id); an id inside another value never matches. */
int ai_store_find(const char *doc, size_t len, const char *id, struct ai_store_entry *out, ai_err_t *err);

#endif
