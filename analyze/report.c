#include "analyze/report.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/findings.h"
#include "analyze/imgcheck.h"
#include "analyze/timeline.h"
#include "analyze/util.h"
#include "analyze/views.h"

#define H(b, s, l) az_esc_html(b, s, l)
#define HS(b, s)   az_esc_html(b, s, strlen(s))

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fff}"
    "h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px "
    "6px;text-align:left;"
    "vertical-align:top}th{background:#f3f3f3}code,.mono{font-family:ui-monospace,monospace;font-size:12px}"
    ".high{background:#fde0e0}.medium{background:#fff3cd}.info{background:#eef}"
    ".st-added{color:#060}.st-modified{color:#b00}.st-deleted{color:#777;text-decoration:line-through}"
    ".st-replaced{color:#a50}.st-metadata{color:#05a}.tree{white-space:pre;font-family:ui-monospace,"
    "monospace;"
    "font-size:12px}.meta td:first-child{font-weight:bold}";

/* A pod's findings name their container (a column of its own). */
static void finding_row(const struct az_model *m, const struct az_finding *x, struct ai_buf *o)
{
	ai_buf_printf(
	    o, "<tr class=\"%s\" data-kind=\"%s\" data-rule=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td>",
	    az_sev_name(x->sev), x->kind, x->rule->id, az_sev_name(x->sev), x->rule->id, x->kind);
	if (m->ncts > 1) {
		const char *cn = az_finding_container(m, x);
		if (cn)
			HS(o, cn);
		ai_buf_adds(o, "</td><td>");
	}
	if (x->pid >= 0)
		ai_buf_printf(o, "%" PRId64, x->pid);
	ai_buf_adds(o, "</td><td class=\"mono\">");
	H(o, x->path.s, x->path.len);
	ai_buf_adds(o, "</td><td>");
	HS(o, x->msg);
	ai_buf_adds(o, "</td><td class=\"mono\">");
	HS(o, x->sha256);
	ai_buf_adds(o, "</td><td class=\"mono\">");
	H(o, x->member.s, x->member.len);
	ai_buf_adds(o, "</td></tr>\n");
}

static const char *finding_head(const struct az_model *m)
{
	return m->ncts > 1 ? "<tr><th>severity</th><th>rule</th><th>kind</th><th>container</th><th>pid</th>"
			     "<th>path</th><th>details</th><th>sha256</th><th>member</th></tr>\n"
			   : "<tr><th>severity</th><th>rule</th><th>kind</th><th>pid</th><th>path</th>"
			     "<th>details</th><th>sha256</th><th>member</th></tr>\n";
}

static void section_findings(const struct az_model *m, const struct az_findings *f, struct ai_buf *o)
{
	ai_buf_printf(o, "<h2 id=\"findings\">Findings (%zu)</h2>\n", f->n);
	if (!f->n) {
		ai_buf_adds(o, "<p>No findings.</p>\n");
		return;
	}
	ai_buf_printf(o, "<table id=\"findings-table\">%s", finding_head(m));
	for (size_t i = 0; i < f->n; i++)
		finding_row(m, &f->v[i], o);
	ai_buf_adds(o, "</table>\n");
}

/* Whether the evidence is intact, before anything drawn from it. */
static void verification_line(const struct az_report_verification *v, struct ai_buf *o)
{
	static const char *const cls[] = {"medium", "medium", "info", "high"};
	ai_buf_printf(o, "<p id=\"verification\" class=\"%s\" data-state=\"%s\">", cls[v->state],
		      v->state == AZ_RV_VERIFIED   ? "verified"
		      : v->state == AZ_RV_FAILED   ? "failed"
		      : v->state == AZ_RV_UNSIGNED ? "unsigned"
						   : "not-checked");
	switch (v->state) {
	case AZ_RV_VERIFIED:
		ai_buf_adds(o, "Integrity: <b>verified</b> against <code>");
		HS(o, v->pub);
		ai_buf_printf(o,
			      "</code>, key ID <code>%s</code>: both signatures and every member's SHA-256 "
			      "hold%s.",
			      v->keyid,
			      v->complete ? "" : "; the manifest says the capture is <b>partial</b>");
		break;
	case AZ_RV_FAILED:
		ai_buf_adds(o, "Integrity: <b>VERIFICATION FAILED</b> against <code>");
		HS(o, v->pub);
		ai_buf_printf(o,
			      "</code>: %zu problem%s. What follows is drawn from evidence that is not "
			      "what was signed.",
			      v->failures, v->failures == 1 ? "" : "s");
		for (size_t i = 0; i < v->nfirst; i++) {
			ai_buf_adds(o, "<br><code>");
			HS(o, v->first[i]);
			ai_buf_adds(o, "</code>");
		}
		break;
	case AZ_RV_UNSIGNED:
		ai_buf_adds(o, "Integrity: <b>not signed</b>: the input is ");
		HS(o, v->why ? v->why : "of a format without a signature");
		ai_buf_adds(o, "; nothing could be verified.");
		break;
	default:
		ai_buf_adds(
		    o, "Integrity: <b>not checked</b> by this report (give <code>--pub KEY.pub</code>, or "
		       "run <code>afterimage-analyze verify</code>).");
	}
	ai_buf_adds(o, "</p>\n");
}

