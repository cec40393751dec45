#include "analyze/imgcheck.h"
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "analyze/util.h"
#include "common/hash.h"

static const char *const verdicts[] = {"unchecked", "unknown", "match", "mismatch"};

const char *az_imgverdict_name(enum az_imgverdict v)
{
	return (unsigned)v < 4 ? verdicts[v] : "unknown";
}

/* The 64 hex of an id as runtimes write it: HEX, sha256:HEX, NAME@sha256:HEX. */
static bool id_hex(const char *s, size_t len, char out[65])
{
	const char *at = memrchr(s, '@', len);
	if (at) {
		len -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	if (len > 7 && !memcmp(s, "sha256:", 7))
		s += 7, len -= 7;
	if (len != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	memcpy(out, s, 64);
	out[64] = '\0';
	return true;
}

static bool digest_is(const char *digest, const char *hex)
{
	return !strncmp(digest, "sha256:", 7) && !strcmp(digest + 7, hex);
}

/* The container whose evidence an attribution is checked with: its own, or container 0's for
 * the attribution of every container (the overlay attr.c applies is container 0's too). */
static unsigned ev_ct(unsigned ct)
{
	return ct == AZ_CT_ALL ? 0 : ct;
}

static void check_id(struct az_imgcheck *c, const struct az_model *m, unsigned ct, const struct az_image *img)
{
	/* the container's own record first (a pod's container N has only that); the manifest's
	 * target and a checkpoint's config.dump are container 0's */
	const struct az_str *ids[5] = {&m->cts[ct].image_id, &m->cts[ct].image_digest};
	size_t n = 2;
	if (!ct) {
		ids[n++] = &m->man.image_id;
		ids[n++] = &m->man.image_digest;
		ids[n++] = &m->ck.image_id;
	}
	c->id_match = -1;
	for (size_t i = 0; i < n; i++) {
		char hex[65];
		if (!ids[i]->s || !id_hex(ids[i]->s, ids[i]->len, hex))
			continue;
		memcpy(c->recorded, hex, sizeof(hex));
		if (digest_is(img->config_digest, hex) || digest_is(img->manifest_digest, hex)) {
			c->id_match = 1;
			return;
		}
		c->id_match = 0;
	}
	if (!c->id_match)
		ai_buf_printf(&c->why, "the container ran image %s; the image is config %s, manifest %s\n",
			      c->recorded, img->config_digest[0] ? img->config_digest : "?",
			      img->manifest_digest[0] ? img->manifest_digest : "?");
}

static void check_layers(struct az_imgcheck *c, const struct az_overlay *ov, const struct az_image *img)
{
	c->image_layers = img->nlayers;
	c->layers_match = -1;
	if (!ov->present || ov->nlower < ov->data_only)
		return;
	c->lowerdirs = ov->nlower - ov->data_only;
	c->layers_match = c->lowerdirs == img->nlayers;
	if (!c->layers_match)
		ai_buf_printf(&c->why, "the container's overlay has %zu lowerdirs, the image %zu layers\n",
			      c->lowerdirs, img->nlayers);
}

/* containers/storage (podman, CRI-O) names each layer by its chain: the bottom layer's id is its
 * diff_id, each next one sha256("PARENT_ID+DIFF_ID_HEX"). A lowerdir naming a layer id is then the
 * image's layer at that depth, or another image's. */
static void check_chain(struct az_imgcheck *c, const struct az_overlay *ov, const struct az_image *img)
{
	c->chain_match = -1;
	if (!ov->layer_ids || c->layers_match != 1)
		return;
	char id[65] = "";
	for (size_t k = 0; k < img->nlayers; k++) {
		const char *diff = img->layers[k].diff_id;
		if (strncmp(diff, "sha256:", 7) || strlen(diff) != 71)
			return;
		if (!k)
			memcpy(id, diff + 7, 65);
		else {
			char in[64 + 1 + 64 + 1];
			snprintf(in, sizeof(in), "%s+%s", id, diff + 7);
			ai_err_t err;
			if (ai_sha256_hex(in, strlen(in), id, &err) < 0)
				return; /* OpenSSL refused: the chain stays unknown */
		}
		const char *got = ov->layer_ids[img->nlayers - 1 - k]; /* lowerdirs are top first */
		if (!got[0])
			continue;
		c->chain_checked++;
		if (strcmp(got, id)) {
			c->chain_match = 0;
			ai_buf_printf(&c->why,
				      "lowerdir %zu is storage layer %s, the image's layer %zu is %s\n",
				      img->nlayers - k, got, k + 1, id);
			return;
		}
	}
	if (c->chain_checked)
		c->chain_match = 1;
}

/* On a mount of its own in container ct (a volume, a bind mount): not the image's file. */
static bool on_other_mount(const struct az_model *m, unsigned ct, const char *p, size_t len)
{
	for (size_t i = 0; i < m->nmounts; i++) {
		const struct az_str *mp = &m->mounts[i].mount_point;
		if (m->mounts[i].ct != ct || !mp->s || mp->len < 2 || mp->len > len ||
		    memcmp(mp->s, p, mp->len))
			continue;
		if (mp->len == len || p[mp->len] == '/')
			return true;
	}
	return false;
}

/* A running exe the container read from its lower layers is a file of the image it ran, byte for
 * byte: each path once, however many processes run it. Only container ct's processes (all of
 * them for the attribution of every container): another container of the pod runs another
 * image. */
static void check_exes(struct az_imgcheck *c, const struct az_model *m, unsigned only,
		       az_imgcheck_lookup_fn lookup, const void *ud)
{
	unsigned ct = ev_ct(only);
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		if ((only != AZ_CT_ALL && p->ct != only) || !p->exe.s || p->exe.s[0] != '/' ||
		    p->exe_deleted || p->exe_memfd || p->exe_truncated || !p->exe_sha256[0])
			continue;
		size_t len = az_exe_path_len(p);
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = (only == AZ_CT_ALL || m->procs[k].ct == only) && m->procs[k].exe.s &&
			       az_exe_path_len(&m->procs[k]) == len &&
			       !memcmp(m->procs[k].exe.s, p->exe.s, len) && !m->procs[k].exe_deleted &&
			       !m->procs[k].exe_memfd;
		struct az_imgcheck_file o;
		if (seen || on_other_mount(m, only == AZ_CT_ALL ? p->ct : ct, p->exe.s, len))
			continue;
		if (!lookup(ud, p->exe.s, len, &o))
			memset(&o, 0, sizeof(o)); /* in no layer and not in the upperdir */
		else if (o.upper)
			continue; /* an upperdir exe says nothing about the image */
		c->exe_checked++;
		if (o.lower_exists && (!o.sha_known || !strcmp(o.lower_sha256, p->exe_sha256)))
			continue;
		if (c->exe_mismatched++ < 3) {
			ai_buf_adds(&c->why, "running ");
			az_esc_text(&c->why, p->exe.s, len); /* a newline in a name never splits a reason */
			if (o.lower_exists)
				ai_buf_printf(&c->why, " has sha256 %s, the image's %s\n", p->exe_sha256,
					      o.lower_sha256);
			else
				ai_buf_adds(&c->why, " is not in the image\n");
		}
	}
	if (c->exe_mismatched > 3)
		ai_buf_printf(&c->why, "%zu more running executables differ from the image\n",
			      c->exe_mismatched - 3);
}

void az_imgcheck_run(struct az_imgcheck *c, const struct az_model *m, unsigned only,
		     const struct az_image *img, az_imgcheck_lookup_fn lookup, const void *ud)
{
	memset(c, 0, sizeof(*c));
	ai_buf_init(&c->why);
	c->id_match = c->layers_match = c->chain_match = -1;
	if (!img || !m)
		return;
	unsigned ct = ev_ct(only);
	if (ct >= AZ_MAX_CONTAINERS)
		return;
	const struct az_overlay *ov = az_model_ov(m, ct);
	check_id(c, m, ct, img);
	check_layers(c, ov, img);
	check_chain(c, ov, img);
	check_exes(c, m, only, lookup, ud);
	if (c->id_match == 0 || c->layers_match == 0 || c->chain_match == 0 || c->exe_mismatched)
		c->verdict = AZ_IMG_MISMATCH;
	else if (c->id_match == 1 || c->chain_match == 1 || c->exe_checked)
		c->verdict = AZ_IMG_MATCH;
	else
		c->verdict = AZ_IMG_UNKNOWN;
	ai_buf_cstr(&c->why);
}

void az_imgcheck_free(struct az_imgcheck *c)
{
	ai_buf_free(&c->why);
}

static void tri(struct ai_json *j, const char *key, int v)
{
	ai_json_key(j, key);
	if (v < 0)
		ai_json_null(j);
	else
		ai_json_bool(j, v);
}

void az_imgcheck_json(const struct az_imgcheck *c, struct ai_json *j)
{
	ai_json_key(j, "image_check");
	ai_json_obj_begin(j);
	ai_json_kstr(j, "verdict", az_imgverdict_name(c->verdict));
	ai_json_kstr(j, "recorded_image_id", c->recorded[0] ? c->recorded : NULL);
	tri(j, "id_match", c->id_match);
	tri(j, "layers_match", c->layers_match);
	tri(j, "chain_match", c->chain_match);
	ai_json_kuint(j, "chain_checked", c->chain_checked);
	ai_json_kuint(j, "image_layers", c->image_layers);
	ai_json_kuint(j, "lowerdirs", c->lowerdirs);
	ai_json_kuint(j, "exe_checked", c->exe_checked);
	ai_json_kuint(j, "exe_mismatched", c->exe_mismatched);
	ai_json_key(j, "reasons");
	ai_json_arr_begin(j);
	for (const char *p = c->why.len ? c->why.data : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		ai_json_strn(j, p, l);
		p += l + (nl ? 1 : 0);
	}
	ai_json_arr_end(j);
	ai_json_obj_end(j);
}
