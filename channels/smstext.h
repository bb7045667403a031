/*
 * smstext.h: measuring and composing SMS text (3GPP TS 23.038, GSM 03.38).
 *
 * A message goes out in the GSM 7-bit default alphabet only if every
 * character of it is in that alphabet or its extension table; otherwise the
 * whole message is UCS-2.  A concatenated message loses 7 septets (GSM7) or
 * 3 UTF-16 units (UCS2) per part to the user data header, and an escape
 * pair or a surrogate pair is never split across parts, so parts are
 * counted by filling them in order, not by dividing.
 *
 * Providers take UTF-8, so nothing here encodes to septets; this only
 * decides what fits.
 */
#ifndef SMSTEXT_H
#define SMSTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "tocsin.h"

/* The most parts a composed message may take. */
#define SMSTEXT_MAX_SEGMENTS 10

enum smstext_coding { SMSTEXT_GSM7, SMSTEXT_UCS2 };

struct smstext_info {
	enum smstext_coding coding;
	/* GSM7: septets, an extension-table character counting 2;
	   UCS2: UTF-16 code units, a character outside the BMP counting 2. */
	size_t units;
	/* 1 if the units fit one part (160 septets, 70 units, also when
	   empty), else the parts of 153 septets or 67 units filled in order
	   without splitting an escape pair or a surrogate pair. */
	size_t segments;
};

/* Measure len bytes of UTF-8 text into *ret.  Invalid UTF-8 is
   TOCSIN_EDATA; *ret is untouched on failure. */
int smstext_measure(const char *utf8, size_t len, struct smstext_info *ret,
    struct tocsin_err *err);

/*
 * Compose marker + text + tail within max_segments (1 to
 * SMSTEXT_MAX_SEGMENTS) parts; *ret is a NUL-terminated malloc'd string
 * the caller frees, *info what it measures.
 *
 * marker (e.g. "[EXERCISE] ") and tail (e.g. " Ack: 1234 https://...") are
 * the gateway's own, kept byte for byte (NULL is ""), and must be valid
 * UTF-8 (TOCSIN_EDATA); the caller puts any separating spaces in them.  If
 * they alone do not fit, TOCSIN_ETOOBIG.
 *
 * text is the alert's, outside input (NULL is ""): C0 controls (CR and LF
 * too: an SMS is one paragraph), DEL, C1 controls, Unicode spaces and the
 * bidirectional embedding, override and isolate controls (which would
 * otherwise reorder the tail on the phone) become spaces, runs of spaces
 * collapse to one, leading and trailing ones go, and invalid UTF-8 becomes
 * U+FFFD.  If it does not fit, it is cut at a character boundary, at a
 * space if one is among its last 20 kept characters, and ended with "..."
 * when the message is GSM7 (U+2026 is not in the alphabet and would turn
 * the message into UCS-2) or U+2026 when it is UCS2.  The coding is that of
 * the final message: a cut that removes the only non-GSM characters makes
 * it GSM7, and then more text fits.
 *
 * Outputs are untouched on failure.
 */
int smstext_compose(const char *marker, const char *text, const char *tail,
    unsigned max_segments, char **ret, struct smstext_info *info,
    struct tocsin_err *err);

/*
 * The gateway's own words of an SMS (its marker, the severity word, its
 * tail) spelt in the GSM 7-bit alphabet where a translation is not:
 * accented Latin letters without the accent the alphabet lacks (e circumflex
 * as e, I acute as I, c cedilla as c), the ligature oe as "oe", typographic
 * quotes and dashes as ' " and -, the ellipsis as "...".  Used only when
 * the alert's own text is GSM7 already, so that a label does not turn the
 * whole message into UCS-2 (70 characters a part instead of 160): an
 * alert is still sent as written.
 *
 * *ret is a malloc'd copy, the caller's: 1 when all of it is GSM7, 0 when
 * a character has no such spelling (*ret NULL), TOCSIN_EDATA for invalid
 * UTF-8, TOCSIN_ENOMEM.
 */
int smstext_fold(const char *utf8, char **ret, struct tocsin_err *err);

/* Whether alert text goes in GSM7 as smstext_compose cleans it (controls
   and Unicode spaces become spaces); false for invalid UTF-8. */
bool smstext_text_gsm(const char *utf8);

#endif
