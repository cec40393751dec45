/* One bundle loaded with its images and attribution: what layers, findings, timeline, report,
 * ps --pid and diff use. Each container of a pod is attributed on its own, its upperdir over its
 * own image (--image NAME=REF), so one container's whiteout never hides another's file and a
 * wrong image is told per container. */
#ifndef AZ_CONTEXT_H
#define AZ_CONTEXT_H
#include <stdbool.h>
#include "analyze/attr.h"
#include "analyze/image.h"
#include "analyze/model.h"

#define AZ_CTX_MAX_IMAGES 32

struct az_ctx {
	struct az_model m;
	struct az_image imgs[AZ_CTX_MAX_IMAGES]; /* each REF opened once, however many containers ran it */
	const char *img_ref[AZ_CTX_MAX_IMAGES];	 /* the REF each was opened from */
	size_t nimgs;
	int img_of[AZ_MAX_CONTAINERS]; /* index into imgs of container ct's image, -1 none */
	bool have_img;		       /* some container has an image */
	struct az_attrs attrs;	       /* one per container, always built (upperdir-only without image) */
	const struct az_attr *attr;    /* container 0's: the whole bundle for one container */
	double load_s, attr_s;	       /* seconds spent loading the bundle and the images, then attributing */
};

/* images: every --image as given, REF or NAME=REF (NAME: a container's name, short name, index or
 * id prefix of 4 or more). A REF without NAME is the image of every container no NAME=REF names.
 * -1 on unreadable input, -2 when a NAME names no container of the bundle (a usage error). Free
 * with az_ctx_free, also after a failure. */
int az_ctx_load(struct az_ctx *c, const char *bundle, const char *const *images, size_t nimages,
		bool progress, ai_err_t *err);
void az_ctx_free(struct az_ctx *c);
/* The parts of az_ctx_load, for a model built otherwise (tests, fuzzers): an empty context, then
 * the attribution of c->m with the images c->img_of names. */
void az_ctx_init(struct az_ctx *c);
int az_ctx_attribute(struct az_ctx *c, bool progress, ai_err_t *err);
/* Container ct's image, or NULL. */
const struct az_image *az_ctx_image(const struct az_ctx *c, unsigned ct);
/* NAME=REF: NAME before the first '=' when it holds no '/' nor ':' (a REF's own), else "" and arg. */
const char *az_image_arg(const char *arg, char *name, size_t nlen);
/* The container NAME names (above), -1 none. */
int az_container_named(const struct az_model *m, const char *name);

#endif
