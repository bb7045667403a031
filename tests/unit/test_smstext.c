/*
 * test_smstext.c: SMS measuring and composing.
 *
 * Measuring: the unit and part counts on each side of every boundary, both
 * codings; every character of the GSM 03.38 default alphabet counts one
 * septet, every one of the extension table two, and look-alikes outside it
 * make the text UCS-2; escape pairs and surrogate pairs move whole to the
 * next part, which a plain division would miss; Arabic, Russian, Chinese;
 * invalid UTF-8 refused.
 * Composing: marker and tail kept byte for byte and the message within its
 * parts for 1 to 3 parts in four scripts, cut at a word end with the
 * ellipsis of the message's coding; a cut never makes a GSM message UCS-2
 * and may make it GSM; alert text cleaned into one paragraph; invalid
 * UTF-8 shown as U+FFFD; a marker and tail that do not fit refused.
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

#include "smstext.h"
#include "unit_util.h"

#define ELL "\xe2\x80\xa6"		/* U+2026 */
#define FFFD "\xef\xbf\xbd"
#define TAIL " Ack: 12345678 https://x/ack/abc"
#define EXERCISE "[EXERCISE] "

/* long texts, single spaces, words under 20 characters */
#define ARABIC "تنبيه أمني: تم رصد هجوم على خوادم السجل. يرجى تغيير " \
	"كلمات المرور فورا والتحقق من سجلات الدخول. "
#define RUSSIAN "Внимание: обнаружена атака на серверы реестра. " \
	"Смените пароли и проверьте журналы входа немедленно. "
#define CHINESE "安全警报：注册管理机构服务器遭受攻击。请立即更改密码并检查登录日志。"
#define LATIN "Security alert: an attack on the registry servers was " \
	"detected. Change passwords and check the login logs at once. "

/* ---- helpers ---- */

/* The strings joined; the list ends with NULL. */
static char *
join(const char *first, ...)
{
	va_list ap;
	size_t n = 0;
	char *r;

	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
		n += strlen(s);
	va_end(ap);
	assert_non_null(r = malloc(n + 1));
	r[0] = '\0';
	n = 0;
	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
		memcpy(r + n, s, strlen(s) + 1);
		n += strlen(s);
	}
	va_end(ap);
	return r;
}

/* Code points of valid UTF-8: the bytes that are not continuations. */
static size_t
cps(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

/* Well-formed UTF-8, checked independently of the code under test. */
static void
must_be_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n = 1;
		unsigned lo = 0x80, hi = 0xbf;

		if (*p >= 0x80) {
			assert_true(*p >= 0xc2 && *p <= 0xf4);
			n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
			if (*p == 0xe0)
				lo = 0xa0;
			else if (*p == 0xed)
				hi = 0x9f;
			else if (*p == 0xf0)
				lo = 0x90;
			else if (*p == 0xf4)
				hi = 0x8f;
			for (size_t i = 1; i < n; i++) {
				assert_true(p[i] >= lo && p[i] <= hi);
				lo = 0x80;
				hi = 0xbf;
			}
		}
		p += n;
	}
}

static struct smstext_info
measure(const char *s)
{
	struct smstext_info i = { 0 };
	struct tocsin_err e = { 0 };

	if (smstext_measure(s, strlen(s), &i, &e) != 0)
		fail_msg("smstext_measure: %s", e.msg);
	return i;
}

#define expect(s, cod, u, seg) do {					\
	struct smstext_info i_ = measure(s);				\
	assert_int_equal(i_.coding, (cod));				\
	assert_int_equal(i_.units, (u));				\
	assert_int_equal(i_.segments, (seg));				\
} while (0)

static bool
ends_with(const char *s, const char *end)
{
	size_t a = strlen(s), b = strlen(end);

	return a >= b && memcmp(s + a - b, end, b) == 0;
}

/* Compose and check what must hold of every result. */
static char *
compose(const char *marker, const char *text, const char *tail, unsigned max,
    struct smstext_info *info)
{
	struct tocsin_err e = { 0 };
	struct smstext_info m;
	char *r = NULL;

	if (smstext_compose(marker, text, tail, max, &r, info, &e) != 0)
		fail_msg("smstext_compose: %s", e.msg);
	assert_non_null(r);
	must_be_utf8(r);
	assert_memory_equal(r, marker, strlen(marker));
	assert_true(ends_with(r, tail));
	m = measure(r);
	assert_int_equal(m.coding, info->coding);
	assert_int_equal(m.units, info->units);
	assert_int_equal(m.segments, info->segments);
	assert_true(info->segments >= 1 && info->segments <= max);
	return r;
}

