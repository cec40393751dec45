/* Pure parsers of sock_diag replies and /proc/PID/net lines (sockparse.h). */
#include "capture/sockparse.h"
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "common/hash.h"

/* ---- sock_diag ---- */

enum ai_sp_walk ai_sp_nl_walk(const void *buf, size_t len, uint32_t seq, ai_sp_msg_fn fn, void *ctx,
			      int *error)
{
	/* Not NLMSG_OK/NLMSG_NEXT: after a last message whose length is not a multiple of 4,
	 * NLMSG_NEXT takes the length left below zero and NLMSG_OK, given it as a size_t, reads a
	 * header past the end (the fuzz target's crash-nlmsg-unaligned-last-overread). */
	const char *p = buf, *end = p + len;
	for (size_t step; (size_t)(end - p) >= NLMSG_HDRLEN; p += step) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)p;
		if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > (size_t)(end - p))
			break;
		step = NLMSG_ALIGN(h->nlmsg_len);
		if (step > (size_t)(end - p))
			step = (size_t)(end - p);
		if (h->nlmsg_seq != seq)
			continue;
		if (h->nlmsg_type == NLMSG_DONE)
			return AI_SP_DONE;
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e))) {
				*error = -1;
				return AI_SP_FAILED;
			}
			*error = -e->error;
			return AI_SP_FAILED;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			continue;
		if (fn(ctx, h) < 0)
			return AI_SP_STOP;
	}
	return AI_SP_MORE;
}

bool ai_sp_inet_msg(const struct nlmsghdr *h, int proto, struct ai_sock *k)
{
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return false;
	k->family = m->idiag_family;
	k->proto = proto;
	k->type = k->proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
	k->state = m->idiag_state;
	size_t alen = k->family == AF_INET6 ? 16 : 4;
	memcpy(k->laddr, m->id.idiag_src, alen);
	memcpy(k->raddr, m->id.idiag_dst, alen);
	k->lport = ntohs(m->id.idiag_sport);
	k->rport = ntohs(m->id.idiag_dport);
	k->inode = m->idiag_inode;
	k->uid = m->idiag_uid;
	k->has_uid = true;
	k->rq = m->idiag_rqueue;
	k->wq = m->idiag_wqueue;
	k->has_queues = true;
	return true;
}

bool ai_sp_unix_msg(const struct nlmsghdr *h, struct ai_sock *k)
{
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return false;
	k->family = AF_UNIX;
	k->type = m->udiag_type;
	k->state = m->udiag_state;
	k->inode = m->udiag_ino;
	size_t off = NLMSG_ALIGN(sizeof(*m));
	size_t payload = h->nlmsg_len - NLMSG_HDRLEN;
	while (off + NLA_HDRLEN <= payload) {
		const struct nlattr *a = (const struct nlattr *)((const char *)m + off);
		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > payload)
			break;
		const char *d = (const char *)a + NLA_HDRLEN;
		size_t dl = a->nla_len - NLA_HDRLEN;
		switch (a->nla_type) {
		case UNIX_DIAG_NAME:
			if (dl == 0)
				break;
			if (d[0] == '\0') {
				/* Abstract: the name is every byte after the NUL, NULs included. */
				k->abstract = true;
			} else {
				/* A path name is NUL-terminated inside sun_path. */
				const char *nul = memchr(d, '\0', dl);
				if (nul)
					dl = (size_t)(nul - d);
			}
			free(k->path);
			k->path = malloc(dl + 1);
			if (!k->path)
				break;
			memcpy(k->path, d, dl);
			k->path[0] = k->abstract ? '@' : k->path[0];
			k->path[dl] = '\0';
			k->path_len = dl;
			break;
		case UNIX_DIAG_PEER:
			if (dl >= sizeof(uint32_t)) {
				memcpy(&k->peer, d, sizeof(uint32_t));
				k->has_peer = true;
			}
			break;
		case UNIX_DIAG_RQLEN:
			if (dl >= sizeof(struct unix_diag_rqlen)) {
				struct unix_diag_rqlen q;
				memcpy(&q, d, sizeof(q));
				k->rq = q.udiag_rqueue;
				k->wq = q.udiag_wqueue;
				k->has_queues = true;
			}
			break;
		case UNIX_DIAG_UID:
			if (dl >= sizeof(uint32_t)) {
				memcpy(&k->uid, d, sizeof(uint32_t));
				k->has_uid = true;
			}
			break;
		}
		off += NLA_ALIGN(a->nla_len);
	}
	return true;
}

/* ---- /proc/PID/net ---- */

/* Exactly n hex digits at *p, into *v; advances *p. */
static bool hex_n(const char **p, size_t n, uint64_t *v)
{
	uint64_t r = 0;
	for (size_t i = 0; i < n; i++) {
		int h = ai_hexval((*p)[i]);
		if (h < 0)
			return false;
		r = r << 4 | (uint64_t)h;
	}
	*p += n;
	*v = r;
	return true;
}

