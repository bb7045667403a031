/*
 * test_base.c: the base library every module uses (gateway/base): the
 * bounded buffer at its limit, array growth at size_t's end, hex both
 * ways, UTF-8 read, written, checked and cut on hostile bytes (overlong
 * forms, surrogates, values over U+10FFFF, truncated sequences), the HTML
 * and terminal escapers on markup, controls and bidi overrides, the
 * time-zone name rule on paths out of the zone folder, the line logger,
 * and the monotonic clock's source and scale.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "base.h"
#include "tocsin.h"
#include "utf8.h"
#include "unit_util.h"

/* ---- the bounded buffer ---- */

static void
test_buf_limit(void **state)
{
	struct base_buf b;

	(void)state;
	base_buf_init(&b, 10);
	base_buf_puts(&b, "0123456");
	base_buf_puts(&b, "789");
	assert_int_equal(b.len, 10);
	assert_false(b.full);
	assert_string_equal(b.p, "0123456789");
	/* one byte over: refused whole, and everything after too (sticky) */
	base_buf_puts(&b, "x");
	assert_true(b.full);
	assert_int_equal(b.len, 10);
	base_buf_put(&b, "", 0);
	assert_string_equal(b.p, "0123456789");
	/* never allocates past what the limit can use */
	assert_true(b.cap <= 11);
	base_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.limit, 10);
	assert_int_equal(b.len, 0);

	/* all or nothing: a piece that does not fit leaves the text whole */
	base_buf_init(&b, 5);
	base_buf_puts(&b, "abc");
	base_buf_puts(&b, "\xc3\xa9\xc3\xa9");	/* 4 bytes, 2 fit */
	assert_true(b.full);
	assert_string_equal(b.p, "abc");
	base_buf_free(&b);

	/* a zero limit holds nothing, and a NUL-terminated empty text is
	   never promised */
	base_buf_init(&b, 0);
	base_buf_puts(&b, "a");
	assert_true(b.full);
	assert_null(b.p);
	base_buf_free(&b);

	/* a limit of SIZE_MAX still leaves room for the NUL */
	base_buf_init(&b, SIZE_MAX);
	assert_int_equal(b.limit, SIZE_MAX - 1);
	base_buf_puts(&b, "ok");
	assert_string_equal(b.p, "ok");
	/* a length that would wrap len + n is refused, not wrapped */
	base_buf_put(&b, "x", SIZE_MAX - 1);
	assert_true(b.full);
	assert_string_equal(b.p, "ok");
	base_buf_free(&b);
}

static void
test_buf_grows(void **state)
{
	struct base_buf b;
	char *big = unit_rep("0123456789", 1000);

	(void)state;
	base_buf_init(&b, 500000);
	for (int i = 0; i < 50; i++)
		base_buf_puts(&b, big);
	assert_false(b.full);
	assert_int_equal(b.rc, 0);
	assert_int_equal(b.len, 500000);
	assert_int_equal(strlen(b.p), 500000);
	assert_true(b.cap <= 500001);
	base_buf_puts(&b, "x");
	assert_true(b.full);
	assert_int_equal(b.len, 500000);
	base_buf_free(&b);
	free(big);
}

/* ---- array growth ---- */

static void
test_grow(void **state)
{
	int *a = NULL;
	size_t cap = 0;
	void *keep;

	(void)state;
	assert_int_equal(base_grow(&a, &cap, 1, sizeof(*a)), 0);
	assert_non_null(a);
	assert_true(cap >= 8);
	a[0] = 7;
	assert_int_equal(base_grow(&a, &cap, 1000, sizeof(*a)), 0);
	assert_true(cap >= 1000);
	a[999] = 9;
	assert_int_equal(a[0], 7);
	/* room already: nothing moves */
	keep = a;
	cap = 1000;
	assert_int_equal(base_grow(&a, &cap, 500, sizeof(*a)), 0);
	assert_ptr_equal(a, keep);
	assert_int_equal(cap, 1000);
	/* need * elem past size_t: refused, the array untouched */
	assert_int_equal(base_grow(&a, &cap, SIZE_MAX / 2 + 1,
	    sizeof(*a)), TOCSIN_ENOMEM);
	assert_int_equal(base_grow(&a, &cap, SIZE_MAX, 2),
	    TOCSIN_ENOMEM);
	assert_int_equal(base_grow(&a, &cap, 2000, 0), TOCSIN_ENOMEM);
	assert_ptr_equal(a, keep);
	assert_int_equal(cap, 1000);
	assert_int_equal(a[999], 9);
	/* a need that fits size_t but is over BASE_GROW_MAX: refused before
	   the allocator is asked, untouched */
	assert_int_equal(base_grow(&a, &cap, SIZE_MAX / 8,
	    sizeof(*a)), TOCSIN_ENOMEM);
	assert_int_equal(base_grow(&a, &cap, BASE_GROW_MAX / sizeof(*a) + 1,
	    sizeof(*a)), TOCSIN_ENOMEM);
	assert_ptr_equal(a, keep);
	assert_int_equal(cap, 1000);
	free(a);
}

