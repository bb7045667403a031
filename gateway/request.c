/*
 * request.c: requests for help from teams (see request.h for the paths and
 * the rules).
 *
 * Trust model: a request is tied to a contact of the team it is for by its
 * path alone (a good signature of the contact's pinned key, made lately
 * and used once; or an SMS from the contact's registered mobile), exactly
 * as an ack is; anything else is refused and audited, never stored.  Its
 * text is outside text: kept cleaned and bounded, shown escaped, and never
 * repeated as the gateway's word.  That is why the desk's page and the
 * team's receipt, which the gateway sends (and signs, on e-mail) itself,
 * carry the gateway's own sentences with ids and names from the
 * repository, and point to `tocsin requests` and the desk board for the
 * text: the gateway must never sign text an outsider chose.
 *
 * The page is an alert the gateway builds and queues itself, addressed to
 * gateway.desk_team alone, with the desk team's own ladder, ack link and
 * code: the desk acks it as it acks any alert, and a silent desk is
 * escalated as any team is.  That reuses every rule of delivery, ack and
 * escalation instead of a second pager beside them.  The receipt is an
 * alert of CAP msgType Ack to the requesting team, its first step only and
 * no ladder (nothing escalates a receipt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ack.h"
#include "base.h"
#include "cap.h"
#include "compose.h"
#include "intake.h"
#include "jsonw.h"
#include "plan.h"
#include "request.h"
#include "utf8.h"

/* a pruned request's signature must be too old to make it again */
_Static_assert(REQUEST_SIG_MAX_AGE <= STORE_REQUEST_SIG_WINDOW,
    "the store keeps requests for less than a signature may make one");

/* Whether cp is kept in a request's text. */
static bool
request_keep(uint32_t cp)
{
	if (cp == '\n' || cp == '\t')
		return true;
	return cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp <= 0x9f) &&
	    cp != 0x2028 && cp != 0x2029 && !(cp >= 0x202a && cp <= 0x202e) &&
	    !(cp >= 0x2066 && cp <= 0x2069) && cp != 0x200e && cp != 0x200f;
}

size_t
request_clean(const char *in, size_t len, char *out, size_t outsz, bool *cut,
    size_t *removed)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t i = 0, n = 0;

	*cut = false;
	*removed = 0;
	if (outsz == 0)
		return 0;
	/* blank lines before the text */
	while (i < len && (p[i] == '\n' || p[i] == '\r' || p[i] == ' ' ||
	    p[i] == '\t'))
		i++;
	while (i < len) {
		uint32_t cp = 0;
		size_t skip = 1, cl = utf8_next(p + i, len - i, &cp, &skip);

		if (cl == 0) {
			(*removed)++;
			i += skip;
			continue;
		}
		if (cp == '\r' && i + 1 < len && p[i + 1] == '\n') {
			i++;		/* CR LF as LF, not counted */
			continue;
		}
		if (!request_keep(cp)) {
			(*removed)++;
			i += cl;
			continue;
		}
		if (n + cl > outsz - 1) {
			*cut = true;
			break;
		}
		memcpy(out + n, in + i, cl);
		n += cl;
		i += cl;
	}
	/* blanks and empty lines at the end */
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' ||
	    out[n - 1] == '\t'))
		n--;
	out[n] = '\0';
	return n;
}

/* The line at text[i] (to eol, LF excluded), without blanks at its ends. */
static void
request_trim(const char *text, size_t *b, size_t *e)
{
	while (*b < *e && (text[*b] == ' ' || text[*b] == '\t'))
		(*b)++;
	while (*e > *b && (text[*e - 1] == ' ' || text[*e - 1] == '\t' ||
	    text[*e - 1] == '\r'))
		(*e)--;
}

/* Whether text[b..e) starts with key (any case), and where its value
   starts. */
static bool
request_field(const char *text, size_t b, size_t e, const char *key,
    size_t *val)
{
	size_t k = strlen(key);

	if (e - b < k || strncasecmp(text + b, key, k) != 0)
		return false;
	*val = b + k;
	while (*val < e && (text[*val] == ' ' || text[*val] == '\t'))
		(*val)++;
	return true;
}

