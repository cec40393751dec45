/* Benchmark input generator for afterimage-analyze layers (tests/bench/analyze.sh):
 *   analyze-gen OUTDIR LAYERS FILES_PER_LAYER UPPER [gzip]
 * writes OUTDIR/oci (an OCI image layout: LAYERS plain-tar layers of FILES_PER_LAYER tiny files,
 * 1% overriding layer 1's paths, a few whiteouts) and OUTDIR/bundle.tar (fs/upper.json with UPPER
 * entries, half modifications of image paths, half additions; mounts.json with LAYERS lowerdirs). */
#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void sha_file(const char *path, char hex[65])
{
	FILE *f = fopen(path, "rb");
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	char buf[1 << 16];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(c, buf, n);
	unsigned char md[32];
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	fclose(f);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

/* Move the file at tmp into OUT/oci/blobs/sha256/ under its digest; hex gets the digest. */
static void to_blob(const char *out, const char *tmp, char hex[65])
{
	char q[4096];
	sha_file(tmp, hex);
	snprintf(q, sizeof(q), "%s/oci/blobs/sha256/%s", out, hex);
	rename(tmp, q);
}

/* A bundle member. */
static void member(struct archive *a, const char *name, const char *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0444);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_write_header(a, e);
	archive_write_data(a, data, len);
	archive_entry_free(e);
}

static void add(struct archive *a, const char *name, int type, const char *data)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_mtime(e, 1700000000, 0);
	size_t len = data ? strlen(data) : 0;
	archive_entry_set_size(e, (la_int64_t)len);
	archive_write_header(a, e);
	if (len)
		archive_write_data(a, data, len);
	archive_entry_free(e);
}

static void put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	fputs(s, f);
	fclose(f);
}

