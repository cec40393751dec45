/* Container images as skopeo names them: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE.
 * index.json -> manifest -> config (history, rootfs.diff_ids), every digest checked for form and
 * every blob named from it; docker-archive's manifest.json and its layer symlinks. The layers
 * themselves are streamed by image.c. */
#ifndef AZ_OCI_H
#define AZ_OCI_H
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
	char manifest_digest[80]; /* sha256:HEX of the manifest used ("" for a docker-archive) */
	char config_digest[80];	  /* sha256:HEX of the config: the image id podman and docker show */
	int dirfd;		  /* OCI dir */
};

int az_image_open(struct az_image *img, const char *ref, ai_err_t *err);
void az_image_free(struct az_image *img);

struct archive;
struct az_fdsrc;
/* The outer tar of an oci-archive or docker-archive, seekable (members may be in any order:
 * skipping one is a seek); s->fd is the caller's to close. */
int az_oci_outer_open(struct archive **out, struct az_fdsrc *s, const char *path, ai_err_t *err);

#endif
