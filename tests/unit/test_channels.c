/*
 * test_channels.c: the MIME building blocks and the channel registry.
 *
 * MIME: base64 round trips (checked with OpenSSL's own decoder) with lines
 * of exactly 76 characters, line ends made CRLF whatever came in, fresh
 * boundaries, a locale-free RFC 5322 date, the header check, and buffer
 * growth.  Registry: pgp-email is found and listed, channels not built in
 * are not.  pgp-email driver: its configuration check, and deliveries to
 * addresses that must never reach an SMTP envelope or header, which fail
 * for good without any connection (a listening socket of the test's own
 * shows that nothing connected).  No GnuPG home is needed: the address
 * and key checks both run before any OpenPGP work.  Batch helpers: a
 * message's report, the batch's deadline, untried marks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "base.h"
#include "channel.h"
#include "form.h"
#include "jsonget.h"
#include "mime.h"
#include "policy.h"
#include "unit_util.h"

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define FPR_C "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"

/* A small valid configuration (as in test_policy.c); the contact has an
   e-mail address and a key, the policy itself only sends sms. */
#define GW "gateway = { store = \"s.db\"; gnupg_home = \"g\"; " \
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\"; };\n"
#define ISS "issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; " \
	"may_address = [ \"all\" ]; } );\n"
#define POL "policies = { p = { steps = ( { after = \"0s\"; " \
	"notify = [ \"primary:sms\" ]; } ); }; };\n"
#define CONTACT(extra) "{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; mobile = \"+254700555101\"; " extra " }"
#define TEAMS(extra) "teams = ( { id = \"ke\"; domain = \"x\"; " \
	"cctld_operator = \"o\"; region = \"AF\"; policy = \"p\"; " \
	"contacts = ( " CONTACT(extra) " ); } );\n"
#define EMAIL "email = \"n@x.example\"; pgp = \"" FPR_C "\";"

/* ---- helpers ---- */

