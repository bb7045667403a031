/*
 * store_sql.h: the SQL engine under the store, private to store*.c.
 *
 * store.c writes the store's operations once, in SQL that SQLite and
 * PostgreSQL both take, so that every rule (a step fires once, a lease is
 * held by one worker, the audit chain is one line) holds by the same
 * argument on both.  An engine (store_sqlite.c, store_pg.c) is a table of
 * the few calls that SQL needs: statements with numbered parameters ("?",
 * "?N"), rows read as text or integers, and transactions.  A write
 * transaction is exclusive on both engines (SQLite's BEGIN IMMEDIATE, a
 * transaction-scoped advisory lock on PostgreSQL): store.c was written for
 * one writer at a time, and that is what it gets, whatever the number of
 * serve processes or hosts.
 */
#ifndef STORE_SQL_H
#define STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "tocsin.h"

enum sql_step { SQL_ERR = -1, SQL_ROW = 1, SQL_DONE = 2 };

/* What the last failure was, as far as the store's callers care. */
enum sql_fail {
	SQL_F_NONE,
	SQL_F_UNAVAILABLE,	/* no write now (disk full, read-only, lock
				   held, the server gone or a standby):
				   the same may pass later */
	SQL_F_UNIQUE,		/* a unique constraint refused the row */
	SQL_F_OTHER		/* the request itself */
};

enum sql_dialect { SQL_SQLITE, SQL_POSTGRES };

struct sql_db;
struct sql_stmt;

struct sql_ops {
	enum sql_dialect dialect;
	/* statements without parameters, several separated by ';' */
	int (*exec)(struct sql_db *, const char *sql);
	/* write: exclusive until commit or rollback; otherwise one
	   snapshot for the reads that follow */
	int (*begin)(struct sql_db *, bool write);
	int (*commit)(struct sql_db *);
	void (*rollback)(struct sql_db *);
	/* 0, or -1 with the reason in errmsg */
	int (*prepare)(struct sql_db *, const char *sql, struct sql_stmt **);
	/* as prepare, but the statement is kept on the connection (a few
	   dozen texts at most; the store's statements are fixed texts run
	   over and over): the next prepare_kept of the same text gets it
	   back without compiling it again, and finalize hands it back
	   (reset, bindings cleared) instead of freeing it.  A text in use
	   already, or one past the engine's room, gets a statement of its
	   own.  The engine makes a kept statement again when the
	   connection is made again or the schema changed. */
	int (*prepare_kept)(struct sql_db *, const char *sql,
	    struct sql_stmt **);
	void (*bind_int64)(struct sql_stmt *, int i, int64_t v);
	void (*bind_text)(struct sql_stmt *, int i, const char *v); /* copied */
	void (*bind_blob)(struct sql_stmt *, int i, const void *v, size_t n);
	void (*bind_null)(struct sql_stmt *, int i);
	enum sql_step (*step)(struct sql_stmt *);
	/* run again with the same bindings, or new ones */
	void (*reset)(struct sql_stmt *);
	/* freed, or handed back to the connection when kept */
	void (*finalize)(struct sql_stmt *);
	bool (*column_null)(struct sql_stmt *, int i);
	int64_t (*column_int64)(struct sql_stmt *, int i);
	/* valid until the next step, reset or finalize; NULL for NULL */
	const char *(*column_text)(struct sql_stmt *, int i);
	const void *(*column_blob)(struct sql_stmt *, int i, size_t *len);
	/* rows changed by the last INSERT, UPDATE or DELETE */
	int64_t (*changes)(struct sql_db *);
	const char *(*errmsg)(struct sql_db *);
	enum sql_fail (*fail_kind)(struct sql_db *);
	/* how long a statement waits for another writer's lock */
	void (*busy_wait)(struct sql_db *, int ms);
	/* around a prune: freed space zeroed where the engine can, then
	   (when pruned) the tables rewritten and the engine's log of the
	   old rows emptied; 0, or -1 when that could not be done now */
	int (*scrub_begin)(struct sql_db *);
	int (*scrub_end)(struct sql_db *, bool pruned);
	void (*close)(struct sql_db *);
};

/* Every engine's connection and statement start with these. */
struct sql_db {
	const struct sql_ops *ops;
};
struct sql_stmt {
	struct sql_db *db;
};

/* Open an engine's connection at target (a file for SQLite; a URI or
   conninfo for PostgreSQL), its schema made or brought up to date.  *ret
   is owned by the caller: ops->close. */
int sql_sqlite_open(const char *path, struct sql_db **ret,
    struct tocsin_err *err);
int sql_pg_open(const char *conninfo, struct sql_db **ret,
    struct tocsin_err *err);
/* store_backup of a SQLite store. */
int sql_sqlite_backup(struct sql_db *db, const char *path,
    store_progress_fn progress, void *arg, struct tocsin_err *err);
/* The schema of a new store, in SQLite's words (store.c); the PostgreSQL
   engine translates its types. */
extern const char store_schema[];
/* Version 14: the receipts and relay notices of requests stored before
   as active alerts become what they are, told (store_alert.told). */
extern const char store_told_fix[];
/* Version 15: the teams of the checks of contacts stored before as active
   become checking. */
extern const char store_checking_fix[];
/* The audit's actions that /metrics counts, as the partial index
   audit_ladder and the query that counts them both write them: the
   planners use the index only when the query's terms are the index's. */
#define STORE_AUDIT_LADDER "action IN ('escalate', 'unreached', 'page-desk')"
/* The schema version store_schema is. */
#define STORE_SCHEMA_VERSION 16

static inline enum sql_step sql_step(struct sql_stmt *st)
{ return st->db->ops->step(st); }
static inline void sql_reset(struct sql_stmt *st)
{ st->db->ops->reset(st); }
static inline void sql_finalize(struct sql_stmt *st)
{ if (st != NULL) st->db->ops->finalize(st); }
static inline void sql_bind_int64(struct sql_stmt *st, int i, int64_t v)
{ st->db->ops->bind_int64(st, i, v); }
static inline void sql_bind_text(struct sql_stmt *st, int i, const char *v)
{ st->db->ops->bind_text(st, i, v); }
static inline void sql_bind_blob(struct sql_stmt *st, int i, const void *v,
    size_t n)
{ st->db->ops->bind_blob(st, i, v, n); }
static inline void sql_bind_null(struct sql_stmt *st, int i)
{ st->db->ops->bind_null(st, i); }
static inline bool sql_column_null(struct sql_stmt *st, int i)
{ return st->db->ops->column_null(st, i); }
static inline int64_t sql_column_int64(struct sql_stmt *st, int i)
{ return st->db->ops->column_int64(st, i); }
static inline int sql_column_int(struct sql_stmt *st, int i)
{ return (int)st->db->ops->column_int64(st, i); }
static inline const char *sql_column_text(struct sql_stmt *st, int i)
{ return st->db->ops->column_text(st, i); }
static inline const void *sql_column_blob(struct sql_stmt *st, int i,
    size_t *len)
{ return st->db->ops->column_blob(st, i, len); }
static inline int64_t sql_changes(struct sql_db *db)
{ return db->ops->changes(db); }

#endif
