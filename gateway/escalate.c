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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack.h"
#include "escalate.h"
#include "plan.h"

/* Teams moved per store transaction: one commit (one fsync) for up to
   this many, while a transaction stays short enough (a few tens of
   milliseconds) that acks and claims are not held up behind it. */
#define ESCALATE_BATCH 500
/* Batches per escalate_due at most: a ladder whose steps come at once
   (a zero delay that repeats) must not hold a tick for ever. */
#define ESCALATE_MAX_BATCHES 1000

/* One team's move as planned before it is written. */
struct esc_move {
	const struct store_due_team *r;
	bool early;
	struct store_escalation e;
	struct plan_list pl, page;
	char page_hash[ACK_HASH_LEN + 1];
};

/*
 * Plan the move of the team of row r one step (or make it unreached after
 * its last step, paging the desk), from the step r saw, at its deadline
 * or early (an operator's): m->e ready for the store, its lists owned by
 * m (move_free).  0, or the planning's error, logged.
 */
static int
move_plan(const struct escalate_env *env, const struct store_due_team *r,
    bool early, struct esc_move *m, struct tocsin_err *ret_err)
{
	const struct policy_repo *repo = env->repo;
	int64_t now = env->now;
	struct tocsin_err err = { 0 };
	const struct policy_team *team = policy_team_find(repo, r->team);
	size_t nsteps = team != NULL ? plan_ladder_len(team) : 0;
	int64_t base;

	memset(m, 0, sizeof(*m));
	m->r = r;
	m->early = early;
	m->e = (struct store_escalation){ .alert_id = r->alert_id,
		.team = r->team, .from_step = r->step,
		.to_step = r->step + 1, .state = "active", .early = early,
		.why = early ? "operator" : r->failed ? "failed" : NULL };
	if (team == NULL || (size_t)m->e.to_step >= nsteps) {
		/* the ladder is done, or gone from the repository:
		   the team was not reached, and the desk's own
		   on-call is paged with the alert */
		const struct policy_team *desk = repo->gateway.desk_team
		    != NULL ? policy_team_find(repo,
		    repo->gateway.desk_team) : NULL;

		m->e.state = "unreached";
		m->e.to_step = r->step;
		/* the page goes a second later, so that it names
		   every team that ends unreached in this pass */
		if (desk != NULL && desk != team &&
		    plan_ladder_len(desk) > 0 && plan_step_ex(desk, 0,
		    now + 1, r->exercise && !env->as_actual, &m->page,
		    &err) == 0) {
			char token[ACK_TOKEN_LEN + 1];

			/* the desk's link works like a team's */
			ack_token(env->secret, r->alert_id, desk->id, token);
			ack_token_hash(token, m->page_hash);
			m->e.page_token_hash = m->page_hash;
			m->e.page_team = desk->id;
			m->e.page_deadline = plan_next_deadline(desk, 0, now);
			/* the desk's, never the team's: an unreached
			   team gets nothing more */
			m->e.page_dels = m->page.d;
			m->e.npage_dels = m->page.n;
			m->e.page_wait_on_failure = desk->policy != NULL &&
			    desk->policy->wait_on_failure;
		}
		return 0;
	}
	if (plan_step_ex(team, (size_t)m->e.to_step, now,
	    r->exercise && !env->as_actual, &m->pl, &err) != 0) {
		tocsin_logf(env->log, env->log_arg,
		    "escalation of team %s, alert %s: %s",
		    r->team, r->alert_id, err.msg);
		return tocsin_fail(ret_err, err.code, "%s", err.msg);
	}
	m->e.dels = m->pl.d;
	m->e.ndels = m->pl.n;
	/* the next step keeps its spacing from the moment this one is
	   sent, not from when it was due: a late tick (a restart, a store
	   that was busy) never bunches the steps that follow */
	base = now - plan_step_at(team, (size_t)m->e.to_step, 0);
	m->e.deadline = plan_next_deadline(team, (size_t)m->e.to_step, base);
	return 0;
}

static void
move_free(struct esc_move *m)
{
	plan_list_free(&m->pl);
	plan_list_free(&m->page);
}

/* The line of a move the store made (rc 0), or of one it could not make
   (TOCSIN_ENOTFOUND, another process or an ack came first, says
   nothing). */
static void
move_log(const struct escalate_env *env, const struct esc_move *m, int rc,
    const struct tocsin_err *err)
{
	const struct store_due_team *r = m->r;

	if (rc == 0 && strcmp(m->e.state, "unreached") == 0)
		tocsin_logf(env->log, env->log_arg,
		    "team %s did not acknowledge alert %s: "
		    "unreached after step %d%s%s", r->team, r->alert_id,
		    r->step + 1, r->failed && !m->early ? " (it failed on "
		    "every channel)" : "", m->e.page_team != NULL ? "; the "
		    "desk is paged" : "");
	else if (rc == 0 && r->failed && !m->early)
		tocsin_logf(env->log, env->log_arg,
		    "team %s, alert %s: step %d failed on every channel, "
		    "step %d now (%zu deliveries)", r->team, r->alert_id,
		    r->step + 1, m->e.to_step + 1, m->pl.n);
	else if (rc == 0)
		tocsin_logf(env->log, env->log_arg,
		    "team %s, alert %s: no ack, step %d now "
		    "(%zu deliveries, due %llds ago)", r->team,
		    r->alert_id, m->e.to_step + 1, m->pl.n,
		    (long long)(env->now - r->deadline));
	else if (rc != TOCSIN_ENOTFOUND)
		tocsin_logf(env->log, env->log_arg,
		    "escalation of team %s, alert %s: %s",
		    r->team, r->alert_id, err->msg);
}

