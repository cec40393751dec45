#include "analyze/diff.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/imgcheck.h"
#include "analyze/util.h"
#include "analyze/record.h"
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

static void key_take(struct key *k, struct ai_buf *b, const void *item)
{
	ai_buf_cstr(b);
	k->len = b->len;
	k->k = ai_buf_steal(b);
	k->item = item;
}

/* Which rows of a model a side of the diff is: every row (a bundle of one container, diffed whole),
 * none (a container the bundle does not have), or container N's. */
#define CT_WHOLE (-1)
#define CT_NONE	 (-2)

static bool of_ct(int ct, unsigned row_ct)
{
	return ct == CT_WHOLE || (ct >= 0 && row_ct == (unsigned)ct);
}

/* A process is what runs, not its pid: exe and command line (a restarted daemon is no change). */
static struct key *proc_keys(const struct az_model *m, int ct, size_t *n)
{
	struct key *k = calloc(m->nprocs + 1, sizeof(*k));
	if (!k)
		abort();
	*n = 0;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		if (!of_ct(ct, p->ct))
			continue;
		struct ai_buf b;
		ai_buf_init(&b);
		az_esc_text(&b, p->exe.s, p->exe.s ? az_exe_path_len(p) : 0);
		ai_buf_adds(&b, p->exe_deleted ? " (deleted)" : "");
		ai_buf_adds(&b, ": ");
		az_proc_cmdline(p, &b);
		key_take(&k[(*n)++], &b, p);
	}
	qsort(k, *n, sizeof(*k), cmp_key);
	return k;
}

/* Ephemeral ports (the Linux default range) are folded: a reconnect is the same connection. */
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
		key_take(&k[i], &b, s);
	}
	qsort(k, m->nsocks, sizeof(*k), cmp_key);
	return k;
}

/* The upperdir's entries (or, vol, the volumes' files: their path is mount point + path) of the
 * side's container, by path. */
static struct key *upper_keys(const struct az_model *m, int ct, size_t *n, bool vol)
{
	const struct az_upper *v = vol ? m->vfiles : m->upper;
	size_t nv = vol ? m->nvfiles : m->nupper;
	struct key *k = calloc(nv + 1, sizeof(*k));
	if (!k)
		abort();
	*n = 0;
	for (size_t i = 0; i < nv; i++) {
		const struct az_upper *u = &v[i];
		if (!of_ct(ct, u->ct))
			continue;
		struct key *x = &k[(*n)++];
		x->k = malloc(u->path.len + 1);
		if (!x->k)
			abort();
		memcpy(x->k, u->path.s, u->path.len + 1);
		x->len = u->path.len;
		x->item = u;
	}
	qsort(k, *n, sizeof(*k), cmp_key);
	return k;
}

/* One row of the diff. container names the container the row belongs to (NULL for a bundle of one
 * container); a bundle of several pairs its containers by name and diffs each pair. */
struct row {
	const char *section, *change, *container;
	const char *key;
	size_t klen;
	bool key_raw;	    /* bytes from the target: escape them (other keys are escaped already) */
	const char *detail; /* human words, may be "" */
	int layer;	    /* image layer of the lower version, 0 none, -1 no image */
	int64_t pid;	    /* process rows: the pid on the side it is seen, else -1 */
	const struct az_upper *before, *after;
};

struct out {
	struct ai_buf *b;
	struct ai_json j;
	bool json;
	size_t count;
	size_t unrecorded; /* paths a checkpoint archive's side cannot say anything about */
	const char *container;
	const struct az_attr *attr; /* B's attribution of the container diffed, against its image, or NULL */
	const struct az_model *ma, *mb;
};

