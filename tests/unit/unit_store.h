/*
 * unit_store.h: a store in a folder of its own that a test opens and
 * removes, and a store scripted step by step, for the tests of what is
 * read back from it (report, metrics).  Include after <cmocka.h>,
 * "store.h" and "unit_util.h".  Each scripting helper asserts that the
 * store took the step.
 */
#ifndef TOCSIN_UNIT_STORE_H
#define TOCSIN_UNIT_STORE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

/* A store at path, in the temporary folder dir, that holds nothing else
   when it is closed.  With TOCSIN_TEST_PG set (the conninfo of a test
   server's maintenance database, tests/pg/pgcluster.py), the store is a
   PostgreSQL database of its own instead, dropped when it is closed, and
   path is its conninfo. */
struct unit_store {
	char dir[64];
	char path[768];
	char pgdb[64];			/* the database made; "" for SQLite */
	struct store *st;
};

static int unit_store_open(struct unit_store *, const char *, const char *)
    __attribute__((unused));
static void unit_store_close(struct unit_store *) __attribute__((unused));
static void unit_store_sql(struct unit_store *, const char *)
    __attribute__((unused));
static int64_t unit_store_int(struct unit_store *, const char *)
    __attribute__((unused));
static bool unit_store_pg(void) __attribute__((unused));

static bool
unit_store_pg(void)
{
	const char *pg = getenv("TOCSIN_TEST_PG");

	return pg != NULL && pg[0] != '\0';
}

/* A statement run on the test server's maintenance database. */
static void
unit_pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(getenv("TOCSIN_TEST_PG"));
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("test server: %s", PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("test server: %s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

/* A new folder prefix-XXXXXX and the store name in it (name may have
   folders that store_open makes), or a new PostgreSQL database; 0, or
   -1 with the reason on stderr, so that a setup can return it.  Close
   with unit_store_close. */
static int
unit_store_open(struct unit_store *u, const char *prefix, const char *name)
{
	static unsigned serial;
	struct tocsin_err e;
	char sql[256];

	(void)snprintf(u->dir, sizeof(u->dir), "%s-XXXXXX", prefix);
	if (mkdtemp(u->dir) == NULL)
		return -1;
	(void)snprintf(u->path, sizeof(u->path), "%s/%s", u->dir, name);
	u->pgdb[0] = '\0';
	if (unit_store_pg()) {
		(void)snprintf(u->pgdb, sizeof(u->pgdb), "tst_%ld_%u",
		    (long)getpid(), serial++);
		(void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s ENCODING "
		    "'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
		    u->pgdb);
		unit_pg_admin(sql);
		/* the last dbname of a conninfo is the one used */
		(void)snprintf(u->path, sizeof(u->path), "%s dbname=%s",
		    getenv("TOCSIN_TEST_PG"), u->pgdb);
	}
	if (store_open(u->path, &u->st, &e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	return 0;
}

/* The store closed and removed with its folders, which must hold nothing
   else by now. */
static void
unit_store_close(struct unit_store *u)
{
	char sql[256];

	store_close(u->st);
	u->st = NULL;
	if (u->pgdb[0] != '\0') {
		(void)snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)",
		    u->pgdb);
		unit_pg_admin(sql);
		assert_int_equal(rmdir(u->dir), 0);
		return;
	}
	unit_store_remove(u->dir, u->path);
}

/* Statements run on the store by a connection of their own (another
   process, as far as the store can tell); the first column of the first
   row of a query as an integer. */
static void
unit_store_sql(struct unit_store *u, const char *sql)
{
	sqlite3 *db;

	if (u->pgdb[0] != '\0') {
		PGconn *c = PQconnectdb(u->path);
		PGresult *r = PQexec(c, sql);

		assert_true(PQresultStatus(r) == PGRES_COMMAND_OK ||
		    PQresultStatus(r) == PGRES_TUPLES_OK);
		PQclear(r);
		PQfinish(c);
		return;
	}
	assert_int_equal(sqlite3_open(u->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int64_t
unit_store_int(struct unit_store *u, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n;

	if (u->pgdb[0] != '\0') {
		PGconn *c = PQconnectdb(u->path);
		PGresult *r = PQexec(c, sql);

		assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
		assert_true(PQntuples(r) >= 1);
		n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		PQfinish(c);
		return n;
	}
	assert_int_equal(sqlite3_open(u->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static struct store_delivery_row *unit_claim(struct store *, const char *,
    int64_t, size_t, size_t *) __attribute__((unused));
static int64_t unit_row_of(const struct store_delivery_row *, size_t,
    const char *) __attribute__((unused));
static void unit_result(struct store *, int64_t, enum store_result, int64_t,
    const char *) __attribute__((unused));
static void unit_escalate(struct store *, const char *, const char *, int,
    int, const char *, int64_t, const struct store_delivery_plan *, size_t,
    int64_t) __attribute__((unused));
static void unit_ack(struct store *, const char *, const char *,
    const char *, const char *, const char *, int64_t)
    __attribute__((unused));

/* Claim what is due on channel at now; every row claimed must be of the
   channel, and want of them must come.  Free with
   store_delivery_rows_free. */
static struct store_delivery_row *
unit_claim(struct store *st, const char *channel, int64_t now, size_t want,
    size_t *n)
{
	struct store_delivery_row *r = NULL;
	struct tocsin_err e;

	assert_int_equal(store_claim(st, "w", now, 60, channel, 16, &r, n,
	    &e), 0);
	assert_int_equal(*n, want);
	for (size_t i = 0; i < *n; i++)
		assert_string_equal(r[i].channel, channel);
	return r;
}

/* The id of the row claimed for team. */
static int64_t
unit_row_of(const struct store_delivery_row *r, size_t n, const char *team)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].team, team) == 0)
			return r[i].id;
	fail_msg("no delivery claimed for team %s", team);
	return -1;
}

static void
unit_result(struct store *st, int64_t id, enum store_result res, int64_t at,
    const char *why)
{
	struct tocsin_err e;

	assert_int_equal(store_result(st, id, "w", res, at, 0, NULL, why, &e),
	    0);
}

static void
unit_escalate(struct store *st, const char *alert, const char *team,
    int from, int to, const char *state, int64_t deadline,
    const struct store_delivery_plan *d, size_t nd, int64_t now)
{
	struct store_escalation esc = { .alert_id = alert, .team = team,
		.from_step = from, .to_step = to, .deadline = deadline,
		.state = state };
	struct tocsin_err e;

	assert_int_equal(store_escalate(st, &esc, d, nd, now, "test", &e), 0);
}

static void
unit_ack(struct store *st, const char *alert, const char *team,
    const char *by, const char *via, const char *strength, int64_t now)
{
	struct store_ack_in a = { .alert_id = alert, .team = team, .by = by,
		.via = via, .strength = strength };
	struct tocsin_err e;

	assert_int_equal(store_ack(st, &a, now, "test", &e), 0);
}

#endif