/* ---- measuring ---- */

static void
test_gsm_boundaries(void **state)
{
	static const struct { size_t n, seg; } b[] = {
		{ 0, 1 }, { 1, 1 }, { 160, 1 }, { 161, 2 }, { 306, 2 },
		{ 307, 3 }, { 459, 3 }, { 460, 4 }, { 1530, 10 }, { 1531, 11 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		char *s = unit_rep("a", b[i].n);

		expect(s, SMSTEXT_GSM7, b[i].n, b[i].seg);
		free(s);
	}
}

static void
test_ucs2_boundaries(void **state)
{
	static const struct { size_t n, seg; } b[] = {
		{ 1, 1 }, { 70, 1 }, { 71, 2 }, { 134, 2 }, { 135, 3 },
		{ 201, 3 }, { 202, 4 },
	};
	char *s, *t;

	(void)state;
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		s = unit_rep("ж", b[i].n);
		expect(s, SMSTEXT_UCS2, b[i].n, b[i].seg);
		free(s);
	}
	/* one non-GSM character makes all of it UCS-2 */
	s = unit_rep("a", 69);
	t = join(s, "ж", NULL);
	expect(t, SMSTEXT_UCS2, 70, 1);
	free(t);
	t = join(s, "aж", NULL);
	expect(t, SMSTEXT_UCS2, 71, 2);
	free(t);
	free(s);
}

static void
test_default_alphabet(void **state)
{
	/* 3GPP TS 23.038 table 6.2.1 in its order, ESC left out */
	static const char table[] =
	    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
	    " !\"#¤%&'()*+,-./0123456789:;<=>?"
	    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
	    "¿abcdefghijklmnopqrstuvwxyzäöñüà";
	const char *p = table;

	(void)state;
	assert_int_equal(cps(table), 127);
	expect(table, SMSTEXT_GSM7, 127, 1);
	while (*p != '\0') {
		char one[5] = { 0 };
		size_t n = 1;

		while ((p[n] & 0xc0) == 0x80)
			n++;
		memcpy(one, p, n);
		expect(one, SMSTEXT_GSM7, 1, 1);
		p += n;
	}
}

