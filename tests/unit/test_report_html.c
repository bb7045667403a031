/*
 * test_report_html.c: the after-action report as HTML.
 *
 * The reports are filled by hand (report_html needs nothing of
 * report_build), with every outcome and every kind of event, and with
 * hostile text where outside text goes: headline, team ids, who acked,
 * failure reasons, group keys.  Each page is read back by a small tag
 * scanner that knows the few elements and attributes the writer may use,
 * so that any other tag, any attribute that could load or run something
 * (src, href, on*), a raw < or > in text, a bad entity or an unclosed
 * element fails the test; the page must also be well-formed UTF-8 with no
 * control character but the newline.  Then: one cell per team carrying
 * its outcome, the SVG timeline with its legend in both layouts (a row
 * per team, and events piled per kind above 60 teams), the exercise and
 * drill banners, durations as "4m 10s", an empty report, a write error.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "report.h"
#include "utf8.h"
#include "unit_util.h"

#define SCRIPT "<script>alert(1)</script>"
#define SCRIPT_ESC "&lt;script&gt;alert(1)&lt;/script&gt;"
#define QUOTES "\"&'"
#define QUOTES_ESC "&quot;&amp;&#39;"
#define IMG "x\"><img src=x onerror=alert(1)>"
#define MAXTEAMS 70

static const char *const outcome_keys[] = { "acked", "acked-escalated",
	"unreached", "pending", "cancelled" };

/* One report and the storage behind it. */
struct fixture {
	struct report r;
	struct report_team teams[MAXTEAMS];
	char ids[MAXTEAMS][40];
	struct report_event events[MAXTEAMS * 6 + 4];
	struct report_group channels[3], regions[2], strengths[2];
	struct report_escalation escalations[MAXTEAMS];
	struct report_failure failures[3];
};

/* ---- the reports ---- */

static void
fill_groups(struct fixture *f)
{
	static const struct report_stats s = { 3, 250, 3600, 90061 };

	f->channels[0] = (struct report_group){ "pgp-email", s, s, 3 };
	f->channels[1] = (struct report_group){ "sms", s, { 0 }, 2 };
	f->channels[2] = (struct report_group){ SCRIPT, s, s, 1 };
	f->regions[0] = (struct report_group){ "AF", s, s, 2 };
	f->regions[1] = (struct report_group){ "", s, s, 1 };
	f->strengths[0] = (struct report_group){ "signed", { 0 }, s, 1 };
	f->strengths[1] = (struct report_group){ QUOTES, { 0 }, s, 1 };
	f->r.by_channel = f->channels;
	f->r.nchannel = 3;
	f->r.by_region = f->regions;
	f->r.nregion = 2;
	f->r.by_strength = f->strengths;
	f->r.nstrength = 2;
	f->r.first = s;
	f->r.ack = (struct report_stats){ 2, 250, 3600, 90061 };
}

static void
fill_failures(struct fixture *f)
{
	f->failures[0] = (struct report_failure){ .reason = SCRIPT
	    " 550 refused", .channel = "pgp-email", .region = "EU",
	    .count = 7, .dead = 7, .attempts = 7 };
	f->failures[1] = (struct report_failure){ .reason = QUOTES IMG,
	    .channel = "sms", .region = QUOTES, .count = 2, .cancelled = 2,
	    .attempts = 5 };
	/* ill-formed UTF-8, a control, a right-to-left override */
	f->failures[2] = (struct report_failure){ .reason =
	    "bad\xff\x01utf8 \xe2\x80\xae" "desrever", .channel = "fax",
	    .region = "", .count = 1, .retrying = 1, .attempts = 1 };
	f->r.failures = f->failures;
	f->r.nfailures = 3;
}

static void
add_event(struct fixture *f, int64_t at, enum report_event_kind kind,
    char *team, char *channel, int step)
{
	f->events[f->r.nevents++] = (struct report_event){ at, kind, team,
	    channel, step };
}

