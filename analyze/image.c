#include "analyze/image.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "analyze/util.h"
#include "common/cleanup.h"
#include "common/hash.h"
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

/* ---- reading JSON documents from the image */

static int read_at(int dirfd, const char *name, char **out, size_t *len, ai_err_t *err)
{
	cleanup_close int fd = ai_safe_openat(dirfd, name, O_RDONLY | O_NONBLOCK, err);
	if (fd < 0)
		return -1;
	return az_read_fd(fd, name, AZ_MAX_SMALL_MEMBER, out, len, err);
}

/* Get a document: from the OCI dir, or from the smalls of an archive. */
static int get_doc(struct az_image *img, const struct smalls *sm, const char *name, json_t **out,
		   ai_err_t *err)
{
	if (img->kind == AZ_IMG_OCI_DIR) {
		cleanup_free char *d = NULL;
		size_t l = 0;
		if (read_at(img->dirfd, name, &d, &l, err) < 0)
			return -1;
		return az_j_parse(d, l, name, out, err);
	}
	const struct small *s = smalls_get(sm, name);
	if (!s || !s->data)
		return ai_err_set(err, 0, "%s: no member %s (or larger than %u bytes)", img->path, name,
				  AZ_MAX_SMALL_MEMBER);
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
	json_t *layers = json_object_get(man, "layers");
	if (!json_is_array(layers))
		return ai_err_set(err, 0, "manifest %s: no layers", name);
	img->nlayers = json_array_size(layers);
	if (img->nlayers > AZ_MAX_LAYERS)
		return ai_err_set(err, 0, "manifest: %zu layers, more than %d", img->nlayers, AZ_MAX_LAYERS);
	img->layers = calloc(img->nlayers ? img->nlayers : 1, sizeof(*img->layers));
	if (!img->layers)
		abort();
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
	img->nlayers = json_array_size(layers);
	if (img->nlayers > AZ_MAX_LAYERS)
		return ai_err_set(err, 0, "manifest.json: %zu layers, more than %d", img->nlayers,
				  AZ_MAX_LAYERS);
	img->layers = calloc(img->nlayers ? img->nlayers : 1, sizeof(*img->layers));
	if (!img->layers)
		abort();
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
	/* the layers of a docker-archive are stored uncompressed: their digest is the diff_id */
	for (size_t i = 0; i < img->nlayers; i++)
		memcpy(img->layers[i].digest, img->layers[i].diff_id, sizeof(img->layers[i].digest));
	return 0;
}

/* ---- the outer archive (oci-archive, docker-archive) */

static int outer_open(struct archive **out, struct az_fdsrc *s, const char *path, ai_err_t *err)
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
	if (outer_open(&a, &o, img->path, err) < 0)
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

/* ---- streaming one layer */

/* A layer's bytes come from a reader thread: it reads the blob (or the outer tar's member) in
 * 1 MiB blocks, hashes them and hands them to libarchive through a ring of buffers, so reading
 * and SHA-256 overlap with the tar parsing and attribution on the main thread. */
#define LAYER_BUFS 4
#define LAYER_BUF  (1u << 20)

struct layer_src {
	struct archive *outer; /* member data source, or NULL */
	int fd;		       /* blob file, or -1 */
	struct ai_hash h;
	uint64_t bytes;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf[LAYER_BUFS];
	ssize_t len[LAYER_BUFS]; /* > 0 data, 0 end, < 0 error */
	size_t head, filled;	 /* consumer's next buffer, buffers filled and not yet released */
	bool held;		 /* the consumer holds buf[head] (libarchive reads it) */
	bool stop, done;
	int read_errno;
	char errmsg[256];
};

static void *layer_reader(void *arg)
{
	struct layer_src *s = arg;
	size_t tail = 0;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->filled == LAYER_BUFS && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		bool stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		ssize_t n;
		char *b = s->buf[tail];
		if (s->outer) {
			size_t got = 0;
			n = 0;
			while (got < LAYER_BUF &&
			       (n = archive_read_data(s->outer, b + got, LAYER_BUF - got)) > 0)
				got += (size_t)n;
			if (n < 0)
				snprintf(s->errmsg, sizeof(s->errmsg), "outer archive: %s",
					 archive_error_string(s->outer));
			else
				n = (ssize_t)got;
		} else {
			size_t got = 0;
			n = 0;
			while (got < LAYER_BUF) {
				n = read(s->fd, b + got, LAYER_BUF - got);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				got += (size_t)n;
			}
			if (n < 0) {
				s->read_errno = errno;
				snprintf(s->errmsg, sizeof(s->errmsg), "read error: %s", strerror(errno));
			} else
				n = (ssize_t)got;
		}
		if (n > 0) {
			ai_hash_update(&s->h, b, (size_t)n);
			s->bytes += (uint64_t)n;
		}
		pthread_mutex_lock(&s->mu);
		s->len[tail] = n;
		s->filled++;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		tail = (tail + 1) % LAYER_BUFS;
		if (n <= 0)
			break;
	}
	return NULL;
}

