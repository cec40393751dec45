/* A checkpoint archive's CRIU images of files, sockets and the fs context, into the model:
 * collected member by member as the archive streams past (each image decoded at once by
 * criu_files.c into small records), joined after the pass: ids-PID names each task's fdinfo and
 * fs images; fdinfo entries name files.img entries; remap-fpath marks the ghosts, whose content
 * (ghost-file-N) is hashed as read, never kept. The model gets one fd per (pid, fd), one socket
 * per socket inode with its owners, and each process's cwd. */
#ifndef AZ_CKPT_CRIU_H
#define AZ_CKPT_CRIU_H
#include "common/err.h"

struct archive;
struct archive_entry;
struct az_model;
struct az_ck_criu;

#define AZ_CK_MAX_FILES	  (64u << 20) /* checkpoint/files.img */
#define AZ_CK_MAX_GHOST	  (64u << 20) /* one ghost-file image, and the content it holds */
#define AZ_CK_MAX_RECORDS 2000000u    /* files.img entries, fdinfo entries (all images together) */
#define AZ_CK_MAX_FDS	  4000000u    /* fds of all processes (tasks share fdinfo images) */

struct az_ck_criu *az_ck_criu_new(void);
void az_ck_criu_free(struct az_ck_criu *c);
/* A member checkpoint/BASE: 1 when it was one of the images read here, 0 when not, -1 (err set)
 * when it was one and is malformed or over its bound. */
int az_ck_criu_member(struct az_ck_criu *c, const char *base, struct archive *a, struct archive_entry *e,
		      ai_err_t *err);
/* After the pass, m->procs in pid order: fill their cwd, m->fds and m->socks. */
void az_ck_criu_finish(struct az_ck_criu *c, struct az_model *m);

#endif
