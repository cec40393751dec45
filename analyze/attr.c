#include "analyze/attr.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "analyze/imgcheck.h"
#include "analyze/util.h"
#include "common/cleanup.h"
#include "common/hash.h"

static const char *const status_names[] = {"none",     "image",	  "added",    "modified",
					   "metadata", "deleted", "replaced", "layer-deleted"};

const char *az_status_name(enum az_status s)
{
	return (unsigned)s < AZ_ST__COUNT ? status_names[s] : "none";
}

#define F_INTEREST 1u  /* hash this path's content in the layers */
#define F_UPPER	   2u  /* an upperdir entry names it */
#define F_UDEL	   4u  /* hidden by an upperdir whiteout or opaque dir */
#define F_UOPAQUE  8u  /* an opaque upperdir dir */
#define F_IMPLICIT 16u /* created as a parent only */

/* 32 bytes per path component */
struct node {
	uint32_t parent, child, sibling;
	uint32_t name_off;
	uint32_t info; /* side index + 1, 0 none */
	uint32_t mode;
	uint16_t name_len;
	uint8_t layer;	   /* 1-based layer of the current lower version, 0 none */
	uint8_t del_layer; /* layer whose whiteout hid it, 0 visible */
	uint8_t type;	   /* enum az_utype of the lower version */
	uint8_t flags;
	uint8_t status;
	uint8_t pad;
};

struct side {
	uint8_t sha[32];
	bool have_sha;
	uint8_t lower_layer;
	int32_t upper; /* index in model->upper, -1 none */
	char *target;  /* lower symlink target */
};

struct slot {
	uint32_t idx, hash;
};

struct az_attr {
	struct node *n;
	size_t nn, ncap;
	struct slot *slots;
	size_t scap; /* power of two */
	char *names;
	size_t names_len, names_cap;
	struct side *side;
	size_t nside, side_cap;
	const struct az_model *m;
	unsigned ct; /* the container whose upperdir is applied; AZ_CT_ALL: every one */
	struct az_image *img;
	struct ai_buf warnings;
	struct az_imgcheck check;
	/* streaming state */
	struct ai_buf lastdir;
	uint32_t lastdir_node;
	size_t skipped;
	bool progress, any_redirect;
	size_t layer_entries;
	/* the marked paths, canonical ("a/b/c"), as the parser thread's want() reads them: built before
	 * the walk and not changed during it (the node table is, on the caller's thread) */
	struct ai_buf ipool;
	struct ai_buf ilist; /* (offset, length) pairs while collecting */
	struct islot {
		uint64_t hash;
		uint32_t off, len;
	} * iset;
	size_t icount, icap; /* icap: power of two, 0 while collecting */
	uint64_t *bloom;     /* 16 bits per marked path, two probes: stays in cache where the set does not */
	size_t bloom_bits;   /* power of two */
	/* the image's /etc/passwd and /etc/group as its last layer to write them left them */
	struct ai_buf kept[2];
	bool have_kept[2];
};

static const char *const kept_paths[2] = {"etc/passwd", "etc/group"};

static uint32_t hash_name(uint32_t parent, const char *s, size_t len)
{
	uint32_t h = 2166136261u ^ parent * 16777619u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h ^ (h >> 15);
}

/* A slot holds a node index (0: empty) and its full hash, so probes compare hashes without
 * touching the node or its name (one cache line of slots per lookup, mostly). */
static void grow_slots(struct az_attr *a)
{
	size_t ncap = a->scap ? a->scap * 2 : 1024;
	struct slot *s = calloc(ncap, sizeof(*s));
	if (!s)
		abort();
	for (size_t k = 0; k < a->scap; k++) {
		if (!a->slots[k].idx)
			continue;
		uint32_t h = a->slots[k].hash & (uint32_t)(ncap - 1);
		while (s[h].idx)
			h = (h + 1) & (uint32_t)(ncap - 1);
		s[h] = a->slots[k];
	}
	free(a->slots);
	a->slots = s;
	a->scap = ncap;
}

static uint32_t find_child_h(const struct az_attr *a, uint32_t parent, const char *s, size_t len,
			     uint32_t hash)
{
	if (!a->scap)
		return 0;
	uint32_t mask = (uint32_t)(a->scap - 1);
	for (uint32_t h = hash & mask; a->slots[h].idx; h = (h + 1) & mask) {
		if (a->slots[h].hash != hash)
			continue;
		const struct node *x = &a->n[a->slots[h].idx];
		if (x->parent == parent && x->name_len == len && !memcmp(a->names + x->name_off, s, len))
			return a->slots[h].idx;
	}
	return 0;
}

static uint32_t find_child(const struct az_attr *a, uint32_t parent, const char *s, size_t len)
{
	return find_child_h(a, parent, s, len, hash_name(parent, s, len));
}

