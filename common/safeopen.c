#include "common/safeopen.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

bool ai_safe_openat_force_fallback;

/* Walk component by component: each intermediate is a directory opened O_NOFOLLOW, so a
 * symlink anywhere fails with ELOOP/ENOTDIR exactly as RESOLVE_NO_SYMLINKS would. */
static int walk_fallback(int dirfd, const char *path, int flags, ai_err_t *err)
{
	cleanup_free char *copy = strdup(path);
	if (!copy)
		return ai_err_set(err, ENOMEM, "safe open");
	cleanup_close int cur = -1;
	int base = dirfd;
	char *save = NULL;
	char *comp = strtok_r(copy, "/", &save);
	if (!comp)
		return ai_err_set(err, EINVAL, "empty path");
	for (;;) {
		char *next = strtok_r(NULL, "/", &save);
		if (strcmp(comp, "..") == 0)
			return ai_err_set(err, EXDEV, "'..' in path %s", path);
		if (!next) {
			int fd = openat(base, comp, flags | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return ai_err_set(err, errno, "open %s", path);
			return fd;
		}
		if (strcmp(comp, ".") != 0) {
			int nfd = openat(base, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0)
				return ai_err_set(err, errno, "open %s (component %s)", path, comp);
			if (cur >= 0)
				close(cur);
			cur = nfd;
			base = cur;
		}
		comp = next;
	}
}

int ai_safe_openat(int dirfd, const char *path, int flags, ai_err_t *err)
{
	while (*path == '/')
		path++; /* always relative to dirfd: the root is the caller's */
	if (!*path)
		path = ".";
	if (!ai_safe_openat_force_fallback) {
		struct open_how how = {
		    .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
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
	return walk_fallback(dirfd, path, flags, err);
}

int ai_open_regular(int dirfd, const char *name, const struct stat *expect, ai_err_t *err)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
	int fd = openat(dirfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership or CAP_FOWNER */
		fd = openat(dirfd, name, flags);
	if (fd < 0)
		return ai_err_set(err, errno, "open");
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ai_err_set(err, e, "fstat");
	}
	if (!S_ISREG(st.st_mode) ||
	    (expect && (st.st_dev != expect->st_dev || st.st_ino != expect->st_ino))) {
		close(fd);
		return ai_err_set(err, 0, "changed under us (not the regular file seen before)");
	}
	return fd;
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
