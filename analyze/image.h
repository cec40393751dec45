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

struct archive;
struct archive_entry;

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

/* Called for every entry of layer `layer` (0-based), in order; may read the entry's data from a. */
typedef int (*az_layer_entry_fn)(void *ud, size_t layer, struct archive *a, struct archive_entry *e, ai_err_t *err);
/* Called after each layer. */
typedef void (*az_layer_done_fn)(void *ud, size_t layer);

int az_image_open(struct az_image *img, const char *ref, ai_err_t *err);
int az_image_walk(struct az_image *img, az_layer_entry_fn fn, az_layer_done_fn done, void *ud, ai_err_t *err);
void az_image_free(struct az_image *img);

#endif
