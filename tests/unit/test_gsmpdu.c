/*
 * test_gsmpdu.c: SMS-SUBMIT and SMS-DELIVER PDUs (channels/gsmpdu.h).
 *
 * Submitting: known vectors byte for byte (the packing of "hellohello",
 * a whole PDU to +254700000001, escape pairs, the concatenation header and
 * its fill bit); escape pairs and surrogate pairs kept whole at the 153
 * and 67 boundaries; Arabic, Chinese and emoji in UCS-2; the part count
 * equal to smstext_measure's segments for hundreds of generated texts,
 * each part decoded back by the decoder below (this file's own, with its
 * own copy of the alphabet) to the text given; refusals for too many
 * parts, invalid UTF-8 and numbers that are not E.164.
 * The alphabet shared by smstext.c and gsmpdu.c (gsm7.h): each view the
 * inverse of the other, for every septet and every code point, and in
 * agreement with this file's copy of TS 23.038.
 * Reading a DELIVER: GSM7, UCS-2, concatenated with 8- and 16-bit
 * references, an alphanumeric sender; then the hostile versions: cut at
 * every length, odd length, non-hex, a user data length larger than the
 * data, lengths and headers that lie, an SMS-SUBMIT, 8-bit data; each
 * TOCSIN_EDATA with the output untouched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gsm7.h"
#include "gsmpdu.h"
#include "smstext.h"
#include "unit_util.h"

#define TO "+254700000001"
#define EURO "\xe2\x82\xac"
#define EMOJI "\xf0\x9f\x98\x80"	/* U+1F600 */
#define ARABIC "تنبيه أمني: تم رصد هجوم على خوادم السجل"
#define CHINESE "安全警报：注册管理机构服务器遭受攻击。请立即更改密码并检查登录日志。"

/* TS 23.038 6.2.1 and 6.2.1.1, written out here apart from channels/gsm7.c
   so that the decoder of this test is not the code under test. */
static const char *const alphabet[128] = {
	"@", "£", "$", "¥", "è", "é", "ù", "ì", "ò", "Ç", "\n", "Ø", "ø",
	"\r", "Å", "å", "Δ", "_", "Φ", "Γ", "Λ", "Ω", "Π", "Ψ", "Σ", "Θ",
	"Ξ", NULL, "Æ", "æ", "ß", "É", " ", "!", "\"", "#", "¤", "%", "&",
	"'", "(", ")", "*", "+", ",", "-", ".", "/", "0", "1", "2", "3",
	"4", "5", "6", "7", "8", "9", ":", ";", "<", "=", ">", "?", "¡",
	"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M",
	"N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X", "Y", "Z",
	"Ä", "Ö", "Ñ", "Ü", "§", "¿", "a", "b", "c", "d", "e", "f", "g",
	"h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t",
	"u", "v", "w", "x", "y", "z", "ä", "ö", "ñ", "ü", "à",
};

static const struct {
	uint8_t septet;
	const char *utf8;
} extension[] = {
	{ 0x0a, "\f" }, { 0x14, "^" }, { 0x28, "{" }, { 0x29, "}" },
	{ 0x2f, "\\" }, { 0x3c, "[" }, { 0x3d, "~" }, { 0x3e, "]" },
	{ 0x40, "|" }, { 0x65, EURO },
};

/* ---- helpers ---- */

static unsigned
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'A' && c <= 'F')
		return (unsigned)(c - 'A' + 10);
	fail_msg("not an upper-case hex digit: 0x%02x", (unsigned char)c);
	return 0;
}

/* hex (upper case, even) into b; returns the octets. */
static size_t
unhex(const char *hex, uint8_t *b, size_t cap)
{
	size_t n = strlen(hex);

	assert_int_equal(n % 2, 0);
	assert_true(n / 2 <= cap);
	for (size_t i = 0; i < n; i += 2)
		b[i / 2] = (uint8_t)(hexval(hex[i]) << 4 | hexval(hex[i + 1]));
	return n / 2;
}

/* cp as UTF-8 at out; returns the bytes. */
static size_t
put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* What this test reads back from one SMS-SUBMIT. */
struct submitted {
	uint8_t fo, dcs, vp;
	char to[24];
	bool udh;
	unsigned ref, total, seq;
	size_t units;			/* septets or UTF-16 units of text */
	uint8_t first_text_octet;	/* the octet after the UDH */
	char text[1024];
};

/*
 * The test's own decoder of an SMS-SUBMIT as gsmpdu_submit writes it
 * (TS 23.040 9.2.2.2): SMSC part "00", TP-MR 0, an international
 * destination, PID 0, relative VP, at most a concatenation UDH.  An
 * escape or a high surrogate left at the end of a part fails the test:
 * parts must never split a pair.
 */
