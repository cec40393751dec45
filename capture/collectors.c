/* The table of collectors: the only place that lists them. Order matters twice: it is the order
 * they run in within each phase (a collector that needs what another learns comes after it:
 * mounts finds the overlay upper walks), and the order of the "collectors" timing entries of
 * capture-log.json. Adding an evidence kind is one file and one row here. */
#include "capture/capture.h"
#include <errno.h>

const struct ai_collector *const ai_collectors[] = {
    &ai_collector_mounts,  &ai_collector_processes, &ai_collector_fds,
    &ai_collector_sockets, &ai_collector_memory,    &ai_collector_upper,
    &ai_collector_volumes, &ai_collector_identity,  &ai_collector_criu,
};
const size_t ai_ncollectors = sizeof(ai_collectors) / sizeof(ai_collectors[0]);

int ai_capture_put_json(struct ai_capture *cap, const char *member, struct ai_buf *doc, ai_err_t *err)
{
	ai_buf_addc(doc, '\n');
	char name[256];
	if (ai_capture_member(cap, name, sizeof(name), "%s", member) < 0)
		return ai_err_set(err, ENAMETOOLONG, "%s", member);
	return ai_bundle_add_mem(cap->bundle, name, doc->data, doc->len, err);
}
