/* Fuzz the analyzer's archive loader: the input is a whole file handed to az_model_load, which
 * must tell a bundle from a Podman/CRI-O checkpoint archive (plain, gzip or zstd; nested tars,
 * CRIU images, JSON) and refuse anything else with an error, never a crash. The model is then
 * rendered through the views. The file is a memfd, named through /proc/self/fd. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "analyze/context.h"
#include "tests/fuzz/memfd.inc"
#include "tests/fuzz/views.inc"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_memfd("fuzz-archive", data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	struct az_ctx c;
	az_ctx_init(&c);
	ai_err_t err;
	if (az_model_load(&c.m, path, &err) == 0) {
		struct ai_buf out;
		ai_buf_init(&out);
		fuzz_views(&c.m, &out);
		ai_buf_free(&out);
	}
	az_ctx_free(&c);
	close(fd);
	return 0;
}

#include "tests/fuzz/driver.inc"
