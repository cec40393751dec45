/* serve's idle trimming. Idle costs nothing, memory included. A capture touches megabytes of
 * heap and most of the static binary's code; once idle again, give back what the idle loop does
 * not use: free heap pages (malloc_trim, every arena) and, through MADV_DONTNEED, the clean file
 * pages of read-only file mappings (the binary's text, rodata and the file-backed part of relro):
 * they stay in the page cache and fault back in when the next capture needs them.
 * /proc/self/pagemap tells file pages (bit 61) from private copies (relocated data, never
 * dropped); a read-only mapping cannot gain a private copy between the check and the madvise. */
#include "capture/procparse.h"
#include "capture/serve.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TRIM_MAX_VMAS 64

/* A mapping of a file (an inode and a path) that is readable and not writable: its clean pages
 * are in the page cache and fault back in when needed. The line goes through the capture's own
 * maps parser (procparse.h), the one that reads the target's maps. */
static bool maps_ro_file(const char *line, size_t len, uintptr_t *lo, uintptr_t *hi)
{
	struct ai_pp_map m;
	uint64_t a, b;
	if (ai_pp_parse_map(line, len, &m) < 0 || !ai_pp_hex_u64(m.start, &a) || !ai_pp_hex_u64(m.end, &b))
		return false;
	*lo = (uintptr_t)a;
	*hi = (uintptr_t)b;
	return b > a && m.inode && m.path.len && m.path.s[0] == '/' && m.perms.len >= 2 &&
	       m.perms.s[0] == 'r' && m.perms.s[1] != 'w';
}

void ai_idle_trim(void)
{
	malloc_trim(0);
	struct {
		uintptr_t lo, hi;
	} vma[TRIM_MAX_VMAS];
	size_t nvma = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[8192];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			uintptr_t lo, hi;
			if (maps_ro_file(line, (size_t)(nl - line), &lo, &hi) && nvma < TRIM_MAX_VMAS) {
				vma[nvma].lo = lo;
				vma[nvma++].hi = hi;
			}
			line = nl + 1;
		}
		len = (size_t)(buf + len - line);
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1)
			len = 0; /* a line longer than the buffer: not one we need */
	}
	close(fd);
	long pg = sysconf(_SC_PAGESIZE);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0 || pg <= 0) {
		if (pm >= 0)
			close(pm);
		return;
	}
	/* runs of present file pages, madvised after the scan so the scan's own code is not
	 * faulted straight back in */
	struct {
		uintptr_t lo, hi;
	} drop[256];
	size_t ndrop = 0;
	for (size_t i = 0; i < nvma && ndrop < 256; i++) {
		uint64_t ent[512];
		for (uintptr_t a = vma[i].lo; a < vma[i].hi && ndrop < 256;) {
			size_t np = (size_t)((vma[i].hi - a) / (uintptr_t)pg);
			if (np > 512)
				np = 512;
			ssize_t n = pread(pm, ent, np * 8, (off_t)(a / (uintptr_t)pg * 8));
			if (n <= 0)
				break;
			np = (size_t)n / 8;
			for (size_t k = 0; k < np && ndrop < 256; k++) {
				bool file = (ent[k] >> 63 & 1) && (ent[k] >> 61 & 1);
				uintptr_t pa = a + k * (uintptr_t)pg;
				if (!file)
					continue;
				if (ndrop && drop[ndrop - 1].hi == pa)
					drop[ndrop - 1].hi = pa + (uintptr_t)pg;
				else
					drop[ndrop].lo = pa, drop[ndrop++].hi = pa + (uintptr_t)pg;
			}
			a += np * (uintptr_t)pg;
		}
	}
	close(pm);
	for (size_t i = 0; i < ndrop; i++)
		madvise((void *)drop[i].lo, drop[i].hi - drop[i].lo, MADV_DONTNEED);
}
