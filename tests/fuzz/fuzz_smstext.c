/*
 * fuzz_smstext.c: libFuzzer target for composing an SMS from alert text.
 *
 * Input: one byte for the part limit (1 to 10), then marker, alert text and
 * tail separated by NUL bytes.  A composed message must measure within the
 * limit, be valid UTF-8, begin with the marker and end with the tail; an
 * all-GSM input must stay GSM7; a refusal must be for a reason that holds.
 * The marker spelt in GSM7 (smstext_fold) must be GSM7 or refused whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smstext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-separated field of [*p, end) as a fresh string. */
static char *
field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
	size_t n = (size_t)((nul != NULL ? nul : end) - *p);
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p = nul != NULL ? nul + 1 : end;
	return s;
}

/* Every byte ASCII and no backtick: cleaned, all of it is GSM7. */
static int
all_gsm_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80 || *s == '`')
			return 0;
	return 1;
}

static int
gsm(const char *s, int *valid)
{
	struct smstext_info i;

	*valid = smstext_measure(s, strlen(s), &i, NULL) == 0;
	return *valid && i.coding == SMSTEXT_GSM7;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct smstext_info info, m;
	struct tocsin_err e;
	char *marker, *text, *tail, *out = NULL;
	unsigned max;
	int rc, mvalid, tvalid, mgsm, tgsm;

	if (size < 1)
		return 0;
	max = 1 + data[0] % SMSTEXT_MAX_SEGMENTS;
	p++;
	marker = field(&p, end);
	text = field(&p, end);
	tail = field(&p, end);
	mgsm = gsm(marker, &mvalid);
	tgsm = gsm(tail, &tvalid);

	rc = smstext_compose(marker, text, tail, max, &out, &info, &e);
	if (rc == 0) {
		size_t n = strlen(out), mk = strlen(marker), tl = strlen(tail);

		if (smstext_measure(out, n, &m, NULL) != 0)
			abort();	/* not valid UTF-8 */
		if (m.segments > max || m.segments != info.segments ||
		    m.units != info.units || m.coding != info.coding)
			abort();
		if (n < mk + tl || memcmp(out, marker, mk) != 0 ||
		    memcmp(out + n - tl, tail, tl) != 0)
			abort();
		if (mgsm && tgsm && all_gsm_ascii(text) &&
		    info.coding != SMSTEXT_GSM7)
			abort();
		free(out);
	} else if (rc == TOCSIN_ETOOBIG) {
		size_t mk = strlen(marker), tl = strlen(tail);
		char *both = malloc(mk + tl + 1);

		if (both == NULL)
			abort();
		memcpy(both, marker, mk);
		memcpy(both + mk, tail, tl + 1);
		if (smstext_measure(both, mk + tl, &m, NULL) != 0 ||
		    m.segments <= max)
			abort();
		free(both);
	} else if (rc == TOCSIN_EDATA) {
		if (mvalid && tvalid)
			abort();
	} else {
		abort();
	}
	/* the own words spelt in GSM7: valid, all GSM7, or refused whole */
	{
		char *f = NULL;
		int fr = smstext_fold(marker, &f, &e), fvalid;

		if (fr == 1) {
			if (!gsm(f, &fvalid))
				abort();
			free(f);
		} else if (f != NULL || (fr != 0 && fr != TOCSIN_EDATA))
			abort();
		/* alert text that is GSM7 composes as GSM7 with a GSM7
		   frame */
		if (smstext_text_gsm(text) && mgsm && tgsm && rc == 0 &&
		    info.coding != SMSTEXT_GSM7)
			abort();
	}
	free(marker);
	free(text);
	free(tail);
	return 0;
}
