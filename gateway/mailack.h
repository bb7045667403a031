/*
 * mailack.h: reading an e-mail reply for an acknowledgement (tocsin
 * ingest-mail, fed one message by the MTA on standard input).
 *
 * The message is outside input: it is read with explicit limits, never
 * decoded beyond what is needed, and nothing of it is believed until the
 * caller has checked it: a PGP signature against a contact's pinned key,
 * or a code against the codes of the sender's teams.
 */
#ifndef MAILACK_H
#define MAILACK_H

#include <stdbool.h>
#include <stddef.h>

#include "tocsin.h"

#define MAILACK_MAX (1024 * 1024)	/* bytes of a message read */

/* What a reply holds; pointers point into the caller's buffer. */
struct mailack_msg {
	char from[256];			/* the From addr-spec, lower case */
	char refs[2048];		/* In-Reply-To and References */
	/* multipart/signed (RFC 3156): the signed entity's exact bytes and
	   the armoured signature; NULL when the message is not one */
	const char *signed_part;
	size_t signed_len;
	const char *sig;
	size_t sig_len;
	/* the text to look for a code in, or an inline clearsigned message:
	   the body, or the signed entity's */
	const char *text;
	size_t text_len;
};

/* Parse len bytes of one message.  0, or TOCSIN_EDATA with err. */
int mailack_parse(const char *raw, size_t len, struct mailack_msg *out,
    struct tocsin_err *err);

/* The alert and team of the first Message-ID of ours in refs
   ("<tocsin.ALERT.TEAM.STEP@domain>").  0, or -1 when there is none. */
int mailack_our_ref(const char *refs, char alert[64], char team[64]);

/* An 8-digit code in text: after "ACK" or "code" (any case), with spaces
   or dashes between digits.  0, or -1 when there is none. */
int mailack_code(const char *text, size_t len, char code[9]);

/* Whether text starts an inline clearsigned OpenPGP message. */
bool mailack_clearsigned(const char *text, size_t len);

#endif
