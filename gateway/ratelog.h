/*
 * ratelog.h: repeated errors logged once per kind per interval, with a
 * count.
 *
 * A store on a full disk fails every claim, every result and every
 * scheduler tick, several times a second: logging each of them buries the
 * one line an operator needs and fills the journal on the disk that is
 * already full.  A struct ratelog lets the first line of a kind through,
 * holds back the others of that kind until the interval has passed, and
 * then says how many it held ("N more like this in the last 30 s") with
 * the last of them.  Kinds are short fixed names chosen by the caller
 * ("claim", "results"), never text from outside.  Thread-safe; the clock
 * is injected so that a test needs no sleeps.
 */
#ifndef RATELOG_H
#define RATELOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RATELOG_KINDS 16		/* kinds tracked; more share the last */
#define RATELOG_KIND_LEN 32
#define RATELOG_LINE_LEN 512

/* Milliseconds of a monotonic clock. */
typedef int64_t (*ratelog_clock_fn)(void *arg);

struct ratelog_kind {
	char kind[RATELOG_KIND_LEN];
	int64_t since;			/* ms: start of the current interval */
	uint64_t held;			/* lines held back since then */
	char last[RATELOG_LINE_LEN];	/* the last line held back */
};

struct ratelog {
	pthread_mutex_t mu;
	int64_t interval;		/* ms */
	ratelog_clock_fn clock;
	void *clock_arg;
	struct ratelog_kind k[RATELOG_KINDS];
	size_t n;
};

/* A line-writing callback: the whole line, without "\n". */
typedef void (*ratelog_out_fn)(void *arg, const char *line);

/* interval_ms > 0; clock NULL: CLOCK_MONOTONIC.  ratelog_fini() after. */
void ratelog_init(struct ratelog *rl, int64_t interval_ms,
    ratelog_clock_fn clock, void *clock_arg);
void ratelog_fini(struct ratelog *rl);

/*
 * A line of kind: written through out at once when it is the first of its
 * kind in the interval (followed, when lines were held back before, by
 * " (N more like this in the last S s)"), else held back and counted.
 * Returns whether it was written.
 */
bool ratelog_line(struct ratelog *rl, const char *kind, ratelog_out_fn out,
    void *out_arg, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Kinds whose interval has passed with lines held back: the last of them
 * is written with "N more like this in the last S s", so that a burst
 * that stopped is still counted.  all: every kind with lines held back,
 * whatever the time (at the end of serve).
 */
void ratelog_flush(struct ratelog *rl, ratelog_out_fn out, void *out_arg,
    bool all);

#endif
