/*
 * store_pg.c: the PostgreSQL engine of the store (store_sql.h), on libpq,
 * for several serve nodes on one database.
 *
 * Statements run with PQexecParams, typed parameters sent as text (blobs
 * as binary) and rows read as text.  A write transaction takes one
 * transaction-scoped advisory lock before anything else, so that writers
 * queue as they do on SQLite and store.c's rules (a step fires once, a
 * lease has one holder, the audit chain is one line) hold across hosts by
 * the same argument; the transactions are short (the network work of a
 * delivery is outside them).  A lost connection (the server restarted,
 * the primary failed over) makes the store unavailable for the operation
 * in hand, which its caller tries again; the next one reconnects, and with
 * a multi-host conninfo (host=a,b target_session_attrs=read-write) libpq
 * finds the new primary.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>

#include "base.h"
#include "store.h"
#include "store_sql.h"

/* The advisory lock every write transaction holds: "tocs". */
#define PG_WRITE_LOCK 0x746f6373
/* Parameters a statement may have. */
#define PG_MAXP 32
/* Statements kept prepared per connection: the store's statements are a
   few dozen fixed texts, run over and over. */
#define PG_PREPARED 128
/* Type oids of the parameters sent (pg_type.h is not a client header). */
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_TEXT 25

struct pg_db {
	struct sql_db base;
	PGconn *conn;
	bool in_tx;
	bool lost;			/* the connection broke: reconnect */
	int busy_ms;			/* lock_timeout wanted */
	int applied_ms;			/* lock_timeout the session has; -1 */
	int64_t changes;
	char sqlstate[6];		/* of the last failure; "" none */
	char msg[512];
	/* statement texts prepared on this connection as "tN", N the index;
	   forgotten when the connection is made again */
	struct pg_prepared {
		char *sql;
		uint32_t hash;
	} prepared[PG_PREPARED];
	int nprepared;
	/* the server said a name is unknown or its plan stale (another
	   node changed the schema, a pooler reset the session): every
	   name is dropped before the next transaction */
	bool stale;
	/* statements kept with their text translated (prepare_kept) */
	struct pg_kept {
		char *sql;		/* as the store wrote it */
		uint32_t hash;
		struct pg_stmt *st;
	} kept[PG_PREPARED];
	int nkept;
};

struct pg_stmt {
	struct sql_stmt base;
	char *sql;			/* with $N parameters */
	int nparams;
	char *values[PG_MAXP];
	int lengths[PG_MAXP], formats[PG_MAXP];
	Oid types[PG_MAXP];
	PGresult *res;
	int row, nrows;
	unsigned char *blob;		/* a bytea column decoded */
	bool kept, busy;		/* as struct sq_stmt's */
};

#define PG(d) ((struct pg_db *)(d))
#define PST(s) ((struct pg_stmt *)(s))

/* Keep the failure of res (may be NULL) or of the connection. */
static void
pg_note(struct pg_db *p, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res,
	    PG_DIAG_SQLSTATE) : NULL;
	const char *m = res != NULL && *PQresultErrorMessage(res) != '\0' ?
	    PQresultErrorMessage(res) : PQerrorMessage(p->conn);
	size_t n;

	(void)snprintf(p->sqlstate, sizeof(p->sqlstate), "%s",
	    state != NULL ? state : "");
	(void)snprintf(p->msg, sizeof(p->msg), "%s", m != NULL && *m != '\0' ?
	    m : "the database server did not answer");
	n = strlen(p->msg);
	while (n > 0 && (p->msg[n - 1] == '\n' || p->msg[n - 1] == ' '))
		p->msg[--n] = '\0';
	if (PQstatus(p->conn) != CONNECTION_OK)
		p->lost = true;
	/* 26000: no prepared statement of that name; 0A000 with a kept
	   plan: "cached plan must not change result type" */
	if (strcmp(p->sqlstate, "26000") == 0 || (strcmp(p->sqlstate,
	    "0A000") == 0 && strstr(p->msg, "cached plan") != NULL))
		p->stale = true;
}

static void
pg_clear_error(struct pg_db *p)
{
	p->sqlstate[0] = '\0';
	p->msg[0] = '\0';
}

