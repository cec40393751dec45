/* afterimage-capture serve: the sidecar. One thread waits in epoll on everything that can
 * happen (HTTP clients, trigger-socket clients, SIGTERM through a signalfd, the target's exit
 * through its pidfd, the capture worker's eventfd, per-client timeouts as timerfds); nothing
 * wakes it while idle. A capture runs in one worker thread; triggers that arrive while it runs
 * wait for it and get its result (coalescing). This file sets it up, runs the loop and shuts
 * down; serve.h says where the rest lives. */
#include "capture/serve.h"
#include "common/cleanup.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

void ai_srv_fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int ai_srv_ep_add(struct server *s, int fd, uint32_t events, struct ev *e, ai_err_t *err)
{
	struct epoll_event ee = {.events = events, .data.ptr = e};
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ee) < 0)
		return ai_err_set(err, errno, "epoll_ctl");
	return 0;
}

void ai_srv_arm_timer(int tfd, unsigned ms)
{
	struct itimerspec it = {.it_value = {ms / 1000, (long)(ms % 1000) * 1000000}};
	timerfd_settime(tfd, 0, &it, NULL);
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

/* The socket's directory (/run/afterimage by default, missing on a plain host): created 0700
 * when missing, its last component only, never through a symlink there. */
static int socket_dir(const char *path, ai_err_t *err)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;
	if (!slash || slash == path || (size_t)(slash - path) >= sizeof(dir))
		return 0;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (stat(dir, &st) == 0 || errno != ENOENT)
		return 0; /* there (bind says if it is not a directory) */
	char *last = strrchr(dir, '/');
	const char *parent = ".";
	if (last == dir)
		parent = "/";
	else if (last)
		parent = dir;
	if (last)
		*last++ = '\0';
	else
		last = dir;
	cleanup_close int pfd = open(parent, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0 && errno == ENOENT)
		return ai_err_set(
		    err, 0,
		    "--socket %s: the socket's directory is missing and so is %s (create the directory, "
		    "or pass --socket with another path, or --socket none)",
		    path, parent);
	if (pfd < 0)
		return ai_err_set(err, errno,
				  "--socket %s: opening %s to create the socket's directory in it", path,
				  parent);
	if (mkdirat(pfd, last, 0700) < 0 && errno != EEXIST)
		return ai_err_set(err, errno, "--socket %s: creating its directory %s in %s", path, last,
				  parent);
	return 0;
}

/* What is at the socket's path before we bind: nothing; a socket nobody listens on (left by a
 * serve that died: removed, unless it was replaced meanwhile); a socket someone listens on
 * (another serve: refused, untouched); anything else (never ours: refused, untouched). */
static int unix_path_free(const char *path, const struct sockaddr_un *sa, ai_err_t *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : ai_err_set(err, errno, "--socket %s", path);
	if (!S_ISSOCK(st.st_mode))
		return ai_err_set(
		    err, 0,
		    "--socket %s: a file that is not a socket is there; it is left alone (remove "
		    "it, or pass another --socket)",
		    path);
	cleanup_close int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return ai_err_set(err, errno, "socket");
	/* EAGAIN: a listener whose backlog is full, alive all the same */
	if (connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN)
		return ai_err_set(err, 0,
				  "--socket %s: another serve is listening on it (stop that one, or pass "
				  "another --socket)",
				  path);
	if (errno != ECONNREFUSED)
		return ai_err_set(err, errno, "--socket %s: probing the socket there", path);
	struct stat again;
	if (lstat(path, &again) == 0 && again.st_dev == st.st_dev && again.st_ino == st.st_ino &&
	    unlink(path) < 0 && errno != ENOENT)
		return ai_err_set(err, errno, "--socket %s: removing the stale socket", path);
	return 0;
}

/* Bind the trigger socket; *bound gets the inode created, the only one serve ever unlinks. */
static int listen_unix(const char *path, struct stat *bound, ai_err_t *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return ai_err_set(err, 0, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	if (socket_dir(path, err) < 0)
		return -1;
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ai_err_set(err, errno, "socket");
	if (unix_path_free(path, &sa, err) < 0)
		return -1;
	mode_t old = umask(0077);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 && errno == EADDRINUSE)
		return ai_err_set(err, errno,
				  "--socket %s: taken while serve was starting (another serve?); left alone",
				  path);
	if (r < 0)
		return ai_err_set(err, errno, "bind %s", path);
	if (lstat(path, bound) < 0 || !S_ISSOCK(bound->st_mode))
		return ai_err_set(err, errno, "--socket %s: not there after bind", path);
	if (listen(fd, 64) < 0) {
		ai_err_set(err, errno, "listen %s", path);
		struct stat st;
		if (lstat(path, &st) == 0 && st.st_dev == bound->st_dev && st.st_ino == bound->st_ino)
			unlink(path); /* the socket we just made */
		return -1;
	}
	return steal_fd(&fd);
}

