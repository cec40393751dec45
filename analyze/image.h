/* The layers of an image (oci.h): each layer (gzip, zstd, xz or plain tar) is streamed with
 * libarchive, from the blob file or from the member of the outer tar, never extracted. Each
 * layer's compressed bytes are checked against its digest as they stream. */
#ifndef AZ_IMAGE_H
#define AZ_IMAGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "analyze/oci.h"
#include "common/err.h"

/* One layer entry, copied out of libarchive on the walk's parser thread. Valid during the call. */
struct az_lentry {
	const char *
	    path; /* as stored, trailing '/' removed, NUL-terminated; NULL: none or longer than AZ_MAX_PATH */
	size_t path_len;
	const char *link; /* hardlink or symlink target, when want() asked for it and it fits AZ_MAX_PATH */
	size_t link_len;
	uint32_t perm;
	uint8_t type; /* enum az_utype of the entry; a hardlink is a AZ_U_FILE */
	bool hardlink;
	bool have_sha;
	uint8_t sha[32];     /* SHA-256 of a regular file's content, when want() asked for it */
	const uint8_t *data; /* its content, when keep() asked for it and it fits AZ_KEEP_MAX */
	size_t data_len;
};
#define AZ_KEEP_MAX (64u << 10)

/* The walk is a pipeline: a reader thread reads and hashes the blob, a parser thread runs libarchive
 * and copies each entry out (hashing content only where want() says so), and the caller's thread
 * gets the entries in order. want() runs on the parser thread: it may only read state that nothing
 * changes during the walk. entry() and done() run on the caller's thread. */
struct az_walk_ops {
	bool (*want)(void *ud, const char *path, size_t len);
	/* of a regular file want() took: its content too (NULL: never). Runs on the parser thread. */
	bool (*keep)(void *ud, const char *path, size_t len);
	int (*entry)(void *ud, size_t layer, const struct az_lentry *e, ai_err_t *err);
	void (*done)(void *ud, size_t layer); /* after each layer; may be NULL */
};

int az_image_walk(struct az_image *img, const struct az_walk_ops *ops, void *ud, ai_err_t *err);

#endif
