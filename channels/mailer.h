/*
 * mailer.h: one SMTP session to providers.smtp for the e-mail based
 * channels (pgp-email, fax), private to channels/.
 *
 * The channel builds each message whole (headers and body, CRLF); the
 * mailer sends the ready ones in one session with STARTTLS verified
 * against providers.smtp.ca, and sets every recipient's status from the
 * server's replies.
 */
#ifndef MAILER_H
#define MAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "mime.h"

/* A message ready for SMTP. */
struct mailer_out {
	struct chan_msg *msg;
	struct mime_buf data;		/* the whole message, CRLF */
	bool ready;			/* false: not sent (nothing to send) */
	bool begun;			/* set by mailer_send: its MAIL FROM
					   was answered */
};

/*
 * The relay's user and password from providers.smtp.credentials: one line
 * "user:password" (the password may hold colons) in a 0600 file, read once
 * when serve starts.  They go to the relay's AUTH and nowhere else: never
 * into a reason, a log line or the store.
 */
struct mailer_auth;
/* *ret is NULL when smtp has no credentials; else owned by the caller:
   mailer_auth_free() (which wipes it).  TOCSIN_ECONFIG with a sentence
   that names the file, never its content. */
int mailer_auth_load(const struct policy_smtp *smtp, struct mailer_auth **ret,
    struct tocsin_err *err);
void mailer_auth_free(struct mailer_auth *a);

/* nodelay.c's connect() notes each TCP socket the calling thread connects:
   libesmtp never tells its socket, and the session needs it (see
   mailer.c, "quick ACKs"). */
void mailer_note_connect(int fd);

/*
 * Send every ready message of outs[] in one session.  Recipients of a
 * ready message whose status is CHAN_SENT with no reason are the envelope
 * recipients; each gets its status, reason and ref from the server's
 * answers.  With auth (may be NULL) the session authenticates: after
 * STARTTLS, or in clear only to a relay marked local (the only one that
 * may go without STARTTLS); a refused AUTH is every recipient's reason,
 * with the relay's reply.  Returns 0, or a negative code with err when
 * the session could not start (server unreachable, TLS context, memory);
 * the recipients are then left to the caller.
 */
int mailer_send(const struct policy_smtp *smtp, struct mailer_auth *auth,
    struct mailer_out *outs, size_t n, struct tocsin_err *err);

/*
 * The header block every message of ours starts with: Date, From, To (the
 * recipients that are to be sent), Subject, Message-ID, MIME-Version and
 * Auto-Submitted, without the final empty line.  The caller checked
 * subject and message id with mime_header_safe.
 */
void mailer_headers(struct mime_buf *b, const struct policy_smtp *smtp,
    const struct chan_msg *m, int64_t now);

/* Whether address is a plain addr-spec fit for a header and an envelope. */
bool mailer_address_ok(const char *address);

#endif
