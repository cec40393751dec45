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

/* containers/storage names a layer's directory by its id: STORAGE/overlay/HEX/diff. */
static bool storage_layer_id(const char *p, char out[65])
{
	size_t n = p ? strlen(p) : 0;
	if (n < 70 || strcmp(p + n - 5, "/diff") || p[n - 70] != '/')
		return false;
	for (size_t i = n - 69; i < n - 5; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	memcpy(out, p + n - 69, 64);
	out[64] = '\0';
	return true;
}

static void read_layer_ids(struct az_model *m, json_t *ld, json_t *res)
{
	if (!m->ov.nlower || m->ov.nlower > 1000)
		return;
	char(*ids)[65] = calloc(m->ov.nlower, sizeof(*ids));
	if (!ids)
		abort();
	size_t found = 0;
	for (size_t i = 0; i < m->ov.nlower; i++) {
		const char *r = json_string_value(json_array_get(res, i));
		found += storage_layer_id(r ? r : json_string_value(json_array_get(ld, i)), ids[i]);
	}
	if (found)
		m->ov.layer_ids = ids;
	else
		free(ids);
}

static int mounts_other(void *ud, const char *key, json_t *ov, ai_err_t *err)
{
	struct az_model *m = ud;
	if (strcmp(key, "overlay") || !json_is_object(ov))
		return 0;
	m->ov.present = true;
	json_t *ld = json_object_get(ov, "lowerdirs");
	m->ov.nlower = json_is_array(ld) ? json_array_size(ld) : 0;
	free(m->ov.layer_ids); /* a repeated "overlay" member: the last one counts */
	m->ov.layer_ids = NULL;
	read_layer_ids(m, ld, json_object_get(ov, "lowerdirs_resolved"));
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
