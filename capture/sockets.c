/* sockets.json: the TCP, UDP and UNIX sockets of the target's network namespace, each with the
 * (pid, fd) pairs that hold it. sock_diag is exact (abstract names with NULs, peers, queues);
 * /proc/PID/net/{tcp,tcp6,udp,udp6,unix} is the fallback when we cannot enter the netns. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include "capture/capture.h"
#include "capture/sockparse.h"
#include "common/cleanup.h"
#include "common/safeopen.h"

#define COLLECTOR   "sockets"
#define MAX_SOCKETS (1u << 20)
/* /proc/net/tcp lines are 150 bytes: this holds ~400k sockets per file. */
#define PROC_NET_MAX (64u << 20)
#define NL_BUF	     65536
/* Every recv returns at least one message, so a dump cannot need more recvs than sockets. */
#define NL_MAX_RECV (MAX_SOCKETS + 1024)

/* Set by the hidden `snapshot --sockets-source proc` so tests reach the fallback. */
bool ai_sockets_force_proc;

struct sockset {
	struct ai_sock *v;
	size_t n, cap;
	bool full;
};

static void sockset_free(struct sockset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].owners);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}
#define cleanup_sockset __attribute__((cleanup(sockset_free)))

/* NULL when the bound is reached (logged once) or memory ran out. */
static struct ai_sock *sock_new(struct ai_capture *cap, struct sockset *s)
{
	if (s->n >= MAX_SOCKETS) {
		if (!s->full)
			ai_log(cap, AI_LOG_TRUNCATED, COLLECTOR,
			       "more than %u sockets: the rest are not recorded", MAX_SOCKETS);
		s->full = true;
		return NULL;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct ai_sock *n = realloc(s->v, ncap * sizeof(*n));
		if (!n)
			return NULL;
		s->v = n;
		s->cap = ncap;
	}
	struct ai_sock *k = &s->v[s->n++];
	memset(k, 0, sizeof(*k));
	return k;
}

/* ---- sock_diag ---- */

/* Create the diag socket inside the target netns. Returns the socket, -1 with err when we
 * merely cannot (fall back to /proc), or -2 when we could not return to our own netns: the
 * capture must stop, every later open would resolve in the container's network. */
static int diag_socket_in(const struct ai_capture *cap, const struct ai_proc *p, ai_err_t *err)
{
	cleanup_close int target = openat(p->procfd, "ns/net", O_RDONLY | O_CLOEXEC);
	if (target < 0)
		return ai_err_set(err, errno, "open /proc/%d/ns/net", (int)p->pid);
	struct stat st;
	if (fstat(target, &st) < 0)
		return ai_err_set(err, errno, "stat /proc/%d/ns/net", (int)p->pid);
	if (cap->netns && st.st_ino != cap->netns)
		return ai_err_set(err, 0, "pid %d is no longer in net ns %" PRIu64, (int)p->pid, cap->netns);
	cleanup_close int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return ai_err_set(err, errno, "open /proc/thread-self/ns/net");
	if (setns(target, CLONE_NEWNET) < 0)
		return ai_err_set(err, errno, "setns into the target net ns");
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int saved = errno;
	if (setns(self, CLONE_NEWNET) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		ai_err_set(err, e, "setns back to our own net ns");
		return -2;
	}
	if (fd < 0)
		return ai_err_set(err, saved, "socket(NETLINK_SOCK_DIAG)");
	/* A kernel that stops answering must not hang the capture. */
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* What a dump's messages go into: inet sockets of proto, or unix sockets. */
struct dump_ctx {
	struct ai_capture *cap;
	struct sockset *s;
	int proto; /* IPPROTO_TCP, IPPROTO_UDP, or 0 for unix */
};

static int diag_msg(void *arg, const struct nlmsghdr *h)
{
	struct dump_ctx *c = arg;
	if (h->nlmsg_flags & NLM_F_DUMP_INTR)
		ai_log(c->cap, AI_LOG_INFO, COLLECTOR,
		       "sock_diag dump interrupted by a change: may be inconsistent");
	struct ai_sock *k = sock_new(c->cap, c->s);
	if (!k)
		return -1;
	if (!(c->proto ? ai_sp_inet_msg(h, c->proto, k) : ai_sp_unix_msg(h, k))) {
		free(k->path);
		c->s->n--; /* too short to be one: skipped */
	}
	return 0;
}

/* Send one dump request and feed every answer to diag_msg. */
static int diag_dump(struct ai_capture *cap, int fd, void *req, size_t reqlen, uint32_t seq,
		     struct dump_ctx *ctx, ai_err_t *err)
{
	struct {
		struct nlmsghdr h;
		char body[64];
	} msg = {0};
	if (reqlen > sizeof(msg.body))
		return ai_err_set(err, EINVAL, "diag request too large");
	msg.h.nlmsg_len = (uint32_t)NLMSG_LENGTH(reqlen);
	msg.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.h.nlmsg_seq = seq;
	memcpy(NLMSG_DATA(&msg.h), req, reqlen);
	struct sockaddr_nl nl = {.nl_family = AF_NETLINK};
	if (sendto(fd, &msg, msg.h.nlmsg_len, 0, (struct sockaddr *)&nl, sizeof(nl)) < 0)
		return ai_err_set(err, errno, "send sock_diag request");

	cleanup_free char *buf = malloc(NL_BUF);
	if (!buf)
		return ai_err_set(err, ENOMEM, "sock_diag buffer");
	for (size_t iter = 0; iter < NL_MAX_RECV; iter++) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, buf, NL_BUF, 0, (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ai_err_set(err, errno, "recv sock_diag");
		}
		if (n == 0)
			return ai_err_set(err, 0, "sock_diag: connection closed mid-dump");
		if (from.nl_pid != 0)
			continue; /* not the kernel */
		int error = 0;
		switch (ai_sp_nl_walk(buf, (size_t)n, seq, diag_msg, ctx, &error)) {
		case AI_SP_MORE:
			continue;
		case AI_SP_DONE:
		case AI_SP_STOP: /* the bound was reached; the rest is dropped, logged */
			return 0;
		case AI_SP_FAILED:
			if (error < 0)
				return ai_err_set(err, 0, "sock_diag: short error message");
			return ai_err_set(err, error, "sock_diag dump");
		}
	}
	return ai_err_set(err, 0, "sock_diag dump did not end after %u reads", NL_MAX_RECV);
}

