/* diff A B: processes (by command, not pid), sockets (by endpoint, ephemeral ports folded) and
 * upperdir entries (by path: type, content, mode, owner, target) of two bundles. */
#ifndef AZ_DIFF_H
#define AZ_DIFF_H
#include <stdbool.h>
#include <stddef.h>
#include "analyze/model.h"
#include "common/buf.h"

/* Returns the number of differences. */
size_t az_diff_render(const struct az_model *a, const struct az_model *b, bool json, struct ai_buf *out);

#endif
