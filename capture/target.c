/* Finding the target container: every process that shares the given pid's mount namespace,
 * each pinned by a /proc/PID dirfd plus a pidfd so a recycled pid is never mistaken for it. */
#include "capture/capture.h"
#include "common/cleanup.h"
#include "common/safeopen.h"
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int ai_ns_inode(int dirfd, const char *path, uint64_t *ino)
{
	char link[128];
	ssize_t n = readlinkat(dirfd, path, link, sizeof(link) - 1);
	if (n < 0)
		return -1;
	link[n] = '\0';
	char *lb = strchr(link, '[');
	if (!lb) {
		errno = EINVAL;
		return -1;
	}
	*ino = strtoull(lb + 1, NULL, 10);
	return 0;
}

static int ns_inode(int procfd, const char *ns, uint64_t *ino, ai_err_t *err)
{
	char path[64];
	snprintf(path, sizeof(path), "ns/%s", ns);
	if (ai_ns_inode(procfd, path, ino) < 0)
		return ai_err_set(err, errno, "namespace link %s", path);
	return 0;
}

bool ai_proc_alive(const struct ai_proc *p)
{
	if (p->pidfd < 0) {
		struct stat st;
		return fstatat(p->procfd, "stat", &st, 0) == 0;
	}
	return syscall(SYS_pidfd_send_signal, p->pidfd, 0, NULL, 0) == 0;
}

