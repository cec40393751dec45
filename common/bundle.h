/* The bundle: one pax tar, the only contract between capture/ and analyze/.
 * Member names and the format version live here and in docs/bundle-format.md. */
#ifndef AI_BUNDLE_H
#define AI_BUNDLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/sign.h"
#include "common/spool.h"

/* 2: a manifest "containers" list; a pod capture puts each container's members (every name
 * below but the manifest, the sums, the log and sockets.json) under AI_M_CONTAINER_FMT. A capture of
 * one container keeps format 1's layout. */
#define AI_BUNDLE_FORMAT_VERSION 2
#define AI_M_CONTAINER_FMT	 "containers/%zu/" /* containers/<N>/, N from 0, manifest order */
#define AI_M_CONTAINERS_DIR	 "containers/"
#define AI_M_MANIFEST		 "manifest.json"
#define AI_M_SUMS		 "SHA256SUMS"
#define AI_M_SUMS_SIG		 "SHA256SUMS.minisig"
#define AI_M_PROCESSES		 "processes.json"
#define AI_M_FDS		 "fds.json"
#define AI_M_SOCKETS		 "sockets.json"
#define AI_M_MOUNTS		 "mounts.json"
#define AI_M_UPPER_IDX		 "fs/upper.json"
#define AI_M_UPPER_DIR		 "fs/upper" /* fs/upper/<path in the container> */
#define AI_M_LOG		 "capture-log.json"
#define AI_M_RECOVERED		 "fds/recovered" /* fds/recovered/<pid>-<fd> */
#define AI_M_EXE		 "exe"		 /* exe/<pid> */
#define AI_M_MEMORY_DIR		 "memory"	 /* memory/<pid>.core: one ELF core per process */
#define AI_M_MEMORY_IDX		 "memory/index.json"
#define AI_M_VOLUMES_IDX	 "volumes.json"
#define AI_M_VOLUMES_DIR	 "volumes"     /* volumes/<index>/<path in the volume> */
#define AI_M_CONFIG		 "config.json" /* the OCI runtime spec the runtime ran it with */

/* The "type" of an fds.json entry: capture writes these names and the analyzer reads them back,
 * so they are part of the format (docs/bundle-format.md). analyze's enum az_fd_type follows this
 * order (checked at compile time in analyze/fds.c). */
enum ai_fd_type {
	AI_FD_FILE,
	AI_FD_DIR,
	AI_FD_SOCKET,
	AI_FD_PIPE,
	AI_FD_ANON,
	AI_FD_MEMFD,
	AI_FD_DELETED,
	AI_FD_DEVICE,
	AI_FD_OTHER,
	AI_FD_NTYPES
};

static inline const char *ai_fd_type_name(enum ai_fd_type t)
{
	static const char *const names[AI_FD_NTYPES] = {
	    "file", "dir", "socket", "pipe", "anon", "memfd", "deleted", "device", "other",
	};
	return (unsigned)t < AI_FD_NTYPES ? names[t] : names[AI_FD_OTHER];
}

/* The type a name stands for; AI_FD_OTHER for NULL or a name this version does not know. */
static inline enum ai_fd_type ai_fd_type_parse(const char *name)
{
	for (unsigned i = 0; name && i < AI_FD_NTYPES; i++)
		if (!strcmp(name, ai_fd_type_name((enum ai_fd_type)i)))
			return (enum ai_fd_type)i;
	return AI_FD_OTHER;
}

/* Metadata for a member that is not a plain in-memory document. */
struct ai_member_meta {
	const char *path; /* member name, relative, bytes */
	size_t path_len;
	mode_t mode; /* includes S_IFMT */
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;
	const char *symlink;	     /* for S_IFLNK */
	const char *hardlink;	     /* member name of the first link; makes this a hardlink entry */
	const char *hardlink_sha256; /* content hash of that first link, for SHA256SUMS */
	uint64_t hardlink_size;
	/* xattrs: parallel arrays */
	size_t nxattr;
	const char *const *xattr_names;
	const void *const *xattr_values;
	const size_t *xattr_sizes;
};

struct ai_member_result {
	uint64_t size;	      /* logical bytes stored: the member's size once extracted */
	uint64_t source_size; /* size the source claimed at open */
	uint64_t data_bytes;  /* bytes of content in the archive (size less the holes not stored) */
	bool truncated;	      /* cut (cap, budget) or the source grew: only size bytes kept */
	bool capped;	      /* cut by the cap the caller gave */
	bool budget_cut;      /* cut, or refused (AI_BUNDLE_OVER_BUDGET), by the output budget */
	bool grew;	      /* the source was longer at the end of the read than at its start */
	bool sparse;	      /* holes were found: stored as a pax sparse member, holes never read */
	bool short_read;      /* the source shrank while read: the rest is zero padded */
	char sha256[AI_SHA256_HEXLEN];
};

/* What ai_bundle_add_fd and ai_bundle_add_entry return when the output budget has no room for
 * the member: nothing was written, err says so (EDQUOT), the bundle stays usable. */
#define AI_BUNDLE_OVER_BUDGET (-2)

struct ai_bundle;

/* Create OUTDIR/NAME.tar.partial (O_EXCL): refused when NAME.tar or NAME.tar.partial exists (a
 * .partial is what an interrupted capture leaves; it is never reused). The member list is
 * spooled to unlinked temporary files in OUTDIR as it grows. */
