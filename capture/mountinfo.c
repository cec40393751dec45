#include "capture/mountinfo.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common/cleanup.h"

static bool is_odigit(char c)
{
	return c >= '0' && c <= '7';
}

/* The kernel (seq_escape, mangle) writes a byte as \NNN with exactly three octal digits. */
static bool octal_at(const char *s, size_t i, size_t len, unsigned char *out)
{
	if (len < 4 || i > len - 4 || s[i] != '\\' || s[i + 1] < '0' || s[i + 1] > '3' ||
	    !is_odigit(s[i + 2]) || !is_odigit(s[i + 3]))
		return false;
	*out = (unsigned char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
	return true;
}

size_t ai_mountinfo_unescape(char *s, size_t len)
{
	size_t r = 0, w = 0;
	while (r < len) {
		unsigned char c;
		if (octal_at(s, r, len, &c)) {
			s[w++] = (char)c;
			r += 4;
		} else {
			s[w++] = s[r++];
		}
	}
	if (w < len)
		s[w] = '\0';
	return w;
}

/* Next space-separated token of [*p, end) without touching the buffer. */
static bool next_tok(char **p, char *end, struct ai_mi_str *t)
{
	if (*p >= end)
		return false;
	char *sp = memchr(*p, ' ', (size_t)(end - *p));
	t->s = *p;
	t->len = (size_t)((sp ? sp : end) - *p);
	*p = sp ? sp + 1 : end;
	return true;
}

static int parse_u64(const struct ai_mi_str *t, uint64_t *out)
{
	if (t->len == 0 || t->len > 20)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < t->len; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(t->s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static void terminate(struct ai_mi_str *t)
{
	t->s[t->len] = '\0';
}

static void unescape_field(struct ai_mi_str *t)
{
	t->len = ai_mountinfo_unescape(t->s, t->len);
}

int ai_mountinfo_parse_line(char *line, size_t len, struct ai_mountinfo *m, ai_err_t *err)
{
	memset(m, 0, sizeof(*m));
	char *p = line, *end = line + len;
	struct ai_mi_str id, parent, dev;
	if (!next_tok(&p, end, &id) || !next_tok(&p, end, &parent) || !next_tok(&p, end, &dev) ||
	    !next_tok(&p, end, &m->root) || !next_tok(&p, end, &m->mount_point) ||
	    !next_tok(&p, end, &m->options))
		return ai_err_set(err, 0, "mountinfo line has fewer than 6 fields");
	if (parse_u64(&id, &m->mount_id) < 0 || parse_u64(&parent, &m->parent_id) < 0)
		return ai_err_set(err, 0, "mountinfo line has a bad mount id");
	char *colon = memchr(dev.s, ':', dev.len);
	uint64_t maj, min;
	if (!colon || parse_u64(&(struct ai_mi_str){dev.s, (size_t)(colon - dev.s)}, &maj) < 0 ||
	    parse_u64(&(struct ai_mi_str){colon + 1, (size_t)(dev.s + dev.len - colon - 1)}, &min) < 0 ||
	    maj > UINT32_MAX || min > UINT32_MAX)
		return ai_err_set(err, 0, "mountinfo line has a bad maj:min");
	m->major = (unsigned)maj;
	m->minor = (unsigned)min;

	/* Optional fields run up to a lone "-"; their count varies with propagation state. */
	char *opt_start = p, *opt_end = p;
	struct ai_mi_str t;
	bool dash = false;
	while (next_tok(&p, end, &t)) {
		if (t.len == 1 && t.s[0] == '-') {
			dash = true;
			break;
		}
		opt_end = t.s + t.len;
	}
	if (!dash)
		return ai_err_set(err, 0, "mountinfo line has no \"-\" separator");
	m->optional = (struct ai_mi_str){opt_start, (size_t)(opt_end - opt_start)};
	if (!next_tok(&p, end, &m->fstype) || !next_tok(&p, end, &m->source))
		return ai_err_set(err, 0, "mountinfo line has no fstype or source");
	/* The super options are the last field; take the rest of the line so that a space a
	 * filesystem failed to escape cannot shift anything. */
	m->super_options = (struct ai_mi_str){p, (size_t)(end - p)};

	terminate(&m->root);
	terminate(&m->mount_point);
	terminate(&m->options);
	terminate(&m->optional);
	terminate(&m->fstype);
	terminate(&m->source);
	terminate(&m->super_options);
	unescape_field(&m->root);
	unescape_field(&m->mount_point);
	unescape_field(&m->fstype);
	unescape_field(&m->source);
	return 0;
}

/* One decoded unit of an overlay option value. Kernels differ: before 6.5 overlay showed the
 * user's string (its own "\:" escapes appear as "\134:"); since then it shows the unescaped
 * paths with ':' itself written as \072. A raw backslash never comes from the kernel but is
 * honoured as an escape of the next byte ("\," "\:") to be lenient. */
enum unit_kind { U_RAW, U_OCTAL, U_ESCAPED };

static size_t next_unit(const char *s, size_t len, size_t i, unsigned char *c, enum unit_kind *k)
{
	if (octal_at(s, i, len, c)) {
		*k = U_OCTAL;
		return i + 4;
	}
	if (s[i] == '\\' && i + 1 < len) {
		*c = (unsigned char)s[i + 1];
		*k = U_ESCAPED;
		return i + 2;
	}
	*c = (unsigned char)s[i];
	*k = U_RAW;
	return i + 1;
}

/* Decode s[0..len) up to the first raw ':' when split is set (then *stop is its index), else
 * all of it, into a new malloc'ed string. */
static char *decode_path(const char *s, size_t len, bool split, size_t *stop)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t i = 0, w = 0;
	while (i < len) {
		unsigned char c;
		enum unit_kind k;
		size_t nx = next_unit(s, len, i, &c, &k);
		if (split && k == U_RAW && c == ':')
			break;
		if (k == U_OCTAL && c == '\\' && nx < len) {
			/* An old kernel's shown user escape: "\134:" is a literal colon and
			 * "\134\134" a literal backslash; anything else is a real backslash. */
			unsigned char c2;
			enum unit_kind k2;
			size_t nx2 = next_unit(s, len, nx, &c2, &k2);
			if ((k2 == U_RAW && c2 == ':') || (k2 == U_OCTAL && c2 == '\\')) {
				out[w++] = (char)c2;
				i = nx2;
				continue;
			}
		}
		out[w++] = (char)c;
		i = nx;
	}
	out[w] = '\0';
	if (stop)
		*stop = i;
	return out;
}

void ai_mountinfo_ovl_free(struct ai_ovl_opts *o)
{
	for (size_t i = 0; i < o->nlower; i++)
		free(o->lowerdirs[i]);
	free(o->lowerdirs);
	free(o->upperdir);
	free(o->workdir);
	free(o->redirect_dir);
	memset(o, 0, sizeof(*o));
}

static int parse_lowerdirs(const char *v, size_t len, struct ai_ovl_opts *o, ai_err_t *err)
{
	for (size_t i = 0; i < o->nlower; i++)
		free(o->lowerdirs[i]);
	free(o->lowerdirs);
	o->lowerdirs = NULL;
	o->nlower = o->ndata = 0;
	size_t cap = 0, i = 0;
	bool data_only = false;
	while (i <= len) {
		size_t stop;
		cleanup_free char *dir = decode_path(v + i, len - i, true, &stop);
		if (!dir)
			return ai_err_set(err, ENOMEM, "lowerdir");
		if (stop == 0) {
			/* "::" starts the data-only layers (overlay >= 6.5); an empty first entry or
			 * a second "::" is not something the kernel writes. */
			if (data_only || o->nlower == 0 || i + 1 > len)
				return ai_err_set(err, 0, "empty lowerdir entry");
			data_only = true;
			i += 1;
			continue;
		}
		if (o->nlower == AI_OVL_MAX_LOWER)
			return ai_err_set(err, 0, "more than %d lowerdirs", AI_OVL_MAX_LOWER);
		if (o->nlower == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **n = realloc(o->lowerdirs, ncap * sizeof(*n));
			if (!n)
				return ai_err_set(err, ENOMEM, "lowerdir");
			o->lowerdirs = n;
			cap = ncap;
		}
		o->lowerdirs[o->nlower++] = steal_pointer(&dir);
		if (data_only)
			o->ndata++;
		i += stop + 1; /* past the ':' (or past the end) */
	}
	if (o->nlower == 0)
		return ai_err_set(err, 0, "empty lowerdir");
	return 0;
}

static int set_path(char **dst, const char *v, size_t len, const char *key, ai_err_t *err)
{
	char *s = decode_path(v, len, false, NULL);
	if (!s)
		return ai_err_set(err, ENOMEM, "%s", key);
	free(*dst);
	*dst = s;
	return 0;
}

static bool key_is(const char *k, size_t klen, const char *want)
{
	return klen == strlen(want) && memcmp(k, want, klen) == 0;
}

int ai_mountinfo_parse_overlay(const char *super, size_t len, struct ai_ovl_opts *o, ai_err_t *err)
{
	memset(o, 0, sizeof(*o));
	size_t i = 0;
	while (i < len) {
		/* Options split at raw commas; a comma inside a value is \054 or "\,". */
		size_t start = i;
		while (i < len && super[i] != ',') {
			if (super[i] == '\\' && i + 1 < len)
				i++;
			i++;
		}
		if (i > len)
			i = len;
		const char *opt = super + start;
		size_t olen = i - start;
		i++;
		if (olen == 0)
			continue;
		const char *eq = memchr(opt, '=', olen);
		size_t klen = eq ? (size_t)(eq - opt) : olen;
		const char *v = eq ? eq + 1 : NULL;
		size_t vlen = eq ? olen - klen - 1 : 0;
		int r = 0;
		if (key_is(opt, klen, "lowerdir") && v)
			r = parse_lowerdirs(v, vlen, o, err);
		else if (key_is(opt, klen, "upperdir") && v)
			r = set_path(&o->upperdir, v, vlen, "upperdir", err);
		else if (key_is(opt, klen, "workdir") && v)
			r = set_path(&o->workdir, v, vlen, "workdir", err);
		else if (key_is(opt, klen, "redirect_dir") && v)
			r = set_path(&o->redirect_dir, v, vlen, "redirect_dir", err);
		else if (key_is(opt, klen, "metacopy"))
			o->metacopy = v && vlen == 2 && memcmp(v, "on", 2) == 0;
		else if (key_is(opt, klen, "userxattr"))
			o->userxattr = true;
		if (r < 0) {
			ai_mountinfo_ovl_free(o);
			return ai_err_wrap(err, "overlay options");
		}
	}
	return 0;
}
