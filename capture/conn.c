/* One client of serve, HTTP or the unix trigger socket: accepted (peer uid checked on the
 * socket, a 503 past --max-conns), read until a request is complete, answered, drained, closed;
 * a timerfd bounds every phase but the wait for a capture. */
#include "capture/serve.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define UNIX_MAX_LINE 256

void ai_srv_conn_free(struct server *s, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	ai_srv_fd_close(&c->fd); /* closing removes it from the epoll set */
	ai_srv_fd_close(&c->tfd);
	ai_buf_free(&c->out);
	free(c);
	s->trim_pending = true;
}

static void conn_drain(struct server *s, struct conn *c)
{
	char tmp[4096];
	for (;;) {
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
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
	 * timer fires), so a close with unread input does not reset the answer away. */
	shutdown(c->fd, SHUT_WR);
	c->state = C_DRAIN;
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

void ai_srv_accept(struct server *s, int lfd, bool is_unix)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (is_unix) {
		struct ucred cr;
		socklen_t l = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 ||
		    (cr.uid != 0 && cr.uid != geteuid())) {
			close(fd);
			return;
		}
	}
	if (s->nconns >= s->o->max_conns) {
		static const char busy[] =
		    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		if (!is_unix && send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* it was only a courtesy */
		}
		close(fd);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->is_unix = is_unix;
	c->sev = (struct ev){K_CONN, c};
	c->tev = (struct ev){K_TIMER, c};
	ai_buf_init(&c->out);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	ai_err_t err;
	if (c->tfd < 0 || ai_srv_ep_add(s, c->fd, EPOLLIN | EPOLLRDHUP, &c->sev, &err) < 0 ||
	    ai_srv_ep_add(s, c->tfd, EPOLLIN, &c->tev, &err) < 0) {
		ai_srv_conn_free(s, c);
		return;
	}
	ai_srv_arm_timer(c->tfd, s->o->http_timeout_ms);
}

/* Still on the list: not freed by an earlier event of the same epoll batch. */
static bool conn_live(const struct server *s, const struct conn *c)
{
	for (const struct conn *x = s->conns; x; x = x->next)
		if (x == c)
			return true;
	return false;
}

void ai_srv_conn_event(struct server *s, struct conn *c)
{
	if (conn_live(s, c))
		conn_readable(s, c);
}

void ai_srv_conn_timer(struct server *s, struct conn *c)
{
	if (!conn_live(s, c))
		return;
	uint64_t v;
	if (read(c->tfd, &v, sizeof(v)) < 0)
		return;
	if (c->state == C_READING)
		ai_srv_respond_error(s, c, 408);
	else if (c->state == C_WRITING || c->state == C_DRAIN)
		ai_srv_conn_free(s, c);
}
