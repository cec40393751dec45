/* Ed25519 keys and minisign signatures (prehashed "ED" form), via OpenSSL.
 * Key id: the first 8 bytes of SHA-256 of the raw public key, so a PKCS#8 key needs no side file. */
#ifndef AI_SIGN_H
#define AI_SIGN_H
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"

struct ai_pubkey {
	uint8_t keyid[8];
	uint8_t pk[32];
};

typedef struct evp_pkey_st EVP_PKEY;
void ai_pkey_freep(EVP_PKEY **k);
#define cleanup_pkey __attribute__((cleanup(ai_pkey_freep)))

int ai_key_generate(EVP_PKEY **out, ai_err_t *err);
/* Write BASE.key (PKCS#8 PEM, 0600, O_EXCL) and BASE.pub (minisign public key). */
int ai_key_write(EVP_PKEY *key, const char *base, ai_err_t *err);
/* Read a PEM private key from fd into locked memory, wipe the copy; never from env or argv. */
int ai_key_read_fd(int fd, EVP_PKEY **out, ai_err_t *err);
/* The key file must be a regular file that only its owner can read (ai_open_secret), unless
 * allow_loose_mode. */
int ai_key_read_file(const char *path, bool allow_loose_mode, EVP_PKEY **out, ai_err_t *err);
int ai_key_pub(EVP_PKEY *key, struct ai_pubkey *pub, ai_err_t *err);
/* A key id as minisign prints it (the little-endian u64 in 16 upper-case hex digits): the one
 * form keygen, verify and the public key's comment show. */
void ai_keyid_str(const uint8_t id[8], char out[17]);
/* "untrusted comment: ...\nBASE64\n" */
void ai_pubkey_format(const struct ai_pubkey *pub, struct ai_buf *out);
int ai_pubkey_parse(const char *text, size_t len, struct ai_pubkey *pub, ai_err_t *err);
int ai_pubkey_read_file(const char *path, struct ai_pubkey *pub, ai_err_t *err);

/* A minisign signature of a BLAKE2b-512 digest; comments must hold no newline. */
int ai_minisign_sign(EVP_PKEY *key, const uint8_t digest[AI_BLAKE2B_LEN], const char *untrusted_comment,
		     const char *trusted_comment, struct ai_buf *out, ai_err_t *err);
/* Check a minisign signature text against a digest. trusted_out (optional, >= 1024 bytes)
 * receives the trusted comment. Accepts only the prehashed form. */
int ai_minisign_verify(const struct ai_pubkey *pub, const uint8_t digest[AI_BLAKE2B_LEN], const char *sigtext,
		       size_t siglen, char *trusted_out, size_t trusted_len, ai_err_t *err);

#endif