static void layer_src_start(struct layer_src *s)
{
	s->head = s->filled = 0;
	s->held = s->stop = s->done = false;
	s->read_errno = 0;
	s->errmsg[0] = '\0';
	s->bytes = 0;
	if (pthread_create(&s->th, NULL, layer_reader, s) != 0)
		abort();
}

/* Stop the reader (it may be waiting for a free buffer) and join it. */
static void layer_src_stop(struct layer_src *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
}

static la_ssize_t layer_read(struct archive *a, void *ud, const void **out)
{
	struct layer_src *s = ud;
	pthread_mutex_lock(&s->mu);
	if (s->held) { /* libarchive is done with the previous block */
		s->held = false;
		s->head = (s->head + 1) % LAYER_BUFS;
		s->filled--;
		pthread_cond_broadcast(&s->cv);
	}
	if (s->done) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	while (s->filled == 0)
		pthread_cond_wait(&s->cv, &s->mu);
	ssize_t n = s->len[s->head];
	if (n > 0)
		s->held = true;
	else
		s->done = true; /* the end or an error: the reader has stopped; keep the slot */
	pthread_mutex_unlock(&s->mu);
	if (n < 0) {
		archive_set_error(a, s->read_errno ? s->read_errno : EIO, "%s", s->errmsg);
		return -1;
	}
	*out = s->buf[s->head];
	return n;
}

typedef int (*layer_entry_fn)(void *ud, size_t layer, struct archive *a, struct archive_entry *e,
			      ai_err_t *err);

static int walk_layer(struct az_image *img, size_t li, struct layer_src *src, layer_entry_fn fn, void *ud,
		      ai_err_t *err)
{
	const struct az_layer *L = &img->layers[li];
	if (ai_hash_init_sha256(&src->h, err) < 0)
		return -1;
	layer_src_start(src);
	struct archive *a cleanup_archive = archive_read_new();
	if (!a)
		abort();
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	int rc = 0;
	if (archive_read_open(a, src, NULL, layer_read, NULL) != ARCHIVE_OK) {
		rc = ai_err_set(err, 0, "layer %zu (%s): %s", li + 1, L->digest, archive_error_string(a));
	} else {
		struct archive_entry *e;
		int r;
		size_t count = 0;
		while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
			if (++count > 50000000) {
				rc = ai_err_set(err, 0, "layer %zu: too many entries", li + 1);
				break;
			}
			if (fn(ud, li, a, e, err) < 0) {
				rc = ai_err_wrap(err, "layer %zu (%s)", li + 1, L->digest);
				break;
			}
		}
		if (rc == 0 && r != ARCHIVE_EOF)
			rc = ai_err_set(err, 0, "layer %zu (%s): %s", li + 1, L->digest,
					archive_error_string(a));
	}
	/* drain the blob so its digest covers every byte */
	const void *dummy;
	la_ssize_t dr = 0;
	while (rc == 0 && (dr = layer_read(a, src, &dummy)) > 0)
		;
	if (rc == 0 && dr < 0)
		rc = ai_err_set(err, 0, "layer %zu (%s): %s", li + 1, L->digest, archive_error_string(a));
	layer_src_stop(src);
	uint8_t md[32];
	char hex[65];
	ai_err_t e2;
	if (ai_hash_final(&src->h, md, &e2) < 0)
		return rc < 0 ? rc : ai_err_set(err, 0, "%s", e2.msg);
	if (rc < 0)
		return rc;
	ai_hex(md, 32, hex);
	if (strlen(L->digest) == 71 && strcmp(L->digest + 7, hex))
		return ai_err_set(err, 0, "layer %zu: blob %s does not match its digest %s (sha256 %s)",
				  li + 1, L->blob, L->digest, hex);
	return 0;
}

/* One layer, from its blob file or from its member of the outer tar (one pass over the outer tar per
 * layer: members may be in any order, skipping is a seek). */
