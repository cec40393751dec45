/* report: one self-contained HTML file (inline CSS and SVG, no script, no network). */
#ifndef AZ_REPORT_H
#define AZ_REPORT_H
#include "analyze/context.h"
#include "analyze/finding.h"
#include "common/buf.h"

/* What `report --pub` found of the bundle's signatures and hashes (verify.h), said first in the
 * report: a report of evidence whose integrity it does not state invites trust it has not earned. */
enum az_report_ver { AZ_RV_NOT_CHECKED, AZ_RV_UNSIGNED, AZ_RV_VERIFIED, AZ_RV_FAILED };
struct az_report_verification {
	enum az_report_ver state;
	const char *pub;    /* the public key file given */
	const char *why;    /* AZ_RV_UNSIGNED: what the input is */
	char keyid[17];	    /* the key id the signatures name */
	bool complete;	    /* the manifest says complete */
	size_t failures;    /* AZ_RV_FAILED: how many checks failed */
	char first[5][320]; /* the first failures' lines (bytes from the bundle: escaped when shown) */
	size_t nfirst;
};

void az_report_render(const struct az_ctx *c, const struct az_findings *f,
		      const struct az_report_verification *v, struct ai_buf *out);

#endif
