/* Unit tests of the analyzer's pure pieces, linked against libanalyze.a: the path table and OCI
 * whiteout application (a generated OCI dir image of plain-tar layers), the status classification
 * of upperdir entries (fs/upper.json through az_upper_read), bodyfile escaping, mode strings, the
 * input layer's format detection (generated tars and the real Podman checkpoint archive of
 * tests/data), the CRIU image decoder over hand-built images. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "analyze/attr.h"
#include "analyze/context.h"
#include "analyze/findings.h"
#include "analyze/criu.h"
#include "analyze/criu_files.h"
#include "analyze/image.h"
#include "analyze/input.h"
#include "analyze/jpush.h"
#include "analyze/jscan.h"
#include "analyze/oci.h"
#include "analyze/sums.h"
#include "analyze/timeline.h"
#include "analyze/util.h"
#include "analyze/views.h"
#include "common/buf.h"
#include "common/hash.h"
#include "tests/unit/t.h"

struct ent {
	const char *path;
	char type;	  /* f file, d dir, l symlink, h hardlink, 0 end */
	const char *data; /* content, link target */
	unsigned mode;
};

static char tmpdir[256];

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* a blob under DIR/blobs/sha256/, its "sha256:HEX" into digest */
static void put_blob(const void *data, size_t len, char digest[80])
{
	char hex[65];
	ai_err_t err;
	if (ai_sha256_hex(data, len, hex, &err) < 0)
		abort();
	snprintf(digest, 80, "sha256:%s", hex);
	char name[128];
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	write_file(tmpdir, name, data, len);
}

static void layer_tar(const struct ent *es, struct ai_buf *out)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	size_t cap = 32u << 20, used = 0;
	char *buf = malloc(cap);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK)
		abort();
	for (const struct ent *e = es; e->type; e++) {
		struct archive_entry *x = archive_entry_new();
		archive_entry_set_pathname(x, e->path);
		archive_entry_set_perm(x, e->mode ? e->mode : 0644);
		switch (e->type) {
		case 'f':
			archive_entry_set_filetype(x, AE_IFREG);
			archive_entry_set_size(x, (la_int64_t)strlen(e->data ? e->data : ""));
			break;
		case 'd':
			archive_entry_set_filetype(x, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(x, AE_IFLNK);
			archive_entry_set_symlink(x, e->data);
			break;
		case 'h':
			archive_entry_set_filetype(x, AE_IFREG);
			archive_entry_set_hardlink(x, e->data);
			break;
		}
		archive_write_header(a, x);
		if (e->type == 'f' && e->data)
			archive_write_data(a, e->data, strlen(e->data));
		archive_entry_free(x);
	}
	archive_write_close(a);
	archive_write_free(a);
	ai_buf_add(out, buf, used);
	free(buf);
}

