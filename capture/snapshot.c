/* One snapshot: pin the target, drive the collectors of collectors.c through their phases
 * (capture.h), seal the bundle. Only setup and sealing abort; a collector that fails is logged
 * and the capture goes on, marked partial. Nothing here knows one collector from another. */
#include "capture/capture.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* What the driver keeps of one collector (one row of ai_collectors) during a run. */
struct run {
	void *state; /* what .collect left for .finish, until .discard */
	bool ran;    /* .collect was called: it has a timing entry */
	bool ok;
	double ms; /* both phases */
};

struct snap {
	struct ai_capture cap;
	struct ai_container ct[AI_MAX_CONTAINERS]; /* the target's first, then the pod's others */
	struct run *runs;			   /* ai_ncollectors of them */
};

static void discard(const struct ai_collector *c, struct run *r)
{
	if (r->state && c->discard)
		c->discard(r->state);
	r->state = NULL;
}

static void snap_fini(struct snap *s)
{
	struct ai_capture *cap = &s->cap;
	for (size_t i = 0; s->runs && i < ai_ncollectors * cap->ncontainers; i++)
		discard(ai_collectors[i / cap->ncontainers], &s->runs[i]);
	free(s->runs);
	for (size_t i = 0; i < cap->ncontainers; i++)
		ai_container_fini(&cap->containers[i]);
	if (cap->proc_fd >= 0)
		close(cap->proc_fd);
	if (cap->host_root_fd >= 0)
		close(cap->host_root_fd);
	ai_spool_free(&cap->log);
	ai_buf_free(&cap->criu_manifest);
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

/* A full disk is no bundle at all, a spent budget is a partial one: the output budget never
 * asks for more than the output directory's filesystem has free (less a reserve for the
 * documents and the seal). */
static void set_budget(struct ai_capture *cap, int outdir_fd)
{
	struct statvfs sv;
	if (fstatvfs(outdir_fd, &sv) == 0) {
		uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
		uint64_t room =
		    avail > 2 * AI_OUTPUT_FREE_RESERVE ? avail - AI_OUTPUT_FREE_RESERVE : avail / 2;
		if (room < cap->output_budget) {
			ai_log(cap, AI_LOG_INFO, "bundle",
			       "output budget lowered from %llu to %llu bytes: the free space of the output "
			       "directory",
			       (unsigned long long)cap->output_budget, (unsigned long long)room);
			cap->output_budget = room ? room : 1;
		}
	}
	ai_bundle_set_budget(cap->bundle, cap->output_budget);
}

/* Partial: an error, or a budget that cut something. */
static bool complete(const struct ai_capture *cap)
{
	return cap->nerrors == 0 && !cap->budget_cut && !ai_bundle_budget_exhausted(cap->bundle);
}

static void limits_json(struct ai_json *j, const struct ai_capture *cap)
{
	ai_json_key(j, "limits");
	ai_json_obj_begin(j);
	ai_json_kuint(j, "file_cap", cap->file_cap);
	ai_json_kuint(j, "upper_budget", cap->upper_budget);
	ai_json_kuint(j, "output_budget", cap->output_budget);
	ai_json_kuint(j, "fd_cap", cap->fd_cap);
	ai_json_kuint(j, "exe_cap", cap->exe_cap);
	if (cap->memory) {
		ai_json_kstr(j, "memory", cap->memory == AI_MEMORY_ALL ? "all" : "anon");
		ai_json_kuint(j, "memory_cap", cap->memory_cap);
		ai_json_kuint(j, "memory_total", cap->memory_total);
	}
	ai_json_kbool(j, "budget_cut", cap->budget_cut);
	ai_json_kbool(j, "output_budget_reached", ai_bundle_budget_exhausted(cap->bundle));
	ai_json_obj_end(j);
}

/* Format 2: every container of the capture, in member-prefix order, with where its members are. */
static void containers_json(struct ai_json *j, const struct ai_capture *cap)
{
	ai_json_key(j, "containers");
	ai_json_arr_begin(j);
	for (size_t k = 0; k < cap->ncontainers; k++) {
		const struct ai_target *t = &cap->containers[k].target;
		char prefix[32] = "";
		if (cap->ncontainers > 1)
			snprintf(prefix, sizeof(prefix), AI_M_CONTAINER_FMT, k);
		ai_json_obj_begin(j);
		ai_json_kuint(j, "index", k);
		ai_json_kstr(j, "prefix", prefix);
		ai_json_kint(j, "pid", t->pid);
		ai_json_kuint(j, "mnt_ns", t->mntns);
		ai_json_kuint(j, "processes", t->nprocs);
		ai_json_kbytes(j, "cgroup", t->cgroup, t->cgroup ? strlen(t->cgroup) : 0);
		ai_json_kstr(j, "container_id", t->container_id);
		/* name and pod: in the runtime spec's annotations (the analyzer reads them); the image:
		 * containers/storage's entry; none readable: the Downward API env only ("target.pod") */
		ai_identity_json(j, &cap->containers[k], prefix);
		ai_json_obj_end(j);
	}
	ai_json_arr_end(j);
}

/* The manifest's first fields, the same for every bundle this program writes (a capture, a
 * sealed one): its format, tool, id, name, host, times and trigger. The object is left open. */
void ai_manifest_head(struct ai_json *j, struct ai_buf *out, const char *name, const char *id,
		      struct timespec start, struct timespec end, const char *trigger)
{
	struct utsname u;
	uname(&u);
	ai_json_init(j, out);
	ai_json_obj_begin(j);
	ai_json_kstr(j, "format", "afterimage-bundle");
	ai_json_kint(j, "format_version", AI_BUNDLE_FORMAT_VERSION);
	ai_json_kstr(j, "tool", "afterimage-capture");
	ai_json_kstr(j, "tool_version", AI_VERSION);
	ai_json_kstr(j, "bundle_id", id);
	ai_json_kbytes(j, "name", name, strlen(name));
	ai_json_kbytes(j, "host", u.nodename, strlen(u.nodename));
	ai_json_kstr(j, "kernel", u.release);
	ai_json_kstr(j, "machine", u.machine);
	ai_json_ktime(j, "started", start.tv_sec, start.tv_nsec);
	ai_json_ktime(j, "ended", end.tv_sec, end.tv_nsec);
	ai_json_kstr(j, "trigger", trigger);
}

static void build_manifest(struct ai_capture *cap, const struct ai_snapshot_opts *o, const char *name,
			   const char *id, struct timespec start, struct timespec end,
			   const struct freeze_state *fz, struct ai_buf *out)
{
	const struct ai_target *t = &cap->containers[0].target;
	struct ai_json j;
	ai_manifest_head(&j, out, name, id, start, end, o->trigger ? o->trigger : "manual");
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
	ai_json_kint(&j, "pid", t->pid);
	ai_json_kuint(&j, "mnt_ns", t->mntns);
	ai_json_kuint(&j, "net_ns", cap->netns);
	ai_json_kuint(&j, "processes", t->nprocs);
	ai_json_kbytes(&j, "cgroup", t->cgroup, t->cgroup ? strlen(t->cgroup) : 0);
	ai_json_kstr(&j, "container_id", t->container_id);
	ai_json_kstr(&j, "image_id", cap->containers[0].image_id[0] ? cap->containers[0].image_id : NULL);
	if (o->pod && (o->pod[0] || o->pod[1] || o->pod[2])) {
		ai_json_key(&j, "pod");
		ai_json_obj_begin(&j);
		static const char *const keys[] = {"name", "namespace", "uid"};
		for (int i = 0; i < 3; i++)
			ai_json_kbytes(&j, keys[i], o->pod[i], o->pod[i] ? strlen(o->pod[i]) : 0);
		ai_json_obj_end(&j);
	}
	ai_json_obj_end(&j);
	containers_json(&j, cap);
	ai_json_kbool(&j, "complete", complete(cap));
	ai_json_kuint(&j, "errors", cap->nerrors);
	ai_json_kuint(&j, "warnings", cap->nwarnings);
	ai_json_kuint(&j, "truncated", cap->ntruncated);
	ai_json_kuint(&j, "skipped", cap->nskipped);
	limits_json(&j, cap);
	if (cap->criu_manifest.len) {
		ai_json_key(&j, "criu");
		ai_json_raw(&j, ai_buf_cstr(&cap->criu_manifest));
	}
	/* the bundle streams the members array and closes the object (ai_bundle_seal) */
	ai_json_key(&j, "members");
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

/* One phase of one collector, timed; a failure is logged and the capture goes on. */
static void run_phase(struct ai_capture *cap, const struct ai_collector *c, struct run *r, bool finish)
{
	struct timespec t0, t1;
	ai_err_t cerr = {0};
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int cr = finish ? c->finish(cap, r->state, &cerr) : c->collect(cap, &r->state, &cerr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->ms += ms_between(t0, t1);
	r->ran = true;
	r->ok = cr >= 0;
	if (cr < 0)
		ai_log(cap, AI_LOG_ERROR, c->name, "collector failed: %s", cerr.msg);
}

/* Without a live process only the collectors that do not need one run; an opt-in one only when
 * asked for. */
static bool runnable(const struct ai_capture *cap, const struct ai_collector *c, bool target_gone)
{
	if (c->enabled && !c->enabled(cap))
		return false;
	return !target_gone || (c->flags & AI_COLL_WORKS_WITHOUT_TARGET);
}

/* A pod-wide collector runs once (k 0 only), the others once per container. */
static size_t nscopes(const struct ai_collector *c, const struct ai_capture *cap)
{
	return (c->flags & AI_COLL_POD) ? 1 : cap->ncontainers;
}

/* What the next phase covers: container k (its members under its prefix in a pod), or the pod. */
static void set_scope(struct ai_capture *cap, const struct ai_collector *c, size_t k)
{
	cap->cur = (c->flags & AI_COLL_POD) ? AI_CT_ALL : k;
	cap->prefix[0] = '\0';
	if (cap->cur != AI_CT_ALL && cap->ncontainers > 1)
		snprintf(cap->prefix, sizeof(cap->prefix), AI_M_CONTAINER_FMT, k);
}

/* No live process in what the collector covers. */
static bool gone(const struct ai_capture *cap, const struct ai_collector *c, size_t k)
{
	if (!(c->flags & AI_COLL_POD))
		return cap->containers[k].target.nprocs == 0;
	for (size_t i = 0; i < cap->ncontainers; i++)
		if (cap->containers[i].target.nprocs)
			return false;
	return true;
}

static struct run *run_of(struct snap *s, size_t i, size_t k)
{
	return &s->runs[i * s->cap.ncontainers + k];
}

/* Phases 2 to 4 of capture.h: volatile collectors frozen (every container of a pod in the
 * same window), their second halves thawed, the rest. Once the capture is being abandoned no
 * collector starts; the thaw still happens here and every state is still discarded. */
static void run_collectors(struct snap *s, const struct ai_snapshot_opts *o, struct freeze_state *fz)
{
	struct ai_capture *cap = &s->cap;
	for (size_t i = 0; i < ai_ncollectors; i++) {
		const struct ai_collector *c = ai_collectors[i];
		for (size_t k = 0; k < nscopes(c, cap) && (c->flags & AI_COLL_VOLATILE); k++) {
			bool g = gone(cap, c, k);
			if (!runnable(cap, c, g) || ai_capture_stopping(cap))
				continue;
			/* before each: a freeze that failed is tried again (and logged) for the next */
			if (!g)
				do_freeze(cap, o, fz);
			set_scope(cap, c, k);
			run_phase(cap, c, run_of(s, i, k), false);
		}
	}
	/* thawed first: what was read frozen is hashed, stored and written now */
	if (!o->freeze_all || ai_capture_stopping(cap))
		do_thaw(o, fz);
	for (size_t i = 0; i < ai_ncollectors; i++) {
		const struct ai_collector *c = ai_collectors[i];
		for (size_t k = 0; k < nscopes(c, cap) && (c->flags & AI_COLL_VOLATILE); k++) {
			struct run *r = run_of(s, i, k);
			set_scope(cap, c, k);
			if (r->ran && r->ok && c->finish && !ai_capture_stopping(cap))
				run_phase(cap, c, r, true);
			discard(c, r);
		}
	}
	for (size_t i = 0; i < ai_ncollectors; i++) {
		const struct ai_collector *c = ai_collectors[i];
		for (size_t k = 0; k < nscopes(c, cap) && !(c->flags & AI_COLL_VOLATILE); k++) {
			struct run *r = run_of(s, i, k);
			if (!runnable(cap, c, gone(cap, c, k)))
				continue;
			if (ai_capture_stopping(cap)) {
				do_thaw(o, fz); /* --freeze-all: interrupted during the long part */
				break;
			}
			set_scope(cap, c, k);
			run_phase(cap, c, r, false);
			if (r->ok && c->finish && !ai_capture_stopping(cap))
				run_phase(cap, c, r, true);
			discard(c, r);
		}
	}
	cap->cur = 0;
	cap->prefix[0] = '\0';
}

static void timing_json(const struct snap *s, struct ai_buf *out)
{
	struct ai_json tj;
	ai_json_init(&tj, out);
	ai_json_arr_begin(&tj);
	/* one entry per collector: the sum over the containers it ran for */
	for (size_t i = 0; i < ai_ncollectors; i++) {
		bool ran = false, ok = true;
		double sum = 0;
		for (size_t k = 0; k < s->cap.ncontainers; k++) {
			const struct run *r = &s->runs[i * s->cap.ncontainers + k];
			if (r->ran) {
				ran = true;
				ok = ok && r->ok;
				sum += r->ms;
			}
		}
		if (!ran)
			continue;
		ai_json_obj_begin(&tj);
		ai_json_kstr(&tj, "name", ai_collectors[i]->name);
		ai_json_key(&tj, "ms");
		char ms[32];
		snprintf(ms, sizeof(ms), "%.3f", sum);
		ai_json_raw(&tj, ms);
		ai_json_kbool(&tj, "ok", ok);
		ai_json_obj_end(&tj);
	}
	ai_json_arr_end(&tj);
}

/* Pinning holds two descriptors per process and the processes collector a third: the number
 * pinned stays within what RLIMIT_NOFILE (raised to its hard limit) allows. */
static size_t procs_allowed(const struct ai_snapshot_opts *o, const char **why)
{
	size_t max = o->max_procs ? o->max_procs : AI_DEFAULT_MAX_PROCS;
	*why = "--max-procs";
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return max;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	const rlim_t reserve = 256; /* the bundle, spools, the walks, the collectors' own */
	if (rl.rlim_cur != RLIM_INFINITY) {
		size_t by_fds = rl.rlim_cur > reserve ? (size_t)((rl.rlim_cur - reserve) / 3) : 1;
		if (by_fds < max) {
			max = by_fds;
			*why = "the descriptor limit (RLIMIT_NOFILE)";
		}
	}
	return max;
}

/* What the target's pinning left out, in the log. */
static void log_pinning(struct ai_capture *cap, const struct ai_target *t, size_t max, const char *why)
{
	if (t->nbeyond)
		ai_log(cap, AI_LOG_TRUNCATED, "target",
		       "%zu more processes of the container not captured: at most %zu are pinned (%s)",
		       t->nbeyond, max, why);
	if (t->npin_failed)
		ai_log(cap, AI_LOG_ERROR, "target", "%zu processes of the container could not be pinned: %s",
		       t->npin_failed, strerror(t->pin_errno));
	for (size_t i = 0; i < t->nprocs; i++) {
		if (!t->procs[i].ns_by_cgroup)
			continue;
		char path[64];
		int n = snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)t->procs[i].pid);
		ai_log_path(cap, AI_LOG_ERROR, "target", path, (size_t)n,
			    "pid %d: readlink ns/mnt: %s: taken as the container's by its cgroup",
			    (int)t->procs[i].pid, strerror(EACCES));
	}
}

struct leftovers {
	struct ai_capture *cap;
	struct ai_snapshot_result *r;
};

static void on_leftover(void *ctx, const char *name)
{
	struct leftovers *l = ctx;
	ai_log_path(l->cap, AI_LOG_WARNING, "bundle", name, strlen(name),
		    "left by an interrupted capture (killed before it sealed): not a bundle, never reused");
	if (l->r->nleftovers < AI_LEFTOVERS_NAMED)
		snprintf(l->r->leftover[l->r->nleftovers], sizeof(l->r->leftover[0]), "%s", name);
	l->r->nleftovers++;
}

/* afterimage-<host>-<pid>-<utc>, then -2, -3, ... while a bundle or an interrupted capture's
 * .partial holds the name: a default name never collides. A name given is used as given (and
 * refused by ai_bundle_create when taken). */
static void bundle_name(const struct ai_snapshot_opts *o, struct timespec start, char *name, size_t len)
{
	if (o->name) {
		snprintf(name, len, "%s", o->name);
		return;
	}
	struct tm tm;
	char ts[32], host[64] = "host";
	gmtime_r(&start.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == '.')
			*p = '_';
	char base[200];
	snprintf(base, sizeof(base), "afterimage-%s-%d-%s", host, o->pid, ts);
	snprintf(name, len, "%s", base);
	for (unsigned k = 2; k < 1000; k++) {
		char tar[300], partial[300];
		snprintf(tar, sizeof(tar), "%s.tar", name);
		snprintf(partial, sizeof(partial), "%s.tar.partial", name);
		if (faccessat(o->outdir_fd, tar, F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
		    faccessat(o->outdir_fd, partial, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
			return;
		snprintf(name, len, "%s-%u", base, k);
	}
}

/* Pin every container: the target's first (a failure there is the capture's, unless the exit
 * trigger left its upperdir to take), then the pod's others (one gone is logged, and only its
 * upperdir is taken). The processes pinned, in all, stay within procs_allowed. */
static int open_containers(struct ai_capture *cap, const struct ai_snapshot_opts *o, ai_err_t *err)
{
	const char *max_why;
	size_t max_procs = procs_allowed(o, &max_why);
	size_t n = o->pids && o->npids > 1 ? o->npids : 1;
	if (n > AI_MAX_CONTAINERS)
		return ai_err_set(err, E2BIG, "%zu containers: at most %d in one capture", n,
				  AI_MAX_CONTAINERS);
	size_t used = 0;
	for (size_t k = 0; k < n; k++) {
		struct ai_container *ct = &cap->containers[k];
		pid_t pid = k ? o->pids[k] : o->pid;
		cap->ncontainers = k + 1;
		uint64_t netns = 0;
		size_t left = max_procs > used ? max_procs - used : 1;
		if (ai_target_open(cap->proc_fd, pid, left, &ct->target, &netns, err) < 0) {
			if (k == 0 && !o->overlay_hint)
				return -1;
			char why[sizeof(err->msg)];
			snprintf(why, sizeof(why), "%s", err->msg);
			ai_err_clear(err);
			ai_target_close(&ct->target);
			ct->target.pid = pid;
			if (k == 0) /* the exit trigger: nothing left to pin, the upperdir is on disk */
				ai_log(cap, AI_LOG_ERROR, "target",
				       "target gone, capturing its upperdir only: %s", why);
			else
				ai_log(cap, AI_LOG_ERROR, "target", "container %zu (pid %d) gone: %s", k,
				       (int)pid, why);
		} else if (k == 0) {
			cap->netns = netns;
		}
		used += ct->target.nprocs;
		log_pinning(cap, &ct->target, left, max_why);
		if (k == 0)
			ct->overlay_hint = o->overlay_hint;
	}
	return 0;
}

static int interrupted(ai_err_t *err)
{
	return ai_err_set(err, ECANCELED, "interrupted: capture abandoned, no bundle written");
}

int ai_snapshot(const struct ai_snapshot_opts *o, struct ai_snapshot_result *r, ai_err_t *err)
{
	struct snap s = {.cap = {.proc_fd = -1, .host_root_fd = -1}};
	struct ai_capture *cap = &s.cap;
	cap->containers = s.ct;
	cap->ncontainers = 0;
	/* Declared before the first goto: cleanup must never see an uninitialised buffer. */
	cleanup_buf struct ai_buf timing = {0};
	cleanup_buf struct ai_buf manifest = {0};
	struct timespec start, end;
	clock_gettime(CLOCK_REALTIME, &start);
	memset(r, 0, sizeof(*r));
	cap->fd_cap = o->fd_cap ? o->fd_cap : AI_DEFAULT_FD_CAP;
	cap->exe_cap = AI_DEFAULT_EXE_CAP;
	cap->file_cap = o->file_cap ? o->file_cap : AI_DEFAULT_FILE_CAP;
	cap->upper_budget = o->upper_budget ? o->upper_budget : AI_DEFAULT_UPPER_BUDGET;
	cap->output_budget = o->output_budget ? o->output_budget : AI_DEFAULT_OUTPUT_BUDGET;
	cap->memory = o->memory;
	cap->memory_cap = o->memory_cap ? o->memory_cap : AI_DEFAULT_MEMORY_CAP;
	cap->memory_total = o->memory_total ? o->memory_total : AI_DEFAULT_MEMORY_TOTAL;
	cap->trigger = o->trigger ? o->trigger : "manual";
	cap->outdir_fd = o->outdir_fd;
	cap->stop = o->stop;
	cap->criu = o->criu;
	ai_spool_init(&cap->log, o->outdir_fd);
	ai_json_init(&cap->logj, &cap->log.buf);
	ai_buf_adds(&cap->log.buf, "{\"events\":");
	ai_json_arr_begin(&cap->logj);
	int ret = -1;
	struct freeze_state fz = {0};

	struct leftovers lo = {cap, r};
	if (ai_bundle_leftovers(o->outdir_fd, on_leftover, &lo, err) < 0)
		goto out;
	cap->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cap->proc_fd < 0) {
		ai_err_set(err, errno, "open /proc");
		goto out;
	}
	const char *hr = o->host_root ? o->host_root : "/";
	cap->host_root_fd = open(hr, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cap->host_root_fd < 0) {
		ai_err_set(err, errno, "open host root %s", hr);
		goto out;
	}
	if (open_containers(cap, o, err) < 0)
		goto out;
	s.runs = calloc(ai_ncollectors * cap->ncontainers, sizeof(*s.runs));
	if (!s.runs) {
		ai_err_set(err, ENOMEM, "collectors");
		goto out;
	}

	char name[256];
	bundle_name(o, start, name, sizeof(name));
	if (ai_bundle_create(&cap->bundle, o->outdir_fd, name, err) < 0)
		goto out;
	set_budget(cap, o->outdir_fd);
	ai_bundle_set_cancel(cap->bundle, o->stop);
	if (ai_capture_stopping(cap)) {
		interrupted(err);
		goto out;
	}

	run_collectors(&s, o, &fz);
	timing_json(&s, &timing);
	do_thaw(o, &fz);
	r->frozen = fz.frozen;
	r->freeze_ms = fz.ms;
	if (ai_capture_stopping(cap)) {
		interrupted(err);
		goto out;
	}
	ai_json_arr_end(&cap->logj);
	ai_buf_adds(&cap->log.buf, ",\"collectors\":");
	ai_buf_add(&cap->log.buf, timing.data, timing.len);
	ai_buf_adds(&cap->log.buf, "}\n");
	if (ai_bundle_add_spool(cap->bundle, AI_M_LOG, &cap->log, err) < 0) {
		ai_err_wrap(err, "capture log");
		goto out;
	}

	char id[37];
	uuid4(id);
	clock_gettime(CLOCK_REALTIME, &end);
	build_manifest(cap, o, name, id, start, end, &fz, &manifest);

	char when[64], tc[512];
	ai_time_format(when, sizeof(when), start.tv_sec, start.tv_nsec);
	snprintf(tc, sizeof(tc), "afterimage bundle=%s.tar id=%s captured=%s complete=%s", name, id, when,
		 complete(cap) ? "true" : "false");
	if (ai_bundle_seal(cap->bundle, o->key, manifest.data, manifest.len, tc, r->sha256, err) < 0) {
		if (ai_capture_stopping(cap))
			interrupted(err);
		else
			ai_err_wrap(err, "sealing bundle");
		goto out;
	}
	snprintf(r->path, sizeof(r->path), "%s/%s.tar", o->outdir ? o->outdir : ".", name);
	r->complete = complete(cap);
	r->nerrors = cap->nerrors;
	ret = 0;
out:
	do_thaw(o, &fz); /* whatever failed, the target is never left frozen */
	snap_fini(&s);
	return ret;
}
