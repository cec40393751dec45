/* Identity and configuration: the OCI runtime spec (config.json) the runtime ran the container
 * with, found from its id (the cgroup path's) in the runtime's state, read through the host
 * root (--host-root, or the paths mounted read only into a sidecar), one component at a time,
 * no symlink followed, and stored whole as the container's config.json. Its annotations carry
 * the container's name and pod (containerd's io.kubernetes.cri.*, CRI-O's io.kubernetes.*); the
 * analyzer reads them (the spec is evidence as it was). The image the container runs is not in
 * podman's spec (its org.opencontainers.image.base.* annotations name the image that image was
 * built FROM): podman and CRI-O keep it in containers/storage's container list, whose entry for
 * this container (its image id and image name, never the list: it names the host's other
 * containers) goes into the manifest; containerd keeps it in its bolt metadata db, not read.
 * Where each was found, or why not, is logged. */
#include "capture/capture.h"
#include "capture/storejson.h"
#include "common/cleanup.h"
#include "common/safeopen.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char C[] = "identity";
#define SPEC_MAX (4u << 20)
/* containers.json lists every container of the host, ~600 bytes each: 32 MiB is ~50,000 */
#define STORE_MAX (32u << 20)

/* Read beneath the host root, at most max bytes (*cut: there was more); 0 with the document,
 * -1 when absent, unreadable or not a regular file. */
