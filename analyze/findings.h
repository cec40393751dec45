/* Findings: what an analyst looks at first, derived from the model and the attribution. */
#ifndef AZ_FINDINGS_H
#define AZ_FINDINGS_H
#include <stddef.h>
#include <stdint.h>
#include "analyze/attr.h"
#include "analyze/model.h"
#include "common/buf.h"

enum az_sev { AZ_SEV_HIGH, AZ_SEV_MEDIUM, AZ_SEV_INFO };

struct az_finding {
	enum az_sev sev;
	const char *kind; /* stable identifier, e.g. "exe-deleted" */
	int64_t pid;	  /* -1 when not about a process */
	struct az_str path;
	char msg[512];
};

struct az_findings {
	struct az_finding *v;
	size_t n, cap;
};

void az_findings_build(struct az_findings *f, const struct az_model *m, const struct az_attr *a);
void az_findings_free(struct az_findings *f);
const char *az_sev_name(enum az_sev s);
/* Text or JSON: flagged findings, then every process exe and open file with its origin. */
void az_findings_render(const struct az_findings *f, const struct az_model *m, const struct az_attr *a,
			bool json, struct ai_buf *out);

#endif
