/* The analyzer's in-memory model of one piece of evidence: the input layer (input.c) detects the
 * format and one reader fills the model (bundle.c from the bundle's JSON members through one
 * reader module per evidence kind: processes.c, fds.c, sockets.c, mounts.c, upper.c; checkpoint.c
 * from a checkpoint archive); views (views.c, layers.c, findings.c, timeline.c, report.c, diff.c)
 * only read it; model.c owns its lifetime. Every string from the target is bytes: `struct az_str`
 * keeps the exact bytes (taken from `<key>_hex` when the collector wrote one) and is NUL-terminated
 * for convenience; a string holding a NUL byte is refused by the readers. */
#ifndef AZ_MODEL_H
#define AZ_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "analyze/jscan.h"
#include "common/err.h"

/* Bounds on hostile input (documented in docs/analyze.md). */
#define AZ_MAX_JSON_MEMBER  (256u << 20) /* one JSON member of a bundle */
#define AZ_MAX_MEMBERS	    2000000u	 /* members of a bundle */
#define AZ_MAX_SMALL_MEMBER (4u << 20)	 /* SHA256SUMS, signatures, image manifests, configs */
#define AZ_MAX_PATH	    4096u	 /* a path, in bytes */

struct az_str {
	char *s; /* NULL when absent (JSON null or missing) */
	size_t len;
};
void az_str_free(struct az_str *s);
int az_str_set(struct az_str *s, const char *p, size_t len);
bool az_str_eq(const struct az_str *a, const struct az_str *b);

struct az_proc {
	unsigned ct; /* its container: an index into az_model.cts */
	int64_t pid, ppid;
	int64_t nspid; /* innermost, -1 when unknown */
	struct az_str comm, cwd, root, cgroup;
	char ns[256]; /* "mnt:4026531841 pid:..." from the ns links, "" when unknown */
	struct az_str *argv;
	size_t argc;
	struct az_str *env; /* environ entries "NAME=value"; none from a checkpoint archive */
	size_t nenv;
	struct az_str exe; /* path as the kernel shows it (may end in " (deleted)") */
	bool exe_deleted, exe_memfd, exe_truncated;
	char exe_sha256[65]; /* "" when unknown */
	int64_t exe_size;
	struct az_str exe_member;
	int64_t uid[4], gid[4];
	char state[8];
	int64_t threads;
	char cap_eff[20], cap_bnd[20], cap_prm[20];
	int64_t seccomp, no_new_privs; /* -1 when unknown */
	bool from_status; /* read from /proc status (a bundle): seccomp and caps are meaningful */
	int64_t start_ns; /* 0 when unknown */
	bool zombie, vanished;
};

enum az_fd_type {
	AZ_FD_FILE,
	AZ_FD_DIR,
	AZ_FD_SOCKET,
	AZ_FD_PIPE,
	AZ_FD_ANON,
	AZ_FD_MEMFD,
	AZ_FD_DELETED,
	AZ_FD_DEVICE,
	AZ_FD_OTHER
};

struct az_fd {
	unsigned ct;
	int64_t pid, fd;
	struct az_str target;
	enum az_fd_type type;
	char flags[16];
	int64_t pos, ino, size; /* size -1 when unknown */
	uint32_t mode;		/* 0 when unknown */
	bool deleted, memfd;
	struct az_str rec_member; /* recovered content, may name another PID-FD member */
	char rec_sha256[65];
	int64_t rec_size;
	bool rec_truncated;
};

struct az_owner {
	int64_t pid, fd;
};

struct az_sock {
	char family[8], proto[8], type[12], state[16];
	struct az_str laddr, raddr; /* inet */
	int64_t lport, rport;
	struct az_str path; /* unix, "@name" when abstract */
	bool abstract;
	int64_t inode, uid, rxq, txq; /* -1 when null */
	struct az_owner *owners;
	size_t nowners;
};

struct az_mount {
	unsigned ct;
	int64_t id, parent;
	struct az_str mount_point, root, fstype, source, options;
};

