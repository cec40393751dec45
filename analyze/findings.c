#include "analyze/findings.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/behave.h"
#include "analyze/imgcheck.h"
#include "analyze/record.h"
#include "analyze/util.h"
#include "common/json.h"

#define add(f, sev, kind, ...) az_finding_add(f, kind, __VA_ARGS__)

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return a < b ? -1 : a > b;
}

/* The pids of the high-severity findings so far (listeners aside), sorted for bsearch. */
static int64_t *flagged_pids(const struct az_findings *f, size_t *n)
{
	int64_t *v = malloc((f->n ? f->n : 1) * sizeof(*v));
	if (!v)
		abort();
	*n = 0;
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].sev == AZ_SEV_HIGH && f->v[i].pid >= 0 && !f->v[i].rule->config &&
		    strncmp(f->v[i].kind, "listener", 8))
			v[(*n)++] = f->v[i].pid;
	qsort(v, *n, sizeof(*v), cmp_i64);
	return v;
}

/* A deleted file or memfd is often held through one file description inherited by many
 * processes (a shell's fd 3 by every child): one finding per file, naming every holder, reads
 * better than one per fd. Sorted by (kind, inode, name), grouped, then reported in the order of
 * each file's first holder; O(n log n) for a hostile fd count. */
static int cmp_open(const void *x, const void *y, void *ud)
{
	const struct az_model *m = ud;
	const struct az_fd *a = &m->fds[*(const size_t *)x], *b = &m->fds[*(const size_t *)y];
	if (a->memfd != b->memfd)
		return a->memfd ? 1 : -1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	size_t n = a->target.len < b->target.len ? a->target.len : b->target.len;
	int c = n ? memcmp(a->target.s, b->target.s, n) : 0;
	if (c)
		return c;
	if (a->target.len != b->target.len)
		return a->target.len < b->target.len ? -1 : 1;
	return *(const size_t *)x < *(const size_t *)y ? -1 : *(const size_t *)x > *(const size_t *)y;
}

static bool same_file(const struct az_fd *a, const struct az_fd *b)
{
	return a->ino > 0 && a->memfd == b->memfd && a->ino == b->ino && a->target.len == b->target.len &&
	       (!a->target.len || !memcmp(a->target.s, b->target.s, a->target.len));
}

struct open_group {
	size_t first;	 /* index into m->fds of the first holder (fds are in pid order) */
	size_t start, n; /* run in the sorted index */
};

static int cmp_group(const void *x, const void *y)
{
	const struct open_group *a = x, *b = y;
	return a->first < b->first ? -1 : a->first > b->first;
}

static void open_files(struct az_findings *f, const struct az_model *m)
{
	size_t n = 0;
	size_t *ix = malloc((m->nfds ? m->nfds : 1) * sizeof(*ix));
	struct open_group *g = malloc((m->nfds ? m->nfds : 1) * sizeof(*g));
	if (!ix || !g)
		abort();
	for (size_t i = 0; i < m->nfds; i++)
		if ((m->fds[i].memfd && m->fds[i].type == AZ_FD_MEMFD) || m->fds[i].deleted)
			ix[n++] = i;
	qsort_r(ix, n, sizeof(*ix), cmp_open, (void *)m);
	size_t ng = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && same_file(&m->fds[ix[i]], &m->fds[ix[j]]))
			j++;
		g[ng++] = (struct open_group){.first = ix[i], .start = i, .n = j - i};
		i = j;
	}
	qsort(g, ng, sizeof(*g), cmp_group);
	for (size_t k = 0; k < ng; k++) {
		const struct az_fd *d = &m->fds[g[k].first];
		bool memfd = d->memfd && d->type == AZ_FD_MEMFD;
		char also[200] = "";
		if (g[k].n > 1) {
			size_t off =
			    (size_t)snprintf(also, sizeof(also), "; also held by %zu more:", g[k].n - 1);
			for (size_t q = 1; q < g[k].n && off < sizeof(also); q++) {
				const struct az_fd *o = &m->fds[ix[g[k].start + q]];
				off += (size_t)snprintf(also + off, sizeof(also) - off,
							" %" PRId64 "/%" PRId64, o->pid, o->fd);
			}
			if (off >= sizeof(also))
				memcpy(also + sizeof(also) - 5, " ...", 5);
		}
		struct az_finding *x =
		    add(f, AZ_SEV_MEDIUM, memfd ? "memfd-open" : "deleted-open-file", d->pid, d->target.s,
			d->target.len, "pid %" PRId64 " fd %" PRId64 " holds a %s (%" PRId64 " bytes)%s%s%s",
			d->pid, d->fd, memfd ? "memfd" : "deleted file", d->size,
			d->rec_member.s ? ", content saved as " : "", d->rec_member.s ? d->rec_member.s : "",
			also);
		x->fd = d->fd;
		memcpy(x->sha256, d->rec_sha256, sizeof(x->sha256));
		if (d->rec_member.s)
			az_str_set(&x->member, d->rec_member.s, d->rec_member.len);
	}
	free(ix);
	free(g);
}

