#include "analyze/timeline.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/finding.h"
#include "analyze/record.h"
#include "analyze/util.h"
#include "common/json.h"

int az_tl_format_parse(const char *s, enum az_tl_format *f)
{
	if (!s)
		return -1;
	if (!strcmp(s, "bodyfile"))
		*f = AZ_TL_BODYFILE;
	else if (!strcmp(s, "jsonl"))
		*f = AZ_TL_JSONL;
	else if (!strcmp(s, "csv"))
		*f = AZ_TL_CSV;
	else
		return -1;
	return 0;
}

struct evs {
	struct az_event *v;
	size_t n, cap;
};

static struct az_event *ev_add(struct evs *e, int64_t ns, const char *desc, const char *source)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 256;
		e->v = realloc(e->v, e->cap * sizeof(*e->v));
		if (!e->v)
			abort();
	}
	struct az_event *x = &e->v[e->n++];
	memset(x, 0, sizeof(*x));
	x->ns = ns;
	x->desc = desc;
	x->source = source;
	x->pid = -1;
	x->seq = e->n - 1;
	return x;
}

static void ev_msg(struct az_event *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ev_msg(struct az_event *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&x->message, fmt, ap) < 0)
		abort();
	va_end(ap);
}

/* A file time older than its container's first process was not made by the container: a copy-up
 * keeps the image file's mtime, touch -d and tar set any time they like. Said, so that an analyst
 * does not read it as activity (the container's start: its earliest process start, or a
 * checkpoint's createdTime). */
static void mark_before_start(const struct az_model *m, struct evs *e)
{
	int64_t start[AZ_MAX_CONTAINERS] = {0};
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		if (p->start_ns > 0 && p->ct < AZ_MAX_CONTAINERS &&
		    (!start[p->ct] || p->start_ns < start[p->ct]))
			start[p->ct] = p->start_ns;
	}
	if (m->ck.present && m->ck.created_ns > 0 && (!start[0] || m->ck.created_ns < start[0]))
		start[0] = m->ck.created_ns;
	for (size_t i = 0; i < e->n; i++) {
		struct az_event *x = &e->v[i];
		unsigned ct = x->upper ? x->upper->ct : AZ_MAX_CONTAINERS;
		if (ct >= AZ_MAX_CONTAINERS || !start[ct] || x->ns <= 0 || x->ns >= start[ct])
			continue;
		x->before_start = true;
		char *msg;
		if (asprintf(&msg, "%s [before the container started]", x->message) < 0)
			abort();
		free(x->message);
		x->message = msg;
	}
}

/* A pod: every event of a container's upperdir, process or fd begins with "[NAME] ". */
static void name_containers(const struct az_model *m, struct evs *e)
{
	if (m->ncts <= 1)
		return;
	for (size_t i = 0; i < e->n; i++) {
		struct az_event *x = &e->v[i];
		const struct az_proc *p = x->pid >= 0 ? az_model_proc(m, x->pid) : NULL;
		if (!x->upper && !p)
			continue;
		char *msg;
		if (asprintf(&msg, "[%s] %s", az_model_ctname(m, x->upper ? x->upper->ct : p->ct),
			     x->message) < 0)
			abort();
		free(x->message);
		x->message = msg;
	}
}