static void json_entry(struct ai_json *j, const char *key, const struct az_upper *u)
{
	ai_json_key(j, key);
	if (!u) {
		ai_json_null(j);
		return;
	}
	ai_json_obj_begin(j);
	ai_json_kstr(j, "type", az_utype_name(u->type));
	char mode[8];
	snprintf(mode, sizeof(mode), "%04o", (unsigned)u->mode);
	ai_json_kstr(j, "mode", mode);
	ai_json_kint(j, "uid", u->uid);
	ai_json_kint(j, "gid", u->gid);
	ai_json_kint(j, "size", u->size);
	ai_json_kint(j, "mtime_ns", u->mtime_ns);
	ai_json_kstr(j, "sha256", u->sha256[0] ? u->sha256 : NULL);
	if (u->target.s)
		ai_json_kbytes(j, "target", u->target.s, u->target.len);
	ai_json_kbool(j, "copied_up", u->origin);
	ai_json_obj_end(j);
}

static void emit(struct out *o, const struct row *r)
{
	o->count++;
	char op = !strcmp(r->change, "added") || !strcmp(r->change, "new")	    ? '+'
		  : !strcmp(r->change, "deleted") || !strcmp(r->change, "vanished") ? '-'
										    : '~';
	if (o->json) {
		ai_json_obj_begin(&o->j);
		ai_json_kstr(&o->j, "section", r->section);
		ai_json_kstr(&o->j, "change", r->change);
		if (r->container)
			ai_json_kstr(&o->j, "container", r->container);
		ai_json_kbytes(&o->j, "key", r->key, r->klen);
		if (r->detail && r->detail[0])
			ai_json_kstr(&o->j, "what", r->detail);
		if (r->pid >= 0)
			ai_json_kint(&o->j, "pid", r->pid);
		if (!strcmp(r->section, "file") || !strcmp(r->section, "volume")) {
			json_entry(&o->j, "before", r->before);
			json_entry(&o->j, "after", r->after);
			if (r->layer >= 0)
				ai_json_kint(&o->j, "layer", r->layer);
		}
		ai_json_obj_end(&o->j);
		return;
	}
	ai_buf_printf(o->b, "%c %-7s %-8s ", op, r->section, r->change);
	if (r->container && strcmp(r->section, "container")) {
		az_esc_text(o->b, r->container, strlen(r->container));
		ai_buf_adds(o->b, ": ");
	}
	if (r->key_raw)
		az_esc_text(o->b, r->key, r->klen);
	else
		ai_buf_add(o->b, r->key, r->klen);
	bool paren = r->detail && r->detail[0];
	if (paren)
		ai_buf_printf(o->b, "  (%s", r->detail);
	if (r->layer > 0)
		ai_buf_printf(o->b, "%slayer %d", paren ? "; " : "  (", r->layer);
	else if (r->layer == 0)
		ai_buf_printf(o->b, "%snot in the image", paren ? "; " : "  (");
	if (paren || r->layer >= 0)
		ai_buf_addc(o->b, ')');
	ai_buf_addc(o->b, '\n');
}

/* A row about a path (file and volume sections): the key is bytes from the target. */
static void emit_path(struct out *o, const char *section, const char *change, const struct key *k,
		      const char *detail, int layer, const struct az_upper *before,
		      const struct az_upper *after)
{
	struct row r = {.section = section,
			.change = change,
			.container = o->container,
			.key = k->k,
			.klen = k->len,
			.key_raw = true,
			.detail = detail ? detail : "",
			.layer = layer,
			.pid = -1,
			.before = before,
			.after = after};
	emit(o, &r);
}

/* ---- processes and sockets: a multiset of keys on each side */

static void proc_detail(const struct az_proc *p, struct ai_buf *d)
{
	ai_buf_printf(d, "pid %" PRId64, p->pid);
}

/* The owners, each pid once (a process often holds a socket through several fds). */
static void sock_detail(const struct az_model *m, const struct az_sock *s, struct ai_buf *d)
{
	size_t shown = 0, more = 0;
	for (size_t i = 0; i < s->nowners; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = s->owners[k].pid == s->owners[i].pid;
		if (seen)
			continue;
		if (shown == 4) {
			more++;
			continue;
		}
		const struct az_proc *p = az_model_proc(m, s->owners[i].pid);
		ai_buf_adds(d, shown++ ? ", " : "");
		if (p && p->comm.s)
			az_esc_text(d, p->comm.s, p->comm.len);
		ai_buf_printf(d, "[%" PRId64 "]", s->owners[i].pid);
	}
	if (more)
		ai_buf_printf(d, ", +%zu", more);
}