static void set_exe_evidence(struct az_finding *x, const struct az_proc *p)
{
	memcpy(x->sha256, p->exe_sha256, sizeof(x->sha256));
	if (p->exe_member.s)
		az_str_set(&x->member, p->exe_member.s, p->exe_member.len);
}

static void proc_findings(struct az_findings *f, const struct az_model *m, const struct az_attrs *as)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		const struct az_attr *a = az_attrs_of(as, p->ct);
		bool have_img = a && az_attr_image(a);
		const char *comm = p->comm.s ? p->comm.s : "?";
		size_t el = az_exe_path_len(p);
		struct az_finding *x = NULL;
		if (p->exe_memfd) {
			x = add(f, AZ_SEV_HIGH, "exe-memfd", p->pid, p->exe.s, p->exe.len,
				"pid %" PRId64 " (%s) runs from a memfd (fileless); exe saved as %s", p->pid,
				comm, p->exe_member.s ? p->exe_member.s : "(not saved)");
			set_exe_evidence(x, p);
			continue;
		}
		if (p->exe_deleted) {
			x = add(f, AZ_SEV_HIGH, "exe-deleted", p->pid, p->exe.s, el,
				"pid %" PRId64 " (%s) runs a deleted binary; exe saved as %s (sha256 %s)",
				p->pid, comm, p->exe_member.s ? p->exe_member.s : "(not saved)",
				p->exe_sha256[0] ? p->exe_sha256 : "unknown");
			set_exe_evidence(x, p);
			continue;
		}
		if (!p->exe.s || !a)
			continue;
		struct az_origin o;
		bool known = az_attr_lookup(a, p->exe.s, el, &o);
		if (!known && have_img) {
			x = add(f, AZ_SEV_HIGH, "exe-unknown-origin", p->pid, p->exe.s, el,
				"pid %" PRId64 " (%s) runs a binary that no layer nor the upperdir provides",
				p->pid, comm);
		} else if (known && o.status == AZ_ST_ADDED) {
			x = add(f, AZ_SEV_HIGH, have_img ? "exe-added-at-runtime" : "exe-from-upperdir",
				p->pid, p->exe.s, el, "pid %" PRId64 " (%s) runs a binary %s", p->pid, comm,
				have_img ? "added at runtime (no image layer provides it)"
					 : "from the upperdir");
		} else if (known && (o.status == AZ_ST_MODIFIED || o.status == AZ_ST_REPLACED)) {
			x = add(f, AZ_SEV_HIGH, "exe-modified", p->pid, p->exe.s, el,
				"pid %" PRId64 " (%s) runs an image binary modified at runtime (layer %d)",
				p->pid, comm, o.layer);
		} else if (known && o.status == AZ_ST_IMAGE && o.sha_known && p->exe_sha256[0] &&
			   strcmp(o.lower_sha256, p->exe_sha256)) {
			x = add(f, AZ_SEV_HIGH, "exe-content-mismatch", p->pid, p->exe.s, el,
				"pid %" PRId64
				" (%s): the running binary's sha256 %s differs from layer %d's %s",
				p->pid, comm, p->exe_sha256, o.layer, o.lower_sha256);
		}
		if (x)
			set_exe_evidence(x, p);
	}
}

