/*
 * fuzz_jsonget.c: provider replies are outside input; the scanner must
 * never read or write out of bounds, and what it returns must fit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "sid", "code", "message",
		"message_id", "" };
	char out[64];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int rc = jsonget((const char *)data, size, keys[i], out,
		    sizeof(out));

		if (rc < -1 || rc > 1 || memchr(out, '\0', sizeof(out)) == NULL)
			abort();
		if (rc != 1 && out[0] != '\0')
			abort();
	}
	return 0;
}
