/*
 * store.c: the store's operations (store.h), written once in SQL that
 * SQLite and PostgreSQL both take.  The store is the queue.
 *
 * Every write that belongs together is one transaction, and a write
 * transaction is exclusive on either engine (store_sql.h), so that each
 * rule below (a step fires once, a lease has one holder, an ack stops a
 * ladder once) holds by the same argument whatever the number of serve
 * processes or hosts on one store.  The few statements whose SQL differs
 * between the engines pick theirs with sq_pg().  The audit log is
 * append-only and hash-chained: each record's hash covers its fields and
 * the previous record's hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base.h"
#include "policy.h"
#include "store.h"
#include "store_sql.h"

struct store {
	struct sql_db *db;
	int max_attempts;		/* store_set_max_attempts */
	bool unavailable;		/* store_unavailable */
};

/* A delivery whose lease is lost this many times max_attempts without an
   attempt (its worker died or overran before handing it over) ends dead:
   a crash loop must not keep a delivery waiting for ever, nor spend the
   attempts the peer never saw. */
#define STORE_RECLAIM_FACTOR 3

/*
 * The team states whose messages still go, and which a Cancel or an
 * Update stops: active, unreached (its messages already queued are still
 * worth sending: the ladder only stops adding steps) and checking (a check
 * of contacts).  An acked, cancelled or updated team's are moot and end
 * cancelled with the reason.
 */
#define TEAM_LIVE "('active', 'unreached', 'checking')"
/*
 * Whether delivery row d (its table or alias) still goes: a notice (that
 * the team acknowledged), or a message that asks nothing (told), always;
 * any other while its team is in a TEAM_LIVE state.
 */
#define LIVE_OF(d) "(" d ".kind IN ('notice', 'told') OR EXISTS (SELECT 1 " \
    "FROM team_states t WHERE t.alert_id = " d ".alert_id AND t.team = " \
    d ".team AND t.state IN " TEAM_LIVE "))"
/* the row being updated */
#define ROW_LIVE LIVE_OF("deliveries")
#define ROW_MOOT_WHY "('cancelled: the team''s ladder stopped (' || " \
    "coalesce((SELECT t.state FROM team_states t WHERE t.alert_id = " \
    "deliveries.alert_id AND t.team = deliveries.team), 'no team') || " \
    "') while it waited')"
/* A delivery cancelled while it was failing keeps its last failure after
   "; last: ", so that reports count it (report.c reads it there). */
#define ROW_KEEP_LAST "(CASE WHEN deliveries.state = 'failed' AND " \
    "deliveries.last_error IS NOT NULL THEN '; last: ' || " \
    "deliveries.last_error ELSE '' END)"

static const char *const dstate_names[STORE_D_COUNT] = {
	"pending", "sending", "sent", "failed", "dead", "cancelled",
	"delivered", "undelivered"
};

const char *
store_dstate_name(enum store_dstate st)
{
	return (unsigned)st < STORE_D_COUNT ? dstate_names[st] : "unknown";
}

static enum store_dstate
store_dstate_parse(const char *s)
{
	for (int i = 0; i < STORE_D_COUNT; i++)
		if (s != NULL && strcmp(s, dstate_names[i]) == 0)
			return (enum store_dstate)i;
	return STORE_D_PENDING;
}

#define TOLD_ALERTS "(SELECT a.id FROM alerts a WHERE a.msg_type = 'Ack' " \
    "AND (a.identifier LIKE 'receipt-%' OR a.identifier LIKE 'relayed-%') " \
    "AND NOT EXISTS (SELECT 1 FROM signatures s WHERE s.alert_id = a.id))"
/* The fixes of an older store's rows, each ending with ';' so that they
   join.  The receipts and relay notices a store kept: told. */
const char store_told_fix[] =
    "UPDATE deliveries SET kind = 'told' WHERE kind = 'alert' AND alert_id "
    "IN " TOLD_ALERTS "; UPDATE team_states SET state = 'told', token_hash "
    "= NULL, deadline = 0 WHERE state = 'active' AND alert_id IN "
    TOLD_ALERTS ";";
/* the checks of contacts a store kept: the alerts with check deliveries */
const char store_checking_fix[] =
    "UPDATE team_states SET state = 'checking', deadline = 0 WHERE state "
    "= 'active' AND alert_id IN (SELECT DISTINCT alert_id FROM deliveries "
    "WHERE kind = 'check');";

const char store_schema[] =
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id TEXT PRIMARY KEY, identifier TEXT NOT NULL, sender TEXT NOT NULL,"
    " sent TEXT NOT NULL, sent_t INTEGER NOT NULL, status TEXT NOT NULL,"
    " msg_type TEXT NOT NULL, scope TEXT NOT NULL, severity INTEGER NOT NULL,"
    " headline TEXT, refs TEXT, cap BLOB NOT NULL, received INTEGER NOT NULL,"
    " UNIQUE (identifier, sender));"
    "CREATE TABLE IF NOT EXISTS signatures ("
    " alert_id TEXT NOT NULL REFERENCES alerts(id), issuer TEXT NOT NULL,"
    " kind TEXT NOT NULL, signer TEXT NOT NULL, sig BLOB);"
    "CREATE TABLE IF NOT EXISTS team_states ("
    " alert_id TEXT NOT NULL REFERENCES alerts(id), team TEXT NOT NULL,"
    " step INTEGER NOT NULL, deadline INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL DEFAULT 'active', ack_by TEXT, ack_via TEXT,"
    " ack_strength TEXT, ack_at INTEGER, token_hash TEXT, ack_contact TEXT,"
    /* version 11: what a step whose every delivery died does ('next' or
       'wait'); why the deadline was brought forward ('failed'), and why
       the team is at its step (NULL: its time ran out) */
    " on_failure TEXT NOT NULL DEFAULT 'next', early_why TEXT,"
    " moved_why TEXT,"
    " PRIMARY KEY (alert_id, team));"
    "CREATE TABLE IF NOT EXISTS deliveries ("
    " id INTEGER PRIMARY KEY, alert_id TEXT NOT NULL REFERENCES alerts(id),"
    " team TEXT NOT NULL, step INTEGER NOT NULL, channel TEXT NOT NULL,"
    " contact TEXT NOT NULL, address TEXT NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER,"
    " provider_ref TEXT, last_error TEXT, created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, segments INTEGER NOT NULL DEFAULT 0,"
    " kind TEXT NOT NULL DEFAULT 'alert', tried INTEGER NOT NULL DEFAULT 0,"
    " reclaims INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_attempt);"
    /* version 12: what waits, per channel, in the order claims take it,
       so that a claim or a look for the next due time reads what it
       needs, not every row waiting on every channel (a burst) */
    "CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (channel, "
    "next_attempt) WHERE state IN ('pending', 'failed');"
    "CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id, team);"
    "CREATE INDEX IF NOT EXISTS deliveries_ref ON deliveries (provider_ref);"
    "CREATE INDEX IF NOT EXISTS team_states_token ON team_states (token_hash);"
    /* the scheduler looks for due teams five times a second */
    "CREATE INDEX IF NOT EXISTS team_states_due ON team_states (state, deadline);"
    "CREATE TABLE IF NOT EXISTS acks ("
    " id INTEGER PRIMARY KEY, alert_id TEXT NOT NULL REFERENCES alerts(id),"
    " team TEXT NOT NULL, by_whom TEXT NOT NULL, via TEXT NOT NULL,"
    " strength TEXT NOT NULL, at INTEGER NOT NULL, note TEXT);"
    "CREATE TABLE IF NOT EXISTS audit ("
    " seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL,"
    " action TEXT NOT NULL, object TEXT NOT NULL, details TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    /* the audit is never pruned: /metrics counts its ladder actions
       through this index rather than reading every row (version 16) */
    "CREATE INDEX IF NOT EXISTS audit_ladder ON audit (action) WHERE "
    STORE_AUDIT_LADDER ";"
    /* the wall clock less the monotonic one, as serve last saw it on
       this boot: a change is a step of the wall clock (store_clock_check) */
    "CREATE TABLE IF NOT EXISTS clock_base ("
    " id INTEGER PRIMARY KEY, boot TEXT NOT NULL,"
    " wall_minus_mono INTEGER NOT NULL);"	/* milliseconds */
    "CREATE TABLE IF NOT EXISTS contact_checks ("
    " team TEXT NOT NULL, contact TEXT NOT NULL, verified INTEGER NOT NULL,"
    " via TEXT NOT NULL, alert_id TEXT NOT NULL,"
    " PRIMARY KEY (team, contact));"
    /* the signatures that made signed acks: each acks once */
    "CREATE TABLE IF NOT EXISTS ack_signatures ("
    " digest TEXT PRIMARY KEY, alert_id TEXT NOT NULL, team TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    /* tries at ack codes of paths run once per message (ingest-mail) */
    "CREATE TABLE IF NOT EXISTS ack_guesses ("
    " guess_key TEXT PRIMARY KEY, start INTEGER NOT NULL,"
    " tries INTEGER NOT NULL);"
    /* a check of contacts: one link per endpoint of each contact, known
       by its SHA-256 only, and when each endpoint was last confirmed */
    "CREATE TABLE IF NOT EXISTS check_tokens ("
    " token_hash TEXT PRIMARY KEY, alert_id TEXT NOT NULL REFERENCES"
    " alerts(id), team TEXT NOT NULL, contact TEXT NOT NULL,"
    " channel TEXT NOT NULL, address TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS endpoint_checks ("
    " team TEXT NOT NULL, contact TEXT NOT NULL, channel TEXT NOT NULL,"
    " address TEXT NOT NULL, verified INTEGER NOT NULL, via TEXT NOT NULL,"
    " alert_id TEXT NOT NULL, PRIMARY KEY (team, contact, channel, address));"
    /* version 10: a job one node of several does at a time (store_turn) */
    "CREATE TABLE IF NOT EXISTS turns ("
    " job TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);"
    /* version 12: requests for help from teams (request.h); a signature
       makes one request */
    "CREATE TABLE IF NOT EXISTS requests ("
    " id TEXT PRIMARY KEY, team TEXT NOT NULL, contact TEXT NOT NULL,"
    " via TEXT NOT NULL, strength TEXT NOT NULL, body TEXT NOT NULL,"
    " name_us INTEGER NOT NULL DEFAULT 0, at INTEGER NOT NULL,"
    " sig_digest TEXT UNIQUE, state TEXT NOT NULL DEFAULT 'open',"
    " page_alert TEXT, receipt_alert TEXT, relay TEXT, relayed_at INTEGER);";

/* How long a statement waits for another writer's lock, unless told. */
#define SQ_BUSY_MS 10000

/* Whether the engine's last failure says the store takes no write now
   (a full disk, a read-only file system, another writer's lock, the
   database server gone or in recovery), not that the request itself is
   wrong: a later try of the same may pass. */
static void
sq_note_unavailable(struct store *s)
{
	if (s != NULL && s->db != NULL)
		s->unavailable = s->db->ops->fail_kind(s->db) ==
		    SQL_F_UNAVAILABLE;
}

static int
sq_fail(struct store *s, struct tocsin_err *err, const char *what)
{
	sq_note_unavailable(s);
	return tocsin_fail(err, TOCSIN_ESTORE, "store: %s: %s", what,
	    s != NULL && s->db != NULL ? s->db->ops->errmsg(s->db) :
	    "no database");
}

static int
sq_exec(struct store *s, const char *sql, struct tocsin_err *err)
{
	if (s->db->ops->exec(s->db, sql) != 0) {
		sq_note_unavailable(s);
		return tocsin_fail(err, TOCSIN_ESTORE, "store: %s",
		    s->db->ops->errmsg(s->db));
	}
	return 0;
}

/* Begin the caller's transaction: a write one is exclusive (one writer
   at a time, on either engine), a read one is one snapshot. */
static int
sq_begin(struct store *s, bool write, struct tocsin_err *err)
{
	if (s->db->ops->begin(s->db, write) != 0) {
		sq_note_unavailable(s);
		return tocsin_fail(err, TOCSIN_ESTORE, "store: %s",
		    s->db->ops->errmsg(s->db));
	}
	return 0;
}

static void
sq_rollback(struct store *s)
{
	s->db->ops->rollback(s->db);
}

/* End the caller's transaction.  A COMMIT that fails (the disk full, the
   file gone read-only, a reader holding the WAL, the server gone) can
   leave the transaction open, and every later BEGIN on this connection
   would then fail: it is rolled back, so that what failed is undone whole
   and the connection stays usable. */
static int
sq_commit(struct store *s, struct tocsin_err *err)
{
	int rc;

	if (s->db->ops->commit(s->db) == 0)
		return 0;
	sq_note_unavailable(s);
	rc = tocsin_fail(err, TOCSIN_ESTORE, "store: %s",
	    s->db->ops->errmsg(s->db));
	sq_rollback(s);
	return rc;
}

/* Every statement of the store is one of a few dozen fixed texts, run
   over and over (a claim, a result, a move per team): each is compiled
   once per connection and kept (store_sql.h, prepare_kept), so that a
   drill or a burst spends its time running them, not compiling them. */
static int
sq_prepare(struct store *s, const char *sql, struct sql_stmt **st,
    struct tocsin_err *err)
{
	*st = NULL;
	if (s->db->ops->prepare_kept(s->db, sql, st) != 0)
		return sq_fail(s, err, "prepare");
	return 0;
}

static void
sq_text(struct sql_stmt *st, int i, const char *v)
{
	sql_bind_text(st, i, v);
}

static char *
sq_dup(struct sql_stmt *st, int i)
{
	const char *t = sql_column_text(st, i);

	return t != NULL ? strdup(t) : NULL;
}

/* Whether the engine is PostgreSQL: the few statements whose SQL differs
   pick theirs with it. */
static bool
sq_pg(const struct store *s)
{
	return s->db->ops->dialect == SQL_POSTGRES;
}

int
store_open(const char *target, struct store **ret, struct tocsin_err *err)
{
	struct sql_db *db = NULL;
	struct store *s;
	int rc;

	*ret = NULL;
	rc = policy_store_is_pg(target) ? sql_pg_open(target, &db, err) :
	    sql_sqlite_open(target, &db, err);
	if (rc != 0)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		db->ops->close(db);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	s->db = db;
	s->max_attempts = 10;
	db->ops->busy_wait(db, SQ_BUSY_MS);
	*ret = s;
	return 0;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	s->db->ops->close(s->db);
	free(s);
}
/* --- audit chain ---------------------------------------------------------- */

static void
audit_field(EVP_MD_CTX *md, const char *v)
{
	char len[24];
	size_t n = v ? strlen(v) : 0;

	/* length-prefixed, so no two field lists hash alike */
	(void)snprintf(len, sizeof(len), "%zu:", n);
	(void)EVP_DigestUpdate(md, len, strlen(len));
	if (n > 0)
		(void)EVP_DigestUpdate(md, v, n);
}

static int
audit_hash(int64_t seq, int64_t ts, const char *actor, const char *action,
    const char *object, const char *details, const char *prev, char out[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char num[48];

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return TOCSIN_ENOMEM;
	}
	(void)snprintf(num, sizeof(num), "%lld", (long long)seq);
	audit_field(md, num);
	(void)snprintf(num, sizeof(num), "%lld", (long long)ts);
	audit_field(md, num);
	audit_field(md, actor);
	audit_field(md, action);
	audit_field(md, object);
	audit_field(md, details);
	audit_field(md, prev);
	(void)EVP_DigestFinal_ex(md, h, &n);
	EVP_MD_CTX_free(md);
	base_hex(out, h, n < 32 ? n : 32);
	return 0;
}

