/*
 * fuzz_gsmpdu.c: libFuzzer target for the SMS PDU codec.
 *
 * The input is read as the hex of an SMS-DELIVER: a parse either fails as
 * TOCSIN_EDATA or gives a NUL-terminated sender of "+" and digits and
 * valid UTF-8 text without controls other than LF.  The same input is
 * then taken as UTF-8 text for gsmpdu_submit: when both it and
 * smstext_measure succeed the part counts must agree and every part must
 * be hex of the length it announces; they must refuse the same texts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gsmpdu.h"
#include "smstext.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_deliver(const uint8_t *data, size_t size)
{
	struct gsmpdu_deliver d;
	struct tocsin_err e;
	size_t fl, tl;
	int rc = gsmpdu_deliver_parse((const char *)data, size, &d, &e);

	if (rc == TOCSIN_EDATA)
		return;
	if (rc != 0)
		abort();
	fl = strnlen(d.from, sizeof(d.from));
	tl = strnlen(d.text, sizeof(d.text));
	if (fl == sizeof(d.from) || tl == sizeof(d.text))
		abort();			/* not terminated */
	for (size_t i = 0; i < fl; i++)
		if (!(d.from[i] >= '0' && d.from[i] <= '9') &&
		    !(i == 0 && d.from[i] == '+'))
			abort();
	if (!utf8_valid(d.text, tl))
		abort();
	for (size_t i = 0; i < tl; i++)
		if (((unsigned char)d.text[i] < 0x20 && d.text[i] != '\n') ||
		    d.text[i] == 0x7f)
			abort();
	if (d.concatenated && (d.seq == 0 || d.seq > d.total))
		abort();
}

static void
check_submit(const uint8_t *data, size_t size)
{
	struct smstext_info info;
	struct gsmpdu_part *parts = NULL;
	size_t n = 0;
	int mrc = smstext_measure((const char *)data, size, &info, NULL);
	int rc = gsmpdu_submit("+254700000001", (const char *)data, size,
	    (uint8_t)size, 0xa7, 255, &parts, &n, NULL);

	if (rc == 0) {
		if (mrc != 0 || n != info.segments || n == 0)
			abort();
		for (size_t i = 0; i < n; i++) {
			size_t hl = strnlen(parts[i].hex,
			    sizeof(parts[i].hex));

			if (hl != 2 + 2 * (size_t)parts[i].tpdu_len ||
			    parts[i].tpdu_len > GSMPDU_MAX_OCTETS - 1)
				abort();
		}
		free(parts);
	} else if (rc == TOCSIN_EDATA) {
		if (mrc == 0)
			abort();	/* the number is valid: only the text */
	} else if (rc == TOCSIN_ETOOBIG) {
		if (mrc != 0 || info.segments <= 255)
			abort();
	} else {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_deliver(data, size);
	check_submit(data, size);
	return 0;
}
