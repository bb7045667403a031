/*
 * verify.c: checking that the contact repository still reaches people.
 *
 * A campaign is an alert of CAP status System that the gateway makes
 * itself, at an operator's command: every contact of the chosen teams
 * gets it on their everyday channels (PGP e-mail, SMS to the mobile),
 * never an emergency number, with no ladder behind it.  Each contact who
 * answers through the usual ack paths (link with their name, SMS reply,
 * signed or unsigned e-mail reply, keys during a call, an ack file) gets
 * a last-verified date; one contact's answer never stands for another's.
 * A contact without a date within gateway.verify_after is stale.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ack.h"
#include "intake.h"
#include "jsonw.h"
#include "plan.h"
#include "verify.h"

#define VERIFY_HEADLINE "Contact check: please confirm you receive tocsin " \
    "alerts"

static bool
verify_wanted(const struct policy_repo *repo, const struct policy_team *t,
    const char *const *only, size_t nonly)
{
	if (nonly == 0)
		return true;
	for (size_t i = 0; i < nonly; i++) {
		if (strcmp(only[i], t->id) == 0)
			return true;
		for (size_t g = 0; g < repo->ngroups; g++)
			if (strcmp(repo->groups[g].name, only[i]) == 0)
				for (size_t m = 0; m < repo->groups[g].nmembers;
				    m++)
					if (strcmp(repo->groups[g].members[m],
					    t->id) == 0)
						return true;
	}
	return false;
}

int
verify_names_check(const struct policy_repo *repo, const char *const *only,
    size_t nonly, struct tocsin_err *err)
{
	for (size_t i = 0; i < nonly; i++) {
		bool ok = policy_team_find(repo, only[i]) != NULL;

		for (size_t g = 0; g < repo->ngroups && !ok; g++)
			ok = strcmp(repo->groups[g].name, only[i]) == 0;
		if (!ok)
			return tocsin_fail(err, TOCSIN_EUSAGE, "'%.64s' is no team "
			    "or group of the repository", only[i]);
	}
	return 0;
}

/* The campaign's CAP document: status System, one English info. */
static char *
verify_cap(const char *identifier, const char *sender, int64_t now)
{
	char sent[32], *doc = NULL;
	time_t t = (time_t)now;
	struct tm tm;

	gmtime_r(&t, &tm);
	(void)strftime(sent, sizeof(sent), "%Y-%m-%dT%H:%M:%S-00:00", &tm);
	if (asprintf(&doc, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"
	    "<identifier>%s</identifier><sender>%s</sender><sent>%s</sent>"
	    "<status>System</status><msgType>Alert</msgType><scope>Private"
	    "</scope><info><language>en</language><category>Other</category>"
	    "<event>Contact check</event><urgency>Unknown</urgency>"
	    "<severity>Minor</severity><certainty>Unknown</certainty>"
	    "<headline>" VERIFY_HEADLINE "</headline><description>The "
	    "coordination centre checks once in a while that its contact list "
	    "still reaches every incident-response contact. Nothing has "
	    "happened.</description><instruction>Please confirm, each of you "
	    "for yourself, in one of the ways below: the link (give your name "
	    "as the list has it), an SMS reply with the code, or a reply to "
	    "this e-mail.</instruction></info></alert>\n", identifier, sender,
	    sent) < 0)
		return NULL;
	return doc;
}

