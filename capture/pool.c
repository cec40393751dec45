/* Who may hold a connection to serve. The unix trigger socket (peers of our uid only) has a pool
 * of its own, so no HTTP client can shut out the exec trigger. HTTP clients share --max-conns;
 * those without a valid token yet (reading a head, junk) may hold all but a reserve of
 * max_conns / 8, and at most --max-conns-per-peer from one address. When a newcomer finds no
 * room, an unauthenticated client still sending its head (of the newcomer's own address when
 * that address is at its cap; a stalled partial head first, then the longest connected) is
 * answered 503 and the newcomer takes its place: junk that holds sockets open is recycled, a
 * client that writes its request at once is chosen only after every stalled one, and once it
 * has shown the token it is never evicted. Only when every slot is held by authenticated clients is the
 * newcomer itself turned away. Answered connections drain in a closing pool (bounded, the
 * oldest closed first), so a 503 reaches its client instead of a reset. */
#include "capture/serve.h"
#include <string.h>

static unsigned reserve(const struct ai_serve_opts *o)
{
	if (o->max_conns >= 8)
		return o->max_conns / 8;
	return o->max_conns > 1 ? 1 : 0;
}

/* A client that reads only after sending its whole request needs its answered socket kept
 * until it is done, or its next send meets a reset: under a flood most sockets are these. */
static unsigned closing_max(const struct ai_serve_opts *o)
{
	return 4 * (o->max_conns + o->max_socket_conns);
}

static void pool_set(struct server *s, struct conn *c, enum pool p)
{
	ai_srv_pool_leave(s, c);
	c->pool = p;
	c->seq = ++s->seq;
	s->npool[p]++;
	if (p == POOL_HTTP && !c->authed)
		s->nunauth++;
}

void ai_srv_pool_leave(struct server *s, struct conn *c)
{
	if (c->pool == POOL_HTTP && !c->authed)
		s->nunauth--;
	if (c->pool != POOL_NONE)
		s->npool[c->pool]--;
	c->pool = POOL_NONE;
}

static void fill_busy(struct ai_json *j, const void *arg)
{
	const struct server *s = arg;
	ai_json_kuint(j, "refused", s->busy_refused);
	ai_json_kuint(j, "evicted", s->busy_evicted);
	ai_json_kuint(j, "cut", s->busy_cut);
	ai_json_kuint(j, "drain_expired", s->drain_expired);
	ai_json_kuint(j, "http", s->npool[POOL_HTTP]);
	ai_json_kuint(j, "unauthenticated", s->nunauth);
	ai_json_kuint(j, "socket", s->npool[POOL_UNIX]);
	ai_json_kuint(j, "closing", s->npool[POOL_CLOSING]);
}

/* refused and evicted count since the previous line, this occurrence included */
static void log_busy_line(struct server *s)
{
	ai_srv_log(s, "busy", fill_busy, s);
	s->rl_busy.suppressed = 0;
	s->busy_refused = s->busy_evicted = s->busy_cut = s->drain_expired = 0;
}

void ai_srv_pool_log_busy(struct server *s, bool evicted)
{
	if (evicted)
		s->busy_evicted++;
	else
		s->busy_refused++;
	if (ai_srv_rate_due(&s->rl_busy))
		log_busy_line(s);
}

void ai_srv_pool_log_pending(struct server *s)
{
	if (s->busy_refused || s->busy_evicted || s->busy_cut || s->drain_expired)
		log_busy_line(s);
}

/* Which of two clients still sending their heads goes first: one that sent part of a head and
 * stalled (a client that means it writes its head at once: curl, Go, the kubelet), then the one
 * connected longest. A newcomer that has sent nothing yet (just accepted, or its process not yet
 * scheduled) thus outlives any number of dribbling ones. */
static bool victim_before(const struct conn *x, const struct conn *best)
{
	if (!best)
		return true;
	if ((x->len > 0) != (best->len > 0))
		return x->len > 0;
	return x->seq < best->seq;
}

struct pick {
	unsigned from_peer;		   /* unauthenticated HTTP clients of the newcomer's address */
	struct conn *oldest, *oldest_peer; /* the first victims, overall and of that address */
};

static void pick(const struct server *s, const struct conn *c, struct pick *p)
{
	*p = (struct pick){0};
	for (struct conn *x = s->conns; x; x = x->next) {
		if (x->pool != POOL_HTTP || x->authed)
			continue;
		bool same = !memcmp(x->peer, c->peer, sizeof(c->peer));
		p->from_peer += same;
		if (x->state != C_READING)
			continue;
		if (victim_before(x, p->oldest))
			p->oldest = x;
		if (same && victim_before(x, p->oldest_peer))
			p->oldest_peer = x;
	}
}

/* Read what has arrived for the candidates that look as if they had sent nothing: a loop slower
 * than its clients (a loaded machine) has not read their input yet, and a complete head with the
 * valid token must authenticate, a partial one be seen as partial, before a victim is chosen.
 * Reading may answer and free connections: the list is rescanned after each. */
static void catch_up(struct server *s, const struct conn *c, bool same_peer)
{
	uint64_t round = ++s->seq;
	for (;;) {
		struct conn *x = s->conns;
		for (; x; x = x->next)
			if (x->pool == POOL_HTTP && !x->authed && x->state == C_READING && !x->len &&
			    x->catchup != round && (!same_peer || !memcmp(x->peer, c->peer, sizeof(c->peer))))
				break;
		if (!x)
			return;
		x->catchup = round;
		ai_srv_conn_read(s, x);
	}
}

int ai_srv_pool_admit(struct server *s, struct conn *c)
{
	const struct ai_serve_opts *o = s->o;
	if (c->is_unix) {
		if (s->npool[POOL_UNIX] >= o->max_socket_conns)
			return -1;
		pool_set(s, c, POOL_UNIX);
		return 0;
	}
	struct pick p;
	struct conn *victim = NULL;
	bool need = false;
	for (int pass = 0; pass < 2; pass++) {
		pick(s, c, &p);
		bool peer_full = p.from_peer >= o->max_conns_per_peer;
		need = peer_full || s->nunauth >= o->max_conns - reserve(o) ||
		       s->npool[POOL_HTTP] >= o->max_conns;
		victim = peer_full ? p.oldest_peer : p.oldest;
		if (!need || (victim && victim->len) || pass)
			break;
		catch_up(s, c, peer_full);
	}
	if (!need)
		victim = NULL;
	else if (!victim)
		return -1;
	if (victim) {
		ai_srv_pool_log_busy(s, true);
		ai_srv_pool_leave(s, victim); /* its slot is the newcomer's, whatever its answer does */
		ai_srv_respond_busy(s, victim);
	}
	pool_set(s, c, POOL_HTTP);
	return 0;
}

void ai_srv_pool_authed(struct server *s, struct conn *c)
{
	if (c->pool == POOL_HTTP && !c->authed)
		s->nunauth--;
	c->authed = true;
}

void ai_srv_pool_closing(struct server *s, struct conn *c)
{
	if (c->pool == POOL_CLOSING)
		return;
	if (s->npool[POOL_CLOSING] >= closing_max(s->o)) {
		struct conn *oldest = NULL;
		for (struct conn *x = s->conns; x; x = x->next)
			if (x->pool == POOL_CLOSING && (!oldest || x->seq < oldest->seq))
				oldest = x;
		if (oldest) { /* its answer has been out the longest */
			s->busy_cut++;
			ai_srv_conn_free(s, oldest);
		}
	}
	pool_set(s, c, POOL_CLOSING);
}