/* First: whether the evidence is intact, what was captured, and the most severe findings (rules
 * of class behaviour). */
static void section_summary(const struct az_ctx *c, const struct az_findings *f,
			    const struct az_report_verification *v, struct ai_buf *o)
{
	size_t n[3] = {0};
	for (size_t i = 0; i < f->n; i++)
		n[f->v[i].sev]++;
	ai_buf_adds(o, "<section id=\"summary\"><h2>Summary</h2>\n");
	verification_line(v, o);
	ai_buf_adds(o, "<p>");
	ai_buf_printf(o, "%zu process%s, %zu open files, %zu sockets, %zu upperdir entries captured",
		      c->m.nprocs, c->m.nprocs == 1 ? "" : "es", c->m.nfds, c->m.nsocks, c->m.nupper);
	if (c->have_img) {
		for (size_t ct = 0; ct < c->attrs.n; ct++) {
			const struct az_image *img = az_ctx_image(c, (unsigned)ct);
			ai_buf_adds(o, ct ? ", " : "; ");
			if (c->attrs.n > 1) {
				ai_buf_adds(o, "container <code>");
				HS(o, c->m.cts[ct].shortname);
				ai_buf_adds(o, "</code> ");
			}
			if (!img) {
				ai_buf_adds(o, "no image given");
				continue;
			}
			ai_buf_adds(o, "image <code>");
			HS(o, img->ref ? img->ref : img->path);
			ai_buf_printf(o, "</code> (%zu layers", img->nlayers);
			if (img->nlayers) {
				ai_buf_adds(o, ", top <code>");
				HS(o, img->layers[img->nlayers - 1].digest);
				ai_buf_adds(o, "</code>");
			}
			ai_buf_printf(o, ", image check: <b class=\"imgcheck\">%s</b>)",
				      az_imgverdict_name(az_attr_imgcheck(c->attrs.ct[ct])->verdict));
		}
	} else if (c->m.ck.present) {
		ai_buf_adds(o, "; image <code>");
		H(o, c->m.ck.image_name.s, c->m.ck.image_name.len);
		ai_buf_adds(o, "</code> ");
		H(o, c->m.ck.image_id.s, c->m.ck.image_id.len);
	} else {
		ai_buf_adds(o, "; no image given (--image): attribution is upperdir-only");
	}
	ai_buf_printf(
	    o, ".</p>\n<p id=\"summary-counts\">Findings: <b>%zu high</b>, %zu medium, %zu info.</p>\n",
	    n[AZ_SEV_HIGH], n[AZ_SEV_MEDIUM], n[AZ_SEV_INFO]);
	size_t shown = 0;
	for (size_t i = 0; i < f->n && shown < 10; i++) {
		if (f->v[i].sev != AZ_SEV_HIGH || f->v[i].rule->config)
			continue;
		if (!shown)
			ai_buf_printf(o, "<table id=\"top-findings\">%s", finding_head(&c->m));
		finding_row(&c->m, &f->v[i], o);
		shown++;
	}
	if (shown)
		ai_buf_adds(o, "</table>\n");
	ai_buf_adds(o, "</section>\n");
}

static void section_procs(const struct az_model *m, struct ai_buf *o)
{
	ai_buf_printf(
	    o, "<h2 id=\"processes\">Process tree (%zu)</h2>\n<div class=\"tree\" id=\"process-tree\">",
	    m->nprocs);
	size_t *order = calloc(m->nprocs + 1, sizeof(size_t));
	int *depth = calloc(m->nprocs + 1, sizeof(int));
	if (!order || !depth)
		abort();
	az_proc_tree(m, order, depth);
	for (size_t k = 0; k < m->nprocs; k++) {
		const struct az_proc *p = &m->procs[order[k]];
		for (int d = 0; d < depth[k]; d++)
			ai_buf_adds(o, "  ");
		if (m->ncts > 1)
			ai_buf_printf(o, "[%s] ", az_model_ctname(m, p->ct));
		ai_buf_printf(o, "%s%" PRId64 " ", depth[k] ? "\\_ " : "", p->pid);
		struct ai_buf cl;
		ai_buf_init(&cl);
		az_proc_cmdline(p, &cl);
		H(o, cl.data, cl.len);
		ai_buf_free(&cl);
		if (p->exe_deleted || p->exe_memfd)
			ai_buf_adds(o, p->exe_memfd ? "  [memfd exe]" : "  [deleted exe]");
		ai_buf_addc(o, '\n');
	}
	free(order);
	free(depth);
	ai_buf_adds(o, "</div>\n");
}