int ai_bundle_create(struct ai_bundle **out, int outdir_fd, const char *name, ai_err_t *err);
/* Once *flag is set (by a signal handler), every write fails with ECANCELED within a block of
 * the archive: the caller then abandons the bundle (ai_bundle_free removes the .partial). */
void ai_bundle_set_cancel(struct ai_bundle *b, const volatile sig_atomic_t *flag);
/* An in-memory document (JSON, text). */
int ai_bundle_add_mem(struct ai_bundle *b, const char *path, const void *data, size_t len, ai_err_t *err);
/* A document spooled as it was produced (common/spool.h), streamed in and hashed as it goes. */
int ai_bundle_add_spool(struct ai_bundle *b, const char *path, const struct ai_spool *spool, ai_err_t *err);
/* A regular file's content read from fd (from offset 0, with pread), hashed in the same pass,
 * at most cap bytes of logical content (0 = no cap). Its data extents are found with
 * SEEK_DATA/SEEK_HOLE: a file with holes becomes a pax sparse member (GNU.sparse 1.0) and its
 * holes are never read nor written, only hashed as zeros, so sha256 is that of the logical
 * content (what `tar -xf` restores). meta->path names the member; mode/uid/gid/times come from
 * meta. AI_BUNDLE_OVER_BUDGET when the output budget has no room for even its header. */
int ai_bundle_add_fd(struct ai_bundle *b, const struct ai_member_meta *meta, int fd, uint64_t cap,
		     struct ai_member_result *res, ai_err_t *err);
/* Directory, symlink or hardlink entry, or an empty regular file (whiteout markers);
 * AI_BUNDLE_OVER_BUDGET past the output budget. */
int ai_bundle_add_entry(struct ai_bundle *b, const struct ai_member_meta *meta, ai_err_t *err);
/* The output budget (0: none): the archive bytes written so far plus those of the member to add,
 * plus AI_BUNDLE_MEMBER_RESERVE for each evidence member (its lines in the documents written at
 * the end), may not pass it. Only evidence members (ai_bundle_add_fd, ai_bundle_add_entry) are
 * cut or refused; documents (ai_bundle_add_mem) and the seal are always written, so a bundle
 * that ran out of budget is still sealed. */
#define AI_BUNDLE_MEMBER_RESERVE 1024
void ai_bundle_set_budget(struct ai_bundle *b, uint64_t bytes);
/* True once the output budget cut or refused a member. */
bool ai_bundle_budget_exhausted(const struct ai_bundle *b);
/* Archive bytes produced so far (buffered ones included). */
uint64_t ai_bundle_bytes(const struct ai_bundle *b);
/* Write manifest.json, SHA256SUMS, its signature, close the archive, write NAME.tar.minisig and
 * rename both into place. manifest.json is manifest_head, then the JSON array of every member
 * added so far ({"path","size","sha256"}, in order), then "}\n": the head is a JSON object's text
 * up to its last key, "members": (docs/bundle-format.md). trusted_comment goes into both
 * signatures. Nothing of the member list is held in memory: both are streamed from spools. */
int ai_bundle_seal(struct ai_bundle *b, EVP_PKEY *key, const char *manifest_head, size_t head_len,
		   const char *trusted_comment, char archive_sha256[AI_SHA256_HEXLEN], ai_err_t *err);
/* What interrupted captures left in the output directory (NAME.tar.partial, and the
 * NAME.tar.minisig.partial of one killed while sealing): fn is called with each name, never
 * changed. The count, or -1 with err. */
int ai_bundle_leftovers(int outdir_fd, void (*fn)(void *ctx, const char *name), void *ctx, ai_err_t *err);
/* An evidence member of known size written in pieces (an ELF core built while the process is
 * read): the header goes out at begin, then exactly size bytes through write/zeros, hashed as
 * they go, and end records it. What was not written by end is zero padded (and end fails), so
 * the archive is never torn. ai_bundle_stream_room says how many content bytes the output
 * budget leaves for such a member (UINT64_MAX without a budget, 0 when not even its header
 * fits); begin refuses (AI_BUNDLE_OVER_BUDGET) a size past it. */
struct ai_bundle_stream {
	struct ai_bundle *b;
	struct ai_hash h;
	uint64_t size, done;
	char *path;
	size_t path_len;
};
uint64_t ai_bundle_stream_room(struct ai_bundle *b, size_t path_len);
int ai_bundle_stream_begin(struct ai_bundle *b, const struct ai_member_meta *meta, uint64_t size,
			   struct ai_bundle_stream *s, ai_err_t *err);
int ai_bundle_stream_write(struct ai_bundle_stream *s, const void *buf, size_t len, ai_err_t *err);
int ai_bundle_stream_zeros(struct ai_bundle_stream *s, uint64_t len, ai_err_t *err);
int ai_bundle_stream_end(struct ai_bundle_stream *s, char sha256[AI_SHA256_HEXLEN], ai_err_t *err);

/* Remove the .partial file and free. Safe on a sealed bundle (frees only). */
void ai_bundle_free(struct ai_bundle *b);
void ai_bundle_freep(struct ai_bundle **b);
#define cleanup_bundle __attribute__((cleanup(ai_bundle_freep)))

/* Escape a name the way sha256sum does ("\\" and "\n"); returns true when escaping was needed. */
bool ai_sums_escape(const char *name, size_t len, struct ai_buf *out);

#endif