/* One team moved in a transaction of its own (an operator's escalate, or
   a batch the store refused as a whole); 0 when it moved. */
static int
escalate_team(struct store *st, const struct escalate_env *env,
    const struct store_due_team *r, bool early, struct tocsin_err *ret_err)
{
	struct tocsin_err err = { 0 };
	struct esc_move m;
	int rc;

	if ((rc = move_plan(env, r, early, &m, ret_err)) != 0)
		return rc;
	rc = store_escalate(st, &m.e, m.e.dels, m.e.ndels, env->now,
	    env->actor, &err);
	move_log(env, &m, rc, &err);
	move_free(&m);
	if (rc != 0)
		(void)tocsin_fail(ret_err, rc, "%s", err.msg);
	return rc;
}

/*
 * One batch of due rows: planned, then written in one transaction.  A
 * batch the store refuses for its content (not for being unavailable) is
 * written again team by team, so that one team's trouble does not hold
 * the others back.  *ret_moved counts the moves.
 */
static int
escalate_batch(struct store *st, const struct escalate_env *env,
    const struct store_due_team *rows, size_t n, size_t *ret_moved,
    struct tocsin_err *ret_err)
{
	struct esc_move *m = calloc(n, sizeof(*m));
	struct store_escalation *es = calloc(n, sizeof(*es));
	bool *moved = calloc(n, sizeof(*moved));
	const struct esc_move **planned = calloc(n, sizeof(*planned));
	struct tocsin_err err = { 0 };
	size_t k = 0;
	int rc = 0;

	*ret_moved = 0;
	if (m == NULL || es == NULL || moved == NULL || planned == NULL) {
		rc = tocsin_fail(ret_err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (move_plan(env, &rows[i], false, &m[i], NULL) == 0) {
			planned[k] = &m[i];
			es[k++] = m[i].e;
		}
	rc = store_escalate_batch(st, es, k, env->now, env->actor, moved, &err);
	if (rc != 0 && store_unavailable(st)) {
		/* nothing moved; the next tick tries the same again */
		rc = tocsin_fail(ret_err, rc, "%s", err.msg);
		goto out;
	}
	for (size_t i = 0; i < k; i++) {
		int one = 0;

		if (rc != 0)
			one = escalate_team(st, env, planned[i]->r, false,
			    NULL);
		else
			move_log(env, planned[i], moved[i] ? 0 :
			    TOCSIN_ENOTFOUND, &err);
		if (rc != 0 ? one == 0 : moved[i])
			(*ret_moved)++;
	}
	rc = 0;
out:
	for (size_t i = 0; m != NULL && i < n; i++)
		move_free(&m[i]);
	free(m);
	free(es);
	free(moved);
	free(planned);
	return rc;
}

int
escalate_due(struct store *st, const struct escalate_env *env,
    size_t *ret_moved, struct tocsin_err *ret_err)
{
	size_t moved = 0;
	int rc = 0;

	if (ret_moved != NULL)
		*ret_moved = 0;
	/* batch after batch while the last was full: a burst of thousands
	   of deadlines is moved in this one call, not 256 a tick */
	for (int b = 0; b < ESCALATE_MAX_BATCHES; b++) {
		struct store_due_team *rows = NULL;
		size_t n = 0, k = 0;

		if ((rc = store_due_teams(st, env->now, ESCALATE_BATCH, &rows,
		    &n, ret_err)) != 0)
			break;
		rc = escalate_batch(st, env, rows, n, &k, ret_err);
		store_due_teams_free(rows, n);
		moved += k;
		if (k > 0 && env->moved != NULL)
			env->moved(env->moved_arg, k);
		/* a batch that moved nothing (every team's plan failed, or
		   another process moves them) would be read again as it
		   is: the next tick looks again */
		if (rc != 0 || n < ESCALATE_BATCH || k == 0)
			break;
	}
	if (ret_moved != NULL)
		*ret_moved = moved;
	return rc;
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
		    "%s: %s, nothing to escalate", team, alert_id, state,
		    strcmp(state, "told") == 0 || strcmp(state, "checking") ==
		    0 ? "it has no ladder" : "its ladder has ended");
	else if ((rc = escalate_team(st, env, &row, true, err)) ==
	    TOCSIN_ENOTFOUND)
		rc = tocsin_fail(err, TOCSIN_ETEMP, "team %s of alert %s moved "
		    "while this ran (serve, or an ack): look at its status and "
		    "try again if it still needs it", team, alert_id);
	free(row.alert_id);
	free(row.team);
	return rc;
}
