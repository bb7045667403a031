/*
 * test_store.c: the store as the queue: one-transaction submit, replay
 * refusal, the audit hash chain, and leased claims of whole (alert, team,
 * step) groups; batches of results with leases lost on the way, stored
 * signatures, the leases of a stopped worker, and counts and due times per
 * channel.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "ack.h"
#include "store.h"
#include "unit_util.h"
#include "unit_store.h"

static int
setup(void **state)
{
	struct unit_store *f = calloc(1, sizeof(*f));

	/* a folder that does not exist yet: store_open makes it */
	if (f == NULL || unit_store_open(f, "/tmp/tst", "state/t.db") != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct unit_store *f = *state;

	unit_store_close(f);
	free(f);
	return 0;
}

static void
raw(struct unit_store *f, const char *sql)
{
	unit_store_sql(f, sql);
}

static int64_t
count(struct unit_store *f, const char *table)
{
	char sql[128];

	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return unit_store_int(f, sql);
}

/* The store closed, made older by sql, and opened again: it is brought
   to the current version. */
static void
reopen_after(struct unit_store *f, const char *sql)
{
	struct tocsin_err e = { 0 };

	store_close(f->st);
	f->st = NULL;
	raw(f, sql);
	if (store_open(f->path, &f->st, &e) != 0)
		fail_msg("store_open: %s", e.msg);
	assert_int_equal(count(f, "schema_version WHERE version = 16"), 1);
}

/* The store's write lock taken by another connection, as another serve
   would hold it: SQLite's reserved lock, or PostgreSQL's advisory lock
   that every write transaction of the store takes first. */
static void *
hold_write_lock(struct unit_store *f)
{
	sqlite3 *db;

	if (f->pgdb[0] != '\0') {
		PGconn *c = PQconnectdb(f->path);
		PGresult *r = PQexec(c, "BEGIN; SELECT "
		    "pg_advisory_xact_lock(1953457011)");

		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		PQclear(r);
		return c;
	}
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	return db;
}

static void
release_write_lock(struct unit_store *f, void *hold)
{
	if (f->pgdb[0] != '\0') {
		PQclear(PQexec(hold, "ROLLBACK"));
		PQfinish(hold);
		return;
	}
	assert_int_equal(sqlite3_exec(hold, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(hold);
}

/* Submit alert `id` for teams t0..t(n-1), two deliveries each. */
static int
submit(struct unit_store *f, const char *id, const char *ident, int nteams,
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
	return store_submit(f->st, &a, &sig, 1, tp, (size_t)nteams, dp,
	    (size_t)nteams * 2, "test", e);
}

static void
test_schema_and_wal(void **state)
{
	struct unit_store *f = *state;
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
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_team_row *t = NULL;
	struct store_delivery_row *d = NULL;
	struct store_alert_row *a = NULL;
	size_t nt, nd;
	char seen[64];

	assert_int_equal(submit(f, "A1", "ID-1", 300, &e), 0);
	assert_int_equal(store_alert_get(f->st, "A1", &a, &e), 0);
	assert_int_equal(a->nteams, 300);
	assert_string_equal(a->identifier, "ID-1");
	store_alert_rows_free(a, 1);
	assert_int_equal(store_teams(f->st, "A1", &t, &nt, &e), 0);
	assert_int_equal(nt, 300);
	assert_string_equal(t[0].team, "t000");
	assert_int_equal(t[0].counts[STORE_D_PENDING], 2);
	assert_string_equal(t[0].state, "active");
	store_team_rows_free(t, nt);
	assert_int_equal(store_deliveries(f->st, "A1", "t007", &d, &nd, &e), 0);
	assert_int_equal(nd, 2);
	assert_int_equal(d[0].state, STORE_D_PENDING);
	store_delivery_rows_free(d, nd);
	assert_int_equal(store_seen(f->st, "ID-1", "desk@x", seen, sizeof(seen),
	    &e), 1);
	assert_string_equal(seen, "A1");
	assert_int_equal(store_seen(f->st, "ID-2", "desk@x", seen, sizeof(seen),
	    &e), 0);
	assert_int_equal(store_alert_get(f->st, "nope", &a, &e),
	    TOCSIN_ENOTFOUND);
}

static void
test_replay_writes_nothing(void **state)
{
	struct unit_store *f = *state;
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
	struct unit_store *f = *state;
	struct tocsin_err e;
	int64_t bad, n;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(store_audit(f->st, 1001, "cli", "refuse", "ID-9",
	    "exit=77 unsigned", &e), 0);
	assert_int_equal(submit(f, "A3", "ID-3", 2, &e), 0);
	assert_int_equal(store_audit_verify(f->st, &bad, &n, &e), 0);
	assert_int_equal(n, 3);
	raw(f, "UPDATE audit SET details = 'exit=0 fine' WHERE seq = 2");
	assert_int_equal(store_audit_verify(f->st, &bad, &n, &e), TOCSIN_EDATA);
	assert_int_equal(bad, 2);
	assert_non_null(strstr(e.msg, "record 2"));
}

static void
test_audit_gap(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	int64_t bad, n;

	for (int i = 0; i < 4; i++)
		assert_int_equal(store_audit(f->st, 1000 + i, "cli", "x", "o",
		    "d", &e), 0);
	raw(f, "DELETE FROM audit WHERE seq = 3");
	assert_int_equal(store_audit_verify(f->st, &bad, &n, &e), TOCSIN_EDATA);
	assert_int_equal(bad, 4);
}

/*
 * A claim whose COMMIT fails (here the write-ahead log cannot grow, as on
 * a full disk) took nothing: it hands out no rows, which nobody would
 * free or deliver, and the next claim, once the disk has room, gets them.
 */
static void
test_claim_that_cannot_commit_hands_out_nothing(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_delivery_row *r = (void *)1;
	struct rlimit was, lim;
	size_t n = 99;
	sqlite3 *hold;
	void (*xfsz)(int);

	assert_int_equal(submit(f, "A1", "ID-1", 3, &e), 0);
	/* the log past 32 KiB, and a reader holding it so that it is not
	   started again from its beginning: every new frame lands past it */
	assert_int_equal(sqlite3_open(f->path, &hold), SQLITE_OK);
	assert_int_equal(sqlite3_exec(hold, "PRAGMA wal_autocheckpoint=0; "
	    "CREATE TABLE fill (b BLOB); WITH RECURSIVE c(i) AS (SELECT 1 "
	    "UNION ALL SELECT i + 1 FROM c WHERE i < 40) INSERT INTO fill "
	    "SELECT randomblob(4000) FROM c; BEGIN; SELECT count(*) FROM "
	    "fill;", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	lim = was;
	lim.rlim_cur = 32768;
	xfsz = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_not_equal(store_claim(f->st, "w1", 1000, 60, NULL, 10, &r,
	    &n, &e), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
	(void)signal(SIGXFSZ, xfsz);
	assert_null(r);
	assert_int_equal(n, 0);
	assert_int_equal(sqlite3_exec(hold, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(hold);
	assert_int_equal(store_claim(f->st, "w2", 1000, 60, NULL, 10, &r, &n,
	    &e), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].state, STORE_D_SENDING);
		assert_int_equal(r[i].attempts, 0);
	}
	store_delivery_rows_free(r, n);
}

static void
test_claim_lease_result(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_delivery_row *r = NULL, *r2 = NULL;
	size_t n, n2;
	int64_t due;

	assert_int_equal(submit(f, "A1", "ID-1", 3, &e), 0);
	/* one channel per batch */
	assert_int_equal(store_claim(f->st, "w1", 1000, 60, NULL, 10, &r, &n,
	    &e), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(r[i].channel, r[0].channel);
		/* a claim is not an attempt */
		assert_int_equal(r[i].attempts, 0);
		assert_int_equal(r[i].state, STORE_D_SENDING);
	}
	/* another worker gets the other channel, never the leased rows */
	assert_int_equal(store_claim(f->st, "w2", 1000, 60, NULL, 10, &r2, &n2,
	    &e), 0);
	assert_int_equal(n2, 3);
	assert_string_not_equal(r2[0].channel, r[0].channel);
	store_delivery_rows_free(r2, n2);
	assert_int_equal(store_claim(f->st, "w2", 1030, 60, NULL, 10, &r2, &n2,
	    &e), 0);
	assert_int_equal(n2, 0);
	store_delivery_rows_free(r2, n2);
	/* w1 crashed: after its lease, w3 claims the rows again */
	assert_int_equal(store_claim(f->st, "w3", 1061, 60, r[0].channel, 10,
	    &r2, &n2, &e), 0);
	assert_int_equal(n2, 3);
	/* w1 never marked them tried: no attempt, one lost lease */
	assert_int_equal(r2[0].attempts, 0);
	/* the old owner can no longer record a failure, but a sent is
	   kept (the message went); w3's own sent is then refused */
	assert_int_equal(store_result(f->st, r[0].id, "w1", STORE_R_TEMPFAIL,
	    1062, 1100, NULL, "late", &e), TOCSIN_ENOTFOUND);
	assert_int_equal(store_result(f->st, r[0].id, "w1", STORE_R_SENT, 1062,
	    0, "ref", NULL, &e), 0);
	assert_int_equal(store_result(f->st, r2[0].id, "w3", STORE_R_SENT, 1062,
	    0, "msgid-1", NULL, &e), TOCSIN_ENOTFOUND);
	assert_int_equal(store_result(f->st, r2[1].id, "w3", STORE_R_TEMPFAIL,
	    1062, 1200, NULL, "451 try later", &e), 0);
	assert_int_equal(store_result(f->st, r2[2].id, "w3", STORE_R_PERMFAIL,
	    1062, 0, NULL, "550 no such user", &e), 0);
	store_delivery_rows_free(r, n);
	/* the temp failure is due again only at its next attempt */
	assert_int_equal(store_claim(f->st, "w4", 1100, 60, r2[0].channel, 10,
	    &r, &n, &e), 0);
	assert_int_equal(n, 0);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_claim(f->st, "w4", 1200, 60, r2[0].channel, 10,
	    &r, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].id, r2[1].id);
	store_delivery_rows_free(r, n);
	store_delivery_rows_free(r2, n2);
	assert_int_equal(store_next_due(f->st, NULL, &due, &e), 0);
	/* w2's rows on the other channel: its lease ran out at 1060, and
	   the claim at 1061 took them back, due at once */
	assert_int_equal(due, 1061);
}

static void
test_inactive_team_not_claimed(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_delivery_row *r = NULL;
	size_t n;
	int64_t due;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	raw(f, "UPDATE team_states SET state = 'acked'");
	assert_int_equal(store_claim(f->st, "w1", 5000, 60, NULL, 10, &r, &n,
	    &e), 0);
	assert_int_equal(n, 0);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_next_due(f->st, NULL, &due, &e), TOCSIN_ENOTFOUND);
}


/* A team's step moves once: from the step it was seen at, with its
   deliveries and an audit record, only after its deadline. */
static void
test_escalate_once(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_due_team *due = NULL;
	struct store_delivery_plan dp = { "t000", 1, "pgp-email", "Bo",
	    "bo@x.example", 2000 };
	struct store_escalation esc = { .alert_id = "A1", .team = "t000",
		.from_step = 0, .to_step = 1, .deadline = 2600,
		.state = "active" };
	size_t n;
	int64_t when;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	/* not yet due */
	assert_int_equal(store_due_teams(f->st, 1899, 10, &due, &n, &e), 0);
	assert_int_equal(n, 0);
	store_due_teams_free(due, n);
	assert_int_equal(store_escalate(f->st, &esc, &dp, 1, 1899, "test", &e),
	    TOCSIN_ENOTFOUND);
	assert_int_equal(store_next_deadline(f->st, &when, &e), 0);
	assert_int_equal(when, 1900);
	assert_int_equal(store_due_teams(f->st, 2000, 10, &due, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(due[0].alert_id, "A1");
	assert_int_equal(due[0].step, 0);
	assert_int_equal(due[0].accepted, 1000);
	store_due_teams_free(due, n);
	assert_int_equal(store_escalate(f->st, &esc, &dp, 1, 2000, "test", &e),
	    0);
	/* a second try from the same step, as another serve would: nothing */
	assert_int_equal(store_escalate(f->st, &esc, &dp, 1, 2001, "test", &e),
	    TOCSIN_ENOTFOUND);
	assert_int_equal(count(f, "deliveries"), 5);
	assert_int_equal(store_due_teams(f->st, 2000, 10, &due, &n, &e), 0);
	assert_int_equal(n, 1);		/* t001 only; t000 waits for 2600 */
	store_due_teams_free(due, n);
	/* the end of the ladder */
	esc.from_step = 1;
	esc.deadline = 0;
	esc.state = "unreached";
	assert_int_equal(store_escalate(f->st, &esc, NULL, 0, 2700, "test", &e),
	    0);
	assert_int_equal(store_due_teams(f->st, 9999, 10, &due, &n, &e), 0);
	assert_int_equal(n, 1);
	store_due_teams_free(due, n);
	assert_int_equal(count(f, "audit"), 3);
}

/* The moves of teams t000..t(n-1) from step 0 to 1, each with one SMS of
   step 1 (to "+1555010" and the team's number), as the scheduler plans
   them from the due teams it read. */
static void
batch_moves(int n, struct store_escalation *es,
    struct store_delivery_plan *dp, char (*names)[16], char (*addrs)[24])
{
	for (int i = 0; i < n; i++) {
		(void)snprintf(names[i], sizeof(names[i]), "t%03d", i);
		(void)snprintf(addrs[i], sizeof(addrs[i]), "+1555010%03d", i);
		dp[i] = (struct store_delivery_plan){ names[i], 1, "sms", "Bo",
		    addrs[i], 2000 };
		es[i] = (struct store_escalation){ .alert_id = "A1",
			.team = names[i], .from_step = 0, .to_step = 1,
			.deadline = 2600, .state = "active", .dels = &dp[i],
			.ndels = 1 };
	}
}

static int64_t
step1_deliveries(struct unit_store *f, const char *team)
{
	char sql[160];

	(void)snprintf(sql, sizeof(sql), "SELECT count(*) FROM deliveries "
	    "WHERE step = 1 AND team = '%s'", team);
	return unit_store_int(f, sql);
}

/*
 * A batch of moves is one transaction: the teams read as due move
 * together, each with its step's delivery and audit record; a team whose
 * ack was recorded after it was read (between batches) is skipped and
 * gets nothing of its next step; the same batch again (another serve,
 * or this one after a restart) moves nothing and queues nothing twice.
 */
static void
test_escalate_batch_skips_an_ack_between(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_due_team *due = NULL;
	struct store_escalation es[3];
	struct store_delivery_plan dp[3];
	struct store_ack_in a = { "A1", "t001", "Ann", "link", "unsigned",
	    NULL };
	char names[3][16], addrs[3][24];
	bool moved[3] = { true, true, true };
	int64_t audit0;
	size_t n;

	assert_int_equal(submit(f, "A1", "ID-1", 3, &e), 0);
	assert_int_equal(store_due_teams(f->st, 2000, 500, &due, &n, &e), 0);
	assert_int_equal(n, 3);
	store_due_teams_free(due, n);
	/* the ack comes after the scheduler read the teams */
	assert_int_equal(store_ack(f->st, &a, 1950, "test", &e), 0);
	audit0 = count(f, "audit");
	batch_moves(3, es, dp, names, addrs);
	assert_int_equal(store_escalate_batch(f->st, es, 3, 2000, "test",
	    moved, &e), 0);
	assert_true(moved[0]);
	assert_false(moved[1]);
	assert_true(moved[2]);
	assert_int_equal(step1_deliveries(f, "t000"), 1);
	assert_int_equal(step1_deliveries(f, "t001"), 0);
	assert_int_equal(step1_deliveries(f, "t002"), 1);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM team_states "
	    "WHERE step = 1 AND state = 'active' AND deadline = 2600"), 2);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM team_states "
	    "WHERE team = 't001' AND state = 'acked'"), 1);
	assert_int_equal(count(f, "audit"), audit0 + 2);
	/* the same batch once more: every team moved on already */
	assert_int_equal(store_escalate_batch(f->st, es, 3, 2001, "test",
	    moved, &e), 0);
	assert_false(moved[0] || moved[1] || moved[2]);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM deliveries "
	    "WHERE step = 1"), 2);
	assert_int_equal(count(f, "audit"), audit0 + 2);
}

