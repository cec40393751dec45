#include "common/bundle.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/spool.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IOBUF (1u << 20)
/* Archive bytes go through a small ring to two worker threads: one hashes BLAKE2b-512 and
 * writes, the other hashes SHA-256. The two outer digests thus overlap with reading and member
 * hashing, and the capture keeps up with tar | tee | openssl on two cores. */
#define NSLOTS 4
#define SLOT   (1u << 20)

#define NWORKERS 2

/* A file's data extents beyond this many are stored as one (its holes read as zeros): the
 * sparse map stays small whatever the file looks like. */
#define SPARSE_MAX 4096
/* GNU tar reads every chunk of a sparse member but the last as whole 512-byte blocks, so every
 * extent is widened to block boundaries (a few zeros more, never less data). */
#define TAR_BLOCK 512ull

struct extent {
	uint64_t off, len;
};

struct slot {
	char *data;
	size_t len;
	bool full;
	bool done[NWORKERS];
	int pending;
};

struct ai_bundle;
struct worker {
	struct ai_bundle *b;
	int role; /* 0: BLAKE2b + write, 1: SHA-256 */
	size_t tail;
	pthread_t thread;
	bool started;
};

struct ai_bundle {
	struct archive *a;
	int outdir_fd;
	int fd;
	char *name;    /* NAME.tar */
	char *partial; /* NAME.tar.partial */
	bool sealed;
	bool io_failed;
	int io_errno;
	struct ai_hash blake; /* of the archive bytes, for NAME.tar.minisig */
	struct ai_hash sha;   /* of the archive bytes, printed and logged */
	struct worker workers[NWORKERS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[NSLOTS];
	size_t head; /* the producer fills slots[head]; each worker drains from its own tail */
	bool stop;
	/* The member list, spooled as it grows (memory stays bounded whatever the member count):
	 * the SHA256SUMS lines of every member, and the manifest's "members" array (mj writes it)
	 * of those added before the manifest. */
	struct ai_spool sums, members;
	struct ai_json mj;
	bool listed; /* the manifest is written: members are no longer listed in it */
	bool summed; /* SHA256SUMS is written: nothing more is recorded */
	const volatile sig_atomic_t *cancel;
	char *iobuf;
	struct timespec now;
	/* the output budget and the sparse data path */
	uint64_t budget;	/* 0: none */
	size_t nevidence;	/* evidence members added: each reserves its document lines */
	bool budget_hit;	/* the budget cut or refused a member */
	char *zeros;		/* IOBUF zero bytes: holes are hashed and handed over from here */
	struct extent *extents; /* SPARSE_MAX of them, for the member being added */
};

static void entry_freep(struct archive_entry **e)
{
	archive_entry_free(*e);
}
#define cleanup_entry __attribute__((cleanup(entry_freep)))

static int write_all(int fd, const char *p, size_t left)
{
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		left -= (size_t)n;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct ai_bundle *b = w->b;
	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct slot *s = &b->slots[w->tail];
		while (!(s->full && !s->done[w->role]) && !b->stop)
			pthread_cond_wait(&b->cv, &b->mu);
		if (!(s->full && !s->done[w->role]))
			break; /* stop requested and nothing left for us */
		pthread_mutex_unlock(&b->mu);
		bool failed = false;
		int e = 0;
		if (w->role == 1) {
			ai_hash_update(&b->sha, s->data, s->len);
		} else if (!b->io_failed) {
			ai_hash_update(&b->blake, s->data, s->len);
			if (write_all(b->fd, s->data, s->len) < 0) {
				e = errno;
				failed = true;
			}
		}
		pthread_mutex_lock(&b->mu);
		if (failed) {
			b->io_errno = e;
			b->io_failed = true;
		}
		s->done[w->role] = true;
		if (--s->pending == 0)
			s->full = false;
		w->tail = (w->tail + 1) % NSLOTS;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* Every byte of the archive passes here exactly once: both outer digests are computed as it is
 * written (by the writer thread), so the bundle is never read back. */
static la_ssize_t out_write(struct archive *a, void *data, const void *buf, size_t len)
{
	struct ai_bundle *b = data;
	const char *p = buf;
	size_t left = len;
	pthread_mutex_lock(&b->mu);
	/* An interrupted capture stops here, within a block of the archive: the .partial is then
	 * removed by ai_bundle_free. */
	if (b->cancel && *b->cancel && !b->io_failed) {
		b->io_failed = true;
		b->io_errno = ECANCELED;
	}
	while (left && !b->io_failed) {
		while (b->slots[b->head].full && !b->io_failed)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->io_failed)
			break;
		struct slot *s = &b->slots[b->head];
		size_t n = left < SLOT ? left : SLOT;
		pthread_mutex_unlock(&b->mu);
		memcpy(s->data, p, n);
		pthread_mutex_lock(&b->mu);
		s->len = n;
		for (int i = 0; i < NWORKERS; i++)
			s->done[i] = false;
		s->pending = NWORKERS;
		s->full = true;
		b->head = (b->head + 1) % NSLOTS;
		pthread_cond_broadcast(&b->cv);
		p += n;
		left -= n;
	}
	bool failed = b->io_failed;
	pthread_mutex_unlock(&b->mu);
	if (failed) {
		archive_set_error(a, b->io_errno, "write bundle");
		return -1;
	}
	return (la_ssize_t)len;
}

/* Wait until the workers have hashed and written everything handed to them, then stop them. */
static int writer_finish(struct ai_bundle *b)
{
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	for (int i = 0; i < NWORKERS; i++)
		if (b->workers[i].started) {
			pthread_join(b->workers[i].thread, NULL);
			b->workers[i].started = false;
		}
	return b->io_failed ? -1 : 0;
}

int ai_bundle_create(struct ai_bundle **out, int outdir_fd, const char *name, ai_err_t *err)
{
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return ai_err_set(err, EINVAL, "bundle name '%s' must be a plain file name", name);
	struct ai_bundle *b = calloc(1, sizeof(*b));
	if (!b)
		return ai_err_set(err, ENOMEM, "bundle");
	b->fd = -1;
	b->outdir_fd = outdir_fd;
	ai_spool_init(&b->sums, outdir_fd);
	ai_spool_init(&b->members, outdir_fd);
	ai_json_init(&b->mj, &b->members.buf);
	ai_json_arr_begin(&b->mj);
	clock_gettime(CLOCK_REALTIME, &b->now);
	if (asprintf(&b->name, "%s.tar", name) < 0 || asprintf(&b->partial, "%s.tar.partial", name) < 0) {
		ai_bundle_free(b);
		return ai_err_set(err, ENOMEM, "bundle");
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->iobuf = malloc(IOBUF);
	b->zeros = calloc(1, IOBUF);
	b->extents = malloc(SPARSE_MAX * sizeof(*b->extents));
	for (int i = 0; i < NSLOTS; i++)
		if (!(b->slots[i].data = malloc(SLOT))) {
			ai_bundle_free(b);
			return ai_err_set(err, ENOMEM, "bundle");
		}
	if (!b->iobuf || !b->zeros || !b->extents || ai_hash_init_blake2b(&b->blake, err) < 0 ||
	    ai_hash_init_sha256(&b->sha, err) < 0) {
		ai_bundle_free(b);
		return ai_err_set(err, ENOMEM, "bundle");
	}
	/* Refuse to overwrite a sealed bundle of the same name. */
	if (faccessat(outdir_fd, b->name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		int r = ai_err_set(err, EEXIST, "bundle %s", b->name);
		ai_bundle_free(b);
		return r;
	}
	b->fd = openat(outdir_fd, b->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (b->fd < 0) {
		int r = errno == EEXIST
			    ? ai_err_set(err, EEXIST,
					 "%s exists: left by an interrupted capture, it is never reused "
					 "(choose another name, or remove it once examined)",
					 b->partial)
			    : ai_err_set(err, errno, "create %s", b->partial);
		free(b->partial);
		b->partial = NULL; /* not ours: never unlink it */
		ai_bundle_free(b);
		return r;
	}
	for (int i = 0; i < NWORKERS; i++) {
		struct worker *w = &b->workers[i];
		w->b = b;
		w->role = i;
		int pe = pthread_create(&w->thread, NULL, worker_main, w);
		if (pe != 0) {
			int r = ai_err_set(err, pe, "writer thread");
			ai_bundle_free(b);
			return r;
		}
		w->started = true;
	}
	b->a = archive_write_new();
	if (!b->a || archive_write_set_format_pax(b->a) != ARCHIVE_OK ||
	    archive_write_set_format_option(b->a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(b->a, SLOT) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(b->a, 1) != ARCHIVE_OK ||
	    archive_write_open2(b->a, b, NULL, out_write, NULL, NULL) != ARCHIVE_OK) {
		int r = ai_err_set(err, 0, "libarchive: %s", b->a ? archive_error_string(b->a) : "no memory");
		ai_bundle_free(b);
		return r;
	}
	*out = b;
	return 0;
}

/* One member into the list: its SHA256SUMS line and, until the manifest, its manifest entry. */
static int record(struct ai_bundle *b, const char *path, size_t len, uint64_t size, const char *sha,
		  ai_err_t *err)
{
	if (b->summed)
		return 0;
	struct ai_buf *sums = &b->sums.buf;
	/* sha256sum's format: a name with a backslash or a newline is escaped, and its line then
	 * starts with a backslash */
	if (memchr(path, '\\', len) || memchr(path, '\n', len))
		ai_buf_addc(sums, '\\');
	ai_buf_adds(sums, sha);
	ai_buf_adds(sums, "  ");
	ai_sums_escape(path, len, sums);
	ai_buf_addc(sums, '\n');
	ai_spool_drain(&b->sums);
	if (!b->listed) {
		ai_json_obj_begin(&b->mj);
		ai_json_kbytes(&b->mj, "path", path, len);
		ai_json_kuint(&b->mj, "size", size);
		ai_json_kstr(&b->mj, "sha256", sha);
		ai_json_obj_end(&b->mj);
		ai_spool_drain(&b->members);
	}
	return 0;
}

/* Member names never start with '/' and never hold a ".." component: the bundle must be safe
 * to extract with any tar. */
static bool name_ok(const char *p, size_t len)
{
	if (len == 0 || p[0] == '/' || memchr(p, '\0', len))
		return false;
	size_t s = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || p[i] == '/') {
			if (i - s == 2 && p[s] == '.' && p[s + 1] == '.')
				return false;
			s = i + 1;
		}
	}
	return true;
}

static struct archive_entry *make_entry(struct ai_bundle *b, const struct ai_member_meta *meta, ai_err_t *err)
{
	if (!name_ok(meta->path, meta->path_len)) {
		ai_err_set(err, EINVAL, "refusing member name");
		return NULL;
	}
	struct archive_entry *e = archive_entry_new();
	if (!e) {
		ai_err_set(err, ENOMEM, "archive entry");
		return NULL;
	}
	/* The pathname is bytes; copy_pathname takes a C string, and names never hold NUL. */
	char *tmp = strndup(meta->path, meta->path_len);
	if (!tmp) {
		archive_entry_free(e);
		ai_err_set(err, ENOMEM, "archive entry");
		return NULL;
	}
	archive_entry_copy_pathname(e, tmp);
	free(tmp);
	archive_entry_set_mode(e, meta->mode);
	archive_entry_set_uid(e, meta->uid);
	archive_entry_set_gid(e, meta->gid);
	archive_entry_set_mtime(e, meta->mtime.tv_sec, meta->mtime.tv_nsec);
	archive_entry_set_atime(e, meta->atime.tv_sec, meta->atime.tv_nsec);
	archive_entry_set_ctime(e, meta->ctime.tv_sec, meta->ctime.tv_nsec);
	for (size_t i = 0; i < meta->nxattr; i++)
		archive_entry_xattr_add_entry(e, meta->xattr_names[i], meta->xattr_values[i],
					      meta->xattr_sizes[i]);
	if (S_ISLNK(meta->mode) && meta->symlink)
		archive_entry_copy_symlink(e, meta->symlink);
	if (meta->hardlink)
		archive_entry_copy_hardlink(e, meta->hardlink);
	return e;
}

static int header(struct ai_bundle *b, struct archive_entry *e, ai_err_t *err)
{
	int r = archive_write_header(b->a, e);
	if (r == ARCHIVE_WARN)
		return 0;
	if (r != ARCHIVE_OK)
		return ai_err_set(err, b->io_failed ? b->io_errno : 0, "archive header: %s",
				  archive_error_string(b->a));
	return 0;
}

static int data(struct ai_bundle *b, const void *buf, size_t len, ai_err_t *err)
{
	while (len) {
		la_ssize_t n = archive_write_data(b->a, buf, len);
		if (n <= 0)
			return ai_err_set(err, b->io_failed ? b->io_errno : 0, "archive data: %s",
					  archive_error_string(b->a));
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

int ai_bundle_add_mem(struct ai_bundle *b, const char *path, const void *buf, size_t len, ai_err_t *err)
{
	struct ai_member_meta meta = {
	    .path = path,
	    .path_len = strlen(path),
	    .mode = S_IFREG | 0444,
	    .atime = b->now,
	    .mtime = b->now,
	    .ctime = b->now,
	};
	cleanup_entry struct archive_entry *e = make_entry(b, &meta, err);
	if (!e)
		return ai_err_wrap(err, "%s", path);
	archive_entry_set_size(e, (la_int64_t)len);
	char sha[AI_SHA256_HEXLEN];
	if (ai_sha256_hex(buf, len, sha, err) < 0 || header(b, e, err) < 0 || data(b, buf, len, err) < 0)
		return ai_err_wrap(err, "%s", path);
	return record(b, path, meta.path_len, len, sha, err);
}

void ai_bundle_set_budget(struct ai_bundle *b, uint64_t bytes)
{
	b->budget = bytes;
}

bool ai_bundle_budget_exhausted(const struct ai_bundle *b)
{
	return b->budget_hit;
}

uint64_t ai_bundle_bytes(const struct ai_bundle *b)
{
	/* the first filter counts what the format handed it, before the blocking buffer */
	return b->a ? (uint64_t)archive_filter_bytes(b->a, 0) : 0;
}

/* Room the budget leaves for the content of the next evidence member, after its header and its
 * lines in the documents; -1 when not even those fit. UINT64_MAX without a budget. */
static int64_t budget_room(struct ai_bundle *b, const struct ai_member_meta *m, size_t nextents)
{
	if (!b->budget)
		return INT64_MAX;
	/* An over-estimate of the pax and ustar headers: the path (in the pax header, the ustar
	 * name and, for a sparse member, GNU.sparse.name), link targets, xattrs in base64, times,
	 * the sparse attributes and map, block padding. */
	uint64_t hdr = 4 * TAR_BLOCK + 3 * (uint64_t)m->path_len;
	if (m->symlink)
		hdr += 2 * strlen(m->symlink);
	if (m->hardlink)
		hdr += 2 * strlen(m->hardlink);
	for (size_t i = 0; i < m->nxattr; i++)
		hdr += 64 + 2 * strlen(m->xattr_names[i]) + (m->xattr_sizes[i] + 2) / 3 * 4;
	if (nextents)
		hdr += 256 + 48 * (uint64_t)nextents + TAR_BLOCK;
	uint64_t used = ai_bundle_bytes(b) + (b->nevidence + 1) * AI_BUNDLE_MEMBER_RESERVE + hdr;
	if (used > b->budget)
		return -1;
	uint64_t room = b->budget - used;
	return room > INT64_MAX ? INT64_MAX : (int64_t)room;
}

static int over_budget(struct ai_bundle *b, ai_err_t *err)
{
	b->budget_hit = true;
	ai_err_set(err, EDQUOT, "output budget of %llu bytes reached: not stored",
		   (unsigned long long)b->budget);
	return AI_BUNDLE_OVER_BUDGET;
}

/* Readers that go through archive_read_data (the analyzer, most libarchive users) get a sparse
 * member's bytes up to the end of its last data block only: a trailing hole would be lost to
 * them. So the last block is always data (at most a block of zeros stored, read like any data). */
static void keep_tail(struct ai_bundle *b, size_t *n, uint64_t want)
{
	struct extent *x = b->extents;
	if (!want || (*n && x[*n - 1].off + x[*n - 1].len >= want))
		return;
	uint64_t s = (want - 1) & ~(TAR_BLOCK - 1);
	if (*n && (x[*n - 1].off + x[*n - 1].len >= s || *n == SPARSE_MAX))
		x[*n - 1].len = want - x[*n - 1].off;
	else
		x[(*n)++] = (struct extent){s, want - s};
}

/* The data extents of [0, want) into b->extents, widened to tar blocks and merged; the count.
 * *holes says they leave some of [0, want) out. A filesystem that cannot tell (an lseek error
 * other than ENXIO) gives one extent, the whole range: correct, only not sparse. */
static size_t map_extents(struct ai_bundle *b, int fd, uint64_t want, bool *holes)
{
	struct extent *x = b->extents;
	size_t n = 0;
	uint64_t pos = 0;
	*holes = false;
	if (!want)
		return 0;
	while (pos < want) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break; /* nothing but a hole from pos on */
		off_t h = d < 0 ? -1 : lseek(fd, d, SEEK_HOLE);
		if (d < 0 || h < 0 || h <= d) {
			x[0] = (struct extent){0, want};
			return 1;
		}
		if ((uint64_t)d >= want)
			break;
		uint64_t s = (uint64_t)d & ~(TAR_BLOCK - 1), e = (uint64_t)h;
		e = (e + TAR_BLOCK - 1) & ~(TAR_BLOCK - 1);
		if (e > want)
			e = want;
		if (n && s <= x[n - 1].off + x[n - 1].len) {
			x[n - 1].len = e - x[n - 1].off;
		} else if (n == SPARSE_MAX) {
			x[n - 1].len = want - x[n - 1].off; /* the rest as one extent */
			break;
		} else {
			x[n++] = (struct extent){s, e - s};
		}
		pos = e;
	}
	keep_tail(b, &n, want);
	*holes = !(n == 1 && x[0].off == 0 && x[0].len == want);
	return n;
}

/* Keep the extents whose content fits in room bytes (the one that crosses it cut at a block);
 * the new logical end. */
static uint64_t cut_extents(struct ai_bundle *b, size_t *n, uint64_t room)
{
	struct extent *x = b->extents;
	uint64_t used = 0;
	for (size_t i = 0; i < *n; i++) {
		if (used + x[i].len <= room) {
			used += x[i].len;
			continue;
		}
		uint64_t part = (room - used) & ~(TAR_BLOCK - 1);
		x[i].len = part;
		*n = part ? i + 1 : i;
		return x[i].off + part;
	}
	return *n ? x[*n - 1].off + x[*n - 1].len : 0;
}

/* len zero bytes of logical content: hashed, and handed to libarchive, which skips them in a
 * sparse member (they are a hole) and stores them otherwise (padding after a short read). */
static int zeros(struct ai_bundle *b, struct ai_hash *h, uint64_t len, ai_err_t *err)
{
	while (len) {
		size_t chunk = len < IOBUF ? (size_t)len : IOBUF;
		ai_hash_update(h, b->zeros, chunk);
		if (data(b, b->zeros, chunk, err) < 0)
			return -1;
		len -= chunk;
	}
	return 0;
}

/* One extent, read with pread; a short read (the source shrank, or failed) is zero padded. */
static int copy_extent(struct ai_bundle *b, int fd, struct ai_hash *h, const struct extent *x,
		       uint64_t *short_at, int *read_errno, ai_err_t *err)
{
	uint64_t done = 0;
	while (done < x->len) {
		size_t chunk = x->len - done < IOBUF ? (size_t)(x->len - done) : IOBUF;
		ssize_t n = pread(fd, b->iobuf, chunk, (off_t)(x->off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (*short_at == UINT64_MAX) {
				*short_at = x->off + done;
				*read_errno = n < 0 ? errno : 0;
			}
			return zeros(b, h, x->len - done, err);
		}
		ai_hash_update(h, b->iobuf, (size_t)n);
		if (data(b, b->iobuf, (size_t)n, err) < 0)
			return -1;
		done += (uint64_t)n;
	}
	return 0;
}

int ai_bundle_add_fd(struct ai_bundle *b, const struct ai_member_meta *meta, int fd, uint64_t cap,
		     struct ai_member_result *res, ai_err_t *err)
{
	memset(res, 0, sizeof(*res));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ai_err_set(err, errno, "fstat");
	if (!S_ISREG(st.st_mode))
		return ai_err_set(err, 0, "not a regular file");
	uint64_t want = (uint64_t)st.st_size;
	res->source_size = want;
	if (cap && want > cap) {
		want = cap;
		res->truncated = res->capped = true;
	}
	bool holes;
	size_t n = map_extents(b, fd, want, &holes);
	if (!holes)
		n = want ? 1 : 0; /* a plain member: one extent, no map */
	int64_t room = budget_room(b, meta, holes ? n : 0);
	if (room < 0) {
		res->budget_cut = true;
		return over_budget(b, err);
	}
	uint64_t content = 0;
	for (size_t i = 0; i < n; i++)
		content += b->extents[i].len;
	if (content > (uint64_t)room) {
		want = cut_extents(b, &n, (uint64_t)room);
		res->truncated = res->budget_cut = true;
		b->budget_hit = true;
		if (holes)
			keep_tail(b, &n, want);
		else
			n = want ? 1 : 0;
		holes = holes && want;
	}
	struct ai_member_meta m = *meta;
	m.mode = S_IFREG | (meta->mode & 07777);
	m.hardlink = NULL;
	cleanup_entry struct archive_entry *e = make_entry(b, &m, err);
	if (!e)
		return -1;
	archive_entry_set_size(e, (la_int64_t)want);
	if (holes) {
		for (size_t i = 0; i < n; i++)
			archive_entry_sparse_add_entry(e, (la_int64_t)b->extents[i].off,
						       (la_int64_t)b->extents[i].len);
	}
	if (header(b, e, err) < 0)
		return -1;
	b->nevidence++;
	/* The header promised `want` bytes, so from here on the member is always completed: a read
	 * error or a shrinking source is padded with zeros and reported, never a torn archive. */
	struct ai_hash h;
	if (ai_hash_init_sha256(&h, err) < 0)
		return -1;
	uint64_t pos = 0, short_at = UINT64_MAX;
	int read_errno = 0;
	for (size_t i = 0; i < n; i++) {
		const struct extent *x = holes ? &b->extents[i] : &(struct extent){0, want};
		if (zeros(b, &h, x->off - pos, err) < 0 ||
		    copy_extent(b, fd, &h, x, &short_at, &read_errno, err) < 0) {
			ai_hash_free(&h);
			return -1;
		}
		res->data_bytes += x->len;
		pos = x->off + x->len;
	}
	if (zeros(b, &h, want - pos, err) < 0) {
		ai_hash_free(&h);
		return -1;
	}
	res->sparse = holes;
	res->short_read = short_at != UINT64_MAX;
	if (!res->short_read && holes && fstat(fd, &st) == 0 && (uint64_t)st.st_size < want) {
		/* shrank over a hole that was never read: what is stored is still zeros */
		res->short_read = true;
		short_at = (uint64_t)st.st_size;
	}
	if (!res->short_read && !res->truncated) {
		/* One more byte tells whether the file grew while it was read. */
		char extra;
		ssize_t r;
		do
			r = pread(fd, &extra, 1, (off_t)want);
		while (r < 0 && errno == EINTR);
		if (r == 1)
			res->truncated = res->grew = true;
	}
	uint8_t md[AI_SHA256_LEN];
	if (ai_hash_final(&h, md, err) < 0)
		return -1;
	ai_hex(md, sizeof(md), res->sha256);
	res->size = want;
	if (record(b, meta->path, meta->path_len, want, res->sha256, err) < 0)
		return -1;
	if (res->short_read)
		return ai_err_set(err, read_errno,
				  "source shrank or failed after %llu of %llu bytes (zero padded)",
				  (unsigned long long)short_at, (unsigned long long)want);
	return 0;
}

int ai_bundle_add_entry(struct ai_bundle *b, const struct ai_member_meta *meta, ai_err_t *err)
{
	if (budget_room(b, meta, 0) < 0)
		return over_budget(b, err);
	cleanup_entry struct archive_entry *e = make_entry(b, meta, err);
	if (!e)
		return -1;
	archive_entry_set_size(e, 0);
	if (header(b, e, err) < 0)
		return -1;
	b->nevidence++;
	static const char empty_sha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	if (meta->hardlink)
		return meta->hardlink_sha256 ? record(b, meta->path, meta->path_len, meta->hardlink_size,
						      meta->hardlink_sha256, err)
					     : 0;
	if (S_ISREG(meta->mode))
		return record(b, meta->path, meta->path_len, 0, empty_sha, err);
	return 0;
}

uint64_t ai_bundle_stream_room(struct ai_bundle *b, size_t path_len)
{
	struct ai_member_meta m = {.path_len = path_len};
	int64_t room = budget_room(b, &m, 0);
	if (room < 0)
		return 0;
	return room == INT64_MAX ? UINT64_MAX : (uint64_t)room;
}

int ai_bundle_stream_begin(struct ai_bundle *b, const struct ai_member_meta *meta, uint64_t size,
			   struct ai_bundle_stream *s, ai_err_t *err)
{
	memset(s, 0, sizeof(*s));
	if (b->budget && size > ai_bundle_stream_room(b, meta->path_len))
		return over_budget(b, err);
	struct ai_member_meta m = *meta;
	m.mode = S_IFREG | (meta->mode & 07777);
	m.hardlink = NULL;
	cleanup_entry struct archive_entry *e = make_entry(b, &m, err);
	if (!e)
		return -1;
	archive_entry_set_size(e, (la_int64_t)size);
	s->path = strndup(meta->path, meta->path_len);
	if (!s->path)
		return ai_err_set(err, ENOMEM, "member name");
	if (ai_hash_init_sha256(&s->h, err) < 0 || header(b, e, err) < 0) {
		ai_hash_free(&s->h);
		free(s->path);
		s->path = NULL;
		return -1;
	}
	b->nevidence++;
	s->b = b;
	s->size = size;
	s->path_len = meta->path_len;
	return 0;
}

int ai_bundle_stream_write(struct ai_bundle_stream *s, const void *buf, size_t len, ai_err_t *err)
{
	if (len > s->size - s->done)
		return ai_err_set(err, EOVERFLOW, "%s: more than the %llu bytes announced", s->path,
				  (unsigned long long)s->size);
	ai_hash_update(&s->h, buf, len);
	if (data(s->b, buf, len, err) < 0)
		return -1;
	s->done += len;
	return 0;
}

int ai_bundle_stream_zeros(struct ai_bundle_stream *s, uint64_t len, ai_err_t *err)
{
	if (len > s->size - s->done)
		return ai_err_set(err, EOVERFLOW, "%s: more than the %llu bytes announced", s->path,
				  (unsigned long long)s->size);
	if (zeros(s->b, &s->h, len, err) < 0)
		return -1;
	s->done += len;
	return 0;
}

int ai_bundle_stream_end(struct ai_bundle_stream *s, char sha256[AI_SHA256_HEXLEN], ai_err_t *err)
{
	if (!s->b)
		return ai_err_set(err, EINVAL, "no member open");
	uint64_t short_by = s->size - s->done;
	int r = 0;
	if (short_by && zeros(s->b, &s->h, short_by, err) < 0)
		r = -1;
	uint8_t md[AI_SHA256_LEN];
	if (r == 0 && ai_hash_final(&s->h, md, err) < 0)
		r = -1;
	else if (r < 0)
		ai_hash_free(&s->h);
	if (r == 0) {
		ai_hex(md, sizeof(md), sha256);
		r = record(s->b, s->path, s->path_len, s->size, sha256, err);
	}
	if (r == 0 && short_by)
		r = ai_err_set(err, 0, "%s: %llu bytes short, zero padded", s->path,
			       (unsigned long long)short_by);
	free(s->path);
	memset(s, 0, sizeof(*s));
	return r;
}

void ai_bundle_set_cancel(struct ai_bundle *b, const volatile sig_atomic_t *flag)
{
	b->cancel = flag;
}

bool ai_sums_escape(const char *name, size_t len, struct ai_buf *out)
{
	bool need = memchr(name, '\\', len) || memchr(name, '\n', len);
	if (!need) {
		ai_buf_add(out, name, len);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '\\')
			ai_buf_adds(out, "\\\\");
		else if (name[i] == '\n')
			ai_buf_adds(out, "\\n");
		else
			ai_buf_addc(out, name[i]);
	}
	return true;
}

static int write_file_at(int dirfd, const char *name, const void *buf, size_t len, ai_err_t *err)
{
	cleanup_close int fd =
	    openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return ai_err_set(err, errno, "create %s", name);
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ai_err_set(err, errno, "write %s", name);
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		return ai_err_set(err, errno, "fsync %s", name);
	return 0;
}

/* One piece of a streamed member: bytes in memory, or a whole spool. */
struct piece {
	const char *mem;
	size_t len;
	const struct ai_spool *spool;
};

/* A document member streamed from pieces, hashed as written (and through also, when given):
 * the member list and the index never need to be whole in memory. Same header as add_mem. */
static int add_pieces(struct ai_bundle *b, const char *path, const struct piece *pc, size_t n,
		      struct ai_hash *also, ai_err_t *err)
{
	struct ai_member_meta meta = {
	    .path = path,
	    .path_len = strlen(path),
	    .mode = S_IFREG | 0444,
	    .atime = b->now,
	    .mtime = b->now,
	    .ctime = b->now,
	};
	uint64_t size = 0;
	for (size_t i = 0; i < n; i++) {
		if (pc[i].spool && ai_spool_check(pc[i].spool, path, err) < 0)
			return -1;
		size += pc[i].spool ? ai_spool_size(pc[i].spool) : pc[i].len;
	}
	cleanup_entry struct archive_entry *e = make_entry(b, &meta, err);
	if (!e)
		return ai_err_wrap(err, "%s", path);
	archive_entry_set_size(e, (la_int64_t)size);
	struct ai_hash h;
	if (ai_hash_init_sha256(&h, err) < 0)
		return -1;
	if (header(b, e, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (!pc[i].spool) {
			ai_hash_update(&h, pc[i].mem, pc[i].len);
			if (also)
				ai_hash_update(also, pc[i].mem, pc[i].len);
			if (data(b, pc[i].mem, pc[i].len, err) < 0)
				goto fail;
			continue;
		}
		for (uint64_t off = 0;;) {
			size_t got;
			if (ai_spool_read(pc[i].spool, off, b->iobuf, IOBUF, &got, err) < 0)
				goto fail;
			if (!got)
				break;
			ai_hash_update(&h, b->iobuf, got);
			if (also)
				ai_hash_update(also, b->iobuf, got);
			if (data(b, b->iobuf, got, err) < 0)
				goto fail;
			off += got;
		}
	}
	uint8_t md[AI_SHA256_LEN];
	char sha[AI_SHA256_HEXLEN];
	if (ai_hash_final(&h, md, err) < 0)
		return ai_err_wrap(err, "%s", path);
	ai_hex(md, sizeof(md), sha);
	return record(b, path, meta.path_len, size, sha, err);
fail:
	ai_hash_free(&h);
	return ai_err_wrap(err, "%s", path);
}

int ai_bundle_add_spool(struct ai_bundle *b, const char *path, const struct ai_spool *spool, ai_err_t *err)
{
	struct piece pc = {.spool = spool};
	return add_pieces(b, path, &pc, 1, NULL, err);
}

int ai_bundle_seal(struct ai_bundle *b, EVP_PKEY *key, const char *manifest_head, size_t head_len,
		   const char *trusted_comment, char archive_sha256[AI_SHA256_HEXLEN], ai_err_t *err)
{
	/* The manifest lists every member added so far, not itself nor what follows it. */
	ai_json_arr_end(&b->mj);
	b->listed = true;
	const struct piece manifest[] = {
	    {.mem = manifest_head, .len = head_len},
	    {.spool = &b->members},
	    {.mem = "}\n", .len = 2},
	};
	if (add_pieces(b, AI_M_MANIFEST, manifest, 3, NULL, err) < 0)
		return -1;
	ai_spool_free(&b->members);

	/* SHA256SUMS: every member but itself and its signature, BLAKE2b-hashed for that signature
	 * in the same pass. */
	b->summed = true;
	uint8_t md[AI_BLAKE2B_LEN];
	struct ai_hash h;
	if (ai_hash_init_blake2b(&h, err) < 0)
		return -1;
	const struct piece sums = {.spool = &b->sums};
	if (add_pieces(b, AI_M_SUMS, &sums, 1, &h, err) < 0) {
		ai_hash_free(&h);
		return -1;
	}
	if (ai_hash_final(&h, md, err) < 0)
		return -1;
	ai_spool_free(&b->sums);
	cleanup_buf struct ai_buf sig;
	ai_buf_init(&sig);
	if (ai_minisign_sign(key, md, "afterimage SHA256SUMS signature", trusted_comment, &sig, err) < 0)
		return -1;
	if (ai_bundle_add_mem(b, AI_M_SUMS_SIG, sig.data, sig.len, err) < 0)
		return -1;

	if (archive_write_close(b->a) != ARCHIVE_OK)
		return ai_err_set(err, b->io_failed ? b->io_errno : 0, "close archive: %s",
				  archive_error_string(b->a));
	archive_write_free(b->a);
	b->a = NULL;
	if (writer_finish(b) < 0)
		return ai_err_set(err, b->io_errno, "write %s", b->partial);
	if (fsync(b->fd) < 0)
		return ai_err_set(err, errno, "fsync %s", b->partial);

	uint8_t sha[AI_SHA256_LEN];
	if (ai_hash_final(&b->blake, md, err) < 0 || ai_hash_final(&b->sha, sha, err) < 0)
		return -1;
	ai_hex(sha, sizeof(sha), archive_sha256);

	ai_buf_reset(&sig);
	if (ai_minisign_sign(key, md, "afterimage bundle signature", trusted_comment, &sig, err) < 0)
		return -1;
	cleanup_free char *sig_name = NULL, *sig_partial = NULL;
	if (asprintf(&sig_name, "%s.minisig", b->name) < 0 ||
	    asprintf(&sig_partial, "%s.minisig.partial", b->name) < 0)
		return ai_err_set(err, ENOMEM, "seal");
	if (write_file_at(b->outdir_fd, sig_partial, sig.data, sig.len, err) < 0) {
		if (err->errnum != EEXIST) /* one that was there is not ours to remove */
			unlinkat(b->outdir_fd, sig_partial, 0);
		return -1;
	}
	/* The signature lands first, the archive last: a NAME.tar that exists is always sealed. */
	if (renameat(b->outdir_fd, sig_partial, b->outdir_fd, sig_name) < 0) {
		int e = errno;
		unlinkat(b->outdir_fd, sig_partial, 0);
		return ai_err_set(err, e, "rename %s", sig_partial);
	}
	if (renameat2(b->outdir_fd, b->partial, b->outdir_fd, b->name, RENAME_NOREPLACE) < 0)
		return ai_err_set(err, errno, "rename %s", b->partial);
	fsync(b->outdir_fd);
	b->sealed = true;
	return 0;
}

void ai_bundle_free(struct ai_bundle *b)
{
	if (!b)
		return;
	if (b->a)
		archive_write_free(b->a);
	writer_finish(b);
	for (int i = 0; i < NSLOTS; i++)
		free(b->slots[i].data);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	if (b->fd >= 0)
		close(b->fd);
	if (!b->sealed && b->partial && b->fd >= 0)
		unlinkat(b->outdir_fd, b->partial, 0);
	ai_hash_free(&b->blake);
	ai_hash_free(&b->sha);
	ai_spool_free(&b->sums);
	ai_spool_free(&b->members);
	free(b->iobuf);
	free(b->zeros);
	free(b->extents);
	free(b->name);
	free(b->partial);
	free(b);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && !strcmp(s + n - m, suffix);
}

int ai_bundle_leftovers(int outdir_fd, void (*fn)(void *ctx, const char *name), void *ctx, ai_err_t *err)
{
	int fd = openat(outdir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ai_err_set(err, errno, "open the output directory");
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return ai_err_set(err, e, "open the output directory");
	}
	cleanup_closedir DIR *dir = d;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(dir)))
		if (ends_with(de->d_name, ".tar.partial") || ends_with(de->d_name, ".tar.minisig.partial")) {
			fn(ctx, de->d_name);
			n++;
		}
	return n;
}

void ai_bundle_freep(struct ai_bundle **b)
{
	ai_bundle_free(*b);
}
