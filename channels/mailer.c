/*
 * mailer.c: one SMTP session for the e-mail based channels.
 *
 * libesmtp (LIBRARY-NOTES): each session gets its own SSL_CTX; STARTTLS
 * is required unless the relay is marked local; the result of a session is
 * read from every message's and recipient's status, never from the return
 * of smtp_start_session(); a hung connect is guarded by a connect check
 * with a timeout before the session starts.
 *
 * AUTH (RFC 4954) with the user and password of providers.smtp.credentials
 * through libesmtp's SASL client (PLAIN, LOGIN or CRAM-MD5, as the relay
 * offers).  libesmtp sends STARTTLS before AUTH, and with STARTTLS
 * required a session without TLS ends before any command after EHLO, so
 * the password crosses the network only inside TLS; a relay marked local
 * (starttls = "none") gets it in clear on this host.  libesmtp reports no
 * AUTH result, so the protocol monitor reads the relay's reply to AUTH
 * (only the relay's lines: ours carry the password).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <auth-client.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <libesmtp.h>

#include "mailer.h"
#include "pinned.h"

#define MAILER_MAX_ADDR 254
#define MAILER_MAX_CRED 1024		/* bytes of the credentials file */

struct mailer_auth {
	char *user;			/* both NUL-terminated, in one buffer */
	char *password;
	size_t len;			/* of the buffer, for the wipe */
};

/* What the event callback learnt about one SMTP session. */
struct mailer_events {
	const char *host;
	bool tls_ok;
	bool late;			/* the batch's deadline cut the session */
	bool starttls;			/* required: messages go after it */
	bool any_begun;			/* a message of the session began */
	const struct chan_msg *first;	/* of the batch */
	bool auth_sent, auth_done;	/* AUTH went, its end was read */
	bool mail_sent;			/* the first MAIL went */
	int fd;				/* the session's socket, or -1 */
	const struct mailer_auth *auth;
	char reason[512];
};

static void mailer_msg_result(smtp_message_t msg, void *arg);

/*
 * Quick ACKs.  A relay answers a pipelined envelope (MAIL, RCPT..., DATA)
 * in more than one write; with Nagle's algorithm on its side (Postfix
 * keeps it) the later part waits for our ACK of the first, and Linux
 * delays that ACK by 40 ms, since we have nothing to send while we wait
 * for the rest: 40 ms a message (bench/README.md, bench_dispatch).  So
 * after each reply we read, the pending ACK goes at once (TCP_QUICKACK
 * sends it and lasts only a while, hence every time).  libesmtp makes its
 * socket itself and never tells it; nodelay.c's connect() notes the last
 * TCP socket each thread connected, and a session takes it when libesmtp
 * says it connected (it does so in the same thread, right after).
 * Thread-local: each worker runs its own sessions.
 */
static _Thread_local int mailer_last_fd = -1;

void
mailer_note_connect(int fd)
{
	mailer_last_fd = fd;
}

static void
mailer_quickack(const struct mailer_events *e)
{
	int one = 1;

	if (e->fd >= 0)
		(void)setsockopt(e->fd, IPPROTO_TCP, TCP_QUICKACK, &one,
		    sizeof(one));
}

