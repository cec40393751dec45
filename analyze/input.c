#include "analyze/input.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "analyze/bundle.h"
#include "analyze/checkpoint.h"
#include "analyze/model.h"
#include "analyze/reader.h"
#include "common/buf.h"
#include "common/cleanup.h"

/* The input formats. A member two readers would claim goes to the first. */
static const struct az_input_ops *const readers[] = {
    &az_bundle_input,
    &az_checkpoint_input,
};
#define NREADERS (sizeof(readers) / sizeof(readers[0]))

/* The file, opened once; each pass over it is a fresh archive from offset 0. */
struct input {
	const char *path;
	int fd;
	struct az_fdsrc *src;
};

static void input_close(struct input *in)
{
	if (in->fd >= 0)
		close(in->fd);
	free(in->src);
}
#define cleanup_input __attribute__((cleanup(input_close)))

/* "not an afterimage bundle or checkpoint archive" */
static void say_not_any(struct ai_buf *b)
{
	ai_buf_adds(b, "not ");
	for (size_t i = 0; i < NREADERS; i++) {
		if (i)
			ai_buf_adds(b, i + 1 < NREADERS ? ", " : " or ");
		ai_buf_adds(b, i ? readers[i]->name : readers[i]->what);
	}
}

/* "PATH: not an afterimage bundle (no manifest.json, ...) nor a checkpoint archive (no ...)" */
static int none_of_them(const char *path, ai_err_t *err)
{
	cleanup_buf struct ai_buf b;
	ai_buf_init(&b);
	for (size_t i = 0; i < NREADERS; i++) {
		if (i)
			ai_buf_adds(&b, i + 1 < NREADERS ? ", " : " nor ");
		ai_buf_printf(&b, "%s (%s)", readers[i]->what, readers[i]->marks);
	}
	return ai_err_set(err, 0, "%s: not %s", path, ai_buf_cstr(&b));
}

static int input_open(struct input *in, const char *path, ai_err_t *err)
{
	in->path = path;
	in->src = calloc(1, sizeof(*in->src));
	if (!in->src)
		abort();
	in->fd = az_open_regular(path, err);
	return in->fd < 0 ? -1 : 0;
}

/* A pass over the whole file: plain, gzip, zstd or xz. */
static int input_pass(struct input *in, struct archive **a, ai_err_t *err)
{
	if (lseek(in->fd, 0, SEEK_SET) < 0)
		return ai_err_set(err, errno, "%s: seek", in->path);
	memset(in->src, 0, sizeof(*in->src));
	in->src->fd = in->fd;
	return az_tar_open_src(a, in->src, in->path, true, err);
}

static const struct az_input_ops *probe(struct archive *a, struct archive_entry *e,
					const struct az_input_ops *skip)
{
	for (size_t i = 0; i < NREADERS; i++)
		if (readers[i] != skip && readers[i]->probe(a, e))
			return readers[i];
	return NULL;
}

static const struct az_input_ops *claimant(const struct az_input *in, struct archive_entry *e)
{
	return probe(in->a, e, in->self);
}

/* Open the file and find its reader: the first to claim a member, in the archive's order. */
static int detect(struct input *in, const char *path, const struct az_input_ops **out, ai_err_t *err)
{
	cleanup_buf struct ai_buf not_any;
	ai_buf_init(&not_any);
	say_not_any(&not_any);
	ai_buf_adds(&not_any, " (a tar)");
	struct archive *a cleanup_archive = NULL;
	if (input_open(in, path, err) < 0 || input_pass(in, &a, err) < 0)
		return ai_err_wrap(err, "%s", ai_buf_cstr(&not_any));
	struct archive_entry *e;
	size_t count = 0;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (++count > AZ_MAX_MEMBERS)
			return ai_err_set(err, 0, "%s: more than %u members", path, AZ_MAX_MEMBERS);
		if (archive_entry_pathname(e) && (*out = probe(a, e, NULL)))
			return 0;
	}
	if (r != ARCHIVE_EOF)
		return ai_err_set(err, 0, "%s: unreadable archive after %zu members: %s", path, count,
				  archive_error_string(a) ? archive_error_string(a) : "error");
	return none_of_them(path, err);
}

/* ---- a sealed bundle (afterimage-capture seal): it holds no evidence of its own but files
 * another tool wrote, under sealed/; the first of them that is an archive of a format here (a
 * checkpoint archive) is read instead, as a nested stream over the member (nothing touches the
 * disk). The bundle's signature covers it: verify reads the bundle itself. */

struct nested {
	struct archive *a;
	struct az_membersrc *src;
};

