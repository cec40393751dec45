/* The behavioural rules of the findings (network, ancestry, persistence, secrets, identity of
 * dropped binaries, volatile mounts) and the configuration ones (hardening of the container's
 * init). Each reads the model (and the attribution when there is one) and appends through
 * az_finding_add; the rule table is in findings.c. */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/archive.h"
#include "analyze/behave.h"
#include "common/bundle.h"

#define MAX_ANCESTRY 64	 /* a hostile ppid loop stops here */
#define MAX_PER_RULE 256 /* findings of one quadratic-to-check rule: bounds a hostile bundle's cost */

static const char *base(const char *p, size_t len, size_t *blen)
{
	const char *s = p;
	for (size_t i = 0; i < len; i++)
		if (p[i] == '/')
			s = p + i + 1;
	*blen = (size_t)(p + len - s);
	return s;
}

static bool name_in(const char *n, size_t len, const char *const *set)
{
	for (; *set; set++) {
		size_t l = strlen(*set);
		bool prefix = (*set)[l - 1] == '*'; /* "python*": python3, python3.11 */
		if (prefix ? len >= l - 1 && !memcmp(n, *set, l - 1) : len == l && !memcmp(n, *set, l))
			return true;
	}
	return false;
}

static const char *const shells[] = {"sh",   "ash",  "bash", "dash", "zsh", "ksh",
				     "mksh", "tcsh", "csh",  "fish", NULL};
static const char *const interpreters[] = {"python*", "perl*", "ruby*",	 "php*",
					   "node",    "lua*",  "tclsh*", NULL};
static const char *const downloaders[] = {"wget",  "curl",   "nc",   "ncat",   "netcat",
					  "socat", "telnet", "tftp", "ftpget", NULL};
static const char *const services[] = {"httpd",	   "nginx",	   "apache2",  "lighttpd", "caddy",
				       "uwsgi",	   "gunicorn",	   "php-fpm*", "postgres", "mysqld",
				       "mariadbd", "redis-server", "mongod",   "java",	   "node",
				       "python*",  "ruby*",	   "tomcat*",  NULL};

/* The name a process goes by: its comm (the kernel's, set from the file executed). */
static const char *pname(const struct az_proc *p, size_t *len)
{
	if (p->comm.s) {
		*len = p->comm.len;
		return p->comm.s;
	}
	*len = 1;
	return "?";
}

static bool is_shell(const struct az_proc *p, bool interp)
{
	size_t l;
	const char *n = pname(p, &l);
	return name_in(n, l, shells) || (interp && name_in(n, l, interpreters));
}

/* Runs a binary added at runtime, deleted, from a memfd, or of unknown origin. */
static bool dropped(const struct az_proc *p, const struct az_attr *a)
{
	if (p->exe_deleted || p->exe_memfd)
		return true;
	if (!p->exe.s || !a)
		return false;
	struct az_origin o;
	if (!az_attr_lookup(a, p->exe.s, az_exe_path_len(p), &o))
		return az_attr_image(a) != NULL;
	return o.status == AZ_ST_ADDED || o.status == AZ_ST_MODIFIED || o.status == AZ_ST_REPLACED;
}

/* ---- network */

static bool loopback(const struct az_str *a)
{
	if (!a->s)
		return true;
	return !strncmp(a->s, "127.", 4) || !strcmp(a->s, "::1") || !strncmp(a->s, "::ffff:127.", 11);
}

static bool inet(const struct az_sock *s)
{
	return !strncmp(s->family, "inet", 4) || !strcmp(s->family, "ipv4") || !strcmp(s->family, "ipv6");
}

static int cmp_sock_ino(const void *x, const void *y, void *ud)
{
	const struct az_model *m = ud;
	int64_t a = m->socks[*(const size_t *)x].inode, b = m->socks[*(const size_t *)y].inode;
	return a < b ? -1 : a > b;
}

struct sockix {
	const struct az_model *m;
	size_t *v, n;
};