static int cmp_ev(const void *a, const void *b)
{
	const struct az_event *x = a, *y = b;
	if (x->ns != y->ns)
		return x->ns < y->ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void esc_msg_path(struct ai_buf *b, const struct az_str *s)
{
	az_esc_text(b, s->s, s->len);
}

void az_timeline_events(const struct az_ctx *c, struct az_event **out, size_t *n)
{
	struct evs e = {0};
	const struct az_model *m = &c->m;
	struct ai_buf tmp;
	ai_buf_init(&tmp);
	for (size_t i = 0; i < m->nupper; i++) {
		const struct az_upper *u = &m->upper[i];
		struct az_origin o;
		const struct az_attr *a = az_attrs_of(&c->attrs, u->ct); /* its own container's */
		bool have = a && az_attr_lookup(a, u->path.s, u->path.len, &o);
		bool imaged = have && az_attr_image(a); /* a status against an image, not the upperdir's */
		ai_buf_reset(&tmp);
		esc_msg_path(&tmp, &u->path);
		const char *st = have ? az_status_name(o.status) : "upper";
		if (u->overlay & AZ_OV_WHITEOUT) {
			/* deleted.files of a checkpoint has no times: the deletion is known at the checkpoint
			 */
			bool ck = !u->ctime_ns && m->ck.present && m->ck.checkpointed_ns;
			struct az_event *x =
			    ev_add(&e, ck ? m->ck.checkpointed_ns : u->ctime_ns,
				   ck ? "Deleted (seen at checkpoint)" : "Deleted (whiteout ctime)", "upper");
			ev_msg(x, "%s deleted at runtime (%s)", ai_buf_cstr(&tmp),
			       ck ? "deleted.files" : "whiteout");
			x->path = u->path;
			x->upper = u;
			x->origin = o;
			x->have_origin = imaged;
			continue;
		}
		static const char *descs[3] = {"Content Modification Time", "Last Access Time",
					       "Metadata Modification Time"};
		int64_t ts[3] = {u->mtime_ns, u->atime_ns, u->ctime_ns};
		for (int k = 0; k < 3; k++) {
			if (!ts[k])
				continue;
			struct az_event *x = ev_add(&e, ts[k], descs[k], "upper");
			ev_msg(x, "%s %s (%s)", az_utype_name(u->type), ai_buf_cstr(&tmp), st);
			x->path = u->path;
			x->upper = u;
			x->origin = o;
			x->have_origin = imaged;
		}
	}
	/* the files of the volumes that die with the pod: no image under them, their times are theirs */
	for (size_t i = 0; i < m->nvfiles; i++) {
		const struct az_upper *u = &m->vfiles[i];
		static const char *descs[3] = {"Content Modification Time", "Last Access Time",
					       "Metadata Modification Time"};
		int64_t ts[3] = {u->mtime_ns, u->atime_ns, u->ctime_ns};
		ai_buf_reset(&tmp);
		esc_msg_path(&tmp, &u->path);
		ai_buf_adds(&tmp, " (");
		const struct az_volume *v = u->vol1 && u->vol1 <= m->nvols ? &m->vols[u->vol1 - 1] : NULL;
		if (v)
			az_attr_volume_text(v, &tmp);
		else
			ai_buf_adds(&tmp, "volume");
		ai_buf_addc(&tmp, ')');
		for (int k = 0; k < 3; k++) {
			if (!ts[k])
				continue;
			struct az_event *x = ev_add(&e, ts[k], descs[k], "volume");
			ev_msg(x, "%s %s", az_utype_name(u->type), ai_buf_cstr(&tmp));
			x->path = u->path;
			x->upper = u;
		}
	}
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct az_proc *p = &m->procs[i];
		if (!p->start_ns)
			continue;
		struct az_event *x = ev_add(&e, p->start_ns, "Process Start Time", "process");
		ai_buf_reset(&tmp);
		esc_msg_path(&tmp, &p->exe);
		struct ai_buf cmd;
		ai_buf_init(&cmd);
		az_esc_text(&cmd, p->comm.s, p->comm.len);
		struct ai_buf line;
		ai_buf_init(&line);
		az_proc_cmdline(p, &line);
		char prec[64] = "";
		if (m->start_tick_ns) /* the kernel counts a start in clock ticks since boot */
			snprintf(prec, sizeof(prec), " (start time to the clock tick, %" PRId64 " ms)",
				 m->start_tick_ns / 1000000);
		ev_msg(x, "process %" PRId64 " (%s) started: exe %s: %.*s%s%s", p->pid, ai_buf_cstr(&cmd),
		       ai_buf_cstr(&tmp), line.len > 512 ? 512 : (int)line.len, line.len ? line.data : "",
		       line.len > 512 ? "..." : "", prec);
		x->precision_ns = m->start_tick_ns;
		ai_buf_free(&line);
		ai_buf_free(&cmd);
		x->pid = p->pid;
		x->path = p->exe;
	}
	int64_t cap_ns = m->man.started_ns;
	for (size_t i = 0; i < m->nfds && cap_ns; i++) {
		const struct az_fd *d = &m->fds[i];
		if (!d->deleted)
			continue;
		struct az_event *x = ev_add(&e, cap_ns, "Open While Deleted (seen at capture)", "fd");
		ai_buf_reset(&tmp);
		esc_msg_path(&tmp, &d->target);
		ev_msg(x, "pid %" PRId64 " fd %" PRId64 " holds deleted %s%s%s", d->pid, d->fd,
		       ai_buf_cstr(&tmp), d->rec_member.s ? ", saved as " : "",
		       d->rec_member.s ? d->rec_member.s : "");
		x->pid = d->pid;
		x->path = d->target;
	}
	for (size_t k = 0; k < c->nimgs; k++) { /* each image once, however many containers ran it */
		const struct az_image *img = &c->imgs[k];
		struct ai_buf which;
		ai_buf_init(&which);
		if (c->nimgs > 1) { /* a pod over several images: say which */
			ai_buf_adds(&which, " ");
			az_esc_text(&which, c->img_ref[k], strlen(c->img_ref[k]));
		}
		size_t li = 0;
		for (size_t i = 0; i < img->nhist; i++) {
			const struct az_history *h = &img->hist[i];
			if (!h->created_ns) {
				li += !h->empty_layer;
				continue;
			}
			struct az_event *x = ev_add(&e, h->created_ns, "Image Layer Created", "image");
			ai_buf_reset(&tmp);
			az_esc_text(&tmp, h->created_by.s ? h->created_by.s : "", h->created_by.len);
			if (h->empty_layer)
				ev_msg(x, "image%s history (no layer): %s", ai_buf_cstr(&which),
				       ai_buf_cstr(&tmp));
			else
				ev_msg(x, "image%s layer %zu created: %s", ai_buf_cstr(&which), li + 1,
				       ai_buf_cstr(&tmp));
			li += !h->empty_layer;
		}
		ai_buf_free(&which);
	}
	if (m->ck.present) {
		ai_buf_reset(&tmp);
		az_esc_text(&tmp, m->man.name.s ? m->man.name.s : "?", m->man.name.s ? m->man.name.len : 1);
		if (m->ck.created_ns) {
			struct az_event *x = ev_add(&e, m->ck.created_ns, "Container Created", "checkpoint");
			ev_msg(x, "container %s created (config.dump createdTime)", ai_buf_cstr(&tmp));
		}
		if (m->ck.checkpointed_ns) {
			struct az_event *x = ev_add(&e, m->ck.checkpointed_ns, "Checkpointed", "checkpoint");
			ev_msg(x, "container %s checkpointed (%s)", ai_buf_cstr(&tmp),
			       m->ck.checkpointed_from_mtime ? "newest member mtime of the archive"
							     : "config.dump checkpointedTime");
		}
	} else if (m->man.started_ns) {
		struct az_event *x = ev_add(&e, m->man.started_ns, "Capture Start", "capture");
		ev_msg(x, "afterimage capture %s started (target pid %" PRId64 ")",
		       m->man.name.s ? m->man.name.s : "?", m->man.target_pid);
	}
	if (m->man.ended_ns && !m->ck.present) {
		struct az_event *x = ev_add(&e, m->man.ended_ns, "Capture End", "capture");
		/* "stopped" sorts after "started": mactime orders the events of one second by name */
		ev_msg(x, "afterimage capture %s stopped (complete=%s)", m->man.name.s ? m->man.name.s : "?",
		       m->man.complete ? "true" : "false");
	}
	ai_buf_free(&tmp);
	mark_before_start(m, &e);
	name_containers(m, &e);
	if (e.n)
		qsort(e.v, e.n, sizeof(*e.v), cmp_ev);
	*out = e.v;
	*n = e.n;
}