/* A team id from a "Team:" value: letters, digits, '-' and '_' only. */
static void
request_team_value(const char *v, size_t n, char team[64])
{
	size_t k = 0;

	team[0] = '\0';
	if (n == 0 || n >= 64)
		return;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')) {
			/* not an id: a team of that name is none of ours,
			   so the request is refused, not sent elsewhere */
			(void)snprintf(team, 64, "%s", "(not a team id)");
			return;
		}
		team[k++] = c;
	}
	team[k] = '\0';
}

/* The text of a request from its summary (text[sb..se)) and its body
   (text[bb..len)), cleaned into out. */
static void
request_fill(const char *text, size_t sb, size_t se, size_t bb, size_t len,
    struct request_text *out)
{
	char *joined;
	size_t n = 0, body = bb < len ? len - bb : 0;

	joined = malloc(se - sb + 1 + body + 1);
	if (joined == NULL) {
		/* the summary alone, without a copy */
		out->len = request_clean(text + sb, se - sb, out->text,
		    sizeof(out->text), &out->cut, &out->removed);
		out->cut = true;
		return;
	}
	memcpy(joined, text + sb, se - sb);
	n = se - sb;
	if (body > 0) {
		joined[n++] = '\n';
		memcpy(joined + n, text + bb, body);
		n += body;
	}
	out->len = request_clean(joined, n, out->text, sizeof(out->text),
	    &out->cut, &out->removed);
	free(joined);
}

int
request_parse(const char *text, size_t len, struct request_text *out)
{
	size_t i = 0, sb = 0, se = 0, v;
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return -1;
	if (len > REQUEST_IN_MAX)
		len = REQUEST_IN_MAX;
	while (i < len && !found) {
		size_t b = i, e = i;

		while (e < len && text[e] != '\n')
			e++;
		i = e < len ? e + 1 : e;
		request_trim(text, &b, &e);
		if (request_field(text, b, e, "request:", &v)) {
			found = true;
			sb = v;
			se = e;
		}
	}
	if (!found)
		return -1;
	/* header lines right after it, up to a blank line or the first
	   line that is none of them */
	while (i < len) {
		size_t b = i, e = i, next;

		while (e < len && text[e] != '\n')
			e++;
		next = e < len ? e + 1 : e;
		request_trim(text, &b, &e);
		if (b == e) {
			i = next;
			break;
		}
		if (request_field(text, b, e, "team:", &v))
			request_team_value(text + v, e - v, out->team);
		else if (request_field(text, b, e, "name-us:", &v))
			out->name_us = e - v == 3 &&
			    strncasecmp(text + v, "yes", 3) == 0;
		else
			break;
		i = next;
	}
	request_fill(text, sb, se, i, len, out);
	return 0;
}

int
request_parse_sms(const char *text, size_t len, struct request_text *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return -1;
	if (len > REQUEST_IN_MAX)
		len = REQUEST_IN_MAX;
	while (i < len && (text[i] == ' ' || text[i] == '\t' ||
	    text[i] == '\n' || text[i] == '\r'))
		i++;
	if (len - i < 4 || strncasecmp(text + i, "help", 4) != 0)
		return -1;
	i += 4;
	if (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != ':' &&
	    text[i] != '\n' && text[i] != '\r')
		return -1;	/* "helpful", not HELP */
	while (i < len && (text[i] == ' ' || text[i] == '\t' ||
	    text[i] == ':'))
		i++;
	out->len = request_clean(text + i, len - i, out->text,
	    sizeof(out->text), &out->cut, &out->removed);
	return 0;
}

int
request_signer(const struct policy_repo *repo, const char *team_id,
    const char *fpr, const struct policy_team **ret_team,
    const struct policy_contact **ret_contact)
{
	if (fpr == NULL || fpr[0] == '\0')
		return -1;
	for (size_t i = 0; i < repo->nteams; i++) {
		const struct policy_team *t = &repo->teams[i];

		if (team_id != NULL && strcmp(t->id, team_id) != 0)
			continue;
		for (size_t k = 0; k < t->ncontacts; k++)
			if (t->contacts[k].pgp[0] != '\0' &&
			    strcmp(t->contacts[k].pgp, fpr) == 0) {
				*ret_team = t;
				*ret_contact = &t->contacts[k];
				return 0;
			}
	}
	return -1;
}

