/* Identity and configuration: the OCI runtime spec (config.json) the runtime ran the container
 * with, found from its id (the cgroup path's) in the runtime's state, read through the host
 * root (--host-root, or the paths mounted read only into a sidecar), one component at a time,
 * no symlink followed, and stored whole as the container's config.json. Its annotations carry
 * the container's name, image and pod (containerd's io.kubernetes.cri.*, CRI-O's
 * io.kubernetes.*, podman's); the analyzer reads them (capture has no JSON parser, and needs
 * none: the spec is evidence as it was). Where it was found, or why not, is logged. */
#include "capture/capture.h"
#include "common/cleanup.h"
#include "common/safeopen.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char C[] = "identity";
#define SPEC_MAX (4u << 20)

/* Read beneath the host root; 0 with the document, -1 when absent or unreadable. */
static int read_host(struct ai_capture *cap, const char *path, char **out, size_t *len, bool *cut)
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
	return ai_read_small(dfd, slash + 1, SPEC_MAX, out, len, cut, &err);
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

static int collect_identity(struct ai_capture *cap, void **state, ai_err_t *err)
{
	(void)state;
	const struct ai_target *t = &ai_capture_ct(cap)->target;
	if (!t->container_id) {
		ai_log(cap, AI_LOG_INFO, C, "no container id in the cgroup: runtime spec not looked for");
		return 0;
	}
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

/* After the volatile part: files on the host, read while the target runs. */
const struct ai_collector ai_collector_identity = {
    .name = "identity",
    .flags = AI_COLL_WORKS_WITHOUT_TARGET,
    .collect = collect_identity,
};
