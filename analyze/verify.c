#include "analyze/verify.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "analyze/util.h"
#include "common/bundle.h"
#include "common/cleanup.h"
#include "common/hash.h"
#include "common/sign.h"

struct member {
	char *name;
	size_t name_len;
	uint64_t size;
	char sha256[65]; /* "" for entries without content (dirs, symlinks) */
	bool listed;	 /* seen in SHA256SUMS */
};

static void report(struct az_verify_result *r, bool fail, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(struct az_verify_result *r, bool fail, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ai_buf_printf(&r->report, "%s %s\n", fail ? "FAIL" : "ok  ", line);
	if (fail)
		r->failures++;
}

/* Member names seen so far, for hardlink targets: open addressing over indexes into the member
 * array (+1, 0 empty), load <= 0.5; a repeated name points at its latest member. */
struct name_table {
	uint32_t *slot;
	size_t cap; /* power of two */
	size_t n;
};

static uint64_t name_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static void name_table_put(struct name_table *t, const struct member *ms, size_t idx);

static void name_table_grow(struct name_table *t, const struct member *ms)
{
	struct name_table old = *t;
	t->cap = old.cap ? old.cap * 2 : 1024;
	t->slot = calloc(t->cap, sizeof(uint32_t));
	t->n = 0;
	if (!t->slot)
		abort();
	for (size_t i = 0; i < old.cap; i++)
		if (old.slot[i])
			name_table_put(t, ms, old.slot[i] - 1);
	free(old.slot);
}

static void name_table_put(struct name_table *t, const struct member *ms, size_t idx)
{
	if ((t->n + 1) * 2 > t->cap)
		name_table_grow(t, ms);
	const struct member *m = &ms[idx];
	size_t h = (size_t)name_hash(m->name, m->name_len) & (t->cap - 1);
	for (; t->slot[h]; h = (h + 1) & (t->cap - 1)) {
		const struct member *x = &ms[t->slot[h] - 1];
		if (x->name_len == m->name_len && !memcmp(x->name, m->name, m->name_len)) {
			t->slot[h] = (uint32_t)idx + 1;
			return;
		}
	}
	t->slot[h] = (uint32_t)idx + 1;
	t->n++;
}

static const struct member *name_table_get(const struct name_table *t, const struct member *ms,
					   const char *name, size_t len)
{
	if (!t->cap)
		return NULL;
	size_t h = (size_t)name_hash(name, len) & (t->cap - 1);
	for (; t->slot[h]; h = (h + 1) & (t->cap - 1)) {
		const struct member *x = &ms[t->slot[h] - 1];
		if (x->name_len == len && !memcmp(x->name, name, len))
			return x;
	}
	return NULL;
}

static void name_table_freep(struct name_table *t)
{
	free(t->slot);
}
#define cleanup_name_table __attribute__((cleanup(name_table_freep)))

static int cmp_member(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static struct member *find(struct member *ms, size_t n, const char *name, size_t len)
{
	struct member key = {.name = (char *)name, .name_len = len};
	return bsearch(&key, ms, n, sizeof(*ms), cmp_member);
}

/* A member name for a report line, escaped. */
static const char *shown(struct ai_buf *b, const char *s, size_t len)
{
	ai_buf_reset(b);
	ai_esc_text(b, s, len);
	return ai_buf_cstr(b);
}

/* The same for a C string, dflt when NULL. */
static const char *shown_c(struct ai_buf *b, const char *s, const char *dflt)
{
	return shown(b, s ? s : dflt, strlen(s ? s : dflt));
}

static int read_file_small(const char *path, size_t max, char **out, size_t *len, ai_err_t *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return ai_err_set(err, errno, "%s", path);
	return az_read_fd(fd, path, max, out, len, err);
}

static void free_members(struct member *ms, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ms[i].name);
	free(ms);
}

/* Parse SHA256SUMS and compare with the computed member hashes. */
static void check_sums(struct az_verify_result *r, struct member *ms, size_t n, const char *sums, size_t len)
{
	cleanup_buf struct ai_buf nm, sh;
	ai_buf_init(&nm);
	ai_buf_init(&sh);
	size_t bad = 0, lines = 0;
	const char *p = sums, *end = sums + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			report(r, true, "SHA256SUMS: last line not terminated");
			return;
		}
		lines++;
		bool esc = *p == '\\';
		const char *h = p + esc;
		if (nl - h < 66 || h[64] != ' ' || h[65] != ' ') {
			report(r, true, "SHA256SUMS: malformed line %zu", lines);
			bad++;
			p = nl + 1;
			continue;
		}
		ai_buf_reset(&nm);
		for (const char *q = h + 66; q < nl; q++) {
			if (esc && *q == '\\' && q + 1 < nl) {
				q++;
				ai_buf_addc(&nm, *q == 'n' ? '\n' : *q);
			} else
				ai_buf_addc(&nm, *q);
		}
		struct member *m = find(ms, n, nm.data ? nm.data : "", nm.len);
		if (!m) {
			report(r, true, "member %s: listed in SHA256SUMS but missing from the archive",
			       shown(&sh, nm.data, nm.len));
			bad++;
		} else if (m->listed) {
			report(r, true, "member %s: listed twice in SHA256SUMS", shown(&sh, nm.data, nm.len));
			bad++;
		} else {
			m->listed = true;
			if (strncmp(m->sha256, h, 64) != 0) {
				report(r, true, "member %s: sha256 %s does not match SHA256SUMS (%.64s)",
				       shown(&sh, nm.data, nm.len), m->sha256[0] ? m->sha256 : "(no content)",
				       h);
				bad++;
			}
		}
		p = nl + 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (ms[i].listed || !ms[i].sha256[0])
			continue;
		if (!strcmp(ms[i].name, AI_M_SUMS) || !strcmp(ms[i].name, AI_M_SUMS_SIG))
			continue;
		report(r, true, "member %s: in the archive but not in SHA256SUMS",
		       shown(&sh, ms[i].name, ms[i].name_len));
		bad++;
	}
	if (!bad)
		report(r, false, "SHA256SUMS: %zu members, every hash matches", lines);
}

