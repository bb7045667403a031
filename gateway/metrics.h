/*
 * metrics.h: what serve shows a monitoring system.
 *
 * /metrics is Prometheus's text format (version 0.0.4): what the store
 * holds (deliveries by channel and state, what is due and since when,
 * acks, escalations, alerts with a ladder running, the last send per
 * channel and provider), read in one snapshot per scrape, and what this
 * process saw since it started (results and hand-over latency per channel
 * and provider).  /healthz says whether the process can page: the store
 * takes a write (within 2 s) and the scheduler went round within the last
 * 2 seconds.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "base.h"
#include "store.h"
#include "tocsin.h"

/* The scheduler must have gone round within this for /healthz. */
#define METRICS_TICK_MAX_MS 2000
/* /healthz waits this long for another writer's lock on the store. */
#define METRICS_STORE_WAIT_MS 2000
/* A scrape's text at most. */
#define METRICS_TEXT_MAX (256 * 1024)

enum metrics_result { METRICS_SENT, METRICS_TEMPFAIL, METRICS_PERMFAIL,
	METRICS_RESULTS };

struct metrics;

/* A new set of counters; *ret is freed by metrics_free (NULL is fine).
   started is the process's start (Unix time).  0 or TOCSIN_ENOMEM. */
int metrics_new(int64_t started, struct metrics **ret,
    struct tocsin_err *err);
void metrics_free(struct metrics *m);

/* The scheduler's loop went round at mono_ms (monotonic milliseconds). */
void metrics_tick(struct metrics *m, int64_t mono_ms);

/*
 * A message's result on channel through provider ("" or NULL when the
 * channel names none), latency_ms from its hand-over to the result.
 * Thread-safe.  Pairs beyond the table's size are counted under
 * provider "(other)".
 */
void metrics_send(struct metrics *m, const char *channel,
    const char *provider, enum metrics_result r, int64_t latency_ms);

/* A provider answered one request on channel (ok: it took it), ms after
   the request went.  Thread-safe; pairs beyond the table's size as
   metrics_send. */
void metrics_peer(struct metrics *m, const char *channel,
    const char *provider, bool ok, int64_t ms);

/*
 * The scrape: the text into out (a buffer of METRICS_TEXT_MAX or more).
 * now is Unix time.  0, or TOCSIN_ESTORE (the store could not be read:
 * nothing is written then, so that a scrape never shows half a store).
 */
int metrics_render(struct metrics *m, struct store *st, int64_t now,
    int64_t mono_ms, struct base_buf *out, struct tocsin_err *err);

/* Whether the process can page at mono_ms: 0, or TOCSIN_EUNAVAIL with
   the reason in err (the store takes no write; the scheduler is stuck). */
int metrics_health(struct metrics *m, struct store *st, int64_t mono_ms,
    struct tocsin_err *err);

#endif
