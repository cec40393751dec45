/* Reading a bundle: stream the tar once with libarchive (no extraction), keep only the JSON
 * members the model is built from, each bounded, and hand them to the evidence readers. */
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/archive.h"
#include "analyze/checkpoint.h"
#include "analyze/util.h"
#include "common/bundle.h"
#include "common/cleanup.h"

static const struct {
	const char *name;
	int have;
	int (*read)(struct az_model *, const char *, size_t, ai_err_t *);
} readers[] = {
    {AI_M_MANIFEST, AZ_HAVE_MANIFEST, az_manifest_read},
    {AI_M_PROCESSES, AZ_HAVE_PROCS, az_processes_read},
    {AI_M_FDS, AZ_HAVE_FDS, az_fds_read},
    {AI_M_SOCKETS, AZ_HAVE_SOCKS, az_sockets_read},
    {AI_M_MOUNTS, AZ_HAVE_MOUNTS, az_mounts_read},
    {AI_M_UPPER_IDX, AZ_HAVE_UPPER, az_upper_read},
};

static void ck_freep(struct az_ck_load **s)
{
	az_ck_free(*s);
}

int az_model_load(struct az_model *m, const char *bundle, ai_err_t *err)
{
	memset(m, 0, sizeof(*m));
	struct archive *a __attribute__((cleanup(az_archive_freep))) = NULL;
	/* filters: a checkpoint archive may be gzip or zstd compressed (bundles are plain tars) */
	if (az_tar_open_file(&a, bundle, true, err) < 0)
		return ai_err_wrap(err, "not an afterimage bundle or checkpoint archive (a tar)");
	struct az_ck_load *ck __attribute__((cleanup(ck_freep))) = az_ck_new();
	struct archive_entry *e;
	size_t count = 0;
	bool bundle_member = false;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if (++count > AZ_MAX_MEMBERS)
			return ai_err_set(err, 0, "%s: more than %u members", bundle, AZ_MAX_MEMBERS);
		const char *name = archive_entry_pathname(e);
		if (!name)
			continue;
		if (!bundle_member) {
			int cr = az_ck_member(ck, a, e, err);
			if (cr < 0)
				return ai_err_wrap(err, "%s: checkpoint archive", bundle);
			if (cr > 0)
				continue;
		}
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		for (size_t i = 0; i < sizeof(readers) / sizeof(readers[0]); i++) {
			if (strcmp(name, readers[i].name))
				continue;
			if (az_ck_seen(ck))
				return ai_err_set(err, 0,
						  "%s: both afterimage bundle members (%s) and checkpoint "
						  "members (config.dump, spec.dump): refused",
						  bundle, name);
			bundle_member = true;
			if (m->have[readers[i].have])
				return ai_err_set(err, 0, "%s: member %s appears twice", bundle, name);
			cleanup_free char *doc = NULL;
			size_t len;
			if (az_read_member(a, e, AZ_MAX_JSON_MEMBER, &doc, &len, err) < 0 ||
			    readers[i].read(m, doc, len, err) < 0)
				return ai_err_wrap(err, "%s", bundle);
			m->have[readers[i].have] = true;
		}
	}
	if (r != ARCHIVE_EOF)
		return ai_err_set(err, 0, "%s: unreadable archive after %zu members: %s", bundle, count,
				  archive_error_string(a) ? archive_error_string(a) : "error");
	if (!bundle_member && az_ck_seen(ck))
		return az_ck_finish(ck, m, err) < 0 ? ai_err_wrap(err, "%s: checkpoint archive", bundle) : 0;
	if (!m->have[AZ_HAVE_MANIFEST] && !m->have[AZ_HAVE_PROCS] && !m->have[AZ_HAVE_UPPER])
		return ai_err_set(
		    err, 0,
		    "%s: not an afterimage bundle (no manifest.json, processes.json or fs/upper.json)"
		    " nor a checkpoint archive (no config.dump or spec.dump)",
		    bundle);
	return 0;
}

int az_manifest_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, AI_M_MANIFEST, &j, err) < 0)
		return -1;
	if (!json_is_object(j))
		return ai_err_set(err, 0, "%s: not an object", AI_M_MANIFEST);
	struct az_manifest *x = &m->man;
	json_t *t = json_object_get(j, "target");
	if (az_j_str(j, "name", &x->name, err) < 0 || az_j_str(j, "bundle_id", &x->bundle_id, err) < 0 ||
	    az_j_str(j, "host", &x->host, err) < 0 || az_j_str(j, "kernel", &x->kernel, err) < 0 ||
	    az_j_str(j, "trigger", &x->trigger, err) < 0 ||
	    (json_is_object(t) && az_j_str(t, "container_id", &x->container_id, err) < 0))
		return ai_err_wrap(err, "%s", AI_M_MANIFEST);
	x->started_ns = az_j_int(j, "started_ns", 0);
	x->ended_ns = az_j_int(j, "ended_ns", 0);
	x->target_pid = json_is_object(t) ? az_j_int(t, "pid", -1) : -1;
	x->complete = az_j_bool(j, "complete");
	x->errors = az_j_int(j, "errors", 0);
	x->warnings = az_j_int(j, "warnings", 0);
	return 0;
}