/* Hex digits up to the first non-hex byte (1..16 of them). */
static bool hex_any(const char **p, uint64_t *v)
{
	size_t n = 0;
	while (n < 17 && ai_hexval((*p)[n]) >= 0)
		n++;
	if (n == 0 || n > 16)
		return false;
	return hex_n(p, n, v);
}

static bool dec_any(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t r = 0;
	size_t n = 0;
	while (s[n] >= '0' && s[n] <= '9') {
		if (n == 20 || r > (UINT64_MAX - (uint64_t)(s[n] - '0')) / 10)
			return false;
		r = r * 10 + (uint64_t)(s[n] - '0');
		n++;
	}
	if (n == 0)
		return false;
	*p += n;
	*v = r;
	return true;
}

static void skip_sp(const char **p)
{
	while (**p == ' ')
		(*p)++;
}

static bool lit(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/* The kernel prints each 32-bit word of the address with %08X of its in-memory value, so
 * storing the parsed word back in host order gives the network-order bytes. */
static bool addr_port(const char **p, size_t words, uint8_t *addr, uint16_t *port)
{
	for (size_t i = 0; i < words; i++) {
		uint64_t w;
		if (!hex_n(p, 8, &w))
			return false;
		uint32_t w32 = (uint32_t)w;
		memcpy(addr + 4 * i, &w32, 4);
	}
	uint64_t pt;
	if (!lit(p, ':') || !hex_n(p, 4, &pt))
		return false;
	*port = (uint16_t)pt;
	return true;
}

bool ai_sp_inet_line(const char *p, size_t words, struct ai_sock *k)
{
	uint64_t v, tx, rx, uid, inode;
	skip_sp(&p);
	if (!dec_any(&p, &v) || !lit(&p, ':'))
		return false;
	skip_sp(&p);
	if (!addr_port(&p, words, k->laddr, &k->lport))
		return false;
	skip_sp(&p);
	if (!addr_port(&p, words, k->raddr, &k->rport))
		return false;
	skip_sp(&p);
	if (!hex_n(&p, 2, &v))
		return false;
	k->state = (int)v;
	skip_sp(&p);
	if (!hex_any(&p, &tx) || !lit(&p, ':') || !hex_any(&p, &rx))
		return false;
	skip_sp(&p);
	if (!hex_any(&p, &v) || !lit(&p, ':') || !hex_any(&p, &v)) /* tr:tm->when */
		return false;
	skip_sp(&p);
	if (!hex_any(&p, &v)) /* retrnsmt */
		return false;
	skip_sp(&p);
	if (!dec_any(&p, &uid))
		return false;
	skip_sp(&p);
	if (!dec_any(&p, &v)) /* timeout */
		return false;
	skip_sp(&p);
	if (!dec_any(&p, &inode))
		return false;
	k->wq = tx;
	k->rq = rx;
	k->has_queues = true;
	k->uid = (uint32_t)uid;
	k->has_uid = true;
	k->inode = inode;
	return true;
}

/* The path is the rest of the line, raw, abstract names with every NUL shown as '@'. */
bool ai_sp_unix_line(const char *p, const char *end, struct ai_sock *k)
{
	uint64_t v, flags, type, st, inode;
	skip_sp(&p);
	if (!hex_any(&p, &v) || !lit(&p, ':'))
		return false;
	skip_sp(&p);
	if (!hex_any(&p, &v)) /* refcount */
		return false;
	skip_sp(&p);
	if (!hex_any(&p, &v)) /* protocol */
		return false;
	skip_sp(&p);
	if (!hex_any(&p, &flags))
		return false;
	skip_sp(&p);
	if (!hex_any(&p, &type))
		return false;
	skip_sp(&p);
	if (!hex_any(&p, &st))
		return false;
	skip_sp(&p);
	if (!dec_any(&p, &inode))
		return false;
	k->family = AF_UNIX;
	k->type = (int)type;
	k->inode = inode;
	/* __SO_ACCEPTCON: a listening socket; otherwise the socket_state SS_* numbering. */
	k->unix_listen = (flags & 0x10000) != 0;
	k->state = st == 3   ? 1  /* ESTABLISHED */
		   : st == 2 ? 2  /* SYN_SENT */
		   : st == 4 ? 11 /* CLOSING */
			     : 7;
	if (p < end && *p == ' ') {
		p++;
		size_t len = (size_t)(end - p);
		k->path = malloc(len + 1);
		if (!k->path)
			return false;
		memcpy(k->path, p, len);
		k->path[len] = '\0';
		k->path_len = len;
		k->abstract = len > 0 && p[0] == '@';
	}
	return true;
}
