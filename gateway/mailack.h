/*
 * mailack.h: reading an e-mail reply for an acknowledgement (tocsin
 * ingest-mail, fed one message by the MTA on standard input).
 *
 * The message is outside input: GMime parses it under explicit limits,
 * and nothing of it is believed until the caller has checked it: a PGP
 * signature against a contact's pinned key, or a code against the codes
 * of the sender's teams.
 */
#ifndef MAILACK_H
#define MAILACK_H

#include <stdbool.h>
#include <stddef.h>

#include "tocsin.h"

/* Limits on a message, each refused with a sentence when broken.  The
   first three hold before GMime parses (they bound what it builds); the
   others are checked on what it built. */
#define MAILACK_MAX (1024 * 1024)	/* bytes of a message read */
#define MAILACK_FIELDS_MAX 1000		/* lines that may be header fields */
#define MAILACK_DELIMS_MAX 1000		/* lines that may be boundaries */
#define MAILACK_FIELD_MAX (32 * 1024)	/* bytes of one header field */
#define MAILACK_PARTS_MAX 64		/* MIME entities in a message */
#define MAILACK_DEPTH_MAX 6		/* levels of entities, the body 1 */
#define MAILACK_TEXT_MAX MAILACK_MAX	/* bytes of the text, decoded */

/* What a reply holds.  Every buffer is malloc'd, owned by the struct and
   freed by mailack_msg_free; each is also NUL-terminated. */
struct mailack_msg {
	char from[256];			/* the From addr-spec, lower case */
	char refs[2048];		/* In-Reply-To and References */
	/* multipart/signed (RFC 3156): the signed entity's bytes exactly as
	   they came, and the signature part's content; NULL when the
	   message is not one */
	char *signed_part;
	size_t signed_len;
	char *sig;
	size_t sig_len;
	/* the text to look for a code in: the first text/plain part
	   (text/html when there is none), transfer encoding undone and
	   converted to UTF-8; for multipart/signed, read from the signed
	   bytes alone.  NULL when there is no text part. */
	char *text;
	size_t text_len;
	/* the same part with only the transfer encoding undone, in the
	   sender's charset: what an inline (clearsigned) signature covers;
	   NULL for multipart/signed */
	char *octets;
	size_t octets_len;
};

/* GMime's global state (charset tables, iconv cache): start-up init,
   called once before the first mailack_parse, and its shutdown at exit. */
void mailack_init(void);
void mailack_shutdown(void);

/* Parse len bytes of one message (GMime, under the limits above).  0, or
   TOCSIN_EDATA / TOCSIN_ETOOBIG / TOCSIN_ENOMEM with err; on failure out
   holds nothing to free.  On success the caller frees with
   mailack_msg_free. */
int mailack_parse(const char *raw, size_t len, struct mailack_msg *out,
    struct tocsin_err *err);

/* Free what mailack_parse allocated in m (NULL is fine). */
void mailack_msg_free(struct mailack_msg *m);

/* The alert and team of the first Message-ID of ours in refs
   ("<tocsin.ALERT.TEAM.STEP@domain>").  0, or -1 when there is none. */
int mailack_our_ref(const char *refs, char alert[64], char team[64]);

/* An 8-digit code in text: after "ACK" or "code" (any case), with spaces
   or dashes between digits.  0, or -1 when there is none. */
int mailack_code(const char *text, size_t len, char code[9]);

/* Whether text starts an inline clearsigned OpenPGP message. */
bool mailack_clearsigned(const char *text, size_t len);

#endif
