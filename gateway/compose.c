/*
 * compose.c: `tocsin compose`, an alert from a template of the repository,
 * checked and previewed before anyone signs it.
 *
 * The preview goes through the same code the dispatcher uses: the
 * planner for who gets what at which step, the renderer for the texts,
 * and each channel's own driver for what it would hand over (the SMS as
 * the provider would get it, the TwiML of a call, the fax's PDF), so that
 * what the issuer reads is what recipients will get, bar the ack code and
 * link, which are made when it is sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ack.h"
#include "channel.h"
#include "compose.h"
#include "intake.h"
#include "plan.h"
#include "render.h"
#include "utf8.h"

/* The stand-ins shown where a message carries its ack code and link, as
   long as the real ones, so that an SMS counts the parts it will take. */
#define COMPOSE_CODE "00000000"
#define COMPOSE_TOKEN "PREVIEW0000000000000000000000000"

struct cp_value {
	char name[POLICY_PLACEHOLDER_MAX + 1];
	const char *value;
	bool used;
};

static int
cp_values(const struct compose_req *rq, struct cp_value *v,
    struct tocsin_err *err)
{
	if (rq->nset > COMPOSE_MAX_SET)
		return tocsin_fail(err, TOCSIN_EUSAGE, "at most %d --set values",
		    COMPOSE_MAX_SET);
	for (size_t i = 0; i < rq->nset; i++) {
		const char *s = rq->set[i], *eq = strchr(s, '=');
		size_t n = eq != NULL ? (size_t)(eq - s) : 0;

		if (eq == NULL || n == 0 || n > POLICY_PLACEHOLDER_MAX ||
		    s[0] < 'a' || s[0] > 'z' || strspn(s, "abcdefghijklmnopqrstu"
		    "vwxyz0123456789_") != n)
			return tocsin_fail(err, TOCSIN_EUSAGE, "--set %.40s: write "
			    "NAME=VALUE, NAME being a placeholder of the template "
			    "(lower-case letters, digits, '_')", s);
		memcpy(v[i].name, s, n);
		v[i].name[n] = '\0';
		v[i].value = eq + 1;
		v[i].used = false;
		if (strlen(eq + 1) > COMPOSE_VALUE_MAX ||
		    !utf8_valid(eq + 1, strlen(eq + 1)))
			return tocsin_fail(err, TOCSIN_EUSAGE, "--set %s: the value "
			    "must be valid UTF-8 of at most %d bytes", v[i].name,
			    COMPOSE_VALUE_MAX);
		for (const unsigned char *c = (const unsigned char *)eq + 1;
		    *c != '\0'; c++)
			if (*c < 0x20 || *c == 0x7f)
				return tocsin_fail(err, TOCSIN_EUSAGE, "--set %s: "
				    "the value has a control character (a line "
				    "break?); one line of text only", v[i].name);
		for (size_t k = 0; k < i; k++)
			if (strcmp(v[k].name, v[i].name) == 0)
				return tocsin_fail(err, TOCSIN_EUSAGE, "--set %s "
				    "is given twice", v[i].name);
	}
	return 0;
}

static void
cp_xml(struct base_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		switch (s[i]) {
		case '&': base_buf_puts(b, "&amp;"); break;
		case '<': base_buf_puts(b, "&lt;"); break;
		case '>': base_buf_puts(b, "&gt;"); break;
		case '"': base_buf_puts(b, "&quot;"); break;
		case '\'': base_buf_puts(b, "&apos;"); break;
		default: base_buf_put(b, s + i, 1);
		}
}

