/*
 * authz.c: who may send what.  Maps good signatures to configured issuers,
 * checks each issuer's scope (teams, severities, statuses) and the quorum.
 *
 * A Cancel or an Update is checked against several scopes at once (its
 * own and that of the alert it stops): an issuer counts only when it may
 * send each of them, and the larger quorum applies, so that nobody stops
 * what they could not have sent.
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

/* The quorum a scope needs: the largest `issuers` of the rules that apply
   to it, 1 when none does; -1 when out of memory. */
static int
authz_quorum(const struct policy_repo *repo, const struct certs_scope *sc,
    const struct policy_quorum **rule)
{
	int need = 1, rc;

	*rule = NULL;
	for (size_t i = 0; i < repo->nquorum; i++) {
		const struct policy_quorum *q = &repo->quorum[i];

		if ((rc = policy_quorum_applies(repo, q, sc->severity,
		    sc->teams)) < 0)
			return -1;
		if (rc == 1 && q->issuers > need) {
			need = q->issuers;
			*rule = q;
		}
	}
	return need;
}

/* 0 when the issuer may send scope sc; TOCSIN_EPERM with why in refused,
   or TOCSIN_ENOMEM. */
static int
authz_allowed(const struct policy_repo *repo, const struct policy_issuer *is,
    const struct certs_scope *sc, char *refused, size_t len)
{
	const char *outside = NULL;
	const char *sep = sc->what != NULL ? " (" : "";
	const char *what = sc->what != NULL ? sc->what : "";
	const char *end = sc->what != NULL ? ")" : "";
	int rc;

	if (!(is->severities & (1u << sc->severity))) {
		(void)snprintf(refused, len, "issuer %s may not issue alerts of "
		    "severity %s%s%s%s", is->name,
		    policy_severity_name(sc->severity), sep, what, end);
		return TOCSIN_EPERM;
	}
	if (!(is->statuses & (1u << sc->status))) {
		(void)snprintf(refused, len, "issuer %s may not issue alerts of "
		    "status %s%s%s%s", is->name,
		    policy_status_name(sc->status), sep, what, end);
		return TOCSIN_EPERM;
	}
	if ((rc = authz_scope(repo, is, sc->teams, &outside)) == TOCSIN_EPERM)
		(void)snprintf(refused, len, "issuer %s may not address team "
		    "'%s'%s%s", is->name, outside, sc->what != NULL ?
		    " of " : "", what);
	return rc;
}

/* The refusal for a quorum not met by the k issuers in names. */
static int
authz_short(const struct policy_repo *repo, const struct certs_scope *sc,
    const struct policy_quorum *rule, int need, const char **names, size_t k,
    const char *refused, struct tocsin_err *err)
{
	char rl[256] = "";

	if (rule != NULL) {
		char why[200];

		policy_quorum_explain(repo, rule, why, sizeof(why));
		(void)snprintf(rl, sizeof(rl), " (quorum rule %zu: %s)",
		    (size_t)(rule - repo->quorum) + 1, why);
	}
	return tocsin_fail(err, TOCSIN_EPERM, "quorum not met: %s%s, of "
	    "severity %s, needs %d distinct issuers%s and %zu signed (%s%s)%s%s",
	    sc->what != NULL ? "" : "this alert", sc->what != NULL ? sc->what :
	    "", policy_severity_name(sc->severity), need, rl, k, names[0],
	    k > 1 ? ", ..." : "", refused[0] ? "; also: " : "", refused);
}

int
certs_authorise(const struct policy_repo *repo, struct certs_sigs *sigs,
    const bool *teams, int severity, int status, const char **names,
    size_t *n, struct tocsin_err *err)
{
	struct certs_scope sc = { .teams = teams, .severity = severity,
		.status = status };

	return certs_authorise_scopes(repo, sigs, &sc, 1, names, n, err);
}

/* Every signature good, every scope's values known; the scopes copied
   into out with an unknown severity read as Unknown. */
static int
authz_precheck(const struct certs_sigs *sigs, const struct certs_scope *scopes,
    size_t nscopes, struct certs_scope *out, struct tocsin_err *err)
{
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
	if (nscopes == 0 || nscopes > CERTS_MAX_SCOPES)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "authorisation "
		    "asked for %zu scopes", nscopes);
	for (size_t i = 0; i < nscopes; i++) {
		out[i] = scopes[i];
		if (out[i].severity < 0 || out[i].severity >= POLICY_SEV_COUNT)
			out[i].severity = POLICY_SEV_UNKNOWN;
		if (out[i].status < 0 || out[i].status >= POLICY_ST_COUNT)
			return tocsin_fail(err, TOCSIN_EPERM, "unknown alert "
			    "status%s%s", out[i].what ? " of " : "",
			    out[i].what ? out[i].what : "");
	}
	return 0;
}

int
certs_authorise_scopes(const struct policy_repo *repo,
    struct certs_sigs *sigs, const struct certs_scope *scopes,
    size_t nscopes, const char **names, size_t *n, struct tocsin_err *err)
{
	struct certs_scope sc[CERTS_MAX_SCOPES];
	const struct policy_quorum *rule, *worst_rule = NULL;
	const struct certs_sig *unknown = NULL;
	char refused[TOCSIN_ERRLEN] = "";
	size_t k = 0, worst = 0;
	int need = 0, rc;

	*n = 0;
	if ((rc = authz_precheck(sigs, scopes, nscopes, sc, err)) != 0)
		return rc;
	for (size_t i = 0; i < sigs->n; i++) {
		struct certs_sig *s = &sigs->sig[i];
		const struct policy_issuer *is = authz_issuer_of(repo, s);
		bool dup = false;

		s->issuer = NULL;
		if (is == NULL) {
			unknown = s;
			continue;
		}
		rc = 0;
		for (size_t j = 0; j < nscopes && rc == 0; j++)
			rc = authz_allowed(repo, is, &sc[j], refused,
			    sizeof(refused));
		if (rc == TOCSIN_ENOMEM)
			return tocsin_fail(err, rc, "out of memory");
		if (rc != 0)
			continue;
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
		    "signed by key %s%s%s%s, which is not a configured issuer",
		    unknown != NULL ? unknown->signer : "(unknown)",
		    unknown != NULL && unknown->subkey[0] ? " (with its subkey " :
		    "", unknown != NULL ? unknown->subkey : "",
		    unknown != NULL && unknown->subkey[0] ? ")" : "");
	}
	for (size_t j = 0; j < nscopes; j++) {
		int q = authz_quorum(repo, &sc[j], &rule);

		if (q < 0)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		if (q > need) {
			need = q;
			worst = j;
			worst_rule = rule;
		}
	}
	if ((int)k < need)
		return authz_short(repo, &sc[worst], worst_rule, need, names, k,
		    refused, err);
	*n = k;
	return 0;
}
