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
 * libesmtp (LIBRARY-NOTES): each session gets its own SSL_CTX; STARTTLS
 * is required unless the relay is marked local; the result of a session is
 * read from every message's and recipient's status, never from the return
 * of smtp_start_session(); a hung connect is guarded by a connect check
 * with a timeout before the session starts.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <auth-client.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <libesmtp.h>

#include "channel.h"
#include "mime.h"

#define PE_MAX_ADDR 254

struct pe_session {
	const struct chan_env *env;
	const struct policy_smtp *smtp;
};

/* A message ready for SMTP. */
struct pe_out {
	struct chan_msg *msg;
	struct mime_buf data;		/* the whole message, CRLF */
	size_t sent_off;		/* read position for libesmtp */
	bool ready;
};

/* What the event callback learnt about one SMTP session. */
struct pe_events {
	const char *host;
	bool tls_ok;
	char reason[512];
};

static size_t
pe_batch(const struct policy_repo *repo)
{
	return repo->smtp != NULL && repo->smtp->batch > 0 ?
	    (size_t)repo->smtp->batch : 50;
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
	*ret = s;
	return 0;
}

static void
pe_close(void *session)
{
	free(session);
}

/* Build the signed inner entity, encrypt it, and wrap it as the whole
   RFC 3156 message.  keys[] are the usable recipients' fingerprints. */