static int walk_one(struct az_image *img, size_t li, struct layer_src *src, layer_entry_fn fn, void *ud,
		    ai_err_t *err)
{
	const struct az_layer *L = &img->layers[li];
	src->bytes = 0;
	if (img->kind == AZ_IMG_OCI_DIR) {
		cleanup_close int fd = ai_safe_openat(img->dirfd, L->blob, O_RDONLY | O_NONBLOCK, err);
		if (fd < 0)
			return ai_err_wrap(err, "image %s: layer %zu", img->ref, li + 1);
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			return ai_err_set(err, 0, "image %s: layer %zu: %s is not a regular file", img->ref,
					  li + 1, L->blob);
		src->fd = fd;
		src->outer = NULL;
		if (walk_layer(img, li, src, fn, ud, err) < 0)
			return ai_err_wrap(err, "image %s", img->ref);
		return 0;
	}
	struct az_fdsrc o;
	struct archive *a cleanup_archive = NULL;
	if (outer_open(&a, &o, img->path, err) < 0)
		return -1;
	cleanup_close int ofd = o.fd; /* owned here: closed when the walk ends */
	(void)ofd;
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);
		if (!name)
			continue;
		while (!strncmp(name, "./", 2))
			name += 2;
		if (strcmp(name, L->blob) || archive_entry_filetype(e) != AE_IFREG)
			continue;
		src->fd = -1;
		src->outer = a;
		if (walk_layer(img, li, src, fn, ud, err) < 0)
			return ai_err_wrap(err, "image %s", img->ref);
		return 0;
	}
	return ai_err_set(err, 0, "image %s: layer %zu: no member %s", img->ref, li + 1, L->blob);
}

/* ---- parser workers and the hand-over to the caller
 *
 * libarchive's per-entry work (header checksum, pax parsing, a wide-char copy of every regular
 * file's name) and the layer's decompression cost as much as the attribution itself, and layers are
 * independent streams: up to one worker per CPU each takes the next layer, reads it (with its own
 * reader thread hashing the blob) and copies its entries into records, in 256 KiB chunks queued per
 * layer. The caller's thread takes the layers' records in layer order. Chunks are capped: a worker
 * ahead of the caller waits for free ones; the worker of the caller's layer never does, so the caller
 * always progresses. */
#define PIPE_CHUNK	(256u << 10)
#define PIPE_CAP	32 /* chunks in flight: 8 MiB */
#define PIPE_MAXWORKERS 8

enum { REC_SHA = 1, REC_HARDLINK = 2, REC_LINK = 4, REC_PATH = 8 };

struct rec {
	uint32_t size; /* of the record, header included, 8-aligned */
	uint32_t perm;
	uint16_t path_len, link_len;
	uint8_t type, flags;
	uint8_t pad[2];
	/* then: sha[32] when REC_SHA, path + NUL when REC_PATH, link + NUL when REC_LINK */
};

struct chunk {
	struct chunk *next;
	size_t used;
	char data[PIPE_CHUNK];
};

struct layer_q {
	struct chunk *head, *tail; /* filled chunks, oldest first */
	bool done;		   /* the worker has finished the layer */
	int rc;
	ai_err_t err;
};

struct walk_pipe {
	struct az_image *img;
	const struct az_walk_ops *ops;
	void *ud;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct layer_q *q;
	size_t next_layer; /* the next layer a worker takes */
	size_t cur;	   /* the layer the caller reads */
	size_t live;	   /* chunks allocated */
	struct chunk *free_chunks;
	bool stop; /* the caller is done or failed, or a layer failed: take no more layers */
	atomic_bool cancel;
};

struct worker {
	struct walk_pipe *p;
	struct chunk *c; /* being filled */
	pthread_t th;
};

/* A chunk for the worker of layer li; NULL when the walk is cancelled. */
static struct chunk *chunk_get(struct walk_pipe *p, size_t li)
{
	pthread_mutex_lock(&p->mu);
	while (!atomic_load(&p->cancel) && p->live >= PIPE_CAP && li != p->cur)
		pthread_cond_wait(&p->cv, &p->mu);
	bool cancel = atomic_load(&p->cancel);
	struct chunk *c = NULL;
	if (!cancel) {
		p->live++;
		if ((c = p->free_chunks))
			p->free_chunks = c->next;
	}
	pthread_mutex_unlock(&p->mu);
	if (cancel)
		return NULL;
	if (!c && !(c = malloc(sizeof(*c))))
		abort();
	c->next = NULL;
	c->used = 0;
	return c;
}

