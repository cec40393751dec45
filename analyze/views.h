/* Table and JSON views: ps, fds, net, mounts, files of the model (views.c) and the attribution
 * of layers (views_layers.c). Each renders into out; text is escaped for a terminal. */
#ifndef AZ_VIEWS_H
#define AZ_VIEWS_H
#include <stdbool.h>
#include "analyze/attr.h"
#include "analyze/model.h"
#include "analyze/record.h"
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
/* The same, the paths limited to those glob matches (fnmatch; NULL: every one). */
void az_view_layers_glob(const struct az_attr *a, bool json, bool changed_only, const char *glob,
			 struct ai_buf *out);
/* And, only set, to the paths only names (NUL-terminated; sorted here). */
void az_view_layers_sel(const struct az_attr *a, bool json, bool changed_only, const char *glob,
			const char **only, size_t nonly, struct ai_buf *out);

/* Order of processes as a tree (parents first, depth-first); depth[i] for each. */
void az_proc_tree(const struct az_model *m, size_t *order, int *depth);

#endif
