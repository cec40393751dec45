#include "common/safeopen.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

bool ai_safe_openat_force_fallback;

/* Whether any '/'-separated component of path is "..". */
static bool has_dotdot(const char *path)
{
	for (const char *p = path; *p;) {
		const char *e = strchrnul(p, '/');
		if (e - p == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p = *e ? e + 1 : e;
	}
	return false;
}

/* The id of the mount fd lives on (statx STATX_MNT_ID, Linux 5.8); st_dev where the kernel
 * does not report it, which still tells filesystems apart. */
static int mount_id(int fd, uint64_t *id)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
		return -1;
	if (stx.stx_mask & STATX_MNT_ID)
		*id = stx.stx_mnt_id;
	else
		*id = ((uint64_t)stx.stx_dev_major << 32) | stx.stx_dev_minor;
	return 0;
}

/* The fallback's RESOLVE_NO_XDEV: fd must be on the mount the walk started on. */
static int same_mount(int fd, bool check, uint64_t want, const char *path, ai_err_t *err)
{
	if (!check)
		return 0;
	uint64_t id;
	if (mount_id(fd, &id) < 0)
		return ai_err_set(err, errno, "statx %s", path);
	if (id != want)
		return ai_err_set(err, EXDEV, "open %s: crosses a mount point", path);
	return 0;
}

/* Walk component by component: each intermediate is a directory opened O_NOFOLLOW, so a
 * symlink anywhere fails with ELOOP/ENOTDIR exactly as RESOLVE_NO_SYMLINKS would. */
static int walk_fallback(int dirfd, const char *path, int flags, unsigned safe_flags, ai_err_t *err)
{
	cleanup_free char *copy = strdup(path);
	if (!copy)
		return ai_err_set(err, ENOMEM, "safe open");
	bool xdev = safe_flags & AI_SAFE_NO_XDEV;
	uint64_t mnt = 0;
	if (xdev && mount_id(dirfd, &mnt) < 0)
		return ai_err_set(err, errno, "statx (the walk's root)");
	cleanup_close int cur = -1;
	int base = dirfd;
	char *save = NULL;
	char *comp = strtok_r(copy, "/", &save);
	if (!comp)
		return ai_err_set(err, EINVAL, "empty path");
	for (;;) {
		char *next = strtok_r(NULL, "/", &save);
		if (!next) {
			cleanup_close int fd = openat(base, comp, flags | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return ai_err_set(err, errno, "open %s", path);
			if (same_mount(fd, xdev, mnt, path, err) < 0)
				return -1;
			return steal_fd(&fd);
		}
		if (strcmp(comp, ".") != 0) {
			int nfd = openat(base, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0)
				return ai_err_set(err, errno, "open %s (component %s)", path, comp);
			if (cur >= 0)
				close(cur);
			cur = nfd;
			base = cur;
			if (same_mount(cur, xdev, mnt, path, err) < 0)
				return -1;
		}
		comp = next;
	}
}

int ai_safe_openat(int dirfd, const char *path, int flags, ai_err_t *err)
{
	return ai_safe_openat2(dirfd, path, flags, 0, err);
}

int ai_safe_openat2(int dirfd, const char *path, int flags, unsigned safe_flags, ai_err_t *err)
{
	while (*path == '/')
		path++; /* always relative to dirfd: the root is the caller's */
	if (!*path)
		path = ".";
	/* openat2's RESOLVE_BENEATH accepts a ".." that stays beneath; the walk cannot tell. One
	 * meaning for both: no ".." at all (paths from a hostile tree never need one). */
	if (has_dotdot(path))
		return ai_err_set(err, EXDEV, "'..' in path %s", path);
	if (!ai_safe_openat_force_fallback) {
		struct open_how how = {
		    .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			       ((safe_flags & AI_SAFE_NO_XDEV) ? RESOLVE_NO_XDEV : 0),
		};
		if (flags & O_CREAT)
			how.mode = 0600;
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS && errno != EPERM)
			return ai_err_set(err, errno, "open %s", path);
		/* ENOSYS: old kernel; EPERM: a seccomp filter (e.g. a container runtime's) that
		 * does not know openat2. Both are what the fallback is for. */
	}
	return walk_fallback(dirfd, path, flags, safe_flags, err);
}

