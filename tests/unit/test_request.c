/*
 * test_request.c: the parser of a team's request for help (request.h).
 *
 * request_parse: a "Request:" line anywhere (any case, blanks before it),
 * its header lines (Team:, Name-us:) up to a blank line, the text kept as
 * the summary and the body; not a request without the line.
 * request_parse_sms: "HELP" (any case) then a blank, ':' or the end.
 * request_clean: controls, bidi overrides and ill-formed bytes removed,
 * CR LF as LF, cut at a whole character within the limit, never read past
 * the length given.  request_sig_in_time: the window of a signature.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "request.h"
#include "utf8.h"

static void
t_parse_basic(void **state)
{
	struct request_text r;
	const char *m = "Hello desk,\n  request:  resolvers see forged answers "
	    "\nTeam: ke\nName-us: YES\n\nPlease warn the others.\r\n\r\n";

	(void)state;
	assert_int_equal(request_parse(m, strlen(m), &r), 0);
	assert_string_equal(r.text, "resolvers see forged answers\nPlease "
	    "warn the others.");
	assert_int_equal(r.len, strlen(r.text));
	assert_string_equal(r.team, "ke");
	assert_true(r.name_us);
	assert_false(r.cut);
}

static void
t_parse_not_a_request(void **state)
{
	struct request_text r;
	const char *acks[] = { "We have alert 20260101-abc; ACK 1234 5678\n",
		"No requests: none\n", "Re-request: x\n", "" };

	(void)state;
	for (size_t i = 0; i < sizeof(acks) / sizeof(acks[0]); i++)
		assert_int_equal(request_parse(acks[i], strlen(acks[i]), &r),
		    -1);
	assert_int_equal(request_parse(NULL, 0, &r), -1);
}

static void
t_parse_fields(void **state)
{
	struct request_text r;
	const char *m = "Request: a\nName-us: maybe\nTeam: k e\nmore text\n";

	(void)state;
	assert_int_equal(request_parse(m, strlen(m), &r), 0);
	assert_false(r.name_us);	/* only "yes" names the team */
	/* a Team: value that is no id names no team of ours */
	assert_string_equal(r.team, "(not a team id)");
	/* the first line that is no field starts the body */
	assert_string_equal(r.text, "a\nmore text");
}

static void
t_parse_length_given(void **state)
{
	struct request_text r;
	char *m = malloc(12);

	(void)state;
	/* no NUL after the bytes: ASan sees any read past them */
	memcpy(m, "Request: ab", 11);
	m[11] = 'X';
	assert_int_equal(request_parse(m, 11, &r), 0);
	assert_string_equal(r.text, "ab");
	free(m);
}

static void
t_sms(void **state)
{
	struct request_text r;

	(void)state;
	assert_int_equal(request_parse_sms("  help: dns down", 16, &r), 0);
	assert_string_equal(r.text, "dns down");
	assert_int_equal(request_parse_sms("HELP", 4, &r), 0);
	assert_string_equal(r.text, "");
	assert_int_equal(request_parse_sms("helpful note", 12, &r), -1);
	assert_int_equal(request_parse_sms("ACK 12345678", 12, &r), -1);
	assert_int_equal(request_parse_sms("hel", 3, &r), -1);
}

static void
t_clean(void **state)
{
	char out[64];
	bool cut;
	size_t removed, n;
	/* BEL, ESC, RLO, LRI, PDI, C1 (U+0085), a bad byte, CR LF */
	const char in[] = "\n\na\x07" "b\x1b[1m\xe2\x80\xae" "c\xe2\x81\xa6"
	    "d\xe2\x81\xa9\xc2\x85" "e\xff" "f\r\ng\t \n\n";

	(void)state;
	n = request_clean(in, sizeof(in) - 1, out, sizeof(out), &cut,
	    &removed);
	assert_string_equal(out, "ab[1mcdef\ng");
	assert_int_equal(n, strlen(out));
	assert_false(cut);
	assert_int_equal(removed, 7);
}

static void
t_clean_cut_at_a_character(void **state)
{
	char in[REQUEST_TEXT_MAX * 2], out[REQUEST_TEXT_MAX + 1];
	bool cut;
	size_t removed, n;

	(void)state;
	/* "é" is two bytes; one byte first so that the limit falls inside */
	in[0] = 'x';
	for (size_t i = 1; i + 1 < sizeof(in); i += 2) {
		in[i] = '\xc3';
		in[i + 1] = '\xa9';
	}
	n = request_clean(in, sizeof(in) - 1, out, sizeof(out), &cut,
	    &removed);
	assert_true(cut);
	assert_true(n <= REQUEST_TEXT_MAX);
	assert_int_equal(n, REQUEST_TEXT_MAX - 1);
	assert_true(utf8_valid(out, n));
}

static void
t_request_cut(void **state)
{
	struct request_text r;
	size_t len = 10 + 5000;
	char *m = malloc(len);

	(void)state;
	memcpy(m, "Request: ", 9);
	memset(m + 9, 'a', len - 9);
	m[len - 1] = '\n';
	assert_int_equal(request_parse(m, len, &r), 0);
	assert_true(r.cut);
	assert_int_equal(r.len, REQUEST_TEXT_MAX);
	assert_int_equal(strlen(r.text), REQUEST_TEXT_MAX);
	free(m);
}

static void
t_sig_window(void **state)
{
	int64_t now = 1800000000;

	(void)state;
	assert_true(request_sig_in_time(now, now));
	assert_true(request_sig_in_time(now - REQUEST_SIG_MAX_AGE, now));
	assert_false(request_sig_in_time(now - REQUEST_SIG_MAX_AGE - 1, now));
	assert_true(request_sig_in_time(now + REQUEST_SIG_SKEW, now));
	assert_false(request_sig_in_time(now + REQUEST_SIG_SKEW + 1, now));
	assert_false(request_sig_in_time(0, now));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_parse_basic),
		cmocka_unit_test(t_parse_not_a_request),
		cmocka_unit_test(t_parse_fields),
		cmocka_unit_test(t_parse_length_given),
		cmocka_unit_test(t_sms),
		cmocka_unit_test(t_clean),
		cmocka_unit_test(t_clean_cut_at_a_character),
		cmocka_unit_test(t_request_cut),
		cmocka_unit_test(t_sig_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