static int read_host_max(struct ai_capture *cap, const char *path, size_t max, char **out, size_t *len,
			 bool *cut)
{
	ai_err_t err = {0};
	const char *slash = strrchr(path, '/');
	cleanup_free char *dir = strndup(path, (size_t)(slash - path) + 1);
	if (!dir)
		return -1;
	cleanup_close int dfd =
	    ai_safe_openat(cap->host_root_fd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, &err);
	if (dfd < 0)
		return -1;
	struct stat st;
	if (fstatat(dfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return -1; /* a FIFO would block the capture */
	return ai_read_small(dfd, slash + 1, max, out, len, cut, &err);
}

static int read_host(struct ai_capture *cap, const char *path, char **out, size_t *len, bool *cut)
{
	return read_host_max(cap, path, SPEC_MAX, out, len, cut);
}

/* runc's state names the bundle directory in its "bundle=" label: <bundle>/config.json. */
static bool runc_bundle(const char *state, size_t len, char *out, size_t outlen)
{
	const char *p = memmem(state, len, "\"bundle=", 8);
	if (!p)
		return false;
	p += 8;
	const char *e = memchr(p, '"', len - (size_t)(p - state));
	if (!e || e == p || (size_t)(e - p) + 13 > outlen || memchr(p, '\\', (size_t)(e - p)) || *p != '/')
		return false;
	snprintf(out, outlen, "%.*s/config.json", (int)(e - p), p);
	return true;
}

/* The runtimes' layouts, most specific first (docs/capture.md lists them). */
static int find_spec(struct ai_capture *cap, const char *id, char **doc, size_t *len, bool *cut, char *where,
		     size_t wlen)
{
	char path[4200];
	static const char *const runc_roots[] = {"/run/runc", "/run/containerd/runc/k8s.io",
						 "/run/containerd/runc/default"};
	for (size_t i = 0; i < sizeof(runc_roots) / sizeof(runc_roots[0]); i++) {
		cleanup_free char *st = NULL;
		size_t sl;
		bool sc;
		snprintf(path, sizeof(path), "%s/%s/state.json", runc_roots[i], id);
		if (read_host(cap, path, &st, &sl, &sc) == 0 && runc_bundle(st, sl, where, wlen) &&
		    read_host(cap, where, doc, len, cut) == 0)
			return 0;
	}
	static const char *const fmts[] = {
	    "/run/containers/storage/overlay-containers/%s/userdata/config.json",
	    "/var/lib/containers/storage/overlay-containers/%s/userdata/config.json",
	    "/run/containerd/io.containerd.runtime.v2.task/k8s.io/%s/config.json",
	    "/run/containerd/io.containerd.runtime.v2.task/default/%s/config.json",
	    "/run/containerd/io.containerd.runtime.v2.task/moby/%s/config.json",
	};
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		snprintf(where, wlen, fmts[i], id);
		if (read_host(cap, where, doc, len, cut) == 0)
			return 0;
	}
	where[0] = '\0';
	return -1;
}

/* The containers/storage root an overlay upperdir lies in (ROOT/overlay/LAYER/diff), with the
 * container's layer id; false when it is not of that form. */
static bool storage_root(const char *upper, char *root, size_t rlen, char layer[65])
{
	size_t n = upper ? strlen(upper) : 0;
	static const char tail[] = "/diff";
	if (n < 9 + 64 + 5 || strcmp(upper + n - 5, tail) || memcmp(upper + n - 5 - 64 - 9, "/overlay/", 9))
		return false;
	const char *hex = upper + n - 5 - 64;
	for (int i = 0; i < 64; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	size_t rl = n - 5 - 64 - 9;
	if (!rl || rl + 1 > rlen || upper[0] != '/')
		return false;
	memcpy(root, upper, rl);
	root[rl] = '\0';
	memcpy(layer, hex, 64);
	layer[64] = '\0';
	return true;
}

/* The image of container ct from containers/storage's container list: the storage root of its
 * upperdir first (a custom graphroot, rootless storage), then the default roots; in each the
 * stable list and the volatile one (podman run --rm). */
static void find_image(struct ai_capture *cap, struct ai_container *ct)
{
	const struct ai_overlay *ov = ct->overlay.found ? &ct->overlay : ct->overlay_hint;
	char roots[3][4096] = {"", "/var/lib/containers/storage", "/run/containers/storage"};
	char layer[65] = "";
	if (!ov || !storage_root(ov->upperdir, roots[0], sizeof(roots[0]), layer))
		roots[0][0] = '\0';
	static const char *const lists[] = {"containers.json", "volatile-containers.json"};
	bool any = false, cut = false, bad = false;
	for (size_t r = 0; r < 3; r++) {
		if (!roots[r][0] || (r && !strcmp(roots[r], roots[0])))
			continue;
		for (size_t l = 0; l < 2; l++) {
			char path[4200];
			int pl = snprintf(path, sizeof(path), "%s/overlay-containers/%s", roots[r], lists[l]);
			if (pl < 0 || (size_t)pl >= sizeof(ct->image_from)) {
				/* the manifest would name it cut short: not used */
				ai_log_path(cap, AI_LOG_INFO, C, path, strlen(path),
					    "container list path longer than %zu bytes: not read",
					    sizeof(ct->image_from) - 1);
				continue;
			}
			cleanup_free char *doc = NULL;
			size_t len = 0;
			bool c = false;
			if (read_host_max(cap, path, STORE_MAX, &doc, &len, &c) < 0)
				continue;
			any = true;
			if (c) {
				cut = true;
				ai_log_path(cap, AI_LOG_TRUNCATED, C, path, strlen(path),
					    "container list larger than %u bytes: not read, image id unknown",
					    STORE_MAX);
				continue;
			}
			struct ai_store_entry e;
			ai_err_t err = {0};
			int rc = ai_store_find(doc, len, ct->target.container_id, &e, &err);
			if (rc < 0) {
				bad = true;
				ai_log_path(cap, AI_LOG_WARNING, C, path, strlen(path),
					    "container list unreadable: %s", err.msg);
				continue;
			}
			if (!rc)
				continue;
			if (!e.image_id[0]) {
				ai_log_path(cap, AI_LOG_WARNING, C, path, strlen(path),
					    "the container's entry has %s",
					    e.image_id_bad ? "an image that is not 64 hex" : "no image");
				snprintf(ct->image_note, sizeof(ct->image_note),
					 "the container's entry in the container list has no image id");
				return;
			}
			memcpy(ct->image_id, e.image_id, sizeof(ct->image_id));
			memcpy(ct->image_name, e.image_name, e.image_name_len);
			ct->image_name_len = e.image_name_len;
			snprintf(ct->image_from, sizeof(ct->image_from), "%s", path);
			ct->image_note[0] = '\0';
			if (e.name_cut)
				ai_log_path(cap, AI_LOG_TRUNCATED, C, path, strlen(path),
					    "image name longer than %u bytes: not recorded",
					    AI_STORE_NAME_MAX - 1);
			if (layer[0] && e.layer[0] && strcmp(layer, e.layer))
				ai_log_path(
				    cap, AI_LOG_WARNING, C, path, strlen(path),
				    "the list names layer %s for the container, its upperdir is layer %s",
				    e.layer, layer);
			ai_log_path(cap, AI_LOG_INFO, C, path, strlen(path),
				    "image id %s from the container list", ct->image_id);
			return;
		}
	}
	snprintf(
	    ct->image_note, sizeof(ct->image_note), "%s",
	    cut	  ? "the container list is larger than the capture reads (32 MiB)"
	    : bad ? "the container list is not readable JSON"
	    : any ? "no entry for the container in containers/storage's container list"
	    : strstr(ct->spec_from, "/containerd/")
		? "containerd keeps the image in its metadata db (meta.db), which the capture does not read"
		: "no containers/storage container list under the host root");
	if (!cut && !bad)
		ai_log(cap, AI_LOG_INFO, C, "image id of %s not found: %s", ct->target.container_id,
		       ct->image_note);
}

void ai_identity_json(struct ai_json *j, const struct ai_container *c, const char *prefix)
{
	const char *from = c->spec_from;
	ai_json_key(j, "identity");
	ai_json_obj_begin(j);
	char member[64];
	snprintf(member, sizeof(member), "%s%s", prefix, AI_M_CONFIG);
	ai_json_kstr(j, "runtime_spec", from[0] ? member : NULL);
	ai_json_kbytes(j, "runtime_spec_from", from[0] ? from : NULL, strlen(from));
	ai_json_kstr(j, "source", from[0] ? "runtime-spec" : "downward-api-env");
	/* the image it runs: containers/storage's entry for it (the spec does not say) */
	bool img = c->image_id[0] != '\0';
	ai_json_kstr(j, "image_id", img ? c->image_id : NULL);
	ai_json_kbytes(j, "image_name", img && c->image_name_len ? c->image_name : NULL, c->image_name_len);
	ai_json_kstr(j, "image_source", img ? "containers-storage" : NULL);
	ai_json_kbytes(j, "image_from", img ? c->image_from : NULL, strlen(c->image_from));
	ai_json_kstr(j, "image_note", !img && c->image_note[0] ? c->image_note : NULL);
	ai_json_obj_end(j);
}

static int store_spec(struct ai_capture *cap, ai_err_t *err)
{
	const struct ai_target *t = &ai_capture_ct(cap)->target;
	cleanup_free char *doc = NULL;
	size_t len = 0;
	bool cut = false;
	char where[4200];
	if (find_spec(cap, t->container_id, &doc, &len, &cut, where, sizeof(where)) < 0) {
		ai_log(cap, AI_LOG_INFO, C,
		       "runtime spec of %s not readable under the host root (runc, podman, containerd "
		       "state): identity from the Downward API env only",
		       t->container_id);
		return 0;
	}
	if (cut)
		ai_log_path(cap, AI_LOG_TRUNCATED, C, where, strlen(where),
			    "runtime spec larger than %u bytes: not stored", SPEC_MAX);
	else
		ai_log_path(cap, AI_LOG_INFO, C, where, strlen(where), "runtime spec found");
	if (cut)
		return 0;
	char name[64];
	ai_capture_member(cap, name, sizeof(name), "%s", AI_M_CONFIG);
	if (ai_bundle_add_mem(cap->bundle, name, doc, len, err) < 0)
		return -1;
	snprintf(ai_capture_ct(cap)->spec_from, sizeof(ai_capture_ct(cap)->spec_from), "%s", where);
	return 0;
}

static int collect_identity(struct ai_capture *cap, void **state, ai_err_t *err)
{
	(void)state;
	struct ai_container *ct = ai_capture_ct(cap);
	if (!ct->target.container_id) {
		ai_log(cap, AI_LOG_INFO, C,
		       "no container id in the cgroup: runtime spec and image not looked for");
		snprintf(ct->image_note, sizeof(ct->image_note), "no container id in the cgroup");
		return 0;
	}
	int rc = store_spec(cap, err);
	find_image(cap, ct); /* after the spec: where it was says which runtime this is */
	return rc;
}

/* After the volatile part: files on the host, read while the target runs. */
const struct ai_collector ai_collector_identity = {
    .name = "identity",
    .flags = AI_COLL_WORKS_WITHOUT_TARGET,
    .collect = collect_identity,
};