/* An OCI dir image of n plain-tar layers; history created_by "layer N". */
static void make_image(const struct ent *const *layers, int n)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ai-unit-analyze.XXXXXX");
	if (!mkdtemp(tmpdir))
		abort();
	char p[512];
	snprintf(p, sizeof(p), "%s/blobs", tmpdir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/blobs/sha256", tmpdir);
	mkdir(p, 0755);
	struct ai_buf cfg, man;
	ai_buf_init(&cfg);
	ai_buf_init(&man);
	ai_buf_adds(
	    &cfg,
	    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
	ai_buf_adds(
	    &man,
	    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"layers\":[");
	for (int i = 0; i < n; i++) {
		struct ai_buf t;
		ai_buf_init(&t);
		layer_tar(layers[i], &t);
		char d[80];
		put_blob(t.data, t.len, d);
		ai_buf_printf(&cfg, "%s\"%s\"", i ? "," : "", d);
		ai_buf_printf(&man,
			      "%s{\"mediaType\":\"application/"
			      "vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu}",
			      i ? "," : "", d, t.len);
		ai_buf_free(&t);
	}
	ai_buf_adds(&cfg, "]},\"history\":[");
	for (int i = 0; i < n; i++)
		ai_buf_printf(&cfg, "%s{\"created_by\":\"layer %d\"}%s", i ? "," : "", i + 1,
			      i == 0 ? ",{\"created_by\":\"ENV x=1\",\"empty_layer\":true}" : "");
	ai_buf_adds(&cfg, "]}");
	char cd[80], md[80];
	put_blob(cfg.data, cfg.len, cd);
	ai_buf_printf(&man,
		      "],\"config\":{\"mediaType\":\"application/"
		      "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu}}",
		      cd, cfg.len);
	put_blob(man.data, man.len, md);
	struct ai_buf idx;
	ai_buf_init(&idx);
	ai_buf_printf(&idx,
		      "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
		      "vnd.oci.image.manifest.v1+json\","
		      "\"digest\":\"%s\",\"size\":%zu}]}",
		      md, man.len);
	write_file(tmpdir, "index.json", idx.data, idx.len);
	write_file(tmpdir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	ai_buf_free(&idx);
	ai_buf_free(&cfg);
	ai_buf_free(&man);
}

static char sha_of(const char *s, char hex[65])
{
	ai_err_t err;
	ai_sha256_hex(s, strlen(s), hex, &err);
	return 0;
}

/* "status layer" of a path, or "unknown" */
static const char *st(const struct az_attr *a, const char *path)
{
	static char out[64];
	struct az_origin o;
	if (!az_attr_lookup(a, path, strlen(path), &o))
		return "unknown";
	snprintf(out, sizeof(out), "%s %d", az_status_name(o.status), o.layer);
	return out;
}

static const struct ent L1[] = {
    {"bin/", 'd', NULL, 0755},
    {"bin/sh", 'f', "shell", 0755},
    {"bin/ls", 'f', "ls", 0755},
    {"etc/passwd", 'f', "root:x:0:0", 0644}, /* parent created implicitly */
    {"etc/group", 'f', "root:x:0:", 0644},
    {"etc/app/", 'd', NULL, 0755},
    {"etc/app/a.conf", 'f', "a", 0644},
    {"etc/app/b.conf", 'f', "b", 0644},
    {"opt/old/", 'd', NULL, 0755},
    {"opt/old/x", 'f', "x", 0644},
    {"usr/lib/libc.so", 'f', "libc", 0755},
    {"usr/lib/libc.so.6", 'h', "usr/lib/libc.so", 0},
    {"usr/link", 'l', "lib", 0777},
    {"./srv/./dotted", 'f', "dots", 0644},
    {"./usr//share/./doc", 'f', "doc", 0644}, /* a marked path under a non-canonical name */
    {"../escape", 'f', "no", 0644},
    {NULL, 0, NULL, 0},
};
static const struct ent L2[] = {
    {"bin/.wh.ls", 'f', "", 0},		  /* whiteout: removes bin/ls */
    {"etc/app/.wh..wh..opq", 'f', "", 0}, /* opaque: hides a.conf, b.conf */
    {"etc/app/c.conf", 'f', "c", 0644},
    {"etc/passwd", 'f', "root:x:0:0\nuser:x:1000", 0644},
    {"opt/.wh.old", 'f', "", 0},
    {"opt/old/", 'd', NULL, 0755}, /* re-created after its whiteout in the same layer */
    {"opt/old/y", 'f', "y", 0644},
    {NULL, 0, NULL, 0},
};
static const struct ent L3[] = {
    {"etc/group", 'd', NULL, 0755}, /* a file replaced by a dir */
    {"srv/dotted", 'f', "dots", 0644},
    {NULL, 0, NULL, 0},
};

static void upper_entry(struct ai_buf *j, const char *path, const char *type, const char *mode,
			const char *content, const char *overlay, const char *extra)
{
	char hex[65] = "";
	if (content)
		sha_of(content, hex);
	ai_buf_printf(
	    j,
	    "%s{\"path\":\"%s\",\"type\":\"%s\",\"mode\":\"%s\",\"uid\":0,\"gid\":0,\"size\":%zu,\"ino\":7,"
	    "\"mtime_ns\":1700000000000000000,\"atime_ns\":1700000000000000000,\"ctime_ns\":"
	    "1700000000000000000",
	    j->len > 12 ? "," : "", path, type, mode, content ? strlen(content) : 0);
	if (content)
		ai_buf_printf(j, ",\"sha256\":\"%s\"", hex);
	ai_buf_printf(j, ",\"overlay\":[%s]%s%s}", overlay ? overlay : "", extra ? "," : "",
		      extra ? extra : "");
}

static void test_attribution(void)
{
	const struct ent *layers[] = {L1, L2, L3};
	make_image(layers, 3);
	struct az_ctx c;
	az_ctx_init(&c);
	c.imgs[0].dirfd = -1;
	ai_err_t err;
	char ref[300];
	snprintf(ref, sizeof(ref), "oci:%s", tmpdir);
	int r = az_image_open(&c.imgs[0], ref, &err);
	c.nimgs = 1;
	c.img_of[0] = 0;
	T_OK(r == 0, "az_image_open of a generated OCI dir (%s)", r ? err.msg : "ok");
	if (r)
		return;
	c.have_img = true;
	T_OK(c.imgs[0].nlayers == 3, "3 layers");
	T_STREQ(c.imgs[0].layers[1].created_by.s, "layer 2",
		"history paired with layers, empty_layer skipped");

	struct ai_buf j;
	ai_buf_init(&j);
	ai_buf_adds(&j, "{\"entries\":[");
	upper_entry(&j, "/bin", "dir", "0755", NULL, NULL, NULL);	       /* same mode: image */
	upper_entry(&j, "/bin/sh", "file", "0755", "shell", NULL, NULL);       /* same content: metadata */
	upper_entry(&j, "/etc", "dir", "0700", NULL, NULL, NULL);	       /* chmod: metadata */
	upper_entry(&j, "/etc/passwd", "file", "0644", "changed", NULL, NULL); /* modified */
	upper_entry(&j, "/etc/new", "file", "0755", "new", NULL, NULL);	       /* added */
	upper_entry(&j, "/etc/app", "dir", "0755", NULL, "\"opaque\"", NULL);  /* replaced */
	upper_entry(&j, "/etc/app/d.conf", "file", "0644", "d", NULL, NULL);   /* added */
	upper_entry(&j, "/usr/lib/libc.so.6", "file", "0755", "libc", NULL,
		    NULL); /* hardlink in the layer: metadata */
	upper_entry(&j, "/usr/link", "symlink", "0777", NULL, NULL, "\"target\":\"lib64\""); /* modified */
	upper_entry(&j, "/usr/lib/libc.so", "whiteout", "0000", NULL, "\"whiteout\"", NULL); /* deleted */
	upper_entry(&j, "/opt/old/y", "file", "0644", "y", "\"metacopy\"", NULL); /* metacopy: metadata */
	upper_entry(&j, "/srv", "dir", "0755", NULL, "\"redirect\"", "\"redirect\":\"/opt/old\"");
	upper_entry(&j, "/srv/y", "file", "0644", "y", NULL, NULL);	      /* via the redirect: metadata */
	upper_entry(&j, "/usr/share/doc", "file", "0600", "doc", NULL, NULL); /* same content: metadata */
	ai_buf_adds(&j, "]}");
	r = az_upper_read(&c.m, j.data, j.len, &err);
	T_OK(r == 0, "az_upper_read (%s)", r ? err.msg : "ok");
	c.m.have[AZ_HAVE_UPPER] = true;
	ai_buf_free(&j);
	r = az_ctx_attribute(&c, false, &err);
	T_OK(r == 0, "az_attr_build (%s)", r ? err.msg : "ok");
	if (r)
		return;
	/* the path table and whiteouts */
	T_STREQ(st(c.attr, "/bin/ls"), "layer-deleted 1", "a layer whiteout: layer-deleted");
	T_STREQ(st(c.attr, "/etc/app/a.conf"), "layer-deleted 1",
		"hidden by layer 2's opaque marker: layer-deleted");
	T_STREQ(st(c.attr, "/etc/app/c.conf"), "deleted 2",
		"a later layer's file under the upper opaque dir: deleted");
	T_STREQ(st(c.attr, "/opt/old/x"), "layer-deleted 1",
		"whiteout then re-created dir: old child stays deleted");
	T_STREQ(st(c.attr, "/opt/old"), "image 2", "the re-created dir belongs to layer 2");
	T_STREQ(st(c.attr, "/etc/group"), "image 3", "a file replaced by a dir in layer 3");
	T_STREQ(st(c.attr, "/etc/shadow"), "unknown", "a path no one provides is unknown");
	T_STREQ(st(c.attr, "/escape"), "unknown", "a '..' entry is skipped");
	T_STREQ(st(c.attr, "/srv/dotted"), "image 3", "'./' components fold onto one path");
	T_STREQ(st(c.attr, "//etc///passwd/"), "modified 2", "lookups fold repeated slashes");
	T_OK(strstr(az_attr_warnings(c.attr), "1 layer entries with unsafe") != NULL,
	     "the skipped entry is counted in a warning");
	/* classification of upper entries */
	T_STREQ(st(c.attr, "/bin"), "image 1", "dir copied up as a parent only: image");
	T_STREQ(st(c.attr, "/bin/sh"), "metadata 1", "same sha256: metadata");
	T_STREQ(st(c.attr, "/etc"), "metadata 1", "dir chmod: metadata");
	T_STREQ(st(c.attr, "/etc/passwd"), "modified 2", "content differs from layer 2's: modified");
	T_STREQ(st(c.attr, "/etc/new"), "added 0", "no layer provides it: added");
	T_STREQ(st(c.attr, "/etc/app"), "replaced 1", "opaque over a layer dir: replaced");
	T_STREQ(st(c.attr, "/etc/app/d.conf"), "added 0", "new under the opaque dir: added");
	T_STREQ(st(c.attr, "/usr/lib/libc.so.6"), "metadata 1",
		"a layer hardlink carries its target's sha256");
	T_STREQ(st(c.attr, "/usr/link"), "modified 1", "symlink target differs: modified");
	T_STREQ(st(c.attr, "/usr/lib/libc.so"), "deleted 1", "upper whiteout: deleted");
	T_STREQ(st(c.attr, "/opt/old/y"), "metadata 2", "metacopy: metadata");
	T_STREQ(st(c.attr, "/srv/y"), "metadata 2", "redirect dir resolved to its lower path");
	T_STREQ(st(c.attr, "/usr/share/doc"), "metadata 1",
		"content hashed under a non-canonical layer name");
	size_t paths, bytes, counts[AZ_ST__COUNT] = {0};
	az_attr_stats(c.attr, &paths, &bytes, counts);
	T_OK(counts[AZ_ST_ADDED] == 2 && counts[AZ_ST_MODIFIED] == 2 && counts[AZ_ST_REPLACED] == 1,
	     "counts: added=%zu modified=%zu replaced=%zu", counts[AZ_ST_ADDED], counts[AZ_ST_MODIFIED],
	     counts[AZ_ST_REPLACED]);

	/* the layers view over the same attribution (views_layers.c, through attr's accessors) */
	struct ai_buf v;
	ai_buf_init(&v);
	az_view_layers(c.attr, false, true, &v);
	const char *t = ai_buf_cstr(&v);
	T_OK(!strncmp(t, "image oci:", 10) && strstr(t, ": 3 layers\n  layer 1 sha256:") != NULL,
	     "layers text: the image and its layers first");
	T_OK(strstr(t, "\nwarning: 1 layer entries with unsafe or oversized names were skipped\n") != NULL,
	     "layers text: each warning on its own line");
	T_OK(strstr(t, " added=2 modified=2 metadata=") != NULL &&
		 strstr(t, "\nmodified      2     /etc/passwd\n") && !strstr(t, " /etc/group\n"),
	     "layers text: counts, rows, --changed leaves out status image");
	ai_buf_reset(&v);
	az_view_layers(c.attr, true, false, &v);
	json_t *lj = json_loadb(v.data, v.len, 0, NULL);
	size_t rows = 0;
	for (int k = AZ_ST_IMAGE; k < AZ_ST__COUNT; k++)
		rows += counts[k];
	T_OK(lj && json_array_size(json_object_get(lj, "paths")) == rows &&
		 json_integer_value(json_object_get(json_object_get(lj, "counts"), "replaced")) == 1 &&
		 json_array_size(json_object_get(json_object_get(lj, "image"), "layers")) == 3 &&
		 json_array_size(json_object_get(lj, "warnings")) >= 1,
	     "layers --json: every path, the counts, the layers, the warnings");
	json_decref(lj);
	ai_buf_free(&v);

	/* bodyfile: 11 fields, the status in the name, mode string */
	struct ai_buf out;
	ai_buf_init(&out);
	az_timeline_render(&c, AZ_TL_BODYFILE, &out);
	const char *b = ai_buf_cstr(&out);
	T_OK(
	    strstr(b, "0|/etc/passwd (modified)|7|r/rrw-r--r--|0|0|7|1700000000|1700000000|1700000000|0\n") !=
		NULL,
	    "bodyfile line of a modified file");
	T_OK(strstr(b, "0|/usr/lib/libc.so (deleted: whiteout)|7|-/-") != NULL,
	     "bodyfile line of a whiteout");
	T_OK(strstr(b, "0|/usr/link (modified)|7|l/lrwxrwxrwx|") != NULL, "bodyfile symlink mode string");
	ai_buf_free(&out);

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	t_sh(NULL, 0, cmd);
	az_ctx_free(&c);
}

static void test_bodyfile_escaping(void)
{
	struct az_ctx c;
	az_ctx_init(&c);
	ai_err_t err;
	const char *doc =
	    "{\"entries\":[{\"path\":\"/a|b\\nc\",\"path_hex\":\"2f617c620a63ff\",\"type\":\"file\","
	    "\"mode\":\"4755\",\"size\":1,\"ino\":3,\"mtime_ns\":2000000000}]}";
	T_OK(az_upper_read(&c.m, doc, strlen(doc), &err) == 0, "upper.json with a hostile name");
	T_OK(az_ctx_attribute(&c, false, &err) == 0, "attr without an image");
	struct ai_buf out;
	ai_buf_init(&out);
	az_timeline_render(&c, AZ_TL_BODYFILE, &out);
	const char *b = ai_buf_cstr(&out);
	T_OK(!strncmp(b, "0|/a\\x7cb\\x0ac\\xff|3|r/rrwsr-xr-x|0|0|1|0|2|0|0\n", 45),
	     "pipe, newline, invalid byte escaped");
	const char *nl = strchr(b, '\n');
	size_t bars = 0;
	for (const char *p = b; p < nl; p++)
		bars += *p == '|';
	T_OK(bars == 10, "11 fields on the line (%zu separators)", bars);
	ai_buf_free(&out);
	az_ctx_free(&c);
}

static void test_mode_strings(void)
{
	static const struct {
		uint32_t mode;
		const char *s;
	} v[] = {{0644, "rw-r--r--"},  {0755, "rwxr-xr-x"},  {04755, "rwsr-xr-x"}, {04644, "rwSr--r--"},
		 {02755, "rwxr-sr-x"}, {02745, "rwxr-Sr-x"}, {01777, "rwxrwxrwt"}, {01776, "rwxrwxrwT"},
		 {0, "---------"},     {07777, "rwsrwsrwt"}};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char out[10];
		az_perm_string(v[i].mode, out);
		T_STREQ(out, v[i].s, "mode %04o", v[i].mode);
	}
	T_STREQ(az_status_name(AZ_ST_LAYER_DELETED), "layer-deleted", "status names");
	T_STREQ(az_status_name((enum az_status)99), "none", "out-of-range status");
}

static void test_text_escaping(void)
{
	struct ai_buf b;
	ai_buf_init(&b);
	ai_esc_text(&b, "ok\\\x01\xc3\xa9\xff", 7);
	T_STREQ(ai_buf_cstr(&b), "ok\\\\\\x01\xc3\xa9\\xff",
		"terminal escaping: backslash, control, UTF-8 kept, invalid byte");
	ai_buf_reset(&b);
	ai_esc_csv(&b, "a\"b,c", 5);
	T_STREQ(ai_buf_cstr(&b), "\"a\"\"b,c\"", "csv quoting");
	ai_buf_reset(&b);
	ai_esc_html(&b, "<a href='x'>&", 13);
	T_OK(!strchr(ai_buf_cstr(&b), '<') && !strchr(ai_buf_cstr(&b), '\''), "html escaping: %s",
	     ai_buf_cstr(&b));
	ai_buf_free(&b);
}

/* the process tree: CSR children, depth cap, cycles, a repeated pid */
static void test_proc_tree(void)
{
	struct az_model m;
	memset(&m, 0, sizeof(m));
	ai_err_t err;
	struct ai_buf j;
	ai_buf_init(&j);
	ai_buf_adds(&j, "{\"processes\":[");
	for (int pid = 1; pid <= 80; pid++) /* a chain 80 deep */
		ai_buf_printf(&j, "{\"pid\":%d,\"ppid\":%d},", pid, pid - 1);
	ai_buf_adds(&j, "{\"pid\":200,\"ppid\":201},{\"pid\":201,\"ppid\":200},{\"pid\":300,\"ppid\":1},{"
			"\"pid\":300,\"ppid\":2}]}");
	T_OK(az_processes_read(&m, j.data, j.len, &err) == 0, "processes.json");
	ai_buf_free(&j);
	size_t order[85];
	int depth[85];
	az_proc_tree(&m, order, depth);
	bool seen[85] = {false}, once = true;
	for (size_t k = 0; k < m.nprocs; k++) {
		once = once && !seen[order[k]];
		seen[order[k]] = true;
	}
	T_OK(once && m.nprocs == 84, "every process placed once");
	T_OK(m.procs[order[0]].pid == 1 && depth[0] == 0, "pid 1 first");
	int maxd = 0;
	size_t k65 = 0, k66 = 0;
	for (size_t k = 0; k < m.nprocs; k++) {
		maxd = depth[k] > maxd ? depth[k] : maxd;
		if (m.procs[order[k]].pid == 65)
			k65 = k;
		if (m.procs[order[k]].pid == 66)
			k66 = k;
	}
	T_OK(maxd == 64 && depth[k65] == 64 && depth[k66] == 0,
	     "depth capped at 64: deeper ones start again at 0");
	T_OK(az_model_proc(&m, 300) && az_model_proc(&m, 300) == &m.procs[az_model_proc(&m, 300) - m.procs] &&
		 !az_model_proc(&m, 999) && az_model_proc(&m, 201)->pid == 201,
	     "az_model_proc: binary search");
	az_model_free(&m);
}

/* The walk's pipeline: entries in order across many chunks, layer ends after their entries,
 * content hashed only where want() asks, and an entry() failure stops the parser thread. */
struct walk_seen {
	size_t n[3], done_at[3], ndone, hashed, bad_sha, order_errors, fail_at, links;
	int last_layer;
};

static bool walk_want(void *ud, const char *path, size_t len)
{
	(void)ud;
	return len && (path[len - 1] == '7' || path[len - 1] == 'k');
}

static int walk_entry(void *ud, size_t layer, const struct az_lentry *e, ai_err_t *err)
{
	struct walk_seen *w = ud;
	if ((int)layer < w->last_layer || layer > 2)
		w->order_errors++;
	w->last_layer = (int)layer;
	w->n[layer]++;
	if (e->have_sha) {
		w->hashed++;
		char hex[65], want[65], content[128];
		snprintf(content, sizeof(content), "%.*s", (int)e->path_len, e->path);
		ai_hex(e->sha, 32, hex);
		sha_of(content, want);
		w->bad_sha += strcmp(hex, want) != 0;
	}
	if (e->link)
		w->links += e->type == AZ_U_SYMLINK && !strcmp(e->link, "target");
	if (w->fail_at && w->n[0] + w->n[1] + w->n[2] == w->fail_at)
		return ai_err_set(err, 0, "stop at %zu", w->fail_at);
	return 0;
}

static void walk_done(void *ud, size_t layer)
{
	struct walk_seen *w = ud;
	if (layer < 3)
		w->done_at[layer] = w->n[layer];
	w->ndone++;
}

static void test_walk_pipeline(void)
{
	enum { PER = 12000 };
	static struct ent ls[3][PER + 2];
	static char names[3][PER + 1][128];
	for (int l = 0; l < 3; l++) {
		for (int i = 0; i < PER; i++) {
			/* ~100-byte names: ~18 chunks of records, more than the ring holds, so the parser
			 * waits */
			snprintf(names[l][i], sizeof(names[l][i]), "l%d/%090d/f%05d", l, 0, i);
			/* the content is the name: want() entries can be checked against sha256(name) */
			ls[l][i] = (struct ent){names[l][i], 'f', names[l][i], 0644};
		}
		snprintf(names[l][PER], sizeof(names[l][PER]), "l%d/link", l);
		ls[l][PER] = (struct ent){names[l][PER], 'l', "target", 0777};
		ls[l][PER + 1] = (struct ent){NULL, 0, NULL, 0};
	}
	const struct ent *layers[] = {ls[0], ls[1], ls[2]};
	make_image(layers, 3);
	struct az_image img;
	memset(&img, 0, sizeof(img));
	img.dirfd = -1;
	ai_err_t err;
	char ref[300];
	snprintf(ref, sizeof(ref), "oci:%s", tmpdir);
	int r = az_image_open(&img, ref, &err);
	T_OK(r == 0, "walk: image opens (%s)", r ? err.msg : "ok");
	static const struct az_walk_ops ops = {.want = walk_want, .entry = walk_entry, .done = walk_done};
	struct walk_seen w = {.last_layer = -1};
	r = az_image_walk(&img, &ops, &w, &err);
	T_OK(r == 0, "walk: every layer (%s)", r ? err.msg : "ok");
	T_OK(w.n[0] == PER + 1 && w.n[1] == PER + 1 && w.n[2] == PER + 1 && !w.order_errors,
	     "walk: %zu/%zu/%zu entries, in layer order", w.n[0], w.n[1], w.n[2]);
	T_OK(w.ndone == 3 && w.done_at[0] == PER + 1 && w.done_at[2] == PER + 1,
	     "walk: done() after each layer's entries");
	T_OK(w.hashed == 3 * (PER / 10) && !w.bad_sha,
	     "walk: %zu contents hashed (want() said %d), %zu wrong", w.hashed, 3 * (PER / 10), w.bad_sha);
	T_OK(w.links == 3, "walk: symlink targets handed over where wanted");

	struct walk_seen f = {.last_layer = -1, .fail_at = PER + 5000};
	r = az_image_walk(&img, &ops, &f, &err);
	T_OK(r < 0 && strstr(err.msg, "stop at"), "walk: an entry() error ends the walk with that error (%s)",
	     r ? err.msg : "no error");
	T_OK(f.n[0] + f.n[1] + f.n[2] == PER + 5000 && f.ndone == 1,
	     "walk: nothing handed over after the error");

	/* a layer whose blob no longer matches its digest: the layers before it arrive, then its error */
	char blob[512];
	snprintf(blob, sizeof(blob), "%s/blobs/sha256/%s", tmpdir, img.layers[1].digest + 7);
	int fd = open(blob, O_WRONLY);
	T_OK(fd >= 0 && pwrite(fd, "X", 1, 600) == 1, "walk: corrupt layer 2's blob");
	if (fd >= 0)
		close(fd);
	struct walk_seen g = {.last_layer = -1};
	r = az_image_walk(&img, &ops, &g, &err);
	T_OK(r < 0 && strstr(err.msg, "layer 2") && strstr(err.msg, "does not match its digest"),
	     "walk: the corrupt layer's error (%s)", r ? err.msg : "no error");
	T_OK(g.ndone == 1 && g.n[0] == PER + 1, "walk: layer 1 complete before it (%zu done)", g.ndone);
	az_image_free(&img);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	t_sh(NULL, 0, cmd);
}

/* az_j_stream: the element-at-a-time reader of the big indexes */
struct js_seen {
	size_t n;
	int64_t sum;
	char others[256];
	int fail_at;
};

static int js_elem(void *ud, json_t *e, size_t i, ai_err_t *err)
{
	struct js_seen *w = ud;
	if (w->fail_at >= 0 && (size_t)w->fail_at == i)
		return ai_err_set(err, 0, "element refused");
	w->n++;
	w->sum += json_is_integer(e) ? json_integer_value(e) : json_is_object(e) ? 100 : 1000;
	return 0;
}

static int js_other(void *ud, const char *key, json_t *v, ai_err_t *err)
{
	(void)err;
	struct js_seen *w = ud;
	size_t l = strlen(w->others);
	snprintf(w->others + l, sizeof(w->others) - l, "%s=%s;", key,
		 json_is_integer(v) ? "int"
		 : json_is_true(v)  ? "true"
		 : json_is_array(v) ? "array"
				    : "other");
	return 0;
}

static int js(const char *doc, struct js_seen *w, ai_err_t *err)
{
	memset(w, 0, sizeof(*w));
	w->fail_at = -1;
	return az_j_stream(doc, strlen(doc), "t.json", "entries", js_elem, js_other, w, err);
}

static void test_json_stream(void)
{
	struct js_seen w;
	ai_err_t err;
	T_OK(js("{\"a\":1,\"entries\":[{\"x\":1},{\"x\":2}],\"b\":[1,2],\"c\":true}", &w, &err) == 0 &&
		 w.n == 2 && w.sum == 200,
	     "stream: two objects (%s)", w.n == 2 ? "ok" : err.msg);
	T_STREQ(w.others, "a=int;b=array;c=true;", "stream: the other members, in order");
	T_OK(js(" {\"n\":123,\"entries\" : [ 1, 2 ,3\n] , \"z\":7 }\n", &w, &err) == 0 && w.n == 3 &&
		 w.sum == 6,
	     "stream: numbers end exactly where jansson says (%s)", w.n == 3 ? "ok" : err.msg);
	T_STREQ(w.others, "n=int;z=int;", "stream: a number before and after the array");
	T_OK(js("{\"entries\":[]}", &w, &err) == 0 && w.n == 0, "stream: empty array");
	T_OK(js("{\"entr\\u0069es\":[{\"s\":\"]},[\"}]}", &w, &err) == 0 && w.n == 1,
	     "stream: escaped key; brackets inside a string");
	T_OK(js("{\"entries\\u0000\":[1]}", &w, &err) < 0 && strstr(err.msg, "no \"entries\" array"),
	     "stream: a key with a NUL is not the key (%s)", err.msg);
	T_OK(js("{\"entries\":[1],\"entries\":[2]}", &w, &err) < 0 && strstr(err.msg, "duplicate"),
	     "stream: repeated array key refused");
	T_OK(js("{\"a\":1,\"a\":2,\"entries\":[]}", &w, &err) < 0 && strstr(err.msg, "duplicate"),
	     "stream: repeated other key refused");
	T_OK(js("{\"a\":1}", &w, &err) < 0 && strstr(err.msg, "no \"entries\" array"),
	     "stream: missing array");
	T_OK(js("{\"entries\":{}}", &w, &err) < 0 && strstr(err.msg, "not an array"), "stream: not an array");
	T_OK(js("{\"entries\":[]} x", &w, &err) < 0 && strstr(err.msg, "end of input"),
	     "stream: trailing garbage");
	T_OK(js("[1]", &w, &err) < 0 && strstr(err.msg, "not a JSON object"), "stream: not an object");
	T_OK(js("{\"entries\":[{\"x\":1}", &w, &err) < 0 && strstr(err.msg, "expected"),
	     "stream: truncated (%s)", err.msg);
	T_OK(js("{\"entries\":[1x]}", &w, &err) < 0 && js("{\"n\":1x,\"entries\":[]}", &w, &err) < 0,
	     "stream: junk after a number refused");
	T_OK(js("{\"entries\":[1;2]}", &w, &err) < 0 && strstr(err.msg, "',' or ']' expected"),
	     "stream: bad separator");
	T_OK(js("{\"entries\":[{\"x\":1,\"x\":2}]}", &w, &err) < 0 && strstr(err.msg, "invalid JSON"),
	     "stream: duplicate key inside an element refused (%s)", err.msg);
	T_OK(js("{\"entries\":[1,]}", &w, &err) < 0, "stream: trailing comma refused");
	T_OK(js("", &w, &err) < 0 && js("{", &w, &err) < 0 && js("{\"entries\":[1]", &w, &err) < 0,
	     "stream: empty and unterminated documents refused");
	memset(&w, 0, sizeof(w));
	w.fail_at = 1;
	const char *d = "{\"entries\":[1,2,3]}";
	T_OK(az_j_stream(d, strlen(d), "t.json", "entries", js_elem, NULL, &w, &err) < 0 &&
		 strstr(err.msg, "entries[1]") && strstr(err.msg, "element refused") && w.n == 1,
	     "stream: an element's error names its index (%s)", err.msg);
}

/* az_jpush (the streamed form verify uses) agrees with az_j_stream on every document, whatever the
 * chunks it is fed in. */
static int jp(const char *doc, size_t chunk, struct js_seen *w, ai_err_t *err)
{
	memset(w, 0, sizeof(*w));
	w->fail_at = -1;
	struct az_jpush p;
	az_jpush_init(&p, "t.json", "entries", 0, 1u << 20, js_elem, js_other, w);
	size_t len = strlen(doc);
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0; i += chunk)
		rc = az_jpush_feed(&p, doc + i, len - i < chunk ? len - i : chunk, err);
	if (rc == 0)
		rc = az_jpush_end(&p, err);
	az_jpush_free(&p);
	return rc;
}

