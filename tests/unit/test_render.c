/*
 * test_render.c: the message renderer and the time zone reader.
 *
 * Bodies: the exercise banner comes first, languages are picked and shown
 * once each, alert text is cleaned byte for byte as render.c says, and the
 * limits cut at character boundaries without losing the acknowledgement
 * instructions.  Subjects: each placeholder, ASCII only, one [EXERCISE].
 * Time zones: known offsets in zones with odd rules, times after the last
 * transition of the file (the footer rule), a comparison with the C
 * library's own reading of the same files, bad names and broken files.
 * Pages (render_doc): each field as the fax lays it out, the issuer with
 * and without a sender name, local time only from a readable zone, the
 * long texts only when full, what a Cancel does, and bad input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "cap.h"
#include "render.h"
#include "tz.h"

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" \
	"<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n" \
	"<identifier>ID-1</identifier><sender>desk@x.example</sender>" \
	"<sent>2026-11-25T10:00:00-00:00</sent><status>%s</status>" \
	"<msgType>Alert</msgType><scope>Private</scope>" \
	"<addresses>ke</addresses>\n"
#define INFO(lang, sev) "<info><language>" lang "</language>" \
	"<category>Security</category><event>E-" lang "</event>" \
	"<urgency>Immediate</urgency><severity>" sev "</severity>" \
	"<certainty>Observed</certainty><headline>H-" lang "</headline>" \
	"<description>D-" lang "</description>" \
	"<area><areaDesc>Global</areaDesc></area></info>\n"

#define EXERCISE_BANNER "*** EXERCISE - EXERCISE - EXERCISE ***\n"
#define FFFD "\xef\xbf\xbd"

static struct policy_contact contacts[] = {
	{ .name = "Amani", .timezone = "Africa/Nairobi" },
};
static const struct policy_team team = {
	.id = "ke", .domain = "ke",
	.cctld_operator = "Kenya Network Information Centre",
	.contacts = contacts, .ncontacts = 1,
};

/* ---- helpers ---- */

static struct cap_alert *
parse(const char *doc)
{
	struct cap_alert *a = NULL;
	struct tocsin_err e = { 0 };

	if (cap_parse(doc, strlen(doc), 1 << 24, &a, &e) != 0)
		fail_msg("cap_parse: %s", e.msg);
	return a;
}

/* An alert of the given status with the given infos (already formatted). */
static struct cap_alert *
alert_with(const char *status, const char *infos)
{
	size_t n = strlen(HEAD) + strlen(status) + strlen(infos) + 16;
	char *doc = malloc(n);
	struct cap_alert *a;

	assert_non_null(doc);
	(void)snprintf(doc, n, HEAD "%s</alert>\n", status, infos);
	a = parse(doc);
	free(doc);
	return a;
}

static void
replace(char **slot, const char *v)
{
	free(*slot);
	*slot = v != NULL ? strdup(v) : NULL;
	if (v != NULL)
		assert_non_null(*slot);
}

static char *
render_langs(const struct cap_alert *a, const char *const *langs,
    size_t nlangs, const char *zone, const char *url, const char *code)
{
	struct render_in in = {
		.alert = a, .alert_id = "A-1", .team = &team, .langs = langs,
		.nlangs = nlangs, .timezone = zone, .ack_url = url,
		.ack_code = code,
	};
	struct tocsin_err e = { 0 };
	char *body = NULL;
	size_t len = 0;

	if (render_body(&in, &body, &len, &e) != 0)
		fail_msg("render_body: %s", e.msg);
	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	return body;
}

static char *
render1(const struct cap_alert *a)
{
	static const char *const en[] = { "en" };

	return render_langs(a, en, 1, NULL, "https://a.example/k/T",
	    "4711");
}

/* One <info> of the given language whose description and instruction are
   text; returns the bytes written to o (room bytes at most). */
static size_t
info_block(char *o, size_t room, const char *lang, const char *text)
{
	int n = snprintf(o, room, "<info><language>%s</language>"
	    "<category>Security</category><event>E</event>"
	    "<urgency>Immediate</urgency><severity>Minor</severity>"
	    "<certainty>Observed</certainty><headline>H-%s</headline>"
	    "<description>%s</description><instruction>%s</instruction>"
	    "</info>\n", lang, lang, text, text);

	assert_true(n > 0 && (size_t)n < room);
	return (size_t)n;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL;
	    p += strlen(needle))
		n++;
	return n;
}

/* How many lines of body start with prefix. */
static size_t
lines_starting(const char *body, const char *prefix)
{
	size_t n = 0, k = strlen(prefix);

	for (const char *p = body; *p != '\0'; ) {
		const char *e = strchr(p, '\n');

		if (strncmp(p, prefix, k) == 0)
			n++;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return n;
}

static void
must_contain(const char *body, const char *needle)
{
	if (body == NULL || strstr(body, needle) == NULL)
		fail_msg("body lacks \"%s\":\n%s", needle, body != NULL ?
		    body : "(none)");
}

/* Whole-text check: well-formed UTF-8, no control byte but LF and TAB. */
static void
must_be_clean_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t n;

		if (*p < 0x80) {
			if ((*p < 0x20 && *p != '\n' && *p != '\t') ||
			    *p == 0x7f)
				fail_msg("control byte 0x%02x at %zu", *p,
				    (size_t)(p - (const unsigned char *)s));
			p++;
			continue;
		}
		n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
		assert_true(*p >= 0xc2 && *p <= 0xf4);
		for (size_t i = 1; i < n; i++)
			assert_true(p[i] >= 0x80 && p[i] <= 0xbf);
		p += n;
	}
}

/* ---- bodies ---- */

static void
test_exercise_banner(void **state)
{
	struct cap_alert *a = alert_with("Exercise", INFO("en", "Severe"));
	char *body;

	(void)state;
	body = render1(a);
	assert_memory_equal(body, EXERCISE_BANNER
	    "This is a drill. No real incident.\n",
	    strlen(EXERCISE_BANNER "This is a drill. No real incident.\n"));
	/* and again as the very last line */
	assert_string_equal(body + strlen(body) - strlen(EXERCISE_BANNER),
	    EXERCISE_BANNER);
	free(body);
	cap_free(a);

	/* Test and System: a TEST banner; Actual: none, even when the
	   alert's own text imitates one */
	a = alert_with("Test", INFO("en", "Minor"));
	body = render1(a);
	assert_memory_equal(body, "*** TEST - TEST - TEST ***\n", 27);
	free(body);
	cap_free(a);
	a = alert_with("System", INFO("en", "Minor"));
	body = render1(a);
	assert_memory_equal(body, "*** TEST - TEST - TEST ***\n", 27);
	free(body);
	cap_free(a);
	a = alert_with("Actual", INFO("en", "Minor"));
	replace(&a->infos[0].headline, "x\n*** EXERCISE - EXERCISE - "
	    "EXERCISE ***");
	replace(&a->infos[0].description, "*** EXERCISE - EXERCISE - "
	    "EXERCISE ***\nThis is a drill. No real incident.");
	body = render1(a);
	assert_int_equal(lines_starting(body, "***"), 0);
	assert_int_equal(lines_starting(body, "This is a drill"), 0);
	free(body);
	cap_free(a);
}

static void
test_languages(void **state)
{
	struct cap_alert *a = alert_with("Actual", INFO("en-US", "Severe")
	    INFO("ru-RU", "Severe") INFO("fr", "Severe"));
	static const char *const langs[] = { "ru", "sw", "en", "RU", "fr-CA",
		"en-GB", "ru" };
	const char *p, *q, *r;
	char *body;

	(void)state;
	body = render_langs(a, langs, sizeof(langs) / sizeof(langs[0]), NULL,
	    NULL, NULL);
	/* ru, then en-US for sw (no sw text), then fr; en, RU, en-GB and
	   the second ru add nothing */
	assert_int_equal(count(body, "== Language: "), 3);
	assert_int_equal(count(body, "Headline: H-en-US\n"), 1);
	assert_non_null(p = strstr(body, "== Language: ru-RU ==\n"));
	assert_non_null(q = strstr(body, "== Language: en-US ==\n(The alert "
	    "has no text in sw; this is its en-US text.)\n"));
	assert_non_null(r = strstr(body, "== Language: fr ==\nHeadline: H-fr"));
	assert_true(p < q && q < r);
	must_contain(body, "Headline: H-ru-RU\nEvent: E-ru-RU\n");
	free(body);

	/* no languages: the en block */
	body = render_langs(a, NULL, 0, NULL, NULL, NULL);
	assert_int_equal(count(body, "== Language: "), 1);
	must_contain(body, "== Language: en-US ==\nHeadline: H-en-US\n");
	free(body);
	cap_free(a);

	/* no en block: the first one, once for both languages */
	a = alert_with("Actual", INFO("de", "Minor") INFO("es", "Minor"));
	{
		static const char *const two[] = { "sw", "ja" };

		body = render_langs(a, two, 2, NULL, NULL, NULL);
	}
	assert_int_equal(count(body, "== Language: "), 1);
	must_contain(body, "== Language: de ==\n(The alert has no text in sw;");
	free(body);
	cap_free(a);
}

