/*
 * report_html.c: the after-action report as one self-contained HTML5 file.
 *
 * The file is read by the desk long after the alert, mailed around,
 * printed and filed, so it carries everything itself: inline CSS, an
 * inline SVG timeline, no script, no font, no image, no link out, and a
 * Content-Security-Policy that forbids all of it should a string ever slip
 * through.  Every string of the report (headline, team ids, names of who
 * acknowledged, failure reasons) came from outside: each is written
 * through html_text, which escapes & < > " ', turns ill-formed UTF-8 and
 * noncharacters into U+FFFD, controls into spaces, drops bidirectional
 * overrides (a team id must not reverse the row it sits in) and cuts at a
 * character boundary.  Colour is never the only cue: each outcome of the
 * grid has a letter and a border style, each kind of event of the timeline
 * its own shape and fill pattern, so that a black and white print reads
 * the same.  Nothing here allocates; a write error of the stream is the
 * only failure.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base.h"
#include "report.h"

/* Longest text written from each kind of string, in bytes. */
#define HTML_MAX_ID		128	/* alert and team ids, keys */
#define HTML_MAX_LABEL		24	/* a team id as a row label */
#define HTML_MAX_TEXT		1024	/* headline, identifier, ... */
#define HTML_MAX_REASON		512	/* reasons, triggers */

/* Timeline geometry, in SVG user units (1 unit = 1 CSS px at full size). */
#define HTML_TL_W		1000	/* whole width */
#define HTML_TL_LEFT		110	/* row labels */
#define HTML_TL_RIGHT		24
#define HTML_TL_TOP		12
#define HTML_TL_ROW		18	/* a team's row */
#define HTML_TL_MARK		5.0	/* a marker's half size */
#define HTML_TL_ROWS_MAX	60	/* above: events stacked per kind */
#define HTML_TL_STACK		9	/* marks piled at most per bin */
#define HTML_TL_STEP		11	/* one piled mark's height */
#define HTML_TL_BIN		12	/* one pile's width */
#define HTML_TL_PLOT		(HTML_TL_W - HTML_TL_LEFT - HTML_TL_RIGHT)
#define HTML_TL_NBIN		(HTML_TL_PLOT / HTML_TL_BIN + 1)
#define HTML_TL_AXIS		34	/* ticks and labels */
#define HTML_TL_LEGEND		30
/* Later instants are drawn at this one (ten years): the axis stays sane
   whatever the struct holds. */
#define HTML_TL_TMAX		((int64_t)3650 * 86400)

#define HTML_NKINDS		(REPORT_EV_DESK + 1)
#define HTML_NOUTCOMES		(REPORT_CHECKING + 1)

/* Each kind of event: its CSS class, its legend and its verb. */
static const struct html_kind {
	const char *cls;
	const char *legend;
	const char *verb;
} html_kinds[HTML_NKINDS] = {
	[REPORT_EV_SENT] =	{ "sent", "delivery sent", "sent" },
	[REPORT_EV_FAILED] =	{ "failed", "delivery failed", "failed" },
	[REPORT_EV_ESCALATED] =	{ "escalated", "escalation",
				  "escalated" },
	[REPORT_EV_ACKED] =	{ "acked", "ack", "acknowledged" },
	[REPORT_EV_UNREACHED] =	{ "unreached", "unreached",
				  "unreached" },
	[REPORT_EV_DESK] =	{ "desk", "desk paged", "desk paged" },
};

/* Each outcome: the data-outcome value, its letter and its meaning. */
static const struct html_outcome {
	const char *key;
	const char *letter;
	const char *legend;
} html_outcomes[HTML_NOUTCOMES] = {
	[REPORT_ACKED] =		{ "acked", "A", "acked at step 0" },
	[REPORT_ACKED_ESCALATED] =	{ "acked-escalated", "E",
					  "acked after escalation" },
	[REPORT_UNREACHED] =		{ "unreached", "U", "unreached" },
	[REPORT_PENDING] =		{ "pending", "P",
					  "pending (active or held)" },
	[REPORT_CANCELLED] =		{ "cancelled", "C",
					  "cancelled or updated" },
	[REPORT_TOLD] =			{ "told", "T",
					  "told (a receipt: nothing asked)" },
	[REPORT_CHECKING] =		{ "checking", "K",
					  "checking (contacts asked to confirm)" },
};

/* A five-pointed star of radius 1, outer and inner points in turn, for
   the desk's marker (no libm for ten constants). */
static const double html_star[10][2] = {
	{ 0, -1 }, { 0.2645, -0.364 }, { 0.951, -0.309 }, { 0.428, 0.139 },
	{ 0.588, 0.809 }, { 0, 0.45 }, { -0.588, 0.809 }, { -0.428, 0.139 },
	{ -0.951, -0.309 }, { -0.2645, -0.364 },
};

/* Screen: colour, letters and borders; print: black on white, where the
   letters, borders, shapes and patterns carry the meaning alone. */
