/*
 * store.h: the store is the queue.  Operations, never SQL.
 *
 * Alerts, their signatures, per-team notification state, deliveries, acks
 * and the hash-chained audit log live behind these operations, so that the
 * SQLite back end (store_sqlite.c, WAL, synchronous=FULL) can be joined by a
 * PostgreSQL one without touching callers.  A struct store is one connection:
 * one per thread.  Times are UTC seconds passed in by the caller, so tests
 * and drills can run on their own clock.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin.h"

struct store;

/* Delivery states (DESIGN.md): pending -> sending -> sent, failed (will
   retry), dead (gave up), cancelled (an ack or Cancel made it moot). */
enum store_dstate { STORE_D_PENDING, STORE_D_SENDING, STORE_D_SENT,
	STORE_D_FAILED, STORE_D_DEAD, STORE_D_CANCELLED,
	/* a provider's delivery receipt after sent */
	STORE_D_DELIVERED, STORE_D_UNDELIVERED, STORE_D_COUNT };
const char *store_dstate_name(enum store_dstate st);

/* Open (creating the schema when new) the store at path: a SQLite file,
   or a PostgreSQL database when path is a conninfo (policy_store_is_pg).
   A new SQLite store's folders are made 0700 and its file 0600 (SQLite
   gives its journal files the file's mode), whatever the umask.  *ret is owned by the caller:
   store_close(). */
int store_open(const char *path, struct store **ret, struct tocsin_err *err);

/* Whether a PostgreSQL store's conninfo (gateway.store) is one the store
   takes: no password in it (secrets come from 0600 files only), and its
   password file (passfile=), when named, a regular file of mode 0600.
   0, or TOCSIN_ECONFIG saying what is wrong, never with the conninfo's
   values. */
int store_pg_check(const char *conninfo, struct tocsin_err *err);

/* Make the folder of the store at path (and its parents) when missing,
   mode 0700: for files kept beside the store (the ack secret) that may be
   made before the store is first opened. */
void store_make_folder(const char *path);
void store_close(struct store *s);

/* What submit writes.  Strings are borrowed for the call. */
struct store_alert {
	const char *id;			/* chosen by the caller, unique */
	const char *identifier, *sender, *sent;
	int64_t sent_t;
	const char *status, *msg_type, *scope;
	int severity;			/* enum policy_severity */
	const char *headline;		/* first info's headline, may be NULL */
	const char *references;		/* may be NULL */
	const void *cap;		/* the verified CAP document */
	size_t cap_len;
	int64_t received;
	/* A Cancel or an Update stops the ladders of an earlier alert for
	   these teams (state stop_state), and its deliveries still waiting
	   are cancelled, in the same transaction.  NULL: nothing. */
	const char *stops_alert;
	const char *const *stop_teams;
	size_t nstop_teams;
	const char *stop_state;		/* "cancelled" or "updated" */
	/* A check of contacts: the link of each endpoint of each contact
	   (its deliveries are then of kind check: a message per contact).
	   NULL: an alert.  Its teams are stored "checking": each contact
	   confirms for itself, no ladder waits, it is no open alert. */
	const struct store_check_ep *check_eps;
	size_t ncheck_eps;
	/* A message that asks nothing (a request's receipt, a relay's
	   notice): its teams are stored "told", not active (no ack is asked,
	   nothing escalates, it is no open alert), and its deliveries, of
	   kind told, go whatever the team's state. */
	bool told;
};

struct store_check_ep {
	const char *team, *contact;	/* contact "" for a team endpoint */
	const char *channel, *address;
	const char *token_hash;		/* SHA-256 (hex) of its link token */
};

struct store_signature {
	const char *issuer;		/* issuer name from the configuration */
	const char *kind;		/* "openpgp" or "cms" */
	const char *signer;		/* fingerprint or certificate SHA-256 */
	const void *sig;		/* signature bytes as received (may be NULL
					   for inline signatures) */
	size_t sig_len;
};

struct store_team_plan {
	const char *team;
	int step;
	int64_t deadline;		/* next step due; 0 when none */
	const char *token_hash;		/* SHA-256 (hex) of the team's ack
					   link token; NULL when none */
	bool wait_on_failure;		/* its policy's on_failure = "wait":
					   a step whose every delivery died
					   waits out its time all the same */
};

struct store_delivery_plan {
	const char *team;
	int step;
	const char *channel;		/* "pgp-email", "sms", ... */
	const char *contact;		/* contact name, "" for a team endpoint */
	const char *address;		/* e-mail, E.164 number, host:path */
	int64_t not_before;
};

