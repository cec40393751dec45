#include "analyze/views.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/psdetail.h"
#include "analyze/util.h"
#include "common/cleanup.h"

/* Children lists in CSR form: kids[first[i] .. first[i+1]) are the indexes of i's children, in
 * index (pid) order. A child belongs to the first process carrying its ppid (pids are unique in a
 * real bundle; a hostile one may repeat them). O(n log n) over n processes. */
struct proc_kids {
	size_t *first, *kids;
};

static void proc_kids_build(const struct az_model *m, struct proc_kids *k)
{
	size_t n = m->nprocs;
	k->first = calloc(n + 2, sizeof(size_t));
	k->kids = calloc(n ? n : 1, sizeof(size_t));
	size_t *parent = calloc(n ? n : 1, sizeof(size_t));
	if (!k->first || !k->kids || !parent)
		abort();
	for (size_t c = 0; c < n; c++) {
		const struct az_proc *p = az_model_proc(m, m->procs[c].ppid);
		parent[c] = p && p != &m->procs[c] ? (size_t)(p - m->procs) : SIZE_MAX;
		if (parent[c] != SIZE_MAX)
			k->first[parent[c] + 2]++;
	}
	for (size_t i = 0; i < n; i++)
		k->first[i + 2] += k->first[i + 1];
	for (size_t c = 0; c < n; c++) /* first[i + 1] is the fill cursor of i, ends at first[i + 2] */
		if (parent[c] != SIZE_MAX)
			k->kids[k->first[parent[c] + 1]++] = c;
	free(parent);
}

static void tree_walk(const struct az_model *m, const struct proc_kids *pk, size_t i, int d, bool *seen,
		      size_t *order, size_t *k, int *depth)
{
	/* recursive over depth (bounded: deeper processes are listed later as roots of their own),
	 * each process is placed once (seen[], so a ppid cycle cannot loop) */
	if (seen[i] || d > 64)
		return;
	seen[i] = true;
	order[*k] = i;
	depth[*k] = d;
	(*k)++;
	for (size_t x = pk->first[i]; x < pk->first[i + 1]; x++)
		if (!seen[pk->kids[x]])
			tree_walk(m, pk, pk->kids[x], d + 1, seen, order, k, depth);
}

void az_proc_tree(const struct az_model *m, size_t *order, int *depth)
{
	cleanup_free bool *seen = calloc(m->nprocs ? m->nprocs : 1, sizeof(bool));
	if (!seen)
		abort();
	struct proc_kids pk;
	proc_kids_build(m, &pk);
	size_t k = 0;
	for (size_t i = 0; i < m->nprocs; i++) /* roots: parent not in the bundle */
		if (!az_model_proc(m, m->procs[i].ppid) || m->procs[i].ppid == m->procs[i].pid)
			tree_walk(m, &pk, i, 0, seen, order, &k, depth);
	for (size_t i = 0; i < m->nprocs; i++) /* anything left (a cycle, or deeper than 64): flat */
		if (!seen[i])
			tree_walk(m, &pk, i, 0, seen, order, &k, depth);
	free(pk.first);
	free(pk.kids);
}

void az_view_ps(const struct az_model *m, bool json, struct ai_buf *out)
{
	cleanup_free size_t *order = calloc(m->nprocs + 1, sizeof(size_t));
	cleanup_free int *depth = calloc(m->nprocs + 1, sizeof(int));
	if (!order || !depth)
		abort();
	az_proc_tree(m, order, depth);
	if (json) {
		struct ai_json j;
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		ai_json_key(&j, "processes");
		ai_json_arr_begin(&j);
		for (size_t k = 0; k < m->nprocs; k++) {
			ai_json_obj_begin(&j);
			az_json_ct(&j, m, m->procs[order[k]].ct);
			az_json_proc(&j, &m->procs[order[k]], AZ_REC_FULL, depth[k]);
			az_ps_json_extra(&j, &m->procs[order[k]]);
			ai_json_obj_end(&j);
		}
		ai_json_arr_end(&j);
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
		return;
	}
	az_ct_head(m, out);
	ai_buf_printf(out, "%-8s %-8s %-6s %-5s %-5s %-20s %s\n", "PID", "PPID", "NSPID", "UID", "STAT",
		      "STARTED (UTC)", "COMMAND");
	for (size_t k = 0; k < m->nprocs; k++) {
		const struct az_proc *p = &m->procs[order[k]];
		char t[64];
		az_time_iso(t, sizeof(t), p->start_ns);
		t[19] = '\0';
		az_ct_col(m, p->ct, out);
		ai_buf_printf(out, "%-8" PRId64 " %-8" PRId64 " %-6" PRId64 " %-5" PRId64 " %-5s %-20s ",
			      p->pid, p->ppid, p->nspid, p->uid[1], p->state[0] ? p->state : "?",
			      t[0] ? t : "-");
		for (int d = 0; d < depth[k]; d++)
			ai_buf_adds(out, "  ");
		if (depth[k])
			ai_buf_adds(out, "\\_ ");
		az_proc_cmdline(p, out);
		if (p->exe_deleted || p->exe_memfd || p->exe_member.s) {
			ai_buf_adds(out, "  [exe ");
			az_esc_text(out, p->exe.s, p->exe.len);
			ai_buf_adds(out, p->exe_memfd	  ? ", memfd"
					 : p->exe_deleted ? ", deleted"
							  : ", from upperdir");
			ai_buf_addc(out, ']');
		}
		if (p->zombie)
			ai_buf_adds(out, "  <zombie>");
		if (p->vanished)
			ai_buf_adds(out, "  <vanished>");
		ai_buf_addc(out, '\n');
	}
}

