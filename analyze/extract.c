#include "analyze/extract.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "analyze/model.h"
#include "common/cleanup.h"

static void write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

static bool unsafe_name(const char *p)
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

static int restore_cwd(int fd)
{
	return fchdir(fd);
}

int az_extract(const char *bundle, const char *outdir, size_t *count, ai_err_t *err)
{
	*count = 0;
	if (mkdir(outdir, 0700) < 0 && errno != EEXIST)
		return ai_err_set(err, errno, "mkdir %s", outdir);
	cleanup_close int dfd = open(outdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return ai_err_set(err, errno, "%s", outdir);
	{
		int dup_fd = dup(dfd);
		DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
		if (!d)
			return ai_err_set(err, errno, "%s", outdir);
		struct dirent *de;
		bool empty = true;
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		closedir(d);
		if (!empty)
			return ai_err_set(err, 0,
					  "%s: not empty (extract writes only into a new or empty directory)",
					  outdir);
	}
	struct archive *a cleanup_archive = NULL;
	if (az_tar_open_file(&a, bundle, false, err) < 0)
		return -1;
	struct archive *w __attribute__((cleanup(write_freep))) = archive_write_disk_new();
	if (!w)
		return ai_err_set(err, 0, "archive_write_disk_new");
	archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
					      ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_TIME |
					      ARCHIVE_EXTRACT_NO_OVERWRITE);
	cleanup_close int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0)
		return ai_err_set(err, errno, "open .");
	if (fchdir(dfd) < 0)
		return ai_err_set(err, errno, "chdir %s", outdir);
	int rc = 0;
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (*count >= AZ_MAX_MEMBERS) {
			rc = ai_err_set(err, 0, "more than %u members", AZ_MAX_MEMBERS);
			break;
		}
		const char *name = archive_entry_pathname(e);
		const char *hl = archive_entry_hardlink(e);
		unsigned ft = archive_entry_filetype(e);
		if (unsafe_name(name) || (hl && unsafe_name(hl))) {
			rc = ai_err_set(err, 0, "member %s: refused (absolute or '..' path)",
					name ? name : "(no name)");
			break;
		}
		if (!hl && ft != AE_IFREG && ft != AE_IFDIR && ft != AE_IFLNK) {
			rc =
			    ai_err_set(err, 0, "member %s: refused (not a file, directory or symlink)", name);
			break;
		}
		/* never setuid/setgid/sticky, never world-writable in the analyst's tree */
		archive_entry_set_perm(e, archive_entry_perm(e) & 0755);
		if (ft == AE_IFDIR)
			archive_entry_set_perm(e, 0755);
		if (archive_write_header(w, e) != ARCHIVE_OK) {
			rc = ai_err_set(err, 0, "member %s: %s", name, archive_error_string(w));
			break;
		}
		if (ft == AE_IFREG && !hl) {
			const void *buf;
			size_t size;
			la_int64_t off;
			int rr;
			while ((rr = archive_read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
				if (archive_write_data_block(w, buf, size, off) != ARCHIVE_OK) {
					rr = ARCHIVE_FATAL;
					break;
				}
			if (rr != ARCHIVE_EOF) {
				rc = ai_err_set(err, 0, "member %s: %s", name,
						archive_error_string(w) ? archive_error_string(w)
									: archive_error_string(a));
				break;
			}
		}
		if (archive_write_finish_entry(w) != ARCHIVE_OK) {
			rc = ai_err_set(err, 0, "member %s: %s", name, archive_error_string(w));
			break;
		}
		(*count)++;
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = ai_err_set(err, 0, "%s: %s", bundle, archive_error_string(a));
	if (rc == 0 && archive_write_close(w) != ARCHIVE_OK)
		rc = ai_err_set(err, 0, "close: %s", archive_error_string(w));
	if (restore_cwd(cwd) < 0 && rc == 0)
		rc = ai_err_set(err, errno, "chdir back");
	return rc;
}
