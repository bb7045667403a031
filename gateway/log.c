/*
 * log.c: serve's one log path (log.h says what a line is and where it
 * goes).  The journal is chosen only when the stream really is the
 * journal's (the device and inode JOURNAL_STREAM names), as sd-daemon(3)
 * advises: serve started by hand from a shell under a systemd session
 * still writes plain lines to the terminal.  A line the journal refuses
 * is written to the stream instead, never lost.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "base.h"
#include "log.h"

#define LOG_LINE_MAX 1024

static const char *const log_names[] = { "emerg", "alert", "crit", "err",
	"warning", "notice", "info", "debug" };

/* Whether f is the stream JOURNAL_STREAM names ("DEV:INODE"). */
static bool
log_is_journal(FILE *f)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (f == NULL || v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino,
	    &tail) != 2 || fstat(fileno(f), &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_sink_init(struct log_sink *s, FILE *f, int level, const char *ident)
{
	memset(s, 0, sizeof(*s));
	s->f = f;
	s->level = level;
	s->ident = ident;
	s->journal = log_is_journal(f);
	pthread_mutex_init(&s->mu, NULL);
}

void
log_sink_fini(struct log_sink *s)
{
	pthread_mutex_destroy(&s->mu);
}

int
log_level_parse(const char *name)
{
	for (int i = TLOG_ERR; i <= TLOG_DEBUG; i++)
		if (strcmp(name, log_names[i]) == 0)
			return i;
	return -1;
}

/* The line to the journal, with its fields: 0 when it took it. */
static int
log_journal(const struct log_sink *s, int level, const struct log_fields *fl,
    const char *msg)
{
	char delivery[32] = "";

	if (fl != NULL && fl->delivery > 0)
		(void)snprintf(delivery, sizeof(delivery), "%lld",
		    (long long)fl->delivery);
	/* sd_journal_send ends its list at the first NULL: empty values
	   stand where a field is unknown, and journald drops them */
	return sd_journal_send("MESSAGE=%s: %s", s->ident, msg,
	    "PRIORITY=%d", level,
	    "SYSLOG_IDENTIFIER=tocsin",
	    "TOCSIN_ALERT=%s", fl != NULL && fl->alert != NULL ? fl->alert : "",
	    "TOCSIN_TEAM=%s", fl != NULL && fl->team != NULL ? fl->team : "",
	    "TOCSIN_DELIVERY=%s", delivery,
	    "TOCSIN_CHANNEL=%s", fl != NULL && fl->channel != NULL ?
	    fl->channel : "",
	    "TOCSIN_PROVIDER=%s", fl != NULL && fl->provider != NULL ?
	    fl->provider : "",
	    NULL);
}

void
log_put(struct log_sink *s, int level, const struct log_fields *fl,
    const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (s == NULL || s->f == NULL || level > s->level)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level < TLOG_ERR)
		level = TLOG_ERR;
	if (level > TLOG_DEBUG)
		level = TLOG_DEBUG;
	if (s->journal && log_journal(s, level, fl, msg) >= 0)
		return;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&s->mu);
	(void)fprintf(s->f, "%s.%03ldZ %s: %s: %s\n", stamp,
	    ts.tv_nsec / 1000000, s->ident, log_names[level], msg);
	(void)fflush(s->f);
	pthread_mutex_unlock(&s->mu);
}

void
log_line_notice(void *sink, const char *line)
{
	log_put(sink, TLOG_NOTICE, NULL, "%s", line);
}

void
log_line_warning(void *sink, const char *line)
{
	log_put(sink, TLOG_WARNING, NULL, "%s", line);
}