/* Append one record inside the caller's transaction. */
static int
audit_append(struct store *s, int64_t ts, const char *actor,
    const char *action, const char *object, const char *details,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	char prev[65], hash[65];
	int64_t seq = 1;

	(void)snprintf(prev, sizeof(prev), "%064d", 0);
	if (sq_prepare(s, "SELECT seq, hash FROM audit ORDER BY seq DESC "
	    "LIMIT 1", &st, err) != 0)
		return TOCSIN_ESTORE;
	if (sql_step(st) == SQL_ROW) {
		seq = sql_column_int64(st, 0) + 1;
		(void)snprintf(prev, sizeof(prev), "%s",
		    sql_column_text(st, 1));
	}
	sql_finalize(st);
	if (audit_hash(seq, ts, actor, action, object, details, prev, hash) != 0)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if (sq_prepare(s, "INSERT INTO audit (seq, ts, actor, action, object, "
	    "details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)", &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, seq);
	sql_bind_int64(st, 2, ts);
	sq_text(st, 3, actor);
	sq_text(st, 4, action);
	sq_text(st, 5, object);
	sq_text(st, 6, details ? details : "");
	sq_text(st, 7, prev);
	sq_text(st, 8, hash);
	if (sql_step(st) != SQL_DONE) {
		sql_finalize(st);
		return sq_fail(s, err, "audit append");
	}
	sql_finalize(st);
	return 0;
}

int
store_audit(struct store *s, int64_t now, const char *actor,
    const char *action, const char *object, const char *details,
    struct tocsin_err *err)
{
	int rc;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if ((rc = audit_append(s, now, actor, action, object, details,
	    err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	return sq_commit(s, err);
}

int
store_audit_verify(struct store *s, int64_t *ret_bad_seq, int64_t *ret_count,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	char prev[65], hash[65];
	int64_t expect = 1, count = 0;
	int rc = 0, r;

	*ret_bad_seq = 0;
	*ret_count = 0;
	(void)snprintf(prev, sizeof(prev), "%064d", 0);
	if (sq_prepare(s, "SELECT seq, ts, actor, action, object, details, "
	    "prev_hash, hash FROM audit ORDER BY seq", &st, err) != 0)
		return TOCSIN_ESTORE;
	while ((r = sql_step(st)) == SQL_ROW) {
		int64_t seq = sql_column_int64(st, 0);
		int64_t ts = sql_column_int64(st, 1);
		const char *sp = sql_column_text(st, 6);
		const char *sh = sql_column_text(st, 7);
		const char *what = NULL;

		(void)audit_hash(seq, ts, sql_column_text(st, 2),
		    sql_column_text(st, 3),
		    sql_column_text(st, 4),
		    sql_column_text(st, 5), prev, hash);
		if (seq != expect)
			what = "follows a gap in the sequence (a record was "
			    "removed before it)";
		else if (sp == NULL || strcmp(sp, prev) != 0)
			what = "does not link to the record before it";
		else if (sh == NULL || strcmp(sh, hash) != 0)
			what = "does not match its hash";
		if (what != NULL) {
			*ret_bad_seq = seq;
			rc = tocsin_fail(err, TOCSIN_EDATA, "audit record %lld "
			    "(%s %s) %s: the log was altered at or before this "
			    "record", (long long)seq,
			    sql_column_text(st, 3),
			    sql_column_text(st, 4), what);
			break;
		}
		(void)snprintf(prev, sizeof(prev), "%s", sh);
		expect = seq + 1;
		count++;
	}
	if (rc == 0 && r != SQL_DONE)
		rc = sq_fail(s, err, "audit read");
	sql_finalize(st);
	*ret_count = count;
	return rc;
}

/* --- submit --------------------------------------------------------------- */

int
store_seen(struct store *s, const char *identifier, const char *sender,
    char *ret_id, size_t idlen, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int found = 0;

	if (sq_prepare(s, "SELECT id FROM alerts WHERE identifier = ? AND "
	    "sender = ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, identifier);
	sq_text(st, 2, sender);
	if (sql_step(st) == SQL_ROW) {
		found = 1;
		if (ret_id != NULL && idlen > 0)
			(void)snprintf(ret_id, idlen, "%s",
			    sql_column_text(st, 0));
	}
	sql_finalize(st);
	return found;
}

/* Planned deliveries of one alert, inside the caller's transaction. */
static int
insert_deliveries(struct store *s, const char *alert_id,
    const struct store_delivery_plan *dels, size_t ndels, int64_t now,
    const char *kind, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc = 0;

	if (ndels == 0)
		return 0;
	if (sq_prepare(s, "INSERT INTO deliveries (alert_id, team, step, "
	    "channel, contact, address, next_attempt, created, updated, kind) "
	    "VALUES (?,?,?,?,?,?,?,?,?,?)", &st, err) != 0)
		return TOCSIN_ESTORE;
	for (size_t i = 0; i < ndels && rc == 0; i++) {
		sql_reset(st);
		sq_text(st, 1, alert_id);
		sq_text(st, 2, dels[i].team);
		sql_bind_int64(st, 3, dels[i].step);
		sq_text(st, 4, dels[i].channel);
		sq_text(st, 5, dels[i].contact ? dels[i].contact : "");
		sq_text(st, 6, dels[i].address);
		sql_bind_int64(st, 7, dels[i].not_before);
		sql_bind_int64(st, 8, now);
		sql_bind_int64(st, 9, now);
		sq_text(st, 10, kind);
		if (sql_step(st) != SQL_DONE)
			rc = sq_fail(s, err, "insert delivery");
	}
	sql_finalize(st);
	return rc;
}

/* The hashed links of a check's endpoints, inside the caller's
   transaction. */
static int
insert_check_tokens(struct store *s, const struct store_alert *a,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc = 0;

	if (a->ncheck_eps == 0)
		return 0;
	if (sq_prepare(s, "INSERT INTO check_tokens (token_hash, alert_id, "
	    "team, contact, channel, address) VALUES (?,?,?,?,?,?)", &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	for (size_t i = 0; i < a->ncheck_eps && rc == 0; i++) {
		const struct store_check_ep *e = &a->check_eps[i];

		sql_reset(st);
		sq_text(st, 1, e->token_hash);
		sq_text(st, 2, a->id);
		sq_text(st, 3, e->team);
		sq_text(st, 4, e->contact);
		sq_text(st, 5, e->channel);
		sq_text(st, 6, e->address);
		if (sql_step(st) != SQL_DONE)
			rc = sq_fail(s, err, "insert a check's link");
	}
	sql_finalize(st);
	return rc;
}

/* What a Cancel or an Update does to the alert it references. */
static int
stop_ladders(struct store *s, const struct store_alert *a,
    struct tocsin_err *err)
{
	struct sql_stmt *ts = NULL, *ds = NULL;
	int rc = 0;

	if (a->stops_alert == NULL || a->nstop_teams == 0)
		return 0;
	if (sq_prepare(s, "UPDATE team_states SET state = ?, deadline = 0 "
	    "WHERE alert_id = ? AND team = ? AND state IN " TEAM_LIVE, &ts,
	    err) != 0 ||
	    sq_prepare(s, "UPDATE deliveries SET state = 'cancelled', updated = "
	    "?1, last_error = 'cancelled: the alert was ' || ?4 || ' by a "
	    "later one' || " ROW_KEEP_LAST " WHERE alert_id = ?2 AND team = ?3 "
	    "AND state IN ('pending', 'failed')", &ds, err) != 0) {
		sql_finalize(ts);
		return TOCSIN_ESTORE;
	}
	for (size_t i = 0; i < a->nstop_teams && rc == 0; i++) {
		sql_reset(ts);
		sql_reset(ds);
		sq_text(ts, 1, a->stop_state);
		sq_text(ts, 2, a->stops_alert);
		sq_text(ts, 3, a->stop_teams[i]);
		sql_bind_int64(ds, 1, a->received);
		sq_text(ds, 2, a->stops_alert);
		sq_text(ds, 3, a->stop_teams[i]);
		sq_text(ds, 4, a->stop_state);
		if (sql_step(ts) != SQL_DONE ||
		    sql_step(ds) != SQL_DONE)
			rc = sq_fail(s, err, "stop the ladders of an earlier "
			    "alert");
	}
	sql_finalize(ts);
	sql_finalize(ds);
	return rc;
}

static int
submit_rows(struct store *s, const struct store_alert *a,
    const struct store_signature *sigs, size_t nsigs,
    const struct store_team_plan *teams, size_t nteams,
    const struct store_delivery_plan *dels, size_t ndels,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc = TOCSIN_ESTORE;

	if (sq_prepare(s, "INSERT INTO alerts (id, identifier, sender, sent, "
	    "sent_t, status, msg_type, scope, severity, headline, refs, cap, "
	    "received) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->id);
	sq_text(st, 2, a->identifier);
	sq_text(st, 3, a->sender);
	sq_text(st, 4, a->sent);
	sql_bind_int64(st, 5, a->sent_t);
	sq_text(st, 6, a->status);
	sq_text(st, 7, a->msg_type);
	sq_text(st, 8, a->scope);
	sql_bind_int64(st, 9, a->severity);
	sq_text(st, 10, a->headline);
	sq_text(st, 11, a->references);
	sql_bind_blob(st, 12, a->cap, a->cap_len);
	sql_bind_int64(st, 13, a->received);
	if (sql_step(st) != SQL_DONE) {
		rc = s->db->ops->fail_kind(s->db) == SQL_F_UNIQUE ?
		    tocsin_fail(err, TOCSIN_EPERM,
		    "alert identifier %s from sender %s was already accepted; a "
		    "replay is refused", a->identifier, a->sender) :
		    sq_fail(s, err, "insert alert");
		goto out;
	}
	sql_finalize(st);
	st = NULL;

	if (sq_prepare(s, "INSERT INTO signatures (alert_id, issuer, kind, "
	    "signer, sig) VALUES (?,?,?,?,?)", &st, err) != 0)
		goto out;
	for (size_t i = 0; i < nsigs; i++) {
		sql_reset(st);
		sq_text(st, 1, a->id);
		sq_text(st, 2, sigs[i].issuer);
		sq_text(st, 3, sigs[i].kind);
		sq_text(st, 4, sigs[i].signer);
		if (sigs[i].sig != NULL)
			sql_bind_blob(st, 5, sigs[i].sig,
			    sigs[i].sig_len);
		else
			sql_bind_null(st, 5);
		if (sql_step(st) != SQL_DONE) {
			rc = sq_fail(s, err, "insert signature");
			goto out;
		}
	}
	sql_finalize(st);
	st = NULL;

	if (sq_prepare(s, "INSERT INTO team_states (alert_id, team, step, "
	    "deadline, token_hash, on_failure, state) VALUES (?,?,?,?,?,?,?)",
	    &st, err) != 0)
		goto out;
	for (size_t i = 0; i < nteams; i++) {
		sql_reset(st);
		sq_text(st, 1, a->id);
		sq_text(st, 2, teams[i].team);
		sql_bind_int64(st, 3, teams[i].step);
		sql_bind_int64(st, 4, teams[i].deadline);
		if (teams[i].token_hash != NULL)
			sq_text(st, 5, teams[i].token_hash);
		else
			sql_bind_null(st, 5);
		sq_text(st, 6, teams[i].wait_on_failure ? "wait" : "next");
		/* a check of contacts asks each contact to confirm, and no
		   ladder waits on it: its teams are checking, never active */
		sq_text(st, 7, a->told ? "told" : a->ncheck_eps > 0 ?
		    "checking" : "active");
		if (sql_step(st) != SQL_DONE) {
			rc = sq_fail(s, err, "insert team state");
			goto out;
		}
	}
	sql_finalize(st);
	st = NULL;

	if ((rc = insert_deliveries(s, a->id, dels, ndels, a->received,
	    a->ncheck_eps > 0 ? "check" : a->told ? "told" : "alert", err))
	    != 0 ||
	    (rc = insert_check_tokens(s, a, err)) != 0)
		goto out;
	rc = stop_ladders(s, a, err);
out:
	sql_finalize(st);
	return rc;
}

/* store_submit's transaction. */
static int
submit_tx(struct store *s, const struct store_alert *a,
    const struct store_signature *sigs, size_t nsigs,
    const struct store_team_plan *teams, size_t nteams,
    const struct store_delivery_plan *dels, size_t ndels,
    const char *actor, struct tocsin_err *err)
{
	char details[512];
	int rc;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	(void)snprintf(details, sizeof(details), "identifier=%.200s "
	    "sender=%.200s teams=%zu deliveries=%zu%s%.32s%s", a->identifier,
	    a->sender, nteams, ndels, a->stops_alert != NULL ? " " : "",
	    a->stops_alert != NULL ? a->stop_state : "",
	    a->stops_alert != NULL ? "=" : "");
	if (a->stops_alert != NULL) {
		size_t l = strlen(details);

		(void)snprintf(details + l, sizeof(details) - l, "%.40s",
		    a->stops_alert);
	}
	if ((rc = submit_rows(s, a, sigs, nsigs, teams, nteams, dels, ndels,
	    err)) != 0 || (rc = audit_append(s, a->received, actor, "submit",
	    a->id, details, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	return sq_commit(s, err);
}

/*
 * A PostgreSQL server that goes away in the middle (its primary failed
 * over) leaves it unknown whether the COMMIT went through: the submit is
 * tried once more on a new connection, and an alert found stored under
 * this very id was this submit's, committed before the loss.
 */
int
store_submit(struct store *s, const struct store_alert *a,
    const struct store_signature *sigs, size_t nsigs,
    const struct store_team_plan *teams, size_t nteams,
    const struct store_delivery_plan *dels, size_t ndels,
    const char *actor, struct tocsin_err *err)
{
	char id[64];
	int rc = submit_tx(s, a, sigs, nsigs, teams, nteams, dels, ndels,
	    actor, err);

	if (rc == 0 || !s->unavailable || !sq_pg(s))
		return rc;
	if (store_seen(s, a->identifier, a->sender, id, sizeof(id), NULL) == 1)
		return strcmp(id, a->id) == 0 ? 0 : tocsin_fail(err,
		    TOCSIN_EPERM, "alert identifier %s from sender %s was "
		    "already accepted; a replay is refused", a->identifier,
		    a->sender);
	return submit_tx(s, a, sigs, nsigs, teams, nteams, dels, ndels, actor,
	    err);
}

/* --- reading -------------------------------------------------------------- */

#define ALERT_COLS "a.id, a.identifier, a.sender, a.sent, a.status, " \
    "a.msg_type, a.scope, a.headline, a.severity, a.received, " \
    "(SELECT count(*) FROM team_states t WHERE t.alert_id = a.id), " \
    ALERT_TEAMS("t.state = 'acked'") ", " \
    ALERT_TEAMS("t.state = 'active' AND t.step >= 0") ", " \
    ALERT_TEAMS("t.state = 'active' AND t.step < 0") ", " \
    ALERT_TEAMS("t.state = 'unreached'") ", " \
    ALERT_TEAMS("t.state = 'told'") ", " \
    ALERT_TEAMS("t.state = 'checking'")
#define ALERT_TEAMS(cond) "(SELECT count(*) FROM team_states t WHERE " \
    "t.alert_id = a.id AND " cond ")"

static void
alert_row(struct sql_stmt *st, struct store_alert_row *r)
{
	r->id = sq_dup(st, 0);
	r->identifier = sq_dup(st, 1);
	r->sender = sq_dup(st, 2);
	r->sent = sq_dup(st, 3);
	r->status = sq_dup(st, 4);
	r->msg_type = sq_dup(st, 5);
	r->scope = sq_dup(st, 6);
	r->headline = sq_dup(st, 7);
	r->severity = sql_column_int(st, 8);
	r->received = sql_column_int64(st, 9);
	r->nteams = sql_column_int(st, 10);
	r->nacked = sql_column_int(st, 11);
	r->nactive = sql_column_int(st, 12);
	r->nheld = sql_column_int(st, 13);
	r->nunreached = sql_column_int(st, 14);
	r->ntold = sql_column_int(st, 15);
	r->nchecking = sql_column_int(st, 16);
}

/* Run a prepared query, growing *rows by one element of size sz per row
   and filling it with fill(). */
static int
sq_collect(struct store *s, struct sql_stmt *st, void **rows, size_t *n,
    size_t sz, void (*fill)(struct sql_stmt *, void *), struct tocsin_err *err)
{
	size_t cap = 0;
	char *v = NULL;
	int r;

	*rows = NULL;
	*n = 0;
	while ((r = sql_step(st)) == SQL_ROW) {
		if (base_grow(&v, &cap, *n + 1, sz) != 0) {
			*rows = v;
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		}
		memset(v + *n * sz, 0, sz);
		fill(st, v + *n * sz);
		(*n)++;
	}
	*rows = v;
	if (r != SQL_DONE)
		return sq_fail(s, err, "read");
	return 0;
}

static void
fill_alert(struct sql_stmt *st, void *p)
{
	alert_row(st, p);
}

int
store_alerts(struct store *s, struct store_alert_row **ret, size_t *n,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "SELECT " ALERT_COLS " FROM alerts a ORDER BY "
	    "a.received DESC, a.id", &st, err) != 0)
		return TOCSIN_ESTORE;
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_alert, err);
	sql_finalize(st);
	return rc;
}

int
store_alert_get(struct store *s, const char *id, struct store_alert_row **ret,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	size_t n = 0;
	int rc;

	*ret = NULL;
	if (sq_prepare(s, "SELECT " ALERT_COLS " FROM alerts a WHERE a.id = ?",
	    &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, id);
	rc = sq_collect(s, st, (void **)ret, &n, sizeof(**ret), fill_alert, err);
	sql_finalize(st);
	if (rc == 0 && n == 0) {
		free(*ret);
		*ret = NULL;
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "no alert %.64s in "
		    "the store; 'tocsin status' lists the alerts", id);
	}
	return rc;
}

void
store_alert_rows_free(struct store_alert_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].id); free(rows[i].identifier); free(rows[i].sender);
		free(rows[i].sent); free(rows[i].status); free(rows[i].msg_type);
		free(rows[i].scope); free(rows[i].headline);
	}
	free(rows);
}

bool
store_alert_asks(const struct store_alert_row *a)
{
	return a->msg_type != NULL && strcmp(a->msg_type, "Cancel") != 0 &&
	    strcmp(a->msg_type, "Ack") != 0 && strcmp(a->msg_type, "Error")
	    != 0;
}

static void
fill_team(struct sql_stmt *st, void *p)
{
	struct store_team_row *r = p;

	r->team = sq_dup(st, 0);
	r->step = sql_column_int(st, 1);
	r->deadline = sql_column_int64(st, 2);
	r->state = sq_dup(st, 3);
	r->ack_by = sq_dup(st, 4);
	r->ack_via = sq_dup(st, 5);
	r->ack_strength = sq_dup(st, 6);
	r->ack_at = sql_column_int64(st, 7);
	r->ack_contact = sq_dup(st, 8);
	r->why = sq_dup(st, 9);
}

int
store_teams(struct store *s, const char *alert_id, struct store_team_row **ret,
    size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "SELECT team, step, deadline, state, ack_by, ack_via, "
	    "ack_strength, ack_at, ack_contact, moved_why FROM team_states WHERE "
	    "alert_id = ? "
	    "ORDER BY "
	    "team", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, alert_id);
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_team, err);
	sql_finalize(st);
	if (rc != 0)
		return rc;
	if (sq_prepare(s, "SELECT team, state, count(*) FROM deliveries WHERE "
	    "alert_id = ? GROUP BY team, state", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, alert_id);
	while (sql_step(st) == SQL_ROW) {
		const char *team = sql_column_text(st, 0);
		enum store_dstate ds = store_dstate_parse(
		    sql_column_text(st, 1));

		for (size_t i = 0; i < *n; i++)
			if (strcmp((*ret)[i].team, team) == 0)
				(*ret)[i].counts[ds] = sql_column_int(st, 2);
	}
	sql_finalize(st);
	return 0;
}

static void
fill_audit(struct sql_stmt *st, void *p)
{
	struct store_audit_row *r = p;

	r->seq = sql_column_int64(st, 0);
	r->ts = sql_column_int64(st, 1);
	r->actor = sq_dup(st, 2);
	r->action = sq_dup(st, 3);
	r->details = sq_dup(st, 4);
}

int
store_audit_rows(struct store *s, const char *object,
    struct store_audit_row **ret, size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	*ret = NULL;
	*n = 0;
	if (sq_prepare(s, "SELECT seq, ts, actor, action, details FROM audit "
	    "WHERE object = ? ORDER BY seq", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, object);
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_audit, err);
	sql_finalize(st);
	return rc;
}

static void
fill_audit_all(struct sql_stmt *st, void *p)
{
	struct store_audit_row *r = p;

	fill_audit(st, p);
	r->object = sq_dup(st, 5);
	r->hash = sq_dup(st, 6);
}

int
store_audit_since(struct store *s, int64_t since,
    struct store_audit_row **ret, size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	*ret = NULL;
	*n = 0;
	if (sq_prepare(s, "SELECT seq, ts, actor, action, details, object, "
	    "hash FROM audit WHERE ts >= ? ORDER BY seq", &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, since);
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_audit_all,
	    err);
	sql_finalize(st);
	return rc;
}

void
store_audit_rows_free(struct store_audit_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].actor);
		free(rows[i].action);
		free(rows[i].details);
		free(rows[i].object);
		free(rows[i].hash);
	}
	free(rows);
}

/* One row of seq and hash (seq < 0: the last record) into the outputs. */
static int
audit_one(struct store *s, int64_t seq, int64_t *ret_seq, char ret_hash[65],
    int64_t *ret_ts, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int r;

	ret_hash[0] = '\0';
	if (sq_prepare(s, seq < 0 ? "SELECT seq, hash, ts FROM audit ORDER BY "
	    "seq DESC LIMIT 1" : "SELECT seq, hash, ts FROM audit WHERE seq = ?",
	    &st, err) != 0)
		return TOCSIN_ESTORE;
	if (seq >= 0)
		sql_bind_int64(st, 1, seq);
	if ((r = sql_step(st)) == SQL_ROW) {
		const char *h = sql_column_text(st, 1);

		*ret_seq = sql_column_int64(st, 0);
		*ret_ts = sql_column_int64(st, 2);
		(void)snprintf(ret_hash, 65, "%s", h != NULL ?
		    (const char *)h : "");
	}
	sql_finalize(st);
	if (r == SQL_ROW)
		return 0;
	if (r != SQL_DONE)
		return sq_fail(s, err, "audit read");
	return TOCSIN_ENOTFOUND;
}

int
store_audit_head(struct store *s, int64_t *ret_seq, char ret_hash[65],
    struct tocsin_err *err)
{
	int64_t ts;
	int rc;

	*ret_seq = 0;
	rc = audit_one(s, -1, ret_seq, ret_hash, &ts, err);
	return rc == TOCSIN_ENOTFOUND ? 0 : rc;
}

int
store_audit_at(struct store *s, int64_t seq, char ret_hash[65],
    int64_t *ret_ts, struct tocsin_err *err)
{
	int64_t got;
	int rc;

	if ((rc = audit_one(s, seq < 0 ? 0 : seq, &got, ret_hash, ret_ts,
	    err)) == TOCSIN_ENOTFOUND)
		return tocsin_fail(err, rc, "the audit log holds no record %lld",
		    (long long)seq);
	return rc;
}

void
store_team_rows_free(struct store_team_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].team); free(rows[i].state); free(rows[i].ack_by);
		free(rows[i].ack_via); free(rows[i].ack_strength);
		free(rows[i].ack_contact); free(rows[i].why);
	}
	free(rows);
}

