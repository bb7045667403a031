/*
 * status.h: `tocsin status`: alerts, and per team the step, deadline,
 * deliveries and ack, as text for people or JSON for programs.
 */
#ifndef STATUS_H
#define STATUS_H

#include <stdbool.h>
#include <stdio.h>

#include "store.h"

/* What the overview tells beside the alerts; a count < 0 was not
   found (not shown). */
struct status_more {
	long requests_open;		/* requests for help still open */
	long stale_contacts, contacts;	/* contacts not confirmed lately */
	long stale_endpoints;
	long stale_days;		/* gateway.verify_after, in days */
};
/* The alerts, newest first (open: only the open ones, an Alert or an
   Update with a team whose ladder runs), then what more says (NULL:
   nothing). */
int status_alerts(struct store *st, const struct status_more *more,
    FILE *out, bool json, bool open, struct tocsin_err *err);
/* Which teams of one alert to show: all (both NULL/false), those whose
   ladder is in one state ("active", "held", "acked", "unreached",
   "cancelled", "updated", "told"), or those that owe an ack. */
struct status_filter {
	const char *state;
	bool unacked;
};
/* Whether s is a state status_filter takes. */
bool status_state_ok(const char *s);
/* One alert in detail, its teams as filter says (NULL: all); the counts
   of its teams by state are always of all of them.  TOCSIN_ENOTFOUND
   when there is no such alert. */
int status_alert(struct store *st, const char *alert_id,
    const struct status_filter *filter, FILE *out, bool json,
    struct tocsin_err *err);

/* Print text as base_esc_term makes it: controls, C1, bidi overrides and
   ill-formed UTF-8 shown as '?', at most max bytes cut at a character
   (then "..."); "-" for NULL.  For a terminal or a log. */
void status_safe(FILE *out, const char *s, size_t max);

#endif
