/*
 * reply.c: an SMS reply or a call's keypresses, matched to the alert and
 * team they acknowledge, on every phone path alike (a provider's webhook,
 * the gateway's own modem).
 *
 * A reply is matched by its sender's number to the contacts that have it,
 * and its code to one of their teams' alerts; a keypress by its call to
 * the delivery, and its digits to that delivery's alert and team.  A code
 * of another team or alert matches nothing.  Wrong codes are bounded in
 * the store as on every path of codes (ack_code_try): per sender, and per
 * alert and team whoever sends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ack.h"
#include "reply.h"
#include "request.h"
#include "verify.h"

/* The 8 digits of a reply such as "ACK 1234 5678", "ack12345678" or
   "Ack: 1234-5678": an optional "ack" in any case, then digits with
   spaces, dashes or dots between them; nothing else.  0 or -1. */
static int
reply_code(const char *text, char out[ACK_CODE_LEN + 1])
{
	const char *p = text;
	size_t n = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (strncasecmp(p, "ack", 3) == 0)
		p += 3;
	for (; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n == ACK_CODE_LEN)
				return -1;
			out[n++] = *p;
		} else if (strchr(" \t\r\n-.:,", *p) == NULL)
			return -1;
	}
	out[n] = '\0';
	return n == ACK_CODE_LEN ? 0 : -1;
}

/* The contact of team whose phone numbers include number, or NULL. */
static const struct policy_contact *
contact_by_number(const struct policy_team *t, const char *number)
{
	for (size_t i = 0; i < t->ncontacts; i++) {
		const struct policy_contact *c = &t->contacts[i];
		const char *nums[] = { c->mobile, c->phone, c->emergency_phone };

		for (size_t k = 0; k < 3; k++)
			if (nums[k] != NULL && strcmp(nums[k], number) == 0)
				return c;
	}
	return NULL;
}

/*
 * The (alert, team) pairs a code in in may be for, into *ret (malloc'd,
 * owned by the caller; *ret_n 0 when none), and the key its sender's tries
 * count under into key.  An SMS reply: every team with a contact of the
 * sender's number, each of its ACK_TRY_ALERTS newest alerts.  A
 * keypress: its call's delivery, whose contact is copied into contact.
 */
static int
inbound_pairs(const struct reply_ctx *l, const struct chan_inbound *in,
    char contact[160], char *key, size_t keylen, struct ack_pair **ret,
    size_t *ret_n, struct tocsin_err *err)
{
	char alert[64], team[64];
	int rc = 0;

	*ret = NULL;
	*ret_n = 0;
	(void)snprintf(key, keylen, "%s:%s", in->keypress ? "voice-call" :
	    "sms-from", in->keypress ? in->call_ref : in->from);
	if (in->keypress) {
		rc = store_delivery_by_ref(l->st, in->call_ref, alert,
		    sizeof(alert), team, sizeof(team), contact, 160, err);
		if (rc == TOCSIN_ENOTFOUND)
			return 0;
		if (rc == 0 && (*ret = calloc(1, sizeof(**ret))) == NULL)
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		if (rc != 0)
			return rc;
		ack_pair_init(*ret, alert, team, contact[0] != '\0' ? contact :
		    NULL);
		*ret_n = 1;
		return 0;
	}
	if (in->from[0] == '\0')
		return 0;
	for (size_t t = 0; rc == 0 && t < l->repo->nteams; t++) {
		const struct policy_team *tm = &l->repo->teams[t];
		const struct policy_contact *ct = contact_by_number(tm, in->from);

		if (ct != NULL)
			rc = ack_pairs_add(l->st, tm->id, ct->name, ret, ret_n,
			    err);
	}
	if (rc != 0) {
		free(*ret);
		*ret = NULL;
		*ret_n = 0;
	}
	return rc;
}

/* A reply or keypress refused for too many wrong codes: audited each
   time (sms-throttled, voice-throttled), logged at the 1st, 2nd, 4th...
   so that a flood cannot fill the log. */
static void
inbound_throttled(struct reply_ctx *l, const struct chan_inbound *in,
    const char *who, int64_t now)
{
	struct tocsin_err ae;
	char why[200];

	(void)snprintf(why, sizeof(why), "too many wrong codes (at most %d a "
	    "minute from one sender, %d an hour for an alert and team); not "
	    "compared", ACK_TRY_FROM_MAX, ACK_TRY_CODE_MAX);
	if (store_audit(l->st, now, in->keypress ? "voice keypress" :
	    "sms reply", in->keypress ? "voice-throttled" : "sms-throttled",
	    in->keypress ? in->call_ref : in->from, why, &ae) != 0)
		tocsin_logf(l->log, l->log_arg, "ack: cannot audit a refusal: %s", ae.msg);
	l->throttled++;
	if ((l->throttled & (l->throttled - 1)) == 0)
		tocsin_logf(l->log, l->log_arg, "ack: %s sent too many wrong codes; %s", who, why);
}

/* Record the ack of pair p, which in's code is right for. */
static int
inbound_ack(struct reply_ctx *l, const struct chan_inbound *in,
    const struct ack_pair *p, const struct verify_endpoint *ep, int64_t now,
    struct tocsin_err *err)
{
	struct store_ack_in a = { .alert_id = p->alert, .team = p->team,
		.by = p->contact != NULL ? p->contact : in->from,
		.via = in->keypress ? "voice" : "sms",
		.strength = "unsigned",
		.recorded_only = !ack_unsigned_counts(policy_team_find(l->repo,
		    p->team)),
		.contact = p->contact,
		/* in a check: the endpoint whose own code it was */
		.ep_channel = ep != NULL ? ep->channel : NULL,
		.ep_address = ep != NULL ? ep->address : NULL,
		.notice_channels = ack_notice_channels(l->repo, p->team) };
	char actor[200];