static void
decode_submit(const struct gsmpdu_part *p, struct submitted *s)
{
	uint8_t b[GSMPDU_MAX_OCTETS];
	size_t n, pos = 0, nd, o = 0, udl, hdr = 0;

	memset(s, 0, sizeof(*s));
	assert_int_equal(strlen(p->hex), 2 + 2 * (size_t)p->tpdu_len);
	n = unhex(p->hex, b, sizeof(b));
	assert_int_equal(b[pos++], 0);			/* SMSC: the SIM's */
	s->fo = b[pos++];
	assert_int_equal(s->fo & 0x03, 0x01);		/* SMS-SUBMIT */
	assert_int_equal(s->fo & 0x18, 0x10);		/* VP relative */
	assert_int_equal(s->fo & 0xa4, 0);		/* no RP, SRR, RD */
	s->udh = (s->fo & 0x40) != 0;
	assert_int_equal(b[pos++], 0);			/* TP-MR */
	nd = b[pos++];
	assert_int_equal(b[pos++], 0x91);
	s->to[0] = '+';
	for (size_t i = 0; i < nd; i++) {
		unsigned v = i % 2 ? b[pos + i / 2] >> 4 : b[pos + i / 2] & 15;

		assert_true(v <= 9);
		s->to[1 + i] = (char)('0' + v);
	}
	if (nd % 2)
		assert_int_equal(b[pos + nd / 2] >> 4, 0xf);
	pos += (nd + 1) / 2;
	assert_int_equal(b[pos++], 0);			/* PID */
	s->dcs = b[pos++];
	s->vp = b[pos++];
	udl = b[pos++];
	if (s->udh) {
		assert_int_equal(b[pos], 5);
		assert_int_equal(b[pos + 1], 0x00);
		assert_int_equal(b[pos + 2], 3);
		s->ref = b[pos + 3];
		s->total = b[pos + 4];
		s->seq = b[pos + 5];
		hdr = 6;
	}
	if (pos + hdr < n)
		s->first_text_octet = b[pos + hdr];
	if (s->dcs == 0x00) {
		size_t skip = s->udh ? 7 : 0;	/* 6 octets + 1 fill bit */
		bool esc = false;

		assert_true(udl <= 160);
		assert_int_equal(n - pos, (udl * 7 + 7) / 8);
		assert_true(udl >= skip);
		s->units = udl - skip;
		for (size_t k = skip; k < udl; k++) {
			size_t bit = 7 * k, i = pos + bit / 8;
			unsigned v = b[i] >> (bit % 8);

			if (bit % 8 > 1)
				v |= (unsigned)b[i + 1] << (8 - bit % 8);
			v &= 0x7f;
			if (esc) {
				const char *c = NULL;

				for (size_t e = 0; e < sizeof(extension) /
				    sizeof(extension[0]); e++)
					if (extension[e].septet == v)
						c = extension[e].utf8;
				assert_non_null(c);
				memcpy(s->text + o, c, strlen(c));
				o += strlen(c);
				esc = false;
			} else if (v == 0x1b) {
				esc = true;
			} else {
				memcpy(s->text + o, alphabet[v],
				    strlen(alphabet[v]));
				o += strlen(alphabet[v]);
			}
		}
		assert_false(esc);		/* an escape pair split */
	} else {
		uint32_t high = 0;

		assert_int_equal(s->dcs, 0x08);
		assert_true(udl <= 140);
		assert_int_equal(n - pos, udl);
		assert_int_equal((udl - hdr) % 2, 0);
		s->units = (udl - hdr) / 2;
		for (size_t i = pos + hdr; i < n; i += 2) {
			uint32_t u = (uint32_t)b[i] << 8 | b[i + 1];

			if (high != 0) {
				assert_true(u >= 0xdc00 && u <= 0xdfff);
				o += put_utf8(s->text + o, 0x10000 +
				    ((high - 0xd800) << 10) + (u - 0xdc00));
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
			} else {
				assert_false(u >= 0xdc00 && u <= 0xdfff);
				o += put_utf8(s->text + o, u);
			}
		}
		assert_int_equal(high, 0);	/* a surrogate pair split */
	}
	s->text[o] = '\0';
}

/* text submitted to TO; the parts, checked against smstext_measure and
   decoded back to text, with their count in *n. */
