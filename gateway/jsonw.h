/*
 * jsonw.h: just enough JSON writing for status and reports: strings are
 * escaped per RFC 8259 (control characters as \u00XX), so that contact and
 * alert text can never break the document.
 */
#ifndef JSONW_H
#define JSONW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Write s as a JSON string (null for NULL). */
void jsonw_str(FILE *f, const char *s);
/* Write "key": */
void jsonw_key(FILE *f, const char *key);
/*
 * One member of an object whose value is a string: "key":val (null for a
 * NULL val).  A member with a NULL key is left out, so that a caller can
 * write one list of members for a short and a long form of an object.
 */
struct jsonw_member {
	const char *key, *val;
};
/* Write the members m[0..n) that have a key, a comma between each two:
   no brace, and no comma before the first or after the last. */
void jsonw_members(FILE *f, const struct jsonw_member *m, size_t n);
/* Write a UTC time as "YYYY-MM-DDTHH:MM:SSZ" (null for 0). */
void jsonw_time(FILE *f, int64_t t);
/* Format a UTC time into buf ("-" for 0). */
const char *jsonw_fmt_time(int64_t t, char *buf, size_t len);

#endif
