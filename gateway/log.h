/*
 * log.h: serve's one log path, with levels.
 *
 * A line has a level (syslog's numbers) and may carry fields: the alert,
 * team, delivery, channel and provider it is about.  Lines below the
 * sink's level are dropped.  Under systemd, when the stream is the
 * journal's (JOURNAL_STREAM names its device and inode), a line goes to
 * the journal with its priority and the fields as TOCSIN_ALERT,
 * TOCSIN_TEAM, TOCSIN_DELIVERY, TOCSIN_CHANNEL and TOCSIN_PROVIDER, so
 * that `journalctl TOCSIN_TEAM=ke` finds a team's story; otherwise it is
 * one line on the stream: the UTC time, the level, the text.  A line is
 * written in one call under the sink's lock, so threads never mix lines.
 */
#ifndef LOG_H
#define LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level {	/* syslog's numbers, TLOG_ for <syslog.h>'s LOG_ */
	TLOG_ERR = 3,			/* serve cannot do its work */
	TLOG_WARNING = 4,		/* a delivery dead, a store error */
	TLOG_NOTICE = 5,			/* start, stop, reload, escalations */
	TLOG_INFO = 6,			/* retries, receipts */
	TLOG_DEBUG = 7
};

/* What a line is about; any member may be NULL (0 for delivery). */
struct log_fields {
	const char *alert, *team, *channel, *provider;
	int64_t delivery;
};

struct log_sink {
	FILE *f;			/* NULL: nothing is written */
	int level;			/* lines above it are dropped */
	bool journal;			/* f is the journal's stream */
	const char *ident;		/* "tocsin serve" */
	pthread_mutex_t mu;
};

/* A sink writing to f (NULL: none) at level and below, as ident.  The
   journal is used when f is the stream JOURNAL_STREAM names. */
void log_sink_init(struct log_sink *s, FILE *f, int level,
    const char *ident);
void log_sink_fini(struct log_sink *s);

/* One line at level about fl (may be NULL). */
void log_put(struct log_sink *s, int level, const struct log_fields *fl,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A tocsin_log_fn (arg: the sink) for the modules that log through a
   callback: a notice, or a warning for log_line_warning. */
void log_line_notice(void *sink, const char *line);
void log_line_warning(void *sink, const char *line);

/* The level named ("err", "warning", "notice", "info", "debug"), or -1. */
int log_level_parse(const char *name);

#endif
