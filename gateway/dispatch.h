/*
 * dispatch.h: the dispatcher behind `tocsin serve`.
 *
 * A pool of workers (gateway.workers) claims due deliveries from the store
 * in leased batches of one channel, groups them into messages (one per
 * team and step where the channel says so), renders them, hands them to
 * the channel driver and records every result in one transaction per
 * batch.  Temporary failures come back after an exponential backoff with
 * jitter; a worker that dies leaves leases that run out (or, on this host,
 * are released at the next start) so that nothing accepted is lost.
 */
#ifndef DISPATCH_H
#define DISPATCH_H

#include <stdbool.h>
#include <stdio.h>

#include "policy.h"
#include "tocsin.h"

struct dispatch_opts {
	bool until_idle;	/* return once nothing is due or in flight */
	FILE *progress;		/* progress lines, or NULL for none */
	FILE *log;		/* one line per notable event, or NULL */
};

/* Run until a signal (SIGINT, SIGTERM) or, with until_idle, until idle.
   Returns 0, or an error code with err naming what stopped it. */
int dispatch_serve(const struct policy_repo *repo,
    const struct dispatch_opts *o, struct tocsin_err *err);

/* Backoff before attempt `attempts`+1: base * 2^(attempts-1), at most max,
   then half of it fixed and half random (r is any random 32-bit value). */
int64_t dispatch_backoff(int64_t base, int64_t max, int attempts, uint32_t r);

#endif
