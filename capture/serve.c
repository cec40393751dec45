/* afterimage-capture serve: the sidecar. One thread waits in epoll on everything that can
 * happen (HTTP clients, trigger-socket clients, SIGTERM through a signalfd, the target's exit
 * through its pidfd, the capture worker's eventfd, per-client timeouts as timerfds); nothing
 * wakes it while idle. A capture runs in one worker thread; triggers that arrive while it runs
 * wait for it and get its result (coalescing). */
#include "capture/http.h"
#include "capture/sidecar.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/sign.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* A deliberate stop (preStop, exec, SIGTERM) is followed by the target's exit: no second
 * "exit" capture when this target was captured this recently. */
#define EXIT_DEDUP_S  30
#define UNIX_MAX_LINE 256
#define REASON_MAX    128

enum kind { K_LISTEN, K_ULISTEN, K_SIGNAL, K_TARGET, K_WORKER, K_REDISCOVER, K_GRACE, K_CONN, K_TIMER };

struct ev {
	enum kind kind;
	struct conn *c;
};

enum cstate { C_READING, C_WAITING, C_WRITING, C_DRAIN };

struct conn {
	struct ev sev, tev;
	int fd, tfd;
	bool is_unix;
	enum cstate state;
	size_t len;
	char buf[AI_HTTP_MAX_HEAD];
	struct ai_buf out;
	size_t outoff;
	struct conn *prev, *next;
};

struct job {
	const char *trigger;
	char reason[REASON_MAX + 1];
	char name[200];
	pid_t pid;
	bool have_hint;
	int rc;
	ai_err_t err;
	struct ai_snapshot_result res;
	double ms;
	int upload_rc; /* 1: not configured */
	ai_err_t upload_err;
};

struct server {
	const struct ai_serve_opts *o;
	int proc_fd, ep, lfd, ufd, sfd, wfd, pidfd, rtfd, gtfd;
	struct ev e_listen, e_ulisten, e_signal, e_target, e_worker, e_redisc, e_grace;
	bool have_target;
	struct ai_found target;
	struct ai_overlay overlay; /* the target's root overlay, for the exit trigger */
	time_t target_captured;	   /* last capture (monotonic s) of the container below, 0 never */
	uint64_t captured_mntns;   /* a container is its mount namespace, whatever its pids */
	unsigned rediscover_ms;
	struct conn *conns;
	unsigned nconns;
	bool capturing;
	pthread_t worker;
	struct job job;
	unsigned waiters; /* triggers coalesced into the running capture */
	unsigned ncaptures;
	bool terminating, baseline_done;
	bool trim_pending; /* memory to give back once idle again */
	void *wstack;	   /* the worker's stack (ours: glibc would cache it) */
};

#define WORKER_STACK (8u << 20)

/* Idle costs nothing, memory included. A capture touches megabytes of heap and most of the
 * static binary's code; once idle again, give back what the idle loop does not use: free heap
 * pages (malloc_trim, every arena) and, through MADV_DONTNEED, the clean file pages of
 * read-only file mappings (the binary's text, rodata and the file-backed part of relro): they
 * stay in the page cache and fault back in when the next capture needs them. /proc/self/pagemap
 * tells file pages (bit 61) from private copies (relocated data, never dropped); a read-only
 * mapping cannot gain a private copy between the check and the madvise. */
