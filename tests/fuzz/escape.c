/* Fuzz target: escaping round trips. Names from a container reach a terminal, a CSV cell and a
 * bodyfile line; each must show every byte and be read back to exactly the bytes it came from,
 * or two different names could show as one. Every check that fails aborts, so a mismatch is a
 * crash:
 *  - the input through ai_esc_text and ai_esc_csv, unescaped again, is the input; ai_esc_html
 *    output holds no markup character and no control;
 *  - the input, cut at NUL bytes, becomes the upperdir paths, an exe, a comm, an fd target and
 *    the bundle's name of a model, whose timeline (analyze/timeline.c) is rendered as a bodyfile
 *    and as CSV and parsed back: every line has its fields, every name and message its bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analyze/context.h"
#include "analyze/timeline.h"
#include "analyze/util.h"
#include "common/esc.h"
#include "common/json.h"

#define MAX_PATHS 12

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Undo the terminal escaping (\\ and \xHH) into out; false on any other backslash. Aborts on a
 * byte an escaped text must never hold (a C0 or C1 control, DEL, invalid UTF-8). */
static bool unescape(const char *s, size_t len, struct ai_buf *out)
{
	if (!ai_utf8_valid(s, len))
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0))
			abort();
		if (c != '\\') {
			ai_buf_addc(out, (char)c);
			continue;
		}
		if (i + 1 < len && s[i + 1] == '\\') {
			ai_buf_addc(out, '\\');
			i++;
		} else if (i + 3 < len && s[i + 1] == 'x' && hexv(s[i + 2]) >= 0 && hexv(s[i + 3]) >= 0) {
			ai_buf_addc(out, (char)(hexv(s[i + 2]) << 4 | hexv(s[i + 3])));
			i += 3;
		} else {
			return false;
		}
	}
	return true;
}

static void same(const struct ai_buf *b, const char *s, size_t len)
{
	if (b->len != len || (len && memcmp(b->data, s, len)))
		abort();
}

/* A field as the views show it: whole up to AZ_VIEW_MAX_FIELD bytes, else its first bytes (up to
 * 3 fewer, to end on a character) then the cut marker. */
static void same_view(const struct ai_buf *b, const char *s, size_t len)
{
	if (len <= AZ_VIEW_MAX_FIELD) {
		same(b, s, len);
		return;
	}
	static const char mk[] = "\xe2\x80\xa6[cut, ";
	size_t k = AZ_VIEW_MAX_FIELD - 3;
	if (b->len < k + sizeof(mk) - 1 || memcmp(b->data, s, k) ||
	    !memmem(b->data + k, b->len - k, mk, sizeof(mk) - 1))
		abort();
}

/* One CSV cell at *p (RFC 4180): quoted ones unquoted, "" as ". Advances past the separator;
 * *eol set when the row ended. */
static void csv_cell(const char **p, const char *end, struct ai_buf *cell, bool *quoted, bool *eol)
{
	const char *s = *p;
	ai_buf_reset(cell);
	*quoted = s < end && *s == '"';
	if (*quoted) {
		for (s++;; s++) {
			if (s >= end)
				abort(); /* an unterminated quote */
			if (*s == '"') {
				if (s + 1 < end && s[1] == '"') {
					ai_buf_addc(cell, '"');
					s++;
					continue;
				}
				s++;
				break;
			}
			ai_buf_addc(cell, *s);
		}
	} else {
		while (s < end && *s != ',' && *s != '\n') {
			if (*s == '"')
				abort();
			ai_buf_addc(cell, *s++);
		}
	}
	if (s >= end || (*s != ',' && *s != '\n'))
		abort(); /* a quoted cell must end at a separator */
	*eol = *s == '\n';
	*p = s + 1;
}

