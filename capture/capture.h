/* The capture context shared by the collectors. One collector per evidence kind, each behind
 * a small ops table (CRIU's fdtype_ops): { name, collect }. */
#ifndef AI_CAPTURE_H
#define AI_CAPTURE_H
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/buf.h"
#include "common/bundle.h"
#include "common/err.h"
#include "common/json.h"

#define AI_DEFAULT_FD_CAP (64ull << 20)

/* One process of the target container, pinned: a /proc/PID dirfd plus a pidfd. */
struct ai_proc {
	pid_t pid;
	int procfd; /* O_PATH|O_DIRECTORY on /proc/PID */
	int pidfd;  /* -1 when pidfd_open is not available */
};

struct ai_target {
	pid_t pid;	/* the pid given on the command line */
	uint64_t mntns; /* inode of its mount namespace */
	uint64_t netns;
	char *cgroup;	       /* its cgroup line(s) */
	char *container_id;    /* 64-hex id found in the cgroup path, or NULL */
	struct ai_proc *procs; /* every process sharing mntns, sorted by pid */
	size_t nprocs;
};

/* What the mounts collector learns that the upperdir collector needs. */
struct ai_overlay {
	bool found;
	char *upperdir; /* host path from mountinfo */
	char *workdir;
	char **lowerdirs;
	size_t nlower;
	char *options; /* the full super options string */
};

struct ai_capture {
	struct ai_bundle *bundle;
	struct ai_target target;
	struct ai_overlay overlay;
	int proc_fd;	  /* /proc */
	int host_root_fd; /* --host-root, "/" by default */
	uint64_t fd_cap;  /* bytes kept of a deleted-open file or memfd */
	uint64_t exe_cap;
	const char *trigger;

	/* What processes and fds read while frozen, turned into JSON after the thaw. */
	struct ai_procs_raw *procs_raw;
	struct ai_fds_raw *fds_raw;

	/* The capture log (a JSON array of events) and its counters. */
	struct ai_buf log;
	struct ai_json logj;
	unsigned nerrors, nwarnings, ntruncated, nskipped;
};

/* Log levels: an error makes the bundle partial ("complete": false); a warning (a process
 * that exited mid-capture) and a skip (a FIFO not opened) and a truncation do not. */
enum ai_log_level { AI_LOG_ERROR, AI_LOG_WARNING, AI_LOG_SKIP, AI_LOG_TRUNCATED, AI_LOG_INFO };

void ai_log(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same, with the hostile path of the item as a separate field. */
void ai_log_path(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *path,
		 size_t path_len, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

struct ai_collector {
	const char *name;
	/* Returns < 0 only when the whole kind could not be collected (logged by the caller);
	 * a bad item is logged with ai_log and skipped. */
	int (*collect)(struct ai_capture *cap, ai_err_t *err);
};

/* fds in two halves (ai_collector_fds.collect runs both): snapshot.c calls ai_fds_read while
 * the target is frozen (it only reads /proc into cap->fds_raw and opens the deleted/memfd
 * files to store: no logging, no bundle writes, several threads) and ai_fds_finish after the
 * thaw (logs, stores content through the fds opened while frozen, writes fds.json). */
int ai_fds_read(struct ai_capture *cap, ai_err_t *err);
int ai_fds_finish(struct ai_capture *cap, ai_err_t *err);
/* processes the same way: ai_processes_read reads stat, status, cmdline, environ, the cwd/root/
 * exe/ns links, cgroup, maps and limits into cap->procs_raw and opens /proc/PID/exe (threads, no
 * logging); ai_processes_finish logs, hashes or stores the executables, writes processes.json. */
int ai_processes_read(struct ai_capture *cap, ai_err_t *err);
int ai_processes_finish(struct ai_capture *cap, ai_err_t *err);

extern const struct ai_collector ai_collector_processes;
extern const struct ai_collector ai_collector_fds;
extern const struct ai_collector ai_collector_sockets;
extern const struct ai_collector ai_collector_mounts;
extern const struct ai_collector ai_collector_upper;

/* sockets.c: read /proc/PID/net files even when NETLINK_SOCK_DIAG works (tests cover both). */
extern bool ai_sockets_force_proc;

/* target.c: the inode number a namespace link ("mnt:[4026531840]") at dirfd/path names;
 * -1 with errno when unreadable or malformed. */
int ai_ns_inode(int dirfd, const char *path, uint64_t *ino);
/* target.c: a directory stream over the /proc at proc_fd, on a descriptor of its own; NULL with
 * errno. */
DIR *ai_proc_opendir(int proc_fd);
/* target.c: the pid a /proc entry names; 0 for the others ("self", "sys", ...). */
pid_t ai_proc_pid(const char *name);
/* target.c: find every process sharing pid's mount namespace, pin them. */
int ai_target_open(struct ai_capture *cap, pid_t pid, ai_err_t *err);
void ai_target_close(struct ai_target *t);
/* True while the pinned process is still the same process (pidfd still open and alive). */
bool ai_proc_alive(const struct ai_proc *p);

/* snapshot.c */
/* Freeze hooks around the volatile collectors (processes, fds, sockets; mounts too). */
struct ai_freeze_hooks {
	int (*freeze)(void *ctx, ai_err_t *err); /* 0 once frozen */
	void (*thaw)(void *ctx);		 /* never fails from the caller's view */
	const char *method;			 /* "cgroup2" | "cgroup1" */
	void *ctx;
};
struct ai_snapshot_opts {
	pid_t pid;
	int outdir_fd;
	const char *outdir;    /* for the printed path */
	const char *name;      /* NULL: afterimage-<host>-<pid>-<utc> */
	const char *host_root; /* NULL: "/" */
	uint64_t fd_cap;
	const char *trigger; /* "manual", "http", "sigterm", "exec", "exit", "baseline" */
	EVP_PKEY *key;
	const char *const *pod;		      /* name, namespace, uid (NULL entries when unknown) */
	const char *reason;		      /* free text from the trigger, NULL for none */
	const struct ai_freeze_hooks *freeze; /* NULL: no freezing */
	bool freeze_all;		      /* keep frozen through the upperdir copy */
	/* When the target is gone (exit trigger): the overlay it had, so the upperdir is still
	 * captured. Used only when no process is left to pin. */
	const struct ai_overlay *overlay_hint;
};
struct ai_snapshot_result {
	char path[4096];
	char sha256[AI_SHA256_HEXLEN];
	bool complete;
	unsigned nerrors;
	bool frozen;
	double freeze_ms;
};
int ai_snapshot(const struct ai_snapshot_opts *o, struct ai_snapshot_result *r, ai_err_t *err);

/* A collector writes one JSON document member; helper for the common pattern. */
int ai_capture_put_json(struct ai_capture *cap, const char *member, struct ai_buf *doc, ai_err_t *err);

#endif