#define TRIM_MAX_VMAS 64
static void idle_trim(void)
{
	malloc_trim(0);
	struct {
		uintptr_t lo, hi;
	} vma[TRIM_MAX_VMAS];
	size_t nvma = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[8192];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			/* "lo-hi perms offset dev inode   path" */
			char *p = line, *e;
			uintptr_t lo = strtoul(p, &e, 16), hi = *e == '-' ? strtoul(e + 1, &e, 16) : 0;
			const char *perms = e + 1, *f = perms;
			for (int k = 0; k < 3 && f; k++) { /* skip perms, offset, dev to the inode */
				f = strchr(f, ' ');
				if (f)
					f++;
			}
			unsigned long ino = f ? strtoul(f, &e, 10) : 0;
			while (ino && *e == ' ')
				e++;
			if (hi > lo && ino && *e == '/' && perms[0] == 'r' && perms[1] != 'w' &&
			    nvma < TRIM_MAX_VMAS) {
				vma[nvma].lo = lo;
				vma[nvma++].hi = hi;
			}
			line = nl + 1;
		}
		len = (size_t)(buf + len - line);
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1)
			len = 0; /* a line longer than the buffer: not one we need */
	}
	close(fd);
	long pg = sysconf(_SC_PAGESIZE);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0 || pg <= 0) {
		if (pm >= 0)
			close(pm);
		return;
	}
	/* runs of present file pages, madvised after the scan so the scan's own code is not
	 * faulted straight back in */
	struct {
		uintptr_t lo, hi;
	} drop[256];
	size_t ndrop = 0;
	for (size_t i = 0; i < nvma && ndrop < 256; i++) {
		uint64_t ent[512];
		for (uintptr_t a = vma[i].lo; a < vma[i].hi && ndrop < 256;) {
			size_t np = (size_t)((vma[i].hi - a) / (uintptr_t)pg);
			if (np > 512)
				np = 512;
			ssize_t n = pread(pm, ent, np * 8, (off_t)(a / (uintptr_t)pg * 8));
			if (n <= 0)
				break;
			np = (size_t)n / 8;
			for (size_t k = 0; k < np && ndrop < 256; k++) {
				bool file = (ent[k] >> 63 & 1) && (ent[k] >> 61 & 1);
				uintptr_t pa = a + k * (uintptr_t)pg;
				if (!file)
					continue;
				if (ndrop && drop[ndrop - 1].hi == pa)
					drop[ndrop - 1].hi = pa + (uintptr_t)pg;
				else
					drop[ndrop].lo = pa, drop[ndrop++].hi = pa + (uintptr_t)pg;
			}
			a += np * (uintptr_t)pg;
		}
	}
	close(pm);
	for (size_t i = 0; i < ndrop; i++)
		madvise((void *)drop[i].lo, drop[i].hi - drop[i].lo, MADV_DONTNEED);
}

static time_t mono_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec;
}

static void fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- event log: one JSON object per line on log_fd */
static void logev(struct server *s, const char *event, void (*fill)(struct ai_json *, const void *),
		  const void *arg)
{
	if (s->o->log_fd < 0)
		return;
	cleanup_buf struct ai_buf b;
	ai_buf_init(&b);
	struct ai_json j;
	ai_json_init(&j, &b);
	ai_json_obj_begin(&j);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	ai_json_ktime(&j, "time", now.tv_sec, now.tv_nsec);
	ai_json_kstr(&j, "event", event);
	if (fill)
		fill(&j, arg);
	ai_json_obj_end(&j);
	ai_buf_addc(&b, '\n');
	if (write(s->o->log_fd, b.data, b.len) < 0) {
		/* nowhere left to report it */
	}
}

static void fill_msg(struct ai_json *j, const void *msg)
{
	ai_json_kbytes(j, "message", msg, strlen(msg));
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

/* ---- epoll helpers */
static int ep_add(struct server *s, int fd, uint32_t events, struct ev *e, ai_err_t *err)
{
	struct epoll_event ee = {.events = events, .data.ptr = e};
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ee) < 0)
		return ai_err_set(err, errno, "epoll_ctl");
	return 0;
}

static void arm_timer(int tfd, unsigned ms)
{
	struct itimerspec it = {.it_value = {ms / 1000, (long)(ms % 1000) * 1000000}};
	timerfd_settime(tfd, 0, &it, NULL);
}

/* ---- target */
static void target_forget(struct server *s)
{
	if (s->pidfd >= 0) {
		epoll_ctl(s->ep, EPOLL_CTL_DEL, s->pidfd, NULL);
		fd_close(&s->pidfd);
	}
	s->have_target = false;
	ai_discover_overlay_free(&s->overlay);
}

