/* The capture context shared by the collectors, and the collectors' ops table. */
#ifndef AI_CAPTURE_H
#define AI_CAPTURE_H
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/buf.h"
#include "common/bundle.h"
#include "common/err.h"
#include "common/json.h"
#include "common/spool.h"

#define AI_DEFAULT_FD_CAP	 (64ull << 20)
#define AI_DEFAULT_EXE_CAP	 (256ull << 20)
#define AI_DEFAULT_FILE_CAP	 (256ull << 20)
#define AI_DEFAULT_UPPER_BUDGET	 (2ull << 30)
#define AI_DEFAULT_OUTPUT_BUDGET (4ull << 30)
/* --memory: bytes of core kept of one process, and of all of them (a budget: what it cuts makes
 * the bundle partial). */
#define AI_DEFAULT_MEMORY_CAP	(256ull << 20)
#define AI_DEFAULT_MEMORY_TOTAL (1ull << 30)
enum ai_memory_mode { AI_MEMORY_OFF, AI_MEMORY_ANON, AI_MEMORY_ALL };
/* What the output budget always leaves free on the output directory's filesystem. */
#define AI_OUTPUT_FREE_RESERVE (16ull << 20)

/* One process of the target container, pinned: a /proc/PID dirfd plus a pidfd. */
struct ai_proc {
	pid_t pid;
	int procfd; /* O_PATH|O_DIRECTORY on /proc/PID */
	int pidfd;  /* -1 when pidfd_open is not available */
	/* Its mount namespace link was unreadable (EACCES: no CAP_SYS_PTRACE over a process that
	 * is not dumpable): taken as the target's because it is in the target's cgroup. */
	bool ns_by_cgroup;
};

/* The processes of one container, found from a pid: every process sharing its mount namespace. */
struct ai_target {
	pid_t pid;	       /* the pid given on the command line */
	uint64_t mntns;	       /* inode of its mount namespace */
	char *cgroup;	       /* its cgroup line(s) */
	char *container_id;    /* 64-hex id found in the cgroup path, or NULL */
	struct ai_proc *procs; /* every process sharing mntns, sorted by pid */
	size_t nprocs;
	size_t nbeyond;	    /* more of its processes, not pinned: the maximum was reached */
	size_t npin_failed; /* of its processes that could not be pinned (not because they exited) */
	int pin_errno;	    /* why, for the first of them */
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

/* At most this many containers in one capture (a pod). */
#define AI_MAX_CONTAINERS 32
/* ai_capture.cur of a collector that covers the whole pod (AI_COLL_POD). */
#define AI_CT_ALL ((size_t)-1)

/* Everything that is one container's: a pod has several, sharing the network namespace. */
struct ai_container {
	struct ai_target target; /* no process pinned (nprocs 0) when it was gone at the start */
	struct ai_overlay overlay;
	/* The overlay it had when last seen alive (ai_snapshot_opts.overlay_hint), NULL for none:
	 * the upperdir is still on disk when the processes are gone. */
	const struct ai_overlay *overlay_hint;
	/* identity.c: where its runtime spec was read ("" when not found), for the manifest. */
	char spec_from[256];
	/* identity.c: the image it runs, from containers/storage's container list (podman, CRI-O):
	 * its id (64 hex, "" when not found), its name (bytes, may be empty), the list's host path,
	 * or why there is none ("" when found) */
	char image_id[65];
	char image_name[512];
	size_t image_name_len;
	char image_from[256];
	char image_note[192];
};

/* identity.c: the manifest's "identity" object of container c, whose members have prefix. */
void ai_identity_json(struct ai_json *j, const struct ai_container *c, const char *prefix);

/* The capture context shared by the collectors. What a collector keeps between its phases is
 * its own (the state pointer of struct ai_collector), never a field here. */
struct ai_capture {
	struct ai_bundle *bundle;
	struct ai_container *containers; /* the first one is the target the capture was asked for */
	size_t ncontainers;
	/* The container the running collector covers (AI_CT_ALL for a pod-wide one), and where its
	 * members go: "" when the capture has one container (format 1's layout), else
	 * "containers/<N>/" (AI_M_CONTAINER_FMT). */
	size_t cur;
	char prefix[32];
	uint64_t netns;	  /* the network namespace its containers share */
	int proc_fd;	  /* /proc */
	int host_root_fd; /* --host-root, "/" by default */
	uint64_t fd_cap;  /* bytes kept of a deleted-open file or memfd */
	uint64_t exe_cap; /* bytes kept, and hashed, of an executable */
	/* Logical bytes kept of one upperdir file, and of all of them (holes count: they are
	 * hashed); the output budget is the bundle's (ai_bundle_set_budget). */
	uint64_t file_cap, upper_budget, output_budget;
	/* A budget (not a per-item cap) cut something, or a subtree was not walked: the bundle is
	 * partial ("complete": false) even without an error. The output budget says so itself
	 * (ai_bundle_budget_exhausted). */
	bool budget_cut;
	/* --memory: which mappings go into each process's core, and its caps (memory.c) */
	enum ai_memory_mode memory;
	uint64_t memory_cap, memory_total;
	uint64_t memory_used; /* by the cores of every container so far: --memory-total is the pod's */
	const char *trigger;
	int outdir_fd; /* where spools go (common/spool.h): the output directory, never the target */
	const volatile sig_atomic_t *stop; /* NULL, or set when the capture is to be abandoned */
	bool criu;			   /* --criu: checkpoint the tree with CRIU (criu.c) */
	/* criu.c: the manifest's "criu" object (JSON text), empty when that collector did not run */
	struct ai_buf criu_manifest;

