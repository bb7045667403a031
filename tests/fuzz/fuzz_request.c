/*
 * fuzz_request.c: a request's text (a signed mail's, a drop file's, an
 * SMS's) is outside input.  Whatever the bytes, request_parse and
 * request_parse_sms never read past the length given (the input is copied
 * into a buffer of exactly that size, with no NUL after it), and a text
 * that comes out is well-formed UTF-8 of at most REQUEST_TEXT_MAX bytes,
 * terminated, with no control but LF and TAB and no bidi override or
 * isolate; a Team: value is an id or the marker of none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
text_ok(const struct request_text *r)
{
	const unsigned char *p = (const unsigned char *)r->text;
	size_t i = 0;

	if (r->len > REQUEST_TEXT_MAX || strlen(r->text) != r->len ||
	    !utf8_valid(r->text, r->len))
		abort();
	while (i < r->len) {
		uint32_t cp = 0;
		size_t skip = 1, cl = utf8_next(p + i, r->len - i, &cp, &skip);

		if (cl == 0)
			abort();
		if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7f ||
		    (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a &&
		    cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			abort();
		i += cl;
	}
	if (strnlen(r->team, sizeof(r->team)) == sizeof(r->team))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request_text *r = malloc(sizeof(*r));
	char *copy = malloc(size > 0 ? size : 1);

	if (r == NULL || copy == NULL) {
		free(r);
		free(copy);
		return 0;
	}
	if (size > 0)
		memcpy(copy, data, size);
	if (request_parse(copy, size, r) == 0)
		text_ok(r);
	if (request_parse_sms(copy, size, r) == 0)
		text_ok(r);
	free(copy);
	free(r);
	return 0;
}
