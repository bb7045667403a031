/*
 * render.h: the text of one message for one team and step, rendered from a
 * parsed and verified CAP alert.
 *
 * The body is plain UTF-8 with LF line ends.  Every line the gateway writes
 * starts with its own label or banner at the left margin; text taken from
 * the alert is either folded onto one labelled line (headline, event, ...)
 * or indented by two spaces (description, instruction, note), so alert text
 * can never pass for a line of the gateway's own, such as the exercise
 * banner or the acknowledgement instructions.  The body is not made safe
 * for any transport by itself: lines are not wrapped and may be long, and
 * it is 8-bit; the channel encodes it (the e-mail layer uses a transfer
 * encoding).
 */
#ifndef RENDER_H
#define RENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "cap.h"
#include "i18n.h"
#include "channel.h"
#include "policy.h"
#include "tocsin.h"

#define RENDER_FIELD_MAX (16 * 1024)	/* bytes of any one alert field */
#define RENDER_BODY_MAX (256 * 1024)	/* bytes of a whole body */
#define RENDER_SUBJECT_MAX 256		/* a sensible subject buffer */

struct render_in {
	const struct cap_alert *alert;	/* parsed and verified */
	const char *alert_id;		/* the gateway's id of the alert */
	const struct policy_team *team;
	const char *const *langs;	/* languages of the step's contacts, in
					   order; may repeat; NULL when none */
	size_t nlangs;
	const char *timezone;		/* IANA zone for local times; NULL: the
					   team's first contact's */
	const char *ack_url;		/* per-team link, may be NULL */
	const char *ack_code;		/* per-team short code, may be NULL */
	const char *duty_phone;		/* E.164 of the duty desk, said with
					   the ack instructions; may be NULL */
	const char *zonedir;		/* NULL: TZ_DEFAULT_DIR */
	const char *unreached;		/* for the desk: the ids of the teams
					   that ended unreached ("ke, br"), or
					   NULL; said before the alert */
	const struct i18n_cat *cat;	/* the gateway's texts in langs[0]
					   (i18n.h); NULL: English */
	const char *const *readers;	/* the first language of each contact
					   the message goes to (a team's
					   e-mail has several); NULL: none */
	size_t nreaders;
};

/*
 * Render the body.  On success *ret is malloc'd, NUL-terminated UTF-8 text
 * with LF line ends, owned by the caller, and *ret_len its length (at most
 * RENDER_BODY_MAX).  Each field is cut at RENDER_FIELD_MAX and the whole at
 * RENDER_BODY_MAX, at a character boundary, with a "[truncated]" marker; the
 * action lines at the top (status, severity, headline, acknowledgement
 * instructions) and the footer are never cut.  The text is in langs[0]'s
 * words; the acknowledgement instructions also come in the first language
 * of each other reader whose words differ (at most RENDER_ACK_LANGS in
 * all), so that every contact of a team's e-mail can read how to ack.  A time zone that
 * cannot be read does not stop the message: its times are then given in
 * UTC only, with the reason.  Returns 0, TOCSIN_EINTERNAL for missing
 * inputs or TOCSIN_ENOMEM; the outputs are untouched on failure.
 */
int render_body(const struct render_in *in, char **ret, size_t *ret_len,
    struct tocsin_err *err);
/* The acknowledgement instructions in this many languages at most. */
#define RENDER_ACK_LANGS 4

/*
 * A subject line from a template: %i the alert id, %s the highest severity
 * over the infos, %t the status, %m the msgType, %e "[EXERCISE] " when the
 * status is Exercise (else nothing), %% a percent sign.  No other text of
 * the alert is ever used, so a headline cannot leak into a subject.  The
 * result is printable ASCII only: any other byte, from a value or from the
 * template, is dropped, so CR and LF never appear; runs of spaces become
 * one and trailing spaces go.  An Exercise subject always starts with
 * "[EXERCISE] ", exactly once: a template that starts with %e gives it, one
 * that does not gets it in front, and any other %e adds nothing.  A result
 * longer than outlen - 1 is cut.  Returns 0, TOCSIN_ECONFIG for an unknown
 * placeholder (so `tocsin check` can try templates) or TOCSIN_EINTERNAL.
 */
