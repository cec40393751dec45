/* The capture log: every error, skip and truncation lands in capture-log.json, so an analyst
 * sees exactly what the bundle lacks and why. It is spooled: an upperdir of a million FIFOs is a
 * million skip events, and memory must not grow with them. */
#include "capture/capture.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *level_name(enum ai_log_level l)
{
	switch (l) {
	case AI_LOG_ERROR:
		return "error";
	case AI_LOG_WARNING:
		return "warning";
	case AI_LOG_SKIP:
		return "skip";
	case AI_LOG_TRUNCATED:
		return "truncated";
	default:
		return "info";
	}
}

static void vlog(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *path,
		 size_t path_len, const char *fmt, va_list ap)
{
	switch (lvl) {
	case AI_LOG_ERROR:
		cap->nerrors++;
		break;
	case AI_LOG_WARNING:
		cap->nwarnings++;
		break;
	case AI_LOG_SKIP:
		cap->nskipped++;
		break;
	case AI_LOG_TRUNCATED:
		cap->ntruncated++;
		break;
	default:
		break;
	}
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct ai_json *j = &cap->logj;
	ai_json_obj_begin(j);
	ai_json_ktime(j, "time", now.tv_sec, now.tv_nsec);
	ai_json_kstr(j, "level", level_name(lvl));
	ai_json_kstr(j, "collector", collector);
	/* messages may quote target bytes (names in error strings) */
	ai_json_kbytes(j, "message", msg, strlen(msg));
	if (path)
		ai_json_kbytes(j, "path", path, path_len);
	ai_json_obj_end(j);
	ai_spool_drain(&cap->log);
}

void ai_log(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(cap, lvl, collector, NULL, 0, fmt, ap);
	va_end(ap);
}

void ai_log_path(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *path,
		 size_t path_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(cap, lvl, collector, path, path_len, fmt, ap);
	va_end(ap);
}
