#include "common/sign.h"
#include "common/safeopen.h"
#include "common/cleanup.h"
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define KEY_MAX 16384

void ai_pkey_freep(EVP_PKEY **k)
{
	EVP_PKEY_free(*k);
}

static void bio_freep(BIO **b)
{
	BIO_free(*b);
}
#define cleanup_bio __attribute__((cleanup(bio_freep)))
static void mdctx_freep(EVP_MD_CTX **c)
{
	EVP_MD_CTX_free(*c);
}
#define cleanup_mdctx __attribute__((cleanup(mdctx_freep)))

int ai_key_generate(EVP_PKEY **out, ai_err_t *err)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k)
		return ai_err_set(err, 0, "Ed25519 key generation failed");
	*out = k;
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ai_key_pub(EVP_PKEY *key, struct ai_pubkey *pub, ai_err_t *err)
{
	size_t len = sizeof(pub->pk);
	if (EVP_PKEY_get_raw_public_key(key, pub->pk, &len) != 1 || len != 32)
		return ai_err_set(err, 0, "not an Ed25519 key");
	char hex[AI_SHA256_HEXLEN];
	uint8_t md[32];
	unsigned int mdlen = 0;
	if (EVP_Digest(pub->pk, 32, md, &mdlen, EVP_sha256(), NULL) != 1)
		return ai_err_set(err, 0, "sha256 failed");
	(void)hex;
	memcpy(pub->keyid, md, 8);
	return 0;
}

static void b64(const uint8_t *in, size_t len, struct ai_buf *out)
{
	char tmp[256];
	int n = EVP_EncodeBlock((unsigned char *)tmp, in, (int)len);
	ai_buf_add(out, tmp, (size_t)n);
}

/* Decode base64 exactly into want bytes; anything else is malformed. */
static int unb64(const char *in, size_t len, uint8_t *out, size_t want)
{
	if (len == 0 || len > 200 || len % 4)
		return -1;
	unsigned char tmp[160];
	int n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	size_t pad = 0;
	if (in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	if ((size_t)n - pad != want)
		return -1;
	memcpy(out, tmp, want);
	return 0;
}

static uint64_t keyid_num(const uint8_t id[8])
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | id[i];
	return v;
}

void ai_keyid_str(const uint8_t id[8], char out[17])
{
	snprintf(out, 17, "%016llX", (unsigned long long)keyid_num(id));
}

void ai_pubkey_format(const struct ai_pubkey *pub, struct ai_buf *out)
{
	uint8_t raw[42];
	raw[0] = 'E';
	raw[1] = 'd';
	memcpy(raw + 2, pub->keyid, 8);
	memcpy(raw + 10, pub->pk, 32);
	ai_buf_printf(out, "untrusted comment: minisign public key %016llX\n",
		      (unsigned long long)keyid_num(pub->keyid));
	b64(raw, sizeof(raw), out);
	ai_buf_addc(out, '\n');
}

/* Split text into at most max lines (without \r?\n). */
static size_t split_lines(const char *text, size_t len, const char **line, size_t *llen, size_t max)
{
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len && n < max; i++) {
		if (i == len || text[i] == '\n') {
			size_t e = i;
			if (e > start && text[e - 1] == '\r')
				e--;
			if (i == len && e == start)
				break;
			line[n] = text + start;
			llen[n++] = e - start;
			start = i + 1;
		}
	}
	return n;
}

int ai_pubkey_parse(const char *text, size_t len, struct ai_pubkey *pub, ai_err_t *err)
{
	const char *line[3];
	size_t ll[3];
	size_t n = split_lines(text, len, line, ll, 3);
	const char *b = NULL;
	size_t bl = 0;
	/* minisign accepts the bare base64 line too */
	if (n >= 2 && ll[0] >= 19 && memcmp(line[0], "untrusted comment: ", 19) == 0) {
		b = line[1];
		bl = ll[1];
	} else if (n >= 1) {
		b = line[0];
		bl = ll[0];
	}
	uint8_t raw[42];
	if (!b || unb64(b, bl, raw, sizeof(raw)) < 0 || raw[0] != 'E' || raw[1] != 'd')
		return ai_err_set(err, 0, "malformed minisign public key");
	memcpy(pub->keyid, raw + 2, 8);
	memcpy(pub->pk, raw + 10, 32);
	return 0;
}