static void sockix_build(struct sockix *ix, const struct az_model *m)
{
	ix->m = m;
	ix->n = 0;
	ix->v = malloc((m->nsocks ? m->nsocks : 1) * sizeof(*ix->v));
	if (!ix->v)
		abort();
	for (size_t i = 0; i < m->nsocks; i++)
		if (m->socks[i].inode > 0)
			ix->v[ix->n++] = i;
	qsort_r(ix->v, ix->n, sizeof(*ix->v), cmp_sock_ino, (void *)m);
}

static const struct az_sock *sockix_find(const struct sockix *ix, int64_t ino)
{
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->m->socks[ix->v[mid]].inode < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ix->n && ix->m->socks[ix->v[lo]].inode == ino ? &ix->m->socks[ix->v[lo]] : NULL;
}

/* The socket inode an fd names: "socket:[N]". */
static int64_t fd_sock_ino(const struct az_fd *d)
{
	if (!d->target.s || strncmp(d->target.s, "socket:[", 8))
		return -1;
	char *end;
	long long v = strtoll(d->target.s + 8, &end, 10);
	return *end == ']' && v > 0 ? v : -1;
}

static void endpoints(struct az_finding *x, const struct az_sock *s)
{
	if (!s)
		return;
	if (!inet(s)) {
		snprintf(x->local, sizeof(x->local), "unix %s", s->path.s ? s->path.s : "?");
		return;
	}
	az_endpoint(x->local, sizeof(x->local), s->laddr.s, s->lport);
	if (s->raddr.s && s->rport > 0)
		az_endpoint(x->remote, sizeof(x->remote), s->raddr.s, s->rport);
}

static void connections(struct az_findings *f, const struct az_model *m, const struct az_attrs *as)
{
	for (size_t i = 0; i < m->nsocks; i++) {
		const struct az_sock *s = &m->socks[i];
		if (!inet(s) || strcmp(s->state, "ESTABLISHED") || loopback(&s->raddr) || !s->nowners)
			continue;
		/* one finding per connection: through its first dropped owner, else its first owner */
		size_t pick = 0;
		bool bad = false;
		for (size_t k = 0; k < s->nowners && !bad; k++) {
			const struct az_proc *p = az_model_proc(m, s->owners[k].pid);
			if (p && dropped(p, az_attrs_of(as, p->ct))) {
				pick = k;
				bad = true;
			}
		}
		const struct az_proc *p = az_model_proc(m, s->owners[pick].pid);
		char l[96], r[96];
		az_endpoint(l, sizeof(l), s->laddr.s, s->lport);
		az_endpoint(r, sizeof(r), s->raddr.s, s->rport);
		struct az_finding *x = az_finding_add(
		    f, bad ? "connection-of-dropped-process" : "connection-established", s->owners[pick].pid,
		    NULL, 0, "pid %" PRId64 " (%s%s) has %s %s -> %s established%s%s", s->owners[pick].pid,
		    p && p->comm.s ? p->comm.s : "?", bad ? ", an added, deleted or memfd binary" : "",
		    s->proto, l, r, s->nowners > 1 ? "; shared by other processes" : "",
		    p && p->exe_sha256[0] ? "" : "");
		x->fd = s->owners[pick].fd;
		x->score = bad ? 10 : 0;
		endpoints(x, s);
		if (p) {
			memcpy(x->sha256, p->exe_sha256, sizeof(x->sha256));
			if (p->exe_member.s)
				az_str_set(&x->member, p->exe_member.s, p->exe_member.len);
		}
	}
}

