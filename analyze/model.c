/* The model's lifetime and lookups, and the bytes-string type it is made of (see model.h). */
#include "analyze/model.h"
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

void az_model_free(struct az_model *m)
{
	struct az_manifest *x = &m->man;
	az_str_free(&x->name);
	az_str_free(&x->bundle_id);
	az_str_free(&x->host);
	az_str_free(&x->kernel);
	az_str_free(&x->trigger);
	az_str_free(&x->container_id);
	az_str_free(&m->ck.image_name);
	az_str_free(&m->ck.image_id);
	az_str_free(&m->ck.runtime);
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
	az_str_free(&m->ov.upperdir);
	az_str_free(&m->ov.redirect_dir);
	az_str_free(&m->ov.options);
	for (size_t i = 0; i < m->nupper; i++)
		az_upper_free(&m->upper[i]);
	free(m->upper);
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
