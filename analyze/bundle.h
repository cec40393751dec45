/* libarchive helpers shared by the bundle, verify, image and extract modules. */
#ifndef AZ_BUNDLE_H
#define AZ_BUNDLE_H
#include <stdbool.h>
#include <stddef.h>
#include "common/err.h"

struct archive;
struct archive_entry;
void az_archive_freep(struct archive **a);
#define cleanup_archive __attribute__((cleanup(az_archive_freep)))
/* A tar reader on a file (filters: also gzip/zstd/xz compressed). */
int az_tar_open_file(struct archive **out, const char *path, bool filters, ai_err_t *err);
/* The current member's data into a NUL-terminated malloc'ed buffer, refusing more than max bytes. */
int az_read_member(struct archive *a, struct archive_entry *e, size_t max, char **out, size_t *outlen,
		   ai_err_t *err);

#endif
