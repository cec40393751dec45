/* processes.json -> model */
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "common/bundle.h"

static int proc_read_one(json_t *o, void *item, ai_err_t *err)
{
	struct az_proc *p = item;
	if (!json_is_object(o))
		return ai_err_set(err, 0, "not an object");
	p->pid = az_j_int(o, "pid", -1);
	if (p->pid < 0)
		return ai_err_set(err, 0, "no pid");
	p->ppid = az_j_int(o, "ppid", -1);
	json_t *ns = json_object_get(o, "nspid");
	p->nspid = json_is_array(ns) && json_array_size(ns)
		       ? json_integer_value(json_array_get(ns, json_array_size(ns) - 1))
		       : -1;
	if (az_j_str(o, "comm", &p->comm, err) < 0 || az_j_str(o, "cwd", &p->cwd, err) < 0)
		return -1;
	json_t *cl = json_object_get(o, "cmdline"), *clh = json_object_get(o, "cmdline_hex");
	if (json_is_array(cl) && json_array_size(cl)) {
		size_t n = json_array_size(cl);
		if (n > 1000000)
			return ai_err_set(err, 0, "cmdline: too many arguments");
		p->argv = calloc(n, sizeof(*p->argv));
		if (!p->argv)
			abort();
		p->argc = n;
		for (size_t i = 0; i < n; i++)
			if (az_j_strv(json_array_get(cl, i),
				      json_is_array(clh) ? json_array_get(clh, i) : NULL, &p->argv[i],
				      err) < 0)
				return ai_err_wrap(err, "cmdline[%zu]", i);
	}
	json_t *env = json_object_get(o, "environ"), *envh = json_object_get(o, "environ_hex");
	if (json_is_array(env) && json_array_size(env)) {
		size_t n = json_array_size(env);
		if (n > 1000000)
			return ai_err_set(err, 0, "environ: too many entries");
		p->env = calloc(n, sizeof(*p->env));
		if (!p->env)
			abort();
		p->nenv = n;
		for (size_t i = 0; i < n; i++)
			if (az_j_strv(json_array_get(env, i),
				      json_is_array(envh) ? json_array_get(envh, i) : NULL, &p->env[i],
				      err) < 0)
				return ai_err_wrap(err, "environ[%zu]", i);
	}
	if (az_j_str(o, "root", &p->root, err) < 0 || az_j_str(o, "cgroup", &p->cgroup, err) < 0)
		return -1;
	json_t *nso = json_object_get(o, "ns");
	if (json_is_object(nso)) {
		const char *k;
		json_t *v;
		size_t off = 0;
		json_object_foreach(nso, k, v)
		{
			if (json_is_integer(v) && off < sizeof(p->ns))
				off += (size_t)snprintf(p->ns + off, sizeof(p->ns) - off, "%s%.16s:%lld",
							off ? " " : "", k, (long long)json_integer_value(v));
		}
	}
	json_t *exe = json_object_get(o, "exe");
	if (json_is_object(exe)) {
		if (az_j_str(exe, "path", &p->exe, err) < 0 ||
		    az_j_str(exe, "member", &p->exe_member, err) < 0)
			return ai_err_wrap(err, "exe");
		p->exe_deleted = az_j_bool(exe, "deleted");
		p->exe_memfd = az_j_bool(exe, "memfd");
		p->exe_truncated = az_j_bool(exe, "truncated");
		az_j_sha256(exe, "sha256", p->exe_sha256);
		p->exe_size = az_j_int(exe, "size", -1);
	}
	for (int k = 0; k < 2; k++) {
		json_t *a = json_object_get(o, k ? "gid" : "uid");
		int64_t *dst = k ? p->gid : p->uid;
		for (size_t i = 0; i < 4; i++)
			dst[i] = json_is_integer(json_array_get(a, i))
				     ? json_integer_value(json_array_get(a, i))
				     : -1;
	}
	az_j_fixed(o, "state", p->state, sizeof(p->state));
	az_j_fixed(o, "cap_eff", p->cap_eff, sizeof(p->cap_eff));
	az_j_fixed(o, "cap_bnd", p->cap_bnd, sizeof(p->cap_bnd));
	az_j_fixed(o, "cap_prm", p->cap_prm, sizeof(p->cap_prm));
	p->seccomp = az_j_int(o, "seccomp", -1);
	p->no_new_privs = az_j_int(o, "no_new_privs", -1);
	p->from_status = true;
	p->threads = az_j_int(o, "threads", -1);
	p->start_ns = az_j_int(o, "start_time_ns", 0);
	p->zombie = az_j_bool(o, "zombie") || p->state[0] == 'Z';
	p->vanished = az_j_bool(o, "vanished");
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	const struct az_proc *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* The precision of the start times: one clock tick (10 ms at the usual 100 Hz). */
static int procs_other(void *ud, const char *key, json_t *v, ai_err_t *err)
{
	struct az_model *m = ud;
	if (!strcmp(key, "start_time_tick_ns") && json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= 1000000000)
		m->start_tick_ns = json_integer_value(v);
	return 0;
}

int az_processes_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	void *items;
	int rc = az_j_read_array_ex(doc, len, AI_M_PROCESSES, "processes", sizeof(*m->procs), proc_read_one,
				    &items, &m->nprocs, procs_other, m, &m->cuts, err);
	m->procs = items;
	if (rc < 0)
		return rc;
	qsort(m->procs, m->nprocs, sizeof(*m->procs), cmp_pid);
	return 0;
}