static int
pe_build(struct pe_session *s, struct pe_out *o, const char *const *keys,
    size_t nkeys, struct tocsin_err *err)
{
	const struct chan_env *env = s->env;
	struct chan_msg *m = o->msg;
	struct mime_buf inner = { 0 }, signd = { 0 };
	char b1[40], b2[40], b3[40], date[40], micalg[32];
	char *sig = NULL, *enc = NULL;
	size_t siglen = 0, enclen = 0;
	bool first = true;
	int rc;

	if ((rc = mime_boundary(b1, err)) != 0 ||
	    (rc = mime_boundary(b2, err)) != 0 ||
	    (rc = mime_boundary(b3, err)) != 0)
		return rc;
	/* The inner entity: text, then the CAP document and its issuer
	   signatures, all base64 so that no alert text is ever a line of
	   its own in the message. */
	mime_addf(&inner, "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n"
	    "\r\n", b1);
	mime_addf(&inner, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: "
	    "inline\r\n\r\n", b1);
	mime_add_base64(&inner, m->body, m->body_len);
	for (size_t i = 0; i < m->nparts; i++) {
		const struct chan_part *p = &m->parts[i];

		if (!mime_header_safe(p->filename, 128) ||
		    !mime_header_safe(p->content_type, 128) ||
		    strpbrk(p->filename, "\"\\/") != NULL) {
			mime_buf_free(&inner);
			return tocsin_fail(err, TOCSIN_EINTERNAL, "attachment "
			    "name or type not fit for a header");
		}
		mime_addf(&inner, "--%s\r\nContent-Type: %s;\r\n name=\"%s\"\r\n"
		    "Content-Transfer-Encoding: base64\r\nContent-Disposition: "
		    "attachment;\r\n filename=\"%s\"\r\n\r\n", b1, p->content_type,
		    p->filename, p->filename);
		mime_add_base64(&inner, p->data, p->len);
	}
	/* No CRLF after the close delimiter: the CRLF before the next
	   boundary of multipart/signed belongs to that boundary, and the
	   signature covers exactly these bytes (RFC 3156 section 5). */
	mime_addf(&inner, "--%s--", b1);
	if (inner.oom) {
		mime_buf_free(&inner);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	if (s->smtp->pgp_combined) {
		/* RFC 3156 6.2: the entity itself, signed and encrypted in
		   one OpenPGP message (one gpg run instead of two). */
		rc = certs_encrypt_sign(env->certs, env->keys,
		    env->repo->gateway.signing_key, keys, nkeys, inner.p,
		    inner.len, &enc, &enclen, err);
		mime_buf_free(&inner);
		if (rc != 0)
			return rc;
		goto wrap;
	}
	rc = certs_sign_detached(env->certs, env->repo->gateway.signing_key,
	    inner.p, inner.len, &sig, &siglen, micalg, err);
	if (rc != 0) {
		mime_buf_free(&inner);
		return rc;
	}
	mime_addf(&signd, "Content-Type: multipart/signed; micalg=%s;\r\n "
	    "protocol=\"application/pgp-signature\";\r\n boundary=\"%s\"\r\n\r\n"
	    "--%s\r\n", micalg, b2, b2);
	mime_add(&signd, inner.p, inner.len);
	mime_addf(&signd, "\r\n--%s\r\nContent-Type: application/pgp-signature;"
	    " name=\"signature.asc\"\r\nContent-Description: OpenPGP signature "
	    "of the gateway\r\n\r\n", b2);
	mime_add_crlf(&signd, sig, siglen);
	mime_addf(&signd, "\r\n--%s--\r\n", b2);
	mime_buf_free(&inner);
	free(sig);
	if (signd.oom) {
		mime_buf_free(&signd);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	rc = certs_encrypt(env->certs, env->keys, keys, nkeys, signd.p,
	    signd.len, &enc, &enclen, err);
	mime_buf_free(&signd);
	if (rc != 0)
		return rc;
wrap:
	mime_date(env->now, date);
	mime_addf(&o->data, "Date: %s\r\nFrom: %s\r\nTo: ", date,
	    s->smtp->from);
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].status != CHAN_SENT || m->rcpts[i].reason[0])
			continue;
		mime_addf(&o->data, "%s%s", first ? "" : ",\r\n ",
		    m->rcpts[i].address);
		first = false;
	}
	mime_addf(&o->data, "\r\nSubject: %s\r\nMessage-ID: %s\r\n"
	    "MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n"
	    "Content-Type: multipart/encrypted;\r\n "
	    "protocol=\"application/pgp-encrypted\";\r\n boundary=\"%s\"\r\n\r\n"
	    "This is an OpenPGP/MIME encrypted message (RFC 3156).\r\n"
	    "--%s\r\nContent-Type: application/pgp-encrypted\r\n"
	    "Content-Description: PGP/MIME version identification\r\n\r\n"
	    "Version: 1\r\n\r\n--%s\r\nContent-Type: application/octet-stream;"
	    " name=\"encrypted.asc\"\r\nContent-Description: OpenPGP encrypted "
	    "message\r\nContent-Disposition: inline; filename=\"encrypted.asc\""
	    "\r\n\r\n", m->subject, m->message_id, b3, b3, b3);
	mime_add_crlf(&o->data, enc, enclen);
	mime_addf(&o->data, "\r\n--%s--\r\n", b3);
	free(enc);
	if (o->data.oom) {
		mime_buf_free(&o->data);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	return 0;
}

/* libesmtp reads the message through this; it frees *ctx itself. */
static const char *
pe_msgcb(void **ctx, int *len, void *arg)
{
	struct pe_out *o = arg;
	size_t *off;

	if (*ctx == NULL && (*ctx = calloc(1, sizeof(size_t))) == NULL) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	off = *ctx;
	if (len == NULL) {
		*off = 0;
		return NULL;
	}
	if (*off >= o->data.len) {
		*len = 0;
		return NULL;
	}
	{
		/* libesmtp takes an int length: hand the message over in
		   bounded pieces. */
		size_t n = o->data.len - *off;
		const char *p = o->data.p + *off;

		if (n > 65536)
			n = 65536;
		*off += n;
		*len = (int)n;
		return p;
	}
}

static bool
pe_name_ok(SSL *ssl, const char *host)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	unsigned char ip[16];

	if (cert == NULL)
		return false;
	if (inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1)
		return X509_check_ip_asc(cert, host, 0) == 1;
	return X509_check_host(cert, host, 0, 0, NULL) == 1;
}