static void schedule_rediscover(struct server *s)
{
	s->rediscover_ms = s->rediscover_ms ? s->rediscover_ms * 2 : 100;
	if (s->rediscover_ms > 2000)
		s->rediscover_ms = 2000;
	arm_timer(s->rtfd, s->rediscover_ms);
}

static int target_find(struct server *s, ai_err_t *err)
{
	struct ai_found f;
	if (ai_discover(s->proc_fd, &s->o->target, &f, err) < 0)
		return -1;
	target_forget(s);
	s->target = f;
	s->have_target = true;
	if (s->captured_mntns != f.mntns)
		s->target_captured = 0;
	s->rediscover_ms = 0;
	arm_timer(s->rtfd, 0);
	ai_err_t e2;
	if (ai_discover_overlay(s->proc_fd, f.pid, &s->overlay, &e2) < 0)
		logev(s, "warning", fill_msg, e2.msg);
	if (s->o->watch_exit) {
		s->pidfd = (int)syscall(SYS_pidfd_open, f.pid, 0);
		if (s->pidfd >= 0) {
			fcntl(s->pidfd, F_SETFD, FD_CLOEXEC);
			if (ep_add(s, s->pidfd, EPOLLIN, &s->e_target, &e2) < 0)
				fd_close(&s->pidfd);
		}
	}
	logev(s, "target", fill_target, s);
	return 0;
}

/* ---- the capture worker */
static void *worker_main(void *arg)
{
	struct server *s = arg;
	struct job *jb = &s->job;
	const struct ai_serve_opts *o = s->o;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	struct ai_freezer fz = {.state_fd = -1, .events_fd = -1, .watchdog_pipe = -1};
	struct ai_freeze_hooks hooks;
	bool use_freeze = false;
	if (o->freeze) {
		ai_err_t ferr = {0};
		if (ai_freezer_open(s->proc_fd, jb->pid, o->cgroup_root, &fz, &ferr) == 0) {
			fz.hold_ms = o->freeze_hold_ms;
			ai_freezer_hooks(&fz, &hooks);
			use_freeze = true;
		} else {
			logev(s, "warning", fill_msg, ferr.msg);
		}
	}
	struct ai_snapshot_opts so = {
	    .pid = jb->pid,
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
	    .overlay_hint = jb->have_hint && s->overlay.found ? &s->overlay : NULL,
	};
	jb->rc = ai_snapshot(&so, &jb->res, &jb->err);
	ai_freezer_close(&fz); /* thaws if anything was left frozen */
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

static int capture_start(struct server *s, const char *trigger, const char *reason, ai_err_t *err)
{
	if (s->capturing) {
		s->waiters++;
		return 0;
	}
	if (!s->have_target && target_find(s, err) < 0)
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

static void result_json(const struct server *s, struct ai_buf *b)
{
	const struct job *jb = &s->job;
	struct ai_json j;
	ai_json_init(&j, b);
	ai_json_obj_begin(&j);
	if (jb->rc < 0) {
		ai_json_kbytes(&j, "error", jb->err.msg, strlen(jb->err.msg));
	} else {
		ai_json_kbytes(&j, "bundle", jb->res.path, strlen(jb->res.path));
		ai_json_kstr(&j, "sha256", jb->res.sha256);
		ai_json_kbool(&j, "complete", jb->res.complete);
		ai_json_kuint(&j, "errors", jb->res.nerrors);
	}
	ai_json_kstr(&j, "trigger", jb->trigger);
	if (jb->reason[0])
		ai_json_kbytes(&j, "reason", jb->reason, strlen(jb->reason));
	ai_json_kint(&j, "pid", jb->pid);
	ai_json_kuint(&j, "coalesced", s->waiters);
	ai_json_key(&j, "freeze");
	ai_json_obj_begin(&j);
	ai_json_kbool(&j, "frozen", jb->res.frozen);
	char ms[32];
	snprintf(ms, sizeof(ms), "%.3f", jb->res.freeze_ms);
	ai_json_key(&j, "ms");
	ai_json_raw(&j, ms);
	ai_json_obj_end(&j);
	snprintf(ms, sizeof(ms), "%.3f", jb->ms);
	ai_json_key(&j, "ms");
	ai_json_raw(&j, ms);
	if (jb->upload_rc == 0)
		ai_json_kstr(&j, "upload", "ok");
	else if (jb->upload_rc < 0)
		ai_json_kbytes(&j, "upload_error", jb->upload_err.msg, strlen(jb->upload_err.msg));
	ai_json_obj_end(&j);
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

/* ---- connections */
static void conn_free(struct server *s, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	fd_close(&c->fd); /* closing removes it from the epoll set */
	fd_close(&c->tfd);
	ai_buf_free(&c->out);
	free(c);
	s->trim_pending = true;
}

static void conn_drain(struct server *s, struct conn *c)
{
	char tmp[4096];
	for (;;) {
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		conn_free(s, c);
		return;
	}
}

/* Write what is pending, then drain until the client closes. */
static void conn_flush(struct server *s, struct conn *c)
{
	while (c->outoff < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->outoff, c->out.len - c->outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ee = {.events = EPOLLOUT, .data.ptr = &c->sev};
			epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ee);
			c->state = C_WRITING;
			return;
		}
		if (n <= 0)
			break;
		c->outoff += (size_t)n;
	}
	/* Lingering close: read and drop what the client still sends until it closes (or the
	 * timer fires), so a close with unread input does not reset the answer away. */
	shutdown(c->fd, SHUT_WR);
	c->state = C_DRAIN;
	struct epoll_event ee = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->sev};
	epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ee);
	conn_drain(s, c);
}