static int read_bounded(const char *path, char *buf, size_t max, size_t *len, ai_err_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ai_err_set(err, errno, "open %s", path);
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ai_err_set(err, errno, "read %s", path);
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == max)
			return ai_err_set(err, 0, "%s: larger than %zu bytes", path, max - 1);
	}
	*len = got;
	return 0;
}

int ai_pubkey_read_file(const char *path, struct ai_pubkey *pub, ai_err_t *err)
{
	char buf[4096];
	size_t len = 0;
	if (read_bounded(path, buf, sizeof(buf), &len, err) < 0)
		return -1;
	if (ai_pubkey_parse(buf, len, pub, err) < 0)
		return ai_err_wrap(err, "%s", path);
	return 0;
}

int ai_key_write(EVP_PKEY *key, const char *base, ai_err_t *err)
{
	char path[4096];
	struct ai_pubkey pub;
	if (ai_key_pub(key, &pub, err) < 0)
		return -1;

	snprintf(path, sizeof(path), "%s.key", base);
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ai_err_set(err, errno, "create %s", path);
	cleanup_bio BIO *mem = BIO_new(BIO_s_secmem());
	if (!mem || PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1)
		return ai_err_set(err, 0, "cannot encode private key");
	char *pem = NULL;
	long pemlen = BIO_get_mem_data(mem, &pem);
	if (pemlen <= 0 || write_all(fd, pem, (size_t)pemlen) < 0 || fsync(fd) < 0)
		return ai_err_set(err, errno, "write %s", path);

	snprintf(path, sizeof(path), "%s.pub", base);
	cleanup_close int pfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (pfd < 0)
		return ai_err_set(err, errno, "create %s", path);
	cleanup_buf struct ai_buf txt;
	ai_buf_init(&txt);
	ai_pubkey_format(&pub, &txt);
	if (write_all(pfd, txt.data, txt.len) < 0 || fsync(pfd) < 0)
		return ai_err_set(err, errno, "write %s", path);
	return 0;
}

int ai_key_read_fd(int fd, EVP_PKEY **out, ai_err_t *err)
{
	/* The PEM text lives only in this locked page and is wiped before return. */
	char *buf = mmap(NULL, KEY_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return ai_err_set(err, errno, "mmap");
	bool locked = mlock(buf, KEY_MAX) == 0;
	madvise(buf, KEY_MAX, MADV_DONTDUMP);
	size_t got = 0;
	int ret = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, KEY_MAX - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = ai_err_set(err, errno, "read key");
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == KEY_MAX - 1) {
			ret = ai_err_set(err, 0, "key larger than %d bytes", KEY_MAX - 1);
			goto out;
		}
	}
	{
		cleanup_bio BIO *mem = BIO_new_mem_buf(buf, (int)got);
		EVP_PKEY *k = mem ? PEM_read_bio_PrivateKey(mem, NULL, NULL, NULL) : NULL;
		if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
			EVP_PKEY_free(k);
			ret = ai_err_set(err, 0, "not a PEM Ed25519 private key");
			goto out;
		}
		*out = k;
	}
out:
	OPENSSL_cleanse(buf, KEY_MAX);
	if (locked)
		munlock(buf, KEY_MAX);
	munmap(buf, KEY_MAX);
	return ret;
}

int ai_key_read_file(const char *path, bool allow_loose_mode, EVP_PKEY **out, ai_err_t *err)
{
	cleanup_close int fd = ai_open_secret(path, "key file", allow_loose_mode, err);
	if (fd < 0)
		return -1;
	if (ai_key_read_fd(fd, out, err) < 0)
		return ai_err_wrap(err, "%s", path);
	return 0;
}

