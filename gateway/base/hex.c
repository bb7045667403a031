/*
 * hex.c: bytes as hex digits and back (base.h).
 */
#include "base.h"

static void
base_hex_with(char *out, const void *in, size_t n, const char *digits)
{
	const unsigned char *p = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

void
base_hex(char *out, const void *in, size_t n)
{
	base_hex_with(out, in, n, "0123456789abcdef");
}

void
base_hex_upper(char *out, const void *in, size_t n)
{
	base_hex_with(out, in, n, "0123456789ABCDEF");
}

int
base_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
base_unhex(void *out, size_t outlen, const char *s)
{
	unsigned char *o = out;

	for (size_t i = 0; i < outlen; i++) {
		int hi = base_hexval((unsigned char)s[2 * i]), lo;

		/* hi first: a NUL there ends the string before s[2i+1] */
		if (hi < 0 || (lo = base_hexval((unsigned char)s[2 * i + 1])) < 0)
			return -1;
		o[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
