/* The `layers` view: the attribution (attr.c) as a text table or JSON, read through its accessors. */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include "analyze/imgcheck.h"
#include "analyze/util.h"
#include "analyze/views.h"
#include "common/json.h"

struct render {
	const struct az_image *img;
	struct ai_json j;
	struct ai_buf *out;
	bool json;
	const char *glob;	 /* --path: only the paths it matches (fnmatch, no flags) */
	const char *const *only; /* --pid: only these paths (sorted), when set */
	size_t nonly;
};

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void render_row(void *ud, const char *path, size_t len, const struct az_origin *o)
{
	struct render *r = ud;
	if (r->glob && fnmatch(r->glob, path, 0)) /* az_attr_each's paths end in a NUL */
		return;
	if (r->only && !bsearch(&path, r->only, r->nonly, sizeof(*r->only), cmp_str))
		return;
	const struct az_image *img = r->img;
	const struct az_layer *L =
	    img && o->layer > 0 && (size_t)o->layer <= img->nlayers ? &img->layers[o->layer - 1] : NULL;
	if (r->json) {
		struct ai_json *j = &r->j;
		ai_json_obj_begin(j);
		ai_json_kbytes(j, "path", path, len);
		ai_json_kstr(j, "status", az_status_name(o->status));
		ai_json_key(j, "layer");
		if (o->layer)
			ai_json_int(j, o->layer);
		else
			ai_json_null(j);
		ai_json_kstr(j, "digest", L ? L->digest : NULL);
		ai_json_key(j, "created_by");
		if (L && L->created_by.s)
			ai_json_strn(j, L->created_by.s, L->created_by.len);
		else
			ai_json_null(j);
		if (o->upper) {
			ai_json_kstr(j, "type", az_utype_name(o->upper->type));
			ai_json_kstr(j, "sha256", o->upper->sha256[0] ? o->upper->sha256 : NULL);
			char mode[8];
			snprintf(mode, sizeof(mode), "%04o", o->upper->mode);
			ai_json_kstr(j, "mode", mode);
		}
		if (o->sha_known)
			ai_json_kstr(j, "lower_sha256", o->lower_sha256);
		ai_json_obj_end(j);
		return;
	}
	char lay[16] = "-";
	if (o->layer)
		snprintf(lay, sizeof(lay), "%d", o->layer);
	ai_buf_printf(r->out, "%-13s %-5s ", az_status_name(o->status), lay);
	az_esc_text(r->out, path, len);
	ai_buf_addc(r->out, '\n');
}

/* The warnings, one per line, each to fn. */
static void each_warning(const struct az_attr *a, void (*fn)(void *ud, const char *w, size_t len), void *ud)
{
	for (const char *p = az_attr_warnings(a); *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		fn(ud, p, l);
		p += l + (nl ? 1 : 0);
	}
}

static void warning_json(void *ud, const char *w, size_t len)
{
	ai_json_strn(ud, w, len);
}

static void warning_text(void *ud, const char *w, size_t len)
{
	ai_buf_adds(ud, "warning: ");
	az_esc_text(ud, w, len);
	ai_buf_addc(ud, '\n');
}

static void render_json(const struct az_attr *a, bool changed_only, const size_t counts[AZ_ST__COUNT],
			struct render *r)
{
	const struct az_image *img = r->img;
	const struct az_model *m = az_attr_model(a);
	ai_json_init(&r->j, r->out);
	struct ai_json *j = &r->j;
	ai_json_obj_begin(j);
	ai_json_key(j, "image");
	if (!img)
		ai_json_null(j);
	else {
		ai_json_obj_begin(j);
		ai_json_kstr(j, "ref", img->ref);
		ai_json_key(j, "layers");
		ai_json_arr_begin(j);
		for (size_t i = 0; i < img->nlayers; i++) {
			const struct az_layer *L = &img->layers[i];
			ai_json_obj_begin(j);
			ai_json_kint(j, "index", (int64_t)i + 1);
			ai_json_kstr(j, "digest", L->digest);
			ai_json_kstr(j, "diff_id", L->diff_id);
			ai_json_kstr(j, "media_type", L->media_type);
			az_json_str(j, "created_by", &L->created_by);
			if (L->created_ns)
				ai_json_ktime(j, "created", L->created_ns / 1000000000,
					      (long)(L->created_ns % 1000000000));
			ai_json_obj_end(j);
		}
		ai_json_arr_end(j);
		ai_json_obj_end(j);
	}
	ai_json_key(j, "container_lowerdirs");
	unsigned ct = az_attr_ct(a);
	const struct az_overlay *ov = az_model_ov(m, ct == AZ_CT_ALL ? 0 : ct);
	if (ov->present)
		ai_json_uint(j, ov->nlower - ov->data_only);
	else
		ai_json_null(j);
	az_imgcheck_json(az_attr_imgcheck(a), j);
	ai_json_key(j, "warnings");
	ai_json_arr_begin(j);
	each_warning(a, warning_json, j);
	ai_json_arr_end(j);
	ai_json_key(j, "counts");
	ai_json_obj_begin(j);
	for (int s = 1; s < AZ_ST__COUNT; s++)
		ai_json_kuint(j, az_status_name((enum az_status)s), counts[s]);
	ai_json_obj_end(j);
	ai_json_key(j, "paths");
	ai_json_arr_begin(j);
	az_attr_each(a, changed_only, render_row, r);
	ai_json_arr_end(j);
	ai_json_obj_end(j);
	ai_buf_addc(r->out, '\n');
}

void az_view_layers(const struct az_attr *a, bool json, bool changed_only, struct ai_buf *out)
{
	az_view_layers_glob(a, json, changed_only, NULL, out);
}

void az_view_layers_glob(const struct az_attr *a, bool json, bool changed_only, const char *glob,
			 struct ai_buf *out)
{
	az_view_layers_sel(a, json, changed_only, glob, NULL, 0, out);
}

void az_view_layers_sel(const struct az_attr *a, bool json, bool changed_only, const char *glob,
			const char **only, size_t nonly, struct ai_buf *out)
{
	if (only)
		qsort(only, nonly, sizeof(*only), cmp_str);
	struct render r = {
	    .img = az_attr_image(a), .out = out, .json = json, .glob = glob, .only = only, .nonly = nonly};
	const struct az_image *img = r.img;
	size_t counts[AZ_ST__COUNT] = {0}, paths, bytes;
	az_attr_stats(a, &paths, &bytes, counts);
	if (json) {
		render_json(a, changed_only, counts, &r);
		return;
	}
	if (img) {
		ai_buf_adds(out, "image ");
		az_esc_text(out, img->ref, img->ref ? strlen(img->ref) : 0);
		ai_buf_printf(out, ": %zu layers\n", img->nlayers);
		for (size_t i = 0; i < img->nlayers; i++) {
			const struct az_layer *L = &img->layers[i];
			ai_buf_printf(out, "  layer %zu ", i + 1);
			az_esc_text(out, L->digest, strnlen(L->digest, 19));
			ai_buf_addc(out, ' ');
			az_esc_text(out, L->created_by.s ? L->created_by.s : "", L->created_by.len);
			ai_buf_addc(out, '\n');
		}
	}
	each_warning(a, warning_text, out);
	ai_buf_adds(out, "counts:");
	for (int s = 1; s < AZ_ST__COUNT; s++)
		ai_buf_printf(out, " %s=%zu", az_status_name((enum az_status)s), counts[s]);
	ai_buf_printf(out, "\n%-13s %-5s %s\n", "STATUS", "LAYER", "PATH");
	az_attr_each(a, changed_only, render_row, &r);
}