static void
test_extension_table(void **state)
{
	static const char *const ext[] = {
		"\f", "^", "{", "}", "\\", "[", "~", "]", "|", "€",
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
		expect(ext[i], SMSTEXT_GSM7, 2, 1);
	expect("\f^{}\\[~]|€", SMSTEXT_GSM7, 20, 1);
	expect("a€b[c", SMSTEXT_GSM7, 7, 1);
	expect("$@", SMSTEXT_GSM7, 2, 1);
	/* 80 euro signs are 160 septets; the 81st needs a second part */
	s = unit_rep("€", 80);
	expect(s, SMSTEXT_GSM7, 160, 1);
	free(s);
	s = unit_rep("€", 81);
	expect(s, SMSTEXT_GSM7, 162, 2);
	free(s);
}

static void
test_not_gsm(void **state)
{
	/* look-alikes and neighbours of the table that are not in it */
	static const char *const no[] = {
		"`", "ç", "á", "¢", "µ", "«", "Ş", "ő", "ẞ", "\xe2\x84\xa6" /* ohm sign */,
		"\t", "\x1b", "\x01", "\x7f", "\xc2\x80", ELL, "\xc2\xa0",
		"’", "“",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		char *s = join("a", no[i], NULL);

		expect(s, SMSTEXT_UCS2, 2, 1);
		free(s);
	}
}

static void
test_escape_pair_not_split(void **state)
{
	char *a151 = unit_rep("a", 151), *a152 = unit_rep("a", 152);
	char *a153 = unit_rep("a", 153), *a158 = unit_rep("a", 158);
	char *a159 = unit_rep("a", 159), *s;

	(void)state;
	/* 306 septets either way; ceil(306 / 153) says 2, but with the
	   pair at 153..154 it moves whole to part 2, which then overflows */
	s = join(a152, "[", a152, NULL);
	expect(s, SMSTEXT_GSM7, 306, 3);
	free(s);
	s = join(a152, "€", a152, NULL);
	expect(s, SMSTEXT_GSM7, 306, 3);
	free(s);
	s = join(a151, "[", a153, NULL);
	expect(s, SMSTEXT_GSM7, 306, 2);
	free(s);
	/* one part holds 160 septets whatever they are */
	s = join(a158, "[", NULL);
	expect(s, SMSTEXT_GSM7, 160, 1);
	free(s);
	s = join(a159, "[", NULL);
	expect(s, SMSTEXT_GSM7, 161, 2);
	free(s);
	free(a151);
	free(a152);
	free(a153);
	free(a158);
	free(a159);
}

static void
test_surrogate_pair_not_split(void **state)
{
	char *z65 = unit_rep("ж", 65), *z66 = unit_rep("ж", 66);
	char *z67 = unit_rep("ж", 67), *z68 = unit_rep("ж", 68);
	char *z69 = unit_rep("ж", 69);
	char *s;

	(void)state;
	expect("😀", SMSTEXT_UCS2, 2, 1);
	expect("𠀀", SMSTEXT_UCS2, 2, 1);	/* CJK extension B */
	s = join(z68, "😀", NULL);
	expect(s, SMSTEXT_UCS2, 70, 1);
	free(s);
	s = join(z69, "😀", NULL);
	expect(s, SMSTEXT_UCS2, 71, 2);
	free(s);
	s = join(z66, "😀", z66, NULL);
	expect(s, SMSTEXT_UCS2, 134, 3);
	free(s);
	s = join(z65, "😀", z67, NULL);
	expect(s, SMSTEXT_UCS2, 134, 2);
	free(s);
	free(z65);
	free(z66);
	free(z67);
	free(z68);
	free(z69);
}

static void
test_scripts(void **state)
{
	static const char *const texts[] = { ARABIC, RUSSIAN, CHINESE };

	(void)state;
	for (size_t t = 0; t < 3; t++)
		for (size_t n = 1; n <= 8; n++) {
			char *s = unit_rep(texts[t], n);
			size_t u = cps(s);	/* all in the BMP */

			expect(s, SMSTEXT_UCS2, u, u <= 70 ? 1 : (u + 66) / 67);
			free(s);
		}
	/* known figures, so the test does not only agree with itself */
	expect(CHINESE, SMSTEXT_UCS2, 34, 1);
	expect("Привет, мир", SMSTEXT_UCS2, 11, 1);
	expect("مرحبا", SMSTEXT_UCS2, 5, 1);
}

static void
test_measure_invalid(void **state)
{
	static const char *const bad[] = {
		"\xff", "a\x80", "\xc3", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
		"ok\xe2\x82", "\xf0\x9f\x98",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct smstext_info info = { SMSTEXT_UCS2, 4711, 4711 };
		struct tocsin_err e = { 0 };

		assert_int_equal(smstext_measure(bad[i], strlen(bad[i]), &info,
		    &e), TOCSIN_EDATA);
		assert_int_equal(e.code, TOCSIN_EDATA);
		assert_true(strlen(e.msg) > 0);
		assert_int_equal(info.units, 4711);
	}
	/* a length, not a NUL, ends the text */
	{
		struct smstext_info info;

		assert_int_equal(smstext_measure("ab\xff", 2, &info, NULL), 0);
		assert_int_equal(info.units, 2);
	}
}

/* ---- composing ---- */

static void
test_compose_fits(void **state)
{
	char *s = NULL;
	struct smstext_info info;

	(void)state;
	s = compose(EXERCISE, "Registry down.", TAIL, 1, &info);
	assert_string_equal(s, EXERCISE "Registry down." TAIL);
	assert_int_equal(info.coding, SMSTEXT_GSM7);
	/* the marker's brackets are escape pairs */
	assert_int_equal(info.units, strlen(s) + 2);
	free(s);
	s = compose("", "Реестр недоступен.", TAIL, 1, &info);
	assert_string_equal(s, "Реестр недоступен." TAIL);
	assert_int_equal(info.coding, SMSTEXT_UCS2);
	free(s);
	/* NULL is "" for each of the three */
	s = NULL;
	assert_int_equal(smstext_compose(NULL, NULL, NULL, 1, &s, &info,
	    NULL), 0);
	assert_string_equal(s, "");
	assert_int_equal(info.units, 0);
	assert_int_equal(info.segments, 1);
	free(s);
	s = compose(EXERCISE, NULL, TAIL, 1, &info);
	assert_string_equal(s, EXERCISE TAIL);
	free(s);
}

/* Long texts in four scripts, two markers, 1 to 3 parts: marker and tail
   whole, the parts filled, the kept text a prefix ending at a word end. */
static void
test_compose_scripts(void **state)
{
	static const struct {
		const char *phrase;
		bool spaces;
		enum smstext_coding coding;
	} t[] = {
		{ ARABIC, true, SMSTEXT_UCS2 },
		{ RUSSIAN, true, SMSTEXT_UCS2 },
		{ CHINESE, false, SMSTEXT_UCS2 },
		{ LATIN, true, SMSTEXT_GSM7 },
	};
	static const char *const markers[] = { "", EXERCISE };

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *text = unit_rep(t[i].phrase, 40);

		for (size_t m = 0; m < 2; m++)
			for (unsigned max = 1; max <= 3; max++) {
				struct smstext_info info;
				char *s = compose(markers[m], text, TAIL, max,
				    &info);
				const char *dots = t[i].coding ==
				    SMSTEXT_GSM7 ? "..." : ELL;
				char *end = join(dots, TAIL, NULL);
				size_t cap = t[i].coding == SMSTEXT_GSM7 ?
				    (max == 1 ? 160 : 153 * max) :
				    (max == 1 ? 70 : 67 * max);
				const char *kept = s + strlen(markers[m]);
				size_t klen = strlen(s) - strlen(markers[m]) -
				    strlen(end);

				assert_int_equal(info.coding, t[i].coding);
				assert_int_equal(info.segments, max);
				assert_true(ends_with(s, end));
				assert_true(info.units <= cap);
				/* no more room lost than one word */
				if (t[i].spaces)
					assert_true(info.units + 20 >= cap);
				else
					assert_true(info.units + 1 >= cap);
				assert_true(klen > 0);
				assert_memory_equal(kept, text, klen);
				assert_true(kept[klen - 1] != ' ');
				if (t[i].spaces)
					assert_true(text[klen] == ' ');
				free(end);
				free(s);
			}
		free(text);
	}
}

