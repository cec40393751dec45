/* The JSON lines afterimage-capture prints: snapshot's result on stdout, serve's replies and its
 * event log. What a capture result says is written here once for all of them. */
#ifndef AI_JSONLINE_H
#define AI_JSONLINE_H
#include "capture/capture.h"
#include "common/json.h"

/* The members "bundle", "sha256", "complete", "errors" of a sealed capture, inside an object. */
void ai_jsonline_result(struct ai_json *j, const struct ai_snapshot_result *r);

#endif
