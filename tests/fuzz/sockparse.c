/* Fuzz target: the socket sources of sockets.json through capture/sockparse.c. Each input is
 * tried as one recv's worth of sock_diag reply (every message parsed both as an inet_diag_msg
 * and as a unix_diag_msg with its attributes), and line by line as /proc/net/{tcp,tcp6,unix}
 * lines. A process names its unix sockets with any bytes it likes, NULs included. */
#include "capture/sockparse.h"
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned sink;

/* A parsed name: NUL-terminated at path_len, '@' first when abstract, every byte readable. */
static void check_sock(const struct ai_sock *k)
{
	if (!k->path) {
		if (k->path_len || k->abstract)
			abort();
		return;
	}
	if (k->path[k->path_len] != '\0' || (k->abstract && (k->path_len == 0 || k->path[0] != '@')))
		abort();
	for (size_t i = 0; i < k->path_len; i++)
		sink += (unsigned char)k->path[i];
}

struct walk {
	const char *buf;
	size_t size;
	size_t msgs;
};

static int on_msg(void *arg, const struct nlmsghdr *h)
{
	struct walk *w = arg;
	/* The walk hands out only messages inside the bytes received. */
	if ((const char *)h < w->buf || h->nlmsg_len < NLMSG_HDRLEN ||
	    h->nlmsg_len > (size_t)(w->buf + w->size - (const char *)h))
		abort();
	struct ai_sock k;
	for (int proto = IPPROTO_TCP; proto; proto = proto == IPPROTO_TCP ? IPPROTO_UDP : 0) {
		memset(&k, 0, sizeof(k));
		if (ai_sp_inet_msg(h, proto, &k))
			sink += (unsigned)(k.lport + k.rport + k.inode + k.laddr[15] + k.raddr[15]);
	}
	memset(&k, 0, sizeof(k));
	ai_sp_unix_msg(h, &k);
	check_sock(&k);
	free(k.path);
	/* Stop after a few hundred, as sockets.c does at its bound. */
	return ++w->msgs < 512 ? 0 : -1;
}

static void netlink(const char *buf, size_t size)
{
	uint32_t seq = 0;
	if (size >= sizeof(struct nlmsghdr))
		memcpy(&seq, buf + offsetof(struct nlmsghdr, nlmsg_seq), sizeof(seq));
	struct walk w = {buf, size, 0};
	int error = 0;
	enum ai_sp_walk r = ai_sp_nl_walk(buf, size, seq, on_msg, &w, &error);
	if (r == AI_SP_FAILED && error == 0)
		sink++; /* an NLMSG_ERROR of 0 is an acknowledgement: sockets.c reports it as an error */
	w.msgs = 0;
	ai_sp_nl_walk(buf, size, seq + 1, on_msg, &w, &error);
}

static void line(const char *l, size_t len)
{
	/* sockets.c hands each line NUL-terminated in place: an exact-size copy, so a read past the
	 * NUL is a heap overflow the sanitizers report. */
	char *c = malloc(len + 1);
	if (!c)
		return;
	memcpy(c, l, len);
	c[len] = '\0';
	struct ai_sock k;
	for (size_t words = 1; words <= 4; words += 3) {
		memset(&k, 0, sizeof(k));
		k.family = words == 1 ? AF_INET : AF_INET6;
		if (ai_sp_inet_line(c, words, &k))
			sink += (unsigned)(k.lport + k.rport + k.inode + k.uid);
		if (k.path)
			abort();
	}
	memset(&k, 0, sizeof(k));
	if (ai_sp_unix_line(c, c + len, &k)) {
		check_sock(&k);
		if (k.path && k.abstract != (k.path_len > 0 && k.path[0] == '@'))
			abort();
	}
	free(k.path);
	free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	netlink(buf, size);
	size_t start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && buf[i] != '\n')
			continue;
		line(buf + start, i - start);
		start = i + 1;
	}
	free(buf);
	return 0;
}

#include "tests/fuzz/driver.inc"
