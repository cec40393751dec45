/* Fuzz the memory source (analyze/memory.c): the input is a whole file, an ELF core or an archive
 * holding memory/PID.core members or CRIU mm, pagemap, pages and files images (plain or
 * compressed), opened as `afterimage-analyze memory` opens it, its mappings checked (sorted, start
 * below end), then streamed: every chunk non-empty and inside the address space; then one range
 * read back through az_mem_read. The file is a memfd, named through /proc/self/fd. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "analyze/memory.h"
#include "tests/fuzz/memfd.inc"

static volatile unsigned sink;

static int on_data(void *ud, int64_t pid, uint64_t vaddr, const uint8_t *p, size_t n, ai_err_t *err)
{
	if (!n || vaddr > UINT64_MAX - n)
		abort();
	sink += p[0] + p[n - 1] + (unsigned)pid;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_memfd("fuzz-memory", data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	struct az_mem m;
	ai_err_t err;
	if (az_mem_open(&m, path, &err) == 0) {
		for (size_t i = 0; i < m.nmaps; i++) {
			const struct az_mem_map *x = &m.maps[i];
			if (x->end <= x->start || !x->kind || (x->path && strlen(x->path) != x->pathlen))
				abort();
			if (i && (m.maps[i - 1].pid > x->pid ||
				  (m.maps[i - 1].pid == x->pid && m.maps[i - 1].start > x->start)))
				abort();
		}
		az_mem_stream(&m, -1, on_data, NULL, &err);
		if (m.nmaps) {
			uint8_t buf[256];
			size_t got = 0;
			if (az_mem_read(&m, m.maps[0].pid, m.maps[0].start, sizeof(buf), buf, &got, &err) ==
				0 &&
			    got > sizeof(buf))
				abort();
		}
	}
	az_mem_close(&m);
	close(fd);
	return 0;
}

#include "tests/fuzz/driver.inc"
