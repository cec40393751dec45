/* libarchive helpers shared by the analyzer's readers (input, bundle, checkpoint, OCI images,
 * verify, extract): opening a tar, the one set of read callbacks over an open file (hashing what
 * it reads, or seeking over what libarchive skips), a stream over a member of another archive, and
 * a member's data read with a bound. A leaf: it knows no format. */
#ifndef AZ_ARCHIVE_H
#define AZ_ARCHIVE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

struct archive;
struct archive_entry;
struct ai_hash;

void az_archive_freep(struct archive **a);
/* A member name (or a link target) that is not a relative path inside the archive: empty,
 * absolute, or with a ".." component. The bundle format never has one (docs/bundle-format.md):
 * verify fails such a member and extract refuses it. */
bool az_name_unsafe(const char *name);
#define cleanup_archive __attribute__((cleanup(az_archive_freep)))

/* A regular file opened read-only (never a FIFO or device); the fd, or -1 (err set). */
int az_open_regular(const char *path, ai_err_t *err);

/* A tar reader on a file by name (filters: also gzip/zstd/xz compressed). */
int az_tar_open_file(struct archive **out, const char *path, bool filters, ai_err_t *err);

/* libarchive's source over an open file, read in 64 KiB blocks. With hash set every byte read is
 * hashed and nothing is skipped by seeking (so the hash covers the file); without, data libarchive
 * skips is seeked over. Set fd and hash (the rest zeroed), then az_fdsrc_open. */
struct az_fdsrc {
	int fd;
	struct ai_hash *hash;
	uint64_t total; /* bytes read */
	int read_errno; /* of the first failed read, 0 when none */
	int64_t size;	/* of the file at open (-1: not a regular file): skips stop short of it */
	char buf[1 << 16];
};
/* Open a (formats and filters already chosen) over s: libarchive's status (ARCHIVE_OK ...). */
int az_fdsrc_open(struct archive *a, struct az_fdsrc *s);
/* Read (and hash) what libarchive left unread, to the end of the file: 0, or -1 (read_errno set). */
int az_fdsrc_drain(struct az_fdsrc *s);
/* A tar reader over s; err says "NAME: why" when the file is no archive libarchive reads. */
int az_tar_open_src(struct archive **out, struct az_fdsrc *s, const char *name, bool filters, ai_err_t *err);

/* libarchive's source over the current member of another archive (a tar inside a tar): nothing
 * touches the disk. s must stay put while the inner archive reads. */
struct az_membersrc {
	struct archive *outer;
	char buf[1 << 16];
};
int az_membersrc_open(struct archive *a, struct az_membersrc *s, struct archive *outer);

/* The regular member named member of the tar file at path, whole (at most max bytes, NUL-ended;
 * *len its length), freed by the caller; NULL when absent, larger or unreadable. One pass. */
char *az_tar_read_named(const char *path, const char *member, size_t max, size_t *len);
/* The current member's data into a NUL-terminated malloc'ed buffer, refusing more than max bytes. */
int az_read_member(struct archive *a, struct archive_entry *e, size_t max, char **out, size_t *outlen,
		   ai_err_t *err);

#endif