static void nested_close(struct nested *n)
{
	if (n->a)
		archive_read_free(n->a);
	free(n->src);
	n->a = NULL;
	n->src = NULL;
}

static int nested_open(struct nested *n, struct archive *outer)
{
	n->src = malloc(sizeof(*n->src));
	n->a = archive_read_new();
	if (!n->src || !n->a)
		abort();
	archive_read_support_format_tar(n->a);
	archive_read_support_filter_all(n->a);
	return az_membersrc_open(n->a, n->src, outer) == ARCHIVE_OK ? 0 : -1;
}

static bool sealed_name(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	return name && archive_entry_filetype(e) == AE_IFREG && !strncmp(name, "sealed/", 7) && name[7];
}

/* The index (among the outer members) of the first sealed member some reader claims, and it. */
static int sealed_find(struct input *in, size_t *index, const struct az_input_ops **r, ai_err_t *err)
{
	struct archive *a cleanup_archive = NULL;
	if (input_pass(in, &a, err) < 0)
		return -1;
	struct archive_entry *e;
	for (size_t i = 0; i < AZ_MAX_MEMBERS && archive_read_next_header(a, &e) == ARCHIVE_OK; i++) {
		if (!sealed_name(e))
			continue;
		struct nested n = {0};
		struct archive_entry *ie;
		*r = NULL;
		if (nested_open(&n, a) == 0)
			for (size_t k = 0;
			     k < AZ_MAX_MEMBERS && !*r && archive_read_next_header(n.a, &ie) == ARCHIVE_OK;
			     k++)
				if (archive_entry_pathname(ie))
					*r = probe(n.a, ie, NULL);
		nested_close(&n);
		if (*r) {
			*index = i;
			return 1;
		}
	}
	return 0;
}

static int sealed_load(struct input *in, struct az_model *m, ai_err_t *err)
{
	size_t index;
	const struct az_input_ops *r;
	int f = sealed_find(in, &index, &r, err);
	if (f <= 0)
		return f;
	struct archive *a cleanup_archive = NULL;
	if (input_pass(in, &a, err) < 0)
		return -1;
	struct archive_entry *e = NULL;
	for (size_t i = 0; i <= index; i++)
		if (archive_read_next_header(a, &e) != ARCHIVE_OK)
			return ai_err_set(err, 0, "%s: the sealed member went away on a second read",
					  in->path);
	cleanup_buf struct ai_buf what;
	ai_buf_init(&what);
	ai_buf_printf(&what, "%s: %s", in->path, archive_entry_pathname(e));
	struct nested n = {0};
	struct az_model inner;
	memset(&inner, 0, sizeof(inner));
	int rc = -1;
	if (nested_open(&n, a) < 0)
		ai_err_set(err, 0, "%s: %s", ai_buf_cstr(&what),
			   archive_error_string(n.a) ? archive_error_string(n.a) : "cannot open");
	else {
		struct az_input ai = {.path = ai_buf_cstr(&what), .a = n.a, .self = r, .claimant = claimant};
		rc = r->load(&ai, &inner, err);
		if (rc == AZ_INPUT_NONE)
			rc = ai_err_set(err, 0, "%s: not %s after all", ai_buf_cstr(&what), r->what);
	}
	if (rc == 0)
		az_str_set(&inner.ck.sealed_member, archive_entry_pathname(e),
			   strlen(archive_entry_pathname(e)));
	nested_close(&n);
	if (rc < 0) {
		az_model_free(&inner);
		return -1;
	}
	az_model_free(m);
	*m = inner;
	return 1;
}

int az_model_load(struct az_model *m, const char *path, ai_err_t *err)
{
	memset(m, 0, sizeof(*m));
	struct input in cleanup_input = {.fd = -1};
	const struct az_input_ops *r;
	if (detect(&in, path, &r, err) < 0)
		return -1;
	struct archive *a cleanup_archive = NULL;
	if (input_pass(&in, &a, err) < 0)
		return -1;
	struct az_input ai = {.path = path, .a = a, .self = r, .claimant = claimant};
	int rc = r->load(&ai, m, err);
	if (rc == AZ_INPUT_NONE)
		return none_of_them(path, err);
	if (rc == 0 && r == &az_bundle_input && m->man.trigger.s && !strcmp(m->man.trigger.s, "seal") &&
	    sealed_load(&in, m, err) < 0)
		return -1;
	return rc;
}

const char *az_input_unsigned(const char *path)
{
	struct input in cleanup_input = {.fd = -1};
	const struct az_input_ops *r;
	ai_err_t err;
	return detect(&in, path, &r, &err) < 0 ? NULL : r->unsigned_why;
}