/* Team i: outcome i % 5, the first three with hostile ids. */
static void
fill_team(struct fixture *f, size_t i)
{
	struct report_team *t = &f->teams[i];
	char *id = f->ids[i];

	if (i == 0)
		snprintf(id, sizeof(f->ids[i]), "%s", SCRIPT);
	else if (i == 1)
		snprintf(id, sizeof(f->ids[i]), "%s", QUOTES);
	else if (i == 2)
		snprintf(id, sizeof(f->ids[i]), "%s", IMG);
	else
		snprintf(id, sizeof(f->ids[i]), "t%02zu", i);
	*t = (struct report_team){ .id = id, .region = i % 2 ? "AF" : "",
	    .state = "active", .outcome = (enum report_outcome)(i % 5),
	    .first = (int64_t)i + 2, .first_channel = "pgp-email", .ack = -1,
	    .sent = 1 };
	add_event(f, t->first, REPORT_EV_SENT, id, "pgp-email", 0);
	if (t->outcome == REPORT_ACKED || t->outcome ==
	    REPORT_ACKED_ESCALATED) {
		t->ack = t->outcome == REPORT_ACKED ? 250 : 1000 + (int64_t)i;
		t->ack_by = i % 2 ? SCRIPT : QUOTES;
		t->ack_via = "link";
		t->ack_strength = i % 2 ? "unsigned" : "signed";
	}
	if (t->outcome == REPORT_ACKED_ESCALATED ||
	    t->outcome == REPORT_UNREACHED) {
		t->step = 1;
		t->escalations = 1;
		add_event(f, 900, REPORT_EV_ESCALATED, id, NULL, 1);
		add_event(f, 901, REPORT_EV_SENT, id, "sms", 0);
		f->escalations[f->r.nescalations++] =
		    (struct report_escalation){ id, 0, 1, 900,
		    "no ack 900 s after step 0 " SCRIPT };
	}
	if (t->outcome == REPORT_UNREACHED) {
		t->failed = 1;
		add_event(f, 960, REPORT_EV_FAILED, id, "sms", 0);
		add_event(f, 2700, REPORT_EV_UNREACHED, id, NULL, 0);
	}
	if (t->ack >= 0)
		add_event(f, t->ack, REPORT_EV_ACKED, id, NULL, 0);
}

static int
event_cmp(const void *a, const void *b)
{
	const struct report_event *x = a, *y = b;

	return (x->at > y->at) - (x->at < y->at);
}

/* A report of n teams (0..MAXTEAMS) of alert ALERT-1, status Actual. */
static struct fixture *
fixture(size_t n)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_true(n <= MAXTEAMS);
	f->r.alert_id = "ALERT-1";
	f->r.identifier = "ID-" SCRIPT;
	f->r.sender = "desk@x.example";
	f->r.status = "Actual";
	f->r.msg_type = "Alert";
	f->r.headline = SCRIPT " " QUOTES " headline";
	f->r.severity = 4;
	f->r.accepted = 1795600800;	/* 2026-11-25 10:00:00 UTC */
	f->r.teams = f->teams;
	f->r.events = f->events;
	f->r.escalations = f->escalations;
	for (size_t i = 0; i < n; i++)
		fill_team(f, i);
	f->r.nteams = n;
	for (size_t i = 0; i < n; i++) {
		f->r.nacked += f->teams[i].ack >= 0;
		f->r.nunreached += f->teams[i].outcome == REPORT_UNREACHED;
		f->r.npending += f->teams[i].outcome == REPORT_PENDING;
	}
	if (f->r.nunreached > 0)
		add_event(f, 2701, REPORT_EV_DESK, "desk", "pgp-email", 0);
	/* a kind this writer does not know is left out, not drawn */
	add_event(f, 5, (enum report_event_kind)42, "t03", NULL, 0);
	qsort(f->events, f->r.nevents, sizeof(f->events[0]), event_cmp);
	fill_groups(f);
	fill_failures(f);
	return f;
}

/* ---- reading the page back ---- */

static char *
render(const struct report *r, size_t *ret_len)
{
	struct tocsin_err e = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int rc;

	assert_non_null(out);
	rc = report_html(r, out, &e);
	if (rc != 0)
		fail_msg("report_html: %d %s", rc, e.msg);
	assert_int_equal(fclose(out), 0);
	assert_non_null(buf);
	if (ret_len != NULL)
		*ret_len = len;
	return buf;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0, k = strlen(needle);

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += k)
		n++;
	return n;
}

static bool
has_ci(const char *hay, const char *needle)
{
	size_t k = strlen(needle);

	for (const char *p = hay; *p != '\0'; p++)
		if (strncasecmp(p, needle, k) == 0)
			return true;
	return false;
}

static bool
in_list(const char *s, size_t n, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strlen(list[i]) == n && strncmp(list[i], s, n) == 0)
			return true;
	return false;
}

