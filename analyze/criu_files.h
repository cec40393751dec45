/* CRIU images of a task's resources, decoded with criu.c's bounded protobuf walker: ids-PID (which
 * fdinfo and fs images are the task's), fs-PID (cwd and root), files.img (every file the tasks
 * hold: regular files, pipes, inet and unix sockets), fdinfo-N (fd number -> file id),
 * remap-fpath (which file is a ghost), ghost-file-N (the content of a deleted-but-open file) and
 * tcp-stream-INO (queue lengths). The field numbers are those of CRIU's images/NAME.proto files, listed
 * in docs/analyze.md. Like criu.c: plain structs, spans into the caller's bytes, no model. */
#ifndef AZ_CRIU_FILES_H
#define AZ_CRIU_FILES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

#define AZ_CRIU_IDS_MAGIC	  0x54432030u
#define AZ_CRIU_FS_MAGIC	  0x51403912u
#define AZ_CRIU_FILES_MAGIC	  0x56303138u
#define AZ_CRIU_FDINFO_MAGIC	  0x56213732u
#define AZ_CRIU_REMAP_FPATH_MAGIC 0x59133954u
#define AZ_CRIU_GHOST_FILE_MAGIC  0x52583605u
#define AZ_CRIU_TCP_STREAM_MAGIC  0x51465506u

/* fdinfo.proto enum fd_types (the few read here) */
enum {
	AZ_CRIU_FD_REG = 1,
	AZ_CRIU_FD_PIPE = 2,
	AZ_CRIU_FD_FIFO = 3,
	AZ_CRIU_FD_INETSK = 4,
	AZ_CRIU_FD_UNIXSK = 5
};

/* ids-PID.img: task_kobj_ids_entry; -1 when absent */
struct az_criu_ids {
	int64_t files_id, fs_id;
};
int az_criu_ids_read(const uint8_t *d, size_t len, struct az_criu_ids *out, ai_err_t *err);

/* fs-PID.img: fs_entry (file ids in files.img); -1 when absent */
struct az_criu_fs {
	int64_t cwd_id, root_id;
};
int az_criu_fs_read(const uint8_t *d, size_t len, struct az_criu_fs *out, ai_err_t *err);

/* files.img: one file_entry. Spans point into the image. */
struct az_criu_file {
	uint32_t type, id;
	/* reg (and the unix socket's name) */
	const uint8_t *name;
	size_t name_len;
	uint32_t flags; /* open flags (reg), socket flags */
	uint64_t pos, size;
	bool have_size, have_mode;
	uint32_t mode;
	/* pipe, fifo */
	uint32_t pipe_id;
	/* inet, unix */
	uint32_t ino, family, sktype, proto, state, src_port, dst_port, peer;
	uint32_t src_addr[4], dst_addr[4]; /* as CRIU stores them: the address's bytes as host-order words */
	uint8_t nsrc, ndst;
};
typedef int (*az_criu_file_fn)(void *ud, const struct az_criu_file *f, ai_err_t *err);
int az_criu_files_read(const uint8_t *d, size_t len, az_criu_file_fn each, void *ud, ai_err_t *err);

/* fdinfo-N.img: one fdinfo_entry per fd */
struct az_criu_fdinfo {
	uint32_t id, flags, type, fd;
};
typedef int (*az_criu_fdinfo_fn)(void *ud, const struct az_criu_fdinfo *f, ai_err_t *err);
int az_criu_fdinfo_read(const uint8_t *d, size_t len, az_criu_fdinfo_fn each, void *ud, ai_err_t *err);

/* remap-fpath.img: remap_file_path_entry (type: 0 linked, 1 ghost, 2 procfs) */
struct az_criu_remap {
	uint32_t orig_id, remap_id, type;
};
typedef int (*az_criu_remap_fn)(void *ud, const struct az_criu_remap *r, ai_err_t *err);
int az_criu_remap_read(const uint8_t *d, size_t len, az_criu_remap_fn each, void *ud, ai_err_t *err);

/* tcp-stream-INO.img: the queue lengths of tcp_stream_entry */
struct az_criu_tcp {
	uint32_t inq_len, outq_len, unsq_len;
};
int az_criu_tcp_read(const uint8_t *d, size_t len, struct az_criu_tcp *out, ai_err_t *err);

/* ghost-file-N.img: ghost_file_entry, then the content: the raw bytes to the end of the image, or
 * (chunks) ghost_chunk_entry records each followed by its data. each() gets the content's
 * pieces at their file offsets, in order (holes between them are zeros). */
struct az_criu_ghost {
	uint32_t uid, gid, mode;
	bool have_size, chunks;
	uint64_t size, ino;	    /* ino 0 when absent */
	int64_t mtime_ns, atime_ns; /* 0 when absent */
};
typedef int (*az_criu_piece_fn)(void *ud, uint64_t off, const uint8_t *p, size_t len, ai_err_t *err);
int az_criu_ghost_read(const uint8_t *d, size_t len, struct az_criu_ghost *out, az_criu_piece_fn each,
		       void *ud, ai_err_t *err);

#endif
