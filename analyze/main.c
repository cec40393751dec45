/* afterimage-analyze: offline analysis of afterimage bundles (docs/analyze.md).
 * Exit codes: 0 success; 1 verification failed (verify) or findings flagged with --fail-on-findings;
 * 2 usage; 3 unreadable or malformed input (bundle, key, image); 4 verify: valid but partial bundle;
 * 5 verify: a checkpoint archive, which carries no signature. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "analyze/input.h"
#include "common/esc.h"
#include "analyze/cli.h"
#include "analyze/model.h"
#include "analyze/util.h"
#include "analyze/verify.h"
#include "analyze/views.h"
#include "common/buf.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: afterimage-analyze COMMAND [options]\n"
		"  verify BUNDLE --pub KEY.pub          check signatures, hashes, manifest\n"
		"BUNDLE: an afterimage bundle, or a Podman/CRI-O checkpoint archive (checkpoint --export)\n"
		"  ps|fds|net|mounts|files BUNDLE [--json]\n"
		"  layers BUNDLE --image REF [--json] [--changed]\n"
		"  findings BUNDLE [--image REF] [--json]\n"
		"  timeline BUNDLE [--image REF] --format bodyfile|jsonl|csv\n"
		"  diff A B [--json]\n"
		"  report BUNDLE [--image REF] -o report.html\n"
		"  extract BUNDLE -o DIR\n"
		"  version\n"
		"REF: oci:DIR[:TAG] | oci-archive:FILE[:TAG] | docker-archive:FILE\n"
		"common options: --quiet (no progress on stderr)\n"
		"exit: 0 ok, 1 verification failed, 2 usage, 3 unreadable input, 4 partial bundle (verify),\n"
		"      5 verify: a checkpoint archive (no signature to verify)\n");
}

static int cmd_verify(struct az_opts *o)
{
	/* a format that carries no afterimage signature (a checkpoint archive): say so, distinctly */
	const char *why = az_input_unsigned(o->bundle);
	if (why) {
		ai_eprintf(NULL, "NOT SIGNED: %s is %s", o->bundle, why);
		return AZ_EXIT_UNSIGNED;
	}
	if (!o->pub) {
		ai_eprintf("afterimage-analyze verify", "--pub KEY.pub is required");
		return AZ_EXIT_USAGE;
	}
	struct az_verify_result res;
	ai_err_t err;
	if (az_verify(o->bundle, o->pub, &res, &err) < 0) {
		ai_eprintf("afterimage-analyze verify", "%s", err.msg);
		az_verify_result_free(&res);
		return AZ_EXIT_INPUT;
	}
	if (!o->quiet || res.failures)
		fwrite(res.report.data ? res.report.data : "", 1, res.report.len,
		       res.failures ? stderr : stdout);
	int rc = res.failures ? AZ_EXIT_FAIL : res.complete ? AZ_EXIT_OK : AZ_EXIT_PARTIAL;
	if (res.failures)
		ai_eprintf(NULL, "VERIFICATION FAILED: %s: %zu problem%s", o->bundle, res.failures,
			   res.failures == 1 ? "" : "s");
	else
		printf("verified: %s (key id %s)%s\n", o->bundle, res.keyid,
		       res.complete ? "" : ", partial bundle");
	az_verify_result_free(&res);
	return rc;
}

static int cmd_view(struct az_opts *o, void (*view)(const struct az_model *, bool, struct ai_buf *))
{
	struct az_model m;
	ai_err_t err;
	if (az_model_load(&m, o->bundle, &err) < 0) {
		ai_eprintf("afterimage-analyze", "%s: %s", o->cmd, err.msg);
		az_model_free(&m);
		return AZ_EXIT_INPUT;
	}
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	view(&m, o->json, &out);
	az_model_free(&m);
	if (az_write_stdout(&out, &err) < 0) {
		ai_eprintf("afterimage-analyze", "%s", err.msg);
		return AZ_EXIT_INPUT;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return AZ_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("afterimage-analyze %s\n", AI_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	struct az_opts o = {.cmd = cmd};
	static const struct option lo[] = {
	    {"pub", required_argument, NULL, 'p'},    {"json", no_argument, NULL, 'j'},
	    {"image", required_argument, NULL, 'i'},  {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'},
	    {"changed", no_argument, NULL, 'c'},      {"stats", no_argument, NULL, 's'},
	    {"all", no_argument, NULL, 'a'},	      {NULL, 0, NULL, 0},
	};
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "o:qj", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.pub = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'i':
			o.image = optarg;
			break;
		case 'f':
			o.format = optarg;
			break;
		case 'o':
			o.output = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'c':
			o.changed = true;
			break;
		case 's':
			o.stats = true;
			break;
		case 'a':
			o.all = true;
			break;
		default:
			usage(stderr);
			return AZ_EXIT_USAGE;
		}
	}
	int npos = argc - optind;
	bool is_diff = !strcmp(cmd, "diff");
	if (npos != (is_diff ? 2 : 1)) {
		ai_eprintf("afterimage-analyze", "%s: expected %s", cmd,
			   is_diff ? "two bundles" : "one bundle");
		usage(stderr);
		return AZ_EXIT_USAGE;
	}
	o.bundle = argv[optind];
	o.bundle2 = is_diff ? argv[optind + 1] : NULL;
	if (!o.quiet && isatty(STDERR_FILENO))
		o.progress = true;

	if (!strcmp(cmd, "verify"))
		return cmd_verify(&o);
	if (!strcmp(cmd, "ps"))
		return cmd_view(&o, az_view_ps);
	if (!strcmp(cmd, "fds"))
		return cmd_view(&o, az_view_fds);
	if (!strcmp(cmd, "net"))
		return cmd_view(&o, az_view_net);
	if (!strcmp(cmd, "mounts"))
		return cmd_view(&o, az_view_mounts);
	if (!strcmp(cmd, "files"))
		return cmd_view(&o, az_view_files);
	for (size_t i = 0; az_commands[i].name; i++)
		if (!strcmp(cmd, az_commands[i].name))
			return az_commands[i].run(&o);
	ai_eprintf("afterimage-analyze", "unknown command %s", cmd);
	usage(stderr);
	return AZ_EXIT_USAGE;
}
