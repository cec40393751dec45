#include "analyze/archive.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/hash.h"

void az_archive_freep(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}

int az_open_regular(const char *path, ai_err_t *err)
{
	/* O_NONBLOCK: a FIFO put in the file's place cannot hang the open */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return ai_err_set(err, errno, "%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		ai_err_set(err, errno, "%s", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ai_err_set(err, 0, "%s: not a regular file", path);
	}
	return fd;
}

/* libarchive's errno rides along when it has one (a file it could not read). */
static int open_failed(struct archive *a, const char *name, ai_err_t *err)
{
	/* libarchive's own codes are not errnos: ARCHIVE_ERRNO_FILE_FORMAT is EILSEQ ("Invalid or
	 * incomplete multibyte or wide character" as strerror puts it) and ARCHIVE_ERRNO_PROGRAMMER is
	 * EINVAL; its message says what is wrong. Only a real system error is appended. */
	int e = archive_errno(a);
	if (e == EILSEQ || e == EINVAL || e < 0)
		e = 0;
	ai_err_set(err, e, "%s: %s", name, archive_error_string(a) ? archive_error_string(a) : "cannot open");
	archive_read_free(a);
	return -1;
}

int az_tar_open_file(struct archive **out, const char *path, bool filters, ai_err_t *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return ai_err_set(err, 0, "archive_read_new failed");
	archive_read_support_format_tar(a);
	if (filters)
		archive_read_support_filter_all(a);
	if (archive_read_open_filename(a, path, 64 * 1024) != ARCHIVE_OK)
		return open_failed(a, path, err);
	*out = a;
	return 0;
}

static la_ssize_t fdsrc_read(struct archive *a, void *ud, const void **out)
{
	struct az_fdsrc *s = ud;
	for (;;) {
		ssize_t n = read(s->fd, s->buf, sizeof(s->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!s->read_errno)
				s->read_errno = errno;
			if (a)
				archive_set_error(a, errno, "read error");
			return -1;
		}
		if (s->hash)
			ai_hash_update(s->hash, s->buf, (size_t)n);
		s->total += (uint64_t)n;
		*out = s->buf;
		return n;
	}
}

/* Never past the end: a seek there succeeds and would hide a truncated archive. 0 makes libarchive
 * read over the data instead (also for a pipe, or a seek that failed). */
static la_int64_t fdsrc_skip(struct archive *a, void *ud, la_int64_t req)
{
	struct az_fdsrc *s = ud;
	off_t cur = lseek(s->fd, 0, SEEK_CUR);
	if (cur < 0 || s->size < 0 || req > s->size - cur || lseek(s->fd, req, SEEK_CUR) < 0)
		return 0;
	return req;
}

int az_fdsrc_open(struct archive *a, struct az_fdsrc *s)
{
	struct stat st;
	s->size = fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
	archive_read_set_read_callback(a, fdsrc_read);
	if (!s->hash)
		archive_read_set_skip_callback(a, fdsrc_skip);
	archive_read_set_callback_data(a, s);
	return archive_read_open1(a);
}

int az_fdsrc_drain(struct az_fdsrc *s)
{
	const void *dummy;
	la_ssize_t n;
	while ((n = fdsrc_read(NULL, s, &dummy)) > 0)
		;
	return n < 0 ? -1 : 0;
}

int az_tar_open_src(struct archive **out, struct az_fdsrc *s, const char *name, bool filters, ai_err_t *err)
{
	struct archive *a = archive_read_new();
	if (!a)
		return ai_err_set(err, 0, "archive_read_new failed");
	archive_read_support_format_tar(a);
	if (filters)
		archive_read_support_filter_all(a);
	if (az_fdsrc_open(a, s) != ARCHIVE_OK)
		return open_failed(a, name, err);
	*out = a;
	return 0;
}

static la_ssize_t membersrc_read(struct archive *a, void *ud, const void **out)
{
	struct az_membersrc *s = ud;
	la_ssize_t n = archive_read_data(s->outer, s->buf, sizeof(s->buf));
	if (n < 0) {
		const char *e = archive_error_string(s->outer);
		archive_set_error(a, -1, "outer archive: %s", e ? e : "read error");
		return -1;
	}
	*out = s->buf;
	return n;
}

int az_membersrc_open(struct archive *a, struct az_membersrc *s, struct archive *outer)
{
	s->outer = outer;
	return archive_read_open(a, s, NULL, membersrc_read, NULL);
}

int az_read_member(struct archive *a, struct archive_entry *e, size_t max, char **out, size_t *outlen,
		   ai_err_t *err)
{
	const char *name = archive_entry_pathname(e);
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > (la_int64_t)max)
		return ai_err_set(err, 0, "member %s: %lld bytes, more than the limit of %zu",
				  name ? name : "?", (long long)archive_entry_size(e), max);
	struct ai_buf b cleanup_buf;
	ai_buf_init(&b);
	char chunk[65536];
	for (;;) {
		la_ssize_t n = archive_read_data(a, chunk, sizeof(chunk));
		if (n < 0)
			return ai_err_set(err, 0, "member %s: %s", name ? name : "?",
					  archive_error_string(a));
		if (n == 0)
			break;
		if (b.len + (size_t)n > max)
			return ai_err_set(err, 0, "member %s: more than the limit of %zu bytes",
					  name ? name : "?", max);
		ai_buf_add(&b, chunk, (size_t)n);
	}
	ai_buf_cstr(&b);
	*outlen = b.len;
	*out = ai_buf_steal(&b);
	if (!*out) {
		*out = strdup("");
		if (!*out)
			abort();
	}
	return 0;
}

bool az_name_unsafe(const char *p)
{
	if (!p || !*p || p[0] == '/')
		return true;
	for (const char *s = p; *s;) {
		const char *e = strchr(s, '/');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		if (l == 2 && s[0] == '.' && s[1] == '.')
			return true;
		s += l + (e ? 1 : 0);
	}
	return false;
}

char *az_tar_read_named(const char *path, const char *member, size_t max, size_t *len)
{
	ai_err_t err;
	cleanup_archive struct archive *a = NULL;
	if (!path || az_tar_open_file(&a, path, true, &err) < 0)
		return NULL;
	struct archive_entry *e;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		if (!n || strcmp(n, member) || archive_entry_filetype(e) != AE_IFREG)
			continue;
		char *out = NULL;
		return az_read_member(a, e, max, &out, len, &err) < 0 ? NULL : out;
	}
	return NULL;
}