/* Everything the writer may use; anything else is a failure. */
static const char *const tags[] = { "html", "head", "meta", "title",
	"style", "body", "div", "span", "section", "header", "footer", "h1",
	"h2", "h3", "p", "b", "small", "dl", "dt", "dd", "table", "thead",
	"tbody", "tr", "th", "td", "svg", "defs", "pattern", "rect", "line",
	"circle", "path", "text", "g", NULL };
static const char *const attrs[] = { "lang", "charset", "http-equiv",
	"content", "name", "class", "id", "role", "dir", "title",
	"data-team", "data-outcome", "data-key", "rowspan", "colspan",
	"viewBox", "width", "height", "aria-label", "x", "y", "x1", "y1",
	"x2", "y2", "cx", "cy", "r", "d", "fill", "stroke-width",
	"patternUnits", "patternTransform", "text-anchor", NULL };

struct scan {
	const char *doc, *p;
	const char *stack[64];
	size_t depth;
};

static void
scan_fail(const struct scan *s, const char *what)
{
	size_t off = (size_t)(s->p - s->doc);

	fail_msg("%s at byte %zu: \"%.60s\"", what, off,
	    s->p - (off < 20 ? off : 20));
}

/* An entity at s->p ('&'): a name or a decimal reference, then ';'. */
static void
scan_entity(struct scan *s)
{
	const char *q = s->p + 1;

	if (*q == '#')
		q++;
	while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9'))
		q++;
	if (*q != ';' || q == s->p + 1)
		scan_fail(s, "bad entity");
	s->p = q + 1;
}

/* One attribute value in double quotes: no raw < or >, entities only. */
static void
scan_value(struct scan *s)
{
	if (*s->p != '"')
		scan_fail(s, "attribute value not in double quotes");
	s->p++;
	while (*s->p != '"') {
		if (*s->p == '\0' || *s->p == '<' || *s->p == '>')
			scan_fail(s, "raw character in an attribute value");
		if (*s->p == '&')
			scan_entity(s);
		else
			s->p++;
	}
	s->p++;
}

/* The rest of a start tag after its name; true when it closed itself. */
static bool
scan_attrs(struct scan *s)
{
	for (;;) {
		const char *name;

		while (*s->p == ' ' || *s->p == '\n')
			s->p++;
		if (*s->p == '>') {
			s->p++;
			return false;
		}
		if (s->p[0] == '/' && s->p[1] == '>') {
			s->p += 2;
			return true;
		}
		name = s->p;
		while ((*s->p >= 'a' && *s->p <= 'z') || (*s->p >= 'A' &&
		    *s->p <= 'Z') || (*s->p >= '0' && *s->p <= '9') ||
		    *s->p == '-')
			s->p++;
		if (!in_list(name, (size_t)(s->p - name), attrs))
			scan_fail(s, "attribute not allowed");
		if (*s->p != '=')
			scan_fail(s, "attribute without a value");
		s->p++;
		scan_value(s);
	}
}

/* A <style> element's text: no import, no url() but to a fragment. */
static void
scan_style(struct scan *s)
{
	const char *end = strstr(s->p, "</style>");
	const char *u;

	if (end == NULL)
		scan_fail(s, "unclosed style");
	for (u = s->p; (u = strstr(u, "url(")) != NULL && u < end; u++)
		if (u[4] != '#')
			scan_fail(s, "url() to outside the page");
	for (u = s->p; u < end; u++)
		if (*u == '<' || strncasecmp(u, "@import", 7) == 0)
			scan_fail(s, "import or markup in the style");
	s->p = end;
}

static void
scan_tag(struct scan *s)
{
	const char *name;
	size_t n;
	bool end = s->p[1] == '/';

	s->p += end ? 2 : 1;
	name = s->p;
	while ((*s->p >= 'a' && *s->p <= 'z') || (*s->p >= '0' && *s->p <= '9'))
		s->p++;
	n = (size_t)(s->p - name);
	if (!in_list(name, n, tags))
		scan_fail(s, "element not allowed");
	if (end) {
		if (*s->p != '>' || s->depth == 0 ||
		    strlen(s->stack[s->depth - 1]) != n ||
		    strncmp(s->stack[s->depth - 1], name, n) != 0)
			scan_fail(s, "end tag does not match");
		s->depth--;
		s->p++;
		return;
	}
	if (scan_attrs(s) || (n == 4 && strncmp(name, "meta", 4) == 0))
		return;
	if (s->depth == sizeof(s->stack) / sizeof(s->stack[0]))
		scan_fail(s, "too deep");
	for (size_t i = 0; tags[i] != NULL; i++)
		if (strlen(tags[i]) == n && strncmp(tags[i], name, n) == 0)
			s->stack[s->depth++] = tags[i];
	if (n == 5 && strncmp(name, "style", 5) == 0)
		scan_style(s);
}

