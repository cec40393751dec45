/* The volumes that die with the pod (--volumes ephemeral|writable|none): the container's tmpfs
 * mounts (/dev/shm, emptyDir medium: Memory) and kubelet emptyDirs on disk, and with writable its
 * other writable bind mounts. Each is reached through the container's own root (/proc/PID/root),
 * checked to be the mount mountinfo lists (its mount id), and walked as the upperdir is
 * (ai_tree_walk: one dirfd at a time, no symlink followed, never onto another mount, FIFOs and
 * devices never opened, O_NOATIME, capped). Secret, configmap, projected and downward-API
 * volumes are listed with sizes and sha256, their content never stored. Index: volumes.json. */
#include "capture/capture.h"
#include "capture/mountinfo.h"
#include "common/cleanup.h"
#include "common/safeopen.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static const char C[] = "volumes";
#define MOUNTINFO_MAX (4u << 20)

enum ai_volumes_mode ai_volumes_mode = AI_VOLUMES_EPHEMERAL;

/* What a mount is, as kubelet and the runtimes lay volumes out. */
enum kind { K_NONE, K_TMPFS, K_EMPTYDIR, K_SECRET, K_CONFIGMAP, K_PROJECTED, K_DOWNWARD, K_BIND };
static const char *const kind_names[] = {NULL,	      "tmpfs",	   "emptydir",	   "secret",
					 "configmap", "projected", "downward-api", "bind"};

static bool has(const struct ai_mi_str *s, const char *needle)
{
	return s->s && memmem(s->s, s->len, needle, strlen(needle)) != NULL;
}

static bool under(const struct ai_mi_str *mp, const char *dir)
{
	size_t n = strlen(dir);
	return mp->len >= n && !memcmp(mp->s, dir, n) && (mp->len == n || mp->s[n] == '/');
}

static bool opt_rw(const struct ai_mi_str *o)
{
	return o->s && (o->len >= 2 && !memcmp(o->s, "rw", 2) && (o->len == 2 || o->s[2] == ','));
}

static enum kind classify(const struct ai_mountinfo *m)
{
	const struct ai_mi_str *mp = &m->mount_point;
	if (mp->len == 1 || under(mp, "/proc") || under(mp, "/sys"))
		return K_NONE;
	/* the volume's host path is the bind mount's root (or its source) */
	static const struct {
		const char *dir;
		enum kind k;
	} k8s[] = {
	    {"kubernetes.io~secret", K_SECRET},	      {"kubernetes.io~configmap", K_CONFIGMAP},
	    {"kubernetes.io~projected", K_PROJECTED}, {"kubernetes.io~downward-api", K_DOWNWARD},
	    {"kubernetes.io~empty-dir", K_EMPTYDIR},
	};
	for (size_t i = 0; i < sizeof(k8s) / sizeof(k8s[0]); i++)
		if (has(&m->root, k8s[i].dir) || has(&m->source, k8s[i].dir))
			return k8s[i].k;
	bool tmpfs = m->fstype.s && !strcmp(m->fstype.s, "tmpfs");
	/* /dev is the runtime's tmpfs of device nodes, not a volume (/dev/shm is) */
	if (tmpfs && !(mp->len == 4 && !memcmp(mp->s, "/dev", 4)))
		return K_TMPFS;
	if (!tmpfs && !under(mp, "/dev") && opt_rw(&m->options) && m->root.len > 1)
		return K_BIND; /* a writable bind mount: hostPath, a podman volume */
	return K_NONE;
}

static bool secret(enum kind k)
{
	return k == K_SECRET || k == K_CONFIGMAP || k == K_PROJECTED || k == K_DOWNWARD;
}

static bool wanted(enum kind k)
{
	if (k == K_NONE)
		return false;
	if (k == K_BIND)
		return ai_volumes_mode == AI_VOLUMES_WRITABLE;
	return true; /* none still lists them, metadata only */
}

static int mount_id_of(int fd, uint64_t *id)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0 ||
	    !(stx.stx_mask & STATX_MNT_ID))
		return -1;
	*id = stx.stx_mnt_id;
	return 0;
}

struct vctx {
	struct ai_capture *cap;
	struct ai_json *j;
	struct ai_spool *doc;
	int rootfd; /* the container's / (O_PATH of /proc/PID/root) */
	size_t n;
	uint64_t used;
};

/* Open the mount point beneath the container's root, and make sure it is that mount. */
static int open_mount(struct vctx *v, const struct ai_mountinfo *m, ai_err_t *err)
{
	int fl = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
	int fd = ai_safe_openat(v->rootfd, m->mount_point.s, fl | O_NOATIME, err);
	if (fd < 0 && err->errnum == EPERM)
		fd = ai_safe_openat(v->rootfd, m->mount_point.s, fl, err);
	if (fd < 0)
		return -1;
	uint64_t id;
	if (mount_id_of(fd, &id) == 0 && id != m->mount_id) {
		close(fd);
		return ai_err_set(err, EXDEV, "mount id %llu there, mountinfo says %llu: covered, not walked",
				  (unsigned long long)id, (unsigned long long)m->mount_id);
	}
	return fd;
}