static void respond(struct server *s, struct conn *c, int status, const char *extra_hdr, const char *body)
{
	ai_buf_reset(&c->out);
	if (c->is_unix) {
		if (status == 200)
			ai_buf_adds(&c->out, body);
		else
			ai_buf_printf(&c->out, "{\"error\":\"%s\",\"status\":%d}", ai_http_reason(status),
				      status);
		ai_buf_addc(&c->out, '\n');
	} else {
		size_t blen = body ? strlen(body) : 0;
		ai_buf_printf(&c->out,
			      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			      "Connection: close\r\nCache-Control: no-store\r\n%s\r\n",
			      status, ai_http_reason(status), blen + 1, extra_hdr ? extra_hdr : "");
		if (body)
			ai_buf_adds(&c->out, body);
		ai_buf_addc(&c->out, '\n');
	}
	c->outoff = 0;
	arm_timer(c->tfd, s->o->http_timeout_ms); /* a client that never reads times out too */
	conn_flush(s, c);
}

static void respond_error(struct server *s, struct conn *c, int status)
{
	char body[96];
	snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d}", ai_http_reason(status), status);
	respond(s, c, status, status == 401 ? "WWW-Authenticate: Bearer realm=\"afterimage\"\r\n" : NULL,
		body);
}

static bool reason_ok(const char *r)
{
	for (; *r; r++)
		if ((unsigned char)*r < 0x20 || (unsigned char)*r > 0x7e)
			return false;
	return true;
}

static void trigger_capture(struct server *s, struct conn *c, const char *trigger, const char *reason)
{
	ai_err_t err = {0};
	if (capture_start(s, trigger, reason, &err) < 0) {
		logev(s, "error", fill_msg, err.msg);
		cleanup_buf struct ai_buf b;
		ai_buf_init(&b);
		struct ai_json j;
		ai_json_init(&j, &b);
		ai_json_obj_begin(&j);
		ai_json_kbytes(&j, "error", err.msg, strlen(err.msg));
		ai_json_obj_end(&j);
		respond(s, c, 503, NULL, ai_buf_cstr(&b));
		return;
	}
	c->state = C_WAITING;
	arm_timer(c->tfd, 0); /* waits as long as the capture takes */
	struct epoll_event ee = {.events = EPOLLRDHUP, .data.ptr = &c->sev};
	epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ee);
}