static const char html_css[] =
"*{box-sizing:border-box}\n"
"body{font-family:system-ui,'DejaVu Sans',sans-serif;color:#111;"
"background:#fff;max-width:1100px;margin:1em auto;padding:0 1em;"
"line-height:1.35}\n"
"h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.2em;margin:1.4em 0 .4em;"
"border-bottom:2px solid #111}h3{font-size:1em;margin:1em 0 .3em}\n"
".banner{border:4px dashed #000;padding:.5em;margin:.5em 0;"
"font-weight:bold;font-size:1.3em;text-align:center;letter-spacing:.08em}\n"
".banner.exercise{background:#fde047}.banner.test{background:#e5e7eb}\n"
"dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;"
"margin:.5em 0}dl.meta dt{font-weight:bold}dl.meta dd{margin:0;"
"overflow-wrap:anywhere}\n"
"table{border-collapse:collapse;margin:.3em 0 1em;font-size:.92em}\n"
"th,td{border:1px solid #888;padding:.2em .5em;text-align:left;"
"vertical-align:top;overflow-wrap:anywhere}\n"
"th{background:#f1f1f1}td.n,th.n{text-align:right;"
"font-variant-numeric:tabular-nums}\n"
"small{color:#444}.none{color:#444;font-style:italic}\n"
".counts{display:flex;flex-wrap:wrap;gap:.6em;margin:.5em 0}\n"
".count{border:2px solid #111;padding:.3em .8em;min-width:7em}\n"
".count b{display:block;font-size:1.6em}\n"
"svg.timeline{width:100%;height:auto;border:1px solid #bbb}\n"
"svg text{font-family:system-ui,'DejaVu Sans',sans-serif;font-size:11px;"
"fill:#111}\n"
"svg .row{fill:#f4f4f4}svg .axis{stroke:#111;stroke-width:1}\n"
"svg .tick{stroke:#ccc;stroke-width:1}svg .more{font-size:9px}\n"
"svg .ev-sent{fill:#fff;stroke:#1d4ed8;stroke-width:1.6}\n"
"svg .ev-failed{fill:none;stroke:#b91c1c;stroke-width:2.4}\n"
"svg .ev-escalated{fill:url(#rh-hatch);stroke:#c2410c;stroke-width:1.2}\n"
"svg .ev-acked{fill:#15803d;stroke:#052e16;stroke-width:1}\n"
"svg .ev-unreached{fill:#450a0a;stroke:#000;stroke-width:1}\n"
"svg .ev-desk{fill:url(#rh-dots);stroke:#6b21a8;stroke-width:1.2}\n"
"svg .p-hatch{stroke:#c2410c}svg .p-dots{fill:#6b21a8}\n"
".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(6.2em,"
"1fr));gap:4px;margin:.5em 0}\n"
".cell,.key{font-family:'DejaVu Sans Mono',monospace;padding:.25em .35em;"
"overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\n"
".sym{display:inline-block;min-width:1.2em;font-weight:bold}\n"
".legend{display:flex;flex-wrap:wrap;gap:.5em;margin:.3em 0 1em}\n"
"[data-outcome=acked],[data-key=acked]{background:#bbf7d0;"
"border:2px solid #166534}\n"
"[data-outcome=acked-escalated],[data-key=acked-escalated]{"
"background:#fef08a;border:5px double #854d0e}\n"
"[data-outcome=unreached],[data-key=unreached]{background:"
"repeating-linear-gradient(45deg,#fca5a5 0 5px,#fff 5px 8px);"
"border:3px solid #000;font-weight:bold}\n"
"[data-outcome=pending],[data-key=pending]{background:#e5e7eb;"
"border:2px dashed #374151}\n"
"[data-outcome=cancelled],[data-key=cancelled]{background:#fff;"
"border:2px dotted #6b7280;color:#444}\n"
"[data-outcome=told],[data-key=told]{background:#dbeafe;"
"border:2px solid #1e3a8a}\n"
"[data-outcome=checking],[data-key=checking]{background:#ede9fe;"
"border:3px double #4c1d95}\n"
"@media print{\n"
"body{max-width:none;margin:0;color:#000;background:#fff;font-size:10pt}\n"
"th{background:none}.banner{background:none!important;"
"border:4px solid #000}\n"
".cell,.key{background:none!important;color:#000}\n"
"svg.timeline{border:none}svg .row{fill:none}svg .tick{stroke:#999}\n"
"svg .ev-sent{stroke:#000}svg .ev-failed{stroke:#000}\n"
"svg .ev-escalated{stroke:#000}svg .ev-acked{fill:#666;stroke:#000}\n"
"svg .ev-unreached{fill:#000}svg .ev-desk{stroke:#000}\n"
"svg .p-hatch{stroke:#000}svg .p-dots{fill:#000}\n"
"h2{break-after:avoid}tr,.cell{break-inside:avoid}\n"
"}\n";

/* ---- text ---- */

/* s escaped for HTML text and attribute values alike (base_esc_html), at
   most max bytes of it, cut at a character with an ellipsis; "" for NULL. */
static void
html_text(FILE *out, const char *s, size_t max)
{
	/* an entity is at most 6 bytes for 1, the ellipsis 3 */
	struct base_buf b = { .limit = max < SIZE_MAX / 8 ? 6 * max + 8 :
	    SIZE_MAX };

	base_esc_html(&b, s, max);
	if (b.p != NULL)
		fputs(b.p, out);
	free(b.p);
}

/* s escaped, or a dash when it is NULL or empty. */
static void
html_text_or_dash(FILE *out, const char *s, size_t max)
{
	if (s == NULL || *s == '\0')
		fputs("&ndash;", out);
	else
		html_text(out, s, max);
}

/* A duration as its two largest units ("4m 10s", "2h 13m", "45s");
   "-" when negative (none). */
