/* The layer walk of an image (see image.h): a threaded pipeline per layer. */
#include "analyze/image.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "analyze/archive.h"
#include "common/cleanup.h"
#include "common/hash.h"
#include "common/safeopen.h"

/* ---- streaming one layer */

/* A layer's bytes come from a reader thread: it reads the blob (or the outer tar's member) in
 * 1 MiB blocks, hashes them and hands them to libarchive through a ring of buffers, so reading
 * and SHA-256 overlap with the tar parsing and attribution on the main thread. */
#define LAYER_BUFS 4
#define LAYER_BUF  (1u << 20)

struct layer_src {
	struct archive *outer; /* member data source, or NULL */
	int fd;		       /* blob file, or -1 */
	struct ai_hash h;
	uint64_t bytes;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf[LAYER_BUFS];
	ssize_t len[LAYER_BUFS]; /* > 0 data, 0 end, < 0 error */
	size_t head, filled;	 /* consumer's next buffer, buffers filled and not yet released */
	bool held;		 /* the consumer holds buf[head] (libarchive reads it) */
	bool stop, done;
	int read_errno;
	char errmsg[256];
};

static void *layer_reader(void *arg)
{
	struct layer_src *s = arg;
	size_t tail = 0;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->filled == LAYER_BUFS && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		bool stop = s->stop;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		ssize_t n;
		char *b = s->buf[tail];
		if (s->outer) {
			size_t got = 0;
			n = 0;
			while (got < LAYER_BUF &&
			       (n = archive_read_data(s->outer, b + got, LAYER_BUF - got)) > 0)
				got += (size_t)n;
			if (n < 0)
				snprintf(s->errmsg, sizeof(s->errmsg), "outer archive: %s",
					 archive_error_string(s->outer));
			else
				n = (ssize_t)got;
		} else {
			size_t got = 0;
			n = 0;
			while (got < LAYER_BUF) {
				n = read(s->fd, b + got, LAYER_BUF - got);
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				got += (size_t)n;
			}
			if (n < 0) {
				s->read_errno = errno;
				snprintf(s->errmsg, sizeof(s->errmsg), "read error: %s", strerror(errno));
			} else
				n = (ssize_t)got;
		}
		if (n > 0) {
			ai_hash_update(&s->h, b, (size_t)n);
			s->bytes += (uint64_t)n;
		}
		pthread_mutex_lock(&s->mu);
		s->len[tail] = n;
		s->filled++;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		tail = (tail + 1) % LAYER_BUFS;
		if (n <= 0)
			break;
	}
	return NULL;
}

static void layer_src_start(struct layer_src *s)
{
	s->head = s->filled = 0;
	s->held = s->stop = s->done = false;
	s->read_errno = 0;
	s->errmsg[0] = '\0';
	s->bytes = 0;
	if (pthread_create(&s->th, NULL, layer_reader, s) != 0)
		abort();
}

/* Stop the reader (it may be waiting for a free buffer) and join it. */
static void layer_src_stop(struct layer_src *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
}

static la_ssize_t layer_read(struct archive *a, void *ud, const void **out)
{
	struct layer_src *s = ud;
	pthread_mutex_lock(&s->mu);
	if (s->held) { /* libarchive is done with the previous block */
		s->held = false;
		s->head = (s->head + 1) % LAYER_BUFS;
		s->filled--;
		pthread_cond_broadcast(&s->cv);
	}
	if (s->done) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	while (s->filled == 0)
		pthread_cond_wait(&s->cv, &s->mu);
	ssize_t n = s->len[s->head];
	if (n > 0)
		s->held = true;
	else
		s->done = true; /* the end or an error: the reader has stopped; keep the slot */
	pthread_mutex_unlock(&s->mu);
	if (n < 0) {
		archive_set_error(a, s->read_errno ? s->read_errno : EIO, "%s", s->errmsg);
		return -1;
	}
	*out = s->buf[s->head];
	return n;
}

typedef int (*layer_entry_fn)(void *ud, size_t layer, struct archive *a, struct archive_entry *e,
			      ai_err_t *err);