/*
 * Write an alert with its signatures, its team states and its step-0
 * deliveries, plus an audit record ("submit"), in one transaction.  An
 * alert whose identifier+sender is already stored is refused with
 * TOCSIN_EPERM naming the earlier alert; nothing is written then.
 */
int store_submit(struct store *s, const struct store_alert *a,
    const struct store_signature *sigs, size_t nsigs,
    const struct store_team_plan *teams, size_t nteams,
    const struct store_delivery_plan *dels, size_t ndels,
    const char *actor, struct tocsin_err *err);

/* Whether identifier+sender was already accepted: 1 yes (its alert id copied
   into ret_id, size idlen), 0 no. */
int store_seen(struct store *s, const char *identifier, const char *sender,
    char *ret_id, size_t idlen, struct tocsin_err *err);

/* Append one audit record in its own transaction (refusals, operator acts). */
int store_audit(struct store *s, int64_t now, const char *actor,
    const char *action, const char *object, const char *details,
    struct tocsin_err *err);

/*
 * Recompute the audit chain.  Returns 0 with *ret_count records when it
 * holds; TOCSIN_EDATA with *ret_bad_seq the first record whose hash or link
 * does not match, and err naming it.
 */
int store_audit_verify(struct store *s, int64_t *ret_bad_seq,
    int64_t *ret_count, struct tocsin_err *err);

/* The audit records of one object (an alert id), in order. */
struct store_audit_row {
	int64_t seq, ts;
	char *actor, *action, *details;
	char *object, *hash;		/* filled by store_audit_since only */
};
int store_audit_rows(struct store *s, const char *object,
    struct store_audit_row **ret, size_t *n, struct tocsin_err *err);
/* Every audit record with ts >= since, in order, every field filled. */
int store_audit_since(struct store *s, int64_t since,
    struct store_audit_row **ret, size_t *n, struct tocsin_err *err);
void store_audit_rows_free(struct store_audit_row *rows, size_t n);

/* The head of the audit log: its last record's seq and hash (64 hex);
   *ret_seq 0 and ret_hash "" when the log is empty. */
int store_audit_head(struct store *s, int64_t *ret_seq, char ret_hash[65],
    struct tocsin_err *err);
/* The hash and time of record seq: 0, or TOCSIN_ENOTFOUND when the log
   holds no such record. */
int store_audit_at(struct store *s, int64_t seq, char ret_hash[65],
    int64_t *ret_ts, struct tocsin_err *err);

/* Rows for status and reports; every string is owned by the row array,
   freed with the matching _free function. */
struct store_alert_row {
	char *id, *identifier, *sender, *sent, *status, *msg_type, *scope;
	char *headline;
	int severity;
	int64_t received;
	int nteams;
	/* its teams by where their ladders are: acked; active (a step
	   sent); held (active, its first step held for quiet hours);
	   unreached; told (a receipt or notice: nothing asked); checking
	   (a check of contacts: no ladder); the rest are cancelled or
	   updated */
	int nacked, nactive, nheld, nunreached, ntold, nchecking;
};
int store_alerts(struct store *s, struct store_alert_row **ret, size_t *n,
    struct tocsin_err *err);
/* One alert; TOCSIN_ENOTFOUND when there is none with that id. */
int store_alert_get(struct store *s, const char *id,
    struct store_alert_row **ret, struct tocsin_err *err);
void store_alert_rows_free(struct store_alert_row *rows, size_t n);
/* Whether the alert asks its teams to ack: an Alert or an Update, not a
   Cancel, an Ack or an Error. */
bool store_alert_asks(const struct store_alert_row *a);

struct store_team_row {
	char *team;
	int step;
	int64_t deadline;
	char *state;			/* "active", "acked", "unreached", "cancelled" */
	int counts[STORE_D_COUNT];	/* deliveries per state */
	char *ack_by, *ack_via, *ack_strength;	/* NULL when no ack */
	char *ack_contact;		/* the contact as the gateway knows
					   them (number, key, own link); NULL
					   when not known: ack_by is then
					   what someone typed or claimed */
	int64_t ack_at;
	char *why;			/* why the team is at its step (or
					   unreached): "failed" (every
					   delivery of the step before died),
					   "operator"; NULL: its time ran out,
					   or step 0 */
};
int store_teams(struct store *s, const char *alert_id,
    struct store_team_row **ret, size_t *n, struct tocsin_err *err);
void store_team_rows_free(struct store_team_row *rows, size_t n);