/* A statement without parameters or rows wanted; 0 or -1. */
static int
pg_simple(struct pg_db *p, const char *sql)
{
	PGresult *res = PQexec(p->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_note(p, res);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

static void
pg_apply_wait(struct pg_db *p)
{
	char sql[64];

	/* lock_timeout 0 would wait for ever; SQLite's 0 waits not at all.
	   Set between transactions only: a SET inside one is undone by its
	   rollback. */
	if (p->in_tx || p->applied_ms == p->busy_ms)
		return;
	(void)snprintf(sql, sizeof(sql), "SET lock_timeout = %d",
	    p->busy_ms > 0 ? p->busy_ms : 1);
	p->applied_ms = pg_simple(p, sql) == 0 ? p->busy_ms : -1;
}

static void
pg_forget_prepared(struct pg_db *p)
{
	for (int i = 0; i < p->nprepared; i++)
		free(p->prepared[i].sql);
	p->nprepared = 0;
}

/* Outside a transaction, a connection that broke is made again (its
   prepared names are gone with the old session), and names the server
   no longer takes are dropped. */
static int
pg_ready(struct pg_db *p)
{
	if (p->in_tx)
		return 0;
	if (p->stale && !p->lost && PQstatus(p->conn) == CONNECTION_OK) {
		PQclear(PQexec(p->conn, "DEALLOCATE ALL"));
		pg_forget_prepared(p);
		p->stale = false;
	}
	if (!p->lost && PQstatus(p->conn) == CONNECTION_OK)
		return 0;
	p->stale = false;
	PQreset(p->conn);
	pg_forget_prepared(p);
	p->applied_ms = -1;
	if (PQstatus(p->conn) != CONNECTION_OK) {
		pg_note(p, NULL);
		return -1;
	}
	p->lost = false;
	if (PQsetClientEncoding(p->conn, "SQL_ASCII") != 0) {
		pg_note(p, NULL);
		return -1;
	}
	pg_apply_wait(p);
	return 0;
}

static int
pg_exec(struct sql_db *d, const char *sql)
{
	if (pg_ready(PG(d)) != 0)
		return -1;
	return pg_simple(PG(d), sql);
}

static int
pg_begin(struct sql_db *d, bool write)
{
	struct pg_db *p = PG(d);
	const char *begin = write ? "BEGIN" : "BEGIN ISOLATION LEVEL "
	    "REPEATABLE READ READ ONLY";
	char lock[64];

	if (pg_ready(p) != 0)
		return -1;
	pg_apply_wait(p);
	/* the lock in the same round trip as the BEGIN */
	if (write) {
		(void)snprintf(lock, sizeof(lock), "BEGIN; SELECT "
		    "pg_advisory_xact_lock(%d)", PG_WRITE_LOCK);
		begin = lock;
	}
	/* a connection found broken here had nothing of this transaction
	   yet: made again and tried once more (a restart, a failover) */
	if (pg_simple(p, begin) != 0 && (!p->lost || pg_ready(p) != 0 ||
	    pg_simple(p, begin) != 0)) {
		/* a lock not had in time leaves the BEGIN open */
		if (PQstatus(p->conn) == CONNECTION_OK &&
		    PQtransactionStatus(p->conn) != PQTRANS_IDLE)
			PQclear(PQexec(p->conn, "ROLLBACK"));
		return -1;
	}
	p->in_tx = true;
	return 0;
}

/* COMMIT of a transaction that an error aborted answers ROLLBACK, not
   an error: that is a failure here. */
static int
pg_commit(struct sql_db *d)
{
	struct pg_db *p = PG(d);
	PGresult *res = PQexec(p->conn, "COMMIT");
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_note(p, res);
		rc = -1;
	} else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		(void)snprintf(p->msg, sizeof(p->msg), "the transaction was "
		    "rolled back after an error");
		p->sqlstate[0] = '\0';
		rc = -1;
	}
	PQclear(res);
	p->in_tx = false;
	return rc;
}

static void
pg_rollback(struct sql_db *d)
{
	struct pg_db *p = PG(d);

	if (p->in_tx && PQstatus(p->conn) == CONNECTION_OK) {
		PQclear(PQexec(p->conn, "ROLLBACK"));
	}
	p->in_tx = false;
}

