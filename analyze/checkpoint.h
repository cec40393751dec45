/* Podman / CRI-O checkpoint archives (`podman container checkpoint --export`, Kubernetes'
 * forensic checkpointing on CRI-O) read into the same model as a bundle: identity from config.dump
 * and spec.dump, upper entries from rootfs-diff.tar (streamed, hashed, never extracted) and
 * deleted.files, processes from the CRIU images checkpoint/pstree.img and checkpoint/core-N.img.
 * bundle.c drives the single pass over the archive and hands every member to az_ck_member. */
#ifndef AZ_CHECKPOINT_H
#define AZ_CHECKPOINT_H
#include <stdbool.h>
#include "analyze/model.h"
#include "common/err.h"

struct archive;
struct archive_entry;
struct az_ck_load;

#define AZ_CK_MAX_DOC	 (16u << 20) /* config.dump, spec.dump */
#define AZ_CK_MAX_PSTREE (64u << 20) /* checkpoint/pstree.img */
#define AZ_CK_MAX_PROCS	 2000000u    /* pstree entries */

struct az_ck_load *az_ck_new(void);
void az_ck_free(struct az_ck_load *s);
/* Called for every member of the outer archive: 1 when it was a checkpoint member (read),
 * 0 when not, -1 (err set) when it was one and is malformed. */
int az_ck_member(struct az_ck_load *s, struct archive *a, struct archive_entry *e, ai_err_t *err);
/* Whether the archive looked like a checkpoint (config.dump or spec.dump seen). */
bool az_ck_seen(const struct az_ck_load *s);
/* Move what was read into m (which holds nothing else yet). */
int az_ck_finish(struct az_ck_load *s, struct az_model *m, ai_err_t *err);
/* For verify: 1 when path is a checkpoint archive (config.dump or spec.dump, no manifest.json),
 * 0 when not (or unreadable: verify then reports it as usual). Reads member headers only. */
int az_ck_detect(const char *path);

#endif