struct store_delivery_row {
	int64_t id;
	char *alert_id, *team;
	int step;
	char *channel, *contact, *address;
	enum store_dstate state;
	int attempts;
	int64_t next_attempt;
	char *provider_ref, *last_error;	/* NULL when none */
	int segments;			/* SMS parts sent; 0 when not SMS */
	bool notice;			/* tells that the team acknowledged,
					   not the alert itself */
	bool told;			/* asks nothing (store_alert.told): no
					   ack code or link is shown */
	bool check;			/* a check of contacts: one message
					   per contact, with its own link */
	int64_t created, updated;	/* queued; last changed (sent, dead) */
};
/* Deliveries of an alert (team NULL: all teams), ordered by team, step, id. */
int store_deliveries(struct store *s, const char *alert_id, const char *team,
    struct store_delivery_row **ret, size_t *n, struct tocsin_err *err);
void store_delivery_rows_free(struct store_delivery_row *rows, size_t n);

/* The stored CAP document of an alert; *ret is malloc'd, owned by caller. */
int store_alert_cap(struct store *s, const char *alert_id, char **ret,
    size_t *ret_len, struct tocsin_err *err);

/* How many attempts a delivery is given (gateway.max_attempts; 10 unless
   set): bounds the leases lost, as store_claim and store_release_owner
   count them.  How long an operation waits for another writer's lock,
   in milliseconds (10 s unless set; 0: not at all). */
void store_set_max_attempts(struct store *s, int max_attempts);
void store_set_busy_wait(struct store *s, int ms);

/* Whether the last failed operation failed because the store takes no
   write now (a full disk, a read-only file system, I/O errors, another
   writer's lock), so that the same operation may pass later; false when
   the operation itself was refused. */
bool store_unavailable(const struct store *s);

/*
 * Claim the due deliveries of up to max (alert, team, step) groups for
 * owner, with a lease until now+lease, so that a group that makes one
 * message is never split between claims.
 * Due: pending or failed with next_attempt <= now.  First, in the same
 * transaction, every row sending whose lease has run out (a stuck or
 * crashed worker) is taken back as store_release_owner does.  All claimed
 * rows share one channel (the channel of the earliest due row, or the
 * given channel when not NULL), so that a driver session serves the
 * batch.  Claimed rows become sending; attempts count only attempts
 * recorded (store_result, or a lease lost after store_mark_tried).  Rows
 * are returned in the store_delivery_row shape, owned by the caller
 * (store_delivery_rows_free); on failure, the commit's included, nothing
 * was claimed and *ret is NULL, *n 0.
 */
int store_claim(struct store *s, const char *owner, int64_t now,
    int64_t lease, const char *channel, size_t max,
    struct store_delivery_row **ret, size_t *n, struct tocsin_err *err);

/* Deliveries still waiting (pending, failed) whose team's ladder stopped
   (acked, cancelled, updated) become cancelled with the reason; a store
   from before this rule may hold some.  *ret_n says how many. */
int store_cancel_moot(struct store *s, int64_t now, size_t *ret_n,
    struct tocsin_err *err);

/* The deliveries this owner holds are about to be handed to a driver: a
   lease lost from now on counts as an attempt. */
int store_mark_tried(struct store *s, const char *owner,
    struct tocsin_err *err);

enum store_result { STORE_R_SENT, STORE_R_TEMPFAIL, STORE_R_PERMFAIL };
/*
 * Record a driver's result for a delivery this owner holds: sent, failed
 * (retry at next_attempt) or dead, counting one attempt.  provider_ref and
 * error may be NULL.  A sent is recorded even when the lease was lost
 * meanwhile (the row is then failed or claimed again): the message went.
 * TOCSIN_ENOTFOUND when the owner no longer holds the lease (or, for
 * sent, the delivery already ended).  A dead one that leaves its team's
 * current step without a live delivery, with on_failure "next", brings
 * the team's deadline to now (store_due_teams' why "failed"); so do
 * store_results, a lease taken back as dead and an undelivered receipt.
 */
int store_result(struct store *s, int64_t delivery_id, const char *owner,
    enum store_result r, int64_t now, int64_t next_attempt,
    const char *provider_ref, const char *error, struct tocsin_err *err);

/* Earliest time something of channel (NULL: any) is due (next_attempt of
   pending/failed, lease end of sending).  TOCSIN_ENOTFOUND when nothing is
   pending or in flight. */
int store_next_due(struct store *s, const char *channel, int64_t *ret_when,
    struct tocsin_err *err);

