/*
 * test_audit.c: the pure parts of the audit checkpoint and of its
 * witnesses.
 *
 * audit_checkpoint_format/parse: a checkpoint's text goes round, and the
 * parser takes nothing but exactly that format (hostile texts: other keys,
 * signs, leading zeros, upper-case or short hashes, extra lines, NULs,
 * over the limit).  audit_checkpoint_check against a real store in
 * memory: the record named with its hash is intact, a seq past the end is
 * "truncated", another hash "rewritten".  audit_stamp adds the head as the
 * body's last line; audit_since_parse takes RFC 3339 and "-1h".
 * audit_actor names the real uid whatever $USER and $LOGNAME claim.
 * audit_verify on a store in a temporary folder: an empty log with no
 * checkpoint is intact, a log with records and none is not unless
 * --no-checkpoint, and a witness that does not hold fails it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <pwd.h>
#include <unistd.h>

#include "audit.h"
#include "unit_util.h"
#include "unit_store.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void
test_round_trip(void **state)
{
	struct audit_checkpoint cp = { .seq = 42, .hash = H64,
		.time = 1796000000 }, back;
	struct tocsin_err err;
	char buf[AUDIT_CP_TEXT_MAX];

	(void)state;
	assert_int_equal(audit_checkpoint_format(&cp, buf, sizeof(buf), &err),
	    0);
	assert_string_equal(buf, "tocsin audit checkpoint 1\nseq: 42\nhash: "
	    H64 "\ntime: 2026-11-30T00:53:20Z\n");
	assert_int_equal(audit_checkpoint_parse(buf, strlen(buf), &back, &err),
	    0);
	assert_int_equal(back.seq, 42);
	assert_string_equal(back.hash, H64);
	assert_int_equal(back.time, 1796000000);
	/* a buffer too small says so */
	assert_int_equal(audit_checkpoint_format(&cp, buf, 40, &err),
	    TOCSIN_ETOOBIG);
}

static void
test_tolerated(void **state)
{
	static const char *const ok[] = {
		"tocsin audit checkpoint 1\nseq: 1\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z",		/* no last LF */
		"tocsin audit checkpoint 1\r\nseq: 1\r\nhash: " H64
		    "\r\ntime: 2026-11-30T00:53:20Z\r\n",	/* CRLF */
		"tocsin audit checkpoint 1\nseq: 1\nhash: " H64
		    "\ntime: 2026-11-30T01:53:20+01:00\n\n\n",
		"tocsin audit checkpoint 1\nseq: 999999999999999999\nhash: "
		    H64 "\ntime: 2026-11-30T00:53:20Z\n",
	};
	struct audit_checkpoint cp;
	struct tocsin_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(audit_checkpoint_parse(ok[i], strlen(ok[i]),
		    &cp, &err), 0);
		if (i < 3) {
			assert_int_equal(cp.seq, 1);
			assert_int_equal(cp.time, 1796000000);
		}
	}
}

static void
test_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"tocsin audit checkpoint 2\nseq: 1\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n",
		" tocsin audit checkpoint 1\nseq: 1\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: 0\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: 01\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: -1\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: +1\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: 1 \nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq:1\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: 9999999999999999999\nhash: "
		    H64 "\ntime: 2026-11-30T00:53:20Z\n",	/* 19 digits */
		"tocsin audit checkpoint 1\nhash: " H64 "\nseq: 1\n"
		    "time: 2026-11-30T00:53:20Z\n",		/* order */
		"tocsin audit checkpoint 1\nseq: 1\nhash: " H64 "0"
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: 1\nhash: 0123"
		    "\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: 1\nhash: "
		    "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789"
		    "abcdef\ntime: 2026-11-30T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: 1\nhash: " H64
		    "\ntime: 2026-11-30 05:33:20\n",
		"tocsin audit checkpoint 1\nseq: 1\nhash: " H64
		    "\ntime: 2026-02-31T00:53:20Z\n",
		"tocsin audit checkpoint 1\nseq: 1\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\nseq: 2\n",	/* a 5th line */
		"tocsin audit checkpoint 1\nseq: 1\nhash: " H64
		    "\ntime: 2026-11-30T00:53:20Z\n\nx",
		"tocsin audit checkpoint 1\nseq: 1\nhash: " H64,
	};
	struct audit_checkpoint cp;
	struct tocsin_err err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = '\0';
		if (audit_checkpoint_parse(bad[i], strlen(bad[i]), &cp, &err)
		    == 0)
			fail_msg("case %zu parsed: %s", i, bad[i]);
		assert_true(err.msg[0] != '\0');
	}
}

