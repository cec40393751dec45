/* Fuzz target: a hostile containers/storage container list (containers.json) through the
 * scanner the capture looks the container's image up with (capture/storejson.c). The first 64
 * bytes, when they are 64 lowercase hex, are the id looked for (so the fuzzer can make entries
 * that match); otherwise a fixed id. Invariants: a found entry's image id is "" or 64 lowercase
 * hex, its name NUL-free and of the length it says, within the buffer. */
#include "capture/storejson.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[65] = "dcb61276e009c3317f5ed7758f8f8e732a253aa352c5f3604108d1c257014b5d";
	const char *doc = (const char *)data;
	if (size >= 64 && hex64(doc)) {
		memcpy(id, doc, 64);
		doc += 64, size -= 64;
	}
	char *buf = malloc(size ? size : 1); /* exactly the input: a read past it is a crash */
	if (!buf)
		return 0;
	memcpy(buf, doc, size);
	struct ai_store_entry e;
	ai_err_t err = {0};
	int rc = ai_store_find(buf, size, id, &e, &err);
	if (rc < -1 || rc > 1)
		abort();
	if (rc == 1) {
		if (e.image_id[0] && (strlen(e.image_id) != 64 || !hex64(e.image_id)))
			abort();
		if (e.layer[0] && (strlen(e.layer) != 64 || !hex64(e.layer)))
			abort();
		if (e.image_name_len >= sizeof(e.image_name) || strlen(e.image_name) != e.image_name_len)
			abort();
		if (e.image_id[0] && e.image_id_bad)
			abort();
	} else if (e.image_id[0] || e.image_name_len) {
		abort(); /* nothing is taken from a list that failed or lacks the entry */
	}
	free(buf);
	return 0;
}

#include "tests/fuzz/driver.inc"