static void upper_findings(struct az_findings *f, const struct az_model *m, const struct az_attrs *as)
{
	for (size_t i = 0; i < m->nupper; i++) {
		const struct az_upper *u = &m->upper[i];
		const struct az_attr *a = az_attrs_of(as, u->ct);
		if (u->type != AZ_U_FILE || !a)
			continue;
		struct az_origin o;
		if (!az_attr_lookup(a, u->path.s, u->path.len, &o))
			continue;
		bool changed =
		    o.status == AZ_ST_ADDED || o.status == AZ_ST_MODIFIED || o.status == AZ_ST_REPLACED;
		bool suid = u->mode & 06000;
		struct az_finding *x = NULL;
		if (suid && (changed || o.status == AZ_ST_METADATA))
			x = add(f, AZ_SEV_HIGH, "setuid-added", -1, u->path.s, u->path.len,
				"set%s file %s at runtime (mode %04o)", (u->mode & 04000) ? "uid" : "gid",
				az_status_name(o.status), u->mode);
		else if (o.status == AZ_ST_MODIFIED && o.lower_exec)
			x = add(f, AZ_SEV_HIGH, "image-binary-modified", -1, u->path.s, u->path.len,
				"executable of layer %d modified at runtime (sha256 now %s)", o.layer,
				u->sha256);
		else if (o.lower_exec && (u->mode & 022) && o.status == AZ_ST_METADATA)
			x = add(f, AZ_SEV_MEDIUM, "image-binary-writable", -1, u->path.s, u->path.len,
				"executable of layer %d made writable by %s (mode %04o)", o.layer,
				(u->mode & 02) ? "everyone" : "its group", u->mode);
		else if (changed && (u->mode & 0111) && u->size > 0)
			x = add(f, AZ_SEV_MEDIUM, "executable-added", -1, u->path.s, u->path.len,
				"executable file %s at runtime (mode %04o, sha256 %s)",
				az_status_name(o.status), u->mode, u->sha256);
		if (x) {
			x->ct = u->ct;
			memcpy(x->sha256, u->sha256, sizeof(x->sha256));
			if (u->member.s)
				az_str_set(&x->member, u->member.s, u->member.len);
		}
	}
}

static void flagged_listeners(struct az_findings *f, const struct az_model *m)
{
	size_t nflagged;
	int64_t *flagged = flagged_pids(f, &nflagged);
	for (size_t i = 0; i < m->nsocks; i++) {
		const struct az_sock *s = &m->socks[i];
		bool listening = !strcmp(s->state, "LISTEN") || (!strcmp(s->proto, "udp") && s->lport > 0);
		if (!listening)
			continue;
		for (size_t k = 0; k < s->nowners; k++) {
			if (!bsearch(&s->owners[k].pid, flagged, nflagged, sizeof(*flagged), cmp_i64))
				continue;
			char where[300], ep[96] = "";
			if (!strcmp(s->family, "unix")) {
				snprintf(where, sizeof(where), "unix %s", s->path.s ? s->path.s : "?");
			} else {
				az_endpoint(ep, sizeof(ep), s->laddr.s, s->lport);
				snprintf(where, sizeof(where), "%s %s", s->proto, ep);
			}
			struct az_finding *x =
			    add(f, AZ_SEV_HIGH, "listener-of-flagged-process", s->owners[k].pid, NULL, 0,
				"pid %" PRId64 " (flagged above) listens on %s", s->owners[k].pid, where);
			x->fd = s->owners[k].fd;
			snprintf(x->local, sizeof(x->local), "%s", ep[0] ? ep : where);
			break;
		}
	}
	free(flagged);
}