static struct gsmpdu_part *
submit_checked(const char *text, size_t len, uint8_t ref, size_t *n)
{
	struct gsmpdu_part *parts = NULL;
	struct smstext_info info;
	struct tocsin_err e = { 0 };
	struct submitted s;
	char *joined;
	size_t o = 0;

	if (gsmpdu_submit(TO, text, len, ref, 0xa7, 255, &parts, n, &e) != 0)
		fail_msg("gsmpdu_submit: %s", e.msg);
	assert_int_equal(smstext_measure(text, len, &info, NULL), 0);
	assert_int_equal(*n, info.segments);
	assert_non_null(joined = malloc(len + 1));
	for (size_t i = 0; i < *n; i++) {
		decode_submit(&parts[i], &s);
		assert_string_equal(s.to, TO);
		assert_int_equal(s.vp, 0xa7);
		assert_int_equal(s.dcs, info.coding == SMSTEXT_GSM7 ? 0 : 8);
		assert_int_equal(s.udh, *n > 1);
		if (*n > 1) {
			assert_int_equal(s.ref, ref);
			assert_int_equal(s.total, *n);
			assert_int_equal(s.seq, i + 1);
			assert_true(s.units <= (s.dcs == 0 ? 153u : 67u));
		}
		assert_true(o + strlen(s.text) <= len);
		memcpy(joined + o, s.text, strlen(s.text));
		o += strlen(s.text);
	}
	joined[o] = '\0';
	assert_int_equal(o, len);
	assert_memory_equal(joined, text, len);
	free(joined);
	return parts;
}

/* ---- the alphabet shared with smstext.c ---- */

static void
test_alphabet_views_agree(void **state)
{
	uint8_t s[2];

	(void)state;
	for (unsigned v = 0; v < 128; v++) {
		char one[5] = { 0 };

		if (v == GSM7_ESC) {
			assert_int_equal(gsm7_char((uint8_t)v), 0);
			continue;
		}
		put_utf8(one, gsm7_char((uint8_t)v));
		assert_string_equal(one, alphabet[v]);
		assert_int_equal(gsm7_encode(gsm7_char((uint8_t)v), s), 1);
		assert_int_equal(s[0], v);
	}
	for (size_t i = 0; i < sizeof(extension) / sizeof(extension[0]); i++) {
		char one[5] = { 0 };
		uint32_t cp = gsm7_ext_char(extension[i].septet);

		put_utf8(one, cp);
		assert_string_equal(one, extension[i].utf8);
		assert_int_equal(gsm7_encode(cp, s), 2);
		assert_int_equal(s[0], GSM7_ESC);
		assert_int_equal(s[1], extension[i].septet);
	}
	/* and every code point: what encodes decodes back, and smstext
	   counts the same septets */
	for (uint32_t cp = 0; cp < 0x110000; cp++) {
		unsigned w = gsm7_encode(cp, s);

		if (w == 1)
			assert_int_equal(gsm7_char(s[0]), cp);
		else if (w == 2)
			assert_int_equal(gsm7_ext_char(s[1]), cp);
		if (cp < 0x3000 || cp == 0x1f600) {
			char u[5];
			size_t k = put_utf8(u, cp);
			struct smstext_info info;

			if (cp >= 0xd800 && cp <= 0xdfff)
				continue;
			assert_int_equal(smstext_measure(u, k, &info, NULL),
			    0);
			if (w == 0)
				assert_int_equal(info.coding, SMSTEXT_UCS2);
			else
				assert_int_equal(info.units, w);
		}
	}
	assert_int_equal(gsm7_encode(0x1b, s), 0);	/* ESC itself */
	assert_int_equal(gsm7_encode('`', s), 0);
}

/* ---- submitting: known vectors ---- */

static void
test_submit_hellohello(void **state)
{
	struct gsmpdu_part *p = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(gsmpdu_submit(TO, "hellohello", 10, 0, 0xa7, 1, &p,
	    &n, NULL), 0);
	assert_int_equal(n, 1);
	/* TS 23.038 6.1.2.1.1's packing: 10 septets in 9 octets, UDL 0A */
	assert_non_null(strstr(p[0].hex, "0AE8329BFD4697D9EC37"));
	assert_int_equal(strlen(p[0].hex) - strlen(strstr(p[0].hex,
	    "E8329BFD4697D9EC37")) + 18, strlen(p[0].hex));
	free(p);
}