static void emit_set(struct out *o, const char *section, bool vanished, const struct key *k)
{
	const struct az_model *m = vanished ? o->ma : o->mb;
	cleanup_buf struct ai_buf d;
	ai_buf_init(&d);
	int64_t pid = -1;
	if (!strcmp(section, "process")) {
		pid = ((const struct az_proc *)k->item)->pid;
		proc_detail(k->item, &d);
	} else
		sock_detail(m, k->item, &d);
	ai_buf_cstr(&d);
	struct row r = {.section = section,
			.change = vanished ? "vanished" : "new",
			.container = o->container,
			.key = k->k,
			.klen = k->len,
			.detail = d.data ? d.data : "",
			.layer = -1,
			.pid = pid};
	emit(o, &r);
}

static void merge_set(struct out *o, const char *section, struct key *ka, size_t na, struct key *kb,
		      size_t nb)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : cmp_key(&ka[i], &kb[j]);
		if (c < 0)
			emit_set(o, section, true, &ka[i++]);
		else if (c > 0)
			emit_set(o, section, false, &kb[j++]);
		else
			i++, j++;
	}
}

/* ---- files: what the container sees at each path, through the overlay */

enum vis { V_LOWER, V_ABSENT, V_PRESENT };

static const struct az_upper *find(const struct key *k, size_t n, const char *p, size_t len)
{
	struct key q = {.k = (char *)p, .len = len};
	const struct key *f = bsearch(&q, k, n, sizeof(*k), cmp_key);
	return f ? f->item : NULL;
}

/* A path with no upper entry of its own shows the image's version, unless the nearest ancestor the
 * upperdir holds hides it: a whiteout, an opaque dir, or a non-directory over a lower dir. */
static enum vis visible(const struct key *k, size_t n, const char *p, size_t len, const struct az_upper **u)
{
	*u = find(k, n, p, len);
	if (*u)
		return (*u)->type == AZ_U_WHITEOUT || ((*u)->overlay & AZ_OV_WHITEOUT) ? V_ABSENT : V_PRESENT;
	while (len > 1) {
		while (len > 0 && p[len - 1] != '/')
			len--;
		if (len > 1)
			len--; /* the parent without its trailing '/' */
		if (len <= 1)
			break;
		const struct az_upper *a = find(k, n, p, len);
		if (!a)
			continue;
		if (a->type != AZ_U_DIR || (a->overlay & (AZ_OV_WHITEOUT | AZ_OV_OPAQUE)))
			return V_ABSENT;
		return V_LOWER;
	}
	return V_LOWER;
}

static bool content_differs(const struct az_upper *a, const struct az_upper *b)
{
	if (a->type != b->type || !az_str_eq(&a->target, &b->target) ||
	    (a->overlay & ~AZ_OV_METACOPY) != (b->overlay & ~AZ_OV_METACOPY))
		return true;
	if (a->type != AZ_U_FILE)
		return false;
	if (a->sha256[0] && b->sha256[0])
		return strcmp(a->sha256, b->sha256) != 0;
	return a->size != b->size;
}

static void add_time(struct ai_buf *d, int64_t ns)
{
	char t[64];
	az_time_iso(t, sizeof(t), ns);
	ai_buf_adds(d, t[0] ? t : "?");
}

/* Words for what changed between two versions of an entry: content first, then metadata. A
 * directory's mtime moves with every name made in it, so only its mode and owner count. */