/* SQLite's "?" and "?N" as PostgreSQL's "$N"; string literals kept.  A
   bare "?" is one more than the largest number so far, as in SQLite. */
static int
pg_translate(const char *sql, char **ret, int *ret_n)
{
	size_t len = strlen(sql), o = 0;
	char *out = malloc(len * 2 + 1);
	bool quoted = false;
	int max = 0;

	if (out == NULL)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = sql[i];
		int n;

		if (c == '\'')
			quoted = !quoted;
		if (c != '?' || quoted) {
			out[o++] = c;
			continue;
		}
		if (sql[i + 1] >= '0' && sql[i + 1] <= '9') {
			n = 0;
			while (sql[i + 1] >= '0' && sql[i + 1] <= '9' && n < 1000)
				n = n * 10 + (sql[++i] - '0');
		} else
			n = max + 1;
		if (n < 1 || n > PG_MAXP) {
			free(out);
			return -1;
		}
		if (n > max)
			max = n;
		o += (size_t)snprintf(out + o, len * 2 + 1 - o, "$%d", n);
	}
	out[o] = '\0';
	*ret = out;
	*ret_n = max;
	return 0;
}

static int
pg_prepare(struct sql_db *d, const char *sql, struct sql_stmt **ret)
{
	struct pg_stmt *s;

	*ret = NULL;
	if (pg_ready(PG(d)) != 0)
		return -1;
	pg_apply_wait(PG(d));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->base.db = d;
	s->row = -1;
	if (pg_translate(sql, &s->sql, &s->nparams) != 0) {
		(void)snprintf(PG(d)->msg, sizeof(PG(d)->msg), "a statement "
		    "with more than %d parameters", PG_MAXP);
		free(s);
		return -1;
	}
	*ret = &s->base;
	return 0;
}

static void
pg_set(struct sql_stmt *st, int i, char *v, int len, int format, Oid type)
{
	struct pg_stmt *s = PST(st);

	if (i < 1 || i > PG_MAXP) {
		free(v);
		return;
	}
	free(s->values[i - 1]);
	s->values[i - 1] = v;
	s->lengths[i - 1] = len;
	s->formats[i - 1] = format;
	s->types[i - 1] = type;
}

static void
pg_bind_int64(struct sql_stmt *st, int i, int64_t v)
{
	char buf[24];

	(void)snprintf(buf, sizeof(buf), "%" PRId64, v);
	pg_set(st, i, strdup(buf), 0, 0, PG_OID_INT8);
}

static void
pg_bind_text(struct sql_stmt *st, int i, const char *v)
{
	pg_set(st, i, v != NULL ? strdup(v) : NULL, 0, 0, PG_OID_TEXT);
}

static void
pg_bind_blob(struct sql_stmt *st, int i, const void *v, size_t n)
{
	char *c = malloc(n > 0 ? n : 1);

	if (c != NULL && n > 0)
		memcpy(c, v, n);
	pg_set(st, i, c, (int)n, 1, PG_OID_BYTEA);
}

static void
pg_bind_null(struct sql_stmt *st, int i)
{
	pg_set(st, i, NULL, 0, 0, 0);
}

static void
pg_reset(struct sql_stmt *st)
{
	struct pg_stmt *s = PST(st);

	PQclear(s->res);
	s->res = NULL;
	s->row = -1;
	s->nrows = 0;
	PQfreemem(s->blob);
	s->blob = NULL;
}

static uint32_t
pg_hash(const char *t)
{
	uint32_t h = 2166136261u;

	while (*t != '\0')
		h = (h ^ (unsigned char)*t++) * 16777619u;
	return h;
}

/* Run s as a statement prepared on this connection (prepared now when it
   is new and there is room), so that the server parses and plans each
   of the store's statements once per connection, not once per run. */