/*
 * A batch that cannot be written whole is not written at all: the third
 * move's delivery is refused by the store (no channel), and the first
 * two teams stay where they were, with no delivery and no audit record,
 * as after a crash before the batch's commit.  Done again right, it
 * moves all three, each once.
 */
static void
test_escalate_batch_all_or_nothing(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_escalation es[3];
	struct store_delivery_plan dp[3];
	char names[3][16], addrs[3][24];
	bool moved[3] = { true, true, true };
	int64_t audit0, dels0;
	int64_t bad, nrec;

	assert_int_equal(submit(f, "A1", "ID-1", 3, &e), 0);
	audit0 = count(f, "audit");
	dels0 = count(f, "deliveries");
	batch_moves(3, es, dp, names, addrs);
	dp[2].channel = NULL;
	assert_int_not_equal(store_escalate_batch(f->st, es, 3, 2000, "test",
	    moved, &e), 0);
	assert_false(moved[0] || moved[1] || moved[2]);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM team_states "
	    "WHERE step = 0 AND deadline = 1900 AND state = 'active'"), 3);
	assert_int_equal(count(f, "deliveries"), dels0);
	assert_int_equal(count(f, "audit"), audit0);
	dp[2].channel = "sms";
	assert_int_equal(store_escalate_batch(f->st, es, 3, 2000, "test",
	    moved, &e), 0);
	assert_true(moved[0] && moved[1] && moved[2]);
	assert_int_equal(count(f, "deliveries"), dels0 + 3);
	assert_int_equal(count(f, "audit"), audit0 + 3);
	assert_int_equal(store_audit_verify(f->st, &bad, &nrec, &e), 0);
}

/* The first ack stops the ladder and cancels what waits; a repeat is kept
   as a record only; an unknown team is refused with nothing written. */
