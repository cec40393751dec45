/* The checkpoint archive reader: Podman / CRI-O checkpoint archives (`podman container checkpoint
 * --export`, Kubernetes' forensic checkpointing on CRI-O) read into the same model as a bundle:
 * identity from config.dump and spec.dump, upper entries from rootfs-diff.tar (streamed, hashed,
 * never extracted) and deleted.files, processes from the CRIU images checkpoint/pstree.img and
 * checkpoint/core-N.img (decoded by criu.c). */
#ifndef AZ_CHECKPOINT_H
#define AZ_CHECKPOINT_H
#include "analyze/reader.h"

#define AZ_CK_MAX_DOC	 (16u << 20) /* config.dump, spec.dump */
#define AZ_CK_MAX_PSTREE (64u << 20) /* checkpoint/pstree.img */
#define AZ_CK_MAX_PROCS	 2000000u    /* pstree entries */

extern const struct az_input_ops az_checkpoint_input;

#endif