static void socket_stdio(struct az_findings *f, const struct az_model *m, const struct sockix *ix)
{
	static const char *const std[] = {"stdin", "stdout", "stderr"};
	int64_t last = -1;
	for (size_t i = 0; i < m->nfds; i++) {
		const struct az_fd *d = &m->fds[i];
		if (d->fd < 0 || d->fd > 2 || d->pid == last)
			continue;
		int64_t ino = fd_sock_ino(d);
		if (ino < 0 && d->type != AZ_FD_SOCKET)
			continue;
		const struct az_proc *p = az_model_proc(m, d->pid);
		if (!p || !is_shell(p, true))
			continue;
		const struct az_sock *s = ino > 0 ? sockix_find(ix, ino) : NULL;
		if (s && !inet(s))
			continue; /* a unix socketpair as stdio is how supervisors run children */
		last = d->pid;
		struct az_finding *x = az_finding_add(
		    f, "shell-socket-stdio", d->pid, p->exe.s, az_exe_path_len(p),
		    "pid %" PRId64 " (%s) has its %s on a %s socket%s%s", d->pid, p->comm.s ? p->comm.s : "?",
		    std[d->fd], s ? s->proto : "", s && s->raddr.s && s->rport > 0 ? " to " : "",
		    s && s->raddr.s && s->rport > 0 ? s->raddr.s : "");
		x->fd = d->fd;
		x->score = 5;
		endpoints(x, s);
	}
}

static const struct az_proc *init_proc(const struct az_model *m)
{
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].nspid == 1)
			return &m->procs[i];
	const struct az_proc *p = m->man.target_pid > 0 ? az_model_proc(m, m->man.target_pid) : NULL;
	return p ? p : m->nprocs ? &m->procs[0] : NULL;
}

static void listeners(struct az_findings *f, const struct az_model *m)
{
	const struct az_proc *init = init_proc(m);
	for (size_t i = 0; init && i < m->nsocks; i++) {
		const struct az_sock *s = &m->socks[i];
		bool listening = !strcmp(s->state, "LISTEN") ||
				 (!strcmp(s->proto, "udp") && s->lport > 0 && (!s->raddr.s || s->rport <= 0));
		if (!inet(s) || !listening || !s->nowners)
			continue;
		bool by_init = false;
		for (size_t k = 0; k < s->nowners; k++)
			by_init |= s->owners[k].pid == init->pid;
		if (by_init)
			continue;
		const struct az_proc *p = az_model_proc(m, s->owners[0].pid);
		char l[96];
		az_endpoint(l, sizeof(l), s->laddr.s, s->lport);
		struct az_finding *x =
		    az_finding_add(f, "listener-unexpected", s->owners[0].pid, NULL, 0,
				   "pid %" PRId64 " (%s), not the container's init, listens on %s %s",
				   s->owners[0].pid, p && p->comm.s ? p->comm.s : "?", s->proto, l);
		x->fd = s->owners[0].fd;
		endpoints(x, s);
	}
}

/* ---- ancestry */

static void ancestry(struct az_findings *f, const struct az_model *m)
{
	static const char *const *none = NULL;
	(void)none;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		size_t l;
		const char *n = pname(p, &l);
		if (!name_in(n, l, shells) && !name_in(n, l, downloaders))
			continue;
		const struct az_proc *q = p;
		for (int depth = 0; depth < MAX_ANCESTRY; depth++) {
			if (q->ppid <= 0 || q->ppid == q->pid || !(q = az_model_proc(m, q->ppid)))
				break;
			size_t ql;
			const char *qn = pname(q, &ql);
			if (!name_in(qn, ql, services))
				continue;
			struct az_finding *x = az_finding_add(
			    f, "service-spawned-shell", p->pid, p->exe.s, az_exe_path_len(p),
			    "pid %" PRId64 " (%.*s) descends from pid %" PRId64 " (%.*s), %d level%s down",
			    p->pid, (int)l, n, q->pid, (int)ql, qn, depth + 1, depth ? "s" : "");
			x->score = name_in(n, l, downloaders) ? 2 : 1;
			break;
		}
	}
}

