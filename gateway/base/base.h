/*
 * base.h: the small helpers every module may use, one of each: a bounded
 * growable buffer, array growth, hex, escapers for HTML and for terminal
 * or log text, the time-zone name rule, a line logger for a stdio
 * stream and the monotonic clock in milliseconds.  The result type is in
 * tocsin.h, UTF-8 in utf8.h.
 */
#ifndef BASE_H
#define BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A growable text buffer that refuses to pass its limit (in the manner of
 * Redis's sds and curl's dynbuf).  Errors are sticky so that a writer need
 * not check every append: the first one is kept and everything after it is
 * ignored.  An append is all or nothing, so a writer that hands over whole
 * characters never sees one split.  p is NUL-terminated once non-NULL and
 * owned by the buffer until taken; base_buf_free releases it.
 */
struct base_buf {
	char *p;
	size_t len, cap;
	size_t limit;		/* most bytes the text may reach */
	bool full;		/* something was dropped at the limit */
	int rc;			/* first error (TOCSIN_ENOMEM), else 0 */
};

/* An empty buffer that holds at most limit bytes (not counting the NUL). */
void base_buf_init(struct base_buf *b, size_t limit);
void base_buf_put(struct base_buf *b, const char *s, size_t n);
void base_buf_puts(struct base_buf *b, const char *s);
/* Frees the text and leaves the buffer empty with its limit. */
void base_buf_free(struct base_buf *b);

/*
 * Make room for need elements of elem bytes in the array of *cap elements
 * whose pointer is at pp (a T ** for any T: base_grow(&v, &cap, n + 1,
 * sizeof(*v))), doubling, at least 8, or do nothing when there is room.
 * Returns 0, or TOCSIN_ENOMEM when memory is short or need * elem is over
 * BASE_GROW_MAX bytes (no array of tocsin's comes near it: every input is
 * bounded far below, so a larger one is a bug, never a reason to ask the
 * allocator); then the array and *cap are untouched (and the array still
 * owned by the caller).
 */
#define BASE_GROW_MAX ((size_t)1 << 30)
int base_grow(void *pp, size_t *cap, size_t need, size_t elem);

/* The n bytes at in as 2n lowercase (or uppercase) hex digits and a NUL
   into out (room for 2n + 1). */
void base_hex(char *out, const void *in, size_t n);
void base_hex_upper(char *out, const void *in, size_t n);
/* The value of one hex digit (either case), or -1. */
int base_hexval(int c);
/* Exactly 2 * outlen hex digits at s into out; 0, or -1 on a non-digit
   (out then partly written). */
int base_unhex(void *out, size_t outlen, const char *s);

/*
 * Text from outside escaped for HTML text and attribute values alike: the
 * five specials as entities, ill-formed UTF-8 and noncharacters as U+FFFD,
 * C0 and C1 controls as a space, bidi overrides and isolates (U+202A-202E,
 * U+2066-2069) dropped.  At most max bytes of s are taken, cut at a
 * character with an ellipsis.  Nothing for NULL.
 */
void base_esc_html(struct base_buf *b, const char *s, size_t max);

/*
 * Text from outside made safe for a terminal or a log line: C0 and C1
 * controls, DEL, bidi overrides and isolates and ill-formed UTF-8 become
 * '?'.  At most max bytes of s are taken, cut at a character with "...".
 * A dash for NULL.
 */
void base_esc_term(struct base_buf *b, const char *s, size_t max);

/* Whether s is printable text of 1..max bytes: no C0 control and no
   DEL (names and notes an operator types, which go into the store and
   the audit log). */
bool base_text_ok(const char *s, size_t max);

/* The longest time-zone name accepted. */
#define BASE_TZNAME_MAX 64

/*
 * The one time-zone name rule: 1..BASE_TZNAME_MAX characters of
 * [A-Za-z0-9_+-] and '/', not starting or ending with '/', no "//" (so no
 * '.' at all, hence no ".."): a relative path that stays inside the zone
 * folder it is joined to.  NULL when name keeps it, else what is wrong as
 * a phrase ("has a character that no time zone name has") that never
 * repeats the name, which is not known clean.
 */
const char *base_tzname_check(const char *name);

/* Room for an IP address's text with its NUL (INET6_ADDRSTRLEN). */
#define BASE_IP_TEXT_MAX 46

/*
 * The one spelling of an address (ipaddr.c says why): family's address
 * (a struct in_addr or in6_addr) as inet_ntop writes it, an IPv4-mapped
 * IPv6 address ("::ffff:192.0.2.7") as its IPv4 text.  0, or -1 with out
 * "" (another family, or outlen under BASE_IP_TEXT_MAX).
 */
int base_ip_text(int family, const void *addr, char *out, size_t outlen);

/* in, an IPv4 or IPv6 address's text, in that spelling: 0, or -1 with
   out "" when in is not an address. */
int base_ip_canon(const char *in, char *out, size_t outlen);

/* A tocsin_log_fn for a stdio stream (arg, a FILE *): the line and a
   newline in one call, then flushed, so lines of threads never mix. */
void base_log_file(void *arg, const char *line);

/*
 * Milliseconds on CLOCK_MONOTONIC: never steps back, and a step of the
 * wall clock does not move it, so it is what deadlines, leases' local ends
 * and intervals are measured with.  Its epoch is unspecified (the boot, on
 * Linux): only differences of two readings in one boot mean anything.
 */
int64_t base_mono_ms(void);

#define BASE_PHONE_MAX 48		/* bytes of a grouped number, NUL
					   included, for any E.164 number */
/*
 * An E.164 number grouped for reading aloud or on paper:
 * "+254205550101" becomes "+254 20 555 0101", "+12025550123"
 * "+1 202 555 0123".  The country calling code is set apart by the ITU
 * rule that makes the codes prefix-free (1 and 7 are one digit, a fixed
 * list of two-digit codes, every other code three); the national number
 * ends with a group of four digits, the rest in threes from the right,
 * and a lone digit left over joins the group after it.  Anything that is
 * not "+" and 4 to 15 digits is copied unchanged (cut to fit).  out holds
 * outlen bytes (BASE_PHONE_MAX is always enough for E.164).  0, or
 * TOCSIN_ETOOBIG when the result was cut.
 */
int base_phone_group(const char *e164, char *out, size_t outlen);

#endif
