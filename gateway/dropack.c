/*
 * dropack.c: verifying and recording ack files from SSH drop hosts.
 *
 * The folder is the team's, so a file there is from someone who can log
 * in to the drop host as the team, no more: whoever that is must still
 * sign with a contact's pinned key or know the team's code for the alert.
 * A signed text must name the alert, so that an old signed ack cannot be
 * copied under a new alert's name; its signature must be no older than the
 * alert, and it acks once (the store keeps what names it), so that a
 * signed file put back, renamed or armoured anew acks nothing more.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dropack.h"
#include "mailack.h"
#include "request.h"
#include "utf8.h"

int
dropack_name(const char *name, char alert[64], char team[64])
{
	const char *p, *dot, *end;

	if (name == NULL || strncmp(name, "alert-", 6) != 0)
		return -1;
	p = name + 6;
	if ((dot = strchr(p, '.')) == NULL || dot == p || dot - p >= 64)
		return -1;
	end = strchr(dot + 1, '.');
	if (end == NULL)
		end = dot + 1 + strlen(dot + 1);
	if (end == dot + 1 || end - (dot + 1) >= 64)
		return -1;
	for (const char *c = p; c < end; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || c == dot))
			return -1;
	memcpy(alert, p, (size_t)(dot - p));
	alert[dot - p] = '\0';
	memcpy(team, dot + 1, (size_t)(end - dot - 1));
	team[end - dot - 1] = '\0';
	return 0;
}

/* Whether cp may stand in a name shown on one line: no C0 or C1 control,
   no line or paragraph separator, no bidirectional override. */
static bool
dropack_printable(uint32_t cp)
{
	return cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp <= 0x9f) &&
	    cp != 0x2028 && cp != 0x2029 && !(cp >= 0x202a && cp <= 0x202e) &&
	    !(cp >= 0x2066 && cp <= 0x2069) && cp != 0x200e && cp != 0x200f;
}

/* The code of the team's drop in a check of contacts (ack.h), which the
   check's file in the drop carries instead of a team's code. */
static bool
dropack_check_code(const struct dropack_ctx *c, const struct policy_team *t,
    const char *alert, const char *code)
{
	struct ack_endpoint ep = { alert, t->id, "", "sshdrop",
		t->drop_address };

	return t->drop_address != NULL && ack_ep_code_is(c->secret, &ep, code);
}

bool
dropack_by(const char *text, size_t len, char by[128])
{
	size_t i = 0;

	while (i < len) {
		size_t eol = i, n = 0, k;

		while (eol < len && text[eol] != '\n')
			eol++;
		if (eol - i > 3 && strncasecmp(text + i, "by:", 3) == 0) {
			/* whole characters only, each one that may not
			   stand on a line becoming a space */
			for (k = i + 3; k < eol;) {
				uint32_t cp = 0;
				size_t skip = 1, cl = utf8_next(
				    (const unsigned char *)text + k, eol - k, &cp,
				    &skip);
				bool ok = cl > 0 && dropack_printable(cp);

				if (cl == 0)
					cl = skip;
				if (!ok || cp == ' ' || cp == '\t') {
					if (n > 0 && by[n - 1] != ' ' && n < 100)
						by[n++] = ' ';
				} else {
					if (n + cl > 100)
						break;
					memcpy(by + n, text + k, cl);
					n += cl;
				}
				k += cl;
			}
			while (n > 0 && by[n - 1] == ' ')
				n--;
			by[n] = '\0';
			if (n > 0)
				return true;
		}
		i = eol + 1;
	}
	return false;
}

/* Refuse f with a reason: audited, logged, moved to ack/refused/. */
static enum chan_ackfile_fate
dropack_refuse(struct dropack_ctx *c, const struct chan_ackfile *f,
    const char *why)
{
	char object[256], details[640];
	struct tocsin_err e;

	(void)snprintf(object, sizeof(object), "%.40s:%.60s/ack/%.128s",
	    f->host, f->team, f->name);
	(void)snprintf(details, sizeof(details), "%s", why);
	if (store_audit(c->st, c->now, "drop poller", "drop-ack-refused",
	    object, details, &e) != 0)
		return CHAN_ACKFILE_KEEP;	/* refused next time, audited */
	c->refused++;
	tocsin_logf(c->log, c->log_arg,
	    "ack file %s refused: %s", object, why);
	return CHAN_ACKFILE_REFUSED;
}

/* The contact of team whose pinned key made sig, or NULL. */
static const struct policy_contact *
dropack_signer(const struct policy_team *t, const struct certs_sig *sig)
{
	for (size_t i = 0; i < t->ncontacts; i++)
		if (t->contacts[i].pgp[0] != '\0' &&
		    strcmp(t->contacts[i].pgp, sig->signer) == 0)
			return &t->contacts[i];
	return NULL;
}

