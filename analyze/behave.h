/* The behavioural and configuration rules (behave.c): network, ancestry, persistence, secrets,
 * identity of dropped binaries, volatile mounts, hardening. */
#ifndef AZ_BEHAVE_H
#define AZ_BEHAVE_H
#include <stdbool.h>
#include <stddef.h>
#include "analyze/attr.h"
#include "analyze/finding.h"
#include "analyze/model.h"

/* as: one attribution per container (context.h), each row looked up in its own container's. */
void az_findings_behaviour(struct az_findings *f, const struct az_model *m, const struct az_attrs *as,
			   const struct az_findings_opts *o);
/* Does an environ entry "NAME=value" look like a credential? *namelen: NAME's length. */
bool az_env_secret(const char *e, size_t len, size_t *namelen);

#endif