/* ---- hex ---- */

static void
test_hex(void **state)
{
	static const unsigned char in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab,
		0xff };
	unsigned char back[6] = { 0 };
	char out[13];

	(void)state;
	base_hex(out, in, sizeof(in));
	assert_string_equal(out, "00017f80abff");
	base_hex_upper(out, in, sizeof(in));
	assert_string_equal(out, "00017F80ABFF");
	base_hex(out, in, 0);
	assert_string_equal(out, "");
	assert_int_equal(base_unhex(back, sizeof(back), "00017F80abff"), 0);
	assert_memory_equal(back, in, sizeof(in));
	for (int c = 0; c < 256; c++) {
		int v = base_hexval(c);
		const char *d = "0123456789abcdefABCDEF";

		if (c != 0 && strchr(d, c) != NULL)
			assert_true(v >= 0 && v < 16);
		else
			assert_int_equal(v, -1);
	}
	/* a non-digit, and a string shorter than asked: refused, no read
	   past the NUL */
	assert_int_equal(base_unhex(back, 2, "0g12"), -1);
	assert_int_equal(base_unhex(back, 3, "0012"), -1);
	assert_int_equal(base_unhex(back, 2, "001"), -1);
	assert_int_equal(base_unhex(back, 1, " 1"), -1);
	assert_int_equal(base_unhex(back, 1, "-1"), -1);
}

/* ---- UTF-8 ---- */

static void
test_utf8_next(void **state)
{
	struct { const char *s; size_t len; size_t n; uint32_t cp;
		size_t skip; } cases[] = {
		{ "A", 1, 1, 'A', 0 },
		{ "\xc3\xa9", 2, 2, 0xe9, 0 },
		{ "\xe2\x82\xac", 3, 3, 0x20ac, 0 },
		{ "\xf0\x9f\x98\x80", 4, 4, 0x1f600, 0 },
		{ "\xf4\x8f\xbf\xbf", 4, 4, 0x10ffff, 0 },
		/* overlong forms */
		{ "\xc0\xaf", 2, 0, 0, 1 },
		{ "\xc1\xbf", 2, 0, 0, 1 },
		{ "\xe0\x80\xaf", 3, 0, 0, 1 },
		{ "\xf0\x80\x80\xaf", 4, 0, 0, 1 },
		/* surrogates */
		{ "\xed\xa0\x80", 3, 0, 0, 1 },
		{ "\xed\xbf\xbf", 3, 0, 0, 1 },
		/* over U+10FFFF, and bytes that never start a character */
		{ "\xf4\x90\x80\x80", 4, 0, 0, 1 },
		{ "\xf5\x80\x80\x80", 4, 0, 0, 1 },
		{ "\xff", 1, 0, 0, 1 },
		{ "\x80", 1, 0, 0, 1 },
		/* cut short: the whole good prefix is one bad part */
		{ "\xe2\x82", 2, 0, 0, 2 },
		{ "\xe2\x82" "A", 3, 0, 0, 2 },
		{ "\xf0\x9f\x98", 3, 0, 0, 3 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0;
		size_t skip = 0;
		size_t n = utf8_next((const unsigned char *)cases[i].s,
		    cases[i].len, &cp, &skip);

		assert_int_equal(n, cases[i].n);
		if (n != 0)
			assert_int_equal(cp, cases[i].cp);
		else
			assert_int_equal(skip, cases[i].skip);
	}
}

static void
test_utf8_put(void **state)
{
	char o[4];
	uint32_t cps[] = { 0, 'A', 0x7f, 0x80, 0x7ff, 0x800, 0xfffd, 0xffff,
		0x10000, 0x10ffff };

	(void)state;
	/* every encoding reads back as itself */
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		uint32_t cp;
		size_t skip, n = utf8_put(o, cps[i]);

		assert_int_equal(utf8_next((unsigned char *)o, n, &cp, &skip),
		    n);
		assert_int_equal(cp, cps[i]);
	}
	/* no surrogate and nothing over U+10FFFF is ever written */
	assert_int_equal(utf8_put(o, 0xd800), 3);
	assert_memory_equal(o, "\xef\xbf\xbd", 3);
	assert_int_equal(utf8_put(o, 0xdfff), 3);
	assert_memory_equal(o, "\xef\xbf\xbd", 3);
	assert_int_equal(utf8_put(o, 0x110000), 3);
	assert_memory_equal(o, "\xef\xbf\xbd", 3);
	assert_int_equal(utf8_put(o, UINT32_MAX), 3);
}