bool
request_sig_in_time(int64_t created, int64_t now)
{
	return created > 0 && created <= now + REQUEST_SIG_SKEW &&
	    created >= now - REQUEST_SIG_MAX_AGE;
}

void
request_refuse(struct request_ctx *c, const char *via, const char *who,
    const char *why)
{
	struct tocsin_err ae;
	char object[200], details[600];

	(void)snprintf(object, sizeof(object), "%.16s:%.160s", via,
	    who != NULL && who[0] != '\0' ? who : "(unknown sender)");
	(void)snprintf(details, sizeof(details), "request refused: %.560s",
	    why);
	if (store_audit(c->st, c->now, c->actor, "request-refused", object,
	    details, &ae) != 0)
		tocsin_logf(c->log, c->log_arg, "request: cannot audit a "
		    "refusal: %s", ae.msg);
	tocsin_logf(c->log, c->log_arg, "request by %s from %s refused: %s",
	    via, who != NULL && who[0] != '\0' ? who : "an unknown sender",
	    why);
}

/* The gateway's own words of one internal alert. */
struct request_words {
	const char *identifier, *msg_type, *event, *urgency, *severity;
	int sev;
	const char *headline, *description, *instruction;
	bool ladder;			/* the team's ladder and an ack asked
					   (the desk's page); false: its first
					   step alone, asking nothing (told) */
};

/* The CAP document of w for team, into b. */
static void
request_cap(struct base_buf *b, const char *sender, const char *team,
    const struct request_words *w, int64_t now)
{
	char sent[32];
	time_t t = (time_t)now;
	struct tm tm;

	gmtime_r(&t, &tm);
	(void)strftime(sent, sizeof(sent), "%Y-%m-%dT%H:%M:%S-00:00", &tm);
	base_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"
	    "<identifier>");
	base_esc_html(b, w->identifier, 200);
	base_buf_puts(b, "</identifier><sender>");
	base_esc_html(b, sender, 200);
	base_buf_puts(b, "</sender><sent>");
	base_buf_puts(b, sent);
	base_buf_puts(b, "</sent><status>Actual</status><msgType>");
	base_buf_puts(b, w->msg_type);
	base_buf_puts(b, "</msgType><scope>Private</scope><addresses>");
	base_esc_html(b, team, 64);
	base_buf_puts(b, "</addresses><info><language>en</language>"
	    "<category>Other</category><event>");
	base_buf_puts(b, w->event);
	base_buf_puts(b, "</event><urgency>");
	base_buf_puts(b, w->urgency);
	base_buf_puts(b, "</urgency><severity>");
	base_buf_puts(b, w->severity);
	base_buf_puts(b, "</severity><certainty>Observed</certainty>"
	    "<headline>");
	base_esc_html(b, w->headline, 400);
	base_buf_puts(b, "</headline><description>");
	base_esc_html(b, w->description, 2000);
	base_buf_puts(b, "</description><instruction>");
	base_esc_html(b, w->instruction, 2000);
	base_buf_puts(b, "</instruction></info></alert>\n");
}

/* The sender of the gateway's own alerts (request_alert's). */
static const char *
request_sender(const struct policy_repo *repo)
{
	return repo->smtp != NULL && repo->smtp->from != NULL ?
	    repo->smtp->from : "tocsin";
}

/*
 * Build and queue the internal alert w for team (its step 0, and its
 * ladder when w->ladder), in one store transaction: its id into id.
 */
