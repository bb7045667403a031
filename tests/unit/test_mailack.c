/*
 * test_mailack.c: reading an e-mail reply (mailack.c, GMime underneath)
 * with hostile and with honest input.
 *
 * Hostile: nesting past MAILACK_DEPTH_MAX (multiparts, and forwarded
 * messages that need no boundary), 10,000 parts and 100 parts,
 * a 2 MB header, one field over MAILACK_FIELD_MAX, 1,500 fields, an
 * encoded From that decodes to CR/LF, a From of two addresses or of a
 * group, two From fields, two Content-Types, a text that grows past
 * MAILACK_TEXT_MAX once in UTF-8: each refused, and nothing left to free.
 * Honest: a text in ISO-8859-1 comes out in UTF-8 (its own bytes kept for
 * an inline signature), a base64 text is decoded, text/plain is chosen
 * over text/html, a display name is no part of the address, and the
 * signed entity of multipart/signed is the bytes as they came, padding
 * after the boundary and all.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mailack.h"
#include "unit_util.h"

/* A growing message for the hostile cases. */
struct msg {
	char *p;
	size_t n;
};

static void
add(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	m->p = realloc(m->p, m->n + (size_t)k + 1);
	assert_non_null(m->p);
	va_start(ap, fmt);
	(void)vsnprintf(m->p + m->n, (size_t)k + 1, fmt, ap);
	va_end(ap);
	m->n += (size_t)k;
}

/* raw (len bytes, or up to its NUL when SIZE_MAX) must be refused with
   code, with a sentence containing words, and
   leave nothing to free. */
static void
refused(const char *raw, size_t len, int code, const char *words)
{
	struct mailack_msg m;
	struct tocsin_err e = { 0 };
	int rc;

	if (len == SIZE_MAX)
		len = strlen(raw);
	rc = mailack_parse(raw, len, &m, &e);
	if (rc != code || strstr(e.msg, words) == NULL)
		fail_msg("expected %d \"%s\", got %d \"%s\"", code, words, rc,
		    e.msg);
	assert_null(m.signed_part);
	assert_null(m.sig);
	assert_null(m.text);
	assert_null(m.octets);
}

static void
parsed(const char *raw, struct mailack_msg *m)
{
	struct tocsin_err e = { 0 };

	if (mailack_parse(raw, strlen(raw), m, &e) != 0)
		fail_msg("refused: %s", e.msg);
}

static void
test_deep(void **state)
{
	struct msg m = { 0 };
	struct mailack_msg ok;

	(void)state;
	/* at the limit: the body and five multiparts under it, then text */
	add(&m, "From: a@b.example\nContent-Type: multipart/mixed; "
	    "boundary=\"b0\"\n\n");
	for (int i = 1; i < MAILACK_DEPTH_MAX - 1; i++)
		add(&m, "--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\""
		    "\n\n", i - 1, i);
	add(&m, "--b%d\nContent-Type: text/plain\n\nACK 12345678\n",
	    MAILACK_DEPTH_MAX - 2);
	parsed(m.p, &ok);
	assert_non_null(ok.text);
	assert_non_null(strstr(ok.text, "ACK 12345678"));
	mailack_msg_free(&ok);
	free(m.p);
	/* one level more, and 500 more */
	for (int extra = 1; extra <= 500; extra += 499) {
		m = (struct msg){ 0 };
		add(&m, "From: a@b.example\nContent-Type: multipart/mixed; "
		    "boundary=\"b0\"\n\n");
		for (int i = 1; i < MAILACK_DEPTH_MAX - 1 + extra; i++)
			add(&m, "--b%d\nContent-Type: multipart/mixed; "
			    "boundary=\"b%d\"\n\n", i - 1, i);
		add(&m, "--b%d\nContent-Type: text/plain\n\nACK 12345678\n",
		    MAILACK_DEPTH_MAX - 2 + extra);
		refused(m.p, m.n, TOCSIN_EDATA, "nested over");
		free(m.p);
	}
}