static bool change_words(const struct az_upper *a, const struct az_upper *b, struct ai_buf *d)
{
	bool content = content_differs(a, b);
	if (content) {
		if (a->type != b->type)
			ai_buf_printf(d, "type %s -> %s", az_utype_name(a->type), az_utype_name(b->type));
		else if (!az_str_eq(&a->target, &b->target))
			ai_buf_adds(d, "symlink target");
		else if (a->type == AZ_U_FILE)
			ai_buf_printf(d, "content, %" PRId64 " -> %" PRId64 " bytes%s, sha256 %s -> %s",
				      a->size, b->size, a->size == b->size ? " (same size)" : "",
				      a->sha256[0] ? a->sha256 : "?", b->sha256[0] ? b->sha256 : "?");
		else
			ai_buf_adds(d, "overlay role");
	}
	/* a checkpoint's deleted.files entries carry no metadata (uid -1): nothing to compare */
	bool meta = a->uid >= 0 && b->uid >= 0;
	if (meta && a->mode != b->mode)
		ai_buf_printf(d, "%smode %04o -> %04o", d->len ? ", " : "", (unsigned)a->mode,
			      (unsigned)b->mode);
	if (meta && (a->uid != b->uid || a->gid != b->gid))
		ai_buf_printf(d, "%sowner %" PRId64 ":%" PRId64 " -> %" PRId64 ":%" PRId64,
			      d->len ? ", " : "", a->uid, a->gid, b->uid, b->gid);
	if (a->type != AZ_U_DIR && b->type != AZ_U_DIR && a->mtime_ns && b->mtime_ns &&
	    a->mtime_ns != b->mtime_ns) {
		ai_buf_adds(d, d->len ? ", mtime " : "mtime ");
		add_time(d, a->mtime_ns);
		ai_buf_adds(d, " -> ");
		add_time(d, b->mtime_ns);
	}
	return content;
}

/* An entry in B that A did not have, over the image's version: a copy-up (the origin xattr, or the
 * image has the path) or an opaque directory is a modification of that version; otherwise the
 * file is new. */
static const char *copy_up(const struct az_upper *b, const struct az_origin *org, bool have_org,
			   struct ai_buf *d)
{
	if (b->overlay & AZ_OV_OPAQUE) {
		/* overlayfs makes a directory opaque only where a lower one was removed */
		ai_buf_adds(d, "opaque: replaces the image's directory and everything in it");
		return "modified";
	}
	bool lower = b->origin || (have_org && org->lower_exists);
	if (!lower)
		return "added";
	ai_buf_adds(d, "copy-up");
	if (have_org && org->sha_known && b->type == AZ_U_FILE && b->sha256[0]) {
		if (!strcmp(org->lower_sha256, b->sha256)) {
			ai_buf_adds(d, ", content as in the image");
			return "metadata";
		}
		ai_buf_printf(d, ", sha256 %s -> %s", org->lower_sha256, b->sha256);
	}
	return "modified";
}

/* A checkpoint archive records what podman diff adds (rootfs-diff.tar) and deletes
 * (deleted.files), not directories nor image files changed in place: on its side, no entry for
 * those says nothing. */
static bool unrecorded(const struct az_model *m, const struct az_upper *other, const struct az_origin *org,
		       bool have_org)
{
	return m->ck.present && (other->type == AZ_U_DIR || other->origin || (have_org && org->lower_exists));
}

static void file_row(struct out *o, const struct key *ka, size_t na, const struct key *kb, size_t nb,
		     const struct key *k)
{
	const struct az_upper *ua, *ub;
	enum vis va = visible(ka, na, k->k, k->len, &ua), vb = visible(kb, nb, k->k, k->len, &ub);
	struct az_origin org;
	bool have_org = o->attr && az_attr_lookup(o->attr, k->k, k->len, &org);
	cleanup_buf struct ai_buf d;
	ai_buf_init(&d);
	const char *change = NULL;
	if ((va == V_PRESENT && vb == V_LOWER && unrecorded(o->mb, ua, &org, have_org)) ||
	    (va == V_LOWER && vb == V_PRESENT && unrecorded(o->ma, ub, &org, have_org))) {
		o->unrecorded++;
		return;
	}
	if (va == V_PRESENT && vb == V_PRESENT) {
		if (!ua->origin && ub->origin && ua->type == AZ_U_DIR)
			ai_buf_adds(&d, "copied up"); /* cannot happen to a file: a new one has no origin */
		bool content = change_words(ua, ub, &d);
		change = content ? "modified" : d.len ? "metadata" : NULL;
	} else if (va != V_ABSENT && vb == V_ABSENT) {
		change = "deleted";
		ai_buf_adds(&d, ub ? "whiteout" : "hidden by its parent");
		if (va == V_PRESENT && !ua->origin && !(have_org && org.lower_exists))
			ai_buf_adds(&d, ", made at runtime");
	} else if (va == V_PRESENT && vb == V_LOWER) {
		change = "deleted"; /* gone from the upperdir with no whiteout: the image has no such path */
	} else if (va == V_ABSENT && vb != V_ABSENT) {
		change = "added";
		ai_buf_adds(&d, vb == V_PRESENT ? "re-created over a whiteout" : "whiteout gone");
	} else if (va == V_LOWER && vb == V_PRESENT)
		change = copy_up(ub, &org, have_org, &d);
	if (!change)
		return;
	ai_buf_cstr(&d);
	emit_path(o, "file", change, k, d.data,
		  !o->attr   ? -1
		  : have_org ? org.layer
			     : 0,
		  va == V_PRESENT ? ua : NULL, vb == V_PRESENT ? ub : NULL);
}