static int cmp_rank(const void *x, const void *y)
{
	const struct az_finding *a = *(const struct az_finding *const *)x,
				*b = *(const struct az_finding *const *)y;
	if (a->sev != b->sev)
		return (int)a->sev - (int)b->sev;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return a < b ? -1 : a > b; /* stable: the order the rules found them */
}

/* Most severe first, then by score, then in the order found: the same order on every run. */
static void rank(struct az_findings *f)
{
	if (f->n < 2)
		return;
	struct az_finding **ix = malloc(f->n * sizeof(*ix)), *v = malloc(f->n * sizeof(*v));
	if (!ix || !v)
		abort();
	for (size_t i = 0; i < f->n; i++)
		ix[i] = &f->v[i];
	qsort(ix, f->n, sizeof(*ix), cmp_rank);
	for (size_t i = 0; i < f->n; i++)
		v[i] = *ix[i];
	free(ix);
	free(f->v);
	f->v = v;
	f->cap = f->n;
}

void az_findings_build(struct az_findings *f, const struct az_model *m, const struct az_attrs *as,
		       const struct az_findings_opts *o)
{
	static const struct az_findings_opts none;
	memset(f, 0, sizeof(*f));
	proc_findings(f, m, as);
	upper_findings(f, m, as);
	open_files(f, m);
	az_findings_behaviour(f, m, as, o ? o : &none);
	flagged_listeners(f, m);
	rank(f);
}