static const char *
html_dur(int64_t secs, char *buf, size_t len)
{
	static const struct { int64_t size; char unit; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t u;
	int64_t hi, lo;

	if (secs < 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	for (u = 0; u < 3 && secs < units[u].size; u++)
		;
	hi = secs / units[u].size;
	if (u == 3 || (lo = secs % units[u].size / units[u + 1].size) == 0)
		snprintf(buf, len, "%" PRId64 "%c", hi, units[u].unit);
	else
		snprintf(buf, len, "%" PRId64 "%c %" PRId64 "%c", hi,
		    units[u].unit, lo, units[u + 1].unit);
	return buf;
}

/* A Unix time in UTC with strftime's fmt; "-" when it cannot be shown. */
static const char *
html_utc(int64_t t, const char *fmt, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, fmt, &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

/* An instant of the alert: its offset, and its UTC time in small type. */
static void
html_at(FILE *out, const struct report *r, int64_t at)
{
	char d[48], u[32];

	if (at < 0) {
		fputs("&ndash;", out);
		return;
	}
	fprintf(out, "%s <small>%s</small>", html_dur(at, d, sizeof(d)),
	    html_utc(r->accepted + (at < HTML_TL_TMAX ? at : HTML_TL_TMAX),
	    "%H:%M:%SZ", u, sizeof(u)));
}

static const char *
html_severity(int sev)
{
	static const char *const names[] = { "Unknown", "Minor", "Moderate",
		"Severe", "Extreme" };

	if (sev < 0 || sev >= (int)(sizeof(names) / sizeof(names[0])))
		return "Unknown";
	return names[sev];
}

static bool
report_is_exercise(const struct report *r)
{
	return r->drill || (r->status != NULL &&
	    strcasecmp(r->status, "Exercise") == 0);
}

static const struct html_outcome *
html_outcome_of(const struct report_team *t)
{
	if ((int)t->outcome < 0 || (int)t->outcome >= HTML_NOUTCOMES)
		return &html_outcomes[REPORT_PENDING];
	return &html_outcomes[t->outcome];
}

/* ---- head and heading ---- */

static void
report_html_head(FILE *out, const struct report *r)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\""
	    "default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
	    "<meta name=\"referrer\" content=\"no-referrer\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width\">\n"
	    "<title>", out);
	if (report_is_exercise(r))
		fputs("EXERCISE: ", out);
	fputs("After-action report ", out);
	html_text(out, r->alert_id, HTML_MAX_ID);
	fputs("</title>\n<style>\n", out);
	fputs(html_css, out);
	fputs("</style>\n</head>\n<body>\n", out);
}

/* A band no reader can miss when the alert was not a real incident. */
static void
report_html_banner(FILE *out, const struct report *r)
{
	if (r->drill)
		fputs("<div class=\"banner exercise\" role=\"note\">DRILL "
		    "&mdash; EXERCISE &mdash; simulated clock and responders, "
		    "no real incident</div>\n", out);
	else if (report_is_exercise(r))
		fputs("<div class=\"banner exercise\" role=\"note\">EXERCISE "
		    "&mdash; EXERCISE &mdash; no real incident</div>\n", out);
	else if (r->status != NULL && strcasecmp(r->status, "Actual") != 0) {
		fputs("<div class=\"banner test\" role=\"note\">Status ", out);
		html_text(out, r->status, HTML_MAX_ID);
		fputs(" &mdash; not an actual alert</div>\n", out);
	}
}

static void
html_meta_row(FILE *out, const char *name, const char *value, size_t max)
{
	fprintf(out, "<dt>%s</dt><dd>", name);
	html_text_or_dash(out, value, max);
	fputs("</dd>\n", out);
}

static void
report_html_heading(FILE *out, const struct report *r)
{
	char when[48];

	fputs("<header>\n<h1>After-action report: alert ", out);
	html_text_or_dash(out, r->alert_id, HTML_MAX_ID);
	fputs("</h1>\n<p class=\"headline\" dir=\"auto\"><b>", out);
	html_text_or_dash(out, r->headline, HTML_MAX_TEXT);
	fputs("</b></p>\n<dl class=\"meta\">\n", out);
	html_meta_row(out, "Alert", r->alert_id, HTML_MAX_ID);
	html_meta_row(out, "Identifier", r->identifier, HTML_MAX_TEXT);
	html_meta_row(out, "Sender", r->sender, HTML_MAX_TEXT);
	html_meta_row(out, "Status", r->status, HTML_MAX_ID);
	html_meta_row(out, "Message type", r->msg_type, HTML_MAX_ID);
	html_meta_row(out, "Severity", html_severity(r->severity),
	    HTML_MAX_ID);
	html_meta_row(out, "Accepted (UTC)", html_utc(r->accepted,
	    "%Y-%m-%d %H:%M:%S UTC", when, sizeof(when)), HTML_MAX_ID);
	if (r->drill)
		html_meta_row(out, "Made by", "tocsin drill (simulated time)",
		    HTML_MAX_ID);
	fputs("</dl>\n</header>\n", out);
}

/* ---- summary ---- */

static void
html_count(FILE *out, const char *what, size_t n)
{
	fprintf(out, "<div class=\"count\"><b>%zu</b>%s</div>\n", n, what);
}

static void
html_stats_cells(FILE *out, const struct report_stats *s)
{
	char a[48], b[48], c[48];

	if (s->n == 0) {
		fputs("<td class=\"n\">0</td><td class=\"n\">&ndash;</td>"
		    "<td class=\"n\">&ndash;</td><td class=\"n\">&ndash;</td>",
		    out);
		return;
	}
	fprintf(out, "<td class=\"n\">%zu</td><td class=\"n\">%s</td>"
	    "<td class=\"n\">%s</td><td class=\"n\">%s</td>", s->n,
	    html_dur(s->median, a, sizeof(a)), html_dur(s->p90, b, sizeof(b)),
	    html_dur(s->max, c, sizeof(c)));
}

static void
report_html_overall(FILE *out, const struct report *r)
{
	fputs("<table class=\"overall\">\n<thead><tr><th>time to</th>"
	    "<th class=\"n\">teams</th><th class=\"n\">median</th>"
	    "<th class=\"n\">p90</th><th class=\"n\">max</th></tr></thead>\n"
	    "<tbody>\n<tr><th>first delivery</th>", out);
	html_stats_cells(out, &r->first);
	fputs("</tr>\n<tr><th>ack</th>", out);
	html_stats_cells(out, &r->ack);
	fputs("</tr>\n</tbody>\n</table>\n", out);
}

/* One table of figures by channel, region or ack strength. */
static void
report_html_groups(FILE *out, const char *title, const char *keyname,
    const struct report_group *g, size_t n)
{
	fprintf(out, "<h3>By %s</h3>\n", title);
	if (n == 0) {
		fputs("<p class=\"none\">none</p>\n", out);
		return;
	}
	fprintf(out, "<table class=\"groups\">\n<thead><tr><th rowspan=\"2\">"
	    "%s</th><th rowspan=\"2\" class=\"n\">teams</th><th colspan=\"4\">"
	    "time to first delivery</th><th colspan=\"4\">time to ack</th>"
	    "</tr>\n<tr>", keyname);
	for (int k = 0; k < 2; k++)
		fputs("<th class=\"n\">n</th><th class=\"n\">median</th>"
		    "<th class=\"n\">p90</th><th class=\"n\">max</th>", out);
	fputs("</tr></thead>\n<tbody>\n", out);
	for (size_t i = 0; i < n; i++) {
		fputs("<tr><td>", out);
		html_text_or_dash(out, g[i].key, HTML_MAX_ID);
		fprintf(out, "</td><td class=\"n\">%zu</td>", g[i].teams);
		html_stats_cells(out, &g[i].first);
		html_stats_cells(out, &g[i].ack);
		fputs("</tr>\n", out);
	}
	fputs("</tbody>\n</table>\n", out);
}

static void
report_html_summary(FILE *out, const struct report *r)
{
	size_t ncancelled = 0, nescalated = 0;

	for (size_t i = 0; i < r->nteams; i++) {
		ncancelled += r->teams[i].outcome == REPORT_CANCELLED;
		nescalated += r->teams[i].outcome == REPORT_ACKED_ESCALATED;
	}
	fputs("<section id=\"summary\">\n<h2>Summary</h2>\n"
	    "<div class=\"counts\">\n", out);
	html_count(out, "teams", r->nteams);
	html_count(out, "acked", r->nacked);
	html_count(out, "of them after escalation", nescalated);
	html_count(out, "unreached", r->nunreached);
	html_count(out, "pending", r->npending);
	if (ncancelled > 0)
		html_count(out, "cancelled or updated", ncancelled);
	if (r->ntold > 0)
		html_count(out, "told (nothing asked)", r->ntold);
	if (r->nchecking > 0)
		html_count(out, "checking contacts", r->nchecking);
	fputs("</div>\n", out);
	report_html_overall(out, r);
	report_html_groups(out, "channel", "channel", r->by_channel,
	    r->nchannel);
	report_html_groups(out, "region", "region", r->by_region, r->nregion);
	report_html_groups(out, "ack strength", "strength", r->by_strength,
	    r->nstrength);
	fputs("</section>\n", out);
}

/* ---- timeline ---- */

struct html_tl {
	int64_t tmax, tick;		/* the axis's end and tick step, s */
	bool stacked;			/* rows are kinds, not teams */
	size_t nrows;
	bool extra;			/* a last row: desk and others */
	int height;			/* rows only */
	/* stacked: events per kind and bin, events per mark of each kind,
	   marks drawn so far */
	size_t count[HTML_NKINDS][HTML_TL_NBIN];
	size_t unit[HTML_NKINDS];
	size_t pile[HTML_NKINDS][HTML_TL_NBIN];
};

static int64_t
html_tl_clamp(int64_t at)
{
	return at < 0 ? 0 : at > HTML_TL_TMAX ? HTML_TL_TMAX : at;
}

/* An axis step giving at most ten ticks, and the axis's end on a tick. */
static void
html_tl_axis_scale(struct html_tl *tl, int64_t last)
{
	static const int64_t steps[] = { 5, 10, 15, 30, 60, 120, 300, 600,
		900, 1800, 3600, 7200, 10800, 21600, 43200, 86400 };
	size_t i;

	if (last < 60)
		last = 60;
	for (i = 0; i + 1 < sizeof(steps) / sizeof(steps[0]) &&
	    last > steps[i] * 10; i++)
		;
	tl->tick = steps[i];
	if (last > tl->tick * 10)
		tl->tick = (last / 86400 / 10 + 1) * 86400;
	tl->tmax = (last + tl->tick - 1) / tl->tick * tl->tick;
}

static double
html_tl_x(const struct html_tl *tl, int64_t at)
{
	return HTML_TL_LEFT + (double)html_tl_clamp(at) *
	    HTML_TL_PLOT / (double)tl->tmax;
}

/* The row of an event in the per-team layout: its team's, or the extra
   row (nteams) for the desk and for a team not in the report. */
static size_t
html_tl_team_row(const struct report *r, const struct report_event *ev)
{
	if (ev->kind == REPORT_EV_DESK || ev->team == NULL)
		return r->nteams;
	for (size_t i = 0; i < r->nteams; i++)
		if (r->teams[i].id != NULL && strcmp(r->teams[i].id,
		    ev->team) == 0)
			return i;
	return r->nteams;
}

static bool
html_tl_kind_ok(const struct report_event *ev)
{
	return (int)ev->kind >= 0 && (int)ev->kind < HTML_NKINDS;
}

static size_t
html_tl_bin(const struct html_tl *tl, int64_t at)
{
	size_t b = (size_t)((html_tl_x(tl, at) - HTML_TL_LEFT) / HTML_TL_BIN);

	return b < HTML_TL_NBIN ? b : HTML_TL_NBIN - 1;
}

/* Events per kind and bin, and how many events one mark stands for, so
   that the highest pile of each kind fits its row and piles keep their
   proportions. */
static void
html_tl_count(struct html_tl *tl, const struct report *r)
{
	size_t most[HTML_NKINDS] = { 0 };

	for (size_t i = 0; i < r->nevents; i++) {
		const struct report_event *ev = &r->events[i];
		size_t *c;

		if (!html_tl_kind_ok(ev))
			continue;
		c = &tl->count[ev->kind][html_tl_bin(tl, ev->at)];
		if (++*c > most[ev->kind])
			most[ev->kind] = *c;
	}
	for (int k = 0; k < HTML_NKINDS; k++)
		tl->unit[k] = most[k] <= HTML_TL_STACK ? 1 :
		    (most[k] + HTML_TL_STACK - 1) / HTML_TL_STACK;
}

static void
html_tl_layout(struct html_tl *tl, const struct report *r)
{
	int64_t last = 0;

	memset(tl, 0, sizeof(*tl));
	for (size_t i = 0; i < r->nevents; i++)
		if (html_tl_clamp(r->events[i].at) > last)
			last = html_tl_clamp(r->events[i].at);
	html_tl_axis_scale(tl, last);
	tl->stacked = r->nteams > HTML_TL_ROWS_MAX;
	if (tl->stacked) {
		tl->nrows = HTML_NKINDS;
		tl->height = HTML_NKINDS * (HTML_TL_STACK * HTML_TL_STEP + 22);
		html_tl_count(tl, r);
		return;
	}
	for (size_t i = 0; i < r->nevents && !tl->extra; i++)
		if (html_tl_kind_ok(&r->events[i]))
			tl->extra = html_tl_team_row(r, &r->events[i]) ==
			    r->nteams;
	tl->nrows = r->nteams + tl->extra;
	tl->height = (int)(tl->nrows > 0 ? tl->nrows : 1) * HTML_TL_ROW;
}

/* The patterns of the markers' fills, drawn in the markers' colours. */
static void
html_tl_defs(FILE *out)
{
	fputs("<defs>\n<pattern id=\"rh-hatch\" width=\"4\" height=\"4\" "
	    "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
	    "<rect width=\"4\" height=\"4\" fill=\"#fff\"/><line class=\""
	    "p-hatch\" x1=\"1\" y1=\"0\" x2=\"1\" y2=\"4\" stroke-width=\"2\"/>"
	    "</pattern>\n<pattern id=\"rh-dots\" width=\"3\" height=\"3\" "
	    "patternUnits=\"userSpaceOnUse\"><rect width=\"3\" height=\"3\" "
	    "fill=\"#fff\"/><circle class=\"p-dots\" cx=\"1.5\" cy=\"1.5\" "
	    "r=\"0.9\"/></pattern>\n</defs>\n", out);
}

/* The outline of a kind's marker centred on (x, y), as path data. */
static void
html_tl_shape(FILE *out, enum report_event_kind kind, double x, double y)
{
	const double s = HTML_TL_MARK;

	switch (kind) {
	case REPORT_EV_SENT:		/* circle */
		fprintf(out, "M%.1f %.1fa%.1f %.1f 0 1 0 %.1f 0a%.1f %.1f 0 1 "
		    "0 %.1f 0z", x - s, y, s, s, 2 * s, s, s, -2 * s);
		break;
	case REPORT_EV_FAILED:		/* cross */
		fprintf(out, "M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f",
		    x - s, y - s, x + s, y + s, x + s, y - s, x - s, y + s);
		break;
	case REPORT_EV_ESCALATED:	/* triangle */
		fprintf(out, "M%.1f %.1fL%.1f %.1fL%.1f %.1fz", x, y - s - 1,
		    x + s + 1, y + s, x - s - 1, y + s);
		break;
	case REPORT_EV_ACKED:		/* square */
		fprintf(out, "M%.1f %.1fh%.1fv%.1fh%.1fz", x - s + 0.5,
		    y - s + 0.5, 2 * s - 1, 2 * s - 1, -2 * s + 1);
		break;
	case REPORT_EV_UNREACHED:	/* diamond */
		fprintf(out, "M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fz", x,
		    y - s - 1, x + s + 1, y, x, y + s + 1, x - s - 1, y);
		break;
	case REPORT_EV_DESK:		/* star */
		for (int i = 0; i < 10; i++)
			fprintf(out, "%c%.1f %.1f", i ? 'L' : 'M',
			    x + html_star[i][0] * (s + 1.5),
			    y + html_star[i][1] * (s + 1.5));
		fputc('z', out);
		break;
	}
}

/* A marker, with the event told in its <title> (the hover text). */
static void
html_tl_marker(FILE *out, const struct report_event *ev, double x, double y)
{
	char d[48];

	fprintf(out, "<path class=\"ev-%s\" d=\"", html_kinds[ev->kind].cls);
	html_tl_shape(out, ev->kind, x, y);
	fputs("\"><title>", out);
	html_text_or_dash(out, ev->team, HTML_MAX_ID);
	fprintf(out, ": %s", html_kinds[ev->kind].verb);
	if (ev->kind == REPORT_EV_ESCALATED)
		fprintf(out, " to step %d", ev->step);
	if (ev->channel != NULL) {
		fputs(" (", out);
		html_text(out, ev->channel, HTML_MAX_ID);
		fputc(')', out);
	}
	fprintf(out, " at %s", html_dur(html_tl_clamp(ev->at), d, sizeof(d)));
	fputs("</title></path>\n", out);
}

/* Row backgrounds and labels: team ids, or kinds when stacked. */
static void
html_tl_rows(FILE *out, const struct report *r, const struct html_tl *tl)
{
	int rh = tl->stacked ? tl->height / HTML_NKINDS : HTML_TL_ROW;

	if (tl->nrows == 0) {
		fprintf(out, "<text x=\"%d\" y=\"%d\" class=\"none\">no events "
		    "recorded</text>\n", HTML_TL_LEFT + 8, HTML_TL_TOP + 13);
		return;
	}
	for (size_t i = 0; i < tl->nrows; i++) {
		int y = HTML_TL_TOP + (int)i * rh;

		if (i % 2 == 0)
			fprintf(out, "<rect class=\"row\" x=\"0\" y=\"%d\" "
			    "width=\"%d\" height=\"%d\"/>\n", y, HTML_TL_W, rh);
		fprintf(out, "<text x=\"6\" y=\"%d\">", y + rh / 2 + 4);
		if (tl->stacked && tl->unit[i] > 1)
			fprintf(out, "%s</text>\n<text class=\"more\" x=\"6\" "
			    "y=\"%d\">1 mark: up to %zu", html_kinds[i].legend,
			    y + rh / 2 + 17, tl->unit[i]);
		else if (tl->stacked)
			fputs(html_kinds[i].legend, out);
		else if (i == r->nteams)
			fputs("desk, others", out);
		else
			html_text(out, r->teams[i].id, HTML_MAX_LABEL);
		fputs("</text>\n", out);
	}
}

/* Ticks and their labels along the bottom, with light lines up. */
static void
html_tl_axis(FILE *out, const struct html_tl *tl)
{
	int bottom = HTML_TL_TOP + tl->height;
	char d[48];

	for (int64_t t = 0; t <= tl->tmax; t += tl->tick) {
		double x = html_tl_x(tl, t);

		fprintf(out, "<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" "
		    "x2=\"%.1f\" y2=\"%d\"/>\n<line class=\"axis\" x1=\"%.1f\" "
		    "y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n<text x=\"%.1f\" "
		    "y=\"%d\" text-anchor=\"middle\">%s</text>\n", x,
		    HTML_TL_TOP, x, bottom, x, bottom, x, bottom + 5, x,
		    bottom + 17, t == 0 ? "0" : html_dur(t, d, sizeof(d)));
	}
	fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
	    "y2=\"%d\"/>\n<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">"
	    "time after acceptance</text>\n", HTML_TL_LEFT, bottom,
	    HTML_TL_W - HTML_TL_RIGHT, bottom,
	    (HTML_TL_LEFT + HTML_TL_W - HTML_TL_RIGHT) / 2, bottom + 30);
}

