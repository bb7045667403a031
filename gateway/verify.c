/*
 * verify.c: checking that the contact repository still reaches people.
 *
 * A campaign is an alert of CAP status System that the gateway makes
 * itself, at an operator's command, names its teams in <addresses> and
 * signs with its own key.  It goes to every endpoint of every contact of
 * the chosen teams (PGP e-mail, SMS to the mobile, a call to the phone and
 * to the emergency phone, fax) and to each team's drop, with no ladder
 * behind it: the emergency phone is reached as an endpoint to check, never
 * as an escalation.  Each endpoint's message carries a link and a code of
 * its own, derived from the ack secret over alert, team, contact, channel
 * and address (ack.h); there is no team link.  What confirms an endpoint
 * of a contact is only its own link, its own code from that contact's own
 * number (SMS reply, keys during that contact's call) or under that
 * contact's key or address (e-mail reply), or an ack file signed by that
 * contact's key (their drop): one contact's answer never stands for
 * another's, and nothing typed on a page enters into it.  An endpoint
 * without a confirmation within gateway.verify_after is stale, and a
 * contact none of whose endpoints is confirmed is stale as a whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ack.h"
#include "base.h"
#include "intake.h"
#include "jsonw.h"
#include "plan.h"
#include "verify.h"

#define VERIFY_HEADLINE "Contact check: please confirm you receive tocsin " \
    "alerts"

/* The teams that only[] names (team ids, groups, region:XX, all) into
   mark[]; all teams when nonly is 0. */
static int
verify_mark(const struct policy_repo *repo, const char *const *only,
    size_t nonly, bool *mark, struct tocsin_err *err)
{
	for (size_t t = 0; t < repo->nteams; t++)
		mark[t] = nonly == 0;
	for (size_t i = 0; i < nonly; i++)
		if (policy_resolve(repo, only[i], mark, err) != 0)
			return tocsin_fail(err, TOCSIN_EUSAGE, "'%.64s' is no team, "
			    "group, region:XX or all of the repository",
			    only[i]);
	return 0;
}

int
verify_names_check(const struct policy_repo *repo, const char *const *only,
    size_t nonly, struct tocsin_err *err)
{
	bool *mark = calloc(repo->nteams + 1, sizeof(*mark));
	int rc;

	if (mark == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	rc = verify_mark(repo, only, nonly, mark, err);
	free(mark);
	return rc;
}

/* What an endpoint is to the person checking it. */
static const char *
verify_what(const struct policy_target *t)
{
	if (t->emergency)
		return "emergency phone";
	switch (t->channel->field) {
	case POLICY_FIELD_PHONE:
		return "phone";
	case POLICY_FIELD_MOBILE:
		return "mobile";
	case POLICY_FIELD_FAX:
		return "fax";
	default:
		return "e-mail";
	}
}

/* One endpoint of c by t into out[*n], unless the contact lacks it, the
   gateway cannot send that way (it would wait forever), or it is there
   already. */
static void
verify_endpoint_add(const struct policy_repo *repo, const struct policy_contact *c,
    const struct chan_ops *ops, const struct policy_target *t,
    struct verify_endpoint out[VERIFY_EPS], size_t *n)
{
	const char *addr = policy_contact_endpoint(c, t);

	if (addr == NULL || *n >= VERIFY_EPS || (ops->configured != NULL &&
	    !ops->configured(repo)))
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(out[i].channel, ops->kind.name) == 0 &&
		    strcmp(out[i].address, addr) == 0)
			return;
	out[*n].channel = ops->kind.name;
	out[*n].address = addr;
	out[*n].what = verify_what(t);
	(*n)++;
}

size_t
verify_endpoints(const struct policy_repo *repo,
    const struct policy_contact *c, struct verify_endpoint out[VERIFY_EPS])
{
	size_t n = 0;

	/* every kind of endpoint a contact has: the emergency phone is
	   reached as an endpoint to check, never as an escalation */
	for (const struct chan_ops *const *p = chan_all(); *p != NULL; p++) {
		struct policy_target t = { POLICY_WHO_ALL, &(*p)->kind, false };

		if ((*p)->kind.field == POLICY_FIELD_TEAM)
			continue;
		verify_endpoint_add(repo, c, *p, &t, out, &n);
		if ((*p)->check_emergency) {
			t.emergency = true;
			verify_endpoint_add(repo, c, *p, &t, out, &n);
		}
	}
	return n;
}