static PGresult *
pg_exec_cached(struct pg_db *p, struct pg_stmt *s)
{
	const char *const *vals = (const char *const *)s->values;
	uint32_t h = pg_hash(s->sql);
	char name[16];
	PGresult *r;
	int i;

	for (i = 0; i < p->nprepared; i++)
		if (p->prepared[i].hash == h && p->prepared[i].sql != NULL &&
		    strcmp(p->prepared[i].sql, s->sql) == 0)
			break;
	if (i == p->nprepared) {
		if (i >= PG_PREPARED)
			return PQexecParams(p->conn, s->sql, s->nparams,
			    s->types, vals, s->lengths, s->formats, 0);
		(void)snprintf(name, sizeof(name), "t%d", i);
		r = PQprepare(p->conn, name, s->sql, s->nparams, s->types);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			return r;
		PQclear(r);
		/* out of memory: the name stays taken, never found again */
		p->prepared[i].sql = strdup(s->sql);
		p->prepared[i].hash = h;
		p->nprepared++;
	}
	(void)snprintf(name, sizeof(name), "t%d", i);
	return PQexecPrepared(p->conn, name, s->nparams, vals, s->lengths,
	    s->formats, 0);
}

/* Run the statement: its rows are then read one step at a time. */
static enum sql_step
pg_run(struct pg_stmt *s)
{
	struct pg_db *p = PG(s->base.db);
	ExecStatusType st;
	const char *cmd;

	s->res = pg_exec_cached(p, s);
	st = PQresultStatus(s->res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_note(p, s->res);
		PQclear(s->res);
		s->res = NULL;
		return SQL_ERR;
	}
	pg_clear_error(p);
	cmd = PQcmdStatus(s->res);
	/* like sqlite3_changes: what INSERT, UPDATE or DELETE changed */
	if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
	    strncmp(cmd, "DELETE", 6) == 0)
		p->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
	s->nrows = st == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
	s->row = 0;
	return s->nrows > 0 ? SQL_ROW : SQL_DONE;
}

static enum sql_step
pg_step(struct sql_stmt *st)
{
	struct pg_stmt *s = PST(st);

	PQfreemem(s->blob);
	s->blob = NULL;
	if (s->res == NULL)
		return pg_run(s);
	if (s->row + 1 < s->nrows) {
		s->row++;
		return SQL_ROW;
	}
	s->row = s->nrows;
	return SQL_DONE;
}

static void
pg_clear_bindings(struct pg_stmt *s)
{
	for (int i = 0; i < PG_MAXP; i++) {
		free(s->values[i]);
		s->values[i] = NULL;
		s->lengths[i] = s->formats[i] = 0;
		s->types[i] = 0;
	}
}

static void
pg_finalize(struct sql_stmt *st)
{
	struct pg_stmt *s = PST(st);

	pg_reset(st);
	pg_clear_bindings(s);
	if (s->kept) {
		s->busy = false;
		return;
	}
	free(s->sql);
	free(s);
}

/* The text translated once per connection and kept with its parameter
   arrays; the server's side (PQprepare under a name) is pg_exec_cached's,
   made again after a reconnect. */
static int
pg_prepare_kept(struct sql_db *d, const char *sql, struct sql_stmt **ret)
{
	struct pg_db *p = PG(d);
	uint32_t h = pg_hash(sql);
	struct sql_stmt *st = NULL;
	char *copy;

	*ret = NULL;
	for (int i = 0; i < p->nkept; i++) {
		struct pg_kept *k = &p->kept[i];

		if (k->hash != h || strcmp(k->sql, sql) != 0)
			continue;
		if (k->st->busy)
			return pg_prepare(d, sql, ret);
		if (pg_ready(p) != 0)
			return -1;
		pg_apply_wait(p);
		k->st->busy = true;
		*ret = &k->st->base;
		return 0;
	}
	if (pg_prepare(d, sql, &st) != 0)
		return -1;
	if (p->nkept < PG_PREPARED && (copy = strdup(sql)) != NULL) {
		PST(st)->kept = PST(st)->busy = true;
		p->kept[p->nkept++] = (struct pg_kept){ copy, h, PST(st) };
	}
	*ret = st;
	return 0;
}

static bool
pg_here(struct pg_stmt *s, int i)
{
	return s->res != NULL && s->row >= 0 && s->row < s->nrows && i >= 0 &&
	    i < PQnfields(s->res);
}

static bool
pg_column_null(struct sql_stmt *st, int i)
{
	struct pg_stmt *s = PST(st);

	return !pg_here(s, i) || PQgetisnull(s->res, s->row, i);
}

