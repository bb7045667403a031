/*
 * utf8.c: reading UTF-8 one character at a time, strictly, for every
 * module that cleans outside text.
 */
#include "utf8.h"

/* See utf8.h. */
size_t
utf8_next(const unsigned char *p, size_t len, uint32_t *cp, size_t *skip)
{
	unsigned lo = 0x80, hi = 0xbf;
	uint32_t v;
	size_t n;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		v = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		v = p[0] & 0x0fu;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		v = p[0] & 0x07u;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* over U+10FFFF */
	} else {
		*skip = 1;
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if (i >= len || p[i] < lo || p[i] > hi) {
			*skip = i;
			return 0;
		}
		v = v << 6 | (p[i] & 0x3fu);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = v;
	return n;
}
