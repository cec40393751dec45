/* Running criu: find it on PATH, build the command line of a request (what runc's checkpoint
 * passes, less what would write into the target), fork and exec it with a timeout, and the
 * runner that does the same for a hardened serve. */
#include "capture/criurun.h"
#include "capture/mountinfo.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CRIU_PROBE_TIMEOUT_MS 60000
/* The last resort against a hung dump; CRIU's own --timeout bounds its freezing well before. */
#define CRIU_DUMP_TIMEOUT_MS 600000
#define CRIU_DEFAULT_PATH    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#define CRIU_MOUNTINFO_MAX (1u << 20) /* bytes read of a mountinfo */

/* The runner's end of the socket pair, -1 when criu is run directly (ai_criu_runner_start). */
static int runner_fd = -1;

/* The first criu on PATH: absolute directories only (a relative PATH entry names whatever the
 * current directory holds), a regular executable file. */
bool ai_criu_find(char *out, size_t len)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = CRIU_DEFAULT_PATH;
	for (const char *p = path; *p;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		struct stat st;
		if (n && p[0] == '/' && snprintf(out, len, "%.*s/criu", (int)n, p) < (int)len &&
		    stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return true;
		p += n + (e ? 1 : 0);
	}
	return false;
}

/* Child side of spawn, between fork and execve: async-signal-safe calls only. The capture's
 * blocked signals (serve's signalfd) and ignored SIGPIPE are not criu's. */
static void __attribute__((noreturn))
child(const char *path, char *const argv[], char *const envp[], int devnull, int outfd)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigaction(SIGPIPE, &dfl, NULL);
	/* a session of its own: a Ctrl-C meant for the capture must not interrupt a dump halfway
	 * (the capture abandons the bundle after criu has left the tree running) */
	setsid();
	if (dup2(devnull, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
		_exit(126);
	syscall(SYS_close_range, 3u, ~0u, 0u);
	execve(path, argv, envp);
	_exit(127);
}

/* Wait for the child at most timeout_ms, then SIGKILL it (only a hung criu: docs/memory.md). */
static void reap(pid_t pid, unsigned timeout_ms, struct ai_criu_reply *rep)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		int n;
		do
			n = poll(&p, 1, (int)timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
			rep->timed_out = true;
		}
		close(pfd);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rep->status = status;
}

/* A path criu can open for one of our directory fds, whatever the output directory is called. */
static void fd_path(char *out, size_t len, int fd)
{
	snprintf(out, len, "/proc/%d/fd/%d", (int)getpid(), fd);
}