/* Events on their teams' rows: deliveries first, so that an escalation,
   an ack or the end, drawn after them, is never hidden under the
   deliveries of the same second. */
static void
html_tl_team_events(FILE *out, const struct report *r,
    const struct html_tl *tl)
{
	for (size_t i = 0; i < 2 * r->nevents; i++) {
		const struct report_event *ev = &r->events[i % r->nevents];
		bool delivery;
		size_t row;

		if (!html_tl_kind_ok(ev))
			continue;
		delivery = ev->kind == REPORT_EV_SENT ||
		    ev->kind == REPORT_EV_FAILED;
		if (delivery != (i < r->nevents))
			continue;
		row = html_tl_team_row(r, ev);
		html_tl_marker(out, ev, html_tl_x(tl, ev->at),
		    HTML_TL_TOP + (row + 0.5) * HTML_TL_ROW);
	}
}

/* The centre of the next mark of a pile of kind k in bin b. */
static void
html_tl_pile_xy(struct html_tl *tl, int k, size_t b, double *x, double *y)
{
	int rh = tl->height / HTML_NKINDS;

	*x = HTML_TL_LEFT + (double)b * HTML_TL_BIN + HTML_TL_BIN / 2.0;
	*y = HTML_TL_TOP + (double)(k + 1) * rh - 9 -
	    (double)tl->pile[k][b]++ * HTML_TL_STEP;
}

