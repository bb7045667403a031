/*
 * ingest.h: taking the ack an e-mail reply carries (tocsin ingest-mail,
 * one message from an MTA pipe per process).
 *
 * A reply is a signed ack only when a good OpenPGP signature of a
 * contact's pinned key covers text that names the alert (its id, or that
 * alert's team code), the signature was made no earlier than the alert
 * was accepted, and the same signature has acked nothing before.  The
 * headers (From, In-Reply-To, References) are never believed for a signed
 * ack: they are outside the signature.  A reply that fails these rules is
 * at most an unsigned ack: its From is a contact's address and its text
 * carries the team's code for an alert, under limits on wrong codes per
 * sender and per alert and team that live in the store.
 */
#ifndef INGEST_H
#define INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ack.h"
#include "certs.h"
#include "policy.h"
#include "store.h"

/* Wrong codes by e-mail are bounded as on every path of codes
   (ACK_TRY_* in ack.h, counted in the store). */
#define INGEST_ALERTS ACK_TRY_ALERTS	/* a team's newest alerts looked at */

struct ingest_ctx {
	const struct policy_repo *repo;
	struct store *st;
	struct certs_ctx *certs;
	const unsigned char *secret;	/* ACK_SECRET_LEN bytes */
	int64_t now;
};

/* What a reply acked. */
struct ingest_result {
	char alert[64], team[64], by[128];
	const char *strength;		/* "signed" or "unsigned" */
	bool recorded_only;		/* the policy does not count it */
	bool repeat;			/* the team had acked already */
	/* when a signature was there but did not make a signed ack: why */
	char sig_note[256];
	/* a request for help (request.h) rather than an ack: its reference
	   and the desk's page; alert, by and strength as above are then
	   those of the request's team, contact and strength */
	bool is_request;
	char request[40], page_alert[40];
};

/*
 * Read one message from fd to its end into *ret (malloc'd, NUL not
 * added, owned by the caller) of *ret_len bytes: 0; TOCSIN_ETOOBIG with
 * err's sentence when it is over MAILACK_MAX bytes (nothing returned);
 * TOCSIN_ENOMEM.  A read error ends the message as its end would.
 */
int ingest_read_fd(int fd, char **ret, size_t *ret_len,
    struct tocsin_err *err);

/*
 * Take one message of len bytes.  A message whose text has a line
 * "Request:" is a request for help (request.h), never an ack: it is taken
 * only under a good signature of a contact's pinned key of the team it is
 * for (its "Team:" line, else the signer's team), made within
 * REQUEST_SIG_MAX_AGE and used once; anything else is refused and
 * audited ("request-refused").  Otherwise: 0 with res filled when an ack
 * was recorded; otherwise a negative code with err saying why, the refusal
 * audited ("mail-refused", or "mail-throttled" when a limit on wrong codes
 * stopped it).
 */
int ingest_mail(struct ingest_ctx *c, const char *raw, size_t len,
    struct ingest_result *res, struct tocsin_err *err);

/* Whether text names id as a word of its own: not inside a longer run of
   letters, digits and dashes (alert ids are made of those). */
bool ingest_names(const char *text, size_t len, const char *id);

#endif
