/* The entry points of the subcommands (cli.h): load what each needs, render it, write it out.
 * Only these (and main) print. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "analyze/cli.h"
#include "analyze/context.h"
#include "analyze/diff.h"
#include "analyze/export.h"
#include "analyze/extract.h"
#include "analyze/filter.h"
#include "analyze/findings.h"
#include "analyze/imgcheck.h"
#include "analyze/iocs.h"
#include "analyze/psdetail.h"
#include "analyze/report.h"
#include "analyze/timeline.h"
#include "analyze/input.h"
#include "analyze/util.h"
#include "analyze/verify.h"
#include "analyze/views.h"
#include "common/esc.h"

static int fail_input(const struct az_opts *o, const ai_err_t *err)
{
	ai_eprintf("afterimage-analyze", "%s: %s", o->cmd, err->msg);
	return AZ_EXIT_INPUT;
}

static int put(const struct az_opts *o, const struct ai_buf *b)
{
	ai_err_t err;
	if (az_write_stdout(b, &err) < 0)
		return fail_input(o, &err);
	return 0;
}

/* Strings cut at load (jscan.h) are evidence the views no longer show whole: say so. */
static void cut_warning(const struct az_opts *o, const char *path, const struct az_model *m)
{
	if (!m->cuts.n || o->quiet)
		return;
	ai_eprintf(NULL,
		   "warning: %s: %llu string%s longer than %u bytes cut at load (%llu bytes in all); each "
		   "keeps its first %u bytes and ends in \"\xe2\x80\xa6[cut, N bytes]\"",
		   path, (unsigned long long)m->cuts.n, m->cuts.n == 1 ? "" : "s", AZ_J_MAX_STRING,
		   (unsigned long long)m->cuts.bytes, AZ_J_MAX_STRING);
}