static uint32_t add_child_h(struct az_attr *a, uint32_t parent, const char *s, size_t len, uint32_t hash)
{
	if (a->nn == a->ncap) {
		a->ncap = a->ncap * 2;
		a->n = realloc(a->n, a->ncap * sizeof(*a->n));
		if (!a->n)
			abort();
	}
	if ((a->nn + 1) * 2 > a->scap)
		grow_slots(a);
	if (a->names_len + len > a->names_cap) {
		while (a->names_len + len > a->names_cap)
			a->names_cap = a->names_cap * 2;
		a->names = realloc(a->names, a->names_cap);
		if (!a->names)
			abort();
	}
	if (a->names_len + len > UINT32_MAX || a->nn >= UINT32_MAX - 1)
		abort(); /* bounded by the caller's limits long before */
	uint32_t i = (uint32_t)a->nn++;
	struct node *x = &a->n[i];
	memset(x, 0, sizeof(*x));
	x->parent = parent;
	x->name_off = (uint32_t)a->names_len;
	x->name_len = (uint16_t)len;
	memcpy(a->names + a->names_len, s, len);
	a->names_len += len;
	x->sibling = a->n[parent].child;
	a->n[parent].child = i;
	uint32_t mask = (uint32_t)(a->scap - 1), h = hash & mask;
	while (a->slots[h].idx)
		h = (h + 1) & mask;
	a->slots[h].idx = i;
	a->slots[h].hash = hash;
	return i;
}

static struct side *side_of(struct az_attr *a, uint32_t i)
{
	if (!a->n[i].info) {
		if (a->nside == a->side_cap) {
			a->side_cap = a->side_cap ? a->side_cap * 2 : 256;
			a->side = realloc(a->side, a->side_cap * sizeof(*a->side));
			if (!a->side)
				abort();
		}
		struct side *s = &a->side[a->nside++];
		memset(s, 0, sizeof(*s));
		s->upper = -1;
		a->n[i].info = (uint32_t)a->nside;
	}
	return &a->side[a->n[i].info - 1];
}

/* Split a path into components, refusing "." / ".." / empty names; returns count or -1. */
struct comp {
	const char *s;
	size_t len;
};
#define MAX_COMPS 1024

static int split_path(const char *p, size_t len, struct comp *c)
{
	int n = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && p[i] == '/')
			i++;
		if (i >= len)
			break;
		size_t st = i;
		while (i < len && p[i] != '/')
			i++;
		size_t l = i - st;
		if (l == 1 && p[st] == '.')
			continue;
		if ((l == 2 && p[st] == '.' && p[st + 1] == '.') || l > 255 || n >= MAX_COMPS)
			return -1;
		c[n].s = p + st;
		c[n].len = l;
		n++;
	}
	return n;
}

static uint64_t hash_canon(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	/* murmur3's finalizer: FNV's low bits, which index the table, are weak on near-identical names */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* Join components into out (AZ_MAX_PATH + 1 bytes): the canonical form both sides compare. */
static size_t canon_join(const struct comp *c, int n, char *out)
{
	size_t o = 0;
	for (int i = 0; i < n; i++) {
		if (o + c[i].len + 1 > AZ_MAX_PATH + 1)
			return SIZE_MAX;
		if (i)
			out[o++] = '/';
		memcpy(out + o, c[i].s, c[i].len);
		o += c[i].len;
	}
	return o;
}

static void interest_collect(struct az_attr *a, const struct comp *c, int n)
{
	char buf[AZ_MAX_PATH + 1];
	size_t len = canon_join(c, n, buf);
	if (len == SIZE_MAX)
		return;
	uint32_t rec[2] = {(uint32_t)a->ipool.len, (uint32_t)len};
	ai_buf_add(&a->ipool, buf, len);
	ai_buf_add(&a->ilist, rec, sizeof(rec));
	a->icount++;
}

static bool interest_find(const struct az_attr *a, const char *s, size_t len, uint64_t h)
{
	size_t bm = a->bloom_bits - 1, b1 = h & bm, b2 = (h >> 32) & bm;
	if (!(a->bloom[b1 / 64] >> (b1 % 64) & 1) || !(a->bloom[b2 / 64] >> (b2 % 64) & 1))
		return false;
	size_t mask = a->icap - 1;
	for (size_t k = h & mask; a->iset[k].len; k = (k + 1) & mask)
		if (a->iset[k].hash == h && a->iset[k].len == len &&
		    !memcmp(a->ipool.data + a->iset[k].off, s, len))
			return true;
	return false;
}

static void interest_build(struct az_attr *a)
{
	a->icap = 16;
	while (a->icap < a->icount * 2)
		a->icap *= 2;
	a->iset = calloc(a->icap, sizeof(*a->iset));
	a->bloom_bits = 4096;
	while (a->bloom_bits < a->icount * 16)
		a->bloom_bits *= 2;
	a->bloom = calloc(a->bloom_bits / 64, sizeof(uint64_t));
	if (!a->iset || !a->bloom)
		abort();
	for (size_t i = 0; i < a->icount; i++) {
		uint32_t rec[2];
		memcpy(rec, a->ilist.data + i * sizeof(rec), sizeof(rec));
		const char *s = a->ipool.data + rec[0];
		uint64_t h = hash_canon(s, rec[1]);
		size_t bm = a->bloom_bits - 1, b1 = h & bm, b2 = (h >> 32) & bm;
		a->bloom[b1 / 64] |= 1ull << (b1 % 64);
		a->bloom[b2 / 64] |= 1ull << (b2 % 64);
		if (interest_find(a, s, rec[1], h))
			continue;
		size_t k = h & (a->icap - 1);
		while (a->iset[k].len)
			k = (k + 1) & (a->icap - 1);
		a->iset[k] = (struct islot){h, rec[0], rec[1]};
	}
	ai_buf_free(&a->ilist);
}

/* The parser thread's question: is this layer entry a marked path (hash its content)? */
/* "a/b/c" already: what canon_join would make of it (no empty, "." or ".." component, none over 255
 * bytes, at most MAX_COMPS). Layer tars mostly hold such names; the others go the long way. */
static bool is_canonical(const char *p, size_t len)
{
	size_t st = 0, n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		size_t l = i - st;
		if (!l || l > 255 || (p[st] == '.' && (l == 1 || (l == 2 && p[st + 1] == '.'))) ||
		    ++n > MAX_COMPS)
			return false;
		st = i + 1;
	}
	return true;
}