static const char *
pg_column_text(struct sql_stmt *st, int i)
{
	struct pg_stmt *s = PST(st);

	if (pg_column_null(st, i))
		return NULL;
	return PQgetvalue(s->res, s->row, i);
}

/* Integers, and booleans as SQLite gives them (1, 0). */
static int64_t
pg_column_int64(struct sql_stmt *st, int i)
{
	const char *v = pg_column_text(st, i);

	if (v == NULL)
		return 0;
	if (v[0] == 't' && v[1] == '\0')
		return 1;
	return strtoll(v, NULL, 10);
}

static const void *
pg_column_blob(struct sql_stmt *st, int i, size_t *len)
{
	struct pg_stmt *s = PST(st);
	const char *v = pg_column_text(st, i);

	*len = 0;
	if (v == NULL)
		return NULL;
	PQfreemem(s->blob);
	s->blob = PQunescapeBytea((const unsigned char *)v, len);
	return s->blob;
}

static int64_t
pg_changes(struct sql_db *d)
{
	return PG(d)->changes;
}

static const char *
pg_errmsg(struct sql_db *d)
{
	return PG(d)->msg[0] != '\0' ? PG(d)->msg : "no error";
}

/* The server gone, in recovery or read-only (a standby after a failover),
   out of disk, or a lock not had in time: a later try may pass. */
static enum sql_fail
pg_fail_kind(struct sql_db *d)
{
	struct pg_db *p = PG(d);
	static const char *const later[] = {
		"08", "53", "57P01", "57P02", "57P03", "25006", "40001",
		"40P01", "55P03", "58", "57014"
	};

	if (p->lost || PQstatus(p->conn) != CONNECTION_OK)
		return SQL_F_UNAVAILABLE;
	if (p->sqlstate[0] == '\0')
		return p->msg[0] != '\0' ? SQL_F_OTHER : SQL_F_NONE;
	if (strcmp(p->sqlstate, "23505") == 0)
		return SQL_F_UNIQUE;
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++)
		if (strncmp(p->sqlstate, later[i], strlen(later[i])) == 0)
			return SQL_F_UNAVAILABLE;
	return SQL_F_OTHER;
}

static void
pg_busy_wait(struct sql_db *d, int ms)
{
	PG(d)->busy_ms = ms;
	if (PQstatus(PG(d)->conn) == CONNECTION_OK)
		pg_apply_wait(PG(d));	/* or at the next BEGIN */
}

static int
pg_scrub_begin(struct sql_db *d)
{
	(void)d;
	return 0;
}

/* VACUUM FULL writes the tables anew, without the old versions of the
   rows the prune blanked (or that were rewritten before it). */
static int
pg_scrub_end(struct sql_db *d, bool pruned)
{
	if (!pruned)
		return 0;
	return pg_exec(d, "VACUUM (FULL) deliveries, acks, team_states, "
	    "check_tokens, ack_guesses");
}

static void
pg_close(struct sql_db *d)
{
	if (d == NULL)
		return;
	PQfinish(PG(d)->conn);
	pg_forget_prepared(PG(d));
	for (int i = 0; i < PG(d)->nkept; i++) {
		struct pg_stmt *s = PG(d)->kept[i].st;

		s->kept = false;
		pg_finalize(&s->base);
		free(PG(d)->kept[i].sql);
	}
	free(d);
}

static const struct sql_ops pg_ops = {
	.dialect = SQL_POSTGRES,
	.exec = pg_exec,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.prepare = pg_prepare,
	.prepare_kept = pg_prepare_kept,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.reset = pg_reset,
	.finalize = pg_finalize,
	.column_null = pg_column_null,
	.column_int64 = pg_column_int64,
	.column_text = pg_column_text,
	.column_blob = pg_column_blob,
	.changes = pg_changes,
	.errmsg = pg_errmsg,
	.fail_kind = pg_fail_kind,
	.busy_wait = pg_busy_wait,
	.scrub_begin = pg_scrub_begin,
	.scrub_end = pg_scrub_end,
	.close = pg_close,
};

/* --- opening ---------------------------------------------------------------- */

/*
 * What a conninfo may say: no password in it (secrets come from 0600
 * files only), and a password file, when named, private to its owner
 * (libpq would ignore one that is not, and fail to log in for a reason
 * nobody sees).  Nothing of the conninfo's values goes into err.
 */
