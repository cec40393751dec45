/* Safe file access in hostile trees: never follow a symlink, never leave the root. */
#ifndef AI_SAFEOPEN_H
#define AI_SAFEOPEN_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include "common/err.h"

/* Open a multi-component relative path beneath dirfd with no symlink in any component
 * (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS, or a component walk with
 * O_NOFOLLOW when openat2 is missing). flags as for openat. Both modes mean the same: a ".."
 * component anywhere is refused (EXDEV) before anything is opened, even one that would stay
 * beneath dirfd ("a/b/../b/f"), and a leading "/" is taken relative to dirfd. */
int ai_safe_openat(int dirfd, const char *path, int flags, ai_err_t *err);

/* Resolution flags for ai_safe_openat2. */
enum {
	/* Stay on dirfd's mount: crossing any mount point (another filesystem or a bind mount of the
	 * same one) fails with EXDEV, as RESOLVE_NO_XDEV does; the fallback compares mount ids. */
	AI_SAFE_NO_XDEV = 1 << 0,
};
int ai_safe_openat2(int dirfd, const char *path, int flags, unsigned safe_flags, ai_err_t *err);
/* Force the component-walk fallback (tests prove it behaves the same). */
extern bool ai_safe_openat_force_fallback;

/* Open a single name in dirfd as a regular file for reading: O_NOFOLLOW|O_NONBLOCK, O_NOATIME
 * when permitted, and re-check with fstat that it is a regular file (and, when expect is given,
 * the same dev/ino). Never opens FIFOs or devices. Returns fd or -1. */
int ai_open_regular(int dirfd, const char *name, const struct stat *expect, ai_err_t *err);

/* Open a secret (a private key, a bearer token) named on the command line for reading. Symlinks
 * are followed (Kubernetes mounts secrets through ..data links); a FIFO, device or directory is
 * refused without blocking (O_NONBLOCK, then fstat), and so is a file that group or others may
 * read or write, as ssh refuses such keys, unless allow_loose_mode. what names it in messages. */
int ai_open_secret(const char *path, const char *what, bool allow_loose_mode, ai_err_t *err);

/* Read at most max bytes of a small (proc) file into a NUL-terminated malloc'ed buffer.
 * *truncated set when the file was larger. */
int ai_read_small(int dirfd, const char *name, size_t max, char **out, size_t *outlen, bool *truncated,
		  ai_err_t *err);
/* readlinkat into a malloc'ed NUL-terminated buffer of any length up to 64 KiB. */
int ai_readlinkat(int dirfd, const char *name, char **out, size_t *outlen, ai_err_t *err);

#endif
