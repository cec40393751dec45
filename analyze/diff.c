#include "analyze/diff.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "analyze/views.h"
#include "common/json.h"

struct key {
	char *k;
	size_t len;
	const void *item;
};

static int cmp_key(const void *x, const void *y)
{
	const struct key *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->k, b->k, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void keys_free(struct key *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(k[i].k);
	free(k);
}

static struct key *proc_keys(const struct az_model *m)
{
	struct key *k = calloc(m->nprocs + 1, sizeof(*k));
	if (!k)
		abort();
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		struct ai_buf b;
		ai_buf_init(&b);
		az_esc_text(&b, p->exe.s, p->exe.s ? az_exe_path_len(p) : 0);
		ai_buf_adds(&b, p->exe_deleted ? " (deleted)" : "");
		ai_buf_adds(&b, ": ");
		az_proc_cmdline(p, &b);
		ai_buf_cstr(&b);
		k[i].len = b.len;
		k[i].k = ai_buf_steal(&b);
		k[i].item = p;
	}
	qsort(k, m->nprocs, sizeof(*k), cmp_key);
	return k;
}

static void endpoint(struct ai_buf *b, const struct az_str *addr, int64_t port)
{
	az_esc_text(b, addr->s, addr->len);
	if (port >= 32768)
		ai_buf_adds(b, ":*");
	else
		ai_buf_printf(b, ":%" PRId64, port);
}

static struct key *sock_keys(const struct az_model *m)
{
	struct key *k = calloc(m->nsocks + 1, sizeof(*k));
	if (!k)
		abort();
	for (size_t i = 0; i < m->nsocks; i++) {
		const struct az_sock *s = &m->socks[i];
		struct ai_buf b;
		ai_buf_init(&b);
		ai_buf_printf(&b, "%s%s %s ", s->proto, !strcmp(s->family, "inet6") ? "6" : "", s->state);
		if (!strcmp(s->family, "unix"))
			az_esc_text(&b, s->path.s, s->path.len);
		else {
			endpoint(&b, &s->laddr, s->lport);
			ai_buf_adds(&b, " -> ");
			endpoint(&b, &s->raddr, s->rport);
		}
		ai_buf_cstr(&b);
		k[i].len = b.len;
		k[i].k = ai_buf_steal(&b);
		k[i].item = s;
	}
	qsort(k, m->nsocks, sizeof(*k), cmp_key);
	return k;
}

static struct key *upper_keys(const struct az_model *m)
{
	struct key *k = calloc(m->nupper + 1, sizeof(*k));
	if (!k)
		abort();
	for (size_t i = 0; i < m->nupper; i++) {
		k[i].k = malloc(m->upper[i].path.len + 1);
		if (!k[i].k)
			abort();
		memcpy(k[i].k, m->upper[i].path.s, m->upper[i].path.len + 1);
		k[i].len = m->upper[i].path.len;
		k[i].item = &m->upper[i];
	}
	qsort(k, m->nupper, sizeof(*k), cmp_key);
	return k;
}

struct out {
	struct ai_buf *b;
	struct ai_json j;
	bool json;
	size_t count;
};

static void emit(struct out *o, const char *section, char op, const char *key, size_t klen, const char *what)
{
	o->count++;
	if (o->json) {
		ai_json_obj_begin(&o->j);
		ai_json_kstr(&o->j, "section", section);
		ai_json_kstr(&o->j, "change", op == '+' ? "added" : op == '-' ? "removed" : "changed");
		ai_json_kbytes(&o->j, "key", key, klen);
		if (what)
			ai_json_kstr(&o->j, "what", what);
		ai_json_obj_end(&o->j);
		return;
	}
	ai_buf_printf(o->b, "%c %-9s ", op, section);
	if (!strcmp(section, "upper"))
		az_esc_text(o->b, key, klen);
	else
		ai_buf_add(o->b, key, klen); /* already escaped */
	if (what)
		ai_buf_printf(o->b, "  (%s)", what);
	ai_buf_addc(o->b, '\n');
}

static void upper_what(const struct az_upper *a, const struct az_upper *b, char *w, size_t wl)
{
	w[0] = '\0';
	size_t n = 0;
#define ADDW(s) n += (size_t)snprintf(w + n, n < wl ? wl - n : 0, "%s%s", n ? "," : "", s)
	if (a->type != b->type)
		ADDW("type");
	if (strcmp(a->sha256, b->sha256))
		ADDW("content");
	if (a->mode != b->mode)
		ADDW("mode");
	if (a->uid != b->uid || a->gid != b->gid)
		ADDW("owner");
	if (!az_str_eq(&a->target, &b->target))
		ADDW("target");
	if (a->overlay != b->overlay)
		ADDW("overlay");
#undef ADDW
}

static void merge(struct out *o, const char *section, struct key *ka, size_t na, struct key *kb, size_t nb,
		  bool upper)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : cmp_key(&ka[i], &kb[j]);
		if (c < 0) {
			emit(o, section, '-', ka[i].k, ka[i].len, NULL);
			i++;
		} else if (c > 0) {
			emit(o, section, '+', kb[j].k, kb[j].len, NULL);
			j++;
		} else {
			if (upper) {
				char w[128];
				upper_what(ka[i].item, kb[j].item, w, sizeof(w));
				if (w[0])
					emit(o, section, '~', ka[i].k, ka[i].len, w);
			}
			i++;
			j++;
		}
	}
}

size_t az_diff_render(const struct az_model *a, const struct az_model *b, bool json, struct ai_buf *out)
{
	struct out o = {.b = out, .json = json};
	if (json) {
		ai_json_init(&o.j, out);
		ai_json_obj_begin(&o.j);
		ai_json_key(&o.j, "changes");
		ai_json_arr_begin(&o.j);
	}
	struct key *pa = proc_keys(a), *pb = proc_keys(b);
	merge(&o, "process", pa, a->nprocs, pb, b->nprocs, false);
	keys_free(pa, a->nprocs);
	keys_free(pb, b->nprocs);
	struct key *sa = sock_keys(a), *sb = sock_keys(b);
	merge(&o, "socket", sa, a->nsocks, sb, b->nsocks, false);
	keys_free(sa, a->nsocks);
	keys_free(sb, b->nsocks);
	struct key *ua = upper_keys(a), *ub = upper_keys(b);
	merge(&o, "upper", ua, a->nupper, ub, b->nupper, true);
	keys_free(ua, a->nupper);
	keys_free(ub, b->nupper);
	if (json) {
		ai_json_arr_end(&o.j);
		ai_json_kuint(&o.j, "count", o.count);
		ai_json_obj_end(&o.j);
		ai_buf_addc(out, '\n');
	} else
		ai_buf_printf(out, "%zu difference%s\n", o.count, o.count == 1 ? "" : "s");
	return o.count;
}
