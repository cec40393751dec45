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

/* volumes.json: a volume per element; its entries, held until the array is read, become
 * vfiles with the mount point before their path. */
struct vol_item {
	struct az_volume v;
	json_t *entries;
};

static int vol_read_one(json_t *o, void *item, ai_err_t *err)
{
	struct vol_item *x = item;
	if (!json_is_object(o))
		return ai_err_set(err, 0, "not an object");
	if (az_j_str(o, "mount_point", &x->v.mount_point, err) < 0 ||
	    az_j_str(o, "kind", &x->v.kind, err) < 0 || az_j_str(o, "fstype", &x->v.fstype, err) < 0 ||
	    az_j_str(o, "source", &x->v.source, err) < 0 || az_j_str(o, "root", &x->v.root, err) < 0 ||
	    az_j_str(o, "content", &x->v.content, err) < 0)
		return -1;
	if (!x->v.mount_point.s || x->v.mount_point.s[0] != '/' || x->v.mount_point.len > AZ_MAX_PATH)
		return ai_err_set(err, 0, "mount_point missing, not absolute or too long");
	json_t *e = json_object_get(o, "entries");
	if (json_is_array(e))
		x->entries = json_incref(e);
	return 0;
}

static void vfile_add(struct az_model *m, unsigned ct, size_t vol, const struct az_upper *u, size_t *cap)
{
	if (m->nvfiles == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		struct az_upper *n = realloc(m->vfiles, *cap * sizeof(*n));
		if (!n)
			abort();
		m->vfiles = n;
	}
	m->vfiles[m->nvfiles] = *u;
	m->vfiles[m->nvfiles].ct = ct;
	m->vfiles[m->nvfiles].vol1 = (unsigned)vol + 1;
	m->nvfiles++;
}

int az_volumes_read(struct az_model *m, unsigned ct, const char *doc, size_t len, ai_err_t *err)
{
	void *items = NULL;
	size_t n = 0;
	int rc = az_j_read_array_ex(doc, len, AI_M_VOLUMES_IDX, "volumes", sizeof(struct vol_item),
				    vol_read_one, &items, &n, NULL, m, &m->cuts, err);
	struct vol_item *xs = items;
	size_t vcap = m->nvfiles;
	struct az_volume *nv = realloc(m->vols, (m->nvols + n + 1) * sizeof(*nv));
	if (!nv)
		abort();
	m->vols = nv;
	for (size_t i = 0; i < n; i++) {
		size_t vi = m->nvols;
		struct az_volume *v = &m->vols[m->nvols++];
		*v = xs[i].v;
		v->ct = ct;
		size_t ne = xs[i].entries ? json_array_size(xs[i].entries) : 0;
		for (size_t k = 0; k < ne && rc == 0; k++) {
			struct az_upper u = {0};
			if (upper_read_one(json_array_get(xs[i].entries, k), &u, err) < 0) {
				az_upper_free(&u);
				rc = ai_err_wrap(err, "%s: volume %zu entry %zu", AI_M_VOLUMES_IDX, i, k);
				break;
			}
			/* "/" is the volume itself: its path is the mount point's */
			size_t pl = v->mount_point.len + (u.path.len > 1 ? u.path.len : 0);
			if (pl > AZ_MAX_PATH) {
				az_upper_free(&u);
				continue;
			}
			char *p = malloc(pl + 1);
			if (!p)
				abort();
			memcpy(p, v->mount_point.s, v->mount_point.len);
			if (u.path.len > 1)
				memcpy(p + v->mount_point.len, u.path.s, u.path.len);
			p[pl] = '\0';
			free(u.path.s);
			u.path.s = p;
			u.path.len = pl;
			vfile_add(m, ct, vi, &u, &vcap);
			v->nfiles++;
		}
		json_decref(xs[i].entries);
	}
	free(xs);
	return rc;
}
