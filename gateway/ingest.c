/*
 * ingest.c: the ack an e-mail reply carries (see ingest.h for the rules),
 * and the message read from the MTA's pipe under its size limit.
 *
 * Trust model: everything of a mail but the text under a good signature
 * can be written by anyone, so a signed ack is decided by the signed text
 * and the signature's own facts (key, creation time) alone, and a
 * signature acks once.  A mail that is not a signed ack may still be an
 * unsigned one, exactly as an unsigned reply would be: the sender's
 * address (forgeable) must be a contact's, and the code (secret) right.
 * Because ingest-mail is one process per message, the counts of wrong
 * codes that keep the code from being guessed live in the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ingest.h"
#include "verify.h"
#include "mailack.h"
#include "request.h"

/* The verified parts of one reply. */
struct ingest_mail {
	struct mailack_msg m;
	bool is_signed;
	struct certs_sigs sigs;
	const char *text;		/* signed text, or the body */
	size_t tlen;
	char *canon, *plain;		/* owned */
};

static bool
ingest_idchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

bool
ingest_names(const char *text, size_t len, const char *id)
{
	size_t n = strlen(id);

	if (text == NULL || n == 0)
		return false;
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(text + i, id, n) == 0 &&
		    (i == 0 || !ingest_idchar(text[i - 1])) &&
		    (i + n == len || !ingest_idchar(text[i + n])))
			return true;
	return false;
}

/* LF line ends as CRLF (RFC 3156 signs the canonical form); *ret malloc'd,
   owned by the caller. */
static int
ingest_crlf(const char *p, size_t n, char **ret, size_t *ret_len)
{
	char *o = malloc(2 * n + 1);
	size_t k = 0;

	if (o == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			o[k++] = '\r';
		o[k++] = p[i];
	}
	*ret = o;
	*ret_len = k;
	return 0;
}

/* Parse raw and verify its signature, if any.  A signature that does not
   hold is a refusal (TOCSIN_EPERM), never an unsigned ack. */
static int
ingest_read(struct ingest_ctx *c, const char *raw, size_t len,
    struct ingest_mail *im, struct tocsin_err *err)
{
	const struct mailack_msg *m = &im->m;
	size_t clen = 0;
	int rc = 0;

	if ((rc = mailack_parse(raw, len, &im->m, err)) != 0)
		return rc;
	im->text = m->text;
	im->tlen = m->text_len;
	if (m->signed_part != NULL) {
		im->is_signed = true;
		if (ingest_crlf(m->signed_part, m->signed_len, &im->canon,
		    &clen) != 0)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		rc = certs_verify_detached(c->certs, im->canon, clen, m->sig,
		    m->sig_len, NULL, &im->sigs, err);
	} else if (m->octets != NULL &&
	    mailack_clearsigned(m->octets, m->octets_len)) {
		/* the bytes in the sender's charset: what gpg signed */
		im->is_signed = true;
		rc = certs_verify_inline(c->certs, m->octets, m->octets_len,
		    MAILACK_MAX, &im->plain, &im->tlen, &im->sigs, err);
		im->text = im->plain;
	}
	if (rc != 0)
		return rc;
	if (im->is_signed && (im->sigs.n == 0 || !im->sigs.sig[0].good))
		return tocsin_fail(err, TOCSIN_EPERM, "the reply's signature "
		    "does not verify (%s); no ack taken", im->sigs.n > 0 ?
		    im->sigs.sig[0].reason : "no signature found");
	return 0;
}

/* Record the ack of (alert, team) by contact; rc of store_ack. */
static int
ingest_record(struct ingest_ctx *c, const char *alert, const char *team,
    const char *by, const char *digest, const struct verify_endpoint *ep,
    struct ingest_result *res, struct tocsin_err *err)
{
	const struct policy_team *tm = policy_team_find(c->repo, team);
	struct store_ack_in a = { .alert_id = alert, .team = team, .by = by,
		.via = "mail", .strength = digest != NULL ? "signed" :
		    "unsigned",
		.recorded_only = digest == NULL && !ack_unsigned_counts(tm),
		.contact = by, .sig_digest = digest,
		/* in a check: the endpoint whose own code it was */
		.ep_channel = ep != NULL ? ep->channel : NULL,
		.ep_address = ep != NULL ? ep->address : NULL,
		.notice_channels = ack_notice_channels(c->repo, team) };
	char actor[200];
	int rc;

