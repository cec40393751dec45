/* The afterimage bundle reader (see bundle.h). */
#include "analyze/bundle.h"
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/archive.h"
#include "analyze/util.h"
#include "common/bundle.h"
#include "common/cleanup.h"

static const struct {
	const char *name;
	int have;
	int (*read)(struct az_model *, const char *, size_t, ai_err_t *);
} members[] = {
    {AI_M_MANIFEST, AZ_HAVE_MANIFEST, az_manifest_read},
    {AI_M_PROCESSES, AZ_HAVE_PROCS, az_processes_read},
    {AI_M_FDS, AZ_HAVE_FDS, az_fds_read},
    {AI_M_SOCKETS, AZ_HAVE_SOCKS, az_sockets_read},
    {AI_M_MOUNTS, AZ_HAVE_MOUNTS, az_mounts_read},
    {AI_M_UPPER_IDX, AZ_HAVE_UPPER, az_upper_read},
};
#define NMEMBERS (sizeof(members) / sizeof(members[0]))

/* The evidence member e is, or -1. */
static int member_of(struct archive_entry *e)
{
	const char *name = archive_entry_pathname(e);
	if (!name || archive_entry_filetype(e) != AE_IFREG)
		return -1;
	for (size_t i = 0; i < NMEMBERS; i++)
		if (!strcmp(name, members[i].name))
			return (int)i;
	return -1;
}

/* Any evidence member marks a bundle, and so do its sums and their signature (verify's subject:
 * a bundle that is nothing else still verifies, or fails to, as a bundle). */
static bool bundle_probe(struct archive *a, struct archive_entry *e)
{
	(void)a;
	if (member_of(e) >= 0)
		return true;
	const char *name = archive_entry_pathname(e);
	return archive_entry_filetype(e) == AE_IFREG &&
	       (!strcmp(name, AI_M_SUMS) || !strcmp(name, AI_M_SUMS_SIG));
}

static int bundle_load(const struct az_input *in, struct az_model *m, ai_err_t *err)
{
	struct archive_entry *e;
	size_t count = 0;
	int r;
	while ((r = archive_read_next_header(in->a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (++count > AZ_MAX_MEMBERS)
			return ai_err_set(err, 0, "%s: more than %u members", in->path, AZ_MAX_MEMBERS);
		int i = member_of(e);
		if (i < 0)
			continue;
		if (m->have[members[i].have])
			return ai_err_set(err, 0, "%s: member %s appears twice", in->path, members[i].name);
		cleanup_free char *doc = NULL;
		size_t len;
		if (az_read_member(in->a, e, AZ_MAX_JSON_MEMBER, &doc, &len, err) < 0 ||
		    members[i].read(m, doc, len, err) < 0)
			return ai_err_wrap(err, "%s", in->path);
		m->have[members[i].have] = true;
	}
	if (r != ARCHIVE_EOF)
		return ai_err_set(err, 0, "%s: unreadable archive after %zu members: %s", in->path, count,
				  archive_error_string(in->a) ? archive_error_string(in->a) : "error");
	if (!m->have[AZ_HAVE_MANIFEST] && !m->have[AZ_HAVE_PROCS] && !m->have[AZ_HAVE_UPPER])
		return AZ_INPUT_NONE;
	return 0;
}

const struct az_input_ops az_bundle_input = {
    .name = "afterimage bundle",
    .what = "an afterimage bundle",
    .marks = "no manifest.json, processes.json or fs/upper.json",
    .probe = bundle_probe,
    .load = bundle_load,
    .unsigned_why = NULL, /* verify checks its signatures */
};

static int manifest_member(void *ud, json_t *e, size_t i, ai_err_t *err)
{
	(void)ud, (void)e, (void)i, (void)err;
	return 0; /* the member list is verify's (verify.c) */
}

static int manifest_other(void *ud, const char *key, json_t *v, ai_err_t *err)
{
	struct az_manifest *x = ud;
	json_t *o cleanup_json = json_object(); /* the az_j_* getters on the lone member */
	if (!o || json_object_set(o, key, v) < 0)
		abort();
	struct az_str *s = !strcmp(key, "name")	       ? &x->name
			   : !strcmp(key, "bundle_id") ? &x->bundle_id
			   : !strcmp(key, "host")      ? &x->host
			   : !strcmp(key, "kernel")    ? &x->kernel
			   : !strcmp(key, "trigger")   ? &x->trigger
						       : NULL;
	if (s && az_j_str(o, key, s, err) < 0)
		return ai_err_wrap(err, "%s", AI_M_MANIFEST);
	if (!strcmp(key, "target") && json_is_object(v)) {
		if (az_j_str(v, "container_id", &x->container_id, err) < 0 ||
		    az_j_str(v, "image_id", &x->image_id, err) < 0 ||
		    az_j_str(v, "image_digest", &x->image_digest, err) < 0)
			return ai_err_wrap(err, "%s", AI_M_MANIFEST);
		x->target_pid = az_j_int(v, "pid", -1);
	}
	if (!strcmp(key, "started_ns"))
		x->started_ns = az_j_int(o, key, 0);
	else if (!strcmp(key, "ended_ns"))
		x->ended_ns = az_j_int(o, key, 0);
	else if (!strcmp(key, "complete"))
		x->complete = az_j_bool(o, key);
	else if (!strcmp(key, "errors"))
		x->errors = az_j_int(o, key, 0);
	else if (!strcmp(key, "warnings"))
		x->warnings = az_j_int(o, key, 0);
	return 0;
}

/* One top-level member at a time: the member list (a million entries in a large capture) is
 * stepped over element by element, never held as one DOM. */
int az_manifest_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	struct az_manifest *x = &m->man;
	x->target_pid = -1;
	return az_j_stream_ex(doc, len, AI_M_MANIFEST, "members", AZ_J_KEY_OPTIONAL, manifest_member,
			      manifest_other, x, &m->cuts, err);
}