	/* the contact matched by the number, or the path it came by */
	if (p->contact != NULL)
		(void)snprintf(actor, sizeof(actor), "contact:%s/%s", p->team,
		    p->contact);
	else
		(void)snprintf(actor, sizeof(actor), "%s", in->keypress ?
		    "voice keypress" : "sms reply");
	if (store_ack(l->st, &a, now, actor, err) < 0)
		return err->code != 0 ? err->code : TOCSIN_ESTORE;
	tocsin_logf(l->log, l->log_arg, "ack: team %s acknowledged by %s", p->team, in->keypress ?
	    "voice" : "sms");
	return 0;
}

/*
 * An SMS "HELP ...": a request of the team of the contact whose registered
 * mobile sent it (the first such team in the repository), unsigned as SMS
 * acks are; a number that is no contact's mobile is refused and audited.
 */
static int
reply_request(struct reply_ctx *l, const struct chan_inbound *in,
    const struct request_text *rt, int64_t now, enum reply_outcome *out,
    struct tocsin_err *err)
{
	struct request_ctx rc_ = { .repo = l->repo, .st = l->st, .now = now,
		.actor = "sms reply", .log = l->log, .log_arg = l->log_arg };
	struct request_result rr;

	for (size_t t = 0; in->from[0] != '\0' && t < l->repo->nteams; t++) {
		const struct policy_team *tm = &l->repo->teams[t];

		for (size_t k = 0; k < tm->ncontacts; k++) {
			const struct policy_contact *ct = &tm->contacts[k];
			struct request_in rq = { .team = tm->id,
				.contact = ct->name, .via = "sms",
				.strength = "unsigned", .text = rt };
			int rc;

			if (ct->mobile == NULL || strcmp(ct->mobile, in->from) != 0)
				continue;
			rc = request_take(&rc_, &rq, &rr, err);
			if (rc == TOCSIN_EPERM) {
				/* refused and audited: no retry asked */
				*out = REPLY_REFUSED;
				return 0;
			}
			if (rc != 0)
				return rc;
			(void)snprintf(l->request, sizeof(l->request), "%s",
			    rr.id);
			*out = REPLY_REQUEST;
			return 0;
		}
	}
	request_refuse(&rc_, "sms", in->from, "the sender's number is no "
	    "contact's registered mobile");
	*out = REPLY_REFUSED;
	return 0;
}

int
reply_take(struct reply_ctx *l, const struct chan_inbound *in, int64_t now,
    enum reply_outcome *out, struct tocsin_err *err)
{
	char code[ACK_CODE_LEN + 1], who[220], key[220];
	char contact[160] = "";
	struct ack_pair *p = NULL;
	/* a check's own code of the contact's endpoint counts too */
	struct verify_also va = { .repo = l->repo, .secret = l->secret };
	struct ack_code_also also = { verify_also_fn, &va };
	size_t n = 0;
	bool throttled = false;
	int rc = 0, hit = -1;

	*out = REPLY_WRONG;
	if (!in->keypress) {
		struct request_text *rt = malloc(sizeof(*rt));

		if (rt == NULL)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		if (request_parse_sms(in->text, strnlen(in->text,
		    sizeof(in->text)), rt) == 0) {
			rc = reply_request(l, in, rt, now, out, err);
			free(rt);
			return rc;
		}
		free(rt);
	}
	(void)snprintf(who, sizeof(who), "%s %s", in->keypress ? "call" : "sms",
	    in->keypress ? in->call_ref : in->from);
	/* no code, or no alert it could be for: nothing to guess at */
	if (reply_code(in->text, code) == 0 && (rc = inbound_pairs(l, in,
	    contact, key, sizeof(key), &p, &n, err)) == 0 && n > 0)
		rc = ack_code_try(l->st, l->secret, key, code, p, n, &also, now,
		    &hit, &throttled, err);
	if (rc != 0) {
		free(p);
		return rc;
	}
	if (throttled) {
		inbound_throttled(l, in, who, now);
		*out = REPLY_THROTTLED;
	} else if (hit >= 0) {
		rc = inbound_ack(l, in, &p[hit], va.matched ? &va.ep : NULL, now,
		    err);
		if (rc == 0)
			*out = REPLY_ACKED;
	} else
		tocsin_logf(l->log, l->log_arg, "ack: a code from %s matched no alert of its "
		    "teams (%s)", who, n > 0 ? "counted" : "not counted");
	free(p);
	return rc;
}

enum chan_ackfile_fate
reply_take_cb(void *ctx, const struct chan_inbound *in)
{
	struct reply_ctx *c = ctx;
	struct tocsin_err err = { 0 };
	enum reply_outcome out;

	if (reply_take(c, in, c->now, &out, &err) != 0) {
		tocsin_logf(c->log, c->log_arg, "ack: a reply from %s waits for the store: %s",
		    in->from[0] != '\0' ? in->from : "an unknown sender",
		    err.msg);
		return CHAN_ACKFILE_KEEP;
	}
	c->taken++;
	if (out == REPLY_ACKED)
		c->acked++;
	return CHAN_ACKFILE_DONE;
}
