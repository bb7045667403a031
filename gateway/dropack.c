/*
 * dropack.c: verifying and recording ack files from SSH drop hosts.
 *
 * The folder is the team's, so a file there is from someone who can log
 * in to the drop host as the team, no more: whoever that is must still
 * sign with a contact's pinned key or know the team's code for the alert.
 * A signed text must name the alert, so that an old signed ack cannot be
 * copied under a new alert's name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dropack.h"
#include "mailack.h"
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

enum chan_ackfile_fate
dropack_take(void *ctx, const struct chan_ackfile *f)
{
	struct dropack_ctx *c = ctx;
	const struct policy_team *t;
	struct certs_sigs sigs = { 0 };
	struct tocsin_err e = { 0 };
	char alert[64], team[64], code[ACK_CODE_LEN + 1], by[128], why[512];
	char *plain = NULL;
	size_t plen = 0;
	bool is_signed = false;
	enum chan_ackfile_fate fate;
	int rc;

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
	if (mailack_clearsigned(f->data, f->len)) {
		const struct policy_contact *ct;

		is_signed = true;
		rc = certs_verify_inline(c->certs, f->data, f->len,
		    CHAN_ACKFILE_MAX, &plain, &plen, &sigs, &e);
		if (rc != 0 || sigs.n == 0 || !sigs.sig[0].good) {
			/* a signature that does not hold is never taken as
			   an unsigned ack */
			(void)snprintf(why, sizeof(why), "the signature does not "
			    "verify: %.400s", rc != 0 ? e.msg : sigs.n > 0 ?
			    sigs.sig[0].reason : "none found");
			free(plain);
			return dropack_refuse(c, f, why);
		}
		if ((ct = dropack_signer(t, &sigs.sig[0])) == NULL) {
			(void)snprintf(why, sizeof(why), "signed by %s, which is "
			    "the pinned key of no contact of team %s",
			    sigs.sig[0].signer, team);
			free(plain);
			return dropack_refuse(c, f, why);
		}
		/* the signed words must name this alert: its id or code */
		if (memmem(plain, plen, alert, strlen(alert)) == NULL &&
		    !(mailack_code(plain, plen, code) == 0 &&
		    (ack_code_is(c->secret, alert, team, code) ||
		    dropack_check_code(c, t, alert, code)))) {
			free(plain);
			return dropack_refuse(c, f, "the signed text names "
			    "neither the alert's id nor its code (an old ack "
			    "under a new name?)");
		}
		(void)snprintf(by, sizeof(by), "%s", ct->name);
		free(plain);
	} else {
		if (mailack_code(f->data, f->len, code) != 0)
			return dropack_refuse(c, f, "unsigned, and no code "
			    "(\"ACK 1234 5678\") in it");
		if (!ack_code_is(c->secret, alert, team, code))
			return dropack_refuse(c, f, "the code is not the "
			    "team's code for this alert");
		if (!dropack_by(f->data, f->len, by))
			(void)snprintf(by, sizeof(by), "ack file %.100s",
			    f->name);
	}
	{
		struct store_ack_in a = { .alert_id = alert, .team = team,
			.by = by, .via = "drop",
			.strength = is_signed ? "signed" : "unsigned",
			.recorded_only = !is_signed && t->policy != NULL &&
			    !t->policy->unsigned_acks,
			/* the contact whose pinned key signed; an unsigned
			   file's "by:" line is only what someone wrote */
			.contact = is_signed ? by : NULL,
			/* in a check, a signed file confirms that contact's
			   drop */
			.ep_channel = is_signed ? "sshdrop" : NULL,
			.ep_address = is_signed ? t->drop_address : NULL,
			.notice_channels = ack_notice_channels(c->repo, team) };

		rc = store_ack(c->st, &a, c->now, "drop poller", &e);
		if (rc == TOCSIN_ENOTFOUND)
			return dropack_refuse(c, f, "the alert has no such "
			    "team");
		if (rc < 0) {
			tocsin_logf(c->log, c->log_arg,
			    "ack file %s of team %s: kept for the "
			    "next look: %s", f->name, team, e.msg);
			return CHAN_ACKFILE_KEEP;
		}
		c->taken++;
		tocsin_logf(c->log, c->log_arg,
		    "team %s: %s ack of alert %s by %s (drop file "
		    "%s)%s", team, a.strength, alert, by, f->name,
		    a.recorded_only ? "; recorded only: the policy does not "
		    "count unsigned acks" : rc == 1 ? "; a repeat" : "");
		fate = CHAN_ACKFILE_DONE;
	}
	return fate;
}
