/* fs/upper.json -> model */
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "common/bundle.h"

static const char *const utype_names[] = {"file",   "dir",     "symlink",  "whiteout", "fifo",
					  "socket", "chardev", "blockdev", "other"};

const char *az_utype_name(enum az_utype t)
{
	return (unsigned)t < sizeof(utype_names) / sizeof(utype_names[0]) ? utype_names[t] : "other";
}

static int upper_read_one(json_t *o, void *item, ai_err_t *err)
{
	struct az_upper *u = item;
	if (!json_is_object(o))
		return ai_err_set(err, 0, "not an object");
	if (az_j_str(o, "path", &u->path, err) < 0)
		return -1;
	if (!u->path.s || u->path.s[0] != '/' || u->path.len > AZ_MAX_PATH)
		return ai_err_set(err, 0, "path missing, not absolute or too long");
	const char *t = json_string_value(json_object_get(o, "type"));
	u->type = AZ_U_OTHER;
	for (size_t i = 0; t && i < sizeof(utype_names) / sizeof(utype_names[0]); i++)
		if (!strcmp(t, utype_names[i]))
			u->type = (enum az_utype)i;
	const char *mode = json_string_value(json_object_get(o, "mode"));
	u->mode = mode ? (uint32_t)strtoul(mode, NULL, 8) & 07777 : 0;
	u->uid = az_j_int(o, "uid", -1);
	u->gid = az_j_int(o, "gid", -1);
	u->size = az_j_int(o, "size", -1);
	u->ino = az_j_int(o, "ino", -1);
	u->nlink = az_j_int(o, "nlink", -1);
	u->atime_ns = az_j_int(o, "atime_ns", 0);
	u->mtime_ns = az_j_int(o, "mtime_ns", 0);
	u->ctime_ns = az_j_int(o, "ctime_ns", 0);
	az_j_sha256(o, "sha256", u->sha256);
	if (az_j_str(o, "target", &u->target, err) < 0 ||
	    az_j_str(o, "hardlink_to", &u->hardlink_to, err) < 0 ||
	    az_j_str(o, "redirect", &u->redirect, err) < 0 || az_j_str(o, "member", &u->member, err) < 0)
		return -1;
	json_t *ov = json_object_get(o, "overlay");
	for (size_t i = 0; json_is_array(ov) && i < json_array_size(ov); i++) {
		const char *f = json_string_value(json_array_get(ov, i));
		if (!f)
			continue;
		if (!strcmp(f, "whiteout"))
			u->overlay |= AZ_OV_WHITEOUT;
		else if (!strcmp(f, "opaque"))
			u->overlay |= AZ_OV_OPAQUE;
		else if (!strcmp(f, "metacopy"))
			u->overlay |= AZ_OV_METACOPY;
		else if (!strcmp(f, "redirect"))
			u->overlay |= AZ_OV_REDIRECT;
	}
	if (u->type == AZ_U_WHITEOUT)
		u->overlay |= AZ_OV_WHITEOUT;
	u->truncated = az_j_bool(o, "truncated");
	json_t *x = json_object_get(o, "xattrs");
	u->origin = json_object_get(x, "trusted.overlay.origin") || json_object_get(x, "user.overlay.origin");
	return 0;
}

int az_upper_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	void *items;
	int rc = az_j_read_array_ex(doc, len, AI_M_UPPER_IDX, "entries", sizeof(*m->upper), upper_read_one,
				    &items, &m->nupper, NULL, m, &m->cuts, err);
	m->upper = items;
	return rc;
}