static int collect_netlink(struct ai_capture *cap, int fd, struct sockset *s, ai_err_t *err)
{
	static const struct {
		int family, proto;
		const char *what;
	} kinds[] = {
	    {AF_INET, IPPROTO_TCP, "tcp"},
	    {AF_INET6, IPPROTO_TCP, "tcp6"},
	    {AF_INET, IPPROTO_UDP, "udp"},
	    {AF_INET6, IPPROTO_UDP, "udp6"},
	};
	uint32_t seq = 1;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct inet_diag_req_v2 req = {
		    .sdiag_family = (uint8_t)kinds[i].family,
		    .sdiag_protocol = (uint8_t)kinds[i].proto,
		    .idiag_states = ~0u,
		};
		struct dump_ctx ctx = {cap, s, kinds[i].proto};
		if (diag_dump(cap, fd, &req, sizeof(req), seq++, &ctx, err) < 0)
			return ai_err_wrap(err, "%s", kinds[i].what);
	}
	struct unix_diag_req ureq = {
	    .sdiag_family = AF_UNIX,
	    .udiag_states = ~0u,
	    .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID,
	};
	struct dump_ctx uctx = {cap, s, 0};
	if (diag_dump(cap, fd, &ureq, sizeof(ureq), seq++, &uctx, err) < 0)
		return ai_err_wrap(err, "unix");
	return 0;
}

/* ---- /proc/PID/net ---- */

static int collect_proc_file(struct ai_capture *cap, const struct ai_proc *pr, const char *name, int family,
			     int proto, struct sockset *s)
{
	char rel[32];
	snprintf(rel, sizeof(rel), "net/%s", name);
	cleanup_free char *data = NULL;
	size_t len = 0;
	bool truncated = false;
	ai_err_t err = {0};
	if (ai_read_small(pr->procfd, rel, PROC_NET_MAX, &data, &len, &truncated, &err) < 0) {
		/* No IPv6 in the kernel means no tcp6/udp6: nothing lost. */
		ai_log(cap, err.errnum == ENOENT ? AI_LOG_INFO : AI_LOG_ERROR, COLLECTOR, "/proc/%d/%s: %s",
		       (int)pr->pid, rel, err.msg);
		return 0;
	}
	if (truncated) {
		ai_log(cap, AI_LOG_TRUNCATED, COLLECTOR, "/proc/%d/%s larger than %u bytes, rest dropped",
		       (int)pr->pid, rel, PROC_NET_MAX);
		char *nl = memrchr(data, '\n', len);
		len = nl ? (size_t)(nl - data) + 1 : 0;
	}
	char *p = data, *end = data + len;
	size_t lineno = 0;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		*e = '\0';
		if (lineno++ > 0 && e > p) { /* line 1 is the header */
			struct ai_sock *k = sock_new(cap, s);
			if (!k)
				return 0;
			bool ok;
			if (family == AF_UNIX) {
				ok = ai_sp_unix_line(p, e, k);
			} else {
				k->family = family;
				k->proto = proto;
				k->type = proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
				ok = ai_sp_inet_line(p, family == AF_INET6 ? 4 : 1, k);
			}
			if (!ok) {
				free(k->path);
				s->n--;
				ai_log_path(cap, AI_LOG_ERROR, COLLECTOR, p, (size_t)(e - p),
					    "/proc/%d/%s line %zu not understood, skipped", (int)pr->pid, rel,
					    lineno);
			}
		}
		p = e + 1;
	}
	return 0;
}

