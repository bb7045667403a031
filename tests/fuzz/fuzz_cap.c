/*
 * fuzz_cap.c: libFuzzer target for the CAP 1.2 parser, the first code that
 * reads an alert's XML.
 */
#include <stddef.h>
#include <stdint.h>

#include "cap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cap_alert *a = NULL;
	struct tocsin_err e;

	if (cap_parse((const char *)data, size, 262144, &a, &e) == 0) {
		(void)cap_info_for(a, "ru");
		(void)cap_info_for(a, NULL);
		cap_free(a);
	}
	return 0;
}