static void fill_sandbox(struct ai_buf *b)
{
	char *const argv[] = {"/", NULL}, *const envp[] = {NULL};
	errno = 0;
	execve("/", argv, envp); /* only returns: "/" is a directory, and seccomp may refuse first */
	int e = errno;
	char status[4096] = "";
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, status, sizeof(status) - 1);
		status[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	const char *sc = strstr(status, "\nSeccomp:\t"), *ce = strstr(status, "\nCapEff:\t");
	ai_buf_printf(b, "{\"execve_errno\":%d,\"execve_refused\":%s,\"seccomp\":%d,\"cap_eff\":\"%.16s\"}",
		      e, e == EPERM ? "true" : "false", sc ? atoi(sc + 10) : -1, ce ? ce + 9 : "");
}

static void handle_unix_line(struct server *s, struct conn *c, char *line)
{
	if (!strcmp(line, "status")) {
		cleanup_buf struct ai_buf b;
		ai_buf_init(&b);
		ai_buf_printf(&b, "{\"target\":%d,\"captures\":%u,\"capturing\":%s}",
			      s->have_target ? s->target.pid : 0, s->ncaptures,
			      s->capturing ? "true" : "false");
		respond(s, c, 200, NULL, ai_buf_cstr(&b));
	} else if (!strcmp(line, "sandbox-check")) {
		cleanup_buf struct ai_buf b;
		ai_buf_init(&b);
		fill_sandbox(&b);
		respond(s, c, 200, NULL, ai_buf_cstr(&b));
	} else if (!strncmp(line, "capture", 7) && (line[7] == '\0' || line[7] == ' ')) {
		const char *reason = line[7] ? line + 8 : "";
		if (strlen(reason) > REASON_MAX || !reason_ok(reason))
			respond_error(s, c, 400);
		else
			trigger_capture(s, c, "exec", reason);
	} else {
		respond_error(s, c, 400);
	}
}

static void handle_http(struct server *s, struct conn *c, const struct ai_http_req *req)
{
	if (!strcmp(req->path, "/healthz")) {
		char body[96];
		snprintf(body, sizeof(body), "{\"ok\":true,\"target\":%d,\"captures\":%u}",
			 s->have_target ? s->target.pid : 0, s->ncaptures);
		respond(s, c, 200, NULL, body);
		return;
	}
	if (strcmp(req->path, "/v1/capture") != 0) {
		respond_error(s, c, 404);
		return;
	}
	if (req->method == AI_HTTP_HEAD) {
		respond_error(s, c, 405);
		return;
	}
	if (!ai_http_bearer_ok(req, s->o->token, s->o->token_len)) {
		logev(s, "unauthorized", fill_msg, req->has_auth ? "wrong token" : "no Authorization header");
		respond_error(s, c, 401);
		return;
	}
	char reason[REASON_MAX + 1];
	int rl = ai_http_query_get(req->query, "reason", reason, sizeof(reason));
	if (rl == -2 || (rl >= 0 && !reason_ok(reason))) {
		respond_error(s, c, 400);
		return;
	}
	trigger_capture(s, c, "http", rl >= 0 ? reason : "");
}

static void conn_readable(struct server *s, struct conn *c)
{
	if (c->state == C_WAITING) {
		/* the client hung up while waiting: the capture goes on, nobody to answer */
		char tmp[256];
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			s->waiters--;
			conn_free(s, c);
		}
		return;
	}
	if (c->state == C_WRITING) {
		conn_flush(s, c);
		return;
	}
	if (c->state == C_DRAIN) {
		conn_drain(s, c);
		return;
	}
	for (;;) {
		if (c->len == sizeof(c->buf)) {
			respond_error(s, c, c->is_unix ? 400 : 413);
			return;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_free(s, c);
			return;
		}
		c->len += (size_t)n;
		if (c->is_unix) {
			char *nl = memchr(c->buf, '\n', c->len);
			if (nl) {
				*nl = '\0';
				handle_unix_line(s, c, c->buf);
				return;
			}
			if (c->len > UNIX_MAX_LINE) {
				respond_error(s, c, 400);
				return;
			}
			continue;
		}
		struct ai_http_req req;
		int r = ai_http_parse(c->buf, c->len, &req);
		if (r < 0) {
			respond_error(s, c, -r);
			return;
		}
		if (r > 0) {
			handle_http(s, c, &req);
			return;
		}
	}
}

