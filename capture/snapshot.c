/* One snapshot: pin the target, run the collectors in order, seal the bundle. Only setup and
 * sealing abort; a collector that fails is logged and the capture goes on, marked partial. */
#include "capture/capture.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* Volatile state first (mounts tell where the upperdir is), the upperdir last. */
static const struct ai_collector *const collectors[] = {
    &ai_collector_mounts,  &ai_collector_processes, &ai_collector_fds,
    &ai_collector_sockets, &ai_collector_upper,
};
/* Split collectors: the half run frozen and the half run after the thaw (capture.h). */
static int (*const frozen_half[])(struct ai_capture *, ai_err_t *) = {
    NULL, ai_processes_read, ai_fds_read, NULL, NULL,
};
static int (*const finishers[])(struct ai_capture *, ai_err_t *) = {
    NULL, ai_processes_finish, ai_fds_finish, NULL, NULL,
};

int ai_capture_put_json(struct ai_capture *cap, const char *member, struct ai_buf *doc, ai_err_t *err)
{
	ai_buf_addc(doc, '\n');
	return ai_bundle_add_mem(cap->bundle, member, doc->data, doc->len, err);
}

static void overlay_free(struct ai_overlay *o)
{
	free(o->upperdir);
	free(o->workdir);
	free(o->options);
	for (size_t i = 0; i < o->nlower; i++)
		free(o->lowerdirs[i]);
	free(o->lowerdirs);
	memset(o, 0, sizeof(*o));
}

static void capture_fini(struct ai_capture *cap)
{
	ai_target_close(&cap->target);
	overlay_free(&cap->overlay);
	if (cap->proc_fd >= 0)
		close(cap->proc_fd);
	if (cap->host_root_fd >= 0)
		close(cap->host_root_fd);
	ai_buf_free(&cap->log);
	ai_bundle_free(cap->bundle);
}

