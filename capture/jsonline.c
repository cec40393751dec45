#include "capture/jsonline.h"
#include <string.h>

/* The path is ours (OUTDIR/NAME) but OUTDIR is the operator's: its bytes go through the JSON
 * writer like any other. */
void ai_jsonline_result(struct ai_json *j, const struct ai_snapshot_result *r)
{
	ai_json_kbytes(j, "bundle", r->path, strlen(r->path));
	ai_json_kstr(j, "sha256", r->sha256);
	ai_json_kbool(j, "complete", r->complete);
	ai_json_kuint(j, "errors", r->nerrors);
}

/* The writer's output is valid UTF-8, where 0xc2 only ever leads a two-byte sequence. */
static bool c1_at(const struct ai_buf *b, size_t i)
{
	return (unsigned char)b->data[i] == 0xc2 && i + 1 < b->len && (unsigned char)b->data[i + 1] >= 0x80 &&
	       (unsigned char)b->data[i + 1] <= 0x9f;
}

void ai_jsonline_safe(struct ai_buf *line)
{
	size_t i = 0;
	while (i < line->len && !c1_at(line, i))
		i++;
	if (i == line->len)
		return;
	struct ai_buf out;
	ai_buf_init(&out);
	ai_buf_add(&out, line->data, i);
	for (; i < line->len; i++) {
		if (c1_at(line, i)) {
			ai_buf_printf(&out, "\\u%04x", (unsigned char)line->data[++i]);
			continue;
		}
		ai_buf_addc(&out, line->data[i]);
	}
	ai_buf_free(line);
	*line = out;
}
