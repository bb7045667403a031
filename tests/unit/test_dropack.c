/*
 * test_dropack.c: the pure parts of the drop host's ack files.
 *
 * dropack_name: which names are "alert-ALERT.TEAM[.anything]", and what
 * comes out of them, byte for byte.  dropack_by: the "By: NAME" line of an
 * unsigned ack file, found only at the start of a line, cleaned of
 * controls, trimmed, cut at 100 bytes, and never read past the length it
 * is given.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dropack.h"
#include "unit_util.h"

/* ---- dropack_name ---- */

struct name_case {
	const char *name;
	int rc;
	const char *alert, *team;	/* when rc is 0 */
};

static const struct name_case name_cases[] = {
	/* valid */
	{ "alert-20261127-a1b2c3d4e5f6.ke", 0, "20261127-a1b2c3d4e5f6", "ke" },
	{ "alert-20261127-a1b2c3d4e5f6.ke.txt", 0, "20261127-a1b2c3d4e5f6",
	    "ke" },
	{ "alert-X.ke.s0.txt.asc", 0, "X", "ke" },
	{ "alert-X.ke.", 0, "X", "ke" },
	{ "alert-X.ke.a b/../c", 0, "X", "ke" },	/* anything after */
	{ "alert-a-B-9.Team-01", 0, "a-B-9", "Team-01" },
	{ "alert---.-", 0, "--", "-" },
	/* invalid */
	{ "", -1, NULL, NULL },
	{ "alert-", -1, NULL, NULL },
	{ "alert-.ke", -1, NULL, NULL },
	{ "alert-X.", -1, NULL, NULL },
	{ "alert-X", -1, NULL, NULL },
	{ "alrt-X.ke", -1, NULL, NULL },
	{ "Alert-X.ke", -1, NULL, NULL },
	{ "alert", -1, NULL, NULL },
	{ "alert-X.k e", -1, NULL, NULL },
	{ "alert-X/..ke", -1, NULL, NULL },
	{ "alert-X..txt", -1, NULL, NULL },
	{ "alert-X.ke/", -1, NULL, NULL },
	{ "alert-X.k\ne", -1, NULL, NULL },
	{ "alert-X\x01.ke", -1, NULL, NULL },
	{ "alert-X_Y.ke", -1, NULL, NULL },
	{ "alert-X.k\xc3\xa9", -1, NULL, NULL },
	{ " alert-X.ke", -1, NULL, NULL },
	{ "alert-.", -1, NULL, NULL },
	{ "alert-..", -1, NULL, NULL },
};

static void
test_name_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]);
	    i++) {
		const struct name_case *c = &name_cases[i];
		char alert[64], team[64];
		int rc;

		memset(alert, 'Z', sizeof(alert));
		memset(team, 'Z', sizeof(team));
		rc = dropack_name(c->name, alert, team);
		if (rc != c->rc)
			fail_msg("dropack_name(\"%s\") = %d, want %d", c->name,
			    rc, c->rc);
		if (rc != 0)
			continue;
		assert_string_equal(alert, c->alert);
		assert_string_equal(team, c->team);
	}
	assert_int_equal(dropack_name(NULL, (char[64]){ 0 },
	    (char[64]){ 0 }), -1);
}

/* Ids and teams of 63 bytes fit alert[64] and team[64]; 64 and more do
   not, whatever follows. */
