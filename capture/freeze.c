/* Freezing the target's cgroup while its volatile state is read: cgroup v2 cgroup.freeze
 * (waiting for "frozen 1" in cgroup.events, notified with POLLPRI), else the v1 freezer
 * (freezer.state, FREEZING -> FROZEN). Before freezing, a watchdog child is forked: it waits
 * on a pipe whose only write end we hold, and thaws the cgroup when the pipe reaches EOF
 * without the "released" byte, i.e. when we died (even by SIGKILL) while it was frozen. */
#include "capture/sidecar.h"
#include "common/cleanup.h"
#include "common/safeopen.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FREEZE_TIMEOUT_MS 2000

static int open_state(const char *root, const char *sub, const char *path, const char *file, int flags)
{
	char p[4096];
	if (snprintf(p, sizeof(p), "%s%s%s/%s", root, sub, path, file) >= (int)sizeof(p))
		return -1;
	return open(p, flags | O_CLOEXEC | O_NOFOLLOW);
}

/* The cgroup path of pid for the hierarchy named by match ("" for v2, "freezer" for v1). */
static bool cgroup_path(const char *cg, const char *match, char *out, size_t outlen)
{
	const char *line = cg;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *c1 = memchr(line, ':', len);
		const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
		if (c2) {
			size_t clen = (size_t)(c2 - c1 - 1);
			bool hit = false;
			if (!*match) {
				hit = clen == 0 && c1 - line == 1 && line[0] == '0';
			} else {
				/* a comma separated controller list may hold it */
				const char *p = c1 + 1;
				while (p < c2) {
					const char *comma = memchr(p, ',', (size_t)(c2 - p));
					const char *e = comma ? comma : c2;
					if ((size_t)(e - p) == strlen(match) &&
					    !memcmp(p, match, (size_t)(e - p)))
						hit = true;
					p = e + 1;
				}
			}
			size_t plen = len - (size_t)(c2 + 1 - line);
			if (hit && plen > 0 && plen < outlen) {
				memcpy(out, c2 + 1, plen);
				out[plen] = '\0';
				return true;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

static int read_cgroup_file(int proc_fd, const char *pidname, char **out, ai_err_t *err)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "%s/cgroup", pidname);
	cleanup_close int fd = openat(proc_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ai_err_set(err, errno, "/proc/%s", rel);
	char buf[8192];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return ai_err_set(err, errno, "read /proc/%s", rel);
	buf[n] = '\0';
	*out = strdup(buf);
	return *out ? 0 : ai_err_set(err, ENOMEM, "cgroup");
}

int ai_freezer_open(int proc_fd, pid_t pid, const char *cgroup_root, struct ai_freezer *f, ai_err_t *err)
{
	memset(f, 0, sizeof(*f));
	f->state_fd = f->events_fd = f->watchdog_pipe = -1;
	const char *root = cgroup_root ? cgroup_root : "/sys/fs/cgroup";
	char pidname[32];
	snprintf(pidname, sizeof(pidname), "%d", pid);
	cleanup_free char *cg = NULL, *mine = NULL;
	if (read_cgroup_file(proc_fd, pidname, &cg, err) < 0 ||
	    read_cgroup_file(proc_fd, "self", &mine, err) < 0)
		return -1;
	char path[2048], self_path[2048];
	/* v2 (pure, or the unified half of a hybrid layout) */
	if (cgroup_path(cg, "", path, sizeof(path)) && strcmp(path, "/") != 0) {
		if (cgroup_path(mine, "", self_path, sizeof(self_path)) && !strcmp(path, self_path))
			return ai_err_set(
			    err, 0, "the target shares our cgroup %s: freezing it would freeze us", path);
		static const char *const subs[] = {"", "/unified"};
		for (size_t i = 0; i < 2; i++) {
			int sfd = open_state(root, subs[i], path, "cgroup.freeze", O_RDWR);
			if (sfd < 0)
				continue;
			int efd = open_state(root, subs[i], path, "cgroup.events", O_RDONLY);
			if (efd < 0) {
				close(sfd);
				continue;
			}
			f->state_fd = sfd;
			f->events_fd = efd;
			f->method = "cgroup2";
			return 0;
		}
	}
	if (cgroup_path(cg, "freezer", path, sizeof(path)) && strcmp(path, "/") != 0) {
		if (cgroup_path(mine, "freezer", self_path, sizeof(self_path)) && !strcmp(path, self_path))
			return ai_err_set(err, 0, "the target shares our freezer cgroup %s", path);
		f->state_fd = open_state(root, "/freezer", path, "freezer.state", O_RDWR);
		if (f->state_fd >= 0) {
			f->method = "cgroup1";
			return 0;
		}
		return ai_err_set(err, errno, "%s/freezer%s/freezer.state", root, path);
	}
	return ai_err_set(err, ENOENT, "no freezer for pid %d under %s (cgroup.freeze or freezer.state)", pid,
			  root);
}

static int write_str(int fd, const char *s)
{
	size_t n = strlen(s);
	return pwrite(fd, s, n, 0) == (ssize_t)n ? 0 : -1;
}

static void thaw_now(struct ai_freezer *f)
{
	write_str(f->state_fd, f->events_fd >= 0 ? "0" : "THAWED");
}

/* The watchdog of n freezers (one container's, or a pod's): a child that thaws them all unless
 * told 'T' first, so a capture that dies while they are frozen never leaves them frozen. */
static int watchdog_start(struct ai_freezer *fs, size_t n, pid_t *pid, int *wpipe, ai_err_t *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return ai_err_set(err, errno, "watchdog pipe");
	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return ai_err_set(err, e, "fork watchdog");
	}
	if (child == 0) {
		/* Only async-signal-safe calls here: we are a fork of a threaded process. */
		close(p[1]);
		char c;
		ssize_t r;
		do
			r = read(p[0], &c, 1);
		while (r < 0 && errno == EINTR);
		if (r != 1 || c != 'T')
			for (size_t i = 0; i < n; i++)
				thaw_now(&fs[i]);
		_exit(0);
	}
	close(p[0]);
	*pid = child;
	*wpipe = p[1];
	return 0;
}

static void watchdog_release(pid_t *pid, int *wpipe)
{
	if (*wpipe >= 0) {
		char t = 'T';
		if (write(*wpipe, &t, 1) != 1) {
			/* the watchdog is gone already; nothing to release */
		}
		close(*wpipe);
		*wpipe = -1;
	}
	if (*pid > 0) {
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		*pid = 0;
	}
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int wait_frozen(struct ai_freezer *f, ai_err_t *err)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char buf[512];
	for (;;) {
		int fd = f->events_fd >= 0 ? f->events_fd : f->state_fd;
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0)
			return ai_err_set(err, errno, "read freezer state");
		buf[n] = '\0';
		if (f->events_fd >= 0 ? strstr(buf, "frozen 1") != NULL : strncmp(buf, "FROZEN", 6) == 0)
			return 0;
		long left = FREEZE_TIMEOUT_MS - ms_since(&t0);
		if (left <= 0)
			return ai_err_set(err, ETIMEDOUT, "cgroup not frozen after %d ms", FREEZE_TIMEOUT_MS);
		if (f->events_fd >= 0) {
			/* cgroup.events signals every change with POLLPRI */
			struct pollfd pfd = {.fd = f->events_fd, .events = POLLPRI};
			if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
				return ai_err_set(err, errno, "poll cgroup.events");
		} else {
			/* v1 has no notification: FREEZING settles within milliseconds */
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
}

/* Every freeze written first, then each waited for: the window is the slowest cgroup's, not
 * their sum. A freezer is marked frozen before its write, so every path thaws it. */
static int freeze_all(struct ai_freezer *fs, size_t n, unsigned hold_ms, ai_err_t *err)
{
	for (size_t i = 0; i < n; i++) {
		struct ai_freezer *f = &fs[i];
		f->frozen = true;
		if (write_str(f->state_fd, f->events_fd >= 0 ? "1" : "FROZEN") < 0)
			return n > 1
				   ? ai_err_set(err, errno, "write %s freezer of container %zu", f->method, i)
				   : ai_err_set(err, errno, "write %s freezer", f->method);
	}
	for (size_t i = 0; i < n; i++)
		if (wait_frozen(&fs[i], err) < 0)
			return n > 1 ? ai_err_wrap(err, "container %zu", i) : -1;
	if (hold_ms) {
		struct timespec ts = {hold_ms / 1000, (long)(hold_ms % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 0;
}

static void thaw_all(struct ai_freezer *fs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fs[i].frozen) {
			thaw_now(&fs[i]);
			fs[i].frozen = false;
		}
}

static int hook_freeze(void *ctx, ai_err_t *err)
{
	struct ai_freezer *f = ctx;
	if (f->state_fd < 0)
		return ai_err_set(err, EBADF, "no freezer");
	if (watchdog_start(f, 1, &f->watchdog, &f->watchdog_pipe, err) < 0)
		return -1;
	return freeze_all(f, 1, f->hold_ms, err);
}

static void hook_thaw(void *ctx)
{
	struct ai_freezer *f = ctx;
	thaw_all(f, 1);
	watchdog_release(&f->watchdog, &f->watchdog_pipe);
}

void ai_freezer_hooks(struct ai_freezer *f, struct ai_freeze_hooks *h)
{
	h->freeze = hook_freeze;
	h->thaw = hook_thaw;
	h->method = f->method;
	h->ctx = f;
}

void ai_freezer_close(struct ai_freezer *f)
{
	hook_thaw(f);
	if (f->state_fd >= 0)
		close(f->state_fd);
	if (f->events_fd >= 0)
		close(f->events_fd);
	f->state_fd = f->events_fd = -1;
}

/* ---- a pod: every container's cgroup frozen in one window, under one watchdog. */
static int set_freeze(void *ctx, ai_err_t *err)
{
	struct ai_freezer_set *s = ctx;
	if (!s->n)
		return ai_err_set(err, EBADF, "%s", s->why[0] ? s->why : "no freezer");
	if (watchdog_start(s->f, s->n, &s->watchdog, &s->watchdog_pipe, err) < 0)
		return -1;
	s->frozen = true;
	return freeze_all(s->f, s->n, s->hold_ms, err);
}

static void set_thaw(void *ctx)
{
	struct ai_freezer_set *s = ctx;
	thaw_all(s->f, s->n);
	s->frozen = false;
	watchdog_release(&s->watchdog, &s->watchdog_pipe);
}

int ai_freezer_set_open(int proc_fd, const pid_t *pids, size_t n, const char *cgroup_root,
			struct ai_freezer_set *s, ai_err_t *err)
{
	memset(s, 0, sizeof(*s));
	s->watchdog_pipe = -1;
	if (n > AI_MAX_CONTAINERS)
		return ai_err_set(err, E2BIG, "%zu containers", n);
	for (size_t i = 0; i < n; i++) {
		struct ai_freezer *f = &s->f[s->n];
		if (ai_freezer_open(proc_fd, pids[i], cgroup_root, f, err) < 0) {
			ai_freezer_set_close(s);
			return ai_err_wrap(err, "container %zu (pid %d)", i, (int)pids[i]);
		}
		/* two containers in one cgroup: frozen once */
		struct stat a, b;
		bool dup = false;
		for (size_t k = 0; k < s->n && fstat(f->state_fd, &a) == 0; k++)
			if (fstat(s->f[k].state_fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
				dup = true;
		if (dup)
			ai_freezer_close(f);
		else
			s->n++;
	}
	return 0;
}

void ai_freezer_set_hooks(struct ai_freezer_set *s, struct ai_freeze_hooks *h)
{
	h->freeze = set_freeze;
	h->thaw = set_thaw;
	h->method = s->n ? s->f[0].method : NULL;
	h->ctx = s;
}

void ai_freezer_set_close(struct ai_freezer_set *s)
{
	set_thaw(s);
	for (size_t i = 0; i < s->n; i++)
		ai_freezer_close(&s->f[i]);
	s->n = 0;
}
