/* OCI / docker-archive images (see oci.h): the documents are read whole (each bounded), in
 * memory; the layers are left to image.c. */
#include "analyze/oci.h"
#include "common/hash.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "analyze/util.h"
#include "common/cleanup.h"
#include "common/safeopen.h"

#define MAX_SMALL_TOTAL (64u << 20)

/* Small members of an outer archive (index, manifests, configs), kept in memory. */
struct small {
	char *name;
	char *data;
	size_t len;
	char *symlink; /* for symlink members: their target */
};
struct smalls {
	struct small *v;
	size_t n, total;
};

static void smalls_free(struct smalls *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].name);
		free(s->v[i].data);
		free(s->v[i].symlink);
	}
	free(s->v);
}

static const struct small *smalls_get(const struct smalls *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

static bool valid_digest(const char *d, char hex[65])
{
	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 71)
		return false;
	for (int i = 0; i < 64; i++) {
		char c = d[7 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	memcpy(hex, d + 7, 64);
	hex[64] = '\0';
	return true;
}

/* The layer array: the count is checked against the limit before anything is allocated, and set
 * only with the array it counts (az_image_free walks exactly nlayers entries). */
static int alloc_layers(struct az_image *img, size_t n, const char *what, ai_err_t *err)
{
	if (n > AZ_MAX_LAYERS)
		return ai_err_set(err, 0, "%s: %zu layers, more than the limit of %d layers", what, n,
				  AZ_MAX_LAYERS);
	img->layers = calloc(n ? n : 1, sizeof(*img->layers));
	if (!img->layers)
		abort();
	img->nlayers = n;
	return 0;
}

/* ---- reading JSON documents from the image */

static int read_at(int dirfd, const char *name, char **out, size_t *len, ai_err_t *err)
{
	cleanup_close int fd = ai_safe_openat(dirfd, name, O_RDONLY | O_NONBLOCK, err);
	if (fd < 0)
		return -1;
	return az_read_fd(fd, name, AZ_MAX_SMALL_MEMBER, out, len, err);
}

/* A content-addressed document (blobs/sha256/HEX: a manifest, a nested index, a config) is
 * what its digest says, or it is not used: layers are checked as they stream, documents here. */
static int check_blob(const char *name, const char *data, size_t len, ai_err_t *err)
{
	static const char pre[] = "blobs/sha256/";
	if (strncmp(name, pre, sizeof(pre) - 1) != 0)
		return 0;
	char hex[AI_SHA256_HEXLEN];
	if (ai_sha256_hex(data, len, hex, err) < 0)
		return -1;
	if (strcmp(hex, name + sizeof(pre) - 1) != 0)
		return ai_err_set(err, 0, "%s: its content does not match its digest (sha256 %s)", name, hex);
	return 0;
}

/* Get a document: from the OCI dir, or from the smalls of an archive. */
static int get_doc(struct az_image *img, const struct smalls *sm, const char *name, json_t **out,
		   ai_err_t *err)
{
	if (img->kind == AZ_IMG_OCI_DIR) {
		cleanup_free char *d = NULL;
		size_t l = 0;
		if (read_at(img->dirfd, name, &d, &l, err) < 0 || check_blob(name, d, l, err) < 0)
			return -1;
		return az_j_parse(d, l, name, out, err);
	}
	const struct small *s = smalls_get(sm, name);
	if (!s || !s->data)
		return ai_err_set(err, 0, "%s: no member %s (or larger than %u bytes)", img->path, name,
				  AZ_MAX_SMALL_MEMBER);
	if (check_blob(name, s->data, s->len, err) < 0)
		return -1;
	return az_j_parse(s->data, s->len, name, out, err);
}

static int blob_name(const char *digest, char *out, size_t outlen, ai_err_t *err)
{
	char hex[65];
	if (!valid_digest(digest, hex))
		return ai_err_set(err, 0, "invalid digest %s", digest ? digest : "(none)");
	snprintf(out, outlen, "blobs/sha256/%s", hex);
	return 0;
}

static bool tag_matches(json_t *desc, const char *tag)
{
	json_t *ann = json_object_get(desc, "annotations");
	const char *rn = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
	if (!rn)
		return false;
	if (!strcmp(rn, tag))
		return true;
	size_t rl = strlen(rn), tl = strlen(tag);
	return rl > tl && rn[rl - tl - 1] == ':' && !strcmp(rn + rl - tl, tag);
}

static int read_config(struct az_image *img, json_t *cfg, ai_err_t *err)
{
	json_t *rootfs = json_object_get(cfg, "rootfs");
	json_t *diff = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(diff))
		return ai_err_set(err, 0, "config: no rootfs.diff_ids");
	if (json_array_size(diff) != img->nlayers)
		return ai_err_set(err, 0, "config: %zu diff_ids for %zu layers", json_array_size(diff),
				  img->nlayers);
	for (size_t i = 0; i < img->nlayers; i++) {
		const char *d = json_string_value(json_array_get(diff, i));
		char hex[65];
		if (!valid_digest(d, hex))
			return ai_err_set(err, 0, "config: invalid diff_id %zu", i);
		snprintf(img->layers[i].diff_id, sizeof(img->layers[i].diff_id), "%s", d);
	}
	img->created_ns = az_time_parse(json_string_value(json_object_get(cfg, "created")));
	json_t *hist = json_object_get(cfg, "history");
	size_t nh = json_is_array(hist) ? json_array_size(hist) : 0;
	if (nh > 100000)
		return ai_err_set(err, 0, "config: too many history entries");
	img->hist = calloc(nh ? nh : 1, sizeof(*img->hist));
	if (!img->hist)
		abort();
	size_t li = 0;
	for (size_t i = 0; i < nh; i++) {
		json_t *h = json_array_get(hist, i);
		struct az_history *x = &img->hist[i];
		img->nhist = i + 1;
		if (az_j_str(h, "created_by", &x->created_by, err) < 0)
			return ai_err_wrap(err, "config: history[%zu]", i);
		x->created_ns = az_time_parse(json_string_value(json_object_get(h, "created")));
		x->empty_layer = az_j_bool(h, "empty_layer");
		if (x->empty_layer)
			continue;
		if (li < img->nlayers) {
			if (x->created_by.s)
				az_str_set(&img->layers[li].created_by, x->created_by.s, x->created_by.len);
			img->layers[li].created_ns = x->created_ns;
		}
		li++;
	}
	return 0;
}

static int read_oci(struct az_image *img, const struct smalls *sm, ai_err_t *err)
{
	json_t *idx cleanup_json = NULL;
	if (get_doc(img, sm, "index.json", &idx, err) < 0)
		return -1;
	json_t *mans = json_object_get(idx, "manifests");
	if (!json_is_array(mans) || !json_array_size(mans))
		return ai_err_set(err, 0, "index.json: no manifests");
	json_t *desc = NULL;
	if (img->tag) {
		for (size_t i = 0; i < json_array_size(mans); i++)
			if (tag_matches(json_array_get(mans, i), img->tag))
				desc = json_array_get(mans, i);
		if (!desc)
			return ai_err_set(err, 0, "index.json: no manifest tagged %s", img->tag);
	} else {
		if (json_array_size(mans) != 1)
			return ai_err_set(err, 0, "index.json: %zu manifests, name one with :TAG",
					  json_array_size(mans));
		desc = json_array_get(mans, 0);
	}
	char name[256];
	json_t *man cleanup_json = NULL;
	for (int depth = 0;; depth++) {
		if (blob_name(json_string_value(json_object_get(desc, "digest")), name, sizeof(name), err) <
		    0)
			return ai_err_wrap(err, "index.json");
		json_t *doc = NULL;
		if (get_doc(img, sm, name, &doc, err) < 0)
			return -1;
		if (man)
			json_decref(man);
		man = doc;
		json_t *sub = json_object_get(man, "manifests");
		if (!json_is_array(sub))
			break;
		/* a nested index: take linux/amd64, or the first */
		if (depth > 3 || !json_array_size(sub))
			return ai_err_set(err, 0, "%s: nested index without a usable manifest", name);
		desc = json_array_get(sub, 0);
		for (size_t i = 0; i < json_array_size(sub); i++) {
			json_t *pl = json_object_get(json_array_get(sub, i), "platform");
			const char *os = json_string_value(json_object_get(pl, "os"));
			const char *ar = json_string_value(json_object_get(pl, "architecture"));
			if (os && ar && !strcmp(os, "linux") && !strcmp(ar, "amd64"))
				desc = json_array_get(sub, i);
		}
	}
	snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s",
		 json_string_value(json_object_get(desc, "digest")));
	json_t *layers = json_object_get(man, "layers");
	if (!json_is_array(layers))
		return ai_err_set(err, 0, "manifest %s: no layers", name);
	if (alloc_layers(img, json_array_size(layers), "manifest", err) < 0)
		return -1;
	for (size_t i = 0; i < img->nlayers; i++) {
		json_t *l = json_array_get(layers, i);
		struct az_layer *x = &img->layers[i];
		const char *d = json_string_value(json_object_get(l, "digest"));
		if (blob_name(d, x->blob, sizeof(x->blob), err) < 0)
			return ai_err_wrap(err, "manifest: layer %zu", i);
		snprintf(x->digest, sizeof(x->digest), "%s", d);
		az_j_fixed(l, "mediaType", x->media_type, sizeof(x->media_type));
		x->size = az_j_int(l, "size", -1);
	}
	char cname[256];
	if (blob_name(json_string_value(json_object_get(json_object_get(man, "config"), "digest")), cname,
		      sizeof(cname), err) < 0)
		return ai_err_wrap(err, "manifest: config");
	snprintf(img->config_digest, sizeof(img->config_digest), "%s",
		 json_string_value(json_object_get(json_object_get(man, "config"), "digest")));
	json_t *cfg cleanup_json = NULL;
	if (get_doc(img, sm, cname, &cfg, err) < 0)
		return -1;
	return read_config(img, cfg, err);
}

