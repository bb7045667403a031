/*
 * dispatch.h: the dispatcher behind `tocsin serve`.
 *
 * A pool of workers (gateway.workers) claims due deliveries from the store
 * in leased batches of one channel, groups them into messages (one per
 * team and step where the channel says so), renders them, hands them to
 * the channel driver and records each message's result as the driver
 * reports it, in groups of 50 ms.  Temporary failures come back after an
 * exponential backoff with jitter; a worker that dies leaves leases that
 * run out (or, on this host, are released at the next start) so that
 * nothing accepted is lost.
 */
#ifndef DISPATCH_H
#define DISPATCH_H

#include <stdbool.h>
#include <stdio.h>

#include "log.h"
#include "policy.h"
#include "tocsin.h"

struct dispatch_opts {
	bool until_idle;	/* return once nothing is due or in flight */
	FILE *progress;		/* progress lines, or NULL for none */
	struct log_sink *log;	/* one line per notable event, or NULL */
	/* SIGHUP: whether the configuration may be taken (0), else why in
	   err; NULL: SIGHUP stops serve as SIGTERM does */
	int (*reload_check)(void *arg, struct tocsin_err *err);
	void *reload_arg;
	/* set when serve ended to start again with a configuration that
	   reload_check took (the caller executes serve anew) */
	bool *reexec;
};

/* Run until a signal (SIGINT, SIGTERM; SIGHUP with a configuration that
   reload_check takes, see dispatch_opts) or, with until_idle, until idle.
   Returns 0, or an error code with err naming what stopped it. */
int dispatch_serve(const struct policy_repo *repo,
    const struct dispatch_opts *o, struct tocsin_err *err);

/* Backoff before attempt `attempts`+1: base * 2^(attempts-1), at most max,
   then half of it fixed and half random (r is any random 32-bit value). */
int64_t dispatch_backoff(int64_t base, int64_t max, int attempts, uint32_t r);

/*
 * What becomes of a temporary failure of a delivery that had `attempts`
 * recorded attempts: untried (never handed to the peer) is due again at
 * now and costs none; otherwise it is attempt attempts+1, dead (1) when
 * that reaches max_attempts, else due at now plus the backoff, and not
 * before retry_after seconds when the peer said so.  Returns 1 for dead,
 * 0 for a retry at *ret_next.
 */
int dispatch_retry(const struct policy_gateway *gw, int attempts,
    bool untried, int64_t retry_after, int64_t now, uint32_t r,
    int64_t *ret_next);

#endif