int
store_pg_check(const char *target, struct tocsin_err *err)
{
	PQconninfoOption *opts;
	char *msg = NULL;
	int rc = 0;

	if ((opts = PQconninfoParse(target, &msg)) == NULL) {
		rc = tocsin_fail(err, TOCSIN_ECONFIG, "gateway.store: not a "
		    "PostgreSQL connection string: %s", msg != NULL ? msg :
		    "out of memory");
		PQfreemem(msg);
		return rc;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL && rc == 0; o++) {
		struct stat sb;

		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "password") == 0)
			rc = tocsin_fail(err, TOCSIN_ECONFIG, "gateway.store "
			    "holds a password: secrets are read only from "
			    "0600 files; put it in a password file (.pgpass "
			    "format) and name it with passfile=");
		else if (strcmp(o->keyword, "passfile") == 0 &&
		    stat(o->val, &sb) != 0)
			rc = tocsin_fail(err, TOCSIN_ECONFIG, "gateway.store: "
			    "the password file %s cannot be read: %s", o->val,
			    strerror(errno));
		else if (strcmp(o->keyword, "passfile") == 0 &&
		    (!S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0))
			rc = tocsin_fail(err, TOCSIN_ECONFIG, "gateway.store: "
			    "the password file %s is not a regular file of mode "
			    "0600 (it is %04o); chmod 600 it", o->val,
			    (unsigned)(sb.st_mode & 07777));
	}
	PQconninfoFree(opts);
	return rc;
}

/*
 * The store keeps text as it came, byte for byte, as SQLite does: a
 * provider's reply or a name someone typed may not be UTF-8, and an audit
 * record is hashed as it is written.  A database of encoding SQL_ASCII
 * stores bytes unchecked; UTF8 would refuse such text (a result never
 * recorded, a delivery stuck) or change it (an audit chain that no longer
 * verifies).  Its collation makes no difference: the schema compares text
 * by bytes (COLLATE "C").
 */