static void accept_one(struct server *s, int lfd, bool is_unix)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (is_unix) {
		struct ucred cr;
		socklen_t l = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 ||
		    (cr.uid != 0 && cr.uid != geteuid())) {
			close(fd);
			return;
		}
	}
	if (s->nconns >= s->o->max_conns) {
		static const char busy[] =
		    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		if (!is_unix && send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* it was only a courtesy */
		}
		close(fd);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->is_unix = is_unix;
	c->sev = (struct ev){K_CONN, c};
	c->tev = (struct ev){K_TIMER, c};
	ai_buf_init(&c->out);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	ai_err_t err;
	if (c->tfd < 0 || ep_add(s, c->fd, EPOLLIN | EPOLLRDHUP, &c->sev, &err) < 0 ||
	    ep_add(s, c->tfd, EPOLLIN, &c->tev, &err) < 0) {
		conn_free(s, c);
		return;
	}
	arm_timer(c->tfd, s->o->http_timeout_ms);
}

static void worker_done(struct server *s)
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
	logev(s, "capture", fill_result, s);
	cleanup_buf struct ai_buf body;
	ai_buf_init(&body);
	result_json(s, &body);
	for (struct conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (c->state == C_WAITING)
			respond(s, c, s->job.rc == 0 ? 200 : 500, NULL, ai_buf_cstr(&body));
	}
	if (!strcmp(s->job.trigger, "exit")) {
		target_forget(s);
		schedule_rediscover(s);
	}
}

static void target_exited(struct server *s)
{
	logev(s, "target-exit", fill_target, s);
	epoll_ctl(s->ep, EPOLL_CTL_DEL, s->pidfd, NULL);
	fd_close(&s->pidfd);
	bool recent = s->target_captured && s->captured_mntns == s->target.mntns &&
		      mono_s() - s->target_captured < EXIT_DEDUP_S;
	if (recent || s->terminating || s->capturing) {
		target_forget(s);
		schedule_rediscover(s);
		return;
	}
	ai_err_t err = {0};
	if (capture_start(s, "exit", "", &err) < 0) {
		logev(s, "error", fill_msg, err.msg);
		target_forget(s);
		schedule_rediscover(s);
	}
}

static void rediscover(struct server *s)
{
	uint64_t v;
	if (read(s->rtfd, &v, sizeof(v)) < 0)
		return;
	if (s->have_target)
		return;
	ai_err_t err;
	if (target_find(s, &err) < 0) {
		schedule_rediscover(s);
		return;
	}
	if (s->o->baseline && !s->baseline_done && !s->capturing) {
		s->baseline_done = true;
		if (capture_start(s, "baseline", "", &err) == 0)
			s->waiters = 0;
	}
}

/* ---- setup */
static int listen_tcp(const char *spec, ai_err_t *err)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return ai_err_set(err, 0, "--listen wants ADDR:PORT, got %s", spec);
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return ai_err_set(err, 0, "--listen: bad port in %s", spec);
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		memmove(host, host + 1, hl - 1);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		return ai_err_set(err, 0, "--listen: %s is not an IP address", host);
	}
	cleanup_close int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ai_err_set(err, errno, "socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		return ai_err_set(err, errno, "bind %s", spec);
	if (listen(fd, 128) < 0)
		return ai_err_set(err, errno, "listen %s", spec);
	return steal_fd(&fd);
}

