/* verify (see verify.h). One pass over the file: the whole file's BLAKE2b for the outer signature,
 * every member's SHA-256 into the member table; SHA256SUMS (sums.c) and the manifest's member list
 * (jpush.c) are checked line by line and element by element as they stream past, against the
 * members before them; what names a member not seen yet (a reordered archive) waits in a pending
 * list and is checked after the pass. */
#include "analyze/verify.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "analyze/jpush.h"
#include "analyze/sums.h"
#include "analyze/util.h"
#include "common/bundle.h"
#include "common/cleanup.h"
#include "common/hash.h"
#include "common/sign.h"

#define VLOG_MEM	   (1u << 20)
#define MAX_NAME_BYTES	   (512u << 20) /* member names (and pending names) held, in all */
#define MAX_MANIFEST_VALUE (1u << 20)	/* one element of the member list, one other value */
#define NAME_BLOCK	   (1u << 20)

/* ---- the report: lines in memory, spilled to a temporary file past VLOG_MEM */

static void vlog_add(struct az_vlog *l, const char *s, size_t n)
{
	if (!l->spill && l->mem.len + n > VLOG_MEM && (l->spill = tmpfile())) {
		fwrite(l->mem.data, 1, l->mem.len, l->spill);
		ai_buf_free(&l->mem);
	}
	if (l->spill)
		fwrite(s, 1, n, l->spill);
	else
		ai_buf_add(&l->mem, s, n);
}

static void vlog_write(struct az_vlog *l, FILE *out)
{
	if (!l->spill) {
		fwrite(l->mem.data ? l->mem.data : "", 1, l->mem.len, out);
		return;
	}
	fflush(l->spill);
	rewind(l->spill);
	char b[65536];
	size_t n;
	while ((n = fread(b, 1, sizeof(b), l->spill)) > 0)
		fwrite(b, 1, n, out);
	fseek(l->spill, 0, SEEK_END);
}

/* Append src's lines to dst and empty src. */
static void vlog_move(struct az_vlog *dst, struct az_vlog *src)
{
	if (!src->spill)
		vlog_add(dst, src->mem.data ? src->mem.data : "", src->mem.len);
	else {
		fflush(src->spill);
		rewind(src->spill);
		char b[65536];
		size_t n;
		while ((n = fread(b, 1, sizeof(b), src->spill)) > 0)
			vlog_add(dst, b, n);
	}
	if (src->spill)
		fclose(src->spill);
	ai_buf_free(&src->mem);
	src->spill = NULL;
}

static void vlog_free(struct az_vlog *l)
{
	if (l->spill)
		fclose(l->spill);
	l->spill = NULL;
	ai_buf_free(&l->mem);
}

static void vlinev(struct az_vlog *l, size_t *failures, bool fail, const char *fmt, va_list ap)
{
	char line[2048];
	int n = snprintf(line, sizeof(line), "%s ", fail ? "FAIL" : "ok  ");
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	size_t len = strlen(line);
	line[len++] = '\n';
	vlog_add(l, line, len);
	if (fail)
		(*failures)++;
}