/* <tag>text with its placeholders filled</tag>, escaped. */
static int
cp_field(struct base_buf *b, const char *tag, const char *t,
    struct cp_value *v, size_t nv, const struct compose_req *rq,
    struct tocsin_err *err)
{
	base_buf_puts(b, "    <");
	base_buf_puts(b, tag);
	base_buf_puts(b, ">");
	while (*t != '\0') {
		const char *o = strchr(t, '{'), *e;
		size_t k;

		if (o == NULL || (e = strchr(o, '}')) == NULL) {
			cp_xml(b, t, strlen(t));
			break;
		}
		cp_xml(b, t, (size_t)(o - t));
		for (k = 0; k < nv; k++)
			if (strlen(v[k].name) == (size_t)(e - o - 1) &&
			    strncmp(v[k].name, o + 1, (size_t)(e - o - 1)) == 0)
				break;
		if (k == nv)
			return tocsin_fail(err, TOCSIN_EUSAGE, "template %s needs "
			    "a value for {%.*s}: add --set %.*s=...",
			    rq->tmpl->name, (int)(e - o - 1), o + 1,
			    (int)(e - o - 1), o + 1);
		v[k].used = true;
		cp_xml(b, v[k].value, strlen(v[k].value));
		t = e + 1;
	}
	base_buf_puts(b, "</");
	base_buf_puts(b, tag);
	base_buf_puts(b, ">\n");
	return 0;
}

int
compose_build(const struct compose_req *rq, char **ret, size_t *len,
    struct tocsin_err *err)
{
	const struct policy_template *t = rq->tmpl;
	struct cp_value v[COMPOSE_MAX_SET];
	const char *const *to = rq->nto > 0 ? rq->to :
	    (const char *const *)t->audience;
	size_t nto = rq->nto > 0 ? rq->nto : t->naudience;
	const char *status = rq->status != NULL ? rq->status : "Actual";
	int sev = rq->severity != POLICY_SEV_UNKNOWN ? rq->severity :
	    t->severity;
	struct base_buf b;
	unsigned char rnd[6];
	char when[40], ident[80];
	time_t now = (time_t)rq->now;
	struct tm tm;
	int rc;

