/* The model's lifetime and lookups, and the bytes-string type it is made of (see model.h). */
#include "analyze/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void az_str_free(struct az_str *s)
{
	free(s->s);
	s->s = NULL;
	s->len = 0;
}

int az_str_set(struct az_str *s, const char *p, size_t len)
{
	char *n = malloc(len + 1);
	if (!n)
		abort();
	memcpy(n, p, len);
	n[len] = '\0';
	free(s->s);
	s->s = n;
	s->len = len;
	return 0;
}

bool az_str_eq(const struct az_str *a, const struct az_str *b)
{
	if (!a->s || !b->s)
		return !a->s && !b->s;
	return a->len == b->len && !memcmp(a->s, b->s, a->len);
}

void az_overlay_free(struct az_overlay *ov)
{
	az_str_free(&ov->upperdir);
	az_str_free(&ov->redirect_dir);
	az_str_free(&ov->options);
	free(ov->layer_ids);
	memset(ov, 0, sizeof(*ov));
}

void az_model_free(struct az_model *m)
{
	struct az_manifest *x = &m->man;
	az_str_free(&x->name);
	az_str_free(&x->bundle_id);
	az_str_free(&x->host);
	az_str_free(&x->kernel);
	az_str_free(&x->trigger);
	az_str_free(&x->container_id);
	az_str_free(&x->image_id);
	az_str_free(&x->image_digest);
	az_str_free(&m->ck.image_name);
	az_str_free(&m->ck.image_id);
	az_str_free(&m->ck.runtime);
	az_str_free(&m->ck.pod);
	az_str_free(&m->ck.pod_namespace);
	az_str_free(&m->ck.kube_container);
	az_str_free(&m->ck.network);
	az_str_free(&m->ck.sealed_member);
	for (size_t i = 0; i < m->ck.nargs; i++)
		az_str_free(&m->ck.args[i]);
	free(m->ck.args);
	for (size_t i = 0; i < m->nprocs; i++)
		az_proc_free(&m->procs[i]);
	free(m->procs);
	for (size_t i = 0; i < m->nfds; i++) {
		az_str_free(&m->fds[i].target);
		az_str_free(&m->fds[i].rec_member);
	}
	free(m->fds);
	for (size_t i = 0; i < m->nsocks; i++) {
		az_str_free(&m->socks[i].laddr);
		az_str_free(&m->socks[i].raddr);
		az_str_free(&m->socks[i].path);
		free(m->socks[i].owners);
	}
	free(m->socks);
	for (size_t i = 0; i < m->nmounts; i++) {
		struct az_mount *x2 = &m->mounts[i];
		az_str_free(&x2->mount_point);
		az_str_free(&x2->root);
		az_str_free(&x2->fstype);
		az_str_free(&x2->source);
		az_str_free(&x2->options);
	}
	free(m->mounts);
	az_overlay_free(&m->ov);
	for (size_t i = 0; i < AZ_MAX_CONTAINERS; i++) {
		struct az_container *c = &m->cts[i];
		az_str_free(&c->name);
		az_str_free(&c->id);
		az_str_free(&c->image);
		az_str_free(&c->image_digest);
		az_str_free(&c->image_id);
		az_str_free(&c->base_image);
		az_str_free(&c->base_digest);
		az_str_free(&c->prefix);
		az_str_free(&c->pod_name);
		az_str_free(&c->pod_namespace);
		az_str_free(&c->pod_uid);
		az_overlay_free(&c->ov);
	}
	for (size_t i = 0; i < m->nupper; i++)
		az_upper_free(&m->upper[i]);
	free(m->upper);
	for (size_t i = 0; i < m->nvfiles; i++)
		az_upper_free(&m->vfiles[i]);
	free(m->vfiles);
	for (size_t i = 0; i < m->nvols; i++) {
		struct az_volume *v = &m->vols[i];
		az_str_free(&v->mount_point);
		az_str_free(&v->kind);
		az_str_free(&v->fstype);
		az_str_free(&v->source);
		az_str_free(&v->root);
		az_str_free(&v->content);
	}
	free(m->vols);
	memset(m, 0, sizeof(*m));
}

void az_proc_free(struct az_proc *p)
{
	az_str_free(&p->comm);
	az_str_free(&p->root);
	az_str_free(&p->cgroup);
	for (size_t i = 0; i < p->nenv; i++)
		az_str_free(&p->env[i]);
	free(p->env);
	az_str_free(&p->cwd);
	az_str_free(&p->exe);
	az_str_free(&p->exe_member);
	for (size_t k = 0; k < p->argc; k++)
		az_str_free(&p->argv[k]);
	free(p->argv);
}

void az_upper_free(struct az_upper *u)
{
	az_str_free(&u->path);
	az_str_free(&u->target);
	az_str_free(&u->hardlink_to);
	az_str_free(&u->redirect);
	az_str_free(&u->member);
}

/* procs are sorted by pid (az_processes_read): binary search, the first of equal pids. */
const struct az_proc *az_model_proc(const struct az_model *m, int64_t pid)
{
	size_t lo = 0, hi = m->nprocs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nprocs && m->procs[lo].pid == pid ? &m->procs[lo] : NULL;
}

size_t az_exe_path_len(const struct az_proc *p)
{
	static const char suf[] = " (deleted)";
	size_t l = p->exe.len;
	if (p->exe.s && l >= sizeof(suf) - 1 &&
	    !memcmp(p->exe.s + l - (sizeof(suf) - 1), suf, sizeof(suf) - 1))
		return l - (sizeof(suf) - 1);
	return l;
}

const struct az_overlay *az_model_ov(const struct az_model *m, unsigned ct)
{
	return ct && ct < m->ncts ? &m->cts[ct].ov : &m->ov;
}

const char *az_model_ctname(const struct az_model *m, unsigned ct)
{
	if (m->ncts <= 1)
		return "";
	return ct < m->ncts ? m->cts[ct].shortname : "?";
}

/* A name is printed bare in every view (text, CSV, HTML): only [A-Za-z0-9._-], else the next
 * choice (a hostile annotation never reaches a terminal or the report). */
static bool plain(const struct az_str *s, size_t max)
{
	if (!s->s || !s->len || s->len > max)
		return false;
	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

void az_model_name_containers(struct az_model *m)
{
	if (!m->ncts)
		m->ncts = 1;
	for (size_t i = 0; i < m->ncts; i++) {
		struct az_container *c = &m->cts[i];
		if (plain(&c->name, sizeof(c->shortname) - 1))
			snprintf(c->shortname, sizeof(c->shortname), "%s", c->name.s);
		else if (plain(&c->id, 64))
			snprintf(c->shortname, sizeof(c->shortname), "%.12s", c->id.s);
		else
			snprintf(c->shortname, sizeof(c->shortname), "c%zu", i);
	}
}

const struct az_volume *az_model_volume_of(const struct az_model *m, unsigned ct, const char *path,
					   size_t len)
{
	const struct az_volume *best = NULL;
	for (size_t i = 0; path && i < m->nvols; i++) {
		const struct az_volume *v = &m->vols[i];
		size_t n = v->mount_point.len;
		if (v->ct != ct || !n || n > len || memcmp(v->mount_point.s, path, n) ||
		    (len > n && path[n] != '/' && n > 1))
			continue;
		if (!best || n > best->mount_point.len)
			best = v;
	}
	return best;
}