/* A fixed pseudo-random sequence, so that a failure can be replayed. */
static uint32_t
prng(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Whether every CR in p[0..n) is followed by LF and every LF preceded by
   CR. */
static bool
only_crlf(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

/* ---- mime_add_base64 ---- */

/* Check b (from offset off) as the base64 of data[0..len) in 76-character
   CRLF lines. */
static void
check_base64(const struct mime_buf *b, size_t off, const unsigned char *data,
    size_t len)
{
	size_t enc = (len + 2) / 3 * 4;
	size_t lines = (enc + 75) / 76;
	const char *p = b->p + off, *end = b->p + b->len;
	char *joined;
	unsigned char *dec;
	size_t jn = 0, nl = 0;
	int dn;

	assert_false(b->oom);
	assert_int_equal(b->len - off, enc + 2 * lines);
	if (len == 0)
		return;
	assert_int_equal(b->p[b->len], '\0');
	assert_true(only_crlf(p, (size_t)(end - p)));
	joined = malloc(enc + 1);
	dec = malloc(enc + 1);
	assert_non_null(joined);
	assert_non_null(dec);
	while (p < end) {
		const char *crlf = strstr(p, "\r\n");
		size_t ll;

		assert_non_null(crlf);
		ll = (size_t)(crlf - p);
		nl++;
		if (crlf + 2 < end)
			assert_int_equal(ll, 76);
		else
			assert_true(ll > 0 && ll <= 76);
		for (size_t i = 0; i < ll; i++)
			assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789+/=", p[i]));
		memcpy(joined + jn, p, ll);
		jn += ll;
		p = crlf + 2;
	}
	assert_int_equal(nl, lines);
	assert_int_equal(jn, enc);
	joined[jn] = '\0';
	/* EVP_DecodeBlock counts padding as zero bytes: a whole number of
	   groups of three. */
	dn = EVP_DecodeBlock(dec, (const unsigned char *)joined, (int)jn);
	assert_int_equal(dn, (int)enc / 4 * 3);
	assert_memory_equal(dec, data, len);
	free(joined);
	free(dec);
}

static void
test_base64_round_trip(void **state)
{
	unsigned char data[300] = { 0 };
	uint32_t seed = 0x7c3a91u;

	(void)state;
	for (size_t len = 0; len <= sizeof(data); len++) {
		struct mime_buf b = { 0 };

		for (size_t i = 0; i < len; i++)
			data[i] = (unsigned char)prng(&seed);
		mime_add_base64(&b, data, len);
		check_base64(&b, 0, data, len);
		if (len == 0)
			assert_true(b.p == NULL || b.p[0] == '\0');
		mime_buf_free(&b);
	}
}

static void
test_base64_edges(void **state)
{
	static const unsigned char ff[3] = { 0xff, 0xff, 0xff };
	struct mime_buf b = { 0 };
	unsigned char *big;
	size_t bigl = 100003;
	uint32_t seed = 99;

	(void)state;
	/* Known encodings (RFC 4648 section 10), padding included. */
	mime_add_base64(&b, "f", 1);
	assert_string_equal(b.p, "Zg==\r\n");
	mime_buf_free(&b);
	mime_add_base64(&b, "fo", 2);
	assert_string_equal(b.p, "Zm8=\r\n");
	mime_buf_free(&b);
	mime_add_base64(&b, "foobar", 6);
	assert_string_equal(b.p, "Zm9vYmFy\r\n");
	mime_buf_free(&b);
	mime_add_base64(&b, ff, 3);
	assert_string_equal(b.p, "////\r\n");
	mime_buf_free(&b);
	/* 57 bytes make exactly one full line, with one CRLF. */
	{
		unsigned char d57[57];

		memset(d57, 0, sizeof(d57));
		mime_add_base64(&b, d57, sizeof(d57));
		assert_int_equal(b.len, 78);
		assert_memory_equal(b.p + 76, "\r\n\0", 3);
		mime_buf_free(&b);
	}
	/* After text already in the buffer: the text is kept and the
	   encoding follows it; then a large one. */
	mime_adds(&b, "Header: x\r\n\r\n");
	big = malloc(bigl);
	assert_non_null(big);
	for (size_t i = 0; i < bigl; i++)
		big[i] = (unsigned char)prng(&seed);
	mime_add_base64(&b, big, 300);
	check_base64(&b, 13, big, 300);
	assert_memory_equal(b.p, "Header: x\r\n\r\n", 13);
	mime_buf_free(&b);
	mime_add_base64(&b, big, bigl);
	check_base64(&b, 0, big, bigl);
	mime_buf_free(&b);
	free(big);
}

/* ---- mime_add_crlf ---- */

static void
test_crlf_cases(void **state)
{
	static const struct {
		const char *in;
		size_t inlen;
		const char *out;
		size_t outlen;
	} cases[] = {
#define C(i, o) { i, sizeof(i) - 1, o, sizeof(o) - 1 }
		C("", ""),
		C("abc", "abc"),
		C("a\nb", "a\r\nb"),
		C("a\r\nb", "a\r\nb"),
		C("a\rb", "a\r\nb"),
		C("a\n", "a\r\n"),
		C("a\r\n", "a\r\n"),
		C("a\r", "a\r\n"),
		C("\n", "\r\n"),
		C("\r", "\r\n"),
		C("\n\n", "\r\n\r\n"),
		C("\r\r", "\r\n\r\n"),
		C("\n\r", "\r\n\r\n"),
		C("\r\r\n\n", "\r\n\r\n\r\n"),
		C("a\n\r\nb\rc\r\n\nd", "a\r\n\r\nb\r\nc\r\n\r\nd"),
		C("x\r\n\r\n", "x\r\n\r\n"),
		C("a\0b\nc", "a\0b\r\nc"),
#undef C
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mime_buf b = { 0 };

		mime_add_crlf(&b, cases[i].in, cases[i].inlen);
		assert_false(b.oom);
		if (b.len != cases[i].outlen || (b.len > 0 &&
		    memcmp(b.p, cases[i].out, b.len) != 0))
			fail_msg("case %zu: got %zu bytes, want %zu", i, b.len,
			    cases[i].outlen);
		assert_true(only_crlf(b.p, b.len));
		mime_buf_free(&b);
	}
}

/* Random text of 'a', CR and LF: the line ends are all CRLF, there are
   as many as the input had (CRLF, lone CR, lone LF each count once), and
   the text between them is unchanged. */
static void
test_crlf_random(void **state)
{
	uint32_t seed = 12345;
	char in[200], strip_in[200], strip_out[600];

	(void)state;
	for (int round = 0; round < 2000; round++) {
		struct mime_buf b = { 0 };
		size_t n = prng(&seed) % sizeof(in), ends = 0, si = 0, so = 0;
		size_t outends = 0;

		for (size_t i = 0; i < n; i++)
			in[i] = "a\r\n"[prng(&seed) % 3];
		for (size_t i = 0; i < n; i++) {
			if (in[i] == '\n' && i > 0 && in[i - 1] == '\r')
				continue;
			if (in[i] == '\r' || in[i] == '\n')
				ends++;
			else
				strip_in[si++] = in[i];
		}
		mime_add_crlf(&b, in, n);
		assert_false(b.oom);
		assert_true(only_crlf(b.p, b.len));
		for (size_t i = 0; i < b.len; i++) {
			if (b.p[i] == '\r')
				outends++;
			else if (b.p[i] != '\n')
				strip_out[so++] = b.p[i];
		}
		assert_int_equal(outends, ends);
		assert_int_equal(so, si);
		assert_memory_equal(strip_out, strip_in, si);
		assert_int_equal(b.len, si + 2 * ends);
		mime_buf_free(&b);
	}
}

/* ---- boundaries, dates, headers ---- */

static void
test_boundary(void **state)
{
	char seen[64][40];
	struct tocsin_err e = { 0 };

	(void)state;
	for (size_t i = 0; i < 64; i++) {
		memset(seen[i], 'X', sizeof(seen[i]));
		assert_int_equal(mime_boundary(seen[i], &e), 0);
		assert_int_equal(strlen(seen[i]), 33);
		assert_memory_equal(seen[i], "=_tocsin_", 9);
		for (size_t k = 9; k < 33; k++)
			assert_non_null(strchr("0123456789abcdef", seen[i][k]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
}

static void
test_date(void **state)
{
	static const char *const locales[] = { "de_DE.UTF-8", "fr_FR.UTF-8",
		"tr_TR.UTF-8", "ja_JP.UTF-8", "C.UTF-8", "C.utf8" };
	char out[40];
	const char *set = NULL;

	(void)state;
	mime_date(1795791066, out);
	assert_string_equal(out, "Fri, 27 Nov 2026 14:51:06 +0000");
	mime_date(0, out);
	assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 +0000");
	mime_date(-1, out);
	assert_string_equal(out, "Wed, 31 Dec 1969 23:59:59 +0000");
	mime_date(1835481599, out);
	assert_string_equal(out, "Tue, 29 Feb 2028 23:59:59 +0000");
	/* Day and month names never follow the locale. */
	for (size_t i = 0; i < sizeof(locales) / sizeof(locales[0]) &&
	    set == NULL; i++)
		set = setlocale(LC_TIME, locales[i]);
	if (set == NULL)
		set = setlocale(LC_TIME, "C");
	assert_non_null(set);
	mime_date(1795791066, out);
	assert_string_equal(out, "Fri, 27 Nov 2026 14:51:06 +0000");
	(void)setlocale(LC_TIME, "C");
}

static void
test_header_safe(void **state)
{
	char longs[300];

	(void)state;
	assert_true(mime_header_safe("ann@example.net", 254));
	assert_true(mime_header_safe("Alert: Extreme - \"ke\" [x] ~!", 200));
	assert_true(mime_header_safe("", 10));
	assert_false(mime_header_safe(NULL, 10));
	assert_false(mime_header_safe("a@b\r\nBcc: c@d", 254));
	assert_false(mime_header_safe("a\rb", 254));
	assert_false(mime_header_safe("a\nb", 254));
	assert_false(mime_header_safe("a\tb", 254));
	assert_false(mime_header_safe("a\x7f", 254));
	assert_false(mime_header_safe("a\x1b[0m", 254));
	assert_false(mime_header_safe("caf\xc3\xa9", 254));
	assert_false(mime_header_safe("\x80", 254));
	assert_false(mime_header_safe("\xff", 254));
	/* A C string ends at its NUL: what follows is not part of it. */
	assert_true(mime_header_safe("ab\0\r\nBcc: x", 254));
	/* At most max bytes. */
	memset(longs, 'a', sizeof(longs));
	longs[254] = '\0';
	assert_true(mime_header_safe(longs, 254));
	assert_false(mime_header_safe(longs, 253));
	longs[254] = 'a';
	longs[255] = '\0';
	assert_false(mime_header_safe(longs, 254));
	assert_true(mime_header_safe("abc", 3));
	assert_false(mime_header_safe("abcd", 3));
	assert_false(mime_header_safe("a", 0));
}

/* ---- buffers ---- */

static void
test_buf_growth(void **state)
{
	struct mime_buf b = { 0 };
	char want[16];

	(void)state;
	for (int i = 0; i < 100000; i++)
		mime_addf(&b, "%05d,", i);
	assert_false(b.oom);
	assert_int_equal(b.len, 600000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.p[b.len], '\0');
	assert_int_equal(strlen(b.p), b.len);
	for (int i = 0; i < 100000; i++) {
		(void)snprintf(want, sizeof(want), "%05d,", i);
		if (memcmp(b.p + (size_t)i * 6, want, 6) != 0)
			fail_msg("append %d is wrong", i);
	}
	mime_buf_free(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_false(b.oom);
	/* Usable again after being freed; binary data keeps its NULs. */
	mime_add(&b, "a\0b", 3);
	mime_adds(&b, "cd");
	mime_addf(&b, "%s=%d", "n", 7);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.p, "a\0bcdn=7", 9);
	mime_buf_free(&b);
	mime_buf_free(&b);
	assert_null(b.p);
}

/* ---- registry ---- */

static void
test_registry(void **state)
{
	const struct chan_ops *const *all = chan_all();
	const struct chan_ops *pe = chan_find("pgp-email");
	bool listed = false;
	size_t n = 0;

	(void)state;
	assert_ptr_equal(pe, &chan_pgp_email);
	assert_true(pe->per_team);
	assert_string_equal(pe->kind.name, "pgp-email");
	assert_int_equal(pe->kind.field, POLICY_FIELD_EMAIL);
	assert_false(pe->kind.emergency);
	assert_ptr_equal(chan_of(&pe->kind), pe);
	assert_non_null(pe->check);
	assert_non_null(pe->open);
	assert_non_null(pe->deliver);
	assert_non_null(pe->close);
	assert_non_null(pe->batch);
	assert_ptr_equal(chan_find("sms"), &chan_sms);
	assert_false(chan_sms.per_team);
	assert_ptr_equal(chan_find("voice"), &chan_voice);
	assert_non_null(chan_sms.init);
	assert_non_null(chan_sms.fini);
	assert_ptr_equal(chan_find("fax"), &chan_fax);
	assert_int_equal(chan_fax.kind.field, POLICY_FIELD_FAX);
	assert_false(chan_fax.per_team);
	assert_true(chan_fax.needs_doc);
	assert_ptr_equal(chan_find("sshdrop"), &chan_sshdrop);
	assert_true(chan_sshdrop.per_team);
	assert_int_equal(chan_sshdrop.kind.field, POLICY_FIELD_TEAM);
	assert_true(chan_sms.kind.emergency && chan_voice.kind.emergency);
	assert_true(chan_voice.check_emergency && !chan_sms.check_emergency);
	/* what the report, the notices and the check of contacts read */
	assert_ptr_equal(chan_of_ack_via("mail"), &chan_pgp_email);
	assert_ptr_equal(chan_of_ack_via("drop"), &chan_sshdrop);
	assert_null(chan_of_ack_via("link"));
	assert_null(chan_of_ack_via(NULL));
	assert_ptr_equal(chan_team_channel(), &chan_sshdrop);
	chan_kinds_publish();
	assert_string_equal(chan_notice_names()[0], "pgp-email");
	assert_string_equal(chan_notice_names()[1], "sms");
	assert_null(chan_notice_names()[2]);
	assert_null(chan_find(""));
	assert_null(chan_find("PGP-EMAIL"));
	assert_null(chan_find("pgp-email "));
	assert_non_null(all);
	for (; all[n] != NULL && n < 64; n++) {
		assert_ptr_equal(chan_find(all[n]->kind.name), all[n]);
		assert_int_equal(chan_index(all[n]), n);
		/* what the drill and the check of contacts read */
		assert_true(all[n]->drill_latency > 0);
		assert_non_null(all[n]->drill_via);
		if (all[n] == &chan_pgp_email)
			listed = true;
	}
	assert_null(all[n]);
	assert_true(n >= 1);
	assert_true(listed);
}

/* ---- the pgp-email driver ---- */

static void
test_pe_check(void **state)
{
	struct policy_repo *r;
	struct policy_diag d;

	(void)state;
	/* e-mail contacts without an SMTP provider: one error. */
	r = unit_load_repo(GW ISS POL TEAMS(EMAIL));
	assert_null(r->smtp);
	policy_diag_init(&d);
	assert_int_equal(chan_pgp_email.check(r, &d), 1);
	assert_int_equal(d.errors, 1);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.items[0].sev, POLICY_ERROR);
	assert_non_null(strstr(d.items[0].text, "providers.smtp"));
	policy_diag_free(&d);
	/* Without a provider: a default session size, within the range
	   that providers.smtp.batch allows (1 .. 1000). */
	assert_true(chan_pgp_email.batch(r) >= 1);
	assert_true(chan_pgp_email.batch(r) <= 1000);
	policy_free(r);

	/* With one: nothing to report. */
	r = unit_load_repo(GW ISS POL TEAMS(EMAIL) "providers = { smtp = { "
	    "host = \"127.0.0.1\"; from = \"t@example.net\"; batch = 7; }; "
	    "};\n");
	assert_non_null(r->smtp);
	policy_diag_init(&d);
	assert_int_equal(chan_pgp_email.check(r, &d), 0);
	assert_int_equal(d.n, 0);
	policy_diag_free(&d);
	assert_int_equal(chan_pgp_email.batch(r), 7);
	policy_free(r);

	/* No e-mail anywhere, no provider: nothing to report either. */
	r = unit_load_repo(GW ISS POL TEAMS(""));
	policy_diag_init(&d);
	assert_int_equal(chan_pgp_email.check(r, &d), 0);
	assert_int_equal(d.n, 0);
	policy_diag_free(&d);
	policy_free(r);
}

/* A phone claim: 20 s at the providers' summed rates, at most twice what
   they take in flight (so that other workers and nodes get a share of a
   broadcast), 1 .. 200 groups. */
static void
test_phone_batch(void **state)
{
	struct policy_provider p[2];
	struct policy_repo r;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(p, 0, sizeof(p));
	r.sms = p;
	r.voice = p;
	p[0].rate = 5000;
	p[0].parallel = 16;
	r.nsms = r.nvoice = 1;
	assert_int_equal(chan_sms.batch(&r), 32);
	assert_int_equal(chan_voice.batch(&r), 32);
	p[1].rate = 5000;
	p[1].parallel = 256;
	r.nsms = 2;
	assert_int_equal(chan_sms.batch(&r), 200);
	p[0].rate = 1;			/* 20 s at one a second */
	r.nsms = 1;
	assert_int_equal(chan_sms.batch(&r), 20);
	p[0].parallel = 4;
	assert_int_equal(chan_sms.batch(&r), 8);
	r.nsms = 0;
	assert_int_equal(chan_sms.batch(&r), 1);
}

static void
test_pe_open_needs_smtp(void **state)
{
	struct policy_repo *r = unit_load_repo(GW ISS POL TEAMS(""));
	struct chan_env env = { .repo = r, .now = 1795791066 };
	struct tocsin_err e = { 0 };
	void *sess = (void *)1;

	(void)state;
	assert_int_equal(chan_pgp_email.open(&env, &sess, &e), TOCSIN_ECONFIG);
	assert_null(sess);
	assert_non_null(strstr(e.msg, "providers.smtp"));
	chan_pgp_email.close(NULL);
	policy_free(r);
}

/* A non-blocking listening socket on 127.0.0.1; its port goes into
   *ret_port. */
static int
listener(int *ret_port)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

/* Whether a connection is waiting to be accepted on fd (a completed
   connect() is queued by the kernel before connect() returns, so no
   waiting is needed). */
static bool
connected(int fd)
{
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	if (c >= 0) {
		close(c);
		return true;
	}
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	return false;
}

static void
test_pe_bad_addresses(void **state)
{
	static const char *const bad[] = { "a@b\r\nBcc: c@d", "x y@z",
		"no-at.example", "a@b,c@d", "<a@b>", "a@b\n", "caf\xc3\xa9@x",
		"\"q\"@x", "" };
	enum { NBAD = sizeof(bad) / sizeof(bad[0]) };
	struct chan_rcpt r1[NBAD + 1], r2[1];
	struct chan_msg m[2];
	struct policy_repo *r;
	struct chan_env env = { .now = 1795791066 };
	struct tocsin_err e = { 0 };
	char text[2048];
	void *sess = NULL;
	int lfd, port;

	(void)state;
	/* The relay is a socket of ours that nobody may connect to; a
	   control connection shows that a connect would be seen. */
	lfd = listener(&port);
	(void)snprintf(text, sizeof(text), GW ISS POL TEAMS(EMAIL)
	    "providers = { smtp = { host = \"127.0.0.1\"; port = %d; "
	    "from = \"t@example.net\"; timeout = 5; }; };\n", port);
	r = unit_load_repo(text);
	assert_int_equal(r->smtp->port, port);
	{
		struct sockaddr_in sa = { 0 };
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_true(c >= 0);
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(c, (struct sockaddr *)&sa,
		    sizeof(sa)), 0);
		assert_true(connected(lfd));
		close(c);
	}
	assert_false(connected(lfd));

	/* No OpenPGP context and no key list: a bad address must be refused
	   before its key is looked up (which would need the list), and a
	   contact without a key before any lookup.  Nothing is encrypted. */
	env.repo = r;
	env.certs = NULL;
	env.keys = NULL;
	assert_int_equal(chan_pgp_email.open(&env, &sess, &e), 0);
	assert_non_null(sess);
	memset(r1, 0, sizeof(r1));
	memset(r2, 0, sizeof(r2));
	for (size_t i = 0; i < NBAD; i++) {
		r1[i].address = bad[i];
		r1[i].key = FPR_C;
		r1[i].status = CHAN_SENT;
		(void)snprintf(r1[i].ref, sizeof(r1[i].ref), "stale");
	}
	/* A plain address without a key: refused by the key check. */
	r1[NBAD].address = "ok@x.example";
	r1[NBAD].key = NULL;
	r2[0].address = "a@b\r\n.\r\nMAIL FROM:<x@y>";
	r2[0].key = FPR_C;
	memset(m, 0, sizeof(m));
	for (size_t i = 0; i < 2; i++) {
		m[i].message_id = "<A-1.ke.0@x.example>";
		m[i].subject = "Alert";
		m[i].body = "text\n";
		m[i].body_len = 5;
	}
	m[0].rcpts = r1;
	m[0].nrcpts = NBAD + 1;
	m[1].rcpts = r2;
	m[1].nrcpts = 1;

	assert_int_equal(chan_pgp_email.deliver(sess, m, 2, &e), 0);
	for (size_t i = 0; i < NBAD; i++) {
		if (r1[i].status != CHAN_PERMFAIL || strstr(r1[i].reason,
		    "not a plain e-mail address") == NULL)
			fail_msg("address %zu: status %d, reason '%s'", i,
			    (int)r1[i].status, r1[i].reason);
		assert_string_equal(r1[i].ref, "");
	}
	assert_int_equal(r1[NBAD].status, CHAN_PERMFAIL);
	assert_non_null(strstr(r1[NBAD].reason, "cannot encrypt"));
	assert_int_equal(r2[0].status, CHAN_PERMFAIL);
	assert_non_null(strstr(r2[0].reason, "not a plain e-mail address"));
	assert_false(connected(lfd));
	chan_pgp_email.close(sess);
	close(lfd);
	policy_free(r);
}


/* --- jsonget ------------------------------------------------------------ */

static int
jg(const char *doc, const char *key, char *out, size_t outlen)
{
	return jsonget(doc, strlen(doc), key, out, outlen);
}

static void
test_jsonget_members(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(jg("{\"sid\":\"SM12\",\"code\":21211}", "sid",
	    out, sizeof(out)), 1);
	assert_string_equal(out, "SM12");
	assert_int_equal(jg("{\"sid\":\"SM12\",\"code\":21211}", "code",
	    out, sizeof(out)), 1);
	assert_string_equal(out, "21211");
	assert_int_equal(jg(" { \"a\" : [1, {\"sid\": \"inner\"}], \"b\""
	    ": true } ", "sid", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(jg("{\"b\":true,\"n\":null,\"x\":-1.5e+3}", "x",
	    out, sizeof(out)), 1);
	assert_string_equal(out, "-1.5e+3");
	/* escapes, including a surrogate pair */
	assert_int_equal(jg("{\"m\":\"a\\\"b\\u00e9\\ud83d\\ude00\\n\"}",
	    "m", out, sizeof(out)), 1);
	assert_string_equal(out, "a\"b\xc3\xa9\xf0\x9f\x98\x80\n");
	/* the first of duplicated members wins */
	assert_int_equal(jg("{\"k\":\"1\",\"k\":\"2\"}", "k", out,
	    sizeof(out)), 1);
	assert_string_equal(out, "1");
	assert_int_equal(jg("{}", "k", out, sizeof(out)), 0);
}

static void
test_jsonget_refuses(void **state)
{
	static const char *const bad[] = { "", "[]", "\"s\"", "{", "{\"a\"}",
		"{\"a\":}", "{\"a\":1,}", "{\"a\":01x}", "{\"a\":tru}",
		"{\"a\":\"\\ud800\"}", "{\"a\":\"\\x\"}", "{\"a\":1} x",
		"{\"a\":\"\x01\"}", "{\"a\":[1,2}", NULL };
	char out[8], deep[200];

	(void)state;
	for (size_t i = 0; bad[i] != NULL; i++) {
		memcpy(out, "junk", 5);
		assert_int_equal(jg(bad[i], "a", out, sizeof(out)), -1);
		assert_string_equal(out, "");
	}
	/* a value that does not fit is refused, never cut */
	assert_int_equal(jg("{\"a\":\"0123456789\"}", "a", out, sizeof(out)),
	    -1);
	/* nesting is bounded */
	memset(deep, '[', sizeof(deep));
	memcpy(deep, "{\"a\":", 5);
	deep[sizeof(deep) - 1] = '\0';
	assert_int_equal(jg(deep, "a", out, sizeof(out)), -1);
}


/* --- form --------------------------------------------------------------- */

static void
test_form_parse(void **state)
{
	static struct form f;
	const char *b = "MessageSid=SM1&MessageStatus=delivered&To=%2B254+20"
	    "&&Empty=&Flag";

	(void)state;
	assert_int_equal(form_parse(b, strlen(b), &f), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(form_get(&f, "To"), "+254 20");
	assert_string_equal(form_get(&f, "Empty"), "");
	assert_string_equal(form_get(&f, "Flag"), "");
	assert_null(form_get(&f, "Nothing"));
	/* bad escapes, NUL, over-long names and too many fields */
	assert_int_equal(form_parse("a=%4", 4, &f), -1);
	assert_int_equal(form_parse("a=%zz", 5, &f), -1);
	assert_int_equal(form_parse("a=%00", 5, &f), -1);
	{
		char big[FORM_MAX_NAME + 8];

		memset(big, 'n', sizeof(big));
		big[sizeof(big) - 2] = '=';
		big[sizeof(big) - 1] = 'v';
		assert_int_equal(form_parse(big, sizeof(big), &f), -1);
	}
	{
		char many[FORM_MAX_FIELDS * 4 + 8];
		size_t n = 0;

		for (int i = 0; i <= FORM_MAX_FIELDS; i++)
			n += (size_t)snprintf(many + n, sizeof(many) - n,
			    "a=1&");
		assert_int_equal(form_parse(many, n, &f), -1);
	}
	assert_int_equal(form_parse("", 0, &f), 0);
	assert_int_equal(f.n, 0);
}

/* ---- the batch a message belongs to ---- */

struct batch_seen {
	int reported, started, idled;
	struct chan_msg *last;
};

static void
seen_report(void *ctx, struct chan_msg *m)
{
	struct batch_seen *b = ctx;

	b->reported++;
	b->last = m;
}

static void
seen_start(void *ctx)
{
	((struct batch_seen *)ctx)->started++;
}

static void
seen_idle(void *ctx)
{
	((struct batch_seen *)ctx)->idled++;
}

/* A driver tells each message as it completes, asks whether the batch's
   time ran out, and marks what it never began untried; outside a
   dispatcher (no batch) all of it is harmless. */
static void
test_batch_helpers(void **state)
{
	struct batch_seen seen = { 0 };
	struct chan_batch b = { .report = seen_report, .start = seen_start,
		.idle = seen_idle, .ctx = &seen, .deadline_ms = 0 };
	struct chan_rcpt r[3];
	struct chan_msg m = { .rcpts = r, .nrcpts = 3, .batch = &b };
	struct chan_msg lone = { .rcpts = r, .nrcpts = 3 };

	(void)state;
	memset(r, 0, sizeof(r));
	/* r[0] went, r[1] was refused, r[2] was never begun */
	r[0].status = CHAN_SENT;
	(void)snprintf(r[0].ref, sizeof(r[0].ref), "250 ok");
	chan_rcpt_set(&r[1], CHAN_TEMPFAIL, "451 later");
	r[2].status = CHAN_SENT;
	chan_msg_untried(&m, "not attempted: the batch's time ran out");
	assert_int_equal(r[0].status, CHAN_SENT);
	assert_false(r[0].untried);
	assert_int_equal(r[1].status, CHAN_TEMPFAIL);
	assert_false(r[1].untried);
	assert_int_equal(r[2].status, CHAN_TEMPFAIL);
	assert_true(r[2].untried);
	assert_non_null(strstr(r[2].reason, "time ran out"));
	/* no deadline, then one in the future, then one past */
	assert_false(chan_msg_late(&m));
	b.deadline_ms = base_mono_ms() + 60000;
	assert_false(chan_msg_late(&m));
	assert_true(chan_msg_left_ms(&m) > 50000);
	b.deadline_ms = base_mono_ms() - 1;
	assert_true(chan_msg_late(&m));
	chan_msg_start(&m);
	chan_msg_idle(&m);
	chan_msg_done(&m);
	assert_int_equal(seen.started, 1);
	assert_int_equal(seen.idled, 1);
	assert_int_equal(seen.reported, 1);
	assert_ptr_equal(seen.last, &m);
	/* no batch: nothing is called, nothing is late */
	chan_msg_start(&lone);
	chan_msg_idle(&lone);
	chan_msg_done(&lone);
	assert_false(chan_msg_late(&lone));
	assert_int_equal(seen.reported, 1);
}

/* The idempotency key: the same for the same message and address, on
   every call (a retry, a restart); another for every field that makes
   another message; 32 lower-case hex digits. */
static void
test_idempotency_key(void **state)
{
	struct chan_msg m = { .alert_id = "20261202-0123456789ab",
		.team = "ke", .step = 0, .ack_code = "12345678",
		.message_id = "tocsin-20261202-0123456789ab-7" };
	char k0[CHAN_IDEM_LEN + 1], k[CHAN_IDEM_LEN + 1];

	(void)state;
	chan_idempotency_key(&m, "+254700555101", "sms", k0);
	assert_int_equal(strlen(k0), CHAN_IDEM_LEN);
	assert_int_equal(strspn(k0, "0123456789abcdef"), CHAN_IDEM_LEN);
	/* the attempt and the delivery's message id have no say */
	m.message_id = "tocsin-20261202-0123456789ab-99";
	chan_idempotency_key(&m, "+254700555101", "sms", k);
	assert_string_equal(k, k0);
	chan_idempotency_key(&m, "+254700555102", "sms", k);
	assert_string_not_equal(k, k0);
	chan_idempotency_key(&m, "+254700555101", "voice", k);
	assert_string_not_equal(k, k0);
	m.step = 1;
	chan_idempotency_key(&m, "+254700555101", "sms", k);
	assert_string_not_equal(k, k0);
	m.step = 0;
	m.team = "tz";
	chan_idempotency_key(&m, "+254700555101", "sms", k);
	assert_string_not_equal(k, k0);
	m.team = "ke";
	m.alert_id = "20261202-0123456789ac";
	chan_idempotency_key(&m, "+254700555101", "sms", k);
	assert_string_not_equal(k, k0);
	m.alert_id = "20261202-0123456789ab";
	m.ack_code = NULL;		/* the notice of an ack */
	chan_idempotency_key(&m, "+254700555101", "sms", k);
	assert_string_not_equal(k, k0);
	/* fields do not run into each other: "ke"+"1" is not "k"+"e1" */
	m.ack_code = "12345678";
	m.team = "k";
	chan_idempotency_key(&m, "e+254700555101", "sms", k);
	assert_string_not_equal(k, k0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_base64_edges),
		cmocka_unit_test(test_crlf_cases),
		cmocka_unit_test(test_crlf_random),
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_header_safe),
		cmocka_unit_test(test_buf_growth),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_pe_check),
		cmocka_unit_test(test_phone_batch),
		cmocka_unit_test(test_pe_open_needs_smtp),
		cmocka_unit_test(test_pe_bad_addresses),
		cmocka_unit_test(test_jsonget_members),
		cmocka_unit_test(test_jsonget_refuses),
		cmocka_unit_test(test_form_parse),
		cmocka_unit_test(test_batch_helpers),
		cmocka_unit_test(test_idempotency_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
