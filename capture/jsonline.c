#include "capture/jsonline.h"
#include <string.h>

/* The path is ours (OUTDIR/NAME) but OUTDIR is the operator's: its bytes go through the JSON
 * writer like any other. */
void ai_jsonline_result(struct ai_json *j, const struct ai_snapshot_result *r)
{
	ai_json_kbytes(j, "bundle", r->path, strlen(r->path));
	ai_json_kstr(j, "sha256", r->sha256);
	ai_json_kbool(j, "complete", r->complete);
	ai_json_kuint(j, "errors", r->nerrors);
}