static int walk_layer(struct az_image *img, size_t li, struct layer_src *src, layer_entry_fn fn, void *ud,
		      ai_err_t *err)
{
	const struct az_layer *L = &img->layers[li];
	if (ai_hash_init_sha256(&src->h, err) < 0)
		return -1;
	layer_src_start(src);
	struct archive *a cleanup_archive = archive_read_new();
	if (!a)
		abort();
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_xz(a);
	int rc = 0;
	if (archive_read_open(a, src, NULL, layer_read, NULL) != ARCHIVE_OK) {
		rc = ai_err_set(err, 0, "layer %zu (%s): %s", li + 1, L->digest, archive_error_string(a));
	} else {
		struct archive_entry *e;
		int r;
		size_t count = 0;
		while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
			if (++count > 50000000) {
				rc = ai_err_set(err, 0, "layer %zu: too many entries", li + 1);
				break;
			}
			if (fn(ud, li, a, e, err) < 0) {
				rc = ai_err_wrap(err, "layer %zu (%s)", li + 1, L->digest);
				break;
			}
		}
		if (rc == 0 && r != ARCHIVE_EOF)
			rc = ai_err_set(err, 0, "layer %zu (%s): %s", li + 1, L->digest,
					archive_error_string(a));
	}
	/* drain the blob so its digest covers every byte */
	const void *dummy;
	la_ssize_t dr = 0;
	while (rc == 0 && (dr = layer_read(a, src, &dummy)) > 0)
		;
	if (rc == 0 && dr < 0)
		rc = ai_err_set(err, 0, "layer %zu (%s): %s", li + 1, L->digest, archive_error_string(a));
	layer_src_stop(src);
	uint8_t md[32];
	char hex[65];
	ai_err_t e2;
	if (ai_hash_final(&src->h, md, &e2) < 0)
		return rc < 0 ? rc : ai_err_set(err, 0, "%s", e2.msg);
	if (rc < 0)
		return rc;
	ai_hex(md, 32, hex);
	if (strlen(L->digest) == 71 && strcmp(L->digest + 7, hex))
		return ai_err_set(err, 0, "layer %zu: blob %s does not match its digest %s (sha256 %s)",
				  li + 1, L->blob, L->digest, hex);
	return 0;
}

/* One layer, from its blob file or from its member of the outer tar (one pass over the outer tar per
 * layer: members may be in any order, skipping is a seek). */
static int walk_one(struct az_image *img, size_t li, struct layer_src *src, layer_entry_fn fn, void *ud,
		    ai_err_t *err)
{
	const struct az_layer *L = &img->layers[li];
	src->bytes = 0;
	if (img->kind == AZ_IMG_OCI_DIR) {
		cleanup_close int fd = ai_safe_openat(img->dirfd, L->blob, O_RDONLY | O_NONBLOCK, err);
		if (fd < 0)
			return ai_err_wrap(err, "image %s: layer %zu", img->ref, li + 1);
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			return ai_err_set(err, 0, "image %s: layer %zu: %s is not a regular file", img->ref,
					  li + 1, L->blob);
		src->fd = fd;
		src->outer = NULL;
		if (walk_layer(img, li, src, fn, ud, err) < 0)
			return ai_err_wrap(err, "image %s", img->ref);
		return 0;
	}
	struct az_fdsrc o;
	struct archive *a cleanup_archive = NULL;
	if (az_oci_outer_open(&a, &o, img->path, err) < 0)
		return -1;
	cleanup_close int ofd = o.fd; /* owned here: closed when the walk ends */
	(void)ofd;
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);
		if (!name)
			continue;
		while (!strncmp(name, "./", 2))
			name += 2;
		if (strcmp(name, L->blob) || archive_entry_filetype(e) != AE_IFREG)
			continue;
		src->fd = -1;
		src->outer = a;
		if (walk_layer(img, li, src, fn, ud, err) < 0)
			return ai_err_wrap(err, "image %s", img->ref);
		return 0;
	}
	return ai_err_set(err, 0, "image %s: layer %zu: no member %s", img->ref, li + 1, L->blob);
}

/* ---- parser workers and the hand-over to the caller
 *
 * libarchive's per-entry work (header checksum, pax parsing, a wide-char copy of every regular
 * file's name) and the layer's decompression cost as much as the attribution itself, and layers are
 * independent streams: up to one worker per CPU each takes the next layer, reads it (with its own
 * reader thread hashing the blob) and copies its entries into records, in 256 KiB chunks queued per
 * layer. The caller's thread takes the layers' records in layer order. Chunks are capped: a worker
 * ahead of the caller waits for free ones; the worker of the caller's layer never does, so the caller
 * always progresses. */
