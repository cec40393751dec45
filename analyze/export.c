/* extract BUNDLE --member PATH -o DIR: one recovered file written under its original name (the
 * basename of the path the container knew it by) inside DIR, beside NAME.manifest.json with the
 * member, its sha256 (of the bytes written) and its origin. Never follows or replaces anything:
 * DIR is opened O_DIRECTORY|O_NOFOLLOW, the files are created O_EXCL|O_NOFOLLOW inside it. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "analyze/export.h"
#include "common/hash.h"
#include "common/json.h"

/* The path the container knew the member by, and what it was ("exe of pid N", ...). */
static const struct az_str *original(const struct az_model *m, const char *member, char *what, size_t wl)
{
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].exe_member.s && !strcmp(m->procs[i].exe_member.s, member)) {
			snprintf(what, wl, "exe of pid %" PRId64 "%s", m->procs[i].pid,
				 m->procs[i].exe_memfd	   ? " (memfd)"
				 : m->procs[i].exe_deleted ? " (deleted)"
							   : "");
			return &m->procs[i].exe;
		}
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i].rec_member.s && !strcmp(m->fds[i].rec_member.s, member)) {
			snprintf(what, wl, "open file of pid %" PRId64 " fd %" PRId64 "%s", m->fds[i].pid,
				 m->fds[i].fd,
				 m->fds[i].memfd     ? " (memfd)"
				 : m->fds[i].deleted ? " (deleted)"
						     : "");
			return &m->fds[i].target;
		}
	for (size_t i = 0; i < m->nupper; i++)
		if (m->upper[i].member.s && !strcmp(m->upper[i].member.s, member)) {
			snprintf(what, wl, "upperdir file");
			return &m->upper[i].path;
		}
	return NULL;
}

/* A safe file name from a path: its last component without " (deleted)"; NULL if unusable. */
static char *safe_name(const char *p, size_t len)
{
	static const char suf[] = " (deleted)";
	if (len >= sizeof(suf) - 1 && !memcmp(p + len - (sizeof(suf) - 1), suf, sizeof(suf) - 1))
		len -= sizeof(suf) - 1;
	const char *b = p;
	for (size_t i = 0; i < len; i++)
		if (p[i] == '/')
			b = p + i + 1;
	size_t bl = (size_t)(p + len - b);
	if (!bl || bl > 200 || (bl == 1 && b[0] == '.') || (bl == 2 && !memcmp(b, "..", 2)))
		return NULL;
	for (size_t i = 0; i < bl; i++)
		if ((unsigned char)b[i] < 0x20 || b[i] == 0x7f)
			return NULL;
	return strndup(b, bl);
}

static int write_all(int dfd, const char *name, const char *data, size_t len, ai_err_t *err)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ai_err_set(err, errno, "%s", name);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n <= 0) {
			int e = errno;
			close(fd);
			unlinkat(dfd, name, 0);
			return ai_err_set(err, e, "write %s", name);
		}
		off += (size_t)n;
	}
	if (close(fd) < 0)
		return ai_err_set(err, errno, "close %s", name);
	return 0;
}

static int read_member(const char *bundle, const char *member, char **out, size_t *len, ai_err_t *err)
{
	cleanup_archive struct archive *a = NULL;
	if (az_tar_open_file(&a, bundle, true, err) < 0)
		return -1;
	struct archive_entry *e;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		if (n && !strcmp(n, member) && archive_entry_filetype(e) == AE_IFREG)
			return az_read_member(a, e, AZ_MAX_JSON_MEMBER, out, len, err);
	}
	return ai_err_set(err, 0, "%s: no member %s", bundle, member);
}

static int write_with_manifest(int dfd, const char *name, const char *member, const char *data, size_t len,
			       const struct az_str *orig, const char *what, ai_err_t *err)
{
	char sha[AI_SHA256_HEXLEN];
	cleanup_buf struct ai_buf mb;
	ai_buf_init(&mb);
	int rc = -1;
	if (ai_sha256_hex(data, len, sha, err) == 0) {
		struct ai_json j;
		ai_json_init(&j, &mb);
		ai_json_obj_begin(&j);
		ai_json_kstr(&j, "file", name);
		ai_json_kstr(&j, "member", member);
		ai_json_kstr(&j, "sha256", sha);
		ai_json_kint(&j, "size", (int64_t)len);
		ai_json_key(&j, "original_path");
		if (orig && orig->s)
			ai_json_strn(&j, orig->s, orig->len);
		else
			ai_json_null(&j);
		ai_json_kstr(&j, "origin", what);
		ai_json_obj_end(&j);
		ai_buf_addc(&mb, '\n');
		char mname[256];
		snprintf(mname, sizeof(mname), "%s.manifest.json", name);
		if (write_all(dfd, name, data, len, err) == 0 &&
		    write_all(dfd, mname, mb.data, mb.len, err) == 0)
			rc = 0;
	}
	return rc;
}

int az_export_member(const struct az_model *m, const char *bundle, const char *member, const char *outdir,
		     char **written, ai_err_t *err)
{
	char what[128] = "member";
	const struct az_str *orig = original(m, member, what, sizeof(what));
	char *name = orig && orig->s ? safe_name(orig->s, orig->len) : NULL;
	if (!name)
		name = safe_name(member, strlen(member));
	if (!name)
		return ai_err_set(err, 0, "%s: no usable file name", member);
	char *data = NULL;
	size_t len = 0;
	int rc = -1;
	if (read_member(bundle, member, &data, &len, err) < 0)
		goto out;
	if (mkdir(outdir, 0700) < 0 && errno != EEXIST) {
		ai_err_set(err, errno, "%s", outdir);
		goto out;
	}
	int dfd = open(outdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		ai_err_set(err, errno, "%s", outdir);
		goto out;
	}
	rc = write_with_manifest(dfd, name, member, data, len, orig, what, err);
	close(dfd);
out:
	free(data);
	if (rc == 0)
		*written = name;
	else
		free(name);
	return rc;
}
