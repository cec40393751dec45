/* Layer attribution: every path of the image, layer by layer with OCI whiteouts, then the
 * bundle's upperdir, classified as image / added / modified / metadata / deleted / replaced
 * (and layer-deleted: removed by a later image layer). Paths live in a compact tree (one node
 * per path component, a hash table keyed by (parent, name), names in one arena). */
#ifndef AZ_ATTR_H
#define AZ_ATTR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "analyze/image.h"
#include "analyze/model.h"
#include "common/buf.h"

enum az_status {
	AZ_ST_NONE,
	AZ_ST_IMAGE,
	AZ_ST_ADDED,
	AZ_ST_MODIFIED,
	AZ_ST_METADATA,
	AZ_ST_DELETED,
	AZ_ST_REPLACED,
	AZ_ST_LAYER_DELETED,
	AZ_ST__COUNT
};
const char *az_status_name(enum az_status s);

struct az_attr;

struct az_origin {
	enum az_status status;
	int layer;		      /* 1-based layer that made the path (its lower version), 0 when none */
	const struct az_upper *upper; /* the upperdir entry, or NULL */
	bool lower_exists;
	bool lower_exec; /* lower version was an executable regular file */
	bool sha_known;
	char lower_sha256[65];
};

/* Build from a model and an image (img may be NULL: upperdir-only view). progress: report on stderr. */
int az_attr_build(struct az_attr **out, const struct az_model *m, struct az_image *img, bool progress,
		  ai_err_t *err);
/* The same for one container of a pod bundle: its upperdir over img (AZ_CT_ALL, model.h: every
 * container's upperdir in one tree, what a bundle of one container has anyway). */
int az_attr_build_ct(struct az_attr **out, const struct az_model *m, unsigned ct, struct az_image *img,
		     bool progress, ai_err_t *err);
/* The same for n containers that ran one image (cts[i] into out[i]): one walk of the image for
 * them all. On failure every out[i] is NULL. */
int az_attr_build_many(struct az_attr **out, const struct az_model *m, const unsigned *cts, size_t n,
		       struct az_image *img, bool progress, ai_err_t *err);
void az_attr_free(struct az_attr *a);
/* The image's /etc/passwd or /etc/group (path "/etc/passwd" or "/etc/group"), as the container's
 * lower layers have it, *len its length (at most AZ_KEEP_MAX); NULL when the image has none or
 * it is larger. The upperdir's version, when there is one, is in the bundle. */
const char *az_attr_image_file(const struct az_attr *a, const char *path, size_t *len);
/* The container it covers (AZ_CT_ALL: every one). */
unsigned az_attr_ct(const struct az_attr *a);

/* A bundle's attribution, one per container (az_attr_build_ct), indexed by container. */
struct az_attrs {
	struct az_attr *ct[AZ_MAX_CONTAINERS];
	size_t n;
};
/* Container ct's, or NULL (no set, or no such container). */
const struct az_attr *az_attrs_of(const struct az_attrs *s, unsigned ct);
/* Origin of a container path (absolute, bytes). false when the path is unknown to both. */
bool az_attr_lookup(const struct az_attr *a, const char *path, size_t len, struct az_origin *o);
/* Warnings (layer count mismatch, ...), one per line. */
const char *az_attr_warnings(const struct az_attr *a);
/* Whether the image is the one the container ran (imgcheck.h); verdict unchecked without one. A
 * mismatch is also a line of az_attr_warnings. */
struct az_imgcheck;
const struct az_imgcheck *az_attr_imgcheck(const struct az_attr *a);
/* Counters for --stats and the bench. */
void az_attr_stats(const struct az_attr *a, size_t *paths, size_t *bytes, size_t counts[AZ_ST__COUNT]);
/* Iterate every path with its origin in path order (used by report and timeline). */
typedef void (*az_attr_visit_fn)(void *ud, const char *path, size_t len, const struct az_origin *o);
void az_attr_each(const struct az_attr *a, bool changed_only, az_attr_visit_fn fn, void *ud);
/* The volume of container ct a path lies on, or NULL: such a path is the volume's, never the
 * image's nor "added at runtime" (printed as `volume MOUNTPOINT KIND`, az_attr_volume_text). */
const struct az_volume *az_attr_volume(const struct az_attr *a, unsigned ct, const char *path, size_t len);
void az_attr_volume_text(const struct az_volume *v, struct ai_buf *out);
/* What it was built from: the image (NULL without one) and the model. */
const struct az_image *az_attr_image(const struct az_attr *a);
const struct az_model *az_attr_model(const struct az_attr *a);

#endif