static void collect_proc(struct ai_capture *cap, const struct ai_proc *pr, struct sockset *s)
{
	collect_proc_file(cap, pr, "tcp", AF_INET, IPPROTO_TCP, s);
	collect_proc_file(cap, pr, "tcp6", AF_INET6, IPPROTO_TCP, s);
	collect_proc_file(cap, pr, "udp", AF_INET, IPPROTO_UDP, s);
	collect_proc_file(cap, pr, "udp6", AF_INET6, IPPROTO_UDP, s);
	collect_proc_file(cap, pr, "unix", AF_UNIX, 0, s);
}

/* ---- owners ---- */

static int cmp_by_inode(const void *a, const void *b, void *arg)
{
	const struct ai_sock *v = arg;
	uint64_t x = v[*(const size_t *)a].inode, y = v[*(const size_t *)b].inode;
	return x < y ? -1 : x > y;
}

static void add_owner(struct ai_sock *k, pid_t pid, int fd)
{
	if (k->nowners == k->owners_cap) {
		size_t ncap = k->owners_cap ? k->owners_cap * 2 : 2;
		struct ai_sock_owner *n = realloc(k->owners, ncap * sizeof(*n));
		if (!n)
			abort(); /* same policy as ai_buf: no sane partial JSON */
		k->owners = n;
		k->owners_cap = ncap;
	}
	k->owners[k->nowners++] = (struct ai_sock_owner){pid, fd};
}

static void owners_of(struct ai_capture *cap, const struct ai_proc *pr, struct sockset *s, const size_t *idx)
{
	int dfd = openat(pr->procfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		ai_log(cap, AI_LOG_WARNING, COLLECTOR, "pid %d: fd dir: %s (exited?)", (int)pr->pid,
		       strerror(errno));
		return;
	}
	cleanup_closedir DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		ai_log(cap, AI_LOG_ERROR, COLLECTOR, "pid %d: fd dir: %s", (int)pr->pid, strerror(errno));
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		char *endp;
		errno = 0;
		long fd = strtol(de->d_name, &endp, 10);
		if (*endp || endp == de->d_name || fd < 0 || fd > INT32_MAX)
			continue;
		char link[64];
		ssize_t n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue; /* closed meanwhile, or not ours to read */
		link[n] = '\0';
		unsigned long long ino;
		int used = 0;
		if (sscanf(link, "socket:[%llu]%n", &ino, &used) != 1 || used != n)
			continue;
		size_t lo = 0, hi = s->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (s->v[idx[mid]].inode < ino)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* The same inode can appear twice in a dump racing a change; give it to each. */
		for (; lo < s->n && s->v[idx[lo]].inode == ino; lo++)
			add_owner(&s->v[idx[lo]], pr->pid, (int)fd);
	}
}

static int map_owners(struct ai_capture *cap, struct sockset *s, ai_err_t *err)
{
	if (s->n == 0)
		return 0;
	cleanup_free size_t *idx = malloc(s->n * sizeof(*idx));
	if (!idx)
		return ai_err_set(err, ENOMEM, "socket index");
	for (size_t i = 0; i < s->n; i++)
		idx[i] = i;
	qsort_r(idx, s->n, sizeof(*idx), cmp_by_inode, s->v);
	size_t n = ai_capture_nprocs(cap);
	for (size_t i = 0; i < n; i++)
		owners_of(cap, ai_capture_proc(cap, i, NULL), s, idx);
	return 0;
}

/* ---- JSON ---- */

static const char *state_name(const struct ai_sock *k)
{
	static const char *const tcp[] = {
	    NULL,    "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",	"TIME_WAIT",
	    "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",	 "NEW_SYN_RECV"};
	if (k->family == AF_UNIX && k->unix_listen)
		return "LISTEN";
	/* Datagram and unix sockets reuse TCP_CLOSE for "not connected"; ss calls it UNCONN. */
	if (k->state == 7 && (k->proto == IPPROTO_UDP || k->family == AF_UNIX))
		return "UNCONN";
	if (k->state > 0 && (size_t)k->state < sizeof(tcp) / sizeof(tcp[0]))
		return tcp[k->state];
	return "UNKNOWN";
}