void az_findings_free(struct az_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		az_str_free(&f->v[i].path);
		az_str_free(&f->v[i].member);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static void origin_text(const struct az_attrs *as, unsigned ct, const char *p, size_t len, struct ai_buf *out,
			struct ai_json *j)
{
	const struct az_attr *a = az_attrs_of(as, ct);
	const struct az_volume *v = az_attr_volume(a, ct, p, len);
	if (v) { /* the volume's, whatever the layers or the upperdir say of that path */
		if (j) {
			ai_json_kstr(j, "status", "volume");
			az_json_str(j, "volume", &v->mount_point);
			az_json_str(j, "volume_kind", &v->kind);
		} else {
			az_attr_volume_text(v, out);
		}
		return;
	}
	struct az_origin o;
	bool known = a && az_attr_lookup(a, p, len, &o);
	const struct az_image *img = a ? az_attr_image(a) : NULL;
	const struct az_layer *L =
	    known && img && o.layer > 0 && (size_t)o.layer <= img->nlayers ? &img->layers[o.layer - 1] : NULL;
	if (j) {
		ai_json_kstr(j, "status", known ? az_status_name(o.status) : "unknown");
		ai_json_key(j, "layer");
		if (known && o.layer)
			ai_json_int(j, o.layer);
		else
			ai_json_null(j);
		ai_json_kstr(j, "digest", L ? L->digest : NULL);
		return;
	}
	if (!known) {
		ai_buf_adds(out, "unknown");
		return;
	}
	ai_buf_adds(out, az_status_name(o.status));
	if (o.layer)
		ai_buf_printf(out, " (layer %d)", o.layer);
}

/* Open files per process without a procs x fds scan: the fd indexes sorted by (pid, index). */
struct fd_index {
	const struct az_model *m;
	size_t *v;
};

static int cmp_fd_pid(const void *x, const void *y, void *ud)
{
	const struct az_model *m = ud;
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	int64_t pa = m->fds[a].pid, pb = m->fds[b].pid;
	return pa < pb ? -1 : pa > pb ? 1 : (a > b) - (a < b);
}

static void fd_index_build(struct fd_index *ix, const struct az_model *m)
{
	ix->m = m;
	ix->v = malloc((m->nfds ? m->nfds : 1) * sizeof(size_t));
	if (!ix->v)
		abort();
	for (size_t i = 0; i < m->nfds; i++)
		ix->v[i] = i;
	qsort_r(ix->v, m->nfds, sizeof(size_t), cmp_fd_pid, (void *)m);
}

/* The range [*lo, *hi) of ix->v holding the fds of process i; empty for a repeated pid (a hostile
 * bundle), so the listing stays linear. */
static void fd_range(const struct fd_index *ix, size_t i, size_t *lo, size_t *hi)
{
	const struct az_model *m = ix->m;
	int64_t pid = m->procs[i].pid;
	*lo = *hi = 0;
	if (i > 0 && m->procs[i - 1].pid == pid)
		return;
	size_t l = 0, h = m->nfds;
	while (l < h) {
		size_t mid = l + (h - l) / 2;
		if (m->fds[ix->v[mid]].pid < pid)
			l = mid + 1;
		else
			h = mid;
	}
	*lo = *hi = l;
	while (*hi < m->nfds && m->fds[ix->v[*hi]].pid == pid)
		(*hi)++;
}

static void opt_int(struct ai_json *j, const char *key, int64_t v)
{
	ai_json_key(j, key);
	if (v >= 0)
		ai_json_int(j, v);
	else
		ai_json_null(j);
}

/* The image check of each container attributed against an image: one object for a bundle of one
 * container, an array of {container, image_check} for a pod. */
static void imgchecks_json(const struct az_model *m, const struct az_attrs *as, struct ai_json *j)
{
	if (!as || !as->n)
		return;
	if (as->n == 1) {
		az_imgcheck_json(az_attr_imgcheck(as->ct[0]), j);
		return;
	}
	ai_json_key(j, "image_checks");
	ai_json_arr_begin(j);
	for (size_t ct = 0; ct < as->n; ct++) {
		ai_json_obj_begin(j);
		ai_json_kstr(j, "container", az_model_ctname(m, (unsigned)ct));
		az_imgcheck_json(az_attr_imgcheck(as->ct[ct]), j);
		ai_json_obj_end(j);
	}
	ai_json_arr_end(j);
}

void az_findings_render(const struct az_findings *f, const struct az_model *m, const struct az_attrs *as,
			bool json, struct ai_buf *out)
{
	struct fd_index ix;
	fd_index_build(&ix, m);
	if (json) {
		struct ai_json j;
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		imgchecks_json(m, as, &j);
		ai_json_key(&j, "findings");
		ai_json_arr_begin(&j);
		for (size_t i = 0; i < f->n; i++) {
			const struct az_finding *x = &f->v[i];
			ai_json_obj_begin(&j);
			ai_json_kstr(&j, "severity", az_sev_name(x->sev));
			ai_json_kstr(&j, "kind", x->kind);
			ai_json_kstr(&j, "rule", x->rule->id);
			ai_json_kstr(&j, "class", x->rule->config ? "configuration" : "behaviour");
			opt_int(&j, "pid", x->pid);
			ai_json_kstr(&j, "container", az_finding_container(m, x));
			az_json_str(&j, "path", &x->path);
			az_json_str(&j, "member", &x->member);
			ai_json_kstr(&j, "sha256", x->sha256[0] ? x->sha256 : NULL);
			opt_int(&j, "fd", x->fd);
			ai_json_kstr(&j, "local", x->local[0] ? x->local : NULL);
			ai_json_kstr(&j, "remote", x->remote[0] ? x->remote : NULL);
			ai_json_kstr(&j, "message", x->msg);
			ai_json_obj_end(&j);
		}
		ai_json_arr_end(&j);
		ai_json_key(&j, "processes");
		ai_json_arr_begin(&j);
		for (size_t i = 0; i < m->nprocs; i++) {
			const struct az_proc *p = &m->procs[i];
			ai_json_obj_begin(&j);
			az_json_ct(&j, m, p->ct);
			az_json_proc(&j, p, AZ_REC_ID, 0);
			if (p->exe_memfd || p->exe_deleted)
				ai_json_kstr(&j, "status", p->exe_memfd ? "memfd" : "deleted");
			else if (p->exe.s)
				origin_text(as, p->ct, p->exe.s, az_exe_path_len(p), NULL, &j);
			ai_json_key(&j, "files");
			ai_json_arr_begin(&j);
			size_t lo, hi;
			fd_range(&ix, i, &lo, &hi);
			for (size_t x = lo; x < hi; x++) {
				const struct az_fd *d = &m->fds[ix.v[x]];
				if ((d->type != AZ_FD_FILE && d->type != AZ_FD_DELETED &&
				     d->type != AZ_FD_MEMFD))
					continue;
				ai_json_obj_begin(&j);
				az_json_fd(&j, d, AZ_REC_ID);
				if (d->type == AZ_FD_FILE)
					origin_text(as, d->ct, d->target.s, d->target.len, NULL, &j);
				else
					ai_json_kstr(&j, "status",
						     d->type == AZ_FD_MEMFD ? "memfd" : "deleted");
				ai_json_obj_end(&j);
			}
			ai_json_arr_end(&j);
			ai_json_obj_end(&j);
		}
		ai_json_arr_end(&j);
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
		free(ix.v);
		return;
	}
	ai_buf_printf(out, "FINDINGS (%zu)\n", f->n);
	for (size_t i = 0; i < f->n; i++) {
		const struct az_finding *x = &f->v[i];
		ai_buf_printf(out, "  [%-6s] %-11s %-28s ", az_sev_name(x->sev), x->rule->id, x->kind);
		const char *xc = m->ncts > 1 ? az_finding_container(m, x) : NULL;
		if (xc)
			ai_buf_printf(out, "(%s) ", xc);
		if (x->path.s) {
			az_esc_text(out, x->path.s, x->path.len);
			ai_buf_adds(out, ": ");
		}
		az_esc_text(out, x->msg, strlen(x->msg));
		if (x->sha256[0] && !strstr(x->msg, x->sha256))
			ai_buf_printf(out, " [sha256 %s]", x->sha256);
		if (x->member.s && !strstr(x->msg, x->member.s)) {
			ai_buf_adds(out, " [member ");
			az_esc_text(out, x->member.s, x->member.len);
			ai_buf_addc(out, ']');
		}
		ai_buf_addc(out, '\n');
	}
	ai_buf_adds(out, "\nPROCESSES AND OPEN FILES (origin)\n");
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		ai_buf_adds(out, "  ");
		az_ct_col(m, p->ct, out);
		ai_buf_printf(out, "%" PRId64 " ", p->pid);
		az_esc_text(out, p->comm.s, p->comm.len);
		ai_buf_adds(out, " exe ");
		az_esc_text(out, p->exe.s, p->exe.len);
		ai_buf_adds(out, ": ");
		if (p->exe_memfd || p->exe_deleted)
			ai_buf_adds(out, p->exe_memfd ? "memfd" : "deleted");
		else if (p->exe.s)
			origin_text(as, p->ct, p->exe.s, az_exe_path_len(p), out, NULL);
		ai_buf_addc(out, '\n');
		size_t lo, hi;
		fd_range(&ix, i, &lo, &hi);
		for (size_t x = lo; x < hi; x++) {
			const struct az_fd *d = &m->fds[ix.v[x]];
			if ((d->type != AZ_FD_FILE && d->type != AZ_FD_DELETED && d->type != AZ_FD_MEMFD))
				continue;
			ai_buf_printf(out, "      fd %" PRId64 " ", d->fd);
			az_esc_text(out, d->target.s, d->target.len);
			ai_buf_adds(out, ": ");
			if (d->type == AZ_FD_FILE)
				origin_text(as, d->ct, d->target.s, d->target.len, out, NULL);
			else
				ai_buf_adds(out, d->type == AZ_FD_MEMFD ? "memfd" : "deleted");
			ai_buf_addc(out, '\n');
		}
	}
	free(ix.v);
}
