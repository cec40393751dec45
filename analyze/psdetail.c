/* ps --pid N: one process in full (command line, environment with secrets masked, cwd, root, exe
 * with hash and origin, ids, capabilities decoded, seccomp, namespaces, cgroup, start, threads,
 * every fd with sockets resolved to their endpoints, children); as text or --json. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/archive.h"
#include "analyze/behave.h"
#include "analyze/finding.h"
#include "analyze/psdetail.h"
#include "analyze/record.h"
#include "analyze/util.h"
#include "common/cleanup.h"

static const char *const capnames[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
#define NCAPS (sizeof(capnames) / sizeof(capnames[0]))

/* "CAP_CHOWN,CAP_KILL" (or "all" / "none") of a CapEff hex mask. */
static void caps_decode(const char *hex, struct ai_buf *out)
{
	unsigned long long v = strtoull(hex, NULL, 16);
	if (__builtin_popcountll(v) >= (int)NCAPS) {
		ai_buf_adds(out, "all");
		return;
	}
	bool any = false;
	for (size_t i = 0; i < 64; i++) {
		if (!(v & (1ull << i)))
			continue;
		if (any)
			ai_buf_addc(out, ',');
		if (i < NCAPS)
			ai_buf_adds(out, capnames[i]);
		else
			ai_buf_printf(out, "cap_%zu", i);
		any = true;
	}
	if (!any)
		ai_buf_adds(out, "none");
}

/* An environ entry with its value masked when it looks like a credential. */
static void env_entry(const struct az_str *e, bool show, struct ai_buf *out)
{
	size_t nl;
	if (!show && e->s && az_env_secret(e->s, e->len, &nl)) {
		ai_buf_add(out, e->s, nl);
		ai_buf_printf(out, "=<masked, %zu bytes>", e->len - nl - 1);
		return;
	}
	ai_buf_add(out, e->s, e->len);
}

static int64_t sock_ino(const struct az_fd *d)
{
	if (!d->target.s || strncmp(d->target.s, "socket:[", 8))
		return -1;
	char *end;
	long long v = strtoll(d->target.s + 8, &end, 10);
	return *end == ']' ? v : -1;
}

/* Sockets sorted by inode, for one lookup per fd (a hostile bundle may hold many of both). */
static const struct az_sock **sorted_socks;
static size_t nsorted;

static int cmp_sock(const void *x, const void *y)
{
	int64_t a = (*(const struct az_sock *const *)x)->inode,
		b = (*(const struct az_sock *const *)y)->inode;
	return a < b ? -1 : a > b;
}

static void socks_sort(const struct az_model *m)
{
	sorted_socks = malloc((m->nsocks ? m->nsocks : 1) * sizeof(*sorted_socks));
	if (!sorted_socks)
		abort();
	for (size_t i = 0; i < m->nsocks; i++)
		sorted_socks[i] = &m->socks[i];
	nsorted = m->nsocks;
	qsort(sorted_socks, nsorted, sizeof(*sorted_socks), cmp_sock);
}