static void
pe_event(smtp_session_t session, int ev, void *arg, ...)
{
	struct pe_events *e = arg;
	va_list ap;
	long vr;
	int *ok;
	SSL *ssl;

	(void)session;
	va_start(ap, arg);
	switch (ev) {
	case SMTP_EV_STARTTLS_OK:
		e->tls_ok = true;
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		snprintf(e->reason, sizeof(e->reason), "the SMTP server %s "
		    "does not offer STARTTLS, which is required: nothing was "
		    "sent in clear", e->host);
		break;
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
		vr = va_arg(ap, long);
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(e->reason, sizeof(e->reason), "the SMTP server %s "
		    "presented a certificate that is not trusted (%s): nothing "
		    "was sent", e->host, X509_verify_cert_error_string(vr));
		break;
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(e->reason, sizeof(e->reason), "the SMTP server %s "
		    "presented no certificate: nothing was sent", e->host);
		break;
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
		/* libesmtp matches DNS names only; the name or address was
		   already part of OpenSSL's verification (the verify
		   parameters of the SSL_CTX), so check it again here. */
		ok = va_arg(ap, int *);
		(void)va_arg(ap, const char *);
		ssl = va_arg(ap, SSL *);
		*ok = pe_name_ok(ssl, e->host) ? 1 : 0;
		if (!*ok)
			snprintf(e->reason, sizeof(e->reason), "the SMTP "
			    "server's certificate is not for %s: nothing was "
			    "sent", e->host);
		break;
	case SMTP_EV_WEAK_CIPHER:
		(void)va_arg(ap, int);
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(e->reason, sizeof(e->reason), "the SMTP server %s "
		    "offered only a weak cipher: nothing was sent", e->host);
		break;
	default:
		break;
	}
	va_end(ap);
}

/* libesmtp has no connect timeout of its own: try the connection first. */
static int
pe_reachable(const char *host, int port, int64_t timeout,
    struct tocsin_err *err)
{
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	char svc[8];
	int rc, fd = -1, last = 0;

	hints.ai_socktype = SOCK_STREAM;
	snprintf(svc, sizeof(svc), "%d", port);
	if ((rc = getaddrinfo(host, svc, &hints, &res)) != 0)
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot resolve the SMTP "
		    "server %s: %s", host, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(last);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			last = errno;
			close(fd);
			fd = -1;
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		rc = poll(&pfd, 1, (int)(timeout * 1000));
		if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &last,
		    &sl) == 0 && last == 0)
			break;
		if (rc == 0)
			last = ETIMEDOUT;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot connect to the "
		    "SMTP server %s port %d: %s", host, port, strerror(last));
	close(fd);
	return 0;
}

