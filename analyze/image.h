/* Container images as skopeo names them: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE.
 * index.json -> manifest -> config (history, rootfs.diff_ids); each layer (gzip, zstd or plain tar)
 * is streamed with libarchive, from the blob file or from the member of the outer tar, never
 * extracted. Each layer's compressed bytes are checked against its digest as they stream. */
#ifndef AZ_IMAGE_H
#define AZ_IMAGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "analyze/model.h"
#include "common/err.h"

#define AZ_MAX_LAYERS 250

struct az_layer {
	char digest[80];  /* sha256:HEX of the blob */
	char diff_id[80]; /* sha256:HEX of the uncompressed tar ("" when unknown) */
	char media_type[128];
	struct az_str created_by;
	int64_t created_ns;
	int64_t size;
	char blob[256]; /* file under the OCI dir, or member name in the outer tar */
};

struct az_history {
	struct az_str created_by;
	int64_t created_ns;
	bool empty_layer;
};

enum az_image_kind { AZ_IMG_OCI_DIR, AZ_IMG_OCI_ARCHIVE, AZ_IMG_DOCKER_ARCHIVE };

struct az_image {
	enum az_image_kind kind;
	char *path; /* DIR or FILE */
	char *tag;
	char *ref;
	size_t nlayers;
	struct az_layer *layers;
	size_t nhist;
	struct az_history *hist;
	int64_t created_ns;
	int dirfd; /* OCI dir */
};

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
	uint8_t sha[32]; /* SHA-256 of a regular file's content, when want() asked for it */
};

/* The walk is a pipeline: a reader thread reads and hashes the blob, a parser thread runs libarchive
 * and copies each entry out (hashing content only where want() says so), and the caller's thread
 * gets the entries in order. want() runs on the parser thread: it may only read state that nothing
 * changes during the walk. entry() and done() run on the caller's thread. */
struct az_walk_ops {
	bool (*want)(void *ud, const char *path, size_t len);
	int (*entry)(void *ud, size_t layer, const struct az_lentry *e, ai_err_t *err);
	void (*done)(void *ud, size_t layer); /* after each layer; may be NULL */
};

int az_image_open(struct az_image *img, const char *ref, ai_err_t *err);
int az_image_walk(struct az_image *img, const struct az_walk_ops *ops, void *ud, ai_err_t *err);
void az_image_free(struct az_image *img);

#endif