static void argv0(struct az_findings *f, const struct az_model *m)
{
	static const char *const multicall[] = {"busybox", "toybox", NULL};
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		if (!p->argc || !p->argv[0].s || !p->exe.s || p->zombie)
			continue;
		size_t al, el;
		const char *an = base(p->argv[0].s, p->argv[0].len, &al);
		const char *en = base(p->exe.s, az_exe_path_len(p), &el);
		if (al && an[0] == '-') /* a login shell */
			an++, al--;
		if (!al || !el || name_in(en, el, multicall))
			continue;
		size_t n = al < el ? al : el;
		if (!memcmp(an, en, n)) /* python3 vs python3.11 */
			continue;
		if ((name_in(an, al, shells) && name_in(en, el, shells)) ||
		    (name_in(an, al, interpreters) && name_in(en, el, interpreters)))
			continue;
		struct az_finding *x = az_finding_add(
		    f, "argv0-mismatch", p->pid, p->exe.s, az_exe_path_len(p),
		    "pid %" PRId64 " calls itself \"%.*s\" but runs %.*s", p->pid, (int)al, an, (int)el, en);
		memcpy(x->sha256, p->exe_sha256, sizeof(x->sha256));
	}
}

/* ---- persistence and tampering */

struct pathrule {
	const char *glob, *kind;
};
static const struct pathrule persist[] = {
    {"/etc/passwd", "account-db-changed"},
    {"/etc/shadow", "account-db-changed"},
    {"/etc/group", "account-db-changed"},
    {"/etc/gshadow", "account-db-changed"},
    {"/etc/sudoers", "account-db-changed"},
    {"/etc/sudoers.d/*", "account-db-changed"},
    {"/etc/crontab", "cron-at-changed"},
    {"/etc/cron.*/*", "cron-at-changed"},
    {"/etc/periodic/*", "cron-at-changed"},
    {"/var/spool/cron/*", "cron-at-changed"},
    {"/var/spool/cron/crontabs/*", "cron-at-changed"},
    {"/var/spool/at/*", "cron-at-changed"},
    {"/var/spool/atjobs/*", "cron-at-changed"},
    {"*/.ssh/authorized_keys*", "authorized-keys-changed"},
    {"/etc/ld.so.preload", "ld-preload-changed"},
    {"/etc/profile", "shell-profile-changed"},
    {"/etc/profile.d/*", "shell-profile-changed"},
    {"/etc/bash.bashrc", "shell-profile-changed"},
    {"/etc/environment", "shell-profile-changed"},
    {"/root/.*rc", "shell-profile-changed"},
    {"/root/.*profile", "shell-profile-changed"},
    {"/home/*/.*rc", "shell-profile-changed"},
    {"/home/*/.*profile", "shell-profile-changed"},
};

static const char *persist_kind(const char *path)
{
	for (size_t i = 0; i < sizeof(persist) / sizeof(persist[0]); i++)
		if (!fnmatch(persist[i].glob, path, 0))
			return persist[i].kind;
	return NULL;
}

/* The bytes of one member of the bundle (bounded), or NULL. */
/* passwd lines "name:x:0:..." besides root's. */
static void uid0_accounts(struct az_findings *f, const struct az_upper *u, const char *bundle)
{
	size_t len;
	char *doc = u->member.s ? az_tar_read_named(bundle, u->member.s, 1u << 20, &len) : NULL;
	if (!doc)
		return;
	for (char *line = doc, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || strncmp(c2 + 1, "0:", 2) || (c1 - line == 4 && !memcmp(line, "root", 4)))
			continue;
		struct az_finding *x =
		    az_finding_add(f, "uid0-account-added", -1, u->path.s, u->path.len,
				   "account \"%.*s\" has uid 0 (content saved as %s)",
				   (int)(c1 - line) > 64 ? 64 : (int)(c1 - line), line, u->member.s);
		memcpy(x->sha256, u->sha256, sizeof(x->sha256));
		az_str_set(&x->member, u->member.s, u->member.len);
		x->ct = u->ct;
		x->score = 5;
	}
	free(doc);
}

static const char *const secret_files[] = {
    "id_rsa", "id_dsa",	 "id_ecdsa",	     "id_ed25519", "*.pem", "*.key", "credentials",
    ".netrc", ".pgpass", ".git-credentials", "*.p12",	   "*.pfx", ".env",  NULL};

static bool secret_file(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	for (const char *const *g = secret_files; *g; g++)
		if (!fnmatch(*g, b, 0))
			return true;
	return false;
}

