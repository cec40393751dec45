/* sockets.json -> model */
#include <stdlib.h>
#include <string.h>
#include "analyze/util.h"
#include "common/bundle.h"

static int sock_read_one(json_t *o, struct az_sock *s, ai_err_t *err)
{
	if (!json_is_object(o))
		return ai_err_set(err, 0, "not an object");
	az_j_fixed(o, "family", s->family, sizeof(s->family));
	az_j_fixed(o, "proto", s->proto, sizeof(s->proto));
	az_j_fixed(o, "type", s->type, sizeof(s->type));
	az_j_fixed(o, "state", s->state, sizeof(s->state));
	json_t *l = json_object_get(o, "local"), *r = json_object_get(o, "remote");
	if ((json_is_object(l) && az_j_str(l, "addr", &s->laddr, err) < 0) ||
	    (json_is_object(r) && az_j_str(r, "addr", &s->raddr, err) < 0) || az_j_str(o, "path", &s->path, err) < 0)
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

int az_sockets_read(struct az_model *m, const char *doc, size_t len, ai_err_t *err)
{
	json_t *j cleanup_json = NULL;
	if (az_j_parse(doc, len, AI_M_SOCKETS, &j, err) < 0)
		return -1;
	json_t *arr = json_object_get(j, "sockets");
	if (!json_is_array(arr))
		return ai_err_set(err, 0, "%s: no \"sockets\" array", AI_M_SOCKETS);
	az_j_fixed(j, "source", m->sock_source, sizeof(m->sock_source));
	size_t n = json_array_size(arr);
	m->socks = calloc(n ? n : 1, sizeof(*m->socks));
	if (!m->socks)
		abort();
	for (size_t i = 0; i < n; i++) {
		m->nsocks = i + 1;
		if (sock_read_one(json_array_get(arr, i), &m->socks[i], err) < 0)
			return ai_err_wrap(err, "%s: sockets[%zu]", AI_M_SOCKETS, i);
	}
	return 0;
}
