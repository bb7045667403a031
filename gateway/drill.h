/*
 * drill.h: tabletop exercises on a simulated clock.
 *
 * A scenario (a libconfig file) names an alert, the teams it goes to, how
 * people answer on each channel (a chance and a delay, drawn from a seed)
 * and faults (a channel down for a region or a team, a provider down, the
 * internet down, a team that never answers).  The drill runs the real planner and the real
 * escalation step against a store of its own in memory, with simulated
 * channels and clock: no message leaves, and the same scenario and seed
 * give the same report.
 */
#ifndef DRILL_H
#define DRILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "policy.h"
#include "report.h"
#include "tocsin.h"

#define DRILL_MAX_FAULTS 64
#define DRILL_MAX_TEAMS 4096

/* How the people reached on one channel answer. */
struct drill_answer {
	double chance;			/* of an ack per delivery, 0..1 */
	int64_t median, p90;		/* seconds after the delivery
					   (log-normal) */
};

struct drill_fault {
	char *channel;			/* NULL: any */
	char *region, *team, *provider;	/* NULL: any */
	int64_t from, until;		/* seconds of the drill; until 0: to
					   the end */
	bool never_answers;		/* the team (or region) never acks */
	bool internet_down;		/* internet = "down": every channel
					   and provider that needs IP fails;
					   a GSM modem still sends */
	int line;			/* in the scenario, for messages */
};

/* A team's request for help at a time of the drill (request.h): taken
   as its path would take it, paging the desk, whose simulated people
   answer as on any alert. */
#define DRILL_MAX_REQUESTS 16
struct drill_request {
	char *team;
	char *via;			/* "mail" (signed), "drop" (signed),
					   "sms" (unsigned) */
	char *text;
	int64_t at;			/* seconds of the drill */
	int line;
};

struct drill_scenario {
	char *path;
	uint64_t seed;
	char *headline, *event;
	int severity;			/* enum policy_severity */
	char **audience;		/* team ids, group names, or "all" */
	size_t naudience;
	int64_t start;			/* Unix time of the simulated start */
	int64_t length;			/* simulated seconds at most */
	struct drill_answer answer[CHAN_MAX];	/* by chan_index() */
	struct drill_fault faults[DRILL_MAX_FAULTS];
	size_t nfaults;
	struct drill_request requests[DRILL_MAX_REQUESTS];
	size_t nrequests;
};

/*
 * Read a scenario.  Every problem is an error naming the file, the line
 * and what to write instead.  *ret is malloc'd, freed with
 * drill_scenario_free.  0, TOCSIN_ENOINPUT or TOCSIN_ECONFIG.
 */
int drill_scenario_load(const char *path, const struct policy_repo *repo,
    struct drill_scenario **ret, struct tocsin_err *err);
void drill_scenario_free(struct drill_scenario *s);

/* Progress of a drill, for a long one: called every simulated hour. */
typedef void (*drill_progress_fn)(void *arg, int64_t sim_seconds,
    size_t acked, size_t teams);

/*
 * Run the drill: *ret is its report (report_free), with drill set.
 * 0, or an error (a store or planner failure).
 */
int drill_run(const struct policy_repo *repo, const struct drill_scenario *s,
    drill_progress_fn progress, void *arg, struct report **ret,
    struct tocsin_err *err);

#endif
