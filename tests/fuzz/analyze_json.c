/* Fuzz the analyzer's evidence readers and views: the first byte picks the member
 * (processes, fds, sockets, mounts, fs/upper.json, manifest), the rest is its JSON. The model is
 * then rendered through every view, the attribution (upperdir only), findings and timeline.
 * The analyzer's modules come from libanalyze.a (the Makefile links it into targets named *analyze*). */
#include <stdint.h>
#include <string.h>
#include "analyze/attr.h"
#include "analyze/context.h"
#include "analyze/diff.h"
#include "analyze/findings.h"
#include "analyze/timeline.h"
#include "tests/fuzz/views.inc"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static int (*const rd[])(struct az_model *, const char *, size_t, ai_err_t *) = {
	    az_processes_read, az_fds_read, az_sockets_read, az_mounts_read, az_upper_read, az_manifest_read};
	struct az_ctx c;
	az_ctx_init(&c);
	ai_err_t err;
	if (rd[data[0] % 6](&c.m, (const char *)data + 1, size - 1, &err) == 0) {
		struct ai_buf out;
		ai_buf_init(&out);
		fuzz_views(&c.m, &out);
		if (az_ctx_attribute(&c, false, &err) == 0) {
			fuzz_layers_view(c.attr, &out);
			struct az_findings f;
			az_findings_build(&f, &c.m, &c.attrs, NULL);
			az_findings_render(&f, &c.m, &c.attrs, false, &out);
			az_findings_free(&f);
			az_timeline_render(&c, AZ_TL_BODYFILE, &out);
			az_timeline_render(&c, AZ_TL_CSV, &out);
		}
		struct az_model none = {0};
		az_diff_render(&c.m, &c.m, NULL, false, &out);
		az_diff_render(&none, &c.m, &c.attrs, false, &out);
		az_diff_render(&c.m, &none, NULL, true, &out);
		az_diff_render(&none, &c.m, &c.attrs, true, &out);
		/* the same rows as a pod of two containers (every other one the second's): paired by
		 * name, diffed pair by pair, and against a bundle of one (one container new or vanished) */
		if (c.m.ncts < 2)
			c.m.ncts = 2;
		for (size_t i = 0; i < c.m.nprocs; i++)
			c.m.procs[i].ct = i % 2;
		for (size_t i = 0; i < c.m.nupper; i++)
			c.m.upper[i].ct = i % 2;
		az_model_name_containers(&c.m);
		az_diff_render(&c.m, &c.m, &c.attrs, false, &out);
		az_diff_render(&none, &c.m, &c.attrs, true, &out);
		az_diff_render(&c.m, &none, NULL, false, &out);
		ai_buf_free(&out);
	}
	az_ctx_free(&c);
	return 0;
}

#include "tests/fuzz/driver.inc"
