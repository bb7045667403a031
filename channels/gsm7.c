/*
 * gsm7.c: the GSM 7-bit default alphabet and its extension table (3GPP TS
 * 23.038 6.2.1, 6.2.1.1), one copy for measuring (smstext.c) and for PDUs
 * (gsmpdu.c).
 *
 * Two views of the one alphabet: by septet (decoding) and by character
 * (encoding, a binary search over the characters outside printable ASCII,
 * since smstext.c looks up every character of a text many times).  The
 * unit test of gsmpdu checks that each view inverts the other for every
 * septet and every code point.
 */
#include <stddef.h>

#include "gsm7.h"

/* The default alphabet by septet; 0 at GSM7_ESC. */
static const uint16_t gsm7_default[128] = {
	'@', 0x00a3, '$', 0x00a5, 0x00e8, 0x00e9, 0x00f9, 0x00ec,
	0x00f2, 0x00c7, '\n', 0x00d8, 0x00f8, '\r', 0x00c5, 0x00e5,
	0x0394, '_', 0x03a6, 0x0393, 0x039b, 0x03a9, 0x03a0, 0x03a8,
	0x03a3, 0x0398, 0x039e, 0, 0x00c6, 0x00e6, 0x00df, 0x00c9,
	' ', '!', '"', '#', 0x00a4, '%', '&', '\'',
	'(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7',
	'8', '9', ':', ';', '<', '=', '>', '?',
	0x00a1, 'A', 'B', 'C', 'D', 'E', 'F', 'G',
	'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W',
	'X', 'Y', 'Z', 0x00c4, 0x00d6, 0x00d1, 0x00dc, 0x00a7,
	0x00bf, 'a', 'b', 'c', 'd', 'e', 'f', 'g',
	'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w',
	'x', 'y', 'z', 0x00e4, 0x00f6, 0x00f1, 0x00fc, 0x00e0,
};

struct gsm7_map {
	uint16_t cp;
	uint8_t septet;
};

/* The default alphabet outside printable ASCII, sorted by character. */
static const struct gsm7_map gsm7_more[] = {
	{ 0x00a1, 0x40 }, { 0x00a3, 0x01 }, { 0x00a4, 0x24 },	/* ¡ £ ¤ */
	{ 0x00a5, 0x03 }, { 0x00a7, 0x5f }, { 0x00bf, 0x60 },	/* ¥ § ¿ */
	{ 0x00c4, 0x5b }, { 0x00c5, 0x0e }, { 0x00c6, 0x1c },	/* Ä Å Æ */
	{ 0x00c7, 0x09 }, { 0x00c9, 0x1f }, { 0x00d1, 0x5d },	/* Ç É Ñ */
	{ 0x00d6, 0x5c }, { 0x00d8, 0x0b }, { 0x00dc, 0x5e },	/* Ö Ø Ü */
	{ 0x00df, 0x1e },					/* ß */
	{ 0x00e0, 0x7f }, { 0x00e4, 0x7b }, { 0x00e5, 0x0f },	/* à ä å */
	{ 0x00e6, 0x1d }, { 0x00e8, 0x04 }, { 0x00e9, 0x05 },	/* æ è é */
	{ 0x00ec, 0x07 }, { 0x00f1, 0x7d }, { 0x00f2, 0x08 },	/* ì ñ ò */
	{ 0x00f6, 0x7c }, { 0x00f8, 0x0c }, { 0x00f9, 0x06 },	/* ö ø ù */
	{ 0x00fc, 0x7e },					/* ü */
	{ 0x0393, 0x13 }, { 0x0394, 0x10 }, { 0x0398, 0x19 },	/* Γ Δ Θ */
	{ 0x039b, 0x14 }, { 0x039e, 0x1a }, { 0x03a0, 0x16 },	/* Λ Ξ Π */
	{ 0x03a3, 0x18 }, { 0x03a6, 0x12 }, { 0x03a8, 0x17 },	/* Σ Φ Ψ */
	{ 0x03a9, 0x15 },					/* Ω */
};

/* The extension table (the reserved control codes left out). */
static const struct gsm7_map gsm7_ext[] = {
	{ '\f', 0x0a }, { '^', 0x14 }, { '{', 0x28 }, { '}', 0x29 },
	{ '\\', 0x2f }, { '[', 0x3c }, { '~', 0x3d }, { ']', 0x3e },
	{ '|', 0x40 }, { 0x20ac, 0x65 },			/* € */
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The default septet of cp, or -1. */
static int
gsm7_default_septet(uint32_t cp)
{
	size_t lo = 0, hi = NELEM(gsm7_more);

	if (cp >= 0x20 && cp < 0x7f) {
		switch (cp) {
		case '@':
			return 0x00;
		case '$':
			return 0x02;
		case '_':
			return 0x11;
		case '`':
		case '[': case '\\': case ']': case '^':
		case '{': case '|': case '}': case '~':
			return -1;
		default:
			return (int)cp;	/* where ASCII and GSM7 agree */
		}
	}
	if (cp == '\n' || cp == '\r')
		return (int)cp;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (gsm7_more[mid].cp == cp)
			return gsm7_more[mid].septet;
		if (gsm7_more[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

unsigned
gsm7_encode(uint32_t cp, uint8_t *out)
{
	int s = gsm7_default_septet(cp);

	if (s >= 0) {
		if (out != NULL)
			out[0] = (uint8_t)s;
		return 1;
	}
	for (size_t i = 0; i < NELEM(gsm7_ext); i++)
		if (gsm7_ext[i].cp == cp) {
			if (out != NULL) {
				out[0] = GSM7_ESC;
				out[1] = gsm7_ext[i].septet;
			}
			return 2;
		}
	return 0;
}

uint32_t
gsm7_char(uint8_t s)
{
	return gsm7_default[s & 0x7f];
}

uint32_t
gsm7_ext_char(uint8_t s)
{
	for (size_t i = 0; i < NELEM(gsm7_ext); i++)
		if (gsm7_ext[i].septet == (s & 0x7f))
			return gsm7_ext[i].cp;
	return 0;
}
