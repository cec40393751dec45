/* The containers/storage container-list scanner (capture/storejson.c): the real form podman 4.3
 * writes, and hostile ones: the id inside another string or a nested object, escaped quotes,
 * \u escapes, every truncation of a real list, a list of 100,000 entries, nesting 100,000 deep,
 * ambiguous entries, bad image ids and names. */
#include "capture/storejson.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/buf.h"
#include "tests/unit/t.h"

#define ID  "dcb61276e009c3317f5ed7758f8f8e732a253aa352c5f3604108d1c257014b5d"
#define IMG "57b36a38aca5d70ccf5a6a29776f3dcdacd709f27af9311c262c782b8cd511c5"
#define LAY "51b912d32a19817c8f86ab24536a257b741736859ccd105f050271e1836a9db2"

/* As podman 4.3 wrote it on this project's test machine. */
static const char real[] =
    "[{\"id\":\"" ID "\",\"names\":[\"probe\"],\"image\":\"" IMG "\",\"layer\":\"" LAY "\","
    "\"metadata\":\"{\\\"image-name\\\":\\\"localhost/afterimage-test:3\\\",\\\"image-id\\\":\\\"" IMG
    "\\\",\\\"name\\\":\\\"probe\\\",\\\"created-at\\\":1796233020}\","
    "\"created\":\"2026-12-02T17:37:00.135910829Z\",\"flags\":{\"MountLabel\":\"\",\"ProcessLabel\":\"\"}}]";

static int find(const char *doc, struct ai_store_entry *e)
{
	ai_err_t err = {0};
	return ai_store_find(doc, strlen(doc), ID, e, &err);
}

static void test_real(void)
{
	struct ai_store_entry e;
	T_OK(find(real, &e) == 1, "real: the entry is found");
	T_STREQ(e.image_id, IMG, "real: its image id");
	T_STREQ(e.layer, LAY, "real: its layer");
	T_STREQ(e.image_name, "localhost/afterimage-test:3", "real: the image name from the metadata string");
	T_OK(e.image_name_len == strlen("localhost/afterimage-test:3") && !e.name_cut, "real: name length");
	ai_err_t err = {0};
	T_OK(ai_store_find(real, strlen(real),
			   "0000000000000000000000000000000000000000000000000000000000000000", &e,
			   &err) == 0 &&
		 !e.image_id[0],
	     "real: another id is not there");
	T_OK(ai_store_find(real, strlen(real), "dcb6", &e, &err) < 0,
	     "a short id is refused, not prefix-matched");
	T_OK(find("[]", &e) == 0 && find(" [ ] \n", &e) == 0, "an empty list");
}

static void test_id_elsewhere(void)
{
	struct ai_store_entry e;
	/* the id in names, in metadata, as a nested key, as a key, as the image */
	const char *docs[] = {
	    "[{\"id\":\"x\",\"names\":[\"" ID "\"],\"image\":\"" IMG "\"}]",
	    "[{\"id\":\"x\",\"metadata\":\"{\\\"id\\\":\\\"" ID "\\\"}\",\"image\":\"" IMG "\"}]",
	    "[{\"id\":\"x\",\"flags\":{\"id\":\"" ID "\"},\"image\":\"" IMG "\"}]",
	    "[{\"" ID "\":\"" ID "\",\"image\":\"" IMG "\"}]",
	    "[{\"id\":\"x\",\"image\":\"" ID "\"}]",
	    "[[{\"id\":\"" ID "\",\"image\":\"" IMG "\"}]]",
	    "[{\"id\":\"x\\\",\\\"id\\\":\\\"" ID "\",\"image\":\"" IMG "\"}]",
	    "[{\"id\":\"" ID "x\",\"image\":\"" IMG "\"}]",
	    "[{\"id\":\"x" ID "\",\"image\":\"" IMG "\"}]",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		int rc = find(docs[i], &e);
		T_OK(rc <= 0 && !e.image_id[0],
		     "the id outside an entry's own \"id\" never matches (%zu: rc %d)", i, rc);
	}
	/* an escaped quote before the real entry does not shift the scan */
	const char *esc =
	    "[{\"id\":\"a\\\"b\",\"names\":[\"\\\"id\\\":\\\"" ID
	    "\\\"\"],\"image\":\"0000000000000000000000000000000000000000000000000000000000000000\"},"
	    "{\"id\":\"" ID "\",\"image\":\"" IMG "\"}]";
	T_OK(find(esc, &e) == 1, "escaped quotes: the real entry is found");
	T_STREQ(e.image_id, IMG, "escaped quotes: and its image, not the other entry's");
	/* \u escapes in the id and the key: the same id */
	const char *u =
	    "[{\"\\u0069d\":\"\\u0064cb61276e009c3317f5ed7758f8f8e732a253aa352c5f3604108d1c257014b5d\","
	    "\"image\":\"" IMG "\"}]";
	T_OK(find(u, &e) == 1 && !strcmp(e.image_id, IMG), "\\u escapes: the same key and id");
}

