/*
 * plan.h: which deliveries one step of a team's ladder makes.
 *
 * Pure functions over the loaded repository: no store, no clock of their
 * own.  submit uses them for step 0; escalation uses them for later steps.
 */
#ifndef PLAN_H
#define PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "store.h"

/* A growable list of delivery plans; strings are borrowed from the repo. */
struct plan_list {
	struct store_delivery_plan *d;
	size_t n, cap;
};

/*
 * Append the deliveries of step `step` of team's ladder, due at not_before.
 * A target whose contact lacks the channel is left out (check reports it);
 * a contact addressed twice on one channel in a step gets one delivery.
 */
int plan_step(const struct policy_team *team, size_t step, int64_t not_before,
    struct plan_list *out, struct tocsin_err *err);
/* The same for an alert that is an exercise (CAP status Exercise) or not:
   an exercise leaves out :emergency targets unless the policy's
   exercise_emergency allows them. */
int plan_step_ex(const struct policy_team *team, size_t step,
    int64_t not_before, bool exercise, struct plan_list *out,
    struct tocsin_err *err);

/* When step `step` is due for an alert accepted at `accepted`; 0 when the
   ladder has no such step. */
int64_t plan_step_due(const struct policy_team *team, size_t step,
    int64_t accepted);

/*
 * Steps of a team's ladder with its repeats: nsteps * (repeat + 1).  Step
 * k is the policy's step k % nsteps of round k / nsteps; a round lasts the
 * ladder and the time to answer its last step (unreached_after).
 */
size_t plan_ladder_len(const struct policy_team *team);
/* When step `step` (repeats counted on) is due for a ladder started at
   base; 0 when there is no such step. */
int64_t plan_step_at(const struct policy_team *team, size_t step,
    int64_t base);
/*
 * When a team at step `step` moves on if nobody acknowledges: the next
 * step's time, or after the last step of the last round the time it
 * becomes unreached (policy unreached_after).  0 when there is no such
 * step.
 */
int64_t plan_next_deadline(const struct policy_team *team, size_t step,
    int64_t base);

/*
 * Quiet hours: when the team's policy holds alerts below its hold_below
 * severity and now is outside the team's business hours (its primary
 * contact's, in UTC), the time they open next; 0 when the alert goes now.
 * An Extreme alert never waits.
 */
int64_t plan_hold_until(const struct policy_team *team, int severity,
    int64_t now);
/* The same, and an exercise waits whatever its severity when the policy's
   exercise_quiet_hours says so. */
int64_t plan_hold_until_ex(const struct policy_team *team, int severity,
    bool exercise, int64_t now);

void plan_list_free(struct plan_list *l);

#endif