static void
test_ack_stops_the_ladder(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_ack_in a = { "A1", "t000", "Ann", "operator:phone",
	    "unsigned", NULL };
	struct store_ack_in bad = { "A1", "nope", "Ann", "link", "unsigned",
	    NULL };
	struct store_team_row *t = NULL;
	struct store_due_team *due = NULL;
	size_t n;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(store_ack(f->st, &bad, 1500, "test", &e),
	    TOCSIN_ENOTFOUND);
	assert_int_equal(count(f, "acks"), 0);
	assert_int_equal(store_ack(f->st, &a, 1500, "test", &e), 0);
	a.by = "Bob";
	assert_int_equal(store_ack(f->st, &a, 1600, "test", &e), 1);
	assert_int_equal(count(f, "acks"), 2);
	assert_int_equal(store_teams(f->st, "A1", &t, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[0].state, "acked");
	assert_string_equal(t[0].ack_by, "Ann");
	assert_string_equal(t[0].ack_via, "operator:phone");
	assert_int_equal(t[0].ack_at, 1500);
	assert_int_equal(t[0].counts[STORE_D_CANCELLED], 2);
	assert_int_equal(t[0].deadline, 0);
	assert_string_equal(t[1].state, "active");
	assert_int_equal(t[1].counts[STORE_D_PENDING], 2);
	store_team_rows_free(t, n);
	assert_int_equal(store_due_teams(f->st, 5000, 10, &due, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(due[0].team, "t001");
	store_due_teams_free(due, n);
}

/* An ack the team's policy does not count (unsigned, unsigned_acks
   off) is kept and audited as "not-counted", and answers 0 each time,
   but the ladder goes on: nothing acked, nothing cancelled; an ack that
   counts then stops it as the first. */
static void
test_ack_recorded_only(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_ack_in a = { .alert_id = "A1", .team = "t000",
	    .by = "Ann", .via = "link", .strength = "unsigned",
	    .recorded_only = true };
	struct store_team_row *t = NULL;
	size_t n;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(store_ack(f->st, &a, 1500, "test", &e), 0);
	assert_int_equal(store_ack(f->st, &a, 1501, "test", &e), 0);
	assert_int_equal(count(f, "acks"), 2);
	assert_int_equal(count(f, "audit WHERE action = 'ack' AND details "
	    "LIKE '% not-counted'"), 2);
	assert_int_equal(store_teams(f->st, "A1", &t, &n, &e), 0);
	assert_string_equal(t[0].state, "active");
	assert_null(t[0].ack_by);
	assert_int_equal(t[0].counts[STORE_D_PENDING], 2);
	assert_int_equal(t[0].counts[STORE_D_CANCELLED], 0);
	store_team_rows_free(t, n);
	a.recorded_only = false;
	a.by = "Bob";
	assert_int_equal(store_ack(f->st, &a, 1600, "test", &e), 0);
	assert_int_equal(store_ack(f->st, &a, 1601, "test", &e), 1);
	assert_int_equal(store_teams(f->st, "A1", &t, &n, &e), 0);
	assert_string_equal(t[0].state, "acked");
	assert_string_equal(t[0].ack_by, "Bob");
	assert_int_equal(t[0].counts[STORE_D_CANCELLED], 2);
	store_team_rows_free(t, n);
}

/* The first ack queues one notice per other contact the alert was sent
   to on the notice channels (other than the contact the gateway knows
   acknowledged, never one a name was typed for); a notice is claimed though the team is no
   longer active, in a group of its own; a repeat queues nothing. */
static void
test_ack_notices(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	static const char *const chans[] = { "sms", "pgp-email", NULL };
	struct store_ack_in a = { .alert_id = "A1", .team = "t000",
	    .by = "Ann", .via = "sms", .strength = "unsigned",
	    .contact = "Ann", .notice_channels = chans };
	struct store_delivery_row *rows = NULL;
	size_t n;

	assert_int_equal(submit(f, "A1", "ID-1", 1, &e), 0);
	raw(f, "UPDATE deliveries SET state = 'sent'; INSERT INTO deliveries "
	    "(alert_id, team, step, channel, contact, address, state, "
	    "next_attempt, created, updated) VALUES ('A1', 't000', 0, 'sms', "
	    "'Bob', '+15550101', 'sent', 1000, 1000, 1000), ('A1', 't000', 0, "
	    "'voice', 'Cy', '+15550102', 'sent', 1000, 1000, 1000), ('A1', "
	    "'t000', 0, 'sms', 'Di', '+15550103', 'dead', 1000, 1000, 1000)");
	assert_int_equal(store_ack(f->st, &a, 1500, "test", &e), 0);
	a.by = "Bob";
	assert_int_equal(store_ack(f->st, &a, 1600, "test", &e), 1);
	/* Bob only: Ann acked, Cy was called (no notices by voice), Di was
	   never reached */
	assert_int_equal(count(f, "deliveries"), 6);
	assert_int_equal(store_claim(f->st, "w1", 1500, 60, NULL, 10, &rows, &n,
	    &e), 0);
	assert_int_equal(n, 1);
	assert_true(rows[0].notice);
	assert_string_equal(rows[0].contact, "Bob");
	assert_string_equal(rows[0].channel, "sms");
	store_delivery_rows_free(rows, n);
}

/* A store of the first release (no deliveries.segments, no
   team_states.token_hash) is brought up to date when opened. */
static void
test_migrate_old_store(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	char alert[64], team[64];

	store_close(f->st);
	raw(f, "DROP INDEX team_states_token; ALTER TABLE team_states DROP "
	    "COLUMN token_hash; ALTER TABLE deliveries DROP COLUMN segments; "
	    "ALTER TABLE deliveries DROP COLUMN kind; "
	    "ALTER TABLE team_states DROP COLUMN ack_contact; "
	    "DROP TABLE check_tokens; DROP TABLE endpoint_checks; "
	    "UPDATE schema_version SET version = 1");
	assert_int_equal(store_open(f->path, &f->st, &e), 0);
	assert_int_equal(submit(f, "A1", "ID-1", 1, &e), 0);
	raw(f, "UPDATE team_states SET token_hash = 'abc'");
	assert_int_equal(store_token_find(f->st, "abc", alert, sizeof(alert),
	    team, sizeof(team), &e), 0);
	assert_string_equal(alert, "A1");
	assert_string_equal(team, "t000");
	assert_int_equal(store_token_find(f->st, "abd", alert, sizeof(alert),
	    team, sizeof(team), &e), TOCSIN_ENOTFOUND);
	assert_int_equal(count(f, "schema_version"), 1);
	/* version 7: who acknowledged as the gateway knows them, and the
	   links and confirmations of checks of contacts */
	raw(f, "UPDATE team_states SET ack_contact = 'Ann'");
	assert_int_equal(count(f, "check_tokens"), 0);
	assert_int_equal(count(f, "endpoint_checks"), 0);
}

/* A store of version 5 gains the tables of signatures that acked and of
   tries at codes, then those of version 7, and says version 7. */
static void
test_migrate_v5(void **state)
{
	struct unit_store *f = *state;
	struct store_guess g = { "k", 1, 60, false };
	struct tocsin_err e;

	store_close(f->st);
	raw(f, "DROP TABLE ack_signatures; DROP TABLE ack_guesses; "
	    "ALTER TABLE team_states DROP COLUMN ack_contact; "
	    "DROP TABLE check_tokens; DROP TABLE endpoint_checks; "
	    "UPDATE schema_version SET version = 5");
	assert_int_equal(store_open(f->path, &f->st, &e), 0);
	assert_int_equal(count(f, "ack_signatures"), 0);
	assert_int_equal(store_guess_try(f->st, &g, 1, 1000, &e), 0);
	assert_int_equal(count(f, "ack_guesses"), 1);
	assert_int_equal(count(f, "check_tokens"), 0);
	raw(f, "UPDATE team_states SET ack_contact = 'Ann'");
	assert_int_equal(count(f, "schema_version WHERE version = 16"), 1);
}

/* A store of version 10 gains what a failed step does and why a team
   moved; its teams move on (on_failure 'next'), as new ones do. */
static void
test_migrate_v10(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;

	assert_int_equal(submit(f, "A1", "ID-1", 1, &e), 0);
	reopen_after(f, "ALTER TABLE team_states DROP COLUMN on_failure; "
	    "ALTER TABLE team_states DROP COLUMN early_why; ALTER TABLE "
	    "team_states DROP COLUMN moved_why; UPDATE schema_version SET "
	    "version = 10");
	assert_int_equal(count(f, "team_states WHERE on_failure = 'next' AND "
	    "early_why IS NULL AND moved_why IS NULL"), 1);
	/* and, as one of version 11, the index of what waits per channel */
	assert_int_equal(count(f, "sqlite_master WHERE type = 'index' AND "
	    "name = 'deliveries_waiting'"), 1);
}

/* A store of version 15 gains the audit's index for /metrics (the audit
   is never pruned: without it every scrape read all of it), and the
   counts read through it are those of the rows; one of a later version
   is refused. */
static void
test_migrate_v15(void **state)
{
	struct unit_store *f = *state;
	struct store_metrics m;
	struct tocsin_err e;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	unit_escalate(f->st, "A1", "t000", 0, 1, "active", 9000, NULL, 0,
	    5000);
	reopen_after(f, "DROP INDEX audit_ladder; UPDATE schema_version SET "
	    "version = 15");
	assert_int_equal(count(f, "sqlite_master WHERE type = 'index' AND "
	    "name = 'audit_ladder' AND sql LIKE '%WHERE action IN%'"), 1);
	memset(&m, 0, sizeof(m));
	assert_int_equal(store_metrics(f->st, 5001, &m, &e), 0);
	assert_int_equal(m.escalations, count(f, "audit WHERE action = "
	    "'escalate'"));
	assert_true(m.escalations >= 1);
	/* a store of a later version is refused, as on PostgreSQL, and
	   left as it was */
	store_close(f->st);
	f->st = NULL;
	raw(f, "UPDATE schema_version SET version = 99");
	assert_int_equal(store_open(f->path, &f->st, &e), TOCSIN_ESTORE);
	assert_null(f->st);
	assert_non_null(strstr(e.msg, "version 99, made by a later tocsin"));
	assert_int_equal(count(f, "schema_version WHERE version = 99"), 1);
}

/* A store of version 12 gains the requests table; a request is stored
   once per signature. */
static void
test_migrate_v12(void **state)
{
	struct unit_store *f = *state;
	struct store_request_in r = { .id = "R-1", .team = "ke",
		.contact = "Ann", .via = "mail", .strength = "signed",
		.text = "help", .sig_digest = "d1", .at = 1000 };
	struct store_request_row *rows = NULL;
	struct tocsin_err e;
	size_t n = 0;

	store_close(f->st);
	raw(f, "DROP TABLE requests; UPDATE schema_version SET version = 12");
	assert_int_equal(store_open(f->path, &f->st, &e), 0);
	assert_int_equal(count(f, "schema_version WHERE version = 16"), 1);
	assert_int_equal(store_request_add(f->st, &r, "t", &e), 0);
	r.id = "R-2";
	assert_int_equal(store_request_add(f->st, &r, "t", &e), TOCSIN_EPERM);
	assert_int_equal(store_requests(f->st, true, &rows, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].text, "help");
	store_request_rows_free(rows, n);
	assert_int_equal(store_request_note(f->st, "R-1", NULL, NULL, "D",
	    1001, "t", "request-relayed", "x", &e), 0);
	assert_int_equal(store_requests(f->st, true, &rows, &n, &e), 0);
	assert_int_equal(n, 0);
	free(rows);
	assert_int_equal(store_request_note(f->st, "R-9", NULL, NULL, "D",
	    1001, "t", "request-relayed", "x", &e), TOCSIN_ENOTFOUND);
}

/* A team's requests are bounded per hour, whoever sends them: past
   STORE_REQUESTS_PER_HOUR one is refused and nothing is stored; an hour on, the team may ask again; another team is not
   held back by it. */
static void
test_requests_bounded_per_team_and_hour(void **state)
{
	struct unit_store *f = *state;
	struct store_request_in r = { .team = "ke", .contact = "Ann",
		.via = "sms", .strength = "unsigned", .text = "help" };
	struct tocsin_err e;
	char id[16];
	int i;

	for (i = 0; i < STORE_REQUESTS_PER_HOUR + 2; i++) {
		(void)snprintf(id, sizeof(id), "R-%d", i);
		r.id = id;
		r.at = 10000 + i * 60;
		assert_int_equal(store_request_add(f->st, &r, "t", &e),
		    i < STORE_REQUESTS_PER_HOUR ? 0 : TOCSIN_EPERM);
	}
	assert_non_null(strstr(e.msg, "in the last hour"));
	assert_int_equal(count(f, "requests"), STORE_REQUESTS_PER_HOUR);
	r.team = "tz";
	r.id = "R-tz";
	assert_int_equal(store_request_add(f->st, &r, "t", &e), 0);
	r.team = "ke";
	r.id = "R-later";
	r.at = 10000 + 3600 + 1;
	assert_int_equal(store_request_add(f->st, &r, "t", &e), 0);
	assert_int_equal(count(f, "requests"), STORE_REQUESTS_PER_HOUR + 2);
}

/* A prune removes the requests received before its date and before the
   signature window, but one whose desk page is still live. */
static void
test_prune_requests(void **state)
{
	struct unit_store *f = *state;
	struct store_request_in r = { .team = "ke", .contact = "Ann",
		.via = "mail", .strength = "signed", .text = "help" };
	struct store_prune p;
	struct tocsin_err e;
	int64_t now = 10 * 86400;

	assert_int_equal(submit(f, "A1", "ID-1", 1, &e), 0);
	r.id = "R-old";
	r.at = 1000;
	assert_int_equal(store_request_add(f->st, &r, "t", &e), 0);
	r.id = "R-paged";
	r.at = 2000;
	assert_int_equal(store_request_add(f->st, &r, "t", &e), 0);
	assert_int_equal(store_request_note(f->st, "R-paged", "A1", NULL, NULL,
	    2001, "t", "request-paged", "x", &e), 0);
	r.id = "R-recent";
	r.at = now - 86400;
	assert_int_equal(store_request_add(f->st, &r, "t", &e), 0);
	assert_int_equal(store_prune(f->st, now, true, now, "t", &p, &e), 0);
	assert_int_equal(p.requests, 1);
	store_prune_free(&p);
	assert_int_equal(count(f, "requests"), 3);
	assert_int_equal(store_prune(f->st, now, false, now, "t", &p, &e), 0);
	assert_int_equal(p.requests, 1);
	store_prune_free(&p);
	assert_int_equal(count(f, "requests WHERE id = 'R-old'"), 0);
	assert_int_equal(count(f, "requests"), 2);
}

/* A signature acks once: a second ack by its digest, for this team or
   another, is refused and writes nothing; an ack without one is as
   before. */
static void
test_ack_signature_once(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_ack_in a = { .alert_id = "A1", .team = "t000",
	    .by = "Ann", .via = "mail", .strength = "signed",
	    .sig_digest = "d1" };
	struct store_team_row *t = NULL;
	size_t n;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(store_ack(f->st, &a, 1500, "test", &e), 0);
	assert_int_equal(store_ack(f->st, &a, 1501, "test", &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "already acknowledged alert A1 for "
	    "team t000"));
	a.team = "t001";
	assert_int_equal(store_ack(f->st, &a, 1502, "test", &e), TOCSIN_EPERM);
	assert_int_equal(count(f, "acks"), 1);
	assert_int_equal(count(f, "ack_signatures"), 1);
	assert_int_equal(store_teams(f->st, "A1", &t, &n, &e), 0);
	assert_string_equal(t[1].state, "active");
	store_team_rows_free(t, n);
	a.sig_digest = "d2";
	assert_int_equal(store_ack(f->st, &a, 1503, "test", &e), 0);
	a.sig_digest = NULL;
	assert_int_equal(store_ack(f->st, &a, 1504, "test", &e), 1);
	assert_int_equal(count(f, "acks"), 3);
	assert_int_equal(count(f, "ack_signatures"), 2);
}

/* Tries at codes: each key up to its limit in its window, a new window
   after it; when the first key is over nothing counts; a right code's
   tries given back. */
static void
test_guess_limits(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_guess g[2] = { { "from", 3, 60, false },
	    { "pair", 4, 600, false } };
	struct store_guess other[2] = { { "from2", 3, 60, false },
	    { "pair", 4, 600, false } };

	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_guess_try(f->st, g, 2, 1000 + i, &e), 0);
		assert_false(g[0].over);
		assert_false(g[1].over);
	}
	/* the sender is at its limit: nothing counts, not even the pair */
	assert_int_equal(store_guess_try(f->st, g, 2, 1010, &e), 0);
	assert_true(g[0].over);
	assert_true(g[1].over);
	/* another sender: one more for the pair, then the pair is over */
	assert_int_equal(store_guess_try(f->st, other, 2, 1011, &e), 0);
	assert_false(other[0].over);
	assert_false(other[1].over);
	assert_int_equal(store_guess_try(f->st, other, 2, 1012, &e), 0);
	assert_false(other[0].over);
	assert_true(other[1].over);
	/* a right code gives back what it counted: the sender's try only */
	assert_int_equal(store_guess_undo(f->st, other, 2, &e), 0);
	assert_int_equal(count(f, "ack_guesses WHERE guess_key = 'from2' AND "
	    "tries = 1"), 1);
	assert_int_equal(count(f, "ack_guesses WHERE guess_key = 'pair' AND "
	    "tries = 4"), 1);
	/* a minute on, the sender may try again; the pair stays over */
	assert_int_equal(store_guess_try(f->st, g, 2, 1060, &e), 0);
	assert_false(g[0].over);
	assert_true(g[1].over);
	assert_int_equal(count(f, "ack_guesses WHERE guess_key = 'from' AND "
	    "tries = 1 AND start = 1060"), 1);
	/* ten minutes on, the pair too; a day on, old counters are gone */
	assert_int_equal(store_guess_try(f->st, g, 2, 1600, &e), 0);
	assert_false(g[1].over);
	assert_int_equal(store_guess_try(f->st, g, 1, 1600 + 86401, &e), 0);
	assert_int_equal(count(f, "ack_guesses"), 1);
}

/* One try at code by sender at the pairs p: *hit, *throttled. */
static void
code_try(struct unit_store *f, const char *sender, const char *code,
    const struct ack_pair *p, size_t n, int64_t now, int *hit,
    bool *throttled)
{
	static const unsigned char secret[ACK_SECRET_LEN] = { 7 };
	struct tocsin_err e = { 0 };

	*hit = -2;
	*throttled = true;
	if (ack_code_try(f->st, secret, sender, code, p, n, NULL, now, hit,
	    throttled, &e) != 0)
		fail_msg("ack_code_try: %s", e.msg);
}

/* The rule every path of codes shares: a try counted before the compare,
   at most ACK_TRY_FROM_MAX a minute per sender and ACK_TRY_CODE_MAX an
   hour per alert and team whoever sends; a right code gives its try back;
   past a bound even the right code is not compared. */
static void
test_code_try(void **state)
{
	static const unsigned char secret[ACK_SECRET_LEN] = { 7 };
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct ack_pair *p = NULL;
	char right[ACK_CODE_LEN + 1], wrong[ACK_CODE_LEN + 1];
	size_t n = 0;
	bool thr;
	int hit, a1;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(submit(f, "A2", "ID-2", 1, &e), 0);
	assert_int_equal(ack_pairs_add(f->st, "t000", "Ann", &p, &n, &e), 0);
	assert_int_equal(n, 2);
	/* both accepted at once: either may come first */
	a1 = strcmp(p[0].alert, "A1") == 0 ? 0 : 1;
	assert_string_equal(p[a1].key, "code:A1/t000");
	assert_string_equal(p[1 - a1].key, "code:A2/t000");
	assert_string_equal(p[a1].team, "t000");
	assert_string_equal(p[a1].contact, "Ann");
	ack_code(secret, "A1", "t000", right);
	/* the right code from a sender: its alert, and nothing kept */
	code_try(f, "sms-from:+1", right, p, n, 1000, &hit, &thr);
	assert_int_equal(hit, a1);
	assert_false(thr);
	assert_int_equal(count(f, "ack_guesses WHERE tries > 0"), 0);
	/* another team's code for the same alert is wrong for this one */
	ack_code(secret, "A1", "t001", wrong);
	for (int i = 0; i < ACK_TRY_FROM_MAX; i++) {
		code_try(f, "sms-from:+1", wrong, p, n, 1001, &hit, &thr);
		assert_int_equal(hit, -1);
		assert_false(thr);
	}
	/* the sender is at its bound: the right code is not compared */
	code_try(f, "sms-from:+1", right, p, n, 1002, &hit, &thr);
	assert_int_equal(hit, -1);
	assert_true(thr);
	/* another sender takes the pairs to their bound of the hour */
	for (int i = 0; i < ACK_TRY_CODE_MAX - ACK_TRY_FROM_MAX; i++)
		code_try(f, "sms-from:+2", wrong, p, n, 1003, &hit, &thr);
	assert_int_equal(count(f, "ack_guesses WHERE guess_key = "
	    "'code:A1/t000' AND tries = 20"), 1);
	code_try(f, "voice-call:CA1", right, p, n, 1004, &hit, &thr);
	assert_int_equal(hit, -1);
	assert_true(thr);
	/* a minute on, the senders' bounds are over, not the pairs' */
	code_try(f, "sms-from:+1", right, p, n, 1070, &hit, &thr);
	assert_true(thr);
	/* an hour on, the right code acks again, its try given back */
	code_try(f, "sms-from:+3", right, p, n, 1100 + ACK_TRY_CODE_WINDOW,
	    &hit, &thr);
	assert_int_equal(hit, a1);
	assert_false(thr);
	assert_int_equal(count(f, "ack_guesses WHERE guess_key = "
	    "'sms-from:+3' AND tries = 0"), 1);
	free(p);
}

/* ---- groups, batches of results, signatures, owners, counts ---- */

/* Submit alert id with the given signatures, teams and deliveries. */
static void
submit_plan(struct unit_store *f, const char *id, const char *ident,
    const struct store_signature *sigs, size_t nsigs,
    const struct store_team_plan *tp, size_t ntp,
    const struct store_delivery_plan *dp, size_t ndp)
{
	struct tocsin_err e = { 0 };
	struct store_alert a = {
		.id = id, .identifier = ident, .sender = "desk@x", .sent = "s",
		.sent_t = 1000, .status = "Actual", .msg_type = "Alert",
		.scope = "Private", .severity = 3, .headline = "h",
		.cap = "<alert/>", .cap_len = 8, .received = 1000,
	};

	if (store_submit(f->st, &a, sigs, nsigs, tp, ntp, dp, ndp, "test",
	    &e) != 0)
		fail_msg("store_submit: %s", e.msg);
}

/* A store of version 13 kept a request's receipt and a relay's notice
   as alerts with an active team for ever; version 14 makes them told,
   and leaves an issuer's signed Ack and any other alert as they were. */
static void
test_migrate_told(void **state)
{
	struct unit_store *f = *state;
	static const struct store_team_plan tp[] = { { "ke", 0, 0, "h1" } };
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "sms", "Ann", "+254700000001", 1000 },
	};
	static const struct store_team_plan tp2[] = { { "ke", 0, 0, "h2" } };
	static const struct store_team_plan tp3[] = { { "ke", 0, 0, "h3" } };
	static const struct store_team_plan tp4[] = { { "ke", 0, 500, "h4" } };
	struct store_signature sig = { .issuer = "desk-1", .kind = "openpgp",
		.signer = "F", .sig = "s", .sig_len = 1 };

	submit_plan(f, "R1", "receipt-R-1", NULL, 0, tp, 1, dp, 1);
	submit_plan(f, "R2", "relayed-R-1-ab", NULL, 0, tp2, 1, NULL, 0);
	submit_plan(f, "S1", "receipt-by-an-issuer", &sig, 1, tp3, 1, NULL, 0);
	submit_plan(f, "A1", "receipt-R-9", NULL, 0, tp4, 1, NULL, 0);
	reopen_after(f, "UPDATE alerts SET msg_type = 'Ack' WHERE id IN "
	    "('R1', 'R2', 'S1'); UPDATE schema_version SET version = 13");
	assert_int_equal(count(f, "team_states WHERE state = 'told' AND "
	    "token_hash IS NULL AND alert_id IN ('R1', 'R2')"), 2);
	assert_int_equal(count(f, "deliveries WHERE kind = 'told' AND "
	    "alert_id = 'R1'"), 1);
	/* signed by an issuer, or no Ack: as it was */
	assert_int_equal(count(f, "team_states WHERE state = 'active' AND "
	    "alert_id IN ('S1', 'A1')"), 2);
	assert_int_equal(count(f, "team_states WHERE state = 'told'"), 2);
}

