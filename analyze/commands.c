/* Entry points of the subcommands that need more than one module. Only these (and main) print. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "analyze/cli.h"
#include "common/esc.h"
#include "analyze/context.h"
#include "analyze/diff.h"
#include "analyze/extract.h"
#include "analyze/findings.h"
#include "analyze/report.h"
#include "analyze/timeline.h"
#include "analyze/util.h"

int az_cmd_layers(struct az_opts *o);

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

/* Load the bundle (and --image) and render it into out: 0, or the exit code of a load failure. */
static int load_render(struct az_opts *o,
		       void (*render)(struct az_ctx *c, const void *arg, struct ai_buf *out), const void *arg,
		       struct ai_buf *out)
{
	struct az_ctx c;
	ai_err_t err;
	int rc = 0;
	if (az_ctx_load(&c, o->bundle, o->image, o->progress, &err) < 0)
		rc = fail_input(o, &err);
	else
		render(&c, arg, out);
	az_ctx_free(&c);
	return rc;
}

static void render_findings(struct az_ctx *c, const void *arg, struct ai_buf *out)
{
	struct az_findings f;
	az_findings_build(&f, &c->m, c->attr);
	az_findings_render(&f, &c->m, c->attr, *(const bool *)arg, out);
	az_findings_free(&f);
}

static int cmd_findings(struct az_opts *o)
{
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	int rc = load_render(o, render_findings, &o->json, &out);
	return rc ? rc : put(o, &out);
}

static void render_timeline(struct az_ctx *c, const void *arg, struct ai_buf *out)
{
	az_timeline_render(c, *(const enum az_tl_format *)arg, out);
}

static int cmd_timeline(struct az_opts *o)
{
	enum az_tl_format fmt;
	if (az_tl_format_parse(o->format, &fmt) < 0) {
		ai_eprintf("afterimage-analyze timeline", "--format bodyfile|jsonl|csv is required");
		return AZ_EXIT_USAGE;
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	int rc = load_render(o, render_timeline, &fmt, &out);
	return rc ? rc : put(o, &out);
}

static int write_new_file(const char *path, const struct ai_buf *b, ai_err_t *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return ai_err_set(err, errno, "%s", path);
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return ai_err_set(err, e, "write %s", path);
		}
		off += (size_t)n;
	}
	if (close(fd) < 0)
		return ai_err_set(err, errno, "close %s", path);
	return 0;
}

static void render_report(struct az_ctx *c, const void *arg, struct ai_buf *out)
{
	(void)arg;
	struct az_findings f;
	az_findings_build(&f, &c->m, c->attr);
	az_report_render(c, &f, out);
	az_findings_free(&f);
}

static int cmd_report(struct az_opts *o)
{
	if (!o->output) {
		ai_eprintf("afterimage-analyze report", "-o report.html is required");
		return AZ_EXIT_USAGE;
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	int rc = load_render(o, render_report, NULL, &out);
	if (rc)
		return rc;
	ai_err_t err;
	if (write_new_file(o->output, &out, &err) < 0)
		return fail_input(o, &err);
	if (!o->quiet)
		ai_eprintf(NULL, "wrote %s (%zu bytes)", o->output, out.len);
	return 0;
}

static int cmd_diff(struct az_opts *o)
{
	struct az_model a, b;
	ai_err_t err;
	if (az_model_load(&a, o->bundle, &err) < 0) {
		az_model_free(&a);
		return fail_input(o, &err);
	}
	if (az_model_load(&b, o->bundle2, &err) < 0) {
		az_model_free(&a);
		az_model_free(&b);
		return fail_input(o, &err);
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	az_diff_render(&a, &b, o->json, &out);
	az_model_free(&a);
	az_model_free(&b);
	return put(o, &out);
}

static int cmd_extract(struct az_opts *o)
{
	if (!o->output) {
		ai_eprintf("afterimage-analyze extract", "-o DIR is required");
		return AZ_EXIT_USAGE;
	}
	size_t n;
	ai_err_t err;
	if (az_extract(o->bundle, o->output, &n, &err) < 0)
		return fail_input(o, &err);
	if (!o->quiet)
		ai_eprintf(NULL, "extracted %zu members into %s", n, o->output);
	return 0;
}

const struct az_command az_commands[] = {
    {"layers", az_cmd_layers},
    {"findings", cmd_findings},
    {"timeline", cmd_timeline},
    {"report", cmd_report},
    {"diff", cmd_diff},
    {"extract", cmd_extract},
    {NULL, NULL},
};
