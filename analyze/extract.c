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
#include "analyze/ckpt_criu.h"
#include "analyze/criu_files.h"
#include "analyze/model.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/hash.h"

static void write_freep(struct archive **a)
{
	if (*a)
		archive_write_free(*a);
}

/* A symlink's target that could point out of the tree: absolute, or climbing with "..". */
static bool unsafe_target(const char *t)
{
	return !t || !*t || az_name_unsafe(t);
}

#define STAGE_PREFIX ".partial-"

/* Remove the staging tree below dirfd's entry `name`, never following a symlink, holding one
 * directory fd at a time (a tree of 2,000 levels must not need 2,000 fds): descend by name, come
 * back up through "..". */
static int remove_tree(int top, const char *name)
{
	struct ai_buf path; /* the names from top down to cur, NUL-separated */
	ai_buf_init(&path);
	int cur = openat(top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cur < 0)
		return -1;
	int rc = 0;
	size_t depth = 0;
	for (;;) {
		int dup_fd = dup(cur);
		DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
		if (!d) {
			rc = -1;
			break;
		}
		rewinddir(d); /* the dup shares cur's offset */
		char sub[256] = "";
		size_t removed = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (unlinkat(cur, de->d_name, 0) == 0) {
				removed++;
				continue;
			}
			if (errno == EISDIR || errno == EPERM) {
				if (!sub[0])
					snprintf(sub, sizeof(sub), "%s", de->d_name);
				continue;
			}
			rc = -1;
		}
		closedir(d);
		if (sub[0] && rc == 0) {
			int nfd = openat(cur, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd < 0) {
				rc = -1;
				break;
			}
			close(cur);
			cur = nfd;
			ai_buf_add(&path, sub, strlen(sub) + 1);
			depth++;
			continue;
		}
		if (rc == 0 && removed)
			continue; /* entries removed while reading: read it again until it is empty */
		if (rc < 0 || depth == 0)
			break;
		/* cur is empty: up to its parent, and remove it there */
		int up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (up < 0) {
			rc = -1;
			break;
		}
		close(cur);
		cur = up;
		path.len--; /* the last name's NUL */
		size_t b = path.len;
		while (b > 0 && path.data[b - 1])
			b--;
		if (unlinkat(cur, path.data + b, AT_REMOVEDIR) < 0) {
			rc = -1;
			break;
		}
		path.len = b;
		depth--;
	}
	close(cur);
	ai_buf_free(&path);
	if (rc == 0 && unlinkat(top, name, AT_REMOVEDIR) < 0)
		rc = -1;
	return rc;
}