static void test_ambiguous_and_bad(void)
{
	struct ai_store_entry e;
	ai_err_t err = {0};
	const char *two =
	    "[{\"id\":\"" ID "\",\"image\":\"" IMG "\"},{\"id\":\"" ID "\",\"image\":\"" LAY "\"}]";
	T_OK(ai_store_find(two, strlen(two), ID, &e, &err) < 0 && strstr(err.msg, "second entry") &&
		 !e.image_id[0],
	     "the id twice: refused, nothing taken (%s)", err.msg);
	const char *dup = "[{\"id\":\"" ID "\",\"image\":\"" IMG "\",\"image\":\"" LAY "\"}]";
	T_OK(ai_store_find(dup, strlen(dup), ID, &e, &err) < 0 && strstr(err.msg, "twice"),
	     "a key twice in the entry: refused (%s)", err.msg);
	const char *dupo =
	    "[{\"id\":\"x\",\"image\":\"1\",\"image\":\"2\"},{\"id\":\"" ID "\",\"image\":\"" IMG "\"}]";
	T_OK(find(dupo, &e) == 1, "a key twice in another entry: not this one's business");
	const char *bads[] = {"\"57B36A38ACA5D70CCF5A6A29776F3DCDACD709F27AF9311C262C782B8CD511C5\"",
			      "\"sha256:" IMG "\"",
			      "\"" IMG "0\"",
			      "\"\"",
			      "null",
			      "42",
			      "{\"x\":1}",
			      "\"57b36a38aca5d70ccf5a6a29776f3dcdacd709f27af9311c262c782b8cd511c\\u0000\""};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char doc[512];
		snprintf(doc, sizeof(doc), "[{\"id\":\"" ID "\",\"image\":%s}]", bads[i]);
		T_OK(find(doc, &e) == 1 && !e.image_id[0] && e.image_id_bad, "image %s: not taken as an id",
		     bads[i]);
	}
	T_OK(find("[{\"id\":\"" ID "\"}]", &e) == 1 && !e.image_id[0] && !e.image_id_bad, "no image key");
	const char *notj[] = {"",
			      "{}",
			      "[{}",
			      "[{\"id\":}]",
			      "[1]",
			      "[{\"id\" \"x\"}]",
			      "[{}] x",
			      "[{\"a\":[}]",
			      "[{\"a\":\"\n\"}]",
			      "[{\"a\":tru\"e\"}]"};
	for (size_t i = 0; i < sizeof(notj) / sizeof(notj[0]); i++)
		T_OK(find(notj[i], &e) < 0, "not a list: refused (%zu)", i);
}

static void name_case(const char *meta, const char *want, bool cut, const char *what)
{
	struct ai_buf d;
	ai_buf_init(&d);
	ai_buf_printf(&d, "[{\"id\":\"" ID "\",\"image\":\"" IMG "\",\"metadata\":%s}]", meta);
	struct ai_store_entry e;
	int rc = find(ai_buf_cstr(&d), &e);
	T_OK(rc == 1 && !strcmp(e.image_id, IMG), "%s: the entry and its id", what);
	T_STREQ(e.image_name, want, "%s: the name", what);
	T_OK(e.name_cut == cut, "%s: cut %d", what, cut);
	ai_buf_free(&d);
}

