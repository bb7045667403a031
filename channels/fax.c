/*
 * fax.c: the fax channel, through a fax-to-email gateway.
 *
 * One message per fax number: an e-mail through providers.smtp (the same
 * relay and TLS rules as the pgp-email channel, mailer.c) to the address
 * providers.fax makes from the number (RFC 3192 "FAX=+number@domain", or
 * a provider's template), carrying the page as a PDF (faxpdf.c).
 *
 * A fax cannot be encrypted: the e-mail is plain, which is why a policy
 * must allow fax explicitly and say how much it carries (fax_detail);
 * the text part of the e-mail holds no alert text at all, only ids.
 * A gateway that refuses a number during the SMTP dialogue makes the
 * delivery dead with the gateway's reply as the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "faxpdf.h"
#include "mailer.h"

#define FAX_ADDR_MAX 256

/* Per serve: the relay's credentials. */
struct fax_shared {
	struct mailer_auth *auth;
};

struct fax_session {
	const struct chan_env *env;
	struct mailer_auth *auth;
	const struct policy_smtp *smtp;
	const struct policy_fax *fax;
	struct faxpdf_fonts *fonts;
};

/* Per message: the gateway address the recipient is sent to. */
struct fax_out {
	char addr[FAX_ADDR_MAX];
	const char *orig;		/* the recipient's E.164 number */
	int pages;
	int unknown;
};

static size_t
fax_batch(const struct policy_repo *repo)
{
	/* a page takes tens of milliseconds to lay out: a batch per session
	   small enough that leases are never in danger */
	return repo->smtp != NULL && repo->smtp->batch > 0 &&
	    repo->smtp->batch < 20 ? (size_t)repo->smtp->batch : 20;
}

static bool
fax_policy_sends(const struct policy_policy *pol)
{
	return policy_sends(pol, &chan_fax.kind);
}

/* A fax cannot be encrypted: a policy that sends one must say what it may
   carry, and the team that reads it must be able to call the duty desk.
   Checked whenever a repository is read. */
static void
fax_repo_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	char q[POLICY_QUOTE_LEN];

	for (size_t p = 0; p < repo->npolicies; p++) {
		const struct policy_policy *pol = &repo->policies[p];
		const char *f = pol->src.file;
		int l = pol->src.line;

		if (!fax_policy_sends(pol))
			continue;
		(void)policy_quote(q, sizeof(q), pol->name);
		/* A fax_detail that was given but refused has its own error
		   at its line; its src is then not the policy's. */
		if (pol->fax_detail == POLICY_FAX_UNSET &&
		    pol->fax_detail_src.file == f &&
		    pol->fax_detail_src.line == l)
			policy_diag_add(diag, POLICY_ERROR, f, l, "policy %s "
			    "sends fax, which cannot be encrypted, so the "
			    "policy must allow fax explicitly; add fax_detail "
			    "= \"summary\" (the headline and how to reach the "
			    "duty desk) or \"full\" (the whole alert, "
			    "unencrypted)", q);
		if (pol->fax_detail == POLICY_FAX_FULL)
			policy_diag_add(diag, POLICY_WARNING,
			    pol->fax_detail_src.file, pol->fax_detail_src.line,
			    "policy %s: fax_detail = \"full\" sends the whole "
			    "alert unencrypted over the phone network; use "
			    "\"summary\" unless the team needs the details on "
			    "paper", q);
		if (repo->gateway.duty_phone == NULL)
			policy_diag_add(diag, POLICY_WARNING, f, l, "policy %s "
			    "sends fax but gateway.duty_phone is not set, so a "
			    "faxed team cannot reach the duty desk; set "
			    "gateway.duty_phone to the desk's number", q);
	}
}

