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

int az_mounts_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, AI_M_MOUNTS, &j, err) < 0)
		return -1;
	json_t *arr = json_object_get(j, "mounts");
	if (!json_is_array(arr))
		return ai_err_set(err, 0, "%s: no \"mounts\" array", AI_M_MOUNTS);
	size_t n = json_array_size(arr);
	m->mounts = calloc(n ? n : 1, sizeof(*m->mounts));
	if (!m->mounts)
		abort();
	for (size_t i = 0; i < n; i++) {
		m->nmounts = i + 1;
		if (mount_read_one(json_array_get(arr, i), &m->mounts[i], err) < 0)
			return ai_err_wrap(err, "%s: mounts[%zu]", AI_M_MOUNTS, i);
	}
	json_t *ov = json_object_get(j, "overlay");
	if (json_is_object(ov)) {
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
	}
	return 0;
}