static void test_names(void)
{
	name_case("\"{\\\"image-name\\\":\\\"a\\\\u0026b\\\"}\"", "a&b", false,
		  "an escape inside the metadata string");
	name_case("\"{\\\"image-name\\\":\\\"\\\\ud83d\\\\ude00\\\"}\"", "\xf0\x9f\x98\x80", false,
		  "a surrogate pair");
	name_case("\"{\\\"image-name\\\":\\\"\\\\ud83d\\\"}\"", "", false, "a lone surrogate: no name");
	name_case("\"{\\\"image-name\\\":\\\"a\\\\u0000b\\\"}\"", "", false, "a NUL: no name");
	name_case("\"not json\"", "", false, "metadata not JSON: no name, not an error");
	name_case("{\"image-name\":\"x\"}", "", false, "metadata an object, not a string: no name");
	name_case("\"{\\\"x\\\":{\\\"image-name\\\":\\\"nested\\\"}}\"", "", false,
		  "a nested image-name: no name");
	name_case("\"{\\\"image-name\\\":\\\"a\\\",\\\"image-name\\\":\\\"b\\\"}\"", "", false,
		  "image-name twice: no name");
	char meta[2048];
	int n = snprintf(meta, sizeof(meta), "\"{\\\"image-name\\\":\\\"");
	memset(meta + n, 'x', 600);
	snprintf(meta + n + 600, sizeof(meta) - (size_t)n - 600, "\\\"}\"");
	name_case(meta, "", true, "a 600-byte name: not kept, said so");
}

static void test_truncated(void)
{
	size_t len = strlen(real), bad = 0;
	for (size_t i = 0; i < len; i++) {
		struct ai_store_entry e;
		ai_err_t err = {0};
		char *cut = malloc(i ? i : 1);
		memcpy(cut, real, i);
		if (ai_store_find(cut, i, ID, &e, &err) >= 0 || e.image_id[0])
			bad++;
		free(cut); /* exact-size buffer: ASan catches a read past the end */
	}
	T_OK(bad == 0, "every truncation of a real list (%zu of them) is refused, nothing taken", len);
}

static void test_huge(void)
{
	struct ai_buf d;
	ai_buf_init(&d);
	ai_buf_adds(&d, "[");
	for (int i = 0; i < 100000; i++)
		ai_buf_printf(&d,
			      "{\"id\":\"%064x\",\"names\":[\"c%d\"],\"image\":\"" IMG
			      "\",\"metadata\":\"{\\\"image-name\\\":"
			      "\\\"n%d\\\"}\"},",
			      i, i, i);
	ai_buf_adds(&d, "{\"id\":\"" ID "\",\"image\":\"" LAY "\"}]");
	struct ai_store_entry e;
	ai_err_t err = {0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = ai_store_find(d.data, d.len, ID, &e, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	T_OK(rc == 1 && !strcmp(e.image_id, LAY), "100,000 entries (%zu bytes): the last one found in %.3f s",
	     d.len, s);
	char mid[65];
	snprintf(mid, sizeof(mid), "%064x", 77777);
	T_OK(ai_store_find(d.data, d.len, mid, &e, &err) == 1 && !strcmp(e.image_name, "n77777"),
	     "100,000 entries: one in the middle, its name");
	ai_buf_free(&d);
	/* a value nested 100,000 deep: refused at the depth limit, no recursion */
	ai_buf_init(&d);
	ai_buf_adds(&d, "[{\"id\":\"x\",\"a\":");
	for (int i = 0; i < 100000; i++)
		ai_buf_addc(&d, '[');
	for (int i = 0; i < 100000; i++)
		ai_buf_addc(&d, ']');
	ai_buf_adds(&d, "},{\"id\":\"" ID "\",\"image\":\"" IMG "\"}]");
	T_OK(ai_store_find(d.data, d.len, ID, &e, &err) < 0 && strstr(err.msg, "deep"),
	     "nesting 100,000 deep: refused (%s)", err.msg);
	ai_buf_free(&d);
}

int main(void)
{
	test_real();
	test_id_elsewhere();
	test_ambiguous_and_bad();
	test_names();
	test_truncated();
	test_huge();
	return t_done();
}
