/* Pure parsers of the two socket sources of sockets.json: sock_diag replies (netlink messages of
 * inet_diag_msg and unix_diag_msg with its attributes) and the lines of /proc/PID/net/{tcp,tcp6,
 * udp,udp6,unix}. No I/O and no logging; the only allocation is a unix socket's name. The kernel
 * writes these bytes, but a process of the target chooses what a unix name holds (any byte,
 * NULs included), so nothing here trusts a length it did not check. Fuzzed by
 * tests/fuzz/sockparse.c. */
#ifndef AI_SOCKPARSE_H
#define AI_SOCKPARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct nlmsghdr;

struct ai_sock_owner {
	pid_t pid;
	int fd;
};

/* One socket of sockets.json. The parsers fill what their source says; the owners are added
 * by sockets.c from /proc/PID/fd. */
struct ai_sock {
	int family;	  /* AF_INET, AF_INET6, AF_UNIX */
	int proto;	  /* IPPROTO_TCP, IPPROTO_UDP, 0 for unix */
	int type;	  /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	int state;	  /* TCP_* numbering, as both sources use */
	bool unix_listen; /* /proc/net/unix reports listening as a flag, not a state */
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	char *path; /* unix name bytes (malloc'd, NUL-terminated), abstract ones starting with '@' */
	size_t path_len;
	bool abstract;
	bool has_peer, has_uid, has_queues;
	uint32_t peer;
	uint64_t inode;
	uint32_t uid;
	uint64_t rq, wq;
	struct ai_sock_owner *owners;
	size_t nowners, owners_cap;
};

/* ---- sock_diag */

enum ai_sp_walk {
	AI_SP_MORE,   /* no NLMSG_DONE yet: read again */
	AI_SP_DONE,   /* NLMSG_DONE of our sequence */
	AI_SP_STOP,   /* fn returned < 0 */
	AI_SP_FAILED, /* NLMSG_ERROR of our sequence: *error is its errno, or -1 when it is short */
};
/* fn gets every SOCK_DIAG_BY_FAMILY message of the sequence. */
typedef int (*ai_sp_msg_fn)(void *ctx, const struct nlmsghdr *h);
/* One recv's worth of netlink messages: the n bytes at buf. */
enum ai_sp_walk ai_sp_nl_walk(const void *buf, size_t n, uint32_t seq, ai_sp_msg_fn fn, void *ctx,
			      int *error);

/* An inet_diag_msg of a dump of proto (IPPROTO_TCP or IPPROTO_UDP) into the zeroed *k; false
 * when the message is too short to hold one. */
bool ai_sp_inet_msg(const struct nlmsghdr *h, int proto, struct ai_sock *k);
/* A unix_diag_msg and its NAME, PEER, RQLEN and UID attributes into the zeroed *k (k->path is
 * the caller's to free, also when it returns false); false when too short. */
bool ai_sp_unix_msg(const struct nlmsghdr *h, struct ai_sock *k);

/* ---- /proc/PID/net: one line after the header, NUL-terminated (end points at the NUL) */

/* "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ..." of tcp, udp (words 1) or tcp6,
 * udp6 (words 4); the caller sets family, proto and type. */
bool ai_sp_inet_line(const char *line, size_t words, struct ai_sock *k);
/* "Num RefCount Protocol Flags Type St Inode Path" of unix (k->path is the caller's to free,
 * also when it returns false). */
bool ai_sp_unix_line(const char *line, const char *end, struct ai_sock *k);

#endif