/* Every path either upperdir names, once, in path order. */
static void merge_files(struct out *o, struct key *ka, size_t na, struct key *kb, size_t nb)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : cmp_key(&ka[i], &kb[j]);
		const struct key *k = c <= 0 ? &ka[i] : &kb[j];
		file_row(o, ka, na, kb, nb, k);
		/* a path an index repeats (hostile input) is diffed once */
		while (i < na && !cmp_key(&ka[i], k))
			i++;
		while (j < nb && !cmp_key(&kb[j], k))
			j++;
	}
}

/* A container B does not have: what its upperdir held went with it. Each entry is listed once as
 * deleted, whatever it was (a whiteout or a copy-up too: the container that made it is gone, not
 * the image's version back). */
static void vanished_files(struct out *o, const struct key *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i && !cmp_key(&k[i - 1], &k[i]))
			continue;
		const struct az_upper *u = k[i].item;
		const char *what = u->type == AZ_U_WHITEOUT || (u->overlay & AZ_OV_WHITEOUT)
				       ? "gone with its container, a whiteout"
				   : u->overlay & AZ_OV_OPAQUE
				       ? "gone with its container, an opaque directory"
				   : u->origin ? "gone with its container, a copy-up"
					       : "gone with its container";
		emit_path(o, "file", "deleted", &k[i], what, -1, u, NULL);
	}
}

static void diff_procs(struct out *o, int cta, int ctb)
{
	size_t na, nb;
	struct key *pa = proc_keys(o->ma, cta, &na), *pb = proc_keys(o->mb, ctb, &nb);
	merge_set(o, "process", pa, na, pb, nb);
	keys_free(pa, na);
	keys_free(pb, nb);
}

/* The pod's network namespace is shared: its sockets are the pod's, diffed once. */
static void diff_socks(struct out *o)
{
	const struct az_model *a = o->ma, *b = o->mb;
	o->container = NULL;
	struct key *sa = sock_keys(a), *sb = sock_keys(b);
	merge_set(o, "socket", sa, a->nsocks, sb, b->nsocks);
	keys_free(sa, a->nsocks);
	keys_free(sb, b->nsocks);
}

static void diff_files(struct out *o, int cta, int ctb)
{
	size_t na, nb;
	struct key *ua = upper_keys(o->ma, cta, &na, false), *ub = upper_keys(o->mb, ctb, &nb, false);
	if (ctb == CT_NONE)
		vanished_files(o, ua, na);
	else
		merge_files(o, ua, na, ub, nb);
	keys_free(ua, na);
	keys_free(ub, nb);
}

/* "volume MOUNTPOINT KIND" of a volume file, escaped (bytes from the bundle). */
static void volume_words(const struct az_model *m, const struct az_upper *u, struct ai_buf *d)
{
	const struct az_volume *v = u->vol1 && u->vol1 <= m->nvols ? &m->vols[u->vol1 - 1] : NULL;
	if (!v)
		return;
	ai_buf_adds(d, d->len ? "; " : "");
	az_attr_volume_text(v, d);
	if (v->content.s && !strcmp(v->content.s, "hashed"))
		ai_buf_adds(d, ", content not stored");
}

