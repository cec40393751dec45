/* mounts.json -> model */
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "common/bundle.h"

static int mount_read_one(json_t *o, struct az_mount *x, ai_err_t *err)
{
	if (!json_is_object(o))
		return ai_err_set(err, 0, "not an object");
	x->id = az_j_int(o, "mount_id", -1);
	x->parent = az_j_int(o, "parent_id", -1);
	if (az_j_str(o, "mount_point", &x->mount_point, err) < 0 || az_j_str(o, "root", &x->root, err) < 0 ||
	    az_j_str(o, "fstype", &x->fstype, err) < 0 || az_j_str(o, "source", &x->source, err) < 0 ||
	    az_j_str(o, "options", &x->options, err) < 0)
		return -1;
	return 0;
}

static int mount_item(json_t *e, void *item, ai_err_t *err)
{
	return mount_read_one(e, item, err);
}

static int mounts_other(void *ud, const char *key, json_t *ov, ai_err_t *err)
{
	struct az_model *m = ud;
	if (strcmp(key, "overlay") || !json_is_object(ov))
		return 0;
	m->ov.present = true;
	json_t *ld = json_object_get(ov, "lowerdirs");
	m->ov.nlower = json_is_array(ld) ? json_array_size(ld) : 0;
	int64_t d = az_j_int(ov, "data_only_lowers", 0);
	m->ov.data_only = d > 0 && (size_t)d <= m->ov.nlower ? (size_t)d : 0;
	m->ov.metacopy = az_j_bool(ov, "metacopy");
	m->ov.userxattr = az_j_bool(ov, "userxattr");
	if (az_j_str(ov, "upperdir", &m->ov.upperdir, err) < 0 ||
	    az_j_str(ov, "redirect_dir", &m->ov.redirect_dir, err) < 0 ||
	    az_j_str(ov, "options", &m->ov.options, err) < 0)
		return ai_err_wrap(err, "%s: overlay", AI_M_MOUNTS);
	return 0;
}

/* One element at a time (util.h), the overlay as the one other member that matters. */
int az_mounts_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	void *items;
	int rc = az_j_read_array_ex(doc, len, AI_M_MOUNTS, "mounts", sizeof(*m->mounts), mount_item, &items,
				    &m->nmounts, mounts_other, m, &m->cuts, err);
	m->mounts = items;
	return rc;
}