static void test_json_push(void)
{
	static const char *const docs[] = {
	    "{\"a\":1,\"entries\":[{\"x\":1},{\"x\":2}],\"b\":[1,2],\"c\":true}",
	    " {\"n\":123,\"entries\" : [ 1, 2 ,3\n] , \"z\":7 }\n",
	    "{\"entries\":[]}",
	    "{\"entr\\u0069es\":[{\"s\":\"]},[\\\"\"}]}",
	    "{\"entries\\u0000\":[1]}",
	    "{\"entries\":[1],\"entries\":[2]}",
	    "{\"a\":1,\"a\":2,\"entries\":[]}",
	    "{\"a\":1}",
	    "{\"entries\":{}}",
	    "{\"entries\":[]} x",
	    "[1]",
	    "{\"entries\":[{\"x\":1}",
	    "{\"entries\":[1x]}",
	    "{\"n\":1x,\"entries\":[]}",
	    "{\"entries\":[1;2]}",
	    "{\"entries\":[{\"x\":1,\"x\":2}]}",
	    "{\"entries\":[1,]}",
	    "",
	    "{",
	    "{\"entries\":[1]",
	    "{\"entries\":[\"a\\\\\",{\"k\":[[],{}]},-1.5e3,null,false]}",
	    "{\"entries\":[[1}]}",
	    "{}",
	    "{\"entries\":[tru]}",
	    "{\"entries\":[1] \"z\":1}",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct js_seen a, b, c;
		ai_err_t e1, e2, e3;
		int r1 = js(docs[i], &a, &e1);
		int r2 = jp(docs[i], 1 << 20, &b, &e2);
		int r3 = jp(docs[i], 1, &c, &e3);
		T_OK(r1 == r2 && r1 == r3 && a.n == b.n && a.n == c.n && a.sum == b.sum && a.sum == c.sum &&
			 !strcmp(a.others, b.others) && !strcmp(a.others, c.others),
		     "push: doc %zu as az_j_stream reads it, whole and byte by byte (%d %d %d: %s | %s)", i,
		     r1, r2, r3, r1 ? e1.msg : "ok", r2 ? e2.msg : "ok");
	}
	struct js_seen w;
	ai_err_t err;
	memset(&w, 0, sizeof(w));
	w.fail_at = -1;
	struct az_jpush p;
	az_jpush_init(&p, "t.json", "entries", 0, 16, js_elem, js_other, &w);
	const char *d = "{\"entries\":[1,\"0123456789abcdefghij\"]}";
	T_OK(az_jpush_feed(&p, d, strlen(d), &err) < 0 && strstr(err.msg, "longer than the limit of 16") &&
		 w.n == 1,
	     "push: a value over the limit is refused, after the ones before it (%s)", err.msg);
	T_OK(az_jpush_feed(&p, "]", 1, &err) < 0, "push: nothing is read past an error");
	az_jpush_free(&p);
}

