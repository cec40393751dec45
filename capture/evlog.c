/* serve's event log: one JSON object per line on log_fd (stderr), the one place serve prints. */
#include "capture/jsonline.h"
#include "capture/serve.h"
#include "common/cleanup.h"
#include <string.h>
#include <time.h>
#include <unistd.h>

void ai_srv_log(struct server *s, const char *event, void (*fill)(struct ai_json *, const void *),
		const void *arg)
{
	if (s->o->log_fd < 0)
		return;
	cleanup_buf struct ai_buf b;
	ai_buf_init(&b);
	struct ai_json j;
	ai_json_init(&j, &b);
	ai_json_obj_begin(&j);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	ai_json_ktime(&j, "time", now.tv_sec, now.tv_nsec);
	ai_json_kstr(&j, "event", event);
	if (fill)
		fill(&j, arg);
	ai_json_obj_end(&j);
	ai_jsonline_safe(&b);
	ai_buf_addc(&b, '\n');
	if (write(s->o->log_fd, b.data, b.len) < 0) {
		/* nowhere left to report it */
	}
}

void ai_srv_fill_msg(struct ai_json *j, const void *msg)
{
	ai_json_kbytes(j, "message", msg, strlen(msg));
}

bool ai_srv_rate_due(struct ratelog *r)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (r->logged && now.tv_sec - r->last < AI_SRV_RATELOG_S) {
		r->suppressed++;
		return false;
	}
	r->logged = true;
	r->last = now.tv_sec;
	return true;
}