/* Resolve a member name in an archive: "a/../b" forms and symlink members (docker-archive's
 * legacy layer.tar links), at most 8 hops. */
static int resolve_member(const struct smalls *sm, const char *name, char *out, size_t outlen, ai_err_t *err)
{
	char cur[512];
	snprintf(cur, sizeof(cur), "%s", name);
	for (int hop = 0; hop < 8; hop++) {
		const struct small *s = smalls_get(sm, cur);
		if (!s || !s->symlink) {
			snprintf(out, outlen, "%s", cur);
			return 0;
		}
		char dir[512];
		snprintf(dir, sizeof(dir), "%s", cur);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		else
			dir[0] = '\0';
		const char *t = s->symlink;
		while (!strncmp(t, "../", 3)) {
			t += 3;
			char *sl = strrchr(dir, '/');
			if (sl)
				*sl = '\0';
			else if (dir[0])
				dir[0] = '\0';
			else
				return ai_err_set(err, 0, "member %s: symlink leaves the archive", name);
		}
		if (t[0] == '/' || strstr(t, "/../"))
			return ai_err_set(err, 0, "member %s: unsafe symlink", name);
		char nxt[512];
		snprintf(nxt, sizeof(nxt), "%s%s%s", dir, dir[0] ? "/" : "", t);
		snprintf(cur, sizeof(cur), "%s", nxt);
	}
	return ai_err_set(err, 0, "member %s: too many symlinks", name);
}

