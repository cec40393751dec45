#include "analyze/filter.h"
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "analyze/finding.h"

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
	case 'T':
		f->since = arg;
		return *arg ? 0 : -1;
	case 'U':
		f->until = arg;
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

/* In a pod (format 2) each row is of one container: matched by its name, id or id prefix. */
static bool pod_match(const char *want, const struct az_model *m, unsigned ct)
{
	if (ct >= m->ncts)
		return false;
	const struct az_container *c = &m->cts[ct];
	return container_match(want, c->shortname) || container_match(want, c->name.s) ||
	       container_match(want, c->id.s);
}

static bool row_keep(const struct az_filter *f, const struct az_model *m, int64_t pid, int64_t ct,
		     const char *path)
{
	if (f->pid >= 0 && pid != f->pid)
		return false;
	if (f->container && m->ncts > 1) {
		const struct az_proc *p = ct < 0 && pid >= 0 ? az_model_proc(m, pid) : NULL;
		if (p)
			ct = p->ct;
		if (ct < 0 || !pod_match(f->container, m, (unsigned)ct))
			return false;
	} else if (f->container && !container_match(f->container, az_row_container(m, pid)))
		return false;
	if (f->path && (!path || fnmatch(f->path, path, 0)))
		return false;
	return true;
}

bool az_filter_row(const struct az_filter *f, const struct az_model *m, int64_t pid, const char *path)
{
	return row_keep(f, m, pid, -1, path);
}

void az_filter_findings(const struct az_filter *f, const struct az_model *m, struct az_findings *v)
{
	size_t k = 0;
	for (size_t i = 0; i < v->n; i++) {
		struct az_finding *x = &v->v[i];
		bool keep =
		    row_keep(f, m, x->pid, x->ct, x->path.s) && (f->min_sev < 0 || (int)x->sev <= f->min_sev);
		if (keep) {
			v->v[k++] = *x;
		} else {
			az_str_free(&x->path);
			az_str_free(&x->member);
		}
	}
	v->n = k;
}

/* "+10m" / "-2h" from the capture's start, or an ISO 8601 UTC time; 0 when unparsable. */
static int64_t when(const char *s, const struct az_model *m)
{
	int64_t base = m->man.started_ns ? m->man.started_ns : m->ck.checkpointed_ns;
	if (s[0] == '+' || s[0] == '-') {
		char *end;
		long long v = strtoll(s + 1, &end, 10);
		static const struct {
			char c;
			int64_t ns;
		} u[] = {{'s', 1000000000LL},
			 {'m', 60000000000LL},
			 {'h', 3600000000000LL},
			 {'d', 86400000000000LL}};
		int64_t mul = 0;
		for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
			if (*end == u[i].c && !end[1])
				mul = u[i].ns;
		if (end == s + 1 || !mul || v < 0 || v > 100000 || !base)
			return 0;
		return base + (s[0] == '-' ? -1 : 1) * (int64_t)v * mul;
	}
	return az_time_parse(s);
}

/* A row without a time (a checkpoint archive's processes) is kept: unknown is not outside. */
static bool in_window(int64_t t, int64_t lo, int64_t hi)
{
	return !t || ((!lo || t >= lo) && (!hi || t <= hi));
}

static bool pid_kept(const struct az_model *m, int64_t pid)
{
	return az_model_proc(m, pid) != NULL;
}

/* Upperdir or volume files: no pid of their own (a --pid filter keeps none), their container's. */
static void keep_files(const struct az_filter *f, const struct az_model *m, struct az_upper *v, size_t *n,
		       bool timed, int64_t lo, int64_t hi)
{
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		struct az_upper *u = &v[i];
		bool keep =
		    f->pid < 0 && row_keep(f, m, -1, u->ct, u->path.s) &&
		    (!timed || (u->mtime_ns && in_window(u->mtime_ns, lo, hi)) ||
		     (u->ctime_ns && in_window(u->ctime_ns, lo, hi)) || (!u->mtime_ns && !u->ctime_ns));
		if (keep)
			v[k++] = *u;
		else
			az_upper_free(u);
	}
	*n = k;
}

int az_filter_model(const struct az_filter *f, struct az_model *m, char *err, size_t errlen)
{
	int64_t lo = f->since ? when(f->since, m) : 0, hi = f->until ? when(f->until, m) : 0;
	if ((f->since && !lo) || (f->until && !hi)) {
		snprintf(err, errlen,
			 "--since/--until: not a time (ISO 8601 UTC, or +N/-N with s, m, h or d)");
		return -1;
	}
	bool timed = lo || hi;
	size_t k = 0;
	for (size_t i = 0; i < m->nprocs; i++) {
		struct az_proc *p = &m->procs[i];
		char *exe = p->exe.s ? strndup(p->exe.s, az_exe_path_len(p)) : NULL;
		bool keep = az_filter_row(f, m, p->pid, exe) && (!timed || in_window(p->start_ns, lo, hi));
		free(exe);
		if (keep)
			m->procs[k++] = *p;
		else
			az_proc_free(p);
	}
	m->nprocs = k;
	bool ctr = az_filter_row(&(struct az_filter){.pid = -1, .container = f->container}, m, -1, NULL);
	k = 0;
	for (size_t i = 0; i < m->nfds; i++) {
		struct az_fd *d = &m->fds[i];
		bool keep = ctr && (f->pid < 0 || d->pid == f->pid) && (!timed || pid_kept(m, d->pid)) &&
			    (!f->path || (d->target.s && !fnmatch(f->path, d->target.s, 0)));
		if (keep) {
			m->fds[k++] = *d;
		} else {
			az_str_free(&d->target);
			az_str_free(&d->rec_member);
		}
	}
	m->nfds = k;
	k = 0;
	for (size_t i = 0; i < m->nsocks; i++) {
		struct az_sock *s = &m->socks[i];
		bool owned = f->pid < 0 && !timed;
		for (size_t o = 0; !owned && o < s->nowners; o++)
			owned = (f->pid < 0 || s->owners[o].pid == f->pid) &&
				(!timed || pid_kept(m, s->owners[o].pid));
		bool keep = ctr && owned && (!f->path || (s->path.s && !fnmatch(f->path, s->path.s, 0)));
		if (keep) {
			m->socks[k++] = *s;
		} else {
			az_str_free(&s->laddr);
			az_str_free(&s->raddr);
			az_str_free(&s->path);
			free(s->owners);
		}
	}
	m->nsocks = k;
	keep_files(f, m, m->upper, &m->nupper, timed, lo, hi);
	keep_files(f, m, m->vfiles, &m->nvfiles, timed, lo, hi);
	return 0;
}