static void
test_name_lengths(void **state)
{
	char alert[64], team[64], name[512];
	char *s63 = unit_rep("a", 63), *s64 = unit_rep("b", 64);
	char *s200 = unit_rep("c", 200);

	(void)state;
	(void)snprintf(name, sizeof(name), "alert-%s.ke", s63);
	assert_int_equal(dropack_name(name, alert, team), 0);
	assert_string_equal(alert, s63);
	assert_string_equal(team, "ke");
	(void)snprintf(name, sizeof(name), "alert-X.%s.txt", s63);
	assert_int_equal(dropack_name(name, alert, team), 0);
	assert_string_equal(alert, "X");
	assert_string_equal(team, s63);
	(void)snprintf(name, sizeof(name), "alert-%s.%s", s63, s63);
	assert_int_equal(dropack_name(name, alert, team), 0);
	assert_string_equal(alert, s63);
	assert_string_equal(team, s63);

	(void)snprintf(name, sizeof(name), "alert-%s.ke", s64);
	assert_int_equal(dropack_name(name, alert, team), -1);
	(void)snprintf(name, sizeof(name), "alert-X.%s", s64);
	assert_int_equal(dropack_name(name, alert, team), -1);
	(void)snprintf(name, sizeof(name), "alert-X.%s.txt", s64);
	assert_int_equal(dropack_name(name, alert, team), -1);
	(void)snprintf(name, sizeof(name), "alert-%s.ke.txt", s200);
	assert_int_equal(dropack_name(name, alert, team), -1);
	(void)snprintf(name, sizeof(name), "alert-X.%s", s200);
	assert_int_equal(dropack_name(name, alert, team), -1);
	/* a long tail is fine: it is not part of either */
	(void)snprintf(name, sizeof(name), "alert-X.ke.%s", s200);
	assert_int_equal(dropack_name(name, alert, team), 0);
	assert_string_equal(alert, "X");
	assert_string_equal(team, "ke");
	free(s63);
	free(s64);
	free(s200);
}

/* ---- dropack_by ---- */

struct by_case {
	const char *text;
	bool found;
	const char *by;		/* when found */
};

static const struct by_case by_cases[] = {
	{ "By: Ann\n", true, "Ann" },
	{ "by:   Ann Lee  \nACK 1\n", true, "Ann Lee" },
	{ "BY:\tAnn\n", true, "Ann" },
	{ "By:Ann", true, "Ann" },			/* no final newline */
	{ "By: Ann Lee", true, "Ann Lee" },
	{ "By: Ann\r\n", true, "Ann" },			/* CR is cut off */
	{ "ACK 1234 5678\nBy: Bo\n", true, "Bo" },	/* not line 1 */
	{ "By: Bo\nBy: Cy\n", true, "Bo" },		/* the first one */
	{ "By: A\x01" "B\x1f" "C\x7f" "D\n", true, "A B C D" },
	{ "By: A\tB\n", true, "A B" },
	{ "By: \xc3\xa9mile\n", true, "\xc3\xa9mile" },	/* UTF-8 kept */
	{ "By: Ann\x01\x02\n", true, "Ann" },		/* trailing controls */
	{ "By: \x01\x02" "Ann\n", true, "Ann" },	/* leading controls */
	{ "By: A\xc2\x85" "B\n", true, "A B" },		/* NEL */
	{ "By: A\xe2\x80\xa8" "B\xe2\x80\xae" "C\n", true, "A B C" },
	{ "By: A\xff\xc3" "B\n", true, "A B" },		/* invalid bytes */
	{ "By: A\xe0\x80\x80" "B\n", true, "A B" },	/* overlong */
	/* none */
	{ "", false, NULL },
	{ "ACK 1234 5678\n", false, NULL },
	{ "By:\n", false, NULL },
	{ "By:", false, NULL },
	{ "By:   \n", false, NULL },
	{ "By: \x01\x02\n", false, NULL },
	{ "xBy: a\n", false, NULL },
	{ "xBy: a", false, NULL },
	{ " By: a\n", false, NULL },
	{ "Bye: a\n", false, NULL },
	{ "B y: a\n", false, NULL },
	{ "\n\n\n", false, NULL },
};

static void
test_by_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(by_cases) / sizeof(by_cases[0]); i++) {
		const struct by_case *c = &by_cases[i];
		size_t len = strlen(c->text);
		/* an exact-size copy without a NUL, so a sanitizer sees any
		   read past len */
		char *text = malloc(len > 0 ? len : 1);
		char by[128];
		bool found;

		assert_non_null(text);
		memcpy(text, c->text, len);
		memset(by, 'Z', sizeof(by));
		found = dropack_by(text, len, by);
		free(text);
		if (found != c->found)
			fail_msg("dropack_by(case %zu) = %d, want %d", i,
			    found, c->found);
		if (found)
			assert_string_equal(by, c->by);
	}
}

