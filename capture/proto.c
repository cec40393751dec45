/* The trigger protocol: GET /v1/capture (bearer token, ?reason=), /healthz, and the unix socket's
 * "capture [REASON]", "status", "sandbox-check" lines, each turned into a reply (an HTTP response
 * or one JSON line) or a capture whose result answers it. */
#include "capture/jsonline.h"
#include "capture/serve.h"
#include "common/cleanup.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static void result_json(const struct server *s, struct ai_buf *b)
{
	const struct job *jb = &s->job;
	struct ai_json j;
	ai_json_init(&j, b);
	ai_json_obj_begin(&j);
	if (jb->rc < 0) {
		ai_json_kbytes(&j, "error", jb->err.msg, strlen(jb->err.msg));
	} else {
		ai_jsonline_result(&j, &jb->res);
	}
	ai_json_kstr(&j, "trigger", jb->trigger);
	if (jb->reason[0])
		ai_json_kbytes(&j, "reason", jb->reason, strlen(jb->reason));
	ai_json_kint(&j, "pid", jb->pid);
	ai_json_kuint(&j, "coalesced", s->waiters);
	ai_json_key(&j, "freeze");
	ai_json_obj_begin(&j);
	ai_json_kbool(&j, "frozen", jb->res.frozen);
	char ms[32];
	snprintf(ms, sizeof(ms), "%.3f", jb->res.freeze_ms);
	ai_json_key(&j, "ms");
	ai_json_raw(&j, ms);
	ai_json_obj_end(&j);
	snprintf(ms, sizeof(ms), "%.3f", jb->ms);
	ai_json_key(&j, "ms");
	ai_json_raw(&j, ms);
	if (jb->upload_rc == 0)
		ai_json_kstr(&j, "upload", "ok");
	else if (jb->upload_rc < 0)
		ai_json_kbytes(&j, "upload_error", jb->upload_err.msg, strlen(jb->upload_err.msg));
	ai_json_obj_end(&j);
}

/* Every answer leaves through here; the JSON body is made terminal-safe here once. */
static void respond(struct server *s, struct conn *c, int status, const char *extra_hdr, const char *body)
{
	cleanup_buf struct ai_buf safe;
	ai_buf_init(&safe);
	if (body) {
		ai_buf_adds(&safe, body);
		ai_jsonline_safe(&safe);
		body = ai_buf_cstr(&safe);
	}
	ai_buf_reset(&c->out);
	if (c->is_unix) {
		if (status == 200)
			ai_buf_adds(&c->out, body);
		else
			ai_buf_printf(&c->out, "{\"error\":\"%s\",\"status\":%d}", ai_http_reason(status),
				      status);
		ai_buf_addc(&c->out, '\n');
	} else {
		size_t blen = body ? strlen(body) : 0;
		ai_buf_printf(&c->out,
			      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			      "Connection: close\r\nCache-Control: no-store\r\n%s\r\n",
			      status, ai_http_reason(status), blen + 1, extra_hdr ? extra_hdr : "");
		if (body)
			ai_buf_adds(&c->out, body);
		ai_buf_addc(&c->out, '\n');
	}
	c->outoff = 0;
	ai_srv_arm_timer(c->tfd, s->o->http_timeout_ms); /* a client that never reads times out too */
	ai_srv_conn_flush(s, c);
}

void ai_srv_respond_error(struct server *s, struct conn *c, int status)
{
	char body[96];
	snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d}", ai_http_reason(status), status);
	respond(s, c, status, status == 401 ? "WWW-Authenticate: Bearer realm=\"afterimage\"\r\n" : NULL,
		body);
}

void ai_srv_respond_busy(struct server *s, struct conn *c)
{
	char body[96];
	snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":503}", ai_http_reason(503));
	respond(s, c, 503, "Retry-After: 1\r\n", body);
}

struct unauth_line {
	const char *why; /* NULL: the summary at shutdown */
	unsigned long suppressed;
};

static void fill_unauth(struct ai_json *j, const void *arg)
{
	const struct unauth_line *l = arg;
	if (l->why)
		ai_srv_fill_msg(j, l->why);
	if (l->suppressed || !l->why) /* refused since the previous line, not logged one by one */
		ai_json_kuint(j, "suppressed", l->suppressed);
}

/* One line per AI_SRV_RATELOG_S s at most: a flood of wrong tokens must not flood the log. */
static void log_unauthorized(struct server *s, const char *why)
{
	if (!ai_srv_rate_due(&s->rl_unauth))
		return;
	struct unauth_line l = {why, s->rl_unauth.suppressed};
	ai_srv_log(s, "unauthorized", fill_unauth, &l);
	s->rl_unauth.suppressed = 0;
}

void ai_srv_proto_log_pending(struct server *s)
{
	if (s->rl_unauth.suppressed) {
		struct unauth_line l = {NULL, s->rl_unauth.suppressed};
		ai_srv_log(s, "unauthorized", fill_unauth, &l);
		s->rl_unauth.suppressed = 0;
	}
}