static bool want_entry(void *ud, const char *p, size_t len)
{
	const struct az_attr *a = ud;
	if (len && is_canonical(p, len))
		return interest_find(a, p, len, hash_canon(p, len));
	struct comp c[MAX_COMPS];
	char buf[AZ_MAX_PATH + 1];
	int n = split_path(p, len, c);
	if (n <= 0)
		return false;
	size_t cl = canon_join(c, n, buf);
	if (cl == SIZE_MAX)
		return false;
	uint64_t h = hash_canon(buf, cl);
	return interest_find(a, buf, cl, h);
}

/* Which kept file a layer path is (canonical, as want_entry reads paths), -1 none. */
static int kept_which(const char *p, size_t len)
{
	struct comp c[MAX_COMPS];
	char buf[AZ_MAX_PATH + 1];
	int n = split_path(p, len, c);
	size_t cl = n > 0 ? canon_join(c, n, buf) : SIZE_MAX;
	for (int k = 0; cl != SIZE_MAX && k < 2; k++)
		if (cl == strlen(kept_paths[k]) && !memcmp(buf, kept_paths[k], cl))
			return k;
	return -1;
}

static bool keep_entry(void *ud, const char *p, size_t len)
{
	(void)ud;
	return len < 32 && kept_which(p, len) >= 0;
}

/* Find (create when layer >= 0) the node of a path; layer > 0 un-hides and dates created parents. */
static uint32_t walk(struct az_attr *a, const struct comp *c, int n, bool create, int layer)
{
	uint32_t cur = 0;
	for (int i = 0; i < n; i++) {
		uint32_t h = hash_name(cur, c[i].s, c[i].len);
		uint32_t nx = find_child_h(a, cur, c[i].s, c[i].len, h);
		if (!nx) {
			if (!create)
				return UINT32_MAX;
			nx = add_child_h(a, cur, c[i].s, c[i].len, h);
			if (i < n - 1) {
				a->n[nx].type = AZ_U_DIR;
				a->n[nx].flags |= F_IMPLICIT;
				a->n[nx].mode = 0755;
				a->n[nx].layer = (uint8_t)(layer > 0 ? layer : 0);
			}
		} else if (i < n - 1 && layer > 0 && (a->n[nx].del_layer || !a->n[nx].layer)) {
			a->n[nx].del_layer = 0;
			a->n[nx].layer = (uint8_t)layer;
			a->n[nx].type = AZ_U_DIR;
		}
		cur = nx;
	}
	return cur;
}

/* The node after i in a pre-order walk of root's subtree (child/sibling links, no recursion);
 * root when the walk is over. */
static uint32_t preorder_next(const struct az_attr *a, uint32_t root, uint32_t i)
{
	if (a->n[i].child)
		return a->n[i].child;
	while (i != root && !a->n[i].sibling)
		i = a->n[i].parent;
	return i == root ? root : a->n[i].sibling;
}

static void hide_subtree(struct az_attr *a, uint32_t root, int layer)
{
	uint32_t i = root;
	do {
		struct node *x = &a->n[i];
		if (!x->del_layer && x->layer < layer)
			x->del_layer = (uint8_t)layer;
	} while ((i = preorder_next(a, root, i)) != root);
}

static void hide_children(struct az_attr *a, uint32_t dir, int layer, int depth)
{
	for (uint32_t c = a->n[dir].child; c; c = a->n[c].sibling) {
		if (a->n[c].layer == layer && depth < MAX_COMPS)
			hide_children(a, c, layer, depth + 1);
		else
			hide_subtree(a, c, layer);
	}
}

static void udel_subtree(struct az_attr *a, uint32_t root, bool include_root)
{
	uint32_t i = root;
	do {
		if (i != root || include_root)
			a->n[i].flags |= F_UDEL;
	} while ((i = preorder_next(a, root, i)) != root);
}

