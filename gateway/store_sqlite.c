/*
 * store_sqlite.c: the SQLite engine of the store (store_sql.h), the
 * embedded default.
 *
 * WAL mode; synchronous=FULL set explicitly, because an accepted alert or an
 * ack must survive a power cut.  A write transaction is BEGIN IMMEDIATE, so
 * that claims never deadlock on upgrade.  Here too: the file's mode, the
 * migrations of stores made by earlier versions, and the stepped backup.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base.h"
#include "store.h"
#include "store_sql.h"

/* Statements kept per connection (prepare_kept): more than the store's
   fixed texts. */
#define SQ_KEPT 128

struct sq_stmt {
	struct sql_stmt base;
	sqlite3_stmt *st;
	bool kept;		/* owned by the connection's kept list */
	bool busy;		/* kept, and handed out now */
};

struct sq_db {
	struct sql_db base;
	sqlite3 *db;
	int secure_was;		/* secure_delete before a prune's scrub */
	struct sq_kept {
		char *sql;
		uint32_t hash;
		struct sq_stmt *st;
	} kept[SQ_KEPT];
	int nkept;
};

#define SQ(d) (((struct sq_db *)(d))->db)
#define ST(s) (((struct sq_stmt *)(s))->st)

static int
sq_exec(struct sql_db *d, const char *sql)
{
	return sqlite3_exec(SQ(d), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int
sq_begin(struct sql_db *d, bool write)
{
	return sq_exec(d, write ? "BEGIN IMMEDIATE" : "BEGIN");
}

static void
sq_rollback(struct sql_db *d)
{
	if (!sqlite3_get_autocommit(SQ(d)))
		(void)sqlite3_exec(SQ(d), "ROLLBACK", NULL, NULL, NULL);
}

/* A COMMIT that fails can leave the transaction open: the caller rolls
   back once it has read the error. */
static int
sq_commit(struct sql_db *d)
{
	return sq_exec(d, "COMMIT");
}

static int
sq_prepare(struct sql_db *d, const char *sql, struct sql_stmt **ret)
{
	struct sq_stmt *s;

	*ret = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->base.db = d;
	if (sqlite3_prepare_v2(SQ(d), sql, -1, &s->st, NULL) != SQLITE_OK) {
		free(s);
		return -1;
	}
	*ret = &s->base;
	return 0;
}

static uint32_t
sq_hash(const char *t)
{
	uint32_t h = 2166136261u;

	while (*t != '\0')
		h = (h ^ (unsigned char)*t++) * 16777619u;
	return h;
}

/* A kept statement of this text, compiled once per connection with
   SQLITE_PREPARE_PERSISTENT (it is used many times); SQLite compiles it
   again by itself when the schema changed. */
static int
sq_prepare_kept(struct sql_db *d, const char *sql, struct sql_stmt **ret)
{
	struct sq_db *q = (struct sq_db *)d;
	uint32_t h = sq_hash(sql);
	struct sq_stmt *s;
	char *copy;

	*ret = NULL;
	for (int i = 0; i < q->nkept; i++) {
		struct sq_kept *k = &q->kept[i];

		if (k->hash != h || strcmp(k->sql, sql) != 0)
			continue;
		if (k->st->busy)
			return sq_prepare(d, sql, ret);
		k->st->busy = true;
		*ret = &k->st->base;
		return 0;
	}
	if (q->nkept >= SQ_KEPT)
		return sq_prepare(d, sql, ret);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	if ((copy = strdup(sql)) == NULL) {
		free(s);
		return -1;
	}
	s->base.db = d;
	if (sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &s->st, NULL) != SQLITE_OK) {
		free(copy);
		free(s);
		return -1;
	}
	s->kept = s->busy = true;
	q->kept[q->nkept++] = (struct sq_kept){ copy, h, s };
	*ret = &s->base;
	return 0;
}

static void
sq_bind_int64(struct sql_stmt *s, int i, int64_t v)
{
	(void)sqlite3_bind_int64(ST(s), i, v);
}

static void
sq_bind_text(struct sql_stmt *s, int i, const char *v)
{
	if (v == NULL)
		(void)sqlite3_bind_null(ST(s), i);
	else
		(void)sqlite3_bind_text(ST(s), i, v, (int)strlen(v),
		    SQLITE_TRANSIENT);
}

static void
sq_bind_blob(struct sql_stmt *s, int i, const void *v, size_t n)
{
	(void)sqlite3_bind_blob(ST(s), i, v, (int)n, SQLITE_TRANSIENT);
}

static void
sq_bind_null(struct sql_stmt *s, int i)
{
	(void)sqlite3_bind_null(ST(s), i);
}

static enum sql_step
sq_step(struct sql_stmt *s)
{
	switch (sqlite3_step(ST(s))) {
	case SQLITE_ROW:
		return SQL_ROW;
	case SQLITE_DONE:
		return SQL_DONE;
	default:
		return SQL_ERR;
	}
}

static void
sq_reset(struct sql_stmt *s)
{
	(void)sqlite3_reset(ST(s));
}

static void
sq_finalize(struct sql_stmt *s)
{
	struct sq_stmt *q = (struct sq_stmt *)s;

	if (q->kept) {
		/* its read ends here, as a finalize would end it */
		(void)sqlite3_reset(q->st);
		(void)sqlite3_clear_bindings(q->st);
		q->busy = false;
		return;
	}
	(void)sqlite3_finalize(q->st);
	free(s);
}

static void
sq_forget_kept(struct sq_db *q)
{
	for (int i = 0; i < q->nkept; i++) {
		(void)sqlite3_finalize(q->kept[i].st->st);
		free(q->kept[i].st);
		free(q->kept[i].sql);
	}
	q->nkept = 0;
}

static bool
sq_column_null(struct sql_stmt *s, int i)
{
	return sqlite3_column_type(ST(s), i) == SQLITE_NULL;
}

static int64_t
sq_column_int64(struct sql_stmt *s, int i)
{
	return sqlite3_column_int64(ST(s), i);
}

static const char *
sq_column_text(struct sql_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(ST(s), i);
}

static const void *
sq_column_blob(struct sql_stmt *s, int i, size_t *len)
{
	const void *p = sqlite3_column_blob(ST(s), i);

	*len = (size_t)sqlite3_column_bytes(ST(s), i);
	return p;
}

static int64_t
sq_changes(struct sql_db *d)
{
	return sqlite3_changes(SQ(d));
}

static const char *
sq_errmsg(struct sql_db *d)
{
	return SQ(d) != NULL ? sqlite3_errmsg(SQ(d)) : "no database";
}

/* A full disk, a read-only or failing file system, another writer's lock:
   a later try of the same may pass. */
static enum sql_fail
sq_fail_kind(struct sql_db *d)
{
	int ext = sqlite3_extended_errcode(SQ(d));

	switch (ext & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return SQL_F_NONE;
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_CANTOPEN:
	case SQLITE_NOMEM:
		return SQL_F_UNAVAILABLE;
	default:
		return ext == SQLITE_CONSTRAINT_UNIQUE ? SQL_F_UNIQUE :
		    SQL_F_OTHER;
	}
}

static void
sq_busy_wait(struct sql_db *d, int ms)
{
	(void)sqlite3_busy_timeout(SQ(d), ms);
}

/* secure_delete on for the prune's transaction: freed cells and pages
   are zeroed, not left in the file; the connection's own setting (the
   build's default) is put back after. */
static int
sq_scrub_begin(struct sql_db *d)
{
	struct sq_db *q = (struct sq_db *)d;
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(q->db, "PRAGMA secure_delete", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	q->secure_was = sqlite3_step(st) == SQLITE_ROW ?
	    sqlite3_column_int(st, 0) : 0;
	(void)sqlite3_finalize(st);
	return sq_exec(d, "PRAGMA secure_delete = ON");
}

/* VACUUM rewrites every page (with secure_delete, as the connection has
   it), and the log that holds the old pages is emptied. */
static int
sq_scrub_end(struct sql_db *d, bool pruned)
{
	struct sq_db *q = (struct sq_db *)d;
	char sql[40];
	int rc = 0;

	if (pruned)
		rc = sq_exec(d, "VACUUM") != 0 || sqlite3_wal_checkpoint_v2(q->db,
		    NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) != SQLITE_OK ?
		    -1 : 0;
	(void)snprintf(sql, sizeof(sql), "PRAGMA secure_delete = %d",
	    q->secure_was);
	(void)sq_exec(d, sql);
	return rc;
}

static void
sq_close(struct sql_db *d)
{
	if (d == NULL)
		return;
	sq_forget_kept((struct sq_db *)d);
	sqlite3_close(SQ(d));
	free(d);
}

static const struct sql_ops sq_ops = {
	.dialect = SQL_SQLITE,
	.exec = sq_exec,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.prepare = sq_prepare,
	.prepare_kept = sq_prepare_kept,
	.bind_int64 = sq_bind_int64,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.reset = sq_reset,
	.finalize = sq_finalize,
	.column_null = sq_column_null,
	.column_int64 = sq_column_int64,
	.column_text = sq_column_text,
	.column_blob = sq_column_blob,
	.changes = sq_changes,
	.errmsg = sq_errmsg,
	.fail_kind = sq_fail_kind,
	.busy_wait = sq_busy_wait,
	.scrub_begin = sq_scrub_begin,
	.scrub_end = sq_scrub_end,
	.close = sq_close,
};

/* --- opening ---------------------------------------------------------------- */

/* Whether table has the column (a migration that may have run). */
static bool
sq_has_column(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *st = NULL;
	char sql[128];
	bool found = false;

	(void)snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return false;
	while (!found && sqlite3_step(st) == SQLITE_ROW)
		found = sqlite3_column_text(st, 1) != NULL && strcmp((const char *)
		    sqlite3_column_text(st, 1), column) == 0;
	sqlite3_finalize(st);
	return found;
}

/* Create the folder of the store (and its parents) when missing, private
   to the service: the store holds alerts and contact addresses. */
void
store_make_folder(const char *path)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	for (char *p = dir + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(dir, 0700);
			*p = '/';
		}
	(void)mkdir(dir, 0700);
}

static int
sq_exec_err(sqlite3 *db, const char *sql, struct tocsin_err *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		(void)tocsin_fail(err, TOCSIN_ESTORE, "store: %s", msg ? msg :
		    "error");
		sqlite3_free(msg);
		return TOCSIN_ESTORE;
	}
	return 0;
}