int main(int argc, char **argv)
{
	if (argc != 5 && !(argc == 6 && !strcmp(argv[5], "gzip"))) {
		fprintf(stderr, "usage: analyze-gen OUTDIR LAYERS FILES_PER_LAYER UPPER [gzip]\n");
		return 2;
	}
	const char *out = argv[1];
	int L = atoi(argv[2]);
	long N = atol(argv[3]), U = atol(argv[4]);
	char p[4096], q[4096], name[512], hex[65];
	snprintf(p, sizeof(p), "%s/oci/blobs/sha256", out);
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", p);
	if (system(cmd) != 0)
		return 1;
	int gz = argc == 6;
	char(*digests)[72] = calloc((size_t)L, 72), (*diffids)[72] = calloc((size_t)L, 72);
	for (int l = 0; l < L; l++) {
		snprintf(p, sizeof(p), "%s/oci/layer.tmp", out);
		struct archive *a = archive_write_new();
		archive_write_set_format_pax_restricted(a);
		archive_write_open_filename(a, p);
		for (long j = 0; j < N; j++) {
			if (j % 1000 == 0) {
				snprintf(name, sizeof(name), "l%02d/d%04ld/", l, j / 1000);
				add(a, name, AE_IFDIR, NULL);
			}
			if (l > 0 && j % 100 == 0) /* override a layer-1 path */
				snprintf(name, sizeof(name), "l00/d%04ld/f%07ld", j / 1000, j);
			else if (l > 0 && j % 1000 == 1) /* whiteout a layer-1 path */
				snprintf(name, sizeof(name), "l00/d%04ld/.wh.f%07ld", j / 1000, j + 1);
			else
				snprintf(name, sizeof(name), "l%02d/d%04ld/f%07ld", l, j / 1000, j);
			snprintf(q, sizeof(q), "%d:%ld\n", l, j);
			add(a, name, AE_IFREG, q);
		}
		archive_write_close(a);
		archive_write_free(a);
		sha_file(p, hex);
		snprintf(diffids[l], 72, "sha256:%s", hex);
		if (gz) {
			snprintf(cmd, sizeof(cmd), "gzip -n -6 '%s' && mv '%s.gz' '%s'", p, p, p);
			if (system(cmd) != 0)
				return 1;
		}
		to_blob(out, p, hex);
		snprintf(digests[l], 72, "sha256:%s", hex);
	}
	/* config, manifest, index */
	char *buf = malloc((size_t)L * 400 + 4096);
	size_t n = (size_t)sprintf(
	    buf,
	    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
	for (int l = 0; l < L; l++)
		n += (size_t)sprintf(buf + n, "%s\"%s\"", l ? "," : "", diffids[l]);
	n += (size_t)sprintf(buf + n, "]},\"history\":[");
	for (int l = 0; l < L; l++)
		n += (size_t)sprintf(
		    buf + n, "%s{\"created\":\"2024-01-01T00:00:%02dZ\",\"created_by\":\"bench layer %d\"}",
		    l ? "," : "", l % 60, l + 1);
	sprintf(buf + n, "]}");
	snprintf(p, sizeof(p), "%s/oci/cfg.tmp", out);
	put(p, buf);
	to_blob(out, p, hex);
	char cfgd[72];
	snprintf(cfgd, sizeof(cfgd), "sha256:%s", hex);
	n = (size_t)sprintf(buf,
			    "{\"schemaVersion\":2,\"mediaType\":\"application/"
			    "vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/"
			    "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":1},\"layers\":[",
			    cfgd);
	for (int l = 0; l < L; l++)
		n += (size_t)sprintf(buf + n,
				     "%s{\"mediaType\":\"application/"
				     "vnd.oci.image.layer.v1.tar%s\",\"digest\":\"%s\",\"size\":1}",
				     l ? "," : "", gz ? "+gzip" : "", digests[l]);
	sprintf(buf + n, "]}");
	snprintf(p, sizeof(p), "%s/oci/man.tmp", out);
	put(p, buf);
	to_blob(out, p, hex);
	sprintf(buf,
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/"
		"vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:%s\",\"size\":1}]}",
		hex);
	snprintf(p, sizeof(p), "%s/oci/index.json", out);
	put(p, buf);
	snprintf(p, sizeof(p), "%s/oci/oci-layout", out);
	put(p, "{\"imageLayoutVersion\":\"1.0.0\"}");
	/* the bundle: fs/upper.json and mounts.json */
	size_t cap = (size_t)U * 300 + 4096, len = 0;
	char *up = malloc(cap);
	len += (size_t)sprintf(up, "{\"upperdir\":\"/u\",\"entries\":[");
	for (long i = 0; i < U; i++) {
		if (i % 2 == 0)
			snprintf(name, sizeof(name), "/l%02ld/d%04ld/f%07ld", (i / 2) % L,
				 ((i / 2) % N) / 1000, (i / 2) % N);
		else
			snprintf(name, sizeof(name), "/new/d%04ld/f%07ld", i / 1000, i);
		len += (size_t)sprintf(
		    up + len,
		    "%s{\"path\":\"%s\",\"type\":\"file\",\"mode\":\"0644\",\"uid\":0,\"gid\":0,\"size\":4,"
		    "\"mtime_ns\":1700000000000000000,\"atime_ns\":1700000000000000000,\"ctime_ns\":"
		    "1700000000000000000,"
		    "\"sha256\":\"%064d\",\"overlay\":[]}",
		    i ? "," : "", name, 0);
	}
	len += (size_t)sprintf(up + len, "]}");
	snprintf(p, sizeof(p), "%s/bundle.tar", out);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	archive_write_open_filename(a, p);
	member(a, "fs/upper.json", up, len);
	n = (size_t)sprintf(buf, "{\"mounts\":[],\"overlay\":{\"mount_point\":\"/\",\"lowerdirs\":[");
	for (int l = 0; l < L; l++)
		n += (size_t)sprintf(buf + n, "%s\"/l/%d\"", l ? "," : "", l);
	n += (size_t)sprintf(
	    buf + n, "],\"upperdir\":\"/u\",\"workdir\":\"/"
		     "w\",\"options\":\"\",\"metacopy\":false,\"redirect_dir\":null,\"userxattr\":false}}");
	member(a, "mounts.json", buf, n);
	archive_write_close(a);
	archive_write_free(a);
	free(up);
	free(buf);
	free(digests);
	free(diffids);
	return 0;
}