/* Forwarded messages in forwarded messages: no boundary lines at all. */
static void
test_deep_messages(void **state)
{
	struct msg m;

	(void)state;
	for (int levels = 50; levels <= 1100; levels += 1050) {
		m = (struct msg){ 0 };
		add(&m, "From: a@b.example\n");
		for (int i = 0; i < levels; i++)
			add(&m, "Content-Type: message/rfc822\n\n");
		add(&m, "From: c@d.example\n\nACK 12345678\n");
		refused(m.p, m.n, levels < MAILACK_FIELDS_MAX ? TOCSIN_EDATA :
		    TOCSIN_ETOOBIG, levels < MAILACK_FIELDS_MAX ? "nested over" :
		    "header fields");
		free(m.p);
	}
}

static void
test_many_parts(void **state)
{
	struct msg m = { 0 };

	(void)state;
	add(&m, "From: a@b.example\nContent-Type: multipart/mixed; "
	    "boundary=\"b\"\n\n");
	for (int i = 0; i < 10000; i++)
		add(&m, "--b\nContent-Type: text/plain\n\nx\n");
	add(&m, "--b--\n");
	refused(m.p, m.n, TOCSIN_ETOOBIG, "MIME boundaries");
	free(m.p);
	/* under the bound on boundaries, over the one on parts */
	m = (struct msg){ 0 };
	add(&m, "From: a@b.example\nContent-Type: multipart/mixed; "
	    "boundary=\"b\"\n\n");
	for (int i = 0; i < 100; i++)
		add(&m, "--b\nContent-Type: text/plain\n\nx\n");
	add(&m, "--b--\n");
	refused(m.p, m.n, TOCSIN_EDATA, "over 64 MIME parts");
	free(m.p);
}

static void
test_big_headers(void **state)
{
	char *v = unit_rep("x", 2 * 1024 * 1024);
	struct msg m = { 0 };

	(void)state;
	add(&m, "From: a@b.example\nX-Big: %s\n\nACK 12345678\n", v);
	refused(m.p, m.n, TOCSIN_ETOOBIG, "over 1048576 bytes");
	free(m.p);
	/* under the message's size, over a field's */
	v[MAILACK_FIELD_MAX + 1] = '\0';
	m = (struct msg){ 0 };
	add(&m, "From: a@b.example\nX-Big: %s\n\nACK 12345678\n", v);
	refused(m.p, m.n, TOCSIN_ETOOBIG, "a header field is over");
	free(m.p);
	/* folded, in a part */
	m = (struct msg){ 0 };
	v[1000] = '\0';
	add(&m, "From: a@b.example\nContent-Type: multipart/mixed; "
	    "boundary=\"b\"\n\n--b\nContent-Type: text/plain\nX-Big: x");
	for (int i = 0; i < 40; i++)
		add(&m, "\n %s", v);
	add(&m, "\n\nACK 12345678\n--b--\n");
	refused(m.p, m.n, TOCSIN_ETOOBIG, "a header field is over");
	free(m.p);
	/* many fields */
	m = (struct msg){ 0 };
	add(&m, "From: a@b.example\n");
	for (int i = 0; i < 1500; i++)
		add(&m, "X-F%d: v\n", i);
	add(&m, "\nACK 12345678\n");
	refused(m.p, m.n, TOCSIN_ETOOBIG, "header fields");
	free(m.p);
	free(v);
}

static void
test_from_hostile(void **state)
{
	static const char *const froms[] = {
		/* an encoded word that decodes to CR/LF and a header */
		"=?utf-8?q?Eve=0D=0ABcc=3A_x=40y.example?= <eve@x.example>",
		"=?utf-8?b?RXZlDQpCY2M6IHhAeS5leGFtcGxl?= <eve@x.example>",
		"a@b.example, c@d.example",
		"Eve <a@b.example>, <c@d.example>",
		"team: a@b.example;",
		"not an address",
		"",
	};
	char buf[512];

	(void)state;
	for (size_t i = 0; i < sizeof(froms) / sizeof(froms[0]); i++) {
		int n = snprintf(buf, sizeof(buf), "From: %s\nSubject: ack\n\n"
		    "ACK 12345678\n", froms[i]);

		refused(buf, (size_t)n, TOCSIN_EDATA, "From");
	}
	/* two From fields, two Content-Types: other readers may differ */
	refused("From: a@b.example\nFrom: c@d.example\n\nACK 12345678\n", SIZE_MAX,
	    TOCSIN_EDATA, "ambiguous");
	refused("From: a@b.example\nContent-Type: text/plain\nContent-Type: "
	    "text/html\n\nACK 12345678\n", SIZE_MAX, TOCSIN_EDATA, "ambiguous");
}