static int on_entry(void *ud, size_t li, const struct az_lentry *e, ai_err_t *err)
{
	(void)err;
	struct az_attr *a = ud;
	int L = (int)li + 1;
	const char *name = e->path;
	if (!name) {
		a->skipped++;
		return 0;
	}
	size_t len = e->path_len; /* trailing '/' already removed */
	a->layer_entries++;
	/* dirname / basename */
	size_t bs = len;
	while (bs && name[bs - 1] != '/')
		bs--;
	const char *base = name + bs;
	size_t blen = len - bs;
	uint32_t parent;
	if (a->lastdir_node != UINT32_MAX && a->lastdir.len == bs &&
	    (!bs || !memcmp(a->lastdir.data, name, bs)) && !a->n[a->lastdir_node].del_layer) {
		parent = a->lastdir_node;
	} else {
		struct comp c[MAX_COMPS];
		int n = split_path(name, bs, c);
		if (n < 0) {
			a->skipped++;
			return 0;
		}
		parent = walk(a, c, n, true, L);
		if (parent && (a->n[parent].del_layer || !a->n[parent].layer)) {
			a->n[parent].del_layer = 0;
			a->n[parent].layer = (uint8_t)L;
			a->n[parent].type = AZ_U_DIR;
		}
		ai_buf_reset(&a->lastdir);
		ai_buf_add(&a->lastdir, name, bs);
		a->lastdir_node = parent;
	}
	if (blen == 0 || (blen == 1 && base[0] == '.'))
		return 0; /* the root itself */
	if ((blen == 2 && base[0] == '.' && base[1] == '.') || blen > 255) {
		a->skipped++;
		return 0;
	}
	if (blen >= 4 && !memcmp(base, ".wh.", 4)) {
		if (blen == 12 && !memcmp(base, ".wh..wh..opq", 12))
			hide_children(a, parent, L, 0);
		else {
			uint32_t t = find_child(a, parent, base + 4, blen - 4);
			if (t)
				hide_subtree(a, t, L);
		}
		a->lastdir_node = UINT32_MAX;
		return 0;
	}
	uint32_t bh = hash_name(parent, base, blen);
	uint32_t i = find_child_h(a, parent, base, blen, bh);
	if (!i)
		i = add_child_h(a, parent, base, blen, bh);
	int k = e->data ? kept_which(name, len) : -1;
	if (k >= 0) { /* a later layer's version replaces the earlier one */
		ai_buf_reset(&a->kept[k]);
		ai_buf_add(&a->kept[k], e->data, e->data_len);
		a->have_kept[k] = true;
	}
	struct node *x = &a->n[i];
	enum az_utype t = e->type;
	if (x->type == AZ_U_DIR && t != AZ_U_DIR && x->layer && !x->del_layer)
		hide_children(a, i, L, 0);
	x->layer = (uint8_t)L;
	x->del_layer = 0;
	x->type = (uint8_t)t;
	x->flags &= (uint8_t)~F_IMPLICIT;
	x->mode = e->perm;
	if (!(x->flags & F_INTEREST))
		return 0;
	struct side *s = side_of(a, i);
	s->have_sha = false;
	free(s->target);
	s->target = NULL;
	if (e->hardlink) {
		struct comp c[MAX_COMPS];
		int n = e->link ? split_path(e->link, e->link_len, c) : -1;
		uint32_t h = n > 0 ? walk(a, c, n, false, 0) : UINT32_MAX;
		if (h != UINT32_MAX && a->n[h].info) {
			s = side_of(a, i); /* side_of may not move: h already has one */
			struct side *hs = &a->side[a->n[h].info - 1];
			memcpy(s->sha, hs->sha, 32);
			s->have_sha = hs->have_sha;
		}
	} else if (t == AZ_U_FILE) {
		memcpy(s->sha, e->sha, 32);
		s->have_sha = e->have_sha;
	} else if (t == AZ_U_SYMLINK && e->link) {
		s->target = strndup(e->link, e->link_len);
		if (!s->target)
			abort();
	}
	return 0;
}

static void on_layer_done(void *ud, size_t li)
{
	struct az_attr *a = ud;
	a->lastdir_node = UINT32_MAX;
	if (a->progress) {
		ai_eprogress("layer %zu/%zu: %zu entries, %zu paths   ", li + 1, a->img->nlayers,
			     a->layer_entries, a->nn - 1);
		if (li + 1 == a->img->nlayers)
			ai_eprintf(NULL, "%s", "");
	}
}

static uint32_t mark_path(struct az_attr *a, const char *p, size_t len)
{
	struct comp c[MAX_COMPS];
	if (len > AZ_MAX_PATH)
		return UINT32_MAX;
	int n = split_path(p, len, c);
	if (n <= 0)
		return UINT32_MAX;
	uint32_t i = walk(a, c, n, true, 0);
	if (!(a->n[i].flags & F_INTEREST) && !a->iset) /* marked before the walk: the workers' set */
		interest_collect(a, c, n);
	a->n[i].flags |= F_INTEREST;
	return i;
}