	/* The capture log (a JSON array of events, spooled) and its counters. */
	struct ai_spool log;
	struct ai_json logj;
	unsigned nerrors, nwarnings, ntruncated, nskipped;
};

/* snapshot.c: true once the capture is being abandoned (a signal): a collector with a long loop
 * stops at its next item, and the driver abandons the bundle. */
static inline bool ai_capture_stopping(const struct ai_capture *cap)
{
	return cap->stop && *cap->stop;
}

/* Log levels: an error makes the bundle partial ("complete": false); a warning (a process
 * that exited mid-capture) and a skip (a FIFO not opened) and a truncation do not, unless a
 * budget made the cut (budget_cut). */
enum ai_log_level { AI_LOG_ERROR, AI_LOG_WARNING, AI_LOG_SKIP, AI_LOG_TRUNCATED, AI_LOG_INFO };

void ai_log(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same, with the hostile path of the item as a separate field. */
void ai_log_path(struct ai_capture *cap, enum ai_log_level lvl, const char *collector, const char *path,
		 size_t path_len, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* One evidence kind (CRIU's fdtype_ops): a file of its own plus one row of the table in
 * collectors.c. ai_snapshot drives every row by these fields alone:
 *   1. pin the target; freeze its cgroup;
 *   2. .collect of every AI_COLL_VOLATILE collector, in table order, inside the freeze window;
 *   3. thaw (unless --freeze-all); .finish of those whose .collect succeeded, in table order;
 *   4. .collect (then .finish) of the other collectors, in table order;
 *   5. seal.
 * When no process of the target is left to pin (the exit trigger), only the collectors flagged
 * AI_COLL_WORKS_WITHOUT_TARGET run. A collector that needs what another learns (upper needs the
 * overlay mounts finds) comes after it in the table. */
enum {
	AI_COLL_VOLATILE = 1 << 0,	       /* reads state the target changes: inside the freeze */
	AI_COLL_WORKS_WITHOUT_TARGET = 1 << 1, /* meaningful with no live process (upperdir) */
	/* Runs once for the whole pod (cur AI_CT_ALL, members at the top level): what the pod's
	 * containers share (the sockets of the network namespace). The others run once per
	 * container, their members under its prefix. */
	AI_COLL_POD = 1 << 2,
};

struct ai_collector {
	const char *name; /* the "collector" of its log events and its "collectors" timing entry */
	unsigned flags;
	/* NULL: always runs. An opt-in kind (--memory) says here whether it was asked for: a row
	 * not enabled does not run and has no timing entry. */
	bool (*enabled)(const struct ai_capture *cap);
	/* Phase one. A collector without .finish does all its work here (logs, writes its member).
	 * One with .finish only reads here, possibly on several threads: no logging, no bundle
	 * writes; what it read goes to *state for .finish. < 0 only when the whole kind could not
	 * be collected (logged by the caller); a bad item is logged with ai_log and skipped. */
	int (*collect)(struct ai_capture *cap, void **state, ai_err_t *err);
	/* Phase two, after the thaw, only when .collect succeeded: logs, stores, writes members. */
	int (*finish)(struct ai_capture *cap, void *state, ai_err_t *err);
	/* Frees what .collect left in *state (fds it opened, what it read), whatever happened: the
	 * driver calls it once for every non-NULL state, right after .finish or when abandoning. */
	void (*discard)(void *state);
};

/* collectors.c: the only list of collectors, in the order they run and are reported. */
extern const struct ai_collector *const ai_collectors[];
extern const size_t ai_ncollectors;

extern const struct ai_collector ai_collector_processes;
extern const struct ai_collector ai_collector_fds;
extern const struct ai_collector ai_collector_sockets;
extern const struct ai_collector ai_collector_mounts;
extern const struct ai_collector ai_collector_upper;
extern const struct ai_collector ai_collector_criu;
extern const struct ai_collector ai_collector_memory;
extern const struct ai_collector ai_collector_volumes;
extern const struct ai_collector ai_collector_identity;

/* volumes.c: --volumes (docs/capture.md). */
enum ai_volumes_mode { AI_VOLUMES_EPHEMERAL, AI_VOLUMES_WRITABLE, AI_VOLUMES_NONE };
extern enum ai_volumes_mode ai_volumes_mode;

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
/* target.c: true while the pinned process is still the same process (pidfd still open and
 * alive). */
bool ai_proc_alive(const struct ai_proc *p);
/* target.c: true once the pinned process has exited, a zombie included (a forking target's
 * children exit mid-capture all the time: what they refuse then is a warning, not an error). */
bool ai_proc_exited(const struct ai_proc *p);
/* target.c: find every process sharing pid's mount namespace, pin at most max of them into t
 * (t->nbeyond counts the others); the pod's network namespace is read from pid too. */
int ai_target_open(int proc_fd, pid_t pid, size_t max, struct ai_target *t, uint64_t *netns, ai_err_t *err);
void ai_target_close(struct ai_target *t);
/* target.c: the pinned process of the pid given (the first one when it is gone), NULL when none. */
const struct ai_proc *ai_target_main(const struct ai_target *t);
/* target.c: the container the running collector covers (the first one for a pod-wide one). */
struct ai_container *ai_capture_ct(struct ai_capture *cap);
/* target.c: a member name under the running collector's container prefix, in out; the length,
 * or -1 when it does not fit. */
int ai_capture_member(const struct ai_capture *cap, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* target.c: the end of a walk's index (an array of entries in an object, in doc): closed, then
 * added as member name under the container's prefix; an interrupted capture adds nothing. */
int ai_capture_add_index(struct ai_capture *cap, struct ai_json *j, struct ai_spool *doc, const char *name,
			 ai_err_t *err);
/* target.c: every pinned process of the running collector's container (of every container for
 * a pod-wide one), as one list: how many, and the i-th with
 * the container it belongs to (ct may be NULL). */
size_t ai_capture_nprocs(const struct ai_capture *cap);
const struct ai_proc *ai_capture_proc(const struct ai_capture *cap, size_t i, const struct ai_container **ct);
/* target.c: close what the container pinned and free its overlay. */
void ai_container_fini(struct ai_container *ct);

/* target.c: a deep copy of an overlay (dst is overwritten), and freeing one. */
int ai_overlay_copy(struct ai_overlay *dst, const struct ai_overlay *src);
void ai_overlay_free(struct ai_overlay *o);

/* snapshot.c */
/* The first fields of manifest.json, the same for a capture and a sealed bundle; left open. */
void ai_manifest_head(struct ai_json *j, struct ai_buf *out, const char *name, const char *id,
		      struct timespec start, struct timespec end, const char *trigger);
/* Freeze hooks around the volatile collectors (processes, fds, sockets; mounts too). */
struct ai_freeze_hooks {
	int (*freeze)(void *ctx, ai_err_t *err); /* 0 once frozen */
	void (*thaw)(void *ctx);		 /* never fails from the caller's view */
	const char *method;			 /* "cgroup2" | "cgroup1" */
	void *ctx;
};
struct ai_snapshot_opts {
	pid_t pid;
	/* --pod: one pid per container of the pod (pids[0] is pid), from ai_discover_pod; NULL or
	 * npids <= 1 for one container. */
	const pid_t *pids;
	size_t npids;
	int outdir_fd;
	const char *outdir;	/* for the printed path */
	const char *name;	/* NULL: afterimage-<host>-<pid>-<utc> */
	const char *host_root;	/* NULL: "/" */
	uint64_t fd_cap;	/* 0: the defaults (AI_DEFAULT_*) */
	uint64_t file_cap;	/* --file-cap */
	uint64_t upper_budget;	/* --upper-budget */
	uint64_t output_budget; /* --output-budget: lowered to the free space of outdir */
	const char *trigger;	/* "manual", "http", "sigterm", "exec", "exit", "baseline" */
	EVP_PKEY *key;
	const char *const *pod;		      /* name, namespace, uid (NULL entries when unknown) */
	const char *reason;		      /* free text from the trigger, NULL for none */
	const struct ai_freeze_hooks *freeze; /* NULL: no freezing */
	bool freeze_all;		      /* keep frozen through the upperdir copy */
	/* The overlay the target had when last seen (the sidecar keeps it for the exit trigger):
	 * used when no process is left to pin, or when its root overlay cannot be read any more,
	 * so the upperdir, still on disk, is captured. */
	const struct ai_overlay *overlay_hint;
	enum ai_memory_mode memory;	   /* --memory (AI_MEMORY_OFF: no cores) */
	uint64_t memory_cap, memory_total; /* 0: the defaults */
	size_t max_procs; /* processes pinned at most (the rest counted and logged); 0: the default */
	bool criu;	  /* --criu: also a CRIU checkpoint of the tree, after the thaw (criu.c) */
	/* NULL, or a flag a signal handler sets: the capture then stops at its next item, thaws,
	 * abandons the bundle (no .partial is left) and ai_snapshot fails with ECANCELED. */
	const volatile sig_atomic_t *stop;
};
#define AI_DEFAULT_MAX_PROCS 100000
#define AI_LEFTOVERS_NAMED   8
struct ai_snapshot_result {
	char path[4096];
	char sha256[AI_SHA256_HEXLEN];
	bool complete;
	unsigned nerrors;
	bool frozen;
	double freeze_ms;
	/* *.tar.partial files interrupted captures left in the output directory (logged as
	 * warnings; never reused): how many, and the first few names. Filled even on failure. */
	unsigned nleftovers;
	char leftover[AI_LEFTOVERS_NAMED][256];
};
int ai_snapshot(const struct ai_snapshot_opts *o, struct ai_snapshot_result *r, ai_err_t *err);

/* upper.c: a tree walked one dirfd at a time (O_NOFOLLOW, O_NOATIME, never onto another mount,
 * FIFOs/devices never opened), its entries written into the JSON array j is in (spooled to index
 * entry by entry) and its files stored under base, within the budget. Takes rootfd. The logical
 * bytes stored. */
struct ai_tree_opts {
	const char *coll;	 /* the collector of its log events */
	const char *what;	 /* what its budget is of, in log messages ("upperdir") */
	const char *base;	 /* member prefix, ends in '/' */
	bool overlay;		 /* an upperdir: whiteouts, opaque dirs, metacopy are overlay's */
	bool userxattr;		 /* its overlay xattrs are user.overlay.* */
	bool hash_only;		 /* files hashed, never stored (secrets) */
	uint64_t budget;	 /* logical bytes stored at most */
	const char *budget_name; /* the "cut" of a file the budget cut */
};
uint64_t ai_tree_walk(struct ai_capture *cap, struct ai_json *j, struct ai_spool *index, int rootfd,
		      const struct ai_tree_opts *o);

/* collectors.c: a collector writes one JSON document member; helper for the common pattern. */
int ai_capture_put_json(struct ai_capture *cap, const char *member, struct ai_buf *doc, ai_err_t *err);

#endif
