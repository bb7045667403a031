/*
 * sdnotify.h: what serve tells systemd about itself (sd_notify(3)), for a
 * unit of Type=notify with a watchdog (dist/tocsin.service).
 *
 * Each function sends one datagram to the socket that systemd names in
 * NOTIFY_SOCKET, through libsystemd, and is a no-op returning 0 when
 * NOTIFY_SOCKET is unset or empty (serve run by hand, by a test, by
 * another supervisor).  They return 0 when the message was sent,
 * TOCSIN_EUNAVAIL when the socket named refused it (a supervisor gone),
 * or TOCSIN_ENOMEM: the caller may log that once and go on, since
 * nothing serve does depends on systemd hearing it.  No state is kept here; libsystemd
 * keeps none that matters either (it reads the environment each call),
 * so the functions may be called from any thread.
 */
#ifndef SDNOTIFY_H
#define SDNOTIFY_H

#include <stdint.h>

/* The most bytes of a status text sent; longer text is cut at a
   character and ends "...". */
#define SDNOTIFY_STATUS_MAX 200

/* "READY=1", with "\nSTATUS=status" when status is not NULL.  A status
   is one line: controls (a newline would start another assignment) and
   ill-formed UTF-8 become '?'. */
int sdnotify_ready(const char *status);

/* "RELOADING=1\nMONOTONIC_USEC=N", N the CLOCK_MONOTONIC time in
   microseconds, as systemd 253 and later want for Type=notify-reload
   (systemd 252 ignores the second line); send sdnotify_ready when the
   reload is done. */
int sdnotify_reloading(void);

/* "STOPPING=1": serve is finishing the messages in hand. */
int sdnotify_stopping(void);

/* "STATUS=status", the status as for sdnotify_ready (NULL sends an empty
   status). */
int sdnotify_status(const char *status);

/* "WATCHDOG=1": serve is alive; send it more often than every half of
   sdnotify_watchdog_usec. */
int sdnotify_watchdog(void);

/*
 * The watchdog interval systemd asks for (WatchdogSec=, through
 * WATCHDOG_USEC and WATCHDOG_PID, sd_watchdog_enabled(3)) into *ret_usec:
 * 0 when there is none, or NOTIFY_SOCKET is unset (no one to ping).
 * Returns 0, or TOCSIN_ECONFIG when WATCHDOG_USEC or WATCHDOG_PID is
 * malformed; *ret_usec is then untouched.
 */
int sdnotify_watchdog_usec(uint64_t *ret_usec);

#endif
