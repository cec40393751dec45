/* seal: wrap files another tool wrote (a kubelet checkpoint archive, a log, any file) into a
 * signed afterimage bundle, each hashed as it is read and stored as a member under sealed/, the
 * original path, size, times and owner recorded in sealed.json and the manifest. */
#ifndef AI_SEAL_H
#define AI_SEAL_H
#include <openssl/evp.h>
#include <stddef.h>
#include "common/bundle.h"
#include "common/err.h"

#define AI_M_SEALED	"sealed.json"
#define AI_M_SEALED_DIR "sealed" /* sealed/<basename> */

struct ai_seal_opts {
	const char *const *files;
	size_t nfiles;
	int outdir_fd;
	const char *outdir; /* for the printed path */
	const char *name;   /* NULL: afterimage-seal-<host>-<utc> */
	EVP_PKEY *key;
};

struct ai_seal_result {
	char path[4096];
	char sha256[AI_SHA256_HEXLEN];
	size_t nfiles;
	bool complete; /* every file read whole, unchanged while read */
};

int ai_seal(const struct ai_seal_opts *o, struct ai_seal_result *r, ai_err_t *err);

#endif