/* Several results in one transaction (one fsync for a whole batch).  A
   delivery whose lease this owner lost is skipped, marked lost and
   counted in *ret_lost (may be NULL); err then holds the last such
   sentence even though 0 is returned.  On 0, every item not lost was
   recorded. */
struct store_result_item {
	int64_t id;
	enum store_result result;
	int64_t next_attempt;
	const char *provider_ref, *error;
	int segments;			/* recorded when > 0 */
	bool untried;			/* a temporary failure before anything
					   reached the peer: no attempt */
	bool lost;			/* out: not recorded, the lease was
					   lost (or a sent, the row ended) */
};
int store_results(struct store *s, const char *owner, int64_t now,
    struct store_result_item *items, size_t n, size_t *ret_lost,
    struct tocsin_err *err);

/* The signatures stored with an alert, in the order received; owned by
   the caller, freed with store_signature_rows_free. */
struct store_signature_row {
	char *issuer, *kind, *signer;
	void *sig;			/* NULL for inline signatures */
	size_t sig_len;
};
int store_signatures(struct store *s, const char *alert_id,
    struct store_signature_row **ret, size_t *n, struct tocsin_err *err);
void store_signature_rows_free(struct store_signature_row *rows, size_t n);

/* Owners of deliveries in state sending, whether or not their lease has
   run out; *ret is an array of malloc'd strings, owned by the caller (free
   each, then the array). */
int store_lease_owners(struct store *s, char ***ret, size_t *n,
    struct tocsin_err *err);
/*
 * A turn at a job that one node of several does at a time (reading the
 * drop hosts' ack files): owner takes it until now+ttl when it is free,
 * already owner's, or its holder's time ran out (a node that died), in
 * one write transaction.  1: owner holds it now; 0: another node does.
 */
int store_turn(struct store *s, const char *job, const char *owner,
    int64_t now, int64_t ttl, struct tocsin_err *err);
/* owner gives its turn at job back (a node that stops cleanly), so that
   another takes it at once rather than when its time runs out. */
int store_turn_release(struct store *s, const char *job, const char *owner,
    struct tocsin_err *err);

/* Who holds what, for status: the leases of deliveries being sent, per
   owner and channel (n of them, the latest lease end), and the turns
   (job in channel, n 0).  Owned by the caller: store_holder_rows_free. */
struct store_holder_row {
	bool turn;
	char *owner, *channel;		/* channel: the job of a turn */
	int64_t n, until;
};
int store_holders(struct store *s, struct store_holder_row **ret, size_t *n,
    struct tocsin_err *err);
void store_holder_rows_free(struct store_holder_row *rows, size_t n);

/* Give up the leases of an owner known to be gone (a dead process on this
   host): its deliveries become due again at once.  One marked tried
   counts an attempt; one not tried counts a lost lease; either ends dead
   with the reason when its bound is reached (max_attempts attempts, or
   3 x max_attempts lost leases). */
int store_release_owner(struct store *s, const char *owner, int64_t now,
    size_t *ret_n, struct tocsin_err *err);

/* What a delivery receipt did. */
enum store_receipt_fate {
	STORE_RECEIPT_UNKNOWN,		/* no sent delivery has that reference */
	STORE_RECEIPT_MOVED,		/* sent became delivered/undelivered */
	STORE_RECEIPT_FINAL		/* the delivery had its final state
					   already: nothing changed */
};

/*
 * A provider's delivery receipt: the delivery it names by reference
 * (provider_ref, as the driver recorded it) becomes delivered or
 * undelivered (with detail as its last error).  Receipts only move a
 * delivery forward: sent < delivered | undelivered, and those two are
 * final, so a receipt repeated, replayed or contradicting an earlier one
 * changes nothing (*ret says STORE_RECEIPT_FINAL).
 */
int store_receipt(struct store *s, const char *provider_ref, bool delivered,
    const char *detail, int64_t now, enum store_receipt_fate *ret,
    struct tocsin_err *err);

/*
 * What /metrics shows of the store, read in one read transaction (one
 * snapshot).  Each list is cut at its size; *_cut says how many rows
 * were left out (the channels, ack paths and providers are few and come
 * from the configuration and the code, so a cut means something is odd).
 */
