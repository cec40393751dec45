/* ps --pid N: one process in full (psdetail.c); ps --json extends every record with the same
 * per-process fields (environment masked, cwd, root, capabilities, seccomp, namespaces, cgroup). */
#ifndef AZ_PSDETAIL_H
#define AZ_PSDETAIL_H
#include <stdbool.h>
#include <stdint.h>
#include "analyze/attr.h"
#include "analyze/model.h"
#include "common/buf.h"
#include "common/json.h"

/* -1 when no process has that pid. show: secret values unmasked (--show-secrets). bundle: to read
 * the container's own /etc/passwd and /etc/group when its upperdir holds them (NULL: do not). */
int az_view_ps_detail(const struct az_model *m, const struct az_attr *a, const char *bundle, int64_t pid,
		      bool json, bool show, struct ai_buf *out);
/* The per-process fields ps --json adds to az_json_proc's record (secrets masked). */
void az_ps_json_extra(struct ai_json *j, const struct az_proc *p);

#endif