static int
request_alert(struct request_ctx *c, const struct policy_team *team,
    const struct request_words *w, char id[40], struct tocsin_err *err)
{
	const struct policy_repo *repo = c->repo;
	const char *sender = request_sender(repo);
	unsigned char secret[ACK_SECRET_LEN];
	char token[ACK_TOKEN_LEN + 1], hash[ACK_HASH_LEN + 1], sent[32];
	struct plan_list pl = { 0 };
	struct base_buf b;
	time_t tt = (time_t)c->now;
	struct tm tm;
	int rc;

	if ((rc = intake_new_id(c->now, id, 40)) != 0)
		return tocsin_fail(err, rc, "cannot draw random bytes for an id");
	if ((rc = ack_secret_load(repo, secret, err)) != 0)
		return rc;
	ack_token(secret, id, team->id, token);
	ack_token_hash(token, hash);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(token, sizeof(token));
	if ((rc = plan_step_ex(team, 0, c->now, false, &pl, err)) != 0)
		return rc;
	base_buf_init(&b, 64 * 1024);
	request_cap(&b, sender, team->id, w, c->now);
	if (b.rc != 0 || b.full) {
		base_buf_free(&b);
		plan_list_free(&pl);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	gmtime_r(&tt, &tm);
	(void)strftime(sent, sizeof(sent), "%Y-%m-%dT%H:%M:%S-00:00", &tm);
	{
		struct store_team_plan tp = { .team = team->id, .step = 0,
			.deadline = w->ladder ? plan_next_deadline(team, 0,
			    c->now) : 0,
			/* what asks nothing has no link that acks */
			.token_hash = w->ladder ? hash : NULL,
			.wait_on_failure = team->policy != NULL &&
			    team->policy->wait_on_failure };
		struct store_alert a = { .id = id, .identifier = w->identifier,
			.sender = sender, .sent = sent, .sent_t = c->now,
			.status = "Actual", .msg_type = w->msg_type,
			.scope = "Private", .severity = w->sev,
			.headline = w->headline, .cap = b.p, .cap_len = b.len,
			.received = c->now, .told = !w->ladder };

		rc = store_submit(c->st, &a, NULL, 0, &tp, 1, pl.d, pl.n,
		    "gateway", err);
	}
	base_buf_free(&b);
	plan_list_free(&pl);
	if (rc != 0)
		id[0] = '\0';
	return rc;
}

/* Page the desk with request r (stored as in). */
static int
request_page(struct request_ctx *c, const struct request_in *in,
    const char *rid, char page[40], struct tocsin_err *err)
{
	const struct policy_team *desk = c->repo->gateway.desk_team != NULL ?
	    policy_team_find(c->repo, c->repo->gateway.desk_team) : NULL;
	char ident[80], headline[200], desc[600];
	struct request_words w = { .identifier = ident, .msg_type = "Alert",
		.event = "Request for help", .urgency = "Immediate",
		.severity = "Severe", .sev = POLICY_SEV_SEVERE,
		.headline = headline, .description = desc,
		.instruction = "Read the request with 'tocsin requests' or on "
		    "the desk board, acknowledge this page, and answer the "
		    "team. To tell the community, 'tocsin relay' makes a draft "
		    "that issuers sign and submit.", .ladder = true };

	page[0] = '\0';
	if (desk == NULL)
		return tocsin_fail(err, TOCSIN_ECONFIG, "no gateway.desk_team "
		    "to page: the request is stored, 'tocsin requests' shows "
		    "it");
	(void)snprintf(ident, sizeof(ident), "request-%s", rid);
	(void)snprintf(headline, sizeof(headline), "REQUEST: team %s asks the "
	    "desk for help (%s)", in->team, rid);
	(void)snprintf(desc, sizeof(desc), "Team %s asks the desk for help: "
	    "request %s, %s by %s, contact of the team, by %s. Its text is not "
	    "repeated here.", in->team, rid, in->strength, in->contact,
	    in->via);
	return request_alert(c, desk, &w, page, err);
}

/* The requesting team's receipt of request rid. */
static int
request_receipt(struct request_ctx *c, const struct request_in *in,
    const char *rid, char receipt[40], struct tocsin_err *err)
{
	const struct policy_team *t = policy_team_find(c->repo, in->team);
	char ident[80], headline[200], desc[600];
	struct request_words w = { .identifier = ident, .msg_type = "Ack",
		.event = "Request received", .urgency = "Unknown",
		.severity = "Minor", .sev = POLICY_SEV_MINOR,
		.headline = headline, .description = desc,
		.instruction = "Quote the reference in anything about this "
		    "request. Nothing reaches the community without the "
		    "issuers' signatures; you will be told if the desk relays "
		    "it.", .ladder = false };

	receipt[0] = '\0';
	if (t == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "team %s is not in "
		    "the repository", in->team);
	(void)snprintf(ident, sizeof(ident), "receipt-%s", rid);
	(void)snprintf(headline, sizeof(headline), "RECEIVED: your request "
	    "%s", rid);
	(void)snprintf(desc, sizeof(desc), "The gateway received the request "
	    "of team %s from %s (%s, by %s) and pages the desk with it. "
	    "Nothing is asked of you in return. Reference: %s.", in->team,
	    in->contact, in->strength, in->via, rid);
	return request_alert(c, t, &w, receipt, err);
}

int
request_take(struct request_ctx *c, const struct request_in *in,
    struct request_result *res, struct tocsin_err *err)
{
	struct tocsin_err pe = { 0 }, re = { 0 }, ne = { 0 };
	char rid[32], details[200];
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = intake_new_id(c->now, rid, sizeof(rid))) != 0)
		return tocsin_fail(err, rc, "cannot draw random bytes for an id");
	(void)snprintf(res->id, sizeof(res->id), "R-%s", rid);
	{
		struct store_request_in r = { .id = res->id, .team = in->team,
			.contact = in->contact, .via = in->via,
			.strength = in->strength, .text = in->text->text,
			.name_us = in->text->name_us,
			.sig_digest = in->sig_digest, .at = c->now };
		char actor[200];

		(void)snprintf(actor, sizeof(actor), "contact:%s/%s", in->team,
		    in->contact);
		if ((rc = store_request_add(c->st, &r, actor, err)) != 0) {
			if (rc == TOCSIN_EPERM)
				request_refuse(c, in->via, in->contact,
				    err->msg);
			return rc;
		}
	}
	if (request_page(c, in, res->id, res->page_alert, &pe) != 0)
		tocsin_logf(c->log, c->log_arg, "request %s of team %s: the "
		    "desk was not paged: %s", res->id, in->team, pe.msg);
	if (request_receipt(c, in, res->id, res->receipt_alert, &re) != 0)
		tocsin_logf(c->log, c->log_arg, "request %s of team %s: no "
		    "receipt queued: %s", res->id, in->team, re.msg);
	(void)snprintf(details, sizeof(details), "page=%s receipt=%s",
	    res->page_alert[0] != '\0' ? res->page_alert : "none",
	    res->receipt_alert[0] != '\0' ? res->receipt_alert : "none");
	if (store_request_note(c->st, res->id, res->page_alert[0] != '\0' ?
	    res->page_alert : NULL, res->receipt_alert[0] != '\0' ?
	    res->receipt_alert : NULL, NULL, c->now, "gateway",
	    "request-paged", details, &ne) != 0)
		tocsin_logf(c->log, c->log_arg, "request %s: %s", res->id,
		    ne.msg);
	tocsin_logf(c->log, c->log_arg, "request %s of team %s by %s (%s, %s, "
	    "%zu bytes%s): %s", res->id, in->team, in->contact, in->via,
	    in->strength, in->text->len, in->text->cut ? ", cut" : "",
	    res->page_alert[0] != '\0' ? "the desk is paged" :
	    "the desk was not paged");
	return 0;
}