/* Move the staging dir's entries up into the output dir, then remove the staging dir. */
static int publish(int dfd, const char *stage, ai_err_t *err)
{
	int sfd = openat(dfd, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = sfd >= 0 ? fdopendir(sfd) : NULL;
	if (!d) {
		if (sfd >= 0)
			close(sfd);
		return ai_err_set(err, errno, "%s", stage);
	}
	struct dirent *de;
	int rc = 0;
	size_t moved;
	do { /* entries moved while reading: read it again until it is empty */
		moved = 0;
		rewinddir(d);
		while (rc == 0 && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (renameat2(dirfd(d), de->d_name, dfd, de->d_name, RENAME_NOREPLACE) < 0)
				rc = ai_err_set(err, errno, "move %s up from %s", de->d_name, stage);
			else
				moved++;
		}
	} while (rc == 0 && moved);
	closedir(d);
	if (rc == 0 && unlinkat(dfd, stage, AT_REMOVEDIR) < 0)
		rc = ai_err_set(err, errno, "remove %s", stage);
	return rc;
}

/* A CRIU ghost file (checkpoint/ghost-file-N.img, of a checkpoint archive or a bundle's CRIU
 * dump) holds the content of a deleted-but-open file after a header: that content is written
 * beside the members as fds/recovered/ghost-file-N, as a bundle's fds/recovered/ members are,
 * its holes left holes. false when name is no ghost image. */
static bool ghost_image(const char *name, char *out, size_t outlen)
{
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	static const char pre[] = "checkpoint/ghost-file-";
	if (strncmp(name, pre, sizeof(pre) - 1))
		return false;
	const char *n = name + sizeof(pre) - 1, *end = strstr(n, ".img");
	if (!end || end[4] || end == n || end - n > 8 || strspn(n, "0123456789abcdef") != (size_t)(end - n))
		return false;
	snprintf(out, outlen, "fds/recovered/ghost-file-%.*s", (int)(end - n), n);
	return true;
}

struct ghost_w {
	struct archive *w;
	uint64_t end;
};

static int ghost_end(void *ud, uint64_t off, const uint8_t *p, size_t len, ai_err_t *err)
{
	((struct ghost_w *)ud)->end = off + len;
	return 0;
}

static int ghost_piece(void *ud, uint64_t off, const uint8_t *p, size_t len, ai_err_t *err)
{
	struct ghost_w *g = ud;
	if (archive_write_data_block(g->w, p, len, (la_int64_t)off) != ARCHIVE_OK)
		return ai_err_set(err, 0, "%s", archive_error_string(g->w));
	return 0;
}

/* The ghost image's member (read whole, bounded), then its content as a file of its own: 1 when
 * written, 0 when the ghost is no regular file (no content), -1 (err set). */
static int extract_ghost(struct archive *a, struct archive *w, struct archive_entry *e, const char *out,
			 ai_err_t *err)
{
	const char *name = archive_entry_pathname(e);
	char *doc = NULL;
	size_t len;
	if (az_read_member(a, e, AZ_CK_MAX_GHOST + 4096, &doc, &len, err) < 0)
		return -1;
	int rc = 0;
	if (archive_write_header(w, e) != ARCHIVE_OK ||
	    (len && archive_write_data(w, doc, len) != (la_ssize_t)len) ||
	    archive_write_finish_entry(w) != ARCHIVE_OK)
		rc = ai_err_set(err, 0, "member %s: %s", name, archive_error_string(w));
	struct az_criu_ghost g;
	struct ghost_w gw = {w, 0};
	struct archive_entry *ce = archive_entry_new();
	if (!ce)
		abort();
	archive_entry_set_pathname(ce, out);
	archive_entry_set_filetype(ce, AE_IFREG);
	archive_entry_set_perm(ce, 0644);
	/* a first decode for the size (the pieces' end when the entry has none), a second writes */
	if (!rc && az_criu_ghost_read((const uint8_t *)doc, len, &g, ghost_end, &gw, err) < 0)
		rc = ai_err_wrap(err, "member %s", name);
	else if (!rc && g.have_size && g.size > AZ_CK_MAX_GHOST)
		rc = ai_err_set(err, 0, "member %s: a ghost file of %llu bytes, more than the limit of %u",
				name, (unsigned long long)g.size, AZ_CK_MAX_GHOST);
	else if (!rc && S_ISREG(g.mode)) {
		rc = 1;
		archive_entry_set_size(ce, (la_int64_t)(g.have_size ? g.size : gw.end));
		archive_entry_set_mtime(ce, g.mtime_ns / 1000000000, g.mtime_ns % 1000000000);
		if (archive_write_header(w, ce) != ARCHIVE_OK)
			rc = ai_err_set(err, 0, "%s: %s", out, archive_error_string(w));
		else if (az_criu_ghost_read((const uint8_t *)doc, len, &g, ghost_piece, &gw, err) < 0)
			rc = ai_err_wrap(err, "member %s", name);
		else if (archive_write_finish_entry(w) != ARCHIVE_OK)
			rc = ai_err_set(err, 0, "%s: %s", out, archive_error_string(w));
	}
	archive_entry_free(ce);
	free(doc);
	return rc;
}

static int extract_into(struct archive *a, struct archive *w, const char *bundle, size_t *count,
			ai_err_t *err)
{
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
		if (az_name_unsafe(name) || (hl && az_name_unsafe(hl))) {
			rc = ai_err_set(err, 0, "member %s: refused (absolute or '..' path)",
					name ? name : "(no name)");
			break;
		}
		if (!hl && ft != AE_IFREG && ft != AE_IFDIR && ft != AE_IFLNK) {
			rc =
			    ai_err_set(err, 0, "member %s: refused (not a file, directory or symlink)", name);
			break;
		}
		if (!hl && ft == AE_IFLNK && unsafe_target(archive_entry_symlink(e))) {
			const char *t = archive_entry_symlink(e);
			rc = ai_err_set(
			    err, 0,
			    "member %s: refused (a symlink to %s: absolute or '..' targets could lead "
			    "out of the tree)",
			    name, t ? t : "(none)");
			break;
		}
		char ghost[64];
		if (ft == AE_IFREG && !hl && ghost_image(name, ghost, sizeof(ghost))) {
			archive_entry_set_perm(e, archive_entry_perm(e) & 0755);
			int gr = extract_ghost(a, w, e, ghost, err);
			if (gr < 0) {
				rc = -1;
				break;
			}
			*count += 1 + (size_t)gr;
			continue;
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
	return rc;
}

/* Into OUTDIR/.partial-XXXXXX first; its entries move up into OUTDIR only when every member was
 * extracted. On an error the staging tree is removed (and OUTDIR too when extract created it), so
 * a failed extraction leaves nothing behind. */
int az_extract(const char *bundle, const char *outdir, size_t *count, ai_err_t *err)
{
	*count = 0;
	bool created = mkdir(outdir, 0700) == 0;
	if (!created && errno != EEXIST)
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
	char stage[64];
	int sfd = -1;
	for (int tries = 0; sfd < 0 && tries < 100; tries++) {
		uint8_t rnd[6];
		char hex[13];
		if (getentropy(rnd, sizeof(rnd)) < 0)
			return ai_err_set(err, errno, "getentropy");
		ai_hex(rnd, sizeof(rnd), hex);
		snprintf(stage, sizeof(stage), STAGE_PREFIX "%s", hex);
		if (mkdirat(dfd, stage, 0700) == 0)
			sfd = openat(dfd, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		else if (errno != EEXIST)
			return ai_err_set(err, errno, "mkdir %s/%s", outdir, stage);
	}
	if (sfd < 0)
		return ai_err_set(err, errno, "%s: no staging directory", outdir);
	int rc = 0;
	{
		struct archive *a cleanup_archive = NULL;
		struct archive *w __attribute__((cleanup(write_freep))) = NULL;
		cleanup_close int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cwd < 0)
			rc = ai_err_set(err, errno, "open .");
		else if (az_tar_open_file(&a, bundle, true, err) <
			 0) /* a checkpoint archive may be compressed */
			rc = -1;
		else if (!(w = archive_write_disk_new()))
			rc = ai_err_set(err, 0, "archive_write_disk_new");
		else if (fchdir(sfd) < 0)
			rc = ai_err_set(err, errno, "chdir %s/%s", outdir, stage);
		else {
			archive_write_disk_set_options(
			    w, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
				   ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_TIME |
				   ARCHIVE_EXTRACT_NO_OVERWRITE);
			rc = extract_into(a, w, bundle, count, err);
			if (fchdir(cwd) < 0 && rc == 0)
				rc = ai_err_set(err, errno, "chdir back");
		}
	}
	close(sfd);
	if (rc == 0)
		rc = publish(dfd, stage, err);
	if (rc < 0) {
		*count = 0;
		char why[sizeof(err->msg)];
		memcpy(why, err->msg, sizeof(why));
		if (remove_tree(dfd, stage) < 0)
			return ai_err_set(err, 0, "%s; the partial tree %s/%s could not be removed", why,
					  outdir, stage);
		if (created && unlinkat(AT_FDCWD, outdir, AT_REMOVEDIR) < 0)
			return ai_err_set(err, 0, "%s; the empty %s could not be removed", why, outdir);
	}
	return rc;
}
