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
#include "analyze/util.h"
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
	if (az_view_ps_detail(&c.m, c.attr, o->filter.pid, o->json, o->show_secrets, &out) < 0) {
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

/* A wrong --image makes every attribution wrong: said on stderr, one line a reason, whatever
 * --quiet says (it is a warning, not progress). */
static void image_warning(const struct az_opts *o, const struct az_attr *a)
{
	const struct az_imgcheck *k = az_attr_imgcheck(a);
	if (k->verdict != AZ_IMG_MISMATCH)
		return;
	for (const char *p = k->why.data; p && *p;) {
		const char *nl = strchr(p, '\n');
		int l = nl ? (int)(nl - p) : (int)strlen(p);
		ai_eprintf(NULL, "warning: --image %s is not the image the container ran: %.*s", o->image, l,
			   p);
		p += l + (nl ? 1 : 0);
	}
}

/* The bundle with --image and the attribution (az_ctx_load): 0, or the exit code of a failure
 * (then c is already freed). */
static int load(const struct az_opts *o, struct az_ctx *c)
{
	ai_err_t err;
	if (az_ctx_load(c, o->bundle, o->image, o->progress, &err) < 0) {
		az_ctx_free(c);
		return fail_input(o, &err);
	}
	cut_warning(o, o->bundle, &c->m);
	image_warning(o, c->attr);
	return 0;
}

/* NAME=REF: NAME before the first '=' when it holds no '/' nor ':' (a REF's own). */
static const char *image_ref(const char *arg, char *name, size_t nlen)
{
	const char *eq = strchr(arg, '=');
	name[0] = '\0';
	if (!eq || eq == arg || (size_t)(eq - arg) >= nlen || memchr(arg, '/', (size_t)(eq - arg)) ||
	    memchr(arg, ':', (size_t)(eq - arg)))
		return arg;
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	return eq + 1;
}

/* The container NAME names: its short name, its name, a prefix of its id, or its index. */
static int container_named(const struct az_model *m, const char *name)
{
	char *end;
	unsigned long n = strtoul(name, &end, 10);
	if (*name && !*end && n < m->ncts)
		return (int)n;
	for (size_t i = 0; i < m->ncts; i++) {
		const struct az_container *c = &m->cts[i];
		if (!strcmp(c->shortname, name) || (c->name.s && !strcmp(c->name.s, name)) ||
		    (c->id.s && strlen(name) >= 4 && !strncmp(c->id.s, name, strlen(name))))
			return (int)i;
	}
	return -1;
}

/* layers --image NAME=REF ...: each container attributed against its own image. */
static int layers_per_container(struct az_opts *o)
{
	struct az_ctx c;
	ai_err_t err;
	if (az_ctx_load(&c, o->bundle, NULL, false, &err) < 0) {
		az_ctx_free(&c);
		return fail_input(o, &err);
	}
	cut_warning(o, o->bundle, &c.m);
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	int rc = 0;
	for (size_t i = 0; i < o->nimages && !rc; i++) {
		char name[128];
		const char *ref = image_ref(o->images[i], name, sizeof(name));
		int ct = name[0] ? container_named(&c.m, name) : (o->nimages == 1 ? 0 : -1);
		if (ct < 0) {
			ai_eprintf("afterimage-analyze layers",
				   "--image %s: no container of the bundle is named %s", o->images[i],
				   name[0] ? name : "(give NAME=REF for each of several)");
			rc = AZ_EXIT_USAGE;
			break;
		}
		struct az_image img = {.dirfd = -1};
		struct az_attr *a = NULL;
		if (az_image_open(&img, ref, &err) < 0 ||
		    az_attr_build_ct(&a, &c.m, (unsigned)ct, &img, o->progress, &err) < 0) {
			az_image_free(&img);
			rc = fail_input(o, &err);
			break;
		}
		if (!o->json) {
			ai_buf_printf(&out, "%s== container %s: image ", i ? "\n" : "",
				      c.m.cts[ct].shortname);
			az_esc_text(&out, ref, strlen(ref));
			ai_buf_addc(&out, '\n');
		}
		az_view_layers(a, o->json, o->changed, &out);
		az_attr_free(a);
		az_image_free(&img);
	}
	az_ctx_free(&c);
	return rc ? rc : put(o, &out);
}

int az_cmd_layers(struct az_opts *o)
{
	if (!o->image) {
		ai_eprintf("afterimage-analyze layers", "--image REF is required");
		return AZ_EXIT_USAGE;
	}
	char name[128];
	if (o->nimages > 1 || image_ref(o->images[0], name, sizeof(name)) != o->images[0])
		return layers_per_container(o);
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
			   paths, c.m.nupper, c.img.nlayers, c.load_s, c.attr_s,
			   paths / (c.attr_s > 0 ? c.attr_s : 1e-9), bytes,
			   paths ? (double)bytes / (double)paths : 0.0, ru.ru_maxrss);
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	az_view_layers(c.attr, o->json, o->changed, &out);
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
	az_findings_build(&f, &c.m, c.attr, &fo);
	az_filter_findings(&o->filter, &c.m, &f);
	az_findings_render(&f, &c.m, c.attr, o->json, &out);
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
	az_findings_build(&f, &c.m, c.attr, &fo);
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

int az_cmd_report(struct az_opts *o)
{
	if (!o->output) {
		ai_eprintf("afterimage-analyze report", "-o report.html is required");
		return AZ_EXIT_USAGE;
	}
	int rc = output_is_new(o);
	if (rc)
		return rc;
	struct az_ctx c;
	rc = load(o, &c);
	if (rc)
		return rc;
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	struct az_findings f;
	struct az_findings_opts fo = {.bundle = o->bundle, .show_secrets = o->show_secrets};
	az_findings_build(&f, &c.m, c.attr, &fo);
	az_report_render(&c, &f, &out);
	az_findings_free(&f);
	az_ctx_free(&c);
	ai_err_t err;
	if (write_new_file(o->output, &out, &err) < 0)
		return fail_input(o, &err);
	if (!o->quiet)
		ai_eprintf(NULL, "wrote %s (%zu bytes)", o->output, out.len);
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
	if (az_ctx_load(&cb, o->bundle2, o->image, o->progress, &err) < 0) {
		az_model_free(&a);
		az_ctx_free(&cb);
		return fail_input(o, &err);
	}
	cut_warning(o, o->bundle, &a);
	cut_warning(o, o->bundle2, &cb.m);
	image_warning(o, cb.attr);
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	az_diff_render(&a, &cb.m, cb.have_img ? cb.attr : NULL, o->json, &out);
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
