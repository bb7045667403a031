/*
 * fuzz_checkpoint.c: the audit checkpoint's text is read back from a file
 * beside the store, which whoever can write the store can also write.
 * Whatever the bytes, the parser never reads past the length it is given
 * (the text is copied into a buffer of exactly that size, no NUL after
 * it, so ASan sees an over-read), and a text that parses names a seq of
 * 1 or more and a hash of 64 lower-case hex digits, and formats back to a
 * text that parses to the same checkpoint.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_checkpoint cp, back;
	struct tocsin_err err;
	char out[AUDIT_CP_TEXT_MAX];
	char *text;

	if ((text = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(text, data, size);
	if (audit_checkpoint_parse(text, size, &cp, &err) == 0) {
		if (cp.seq < 1 || strnlen(cp.hash, sizeof(cp.hash)) != 64)
			abort();
		for (size_t i = 0; i < 64; i++)
			if (!((cp.hash[i] >= '0' && cp.hash[i] <= '9') ||
			    (cp.hash[i] >= 'a' && cp.hash[i] <= 'f')))
				abort();
		if (audit_checkpoint_format(&cp, out, sizeof(out), &err) != 0 ||
		    audit_checkpoint_parse(out, strlen(out), &back, &err) != 0 ||
		    back.seq != cp.seq || back.time != cp.time ||
		    strcmp(back.hash, cp.hash) != 0)
			abort();
	}
	free(text);
	return 0;
}