static int read_docker(struct az_image *img, const struct smalls *sm, ai_err_t *err)
{
	json_t *man cleanup_json = NULL;
	if (get_doc(img, sm, "manifest.json", &man, err) < 0)
		return -1;
	if (!json_is_array(man) || json_array_size(man) != 1)
		return ai_err_set(err, 0, "manifest.json: expected exactly one image");
	json_t *m0 = json_array_get(man, 0);
	const char *cfgname = json_string_value(json_object_get(m0, "Config"));
	json_t *layers = json_object_get(m0, "Layers");
	if (!cfgname || !json_is_array(layers))
		return ai_err_set(err, 0, "manifest.json: no Config or Layers");
	if (alloc_layers(img, json_array_size(layers), "manifest.json", err) < 0)
		return -1;
	for (size_t i = 0; i < img->nlayers; i++) {
		const char *ln = json_string_value(json_array_get(layers, i));
		if (!ln || strlen(ln) > 200)
			return ai_err_set(err, 0, "manifest.json: bad layer name %zu", i);
		if (resolve_member(sm, ln, img->layers[i].blob, sizeof(img->layers[i].blob), err) < 0)
			return -1;
		snprintf(img->layers[i].media_type, sizeof(img->layers[i].media_type), "application/x-tar");
	}
	json_t *cfg cleanup_json = NULL;
	if (get_doc(img, sm, cfgname, &cfg, err) < 0)
		return -1;
	if (read_config(img, cfg, err) < 0)
		return -1;
	/* the config's name is its digest: HEX.json, or blobs/sha256/HEX */
	const char *base = strrchr(cfgname, '/') ? strrchr(cfgname, '/') + 1 : cfgname;
	size_t hl = strspn(base, "0123456789abcdef");
	if (hl == 64 && (!base[64] || !strcmp(base + 64, ".json")))
		snprintf(img->config_digest, sizeof(img->config_digest), "sha256:%.64s", base);
	/* the layers of a docker-archive are stored uncompressed: their digest is the diff_id */
	for (size_t i = 0; i < img->nlayers; i++)
		memcpy(img->layers[i].digest, img->layers[i].diff_id, sizeof(img->layers[i].digest));
	return 0;
}

/* ---- the outer archive (oci-archive, docker-archive) */

int az_oci_outer_open(struct archive **out, struct az_fdsrc *s, const char *path, ai_err_t *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = az_open_regular(path, err);
	if (s->fd < 0)
		return -1;
	struct archive *a = archive_read_new();
	if (!a)
		abort();
	archive_read_support_format_tar(a);
	if (az_fdsrc_open(a, s) != ARCHIVE_OK) {
		ai_err_set(err, 0, "%s: %s", path, archive_error_string(a));
		archive_read_free(a);
		close(s->fd);
		return -1;
	}
	*out = a;
	return 0;
}