#define STORE_METRICS_CHANNELS 16
#define STORE_METRICS_ACKS 32
#define STORE_METRICS_PROVIDERS 32
struct store_metrics {
	struct store_metrics_channel {
		char channel[32];
		int64_t n[STORE_D_COUNT];	/* deliveries by state */
		int64_t due;			/* pending or failed, due now */
		int64_t oldest_due;		/* its earliest next_attempt;
						   0 when none is due */
		int64_t last_sent;		/* time of the last sent; 0 */
	} channels[STORE_METRICS_CHANNELS];
	size_t nchannels, channels_cut;
	struct store_metrics_ack {
		char via[32], strength[16];
		int64_t n;
	} acks[STORE_METRICS_ACKS];
	size_t nacks, acks_cut;
	/* providers named in provider references ("NAME:ref": SMS, voice) */
	struct store_metrics_provider {
		char channel[32], provider[48];
		int64_t sent;			/* sent, delivered or undelivered */
		int64_t last_sent;
	} providers[STORE_METRICS_PROVIDERS];
	size_t nproviders, providers_cut;
	int64_t escalations;			/* ladder steps taken */
	int64_t unreached;			/* ladders that ended unacked */
	int64_t desk_pages;			/* the desk paged for a team */
	int64_t alerts_active;			/* alerts with a ladder running */
};
int store_metrics(struct store *s, int64_t now, struct store_metrics *out,
    struct tocsin_err *err);
/*
 * Whether the store takes a write now: a write transaction opened and
 * rolled back (nothing changes), waiting at most wait_ms for another
 * writer's lock.  0, or TOCSIN_ESTORE with the reason (a full disk, a
 * read-only file, another writer holding it past wait_ms).
 */
int store_probe_write(struct store *s, int wait_ms, struct tocsin_err *err);

/*
 * What is left to go, per channel: deliveries waiting (pending or
 * failed, due now or later), of them failed (waiting to retry), and
 * sending (held by a worker of any serve).  Read in one statement
 * through the index of deliveries by state: its cost is the rows left to
 * go, never the rows that ended (sent, dead, delivered...), however many
 * the store keeps; serve's progress line and --until-idle ask it while
 * the gateway is otherwise idle.  Channels past STORE_QUEUE_CHANNELS are
 * summed in other.
 */
#define STORE_QUEUE_CHANNELS 32
struct store_queue {
	struct store_queue_channel {
		char channel[32];
		int64_t waiting, failed, sending;
	} channels[STORE_QUEUE_CHANNELS];
	size_t nchannels;
	struct store_queue_channel other;	/* channel "" */
};
int store_queue_counts(struct store *s, struct store_queue *ret,
    struct tocsin_err *err);
/* The counts of channel in q (zeros when it has none waiting). */
struct store_queue_channel store_queue_of(const struct store_queue *q,
    const char *channel);

/*
 * Check the wall clock against the monotonic one: offset is wall time less
 * monotonic time, in milliseconds; boot the kernel's boot id.  When the offset moved by
 * more than 2 s since the last check on this boot, the wall clock was
 * stepped: every active ladder deadline, retry time and lease is moved by
 * the step, with an audit record, in one transaction, once whatever the
 * number of serve processes.  *ret_step says the step (0: none).
 */
int store_clock_check(struct store *s, const char *boot, int64_t offset,
    int64_t now, int64_t *ret_step, struct tocsin_err *err);

/* A team whose next step is due, for the escalation scheduler. */
struct store_due_team {
	char *alert_id, *team;
	int step;			/* the step it is at */
	int64_t deadline;		/* when the next one was due */
	int64_t accepted;		/* the alert's acceptance: ladder base */
	bool exercise;			/* the alert's status is Exercise */
	bool failed;			/* due because every delivery of its
					   step died, not because its time
					   ran out */
};
/* Active teams whose deadline has passed (0 < deadline <= now), earliest
   first, at most max.  Rows freed with store_due_teams_free. */
int store_due_teams(struct store *s, int64_t now, size_t max,
    struct store_due_team **ret, size_t *n, struct tocsin_err *err);
void store_due_teams_free(struct store_due_team *rows, size_t n);
/*
 * One team's place in an alert's ladder, whatever its deadline, for an
 * operator's `escalate`: *row filled (free its strings with
 * store_due_teams_free(row, 1) semantics: free(alert_id), free(team)) and
 * its state ("active", "acked", ...) in state.  TOCSIN_ENOTFOUND when the
 * alert has no such team.
 */
int store_team_ladder(struct store *s, const char *alert_id,
    const char *team, struct store_due_team *row, char state[16],
    struct tocsin_err *err);
/*
 * Dead deliveries due again at now, with their attempts forgotten: the one
 * delivery id (when > 0), else those of alert_id (and of team, when not
 * NULL).  Audited ("retry") with actor, in the same transaction.
 * *ret_n is how many; 0 is no error.
 */
