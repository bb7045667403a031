/*
 * pgp_email.c: the PGP e-mail channel (RFC 3156 over SMTP).
 *
 * One message per team and step, addressed to that step's contacts and
 * encrypted to all of their keys at once: one OpenPGP operation per team,
 * not per person.  The inner entity (the rendered text, the CAP document
 * and its issuer signatures) is signed by the gateway key as
 * multipart/signed, and that whole entity is encrypted as
 * multipart/encrypted (RFC 3156 sections 4 and 5, nested as in 6.1).  Only
 * the Subject template's non-sensitive line travels in clear.  With
 * providers.smtp.pgp_mime = "combined" the entity is signed and encrypted
 * in one OpenPGP message instead (section 6.2), one gpg run per team.
 *
 * The SMTP session itself is mailer.c's, shared with the fax channel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "mailer.h"

struct pe_session {
	const struct chan_env *env;
	const struct policy_smtp *smtp;
	struct mailer_auth *auth;	/* the serve's, or NULL */
};

/* The relay's credentials, read once per serve: *ret is the driver's
   shared state (NULL without credentials), freed by pe_fini. */
static int
pe_init(const struct policy_repo *repo, void **ret, struct tocsin_err *err)
{
	struct mailer_auth *a = NULL;
	int rc;

	*ret = NULL;
	if ((rc = mailer_auth_load(repo->smtp, &a, err)) != 0)
		return rc;
	*ret = a;
	return 0;
}

static void
pe_fini(void *shared)
{
	mailer_auth_free(shared);
}


static size_t
pe_batch(const struct policy_repo *repo)
{
	return repo->smtp != NULL && repo->smtp->batch > 0 ?
	    (size_t)repo->smtp->batch : 50;
}

/* Checked whenever a repository is read: mail needs a relay. */
static void
pe_repo_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	char q[POLICY_QUOTE_LEN];

	if (repo->smtp != NULL)
		return;
	for (size_t p = 0; p < repo->npolicies; p++) {
		const struct policy_policy *pol = &repo->policies[p];

		if (policy_sends(pol, &chan_pgp_email.kind))
			policy_diag_add(diag, POLICY_WARNING, pol->src.file,
			    pol->src.line, "policy %s sends pgp-email but "
			    "providers.smtp is not configured, so those "
			    "deliveries fail; add providers.smtp",
			    policy_quote(q, sizeof(q), pol->name));
	}
}

static bool
pe_configured(const struct policy_repo *repo)
{
	return repo->smtp != NULL;
}

static size_t
pe_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	bool used = false;

	for (size_t t = 0; t < repo->nteams && !used; t++)
		for (size_t c = 0; c < repo->teams[t].ncontacts; c++)
			if (repo->teams[t].contacts[c].email != NULL)
				used = true;
	if (used && repo->smtp == NULL) {
		policy_diag_add(diag, POLICY_ERROR, repo->main_file, 0,
		    "contacts have e-mail addresses but providers.smtp is not "
		    "configured; add providers = { smtp = { host = ...; "
		    "from = ...; ca = ...; }; };");
		return 1;
	}
	if (repo->smtp != NULL && repo->smtp->credentials != NULL) {
		/* read as serve will read it, so that check says what would
		   stop serve; the sentence names the file, never its text */
		struct mailer_auth *a = NULL;
		struct tocsin_err e = { 0 };

		if (mailer_auth_load(repo->smtp, &a, &e) != 0) {
			policy_diag_add(diag, POLICY_ERROR, repo->smtp->src.file,
			    repo->smtp->src.line, "providers.smtp: %s", e.msg);
			return 1;
		}
		mailer_auth_free(a);
	}
	return 0;
}

static int
pe_open(const struct chan_env *env, void **ret, struct tocsin_err *err)
{
	struct pe_session *s;

	*ret = NULL;
	if (env->repo->smtp == NULL || env->repo->smtp->host == NULL)
		return tocsin_fail(err, TOCSIN_ECONFIG, "providers.smtp is not "
		    "configured");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	s->env = env;
	s->smtp = env->repo->smtp;
	s->auth = env->shared;
	*ret = s;
	return 0;
}

static void
pe_close(void *session)
{
	free(session);
}

/* The inner entity into *inner: text, then the CAP document and its
   issuer signatures, all base64 so that no alert text is ever a line of
   its own in the message.  b1 is its boundary.  On failure *inner is
   freed. */