int ai_open_regular(int dirfd, const char *name, const struct stat *expect, ai_err_t *err)
{
	/* First an O_PATH descriptor, which opens nothing for I/O: a FIFO swapped in after the
	 * caller's fstatat is never opened (opening one for reading would release a writer blocked
	 * on it), and a device's open handler never runs. Only once fstat on that descriptor says it
	 * is the regular file expected is it reopened for reading, through /proc/self/fd: the same
	 * inode, whatever the name points at by then. */
	cleanup_close int pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return ai_err_set(err, errno, "open");
	struct stat st;
	if (fstat(pfd, &st) < 0)
		return ai_err_set(err, errno, "fstat");
	if (!S_ISREG(st.st_mode) || (expect && (st.st_dev != expect->st_dev || st.st_ino != expect->st_ino)))
		return ai_err_set(err, 0, "changed under us (not the regular file seen before)");
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
	int fd = open(self, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership or CAP_FOWNER */
		fd = open(self, flags);
	if (fd < 0)
		return ai_err_set(err, errno, "reopen for reading");
	struct stat st2;
	if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
		close(fd);
		return ai_err_set(err, 0, "changed under us (reopened another file)");
	}
	return fd;
}

int ai_open_secret(const char *path, const char *what, bool allow_loose_mode, ai_err_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return ai_err_set(err, errno, "%s %s", what, path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ai_err_set(err, errno, "%s %s", what, path);
	if (!S_ISREG(st.st_mode))
		return ai_err_set(err, 0, "%s %s: not a regular file", what, path);
	if ((st.st_mode & 077) && !allow_loose_mode)
		return ai_err_set(err, 0,
				  "%s %s: mode %04o lets group or others read or write it; chmod 600 it "
				  "(or pass --allow-loose-secret-mode)",
				  what, path, (unsigned)(st.st_mode & 07777));
	/* reads block as usual from here: O_NONBLOCK only kept a FIFO from hanging the open */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return steal_fd(&fd);
}

int ai_read_small(int dirfd, const char *name, size_t max, char **out, size_t *outlen, bool *truncated,
		  ai_err_t *err)
{
	cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return ai_err_set(err, errno, "open %s", name);
	/* Read up to max + 1 bytes: the extra byte tells whether there was more. */
	size_t cap = 4096, len = 0;
	cleanup_free char *buf = malloc(cap + 1);
	if (!buf)
		return ai_err_set(err, ENOMEM, "read %s", name);
	while (len <= max) {
		if (len == cap) {
			size_t ncap = cap * 2;
			if (ncap > max + 1)
				ncap = max + 1;
			char *n = realloc(buf, ncap + 1);
			if (!n)
				return ai_err_set(err, ENOMEM, "read %s", name);
			buf = n;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ai_err_set(err, errno, "read %s", name);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	bool trunc = len > max;
	if (trunc)
		len = max;
	buf[len] = '\0';
	*out = steal_pointer(&buf);
	if (outlen)
		*outlen = len;
	if (truncated)
		*truncated = trunc;
	return 0;
}

int ai_readlinkat(int dirfd, const char *name, char **out, size_t *outlen, ai_err_t *err)
{
	for (size_t sz = 256; sz <= 65536; sz *= 2) {
		cleanup_free char *buf = malloc(sz);
		if (!buf)
			return ai_err_set(err, ENOMEM, "readlink %s", name);
		ssize_t n = readlinkat(dirfd, name, buf, sz);
		if (n < 0)
			return ai_err_set(err, errno, "readlink %s", name);
		if ((size_t)n < sz) {
			buf[n] = '\0';
			if (outlen)
				*outlen = (size_t)n;
			*out = steal_pointer(&buf);
			return 0;
		}
	}
	return ai_err_set(err, ENAMETOOLONG, "readlink %s", name);
}
