/*
 * audit.h: the audit log anchored outside the store.
 *
 * The hash chain in the store (store_audit_verify) finds a record edited or
 * removed in the middle, but not the last records removed, nor a chain
 * recomputed whole by someone who can write the database.  So the head of
 * the log (its last record's seq and hash) is signed by the gateway key
 * into a checkpoint file beside the store, and every message the gateway
 * signs carries the head it had ("Audit-Head: SEQ HASH"), so that its
 * recipients hold witnesses.  `audit verify` compares the log with the
 * checkpoint; `audit show` prints the records.
 */
#ifndef AUDIT_H
#define AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "certs.h"
#include "policy.h"
#include "store.h"
#include "tocsin.h"

/* The checkpoint file as signed, and the text it signs: limits on what
   is read back (the file lies beside the store, writable by whoever can
   write the store). */
#define AUDIT_CP_FILE_MAX (16 * 1024)
#define AUDIT_CP_TEXT_MAX 1024
/* serve signs the head at most this often when the log grew */
#define AUDIT_CP_EVERY_MS 1000
/* The first line of a checkpoint's text. */
#define AUDIT_CP_MAGIC "tocsin audit checkpoint 1"

struct audit_checkpoint {
	int64_t seq;			/* the last record anchored, >= 1 */
	char hash[65];			/* its hash, 64 lower-case hex */
	int64_t time;			/* when the checkpoint was made (UTC) */
};

/* The checkpoint's text: the magic line, then "seq: ", "hash: " and
   "time: " lines.  0, or TOCSIN_ETOOBIG when len is too small. */
int audit_checkpoint_format(const struct audit_checkpoint *cp, char *buf,
    size_t len, struct tocsin_err *err);
/* Read a checkpoint's text (at most AUDIT_CP_TEXT_MAX bytes, exactly the
   format above, trailing blank lines allowed): 0, or TOCSIN_EDATA /
   TOCSIN_ETOOBIG with a sentence. */
int audit_checkpoint_parse(const char *text, size_t len,
    struct audit_checkpoint *ret, struct tocsin_err *err);

/* The checkpoint's path: the store's path with ".checkpoint" added. */
int audit_checkpoint_path(const struct policy_repo *repo, char *buf,
    size_t len, struct tocsin_err *err);

/*
 * Read the checkpoint file and check it: one good signature by
 * gateway.signing_key, then its text.  TOCSIN_ENOINPUT when there is no
 * file, TOCSIN_EPERM when the signature does not hold, TOCSIN_EDATA or
 * TOCSIN_ETOOBIG for its content.
 */
int audit_checkpoint_load(const struct policy_repo *repo,
    struct certs_ctx *cx, struct audit_checkpoint *ret,
    struct tocsin_err *err);

/* Whether the log still holds the record cp names with cp's hash: 0, or
   TOCSIN_EDATA saying "truncated" or "rewritten". */
int audit_checkpoint_check(struct store *st, const struct audit_checkpoint *cp,
    struct tocsin_err *err);

/* A witness: the line "Audit-Head: SEQ HASH" of a message the gateway
   signed (or "SEQ HASH"), checked as a checkpoint is: 0, TOCSIN_EDATA
   ("truncated" / "rewritten"), or TOCSIN_EUSAGE when it is no such line. */
int audit_witness_check(struct store *st, const char *line,
    struct tocsin_err *err);

/*
 * Sign the log's head into the checkpoint (temporary file in the same
 * folder, fsync, rename, mode 0600), under a lock so that checkpoints of
 * concurrent processes only move forward.  The checkpoint in place must
 * verify and its record still hold, or nothing is written and it is kept
 * as evidence (TOCSIN_EPERM / TOCSIN_EDATA): a log cut short or rewritten
 * is never signed over.  Nothing is written when the log is empty or the
 * checkpoint already names the head.  cx may be NULL (one is opened).
 * *ret_seq (may be NULL) is the seq the checkpoint names afterwards.
 */
int audit_checkpoint_write(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, int64_t now, int64_t *ret_seq,
    struct tocsin_err *err);

/* serve's checkpointing: from its main loop, at most every
   AUDIT_CP_EVERY_MS when the log grew, and once more (force) when it
   stops.  A failure is logged once until a checkpoint succeeds again. */
struct audit_anchor {
	int64_t seq;			/* the head last anchored */
	int64_t last_ms;		/* monotonic time of the last try */
	bool failing;
};
void audit_anchor_tick(struct audit_anchor *a, const struct policy_repo *repo,
    struct store *st, struct certs_ctx *cx, bool force, tocsin_log_fn log,
    void *log_arg);

/* Append "Audit-Head: SEQ HASH" (the log's head now) as the last line of a
   message body that the gateway is about to sign; *body is realloc'd. */
int audit_stamp(struct store *st, char **body, size_t *len,
    struct tocsin_err *err);

/* --since: RFC 3339, or "-" and a duration ("-1h", "-30m", "-2d") back
   from now.  0, or TOCSIN_EDATA. */
int audit_since_parse(const char *s, int64_t now, int64_t *ret);

/* The records with ts >= since, in order, as text (control bytes shown
   as '?') or as a JSON array. */
int audit_show(struct store *st, int64_t since, bool json, FILE *out,
    struct tocsin_err *err);

/* Who runs this process, as the system knows it: "unix:NAME(uid)" from
   the process's real uid, never from the environment ($USER is whatever
   the caller set); "unix:?(uid)" when the name is unknown or not
   printable.  Written into buf (len bytes, cut there); returns buf. */
const char *audit_actor(char *buf, size_t len);

/* After a command that may have appended to the audit log (even when it
   failed: a refusal is audited): sign the log's head into the checkpoint
   before the process ends.  A failure is logged as a warning, not
   returned: what the command did is committed.  Nothing when repo or st
   is NULL. */
void audit_anchor_exit(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, int64_t now, tocsin_log_fn log, void *log_arg);

/*
 * audit verify: the chain, the checkpoint, then the witnesses (nwit
 * "Audit-Head:" lines), each line of the result to out.  0 when all
 * hold, or when there is no checkpoint and the log is empty or no_cp;
 * TOCSIN_EDATA when the log was cut short or rewritten, TOCSIN_EPERM
 * when the checkpoint's signature does not hold, TOCSIN_ENOINPUT when a
 * log with records has no checkpoint; err says which.
 */
int audit_verify(const struct policy_repo *repo, struct store *st,
    bool no_cp, const char *const *wit, size_t nwit, FILE *out,
    struct tocsin_err *err);

#endif
