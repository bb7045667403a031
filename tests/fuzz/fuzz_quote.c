/*
 * fuzz_quote.c: libFuzzer target for render_quote, which makes a name an
 * outsider typed on the ack page fit to be quoted in a notice: whatever
 * the bytes, the quote is valid UTF-8 without controls, bidi marks or
 * double quotes, and at most the characters asked for.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tocsin_err e;
	char *in = malloc(size + 1), *q = NULL;
	size_t chars = 0, max = size > 0 ? data[0] % 64 : 40;

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (render_quote(in, max, &q, &e) == 0) {
		const unsigned char *p = (const unsigned char *)q;
		size_t len = strlen(q);

		for (size_t i = 0; i < len;) {
			uint32_t cp = 0;
			size_t skip = 1, l = utf8_next(p + i, len - i, &cp,
			    &skip);

			if (l == 0 || cp < 0x20 || cp == 0x7f || cp == '"' ||
			    (cp >= 0x80 && cp <= 0x9f) ||
			    (cp >= 0x202a && cp <= 0x202e) ||
			    (cp >= 0x2066 && cp <= 0x2069))
				abort();
			chars++;
			i += l;
		}
		/* the ellipsis of a cut is one more */
		if (chars > max + 1)
			abort();
		free(q);
	}
	free(in);
	return 0;
}