void az_view_fds(const struct az_model *m, bool json, struct ai_buf *out)
{
	if (json) {
		struct ai_json j;
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		ai_json_key(&j, "fds");
		ai_json_arr_begin(&j);
		for (size_t i = 0; i < m->nfds; i++) {
			ai_json_obj_begin(&j);
			az_json_ct(&j, m, m->fds[i].ct);
			az_json_fd(&j, &m->fds[i], AZ_REC_FULL);
			ai_json_obj_end(&j);
		}
		ai_json_arr_end(&j);
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
		return;
	}
	az_ct_head(m, out);
	ai_buf_printf(out, "%-8s %-4s %-8s %-10s %-10s %s\n", "PID", "FD", "TYPE", "FLAGS", "SIZE", "TARGET");
	for (size_t i = 0; i < m->nfds; i++) {
		const struct az_fd *f = &m->fds[i];
		char sz[32] = "-";
		if (f->size >= 0)
			snprintf(sz, sizeof(sz), "%" PRId64, f->size);
		az_ct_col(m, f->ct, out);
		ai_buf_printf(out, "%-8" PRId64 " %-4" PRId64 " %-8s %-10s %-10s ", f->pid, f->fd,
			      az_fd_type_name(f->type), f->flags, sz);
		az_esc_text(out, f->target.s, f->target.len);
		if (f->rec_member.s) {
			ai_buf_adds(out, "  [recovered: ");
			az_esc_text(out, f->rec_member.s, f->rec_member.len);
			ai_buf_addc(out, ']');
		}
		ai_buf_addc(out, '\n');
	}
}

static void sock_addr(const struct az_sock *s, bool local, struct ai_buf *out)
{
	if (!strcmp(s->family, "unix")) {
		if (local)
			az_esc_text(out, s->path.s, s->path.len);
		else
			ai_buf_adds(out, "-");
		return;
	}
	const struct az_str *a = local ? &s->laddr : &s->raddr;
	int64_t port = local ? s->lport : s->rport;
	bool v6 = a->s && strchr(a->s, ':');
	if (v6)
		ai_buf_addc(out, '[');
	az_esc_text(out, a->s, a->len);
	if (v6)
		ai_buf_addc(out, ']');
	ai_buf_printf(out, ":%" PRId64, port);
}

