/*
 * mailack.c: the parts of an e-mail reply an acknowledgement needs (see
 * mailack.h): From, the references to our Message-IDs, and either the
 * signed entity and signature of an RFC 3156 multipart/signed message or
 * the text.  Implements what it reads of RFC 5322 (header fields),
 * RFC 2045-2047 (MIME, transfer encodings, encoded words) and RFC 3156,
 * through GMime: the message is outside input, and a parser of its own
 * is more code an attacker can aim at than the one mail clients share.
 *
 * Limits come in two kinds.  Before GMime sees the message, its size and
 * the lines that could become header fields or boundaries are counted,
 * because GMime builds an object per field and per part (1 MiB of them
 * is some 200 MiB of memory).  After it parsed, the entities, their depth
 * and each field's length are checked, and anything GMime itself calls
 * critical (a conflicting header, a multipart without a boundary, parts
 * other software would read otherwise) refuses the message: an ack is
 * never taken from a message two readers would read differently.
 *
 * The signed entity of multipart/signed is cut from the bytes as they
 * came, at the boundary GMime found, and never written out again by
 * GMime: its writer drops the padding after a boundary (GMime 3.2.13),
 * which would break a good signature.  The text of a signed message is
 * then read from those signed bytes alone, so that the text the caller
 * believes is the text the signature covers.  GMime does no OpenPGP
 * here: verification is certs/' (gpgme) business.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "mailack.h"

#define MA_BOUNDARY_MAX 70		/* RFC 2046 */

/* What one parse saw: GMime's critical warnings, and the counts. */
struct ma_parse {
	GMimeParserWarning crit;	/* the first critical one, or 0 */
	size_t parts;
	int depth;
};

void
mailack_init(void)
{
	/* start-up init: GMime's charset tables and iconv cache are global
	   and are set up once, before any message is parsed */
	g_mime_init();
}

void
mailack_shutdown(void)
{
	g_mime_shutdown();
}

void
mailack_msg_free(struct mailack_msg *m)
{
	if (m == NULL)
		return;
	free(m->signed_part);
	free(m->sig);
	free(m->text);
	free(m->octets);
	m->signed_part = m->sig = m->text = m->octets = NULL;
}

/*
 * The lines of raw that GMime could make a header field of (a run of
 * bytes other than blanks and ':', blanks, then ':') and those that
 * could be a boundary ("--" at a line start): over the limits, refused
 * before GMime builds an object for each.
 */
static int
ma_prescan(const char *raw, size_t len, struct tocsin_err *err)
{
	size_t fields = 0, delims = 0;

	for (const char *p = raw, *end = raw + len; p < end; ) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *q = p;

		if (eol == NULL)
			eol = end;
		if (eol - p >= 2 && p[0] == '-' && p[1] == '-')
			delims++;
		while (q < eol && *q != ':' && *q != ' ' && *q != '\t' &&
		    *q != '\r')
			q++;
		if (q > p) {
			while (q < eol && (*q == ' ' || *q == '\t'))
				q++;
			if (q < eol && *q == ':')
				fields++;
		}
		p = eol < end ? eol + 1 : end;
	}
	if (fields > MAILACK_FIELDS_MAX || delims > MAILACK_DELIMS_MAX)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the message has over "
		    "%d lines that may be header fields or over %d that may be "
		    "MIME boundaries", MAILACK_FIELDS_MAX, MAILACK_DELIMS_MAX);
	return 0;
}

/* GMime's warnings: the critical ones mean that some of the input may be
   skipped or read otherwise by other software. */
static void
ma_warn(gint64 offset, GMimeParserWarning code, const gchar *item,
    gpointer data)
{
	struct ma_parse *ps = data;

	(void)offset;
	(void)item;
	switch (code) {
	case GMIME_CRIT_INVALID_HEADER_NAME:
	case GMIME_CRIT_CONFLICTING_HEADER:
	case GMIME_CRIT_CONFLICTING_PARAMETER:
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
	case GMIME_CRIT_NESTING_OVERFLOW:
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
		if (ps->crit == 0)
			ps->crit = code;
		break;
	default:
		break;
	}
}