/* The schema_version of a store made before: 0 when it has none. */
static int
sq_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int version = 0, rc;

	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type "
	    "= 'table' AND name = 'schema_version'", -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return 0;
	if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version",
	    -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return version;
}

/*
 * Older stores, brought up to date before the schema's CREATE ... IF NOT
 * EXISTS statements run (an index of a new column needs the column):
 * version 1 lacks deliveries.segments, version 2 team_states.token_hash,
 * version 3 deliveries.kind; version 4 has no contact_checks table yet,
 * version 5 neither ack_signatures nor ack_guesses, and version 6 no
 * check_tokens nor endpoint_checks, which the schema's CREATE makes;
 * version 7 adds team_states.ack_contact (who acknowledged as the
 * gateway knows them: by number, key or own link).
 * A new store has no schema_version table yet and nothing to migrate.
 */
static int
store_migrate(sqlite3 *db, struct tocsin_err *err)
{
	static const struct {
		int below;
		const char *sql;
	} steps[] = {
		{ 2, "ALTER TABLE deliveries ADD COLUMN segments INTEGER NOT "
		    "NULL DEFAULT 0; UPDATE schema_version SET version = 2" },
		{ 3, "ALTER TABLE team_states ADD COLUMN token_hash TEXT; "
		    "UPDATE schema_version SET version = 3" },
		{ 4, "ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL "
		    "DEFAULT 'alert'; UPDATE schema_version SET version = 4" },
		{ 5, "UPDATE schema_version SET version = 5" },
		{ 6, "UPDATE schema_version SET version = 6" },
		{ 7, "ALTER TABLE team_states ADD COLUMN ack_contact TEXT; "
		    "UPDATE schema_version SET version = 7" },
	};
	int version = sq_version(db), rc;

	if (version < 0)
		return tocsin_fail(err, TOCSIN_ESTORE, "store: %s",
		    sqlite3_errmsg(db));
	if (version == 0)
		return 0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (version < steps[i].below &&
		    (rc = sq_exec_err(db, steps[i].sql, err)) != 0)
			return rc;
	/* version 9: deliveries.tried (handed to the driver, attempt not yet
	   recorded) and deliveries.reclaims (leases lost without a result);
	   a store made new since has them from the schema already */
	if (version < 9 && !sq_has_column(db, "deliveries", "tried") &&
	    (rc = sq_exec_err(db, "ALTER TABLE deliveries ADD COLUMN tried "
	    "INTEGER NOT NULL DEFAULT 0; ALTER TABLE deliveries ADD COLUMN "
	    "reclaims INTEGER NOT NULL DEFAULT 0", err)) != 0)
		return rc;
	if (version < 9 && (rc = sq_exec_err(db, "UPDATE schema_version SET "
	    "version = 9", err)) != 0)
		return rc;
	/* version 10: the turns table, which the schema's CREATE makes */
	if (version < 10 && (rc = sq_exec_err(db, "UPDATE schema_version SET "
	    "version = 10", err)) != 0)
		return rc;
	/* version 11: what a step that failed on every channel does, and
	   why a team moved (existing teams move on, as new ones do) */
	if (version < 11 && !sq_has_column(db, "team_states", "on_failure") &&
	    (rc = sq_exec_err(db, "ALTER TABLE team_states ADD COLUMN "
	    "on_failure TEXT NOT NULL DEFAULT 'next'; ALTER TABLE team_states "
	    "ADD COLUMN early_why TEXT; ALTER TABLE team_states ADD COLUMN "
	    "moved_why TEXT", err)) != 0)
		return rc;
	if (version < 11 && (rc = sq_exec_err(db, "UPDATE schema_version SET "
	    "version = 11", err)) != 0)
		return rc;
	/* version 12: the index deliveries_waiting, which the schema's
	   CREATE makes */
	if (version < 12 && (rc = sq_exec_err(db, "UPDATE schema_version SET "
	    "version = 12", err)) != 0)
		return rc;
	/* version 13: the requests table, which the schema's CREATE makes */
	if (version < 13 && (rc = sq_exec_err(db, "UPDATE schema_version SET "
	    "version = 13", err)) != 0)
		return rc;
	/* version 14: requests' receipts and relay notices are told */
	if (version < 14 && ((rc = sq_exec_err(db, store_told_fix, err)) != 0 ||
	    (rc = sq_exec_err(db, "UPDATE schema_version SET version = 14",
	    err)) != 0))
		return rc;
	/* version 15: the teams of checks of contacts are checking */
	if (version < 15 && ((rc = sq_exec_err(db, store_checking_fix, err))
	    != 0 || (rc = sq_exec_err(db, "UPDATE schema_version SET version "
	    "= 15", err)) != 0))
		return rc;
	/* version 16: the index audit_ladder, which the schema's CREATE
	   makes */
	if (version < 16 && (rc = sq_exec_err(db, "UPDATE schema_version SET "
	    "version = 16", err)) != 0)
		return rc;
	return 0;
}