static void section_socks(const struct az_model *m, struct ai_buf *o)
{
	ai_buf_printf(o,
		      "<h2 id=\"sockets\">Sockets (%zu)</h2>\n<table "
		      "id=\"sockets-table\"><tr><th>proto</th><th>state</th>"
		      "<th>local</th><th>remote</th><th>owners</th></tr>\n",
		      m->nsocks);
	for (size_t i = 0; i < m->nsocks; i++) {
		const struct az_sock *s = &m->socks[i];
		ai_buf_printf(o, "<tr><td>%s%s</td><td>%s</td><td class=\"mono\">", s->proto,
			      !strcmp(s->family, "inet6") ? "6" : "", s->state);
		char ep[96];
		if (!strcmp(s->family, "unix"))
			H(o, s->path.s, s->path.len);
		else {
			az_endpoint(ep, sizeof(ep), s->laddr.s, s->lport);
			HS(o, ep);
		}
		ai_buf_adds(o, "</td><td class=\"mono\">");
		if (strcmp(s->family, "unix") && s->raddr.s) {
			az_endpoint(ep, sizeof(ep), s->raddr.s, s->rport);
			HS(o, ep);
		}
		ai_buf_adds(o, "</td><td>");
		for (size_t k = 0; k < s->nowners; k++) {
			/* one owner per process, whatever its fd count (owners come in pid order) */
			if (k && s->owners[k - 1].pid == s->owners[k].pid)
				continue;
			const struct az_proc *p = az_model_proc(m, s->owners[k].pid);
			ai_buf_printf(o, "%s%" PRId64 " ", k ? ", " : "", s->owners[k].pid);
			if (p)
				H(o, p->comm.s, p->comm.len);
		}
		ai_buf_adds(o, "</td></tr>\n");
	}
	ai_buf_adds(o, "</table>\n");
}

struct arow {
	struct ai_buf *o;
	const struct az_image *img;
	size_t n;
};

static void attr_row(void *ud, const char *path, size_t len, const struct az_origin * or)
{
	struct arow *r = ud;
	if (r->n++ >= 5000)
		return;
	const char *st = az_status_name(or->status);
	ai_buf_printf(r->o, "<tr class=\"st-%s\"><td>%s</td><td>", st, st);
	if (or->layer)
		ai_buf_printf(r->o, "%d", or->layer);
	ai_buf_adds(r->o, "</td><td class=\"mono\">");
	H(r->o, path, len);
	ai_buf_adds(r->o, "</td><td>");
	if (r->img && or->layer > 0 && (size_t) or->layer <= r->img->nlayers) {
		const struct az_str *cb = &r->img->layers[or->layer - 1].created_by;
		H(r->o, cb->s, cb->len);
	}
	ai_buf_adds(r->o, "</td></tr>\n");
}