#define PIPE_CHUNK	(256u << 10)
#define PIPE_CAP	32 /* chunks in flight: 8 MiB */
#define PIPE_MAXWORKERS 8

enum { REC_SHA = 1, REC_HARDLINK = 2, REC_LINK = 4, REC_PATH = 8, REC_DATA = 16 };

struct rec {
	uint32_t size; /* of the record, header included, 8-aligned */
	uint32_t perm;
	uint16_t path_len, link_len;
	uint8_t type, flags;
	uint8_t pad[2];
	/* then: sha[32] when REC_SHA, path + NUL when REC_PATH, link + NUL when REC_LINK, a u32
	 * length and the content when REC_DATA */
};

struct chunk {
	struct chunk *next;
	size_t used;
	char data[PIPE_CHUNK];
};

struct layer_q {
	struct chunk *head, *tail; /* filled chunks, oldest first */
	bool done;		   /* the worker has finished the layer */
	int rc;
	ai_err_t err;
};

struct walk_pipe {
	struct az_image *img;
	const struct az_walk_ops *ops;
	void *ud;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct layer_q *q;
	size_t next_layer; /* the next layer a worker takes */
	size_t cur;	   /* the layer the caller reads */
	size_t live;	   /* chunks allocated */
	struct chunk *free_chunks;
	bool stop; /* the caller is done or failed, or a layer failed: take no more layers */
	atomic_bool cancel;
};

struct worker {
	struct walk_pipe *p;
	struct chunk *c; /* being filled */
	uint8_t *keep;	 /* a kept file's content, AZ_KEEP_MAX bytes, allocated when first needed */
	pthread_t th;
};

/* A chunk for the worker of layer li; NULL when the walk is cancelled. */
static struct chunk *chunk_get(struct walk_pipe *p, size_t li)
{
	pthread_mutex_lock(&p->mu);
	while (!atomic_load(&p->cancel) && p->live >= PIPE_CAP && li != p->cur)
		pthread_cond_wait(&p->cv, &p->mu);
	bool cancel = atomic_load(&p->cancel);
	struct chunk *c = NULL;
	if (!cancel) {
		p->live++;
		if ((c = p->free_chunks))
			p->free_chunks = c->next;
	}
	pthread_mutex_unlock(&p->mu);
	if (cancel)
		return NULL;
	if (!c && !(c = malloc(sizeof(*c))))
		abort();
	c->next = NULL;
	c->used = 0;
	return c;
}

static void chunk_put(struct walk_pipe *p, struct chunk *c)
{
	pthread_mutex_lock(&p->mu);
	c->next = p->free_chunks;
	p->free_chunks = c;
	p->live--;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Queue the worker's chunk on its layer. */
static void chunk_push(struct walk_pipe *p, size_t li, struct chunk *c)
{
	pthread_mutex_lock(&p->mu);
	struct layer_q *q = &p->q[li];
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static enum az_utype entry_type(struct archive_entry *e)
{
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return AZ_U_FILE;
	case AE_IFDIR:
		return AZ_U_DIR;
	case AE_IFLNK:
		return AZ_U_SYMLINK;
	case AE_IFIFO:
		return AZ_U_FIFO;
	case AE_IFSOCK:
		return AZ_U_SOCKET;
	case AE_IFCHR:
		return AZ_U_CHR;
	case AE_IFBLK:
		return AZ_U_BLK;
	default:
		return AZ_U_OTHER;
	}
}

/* keep: the content copied too, up to AZ_KEEP_MAX (*kept: its length, SIZE_MAX when larger). */
static int hash_data(struct archive *ar, uint8_t out[32], uint8_t *keep, size_t *kept, ai_err_t *err)
{
	struct ai_hash h;
	if (ai_hash_init_sha256(&h, err) < 0)
		return -1;
	if (kept)
		*kept = 0;
	const void *buf;
	size_t size;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(ar, &buf, &size, &off)) == ARCHIVE_OK) {
		ai_hash_update(&h, buf, size); /* sparse holes are not expected in layers */
		if (keep && *kept != SIZE_MAX) {
			if (*kept + size > AZ_KEEP_MAX)
				*kept = SIZE_MAX;
			else {
				memcpy(keep + *kept, buf, size);
				*kept += size;
			}
		}
	}
	if (r != ARCHIVE_EOF) {
		ai_hash_free(&h);
		return ai_err_set(err, 0, "entry data: %s", archive_error_string(ar));
	}
	return ai_hash_final(&h, out, err);
}

