/* Table and JSON views: ps, fds, net, mounts, files of the model (views.c) and the attribution
 * of layers (views_layers.c). Each renders into out; text is escaped for a terminal. */
#ifndef AZ_VIEWS_H
#define AZ_VIEWS_H
#include <stdbool.h>
#include "analyze/attr.h"
#include "analyze/model.h"
#include "common/buf.h"
#include "common/json.h"

void az_view_ps(const struct az_model *m, bool json, struct ai_buf *out);
void az_view_fds(const struct az_model *m, bool json, struct ai_buf *out);
void az_view_net(const struct az_model *m, bool json, struct ai_buf *out);
void az_view_mounts(const struct az_model *m, bool json, struct ai_buf *out);
void az_view_files(const struct az_model *m, bool json, struct ai_buf *out);
/* The image's layers, the attribution's warnings and counts, then every path with its status
 * (changed_only: all but status image). */
void az_view_layers(const struct az_attr *a, bool json, bool changed_only, struct ai_buf *out);

/* Shared by other views: JSON bytes field and a process's display line. */
void az_json_str(struct ai_json *j, const char *key, const struct az_str *s);
void az_proc_cmdline(const struct az_proc *p, struct ai_buf *out);
/* The container of a row, in a model of several (a pod): a CONTAINER column (its header, its
 * cell) and a "container" key; nothing for a model of one. */
void az_ct_head(const struct az_model *m, struct ai_buf *out);
void az_ct_col(const struct az_model *m, unsigned ct, struct ai_buf *out);
void az_json_ct(struct ai_json *j, const struct az_model *m, unsigned ct);
/* Order of processes as a tree (parents first, depth-first); depth[i] for each. */
void az_proc_tree(const struct az_model *m, size_t *order, int *depth);

/* The one JSON record of a process and of an open fd, as members of an object the caller opened
 * (and may extend before closing it). AZ_REC_FULL: the ps / fds --json record (depth: the
 * process's tree depth); AZ_REC_ID: the identity that findings extends with an origin: pid, comm
 * and the exe's path (without " (deleted)"); fd and path. */
enum az_rec { AZ_REC_FULL, AZ_REC_ID };
void az_json_proc(struct ai_json *j, const struct az_proc *p, enum az_rec rec, int depth);
void az_json_fd(struct ai_json *j, const struct az_fd *f, enum az_rec rec);

#endif