static int listen_unix(const char *path, ai_err_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return ai_err_set(err, 0, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ai_err_set(err, errno, "socket");
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* a stale socket of an earlier run */
	mode_t old = umask(0077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return ai_err_set(err, errno, "bind %s", path);
	if (listen(fd, 64) < 0)
		return ai_err_set(err, errno, "listen %s", path);
	return steal_fd(&fd);
}

static void fill_listening(struct ai_json *j, const void *arg)
{
	const struct server *s = arg;
	ai_json_kstr(j, "listen", s->o->listen);
	ai_json_kstr(j, "socket", s->o->socket_path);
	ai_json_kint(j, "pid", getpid());
	ai_json_kbool(j, "hardened", s->o->harden);
	ai_json_kstr(j, "capabilities", s->o->harden ? ai_harden_caps_text() : NULL);
}

static void server_fini(struct server *s)
{
	while (s->conns)
		conn_free(s, s->conns);
	target_forget(s);
	int *fds[] = {&s->proc_fd, &s->ep, &s->lfd, &s->ufd, &s->sfd, &s->wfd, &s->rtfd, &s->gtfd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		fd_close(fds[i]);
	if (s->o->socket_path)
		unlink(s->o->socket_path);
}

static int server_init(struct server *s, ai_err_t *err)
{
	const struct ai_serve_opts *o = s->o;
	s->e_listen = (struct ev){K_LISTEN, NULL};
	s->e_ulisten = (struct ev){K_ULISTEN, NULL};
	s->e_signal = (struct ev){K_SIGNAL, NULL};
	s->e_target = (struct ev){K_TARGET, NULL};
	s->e_worker = (struct ev){K_WORKER, NULL};
	s->e_redisc = (struct ev){K_REDISCOVER, NULL};
	s->e_grace = (struct ev){K_GRACE, NULL};
	s->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->proc_fd < 0)
		return ai_err_set(err, errno, "open /proc");
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0)
		return ai_err_set(err, errno, "epoll_create1");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* blocked in every thread (the worker inherits the mask): only the signalfd sees them */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return ai_err_set(err, errno, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	s->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	s->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->rtfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->gtfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->sfd < 0 || s->wfd < 0 || s->rtfd < 0 || s->gtfd < 0)
		return ai_err_set(err, errno, "signalfd/eventfd/timerfd");
	if (ep_add(s, s->sfd, EPOLLIN, &s->e_signal, err) < 0 ||
	    ep_add(s, s->wfd, EPOLLIN, &s->e_worker, err) < 0 ||
	    ep_add(s, s->rtfd, EPOLLIN, &s->e_redisc, err) < 0 ||
	    ep_add(s, s->gtfd, EPOLLIN, &s->e_grace, err) < 0)
		return -1;
	if (o->listen) {
		s->lfd = listen_tcp(o->listen, err);
		if (s->lfd < 0 || ep_add(s, s->lfd, EPOLLIN, &s->e_listen, err) < 0)
			return -1;
	}
	if (o->socket_path) {
		s->ufd = listen_unix(o->socket_path, err);
		if (s->ufd < 0 || ep_add(s, s->ufd, EPOLLIN, &s->e_ulisten, err) < 0)
			return -1;
	}
	ai_err_t derr;
	if (target_find(s, &derr) < 0) {
		logev(s, "waiting", fill_msg, derr.msg);
		schedule_rediscover(s);
	}
	if (o->harden && ai_harden(err) < 0)
		return -1;
	logev(s, "listening", fill_listening, s);
	if (s->have_target && o->baseline) {
		s->baseline_done = true;
		if (capture_start(s, "baseline", "", err) < 0)
			return ai_err_wrap(err, "baseline capture");
		s->waiters = 0;
	}
	return 0;
}

static void on_signal(struct server *s)
{
	struct signalfd_siginfo si;
	while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (s->terminating)
			continue;
		s->terminating = true;
		logev(s, "signal", fill_msg,
		      si.ssi_signo == SIGTERM  ? "SIGTERM"
		      : si.ssi_signo == SIGINT ? "SIGINT"
					       : "SIGHUP");
		/* capture once if nothing of this target was captured yet (a baseline does not count) */
		if (!s->capturing && !s->target_captured) {
			ai_err_t err;
			if (capture_start(s, "sigterm", "", &err) < 0)
				logev(s, "error", fill_msg, err.msg);
			else
				s->waiters = 0;
		}
		if (s->capturing)
			arm_timer(s->gtfd, s->o->grace_ms);
	}
}