/* The lower path of an upper entry: through the nearest redirect of it or an ancestor. */
static void lower_path(const struct az_model *m, bool any, size_t ui, struct ai_buf *out)
{
	const struct az_upper *u = &m->upper[ui];
	ai_buf_reset(out);
	/* any: the index has redirects at all (they are rare; the scan is per entry) */
	for (size_t k = 0; any && k <= ui; k++) {
		const struct az_upper *r = &m->upper[ui - k];
		if (!(r->overlay & AZ_OV_REDIRECT) || !r->redirect.s || r->type != AZ_U_DIR)
			continue;
		size_t rl = r->path.len;
		if (u->path.len < rl || memcmp(u->path.s, r->path.s, rl) ||
		    (u->path.len > rl && u->path.s[rl] != '/'))
			continue;
		if (r->redirect.s[0] == '/')
			ai_buf_add(out, r->redirect.s, r->redirect.len);
		else {
			size_t d = rl;
			while (d && r->path.s[d - 1] != '/')
				d--;
			ai_buf_add(out, r->path.s, d);
			ai_buf_add(out, r->redirect.s, r->redirect.len);
		}
		ai_buf_add(out, u->path.s + rl, u->path.len - rl);
		return;
	}
	ai_buf_add(out, u->path.s, u->path.len);
}

static void apply_upper(struct az_attr *a)
{
	const struct az_model *m = a->m;
	cleanup_buf struct ai_buf lp;
	ai_buf_init(&lp);
	for (size_t ui = 0; ui < m->nupper; ui++) {
		const struct az_upper *u = &m->upper[ui];
		if (a->ct != AZ_CT_ALL && u->ct != a->ct)
			continue; /* another container's upperdir: another tree */
		uint32_t i = mark_path(a, u->path.s, u->path.len);
		if (i == UINT32_MAX || i == 0)
			continue;
		lower_path(m, a->any_redirect, ui, &lp);
		struct comp c[MAX_COMPS];
		int n = split_path(lp.data, lp.len, c);
		uint32_t li = n > 0 ? walk(a, c, n, false, 0) : UINT32_MAX;
		const struct node *ln = li != UINT32_MAX ? &a->n[li] : NULL;
		bool existed = ln && ln->layer && !ln->del_layer;
		bool hidden = ln && (ln->flags & F_UDEL);
		/* an ancestor opaque dir hides the lower version even when no whiteout touched it */
		for (uint32_t p = a->n[i].parent; p && !hidden; p = a->n[p].parent)
			if (a->n[p].flags & F_UOPAQUE)
				hidden = true;
		struct node *x = &a->n[i];
		struct side *s = side_of(a, i);
		x = &a->n[i];
		s->upper = (int32_t)ui;
		s->lower_layer = existed ? ln->layer : 0;
		x->flags |= F_UPPER;
		enum az_status st;
		if (u->overlay & AZ_OV_WHITEOUT) {
			st = AZ_ST_DELETED;
			if (existed && !hidden)
				udel_subtree(a, li, true);
		} else if (hidden) {
			st = existed ? AZ_ST_REPLACED : AZ_ST_ADDED;
		} else if (u->overlay & AZ_OV_OPAQUE) {
			st = existed ? AZ_ST_REPLACED : AZ_ST_ADDED;
		} else if (!existed) {
			st = AZ_ST_ADDED;
		} else if (u->overlay & AZ_OV_METACOPY) {
			st = AZ_ST_METADATA;
		} else if (u->type != ln->type) {
			st = AZ_ST_MODIFIED;
		} else if (u->type == AZ_U_DIR) {
			st = (u->mode & 07777) == (ln->mode & 07777) ? AZ_ST_IMAGE : AZ_ST_METADATA;
		} else if (u->type == AZ_U_FILE) {
			const struct side *ls = ln->info ? &a->side[ln->info - 1] : NULL;
			char hex[65] = "";
			if (ls && ls->have_sha)
				ai_hex(ls->sha, 32, hex);
			st = hex[0] && u->sha256[0] && !u->truncated && !strcmp(hex, u->sha256)
				 ? AZ_ST_METADATA
				 : AZ_ST_MODIFIED;
		} else if (u->type == AZ_U_SYMLINK) {
			const struct side *ls = ln->info ? &a->side[ln->info - 1] : NULL;
			st = ls && ls->target && u->target.s && !strcmp(ls->target, u->target.s)
				 ? AZ_ST_METADATA
				 : AZ_ST_MODIFIED;
		} else {
			st = AZ_ST_METADATA;
		}
		x->status = (uint8_t)st;
		if (u->overlay & AZ_OV_OPAQUE) {
			x->flags |= F_UOPAQUE;
			if (existed)
				udel_subtree(a, li, false);
		}
	}
	for (size_t i = 1; i < a->nn; i++) {
		struct node *x = &a->n[i];
		if (x->flags & F_UPPER)
			continue;
		if (x->layer && !x->del_layer)
			x->status = (x->flags & F_UDEL) ? AZ_ST_DELETED : AZ_ST_IMAGE;
		else if (x->layer && x->del_layer)
			x->status = AZ_ST_LAYER_DELETED;
		else
			x->status = AZ_ST_NONE;
	}
}

