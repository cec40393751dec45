#include "analyze/context.h"
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int az_ctx_load(struct az_ctx *c, const char *bundle, const char *image, bool progress, ai_err_t *err)
{
	memset(c, 0, sizeof(*c));
	c->img.dirfd = -1;
	double t0 = now();
	if (az_model_load(&c->m, bundle, err) < 0)
		return -1;
	if (image) {
		if (az_image_open(&c->img, image, err) < 0)
			return -1;
		c->have_img = true;
	}
	double t1 = now();
	c->load_s = t1 - t0;
	int rc = az_attr_build(&c->attr, &c->m, c->have_img ? &c->img : NULL, progress, err);
	c->attr_s = now() - t1;
	return rc;
}

void az_ctx_free(struct az_ctx *c)
{
	az_attr_free(c->attr);
	c->attr = NULL;
	if (c->have_img || c->img.ref)
		az_image_free(&c->img);
	az_model_free(&c->m);
}