/* What an ack file acks with. */
struct dropack_ack {
	char by[128];
	bool is_signed;
	char digest[65];	/* names its signature, when signed */
	char note[256];		/* why a good signature made no signed ack */
};

/*
 * The signed rules for a clear-signed f of (alert, team): a good signature
 * of a contact's pinned key over text that names the alert, made no
 * earlier than the alert was accepted.  0 a signed ack (a filled); 1 not
 * one, a->note says why and *ret_plain (malloc'd, the caller's) is to be
 * judged by the unsigned rules; TOCSIN_EPERM refused (err says why); a
 * store error otherwise.
 */
static int
dropack_signed(struct dropack_ctx *c, const struct chan_ackfile *f,
    const struct policy_team *t, const char *alert, char **ret_plain,
    size_t *ret_plen, struct dropack_ack *a, struct tocsin_err *err)
{
	const struct policy_contact *ct;
	const struct certs_sig *sig;
	struct certs_sigs sigs = { 0 };
	struct store_alert_row *row = NULL;
	struct tocsin_err ve = { 0 };
	char code[ACK_CODE_LEN + 1];
	bool in_time;
	int rc;

	rc = certs_verify_inline(c->certs, f->data, f->len, CHAN_ACKFILE_MAX,
	    ret_plain, ret_plen, &sigs, &ve);
	/* a signature that does not hold is never taken as an unsigned ack */
	if (rc != 0 || sigs.n == 0 || !sigs.sig[0].good)
		return tocsin_fail(err, TOCSIN_EPERM, "the signature does not "
		    "verify: %.400s", rc != 0 ? ve.msg : sigs.n > 0 ?
		    sigs.sig[0].reason : "none found");
	sig = &sigs.sig[0];
	if ((ct = dropack_signer(t, sig)) == NULL)
		return tocsin_fail(err, TOCSIN_EPERM, "signed by %s, which is "
		    "the pinned key of no contact of team %s", sig->signer,
		    t->id);
	/* the signed words must name this alert: its id or code */
	if (memmem(*ret_plain, *ret_plen, alert, strlen(alert)) == NULL &&
	    !(mailack_code(*ret_plain, *ret_plen, code) == 0 &&
	    (ack_code_is(c->secret, alert, t->id, code) ||
	    dropack_check_code(c, t, alert, code))))
		return tocsin_fail(err, TOCSIN_EPERM, "the signed text names "
		    "neither the alert's id nor its code (an old ack under a "
		    "new name?)");
	if ((rc = store_alert_get(c->st, alert, &row, err)) != 0)
		return rc == TOCSIN_ENOTFOUND ? tocsin_fail(err, TOCSIN_EPERM,
		    "the alert has no such team") : rc;
	in_time = ack_sig_in_time(sig->created, row->received);
	store_alert_rows_free(row, 1);
	if (!in_time) {
		/* a replayed file, or a clock that runs slow: the signature
		   proves who wrote the text, not that it answers this alert */
		(void)snprintf(a->note, sizeof(a->note), "the signature (made "
		    "at %lld) is older than alert %s", (long long)sig->created,
		    alert);
		return 1;
	}
	a->is_signed = true;
	ack_sig_digest(sig->signer, sig->created, *ret_plain, *ret_plen,
	    a->digest);
	(void)snprintf(a->by, sizeof(a->by), "%s", ct->name);
	return 0;
}

/* The unsigned rules: the team's code for the alert in text.  0 (a->by
   filled), or TOCSIN_EPERM with err saying why. */
static int
dropack_unsigned(struct dropack_ctx *c, const struct chan_ackfile *f,
    const char *alert, const char *team, const char *text, size_t len,
    struct dropack_ack *a, struct tocsin_err *err)
{
	char code[ACK_CODE_LEN + 1];

	if (mailack_code(text, len, code) != 0)
		return tocsin_fail(err, TOCSIN_EPERM, "unsigned, and no code "
		    "(\"ACK 1234 5678\") in it");
	if (!ack_code_is(c->secret, alert, team, code))
		return tocsin_fail(err, TOCSIN_EPERM, "the code is not the "
		    "team's code for this alert");
	if (!dropack_by(text, len, a->by))
		(void)snprintf(a->by, sizeof(a->by), "ack file %.100s",
		    f->name);
	return 0;
}

/* Record the ack a of (alert, team): done, refused (a signature that
   acked before, a team the alert lacks) or kept for the next look. */
