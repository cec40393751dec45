/* sockets.json -> model */
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "common/bundle.h"

static int sock_read_one(json_t *o, void *item, ai_err_t *err)
{
	struct az_sock *s = item;
	if (!json_is_object(o))
		return ai_err_set(err, 0, "not an object");
	az_j_fixed(o, "family", s->family, sizeof(s->family));
	az_j_fixed(o, "proto", s->proto, sizeof(s->proto));
	az_j_fixed(o, "type", s->type, sizeof(s->type));
	az_j_fixed(o, "state", s->state, sizeof(s->state));
	json_t *l = json_object_get(o, "local"), *r = json_object_get(o, "remote");
	if ((json_is_object(l) && az_j_str(l, "addr", &s->laddr, err) < 0) ||
	    (json_is_object(r) && az_j_str(r, "addr", &s->raddr, err) < 0) ||
	    az_j_str(o, "path", &s->path, err) < 0)
		return -1;
	s->lport = json_is_object(l) ? az_j_int(l, "port", -1) : -1;
	s->rport = json_is_object(r) ? az_j_int(r, "port", -1) : -1;
	s->abstract = az_j_bool(o, "abstract");
	s->inode = az_j_int(o, "inode", -1);
	s->uid = az_j_int(o, "uid", -1);
	s->rxq = az_j_int(o, "rx_queue", -1);
	s->txq = az_j_int(o, "tx_queue", -1);
	json_t *ow = json_object_get(o, "owners");
	if (json_is_array(ow) && json_array_size(ow)) {
		size_t n = json_array_size(ow);
		s->owners = calloc(n, sizeof(*s->owners));
		if (!s->owners)
			abort();
		for (size_t i = 0; i < n; i++) {
			json_t *x = json_array_get(ow, i);
			s->owners[i].pid = az_j_int(x, "pid", -1);
			s->owners[i].fd = az_j_int(x, "fd", -1);
		}
		s->nowners = n;
	}
	return 0;
}

static int sockets_other(void *ud, const char *key, json_t *v, ai_err_t *err)
{
	(void)err;
	struct az_model *m = ud;
	if (strcmp(key, "source"))
		return 0;
	json_t *o cleanup_json = json_object(); /* az_j_fixed's checks (printable, fits) on the lone member */
	if (!o || json_object_set(o, key, v) < 0)
		abort();
	az_j_fixed(o, key, m->sock_source, sizeof(m->sock_source));
	return 0;
}

int az_sockets_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	void *items;
	int rc = az_j_read_array_ex(doc, len, AI_M_SOCKETS, "sockets", sizeof(*m->socks), sock_read_one,
				    &items, &m->nsocks, sockets_other, m, &m->cuts, err);
	m->socks = items;
	return rc;
}