static void
test_fields_and_footer(void **state)
{
	struct cap_alert *a = alert_with("Exercise", INFO("en", "Severe"));
	static const char *const en[] = { "en" };
	char *body;

	(void)state;
	replace(&a->infos[0].sender_name, "DNS desk");
	replace(&a->infos[0].instruction, "Freeze changes.");
	replace(&a->infos[0].web, "https://desk.example/a/1");
	replace(&a->infos[0].contact, "+41 22 555 0100");
	replace(&a->infos[0].onset, "2026-11-25T12:30:00+01:00");
	replace(&a->infos[0].expires, "2026-11-26T10:00:00-00:00");
	body = render1(a);
	must_contain(body, "Local times: Africa/Nairobi\n");
	must_contain(body, "\nHeadline: H-en\nEvent: E-en\n"
	    "Sender: DNS desk (desk@x.example)\n"
	    "Severity: Severe / Urgency: Immediate / Certainty: Observed\n"
	    "Area: Global\n"
	    "Effective: 2026-11-25 10:00 UTC, local 2026-11-25 13:00 EAT "
	    "(UTC+03:00) (when sent; no effective time was given)\n"
	    "Onset: 2026-11-25 11:30 UTC, local 2026-11-25 14:30 EAT "
	    "(UTC+03:00)\n"
	    "Expires: 2026-11-26 10:00 UTC, local 2026-11-26 13:00 EAT "
	    "(UTC+03:00)\n"
	    "Description:\n  D-en\n"
	    "Instruction:\n  Freeze changes.\n"
	    "Web: https://desk.example/a/1\n"
	    "Contact: +41 22 555 0100\n");
	/* the action first: exercise, severity, headline, how to ack */
	{
		static const char top[] = EXERCISE_BANNER
		    "This is a drill. No real incident.\n"
		    "Severity: Severe\n"
		    "Headline: H-en\n"
		    "To acknowledge for team ke: open https://a.example/k/T and "
		    "press the button, or reply with code 4711\n\n";

		assert_memory_equal(body, top, strlen(top));
	}
	assert_int_equal(lines_starting(body, "To acknowledge"), 1);
	/* the identities after it, all kept */
	must_contain(body, "\n----\nAlert id: A-1\nCAP identifier: ID-1\n"
	    "CAP sender: desk@x.example\n"
	    "Sent: 2026-11-25 10:00 UTC, local 2026-11-25 13:00 EAT "
	    "(UTC+03:00)\n"
	    "Team: ke, domain ke (Kenya Network Information Centre)\n"
	    EXERCISE_BANNER);
	free(body);

	/* a real alert says so first; the duty desk grouped for reading */
	replace(&a->status, "Actual");
	{
		static const char *const en1[] = { "en" };
		struct render_in in = {
			.alert = a, .alert_id = "A-1", .team = &team,
			.langs = en1, .nlangs = 1, .ack_url = "https://a/k/T",
			.ack_code = "4711", .duty_phone = "+41225550100",
		};
		struct tocsin_err e = { 0 };
		size_t len;
		static const char top[] = "ACTUAL ALERT\n"
		    "Severity: Severe\n"
		    "Headline: H-en\n"
		    "To acknowledge for team ke: open https://a/k/T and press "
		    "the button, or reply with code 4711\n"
		    "Or call the duty desk: +41 22 555 0100 and give the code\n"
		    "\n";

		assert_int_equal(render_body(&in, &body, &len, &e), 0);
		assert_memory_equal(body, top, strlen(top));
		assert_null(strstr(body, "EXERCISE"));
		free(body);
	}
	replace(&a->status, "Exercise");

	/* absent times; only a link; only a code; neither */
	replace(&a->infos[0].onset, NULL);
	replace(&a->infos[0].expires, NULL);
	body = render_langs(a, en, 1, "Europe/Paris", "https://a.example/x",
	    NULL);
	must_contain(body, "Local times: Europe/Paris\n");
	/* times the alert does not give are left out, not "not given" */
	must_contain(body, "Effective: 2026-11-25 10:00 UTC, local 2026-11-25 "
	    "11:00 CET (UTC+01:00) (when sent; no effective time was given)\n"
	    "Description:\n");
	assert_null(strstr(body, "not given"));
	assert_int_equal(lines_starting(body, "Onset"), 0);
	assert_int_equal(lines_starting(body, "Expires"), 0);
	must_contain(body, "\nTo acknowledge for team ke: open "
	    "https://a.example/x and press the button\n");
	free(body);
	body = render_langs(a, en, 1, NULL, NULL, "99");
	must_contain(body, "\nTo acknowledge for team ke: reply with code 99\n");
	free(body);
	body = render_langs(a, en, 1, NULL, NULL, "");
	assert_null(strstr(body, "To acknowledge"));
	free(body);

	/* a zone that cannot be read does not stop the message */
	body = render_langs(a, en, 1, "Nowhere/Zone", NULL, NULL);
	must_contain(body, "Local times: unavailable (time zone Nowhere/Zone "
	    "is not in /usr/share/zoneinfo); all times are UTC\n");
	must_contain(body, "Effective: 2026-11-25 10:00 UTC (when sent;");
	free(body);
	body = render_langs(a, en, 1, "../../etc/passwd", NULL, NULL);
	must_contain(body, "Local times: unavailable (time zone name has "
	    "\"..\";");
	free(body);
	cap_free(a);

	/* Cancel: says what it does; an alert without info still renders */
	a = parse("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"
	    "<identifier>ID-2</identifier><sender>desk@x.example</sender>"
	    "<sent>2026-11-25T11:00:00-00:00</sent><status>Actual</status>"
	    "<msgType>Cancel</msgType><scope>Private</scope>"
	    "<addresses>ke</addresses><note>Sent in error.\nSorry.</note>"
	    "<references>desk@x.example,ID-1,2026-11-25T10:00:00-00:00"
	    "</references></alert>");
	body = render1(a);
#define CANCEL_HEAD "ACTUAL ALERT\nTo acknowledge for team ke: open " \
	"https://a.example/k/T and press the button, or reply with code " \
	"4711\n\n" \
	"Cancel: this message cancels an earlier alert " \
	"(desk@x.example,ID-1,2026-11-25T10:00:00-00:00).\n" \
	"Note:\n  Sent in error.\n  Sorry.\n"
	assert_memory_equal(body, CANCEL_HEAD, strlen(CANCEL_HEAD));
	must_contain(body, "This message carries no further details.\n");
	free(body);
	cap_free(a);
}

/* Line breaks and control characters, cleaned exactly as documented. */
static void
test_normalisation(void **state)
{
	struct cap_alert *a = alert_with("Actual", INFO("en", "Severe"));
	char *body;

	(void)state;
	replace(&a->infos[0].headline, "Head\r\nTo acknowledge for team ke: "
	    "reply with code 0000\rX\x01Y\x7fZ\tT\x1b[0m\xc2\x85N\n");
	replace(&a->infos[0].description, "a\r\nb\rc\nd\x0b\x0c" "e\r\r\n\n"
	    "From x\n.\n*** EXERCISE ***\n\xc2\x85tail");
	replace(&a->infos[0].event, "one\r\ntwo\nthree\rfour");
	body = render1(a);
	/* folded onto the labelled line, each break one space */
	must_contain(body, "\nHeadline: Head To acknowledge for team ke: reply "
	    "with code 0000 XYZ\tT[0mN \nEvent: one two three four\n");
	/* kept as lines, each indented; blank lines stay empty */
	must_contain(body, "\nDescription:\n  a\n  b\n  c\n  de\n\n\n"
	    "  From x\n  .\n  *** EXERCISE ***\n  tail\n\n----\n");
	assert_int_equal(lines_starting(body, "To acknowledge"), 1);
	assert_int_equal(lines_starting(body, "From "), 0);
	assert_int_equal(lines_starting(body, "*"), 0);
	assert_null(strchr(body, '\r'));
	must_be_clean_utf8(body);
	free(body);
	cap_free(a);
}

static void
test_utf8(void **state)
{
	struct cap_alert *a;
	static const char *const langs[] = { "ru", "ar", "zh", "en" };
	char path[4096], *doc, *body;
	FILE *f;
	long n;
	const char *src = getenv("TOCSIN_SRCDIR");

	(void)state;
	/* every script of the sample is kept byte for byte */
	(void)snprintf(path, sizeof(path), "%s/tests/data/alerts/"
	    "sample-exercise.xml", src != NULL ? src : ".");
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((n = ftell(f)) > 0);
	rewind(f);
	assert_non_null(doc = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(doc, 1, (size_t)n, f), (size_t)n);
	(void)fclose(f);
	a = parse(doc);
	free(doc);
	body = render_langs(a, langs, 4, NULL, NULL, NULL);
	for (size_t i = 0; i < a->ninfos; i++) {
		const struct cap_info *in = &a->infos[i];

		if (strcmp(in->language, "fr") == 0 ||
		    strcmp(in->language, "es") == 0) {
			assert_null(strstr(body, in->headline));
			continue;
		}
		must_contain(body, in->headline);
		must_contain(body, in->description);
		must_contain(body, in->event);
		must_contain(body, in->areas[0].area_desc);
	}
	must_contain(body, "Headline: \xd0\x9a\xd0\xbe\xd0\xbc\xd0\xbf");
	must_contain(body, "Event: \xe6\xb3\xa8\xe5\x86\x8c\xe5\xb1\x80");
	must_be_clean_utf8(body);
	free(body);
	cap_free(a);

	/* ill-formed UTF-8: one U+FFFD per maximal ill-formed part */
	a = alert_with("Actual", INFO("en", "Severe"));
	replace(&a->infos[0].headline, "a\xff" "b\xc3(c\xe2\x82" "d\xed\xa0\x80"
	    "e\xf4\x90\x80\x80" "f\xc0\xaf" "g\xf0\x9f\x98\x80h\xe2\x82");
	body = render1(a);
	must_contain(body, "\nHeadline: a" FFFD "b" FFFD "(c" FFFD "d"
	    FFFD FFFD FFFD "e" FFFD FFFD FFFD FFFD "f" FFFD FFFD
	    "g\xf0\x9f\x98\x80h" FFFD "\n");
	must_be_clean_utf8(body);
	free(body);
	cap_free(a);
}