static bool reason_ok(const char *r)
{
	for (; *r; r++)
		if ((unsigned char)*r < 0x20 || (unsigned char)*r > 0x7e)
			return false;
	return true;
}

static void trigger_capture(struct server *s, struct conn *c, const char *trigger, const char *reason)
{
	ai_err_t err = {0};
	if (ai_srv_capture_start(s, trigger, reason, &err) < 0) {
		ai_srv_log(s, "error", ai_srv_fill_msg, err.msg);
		cleanup_buf struct ai_buf b;
		ai_buf_init(&b);
		struct ai_json j;
		ai_json_init(&j, &b);
		ai_json_obj_begin(&j);
		ai_json_kbytes(&j, "error", err.msg, strlen(err.msg));
		ai_json_obj_end(&j);
		respond(s, c, 503, NULL, ai_buf_cstr(&b));
		return;
	}
	c->state = C_WAITING;
	ai_srv_arm_timer(c->tfd, 0); /* waits as long as the capture takes */
	struct epoll_event ee = {.events = EPOLLRDHUP, .data.ptr = &c->sev};
	epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ee);
}

static void fill_sandbox(struct ai_buf *b)
{
	char *const argv[] = {"/", NULL}, *const envp[] = {NULL};
	errno = 0;
	execve("/", argv, envp); /* only returns: "/" is a directory, and seccomp may refuse first */
	int e = errno;
	char status[4096] = "";
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, status, sizeof(status) - 1);
		status[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	const char *sc = strstr(status, "\nSeccomp:\t"), *ce = strstr(status, "\nCapEff:\t");
	ai_buf_printf(b, "{\"execve_errno\":%d,\"execve_refused\":%s,\"seccomp\":%d,\"cap_eff\":\"%.16s\"}",
		      e, e == EPERM ? "true" : "false", sc ? atoi(sc + 10) : -1, ce ? ce + 9 : "");
}

void ai_srv_handle_unix_line(struct server *s, struct conn *c, char *line)
{
	if (!strcmp(line, "status")) {
		cleanup_buf struct ai_buf b;
		ai_buf_init(&b);
		ai_buf_printf(&b, "{\"target\":%d,\"captures\":%u,\"capturing\":%s}",
			      s->have_target ? s->target.pid : 0, s->ncaptures,
			      s->capturing ? "true" : "false");
		respond(s, c, 200, NULL, ai_buf_cstr(&b));
	} else if (!strcmp(line, "sandbox-check")) {
		cleanup_buf struct ai_buf b;
		ai_buf_init(&b);
		fill_sandbox(&b);
		respond(s, c, 200, NULL, ai_buf_cstr(&b));
	} else if (!strncmp(line, "capture", 7) && (line[7] == '\0' || line[7] == ' ')) {
		const char *reason = line[7] ? line + 8 : "";
		if (strlen(reason) > REASON_MAX || !reason_ok(reason))
			ai_srv_respond_error(s, c, 400);
		else
			trigger_capture(s, c, "exec", reason);
	} else {
		ai_srv_respond_error(s, c, 400);
	}
}

void ai_srv_handle_http(struct server *s, struct conn *c, const struct ai_http_req *req)
{
	if (!strcmp(req->path, "/healthz")) {
		char body[96];
		snprintf(body, sizeof(body), "{\"ok\":true,\"target\":%d,\"captures\":%u}",
			 s->have_target ? s->target.pid : 0, s->ncaptures);
		respond(s, c, 200, NULL, body);
		return;
	}
	if (strcmp(req->path, "/v1/capture") != 0) {
		ai_srv_respond_error(s, c, 404);
		return;
	}
	if (req->method == AI_HTTP_HEAD) {
		ai_srv_respond_error(s, c, 405);
		return;
	}
	if (!ai_http_bearer_ok(req, s->o->token, s->o->token_len)) {
		log_unauthorized(s, req->has_auth ? "wrong token" : "no Authorization header");
		ai_srv_respond_error(s, c, 401);
		return;
	}
	ai_srv_pool_authed(s, c);
	char reason[REASON_MAX + 1];
	int rl = ai_http_query_get(req->query, "reason", reason, sizeof(reason));
	if (rl == -2 || (rl >= 0 && !reason_ok(reason))) {
		ai_srv_respond_error(s, c, 400);
		return;
	}
	trigger_capture(s, c, "http", rl >= 0 ? reason : "");
}

void ai_srv_reply_waiters(struct server *s)
{
	cleanup_buf struct ai_buf body;
	ai_buf_init(&body);
	result_json(s, &body);
	/* Rescanned after each answer: answering may close other connections (the closing pool's
	 * oldest), so no pointer into the list survives one. Each answer leaves C_WAITING. */
	for (;;) {
		struct conn *c = s->conns;
		while (c && c->state != C_WAITING)
			c = c->next;
		if (!c)
			break;
		respond(s, c, s->job.rc == 0 ? 200 : 500, NULL, ai_buf_cstr(&body));
	}
}