/* Read a mountinfo into a static buffer (one user at a time); its length, 0 when unreadable. */
static size_t read_mountinfo(const char *path, char *buf)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;
	while (fd >= 0 && len < CRIU_MOUNTINFO_MAX && (n = read(fd, buf + len, CRIU_MOUNTINFO_MAX - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

/* Calls fn for each parsed line of a mountinfo held in buf (parsed in place). */
static void each_mount(char *buf, size_t len, void (*fn)(void *ctx, const struct ai_mountinfo *m), void *ctx)
{
	for (char *p = buf, *end = buf + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct ai_mountinfo m;
		ai_err_t err;
		if (ai_mountinfo_parse_line(p, l, &m, &err) == 0)
			fn(ctx, &m);
		p += l + 1;
	}
}

struct devs {
	uint64_t dev[4096];
	size_t n;
};

static void add_dev(void *ctx, const struct ai_mountinfo *m)
{
	struct devs *d = ctx;
	if (d->n < sizeof(d->dev) / sizeof(d->dev[0]))
		d->dev[d->n++] = (uint64_t)m->major << 32 | m->minor;
}

struct ext_walk {
	const struct devs *host;
	struct ai_criu_argv *a;
	size_t n;
};

/* A container mount of a filesystem the capture's own mount namespace also has mounted: a bind
 * from the host (/etc/hosts, /dev/shm, a volume, a cgroup v1 hierarchy). The root is the
 * container's own even when the host mounted it (the overlay). Mount points CRIU's KEY:VAL
 * syntax cannot carry are left to --ext-mount-map auto. */
static void add_ext(void *ctx, const struct ai_mountinfo *m)
{
	struct ext_walk *w = ctx;
	uint64_t dev = (uint64_t)m->major << 32 | m->minor;
	bool host = false;
	for (size_t i = 0; i < w->host->n && !host; i++)
		host = w->host->dev[i] == dev;
	const char *mp = m->mount_point.s;
	size_t l = m->mount_point.len;
	if (!host || w->n >= AI_CRIU_MAX_EXT || l < 2 || l > 256 || strlen(mp) != l || strpbrk(mp, ":,"))
		return;
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)mp[i] < 0x21 || mp[i] == 0x7f)
			return;
	snprintf(w->a->ext[w->n++], sizeof(w->a->ext[0]), "%s:%s", mp, mp);
}

/* The container's external mounts, keyed by their mount point as runc's checkpoint keys them
 * (so runc's and Podman's restore map them again); how many are in a->ext. */
static size_t ext_mounts(pid_t pid, struct ai_criu_argv *a)
{
	static char buf[CRIU_MOUNTINFO_MAX + 1];
	static struct devs host;
	host.n = 0;
	size_t len = read_mountinfo("/proc/self/mountinfo", buf);
	each_mount(buf, len, add_dev, &host);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	len = read_mountinfo(path, buf);
	struct ext_walk w = {.host = &host, .a = a};
	each_mount(buf, len, add_ext, &w);
	return w.n;
}

/* The argv of one request, as runc's and Podman's checkpoints ask a dump of a container, less
 * what would change the target: no --link-remap (it links deleted files back into the
 * container's filesystem; ghost files are copied instead, up to the deleted-open file cap), no
 * network lock (firewall rules written into the target's network namespace). */
void ai_criu_build_argv(const char *criu, const struct ai_criu_req *q, const char *images, const char *work,
			struct ai_criu_argv *a)
{
	size_t n = 0;
	const char **argv = a->argv;
	argv[n++] = criu;
	if (q->op == AI_CRIU_VERSION) {
		argv[n++] = "--version";
	} else if (q->op == AI_CRIU_CHECK) {
		argv[n++] = "check";
	} else {
		snprintf(a->pid, sizeof(a->pid), "%d", (int)q->pid);
		snprintf(a->ghost, sizeof(a->ghost), "%llu", (unsigned long long)q->ghost_limit);
		static const char *const fixed[] = {"-v4",
						    "--leave-running",
						    "--tcp-established",
						    "--network-lock",
						    "skip",
						    "--file-locks",
						    "--enable-external-sharing",
						    "--enable-external-masters",
						    "--manage-cgroups=props",
						    "--timeout",
						    "10"};
		const char *const head[] = {"dump",	"--tree",	 a->pid,  "--images-dir",
					    images,	"--work-dir",	 work,	  "--log-file",
					    "dump.log", "--ghost-limit", a->ghost};
		for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
			argv[n++] = head[i];
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			argv[n++] = fixed[i];
		size_t next = ext_mounts(q->pid, a);
		for (size_t i = 0; i < next; i++) {
			argv[n++] = "--ext-mount-map";
			argv[n++] = a->ext[i];
		}
		argv[n++] = "--ext-mount-map"; /* whatever is left: CRIU finds it, with a key of its own */
		argv[n++] = "auto";
		if (q->shell_job)
			argv[n++] = "--shell-job";
	}
	argv[n] = NULL;
}

/* Run criu for q here: stdin /dev/null, stdout and stderr into out_fd. Used by the capture
 * itself, and by the runner for a hardened serve. */
static void exec_local(const struct ai_criu_req *q, int images_fd, int work_fd, int out_fd,
		       struct ai_criu_reply *rep)
{
	static char criu[4096], pathenv[4200], images[64], work[64];
	static struct ai_criu_argv a;
	memset(rep, 0, sizeof(*rep));
	if (!ai_criu_find(criu, sizeof(criu))) {
		rep->spawn_failed = 1;
		rep->spawn_errno = ENOENT;
		return;
	}
	const char *path = getenv("PATH");
	snprintf(pathenv, sizeof(pathenv), "PATH=%s", path && *path ? path : CRIU_DEFAULT_PATH);
	char *const envp[] = {pathenv, "LANG=C", NULL}; /* nothing else of ours: no secret leaks */
	fd_path(images, sizeof(images), images_fd);
	fd_path(work, sizeof(work), work_fd);
	ai_criu_build_argv(criu, q, images, work, &a);
	cleanup_close int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t pid = devnull >= 0 ? fork() : -1;
	if (pid == 0)
		child(criu, (char *const *)a.argv, envp, devnull, out_fd);
	if (pid < 0) {
		rep->spawn_failed = 1;
		rep->spawn_errno = errno;
		return;
	}
	reap(pid, q->op == AI_CRIU_DUMP ? CRIU_DUMP_TIMEOUT_MS : CRIU_PROBE_TIMEOUT_MS, rep);
}

/* The request to the runner and its reply: q with the three descriptors, then a criu_reply. */
static int ask_runner(const struct ai_criu_req *q, int images_fd, int work_fd, int out_fd,
		      struct ai_criu_reply *rep)
{
	int fds[3] = {images_fd, work_fd, out_fd};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(fds))];
	} c;
	memset(&c, 0, sizeof(c));
	struct iovec iov = {.iov_base = (void *)q, .iov_len = sizeof(*q)};
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	if (sendmsg(runner_fd, &m, MSG_NOSIGNAL) != (ssize_t)sizeof(*q))
		return -1;
	ssize_t n;
	do
		n = recv(runner_fd, rep, sizeof(*rep), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*rep))
		return -1;
	return 0;
}