static void
test_limits(void **state)
{
	struct cap_alert *a = alert_with("Exercise", INFO("en", "Severe"));
	char *big, *want, *body;
	size_t n = 10000;	/* 3-byte characters: 30000 bytes */
	size_t keep = RENDER_FIELD_MAX / 3;

	(void)state;
	assert_non_null(big = malloc(n * 3 + 1));
	for (size_t i = 0; i < n; i++)
		memcpy(big + i * 3, "\xe4\xb8\xad", 3);
	big[n * 3] = '\0';
	replace(&a->infos[0].description, big);
	body = render1(a);
	assert_non_null(want = malloc(keep * 3 + 64));
	memcpy(want, "\nDescription:\n  ", 16);
	memcpy(want + 16, big, keep * 3);
	(void)snprintf(want + 16 + keep * 3, 48, " [truncated]\n");
	must_contain(body, want);
	free(want);
	free(body);
	/* line breaks count too: 8192 lines of "x" fill 16 KiB */
	for (size_t i = 0; i < n; i++)
		memcpy(big + i * 2, "x\n", 2);
	big[n * 2] = '\0';
	replace(&a->infos[0].description, big);
	body = render1(a);
	assert_int_equal(count(body, "  x\n"), RENDER_FIELD_MAX / 2);
	must_contain(body, "  x\n  [truncated]\n");
	free(big);
	free(body);
	cap_free(a);

	/* the whole body: 30 sections of 2 x 16 KiB pass the limit; the cut
	   is marked, and the footer with the ack line is all there */
	{
		static const char *const codes[] = { "aa", "ab", "ae", "af",
			"ak", "am", "an", "ar", "as", "av", "ay", "az", "ba",
			"be", "bg", "bi", "bm", "bn", "bo", "br", "bs", "ca",
			"ce", "ch", "co", "cr", "cs", "cu", "cv", "cy" };
		size_t nc = sizeof(codes) / sizeof(codes[0]);
		size_t per = 40000 * 2 + 512;
		char *infos = malloc(nc * per + 1), *o = infos;
		char *mid = malloc(20000 * 2 + 1);

		assert_non_null(infos);
		assert_non_null(mid);
		for (size_t i = 0; i < 20000; i++)
			memcpy(mid + i * 2, "\xd0\x96", 2);
		mid[40000] = '\0';
		for (size_t i = 0; i < nc; i++)
			o += info_block(o, per, codes[i], mid);
		a = alert_with("Exercise", infos);
		free(infos);
		free(mid);
		body = render_langs(a, codes, nc, NULL, "https://a.example/k/T",
		    "4711");
		assert_true(strlen(body) <= RENDER_BODY_MAX);
		assert_true(strlen(body) > RENDER_BODY_MAX - 4096);
		assert_int_equal(count(body, "\n[truncated]\n"), 1);
		/* the ack line at the top, never cut; the banner closes */
		must_contain(body, "\nHeadline: H-aa\nTo acknowledge for team "
		    "ke: open https://a.example/k/T and press the button, or "
		    "reply with code 4711\n\n");
		assert_true(strstr(body, "To acknowledge") <
		    strstr(body, "\n[truncated]\n"));
		assert_string_equal(body + strlen(body) -
		    strlen(EXERCISE_BANNER), EXERCISE_BANNER);
		must_be_clean_utf8(body);
		free(body);
		cap_free(a);
	}
}

/* ---- subjects ---- */

static void
subject_is(const struct cap_alert *a, const char *id, const char *tmpl,
    const char *want)
{
	char out[RENDER_SUBJECT_MAX];
	struct tocsin_err e = { 0 };

	if (render_subject(tmpl, a, id, out, sizeof(out), &e) != 0)
		fail_msg("render_subject(\"%s\"): %s", tmpl, e.msg);
	if (strcmp(out, want) != 0)
		fail_msg("render_subject(\"%s\") gave \"%s\", not \"%s\"", tmpl,
		    out, want);
}

static void
test_subject(void **state)
{
	struct cap_alert *a = alert_with("Exercise", INFO("en", "Severe")
	    INFO("ru", "Extreme"));
	struct tocsin_err e = { 0 };
	char out[RENDER_SUBJECT_MAX];

	(void)state;
	replace(&a->infos[0].headline, "SECRET HEADLINE");
	subject_is(a, "A-1", "%e%s %t %m %i 100%%",
	    "[EXERCISE] Extreme Exercise Alert A-1 100%");
	subject_is(a, "A-1", "Alert %i", "[EXERCISE] Alert A-1");
	subject_is(a, "A-1", "%eAlert %e%i %e", "[EXERCISE] Alert A-1");
	subject_is(a, "A-1", "[EXERCISE] %i", "[EXERCISE] A-1");
	subject_is(a, "A-1", "%e [EXERCISE] %i", "[EXERCISE] [EXERCISE] A-1");
	/* values and the template: printable ASCII only */
	subject_is(a, "A-1\r\nBcc: evil@x.example\xc3\xa9\t", "%e%i\r\n%m\x01",
	    "[EXERCISE] A-1Bcc: evil@x.exampleAlert");
	subject_is(a, "A-1", "tocsin \xe2\x9a\xa0 %s", "[EXERCISE] tocsin "
	    "Extreme");
	for (const char *t = "istme%"; *t != '\0'; t++) {
		char tmpl[3] = { '%', *t, '\0' };

		assert_int_equal(render_subject(tmpl, a, "A-1", out,
		    sizeof(out), &e), 0);
		assert_null(strstr(out, "SECRET"));
		for (const char *p = out; *p != '\0'; p++)
			assert_true(*p >= 0x20 && *p <= 0x7e);
	}
	/* a cut, never past the buffer */
	assert_int_equal(render_subject("%i", a, "ABCDEFGHIJ", out, 8, &e), 0);
	assert_string_equal(out, "[EXERCI");
	/* unknown placeholders are a configuration error */
	assert_int_equal(render_subject("%i %x", a, "A-1", out, sizeof(out),
	    &e), TOCSIN_ECONFIG);
	assert_non_null(strstr(e.msg, "unknown placeholder"));
	assert_int_equal(render_subject("100%", a, "A-1", out, sizeof(out),
	    &e), TOCSIN_ECONFIG);
	assert_int_equal(render_subject(NULL, a, "A-1", out, sizeof(out), &e),
	    TOCSIN_EINTERNAL);
	cap_free(a);

	a = alert_with("Actual", INFO("en", "Moderate"));
	subject_is(a, "A-2", "%e%s: %i (%t)", "Moderate: A-2 (Actual)");
	subject_is(a, "A-2", "  %e  %i  ", "A-2");
	cap_free(a);
}

/* ---- time zones ---- */

static void
local_is(const char *zone, int64_t t, const char *want)
{
	char out[TZ_FORMAT_MAX];
	struct tocsin_err e = { 0 };

	if (tz_format(NULL, zone, t, out, sizeof(out), &e) != 0)
		fail_msg("tz_format(%s, %lld): %s", zone, (long long)t, e.msg);
	if (strcmp(out, want) != 0)
		fail_msg("%s at %lld: \"%s\", not \"%s\"", zone, (long long)t,
		    out, want);
}

