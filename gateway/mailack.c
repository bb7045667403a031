/*
 * mailack.c: the parts of an e-mail reply an acknowledgement needs (see
 * mailack.h): From, the references to our Message-IDs, and either the
 * signed entity and signature of an RFC 3156 multipart/signed message or
 * the plain text.  Only what is needed is parsed; header values and
 * boundaries have fixed limits, and a message that breaks one is refused
 * rather than guessed at.  Transfer encodings are not decoded: a code is
 * looked for in the text as it came (quoted-printable leaves digits be).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mailack.h"

#define MA_HDR_MAX 1024			/* bytes of one (unfolded) header */
#define MA_BOUNDARY_MAX 70		/* RFC 2046 */

/* The end of the line at p (the '\n', or end). */
static const char *
ma_eol(const char *p, const char *end)
{
	const char *n = memchr(p, '\n', (size_t)(end - p));

	return n != NULL ? n : end;
}

/* Whether [p, end) is an empty line (CRLF, LF or nothing). */
static bool
ma_blank(const char *p, const char *eol)
{
	return eol == p || (eol == p + 1 && *p == '\r');
}

/* Append a header line's text to v, as one line (folding removed). */
static void
ma_add(char *v, size_t vlen, const char *p, const char *eol)
{
	size_t l = strlen(v);

	if (eol > p && eol[-1] == '\r')
		eol--;
	while (p < eol && l + 1 < vlen) {
		char c = *p++;

		v[l++] = (c == '\t' || (unsigned char)c < 0x20) ? ' ' : c;
	}
	v[l] = '\0';
}

/* A parameter of a Content-Type value (quoted or a token), into out. */
static bool
ma_param(const char *ct, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);

	for (const char *p = ct; (p = strchr(p, ';')) != NULL; ) {
		size_t n = 0;

		p++;
		while (*p == ' ')
			p++;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"' && n + 1 < outlen; p++)
				out[n++] = *p;
			if (*p != '"')
				return false;
		} else
			for (; *p != '\0' && *p != ';' && *p != ' ' &&
			    n + 1 < outlen; p++)
				out[n++] = *p;
		out[n] = '\0';
		return n > 0;
	}
	return false;
}

/* The next delimiter line "--b" (at a line start) at or after p. */
static const char *
ma_delim(const char *body, const char *p, const char *end, const char *b)
{
	size_t bl = strlen(b);

	for (; p + 2 + bl <= end; p++) {
		p = memchr(p, '-', (size_t)(end - p));
		if (p == NULL || p + 2 + bl > end)
			return NULL;
		if ((p == body || p[-1] == '\n') && p[1] == '-' &&
		    memcmp(p + 2, b, bl) == 0)
			return p;
	}
	return NULL;
}

/* Skip an entity's headers: the start of its body, or NULL. */
static const char *
ma_skip_headers(const char *p, const char *end)
{
	while (p < end) {
		const char *eol = ma_eol(p, end);

		if (ma_blank(p, eol))
			return eol < end ? eol + 1 : end;
		p = eol < end ? eol + 1 : end;
	}
	return NULL;
}

static int
ma_signed(struct mailack_msg *m, const char *body, const char *end,
    const char *ct, struct tocsin_err *err)
{
	char b[MA_BOUNDARY_MAX + 1], proto[64];
	const char *d1, *d2, *d3, *p1, *p2, *sb;

	if (!ma_param(ct, "boundary", b, sizeof(b)) ||
	    !ma_param(ct, "protocol", proto, sizeof(proto)) ||
	    strcasecmp(proto, "application/pgp-signature") != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "a multipart/signed "
		    "message without a boundary of at most 70 characters or not "
		    "an OpenPGP signature");
	if ((d1 = ma_delim(body, body, end, b)) == NULL ||
	    (d2 = ma_delim(body, d1 + 2, end, b)) == NULL ||
	    (d3 = ma_delim(body, d2 + 2, end, b)) == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "the multipart/signed "
		    "message lacks its parts");
	p1 = ma_eol(d1, end);
	if (p1 >= end)
		return tocsin_fail(err, TOCSIN_EDATA, "a part is cut short");
	p1++;
	/* the line break before a delimiter belongs to the delimiter */
	m->signed_part = p1;
	m->signed_len = (size_t)(d2 - p1);
	if (m->signed_len > 0 && p1[m->signed_len - 1] == '\n')
		m->signed_len--;
	if (m->signed_len > 0 && p1[m->signed_len - 1] == '\r')
		m->signed_len--;
	p2 = ma_eol(d2, end);
	if (p2 >= end || (sb = ma_skip_headers(p2 + 1, d3)) == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "the signature part is "
		    "cut short");
	m->sig = sb;
	m->sig_len = (size_t)(d3 - sb);
	if ((m->text = ma_skip_headers(m->signed_part, m->signed_part +
	    m->signed_len)) == NULL)
		m->text = m->signed_part + m->signed_len;
	m->text_len = (size_t)(m->signed_part + m->signed_len - m->text);
	return 0;
}