/* An object's header fields: at most MAILACK_FIELD_MAX bytes each. */
static int
ma_check_fields(GMimeObject *o, struct tocsin_err *err)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;

	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *v = g_mime_header_get_raw_value(h);

		if (v != NULL && strlen(v) > MAILACK_FIELD_MAX)
			return tocsin_fail(err, TOCSIN_ETOOBIG, "a header field "
			    "is over %d bytes", MAILACK_FIELD_MAX);
	}
	return 0;
}

/* Count the entities under o (o at level depth) and check their fields;
   stops as soon as a limit is broken, so the walk itself is bounded. */
static int
ma_walk(GMimeObject *o, int depth, struct ma_parse *ps,
    struct tocsin_err *err)
{
	int rc;

	if (o == NULL)
		return 0;
	if (++ps->parts > MAILACK_PARTS_MAX || depth > MAILACK_DEPTH_MAX)
		return tocsin_fail(err, TOCSIN_EDATA, "the message has over %d "
		    "MIME parts or parts nested over %d deep",
		    MAILACK_PARTS_MAX, MAILACK_DEPTH_MAX);
	if ((rc = ma_check_fields(o, err)) != 0)
		return rc;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n; i++)
			if ((rc = ma_walk(g_mime_multipart_get_part(mp, i),
			    depth + 1, ps, err)) != 0)
				return rc;
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *inner = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(o));

		if (inner != NULL && ((rc = ma_check_fields(GMIME_OBJECT(inner),
		    err)) != 0 || (rc = ma_walk(g_mime_message_get_mime_part(
		    inner), depth + 1, ps, err)) != 0))
			return rc;
	}
	return 0;
}

/* After a parse: GMime's verdict, then the limits on what it built. */
static int
ma_judge(GMimeObject *top, GMimeObject *body, struct ma_parse *ps,
    struct tocsin_err *err)
{
	int rc;

	if (ps->crit != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "the message's MIME "
		    "structure is ambiguous or broken (GMime's warning %d); "
		    "other mail software may read it otherwise", (int)ps->crit);
	if (top != body && (rc = ma_check_fields(top, err)) != 0)
		return rc;
	return ma_walk(body, 1, ps, err);
}

/* Add filter to the filter stream f, which then holds the only
   reference (NULL, an unknown charset, adds nothing). */
static void
ma_filter(GMimeStream *f, GMimeFilter *filter)
{
	if (filter == NULL)
		return;
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), filter);
	g_object_unref(filter);
}

/* The bytes of a part's content with the transfer encoding undone and,
   when to_utf8, converted from its charset to UTF-8 (an unknown charset
   leaves the bytes as they are).  *ret malloc'd, NUL-terminated, owned by
   the caller; at most MAILACK_TEXT_MAX bytes, else refused. */