int render_subject(const char *tmpl, const struct cap_alert *alert,
    const char *alert_id, char *out, size_t outlen, struct tocsin_err *err);

/*
 * One line for SMS and voice: "Severity: headline" (the event when there
 * is no headline) from the alert's info in lang, falling back to en.  The
 * text is cleaned as in the body (no controls, no line breaks); the
 * severity is said in lang when cat has it.  *ret is malloc'd, owned by
 * the caller; *own (may be NULL) the bytes of its start that are the
 * gateway's words ("Severity: "), not the alert's.
 */
int render_short(const struct cap_alert *alert, const char *lang,
    const struct i18n_cat *cat, char **ret, size_t *own,
    struct tocsin_err *err);

/* Who acknowledged, for the notice to a team's other contacts. */
struct render_ack {
	const char *by, *via, *strength;	/* as recorded; by is cleaned */
	const char *contact;		/* the contact as the gateway knows
					   them (number, key, own link), or
					   NULL: by is then only what someone
					   gave */
	int64_t at;
};

#define RENDER_QUOTE_IN 1024		/* bytes of outside text looked at */
#define RENDER_QUOTE_MAX 40		/* characters of a quote */
#define RENDER_QUOTE_DIGITS 5		/* digits that make a phone number */
/*
 * Text an outsider gave (a name typed on the ack page), made fit to be
 * quoted as theirs and never read as the gateway's word: its first
 * RENDER_QUOTE_IN bytes only; controls, C1, line separators, bidi marks,
 * embeddings, overrides and isolates and invalid UTF-8 dropped; a double
 * quote becomes an apostrophe; anything like a link or an address (a
 * scheme "x://", "www.", an '@', a dotted host name) and any run of
 * RENDER_QUOTE_DIGITS or more digits with '+', spaces, dashes, dots,
 * slashes or brackets between them (a phone number) become one "[…]";
 * other punctuation becomes a space; spaces once, none at the ends; at
 * most max_chars characters, cut at a whole character and marked "…".
 * *ret is malloc'd, owned by the caller.  0 or TOCSIN_ENOMEM.
 */
int render_quote(const char *in, size_t max_chars, char **ret,
    struct tocsin_err *err);
/*
 * The notice that in->team acknowledged the alert, for its other
 * contacts: *body (LF line ends, starting "ACKNOWLEDGED") and *short_text
 * (one line for SMS, starting "ACKNOWLEDGED"), both malloc'd and owned by
 * the caller.  Who acknowledged is named only from what the gateway
 * knows: ack->contact, or an operator's entry (via "operator:..."); else
 * the notice says that the gateway does not know who, and gives ack->by
 * only as an unverified quote made by render_quote ("none" when no name
 * was typed: ack->by is ACK_BY_LINK).  No ack instructions: nothing more is asked.  0,
 * TOCSIN_EINTERNAL or TOCSIN_ENOMEM; the outputs untouched on failure.
 */
int render_notice(const struct render_in *in, const struct render_ack *ack,
    char **body, size_t *body_len, char **short_text, struct tocsin_err *err);

/* What a page needs beyond render_in. */
struct render_doc_in {
	const char *recipient;		/* the contact's name */
	const char *number;		/* the endpoint (fax number) */
	const char *duty_phone, *ack_phone;	/* may be NULL */
	bool full;			/* description, instruction, note */
};

/*
 * The fields of a page (the fax channel's) into *out: the info in the
 * first of in->langs (falling back as cap_info_for does), cleaned as the
 * body is; one-line fields are cut at a few hundred bytes so that a page
 * always has room for the acknowledgement box, the long texts (only when
 * full) at RENDER_FIELD_MAX, with their line breaks.  Local time in
 * in->timezone.  Every string of *out is malloc'd: free with
 * render_doc_free.  Returns 0, TOCSIN_EINTERNAL or TOCSIN_ENOMEM; *out is
 * untouched on failure.
 */
int render_doc(const struct render_in *in, const struct render_doc_in *di,
    struct chan_doc *out, struct tocsin_err *err);
void render_doc_free(struct chan_doc *d);

#endif
