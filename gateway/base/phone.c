/*
 * phone.c: an E.164 number grouped for people ("+254 20 555 0101"), the
 * one way every page and message prints a phone number to be dialled.
 *
 * The country calling code is found by ITU-T E.164's own structure, not
 * by a table of every country: codes are prefix-free, and only 1 and 7
 * are one digit and the two-digit codes are a short fixed list; every
 * other code is three digits.  So the longest-prefix question never
 * arises.  The national part is grouped by length alone (ending 4, then
 * threes), which reads well for the usual 7 to 10 digits; national
 * numbering plans vary and are not modelled.  Only grouping is done: a
 * digit is never added, dropped or moved, so the grouped form dials the
 * same number.
 */
#include <stdbool.h>
#include <string.h>

#include "base.h"
#include "tocsin.h"

/* The two-digit country calling codes (ITU-T E.164 assignments). */
static const char base_cc2[][3] = {
	"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41",
	"43", "44", "45", "46", "47", "48", "49", "51", "52", "53", "54",
	"55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66",
	"81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98"
};

/* The length of the country calling code that digits start with. */
static size_t
base_cc_len(const char *digits)
{
	if (digits[0] == '1' || digits[0] == '7')
		return 1;
	for (size_t i = 0; i < sizeof(base_cc2) / sizeof(base_cc2[0]); i++)
		if (digits[0] == base_cc2[i][0] && digits[1] == base_cc2[i][1])
			return 2;
	return 3;
}

/* Append n bytes of s to out (outlen bytes), at *k; false when cut. */
static bool
base_phone_put(char *out, size_t outlen, size_t *k, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (*k + 1 >= outlen)
			return false;
		out[(*k)++] = s[i];
	}
	out[*k] = '\0';
	return true;
}

int
base_phone_group(const char *e164, char *out, size_t outlen)
{
	size_t n, cc, rest, k = 0, first, groups[8], ng = 0;
	const char *p;
	bool ok = true;

	if (out == NULL || outlen == 0)
		return TOCSIN_ETOOBIG;
	out[0] = '\0';
	if (e164 == NULL)
		return 0;
	n = strnlen(e164, 64);
	if (n < 5 || n > 16 || e164[0] != '+' ||
	    strspn(e164 + 1, "0123456789") != n - 1 || e164[n] != '\0')
		return base_phone_put(out, outlen, &k, e164, strnlen(e164,
		    outlen)) ? 0 : TOCSIN_ETOOBIG;
	p = e164 + 1;
	cc = base_cc_len(p);
	rest = n - 1 - cc;
	/* the groups, from the right: 4, then threes; a lone digit left
	   joins the group after it, two stand as a group of their own */
	if (rest <= 4)
		groups[ng++] = rest;
	else {
		size_t m = rest - 4;

		groups[ng++] = 4;
		while (m > 3 && ng < 7) {
			groups[ng++] = 3;
			m -= 3;
		}
		if (m == 1)
			groups[ng - 1] += 1;
		else if (m > 0)
			groups[ng++] = m;
	}
	ok = base_phone_put(out, outlen, &k, e164, 1 + cc);
	first = 1 + cc;
	while (ok && ng > 0) {
		size_t g = groups[--ng];

		if (g == 0)
			break;
		ok = base_phone_put(out, outlen, &k, " ", 1) &&
		    base_phone_put(out, outlen, &k, e164 + first, g);
		first += g;
	}
	return ok ? 0 : TOCSIN_ETOOBIG;
}