static SSL_CTX *
pe_tls_ctx(const struct policy_smtp *smtp, struct tocsin_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_VERIFY_PARAM *vp;
	unsigned char ip[16];

	if (ctx == NULL) {
		tocsin_fail(err, TOCSIN_EINTERNAL, "cannot make a TLS context");
		return NULL;
	}
	/* TLS 1.2 only: with TLS 1.3, libesmtp 1.1.0's socket layer drops
	   a session after STARTTLS now and then (the EHLO answer is read,
	   then it quits: "SMTP server dropped connection"), seen on one
	   session in three against an OpenSSL server.  TLS 1.2 with a
	   verified certificate showed no such failure in the same runs. */
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	(void)SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	if ((smtp->ca != NULL ? SSL_CTX_load_verify_locations(ctx, smtp->ca,
	    NULL) : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		tocsin_fail(err, TOCSIN_ECONFIG, "cannot load the CA %s for "
		    "the SMTP server", smtp->ca != NULL ? smtp->ca :
		    "(system default)");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* The handshake itself goes on (SSL_VERIFY_NONE) so that libesmtp
	   can report why verification failed; it checks the result and
	   quits before any command is sent. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	vp = SSL_CTX_get0_param(ctx);
	if (inet_pton(AF_INET, smtp->host, ip) == 1 ||
	    inet_pton(AF_INET6, smtp->host, ip) == 1)
		(void)X509_VERIFY_PARAM_set1_ip_asc(vp, smtp->host);
	else
		(void)X509_VERIFY_PARAM_set1_host(vp, smtp->host, 0);
	return ctx;
}

struct pe_rcpt_walk {
	struct pe_events *ev;
	const smtp_status_t *msg_status;
};

static void
pe_status_text(char *out, size_t outlen, const char *what,
    const smtp_status_t *st)
{
	char text[400];
	size_t n;

	snprintf(text, sizeof(text), "%s", st->text != NULL ? st->text : "");
	n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
	    text[n - 1] == ' '))
		text[--n] = '\0';
	for (char *c = text; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = ' ';
	snprintf(out, outlen, "%s: %d %s", what, st->code, text);
}

static void
pe_rcpt_result(smtp_recipient_t r, const char *mailbox, void *arg)
{
	struct pe_rcpt_walk *w = arg;
	struct chan_rcpt *cr = smtp_recipient_get_application_data(r);
	const smtp_status_t *rs = smtp_recipient_status(r);
	const smtp_status_t *ms = w->msg_status;

	(void)mailbox;
	if (cr == NULL)
		return;
	if (rs == NULL || rs->code == 0) {
		chan_rcpt_set(cr, CHAN_TEMPFAIL, "%s", w->ev->reason[0] ?
		    w->ev->reason : "the SMTP session ended before the "
		    "recipient was accepted");
		return;
	}
	if (rs->code >= 500) {
		cr->status = CHAN_PERMFAIL;
		pe_status_text(cr->reason, sizeof(cr->reason), "RCPT refused",
		    rs);
		return;
	}
	if (rs->code >= 400 || rs->code < 200) {
		cr->status = CHAN_TEMPFAIL;
		pe_status_text(cr->reason, sizeof(cr->reason), "RCPT deferred",
		    rs);
		return;
	}
	if (ms == NULL || ms->code == 0) {
		/* Accepted recipient, no answer to DATA: it may or may not
		   have gone; a retry repeats it with the same Message-ID. */
		chan_rcpt_set(cr, CHAN_TEMPFAIL, "%s", w->ev->reason[0] ?
		    w->ev->reason : "the SMTP session ended before the message "
		    "was accepted");
	} else if (ms->code >= 500) {
		cr->status = CHAN_PERMFAIL;
		pe_status_text(cr->reason, sizeof(cr->reason),
		    "message refused", ms);
	} else if (ms->code >= 400 || ms->code < 200) {
		cr->status = CHAN_TEMPFAIL;
		pe_status_text(cr->reason, sizeof(cr->reason),
		    "message deferred", ms);
	} else {
		cr->status = CHAN_SENT;
		cr->reason[0] = '\0';
		pe_status_text(cr->ref, sizeof(cr->ref), "accepted", ms);
	}
}

static void
pe_msg_result(smtp_message_t msg, void *arg)
{
	struct pe_rcpt_walk w = { .ev = arg };

	w.msg_status = smtp_message_transfer_status(msg);
	(void)smtp_enumerate_recipients(msg, pe_rcpt_result, &w);
}

static int
pe_deliver(void *session, struct chan_msg *msgs, size_t n,
    struct tocsin_err *err)
{
	struct pe_session *s = session;
	const struct policy_smtp *smtp = s->smtp;
	struct pe_out *outs;
	smtp_session_t ss = NULL;
	SSL_CTX *tls = NULL;
	struct pe_events ev = { 0 };
	char hostport[280];
	size_t nready = 0;
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
			if (!mime_header_safe(r->address, PE_MAX_ADDR) ||
			    strpbrk(r->address, " ,;<>()\"\\") != NULL ||
			    strchr(r->address, '@') == NULL) {
				chan_rcpt_set(r, CHAN_PERMFAIL, "the address is not a "
				    "plain e-mail address fit for a header");
				continue;
			}
			if (certs_pubkey_usable(s->env->keys, r->key,
			    s->env->now, &kerr) != 0) {
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
			} else {
				outs[i].ready = true;
				nready++;
			}
		}
		free(keys);
	}
	if (nready == 0)
		goto done;

	if (pe_reachable(smtp->host, smtp->port, smtp->timeout, err) != 0) {
		rc = err->code;
		goto done;
	}
	if ((ss = smtp_create_session()) == NULL) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "cannot make an SMTP "
		    "session");
		goto done;
	}
	snprintf(hostport, sizeof(hostport), strchr(smtp->host, ':') ?
	    "[%.255s]:%d" : "%.255s:%d", smtp->host, smtp->port);
	ev.host = smtp->host;
	(void)smtp_set_server(ss, hostport);
	(void)smtp_set_eventcb(ss, pe_event, &ev);
	{
		long ms = (long)smtp->timeout * 1000;
		int w = Timeout_OVERRIDE_RFC2822_MINIMUM;

		(void)smtp_set_timeout(ss, Timeout_GREETING | w, ms);
		(void)smtp_set_timeout(ss, Timeout_ENVELOPE | w, ms);
		(void)smtp_set_timeout(ss, Timeout_DATA | w, ms);
		(void)smtp_set_timeout(ss, Timeout_TRANSFER | w, ms);
		(void)smtp_set_timeout(ss, Timeout_DATA2 | w, ms);
	}
	if (smtp->starttls) {
		if ((tls = pe_tls_ctx(smtp, err)) == NULL) {
			rc = err->code;
			goto done;
		}
		(void)smtp_starttls_enable(ss, Starttls_REQUIRED);
		(void)smtp_starttls_set_ctx(ss, tls);
	} else
		(void)smtp_starttls_enable(ss, Starttls_DISABLED);
	for (size_t i = 0; i < n; i++) {
		smtp_message_t msg;

		if (!outs[i].ready)
			continue;
		if ((msg = smtp_add_message(ss)) == NULL) {
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
			goto done;
		}
		(void)smtp_set_reverse_path(msg, smtp->from);
		(void)smtp_set_messagecb(msg, pe_msgcb, &outs[i]);
		for (size_t j = 0; j < outs[i].msg->nrcpts; j++) {
			struct chan_rcpt *r = &outs[i].msg->rcpts[j];
			smtp_recipient_t sr;

			if (r->status != CHAN_SENT || r->reason[0] != '\0')
				continue;
			if ((sr = smtp_add_recipient(msg, r->address)) == NULL)
				chan_rcpt_set(r, CHAN_TEMPFAIL, "cannot add recipient");
			else
				smtp_recipient_set_application_data_release(
				    sr, r, NULL);
		}
	}
	(void)smtp_start_session(ss);
	if (ev.reason[0] == '\0' && smtp_errno() != 0) {
		char eb[160];

		snprintf(ev.reason, sizeof(ev.reason), "SMTP session with %s "
		    "failed: %s", hostport, smtp_strerror(smtp_errno(), eb,
		    sizeof(eb)) != NULL ? eb : "unknown error");
	}
	if (smtp->starttls && !ev.tls_ok && ev.reason[0] == '\0')
		snprintf(ev.reason, sizeof(ev.reason), "no TLS session with %s "
		    "could be set up: nothing was sent", hostport);
	(void)smtp_enumerate_messages(ss, pe_msg_result, &ev);
done:
	if (ss != NULL)
		smtp_destroy_session(ss);
	SSL_CTX_free(tls);
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
	.name = "pgp-email",
	.channel = POLICY_CH_PGP_EMAIL,
	.per_team = true,
	.batch = pe_batch,
	.check = pe_check,
	.open = pe_open,
	.deliver = pe_deliver,
	.close = pe_close,
};
