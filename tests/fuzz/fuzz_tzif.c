/*
 * fuzz_tzif.c: libFuzzer target for the TZif parser of gateway/tz.c, which
 * reads zone files from the disk: outside input like any other.
 *
 * The first 8 bytes, when there are that many, choose the instant looked
 * up (so the footer's rules and the transition search are both reached);
 * the rest is the file.  The whole input is also tried as a file, since
 * seeds are plain zone files.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_tzif_try(const uint8_t *buf, size_t len, int64_t t)
{
	struct tocsin_err e;
	char abbr[TZ_ABBR_MAX];
	int off;

	if (tz_parse_buf(buf, len, t, &off, abbr, sizeof(abbr), &e) == 0 &&
	    (off < -89999 || off > 93599 || strlen(abbr) >= sizeof(abbr)))
		__builtin_trap();	/* the parser let a bad value through */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t instants[] = { -62135596800LL, -2000000000LL, 0,
		1795600800LL, 2224339200LL, 2208988800LL, 253402300799LL };

	for (size_t i = 0; i < sizeof(instants) / sizeof(instants[0]); i++)
		fuzz_tzif_try(data, size, instants[i]);
	if (size >= 8) {
		uint64_t u = 0;

		for (int k = 0; k < 8; k++)
			u = u << 8 | data[k];
		/* into the range tz accepts, and sometimes out of it */
		fuzz_tzif_try(data + 8, size - 8,
		    (int64_t)(u % 320000000000ULL) - 64000000000LL);
	}
	return 0;
}