/* jscan: extents, and cuts that jansson still parses */
static void test_json_cut(void)
{
	T_OK(az_jscan_extent("\"a\\\"b\" ,", 9) == 6, "extent: a string with an escaped quote");
	T_OK(az_jscan_extent("[1,\"]\",{\"a\":[]}] x", 18) == 16, "extent: brackets inside strings");
	T_OK(az_jscan_extent("123,", 4) == 3 && az_jscan_extent("123", 3) == 3, "extent: numbers");
	T_OK(az_jscan_extent("[1,2", 4) == 0 && az_jscan_extent("\"ab", 3) == 0, "extent: unterminated");

	size_t n = AZ_J_MAX_STRING + 100;
	struct ai_buf doc, out;
	ai_buf_init(&doc);
	ai_buf_init(&out);
	/* a plain string, one whose cut point falls inside a 3-byte character, one inside an escape,
	 * one inside a surrogate pair, a hex string (odd cut), a short one */
	char *big = malloc(n + 1);
	memset(big, 'A', n);
	big[n] = '\0';
	ai_buf_printf(&doc, "{\"a\":\"%s\",", big);
	memcpy(big + AZ_J_MAX_STRING - 1, "\xe2\x82\xac", 3);
	ai_buf_printf(&doc, "\"b\":\"%s\",", big);
	memset(big, 'A', n);
	memcpy(big + AZ_J_MAX_STRING - 3, "\\u0041", 6);
	ai_buf_printf(&doc, "\"c\":\"%s\",", big);
	memset(big, 'A', n);
	memcpy(big + AZ_J_MAX_STRING - 7, "\\ud83d\\ude00", 12);
	ai_buf_printf(&doc, "\"d\":\"%s\",", big);
	memset(big, 'a', n);
	ai_buf_printf(&doc, "\"x_hex\":[\"%s\"],\"s\":\"short\"}", big);
	struct az_j_cuts cuts = {0};
	az_jscan_cut(doc.data, doc.len, &out, &cuts);
	json_error_t je;
	json_t *j = json_loadb(out.data, out.len, 0, &je);
	T_OK(j != NULL, "cut: the cut copy parses (%s)", j ? "ok" : je.text);
	T_OK(cuts.n == 5, "cut: five strings cut (%llu)", (unsigned long long)cuts.n);
	char want[64];
	snprintf(want, sizeof(want), "\xe2\x80\xa6[cut, %zu bytes]", n);
	const char *keys[] = {"a", "b", "c", "d"};
	for (int k = 0; k < 4 && j; k++) {
		json_t *v = json_object_get(j, keys[k]);
		size_t l = json_string_length(v);
		const char *sv = json_string_value(v);
		T_OK(sv && l <= AZ_J_MAX_STRING + strlen(want) && l > AZ_J_MAX_STRING - 16 &&
			 !strcmp(sv + l - strlen(want), want),
		     "cut: \"%s\" keeps at most %u bytes and ends in the marker (%zu)", keys[k],
		     AZ_J_MAX_STRING, l);
	}
	json_t *hx = j ? json_array_get(json_object_get(j, "x_hex"), 0) : NULL;
	struct az_str hs = {0};
	ai_err_t err;
	char hwant[64];
	snprintf(hwant, sizeof(hwant), "\xe2\x80\xa6[cut, %zu bytes]", n / 2);
	T_OK(hx && az_j_strv(hx, hx, &hs, &err) == 0 && hs.len > strlen(hwant) &&
		 !strcmp(hs.s + hs.len - strlen(hwant), hwant),
	     "cut: a _hex string keeps an even length and decodes to bytes ending in the marker");
	az_str_free(&hs);
	T_STREQ(j ? json_string_value(json_object_get(j, "s")) : NULL, "short",
		"cut: short strings as they are");
	json_decref(j);

	/* through az_j_read_array_ex: the cut is counted for the warning */
	ai_buf_reset(&doc);
	memset(big, 'A', n);
	ai_buf_printf(&doc, "{\"processes\":[{\"pid\":1,\"comm\":\"%s\",\"cmdline\":[\"x\",\"%s\"]}]}", "c",
		      big);
	struct az_model m;
	memset(&m, 0, sizeof(m));
	T_OK(az_processes_read(&m, doc.data, doc.len, &err) == 0 && m.nprocs == 1 && m.cuts.n == 1 &&
		 m.cuts.bytes == n && m.procs[0].argc == 2 && m.procs[0].argv[1].len < AZ_J_MAX_STRING + 64,
	     "cut: processes.json loads with the long argument cut and counted");
	az_model_free(&m);
	free(big);
	ai_buf_free(&doc);
	ai_buf_free(&out);

	/* views: 4 KiB per field, the loader's length kept in the marker */
	struct ai_buf v;
	ai_buf_init(&v);
	char f[5000];
	memset(f, 'x', sizeof(f));
	az_esc_text(&v, f, sizeof(f));
	T_OK(v.len == 4096 + strlen("\xe2\x80\xa6[cut, 5000 bytes]") &&
		 !strcmp(v.data + 4096, "\xe2\x80\xa6[cut, 5000 bytes]"),
	     "view: a 5000-byte field shows 4096 bytes and the marker");
	ai_buf_reset(&v);
	az_esc_html(&v, "<b>", 3);
	T_STREQ(v.data, "&lt;b&gt;", "view: a short field is escaped as before");
	ai_buf_free(&v);
}

