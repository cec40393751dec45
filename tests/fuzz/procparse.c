/* Fuzz target: hostile /proc text through every parser of capture/procparse.c. A process writes
 * much of what these files hold (its comm, argv and environment, the names of the files it maps
 * or holds open), so each input is tried as a whole file of every kind and line by line. */
#include "capture/procparse.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Read every byte a slice claims, so the sanitizers see a slice that overruns the input. */
static volatile unsigned sink;
static void touch(struct ai_pp_slice sl, const char *buf, size_t size)
{
	if (sl.len && (sl.s < buf || sl.s + sl.len > buf + size))
		abort();
	for (size_t i = 0; i < sl.len; i++)
		sink += (unsigned char)sl.s[i];
}

static void whole(const char *buf, size_t size)
{
	struct ai_pp_stat st;
	if (ai_pp_parse_stat(buf, size, &st) == 0)
		touch(st.comm, buf, size);

	static const char *const keys[] = {"Name",    "NSpid",	"Uid",	  "Gid",    "Groups", "Threads",
					   "CapEff",  "CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs",
					   "Seccomp", "pos",	"flags",  "mnt_id", "ino"};
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		struct ai_pp_slice v;
		if (!ai_pp_field(buf, size, keys[k], &v))
			continue;
		touch(v, buf, size);
		(void)ai_pp_is_hex(&v);
		uint64_t n;
		for (int i = 0; i < 64 && ai_pp_next_u64(&v, &n); i++)
			sink += (unsigned)n;
	}

	const char *p = buf, *end = buf + size;
	struct ai_pp_slice piece;
	while (ai_pp_next_nul(&p, end, &piece))
		touch(piece, buf, size);

	uint64_t ino;
	if (ai_pp_ns_inode(buf, size, &ino))
		sink += (unsigned)ino;
	struct ai_pp_fdinfo fi;
	ai_pp_parse_fdinfo(buf, size, &fi);
	if (fi.has_flags && strlen(fi.flags) >= sizeof(fi.flags))
		abort();
	struct stat s = {.st_mode = S_IFREG};
	sink += ai_pp_fd_classify(buf, size, NULL) + ai_pp_fd_classify(buf, size, &s);
	sink += ai_pp_link_deleted(buf, size) + ai_pp_link_memfd(buf, size);
	sink += (unsigned)ai_pp_ticks_to_ns(0, size ? (uint64_t)buf[0] << 40 : 0, size ? buf[size - 1] : 0);
}

static void line(const char *l, size_t len, const char *buf, size_t size)
{
	struct ai_pp_map m;
	if (ai_pp_parse_map(l, len, &m) == 0) {
		touch(m.start, buf, size);
		touch(m.end, buf, size);
		touch(m.perms, buf, size);
		touch(m.offset, buf, size);
		touch(m.dev, buf, size);
		touch(m.path, buf, size);
		uint64_t a, b;
		if (ai_pp_hex_u64(m.start, &a) && ai_pp_hex_u64(m.end, &b))
			sink += (unsigned)(b - a);
	}
	struct ai_pp_limit lim;
	if (ai_pp_parse_limit(l, len, &lim) == 0) {
		touch(lim.name, buf, size);
		touch(lim.soft, buf, size);
		touch(lim.hard, buf, size);
		touch(lim.units, buf, size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: a read past the input is a heap overflow the sanitizers report. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	whole(buf, size);
	size_t start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i < size && buf[i] != '\n')
			continue;
		line(buf + start, i - start, buf, size);
		start = i + 1;
	}
	free(buf);
	return 0;
}

#include "tests/fuzz/driver.inc"
