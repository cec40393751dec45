/* A spool: a document that grows with the evidence (the member list, the upper index, the
 * capture log) written out to an unlinked temporary file as it grows, and read back once, in
 * order, when it becomes a member. What stays in memory is one chunk, whatever the file count. */
#ifndef AI_SPOOL_H
#define AI_SPOOL_H
#include <stddef.h>
#include <stdint.h>
#include "common/buf.h"
#include "common/err.h"

/* The buffer is written out once it holds this much. */
#define AI_SPOOL_CHUNK (64u << 10)

struct ai_spool {
	struct ai_buf buf; /* the tail not written out yet: writers append here directly */
	int dirfd;	   /* where the file goes: the output directory, never the target */
	int fd;		   /* -1 until the first spill */
	uint64_t spilled;  /* bytes in the file */
	int errnum;	   /* the first spill that failed (its bytes are lost), 0 when none */
};

void ai_spool_init(struct ai_spool *s, int dirfd);
/* Write the buffer out once it holds AI_SPOOL_CHUNK bytes; call after each record. A failure is
 * kept for ai_spool_check, and the buffer is emptied anyway, so memory stays bounded. */
void ai_spool_drain(struct ai_spool *s);
/* Everything written so far: the file's bytes, then the buffer's. */
uint64_t ai_spool_size(const struct ai_spool *s);
/* 0, or -1 with err when a spill failed: the spool is then incomplete. */
int ai_spool_check(const struct ai_spool *s, const char *what, ai_err_t *err);
/* Up to len bytes from offset off; *got is 0 at the end. */
int ai_spool_read(const struct ai_spool *s, uint64_t off, void *out, size_t len, size_t *got, ai_err_t *err);
void ai_spool_free(struct ai_spool *s);
static inline void ai_spool_freep(struct ai_spool *s)
{
	ai_spool_free(s);
}
#define cleanup_spool __attribute__((cleanup(ai_spool_freep)))

/* The temporary file itself, for callers that spool on their own: O_TMPFILE in dirfd, or a
 * random name unlinked at once where the filesystem has no O_TMPFILE. -1 with errno. */
int ai_spool_tmpfile(int dirfd);

#endif
