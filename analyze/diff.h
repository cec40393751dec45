/* diff A B, through the overlay: what the container saw at each path in A and in B (an upperdir
 * entry, a whiteout or opaque dir hiding the image's version, or the image's version itself), so a
 * whiteout is a deletion, a copy-up a modification of the image's file, a content change is told by
 * sha256 (same size included) and a mode/owner/mtime change as metadata; processes (by exe and
 * command line, not pid) and sockets (by endpoints, ephemeral ports folded) as new or vanished.
 * With B's attribution against an image, each file row names the layer its path came from. Two
 * bundles of one container each are diffed whole; when either holds several (a pod), containers
 * are paired by name (else id, else short name) and diffed pair by pair, a container on one side
 * only is new or vanished with its processes and files, and the pod's sockets are diffed once. */
#ifndef AZ_DIFF_H
#define AZ_DIFF_H
#include <stdbool.h>
#include <stddef.h>
#include "analyze/attr.h"
#include "analyze/model.h"
#include "common/buf.h"

/* attrs_b: B's containers attributed against --image (each one's image check goes into --json,
 * each file row takes the layer from its own container's), or NULL. Returns the number of
 * differences. */
size_t az_diff_render(const struct az_model *a, const struct az_model *b, const struct az_attrs *attrs_b,
		      bool json, struct ai_buf *out);

#endif