/* What the image check needs of an exe's path, from the attribution (imgcheck.h). */
static bool check_lookup(const void *ud, const char *path, size_t len, struct az_imgcheck_file *f)
{
	struct az_origin o;
	if (!az_attr_lookup(ud, path, len, &o))
		return false;
	f->upper = o.upper != NULL;
	f->lower_exists = o.lower_exists;
	f->sha_known = o.sha_known;
	memcpy(f->lower_sha256, o.lower_sha256, sizeof(f->lower_sha256));
	return true;
}

int az_attr_build(struct az_attr **out, const struct az_model *m, struct az_image *img, bool progress,
		  ai_err_t *err)
{
	return az_attr_build_ct(out, m, AZ_CT_ALL, img, progress, err);
}

/* Before the walk: the tree's root and the paths whose content the walk must hash. */
static struct az_attr *attr_new(const struct az_model *m, unsigned ct, struct az_image *img, bool progress)
{
	struct az_attr *a = calloc(1, sizeof(*a));
	if (!a)
		abort();
	a->m = m;
	a->ct = ct;
	a->img = img;
	a->progress = progress;
	a->ncap = 1024;
	a->n = calloc(a->ncap, sizeof(*a->n));
	a->names_cap = 4096;
	a->names = malloc(a->names_cap);
	if (!a->n || !a->names)
		abort();
	a->nn = 1; /* node 0: the root */
	a->n[0].type = AZ_U_DIR;
	a->lastdir_node = UINT32_MAX;
	ai_buf_init(&a->warnings);
	ai_buf_init(&a->lastdir);
	ai_buf_init(&a->ipool);
	ai_buf_init(&a->ilist);
	ai_buf_init(&a->kept[0]);
	ai_buf_init(&a->kept[1]);
	grow_slots(a);
	for (size_t k = 0; k < m->nupper && !a->any_redirect; k++)
		a->any_redirect = (m->upper[k].overlay & AZ_OV_REDIRECT) && m->upper[k].redirect.s;
	/* what needs content hashes: upperdir entries (and their redirect origins), exes, open files */
	cleanup_buf struct ai_buf lp;
	ai_buf_init(&lp);
	for (size_t i = 0; i < m->nupper; i++) {
		mark_path(a, m->upper[i].path.s, m->upper[i].path.len);
		lower_path(m, a->any_redirect, i, &lp);
		mark_path(a, lp.data, lp.len);
	}
	for (size_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].exe.s && m->procs[i].exe.s[0] == '/' && !m->procs[i].exe_memfd)
			mark_path(a, m->procs[i].exe.s, az_exe_path_len(&m->procs[i]));
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i].target.s && m->fds[i].target.s[0] == '/' &&
		    (m->fds[i].type == AZ_FD_FILE || m->fds[i].type == AZ_FD_DIR))
			mark_path(a, m->fds[i].target.s, m->fds[i].target.len);
	for (int k = 0; k < 2; k++) { /* for the names of the uids and gids (ps --pid) */
		char kp[16];
		snprintf(kp, sizeof(kp), "/%s", kept_paths[k]);
		mark_path(a, kp, strlen(kp));
	}
	if (img)
		interest_build(a);
	return a;
}

/* After the walk: the warnings, the upperdir over the layers, the image check. */
static void attr_finish(struct az_attr *a)
{
	const struct az_model *m = a->m;
	struct az_image *img = a->img;
	unsigned ct = a->ct;
	const struct az_overlay *mov = az_model_ov(m, ct == AZ_CT_ALL ? 0 : ct);
	if (img) {
		if (mov->present && mov->nlower - mov->data_only != img->nlayers)
			ai_buf_printf(&a->warnings,
				      "layer count mismatch: the image has %zu layers, the container's "
				      "overlay has %zu lowerdirs"
				      " (%zu data-only): attribution may be wrong (wrong image?)\n",
				      img->nlayers, mov->nlower - mov->data_only, mov->data_only);
		if (a->skipped)
			ai_buf_printf(&a->warnings,
				      "%zu layer entries with unsafe or oversized names were skipped\n",
				      a->skipped);
	} else {
		ai_buf_adds(&a->warnings, "no --image given: lower-layer origins are unknown\n");
	}
	if (m->ck.present) {
		if (!m->ck.have_rootfs_diff)
			ai_buf_adds(
			    &a->warnings,
			    "checkpoint archive without rootfs-diff.tar (exported with --ignore-rootfs?):"
			    " files added at runtime are unknown\n");
		if (!m->ck.layer_whiteouts)
			ai_buf_adds(&a->warnings,
				    "checkpoint archive: rootfs-diff.tar holds only paths added at "
				    "runtime and deleted.files the deleted"
				    " ones; image files modified in place (content, chmod, chown) are "
				    "not in the archive and show as image\n");
		if (m->ck.fds_cut)
			ai_buf_printf(&a->warnings, "checkpoint archive: %zu fds over the limit not listed\n",
				      m->ck.fds_cut);
		if (m->ck.ghosts_unread)
			ai_buf_printf(
			    &a->warnings,
			    "checkpoint archive: %zu ghost file(s) over the limit: deleted-open content "
			    "not hashed\n",
			    m->ck.ghosts_unread);
		if (m->ck.opaque)
			ai_buf_printf(&a->warnings,
				      "checkpoint archive: %zu deleted.files path(s) re-created in "
				      "rootfs-diff.tar are read as opaque"
				      " (replaced) directories\n",
				      m->ck.opaque);
		if (m->ck.skipped)
			ai_buf_printf(&a->warnings,
				      "checkpoint archive: %zu entries with unusable names were skipped\n",
				      m->ck.skipped);
	} else if (!m->have[AZ_HAVE_UPPER])
		ai_buf_adds(&a->warnings, "the bundle has no fs/upper.json: upperdir changes are unknown\n");
	apply_upper(a);
	az_imgcheck_run(&a->check, m, ct, img, check_lookup, a);
	if (a->check.verdict == AZ_IMG_MISMATCH)
		for (const char *p = a->check.why.data; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t l = nl ? (size_t)(nl - p) : strlen(p);
			ai_buf_printf(&a->warnings,
				      "image mismatch: %.*s: attribution against %s is not to be trusted\n",
				      (int)l, p, img->ref);
			p += l + (nl ? 1 : 0);
		}
}

