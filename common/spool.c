#include "common/spool.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

void ai_spool_init(struct ai_spool *s, int dirfd)
{
	ai_buf_init(&s->buf);
	s->dirfd = dirfd;
	s->fd = -1;
	s->spilled = 0;
	s->errnum = 0;
}

int ai_spool_tmpfile(int dirfd)
{
	/* O_EXCL: the file can never be linked into the directory later. */
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT))
		return fd;
	for (int tries = 0; tries < 16; tries++) {
		uint8_t r[8];
		if (getrandom(r, sizeof(r), 0) != sizeof(r))
			return -1;
		char name[64];
		snprintf(name, sizeof(name), ".afterimage-spool.%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
			 r[2], r[3], r[4], r[5], r[6], r[7]);
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			unlinkat(dirfd, name, 0);
			return fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

static int spill(struct ai_spool *s)
{
	if (s->fd < 0 && (s->fd = ai_spool_tmpfile(s->dirfd)) < 0)
		return -1;
	const char *p = s->buf.data;
	size_t left = s->buf.len;
	while (left) {
		ssize_t n = write(s->fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		left -= (size_t)n;
		s->spilled += (uint64_t)n;
	}
	return 0;
}

void ai_spool_drain(struct ai_spool *s)
{
	if (s->buf.len < AI_SPOOL_CHUNK)
		return;
	if (!s->errnum && spill(s) < 0)
		s->errnum = errno ? errno : EIO;
	ai_buf_reset(&s->buf);
}

uint64_t ai_spool_size(const struct ai_spool *s)
{
	return s->spilled + s->buf.len;
}

int ai_spool_check(const struct ai_spool *s, const char *what, ai_err_t *err)
{
	if (s->errnum)
		return ai_err_set(err, s->errnum, "%s: spooling to the output directory", what);
	return 0;
}

int ai_spool_read(const struct ai_spool *s, uint64_t off, void *out, size_t len, size_t *got, ai_err_t *err)
{
	*got = 0;
	if (off < s->spilled) {
		uint64_t left = s->spilled - off;
		size_t want = left < len ? (size_t)left : len;
		for (;;) {
			ssize_t n = pread(s->fd, out, want, (off_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return ai_err_set(err, errno, "reading the spool back");
			if (n == 0)
				return ai_err_set(err, EIO, "the spool ended early");
			*got = (size_t)n;
			return 0;
		}
	}
	uint64_t in = off - s->spilled;
	if (in < s->buf.len) {
		size_t left = s->buf.len - (size_t)in;
		*got = left < len ? left : len;
		memcpy(out, s->buf.data + in, *got);
	}
	return 0;
}

void ai_spool_free(struct ai_spool *s)
{
	ai_buf_free(&s->buf);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->spilled = 0;
}
