/*
 * dropack.h: ack files that people leave on SSH drop hosts.
 *
 * The drop channel finds them (channels/sshdrop.c, serve's poller) and
 * hands each here, unverified.  A file is an ack only when its name names
 * an alert of the team whose folder holds it, and then it is a signed ack
 * when it is clear-signed by the pinned key of one of the team's contacts,
 * its signed text names the alert (its id or its code), the signature was
 * made no earlier than the alert was accepted, and that signature has
 * acked nothing before (the rules of e-mail acks, ack.h); a file whose
 * good signature is older than the alert is judged as unsigned.  An
 * unsigned ack carries the team's code for the alert.  Anything else is
 * refused, with an audit record, and moved aside; a signature used again
 * is refused with the reason "signature already used".
 */
#ifndef DROPACK_H
#define DROPACK_H

#include <stdbool.h>
#include <stdio.h>

#include "ack.h"
#include "certs.h"
#include "channel.h"
#include "policy.h"
#include "store.h"

/* "alert-ALERT.TEAM" followed by nothing or by "." and more: the alert id
   and the team into alert[64] and team[64].  0, or -1. */
int dropack_name(const char *name, char alert[64], char team[64]);

/* Who an unsigned ack file says it is from: the value of its first
   non-empty line "By: NAME", into by[128]: whole UTF-8 characters, at
   most 100 bytes, runs of blanks, controls (C0, C1), line separators,
   bidirectional overrides and invalid bytes as one space, none at either
   end; false when there is none. */
bool dropack_by(const char *text, size_t len, char by[128]);

struct dropack_ctx {
	const struct policy_repo *repo;
	struct store *st;
	struct certs_ctx *certs;
	const unsigned char *secret;	/* ACK_SECRET_LEN bytes */
	int64_t now;
	/* one line per ack or refusal; may be NULL */
	tocsin_log_fn log;
	void *log_arg;
	size_t taken, refused;
};

/* Whether a file's name is that of a request for help: "request-*.txt"
   (or ".asc"); such a file is judged by request.h's rules, never as an
   ack. */
bool dropack_request_name(const char *name);

/* A chan_ackfile_cb: verify f and record its ack (via "drop"), or the
   request for help it is. */
enum chan_ackfile_fate dropack_take(void *ctx, const struct chan_ackfile *f);

#endif