/* libesmtp reads the message through this; it frees *ctx itself. */
static const char *
mailer_msgcb(void **ctx, int *len, void *arg)
{
	struct mailer_out *o = arg;
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
mailer_name_ok(SSL *ssl, const char *host)
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

/* The four timeouts of a session's exchanges after the greeting, each to
   ms (the greeting's too when greeting). */
static void
mailer_timeouts(smtp_session_t ss, long ms, bool greeting)
{
	int w = Timeout_OVERRIDE_RFC2822_MINIMUM;

	if (greeting)
		(void)smtp_set_timeout(ss, Timeout_GREETING | w, ms);
	(void)smtp_set_timeout(ss, Timeout_ENVELOPE | w, ms);
	(void)smtp_set_timeout(ss, Timeout_DATA | w, ms);
	(void)smtp_set_timeout(ss, Timeout_TRANSFER | w, ms);
	(void)smtp_set_timeout(ss, Timeout_DATA2 | w, ms);
}

/* The events by which TLS is refused: e->reason says why, and the
   library is told not to go on.  False for any other event. */
static bool
mailer_ev_tls(struct mailer_events *e, int ev, va_list ap)
{
	long vr;
	int *ok;
	SSL *ssl;

	switch (ev) {
	case SMTP_EV_EXTNA_STARTTLS:
		snprintf(e->reason, sizeof(e->reason), "the SMTP server %s "
		    "does not offer STARTTLS, which is required: nothing was "
		    "sent in clear", e->host);
		return true;
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
		vr = va_arg(ap, long);
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(e->reason, sizeof(e->reason), "the SMTP server %s "
		    "presented a certificate that is not trusted (%s): nothing "
		    "was sent", e->host, X509_verify_cert_error_string(vr));
		return true;
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(e->reason, sizeof(e->reason), "the SMTP server %s "
		    "presented no certificate: nothing was sent", e->host);
		return true;
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
		/* libesmtp matches DNS names only; the name or address was
		   already part of OpenSSL's verification (the verify
		   parameters of the SSL_CTX), so check it again here. */
		ok = va_arg(ap, int *);
		(void)va_arg(ap, const char *);
		ssl = va_arg(ap, SSL *);
		*ok = mailer_name_ok(ssl, e->host) ? 1 : 0;
		if (!*ok)
			snprintf(e->reason, sizeof(e->reason), "the SMTP "
			    "server's certificate is not for %s: nothing was "
			    "sent", e->host);
		return true;
	case SMTP_EV_WEAK_CIPHER:
		(void)va_arg(ap, int);
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(e->reason, sizeof(e->reason), "the SMTP server %s "
		    "offered only a weak cipher: nothing was sent", e->host);
		return true;
	default:
		return false;
	}
}

/* SMTP_EV_MESSAGESENT: each message's result as it completes, so that a
   crash later in the session repeats only what was in flight. */
static void
mailer_ev_sent(smtp_session_t session, struct mailer_events *e,
    smtp_message_t msg)
{
	struct mailer_out *o = smtp_message_get_application_data(msg);

	mailer_msg_result(msg, e);
	if (o != NULL)
		chan_msg_done(o->msg);
	if (o != NULL && chan_msg_late(o->msg) && !e->late) {
		/* Past the batch's deadline: no new message.  The library
		   has no way to stop between messages, so the next command
		   is given no time; what it had not begun is untried and
		   goes in the next batch. */
		e->late = true;
		mailer_timeouts(session, 1, false);
	}
}

static void
mailer_event(smtp_session_t session, int ev, void *arg, ...)
{
	struct mailer_events *e = arg;
	va_list ap;

	/* each reply of the server: a chance to commit results held, and
	   our ACK of it goes now (see "quick ACKs") */
	mailer_quickack(e);
	if (e->first != NULL)
		chan_msg_idle(e->first);
	va_start(ap, arg);
	switch (ev) {
	case SMTP_EV_STARTTLS_OK:
		e->tls_ok = true;
		/* the messages go next: a crash from here is an attempt */
		if (e->first != NULL)
			chan_msg_start(e->first);
		break;
	case SMTP_EV_MAILSTATUS: {
		smtp_message_t msg;
		struct mailer_out *o;

		(void)va_arg(ap, const char *);
		msg = va_arg(ap, smtp_message_t);
		if ((o = smtp_message_get_application_data(msg)) != NULL)
			o->begun = true;
		e->any_begun = true;
		break;
	}
	case SMTP_EV_CONNECT:
		e->fd = mailer_last_fd;
		if (!e->starttls && e->first != NULL)
			chan_msg_start(e->first);
		break;
	case SMTP_EV_MESSAGESENT:
		mailer_ev_sent(session, e, va_arg(ap, smtp_message_t));
		break;
	default:
		(void)mailer_ev_tls(e, ev, ap);
		break;
	}
	va_end(ap);
}

int
mailer_auth_load(const struct policy_smtp *smtp, struct mailer_auth **ret,
    struct tocsin_err *err)
{
	char buf[MAILER_MAX_CRED + 1], *colon;
	struct mailer_auth *a;
	struct stat st;
	ssize_t n;
	int fd;

	*ret = NULL;
	if (smtp == NULL || smtp->credentials == NULL)
		return 0;
	if ((fd = open(smtp->credentials, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0)
		return tocsin_fail(err, TOCSIN_ECONFIG, "cannot read the SMTP "
		    "credentials %s: %s", smtp->credentials, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		close(fd);
		return tocsin_fail(err, TOCSIN_ECONFIG, "the SMTP credentials "
		    "%s are not a regular file of mode 0600; chmod 600 %s",
		    smtp->credentials, smtp->credentials);
	}
	n = read(fd, buf, MAILER_MAX_CRED + 1);
	close(fd);
	if (n < 0 || n > MAILER_MAX_CRED)
		n = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	colon = strchr(buf, ':');
	if (n == 0 || colon == NULL || colon == buf || colon[1] == '\0' ||
	    memchr(buf, '\0', (size_t)n) != NULL || strpbrk(buf, "\r\n") !=
	    NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return tocsin_fail(err, TOCSIN_ECONFIG, "the SMTP credentials "
		    "%s must be one line \"user:password\" of at most %d "
		    "bytes", smtp->credentials, MAILER_MAX_CRED);
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->user = malloc((size_t)n + 1)) == NULL) {
		free(a);
		OPENSSL_cleanse(buf, sizeof(buf));
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	memcpy(a->user, buf, (size_t)n + 1);
	OPENSSL_cleanse(buf, sizeof(buf));
	a->len = (size_t)n + 1;
	a->password = a->user + (colon - buf) + 1;
	a->user[colon - buf] = '\0';
	*ret = a;
	return 0;
}

void
mailer_auth_free(struct mailer_auth *a)
{
	if (a == NULL)
		return;
	OPENSSL_cleanse(a->user, a->len);
	free(a->user);
	free(a);
}

/* libesmtp's SASL client asks for the user and the password. */
static int
mailer_interact(auth_client_request_t req, char **result, int fields,
    void *arg)
{
	struct mailer_auth *a = arg;

	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = a->user;
		else if (req[i].flags & AUTH_PASS)
			result[i] = a->password;
		else
			return 0;	/* a realm: none is configured */
	}
	return 1;
}

/*
 * The protocol as it goes: our AUTH command, then the relay's answer to
 * it.  Only the start of our lines is looked at (the rest is the
 * password, encoded); the relay's refusal becomes the session's reason.
 */
static void
mailer_monitor(const char *buf, int len, int writing, void *arg)
{
	struct mailer_events *e = arg;
	char text[300];
	size_t n = 0;

	if (writing == SMTP_CB_WRITING) {
		/* AUTH comes before the first MAIL; after it, what we write
		   is envelopes and messages, whose lines are not commands */
		if (len >= 5 && strncasecmp(buf, "MAIL ", 5) == 0)
			e->mail_sent = true;
		else if (!e->mail_sent && len >= 5 &&
		    strncasecmp(buf, "AUTH ", 5) == 0)
			e->auth_sent = true;
		return;
	}
	if (writing != SMTP_CB_READING || !e->auth_sent || e->auth_done ||
	    len < 3 || buf[0] == '3')
		return;
	e->auth_done = true;
	if (buf[0] == '2')
		return;
	while (n < (size_t)len && n + 1 < sizeof(text) && buf[n] != '\r' &&
	    buf[n] != '\n') {
		text[n] = (unsigned char)buf[n] < 0x20 ||
		    (unsigned char)buf[n] > 0x7e ? ' ' : buf[n];
		n++;
	}
	text[n] = '\0';
	/* a relay that echoed the password would not get it into a reason */
	if (e->auth != NULL && e->auth->password[0] != '\0' &&
	    strstr(text, e->auth->password) != NULL)
		snprintf(text, sizeof(text), "%.3s (reply withheld: it held the "
		    "password)", buf);
	snprintf(e->reason, sizeof(e->reason), "the SMTP server %s refused "
	    "authentication as %.64s: %s", e->host, e->auth != NULL ?
	    e->auth->user : "", text);
}

/* AUTH for session ss with auth's user and password, its reply watched
   into ev: the context (the caller destroys it after the session), or
   NULL when out of memory. */
static auth_context_t
mailer_auth_start(smtp_session_t ss, struct mailer_auth *auth,
    struct mailer_events *ev)
{
	auth_context_t actx = auth_create_context();

	if (actx == NULL)
		return NULL;
	/* PLAIN and LOGIN send the password itself: fit only inside TLS, or
	   to a local relay (see the top of this file). */
	(void)auth_set_mechanism_flags(actx, AUTH_PLUGIN_PLAIN, 0);
	(void)auth_set_interact_cb(actx, mailer_interact, auth);
	(void)smtp_auth_set_context(ss, actx);
	ev->auth = auth;
	(void)smtp_set_monitorcb(ss, mailer_monitor, ev, 0);
	return actx;
}

/* libesmtp has no connect timeout of its own: try the connection first.
   When the relay's name does not resolve, *ret_pinned is the first of its
   pinned addresses that answered, which the session then connects to;
   NULL while the name resolves. */
static int
mailer_reachable(const struct policy_smtp *smtp, const char **ret_pinned,
    struct tocsin_err *err)
{
	int fd;

	if (pinned_connect("the SMTP server", smtp->host, smtp->port,
	    smtp->addresses, smtp->naddresses, smtp->timeout, &fd, ret_pinned,
	    err) != 0)
		return err->code;
	close(fd);
	return 0;
}

static SSL_CTX *
mailer_tls_ctx(const struct policy_smtp *smtp, struct tocsin_err *err)
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

struct mailer_rcpt_walk {
	struct mailer_events *ev;
	const smtp_status_t *msg_status;
	const struct mailer_out *out;
};

static void
mailer_status_text(char *out, size_t outlen, const char *what,
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
mailer_rcpt_result(smtp_recipient_t r, const char *mailbox, void *arg)
{
	struct mailer_rcpt_walk *w = arg;
	struct chan_rcpt *cr = smtp_recipient_get_application_data(r);
	const smtp_status_t *rs = smtp_recipient_status(r);
	const smtp_status_t *ms = w->msg_status;

	(void)mailbox;
	if (cr == NULL)
		return;
	if (cr->status != CHAN_SENT || cr->ref[0] != '\0')
		return;			/* told already, as its message ended */
	if (rs == NULL || rs->code == 0) {
		chan_rcpt_set(cr, CHAN_TEMPFAIL, "%s", w->ev->late ? "not "
		    "attempted: the batch's time ran out; it goes again" :
		    w->ev->reason[0] ? w->ev->reason : "the SMTP session ended "
		    "before the recipient was accepted");
		/* Not begun while others of the session were (the batch's
		   deadline, or a connection dropped after them): it was
		   never handed over, and costs no attempt.  A session that
		   began nothing (no TLS, refused) is the message's attempt. */
		cr->untried = (w->out == NULL || !w->out->begun) &&
		    (w->ev->late || w->ev->any_begun);
		return;
	}
	if (rs->code >= 500) {
		cr->status = CHAN_PERMFAIL;
		mailer_status_text(cr->reason, sizeof(cr->reason), "RCPT refused",
		    rs);
		return;
	}
	if (rs->code >= 400 || rs->code < 200) {
		cr->status = CHAN_TEMPFAIL;
		mailer_status_text(cr->reason, sizeof(cr->reason), "RCPT deferred",
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
		mailer_status_text(cr->reason, sizeof(cr->reason),
		    "message refused", ms);
	} else if (ms->code >= 400 || ms->code < 200) {
		cr->status = CHAN_TEMPFAIL;
		mailer_status_text(cr->reason, sizeof(cr->reason),
		    "message deferred", ms);
	} else {
		cr->status = CHAN_SENT;
		cr->reason[0] = '\0';
		mailer_status_text(cr->ref, sizeof(cr->ref), "accepted", ms);
	}
}

static void
mailer_msg_result(smtp_message_t msg, void *arg)
{
	struct mailer_rcpt_walk w = { .ev = arg };

	w.out = smtp_message_get_application_data(msg);

	w.msg_status = smtp_message_transfer_status(msg);
	(void)smtp_enumerate_recipients(msg, mailer_rcpt_result, &w);
}


bool
mailer_address_ok(const char *a)
{
	return a != NULL && mime_header_safe(a, MAILER_MAX_ADDR) &&
	    strpbrk(a, " ,;<>()\"\\") == NULL && strchr(a, '@') != NULL;
}

void
mailer_headers(struct mime_buf *b, const struct policy_smtp *smtp,
    const struct chan_msg *m, int64_t now)
{
	char date[40];
	bool first = true;

	mime_date(now, date);
	mime_addf(b, "Date: %s\r\nFrom: %s\r\nTo: ", date, smtp->from);
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].status != CHAN_SENT || m->rcpts[i].reason[0])
			continue;
		mime_addf(b, "%s%s", first ? "" : ",\r\n ",
		    m->rcpts[i].address);
		first = false;
	}
	mime_addf(b, "\r\nSubject: %s\r\nMessage-ID: %s\r\n"
	    "MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n",
	    m->subject, m->message_id);
}

/* When the batch's time ran out before its session: every message ready
   is untried (it goes again), and true. */
static bool
mailer_batch_late(struct mailer_out *outs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (outs[i].ready && chan_msg_late(outs[i].msg)) {
			for (size_t k = 0; k < n; k++)
				if (outs[k].ready)
					chan_msg_untried(outs[k].msg, "not "
					    "attempted: the batch's time ran "
					    "out; it goes again");
			return true;
		}
	return false;
}

/* Set up the session ss for smtp: server, events into ev, timeouts,
   STARTTLS (*tls, the caller's to free) and AUTH (*actx, likewise). */
static int
mailer_session_setup(smtp_session_t ss, const struct policy_smtp *smtp,
    struct mailer_auth *auth, struct mailer_events *ev, const char *hostport,
    SSL_CTX **tls, auth_context_t *actx, struct tocsin_err *err)
{
	(void)smtp_set_server(ss, hostport);
	(void)smtp_set_eventcb(ss, mailer_event, ev);
	mailer_timeouts(ss, (long)smtp->timeout * 1000, true);
	if (smtp->starttls) {
		if ((*tls = mailer_tls_ctx(smtp, err)) == NULL)
			return err->code;
		(void)smtp_starttls_enable(ss, Starttls_REQUIRED);
		(void)smtp_starttls_set_ctx(ss, *tls);
	} else
		(void)smtp_starttls_enable(ss, Starttls_DISABLED);
	if (auth != NULL && (*actx = mailer_auth_start(ss, auth, ev)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "cannot make an SMTP "
		    "AUTH context");
	return 0;
}

/* Each message ready into the session, with its recipients not failed
   yet (one the library refuses fails for now). */
static int
mailer_add_messages(smtp_session_t ss, const struct policy_smtp *smtp,
    struct mailer_out *outs, size_t n, struct tocsin_err *err)
{
	for (size_t i = 0; i < n; i++) {
		smtp_message_t msg;

		if (!outs[i].ready)
			continue;
		if ((msg = smtp_add_message(ss)) == NULL)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		(void)smtp_set_reverse_path(msg, smtp->from);
		smtp_message_set_application_data_release(msg, &outs[i], NULL);
		(void)smtp_set_messagecb(msg, mailer_msgcb, &outs[i]);
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
	return 0;
}

/* After the session: why it failed as a whole, when no event said. */
static void
mailer_session_reason(const struct policy_smtp *smtp,
    struct mailer_events *ev, const char *hostport)
{
	if (ev->reason[0] == '\0' && smtp_errno() != 0) {
		char eb[160];

		snprintf(ev->reason, sizeof(ev->reason), "SMTP session with %s "
		    "failed: %s", hostport, smtp_strerror(smtp_errno(), eb,
		    sizeof(eb)) != NULL ? eb : "unknown error");
	}
	if (smtp->starttls && !ev->tls_ok && ev->reason[0] == '\0')
		snprintf(ev->reason, sizeof(ev->reason), "no TLS session with %s "
		    "could be set up: nothing was sent", hostport);
}

int
mailer_send(const struct policy_smtp *smtp, struct mailer_auth *auth,
    struct mailer_out *outs, size_t n, struct tocsin_err *err)
{
	auth_context_t actx = NULL;
	smtp_session_t ss = NULL;
	SSL_CTX *tls = NULL;
	struct mailer_events ev = { .fd = -1 };
	char hostport[280], label[300];
	const char *pinned = NULL, *to;
	size_t nready = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		nready += outs[i].ready;
	if (nready == 0 || mailer_batch_late(outs, n))
		return 0;
	if ((rc = mailer_reachable(smtp, &pinned, err)) != 0)
		goto done;
	if ((ss = smtp_create_session()) == NULL) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "cannot make an SMTP "
		    "session");
		goto done;
	}
	/* At a pinned address the session connects to it; the certificate
	   is still checked against the configured name (mailer_tls_ctx and
	   the events use smtp->host, never the address).  Pinned addresses
	   are IPv4 (policy): libesmtp 1.1.0 splits "host:port" at the first
	   ':', so the bracketed form below does not reach an IPv6 host. */
	to = pinned != NULL ? pinned : smtp->host;
	snprintf(hostport, sizeof(hostport), strchr(to, ':') ?
	    "[%.255s]:%d" : "%.255s:%d", to, smtp->port);
	if (pinned != NULL)
		snprintf(label, sizeof(label), "%.200s at its pinned address "
		    "%.60s", smtp->host, hostport);
	else
		snprintf(label, sizeof(label), "%s", hostport);
	ev.host = smtp->host;
	ev.starttls = smtp->starttls;
	for (size_t i = 0; i < n && ev.first == NULL; i++)
		if (outs[i].ready)
			ev.first = outs[i].msg;
	if ((rc = mailer_session_setup(ss, smtp, auth, &ev, hostport, &tls,
	    &actx, err)) != 0 ||
	    (rc = mailer_add_messages(ss, smtp, outs, n, err)) != 0)
		goto done;
	(void)smtp_start_session(ss);
	mailer_session_reason(smtp, &ev, label);
	(void)smtp_enumerate_messages(ss, mailer_msg_result, &ev);
done:
	if (ss != NULL)
		smtp_destroy_session(ss);
	if (actx != NULL)
		auth_destroy_context(actx);
	SSL_CTX_free(tls);
	return rc;
}