	*ret = NULL;
	if (strcmp(status, "Actual") != 0 && strcmp(status, "Exercise") != 0)
		return tocsin_fail(err, TOCSIN_EUSAGE, "--status %.20s: an "
		    "alert is Actual or Exercise", status);
	if (nto == 0)
		return tocsin_fail(err, TOCSIN_EUSAGE, "template %s names no "
		    "audience: give --to with teams, groups, region:XX or all",
		    t->name);
	for (size_t i = 0; i < nto; i++)
		if (to[i][0] == '\0' || strpbrk(to[i], " \t\r\n<>&\"'") != NULL)
			return tocsin_fail(err, TOCSIN_EUSAGE, "--to %.40s: an "
			    "address is one team id, group name, region:XX or "
			    "all, without spaces", to[i]);
	if (rq->sender == NULL || rq->sender[0] == '\0' ||
	    strpbrk(rq->sender, " \t\r\n<>&\"',") != NULL ||
	    strlen(rq->sender) > 200)
		return tocsin_fail(err, TOCSIN_EUSAGE, "--sender must be one "
		    "identifier of the sender without spaces or commas, such as "
		    "desk@dns-cert.example");
	if ((rc = cp_values(rq, v, err)) != 0)
		return rc;
	if (gmtime_r(&now, &tm) == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "cannot make an "
		    "identifier");
	(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S-00:00", &tm);
	(void)snprintf(ident, sizeof(ident), "%s-%04d%02d%02dT%02d%02d%02d-"
	    "%02x%02x%02x%02x%02x%02x", t->name, tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	base_buf_init(&b, 1024 * 1024);
	base_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n"
	    "  <identifier>");
	cp_xml(&b, ident, strlen(ident));
	base_buf_puts(&b, "</identifier>\n  <sender>");
	cp_xml(&b, rq->sender, strlen(rq->sender));
	base_buf_puts(&b, "</sender>\n  <sent>");
	base_buf_puts(&b, when);
	base_buf_puts(&b, "</sent>\n  <status>");
	base_buf_puts(&b, status);
	base_buf_puts(&b, "</status>\n  <msgType>Alert</msgType>\n"
	    "  <scope>Private</scope>\n  <addresses>");
	for (size_t i = 0; i < nto; i++) {
		if (i > 0)
			base_buf_puts(&b, " ");
		cp_xml(&b, to[i], strlen(to[i]));
	}
	base_buf_puts(&b, "</addresses>\n");
	for (size_t i = 0; i < t->ntexts && rc == 0; i++) {
		const struct policy_template_text *x = &t->texts[i];

		base_buf_puts(&b, "  <info>\n    <language>");
		cp_xml(&b, x->language, strlen(x->language));
		base_buf_puts(&b, "</language>\n    <category>");
		base_buf_puts(&b, t->category);
		base_buf_puts(&b, "</category>\n");
		if ((rc = cp_field(&b, "event", t->event, v, rq->nset, rq,
		    err)) != 0)
			break;
		base_buf_puts(&b, "    <urgency>");
		base_buf_puts(&b, t->urgency);
		base_buf_puts(&b, "</urgency>\n    <severity>");
		base_buf_puts(&b, policy_severity_name(sev));
		base_buf_puts(&b, "</severity>\n    <certainty>");
		base_buf_puts(&b, t->certainty);
		base_buf_puts(&b, "</certainty>\n");
		rc = cp_field(&b, "headline", x->headline, v, rq->nset, rq, err);
		if (rc == 0 && x->description != NULL)
			rc = cp_field(&b, "description", x->description, v,
			    rq->nset, rq, err);
		if (rc == 0 && x->instruction != NULL)
			rc = cp_field(&b, "instruction", x->instruction, v,
			    rq->nset, rq, err);
		base_buf_puts(&b, "  </info>\n");
	}
	base_buf_puts(&b, "</alert>\n");
	for (size_t i = 0; rc == 0 && i < rq->nset; i++)
		if (!v[i].used)
			rc = tocsin_fail(err, TOCSIN_EUSAGE, "--set %s: template "
			    "%s has no {%s}; check the name", v[i].name, t->name,
			    v[i].name);
	if (rc == 0 && (b.rc != 0 || b.full || b.p == NULL))
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "the alert is too large "
		    "or memory ran out");
	if (rc != 0) {
		base_buf_free(&b);
		return rc;
	}
	*ret = b.p;
	*len = b.len;
	return 0;
}

int
compose_check(const struct policy_repo *repo, const char *xml, size_t len,
    struct cap_alert **ret, bool *mark, size_t *nteams,
    struct tocsin_err *err)
{
	size_t max = repo->gateway.max_alert_bytes > 0 ?
	    repo->gateway.max_alert_bytes : 256 * 1024;
	int rc;

	*ret = NULL;
	if (len > max)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the alert is %zu bytes, "
		    "over gateway.max_alert_bytes (%zu); shorten its texts",
		    len, max);
	if ((rc = cap_parse(xml, len, max, ret, err)) != 0)
		return rc;
	if ((rc = intake_audience(repo, *ret, mark, nteams, err)) != 0) {
		cap_free(*ret);
		*ret = NULL;
	}
	return rc;
}

/* Whether the alert has a text in lang ("fr" matches "fr-CA" and back). */
static bool
cp_has_lang(const struct cap_alert *a, const char *lang)
{
	size_t n = strcspn(lang, "-");

	for (size_t i = 0; i < a->ninfos; i++) {
		const char *l = a->infos[i].language;

		if (l != NULL && strncasecmp(l, lang, n) == 0 &&
		    (l[n] == '\0' || l[n] == '-'))
			return true;
	}
	return false;
}

static const struct policy_contact *
cp_primary(const struct policy_team *t)
{
	for (size_t i = 0; i < t->ncontacts; i++)
		if (t->contacts[i].primary)
			return &t->contacts[i];
	return t->ncontacts > 0 ? &t->contacts[0] : NULL;
}