	/* the contact matched by their key or address */
	(void)snprintf(actor, sizeof(actor), "contact:%s/%s", team, by);
	rc = store_ack(c->st, &a, c->now, actor, err);

	if (rc < 0)
		return rc;
	(void)snprintf(res->alert, sizeof(res->alert), "%s", alert);
	(void)snprintf(res->team, sizeof(res->team), "%s", team);
	(void)snprintf(res->by, sizeof(res->by), "%s", by);
	res->strength = a.strength;
	res->recorded_only = a.recorded_only;
	res->repeat = rc == 1;
	return 0;
}

/*
 * The alerts of team t that the signed text names, newest first: a signed
 * ack of the first one signed in time.  0 acked; 1 when none was named
 * or in time (why says so); a store error or a repeat's refusal.
 */
static int
ingest_signed_team(struct ingest_ctx *c, const struct ingest_mail *im,
    const struct policy_team *t, const struct policy_contact *ct,
    struct ingest_result *res, char *why, size_t whylen,
    struct tocsin_err *err)
{
	const struct certs_sig *sig = &im->sigs.sig[0];
	char ids[INGEST_ALERTS][64], code[ACK_CODE_LEN + 1], digest[65];
	bool code_ok = mailack_code(im->text, im->tlen, code) == 0;
	struct verify_endpoint ep;
	size_t n = 0;
	int rc;

	if ((rc = store_team_alerts(c->st, t->id, INGEST_ALERTS, ids, &n,
	    err)) != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct store_alert_row *a = NULL;
		bool in_time, check = code_ok && verify_code_of(c->repo,
		    c->secret, ids[i], t->id, ct, code, &ep);

		if (!check && !ingest_names(im->text, im->tlen, ids[i]) &&
		    !(code_ok && ack_code_is(c->secret, ids[i], t->id, code)))
			continue;
		if ((rc = store_alert_get(c->st, ids[i], &a, err)) != 0)
			return rc;
		in_time = ack_sig_in_time(sig->created, a->received);
		store_alert_rows_free(a, 1);
		if (!in_time) {
			(void)snprintf(why, whylen, "the signature (made at %lld) "
			    "is older than alert %s", (long long)sig->created,
			    ids[i]);
			continue;
		}
		ack_sig_digest(sig->signer, sig->created, im->text, im->tlen,
		    digest);
		return ingest_record(c, ids[i], t->id, ct->name, digest,
		    check ? &ep : NULL, res, err);
	}
	return 1;
}

/* The signed rules.  0 acked; 1 not a signed ack (why says why), to be
   judged as unsigned; a store error; TOCSIN_EPERM for a signature that
   acked before. */
static int
ingest_signed(struct ingest_ctx *c, const struct ingest_mail *im,
    struct ingest_result *res, char *why, size_t whylen,
    struct tocsin_err *err)
{
	const char *signer = im->sigs.sig[0].signer;
	bool contact = false;
	int rc;

	(void)snprintf(why, whylen, "signed by %s, which is no contact's "
	    "pinned key", signer);
	for (size_t i = 0; i < c->repo->nteams; i++) {
		const struct policy_team *t = &c->repo->teams[i];

		for (size_t k = 0; k < t->ncontacts; k++) {
			const struct policy_contact *ct = &t->contacts[k];

			if (ct->pgp[0] == '\0' || strcmp(ct->pgp, signer) != 0)
				continue;
			if (!contact)
				(void)snprintf(why, whylen, "the signed text "
				    "names neither the id nor the code of an "
				    "alert of the signer's teams");
			contact = true;
			rc = ingest_signed_team(c, im, t, ct, res, why, whylen,
			    err);
			if (rc != 1)
				return rc;
			break;
		}
	}
	return 1;
}

/* The pairs a code from this sender may be for: one per alert and team
   of the sender's teams.  *ret malloc'd, owned by the caller. */