bool ai_proc_exited(const struct ai_proc *p)
{
	if (!ai_proc_alive(p))
		return true;
	/* A zombie is still alive to its pidfd: its state in stat says it exited. */
	char buf[1024];
	int fd = openat(p->procfd, "stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ESRCH || errno == ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 && errno == ESRCH;
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* pidfd first, then the /proc dirfd, then a liveness check: if the pid was recycled in
 * between, the pidfd refers to the dead process and the check fails. */
static int pin(int proc_fd, pid_t pid, struct ai_proc *out)
{
	char name[32];
	snprintf(name, sizeof(name), "%d", pid);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int procfd = openat(proc_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		if (pidfd >= 0)
			close(pidfd);
		return -1;
	}
	out->pid = pid;
	out->procfd = procfd;
	out->pidfd = pidfd;
	if (!ai_proc_alive(out)) {
		close(procfd);
		if (pidfd >= 0)
			close(pidfd);
		return -1;
	}
	return 0;
}

static int cmp_proc(const void *a, const void *b)
{
	const struct ai_proc *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* A container id is the 64-hex run the runtimes put in the cgroup path: the last one of its
 * first line (a pod's id comes before its containers': libpod_parent/<pod>/libpod-<ctr>,
 * kubepods/pod<uid>/<ctr>). */
static char *find_container_id(const char *cg)
{
	const char *last = NULL;
	for (const char *p = cg; *p && *p != '\n'; p++) {
		size_t n = 0;
		while (isxdigit((unsigned char)p[n]) && !isupper((unsigned char)p[n]))
			n++;
		if (n == 64)
			last = p;
		p += n ? n - 1 : 0;
	}
	return last ? strndup(last, 64) : NULL;
}

DIR *ai_proc_opendir(int proc_fd)
{
	int fd = openat(proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

pid_t ai_proc_pid(const char *name)
{
	char *end;
	long p = strtol(name, &end, 10);
	return *end || end == name || p <= 0 || p > INT_MAX ? 0 : (pid_t)p;
}

/* /proc/PID/cgroup needs no ptrace access: a process whose namespace links are refused is the
 * target's when it sits in the target's cgroup(s). */
static bool same_cgroup(int procfd, const char *cgroup)
{
	char *cg = NULL;
	size_t len;
	bool trunc;
	ai_err_t e;
	if (!cgroup || ai_read_small(procfd, "cgroup", 65536, &cg, &len, &trunc, &e) < 0)
		return false;
	bool same = !trunc && !strcmp(cg, cgroup);
	free(cg);
	return same;
}

int ai_target_open(int proc_fd, pid_t pid, size_t max, struct ai_target *t, uint64_t *netns, ai_err_t *err)
{
	struct ai_proc self;
	t->pid = pid;
	if (pin(proc_fd, pid, &self) < 0)
		return ai_err_set(err, errno == ENOENT || !errno ? ESRCH : errno, "target pid %d", pid);
	int r = ns_inode(self.procfd, "mnt", &t->mntns, err);
	if (r == 0)
		r = ns_inode(self.procfd, "net", netns, err);
	if (r == 0) {
		size_t len;
		bool trunc;
		if (ai_read_small(self.procfd, "cgroup", 65536, &t->cgroup, &len, &trunc, err) == 0)
			t->container_id = find_container_id(t->cgroup);
		else
			r = -1;
	}
	if (r < 0) {
		close(self.procfd);
		if (self.pidfd >= 0)
			close(self.pidfd);
		return ai_err_wrap(err, "target pid %d", pid);
	}
	/* The pid given is pinned first, whatever the maximum: its namespaces are the capture's. */
	self.ns_by_cgroup = false;
	t->procs = malloc(32 * sizeof(*t->procs));
	if (!t->procs) {
		close(self.procfd);
		if (self.pidfd >= 0)
			close(self.pidfd);
		return ai_err_set(err, ENOMEM, "process list");
	}
	t->procs[t->nprocs++] = self;

	uint64_t my_mntns = 0;
	{
		cleanup_close int me = openat(proc_fd, "self", O_PATH | O_DIRECTORY | O_CLOEXEC);
		ai_err_t e2;
		if (me >= 0)
			ns_inode(me, "mnt", &my_mntns, &e2);
	}
	if (my_mntns == t->mntns)
		return ai_err_set(err, 0, "pid %d shares our own mount namespace: not a container to capture",
				  pid);

	cleanup_closedir DIR *dir = ai_proc_opendir(proc_fd);
	if (!dir)
		return ai_err_set(err, errno, "open /proc");
	size_t cap_n = 32;
	struct dirent *de;
	while ((de = readdir(dir))) {
		pid_t p = ai_proc_pid(de->d_name);
		if (!p || p == getpid() || p == pid)
			continue;
		/* Past the maximum (or when pinning fails) only count: the link is read by path,
		 * holding no descriptor. */
		char nspath[64];
		snprintf(nspath, sizeof(nspath), "%d/ns/mnt", p);
		uint64_t ino = 0;
		if (t->nprocs >= max) {
			if (ai_ns_inode(proc_fd, nspath, &ino) == 0 && ino == t->mntns)
				t->nbeyond++;
			continue;
		}
		struct ai_proc pr;
		if (pin(proc_fd, p, &pr) < 0) {
			int e = errno;
			if (e != ENOENT && e != ESRCH && ai_ns_inode(proc_fd, nspath, &ino) == 0 &&
			    ino == t->mntns && !t->npin_failed++)
				t->pin_errno = e;
			continue; /* gone already, or not ours */
		}
		pr.ns_by_cgroup = false;
		ai_err_t e2;
		if (ns_inode(pr.procfd, "mnt", &ino, &e2) < 0)
			pr.ns_by_cgroup =
			    (e2.errnum == EACCES || e2.errnum == EPERM) && same_cgroup(pr.procfd, t->cgroup);
		if (!pr.ns_by_cgroup && ino != t->mntns) {
			close(pr.procfd);
			if (pr.pidfd >= 0)
				close(pr.pidfd);
			continue;
		}
		if (t->nprocs == cap_n) {
			size_t ncap = cap_n ? cap_n * 2 : 32;
			struct ai_proc *np = realloc(t->procs, ncap * sizeof(*np));
			if (!np) {
				close(pr.procfd);
				if (pr.pidfd >= 0)
					close(pr.pidfd);
				return ai_err_set(err, ENOMEM, "process list");
			}
			t->procs = np;
			cap_n = ncap;
		}
		t->procs[t->nprocs++] = pr;
	}
	if (!t->nprocs)
		return ai_err_set(err, ESRCH, "no process left in the mount namespace of pid %d", pid);
	qsort(t->procs, t->nprocs, sizeof(*t->procs), cmp_proc);
	return 0;
}

void ai_target_close(struct ai_target *t)
{
	for (size_t i = 0; i < t->nprocs; i++) {
		close(t->procs[i].procfd);
		if (t->procs[i].pidfd >= 0)
			close(t->procs[i].pidfd);
	}
	free(t->procs);
	free(t->cgroup);
	free(t->container_id);
	memset(t, 0, sizeof(*t));
}

const struct ai_proc *ai_target_main(const struct ai_target *t)
{
	for (size_t i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == t->pid)
			return &t->procs[i];
	return t->nprocs ? &t->procs[0] : NULL;
}

struct ai_container *ai_capture_ct(struct ai_capture *cap)
{
	return cap->cur < cap->ncontainers ? &cap->containers[cap->cur] : &cap->containers[0];
}

int ai_capture_member(const struct ai_capture *cap, char *out, size_t len, const char *fmt, ...)
{
	int n = snprintf(out, len, "%s", cap->prefix);
	if (n < 0 || (size_t)n >= len)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(out + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return m < 0 || (size_t)m >= len - (size_t)n ? -1 : n + m;
}

int ai_capture_add_index(struct ai_capture *cap, struct ai_json *j, struct ai_spool *doc, const char *name,
			 ai_err_t *err)
{
	ai_json_arr_end(j);
	ai_json_obj_end(j);
	ai_buf_addc(&doc->buf, '\n');
	if (ai_capture_stopping(cap))
		return ai_err_set(err, ECANCELED, "interrupted");
	char member[96];
	if (ai_capture_member(cap, member, sizeof(member), "%s", name) < 0)
		return ai_err_set(err, ENAMETOOLONG, "member name %s", name);
	return ai_bundle_add_spool(cap->bundle, member, doc, err);
}

/* The containers the running collector covers: [*lo, *hi). */
static void scope(const struct ai_capture *cap, size_t *lo, size_t *hi)
{
	*lo = cap->cur < cap->ncontainers ? cap->cur : 0;
	*hi = cap->cur < cap->ncontainers ? cap->cur + 1 : cap->ncontainers;
}

size_t ai_capture_nprocs(const struct ai_capture *cap)
{
	size_t n = 0, lo, hi;
	scope(cap, &lo, &hi);
	for (size_t c = lo; c < hi; c++)
		n += cap->containers[c].target.nprocs;
	return n;
}

const struct ai_proc *ai_capture_proc(const struct ai_capture *cap, size_t i, const struct ai_container **ct)
{
	size_t lo, hi;
	scope(cap, &lo, &hi);
	for (size_t c = lo; c < hi; c++) {
		const struct ai_target *t = &cap->containers[c].target;
		if (i < t->nprocs) {
			if (ct)
				*ct = &cap->containers[c];
			return &t->procs[i];
		}
		i -= t->nprocs;
	}
	return NULL;
}

void ai_overlay_free(struct ai_overlay *ov)
{
	free(ov->upperdir);
	free(ov->workdir);
	for (size_t i = 0; i < ov->nlower; i++)
		free(ov->lowerdirs[i]);
	free(ov->lowerdirs);
	free(ov->options);
	memset(ov, 0, sizeof(*ov));
}

int ai_overlay_copy(struct ai_overlay *dst, const struct ai_overlay *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->found = src->found;
	if ((src->upperdir && !(dst->upperdir = strdup(src->upperdir))) ||
	    (src->workdir && !(dst->workdir = strdup(src->workdir))) ||
	    (src->options && !(dst->options = strdup(src->options))))
		goto oom;
	if (src->nlower) {
		if (!(dst->lowerdirs = calloc(src->nlower, sizeof(char *))))
			goto oom;
		for (size_t i = 0; i < src->nlower; i++)
			if (!(dst->lowerdirs[dst->nlower++] = strdup(src->lowerdirs[i])))
				goto oom;
	}
	return 0;
oom:
	ai_overlay_free(dst);
	errno = ENOMEM;
	return -1;
}

void ai_container_fini(struct ai_container *ct)
{
	ai_target_close(&ct->target);
	ai_overlay_free(&ct->overlay);
	ct->overlay_hint = NULL;
}