static void evidence_upper(struct az_finding *x, const struct az_upper *u)
{
	x->ct = u->ct;
	memcpy(x->sha256, u->sha256, sizeof(x->sha256));
	if (u->member.s)
		az_str_set(&x->member, u->member.s, u->member.len);
}

static void tampering(struct az_findings *f, const struct az_model *m, const struct az_attrs *as,
		      const struct az_findings_opts *opt)
{
	for (size_t i = 0; i < m->nupper; i++) {
		const struct az_upper *u = &m->upper[i];
		const struct az_attr *a = az_attrs_of(as, u->ct);
		if (!u->path.s)
			continue;
		struct az_origin o = {0};
		bool known = a && az_attr_lookup(a, u->path.s, u->path.len, &o);
		bool whiteout = u->type == AZ_U_WHITEOUT || (u->overlay & AZ_OV_WHITEOUT);
		if (whiteout) {
			if (known && o.lower_exists)
				az_finding_add(f, "image-file-deleted", -1, u->path.s, u->path.len,
					       "file of layer %d deleted at runtime (a whiteout hides it)",
					       o.layer)
				    ->ct = u->ct;
			continue;
		}
		if (u->type == AZ_U_DIR && (u->overlay & AZ_OV_OPAQUE) && known && o.lower_exists) {
			az_finding_add(f, "opaque-dir-over-image", -1, u->path.s, u->path.len,
				       "directory of layer %d replaced at runtime (opaque: its image "
				       "content is hidden)",
				       o.layer)
			    ->ct = u->ct;
			continue;
		}
		if (u->type != AZ_U_FILE)
			continue;
		bool changed = !a || (known && (o.status == AZ_ST_ADDED || o.status == AZ_ST_MODIFIED ||
						o.status == AZ_ST_REPLACED));
		const char *k = changed ? persist_kind(u->path.s) : NULL;
		if (k) {
			struct az_finding *x = az_finding_add(
			    f, k, -1, u->path.s, u->path.len, "%s at runtime (%" PRId64 " bytes, mode %04o)",
			    known ? az_status_name(o.status) : "written", u->size, u->mode);
			evidence_upper(x, u);
			if (!strcmp(u->path.s, "/etc/passwd"))
				uid0_accounts(f, u, opt->bundle);
		}
		if (changed && secret_file(u->path.s)) {
			struct az_finding *x =
			    az_finding_add(f, "secret-file", -1, u->path.s, u->path.len,
					   "a file named like a credential %s at runtime (%" PRId64 " bytes)",
					   known ? az_status_name(o.status) : "written", u->size);
			evidence_upper(x, u);
		}
	}
}

/* ---- secrets in the environment */

bool az_env_secret(const char *e, size_t len, size_t *namelen)
{
	const char *eq = memchr(e, '=', len);
	if (!eq || eq == e || (size_t)(eq - e) >= len - 1)
		return false;
	*namelen = (size_t)(eq - e);
	char up[128];
	size_t n = *namelen < sizeof(up) - 1 ? *namelen : sizeof(up) - 1;
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)e[i]);
	up[n] = '\0';
	static const char *const words[] = {"SECRET", "TOKEN",	    "PASSWORD",	   "PASSWD",	 "API_KEY",
					    "APIKEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL", NULL};
	for (const char *const *w = words; *w; w++)
		if (strstr(up, *w))
			return true;
	const char *v = eq + 1;
	size_t vl = len - *namelen - 1;
	if (vl >= 20 && (!memcmp(v, "AKIA", 4) || !memcmp(v, "ASIA", 4)))
		return true;
	static const char *const prefixes[] = {"-----BEGIN ", "ghp_",  "github_pat_", "glpat-",
					       "xoxb-",	      "xoxp-", NULL};
	for (const char *const *p = prefixes; *p; p++)
		if (vl > strlen(*p) && !memcmp(v, *p, strlen(*p)))
			return true;
	return false;
}

static bool env_has(const struct az_proc *p, const struct az_str *e)
{
	for (size_t i = 0; p && i < p->nenv; i++)
		if (az_str_eq(&p->env[i], e))
			return true;
	return false;
}