/* One container's attribution: its image's layers, warnings, counts and changed paths. */
static void section_attr_one(const struct az_ctx *c, unsigned ct, struct arow *r)
{
	struct ai_buf *o = r->o;
	const struct az_attr *a = c->attrs.ct[ct];
	const struct az_image *img = az_ctx_image(c, ct);
	size_t counts[AZ_ST__COUNT] = {0}, paths, bytes;
	az_attr_stats(a, &paths, &bytes, counts);
	if (c->attrs.n > 1) {
		ai_buf_printf(o, "<h3 class=\"attr-container\" id=\"attribution-%u\">Container <code>", ct);
		HS(o, c->m.cts[ct].shortname);
		ai_buf_adds(o, "</code></h3>\n");
	}
	if (img) {
		ai_buf_adds(o, "<p>Image <code>");
		HS(o, img->ref);
		ai_buf_printf(
		    o,
		    "</code>: %zu layers.</p>\n<table class=\"layers-table\"%s><tr><th>layer</th><th>"
		    "digest</th><th>created by</th></tr>\n",
		    img->nlayers, ct ? "" : " id=\"layers-table\"");
		for (size_t i = 0; i < img->nlayers; i++) {
			ai_buf_printf(o, "<tr><td>%zu</td><td class=\"mono\">%s</td><td>", i + 1,
				      img->layers[i].digest);
			H(o, img->layers[i].created_by.s, img->layers[i].created_by.len);
			ai_buf_adds(o, "</td></tr>\n");
		}
		ai_buf_adds(o, "</table>\n");
	}
	const char *w = az_attr_warnings(a);
	if (*w) {
		ai_buf_printf(o, "<p class=\"medium attr-warnings\"%s>", ct ? "" : " id=\"attr-warnings\"");
		HS(o, w);
		ai_buf_adds(o, "</p>\n");
	}
	ai_buf_adds(o, "<p>");
	for (int s = 1; s < AZ_ST__COUNT; s++)
		ai_buf_printf(o, "%s: <b>%zu</b> &nbsp; ", az_status_name((enum az_status)s), counts[s]);
	ai_buf_printf(o,
		      "</p>\n<table class=\"attribution-table\"%s><tr><th>status</th><th>layer</th><th>"
		      "path</th><th>created by</th></tr>\n",
		      ct ? "" : " id=\"attribution-table\"");
	r->img = img;
	az_attr_each(a, true, attr_row, r);
	ai_buf_adds(o, "</table>\n");
}

static void section_attr(const struct az_ctx *c, struct ai_buf *o)
{
	ai_buf_adds(o, "<h2 id=\"attribution\">Attribution</h2>\n");
	struct arow r = {.o = o};
	for (size_t ct = 0; ct < c->attrs.n; ct++)
		section_attr_one(c, (unsigned)ct, &r);
	if (r.n > 5000)
		ai_buf_printf(
		    o, "<p>%zu more rows not shown (see <code>afterimage-analyze layers</code>).</p>\n",
		    r.n - 5000);
}

static void section_timeline(const struct az_ctx *c, struct ai_buf *o)
{
	struct az_event *ev;
	size_t n;
	az_timeline_events(c, &ev, &n);
	ai_buf_printf(o, "<h2 id=\"timeline\">Timeline (%zu events)</h2>\n", n);
	/* the chart spans the container's life: image history events are listed, not drawn */
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ev[i].source, "image") || ev[i].ns <= 0)
			continue;
		if (ev[i].ns < lo)
			lo = ev[i].ns;
		if (ev[i].ns > hi)
			hi = ev[i].ns;
	}
	static const char *rows[] = {"capture", "process", "upper", "volume", "fd"};
	enum { NR = sizeof(rows) / sizeof(rows[0]) };
	static const char *colors[NR] = {"#444", "#1565c0", "#2e7d32", "#8e24aa", "#c62828"};
	const int W = 900, LEFT = 80, RH = 30;
	ai_buf_printf(
	    o,
	    "<svg id=\"timeline-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "role=\"img\" aria-label=\"timeline\">\n",
	    W + LEFT + 20, NR * RH + 40);
	for (int r = 0; r < NR; r++)
		ai_buf_printf(o,
			      "<text x=\"4\" y=\"%d\" font-size=\"12\">%s</text><line x1=\"%d\" x2=\"%d\" "
			      "y1=\"%d\" y2=\"%d\" "
			      "stroke=\"#ddd\"/>\n",
			      r * RH + 24, rows[r], LEFT, LEFT + W, r * RH + 20, r * RH + 20);
	size_t drawn = 0;
	if (lo <= hi) {
		double span = hi > lo ? (double)(hi - lo) : 1.0;
		for (size_t i = 0; i < n && drawn < 20000; i++) {
			int r = -1;
			for (int k = 0; k < NR; k++)
				if (!strcmp(ev[i].source, rows[k]))
					r = k;
			if (r < 0)
				continue;
			double x = LEFT + (double)(ev[i].ns - lo) / span * W;
			ai_buf_printf(o,
				      "<circle class=\"ev\" cx=\"%.1f\" cy=\"%d\" r=\"4\" fill=\"%s\" "
				      "fill-opacity=\"0.6\"><title>",
				      x, r * RH + 20, colors[r]);
			char iso[64];
			az_time_iso(iso, sizeof(iso), ev[i].ns);
			ai_buf_printf(o, "%s ", iso);
			HS(o, ev[i].message);
			ai_buf_adds(o, "</title></circle>\n");
			drawn++;
		}
		char a[64], b[64];
		az_time_iso(a, sizeof(a), lo);
		az_time_iso(b, sizeof(b), hi);
		ai_buf_printf(o,
			      "<text x=\"%d\" y=\"%d\" font-size=\"11\">%.19s</text><text x=\"%d\" y=\"%d\" "
			      "font-size=\"11\" "
			      "text-anchor=\"end\">%.19s</text>\n",
			      LEFT, NR * RH + 30, a, LEFT + W, NR * RH + 30, b);
	}
	ai_buf_adds(
	    o,
	    "</svg>\n<table id=\"timeline-table\"><tr><th>time (UTC)</th><th>what</th><th>event</th></tr>\n");
	for (size_t i = 0; i < n && i < 2000; i++) {
		char iso[64];
		az_time_iso(iso, sizeof(iso), ev[i].ns);
		ai_buf_printf(o, "<tr><td class=\"mono\">%s</td><td>%s</td><td>", iso, ev[i].desc);
		HS(o, ev[i].message);
		ai_buf_adds(o, "</td></tr>\n");
	}
	ai_buf_adds(o, "</table>\n");
	az_timeline_events_free(ev, n);
}