static void chunk_put(struct walk_pipe *p, struct chunk *c)
{
	pthread_mutex_lock(&p->mu);
	c->next = p->free_chunks;
	p->free_chunks = c;
	p->live--;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Queue the worker's chunk on its layer. */
static void chunk_push(struct walk_pipe *p, size_t li, struct chunk *c)
{
	pthread_mutex_lock(&p->mu);
	struct layer_q *q = &p->q[li];
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static enum az_utype entry_type(struct archive_entry *e)
{
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return AZ_U_FILE;
	case AE_IFDIR:
		return AZ_U_DIR;
	case AE_IFLNK:
		return AZ_U_SYMLINK;
	case AE_IFIFO:
		return AZ_U_FIFO;
	case AE_IFSOCK:
		return AZ_U_SOCKET;
	case AE_IFCHR:
		return AZ_U_CHR;
	case AE_IFBLK:
		return AZ_U_BLK;
	default:
		return AZ_U_OTHER;
	}
}

static int hash_data(struct archive *ar, uint8_t out[32], ai_err_t *err)
{
	struct ai_hash h;
	if (ai_hash_init_sha256(&h, err) < 0)
		return -1;
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(ar, &buf, &size, &off)) == ARCHIVE_OK)
		ai_hash_update(&h, buf, size); /* sparse holes are not expected in layers */
	if (r != ARCHIVE_EOF) {
		ai_hash_free(&h);
		return ai_err_set(err, 0, "entry data: %s", archive_error_string(ar));
	}
	return ai_hash_final(&h, out, err);
}

static int parse_entry(void *ud, size_t li, struct archive *ar, struct archive_entry *e, ai_err_t *err)
{
	struct worker *w = ud;
	struct walk_pipe *p = w->p;
	if (atomic_load_explicit(&p->cancel, memory_order_relaxed))
		return ai_err_set(err, ECANCELED, "cancelled");
	struct rec r = {.perm = (uint32_t)archive_entry_perm(e), .type = (uint8_t)entry_type(e)};
	const char *name = archive_entry_pathname(e);
	size_t len = name ? strlen(name) : 0;
	while (len && name[len - 1] == '/')
		len--;
	if (name && len <= AZ_MAX_PATH) {
		r.flags |= REC_PATH;
		r.path_len = (uint16_t)len;
	}
	const char *hl = archive_entry_hardlink(e);
	if (hl) {
		r.flags |= REC_HARDLINK;
		r.type = AZ_U_FILE;
	}
	const char *link = NULL;
	uint8_t sha[32];
	if ((r.flags & REC_PATH) && (hl || r.type == AZ_U_FILE || r.type == AZ_U_SYMLINK) &&
	    p->ops->want(p->ud, name, len)) {
		if (hl)
			link = hl;
		else if (r.type == AZ_U_SYMLINK) {
			if (!(link = archive_entry_symlink(e)))
				link = "";
		} else {
			if (hash_data(ar, sha, err) < 0)
				return -1;
			r.flags |= REC_SHA;
		}
		size_t ll = link ? strlen(link) : SIZE_MAX;
		if (ll <= AZ_MAX_PATH) {
			r.flags |= REC_LINK;
			r.link_len = (uint16_t)ll;
		}
	}
	size_t need = sizeof(r) + ((r.flags & REC_SHA) ? 32 : 0) +
		      ((r.flags & REC_PATH) ? r.path_len + 1u : 0) +
		      ((r.flags & REC_LINK) ? r.link_len + 1u : 0);
	need = (need + 7) & ~(size_t)7;
	r.size = (uint32_t)need;
	if (!w->c || w->c->used + need > PIPE_CHUNK) {
		if (w->c)
			chunk_push(p, li, w->c);
		if (!(w->c = chunk_get(p, li)))
			return ai_err_set(err, ECANCELED, "cancelled");
	}
	char *o = w->c->data + w->c->used;
	memcpy(o, &r, sizeof(r));
	o += sizeof(r);
	if (r.flags & REC_SHA) {
		memcpy(o, sha, 32);
		o += 32;
	}
	if (r.flags & REC_PATH) {
		memcpy(o, name, r.path_len);
		o[r.path_len] = '\0';
		o += r.path_len + 1;
	}
	if (r.flags & REC_LINK) {
		memcpy(o, link, r.link_len);
		o[r.link_len] = '\0';
	}
	w->c->used += need;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct walk_pipe *p = w->p;
	cleanup_free struct layer_src *src = calloc(1, sizeof(*src));
	if (!src)
		abort();
	pthread_mutex_init(&src->mu, NULL);
	pthread_cond_init(&src->cv, NULL);
	for (int i = 0; i < LAYER_BUFS; i++)
		if (!(src->buf[i] = malloc(LAYER_BUF)))
			abort();
	pthread_mutex_lock(&p->mu);
	while (!p->stop && p->next_layer < p->img->nlayers) {
		size_t li = p->next_layer++;
		pthread_mutex_unlock(&p->mu);
		ai_err_t err = {0};
		w->c = NULL;
		int rc = walk_one(p->img, li, src, parse_entry, w, &err);
		if (w->c)
			chunk_push(p, li, w->c);
		w->c = NULL;
		pthread_mutex_lock(&p->mu);
		p->q[li].rc = rc;
		p->q[li].err = err;
		p->q[li].done = true;
		if (rc < 0)
			p->stop = true; /* the layers after it are of no use */
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < LAYER_BUFS; i++)
		free(src->buf[i]);
	pthread_mutex_destroy(&src->mu);
	pthread_cond_destroy(&src->cv);
	return NULL;
}