static int ed_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[64], ai_err_t *err)
{
	cleanup_mdctx EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t siglen = 64;
	if (!c || EVP_DigestSignInit(c, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(c, sig, &siglen, msg, len) != 1 || siglen != 64)
		return ai_err_set(err, 0, "Ed25519 signing failed");
	return 0;
}

static int ed_verify(const uint8_t pk[32], const uint8_t *msg, size_t len, const uint8_t sig[64])
{
	cleanup_pkey EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
	cleanup_mdctx EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!k || !c || EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) != 1)
		return -1;
	return EVP_DigestVerify(c, sig, 64, msg, len) == 1 ? 0 : -1;
}

int ai_minisign_sign(EVP_PKEY *key, const uint8_t digest[AI_BLAKE2B_LEN], const char *untrusted_comment,
		     const char *trusted_comment, struct ai_buf *out, ai_err_t *err)
{
	struct ai_pubkey pub;
	if (strchr(untrusted_comment, '\n') || strchr(trusted_comment, '\n'))
		return ai_err_set(err, 0, "signature comments cannot hold newlines");
	if (ai_key_pub(key, &pub, err) < 0)
		return -1;
	uint8_t raw[74];
	raw[0] = 'E';
	raw[1] = 'D';
	memcpy(raw + 2, pub.keyid, 8);
	if (ed_sign(key, digest, AI_BLAKE2B_LEN, raw + 10, err) < 0)
		return -1;
	size_t tlen = strlen(trusted_comment);
	cleanup_free uint8_t *global = malloc(64 + tlen);
	if (!global)
		return ai_err_set(err, ENOMEM, "signature");
	memcpy(global, raw + 10, 64);
	memcpy(global + 64, trusted_comment, tlen);
	uint8_t gsig[64];
	if (ed_sign(key, global, 64 + tlen, gsig, err) < 0)
		return -1;
	ai_buf_printf(out, "untrusted comment: %s\n", untrusted_comment);
	b64(raw, sizeof(raw), out);
	ai_buf_printf(out, "\ntrusted comment: %s\n", trusted_comment);
	b64(gsig, sizeof(gsig), out);
	ai_buf_addc(out, '\n');
	return 0;
}

int ai_minisign_verify(const struct ai_pubkey *pub, const uint8_t digest[AI_BLAKE2B_LEN], const char *sigtext,
		       size_t siglen, char *trusted_out, size_t trusted_len, ai_err_t *err)
{
	const char *line[4];
	size_t ll[4];
	if (split_lines(sigtext, siglen, line, ll, 4) != 4 || ll[0] < 19 ||
	    memcmp(line[0], "untrusted comment: ", 19) != 0 || ll[2] < 17 ||
	    memcmp(line[2], "trusted comment: ", 17) != 0)
		return ai_err_set(err, 0, "malformed signature");
	uint8_t raw[74], gsig[64];
	if (unb64(line[1], ll[1], raw, sizeof(raw)) < 0 || unb64(line[3], ll[3], gsig, sizeof(gsig)) < 0)
		return ai_err_set(err, 0, "malformed signature encoding");
	if (raw[0] != 'E' || raw[1] != 'D')
		return ai_err_set(err, 0, "unsupported signature algorithm (only prehashed ED)");
	if (memcmp(raw + 2, pub->keyid, 8) != 0)
		return ai_err_set(err, 0, "signed by another key (key id %016llX, expected %016llX)",
				  (unsigned long long)keyid_num(raw + 2),
				  (unsigned long long)keyid_num(pub->keyid));
	if (ed_verify(pub->pk, digest, AI_BLAKE2B_LEN, raw + 10) < 0)
		return ai_err_set(err, 0, "signature verification failed");
	const char *tc = line[2] + 17;
	size_t tcl = ll[2] - 17;
	cleanup_free uint8_t *global = malloc(64 + tcl + 1);
	if (!global)
		return ai_err_set(err, ENOMEM, "signature");
	memcpy(global, raw + 10, 64);
	memcpy(global + 64, tc, tcl);
	if (ed_verify(pub->pk, global, 64 + tcl, gsig) < 0)
		return ai_err_set(err, 0, "trusted comment signature verification failed");
	if (trusted_out && trusted_len) {
		size_t n = tcl < trusted_len - 1 ? tcl : trusted_len - 1;
		memcpy(trusted_out, tc, n);
		trusted_out[n] = '\0';
	}
	return 0;
}