static void
test_from_honest(void **state)
{
	struct mailack_msg m;

	(void)state;
	parsed("From: =?utf-8?q?J=C3=B6rg_=3CX=3E?= <Joerg@Example.ORG>\n"
	    "In-Reply-To: <tocsin.a1.ke.0@x>\n\nok\n", &m);
	assert_string_equal(m.from, "joerg@example.org");
	assert_non_null(strstr(m.refs, "<tocsin.a1.ke.0@x>"));
	mailack_msg_free(&m);
	parsed("Subject: no sender\n\nACK 12345678\n", &m);
	assert_string_equal(m.from, "");
	mailack_msg_free(&m);
}

static void
test_latin1(void **state)
{
	struct mailack_msg m;

	(void)state;
	parsed("From: a@b.example\nContent-Type: text/plain; "
	    "charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
	    "Gr\xfc\xdf" "e, ACK 1234 5678\n", &m);
	assert_string_equal(m.text, "Gr\xc3\xbc\xc3\x9f" "e, ACK 1234 5678\n");
	assert_int_equal(m.text_len, strlen(m.text));
	/* what an inline signature covers: the sender's own bytes */
	assert_string_equal(m.octets, "Gr\xfc\xdf" "e, ACK 1234 5678\n");
	mailack_msg_free(&m);
	/* quoted-printable Latin-1 */
	parsed("From: a@b.example\nContent-Type: text/plain; "
	    "charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable"
	    "\n\nGr=FC=DFe, ACK 1234=\n 5678\n", &m);
	assert_string_equal(m.text, "Gr\xc3\xbc\xc3\x9f" "e, ACK 1234 5678\n");
	assert_string_equal(m.octets, "Gr\xfc\xdf" "e, ACK 1234 5678\n");
	mailack_msg_free(&m);
}

static void
test_text_too_big_in_utf8(void **state)
{
	char *v = unit_rep("\xe9", 600 * 1024);	/* 1.2 MB in UTF-8 */
	struct msg m = { 0 };

	(void)state;
	add(&m, "From: a@b.example\nContent-Type: text/plain; charset="
	    "iso-8859-1\n\n%s\n", v);
	refused(m.p, m.n, TOCSIN_ETOOBIG, "once decoded");
	free(m.p);
	free(v);
}

static void
test_base64_and_alternative(void **state)
{
	struct mailack_msg m;

	(void)state;
	/* "On it. ACK 1234 5678\n" */
	parsed("From: a@b.example\nMIME-Version: 1.0\nContent-Type: "
	    "multipart/alternative; boundary=\"alt\"\n\n--alt\nContent-Type: "
	    "text/html\n\n<p>nothing here</p>\n--alt\nContent-Type: text/plain;"
	    " charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
	    "T24gaXQuIEFDSyAx\nMjM0IDU2NzgK\n--alt--\n", &m);
	assert_string_equal(m.text, "On it. ACK 1234 5678\n");
	assert_null(m.signed_part);
	mailack_msg_free(&m);
	/* an attachment's text is not the reply's */
	parsed("From: a@b.example\nContent-Type: multipart/mixed; boundary=b\n"
	    "\n--b\nContent-Type: text/plain\nContent-Disposition: attachment;"
	    " filename=x.txt\n\nACK 11111111\n--b\nContent-Type: text/plain\n\n"
	    "ACK 22222222\n--b--\n", &m);
	assert_string_equal(m.text, "ACK 22222222");
	mailack_msg_free(&m);
}

/* The signed entity is what came between the boundaries, byte for byte;
   its text is read from it alone. */