static const struct az_sock *sock_of(const struct az_model *m, int64_t ino)
{
	(void)m;
	size_t lo = 0, hi = nsorted;
	while (ino > 0 && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sorted_socks[mid]->inode < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return ino > 0 && lo < nsorted && sorted_socks[lo]->inode == ino ? sorted_socks[lo] : NULL;
}

/* "tcp 10.0.0.2:4444 -> 10.0.0.1:5555 ESTABLISHED" or "unix /run/x.sock". */
static void sock_text(const struct az_sock *s, struct ai_buf *out)
{
	if (!strcmp(s->family, "unix")) {
		ai_buf_adds(out, "unix ");
		ai_buf_adds(out, s->path.s ? s->path.s : "(unnamed)");
		return;
	}
	char l[96], r[96];
	az_endpoint(l, sizeof(l), s->laddr.s, s->lport);
	ai_buf_printf(out, "%s %s", s->proto, l);
	if (s->raddr.s && s->rport > 0) {
		az_endpoint(r, sizeof(r), s->raddr.s, s->rport);
		ai_buf_printf(out, " -> %s", r);
	}
	if (s->state[0])
		ai_buf_printf(out, " %s", s->state);
}

static void origin(const struct az_attr *a, const struct az_proc *p, struct ai_buf *out)
{
	if (p->exe_memfd || p->exe_deleted) {
		ai_buf_adds(out, p->exe_memfd ? "memfd" : "deleted");
		return;
	}
	struct az_origin o;
	if (!a || !p->exe.s || !az_attr_lookup(a, p->exe.s, az_exe_path_len(p), &o)) {
		ai_buf_adds(out, "unknown");
		return;
	}
	ai_buf_adds(out, az_status_name(o.status));
	if (o.layer)
		ai_buf_printf(out, " (layer %d)", o.layer);
}

static void json_fields(struct ai_json *j, const struct az_proc *p, bool show)
{
	cleanup_buf struct ai_buf t;
	ai_buf_init(&t);
	ai_json_key(j, "environ");
	ai_json_arr_begin(j);
	for (size_t i = 0; i < p->nenv; i++) {
		t.len = 0;
		env_entry(&p->env[i], show, &t);
		ai_json_strn(j, t.data, t.len);
	}
	ai_json_arr_end(j);
	az_json_str(j, "cwd", &p->cwd);
	az_json_str(j, "root", &p->root);
	ai_json_kstr(j, "cap_eff", p->cap_eff[0] ? p->cap_eff : NULL);
	t.len = 0;
	if (p->cap_eff[0])
		caps_decode(p->cap_eff, &t);
	ai_json_kstr(j, "capabilities", p->cap_eff[0] ? ai_buf_cstr(&t) : NULL);
	ai_json_key(j, "seccomp");
	if (p->from_status && p->seccomp >= 0)
		ai_json_int(j, p->seccomp);
	else
		ai_json_null(j);
	ai_json_kstr(j, "namespaces", p->ns[0] ? p->ns : NULL);
	az_json_str(j, "cgroup", &p->cgroup);
}

void az_ps_json_extra(struct ai_json *j, const struct az_proc *p)
{
	json_fields(j, p, false);
}

/* The account names of the effective uid and gid, from the container's /etc/passwd and
 * /etc/group as the process saw them: the upperdir's when the container changed them, else the
 * image's (--image). Names are bytes from the evidence: escaped where shown. */
struct names {
	char user[64], group[64];
	const char *from[2]; /* "upperdir", "image", NULL when unknown */
};

static char *id_file(const struct az_model *m, const struct az_attr *a, const char *bundle, unsigned ct,
		     const char *path, size_t *len, const char **from)
{
	for (size_t i = 0; i < m->nupper; i++) {
		const struct az_upper *u = &m->upper[i];
		if (u->ct != ct || !u->path.s || strcmp(u->path.s, path))
			continue;
		*from = "upperdir";
		if (u->type != AZ_U_FILE || !u->member.s || u->truncated)
			return NULL; /* deleted, or its content not stored whole */
		return az_tar_read_named(bundle, u->member.s, AZ_KEEP_MAX, len);
	}
	const char *d = az_attr_image_file(a, path, len);
	*from = d ? "image" : NULL;
	char *c = d ? malloc(*len + 1) : NULL;
	if (c) {
		memcpy(c, d, *len);
		c[*len] = '\0';
	}
	return c;
}

/* "name:x:ID:..." -> name, for the first line whose third field is id. */
static void id_name(const char *doc, size_t len, int64_t id, char *out, size_t outlen)
{
	out[0] = '\0';
	for (const char *l = doc, *end = doc + len; l && l < end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		const char *le = nl ? nl : end;
		const char *c1 = memchr(l, ':', (size_t)(le - l));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
		if (c2 && c1 > l && (size_t)(c1 - l) < outlen) {
			char *e;
			long long v = strtoll(c2 + 1, &e, 10);
			if (e > c2 + 1 && (*e == ':' || e == le) && v == id) {
				memcpy(out, l, (size_t)(c1 - l));
				out[c1 - l] = '\0';
				return;
			}
		}
		l = nl ? nl + 1 : NULL;
	}
}

static void names_of(const struct az_model *m, const struct az_attr *a, const char *bundle,
		     const struct az_proc *p, struct names *n)
{
	memset(n, 0, sizeof(*n));
	static const char *const files[2] = {"/etc/passwd", "/etc/group"};
	for (int k = 0; k < 2; k++) {
		size_t len = 0;
		cleanup_free char *doc = id_file(m, a, bundle, p->ct, files[k], &len, &n->from[k]);
		if (doc && (k ? p->gid[1] : p->uid[1]) >= 0)
			id_name(doc, len, k ? p->gid[1] : p->uid[1], k ? n->group : n->user, sizeof(n->user));
		if (!(k ? n->group : n->user)[0])
			n->from[k] = NULL;
	}
}

static void detail_json(const struct az_model *m, const struct az_attr *a, const struct az_proc *p, bool show,
			const struct names *nm, struct ai_json *j)
{
	cleanup_buf struct ai_buf t;
	ai_buf_init(&t);
	ai_json_obj_begin(j);
	az_json_proc(j, p, AZ_REC_FULL, 0);
	json_fields(j, p, show);
	ai_json_key(j, "user");
	if (nm->user[0])
		ai_json_strn(j, nm->user, strlen(nm->user));
	else
		ai_json_null(j);
	ai_json_key(j, "group");
	if (nm->group[0])
		ai_json_strn(j, nm->group, strlen(nm->group));
	else
		ai_json_null(j);
	ai_json_kstr(j, "user_from", nm->from[0]);
	ai_json_kstr(j, "group_from", nm->from[1]);
	origin(a, p, &t);
	ai_json_kbytes(j, "exe_origin", t.data, t.len);
	ai_json_key(j, "fds");
	ai_json_arr_begin(j);
	for (size_t i = 0; i < m->nfds; i++) {
		const struct az_fd *d = &m->fds[i];
		if (d->pid != p->pid)
			continue;
		ai_json_obj_begin(j);
		az_json_fd(j, d, AZ_REC_FULL);
		const struct az_sock *s = sock_of(m, sock_ino(d));
		t.len = 0;
		if (s)
			sock_text(s, &t);
		ai_json_kstr(j, "socket", s ? ai_buf_cstr(&t) : NULL);
		ai_json_obj_end(j);
	}
	ai_json_arr_end(j);
	ai_json_key(j, "children");
	ai_json_arr_begin(j);
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].ppid == p->pid && m->procs[i].pid != p->pid)
			ai_json_int(j, m->procs[i].pid);
	ai_json_arr_end(j);
	ai_json_obj_end(j);
}