static void
test_tz_known(void **state)
{
	const int64_t nov26 = 1795600800;	/* 2026-11-25T10:00:00Z */
	const int64_t jul26 = 1784116800, jan26 = 1768478400;
	const int64_t jul40 = 2225966400, jan40 = 2210241600;
	char out[TZ_FORMAT_MAX], abbr[TZ_ABBR_MAX];
	int off;

	(void)state;
	local_is("Africa/Nairobi", nov26, "2026-11-25 13:00 EAT (UTC+03:00)");
	local_is("UTC", nov26, "2026-11-25 10:00 UTC (UTC+00:00)");
	local_is("Etc/UTC", nov26, "2026-11-25 10:00 UTC (UTC+00:00)");
	/* Paris across the 2026 changes, to the second */
	local_is("Europe/Paris", jul26, "2026-07-15 14:00 CEST (UTC+02:00)");
	local_is("Europe/Paris", jan26, "2026-01-15 13:00 CET (UTC+01:00)");
	local_is("Europe/Paris", 1774745999,
	    "2026-03-29 01:59:59 CET (UTC+01:00)");
	local_is("Europe/Paris", 1774746000, "2026-03-29 03:00 CEST (UTC+02:00)");
	local_is("Europe/Paris", 1792889999,
	    "2026-10-25 02:59:59 CEST (UTC+02:00)");
	local_is("Europe/Paris", 1792890000, "2026-10-25 02:00 CET (UTC+01:00)");
	/* no DST since 2019; half hours; three quarters */
	local_is("America/Sao_Paulo", jan26, "2026-01-15 09:00 (UTC-03:00)");
	local_is("America/Sao_Paulo", jul26, "2026-07-15 09:00 (UTC-03:00)");
	local_is("Australia/Lord_Howe", jan26, "2026-01-15 23:00 (UTC+11:00)");
	local_is("Australia/Lord_Howe", jul26, "2026-07-15 22:30 (UTC+10:30)");
	local_is("Asia/Kathmandu", jul26, "2026-07-15 17:45 (UTC+05:45)");
	/* 2040: after the last transition in the files, by the footer */
	local_is("Europe/Paris", jul40, "2040-07-15 14:00 CEST (UTC+02:00)");
	local_is("Europe/Paris", jan40, "2040-01-15 13:00 CET (UTC+01:00)");
	local_is("Europe/Paris", 2216249999,
	    "2040-03-25 01:59:59 CET (UTC+01:00)");
	local_is("Europe/Paris", 2216250000, "2040-03-25 03:00 CEST (UTC+02:00)");
	local_is("America/New_York", jul40, "2040-07-15 08:00 EDT (UTC-04:00)");
	local_is("America/New_York", jan40, "2040-01-15 07:00 EST (UTC-05:00)");
	local_is("Australia/Lord_Howe", jul40, "2040-07-15 22:30 (UTC+10:30)");
	local_is("Australia/Lord_Howe", jan40, "2040-01-15 23:00 (UTC+11:00)");
	/* the southern rule's two ends in 2040, to the second */
	local_is("Australia/Lord_Howe", 2233150199,
	    "2040-10-07 01:59:59 (UTC+10:30)");
	local_is("Australia/Lord_Howe", 2233150200,
	    "2040-10-07 02:30 (UTC+11:00)");
	local_is("Australia/Lord_Howe", 2216818799,
	    "2040-04-01 01:59:59 (UTC+11:00)");
	local_is("Australia/Lord_Howe", 2216818800,
	    "2040-04-01 01:30 (UTC+10:30)");
	local_is("Asia/Kathmandu", jan40, "2040-01-15 17:45 (UTC+05:45)");
	local_is("America/Sao_Paulo", jan40, "2040-01-15 09:00 (UTC-03:00)");
	local_is("Africa/Nairobi", jan40, "2040-01-15 15:00 EAT (UTC+03:00)");
	/* before the first transition: local mean time */
	local_is("Europe/Paris", -5364662400LL,
	    "1800-01-01 00:09:21 LMT (UTC+00:09:21)");

	assert_int_equal(tz_offset(NULL, "Asia/Kathmandu", jul26, &off, abbr,
	    sizeof(abbr), NULL), 0);
	assert_int_equal(off, 5 * 3600 + 45 * 60);
	assert_string_equal(abbr, "+0545");
	/* a short abbreviation buffer cuts, never overflows */
	assert_int_equal(tz_offset(NULL, "Europe/Paris", jul26, &off, abbr, 3,
	    NULL), 0);
	assert_string_equal(abbr, "CE");
	assert_int_equal(tz_format_utc(nov26, out, sizeof(out), NULL), 0);
	assert_string_equal(out, "2026-11-25 10:00 UTC");
	assert_int_equal(tz_format_utc(-62135596801LL, out, sizeof(out), NULL),
	    TOCSIN_EDATA);
	assert_int_equal(tz_format(NULL, "UTC", nov26, out, 10, NULL),
	    TOCSIN_EINTERNAL);
}

/* Our reading of the real files against the C library's, at many instants
   and at every change of offset found between them. */
static void
glibc_at(const char *zone, time_t t, long *off, char *abbr, size_t len)
{
	struct tm tm;

	(void)zone;
	assert_non_null(localtime_r(&t, &tm));
	*off = tm.tm_gmtoff;
	(void)snprintf(abbr, len, "%s", tm.tm_zone);
}

static void
same_as_glibc(const char *zone, time_t t)
{
	char a[TZ_ABBR_MAX], g[TZ_ABBR_MAX];
	long goff;
	int off;
	struct tocsin_err e = { 0 };

	glibc_at(zone, t, &goff, g, sizeof(g));
	if (tz_offset(NULL, zone, t, &off, a, sizeof(a), &e) != 0)
		fail_msg("%s at %lld: %s", zone, (long long)t, e.msg);
	if (off != goff || strcmp(a, g) != 0)
		fail_msg("%s at %lld: %d %s, the C library says %ld %s", zone,
		    (long long)t, off, a, goff, g);
}

static void
test_tz_against_libc(void **state)
{
	static const char *const zones[] = { "Europe/Paris",
		"Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Kathmandu",
		"America/New_York", "Africa/Nairobi", "America/Nuuk",
		"America/Santiago", "Asia/Gaza", "Pacific/Chatham",
		"Africa/Casablanca", "Antarctica/Troll", "UTC" };
	size_t checks = 0;

	(void)state;
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		time_t prev = 0;
		long prev_off = 0;
		char prev_abbr[TZ_ABBR_MAX] = "";

		assert_int_equal(setenv("TZ", zones[z], 1), 0);
		tzset();
		/* 1901 to 2100, a little under nine weeks apart */
		for (time_t t = -2170000000LL; t < 4102444800LL;
		    t += 5184011) {
			long off;
			char abbr[TZ_ABBR_MAX];

			same_as_glibc(zones[z], t);
			checks++;
			glibc_at(zones[z], t, &off, abbr, sizeof(abbr));
			if (t != -2170000000LL && (off != prev_off ||
			    strcmp(abbr, prev_abbr) != 0)) {
				/* find the change to the second, check both
				   sides of it */
				time_t lo = prev, hi = t;

				while (hi - lo > 1) {
					time_t mid = lo + (hi - lo) / 2;
					long moff;
					char mabbr[TZ_ABBR_MAX];

					glibc_at(zones[z], mid, &moff, mabbr,
					    sizeof(mabbr));
					if (moff == prev_off &&
					    strcmp(mabbr, prev_abbr) == 0)
						lo = mid;
					else
						hi = mid;
				}
				same_as_glibc(zones[z], lo);
				same_as_glibc(zones[z], hi);
				checks += 2;
			}
			prev = t;
			prev_off = off;
			(void)snprintf(prev_abbr, sizeof(prev_abbr), "%s", abbr);
		}
	}
	assert_int_equal(unsetenv("TZ"), 0);
	tzset();
	assert_true(checks > 10000);
}

static void
test_tz_names(void **state)
{
	static const char *const bad[] = { "../etc/passwd", "/etc/passwd",
		"", "Europe/../../etc/passwd", "Europe/Paris\n", "Europe/Par is",
		"Europe/Paris;rm", "Europe\\Paris",
		"Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/B" };
	struct tocsin_err e = { 0 };
	int off = 12345;
	char abbr[TZ_ABBR_MAX] = "keep";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tz_offset(NULL, bad[i], 0, &off, abbr,
		    sizeof(abbr), &e), TOCSIN_EDATA);
		assert_int_equal(tz_name_check(bad[i], NULL), TOCSIN_EDATA);
	}
	assert_int_equal(tz_name_check(NULL, NULL), TOCSIN_EDATA);
	assert_int_equal(tz_offset(NULL, "Nowhere/Zone", 0, &off, abbr,
	    sizeof(abbr), &e), TOCSIN_ENOTFOUND);
	assert_non_null(strstr(e.msg, "Nowhere/Zone"));
	/* a folder of the database is not a zone */
	assert_int_equal(tz_offset(NULL, "Europe", 0, &off, abbr, sizeof(abbr),
	    &e), TOCSIN_EDATA);
	/* the outputs are untouched on failure */
	assert_int_equal(off, 12345);
	assert_string_equal(abbr, "keep");
	assert_int_equal(tz_name_check("America/Argentina/Buenos_Aires", NULL),
	    0);
	assert_int_equal(tz_name_check("Etc/GMT+5", NULL), 0);
}

/* ---- TZif files made here ---- */

struct tzif_type {
	int32_t off;
	int dst;
	const char *abbr;
};

static size_t
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

static size_t
tzif_block(unsigned char *p, char ver, int wide, const int64_t *times,
    const unsigned char *idx, uint32_t ntimes, const struct tzif_type *types,
    uint32_t ntypes)
{
	unsigned char *s = p;
	char chars[256];
	size_t nchars = 0;
	unsigned char desig[16];

	for (uint32_t i = 0; i < ntypes; i++) {
		size_t k = strlen(types[i].abbr) + 1;

		desig[i] = (unsigned char)nchars;
		memcpy(chars + nchars, types[i].abbr, k);
		nchars += k;
	}
	memcpy(p, "TZif", 4);
	p[4] = (unsigned char)ver;
	memset(p + 5, 0, 15);
	p += 20;
	p += put32(p, 0);		/* isut */
	p += put32(p, 0);		/* isstd */
	p += put32(p, 0);		/* leap */
	p += put32(p, ntimes);
	p += put32(p, ntypes);
	p += put32(p, (uint32_t)nchars);
	for (uint32_t i = 0; i < ntimes; i++) {
		if (wide)
			p += put32(p, (uint32_t)((uint64_t)times[i] >> 32));
		p += put32(p, (uint32_t)times[i]);
	}
	if (ntimes > 0)
		memcpy(p, idx, ntimes);
	p += ntimes;
	for (uint32_t i = 0; i < ntypes; i++) {
		p += put32(p, (uint32_t)types[i].off);
		*p++ = (unsigned char)types[i].dst;
		*p++ = desig[i];
	}
	memcpy(p, chars, nchars);
	p += nchars;
	return (size_t)(p - s);
}