static const struct az_walk_ops walk_ops = {
    .want = want_entry, .keep = keep_entry, .entry = on_entry, .done = on_layer_done};

int az_attr_build_ct(struct az_attr **out, const struct az_model *m, unsigned ct, struct az_image *img,
		     bool progress, ai_err_t *err)
{
	return az_attr_build_many(out, m, &ct, 1, img, progress, err);
}

/* Several containers over one image: one walk of it feeds every one's tree (the layers are read,
 * decompressed and hashed once, however many containers ran the image). */
struct fan {
	struct az_attr **v;
	size_t n;
};

static bool fan_want(void *ud, const char *p, size_t len)
{
	const struct fan *f = ud;
	for (size_t i = 0; i < f->n; i++)
		if (want_entry(f->v[i], p, len))
			return true;
	return false;
}

static int fan_entry(void *ud, size_t li, const struct az_lentry *e, ai_err_t *err)
{
	const struct fan *f = ud;
	for (size_t i = 0; i < f->n; i++)
		if (on_entry(f->v[i], li, e, err) < 0)
			return -1;
	return 0;
}

static void fan_done(void *ud, size_t li)
{
	const struct fan *f = ud;
	for (size_t i = 0; i < f->n; i++)
		on_layer_done(f->v[i], li);
}

int az_attr_build_many(struct az_attr **out, const struct az_model *m, const unsigned *cts, size_t n,
		       struct az_image *img, bool progress, ai_err_t *err)
{
	for (size_t i = 0; i < n; i++)
		out[i] = attr_new(m, cts[i], img, progress && !i); /* one progress line for the walk */
	int rc = 0;
	if (img && n == 1)
		rc = az_image_walk(img, &walk_ops, out[0], err);
	else if (img && n) {
		static const struct az_walk_ops fan_ops = {
		    .want = fan_want, .keep = keep_entry, .entry = fan_entry, .done = fan_done};
		struct fan f = {out, n};
		rc = az_image_walk(img, &fan_ops, &f, err);
	}
	for (size_t i = 0; i < n; i++) {
		if (rc < 0) {
			az_attr_free(out[i]);
			out[i] = NULL;
		} else
			attr_finish(out[i]);
	}
	return rc < 0 ? -1 : 0;
}

void az_attr_free(struct az_attr *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nside; i++)
		free(a->side[i].target);
	free(a->side);
	free(a->n);
	free(a->slots);
	free(a->names);
	ai_buf_free(&a->warnings);
	az_imgcheck_free(&a->check);
	ai_buf_free(&a->lastdir);
	ai_buf_free(&a->ipool);
	ai_buf_free(&a->ilist);
	ai_buf_free(&a->kept[0]);
	ai_buf_free(&a->kept[1]);
	free(a->iset);
	free(a->bloom);
	free(a);
}

const char *az_attr_image_file(const struct az_attr *a, const char *path, size_t *len)
{
	for (int k = 0; a && k < 2; k++) {
		if (strcmp(path + (path[0] == '/'), kept_paths[k]) || !a->have_kept[k])
			continue;
		struct az_origin o;
		if (!az_attr_lookup(a, path, strlen(path), &o) || !o.lower_exists)
			return NULL; /* a later layer deleted it */
		*len = a->kept[k].len;
		return a->kept[k].len ? a->kept[k].data : "";
	}
	return NULL;
}

unsigned az_attr_ct(const struct az_attr *a)
{
	return a->ct;
}