/*
 * One missing page (receipt false) or receipt of request r: found in the
 * store under its identifier or queued now, then noted.  1 when queued,
 * 0 when found or noted, a negative code when it could not be queued.
 */
static int
request_catch_one(struct request_ctx *c, const struct store_request_row *r,
    bool receipt, struct tocsin_err *err)
{
	struct request_in in = { .team = r->team, .contact = r->contact,
		.via = r->via, .strength = r->strength };
	char ident[80], id[40] = "", details[200];
	int rc, made = 0;

	(void)snprintf(ident, sizeof(ident), "%s-%s", receipt ? "receipt" :
	    "request", r->id);
	if ((rc = store_seen(c->st, ident, request_sender(c->repo), id,
	    sizeof(id), err)) < 0)
		return rc;
	if (rc == 0) {
		rc = receipt ? request_receipt(c, &in, r->id, id, err) :
		    request_page(c, &in, r->id, id, err);
		if (rc != 0)
			return rc;
		made = 1;
	}
	(void)snprintf(details, sizeof(details), "%s=%s (%s)", receipt ?
	    "receipt" : "page", id, made ? "queued late: it could not be "
	    "when the request came" : "found queued, its note had been lost");
	if ((rc = store_request_note(c->st, r->id, receipt ? NULL : id,
	    receipt ? id : NULL, NULL, c->now, "gateway", "request-paged",
	    details, err)) != 0)
		return rc;
	tocsin_logf(c->log, c->log_arg, "request %s of team %s: %s", r->id,
	    r->team, details);
	return made;
}