int
verify_campaign(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, const char *const *only, size_t nonly, int64_t now,
    const char *actor, struct verify_result *res, struct tocsin_err *err)
{
	char *sig = NULL, micalg[32];
	size_t siglen = 0;
	struct store_team_plan *tp = NULL;
	struct store_delivery_plan *dp = NULL;
	char (*hashes)[ACK_HASH_LEN + 1] = NULL;
	unsigned char secret[ACK_SECRET_LEN];
	char token[ACK_TOKEN_LEN + 1], ident[64], *cap = NULL;
	const char *sender = repo->smtp != NULL && repo->smtp->from != NULL ?
	    repo->smtp->from : "tocsin";
	size_t nt = 0, nd = 0, maxd = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = verify_names_check(repo, only, nonly, err)) != 0)
		return rc;
	if ((rc = ack_secret_load(repo, secret, err)) != 0)
		return rc;
	for (size_t t = 0; t < repo->nteams; t++)
		maxd += 2 * repo->teams[t].ncontacts;
	tp = calloc(repo->nteams + 1, sizeof(*tp));
	dp = calloc(maxd + 1, sizeof(*dp));
	hashes = calloc(repo->nteams + 1, sizeof(*hashes));
	if (tp == NULL || dp == NULL || hashes == NULL) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = intake_new_id(now, res->alert_id, sizeof(res->alert_id)))
	    != 0) {
		(void)tocsin_fail(err, rc, "cannot draw random bytes for an id");
		goto out;
	}
	for (size_t t = 0; t < repo->nteams; t++) {
		const struct policy_team *team = &repo->teams[t];
		size_t before = nd;

		if (!verify_wanted(repo, team, only, nonly))
			continue;
		/* everyday endpoints only: never an emergency number */
		for (size_t c = 0; c < team->ncontacts; c++) {
			const struct policy_contact *ct = &team->contacts[c];

			if (ct->email != NULL && ct->pgp[0] != '\0')
				dp[nd++] = (struct store_delivery_plan){
				    team->id, 0, "pgp-email", ct->name,
				    ct->email, now };
			if (ct->mobile != NULL)
				dp[nd++] = (struct store_delivery_plan){
				    team->id, 0, "sms", ct->name, ct->mobile,
				    now };
		}
		if (nd == before)
			continue;
		ack_token(secret, res->alert_id, team->id, token);
		ack_token_hash(token, hashes[nt]);
		/* no deadline: a campaign has no ladder */
		tp[nt] = (struct store_team_plan){ team->id, 0, 0, hashes[nt] };
		nt++;
	}
	if (nt == 0) {
		rc = tocsin_fail(err, TOCSIN_EUSAGE, "no contact of these teams "
		    "has an e-mail address with a key or a mobile number");
		goto out;
	}
	(void)snprintf(ident, sizeof(ident), "contact-check-%.40s",
	    res->alert_id);
	if ((cap = verify_cap(ident, sender, now)) == NULL) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	/* no issuer wrote it: the gateway signs what it sends in its own
	   name, so that recipients can check it as they check alerts */
	if ((rc = certs_sign_detached(cx, repo->gateway.signing_key, cap,
	    strlen(cap), &sig, &siglen, micalg, err)) != 0)
		goto out;
	{
		char sent[32];
		time_t tt = (time_t)now;
		struct tm tm;
		struct store_alert a = { .id = res->alert_id,
			.identifier = ident, .sender = sender, .sent = sent,
			.sent_t = now, .status = "System", .msg_type = "Alert",
			.scope = "Private", .severity = POLICY_SEV_MINOR,
			.headline = VERIFY_HEADLINE, .cap = cap,
			.cap_len = strlen(cap), .received = now };

		gmtime_r(&tt, &tm);
		(void)strftime(sent, sizeof(sent), "%Y-%m-%dT%H:%M:%S-00:00",
		    &tm);
		struct store_signature ss = { .issuer = "gateway",
			.kind = "openpgp", .signer = repo->gateway.signing_key,
			.sig = sig, .sig_len = siglen };

		rc = store_submit(st, &a, &ss, 1, tp, nt, dp, nd, actor, err);
	}
	if (rc == 0) {
		res->nteams = nt;
		res->ndeliveries = nd;
	}
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	free(sig);
	free(cap);
	free(tp);
	free(dp);
	free(hashes);
	return rc;
}

int
verify_stale(const struct policy_repo *repo, struct store *st, int64_t now,
    struct verify_contact **ret, size_t *n, size_t *total,
    struct tocsin_err *err)
{
	struct store_contact_check *chk = NULL;
	size_t nchk = 0, cap = 0;
	int rc;

	*ret = NULL;
	*n = *total = 0;
	if ((rc = store_contact_checks(st, &chk, &nchk, err)) != 0)
		return rc;
	for (size_t t = 0; t < repo->nteams; t++) {
		const struct policy_team *team = &repo->teams[t];

		for (size_t c = 0; c < team->ncontacts; c++) {
			const struct policy_contact *ct = &team->contacts[c];
			const struct store_contact_check *k = NULL;
			struct verify_contact *v;

			(*total)++;
			for (size_t i = 0; i < nchk && k == NULL; i++)
				if (strcmp(chk[i].team, team->id) == 0 &&
				    strcmp(chk[i].contact, ct->name) == 0)
					k = &chk[i];
			if (k != NULL && k->verified >= now -
			    repo->gateway.verify_after)
				continue;
			if (*n == cap) {
				size_t nc = cap ? cap * 2 : 64;

				if ((v = realloc(*ret, nc * sizeof(*v))) ==
				    NULL) {
					rc = tocsin_fail(err, TOCSIN_ENOMEM,
					    "out of memory");
					goto out;
				}
				*ret = v;
				cap = nc;
			}
			v = &(*ret)[(*n)++];
			v->team = team->id;
			v->contact = ct->name;
			v->verified = k != NULL ? k->verified : 0;
			v->src = ct->src;
		}
	}
out:
	store_contact_checks_free(chk, nchk);
	if (rc != 0) {
		free(*ret);
		*ret = NULL;
		*n = 0;
	}
	return rc;
}

void
verify_print(FILE *out, const struct verify_contact *v, size_t n,
    size_t total, int64_t verify_after, bool json)
{
	char tb[32];

	if (json) {
		fprintf(out, "{\"contacts\":%zu,\"verify_after_days\":%lld,"
		    "\"stale\":[", total, (long long)(verify_after / 86400));
		for (size_t i = 0; i < n; i++) {
			fputs(i ? ",{" : "{", out);
			jsonw_key(out, "team"); jsonw_str(out, v[i].team);
			fputc(',', out); jsonw_key(out, "contact");
			jsonw_str(out, v[i].contact);
			fputc(',', out); jsonw_key(out, "last_verified");
			jsonw_time(out, v[i].verified);
			fputc('}', out);
		}
		fputs("]}\n", out);
		return;
	}
	fprintf(out, "%zu of %zu contacts are stale (not confirmed within %lld "
	    "days)\n", n, total, (long long)(verify_after / 86400));
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "stale  %-12s ", v[i].team);
		for (const char *p = v[i].contact; *p != '\0'; p++)
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p,
			    out);
		fprintf(out, "  (%s)\n", v[i].verified ?
		    jsonw_fmt_time(v[i].verified, tb, sizeof(tb)) :
		    "never confirmed");
	}
}