void az_timeline_events_free(struct az_event *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].message);
	free(v);
}

/* ---- bodyfile */

static char type_letter(enum az_utype t)
{
	switch (t) {
	case AZ_U_FILE:
		return 'r';
	case AZ_U_DIR:
		return 'd';
	case AZ_U_SYMLINK:
		return 'l';
	case AZ_U_FIFO:
		return 'p';
	case AZ_U_SOCKET:
		return 's';
	case AZ_U_CHR:
		return 'c';
	case AZ_U_BLK:
		return 'b';
	default:
		return '-';
	}
}

static void body_name(struct ai_buf *out, const char *s, size_t len)
{
	struct ai_buf t;
	ai_buf_init(&t);
	az_esc_text(&t, s, len);
	for (size_t i = 0; i < t.len; i++) {
		if (t.data[i] == '|')
			ai_buf_adds(out, "\\x7c");
		else
			ai_buf_addc(out, t.data[i]);
	}
	ai_buf_free(&t);
}

static int64_t sec(int64_t ns)
{
	return ns > 0 ? ns / 1000000000 : 0;
}

static void render_body(const struct az_ctx *c, struct ai_buf *out)
{
	const struct az_model *m = &c->m;
	for (size_t i = 0; i < m->nupper; i++) {
		const struct az_upper *u = &m->upper[i];
		char perm[10];
		az_perm_string(u->mode, perm);
		char t = (u->overlay & AZ_OV_WHITEOUT) ? '-' : type_letter(u->type);
		ai_buf_adds(out, "0|");
		if (m->ncts > 1) { /* a pod: two containers may hold the same path */
			const char *cn = az_model_ctname(m, u->ct);
			ai_buf_addc(out, '[');
			body_name(out, cn, strlen(cn));
			ai_buf_adds(out, "] ");
		}
		body_name(out, u->path.s, u->path.len);
		struct az_origin o;
		int64_t ct = u->ctime_ns;
		if ((u->overlay & AZ_OV_WHITEOUT) && !ct && m->ck.present) {
			/* member: deleted.files, or rootfs-diff.tar for an OCI whiteout (our names) */
			ai_buf_printf(out, " (deleted: %s, seen at checkpoint)",
				      u->member.s && !strcmp(u->member.s, "rootfs-diff.tar")
					  ? "rootfs-diff.tar"
					  : "deleted.files");
			ct = m->ck.checkpointed_ns;
		} else if (u->overlay & AZ_OV_WHITEOUT)
			ai_buf_adds(out, " (deleted: whiteout)");
		else {
			const struct az_attr *a = az_attrs_of(&c->attrs, u->ct);
			if (a && az_attr_image(a) && az_attr_lookup(a, u->path.s, u->path.len, &o))
				ai_buf_printf(out, " (%s)", az_status_name(o.status));
		}
		ai_buf_printf(out,
			      "|%" PRId64 "|%c/%c%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64
			      "|%" PRId64 "|0\n",
			      u->ino > 0 ? u->ino : 0, t, t, perm, u->uid > 0 ? u->uid : 0,
			      u->gid > 0 ? u->gid : 0, u->size > 0 ? u->size : 0, sec(u->atime_ns),
			      sec(u->mtime_ns), sec(ct));
	}
	for (size_t i = 0; i < m->nvfiles; i++) {
		const struct az_upper *u = &m->vfiles[i];
		char perm[10];
		az_perm_string(u->mode, perm);
		char t = type_letter(u->type);
		ai_buf_adds(out, "0|");
		if (m->ncts > 1) {
			const char *cn = az_model_ctname(m, u->ct);
			ai_buf_addc(out, '[');
			body_name(out, cn, strlen(cn));
			ai_buf_adds(out, "] ");
		}
		body_name(out, u->path.s, u->path.len);
		const struct az_volume *v = u->vol1 && u->vol1 <= m->nvols ? &m->vols[u->vol1 - 1] : NULL;
		ai_buf_adds(out, " (volume");
		if (v) { /* bytes from the bundle: escaped once, by body_name */
			ai_buf_addc(out, ' ');
			body_name(out, v->mount_point.s, v->mount_point.len);
			ai_buf_addc(out, ' ');
			body_name(out, v->kind.s, v->kind.len);
		}
		ai_buf_addc(out, ')');
		ai_buf_printf(out,
			      "|%" PRId64 "|%c/%c%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64
			      "|%" PRId64 "|0\n",
			      u->ino > 0 ? u->ino : 0, t, t, perm, u->uid > 0 ? u->uid : 0,
			      u->gid > 0 ? u->gid : 0, u->size > 0 ? u->size : 0, sec(u->atime_ns),
			      sec(u->mtime_ns), sec(u->ctime_ns));
	}
	struct az_event *ev;
	size_t n;
	az_timeline_events(c, &ev, &n);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ev[i].source, "upper") || !strcmp(ev[i].source, "volume"))
			continue;
		ai_buf_printf(out, "0|[%s] ", ev[i].source);
		body_name(out, ev[i].message, strlen(ev[i].message));
		int64_t t = sec(ev[i].ns);
		ai_buf_printf(out, "|0|-/----------|0|0|0|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "\n",
			      t, t, t, t);
	}
	az_timeline_events_free(ev, n);
}

