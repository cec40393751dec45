/* CRIU images, decoded on their own (as CRIU's crit does, without CRIU's .proto files): an image
 * is u32 magic(s), then entries of a u32 size and a protobuf message. Everything is hostile: the
 * protobuf walker is bounded by the buffer, takes the few fields asked for and refuses malformed
 * input. No libarchive, no model: the caller hands in an image's bytes and gets plain structs. */
#ifndef AZ_CRIU_H
#define AZ_CRIU_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

#define AZ_CRIU_IMG_COMMON_MAGIC  0x54564319u
#define AZ_CRIU_IMG_SERVICE_MAGIC 0x55105940u
#define AZ_CRIU_PSTREE_MAGIC	  0x50273030u
#define AZ_CRIU_CORE_MAGIC	  0x55053847u

/* A protobuf message (or any bounded span of one). */
struct az_pb {
	const uint8_t *p, *end;
};
bool az_pb_varint(struct az_pb *b, uint64_t *v);
/* Next field: its number and wire type; a varint value in *v, a length-delimited one in *sub
 * (sub->p NULL for the other wire types). Fixed 32/64-bit fields are skipped. false at the end
 * or on malformed input (*bad set). */
bool az_pb_next(struct az_pb *b, uint32_t *field, uint64_t *v, struct az_pb *sub, bool *bad);

/* The entries of one image, one at a time. */
struct az_criu_img {
	const uint8_t *d;
	size_t len, off;
};
/* Check the magic (alone, or after the common/service magic): 0, or -1 when it is not there. */
int az_criu_open(struct az_criu_img *im, const uint8_t *d, size_t len, uint32_t magic);
/* The next entry into *entry; false at the end, or on a truncated entry (*bad set). */
bool az_criu_next(struct az_criu_img *im, struct az_pb *entry, bool *bad);

/* pstree.img: one entry per process. */
struct az_criu_pstree {
	int64_t pid, ppid; /* -1 when absent or out of range */
	int64_t threads;
};
/* Every entry of a pstree image to each(), in order; index counts the entries. Errors say what
 * is wrong with the image ("entry 3: no pid"), for the caller to prefix with the image's name. */
typedef int (*az_criu_pstree_fn)(void *ud, size_t index, const struct az_criu_pstree *e, ai_err_t *err);
int az_criu_pstree_read(const uint8_t *d, size_t len, az_criu_pstree_fn each, void *ud, ai_err_t *err);

/* core-PID.img: the first entry's task state, command name and credentials. */
struct az_criu_core {
	uint64_t state; /* CRIU task states: 1 alive, 2 dead, 3 stopped, 6 zombie */
	bool have_state, have_creds;
	int64_t uid[4], gid[4]; /* real, effective, saved, fs; -1 when absent */
	const uint8_t *comm;	/* into the image's bytes, NULL when absent; no NUL, at most 256 */
	size_t comm_len;
};
int az_criu_core_read(const uint8_t *d, size_t len, struct az_criu_core *out, ai_err_t *err);

#endif
