/*
 * test_desk.c: the desk board's pure parts.
 *
 * The token file: lines taken, comments and blank lines skipped, a bad
 * line refused with its file and line, a name given twice refused, a file
 * open to others refused; a token matches its own operator's name only;
 * a made token matches the line made with it.  HTTP Basic: a good header
 * read, the broken ones refused.  The board's order of teams.  A contact
 * card carries every attribute, with markup escaped and bidi overrides
 * dropped, even inside a tel: link.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desk.h"

/* two hashes: any 64 hex digits will do */
#define HASH_A "0c3db8fb5d8fca4d9f1fd10a7e61ba7dde16ab74c3e88cbcc2ba8ae9c8896f41"
#define HASH_B "d0f50b6c65c28cd0de6f3f7b0fb9d8a6e27b1d4e3a8c89ab35f38fa53fdd0e5b"

static void
test_tokens_parse(void **state)
{
	struct desk_operator *ops = NULL;
	struct tocsin_err err = { 0 };
	char tok[DESK_TOKEN_LEN + 1], line[200], text[400];
	size_t n = 0;

	(void)state;
	assert_int_equal(desk_token_make("alice", tok, line, sizeof(line),
	    &err), 0);
	(void)snprintf(text, sizeof(text), "# operators\n\n%s\r\nbob\t%s",
	    line, HASH_B);
	assert_int_equal(desk_tokens_parse(text, strlen(text), "f", &ops, &n,
	    &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ops[0].name, "alice");
	assert_string_equal(ops[1].name, "bob");
	assert_true(desk_tokens_match(ops, n, "alice", tok));
	/* another's name, a changed token, a prefix: no */
	assert_false(desk_tokens_match(ops, n, "bob", tok));
	tok[0] = tok[0] == 'a' ? 'b' : 'a';
	assert_false(desk_tokens_match(ops, n, "alice", tok));
	assert_false(desk_tokens_match(ops, n, "alice", ""));
	free(ops);
}

static void
expect_bad(const char *text, const char *what)
{
	struct desk_operator *ops = (void *)1;
	struct tocsin_err err = { 0 };
	size_t n = 7;

	assert_int_equal(desk_tokens_parse(text, strlen(text), "/etc/t", &ops,
	    &n, &err), TOCSIN_ECONFIG);
	assert_null(ops);
	assert_int_equal(n, 0);
	if (strstr(err.msg, what) == NULL)
		fail_msg("\"%s\" not in \"%s\"", what, err.msg);
}

static void
test_tokens_bad_lines(void **state)
{
	(void)state;
	expect_bad("alice " HASH_A "\nbob", "/etc/t:2: not");
	expect_bad("alice " HASH_A "\n\n#\nbob " HASH_A "x\n", "/etc/t:4:");
	expect_bad("al<ce " HASH_A "\n", "/etc/t:1:");
	expect_bad(" " HASH_A "\n", "/etc/t:1:");
	expect_bad("alice  " HASH_A "\n", "/etc/t:1:");
	expect_bad("alice " "0c3db8fb5d8fca4d9f1fd10a7e61ba7dde16ab74c3e88cbcc2"
	    "ba8ae9c8896f4g\n", "/etc/t:1: the hash");
	expect_bad("alice " HASH_A "\nalice " HASH_B "\n",
	    "/etc/t:2: operator alice is named twice");
	expect_bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaa " HASH_A "\n", "/etc/t:1:");
}

static void
test_tokens_load_mode(void **state)
{
	char path[] = "/tmp/desk-tokens-XXXXXX";
	struct desk_operator *ops = NULL;
	struct tocsin_err err = { 0 };
	size_t n = 0;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "alice " HASH_A "\n", 71), 71);
	(void)close(fd);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(desk_tokens_load(path, &ops, &n, &err), 0);
	assert_int_equal(n, 1);
	free(ops);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(desk_tokens_load(path, &ops, &n, &err),
	    TOCSIN_ECONFIG);
	assert_non_null(strstr(err.msg, "mode 0600"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(desk_tokens_load(path, &ops, &n, &err),
	    TOCSIN_ECONFIG);
}

static void
test_token_make_refuses_bad_names(void **state)
{
	char tok[DESK_TOKEN_LEN + 1], line[200], tok2[DESK_TOKEN_LEN + 1];
	struct tocsin_err err = { 0 };

	(void)state;
	assert_int_equal(desk_token_make("a b", tok, line, sizeof(line), &err),
	    TOCSIN_EDATA);
	assert_int_equal(desk_token_make("", tok, line, sizeof(line), &err),
	    TOCSIN_EDATA);
	assert_int_equal(desk_token_make("x", tok, line, sizeof(line), &err), 0);
	assert_int_equal(desk_token_make("x", tok2, line, sizeof(line), &err),
	    0);
	assert_int_equal(strlen(tok), 64);
	assert_string_not_equal(tok, tok2);
	assert_null(strstr(line, tok2));
}

static void
test_basic_parse(void **state)
{
	char name[DESK_NAME_MAX + 1], tok[128];

	(void)state;
	/* "alice:s3cr:et" */
	assert_int_equal(desk_basic_parse("Basic YWxpY2U6czNjcjpldA==", name,
	    tok, sizeof(tok)), 0);
	assert_string_equal(name, "alice");
	assert_string_equal(tok, "s3cr:et");
	assert_int_equal(desk_basic_parse("basic YWxpY2U6eA==", name, tok,
	    sizeof(tok)), 0);
	assert_string_equal(tok, "x");
	/* not Basic, not base64, no colon, an empty part, padding inside,
	   a NUL inside, too long for the room */
	assert_int_equal(desk_basic_parse("Bearer abc", name, tok, sizeof(tok)),
	    -1);
	assert_int_equal(desk_basic_parse("Basic YWxp*2U6eA==", name, tok,
	    sizeof(tok)), -1);
	assert_int_equal(desk_basic_parse("Basic YWxpY2U=", name, tok,
	    sizeof(tok)), -1);
	assert_int_equal(desk_basic_parse("Basic OnRvaw==", name, tok,
	    sizeof(tok)), -1);			/* ":tok" */
	assert_int_equal(desk_basic_parse("Basic YWxpY2U6", name, tok,
	    sizeof(tok)), -1);			/* "alice:" */
	assert_int_equal(desk_basic_parse("Basic YW=pY2U6eA==", name, tok,
	    sizeof(tok)), -1);
	assert_int_equal(desk_basic_parse("Basic YQA6eA==", name, tok,
	    sizeof(tok)), -1);			/* "a\0:x" */
	assert_int_equal(desk_basic_parse("Basic YWxpY2U6eHh4eHh4eHg=", name,
	    tok, 4), -1);
	assert_int_equal(desk_basic_parse(NULL, name, tok, sizeof(tok)), -1);
}

static void
test_group_order(void **state)
{
	struct store_team_row t[7] = {
		{ .team = "a1", .state = "acked", .step = 0 },
		{ .team = "u1", .state = "active", .step = 0 },
		{ .team = "r1", .state = "unreached", .step = 2 },
		{ .team = "e1", .state = "active", .step = 1 },
		{ .team = "c1", .state = "cancelled", .step = 0 },
		{ .team = "u2", .state = "active", .step = 0 },
		{ .team = "a2", .state = "acked", .step = 3 },
	};
	const char *want[7] = { "u1", "u2", "e1", "r1", "a1", "a2", "c1" };
	size_t order[7];

	(void)state;
	assert_int_equal(desk_group_of(&t[6]), DESK_ACKED);
	assert_int_equal(desk_group_of(&t[3]), DESK_ESCALATED);
	assert_int_equal(desk_group_of(&t[4]), DESK_STOPPED);
	{
		struct store_team_row held = { .team = "h", .state = "active",
			.step = -1 }, none = { .team = "n" };

		assert_int_equal(desk_group_of(&held), DESK_UNACKED);
		assert_int_equal(desk_group_of(&none), DESK_STOPPED);
	}
	desk_order(t, 7, order);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(t[order[i]].team, want[i]);
	assert_string_equal(desk_group_name(DESK_UNREACHED), "unreached");
}

static void
test_contact_card_escapes(void **state)
{
	struct policy_messenger m = { .service = "signal",
		.id = "<b>+1</b>" };
	struct policy_contact c = {
		.name = "Eve <script>x</script> \xe2\x80\xae" "evil",
		.role = "CTO & \"chief\"", .primary = true,
		.timezone = "Africa/Nairobi", .languages = { "sw", "en" },
		.nlanguages = 2, .email = "e@x.example",
		.pgp = "0123456789ABCDEF0123456789ABCDEF01234567",
		.phone = "+254\"><x", .mobile = "+254700000001",
		.emergency_phone = "+254700000002", .fax = "+254700000003",
		.messengers = &m, .nmessengers = 1,
		.other_telecom = "HF \xe2\x81\xa6radio\xe2\x81\xa9\x01",
		.country = "KE", .bh_start = 6 * 60, .bh_end = 15 * 60 + 30,
	};
	struct base_buf b = { .limit = 65536 };

	(void)state;
	desk_contact_html(&b, &c);
	assert_non_null(b.p);
	assert_null(strstr(b.p, "<script"));
	assert_non_null(strstr(b.p, "Eve &lt;script&gt;x&lt;/script&gt; "
	    "evil"));
	assert_null(strstr(b.p, "\xe2\x80\xae"));
	assert_null(strstr(b.p, "\xe2\x81\xa6"));
	assert_null(strstr(b.p, "\x01"));
	assert_non_null(strstr(b.p, "CTO &amp; &quot;chief&quot;"));
	assert_non_null(strstr(b.p, "<a href=\"tel:+254&quot;&gt;&lt;x\">"));
	assert_non_null(strstr(b.p, "<dt>Mobile</dt><dd><a href=\"tel:"
	    "+254700000001\">"));
	assert_non_null(strstr(b.p, "<dt>Emergency phone</dt>"));
	assert_non_null(strstr(b.p, "<dt>Fax</dt><dd><a href=\"tel:"
	    "+254700000003\">"));
	assert_non_null(strstr(b.p, "signal: &lt;b&gt;+1&lt;/b&gt;"));
	assert_non_null(strstr(b.p, "HF radio"));
	assert_non_null(strstr(b.p, "<dd>sw, en</dd>"));
	assert_non_null(strstr(b.p, "Africa/Nairobi"));
	assert_non_null(strstr(b.p, "0123456789ABCDEF0123456789ABCDEF01234567"));
	assert_non_null(strstr(b.p, "06:00-15:30 UTC"));
	assert_non_null(strstr(b.p, "mailto:e@x.example"));
	assert_non_null(strstr(b.p, ">primary<"));
	assert_null(strstr(b.p, ">substitute<"));
	base_buf_free(&b);
}

static void
test_span(void **state)
{
	char s[48];

	(void)state;
	desk_span(s, sizeof(s), 42);
	assert_string_equal(s, "42 s");
	desk_span(s, sizeof(s), 185);
	assert_string_equal(s, "3 min");
	desk_span(s, sizeof(s), 7500);
	assert_string_equal(s, "2 h 05 min");
	desk_span(s, sizeof(s), 100000);
	assert_string_equal(s, "1 d 3 h");
	desk_span(s, sizeof(s), -5);
	assert_string_equal(s, "0 s");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens_parse),
		cmocka_unit_test(test_tokens_bad_lines),
		cmocka_unit_test(test_tokens_load_mode),
		cmocka_unit_test(test_token_make_refuses_bad_names),
		cmocka_unit_test(test_basic_parse),
		cmocka_unit_test(test_group_order),
		cmocka_unit_test(test_contact_card_escapes),
		cmocka_unit_test(test_span),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
