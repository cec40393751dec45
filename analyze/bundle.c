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
    {AI_M_VOLUMES_IDX, AZ_HAVE_VOLUMES, NULL}, /* az_volumes_read: per container */
    {AI_M_CONFIG, AZ_HAVE_CONFIG, NULL},       /* az_config_read: per container */
};
#define NMEMBERS (sizeof(members) / sizeof(members[0]))

/* The evidence member e is, or -1; *ct the container it belongs to: 0 at the top level (format
 * 1, or a format-2 capture of one container), N under containers/N/ (a pod). The manifest is only
 * the top level's. */
static int member_of(struct archive_entry *e, unsigned *ct)
{
	const char *name = archive_entry_pathname(e);
	*ct = 0;
	if (!name || archive_entry_filetype(e) != AE_IFREG)
		return -1;
	size_t plen = strlen(AI_M_CONTAINERS_DIR);
	bool under = !strncmp(name, AI_M_CONTAINERS_DIR, plen);
	if (under) {
		const char *p = name + plen;
		unsigned n = 0;
		size_t digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 3) {
			n = n * 10 + (unsigned)(*p++ - '0');
			digits++;
		}
		if (!digits || *p != '/' || n >= AZ_MAX_CONTAINERS || (digits > 1 && name[plen] == '0'))
			return -1;
		*ct = n;
		name = p + 1;
	}
	for (size_t i = under ? 1 : 0; i < NMEMBERS; i++)
		if (!strcmp(name, members[i].name))
			return (int)i;
	return -1;
}

