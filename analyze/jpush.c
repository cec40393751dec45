/* A streamed top-level JSON object (see jpush.h). */
#include "analyze/jpush.h"
#include <stdlib.h>
#include <string.h>

enum {
	ST_START,     /* before '{' */
	ST_KEY_FIRST, /* after '{': a key or '}' */
	ST_KEY,	      /* after ',': a key */
	ST_COLON,
	ST_VALUE,
	ST_COLON_TARGET, /* after `key`: ':' then its array */
	ST_TARGET,
	ST_OBJ_NEXT, /* after a value: ',' or '}' */
	ST_ARR_FIRST,
	ST_ARR_ELEM,
	ST_ARR_NEXT,
	ST_END,
};

void az_jpush_init(struct az_jpush *p, const char *what, const char *key, unsigned flags, size_t max_value,
		   az_j_elem_fn elem, az_j_other_fn other, void *ud)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->key = key;
	p->flags = flags;
	p->max_value = max_value;
	p->elem = elem;
	p->other = other;
	p->ud = ud;
	ai_buf_init(&p->cur);
	if (!(p->keys = json_object()))
		abort();
}

void az_jpush_free(struct az_jpush *p)
{
	ai_buf_free(&p->cur);
	free(p->curkey);
	p->curkey = NULL;
	if (p->keys)
		json_decref(p->keys);
	p->keys = NULL;
}

static int fail(struct az_jpush *p, ai_err_t *err, const char *why, uint64_t at)
{
	p->failed = true;
	return ai_err_set(err, 0, "%s: invalid JSON at byte %llu: %s", p->what, (unsigned long long)at, why);
}

static bool ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void begin(struct az_jpush *p, bool is_key, bool is_elem)
{
	p->collecting = true;
	p->is_key = is_key;
	p->is_elem = is_elem;
	ai_buf_reset(&p->cur);
	az_jscan_init(&p->sc);
}

/* The collected value is whole: parse it and hand it on. */
static int complete(struct az_jpush *p, ai_err_t *err)
{
	p->collecting = false;
	json_error_t je;
	/* a number or literal runs to a delimiter here, but to where jansson's lexer stops in
	 * az_j_stream ("1x": the value 1, then 'x' where ',' belongs): the same here */
	bool scalar = p->cur.len && !strchr("\"{[", p->cur.data[0]);
	json_t *v = json_loadb(p->cur.data ? p->cur.data : "", p->cur.len,
			       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY |
				   (scalar ? JSON_DISABLE_EOF_CHECK : 0),
			       &je);
	uint64_t at = p->pos - p->cur.len;
	if (!v)
		return fail(p, err, je.text, at);
	size_t used = scalar && je.position > 0 ? (size_t)je.position : p->cur.len;
	int rc = 0;
	if (p->is_key) {
		const char *ks = json_string_value(v);
		if (!ks) {
			json_decref(v);
			return fail(p, err, "object key expected", at);
		}
		bool target = p->key && !strcmp(ks, p->key) && strlen(ks) == json_string_length(v);
		if (target && p->seen)
			rc = ai_err_set(err, 0, "%s: duplicate object key \"%s\"", p->what, p->key);
		else if (!target && json_object_get(p->keys, ks))
			rc = ai_err_set(err, 0, "%s: duplicate object key", p->what);
		else if (target)
			p->seen = true;
		else {
			json_object_set_new(p->keys, ks, json_null());
			free(p->curkey);
			if (!(p->curkey = strdup(ks)))
				abort();
		}
		p->state = target ? ST_COLON_TARGET : ST_COLON;
	} else if (p->is_elem) {
		if (p->elem(p->ud, v, p->n, err) < 0)
			rc = ai_err_wrap(err, "%s: %s[%zu]", p->what, p->key, p->n);
		p->n++;
		p->state = ST_ARR_NEXT;
	} else {
		if (p->other && p->other(p->ud, p->curkey, v, err) < 0)
			rc = -1;
		p->state = ST_OBJ_NEXT;
	}
	json_decref(v);
	if (rc < 0)
		p->failed = true;
	else if (used < p->cur.len)
		rc = fail(p, err, p->state == ST_ARR_NEXT ? "',' or ']' expected" : "',' or '}' expected",
			  at + used);
	return rc;
}