static int load_smalls(struct az_image *img, struct smalls *sm, ai_err_t *err)
{
	struct az_fdsrc o;
	struct archive *a cleanup_archive = NULL;
	if (az_oci_outer_open(&a, &o, img->path, err) < 0)
		return -1;
	cleanup_close int fd = o.fd; /* owned here: closed when the walk ends */
	(void)fd;
	struct archive_entry *e;
	int r;
	size_t count = 0, cap = 0;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (++count > 1000000)
			return ai_err_set(err, 0, "%s: too many members", img->path);
		const char *name = archive_entry_pathname(e);
		if (!name || strlen(name) > 400)
			continue;
		while (!strncmp(name, "./", 2))
			name += 2;
		bool reg = archive_entry_filetype(e) == AE_IFREG, lnk = archive_entry_filetype(e) == AE_IFLNK;
		if (!reg && !lnk)
			continue;
		if (reg && archive_entry_size(e) > (la_int64_t)AZ_MAX_SMALL_MEMBER)
			continue;
		if (reg && sm->total + (size_t)archive_entry_size(e) > MAX_SMALL_TOTAL)
			continue;
		if (sm->n == cap) {
			cap = cap ? cap * 2 : 32;
			sm->v = realloc(sm->v, cap * sizeof(*sm->v));
			if (!sm->v)
				abort();
		}
		struct small *s = &sm->v[sm->n++];
		memset(s, 0, sizeof(*s));
		s->name = strdup(name);
		if (!s->name)
			abort();
		if (lnk) {
			const char *t = archive_entry_symlink(e);
			s->symlink = strdup(t ? t : "");
			if (!s->symlink)
				abort();
			continue;
		}
		if (az_read_member(a, e, AZ_MAX_SMALL_MEMBER, &s->data, &s->len, err) < 0)
			return ai_err_wrap(err, "%s", img->path);
		sm->total += s->len;
	}
	if (r != ARCHIVE_EOF)
		return ai_err_set(err, 0, "%s: unreadable archive: %s", img->path, archive_error_string(a));
	return 0;
}

int az_image_open(struct az_image *img, const char *ref, ai_err_t *err)
{
	memset(img, 0, sizeof(*img));
	img->dirfd = -1;
	img->ref = strdup(ref);
	if (!img->ref)
		abort();
	const char *rest;
	if (!strncmp(ref, "oci:", 4)) {
		img->kind = AZ_IMG_OCI_DIR;
		rest = ref + 4;
	} else if (!strncmp(ref, "oci-archive:", 12)) {
		img->kind = AZ_IMG_OCI_ARCHIVE;
		rest = ref + 12;
	} else if (!strncmp(ref, "docker-archive:", 15)) {
		img->kind = AZ_IMG_DOCKER_ARCHIVE;
		rest = ref + 15;
	} else
		return ai_err_set(
		    err, 0, "image %s: expected oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE",
		    ref);
	img->path = strdup(rest);
	if (!img->path)
		abort();
	/* PATH[:TAG]: the tag is what follows the last ':' when PATH itself does not exist */
	struct stat st;
	char *colon = strrchr(img->path, ':');
	if (colon && stat(img->path, &st) < 0 && img->kind != AZ_IMG_DOCKER_ARCHIVE) {
		*colon = '\0';
		img->tag = strdup(colon + 1);
		if (!img->tag)
			abort();
	}
	struct smalls sm = {0};
	int rc;
	if (img->kind == AZ_IMG_OCI_DIR) {
		img->dirfd = open(img->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (img->dirfd < 0)
			return ai_err_set(err, errno, "image %s", img->path);
		rc = read_oci(img, &sm, err);
	} else {
		rc = load_smalls(img, &sm, err);
		if (rc == 0)
			rc = img->kind == AZ_IMG_OCI_ARCHIVE ? read_oci(img, &sm, err)
							     : read_docker(img, &sm, err);
	}
	smalls_free(&sm);
	if (rc < 0)
		return ai_err_wrap(err, "image %s", ref);
	return 0;
}

void az_image_free(struct az_image *img)
{
	for (size_t i = 0; i < img->nlayers; i++)
		az_str_free(&img->layers[i].created_by);
	for (size_t i = 0; i < img->nhist; i++)
		az_str_free(&img->hist[i].created_by);
	free(img->layers);
	free(img->hist);
	free(img->path);
	free(img->tag);
	free(img->ref);
	if (img->dirfd >= 0)
		close(img->dirfd);
	memset(img, 0, sizeof(*img));
	img->dirfd = -1;
}