static void line(struct ai_buf *out, const char *k, const char *v, size_t len)
{
	ai_buf_printf(out, "%-12s ", k);
	if (v)
		az_esc_text(out, v, len);
	else
		ai_buf_adds(out, "-");
	ai_buf_addc(out, '\n');
}

static void id_text(struct ai_buf *out, const char *name, const char *file, const char *from)
{
	if (!name[0])
		return;
	ai_buf_adds(out, " ");
	az_esc_text(out, name, strlen(name));
	ai_buf_printf(out, " (%s of the %s)", file, from);
}

static void detail_text(const struct az_model *m, const struct az_attr *a, const struct az_proc *p, bool show,
			const struct names *nm, struct ai_buf *out)
{
	cleanup_buf struct ai_buf t;
	ai_buf_init(&t);
	ai_buf_printf(out, "%-12s %" PRId64 " (ppid %" PRId64 ", nspid %" PRId64 ")\n", "pid", p->pid,
		      p->ppid, p->nspid);
	ai_buf_printf(out, "%-12s ", "cmdline");
	az_proc_cmdline(p, out);
	ai_buf_addc(out, '\n');
	line(out, "comm", p->comm.s, p->comm.len);
	ai_buf_printf(out, "%-12s ", "exe");
	az_esc_text(out, p->exe.s, p->exe.len);
	ai_buf_adds(out, " [");
	origin(a, p, out);
	ai_buf_printf(out, "] sha256 %s", p->exe_sha256[0] ? p->exe_sha256 : "-");
	if (p->exe_member.s) {
		ai_buf_adds(out, " member ");
		az_esc_text(out, p->exe_member.s, p->exe_member.len);
	}
	ai_buf_addc(out, '\n');
	line(out, "cwd", p->cwd.s, p->cwd.len);
	line(out, "root", p->root.s, p->root.len);
	ai_buf_printf(out, "%-12s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " (real effective saved fs)",
		      "uid", p->uid[0], p->uid[1], p->uid[2], p->uid[3]);
	id_text(out, nm->user, "/etc/passwd", nm->from[0]);
	ai_buf_printf(out, "\n%-12s %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64, "gid", p->gid[0],
		      p->gid[1], p->gid[2], p->gid[3]);
	id_text(out, nm->group, "/etc/group", nm->from[1]);
	ai_buf_addc(out, '\n');
	if (p->cap_eff[0]) {
		ai_buf_printf(out, "%-12s %s: ", "caps (eff)", p->cap_eff);
		caps_decode(p->cap_eff, out);
		ai_buf_addc(out, '\n');
	}
	ai_buf_printf(out, "%-12s %s\n", "seccomp",
		      !p->from_status || p->seccomp < 0 ? "-"
		      : p->seccomp == 0			? "0 (disabled)"
		      : p->seccomp == 1			? "1 (strict)"
							: "2 (filter)");
	ai_buf_printf(out, "%-12s %s\n", "namespaces", p->ns[0] ? p->ns : "-");
	line(out, "cgroup", p->cgroup.s, p->cgroup.len);
	char ts[64] = "-";
	if (p->start_ns)
		az_time_iso(ts, sizeof(ts), p->start_ns);
	ai_buf_printf(out, "%-12s %s\n%-12s %" PRId64 "\n", "started", ts, "threads", p->threads);
	ai_buf_printf(out, "environ (%zu)\n", p->nenv);
	for (size_t i = 0; i < p->nenv; i++) {
		t.len = 0;
		env_entry(&p->env[i], show, &t);
		ai_buf_adds(out, "  ");
		az_esc_text(out, t.data, t.len);
		ai_buf_addc(out, '\n');
	}
	ai_buf_adds(out, "fds\n");
	for (size_t i = 0; i < m->nfds; i++) {
		const struct az_fd *d = &m->fds[i];
		if (d->pid != p->pid)
			continue;
		ai_buf_printf(out, "  %-4" PRId64 " %-7s ", d->fd, az_fd_type_name(d->type));
		az_esc_text(out, d->target.s, d->target.len);
		const struct az_sock *s = sock_of(m, sock_ino(d));
		if (s) {
			t.len = 0;
			sock_text(s, &t);
			ai_buf_adds(out, "  ");
			az_esc_text(out, t.data, t.len);
		}
		if (d->rec_member.s) {
			ai_buf_adds(out, "  saved as ");
			az_esc_text(out, d->rec_member.s, d->rec_member.len);
		}
		ai_buf_addc(out, '\n');
	}
	ai_buf_adds(out, "children");
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].ppid == p->pid && m->procs[i].pid != p->pid)
			ai_buf_printf(out, " %" PRId64, m->procs[i].pid);
	ai_buf_addc(out, '\n');
}

int az_view_ps_detail(const struct az_model *m, const struct az_attr *a, const char *bundle, int64_t pid,
		      bool json, bool show, struct ai_buf *out)
{
	const struct az_proc *p = az_model_proc(m, pid);
	if (!p)
		return -1;
	socks_sort(m);
	struct names nm;
	names_of(m, a, bundle, p, &nm);
	if (json) {
		struct ai_json j;
		ai_json_init(&j, out);
		detail_json(m, a, p, show, &nm, &j);
		ai_buf_addc(out, '\n');
	} else {
		detail_text(m, a, p, show, &nm, out);
	}
	free(sorted_socks);
	sorted_socks = NULL;
	nsorted = 0;
	return 0;
}