static int
pe_inner(const struct chan_msg *m, const char *b1, struct mime_buf *inner,
    struct tocsin_err *err)
{
	mime_addf(inner, "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n"
	    "\r\n", b1);
	mime_addf(inner, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: "
	    "inline\r\n\r\n", b1);
	mime_add_base64(inner, m->body, m->body_len);
	for (size_t i = 0; i < m->nparts; i++) {
		const struct chan_part *p = &m->parts[i];

		if (!mime_header_safe(p->filename, 128) ||
		    !mime_header_safe(p->content_type, 128) ||
		    strpbrk(p->filename, "\"\\/") != NULL) {
			mime_buf_free(inner);
			return tocsin_fail(err, TOCSIN_EINTERNAL, "attachment "
			    "name or type not fit for a header");
		}
		mime_addf(inner, "--%s\r\nContent-Type: %s;\r\n name=\"%s\"\r\n"
		    "Content-Transfer-Encoding: base64\r\nContent-Disposition: "
		    "attachment;\r\n filename=\"%s\"\r\n\r\n", b1, p->content_type,
		    p->filename, p->filename);
		mime_add_base64(inner, p->data, p->len);
	}
	/* No CRLF after the close delimiter: the CRLF before the next
	   boundary of multipart/signed belongs to that boundary, and the
	   signature covers exactly these bytes (RFC 3156 section 5). */
	mime_addf(inner, "--%s--", b1);
	if (inner->oom) {
		mime_buf_free(inner);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	return 0;
}

/* The inner entity signed apart (multipart/signed, boundary b2), then
   that encrypted: *enc (malloc'd, the caller's) of *enclen bytes. */
static int
pe_sign_then_encrypt(struct pe_session *s, const struct mime_buf *inner,
    const char *b2, const char *const *keys, size_t nkeys, char **enc,
    size_t *enclen, struct tocsin_err *err)
{
	const struct chan_env *env = s->env;
	struct mime_buf signd = { 0 };
	char micalg[32], *sig = NULL;
	size_t siglen = 0;
	int rc;

	rc = certs_sign_detached(env->certs, env->repo->gateway.signing_key,
	    inner->p, inner->len, &sig, &siglen, micalg, err);
	if (rc != 0)
		return rc;
	mime_addf(&signd, "Content-Type: multipart/signed; micalg=%s;\r\n "
	    "protocol=\"application/pgp-signature\";\r\n boundary=\"%s\"\r\n\r\n"
	    "--%s\r\n", micalg, b2, b2);
	mime_add(&signd, inner->p, inner->len);
	mime_addf(&signd, "\r\n--%s\r\nContent-Type: application/pgp-signature;"
	    " name=\"signature.asc\"\r\nContent-Description: OpenPGP signature "
	    "of the gateway\r\n\r\n", b2);
	mime_add_crlf(&signd, sig, siglen);
	mime_addf(&signd, "\r\n--%s--\r\n", b2);
	free(sig);
	if (signd.oom) {
		mime_buf_free(&signd);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	rc = certs_encrypt(env->certs, env->keys, keys, nkeys, signd.p,
	    signd.len, enc, enclen, err);
	mime_buf_free(&signd);
	return rc;
}

/* The whole message into o->data: headers, then the encrypted part enc
   as multipart/encrypted with boundary b3. */
static int
pe_wrap(struct pe_session *s, struct mailer_out *o, const char *b3,
    const char *enc, size_t enclen, struct tocsin_err *err)
{
	mailer_headers(&o->data, s->smtp, o->msg, s->env->now);
	mime_addf(&o->data,
	    "Content-Type: multipart/encrypted;\r\n "
	    "protocol=\"application/pgp-encrypted\";\r\n boundary=\"%s\"\r\n\r\n"
	    "This is an OpenPGP/MIME encrypted message (RFC 3156).\r\n"
	    "--%s\r\nContent-Type: application/pgp-encrypted\r\n"
	    "Content-Description: PGP/MIME version identification\r\n\r\n"
	    "Version: 1\r\n\r\n--%s\r\nContent-Type: application/octet-stream;"
	    " name=\"encrypted.asc\"\r\nContent-Description: OpenPGP encrypted "
	    "message\r\nContent-Disposition: inline; filename=\"encrypted.asc\""
	    "\r\n\r\n", b3, b3, b3);
	mime_add_crlf(&o->data, enc, enclen);
	mime_addf(&o->data, "\r\n--%s--\r\n", b3);
	if (o->data.oom) {
		mime_buf_free(&o->data);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	return 0;
}

/* Build the signed inner entity, encrypt it, and wrap it as the whole
   RFC 3156 message.  keys[] are the usable recipients' fingerprints. */
static int
pe_build(struct pe_session *s, struct mailer_out *o, const char *const *keys,
    size_t nkeys, struct tocsin_err *err)
{
	const struct chan_env *env = s->env;
	struct mime_buf inner = { 0 };
	char b1[40], b2[40], b3[40];
	char *enc = NULL;
	size_t enclen = 0;
	int rc;

	if ((rc = mime_boundary(b1, err)) != 0 ||
	    (rc = mime_boundary(b2, err)) != 0 ||
	    (rc = mime_boundary(b3, err)) != 0)
		return rc;
	if ((rc = pe_inner(o->msg, b1, &inner, err)) != 0)
		return rc;
	if (s->smtp->pgp_combined)
		/* RFC 3156 6.2: the entity itself, signed and encrypted in
		   one OpenPGP message (one gpg run instead of two). */
		rc = certs_encrypt_sign(env->certs, env->keys,
		    env->repo->gateway.signing_key, keys, nkeys, inner.p,
		    inner.len, &enc, &enclen, err);
	else
		rc = pe_sign_then_encrypt(s, &inner, b2, keys, nkeys, &enc,
		    &enclen, err);
	mime_buf_free(&inner);
	if (rc != 0)
		return rc;
	rc = pe_wrap(s, o, b3, enc, enclen, err);
	free(enc);
	return rc;
}

static int
pe_deliver(void *session, struct chan_msg *msgs, size_t n,
    struct tocsin_err *err)
{
	struct pe_session *s = session;
	const struct policy_smtp *smtp = s->smtp;
	struct mailer_out *outs;
	int rc = 0;

	if ((outs = calloc(n ? n : 1, sizeof(*outs))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	/* Encrypt first, in this worker's thread, so that OpenPGP work of
	   several workers runs in parallel; then one SMTP session. */
	for (size_t i = 0; i < n; i++) {
		struct chan_msg *m = &msgs[i];
		const char **keys = calloc(m->nrcpts ? m->nrcpts : 1,
		    sizeof(*keys));
		size_t nkeys = 0;
		struct tocsin_err kerr = { 0 };

		outs[i].msg = m;
		if (keys == NULL) {
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
			goto done;
		}
		for (size_t j = 0; j < m->nrcpts; j++) {
			struct chan_rcpt *r = &m->rcpts[j];

			r->status = CHAN_SENT;
			r->reason[0] = r->ref[0] = '\0';
			if (!mailer_address_ok(r->address)) {
				chan_rcpt_set(r, CHAN_PERMFAIL, "the address is not a "
				    "plain e-mail address fit for a header");
				continue;
			}
			if (certs_pubkey_usable(s->env->certs, s->env->keys,
			    r->key, s->env->now, &kerr) != 0) {
				chan_rcpt_set(r, CHAN_PERMFAIL, "cannot encrypt to "
				    "this contact: %s", kerr.msg);
				continue;
			}
			keys[nkeys++] = r->key;
		}
		if (nkeys > 0 && (!mime_header_safe(m->subject, 200) ||
		    !mime_header_safe(m->message_id, 200)))
			for (size_t j = 0; j < m->nrcpts; j++)
				chan_rcpt_set(&m->rcpts[j], CHAN_PERMFAIL, "the "
				    "subject or Message-ID is not printable "
				    "ASCII");
		else if (nkeys > 0) {
			struct tocsin_err berr = { 0 };

			if (pe_build(s, &outs[i], keys, nkeys, &berr) != 0) {
				for (size_t j = 0; j < m->nrcpts; j++)
					if (m->rcpts[j].reason[0] == '\0')
						chan_rcpt_set(&m->rcpts[j],
						    CHAN_TEMPFAIL, "%s",
						    berr.msg);
			} else
				outs[i].ready = true;
		}
		free(keys);
	}
	rc = mailer_send(smtp, s->auth, outs, n, err);
done:
	if (rc != 0) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < msgs[i].nrcpts; j++)
				if (msgs[i].rcpts[j].status == CHAN_SENT &&
				    msgs[i].rcpts[j].reason[0] == '\0' &&
				    msgs[i].rcpts[j].ref[0] == '\0')
					chan_rcpt_set(&msgs[i].rcpts[j], CHAN_TEMPFAIL,
					    "%s", err->msg);
	}
	for (size_t i = 0; i < n; i++)
		mime_buf_free(&outs[i].data);
	free(outs);
	return rc;
}

const struct chan_ops chan_pgp_email = {
	.kind = {
		.name = "pgp-email",
		.field = POLICY_FIELD_EMAIL,
		.check = pe_repo_check,
	},
	.configured = pe_configured,
	.drill_latency = 20,
	.drill_via = "link",
	.ack_via = "mail",
	.notices = true,
	.per_team = true,
	.batch = pe_batch,
	.check = pe_check,
	.init = pe_init,
	.fini = pe_fini,
	.open = pe_open,
	.deliver = pe_deliver,
	.close = pe_close,
};