/* SHA256SUMS: the same lines whatever the chunks; bounded lines */
struct sums_seen {
	struct ai_buf log;
};

static void sums_cb(void *ud, const struct az_sums_line *l)
{
	struct sums_seen *s = ud;
	ai_buf_printf(&s->log, "%zu:%d:", l->lineno, (int)l->problem);
	if (l->problem == AZ_SUMS_OK) {
		ai_buf_add(&s->log, l->name, l->name_len);
		ai_buf_printf(&s->log, ":%.8s", l->hex);
	}
	ai_buf_addc(&s->log, '|');
}

static void sums_run(const char *doc, size_t len, size_t chunk, struct ai_buf *out)
{
	struct sums_seen s;
	ai_buf_init(&s.log);
	struct az_sums p;
	az_sums_init(&p, sums_cb, &s);
	for (size_t i = 0; i < len; i += chunk)
		az_sums_feed(&p, doc + i, len - i < chunk ? len - i : chunk);
	az_sums_end(&p);
	az_sums_free(&p);
	ai_buf_reset(out);
	ai_buf_add(out, s.log.data ? s.log.data : "", s.log.len);
	ai_buf_free(&s.log);
}

static void test_sums(void)
{
	const char h[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct ai_buf doc, a, b;
	ai_buf_init(&doc);
	ai_buf_init(&a);
	ai_buf_init(&b);
	ai_buf_printf(&doc, "%s  plain\n\\%s  a\\nb\\\\c\n%s  \nshort  x\n%s  upper\n", h, h, h, h);
	doc.data[doc.len - 20] = 'A'; /* an uppercase digit in the last hash */
	ai_buf_printf(&doc, "%s  last", h);
	sums_run(doc.data, doc.len, doc.len, &a);
	T_STREQ(a.data, "1:0:plain:01234567|2:0:a\nb\\c:01234567|3:0::01234567|4:1:|5:1:|6:4:|",
		"sums: good, escaped, empty-named, short, uppercase and unterminated lines");
	sums_run(doc.data, doc.len, 1, &b);
	T_STREQ(b.data, a.data, "sums: byte by byte, the same lines");
	ai_buf_reset(&doc);
	ai_buf_printf(&doc, "%s  ", h);
	for (size_t i = 0; i < AZ_SUMS_MAX_LINE; i++)
		ai_buf_addc(&doc, 'n');
	ai_buf_printf(&doc, "\n%s  after\n", h);
	sums_run(doc.data, doc.len, 4096, &a);
	T_STREQ(a.data, "1:2:|2:0:after:01234567|", "sums: an overlong line is skipped to its end, named");
	ai_buf_reset(&doc);
	ai_buf_printf(&doc, "%s  ", h);
	for (size_t i = 0; i < AZ_SUMS_MAX_NAME + 1; i++)
		ai_buf_addc(&doc, 'n');
	ai_buf_addc(&doc, '\n');
	sums_run(doc.data, doc.len, 100, &a);
	T_STREQ(a.data, "1:3:|", "sums: a name over the limit is said to be over it");
	ai_buf_free(&doc);
	ai_buf_free(&a);
	ai_buf_free(&b);
}

/* An OCI dir whose manifest lists more layers than the limit: a clear error, and az_image_free
 * after it does not walk an array that was never allocated (it crashed). */
static void test_layer_limit(void)
{
	for (int n = 250; n <= 251; n++) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/ai-unit-layers.XXXXXX");
		if (!mkdtemp(tmpdir))
			abort();
		char p[512];
		snprintf(p, sizeof(p), "%s/blobs", tmpdir);
		mkdir(p, 0755);
		snprintf(p, sizeof(p), "%s/blobs/sha256", tmpdir);
		mkdir(p, 0755);
		char ld[80], cd[80], md[80];
		put_blob("x", 1, ld);
		struct ai_buf cfg, man, idx;
		ai_buf_init(&cfg);
		ai_buf_init(&man);
		ai_buf_init(&idx);
		ai_buf_adds(&cfg, "{\"rootfs\":{\"diff_ids\":[");
		for (int i = 0; i < n; i++)
			ai_buf_printf(&cfg, "%s\"%s\"", i ? "," : "", ld);
		ai_buf_adds(&cfg, "]}}");
		put_blob(cfg.data, cfg.len, cd);
		ai_buf_adds(&man, "{\"layers\":[");
		for (int i = 0; i < n; i++)
			ai_buf_printf(&man, "%s{\"digest\":\"%s\"}", i ? "," : "", ld);
		ai_buf_printf(&man, "],\"config\":{\"digest\":\"%s\"}}", cd);
		put_blob(man.data, man.len, md);
		ai_buf_printf(&idx, "{\"manifests\":[{\"digest\":\"%s\"}]}", md);
		write_file(tmpdir, "index.json", idx.data, idx.len);
		char ref[300];
		snprintf(ref, sizeof(ref), "oci:%s", tmpdir);
		struct az_image img;
		ai_err_t err;
		int rc = az_image_open(&img, ref, &err);
		if (n == 250)
			T_OK(rc == 0 && img.nlayers == 250, "layers: 250 layers open (%s)",
			     rc ? err.msg : "ok");
		else
			T_OK(rc < 0 && strstr(err.msg, "251 layers, more than the limit of 250 layers") &&
				 img.nlayers == 0 && !img.layers,
			     "layers: 251 layers refused before anything is allocated (%s)", err.msg);
		az_image_free(&img);
		T_OK(1, "layers: az_image_free after open (%d layers) returns", n);
		ai_buf_free(&cfg);
		ai_buf_free(&man);
		ai_buf_free(&idx);
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		t_sh(NULL, 0, cmd);
	}
}