static void
test_signed_exact(void **state)
{
	static const char entity[] =
	    "Content-Type: multipart/mixed; boundary=\"in\"\r\n"
	    "X-Odd :  spaced  \r\n"
	    "\r\n"
	    "prologue\r\n"
	    "--in \t\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "QWxlcnQgc2Vlbi4K\r\n"
	    "--in--\r\n"
	    "epilogue\r\n";
	struct msg raw = { 0 };
	struct mailack_msg m;

	(void)state;
	for (int lf = 0; lf < 2; lf++) {
		raw = (struct msg){ 0 };
		add(&raw, "From: a@b.example\r\nContent-Type: multipart/signed; "
		    "micalg=pgp-sha256;\r\n protocol=\"application/pgp-signature\";"
		    " boundary=\"out\"\r\n\r\nThis is OpenPGP/MIME.\r\n--out  "
		    "\r\n%s\r\n--out\r\nContent-Type: application/pgp-signature"
		    "\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\nAAAA\r\n-----END PGP "
		    "SIGNATURE-----\r\n\r\n--out--\r\n", entity);
		if (lf) {	/* as an MTA pipe may hand it over */
			size_t k = 0;

			for (size_t i = 0; i < raw.n; i++)
				if (raw.p[i] != '\r')
					raw.p[k++] = raw.p[i];
			raw.p[k] = '\0';
		}
		parsed(raw.p, &m);
		assert_non_null(m.signed_part);
		if (lf) {
			assert_non_null(strstr(raw.p, m.signed_part));
			assert_int_equal(m.signed_len, sizeof(entity) - 1 - 11);
		} else {
			assert_int_equal(m.signed_len, sizeof(entity) - 1);
			assert_memory_equal(m.signed_part, entity,
			    sizeof(entity) - 1);
		}
		assert_non_null(m.sig);
		assert_non_null(strstr(m.sig, "BEGIN PGP SIGNATURE"));
		assert_string_equal(m.text, "Alert seen.\n");
		assert_null(m.octets);
		mailack_msg_free(&m);
		free(raw.p);
	}
}

static void
test_signed_hostile(void **state)
{
	static const char garbage[] = "\x00\x01garbage without headers";

	(void)state;
	/* no second boundary: no signed entity */
	refused("From: a@b.example\nContent-Type: multipart/signed; protocol="
	    "\"application/pgp-signature\"; boundary=\"s\"\n\n--s\n"
	    "Content-Type: text/plain\n\nACK 12345678\n", SIZE_MAX, TOCSIN_EDATA,
	    "lacks its parts");
	/* S/MIME: no OpenPGP signature */
	refused("From: a@b.example\nContent-Type: multipart/signed; protocol="
	    "\"application/pkcs7-signature\"; boundary=\"s\"\n\n--s\n\nx\n--s\n"
	    "Content-Type: application/pkcs7-signature\n\nx\n--s--\n", SIZE_MAX,
	    TOCSIN_EDATA, "not an OpenPGP signature");
	/* three parts */
	refused("From: a@b.example\nContent-Type: multipart/signed; protocol="
	    "\"application/pgp-signature\"; boundary=\"s\"\n\n--s\n\nx\n--s\n"
	    "Content-Type: application/pgp-signature\n\nx\n--s\n\ny\n--s--\n",
	    SIZE_MAX, TOCSIN_EDATA, "lacks its parts");
	/* not mail */
	refused(garbage, sizeof(garbage) - 1, TOCSIN_EDATA,
	    "not an e-mail message");
	refused("From: a@b.example\nSubject: no body", SIZE_MAX, TOCSIN_EDATA,
	    "not an e-mail message");
}

static int
setup(void **state)
{
	(void)state;
	mailack_init();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mailack_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deep),
		cmocka_unit_test(test_deep_messages),
		cmocka_unit_test(test_many_parts),
		cmocka_unit_test(test_big_headers),
		cmocka_unit_test(test_from_hostile),
		cmocka_unit_test(test_from_honest),
		cmocka_unit_test(test_latin1),
		cmocka_unit_test(test_text_too_big_in_utf8),
		cmocka_unit_test(test_base64_and_alternative),
		cmocka_unit_test(test_signed_exact),
		cmocka_unit_test(test_signed_hostile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