bool
verify_code_of(const struct policy_repo *repo,
    const unsigned char secret[ACK_SECRET_LEN], const char *alert,
    const char *team, const struct policy_contact *c, const char *code,
    struct verify_endpoint *ret)
{
	const struct policy_team *t = policy_team_find(repo, team);
	const struct chan_ops *drop = chan_team_channel();
	struct verify_endpoint eps[VERIFY_EPS];
	size_t ne;

	if (t == NULL || c == NULL)
		return false;
	ne = verify_endpoints(repo, c, eps);
	/* its endpoints, then the team's drop */
	for (size_t k = 0; k <= ne && (k < ne || drop != NULL); k++) {
		const char *ch = k < ne ? eps[k].channel : drop->kind.name;
		struct ack_endpoint ep = { alert, team, k < ne ? c->name : "",
			ch, k < ne ? eps[k].address : t->drop_address };

		if (ep.address == NULL || !ack_ep_code_is(secret, &ep, code))
			continue;
		*ret = k < ne ? eps[k] : (struct verify_endpoint){ ch,
		    t->drop_address, "drop" };
		return true;
	}
	return false;
}

bool
verify_also_fn(void *arg, const struct ack_pair *p, const char *code)
{
	struct verify_also *va = arg;
	const struct policy_team *t = policy_team_find(va->repo, p->team);

	for (size_t i = 0; t != NULL && p->contact != NULL &&
	    i < t->ncontacts; i++)
		if (strcmp(t->contacts[i].name, p->contact) == 0 &&
		    verify_code_of(va->repo, va->secret, p->alert, p->team,
		    &t->contacts[i], code, &va->ep))
			return va->matched = true;
	return false;
}

/* The campaign's CAP document: status System, one English info. */
static char *
verify_cap(const char *identifier, const char *sender, const char *addresses,
    int64_t now)
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
	    "</scope><addresses>%s</addresses><info><language>en</language><category>Other</category>"
	    "<event>Contact check</event><urgency>Unknown</urgency>"
	    "<severity>Minor</severity><certainty>Unknown</certainty>"
	    "<headline>" VERIFY_HEADLINE "</headline><description>The "
	    "coordination centre checks once in a while that its contact list "
	    "still reaches every incident-response contact. Nothing has "
	    "happened.</description><instruction>Please confirm, each of you "
	    "for yourself, in one of the ways below: your own link, an SMS "
	    "reply with your own code from your own number, or a signed reply "
	    "to this e-mail.</instruction></info></alert>\n", identifier,
	    sender, sent, addresses) < 0)
		return NULL;
	return doc;
}

/* What a campaign plans: deliveries, team states, links, addresses. */
struct verify_plan {
	struct store_team_plan *tp;
	struct store_delivery_plan *dp;
	struct store_check_ep *ep;
	char (*hashes)[ACK_HASH_LEN + 1];	/* one per ep */
	char *addresses;		/* the teams, space-separated */
	size_t nt, nd, alen;
};

/* One delivery of the check with its own link. */
static void
verify_add(struct verify_plan *p, const unsigned char *secret,
    const char *alert_id, const char *team, const char *contact,
    const char *channel, const char *address, int64_t now)
{
	struct ack_endpoint ae = { alert_id, team, contact, channel, address };
	char token[ACK_TOKEN_LEN + 1];

	ack_ep_token(secret, &ae, token);
	ack_token_hash(token, p->hashes[p->nd]);
	OPENSSL_cleanse(token, sizeof(token));
	p->ep[p->nd] = (struct store_check_ep){ team, contact, channel,
	    address, p->hashes[p->nd] };
	p->dp[p->nd++] = (struct store_delivery_plan){ team, 0, channel,
	    contact, address, now };
}

static int
verify_build(const struct policy_repo *repo, const bool *mark,
    const unsigned char *secret, const char *alert_id, int64_t now,
    struct verify_plan *p, struct tocsin_err *err)
{
	size_t maxd = 0;

