/* Pure parsers of /proc text (procparse.h). Exercised by tests/unit/test_procparse.c and the
 * procparse fuzz target. */
#include "capture/procparse.h"
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* comm is whatever the process chose (prctl PR_SET_NAME), so it may hold ')' and spaces:
 * only the LAST ')' ends it. */
int ai_pp_parse_stat(const char *buf, size_t len, struct ai_pp_stat *st)
{
	memset(st, 0, sizeof(*st));
	const char *open = memchr(buf, '(', len);
	const char *close = NULL;
	for (size_t i = len; i > 0; i--) {
		if (buf[i - 1] == ')') {
			close = buf + i - 1;
			break;
		}
	}
	if (!open || !close || close < open)
		return -1;
	st->comm.s = open + 1;
	st->comm.len = (size_t)(close - open - 1);

	/* Fields after comm, numbered as in proc(5): 3 state, 4 ppid, 20 num_threads, 22 starttime. */
	const char *p = close + 1, *end = buf + len;
	int field = 3;
	bool have_state = false, have_ppid = false, have_start = false;
	st->threads = -1;
	while (p < end && field <= 22) {
		while (p < end && *p == ' ')
			p++;
		const char *tok = p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		size_t tlen = (size_t)(p - tok);
		if (tlen == 0)
			break;
		char num[32];
		if (tlen < sizeof(num)) {
			memcpy(num, tok, tlen);
			num[tlen] = '\0';
		} else {
			num[0] = '\0';
		}
		char *ep;
		switch (field) {
		case 3:
			st->state = tok[0];
			have_state = true;
			break;
		case 4:
			errno = 0;
			st->ppid = strtoll(num, &ep, 10);
			have_ppid = num[0] && !*ep && !errno;
			break;
		case 20:
			errno = 0;
			st->threads = strtoll(num, &ep, 10);
			if (!num[0] || *ep || errno)
				st->threads = -1;
			break;
		case 22:
			errno = 0;
			st->starttime = strtoull(num, &ep, 10);
			have_start = num[0] && !*ep && !errno;
			break;
		}
		field++;
	}
	return have_state && have_ppid && have_start ? 0 : -1;
}

/* Only line starts are matched: the kernel escapes newlines in Name, so a comm cannot forge a
 * line. */
bool ai_pp_field(const char *buf, size_t len, const char *key, struct ai_pp_slice *out)
{
	size_t klen = strlen(key);
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if ((size_t)(le - p) > klen && !memcmp(p, key, klen) && p[klen] == ':') {
			const char *v = p + klen + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = le;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			out->s = v;
			out->len = (size_t)(ve - v);
			return true;
		}
		p = le + 1;
	}
	return false;
}

bool ai_pp_next_u64(struct ai_pp_slice *sl, uint64_t *v)
{
	while (sl->len && (*sl->s == ' ' || *sl->s == '\t')) {
		sl->s++;
		sl->len--;
	}
	if (!sl->len || !isdigit((unsigned char)*sl->s))
		return false;
	uint64_t n = 0;
	while (sl->len && isdigit((unsigned char)*sl->s)) {
		unsigned d = (unsigned)(*sl->s - '0');
		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
		sl->s++;
		sl->len--;
	}
	if (sl->len && *sl->s != ' ' && *sl->s != '\t')
		return false;
	*v = n;
	return true;
}

bool ai_pp_is_hex(const struct ai_pp_slice *sl)
{
	if (!sl->len)
		return false;
	for (size_t i = 0; i < sl->len; i++)
		if (!isxdigit((unsigned char)sl->s[i]))
			return false;
	return true;
}

bool ai_pp_hex_u64(struct ai_pp_slice sl, uint64_t *v)
{
	if (!ai_pp_is_hex(&sl))
		return false;
	uint64_t n = 0;
	for (size_t i = 0; i < sl.len; i++) {
		if (n >> 60)
			return false;
		int c = (unsigned char)sl.s[i];
		n = n << 4 | (uint64_t)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
	}
	*v = n;
	return true;
}

bool ai_pp_ns_inode(const char *link, size_t len, uint64_t *ino)
{
	const char *lb = memchr(link, '[', len);
	if (!lb || len < 2 || link[len - 1] != ']')
		return false;
	struct ai_pp_slice sl = {lb + 1, (size_t)(link + len - 1 - (lb + 1))};
	return ai_pp_next_u64(&sl, ino) && sl.len == 0;
}

int ai_pp_parse_map(const char *line, size_t len, struct ai_pp_map *m)
{
	struct ai_pp_slice toks[5];
	const char *p = line, *end = line + len;
	for (int i = 0; i < 5; i++) {
		while (p < end && *p == ' ')
			p++;
		toks[i].s = p;
		while (p < end && *p != ' ')
			p++;
		toks[i].len = (size_t)(p - toks[i].s);
		if (!toks[i].len)
			return -1;
	}
	const char *dash = memchr(toks[0].s, '-', toks[0].len);
	if (!dash)
		return -1;
	m->start = (struct ai_pp_slice){toks[0].s, (size_t)(dash - toks[0].s)};
	m->end = (struct ai_pp_slice){dash + 1, toks[0].len - m->start.len - 1};
	if (!ai_pp_is_hex(&m->start) || !ai_pp_is_hex(&m->end) || !ai_pp_is_hex(&toks[2]))
		return -1;
	m->perms = toks[1];
	m->offset = toks[2];
	m->dev = toks[3];
	struct ai_pp_slice ino = toks[4];
	if (!ai_pp_next_u64(&ino, &m->inode) || ino.len)
		return -1;
	while (p < end && *p == ' ')
		p++;
	m->path = (struct ai_pp_slice){p, (size_t)(end - p)};
	return 0;
}

