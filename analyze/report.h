/* report: one self-contained HTML file (inline CSS and SVG, no script, no network). */
#ifndef AZ_REPORT_H
#define AZ_REPORT_H
#include "analyze/context.h"
#include "analyze/findings.h"
#include "common/buf.h"

void az_report_render(const struct az_ctx *c, const struct az_findings *f, struct ai_buf *out);

#endif