void az_view_net(const struct az_model *m, bool json, struct ai_buf *out)
{
	if (json) {
		struct ai_json j;
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		ai_json_kstr(&j, "source", m->sock_source[0] ? m->sock_source : NULL);
		ai_json_key(&j, "sockets");
		ai_json_arr_begin(&j);
		for (size_t i = 0; i < m->nsocks; i++) {
			const struct az_sock *s = &m->socks[i];
			ai_json_obj_begin(&j);
			ai_json_kstr(&j, "family", s->family);
			ai_json_kstr(&j, "proto", s->proto);
			ai_json_kstr(&j, "type", s->type);
			ai_json_kstr(&j, "state", s->state);
			if (strcmp(s->family, "unix")) {
				az_json_str(&j, "local_addr", &s->laddr);
				ai_json_kint(&j, "local_port", s->lport);
				az_json_str(&j, "remote_addr", &s->raddr);
				ai_json_kint(&j, "remote_port", s->rport);
			} else {
				az_json_str(&j, "path", &s->path);
				ai_json_kbool(&j, "abstract", s->abstract);
			}
			ai_json_kint(&j, "inode", s->inode);
			ai_json_key(&j, "uid");
			if (s->uid >= 0)
				ai_json_int(&j, s->uid);
			else
				ai_json_null(&j);
			ai_json_key(&j, "owners");
			ai_json_arr_begin(&j);
			for (size_t k = 0; k < s->nowners; k++) {
				ai_json_obj_begin(&j);
				ai_json_kint(&j, "pid", s->owners[k].pid);
				ai_json_kint(&j, "fd", s->owners[k].fd);
				const struct az_proc *p = az_model_proc(m, s->owners[k].pid);
				if (p) {
					az_json_str(&j, "comm", &p->comm);
					az_json_ct(&j, m, p->ct);
				}
				ai_json_obj_end(&j);
			}
			ai_json_arr_end(&j);
			ai_json_obj_end(&j);
		}
		ai_json_arr_end(&j);
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
		return;
	}
	ai_buf_printf(out, "%-5s %-12s %-28s %-28s %s\n", "PROTO", "STATE", "LOCAL", "REMOTE", "OWNERS");
	for (size_t i = 0; i < m->nsocks; i++) {
		const struct az_sock *s = &m->socks[i];
		cleanup_buf struct ai_buf l, r;
		ai_buf_init(&l);
		ai_buf_init(&r);
		sock_addr(s, true, &l);
		sock_addr(s, false, &r);
		char proto[16];
		snprintf(proto, sizeof(proto), "%s%s", s->proto, !strcmp(s->family, "inet6") ? "6" : "");
		ai_buf_printf(out, "%-5s %-12s %-28s %-28s ", proto, s->state, ai_buf_cstr(&l),
			      ai_buf_cstr(&r));
		for (size_t k = 0; k < s->nowners; k++) {
			const struct az_proc *p = az_model_proc(m, s->owners[k].pid);
			ai_buf_printf(out, "%s%" PRId64 "/", k ? "," : "", s->owners[k].pid);
			if (p)
				az_esc_text(out, p->comm.s, p->comm.len);
			ai_buf_printf(out, ":fd%" PRId64, s->owners[k].fd);
			if (p && m->ncts > 1)
				ai_buf_printf(out, "@%s", az_model_ctname(m, p->ct));
		}
		ai_buf_addc(out, '\n');
	}
}

void az_view_mounts(const struct az_model *m, bool json, struct ai_buf *out)
{
	if (json) {
		struct ai_json j;
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		ai_json_key(&j, "mounts");
		ai_json_arr_begin(&j);
		for (size_t i = 0; i < m->nmounts; i++) {
			const struct az_mount *x = &m->mounts[i];
			ai_json_obj_begin(&j);
			az_json_ct(&j, m, x->ct);
			ai_json_kint(&j, "mount_id", x->id);
			ai_json_kint(&j, "parent_id", x->parent);
			az_json_str(&j, "mount_point", &x->mount_point);
			az_json_str(&j, "fstype", &x->fstype);
			az_json_str(&j, "source", &x->source);
			az_json_str(&j, "root", &x->root);
			az_json_str(&j, "options", &x->options);
			ai_json_obj_end(&j);
		}
		ai_json_arr_end(&j);
		ai_json_key(&j, "overlay");
		if (!m->ov.present)
			ai_json_null(&j);
		else {
			ai_json_obj_begin(&j);
			ai_json_kuint(&j, "lowerdirs", m->ov.nlower);
			ai_json_kuint(&j, "data_only_lowers", m->ov.data_only);
			az_json_str(&j, "upperdir", &m->ov.upperdir);
			ai_json_kbool(&j, "metacopy", m->ov.metacopy);
			az_json_str(&j, "redirect_dir", &m->ov.redirect_dir);
			ai_json_obj_end(&j);
		}
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
		return;
	}
	az_ct_head(m, out);
	ai_buf_printf(out, "%-6s %-6s %-12s %-30s %-20s %s\n", "ID", "PARENT", "FSTYPE", "MOUNTPOINT",
		      "SOURCE", "OPTIONS");
	for (size_t i = 0; i < m->nmounts; i++) {
		const struct az_mount *x = &m->mounts[i];
		cleanup_buf struct ai_buf a, b, c;
		ai_buf_init(&a);
		ai_buf_init(&b);
		ai_buf_init(&c);
		az_esc_text(&a, x->fstype.s, x->fstype.len);
		az_esc_text(&b, x->mount_point.s, x->mount_point.len);
		az_esc_text(&c, x->source.s, x->source.len);
		az_ct_col(m, x->ct, out);
		ai_buf_printf(out, "%-6" PRId64 " %-6" PRId64 " %-12s %-30s %-20s ", x->id, x->parent,
			      ai_buf_cstr(&a), ai_buf_cstr(&b), ai_buf_cstr(&c));
		az_esc_text(out, x->options.s, x->options.len);
		ai_buf_addc(out, '\n');
	}
	if (m->ov.present) {
		ai_buf_printf(out, "\noverlay root: %zu lowerdirs (%zu data-only), metacopy=%s, upperdir ",
			      m->ov.nlower, m->ov.data_only, m->ov.metacopy ? "on" : "off");
		az_esc_text(out, m->ov.upperdir.s, m->ov.upperdir.len);
		ai_buf_addc(out, '\n');
	}
}

