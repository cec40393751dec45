/* Hashing through OpenSSL EVP only. */
#ifndef AI_HASH_H
#define AI_HASH_H
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

#define AI_SHA256_LEN	 32
#define AI_SHA256_HEXLEN 65
#define AI_BLAKE2B_LEN	 64

struct ai_hash {
	void *ctx; /* EVP_MD_CTX */
};

int ai_hash_init_sha256(struct ai_hash *h, ai_err_t *err);
int ai_hash_init_blake2b(struct ai_hash *h, ai_err_t *err);
void ai_hash_update(struct ai_hash *h, const void *data, size_t len);
/* Writes the digest (32 or 64 bytes) and frees the context. */
int ai_hash_final(struct ai_hash *h, uint8_t *out, ai_err_t *err);
void ai_hash_free(struct ai_hash *h);
void ai_hex(const uint8_t *in, size_t len, char *out); /* out holds 2*len+1 */
/* The value of one hex digit (either case), or -1. */
int ai_hexval(int c);
/* One-shot SHA-256 of a memory block, hex. */
int ai_sha256_hex(const void *data, size_t len, char out[AI_SHA256_HEXLEN], ai_err_t *err);
/* Stream a whole fd, from where its offset is, through SHA-256 or BLAKE2b-512. */
int ai_hash_fd(int fd, int blake2b, uint8_t *out, ai_err_t *err);
/* The same, at most max bytes (0: no limit); *size (may be NULL) receives the bytes hashed. */
int ai_hash_fd_max(int fd, int blake2b, uint64_t max, uint8_t *out, uint64_t *size, ai_err_t *err);

#endif
