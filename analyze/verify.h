/* verify: the outer signature over the whole tar (streamed once), SHA256SUMS and its signature,
 * every member's SHA-256 against SHA256SUMS and manifest.json, and the manifest's `complete`. */
#ifndef AZ_VERIFY_H
#define AZ_VERIFY_H
#include <stdbool.h>
#include <stddef.h>
#include "common/buf.h"
#include "common/err.h"

struct az_verify_result {
	struct ai_buf report; /* one line per check: "ok ..." / "FAIL ..." / "warning ..." */
	size_t failures;
	bool complete; /* manifest says complete (only meaningful when failures == 0) */
	char keyid[17];
};

/* Returns -1 (err set) only when the bundle or the key cannot be read at all (exit 3);
 * every verification failure is counted in res and described in res->report. */
int az_verify(const char *bundle, const char *pubkey_path, struct az_verify_result *res, ai_err_t *err);
void az_verify_result_free(struct az_verify_result *res);

#endif