static enum chan_ackfile_fate
dropack_record(struct dropack_ctx *c, const struct chan_ackfile *f,
    const struct policy_team *t, const char *alert,
    const struct dropack_ack *a)
{
	struct store_ack_in in = { .alert_id = alert, .team = t->id,
		.by = a->by, .via = "drop",
		.strength = a->is_signed ? "signed" : "unsigned",
		.recorded_only = !a->is_signed && !ack_unsigned_counts(t),
		/* the contact whose pinned key signed; an unsigned file's
		   "by:" line is only what someone wrote */
		.contact = a->is_signed ? a->by : NULL,
		/* in a check, a signed file confirms that contact's drop */
		.ep_channel = a->is_signed ? "sshdrop" : NULL,
		.ep_address = a->is_signed ? t->drop_address : NULL,
		.sig_digest = a->is_signed ? a->digest : NULL,
		.notice_channels = ack_notice_channels(c->repo, t->id) };
	struct tocsin_err e = { 0 };
	char why[512], actor[256];
	int rc;

	/* a signed file: the contact whose pinned key signed it */
	if (a->is_signed)
		(void)snprintf(actor, sizeof(actor), "contact:%s/%s", t->id,
		    a->by);
	else
		(void)snprintf(actor, sizeof(actor), "drop poller");
	rc = store_ack(c->st, &in, c->now, actor, &e);

	if (rc == TOCSIN_ENOTFOUND)
		return dropack_refuse(c, f, "the alert has no such team");
	if (rc == TOCSIN_EPERM && a->is_signed) {
		/* a copy put back, or this file again after a move that
		   failed: either way its ack is in the store already */
		(void)snprintf(why, sizeof(why), "signature already used: "
		    "%.400s", e.msg);
		return dropack_refuse(c, f, why);
	}
	if (rc < 0) {
		tocsin_logf(c->log, c->log_arg, "ack file %s of team %s: kept "
		    "for the next look: %s", f->name, t->id, e.msg);
		return CHAN_ACKFILE_KEEP;
	}
	c->taken++;
	tocsin_logf(c->log, c->log_arg, "team %s: %s ack of alert %s by %s "
	    "(drop file %s)%s%s%s", t->id, in.strength, alert, a->by, f->name,
	    in.recorded_only ? "; recorded only: the policy does not count "
	    "unsigned acks" : rc == 1 ? "; a repeat" : "",
	    a->note[0] != '\0' ? "; not signed: " : "", a->note);
	return CHAN_ACKFILE_DONE;
}

bool
dropack_request_name(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	return n > 12 && strncmp(name, "request-", 8) == 0 &&
	    (strcmp(name + n - 4, ".txt") == 0 ||
	    strcmp(name + n - 4, ".asc") == 0);
}

/*
 * A request for help left in team t's folder: clear-signed by the pinned
 * key of a contact of t (the folder's team, whatever its text says), made
 * lately, its signature used once.  0 taken; TOCSIN_EPERM refused (err
 * says why; *audited when request_take refused it and audited it
 * already); a store error.
 */
static int
dropack_request(struct dropack_ctx *c, const struct chan_ackfile *f,
    const struct policy_team *t, struct request_text *rt, bool *audited,
    struct tocsin_err *err)
{
	struct request_ctx rq = { .repo = c->repo, .st = c->st, .now = c->now,
		.actor = "drop poller", .log = c->log, .log_arg = c->log_arg };
	const struct policy_contact *ct;
	const struct certs_sig *sig;
	struct certs_sigs sigs = { 0 };
	struct request_result rr;
	struct tocsin_err ve = { 0 };
	char *plain = NULL, digest[65];
	size_t plen = 0;
	int rc;

	if (!mailack_clearsigned(f->data, f->len))
		return tocsin_fail(err, TOCSIN_EPERM, "a request must be "
		    "clear-signed by a contact's pinned key; this one is not "
		    "signed");
	rc = certs_verify_inline(c->certs, f->data, f->len, CHAN_ACKFILE_MAX,
	    &plain, &plen, &sigs, &ve);
	if (rc != 0 || sigs.n == 0 || !sigs.sig[0].good) {
		free(plain);
		return tocsin_fail(err, TOCSIN_EPERM, "the signature does not "
		    "verify: %.400s", rc != 0 ? ve.msg : sigs.n > 0 ?
		    sigs.sig[0].reason : "none found");
	}
	sig = &sigs.sig[0];
	if ((ct = dropack_signer(t, sig)) == NULL)
		rc = tocsin_fail(err, TOCSIN_EPERM, "signed by %s, which is "
		    "the pinned key of no contact of team %s", sig->signer,
		    t->id);
	else if (!request_sig_in_time(sig->created, c->now))
		rc = tocsin_fail(err, TOCSIN_EPERM, "the signature (made at "
		    "%lld) is not within the last %d hours",
		    (long long)sig->created, REQUEST_SIG_MAX_AGE / 3600);
	/* the file's name says it is a request: a text without a
	   "Request:" line is the request whole */
	else if (request_parse(plain, plen, rt) != 0) {
		memset(rt, 0, sizeof(*rt));
		rt->len = request_clean(plain, plen, rt->text,
		    sizeof(rt->text), &rt->cut, &rt->removed);
	}
	if (rc == 0 && rt->team[0] != '\0' && strcmp(rt->team, t->id) != 0)
		rc = tocsin_fail(err, TOCSIN_EPERM, "the text is for team %s "
		    "but the file is in the folder of team %s", rt->team,
		    t->id);
	if (rc == 0) {
		struct request_in in = { .team = t->id, .contact = ct->name,
			.via = "drop", .strength = "signed",
			.sig_digest = digest, .text = rt };

		ack_sig_digest(sig->signer, sig->created, plain, plen, digest);
		rc = request_take(&rq, &in, &rr, err);
		*audited = rc == TOCSIN_EPERM;
	}
	free(plain);
	return rc;
}

