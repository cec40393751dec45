/* Pure parsing of /proc/PID/mountinfo lines and overlayfs super options, split out of mounts.c
 * so it can be unit-tested (tests/unit/test_mountinfo.c) without a target. */
#ifndef AI_MOUNTINFO_H
#define AI_MOUNTINFO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

/* A field of a parsed line: points into the caller's line buffer, NUL-terminated there, and
 * carries a length because an unescaped \000 would otherwise cut it short. */
struct ai_mi_str {
	char *s;
	size_t len;
};

struct ai_mountinfo {
	uint64_t mount_id, parent_id;
	unsigned major, minor;
	struct ai_mi_str root;	      /* unescaped */
	struct ai_mi_str mount_point; /* unescaped */
	struct ai_mi_str options;
	struct ai_mi_str optional;	/* space separated tagged fields, may be empty */
	struct ai_mi_str fstype;	/* unescaped */
	struct ai_mi_str source;	/* unescaped */
	struct ai_mi_str super_options; /* as the kernel wrote it: overlay paths stay escaped */
};

/* Parse one line (no trailing newline) of len bytes in place: separators become NULs and the
 * octal escapes (\040 \011 \012 \134, any \NNN) of root, mount_point, fstype and source are
 * decoded. line[len] must be writable (it becomes NUL). Returns 0, or -1 with err. */
int ai_mountinfo_parse_line(char *line, size_t len, struct ai_mountinfo *m, ai_err_t *err);

/* Decode \NNN octal escapes of s[0..len) in place; returns the new length. */
size_t ai_mountinfo_unescape(char *s, size_t len);

/* The overlayfs super options that matter for evidence. */
struct ai_ovl_opts {
	char **lowerdirs; /* top first, as overlay orders them; data-only layers after the "::" */
	size_t nlower;
	size_t ndata; /* how many of the last lowerdirs are data-only layers */
	char *upperdir;
	char *workdir;
	char *redirect_dir;
	bool metacopy;
	bool userxattr;
};

/* More lowers than overlay allows (OVL_MAX_STACK is 500) means the input is not the kernel's. */
#define AI_OVL_MAX_LOWER 4096

/* Parse an overlay super options string (e.g. "rw,lowerdir=A:B,upperdir=U,workdir=W").
 * Every string in o is malloc'ed separately. Returns 0, or -1 with err (o is then empty). */
int ai_mountinfo_parse_overlay(const char *super, size_t len, struct ai_ovl_opts *o, ai_err_t *err);
void ai_mountinfo_ovl_free(struct ai_ovl_opts *o);

#endif
