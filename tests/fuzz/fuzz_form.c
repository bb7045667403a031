/*
 * fuzz_form.c: webhook bodies are outside input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct form f;

	if (form_parse((const char *)data, size, &f) == 0) {
		if (f.n > FORM_MAX_FIELDS)
			abort();
		for (size_t i = 0; i < f.n; i++)
			if (strlen(f.f[i].name) > FORM_MAX_NAME ||
			    strlen(f.f[i].value) > FORM_MAX_VALUE)
				abort();
		(void)form_get(&f, "MessageSid");
	}
	return 0;
}