static void
test_nul_and_limit(void **state)
{
	char text[] = "tocsin audit checkpoint 1\nseq: 1\nhash: " H64
	    "\ntime: 2026-11-30T00:53:20Z\n";
	struct audit_checkpoint cp;
	struct tocsin_err err;
	char *big;

	(void)state;
	/* a NUL inside a line: never a shorter value */
	text[sizeof("tocsin audit checkpoint 1\nseq: 1") - 1] = '\0';
	assert_int_equal(audit_checkpoint_parse(text, sizeof(text) - 1, &cp,
	    &err), TOCSIN_EDATA);
	/* over the limit, however well-formed its start */
	big = unit_rep("\n", AUDIT_CP_TEXT_MAX + 1);
	memcpy(big, "tocsin audit checkpoint 1\n", 26);
	assert_int_equal(audit_checkpoint_parse(big, strlen(big), &cp, &err),
	    TOCSIN_ETOOBIG);
	free(big);
}

static void
test_check_against_a_store(void **state)
{
	struct store *st = NULL;
	struct tocsin_err err;
	struct audit_checkpoint cp = { .time = 1796000000 };
	int64_t ts;

	(void)state;
	assert_int_equal(store_open(":memory:", &st, &err), 0);
	assert_int_equal(store_audit(st, 100, "unix:root(0)", "a", "o", "d1",
	    &err), 0);
	assert_int_equal(store_audit(st, 101, "unix:root(0)", "b", "o", "d2",
	    &err), 0);
	assert_int_equal(store_audit_head(st, &cp.seq, cp.hash, &err), 0);
	assert_int_equal(cp.seq, 2);
	assert_int_equal(audit_checkpoint_check(st, &cp, &err), 0);
	assert_int_equal(store_audit_at(st, 1, cp.hash, &ts, &err), 0);
	assert_int_equal(ts, 100);
	cp.seq = 3;
	assert_int_equal(audit_checkpoint_check(st, &cp, &err), TOCSIN_EDATA);
	assert_non_null(strstr(err.msg, "truncated: the checkpoint of "
	    "2026-11-30T00:53:20Z names record 3, the log ends at 2"));
	cp.seq = 2;
	memcpy(cp.hash, H64, 65);
	assert_int_equal(audit_checkpoint_check(st, &cp, &err), TOCSIN_EDATA);
	assert_non_null(strstr(err.msg, "rewritten: record 2"));
	store_close(st);
}

