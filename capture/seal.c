/* seal (see seal.h): other tools' evidence into a signed bundle. Each file is opened once
 * (O_NOFOLLOW, O_NONBLOCK, O_NOATIME when permitted: never a FIFO or device), its stat taken
 * from that descriptor, its content hashed in the same pass that stores it; a file that changed
 * while read is recorded so and makes the bundle partial. */
#include "capture/seal.h"
#include "capture/capture.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "common/cleanup.h"
#include "common/json.h"
#include "common/safeopen.h"

static void seal_uuid(char out[37])
{
	uint8_t r[16];
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		memset(r, 0, sizeof(r));
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

static void seal_name(const struct ai_seal_opts *o, struct timespec now, char *name, size_t len)
{
	if (o->name) {
		snprintf(name, len, "%s", o->name);
		return;
	}
	struct tm tm;
	char ts[32], host[64] = "host";
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == '.')
			*p = '_';
	snprintf(name, len, "afterimage-seal-%s-%s", host, ts);
}

/* sealed/BASENAME, or sealed/N-BASENAME when an earlier file had that basename. */
static void member_name(const struct ai_seal_opts *o, size_t i, struct ai_buf *out)
{
	const char *p = o->files[i], *s = strrchr(p, '/');
	const char *base = s ? s + 1 : p;
	bool dup = false;
	for (size_t k = 0; k < i && !dup; k++) {
		const char *q = strrchr(o->files[k], '/');
		dup = !strcmp(q ? q + 1 : o->files[k], base);
	}
	ai_buf_reset(out);
	ai_buf_adds(out, AI_M_SEALED_DIR "/");
	if (dup)
		ai_buf_printf(out, "%zu-", i + 1);
	ai_buf_adds(out, base);
	ai_buf_cstr(out);
}

/* One file into the bundle and its record into sealed.json; false when it changed while read. */
static int seal_one(struct ai_bundle *b, const struct ai_seal_opts *o, size_t i, struct ai_json *j,
		    bool *whole, ai_err_t *err)
{
	const char *path = o->files[i];
	if (!*path || (strrchr(path, '/') && !strrchr(path, '/')[1]))
		return ai_err_set(err, 0, "%s: not a file name", path);
	cleanup_close int fd = ai_open_regular(AT_FDCWD, path, NULL, err);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ai_err_set(err, errno, "%s", path);
	cleanup_buf struct ai_buf name;
	ai_buf_init(&name);
	member_name(o, i, &name);
	struct ai_member_meta meta = {.path = name.data,
				      .path_len = name.len,
				      .mode = st.st_mode,
				      .uid = st.st_uid,
				      .gid = st.st_gid,
				      .atime = st.st_atim,
				      .mtime = st.st_mtim,
				      .ctime = st.st_ctim};
	struct ai_member_result res;
	if (ai_bundle_add_fd(b, &meta, fd, 0, &res, err) < 0)
		return ai_err_wrap(err, "%s", path);
	struct stat after;
	bool changed = res.truncated || res.grew || res.short_read || fstat(fd, &after) < 0 ||
		       after.st_size != st.st_size || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
		       after.st_mtim.tv_nsec != st.st_mtim.tv_nsec;
	*whole = !changed;
	char abs[4096];
	bool have_abs = realpath(path, abs) != NULL;
	ai_json_obj_begin(j);
	ai_json_kbytes(j, "member", name.data, name.len);
	ai_json_kbytes(j, "path", path, strlen(path));
	ai_json_kbytes(j, "realpath", have_abs ? abs : NULL, have_abs ? strlen(abs) : 0);
	ai_json_kuint(j, "size", res.size);
	ai_json_kuint(j, "source_size", (uint64_t)st.st_size);
	ai_json_kstr(j, "sha256", res.sha256);
	char mode[16];
	snprintf(mode, sizeof(mode), "0%o", (unsigned)st.st_mode);
	ai_json_kstr(j, "mode", mode);
	ai_json_kuint(j, "uid", st.st_uid);
	ai_json_kuint(j, "gid", st.st_gid);
	ai_json_kuint(j, "dev", (uint64_t)st.st_dev);
	ai_json_kuint(j, "ino", (uint64_t)st.st_ino);
	ai_json_ktime(j, "mtime", st.st_mtim.tv_sec, st.st_mtim.tv_nsec); /* and mtime_ns */
	ai_json_ktime(j, "atime", st.st_atim.tv_sec, st.st_atim.tv_nsec);
	ai_json_ktime(j, "ctime", st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	ai_json_kbool(j, "changed_while_read", changed);
	ai_json_obj_end(j);
	return 0;
}

static void seal_manifest(const char *name, const char *id, struct timespec start, struct timespec end,
			  bool complete, size_t nfiles, struct ai_buf *out)
{
	struct ai_json j;
	ai_manifest_head(&j, out, name, id, start, end, "seal");
	ai_json_key(&j, "target");
	ai_json_null(&j);
	ai_json_kuint(&j, "sealed_files", nfiles);
	ai_json_kbool(&j, "complete", complete);
	ai_json_kuint(&j, "errors", complete ? 0 : 1);
	ai_json_kuint(&j, "warnings", 0);
	ai_json_key(&j, "members");
}

int ai_seal(const struct ai_seal_opts *o, struct ai_seal_result *r, ai_err_t *err)
{
	memset(r, 0, sizeof(*r));
	struct timespec start, end;
	clock_gettime(CLOCK_REALTIME, &start);
	char name[256];
	seal_name(o, start, name, sizeof(name));
	struct ai_bundle *b cleanup_bundle = NULL;
	if (ai_bundle_create(&b, o->outdir_fd, name, err) < 0)
		return -1;
	cleanup_buf struct ai_buf doc;
	ai_buf_init(&doc);
	struct ai_json j;
	ai_json_init(&j, &doc);
	ai_json_obj_begin(&j);
	struct utsname u;
	uname(&u);
	ai_json_kbytes(&j, "host", u.nodename, strlen(u.nodename));
	ai_json_ktime(&j, "sealed", start.tv_sec, start.tv_nsec);
	ai_json_key(&j, "files");
	ai_json_arr_begin(&j);
	r->complete = true;
	for (size_t i = 0; i < o->nfiles; i++) {
		bool whole = false;
		if (seal_one(b, o, i, &j, &whole, err) < 0)
			return -1; /* nothing sealed: the .partial is removed */
		r->complete &= whole;
	}
	ai_json_arr_end(&j);
	ai_json_obj_end(&j);
	ai_buf_addc(&doc, '\n');
	if (ai_bundle_add_mem(b, AI_M_SEALED, doc.data, doc.len, err) < 0)
		return -1;
	char id[37];
	seal_uuid(id);
	clock_gettime(CLOCK_REALTIME, &end);
	cleanup_buf struct ai_buf manifest;
	ai_buf_init(&manifest);
	seal_manifest(name, id, start, end, r->complete, o->nfiles, &manifest);
	char when[64], tc[512];
	ai_time_format(when, sizeof(when), start.tv_sec, start.tv_nsec);
	snprintf(tc, sizeof(tc), "afterimage bundle=%s.tar id=%s sealed=%s complete=%s", name, id, when,
		 r->complete ? "true" : "false");
	if (ai_bundle_seal(b, o->key, manifest.data, manifest.len, tc, r->sha256, err) < 0)
		return ai_err_wrap(err, "sealing bundle");
	snprintf(r->path, sizeof(r->path), "%s/%s.tar", o->outdir ? o->outdir : ".", name);
	r->nfiles = o->nfiles;
	return 0;
}