/* A pile of one kind where each mark stands for several events, with
   their number on top. */
static void
html_tl_pile(FILE *out, struct html_tl *tl, int k, size_t b)
{
	size_t n = tl->count[k][b], marks = (n + tl->unit[k] - 1) /
	    tl->unit[k];
	int64_t from = (int64_t)((double)b * HTML_TL_BIN * (double)tl->tmax /
	    HTML_TL_PLOT);
	int64_t to = (int64_t)((double)(b + 1) * HTML_TL_BIN *
	    (double)tl->tmax / HTML_TL_PLOT);
	char d1[48], d2[48];
	double x = 0, y = 0;

	for (size_t m = 0; m < marks; m++) {
		html_tl_pile_xy(tl, k, b, &x, &y);
		fprintf(out, "<path class=\"ev-%s\" d=\"", html_kinds[k].cls);
		html_tl_shape(out, (enum report_event_kind)k, x, y);
		fprintf(out, "\"><title>%zu %s from %s to %s</title></path>\n",
		    n, html_kinds[k].legend, html_dur(from, d1, sizeof(d1)),
		    html_dur(to, d2, sizeof(d2)));
	}
	fprintf(out, "<text class=\"more\" x=\"%.1f\" y=\"%.1f\" "
	    "text-anchor=\"middle\">%zu</text>\n", x, y - 8, n);
}

