/* The mountinfo line and overlay super option parser (capture/mountinfo.c). Unit tests link
 * only libcommon, so the parser source is included directly. */
#include "capture/mountinfo.c"
#include <stdio.h>
#include "common/buf.h"

static int failures;

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
			failures++;                                                                          \
		}                                                                                            \
	} while (0)

static bool str_is(const struct ai_mi_str *s, const char *want, size_t wlen)
{
	return s->len == wlen && memcmp(s->s, want, wlen) == 0;
}
#define STR_IS(f, lit) str_is(&(f), lit, sizeof(lit) - 1)

static int parse(const char *text, struct ai_mountinfo *m, char **keep)
{
	ai_err_t err = {0};
	*keep = strdup(text);
	return ai_mountinfo_parse_line(*keep, strlen(text), m, &err);
}

static void test_podman_root(void)
{
	cleanup_free char *l = NULL;
	struct ai_mountinfo m;
	CHECK(parse("76 49 0:39 / / rw,relatime - overlay overlay "
		    "rw,lowerdir=/var/lib/containers/storage/overlay/l/"
		    "PDMA:/var/lib/containers/storage/overlay/l/QQQ,upperdir=/var/lib/containers/storage/"
		    "overlay/8c/"
		    "diff,workdir=/var/lib/containers/storage/overlay/8c/work,uuid=on",
		    &m, &l) == 0);
	CHECK(m.mount_id == 76 && m.parent_id == 49 && m.major == 0 && m.minor == 39);
	CHECK(STR_IS(m.root, "/") && STR_IS(m.mount_point, "/"));
	CHECK(STR_IS(m.options, "rw,relatime"));
	CHECK(m.optional.len == 0);
	CHECK(STR_IS(m.fstype, "overlay") && STR_IS(m.source, "overlay"));

	struct ai_ovl_opts o;
	ai_err_t err = {0};
	CHECK(ai_mountinfo_parse_overlay(m.super_options.s, m.super_options.len, &o, &err) == 0);
	CHECK(o.nlower == 2 && o.ndata == 0);
	if (o.nlower == 2) {
		CHECK(strcmp(o.lowerdirs[0], "/var/lib/containers/storage/overlay/l/PDMA") == 0);
		CHECK(strcmp(o.lowerdirs[1], "/var/lib/containers/storage/overlay/l/QQQ") == 0);
	}
	CHECK(o.upperdir && strcmp(o.upperdir, "/var/lib/containers/storage/overlay/8c/diff") == 0);
	CHECK(o.workdir && strcmp(o.workdir, "/var/lib/containers/storage/overlay/8c/work") == 0);
	CHECK(!o.metacopy && !o.userxattr && !o.redirect_dir);
	ai_mountinfo_ovl_free(&o);
}

static void test_optional_and_escapes(void)
{
	cleanup_free char *l = NULL;
	struct ai_mountinfo m;
	CHECK(parse("36 35 98:0 /mnt\\040with\\011tab /a\\134b\\012c rw,noatime master:1 shared:7 - ext3 "
		    "/dev/root\\040x rw,errors=continue",
		    &m, &l) == 0);
	CHECK(STR_IS(m.root, "/mnt with\ttab"));
	CHECK(STR_IS(m.mount_point, "/a\\b\nc"));
	CHECK(STR_IS(m.optional, "master:1 shared:7"));
	CHECK(STR_IS(m.fstype, "ext3"));
	CHECK(STR_IS(m.source, "/dev/root x"));
	CHECK(STR_IS(m.super_options, "rw,errors=continue"));
	CHECK(m.major == 98 && m.minor == 0);
}

static void test_nul_escape_keeps_length(void)
{
	cleanup_free char *l = NULL;
	struct ai_mountinfo m;
	CHECK(parse("1 2 3:4 / /x\\000y rw - tmpfs none rw", &m, &l) == 0);
	CHECK(m.mount_point.len == 4 && memcmp(m.mount_point.s, "/x\0y", 4) == 0);
}

static void test_bad_lines(void)
{
	const char *bad[] = {
	    "",
	    "76 49 0:39 / /",
	    "76 49 0:39 / / rw shared:1 overlay overlay rw", /* no "-" */
	    "x 49 0:39 / / rw - overlay overlay rw",	     /* bad id */
	    "76 49 039 / / rw - overlay overlay rw",	     /* bad dev */
	    "76 49 0:39 / / rw -",			     /* no fstype */
	    "76 49 0:39 / / rw - overlay",		     /* no source */
	    "99999999999999999999999 1 0:1 / / rw - a b c",  /* overflow */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_free char *l = NULL;
		struct ai_mountinfo m;
		if (parse(bad[i], &m, &l) == 0) {
			fprintf(stderr, "accepted bad line %zu: %s\n", i, bad[i]);
			failures++;
		}
	}
	/* A missing super options field is fine: the kernel always writes it but it may be empty. */
	cleanup_free char *l = NULL;
	struct ai_mountinfo m;
	CHECK(parse("1 2 3:4 / / rw - tmpfs none", &m, &l) == 0 && m.super_options.len == 0);
}