static const char *type_name(int type)
{
	switch (type) {
	case SOCK_STREAM:
		return "stream";
	case SOCK_DGRAM:
		return "dgram";
	case SOCK_SEQPACKET:
		return "seqpacket";
	default:
		return "other";
	}
}

static void json_endpoint(struct ai_json *j, const char *key, int family, const uint8_t *addr, uint16_t port)
{
	char a[INET6_ADDRSTRLEN];
	if (!inet_ntop(family, addr, a, sizeof(a)))
		a[0] = '\0';
	ai_json_key(j, key);
	ai_json_obj_begin(j);
	ai_json_kstr(j, "addr", a);
	ai_json_kuint(j, "port", port);
	ai_json_obj_end(j);
}

static void json_sock(struct ai_json *j, const struct ai_sock *k)
{
	ai_json_obj_begin(j);
	bool un = k->family == AF_UNIX;
	ai_json_kstr(j, "family", un ? "unix" : k->family == AF_INET ? "inet" : "inet6");
	ai_json_kstr(j, "proto", un ? "unix" : k->proto == IPPROTO_TCP ? "tcp" : "udp");
	ai_json_kstr(j, "type", type_name(k->type));
	ai_json_kstr(j, "state", state_name(k));
	if (un) {
		if (k->path)
			ai_json_kbytes(j, "path", k->path, k->path_len);
		else
			ai_json_kstr(j, "path", NULL);
		ai_json_kbool(j, "abstract", k->abstract);
		if (k->has_peer && k->peer)
			ai_json_kuint(j, "peer_inode", k->peer);
		else
			ai_json_kstr(j, "peer_inode", NULL);
	} else {
		json_endpoint(j, "local", k->family, k->laddr, k->lport);
		json_endpoint(j, "remote", k->family, k->raddr, k->rport);
	}
	ai_json_kuint(j, "inode", k->inode);
	if (k->has_uid)
		ai_json_kuint(j, "uid", k->uid);
	else
		ai_json_kstr(j, "uid", NULL);
	if (k->has_queues) {
		ai_json_kuint(j, "rx_queue", k->rq);
		ai_json_kuint(j, "tx_queue", k->wq);
	} else {
		ai_json_kstr(j, "rx_queue", NULL);
		ai_json_kstr(j, "tx_queue", NULL);
	}
	ai_json_key(j, "owners");
	ai_json_arr_begin(j);
	for (size_t i = 0; i < k->nowners; i++) {
		ai_json_obj_begin(j);
		ai_json_kint(j, "pid", k->owners[i].pid);
		ai_json_kint(j, "fd", k->owners[i].fd);
		ai_json_obj_end(j);
	}
	ai_json_arr_end(j);
	ai_json_obj_end(j);
}

/* The network namespace is the pod's: entered through the first container's target process,
 * its sockets owned by the processes of every container. */
static int collect_sockets(struct ai_capture *cap, void **state, ai_err_t *err)
{
	const struct ai_proc *pr = ai_target_main(&cap->containers[0].target);
	if (!pr)
		return ai_err_set(err, 0, "no target process");

	struct sockset s cleanup_sockset = {0};
	const char *source = "proc";
	if (!ai_sockets_force_proc) {
		ai_err_t nerr = {0};
		cleanup_close int fd = diag_socket_in(cap, pr, &nerr);
		if (fd == -2) {
			*err = nerr;
			return -1;
		}
		if (fd >= 0 && collect_netlink(cap, fd, &s, &nerr) == 0) {
			source = "netlink";
		} else {
			/* One source for the whole document: a half-netlink, half-proc list
			 * could not say which fields are exact. */
			ai_log(cap, AI_LOG_INFO, COLLECTOR, "sock_diag unavailable, reading /proc/%d/net: %s",
			       (int)pr->pid, nerr.msg);
			sockset_free(&s);
		}
	}
	if (strcmp(source, "proc") == 0)
		collect_proc(cap, pr, &s);

	if (map_owners(cap, &s, err) < 0)
		return -1;

	struct ai_buf doc cleanup_buf = {0};
	struct ai_json j;
	ai_json_init(&j, &doc);
	ai_json_obj_begin(&j);
	ai_json_kstr(&j, "source", source);
	ai_json_key(&j, "sockets");
	ai_json_arr_begin(&j);
	for (size_t i = 0; i < s.n; i++)
		json_sock(&j, &s.v[i]);
	ai_json_arr_end(&j);
	ai_json_obj_end(&j);
	return ai_capture_put_json(cap, AI_M_SOCKETS, &doc, err);
}

const struct ai_collector ai_collector_sockets = {
    .name = "sockets",
    .flags = AI_COLL_VOLATILE | AI_COLL_POD,
    .collect = collect_sockets,
};