static void
test_compose_ack_survives(void **state)
{
	static const char *const fill[] = { "x", "[", "€", "ж", "😀", "a ",
		"\r\n", "\xff" };
	char *text;

	(void)state;
	for (size_t f = 0; f < sizeof(fill) / sizeof(fill[0]); f++) {
		text = unit_rep(fill[f], 5000);
		for (unsigned max = 1; max <= 10; max++) {
			struct smstext_info info;
			char *s = compose(EXERCISE, text, TAIL, max, &info);

			assert_non_null(strstr(s, "12345678"));
			assert_non_null(strstr(s, "https://x/ack/abc"));
			free(s);
		}
		free(text);
	}
}

static void
test_compose_stays_gsm(void **state)
{
	char *text = unit_rep(LATIN, 20), *t2, *s;
	struct smstext_info info;

	(void)state;
	s = compose(EXERCISE, text, TAIL, 1, &info);
	assert_int_equal(info.coding, SMSTEXT_GSM7);
	assert_null(strstr(s, ELL));
	assert_true(ends_with(s, "..." TAIL));
	free(s);

	/* a non-GSM character beyond the cut does not make it UCS-2 */
	t2 = join(text, "ж", NULL);
	s = compose(EXERCISE, t2, TAIL, 2, &info);
	assert_int_equal(info.coding, SMSTEXT_GSM7);
	assert_true(ends_with(s, "..." TAIL));
	assert_null(strstr(s, "ж"));
	free(s);
	free(t2);

	/* nor one that only UCS-2 could reach: the 100 characters before
	   it fit as GSM7 (125 of them would), not as UCS-2 (27 would) */
	t2 = join(text, NULL);
	t2[100] = '\0';
	{
		char *t3 = join(t2, "ж", text, NULL);

		s = compose("", t3, TAIL, 1, &info);
		assert_int_equal(info.coding, SMSTEXT_GSM7);
		assert_true(ends_with(s, "..." TAIL));
		assert_true(info.units > 70);
		free(s);
		free(t3);
	}
	free(t2);

	/* a non-GSM character that is kept makes it UCS-2, and so does a
	   marker outside GSM7 */
	t2 = join("Ошибка ", text, NULL);
	s = compose(EXERCISE, t2, TAIL, 1, &info);
	assert_int_equal(info.coding, SMSTEXT_UCS2);
	assert_true(ends_with(s, ELL TAIL));
	free(s);
	free(t2);
	s = compose("[УЧЕНИЯ] ", text, TAIL, 2, &info);
	assert_int_equal(info.coding, SMSTEXT_UCS2);
	assert_true(ends_with(s, ELL TAIL));
	free(s);
	free(text);
}