/* A store of version 14 kept the teams of a check of contacts active for
   ever (an open alert in status and on the board); version 15 makes them
   checking, and leaves an alert's teams as they were. */
static void
test_migrate_checking(void **state)
{
	struct unit_store *f = *state;
	static const struct store_team_plan tp[] = { { "ke", 0, 0, "h1" } };
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "sms", "Ann", "+254700000001", 1000 },
	};
	static const struct store_team_plan tp2[] = { { "ke", 0, 500, "h2" } };
	static const struct store_delivery_plan dp2[] = {
		{ "ke", 0, "sms", "Ann", "+254700000001", 1000 },
	};

	submit_plan(f, "C1", "contact-check-C1", NULL, 0, tp, 1, dp, 1);
	submit_plan(f, "A1", "an-alert", NULL, 0, tp2, 1, dp2, 1);
	reopen_after(f, "UPDATE deliveries SET kind = 'check' WHERE alert_id = "
	    "'C1'; UPDATE schema_version SET version = 14");
	assert_int_equal(count(f, "team_states WHERE state = 'checking' AND "
	    "deadline = 0 AND alert_id = 'C1'"), 1);
	assert_int_equal(count(f, "team_states WHERE state = 'active' AND "
	    "alert_id = 'A1'"), 1);
}

/* The row of id in rows, or fail. */
static const struct store_delivery_row *
row_of(const struct store_delivery_row *rows, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].id == id)
			return &rows[i];
	fail_msg("no delivery %lld", (long long)id);
	return NULL;
}

static void
test_claim_whole_groups(void **state)
{
	static const struct store_team_plan tp[] = {
		{ "ke", 0, 1900 }, { "ng", 0, 1900 },
	};
	/* ke step 0: three e-mails due and one not yet, one sms; ke step 1:
	   one e-mail; ng step 0: two e-mails. */
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "pgp-email", "Ann", "ann@x", 1000 },
		{ "ke", 0, "sms", "Ann", "+15550100", 1000 },
		{ "ke", 0, "pgp-email", "Bob", "bob@x", 1000 },
		{ "ke", 0, "pgp-email", "Cy", "cy@x", 1000 },
		{ "ke", 0, "pgp-email", "Di", "di@x", 5000 },
		{ "ke", 1, "pgp-email", "Ann", "ann@x", 1000 },
		{ "ng", 0, "pgp-email", "Eve", "eve@x", 1000 },
		{ "ng", 0, "pgp-email", "Fay", "fay@x", 1000 },
	};
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *r = NULL;
	struct store_result_item items[8];
	size_t n, nitems = 0, lost = 1;

	submit_plan(f, "A1", "ID-1", NULL, 0, tp, 2, dp, 8);
	/* max = 1: the whole due part of one group, in id order. */
	assert_int_equal(store_claim(f->st, "w1", 1000, 60, NULL, 1, &r, &n,
	    &e), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(r[i].channel, "pgp-email");
		assert_string_equal(r[i].alert_id, "A1");
		assert_string_equal(r[i].team, "ke");
		assert_int_equal(r[i].step, 0);
		assert_int_equal(r[i].state, STORE_D_SENDING);
		assert_int_equal(r[i].attempts, 0);
		if (i > 0)
			assert_true(r[i].id > r[i - 1].id);
		items[nitems++] = (struct store_result_item){ r[i].id,
		    STORE_R_SENT, 0, "ok", NULL };
	}
	assert_string_equal(r[0].contact, "Ann");
	assert_string_equal(r[1].contact, "Bob");
	assert_string_equal(r[2].contact, "Cy");
	store_delivery_rows_free(r, n);
	/* The next group: ke step 1, a group of its own; never the sms. */
	assert_int_equal(store_claim(f->st, "w1", 1000, 60, "pgp-email", 1, &r,
	    &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].team, "ke");
	assert_int_equal(r[0].step, 1);
	items[nitems++] = (struct store_result_item){ r[0].id, STORE_R_SENT,
	    0, "ok", NULL };
	store_delivery_rows_free(r, n);
	assert_int_equal(store_claim(f->st, "w1", 1000, 60, "pgp-email", 5, &r,
	    &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].team, "ng");
	assert_string_equal(r[1].team, "ng");
	assert_string_equal(r[0].contact, "Eve");
	assert_string_equal(r[1].contact, "Fay");
	for (size_t i = 0; i < n; i++)
		items[nitems++] = (struct store_result_item){ r[i].id,
		    STORE_R_SENT, 0, "ok", NULL };
	store_delivery_rows_free(r, n);
	assert_int_equal(store_claim(f->st, "w2", 1000, 60, "pgp-email", 5, &r,
	    &n, &e), 0);
	assert_int_equal(n, 0);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_results(f->st, "w1", 1001, items, nitems, &lost,
	    &e), 0);
	assert_int_equal(lost, 0);
	/* The late row of ke step 0 is due on its own, at its time. */
	assert_int_equal(store_claim(f->st, "w3", 4999, 60, "pgp-email", 5, &r,
	    &n, &e), 0);
	assert_int_equal(n, 0);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_claim(f->st, "w3", 5000, 60, "pgp-email", 5, &r,
	    &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].contact, "Di");
	assert_int_equal(r[0].step, 0);
	store_delivery_rows_free(r, n);
	/* The sms row was left alone throughout. */
	assert_int_equal(store_claim(f->st, "w4", 5000, 60, NULL, 5, &r, &n,
	    &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].channel, "sms");
	assert_int_equal(r[0].attempts, 0);
	store_delivery_rows_free(r, n);
}

static void
test_results_batch(void **state)
{
	static const struct store_team_plan tp[] = {
		{ "ke", 0, 1900 }, { "ng", 0, 1900 },
	};
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "pgp-email", "Ann", "ann@x", 1000 },
		{ "ke", 0, "pgp-email", "Bob", "bob@x", 1000 },
		{ "ng", 0, "pgp-email", "Eve", "eve@x", 1000 },
		{ "ng", 0, "pgp-email", "Fay", "fay@x", 1000 },
		{ "ng", 0, "pgp-email", "Gus", "gus@x", 1000 },
	};
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *ke = NULL, *ng = NULL, *again = NULL, *d;
	struct store_result_item items[5];
	size_t nke, nng, nagain, nd, lost = 99;

	submit_plan(f, "A1", "ID-1", NULL, 0, tp, 2, dp, 5);
	/* w1 claims ke at 1000 and ng at 1030, each with a 60 s lease; at
	   1061 w2 takes ke over, so w1 holds only ng. */
	assert_int_equal(store_claim(f->st, "w1", 1000, 60, NULL, 1, &ke, &nke,
	    &e), 0);
	assert_int_equal(nke, 2);
	assert_string_equal(ke[0].team, "ke");
	assert_int_equal(store_claim(f->st, "w1", 1030, 60, NULL, 1, &ng, &nng,
	    &e), 0);
	assert_int_equal(nng, 3);
	assert_string_equal(ng[0].team, "ng");
	assert_int_equal(store_claim(f->st, "w2", 1061, 60, NULL, 5, &again,
	    &nagain, &e), 0);
	assert_int_equal(nagain, 2);
	assert_int_equal(again[0].id, ke[0].id);
	assert_int_equal(again[0].attempts, 0);

	items[0] = (struct store_result_item){ ke[0].id, STORE_R_SENT, 0,
	    "late-1", NULL };
	items[1] = (struct store_result_item){ ng[0].id, STORE_R_SENT, 0,
	    "250 ok id=1", NULL };
	items[2] = (struct store_result_item){ ng[1].id, STORE_R_TEMPFAIL,
	    1300, NULL, "451 try later" };
	items[3] = (struct store_result_item){ ke[1].id, STORE_R_PERMFAIL, 0,
	    NULL, "late" };
	items[4] = (struct store_result_item){ ng[2].id, STORE_R_PERMFAIL, 0,
	    NULL, "550 no such user" };
	assert_int_equal(store_results(f->st, "w1", 1062, items, 5, &lost, &e),
	    0);
	/* w1's late sent of ke[0] is kept; its late failure of ke[1] not,
	   and that item says so (the dispatcher's tally of this run) */
	assert_int_equal(lost, 1);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(items[i].lost, i == 3);

	assert_int_equal(store_deliveries(f->st, "A1", NULL, &d, &nd, &e), 0);
	assert_int_equal(nd, 5);
	/* ng: recorded. */
	assert_int_equal(row_of(d, nd, ng[0].id)->state, STORE_D_SENT);
	assert_string_equal(row_of(d, nd, ng[0].id)->provider_ref,
	    "250 ok id=1");
	assert_null(row_of(d, nd, ng[0].id)->last_error);
	assert_int_equal(row_of(d, nd, ng[1].id)->state, STORE_D_FAILED);
	assert_int_equal(row_of(d, nd, ng[1].id)->next_attempt, 1300);
	assert_string_equal(row_of(d, nd, ng[1].id)->last_error,
	    "451 try later");
	assert_int_equal(row_of(d, nd, ng[2].id)->state, STORE_D_DEAD);
	assert_string_equal(row_of(d, nd, ng[2].id)->last_error,
	    "550 no such user");
	/* ke[0] went (w1 says so, late); ke[1] is still w2's. */
	assert_int_equal(row_of(d, nd, ke[0].id)->state, STORE_D_SENT);
	assert_int_equal(row_of(d, nd, ke[0].id)->attempts, 1);
	assert_string_equal(row_of(d, nd, ke[0].id)->provider_ref, "late-1");
	{
		const struct store_delivery_row *k = row_of(d, nd, ke[1].id);

		assert_int_equal(k->state, STORE_D_SENDING);
		assert_int_equal(k->attempts, 0);
		assert_null(k->provider_ref);
		assert_non_null(k->last_error);	/* why it was taken back */
	}
	store_delivery_rows_free(d, nd);
	/* w2 records its own; a NULL ret_lost is allowed; an empty batch
	   records nothing. */
	items[0] = (struct store_result_item){ again[0].id, STORE_R_SENT, 0,
	    "r1", NULL };
	items[1] = (struct store_result_item){ again[1].id, STORE_R_SENT, 0,
	    "r2", NULL };
	assert_int_equal(store_results(f->st, "w2", 1070, items, 2, &lost, &e),
	    0);
	assert_int_equal(lost, 1);	/* ke[0]: sent already */
	assert_true(items[0].lost);
	assert_false(items[1].lost);
	lost = 99;
	assert_int_equal(store_results(f->st, "w2", 1070, items, 0, &lost, &e),
	    0);
	assert_int_equal(lost, 0);
	/* Recorded already: a second time counts as lost, changes nothing. */
	assert_int_equal(store_results(f->st, "w2", 1071, items, 2, &lost, &e),
	    0);
	assert_int_equal(lost, 2);
	assert_int_equal(store_deliveries(f->st, "A1", "ke", &d, &nd, &e), 0);
	assert_int_equal(nd, 2);
	assert_int_equal(d[0].state, STORE_D_SENT);
	assert_string_equal(d[0].provider_ref, "late-1");
	assert_string_equal(d[1].provider_ref, "r2");
	store_delivery_rows_free(d, nd);
	store_delivery_rows_free(ke, nke);
	store_delivery_rows_free(ng, nng);
	store_delivery_rows_free(again, nagain);
}

/* A store whose write lock another process holds takes no result and
   says it is unavailable (try again later); a result it refuses for
   itself is not, so that a worker does not wait for ever on it. */
