/*
 * escalate.h: the escalation step, on any clock.
 */
#ifndef ESCALATE_H
#define ESCALATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "store.h"
#include "tocsin.h"

struct escalate_env {
	const struct policy_repo *repo;
	const unsigned char *secret;	/* ACK_SECRET_LEN bytes: the desk's
					   link token */
	int64_t now;			/* serve's time, or a drill's */
	const char *actor;		/* for the audit log */
	bool as_actual;			/* ladders as for a real alert even
					   when it is an Exercise: a tabletop
					   drill rehearses the real thing */
	/* one line per move; may be NULL */
	tocsin_log_fn log;
	void *log_arg;
	/* told after each batch that committed moves (n of them), so that
	   their deliveries can go while the next batch is written; may be
	   NULL */
	void (*moved)(void *arg, size_t n);
	void *moved_arg;
};

/*
 * Move every team whose deadline is at or before env->now one step, or
 * make it unreached after its last step and page the desk
 * (gateway.desk_team).  The due teams are moved in batches of up to 500,
 * each batch one store transaction (one commit), batch after batch while
 * the last was full, so that a burst is moved in this one call.  A team
 * another process moved first, or acked since it was read, is skipped.
 * *ret_moved (may be NULL) counts the moves.  0, or the store's error
 * when the due teams cannot be read or the store takes no write now (the
 * batch in hand then moved nothing); a team whose move fails otherwise
 * is logged and the others go on.
 */
int escalate_due(struct store *st, const struct escalate_env *env,
    size_t *ret_moved, struct tocsin_err *err);

/*
 * Move one team of an alert to its next step now (an operator's
 * `escalate`), as escalate_due would at its deadline: its deliveries
 * planned, or unreached and the desk paged after the last step; audited
 * with env->actor.  0; TOCSIN_ENOTFOUND (no such team), TOCSIN_EDATA (its
 * ladder has ended: acked, unreached, ...), TOCSIN_ETEMP (another process
 * moved it first), or the store's error.
 */
int escalate_now(struct store *st, const struct escalate_env *env,
    const char *alert_id, const char *team, struct tocsin_err *err);

#endif
