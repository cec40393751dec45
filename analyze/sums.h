/* SHA256SUMS read as it streams past: fed in chunks of any size, one callback per line, never more
 * than one line held (bounded). Lines are `HEX  NAME` as sha256sum writes them; a name holding a
 * newline or a backslash is escaped (`\n`, `\\`) and its line begins with a backslash. */
#ifndef AZ_SUMS_H
#define AZ_SUMS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest member name verify keeps (fs/upper/ + a path of AZ_MAX_PATH, with room). */
#define AZ_SUMS_MAX_NAME 8192u
/* The longest line: a marker, the hash, two spaces, a name escaped whole. */
#define AZ_SUMS_MAX_LINE (1u + 64u + 2u + 2u * AZ_SUMS_MAX_NAME + 1u)

enum az_sums_problem {
	AZ_SUMS_OK,
	AZ_SUMS_MALFORMED,    /* not `HEX  NAME`, or the hash not 64 lowercase hex digits */
	AZ_SUMS_LONG_LINE,    /* longer than AZ_SUMS_MAX_LINE */
	AZ_SUMS_LONG_NAME,    /* the name longer than AZ_SUMS_MAX_NAME */
	AZ_SUMS_UNTERMINATED, /* the last line has no newline */
};

struct az_sums_line {
	size_t lineno;		      /* 1-based */
	enum az_sums_problem problem; /* AZ_SUMS_OK: a good line; else name and sha are unset */
	const char *name;	      /* unescaped; valid during the callback */
	size_t name_len;
	uint8_t sha[32];
	char hex[65]; /* the hash as written */
};
typedef void (*az_sums_fn)(void *ud, const struct az_sums_line *l);

struct az_sums {
	az_sums_fn fn;
	void *ud;
	char *line; /* AZ_SUMS_MAX_LINE bytes */
	size_t len, lineno;
	bool overlong; /* the current line passed AZ_SUMS_MAX_LINE: skipped to its end */
	char *name;    /* the unescaped name */
};

void az_sums_init(struct az_sums *s, az_sums_fn fn, void *ud);
void az_sums_feed(struct az_sums *s, const char *p, size_t len);
/* The end of the document: an unterminated last line is reported (problem set), not used. */
void az_sums_end(struct az_sums *s);
void az_sums_free(struct az_sums *s);

#endif