/* The schema made or brought up to date, in one transaction. */
static int
sq_schema(sqlite3 *db, struct tocsin_err *err)
{
	char sql[96];
	int version, rc;

	(void)snprintf(sql, sizeof(sql), "INSERT INTO schema_version SELECT %d "
	    "WHERE NOT EXISTS (SELECT 1 FROM schema_version)",
	    STORE_SCHEMA_VERSION);
	/* a store that is up to date is only read: a start while another
	   writer holds the store (a serve node, a submit, a backup) waits
	   for nothing */
	if ((version = sq_version(db)) == STORE_SCHEMA_VERSION)
		return 0;
	/* as on PostgreSQL: what a later version changed, this one may
	   misread or undo */
	if (version > STORE_SCHEMA_VERSION)
		return tocsin_fail(err, TOCSIN_ESTORE, "store: the file holds a "
		    "store of version %d, made by a later tocsin (this one "
		    "knows %d)", version, STORE_SCHEMA_VERSION);
	if ((rc = sq_exec_err(db, "BEGIN IMMEDIATE", err)) != 0)
		return rc;
	if ((rc = store_migrate(db, err)) != 0 ||
	    (rc = sq_exec_err(db, store_schema, err)) != 0 ||
	    (rc = sq_exec_err(db, sql, err)) != 0 ||
	    (rc = sq_exec_err(db, "COMMIT", err)) != 0) {
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return 0;
}

int
sql_sqlite_open(const char *path, struct sql_db **ret, struct tocsin_err *err)
{
	struct sq_db *q;
	int rc;

	*ret = NULL;
	store_make_folder(path);
	{
		/* SQLite would make the file 0644 less the umask; the store
		   holds alerts and contact addresses.  O_EXCL: only a file
		   that did not exist is made and closed here; closing a
		   descriptor of a store that is open would drop every lock
		   this process holds on it (POSIX locks are per process),
		   and another process could then reset the log under the
		   open connections. */
		int fd = path[0] == '\0' || strcmp(path, ":memory:") == 0 ?
		    -1 : open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);

		if (fd >= 0)
			close(fd);
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	q->base.ops = &sq_ops;
	if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = tocsin_fail(err, TOCSIN_ESTORE, "cannot open the store %s: "
		    "%s; check that its folder exists and is writable", path,
		    q->db ? sqlite3_errmsg(q->db) : "out of memory");
		sq_close(&q->base);
		return rc;
	}
	(void)sqlite3_busy_timeout(q->db, 10000);
	/* FULL even in WAL: an accepted alert or ack must survive power loss. */
	if ((rc = sq_exec_err(q->db, "PRAGMA journal_mode=WAL; PRAGMA "
	    "synchronous=FULL; PRAGMA foreign_keys=ON;", err)) != 0 ||
	    (rc = sq_schema(q->db, err)) != 0) {
		sq_close(&q->base);
		return rc;
	}
	*ret = &q->base;
	return 0;
}