static int parse_entry(void *ud, size_t li, struct archive *ar, struct archive_entry *e, ai_err_t *err)
{
	struct worker *w = ud;
	struct walk_pipe *p = w->p;
	if (atomic_load_explicit(&p->cancel, memory_order_relaxed))
		return ai_err_set(err, ECANCELED, "cancelled");
	struct rec r = {.perm = (uint32_t)archive_entry_perm(e), .type = (uint8_t)entry_type(e)};
	const char *name = archive_entry_pathname(e);
	size_t len = name ? strlen(name) : 0;
	while (len && name[len - 1] == '/')
		len--;
	if (name && len <= AZ_MAX_PATH) {
		r.flags |= REC_PATH;
		r.path_len = (uint16_t)len;
	}
	const char *hl = archive_entry_hardlink(e);
	if (hl) {
		r.flags |= REC_HARDLINK;
		r.type = AZ_U_FILE;
	}
	const char *link = NULL;
	uint8_t sha[32];
	size_t kept = SIZE_MAX;
	if ((r.flags & REC_PATH) && (hl || r.type == AZ_U_FILE || r.type == AZ_U_SYMLINK) &&
	    p->ops->want(p->ud, name, len)) {
		if (hl)
			link = hl;
		else if (r.type == AZ_U_SYMLINK) {
			if (!(link = archive_entry_symlink(e)))
				link = "";
		} else {
			bool keep = p->ops->keep && p->ops->keep(p->ud, name, len);
			if (keep && !w->keep && !(w->keep = malloc(AZ_KEEP_MAX)))
				abort();
			if (hash_data(ar, sha, keep ? w->keep : NULL, keep ? &kept : NULL, err) < 0)
				return -1;
			r.flags |= REC_SHA;
			if (keep && kept != SIZE_MAX)
				r.flags |= REC_DATA;
		}
		size_t ll = link ? strlen(link) : SIZE_MAX;
		if (ll <= AZ_MAX_PATH) {
			r.flags |= REC_LINK;
			r.link_len = (uint16_t)ll;
		}
	}
	size_t need = sizeof(r) + ((r.flags & REC_SHA) ? 32 : 0) +
		      ((r.flags & REC_PATH) ? r.path_len + 1u : 0) +
		      ((r.flags & REC_LINK) ? r.link_len + 1u : 0) + ((r.flags & REC_DATA) ? 4 + kept : 0);
	need = (need + 7) & ~(size_t)7;
	r.size = (uint32_t)need;
	if (!w->c || w->c->used + need > PIPE_CHUNK) {
		if (w->c)
			chunk_push(p, li, w->c);
		if (!(w->c = chunk_get(p, li)))
			return ai_err_set(err, ECANCELED, "cancelled");
	}
	char *o = w->c->data + w->c->used;
	memcpy(o, &r, sizeof(r));
	o += sizeof(r);
	if (r.flags & REC_SHA) {
		memcpy(o, sha, 32);
		o += 32;
	}
	if (r.flags & REC_PATH) {
		memcpy(o, name, r.path_len);
		o[r.path_len] = '\0';
		o += r.path_len + 1;
	}
	if (r.flags & REC_LINK) {
		memcpy(o, link, r.link_len);
		o[r.link_len] = '\0';
		o += r.link_len + 1;
	}
	if (r.flags & REC_DATA) {
		uint32_t dl = (uint32_t)kept;
		memcpy(o, &dl, 4);
		memcpy(o + 4, w->keep, kept);
	}
	w->c->used += need;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct walk_pipe *p = w->p;
	cleanup_free struct layer_src *src = calloc(1, sizeof(*src));
	if (!src)
		abort();
	pthread_mutex_init(&src->mu, NULL);
	pthread_cond_init(&src->cv, NULL);
	for (int i = 0; i < LAYER_BUFS; i++)
		if (!(src->buf[i] = malloc(LAYER_BUF)))
			abort();
	pthread_mutex_lock(&p->mu);
	while (!p->stop && p->next_layer < p->img->nlayers) {
		size_t li = p->next_layer++;
		pthread_mutex_unlock(&p->mu);
		ai_err_t err = {0};
		w->c = NULL;
		int rc = walk_one(p->img, li, src, parse_entry, w, &err);
		if (w->c)
			chunk_push(p, li, w->c);
		w->c = NULL;
		pthread_mutex_lock(&p->mu);
		p->q[li].rc = rc;
		p->q[li].err = err;
		p->q[li].done = true;
		if (rc < 0)
			p->stop = true; /* the layers after it are of no use */
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < LAYER_BUFS; i++)
		free(src->buf[i]);
	free(w->keep);
	w->keep = NULL;
	pthread_mutex_destroy(&src->mu);
	pthread_cond_destroy(&src->cv);
	return NULL;
}

