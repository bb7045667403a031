/*
 * test_ingest.c: the pure parts of taking an ack from an e-mail reply.
 *
 * ingest_names: an alert id counts only as a word of its own, never
 * inside a longer id, and never read past the length given.
 * ack_sig_digest (ack.c, shared with the drop host's ack files): what
 * names a signature for "acks once" depends on the key and the creation
 * time and the signed text as OpenPGP's text mode reads it, on nothing
 * else, and is 64 hex digits.
 * ack_sig_in_time (ack.c): a signature older than the alert, or undated,
 * never acks it.
 * ingest_read_fd: a message from a pipe is read whole; one of exactly
 * MAILACK_MAX bytes is taken, one byte more is refused with the limit
 * named.
 * ack_unsigned_counts (ack.c, the one rule of the link, the e-mail reply,
 * the SMS reply and the drop file): an unsigned ack stops a team's ladder
 * unless its policy says unsigned_acks = false; a team without a policy,
 * or not in the repository, counts it.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>

#include "ingest.h"
#include "mailack.h"
#include "unit_util.h"

#define ID "20261202-a1b2c3d4e5f6"

struct names_case {
	const char *text;
	bool named;
};

static const struct names_case names_cases[] = {
	{ ID, true },
	{ "Alert " ID " received.", true },
	{ "alert:" ID "\r\n", true },
	{ "(" ID ")", true },
	{ "<tocsin." ID ".ke.0@x>", true },	/* dots are no id characters */
	{ "x" ID, false },
	{ ID "x", false },
	{ "-" ID, false },
	{ ID "-1", false },
	{ "20261202-a1b2c3d4e5f", false },
	{ "20261202 a1b2c3d4e5f6", false },
	{ "20261202-A1B2C3D4E5F6", false },	/* ids are compared exactly */
	{ "", false },
	{ "Lunch on Friday?", false },
};

static void
test_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(names_cases) / sizeof(names_cases[0]);
	    i++) {
		const struct names_case *c = &names_cases[i];

		if (ingest_names(c->text, strlen(c->text), ID) != c->named)
			fail_msg("\"%s\": expected %s", c->text, c->named ?
			    "named" : "not named");
	}
	assert_false(ingest_names(NULL, 0, ID));
	assert_false(ingest_names("abc", 3, ""));
}

/* The length bounds the search: a text cut inside the id, or just
   before a character that would make it part of a longer word. */
static void
test_names_bounded(void **state)
{
	static const char t[] = "see " ID "x";
	char *big = unit_rep("word ", 20000);

	(void)state;
	assert_false(ingest_names(t, 4 + strlen(ID) - 1, ID));
	assert_true(ingest_names(t, 4 + strlen(ID), ID));
	assert_false(ingest_names(t, sizeof(t) - 1, ID));
	assert_false(ingest_names(big, strlen(big), ID));
	/* the last word becomes the id */
	memcpy(big + strlen(big) - strlen(ID), ID, strlen(ID));
	big[strlen(big) - strlen(ID) - 1] = ' ';
	assert_true(ingest_names(big, strlen(big), ID));
	free(big);
}

static void
test_sig_digest(void **state)
{
	static const char fa[] = "06419B882080CCAF2A82F2DABEB58A988F6FE458";
	static const char fb[] = "20B250F2E2491CBCAD96D7162ACFC712AFA4321F";
	static const char t1[] = "Alert A1: on it.\nAnn\n";
	char a[65], b[65], c[65], d[65], e[65], f[65], g[65];

	(void)state;
	ack_sig_digest(fa, 1700000000, t1, strlen(t1), a);
	ack_sig_digest(fa, 1700000000, t1, strlen(t1), b);
	ack_sig_digest(fa, 1700000001, t1, strlen(t1), c);
	ack_sig_digest(fb, 1700000000, t1, strlen(t1), d);
	assert_int_equal(strlen(a), 64);
	assert_int_equal(strspn(a, "0123456789abcdef"), 64);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_string_not_equal(c, d);
	/* the text as OpenPGP's text mode reads it: white space at a line's
	   end, CRLF and empty lines at the end change nothing */
	ack_sig_digest(fa, 1700000000, "Alert A1: on it.  \r\nAnn\t\r\n\n\n",
	    strlen("Alert A1: on it.  \r\nAnn\t\r\n\n\n"), e);
	assert_string_equal(a, e);
	ack_sig_digest(fa, 1700000000, "Alert A1: on it.\nAnn", 20, f);
	assert_string_equal(a, f);
	/* another text signed in the same second by the same key: another */
	ack_sig_digest(fa, 1700000000, "Drop A1: seen.\n", 15, g);
	assert_string_not_equal(a, g);
	/* an empty line inside the text counts */
	ack_sig_digest(fa, 1700000000, "Alert A1: on it.\n\nAnn\n", 22, g);
	assert_string_not_equal(a, g);
}