static void env_secrets(struct az_findings *f, const struct az_model *m, const struct az_findings_opts *o)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		const struct az_proc *parent = p->ppid > 0 ? az_model_proc(m, p->ppid) : NULL;
		size_t checked = 0;
		for (size_t k = 0; k < p->nenv && checked < MAX_PER_RULE; k++) {
			const struct az_str *e = &p->env[k];
			size_t nl;
			if (!e->s || !az_env_secret(e->s, e->len, &nl))
				continue;
			checked++;
			if (env_has(parent, e)) /* inherited: reported once, at the first holder */
				continue;
			struct az_finding *x = az_finding_add(
			    f, "secret-in-environment", p->pid, NULL, 0,
			    "pid %" PRId64 " (%s) has %.*s in its environment (value %s%.*s%s)", p->pid,
			    p->comm.s ? p->comm.s : "?", (int)(nl > 128 ? 128 : nl), e->s,
			    o->show_secrets ? "\"" : "masked",
			    o->show_secrets ? (int)(e->len - nl - 1 > 200 ? 200 : e->len - nl - 1) : 0,
			    o->show_secrets ? e->s + nl + 1 : "", o->show_secrets ? "\"" : "");
			az_str_set(&x->member, AI_M_PROCESSES, strlen(AI_M_PROCESSES));
		}
	}
}

/* ---- identity of dropped binaries */

struct imgfile {
	char sha[65];
	char *path;
	int layer;
};
struct imgfiles {
	struct imgfile *v;
	size_t n, cap;
};

static void collect(void *ud, const char *path, size_t len, const struct az_origin *o)
{
	struct imgfiles *x = ud;
	if (!o->sha_known || !o->lower_exists || !o->lower_sha256[0] || o->status == AZ_ST_LAYER_DELETED)
		return;
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 256;
		x->v = realloc(x->v, x->cap * sizeof(*x->v));
		if (!x->v)
			abort();
	}
	struct imgfile *e = &x->v[x->n++];
	memcpy(e->sha, o->lower_sha256, sizeof(e->sha));
	e->path = strndup(path, len);
	if (!e->path)
		abort();
	e->layer = o->layer;
}

static int cmp_img(const void *x, const void *y)
{
	const struct imgfile *a = x, *b = y;
	int c = strcmp(a->sha, b->sha);
	return c ? c : strcmp(a->path, b->path);
}

static const struct imgfile *img_find(const struct imgfiles *x, const char *sha)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(x->v[mid].sha, sha) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->n && !strcmp(x->v[lo].sha, sha) ? &x->v[lo] : NULL;
}

static void identity_one(struct az_findings *f, const struct imgfiles *x, int64_t pid, unsigned ct,
			 const char *what, const struct az_str *path, size_t plen, const char *sha,
			 const struct az_str *member)
{
	const struct imgfile *e = sha[0] ? img_find(x, sha) : NULL;
	if (!e)
		return;
	struct az_finding *r =
	    az_finding_add(f, "dropped-binary-identity", pid, path->s, plen,
			   "%s is identical to %s, layer %d (sha256 %s)", what, e->path, e->layer, sha);
	memcpy(r->sha256, sha, sizeof(r->sha256));
	r->ct = ct;
	if (member->s)
		az_str_set(&r->member, member->s, member->len);
}