static void
test_utf8_valid_cut(void **state)
{
	static const char good[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";

	(void)state;
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid(good, strlen(good)));
	assert_false(utf8_valid("\xc0\xaf", 2));
	assert_false(utf8_valid("a\xed\xa0\x80", 4));
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4));
	assert_false(utf8_valid("\xe2\x82", 2));
	/* a NUL inside the length is a character like any other */
	assert_true(utf8_valid("a\0b", 3));
	/* the length is the end: the bytes after are not read */
	assert_true(utf8_valid("ab\xff", 2));

	/* cut at a character, never inside one */
	assert_int_equal(utf8_cut(good, 10, 100), 10);
	assert_int_equal(utf8_cut(good, 10, 10), 10);
	assert_int_equal(utf8_cut(good, 10, 9), 6);
	assert_int_equal(utf8_cut(good, 10, 6), 6);
	assert_int_equal(utf8_cut(good, 10, 5), 3);
	assert_int_equal(utf8_cut(good, 10, 2), 1);
	assert_int_equal(utf8_cut(good, 10, 0), 0);
	/* an ill-formed part is cut as one piece */
	assert_int_equal(utf8_cut("a\xf0\x9f\x98" "b", 5, 3), 1);
	assert_int_equal(utf8_cut("a\xf0\x9f\x98" "b", 5, 4), 4);
}

/* ---- escapers ---- */

static char *
esc_html(const char *s, size_t max)
{
	struct base_buf b;

	base_buf_init(&b, 4096);
	base_buf_put(&b, "", 0);
	base_esc_html(&b, s, max);
	assert_int_equal(b.rc, 0);
	return b.p;
}

static char *
esc_term(const char *s, size_t max)
{
	struct base_buf b;

	base_buf_init(&b, 4096);
	base_buf_put(&b, "", 0);
	base_esc_term(&b, s, max);
	assert_int_equal(b.rc, 0);
	return b.p;
}

static void
check_html(const char *s, size_t max, const char *want)
{
	char *got = esc_html(s, max);

	assert_string_equal(got, want);
	free(got);
}

static void
check_term(const char *s, size_t max, const char *want)
{
	char *got = esc_term(s, max);

	assert_string_equal(got, want);
	free(got);
}

