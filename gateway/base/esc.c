/*
 * esc.c: outside text made safe for an HTML page and for a terminal or a
 * log line (base.h).  One of each, so that every page and every listing
 * treats a hostile string the same way; and the one test of what an
 * operator types on the command line (base_text_ok).
 */
#include <stdint.h>
#include <string.h>

#include "base.h"
#include "utf8.h"

static const char esc_fffd[] = "\xef\xbf\xbd";

static bool
esc_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Bidi overrides and isolates: they reorder what follows on the screen, so
   that a name or a link can be shown as something it is not. */
static bool
esc_bidi(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static bool
esc_nonchar(uint32_t cp)
{
	return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

void
base_esc_html(struct base_buf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len, i = 0, n, skip;
	uint32_t cp;

	if (s == NULL)
		return;
	len = strlen(s);
	while (i < len) {
		if ((n = utf8_next(p + i, len - i, &cp, &skip)) == 0) {
			n = skip;
			cp = 0xfffd;
		}
		if (i + n > max) {
			base_buf_puts(b, "\xe2\x80\xa6");
			return;
		}
		switch (cp) {
		case '&':  base_buf_puts(b, "&amp;"); break;
		case '<':  base_buf_puts(b, "&lt;"); break;
		case '>':  base_buf_puts(b, "&gt;"); break;
		case '"':  base_buf_puts(b, "&quot;"); break;
		case '\'': base_buf_puts(b, "&#39;"); break;
		case 0xfffd: base_buf_puts(b, esc_fffd); break;
		default:
			if (esc_control(cp))
				base_buf_put(b, " ", 1);
			else if (esc_bidi(cp))
				;
			else if (esc_nonchar(cp))
				base_buf_puts(b, esc_fffd);
			else
				base_buf_put(b, s + i, n);
		}
		i += n;
	}
}

void
base_esc_term(struct base_buf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len, i = 0, n, skip;
	uint32_t cp;

	if (s == NULL) {
		base_buf_put(b, "-", 1);
		return;
	}
	len = strlen(s);
	while (i < len) {
		bool bad = false;

		if ((n = utf8_next(p + i, len - i, &cp, &skip)) == 0) {
			n = skip;
			bad = true;
		}
		if (i + n > max) {
			base_buf_puts(b, "...");
			return;
		}
		if (bad || esc_control(cp) || esc_bidi(cp))
			base_buf_put(b, "?", 1);
		else
			base_buf_put(b, s + i, n);
		i += n;
	}
}

bool
base_text_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return false;
	return n > 0 && n <= max;
}
