/* verify: the outer signature over the whole tar (streamed once), SHA256SUMS and its signature,
 * every member's SHA-256 against SHA256SUMS and manifest.json, and the manifest's `complete`.
 * SHA256SUMS and the manifest's member list are checked as they stream past; memory is a compact
 * table of the members (see docs/analyze.md, "verify"), never a whole document. */
#ifndef AZ_VERIFY_H
#define AZ_VERIFY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "common/buf.h"
#include "common/err.h"

/* Report lines: in memory up to 1 MiB, then spilled to an unlinked temporary file, so a report of
 * two million failures costs no memory. */
struct az_vlog {
	struct ai_buf mem;
	FILE *spill;
};

struct az_verify_result {
	struct az_vlog report; /* one line per check: "ok ..." / "FAIL ..." / "warning: ..." */
	size_t failures;
	bool complete; /* manifest says complete (only meaningful when failures == 0) */
	char keyid[17];
	bool renamed; /* the outer signature's trusted comment names another file (a warning) */
};

/* Returns -1 (err set) only when the bundle or the key cannot be read at all (exit 3);
 * every verification failure is counted in res and described in res->report. */
int az_verify(const char *bundle, const char *pubkey_path, struct az_verify_result *res, ai_err_t *err);
/* The report, in order, to out. */
void az_verify_result_write(struct az_verify_result *res, FILE *out);
void az_verify_result_free(struct az_verify_result *res);

#endif