/* A whole file: version 1 alone, or 1 + 2 with a footer. */
static size_t
tzif(unsigned char *p, char ver, const int64_t *times,
    const unsigned char *idx, uint32_t ntimes, const struct tzif_type *types,
    uint32_t ntypes, const char *footer)
{
	size_t n = tzif_block(p, ver, 0, times, idx, ntimes, types, ntypes);

	if (ver == 0)
		return n;
	n += tzif_block(p + n, ver, 1, times, idx, ntimes, types, ntypes);
	n += (size_t)snprintf((char *)p + n, 300, "\n%s\n", footer);
	return n;
}

static void
parsed_is(const unsigned char *buf, size_t len, int64_t t, int want_off,
    const char *want_abbr)
{
	struct tocsin_err e = { 0 };
	char abbr[TZ_ABBR_MAX];
	int off;

	if (tz_parse_buf(buf, len, t, &off, abbr, sizeof(abbr), &e) != 0)
		fail_msg("tz_parse_buf at %lld: %s", (long long)t, e.msg);
	if (off != want_off || strcmp(abbr, want_abbr) != 0)
		fail_msg("at %lld: %d %s, not %d %s", (long long)t, off, abbr,
		    want_off, want_abbr);
}

static void
test_tzif_made(void **state)
{
	static const struct tzif_type types[] = { { 3600, 1, "AAD" },
		{ 1800, 0, "AAS" }, { 7200, 1, "AAX" } };
	static const int64_t times[] = { 0, 1000000, 2000000 };
	static const unsigned char idx[] = { 1, 2, 1 };
	static const struct tzif_type one[] = { { 3600, 0, "AAA" } };
	unsigned char buf[2048];
	size_t n;
	struct tocsin_err e = { 0 };
	int off;

	(void)state;
	/* version 1: before the first transition the first standard type
	   (type 1, not the DST type 0); after the last, the last type */
	n = tzif(buf, 0, times, idx, 3, types, 3, NULL);
	parsed_is(buf, n, -1, 1800, "AAS");
	parsed_is(buf, n, 0, 1800, "AAS");
	parsed_is(buf, n, 999999, 1800, "AAS");
	parsed_is(buf, n, 1000000, 7200, "AAX");
	parsed_is(buf, n, 5000000000LL, 1800, "AAS");
	/* versions 2 and 3 with footers of each rule form */
	n = tzif(buf, '2', times, idx, 3, types, 3, "AAS-0:30");
	parsed_is(buf, n, 1500000, 7200, "AAX");
	parsed_is(buf, n, 1795600800, 1800, "AAS");
	/* Jn never counts Feb 29: J60 is March 1st, leap year or not */
	n = tzif(buf, '3', NULL, NULL, 0, one, 1, "AAA-1BBB-2,J60,J300");
	parsed_is(buf, n, 1835485199, 3600, "AAA");	/* 2028-03-01 01:59:59 */
	parsed_is(buf, n, 1835485200, 7200, "BBB");
	/* n counts it: day 59 of 2028 is Feb 29 */
	n = tzif(buf, '3', NULL, NULL, 0, one, 1, "AAA-1BBB-2,59,300");
	parsed_is(buf, n, 1835398799, 3600, "AAA");
	parsed_is(buf, n, 1835398800, 7200, "BBB");
	/* DST all year (RFC 8536's example) and rule times over 24 h */
	n = tzif(buf, '3', NULL, NULL, 0, one, 1, "EST5EDT,0/0,J365/25");
	parsed_is(buf, n, 1784116800, -4 * 3600, "EDT");
	parsed_is(buf, n, 1767225600, -4 * 3600, "EDT");	/* 2026-01-01 */
	n = tzif(buf, '4', NULL, NULL, 0, one, 1, "<+0330>-3:30<+0430>-4:30,"
	    "M3.5.0/-1,M10.5.0/167");
	parsed_is(buf, n, 1784116800, 16200, "+0430");
	parsed_is(buf, n, 1768478400, 12600, "+0330");

	/* refused, each with a sentence */
	static const char *const bad_footers[] = { "CET-1CEST",
		"CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0",
		"CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0",
		"CET-1CEST,J0,J300", "CET-1CEST,366,300", "CET-25",
		"CET-1CEST,M3.5.0/168,M10.5.0", "CE-1", "<AB>-1", "<A B>-1",
		"CET-1CEST,M3.5.0,M10.5.0x", "CET", "-1", "CET-1:60",
		"<+0000000000000000>0" };
	for (size_t i = 0; i < sizeof(bad_footers) / sizeof(bad_footers[0]);
	    i++) {
		n = tzif(buf, '2', NULL, NULL, 0, one, 1, bad_footers[i]);
		if (tz_parse_buf(buf, n, 0, &off, NULL, 0, &e) != TOCSIN_EDATA)
			fail_msg("footer \"%s\" was accepted", bad_footers[i]);
	}
	{
		static const unsigned char badidx[] = { 1, 3, 1 };
		static const int64_t down[] = { 0, 2000000, 1000000 };
		static const struct tzif_type badabbr[] = { { 0, 0, "A\x01" } };
		static const struct tzif_type badoff[] = { { 93600, 0, "AAA" } };

		n = tzif(buf, '2', times, badidx, 3, types, 3, "");
		assert_int_equal(tz_parse_buf(buf, n, 0, &off, NULL, 0, &e),
		    TOCSIN_EDATA);
		assert_non_null(strstr(e.msg, "type that does not exist"));
		n = tzif(buf, '2', down, idx, 3, types, 3, "");
		assert_int_equal(tz_parse_buf(buf, n, 0, &off, NULL, 0, &e),
		    TOCSIN_EDATA);
		assert_non_null(strstr(e.msg, "ascending"));
		n = tzif(buf, '2', NULL, NULL, 0, badabbr, 1, "");
		assert_int_equal(tz_parse_buf(buf, n, 0, &off, NULL, 0, &e),
		    TOCSIN_EDATA);
		n = tzif(buf, '2', NULL, NULL, 0, badoff, 1, "");
		assert_int_equal(tz_parse_buf(buf, n, 0, &off, NULL, 0, &e),
		    TOCSIN_EDATA);
		/* an empty footer is allowed: the last type then stays */
		n = tzif(buf, '2', times, idx, 3, types, 3, "");
		parsed_is(buf, n, 5000000000LL, 1800, "AAS");
	}
	/* header fields: version, type count, leap seconds, huge counts,
	   data after the end */
	n = tzif(buf, '2', times, idx, 3, types, 3, "AAS-0:30");
	{
		unsigned char copy[2048];
		static const struct { size_t at; unsigned char v; } pokes[] = {
			{ 4, '1' }, { 4, 'x' }, { 39, 0 }, { 31, 1 },
			{ 32, 0xff }, { 37, 1 }, { 43, 0 }, { 23, 2 },
		};

		for (size_t i = 0; i < sizeof(pokes) / sizeof(pokes[0]); i++) {
			memcpy(copy, buf, n);
			copy[pokes[i].at] = pokes[i].v;
			if (tz_parse_buf(copy, n, 0, &off, NULL, 0, &e) !=
			    TOCSIN_EDATA)
				fail_msg("poke %zu was accepted", i);
		}
		memcpy(copy, buf, n);
		copy[n] = '\n';
		assert_int_equal(tz_parse_buf(copy, n + 1, 0, &off, NULL, 0, &e),
		    TOCSIN_EDATA);
	}
	assert_int_equal(tz_parse_buf(buf, n, 253402300800LL, &off, NULL, 0,
	    &e), TOCSIN_EDATA);
	assert_int_equal(tz_parse_buf(NULL, 0, 0, &off, NULL, 0, &e),
	    TOCSIN_EINTERNAL);
}

/* Every cut of a real file is refused; every changed byte is survived. */
static void
test_tzif_corrupt(void **state)
{
	static const char *const files[] = { "/usr/share/zoneinfo/Europe/Paris",
		"/usr/share/zoneinfo/Australia/Lord_Howe" };
	struct tocsin_err e = { 0 };
	char abbr[TZ_ABBR_MAX];
	int off;

	(void)state;
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		unsigned char buf[8192], *copy;
		FILE *fp = fopen(files[f], "rb");
		size_t n;

		assert_non_null(fp);
		n = fread(buf, 1, sizeof(buf), fp);
		(void)fclose(fp);
		assert_true(n > 100 && n < sizeof(buf));
		parsed_is(buf, n, 1784116800, f == 0 ? 7200 : 37800,
		    f == 0 ? "CEST" : "+1030");
		for (size_t len = 0; len < n; len++) {
			/* a copy of exactly len bytes, so that a read past
			   the end is caught by the memory checkers */
			assert_non_null(copy = malloc(len + 1));
			memcpy(copy, buf, len);
			if (tz_parse_buf(copy, len, 1784116800, &off, abbr,
			    sizeof(abbr), &e) == 0)
				fail_msg("%s cut to %zu bytes was accepted",
				    files[f], len);
			free(copy);
		}
		assert_non_null(copy = malloc(n));
		for (size_t i = 0; i < n; i++) {
			static const unsigned char xors[] = { 0x01, 0x80, 0xff };

			for (size_t x = 0; x < sizeof(xors); x++) {
				memcpy(copy, buf, n);
				copy[i] ^= xors[x];
				if (tz_parse_buf(copy, n, 2225966400LL, &off,
				    abbr, sizeof(abbr), &e) == 0)
					assert_true(off > -90000 &&
					    off < 93600 && strlen(abbr) > 0);
			}
		}
		free(copy);
	}
}