static int consume_chunk(struct walk_pipe *p, size_t li, const struct chunk *c, ai_err_t *err)
{
	for (size_t off = 0; off < c->used;) {
		struct rec r;
		memcpy(&r, c->data + off, sizeof(r));
		const char *q = c->data + off + sizeof(r);
		struct az_lentry e = {.perm = r.perm, .type = r.type, .hardlink = r.flags & REC_HARDLINK};
		if (r.flags & REC_SHA) {
			memcpy(e.sha, q, 32);
			e.have_sha = true;
			q += 32;
		}
		if (r.flags & REC_PATH) {
			e.path = q;
			e.path_len = r.path_len;
			q += r.path_len + 1;
		}
		if (r.flags & REC_LINK) {
			e.link = q;
			e.link_len = r.link_len;
		}
		if (p->ops->entry(p->ud, li, &e, err) < 0)
			return -1;
		off += r.size;
	}
	return 0;
}

/* The caller's side: every layer's records in order. */
static int consume(struct walk_pipe *p, ai_err_t *err)
{
	for (size_t li = 0; li < p->img->nlayers; li++) {
		pthread_mutex_lock(&p->mu);
		p->cur = li;
		pthread_cond_broadcast(&p->cv); /* its worker may be waiting for a chunk */
		for (;;) {
			struct layer_q *q = &p->q[li];
			while (!q->head && !q->done)
				pthread_cond_wait(&p->cv, &p->mu);
			struct chunk *c = q->head;
			if (!c)
				break;
			if (!(q->head = c->next))
				q->tail = NULL;
			pthread_mutex_unlock(&p->mu);
			int rc = consume_chunk(p, li, c, err);
			chunk_put(p, c);
			if (rc < 0)
				return -1;
			pthread_mutex_lock(&p->mu);
		}
		int rc = p->q[li].rc;
		if (rc < 0)
			*err = p->q[li].err;
		pthread_mutex_unlock(&p->mu);
		if (rc < 0)
			return -1;
		if (p->ops->done)
			p->ops->done(p->ud, li);
	}
	return 0;
}

int az_image_walk(struct az_image *img, const struct az_walk_ops *ops, void *ud, ai_err_t *err)
{
	struct walk_pipe p = {.img = img, .ops = ops, .ud = ud};
	if (!img->nlayers)
		return 0;
	if (!(p.q = calloc(img->nlayers, sizeof(*p.q))))
		abort();
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	atomic_init(&p.cancel, false);
	/* the CPUs this process may run on (taskset, cpusets), not the machine's */
	cpu_set_t set;
	int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
								: (int)sysconf(_SC_NPROCESSORS_ONLN);
	size_t nw = cpus < 1 ? 1 : (size_t)cpus;
	if (nw > PIPE_MAXWORKERS)
		nw = PIPE_MAXWORKERS;
	if (nw > img->nlayers)
		nw = img->nlayers;
	struct worker w[PIPE_MAXWORKERS];
	for (size_t i = 0; i < nw; i++) {
		w[i] = (struct worker){.p = &p};
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0)
			abort();
	}
	int rc = consume(&p, err);
	pthread_mutex_lock(&p.mu);
	p.stop = true;
	atomic_store(&p.cancel, true);
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	for (size_t i = 0; i < nw; i++)
		pthread_join(w[i].th, NULL);
	for (size_t li = 0; li < img->nlayers; li++)
		for (struct chunk *c = p.q[li].head, *n; c; c = n) {
			n = c->next;
			free(c);
		}
	for (struct chunk *c = p.free_chunks, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(p.q);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return rc;
}