static void
test_witness(void **state)
{
	struct store *st = NULL;
	struct tocsin_err err;
	char hash[65], line[160];
	int64_t seq;
	static const char *const bad[] = {
		"", "Audit-Head:", "Audit-Head: 1", "1 " H64 " ", "1  " H64,
		"01 " H64, "-1 " H64, "1 " H64 "0", "Audit-Head: 0 -",
		"x 1 " H64, "Audit-Head: 1 " H64 H64 H64,
	};

	(void)state;
	assert_int_equal(store_open(":memory:", &st, &err), 0);
	assert_int_equal(store_audit(st, 100, "x", "a", "o", "d", &err), 0);
	assert_int_equal(store_audit_head(st, &seq, hash, &err), 0);
	(void)snprintf(line, sizeof(line), "Audit-Head: 1 %s", hash);
	assert_int_equal(audit_witness_check(st, line, &err), 0);
	assert_int_equal(audit_witness_check(st, line + 12, &err), 0);
	(void)snprintf(line, sizeof(line), "Audit-Head: 2 %s", hash);
	assert_int_equal(audit_witness_check(st, line, &err), TOCSIN_EDATA);
	assert_non_null(strstr(err.msg, "truncated: the witness names record "
	    "2, the log ends at 1"));
	assert_int_equal(audit_witness_check(st, "1 " H64, &err),
	    TOCSIN_EDATA);
	assert_non_null(strstr(err.msg, "rewritten: record 1"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (audit_witness_check(st, bad[i], &err) != TOCSIN_EUSAGE)
			fail_msg("witness %zu taken: %s", i, bad[i]);
	store_close(st);
}

static void
test_stamp(void **state)
{
	struct store *st = NULL;
	struct tocsin_err err;
	char *body = strdup("text without a last LF");
	char hash[65], want[160];
	size_t len = strlen(body);
	int64_t seq;

	(void)state;
	assert_int_equal(store_open(":memory:", &st, &err), 0);
	assert_int_equal(audit_stamp(st, &body, &len, &err), 0);
	assert_string_equal(body, "text without a last LF\nAudit-Head: 0 -\n");
	assert_int_equal(len, strlen(body));
	assert_int_equal(store_audit(st, 100, "x", "a", "o", "d", &err), 0);
	assert_int_equal(store_audit_head(st, &seq, hash, &err), 0);
	assert_int_equal(audit_stamp(st, &body, &len, &err), 0);
	(void)snprintf(want, sizeof(want), "text without a last LF\n"
	    "Audit-Head: 0 -\nAudit-Head: 1 %s\n", hash);
	assert_string_equal(body, want);
	free(body);
	store_close(st);
}

static void
test_since(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(audit_since_parse("-1h", 10000, &t), 0);
	assert_int_equal(t, 10000 - 3600);
	assert_int_equal(audit_since_parse("-30m", 10000, &t), 0);
	assert_int_equal(t, 10000 - 1800);
	assert_int_equal(audit_since_parse("2026-11-30T00:53:20Z", 0, &t), 0);
	assert_int_equal(t, 1796000000);
	assert_int_equal(audit_since_parse("2026-11-30T01:53:20+01:00", 0, &t),
	    0);
	assert_int_equal(t, 1796000000);
	assert_int_not_equal(audit_since_parse("yesterday", 0, &t), 0);
	assert_int_not_equal(audit_since_parse("-", 0, &t), 0);
	assert_int_not_equal(audit_since_parse("-1y", 0, &t), 0);
	assert_int_not_equal(audit_since_parse("1h", 0, &t), 0);
	assert_int_not_equal(audit_since_parse("2026-11-30", 0, &t), 0);
	assert_int_not_equal(audit_since_parse(NULL, 0, &t), 0);
}

/* $USER is the caller's to set: the actor is the real uid's name. */
static void
test_actor(void **state)
{
	struct passwd *pw = getpwuid(getuid());
	char buf[128], want[128];

	(void)state;
	if (pw != NULL)
		(void)snprintf(want, sizeof(want), "unix:%s(%lu)", pw->pw_name,
		    (unsigned long)getuid());
	else
		(void)snprintf(want, sizeof(want), "unix:?(%lu)",
		    (unsigned long)getuid());
	assert_int_equal(setenv("USER", "root-by-say-so", 1), 0);
	assert_int_equal(setenv("LOGNAME", "root-by-say-so", 1), 0);
	assert_ptr_equal(audit_actor(buf, sizeof(buf)), buf);
	assert_string_equal(buf, want);
	assert_null(strstr(buf, "say-so"));
	/* a short buffer is cut, never overrun */
	assert_ptr_equal(audit_actor(buf, 6), buf);
	assert_string_equal(buf, "unix:");
}

/* What audit verify printed to a memory stream. */
static int
verify_into(const struct policy_repo *repo, struct store *st, bool no_cp,
    const char *const *wit, size_t nwit, char *out, size_t outlen,
    struct tocsin_err *err)
{
	FILE *f = fmemopen(out, outlen, "w");
	int rc;

	assert_non_null(f);
	rc = audit_verify(repo, st, no_cp, wit, nwit, f, err);
	assert_int_equal(fclose(f), 0);
	return rc;
}

static void
test_verify(void **state)
{
	struct policy_repo repo = { 0 };
	struct unit_store u;
	struct store *st;
	struct tocsin_err err;
	char hash[65], line[160], out[512];
	const char *wit[1];
	int64_t seq;

	(void)state;
	assert_int_equal(unit_store_open(&u, "/tmp/taudit", "s.db"), 0);
	st = u.st;
	repo.gateway.store = u.path;
	repo.gateway.gnupg_home = u.dir;
	assert_int_equal(verify_into(&repo, st, false, NULL, 0, out,
	    sizeof(out), &err), 0);
	assert_string_equal(out, "audit log intact: 0 records, hash chain "
	    "verified; no checkpoint\n");
	assert_int_equal(store_audit(st, 100, "x", "a", "o", "d", &err), 0);
	assert_int_equal(verify_into(&repo, st, false, NULL, 0, out,
	    sizeof(out), &err), TOCSIN_ENOINPUT);
	assert_non_null(strstr(err.msg, "the audit log has records but no "
	    "checkpoint"));
	assert_int_equal(verify_into(&repo, st, true, NULL, 0, out,
	    sizeof(out), &err), 0);
	assert_string_equal(out, "audit log intact: 1 records, hash chain "
	    "verified; no checkpoint (--no-checkpoint): records removed from "
	    "its end would not be noticed\n");
	/* a witness that holds is counted; one past the end fails it */
	assert_int_equal(store_audit_head(st, &seq, hash, &err), 0);
	(void)snprintf(line, sizeof(line), "Audit-Head: 1 %s", hash);
	wit[0] = line;
	assert_int_equal(verify_into(&repo, st, true, wit, 1, out,
	    sizeof(out), &err), 0);
	assert_non_null(strstr(out, "1 witness held\naudit log intact: 1 "));
	(void)snprintf(line, sizeof(line), "Audit-Head: 2 %s", hash);
	assert_int_equal(verify_into(&repo, st, true, wit, 1, out,
	    sizeof(out), &err), TOCSIN_EDATA);
	assert_non_null(strstr(err.msg, "truncated"));
	unit_store_close(&u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_tolerated),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_nul_and_limit),
		cmocka_unit_test(test_check_against_a_store),
		cmocka_unit_test(test_witness),
		cmocka_unit_test(test_stamp),
		cmocka_unit_test(test_since),
		cmocka_unit_test(test_actor),
		cmocka_unit_test(test_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
