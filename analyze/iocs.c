#include "analyze/iocs.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "analyze/record.h"
#include "common/json.h"

struct ioc {
	size_t order; /* position as found: rows keep it */
	const char *type;
	const char *value; /* points into the finding */
	size_t len;
	const struct az_finding *f;
};

/* When the finding's subject appeared: its process's start, its file's mtime, else the capture. */
static int64_t first_seen(const struct az_model *m, const struct az_finding *x)
{
	const struct az_proc *p = x->pid >= 0 ? az_model_proc(m, x->pid) : NULL;
	if (p && p->start_ns)
		return p->start_ns;
	for (size_t i = 0; x->path.s && i < m->nupper; i++)
		if ((x->ct < 0 || m->upper[i].ct == (unsigned)x->ct) &&
		    az_str_eq(&m->upper[i].path, &x->path) && m->upper[i].mtime_ns)
			return m->upper[i].mtime_ns;
	return m->man.started_ns ? m->man.started_ns : m->ck.checkpointed_ns;
}

static bool path_ioc(const struct az_finding *x)
{
	return x->path.s && x->path.len && x->rule->sev == AZ_SEV_HIGH && !x->rule->config &&
	       strcmp(x->kind, "shell-socket-stdio") && strcmp(x->kind, "service-spawned-shell");
}

static int cmp_same(const struct ioc *a, const struct ioc *b)
{
	int c = strcmp(a->type, b->type);
	if (c)
		return c;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->value, b->value, a->len);
}

static int cmp_value(const void *x, const void *y)
{
	const struct ioc *a = x, *b = y;
	int c = cmp_same(a, b);
	return c ? c : (a->order > b->order) - (a->order < b->order);
}

static int cmp_order(const void *x, const void *y)
{
	const struct ioc *a = x, *b = y;
	return (a->order > b->order) - (a->order < b->order);
}

static size_t collect(const struct az_findings *f, struct ioc *v)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct az_finding *x = &f->v[i];
		if (x->rule->config)
			continue;
		if (x->sha256[0])
			v[n++] = (struct ioc){0, "sha256", x->sha256, strlen(x->sha256), x};
		if (x->remote[0])
			v[n++] = (struct ioc){0, "remote-endpoint", x->remote, strlen(x->remote), x};
		if (x->local[0] && strstr(x->kind, "listener"))
			v[n++] = (struct ioc){0, "listening-endpoint", x->local, strlen(x->local), x};
		if (path_ioc(x) || (x->path.s && !strncmp(x->rule->id, "AI-PER", 6)))
			v[n++] = (struct ioc){0, "path", x->path.s, x->path.len, x};
	}
	/* one row per (type, value): the first, most severe, finding's; sorted, so a hostile
	 * bundle's many findings cost n log n */
	for (size_t i = 0; i < n; i++)
		v[i].order = i;
	qsort(v, n, sizeof(*v), cmp_value);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!k || cmp_same(&v[k - 1], &v[i]))
			v[k++] = v[i];
	qsort(v, k, sizeof(*v), cmp_order);
	return k;
}

void az_iocs_render(const struct az_findings *f, const struct az_model *m, bool json, struct ai_buf *out)
{
	struct ioc *v = malloc((f->n ? f->n : 1) * 4 * sizeof(*v));
	if (!v)
		abort();
	size_t n = collect(f, v);
	struct ai_json j;
	if (json) {
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		ai_json_key(&j, "iocs");
		ai_json_arr_begin(&j);
	} else {
		ai_buf_adds(out, "type,value,context,first_seen,rule,kind,pid,member,container\n");
	}
	for (size_t i = 0; i < n; i++) {
		const struct az_finding *x = v[i].f;
		char t[64] = "";
		int64_t ts = first_seen(m, x);
		if (ts)
			az_time_iso(t, sizeof(t), ts);
		if (json) {
			ai_json_obj_begin(&j);
			ai_json_kstr(&j, "type", v[i].type);
			ai_json_kbytes(&j, "value", v[i].value, v[i].len);
			ai_json_kstr(&j, "context", x->msg);
			ai_json_kstr(&j, "first_seen", t[0] ? t : NULL);
			ai_json_kstr(&j, "rule", x->rule->id);
			ai_json_kstr(&j, "kind", x->kind);
			ai_json_key(&j, "pid");
			if (x->pid >= 0)
				ai_json_int(&j, x->pid);
			else
				ai_json_null(&j);
			az_json_str(&j, "member", &x->member);
			ai_json_kstr(&j, "container", az_finding_container(m, x));
			ai_json_obj_end(&j);
			continue;
		}
		ai_buf_printf(out, "%s,", v[i].type);
		az_esc_csv(out, v[i].value, v[i].len);
		ai_buf_addc(out, ',');
		az_esc_csv(out, x->msg, strlen(x->msg));
		ai_buf_printf(out, ",%s,%s,%s,", t, x->rule->id, x->kind);
		if (x->pid >= 0)
			ai_buf_printf(out, "%" PRId64, x->pid);
		ai_buf_addc(out, ',');
		if (x->member.s)
			az_esc_csv(out, x->member.s, x->member.len);
		ai_buf_addc(out, ',');
		const char *cn = az_finding_container(m, x);
		if (cn)
			az_esc_csv(out, cn, strlen(cn));
		ai_buf_addc(out, '\n');
	}
	if (json) {
		ai_json_arr_end(&j);
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
	}
	free(v);
}
