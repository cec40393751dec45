/* Inside afterimage-capture serve: the state its parts share and what each offers the others.
 *   serve.c   setup, the epoll loop and shutdown (ai_serve)
 *   conn.c    a client connection: accept, read a request, write the answer, close
 *   pool.c    who may hold a connection: the unix, HTTP and closing pools, eviction of junk
 *   proto.c   the trigger protocol: HTTP and unix-socket requests to replies
 *   worker.c  the target (discovery, exit, rediscovery) and the capture worker thread
 *   evlog.c   the event log, one JSON object per line
 *   trim.c    giving memory back when idle
 * struct server belongs to the loop thread; while s->capturing the worker thread reads its
 * options and target and fills s->job, and the loop reads the job once the worker's eventfd
 * says it is done. */
#ifndef AI_SERVE_H
#define AI_SERVE_H
#include "capture/http.h"
#include "capture/sidecar.h"
#include "common/buf.h"
#include "common/json.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define REASON_MAX 128 /* bytes of a trigger's free-text reason */

enum kind { K_LISTEN, K_ULISTEN, K_SIGNAL, K_TARGET, K_WORKER, K_REDISCOVER, K_GRACE, K_CONN, K_TIMER };

/* What an epoll event is for. The server's own are members of struct server; a connection's
 * (K_CONN, K_TIMER) are members of its struct conn, which an earlier event of the same batch may
 * have freed: those are looked up by address (ai_srv_conn_dispatch), never read first. */
struct ev {
	enum kind kind;
};

enum cstate { C_READING, C_WAITING, C_WRITING, C_DRAIN };

/* POOL_NONE: accepted, not admitted yet; POOL_CLOSING: answered, draining until the client
 * closes (pool.c says who may be in which). */
enum pool { POOL_NONE, POOL_UNIX, POOL_HTTP, POOL_CLOSING, POOL_N };

struct conn {
	struct ev sev, tev;
	int fd, tfd;
	bool is_unix;
	bool authed; /* sent a valid bearer token: never evicted, may use the reserve */
	enum cstate state;
	enum pool pool;
	unsigned char peer[16]; /* HTTP: the client's address, IPv4 as ::ffff:a.b.c.d */
	uint64_t seq;		/* when it joined its pool: the lowest is the oldest */
	uint64_t catchup;	/* pool.c: the round in which its pending input was last read */
	size_t len;
	size_t drained; /* bytes read and dropped after the answer */
	char buf[AI_HTTP_MAX_HEAD];
	struct ai_buf out;
	size_t outoff;
	struct conn *prev, *next;
};

struct job {
	const char *trigger;
	char reason[REASON_MAX + 1];
	char name[200];
	pid_t pid;
	bool have_hint;
	int rc;
	ai_err_t err;
	struct ai_snapshot_result res;
	double ms;
	int upload_rc; /* 1: not configured */
	ai_err_t upload_err;
};

/* An event logged at most once per AI_SRV_RATELOG_S seconds, with a count of the rest. */
#define AI_SRV_RATELOG_S 10
struct ratelog {
	bool logged;		  /* a line was written: last is its time */
	time_t last;		  /* monotonic s */
	unsigned long suppressed; /* occurrences since that line, not logged */
};

struct server {
	const struct ai_serve_opts *o;
	int proc_fd, ep, lfd, ufd, sfd, wfd, pidfd, rtfd, gtfd;
	struct ev e_listen, e_ulisten, e_signal, e_target, e_worker, e_redisc, e_grace;
	bool have_target;
	struct ai_found target;
	struct ai_overlay overlay; /* the target's root overlay, for the exit trigger */
	time_t target_captured;	   /* last capture (monotonic s) of the container below, 0 never */
	uint64_t captured_mntns;   /* a container is its mount namespace, whatever its pids */
	unsigned rediscover_ms;
	struct conn *conns;
	unsigned npool[POOL_N];
	unsigned nunauth; /* in POOL_HTTP without a valid token */
	uint64_t seq;
	bool accept_paused; /* out of descriptors: the listeners wait for a connection to close */
	struct ratelog rl_unauth, rl_busy;
	unsigned long busy_refused, busy_evicted; /* since the last "busy" line */
	unsigned long busy_cut;			  /* answered clients closed before they were done: no room */
	unsigned long drain_expired;		  /* answered clients still sending at the drain's deadline */
	bool sock_bound;			  /* socket_path is ours: the inode below */
	dev_t sock_dev;
	ino_t sock_ino;
	bool capturing;
	pthread_t worker;
	struct job job;
	unsigned waiters; /* triggers coalesced into the running capture */
	unsigned ncaptures;
	bool terminating, baseline_done;
	bool trim_pending; /* memory to give back once idle again */
	void *wstack;	   /* the worker's stack (ours: glibc would cache it) */
};

