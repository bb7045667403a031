/*
 * mime.h: building MIME entities for the e-mail based channels.
 *
 * Everything is written with CRLF line ends and 7-bit transfer encodings
 * (base64 for any text from an alert), so that no alert text can reach a
 * header or end an SMTP DATA phase, and lines never exceed 78 octets.
 */
#ifndef MIME_H
#define MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin.h"

/* A growable byte buffer. */
struct mime_buf {
	char *p;
	size_t len, cap;
	bool oom;		/* set once an append failed */
};

void mime_add(struct mime_buf *b, const void *data, size_t len);
void mime_adds(struct mime_buf *b, const char *s);
void mime_addf(struct mime_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* data as base64 in lines of 76 characters, each ended by CRLF. */
void mime_add_base64(struct mime_buf *b, const void *data, size_t len);
/* text with every line end (LF, CRLF, lone CR) turned into CRLF. */
void mime_add_crlf(struct mime_buf *b, const void *data, size_t len);
void mime_buf_free(struct mime_buf *b);

/* A fresh random boundary: "=_tocsin_" and 24 hex digits.  "=_" never
   occurs in base64 or in armoured OpenPGP, so a boundary cannot collide
   with content. */
int mime_boundary(char out[40], struct tocsin_err *err);

/* An RFC 5322 date ("Wed, 25 Nov 2026 10:00:00 +0000"), locale-free. */
void mime_date(int64_t t, char out[40]);

/* Whether s may appear in a header as is: printable ASCII only, no CR or
   LF, at most max bytes. */
bool mime_header_safe(const char *s, size_t max);

#endif
