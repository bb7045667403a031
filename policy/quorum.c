/*
 * quorum.c: which quorum rules apply to an alert, and what a rule says in
 * words.
 *
 * One reading of a rule serves both: certs/ asks whether a rule applies to
 * the alert in hand (and, for a Cancel or an Update, to the alert it
 * references), and `tocsin check` prints what each rule applies to, so
 * that an operator reads the same meaning the gateway enforces.  A rule's
 * conditions all hold together (audience, any of groups, min_teams); the
 * matching is by the alert's resolved teams, never by the words of its
 * <addresses>, so "all but one team" is 79 teams whichever way it was
 * written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* Whether every team address names is marked in teams; scratch holds
   repo->nteams entries.  An address that names nothing (refused at load,
   or a region without teams) is covered, as the empty set is: a rule errs
   towards asking for more issuers, never fewer. */
static int
policy_quorum_covers(const struct policy_repo *repo, const char *address,
    const bool *teams, bool *scratch)
{
	struct tocsin_err e;

	memset(scratch, 0, (repo->nteams + 1) * sizeof(bool));
	if (policy_resolve(repo, address, scratch, &e) == TOCSIN_ENOMEM)
		return TOCSIN_ENOMEM;
	for (size_t t = 0; t < repo->nteams; t++)
		if (scratch[t] && !teams[t])
			return 0;
	return 1;
}

int
policy_quorum_applies(const struct policy_repo *repo,
    const struct policy_quorum *q, int severity, const bool *teams)
{
	bool *scratch;
	size_t n = 0;
	int rc = 1;

	if (severity < 0 || severity >= POLICY_SEV_COUNT ||
	    (q->severities & (1u << severity)) == 0)
		return 0;
	for (size_t t = 0; t < repo->nteams; t++)
		if (teams[t])
			n++;
	if (q->min_teams > 0 && n < (size_t)q->min_teams)
		return 0;
	if (q->audience == NULL && q->ngroups == 0)
		return 1;
	if ((scratch = calloc(repo->nteams + 1, sizeof(bool))) == NULL)
		return TOCSIN_ENOMEM;
	if (q->audience != NULL)
		rc = policy_quorum_covers(repo, q->audience, teams, scratch);
	if (rc == 1 && q->ngroups > 0) {
		rc = 0;
		for (size_t g = 0; g < q->ngroups && rc == 0; g++)
			rc = policy_quorum_covers(repo, q->groups[g], teams,
			    scratch);
	}
	free(scratch);
	return rc;
}

/* Append to out at *at, keeping it terminated; cut when full. */
static void
policy_quorum_put(char *out, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
policy_quorum_put(char *out, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*at + 1 >= len)
		return;
	va_start(ap, fmt);
	r = vsnprintf(out + *at, len - *at, fmt, ap);
	va_end(ap);
	if (r > 0)
		*at = (size_t)r >= len - *at ? len - 1 : *at + (size_t)r;
}

/* How many teams an address names now, for the reader of `check`. */
static size_t
policy_quorum_size(const struct policy_repo *repo, const char *address)
{
	struct tocsin_err e;
	bool *mark = policy_xcalloc(repo->nteams + 1, sizeof(bool));
	size_t n = 0;

	if (policy_resolve(repo, address, mark, &e) == 0)
		for (size_t t = 0; t < repo->nteams; t++)
			n += mark[t] ? 1 : 0;
	free(mark);
	return n;
}

/* "every team of "region:AF" (12 teams)" */
static void
policy_quorum_put_group(const struct policy_repo *repo, const char *address,
    char *out, size_t len, size_t *at)
{
	char q[POLICY_QUOTE_LEN];
	size_t n = policy_quorum_size(repo, address);

	policy_quorum_put(out, len, at, "%s (%zu team%s)",
	    policy_quote(q, sizeof(q), address), n, n == 1 ? "" : "s");
}

void
policy_quorum_explain(const struct policy_repo *repo,
    const struct policy_quorum *q, char *out, size_t len)
{
	unsigned all = (1u << POLICY_SEV_COUNT) - 1, sev = q->severities & all;
	size_t at = 0, nsev = 0, k = 0;
	bool cond = false;

	if (len == 0)
		return;
	out[0] = '\0';
	policy_quorum_put(out, len, &at, "%d issuers for ", q->issuers);
	for (int s = 0; s < POLICY_SEV_COUNT; s++)
		nsev += (sev >> s) & 1u;
	if (sev == all)
		policy_quorum_put(out, len, &at, "alerts of any severity");
	else {
		for (int s = 0; s < POLICY_SEV_COUNT; s++)
			if (sev & (1u << s))
				policy_quorum_put(out, len, &at, "%s%s",
				    k++ == 0 ? "" : k == nsev ? " or " : ", ",
				    policy_severity_name(s));
		policy_quorum_put(out, len, &at, " alerts");
	}
	if (q->min_teams > 0) {
		policy_quorum_put(out, len, &at, " to %d team%s or more",
		    q->min_teams, q->min_teams == 1 ? "" : "s");
		cond = true;
	}
	if (q->audience != NULL) {
		policy_quorum_put(out, len, &at, "%s to every team of ",
		    cond ? " and" : "");
		policy_quorum_put_group(repo, q->audience, out, len, &at);
		cond = true;
	}
	for (size_t g = 0; g < q->ngroups; g++) {
		policy_quorum_put(out, len, &at, "%s", g > 0 ? " or of " :
		    cond ? " and to every team of " : " to every team of ");
		policy_quorum_put_group(repo, q->groups[g], out, len, &at);
	}
	if (!cond && q->ngroups == 0)
		policy_quorum_put(out, len, &at, " to any audience");
}
