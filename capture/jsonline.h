/* The JSON lines afterimage-capture prints: snapshot's result on stdout, serve's replies and its
 * event log on stderr. What a capture result says is written here once for all of them, and
 * every line passes through here on its way out. */
#ifndef AI_JSONLINE_H
#define AI_JSONLINE_H
#include "capture/capture.h"
#include "common/buf.h"
#include "common/json.h"

/* The members "bundle", "sha256", "complete", "errors" of a sealed capture, inside an object. */
void ai_jsonline_result(struct ai_json *j, const struct ai_snapshot_result *r);

/* The JSON writer escapes C0 controls and DEL but keeps C1 controls (U+0080..U+009F) as UTF-8,
 * and a terminal may act on those (CSI, OSC) as on their ESC forms. Rewrite them as \u00XX: the
 * same string to a JSON parser, inert on a terminal. Target bytes reach these lines (process
 * names in discovery errors, paths in capture errors). */
void ai_jsonline_safe(struct ai_buf *line);

#endif