const struct az_attr *az_attrs_of(const struct az_attrs *s, unsigned ct)
{
	return s && ct < s->n ? s->ct[ct] : NULL;
}

const struct az_image *az_attr_image(const struct az_attr *a)
{
	return a->img;
}

const struct az_model *az_attr_model(const struct az_attr *a)
{
	return a->m;
}

const struct az_imgcheck *az_attr_imgcheck(const struct az_attr *a)
{
	return &a->check;
}

const char *az_attr_warnings(const struct az_attr *a)
{
	return a->warnings.len ? a->warnings.data : "";
}

static void origin_of(const struct az_attr *a, uint32_t i, struct az_origin *o)
{
	const struct node *x = &a->n[i];
	memset(o, 0, sizeof(*o));
	o->status = (enum az_status)x->status;
	const struct side *s = x->info ? &a->side[x->info - 1] : NULL;
	if (s && s->upper >= 0) {
		o->upper = &a->m->upper[s->upper];
		o->layer = s->lower_layer;
		o->lower_exists = s->lower_layer != 0;
	} else {
		o->layer = x->layer;
		o->lower_exists = x->layer && !x->del_layer;
	}
	o->lower_exec = x->type == AZ_U_FILE && (x->mode & 0111);
	if (s && s->have_sha && x->layer) {
		ai_hex(s->sha, 32, o->lower_sha256);
		o->sha_known = true;
	}
}

bool az_attr_lookup(const struct az_attr *a, const char *path, size_t len, struct az_origin *o)
{
	struct comp c[MAX_COMPS];
	if (len > AZ_MAX_PATH)
		return false;
	int n = split_path(path, len, c);
	if (n <= 0)
		return false;
	uint32_t i = walk((struct az_attr *)a, c, n, false, 0);
	if (i == UINT32_MAX || a->n[i].status == AZ_ST_NONE)
		return false;
	origin_of(a, i, o);
	return true;
}

static void node_path(const struct az_attr *a, uint32_t i, struct ai_buf *out)
{
	uint32_t stack[MAX_COMPS + 8];
	int n = 0;
	for (uint32_t p = i; p && n < MAX_COMPS + 8; p = a->n[p].parent)
		stack[n++] = p;
	ai_buf_reset(out);
	while (n--) {
		ai_buf_addc(out, '/');
		ai_buf_add(out, a->names + a->n[stack[n]].name_off, a->n[stack[n]].name_len);
	}
	ai_buf_cstr(out);
}

struct row {
	char *path;
	size_t len;
	uint32_t node;
};

static int cmp_row(const void *x, const void *y)
{
	const struct row *a = x, *b = y;
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->path, b->path, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

void az_attr_each(const struct az_attr *a, bool changed_only, az_attr_visit_fn fn, void *ud)
{
	size_t cnt = 0;
	for (size_t i = 1; i < a->nn; i++)
		if (a->n[i].status != AZ_ST_NONE && (!changed_only || a->n[i].status != AZ_ST_IMAGE))
			cnt++;
	struct row *rows = calloc(cnt ? cnt : 1, sizeof(*rows));
	if (!rows)
		abort();
	size_t k = 0;
	cleanup_buf struct ai_buf p;
	ai_buf_init(&p);
	for (size_t i = 1; i < a->nn; i++) {
		if (a->n[i].status == AZ_ST_NONE || (changed_only && a->n[i].status == AZ_ST_IMAGE))
			continue;
		node_path(a, (uint32_t)i, &p);
		rows[k].len = p.len;
		rows[k].path = malloc(p.len + 1);
		if (!rows[k].path)
			abort();
		memcpy(rows[k].path, p.data, p.len + 1);
		rows[k].node = (uint32_t)i;
		k++;
	}
	qsort(rows, cnt, sizeof(*rows), cmp_row);
	for (size_t i = 0; i < cnt; i++) {
		struct az_origin o;
		origin_of(a, rows[i].node, &o);
		fn(ud, rows[i].path, rows[i].len, &o);
		free(rows[i].path);
	}
	free(rows);
}

void az_attr_stats(const struct az_attr *a, size_t *paths, size_t *bytes, size_t counts[AZ_ST__COUNT])
{
	*paths = a->nn - 1;
	*bytes = a->ncap * sizeof(struct node) + a->scap * sizeof(struct slot) + a->names_cap +
		 a->side_cap * sizeof(struct side);
	for (size_t i = 1; i < a->nn; i++)
		counts[a->n[i].status < AZ_ST__COUNT ? a->n[i].status : 0]++;
}

const struct az_volume *az_attr_volume(const struct az_attr *a, unsigned ct, const char *path, size_t len)
{
	return a ? az_model_volume_of(az_attr_model(a), ct, path, len) : NULL;
}

void az_attr_volume_text(const struct az_volume *v, struct ai_buf *out)
{
	ai_buf_adds(out, "volume ");
	az_esc_text(out, v->mount_point.s, v->mount_point.len);
	ai_buf_addc(out, ' ');
	az_esc_text(out, v->kind.s, v->kind.len);
}