static void
test_submit_whole_pdu(void **state)
{
	struct gsmpdu_part *p = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(gsmpdu_submit(TO, "hello", 5, 9, 0xa7, 1, &p, &n,
	    NULL), 0);
	assert_int_equal(n, 1);
	/*
	 * 00            SMSC part: none, the SIM's
	 * 11            SMS-SUBMIT, TP-VPF relative (bits 4-3 = 10), no UDHI
	 * 00            TP-MR, the modem sets it
	 * 0C 91         12 digits, international, ISDN numbering plan
	 * 527400000010  254700000001 in swapped semi-octets
	 * 00 00         TP-PID, TP-DCS (GSM 7-bit default alphabet)
	 * A7            TP-VP: 24 hours
	 * 05            TP-UDL: 5 septets
	 * E8329BFD06    h e l l o: 68 65 6C 6C 6F packed, LSB first:
	 *               68|65<<7 ... = E8 32 9B FD 06
	 */
	assert_string_equal(p[0].hex,
	    "00" "11" "00" "0C91" "527400000010" "00" "00" "A7" "05"
	    "E8329BFD06");
	assert_int_equal(p[0].tpdu_len, 19);
	free(p);

	/* an odd number of digits ends with the F filler; other VP */
	assert_int_equal(gsmpdu_submit("+25470000001", "@$_", 3, 0, 0x00, 1,
	    &p, &n, NULL), 0);
	/* @ $ _ are septets 00 02 11: 00|0<<7 = 00, 02>>1|11<<6 = 41,
	   11>>2 = 04 */
	assert_string_equal(p[0].hex,
	    "00" "11" "00" "0B91" "5274000000F1" "00" "00" "00" "03"
	    "004104");
	free(p);
}

