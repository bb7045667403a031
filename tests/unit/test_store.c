/*
 * test_store.c: the store as the queue: one-transaction submit, replay
 * refusal, the audit hash chain, and leased claims.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

struct fx {
	char dir[64];
	char path[128];
	struct store *s;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct tocsin_err e;

	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tst-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	/* a folder that does not exist yet: store_open makes it */
	(void)snprintf(f->path, sizeof(f->path), "%s/state/t.db", f->dir);
	if (store_open(f->path, &f->s, &e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	store_close(f->s);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	(void)system(cmd);
	free(f);
	return 0;
}

static void
raw(struct fx *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int64_t
count(struct fx *f, const char *table)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char sql[128];
	int64_t n;

	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Submit alert `id` for teams t0..t(n-1), two deliveries each. */
static int
submit(struct fx *f, const char *id, const char *ident, int nteams,
    struct tocsin_err *e)
{
	static char names[300][16];
	struct store_team_plan tp[300];
	struct store_delivery_plan dp[600];
	struct store_signature sig = { "desk-1", "openpgp", "ABCD", "sig", 3 };
	struct store_alert a = {
		.id = id, .identifier = ident, .sender = "desk@x", .sent = "s",
		.sent_t = 1000, .status = "Actual", .msg_type = "Alert",
		.scope = "Private", .severity = 3, .headline = "h",
		.cap = "<alert/>", .cap_len = 8, .received = 1000,
	};

	for (int i = 0; i < nteams; i++) {
		(void)snprintf(names[i], sizeof(names[i]), "t%03d", i);
		tp[i] = (struct store_team_plan){ names[i], 0, 1900 };
		dp[2 * i] = (struct store_delivery_plan){ names[i], 0,
		    "pgp-email", "Ann", "ann@x.example", 1000 };
		dp[2 * i + 1] = (struct store_delivery_plan){ names[i], 0, "sms",
		    "Ann", "+15550100", 1000 };
	}
	return store_submit(f->s, &a, &sig, 1, tp, (size_t)nteams, dp,
	    (size_t)nteams * 2, "test", e);
}

static void
test_schema_and_wal(void **state)
{
	struct fx *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(count(f, "schema_version"), 1);
}

static void
test_submit_and_read(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;
	struct store_team_row *t = NULL;
	struct store_delivery_row *d = NULL;
	struct store_alert_row *a = NULL;
	size_t nt, nd;
	char seen[64];

	assert_int_equal(submit(f, "A1", "ID-1", 300, &e), 0);
	assert_int_equal(store_alert_get(f->s, "A1", &a, &e), 0);
	assert_int_equal(a->nteams, 300);
	assert_string_equal(a->identifier, "ID-1");
	store_alert_rows_free(a, 1);
	assert_int_equal(store_teams(f->s, "A1", &t, &nt, &e), 0);
	assert_int_equal(nt, 300);
	assert_string_equal(t[0].team, "t000");
	assert_int_equal(t[0].counts[STORE_D_PENDING], 2);
	assert_string_equal(t[0].state, "active");
	store_team_rows_free(t, nt);
	assert_int_equal(store_deliveries(f->s, "A1", "t007", &d, &nd, &e), 0);
	assert_int_equal(nd, 2);
	assert_int_equal(d[0].state, STORE_D_PENDING);
	store_delivery_rows_free(d, nd);
	assert_int_equal(store_seen(f->s, "ID-1", "desk@x", seen, sizeof(seen),
	    &e), 1);
	assert_string_equal(seen, "A1");
	assert_int_equal(store_seen(f->s, "ID-2", "desk@x", seen, sizeof(seen),
	    &e), 0);
	assert_int_equal(store_alert_get(f->s, "nope", &a, &e),
	    TOCSIN_ENOTFOUND);
}

static void
test_replay_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;

	assert_int_equal(submit(f, "A1", "ID-1", 3, &e), 0);
	int64_t d0 = count(f, "deliveries"), a0 = count(f, "audit");
	assert_int_equal(submit(f, "A2", "ID-1", 3, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "already accepted"));
	assert_int_equal(count(f, "alerts"), 1);
	assert_int_equal(count(f, "deliveries"), d0);
	assert_int_equal(count(f, "team_states"), 3);
	assert_int_equal(count(f, "audit"), a0);
}

static void
test_audit_chain(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;
	int64_t bad, n;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(store_audit(f->s, 1001, "cli", "refuse", "ID-9",
	    "exit=77 unsigned", &e), 0);
	assert_int_equal(submit(f, "A3", "ID-3", 2, &e), 0);
	assert_int_equal(store_audit_verify(f->s, &bad, &n, &e), 0);
	assert_int_equal(n, 3);
	raw(f, "UPDATE audit SET details = 'exit=0 fine' WHERE seq = 2");
	assert_int_equal(store_audit_verify(f->s, &bad, &n, &e), TOCSIN_EDATA);
	assert_int_equal(bad, 2);
	assert_non_null(strstr(e.msg, "record 2"));
}

static void
test_audit_gap(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;
	int64_t bad, n;

	for (int i = 0; i < 4; i++)
		assert_int_equal(store_audit(f->s, 1000 + i, "cli", "x", "o",
		    "d", &e), 0);
	raw(f, "DELETE FROM audit WHERE seq = 3");
	assert_int_equal(store_audit_verify(f->s, &bad, &n, &e), TOCSIN_EDATA);
	assert_int_equal(bad, 4);
}

static void
test_claim_lease_result(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;
	struct store_delivery_row *r = NULL, *r2 = NULL;
	size_t n, n2;
	int64_t due;

	assert_int_equal(submit(f, "A1", "ID-1", 3, &e), 0);
	/* one channel per batch */
	assert_int_equal(store_claim(f->s, "w1", 1000, 60, NULL, 10, &r, &n,
	    &e), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(r[i].channel, r[0].channel);
		assert_int_equal(r[i].attempts, 1);
		assert_int_equal(r[i].state, STORE_D_SENDING);
	}
	/* another worker gets the other channel, never the leased rows */
	assert_int_equal(store_claim(f->s, "w2", 1000, 60, NULL, 10, &r2, &n2,
	    &e), 0);
	assert_int_equal(n2, 3);
	assert_string_not_equal(r2[0].channel, r[0].channel);
	store_delivery_rows_free(r2, n2);
	assert_int_equal(store_claim(f->s, "w2", 1030, 60, NULL, 10, &r2, &n2,
	    &e), 0);
	assert_int_equal(n2, 0);
	store_delivery_rows_free(r2, n2);
	/* w1 crashed: after its lease, w3 claims the rows again */
	assert_int_equal(store_claim(f->s, "w3", 1061, 60, r[0].channel, 10,
	    &r2, &n2, &e), 0);
	assert_int_equal(n2, 3);
	assert_int_equal(r2[0].attempts, 2);
	/* the old owner can no longer record a result */
	assert_int_equal(store_result(f->s, r[0].id, "w1", STORE_R_SENT, 1062,
	    0, "ref", NULL, &e), TOCSIN_ENOTFOUND);
	assert_int_equal(store_result(f->s, r2[0].id, "w3", STORE_R_SENT, 1062,
	    0, "msgid-1", NULL, &e), 0);
	assert_int_equal(store_result(f->s, r2[1].id, "w3", STORE_R_TEMPFAIL,
	    1062, 1200, NULL, "451 try later", &e), 0);
	assert_int_equal(store_result(f->s, r2[2].id, "w3", STORE_R_PERMFAIL,
	    1062, 0, NULL, "550 no such user", &e), 0);
	store_delivery_rows_free(r, n);
	/* the temp failure is due again only at its next attempt */
	assert_int_equal(store_claim(f->s, "w4", 1100, 60, r2[0].channel, 10,
	    &r, &n, &e), 0);
	assert_int_equal(n, 0);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_claim(f->s, "w4", 1200, 60, r2[0].channel, 10,
	    &r, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].id, r2[1].id);
	store_delivery_rows_free(r, n);
	store_delivery_rows_free(r2, n2);
	assert_int_equal(store_next_due(f->s, NULL, &due, &e), 0);
	assert_int_equal(due, 1060);	/* w2's lease on the other channel */
}

static void
test_inactive_team_not_claimed(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;
	struct store_delivery_row *r = NULL;
	size_t n;
	int64_t due;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	raw(f, "UPDATE team_states SET state = 'acked'");
	assert_int_equal(store_claim(f->s, "w1", 5000, 60, NULL, 10, &r, &n,
	    &e), 0);
	assert_int_equal(n, 0);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_next_due(f->s, NULL, &due, &e), TOCSIN_ENOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema_and_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_and_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_writes_nothing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_lease_result, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_inactive_team_not_claimed,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