static int
ma_decode(GMimePart *part, bool to_utf8, char **ret, size_t *ret_len,
    struct tocsin_err *err)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *src = w != NULL ? g_mime_data_wrapper_get_stream(w) : NULL;
	GMimeContentEncoding enc = w != NULL ?
	    g_mime_data_wrapper_get_encoding(w) : GMIME_CONTENT_ENCODING_DEFAULT;
	const char *cs = g_mime_object_get_content_type_parameter(
	    GMIME_OBJECT(part), "charset");
	GMimeStream *f;
	char *out = malloc(MAILACK_TEXT_MAX + 1), chunk[4096];
	size_t n = 0;
	ssize_t r = 0;
	bool over = false;

	if (out == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if (src == NULL) {
		out[0] = '\0';
		*ret = out, *ret_len = 0;
		return 0;
	}
	g_mime_stream_reset(src);
	f = g_mime_stream_filter_new(src);
	if (enc != GMIME_CONTENT_ENCODING_DEFAULT)
		ma_filter(f, g_mime_filter_basic_new(enc, FALSE));
	if (to_utf8 && cs != NULL && g_ascii_strcasecmp(cs, "utf-8") != 0 &&
	    g_ascii_strcasecmp(cs, "us-ascii") != 0)
		ma_filter(f, g_mime_filter_charset_new(cs, "UTF-8"));
	while (!over && (r = g_mime_stream_read(f, chunk, sizeof(chunk))) > 0) {
		if ((size_t)r > MAILACK_TEXT_MAX - n)
			over = true;
		else {
			memcpy(out + n, chunk, (size_t)r);
			n += (size_t)r;
		}
	}
	g_object_unref(f);
	if (over || r < 0) {
		free(out);
		return tocsin_fail(err, over ? TOCSIN_ETOOBIG : TOCSIN_EDATA,
		    over ? "the text is over %d bytes once decoded" : "a part's "
		    "content cannot be decoded", MAILACK_TEXT_MAX);
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

/* The first part of the given subtype of text under o, not an
   attachment, looking into multiparts only (a forwarded message's text is
   not the reply's). */
static GMimePart *
ma_find_text(GMimeObject *o, const char *subtype)
{
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);

		for (int i = 0; i < n; i++) {
			GMimePart *p = ma_find_text(g_mime_multipart_get_part(mp,
			    i), subtype);

			if (p != NULL)
				return p;
		}
		return NULL;
	}
	if (GMIME_IS_PART(o) && !g_mime_part_is_attachment(GMIME_PART(o)) &&
	    g_mime_content_type_is_type(g_mime_object_get_content_type(o),
	    "text", subtype))
		return GMIME_PART(o);
	return NULL;
}

/* The text of the entity under o into m->text (and, when octets, the
   undecoded charset's bytes into m->octets); none is no error. */
static int
ma_text(GMimeObject *o, bool octets, struct mailack_msg *m,
    struct tocsin_err *err)
{
	GMimePart *p = ma_find_text(o, "plain");
	int rc;

	if (p == NULL && (p = ma_find_text(o, "html")) == NULL)
		return 0;
	if ((rc = ma_decode(p, true, &m->text, &m->text_len, err)) != 0)
		return rc;
	return octets ? ma_decode(p, false, &m->octets, &m->octets_len, err) :
	    0;
}

/*
 * The From addr-spec, lower case, into m->from.  A message without From
 * leaves it empty (it can then be no unsigned ack); a From that is not
 * exactly one mailbox, or whose decoded name or address holds a control
 * character (CR/LF from an encoded word), refuses the message.
 */
static int
ma_from(GMimeObject *msg, GMimeParserOptions *po, struct mailack_msg *m,
    struct tocsin_err *err)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(msg);
	InternetAddressList *l;
	InternetAddress *a;
	const char *raw = NULL, *addr, *name;
	int n = g_mime_header_list_get_count(hl), nfrom = 0;
	bool ok;

	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);

		if (g_ascii_strcasecmp(g_mime_header_get_name(h), "From") == 0 &&
		    nfrom++ == 0)
			raw = g_mime_header_get_raw_value(h);
	}
	if (raw == NULL)
		return 0;
	if (nfrom > 1 || (l = internet_address_list_parse(po, raw)) == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "the message has %s",
		    nfrom > 1 ? "more than one From header" : "a From header "
		    "that is no address");
	a = internet_address_list_length(l) == 1 ?
	    internet_address_list_get_address(l, 0) : NULL;
	ok = a != NULL && INTERNET_ADDRESS_IS_MAILBOX(a);
	addr = ok ? internet_address_mailbox_get_addr(
	    INTERNET_ADDRESS_MAILBOX(a)) : NULL;
	name = ok ? internet_address_get_name(a) : NULL;
	ok = ok && addr != NULL && strlen(addr) < sizeof(m->from) &&
	    strchr(addr, '@') != NULL && strpbrk(addr, " <>\"") == NULL;
	for (const char *q = addr; ok && *q != '\0'; q++)
		ok = (unsigned char)*q > 0x20 && *q != 0x7f;
	for (const char *q = name; ok && q != NULL && *q != '\0'; q++)
		ok = (unsigned char)*q >= 0x20 && *q != 0x7f;
	for (size_t i = 0; ok && addr[i] != '\0'; i++)
		m->from[i] = (char)tolower((unsigned char)addr[i]);
	g_object_unref(l);
	if (!ok) {
		m->from[0] = '\0';
		return tocsin_fail(err, TOCSIN_EDATA, "the From header is not "
		    "exactly one address, or carries control characters");
	}
	return 0;
}