static void
test_results_unavailable(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *rows = NULL, *d = NULL;
	struct store_result_item it;
	size_t n = 0, nd = 0, lost = 0;
	void *hold;

	assert_int_equal(submit(f, "A1", "ID-1", 1, &e), 0);
	assert_int_equal(store_claim(f->st, "w1", 1000, 60, "pgp-email", 5,
	    &rows, &n, &e), 0);
	assert_int_equal(n, 1);
	it = (struct store_result_item){ rows[0].id, STORE_R_SENT, 0, "r",
	    NULL };
	hold = hold_write_lock(f);
	store_set_busy_wait(f->st, 0);
	assert_int_not_equal(store_results(f->st, "w1", 1001, &it, 1, &lost,
	    &e), 0);
	assert_true(store_unavailable(f->st));
	release_write_lock(f, hold);
	/* refused for itself: not a store that will take it later */
	it.result = (enum store_result)42;
	assert_int_not_equal(store_results(f->st, "w1", 1001, &it, 1, &lost,
	    &e), 0);
	assert_false(store_unavailable(f->st));
	/* the same result, once the lock is gone, is recorded */
	it.result = STORE_R_SENT;
	assert_int_equal(store_results(f->st, "w1", 1002, &it, 1, &lost, &e),
	    0);
	assert_int_equal(lost, 0);
	assert_int_equal(store_deliveries(f->st, "A1", "t000", &d, &nd, &e), 0);
	assert_int_equal(row_of(d, nd, rows[0].id)->state, STORE_D_SENT);
	store_delivery_rows_free(d, nd);
	store_delivery_rows_free(rows, n);
}

static void
test_signatures(void **state)
{
	static const unsigned char bin[] = { 'a', 0, 'b', 0xff, 0x00 };
	const struct store_signature sigs[] = {
		{ "desk-1", "openpgp", "FPR1", bin, sizeof(bin) },
		{ "desk-2", "cms", "SHA256-2", NULL, 0 },
		{ "desk-3", "openpgp", "FPR3", "-----BEGIN PGP", 14 },
	};
	const struct store_signature other = { "desk-9", "cms", "X", "y", 1 };
	static const struct store_team_plan tp[] = { { "ke", 0, 0 } };
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_signature_row *r = NULL;
	size_t n = 99;

	submit_plan(f, "A1", "ID-1", sigs, 3, tp, 1, NULL, 0);
	submit_plan(f, "A2", "ID-2", &other, 1, tp, 1, NULL, 0);
	assert_int_equal(store_signatures(f->st, "A1", &r, &n, &e), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(r[i].issuer, sigs[i].issuer);
		assert_string_equal(r[i].kind, sigs[i].kind);
		assert_string_equal(r[i].signer, sigs[i].signer);
		assert_int_equal(r[i].sig_len, sigs[i].sig_len);
		if (sigs[i].sig == NULL)
			assert_null(r[i].sig);
		else
			assert_memory_equal(r[i].sig, sigs[i].sig,
			    sigs[i].sig_len);
	}
	store_signature_rows_free(r, n);
	assert_int_equal(store_signatures(f->st, "A2", &r, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].issuer, "desk-9");
	store_signature_rows_free(r, n);
	assert_int_equal(store_signatures(f->st, "nope", &r, &n, &e), 0);
	assert_int_equal(n, 0);
	store_signature_rows_free(r, n);
	store_signature_rows_free(NULL, 0);
}

static bool
has_owner(char **owners, size_t n, const char *o)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(owners[i], o) == 0)
			return true;
	return false;
}

static void
free_owners(char **owners, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(owners[i]);
	free(owners);
}

static void
test_lease_owners_release(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *x = NULL, *y = NULL, *d = NULL, *r = NULL;
	size_t nx, ny, nd, nr, released = 99;
	char **owners = NULL;
	size_t nowners = 99;

	assert_int_equal(submit(f, "A1", "ID-1", 3, &e), 0);
	assert_int_equal(store_lease_owners(f->st, &owners, &nowners, &e), 0);
	assert_int_equal(nowners, 0);
	free_owners(owners, nowners);
	/* X holds one channel's three rows, Y the other's. */
	assert_int_equal(store_claim(f->st, "X", 1000, 600, NULL, 10, &x, &nx,
	    &e), 0);
	assert_int_equal(nx, 3);
	assert_int_equal(store_claim(f->st, "Y", 1000, 600, NULL, 10, &y, &ny,
	    &e), 0);
	assert_int_equal(ny, 3);
	assert_int_equal(store_lease_owners(f->st, &owners, &nowners, &e), 0);
	assert_int_equal(nowners, 2);
	assert_true(has_owner(owners, nowners, "X"));
	assert_true(has_owner(owners, nowners, "Y"));
	free_owners(owners, nowners);
	/* X finished one row before it stopped. */
	assert_int_equal(store_result(f->st, x[0].id, "X", STORE_R_SENT, 1001,
	    0, "ref-0", NULL, &e), 0);
	assert_int_equal(store_release_owner(f->st, "X", 1002, &released, &e),
	    0);
	assert_int_equal(released, 2);
	assert_int_equal(store_deliveries(f->st, "A1", NULL, &d, &nd, &e), 0);
	assert_int_equal(nd, 6);
	{
		const struct store_delivery_row *s0 = row_of(d, nd, x[0].id);

		assert_int_equal(s0->state, STORE_D_SENT);
		assert_string_equal(s0->provider_ref, "ref-0");
		assert_null(s0->last_error);
	}
	for (size_t i = 1; i < nx; i++) {
		const struct store_delivery_row *k = row_of(d, nd, x[i].id);

		assert_int_equal(k->state, STORE_D_FAILED);
		assert_int_equal(k->next_attempt, 1002);
		/* never marked tried: the crash costs no attempt */
		assert_int_equal(k->attempts, 0);
		assert_non_null(k->last_error);
	}
	for (size_t i = 0; i < ny; i++) {
		const struct store_delivery_row *k = row_of(d, nd, y[i].id);

		assert_int_equal(k->state, STORE_D_SENDING);
		assert_null(k->last_error);
	}
	store_delivery_rows_free(d, nd);
	assert_int_equal(store_lease_owners(f->st, &owners, &nowners, &e), 0);
	assert_int_equal(nowners, 1);
	assert_string_equal(owners[0], "Y");
	free_owners(owners, nowners);
	/* Due at once: claimed again at the same second, never Y's rows. */
	assert_int_equal(store_claim(f->st, "Z", 1002, 60, NULL, 10, &r, &nr,
	    &e), 0);
	assert_int_equal(nr, 2);
	for (size_t i = 0; i < nr; i++) {
		assert_int_equal(r[i].id, x[i + 1].id);
		assert_int_equal(r[i].attempts, 0);
	}
	store_delivery_rows_free(r, nr);
	/* Y can still record its results; an unknown owner releases none. */
	assert_int_equal(store_result(f->st, y[0].id, "Y", STORE_R_SENT, 1003,
	    0, NULL, NULL, &e), 0);
	assert_int_equal(store_release_owner(f->st, "nobody", 1004, &released,
	    &e), 0);
	assert_int_equal(released, 0);
	assert_int_equal(store_release_owner(f->st, "X", 1004, &released, &e),
	    0);
	assert_int_equal(released, 0);
	store_delivery_rows_free(x, nx);
	store_delivery_rows_free(y, ny);
}

static void
test_queue_counts(void **state)
{
	static const struct store_team_plan tp[] = { { "ke", 0, 0 },
		{ "ng", 0, 0 } };
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "pgp-email", "A", "a@x", 1000 },
		{ "ke", 0, "pgp-email", "B", "b@x", 1000 },
		{ "ke", 0, "pgp-email", "C", "c@x", 1000 },
		{ "ke", 0, "pgp-email", "D", "d@x", 1000 },
		{ "ke", 0, "pgp-email", "E", "e@x", 9000 },
		{ "ke", 0, "pgp-email", "F", "f@x", 9000 },
		{ "ng", 0, "pgp-email", "G", "g@x", 1000 },
		{ "ke", 0, "sms", "A", "+15550100", 1000 },
		{ "ke", 0, "sms", "B", "+15550101", 9000 },
	};
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *r = NULL;
	struct store_queue q;
	struct store_queue_channel c;
	size_t n;

	submit_plan(f, "A1", "ID-1", NULL, 0, tp, 2, dp, 9);
	/* pgp-email: A sent, B failed, C dead, D sending (claimed again
	   below), E, F pending; G cancelled. sms: A sending, B pending. */
	assert_int_equal(store_claim(f->st, "w", 1000, 60, "pgp-email", 1, &r,
	    &n, &e), 0);
	assert_int_equal(n, 4);
	assert_string_equal(r[0].contact, "A");
	assert_int_equal(store_result(f->st, r[0].id, "w", STORE_R_SENT, 1001,
	    0, NULL, NULL, &e), 0);
	assert_int_equal(store_result(f->st, r[1].id, "w", STORE_R_TEMPFAIL,
	    1001, 2000, NULL, "451", &e), 0);
	assert_int_equal(store_result(f->st, r[2].id, "w", STORE_R_PERMFAIL,
	    1001, 0, NULL, "550", &e), 0);
	store_delivery_rows_free(r, n);
	raw(f, "UPDATE deliveries SET state = 'cancelled' WHERE contact = 'G'");
	assert_int_equal(store_claim(f->st, "w", 1000, 60, "sms", 1, &r, &n,
	    &e), 0);
	assert_int_equal(n, 1);
	store_delivery_rows_free(r, n);

	/* what is left to go: pgp-email B (failed), E, F waiting, D
	   sending; sms B waiting, A sending.  Sent, dead and cancelled
	   rows are not counted. */
	memset(&q, 0x55, sizeof(q));
	assert_int_equal(store_queue_counts(f->st, &q, &e), 0);
	assert_int_equal(q.nchannels, 2);
	c = store_queue_of(&q, "pgp-email");
	assert_int_equal(c.waiting, 3);
	assert_int_equal(c.failed, 1);
	assert_int_equal(c.sending, 1);
	c = store_queue_of(&q, "sms");
	assert_int_equal(c.waiting, 1);
	assert_int_equal(c.failed, 0);
	assert_int_equal(c.sending, 1);
	c = store_queue_of(&q, "fax");
	assert_int_equal(c.waiting + c.failed + c.sending, 0);
	assert_int_equal(q.other.waiting + q.other.sending, 0);
	/* a channel no build has (another release's store) is counted
	   under its own name */
	raw(f, "UPDATE deliveries SET channel = 'pager' WHERE contact = 'E' "
	    "AND channel = 'pgp-email'");
	assert_int_equal(store_queue_counts(f->st, &q, &e), 0);
	assert_int_equal(q.nchannels, 3);
	assert_int_equal(store_queue_of(&q, "pager").waiting, 1);
	assert_int_equal(store_queue_of(&q, "pgp-email").waiting, 2);
}

static void
test_next_due_by_channel(void **state)
{
	static const struct store_team_plan tp[] = { { "ke", 0, 0 } };
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "pgp-email", "A", "a@x", 1500 },
		{ "ke", 0, "pgp-email", "B", "b@x", 1700 },
		{ "ke", 0, "sms", "A", "+15550100", 1200 },
	};
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *r = NULL;
	int64_t due = -1;
	size_t n;

	submit_plan(f, "A1", "ID-1", NULL, 0, tp, 1, dp, 3);
	assert_int_equal(store_next_due(f->st, NULL, &due, &e), 0);
	assert_int_equal(due, 1200);
	assert_int_equal(store_next_due(f->st, "sms", &due, &e), 0);
	assert_int_equal(due, 1200);
	assert_int_equal(store_next_due(f->st, "pgp-email", &due, &e), 0);
	assert_int_equal(due, 1500);
	due = -1;
	assert_int_equal(store_next_due(f->st, "fax", &due, &e),
	    TOCSIN_ENOTFOUND);
	assert_int_equal(due, -1);
	/* In flight: the lease end counts. */
	assert_int_equal(store_claim(f->st, "w", 1200, 60, "sms", 5, &r, &n,
	    &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_next_due(f->st, "sms", &due, &e), 0);
	assert_int_equal(due, 1260);
	assert_int_equal(store_next_due(f->st, NULL, &due, &e), 0);
	assert_int_equal(due, 1260);
	assert_int_equal(store_result(f->st, r[0].id, "w", STORE_R_SENT, 1201,
	    0, NULL, NULL, &e), 0);
	store_delivery_rows_free(r, n);
	/* Done: nothing more of sms; the e-mail is unchanged. */
	assert_int_equal(store_next_due(f->st, "sms", &due, &e),
	    TOCSIN_ENOTFOUND);
	assert_int_equal(store_next_due(f->st, NULL, &due, &e), 0);
	assert_int_equal(due, 1500);
	assert_int_equal(store_next_due(f->st, "pgp-email", &due, &e), 0);
	assert_int_equal(due, 1500);
}


/* A step whose every delivery died moves its team on at once (deadline
   now, why "failed"), unless its policy says on_failure = "wait"; one
   live delivery left, or a temporary failure, keeps the step's time; an
   undelivered receipt and a lease given up count as dead. */