/* Events on their kind's row, piled up where they fall close together:
   one mark per event with its team when the highest pile of the kind
   fits the row, else proportional piles (see html_tl_count). */
static void
html_tl_stacked_events(FILE *out, const struct report *r,
    struct html_tl *tl)
{
	for (size_t i = 0; i < r->nevents; i++) {
		const struct report_event *ev = &r->events[i];
		double x, y;

		if (!html_tl_kind_ok(ev) || tl->unit[ev->kind] > 1)
			continue;
		html_tl_pile_xy(tl, (int)ev->kind, html_tl_bin(tl, ev->at),
		    &x, &y);
		html_tl_marker(out, ev, x, y);
	}
	for (int k = 0; k < HTML_NKINDS; k++)
		for (size_t b = 0; b < HTML_TL_NBIN && tl->unit[k] > 1; b++)
			if (tl->count[k][b] > 0)
				html_tl_pile(out, tl, k, b);
}

/* The legend under the axis: each kind's shape and name. */
static void
html_tl_legend(FILE *out, const struct html_tl *tl)
{
	int y = HTML_TL_TOP + tl->height + HTML_TL_AXIS + HTML_TL_LEGEND / 2;
	int w = (HTML_TL_W - HTML_TL_LEFT) / HTML_NKINDS;

	fputs("<g class=\"legend\">\n", out);
	for (int k = 0; k < HTML_NKINDS; k++) {
		int x = HTML_TL_LEFT + k * w + 10;

		fprintf(out, "<path class=\"ev-%s\" d=\"", html_kinds[k].cls);
		html_tl_shape(out, (enum report_event_kind)k, x, y);
		fprintf(out, "\"/><text x=\"%d\" y=\"%d\">%s</text>\n", x + 11,
		    y + 4, html_kinds[k].legend);
	}
	fputs("</g>\n", out);
}