/* In-Reply-To then References (the first of each), folding and control
   characters made spaces, into m->refs (cut at its size). */
static void
ma_refs(GMimeObject *msg, struct mailack_msg *m)
{
	static const char *const names[] = { "In-Reply-To", "References" };
	GMimeHeaderList *hl = g_mime_object_get_header_list(msg);
	size_t k = 0;

	for (size_t j = 0; j < 2; j++) {
		GMimeHeader *h = g_mime_header_list_get_header(hl, names[j]);
		const char *v = h != NULL ? g_mime_header_get_raw_value(h) : NULL;

		for (; v != NULL && *v != '\0' && k + 2 < sizeof(m->refs); v++)
			m->refs[k++] = (unsigned char)*v < 0x20 ? ' ' : *v;
		if (k + 1 < sizeof(m->refs))
			m->refs[k++] = ' ';
	}
	m->refs[k] = '\0';
}

/* Whether the line [p, eol) is "--b", then "--" when closing, then
   blanks (RFC 2046's delimiter with transport padding). */
static bool
ma_is_delim(const char *p, const char *eol, const char *b, size_t bl,
    bool closing)
{
	if (eol > p && eol[-1] == '\r')
		eol--;
	if ((size_t)(eol - p) < 2 + bl || p[0] != '-' || p[1] != '-' ||
	    memcmp(p + 2, b, bl) != 0)
		return false;
	p += 2 + bl;
	if (closing) {
		if (eol - p < 2 || p[0] != '-' || p[1] != '-')
			return false;
		p += 2;
	}
	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	return p == eol;
}

/*
 * The first body part of the multipart/signed whose body starts at raw +
 * off, cut at boundary b as the bytes came: after the first delimiter
 * line, up to the line break before the next (RFC 2046: that break
 * belongs to the delimiter).  Copied into m->signed_part.
 */
static int
ma_cut_signed(const char *raw, size_t len, size_t off, const char *b,
    struct mailack_msg *m, struct tocsin_err *err)
{
	const char *end = raw + len, *start = NULL, *stop = NULL;
	size_t bl = strlen(b);