static void
test_failed_step_moves_on(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_delivery_row *m, *s;
	struct store_due_team *due = NULL;
	struct store_team_row *t = NULL;
	struct store_audit_row *au = NULL;
	enum store_receipt_fate fate;
	size_t nm, ns, n, na;
	bool found = false;

	assert_int_equal(submit(f, "A1", "ID-1", 3, &e), 0);
	unit_store_sql(f, "UPDATE team_states SET on_failure = 'wait' WHERE "
	    "team = 't001'");
	m = unit_claim(f->st, "pgp-email", 1000, 3, &nm);
	s = unit_claim(f->st, "sms", 1000, 3, &ns);
	/* t000: the mail dies, the SMS fails for now: the step still runs */
	unit_result(f->st, unit_row_of(m, nm, "t000"), STORE_R_PERMFAIL, 1010,
	    "550 no such user");
	assert_int_equal(store_result(f->st, unit_row_of(s, ns, "t000"), "w",
	    STORE_R_TEMPFAIL, 1010, 1015, NULL, "503", &e), 0);
	assert_int_equal(unit_store_int(f, "SELECT deadline FROM team_states "
	    "WHERE team = 't000'"), 1900);
	/* t001 (wait) and t002: every delivery dies */
	unit_result(f->st, unit_row_of(m, nm, "t001"), STORE_R_PERMFAIL, 1011,
	    "550");
	unit_result(f->st, unit_row_of(s, ns, "t001"), STORE_R_PERMFAIL, 1011,
	    "21211 invalid number");
	unit_result(f->st, unit_row_of(m, nm, "t002"), STORE_R_PERMFAIL, 1012,
	    "550");
	assert_int_equal(unit_store_int(f, "SELECT deadline FROM team_states "
	    "WHERE team = 't002'"), 1900);
	unit_result(f->st, unit_row_of(s, ns, "t002"), STORE_R_PERMFAIL, 1013,
	    "21211 invalid number");
	assert_int_equal(unit_store_int(f, "SELECT deadline FROM team_states "
	    "WHERE team = 't002'"), 1013);
	assert_int_equal(unit_store_int(f, "SELECT deadline FROM team_states "
	    "WHERE team = 't001'"), 1900);
	store_delivery_rows_free(m, nm);
	store_delivery_rows_free(s, ns);
	assert_int_equal(store_due_teams(f->st, 1014, 10, &due, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(due[0].team, "t002");
	assert_true(due[0].failed);
	store_due_teams_free(due, n);
	{
		struct store_escalation esc = { .alert_id = "A1",
			.team = "t002", .from_step = 0, .to_step = 1,
			.deadline = 2500, .state = "active", .why = "failed" };

		assert_int_equal(store_escalate(f->st, &esc, NULL, 0, 1014,
		    "test", &e), 0);
	}
	assert_int_equal(store_teams(f->st, "A1", &t, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_null(t[0].why);
	assert_null(t[1].why);
	assert_string_equal(t[2].why, "failed");
	assert_int_equal(t[2].step, 1);
	store_team_rows_free(t, n);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM team_states "
	    "WHERE early_why IS NOT NULL"), 0);
	assert_int_equal(store_audit_rows(f->st, "A1", &au, &na, &e), 0);
	for (size_t i = 0; i < na; i++)
		found |= strcmp(au[i].action, "escalate") == 0 &&
		    strstr(au[i].details, "team=t002 step=0->1") != NULL &&
		    strstr(au[i].details, " why=failed") != NULL;
	store_audit_rows_free(au, na);
	assert_true(found);

	/* t000: its SMS is sent, then the provider says undelivered */
	s = unit_claim(f->st, "sms", 1015, 1, &ns);
	assert_int_equal(store_result(f->st, s[0].id, "w", STORE_R_SENT, 1016,
	    0, "tw:SMX", NULL, &e), 0);
	store_delivery_rows_free(s, ns);
	assert_int_equal(unit_store_int(f, "SELECT deadline FROM team_states "
	    "WHERE team = 't000'"), 1900);
	assert_int_equal(store_receipt(f->st, "tw:SMX", false, "30005 unknown "
	    "destination", 1020, &fate, &e), 0);
	assert_int_equal(fate, STORE_RECEIPT_MOVED);
	assert_int_equal(unit_store_int(f, "SELECT deadline FROM team_states "
	    "WHERE team = 't000'"), 1020);

	/* a lease given up as dead (one attempt allowed, handed to the
	   driver, its worker gone) is a death too */
	assert_int_equal(submit(f, "A2", "ID-2", 1, &e), 0);
	store_set_max_attempts(f->st, 1);
	m = unit_claim(f->st, "pgp-email", 1000, 1, &nm);
	unit_result(f->st, m[0].id, STORE_R_PERMFAIL, 1001, "550");
	store_delivery_rows_free(m, nm);
	s = unit_claim(f->st, "sms", 1000, 1, &ns);
	assert_int_equal(store_mark_tried(f->st, "w", &e), 0);
	store_delivery_rows_free(s, ns);
	assert_int_equal(unit_store_int(f, "SELECT deadline FROM team_states "
	    "WHERE alert_id = 'A2'"), 1900);
	s = unit_claim(f->st, "pgp-email", 1061, 0, &ns);	/* takes back */
	store_delivery_rows_free(s, ns);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM deliveries "
	    "WHERE alert_id = 'A2' AND state = 'dead'"), 2);
	assert_int_equal(unit_store_int(f, "SELECT deadline FROM team_states "
	    "WHERE alert_id = 'A2'"), 1061);
}

static void
test_receipts_and_segments(void **state)
{
	static const struct store_team_plan tp[] = { { "ke", 0, 0 } };
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "sms", "A", "+15550100", 1000 },
		{ "ke", 0, "sms", "B", "+15550101", 1000 },
		{ "ke", 0, "sms", "C", "+15550102", 1000 },
	};
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *r = NULL, *d = NULL;
	struct store_result_item it[2];
	size_t n, nd, lost;
	enum store_receipt_fate fate;

	submit_plan(f, "A1", "ID-1", NULL, 0, tp, 1, dp, 3);
	assert_int_equal(store_claim(f->st, "w", 1000, 60, "sms", 1, &r, &n,
	    &e), 0);
	assert_int_equal(n, 3);
	memset(it, 0, sizeof(it));
	it[0] = (struct store_result_item){ .id = r[0].id, .result =
	    STORE_R_SENT, .provider_ref = "tw:SM1", .segments = 2 };
	it[1] = (struct store_result_item){ .id = r[1].id, .result =
	    STORE_R_SENT, .provider_ref = "tw:SM2", .segments = 1 };
	assert_int_equal(store_results(f->st, "w", 1001, it, 2, &lost, &e), 0);
	assert_int_equal(lost, 0);
	/* a receipt for a sent delivery moves it; an unknown ref nothing */
	assert_int_equal(store_receipt(f->st, "tw:SM1", true, NULL, 1002,
	    &fate, &e), 0);
	assert_int_equal(fate, STORE_RECEIPT_MOVED);
	assert_int_equal(store_receipt(f->st, "tw:SM2", false,
	    "tw: undelivered, error 30003", 1002, &fate, &e), 0);
	assert_int_equal(fate, STORE_RECEIPT_MOVED);
	assert_int_equal(store_receipt(f->st, "tw:NOPE", true, NULL, 1002,
	    &fate, &e), 0);
	assert_int_equal(fate, STORE_RECEIPT_UNKNOWN);
	/* final states stay: a contrary or repeated receipt changes nothing */
	assert_int_equal(store_receipt(f->st, "tw:SM1", false,
	    "tw: undelivered", 1003, &fate, &e), 0);
	assert_int_equal(fate, STORE_RECEIPT_FINAL);
	assert_int_equal(store_receipt(f->st, "tw:SM2", true, NULL, 1003,
	    &fate, &e), 0);
	assert_int_equal(fate, STORE_RECEIPT_FINAL);
	assert_int_equal(store_receipt(f->st, "tw:SM1", true, NULL, 1003,
	    &fate, &e), 0);
	assert_int_equal(fate, STORE_RECEIPT_FINAL);
	/* a delivery still being sent is not moved by a receipt */
	raw(f, "UPDATE deliveries SET provider_ref = 'tw:SM3' WHERE contact "
	    "= 'C'");
	assert_int_equal(store_receipt(f->st, "tw:SM3", true, NULL, 1002,
	    &fate, &e), 0);
	assert_int_equal(fate, STORE_RECEIPT_UNKNOWN);
	assert_int_equal(store_deliveries(f->st, "A1", NULL, &d, &nd, &e), 0);
	assert_int_equal(nd, 3);
	assert_int_equal(d[0].state, STORE_D_DELIVERED);
	assert_int_equal(d[0].segments, 2);
	assert_int_equal(d[1].state, STORE_D_UNDELIVERED);
	assert_int_equal(d[1].segments, 1);
	assert_string_equal(d[1].last_error, "tw: undelivered, error 30003");
	assert_null(d[0].last_error);
	assert_int_equal(d[2].state, STORE_D_SENDING);
	assert_string_equal(store_dstate_name(STORE_D_DELIVERED), "delivered");
	store_delivery_rows_free(d, nd);
	store_delivery_rows_free(r, n);
}

/* A check of contacts: its links are kept hashed, per endpoint, and its
   deliveries are of kind check; its team is checking (no open alert, yet
   its messages go); an answer confirms a contact's endpoint only with that
   endpoint named, dated when the check was made, and moves no ladder. */
static void
test_check_of_contacts(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_signature sig = { "gateway", "openpgp", "ABCD", "sig", 3 };
	struct store_team_plan tp = { "t000", 0, 0, NULL };
	struct store_delivery_plan dp[2] = {
		{ "t000", 0, "pgp-email", "Ann", "ann@x.example", 1000 },
		{ "t000", 0, "sms", "Bob", "+15550101", 1000 },
	};
	struct store_check_ep ep[2] = {
		{ "t000", "Ann", "pgp-email", "ann@x.example", "h-ann" },
		{ "t000", "Bob", "sms", "+15550101", "h-bob" },
	};
	struct store_alert a = {
		.id = "C1", .identifier = "contact-check-C1", .sender = "gw",
		.sent = "s", .sent_t = 1000, .status = "System",
		.msg_type = "Alert", .scope = "Private", .severity = 1,
		.cap = "<alert/>", .cap_len = 8, .received = 1000,
		.check_eps = ep, .ncheck_eps = 2,
	};
	struct store_ack_in in = { .alert_id = "C1", .team = "t000",
		.by = "Ann", .via = "link", .strength = "unsigned",
		.contact = "Ann" };
	struct store_check_token k;
	struct store_contact_check *chk = NULL;
	struct store_delivery_row *rows = NULL;
	size_t n = 0;

	assert_int_equal(store_submit(f->st, &a, &sig, 1, &tp, 1, dp, 2, "test",
	    &e), 0);
	assert_int_equal(store_check_token_find(f->st, "h-bob", &k, &e), 0);
	assert_string_equal(k.alert_id, "C1");
	assert_string_equal(k.contact, "Bob");
	assert_string_equal(k.channel, "sms");
	assert_string_equal(k.address, "+15550101");
	assert_int_equal(store_check_token_find(f->st, "h-eve", &k, &e),
	    TOCSIN_ENOTFOUND);
	assert_int_equal(store_deliveries(f->st, "C1", NULL, &rows, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_true(rows[0].check && rows[1].check);
	assert_false(rows[0].notice);
	store_delivery_rows_free(rows, n);
	{
		struct store_alert_row *ar = NULL;

		assert_int_equal(store_alert_get(f->st, "C1", &ar, &e), 0);
		assert_int_equal(ar->nactive + ar->nheld + ar->nunreached, 0);
		assert_int_equal(ar->nchecking, 1);
		assert_int_equal(ar->ntold, 0);
		store_alert_rows_free(ar, 1);
	}
	/* checking, its messages still go */
	assert_int_equal(store_claim(f->st, "w1", 1000, 60, NULL, 10, &rows,
	    &n, &e), 0);
	assert_int_equal(n, 1);
	store_delivery_rows_free(rows, n);
	/* a contact without an endpoint's own link or code: nothing */
	assert_int_equal(store_ack(f->st, &in, 5000, "test", &e), 1);
	assert_int_equal(count(f, "endpoint_checks"), 0);
	in.ep_channel = "pgp-email";
	in.ep_address = "ann@x.example";
	assert_int_equal(store_ack(f->st, &in, 5000, "test", &e), 0);
	assert_int_equal(store_contact_checks(f->st, &chk, &n, &e), 0);
	/* the endpoint, and the contact as a whole, dated at the check */
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(chk[i].contact, "Ann");
		assert_int_equal(chk[i].verified, 1000);
	}
	assert_true((strcmp(chk[0].channel, "pgp-email") == 0) !=
	    (strcmp(chk[1].channel, "pgp-email") == 0));
	store_contact_checks_free(chk, n);
	assert_int_equal(count(f, "acks"), 2);
	{
		struct store_team_row *t = NULL;

		assert_int_equal(store_teams(f->st, "C1", &t, &n, &e), 0);
		assert_string_equal(t[0].state, "checking");
		assert_null(t[0].ack_contact);
		store_team_rows_free(t, n);
	}
}

/* Alert A1 for team ke alone, one SMS due at 1000; a delivery is given
   up after max_attempts attempts. */
static void
submit_one_sms(struct unit_store *f, int max_attempts)
{
	static const struct store_team_plan tp[] = { { "ke", 0, 0 } };
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "sms", "Ann", "+254700000001", 1000 },
	};

	submit_plan(f, "A1", "ID-1", NULL, 0, tp, 1, dp, 1);
	store_set_max_attempts(f->st, max_attempts);
}

/* The SMS of submit_one_sms claimed by w at t and its lease lost, times
   times, before it was handed over: no attempt counted. */
static void
lose_leases(struct unit_store *f, int64_t t, int times)
{
	struct tocsin_err e = { 0 };
	struct store_delivery_row *r = NULL;
	size_t n, rel;

	for (int i = 0; i < times; i++) {
		assert_int_equal(store_claim(f->st, "w", t, 60, NULL, 5, &r, &n,
		    &e), 0);
		assert_int_equal(n, 1);
		assert_int_equal(r[0].attempts, 0);
		store_delivery_rows_free(r, n);
		assert_int_equal(store_release_owner(f->st, "w", t, &rel, &e), 0);
		assert_int_equal(rel, 1);
	}
}

/* Nothing left for owner to claim at t: the SMS of submit_one_sms is
   dead after attempts attempts, its last error saying why. */
static void
given_up(struct unit_store *f, const char *owner, int64_t t, int attempts,
    const char *why)
{
	struct tocsin_err e = { 0 };
	struct store_delivery_row *r = NULL, *d = NULL;
	size_t n, nd;

	assert_int_equal(store_claim(f->st, owner, t, 60, NULL, 5, &r, &n, &e),
	    0);
	assert_int_equal(n, 0);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_deliveries(f->st, "A1", NULL, &d, &nd, &e), 0);
	assert_int_equal(nd, 1);
	assert_int_equal(d[0].state, STORE_D_DEAD);
	assert_int_equal(d[0].attempts, attempts);
	assert_non_null(strstr(d[0].last_error, why));
	store_delivery_rows_free(d, nd);
}

