/*
 * plan.c: turn a ladder step into deliveries, one per contact endpoint,
 * and one for the team itself where the step sends team:sshdrop.
 *
 * A PGP e-mail is still one delivery per contact here: the channel later
 * joins a team's step into one message encrypted to all its keys, but a
 * contact whose key fails or whose address bounces must fail alone.  A
 * team:sshdrop delivery has contact "" and the team's drop address
 * ("NAME:PATH/FOLDER"); a team without sshdrop gets none (check warns).
 * A step that names an endpoint twice on one channel gets one delivery.
 */
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "plan.h"

static int
plan_push(struct plan_list *l, const struct store_delivery_plan *d)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->d[i].team, d->team) == 0 && l->d[i].step == d->step &&
		    strcmp(l->d[i].channel, d->channel) == 0 &&
		    strcmp(l->d[i].address, d->address) == 0)
			return 0;
	if (base_grow(&l->d, &l->cap, l->n + 1, sizeof(*l->d)) != 0)
		return TOCSIN_ENOMEM;
	l->d[l->n++] = *d;
	return 0;
}

/* The team's own delivery for a team target (a kind that reaches the
   team, sshdrop): to its drop. */
static int
plan_team(const struct policy_team *team, const struct policy_target *tg,
    size_t step, int64_t not_before, struct plan_list *out)
{
	struct store_delivery_plan d = {
		.team = team->id, .step = (int)step,
		.channel = tg->channel->name,
		.contact = "", .address = team->drop_address,
		.not_before = not_before,
	};

	if (tg->channel->field != POLICY_FIELD_TEAM ||
	    team->drop_address == NULL)
		return 0;
	return plan_push(out, &d);
}

int
plan_step(const struct policy_team *team, size_t step, int64_t not_before,
    struct plan_list *out, struct tocsin_err *err)
{
	return plan_step_ex(team, step, not_before, false, out, err);
}

int
plan_step_ex(const struct policy_team *team, size_t step, int64_t not_before,
    bool exercise, struct plan_list *out, struct tocsin_err *err)
{
	const struct policy_step *st;
	size_t *idx, n;
	size_t first = out->n;

	if (team->policy == NULL || step >= plan_ladder_len(team))
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "team %s has no ladder step %zu", team->id, step);
	/* a repeated ladder's steps go on counting: step nsteps is the
	   first step again, and its deliveries and message ids are new */
	st = &team->policy->steps[step % team->policy->nsteps];
	if ((idx = calloc(team->ncontacts + 1, sizeof(*idx))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (size_t t = 0; t < st->ntargets; t++) {
		const struct policy_target *tg = &st->targets[t];

		if (tg->who == POLICY_WHO_TEAM) {
			if (plan_team(team, tg, step, not_before, out) != 0)
				goto oom;
			continue;
		}
		/* a drill wakes nobody at an emergency number unless the
		   policy says it may */
		if (exercise && tg->emergency &&
		    !team->policy->exercise_emergency)
			continue;
		policy_target_contacts(team, tg, idx, &n);
		for (size_t i = 0; i < n; i++) {
			const struct policy_contact *c = &team->contacts[idx[i]];
			const char *addr = policy_contact_endpoint(c, tg);
			struct store_delivery_plan d = {
				.team = team->id, .step = (int)step,
				.channel = tg->channel->name,
				.contact = c->name, .address = addr,
				.not_before = not_before,
			};

			if (addr == NULL)
				continue;
			if (plan_push(out, &d) != 0)
				goto oom;
		}
	}
	free(idx);
	return 0;
oom:
	free(idx);
	out->n = first;
	return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
}

int64_t
plan_step_due(const struct policy_team *team, size_t step, int64_t accepted)
{
	if (team->policy == NULL || step >= team->policy->nsteps)
		return 0;
	return accepted + team->policy->steps[step].after;
}

/* The time a team has to acknowledge after a ladder's last step. */
static int64_t
plan_gap(const struct policy_policy *pol)
{
	size_t last = pol->nsteps - 1;
	int64_t gap = pol->unreached_after;

	if (gap <= 0)
		gap = pol->nsteps > 1 ? pol->steps[last].after -
		    pol->steps[last - 1].after : 15 * 60;
	return gap > 0 ? gap : 15 * 60;
}

size_t
plan_ladder_len(const struct policy_team *team)
{
	const struct policy_policy *pol = team->policy;

	if (pol == NULL || pol->nsteps == 0)
		return 0;
	return pol->nsteps * (size_t)(pol->repeat + 1);
}

int64_t
plan_step_at(const struct policy_team *team, size_t step, int64_t base)
{
	const struct policy_policy *pol = team->policy;
	size_t n;

	if (pol == NULL || step >= plan_ladder_len(team))
		return 0;
	n = pol->nsteps;
	/* a round is the ladder and the time to answer its last step */
	return base + (int64_t)(step / n) * (pol->steps[n - 1].after +
	    plan_gap(pol)) + pol->steps[step % n].after;
}

int64_t
plan_next_deadline(const struct policy_team *team, size_t step,
    int64_t base)
{
	if (team->policy == NULL || step >= plan_ladder_len(team))
		return 0;
	if (step + 1 < plan_ladder_len(team))
		return plan_step_at(team, step + 1, base);
	/* after the last step: time for an ack, then the team is unreached */
	return plan_step_at(team, step, base) + plan_gap(team->policy);
}

/* Minute of the day (UTC) of t. */
static int
plan_minute(int64_t t)
{
	int64_t m = (t / 60) % 1440;

	return (int)(m < 0 ? m + 1440 : m);
}

int64_t
plan_hold_until(const struct policy_team *team, int severity, int64_t now)
{
	return plan_hold_until_ex(team, severity, false, now);
}

int64_t
plan_hold_until_ex(const struct policy_team *team, int severity,
    bool exercise, int64_t now)
{
	const struct policy_policy *pol = team->policy;
	const struct policy_contact *c = NULL;
	int m, start, end;
	bool open;

	if (pol == NULL)
		return 0;
	/* an exercise waits for business hours whatever its severity when
	   the policy says so; a real alert by hold_below, Extreme never */
	if (!(exercise && pol->exercise_quiet_hours) && (pol->hold_below == 0 ||
	    severity >= pol->hold_below || severity >= POLICY_SEV_EXTREME))
		return 0;
	/* the team's hours: its primary contact's, else the first given */
	for (size_t i = 0; i < team->ncontacts; i++) {
		const struct policy_contact *k = &team->contacts[i];

		if (k->bh_start < 0)
			continue;
		if (c == NULL || (k->primary && !c->primary))
			c = k;
	}
	if (c == NULL)
		return 0;
	start = c->bh_start;
	end = c->bh_end;
	m = plan_minute(now);
	open = start <= end ? (m >= start && m < end) :
	    (m >= start || m < end);	/* hours across midnight UTC */
	if (open || start == end)
		return 0;
	/* the next opening: today's or tomorrow's start, on the minute */
	return now - now % 60 + (int64_t)(((start - m) + 1440) % 1440) * 60;
}

void
plan_list_free(struct plan_list *l)
{
	free(l->d);
	l->d = NULL;
	l->n = l->cap = 0;
}
