#include "analyze/criu.h"
#include <string.h>

bool az_pb_varint(struct az_pb *b, uint64_t *v)
{
	uint64_t x = 0;
	for (int sh = 0; sh < 64; sh += 7) {
		if (b->p >= b->end)
			return false;
		uint8_t c = *b->p++;
		x |= (uint64_t)(c & 0x7f) << sh;
		if (!(c & 0x80)) {
			*v = x;
			return true;
		}
	}
	return false;
}

bool az_pb_next(struct az_pb *b, uint32_t *field, uint64_t *v, struct az_pb *sub, bool *bad)
{
	*bad = false;
	if (b->p >= b->end)
		return false;
	uint64_t key;
	if (!az_pb_varint(b, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX) {
		*bad = true;
		return false;
	}
	*field = (uint32_t)(key >> 3);
	switch (key & 7) {
	case 0:
		if (!az_pb_varint(b, v))
			break;
		sub->p = sub->end = NULL;
		return true;
	case 1:
		if (b->end - b->p < 8)
			break;
		b->p += 8;
		*v = 0;
		sub->p = sub->end = NULL;
		return true;
	case 5:
		if (b->end - b->p < 4)
			break;
		b->p += 4;
		*v = 0;
		sub->p = sub->end = NULL;
		return true;
	case 2: {
		uint64_t l;
		if (!az_pb_varint(b, &l) || l > (uint64_t)(b->end - b->p))
			break;
		sub->p = b->p;
		sub->end = b->p + l;
		b->p += l;
		*v = l;
		return true;
	}
	default:
		break;
	}
	*bad = true;
	return false;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int az_criu_open(struct az_criu_img *im, const uint8_t *d, size_t len, uint32_t magic)
{
	im->d = d;
	im->len = len;
	im->off = 0;
	if (len < 4)
		return -1;
	uint32_t m0 = le32(d);
	if (m0 == AZ_CRIU_IMG_COMMON_MAGIC || m0 == AZ_CRIU_IMG_SERVICE_MAGIC) {
		if (len < 8 || le32(d + 4) != magic)
			return -1;
		im->off = 8;
		return 0;
	}
	if (m0 != magic)
		return -1;
	im->off = 4;
	return 0;
}

bool az_criu_next(struct az_criu_img *im, struct az_pb *entry, bool *bad)
{
	*bad = false;
	if (im->off == im->len)
		return false;
	if (im->len - im->off < 4) {
		*bad = true;
		return false;
	}
	uint32_t sz = le32(im->d + im->off);
	im->off += 4;
	if (sz > im->len - im->off) {
		*bad = true;
		return false;
	}
	entry->p = im->d + im->off;
	entry->end = im->d + im->off + sz;
	im->off += sz;
	return true;
}

/* pstree_entry: pid 1, ppid 2, pgid 3, sid 4, threads 5 (repeated, packed or not) */
int az_criu_pstree_read(const uint8_t *d, size_t len, az_criu_pstree_fn each, void *ud, ai_err_t *err)
{
	struct az_criu_img im;
	if (az_criu_open(&im, d, len, AZ_CRIU_PSTREE_MAGIC) < 0)
		return ai_err_set(err, 0, "not a CRIU pstree image (bad magic)");
	struct az_pb e;
	bool bad;
	size_t n = 0;
	while (az_criu_next(&im, &e, &bad)) {
		struct az_criu_pstree x = {.pid = -1, .ppid = -1, .threads = 0};
		uint32_t f;
		uint64_t v;
		struct az_pb sub;
		bool fbad;
		while (az_pb_next(&e, &f, &v, &sub, &fbad)) {
			if (sub.p && f == 5) { /* packed threads */
				uint64_t t;
				while (sub.p < sub.end && az_pb_varint(&sub, &t))
					x.threads++;
				continue;
			}
			if (sub.p)
				continue;
			int64_t i = v > INT32_MAX ? -1 : (int64_t)v;
			if (f == 1)
				x.pid = i;
			else if (f == 2)
				x.ppid = i;
			else if (f == 5)
				x.threads++;
		}
		if (fbad)
			return ai_err_set(err, 0, "entry %zu: malformed protobuf", n);
		if (x.pid < 0)
			return ai_err_set(err, 0, "entry %zu: no pid", n);
		if (each(ud, n, &x, err) < 0)
			return -1;
		n++;
	}
	if (bad)
		return ai_err_set(err, 0, "truncated entry after %zu processes", n);
	return 0;
}

/* thread_core_entry.creds (10): uid 1, gid 2, euid 3, egid 4, suid 5, sgid 6, fsuid 7, fsgid 8 */
static bool read_creds(struct az_pb *tc, struct az_criu_core *c)
{
	uint32_t tf;
	uint64_t tv;
	struct az_pb ts;
	bool tbad = false;
	while (az_pb_next(tc, &tf, &tv, &ts, &tbad)) {
		if (tf != 10 || !ts.p)
			continue;
		uint32_t cf;
		uint64_t cv;
		struct az_pb cs;
		bool cbad;
		for (int k = 0; k < 4; k++)
			c->uid[k] = c->gid[k] = -1;
		while (az_pb_next(&ts, &cf, &cv, &cs, &cbad))
			if (!cs.p && cf >= 1 && cf <= 8)
				((cf & 1) ? c->uid : c->gid)[(cf - 1) / 2] =
				    cv > UINT32_MAX ? -1 : (int64_t)cv;
		if (cbad)
			tbad = true;
		c->have_creds = true;
		break;
	}
	return !tbad;
}

/* task_core_entry: task_state 1, comm 6 */
static int read_tc(struct az_pb *tc, struct az_criu_core *c, bool *bad, ai_err_t *err)
{
	uint32_t tf;
	uint64_t tv;
	struct az_pb ts;
	bool tbad = false;
	while (az_pb_next(tc, &tf, &tv, &ts, &tbad)) {
		if (tf == 1 && !ts.p) {
			c->state = tv;
			c->have_state = true;
		} else if (tf == 6 && ts.p) {
			size_t l = (size_t)(ts.end - ts.p);
			if (l > 256 || memchr(ts.p, '\0', l))
				return ai_err_set(err, 0, "bad comm");
			c->comm = ts.p;
			c->comm_len = l;
		}
	}
	*bad = tbad;
	return 0;
}

/* core_entry: tc 3 (task_core_entry), thread_core 5 (thread_core_entry) */
int az_criu_core_read(const uint8_t *d, size_t len, struct az_criu_core *c, ai_err_t *err)
{
	memset(c, 0, sizeof(*c));
	for (int k = 0; k < 4; k++)
		c->uid[k] = c->gid[k] = -1;
	struct az_criu_img im;
	if (az_criu_open(&im, d, len, AZ_CRIU_CORE_MAGIC) < 0)
		return ai_err_set(err, 0, "not a CRIU core image (bad magic)");
	struct az_pb e;
	bool bad;
	if (!az_criu_next(&im, &e, &bad))
		return ai_err_set(err, 0, "no entry");
	uint32_t f;
	uint64_t v;
	struct az_pb sub;
	while (az_pb_next(&e, &f, &v, &sub, &bad)) {
		if (f == 5 && sub.p) {
			if (!read_creds(&sub, c)) {
				bad = true;
				break;
			}
			continue;
		}
		if (f != 3 || !sub.p)
			continue;
		bool tbad = false;
		if (read_tc(&sub, c, &tbad, err) < 0)
			return -1;
		if (tbad) {
			bad = true;
			break;
		}
	}
	if (bad)
		return ai_err_set(err, 0, "malformed protobuf");
	return 0;
}