/* Attempts are what reached the driver, not claims: a lease lost before
   the rows were handed over costs none, one lost after does, and both
   are bounded (max_attempts attempts, 3 x max_attempts lost leases). */
static void
test_attempts_are_real_and_bounded(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *r = NULL;
	size_t n;
	int64_t t = 1000;
	struct store_result_item it = { 0 };

	submit_one_sms(f, 2);
	/* five crashes before anything was handed over: no attempt */
	lose_leases(f, t, 5);
	/* an untried temporary failure (deadline): no attempt either */
	assert_int_equal(store_claim(f->st, "w", t, 60, NULL, 5, &r, &n, &e),
	    0);
	it = (struct store_result_item){ .id = r[0].id, .result =
	    STORE_R_TEMPFAIL, .next_attempt = t, .error = "not attempted",
	    .untried = true };
	store_delivery_rows_free(r, n);
	assert_int_equal(store_results(f->st, "w", t, &it, 1, NULL, &e), 0);
	/* handed over, then the lease ran out: one attempt */
	assert_int_equal(store_claim(f->st, "w", t, 60, NULL, 5, &r, &n, &e),
	    0);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_mark_tried(f->st, "w", &e), 0);
	t += 61;
	assert_int_equal(store_claim(f->st, "w2", t, 60, NULL, 5, &r, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].attempts, 1);
	store_delivery_rows_free(r, n);
	/* the second attempt reaches max_attempts: dead, with the reason */
	assert_int_equal(store_mark_tried(f->st, "w2", &e), 0);
	given_up(f, "w3", t + 61, 2, "gave up after 2 attempts");
}

/* A lease lost again and again before any attempt ends dead too. */
static void
test_lost_leases_are_bounded(void **state)
{
	struct unit_store *f = *state;

	submit_one_sms(f, 2);
	lose_leases(f, 1000, 6);
	given_up(f, "w", 1000, 0, "lost 6 times");
}

/* No delivery is orphaned when its team's ladder stops: an unreached
   team's waiting messages still go; an acked team's end cancelled with
   the reason, and so does one in flight that fails after the ack. */
static void
test_no_orphans_when_a_ladder_stops(void **state)
{
	static const struct store_team_plan tp[] = { { "ke", 0, 0 },
		{ "ng", 0, 0 } };
	static const struct store_delivery_plan dp[] = {
		{ "ke", 0, "sms", "Ann", "+254700000001", 1000 },
		{ "ke", 0, "sms", "Bo", "+254700000002", 1000 },
		{ "ng", 0, "sms", "Cy", "+234700000003", 1000 },
	};
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_delivery_row *r = NULL, *d = NULL;
	size_t n, nd, moot;
	const struct store_ack_in ack = { .alert_id = "A1", .team = "ke",
		.by = "Ann", .via = "link", .strength = "signed" };

	submit_plan(f, "A1", "ID-1", NULL, 0, tp, 2, dp, 3);
	/* ke's first row is in flight when ke acks; its second waits */
	assert_int_equal(store_claim(f->st, "w", 1000, 60, NULL, 1, &r, &n, &e),
	    0);
	assert_int_equal(n, 2);
	assert_int_equal(store_result(f->st, r[1].id, "w", STORE_R_TEMPFAIL,
	    1001, 1100, NULL, "busy", &e), 0);
	assert_int_equal(store_ack(f->st, &ack, 1002, "test", &e), 0);
	assert_int_equal(store_result(f->st, r[0].id, "w", STORE_R_TEMPFAIL,
	    1003, 1100, NULL, "busy", &e), 0);
	store_delivery_rows_free(r, n);
	/* ng ends unreached: its message still goes */
	raw(f, "UPDATE team_states SET state = 'unreached', deadline = 0 "
	    "WHERE team = 'ng'");
	assert_int_equal(store_claim(f->st, "w", 1200, 60, NULL, 5, &r, &n, &e),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].team, "ng");
	store_delivery_rows_free(r, n);
	assert_int_equal(store_deliveries(f->st, "A1", "ke", &d, &nd, &e), 0);
	assert_int_equal(nd, 2);
	for (size_t i = 0; i < nd; i++) {
		assert_int_equal(d[i].state, STORE_D_CANCELLED);
		assert_non_null(d[i].last_error);
		assert_non_null(strstr(d[i].last_error, "ack"));
	}
	store_delivery_rows_free(d, nd);
	/* an old store's orphan (acked, still failed) is swept */
	raw(f, "UPDATE deliveries SET state = 'failed', last_error = NULL "
	    "WHERE team = 'ke'");
	assert_int_equal(store_cancel_moot(f->st, 1300, &moot, &e), 0);
	assert_int_equal(moot, 2);
	assert_int_equal(store_deliveries(f->st, "A1", "ke", &d, &nd, &e), 0);
	assert_non_null(strstr(d[0].last_error, "stopped (acked)"));
	store_delivery_rows_free(d, nd);
}

/* A step of the wall clock moves the stored deadlines, retry times and
   leases by it, once whatever the number of serves; a new boot only sets
   a new base. */
static void
test_clock_step_moves_deadlines_once(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e = { 0 };
	struct store_team_row *t = NULL;
	struct store_delivery_row *d = NULL;
	size_t nt, nd;
	int64_t step = 99, before;

	assert_int_equal(submit(f, "A1", "ID-1", 1, &e), 0);
	assert_int_equal(store_teams(f->st, "A1", &t, &nt, &e), 0);
	before = t[0].deadline;
	store_team_rows_free(t, nt);
	assert_true(before > 0);
	/* the first look sets the base */
	assert_int_equal(store_clock_check(f->st, "boot-1", 5000000, 1000,
	    &step, &e), 0);
	assert_int_equal(step, 0);
	/* a second of jitter is no step */
	assert_int_equal(store_clock_check(f->st, "boot-1", 5001500, 1001,
	    &step, &e), 0);
	assert_int_equal(step, 0);
	/* +1 h: moved once, by the first serve to see it */
	assert_int_equal(store_clock_check(f->st, "boot-1", 8600000, 4600,
	    &step, &e), 0);
	assert_int_equal(step, 3600);
	assert_int_equal(store_clock_check(f->st, "boot-1", 8600200, 4600,
	    &step, &e), 0);
	assert_int_equal(step, 0);
	assert_int_equal(store_teams(f->st, "A1", &t, &nt, &e), 0);
	assert_int_equal(t[0].deadline, before + 3600);
	store_team_rows_free(t, nt);
	assert_int_equal(store_deliveries(f->st, "A1", NULL, &d, &nd, &e), 0);
	assert_true(nd > 0);
	assert_int_equal(d[0].next_attempt, 1000 + 3600);
	store_delivery_rows_free(d, nd);
	/* -1 h back */
	assert_int_equal(store_clock_check(f->st, "boot-1", 5000000, 1000,
	    &step, &e), 0);
	assert_int_equal(step, -3600);
	/* a reboot: a new base, nothing moved */
	assert_int_equal(store_clock_check(f->st, "boot-2", 99000000, 1000,
	    &step, &e), 0);
	assert_int_equal(step, 0);
	assert_int_equal(store_teams(f->st, "A1", &t, &nt, &e), 0);
	assert_int_equal(t[0].deadline, before);
	store_team_rows_free(t, nt);
}

/* Pages told to a backup's progress. */
static void
backup_progress(void *arg, int64_t done, int64_t total)
{
	int64_t *last = arg;

	assert_true(done <= total);
	*last = done;
}

/* A backup fills the empty file it is given, its mode kept, with a store
   that holds the same alerts and a chain that verifies; a file that is
   not there is not made. */