static void
test_submit_escape_pairs(void **state)
{
	struct gsmpdu_part *p = NULL;
	struct submitted s;
	size_t n = 0;

	(void)state;
	/* € is ESC 65, [ is ESC 3C (TS 23.038 6.2.1.1): 4 septets
	   1B 65 1B 3C packed LSB first: 1B|1<<7 = 9B, 65>>1|3<<6 = F2,
	   1B>>2|3C<<5 = 86 (of 8 bits), 3C>>3 = 07 */
	assert_int_equal(gsmpdu_submit(TO, EURO "[", strlen(EURO "["), 0,
	    0xa7, 1, &p, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_non_null(strstr(p[0].hex, "A7" "04" "9BF28607"));
	decode_submit(&p[0], &s);
	assert_string_equal(s.text, EURO "[");
	assert_int_equal(s.units, 4);
	free(p);
}

static void
test_submit_two_parts_fill_bit(void **state)
{
	struct gsmpdu_part *p;
	struct submitted s;
	char *text = unit_rep("A", 161);
	size_t n;

	(void)state;
	p = submit_checked(text, 161, 0x2a, &n);
	assert_int_equal(n, 2);
	/* FO 51: UDHI; UDL A0 = 7 header septets + 153; the UDH 05 00 03
	   ref total seq; then 'A' (41) after one fill bit: 41 << 1 = 82 */
	assert_memory_equal(p[0].hex, "00" "51" "00" "0C91" "527400000010"
	    "00" "00" "A7" "A0" "0500032A0201" "82", 44);
	assert_memory_equal(p[1].hex, "00" "51" "00" "0C91" "527400000010"
	    "00" "00" "A7" "0F" "0500032A0202" "82", 44);
	decode_submit(&p[0], &s);
	assert_int_equal(s.units, 153);
	assert_int_equal(s.first_text_octet, 0x82);
	decode_submit(&p[1], &s);
	assert_int_equal(s.units, 8);
	free(p);
	free(text);

	/* 160 fit one part, without a header */
	text = unit_rep("A", 160);
	p = submit_checked(text, 160, 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].hex[3], '1');		/* FO 11: no UDHI */
	free(p);
	free(text);
}

static void
test_submit_escape_at_boundary(void **state)
{
	char *a = unit_rep("a", 152), *text;
	struct gsmpdu_part *p;
	struct submitted s;
	size_t n;

	(void)state;
	/* 152 septets, then € (2): the pair would straddle 153, so it opens
	   part 2 and part 1 holds 152 */
	text = malloc(300);
	assert_non_null(text);
	(void)snprintf(text, 300, "%s" EURO "%s", a, "tail of the text");
	p = submit_checked(text, strlen(text), 7, &n);
	assert_int_equal(n, 2);
	decode_submit(&p[0], &s);
	assert_int_equal(s.units, 152);
	assert_string_equal(s.text, a);
	decode_submit(&p[1], &s);
	assert_string_equal(s.text, EURO "tail of the text");
	assert_int_equal(s.first_text_octet, (0x1b << 1) & 0xff);
	free(p);
	/* one septet less before it: 151 + 2 = 153, the pair ends part 1 */
	(void)snprintf(text, 300, "%.151s" EURO "%s", a, "x and more text");
	p = submit_checked(text, strlen(text), 7, &n);
	decode_submit(&p[0], &s);
	assert_int_equal(s.units, 153);
	free(p);
	free(text);
	free(a);
}

static void
test_submit_ucs2(void **state)
{
	struct gsmpdu_part *p;
	struct submitted s;
	size_t n;

	(void)state;
	p = submit_checked(ARABIC, strlen(ARABIC), 0, &n);
	assert_int_equal(n, 1);
	decode_submit(&p[0], &s);
	assert_int_equal(s.dcs, 0x08);
	/* ت is U+062A: UCS-2 big-endian 06 2A after the UDL */
	assert_non_null(strstr(p[0].hex, "062A0646"));
	free(p);

	p = submit_checked(CHINESE, strlen(CHINESE), 0, &n);
	assert_int_equal(n, 1);
	decode_submit(&p[0], &s);
	assert_int_equal(s.dcs, 0x08);
	assert_non_null(strstr(p[0].hex, "5B895168"));	/* 安全 */
	free(p);
}

static void
test_submit_surrogate_at_boundary(void **state)
{
	char *han = unit_rep("安", 66), *text;
	struct gsmpdu_part *p;
	struct submitted s;
	size_t n;

	(void)state;
	assert_non_null(text = malloc(1024));
	/* 66 units, then a pair (D83D DE00) that would straddle 67 */
	(void)snprintf(text, 1024, "%s" EMOJI "%s", han, "安安安安安");
	p = submit_checked(text, strlen(text), 3, &n);
	assert_int_equal(n, 2);
	decode_submit(&p[0], &s);
	assert_int_equal(s.units, 66);
	assert_string_equal(s.text, han);
	decode_submit(&p[1], &s);
	assert_string_equal(s.text, EMOJI "安安安安安");
	assert_non_null(strstr(p[1].hex, "0500030302" "02" "D83DDE00"));
	free(p);
	/* one less before it: 65 + 2 = 67 ends part 1 exactly */
	(void)snprintf(text, 1024, "%s" EMOJI "%s", han + 3, "安安安安安");
	p = submit_checked(text, strlen(text), 3, &n);
	assert_int_equal(n, 2);
	decode_submit(&p[0], &s);
	assert_int_equal(s.units, 67);
	free(p);
	free(text);
	free(han);
}

/* A small xorshift: the same texts on every run. */
static uint32_t
next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void
test_submit_parts_as_measured(void **state)
{
	/* GSM7 pieces, escape pairs heavy; then pieces that make UCS-2 */
	static const char *const gsm[] = {
		"a", "b", " ", "Z", "0", "@", "$", "_", "\n", "\r", "Δ", "é",
		"ü", "¿", EURO, "[", "]", "{", "}", "\\", "^", "~", "|", "\f",
	};
	static const char *const ucs[] = {
		"a", " ", "安", "ت", "Ж", EMOJI, EMOJI, "`", "é", EURO, "\n",
	};
	uint32_t x = 0x2545f491;
	size_t seen[12] = { 0 };

	(void)state;
	for (int round = 0; round < 600; round++) {
		bool use_gsm = round % 2 == 0;
		const char *const *pool = use_gsm ? gsm : ucs;
		size_t npool = use_gsm ? sizeof(gsm) / sizeof(gsm[0]) :
		    sizeof(ucs) / sizeof(ucs[0]);
		size_t chars = next_rand(&x) % (use_gsm ? 1300 : 700), len = 0;
		char *text = malloc(chars * 4 + 1);
		struct gsmpdu_part *p;
		size_t n;

		assert_non_null(text);
		for (size_t i = 0; i < chars; i++) {
			/* the UCS-2 ones need one non-GSM piece */
			const char *c = pool[next_rand(&x) % npool];

			if (!use_gsm && i == chars / 2)
				c = "安";
			memcpy(text + len, c, strlen(c));
			len += strlen(c);
		}
		text[len] = '\0';
		p = submit_checked(text, len, (uint8_t)round, &n);
		seen[n < 11 ? n : 11]++;
		free(p);
		free(text);
	}
	/* the texts reached every count from 1 to 10 parts */
	for (size_t k = 1; k <= 10; k++)
		assert_true(seen[k] > 0);
}

static void
test_submit_refusals(void **state)
{
	static const char *const bad_numbers[] = {
		"", "+", "254700000001", "+2547000000011234", "+25470000a001",
		"+ 254700000001", "+254 700000001", "0700000001", "++254",
		"+254700000001\n",
	};
	static const char *const bad_utf8[] = {
		"\xff", "a\xc3", "\xed\xa0\x80", "\xc0\xaf", "ok \xf4\x90\x80\x80",
	};
	struct gsmpdu_part *p = (struct gsmpdu_part *)&p, *keep = p;
	struct tocsin_err e = { 0 };
	size_t n = 77;
	char *text;

	(void)state;
	text = unit_rep("A", 161);
	assert_int_equal(gsmpdu_submit(TO, text, 161, 0, 0xa7, 1, &p, &n,
	    &e), TOCSIN_ETOOBIG);
	assert_non_null(strstr(e.msg, "2 parts"));
	assert_int_equal(gsmpdu_submit(TO, text, 0, 0, 0xa7, 0, &p, &n, &e),
	    TOCSIN_ETOOBIG);
	free(text);
	/* ten full parts and one septet more: 11 parts */
	text = unit_rep("A", 1531);
	assert_int_equal(gsmpdu_submit(TO, text, 1531, 0, 0xa7, 10, &p, &n,
	    &e), TOCSIN_ETOOBIG);
	assert_true(p == keep && n == 77);
	assert_int_equal(gsmpdu_submit(TO, text, 1530, 0, 0xa7, 10, &p, &n,
	    &e), 0);
	assert_int_equal(n, 10);
	free(p);
	p = keep;
	n = 77;
	free(text);
	/* 256 parts cannot be numbered in the header */
	text = unit_rep("A", 153 * 256);
	assert_int_equal(gsmpdu_submit(TO, text, 153 * 256, 0, 0xa7, 1000,
	    &p, &n, &e), TOCSIN_ETOOBIG);
	free(text);

	for (size_t i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++)
		assert_int_equal(gsmpdu_submit(TO, bad_utf8[i],
		    strlen(bad_utf8[i]), 0, 0xa7, 10, &p, &n, &e),
		    TOCSIN_EDATA);
	for (size_t i = 0; i < sizeof(bad_numbers) / sizeof(bad_numbers[0]);
	    i++) {
		e.msg[0] = '\0';
		assert_int_equal(gsmpdu_submit(bad_numbers[i], "hi", 2, 0,
		    0xa7, 10, &p, &n, &e), TOCSIN_EDATA);
		assert_non_null(strstr(e.msg, "digits"));
	}
	assert_int_equal(gsmpdu_submit(NULL, "hi", 2, 0, 0xa7, 10, &p, &n,
	    &e), TOCSIN_EDATA);
	assert_true(p == keep && n == 77);
	/* 15 digits is the longest E.164 number */
	assert_int_equal(gsmpdu_submit("+254700000001234", "hi", 2, 0, 0xa7,
	    1, &p, &n, &e), 0);
	assert_non_null(strstr(p[0].hex, "0F91" "52740000001032F4"));
	free(p);
}

/* ---- reading a DELIVER ---- */

#define SMSC "0791527400000001"		/* +254700000010 */
#define FROM "0C91527400000010"		/* +254700000001 */
#define SCTS "62213041520000"		/* 26-12-03 14:25:00 +00 */

/* "ACK 12345678": 12 septets packed as TS 23.038 6.1.2.1.1 says */
#define DELIVER_GSM SMSC "04" FROM "00" "00" SCTS "0C" \
	"C1E1121493CD6835DB0D07"
/* "تم 12345678" in UCS-2, 22 octets */
#define DELIVER_UCS SMSC "04" FROM "00" "08" SCTS "16" \
	"062A0645002000310032003300340035003600370038"
/* part 2 of 2, reference 0x2A: 17 'A' after the UDH and one fill bit */
#define DELIVER_CAT8 SMSC "44" FROM "00" "00" SCTS "18" "0500032A0202" \
	"82C16030180C0683C16030180C0683"
/* part 2 of 3, 16-bit reference 0xABCD, "hi there": 7 header octets
   are 8 septets, no fill */
#define DELIVER_CAT16 SMSC "44" FROM "00" "00" SCTS "10" "060804ABCD0302" \
	"E834888E2ECBCB"
/* the same in UCS-2, "安全", reference 0xBEEF, part 1 of 2 */
#define DELIVER_CAT16U SMSC "44" FROM "00" "08" SCTS "0B" "060804BEEF0201" \
	"5B895168"
/* from "InfoSMS" (13 semi-octets, type D0: alphanumeric), "hello" */
#define DELIVER_ALNUM "00" "04" "0DD049B7F93D6D4E01" "00" "00" SCTS "05" \
	"E8329BFD06"

static const char *const valid_delivers[] = {
	DELIVER_GSM, DELIVER_UCS, DELIVER_CAT8, DELIVER_CAT16, DELIVER_CAT16U,
	DELIVER_ALNUM,
};

static struct gsmpdu_deliver
parse_ok(const char *hex)
{
	struct gsmpdu_deliver d;
	struct tocsin_err e = { 0 };

	if (gsmpdu_deliver_parse(hex, strlen(hex), &d, &e) != 0)
		fail_msg("gsmpdu_deliver_parse(%s): %s", hex, e.msg);
	return d;
}

/* hexlen digits of hex refused as TOCSIN_EDATA, *out untouched. */
static void
refused_n(const char *hex, size_t hexlen)
{
	struct gsmpdu_deliver d, before;
	struct tocsin_err e = { 0 };

	memset(&d, 0x5a, sizeof(d));
	before = d;
	if (gsmpdu_deliver_parse(hex, hexlen, &d, &e) != TOCSIN_EDATA)
		fail_msg("not refused: %.*s", (int)hexlen, hex);
	assert_memory_equal(&d, &before, sizeof(d));
	assert_true(strlen(e.msg) > 0);
}

static void
refused(const char *hex)
{
	refused_n(hex, strlen(hex));
}

static void
test_deliver_gsm7(void **state)
{
	struct gsmpdu_deliver d;
	char lower[] = DELIVER_GSM;

	(void)state;
	d = parse_ok(DELIVER_GSM);
	assert_string_equal(d.from, "+254700000001");
	assert_string_equal(d.text, "ACK 12345678");
	assert_false(d.concatenated);
	assert_int_equal(d.dcs, 0);
	for (char *c = lower; *c; c++)
		if (*c >= 'A' && *c <= 'F')
			*c = (char)(*c - 'A' + 'a');
	d = parse_ok(lower);
	assert_string_equal(d.text, "ACK 12345678");
	/* without an SMSC part, a national number (type 81), class 0
	   (DCS F0); hello with a CR: a control other than LF, a space */
	d = parse_ok("00" "04" "0A81" "7000000010" "00" "F0" SCTS "06"
	    "E8329BFD6E00");
	assert_string_equal(d.from, "0700000001");
	assert_int_equal(d.dcs, 0xf0);
	assert_string_equal(d.text, "hello ");
	/* €, escape + unknown (the basic character), ESC ESC (a space),
	   LF kept: 1B 65 1B 41 1B 1B 0A as packed */
	d = parse_ok("00" "04" FROM "00" "00" SCTS "07" "9BF226B8D92800");
	assert_string_equal(d.text, EURO "A \n");
}

static void
test_deliver_ucs2(void **state)
{
	struct gsmpdu_deliver d;

	(void)state;
	d = parse_ok(DELIVER_UCS);
	assert_string_equal(d.from, "+254700000001");
	assert_string_equal(d.text, "تم 12345678");
	assert_int_equal(d.dcs, 8);
	/* A, CR, LF, tab, U+1F600, a lone low surrogate, a lone high one
	   at the end, U+0085 (C1) */
	d = parse_ok("00" "04" FROM "00" "08" SCTS "12"
	    "0041000D000A0009D83DDE00DC000085D83D");
	assert_string_equal(d.text, "A \n " EMOJI "\xef\xbf\xbd" " "
	    "\xef\xbf\xbd");
}

static void
test_deliver_concatenated(void **state)
{
	struct gsmpdu_deliver d;

	(void)state;
	d = parse_ok(DELIVER_CAT8);
	assert_true(d.concatenated);
	assert_int_equal(d.ref, 0x2a);
	assert_int_equal(d.total, 2);
	assert_int_equal(d.seq, 2);
	assert_string_equal(d.text, "AAAAAAAAAAAAAAAAA");
	d = parse_ok(DELIVER_CAT16);
	assert_true(d.concatenated);
	assert_int_equal(d.ref, 0xabcd);
	assert_int_equal(d.total, 3);
	assert_int_equal(d.seq, 2);
	assert_string_equal(d.text, "hi there");
	d = parse_ok(DELIVER_CAT16U);
	assert_int_equal(d.ref, 0xbeef);
	assert_int_equal(d.seq, 1);
	assert_string_equal(d.text, "安全");
	/* another IE first (0x24, 1 octet), then the concatenation */
	d = parse_ok("00" "44" FROM "00" "08" SCTS "0D" "082401000003070301"
	    "00410042");
	assert_int_equal(d.ref, 7);
	assert_int_equal(d.total, 3);
	assert_string_equal(d.text, "AB");
}

static void
test_deliver_alphanumeric(void **state)
{
	struct gsmpdu_deliver d;

	(void)state;
	d = parse_ok(DELIVER_ALNUM);
	assert_string_equal(d.from, "");
	assert_string_equal(d.text, "hello");
}

static void
test_deliver_cut_at_every_length(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_delivers) /
	    sizeof(valid_delivers[0]); i++) {
		const char *h = valid_delivers[i];
		size_t n = strlen(h);
		char *copy;

		/* each length on its own allocation: ASan sees a read past */
		for (size_t k = 0; k < n; k++) {
			assert_non_null(copy = malloc(k + 1));
			memcpy(copy, h, k);
			refused_n(copy, k);
			free(copy);
		}
		/* and one octet too many */
		assert_non_null(copy = malloc(n + 3));
		memcpy(copy, h, n);
		memcpy(copy + n, "00", 3);
		refused(copy);
		free(copy);
	}
}

