/* The target and its captures: discovery, the pidfd that reports its exit, rediscovery with
 * backoff, and the worker thread that runs one capture (freeze, snapshot, upload) at a time. */
#include "capture/serve.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* A deliberate stop (preStop, exec, SIGTERM) is followed by the target's exit: no second
 * "exit" capture when this target was captured this recently. */
#define EXIT_DEDUP_S 30
#define WORKER_STACK (8u << 20)

static time_t mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

static void fill_target(struct ai_json *j, const void *arg)
{
	const struct server *s = arg;
	ai_json_kint(j, "pid", s->target.pid);
	ai_json_kuint(j, "mnt_ns", s->target.mntns);
	ai_json_kuint(j, "processes", s->target.nprocs);
	ai_json_kbytes(j, "upperdir", s->overlay.upperdir,
		       s->overlay.upperdir ? strlen(s->overlay.upperdir) : 0);
}

void ai_srv_target_forget(struct server *s)
{
	if (s->pidfd >= 0) {
		epoll_ctl(s->ep, EPOLL_CTL_DEL, s->pidfd, NULL);
		ai_srv_fd_close(&s->pidfd);
	}
	s->have_target = false;
	ai_discover_overlay_free(&s->overlay);
}

void ai_srv_schedule_rediscover(struct server *s)
{
	s->rediscover_ms = s->rediscover_ms ? s->rediscover_ms * 2 : 100;
	if (s->rediscover_ms > 2000)
		s->rediscover_ms = 2000;
	ai_srv_arm_timer(s->rtfd, s->rediscover_ms);
}

int ai_srv_target_find(struct server *s, ai_err_t *err)
{
	struct ai_found f;
	if (ai_discover(s->proc_fd, &s->o->target, &f, err) < 0)
		return -1;
	ai_srv_target_forget(s);
	s->target = f;
	s->have_target = true;
	if (s->captured_mntns != f.mntns)
		s->target_captured = 0;
	s->rediscover_ms = 0;
	ai_srv_arm_timer(s->rtfd, 0);
	ai_err_t e2;
	if (ai_discover_overlay(s->proc_fd, f.pid, &s->overlay, &e2) < 0)
		ai_srv_log(s, "warning", ai_srv_fill_msg, e2.msg);
	if (s->o->watch_exit) {
		s->pidfd = (int)syscall(SYS_pidfd_open, f.pid, 0);
		if (s->pidfd >= 0) {
			fcntl(s->pidfd, F_SETFD, FD_CLOEXEC);
			if (ai_srv_ep_add(s, s->pidfd, EPOLLIN, &s->e_target, &e2) < 0)
				ai_srv_fd_close(&s->pidfd);
		}
	}
	ai_srv_log(s, "target", fill_target, s);
	return 0;
}