size_t
compose_language_gaps(const struct policy_repo *repo,
    const struct cap_alert *alert, const bool *mark, struct base_buf *out)
{
	bool *done = calloc(repo->nteams + 1, sizeof(*done));
	size_t gaps = 0;

	if (done == NULL)
		return 0;
	for (size_t i = 0; i < repo->nteams; i++) {
		const struct policy_contact *c = cp_primary(&repo->teams[i]);
		const char *lang;
		size_t line = 0;

		if (!mark[i] || done[i] || c == NULL || c->nlanguages == 0 ||
		    cp_has_lang(alert, (lang = c->languages[0])))
			continue;
		/* one line per language, its teams in the repository's order */
		base_buf_puts(out, lang);
		base_buf_puts(out, ":");
		for (size_t k = i; k < repo->nteams; k++) {
			const struct policy_contact *d =
			    cp_primary(&repo->teams[k]);

			if (!mark[k] || done[k] || d == NULL ||
			    d->nlanguages == 0 ||
			    strcasecmp(d->languages[0], lang) != 0)
				continue;
			done[k] = true;
			gaps++;
			base_buf_puts(out, line++ > 0 ? ", " : " ");
			base_buf_puts(out, repo->teams[k].id);
		}
		base_buf_puts(out, "\n");
	}
	free(done);
	return gaps;
}