static int
ingest_pairs(struct ingest_ctx *c, const char *from,
    struct ack_pair **ret, size_t *ret_n, struct tocsin_err *err)
{
	struct ack_pair *p = NULL;
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < c->repo->nteams; i++) {
		const struct policy_team *t = &c->repo->teams[i];

		for (size_t k = 0; k < t->ncontacts; k++) {
			const struct policy_contact *ct = &t->contacts[k];

			if (ct->email == NULL || strcasecmp(ct->email, from) != 0)
				continue;
			rc = ack_pairs_add(c->st, t->id, ct->name, &p, &n, err);
			break;
		}
	}
	if (rc != 0) {
		free(p);
		return rc;
	}
	*ret = p;
	*ret_n = n;
	return 0;
}

/* The unsigned rules: a contact's address, and the team's code for an
   alert, within the limits on wrong codes.  0 acked, or a refusal. */
static int
ingest_unsigned(struct ingest_ctx *c, const struct ingest_mail *im,
    struct ingest_result *res, bool *throttled, struct tocsin_err *err)
{
	struct ack_pair *p = NULL;
	/* a check's own code of the sender's endpoint counts too */
	struct verify_also va = { .repo = c->repo, .secret = c->secret };
	struct ack_code_also also = { verify_also_fn, &va };
	char code[ACK_CODE_LEN + 1], fkey[300];
	size_t n = 0;
	int rc, hit = -1;

	if (im->m.from[0] == '\0' || im->text == NULL ||
	    mailack_code(im->text, im->tlen, code) != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "no code (\"ACK 1234 "
		    "5678\") in the reply, or no sender address");
	if ((rc = ingest_pairs(c, im->m.from, &p, &n, err)) != 0)
		return rc;
	if (n == 0) {
		free(p);
		return tocsin_fail(err, TOCSIN_EDATA, "the sender %s is no "
		    "contact's address, or their teams have no alerts",
		    im->m.from);
	}
	(void)snprintf(fkey, sizeof(fkey), "mail-from:%s", im->m.from);
	rc = ack_code_try(c->st, c->secret, fkey, code, p, n, &also, c->now,
	    &hit, throttled, err);
	if (rc == 0 && hit >= 0)
		rc = ingest_record(c, p[hit].alert, p[hit].team,
		    p[hit].contact, NULL, va.matched ? &va.ep : NULL, res, err);
	else if (rc == 0 && *throttled)
		rc = tocsin_fail(err, TOCSIN_EPERM, "too many wrong codes (at "
		    "most %d a minute from one sender, %d an hour for an alert "
		    "and team); this reply was not compared, try later or "
		    "another way", ACK_TRY_FROM_MAX, ACK_TRY_CODE_MAX);
	else if (rc == 0)
		rc = tocsin_fail(err, TOCSIN_EDATA, "the code is that of no "
		    "alert of the teams of %s (a wrong code, counted)",
		    im->m.from);
	free(p);
	return rc;
}

/* Audit a refusal; the caller's err is kept. */
static int
ingest_refuse(struct ingest_ctx *c, const struct ingest_mail *im,
    bool throttled, int rc, struct tocsin_err *err)
{
	struct tocsin_err ae;

	(void)store_audit(c->st, c->now, "ingest-mail", throttled ?
	    "mail-throttled" : "mail-refused", im->m.from[0] != '\0' ?
	    im->m.from : "(unknown sender)", err->msg, &ae);
	return rc;
}

/*
 * A request for help in im (its text parsed into rt): taken only under a
 * good signature of a contact's pinned key of the team it is for, made
 * lately, used once.  Headers are never believed: From, Subject and the
 * rest are outside the signature.  0 taken; a refusal, audited.
 */
static int
ingest_request(struct ingest_ctx *c, const struct ingest_mail *im,
    const struct request_text *rt, struct ingest_result *res,
    struct tocsin_err *err)
{
	struct request_ctx rc_ = { .repo = c->repo, .st = c->st, .now = c->now,
		.actor = "ingest-mail" };
	const char *who = im->m.from[0] != '\0' ? im->m.from : NULL;
	const struct policy_team *t = NULL;
	const struct policy_contact *ct = NULL;
	const struct certs_sig *sig;
	struct request_result rr;
	char digest[65];
	int rc;

