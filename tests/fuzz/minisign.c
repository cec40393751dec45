/* Fuzz target: minisign text through common/sign.c. A bundle's .minisig and the public key given
 * to verify come from whoever handed over the bundle. Each input is checked as a signature of
 * one fixed message against two fixed keys (an afterimage-capture keygen key and a stock
 * minisign key; the corpus holds real signatures by both), and parsed as a public key, which
 * must format back to a key that parses to the same bytes. */
#include "common/sign.h"
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The message the corpus signatures sign, and the keys that signed them. */
static const char message[] = "afterimage fuzz: the signed message\n";
static const char *const keys[] = {
    "untrusted comment: minisign public key F8B6EECDF1800029\n"
    "RWQpAIDxze62+KTYk70sioBotOcYM6MjcnAbsbDxelfMgwHawhwXn2xe\n",
    "untrusted comment: minisign public key 9A1D2CD2620D475B\n"
    "RWRbRw1i0iwdmlDn03UnNiXyYCzp9hW8TYy5XergxrcV8OikZHBTgUwB\n",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static struct ai_pubkey pubs[NKEYS];
static uint8_t digest[AI_BLAKE2B_LEN];

static void setup(void)
{
	static int done;
	if (done)
		return;
	ai_err_t err;
	for (size_t i = 0; i < NKEYS; i++)
		if (ai_pubkey_parse(keys[i], strlen(keys[i]), &pubs[i], &err) < 0)
			abort();
	unsigned int len = 0;
	if (EVP_Digest(message, sizeof(message) - 1, digest, &len, EVP_blake2b512(), NULL) != 1 ||
	    len != AI_BLAKE2B_LEN)
		abort();
	done = 1;
}

/* A verified signature's trusted comment is its third line after "trusted comment: ",
 * NUL-terminated and cut to the buffer. */
static void check_trusted(const char *sig, size_t siglen, const char *tc, size_t cap)
{
	size_t n = strnlen(tc, cap);
	if (n >= cap)
		abort();
	const char *p = sig, *end = sig + siglen;
	for (int line = 0; line < 2; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			abort();
		p = nl + 1;
	}
	if ((size_t)(end - p) < 17 + n || memcmp(p, "trusted comment: ", 17) || memcmp(p + 17, tc, n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	/* An exact-size copy: a read past the input is a heap overflow the sanitizers report. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	ai_err_t err;
	for (size_t i = 0; i < NKEYS; i++) {
		char tc[1024], small[8];
		if (ai_minisign_verify(&pubs[i], digest, buf, size, tc, sizeof(tc), &err) == 0) {
			check_trusted(buf, size, tc, sizeof(tc));
			if (ai_minisign_verify(&pubs[i], digest, buf, size, small, sizeof(small), &err) < 0)
				abort();
			check_trusted(buf, size, small, sizeof(small));
		}
		ai_minisign_verify(&pubs[i], digest, buf, size, NULL, 0, &err);
	}
	struct ai_pubkey pk, again;
	if (ai_pubkey_parse(buf, size, &pk, &err) == 0) {
		struct ai_buf txt;
		ai_buf_init(&txt);
		ai_pubkey_format(&pk, &txt);
		if (ai_pubkey_parse(txt.data, txt.len, &again, &err) < 0 || memcmp(&pk, &again, sizeof(pk)))
			abort();
		ai_buf_free(&txt);
	}
	free(buf);
	return 0;
}

#include "tests/fuzz/driver.inc"
