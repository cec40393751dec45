#include "analyze/context.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *az_image_arg(const char *arg, char *name, size_t nlen)
{
	const char *eq = strchr(arg, '=');
	name[0] = '\0';
	if (!eq || eq == arg || (size_t)(eq - arg) >= nlen || memchr(arg, '/', (size_t)(eq - arg)) ||
	    memchr(arg, ':', (size_t)(eq - arg)))
		return arg;
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	return eq + 1;
}

int az_container_named(const struct az_model *m, const char *name)
{
	char *end;
	unsigned long n = strtoul(name, &end, 10);
	if (*name && !*end && n < m->ncts)
		return (int)n;
	for (size_t i = 0; i < m->ncts; i++) {
		const struct az_container *c = &m->cts[i];
		if (!strcmp(c->shortname, name) || (c->name.s && !strcmp(c->name.s, name)) ||
		    (c->id.s && strlen(name) >= 4 && !strncmp(c->id.s, name, strlen(name))))
			return (int)i;
	}
	return -1;
}

/* The image REF opened once: its index in c->imgs. */
static int open_ref(struct az_ctx *c, const char *ref, ai_err_t *err)
{
	for (size_t i = 0; i < c->nimgs; i++)
		if (!strcmp(c->img_ref[i], ref))
			return (int)i;
	if (c->nimgs == AZ_CTX_MAX_IMAGES)
		return ai_err_set(err, 0, "at most %d images", AZ_CTX_MAX_IMAGES);
	struct az_image *img = &c->imgs[c->nimgs];
	img->dirfd = -1;
	if (az_image_open(img, ref, err) < 0) {
		az_image_free(img);
		return -1;
	}
	c->img_ref[c->nimgs] = ref;
	return (int)c->nimgs++;
}

/* Which image each container gets: its NAME=REF, else the REF given without a name. */
static int assign(struct az_ctx *c, const char *const *images, size_t nimages, ai_err_t *err)
{
	const char *dflt = NULL;
	for (size_t i = 0; i < nimages; i++) {
		char name[128];
		const char *ref = az_image_arg(images[i], name, sizeof(name));
		if (!name[0]) {
			dflt = ref; /* the last one given wins, as for any repeated option */
			continue;
		}
		int ct = az_container_named(&c->m, name);
		if (ct < 0) {
			ai_err_set(err, 0, "--image %s: no container of the bundle is named %s", images[i],
				   name);
			return -2;
		}
		int k = open_ref(c, ref, err);
		if (k < 0)
			return -1;
		c->img_of[ct] = k;
	}
	for (size_t ct = 0; ct < (c->m.ncts ? c->m.ncts : 1) && dflt; ct++) {
		if (c->img_of[ct] >= 0)
			continue;
		int k = open_ref(c, dflt, err);
		if (k < 0)
			return -1;
		c->img_of[ct] = k;
	}
	return 0;
}

void az_ctx_init(struct az_ctx *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t ct = 0; ct < AZ_MAX_CONTAINERS; ct++)
		c->img_of[ct] = -1;
}

/* The containers of each image together, in one walk of it; those without an image each alone
 * (no walk: upperdir-only). */
int az_ctx_attribute(struct az_ctx *c, bool progress, ai_err_t *err)
{
	size_t n = c->m.ncts ? c->m.ncts : 1;
	c->attrs.n = n;
	for (int k = -1; k < (int)c->nimgs; k++) {
		unsigned cts[AZ_MAX_CONTAINERS];
		size_t m = 0;
		for (size_t ct = 0; ct < n; ct++)
			if (c->img_of[ct] == k)
				cts[m++] = (unsigned)ct;
		struct az_attr *out[AZ_MAX_CONTAINERS];
		for (size_t i = 0; k < 0 && i < m; i++) {
			if (az_attr_build_ct(&out[i], &c->m, cts[i], NULL, progress, err) < 0)
				return -1;
			c->attrs.ct[cts[i]] = out[i];
		}
		if (k >= 0 && m) {
			if (az_attr_build_many(out, &c->m, cts, m, &c->imgs[k], progress, err) < 0)
				return -1;
			for (size_t i = 0; i < m; i++)
				c->attrs.ct[cts[i]] = out[i];
		}
	}
	c->attr = c->attrs.ct[0];
	c->have_img = c->nimgs > 0;
	return 0;
}

int az_ctx_load(struct az_ctx *c, const char *bundle, const char *const *images, size_t nimages,
		bool progress, ai_err_t *err)
{
	az_ctx_init(c);
	double t0 = now();
	if (az_model_load(&c->m, bundle, err) < 0)
		return -1;
	int rc = assign(c, images, nimages, err);
	if (rc < 0)
		return rc;
	double t1 = now();
	c->load_s = t1 - t0;
	rc = az_ctx_attribute(c, progress, err);
	c->attr_s = now() - t1;
	return rc;
}

const struct az_image *az_ctx_image(const struct az_ctx *c, unsigned ct)
{
	return ct < AZ_MAX_CONTAINERS && c->img_of[ct] >= 0 ? &c->imgs[c->img_of[ct]] : NULL;
}

void az_ctx_free(struct az_ctx *c)
{
	for (size_t ct = 0; ct < c->attrs.n; ct++)
		az_attr_free(c->attrs.ct[ct]);
	c->attrs.n = 0;
	c->attr = NULL;
	for (size_t i = 0; i < c->nimgs; i++)
		az_image_free(&c->imgs[i]);
	c->nimgs = 0;
	az_model_free(&c->m);
}