/* The page as the writer promises it: see the comment at the top. */
static void
check_page(const char *doc)
{
	static const char doctype[] = "<!DOCTYPE html>\n";
	struct scan s = { .doc = doc, .p = doc };

	if (strncmp(doc, doctype, strlen(doctype)) != 0)
		fail_msg("no doctype");
	s.p += strlen(doctype);
	while (*s.p != '\0') {
		if (*s.p == '<')
			scan_tag(&s);
		else if (*s.p == '>')
			scan_fail(&s, "raw > in text");
		else if (*s.p == '&')
			scan_entity(&s);
		else
			s.p++;
	}
	if (s.depth != 0)
		fail_msg("%zu elements left open, the last <%s>", s.depth,
		    s.stack[s.depth - 1]);
}

static void
check_utf8(const char *doc, size_t len)
{
	size_t i = 0, n, skip;
	uint32_t cp;

	while (i < len) {
		if ((n = utf8_next((const unsigned char *)doc + i, len - i, &cp,
		    &skip)) == 0)
			fail_msg("ill-formed UTF-8 at byte %zu", i);
		if ((cp < 0x20 && cp != '\n') || (cp >= 0x7f && cp <= 0x9f))
			fail_msg("control U+%04X at byte %zu", (unsigned)cp, i);
		if (cp == 0x202e)
			fail_msg("bidi override at byte %zu", i);
		i += n;
	}
}

/* The SVG's text, in a string of malloc's. */
static char *
svg_of(const char *doc)
{
	const char *a = strstr(doc, "<svg"), *b = strstr(doc, "</svg>");
	char *s;

	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	assert_non_null(s = strndup(a, (size_t)(b - a)));
	return s;
}

/* ---- tests ---- */

/* Hostile text comes out as text, everywhere it is written. */
static void
test_hostile_text_escaped(void **state)
{
	static const size_t sizes[] = { 3, 5, 70 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct fixture *f = fixture(sizes[k]);
		size_t len;
		char *doc = render(&f->r, &len);

		check_page(doc);
		check_utf8(doc, len);
		assert_false(has_ci(doc, "<script"));
		assert_false(has_ci(doc, "<img"));
		assert_true(count(doc, SCRIPT_ESC) >= 4);
		assert_true(count(doc, QUOTES_ESC) >= 2);
		/* the cut reason: U+FFFD for the bad byte, a space for the
		   control, the override gone */
		assert_non_null(strstr(doc, "bad\xef\xbf\xbd utf8 desrever"));
		assert_int_equal(strlen(doc), len);
		free(doc);
		free(f);
	}
}

/* Text is cut at its limit on a character, never inside one. */
static void
test_long_text_cut(void **state)
{
	struct fixture *f = fixture(3);
	char *lng = unit_rep("\xc3\xa9", 5000);	/* é */
	size_t len;
	char *doc;

	(void)state;
	f->r.headline = lng;
	f->teams[0].ack_by = lng;
	doc = render(&f->r, &len);
	check_utf8(doc, len);
	check_page(doc);
	assert_true(len < 40000);
	assert_non_null(strstr(doc, "\xc3\xa9\xe2\x80\xa6"));	/* é… */
	free(doc);
	free(lng);
	free(f);
}

/* One cell per team with its team and outcome, for every size. */
static void
test_one_cell_per_team(void **state)
{
	static const size_t sizes[] = { 3, 5, 60, 61, 70 };

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct fixture *f = fixture(sizes[k]);
		char *doc = render(&f->r, NULL), want[96];

		assert_int_equal(count(doc, "class=\"cell\""), sizes[k]);
		assert_int_equal(count(doc, "data-team=\""), sizes[k]);
		assert_int_equal(count(doc, "data-outcome=\""), sizes[k]);
		for (size_t i = 0; i < sizeof(outcome_keys) /
		    sizeof(outcome_keys[0]) && i < sizes[k]; i++) {
			snprintf(want, sizeof(want), "data-outcome=\"%s\"",
			    outcome_keys[i]);
			assert_int_equal(count(doc, want),
			    (sizes[k] - i + 4) / 5);
			/* and its legend */
			snprintf(want, sizeof(want), "data-key=\"%s\"",
			    outcome_keys[i]);
			assert_int_equal(count(doc, want), 1);
		}
		assert_int_equal(count(doc, "data-team=\"t03\" "
		    "data-outcome=\"pending\""), sizes[k] > 3);
		assert_int_equal(count(doc, "data-team=\"" SCRIPT_ESC "\" "
		    "data-outcome=\"acked\""), 1);
		assert_int_equal(count(doc, "data-team=\"" QUOTES_ESC "\" "
		    "data-outcome=\"acked-escalated\""), 1);
		free(doc);
		free(f);
	}
}