static void roundtrip_cell(const char *s, size_t len)
{
	struct ai_buf e, back;
	ai_buf_init(&e);
	ai_buf_init(&back);
	ai_esc_text(&e, s, len);
	if (!unescape(e.data, e.len, &back))
		abort();
	same(&back, s, len);

	ai_buf_reset(&e);
	ai_esc_csv(&e, s, len);
	ai_buf_addc(&e, '\n');
	const char *p = e.data;
	struct ai_buf cell;
	ai_buf_init(&cell);
	bool quoted, eol;
	csv_cell(&p, e.data + e.len, &cell, &quoted, &eol);
	if (!quoted || !eol || p != e.data + e.len)
		abort();
	ai_buf_reset(&back);
	if (!unescape(cell.data, cell.len, &back))
		abort();
	same(&back, s, len);

	ai_buf_reset(&e);
	ai_esc_html(&e, s, len);
	for (size_t i = 0; i < e.len; i++) {
		unsigned char c = (unsigned char)e.data[i];
		if (c == '<' || c == '>' || c == '"' || c == '\'' || c < 0x20 || c == 0x7f)
			abort();
		if (c == '&') {
			static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
			bool ok = false;
			for (size_t k = 0; k < 5 && !ok; k++)
				ok = !strncmp(e.data + i, ent[k], strlen(ent[k]));
			if (!ok)
				abort();
		}
	}
	if (!ai_utf8_valid(e.data, e.len))
		abort();
	ai_buf_free(&cell);
	ai_buf_free(&e);
	ai_buf_free(&back);
}

/* ---- the timeline */

struct piece {
	const char *s;
	size_t len;
};

static void model(struct az_model *m, const struct piece *pc, size_t n, size_t size)
{
	m->upper = calloc(n, sizeof(*m->upper));
	if (!m->upper)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct az_upper *u = &m->upper[m->nupper++];
		char *path = malloc(pc[i].len + 2);
		if (!path)
			abort();
		path[0] = '/';
		memcpy(path + 1, pc[i].s, pc[i].len);
		az_str_set(&u->path, path, pc[i].len + 1);
		free(path);
		u->type = (enum az_utype)(i % (AZ_U_OTHER + 1));
		u->mode = 0644 | (unsigned)(i << 9);
		u->ino = (int64_t)i + 1;
		u->size = (int64_t)pc[i].len;
		u->mtime_ns = (int64_t)(i + 1) * 1000000000;
		u->atime_ns = i % 2 ? u->mtime_ns : 0;
		u->ctime_ns = i % 4 == 3 ? 0 : u->mtime_ns + 1;
		u->overlay = i % 3 == 2 ? AZ_OV_WHITEOUT : 0;
	}
	const struct piece *a = &pc[0], *b = &pc[1 % n], *c = &pc[2 % n], *d = &pc[3 % n];
	m->procs = calloc(1, sizeof(*m->procs));
	m->fds = calloc(1, sizeof(*m->fds));
	if (!m->procs || !m->fds)
		abort();
	m->nprocs = m->nfds = 1;
	struct az_proc *p = &m->procs[0];
	p->pid = 7;
	p->start_ns = 5000000000;
	az_str_set(&p->comm, a->s, a->len);
	az_str_set(&p->exe, b->s, b->len);
	struct az_fd *f = &m->fds[0];
	f->pid = 7;
	f->fd = 3;
	f->deleted = true;
	az_str_set(&f->target, c->s, c->len);
	az_str_set(&f->rec_member, d->s, d->len);
	az_str_set(&m->man.name, d->s, d->len);
	m->man.started_ns = 6000000000;
	m->man.ended_ns = 7000000000;
	/* Odd sizes read as a checkpoint, whose events and bodyfile suffixes differ. */
	m->ck.present = size % 2;
	m->ck.created_ns = 1000000000;
	m->ck.checkpointed_ns = 8000000000;
}

/* A bodyfile line's 11 fields; field 1 unescaped into name. */
static void body_line(const char *l, size_t len, struct ai_buf *name)
{
	const char *f[12];
	size_t fl[12], n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && l[i] != '|')
			continue;
		if (n == 12)
			abort();
		f[n] = l + start;
		fl[n++] = i - start;
		start = i + 1;
	}
	if (n != 11 || fl[0] != 1 || f[0][0] != '0')
		abort();
	ai_buf_reset(name);
	if (!unescape(f[1], fl[1], name))
		abort();
	for (size_t k = 2; k < 11; k++)
		for (size_t i = 0; i < fl[k]; i++)
			if ((unsigned char)f[k][i] < 0x20)
				abort();
}