static void
test_in_time(void **state)
{
	(void)state;
	assert_true(ack_sig_in_time(1000, 1000));
	assert_true(ack_sig_in_time(1001, 1000));
	assert_false(ack_sig_in_time(999, 1000));
	assert_false(ack_sig_in_time(0, 0));	/* undated */
	assert_false(ack_sig_in_time(-5, -10));
}

/* A message from a pipe, read to its end. */
static void
test_read_pipe(void **state)
{
	static const char msg[] = "From: a@example.org\r\n\r\nAck " ID "\r\n";
	struct tocsin_err err = { 0 };
	char *raw = NULL;
	size_t len = 0;
	int fd[2];

	(void)state;
	assert_int_equal(pipe(fd), 0);
	assert_int_equal(write(fd[1], msg, sizeof(msg) - 1),
	    (ssize_t)(sizeof(msg) - 1));
	assert_int_equal(close(fd[1]), 0);
	assert_int_equal(ingest_read_fd(fd[0], &raw, &len, &err), 0);
	assert_int_equal(len, sizeof(msg) - 1);
	assert_memory_equal(raw, msg, len);
	free(raw);
	assert_int_equal(close(fd[0]), 0);
}

/* A file of n bytes of 'x', open for reading at its start. */
static int
file_of(size_t n)
{
	char path[] = "/tmp/tingest-XXXXXX";
	char *x = malloc(n);
	int fd = mkstemp(path);

	assert_non_null(x);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	memset(x, 'x', n);
	assert_int_equal(write(fd, x, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	free(x);
	return fd;
}

/* The limit: MAILACK_MAX bytes are taken, one more is refused. */
static void
test_read_limit(void **state)
{
	struct tocsin_err err = { 0 };
	char *raw = NULL;
	size_t len = 0;
	int fd;

	(void)state;
	fd = file_of(MAILACK_MAX);
	assert_int_equal(ingest_read_fd(fd, &raw, &len, &err), 0);
	assert_int_equal(len, MAILACK_MAX);
	free(raw);
	(void)close(fd);
	raw = NULL;
	fd = file_of(MAILACK_MAX + 1);
	assert_int_equal(ingest_read_fd(fd, &raw, &len, &err), TOCSIN_ETOOBIG);
	assert_null(raw);
	assert_string_equal(err.msg, "the message is over 1048576 bytes; no "
	    "ack taken");
	(void)close(fd);
}

/* The one rule of whether an unsigned ack stops a ladder. */
static void
test_unsigned_counts(void **state)
{
	struct policy_policy on = { .unsigned_acks = true };
	struct policy_policy off = { .unsigned_acks = false };
	struct policy_team t = { .policy = NULL };

	(void)state;
	t.policy = &on;
	assert_true(ack_unsigned_counts(&t));
	t.policy = &off;
	assert_false(ack_unsigned_counts(&t));
	t.policy = NULL;
	assert_true(ack_unsigned_counts(&t));
	assert_true(ack_unsigned_counts(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_names_bounded),
		cmocka_unit_test(test_sig_digest),
		cmocka_unit_test(test_in_time),
		cmocka_unit_test(test_read_pipe),
		cmocka_unit_test(test_read_limit),
		cmocka_unit_test(test_unsigned_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