static size_t
fax_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	size_t errors = 0;
	size_t *idx = NULL;
	bool told = false;

	for (size_t p = 0; p < repo->npolicies; p++) {
		const struct policy_policy *pol = &repo->policies[p];

		if (!fax_policy_sends(pol) || told)
			continue;
		if (repo->fax == NULL) {
			policy_diag_add(diag, POLICY_ERROR, pol->src.file,
			    pol->src.line, "policy %s sends fax but "
			    "providers.fax is not configured; add providers = "
			    "{ fax = { format = \"rfc3192\"; domain = "
			    "\"fax.example.net\"; }; }; (see tocsin.conf(5))",
			    pol->name != NULL ? pol->name : "?");
			errors++;
			told = true;
		}
		if (repo->smtp == NULL) {
			policy_diag_add(diag, POLICY_ERROR, pol->src.file,
			    pol->src.line, "policy %s sends fax, which goes as "
			    "e-mail through providers.smtp, but providers.smtp "
			    "is not configured; add it",
			    pol->name != NULL ? pol->name : "?");
			errors++;
			told = true;
		}
	}
	if (repo->fax == NULL)
		return errors;
	/* every number a policy faxes must make a gateway address */
	for (size_t t = 0; t < repo->nteams; t++) {
		const struct policy_team *tm = &repo->teams[t];
		const struct policy_policy *pol = tm->policy;

		if (pol == NULL || !fax_policy_sends(pol) || tm->ncontacts == 0)
			continue;
		free(idx);
		if ((idx = calloc(tm->ncontacts, sizeof(*idx))) == NULL)
			break;
		for (size_t s = 0; s < pol->nsteps; s++)
			for (size_t k = 0; k < pol->steps[s].ntargets; k++) {
				const struct policy_target *tg =
				    &pol->steps[s].targets[k];
				size_t n;

				if (tg->channel != &chan_fax.kind)
					continue;
				policy_target_contacts(tm, tg, idx, &n);
				for (size_t i = 0; i < n; i++) {
					const struct policy_contact *c =
					    &tm->contacts[idx[i]];
					char a[FAX_ADDR_MAX];

					if (c->fax == NULL ||
					    policy_fax_address(repo->fax,
					    c->fax, a, sizeof(a)) == 0)
						continue;
					policy_diag_add(diag, POLICY_ERROR,
					    c->src.file, c->src.line, "team %s "
					    "contact %s: the fax number %s "
					    "makes no valid address at the fax "
					    "gateway (providers.fax); correct "
					    "the number", tm->id, c->name,
					    c->fax);
					errors++;
				}
			}
	}
	free(idx);
	return errors;
}

/* Fontconfig and the relay's credentials for the whole serve.  *ret is
   NULL when no fax is configured, else a struct fax_shared that fax_fini
   frees. */
static int
fax_init(const struct policy_repo *repo, void **ret, struct tocsin_err *err)
{
	struct fax_shared *sh;
	int rc;

	*ret = NULL;
	if (repo->fax == NULL)
		return 0;
	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = mailer_auth_load(repo->smtp, &sh->auth, err)) != 0 ||
	    (rc = faxpdf_global_init(err)) != 0) {
		mailer_auth_free(sh->auth);
		free(sh);
		return rc;
	}
	*ret = sh;
	return 0;
}

static void
fax_fini(void *shared)
{
	struct fax_shared *sh = shared;

	if (sh == NULL)
		return;
	mailer_auth_free(sh->auth);
	free(sh);
}

static int
fax_open(const struct chan_env *env, void **ret, struct tocsin_err *err)
{
	struct fax_session *s;
	int rc;

	*ret = NULL;
	if (env->repo->smtp == NULL || env->repo->fax == NULL)
		return tocsin_fail(err, TOCSIN_ECONFIG, "providers.smtp and "
		    "providers.fax must both be configured to send fax");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = faxpdf_fonts_new(&s->fonts, err)) != 0) {
		free(s);
		return rc;
	}
	s->env = env;
	s->smtp = env->repo->smtp;
	s->fax = env->repo->fax;
	s->auth = env->shared != NULL ? ((struct fax_shared *)env->shared)->
	    auth : NULL;
	*ret = s;
	return 0;
}

static void
fax_close(void *session)
{
	struct fax_session *s = session;

	if (s == NULL)
		return;
	faxpdf_fonts_free(s->fonts);
	free(s);
}