/* Unlink the trigger socket only when what is at the path is still the inode we bound. */
static void unlink_ours(const struct server *s)
{
	struct stat st;
	if (s->sock_bound && lstat(s->o->socket_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
		unlink(s->o->socket_path);
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
		ai_srv_conn_free(s, s->conns);
	ai_srv_target_forget(s);
	int *fds[] = {&s->proc_fd, &s->ep, &s->lfd, &s->ufd, &s->sfd, &s->wfd, &s->rtfd, &s->gtfd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		ai_srv_fd_close(fds[i]);
	unlink_ours(s);
}

static int server_init(struct server *s, ai_err_t *err)
{
	const struct ai_serve_opts *o = s->o;
	s->e_listen = (struct ev){K_LISTEN};
	s->e_ulisten = (struct ev){K_ULISTEN};
	s->e_signal = (struct ev){K_SIGNAL};
	s->e_target = (struct ev){K_TARGET};
	s->e_worker = (struct ev){K_WORKER};
	s->e_redisc = (struct ev){K_REDISCOVER};
	s->e_grace = (struct ev){K_GRACE};
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
	if (ai_srv_ep_add(s, s->sfd, EPOLLIN, &s->e_signal, err) < 0 ||
	    ai_srv_ep_add(s, s->wfd, EPOLLIN, &s->e_worker, err) < 0 ||
	    ai_srv_ep_add(s, s->rtfd, EPOLLIN, &s->e_redisc, err) < 0 ||
	    ai_srv_ep_add(s, s->gtfd, EPOLLIN, &s->e_grace, err) < 0)
		return -1;
	if (o->listen) {
		s->lfd = listen_tcp(o->listen, err);
		if (s->lfd < 0 || ai_srv_ep_add(s, s->lfd, EPOLLIN, &s->e_listen, err) < 0)
			return -1;
	}
	if (o->socket_path) {
		struct stat bound;
		s->ufd = listen_unix(o->socket_path, &bound, err);
		if (s->ufd < 0)
			return -1;
		s->sock_bound = true;
		s->sock_dev = bound.st_dev;
		s->sock_ino = bound.st_ino;
		if (ai_srv_ep_add(s, s->ufd, EPOLLIN, &s->e_ulisten, err) < 0)
			return -1;
	}
	ai_err_t derr;
	if (ai_srv_target_find(s, &derr) < 0) {
		ai_srv_log(s, "waiting", ai_srv_fill_msg, derr.msg);
		ai_srv_schedule_rediscover(s);
	}
	if (o->harden && ai_harden(o->memory != AI_MEMORY_OFF, err) < 0)
		return -1;
	ai_srv_log(s, "listening", fill_listening, s);
	if (s->have_target && o->baseline) {
		s->baseline_done = true;
		if (ai_srv_capture_start(s, "baseline", "", err) < 0)
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
		ai_srv_log(s, "signal", ai_srv_fill_msg,
			   si.ssi_signo == SIGTERM  ? "SIGTERM"
			   : si.ssi_signo == SIGINT ? "SIGINT"
						    : "SIGHUP");
		/* capture once if nothing of this target was captured yet (a baseline does not count) */
		if (!s->capturing && !s->target_captured) {
			ai_err_t err;
			if (ai_srv_capture_start(s, "sigterm", "", &err) < 0)
				ai_srv_log(s, "error", ai_srv_fill_msg, err.msg);
			else
				s->waiters = 0;
		}
		if (s->capturing)
			ai_srv_arm_timer(s->gtfd, s->o->grace_ms);
	}
}

/* One of the events that live in struct server (not a connection's, which may be freed). */
static bool own_event(const struct server *s, const struct ev *e)
{
	return e == &s->e_listen || e == &s->e_ulisten || e == &s->e_signal || e == &s->e_target ||
	       e == &s->e_worker || e == &s->e_redisc || e == &s->e_grace;
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
			ai_idle_trim();
			s.trim_pending = false;
		}
		int n = epoll_wait(s.ep, evs, 32, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = ai_err_set(err, errno, "epoll_wait");
			break;
		}
		for (int i = 0; i < n && ret == 0; i++) {
			struct ev *e = evs[i].data.ptr;
			if (!own_event(&s, e)) {
				ai_srv_conn_dispatch(&s, e);
				continue;
			}
			switch (e->kind) {
			case K_LISTEN:
				ai_srv_accept(&s, s.lfd, false);
				break;
			case K_ULISTEN:
				ai_srv_accept(&s, s.ufd, true);
				break;
			case K_SIGNAL:
				on_signal(&s);
				break;
			case K_TARGET:
				if (s.pidfd >= 0)
					ai_srv_target_exited(&s);
				break;
			case K_WORKER:
				ai_srv_worker_done(&s);
				break;
			case K_REDISCOVER:
				ai_srv_rediscover(&s);
				break;
			case K_GRACE:
				if (s.capturing)
					ret = ai_err_set(err, ETIMEDOUT,
							 "grace period over with the capture still running");
				break;
			case K_CONN:
			case K_TIMER:
				break; /* dispatched above */
			}
		}
	}
	if (ret < 0 && s.capturing) {
		/* Leaving with the worker mid-capture: the process exits, the watchdog thaws. */
		ai_srv_log(&s, "error", ai_srv_fill_msg, err->msg);
		return ret;
	}
	ai_srv_proto_log_pending(&s);
	ai_srv_pool_log_pending(&s);
	ai_srv_log(&s, "exit", NULL, NULL);
	server_fini(&s);
	return ret;
}
