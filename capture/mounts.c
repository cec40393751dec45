/* mounts.json: the target's mountinfo, and the overlay mounted at its "/" (the container root),
 * which tells the upperdir collector where the container's writes live on the host. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "capture/capture.h"
#include "capture/mountinfo.h"
#include "common/cleanup.h"
#include "common/safeopen.h"

#define COLLECTOR "mounts"
/* A container with thousands of mounts is still far below this; more is not mountinfo. */
#define MOUNTINFO_MAX (4u << 20)

/* A hostile string as an array element; the JSON writer only knows the "key"/"key_hex" form, so
 * an element that is not UTF-8 is flagged for a parallel "<key>_hex" array. */
static void json_bytes_elem(struct ai_json *j, const char *s, size_t len, bool *need_hex)
{
	ai_json_strn(j, s, len);
	if (!ai_utf8_valid(s, len))
		*need_hex = true;
}

static void json_hex(struct ai_json *j, const char *s, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	cleanup_free char *hex = malloc(len * 2 + 1);
	if (!hex)
		abort(); /* same policy as ai_buf: no sane partial JSON */
	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[(unsigned char)s[i] >> 4];
		hex[2 * i + 1] = digits[(unsigned char)s[i] & 15];
	}
	ai_json_strn(j, hex, len * 2);
}

static void json_str_array(struct ai_json *j, const char *key, char *const *v, size_t n)
{
	bool need_hex = false;
	ai_json_key(j, key);
	ai_json_arr_begin(j);
	for (size_t i = 0; i < n; i++) {
		if (v[i])
			json_bytes_elem(j, v[i], strlen(v[i]), &need_hex);
		else
			ai_json_null(j);
	}
	ai_json_arr_end(j);
	if (!need_hex)
		return;
	char hkey[64];
	snprintf(hkey, sizeof(hkey), "%s_hex", key);
	ai_json_key(j, hkey);
	ai_json_arr_begin(j);
	for (size_t i = 0; i < n; i++) {
		if (v[i] && !ai_utf8_valid(v[i], strlen(v[i])))
			json_hex(j, v[i], strlen(v[i]));
		else
			ai_json_null(j);
	}
	ai_json_arr_end(j);
}

static void json_mount(struct ai_json *j, const struct ai_mountinfo *m)
{
	char dev[32];
	snprintf(dev, sizeof(dev), "%u:%u", m->major, m->minor);
	ai_json_obj_begin(j);
	ai_json_kuint(j, "mount_id", m->mount_id);
	ai_json_kuint(j, "parent_id", m->parent_id);
	ai_json_kstr(j, "dev", dev);
	ai_json_kbytes(j, "root", m->root.s, m->root.len);
	ai_json_kbytes(j, "mount_point", m->mount_point.s, m->mount_point.len);
	ai_json_kbytes(j, "options", m->options.s, m->options.len);
	ai_json_key(j, "optional");
	ai_json_arr_begin(j);
	/* The tagged fields (shared:N, master:N, propagate_from:N, unbindable) are the kernel's. */
	const char *p = m->optional.s, *end = m->optional.s + m->optional.len;
	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *e = sp ? sp : end;
		if (e > p)
			ai_json_strn(j, p, (size_t)(e - p));
		p = e + 1;
	}
	ai_json_arr_end(j);
	ai_json_kbytes(j, "fstype", m->fstype.s, m->fstype.len);
	ai_json_kbytes(j, "source", m->source.s, m->source.len);
	ai_json_kbytes(j, "super_options", m->super_options.s, m->super_options.len);
	ai_json_obj_end(j);
}

/* Lexically join a relative symlink target to the directory of the link and drop "." and ".."
 * so podman's "l/XXXX -> ../<layer>/diff" reads as the layer's own path. Never touches the fs. */
