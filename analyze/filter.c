#include "analyze/filter.h"
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/findings.h"

int az_filter_option(struct az_filter *f, int letter, const char *arg)
{
	char *end;
	switch (letter) {
	case 'P': {
		long long v = strtoll(arg, &end, 10);
		if (!*arg || *end || v < 0)
			return -1;
		f->pid = v;
		return 0;
	}
	case 'C':
		f->container = arg;
		return *arg ? 0 : -1;
	case 'G':
		f->path = arg;
		return *arg ? 0 : -1;
	case 'M':
		f->min_sev = !strcmp(arg, "high")     ? AZ_SEV_HIGH
			     : !strcmp(arg, "medium") ? AZ_SEV_MEDIUM
			     : !strcmp(arg, "info")   ? AZ_SEV_INFO
						      : -1;
		return f->min_sev < 0 ? -1 : 0;
	}
	return -1;
}

/* A container named by its name (checkpoint archives), its id, or a prefix of its id of at
 * least 4 characters (as podman accepts). */
static bool container_match(const char *want, const char *have)
{
	if (!have)
		return false;
	size_t n = strlen(want);
	return !strcmp(want, have) || (n >= 4 && !strncmp(want, have, n));
}

bool az_filter_row(const struct az_filter *f, const struct az_model *m, int64_t pid, const char *path)
{
	if (f->pid >= 0 && pid != f->pid)
		return false;
	if (f->container && !container_match(f->container, az_row_container(m, pid)))
		return false;
	if (f->path && (!path || fnmatch(f->path, path, 0)))
		return false;
	return true;
}

void az_filter_findings(const struct az_filter *f, const struct az_model *m, struct az_findings *v)
{
	size_t k = 0;
	for (size_t i = 0; i < v->n; i++) {
		struct az_finding *x = &v->v[i];
		bool keep =
		    az_filter_row(f, m, x->pid, x->path.s) && (f->min_sev < 0 || (int)x->sev <= f->min_sev);
		if (keep) {
			v->v[k++] = *x;
		} else {
			az_str_free(&x->path);
			az_str_free(&x->member);
		}
	}
	v->n = k;
}