/* The one JSON record of a process and of an fd: ps / fds --json and findings --json emit it
 * through the same emitter, byte for byte as before (hostile bytes as \u escapes). */
static void test_json_records(void)
{
	struct az_model m;
	memset(&m, 0, sizeof(m));
	ai_err_t err;
	const char *procs = "{\"processes\":[{\"pid\":7,\"ppid\":1,\"comm\":\"evil\\u001b]0;PWNED\\u0007\","
			    "\"cmdline\":[\"./x\"],\"exe\":{\"path\":\"/tmp/x (deleted)\",\"deleted\":true,"
			    "\"member\":\"exe/7\"},\"state\":\"R\"}]}";
	const char *fds = "{\"fds\":[{\"pid\":7,\"fd\":3,\"type\":\"deleted\",\"target\":\"/tmp/gone "
			  "(deleted)\",\"deleted\":true,\"ino\":5,\"size\":10}]}";
	T_OK(az_processes_read(&m, procs, strlen(procs), &err) == 0 &&
		 az_fds_read(&m, fds, strlen(fds), &err) == 0,
	     "processes.json and fds.json");
	struct ai_buf b;
	ai_buf_init(&b);
	az_view_ps(&m, true, &b);
	T_STREQ(ai_buf_cstr(&b),
		"{\"processes\":[{\"pid\":7,\"ppid\":1,\"nspid\":-1,\"depth\":0,\"comm\":\"evil\\u001b]0;"
		"PWNED\\u0007\",\"cmdline\":[\"./x\"],\"exe\":\"/tmp/x (deleted)\",\"exe_deleted\":true,"
		"\"exe_memfd\":false,\"exe_sha256\":null,\"exe_member\":\"exe/7\",\"uid\":-1,\"gid\":-1,"
		"\"state\":\"R\",\"threads\":-1,\"zombie\":false,\"vanished\":false,\"environ\":[],\"cwd\":"
		"null,\"root\":null,\"cap_eff\":null,\"capabilities\":null,\"seccomp\":null,\"namespaces\":"
		"null,\"cgroup\":null}]}\n",
		"ps --json: the full process record");
	ai_buf_reset(&b);
	az_view_fds(&m, true, &b);
	T_STREQ(ai_buf_cstr(&b),
		"{\"fds\":[{\"pid\":7,\"fd\":3,\"type\":\"deleted\",\"target\":\"/tmp/gone (deleted)\","
		"\"flags\":\"\",\"pos\":-1,\"ino\":5,\"size\":10,\"deleted\":true,\"memfd\":false,"
		"\"recovered\":null,\"recovered_sha256\":null,\"recovered_size\":null}]}\n",
		"fds --json: the full fd record");
	struct az_attrs as = {.n = 1};
	T_OK(az_attr_build(&as.ct[0], &m, NULL, false, &err) == 0, "attr without an image");
	struct az_findings f;
	az_findings_build(&f, &m, &as, NULL);
	ai_buf_reset(&b);
	az_findings_render(&f, &m, &as, true, &b);
	T_OK(strstr(ai_buf_cstr(&b),
		    "\"processes\":[{\"pid\":7,\"comm\":\"evil\\u001b]0;PWNED\\u0007\",\"exe\":\"/tmp/x\","
		    "\"status\":\"deleted\",\"files\":[{\"fd\":3,\"path\":\"/tmp/gone (deleted)\","
		    "\"status\":\"deleted\"}]}]}\n") != NULL,
	     "findings --json: the identity records (exe without \" (deleted)\"), extended with origins");
	ai_buf_reset(&b);
	az_findings_render(&f, &m, &as, false, &b);
	T_OK(!memchr(b.data, 0x1b, b.len) && !memchr(b.data, 0x07, b.len) &&
		 strstr(ai_buf_cstr(&b), "evil\\x1b]0;PWNED\\x07") != NULL,
	     "findings text: the hostile comm escaped");
	az_findings_free(&f);
	az_attr_free(as.ct[0]);
	ai_buf_free(&b);
	az_model_free(&m);
}

/* ---- the input layer: one detection, by content */

/* tar of es as DIR/NAME; its path into out */
static void put_tar(const char *dir, const char *name, const struct ent *es, char *out, size_t outlen)
{
	struct ai_buf b;
	ai_buf_init(&b);
	layer_tar(es, &b);
	write_file(dir, name, b.data, b.len);
	ai_buf_free(&b);
	snprintf(out, outlen, "%s/%s", dir, name);
}

static bool str_is(const struct az_str *s, const char *want)
{
	return s->s && s->len == strlen(want) && !memcmp(s->s, want, s->len);
}

/* podman's runtime spec names the BASE image in org.opencontainers.image.base.*: never the
 * container's image; the image id is the manifest's (containers/storage's entry). */
static void test_identity(void)
{
	static struct az_model m;
	ai_err_t err = {0};
	const char *podman =
	    "{\"annotations\":{\"org.opencontainers.image.base.name\":\"localhost/afterimage-test:2\","
	    "\"org.opencontainers.image.base.digest\":\"sha256:9a6a24348582ee57c38b2e2a511581758629cd"
	    "f14a7cd82c0ce16a038e883581\",\"io.container.manager\":\"libpod\"}}";
	T_OK(az_config_read(&m, 0, podman, strlen(podman), &err) == 0, "identity: podman's spec reads");
	T_OK(!m.cts[0].image.s && !m.cts[0].image_digest.s,
	     "identity: base.name/base.digest are not the container's image or digest");
	T_OK(str_is(&m.cts[0].base_image, "localhost/afterimage-test:2") &&
		 str_is(&m.cts[0].base_digest,
			"sha256:9a6a24348582ee57c38b2e2a511581758629cdf14a7cd82c0ce16a038e883581"),
	     "identity: they are the base image");
	const char *man =
	    "{\"format\":\"afterimage-bundle\",\"target\":{\"pid\":1,\"image_id\":\""
	    "57b36a38aca5d70ccf5a6a29776f3dcdacd709f27af9311c262c782b8cd511c5\"},"
	    "\"containers\":[{\"index\":0,\"identity\":{\"image_id\":\"57b36a38aca5d70ccf5a6a29776f3dcd"
	    "acd709f27af9311c262c782b8cd511c5\",\"image_name\":\"localhost/afterimage-test:3\"}},"
	    "{\"index\":1,\"identity\":{\"image_id\":\"d2541312895fe66fe28c365b830750c982c2a4e0d7b065b4"
	    "dce01cd517214155\",\"image_name\":null}}],\"members\":[]}";
	T_OK(az_manifest_read(&m, man, strlen(man), &err) == 0, "identity: the manifest reads");
	T_OK(str_is(&m.cts[0].image_id, "57b36a38aca5d70ccf5a6a29776f3dcdacd709f27af9311c262c782b8cd511c5") &&
		 str_is(&m.cts[0].image, "localhost/afterimage-test:3"),
	     "identity: container 0's image id and name from containers[0].identity");
	T_OK(str_is(&m.cts[1].image_id, "d2541312895fe66fe28c365b830750c982c2a4e0d7b065b4dce01cd517214155") &&
		 !m.cts[1].image.s,
	     "identity: container 1's are its own");
	T_OK(str_is(&m.man.image_id, "57b36a38aca5d70ccf5a6a29776f3dcdacd709f27af9311c262c782b8cd511c5"),
	     "identity: target.image_id");
	az_model_free(&m);
	const char *crio =
	    "{\"annotations\":{\"io.kubernetes.cri-o.ImageName\":\"quay.io/x/y:1\","
	    "\"io.kubernetes.cri-o.ImageRef\":\"d2541312895fe66fe28c365b830750c982c2a4e0d7b065b4dce01cd"
	    "517214155\"}}";
	T_OK(az_config_read(&m, 0, crio, strlen(crio), &err) == 0 &&
		 str_is(&m.cts[0].image, "quay.io/x/y:1") &&
		 str_is(&m.cts[0].image_digest,
			"d2541312895fe66fe28c365b830750c982c2a4e0d7b065b4dce01cd517214155") &&
		 !m.cts[0].base_image.s,
	     "identity: CRI-O's ImageName and ImageRef are the container's");
	az_model_free(&m);
}

static int load(const char *path, struct az_model *m, ai_err_t *err)
{
	err->msg[0] = '\0';
	int rc = az_model_load(m, path, err);
	return rc;
}