/* A file name from an id: letters, digits, '-', '_' and '.' only. */
static void
fax_filename(const char *id, char *out, size_t outlen)
{
	size_t j = 0;

	j = (size_t)snprintf(out, outlen, "alert-");
	for (; id != NULL && *id != '\0' && j + 5 < outlen && j < 80; id++)
		if ((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
		    (*id >= '0' && *id <= '9') || *id == '-' || *id == '_')
			out[j++] = *id;
	(void)snprintf(out + j, outlen - j, ".pdf");
}

/* How the fax of m is laid out. */
static void
fax_opts(const struct policy_repo *repo, const struct policy_fax *fax,
    const struct chan_msg *m, struct faxpdf_opts *opts)
{
	/* the page's own words in the contact's language */
	opts->cat = repo->gateway.catalog;
	opts->lang = m->lang;
	opts->paper = fax->paper;
	opts->cover = fax->cover;
	opts->pages = fax->pages > 0 ? fax->pages : 3;
	opts->font = fax->font;
	opts->ack_code = m->ack_code;
	opts->ack_url = m->ack_url;
	opts->exercise = m->exercise;
}

/* The whole e-mail of one fax, into o->data. */
static int
fax_build(struct fax_session *s, struct mailer_out *o, struct fax_out *fo,
    struct tocsin_err *err)
{
	struct chan_msg *m = o->msg;
	const struct policy_fax *fax = s->fax;
	struct faxpdf_opts opts = { 0 };
	struct faxpdf_out pdf = { 0 };
	char b[40], name[128], mid[300];
	const char *at = strrchr(s->smtp->from, '@');
	struct chan_msg hm;
	int rc;

	fax_opts(s->env->repo, fax, m, &opts);
	if ((rc = faxpdf_render(s->fonts, m->doc, &opts, &pdf, err)) != 0)
		return rc;
	fo->pages = pdf.pages;
	fo->unknown = pdf.unknown_glyphs;
	if ((rc = mime_boundary(b, err)) != 0) {
		free(pdf.pdf);
		return rc;
	}
	/* a Message-ID of the delivery's identity, stable across retries */
	(void)snprintf(mid, sizeof(mid), "<%s@%s>", m->message_id,
	    at != NULL && at[1] != '\0' ? at + 1 : "tocsin.invalid");
	fax_filename(m->doc->alert_id, name, sizeof(name));
	hm = *m;
	hm.message_id = mid;
	mailer_headers(&o->data, s->smtp, &hm, s->env->now);
	mime_addf(&o->data, "Content-Type: multipart/mixed;\r\n boundary=\"%s\""
	    "\r\n\r\n--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "Fax to %s: alert %s, %d page%s in the attached PDF.\r\n"
	    "--%s\r\nContent-Type: application/pdf;\r\n name=\"%s\"\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: "
	    "attachment;\r\n filename=\"%s\"\r\n\r\n", b, b, fo->orig,
	    m->doc->alert_id, pdf.pages, pdf.pages == 1 ? "" : "s", b, name,
	    name);
	mime_add_base64(&o->data, pdf.pdf, pdf.len);
	mime_addf(&o->data, "--%s--\r\n", b);
	free(pdf.pdf);
	if (o->data.oom) {
		mime_buf_free(&o->data);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	return 0;
}

static int
fax_deliver(void *session, struct chan_msg *msgs, size_t n,
    struct tocsin_err *err)
{
	struct fax_session *s = session;
	struct mailer_out *outs = calloc(n ? n : 1, sizeof(*outs));
	struct fax_out *fos = calloc(n ? n : 1, sizeof(*fos));
	int rc = 0;

	if (outs == NULL || fos == NULL) {
		free(outs);
		free(fos);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		struct chan_msg *m = &msgs[i];
		struct tocsin_err berr = { 0 };
		size_t nok = 0;

		outs[i].msg = m;
		for (size_t j = 0; j < m->nrcpts; j++) {
			struct chan_rcpt *r = &m->rcpts[j];

			r->status = CHAN_SENT;
			r->reason[0] = r->ref[0] = '\0';
			/* one number per message: the dispatcher sends fax
			   per endpoint */
			if (j > 0 || m->doc == NULL) {
				chan_rcpt_set(r, CHAN_PERMFAIL, "internal: a "
				    "fax message has one number and a page");
				continue;
			}
			fos[i].orig = r->address;
			if (policy_fax_address(s->fax, r->address, fos[i].addr,
			    sizeof(fos[i].addr)) != 0 ||
			    !mailer_address_ok(fos[i].addr)) {
				chan_rcpt_set(r, CHAN_PERMFAIL, "the fax number "
				    "%.40s makes no valid address at the fax "
				    "gateway", r->address);
				continue;
			}
			r->address = fos[i].addr;
			nok++;
		}
		if (nok == 0)
			continue;
		if (!mime_header_safe(m->subject, 200) ||
		    !mime_header_safe(m->message_id, 200) ||
		    !mime_header_safe(m->doc->alert_id, 128))
			chan_rcpt_set(&m->rcpts[0], CHAN_PERMFAIL, "the subject "
			    "or an id is not printable ASCII");
		else if (fax_build(s, &outs[i], &fos[i], &berr) != 0)
			chan_rcpt_set(&m->rcpts[0], CHAN_TEMPFAIL, "%s",
			    berr.msg);
		else
			outs[i].ready = true;
	}
	rc = mailer_send(s->smtp, s->auth, outs, n, err);
	for (size_t i = 0; i < n; i++) {
		struct chan_rcpt *r = msgs[i].nrcpts > 0 ? &msgs[i].rcpts[0] :
		    NULL;

		if (r == NULL || fos[i].orig == NULL)
			continue;
		r->address = fos[i].orig;
		if (rc != 0 && r->status == CHAN_SENT && r->reason[0] == '\0' &&
		    r->ref[0] == '\0')
			chan_rcpt_set(r, CHAN_TEMPFAIL, "%s", err->msg);
		else if (r->status == CHAN_SENT && fos[i].unknown > 0) {
			size_t l = strlen(r->ref);

			(void)snprintf(r->ref + l, sizeof(r->ref) - l, " (%d "
			    "characters had no font)", fos[i].unknown);
		}
		mime_buf_free(&outs[i].data);
	}
	free(outs);
	free(fos);
	return rc;
}

static bool
fax_configured(const struct policy_repo *repo)
{
	return repo->fax != NULL;
}

/* The fax's PDF as it would go, laid out with the fonts of this host. */
static int
fax_preview(const struct policy_repo *repo, const struct chan_msg *m,
    struct chan_preview *out, struct tocsin_err *err)
{
	const struct policy_fax *fax = repo->fax;
	struct faxpdf_fonts *fonts = NULL;
	struct faxpdf_opts opts = { 0 };
	struct faxpdf_out pdf = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	if (fax == NULL || m->doc == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "providers.fax is not "
		    "configured");
	fax_opts(repo, fax, m, &opts);
	/* a preview is a command of its own, outside serve: fontconfig is
	   loaded for it as serve loads it before its workers */
	if ((rc = faxpdf_global_init(err)) != 0)
		return rc;
	if ((rc = faxpdf_fonts_new(&fonts, err)) == 0) {
		rc = faxpdf_render(fonts, m->doc, &opts, &pdf, err);
		faxpdf_fonts_free(fonts);
	}
	if (rc != 0)
		return rc;
	out->data = (char *)pdf.pdf;
	out->len = pdf.len;
	out->type = "application/pdf";
	out->pages = pdf.pages;
	return 0;
}

const struct chan_ops chan_fax = {
	.kind = {
		.name = "fax",
		.field = POLICY_FIELD_FAX,
		.check = fax_repo_check,
	},
	.configured = fax_configured,
	.drill_latency = 90,
	.drill_via = "operator:phone",
	.per_team = false,
	.needs_doc = true,
	.batch = fax_batch,
	.check = fax_check,
	.init = fax_init,
	.fini = fax_fini,
	.open = fax_open,
	.deliver = fax_deliver,
	.close = fax_close,
	.preview = fax_preview,
};