static void
test_esc_html(void **state)
{
	(void)state;
	check_html("<script>alert('x')</script>", 100,
	    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
	check_html("a\"b&c", 100, "a&quot;b&amp;c");
	/* controls (C0, DEL, C1) become spaces: no line breaks into a page */
	check_html("a\nb\rc\td\x7f" "e\xc2\x85" "f", 100, "a b c d e f");
	/* bidi overrides and isolates dropped: a link cannot be shown
	   reversed */
	check_html("evil\xe2\x80\xae" "gpj.exe\xe2\x81\xa6x\xe2\x81\xa9", 100,
	    "evilgpj.exex");
	/* ill-formed UTF-8 and noncharacters become U+FFFD, one for each
	   maximal ill-formed part (an encoded surrogate is three) */
	check_html("a\xc0\xaf" "b\xed\xa0\x80" "c\xef\xbf\xbe", 100,
	    "a\xef\xbf\xbd\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "c\xef\xbf\xbd");
	/* cut at a character, with an ellipsis, never inside one */
	check_html("ab\xc3\xa9", 3, "ab\xe2\x80\xa6");
	check_html("ab\xc3\xa9", 4, "ab\xc3\xa9");
	check_html("&&&", 2, "&amp;&amp;\xe2\x80\xa6");
	check_html("", 0, "");
	check_html(NULL, 10, "");
}

static void
test_esc_term(void **state)
{
	(void)state;
	check_term("plain text", 100, "plain text");
	/* an escape sequence that would drive the terminal */
	check_term("\x1b]0;owned\x07\x1b[2J", 100, "?]0;owned??[2J");
	check_term("a\nb\x7f" "c\xc2\x9b" "31m", 100, "a?b?c?31m");
	check_term("x\xe2\x80\xae" "y\xe2\x81\xa7" "z", 100, "x?y?z");
	check_term("\xc3\xa9\xff\xed\xa0\x80", 100, "\xc3\xa9????");
	/* cut at a character */
	check_term("ab\xc3\xa9", 3, "ab...");
	check_term("ab\xc3\xa9" "c", 4, "ab\xc3\xa9...");
	check_term(NULL, 10, "-");
}

/* ---- time-zone names ---- */

static void
test_tzname(void **state)
{
	static const char *const good[] = { "UTC", "Africa/Nairobi",
		"America/Argentina/Buenos_Aires", "Etc/GMT+3", "Etc/GMT-14",
		"America/Port-au-Prince" };
	static const char *const bad[] = { "", "/etc/passwd",
		"../../../etc/passwd", "Europe/../../etc/passwd", "Africa/",
		"Africa//Nairobi", "Africa/Nairobi\n", "Africa/Nai robi",
		"zone.tab", "Europe\\Paris", "Europe/Paris;rm", "Europe/\xc3\xa9",
		"Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/B" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_null(base_tzname_check(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_non_null(base_tzname_check(bad[i]));
	assert_non_null(base_tzname_check(NULL));
	/* the longest name is accepted, one more is not */
	{
		char *n = unit_rep("a", BASE_TZNAME_MAX);

		assert_null(base_tzname_check(n));
		free(n);
		n = unit_rep("a", BASE_TZNAME_MAX + 1);
		assert_non_null(base_tzname_check(n));
		free(n);
	}
}

/* ---- results and logging ---- */

static void
test_err_log(void **state)
{
	struct tocsin_err e = { 0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(tocsin_fail(&e, TOCSIN_EDATA, "bad %s", "thing"),
	    TOCSIN_EDATA);
	assert_int_equal(e.code, TOCSIN_EDATA);
	assert_string_equal(e.msg, "bad thing");
	assert_int_equal(tocsin_fail(NULL, TOCSIN_EIO, "x"), TOCSIN_EIO);
	assert_int_equal(tocsin_exit_code(TOCSIN_OK), 0);
	assert_string_equal(tocsin_strerror(12345), "unknown error");
	f = open_memstream(&text, &len);
	assert_non_null(f);
	tocsin_logf(base_log_file, f, "tocsin serve: %s %d", "one line", 2);
	tocsin_logf(base_log_file, f, "%s", "second");
	tocsin_logf(NULL, f, "never");
	base_log_file(NULL, "nothing");
	assert_int_equal(fclose(f), 0);
	assert_string_equal(text, "tocsin serve: one line 2\nsecond\n");
	free(text);
}

/* ---- the monotonic clock ---- */

static int64_t
mono_ms_direct(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC in milliseconds: a reading of that clock taken between
   two calls lies between them (a wall clock, or seconds or microseconds,
   would not), two calls never go back, and a 20 ms sleep shows as at
   least 20. */
static void
test_mono_ms(void **state)
{
	struct timespec nap = { 0, 20 * 1000000L };
	int64_t a, mid, b, c;

	(void)state;
	a = base_mono_ms();
	mid = mono_ms_direct();
	b = base_mono_ms();
	assert_true(a > 0);
	assert_true(a <= mid);
	assert_true(mid <= b);
	assert_true(a <= b);
	assert_int_equal(nanosleep(&nap, NULL), 0);
	c = base_mono_ms();
	assert_true(c - b >= 20);
	/* milliseconds, not microseconds: a loaded machine is slow, but not
	   a minute slow */
	assert_true(c - b < 60000);
}

/* ---- phone numbers grouped for people ---- */

static void
test_phone_group(void **state)
{
	static const char *const cases[][2] = {
		{ "+254205550101", "+254 20 555 0101" },	/* 3-digit cc */
		{ "+12025550123", "+1 202 555 0123" },		/* NANP */
		{ "+74951234567", "+7 495 123 4567" },
		{ "+442079460000", "+44 207 946 0000" },	/* 2-digit */
		{ "+5511987654321", "+55 1198 765 4321" },
		{ "+4930123456", "+49 3012 3456" },		/* lone digit */
		{ "+35312345", "+353 12345" },
		{ "+2971234", "+297 1234" },
		{ "+99912345678901", "+999 1234 567 8901" },
	};
	char out[BASE_PHONE_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(base_phone_group(cases[i][0], out,
		    sizeof(out)), 0);
		assert_string_equal(out, cases[i][1]);
	}
	/* not E.164: as it is, never "improved" */
	assert_int_equal(base_phone_group("0800 123", out, sizeof(out)), 0);
	assert_string_equal(out, "0800 123");
	assert_int_equal(base_phone_group("+25420555x101", out, sizeof(out)),
	    0);
	assert_string_equal(out, "+25420555x101");
	assert_int_equal(base_phone_group("+1234567890123456789", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "+1234567890123456789");
	assert_int_equal(base_phone_group(NULL, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* too small a buffer: cut, said, and still terminated */
	assert_int_equal(base_phone_group("+254205550101", out, 8),
	    TOCSIN_ETOOBIG);
	assert_string_equal(out, "+254 20");
	assert_int_equal(base_phone_group("+254205550101", out, 0),
	    TOCSIN_ETOOBIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_buf_grows),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_utf8_next),
		cmocka_unit_test(test_utf8_put),
		cmocka_unit_test(test_utf8_valid_cut),
		cmocka_unit_test(test_esc_html),
		cmocka_unit_test(test_esc_term),
		cmocka_unit_test(test_tzname),
		cmocka_unit_test(test_err_log),
		cmocka_unit_test(test_mono_ms),
		cmocka_unit_test(test_phone_group),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