/* --- backup ----------------------------------------------------------------- */

/* Restarts of a stepped backup (another process wrote between steps)
   before the rest is copied in one step. */
#define STORE_BACKUP_RESTARTS 3
/* Naps on a locked store before a backup gives up: 10 s in all. */
#define STORE_BACKUP_NAPS (10000 / STORE_BACKUP_NAP_MS)

/* The stepping of store_backup, once the copy's connection is open. */
static int
backup_steps(sqlite3 *src, sqlite3 *dst, store_progress_fn progress,
    void *arg, struct tocsin_err *err)
{
	sqlite3_backup *b;
	int pages = STORE_BACKUP_STEP, restarts = 0, naps = 0, last = -1, rc;

	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL)
		return tocsin_fail(err, TOCSIN_ESTORE, "store: backup: %s",
		    sqlite3_errmsg(dst));
	while ((rc = sqlite3_backup_step(b, pages)) != SQLITE_DONE) {
		int left = sqlite3_backup_remaining(b);

		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
			if (++naps > STORE_BACKUP_NAPS)
				break;
			(void)sqlite3_sleep(STORE_BACKUP_NAP_MS);
			continue;
		}
		if (rc != SQLITE_OK)
			break;
		/* the pages left only go down, unless the copy started over */
		if (last >= 0 && left >= last &&
		    ++restarts >= STORE_BACKUP_RESTARTS)
			pages = -1;
		last = left;
		if (progress != NULL)
			progress(arg, sqlite3_backup_pagecount(b) - left,
			    sqlite3_backup_pagecount(b));
	}
	if (rc == SQLITE_DONE && progress != NULL)
		progress(arg, sqlite3_backup_pagecount(b),
		    sqlite3_backup_pagecount(b));
	(void)sqlite3_backup_finish(b);
	if (rc == SQLITE_DONE && (rc = sqlite3_errcode(dst)) == SQLITE_OK)
		return 0;
	return tocsin_fail(err, TOCSIN_ESTORE, "store: backup: %s",
	    rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? "the store stayed "
	    "locked for 10 s" : sqlite3_errstr(rc));
}

int
sql_sqlite_backup(struct sql_db *d, const char *path, store_progress_fn progress,
    void *arg, struct tocsin_err *err)
{
	sqlite3 *dst = NULL;
	int rc;

	/* no CREATE: the caller made the file, with its mode */
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rc = tocsin_fail(err, TOCSIN_EIO, "cannot open the copy %s: %s",
		    path, dst != NULL ? sqlite3_errmsg(dst) : "out of memory");
		sqlite3_close(dst);
		return rc;
	}
	rc = backup_steps(SQ(d), dst, progress, arg, err);
	if (sqlite3_close(dst) != SQLITE_OK && rc == 0)
		rc = tocsin_fail(err, TOCSIN_EIO, "cannot close the copy %s",
		    path);
	return rc;
}

