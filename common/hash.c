#include "common/hash.h"
#include <errno.h>
#include <openssl/evp.h>
#include <unistd.h>

static int init_md(struct ai_hash *h, const EVP_MD *md, ai_err_t *err)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || !md || EVP_DigestInit_ex(c, md, NULL) != 1) {
		EVP_MD_CTX_free(c);
		h->ctx = NULL;
		return ai_err_set(err, 0, "cannot initialise digest");
	}
	h->ctx = c;
	return 0;
}

int ai_hash_init_sha256(struct ai_hash *h, ai_err_t *err)
{
	return init_md(h, EVP_sha256(), err);
}

int ai_hash_init_blake2b(struct ai_hash *h, ai_err_t *err)
{
	return init_md(h, EVP_blake2b512(), err);
}

void ai_hash_update(struct ai_hash *h, const void *data, size_t len)
{
	if (h->ctx && len)
		EVP_DigestUpdate(h->ctx, data, len);
}

int ai_hash_final(struct ai_hash *h, uint8_t *out, ai_err_t *err)
{
	unsigned int n = 0;
	int ok = h->ctx && EVP_DigestFinal_ex(h->ctx, out, &n) == 1;
	ai_hash_free(h);
	return ok ? 0 : ai_err_set(err, 0, "digest failed");
}

void ai_hash_free(struct ai_hash *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void ai_hex(const uint8_t *in, size_t len, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * len] = '\0';
}

int ai_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ai_sha256_hex(const void *data, size_t len, char out[AI_SHA256_HEXLEN], ai_err_t *err)
{
	struct ai_hash h;
	uint8_t md[AI_SHA256_LEN];
	if (ai_hash_init_sha256(&h, err) < 0)
		return -1;
	ai_hash_update(&h, data, len);
	if (ai_hash_final(&h, md, err) < 0)
		return -1;
	ai_hex(md, sizeof(md), out);
	return 0;
}

int ai_hash_fd_max(int fd, int blake2b, uint64_t max, uint8_t *out, uint64_t *size, ai_err_t *err)
{
	struct ai_hash h;
	if ((blake2b ? ai_hash_init_blake2b(&h, err) : ai_hash_init_sha256(&h, err)) < 0)
		return -1;
	static __thread char buf[1 << 16];
	uint64_t total = 0;
	while (!max || total < max) {
		size_t want = sizeof(buf);
		if (max && max - total < want)
			want = (size_t)(max - total);
		ssize_t n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int en = errno;
			ai_hash_free(&h);
			return ai_err_set(err, en, "read");
		}
		if (n == 0)
			break;
		ai_hash_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (size)
		*size = total;
	return ai_hash_final(&h, out, err);
}

int ai_hash_fd(int fd, int blake2b, uint8_t *out, ai_err_t *err)
{
	return ai_hash_fd_max(fd, blake2b, 0, out, NULL, err);
}
