/* iocs BUNDLE: indicators for threat-intel platforms, one row per (type, value), derived from the
 * findings: sha256 of dropped, modified, deleted-open and memfd content, remote endpoints,
 * listening endpoints, suspicious paths; each with its rule, finding and evidence member. */
#ifndef AZ_IOCS_H
#define AZ_IOCS_H
#include <stdbool.h>
#include "analyze/finding.h"

void az_iocs_render(const struct az_findings *f, const struct az_model *m, bool json, struct ai_buf *out);

#endif