	for (size_t t = 0; t < repo->nteams; t++)
		maxd += VERIFY_EPS * repo->teams[t].ncontacts + 1;
	p->tp = calloc(repo->nteams + 1, sizeof(*p->tp));
	p->dp = calloc(maxd + 1, sizeof(*p->dp));
	p->ep = calloc(maxd + 1, sizeof(*p->ep));
	p->hashes = calloc(maxd + 1, sizeof(*p->hashes));
	p->addresses = calloc(repo->nteams + 1, 66);
	if (p->tp == NULL || p->dp == NULL || p->ep == NULL ||
	    p->hashes == NULL || p->addresses == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (size_t t = 0; t < repo->nteams; t++) {
		const struct policy_team *team = &repo->teams[t];
		size_t before = p->nd;

		if (!mark[t])
			continue;
		for (size_t c = 0; c < team->ncontacts; c++) {
			const struct policy_contact *ct = &team->contacts[c];
			struct verify_endpoint eps[VERIFY_EPS];
			size_t ne = verify_endpoints(repo, ct, eps);

			for (size_t k = 0; k < ne; k++)
				verify_add(p, secret, alert_id, team->id,
				    ct->name, eps[k].channel, eps[k].address,
				    now);
		}
		/* the drop is the team's: an ack file signed by a contact's
		   key confirms that contact's drop */
		if (team->drop_address != NULL && chan_team_channel() != NULL &&
		    chan_team_channel()->configured(repo))
			verify_add(p, secret, alert_id, team->id, "",
			    chan_team_channel()->kind.name, team->drop_address,
			    now);
		if (p->nd == before)
			continue;
		/* no team link and no deadline: each contact confirms for
		   itself, and a check has no ladder */
		p->tp[p->nt++] = (struct store_team_plan){ team->id, 0, 0,
		    NULL };
		p->alen += (size_t)snprintf(p->addresses + p->alen, 66, "%s%.64s",
		    p->alen > 0 ? " " : "", team->id);
	}
	if (p->nt == 0)
		return tocsin_fail(err, TOCSIN_EUSAGE, "no contact of these teams "
		    "has an endpoint the gateway can reach");
	return 0;
}

static void
verify_plan_free(struct verify_plan *p)
{
	free(p->tp);
	free(p->dp);
	free(p->ep);
	free(p->hashes);
	free(p->addresses);
}

int
verify_campaign(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, const char *const *only, size_t nonly, int64_t now,
    const char *actor, struct verify_result *res, struct tocsin_err *err)
{
	char *sig = NULL, micalg[32];
	size_t siglen = 0;
	struct verify_plan p = { 0 };
	unsigned char secret[ACK_SECRET_LEN];
	char ident[64], *cap = NULL;
	const char *sender = repo->smtp != NULL && repo->smtp->from != NULL ?
	    repo->smtp->from : "tocsin";
	bool *mark = calloc(repo->nteams + 1, sizeof(*mark));
	int rc;

	memset(res, 0, sizeof(*res));
	if (mark == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = verify_mark(repo, only, nonly, mark, err)) != 0 ||
	    (rc = ack_secret_load(repo, secret, err)) != 0) {
		free(mark);
		return rc;
	}
	if ((rc = intake_new_id(now, res->alert_id, sizeof(res->alert_id)))
	    != 0) {
		(void)tocsin_fail(err, rc, "cannot draw random bytes for an id");
		goto out;
	}
	if ((rc = verify_build(repo, mark, secret, res->alert_id, now, &p,
	    err)) != 0)
		goto out;
	(void)snprintf(ident, sizeof(ident), "contact-check-%.40s",
	    res->alert_id);
	if ((cap = verify_cap(ident, sender, p.addresses, now)) == NULL) {
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
			.cap_len = strlen(cap), .received = now,
			.check_eps = p.ep, .ncheck_eps = p.nd };

		gmtime_r(&tt, &tm);
		(void)strftime(sent, sizeof(sent), "%Y-%m-%dT%H:%M:%S-00:00",
		    &tm);
		struct store_signature ss = { .issuer = "gateway",
			.kind = "openpgp", .signer = repo->gateway.signing_key,
			.sig = sig, .sig_len = siglen };

		rc = store_submit(st, &a, &ss, 1, p.tp, p.nt, p.dp, p.nd, actor,
		    err);
	}
	if (rc == 0) {
		res->nteams = p.nt;
		res->ndeliveries = p.nd;
	}
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	free(sig);
	free(cap);
	free(mark);
	verify_plan_free(&p);
	return rc;
}

/* Room for one more entry in *ret. */
static int
verify_grow(struct verify_contact **ret, size_t n, size_t *cap,
    struct tocsin_err *err)
{
	if (base_grow(ret, cap, n + 1, sizeof(**ret)) != 0)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	return 0;
}