static void *worker_main(void *arg)
{
	struct server *s = arg;
	struct job *jb = &s->job;
	const struct ai_serve_opts *o = s->o;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	static struct ai_freezer_set fz; /* one worker at a time; too large for its stack */
	memset(&fz, 0, sizeof(fz));
	fz.watchdog_pipe = -1;
	struct ai_freeze_hooks hooks;
	bool use_freeze = false;
	pid_t pids[AI_MAX_CONTAINERS] = {jb->pid};
	size_t npids = 1;
	if (s->have_target && s->target.pod) {
		struct ai_found found[AI_MAX_CONTAINERS];
		ai_err_t perr = {0};
		if (ai_discover_pod(s->proc_fd, jb->pid, found, AI_MAX_CONTAINERS, &npids, &perr) < 0) {
			ai_srv_log(s, "warning", ai_srv_fill_msg, perr.msg);
			npids = 1;
		}
		for (size_t i = 0; i < npids; i++)
			pids[i] = found[i].pid;
		pids[0] = jb->pid;
	}
	if (o->freeze) {
		ai_err_t ferr = {0};
		if (ai_freezer_set_open(s->proc_fd, pids, npids, o->cgroup_root, &fz, &ferr) == 0) {
			fz.hold_ms = o->freeze_hold_ms;
			ai_freezer_set_hooks(&fz, &hooks);
			use_freeze = true;
		} else {
			ai_srv_log(s, "warning", ai_srv_fill_msg, ferr.msg);
		}
	}
	struct ai_snapshot_opts so = {
	    .pid = jb->pid,
	    .pids = pids,
	    .npids = npids,
	    .outdir_fd = o->outdir_fd,
	    .outdir = o->outdir,
	    .host_root = o->host_root,
	    .trigger = jb->trigger,
	    .name = jb->name,
	    .key = o->key,
	    .pod = o->pod,
	    .reason = jb->reason[0] ? jb->reason : NULL,
	    .freeze = use_freeze ? &hooks : NULL,
	    .freeze_all = o->freeze_all,
	    .criu = o->criu,
	    .file_cap = o->file_cap,
	    .upper_budget = o->upper_budget,
	    .output_budget = o->output_budget,
	    .memory = o->memory,
	    .memory_cap = o->memory_cap,
	    .memory_total = o->memory_total,
	    .overlay_hint = jb->have_hint && s->overlay.found ? &s->overlay : NULL,
	};
	jb->rc = ai_snapshot(&so, &jb->res, &jb->err);
	ai_freezer_set_close(&fz); /* thaws if anything was left frozen */
	jb->upload_rc = 1;
	if (jb->rc == 0 && o->upload) {
		const char *base = strrchr(jb->res.path, '/');
		base = base ? base + 1 : jb->res.path;
		jb->upload_rc = ai_upload_file(o->upload, o->outdir_fd, base, &jb->upload_err);
		if (jb->upload_rc == 0 && o->delete_after_upload) {
			char sig[4200];
			snprintf(sig, sizeof(sig), "%s.minisig", base);
			unlinkat(o->outdir_fd, base, 0);
			unlinkat(o->outdir_fd, sig, 0);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	jb->ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	uint64_t one = 1;
	if (write(s->wfd, &one, sizeof(one)) < 0) {
		/* the eventfd cannot fail to take one increment */
	}
	return NULL;
}

int ai_srv_capture_start(struct server *s, const char *trigger, const char *reason, ai_err_t *err)
{
	if (s->capturing) {
		s->waiters++;
		return 0;
	}
	if (!s->have_target && ai_srv_target_find(s, err) < 0)
		return -1;
	memset(&s->job, 0, sizeof(s->job));
	s->job.trigger = trigger;
	snprintf(s->job.reason, sizeof(s->job.reason), "%s", reason ? reason : "");
	s->job.pid = s->target.pid;
	if (!strcmp(trigger, "exit")) {
		pid_t p = ai_discover_survivor(s->proc_fd, s->target.mntns);
		s->job.have_hint = true;
		if (p > 0)
			s->job.pid = p;
	}
	/* afterimage-HOST-PID-UTC.mmm-TRIGGER: unique across back-to-back captures */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	char ts[32], host[64] = "host";
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", &tm);
	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == '.' || (unsigned char)*p < 0x20)
			*p = '_';
	snprintf(s->job.name, sizeof(s->job.name), "afterimage-%s-%d-%s.%03ldZ-%s", host, s->job.pid, ts,
		 now.tv_nsec / 1000000, trigger);
	s->waiters = 1;
	s->wstack = mmap(NULL, WORKER_STACK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (s->wstack == MAP_FAILED) {
		s->wstack = NULL;
		return ai_err_set(err, errno, "worker stack");
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, s->wstack, WORKER_STACK);
	int rc = pthread_create(&s->worker, &attr, worker_main, s);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		munmap(s->wstack, WORKER_STACK);
		s->wstack = NULL;
		return ai_err_set(err, rc, "starting the capture worker");
	}
	s->capturing = true;
	return 0;
}

static void fill_result(struct ai_json *j, const void *arg)
{
	const struct server *s = arg;
	const struct job *jb = &s->job;
	ai_json_kstr(j, "trigger", jb->trigger);
	ai_json_kint(j, "pid", jb->pid);
	ai_json_kuint(j, "coalesced", s->waiters);
	if (jb->rc < 0) {
		ai_json_kbytes(j, "error", jb->err.msg, strlen(jb->err.msg));
		return;
	}
	ai_json_kbytes(j, "bundle", jb->res.path, strlen(jb->res.path));
	ai_json_kbool(j, "complete", jb->res.complete);
	char ms[32];
	snprintf(ms, sizeof(ms), "%.3f", jb->res.freeze_ms);
	ai_json_key(j, "freeze_ms");
	ai_json_raw(j, ms);
	snprintf(ms, sizeof(ms), "%.3f", jb->ms);
	ai_json_key(j, "ms");
	ai_json_raw(j, ms);
	if (jb->upload_rc < 0)
		ai_json_kbytes(j, "upload_error", jb->upload_err.msg, strlen(jb->upload_err.msg));
	else if (jb->upload_rc == 0)
		ai_json_kstr(j, "upload", "ok");
}

void ai_srv_worker_done(struct server *s)
{
	uint64_t v;
	if (read(s->wfd, &v, sizeof(v)) < 0)
		return;
	pthread_join(s->worker, NULL);
	munmap(s->wstack, WORKER_STACK);
	s->wstack = NULL;
	s->capturing = false;
	s->trim_pending = true;
	if (s->job.rc == 0) {
		s->ncaptures++;
		if (strcmp(s->job.trigger, "baseline") != 0) {
			s->target_captured = mono_s();
			s->captured_mntns = s->target.mntns;
		}
	}
	ai_srv_log(s, "capture", fill_result, s);
	ai_srv_reply_waiters(s);
	if (!strcmp(s->job.trigger, "exit")) {
		ai_srv_target_forget(s);
		ai_srv_schedule_rediscover(s);
	}
}

void ai_srv_target_exited(struct server *s)
{
	ai_srv_log(s, "target-exit", fill_target, s);
	epoll_ctl(s->ep, EPOLL_CTL_DEL, s->pidfd, NULL);
	ai_srv_fd_close(&s->pidfd);
	bool recent = s->target_captured && s->captured_mntns == s->target.mntns &&
		      mono_s() - s->target_captured < EXIT_DEDUP_S;
	if (recent || s->terminating || s->capturing) {
		ai_srv_target_forget(s);
		ai_srv_schedule_rediscover(s);
		return;
	}
	ai_err_t err = {0};
	if (ai_srv_capture_start(s, "exit", "", &err) < 0) {
		ai_srv_log(s, "error", ai_srv_fill_msg, err.msg);
		ai_srv_target_forget(s);
		ai_srv_schedule_rediscover(s);
	}
}

void ai_srv_rediscover(struct server *s)
{
	uint64_t v;
	if (read(s->rtfd, &v, sizeof(v)) < 0)
		return;
	if (s->have_target)
		return;
	ai_err_t err;
	if (ai_srv_target_find(s, &err) < 0) {
		ai_srv_schedule_rediscover(s);
		return;
	}
	if (s->o->baseline && !s->baseline_done && !s->capturing) {
		s->baseline_done = true;
		if (ai_srv_capture_start(s, "baseline", "", &err) == 0)
			s->waiters = 0;
	}
}