static bool is_limit_value(const struct ai_pp_slice *t)
{
	if (t->len == 9 && !memcmp(t->s, "unlimited", 9))
		return true;
	for (size_t i = 0; i < t->len; i++)
		if (!isdigit((unsigned char)t->s[i]))
			return false;
	return t->len > 0;
}

/* "Max open files            1024                 1048576              files     ": names have
 * spaces and some limits have no unit, so parse from the right. */
int ai_pp_parse_limit(const char *line, size_t len, struct ai_pp_limit *l)
{
	struct ai_pp_slice t[3];
	size_t n = 0;
	const char *p = line + len;
	while (n < 3) {
		while (p > line && p[-1] == ' ')
			p--;
		const char *te = p;
		while (p > line && p[-1] != ' ')
			p--;
		if (p == te)
			break;
		t[n++] = (struct ai_pp_slice){p, (size_t)(te - p)};
	}
	if (n < 3)
		return -1;
	size_t hi = 0; /* index in t of the hard limit */
	if (is_limit_value(&t[0])) {
		l->units = (struct ai_pp_slice){t[0].s + t[0].len, 0};
	} else {
		l->units = t[0];
		hi = 1;
	}
	l->hard = t[hi];
	l->soft = t[hi + 1];
	p = l->soft.s;
	if (!is_limit_value(&l->soft) || !is_limit_value(&l->hard))
		return -1;
	while (p > line && p[-1] == ' ')
		p--;
	if (p == line)
		return -1;
	l->name = (struct ai_pp_slice){line, (size_t)(p - line)};
	return 0;
}

bool ai_pp_next_nul(const char **p, const char *end, struct ai_pp_slice *out)
{
	if (*p >= end)
		return false;
	const char *z = memchr(*p, '\0', (size_t)(end - *p));
	const char *e = z ? z : end;
	out->s = *p;
	out->len = (size_t)(e - *p);
	*p = z ? z + 1 : end;
	return true;
}

/* Without overflowing on the multiplication. */
int64_t ai_pp_ticks_to_ns(int64_t boot_epoch_ns, uint64_t ticks, long hz)
{
	if (hz <= 0)
		hz = 100;
	uint64_t h = (uint64_t)hz;
	return boot_epoch_ns + (int64_t)((ticks / h) * 1000000000ull + (ticks % h) * 1000000000ull / h);
}

static bool has_prefix(const char *s, size_t len, const char *pre)
{
	size_t n = strlen(pre);
	return len >= n && !memcmp(s, pre, n);
}

bool ai_pp_link_deleted(const char *link, size_t len)
{
	static const char suf[] = " (deleted)";
	size_t n = sizeof(suf) - 1;
	return len >= n && !memcmp(link + len - n, suf, n);
}

bool ai_pp_link_memfd(const char *link, size_t len)
{
	return has_prefix(link, len, "/memfd:");
}

enum ai_fd_type ai_pp_fd_classify(const char *t, size_t len, const struct stat *st)
{
	if (has_prefix(t, len, "socket:["))
		return AI_FD_SOCKET;
	if (has_prefix(t, len, "pipe:["))
		return AI_FD_PIPE;
	if (has_prefix(t, len, "anon_inode:"))
		return AI_FD_ANON;
	if (ai_pp_link_memfd(t, len))
		return AI_FD_MEMFD;
	if (len && t[0] == '/' && ai_pp_link_deleted(t, len))
		return AI_FD_DELETED;
	if (st) {
		if (S_ISDIR(st->st_mode))
			return AI_FD_DIR;
		if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
			return AI_FD_DEVICE;
		if (S_ISREG(st->st_mode))
			return AI_FD_FILE;
		if (S_ISSOCK(st->st_mode))
			return AI_FD_SOCKET;
		return AI_FD_OTHER;
	}
	if (has_prefix(t, len, "/dev/"))
		return AI_FD_DEVICE;
	return AI_FD_OTHER;
}

/* Only digits of the base: strtoull alone would take a sign and blanks. */
static bool fdinfo_u64(const char *s, size_t len, int base, uint64_t *out)
{
	char num[32];
	if (!len || len >= sizeof(num))
		return false;
	memcpy(num, s, len);
	num[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (num[i] < '0' || num[i] > (base == 8 ? '7' : '9'))
			return false;
	errno = 0;
	char *ep;
	unsigned long long v = strtoull(num, &ep, base);
	if (errno || *ep)
		return false;
	*out = v;
	return true;
}

void ai_pp_parse_fdinfo(const char *buf, size_t len, struct ai_pp_fdinfo *fi)
{
	memset(fi, 0, sizeof(*fi));
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (colon) {
			size_t klen = (size_t)(colon - p);
			const char *v = colon + 1;
			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(le - v);
			while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
				vlen--;
			uint64_t n;
			if (klen == 3 && !memcmp(p, "pos", 3) && !fi->has_pos &&
			    fdinfo_u64(v, vlen, 10, &n)) {
				fi->pos = n;
				fi->has_pos = true;
			} else if (klen == 5 && !memcmp(p, "flags", 5) && !fi->has_flags &&
				   vlen < sizeof(fi->flags) && fdinfo_u64(v, vlen, 8, &n)) {
				memcpy(fi->flags, v, vlen);
				fi->flags[vlen] = '\0';
				fi->has_flags = true;
			} else if (klen == 6 && !memcmp(p, "mnt_id", 6) && !fi->has_mnt &&
				   fdinfo_u64(v, vlen, 10, &n)) {
				fi->mnt_id = n;
				fi->has_mnt = true;
			} else if (klen == 3 && !memcmp(p, "ino", 3) && !fi->has_ino &&
				   fdinfo_u64(v, vlen, 10, &n)) {
				fi->ino = n;
				fi->has_ino = true;
			}
		}
		p = le + 1;
	}
}