/* The runner: one request at a time from the capture process, until it closes its end. It never
 * has a seccomp filter: the kernel refuses PTRACE_O_SUSPEND_SECCOMP, which CRIU needs on a
 * target with a filter, to a tracer that has one (docs/sidecar.md). */
static void __attribute__((noreturn)) runner_main(int sk)
{
	for (;;) {
		struct ai_criu_req q;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(3 * sizeof(int))];
		} c;
		struct iovec iov = {.iov_base = &q, .iov_len = sizeof(q)};
		struct msghdr m = {
		    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
		ssize_t n = recvmsg(sk, &m, MSG_CMSG_CLOEXEC);
		if (n == 0 || (n < 0 && errno != EINTR))
			_exit(0);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		int fds[3] = {-1, -1, -1};
		bool good = n == (ssize_t)sizeof(q) && cm && cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(fds));
		if (cm && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len >= CMSG_LEN(0))
			memcpy(fds, CMSG_DATA(cm),
			       cm->cmsg_len - CMSG_LEN(0) < sizeof(fds) ? cm->cmsg_len - CMSG_LEN(0)
									: sizeof(fds));
		struct ai_criu_reply rep = {.spawn_failed = 1, .spawn_errno = EINVAL};
		if (good && q.op < AI_CRIU_NOPS && (q.op != AI_CRIU_DUMP || q.pid > 0))
			exec_local(&q, fds[0], fds[1], fds[2], &rep);
		for (int i = 0; i < 3; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (n > 0)
			send(sk, &rep, sizeof(rep), MSG_NOSIGNAL);
	}
}

int ai_criu_runner_start(ai_err_t *err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return ai_err_set(err, errno, "socketpair for the CRIU runner");
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return ai_err_set(err, errno, "fork the CRIU runner");
	}
	if (pid == 0) {
		/* nothing of the server's: no descriptor but the socket (and no secret: serve forks it
		 * before reading the token and the key) */
		if (dup2(sv[1], 3) < 0)
			_exit(1);
		syscall(SYS_close_range, 4u, ~0u, 0u);
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		runner_main(3);
	}
	close(sv[1]);
	runner_fd = sv[0];
	return 0;
}

void ai_criu_exec(const struct ai_criu_req *q, int images_fd, int work_fd, int out_fd,
		  struct ai_criu_reply *rep)
{
	if (runner_fd < 0) {
		exec_local(q, images_fd, work_fd, out_fd, rep);
		return;
	}
	if (ask_runner(q, images_fd, work_fd, out_fd, rep) < 0) {
		int e = errno ? errno : EPIPE;
		memset(rep, 0, sizeof(*rep));
		rep->spawn_failed = 1;
		rep->spawn_errno = e;
	}
}