static void test_input_detection(void)
{
	char dir[] = "/tmp/ai-unit-input.XXXXXX";
	if (!mkdtemp(dir))
		abort();
	char p[512];
	struct az_model m;
	ai_err_t err;
	const char *man = "{\"name\":\"b1\",\"complete\":true}",
		   *procs = "{\"processes\":[{\"pid\":7,\"ppid\":0}]}";

	const struct ent bundle[] = {{"exe/7", 'f', "ELF", 0},
				     {"processes.json", 'f', procs, 0},
				     {"manifest.json", 'f', man, 0},
				     {"config.dump", 'f', "not JSON: a bundle never reads it", 0},
				     {0}};
	put_tar(dir, "bundle.tar", bundle, p, sizeof(p));
	T_OK(load(p, &m, &err) == 0 && !m.ck.present && m.have[AZ_HAVE_MANIFEST] && m.nprocs == 1 &&
		 m.man.name.s && !strcmp(m.man.name.s, "b1"),
	     "detect: a bundle is read as one, a later config.dump ignored (%s)", err.msg);
	az_model_free(&m);
	T_OK(az_input_unsigned(p) == NULL, "detect: a bundle is a signed format");

	const char *ck = "tests/data/podman-checkpoint/checkpoint.tar"; /* zstd */
	T_OK(load(ck, &m, &err) == 0 && m.ck.present && m.ck.procs_decoded && m.nprocs > 0 &&
		 m.ck.have_rootfs_diff && m.man.trigger.s && !strcmp(m.man.trigger.s, "checkpoint"),
	     "detect: the Podman checkpoint archive (zstd) is read as one (%s)", err.msg);
	az_model_free(&m);
	const char *why = az_input_unsigned(ck);
	T_OK(why && strstr(why, "checkpoint archive") && strstr(why, "no signature"),
	     "detect: a checkpoint archive says why it is not signed (%s)", why ? why : "NULL");

	const struct ent small_ck[] = {{"./artifacts/x", 'f', "x", 0},
				       {"./config.dump", 'f', "{\"id\":\"c1\",\"name\":\"ctr\"}", 0},
				       {0}};
	put_tar(dir, "ck.tar", small_ck, p, sizeof(p));
	T_OK(load(p, &m, &err) == 0 && m.ck.present && m.man.container_id.s &&
		 !strcmp(m.man.container_id.s, "c1"),
	     "detect: ./config.dump alone marks a checkpoint archive (%s)", err.msg);
	az_model_free(&m);

	const struct ent mixed[] = {{"config.dump", 'f', "{}", 0}, {"processes.json", 'f', procs, 0}, {0}};
	put_tar(dir, "mixed.tar", mixed, p, sizeof(p));
	T_OK(load(p, &m, &err) < 0 &&
		 strstr(err.msg, "both afterimage bundle members (processes.json) and checkpoint members"),
	     "detect: checkpoint members then a bundle member: refused (%s)", err.msg);
	az_model_free(&m);

	const struct ent sums[] = {{"SHA256SUMS", 'f', "", 0}, {"config.dump", 'f', "{}", 0}, {0}};
	put_tar(dir, "sums.tar", sums, p, sizeof(p));
	T_OK(az_input_unsigned(p) == NULL, "detect: SHA256SUMS first marks a bundle, verified as one");

	const struct ent none[] = {{"a/b", 'f', "x", 0}, {"fds", 'd', NULL, 0}, {0}};
	put_tar(dir, "none.tar", none, p, sizeof(p));
	T_OK(load(p, &m, &err) < 0 &&
		 strstr(err.msg, "not an afterimage bundle (no manifest.json, processes.json or "
				 "fs/upper.json) nor a checkpoint archive (no config.dump or spec.dump)"),
	     "detect: a tar of neither says what it looked for (%s)", err.msg);
	az_model_free(&m);
	T_OK(az_input_unsigned(p) == NULL, "detect: a tar of neither is not called unsigned");

	const struct ent fds_only[] = {{"fds.json", 'f', "{\"fds\":[]}", 0}, {0}};
	put_tar(dir, "fds.tar", fds_only, p, sizeof(p));
	T_OK(load(p, &m, &err) < 0 && strstr(err.msg, "not an afterimage bundle (no manifest.json"),
	     "detect: a bundle without manifest, processes or upper index: the same error (%s)", err.msg);
	az_model_free(&m);

	static const char junk[] = "\x7f"
				   "ELF junk, not an archive of any kind\n";
	write_file(dir, "junk.tar", junk, sizeof(junk) - 1);
	snprintf(p, sizeof(p), "%s/junk.tar", dir);
	T_OK(load(p, &m, &err) < 0 &&
		 strstr(err.msg, "not an afterimage bundle or checkpoint archive (a tar)"),
	     "detect: junk is a clear error (%s)", err.msg);
	az_model_free(&m);
	T_OK(az_input_unsigned(p) == NULL, "detect: junk is not called unsigned");
	T_OK(load(dir, &m, &err) < 0 && strstr(err.msg, "not a regular file"),
	     "detect: a directory is refused (%s)", err.msg);
	az_model_free(&m);

	/* cut inside a member nobody reads, before the one that marks the format: the probe pass
	 * skips that member's data, and must not seek past the end of the file */
	static char big[20000];
	memset(big, 'x', sizeof(big) - 1);
	const struct ent cut[] = {{"exe/1", 'f', big, 0}, {"processes.json", 'f', procs, 0}, {0}};
	struct ai_buf b;
	ai_buf_init(&b);
	layer_tar(cut, &b);
	write_file(dir, "cut.tar", b.data, 512 + 4096);
	ai_buf_free(&b);
	snprintf(p, sizeof(p), "%s/cut.tar", dir);
	T_OK(load(p, &m, &err) < 0 && strstr(err.msg, "unreadable archive") && strstr(err.msg, "runcated"),
	     "detect: an archive cut inside a skipped member is truncated (%s)", err.msg);
	az_model_free(&m);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	t_sh(NULL, 0, cmd);
}

/* ---- CRIU images */

static void pb_varint_put(struct ai_buf *b, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;
		v >>= 7;
		ai_buf_addc(b, (char)(c | (v ? 0x80 : 0)));
	} while (v);
}

static void pb_key(struct ai_buf *b, uint32_t field, int wt)
{
	pb_varint_put(b, (uint64_t)field << 3 | (uint64_t)wt);
}

static void pb_bytes(struct ai_buf *b, uint32_t field, const struct ai_buf *sub)
{
	pb_key(b, field, 2);
	pb_varint_put(b, sub->len);
	ai_buf_add(b, sub->data ? sub->data : "", sub->len);
}

static void le32_put(struct ai_buf *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		ai_buf_addc(b, (char)(v >> (8 * i)));
}

static void criu_entry_put(struct ai_buf *img, const struct ai_buf *msg)
{
	le32_put(img, (uint32_t)msg->len);
	ai_buf_add(img, msg->data ? msg->data : "", msg->len);
}

struct pst_seen {
	struct az_criu_pstree e[4];
	size_t n;
};

static int pst_each(void *ud, size_t index, const struct az_criu_pstree *e, ai_err_t *err)
{
	struct pst_seen *s = ud;
	if (index != s->n || s->n == 4)
		return ai_err_set(err, 0, "index %zu out of order", index);
	s->e[s->n++] = *e;
	return 0;
}