/* The model alone, through one of the model's views. */
static int view(struct az_opts *o, void (*render)(const struct az_model *, bool, struct ai_buf *))
{
	struct az_model m;
	ai_err_t err;
	if (az_model_load(&m, o->bundle, &err) < 0) {
		az_model_free(&m);
		return fail_input(o, &err);
	}
	cut_warning(o, o->bundle, &m);
	char ferr[160];
	if (az_filter_model(&o->filter, &m, ferr, sizeof(ferr)) < 0) {
		az_model_free(&m);
		ai_eprintf("afterimage-analyze", "%s: %s", o->cmd, ferr);
		return AZ_EXIT_USAGE;
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	render(&m, o->json, &out);
	az_model_free(&m);
	return put(o, &out);
}

static int load(const struct az_opts *o, struct az_ctx *c);

/* ps --pid N: that process in full, its exe's origin from --image when given. */
static int ps_detail(struct az_opts *o)
{
	struct az_ctx c;
	int rc = load(o, &c);
	if (rc)
		return rc;
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	const struct az_proc *p = az_model_proc(&c.m, o->filter.pid);
	const struct az_attr *a = az_attrs_of(&c.attrs, p ? p->ct : 0); /* its own container's */
	if (az_view_ps_detail(&c.m, a, o->bundle, o->filter.pid, o->json, o->show_secrets, &out) < 0) {
		ai_eprintf("afterimage-analyze", "ps: no process %lld in %s", (long long)o->filter.pid,
			   o->bundle);
		az_ctx_free(&c);
		return AZ_EXIT_INPUT;
	}
	az_ctx_free(&c);
	return put(o, &out);
}

int az_cmd_ps(struct az_opts *o)
{
	if (o->filter.pid >= 0)
		return ps_detail(o);
	return view(o, az_view_ps);
}

int az_cmd_fds(struct az_opts *o)
{
	return view(o, az_view_fds);
}

int az_cmd_net(struct az_opts *o)
{
	return view(o, az_view_net);
}

int az_cmd_mounts(struct az_opts *o)
{
	return view(o, az_view_mounts);
}

int az_cmd_files(struct az_opts *o)
{
	return view(o, az_view_files);
}

/* A wrong --image makes every attribution wrong: said on stderr, one line a reason and the
 * container it is about (in a pod), whatever --quiet says (it is a warning, not progress). */
static void image_warning(const struct az_ctx *c)
{
	for (size_t ct = 0; ct < c->attrs.n; ct++) {
		const struct az_imgcheck *k = az_attr_imgcheck(c->attrs.ct[ct]);
		const struct az_image *img = az_ctx_image(c, (unsigned)ct);
		if (k->verdict != AZ_IMG_MISMATCH || !img)
			continue;
		char who[64] = "the container";
		if (c->m.ncts > 1)
			snprintf(who, sizeof(who), "container %s", c->m.cts[ct].shortname);
		for (const char *p = k->why.data; p && *p;) {
			const char *nl = strchr(p, '\n');
			int l = nl ? (int)(nl - p) : (int)strlen(p);
			ai_eprintf(NULL, "warning: --image %s is not the image %s ran: %.*s",
				   c->img_ref[c->img_of[ct]], who, l, p);
			p += l + (nl ? 1 : 0);
		}
	}
}

/* The bundle with every --image and the attribution (az_ctx_load): 0, or the exit code of a
 * failure (then c is already freed). */
static int load_bundle(const struct az_opts *o, const char *bundle, struct az_ctx *c)
{
	ai_err_t err;
	int rc = az_ctx_load(c, bundle, o->images, o->nimages, o->progress, &err);
	if (rc < 0) {
		az_ctx_free(c);
		if (rc == -2) {
			ai_eprintf("afterimage-analyze", "%s: %s", o->cmd, err.msg);
			return AZ_EXIT_USAGE;
		}
		return fail_input(o, &err);
	}
	cut_warning(o, bundle, &c->m);
	image_warning(c);
	return 0;
}

static int load(const struct az_opts *o, struct az_ctx *c)
{
	return load_bundle(o, o->bundle, c);
}

/* layers --pid N: the paths that process uses, its exe and its open files and directories, as
 * the attribution of its own container sees them. */
static int layers_of_pid(const struct az_opts *o, const struct az_ctx *c, struct ai_buf *out)
{
	const struct az_proc *p = az_model_proc(&c->m, o->filter.pid);
	if (!p) {
		ai_eprintf("afterimage-analyze layers", "--pid %lld: no such process in %s",
			   (long long)o->filter.pid, o->bundle);
		return AZ_EXIT_INPUT;
	}
	const char **only = calloc(c->m.nfds + 1, sizeof(*only));
	char *exe = p->exe.s && !p->exe_memfd ? strndup(p->exe.s, az_exe_path_len(p)) : NULL;
	if (!only)
		abort();
	size_t n = 0;
	if (exe)
		only[n++] = exe;
	for (size_t i = 0; i < c->m.nfds; i++) {
		const struct az_fd *d = &c->m.fds[i];
		if (d->pid == p->pid && d->target.s && (d->type == AZ_FD_FILE || d->type == AZ_FD_DIR))
			only[n++] = d->target.s;
	}
	az_view_layers_sel(az_attrs_of(&c->attrs, p->ct), o->json, o->changed, o->filter.path, only, n, out);
	free(exe);
	free(only);
	return 0;
}

/* layers: a section per container of a pod (its upperdir over its own image), the one container
 * of any other bundle as before; a container without an image is left out when others have one. */
static void layers_render(const struct az_opts *o, const struct az_ctx *c, struct ai_buf *out)
{
	if (c->attrs.n == 1) {
		az_view_layers_glob(c->attr, o->json, o->changed, o->filter.path, out);
		return;
	}
	bool first = true;
	for (size_t ct = 0; ct < c->attrs.n; ct++) {
		const struct az_image *img = az_ctx_image(c, (unsigned)ct);
		if (!img)
			continue;
		if (!o->json) {
			ai_buf_printf(out, "%s== container %s: image ", first ? "" : "\n",
				      c->m.cts[ct].shortname);
			az_esc_text(out, img->ref, strlen(img->ref));
			ai_buf_addc(out, '\n');
		}
		first = false;
		az_view_layers_glob(c->attrs.ct[ct], o->json, o->changed, o->filter.path, out);
	}
}

int az_cmd_layers(struct az_opts *o)
{
	if (!o->image) {
		ai_eprintf("afterimage-analyze layers", "--image REF is required");
		return AZ_EXIT_USAGE;
	}
	struct az_ctx c;
	int rc = load(o, &c);
	if (rc)
		return rc;
	if (o->stats) {
		size_t paths, bytes, counts[AZ_ST__COUNT] = {0};
		az_attr_stats(c.attr, &paths, &bytes, counts);
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		ai_eprintf(NULL,
			   "stats: paths=%zu upper=%zu layers=%zu load_s=%.3f attr_s=%.3f paths_per_s=%.0f "
			   "model_bytes=%zu model_bytes_per_path=%.1f maxrss_kib=%ld",
			   paths, c.m.nupper, c.nimgs ? c.imgs[0].nlayers : 0, c.load_s, c.attr_s,
			   paths / (c.attr_s > 0 ? c.attr_s : 1e-9), bytes,
			   paths ? (double)bytes / (double)paths : 0.0, ru.ru_maxrss);
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	if (o->filter.pid >= 0) {
		rc = layers_of_pid(o, &c, &out);
		if (rc) {
			az_ctx_free(&c);
			return rc;
		}
	} else
		layers_render(o, &c, &out);
	az_ctx_free(&c);
	return put(o, &out);
}

int az_cmd_findings(struct az_opts *o)
{
	struct az_ctx c;
	int rc = load(o, &c);
	if (rc)
		return rc;
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	struct az_findings f;
	struct az_findings_opts fo = {.bundle = o->bundle, .show_secrets = o->show_secrets};
	az_findings_build(&f, &c.m, &c.attrs, &fo);
	az_filter_findings(&o->filter, &c.m, &f);
	az_findings_render(&f, &c.m, &c.attrs, o->json, &out);
	az_findings_free(&f);
	az_ctx_free(&c);
	return put(o, &out);
}

int az_cmd_iocs(struct az_opts *o)
{
	const char *fmt = o->format ? o->format : o->json ? "json" : "csv";
	if (strcmp(fmt, "csv") && strcmp(fmt, "json")) {
		ai_eprintf("afterimage-analyze iocs", "--format csv|json");
		return AZ_EXIT_USAGE;
	}
	struct az_ctx c;
	int rc = load(o, &c);
	if (rc)
		return rc;
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	struct az_findings f;
	struct az_findings_opts fo = {.bundle = o->bundle};
	az_findings_build(&f, &c.m, &c.attrs, &fo);
	az_filter_findings(&o->filter, &c.m, &f);
	az_iocs_render(&f, &c.m, !strcmp(fmt, "json"), &out);
	az_findings_free(&f);
	az_ctx_free(&c);
	return put(o, &out);
}

int az_cmd_timeline(struct az_opts *o)
{
	enum az_tl_format fmt;
	if (az_tl_format_parse(o->format, &fmt) < 0) {
		ai_eprintf("afterimage-analyze timeline", "--format bodyfile|jsonl|csv is required");
		return AZ_EXIT_USAGE;
	}
	struct az_ctx c;
	int rc = load(o, &c);
	if (rc)
		return rc;
	char ferr[160];
	if (az_filter_model(&o->filter, &c.m, ferr, sizeof(ferr)) < 0) {
		az_ctx_free(&c);
		ai_eprintf("afterimage-analyze", "%s: %s", o->cmd, ferr);
		return AZ_EXIT_USAGE;
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	az_timeline_render(&c, fmt, &out);
	az_ctx_free(&c);
	return put(o, &out);
}

/* The report goes to a new regular file only: O_EXCL never opens what is there (a FIFO would block
 * the open, a device or an older report would be written over), O_NONBLOCK covers the rest. A
 * failed write removes the part written. */
static int write_new_file(const char *path, const struct ai_buf *b, ai_err_t *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0)
		return ai_err_set(err, errno, "%s%s", path,
				  errno == EEXIST ? " (the report is written only to a new file)" : "");
	size_t off = 0;
	int e = 0;
	while (off < b->len && !e) {
		ssize_t n = write(fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e = errno;
		else
			off += (size_t)n;
	}
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		unlink(path);
		return ai_err_set(err, e, "write %s", path);
	}
	return 0;
}

/* Refuse an output that exists before any work is done (write_new_file checks again, race-free). */
static int output_is_new(const struct az_opts *o)
{
	struct stat st;
	if (lstat(o->output, &st) == 0) {
		ai_eprintf("afterimage-analyze", "%s: %s: exists (the report is written only to a new file)",
			   o->cmd, o->output);
		return AZ_EXIT_INPUT;
	}
	return 0;
}

/* report --pub: the bundle verified as `verify` does, the result kept for the report's first
 * line. -1 only when the bundle or the key cannot be read at all. */
static int report_verify(const struct az_opts *o, struct az_report_verification *v, ai_err_t *err)
{
	memset(v, 0, sizeof(*v));
	if (!o->pub)
		return 0;
	v->pub = o->pub;
	if ((v->why = az_input_unsigned(o->bundle))) {
		v->state = AZ_RV_UNSIGNED;
		return 0;
	}
	struct az_verify_result res;
	if (az_verify(o->bundle, o->pub, &res, err) < 0) {
		az_verify_result_free(&res);
		return -1;
	}
	v->state = res.failures ? AZ_RV_FAILED : AZ_RV_VERIFIED;
	v->failures = res.failures;
	v->complete = res.complete;
	memcpy(v->keyid, res.keyid, sizeof(v->keyid));
	/* the first FAIL lines, from what is still in memory (a long report spills to a file) */
	const char *p = res.report.spill ? NULL : res.report.mem.data,
		   *end = p ? p + res.report.mem.len : NULL;
	while (p && p < end && v->nfirst < sizeof(v->first) / sizeof(v->first[0])) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (l > 5 && !memcmp(p, "FAIL ", 5))
			snprintf(v->first[v->nfirst++], sizeof(v->first[0]), "%.*s", (int)l, p);
		p += l + 1;
	}
	az_verify_result_free(&res);
	return 0;
}

int az_cmd_report(struct az_opts *o)
{
	if (!o->output) {
		ai_eprintf("afterimage-analyze report", "-o report.html is required");
		return AZ_EXIT_USAGE;
	}
	int rc = output_is_new(o);
	if (rc)
		return rc;
	ai_err_t err;
	struct az_report_verification v;
	if (report_verify(o, &v, &err) < 0)
		return fail_input(o, &err);
	struct az_ctx c;
	rc = load(o, &c);
	if (rc)
		return rc;
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	struct az_findings f;
	struct az_findings_opts fo = {.bundle = o->bundle, .show_secrets = o->show_secrets};
	az_findings_build(&f, &c.m, &c.attrs, &fo);
	az_report_render(&c, &f, &v, &out);
	az_findings_free(&f);
	az_ctx_free(&c);
	if (write_new_file(o->output, &out, &err) < 0)
		return fail_input(o, &err);
	if (!o->quiet)
		ai_eprintf(NULL, "wrote %s (%zu bytes)", o->output, out.len);
	/* the report says it first; the exit code says it to a script */
	if (v.state == AZ_RV_FAILED) {
		ai_eprintf(NULL, "VERIFICATION FAILED: %s: %zu problem%s (the report says so first)",
			   o->bundle, v.failures, v.failures == 1 ? "" : "s");
		return AZ_EXIT_FAIL;
	}
	return 0;
}

/* B is loaded as the other views load a bundle (with --image and its attribution: the layer of
 * each changed path); A needs only its model. */
int az_cmd_diff(struct az_opts *o)
{
	struct az_model a;
	ai_err_t err;
	if (az_model_load(&a, o->bundle, &err) < 0) {
		az_model_free(&a);
		return fail_input(o, &err);
	}
	struct az_ctx cb;
	int rc = load_bundle(o, o->bundle2, &cb);
	if (rc) {
		az_model_free(&a);
		return rc;
	}
	cut_warning(o, o->bundle, &a);
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	az_diff_render(&a, &cb.m, cb.have_img ? &cb.attrs : NULL, o->json, &out);
	az_model_free(&a);
	az_ctx_free(&cb);
	return put(o, &out);
}

int az_cmd_extract(struct az_opts *o)
{
	if (!o->output) {
		ai_eprintf("afterimage-analyze extract", "-o DIR is required");
		return AZ_EXIT_USAGE;
	}
	size_t n;
	ai_err_t err;
	if (o->member) {
		struct az_model m;
		if (az_model_load(&m, o->bundle, &err) < 0) {
			az_model_free(&m);
			return fail_input(o, &err);
		}
		char *name = NULL;
		int rc = az_export_member(&m, o->bundle, o->member, o->output, &name, &err);
		az_model_free(&m);
		if (rc < 0)
			return fail_input(o, &err);
		if (!o->quiet)
			ai_eprintf(NULL, "wrote %s/%s and %s.manifest.json", o->output, name, name);
		free(name);
		return 0;
	}
	if (az_extract(o->bundle, o->output, &n, &err) < 0)
		return fail_input(o, &err);
	if (!o->quiet)
		ai_eprintf(NULL, "extracted %zu members into %s", n, o->output);
	return 0;
}