static void check_lowers(const char *opts, size_t n, const char *const *want, size_t ndata)
{
	struct ai_ovl_opts o;
	ai_err_t err = {0};
	if (ai_mountinfo_parse_overlay(opts, strlen(opts), &o, &err) < 0) {
		fprintf(stderr, "parse_overlay(%s): %s\n", opts, err.msg);
		failures++;
		return;
	}
	CHECK(o.nlower == n);
	CHECK(o.ndata == ndata);
	for (size_t i = 0; i < n && i < o.nlower; i++) {
		if (strcmp(o.lowerdirs[i], want[i]) != 0) {
			fprintf(stderr, "%s: lowerdir %zu is \"%s\", want \"%s\"\n", opts, i, o.lowerdirs[i],
				want[i]);
			failures++;
		}
	}
	ai_mountinfo_ovl_free(&o);
}

static void test_lowerdir_escapes(void)
{
	/* Kernel >= 6.5: paths unescaped, ':' shown as \072, ',' as \054. */
	check_lowers("rw,lowerdir=/l/a\\072b:/l/c\\054d,upperdir=/u", 2, (const char *[]){"/l/a:b", "/l/c,d"},
		     0);
	/* Older kernels: the user's "\:" shown with its backslash escaped. */
	check_lowers("rw,lowerdir=/l/a\\134:b:/l/c,upperdir=/u", 2, (const char *[]){"/l/a:b", "/l/c"}, 0);
	check_lowers("lowerdir=/l/back\\134\\134slash", 1, (const char *[]){"/l/back\\slash"}, 0);
	/* A real backslash in a new kernel's path. */
	check_lowers("lowerdir=/l/x\\134y", 1, (const char *[]){"/l/x\\y"}, 0);
	/* Raw "\:" and "\," as the user typed them. */
	check_lowers("lowerdir=/l/a\\:b:/l/c\\,d,workdir=/w", 2, (const char *[]){"/l/a:b", "/l/c,d"}, 0);
	/* Spaces and tabs. */
	check_lowers("lowerdir=/l/a\\040b:/l/t\\011", 2, (const char *[]){"/l/a b", "/l/t\t"}, 0);
	/* Data-only layers after "::". */
	check_lowers("lowerdir=/l/1:/l/2::/d/1:/d/2", 4, (const char *[]){"/l/1", "/l/2", "/d/1", "/d/2"}, 2);
	/* Last lowerdir option wins. */
	check_lowers("lowerdir=/old,lowerdir=/new", 1, (const char *[]){"/new"}, 0);

	const char *bad[] = {"lowerdir=", "lowerdir=:/a", "lowerdir=/a:", "lowerdir=/a::/b::/c",
			     "lowerdir=/a:::/b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ai_ovl_opts o;
		ai_err_t err = {0};
		if (ai_mountinfo_parse_overlay(bad[i], strlen(bad[i]), &o, &err) == 0) {
			fprintf(stderr, "accepted bad options: %s\n", bad[i]);
			failures++;
			ai_mountinfo_ovl_free(&o);
		} else {
			CHECK(o.nlower == 0 && o.lowerdirs == NULL);
		}
	}
}

static void test_other_options(void)
{
	struct ai_ovl_opts o;
	ai_err_t err = {0};
	const char *s =
	    "rw,lowerdir=/l,upperdir=/u\\054x,workdir=/w\\040y,redirect_dir=on,metacopy=on,userxattr";
	CHECK(ai_mountinfo_parse_overlay(s, strlen(s), &o, &err) == 0);
	CHECK(o.upperdir && strcmp(o.upperdir, "/u,x") == 0);
	CHECK(o.workdir && strcmp(o.workdir, "/w y") == 0);
	CHECK(o.redirect_dir && strcmp(o.redirect_dir, "on") == 0);
	CHECK(o.metacopy && o.userxattr);
	ai_mountinfo_ovl_free(&o);

	s = "rw,metacopy=off,upperdir=/u\\,v";
	CHECK(ai_mountinfo_parse_overlay(s, strlen(s), &o, &err) == 0);
	CHECK(!o.metacopy && o.nlower == 0);
	CHECK(o.upperdir && strcmp(o.upperdir, "/u,v") == 0);
	ai_mountinfo_ovl_free(&o);

	/* Too many layers is refused, not grown without bound. */
	struct ai_buf b;
	ai_buf_init(&b);
	ai_buf_adds(&b, "lowerdir=/a");
	for (int i = 0; i < AI_OVL_MAX_LOWER; i++)
		ai_buf_adds(&b, ":/a");
	CHECK(ai_mountinfo_parse_overlay(b.data, b.len, &o, &err) < 0);
	ai_buf_free(&b);
}

static void test_unescape(void)
{
	char s[] = "a\\040b\\13\\999\\";
	size_t n = ai_mountinfo_unescape(s, strlen(s));
	CHECK(n == strlen("a b\\13\\999\\") && memcmp(s, "a b\\13\\999\\", n) == 0);
}

int main(void)
{
	test_podman_root();
	test_optional_and_escapes();
	test_nul_escape_keeps_length();
	test_bad_lines();
	test_lowerdir_escapes();
	test_other_options();
	test_unescape();
	if (failures) {
		fprintf(stderr, "test_mountinfo: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_mountinfo: ok\n");
	return 0;
}