static void test_criu(void)
{
	struct ai_buf img, msg, sub;
	ai_buf_init(&img);
	ai_buf_init(&msg);
	ai_buf_init(&sub);
	ai_err_t err;
	struct pst_seen s = {0};

	le32_put(&img, AZ_CRIU_IMG_COMMON_MAGIC);
	le32_put(&img, AZ_CRIU_PSTREE_MAGIC);
	pb_key(&msg, 1, 0), pb_varint_put(&msg, 1); /* pid 1, ppid 0, threads 1 (unpacked) */
	pb_key(&msg, 2, 0), pb_varint_put(&msg, 0);
	pb_key(&msg, 5, 0), pb_varint_put(&msg, 1);
	criu_entry_put(&img, &msg);
	ai_buf_reset(&msg);
	pb_key(&msg, 1, 0), pb_varint_put(&msg, 12); /* pid 12, ppid 1, threads 12 13 14 packed */
	pb_key(&msg, 2, 0), pb_varint_put(&msg, 1);
	pb_key(&msg, 9, 5), ai_buf_add(&msg, "abcd", 4); /* an unknown fixed32 field: skipped */
	pb_varint_put(&sub, 12), pb_varint_put(&sub, 13), pb_varint_put(&sub, 14);
	pb_bytes(&msg, 5, &sub);
	criu_entry_put(&img, &msg);
	T_OK(az_criu_pstree_read((const uint8_t *)img.data, img.len, pst_each, &s, &err) == 0 && s.n == 2 &&
		 s.e[0].pid == 1 && s.e[0].ppid == 0 && s.e[0].threads == 1 && s.e[1].pid == 12 &&
		 s.e[1].ppid == 1 && s.e[1].threads == 3,
	     "criu: pstree entries, packed and unpacked threads");
	s.n = 0;
	T_OK(az_criu_pstree_read((const uint8_t *)img.data, img.len - 1, pst_each, &s, &err) < 0 &&
		 strstr(err.msg, "truncated entry after 1 processes"),
	     "criu: a truncated entry (%s)", err.msg);
	s.n = 0;
	T_OK(az_criu_pstree_read((const uint8_t *)img.data + 4, img.len - 4, pst_each, &s, &err) == 0 &&
		 s.n == 2,
	     "criu: the image magic alone, without the common magic");
	T_OK(az_criu_pstree_read((const uint8_t *)img.data + 1, img.len - 1, pst_each, &s, &err) < 0 &&
		 strstr(err.msg, "bad magic"),
	     "criu: bad magic (%s)", err.msg);
	ai_buf_reset(&img);
	ai_buf_reset(&msg);
	le32_put(&img, AZ_CRIU_PSTREE_MAGIC);
	pb_key(&msg, 2, 0), pb_varint_put(&msg, 1);
	criu_entry_put(&img, &msg);
	s.n = 0;
	T_OK(az_criu_pstree_read((const uint8_t *)img.data, img.len, pst_each, &s, &err) < 0 &&
		 strstr(err.msg, "entry 0: no pid"),
	     "criu: an entry without a pid (%s)", err.msg);
	ai_buf_reset(&img);
	le32_put(&img, AZ_CRIU_PSTREE_MAGIC);
	le32_put(&img, 2);
	ai_buf_add(&img, "\x08\x80", 2); /* pid: a varint that never ends */
	T_OK(az_criu_pstree_read((const uint8_t *)img.data, img.len, pst_each, &s, &err) < 0 &&
		 strstr(err.msg, "entry 0: malformed protobuf"),
	     "criu: a malformed entry (%s)", err.msg);

	/* core: tc (3) { task_state 1, comm 6 }, thread_core (5) { creds (10) { uid, gid, euid } } */
	struct ai_buf tc, th, cr;
	ai_buf_init(&tc);
	ai_buf_init(&th);
	ai_buf_init(&cr);
	pb_key(&tc, 1, 0), pb_varint_put(&tc, 6);
	pb_key(&tc, 6, 2), pb_varint_put(&tc, 5), ai_buf_add(&tc, "httpd", 5);
	pb_key(&cr, 1, 0), pb_varint_put(&cr, 1000);
	pb_key(&cr, 2, 0), pb_varint_put(&cr, 1001);
	pb_key(&cr, 3, 0), pb_varint_put(&cr, 0);
	pb_bytes(&th, 10, &cr);
	ai_buf_reset(&msg);
	pb_bytes(&msg, 3, &tc);
	pb_bytes(&msg, 5, &th);
	ai_buf_reset(&img);
	le32_put(&img, AZ_CRIU_IMG_COMMON_MAGIC);
	le32_put(&img, AZ_CRIU_CORE_MAGIC);
	criu_entry_put(&img, &msg);
	struct az_criu_core c;
	T_OK(az_criu_core_read((const uint8_t *)img.data, img.len, &c, &err) == 0 && c.have_state &&
		 c.state == 6 && c.comm_len == 5 && !memcmp(c.comm, "httpd", 5) && c.have_creds &&
		 c.uid[0] == 1000 && c.gid[0] == 1001 && c.uid[1] == 0 && c.gid[1] == -1 && c.uid[3] == -1,
	     "criu: core state, comm and creds");
	T_OK(az_criu_core_read((const uint8_t *)img.data, 8, &c, &err) < 0 && strstr(err.msg, "no entry"),
	     "criu: a core image without an entry (%s)", err.msg);
	ai_buf_reset(&tc);
	pb_key(&tc, 6, 2), pb_varint_put(&tc, 3), ai_buf_add(&tc, "a\0b", 3);
	ai_buf_reset(&msg);
	pb_bytes(&msg, 3, &tc);
	ai_buf_reset(&img);
	le32_put(&img, AZ_CRIU_CORE_MAGIC);
	criu_entry_put(&img, &msg);
	T_OK(az_criu_core_read((const uint8_t *)img.data, img.len, &c, &err) < 0 &&
		 strstr(err.msg, "bad comm"),
	     "criu: a comm holding a NUL byte is refused (%s)", err.msg);
	ai_buf_free(&tc);
	ai_buf_free(&th);
	ai_buf_free(&cr);
	ai_buf_free(&img);
	ai_buf_free(&msg);
	ai_buf_free(&sub);
}

struct ghost_pieces {
	struct ai_buf content; /* the file as the pieces rebuild it, holes as zeros */
	int n;
};

static int ghost_piece(void *ud, uint64_t off, const uint8_t *p, size_t len, ai_err_t *err)
{
	struct ghost_pieces *g = ud;
	while (g->content.len < off)
		ai_buf_addc(&g->content, '\0');
	ai_buf_add(&g->content, p, len);
	g->n++;
	return 0;
}

static int sock_seen(void *ud, const struct az_criu_file *f, ai_err_t *err)
{
	struct az_criu_file *out = ud;
	if (f->type == AZ_CRIU_FD_INETSK)
		*out = *f;
	return 0;
}

/* criu_files.c: a chunked ghost file (content with a hole), a chunk out of order, and an inet
 * socket with packed addresses. */
static void test_criu_files(void)
{
	struct ai_buf img, msg;
	ai_buf_init(&img);
	ai_buf_init(&msg);
	ai_err_t err;
	le32_put(&img, AZ_CRIU_IMG_COMMON_MAGIC);
	le32_put(&img, AZ_CRIU_GHOST_FILE_MAGIC);
	pb_key(&msg, 3, 0), pb_varint_put(&msg, 0100644);
	pb_key(&msg, 5, 0), pb_varint_put(&msg, 77);
	pb_key(&msg, 9, 0), pb_varint_put(&msg, 1);
	pb_key(&msg, 10, 0), pb_varint_put(&msg, 12);
	criu_entry_put(&img, &msg);
	size_t head = img.len;
	ai_buf_reset(&msg);
	pb_key(&msg, 1, 0), pb_varint_put(&msg, 3); /* 3 bytes at 0 */
	pb_key(&msg, 2, 0), pb_varint_put(&msg, 0);
	criu_entry_put(&img, &msg);
	ai_buf_add(&img, "abc", 3);
	ai_buf_reset(&msg);
	pb_key(&msg, 1, 0), pb_varint_put(&msg, 2); /* 2 bytes at 8: a hole of 5 between */
	pb_key(&msg, 2, 0), pb_varint_put(&msg, 8);
	criu_entry_put(&img, &msg);
	ai_buf_add(&img, "xy", 2);
	struct ghost_pieces g = {.n = 0};
	ai_buf_init(&g.content);
	struct az_criu_ghost gh;
	T_OK(az_criu_ghost_read((const uint8_t *)img.data, img.len, &gh, ghost_piece, &g, &err) == 0 &&
		 g.n == 2 && gh.chunks && gh.size == 12 && gh.ino == 77 && g.content.len == 10 &&
		 !memcmp(g.content.data, "abc\0\0\0\0\0xy", 10),
	     "criu: a chunked ghost file's pieces at their offsets (%s)", err.msg);
	/* the second chunk moved before the first: refused */
	struct ai_buf bad;
	ai_buf_init(&bad);
	ai_buf_add(&bad, img.data, head);
	ai_buf_add(&bad, img.data + img.len - (img.len - head) / 2, (img.len - head) / 2);
	ai_buf_add(&bad, img.data + head, (img.len - head) - (img.len - head) / 2);
	ai_buf_reset(&g.content);
	T_OK(az_criu_ghost_read((const uint8_t *)bad.data, bad.len, &gh, ghost_piece, &g, &err) < 0,
	     "criu: ghost chunks out of order are refused (%s)", err.msg);
	ai_buf_reset(&img);
	ai_buf_reset(&msg);
	le32_put(&img, AZ_CRIU_IMG_COMMON_MAGIC);
	le32_put(&img, AZ_CRIU_FILES_MAGIC);
	struct ai_buf isk, addr;
	ai_buf_init(&isk);
	ai_buf_init(&addr);
	pb_key(&isk, 2, 0), pb_varint_put(&isk, 4242);
	pb_key(&isk, 3, 0), pb_varint_put(&isk, 2);
	pb_key(&isk, 6, 0), pb_varint_put(&isk, 10);
	pb_key(&isk, 7, 0), pb_varint_put(&isk, 8080);
	pb_varint_put(&addr, 0x0100007f); /* 127.0.0.1 as CRIU stores it */
	pb_bytes(&isk, 11, &addr);
	pb_key(&msg, 1, 0), pb_varint_put(&msg, AZ_CRIU_FD_INETSK);
	pb_key(&msg, 2, 0), pb_varint_put(&msg, 9);
	pb_bytes(&msg, 4, &isk);
	criu_entry_put(&img, &msg);
	struct az_criu_file f = {0};
	T_OK(az_criu_files_read((const uint8_t *)img.data, img.len, sock_seen, &f, &err) == 0 && f.id == 9 &&
		 f.ino == 4242 && f.family == 2 && f.state == 10 && f.src_port == 8080 && f.nsrc == 1 &&
		 f.src_addr[0] == 0x0100007f,
	     "criu: an inet socket entry of files.img (%s)", err.msg);
	ai_buf_free(&isk);
	ai_buf_free(&addr);
	ai_buf_free(&bad);
	ai_buf_free(&g.content);
	ai_buf_free(&img);
	ai_buf_free(&msg);
}

int main(void)
{
	test_mode_strings();
	test_text_escaping();
	test_bodyfile_escaping();
	test_proc_tree();
	test_json_records();
	test_attribution();
	test_walk_pipeline();
	test_json_stream();
	test_json_push();
	test_json_cut();
	test_sums();
	test_layer_limit();
	test_input_detection();
	test_identity();
	test_criu();
	test_criu_files();
	return t_done();
}