static void check_manifest(struct az_verify_result *r, struct member *ms, size_t n, const char *doc,
			   size_t len)
{
	ai_err_t e;
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, AI_M_MANIFEST, &j, &e) < 0) {
		report(r, true, "%s", e.msg);
		return;
	}
	const char *fmt = json_string_value(json_object_get(j, "format"));
	if (!fmt || strcmp(fmt, "afterimage-bundle") ||
	    az_j_int(j, "format_version", -1) != AI_BUNDLE_FORMAT_VERSION) {
		report(r, true, "manifest.json: not an afterimage-bundle of format_version %d",
		       AI_BUNDLE_FORMAT_VERSION);
		return;
	}
	json_t *arr = json_object_get(j, "members");
	if (!json_is_array(arr)) {
		report(r, true, "manifest.json: no members array");
		return;
	}
	cleanup_buf struct ai_buf sh;
	ai_buf_init(&sh);
	size_t bad = 0;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *o = json_array_get(arr, i);
		struct az_str p = {0};
		if (az_j_str(o, "path", &p, &e) < 0 || !p.s) {
			report(r, true, "manifest.json: members[%zu]: bad path", i);
			az_str_free(&p);
			bad++;
			continue;
		}
		struct member *m = find(ms, n, p.s, p.len);
		const char *sha = json_string_value(json_object_get(o, "sha256"));
		int64_t size = az_j_int(o, "size", -1);
		if (!m) {
			report(r, true, "member %s: in manifest.json but missing from the archive",
			       shown(&sh, p.s, p.len));
			bad++;
		} else if (!sha || strcmp(sha, m->sha256) || size < 0 || (uint64_t)size != m->size) {
			report(r, true, "member %s: size/sha256 differ from manifest.json",
			       shown(&sh, p.s, p.len));
			bad++;
		}
		az_str_free(&p);
	}
	r->complete = az_j_bool(j, "complete");
	if (!bad)
		report(r, false, "manifest.json: %zu members match, complete=%s", json_array_size(arr),
		       r->complete ? "true" : "false");
}