static char *resolve_lexically(const char *link, const char *target)
{
	struct ai_buf in cleanup_buf = {0};
	if (target[0] != '/') {
		const char *slash = strrchr(link, '/');
		if (slash)
			ai_buf_add(&in, link, (size_t)(slash - link));
		ai_buf_addc(&in, '/');
	}
	ai_buf_adds(&in, target);
	const char *s = ai_buf_cstr(&in);
	size_t n = strlen(s);
	char *out = malloc(n + 2);
	if (!out)
		return NULL;
	size_t w = 0;
	const char *p = s;
	while (*p) {
		while (*p == '/')
			p++;
		const char *e = strchrnul(p, '/');
		size_t l = (size_t)(e - p);
		if (l == 0 || (l == 1 && p[0] == '.')) {
			/* nothing */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			while (w > 0 && out[w - 1] != '/')
				w--;
			if (w > 0)
				w--;
		} else {
			out[w++] = '/';
			memcpy(out + w, p, l);
			w += l;
		}
		p = e;
	}
	if (w == 0)
		out[w++] = '/';
	out[w] = '\0';
	return out;
}

/* Informational only: a lowerdir that is a symlink (podman's overlay/l/XXXX) resolved to the
 * layer it names, read beneath --host-root. NULL when it is not a symlink or cannot be read. */
static char *resolve_lower(struct ai_capture *cap, const char *lower)
{
	const char *rel = lower;
	while (*rel == '/')
		rel++;
	if (!*rel)
		return NULL;
	cleanup_free char *target = NULL;
	size_t tlen;
	ai_err_t err = {0};
	if (ai_readlinkat(cap->host_root_fd, rel, &target, &tlen, &err) < 0) {
		if (err.errnum != EINVAL) /* EINVAL: a plain directory, nothing to resolve */
			ai_log_path(cap, AI_LOG_INFO, COLLECTOR, lower, strlen(lower),
				    "lowerdir not resolved: %s", err.msg);
		return NULL;
	}
	if (memchr(target, '\0', tlen))
		return NULL;
	return resolve_lexically(lower, target);
}

static void free_strvp(char ***v)
{
	/* The count lives next to the array; callers that use this keep it NULL-terminated. */
	if (!*v)
		return;
	for (char **p = *v; *p; p++)
		free(*p);
	free(*v);
}
#define cleanup_strv __attribute__((cleanup(free_strvp)))

static void ovl_free_p(struct ai_ovl_opts *o)
{
	ai_mountinfo_ovl_free(o);
}
#define cleanup_ovl __attribute__((cleanup(ovl_free_p)))

/* Hand the parsed options to the container's overlay, every string its own allocation
 * (ai_overlay_free frees them one by one). */
static int fill_overlay(struct ai_overlay *ov, struct ai_ovl_opts *o, const struct ai_mountinfo *m,
			ai_err_t *err)
{
	ai_overlay_free(ov);
	ov->options = strndup(m->super_options.s, m->super_options.len);
	if (!ov->options)
		return ai_err_set(err, ENOMEM, "overlay options");
	ov->upperdir = steal_pointer(&o->upperdir);
	ov->workdir = steal_pointer(&o->workdir);
	ov->lowerdirs = steal_pointer(&o->lowerdirs);
	ov->nlower = o->nlower;
	o->nlower = 0;
	ov->found = true;
	return 0;
}