/* Per container: its dropped binaries against the files of its own image. */
static void identity_ct(struct az_findings *f, const struct az_model *m, const struct az_attr *a, unsigned ct)
{
	struct imgfiles x = {0};
	az_attr_each(a, false, collect, &x);
	qsort(x.v, x.n, sizeof(*x.v), cmp_img);
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		if (p->ct == ct && p->exe.s && dropped(p, a))
			identity_one(f, &x, p->pid, ct,
				     p->exe_memfd     ? "the memfd it runs"
				     : p->exe_deleted ? "its deleted exe"
						      : "its exe",
				     &p->exe, az_exe_path_len(p), p->exe_sha256, &p->exe_member);
	}
	for (size_t i = 0; i < m->nupper; i++) {
		const struct az_upper *u = &m->upper[i];
		struct az_origin o;
		if (u->ct == ct && u->type == AZ_U_FILE && (u->mode & 0111) && u->path.s &&
		    az_attr_lookup(a, u->path.s, u->path.len, &o) && o.status == AZ_ST_ADDED)
			identity_one(f, &x, -1, ct, "this file added at runtime", &u->path, u->path.len,
				     u->sha256, &u->member);
	}
	for (size_t i = 0; i < x.n; i++)
		free(x.v[i].path);
	free(x.v);
}

static void identity(struct az_findings *f, const struct az_model *m, const struct az_attrs *as)
{
	for (size_t ct = 0; as && ct < as->n; ct++)
		if (as->ct[ct] && az_attr_image(as->ct[ct]))
			identity_ct(f, m, as->ct[ct], (unsigned)ct);
}

/* ---- volatile mounts: tmpfs, /dev/shm, emptyDir */

static const struct az_mount *mount_of(const struct az_model *m, const char *path, size_t len)
{
	const struct az_mount *best = NULL;
	for (size_t i = 0; i < m->nmounts; i++) {
		const struct az_str *mp = &m->mounts[i].mount_point;
		if (!mp->s || mp->len > len || memcmp(mp->s, path, mp->len))
			continue;
		if (mp->len > 1 && mp->len < len && path[mp->len] != '/')
			continue;
		if (!best || mp->len >= best->mount_point.len)
			best = &m->mounts[i];
	}
	return best;
}

static bool volatile_path(const struct az_model *m, const char *path, size_t len)
{
	if (len > 9 && !memcmp(path, "/dev/shm/", 9))
		return true;
	const struct az_mount *mt = mount_of(m, path, len);
	if (!mt)
		return false;
	if (mt->fstype.s && (!strcmp(mt->fstype.s, "tmpfs") || !strcmp(mt->fstype.s, "ramfs")))
		return true;
	return mt->source.s && (strstr(mt->source.s, "empty-dir") || strstr(mt->source.s, "empty_dir"));
}

static bool scriptish(const char *p, size_t len)
{
	static const char *const ext[] = {".sh", ".py", ".pl", ".rb", ".php", ".js", ".elf", ".so", NULL};
	for (const char *const *e = ext; *e; e++) {
		size_t l = strlen(*e);
		if (len > l && !memcmp(p + len - l, *e, l))
			return true;
	}
	return false;
}