#define DEL_COLS "id, alert_id, team, step, channel, contact, address, " \
    "state, attempts, next_attempt, provider_ref, last_error, segments, " \
    "kind, created, updated"

static void
fill_delivery(struct sql_stmt *st, void *p)
{
	struct store_delivery_row *r = p;

	r->id = sql_column_int64(st, 0);
	r->alert_id = sq_dup(st, 1);
	r->team = sq_dup(st, 2);
	r->step = sql_column_int(st, 3);
	r->channel = sq_dup(st, 4);
	r->contact = sq_dup(st, 5);
	r->address = sq_dup(st, 6);
	r->state = store_dstate_parse(sql_column_text(st, 7));
	r->attempts = sql_column_int(st, 8);
	r->next_attempt = sql_column_int64(st, 9);
	r->provider_ref = sq_dup(st, 10);
	r->last_error = sq_dup(st, 11);
	r->segments = sql_column_int(st, 12);
	r->notice = sql_column_text(st, 13) != NULL &&
	    strcmp(sql_column_text(st, 13), "notice") == 0;
	r->check = sql_column_text(st, 13) != NULL &&
	    strcmp(sql_column_text(st, 13), "check") == 0;
	r->told = sql_column_text(st, 13) != NULL &&
	    strcmp(sql_column_text(st, 13), "told") == 0;
	r->created = sql_column_int64(st, 14);
	r->updated = sql_column_int64(st, 15);
}

int
store_deliveries(struct store *s, const char *alert_id, const char *team,
    struct store_delivery_row **ret, size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "SELECT " DEL_COLS " FROM deliveries WHERE alert_id = ?"
	    " AND (? IS NULL OR team = ?) ORDER BY team, step, id", &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, alert_id);
	sq_text(st, 2, team);
	sq_text(st, 3, team);
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_delivery,
	    err);
	sql_finalize(st);
	return rc;
}

void
store_delivery_rows_free(struct store_delivery_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].alert_id); free(rows[i].team); free(rows[i].channel);
		free(rows[i].contact); free(rows[i].address);
		free(rows[i].provider_ref); free(rows[i].last_error);
	}
	free(rows);
}

