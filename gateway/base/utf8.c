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

/* See utf8.h. */
size_t
utf8_put(char *out, uint32_t cp)
{
	unsigned char *u = (unsigned char *)out;

	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (unsigned char)(0xf0 | cp >> 18);
	u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	u[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* See utf8.h. */
bool
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, skip;
	uint32_t cp;

	while (i < len) {
		size_t n = utf8_next(p + i, len - i, &cp, &skip);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* See utf8.h. */
size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, skip = 1;
	uint32_t cp;

	if (len <= max)
		return len;
	while (i < len) {
		size_t n = utf8_next(p + i, len - i, &cp, &skip);

		if (n == 0)
			n = skip;
		if (i + n > max)
			break;
		i += n;
	}
	return i;
}
