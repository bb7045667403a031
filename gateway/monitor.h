/*
 * monitor.h: /metrics and /healthz answered off the listener's thread.
 *
 * A scrape reads the whole deliveries table (a second or more at hundreds
 * of thousands of rows) and a health probe waits up to 2 s for a busy
 * store's write lock.  Done in the listener's one thread, either held up
 * every ack, SMS reply and provider report behind it.  The monitor does
 * them in a thread and on a store connection of its own: the listener
 * suspends the connection, hands the monitor a job, and answers it when
 * the monitor says the job is ready.
 */
#ifndef MONITOR_H
#define MONITOR_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "tocsin.h"

/* Jobs waiting at most; one more is refused (monitor_ask). */
#define MONITOR_QUEUE_MAX 32

struct monitor;

struct monitor_job {
	/* set by the caller */
	bool health;			/* /healthz; else /metrics */
	void *conn;			/* handed back to the ready function */
	/* set by the monitor before it calls ready */
	unsigned int status;		/* HTTP status */
	char *text;			/* the body, malloc'd: the caller frees
					   it or hands it on */
	size_t len;
	const char *type;		/* Content-Type, static */
	/* the monitor's */
	struct monitor_job *next;
};

/* Called in the monitor's thread when a job is answered, with its conn
   and the arg given to monitor_start; it must not block. */
typedef void (*monitor_ready_fn)(void *conn, void *arg);

/*
 * Opens a store connection of its own (store, as gateway.store) and
 * starts the thread.  m is serve's counters, kept by the caller.  *ret
 * is freed by monitor_stop.  0, or a store error or TOCSIN_EUNAVAIL with
 * err filled.
 */
int monitor_start(const char *store, struct metrics *m,
    monitor_ready_fn ready, void *arg, struct monitor **ret,
    struct tocsin_err *err);

/* Queues job (kept by the caller until ready is called for it).  0, or
   TOCSIN_ETEMP when MONITOR_QUEUE_MAX jobs wait already (not queued,
   ready is not called). */
int monitor_ask(struct monitor *mo, struct monitor_job *job);

/* Whether MONITOR_QUEUE_MAX jobs wait (monitor_ask would refuse one). */
bool monitor_full(struct monitor *mo);

/* Answers the jobs still waiting with 503 (ready called for each), stops
   the thread, closes the store.  NULL is fine. */
void monitor_stop(struct monitor *mo);

#endif
