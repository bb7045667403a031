/*
 * tocsin.h: the one result type shared by every module.
 *
 * Functions return 0 or a negative tocsin code and, on failure, fill a
 * caller-owned struct tocsin_err with one human sentence.  Library code never
 * logs; the caller decides.  Codes map onto sysexits for the command line.
 */
#ifndef TOCSIN_H
#define TOCSIN_H

#include <stddef.h>

#define TOCSIN_ERRLEN 512

enum tocsin_code {
	TOCSIN_OK = 0,
	TOCSIN_ENOMEM = -1000,	/* out of memory */
	TOCSIN_EUSAGE,		/* bad command line */
	TOCSIN_EDATA,		/* malformed input (alert, mail, webhook) */
	TOCSIN_ENOINPUT,	/* input file missing or unreadable */
	TOCSIN_EUNAVAIL,	/* a service or peer is unavailable */
	TOCSIN_ETEMP,		/* temporary failure: try again later */
	TOCSIN_EPERM,		/* bad/unauthorised signature, replay */
	TOCSIN_ECONFIG,		/* configuration error */
	TOCSIN_EIO,		/* local I/O error */
	TOCSIN_ESTORE,		/* store (database) error */
	TOCSIN_ETOOBIG,		/* input over its size limit */
	TOCSIN_ENOTFOUND,	/* no such alert, team, key, ... */
	TOCSIN_EINTERNAL	/* broken invariant */
};

struct tocsin_err {
	int code;
	char msg[TOCSIN_ERRLEN];
};

/* Fill err (may be NULL) with code and a formatted sentence; returns code. */
int tocsin_fail(struct tocsin_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A line-logging callback the caller passes in (library code never
   writes a log itself), and a call of it with a formatted line; nothing
   when log is NULL. */
typedef void (*tocsin_log_fn)(void *arg, const char *line);
void tocsin_logf(tocsin_log_fn log, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A short fixed description of a code. */
const char *tocsin_strerror(int code);

/* The sysexits value for a code (0 for TOCSIN_OK). */
int tocsin_exit_code(int code);

#endif