static void
report_html_timeline(FILE *out, const struct report *r)
{
	struct html_tl tl;
	int h;

	html_tl_layout(&tl, r);
	h = HTML_TL_TOP + tl.height + HTML_TL_AXIS + HTML_TL_LEGEND;
	fputs("<section id=\"timeline\">\n<h2>Timeline</h2>\n", out);
	fprintf(out, "<p><small>%s; hover a mark for what it stands for."
	    "</small></p>\n", tl.stacked ? "One row per kind of event, "
	    "marks piled where events fall close together" :
	    "One row per team");
	fprintf(out, "<svg class=\"timeline\" viewBox=\"0 0 %d %d\" "
	    "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"Timeline "
	    "of deliveries, failures, escalations, acks and unreached teams"
	    "\">\n", HTML_TL_W, h, HTML_TL_W, h);
	html_tl_defs(out);
	html_tl_rows(out, r, &tl);
	html_tl_axis(out, &tl);
	if (tl.stacked)
		html_tl_stacked_events(out, r, &tl);
	else
		html_tl_team_events(out, r, &tl);
	html_tl_legend(out, &tl);
	fputs("</svg>\n</section>\n", out);
}

/* ---- the grid of teams ---- */

static void
html_grid_cell(FILE *out, const struct report_team *t)
{
	const struct html_outcome *o = html_outcome_of(t);
	char d[48];

	fputs("<div class=\"cell\" data-team=\"", out);
	html_text(out, t->id, HTML_MAX_ID);
	fprintf(out, "\" data-outcome=\"%s\" title=\"", o->key);
	html_text(out, t->id, HTML_MAX_ID);
	fprintf(out, ": %s, step %d", o->legend, t->step);
	if (t->ack >= 0)
		fprintf(out, ", ack at %s", html_dur(t->ack, d, sizeof(d)));
	fprintf(out, "\"><span class=\"sym\">%s</span>", o->letter);
	html_text_or_dash(out, t->id, HTML_MAX_ID);
	fputs("</div>\n", out);
}

static void
report_html_grid(FILE *out, const struct report *r)
{
	fputs("<section id=\"teams-grid\">\n<h2>Teams</h2>\n"
	    "<div class=\"legend\">\n", out);
	for (int i = 0; i < HTML_NOUTCOMES; i++)
		fprintf(out, "<span class=\"key\" data-key=\"%s\"><span "
		    "class=\"sym\">%s</span>%s</span>\n", html_outcomes[i].key,
		    html_outcomes[i].letter, html_outcomes[i].legend);
	fputs("</div>\n", out);
	if (r->nteams == 0)
		fputs("<p class=\"none\">no teams</p>\n", out);
	else {
		fputs("<div class=\"grid\">\n", out);
		for (size_t i = 0; i < r->nteams; i++)
			html_grid_cell(out, &r->teams[i]);
		fputs("</div>\n", out);
	}
	fputs("</section>\n", out);
}

/* ---- tables ---- */

static void
report_html_escalations(FILE *out, const struct report *r)
{
	fputs("<section id=\"escalations\">\n<h2>Escalations</h2>\n", out);
	if (r->nescalations == 0) {
		fputs("<p class=\"none\">none</p>\n</section>\n", out);
		return;
	}
	fputs("<table>\n<thead><tr><th>team</th><th>step</th><th>at</th>"
	    "<th>trigger</th></tr></thead>\n<tbody>\n", out);
	for (size_t i = 0; i < r->nescalations; i++) {
		const struct report_escalation *e = &r->escalations[i];

		fputs("<tr><td>", out);
		html_text_or_dash(out, e->team, HTML_MAX_ID);
		fprintf(out, "</td><td>%d &rarr; %d</td><td>", e->from_step,
		    e->to_step);
		html_at(out, r, e->at);
		fputs("</td><td>", out);
		html_text_or_dash(out, e->trigger, HTML_MAX_REASON);
		fputs("</td></tr>\n", out);
	}
	fputs("</tbody>\n</table>\n</section>\n", out);
}

