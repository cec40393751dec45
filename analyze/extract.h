/* extract BUNDLE -o DIR: safe extraction with libarchive's SECURE_* flags into a new or empty DIR;
 * refuses (and stops at) any member that is absolute, has "..", or links out (a symlink whose
 * target is absolute or has ".."). Members land in DIR/.partial-XXXXXXXXXXXX first and move up
 * into DIR only when all of them were extracted: a failed extraction leaves nothing. */
#ifndef AZ_EXTRACT_H
#define AZ_EXTRACT_H
#include <stddef.h>
#include "common/err.h"

int az_extract(const char *bundle, const char *outdir, size_t *count, ai_err_t *err);

#endif
