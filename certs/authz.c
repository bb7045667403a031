/*
 * authz.c: who may send what.  Maps good signatures to configured issuers,
 * checks each issuer's scope (teams, severities, statuses) and the quorum.
 *
 * Strict on purpose: one bad signature on an alert refuses the alert, even
 * when another signature is good, because a tampered or forged signature
 * on an alert says something is wrong with it.  Good signatures by keys
 * that are no issuer are not counted (a co-signer outside the desk adds no
 * authority) and refuse the alert only when nothing else authorises it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"

static const char *sev_names[] = { "Unknown", "Minor", "Moderate", "Severe",
	"Extreme" };
static const char *st_names[] = { "Actual", "Exercise", "System", "Test",
	"Draft" };

static const struct policy_issuer *
authz_issuer_of(const struct policy_repo *repo, const struct certs_sig *s)
{
	char fp[65];

	for (size_t i = 0; i < repo->nissuers; i++) {
		const struct policy_issuer *is = &repo->issuers[i];

		if (s->kind == CERTS_OPENPGP && is->openpgp[0] != '\0' &&
		    strcmp(is->openpgp, s->signer) == 0)
			return is;
		if (s->kind == CERTS_CMS && is->certificate != NULL &&
		    certs_cert_fingerprint(is->certificate, fp, NULL) == 0 &&
		    strcmp(fp, s->signer) == 0)
			return is;
	}
	return NULL;
}

/* Whether every marked team lies inside the issuer's may_address; names
   the first team outside it in out_team. */
static int
authz_scope(const struct policy_repo *repo, const struct policy_issuer *is,
    const bool *teams, const char **out_team)
{
	bool *allowed;
	int rc = 0;

	if ((allowed = calloc(repo->nteams + 1, sizeof(bool))) == NULL)
		return TOCSIN_ENOMEM;
	for (size_t i = 0; i < is->nmay_address; i++)
		(void)policy_resolve(repo, is->may_address[i], allowed, NULL);
	for (size_t t = 0; t < repo->nteams; t++)
		if (teams[t] && !allowed[t]) {
			*out_team = repo->teams[t].id;
			rc = TOCSIN_EPERM;
			break;
		}
	free(allowed);
	return rc;
}

/* The quorum an alert needs: the largest `issuers` of the matching rules. */
static int
authz_quorum(const struct policy_repo *repo, const bool *teams, int severity,
    const struct policy_quorum **rule)
{
	int need = 1;
	bool *aud;

	*rule = NULL;
	if ((aud = calloc(repo->nteams + 1, sizeof(bool))) == NULL)
		return -1;
	for (size_t i = 0; i < repo->nquorum; i++) {
		const struct policy_quorum *q = &repo->quorum[i];
		bool match = (q->severities & (1u << severity)) != 0;

		if (match && q->audience != NULL) {
			memset(aud, 0, (repo->nteams + 1) * sizeof(bool));
			(void)policy_resolve(repo, q->audience, aud, NULL);
			for (size_t t = 0; t < repo->nteams && match; t++)
				if (aud[t] && !teams[t])
					match = false;
		}
		if (match && q->issuers > need) {
			need = q->issuers;
			*rule = q;
		}
	}
	free(aud);
	return need;
}

int
certs_authorise(const struct policy_repo *repo, struct certs_sigs *sigs,
    const bool *teams, int severity, int status, const char **names,
    size_t *n, struct tocsin_err *err)
{
	const struct policy_quorum *rule;
	const char *outside = NULL, *unknown = NULL;
	char refused[TOCSIN_ERRLEN] = "";
	size_t k = 0;
	int need, rc;

	*n = 0;
	if (sigs->n == 0)
		return tocsin_fail(err, TOCSIN_EPERM,
		    "the alert is not signed; sign it with an issuer key "
		    "(--sig FILE, or an inline OpenPGP message)");
	for (size_t i = 0; i < sigs->n; i++)
		if (!sigs->sig[i].good)
			return tocsin_fail(err, TOCSIN_EPERM, "%s%s%s%s",
			    sigs->sig[i].reason, sigs->sig[i].sigfile ?
			    " (in " : "", sigs->sig[i].sigfile ?
			    sigs->sig[i].sigfile : "", sigs->sig[i].sigfile ? ")" : "");
	if (severity < 0 || severity >= POLICY_SEV_COUNT)
		severity = POLICY_SEV_UNKNOWN;
	if (status < 0 || status >= POLICY_ST_COUNT)
		return tocsin_fail(err, TOCSIN_EPERM, "unknown alert status");

	for (size_t i = 0; i < sigs->n; i++) {
		struct certs_sig *s = &sigs->sig[i];
		const struct policy_issuer *is = authz_issuer_of(repo, s);
		bool dup = false;

		s->issuer = NULL;
		if (is == NULL) {
			unknown = s->signer;
			continue;
		}
		if (!(is->severities & (1u << severity))) {
			(void)snprintf(refused, sizeof(refused),
			    "issuer %s may not issue alerts of severity %s",
			    is->name, sev_names[severity]);
			continue;
		}
		if (!(is->statuses & (1u << status))) {
			(void)snprintf(refused, sizeof(refused),
			    "issuer %s may not issue alerts of status %s",
			    is->name, st_names[status]);
			continue;
		}
		if ((rc = authz_scope(repo, is, teams, &outside)) != 0) {
			if (rc == TOCSIN_ENOMEM)
				return tocsin_fail(err, rc, "out of memory");
			(void)snprintf(refused, sizeof(refused),
			    "issuer %s may not address team '%s'", is->name,
			    outside);
			continue;
		}
		s->issuer = is->name;
		for (size_t j = 0; j < k; j++)
			if (strcmp(names[j], is->name) == 0)
				dup = true;
		if (!dup && k < CERTS_MAX_SIGS)
			names[k++] = is->name;
	}
	if (k == 0) {
		if (refused[0] != '\0')
			return tocsin_fail(err, TOCSIN_EPERM, "%s", refused);
		return tocsin_fail(err, TOCSIN_EPERM,
		    "signed by key %s, which is not a configured issuer",
		    unknown != NULL ? unknown : "(unknown)");
	}
	if ((need = authz_quorum(repo, teams, severity, &rule)) < 0)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((int)k < need)
		return tocsin_fail(err, TOCSIN_EPERM,
		    "quorum not met: a %s alert%s%s needs %d distinct issuers "
		    "and %zu signed (%s%s)%s%s", sev_names[severity],
		    rule && rule->audience ? " to " : "",
		    rule && rule->audience ? rule->audience : "", need, k,
		    names[0], k > 1 ? ", ..." : "",
		    refused[0] ? "; also: " : "", refused);
	*n = k;
	return 0;
}
