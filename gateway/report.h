/*
 * report.h: the after-action report of one alert (or of a drill).
 *
 * report_build reads what the store holds of an alert (its teams' states
 * and acks, every delivery with its times, the audit records of its
 * escalations) and the repository (regions), and works out the figures:
 * time to first delivery and time to ack per team, their median, p90 and
 * max overall, by channel and by region; escalations and what triggered
 * them; unreached teams; failures by reason; ack strengths.  The writers
 * put the same report as JSON, CSV or one self-contained HTML file.  All
 * times are seconds; instants are Unix time (a drill's are simulated).
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"
#include "store.h"
#include "tocsin.h"

/* Median, p90 and max of a set of durations; n == 0 when it is empty. */
struct report_stats {
	size_t n;
	int64_t median, p90, max;
};

/* One figure by a key (a channel, a region, an ack strength). */
struct report_group {
	char *key;
	struct report_stats first;	/* time to first delivery */
	struct report_stats ack;	/* time to ack */
	size_t teams;			/* teams in the group */
};

/* What happened, for the timeline. */
enum report_event_kind {
	REPORT_EV_SENT,			/* a delivery went out */
	REPORT_EV_FAILED,		/* a delivery ended dead */
	REPORT_EV_ESCALATED,		/* a team moved a step */
	REPORT_EV_ACKED,		/* a team's counting ack */
	REPORT_EV_UNREACHED,		/* a team ended unreached */
	REPORT_EV_DESK			/* the desk was paged */
};

struct report_event {
	int64_t at;			/* seconds after the alert's acceptance */
	enum report_event_kind kind;
	char *team;
	char *channel;			/* SENT, FAILED: the channel; else NULL */
	int step;			/* ESCALATED: the step moved to */
};

/* The outcome of a team, which colours its cell in the grid. */
enum report_outcome {
	REPORT_ACKED,			/* acked at step 0 */
	REPORT_ACKED_ESCALATED,		/* acked after one escalation or more */
	REPORT_UNREACHED,
	REPORT_PENDING,			/* still active, or held */
	REPORT_CANCELLED,		/* cancelled or updated */
	REPORT_TOLD,			/* a receipt or notice: nothing asked */
	REPORT_CHECKING			/* a check of contacts: no ladder */
};

struct report_team {
	char *id, *region;		/* region "" when unknown */
	char *state;			/* the store's: active, acked, ... */
	enum report_outcome outcome;
	int step;			/* last step reached */
	int escalations;		/* steps moved after step 0 */
	int64_t first;			/* seconds to first delivery; -1 none */
	char *first_channel;		/* its channel, NULL when none */
	int64_t ack;			/* seconds to ack; -1 none */
	char *ack_by, *ack_via, *ack_strength;	/* NULL when none */
	size_t sent, failed;		/* deliveries sent, dead */
};

struct report_escalation {
	char *team;
	int from_step, to_step;
	int64_t at;			/* seconds after acceptance */
	char *trigger;			/* "no ack 900 s after step 0" */
};

/* Deliveries that failed at least once, by reason, channel and region of
   their team, whatever became of them: given up (dead, or a receipt said
   undelivered), cancelled while failing (the team acked or went
   unreached, the alert was cancelled: before this count they were not
   counted at all), or still to be tried again. */
struct report_failure {
	char *reason;			/* the last error, cleaned, cut */
	char *channel;
	char *region;			/* the team's, "" when unknown */
	size_t count;			/* deliveries: dead + cancelled +
					   retrying */
	size_t dead, cancelled, retrying;
	size_t attempts;		/* failed attempts of these */
};

struct report_request {
	char *id, *team, *via;
	int64_t at, desk_ack;		/* seconds after the alert's
					   acceptance; desk_ack -1: none */
};

struct report {
	/* the alert */
	char *alert_id, *identifier, *sender, *status, *msg_type;
	char *headline;			/* may be NULL */
	int severity;
	int64_t accepted;		/* Unix time of acceptance */
	bool drill;			/* made by tocsin drill */
	/* the figures */
	struct report_stats first, ack;	/* over all teams */
	struct report_group *by_channel, *by_region, *by_strength;
	size_t nchannel, nregion, nstrength;
	struct report_team *teams;	/* ordered by team id */
	size_t nteams;
	size_t nacked, nunreached, npending, ntold, nchecking;
	struct report_escalation *escalations;	/* in time order */
	size_t nescalations;
	struct report_failure *failures;	/* most frequent first */
	size_t nfailures;
	struct report_event *events;	/* in time order */
	size_t nevents;
	/* a drill's requests for help from teams: when each came, and when
	   the desk acknowledged its page (0: not in the drill) */
	struct report_request *requests;
	size_t nrequests;
};

/* Median (lower middle), p90 (nearest rank) and max of v[0..n); sorts v. */
void report_stats_of(int64_t *v, size_t n, struct report_stats *out);

/*
 * The report of alert_id from the store; repo gives the teams' regions
 * (a team no longer in it has region "").  *ret is malloc'd, freed with
 * report_free.  0, TOCSIN_ENOTFOUND for no such alert, or a store error.
 */
int report_build(struct store *st, const struct policy_repo *repo,
    const char *alert_id, struct report **ret, struct tocsin_err *err);
void report_free(struct report *r);

/* The report as JSON (one object), CSV (one row per team, then the
   figures as rows of "section,key,n,median,p90,max") or HTML (one file,
   no external resources: inline CSS and SVG, no script).  Text from
   outside (headline, names, reasons) is escaped for each format.
   0 or TOCSIN_EIO. */
int report_json(const struct report *r, FILE *out, struct tocsin_err *err);
int report_csv(const struct report *r, FILE *out, struct tocsin_err *err);
int report_html(const struct report *r, FILE *out, struct tocsin_err *err);

/* The report in format ("html", "json", "csv") to path (made aside and
   renamed into place, mode 0640; a device or pipe is written as it is),
   or to standard output when path is NULL.  0, TOCSIN_EUSAGE for an unknown format, or TOCSIN_EIO. */
int report_write(const struct report *r, const char *format,
    const char *path, struct tocsin_err *err);

#endif
