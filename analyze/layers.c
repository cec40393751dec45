/* The `layers` subcommand: attribution of every path. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "analyze/attr.h"
#include "common/esc.h"
#include "analyze/cli.h"
#include "analyze/util.h"
#include "analyze/views.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int az_cmd_layers(struct az_opts *o)
{
	if (!o->image) {
		ai_eprintf("afterimage-analyze layers", "--image REF is required");
		return AZ_EXIT_USAGE;
	}
	struct az_model m;
	struct az_image img;
	ai_err_t err;
	double t0 = now();
	if (az_model_load(&m, o->bundle, &err) < 0) {
		ai_eprintf("afterimage-analyze layers", "%s", err.msg);
		az_model_free(&m);
		return AZ_EXIT_INPUT;
	}
	if (az_image_open(&img, o->image, &err) < 0) {
		ai_eprintf("afterimage-analyze layers", "%s", err.msg);
		az_image_free(&img);
		az_model_free(&m);
		return AZ_EXIT_INPUT;
	}
	double t1 = now();
	struct az_attr *a = NULL;
	if (az_attr_build(&a, &m, &img, o->progress, &err) < 0) {
		ai_eprintf("afterimage-analyze layers", "%s", err.msg);
		az_image_free(&img);
		az_model_free(&m);
		return AZ_EXIT_INPUT;
	}
	double t2 = now();
	if (o->stats) {
		size_t paths, bytes, counts[AZ_ST__COUNT] = {0};
		az_attr_stats(a, &paths, &bytes, counts);
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr,
			"stats: paths=%zu upper=%zu layers=%zu load_s=%.3f attr_s=%.3f paths_per_s=%.0f "
			"model_bytes=%zu"
			" model_bytes_per_path=%.1f maxrss_kib=%ld\n",
			paths, m.nupper, img.nlayers, t1 - t0, t2 - t1,
			paths / (t2 - t1 > 0 ? t2 - t1 : 1e-9), bytes,
			paths ? (double)bytes / (double)paths : 0.0, ru.ru_maxrss);
	}
	const char *w = az_attr_warnings(a);
	if (*w && !o->json)
		fputs("", stderr);
	cleanup_buf struct ai_buf out;
	ai_buf_init(&out);
	az_view_layers(a, o->json, o->changed, &out);
	az_attr_free(a);
	az_image_free(&img);
	az_model_free(&m);
	if (az_write_stdout(&out, &err) < 0) {
		ai_eprintf("afterimage-analyze", "%s", err.msg);
		return AZ_EXIT_INPUT;
	}
	return 0;
}