static void volatile_exec(struct az_findings *f, const struct az_model *m)
{
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		size_t el = az_exe_path_len(p);
		if (!p->exe.s || p->exe_memfd || !volatile_path(m, p->exe.s, el))
			continue;
		struct az_finding *x =
		    az_finding_add(f, "exe-from-volatile", p->pid, p->exe.s, el,
				   "pid %" PRId64 " (%s) runs a binary from a volatile mount", p->pid,
				   p->comm.s ? p->comm.s : "?");
		memcpy(x->sha256, p->exe_sha256, sizeof(x->sha256));
		if (p->exe_member.s)
			az_str_set(&x->member, p->exe_member.s, p->exe_member.len);
	}
	size_t first = f->n, found = 0;
	for (size_t i = 0; i < m->nfds && found < MAX_PER_RULE; i++) {
		const struct az_fd *d = &m->fds[i];
		if ((d->type != AZ_FD_FILE && d->type != AZ_FD_DELETED) || !d->target.s)
			continue;
		if (!((d->mode & 0111) || scriptish(d->target.s, d->target.len)) ||
		    !volatile_path(m, d->target.s, d->target.len))
			continue;
		bool seen = false; /* one finding per file */
		for (size_t k = first; k < f->n && !seen; k++)
			seen = !strcmp(f->v[k].kind, "executable-on-volatile") &&
			       az_str_eq(&f->v[k].path, &d->target);
		if (seen)
			continue;
		found++;
		struct az_finding *x = az_finding_add(
		    f, "executable-on-volatile", d->pid, d->target.s, d->target.len,
		    "pid %" PRId64 " fd %" PRId64 " holds an executable or script on a volatile mount",
		    d->pid, d->fd);
		x->fd = d->fd;
		memcpy(x->sha256, d->rec_sha256, sizeof(x->sha256));
		if (d->rec_member.s)
			az_str_set(&x->member, d->rec_member.s, d->rec_member.len);
	}
	/* what was written to a volume that dies with the pod: a tool dropped there is evidence
	 * whether or not a process holds it open (the capture stored it: volumes.json) */
	found = 0;
	for (size_t i = 0; i < m->nvfiles && found < MAX_PER_RULE; i++) {
		const struct az_upper *u = &m->vfiles[i];
		const struct az_volume *v = u->vol1 && u->vol1 <= m->nvols ? &m->vols[u->vol1 - 1] : NULL;
		if (!v || !v->kind.s || (strcmp(v->kind.s, "tmpfs") && strcmp(v->kind.s, "emptydir")) ||
		    u->type != AZ_U_FILE || !u->path.s ||
		    !((u->mode & 0111) || scriptish(u->path.s, u->path.len)))
			continue;
		found++;
		struct az_finding *x =
		    az_finding_add(f, "executable-on-ephemeral-volume", -1, u->path.s, u->path.len,
				   "%s written to the %s volume %s (mode %04o, %" PRId64 " bytes)",
				   (u->mode & 0111) ? "an executable" : "a script", v->kind.s,
				   v->mount_point.s ? v->mount_point.s : "?", (unsigned)u->mode, u->size);
		x->ct = u->ct;
		memcpy(x->sha256, u->sha256, sizeof(x->sha256));
		if (u->member.s)
			az_str_set(&x->member, u->member.s, u->member.len);
	}
}

/* ---- configuration of the container's init */

static void hardening(struct az_findings *f, const struct az_model *m)
{
	const struct az_proc *p = init_proc(m);
	if (!p || !p->from_status || !p->cap_eff[0])
		return;
	unsigned long long eff = strtoull(p->cap_eff, NULL, 16);
	const char *c = p->comm.s ? p->comm.s : "?";
	if (__builtin_popcountll(eff) >= 38)
		az_finding_add(f, "privileged", p->pid, NULL, 0,
			       "init pid %" PRId64 " (%s) holds every capability (CapEff %s): privileged",
			       p->pid, c, p->cap_eff);
	else if (eff & (1ull << 21))
		az_finding_add(f, "cap-sys-admin", p->pid, NULL, 0,
			       "init pid %" PRId64 " (%s) holds CAP_SYS_ADMIN (CapEff %s)", p->pid, c,
			       p->cap_eff);
	if (p->seccomp == 0)
		az_finding_add(f, "no-seccomp", p->pid, NULL, 0,
			       "init pid %" PRId64 " (%s) runs without a seccomp filter", p->pid, c);
	const struct az_mount *root = mount_of(m, "/", 1);
	bool ro = false;
	if (root && root->options.s) {
		const char *o = root->options.s;
		ro = !strncmp(o, "ro", 2) && (o[2] == ',' || o[2] == '\0');
	}
	if (p->uid[1] == 0 && root && !ro)
		az_finding_add(f, "root-writable-rootfs", p->pid, NULL, 0,
			       "init pid %" PRId64 " (%s) runs as uid 0 on a writable root filesystem",
			       p->pid, c);
}

void az_findings_behaviour(struct az_findings *f, const struct az_model *m, const struct az_attrs *as,
			   const struct az_findings_opts *o)
{
	struct sockix ix;
	sockix_build(&ix, m);
	connections(f, m, as);
	socket_stdio(f, m, &ix);
	listeners(f, m);
	ancestry(f, m);
	argv0(f, m);
	tampering(f, m, as, o);
	env_secrets(f, m, o);
	identity(f, m, as);
	volatile_exec(f, m);
	hardening(f, m);
	free(ix.v);
}