	if (!im->is_signed) {
		(void)tocsin_fail(err, TOCSIN_EPERM, "a request must be signed "
		    "by a contact's pinned key; this one is not signed (its "
		    "From %s is not believed)", who != NULL ? who : "(none)");
		goto refused;
	}
	sig = &im->sigs.sig[0];
	if (request_signer(c->repo, rt->team[0] != '\0' ? rt->team : NULL,
	    sig->signer, &t, &ct) != 0) {
		if (rt->team[0] != '\0')
			(void)tocsin_fail(err, TOCSIN_EPERM, "signed by %s, which "
			    "is the pinned key of no contact of team %s",
			    sig->signer, rt->team);
		else
			(void)tocsin_fail(err, TOCSIN_EPERM, "signed by %s, which "
			    "is no contact's pinned key", sig->signer);
		goto refused;
	}
	who = ct->name;
	if (!request_sig_in_time(sig->created, c->now)) {
		(void)tocsin_fail(err, TOCSIN_EPERM, "the signature (made at "
		    "%lld) is not within the last %d hours", (long long)
		    sig->created, REQUEST_SIG_MAX_AGE / 3600);
		goto refused;
	}
	ack_sig_digest(sig->signer, sig->created, im->text, im->tlen, digest);
	{
		struct request_in in = { .team = t->id, .contact = ct->name,
			.via = "mail", .strength = "signed",
			.sig_digest = digest, .text = rt };

		/* a replay is refused and audited by request_take */
		if ((rc = request_take(&rc_, &in, &rr, err)) != 0)
			return rc;
	}
	res->is_request = true;
	(void)snprintf(res->request, sizeof(res->request), "%s", rr.id);
	(void)snprintf(res->page_alert, sizeof(res->page_alert), "%s",
	    rr.page_alert);
	(void)snprintf(res->team, sizeof(res->team), "%s", t->id);
	(void)snprintf(res->by, sizeof(res->by), "%s", ct->name);
	res->strength = "signed";
	return 0;
refused:
	request_refuse(&rc_, "mail", who, err->msg);
	return err->code;
}

int
ingest_mail(struct ingest_ctx *c, const char *raw, size_t len,
    struct ingest_result *res, struct tocsin_err *err)
{
	struct ingest_mail im = { 0 };
	struct tocsin_err ue = { 0 };
	char why[256] = "";
	bool throttled = false;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = ingest_read(c, raw, len, &im, err)) != 0)
		goto out;
	{
		struct request_text *rt = malloc(sizeof(*rt));

		if (rt == NULL) {
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
			goto out;
		}
		if (request_parse(im.text, im.tlen, rt) == 0) {
			/* refused requests are audited as such */
			rc = ingest_request(c, &im, rt, res, err);
			free(rt);
			goto done;
		}
		free(rt);
	}
	if (im.is_signed) {
		/* a signature that acked before is refused outright: its
		   mail is a replay, whatever else it carries */
		if ((rc = ingest_signed(c, &im, res, why, sizeof(why),
		    err)) != 1)
			goto out;
	}
	/* not a signed ack: at most an unsigned one */
	rc = ingest_unsigned(c, &im, res, &throttled, &ue);
	if (rc == 0 && im.is_signed)
		(void)snprintf(res->sig_note, sizeof(res->sig_note), "%s", why);
	else if (rc != 0)
		rc = tocsin_fail(err, ue.code, "%s%s%s", im.is_signed ? why : "",
		    im.is_signed ? "; and as an unsigned reply: " : "", ue.msg);
out:
	if (rc != 0)
		rc = ingest_refuse(c, &im, throttled, rc, err);
done:
	free(im.canon);
	free(im.plain);
	mailack_msg_free(&im.m);
	return rc;
}

int
ingest_read_fd(int fd, char **ret, size_t *ret_len, struct tocsin_err *err)
{
	char *raw = malloc(MAILACK_MAX + 1);
	size_t len = 0;

	if (raw == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	/* one byte over the limit says that the message is too long */
	while (len <= MAILACK_MAX) {
		ssize_t r = read(fd, raw + len, MAILACK_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	if (len > MAILACK_MAX) {
		free(raw);
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the message is over %d "
		    "bytes; no ack taken", MAILACK_MAX);
	}
	*ret = raw;
	*ret_len = len;
	return 0;
}
