/* One bundle loaded with its (optional) image and attribution: what layers, findings, timeline
 * and report use. */
#ifndef AZ_CONTEXT_H
#define AZ_CONTEXT_H
#include <stdbool.h>
#include "analyze/attr.h"
#include "analyze/image.h"
#include "analyze/model.h"

struct az_ctx {
	struct az_model m;
	struct az_image img;
	bool have_img;
	struct az_attr *attr;  /* always built (upperdir-only when there is no image) */
	double load_s, attr_s; /* seconds spent loading the bundle and the image, then attributing */
};

/* Free with az_ctx_free, also after a failure. */
int az_ctx_load(struct az_ctx *c, const char *bundle, const char *image, bool progress, ai_err_t *err);
void az_ctx_free(struct az_ctx *c);

#endif