int az_verify(const char *bundle, const char *pubkey_path, struct az_verify_result *res, ai_err_t *err)
{
	memset(res, 0, sizeof(*res));
	ai_buf_init(&res->report);
	struct ai_pubkey pub;
	if (ai_pubkey_read_file(pubkey_path, &pub, err) < 0)
		return ai_err_wrap(err, "public key %s", pubkey_path);
	ai_hex(pub.keyid, 8, res->keyid);

	cleanup_close int fd = az_open_regular(bundle, err);
	if (fd < 0)
		return -1;

	/* one pass feeds both the outer signature's hash and libarchive */
	struct ai_hash b2;
	cleanup_free struct az_fdsrc *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->fd = fd;
	s->hash = &b2;
	if (ai_hash_init_blake2b(&b2, err) < 0)
		return -1;

	struct archive *a cleanup_archive = archive_read_new();
	if (!a)
		return ai_err_set(err, 0, "archive_read_new");
	archive_read_support_format_tar(a);

	struct member *ms = NULL;
	size_t n = 0, cap = 0;
	struct name_table names cleanup_name_table = {0};
	cleanup_free char *sums = NULL, *sums_sig = NULL, *manifest = NULL;
	size_t sums_len = 0, sums_sig_len = 0, manifest_len = 0;
	bool archive_ok = true;
	cleanup_buf struct ai_buf sh, sh2;
	ai_buf_init(&sh);
	ai_buf_init(&sh2);

	if (az_fdsrc_open(a, s) != ARCHIVE_OK) {
		report(res, true, "archive: %s", shown_c(&sh, archive_error_string(a), "unreadable"));
		archive_ok = false;
	}
	struct archive_entry *e;
	int rc;
	while (archive_ok && ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN)) {
		if (n >= AZ_MAX_MEMBERS) {
			report(res, true, "archive: more than %u members", AZ_MAX_MEMBERS);
			archive_ok = false;
			break;
		}
		const char *name = archive_entry_pathname(e);
		if (!name) {
			report(res, true, "archive: member %zu has no name", n);
			archive_ok = false;
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			ms = realloc(ms, cap * sizeof(*ms));
			if (!ms)
				abort();
		}
		struct member *m = &ms[n++];
		memset(m, 0, sizeof(*m));
		m->name_len = strlen(name);
		m->name = strdup(name);
		if (!m->name)
			abort();
		const char *hl = archive_entry_hardlink(e);
		if (hl) {
			/* a hardlink's content is its first link's: find it among the members so far */
			const struct member *t = name_table_get(&names, ms, hl, strlen(hl));
			if (t) {
				memcpy(m->sha256, t->sha256, 65);
				m->size = t->size;
			}
			name_table_put(&names, ms, n - 1);
			continue;
		}
		name_table_put(&names, ms, n - 1);
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		char **keep = NULL;
		size_t *keep_len = NULL;
		if (!strcmp(name, AI_M_SUMS))
			keep = &sums, keep_len = &sums_len;
		else if (!strcmp(name, AI_M_SUMS_SIG))
			keep = &sums_sig, keep_len = &sums_sig_len;
		else if (!strcmp(name, AI_M_MANIFEST))
			keep = &manifest, keep_len = &manifest_len;
		if (keep && *keep) {
			report(res, true, "member %s: appears twice", name);
			continue;
		}
		struct ai_hash h;
		if (ai_hash_init_sha256(&h, err) < 0) {
			free_members(ms, n);
			return -1;
		}
		struct ai_buf kb;
		ai_buf_init(&kb);
		char chunk[65536];
		la_ssize_t got;
		bool too_big = false;
		while ((got = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
			ai_hash_update(&h, chunk, (size_t)got);
			m->size += (uint64_t)got;
			if (keep && !too_big) {
				if (kb.len + (size_t)got >
				    (strcmp(name, AI_M_MANIFEST) ? AZ_MAX_SMALL_MEMBER : AZ_MAX_JSON_MEMBER))
					too_big = true;
				else
					ai_buf_add(&kb, chunk, (size_t)got);
			}
		}
		uint8_t md[32];
		ai_hash_final(&h, md, err);
		ai_hex(md, 32, m->sha256);
		if (got < 0) {
			report(res, true, "member %s: unreadable: %s", shown(&sh, name, m->name_len),
			       shown_c(&sh2, archive_error_string(a), "error"));
			ai_buf_free(&kb);
			archive_ok = false;
			break;
		}
		if (keep && too_big) {
			report(res, true, "member %s: larger than the limit", shown(&sh, name, m->name_len));
			ai_buf_free(&kb);
		} else if (keep) {
			ai_buf_cstr(&kb);
			*keep_len = kb.len;
			*keep = kb.data ? ai_buf_steal(&kb) : strdup("");
		}
	}
	if (archive_ok && rc != ARCHIVE_EOF) {
		report(res, true, "archive: truncated or corrupt after %zu members: %s", n,
		       shown_c(&sh, archive_error_string(a), "error"));
		archive_ok = false;
	}
	if (s->read_errno) {
		free_members(ms, n);
		return ai_err_set(err, s->read_errno, "%s: read", bundle);
	}
	/* The signature covers the whole file: hash what libarchive did not need (padding). */
	az_fdsrc_drain(s);
	uint8_t digest[AI_BLAKE2B_LEN];
	if (ai_hash_final(&b2, digest, err) < 0) {
		free_members(ms, n);
		return -1;
	}
	if (archive_ok)
		report(res, false, "archive: %zu members, %llu bytes read once", n,
		       (unsigned long long)s->total);

	/* 1. the outer signature */
	cleanup_buf struct ai_buf sigpath;
	ai_buf_init(&sigpath);
	ai_buf_printf(&sigpath, "%s.minisig", bundle);
	cleanup_free char *sig = NULL;
	size_t siglen = 0;
	ai_err_t e2;
	char trusted[1024] = "";
	if (read_file_small(ai_buf_cstr(&sigpath), 64 * 1024, &sig, &siglen, &e2) < 0)
		report(res, true, "outer signature: %s", shown_c(&sh, e2.msg, ""));
	else if (ai_minisign_verify(&pub, digest, sig, siglen, trusted, sizeof(trusted), &e2) < 0)
		report(res, true, "outer signature %s: %s", shown_c(&sh, ai_buf_cstr(&sigpath), ""),
		       shown_c(&sh2, e2.msg, ""));
	else
		/* the trusted comment is the bundle's own text: verified, but not harmless */
		report(res, false, "outer signature %s: valid, key id %s, trusted comment: %s",
		       shown_c(&sh, ai_buf_cstr(&sigpath), ""), res->keyid, shown_c(&sh2, trusted, ""));

	if (n)
		qsort(ms, n, sizeof(*ms), cmp_member);
	for (size_t i = 1; i < n; i++)
		if (!cmp_member(&ms[i - 1], &ms[i]))
			report(res, true, "member %s: appears more than once",
			       shown(&sh, ms[i].name, ms[i].name_len));

	/* 2. SHA256SUMS.minisig over SHA256SUMS */
	if (!sums || !sums_sig) {
		report(res, true, "%s",
		       !sums ? "member SHA256SUMS: missing" : "member SHA256SUMS.minisig: missing");
	} else {
		struct ai_hash h;
		uint8_t md[AI_BLAKE2B_LEN];
		if (ai_hash_init_blake2b(&h, err) < 0) {
			free_members(ms, n);
			return -1;
		}
		ai_hash_update(&h, sums, sums_len);
		ai_hash_final(&h, md, err);
		char tc2[1024] = "";
		if (ai_minisign_verify(&pub, md, sums_sig, sums_sig_len, tc2, sizeof(tc2), &e2) < 0)
			report(res, true, "signature SHA256SUMS.minisig: %s", shown_c(&sh, e2.msg, ""));
		else
			report(res, false, "signature SHA256SUMS.minisig: valid");
		/* 3. every member against SHA256SUMS */
		check_sums(res, ms, n, sums, sums_len);
	}
	/* 4. manifest */
	if (!manifest)
		report(res, true, "member manifest.json: missing");
	else
		check_manifest(res, ms, n, manifest, manifest_len);
	if (res->failures == 0 && !res->complete)
		ai_buf_adds(
		    &res->report,
		    "warning: the bundle is partial (manifest complete=false): see capture-log.json\n");
	free_members(ms, n);
	return 0;
}

void az_verify_result_free(struct az_verify_result *res)
{
	ai_buf_free(&res->report);
}
