/* Pure parsers of /proc text: stat, status, maps, limits, namespace links, NUL-separated blocks
 * (cmdline, environ) and fdinfo, plus the classification of an fd link. No I/O, no allocation,
 * no logging: the caller reads the bytes (processes.c and fds.c read them while the target is
 * frozen) and owns them; every slice returned points into the caller's buffer. Inputs are
 * (pointer, length) and need not be NUL-terminated; a process controls much of what they hold
 * (its comm, its argv, the names of the files it maps), so nothing here trusts them. */
#ifndef AI_PROCPARSE_H
#define AI_PROCPARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "common/bundle.h"

/* A piece of the caller's buffer. */
struct ai_pp_slice {
	const char *s;
	size_t len;
};

/* /proc/PID/stat: the fields processes.json uses. */
struct ai_pp_stat {
	struct ai_pp_slice comm; /* between the first '(' and the last ')' */
	char state;
	int64_t ppid;
	int64_t threads;    /* -1 when unparsable */
	uint64_t starttime; /* clock ticks since boot */
};
/* 0, or -1 when the comm brackets, the state, the ppid or the start time are missing or bad. */
int ai_pp_parse_stat(const char *buf, size_t len, struct ai_pp_stat *st);

/* The value of "Key:" in a status-like file, without the blanks around it and the newline; false
 * when no line starts with "Key:". */
bool ai_pp_field(const char *buf, size_t len, const char *key, struct ai_pp_slice *out);
/* Consume the next blank-separated unsigned decimal of *sl; false at the end, on garbage or on
 * overflow. */
bool ai_pp_next_u64(struct ai_pp_slice *sl, uint64_t *v);
/* A non-empty run of hex digits (the capability masks). */
bool ai_pp_is_hex(const struct ai_pp_slice *sl);
/* A hex slice (an address of a maps line) as a number; false when empty, not hex, or more than
 * 64 bits. */
bool ai_pp_hex_u64(struct ai_pp_slice sl, uint64_t *v);

/* "mnt:[4026531840]" -> 4026531840; false when malformed. */
bool ai_pp_ns_inode(const char *link, size_t len, uint64_t *ino);

/* One line of /proc/PID/maps. */
struct ai_pp_map {
	struct ai_pp_slice start, end, perms, offset, dev; /* as printed: hex addresses, "r-xp", "fd:01" */
	struct ai_pp_slice path;			   /* the rest of the line, may be empty */
	uint64_t inode;
};
/* Parse one line of /proc/PID/maps (of any process, /proc/self/maps too), given WITHOUT its
 * newline: "start-end perms offset dev inode   path". The path is everything after the padding
 * and may hold spaces (the kernel escapes only '\n'); "[heap]", "[stack]" and the like are paths
 * too. start, end and offset are checked to be hex, so ai_pp_hex_u64 turns them into numbers.
 * 0, or -1 on a line that is not a maps line (a cut one included). */
int ai_pp_parse_map(const char *line, size_t len, struct ai_pp_map *m);

/* One line of /proc/PID/limits (not the header). */
struct ai_pp_limit {
	struct ai_pp_slice name, soft, hard, units; /* units is empty for unitless limits */
};
/* 0, or -1 when the line does not end in "soft hard [units]" with numeric or "unlimited" values. */
int ai_pp_parse_limit(const char *line, size_t len, struct ai_pp_limit *l);

/* The next piece of a NUL-separated block (cmdline, environ) from *p up to end; a last piece
 * without its NUL (a rewritten argv, a read cut at the cap) still counts. False at the end. */
bool ai_pp_next_nul(const char **p, const char *end, struct ai_pp_slice *out);

/* Clock ticks since boot (stat's starttime) as ns since the epoch, given the boot time in ns
 * since the epoch and the tick rate (<= 0: 100). */
int64_t ai_pp_ticks_to_ns(int64_t boot_epoch_ns, uint64_t ticks, long hz);

/* The kernel's marks on a /proc link (exe, fd/N, map_files): an unlinked file ends in
 * " (deleted)", a memfd starts with "/memfd:". */
bool ai_pp_link_deleted(const char *link, size_t len);
bool ai_pp_link_memfd(const char *link, size_t len);

/* The fds.json type of an fd from its link text and, when fstatat worked, its inode (st, NULL
 * otherwise): the text decides for the kernel's pseudo files, the mode for paths, so a file
 * named "/dev/x" in the container is not a device. */
enum ai_fd_type ai_pp_fd_classify(const char *link, size_t len, const struct stat *st);

/* The fields of /proc/PID/fdinfo/N that fds.json uses; the first valid line of each counts. */
struct ai_pp_fdinfo {
	bool has_pos, has_flags, has_mnt, has_ino;
	uint64_t pos, mnt_id, ino;
	char flags[24]; /* octal digits as the kernel printed them, NUL-terminated */
};
void ai_pp_parse_fdinfo(const char *buf, size_t len, struct ai_pp_fdinfo *fi);

#endif