static void
test_compose_clean(void **state)
{
	struct smstext_info info;
	char *s;

	(void)state;
	s = compose("", "  Line one\r\nline\ttwo\x01\x7f  three\xc2\x85"
	    "four\xe2\x80\xa8" "five\xe2\x80\xae" "six\xc2\xa0seven\n\n\r",
	    "", 1, &info);
	assert_string_equal(s, "Line one line two three four five six seven");
	assert_int_equal(info.coding, SMSTEXT_GSM7);
	free(s);
	/* the bidirectional isolates go too; Arabic itself is untouched */
	s = compose("", "\xe2\x81\xa7مرحبا\xe2\x81\xa9!", TAIL, 1, &info);
	assert_string_equal(s, "مرحبا !" TAIL);
	free(s);
	/* a text of nothing but blanks is no text */
	s = compose(EXERCISE, " \r\n\t\x1b ", TAIL, 1, &info);
	assert_string_equal(s, EXERCISE TAIL);
	assert_int_equal(info.coding, SMSTEXT_GSM7);
	free(s);
}

static void
test_compose_invalid_utf8(void **state)
{
	struct smstext_info info;
	char *s;

	(void)state;
	s = compose("", "abc\xff" "def\xc3", "", 1, &info);
	assert_string_equal(s, "abc" FFFD "def" FFFD);
	assert_int_equal(info.coding, SMSTEXT_UCS2);
	assert_int_equal(info.units, 8);
	free(s);
	/* a truncated sequence is one U+FFFD and spares what follows */
	s = compose("", "\xe2\x82" "A\xed\xa0\x80", "", 1, &info);
	assert_string_equal(s, FFFD "A" FFFD FFFD FFFD);
	free(s);
}

static void
test_compose_cuts(void **state)
{
	char *text, *s;
	struct smstext_info info;

	(void)state;
	/* no space within 20 characters: cut mid-word, the part full */
	text = join("short ", NULL);
	{
		char *x = unit_rep("x", 400), *t2 = join(text, x, NULL);

		s = compose("", t2, TAIL, 1, &info);
		assert_int_equal(info.units, 160);
		assert_true(ends_with(s, "x..." TAIL));
		free(s);
		free(t2);
		free(x);
	}
	free(text);
	/* escape pairs: all '[' in 2 parts */
	text = unit_rep("[", 500);
	s = compose("", text, TAIL, 2, &info);
	assert_int_equal(info.coding, SMSTEXT_GSM7);
	assert_true(info.units <= 306 && info.units >= 300);
	assert_int_equal(info.segments, 2);
	free(s);
	free(text);
	/* emoji: 34 of them and U+2026 are 69 units; a 35th would be 71 */
	text = unit_rep("😀", 200);
	s = compose("", text, "", 1, &info);
	assert_int_equal(info.units, 69);
	assert_true(ends_with(s, "😀" ELL));
	free(s);
	free(text);
}

static void
test_compose_frame_only(void **state)
{
	char *tail = unit_rep("t", 160), *s;
	struct smstext_info info;

	(void)state;
	/* marker and tail fill the part: the text goes entirely */
	s = compose("", "hello", tail, 1, &info);
	assert_string_equal(s, tail);
	free(s);
	/* room for the ellipsis only */
	tail[157] = '\0';
	s = compose("", "hello", tail, 1, &info);
	assert_true(strncmp(s, "...", 3) == 0);
	assert_int_equal(info.units, 160);
	free(s);
	free(tail);
}

static void
test_compose_too_big(void **state)
{
	char *t161 = unit_rep("t", 161), *t150 = unit_rep("t", 150);
	char *z71 = unit_rep("ж", 71);
	struct tocsin_err e = { 0 };
	struct smstext_info info = { SMSTEXT_UCS2, 4711, 4711 };
	char *r = (char *)"untouched";

	(void)state;
	assert_int_equal(smstext_compose("", "x", t161, 1, &r, &info, &e),
	    TOCSIN_ETOOBIG);
	assert_int_equal(e.code, TOCSIN_ETOOBIG);
	assert_non_null(strstr(e.msg, "marker and tail"));
	assert_int_equal(smstext_compose(EXERCISE, "x", t150, 1, &r, &info,
	    &e), TOCSIN_ETOOBIG);
	assert_int_equal(smstext_compose("", "x", z71, 1, &r, &info, &e),
	    TOCSIN_ETOOBIG);
	assert_string_equal(r, "untouched");
	assert_int_equal(info.units, 4711);
	/* with two parts both fit */
	{
		char *s = compose(EXERCISE, "x", t150, 2, &info);

		assert_int_equal(info.segments, 2);
		free(s);
	}
	free(t161);
	free(t150);
	free(z71);
}

