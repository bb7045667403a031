/*
 * mime.c: MIME building blocks with CRLF line ends and 7-bit encodings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "base.h"
#include "mime.h"

static bool
mime_grow(struct mime_buf *b, size_t more)
{
	if (b->oom)
		return false;
	if (more > SIZE_MAX - 1 - b->len ||
	    base_grow(&b->p, &b->cap, b->len + more + 1, 1) != 0) {
		b->oom = true;
		return false;
	}
	return true;
}

void
mime_add(struct mime_buf *b, const void *data, size_t len)
{
	if (!mime_grow(b, len))
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void
mime_adds(struct mime_buf *b, const char *s)
{
	mime_add(b, s, strlen(s));
}

void
mime_addf(struct mime_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !mime_grow(b, (size_t)n)) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
mime_add_base64(struct mime_buf *b, const void *data, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t col = 0;

	if (!mime_grow(b, (len + 2) / 3 * 4 + (len / 57 + 2) * 2))
		return;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		size_t left = len - i;
		char *o = b->p + b->len;

		if (left > 1)
			v |= (unsigned)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		o[0] = tab[(v >> 18) & 63];
		o[1] = tab[(v >> 12) & 63];
		o[2] = left > 1 ? tab[(v >> 6) & 63] : '=';
		o[3] = left > 2 ? tab[v & 63] : '=';
		b->len += 4;
		col += 4;
		if (col == 76) {
			b->p[b->len++] = '\r';
			b->p[b->len++] = '\n';
			col = 0;
		}
	}
	if (col != 0) {
		b->p[b->len++] = '\r';
		b->p[b->len++] = '\n';
	}
	b->p[b->len] = '\0';
}

void
mime_add_crlf(struct mime_buf *b, const void *data, size_t len)
{
	const char *p = data, *end = p + len;

	while (p < end) {
		const char *q = p;

		while (q < end && *q != '\r' && *q != '\n')
			q++;
		mime_add(b, p, (size_t)(q - p));
		if (q == end)
			break;
		mime_add(b, "\r\n", 2);
		if (*q == '\r' && q + 1 < end && q[1] == '\n')
			q++;
		p = q + 1;
	}
}

void
mime_buf_free(struct mime_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int
mime_boundary(char out[40], struct tocsin_err *err)
{
	unsigned char r[12];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "no randomness for "
		    "a MIME boundary");
	memcpy(out, "=_tocsin_", 9);
	base_hex(out + 9, r, sizeof(r));
	return 0;
}

void
mime_date(int64_t t, char out[40])
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		/* Not a time the C library can show: the epoch, a valid
		   date, rather than an invalid header. */
		tt = 0;
		(void)gmtime_r(&tt, &tm);
	}
	snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool
mime_header_safe(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; *s != '\0'; s++, n++)
		if (n >= max || (unsigned char)*s < 0x20 ||
		    (unsigned char)*s > 0x7e)
			return false;
	return true;
}