static void
test_deliver_hostile(void **state)
{
	char buf[400], *big;
	struct gsmpdu_part *p;
	size_t n;

	(void)state;
	refused("");
	refused("0");
	refused(DELIVER_GSM "0");			/* odd length */
	(void)snprintf(buf, sizeof(buf), "%s", DELIVER_GSM);
	buf[30] = 'G';
	refused(buf);
	buf[30] = ' ';
	refused(buf);
	buf[30] = '\0';
	refused_n(buf, strlen(DELIVER_GSM));		/* a NUL inside */
	refused("0x" DELIVER_GSM);
	refused(" " DELIVER_GSM " ");
	/* UDL larger than the data, and over the limits */
	refused(SMSC "04" FROM "00" "00" SCTS "0D" "C1E1121493CD6835DB0D07");
	refused(SMSC "04" FROM "00" "08" SCTS "17"
	    "062A0645002000310032003300340035003600370038");
	refused(SMSC "04" FROM "00" "08" SCTS "8D" "0000");
	refused(SMSC "04" FROM "00" "00" SCTS "A1" "0000");
	/* UCS-2 of an odd length */
	refused(SMSC "04" FROM "00" "08" SCTS "03" "004100");
	/* an SMS-SUBMIT, a status report, a reserved type */
	assert_int_equal(gsmpdu_submit(TO, "ACK 12345678", 12, 0, 0xa7, 1, &p,
	    &n, NULL), 0);
	refused(p[0].hex);
	free(p);
	refused(SMSC "01" FROM "00" "00" SCTS "0C" "C1E1121493CD6835DB0D07");
	refused(SMSC "06" FROM "00" "00" SCTS "0C" "C1E1121493CD6835DB0D07");
	refused(SMSC "07" FROM "00" "00" SCTS "0C" "C1E1121493CD6835DB0D07");
	/* 8-bit data, compressed, reserved group, reserved alphabet */
	refused(SMSC "04" FROM "00" "04" SCTS "02" "4142");
	refused(SMSC "04" FROM "00" "F4" SCTS "02" "4142");
	refused(SMSC "04" FROM "00" "20" SCTS "02" "4142");
	refused(SMSC "04" FROM "00" "80" SCTS "02" "4142");
	refused(SMSC "04" FROM "00" "0C" SCTS "02" "4142");
	/* addresses: 21 digits, a non-digit, none; SMSC of 12 octets and
	   one longer than the PDU */
	refused("00" "04" "1591" "52740000001032547698103254769810F0" "00"
	    "00" SCTS "00");
	refused("00" "04" "0C91" "5274000A0010" "00" "00" SCTS "00");
	refused("00" "04" "0091" "00" "00" SCTS "00");
	refused("0C91527400000010325476981F" "04" FROM "00" "00" SCTS "00");
	refused("0B9152");
	/* headers that lie: longer than the user data, an element longer
	   than the header, parts 0 of 2 and 3 of 2, two concatenations,
	   a concatenation of the wrong size, a header over UDL septets */
	refused("00" "44" FROM "00" "08" SCTS "04" "0A000341");
	refused("00" "44" FROM "00" "08" SCTS "08" "0500052A0202" "0041");
	refused("00" "44" FROM "00" "08" SCTS "08" "0500032A0200" "0041");
	refused("00" "44" FROM "00" "08" SCTS "08" "0500032A0203" "0041");
	refused("00" "44" FROM "00" "08" SCTS "0D" "0A0003010201000302020100"
	    "41");
	refused("00" "44" FROM "00" "08" SCTS "07" "0500022A02" "0041");
	refused("00" "44" FROM "00" "00" SCTS "03" "0500032A0201");
	refused("00" "44" FROM "00" "08" SCTS "00");
	/* longer than GSMPDU_MAX_OCTETS */
	big = unit_rep("00", GSMPDU_MAX_OCTETS + 1);
	refused(big);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alphabet_views_agree),
		cmocka_unit_test(test_submit_hellohello),
		cmocka_unit_test(test_submit_whole_pdu),
		cmocka_unit_test(test_submit_escape_pairs),
		cmocka_unit_test(test_submit_two_parts_fill_bit),
		cmocka_unit_test(test_submit_escape_at_boundary),
		cmocka_unit_test(test_submit_ucs2),
		cmocka_unit_test(test_submit_surrogate_at_boundary),
		cmocka_unit_test(test_submit_parts_as_measured),
		cmocka_unit_test(test_submit_refusals),
		cmocka_unit_test(test_deliver_gsm7),
		cmocka_unit_test(test_deliver_ucs2),
		cmocka_unit_test(test_deliver_concatenated),
		cmocka_unit_test(test_deliver_alphanumeric),
		cmocka_unit_test(test_deliver_cut_at_every_length),
		cmocka_unit_test(test_deliver_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