int az_jpush_feed(struct az_jpush *p, const char *buf, size_t len, ai_err_t *err)
{
	if (p->failed)
		return ai_err_set(err, 0, "%s: not read past an earlier error", p->what);
	/* JSON has no raw NUL byte (a string writes \u0000); jansson reads some as nothing */
	const char *nul = memchr(buf, '\0', len);
	size_t i = 0;
	if (nul)
		len = (size_t)(nul - buf);
	while (i < len) {
		if (p->collecting) {
			bool done;
			size_t n = az_jscan_feed(&p->sc, buf + i, len - i, &done);
			if (p->cur.len + n > p->max_value) {
				p->failed = true;
				return ai_err_set(
				    err, 0, "%s: a value at byte %llu longer than the limit of %zu bytes",
				    p->what, (unsigned long long)(p->pos - p->cur.len), p->max_value);
			}
			ai_buf_add(&p->cur, buf + i, n);
			i += n;
			p->pos += n;
			if (done && complete(p, err) < 0)
				return -1;
			continue;
		}
		char c = buf[i];
		if (ws(c)) {
			i++;
			p->pos++;
			continue;
		}
		switch (p->state) {
		case ST_START:
			if (c != '{')
				return p->failed = true, ai_err_set(err, 0, "%s: not a JSON object", p->what);
			p->state = ST_KEY_FIRST;
			break;
		case ST_KEY_FIRST:
		case ST_KEY:
			if (c == '}' && p->state == ST_KEY_FIRST) {
				p->state = ST_END;
				break;
			}
			if (c != '"')
				return fail(p, err, "object key expected", p->pos);
			begin(p, true, false);
			continue; /* the scanner takes the quote */
		case ST_COLON:
		case ST_COLON_TARGET:
			if (c != ':')
				return fail(p, err, "':' expected", p->pos);
			p->state = p->state == ST_COLON ? ST_VALUE : ST_TARGET;
			break;
		case ST_TARGET:
			if (c != '[') {
				p->failed = true;
				return ai_err_set(err, 0, "%s: \"%s\" is not an array", p->what, p->key);
			}
			p->state = ST_ARR_FIRST;
			break;
		case ST_VALUE:
			begin(p, false, false);
			continue;
		case ST_ARR_FIRST:
			if (c == ']') {
				p->state = ST_OBJ_NEXT;
				break;
			}
			begin(p, false, true);
			continue;
		case ST_ARR_ELEM:
			begin(p, false, true);
			continue;
		case ST_ARR_NEXT:
			if (c != ',' && c != ']')
				return fail(p, err, "',' or ']' expected", p->pos);
			p->state = c == ',' ? ST_ARR_ELEM : ST_OBJ_NEXT;
			break;
		case ST_OBJ_NEXT:
			if (c != ',' && c != '}')
				return fail(p, err, "',' or '}' expected", p->pos);
			p->state = c == ',' ? ST_KEY : ST_END;
			break;
		case ST_END:
		default:
			return fail(p, err, "end of input expected", p->pos);
		}
		i++;
		p->pos++;
	}
	if (nul)
		return fail(p, err, "a NUL byte", p->pos);
	return 0;
}

int az_jpush_end(struct az_jpush *p, ai_err_t *err)
{
	if (p->failed)
		return ai_err_set(err, 0, "%s: not read past an earlier error", p->what);
	if (p->collecting) {
		/* even a number or literal: nothing but '}' may end the object (az_j_stream hands such
		 * a value on before it finds that out: so does this) */
		if (p->cur.len && !strchr("\"{[", p->cur.data[0]) && complete(p, err) < 0)
			return -1;
		return fail(p, err, "unexpected end of input", p->pos);
	}
	if (p->state != ST_END)
		return fail(p, err, p->state == ST_START ? "empty document" : "unexpected end of input",
			    p->pos);
	if (!p->seen && p->key && !(p->flags & AZ_J_KEY_OPTIONAL)) {
		p->failed = true;
		return ai_err_set(err, 0, "%s: no \"%s\" array", p->what, p->key);
	}
	return 0;
}