static void
test_compose_refusals(void **state)
{
	struct tocsin_err e = { 0 };
	struct smstext_info info = { SMSTEXT_UCS2, 4711, 4711 };
	char *r = (char *)"untouched";

	(void)state;
	assert_int_equal(smstext_compose("", "x", "", 0, &r, &info, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(smstext_compose("", "x", "", 11, &r, &info, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(smstext_compose("", "x", "", 1, NULL, &info, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(smstext_compose("\xff", "x", "", 1, &r, &info, &e),
	    TOCSIN_EDATA);
	assert_non_null(strstr(e.msg, "marker"));
	assert_int_equal(smstext_compose("", "x", "ack \xc3", 1, &r, &info,
	    &e), TOCSIN_EDATA);
	assert_non_null(strstr(e.msg, "tail"));
	assert_string_equal(r, "untouched");
	assert_int_equal(info.units, 4711);
	assert_int_equal(smstext_measure("x", 1, NULL, &e), TOCSIN_EINTERNAL);
}

/* The gateway's own words spelt in GSM7: French and Portuguese labels
   and markers lose the accents the alphabet lacks and keep those it has;
   a word with a character of no such spelling is not folded at all. */
static void
test_fold_own_words(void **state)
{
	struct tocsin_err e = { 0 };
	char *r = NULL;

	(void)state;
	assert_int_equal(smstext_fold("Extr\xc3\xaa" "me: ", &r, &e), 1);
	assert_string_equal(r, "Extreme: ");
	free(r);
	/* é, è, à and Ç are GSM7: kept */
	assert_int_equal(smstext_fold("S\xc3\xa9v\xc3\xa8" "re \xc3\xa0 "
	    "\xc3\x87" "a", &r, &e), 1);
	assert_string_equal(r, "S\xc3\xa9v\xc3\xa8" "re \xc3\xa0 \xc3\x87" "a");
	free(r);
	assert_int_equal(smstext_fold("[EXERC\xc3\x8d" "CIO] ", &r, &e), 1);
	assert_string_equal(r, "[EXERCICIO] ");
	free(r);
	assert_int_equal(smstext_fold("\xc2\xab" "c\xc5\x93" "ur\xc2\xbb "
	    "\xe2\x80\x94 re\xc3\xa7" "u\xe2\x80\xa6", &r, &e), 1);
	assert_string_equal(r, "\"coeur\" - recu...");
	free(r);
	/* Cyrillic has no GSM7 spelling: nothing is folded */
	assert_int_equal(smstext_fold("\xd0\xad\xc3\xaa", &r, &e), 0);
	assert_null(r);
	assert_int_equal(smstext_fold("bad \xc3", &r, &e), TOCSIN_EDATA);
	assert_null(r);
	assert_true(smstext_text_gsm("Resolvers down \xc3\xa9" "t\xc3\xa9\n"
	    "\xe2\x80\xae now"));
	assert_false(smstext_text_gsm("Extr\xc3\xaa" "me"));
	assert_false(smstext_text_gsm("bad \xc3"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gsm_boundaries),
		cmocka_unit_test(test_ucs2_boundaries),
		cmocka_unit_test(test_default_alphabet),
		cmocka_unit_test(test_extension_table),
		cmocka_unit_test(test_not_gsm),
		cmocka_unit_test(test_escape_pair_not_split),
		cmocka_unit_test(test_surrogate_pair_not_split),
		cmocka_unit_test(test_scripts),
		cmocka_unit_test(test_measure_invalid),
		cmocka_unit_test(test_compose_fits),
		cmocka_unit_test(test_compose_scripts),
		cmocka_unit_test(test_compose_ack_survives),
		cmocka_unit_test(test_compose_stays_gsm),
		cmocka_unit_test(test_compose_clean),
		cmocka_unit_test(test_compose_invalid_utf8),
		cmocka_unit_test(test_compose_cuts),
		cmocka_unit_test(test_compose_frame_only),
		cmocka_unit_test(test_compose_too_big),
		cmocka_unit_test(test_compose_refusals),
		cmocka_unit_test(test_fold_own_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
