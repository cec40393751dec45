#include "analyze/findings.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/imgcheck.h"
#include "analyze/util.h"
#include "analyze/views.h"
#include "common/json.h"

const char *az_sev_name(enum az_sev s)
{
	return s == AZ_SEV_HIGH ? "high" : s == AZ_SEV_MEDIUM ? "medium" : "info";
}

static struct az_finding *add(struct az_findings *f, enum az_sev sev, const char *kind, int64_t pid,
			      const char *path, size_t plen, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static struct az_finding *add(struct az_findings *f, enum az_sev sev, const char *kind, int64_t pid,
			      const char *path, size_t plen, const char *fmt, ...)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 32;
		f->v = realloc(f->v, f->cap * sizeof(*f->v));
		if (!f->v)
			abort();
	}
	struct az_finding *x = &f->v[f->n++];
	memset(x, 0, sizeof(*x));
	x->sev = sev;
	x->kind = kind;
	x->pid = pid;
	if (path)
		az_str_set(&x->path, path, plen);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	return x;
}

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
		if (f->v[i].sev == AZ_SEV_HIGH && strncmp(f->v[i].kind, "listener", 8))
			v[(*n)++] = f->v[i].pid;
	qsort(v, *n, sizeof(*v), cmp_i64);
	return v;
}

static int cmp_sev(const void *x, const void *y)
{
	const struct az_finding *a = x, *b = y;
	return (int)a->sev - (int)b->sev;
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
		add(f, AZ_SEV_MEDIUM, memfd ? "memfd-open" : "deleted-open-file", d->pid, d->target.s,
		    d->target.len, "pid %" PRId64 " fd %" PRId64 " holds a %s (%" PRId64 " bytes)%s%s%s",
		    d->pid, d->fd, memfd ? "memfd" : "deleted file", d->size,
		    d->rec_member.s ? ", content saved as " : "", d->rec_member.s ? d->rec_member.s : "",
		    also);
	}
	free(ix);
	free(g);
}

void az_findings_build(struct az_findings *f, const struct az_model *m, const struct az_attr *a)
{
	memset(f, 0, sizeof(*f));
	bool have_img = a && az_attr_image(a);
	/* processes */
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		const char *comm = p->comm.s ? p->comm.s : "?";
		size_t el = az_exe_path_len(p);
		if (p->exe_memfd) {
			add(f, AZ_SEV_HIGH, "exe-memfd", p->pid, p->exe.s, p->exe.len,
			    "pid %" PRId64 " (%s) runs from a memfd (fileless); exe saved as %s", p->pid,
			    comm, p->exe_member.s ? p->exe_member.s : "(not saved)");
			continue;
		}
		if (p->exe_deleted) {
			add(f, AZ_SEV_HIGH, "exe-deleted", p->pid, p->exe.s, el,
			    "pid %" PRId64 " (%s) runs a deleted binary; exe saved as %s (sha256 %.16s)",
			    p->pid, comm, p->exe_member.s ? p->exe_member.s : "(not saved)", p->exe_sha256);
			continue;
		}
		if (!p->exe.s || !a)
			continue;
		struct az_origin o;
		bool known = az_attr_lookup(a, p->exe.s, el, &o);
		if (!known && have_img) {
			add(f, AZ_SEV_HIGH, "exe-unknown-origin", p->pid, p->exe.s, el,
			    "pid %" PRId64 " (%s) runs a binary that no layer nor the upperdir provides",
			    p->pid, comm);
		} else if (known && o.status == AZ_ST_ADDED) {
			add(f, AZ_SEV_HIGH, have_img ? "exe-added-at-runtime" : "exe-from-upperdir", p->pid,
			    p->exe.s, el, "pid %" PRId64 " (%s) runs a binary %s", p->pid, comm,
			    have_img ? "added at runtime (no image layer provides it)" : "from the upperdir");
		} else if (known && (o.status == AZ_ST_MODIFIED || o.status == AZ_ST_REPLACED)) {
			add(f, AZ_SEV_HIGH, "exe-modified", p->pid, p->exe.s, el,
			    "pid %" PRId64 " (%s) runs an image binary modified at runtime (layer %d)",
			    p->pid, comm, o.layer);
		} else if (known && o.status == AZ_ST_IMAGE && o.sha_known && p->exe_sha256[0] &&
			   strcmp(o.lower_sha256, p->exe_sha256)) {
			add(f, AZ_SEV_HIGH, "exe-content-mismatch", p->pid, p->exe.s, el,
			    "pid %" PRId64
			    " (%s): the running binary's sha256 %.16s differs from layer %d's %.16s",
			    p->pid, comm, p->exe_sha256, o.layer, o.lower_sha256);
		}
	}
	/* the upperdir: executables and setuid files added, image binaries modified */
	for (size_t i = 0; a && i < m->nupper; i++) {
		const struct az_upper *u = &m->upper[i];
		if (u->type != AZ_U_FILE)
			continue;
		struct az_origin o;
		if (!az_attr_lookup(a, u->path.s, u->path.len, &o))
			continue;
		bool changed =
		    o.status == AZ_ST_ADDED || o.status == AZ_ST_MODIFIED || o.status == AZ_ST_REPLACED;
		bool suid = u->mode & 06000;
		if (suid && (changed || o.status == AZ_ST_METADATA))
			add(f, AZ_SEV_HIGH, "setuid-added", -1, u->path.s, u->path.len,
			    "set%s file %s at runtime (mode %04o)", (u->mode & 04000) ? "uid" : "gid",
			    az_status_name(o.status), u->mode);
		else if (o.status == AZ_ST_MODIFIED && o.lower_exec)
			add(f, AZ_SEV_HIGH, "image-binary-modified", -1, u->path.s, u->path.len,
			    "executable of layer %d modified at runtime (sha256 now %.16s)", o.layer,
			    u->sha256);
		else if (changed && (u->mode & 0111) && u->size > 0)
			add(f, AZ_SEV_MEDIUM, "executable-added", -1, u->path.s, u->path.len,
			    "executable file %s at runtime (mode %04o, sha256 %.16s)",
			    az_status_name(o.status), u->mode, u->sha256);
	}
	open_files(f, m);
	/* listeners of flagged processes */
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
			char where[300];
			if (!strcmp(s->family, "unix"))
				snprintf(where, sizeof(where), "unix %s", s->path.s ? s->path.s : "?");
			else
				snprintf(where, sizeof(where), "%s %s:%" PRId64, s->proto,
					 s->laddr.s ? s->laddr.s : "?", s->lport);
			add(f, AZ_SEV_HIGH, "listener-of-flagged-process", s->owners[k].pid, NULL, 0,
			    "pid %" PRId64 " (flagged above) listens on %s", s->owners[k].pid, where);
			break;
		}
	}
	free(flagged);
	if (f->n)
		qsort(f->v, f->n, sizeof(*f->v),
		      cmp_sev); /* not stable, but kinds stay grouped by severity */
}

