/* fds.json -> model */
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "common/bundle.h"

/* The model's fd types are the bundle's, in the same order. */
_Static_assert(AZ_FD_FILE == (int)AI_FD_FILE && AZ_FD_DIR == (int)AI_FD_DIR &&
		   AZ_FD_SOCKET == (int)AI_FD_SOCKET && AZ_FD_PIPE == (int)AI_FD_PIPE &&
		   AZ_FD_ANON == (int)AI_FD_ANON && AZ_FD_MEMFD == (int)AI_FD_MEMFD &&
		   AZ_FD_DELETED == (int)AI_FD_DELETED && AZ_FD_DEVICE == (int)AI_FD_DEVICE &&
		   AZ_FD_OTHER == (int)AI_FD_OTHER && AZ_FD_OTHER + 1 == (int)AI_FD_NTYPES,
	       "enum az_fd_type must follow enum ai_fd_type");

const char *az_fd_type_name(enum az_fd_type t)
{
	return ai_fd_type_name((enum ai_fd_type)t);
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
	f->type = (enum az_fd_type)ai_fd_type_parse(json_string_value(json_object_get(o, "type")));
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
	int rc = az_j_read_array_ex(doc, len, AI_M_FDS, "fds", sizeof(*m->fds), fd_read_one, &items, &m->nfds,
				    NULL, m, &m->cuts, err);
	m->fds = items;
	return rc;
}