int store_retry_dead(struct store *s, const char *alert_id, const char *team,
    int64_t id, int64_t now, const char *actor, size_t *ret_n,
    struct tocsin_err *err);
/* The earliest deadline of an active team, 0 when none. */
int store_next_deadline(struct store *s, int64_t *ret_when,
    struct tocsin_err *err);

/* One move of a team along its ladder. */
struct store_escalation {
	const char *alert_id, *team;
	int from_step, to_step;
	int64_t deadline;		/* of the step after to_step, 0: none */
	const char *state;		/* "active", or "unreached" at the end */
	/* With "unreached": the desk's team to page (its state for the
	   alert is made, once, with page_deadline and page_dels); NULL:
	   none. */
	const char *page_team;
	const char *page_token_hash;	/* of the desk's ack link token */
	int64_t page_deadline;
	const struct store_delivery_plan *page_dels;
	size_t npage_dels;
	bool early;			/* an operator's escalate: the deadline
					   need not have come */
	bool page_wait_on_failure;	/* the desk's policy says on_failure
					   = "wait" */
	/* why, recorded with the team (store_team_row.why) and in the
	   audit record (why=...): "failed" (every delivery of from_step
	   died), "operator", or NULL (the step's time ran out) */
	const char *why;
	/* the deliveries of to_step (store_escalate_batch; store_escalate
	   takes them as arguments) */
	const struct store_delivery_plan *dels;
	size_t ndels;
};
/*
 * Move the team from from_step to to_step and queue that step's
 * deliveries, with an audit record, in one transaction; only when the
 * team is still active at from_step with its deadline passed (or early),
 * so that a step fires once whatever the number of serve processes,
 * restarts and crashes.  0, or TOCSIN_ENOTFOUND when it had moved on (nothing done).
 */
int store_escalate(struct store *s, const struct store_escalation *e,
    const struct store_delivery_plan *dels, size_t ndels, int64_t now,
    const char *actor, struct tocsin_err *err);
/*
 * n moves as store_escalate makes them (each with its dels), in one write
 * transaction: one commit, so one fsync, for the whole batch, and all or
 * nothing across a crash.  A team that moved on since it was read (an ack
 * recorded meanwhile, another process) is skipped: ret_moved[i] false
 * (an array of n, filled by the call).  0 when the batch committed, else
 * the store's error, with nothing of the batch done (every ret_moved[i]
 * false).
 */
int store_escalate_batch(struct store *s, const struct store_escalation *es,
    size_t n, int64_t now, const char *actor, bool *ret_moved,
    struct tocsin_err *err);

struct store_ack_in {
	const char *alert_id, *team;
	const char *by;			/* who: a contact, an operator */
	const char *via;		/* how: link, sms, voice, mail, drop,
					   operator:... */
	const char *strength;		/* "signed" or "unsigned" */
	const char *note;		/* may be NULL */
	bool recorded_only;		/* the policy does not count this kind
					   of ack: kept, the ladder goes on */
	/* The contact of the team who answered, when the way it came
	   says so (their number, their key, their address, their own
	   link); NULL when not known.  A check of contacts (an alert of
	   status System) records only this, with the endpoint below: the
	   last-verified date of that endpoint of that contact, which is when
	   the check was made, however late the answer. */
	const char *contact;
	/* The endpoint whose own link or code it was (a check of contacts
	   records a contact only with it); NULL when none. */
	const char *ep_channel, *ep_address;
	/* Channels (NULL-terminated) on which the team's other contacts who
	   were sent the alert get a notice that it was acknowledged; NULL:
	   none. */
	const char *const *notice_channels;
	/* For a signed ack: the digest (hex) that names the signature that
	   made it.  It is kept with the ack in the same transaction, and an
	   ack by a signature already kept is refused (TOCSIN_EPERM, nothing
	   recorded).  NULL: not signed. */
	const char *sig_digest;
};
/*
 * Record an ack, with an audit record.  The first ack of a team stops its
 * ladder (state acked, no deadline) and cancels its deliveries still
 * waiting, and queues the notices of notice_channels, in the same
 * transaction; later ones are kept as records only.  0 for the team's first
 * ack, 1 for a repeat, TOCSIN_ENOTFOUND when the alert has no such team.
 */
int store_ack(struct store *s, const struct store_ack_in *a, int64_t now,
    const char *actor, struct tocsin_err *err);