/* serve.c: the loop's helpers */
void ai_srv_fd_close(int *fd);
int ai_srv_ep_add(struct server *s, int fd, uint32_t events, struct ev *e, ai_err_t *err);
/* One-shot in ms; 0 disarms. */
void ai_srv_arm_timer(int tfd, unsigned ms);

/* evlog.c: one event on o->log_fd; fill adds its members. */
void ai_srv_log(struct server *s, const char *event, void (*fill)(struct ai_json *, const void *),
		const void *arg);
/* fill for a "message" member (arg: the C string) */
void ai_srv_fill_msg(struct ai_json *j, const void *msg);
/* One occurrence of a rate-limited event: true when its line is due now (the first one, then
 * at most one per AI_SRV_RATELOG_S s), else it is counted in r->suppressed. The due line reports
 * r->suppressed (the occurrences before it that were not logged); the caller then zeroes it. */
bool ai_srv_rate_due(struct ratelog *r);

/* conn.c */
void ai_srv_accept(struct server *s, int lfd, bool is_unix);
/* e is not one of the server's own events: a connection's socket or timer, handled if that
 * connection still exists (e is compared, not read). */
void ai_srv_conn_dispatch(struct server *s, const struct ev *e);
/* Read what c's client has sent (as when its socket is readable; c may be freed). */
void ai_srv_conn_read(struct server *s, struct conn *c);
/* Send c->out, then drain until the client closes. */
void ai_srv_conn_flush(struct server *s, struct conn *c);
void ai_srv_conn_free(struct server *s, struct conn *c);

/* proto.c: a complete request read on c; answered now or, for a capture, when it ends */
void ai_srv_handle_http(struct server *s, struct conn *c, const struct ai_http_req *req);
void ai_srv_handle_unix_line(struct server *s, struct conn *c, char *line);
void ai_srv_respond_error(struct server *s, struct conn *c, int status);
/* 503 for a client the pools have no room for (with Retry-After over HTTP). */
void ai_srv_respond_busy(struct server *s, struct conn *c);
/* The count of unauthorized requests the rate limit kept out of the log (at shutdown). */
void ai_srv_proto_log_pending(struct server *s);
/* The capture ended: its result to every client waiting for it. */
void ai_srv_reply_waiters(struct server *s);

/* pool.c */
/* A new connection (c->pool == POOL_NONE, c->peer set): 0 when it joined its pool, possibly in
 * the place of an evicted one; -1 when there is no room (answer it busy). */
int ai_srv_pool_admit(struct server *s, struct conn *c);
/* c presented the valid bearer token. */
void ai_srv_pool_authed(struct server *s, struct conn *c);
/* c's answer is out: it drains in the closing pool (whose oldest is closed when it is full). */
void ai_srv_pool_closing(struct server *s, struct conn *c);
void ai_srv_pool_leave(struct server *s, struct conn *c);
/* One more client evicted or refused: a "busy" line, rate-limited. */
void ai_srv_pool_log_busy(struct server *s, bool evicted);
/* The busy counts not logged yet (at shutdown). */
void ai_srv_pool_log_pending(struct server *s);

/* worker.c */
int ai_srv_target_find(struct server *s, ai_err_t *err);
void ai_srv_target_forget(struct server *s);
void ai_srv_schedule_rediscover(struct server *s);
/* Start a capture, or count one more waiter for the running one. */
int ai_srv_capture_start(struct server *s, const char *trigger, const char *reason, ai_err_t *err);
void ai_srv_worker_done(struct server *s);
void ai_srv_target_exited(struct server *s);
void ai_srv_rediscover(struct server *s);

/* trim.c */
void ai_idle_trim(void);

#endif