/* The volumes that die with the pod (tmpfs, /dev/shm, emptyDir, and what --volumes stored): no
 * image under them, so a file is added, deleted, modified (sha256, same size included) or changed
 * in metadata only. A container on one side only has all its files on the other's side absent. */
static void diff_volumes(struct out *o, int cta, int ctb)
{
	size_t na, nb;
	struct key *ka = upper_keys(o->ma, cta, &na, true), *kb = upper_keys(o->mb, ctb, &nb, true);
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : cmp_key(&ka[i], &kb[j]);
		const struct az_upper *ua = c <= 0 ? ka[i].item : NULL, *ub = c >= 0 ? kb[j].item : NULL;
		const struct key *k = c <= 0 ? &ka[i] : &kb[j];
		cleanup_buf struct ai_buf d;
		ai_buf_init(&d);
		const char *change = !ua ? "added" : !ub ? "deleted" : NULL;
		if (ua && ub) {
			bool content = change_words(ua, ub, &d);
			change = content ? "modified" : d.len ? "metadata" : NULL;
		}
		if (change) {
			volume_words(ub ? o->mb : o->ma, ub ? ub : ua, &d);
			ai_buf_cstr(&d);
			emit_path(o, "volume", change, k, d.data, -1, ua, ub);
		}
		/* a path an index repeats (hostile input) is diffed once */
		while (i < na && !cmp_key(&ka[i], k))
			i++;
		while (j < nb && !cmp_key(&kb[j], k))
			j++;
	}
	keys_free(ka, na);
	keys_free(kb, nb);
}

/* B's attribution of container ct when it was built against an image (without one it names no
 * layer). */
static const struct az_attr *attr_of(const struct az_attrs *attrs, unsigned ct)
{
	const struct az_attr *a = az_attrs_of(attrs, ct);
	return a && az_attr_image(a) ? a : NULL;
}

static size_t nct(const struct az_model *m)
{
	return m->ncts ? m->ncts : 1;
}

/* What a container is called in the rows: the short name every view prints. */
static const char *ct_label(const struct az_model *m, size_t ct, char *buf, size_t len)
{
	if (m->cts[ct].shortname[0])
		return m->cts[ct].shortname;
	snprintf(buf, len, "c%zu", ct);
	return buf;
}

/* How containers are paired, most telling first: both named alike (a container re-created under
 * its name is the same one to an analyst), else the same id, else the same short name. */
static bool same_ct(const struct az_model *a, size_t i, const struct az_model *b, size_t j, int pass)
{
	const struct az_container *x = &a->cts[i], *y = &b->cts[j];
	char bx[24], by[24];
	switch (pass) {
	case 0:
		return x->name.s && y->name.s && az_str_eq(&x->name, &y->name);
	case 1:
		return x->id.s && y->id.s && x->id.len && az_str_eq(&x->id, &y->id);
	default:
		return !strcmp(ct_label(a, i, bx, sizeof(bx)), ct_label(b, j, by, sizeof(by)));
	}
}

static void container_row(struct out *o, bool vanished)
{
	struct row r = {.section = "container",
			.change = vanished ? "vanished" : "new",
			.container = o->container,
			.key = o->container,
			.klen = strlen(o->container),
			.key_raw = true,
			.detail = "",
			.layer = -1,
			.pid = -1};
	emit(o, &r);
}

/* Containers paired by name and diffed pair by pair; one only A has is vanished (its processes
 * vanished, its upperdir deleted with it), one only B has new (its processes new, its upperdir
 * against a fresh container of its image: what it changed). */