/* A file bind-mounted on its own (podman's /etc/hosts, a subPath): the one entry, stored (or only
 * hashed) whole up to the file cap. */
static void one_file(struct vctx *v, const struct ai_mountinfo *m, const char *base, bool hash_only)
{
	struct ai_json *j = v->j;
	struct ai_capture *cap = v->cap;
	ai_err_t err = {0};
	const char *slash = strrchr(m->mount_point.s, '/');
	cleanup_free char *dir = strndup(m->mount_point.s, (size_t)(slash - m->mount_point.s) + 1);
	cleanup_close int dfd =
	    dir ? ai_safe_openat(v->rootfd, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, &err) : -1;
	cleanup_close int fd = dfd >= 0 ? ai_open_regular(dfd, slash + 1, NULL, &err) : -1;
	uint64_t id;
	struct stat st;
	if (fd >= 0 && mount_id_of(fd, &id) == 0 && id != m->mount_id)
		err.errnum = EXDEV, snprintf(err.msg, sizeof(err.msg), "covered by another mount: not read");
	if (fd < 0 || err.errnum == EXDEV || fstat(fd, &st) < 0) {
		ai_log_path(cap, AI_LOG_ERROR, C, m->mount_point.s, m->mount_point.len, "%s",
			    err.msg[0] ? err.msg : strerror(errno));
		ai_json_kstr(j, "error", err.msg[0] ? err.msg : strerror(errno));
		return;
	}
	ai_json_key(j, "entries");
	ai_json_arr_begin(j);
	ai_json_obj_begin(j);
	ai_json_kstr(j, "path", "/");
	ai_json_kstr(j, "type", "file");
	ai_json_kint(j, "size", st.st_size);
	char mode[8];
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
	ai_json_kstr(j, "mode", mode);
	ai_json_kint(j, "uid", st.st_uid);
	ai_json_kint(j, "gid", st.st_gid);
	ai_json_kint(j, "mtime_ns", (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	char member[160];
	snprintf(member, sizeof(member), "%s%s", base, slash + 1);
	if (hash_only) {
		uint8_t d[AI_SHA256_LEN];
		char hex[AI_SHA256_HEXLEN];
		uint64_t n = 0;
		if (ai_hash_fd_max(fd, 0, cap->file_cap, d, &n, &err) == 0) {
			ai_hex(d, sizeof(d), hex);
			ai_json_kstr(j, "sha256", hex);
		}
		ai_json_key(j, "member");
		ai_json_null(j);
		ai_json_kstr(j, "content", "not stored (secret)");
	} else {
		struct ai_member_meta mm = {.path = member,
					    .path_len = strlen(member),
					    .mode = st.st_mode,
					    .uid = st.st_uid,
					    .gid = st.st_gid,
					    .atime = st.st_atim,
					    .mtime = st.st_mtim,
					    .ctime = st.st_ctim};
		struct ai_member_result res;
		if (ai_bundle_add_fd(cap->bundle, &mm, fd, cap->file_cap, &res, &err) < 0) {
			ai_log_path(cap, AI_LOG_ERROR, C, m->mount_point.s, m->mount_point.len, "%s",
				    err.msg);
			ai_json_kstr(j, "error", err.msg);
		} else {
			ai_json_kstr(j, "sha256", res.sha256);
			ai_json_kstr(j, "member", member);
			ai_json_kbool(j, "truncated", res.truncated);
			v->used += res.size;
		}
	}
	ai_json_obj_end(j);
	ai_json_arr_end(j);
}

static void one_volume(struct vctx *v, const struct ai_mountinfo *m, enum kind k)
{
	struct ai_json *j = v->j;
	struct ai_capture *cap = v->cap;
	size_t idx = v->n++;
	ai_json_obj_begin(j);
	ai_json_kuint(j, "index", idx);
	ai_json_kbytes(j, "mount_point", m->mount_point.s, m->mount_point.len);
	ai_json_kstr(j, "kind", kind_names[k]);
	ai_json_kbytes(j, "fstype", m->fstype.s, m->fstype.len);
	ai_json_kbytes(j, "source", m->source.s, m->source.len);
	ai_json_kbytes(j, "root", m->root.s, m->root.len);
	ai_json_kbytes(j, "options", m->options.s, m->options.len);
	ai_json_kuint(j, "mount_id", m->mount_id);
	const char *content = ai_volumes_mode == AI_VOLUMES_NONE ? "none" : secret(k) ? "hashed" : "stored";
	ai_json_kstr(j, "content", content);
	ai_err_t err = {0};
	char base[96];
	ai_capture_member(cap, base, sizeof(base), "%s/%zu/", AI_M_VOLUMES_DIR, idx);
	/* no symlink in any component: a hostile /etc -> / never leads out of the container */
	struct stat st;
	ai_err_t perr = {0};
	cleanup_close int pfd = ai_safe_openat(v->rootfd, m->mount_point.s, O_PATH | O_CLOEXEC, &perr);
	if (ai_volumes_mode != AI_VOLUMES_NONE && pfd >= 0 && fstat(pfd, &st) == 0 && S_ISREG(st.st_mode)) {
		ai_json_kstr(j, "member_base", base);
		one_file(v, m, base, secret(k));
		ai_json_obj_end(j);
		return;
	}
	int fd = open_mount(v, m, &err);
	if (fd < 0) {
		ai_log_path(cap, AI_LOG_ERROR, C, m->mount_point.s, m->mount_point.len, "%s", err.msg);
		ai_json_kstr(j, "error", err.msg);
		ai_json_obj_end(j);
		return;
	}
	struct statvfs sv;
	if (fstatvfs(fd, &sv) == 0) {
		ai_json_kuint(j, "fs_size", (uint64_t)sv.f_blocks * sv.f_frsize);
		ai_json_kuint(j, "fs_used", (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize);
	}
	if (ai_volumes_mode == AI_VOLUMES_NONE) {
		close(fd);
		ai_json_obj_end(j);
		return;
	}
	ai_json_kstr(j, "member_base", base);
	struct ai_tree_opts to = {
	    .coll = C,
	    .what = "volumes",
	    .base = base,
	    .hash_only = secret(k),
	    .budget = cap->upper_budget > v->used ? cap->upper_budget - v->used : 0,
	    .budget_name = "volume_budget",
	};
	ai_json_key(j, "entries");
	ai_json_arr_begin(j);
	uint64_t used = ai_tree_walk(cap, j, v->doc, fd, &to);
	ai_json_arr_end(j);
	v->used += used;
	ai_json_kuint(j, "stored_bytes", used);
	ai_json_obj_end(j);
}

static int collect_volumes(struct ai_capture *cap, void **state, ai_err_t *err)
{
	(void)state;
	const struct ai_proc *proc = ai_target_main(&ai_capture_ct(cap)->target);
	if (!proc)
		return ai_err_set(err, 0, "no target process");
	cleanup_free char *data = NULL;
	size_t len = 0;
	bool truncated = false;
	if (ai_read_small(proc->procfd, "mountinfo", MOUNTINFO_MAX, &data, &len, &truncated, err) < 0)
		return ai_err_wrap(err, "read /proc/%d/mountinfo", (int)proc->pid);
	if (truncated) {
		ai_log(cap, AI_LOG_TRUNCATED, C, "/proc/%d/mountinfo larger than %u bytes, rest dropped",
		       (int)proc->pid, MOUNTINFO_MAX);
		char *nl = memrchr(data, '\n', len);
		len = nl ? (size_t)(nl - data) + 1 : 0;
	}
	cleanup_close int rootfd = openat(proc->procfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return ai_err_set(err, errno, "open /proc/%d/root", (int)proc->pid);

	cleanup_spool struct ai_spool doc;
	ai_spool_init(&doc, cap->outdir_fd);
	struct ai_json j;
	ai_json_init(&j, &doc.buf);
	ai_json_obj_begin(&j);
	static const char *const modes[] = {"ephemeral", "writable", "none"};
	ai_json_kstr(&j, "mode", modes[ai_volumes_mode]);
	ai_json_key(&j, "volumes");
	ai_json_arr_begin(&j);
	struct vctx v = {.cap = cap, .j = &j, .doc = &doc, .rootfd = rootfd};
	for (char *p = data, *end = data + len; p < end && !ai_capture_stopping(cap);) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		struct ai_mountinfo m;
		ai_err_t lerr = {0};
		if (ai_mountinfo_parse_line(p, (size_t)(e - p), &m, &lerr) == 0) {
			enum kind k = classify(&m);
			if (wanted(k) && memchr(m.mount_point.s, '\0', m.mount_point.len) == NULL)
				one_volume(&v, &m, k);
		}
		p = e + 1;
	}
	return ai_capture_add_index(cap, &j, &doc, AI_M_VOLUMES_IDX, err);
}

/* Not volatile: a walk, after the thaw, as the upperdir's. It needs a live process: the
 * volumes are reached through its root. */
const struct ai_collector ai_collector_volumes = {
    .name = "volumes",
    .collect = collect_volumes,
};