static void
test_backup_copy(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store *c = NULL;
	struct store_alert_row *a = NULL;
	struct stat sb;
	char copy[160], none[160];
	int64_t pages = 0, bad, n1, n2;
	int fd;

	assert_int_equal(submit(f, "A1", "ID-1", 50, &e), 0);
	(void)snprintf(copy, sizeof(copy), "%s/copy.db", f->dir);
	(void)snprintf(none, sizeof(none), "%s/none/copy.db", f->dir);
	assert_true((fd = open(copy, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	close(fd);
	assert_int_equal(store_backup(f->st, copy, backup_progress, &pages, &e),
	    0);
	assert_true(pages > 0);
	assert_int_equal(stat(copy, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(store_open(copy, &c, &e), 0);
	assert_int_equal(store_alert_get(c, "A1", &a, &e), 0);
	assert_int_equal(a->nteams, 50);
	store_alert_rows_free(a, 1);
	assert_int_equal(store_audit_verify(c, &bad, &n2, &e), 0);
	assert_int_equal(store_audit_verify(f->st, &bad, &n1, &e), 0);
	assert_int_equal(n1, n2);
	store_close(c);
	assert_int_equal(store_backup(f->st, none, NULL, NULL, &e), TOCSIN_EIO);
	assert_int_equal(access(none, F_OK), -1);
	/* the copy and what SQLite made beside it: the fixture's folder is
	   left empty */
	for (size_t i = 0; i < 3; i++) {
		char p[200];

		(void)snprintf(p, sizeof(p), "%s%s", copy, (const char *[]){
		    "", "-wal", "-shm" }[i]);
		(void)unlink(p);
	}
}

/* A prune blanks what names people in an old alert whose ladders ended,
   keeps an active alert whole, audits itself, and lists nothing twice;
   a dry run says the same and changes nothing. */
static void
test_prune(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_ack_in a = { "A1", "t000", "Ann", "operator:phone",
	    "unsigned", "call her on +15550100" };
	struct store_delivery_row *d = NULL;
	struct store_audit_row *r = NULL;
	struct store_team_row *t = NULL;
	struct store_prune p;
	size_t n;
	int64_t bad, cnt;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(submit(f, "A2", "ID-2", 1, &e), 0);
	assert_int_equal(store_ack(f->st, &a, 1500, "test", &e), 0);
	a.team = "t001";
	assert_int_equal(store_ack(f->st, &a, 1500, "test", &e), 0);
	assert_int_equal(store_prune(f->st, 2000, true, 3000, "op", &p, &e), 0);
	assert_int_equal(p.nalerts, 2);
	assert_string_equal(p.alerts[0].id, "A1");
	assert_false(p.alerts[0].live);
	assert_int_equal(p.alerts[0].deliveries, 4);
	assert_int_equal(p.alerts[0].acks, 2);
	assert_int_equal(p.alerts[0].teams, 2);
	assert_string_equal(p.alerts[1].id, "A2");
	assert_true(p.alerts[1].live);
	store_prune_free(&p);
	assert_int_equal(store_deliveries(f->st, "A1", NULL, &d, &n, &e), 0);
	assert_string_equal(d[0].address, "ann@x.example");
	store_delivery_rows_free(d, n);
	/* nothing accepted before 500 */
	assert_int_equal(store_prune(f->st, 500, false, 3000, "op", &p, &e), 0);
	assert_int_equal(p.nalerts, 0);
	store_prune_free(&p);
	assert_int_equal(store_prune(f->st, 2000, false, 3000, "op", &p, &e), 0);
	assert_int_equal(p.nalerts, 2);
	assert_int_equal(p.deliveries, 4);
	assert_false(p.scrub_failed);
	store_prune_free(&p);
	assert_int_equal(store_deliveries(f->st, "A1", NULL, &d, &n, &e), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(d[i].address, STORE_PRUNED);
		assert_string_equal(d[i].contact, STORE_PRUNED);
		assert_string_equal(d[i].last_error, STORE_PRUNED);
	}
	store_delivery_rows_free(d, n);
	assert_int_equal(store_teams(f->st, "A1", &t, &n, &e), 0);
	assert_string_equal(t[0].ack_by, STORE_PRUNED);
	store_team_rows_free(t, n);
	assert_int_equal(store_deliveries(f->st, "A2", NULL, &d, &n, &e), 0);
	assert_string_equal(d[0].address, "ann@x.example");
	store_delivery_rows_free(d, n);
	assert_int_equal(store_audit_verify(f->st, &bad, &cnt, &e), 0);
	assert_int_equal(store_audit_rows(f->st, "store", &r, &n, &e), 0);
	/* the two prunes run, not the dry one */
	assert_int_equal(n, 2);
	assert_string_equal(r[1].action, "prune");
	assert_string_equal(r[1].actor, "op");
	store_audit_rows_free(r, n);
	/* blanked already: only the active alert is listed */
	assert_int_equal(store_prune(f->st, 2000, false, 3000, "op", &p, &e), 0);
	assert_int_equal(p.nalerts, 1);
	assert_string_equal(p.alerts[0].id, "A2");
	store_prune_free(&p);
}


/* One node of several takes a job at a time: the holder keeps it while
   it renews it, another takes it once its time ran out; status sees who
   holds the turn and who holds which deliveries. */
static void
test_turns_and_holders(void **state)
{
	struct unit_store *f = *state;
	struct store_holder_row *h = NULL;
	struct store_delivery_row *r = NULL;
	struct tocsin_err e;
	size_t n = 0;

	assert_int_equal(store_turn(f->st, "ack-poll", "A", 1000, 30, &e), 1);
	assert_int_equal(store_turn(f->st, "ack-poll", "B", 1010, 30, &e), 0);
	assert_int_equal(store_turn(f->st, "ack-poll", "A", 1020, 30, &e), 1);
	/* A's time ran out at 1050: it died */
	assert_int_equal(store_turn(f->st, "ack-poll", "B", 1049, 30, &e), 0);
	assert_int_equal(store_turn(f->st, "ack-poll", "B", 1050, 30, &e), 1);
	assert_int_equal(store_turn(f->st, "ack-poll", "A", 1060, 30, &e), 0);
	assert_int_equal(store_turn(f->st, "other", "A", 1060, 30, &e), 1);
	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(store_claim(f->st, "tocsin/h1/7/0", 1000, 60, "sms",
	    10, &r, &n, &e), 0);
	assert_int_equal(n, 2);
	store_delivery_rows_free(r, n);
	assert_int_equal(store_holders(f->st, &h, &n, &e), 0);
	assert_int_equal(n, 3);
	assert_false(h[0].turn);
	assert_string_equal(h[0].owner, "tocsin/h1/7/0");
	assert_string_equal(h[0].channel, "sms");
	assert_int_equal(h[0].n, 2);
	assert_int_equal(h[0].until, 1060);
	assert_true(h[1].turn);
	assert_string_equal(h[1].owner, "A");
	assert_string_equal(h[1].channel, "other");
	assert_true(h[2].turn);
	assert_string_equal(h[2].owner, "B");
	assert_string_equal(h[2].channel, "ack-poll");
	assert_int_equal(h[2].until, 1080);
	store_holder_rows_free(h, n);
}

/* --- PostgreSQL's own ------------------------------------------------------ */

/* The schema made once, whatever the number of nodes that open the
   store; text compared by bytes as SQLite does; a later version refused. */
static void
test_pg_schema(void **state)
{
	struct unit_store *f = *state;
	struct store *second = NULL;
	struct tocsin_err e;
	char ci[768];

	assert_int_equal(store_open(f->path, &second, &e), 0);
	store_close(second);
	assert_int_equal(count(f, "schema_version"), 1);
	assert_int_equal(unit_store_int(f, "SELECT version FROM "
	    "schema_version"), 16);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM "
	    "information_schema.columns WHERE table_name = 'team_states' AND "
	    "column_name = 'team' AND collation_name = 'C'"), 1);
	raw(f, "UPDATE schema_version SET version = 99");
	assert_int_not_equal(store_open(f->path, &second, &e), 0);
	assert_non_null(strstr(e.msg, "version 99"));
	/* a store of version 9 gains the turns of version 10 */
	raw(f, "DROP TABLE turns; UPDATE schema_version SET version = 9");
	assert_int_equal(store_open(f->path, &second, &e), 0);
	store_close(second);
	assert_int_equal(count(f, "turns"), 0);
	assert_int_equal(count(f, "schema_version WHERE version = 16"), 1);
	/* one of version 10 gains the columns of version 11 */
	raw(f, "ALTER TABLE team_states DROP COLUMN on_failure, DROP COLUMN "
	    "early_why, DROP COLUMN moved_why; UPDATE schema_version SET "
	    "version = 10");
	assert_int_equal(store_open(f->path, &second, &e), 0);
	store_close(second);
	assert_int_equal(count(f, "team_states WHERE on_failure <> 'next'"), 0);
	assert_int_equal(count(f, "schema_version WHERE version = 16"), 1);
	/* one of version 11 gains the index of what waits per channel */
	raw(f, "DROP INDEX deliveries_waiting; UPDATE schema_version SET "
	    "version = 11");
	assert_int_equal(store_open(f->path, &second, &e), 0);
	store_close(second);
	assert_int_equal(count(f, "pg_indexes WHERE indexname = "
	    "'deliveries_waiting'"), 1);
	/* one of version 15 gains the audit's index for /metrics */
	raw(f, "DROP INDEX audit_ladder; UPDATE schema_version SET version = "
	    "15");
	assert_int_equal(store_open(f->path, &second, &e), 0);
	store_close(second);
	assert_int_equal(count(f, "pg_indexes WHERE indexname = "
	    "'audit_ladder'"), 1);
	/* one of version 11 gains the requests table of version 13 */
	raw(f, "DROP TABLE requests; UPDATE schema_version SET version = 12");
	assert_int_equal(store_open(f->path, &second, &e), 0);
	store_close(second);
	assert_int_equal(count(f, "requests"), 0);
	assert_int_equal(count(f, "schema_version WHERE version = 16"), 1);
	/* a UTF8 database would refuse or change text the store keeps */
	unit_pg_admin("CREATE DATABASE tst_utf8 ENCODING 'UTF8' TEMPLATE "
	    "template0");
	(void)snprintf(ci, sizeof(ci), "%s dbname=tst_utf8",
	    getenv("TOCSIN_TEST_PG"));
	assert_int_equal(store_open(ci, &second, &e), TOCSIN_ECONFIG);
	assert_non_null(strstr(e.msg, "SQL_ASCII"));
	unit_pg_admin("DROP DATABASE tst_utf8");
}

/* A password in the configuration is refused, and so is a password file
   that others may read; the error never shows the secret. */
static void
test_pg_conninfo_checked(void **state)
{
	struct unit_store *f = *state;
	struct store *s = NULL;
	struct tocsin_err e;
	char pass[128], ci[512];
	FILE *fp;

	assert_int_not_equal(store_open("host=127.0.0.1 dbname=x "
	    "password=s3cr3t", &s, &e), 0);
	assert_int_equal(e.code, TOCSIN_ECONFIG);
	assert_non_null(strstr(e.msg, "0600"));
	assert_null(strstr(e.msg, "s3cr3t"));
	assert_int_not_equal(store_open("postgresql://u:s3cr3t@127.0.0.1/x",
	    &s, &e), 0);
	assert_int_equal(e.code, TOCSIN_ECONFIG);
	assert_null(strstr(e.msg, "s3cr3t"));
	(void)snprintf(pass, sizeof(pass), "%s/pass", f->dir);
	(void)snprintf(ci, sizeof(ci), "host=127.0.0.1 dbname=x passfile=%s",
	    pass);
	assert_int_not_equal(store_open(ci, &s, &e), 0);
	assert_non_null(strstr(e.msg, "cannot be read"));
	assert_non_null(fp = fopen(pass, "w"));
	(void)fputs("*:*:*:*:s3cr3t\n", fp);
	(void)fclose(fp);
	assert_int_equal(chmod(pass, 0644), 0);
	assert_int_not_equal(store_open(ci, &s, &e), 0);
	assert_non_null(strstr(e.msg, "chmod 600"));
	assert_null(strstr(e.msg, "s3cr3t"));
	assert_null(s);
	assert_int_equal(unlink(pass), 0);
}

static void
test_pg_backup_refused(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	char copy[128];

	(void)snprintf(copy, sizeof(copy), "%s/copy.db", f->dir);
	assert_int_not_equal(store_backup(f->st, copy, NULL, NULL, &e), 0);
	assert_non_null(strstr(e.msg, "pg_dump"));
}

/* The server ends the store's connection (a restart, a failover): the
   next operation connects again and is done; nothing before it is lost. */
static void
test_pg_server_restart(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	int64_t bad, n;
	char sql[256];

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	(void)snprintf(sql, sizeof(sql), "SELECT count(pg_terminate_backend("
	    "pid)) FROM pg_stat_activity WHERE datname = '%s' AND "
	    "application_name = 'tocsin'", f->pgdb);
	assert_int_equal(unit_store_int(f, sql), 1);
	assert_int_equal(store_audit(f->st, 2000, "op", "note", "x", "after",
	    &e), 0);
	assert_int_equal(store_audit_verify(f->st, &bad, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(count(f, "deliveries"), 4);
}

/* Statements the store keeps prepared on its connection (a claim, a
   result, an escalation) are made again on the new connection after the
   server ended the old one: the same operations then succeed, and what
   they wrote is there once. */
static void
test_pg_kept_statements_after_restart(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	struct store_escalation es[2];
	struct store_delivery_plan dp[2];
	struct store_delivery_row *rows = NULL;
	char names[2][16], addrs[2][24], sql[256];
	bool moved[2];
	size_t n;

	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	batch_moves(2, es, dp, names, addrs);
	/* each statement run once, so kept, before the server goes */
	assert_int_equal(store_escalate_batch(f->st, es, 1, 2000, "test",
	    moved, &e), 0);
	assert_true(moved[0]);
	assert_int_equal(store_claim(f->st, "w1", 2000, 60, "sms", 1, &rows,
	    &n, &e), 0);
	assert_int_equal(n, 1);
	store_delivery_rows_free(rows, n);
	(void)snprintf(sql, sizeof(sql), "SELECT count(pg_terminate_backend("
	    "pid)) FROM pg_stat_activity WHERE datname = '%s' AND "
	    "application_name = 'tocsin'", f->pgdb);
	assert_int_equal(unit_store_int(f, sql), 1);
	assert_int_equal(store_escalate_batch(f->st, &es[1], 1, 2000, "test",
	    moved, &e), 0);
	assert_true(moved[0]);
	assert_int_equal(store_claim(f->st, "w1", 2000, 60, "sms", 1, &rows,
	    &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_result(f->st, rows[0].id, "w1", STORE_R_SENT,
	    2001, 0, "p:1", NULL, &e), 0);
	store_delivery_rows_free(rows, n);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM deliveries "
	    "WHERE step = 1"), 2);
	assert_int_equal(unit_store_int(f, "SELECT count(*) FROM deliveries "
	    "WHERE state = 'sent'"), 1);
}

/* The server ends the connection in the middle of a submit (a failover
   while the transaction was open): the submit is done once more on a new
   connection, and the alert is stored once with its audit record. */
static void
test_pg_submit_retried_after_a_lost_connection(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	int64_t bad, n;

	/* the first audit insert ends its own session; a sequence, since it
	   is not rolled back with the transaction */
	raw(f, "CREATE SEQUENCE kill_once; CREATE FUNCTION kill_once() "
	    "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF nextval("
	    "'kill_once') = 1 THEN PERFORM pg_terminate_backend("
	    "pg_backend_pid()); END IF; RETURN NEW; END $$; CREATE TRIGGER "
	    "kill_once BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION "
	    "kill_once()");
	assert_int_equal(submit(f, "A1", "ID-1", 2, &e), 0);
	assert_int_equal(count(f, "alerts"), 1);
	assert_int_equal(count(f, "deliveries"), 4);
	assert_int_equal(unit_store_int(f, "SELECT last_value FROM kill_once"),
	    2);
	assert_int_equal(store_audit_verify(f->st, &bad, &n, &e), 0);
	assert_int_equal(n, 1);
	/* a replay of it is still refused */
	assert_int_equal(submit(f, "A2", "ID-1", 2, &e), TOCSIN_EPERM);
}

/* A short wait asked for one write (the health probe's) is not left
   behind: the next write waits the usual 10 s for a lock another node
   holds 1.5 s, and is done. */
static void
test_pg_short_wait_is_not_left_behind(void **state)
{
	struct unit_store *f = *state;
	struct tocsin_err e;
	PGconn *c = PQconnectdb(f->path);
	PGresult *r;

	assert_int_equal(store_probe_write(f->st, 100, &e), 0);
	assert_int_equal(PQsendQuery(c, "BEGIN; SELECT "
	    "pg_advisory_xact_lock(1953457011); SELECT pg_sleep(1.5); "
	    "COMMIT"), 1);
	/* the other connection holds the lock before this one asks */
	(void)usleep(300000);
	assert_int_equal(store_audit(f->st, 2000, "op", "note", "x", "late",
	    &e), 0);
	while ((r = PQgetResult(c)) != NULL)
		PQclear(r);
	PQfinish(c);
	assert_int_equal(count(f, "audit"), 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	/* what every engine must do alike */
	const struct CMUnitTest common[] = {
		T(test_submit_and_read),
		T(test_replay_writes_nothing),
		T(test_audit_chain),
		T(test_audit_gap),
		T(test_claim_lease_result),
		T(test_inactive_team_not_claimed),
		T(test_claim_whole_groups),
		T(test_results_unavailable),
		T(test_results_batch),
		T(test_signatures),
		T(test_lease_owners_release),
		T(test_queue_counts),
		T(test_receipts_and_segments),
		T(test_failed_step_moves_on),
		T(test_ack_signature_once),
		T(test_guess_limits),
		T(test_code_try),
		T(test_escalate_once),
		T(test_escalate_batch_skips_an_ack_between),
		T(test_escalate_batch_all_or_nothing),
		T(test_ack_notices),
		T(test_ack_recorded_only),
		T(test_ack_stops_the_ladder),
		T(test_attempts_are_real_and_bounded),
		T(test_lost_leases_are_bounded),
		T(test_no_orphans_when_a_ladder_stops),
		T(test_clock_step_moves_deadlines_once),
		T(test_next_due_by_channel),
		T(test_check_of_contacts),
		T(test_prune),
		T(test_turns_and_holders),
		T(test_requests_bounded_per_team_and_hour),
		T(test_prune_requests),
		T(test_migrate_told),
		T(test_migrate_checking),
	};
	/* a file's mode, its log, its migrations, its backup */
	const struct CMUnitTest sqlite_only[] = {
		T(test_schema_and_wal),
		T(test_migrate_v5),
		T(test_migrate_v10),
		T(test_migrate_v12),
		T(test_migrate_v15),
		T(test_migrate_old_store),
		T(test_claim_that_cannot_commit_hands_out_nothing),
		T(test_backup_copy),
	};
	const struct CMUnitTest pg_only[] = {
		T(test_pg_schema),
		T(test_pg_conninfo_checked),
		T(test_pg_backup_refused),
		T(test_pg_server_restart),
		T(test_pg_kept_statements_after_restart),
		T(test_pg_submit_retried_after_a_lost_connection),
		T(test_pg_short_wait_is_not_left_behind),
	};
	int failed = cmocka_run_group_tests_name(unit_store_pg() ?
	    "store (PostgreSQL)" : "store (SQLite)", common, NULL, NULL);

	if (unit_store_pg())
		return failed + cmocka_run_group_tests_name("store, PostgreSQL's "
		    "own", pg_only, NULL, NULL);
	return failed + cmocka_run_group_tests_name("store, SQLite's own",
	    sqlite_only, NULL, NULL);
}
