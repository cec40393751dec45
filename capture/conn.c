/* One client of serve, HTTP or the unix trigger socket: accepted (peer uid checked on the
 * socket, admitted by pool.c or answered 503), read until a request is complete, answered,
 * drained, closed; a timerfd bounds every phase but the wait for a capture: the head must be in
 * within --http-timeout of the accept (one deadline, not renewed by each byte), the answer out
 * within --http-timeout, the drain after it lasts at most DRAIN_MAX bytes and the longer of
 * --http-timeout and DRAIN_MIN_MS (a client that reads only once its request is out, slowed by a
 * loaded machine, still gets its 503; the closing pool bounds what the drains hold). */
#include "capture/serve.h"
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define UNIX_MAX_LINE 256
#define DRAIN_MAX     (64u << 10)
#define DRAIN_MIN_MS  5000

/* Out of descriptors: stop listening until a connection closes (a listener that stays readable
 * would spin the loop). */
static void listeners_pause(struct server *s, bool pause)
{
	if (s->accept_paused == pause)
		return;
	s->accept_paused = pause;
	struct epoll_event el = {.events = pause ? 0 : EPOLLIN, .data.ptr = &s->e_listen};
	struct epoll_event eu = {.events = pause ? 0 : EPOLLIN, .data.ptr = &s->e_ulisten};
	if (s->lfd >= 0)
		epoll_ctl(s->ep, EPOLL_CTL_MOD, s->lfd, &el);
	if (s->ufd >= 0)
		epoll_ctl(s->ep, EPOLL_CTL_MOD, s->ufd, &eu);
}

void ai_srv_conn_free(struct server *s, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ai_srv_pool_leave(s, c);
	ai_srv_fd_close(&c->fd); /* closing removes it from the epoll set */
	ai_srv_fd_close(&c->tfd);
	ai_buf_free(&c->out);
	free(c);
	s->trim_pending = true;
	listeners_pause(s, false);
}

static void conn_drain(struct server *s, struct conn *c)
{
	char tmp[4096];
	for (;;) {
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			c->drained += (size_t)n;
			if (c->drained <= DRAIN_MAX)
				continue;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			return;
		}
		ai_srv_conn_free(s, c);
		return;
	}
}

/* Write what is pending, then drain until the client closes. */
void ai_srv_conn_flush(struct server *s, struct conn *c)
{
	while (c->outoff < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->outoff, c->out.len - c->outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct epoll_event ee = {.events = EPOLLOUT, .data.ptr = &c->sev};
			epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ee);
			c->state = C_WRITING;
			return;
		}
		if (n <= 0)
			break;
		c->outoff += (size_t)n;
	}
	/* Lingering close: read and drop what the client still sends until it closes (or the
	 * drain's bounds are reached), so a close with unread input does not reset the answer
	 * away. */
	shutdown(c->fd, SHUT_WR);
	c->state = C_DRAIN;
	ai_srv_pool_closing(s, c);
	ai_srv_arm_timer(c->tfd, s->o->http_timeout_ms > DRAIN_MIN_MS ? s->o->http_timeout_ms : DRAIN_MIN_MS);
	struct epoll_event ee = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->sev};
	epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ee);
	conn_drain(s, c);
}

static void conn_readable(struct server *s, struct conn *c)
{
	if (c->state == C_WAITING) {
		/* the client hung up while waiting: the capture goes on, nobody to answer */
		char tmp[256];
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			s->waiters--;
			ai_srv_conn_free(s, c);
		}
		return;
	}
	if (c->state == C_WRITING) {
		ai_srv_conn_flush(s, c);
		return;
	}
	if (c->state == C_DRAIN) {
		conn_drain(s, c);
		return;
	}
	for (;;) {
		if (c->len == sizeof(c->buf)) {
			ai_srv_respond_error(s, c, c->is_unix ? 400 : 413);
			return;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			ai_srv_conn_free(s, c);
			return;
		}
		c->len += (size_t)n;
		if (c->is_unix) {
			char *nl = memchr(c->buf, '\n', c->len);
			if (nl) {
				*nl = '\0';
				ai_srv_handle_unix_line(s, c, c->buf);
				return;
			}
			if (c->len > UNIX_MAX_LINE) {
				ai_srv_respond_error(s, c, 400);
				return;
			}
			continue;
		}
		struct ai_http_req req;
		int r = ai_http_parse(c->buf, c->len, &req);
		if (r < 0) {
			ai_srv_respond_error(s, c, -r);
			return;
		}
		if (r > 0) {
			ai_srv_handle_http(s, c, &req);
			return;
		}
	}
}

/* The peer's address as 16 bytes, IPv4 mapped into IPv6, so both listen families compare. */
static void peer_key(const struct sockaddr_storage *ss, unsigned char out[16])
{
	memset(out, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

void ai_srv_conn_read(struct server *s, struct conn *c)
{
	conn_readable(s, c);
}

void ai_srv_accept(struct server *s, int lfd, bool is_unix)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			listeners_pause(s, true);
		return;
	}
	if (is_unix) {
		struct ucred cr;
		socklen_t l = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 ||
		    (cr.uid != 0 && cr.uid != geteuid())) {
			close(fd);
			return;
		}
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->is_unix = is_unix;
	if (!is_unix)
		peer_key(&ss, c->peer);
	c->sev = (struct ev){K_CONN};
	c->tev = (struct ev){K_TIMER};
	ai_buf_init(&c->out);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	ai_err_t err;
	if (c->tfd < 0 || ai_srv_ep_add(s, c->fd, EPOLLIN | EPOLLRDHUP, &c->sev, &err) < 0 ||
	    ai_srv_ep_add(s, c->tfd, EPOLLIN, &c->tev, &err) < 0) {
		ai_srv_conn_free(s, c);
		return;
	}
	ai_srv_arm_timer(c->tfd, s->o->http_timeout_ms); /* the whole head, not renewed per byte */
	if (ai_srv_pool_admit(s, c) < 0) {
		ai_srv_pool_log_busy(s, false);
		ai_srv_respond_busy(s, c);
	}
}

static void conn_timer(struct server *s, struct conn *c)
{
	uint64_t v;
	if (read(c->tfd, &v, sizeof(v)) < 0)
		return;
	if (c->state == C_READING) {
		ai_srv_respond_error(s, c, 408);
		return;
	}
	if (c->state == C_DRAIN)
		s->drain_expired++;
	if (c->state == C_WRITING || c->state == C_DRAIN)
		ai_srv_conn_free(s, c);
}

void ai_srv_conn_dispatch(struct server *s, const struct ev *e)
{
	/* A freed connection is not on the list. Its memory may hold a new connection by now;
	 * then the stale event reaches that one, which finds nothing to read (both fds are
	 * non-blocking) and goes on waiting. */
	for (struct conn *x = s->conns; x; x = x->next) {
		if (e == &x->sev) {
			conn_readable(s, x);
			return;
		}
		if (e == &x->tev) {
			conn_timer(s, x);
			return;
		}
	}
}