static void diff_pod(struct out *o, const struct az_model *a, const struct az_model *b,
		     const struct az_attrs *attrs_b)
{
	static const struct az_model nothing;
	size_t na = nct(a), nb = nct(b);
	int pair_of[AZ_MAX_CONTAINERS];
	bool taken[AZ_MAX_CONTAINERS] = {false};
	for (size_t i = 0; i < na; i++)
		pair_of[i] = -1;
	for (int pass = 0; pass < 3; pass++)
		for (size_t i = 0; i < na; i++)
			for (size_t j = 0; j < nb && pair_of[i] < 0; j++)
				if (!taken[j] && same_ct(a, i, b, j, pass)) {
					pair_of[i] = (int)j;
					taken[j] = true;
				}
	char buf[24];
	for (size_t i = 0; i < na; i++) {
		int j = pair_of[i];
		o->ma = a;
		o->mb = j >= 0 ? b : &nothing;
		o->attr = j >= 0 ? attr_of(attrs_b, (unsigned)j) : NULL;
		o->container =
		    j >= 0 ? ct_label(b, (size_t)j, buf, sizeof(buf)) : ct_label(a, i, buf, sizeof(buf));
		if (j < 0)
			container_row(o, true);
		diff_procs(o, (int)i, j >= 0 ? j : CT_NONE);
		diff_files(o, (int)i, j >= 0 ? j : CT_NONE);
		diff_volumes(o, (int)i, j >= 0 ? j : CT_NONE);
	}
	for (size_t j = 0; j < nb; j++) {
		if (taken[j])
			continue;
		o->ma = &nothing;
		o->mb = b;
		o->attr = attr_of(attrs_b, (unsigned)j);
		o->container = ct_label(b, j, buf, sizeof(buf));
		container_row(o, false);
		diff_procs(o, CT_NONE, (int)j);
		diff_files(o, CT_NONE, (int)j);
		diff_volumes(o, CT_NONE, (int)j);
	}
	o->ma = a;
	o->mb = b;
	diff_socks(o);
}

size_t az_diff_render(const struct az_model *a, const struct az_model *b, const struct az_attrs *attrs_b,
		      bool json, struct ai_buf *out)
{
	struct out o = {.b = out, .json = json, .ma = a, .mb = b};
	/* two bundles of one container each are diffed whole, whatever their containers are called */
	bool pod = nct(a) > 1 || nct(b) > 1;
	if (json) {
		ai_json_init(&o.j, out);
		ai_json_obj_begin(&o.j);
		/* a pod's check is per container: each ran its own image */
		if (attrs_b && nct(b) > 1) {
			ai_json_key(&o.j, "image_checks");
			ai_json_arr_begin(&o.j);
			for (size_t ct = 0; ct < nct(b); ct++) {
				const struct az_attr *at = az_attrs_of(attrs_b, (unsigned)ct);
				if (!at)
					continue;
				char buf[24];
				ai_json_obj_begin(&o.j);
				ai_json_kstr(&o.j, "container", ct_label(b, ct, buf, sizeof(buf)));
				az_imgcheck_json(az_attr_imgcheck(at), &o.j);
				ai_json_obj_end(&o.j);
			}
			ai_json_arr_end(&o.j);
		} else if (az_attrs_of(attrs_b, 0))
			az_imgcheck_json(az_attr_imgcheck(az_attrs_of(attrs_b, 0)), &o.j);
		ai_json_key(&o.j, "changes");
		ai_json_arr_begin(&o.j);
	}
	if (pod)
		diff_pod(&o, a, b, attrs_b);
	else {
		o.attr = attr_of(attrs_b, 0);
		diff_procs(&o, CT_WHOLE, CT_WHOLE);
		diff_socks(&o);
		diff_files(&o, CT_WHOLE, CT_WHOLE);
		diff_volumes(&o, CT_WHOLE, CT_WHOLE);
	}
	if (json) {
		ai_json_arr_end(&o.j);
		ai_json_kuint(&o.j, "count", o.count);
		ai_json_kuint(&o.j, "not_compared", o.unrecorded);
		ai_json_obj_end(&o.j);
		ai_buf_addc(out, '\n');
	} else {
		if (o.unrecorded)
			ai_buf_printf(
			    out,
			    "%zu path%s not compared: a checkpoint archive records no directory and "
			    "no image file changed in place\n",
			    o.unrecorded, o.unrecorded == 1 ? "" : "s");
		ai_buf_printf(out, "%zu difference%s\n", o.count, o.count == 1 ? "" : "s");
	}
	return o.count;
}