static int consume_chunk(struct walk_pipe *p, size_t li, const struct chunk *c, ai_err_t *err)
{
	for (size_t off = 0; off < c->used;) {
		struct rec r;
		memcpy(&r, c->data + off, sizeof(r));
		const char *q = c->data + off + sizeof(r);
		struct az_lentry e = {.perm = r.perm, .type = r.type, .hardlink = r.flags & REC_HARDLINK};
		if (r.flags & REC_SHA) {
			memcpy(e.sha, q, 32);
			e.have_sha = true;
			q += 32;
		}
		if (r.flags & REC_PATH) {
			e.path = q;
			e.path_len = r.path_len;
			q += r.path_len + 1;
		}
		if (r.flags & REC_LINK) {
			e.link = q;
			e.link_len = r.link_len;
			q += r.link_len + 1;
		}
		if (r.flags & REC_DATA) {
			uint32_t dl;
			memcpy(&dl, q, 4);
			e.data = (const uint8_t *)q + 4;
			e.data_len = dl;
		}
		if (p->ops->entry(p->ud, li, &e, err) < 0)
			return -1;
		off += r.size;
	}
	return 0;
}

/* The caller's side: every layer's records in order. */
static int consume(struct walk_pipe *p, ai_err_t *err)
{
	for (size_t li = 0; li < p->img->nlayers; li++) {
		pthread_mutex_lock(&p->mu);
		p->cur = li;
		pthread_cond_broadcast(&p->cv); /* its worker may be waiting for a chunk */
		for (;;) {
			struct layer_q *q = &p->q[li];
			while (!q->head && !q->done)
				pthread_cond_wait(&p->cv, &p->mu);
			struct chunk *c = q->head;
			if (!c)
				break;
			if (!(q->head = c->next))
				q->tail = NULL;
			pthread_mutex_unlock(&p->mu);
			int rc = consume_chunk(p, li, c, err);
			chunk_put(p, c);
			if (rc < 0)
				return -1;
			pthread_mutex_lock(&p->mu);
		}
		int rc = p->q[li].rc;
		if (rc < 0)
			*err = p->q[li].err;
		pthread_mutex_unlock(&p->mu);
		if (rc < 0)
			return -1;
		if (p->ops->done)
			p->ops->done(p->ud, li);
	}
	return 0;
}

int az_image_walk(struct az_image *img, const struct az_walk_ops *ops, void *ud, ai_err_t *err)
{
	struct walk_pipe p = {.img = img, .ops = ops, .ud = ud};
	if (!img->nlayers)
		return 0;
	if (!(p.q = calloc(img->nlayers, sizeof(*p.q))))
		abort();
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	atomic_init(&p.cancel, false);
	/* the CPUs this process may run on (taskset, cpusets), not the machine's */
	cpu_set_t set;
	int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
								: (int)sysconf(_SC_NPROCESSORS_ONLN);
	size_t nw = cpus < 1 ? 1 : (size_t)cpus;
	if (nw > PIPE_MAXWORKERS)
		nw = PIPE_MAXWORKERS;
	if (nw > img->nlayers)
		nw = img->nlayers;
	struct worker w[PIPE_MAXWORKERS];
	for (size_t i = 0; i < nw; i++) {
		w[i] = (struct worker){.p = &p};
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0)
			abort();
	}
	int rc = consume(&p, err);
	pthread_mutex_lock(&p.mu);
	p.stop = true;
	atomic_store(&p.cancel, true);
	pthread_cond_broadcast(&p.cv);
	pthread_mutex_unlock(&p.mu);
	for (size_t i = 0; i < nw; i++)
		pthread_join(w[i].th, NULL);
	for (size_t li = 0; li < img->nlayers; li++)
		for (struct chunk *c = p.q[li].head, *n; c; c = n) {
			n = c->next;
			free(c);
		}
	for (struct chunk *c = p.free_chunks, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(p.q);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return rc;
}