struct az_overlay {
	bool present;
	size_t nlower;	  /* lowerdirs, top first */
	size_t data_only; /* data-only lowers (not part of the merged tree) */
	struct az_str upperdir;
	/* per lowerdir (top first): the containers/storage layer id its path names (.../HEX/diff,
	 * through podman's and CRI-O's overlay/l/ symlinks), "" when it names none; NULL when no
	 * lowerdir does */
	char (*layer_ids)[65];
	bool metacopy, userxattr;
	struct az_str redirect_dir, options;
};
/* model.c: what an overlay holds, freed (it is zeroed). */
void az_overlay_free(struct az_overlay *ov);

enum az_utype {
	AZ_U_FILE,
	AZ_U_DIR,
	AZ_U_SYMLINK,
	AZ_U_WHITEOUT,
	AZ_U_FIFO,
	AZ_U_SOCKET,
	AZ_U_CHR,
	AZ_U_BLK,
	AZ_U_OTHER
};

#define AZ_OV_WHITEOUT 1u
#define AZ_OV_OPAQUE   2u
#define AZ_OV_METACOPY 4u
#define AZ_OV_REDIRECT 8u

struct az_upper {
	unsigned ct;
	unsigned vol1;	    /* in az_model.vfiles: 1 + the index of its volume (az_model.vols); 0 in .upper */
	struct az_str path; /* container path, begins with "/" */
	enum az_utype type;
	uint32_t mode; /* permission bits (incl. setuid) */
	int64_t uid, gid, size, ino, nlink;
	int64_t atime_ns, mtime_ns, ctime_ns;
	char sha256[65];
	struct az_str target, hardlink_to, redirect, member;
	unsigned overlay; /* AZ_OV_* */
	bool truncated;
	bool origin; /* an overlay origin xattr: copied up from a lower layer */
};

struct az_manifest {
	struct az_str name, bundle_id, host, kernel, trigger, container_id;
	struct az_str image_id, image_digest; /* target.image_id/image_digest, when the capture knew them */
	int64_t started_ns, ended_ns, target_pid;
	bool complete;
	int64_t errors, warnings;
};

/* A Podman/CRI-O checkpoint archive (checkpoint.c) loaded instead of a bundle: its identity
 * from config.dump and spec.dump; the rest of the model (upper entries from rootfs-diff.tar and
 * deleted.files, processes from the CRIU images) is filled as for a bundle. */
struct az_ckpt {
	bool present;
	struct az_str image_name, image_id, runtime;
	struct az_str *args; /* spec.dump process.args */
	size_t nargs;
	int64_t created_ns, checkpointed_ns;
	bool checkpointed_from_mtime; /* no checkpointedTime: the newest member mtime of the archive */
	bool have_rootfs_diff, have_deleted, procs_decoded;
	size_t skipped;	    /* rootfs-diff.tar entries with unusable names */
	size_t opaque;	    /* deleted.files paths re-created in rootfs-diff.tar (read as opaque dirs) */
	size_t criu_images; /* members under checkpoint/ */
	/* Kubernetes identity (spec.dump / config.dump annotations io.kubernetes.*), NULL when none */
	struct az_str pod, pod_namespace, kube_container;
	char engine[16];	     /* "Podman", "CRI-O", "containerd", "" when unknown */
	struct az_str network;	     /* network.status, one "IFACE ADDR/PREFIX [gw G] [mac M]" per line */
	bool layer_whiteouts;	     /* rootfs-diff.tar held OCI whiteouts (containerd's form) */
	size_t devshm_files;	     /* devshm-checkpoint.tar entries, as /dev/shm/... upper entries */
	size_t ghosts_unread;	     /* ghost-file images over AZ_CK_MAX_GHOST: not hashed */
	size_t fds_cut;		     /* fds past AZ_CK_MAX_FDS, not listed */
	struct az_str sealed_member; /* read from this member of a sealed bundle, NULL when not */
};

/* A volume of a container (volumes.json): its files are az_model.vfiles, their paths joined to
 * the mount point. */
struct az_volume {
	unsigned ct;
	struct az_str mount_point, kind, fstype, source, root, content;
	size_t nfiles;
};

/* Format 2: the containers of a pod capture, from the member prefixes (containers/<N>/) and the
 * manifest's "containers" list; one (index 0) for format 1 and for a capture of one container. */