static void
cp_printf(struct base_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cp_printf(struct base_buf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	base_buf_puts(b, line);
}

/* "at once", "after 15m" */
static void
cp_after(int64_t s, char *out, size_t n)
{
	if (s <= 0)
		(void)snprintf(out, n, "at once");
	else if (s % 3600 == 0)
		(void)snprintf(out, n, "after %lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		(void)snprintf(out, n, "after %lldm", (long long)(s / 60));
	else
		(void)snprintf(out, n, "after %llds", (long long)s);
}

/* Deliveries per step and channel over the audience. */
static int
cp_audience(const struct policy_repo *repo, const struct cap_alert *alert,
    const bool *mark, struct base_buf *out, struct tocsin_err *err)
{
	const struct chan_ops *const *all = chan_all();
	bool exercise = strcmp(alert->status, "Exercise") == 0;
	size_t nt = 0, maxsteps = 0;
	int rc = 0;

	for (size_t i = 0; i < repo->nteams; i++)
		if (mark[i]) {
			size_t l = plan_ladder_len(&repo->teams[i]);

			nt++;
			if (l > maxsteps)
				maxsteps = l;
		}
	cp_printf(out, "Audience: %zu team%s (%s).\n", nt, nt == 1 ? "" : "s",
	    exercise ? "an exercise" : "an actual alert");
	for (size_t k = 0; k < maxsteps && k < 8 && rc == 0; k++) {
		size_t per[CHAN_MAX] = { 0 }, teams[CHAN_MAX] = { 0 }, nat = 0;

		for (size_t i = 0; i < repo->nteams && rc == 0; i++) {
			struct plan_list pl = { 0 };
			bool seen[CHAN_MAX] = { false };

			if (!mark[i] || k >= plan_ladder_len(&repo->teams[i]))
				continue;
			nat++;
			rc = plan_step_ex(&repo->teams[i], k, 0, exercise, &pl,
			    err);
			for (size_t d = 0; rc == 0 && d < pl.n; d++) {
				const struct chan_ops *ops =
				    chan_find(pl.d[d].channel);
				size_t c = ops != NULL ? chan_index(ops) : 0;

				per[c]++;
				if (!seen[c])
					teams[c]++;
				seen[c] = true;
			}
			plan_list_free(&pl);
		}
		cp_printf(out, "  step %zu, if no ack, for %zu team%s:", k, nat,
		    nat == 1 ? "" : "s");
		for (size_t c = 0; all[c] != NULL; c++)
			if (per[c] > 0)
				cp_printf(out, " %s %zu to %zu team%s;",
				    all[c]->kind.name, per[c], teams[c],
				    teams[c] == 1 ? "" : "s");
		base_buf_puts(out, "\n");
	}
	return rc;
}

/* What the channel of delivery d would carry to team t. */
static int
cp_render(const struct policy_repo *repo, const struct cap_alert *alert,
    const struct policy_team *t, const struct store_delivery_plan *d,
    const char *dir, struct base_buf *out, struct tocsin_err *err)
{
	const struct chan_ops *ops = chan_find(d->channel);
	const struct policy_contact *c = NULL;
	struct chan_rcpt rc1 = { .address = d->address };
	struct chan_msg m = { 0 };
	struct chan_doc doc = { 0 };
	struct chan_preview pv = { 0 };
	struct render_in in = { 0 };
	const char *langs[POLICY_MAX_LANGS];
	char url[512], *text = NULL;
	size_t nl = 0, len = 0;
	int rc = 0;

	if (ops == NULL)
		return 0;
	for (size_t i = 0; i < t->ncontacts && c == NULL; i++)
		if (strcmp(t->contacts[i].name, d->contact) == 0)
			c = &t->contacts[i];
	if (c == NULL)
		c = cp_primary(t);
	for (size_t i = 0; c != NULL && i < c->nlanguages; i++)
		langs[nl++] = c->languages[i];
	_Static_assert(sizeof(COMPOSE_TOKEN) == ACK_TOKEN_LEN + 1,
	    "the stand-in token is as long as a real one");
	ack_url(repo->gateway.public_url != NULL ? repo->gateway.public_url :
	    "https://tocsin.invalid/", COMPOSE_TOKEN, url, sizeof(url));
	in.alert = alert;
	in.alert_id = "PREVIEW";
	in.team = t;
	in.langs = nl > 0 ? langs : NULL;
	in.nlangs = nl;
	in.timezone = c != NULL ? c->timezone : NULL;
	in.ack_url = url;
	in.ack_code = COMPOSE_CODE;
	in.cat = repo->gateway.catalog;
	m.alert_id = "PREVIEW";
	m.team = t->id;
	m.step = d->step;
	m.lang = nl > 0 ? langs[0] : "en";
	m.exercise = strcmp(alert->status, "Exercise") == 0;
	m.ack_code = COMPOSE_CODE;
	m.ack_url = url;
	m.rcpts = &rc1;
	m.nrcpts = 1;
	cp_printf(out, "\n--- %s to %s <%s>, step %d ---\n", d->channel,
	    d->contact[0] != '\0' ? d->contact : t->id, d->address, d->step);
	if (ops->per_team || ops->preview == NULL) {
		if ((rc = render_body(&in, &text, &len, err)) == 0)
			base_buf_put(out, text, len);
		free(text);
		return rc;
	}
	if ((rc = render_short(alert, m.lang, in.cat, &text, &m.short_own,
	    err)) != 0)
		return rc;
	m.short_text = text;
	if (ops->needs_doc) {
		struct render_doc_in di = { .recipient = c != NULL ? c->name :
			NULL, .number = d->address, .duty_phone =
			repo->gateway.duty_phone, .ack_phone =
			repo->gateway.ack_phone, .full = t->policy != NULL &&
			t->policy->fax_detail == POLICY_FAX_FULL };

		if ((rc = render_doc(&in, &di, &doc, err)) != 0) {
			free(text);
			return rc;
		}
		m.doc = &doc;
	}
	rc = ops->preview(repo, &m, &pv, err);
	if (rc == 0 && strcmp(pv.type, "application/pdf") == 0) {
		char path[1024];

		cp_printf(out, "%d page%s of PDF", pv.pages, pv.pages == 1 ?
		    "" : "s");
		if (dir != NULL) {
			int fd;

			(void)snprintf(path, sizeof(path), "%s/%s-%s-%d.pdf", dir,
			    t->id, d->channel, d->step);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			    0640);
			if (fd < 0 || write(fd, pv.data, pv.len) !=
			    (ssize_t)pv.len)
				rc = tocsin_fail(err, TOCSIN_EIO, "cannot write "
				    "%s: %s", path, strerror(errno));
			else
				cp_printf(out, ", written to %s", path);
			if (fd >= 0)
				(void)close(fd);
		}
		base_buf_puts(out, "\n");
	} else if (rc == 0) {
		if (pv.provider[0] != '\0')
			cp_printf(out, "through %s", pv.provider);
		if (pv.segments > 0)
			cp_printf(out, ", %d part%s", pv.segments,
			    pv.segments == 1 ? "" : "s");
		base_buf_puts(out, ":\n");
		base_buf_put(out, pv.data, pv.len);
		base_buf_puts(out, "\n");
	} else {
		cp_printf(out, "not sendable: %s\n", err->msg);
		rc = 0;
	}
	free(pv.data);
	if (ops->needs_doc)
		render_doc_free(&doc);
	free(text);
	return rc;
}

int
compose_preview(const struct policy_repo *repo, const struct cap_alert *alert,
    const bool *mark, const char *team, const char *dir, struct base_buf *out,
    struct tocsin_err *err)
{
	const struct policy_team *t = NULL;
	bool exercise = strcmp(alert->status, "Exercise") == 0;
	struct base_buf gaps;
	size_t ngaps;
	int rc;

	if ((rc = cp_audience(repo, alert, mark, out, err)) != 0)
		return rc;
	base_buf_init(&gaps, 64 * 1024);
	ngaps = compose_language_gaps(repo, alert, mark, &gaps);
	if (ngaps > 0) {
		cp_printf(out, "Warning: %zu team%s will read a text that is not "
		    "in their primary contact's first language (the alert has "
		    "none in it):\n", ngaps, ngaps == 1 ? "" : "s");
		base_buf_put(out, gaps.p, gaps.len);
	}
	base_buf_free(&gaps);
	if (team == NULL)
		return 0;
	if ((t = policy_team_find(repo, team)) == NULL)
		return tocsin_fail(err, TOCSIN_EUSAGE, "--team %.40s is not a "
		    "team of the repository", team);
	if (!mark[t - repo->teams])
		return tocsin_fail(err, TOCSIN_EUSAGE, "team %s is not in this "
		    "alert's audience", t->id);
	cp_printf(out, "\nTeam %s (%s), policy %s:\n", t->id, t->domain != NULL ?
	    t->domain : t->id, t->policy != NULL ? t->policy->name : "-");
	{
		size_t steps = plan_ladder_len(t);
		bool shown[CHAN_MAX] = { false };

		for (size_t k = 0; k < steps && rc == 0; k++) {
			struct plan_list pl = { 0 };
			char after[32];

			cp_after(plan_step_at(t, k, 1) - 1, after, sizeof(after));
			if ((rc = plan_step_ex(t, k, 0, exercise, &pl, err)) != 0)
				break;
			cp_printf(out, "  step %zu (%s):", k, after);
			for (size_t d = 0; d < pl.n; d++)
				cp_printf(out, "%s %s %s <%s>", d > 0 ? ";" : "",
				    pl.d[d].channel, pl.d[d].contact[0] ?
				    pl.d[d].contact : "team", pl.d[d].address);
			base_buf_puts(out, pl.n == 0 ? " nothing\n" : "\n");
			plan_list_free(&pl);
		}
		/* each channel of the ladder once, at its first step */
		for (size_t k = 0; k < steps && rc == 0; k++) {
			struct plan_list pl = { 0 };

			if ((rc = plan_step_ex(t, k, 0, exercise, &pl, err)) != 0)
				break;
			for (size_t d = 0; d < pl.n && rc == 0; d++) {
				const struct chan_ops *ops =
				    chan_find(pl.d[d].channel);
				size_t c = ops != NULL ? chan_index(ops) : 0;

				if (ops == NULL || shown[c])
					continue;
				shown[c] = true;
				rc = cp_render(repo, alert, t, &pl.d[d], dir, out,
				    err);
			}
			plan_list_free(&pl);
		}
	}
	if (rc == 0 && (out->rc != 0 || out->p == NULL))
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	return rc;
}