/* Controls become spaces; only leading blanks are skipped and only
   trailing spaces dropped. */
static void
test_by_controls(void **state)
{
	static const char text[] = "By: A\0B\x1b[31mC\x7f\n";
	char by[128];

	(void)state;
	/* a NUL inside the line is a control too */
	assert_true(dropack_by(text, sizeof(text) - 1, by));
	assert_string_equal(by, "A B [31mC");
	for (const char *p = by; *p != '\0'; p++)
		assert_true((unsigned char)*p >= 0x20 &&
		    (unsigned char)*p != 0x7f);
}

/* A cut never splits a character: "a" and 60 two-byte letters keep 49. */
static void
test_by_cut_utf8(void **state)
{
	char *name = unit_rep("\xc3\xa9", 60);
	char *text, by[128];

	(void)state;
	assert_true(asprintf(&text, "By: a%s\n", name) > 0);
	assert_true(dropack_by(text, strlen(text), by));
	assert_int_equal(strlen(by), 99);
	assert_memory_equal(by + 1, name, 98);
	free(text);
	free(name);
}

/* 300 bytes of name: cut at 100, and by stays terminated. */
static void
test_by_long(void **state)
{
	char *name = unit_rep("n", 300);
	char *text, by[128];
	size_t len;

	(void)state;
	assert_true(asprintf(&text, "By: %s\nACK 1\n", name) > 0);
	len = strlen(text);
	memset(by, 'Z', sizeof(by));
	assert_true(dropack_by(text, len, by));
	assert_int_equal(strlen(by), 100);
	assert_memory_equal(by, name, 100);
	free(text);

	/* trailing spaces inside the first 100 bytes still go */
	{
		char *pad = unit_rep(" ", 200);

		assert_true(asprintf(&text, "By: Ann%s", pad) > 0);
		assert_true(dropack_by(text, strlen(text), by));
		assert_string_equal(by, "Ann");
		free(text);
		free(pad);
	}
	/* exactly 100 is kept whole; leading blanks do not count */
	name[100] = '\0';
	assert_true(asprintf(&text, "By: \t  %s\n", name) > 0);
	assert_true(dropack_by(text, strlen(text), by));
	assert_string_equal(by, name);
	free(text);
	free(name);
}

/* len, not the NUL, ends the text. */
static void
test_by_len(void **state)
{
	static const char text[] = "By: Ann Lee\nBy: Bo\n";
	char by[128];

	(void)state;
	/* the line ends at len, even mid-line */
	assert_true(dropack_by(text, 7, by));
	assert_string_equal(by, "Ann");
	assert_true(dropack_by(text, 5, by));
	assert_string_equal(by, "A");
	/* "By: " alone, and shorter, is no name */
	assert_false(dropack_by(text, 4, by));
	assert_false(dropack_by(text, 3, by));
	assert_false(dropack_by(text, 2, by));
	assert_false(dropack_by(text, 0, by));
	/* text after len is never seen */
	{
		static const char t2[] = "ACK 1\nBy: Cy\n";

		assert_false(dropack_by(t2, 6, by));
		assert_false(dropack_by(t2, 9, by));
		assert_true(dropack_by(t2, 11, by));
		assert_string_equal(by, "C");
	}
	/* exact-size heap copies, no NUL after: ASan sees any over-read */
	for (size_t n = 0; n <= sizeof(text) - 1; n++) {
		char *p = malloc(n > 0 ? n : 1);

		assert_non_null(p);
		memcpy(p, text, n);
		(void)dropack_by(p, n, by);
		free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_table),
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_by_table),
		cmocka_unit_test(test_by_controls),
		cmocka_unit_test(test_by_long),
		cmocka_unit_test(test_by_cut_utf8),
		cmocka_unit_test(test_by_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