/*
 * Tries at an ack code (e-mail, SMS, call keypress; see ack_code_try),
 * counted here rather than in memory so that the bounds hold across
 * processes and restarts.  Each key ("mail-from:x@y",
 * "sms-from:+41...", "code:ALERT/TEAM") counts tries in a window of
 * its own that starts with its first try; windows last at most
 * STORE_GUESS_WINDOW_MAX seconds.
 */
#define STORE_GUESS_WINDOW_MAX 86400
struct store_guess {
	const char *key;
	int limit;			/* tries allowed in a window */
	int64_t window;			/* seconds */
	bool over;			/* out: at its limit, not counted */
};
/*
 * In one transaction: every key under its limit counts one more try, the
 * others are marked over; when g[0] is at its limit every key is marked
 * over and none counted.  A try is counted before the code is compared,
 * so that messages taken at once cannot all pass; a right code gives its
 * tries back with store_guess_undo (the keys not marked over).
 */
int store_guess_try(struct store *s, struct store_guess *g, size_t n,
    int64_t now, struct tocsin_err *err);
int store_guess_undo(struct store *s, const struct store_guess *g, size_t n,
    struct tocsin_err *err);

/* When each endpoint of each contact last answered a check of contacts;
   rows with channel and address "" say when the contact last answered
   on any endpoint (the only record of stores before version 7). */
struct store_contact_check {
	char *team, *contact, *via, *channel, *address;
	int64_t verified;
};
int store_contact_checks(struct store *s, struct store_contact_check **ret,
    size_t *n, struct tocsin_err *err);
void store_contact_checks_free(struct store_contact_check *rows, size_t n);

/* The alert and team of an ack link, by the SHA-256 (hex) of its token:
   0, or TOCSIN_ENOTFOUND. */
int store_token_find(struct store *s, const char *token_hash, char *alert_id,
    size_t alen, char *team, size_t tlen, struct tocsin_err *err);

/* A check's link, by the SHA-256 (hex) of its token: 0, or
   TOCSIN_ENOTFOUND. */
struct store_check_token {
	char alert_id[64], team[64], contact[160], channel[32], address[256];
};
int store_check_token_find(struct store *s, const char *token_hash,
    struct store_check_token *ret, struct tocsin_err *err);

/* The alerts a team has a state for (any), newest first, at most max ids
   of 64 bytes into ids. */
int store_team_alerts(struct store *s, const char *team, size_t max,
    char (*ids)[64], size_t *n, struct tocsin_err *err);

/* The delivery a provider's reference belongs to: its alert, team and
   contact.  0, or TOCSIN_ENOTFOUND. */
int store_delivery_by_ref(struct store *s, const char *ref, char *alert,
    size_t alen, char *team, size_t tlen, char *contact, size_t clen,
    struct tocsin_err *err);

/* --- backup and retention ------------------------------------------------ */

/* Progress of a long operation: done of total pages; arg is the
   caller's. */
typedef void (*store_progress_fn)(void *arg, int64_t done, int64_t total);

/* Pages copied per step of a backup, and the pause when the store is
   locked, so that serve's writes are never held long. */
#define STORE_BACKUP_STEP 256
#define STORE_BACKUP_NAP_MS 20

/*
 * Copy the store, as it stood at one moment, into path: an empty file the
 * caller made (its mode is kept: SQLite gives the copy's journal the
 * same).  The copy is made in steps while the store stays in use; a
 * write by another process between steps starts the copy again, and after
 * a few such restarts the rest is copied in one step (under WAL a reader
 * never blocks a writer).  progress (may be NULL) is told after each
 * step.  The copy is not synced: the caller syncs it before it puts it in
 * place.
 */
int store_backup(struct store *s, const char *path, store_progress_fn progress,
    void *arg, struct tocsin_err *err);

/* What a prune found: per alert accepted before the date, whether it was
   skipped as still live, and what was blanked in it. */
struct store_prune_alert {
	char id[64];
	bool live;			/* a ladder active or a delivery not
					   ended: left untouched */
	size_t deliveries, acks, teams;	/* rows blanked */
};
struct store_prune {
	struct store_prune_alert *alerts;	/* owned: store_prune_free */
	size_t nalerts;
	size_t deliveries, acks, teams;	/* rows blanked in all */
	size_t guesses;			/* tries at codes forgotten */
	size_t requests;		/* requests for help removed */
	bool scrub_failed;		/* pruned, but the file could not be
					   rewritten (see store_prune) */
};
/* The text that replaces what a prune removes. */
#define STORE_PRUNED "pruned"

