/* Interfaces of the sidecar modules (afterimage-capture serve): target discovery, cgroup
 * freezing with a watchdog, self-hardening, upload and the serve loop itself. */
#ifndef AI_SIDECAR_H
#define AI_SIDECAR_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "capture/capture.h"
#include "common/err.h"

/* ---- discover.c: which container of the pod is the target */
/* AI_SELECT_POD: every app container of the pod (ai_discover_pod at each capture); AUTO turns
 * into it when it sees several app containers from inside a pod (our pid namespace is not the
 * host's), and still refuses to choose on a host. */
enum ai_select { AI_SELECT_AUTO, AI_SELECT_PID, AI_SELECT_EXE, AI_SELECT_CGROUP, AI_SELECT_POD };
struct ai_discover_opts {
	enum ai_select sel;
	pid_t pid;	     /* AI_SELECT_PID */
	const char *pattern; /* AI_SELECT_EXE: POSIX ERE on /proc/PID/exe; CGROUP: substring */
};
struct ai_found {
	pid_t pid; /* the lowest pid of the container: its main process */
	uint64_t mntns;
	size_t nprocs;
	bool pod; /* capture every app container of its pod (pid is the lowest one's) */
};
/* Group the processes visible in /proc by mount namespace, leave out our own and the pod's
 * pause container, and pick the target. */
int ai_discover(int proc_fd, const struct ai_discover_opts *o, struct ai_found *out, ai_err_t *err);
/* Every container of pid's pod (the processes sharing its pid namespace, grouped by mount
 * namespace) but ours and the pause/infra container (every process of it a "pause" or
 * "catatonit"): pid's own first (out[0].pid is pid), then by lowest pid; at most max. */
int ai_discover_pod(int proc_fd, pid_t pid, struct ai_found *out, size_t max, size_t *n, ai_err_t *err);
/* How many app containers (not ours, not the pause container) are visible; 0 with err. */
size_t ai_discover_napps(int proc_fd, ai_err_t *err);
/* The lowest pid still alive in mount namespace mntns, or 0. */
pid_t ai_discover_survivor(int proc_fd, uint64_t mntns);
/* The overlay at "/" of pid (for the exit trigger, when no process is left to ask). */
int ai_discover_overlay(int proc_fd, pid_t pid, struct ai_overlay *ov, ai_err_t *err);
void ai_discover_overlay_free(struct ai_overlay *ov);

/* ---- freeze.c: cgroup v2 cgroup.freeze or v1 freezer.state, with a thaw watchdog */
struct ai_freezer {
	int state_fd;	    /* cgroup.freeze or freezer.state, O_RDWR */
	int events_fd;	    /* v2 cgroup.events (-1 for v1) */
	const char *method; /* "cgroup2" or "cgroup1" */
	bool frozen;
	pid_t watchdog;	   /* the child that thaws if we die while frozen */
	int watchdog_pipe; /* write end; EOF tells the watchdog to thaw */
	unsigned hold_ms;  /* test hook: stay frozen this long */
};
/* Find pid's freezer under cgroup_root (e.g. /sys/fs/cgroup). */
int ai_freezer_open(int proc_fd, pid_t pid, const char *cgroup_root, struct ai_freezer *f, ai_err_t *err);
void ai_freezer_close(struct ai_freezer *f);
/* The hooks for ai_snapshot. */
void ai_freezer_hooks(struct ai_freezer *f, struct ai_freeze_hooks *h);
/* A pod: the cgroups of several containers (one pid each; a cgroup two share counted once),
 * frozen in one window under one watchdog. */
struct ai_freezer_set {
	struct ai_freezer f[AI_MAX_CONTAINERS];
	size_t n;
	bool frozen;
	pid_t watchdog;
	int watchdog_pipe;
	unsigned hold_ms; /* test hook */
	char why[256];	  /* why no freezer could be opened (freezing then fails with it) */
};
int ai_freezer_set_open(int proc_fd, const pid_t *pids, size_t n, const char *cgroup_root,
			struct ai_freezer_set *s, ai_err_t *err);
void ai_freezer_set_hooks(struct ai_freezer_set *s, struct ai_freeze_hooks *h);
void ai_freezer_set_close(struct ai_freezer_set *s);

/* ---- harden.c: capabilities, no_new_privs, seccomp allowlist; memory: --memory's calls too
 * (ptrace, process_vm_readv) */
int ai_harden(bool memory, ai_err_t *err);
/* The capabilities kept, as text (for logs and docs). */
const char *ai_harden_caps_text(void);

/* ---- upload.c: HTTP(S) PUT of a sealed bundle and its signature */
struct ai_upload_opts {
	const char *url;     /* http://host[:port]/prefix/ or https://...; NAME is appended
			      * when the URL ends in '/' */
	const char *sig_url; /* the signature's URL (NAME.minisig appended when it ends in '/');
			      * NULL: the bundle's directory, or its URL's path + ".minisig" */
	const char *ca_file; /* NULL: system store */
	unsigned retries;    /* attempts after the first */
	unsigned backoff_ms; /* first delay, doubled each retry */
	unsigned timeout_ms; /* per connection step */
};
int ai_upload_file(const struct ai_upload_opts *o, int dirfd, const char *name, ai_err_t *err);

/* ---- serve.c (and the parts serve.h lists): the event loop (epoll over the HTTP listener, the
 * trigger socket, a signalfd, the target's pidfd and the capture worker's eventfd; nothing wakes
 * it while idle). */
struct ai_serve_opts {
	struct ai_discover_opts target;
	const char *listen; /* "ADDR:PORT" or NULL for no HTTP listener */
	const char *token;  /* bearer token (HTTP); NULL only without a listener */
	size_t token_len;
	const char *socket_path; /* trigger socket, NULL for none */
	int outdir_fd;
	const char *outdir;
	EVP_PKEY *key;
	const char *host_root;
	const char *cgroup_root; /* NULL: /sys/fs/cgroup */
	bool freeze, freeze_all, baseline, harden, watch_exit;
	bool criu; /* --criu: CRIU checkpoint of each capture (criu.c); hardening allows exec of criu */
	unsigned grace_ms;	     /* SIGTERM: the capture must end within this */
	unsigned http_timeout_ms;    /* a client has this long to send its request head (in all) */
	unsigned max_conns;	     /* HTTP clients at a time; max_conns / 8 only for valid tokens */
	unsigned max_conns_per_peer; /* HTTP clients of one address without a valid token */
	unsigned max_socket_conns;   /* unix trigger-socket clients at a time */
	unsigned freeze_hold_ms;     /* test hook */
	uint64_t file_cap, upper_budget, output_budget; /* ai_snapshot_opts' (0: defaults) */
	enum ai_memory_mode memory;			/* --memory */
	uint64_t memory_cap, memory_total;
	const struct ai_upload_opts *upload;
	bool delete_after_upload;
	const char *const *pod;
	int log_fd; /* JSON event lines */
};
/* Runs until SIGTERM/SIGINT; 0 after a clean shutdown. */
int ai_serve(const struct ai_serve_opts *o, ai_err_t *err);
/* trigger.c: ask a running serve over its socket; reply receives its JSON line. cmd: "capture REASON",
 * "status" or "sandbox-check". */
int ai_trigger(const char *socket_path, const char *cmd, struct ai_buf *reply, ai_err_t *err);

#endif