/* One mounts.json per bundle: the first container's (its mount namespace is the target's). */
static int collect_mounts(struct ai_capture *cap, void **state, ai_err_t *err)
{
	struct ai_container *ct = ai_capture_ct(cap);
	const struct ai_proc *proc = ai_target_main(&ct->target);
	if (!proc)
		return ai_err_set(err, 0, "no target process");

	cleanup_free char *data = NULL;
	size_t len = 0;
	bool truncated = false;
	if (ai_read_small(proc->procfd, "mountinfo", MOUNTINFO_MAX, &data, &len, &truncated, err) < 0)
		return ai_err_wrap(err, "read /proc/%d/mountinfo", (int)proc->pid);
	if (truncated) {
		ai_log(cap, AI_LOG_TRUNCATED, COLLECTOR,
		       "/proc/%d/mountinfo larger than %u bytes, rest dropped", (int)proc->pid,
		       MOUNTINFO_MAX);
		/* The last line was cut mid-way: parsing it would invent a mount. */
		char *nl = memrchr(data, '\n', len);
		len = nl ? (size_t)(nl - data) + 1 : 0;
	}

	struct ai_buf doc cleanup_buf = {0};
	struct ai_json j;
	ai_json_init(&j, &doc);
	ai_json_obj_begin(&j);
	ai_json_key(&j, "mounts");
	ai_json_arr_begin(&j);

	struct ai_mountinfo root = {0};
	bool have_root = false;
	size_t lineno = 0;
	char *p = data, *end = data + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		lineno++;
		struct ai_mountinfo m;
		ai_err_t lerr = {0};
		/* e is either the '\n' or data[len], the NUL ai_read_small adds: both writable. */
		if (ai_mountinfo_parse_line(p, (size_t)(e - p), &m, &lerr) < 0) {
			ai_log(cap, AI_LOG_ERROR, COLLECTOR, "mountinfo line %zu skipped: %s", lineno,
			       lerr.msg);
		} else {
			json_mount(&j, &m);
			/* Several mounts on "/" stack; the last one listed is the one on top. */
			if (m.mount_point.len == 1 && m.mount_point.s[0] == '/' && m.fstype.len == 7 &&
			    memcmp(m.fstype.s, "overlay", 7) == 0) {
				root = m;
				have_root = true;
			}
		}
		p = e + 1;
	}
	ai_json_arr_end(&j);

	ai_json_key(&j, "overlay");
	struct ai_ovl_opts o cleanup_ovl = {0};
	ai_err_t oerr = {0};
	if (!have_root) {
		ai_log(cap, AI_LOG_WARNING, COLLECTOR,
		       "no overlay mounted on / in the target: no upperdir to capture");
		ai_json_null(&j);
	} else if (ai_mountinfo_parse_overlay(root.super_options.s, root.super_options.len, &o, &oerr) < 0) {
		ai_log_path(cap, AI_LOG_ERROR, COLLECTOR, root.super_options.s, root.super_options.len,
			    "root overlay: %s", oerr.msg);
		ai_json_null(&j);
	} else {
		cleanup_strv char **resolved = calloc(o.nlower + 1, sizeof(*resolved));
		if (!resolved)
			return ai_err_set(err, ENOMEM, "lowerdirs");
		for (size_t i = 0; i < o.nlower; i++)
			resolved[i] = resolve_lower(cap, o.lowerdirs[i]);

		ai_json_obj_begin(&j);
		ai_json_kbytes(&j, "mount_point", root.mount_point.s, root.mount_point.len);
		json_str_array(&j, "lowerdirs", o.lowerdirs, o.nlower);
		/* resolved[] has holes (NULL) so it is not NULL-terminated for free_strvp: free here. */
		json_str_array(&j, "lowerdirs_resolved", resolved, o.nlower);
		for (size_t i = 0; i < o.nlower; i++) {
			free(resolved[i]);
			resolved[i] = NULL;
		}
		ai_json_kuint(&j, "data_only_lowers", o.ndata);
		if (o.upperdir)
			ai_json_kbytes(&j, "upperdir", o.upperdir, strlen(o.upperdir));
		else
			ai_json_kstr(&j, "upperdir", NULL);
		if (o.workdir)
			ai_json_kbytes(&j, "workdir", o.workdir, strlen(o.workdir));
		else
			ai_json_kstr(&j, "workdir", NULL);
		ai_json_kbytes(&j, "options", root.super_options.s, root.super_options.len);
		ai_json_kbool(&j, "metacopy", o.metacopy);
		if (o.redirect_dir)
			ai_json_kbytes(&j, "redirect_dir", o.redirect_dir, strlen(o.redirect_dir));
		else
			ai_json_kstr(&j, "redirect_dir", NULL);
		ai_json_kbool(&j, "userxattr", o.userxattr);
		ai_json_obj_end(&j);

		if (!o.upperdir)
			ai_log(cap, AI_LOG_WARNING, COLLECTOR,
			       "root overlay has no upperdir (read-only root)");
		if (fill_overlay(&ct->overlay, &o, &root, err) < 0)
			return -1;
	}
	ai_json_obj_end(&j);
	return ai_capture_put_json(cap, AI_M_MOUNTS, &doc, err);
}

/* Volatile: the target can mount and unmount at any time. */
const struct ai_collector ai_collector_mounts = {
    .name = "mounts",
    .flags = AI_COLL_VOLATILE,
    .collect = collect_mounts,
};