/* The container an event is of: in a pod its upperdir's or its process's (NULL for the pod's own
 * events), else the bundle's one container. */
static const char *ev_container(const struct az_model *m, const struct az_event *x)
{
	if (m->ncts <= 1)
		return az_row_container(m, -1);
	if (x->upper)
		return az_model_ctname(m, x->upper->ct);
	const struct az_proc *p = x->pid >= 0 ? az_model_proc(m, x->pid) : NULL;
	return p ? az_model_ctname(m, p->ct) : NULL;
}

static void render_rows(const struct az_ctx *c, bool csv, struct ai_buf *out)
{
	struct az_event *ev;
	size_t n;
	az_timeline_events(c, &ev, &n);
	if (csv)
		ai_buf_adds(out, "message,datetime,timestamp_desc,timestamp,timestamp_ns,source,path,pid,"
				 "status,layer,inode,"
				 "mode,uid,gid,size,sha256,container\n");
	for (size_t i = 0; i < n; i++) {
		const struct az_event *x = &ev[i];
		char iso[64];
		az_time_iso(iso, sizeof(iso), x->ns);
		const struct az_upper *u = x->upper;
		char mode[8] = "";
		if (u)
			snprintf(mode, sizeof(mode), "%04o", u->mode);
		const char *status = x->have_origin ? az_status_name(x->origin.status) : "";
		const char *cn = ev_container(&c->m, x);
		if (csv) {
			az_esc_csv(out, x->message, strlen(x->message));
			ai_buf_printf(out, ",%s,%s,%" PRId64 ",%" PRId64 ",%s,", iso, x->desc, x->ns / 1000,
				      x->ns, x->source);
			az_esc_csv(out, x->path.s, x->path.len);
			ai_buf_addc(out, ',');
			if (x->pid >= 0)
				ai_buf_printf(out, "%" PRId64, x->pid);
			ai_buf_printf(out, ",%s,", status);
			if (x->have_origin && x->origin.layer)
				ai_buf_printf(out, "%d", x->origin.layer);
			if (u)
				ai_buf_printf(out, ",%" PRId64 ",%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,",
					      u->ino, mode, u->uid, u->gid, u->size, u->sha256);
			else
				ai_buf_adds(out, ",,,,,,,");
			az_esc_csv(out, cn ? cn : "", cn ? strlen(cn) : 0); /* a name from the runtime spec */
			ai_buf_addc(out, '\n');
			continue;
		}
		struct ai_json j;
		ai_json_init(&j, out);
		ai_json_obj_begin(&j);
		ai_json_kstr(&j, "message", x->message);
		ai_json_kstr(&j, "datetime", iso);
		ai_json_kstr(&j, "timestamp_desc", x->desc);
		ai_json_kint(&j, "timestamp", x->ns / 1000);
		ai_json_kint(&j, "timestamp_ns", x->ns);
		ai_json_kstr(&j, "source", x->source);
		if (x->path.s)
			ai_json_kbytes(&j, "path", x->path.s, x->path.len);
		if (x->pid >= 0)
			ai_json_kint(&j, "pid", x->pid);
		if (cn)
			ai_json_kstr(&j, "container", cn);
		if (x->precision_ns)
			ai_json_kint(&j, "time_precision_ns", x->precision_ns);
		if (x->before_start)
			ai_json_kbool(&j, "before_container_start", true);
		if (status[0])
			ai_json_kstr(&j, "status", status);
		if (x->have_origin && x->origin.layer)
			ai_json_kint(&j, "layer", x->origin.layer);
		if (u) {
			ai_json_kint(&j, "inode", u->ino);
			ai_json_kstr(&j, "mode", mode);
			ai_json_kint(&j, "uid", u->uid);
			ai_json_kint(&j, "gid", u->gid);
			ai_json_kint(&j, "size", u->size);
			if (u->sha256[0])
				ai_json_kstr(&j, "sha256", u->sha256);
		}
		ai_json_obj_end(&j);
		ai_buf_addc(out, '\n');
	}
	az_timeline_events_free(ev, n);
}

void az_timeline_render(const struct az_ctx *c, enum az_tl_format f, struct ai_buf *out)
{
	if (f == AZ_TL_BODYFILE)
		render_body(c, out);
	else
		render_rows(c, f == AZ_TL_CSV, out);
}