static void vline(struct az_vlog *l, size_t *failures, bool fail, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void vline(struct az_vlog *l, size_t *failures, bool fail, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlinev(l, failures, fail, fmt, ap);
	va_end(ap);
}

/* ---- the member table: ~56 bytes a member, its name in a block arena, a 4-byte slot */

#define M_CONTENT 1u /* a regular member (or a hardlink to one): sha and size are its content's */
#define M_LISTED  2u /* seen in SHA256SUMS */
#define M_DUP	  4u /* a later member of a name seen before */

struct member {
	const char *name;
	uint32_t name_len;
	uint32_t flags;
	uint64_t size;
	uint8_t sha[32];
};

struct names {
	char **blocks;
	size_t nblocks, used; /* used: of the last block */
	uint64_t total;
};

/* A copy of the name in the arena, or NULL past MAX_NAME_BYTES. */
static const char *names_add(struct names *a, const char *s, size_t len)
{
	if (a->total + len + 1 > MAX_NAME_BYTES)
		return NULL;
	if (!a->nblocks || a->used + len + 1 > NAME_BLOCK) {
		a->blocks = realloc(a->blocks, (a->nblocks + 1) * sizeof(*a->blocks));
		if (!a->blocks || !(a->blocks[a->nblocks] = malloc(NAME_BLOCK)))
			abort();
		a->nblocks++;
		a->used = 0;
	}
	char *p = a->blocks[a->nblocks - 1] + a->used;
	memcpy(p, s, len);
	p[len] = '\0';
	a->used += len + 1;
	a->total += len + 1;
	return p;
}

static void names_free(struct names *a)
{
	for (size_t i = 0; i < a->nblocks; i++)
		free(a->blocks[i]);
	free(a->blocks);
}

/* Open addressing over member indexes (+1, 0 empty), load <= 0.5; a repeated name points at its
 * latest member. */
struct table {
	struct member *m;
	size_t n, cap;
	uint32_t *slot;
	size_t scap; /* power of two */
	struct names names;
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

static uint32_t *slot_of(const struct table *t, const char *name, size_t len)
{
	size_t h = (size_t)name_hash(name, len) & (t->scap - 1);
	for (; t->slot[h]; h = (h + 1) & (t->scap - 1)) {
		const struct member *x = &t->m[t->slot[h] - 1];
		if (x->name_len == len && !memcmp(x->name, name, len))
			break;
	}
	return &t->slot[h];
}

static void table_grow(struct table *t)
{
	uint32_t *old = t->slot;
	size_t ocap = t->scap;
	t->scap = ocap ? ocap * 2 : 1024;
	if (!(t->slot = calloc(t->scap, sizeof(*t->slot))))
		abort();
	for (size_t i = 0; i < ocap; i++)
		if (old[i]) {
			const struct member *x = &t->m[old[i] - 1];
			*slot_of(t, x->name, x->name_len) = old[i];
		}
	free(old);
}

static struct member *table_get(const struct table *t, const char *name, size_t len)
{
	if (!t->scap)
		return NULL;
	uint32_t s = *slot_of(t, name, len);
	return s ? &t->m[s - 1] : NULL;
}

/* A new member, or NULL when the names no longer fit. */
static struct member *table_add(struct table *t, const char *name, size_t len)
{
	const char *copy = names_add(&t->names, name, len);
	if (!copy)
		return NULL;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 1024;
		if (!(t->m = realloc(t->m, t->cap * sizeof(*t->m))))
			abort();
	}
	if ((t->n + 1) * 2 > t->scap)
		table_grow(t);
	struct member *m = &t->m[t->n];
	memset(m, 0, sizeof(*m));
	m->name = copy;
	m->name_len = (uint32_t)len;
	uint32_t *s = slot_of(t, name, len);
	if (*s)
		m->flags |= M_DUP;
	*s = (uint32_t)++t->n;
	return m;
}

static void table_free(struct table *t)
{
	free(t->m);
	free(t->slot);
	names_free(&t->names);
}

/* ---- the checks */

enum sha_state { SHA_BAD, SHA_EMPTY, SHA_VALID };

struct pend_sum { /* a SHA256SUMS line naming a member not seen yet */
	const char *name;
	uint32_t len;
	uint8_t sha[32];
};
struct pend_man { /* the same for a manifest element */
	const char *name;
	uint32_t len;
	uint8_t state; /* enum sha_state */
	int64_t size;
	uint8_t sha[32];
};

struct verify {
	struct az_verify_result *res;
	struct table t;
	struct ai_buf sh, sh2; /* escaped names for report lines */
	bool names_full;       /* MAX_NAME_BYTES reached */
	/* SHA256SUMS */
	struct az_sums sums;
	struct az_vlog sums_log;
	size_t sums_failures, sums_lines;
	bool sums_seen, sums_done, sums_too_many;
	struct ai_hash sums_b2;
	uint8_t sums_md[AI_BLAKE2B_LEN];
	struct pend_sum *ps;
	size_t nps, cps;
	/* SHA256SUMS.minisig */
	struct ai_buf sig;
	bool sig_seen, sig_over;
	/* manifest.json */
	struct az_jpush man;
	struct az_vlog man_log;
	size_t man_failures;
	bool man_seen, man_done, man_format_ok, man_version_ok, man_complete;
	char man_error[1024]; /* the first parse error, "" when none */
	struct pend_man *pm;
	size_t npm, cpm;
};

static const char *shown(struct ai_buf *b, const char *s, size_t len)
{
	ai_buf_reset(b);
	ai_esc_text(b, s, len);
	return ai_buf_cstr(b);
}

static const char *shown_c(struct ai_buf *b, const char *s, const char *dflt)
{
	return shown(b, s ? s : dflt, strlen(s ? s : dflt));
}

/* A pending name in the arena; false (and said once) when the names no longer fit. */
static const char *pend_name(struct verify *v, const char *name, size_t len)
{
	const char *p = names_add(&v->t.names, name, len);
	if (!p && !v->names_full) {
		v->names_full = true;
		vline(&v->res->report, &v->res->failures, true,
		      "archive: member names exceed %u bytes in all (the rest not checked)", MAX_NAME_BYTES);
	}
	return p;
}

static void check_sum(struct verify *v, struct member *m, const char *name, size_t len, const uint8_t sha[32])
{
	if (m->flags & M_LISTED) {
		vline(&v->sums_log, &v->sums_failures, true, "member %s: listed twice in SHA256SUMS",
		      shown(&v->sh, name, len));
		return;
	}
	m->flags |= M_LISTED;
	if (!(m->flags & M_CONTENT) || memcmp(m->sha, sha, 32)) {
		char have[65] = "(no content)", want[65];
		if (m->flags & M_CONTENT)
			ai_hex(m->sha, 32, have);
		ai_hex(sha, 32, want);
		vline(&v->sums_log, &v->sums_failures, true,
		      "member %s: sha256 %s does not match SHA256SUMS (%s)", shown(&v->sh, name, len), have,
		      want);
	}
}

static void on_sums_line(void *ud, const struct az_sums_line *l)
{
	struct verify *v = ud;
	struct az_vlog *log = &v->sums_log;
	size_t *f = &v->sums_failures;
	switch (l->problem) {
	case AZ_SUMS_OK:
		break;
	case AZ_SUMS_MALFORMED:
		vline(log, f, true, "SHA256SUMS: malformed line %zu", l->lineno);
		return;
	case AZ_SUMS_LONG_LINE:
		vline(log, f, true, "SHA256SUMS: line %zu longer than the limit of %u bytes (not checked)",
		      l->lineno, AZ_SUMS_MAX_LINE);
		return;
	case AZ_SUMS_LONG_NAME:
		vline(log, f, true, "SHA256SUMS: line %zu names a member longer than the limit of %u bytes",
		      l->lineno, AZ_SUMS_MAX_NAME);
		return;
	case AZ_SUMS_UNTERMINATED:
		vline(log, f, true, "SHA256SUMS: last line not terminated");
		return;
	}
	if (++v->sums_lines > AZ_MAX_MEMBERS) {
		if (!v->sums_too_many)
			vline(log, f, true, "SHA256SUMS: more than %u lines (the rest not checked)",
			      AZ_MAX_MEMBERS);
		v->sums_too_many = true;
		return;
	}
	struct member *m = table_get(&v->t, l->name, l->name_len);
	if (m) {
		check_sum(v, m, l->name, l->name_len, l->sha);
		return;
	}
	const char *p = pend_name(v, l->name, l->name_len);
	if (!p)
		return;
	if (v->nps == v->cps) {
		v->cps = v->cps ? v->cps * 2 : 64;
		if (!(v->ps = realloc(v->ps, v->cps * sizeof(*v->ps))))
			abort();
	}
	struct pend_sum *x = &v->ps[v->nps++];
	x->name = p;
	x->len = (uint32_t)l->name_len;
	memcpy(x->sha, l->sha, 32);
}

static void check_man(struct verify *v, const struct member *m, const char *name, size_t len,
		      enum sha_state st, const uint8_t sha[32], int64_t size)
{
	bool sha_ok = st == SHA_VALID ? (m->flags & M_CONTENT) && !memcmp(m->sha, sha, 32)
				      : st == SHA_EMPTY && !(m->flags & M_CONTENT);
	if (!sha_ok || size < 0 || (uint64_t)size != m->size)
		vline(&v->man_log, &v->man_failures, true, "member %s: size/sha256 differ from manifest.json",
		      shown(&v->sh, name, len));
}

static int on_man_member(void *ud, json_t *o, size_t i, ai_err_t *err)
{
	(void)err;
	struct verify *v = ud;
	ai_err_t e;
	struct az_str p = {0};
	if (!json_is_object(o) || az_j_str(o, "path", &p, &e) < 0 || !p.s || p.len > AZ_SUMS_MAX_NAME) {
		vline(&v->man_log, &v->man_failures, true, "manifest.json: members[%zu]: bad path", i);
		az_str_free(&p);
		return 0;
	}
	json_t *js = json_object_get(o, "sha256");
	const char *hs = json_string_value(js);
	uint8_t sha[32];
	enum sha_state st = SHA_BAD;
	if (hs && json_string_length(js) == 0)
		st = SHA_EMPTY;
	else if (hs && json_string_length(js) == 64) {
		st = SHA_VALID;
		for (int k = 0; k < 32 && st == SHA_VALID; k++) {
			int hi = ai_hexval((unsigned char)hs[2 * k]),
			    lo = ai_hexval((unsigned char)hs[2 * k + 1]);
			if (hi < 0 || lo < 0 || (hs[2 * k] >= 'A' && hs[2 * k] <= 'F') ||
			    (hs[2 * k + 1] >= 'A' && hs[2 * k + 1] <= 'F'))
				st = SHA_BAD;
			else
				sha[k] = (uint8_t)(hi << 4 | lo);
		}
	}
	int64_t size = az_j_int(o, "size", -1);
	const struct member *m = table_get(&v->t, p.s, p.len);
	if (m)
		check_man(v, m, p.s, p.len, st, sha, size);
	else {
		const char *n = pend_name(v, p.s, p.len);
		if (n) {
			if (v->npm == v->cpm) {
				v->cpm = v->cpm ? v->cpm * 2 : 64;
				if (!(v->pm = realloc(v->pm, v->cpm * sizeof(*v->pm))))
					abort();
			}
			struct pend_man *x = &v->pm[v->npm++];
			*x = (struct pend_man){
			    .name = n, .len = (uint32_t)p.len, .state = (uint8_t)st, .size = size};
			if (st == SHA_VALID)
				memcpy(x->sha, sha, 32);
		}
	}
	az_str_free(&p);
	if (i + 1 > AZ_MAX_MEMBERS)
		return ai_err_set(err, 0, "more than %u members", AZ_MAX_MEMBERS);
	return 0;
}

static int on_man_other(void *ud, const char *key, json_t *val, ai_err_t *err)
{
	(void)err;
	struct verify *v = ud;
	if (!strcmp(key, "format"))
		v->man_format_ok = json_is_string(val) &&
				   !strcmp(json_string_value(val), "afterimage-bundle") &&
				   json_string_length(val) == strlen("afterimage-bundle");
	else if (!strcmp(key, "format_version"))
		v->man_version_ok =
		    json_is_integer(val) && json_integer_value(val) >= 1 &&
		    json_integer_value(val) <= AI_BUNDLE_FORMAT_VERSION; /* 1 and 2 are both read */
	else if (!strcmp(key, "complete"))
		v->man_complete = json_is_true(val);
	return 0;
}

/* After the pass: the lines and elements that named members not seen then. */
static void resolve_pending(struct verify *v, bool archive_ok)
{
	for (size_t i = 0; i < v->nps; i++) {
		struct pend_sum *x = &v->ps[i];
		struct member *m = table_get(&v->t, x->name, x->len);
		if (m)
			check_sum(v, m, x->name, x->len, x->sha);
		else if (archive_ok)
			vline(&v->sums_log, &v->sums_failures, true,
			      "member %s: listed in SHA256SUMS but missing from the archive",
			      shown(&v->sh, x->name, x->len));
		else
			vline(&v->sums_log, &v->sums_failures, true,
			      "member %s: listed in SHA256SUMS, not checked: the archive was not read to its "
			      "end",
			      shown(&v->sh, x->name, x->len));
	}
	for (size_t i = 0; i < v->npm; i++) {
		struct pend_man *x = &v->pm[i];
		const struct member *m = table_get(&v->t, x->name, x->len);
		if (m)
			check_man(v, m, x->name, x->len, (enum sha_state)x->state, x->sha, x->size);
		else if (archive_ok)
			vline(&v->man_log, &v->man_failures, true,
			      "member %s: in manifest.json but missing from the archive",
			      shown(&v->sh, x->name, x->len));
		else
			vline(&v->man_log, &v->man_failures, true,
			      "member %s: in manifest.json, not checked: the archive was not read to its end",
			      shown(&v->sh, x->name, x->len));
	}
}

/* The name the outer signature's trusted comment gives the bundle ("afterimage bundle=NAME ..."). */
static bool signed_name(const char *trusted, char *out, size_t outlen)
{
	const char *p = strstr(trusted, "bundle=");
	if (!p || (p != trusted && p[-1] != ' '))
		return false;
	p += 7;
	size_t l = strcspn(p, " ");
	if (!l || l >= outlen)
		return false;
	memcpy(out, p, l);
	out[l] = '\0';
	return true;
}

static int read_pubkey(const char *path, struct ai_pubkey *pub, ai_err_t *err)
{
	/* a regular file only: a FIFO in the key's place must not hang verify */
	cleanup_close int fd = az_open_regular(path, err);
	if (fd < 0)
		return -1;
	cleanup_free char *text = NULL;
	size_t len = 0;
	if (az_read_fd(fd, path, 4096, &text, &len, err) < 0)
		return -1;
	return ai_pubkey_parse(text, len, pub, err);
}

static void verify_free(struct verify *v)
{
	table_free(&v->t);
	ai_buf_free(&v->sh);
	ai_buf_free(&v->sh2);
	az_sums_free(&v->sums);
	vlog_free(&v->sums_log);
	free(v->ps);
	ai_buf_free(&v->sig);
	az_jpush_free(&v->man);
	vlog_free(&v->man_log);
	free(v->pm);
	free(v);
}

static void verify_freep(struct verify **v)
{
	if (*v)
		verify_free(*v);
}

enum role { R_NONE, R_SUMS, R_SIG, R_MANIFEST };

/* One regular member's content: hashed, and fed to its role's reader. */
static int read_content(struct verify *v, struct archive *a, struct member *m, enum role role, ai_err_t *err)
{
	struct ai_hash h;
	if (ai_hash_init_sha256(&h, err) < 0)
		return -1;
	char chunk[65536];
	la_ssize_t got;
	while ((got = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
		size_t n = (size_t)got;
		ai_hash_update(&h, chunk, n);
		m->size += n;
		if (role == R_SUMS) {
			ai_hash_update(&v->sums_b2, chunk, n);
			az_sums_feed(&v->sums, chunk, n);
		} else if (role == R_SIG && !v->sig_over) {
			if (v->sig.len + n > AZ_MAX_SMALL_MEMBER)
				v->sig_over = true;
			else
				ai_buf_add(&v->sig, chunk, n);
		} else if (role == R_MANIFEST && !v->man_error[0]) {
			ai_err_t e;
			if (az_jpush_feed(&v->man, chunk, n, &e) < 0)
				snprintf(v->man_error, sizeof(v->man_error), "%s", e.msg);
		}
	}
	uint8_t md[32];
	ai_hash_final(&h, md, err);
	memcpy(m->sha, md, 32);
	m->flags |= M_CONTENT;
	if (got < 0)
		return 1;
	if (role == R_SUMS) {
		az_sums_end(&v->sums);
		if (ai_hash_final(&v->sums_b2, v->sums_md, err) < 0)
			return -1;
		v->sums_done = true;
	} else if (role == R_MANIFEST) {
		ai_err_t e;
		if (!v->man_error[0] && az_jpush_end(&v->man, &e) < 0)
			snprintf(v->man_error, sizeof(v->man_error), "%s", e.msg);
		v->man_done = true;
	}
	return 0;
}

int az_verify(const char *bundle, const char *pubkey_path, struct az_verify_result *res, ai_err_t *err)
{
	memset(res, 0, sizeof(*res));
	struct az_vlog *R = &res->report;
	struct ai_pubkey pub;
	if (read_pubkey(pubkey_path, &pub, err) < 0)
		return ai_err_wrap(err, "public key %s", pubkey_path);
	ai_keyid_str(pub.keyid, res->keyid);

	cleanup_close int fd = az_open_regular(bundle, err);
	if (fd < 0)
		return -1;

	struct verify *v __attribute__((cleanup(verify_freep))) = calloc(1, sizeof(*v));
	if (!v)
		abort();
	v->res = res;
	az_sums_init(&v->sums, on_sums_line, v);
	az_jpush_init(&v->man, AI_M_MANIFEST, "members", AZ_J_KEY_OPTIONAL, MAX_MANIFEST_VALUE, on_man_member,
		      on_man_other, v);
	if (ai_hash_init_blake2b(&v->sums_b2, err) < 0)
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

	size_t count = 0; /* members read, the table's and those it could not hold */
	bool archive_ok = true;
	if (az_fdsrc_open(a, s) != ARCHIVE_OK) {
		vline(R, &res->failures, true, "archive: %s",
		      shown_c(&v->sh, archive_error_string(a), "unreadable"));
		archive_ok = false;
	}
	struct archive_entry *e;
	int rc = ARCHIVE_OK;
	while (archive_ok && ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN)) {
		if (count >= AZ_MAX_MEMBERS) {
			vline(R, &res->failures, true, "archive: more than %u members", AZ_MAX_MEMBERS);
			archive_ok = false;
			break;
		}
		const char *name = archive_entry_pathname(e);
		if (!name) {
			vline(R, &res->failures, true, "archive: member %zu has no name", count);
			archive_ok = false;
			break;
		}
		count++;
		size_t nlen = strlen(name);
		if (nlen > AZ_SUMS_MAX_NAME) {
			vline(R, &res->failures, true,
			      "member %s...: a name of %zu bytes, longer than the limit of %u (not checked)",
			      shown(&v->sh, name, 256), nlen, AZ_SUMS_MAX_NAME);
			continue;
		}
		/* the format's names are relative and never climb: one that does is a forged member */
		const char *hl = archive_entry_hardlink(e);
		if (az_name_unsafe(name))
			vline(R, &res->failures, true,
			      "member %s: not a relative name inside the bundle (absolute or '..')",
			      shown(&v->sh, name, nlen));
		else if (hl && az_name_unsafe(hl))
			vline(R, &res->failures, true, "member %s: a hardlink to %s, outside the bundle",
			      shown(&v->sh, name, nlen), shown_c(&v->sh2, hl, ""));
		/* a hardlink's content is its first link's: the latest member of that name before it */
		const struct member *t = hl ? table_get(&v->t, hl, strlen(hl)) : NULL;
		struct member link = t ? *t : (struct member){0};
		struct member *m = table_add(&v->t, name, nlen);
		if (!m) {
			vline(R, &res->failures, true, "archive: member names exceed %u bytes in all",
			      MAX_NAME_BYTES);
			v->names_full = true;
			archive_ok = false;
			break;
		}
		if (hl) {
			m->flags |= link.flags & M_CONTENT;
			memcpy(m->sha, link.sha, 32);
			m->size = link.size;
			continue;
		}
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		enum role role = !strcmp(name, AI_M_SUMS)	? R_SUMS
				 : !strcmp(name, AI_M_SUMS_SIG) ? R_SIG
				 : !strcmp(name, AI_M_MANIFEST) ? R_MANIFEST
								: R_NONE;
		bool *seen = role == R_SUMS ? &v->sums_seen : role == R_SIG ? &v->sig_seen : &v->man_seen;
		if (role != R_NONE && *seen) {
			vline(R, &res->failures, true, "member %s: appears twice", name);
			continue;
		}
		if (role != R_NONE)
			*seen = true;
		int r = read_content(v, a, m, role, err);
		if (r < 0)
			return -1;
		if (r > 0) {
			vline(R, &res->failures, true, "member %s: unreadable: %s", shown(&v->sh, name, nlen),
			      shown_c(&v->sh2, archive_error_string(a), "error"));
			archive_ok = false;
			break;
		}
		if (role == R_SIG && v->sig_over)
			vline(R, &res->failures, true, "member %s: larger than the limit of %u bytes",
			      shown(&v->sh, name, nlen), AZ_MAX_SMALL_MEMBER);
	}
	if (archive_ok && rc != ARCHIVE_EOF) {
		vline(R, &res->failures, true, "archive: truncated or corrupt after %zu members: %s", count,
		      shown_c(&v->sh, archive_error_string(a), "error"));
		archive_ok = false;
	}
	if (s->read_errno)
		return ai_err_set(err, s->read_errno, "%s: read", bundle);
	/* The signature covers the whole file: hash what libarchive did not need (padding). */
	az_fdsrc_drain(s);
	uint8_t digest[AI_BLAKE2B_LEN];
	if (ai_hash_final(&b2, digest, err) < 0)
		return -1;
	if (archive_ok)
		vline(R, &res->failures, false, "archive: %zu members, %llu bytes read once", count,
		      (unsigned long long)s->total);

	/* 1. the outer signature */
	cleanup_buf struct ai_buf sigpath;
	ai_buf_init(&sigpath);
	ai_buf_printf(&sigpath, "%s.minisig", bundle);
	cleanup_free char *sig = NULL;
	size_t siglen = 0;
	ai_err_t e2;
	char trusted[1024] = "";
	int sfd = az_open_regular(ai_buf_cstr(&sigpath), &e2);
	if (sfd >= 0) {
		if (az_read_fd(sfd, ai_buf_cstr(&sigpath), 64 * 1024, &sig, &siglen, &e2) < 0)
			sig = NULL;
		close(sfd);
	}
	if (!sig)
		vline(R, &res->failures, true, "outer signature: %s", shown_c(&v->sh, e2.msg, ""));
	else if (ai_minisign_verify(&pub, digest, sig, siglen, trusted, sizeof(trusted), &e2) < 0)
		vline(R, &res->failures, true, "outer signature %s: %s",
		      shown_c(&v->sh, ai_buf_cstr(&sigpath), ""), shown_c(&v->sh2, e2.msg, ""));
	else {
		/* the trusted comment is the bundle's own text: verified, but not harmless */
		vline(R, &res->failures, false, "outer signature %s: valid, key id %s, trusted comment: %s",
		      shown_c(&v->sh, ai_buf_cstr(&sigpath), ""), res->keyid, shown_c(&v->sh2, trusted, ""));
		/* a renamed evidence file is still intact evidence: say it, do not fail it */
		char sname[256];
		const char *base = strrchr(bundle, '/') ? strrchr(bundle, '/') + 1 : bundle;
		if (signed_name(trusted, sname, sizeof(sname)) && strcmp(sname, base)) {
			res->renamed = true;
			ai_buf_reset(&v->sh);
			ai_esc_text(&v->sh, sname, strlen(sname));
			ai_buf_reset(&v->sh2);
			ai_esc_text(&v->sh2, base, strlen(base));
			char line[2048];
			int n = snprintf(
			    line, sizeof(line),
			    "warning: renamed: the signature names %s, this file is %s (its content is "
			    "as signed)\n",
			    ai_buf_cstr(&v->sh), ai_buf_cstr(&v->sh2));
			vlog_add(R, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : strlen(line));
		}
	}

	for (size_t i = 0; i < v->t.n; i++)
		if (v->t.m[i].flags & M_DUP)
			vline(R, &res->failures, true, "member %s: appears more than once",
			      shown(&v->sh, v->t.m[i].name, v->t.m[i].name_len));

	resolve_pending(v, archive_ok);

	/* 2. SHA256SUMS.minisig over SHA256SUMS, 3. every member against SHA256SUMS */
	if (!v->sums_done || !v->sig_seen || v->sig_over) {
		if (!v->sums_seen)
			vline(R, &res->failures, true, "member SHA256SUMS: %s",
			      archive_ok ? "missing" : "not reached (the archive was not read to its end)");
		else if (!v->sums_done)
			vline(R, &res->failures, true, "member SHA256SUMS: not checked (unreadable)");
		else if (!v->sig_seen)
			vline(R, &res->failures, true, "member SHA256SUMS.minisig: %s",
			      archive_ok ? "missing" : "not reached (the archive was not read to its end)");
		else
			vline(R, &res->failures, true,
			      "member SHA256SUMS.minisig: not checked (larger than the limit of %u bytes)",
			      AZ_MAX_SMALL_MEMBER);
	} else {
		char tc2[1024] = "";
		if (ai_minisign_verify(&pub, v->sums_md, v->sig.data ? v->sig.data : "", v->sig.len, tc2,
				       sizeof(tc2), &e2) < 0)
			vline(R, &res->failures, true, "signature SHA256SUMS.minisig: %s",
			      shown_c(&v->sh, e2.msg, ""));
		else
			vline(R, &res->failures, false, "signature SHA256SUMS.minisig: valid");
		size_t bad = v->sums_failures;
		vlog_move(R, &v->sums_log);
		res->failures += v->sums_failures;
		for (size_t i = 0; i < v->t.n && archive_ok && !v->sums_too_many; i++) {
			const struct member *m = &v->t.m[i];
			if ((m->flags & M_LISTED) || !(m->flags & M_CONTENT))
				continue;
			if (!strcmp(m->name, AI_M_SUMS) || !strcmp(m->name, AI_M_SUMS_SIG))
				continue;
			if (table_get(&v->t, m->name, m->name_len)->flags & M_LISTED)
				continue; /* a repeated name: listed through its latest member */
			vline(R, &res->failures, true, "member %s: in the archive but not in SHA256SUMS",
			      shown(&v->sh, m->name, m->name_len));
			bad++;
		}
		if (!bad)
			vline(R, &res->failures, false, "SHA256SUMS: %zu members, every hash matches",
			      v->sums_lines);
	}

	/* 4. manifest */
	if (!v->man_seen)
		vline(R, &res->failures, true, "member manifest.json: %s",
		      archive_ok ? "missing" : "not reached (the archive was not read to its end)");
	else if (!v->man_done)
		vline(R, &res->failures, true, "member manifest.json: not checked (unreadable)");
	else if (v->man_error[0])
		vline(R, &res->failures, true, "%s", shown_c(&v->sh, v->man_error, ""));
	else if (!v->man_format_ok || !v->man_version_ok)
		vline(R, &res->failures, true,
		      "manifest.json: not an afterimage-bundle of format_version 1..%d",
		      AI_BUNDLE_FORMAT_VERSION);
	else if (!v->man.seen)
		vline(R, &res->failures, true, "manifest.json: no members array");
	else {
		res->complete = v->man_complete;
		size_t bad = v->man_failures;
		vlog_move(R, &v->man_log);
		res->failures += v->man_failures;
		if (!bad)
			vline(R, &res->failures, false, "manifest.json: %zu members match, complete=%s",
			      v->man.n, res->complete ? "true" : "false");
	}
	if (res->failures == 0 && !res->complete) {
		static const char w[] =
		    "warning: the bundle is partial (manifest complete=false): see capture-log.json\n";
		vlog_add(R, w, sizeof(w) - 1);
	}
	return 0;
}

void az_verify_result_write(struct az_verify_result *res, FILE *out)
{
	vlog_write(&res->report, out);
}

void az_verify_result_free(struct az_verify_result *res)
{
	vlog_free(&res->report);
}