int
request_catch_up(struct request_ctx *c, size_t *ret_n,
    struct tocsin_err *err)
{
	struct store_request_row *rows = NULL;
	size_t n = 0, queued = 0;
	int rc;

	if (ret_n != NULL)
		*ret_n = 0;
	if ((rc = store_requests(c->st, true, &rows, &n, err)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 2; k++) {
			bool receipt = k == 1;
			struct tocsin_err e = { 0 };

			if ((receipt ? rows[i].receipt_alert :
			    rows[i].page_alert) != NULL)
				continue;
			/* nobody to page or to tell (no desk team, the team
			   gone from the repository) is not a failure to say
			   each time: said when the request came, and shown
			   by tocsin requests */
			if (policy_team_find(c->repo, receipt ? rows[i].team :
			    c->repo->gateway.desk_team != NULL ?
			    c->repo->gateway.desk_team : "") == NULL)
				continue;
			if ((rc = request_catch_one(c, &rows[i], receipt,
			    &e)) > 0)
				queued++;
			else if (rc < 0)
				tocsin_logf(c->log, c->log_arg, "request %s of "
				    "team %s: the %s is still not queued: %s",
				    rows[i].id, rows[i].team, receipt ?
				    "receipt" : "desk's page", e.msg);
		}
	store_request_rows_free(rows, n);
	if (ret_n != NULL)
		*ret_n = queued;
	return 0;
}

/* s escaped for a terminal, at most max bytes. */
static void
request_term(FILE *out, const char *s, size_t max)
{
	struct base_buf b = { .limit = max + 8 };

	base_esc_term(&b, s, max);
	if (b.p != NULL)
		fputs(b.p, out);
	free(b.p);
}

static void
request_json_one(FILE *out, const struct store_request_row *r)
{
	const struct jsonw_member m[] = {
		{ "id", r->id }, { "team", r->team }, { "contact", r->contact },
		{ "via", r->via }, { "strength", r->strength },
		{ "state", r->state }, { "page_alert", r->page_alert },
		{ "page_state", r->page_state },
		{ "receipt_alert", r->receipt_alert }, { "relay", r->relay },
		{ "text", r->text },
	};

	fputc('{', out);
	jsonw_members(out, m, sizeof(m) / sizeof(m[0]));
	fputs(",\"name_us\":", out);
	fputs(r->name_us ? "true" : "false", out);
	fputs(",\"at\":", out);
	jsonw_time(out, r->at);
	fputs(",\"relayed_at\":", out);
	jsonw_time(out, r->relayed_at);
	fputc('}', out);
}

int
request_list(struct store *st, FILE *out, bool json, bool all,
    size_t *ret_n, struct tocsin_err *err)
{
	struct store_request_row *r = NULL;
	size_t n = 0;
	char tb[32];
	int rc;

	if ((rc = store_requests(st, !all, &r, &n, err)) != 0)
		return rc;
	if (ret_n != NULL)
		*ret_n = n;
	if (json) {
		fputs("{\"requests\":[", out);
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				fputc(',', out);
			request_json_one(out, &r[i]);
		}
		fputs("]}\n", out);
	} else if (n == 0)
		fputs(all ? "no requests\n" : "no open requests\n", out);
	else {
		fprintf(out, "%-26s %-20s %-10s %-6s %-8s %-8s %s\n", "REQUEST",
		    "RECEIVED", "TEAM", "VIA", "STRENGTH", "STATE", "DESK PAGE");
		for (size_t i = 0; i < n; i++) {
			const char *p;

			fprintf(out, "%-26s %-20s ", r[i].id, jsonw_fmt_time(
			    r[i].at, tb, sizeof(tb)));
			request_term(out, r[i].team, 10);
			fprintf(out, " %-6s %-8s %-8s %s (%s)\n", r[i].via,
			    r[i].strength, r[i].state, r[i].page_alert != NULL ?
			    r[i].page_alert : "none", r[i].page_state != NULL ?
			    r[i].page_state : "-");
			fputs("  from ", out);
			request_term(out, r[i].contact, 100);
			fputs(r[i].name_us ? "; may be named in a relay" :
			    "; not to be named in a relay", out);
			if (r[i].relay != NULL) {
				fputs("; relayed as ", out);
				request_term(out, r[i].relay, 200);
			}
			fputc('\n', out);
			/* the text, a line at a time, each escaped */
			for (p = r[i].text; p != NULL && *p != '\0';) {
				const char *e = strchr(p, '\n');
				size_t len = e != NULL ? (size_t)(e - p) :
				    strlen(p);
				char *line = strndup(p, len);

				fputs("  | ", out);
				request_term(out, line != NULL ? line : "", len);
				fputc('\n', out);
				free(line);
				p = e != NULL ? e + 1 : NULL;
			}
		}
	}
	store_request_rows_free(r, n);
	return 0;
}