int
store_alert_cap(struct store *s, const char *alert_id, char **ret,
    size_t *ret_len, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc = 0;

	*ret = NULL;
	*ret_len = 0;
	if (sq_prepare(s, "SELECT cap FROM alerts WHERE id = ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, alert_id);
	if (sql_step(st) == SQL_ROW) {
		size_t n = 0;
		const void *b = sql_column_blob(st, 0, &n);

		if ((*ret = malloc(n + 1)) == NULL) {
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		} else {
			if (n > 0)
				memcpy(*ret, b, n);
			(*ret)[n] = '\0';
			*ret_len = n;
		}
	} else {
		rc = tocsin_fail(err, TOCSIN_ENOTFOUND, "no alert %.64s", alert_id);
	}
	sql_finalize(st);
	return rc;
}

/* --- the queue -------------------------------------------------------------- */

#define LIVE_WHERE LIVE_OF("d")
#define DUE_WHERE "d.state IN ('pending','failed') AND d.next_attempt <= ?1" \
    " AND " LIVE_WHERE

/* Batch order: by alert, team, step, id, so a driver sees a team's
   deliveries together. */
static int
delivery_cmp(const void *a, const void *b)
{
	const struct store_delivery_row *x = a, *y = b;
	int c;

	if ((c = strcmp(x->alert_id, y->alert_id)) != 0 ||
	    (c = strcmp(x->team, y->team)) != 0)
		return c;
	if (x->step != y->step)
		return x->step < y->step ? -1 : 1;
	if (x->notice != y->notice)
		return x->notice ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

void
store_set_max_attempts(struct store *s, int max_attempts)
{
	s->max_attempts = max_attempts > 0 ? max_attempts : 1;
}

void
store_set_busy_wait(struct store *s, int ms)
{
	s->db->ops->busy_wait(s->db, ms);
}

bool
store_unavailable(const struct store *s)
{
	return s->unavailable;
}

/*
 * A step that failed on every channel: the active teams whose current
 * step's every delivery of the alert is dead or undelivered, and whose
 * policy says on_failure = "next", get their deadline now, so that the
 * scheduler moves them on at its next look instead of waiting out the
 * step's time for nobody.  Only the teams of delivery id (> 0), or with
 * id 0 of the deliveries that died at now, are looked at.  Runs in the
 * caller's transaction.
 */
static int
step_failed_mark(struct store *s, int64_t now, int64_t id,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int r;

	if (sq_prepare(s, "UPDATE team_states SET deadline = ?1, early_why = "
	    "'failed' WHERE state = 'active' AND on_failure = 'next' AND step "
	    ">= 0 AND deadline > ?1 AND early_why IS NULL AND (alert_id, team) "
	    "IN (SELECT d.alert_id, d.team FROM deliveries d WHERE (?2 > 0 AND "
	    "d.id = ?2) OR (?2 <= 0 AND d.state IN ('dead', 'undelivered') AND "
	    "d.updated = ?1)) AND EXISTS (SELECT 1 FROM deliveries d WHERE "
	    "d.alert_id = team_states.alert_id AND d.team = team_states.team "
	    "AND d.step = team_states.step AND d.kind = 'alert') AND NOT EXISTS "
	    "(SELECT 1 FROM deliveries d WHERE d.alert_id = team_states.alert_id "
	    "AND d.team = team_states.team AND d.step = team_states.step AND "
	    "d.kind = 'alert' AND d.state NOT IN ('dead', 'undelivered'))", &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, now);
	sql_bind_int64(st, 2, id);
	r = sql_step(st);
	sql_finalize(st);
	return r == SQL_DONE ? 0 : sq_fail(s, err, "move a failed step on");
}

/*
 * Take back the rows sending of owner (NULL: every row whose lease ran
 * out at now): due again at once, or dead when a bound is reached.  A row
 * that was handed to the driver (tried) counts an attempt; one that was
 * not counts a lost lease.  *ret_n (may be NULL) says how many.
 */
static int
lease_take_back(struct store *s, const char *owner, int64_t now,
    const char *what, size_t *ret_n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int changed;

	if (sq_prepare(s, "UPDATE deliveries SET "
	    "state = CASE WHEN attempts + tried >= ?3 OR reclaims + 1 - tried "
	    ">= ?4 THEN 'dead' WHEN NOT " ROW_LIVE " THEN 'cancelled' ELSE "
	    "'failed' END, "
	    "last_error = CASE WHEN attempts + tried >= ?3 THEN 'gave up after "
	    "' || (attempts + tried) || ' attempts; last: ' || ?5 "
	    "WHEN reclaims + 1 - tried >= ?4 THEN 'gave up: its lease was lost "
	    "' || (reclaims + 1 - tried) || ' times before it was tried; last: "
	    "' || ?5 WHEN NOT " ROW_LIVE " THEN " ROW_MOOT_WHY " ELSE ?5 END, "
	    "attempts = attempts + tried, reclaims = reclaims + 1 - tried, "
	    "tried = 0, lease_owner = NULL, lease_until = NULL, next_attempt = "
	    "?2, updated = ?2 WHERE state = 'sending' AND (CASE WHEN ?1 IS NULL "
	    "THEN lease_until <= ?2 ELSE lease_owner = ?1 END)", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, owner);
	sql_bind_int64(st, 2, now);
	sql_bind_int64(st, 3, s->max_attempts);
	sql_bind_int64(st, 4, s->max_attempts * STORE_RECLAIM_FACTOR);
	sq_text(st, 5, what);
	if (sql_step(st) != SQL_DONE) {
		sql_finalize(st);
		return sq_fail(s, err, "take back leases");
	}
	sql_finalize(st);
	changed = sql_changes(s->db);
	if (ret_n != NULL)
		*ret_n = (size_t)changed;
	/* some may have died: their teams' steps may have failed whole */
	return changed > 0 ? step_failed_mark(s, now, 0, err) : 0;
}

/* The stored base: 1 with boot and offset, 0 when none. */
static int
clock_base_get(struct store *s, char *boot, size_t blen, int64_t *off)
{
	struct sql_stmt *st = NULL;
	int found = 0;

	if (s->db->ops->prepare(s->db, "SELECT boot, wall_minus_mono FROM "
	    "clock_base WHERE id = 1", &st) != 0)
		return -1;
	if (sql_step(st) == SQL_ROW) {
		(void)snprintf(boot, blen, "%s", sql_column_text(st, 0) ?
		    sql_column_text(st, 0) : "");
		*off = sql_column_int64(st, 1);
		found = 1;
	}
	sql_finalize(st);
	return found;
}

/* Move every stored wall time that serve waits for by step seconds. */
static int
clock_shift(struct store *s, int64_t step, int64_t offset, const char *boot,
    struct tocsin_err *err)
{
	static const char *const sql[] = {
		"UPDATE team_states SET deadline = deadline + ?1 WHERE state = "
		    "'active' AND deadline > 0",
		"UPDATE deliveries SET next_attempt = next_attempt + ?1 WHERE "
		    "state IN ('pending', 'failed')",
		"UPDATE deliveries SET lease_until = lease_until + ?1 WHERE "
		    "state = 'sending' AND lease_until IS NOT NULL",
		"DELETE FROM clock_base",
		"INSERT INTO clock_base (id, boot, wall_minus_mono) VALUES "
		    "(1, ?1, ?2)",
	};
	/* a new base alone (step 0) moves nothing */
	for (size_t i = step == 0 ? 3 : 0; i < sizeof(sql) / sizeof(sql[0]);
	    i++) {
		struct sql_stmt *st = NULL;
		int r;

		if (sq_prepare(s, sql[i], &st, err) != 0)
			return TOCSIN_ESTORE;
		if (i < 3)
			sql_bind_int64(st, 1, step);
		if (i == 4) {
			sq_text(st, 1, boot);
			sql_bind_int64(st, 2, offset);
		}
		r = sql_step(st);
		sql_finalize(st);
		if (r != SQL_DONE)
			return sq_fail(s, err, "move the stored times");
	}
	return 0;
}

int
store_clock_check(struct store *s, const char *boot, int64_t offset,
    int64_t now, int64_t *ret_step, struct tocsin_err *err)
{
	char sboot[64] = "", details[128];
	int64_t soff = 0, step = 0;
	int found, rc;

	*ret_step = 0;
	/* the usual case reads only */
	found = clock_base_get(s, sboot, sizeof(sboot), &soff);
	if (found == 1 && strcmp(sboot, boot) == 0 && (offset - soff <= 2000 &&
	    soff - offset <= 2000))
		return 0;
	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	/* again under the lock: another serve may have moved them first */
	found = clock_base_get(s, sboot, sizeof(sboot), &soff);
	if (found == 1 && strcmp(sboot, boot) == 0)
		step = offset - soff;
	if (found == 1 && strcmp(sboot, boot) == 0 && step <= 2000 &&
	    step >= -2000)
		return sq_commit(s, err);
	/* whole seconds, as the store keeps them */
	step = (step + (step < 0 ? -500 : 500)) / 1000;
	if (found != 1 || strcmp(sboot, boot) != 0)
		step = 0;		/* a new boot: a new base, nothing moved */
	if ((rc = clock_shift(s, step, offset, boot, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	if (step != 0) {
		(void)snprintf(details, sizeof(details), "step=%+llds",
		    (long long)step);
		if ((rc = audit_append(s, now, "tocsin serve", "clock-step",
		    "clock", details, err)) != 0) {
			sq_rollback(s);
			return rc;
		}
	}
	if ((rc = sq_commit(s, err)) != 0)
		return rc;
	*ret_step = step;
	return 0;
}

int
store_cancel_moot(struct store *s, int64_t now, size_t *ret_n,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;

	*ret_n = 0;
	if (sq_prepare(s, "UPDATE deliveries SET state = 'cancelled', "
	    "last_error = " ROW_MOOT_WHY " || " ROW_KEEP_LAST ", updated = ?1 "
	    "WHERE state IN ('pending', 'failed') AND NOT " ROW_LIVE, &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, now);
	if (sql_step(st) != SQL_DONE) {
		sql_finalize(st);
		return sq_fail(s, err, "cancel moot deliveries");
	}
	sql_finalize(st);
	*ret_n = (size_t)sql_changes(s->db);
	return 0;
}

int
store_mark_tried(struct store *s, const char *owner, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "UPDATE deliveries SET tried = 1 WHERE lease_owner = "
	    "?1 AND state = 'sending'", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, owner);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err, "mark "
	    "deliveries tried");
	sql_finalize(st);
	return rc;
}

/* The due rows of a channel, earliest first, as (alert, team, step,
   kind) groups: read through the partial index deliveries_waiting, so
   that a claim costs what it takes, not what else is waiting. */
#define CLAIM_GROUPS "SELECT d.alert_id, d.team, d.step, d.kind FROM " \
    "deliveries d WHERE d.channel = ?2 AND d.state IN ('pending', " \
    "'failed') AND d.next_attempt <= ?1 AND " LIVE_WHERE " ORDER BY " \
    "d.next_attempt, d.id LIMIT ?3"
/* One group's rows taken, by the (alert_id, team) index: SQLite, without
   statistics, would otherwise walk the channel's waiting rows. */
#define CLAIM_GROUP(idx) "UPDATE deliveries " idx "SET state = 'sending', " \
    "lease_owner = ?3, lease_until = ?4, tried = 0, updated = ?1 WHERE " \
    "alert_id = ?5 AND team = ?6 AND step = ?7 AND kind = ?8 AND channel " \
    "= ?2 AND state IN ('pending', 'failed') AND next_attempt <= ?1 " \
    "RETURNING " DEL_COLS

struct claim_group {
	char *alert_id, *team, *kind;
	int step;
};

static void
claim_groups_free(struct claim_group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(g[i].alert_id);
		free(g[i].team);
		free(g[i].kind);
	}
	free(g);
}

/* Up to max distinct due groups of channel ch, earliest first. */
static int
claim_groups(struct store *s, int64_t now, const char *ch, size_t max,
    struct claim_group **ret, size_t *ret_n, struct tocsin_err *err)
{
	struct claim_group *g = calloc(max > 0 ? max : 1, sizeof(*g));
	struct sql_stmt *st = NULL;
	size_t n = 0;
	int r = SQL_DONE;

	*ret = NULL;
	*ret_n = 0;
	if (g == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if (sq_prepare(s, CLAIM_GROUPS, &st, err) != 0) {
		free(g);
		return TOCSIN_ESTORE;
	}
	sql_bind_int64(st, 1, now);
	sq_text(st, 2, ch);
	/* a group is a few rows (the contacts of one team's step): enough
	   rows for max groups, read lazily where the engine can */
	sql_bind_int64(st, 3, (int64_t)max * 4 + 16);
	while (n < max && (r = sql_step(st)) == SQL_ROW) {
		const char *a = sql_column_text(st, 0), *t = sql_column_text(st,
		    1), *k = sql_column_text(st, 3);
		int step = sql_column_int(st, 2);
		size_t i;

		for (i = 0; i < n; i++)
			if (g[i].step == step && strcmp(g[i].alert_id, a) == 0 &&
			    strcmp(g[i].team, t) == 0 && strcmp(g[i].kind, k) == 0)
				break;
		if (i < n)
			continue;
		g[n] = (struct claim_group){ strdup(a), strdup(t), strdup(k),
		    step };
		if (g[n].alert_id == NULL || g[n].team == NULL ||
		    g[n].kind == NULL) {
			sql_finalize(st);
			claim_groups_free(g, n + 1);
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		}
		n++;
	}
	if (r != SQL_ROW && r != SQL_DONE) {
		int rc = sq_fail(s, err, "read due deliveries");

		sql_finalize(st);
		claim_groups_free(g, n);
		return rc;
	}
	sql_finalize(st);
	*ret = g;
	*ret_n = n;
	return 0;
}

/* The rows of each group taken for owner, appended to *ret. */
static int
claim_take(struct store *s, const char *owner, int64_t now, int64_t lease,
    const char *ch, const struct claim_group *g, size_t ng,
    struct store_delivery_row **ret, size_t *n, struct tocsin_err *err)
{
	size_t cap = 0;
	int r = SQL_DONE;

	for (size_t i = 0; i < ng; i++) {
		struct sql_stmt *st = NULL;
		char *v = (char *)*ret;

		if (sq_prepare(s, sq_pg(s) ? CLAIM_GROUP("") :
		    CLAIM_GROUP("INDEXED BY deliveries_alert "), &st, err) != 0)
			return TOCSIN_ESTORE;
		sql_bind_int64(st, 1, now);
		sq_text(st, 2, ch);
		sq_text(st, 3, owner);
		sql_bind_int64(st, 4, now + lease);
		sq_text(st, 5, g[i].alert_id);
		sq_text(st, 6, g[i].team);
		sql_bind_int64(st, 7, g[i].step);
		sq_text(st, 8, g[i].kind);
		while ((r = sql_step(st)) == SQL_ROW) {
			if (base_grow(&v, &cap, *n + 1, sizeof(**ret)) != 0) {
				*ret = (struct store_delivery_row *)v;
				sql_finalize(st);
				return tocsin_fail(err, TOCSIN_ENOMEM,
				    "out of memory");
			}
			*ret = (struct store_delivery_row *)v;
			memset(&(*ret)[*n], 0, sizeof(**ret));
			fill_delivery(st, &(*ret)[*n]);
			(*n)++;
		}
		sql_finalize(st);
		if (r != SQL_DONE)
			return sq_fail(s, err, "claim");
	}
	return 0;
}

int
store_claim(struct store *s, const char *owner, int64_t now, int64_t lease,
    const char *channel, size_t max, struct store_delivery_row **ret,
    size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	struct claim_group *g = NULL;
	size_t ng = 0;
	char *ch = NULL;
	int rc;

	*ret = NULL;
	*n = 0;
	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if ((rc = lease_take_back(s, NULL, now, "its lease ran out before a "
	    "result was recorded", NULL, err)) != 0)
		goto fail;
	if (channel == NULL) {
		/* the channel of the earliest due row */
		if (sq_prepare(s, "SELECT d.channel FROM deliveries d WHERE "
		    DUE_WHERE " ORDER BY d.next_attempt, d.id LIMIT 1", &st,
		    err) != 0)
			goto fail;
		sql_bind_int64(st, 1, now);
		if (sql_step(st) == SQL_ROW)
			ch = sq_dup(st, 0);
		sql_finalize(st);
		st = NULL;
		if (ch == NULL)
			return sq_commit(s, err);
	} else if ((ch = strdup(channel)) == NULL) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto fail;
	}
	/* RETURNING (SQLite >= 3.35, PostgreSQL) hands back exactly the rows
	   this claim took, never those of an earlier claim by the same owner */
	if ((rc = claim_groups(s, now, ch, max, &g, &ng, err)) != 0 ||
	    (rc = claim_take(s, owner, now, lease, ch, g, ng, ret, n,
	    err)) != 0)
		goto fail;
	if (*n > 1)
		qsort(*ret, *n, sizeof(**ret), delivery_cmp);
	/* a claim that does not commit took nothing: no rows to hand out */
	if ((rc = sq_commit(s, err)) != 0)
		goto fail;
	claim_groups_free(g, ng);
	free(ch);
	return 0;
fail:
	sql_finalize(st);
	sq_rollback(s);
	claim_groups_free(g, ng);
	free(ch);
	store_delivery_rows_free(*ret, *n);
	*ret = NULL;
	*n = 0;
	return rc != 0 ? rc : TOCSIN_ESTORE;
}

/* store_result, with whether an attempt is counted and the message's
   segments (0: not known, the row's stays), in one statement: one round
   trip per result on a database server. */
static int
result_one(struct store *s, int64_t delivery_id, const char *owner,
    enum store_result r, int64_t now, int64_t next_attempt,
    const char *provider_ref, const char *error, bool attempted,
    int segments, struct tocsin_err *err)
{
	/* a sent counts even when its lease was lost meanwhile: the row is
	   then failed (taken back) or sending for another worker, which is
	   spared a repeat if it has not started */
	static const char *const sql[] = {
		[STORE_R_SENT] = "UPDATE deliveries SET state = 'sent', "
		    "lease_owner = NULL, lease_until = NULL, provider_ref = ?3, "
		    "last_error = ?4, updated = ?5, attempts = attempts + ?7, "
		    "tried = 0, segments = coalesce(?8, segments) WHERE id = ?1 "
		    "AND ((lease_owner = ?2 AND state = 'sending') OR state IN "
		    "('failed', 'sending'))",
		/* a team that acked (or was cancelled) while this was in
		   flight: nothing more goes to it */
		[STORE_R_TEMPFAIL] = "UPDATE deliveries SET state = CASE WHEN "
		    ROW_LIVE " THEN 'failed' ELSE 'cancelled' END, "
		    "lease_owner = NULL, lease_until = NULL, provider_ref = "
		    "coalesce(?3, provider_ref), last_error = CASE WHEN "
		    ROW_LIVE " THEN ?4 ELSE " ROW_MOOT_WHY " || '; last: ' || "
		    "coalesce(?4, '') END, updated = ?5, "
		    "next_attempt = ?6, attempts = attempts + ?7, tried = 0, "
		    "segments = coalesce(?8, segments) "
		    "WHERE id = ?1 AND lease_owner = ?2 AND state = 'sending'",
		[STORE_R_PERMFAIL] = "UPDATE deliveries SET state = 'dead', "
		    "lease_owner = NULL, lease_until = NULL, provider_ref = "
		    "coalesce(?3, provider_ref), last_error = ?4, updated = ?5, "
		    "attempts = attempts + ?7, tried = 0, "
		    "segments = coalesce(?8, segments) "
		    "WHERE id = ?1 AND lease_owner = ?2 AND state = 'sending'",
	};
	struct sql_stmt *st = NULL;
	int changed;

	if ((unsigned)r > STORE_R_PERMFAIL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "bad result");
	if (sq_prepare(s, sql[r], &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, delivery_id);
	sq_text(st, 2, owner);
	sq_text(st, 3, provider_ref);
	sq_text(st, 4, error);
	sql_bind_int64(st, 5, now);
	sql_bind_int64(st, 6, next_attempt);
	sql_bind_int64(st, 7, attempted ? 1 : 0);
	if (segments > 0)
		sql_bind_int64(st, 8, segments);
	else
		sql_bind_null(st, 8);
	if (sql_step(st) != SQL_DONE) {
		sql_finalize(st);
		return sq_fail(s, err, "record result");
	}
	sql_finalize(st);
	changed = sql_changes(s->db);
	if (changed == 0)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "delivery %lld is not "
		    "held by %s (its lease ran out and it was claimed again)",
		    (long long)delivery_id, owner);
	return r == STORE_R_PERMFAIL ? step_failed_mark(s, now, delivery_id,
	    err) : 0;
}

int
store_result(struct store *s, int64_t delivery_id, const char *owner,
    enum store_result r, int64_t now, int64_t next_attempt,
    const char *provider_ref, const char *error, struct tocsin_err *err)
{
	/* in a transaction of its own: a dead result may move the team's
	   ladder on in the same write */
	struct store_result_item it = { .id = delivery_id, .result = r,
		.next_attempt = next_attempt, .provider_ref = provider_ref,
		.error = error };
	size_t lost = 0;
	int rc;

	if ((rc = store_results(s, owner, now, &it, 1, &lost, err)) != 0)
		return rc;
	if (lost > 0)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "delivery %lld is not "
		    "held by %s (its lease ran out and it was claimed again)",
		    (long long)delivery_id, owner);
	return 0;
}

int
store_next_due(struct store *s, const char *channel, int64_t *ret_when,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc = TOCSIN_ENOTFOUND;

	/* the earliest waiting row by the partial index (the first live one
	   ends the walk), and the leases in flight, which are few: a worker
	   asks this for every channel after every batch, whatever is
	   waiting */
	if (sq_prepare(s, channel != NULL ? "SELECT (SELECT d.next_attempt "
	    "FROM deliveries d WHERE d.channel = ?1 AND d.state IN ('pending', "
	    "'failed') AND " LIVE_WHERE " ORDER BY d.next_attempt LIMIT 1), "
	    "(SELECT min(d.lease_until) FROM deliveries d WHERE d.state = "
	    "'sending' AND d.channel = ?1 AND " LIVE_WHERE ")" :
	    /* any channel (a drill): each state's earliest by the index
	       deliveries_due (state, next_attempt) */
	    "SELECT (SELECT d.next_attempt FROM deliveries d WHERE d.state = "
	    "'pending' AND " LIVE_WHERE " ORDER BY d.next_attempt LIMIT 1), "
	    "(SELECT min(d.lease_until) FROM deliveries d WHERE d.state = "
	    "'sending' AND " LIVE_WHERE "), (SELECT d.next_attempt FROM "
	    "deliveries d WHERE d.state = 'failed' AND " LIVE_WHERE " ORDER BY "
	    "d.next_attempt LIMIT 1)", &st, err) != 0)
		return TOCSIN_ESTORE;
	if (channel != NULL)
		sq_text(st, 1, channel);
	if (sql_step(st) == SQL_ROW) {
		for (int i = 0; i < (channel != NULL ? 2 : 3); i++) {
			int64_t v;

			if (sql_column_null(st, i))
				continue;
			v = sql_column_int64(st, i);
			if (rc != 0 || v < *ret_when)
				*ret_when = v;
			rc = 0;
		}
	}
	sql_finalize(st);
	if (rc != 0)
		(void)tocsin_fail(err, rc, "nothing is pending or in flight");
	return rc;
}

int
store_results(struct store *s, const char *owner, int64_t now,
    struct store_result_item *items, size_t n, size_t *ret_lost,
    struct tocsin_err *err)
{
	size_t lost = 0;
	int rc;

	if (ret_lost != NULL)
		*ret_lost = 0;
	s->unavailable = false;
	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		rc = result_one(s, items[i].id, owner, items[i].result, now,
		    items[i].next_attempt, items[i].provider_ref,
		    items[i].error, !items[i].untried, items[i].segments, err);
		items[i].lost = rc == TOCSIN_ENOTFOUND;
		if (rc == TOCSIN_ENOTFOUND) {
			lost++;
			continue;
		}
		if (rc != 0) {
			sq_rollback(s);
			return rc;
		}
	}
	if ((rc = sq_commit(s, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	if (ret_lost != NULL)
		*ret_lost = lost;
	return 0;
}

static void
fill_sig(struct sql_stmt *st, void *v)
{
	struct store_signature_row *r = v;

	r->issuer = sq_dup(st, 0);
	r->kind = sq_dup(st, 1);
	r->signer = sq_dup(st, 2);
	if (!sql_column_null(st, 3)) {
		size_t len = 0;
		const void *p = sql_column_blob(st, 3, &len);

		if (len > 0 && p != NULL && (r->sig = malloc(len)) != NULL) {
			memcpy(r->sig, p, len);
			r->sig_len = len;
		}
	}
}

int
store_signatures(struct store *s, const char *alert_id,
    struct store_signature_row **ret, size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	*ret = NULL;
	*n = 0;
	if (sq_prepare(s, sq_pg(s) ? "SELECT issuer, kind, signer, sig FROM "
	    "signatures WHERE alert_id = ? ORDER BY ord" : "SELECT issuer, "
	    "kind, signer, sig FROM signatures "
	    "WHERE alert_id = ? ORDER BY rowid", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, alert_id);
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_sig, err);
	sql_finalize(st);
	if (rc != 0) {
		store_signature_rows_free(*ret, *n);
		*ret = NULL;
		*n = 0;
	}
	return rc;
}

void
store_signature_rows_free(struct store_signature_row *rows, size_t n)
{
	for (size_t i = 0; i < n && rows != NULL; i++) {
		free(rows[i].issuer);
		free(rows[i].kind);
		free(rows[i].signer);
		free(rows[i].sig);
	}
	free(rows);
}

static void
fill_owner(struct sql_stmt *st, void *v)
{
	*(char **)v = sq_dup(st, 0);
}

int
store_lease_owners(struct store *s, char ***ret, size_t *n,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	*ret = NULL;
	*n = 0;
	if (sq_prepare(s, "SELECT DISTINCT lease_owner FROM deliveries WHERE "
	    "state = 'sending' AND lease_owner IS NOT NULL", &st, err) != 0)
		return TOCSIN_ESTORE;
	rc = sq_collect(s, st, (void **)ret, n, sizeof(char *), fill_owner,
	    err);
	sql_finalize(st);
	return rc;
}

int
store_turn(struct store *s, const char *job, const char *owner, int64_t now,
    int64_t ttl, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc, mine;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if (sq_prepare(s, "INSERT INTO turns (job, owner, until) VALUES (?1, "
	    "?2, ?3) ON CONFLICT (job) DO UPDATE SET owner = ?2, until = ?3 "
	    "WHERE turns.owner = ?2 OR turns.until <= ?4", &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sq_text(st, 1, job);
	sq_text(st, 2, owner);
	sql_bind_int64(st, 3, now + ttl);
	sql_bind_int64(st, 4, now);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err, "take a turn");
	sql_finalize(st);
	mine = rc == 0 && sql_changes(s->db) > 0;
	if (rc != 0 || (rc = sq_commit(s, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	return mine ? 1 : 0;
}

int
store_turn_release(struct store *s, const char *job, const char *owner,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if (sq_prepare(s, "DELETE FROM turns WHERE job = ?1 AND owner = ?2",
	    &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sq_text(st, 1, job);
	sq_text(st, 2, owner);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err, "give a turn "
	    "back");
	sql_finalize(st);
	if (rc != 0 || (rc = sq_commit(s, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	return 0;
}

static void
fill_holder(struct sql_stmt *st, void *v)
{
	struct store_holder_row *r = v;

	r->turn = sql_column_int(st, 0) != 0;
	r->owner = sq_dup(st, 1);
	r->channel = sq_dup(st, 2);
	r->n = sql_column_int64(st, 3);
	r->until = sql_column_int64(st, 4);
}

int
store_holders(struct store *s, struct store_holder_row **ret, size_t *n,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	*ret = NULL;
	*n = 0;
	if (sq_prepare(s, "SELECT 0, lease_owner, channel, count(*), "
	    "max(lease_until) FROM deliveries WHERE state = 'sending' AND "
	    "lease_owner IS NOT NULL GROUP BY lease_owner, channel UNION ALL "
	    "SELECT 1, owner, job, 0, until FROM turns ORDER BY 1, 2, 3", &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_holder,
	    err);
	sql_finalize(st);
	return rc;
}

void
store_holder_rows_free(struct store_holder_row *rows, size_t n)
{
	for (size_t i = 0; i < n && rows != NULL; i++) {
		free(rows[i].owner);
		free(rows[i].channel);
	}
	free(rows);
}

int
store_release_owner(struct store *s, const char *owner, int64_t now,
    size_t *ret_n, struct tocsin_err *err)
{
	*ret_n = 0;
	/* Back to failed, due now: the earlier attempt may or may not have
	   reached the peer, and a retry repeats it with the same identity. */
	return lease_take_back(s, owner, now, "its worker stopped before "
	    "recording a result", ret_n, err);
}

/* The place of channel in q, or q->nchannels when it has none. */
static size_t
queue_index(const struct store_queue *q, const char *channel)
{
	size_t i = 0;

	while (i < q->nchannels && strcmp(q->channels[i].channel,
	    channel) != 0)
		i++;
	return i;
}

/* The channel's slot in q, made when new; other past the table. */
static struct store_queue_channel *
queue_slot(struct store_queue *q, const char *channel)
{
	size_t i = queue_index(q, channel);

	if (i < q->nchannels)
		return &q->channels[i];
	if (q->nchannels >= STORE_QUEUE_CHANNELS)
		return &q->other;
	(void)snprintf(q->channels[q->nchannels].channel,
	    sizeof(q->channels[0].channel), "%s", channel);
	return &q->channels[q->nchannels++];
}

/* What is left to go, through deliveries_due (state, next_attempt): a
   range of its pending, failed and sending entries and those rows, never
   the entries of rows that ended.  (deliveries_waiting holds the channel
   but not the state, so it would not spare the rows.) */
#define QUEUE_COUNTS "SELECT channel, state, count(*) FROM deliveries " \
    "WHERE state IN ('pending', 'failed', 'sending') GROUP BY channel, state"

int
store_queue_counts(struct store *s, struct store_queue *ret,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (sq_prepare(s, QUEUE_COUNTS, &st, err) != 0)
		return TOCSIN_ESTORE;
	while ((r = sql_step(st)) == SQL_ROW) {
		const char *ch = sql_column_text(st, 0);
		int k = store_dstate_parse(sql_column_text(st, 1));
		struct store_queue_channel *c = queue_slot(ret, ch != NULL ?
		    ch : "");
		int64_t n = sql_column_int64(st, 2);

		if (k == STORE_D_SENDING)
			c->sending += n;
		else
			c->waiting += n;
		if (k == STORE_D_FAILED)
			c->failed += n;
	}
	sql_finalize(st);
	if (r != SQL_DONE)
		return sq_fail(s, err, "count what is left to go");
	return 0;
}

struct store_queue_channel
store_queue_of(const struct store_queue *q, const char *channel)
{
	struct store_queue_channel none = { .channel = "" };
	size_t i = queue_index(q, channel);

	return i < q->nchannels ? q->channels[i] : none;
}

/* Copy at most len - 1 bytes of a column (NULL: "") into buf. */
static void
sq_col(struct sql_stmt *st, int i, char *buf, size_t len)
{
	const char *v = sql_column_text(st, i);

	(void)snprintf(buf, len, "%s", v != NULL ? (const char *)v : "");
}

static struct store_metrics_channel *
sq_metrics_channel(struct store_metrics *m, const char *channel)
{
	for (size_t i = 0; i < m->nchannels; i++)
		if (strcmp(m->channels[i].channel, channel) == 0)
			return &m->channels[i];
	if (m->nchannels >= STORE_METRICS_CHANNELS) {
		m->channels_cut++;
		return NULL;
	}
	(void)snprintf(m->channels[m->nchannels].channel,
	    sizeof(m->channels[0].channel), "%s", channel);
	return &m->channels[m->nchannels++];
}

/* Sends per provider, named in "NAME:ref" provider references; the
   function that finds the colon is the one difference of the engines. */
#define PROVIDER_SQL(pos) "SELECT channel, substr(provider_ref, 1, " pos \
    "(provider_ref, ':') - 1) AS p, count(*), max(updated) FROM " \
    "deliveries WHERE state IN ('sent', 'delivered', 'undelivered') " \
    "AND " pos "(provider_ref, ':') > 1 GROUP BY channel, p"
#define AUDIT_COUNT(action) "sum(CASE WHEN action = '" action "' THEN 1 " \
    "ELSE 0 END)"

/* The deliveries' part of store_metrics: by channel and state, what is
   due and since when, the last send per channel and per provider. */
static int
sq_metrics_deliveries(struct store *s, int64_t now, struct store_metrics *m,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int r;

	if (sq_prepare(s, "SELECT channel, state, count(*), "
	    "sum(CASE WHEN state IN ('pending', 'failed') AND next_attempt <= ?1 "
	    "THEN 1 ELSE 0 END), "
	    "min(CASE WHEN state IN ('pending', 'failed') AND next_attempt <= "
	    "?1 THEN next_attempt END), max(CASE WHEN state IN ('sent', "
	    "'delivered', 'undelivered') THEN updated END) FROM deliveries "
	    "GROUP BY channel, state", &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, now);
	while ((r = sql_step(st)) == SQL_ROW) {
		char ch[32];
		struct store_metrics_channel *c;
		int k = store_dstate_parse((const char *)
		    sql_column_text(st, 1));
		int64_t oldest = sql_column_int64(st, 4);

		sq_col(st, 0, ch, sizeof(ch));
		if ((c = sq_metrics_channel(m, ch)) == NULL)
			continue;
		if (k >= 0 && k < STORE_D_COUNT)
			c->n[k] += sql_column_int64(st, 2);
		c->due += sql_column_int64(st, 3);
		if (!sql_column_null(st, 4) &&
		    (c->oldest_due == 0 || oldest < c->oldest_due))
			c->oldest_due = oldest;
		if (sql_column_int64(st, 5) > c->last_sent)
			c->last_sent = sql_column_int64(st, 5);
	}
	sql_finalize(st);
	if (r != SQL_DONE)
		return sq_fail(s, err, "count deliveries");
	if (sq_prepare(s, sq_pg(s) ? PROVIDER_SQL("strpos") :
	    PROVIDER_SQL("instr"), &st, err) != 0)
		return TOCSIN_ESTORE;
	while ((r = sql_step(st)) == SQL_ROW) {
		struct store_metrics_provider *p;

		if (m->nproviders >= STORE_METRICS_PROVIDERS) {
			m->providers_cut++;
			continue;
		}
		p = &m->providers[m->nproviders++];
		sq_col(st, 0, p->channel, sizeof(p->channel));
		sq_col(st, 1, p->provider, sizeof(p->provider));
		p->sent = sql_column_int64(st, 2);
		p->last_sent = sql_column_int64(st, 3);
	}
	sql_finalize(st);
	if (r != SQL_DONE)
		return sq_fail(s, err, "count deliveries by provider");
	return 0;
}

/* The acks' and the ladders' part of store_metrics. */
static int
sq_metrics_ladders(struct store *s, struct store_metrics *m,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int r;

	if (sq_prepare(s, "SELECT via, strength, count(*) FROM acks GROUP BY "
	    "via, strength", &st, err) != 0)
		return TOCSIN_ESTORE;
	while ((r = sql_step(st)) == SQL_ROW) {
		struct store_metrics_ack *a;

		if (m->nacks >= STORE_METRICS_ACKS) {
			m->acks_cut++;
			continue;
		}
		a = &m->acks[m->nacks++];
		sq_col(st, 0, a->via, sizeof(a->via));
		sq_col(st, 1, a->strength, sizeof(a->strength));
		a->n = sql_column_int64(st, 2);
	}
	sql_finalize(st);
	if (r != SQL_DONE)
		return sq_fail(s, err, "count acks");
	if (sq_prepare(s, "SELECT " AUDIT_COUNT("escalate") ", "
	    AUDIT_COUNT("unreached") ", " AUDIT_COUNT("page-desk") ", "
	    "(SELECT count(DISTINCT alert_id) FROM team_states WHERE state = "
	    "'active') FROM audit WHERE " STORE_AUDIT_LADDER, &st, err) != 0)
		return TOCSIN_ESTORE;
	if ((r = sql_step(st)) == SQL_ROW) {
		m->escalations = sql_column_int64(st, 0);
		m->unreached = sql_column_int64(st, 1);
		m->desk_pages = sql_column_int64(st, 2);
		m->alerts_active = sql_column_int64(st, 3);
		r = SQL_DONE;
	}
	sql_finalize(st);
	if (r != SQL_DONE)
		return sq_fail(s, err, "count escalations");
	return 0;
}

int
store_metrics(struct store *s, int64_t now, struct store_metrics *out,
    struct tocsin_err *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	/* one snapshot: the counts agree with each other */
	if ((rc = sq_begin(s, false, err)) != 0)
		return rc;
	if ((rc = sq_metrics_deliveries(s, now, out, err)) == 0)
		rc = sq_metrics_ladders(s, out, err);
	(void)sq_commit(s, NULL);
	return rc;
}

int
store_probe_write(struct store *s, int wait_ms, struct tocsin_err *err)
{
	int rc;

	s->db->ops->busy_wait(s->db, wait_ms);
	rc = sq_begin(s, true, err);
	s->db->ops->busy_wait(s->db, SQ_BUSY_MS);
	if (rc != 0)
		return rc;
	/* a write that the rollback takes back: a full disk or a read-only
	   file refuses it, where the lock alone could pass */
	rc = sq_exec(s, "UPDATE schema_version SET version = version", err);
	sq_rollback(s);
	return rc;
}

/* An undelivered receipt may be the last live delivery of its team's
   step: step_failed_mark for the delivery of provider_ref. */
static int
receipt_step_failed(struct store *s, const char *provider_ref, int64_t now,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int64_t id = 0;
	int r;

	if (sq_prepare(s, "SELECT id FROM deliveries WHERE provider_ref = ?1 "
	    "AND state = 'undelivered' AND updated = ?2", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, provider_ref);
	sql_bind_int64(st, 2, now);
	while ((r = sql_step(st)) == SQL_ROW) {
		id = sql_column_int64(st, 0);
		if (id > 0)
			break;
	}
	sql_finalize(st);
	if (r != SQL_ROW && r != SQL_DONE)
		return sq_fail(s, err, "look up a receipt's delivery");
	return id > 0 ? step_failed_mark(s, now, id, err) : 0;
}

int
store_receipt(struct store *s, const char *provider_ref, bool delivered,
    const char *detail, int64_t now, enum store_receipt_fate *ret,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int r, rc = 0;

	*ret = STORE_RECEIPT_UNKNOWN;
	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	/* Only a sent delivery moves: delivered and undelivered are final,
	   so a receipt replayed or arriving late never turns one back. */
	if (sq_prepare(s, "UPDATE deliveries SET state = ?2, updated = ?4, "
	    "last_error = CASE WHEN ?2 = 'undelivered' THEN ?3 ELSE last_error "
	    "END WHERE provider_ref = ?1 AND state = 'sent'", &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sq_text(st, 1, provider_ref);
	sq_text(st, 2, delivered ? "delivered" : "undelivered");
	sq_text(st, 3, detail);
	sql_bind_int64(st, 4, now);
	r = sql_step(st);
	sql_finalize(st);
	if (r != SQL_DONE) {
		rc = sq_fail(s, err, "record a receipt");
		sq_rollback(s);
		return rc;
	}
	if (sql_changes(s->db) > 0) {
		if (!delivered && (rc = receipt_step_failed(s, provider_ref, now,
		    err)) != 0) {
			sq_rollback(s);
			return rc;
		}
		if ((rc = sq_commit(s, err)) == 0)
			*ret = STORE_RECEIPT_MOVED;
		return rc;
	}
	if (sq_prepare(s, "SELECT count(*) FROM deliveries WHERE provider_ref "
	    "= ?1 AND state IN ('delivered', 'undelivered')", &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sq_text(st, 1, provider_ref);
	r = sql_step(st);
	if (r == SQL_ROW && sql_column_int64(st, 0) > 0)
		*ret = STORE_RECEIPT_FINAL;
	sql_finalize(st);
	if (r != SQL_ROW) {
		rc = sq_fail(s, err, "look up a receipt's delivery");
		sq_rollback(s);
		return rc;
	}
	return sq_commit(s, err);
}

/* --- escalation and acknowledgements -------------------------------------- */

static void
fill_due(struct sql_stmt *st, void *p)
{
	struct store_due_team *r = p;

	r->alert_id = sq_dup(st, 0);
	r->team = sq_dup(st, 1);
	r->step = sql_column_int(st, 2);
	r->deadline = sql_column_int64(st, 3);
	r->accepted = sql_column_int64(st, 4);
	r->exercise = sql_column_int(st, 5) != 0;
	r->failed = !sql_column_null(st, 6);
}

int
store_due_teams(struct store *s, int64_t now, size_t max,
    struct store_due_team **ret, size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	*ret = NULL;
	*n = 0;
	if (sq_prepare(s, "SELECT t.alert_id, t.team, t.step, t.deadline, "
	    "a.received, a.status = 'Exercise', t.early_why FROM team_states t "
	    "JOIN alerts a ON a.id = t.alert_id "
	    "WHERE t.state = 'active' AND t.deadline > 0 AND t.deadline <= ? "
	    "ORDER BY t.deadline LIMIT ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, now);
	sql_bind_int64(st, 2, (int64_t)max);
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_due, err);
	sql_finalize(st);
	return rc;
}

int
store_team_ladder(struct store *s, const char *alert_id, const char *team,
    struct store_due_team *row, char state[16], struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int r;

	memset(row, 0, sizeof(*row));
	state[0] = '\0';
	if (sq_prepare(s, "SELECT t.alert_id, t.team, t.step, t.deadline, "
	    "a.received, a.status = 'Exercise', t.early_why, t.state FROM "
	    "team_states t JOIN alerts a ON a.id = t.alert_id WHERE t.alert_id "
	    "= ?1 AND t.team = ?2", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, alert_id);
	sq_text(st, 2, team);
	if ((r = sql_step(st)) == SQL_ROW) {
		fill_due(st, row);
		sq_col(st, 7, state, 16);
	}
	sql_finalize(st);
	if (r == SQL_DONE)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "alert %s has no team "
		    "%s", alert_id, team);
	if (r != SQL_ROW)
		return sq_fail(s, err, "read a team's ladder");
	if (row->alert_id == NULL || row->team == NULL) {
		free(row->alert_id);
		free(row->team);
		memset(row, 0, sizeof(*row));
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	return 0;
}

int
store_retry_dead(struct store *s, const char *alert_id, const char *team,
    int64_t id, int64_t now, const char *actor, size_t *ret_n,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	char object[160], details[96];
	int rc, r;

	*ret_n = 0;
	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if (sq_prepare(s, "UPDATE deliveries SET state = 'pending', "
	    "next_attempt = ?4, attempts = 0, tried = 0, reclaims = 0, "
	    "lease_owner = NULL, lease_until = NULL, updated = ?4 WHERE "
	    "state = 'dead' AND (?3 > 0 AND id = ?3 OR ?3 <= 0 AND "
	    "alert_id = ?1 AND (?2 IS NULL OR team = ?2))", &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sq_text(st, 1, alert_id);
	sq_text(st, 2, team);
	sql_bind_int64(st, 3, id);
	sql_bind_int64(st, 4, now);
	r = sql_step(st);
	sql_finalize(st);
	if (r != SQL_DONE) {
		rc = sq_fail(s, err, "retry dead deliveries");
		sq_rollback(s);
		return rc;
	}
	*ret_n = (size_t)sql_changes(s->db);
	if (id > 0)
		(void)snprintf(object, sizeof(object), "delivery %lld",
		    (long long)id);
	else
		(void)snprintf(object, sizeof(object), "%.64s%s%.64s",
		    alert_id != NULL ? alert_id : "", team != NULL ? "/" : "",
		    team != NULL ? team : "");
	(void)snprintf(details, sizeof(details), "%zu dead deliveries due "
	    "again", *ret_n);
	if ((rc = audit_append(s, now, actor, "retry", object, details,
	    err)) != 0 || (rc = sq_commit(s, err)) != 0) {
		sq_rollback(s);
		*ret_n = 0;
		return rc;
	}
	return 0;
}

void
store_due_teams_free(struct store_due_team *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].alert_id);
		free(rows[i].team);
	}
	free(rows);
}

int
store_next_deadline(struct store *s, int64_t *ret_when, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;

	*ret_when = 0;
	if (sq_prepare(s, "SELECT min(deadline) FROM team_states WHERE state = "
	    "'active' AND deadline > 0", &st, err) != 0)
		return TOCSIN_ESTORE;
	if (sql_step(st) == SQL_ROW)
		*ret_when = sql_column_int64(st, 0);
	sql_finalize(st);
	return 0;
}

/* The desk's own on-call, paged once per alert when a team is unreached:
   a state for the desk's team and its first step's deliveries. */
static int
page_desk(struct store *s, const struct store_escalation *e, int64_t now,
    const char *actor, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	char details[160];
	int rc;

	if (e->page_team == NULL)
		return 0;
	if (sq_prepare(s, "INSERT INTO team_states (alert_id, team, step, deadline, "
	    "token_hash, on_failure) VALUES (?,?,0,?,?,?) ON CONFLICT DO NOTHING",
	    &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, e->alert_id);
	sq_text(st, 2, e->page_team);
	sql_bind_int64(st, 3, e->page_deadline);
	if (e->page_token_hash != NULL)
		sq_text(st, 4, e->page_token_hash);
	else
		sql_bind_null(st, 4);
	sq_text(st, 5, e->page_wait_on_failure ? "wait" : "next");
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err, "page the "
	    "desk");
	sql_finalize(st);
	if (rc != 0 || sql_changes(s->db) == 0)
		return rc;		/* paged already for this alert */
	(void)snprintf(details, sizeof(details), "desk=%.40s for team=%.40s "
	    "deliveries=%zu", e->page_team, e->team, e->npage_dels);
	if ((rc = insert_deliveries(s, e->alert_id, e->page_dels,
	    e->npage_dels, now, "alert", err)) != 0)
		return rc;
	return audit_append(s, now, actor, "page-desk", e->alert_id, details,
	    err);
}

/* One move of store_escalate_batch, inside its transaction: *ret_moved
   false when the team moved on since it was read (nothing done). */
static int
escalate_one(struct store *s, const struct store_escalation *e, int64_t now,
    const char *actor, bool *ret_moved, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	char details[256];
	int rc;

	*ret_moved = false;
	/* only from where the caller saw the team: a second serve, or this
	   one after a restart, finds it moved on and does nothing; so does
	   a team whose ack was recorded since it was read */
	if (sq_prepare(s, "UPDATE team_states SET step = ?1, deadline = ?2, "
	    "state = ?3, moved_why = ?9, early_why = NULL WHERE alert_id = ?4 "
	    "AND team = ?5 AND step = ?6 AND state = 'active' AND (?8 <> 0 OR "
	    "deadline > 0 AND deadline <= ?7)", &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, e->to_step);
	sql_bind_int64(st, 2, e->deadline);
	sq_text(st, 3, e->state);
	sq_text(st, 4, e->alert_id);
	sq_text(st, 5, e->team);
	sql_bind_int64(st, 6, e->from_step);
	sql_bind_int64(st, 7, now);
	sql_bind_int64(st, 8, e->early);
	sq_text(st, 9, e->why);
	if (sql_step(st) != SQL_DONE) {
		rc = sq_fail(s, err, "escalate");
		sql_finalize(st);
		return rc;
	}
	sql_finalize(st);
	if (sql_changes(s->db) == 0)
		return 0;
	(void)snprintf(details, sizeof(details), "team=%.40s step=%d->%d "
	    "state=%.16s deliveries=%zu%s%.16s", e->team, e->from_step,
	    e->to_step, e->state, e->ndels, e->why != NULL ? " why=" : "",
	    e->why != NULL ? e->why : "");
	if ((rc = insert_deliveries(s, e->alert_id, e->dels, e->ndels, now,
	    "alert", err)) != 0 || (rc = audit_append(s, now, actor,
	    strcmp(e->state, "active") == 0 ? "escalate" : e->state,
	    e->alert_id, details, err)) != 0 || (rc = page_desk(s, e, now,
	    actor, err)) != 0)
		return rc;
	*ret_moved = true;
	return 0;
}

int
store_escalate_batch(struct store *s, const struct store_escalation *es,
    size_t n, int64_t now, const char *actor, bool *ret_moved,
    struct tocsin_err *err)
{
	int rc;

	for (size_t i = 0; i < n; i++)
		ret_moved[i] = false;
	if (n == 0)
		return 0;
	s->unavailable = false;
	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = escalate_one(s, &es[i], now, actor, &ret_moved[i],
		    err)) != 0)
			break;
	/* all or nothing: a batch that does not commit moved no team */
	if (rc == 0 && (rc = sq_commit(s, err)) == 0)
		return 0;
	sq_rollback(s);
	for (size_t i = 0; i < n; i++)
		ret_moved[i] = false;
	return rc;
}

int
store_escalate(struct store *s, const struct store_escalation *e,
    const struct store_delivery_plan *dels, size_t ndels, int64_t now,
    const char *actor, struct tocsin_err *err)
{
	struct store_escalation one = *e;
	bool moved = false;
	int rc;

	one.dels = dels;
	one.ndels = ndels;
	if ((rc = store_escalate_batch(s, &one, 1, now, actor, &moved,
	    err)) != 0)
		return rc;
	if (!moved)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "team %s of alert %s "
		    "moved on already", e->team, e->alert_id);
	return 0;
}

/* One notice per address of channel that the team's alert was sent to,
   but not to the contact who acknowledged. */
static int
ack_notices(struct store *s, const struct store_ack_in *a,
    const char *channel, int64_t now, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "INSERT INTO deliveries (alert_id, team, step, "
	    "channel, contact, address, next_attempt, created, updated, kind) "
	    "SELECT d.alert_id, d.team, CASE WHEN t.step > 0 THEN t.step ELSE 0 "
	    "END, d.channel, d.contact, "
	    "d.address, ?4, ?4, ?4, 'notice' FROM deliveries d JOIN team_states t "
	    "ON t.alert_id = d.alert_id AND t.team = d.team WHERE d.alert_id = ?1 "
	    "AND d.team = ?2 AND d.channel = ?3 AND d.kind = 'alert' AND "
	    "d.state = 'sent' AND d.contact <> '' AND (?5 IS NULL OR "
	    "d.contact <> ?5) GROUP BY d.alert_id, d.team, t.step, d.channel, "
	    "d.contact, d.address ORDER BY min(d.id)", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->alert_id);
	sq_text(st, 2, a->team);
	sq_text(st, 3, channel);
	sql_bind_int64(st, 4, now);
	/* the one who acknowledged, when the gateway knows who: a name
	   someone typed keeps nobody from hearing of it */
	sq_text(st, 5, a->contact);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err,
	    "queue notices");
	sql_finalize(st);
	return rc;
}

/* A contact of a check campaign answered by an endpoint's own link or
   code: the endpoint, and the contact, worked when the check was made
   (sent), which is the date recorded, so that an old check's link kept
   and used later never makes an endpoint look fresh. */
static int
contact_checked(struct store *s, const struct store_ack_in *a, int64_t now,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "INSERT INTO contact_checks (team, contact, verified, "
	    "via, alert_id) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (team, "
	    "contact) DO UPDATE SET verified = CASE WHEN "
	    "contact_checks.verified > ?3 THEN contact_checks.verified ELSE ?3 "
	    "END, via = ?4, alert_id = ?5", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->team);
	sq_text(st, 2, a->contact);
	sql_bind_int64(st, 3, now);
	sq_text(st, 4, a->via);
	sq_text(st, 5, a->alert_id);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err,
	    "record a contact check");
	sql_finalize(st);
	if (rc != 0)
		return rc;
	if (sq_prepare(s, "INSERT INTO endpoint_checks (team, contact, channel, "
	    "address, verified, via, alert_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
	    "?7) ON CONFLICT (team, contact, channel, address) DO UPDATE SET "
	    "verified = CASE WHEN endpoint_checks.verified > ?5 THEN "
	    "endpoint_checks.verified ELSE ?5 END, via = ?6, alert_id = ?7",
	    &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->team);
	sq_text(st, 2, a->contact);
	sq_text(st, 3, a->ep_channel);
	sq_text(st, 4, a->ep_address);
	sql_bind_int64(st, 5, now);
	sq_text(st, 6, a->via);
	sq_text(st, 7, a->alert_id);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err,
	    "record an endpoint check");
	sql_finalize(st);
	return rc;
}

static void
fill_check(struct sql_stmt *st, void *p)
{
	struct store_contact_check *r = p;

	r->team = sq_dup(st, 0);
	r->contact = sq_dup(st, 1);
	r->verified = sql_column_int64(st, 2);
	r->via = sq_dup(st, 3);
	r->channel = sq_dup(st, 4);
	r->address = sq_dup(st, 5);
}

int
store_contact_checks(struct store *s, struct store_contact_check **ret,
    size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	*ret = NULL;
	*n = 0;
	/* a contact's confirmations from before endpoints were recorded
	   (stores before version 7) still count for the contact, with no
	   endpoint ("") */
	if (sq_prepare(s, "SELECT team, contact, verified, via, channel, "
	    "address FROM endpoint_checks UNION ALL SELECT team, contact, "
	    "verified, via, '', '' FROM contact_checks ORDER BY 1, 2", &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_check, err);
	sql_finalize(st);
	return rc;
}

void
store_contact_checks_free(struct store_contact_check *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].team);
		free(rows[i].contact);
		free(rows[i].via);
		free(rows[i].channel);
		free(rows[i].address);
	}
	free(rows);
}

/* The signature that made a signed ack acks once: its digest is kept
   with the ack, and a second ack by it is refused (TOCSIN_EPERM, naming
   what it acked first). */
static int
ack_signature_once(struct store *s, const struct store_ack_in *a,
    int64_t now, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "SELECT alert_id, team FROM ack_signatures WHERE "
	    "digest = ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->sig_digest);
	if (sql_step(st) == SQL_ROW) {
		rc = tocsin_fail(err, TOCSIN_EPERM, "this signature already "
		    "acknowledged alert %.64s for team %.64s; a signature acks "
		    "once", sql_column_text(st, 0),
		    sql_column_text(st, 1));
		sql_finalize(st);
		return rc;
	}
	sql_finalize(st);
	if (sq_prepare(s, "INSERT INTO ack_signatures (digest, alert_id, team, "
	    "at) VALUES (?, ?, ?, ?)", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->sig_digest);
	sq_text(st, 2, a->alert_id);
	sq_text(st, 3, a->team);
	sql_bind_int64(st, 4, now);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err,
	    "keep the signature of an ack");
	sql_finalize(st);
	return rc;
}

/* Whether (alert, team) is in the store: 0 with *campaign (the alert is a
   check of contacts) and *sent (when it was accepted), TOCSIN_ENOTFOUND
   (also for a team told something that asks nothing), or
   TOCSIN_ESTORE. */
static int
ack_team_alert(struct store *s, const struct store_ack_in *a, bool *campaign,
    int64_t *sent, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;

	if (sq_prepare(s, "SELECT a.status, a.received, t.state FROM "
	    "team_states t JOIN alerts a ON "
	    "a.id = t.alert_id WHERE t.alert_id = ? AND t.team = ?", &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->alert_id);
	sq_text(st, 2, a->team);
	if (sql_step(st) != SQL_ROW) {
		sql_finalize(st);
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "alert %s has no team "
		    "%s", a->alert_id, a->team);
	}
	if (sql_column_text(st, 2) != NULL && strcmp((const char *)
	    sql_column_text(st, 2), "told") == 0) {
		sql_finalize(st);
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "alert %s asks team %s "
		    "nothing (a receipt or a notice): there is nothing to "
		    "acknowledge", a->alert_id, a->team);
	}
	*campaign = sql_column_text(st, 0) != NULL && strcmp((const char *)
	    sql_column_text(st, 0), "System") == 0;
	*sent = sql_column_int64(st, 1);
	sql_finalize(st);
	return 0;
}

/* Keep the ack a among every ack of the alert, counted or not. */
static int
ack_insert(struct store *s, const struct store_ack_in *a, int64_t now,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "INSERT INTO acks (alert_id, team, by_whom, via, "
	    "strength, at, note) VALUES (?,?,?,?,?,?,?)", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->alert_id);
	sq_text(st, 2, a->team);
	sq_text(st, 3, a->by);
	sq_text(st, 4, a->via);
	sq_text(st, 5, a->strength);
	sql_bind_int64(st, 6, now);
	if (a->note != NULL)
		sq_text(st, 7, a->note);
	else
		sql_bind_null(st, 7);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err, "insert ack");
	sql_finalize(st);
	return rc;
}

/* The team's first counted ack: its state becomes acked (*changed > 0
   when it was not before), and then what was still waiting to go is
   cancelled and the other contacts hear of it. */
static int
ack_team_state(struct store *s, const struct store_ack_in *a, int64_t now,
    int *changed, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "UPDATE team_states SET state = 'acked', "
	    "deadline = 0, ack_by = ?, ack_via = ?, ack_strength = ?, ack_at = "
	    "?, ack_contact = ? WHERE alert_id = ? AND team = ? AND state IN "
	    "('active', 'unreached')", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, a->by);
	sq_text(st, 2, a->via);
	sq_text(st, 3, a->strength);
	sql_bind_int64(st, 4, now);
	sq_text(st, 5, a->contact);
	sq_text(st, 6, a->alert_id);
	sq_text(st, 7, a->team);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err, "ack");
	sql_finalize(st);
	if (rc != 0)
		return rc;
	if ((*changed = sql_changes(s->db)) == 0)
		return 0;
	/* what was still waiting to go is moot now */
	if (sq_prepare(s, "UPDATE deliveries SET state = 'cancelled', "
	    "last_error = 'cancelled: the team acknowledged' || " ROW_KEEP_LAST
	    ", updated = ? WHERE alert_id = ? AND team = ? AND state IN "
	    "('pending', 'failed')", &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, now);
	sq_text(st, 2, a->alert_id);
	sq_text(st, 3, a->team);
	rc = sql_step(st) == SQL_DONE ? 0 :
	    sq_fail(s, err, "cancel deliveries");
	sql_finalize(st);
	for (size_t i = 0; rc == 0 && a->notice_channels != NULL &&
	    a->notice_channels[i] != NULL; i++)
		rc = ack_notices(s, a, a->notice_channels[i], now, err);
	return rc;
}

int
store_ack(struct store *s, const struct store_ack_in *a, int64_t now,
    const char *actor, struct tocsin_err *err)
{
	char details[512];
	int rc, changed = 0;
	int64_t sent = 0;
	bool campaign = false;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if ((rc = ack_team_alert(s, a, &campaign, &sent, err)) != 0 ||
	    (a->sig_digest != NULL &&
	    (rc = ack_signature_once(s, a, now, err)) != 0) ||
	    (rc = ack_insert(s, a, now, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	if (campaign) {
		/* a check of contacts: each contact answers for itself, by
		   an endpoint's own link or code, and nobody's answer stops
		   the others being asked */
		bool known = a->contact != NULL && a->ep_channel != NULL &&
		    a->ep_address != NULL;

		if (known)
			rc = contact_checked(s, a, sent, err);
		changed = rc == 0 && known;
	} else if (!a->recorded_only)
		rc = ack_team_state(s, a, now, &changed, err);
	(void)snprintf(details, sizeof(details), "team=%.40s by=%.100s "
	    "via=%.60s strength=%.16s%s", a->team, a->by, a->via, a->strength,
	    campaign ? (changed > 0 ? " contact-verified" : " no-contact") :
	    a->recorded_only ? " not-counted" : changed > 0 ? "" : " repeat");
	if (rc != 0 || (rc = audit_append(s, now, actor, campaign ? "verify" :
	    "ack", a->alert_id, details, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	if ((rc = sq_commit(s, err)) != 0)
		return rc;
	if (campaign)
		return changed > 0 ? 0 : 1;
	return changed > 0 || a->recorded_only ? 0 : 1;
}

int
store_token_find(struct store *s, const char *token_hash, char *alert_id,
    size_t alen, char *team, size_t tlen, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "SELECT alert_id, team FROM team_states WHERE "
	    "token_hash = ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, token_hash);
	if ((rc = sql_step(st)) == SQL_ROW) {
		(void)snprintf(alert_id, alen, "%s",
		    sql_column_text(st, 0));
		(void)snprintf(team, tlen, "%s",
		    sql_column_text(st, 1));
	}
	sql_finalize(st);
	if (rc == SQL_ROW)
		return 0;
	if (rc != SQL_DONE)
		return sq_fail(s, err, "token look-up");
	return tocsin_fail(err, TOCSIN_ENOTFOUND, "no such token");
}

int
store_check_token_find(struct store *s, const char *token_hash,
    struct store_check_token *ret, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "SELECT alert_id, team, contact, channel, address "
	    "FROM check_tokens WHERE token_hash = ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, token_hash);
	if ((rc = sql_step(st)) == SQL_ROW) {
		char *f[] = { ret->alert_id, ret->team, ret->contact,
			ret->channel, ret->address };
		size_t len[] = { sizeof(ret->alert_id), sizeof(ret->team),
			sizeof(ret->contact), sizeof(ret->channel),
			sizeof(ret->address) };

		for (int i = 0; i < 5; i++)
			(void)snprintf(f[i], len[i], "%s",
			    sql_column_text(st, i));
	}
	sql_finalize(st);
	if (rc == SQL_ROW)
		return 0;
	if (rc != SQL_DONE)
		return sq_fail(s, err, "check link look-up");
	return tocsin_fail(err, TOCSIN_ENOTFOUND, "no such token");
}

int
store_team_alerts(struct store *s, const char *team, size_t max,
    char (*ids)[64], size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;

	*n = 0;
	if (sq_prepare(s, "SELECT t.alert_id FROM team_states t JOIN alerts a "
	    "ON a.id = t.alert_id WHERE t.team = ? ORDER BY a.received DESC "
	    "LIMIT ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, team);
	sql_bind_int64(st, 2, (int64_t)max);
	while (sql_step(st) == SQL_ROW && *n < max)
		(void)snprintf(ids[(*n)++], 64, "%s",
		    sql_column_text(st, 0));
	sql_finalize(st);
	return 0;
}

int
store_delivery_by_ref(struct store *s, const char *ref, char *alert,
    size_t alen, char *team, size_t tlen, char *contact, size_t clen,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "SELECT alert_id, team, contact FROM deliveries "
	    "WHERE provider_ref = ? LIMIT 1", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, ref);
	if ((rc = sql_step(st)) == SQL_ROW) {
		(void)snprintf(alert, alen, "%s",
		    sql_column_text(st, 0));
		(void)snprintf(team, tlen, "%s",
		    sql_column_text(st, 1));
		(void)snprintf(contact, clen, "%s",
		    sql_column_text(st, 2));
	}
	sql_finalize(st);
	return rc == SQL_ROW ? 0 : tocsin_fail(err, TOCSIN_ENOTFOUND,
	    "no delivery with that reference");
}

/* --- tries at ack codes ---------------------------------------------------- */

/* The tries counted for key in its window now (0 when none or the window
   is over). */
static int
guess_count(struct store *s, const struct store_guess *g, int64_t now,
    int *ret_tries, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;

	*ret_tries = 0;
	if (sq_prepare(s, "SELECT start, tries FROM ack_guesses WHERE "
	    "guess_key = ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, g->key);
	if (sql_step(st) == SQL_ROW &&
	    now - sql_column_int64(st, 0) < g->window)
		*ret_tries = sql_column_int(st, 1);
	sql_finalize(st);
	return 0;
}

/* One more try for key: the window starts again when it was over. */
static int
guess_add(struct store *s, const struct store_guess *g, int64_t now,
    int tries, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "INSERT INTO ack_guesses (guess_key, start, tries) "
	    "VALUES (?1, ?2, 1) ON CONFLICT (guess_key) DO UPDATE SET tries = "
	    "?3, start = CASE WHEN ?3 = 1 THEN ?2 ELSE ack_guesses.start END",
	    &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, g->key);
	sql_bind_int64(st, 2, now);
	sql_bind_int64(st, 3, tries + 1);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err,
	    "count a try at a code");
	sql_finalize(st);
	return rc;
}

int
store_guess_try(struct store *s, struct store_guess *g, size_t n,
    int64_t now, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc, tries;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	/* windows last at most a day: older counters are gone */
	if (sq_prepare(s, "DELETE FROM ack_guesses WHERE start < ?", &st,
	    err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sql_bind_int64(st, 1, now - STORE_GUESS_WINDOW_MAX);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err,
	    "forget old tries at codes");
	sql_finalize(st);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if ((rc = guess_count(s, &g[i], now, &tries, err)) != 0)
			break;
		g[i].over = tries >= g[i].limit || (i > 0 && g[0].over);
		if (!g[i].over)
			rc = guess_add(s, &g[i], now, tries, err);
	}
	if (rc != 0 || (rc = sq_commit(s, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	return 0;
}

int
store_guess_undo(struct store *s, const struct store_guess *g, size_t n,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if (sq_prepare(s, "UPDATE ack_guesses SET tries = tries - 1 WHERE "
	    "guess_key = ? AND tries > 0", &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (g[i].over)
			continue;
		sql_reset(st);
		sq_text(st, 1, g[i].key);
		rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err,
		    "take back a try at a code");
	}
	sql_finalize(st);
	if (rc != 0 || (rc = sq_commit(s, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	return 0;
}

/* --- backup and retention ------------------------------------------------- */

int
store_backup(struct store *s, const char *path, store_progress_fn progress,
    void *arg, struct tocsin_err *err)
{
	if (sq_pg(s))
		return tocsin_fail(err, TOCSIN_EUSAGE, "store backup copies a "
		    "SQLite store; a PostgreSQL store is backed up with "
		    "PostgreSQL's own tools (pg_dump, or a base backup with its "
		    "WAL archive)");
	return sql_sqlite_backup(s->db, path, progress, arg, err);
}

/* An alert still live: a team's ladder active, or a delivery not ended
   (blanking its address would send it nowhere). */
#define PRUNE_LIVE "(EXISTS (SELECT 1 FROM team_states t WHERE " \
    "t.alert_id = a.id AND t.state = 'active') OR EXISTS (SELECT 1 FROM " \
    "deliveries d WHERE d.alert_id = a.id AND d.state IN ('pending', " \
    "'sending', 'failed')))"
/* A value blanked, or NULL kept NULL. */
#define PRUNE_SET(col) col " = CASE WHEN " col " IS NULL THEN NULL ELSE '" \
    STORE_PRUNED "' END"
#define PRUNE_LEFT(col) "coalesce(" col ", '" STORE_PRUNED "') <> '" \
    STORE_PRUNED "'"

/* What a prune blanks in one alert, each statement bound to its id;
   rows already blanked are not counted again. */
static const char *const prune_sql[] = {
	"UPDATE deliveries SET " PRUNE_SET("contact") ", " PRUNE_SET("address")
	", " PRUNE_SET("last_error") " WHERE alert_id = ?1 AND ("
	PRUNE_LEFT("contact") " OR " PRUNE_LEFT("address") " OR "
	PRUNE_LEFT("last_error") ")",
	"UPDATE acks SET " PRUNE_SET("by_whom") ", " PRUNE_SET("note")
	" WHERE alert_id = ?1 AND (" PRUNE_LEFT("by_whom") " OR "
	PRUNE_LEFT("note") ")",
	"UPDATE team_states SET " PRUNE_SET("ack_by") ", "
	PRUNE_SET("ack_contact") " WHERE alert_id = ?1 AND ("
	PRUNE_LEFT("ack_by") " OR " PRUNE_LEFT("ack_contact") ")",
	"UPDATE check_tokens SET " PRUNE_SET("contact") ", "
	PRUNE_SET("address") " WHERE alert_id = ?1 AND ("
	PRUNE_LEFT("contact") " OR " PRUNE_LEFT("address") ")",
};

/* Blank one alert inside the caller's transaction; counts into *pa. */
static int
prune_alert(struct store *s, struct store_prune_alert *pa,
    struct tocsin_err *err)
{
	size_t counts[4] = { 0 };
	struct sql_stmt *st = NULL;

	for (size_t i = 0; i < sizeof(prune_sql) / sizeof(prune_sql[0]); i++) {
		if (sq_prepare(s, prune_sql[i], &st, err) != 0)
			return TOCSIN_ESTORE;
		sq_text(st, 1, pa->id);
		if (sql_step(st) != SQL_DONE) {
			sql_finalize(st);
			return sq_fail(s, err, "prune");
		}
		counts[i] = (size_t)sql_changes(s->db);
		sql_finalize(st);
	}
	pa->deliveries = counts[0];
	pa->acks = counts[1];
	/* a check's links count with its deliveries: both name endpoints */
	pa->teams = counts[2];
	pa->deliveries += counts[3];
	return 0;
}

/* Append an alert to the result; 0 or TOCSIN_ENOMEM. */
static int
prune_keep(struct store_prune *p, const struct store_prune_alert *pa,
    size_t *cap, struct tocsin_err *err)
{
	if (base_grow(&p->alerts, cap, p->nalerts + 1,
	    sizeof(*p->alerts)) != 0)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	p->alerts[p->nalerts++] = *pa;
	p->deliveries += pa->deliveries;
	p->acks += pa->acks;
	p->teams += pa->teams;
	return 0;
}

/* The alerts accepted before the date, blanked unless live, inside the
   caller's transaction. */
static int
prune_alerts(struct store *s, int64_t before, struct store_prune *p,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	size_t cap = 0;
	int rc = 0, r = SQL_DONE;

	if (sq_prepare(s, "SELECT a.id, " PRUNE_LIVE " FROM alerts a WHERE "
	    "a.received < ? ORDER BY a.received, a.id", &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, before);
	while (rc == 0 && (r = sql_step(st)) == SQL_ROW) {
		struct store_prune_alert pa = { .live =
		    sql_column_int(st, 1) != 0 };

		(void)snprintf(pa.id, sizeof(pa.id), "%s",
		    sql_column_text(st, 0));
		if (!pa.live && (rc = prune_alert(s, &pa, err)) != 0)
			break;
		if (pa.live || pa.deliveries + pa.acks + pa.teams > 0)
			rc = prune_keep(p, &pa, &cap, err);
	}
	if (rc == 0 && r != SQL_DONE)
		rc = sq_fail(s, err, "prune");
	sql_finalize(st);
	return rc;
}

/* Tries at codes whose window ended before the date: their keys name
   senders (mail-from:ADDRESS, sms-from:NUMBER). */
static int
prune_guesses(struct store *s, int64_t before, struct store_prune *p,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "DELETE FROM ack_guesses WHERE start < ?", &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, before - STORE_GUESS_WINDOW_MAX);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err, "prune");
	p->guesses = rc == 0 ? (size_t)sql_changes(s->db) : 0;
	sql_finalize(st);
	return rc;
}

/* Requests for help received before the date: who asked and what they
   wrote.  Kept while the desk's page of one is still live, and for the
   window in which a signature may make a request (a pruned one's
   signature would make it again). */
static int
prune_requests(struct store *s, int64_t before, int64_t now,
    struct store_prune *p, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, "DELETE FROM requests WHERE at < ?1 AND at < ?2 AND "
	    "NOT EXISTS (SELECT 1 FROM team_states t WHERE t.alert_id = "
	    "requests.page_alert AND t.state = 'active')", &st, err) != 0)
		return TOCSIN_ESTORE;
	sql_bind_int64(st, 1, before);
	sql_bind_int64(st, 2, now - STORE_REQUEST_SIG_WINDOW);
	rc = sql_step(st) == SQL_DONE ? 0 : sq_fail(s, err, "prune");
	p->requests = rc == 0 ? (size_t)sql_changes(s->db) : 0;
	sql_finalize(st);
	return rc;
}

/* The prune's transaction: blank, audit, then commit (or roll back for a
   dry run). */
static int
prune_tx(struct store *s, int64_t before, bool dry_run, int64_t now,
    const char *actor, struct store_prune *p, struct tocsin_err *err)
{
	size_t live = 0, pruned;
	char details[224];
	int rc;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if ((rc = prune_alerts(s, before, p, err)) != 0 ||
	    (rc = prune_guesses(s, before, p, err)) != 0 ||
	    (rc = prune_requests(s, before, now, p, err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	for (size_t i = 0; i < p->nalerts; i++)
		live += p->alerts[i].live;
	pruned = p->nalerts - live;
	(void)snprintf(details, sizeof(details), "before=%lld alerts=%zu "
	    "deliveries=%zu acks=%zu teams=%zu guesses=%zu requests=%zu "
	    "live-kept=%zu", (long long)before, pruned, p->deliveries, p->acks,
	    p->teams, p->guesses, p->requests, live);
	if ((rc = audit_append(s, now, actor, "prune", "store", details,
	    err)) != 0 || dry_run) {
		sq_rollback(s);
		return rc;
	}
	return sq_commit(s, err);
}

int
store_prune(struct store *s, int64_t before, bool dry_run, int64_t now,
    const char *actor, struct store_prune *ret, struct tocsin_err *err)
{
	struct store_prune p = { 0 };
	int rc;

	*ret = p;
	/* freed space is zeroed where the engine can (SQLite's
	   secure_delete) for the prune's transaction */
	if (s->db->ops->scrub_begin(s->db) != 0)
		return sq_fail(s, err, "prepare the scrub");
	rc = prune_tx(s, before, dry_run, now, actor, &p, err);
	/* Rows rewritten before this prune (a delivery's state changed)
	   left copies in the store's free space: the engine rewrites the
	   tables and empties its log of them (SQLite: VACUUM and a
	   truncating checkpoint; PostgreSQL: VACUUM FULL); every time, so
	   that a prune run again with serve stopped scrubs what an earlier
	   one could not. */
	if (s->db->ops->scrub_end(s->db, rc == 0 && !dry_run) != 0 &&
	    rc == 0 && !dry_run)
		p.scrub_failed = true;
	if (rc != 0) {
		store_prune_free(&p);
		return rc;
	}
	*ret = p;
	return 0;
}

void
store_prune_free(struct store_prune *p)
{
	if (p == NULL)
		return;
	free(p->alerts);
	p->alerts = NULL;
	p->nalerts = 0;
}

/* --- copying a store --------------------------------------------------------- */

/* What store_copy copies, parents first (the foreign keys), with each
   column's kind: T text, I integer, B bytes.  A table's rows keep their
   order (signatures are read back in the order they were received). */
static const struct copy_table {
	const char *name, *cols, *kinds, *order;
} copy_tables[] = {
	{ "alerts", "id, identifier, sender, sent, sent_t, status, msg_type, "
	    "scope, severity, headline, refs, cap, received", "TTTTITTTITTBI",
	    "received, id" },
	{ "signatures", "alert_id, issuer, kind, signer, sig", "TTTTB", NULL },
	{ "team_states", "alert_id, team, step, deadline, state, ack_by, "
	    "ack_via, ack_strength, ack_at, token_hash, ack_contact, "
	    "on_failure, early_why, moved_why", "TTIITTTTITTTTT",
	    "alert_id, team" },
	{ "deliveries", "id, alert_id, team, step, channel, contact, address, "
	    "state, attempts, next_attempt, lease_owner, lease_until, "
	    "provider_ref, last_error, created, updated, segments, kind, "
	    "tried, reclaims", "ITTITTTTIITITTIIITII", "id" },
	{ "acks", "id, alert_id, team, by_whom, via, strength, at, note",
	    "ITTTTTIT", "id" },
	{ "audit", "seq, ts, actor, action, object, details, prev_hash, hash",
	    "IITTTTTT", "seq" },
	{ "clock_base", "id, boot, wall_minus_mono", "ITI", "id" },
	{ "contact_checks", "team, contact, verified, via, alert_id", "TTITT",
	    "team, contact" },
	{ "ack_signatures", "digest, alert_id, team, at", "TTTI", "digest" },
	{ "ack_guesses", "guess_key, start, tries", "TII", "guess_key" },
	{ "check_tokens", "token_hash, alert_id, team, contact, channel, "
	    "address", "TTTTTT", "token_hash" },
	{ "endpoint_checks", "team, contact, channel, address, verified, via, "
	    "alert_id", "TTTTITT", "team, contact, channel, address" },
	{ "requests", "id, team, contact, via, strength, body, name_us, at, "
	    "sig_digest, state, page_alert, receipt_alert, relay, relayed_at",
	    "TTTTTTIITTTTTI", "at, id" },
};

/* One table's rows from one store into the other, inside to's write
   transaction (and from's read one). */
static int
copy_table(struct store *from, struct store *to, const struct copy_table *t,
    int64_t *ret_rows, struct tocsin_err *err)
{
	struct sql_stmt *in = NULL, *out = NULL;
	char sel[512], ins[512], marks[64] = "";
	size_t ncol = strlen(t->kinds);
	enum sql_step r;
	int rc = 0;

	for (size_t i = 0, o = 0; i < ncol && o + 3 < sizeof(marks); i++)
		o += (size_t)snprintf(marks + o, sizeof(marks) - o, "%s",
		    i ? ",?" : "?");
	(void)snprintf(sel, sizeof(sel), "SELECT %s FROM %s ORDER BY %s",
	    t->cols, t->name, t->order != NULL ? t->order : sq_pg(from) ?
	    "ord" : "rowid");
	(void)snprintf(ins, sizeof(ins), "INSERT INTO %s (%s) VALUES (%s)",
	    t->name, t->cols, marks);
	if (sq_prepare(from, sel, &in, err) != 0 ||
	    sq_prepare(to, ins, &out, err) != 0) {
		sql_finalize(in);
		return TOCSIN_ESTORE;
	}
	*ret_rows = 0;
	while (rc == 0 && (r = sql_step(in)) == SQL_ROW) {
		sql_reset(out);
		for (int i = 0; i < (int)ncol; i++) {
			size_t len = 0;
			const void *b;

			if (sql_column_null(in, i))
				sql_bind_null(out, i + 1);
			else if (t->kinds[i] == 'I')
				sql_bind_int64(out, i + 1, sql_column_int64(in, i));
			else if (t->kinds[i] == 'T')
				sq_text(out, i + 1, sql_column_text(in, i));
			else if ((b = sql_column_blob(in, i, &len)) != NULL)
				sql_bind_blob(out, i + 1, b, len);
			else
				sql_bind_blob(out, i + 1, "", 0);
		}
		if (sql_step(out) != SQL_DONE)
			rc = sq_fail(to, err, t->name);
		else
			(*ret_rows)++;
	}
	if (rc == 0 && r != SQL_DONE)
		rc = sq_fail(from, err, t->name);
	sql_finalize(in);
	sql_finalize(out);
	return rc;
}

/* The copy's identity columns go on after the ids copied. */
static int
copy_sequences(struct store *to, struct tocsin_err *err)
{
	static const char *const seqs[][2] = {
		{ "deliveries", "id" }, { "acks", "id" }, { "audit", "seq" },
		{ "clock_base", "id" }, { "signatures", "ord" },
	};
	char sql[256];
	int rc = 0;

	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]) && rc == 0 &&
	    sq_pg(to); i++) {
		(void)snprintf(sql, sizeof(sql), "SELECT setval("
		    "pg_get_serial_sequence('%s', '%s'), coalesce(max(%s), 0) + "
		    "1, false) FROM %s", seqs[i][0], seqs[i][1], seqs[i][1],
		    seqs[i][0]);
		rc = sq_exec(to, sql, err);
	}
	return rc;
}

/* The copy's chain verified and its head the source's. */
static int
copy_verify(struct store *from, struct store *to, struct tocsin_err *err)
{
	char h1[65], h2[65];
	int64_t s1, s2, bad, n;
	int rc;

	if ((rc = store_audit_head(from, &s1, h1, err)) != 0 ||
	    (rc = store_audit_head(to, &s2, h2, err)) != 0 ||
	    (rc = store_audit_verify(to, &bad, &n, err)) != 0)
		return rc;
	if (s1 != s2 || strcmp(h1, h2) != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "the copy's audit log ends "
		    "at record %lld, the store's at %lld: the copy is not whole",
		    (long long)s2, (long long)s1);
	return 0;
}

int
store_copy(struct store *from, struct store *to, store_copy_fn told,
    void *arg, int64_t *ret_rows, struct tocsin_err *err)
{
	int64_t all = 0, rows;
	int rc;

	if (ret_rows != NULL)
		*ret_rows = 0;
	if ((rc = sq_begin(to, true, err)) != 0)
		return rc;
	{
		struct sql_stmt *st = NULL;
		int64_t held = -1;

		if (sq_prepare(to, "SELECT (SELECT count(*) FROM alerts) + "
		    "(SELECT count(*) FROM audit)", &st, err) == 0 &&
		    sql_step(st) == SQL_ROW)
			held = sql_column_int64(st, 0);
		sql_finalize(st);
		if (held != 0) {
			sq_rollback(to);
			return held < 0 ? sq_fail(to, err, "read the copy") :
			    tocsin_fail(err, TOCSIN_EUSAGE, "the store to copy "
			    "into holds alerts or audit records already; copy "
			    "into a new, empty store");
		}
	}
	if ((rc = sq_begin(from, false, err)) != 0) {
		sq_rollback(to);
		return rc;
	}
	for (size_t i = 0; i < sizeof(copy_tables) / sizeof(copy_tables[0]) &&
	    rc == 0; i++) {
		if ((rc = copy_table(from, to, &copy_tables[i], &rows,
		    err)) == 0) {
			all += rows;
			if (told != NULL)
				told(arg, copy_tables[i].name, rows);
		}
	}
	sq_rollback(from);
	if (rc != 0 || (rc = copy_sequences(to, err)) != 0 ||
	    (rc = sq_commit(to, err)) != 0) {
		sq_rollback(to);
		return rc;
	}
	if ((rc = copy_verify(from, to, err)) != 0)
		return rc;
	if (ret_rows != NULL)
		*ret_rows = all;
	return 0;
}

/* --- requests for help (issue 22) ------------------------------------------ */

int
store_request_add(struct store *s, const struct store_request_in *r,
    const char *actor, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	char details[160];
	int rc;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	/* a team's requests in the last hour are bounded, whoever of it
	   sends them and however: each one pages the desk, and a phone or a
	   key in the wrong hands must not page it all night */
	if (sq_prepare(s, "SELECT count(*) FROM requests WHERE team = ?1 AND "
	    "at > ?2", &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sq_text(st, 1, r->team);
	sql_bind_int64(st, 2, r->at - 3600);
	rc = sql_step(st);
	if (rc != SQL_ROW) {
		rc = sq_fail(s, err, "count a team's requests");
		sql_finalize(st);
		sq_rollback(s);
		return rc;
	}
	if (sql_column_int64(st, 0) >= STORE_REQUESTS_PER_HOUR) {
		sql_finalize(st);
		sq_rollback(s);
		return tocsin_fail(err, TOCSIN_EPERM, "team %s made %d requests "
		    "in the last hour, the most it may; this one is refused "
		    "(call the desk)", r->team, STORE_REQUESTS_PER_HOUR);
	}
	sql_finalize(st);
	st = NULL;
	if (sq_prepare(s, "INSERT INTO requests (id, team, contact, via, "
	    "strength, body, name_us, at, sig_digest) VALUES "
	    "(?,?,?,?,?,?,?,?,?)", &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sq_text(st, 1, r->id);
	sq_text(st, 2, r->team);
	sq_text(st, 3, r->contact);
	sq_text(st, 4, r->via);
	sq_text(st, 5, r->strength);
	sq_text(st, 6, r->text);
	sql_bind_int64(st, 7, r->name_us ? 1 : 0);
	sql_bind_int64(st, 8, r->at);
	if (r->sig_digest != NULL)
		sq_text(st, 9, r->sig_digest);
	else
		sql_bind_null(st, 9);
	if (sql_step(st) != SQL_DONE) {
		rc = s->db->ops->fail_kind(s->db) == SQL_F_UNIQUE ?
		    tocsin_fail(err, TOCSIN_EPERM, "this signature made a "
		    "request before; a replay is refused") :
		    sq_fail(s, err, "insert request");
		sql_finalize(st);
		sq_rollback(s);
		return rc;
	}
	sql_finalize(st);
	/* the text itself is the team's, not the gateway's word: the audit
	   record says who, how and how long, not what */
	(void)snprintf(details, sizeof(details), "team=%.64s via=%.16s "
	    "strength=%.16s bytes=%zu", r->team, r->via, r->strength,
	    strlen(r->text));
	if ((rc = audit_append(s, r->at, actor, "request", r->id, details,
	    err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	return sq_commit(s, err);
}

int
store_request_note(struct store *s, const char *id, const char *page_alert,
    const char *receipt_alert, const char *relay, int64_t now,
    const char *actor, const char *action, const char *details,
    struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if ((rc = sq_begin(s, true, err)) != 0)
		return rc;
	if (sq_prepare(s, "UPDATE requests SET page_alert = coalesce(?, "
	    "page_alert), receipt_alert = coalesce(?, receipt_alert), relay = "
	    "coalesce(?, relay), state = CASE WHEN ? IS NULL THEN state ELSE "
	    "'relayed' END, relayed_at = CASE WHEN ? IS NULL THEN relayed_at "
	    "ELSE ? END WHERE id = ?", &st, err) != 0) {
		sq_rollback(s);
		return TOCSIN_ESTORE;
	}
	sq_text(st, 1, page_alert);
	sq_text(st, 2, receipt_alert);
	sq_text(st, 3, relay);
	sq_text(st, 4, relay);
	sq_text(st, 5, relay);
	sql_bind_int64(st, 6, now);
	sq_text(st, 7, id);
	if (sql_step(st) != SQL_DONE) {
		rc = sq_fail(s, err, "update request");
		sql_finalize(st);
		sq_rollback(s);
		return rc;
	}
	sql_finalize(st);
	if (sql_changes(s->db) != 1) {
		sq_rollback(s);
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "no request %.64s in "
		    "the store; 'tocsin requests' lists the open ones", id);
	}
	if (action != NULL && (rc = audit_append(s, now, actor, action, id,
	    details != NULL ? details : "", err)) != 0) {
		sq_rollback(s);
		return rc;
	}
	return sq_commit(s, err);
}

#define REQUEST_COLS "r.id, r.team, r.contact, r.via, r.strength, r.body, " \
    "r.state, r.page_alert, r.receipt_alert, r.relay, r.name_us, r.at, " \
    "coalesce(r.relayed_at, 0), (SELECT t.state FROM team_states t WHERE " \
    "t.alert_id = r.page_alert ORDER BY t.team LIMIT 1)"

static void
fill_request(struct sql_stmt *st, void *p)
{
	struct store_request_row *r = p;

	r->id = sq_dup(st, 0);
	r->team = sq_dup(st, 1);
	r->contact = sq_dup(st, 2);
	r->via = sq_dup(st, 3);
	r->strength = sq_dup(st, 4);
	r->text = sq_dup(st, 5);
	r->state = sq_dup(st, 6);
	r->page_alert = sq_dup(st, 7);
	r->receipt_alert = sq_dup(st, 8);
	r->relay = sq_dup(st, 9);
	r->name_us = sql_column_int64(st, 10) != 0;
	r->at = sql_column_int64(st, 11);
	r->relayed_at = sql_column_int64(st, 12);
	r->page_state = sq_dup(st, 13);
}

int
store_requests(struct store *s, bool open_only,
    struct store_request_row **ret, size_t *n, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	int rc;

	if (sq_prepare(s, open_only ? "SELECT " REQUEST_COLS " FROM requests r "
	    "WHERE r.state = 'open' ORDER BY r.at DESC, r.id" : "SELECT "
	    REQUEST_COLS " FROM requests r ORDER BY r.at DESC, r.id", &st,
	    err) != 0)
		return TOCSIN_ESTORE;
	rc = sq_collect(s, st, (void **)ret, n, sizeof(**ret), fill_request,
	    err);
	sql_finalize(st);
	return rc;
}

int
store_request_get(struct store *s, const char *id,
    struct store_request_row **ret, struct tocsin_err *err)
{
	struct sql_stmt *st = NULL;
	size_t n = 0;
	int rc;

	*ret = NULL;
	if (sq_prepare(s, "SELECT " REQUEST_COLS " FROM requests r WHERE "
	    "r.id = ?", &st, err) != 0)
		return TOCSIN_ESTORE;
	sq_text(st, 1, id);
	rc = sq_collect(s, st, (void **)ret, &n, sizeof(**ret), fill_request,
	    err);
	sql_finalize(st);
	if (rc == 0 && n == 0) {
		free(*ret);
		*ret = NULL;
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "no request %.64s in "
		    "the store; 'tocsin requests' lists the open ones", id);
	}
	return rc;
}

void
store_request_rows_free(struct store_request_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].id);
		free(rows[i].team);
		free(rows[i].contact);
		free(rows[i].via);
		free(rows[i].strength);
		free(rows[i].text);
		free(rows[i].state);
		free(rows[i].page_alert);
		free(rows[i].receipt_alert);
		free(rows[i].relay);
		free(rows[i].page_state);
	}
	free(rows);
}
