/* Findings: what an analyst looks at first, derived from the model and the attribution. Every
 * finding comes from one row of the rule table (finding.h). The binary-level rules (processes'
 * executables, upperdir files, open files) are in findings.c, the behavioural ones in behave.c;
 * findings.c builds the whole list, ranks it and renders it. */
#ifndef AZ_FINDINGS_H
#define AZ_FINDINGS_H
#include <stdbool.h>
#include "analyze/attr.h"
#include "analyze/finding.h"
#include "analyze/model.h"
#include "common/buf.h"

/* as: one attribution per container (context.h), each row looked up in its own container's. */
void az_findings_build(struct az_findings *f, const struct az_model *m, const struct az_attrs *as,
		       const struct az_findings_opts *o);
void az_findings_free(struct az_findings *f);
/* Text or JSON: flagged findings, then every process exe and open file with its origin. */
void az_findings_render(const struct az_findings *f, const struct az_model *m, const struct az_attrs *as,
			bool json, struct ai_buf *out);

#endif