static void check_bodyfile(const struct az_ctx *c, const struct az_event *ev, size_t nev)
{
	struct ai_buf out, name, want;
	ai_buf_init(&out);
	ai_buf_init(&name);
	ai_buf_init(&want);
	az_timeline_render(c, AZ_TL_BODYFILE, &out);
	const char *p = out.data, *end = out.data + out.len;
	size_t u = 0, e = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			abort(); /* every line ends */
		body_line(p, (size_t)(nl - p), &name);
		p = nl + 1;
		if (u < c->m.nupper) {
			/* An upperdir entry: its path, then at most a " (...)" the renderer adds. */
			const struct az_str *path = &c->m.upper[u++].path;
			if (name.len < path->len || memcmp(name.data, path->s, path->len))
				abort();
			size_t rest = name.len - path->len;
			if (rest && (rest < 4 || memcmp(name.data + path->len, " (", 2) ||
				     name.data[name.len - 1] != ')'))
				abort();
			continue;
		}
		while (e < nev && !strcmp(ev[e].source, "upper"))
			e++;
		if (e == nev)
			abort(); /* more lines than events */
		ai_buf_reset(&want);
		ai_buf_printf(&want, "[%s] ", ev[e].source);
		if (name.len < want.len || memcmp(name.data, want.data, want.len))
			abort();
		struct ai_buf msg = {.data = name.data + want.len, .len = name.len - want.len};
		same_view(&msg, ev[e].message, strlen(ev[e].message));
		e++;
	}
	while (e < nev && !strcmp(ev[e].source, "upper"))
		e++;
	if (u != c->m.nupper || e != nev)
		abort();
	ai_buf_free(&out);
	ai_buf_free(&name);
	ai_buf_free(&want);
}

static void check_csv(const struct az_ctx *c, const struct az_event *ev, size_t nev)
{
	struct ai_buf out, cell, back;
	ai_buf_init(&out);
	ai_buf_init(&cell);
	ai_buf_init(&back);
	az_timeline_render(c, AZ_TL_CSV, &out);
	const char *p = out.data, *end = out.data + out.len;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl)
		abort();
	p = nl + 1; /* the header */
	for (size_t r = 0; r < nev; r++) {
		bool quoted, eol = false;
		size_t k = 0;
		for (; !eol; k++) {
			csv_cell(&p, end, &cell, &quoted, &eol);
			if (k != 0 && k != 6)
				continue;
			if (!quoted)
				abort(); /* names are always quoted */
			ai_buf_reset(&back);
			if (!unescape(cell.data, cell.len, &back))
				abort();
			if (k == 0)
				same_view(&back, ev[r].message, strlen(ev[r].message));
			else
				same(&back, ev[r].path.s ? ev[r].path.s : "",
				     ev[r].path.s ? ev[r].path.len : 0);
		}
		if (k != 17)
			abort();
	}
	if (p != end)
		abort(); /* more rows than events */
	ai_buf_free(&out);
	ai_buf_free(&cell);
	ai_buf_free(&back);
}

static void timeline(const char *buf, size_t size)
{
	struct piece pc[MAX_PATHS];
	size_t n = 0;
	const char *p = buf, *end = buf + size;
	while (n < MAX_PATHS) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		const char *e = nul ? nul : end;
		pc[n++] = (struct piece){p, (size_t)(e - p)};
		if (!nul)
			break;
		p = nul + 1;
	}
	struct az_ctx c;
	az_ctx_init(&c);
	model(&c.m, pc, n, size);
	ai_err_t err;
	if (az_ctx_attribute(&c, false, &err) == 0) {
		struct az_event *ev;
		size_t nev;
		az_timeline_events(&c, &ev, &nev);
		check_bodyfile(&c, ev, nev);
		check_csv(&c, ev, nev);
		az_timeline_events_free(ev, nev);
	}
	az_ctx_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: a read past the input is a heap overflow the sanitizers report. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	roundtrip_cell(buf, size);
	timeline(buf, size);
	free(buf);
	return 0;
}

#include "tests/fuzz/driver.inc"