#define AZ_MAX_CONTAINERS 32
#define AZ_CT_ALL	  ((unsigned)-1) /* not one container: every one of them */
struct az_container {
	struct az_str name, id, image, image_digest, prefix;
	/* the image id the capture recorded (manifest containers[i].identity.image_id: containers/
	 * storage's entry for the container), as written; NULL when none */
	struct az_str image_id;
	/* the image its image was built FROM (podman's org.opencontainers.image.base.name/.digest
	 * annotations): never the image the container runs */
	struct az_str base_image, base_digest;
	struct az_str pod_name, pod_namespace, pod_uid; /* from its runtime spec's annotations */
	bool have_spec;					/* its config.json was read */
	int64_t pid, processes;
	struct az_overlay ov; /* container 0's is az_model.ov */
	bool have[8];	      /* AZ_HAVE_* of its own members */
	char shortname[40];   /* what the views print: its name, else its id's first 12, else cN */
};

struct az_model {
	struct az_manifest man;
	struct az_container cts[AZ_MAX_CONTAINERS];
	size_t ncts; /* 1 at least once loaded */
	struct az_ckpt ck;
	struct az_proc *procs;
	size_t nprocs;
	struct az_fd *fds;
	size_t nfds;
	struct az_sock *socks;
	size_t nsocks;
	char sock_source[16];
	struct az_mount *mounts;
	size_t nmounts;
	struct az_overlay ov;
	struct az_upper *upper;
	size_t nupper;
	struct az_volume *vols;
	size_t nvols;
	int64_t start_tick_ns;	 /* the precision of the processes' start times (0: not recorded) */
	struct az_upper *vfiles; /* the files of every volume, path = mount point + path in it */
	size_t nvfiles;
	bool have[8];	       /* which members were present: see AZ_HAVE_* */
	struct az_j_cuts cuts; /* strings longer than AZ_J_MAX_STRING, cut at load */
};
enum {
	AZ_HAVE_MANIFEST,
	AZ_HAVE_PROCS,
	AZ_HAVE_FDS,
	AZ_HAVE_SOCKS,
	AZ_HAVE_MOUNTS,
	AZ_HAVE_UPPER,
	AZ_HAVE_VOLUMES,
	AZ_HAVE_CONFIG
};

/* input.c: open PATH once, detect its format once (an afterimage bundle, a Podman/CRI-O
 * checkpoint archive; plain, gzip, zstd or xz) and have that format's reader fill m. m is zeroed
 * first; az_model_free it after, on failure too. */
int az_model_load(struct az_model *m, const char *path, ai_err_t *err);
/* model.c */
void az_model_free(struct az_model *m);
/* Free what one record owns (the record itself belongs to its array). */
void az_proc_free(struct az_proc *p);
void az_upper_free(struct az_upper *u);

/* The readers, one per evidence kind; doc is the member's bytes. */
int az_processes_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err);
int az_fds_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err);
int az_sockets_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err);
int az_mounts_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err);
int az_upper_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err);
int az_manifest_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err);
/* identity.c: config.json (the runtime spec) of container ct: its identity from the annotations. */
int az_config_read(struct az_model *m, unsigned ct, const char *doc, size_t len, ai_err_t *err);
/* volumes.json of container ct: appended to m->vols and m->vfiles. */
int az_volumes_read(struct az_model *m, unsigned ct, const char *doc, size_t len, ai_err_t *err);
/* The volume of container ct a path lies on (the deepest mount point holding it), or NULL. */
const struct az_volume *az_model_volume_of(const struct az_model *m, unsigned ct, const char *path,
					   size_t len);

const char *az_fd_type_name(enum az_fd_type t);
const char *az_utype_name(enum az_utype t);
/* model.c: the process of pid (the first of equal pids), or NULL. */
const struct az_proc *az_model_proc(const struct az_model *m, int64_t pid);
/* model.c: the overlay of container ct (az_model.ov for 0). */
const struct az_overlay *az_model_ov(const struct az_model *m, unsigned ct);
/* model.c: the short name views print for container ct ("" when the model has one container). */
const char *az_model_ctname(const struct az_model *m, unsigned ct);
/* model.c: fill every container's short name once the model is loaded. */
void az_model_name_containers(struct az_model *m);
/* The exe path without the kernel's " (deleted)" suffix. */
size_t az_exe_path_len(const struct az_proc *p);

#endif
