/*
 * reply.h: what a person sent back on a phone path (an SMS reply posted
 * by a provider or read from the gateway's own modem, a call's keypresses),
 * matched to the alert and team whose ack code it carries and recorded.
 * One rule for every path, so that a modem's reply is worth exactly what
 * a provider's webhook is.
 */
#ifndef REPLY_H
#define REPLY_H

#include <stdint.h>

#include "channel.h"
#include "policy.h"
#include "store.h"
#include "tocsin.h"

enum reply_outcome {
	REPLY_ACKED,			/* the code was right: recorded */
	REPLY_WRONG,			/* no code, or none of its teams' */
	REPLY_THROTTLED,		/* too many wrong codes: not compared */
	REPLY_REQUEST,			/* "HELP ...": a request for help taken
					   (request.h), its reference in
					   reply_ctx.request */
	REPLY_REFUSED			/* "HELP ..." from a number that is no
					   contact's mobile: refused, audited */
};

struct reply_ctx {
	struct store *st;
	const struct policy_repo *repo;
	const unsigned char *secret;	/* ACK_SECRET_LEN bytes */
	/* one line per ack or refusal; may be NULL */
	tocsin_log_fn log;
	void *log_arg;
	unsigned long throttled;	/* refusals so far, for the log's
					   1st, 2nd, 4th... */
	int64_t now;			/* for reply_take_cb */
	size_t taken, acked;		/* counted by reply_take_cb */
	char request[40];		/* REPLY_REQUEST: its reference */
};

/*
 * An SMS that starts "HELP" is a request for help (request.h), never an
 * ack: taken (unsigned) when its sender's number is the registered mobile
 * of a contact, for that contact's team; refused and audited otherwise.
 *
 * Match in (its sender's number to the contacts that have it and the code
 * to one of their teams' alerts; a keypress by its call's delivery) and
 * record the ack, as its path says (via "sms" or "voice", strength
 * unsigned).  Wrong codes are bounded as on every path of codes.  0 with
 * *out set, or a store error (the reply should be taken again later).
 */
int reply_take(struct reply_ctx *c, const struct chan_inbound *in,
    int64_t now, enum reply_outcome *out, struct tocsin_err *err);

/* A chan_inbound_cb over a struct reply_ctx (ctx), at its now: keeps the
   reply (CHAN_ACKFILE_KEEP) when the store could not take it. */
enum chan_ackfile_fate reply_take_cb(void *ctx, const struct chan_inbound *in);

#endif