int
mailack_parse(const char *raw, size_t len, struct mailack_msg *m,
    struct tocsin_err *err)
{
	const char *p = raw, *end = raw + len, *body = NULL;
	char from[MA_HDR_MAX] = "", irt[MA_HDR_MAX] = "", refs[MA_HDR_MAX] = "";
	char ct[MA_HDR_MAX] = "";
	char *cur = NULL;
	size_t curlen = 0;

	memset(m, 0, sizeof(*m));
	if (len > MAILACK_MAX)
		return tocsin_fail(err, TOCSIN_EDATA, "the message is over %d "
		    "bytes", MAILACK_MAX);
	while (p < end) {
		const char *eol = ma_eol(p, end), *colon;

		if (ma_blank(p, eol)) {
			body = eol < end ? eol + 1 : end;
			break;
		}
		if ((*p == ' ' || *p == '\t') && cur != NULL)
			ma_add(cur, curlen, p, eol);
		else if ((colon = memchr(p, ':', (size_t)(eol - p))) != NULL) {
			size_t nl = (size_t)(colon - p);

			cur = NULL;
			if (nl == 4 && strncasecmp(p, "from", 4) == 0)
				cur = from, curlen = sizeof(from);
			else if (nl == 11 && strncasecmp(p, "in-reply-to", 11) == 0)
				cur = irt, curlen = sizeof(irt);
			else if (nl == 10 && strncasecmp(p, "references", 10) == 0)
				cur = refs, curlen = sizeof(refs);
			else if (nl == 12 && strncasecmp(p, "content-type",
			    12) == 0)
				cur = ct, curlen = sizeof(ct);
			if (cur != NULL && cur[0] != '\0')
				cur = NULL;	/* the first of each counts */
			if (cur != NULL)
				ma_add(cur, curlen, colon + 1, eol);
		} else
			return tocsin_fail(err, TOCSIN_EDATA, "a header line "
			    "without a colon: not an e-mail message");
		p = eol < end ? eol + 1 : end;
	}
	if (body == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "the message has no body");
	{
		const char *lt = strchr(from, '<'), *s = lt != NULL ? lt + 1 :
		    from, *e;
		size_t n = 0;

		while (*s == ' ')
			s++;
		e = lt != NULL ? strchr(s, '>') : s + strcspn(s, " ");
		if (e == NULL)
			e = s + strlen(s);
		for (; s < e && n + 1 < sizeof(m->from); s++)
			m->from[n++] = (char)tolower((unsigned char)*s);
		m->from[n] = '\0';
		if (strchr(m->from, '@') == NULL || strpbrk(m->from, " <>\"") !=
		    NULL)
			m->from[0] = '\0';
	}
	(void)snprintf(m->refs, sizeof(m->refs), "%s %s", irt, refs);
	{
		const char *s = ct;

		while (*s == ' ')
			s++;
		if (strncasecmp(s, "multipart/signed", 16) == 0)
			return ma_signed(m, body, end, s, err);
	}
	m->text = body;
	m->text_len = (size_t)(end - body);
	return 0;
}

static bool
ma_idchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

int
mailack_our_ref(const char *refs, char alert[64], char team[64])
{
	for (const char *p = refs; (p = strstr(p, "<tocsin.")) != NULL; p++) {
		const char *a = p + 8, *t, *s;
		size_t al, tl;

		for (t = a; ma_idchar(*t); t++)
			;
		if (*t != '.' || (al = (size_t)(t - a)) == 0 || al >= 64)
			continue;
		for (s = ++t; ma_idchar(*s); s++)
			;
		if (*s != '.' || (tl = (size_t)(s - t)) == 0 || tl >= 64)
			continue;
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
		if (*s != '@')
			continue;
		memcpy(alert, a, al);
		alert[al] = '\0';
		memcpy(team, t, tl);
		team[tl] = '\0';
		return 0;
	}
	return -1;
}

int
mailack_code(const char *text, size_t len, char code[9])
{
	for (size_t i = 0; i < len; i++) {
		size_t j, n = 0;

		if (i + 3 <= len && strncasecmp(text + i, "ack", 3) == 0)
			j = i + 3;
		else if (i + 4 <= len && strncasecmp(text + i, "code", 4) == 0)
			j = i + 4;
		else
			continue;
		while (j < len && (text[j] == ' ' || text[j] == ':'))
			j++;
		for (; j < len && n < 8; j++) {
			if (text[j] >= '0' && text[j] <= '9')
				code[n++] = text[j];
			else if (n == 0 || (text[j] != ' ' && text[j] != '-'))
				break;
		}
		if (n == 8 && (j >= len || text[j] < '0' || text[j] > '9')) {
			code[8] = '\0';
			return 0;
		}
	}
	return -1;
}

bool
mailack_clearsigned(const char *text, size_t len)
{
	static const char h[] = "-----BEGIN PGP SIGNED MESSAGE-----";

	for (size_t i = 0; i + sizeof(h) - 1 <= len; i++) {
		if (memcmp(text + i, h, sizeof(h) - 1) == 0)
			return true;
		if (text[i] != ' ' && text[i] != '\r' && text[i] != '\n')
			return false;
	}
	return false;
}
