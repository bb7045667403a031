/*
 * sdnotify.c: serve's messages to systemd (sd_notify(3)): ready, reloading,
 * stopping, a status line, watchdog pings and the watchdog's interval.
 *
 * A thin layer over libsystemd so that the protocol is spoken by the
 * library systemd ships rather than by a socket writer of our own, and so
 * that what tocsin sends is fixed here, testable without systemd: each
 * message is whole lines "NAME=value", built in a bounded buffer.  The one
 * value from elsewhere, a status text, is made one line of printable text
 * by base_esc_term, so a status can never add an assignment of its own
 * (a "\nREADY=1" inside it).  Without NOTIFY_SOCKET nothing is built or
 * sent: serve run by hand pays nothing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "base.h"
#include "tocsin.h"
#include "sdnotify.h"

/* The longest message: "READY=1\nSTATUS=" and an escaped status. */
#define SDNOTIFY_MSG_MAX (SDNOTIFY_STATUS_MAX + 64)

static bool
sdnotify_wanted(void)
{
	const char *e = getenv("NOTIFY_SOCKET");

	return e != NULL && *e != '\0';
}

/* Sends the text of b (which it frees); 0 or TOCSIN_EUNAVAIL. */
static int
sdnotify_send(struct base_buf *b)
{
	int r = b->rc != 0 ? b->rc : TOCSIN_EINTERNAL;

	if (b->rc != 0 || b->p == NULL) {
		base_buf_free(b);
		return r;
	}
	/* 0: keep NOTIFY_SOCKET, so that every later message finds it */
	r = sd_notify(0, b->p);
	base_buf_free(b);
	return r < 0 ? TOCSIN_EUNAVAIL : 0;
}

/* head, then "\nSTATUS=" and the status made one line when with_status. */
static int
sdnotify_with_status(const char *head, bool with_status, const char *status)
{
	struct base_buf b;

	if (!sdnotify_wanted())
		return 0;
	base_buf_init(&b, SDNOTIFY_MSG_MAX);
	base_buf_puts(&b, head);
	if (with_status) {
		base_buf_puts(&b, *head != '\0' ? "\nSTATUS=" : "STATUS=");
		if (status != NULL)
			base_esc_term(&b, status, SDNOTIFY_STATUS_MAX);
	}
	return sdnotify_send(&b);
}

int
sdnotify_ready(const char *status)
{
	return sdnotify_with_status("READY=1", status != NULL, status);
}

int
sdnotify_reloading(void)
{
	struct timespec ts;
	char line[64];

	if (!sdnotify_wanted())
		return 0;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return TOCSIN_EINTERNAL;
	snprintf(line, sizeof(line), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	return sdnotify_with_status(line, false, NULL);
}

int
sdnotify_stopping(void)
{
	return sdnotify_with_status("STOPPING=1", false, NULL);
}

int
sdnotify_status(const char *status)
{
	return sdnotify_with_status("", true, status == NULL ? "" : status);
}

int
sdnotify_watchdog(void)
{
	return sdnotify_with_status("WATCHDOG=1", false, NULL);
}

int
sdnotify_watchdog_usec(uint64_t *ret_usec)
{
	uint64_t usec = 0;
	int r;

	if (!sdnotify_wanted()) {
		*ret_usec = 0;
		return 0;
	}
	/* 0: keep WATCHDOG_USEC and WATCHDOG_PID for a later look */
	r = sd_watchdog_enabled(0, &usec);
	if (r < 0)
		return TOCSIN_ECONFIG;
	*ret_usec = r > 0 ? usec : 0;
	return 0;
}