/* A file request-*.txt: a request for help, never an ack. */
static enum chan_ackfile_fate
dropack_take_request(struct dropack_ctx *c, const struct chan_ackfile *f)
{
	const struct policy_team *t = policy_team_find(c->repo, f->team);
	struct request_text *rt;
	struct tocsin_err e = { 0 };
	bool audited = false;
	int rc;

	if (t == NULL)
		return dropack_refuse(c, f, "the team is not in the repository");
	if (f->data == NULL)
		return dropack_refuse(c, f, "the file is over 64 KiB");
	if ((rt = malloc(sizeof(*rt))) == NULL)
		return CHAN_ACKFILE_KEEP;
	rc = dropack_request(c, f, t, rt, &audited, &e);
	free(rt);
	if (rc == 0) {
		c->taken++;
		return CHAN_ACKFILE_DONE;
	}
	if (rc == TOCSIN_EPERM) {
		struct request_ctx rq = { .repo = c->repo, .st = c->st,
			.now = c->now, .actor = "drop poller" };
		char who[256];

		(void)snprintf(who, sizeof(who), "%.40s:%.60s/ack/%.128s",
		    f->host, f->team, f->name);
		if (!audited)
			request_refuse(&rq, "drop", who, e.msg);
		return dropack_refuse(c, f, e.msg);
	}
	tocsin_logf(c->log, c->log_arg, "request file %s of team %s: kept for "
	    "the next look: %s", f->name, f->team, e.msg);
	return CHAN_ACKFILE_KEEP;
}

enum chan_ackfile_fate
dropack_take(void *ctx, const struct chan_ackfile *f)
{
	struct dropack_ctx *c = ctx;
	const struct policy_team *t;
	struct dropack_ack a = { 0 };
	struct tocsin_err e = { 0 };
	char alert[64], team[64], why[768];
	char *plain = NULL;
	size_t plen = 0;
	enum chan_ackfile_fate fate;
	int rc;

	if (dropack_request_name(f->name))
		return dropack_take_request(c, f);
	if (dropack_name(f->name, alert, team) != 0)
		return dropack_refuse(c, f, "the name is not "
		    "alert-ALERT.TEAM[.anything]");
	if (strcmp(team, f->team) != 0) {
		(void)snprintf(why, sizeof(why), "the name is for team %s but "
		    "the file is in the folder of team %s", team, f->team);
		return dropack_refuse(c, f, why);
	}
	if ((t = policy_team_find(c->repo, team)) == NULL)
		return dropack_refuse(c, f, "the team is not in the repository");
	if (f->data == NULL)
		return dropack_refuse(c, f, "the file is over 64 KiB");
	rc = mailack_clearsigned(f->data, f->len) ? dropack_signed(c, f, t,
	    alert, &plain, &plen, &a, &e) : 1;
	if (rc == 1)
		/* not a signed ack: at most an unsigned one, on the signed
		   text when there is one */
		rc = dropack_unsigned(c, f, alert, team, plain != NULL ? plain :
		    f->data, plain != NULL ? plen : f->len, &a, &e);
	if (rc == 0)
		fate = dropack_record(c, f, t, alert, &a);
	else if (rc == TOCSIN_EPERM) {
		(void)snprintf(why, sizeof(why), "%s%s%.400s", a.note,
		    a.note[0] != '\0' ? "; and as an unsigned file: " : "",
		    e.msg);
		fate = dropack_refuse(c, f, why);
	} else {
		tocsin_logf(c->log, c->log_arg, "ack file %s of team %s: kept "
		    "for the next look: %s", f->name, team, e.msg);
		fate = CHAN_ACKFILE_KEEP;
	}
	free(plain);
	return fate;
}