void az_findings_free(struct az_findings *f)
{
	for (size_t i = 0; i < f->n; i++)
		az_str_free(&f->v[i].path);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

static void origin_text(const struct az_attr *a, unsigned ct, const char *p, size_t len, struct ai_buf *out,
			struct ai_json *j)
{
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

void az_findings_render(const struct az_findings *f, const struct az_model *m, const struct az_attr *a,
			bool json, struct ai_buf *out)
{
	struct fd_index ix;
	fd_index_build(&ix, m);
	if (json) {
		struct ai_json j;
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		if (a)
			az_imgcheck_json(az_attr_imgcheck(a), &j);
		ai_json_key(&j, "findings");
		ai_json_arr_begin(&j);
		for (size_t i = 0; i < f->n; i++) {
			const struct az_finding *x = &f->v[i];
			ai_json_obj_begin(&j);
			ai_json_kstr(&j, "severity", az_sev_name(x->sev));
			ai_json_kstr(&j, "kind", x->kind);
			const struct az_proc *xp = x->pid >= 0 ? az_model_proc(m, x->pid) : NULL;
			if (xp)
				az_json_ct(&j, m, xp->ct);
			ai_json_key(&j, "pid");
			if (x->pid >= 0)
				ai_json_int(&j, x->pid);
			else
				ai_json_null(&j);
			az_json_str(&j, "path", &x->path);
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
				origin_text(a, p->ct, p->exe.s, az_exe_path_len(p), NULL, &j);
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
					origin_text(a, d->ct, d->target.s, d->target.len, NULL, &j);
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
		ai_buf_printf(out, "  [%-6s] %-28s ", az_sev_name(x->sev), x->kind);
		const struct az_proc *xp = x->pid >= 0 ? az_model_proc(m, x->pid) : NULL;
		if (xp && m->ncts > 1)
			ai_buf_printf(out, "(%s) ", az_model_ctname(m, xp->ct));
		if (x->path.s) {
			az_esc_text(out, x->path.s, x->path.len);
			ai_buf_adds(out, ": ");
		}
		az_esc_text(out, x->msg, strlen(x->msg));
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
			origin_text(a, p->ct, p->exe.s, az_exe_path_len(p), out, NULL);
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
				origin_text(a, d->ct, d->target.s, d->target.len, out, NULL);
			else
				ai_buf_adds(out, d->type == AZ_FD_MEMFD ? "memfd" : "deleted");
			ai_buf_addc(out, '\n');
		}
	}
	free(ix.v);
}
