/* Timelines: upperdir m/a/c times, whiteouts, process starts, deleted-open files, image history,
 * the capture itself; UTC. Sleuthkit 3.x bodyfile (for mactime -b), or Timesketch CSV / JSONL. */
#ifndef AZ_TIMELINE_H
#define AZ_TIMELINE_H
#include "analyze/context.h"
#include "common/buf.h"

enum az_tl_format { AZ_TL_BODYFILE, AZ_TL_JSONL, AZ_TL_CSV };
int az_tl_format_parse(const char *s, enum az_tl_format *f);
void az_timeline_render(const struct az_ctx *c, enum az_tl_format f, struct ai_buf *out);

/* The events themselves (also drawn by the report). */
struct az_event {
	int64_t ns;
	const char *desc;   /* Timesketch timestamp_desc */
	const char *source; /* upper, process, fd, image, capture */
	char *message;
	struct az_str path;
	int64_t pid;
	const struct az_upper *upper;
	struct az_origin origin;
	bool have_origin;
	size_t seq;	      /* order of creation: ties in time keep it (stable order) */
	int64_t precision_ns; /* how exact ns is, when the evidence says (a start time: one clock tick) */
	bool before_start;    /* a file's time older than its container's first process: not the container's
				 doing */
};
void az_timeline_events(const struct az_ctx *c, struct az_event **out, size_t *n);
void az_timeline_events_free(struct az_event *v, size_t n);

#endif