/* A row per team up to 60 teams, with the desk's row after them. */
static void
test_timeline_rows(void **state)
{
	struct fixture *f = fixture(8);
	char *doc = render(&f->r, NULL), *svg = svg_of(doc);

	(void)state;
	assert_int_equal(count(doc, "<svg"), 1);
	assert_non_null(strstr(svg, "class=\"legend\""));
	assert_non_null(strstr(svg, ">t04</text>"));
	/* a row label is cut at 24 bytes */
	assert_non_null(strstr(svg, ">&lt;script&gt;alert(1)&lt;/script"
	    "\xe2\x80\xa6</text>"));
	assert_non_null(strstr(svg, ">" QUOTES_ESC "</text>"));
	assert_non_null(strstr(svg, ">desk, others</text>"));
	/* every kind has its marker in the legend, with its own shape, and
	   each event its own with hover text; the unknown kind is left out */
	for (int k = 0; k <= REPORT_EV_DESK; k++) {
		static const char *const cls[] = { "sent", "failed",
			"escalated", "acked", "unreached", "desk" };
		char want[64];

		snprintf(want, sizeof(want), "class=\"ev-%s\"", cls[k]);
		assert_true(count(svg, want) >= 2);
	}
	assert_int_equal(count(svg, "<title>"), f->r.nevents - 1);
	assert_non_null(strstr(svg, "<title>t06: escalated to step 1 at 15m"
	    "</title>"));
	assert_non_null(strstr(svg, "<title>t07: failed (sms) at 16m"
	    "</title>"));
	assert_non_null(strstr(svg, "<title>" SCRIPT_ESC ": acknowledged at "
	    "4m 10s</title>"));
	assert_null(strstr(svg, "class=\"more\""));
	/* the axis: the last event at 2701 s, ticks every 5 min to the
	   next one after it */
	assert_non_null(strstr(svg, ">5m</text>"));
	assert_non_null(strstr(svg, ">50m</text>"));
	assert_null(strstr(svg, ">55m</text>"));
	assert_null(strstr(svg, ">4m</text>"));
	free(svg);
	free(doc);
	free(f);
}

/* Above 60 teams: a row per kind, close events piled, in proportion
   when there are too many for a row. */
static void
test_timeline_stacked(void **state)
{
	struct fixture *f = fixture(70);
	char *doc = render(&f->r, NULL), *svg = svg_of(doc);

	(void)state;
	assert_non_null(strstr(svg, "class=\"legend\""));
	assert_null(strstr(svg, ">t04</text>"));
	assert_non_null(strstr(svg, ">delivery sent</text>"));
	assert_non_null(strstr(svg, ">desk paged</text>"));
	/* 70 sends in the first 71 s: 5 events a mark, the count on top */
	assert_non_null(strstr(svg, ">1 mark: up to 5</text>"));
	assert_non_null(strstr(svg, "<title>40 delivery sent from 0s to "));
	assert_non_null(strstr(svg, "text-anchor=\"middle\">40</text>"));
	assert_true(count(svg, "<title>") < f->r.nevents);
	/* few: one mark each, with its team */
	assert_non_null(strstr(svg, "<title>desk: desk paged (pgp-email) at "
	    "45m 1s</title>"));
	free(svg);
	free(doc);
	free(f);
}

