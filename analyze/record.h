/* The record of a process and of an open fd, and a row's container: the JSON members and text
 * pieces that ps, fds, findings, ps --pid, iocs, the timeline, diff and the report all print the
 * same way (record.c). */
#ifndef AZ_RECORD_H
#define AZ_RECORD_H
#include "analyze/model.h"
#include "common/buf.h"
#include "common/json.h"

/* A JSON bytes field (null when absent), and a process's command line for display. */
void az_json_str(struct ai_json *j, const char *key, const struct az_str *s);
void az_proc_cmdline(const struct az_proc *p, struct ai_buf *out);
/* The container of a row, in a model of several (a pod): a CONTAINER column (its header, its
 * cell) and a "container" key; nothing for a model of one. */
void az_ct_head(const struct az_model *m, struct ai_buf *out);
void az_ct_col(const struct az_model *m, unsigned ct, struct ai_buf *out);
void az_json_ct(struct ai_json *j, const struct az_model *m, unsigned ct);

/* The one JSON record of a process and of an open fd, as members of an object the caller opened
 * (and may extend before closing it). AZ_REC_FULL: the ps / fds --json record (depth: the
 * process's tree depth); AZ_REC_ID: the identity that findings extends with an origin: pid, comm
 * and the exe's path (without " (deleted)"); fd and path. */
enum az_rec { AZ_REC_FULL, AZ_REC_ID };
void az_json_proc(struct ai_json *j, const struct az_proc *p, enum az_rec rec, int depth);
void az_json_fd(struct ai_json *j, const struct az_fd *f, enum az_rec rec);

#endif
