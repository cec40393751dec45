/* extract --member: one recovered file under its original name, with a manifest (export.c). */
#ifndef AZ_EXPORT_H
#define AZ_EXPORT_H
#include "analyze/model.h"

/* 0 and *written (malloc'ed: the file name inside outdir), or -1 (err set). */
int az_export_member(const struct az_model *m, const char *bundle, const char *member, const char *outdir,
		     char **written, ai_err_t *err);

#endif