static void overlay_flags(unsigned ov, struct ai_buf *out)
{
	const char *names[] = {"whiteout", "opaque", "metacopy", "redirect"};
	bool any = false;
	for (int i = 0; i < 4; i++)
		if (ov & (1u << i)) {
			ai_buf_printf(out, "%s%s", any ? "," : "", names[i]);
			any = true;
		}
	if (!any)
		ai_buf_adds(out, "-");
}

void az_view_files(const struct az_model *m, bool json, struct ai_buf *out)
{
	if (json) {
		struct ai_json j;
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		ai_json_key(&j, "files");
		ai_json_arr_begin(&j);
		for (size_t i = 0; i < m->nupper + m->nvfiles; i++) {
			const struct az_upper *u = i < m->nupper ? &m->upper[i] : &m->vfiles[i - m->nupper];
			ai_json_obj_begin(&j);
			az_json_ct(&j, m, u->ct);
			if (u->vol1) {
				const struct az_volume *v = &m->vols[u->vol1 - 1];
				az_json_str(&j, "volume", &v->mount_point);
				az_json_str(&j, "volume_kind", &v->kind);
			}
			az_json_str(&j, "path", &u->path);
			ai_json_kstr(&j, "type", az_utype_name(u->type));
			char mode[8];
			snprintf(mode, sizeof(mode), "%04o", u->mode);
			ai_json_kstr(&j, "mode", mode);
			ai_json_kint(&j, "uid", u->uid);
			ai_json_kint(&j, "gid", u->gid);
			ai_json_kint(&j, "size", u->size);
			ai_json_ktime(&j, "mtime", u->mtime_ns / 1000000000,
				      (long)(u->mtime_ns % 1000000000));
			ai_json_kstr(&j, "sha256", u->sha256[0] ? u->sha256 : NULL);
			if (u->target.s)
				az_json_str(&j, "target", &u->target);
			if (u->hardlink_to.s)
				az_json_str(&j, "hardlink_to", &u->hardlink_to);
			ai_json_key(&j, "overlay");
			ai_json_arr_begin(&j);
			const char *names[] = {"whiteout", "opaque", "metacopy", "redirect"};
			for (int k = 0; k < 4; k++)
				if (u->overlay & (1u << k))
					ai_json_str(&j, names[k]);
			ai_json_arr_end(&j);
			az_json_str(&j, "member", &u->member);
			ai_json_obj_end(&j);
		}
		ai_json_arr_end(&j);
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
		return;
	}
	az_ct_head(m, out);
	ai_buf_printf(out, "%-9s %-10s %-11s %-10s %-20s %-12s %s\n", "TYPE", "MODE", "UID:GID", "SIZE",
		      "MTIME (UTC)", "OVERLAY", "PATH");
	for (size_t i = 0; i < m->nupper + m->nvfiles; i++) {
		const struct az_upper *u = i < m->nupper ? &m->upper[i] : &m->vfiles[i - m->nupper];
		char perm[10], t[64], ug[32];
		az_perm_string(u->mode, perm);
		az_time_iso(t, sizeof(t), u->mtime_ns);
		t[19] = '\0';
		snprintf(ug, sizeof(ug), "%" PRId64 ":%" PRId64, u->uid, u->gid);
		cleanup_buf struct ai_buf ov;
		ai_buf_init(&ov);
		if (u->vol1)
			ai_buf_adds(&ov, "volume");
		else
			overlay_flags(u->overlay, &ov);
		az_ct_col(m, u->ct, out);
		ai_buf_printf(out, "%-9s %-10s %-11s %-10" PRId64 " %-20s %-12s ", az_utype_name(u->type),
			      perm, ug, u->size, t, ai_buf_cstr(&ov));
		az_esc_text(out, u->path.s, u->path.len);
		if (u->target.s) {
			ai_buf_adds(out, " -> ");
			az_esc_text(out, u->target.s, u->target.len);
		}
		if (u->hardlink_to.s) {
			ai_buf_adds(out, " => ");
			az_esc_text(out, u->hardlink_to.s, u->hardlink_to.len);
		}
		if (u->vol1) {
			const struct az_volume *v = &m->vols[u->vol1 - 1];
			ai_buf_adds(out, "  [volume ");
			az_esc_text(out, v->mount_point.s, v->mount_point.len);
			ai_buf_addc(out, ' ');
			az_esc_text(out, v->kind.s, v->kind.len);
			if (v->content.s && !strcmp(v->content.s, "hashed"))
				ai_buf_adds(out, ", content not stored");
			ai_buf_addc(out, ']');
		}
		ai_buf_addc(out, '\n');
	}
}