	for (const char *p = raw + off; p < end && stop == NULL; ) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			eol = end;
		if (ma_is_delim(p, eol, b, bl, false) ||
		    (start != NULL && ma_is_delim(p, eol, b, bl, true))) {
			if (start == NULL)
				start = eol < end ? eol + 1 : end;
			else
				stop = p;
		}
		p = eol < end ? eol + 1 : end;
	}
	if (stop == NULL || stop <= start)
		return tocsin_fail(err, TOCSIN_EDATA, "the multipart/signed "
		    "message lacks its parts");
	if (stop > start && stop[-1] == '\n')
		stop--;
	if (stop > start && stop[-1] == '\r')
		stop--;
	m->signed_len = (size_t)(stop - start);
	if ((m->signed_part = malloc(m->signed_len + 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	memcpy(m->signed_part, start, m->signed_len);
	m->signed_part[m->signed_len] = '\0';
	return 0;
}

/* len bytes at p parsed by GMime with po, as a message (*ret_msg set) or
   as one entity; NULL when GMime finds none.  The caller unrefs both. */
static GMimeObject *
ma_gmime(const char *p, size_t len, GMimeParserOptions *po, bool message,
    GMimeMessage **ret_msg, gint64 *ret_body)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(p, len);
	GMimeParser *ps = g_mime_parser_new_with_stream(st);
	GMimeObject *o = NULL;

	g_object_unref(st);
	if (message) {
		*ret_msg = g_mime_parser_construct_message(ps, po);
		*ret_body = g_mime_parser_get_headers_end(ps);
		o = *ret_msg != NULL ? g_mime_message_get_mime_part(*ret_msg) :
		    NULL;
		if (o != NULL)
			g_object_ref(o);
	} else
		o = g_mime_parser_construct_part(ps, po);
	g_object_unref(ps);
	return o;
}

/*
 * RFC 3156: the signed entity as it came (m->signed_part), the signature
 * part's content (m->sig), and the text read from the signed bytes alone,
 * under the same limits.
 */
static int
ma_signed(const char *raw, size_t len, size_t body_off, GMimeObject *body,
    GMimeParserOptions *po, struct ma_parse *ps, struct mailack_msg *m,
    struct tocsin_err *err)
{
	GMimeMultipart *mp = GMIME_MULTIPART(body);
	const char *proto = g_mime_object_get_content_type_parameter(body,
	    "protocol"), *b = g_mime_multipart_get_boundary(mp);
	GMimeObject *sp = g_mime_multipart_get_count(mp) == 2 ?
	    g_mime_multipart_get_part(mp, 1) : NULL, *inner;
	int rc;

	if (b == NULL || strlen(b) > MA_BOUNDARY_MAX || proto == NULL ||
	    g_ascii_strcasecmp(proto, "application/pgp-signature") != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "a multipart/signed "
		    "message without a boundary of at most 70 characters or not "
		    "an OpenPGP signature");
	if (sp == NULL || !GMIME_IS_PART(sp) || !g_mime_content_type_is_type(
	    g_mime_object_get_content_type(sp), "application",
	    "pgp-signature"))
		return tocsin_fail(err, TOCSIN_EDATA, "the multipart/signed "
		    "message lacks its parts");
	if ((rc = ma_decode(GMIME_PART(sp), false, &m->sig, &m->sig_len,
	    err)) != 0 ||
	    (rc = ma_cut_signed(raw, len, body_off, b, m, err)) != 0)
		return rc;
	*ps = (struct ma_parse){ 0 };
	if ((inner = ma_gmime(m->signed_part, m->signed_len, po, false, NULL,
	    NULL)) == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "the signed part is no "
		    "MIME entity");
	if ((rc = ma_judge(inner, inner, ps, err)) == 0)
		rc = ma_text(inner, false, m, err);
	g_object_unref(inner);
	return rc;
}

/* The parsed message's parts into m (see mailack_parse). */
static int
ma_read(const char *raw, size_t len, GMimeMessage *msg, GMimeObject *body,
    gint64 body_off, GMimeParserOptions *po, struct ma_parse *ps,
    struct mailack_msg *m, struct tocsin_err *err)
{
	int rc;

	if (msg == NULL || body_off < 0)
		return tocsin_fail(err, TOCSIN_EDATA, "not an e-mail message: "
		    "no header fields, or no body after them");
	if ((rc = ma_judge(GMIME_OBJECT(msg), body, ps, err)) != 0 ||
	    (rc = ma_from(GMIME_OBJECT(msg), po, m, err)) != 0)
		return rc;
	ma_refs(GMIME_OBJECT(msg), m);
	if (body != NULL && g_mime_content_type_is_type(
	    g_mime_object_get_content_type(body), "multipart", "signed"))
		return ma_signed(raw, len, (size_t)body_off, body, po, ps, m,
		    err);
	return body != NULL ? ma_text(body, true, m, err) : 0;
}

int
mailack_parse(const char *raw, size_t len, struct mailack_msg *m,
    struct tocsin_err *err)
{
	struct ma_parse ps = { 0 };
	GMimeParserOptions *po;
	GMimeMessage *msg = NULL;
	GMimeObject *body;
	gint64 body_off = -1;
	int rc;

	memset(m, 0, sizeof(*m));
	if (len > MAILACK_MAX)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the message is over %d "
		    "bytes", MAILACK_MAX);
	if ((rc = ma_prescan(raw, len, err)) != 0)
		return rc;
	po = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(po, ma_warn, &ps);
	body = ma_gmime(raw, len, po, true, &msg, &body_off);
	rc = ma_read(raw, len, msg, body, body_off, po, &ps, m, err);
	if (body != NULL)
		g_object_unref(body);
	if (msg != NULL)
		g_object_unref(msg);
	g_mime_parser_options_free(po);
	if (rc != 0)
		mailack_msg_free(m);
	return rc;
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