static void
test_banners(void **state)
{
	struct fixture *f = fixture(3);
	char *doc;

	(void)state;
	doc = render(&f->r, NULL);
	assert_null(strstr(doc, "class=\"banner"));
	assert_null(strstr(doc, "EXERCISE"));
	free(doc);

	f->r.status = "Exercise";
	doc = render(&f->r, NULL);
	assert_non_null(strstr(doc, "<div class=\"banner exercise\" "
	    "role=\"note\">EXERCISE"));
	assert_non_null(strstr(doc, "<title>EXERCISE: "));
	free(doc);

	f->r.status = "Actual";
	f->r.drill = true;
	doc = render(&f->r, NULL);
	assert_non_null(strstr(doc, "<div class=\"banner exercise\" "
	    "role=\"note\">DRILL"));
	free(doc);

	f->r.drill = false;
	f->r.status = "Test";
	doc = render(&f->r, NULL);
	assert_non_null(strstr(doc, "<div class=\"banner test\""));
	assert_null(strstr(doc, "EXERCISE"));
	free(doc);
	free(f);
}

/* Nothing that could load from elsewhere; the policy that forbids it. */
static void
test_self_contained(void **state)
{
	struct fixture *f = fixture(70);
	char *doc = render(&f->r, NULL);

	(void)state;
	check_page(doc);	/* no src, href, on*, link, script... */
	assert_null(strstr(doc, "http://"));
	assert_null(strstr(doc, "https://"));
	/* src= only in the hostile team id, as text */
	assert_int_equal(count(doc, "src="), count(doc, "&lt;img src="));
	assert_null(strstr(doc, "href"));
	assert_int_equal(count(doc, "url("), count(doc, "url(#"));
	assert_int_equal(count(doc, "<meta http-equiv=\"Content-Security-"
	    "Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
	    "img-src data:\">"), 1);
	assert_non_null(strstr(doc, "<meta charset=\"utf-8\">"));
	assert_non_null(strstr(doc, "@media print{"));
	free(doc);
	free(f);
}

/* Figures and instants as people read them. */
static void
test_figures(void **state)
{
	struct fixture *f = fixture(5);
	char *doc = render(&f->r, NULL);

	(void)state;
	assert_non_null(strstr(doc, "<td class=\"n\">3</td><td class=\"n\">"
	    "4m 10s</td><td class=\"n\">1h</td><td class=\"n\">1d 1h</td>"));
	assert_non_null(strstr(doc, "2026-11-25 10:00:00 UTC"));
	assert_non_null(strstr(doc, "<td>0 &rarr; 1</td><td>15m <small>"
	    "10:15:00Z</small></td>"));
	assert_non_null(strstr(doc, "<b>5</b>teams"));
	assert_non_null(strstr(doc, "Extreme"));
	/* a failure row: reason, channel, region, deliveries, given up,
	   cancelled while failing, retrying, failed attempts */
	assert_non_null(strstr(doc, "<td>" SCRIPT_ESC " 550 refused</td>"
	    "<td>pgp-email</td><td>EU</td><td class=\"n\">7</td><td "
	    "class=\"n\">7</td><td class=\"n\">0</td><td class=\"n\">0</td>"
	    "<td class=\"n\">7</td>"));
	assert_non_null(strstr(doc, "<td>sms</td><td>" QUOTES_ESC "</td><td "
	    "class=\"n\">2</td><td class=\"n\">0</td><td class=\"n\">2</td>"
	    "<td class=\"n\">0</td><td class=\"n\">5</td>"));
	free(doc);
	free(f);
}

/* No teams, no events, no strings at all: still a whole page. */
static void
test_empty(void **state)
{
	struct report r = { 0 };
	size_t len;
	char *doc;

	(void)state;
	doc = render(&r, &len);
	check_page(doc);
	check_utf8(doc, len);
	assert_null(strstr(doc, "class=\"cell\""));
	assert_non_null(strstr(doc, "no teams"));
	assert_non_null(strstr(doc, "no events recorded"));
	free(svg_of(doc));
	assert_non_null(strstr(doc, "class=\"legend\""));
	free(doc);
}

static void
test_write_error(void **state)
{
	struct fixture *f = fixture(3);
	struct tocsin_err e = { 0 };
	FILE *ro = fopen("/dev/null", "r");

	(void)state;
	assert_non_null(ro);
	assert_int_equal(report_html(&f->r, ro, &e), TOCSIN_EIO);
	assert_int_equal(e.code, TOCSIN_EIO);
	fclose(ro);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_text_escaped),
		cmocka_unit_test(test_long_text_cut),
		cmocka_unit_test(test_one_cell_per_team),
		cmocka_unit_test(test_timeline_rows),
		cmocka_unit_test(test_timeline_stacked),
		cmocka_unit_test(test_banners),
		cmocka_unit_test(test_self_contained),
		cmocka_unit_test(test_figures),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