void az_report_render(const struct az_ctx *c, const struct az_findings *f,
		      const struct az_report_verification *v, struct ai_buf *o)
{
	const struct az_manifest *mf = &c->m.man;
	ai_buf_adds(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
		       "'unsafe-inline'; img-src data:\">"
		       "<title>afterimage report ");
	H(o, mf->name.s, mf->name.len);
	ai_buf_printf(o, "</title><style>%s</style></head><body>\n<h1>afterimage report: ", css);
	H(o, mf->name.s, mf->name.len);
	ai_buf_adds(o, "</h1>\n");
	section_summary(c, f, v, o);
	ai_buf_adds(o, "<table class=\"meta\" id=\"meta\">");
	char iso[64];
	az_time_iso(iso, sizeof(iso), mf->started_ns);
	ai_buf_printf(o, "<tr><td>captured</td><td>%s</td></tr><tr><td>host</td><td>", iso);
	H(o, mf->host.s, mf->host.len);
	ai_buf_adds(o, "</td></tr><tr><td>container</td><td class=\"mono\">");
	H(o, mf->container_id.s, mf->container_id.len);
	ai_buf_printf(o,
		      "</td></tr><tr><td>target pid</td><td>%" PRId64
		      "</td></tr><tr><td>complete</td><td>%s</td></tr>"
		      "<tr><td>bundle id</td><td class=\"mono\">",
		      mf->target_pid, mf->complete ? "yes" : "NO (partial)");
	H(o, mf->bundle_id.s, mf->bundle_id.len);
	if (c->m.ck.present) {
		const struct az_ckpt *k = &c->m.ck;
		ai_buf_printf(o, "</td></tr><tr><td>source</td><td>checkpoint archive (%s), %s",
			      k->engine[0] ? k->engine : "Podman/CRI-O/containerd",
			      k->sealed_member.s ? "sealed in a signed bundle as " : "not signed");
		if (k->sealed_member.s)
			H(o, k->sealed_member.s, k->sealed_member.len);
		ai_buf_adds(o, "</td></tr>");
		const struct az_str *kv[] = {&k->pod, &k->pod_namespace, &k->kube_container, &k->network};
		static const char *const kn[] = {"pod", "namespace", "container name", "network"};
		for (size_t i = 0; i < 4; i++) {
			if (!kv[i]->s)
				continue;
			ai_buf_printf(o, "<tr><td>%s</td><td class=\"mono\">", kn[i]);
			H(o, kv[i]->s, kv[i]->len);
			ai_buf_adds(o, "</td></tr>");
		}
		ai_buf_adds(o, "<tr><td>image</td><td class=\"mono\">");
		H(o, k->image_name.s, k->image_name.len);
		az_time_iso(iso, sizeof(iso), k->created_ns);
		ai_buf_printf(
		    o,
		    "</td></tr><tr><td>created</td><td>%s</td></tr><tr><td>command</td><td class=\"mono\">",
		    iso);
		for (size_t i = 0; i < k->nargs; i++) {
			if (i)
				ai_buf_addc(o, ' ');
			H(o, k->args[i].s, k->args[i].len);
		}
	}
	ai_buf_adds(o, "</td></tr></table>\n<p>Generated by afterimage-analyze " AI_VERSION
		       " from the bundle only.</p>\n");
	section_findings(&c->m, f, o);
	section_procs(&c->m, o);
	section_socks(&c->m, o);
	section_attr(c, o);
	section_timeline(c, o);
	ai_buf_adds(o, "</body></html>\n");
}
