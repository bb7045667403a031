/*
 * escalate.c: moving silent teams along their ladders.
 *
 * Every active team whose deadline passed moves one step along its ladder,
 * with that step's deliveries, in one store transaction that only succeeds
 * from the step it was seen at, so a step fires once across crashes and
 * several serve processes.  The deadline lives in the store: a restart
 * picks up what is overdue at once.  After the last step the team is
 * unreached and the desk's own on-call is paged.  The clock is the
 * caller's: serve passes the time, a drill its simulated one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack.h"
#include "escalate.h"
#include "plan.h"

/*
 * Move the team of row r one step (or make it unreached after its last
 * step, paging the desk), from the step r saw, at its deadline or early
 * (an operator's): a team another process
 * moved first is left alone (TOCSIN_ENOTFOUND).  The move is logged; 0
 * when it was made.
 */
static int
escalate_team(struct store *st, const struct escalate_env *env,
    const struct store_due_team *r, bool early, struct tocsin_err *ret_err)
{
	const struct policy_repo *repo = env->repo;
	int64_t now = env->now;
	struct tocsin_err err = { 0 };
	int rc;

	const struct policy_team *team = policy_team_find(repo, r->team);
	struct store_escalation e = { .alert_id = r->alert_id,
		.team = r->team, .from_step = r->step,
		.to_step = r->step + 1, .state = "active", .early = early,
		.why = early ? "operator" : r->failed ? "failed" : NULL };
	struct plan_list pl = { 0 }, page = { 0 };
	size_t nsteps = team != NULL ? plan_ladder_len(team) : 0;
	int64_t base;
	char page_hash[ACK_HASH_LEN + 1];

	if (team == NULL || (size_t)e.to_step >= nsteps) {
		/* the ladder is done, or gone from the repository:
		   the team was not reached, and the desk's own
		   on-call is paged with the alert */
		const struct policy_team *desk = repo->gateway.desk_team
		    != NULL ? policy_team_find(repo,
		    repo->gateway.desk_team) : NULL;

		e.state = "unreached";
		e.to_step = r->step;
		/* the page goes a second later, so that it names
		   every team that ends unreached in this pass */
		if (desk != NULL && desk != team &&
		    plan_ladder_len(desk) > 0 && plan_step_ex(desk, 0,
		    now + 1, r->exercise && !env->as_actual, &page,
		    &err) == 0) {
			char token[ACK_TOKEN_LEN + 1];

			/* the desk's link works like a team's */
			ack_token(env->secret, r->alert_id, desk->id, token);
			ack_token_hash(token, page_hash);
			e.page_token_hash = page_hash;
			e.page_team = desk->id;
			e.page_deadline = plan_next_deadline(desk, 0, now);
			/* the desk's, never the team's: an unreached
			   team gets nothing more */
			e.page_dels = page.d;
			e.npage_dels = page.n;
			e.page_wait_on_failure = desk->policy != NULL &&
			    desk->policy->wait_on_failure;
		}
	} else {
		if (plan_step_ex(team, (size_t)e.to_step, now,
		    r->exercise && !env->as_actual, &pl, &err) != 0) {
			tocsin_logf(env->log, env->log_arg,
			    "escalation of team %s, alert %s: %s",
			    r->team, r->alert_id, err.msg);
			return tocsin_fail(ret_err, err.code, "%s", err.msg);
		}
		/* the next step keeps its spacing from the moment
		   this one is sent, not from when it was due: a late
		   tick (a restart, a store that was busy) never
		   bunches the steps that follow */
		base = now - plan_step_at(team, (size_t)e.to_step, 0);
		e.deadline = plan_next_deadline(team,
		    (size_t)e.to_step, base);
	}
	rc = store_escalate(st, &e, pl.d, pl.n, now, env->actor, &err);
	if (rc == 0 && strcmp(e.state, "unreached") == 0)
		tocsin_logf(env->log, env->log_arg,
		    "team %s did not acknowledge alert %s: "
		    "unreached after step %d%s%s", r->team, r->alert_id,
		    r->step + 1, r->failed && !early ? " (it failed on every "
		    "channel)" : "", e.page_team != NULL ? "; the desk is "
		    "paged" : "");
	else if (rc == 0 && r->failed && !early)
		tocsin_logf(env->log, env->log_arg,
		    "team %s, alert %s: step %d failed on every channel, "
		    "step %d now (%zu deliveries)", r->team, r->alert_id,
		    r->step + 1, e.to_step + 1, pl.n);
	else if (rc == 0)
		tocsin_logf(env->log, env->log_arg,
		    "team %s, alert %s: no ack, step %d now "
		    "(%zu deliveries, due %llds ago)", r->team,
		    r->alert_id, e.to_step + 1, pl.n,
		    (long long)(now - r->deadline));
	else if (rc != TOCSIN_ENOTFOUND)
		tocsin_logf(env->log, env->log_arg,
		    "escalation of team %s, alert %s: %s",
		    r->team, r->alert_id, err.msg);
	plan_list_free(&pl);
	plan_list_free(&page);
	if (rc != 0)
		(void)tocsin_fail(ret_err, rc, "%s", err.msg);
	return rc;
}

int
escalate_due(struct store *st, const struct escalate_env *env,
    size_t *ret_moved, struct tocsin_err *ret_err)
{
	struct store_due_team *rows = NULL;
	size_t n = 0, moved = 0;
	int rc;

	if (ret_moved != NULL)
		*ret_moved = 0;
	if ((rc = store_due_teams(st, env->now, 256, &rows, &n, ret_err)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (escalate_team(st, env, &rows[i], false, NULL) == 0)
			moved++;
	store_due_teams_free(rows, n);
	if (ret_moved != NULL)
		*ret_moved = moved;
	return 0;
}

int
escalate_now(struct store *st, const struct escalate_env *env,
    const char *alert_id, const char *team, struct tocsin_err *err)
{
	struct store_due_team row;
	char state[16];
	int rc;

	if ((rc = store_team_ladder(st, alert_id, team, &row, state,
	    err)) != 0)
		return rc;
	if (strcmp(state, "active") != 0)
		rc = tocsin_fail(err, TOCSIN_EDATA, "team %s of alert %s is "
		    "%s: its ladder has ended, nothing to escalate", team,
		    alert_id, state);
	else if ((rc = escalate_team(st, env, &row, true, err)) ==
	    TOCSIN_ENOTFOUND)
		rc = tocsin_fail(err, TOCSIN_ETEMP, "team %s of alert %s moved "
		    "while this ran (serve, or an ack): look at its status and "
		    "try again if it still needs it", team, alert_id);
	free(row.alert_id);
	free(row.team);
	return rc;
}