static int cmp_pid(const void *a, const void *b)
{
	const struct az_proc *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* The rows a reader just filled (arr[0..n)) appended to those read before (old[0..nold)), each
 * new one tagged with its container. Done on failure too: the model frees them all. */
#define APPEND(m, arr, n, old, nold, ct)                                                                     \
	do {                                                                                                 \
		for (size_t k_ = 0; k_ < (m)->n; k_++)                                                       \
			(m)->arr[k_].ct = (ct);                                                              \
		if (nold) {                                                                                  \
			void *j_ = realloc((old), ((nold) + (m)->n + 1) * sizeof(*(old)));                   \
			if (!j_)                                                                             \
				abort();                                                                     \
			(old) = j_;                                                                          \
			if ((m)->n)                                                                          \
				memcpy((old) + (nold), (m)->arr, (m)->n * sizeof(*(old)));                   \
			free((m)->arr);                                                                      \
			(m)->arr = (old);                                                                    \
			(m)->n += (nold);                                                                    \
		} else if ((old) != (m)->arr) {                                                              \
			free(old); /* an empty earlier read still holds its array */                         \
		}                                                                                            \
	} while (0)

/* One evidence member of container ct read into m, after those of the other containers. */
static int read_member(struct az_model *m, int i, unsigned ct, const char *doc, size_t len, ai_err_t *err)
{
	int rc;
	switch (members[i].have) {
	case AZ_HAVE_PROCS: {
		struct az_proc *old = m->procs;
		size_t nold = m->nprocs;
		m->procs = NULL, m->nprocs = 0;
		rc = members[i].read(m, doc, len, err);
		APPEND(m, procs, nprocs, old, nold, ct);
		if (nold)
			qsort(m->procs, m->nprocs, sizeof(*m->procs), cmp_pid); /* one pid namespace */
		return rc;
	}
	case AZ_HAVE_FDS: {
		struct az_fd *old = m->fds;
		size_t nold = m->nfds;
		m->fds = NULL, m->nfds = 0;
		rc = members[i].read(m, doc, len, err);
		APPEND(m, fds, nfds, old, nold, ct);
		return rc;
	}
	case AZ_HAVE_SOCKS: {
		struct az_sock *old = m->socks;
		size_t nold = m->nsocks;
		m->socks = NULL, m->nsocks = 0;
		rc = members[i].read(m, doc, len, err);
		/* pod-wide: no container of their own (their owners have one) */
		if (nold) {
			struct az_sock *j = realloc(old, (nold + m->nsocks + 1) * sizeof(*old));
			if (!j)
				abort();
			if (m->nsocks)
				memcpy(j + nold, m->socks, m->nsocks * sizeof(*j));
			free(m->socks);
			m->socks = j;
			m->nsocks += nold;
		}
		return rc;
	}
	case AZ_HAVE_MOUNTS: {
		struct az_mount *old = m->mounts;
		size_t nold = m->nmounts;
		m->mounts = NULL, m->nmounts = 0;
		struct az_overlay keep = m->ov;
		if (ct)
			memset(&m->ov, 0, sizeof(m->ov));
		rc = members[i].read(m, doc, len, err);
		if (ct) {
			az_overlay_free(
			    &m->cts[ct].ov); /* a repeated member (hostile): the last one counts */
			m->cts[ct].ov = m->ov;
			m->ov = keep;
		}
		APPEND(m, mounts, nmounts, old, nold, ct);
		return rc;
	}
	case AZ_HAVE_UPPER: {
		struct az_upper *old = m->upper;
		size_t nold = m->nupper;
		m->upper = NULL, m->nupper = 0;
		rc = members[i].read(m, doc, len, err);
		APPEND(m, upper, nupper, old, nold, ct);
		return rc;
	}
	case AZ_HAVE_VOLUMES:
		return az_volumes_read(m, ct, doc, len, err);
	case AZ_HAVE_CONFIG:
		return az_config_read(m, ct, doc, len, err);
	default:
		return members[i].read(m, doc, len, err);
	}
}

/* Any evidence member marks a bundle, and so do its sums and their signature (verify's subject:
 * a bundle that is nothing else still verifies, or fails to, as a bundle). */
static bool bundle_probe(struct archive *a, struct archive_entry *e)
{
	(void)a;
	unsigned ct;
	if (member_of(e, &ct) >= 0)
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
		unsigned ct;
		int i = member_of(e, &ct);
		if (i < 0)
			continue;
		if (m->cts[ct].have[members[i].have])
			return ai_err_set(err, 0, "%s: member %s appears twice", in->path,
					  archive_entry_pathname(e));
		cleanup_free char *doc = NULL;
		size_t len;
		if (az_read_member(in->a, e, AZ_MAX_JSON_MEMBER, &doc, &len, err) < 0 ||
		    read_member(m, i, ct, doc, len, err) < 0)
			return ai_err_wrap(err, "%s", in->path);
		m->cts[ct].have[members[i].have] = true;
		m->have[members[i].have] = true;
		if (ct + 1 > m->ncts)
			m->ncts = ct + 1;
	}
	if (r != ARCHIVE_EOF)
		return ai_err_set(err, 0, "%s: unreadable archive after %zu members: %s", in->path, count,
				  archive_error_string(in->a) ? archive_error_string(in->a) : "error");
	if (!m->have[AZ_HAVE_MANIFEST] && !m->have[AZ_HAVE_PROCS] && !m->have[AZ_HAVE_UPPER])
		return AZ_INPUT_NONE;
	az_model_name_containers(m);
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

/* Format 2's list: the identity of each container (its rows are tagged from the member names). */
static int manifest_containers(struct az_model *m, json_t *v, ai_err_t *err)
{
	size_t n = json_array_size(v);
	for (size_t i = 0; i < n && i < AZ_MAX_CONTAINERS; i++) {
		json_t *c = json_array_get(v, i);
		if (!json_is_object(c))
			return ai_err_set(err, 0, "%s: containers[%zu]: not an object", AI_M_MANIFEST, i);
		struct az_container *x = &m->cts[i];
		/* the runtime spec (read before the manifest, which is written last) has the identity;
		 * what the manifest has only fills what is still unknown, never replaces it */
		json_t *id = json_object_get(c, "identity");
		struct {
			json_t *o;
			const char *key;
			struct az_str *dst;
		} f[] = {{c, "container_id", &x->id},
			 {c, "prefix", &x->prefix},
			 {id, "name", &x->name},
			 {id, "image", &x->image},
			 {id, "image_name", &x->image}, /* containers/storage's name for it */
			 {id, "image_digest", &x->image_digest},
			 {id, "image_id", &x->image_id}};
		for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
			if (!json_is_object(f[k].o) || f[k].dst->s)
				continue;
			if (az_j_str(f[k].o, f[k].key, f[k].dst, err) < 0)
				return ai_err_wrap(err, "%s: containers[%zu]", AI_M_MANIFEST, i);
		}
		x->pid = az_j_int(c, "pid", -1);
		x->processes = az_j_int(c, "processes", -1);
	}
	if (n > m->ncts)
		m->ncts = n < AZ_MAX_CONTAINERS ? n : AZ_MAX_CONTAINERS;
	return 0;
}

static int manifest_other(void *ud, const char *key, json_t *v, ai_err_t *err)
{
	struct az_model *m = ud;
	struct az_manifest *x = &m->man;
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
	if (!strcmp(key, "containers") && json_is_array(v))
		return manifest_containers(m, v, err);
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
			      manifest_other, m, &m->cuts, err);
}
