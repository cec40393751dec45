/* The mountinfo line and overlay super option parser (capture/mountinfo.c). */
#include "capture/mountinfo.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/buf.h"
#include "common/cleanup.h"
#include "tests/unit/t.h"

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
	T_OK(parse("76 49 0:39 / / rw,relatime - overlay overlay "
		   "rw,lowerdir=/var/lib/containers/storage/overlay/l/"
		   "PDMA:/var/lib/containers/storage/overlay/l/QQQ,upperdir=/var/lib/containers/storage/"
		   "overlay/8c/"
		   "diff,workdir=/var/lib/containers/storage/overlay/8c/work,uuid=on",
		   &m, &l) == 0,
	     "podman root: the line parses");
	T_OK(m.mount_id == 76 && m.parent_id == 49 && m.major == 0 && m.minor == 39,
	     "podman root: ids and dev");
	T_OK(STR_IS(m.root, "/") && STR_IS(m.mount_point, "/"), "podman root: root and mount point");
	T_OK(STR_IS(m.options, "rw,relatime"), "podman root: mount options");
	T_OK(m.optional.len == 0, "podman root: no optional fields");
	T_OK(STR_IS(m.fstype, "overlay") && STR_IS(m.source, "overlay"), "podman root: fstype and source");

	struct ai_ovl_opts o;
	ai_err_t err = {0};
	T_OK(ai_mountinfo_parse_overlay(m.super_options.s, m.super_options.len, &o, &err) == 0,
	     "podman root: the overlay options parse");
	T_OK(o.nlower == 2 && o.ndata == 0, "podman root: two lowerdirs, no data-only ones");
	if (o.nlower == 2) {
		T_STREQ(o.lowerdirs[0], "/var/lib/containers/storage/overlay/l/PDMA",
			"podman root: lowerdir 0");
		T_STREQ(o.lowerdirs[1], "/var/lib/containers/storage/overlay/l/QQQ",
			"podman root: lowerdir 1");
	}
	T_STREQ(o.upperdir, "/var/lib/containers/storage/overlay/8c/diff", "podman root: upperdir");
	T_STREQ(o.workdir, "/var/lib/containers/storage/overlay/8c/work", "podman root: workdir");
	T_OK(!o.metacopy && !o.userxattr && !o.redirect_dir,
	     "podman root: no metacopy, userxattr, redirect_dir");
	ai_mountinfo_ovl_free(&o);
}

static void test_optional_and_escapes(void)
{
	cleanup_free char *l = NULL;
	struct ai_mountinfo m;
	T_OK(parse("36 35 98:0 /mnt\\040with\\011tab /a\\134b\\012c rw,noatime master:1 shared:7 - ext3 "
		   "/dev/root\\040x rw,errors=continue",
		   &m, &l) == 0,
	     "escapes: the line parses");
	T_OK(STR_IS(m.root, "/mnt with\ttab"), "escapes: space and tab in the root");
	T_OK(STR_IS(m.mount_point, "/a\\b\nc"), "escapes: backslash and newline in the mount point");
	T_OK(STR_IS(m.optional, "master:1 shared:7"), "escapes: two optional fields");
	T_OK(STR_IS(m.fstype, "ext3"), "escapes: fstype");
	T_OK(STR_IS(m.source, "/dev/root x"), "escapes: space in the source");
	T_OK(STR_IS(m.super_options, "rw,errors=continue"), "escapes: super options");
	T_OK(m.major == 98 && m.minor == 0, "escapes: dev");
}