/* The relay's draft of request r into b (see request_relay). */
static void
request_relay_cap(struct base_buf *b, const struct store_request_row *r,
    const struct request_relay_in *rin, const char *ident, int64_t now)
{
	const struct policy_template *t = rin->tmpl;
	const char *hl = NULL, *lang = "en";
	char sent[32], intro[300];
	time_t tt = (time_t)now;
	struct tm tm;

	if (t != NULL && t->ntexts > 0 && t->texts[0].headline != NULL &&
	    strchr(t->texts[0].headline, '{') == NULL) {
		hl = t->texts[0].headline;
		lang = t->texts[0].language;
	}
	gmtime_r(&tt, &tm);
	(void)strftime(sent, sizeof(sent), "%Y-%m-%dT%H:%M:%S-00:00", &tm);
	base_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"
	    "<identifier>");
	base_esc_html(b, ident, 96);
	base_buf_puts(b, "</identifier><sender>");
	base_esc_html(b, rin->sender, 200);
	base_buf_puts(b, "</sender><sent>");
	base_buf_puts(b, sent);
	base_buf_puts(b, "</sent><status>Actual</status><msgType>Alert"
	    "</msgType><scope>Private</scope><addresses>");
	for (size_t i = 0; i < rin->nto; i++) {
		if (i > 0)
			base_buf_puts(b, " ");
		base_esc_html(b, rin->to[i], 200);
	}
	base_buf_puts(b, "</addresses><info><language>");
	base_esc_html(b, lang, 16);
	base_buf_puts(b, "</language><category>");
	base_esc_html(b, t != NULL && t->category != NULL ? t->category :
	    "Other", 32);
	base_buf_puts(b, "</category><event>");
	base_esc_html(b, t != NULL && t->event != NULL ? t->event :
	    "Request for help", 200);
	base_buf_puts(b, "</event><urgency>");
	base_esc_html(b, t != NULL && t->urgency != NULL ? t->urgency :
	    "Expected", 32);
	base_buf_puts(b, "</urgency><severity>");
	base_buf_puts(b, t != NULL ? policy_severity_name(t->severity) :
	    "Moderate");
	base_buf_puts(b, "</severity><certainty>");
	base_esc_html(b, t != NULL && t->certainty != NULL ? t->certainty :
	    "Likely", 32);
	base_buf_puts(b, "</certainty><headline>");
	if (hl != NULL)
		base_esc_html(b, hl, 400);
	else if (r->name_us) {
		base_buf_puts(b, "Team ");
		base_esc_html(b, r->team, 64);
		base_buf_puts(b, " asks the community for help");
	} else
		base_buf_puts(b, "A team asks the community for help");
	base_buf_puts(b, "</headline><description>");
	if (r->name_us)
		(void)snprintf(intro, sizeof(intro), "Team %.64s asks for help, "
		    "through the coordination centre's desk (request %.40s):",
		    r->team, r->id);
	else
		(void)snprintf(intro, sizeof(intro), "A team asks for help, "
		    "through the coordination centre's desk (request %.40s):",
		    r->id);
	base_esc_html(b, intro, sizeof(intro));
	base_buf_puts(b, "\n\n");
	base_esc_html(b, r->text, REQUEST_TEXT_MAX + 16);
	base_buf_puts(b, "</description><instruction>");
	base_buf_puts(b, "Answer through the coordination centre's desk, "
	    "quoting ");
	base_esc_html(b, r->id, 40);
	base_buf_puts(b, ".</instruction></info></alert>\n");
}