int ai_serve(const struct ai_serve_opts *o, ai_err_t *err)
{
	/* One malloc arena: a capture thread's arena would keep its pages (and per-thread
	 * leftovers) resident between captures; the main one is trimmed when idle. */
	mallopt(M_ARENA_MAX, 1);
	struct server s = {.o = o,
			   .proc_fd = -1,
			   .ep = -1,
			   .lfd = -1,
			   .ufd = -1,
			   .sfd = -1,
			   .wfd = -1,
			   .pidfd = -1,
			   .rtfd = -1,
			   .gtfd = -1};
	int ret = server_init(&s, err);
	s.trim_pending = true;
	while (ret == 0 && !(s.terminating && !s.capturing)) {
		struct epoll_event evs[32];
		if (s.trim_pending && !s.capturing && !s.conns) {
			idle_trim();
			s.trim_pending = false;
		}
		int n = epoll_wait(s.ep, evs, 32, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = ai_err_set(err, errno, "epoll_wait");
			break;
		}
		/* connections may be freed while handling a batch: handle timers last */
		for (int i = 0; i < n && ret == 0; i++) {
			struct ev *e = evs[i].data.ptr;
			switch (e->kind) {
			case K_LISTEN:
				accept_one(&s, s.lfd, false);
				break;
			case K_ULISTEN:
				accept_one(&s, s.ufd, true);
				break;
			case K_SIGNAL:
				on_signal(&s);
				break;
			case K_TARGET:
				if (s.pidfd >= 0)
					target_exited(&s);
				break;
			case K_WORKER:
				worker_done(&s);
				break;
			case K_REDISCOVER:
				rediscover(&s);
				break;
			case K_GRACE:
				if (s.capturing)
					ret = ai_err_set(err, ETIMEDOUT,
							 "grace period over with the capture still running");
				break;
			case K_CONN: {
				bool alive = false;
				for (struct conn *c = s.conns; c; c = c->next)
					if (c == e->c)
						alive = true;
				if (alive)
					conn_readable(&s, e->c);
				break;
			}
			case K_TIMER: {
				struct conn *c = NULL;
				for (struct conn *x = s.conns; x; x = x->next)
					if (x == e->c)
						c = x;
				if (!c)
					break;
				uint64_t v;
				if (read(c->tfd, &v, sizeof(v)) < 0)
					break;
				if (c->state == C_READING)
					respond_error(&s, c, 408);
				else if (c->state == C_WRITING || c->state == C_DRAIN)
					conn_free(&s, c);
				break;
			}
			}
		}
	}
	if (ret < 0 && s.capturing) {
		/* Leaving with the worker mid-capture: the process exits, the watchdog thaws. */
		logev(&s, "error", fill_msg, err->msg);
		return ret;
	}
	logev(&s, "exit", NULL, NULL);
	server_fini(&s);
	return ret;
}

int ai_trigger(const char *socket_path, const char *cmd, struct ai_buf *reply, ai_err_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return ai_err_set(err, 0, "socket path too long");
	strcpy(sa.sun_path, socket_path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ai_err_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return ai_err_set(err, errno, "connect %s", socket_path);
	cleanup_buf struct ai_buf line;
	ai_buf_init(&line);
	ai_buf_printf(&line, "%s\n", cmd);
	if (send(fd, line.data, line.len, MSG_NOSIGNAL) != (ssize_t)line.len)
		return ai_err_set(err, errno, "send");
	char buf[4096];
	ssize_t n;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		ai_buf_add(reply, buf, (size_t)n);
	if (n < 0)
		return ai_err_set(err, errno, "recv");
	if (!reply->len)
		return ai_err_set(err, 0, "no reply from %s", socket_path);
	return 0;
}