/* A zone folder of our own: a broken file, a file over the size limit. */
static void
test_tz_zonedir(void **state)
{
	char dir[] = "/tmp/tocsin-tz-XXXXXX", path[128];
	struct tocsin_err e = { 0 };
	unsigned char buf[512];
	static const struct tzif_type one[] = { { 10800, 0, "EAT" } };
	size_t n = tzif(buf, '2', NULL, NULL, 0, one, 1, "EAT-3");
	char out[TZ_FORMAT_MAX];
	FILE *f;
	int off;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/Test", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	(void)snprintf(path, sizeof(path), "%s/Test/Good", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(buf, 1, n, f), n);
	(void)fclose(f);
	assert_int_equal(tz_format(dir, "Test/Good", 1795600800, out,
	    sizeof(out), &e), 0);
	assert_string_equal(out, "2026-11-25 13:00 EAT (UTC+03:00)");
	(void)snprintf(path, sizeof(path), "%s/Test/Cut", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(buf, 1, n - 3, f), n - 3);
	(void)fclose(f);
	assert_int_equal(tz_offset(dir, "Test/Cut", 0, &off, NULL, 0, &e),
	    TOCSIN_EDATA);
	(void)snprintf(path, sizeof(path), "%s/Test/Big", dir);
	assert_non_null(f = fopen(path, "wb"));
	for (size_t i = 0; i <= TZ_FILE_MAX / n + 1; i++)
		assert_int_equal(fwrite(buf, 1, n, f), n);
	(void)fclose(f);
	assert_int_equal(tz_offset(dir, "Test/Big", 0, &off, NULL, 0, &e),
	    TOCSIN_ETOOBIG);
	assert_int_equal(tz_offset(dir, "Test/None", 0, &off, NULL, 0, &e),
	    TOCSIN_ENOTFOUND);
	(void)snprintf(path, sizeof(path), "%s/Test/Good", dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/Test/Cut", dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/Test/Big", dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/Test", dir);
	(void)rmdir(path);
	(void)rmdir(dir);
}

static void
test_render_errors(void **state)
{
	struct cap_alert *a = alert_with("Actual", INFO("en", "Severe"));
	struct render_in in = { .alert = a, .alert_id = "A-1", .team = &team };
	struct tocsin_err e = { 0 };
	char *body = (char *)"untouched";
	size_t len = 7;

	(void)state;
	assert_int_equal(render_body(NULL, &body, &len, &e), TOCSIN_EINTERNAL);
	in.team = NULL;
	assert_int_equal(render_body(&in, &body, &len, &e), TOCSIN_EINTERNAL);
	in.team = &team;
	in.alert_id = NULL;
	assert_int_equal(render_body(&in, &body, &len, &e), TOCSIN_EINTERNAL);
	assert_string_equal(body, "untouched");
	assert_int_equal(len, 7);
	cap_free(a);
}

/* ---- the fields of a page (render_doc) ---- */

static struct chan_doc
doc_of(const struct cap_alert *a, const char *zone, bool full)
{
	static const char *const en[] = { "en" };
	struct render_in in = { .alert = a, .alert_id = "A-1", .team = &team,
		.langs = en, .nlangs = 1, .timezone = zone };
	struct render_doc_in di = { .recipient = "Amani",
		.number = "+254700000001", .duty_phone = "+41 22 555 0100",
		.full = full };
	struct chan_doc d = { 0 };
	struct tocsin_err e = { 0 };

	if (render_doc(&in, &di, &d, &e) != 0)
		fail_msg("render_doc: %s", e.msg);
	return d;
}

static void
test_doc(void **state)
{
	struct cap_alert *a = alert_with("Exercise", INFO("en", "Severe"));
	struct render_in in = { .alert = a, .alert_id = "A-1", .team = &team };
	struct render_doc_in di = { 0 };
	struct chan_doc d, untouched = { .status = (char *)"untouched" };
	struct tocsin_err e = { 0 };

	(void)state;
	replace(&a->infos[0].sender_name, "DNS desk");
	replace(&a->infos[0].instruction, "Freeze\nchanges.");
	/* a summary: the one-line fields, local time in the contact's zone */
	d = doc_of(a, NULL, false);
	assert_string_equal(d.status, "Exercise");
	assert_null(d.msg_type_line);
	assert_string_equal(d.alert_id, "A-1");
	assert_string_equal(d.cap_identifier, "ID-1");
	assert_string_equal(d.issuer, "DNS desk (desk@x.example)");
	assert_string_equal(d.sent_utc, "2026-11-25 10:00 UTC");
	assert_string_equal(d.sent_local, "2026-11-25 13:00 EAT (UTC+03:00), "
	    "Africa/Nairobi");
	assert_string_equal(d.team, "ke, domain ke (Kenya Network "
	    "Information Centre)");
	assert_string_equal(d.recipient, "Amani");
	assert_string_equal(d.number, "+254700000001");
	assert_string_equal(d.duty_phone, "+41 22 555 0100");
	assert_null(d.ack_phone);
	assert_string_equal(d.lang, "en");
	assert_string_equal(d.headline, "H-en");
	assert_string_equal(d.event, "E-en");
	assert_string_equal(d.grading, "Severe / Immediate / Observed");
	assert_string_equal(d.area, "Global");
	assert_false(d.full);
	assert_null(d.description);
	assert_null(d.instruction);
	assert_null(d.note);
	render_doc_free(&d);
	assert_null(d.status);

	/* full: the long texts; no sender name: the sender alone; a zone
	   that cannot be read: UTC only */
	replace(&a->infos[0].sender_name, NULL);
	d = doc_of(a, "Nowhere/Zone", true);
	assert_true(d.full);
	assert_string_equal(d.issuer, "desk@x.example");
	assert_string_equal(d.sent_utc, "2026-11-25 10:00 UTC");
	assert_null(d.sent_local);
	assert_string_equal(d.description, "D-en");
	assert_string_equal(d.instruction, "Freeze\nchanges.");
	assert_null(d.note);
	render_doc_free(&d);
	cap_free(a);

	/* a Cancel without info: what it does, its note, no info fields */
	a = parse("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">"
	    "<identifier>ID-2</identifier><sender>desk@x.example</sender>"
	    "<sent>2026-11-25T11:00:00-00:00</sent><status>Actual</status>"
	    "<msgType>Cancel</msgType><scope>Private</scope>"
	    "<addresses>ke</addresses><note>Sent in error.</note>"
	    "<references>desk@x.example,ID-1,2026-11-25T10:00:00-00:00"
	    "</references></alert>");
	d = doc_of(a, "Europe/Paris", true);
	assert_string_equal(d.msg_type_line, "Cancel: this message cancels "
	    "an earlier alert (desk@x.example,ID-1,2026-11-25T10:00:00-00:00).");
	assert_string_equal(d.issuer, "desk@x.example");
	assert_string_equal(d.sent_local, "2026-11-25 12:00 CET (UTC+01:00), "
	    "Europe/Paris");
	assert_string_equal(d.note, "Sent in error.");
	assert_null(d.lang);
	assert_null(d.headline);
	assert_null(d.grading);
	assert_null(d.area);
	render_doc_free(&d);
	render_doc_free(NULL);

	/* what a page cannot be made without; *out untouched */
	d = untouched;
	assert_int_equal(render_doc(NULL, &di, &d, &e), TOCSIN_EINTERNAL);
	in.team = NULL;
	assert_int_equal(render_doc(&in, &di, &d, &e), TOCSIN_EINTERNAL);
	in.team = &team;
	assert_int_equal(render_doc(&in, NULL, &d, &e), TOCSIN_EINTERNAL);
	assert_ptr_equal(d.status, untouched.status);
	assert_null(d.issuer);
	cap_free(a);
}

/* ---- the notice that a team acknowledged ---- */

static void
must_start(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* The notice for a of team ke, acknowledged by by via via; contact is
   who the gateway knows it was (NULL: nobody it knows). */
static void
notice_by(const struct cap_alert *a, const char *by, const char *contact,
    const char *via, char **body, char **short_text)
{
	static const char *const en[] = { "en" };
	struct render_in in = {
		.alert = a, .alert_id = "A-1", .team = &team, .langs = en,
		.nlangs = 1, .ack_url = "https://a.example/k/SECRETLINK",
		.ack_code = "47114711",
	};
	struct render_ack ack = {
		.by = by, .via = via, .strength = "unsigned",
		.contact = contact,
		.at = 1795600800,	/* 2026-11-25 10:00 UTC */
	};
	struct tocsin_err e = { 0 };
	size_t len = 0;

	*body = NULL;
	*short_text = NULL;
	if (render_notice(&in, &ack, body, &len, short_text, &e) != 0)
		fail_msg("render_notice: %s", e.msg);
	assert_non_null(*body);
	assert_non_null(*short_text);
	assert_int_equal(strlen(*body), len);
	must_be_clean_utf8(*body);
	must_be_clean_utf8(*short_text);
	assert_null(strchr(*short_text, '\n'));
}

/* A notice of a contact the gateway knows (by number, key, own link). */
static void
notice(const struct cap_alert *a, const char *by, const char *via,
    char **body, char **short_text)
{
	notice_by(a, by, by, via, body, short_text);
}

/* The whole line of body that starts with prefix (which must be there
   exactly once), without its LF, in a static buffer. */
static const char *
line_of(const char *body, const char *prefix)
{
	static char line[1024];
	size_t k = strlen(prefix);

	assert_int_equal(lines_starting(body, prefix), 1);
	for (const char *p = body; ; p = strchr(p, '\n') + 1)
		if (strncmp(p, prefix, k) == 0) {
			size_t n = strcspn(p, "\n");

			assert_true(n < sizeof(line));
			memcpy(line, p, n);
			line[n] = '\0';
			return line;
		}
}

static void
test_notice(void **state)
{
	struct cap_alert *a = alert_with("Actual", INFO("en", "Severe"));
	char *body, *sh;

	(void)state;
	notice(a, "Ann Lee", "drop", &body, &sh);
	assert_memory_equal(body, "ACKNOWLEDGED\n", 13);
	must_contain(body, "\nAcknowledged by: Ann Lee\n");
	must_contain(body, "\nHow: drop\n");
	must_contain(body, "\nStrength: unsigned\n");
	must_contain(body, "\nWhen: 2026-11-25 10:00 UTC, local 2026-11-25 "
	    "13:00 EAT (UTC+03:00)\n");
	must_contain(body, "\nAlert: A-1\n");
	must_contain(body, "Team ke has acknowledged this alert");
	must_contain(body, "\nHeadline: H-en\n");
	/* nothing more is asked: no code, no link */
	assert_null(strstr(body, "47114711"));
	assert_null(strstr(body, "SECRETLINK"));
	assert_null(strstr(body, "https://"));
	assert_null(strstr(body, "To acknowledge"));
	assert_null(strstr(body, "EXERCISE"));
	assert_null(strstr(sh, "47114711"));
	assert_null(strstr(sh, "SECRETLINK"));
	assert_string_equal(sh, "ACKNOWLEDGED ke by Ann Lee (drop) at "
	    "2026-11-25 10:00 UTC. No action needed: H-en");
	free(body);
	free(sh);
	cap_free(a);

	/* an Exercise alert's notice carries the banner, right after the
	   first line */
	a = alert_with("Exercise", INFO("en", "Minor"));
	notice(a, "Bo", "sms", &body, &sh);
	assert_memory_equal(body, "ACKNOWLEDGED\n" EXERCISE_BANNER,
	    strlen("ACKNOWLEDGED\n" EXERCISE_BANNER));
	must_start(sh, "ACKNOWLEDGED ke by Bo (sms) at 20");
	free(body);
	free(sh);
	cap_free(a);

	/* no headline: the event */
	a = alert_with("Actual", INFO("en", "Minor"));
	replace(&a->infos[0].headline, NULL);
	notice(a, "Bo", "web", &body, &sh);
	must_contain(body, "\nHeadline: E-en\n");
	must_contain(sh, "No action needed: E-en");
	free(body);
	free(sh);
	cap_free(a);
}

/* A hostile name stays on its own line: no header, no line of ours. */
static void
test_notice_hostile(void **state)
{
	struct cap_alert *a = alert_with("Actual", INFO("en", "Severe"));
	char *body, *sh;

	(void)state;
	notice(a, "Eve\r\nBcc: x@evil.example\r\n\r\nACKNOWLEDGED", "mail\nX",
	    &body, &sh);
	assert_string_equal(line_of(body, "Acknowledged by: "),
	    "Acknowledged by: Eve Bcc: x@evil.example  ACKNOWLEDGED");
	assert_string_equal(line_of(body, "How: "), "How: mail X");
	assert_int_equal(lines_starting(body, "Bcc"), 0);
	assert_int_equal(lines_starting(body, "ACKNOWLEDGED"), 1);
	assert_int_equal(lines_starting(body, "X"), 0);
	assert_null(strchr(body, '\r'));
	assert_null(strchr(sh, '\r'));
	must_start(sh, "ACKNOWLEDGED ke by Eve Bcc: x@evil.example  "
	    "ACKNOWLEDGED (mail X) at 20");
	free(body);
	free(sh);

	/* controls, DEL, C1 (NEL), lone CR and bad UTF-8 */
	notice(a, "A\x01" "B\x1b[2J\x7f" "C\xc2\x85" "D\rE\xff", "drop", &body,
	    &sh);
	assert_string_equal(line_of(body, "Acknowledged by: "),
	    "Acknowledged by: AB[2JCD E" FFFD);
	must_start(sh, "ACKNOWLEDGED ke by AB[2JCD E" FFFD " (drop) at 20");
	assert_int_equal(lines_starting(body, "E"), 0);
	free(body);
	free(sh);
	cap_free(a);
}

static void
test_notice_errors(void **state)
{
	struct cap_alert *a = alert_with("Actual", INFO("en", "Severe"));
	struct render_in in = { .alert = a, .alert_id = "A-1", .team = &team };
	struct render_ack ack = { .by = "Ann", .via = "web",
		.strength = "link", .at = 0 };
	struct tocsin_err e = { 0 };
	char *body = (char *)"untouched", *sh = (char *)"untouched";
	size_t len = 7;

	(void)state;
	assert_int_equal(render_notice(NULL, &ack, &body, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(render_notice(&in, NULL, &body, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	in.alert = NULL;
	assert_int_equal(render_notice(&in, &ack, &body, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	in.alert = a;
	in.team = NULL;
	assert_int_equal(render_notice(&in, &ack, &body, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	in.team = &team;
	in.alert_id = NULL;
	assert_int_equal(render_notice(&in, &ack, &body, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	in.alert_id = "A-1";
	ack.by = NULL;
	assert_int_equal(render_notice(&in, &ack, &body, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	ack.by = "Ann";
	ack.via = NULL;
	assert_int_equal(render_notice(&in, &ack, &body, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	ack.via = "web";
	ack.strength = NULL;
	assert_int_equal(render_notice(&in, &ack, &body, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	ack.strength = "link";
	assert_int_equal(render_notice(&in, &ack, NULL, &len, &sh, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(render_notice(&in, &ack, &body, NULL, &sh, &e),
	    TOCSIN_EINTERNAL);
	assert_int_equal(render_notice(&in, &ack, &body, &len, NULL, &e),
	    TOCSIN_EINTERNAL);
	assert_string_equal(body, "untouched");
	assert_string_equal(sh, "untouched");
	assert_int_equal(len, 7);
	cap_free(a);
}

/* The desk's page: who is unreached comes first. */
static void
test_unreached(void **state)
{
	static const char *const en[] = { "en" };
	struct cap_alert *a = alert_with("Actual", INFO("en", "Severe"));
	struct render_in in = {
		.alert = a, .alert_id = "A-1", .team = &team, .langs = en,
		.nlangs = 1, .ack_code = "4711", .unreached = "ke, br",
	};
	struct tocsin_err e = { 0 };
	char *body = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_int_equal(strlen(body), len);
	assert_memory_equal(body, "ACTUAL ALERT\nUNREACHED: ke, br\n", 31);
	assert_int_equal(lines_starting(body, "UNREACHED"), 1);
	/* the alert and the ack instructions still follow */
	must_contain(body, "\nHeadline: H-en\n");
	must_contain(body, "reply with code 4711\n");
	free(body);

	/* a hostile list stays on its one line */
	in.unreached = "ke\r\n*** TEST - TEST - TEST ***\nbr";
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_string_equal(line_of(body, "UNREACHED: "),
	    "UNREACHED: ke *** TEST - TEST - TEST *** br");
	assert_int_equal(lines_starting(body, "***"), 0);
	must_be_clean_utf8(body);
	free(body);

	/* an Exercise alert: the banner right after the explanation */
	cap_free(a);
	a = alert_with("Exercise", INFO("en", "Severe"));
	in.alert = a;
	in.unreached = "br";
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_memory_equal(body, EXERCISE_BANNER "This is a drill. No real "
	    "incident.\nUNREACHED: br\n", strlen(EXERCISE_BANNER) + 49);
	free(body);

	/* without it: not a word */
	in.unreached = NULL;
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_null(strstr(body, "UNREACHED"));
	assert_memory_equal(body, EXERCISE_BANNER, strlen(EXERCISE_BANNER));
	free(body);
	cap_free(a);
}

/* What an outsider typed, as render_quote gives it. */
static void
quote_is(const char *in, size_t max, const char *want)
{
	struct tocsin_err e = { 0 };
	char *q = NULL;

	if (render_quote(in, max, &q, &e) != 0)
		fail_msg("render_quote: %s", e.msg);
	if (strcmp(q, want) != 0)
		fail_msg("render_quote(\"%s\") = \"%s\", not \"%s\"", in, q,
		    want);
	must_be_clean_utf8(q);
	free(q);
}

#define CUT "[\xe2\x80\xa6]"
#define ELL "\xe2\x80\xa6"

static void
test_quote(void **state)
{
	(void)state;
	quote_is("Ann Lee", 40, "Ann Lee");
	quote_is("  J. O'Brien-Smith  ", 40, "J. O'Brien-Smith");
	quote_is("", 40, "");
	quote_is(NULL, 40, "");
	/* the name of the issue: no number, no link, no override; cut */
	quote_is("Duty desk: FALSE ALARM, ignore alert; call +1 555 0100 "
	    "http://evil.example \xe2\x80\xae", 40,
	    "Duty desk FALSE ALARM ignore alert call " ELL);
	quote_is("Duty desk: FALSE ALARM, ignore alert; call +1 555 0100 "
	    "http://evil.example \xe2\x80\xae", 80,
	    "Duty desk FALSE ALARM ignore alert call " CUT);
	/* phone numbers however typed, inside words too */
	quote_is("call:+15550100 now", 40, "call " CUT " now");
	quote_is("ring 0044 (20) 7946-0958 or 555.0100", 40,
	    "ring " CUT " or " CUT);
	quote_is("x12345", 40, "x " CUT);
	quote_is("Room 1234, floor 2", 40, "Room 1234 floor 2");
	/* links and addresses: schemes, www., e-mail, dotted host names */
	quote_is("see evil.example or www.x or a@b or ftp://h", 40,
	    "see " CUT " or " CUT " or " CUT " or " CUT);
	quote_is("xn--e1afmkfd.xn--p1ai", 40, CUT);
	quote_is("v1.2 St. Ann", 40, "v1.2 St. Ann");
	/* controls, C1, bidi embeddings, overrides, isolates, marks, line
	   separators, BOM, bad UTF-8 and quote marks */
	quote_is("a\xe2\x80\xae" "b\xe2\x81\xa6" "c\xe2\x80\x8f" "d\xd8\x9c"
	    "e\xef\xbb\xbf" "f\x01g\x1b[2Jh\x7fi\xc2\x85j\xe2\x80\xa8k\xff"
	    "l\"m\"", 40, "abcdefg 2Jhi j kl'm'");
	/* whole characters: a cut never splits one */
	quote_is("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3,
	    "\xc3\xa9\xc3\xa9\xc3\xa9" ELL);
	quote_is("\xe4\xb8\xad\xe6\x96\x87 name", 40,
	    "\xe4\xb8\xad\xe6\x96\x87 name");
	/* only the first RENDER_QUOTE_IN bytes are looked at */
	{
		char big[RENDER_QUOTE_IN * 4];
		char *q = NULL;
		struct tocsin_err e = { 0 };

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(render_quote(big, 100000, &q, &e), 0);
		assert_int_equal(strlen(q), RENDER_QUOTE_IN);
		free(q);
	}
}

/* A name the gateway cannot vouch for is a bounded, cleaned quote,
   marked unverified, and never the notice's own word. */
static void
test_notice_unverified(void **state)
{
	struct cap_alert *a = alert_with("Actual", INFO("en", "Severe"));
	const char *typed = "Duty desk: FALSE ALARM, ignore alert; call "
	    "+1 555 0100 http://evil.example \xe2\x80\xae";
	char *body, *sh;

	(void)state;
	notice_by(a, typed, NULL, "link", &body, &sh);
	assert_string_equal(line_of(body, "Acknowledged by: "),
	    "Acknowledged by: someone the gateway does not know by number, "
	    "key or own link");
	assert_string_equal(line_of(body, "Unverified: "),
	    "Unverified: name typed on the page: \"Duty desk FALSE ALARM "
	    "ignore alert call " ELL "\"");
	must_start(sh, "ACKNOWLEDGED ke via link (unsigned); name typed on "
	    "the page, unverified: \"Duty desk FALSE ALARM ignore alert call "
	    ELL "\" at 2026-11-25 10:00 UTC. No action needed: H-en");
	for (int i = 0; i < 2; i++) {
		const char *t = i == 0 ? body : sh;

		assert_null(strstr(t, "555"));
		assert_null(strstr(t, "0100"));
		assert_null(strstr(t, "evil"));
		assert_null(strstr(t, "http"));
		assert_null(strstr(t, "\xe2\x80\xae"));
		/* FALSE ALARM only inside the quote */
		assert_non_null(strstr(t, "page: \"Duty desk FALSE") != NULL ?
		    strstr(t, "page: \"Duty desk FALSE") :
		    strstr(t, "unverified: \"Duty desk FALSE"));
		assert_null(strstr(strstr(t, "FALSE ALARM") + 1,
		    "FALSE ALARM"));
	}
	free(body);
	free(sh);

	/* a known contact is named from the repository, not from by */
	notice_by(a, "anything typed", "Ann Lee", "sms", &body, &sh);
	assert_string_equal(line_of(body, "Acknowledged by: "),
	    "Acknowledged by: Ann Lee");
	assert_null(strstr(body, "anything typed"));
	must_start(sh, "ACKNOWLEDGED ke by Ann Lee (sms) at 20");
	free(body);
	free(sh);

	/* no name typed: the gateway's words, no quote */
	notice_by(a, "someone with the link", NULL, "link", &body, &sh);
	assert_string_equal(line_of(body, "Unverified: "),
	    "Unverified: name typed on the page: none");
	must_start(sh, "ACKNOWLEDGED ke via link (unsigned); name typed on "
	    "the page: none at 20");
	free(body);
	free(sh);
	/* nothing but what is taken out: an empty quote says so */
	notice_by(a, "+1 555 0100", NULL, "link", &body, &sh);
	assert_string_equal(line_of(body, "Unverified: "),
	    "Unverified: name typed on the page: \"[\xe2\x80\xa6]\"");
	free(body);
	free(sh);

	/* an ack file's "by:" line is quoted as such */
	notice_by(a, "Bo", NULL, "drop", &body, &sh);
	assert_string_equal(line_of(body, "Unverified: "),
	    "Unverified: name written in the ack file: \"Bo\"");
	free(body);
	free(sh);

	/* an operator's entry is the desk's own word */
	notice_by(a, "Duty officer Ann", NULL, "operator:phone", &body, &sh);
	assert_string_equal(line_of(body, "Acknowledged by: "),
	    "Acknowledged by: Duty officer Ann");
	free(body);
	free(sh);
	cap_free(a);
}

/* A team's e-mail to contacts who read different languages: the ack
   instructions come in the labels' language, then once in each other
   reader's first language whose words differ; a language without a
   catalog reads the English ones, once. */
static void
test_ack_lines_for_each_reader(void **state)
{
	const char *dir = getenv("TOCSIN_LOCALEDIR");
	struct i18n_cat *cat = NULL;
	struct tocsin_err e = { 0 };
	struct cap_alert *a = alert_with("Actual", INFO("en-US", "Severe")
	    INFO("fr-FR", "Severe"));
	static const char *const langs[] = { "fr", "en", "en" };
	static const char *const fr_en[] = { "fr", "en" };
	static const char *const fr_fr[] = { "fr", "fr" };
	static const char *const fr_xx_yy[] = { "fr", "xx", "yy", "es" };
	static const char *const fr_es[] = { "fr", "es", "en", "zh", "ru",
		"ar" };
	static const char fr[] = "Pour accuser réception pour l'équipe ke";
	static const char en[] = "To acknowledge for team ke";
	struct render_in in = { .alert = a, .alert_id = "A-1", .team = &team,
		.langs = langs, .nlangs = 3, .ack_url = "https://gw.example/ack/"
		"fedcba9876543210fedcba9876543210", .ack_code = "12345678" };
	char *body;
	size_t len, codes;

	(void)state;
	assert_non_null(dir);
	assert_int_equal(i18n_load(dir, &cat, &e), 0);
	in.cat = cat;
	/* one reader or none: the labels' language alone, as before */
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_int_equal(count(body, fr), 1);
	assert_int_equal(count(body, en), 0);
	codes = count(body, "12345678");
	free(body);
	/* French and English readers: both, French first */
	in.readers = fr_en;
	in.nreaders = 2;
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_int_equal(count(body, fr), 1);
	assert_int_equal(count(body, en), 1);
	assert_true(strstr(body, fr) < strstr(body, en));
	assert_int_equal(count(body, "12345678"), codes + 1);
	free(body);
	/* two French readers: French once */
	in.readers = fr_fr;
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_int_equal(count(body, fr), 1);
	assert_int_equal(count(body, en), 0);
	free(body);
	/* languages without a catalog read the English words, once */
	in.readers = fr_xx_yy;
	in.nreaders = 4;
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_int_equal(count(body, fr), 1);
	assert_int_equal(count(body, en), 1);
	assert_int_equal(count(body, "Para confirmar"), 1);
	free(body);
	/* at most RENDER_ACK_LANGS languages */
	in.readers = fr_es;
	in.nreaders = 6;
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_int_equal(count(body, "12345678"), codes + RENDER_ACK_LANGS -
	    1);
	free(body);
	/* nothing to ack (a receipt): no lines in any language */
	in.ack_url = in.ack_code = NULL;
	assert_int_equal(render_body(&in, &body, &len, &e), 0);
	assert_int_equal(count(body, fr) + count(body, en), 0);
	free(body);
	cap_free(a);
	i18n_free(cat);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exercise_banner),
		cmocka_unit_test(test_languages),
		cmocka_unit_test(test_fields_and_footer),
		cmocka_unit_test(test_normalisation),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_tz_known),
		cmocka_unit_test(test_tz_against_libc),
		cmocka_unit_test(test_tz_names),
		cmocka_unit_test(test_tzif_made),
		cmocka_unit_test(test_tzif_corrupt),
		cmocka_unit_test(test_tz_zonedir),
		cmocka_unit_test(test_render_errors),
		cmocka_unit_test(test_doc),
		cmocka_unit_test(test_notice),
		cmocka_unit_test(test_notice_hostile),
		cmocka_unit_test(test_notice_errors),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_notice_unverified),
		cmocka_unit_test(test_unreached),
		cmocka_unit_test(test_ack_lines_for_each_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
