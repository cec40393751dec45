/* capture/jsonline.c: the result members snapshot and serve both print, and the last step of
 * every JSON line the capture binary prints (C1 controls as \u00XX), checked against jansson. */
#include "capture/jsonline.h"
#include "tests/unit/t.h"
#include <jansson.h>

static void line_of(struct ai_buf *b, const char *s, size_t len)
{
	struct ai_json j;
	ai_buf_reset(b);
	ai_json_init(&j, b);
	ai_json_obj_begin(&j);
	ai_json_kbytes(&j, "m", s, len);
	ai_json_obj_end(&j);
}

int main(void)
{
	struct ai_buf b;
	ai_buf_init(&b);

	struct ai_snapshot_result r = {.path = "/ev/b1.tar", .complete = true, .nerrors = 0};
	memset(r.sha256, 'a', sizeof(r.sha256) - 1);
	struct ai_json j;
	ai_json_init(&j, &b);
	ai_json_obj_begin(&j);
	ai_jsonline_result(&j, &r);
	ai_json_obj_end(&j);
	T_STREQ(ai_buf_cstr(&b),
		"{\"bundle\":\"/ev/"
		"b1.tar\",\"sha256\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"a\",\"complete\":true,\"errors\":0}",
		"the result members, in snapshot's order");

	/* ESC ] 0 ; PWNED BEL, then CSI (U+009B) 2J, U+0085 (NEL) and U+00A0, U+00E9 (not C1) */
	const char hostile[] = "\x1b]0;PWNED\x07\xc2\x9b"
			       "2J\xc2\x85\xc2\xa0\xc3\xa9";
	line_of(&b, hostile, sizeof(hostile) - 1);
	ai_jsonline_safe(&b);
	T_STREQ(ai_buf_cstr(&b), "{\"m\":\"\\u001b]0;PWNED\\u0007\\u009b2J\\u0085\xc2\xa0\xc3\xa9\"}",
		"C0 escaped by the writer, C1 by ai_jsonline_safe, other UTF-8 kept");
	int raw = 0;
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] < 0x20 ||
		    ((unsigned char)b.data[i] == 0xc2 && (unsigned char)b.data[i + 1] < 0xa0))
			raw++;
	T_OK(raw == 0, "no C0 or C1 control byte left in the line");
	json_error_t jerr;
	json_t *doc = json_loads(ai_buf_cstr(&b), 0, &jerr);
	const char *m = json_string_value(json_object_get(doc, "m"));
	T_OK(m && strlen(m) == sizeof(hostile) - 1 && !memcmp(m, hostile, sizeof(hostile) - 1),
	     "jansson reads back the same string");
	json_decref(doc);

	line_of(&b, "plain caf\xc3\xa9", 10);
	char before[64];
	snprintf(before, sizeof(before), "%s", ai_buf_cstr(&b));
	ai_jsonline_safe(&b);
	T_STREQ(ai_buf_cstr(&b), before, "a line without C1 controls is left byte for byte");
	ai_buf_free(&b);
	return t_done();
}
