/* Fuzz target: OCI image documents through analyze/oci.c (index.json, nested indexes, manifests,
 * configs; docker-archive's manifest.json and its layer symlinks). An image given to --image is
 * as hostile as the bundle. The input describes the members of the outer tar, so the fuzzer
 * mutates the documents rather than tar headers (the analyze_archive target has those):
 *   NAME "\n" CONTENT, records separated by a NUL byte; NAME "@LINK" makes LINK a symlink to
 *   CONTENT.
 * The tar is written to a memfd and opened as oci-archive (untagged and :latest) and as
 * docker-archive. tests/fuzz/corpus/oci holds the test image's real documents in this form. */
#include "analyze/oci.h"
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_MEMBERS 64

static volatile unsigned sink;

static void member(struct archive *a, const char *rec, size_t len)
{
	const char *nl = memchr(rec, '\n', len);
	size_t nlen = nl ? (size_t)(nl - rec) : len;
	const char *body = nl ? nl + 1 : rec + len;
	size_t blen = (size_t)(rec + len - body);
	bool link = nlen > 0 && rec[0] == '@';
	char name[512], target[512];
	if (link) {
		rec++;
		nlen--;
	}
	if (nlen == 0 || nlen >= sizeof(name) || (link && blen >= sizeof(target)))
		return;
	memcpy(name, rec, nlen);
	name[nlen] = '\0';
	struct archive_entry *e = archive_entry_new();
	if (!e)
		abort();
	archive_entry_set_pathname(e, name);
	archive_entry_set_perm(e, 0644);
	if (link) {
		memcpy(target, body, blen);
		target[blen] = '\0';
		archive_entry_set_filetype(e, AE_IFLNK);
		archive_entry_set_symlink(e, target);
		archive_entry_set_size(e, 0);
	} else {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_size(e, (la_int64_t)blen);
	}
	if (archive_write_header(a, e) == ARCHIVE_OK && !link && blen)
		archive_write_data(a, body, blen);
	archive_entry_free(e);
}

static bool hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

/* What an opened image promises image.c: digests of the checked form, blobs named from them. */
static void check(const struct az_image *img)
{
	if (img->nlayers > AZ_MAX_LAYERS || (img->nlayers && !img->layers) || (img->nhist && !img->hist))
		abort();
	for (size_t i = 0; i < img->nlayers; i++) {
		const struct az_layer *l = &img->layers[i];
		if (strncmp(l->digest, "sha256:", 7) || !hex64(l->digest + 7) ||
		    strncmp(l->diff_id, "sha256:", 7) || !hex64(l->diff_id + 7) ||
		    !memchr(l->blob, 0, sizeof(l->blob)) || !memchr(l->media_type, 0, sizeof(l->media_type)))
			abort();
		if (img->kind == AZ_IMG_OCI_ARCHIVE &&
		    (strncmp(l->blob, "blobs/sha256/", 13) || strcmp(l->blob + 13, l->digest + 7)))
			abort();
		for (size_t k = 0; k < l->created_by.len; k++)
			sink += (unsigned char)l->created_by.s[k];
	}
	for (size_t i = 0; i < img->nhist; i++)
		for (size_t k = 0; k < img->hist[i].created_by.len; k++)
			sink += (unsigned char)img->hist[i].created_by.s[k];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-oci", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	struct archive *a = archive_write_new();
	if (!a)
		abort();
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_fd(a, fd) == ARCHIVE_OK) {
		const char *p = (const char *)data, *end = p + size;
		for (int n = 0; p < end && n < MAX_MEMBERS; n++) {
			const char *nul = memchr(p, '\0', (size_t)(end - p));
			const char *e = nul ? nul : end;
			member(a, p, (size_t)(e - p));
			p = e + 1;
		}
		archive_write_close(a);
	}
	archive_write_free(a);

	static const char *const kinds[] = {"oci-archive:%s", "oci-archive:%s:latest", "docker-archive:%s"};
	char path[64], ref[96];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		snprintf(ref, sizeof(ref), kinds[k], path);
		struct az_image img;
		ai_err_t err;
		if (az_image_open(&img, ref, &err) == 0)
			check(&img);
		az_image_free(&img);
	}
	close(fd);
	return 0;
}

#include "tests/fuzz/driver.inc"