/* The stale endpoints of one contact, appended to *ret. */
static int
verify_stale_contact(const struct policy_repo *repo,
    const struct policy_team *team, const struct policy_contact *ct,
    const struct store_contact_check *chk, size_t nchk, int64_t now,
    struct verify_contact **ret, size_t *n, size_t *cap,
    struct tocsin_err *err)
{
	struct verify_endpoint eps[VERIFY_EPS];
	size_t ne = verify_endpoints(repo, ct, eps), first = *n;
	int64_t last = 0, since = now - repo->gateway.verify_after;
	int rc;

	for (size_t i = 0; i < nchk; i++)
		if (strcmp(chk[i].team, team->id) == 0 &&
		    strcmp(chk[i].contact, ct->name) == 0 &&
		    chk[i].verified > last)
			last = chk[i].verified;
	for (size_t k = 0; k < ne || (k == 0 && ne == 0); k++) {
		int64_t when = 0;
		struct verify_contact *v;

		for (size_t i = 0; i < nchk && ne > 0; i++)
			if (strcmp(chk[i].team, team->id) == 0 &&
			    strcmp(chk[i].contact, ct->name) == 0 &&
			    strcmp(chk[i].channel, eps[k].channel) == 0 &&
			    strcmp(chk[i].address, eps[k].address) == 0 &&
			    chk[i].verified > when)
				when = chk[i].verified;
		if (ne > 0 && when >= since)
			continue;
		if ((rc = verify_grow(ret, *n, cap, err)) != 0)
			return rc;
		v = &(*ret)[(*n)++];
		v->team = team->id;
		v->contact = ct->name;
		v->what = ne > 0 ? eps[k].what : "no endpoint";
		v->channel = ne > 0 ? eps[k].channel : NULL;
		v->address = ne > 0 ? eps[k].address : NULL;
		v->verified = when;
		v->contact_verified = last;
		v->whole = last < since;
		v->first = *n - 1 == first;
		v->src = ct->src;
	}
	return 0;
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
	for (size_t t = 0; t < repo->nteams && rc == 0; t++) {
		const struct policy_team *team = &repo->teams[t];

		for (size_t c = 0; c < team->ncontacts && rc == 0; c++) {
			(*total)++;
			rc = verify_stale_contact(repo, team,
			    &team->contacts[c], chk, nchk, now, ret, n, &cap,
			    err);
		}
	}
	store_contact_checks_free(chk, nchk);
	if (rc != 0) {
		free(*ret);
		*ret = NULL;
		*n = 0;
	}
	return rc;
}

size_t
verify_stale_contacts(const struct verify_contact *v, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += v[i].first && v[i].whole;
	return k;
}

/* Text of the repository on a terminal: no controls. */
static void
verify_put(FILE *out, const char *s)
{
	for (const char *p = s; p != NULL && *p != '\0'; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

void
verify_print(FILE *out, const struct verify_contact *v, size_t n,
    size_t total, int64_t verify_after, bool json)
{
	char tb[32];

	if (json) {
		fprintf(out, "{\"contacts\":%zu,\"stale_contacts\":%zu,"
		    "\"verify_after_days\":%lld,\"stale\":[", total,
		    verify_stale_contacts(v, n),
		    (long long)(verify_after / 86400));
		for (size_t i = 0; i < n; i++) {
			const struct jsonw_member m[] = {
				{ "team", v[i].team },
				{ "contact", v[i].contact },
				{ "endpoint", v[i].what },
				{ "channel", v[i].channel },
				{ "address", v[i].address },
			};

			fputs(i ? ",{" : "{", out);
			jsonw_members(out, m, sizeof(m) / sizeof(m[0]));
			fputc(',', out); jsonw_key(out, "last_verified");
			jsonw_time(out, v[i].verified);
			fputc(',', out); jsonw_key(out, "contact_last_verified");
			jsonw_time(out, v[i].contact_verified);
			fputc('}', out);
		}
		fputs("]}\n", out);
		return;
	}
	fprintf(out, "%zu of %zu contacts are stale, and %zu endpoints (not "
	    "confirmed within %lld days)\n", verify_stale_contacts(v, n),
	    total, n, (long long)(verify_after / 86400));
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "stale  %-12s ", v[i].team);
		verify_put(out, v[i].contact);
		fprintf(out, "  %s ", v[i].what);
		verify_put(out, v[i].address);
		fprintf(out, "  (%s)\n", v[i].verified ?
		    jsonw_fmt_time(v[i].verified, tb, sizeof(tb)) :
		    "never confirmed");
	}
}
