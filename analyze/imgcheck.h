/* Is the --image given the image the container ran? Three kinds of evidence, each used when the
 * input has it, each the container's own (container 0's for the attribution of every container): the image id
 * or digest the capture recorded for it (manifest containers[i].identity.image_id, CRI-O's ImageRef
 * annotation; for container 0 also target.image_id/image_digest) or the checkpoint did (config.dump
 * rootfsImageID/rootfsImageRef), against the image's config and manifest digests; its lowerdir count against
 * the image's layer count, and the layer ids podman's and CRI-O's lowerdirs name against the image's diff_id
 * chain; and the sha256 of every running executable of its processes read from its lower layers against the
 * image's file at that path. Any disagreement is a mismatch: attribution against that image is not to be
 * trusted. */
#ifndef AZ_IMGCHECK_H
#define AZ_IMGCHECK_H
#include <stdbool.h>
#include <stddef.h>
#include "analyze/image.h"
#include "analyze/model.h"
#include "common/buf.h"
#include "common/json.h"

enum az_imgverdict { AZ_IMG_UNCHECKED, AZ_IMG_UNKNOWN, AZ_IMG_MATCH, AZ_IMG_MISMATCH };

struct az_imgcheck {
	enum az_imgverdict verdict;
	char recorded[72]; /* the recorded id as 64 hex, "" when none */
	int id_match;	   /* 1 match, 0 mismatch, -1 nothing recorded */
	size_t image_layers, lowerdirs;
	int layers_match; /* 1, 0, -1 unknown (no overlay recorded) */
	int chain_match;  /* lowerdirs' containers/storage layer ids against the diff_id chain: 1, 0, -1 */
	size_t chain_checked;
	size_t exe_checked, exe_mismatched;
	struct ai_buf why; /* one reason a line, bytes from the bundle unescaped */
};

/* What the attribution says of a running executable's path. The check asks through a function, so
 * it depends on no attribution (attr.c runs it, with its own lookup). */
struct az_imgcheck_file {
	bool upper;	   /* the upperdir holds it: it says nothing of the image */
	bool lower_exists; /* a layer provides it */
	bool sha_known;
	char lower_sha256[65];
};
/* false when neither the layers nor the upperdir have the path. */
typedef bool (*az_imgcheck_lookup_fn)(const void *ud, const char *path, size_t len,
				      struct az_imgcheck_file *f);

/* The check of container ct (AZ_CT_ALL: every container, with container 0's evidence) against img
 * (NULL: AZ_IMG_UNCHECKED). */
void az_imgcheck_run(struct az_imgcheck *c, const struct az_model *m, unsigned ct, const struct az_image *img,
		     az_imgcheck_lookup_fn lookup, const void *ud);
void az_imgcheck_free(struct az_imgcheck *c);
const char *az_imgverdict_name(enum az_imgverdict v);
/* "image_check": {...} into an open JSON object. */
void az_imgcheck_json(const struct az_imgcheck *c, struct ai_json *j);

#endif