/*
 * Remove the personal data of the alerts accepted before `before` (UTC
 * seconds), in one transaction with an audit record ("prune", object
 * "store", by actor): the contact names, addresses and last errors of
 * their deliveries, the names and notes of their acks, who acknowledged
 * for each team, and the names and addresses of a check's links, all
 * replaced by STORE_PRUNED; the tries at codes whose window ended
 * before that date; and the requests for help received before it and
 * before the last STORE_REQUEST_SIG_WINDOW, but those whose desk page is
 * still live.  An alert still live (a team's ladder active, or a
 * delivery pending, sending or failed) is never pruned: it is listed with
 * live set.  Alerts in which nothing was left to blank are not listed.
 * The audit log is kept as recorded (its records hash what they say).
 * With dry_run, the same is done and rolled back: *ret says what would
 * be pruned.  Otherwise the bytes are made unrecoverable: the
 * transaction runs with SQLite's secure_delete, then the file is
 * rewritten (VACUUM) and the write-ahead log emptied; when that cannot be
 * done now (another process holds the store), the prune stands and
 * scrub_failed is set.  *ret is filled on success, owned by the caller.
 */
int store_prune(struct store *s, int64_t before, bool dry_run, int64_t now,
    const char *actor, struct store_prune *ret, struct tocsin_err *err);
void store_prune_free(struct store_prune *p);

/* Told after each table a copy filled: its name and its rows. */
typedef void (*store_copy_fn)(void *arg, const char *table, int64_t rows);

/*
 * Copy every row of the store from (read in one snapshot) into the store
 * to, which must hold nothing yet (no alert, no audit record), in one
 * write transaction of to: SQLite into PostgreSQL when moving to several
 * nodes, or any engine into any other.  Ids and the audit log are copied
 * as they are, so the chain verifies in the copy; the copy's identity
 * sequences go on after the copied ids.  Then the copy's audit chain is
 * verified and its head compared with the source's: TOCSIN_EDATA when
 * they differ.  *ret_rows (may be NULL) says how many rows in all.
 */
int store_copy(struct store *from, struct store *to, store_copy_fn told,
    void *arg, int64_t *ret_rows, struct tocsin_err *err);

/* --- requests for help (issue 22) ------------------------------------------ */

/* A request as its path authenticated it.  Strings are borrowed. */
struct store_request_in {
	const char *id;			/* the reference, chosen by the caller */
	const char *team, *contact, *via, *strength;
	const char *text;		/* cleaned and bounded by request.c */
	bool name_us;
	const char *sig_digest;		/* NULL when unsigned */
	int64_t at;
};

/* How long a signature may make a request (request.c's limit): a
   request's row, which holds its signature's digest, is kept that long. */
#define STORE_REQUEST_SIG_WINDOW (3 * 86400)
/* A team's requests for help stored within any hour, at most. */
#define STORE_REQUESTS_PER_HOUR 6

/*
 * Store a request with its audit record ("request"), in one transaction.
 * TOCSIN_EPERM when its signature made a request before, or when the team
 * made STORE_REQUESTS_PER_HOUR requests in the hour before r->at (nothing
 * written).
 */
int store_request_add(struct store *s, const struct store_request_in *r,
    const char *actor, struct tocsin_err *err);

/*
 * Note what was done for request id, with an audit record (action, details)
 * in the same transaction: the desk's page, the team's receipt, a relay
 * (its draft's identifier; the state becomes "relayed").  A NULL field is
 * left as it is.  TOCSIN_ENOTFOUND when there is no such request.
 */
int store_request_note(struct store *s, const char *id,
    const char *page_alert, const char *receipt_alert, const char *relay,
    int64_t now, const char *actor, const char *action, const char *details,
    struct tocsin_err *err);

/* A stored request; every string owned by the row array. */
struct store_request_row {
	char *id, *team, *contact, *via, *strength, *text, *state;
	char *page_alert, *receipt_alert, *relay;	/* NULL when none */
	char *page_state;		/* the desk's page: its team state
					   ("active", "acked", ...), or NULL */
	bool name_us;
	int64_t at, relayed_at;
};

/* Requests, newest first; open_only: those not relayed yet. */
int store_requests(struct store *s, bool open_only,
    struct store_request_row **ret, size_t *n, struct tocsin_err *err);
/* One request; TOCSIN_ENOTFOUND when there is none with that id. */
int store_request_get(struct store *s, const char *id,
    struct store_request_row **ret, struct tocsin_err *err);
void store_request_rows_free(struct store_request_row *rows, size_t n);

#endif