static void uuid4(char out[37])
{
	uint8_t r[16];
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		memset(r, 0, sizeof(r));
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

struct freeze_state {
	bool frozen; /* was frozen at some point */
	bool now;    /* is frozen right now */
	double ms;
	struct timespec t0;
};

static void build_manifest(struct ai_capture *cap, const struct ai_snapshot_opts *o, const char *name,
			   const char *id, struct timespec start, struct timespec end,
			   const struct freeze_state *fz, struct ai_buf *out)
{
	struct utsname u;
	uname(&u);
	struct ai_json j;
	ai_json_init(&j, out);
	ai_json_obj_begin(&j);
	ai_json_kstr(&j, "format", "afterimage-bundle");
	ai_json_kint(&j, "format_version", AI_BUNDLE_FORMAT_VERSION);
	ai_json_kstr(&j, "tool", "afterimage-capture");
	ai_json_kstr(&j, "tool_version", AI_VERSION);
	ai_json_kstr(&j, "bundle_id", id);
	ai_json_kbytes(&j, "name", name, strlen(name));
	ai_json_kbytes(&j, "host", u.nodename, strlen(u.nodename));
	ai_json_kstr(&j, "kernel", u.release);
	ai_json_kstr(&j, "machine", u.machine);
	ai_json_ktime(&j, "started", start.tv_sec, start.tv_nsec);
	ai_json_ktime(&j, "ended", end.tv_sec, end.tv_nsec);
	ai_json_kstr(&j, "trigger", o->trigger ? o->trigger : "manual");
	if (o->reason)
		ai_json_kbytes(&j, "reason", o->reason, strlen(o->reason));
	ai_json_key(&j, "freeze");
	ai_json_obj_begin(&j);
	ai_json_kbool(&j, "frozen", fz->frozen);
	ai_json_key(&j, "ms");
	char fms[32];
	snprintf(fms, sizeof(fms), "%.3f", fz->ms);
	ai_json_raw(&j, fms);
	ai_json_kstr(&j, "method", fz->frozen && o->freeze ? o->freeze->method : NULL);
	ai_json_obj_end(&j);
	ai_json_key(&j, "target");
	ai_json_obj_begin(&j);
	ai_json_kint(&j, "pid", cap->target.pid);
	ai_json_kuint(&j, "mnt_ns", cap->target.mntns);
	ai_json_kuint(&j, "net_ns", cap->target.netns);
	ai_json_kuint(&j, "processes", cap->target.nprocs);
	ai_json_kbytes(&j, "cgroup", cap->target.cgroup, cap->target.cgroup ? strlen(cap->target.cgroup) : 0);
	ai_json_kstr(&j, "container_id", cap->target.container_id);
	if (o->pod && (o->pod[0] || o->pod[1] || o->pod[2])) {
		ai_json_key(&j, "pod");
		ai_json_obj_begin(&j);
		static const char *const keys[] = {"name", "namespace", "uid"};
		for (int i = 0; i < 3; i++)
			ai_json_kbytes(&j, keys[i], o->pod[i], o->pod[i] ? strlen(o->pod[i]) : 0);
		ai_json_obj_end(&j);
	}
	ai_json_obj_end(&j);
	ai_json_kbool(&j, "complete", cap->nerrors == 0);
	ai_json_kuint(&j, "errors", cap->nerrors);
	ai_json_kuint(&j, "warnings", cap->nwarnings);
	ai_json_kuint(&j, "truncated", cap->ntruncated);
	ai_json_kuint(&j, "skipped", cap->nskipped);
	ai_json_key(&j, "members");
	ai_json_arr_begin(&j);
	size_t n = ai_bundle_member_count(cap->bundle);
	for (size_t i = 0; i < n; i++) {
		const char *path, *sha;
		size_t plen;
		uint64_t size;
		ai_bundle_member(cap->bundle, i, &path, &plen, &size, &sha);
		ai_json_obj_begin(&j);
		ai_json_kbytes(&j, "path", path, plen);
		ai_json_kuint(&j, "size", size);
		ai_json_kstr(&j, "sha256", sha);
		ai_json_obj_end(&j);
	}
	ai_json_arr_end(&j);
	ai_json_obj_end(&j);
	ai_buf_addc(out, '\n');
}

static double ms_between(struct timespec a, struct timespec b)
{
	return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static void do_freeze(struct ai_capture *cap, const struct ai_snapshot_opts *o, struct freeze_state *fz)
{
	if (!o->freeze || fz->now)
		return;
	ai_err_t ferr = {0};
	clock_gettime(CLOCK_MONOTONIC, &fz->t0);
	if (o->freeze->freeze(o->freeze->ctx, &ferr) < 0) {
		o->freeze->thaw(o->freeze->ctx); /* a half-frozen cgroup is thawed too */
		ai_log(cap, AI_LOG_WARNING, "freeze", "not frozen, capturing live: %s", ferr.msg);
		return;
	}
	fz->frozen = fz->now = true;
}

static void do_thaw(const struct ai_snapshot_opts *o, struct freeze_state *fz)
{
	if (!fz->now)
		return;
	o->freeze->thaw(o->freeze->ctx);
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fz->ms += ms_between(fz->t0, t1);
	fz->now = false;
}

static int overlay_copy(struct ai_overlay *dst, const struct ai_overlay *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->found = src->found;
	dst->upperdir = src->upperdir ? strdup(src->upperdir) : NULL;
	dst->workdir = src->workdir ? strdup(src->workdir) : NULL;
	dst->options = src->options ? strdup(src->options) : NULL;
	if (src->nlower) {
		dst->lowerdirs = calloc(src->nlower, sizeof(char *));
		if (!dst->lowerdirs)
			return -1;
		for (size_t i = 0; i < src->nlower; i++)
			if (!(dst->lowerdirs[dst->nlower++] = strdup(src->lowerdirs[i])))
				return -1;
	}
	if ((src->upperdir && !dst->upperdir) || (src->workdir && !dst->workdir) ||
	    (src->options && !dst->options))
		return -1;
	return 0;
}

int ai_snapshot(const struct ai_snapshot_opts *o, struct ai_snapshot_result *r, ai_err_t *err)
{
	struct ai_capture cap = {.proc_fd = -1, .host_root_fd = -1};
	/* Declared before the first goto: cleanup must never see an uninitialised buffer. */
	cleanup_buf struct ai_buf timing = {0};
	cleanup_buf struct ai_buf manifest = {0};
	struct timespec start, end;
	clock_gettime(CLOCK_REALTIME, &start);
	memset(r, 0, sizeof(*r));
	cap.fd_cap = o->fd_cap ? o->fd_cap : AI_DEFAULT_FD_CAP;
	cap.exe_cap = 256ull << 20;
	cap.trigger = o->trigger ? o->trigger : "manual";
	ai_buf_init(&cap.log);
	ai_json_init(&cap.logj, &cap.log);
	ai_buf_adds(&cap.log, "{\"events\":");
	ai_json_arr_begin(&cap.logj);
	int ret = -1;

	cap.proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cap.proc_fd < 0) {
		ai_err_set(err, errno, "open /proc");
		goto out;
	}
	const char *hr = o->host_root ? o->host_root : "/";
	cap.host_root_fd = open(hr, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cap.host_root_fd < 0) {
		ai_err_set(err, errno, "open host root %s", hr);
		goto out;
	}
	bool target_gone = false;
	if (ai_target_open(&cap, o->pid, err) < 0) {
		if (!o->overlay_hint)
			goto out;
		/* The exit trigger: nothing left to pin, but the upperdir is still on disk. */
		char why[sizeof(err->msg)];
		snprintf(why, sizeof(why), "%s", err->msg);
		ai_err_clear(err);
		ai_target_close(&cap.target);
		cap.target.pid = o->pid;
		target_gone = true;
		ai_log(&cap, AI_LOG_ERROR, "target", "target gone, capturing its upperdir only: %s", why);
		if (overlay_copy(&cap.overlay, o->overlay_hint) < 0) {
			ai_err_set(err, ENOMEM, "overlay");
			goto out;
		}
	}

	char name[256];
	if (o->name) {
		snprintf(name, sizeof(name), "%s", o->name);
	} else {
		struct tm tm;
		char ts[32], host[64] = "host";
		gmtime_r(&start.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
		gethostname(host, sizeof(host) - 1);
		for (char *p = host; *p; p++)
			if (*p == '/' || *p == '.')
				*p = '_';
		snprintf(name, sizeof(name), "afterimage-%s-%d-%s", host, o->pid, ts);
	}
	if (ai_bundle_create(&cap.bundle, o->outdir_fd, name, err) < 0)
		goto out;

	struct freeze_state fz = {0};
	enum { NCOLL = sizeof(collectors) / sizeof(collectors[0]) };
	double cms[NCOLL] = {0};
	bool cok[NCOLL], cran[NCOLL] = {0}, finished = false;
	for (size_t i = 0; i < NCOLL; i++) {
		const struct ai_collector *c = collectors[i];
		bool is_upper = c == &ai_collector_upper;
		if (target_gone && !is_upper)
			continue;
		if (is_upper && !finished) {
			/* thawed first: what was read frozen is hashed, stored and written now */
			if (!o->freeze_all)
				do_thaw(o, &fz);
			finished = true;
			for (size_t k = 0; k < i; k++) {
				if (!cran[k] || !cok[k] || !finishers[k])
					continue;
				struct timespec t0, t1;
				ai_err_t cerr = {0};
				clock_gettime(CLOCK_MONOTONIC, &t0);
				int cr = finishers[k](&cap, &cerr);
				clock_gettime(CLOCK_MONOTONIC, &t1);
				cms[k] += ms_between(t0, t1);
				if (cr < 0) {
					ai_log(&cap, AI_LOG_ERROR, collectors[k]->name,
					       "collector failed: %s", cerr.msg);
					cok[k] = false;
				}
			}
		}
		if (is_upper && !cap.overlay.found && o->overlay_hint && o->overlay_hint->found) {
			/* the target died under us: the overlay it had is still on disk */
			ai_log(&cap, AI_LOG_WARNING, "mounts",
			       "root overlay not readable now, using the one seen before");
			overlay_free(&cap.overlay);
			if (overlay_copy(&cap.overlay, o->overlay_hint) < 0)
				overlay_free(&cap.overlay);
		}
		/* Frozen while the volatile state is read; thawed before the upperdir copy. */
		if (!is_upper && !target_gone)
			do_freeze(&cap, o, &fz);
		struct timespec t0, t1;
		ai_err_t cerr = {0};
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int cr = frozen_half[i] ? frozen_half[i](&cap, &cerr) : c->collect(&cap, &cerr);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (cr < 0)
			ai_log(&cap, AI_LOG_ERROR, c->name, "collector failed: %s", cerr.msg);
		cran[i] = true;
		cok[i] = cr >= 0;
		cms[i] += ms_between(t0, t1);
	}
	struct ai_json tj;
	ai_json_init(&tj, &timing);
	ai_json_arr_begin(&tj);
	for (size_t i = 0; i < NCOLL; i++) {
		if (!cran[i])
			continue;
		ai_json_obj_begin(&tj);
		ai_json_kstr(&tj, "name", collectors[i]->name);
		ai_json_key(&tj, "ms");
		char ms[32];
		snprintf(ms, sizeof(ms), "%.3f", cms[i]);
		ai_json_raw(&tj, ms);
		ai_json_kbool(&tj, "ok", cok[i]);
		ai_json_obj_end(&tj);
	}
	do_thaw(o, &fz);
	r->frozen = fz.frozen;
	r->freeze_ms = fz.ms;
	ai_json_arr_end(&tj);
	ai_json_arr_end(&cap.logj);
	ai_buf_adds(&cap.log, ",\"collectors\":");
	ai_buf_add(&cap.log, timing.data, timing.len);
	ai_buf_adds(&cap.log, "}\n");
	if (ai_bundle_add_mem(cap.bundle, AI_M_LOG, cap.log.data, cap.log.len, err) < 0) {
		ai_err_wrap(err, "capture log");
		goto out;
	}

	char id[37];
	uuid4(id);
	clock_gettime(CLOCK_REALTIME, &end);
	build_manifest(&cap, o, name, id, start, end, &fz, &manifest);

	char when[64], tc[512];
	ai_time_format(when, sizeof(when), start.tv_sec, start.tv_nsec);
	snprintf(tc, sizeof(tc), "afterimage bundle=%s.tar id=%s captured=%s complete=%s", name, id, when,
		 cap.nerrors ? "false" : "true");
	if (ai_bundle_seal(cap.bundle, o->key, manifest.data, manifest.len, tc, r->sha256, err) < 0) {
		ai_err_wrap(err, "sealing bundle");
		goto out;
	}
	snprintf(r->path, sizeof(r->path), "%s/%s.tar", o->outdir ? o->outdir : ".", name);
	r->complete = cap.nerrors == 0;
	r->nerrors = cap.nerrors;
	ret = 0;
out:
	capture_fini(&cap);
	return ret;
}
