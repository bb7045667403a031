/*
 * jsonw.c: escaped JSON strings and UTC timestamps.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "jsonw.h"
#include "utf8.h"

void
jsonw_str(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80) {
			/* JSON is UTF-8: a bad byte from outside (a provider's
			   reply, a typed name) becomes U+FFFD */
			uint32_t cp;
			size_t skip = 1, n = utf8_next(p, strlen((const char *)
			    p), &cp, &skip);

			if (n == 0) {
				fputs("\ufffd", f);
				p += skip - 1;
			} else {
				fwrite(p, 1, n, f);
				p += n - 1;
			}
			continue;
		}
		switch (*p) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void
jsonw_key(FILE *f, const char *key)
{
	jsonw_str(f, key);
	fputc(':', f);
}

void
jsonw_members(FILE *f, const struct jsonw_member *m, size_t n)
{
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		if (m[i].key == NULL)
			continue;
		if (!first)
			fputc(',', f);
		jsonw_key(f, m[i].key);
		jsonw_str(f, m[i].val);
		first = false;
	}
}

const char *
jsonw_fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		if (len > 1) {
			buf[0] = '-';
			buf[1] = '\0';
		}
	}
	return buf;
}

void
jsonw_time(FILE *f, int64_t t)
{
	char buf[32];

	if (t == 0) {
		fputs("null", f);
		return;
	}
	jsonw_str(f, jsonw_fmt_time(t, buf, sizeof(buf)));
}