static int
pg_encoding(struct pg_db *p, struct tocsin_err *err)
{
	PGresult *res = PQexec(p->conn, "SELECT pg_encoding_to_char(encoding) "
	    "FROM pg_database WHERE datname = current_database()");
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pg_note(p, res);
		rc = tocsin_fail(err, TOCSIN_ESTORE, "store: %s", p->msg);
	} else if (strcmp(PQgetvalue(res, 0, 0), "SQL_ASCII") != 0)
		rc = tocsin_fail(err, TOCSIN_ECONFIG, "store: the database is of "
		    "encoding %.32s; the store keeps text byte for byte and "
		    "needs SQL_ASCII: CREATE DATABASE name ENCODING 'SQL_ASCII' "
		    "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
		    PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* The schema made when new or brought up to date, under the write lock,
   so that nodes starting together make it once; a store of a later
   version is refused. */
/* The schema_version the store has, read outside any transaction: 0
   when it has none, -1 when it cannot be read. */
static int
pg_version(struct pg_db *p)
{
	PGresult *res = PQexec(p->conn, "SELECT to_regclass('schema_version') "
	    "IS NOT NULL");
	int version = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		version = strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? -2 : 0;
	PQclear(res);
	if (version != -2)
		return version;
	res = PQexec(p->conn, "SELECT coalesce(max(version), 0) FROM "
	    "schema_version");
	version = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		version = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return version;
}

static int
pg_schema(struct pg_db *p, struct tocsin_err *err)
{
	static const struct { const char *from, *to; } types[] = {
		{ "INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS "
		    "IDENTITY PRIMARY KEY" },
		{ "INTEGER", "BIGINT" },
		{ "BLOB", "BYTEA" },
		{ "TEXT", "TEXT COLLATE \"C\"" },
	};
	struct base_buf b;
	const char *sql = store_schema;
	char tail[512];
	int version, rc;

	/* a store that is up to date is only read, without the write
	   lock: a start while another writer holds it waits for nothing */
	if (pg_version(p) == STORE_SCHEMA_VERSION)
		return 0;
	if (pg_begin(&p->base, true) != 0)
		return tocsin_fail(err, TOCSIN_ESTORE, "store: %s", p->msg);
	/* read again under the lock: another process may have brought it
	   up to date meanwhile (one that cannot be read is made anew, and
	   what cannot be made is said then) */
	if ((version = pg_version(p)) < 0)
		version = 0;
	if (version > STORE_SCHEMA_VERSION) {
		pg_rollback(&p->base);
		return tocsin_fail(err, TOCSIN_ESTORE, "store: the database holds "
		    "a store of version %d, made by a later tocsin (this one "
		    "knows %d)", version, STORE_SCHEMA_VERSION);
	}
	if (version == STORE_SCHEMA_VERSION)
		return pg_commit(&p->base) == 0 ? 0 : tocsin_fail(err,
		    TOCSIN_ESTORE, "store: %s", p->msg);
	/* SQLite's types in PostgreSQL's words; text compares by bytes,
	   as in SQLite, whatever the database's collation */
	base_buf_init(&b, 64 * 1024);
	while (*sql != '\0') {
		size_t i, n = 0;

		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strncmp(sql, types[i].from, n = strlen(types[i].from))
			    == 0)
				break;
		if (i < sizeof(types) / sizeof(types[0])) {
			base_buf_puts(&b, types[i].to);
			sql += n;
		} else
			base_buf_put(&b, sql++, 1);
	}
	/* signatures are read back in the order received: SQLite has rowid */
	/* an older store gets what its version lacks: the schema's tables
	   are made only when missing (later versions add tables only) */
	(void)snprintf(tail, sizeof(tail), "; ALTER TABLE signatures ADD "
	    "COLUMN IF NOT EXISTS ord BIGINT GENERATED BY DEFAULT AS IDENTITY; "
	    "ALTER TABLE team_states ADD COLUMN IF NOT EXISTS on_failure TEXT "
	    "COLLATE \"C\" NOT NULL DEFAULT 'next', ADD COLUMN IF NOT EXISTS "
	    "early_why TEXT COLLATE \"C\", ADD COLUMN IF NOT EXISTS moved_why "
	    "TEXT COLLATE \"C\"; "
	    "DELETE FROM schema_version; INSERT INTO schema_version VALUES "
	    "(%d); ", STORE_SCHEMA_VERSION);
	base_buf_puts(&b, tail);
	/* version 14: requests' receipts and relay notices are told */
	base_buf_puts(&b, store_told_fix);
	/* version 15: the teams of checks of contacts are checking */
	base_buf_puts(&b, store_checking_fix);
	/* version 16: the index audit_ladder, made by the schema's CREATE */
	if (b.rc != 0 || b.full) {
		pg_rollback(&p->base);
		base_buf_free(&b);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	rc = pg_simple(p, b.p) == 0 && pg_commit(&p->base) == 0 ? 0 :
	    tocsin_fail(err, TOCSIN_ESTORE, "store: cannot make the schema: %s",
	    p->msg);
	pg_rollback(&p->base);
	base_buf_free(&b);
	return rc;
}

int
sql_pg_open(const char *target, struct sql_db **ret, struct tocsin_err *err)
{
	/* the target's own settings win over these (expand_dbname) */
	const char *const keys[] = { "application_name", "connect_timeout",
		"dbname", NULL };
	const char *const vals[] = { "tocsin", "10", target, NULL };
	struct pg_db *p;
	int rc;

	*ret = NULL;
	if ((rc = store_pg_check(target, err)) != 0)
		return rc;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	p->base.ops = &pg_ops;
	p->busy_ms = 10000;
	p->applied_ms = -1;
	p->conn = PQconnectdbParams(keys, vals, 1);
	if (p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK ||
	    PQsetClientEncoding(p->conn, "SQL_ASCII") != 0) {
		pg_note(p, NULL);
		rc = tocsin_fail(err, TOCSIN_ESTORE, "cannot connect to the "
		    "PostgreSQL store: %s; check gateway.store and that the "
		    "server is up", p->msg);
		pg_close(&p->base);
		return rc;
	}
	pg_apply_wait(p);
	if ((rc = pg_encoding(p, err)) != 0 || (rc = pg_schema(p, err)) != 0) {
		pg_close(&p->base);
		return rc;
	}
	*ret = &p->base;
	return 0;
}
