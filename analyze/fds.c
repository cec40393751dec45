/* fds.json -> model */
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "common/bundle.h"

static const char *const type_names[] = {"file",  "dir",     "socket", "pipe", "anon",
					 "memfd", "deleted", "device", "other"};

const char *az_fd_type_name(enum az_fd_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "other";
}

static int fd_read_one(json_t *o, void *item, ai_err_t *err)
{
	struct az_fd *f = item;
	if (!json_is_object(o))
		return ai_err_set(err, 0, "not an object");
	f->pid = az_j_int(o, "pid", -1);
	f->fd = az_j_int(o, "fd", -1);
	if (az_j_str(o, "target", &f->target, err) < 0)
		return -1;
	const char *t = json_string_value(json_object_get(o, "type"));
	f->type = AZ_FD_OTHER;
	for (size_t i = 0; t && i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (!strcmp(t, type_names[i]))
			f->type = (enum az_fd_type)i;
	az_j_fixed(o, "flags", f->flags, sizeof(f->flags));
	f->pos = az_j_int(o, "pos", -1);
	f->ino = az_j_int(o, "ino", -1);
	f->size = az_j_int(o, "size", -1);
	const char *mode = json_string_value(json_object_get(o, "mode"));
	f->mode = mode ? (uint32_t)strtoul(mode, NULL, 8) : 0;
	f->deleted = az_j_bool(o, "deleted");
	f->memfd = az_j_bool(o, "memfd");
	json_t *r = json_object_get(o, "recovered");
	if (json_is_object(r)) {
		if (az_j_str(r, "member", &f->rec_member, err) < 0)
			return ai_err_wrap(err, "recovered");
		az_j_sha256(r, "sha256", f->rec_sha256);
		f->rec_size = az_j_int(r, "size", -1);
		f->rec_truncated = az_j_bool(r, "truncated");
	}
	return 0;
}

int az_fds_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	void *items;
	int rc = az_j_read_array(doc, len, AI_M_FDS, "fds", sizeof(*m->fds), fd_read_one, &items, &m->nfds,
				 NULL, m, err);
	m->fds = items;
	return rc;
}