int
request_relay(struct request_ctx *c, const struct request_relay_in *rin,
    char **ret, size_t *ret_len, char ident[96], struct tocsin_err *err)
{
	struct store_request_row *r = NULL;
	struct cap_alert *alert = NULL;
	struct base_buf b;
	bool *mark = NULL;
	size_t nt = 0;
	char rnd[32], details[400], notice[40] = "";
	int rc;

	*ret = NULL;
	if (rin->nto == 0)
		return tocsin_fail(err, TOCSIN_EUSAGE, "name the audience: "
		    "--to GROUP|TEAM (a group, region:XX, a team, all)");
	if ((rc = store_request_get(c->st, rin->id, &r, err)) != 0)
		return rc;
	if ((rc = intake_new_id(c->now, rnd, sizeof(rnd))) != 0) {
		store_request_rows_free(r, 1);
		return tocsin_fail(err, rc, "cannot draw random bytes");
	}
	(void)snprintf(ident, 96, "relay-%s-%s", r->id, rnd);
	base_buf_init(&b, 256 * 1024);
	request_relay_cap(&b, r, rin, ident, c->now);
	if (b.rc != 0 || b.full)
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	else if ((mark = calloc(c->repo->nteams + 1, sizeof(*mark))) == NULL)
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	else
		rc = compose_check(c->repo, b.p, b.len, &alert, mark, &nt, err);
	cap_free(alert);
	free(mark);
	if (rc == 0) {
		const struct policy_team *t = policy_team_find(c->repo, r->team);
		char headline[200], desc[400];
		struct request_words w = { .identifier = details,
			.msg_type = "Ack", .event = "Request relayed",
			.urgency = "Unknown", .severity = "Minor",
			.sev = POLICY_SEV_MINOR, .headline = headline,
			.description = desc, .instruction = "Nothing reaches the "
			    "community until issuers sign the draft and submit "
			    "it.", .ladder = false };
		struct tocsin_err ne = { 0 };

		(void)snprintf(details, sizeof(details), "relayed-%.40s-%.30s",
		    r->id, rnd);
		(void)snprintf(headline, sizeof(headline), "RELAYED: your "
		    "request %.40s", r->id);
		(void)snprintf(desc, sizeof(desc), "The desk made your request "
		    "%.40s into a draft alert (%.90s) for %zu team%s%s. It goes "
		    "out once the issuers sign it.", r->id, ident, nt,
		    nt == 1 ? "" : "s", r->name_us ? ", naming your team" :
		    ", without naming your team");
		if (t != NULL && request_alert(c, t, &w, notice, &ne) != 0)
			tocsin_logf(c->log, c->log_arg, "request %s: its team "
			    "was not told of the relay: %s", r->id, ne.msg);
		(void)snprintf(details, sizeof(details), "draft=%.96s teams=%zu "
		    "named=%s notice=%s", ident, nt, r->name_us ? "yes" : "no",
		    notice[0] != '\0' ? notice : "none");
		rc = store_request_note(c->st, r->id, NULL, NULL, ident, c->now,
		    c->actor, "request-relayed", details, err);
	}
	store_request_rows_free(r, 1);
	if (rc != 0) {
		base_buf_free(&b);
		return rc;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}