static void
report_html_unreached(FILE *out, const struct report *r)
{
	bool any = false;

	fputs("<section id=\"unreached\">\n<h2>Unreached teams</h2>\n", out);
	for (size_t i = 0; i < r->nteams; i++) {
		const struct report_team *t = &r->teams[i];

		if (t->outcome != REPORT_UNREACHED)
			continue;
		if (!any)
			fputs("<table>\n<thead><tr><th>team</th><th>region</th>"
			    "<th class=\"n\">last step</th><th class=\"n\">"
			    "sent</th><th class=\"n\">failed</th></tr></thead>"
			    "\n<tbody>\n", out);
		any = true;
		fputs("<tr><td>", out);
		html_text_or_dash(out, t->id, HTML_MAX_ID);
		fputs("</td><td>", out);
		html_text_or_dash(out, t->region, HTML_MAX_ID);
		fprintf(out, "</td><td class=\"n\">%d</td><td class=\"n\">%zu"
		    "</td><td class=\"n\">%zu</td></tr>\n", t->step, t->sent,
		    t->failed);
	}
	fputs(any ? "</tbody>\n</table>\n</section>\n" :
	    "<p class=\"none\">none</p>\n</section>\n", out);
}

static void
report_html_failures(FILE *out, const struct report *r)
{
	fputs("<section id=\"failures\">\n<h2>Failures by reason</h2>\n", out);
	if (r->nfailures == 0) {
		fputs("<p class=\"none\">none</p>\n</section>\n", out);
		return;
	}
	fputs("<table>\n<thead><tr><th>reason</th><th>channel</th>"
	    "<th>region</th><th class=\"n\">deliveries</th>"
	    "<th class=\"n\">given up</th><th class=\"n\">cancelled while "
	    "failing</th><th class=\"n\">still retrying</th>"
	    "<th class=\"n\">failed attempts</th></tr></thead>\n<tbody>\n",
	    out);
	for (size_t i = 0; i < r->nfailures; i++) {
		const struct report_failure *x = &r->failures[i];

		fputs("<tr><td>", out);
		html_text_or_dash(out, x->reason, HTML_MAX_REASON);
		fputs("</td><td>", out);
		html_text_or_dash(out, x->channel, HTML_MAX_ID);
		fputs("</td><td>", out);
		html_text_or_dash(out, x->region, HTML_MAX_ID);
		fprintf(out, "</td><td class=\"n\">%zu</td><td class=\"n\">%zu"
		    "</td><td class=\"n\">%zu</td><td class=\"n\">%zu</td>"
		    "<td class=\"n\">%zu</td></tr>\n", x->count, x->dead,
		    x->cancelled, x->retrying, x->attempts);
	}
	fputs("</tbody>\n</table>\n</section>\n", out);
}

static void
html_team_row(FILE *out, const struct report *r, const struct report_team *t)
{
	const struct html_outcome *o = html_outcome_of(t);

	fputs("<tr><td>", out);
	html_text_or_dash(out, t->id, HTML_MAX_ID);
	fputs("</td><td>", out);
	html_text_or_dash(out, t->region, HTML_MAX_ID);
	fprintf(out, "</td><td>%s %s</td><td class=\"n\">%d</td><td>",
	    o->letter, o->legend, t->step);
	html_at(out, r, t->first);
	if (t->first_channel != NULL) {
		fputs(" <small>", out);
		html_text(out, t->first_channel, HTML_MAX_ID);
		fputs("</small>", out);
	}
	fputs("</td><td>", out);
	html_at(out, r, t->ack);
	fputs("</td><td>", out);
	html_text_or_dash(out, t->ack_by, HTML_MAX_TEXT);
	fputs("</td><td>", out);
	html_text_or_dash(out, t->ack_via, HTML_MAX_ID);
	fputs("</td><td>", out);
	html_text_or_dash(out, t->ack_strength, HTML_MAX_ID);
	fputs("</td></tr>\n", out);
}

static void
report_html_teams(FILE *out, const struct report *r)
{
	fputs("<section id=\"per-team\">\n<h2>Per team</h2>\n", out);
	if (r->nteams == 0) {
		fputs("<p class=\"none\">none</p>\n</section>\n", out);
		return;
	}
	fputs("<table>\n<thead><tr><th>team</th><th>region</th><th>outcome"
	    "</th><th class=\"n\">step</th><th>first delivery</th><th>ack</th>"
	    "<th>by</th><th>via</th><th>strength</th></tr></thead>\n<tbody>\n",
	    out);
	for (size_t i = 0; i < r->nteams; i++)
		html_team_row(out, r, &r->teams[i]);
	fputs("</tbody>\n</table>\n</section>\n", out);
}

/* ---- the file ---- */

int
report_html(const struct report *r, FILE *out, struct tocsin_err *err)
{
	if (r == NULL || out == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "report_html: no "
		    "report or no output");
	report_html_head(out, r);
	report_html_banner(out, r);
	report_html_heading(out, r);
	report_html_summary(out, r);
	report_html_timeline(out, r);
	report_html_grid(out, r);
	report_html_escalations(out, r);
	report_html_unreached(out, r);
	report_html_failures(out, r);
	report_html_teams(out, r);
	fputs("<footer><p><small>Made by tocsin; times after the alert's "
	    "acceptance, instants in UTC.</small></p></footer>\n"
	    "</body>\n</html>\n", out);
	if (fflush(out) != 0 || ferror(out))
		return tocsin_fail(err, TOCSIN_EIO, "report_html: cannot write "
		    "the report");
	return 0;
}