static void test_nul_escape_keeps_length(void)
{
	cleanup_free char *l = NULL;
	struct ai_mountinfo m;
	T_OK(parse("1 2 3:4 / /x\\000y rw - tmpfs none rw", &m, &l) == 0, "NUL escape: the line parses");
	T_OK(m.mount_point.len == 4 && memcmp(m.mount_point.s, "/x\0y", 4) == 0,
	     "NUL escape: the mount point keeps its NUL and its length");
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
		T_OK(parse(bad[i], &m, &l) < 0, "bad line %zu refused: %s", i, bad[i]);
	}
	/* A missing super options field is fine: the kernel always writes it but it may be empty. */
	cleanup_free char *l = NULL;
	struct ai_mountinfo m;
	T_OK(parse("1 2 3:4 / / rw - tmpfs none", &m, &l) == 0 && m.super_options.len == 0,
	     "a line without super options parses, with empty ones");
}

static void check_lowers(const char *opts, size_t n, const char *const *want, size_t ndata)
{
	struct ai_ovl_opts o;
	ai_err_t err = {0};
	int r = ai_mountinfo_parse_overlay(opts, strlen(opts), &o, &err);
	T_OK(r == 0, "%s: parses (%s)", opts, r == 0 ? "ok" : err.msg);
	if (r < 0)
		return;
	T_OK(o.nlower == n, "%s: %zu lowerdirs (got %zu)", opts, n, o.nlower);
	T_OK(o.ndata == ndata, "%s: %zu data-only lowerdirs (got %zu)", opts, ndata, o.ndata);
	for (size_t i = 0; i < n && i < o.nlower; i++)
		T_STREQ(o.lowerdirs[i], want[i], "%s: lowerdir %zu", opts, i);
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
		int r = ai_mountinfo_parse_overlay(bad[i], strlen(bad[i]), &o, &err);
		T_OK(r < 0, "bad options refused: %s", bad[i]);
		if (r == 0)
			ai_mountinfo_ovl_free(&o);
		else
			T_OK(o.nlower == 0 && o.lowerdirs == NULL, "bad options leave no lowerdirs: %s",
			     bad[i]);
	}
}

static void test_other_options(void)
{
	struct ai_ovl_opts o;
	ai_err_t err = {0};
	const char *s =
	    "rw,lowerdir=/l,upperdir=/u\\054x,workdir=/w\\040y,redirect_dir=on,metacopy=on,userxattr";
	T_OK(ai_mountinfo_parse_overlay(s, strlen(s), &o, &err) == 0, "other options: parse");
	T_STREQ(o.upperdir, "/u,x", "other options: upperdir with an escaped comma");
	T_STREQ(o.workdir, "/w y", "other options: workdir with an escaped space");
	T_STREQ(o.redirect_dir, "on", "other options: redirect_dir");
	T_OK(o.metacopy && o.userxattr, "other options: metacopy and userxattr");
	ai_mountinfo_ovl_free(&o);

	s = "rw,metacopy=off,upperdir=/u\\,v";
	T_OK(ai_mountinfo_parse_overlay(s, strlen(s), &o, &err) == 0, "metacopy=off: parses");
	T_OK(!o.metacopy && o.nlower == 0, "metacopy=off: no metacopy, no lowerdir");
	T_STREQ(o.upperdir, "/u,v", "a raw \\, in the upperdir");
	ai_mountinfo_ovl_free(&o);

	/* Too many layers is refused, not grown without bound. */
	struct ai_buf b;
	ai_buf_init(&b);
	ai_buf_adds(&b, "lowerdir=/a");
	for (int i = 0; i < AI_OVL_MAX_LOWER; i++)
		ai_buf_adds(&b, ":/a");
	T_OK(ai_mountinfo_parse_overlay(b.data, b.len, &o, &err) < 0, "more than %d lowerdirs refused",
	     AI_OVL_MAX_LOWER);
	ai_buf_free(&b);
}

static void test_unescape(void)
{
	char s[] = "a\\040b\\13\\999\\";
	size_t n = ai_mountinfo_unescape(s, strlen(s));
	T_OK(n == strlen("a b\\13\\999\\") && memcmp(s, "a b\\13\\999\\", n) == 0,
	     "unescape: only three octal digits are an escape");
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
	return t_done();
}
