/*
 * desk.c: the desk board (see desk.h).
 *
 * Everything on the page that came from outside the code (alert text,
 * team and contact attributes, an ack's who and how) goes through
 * base_esc_html, which also drops bidi overrides and turns controls into
 * spaces.  The page shows no ack code and no link token: the store holds
 * only the tokens' hashes, and the codes are derived from the ack secret,
 * which this file never reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "cap.h"
#include "desk.h"

#define DESK_REQUEST_TEXT_MAX 2100	/* bytes of a request's text shown */
#define DESK_PAGE_MAX (8 * 1024 * 1024)
#define DESK_RATE_SLOTS 256
#define DESK_AUTH_MAX 512		/* the Authorization header, bytes */
#define DESK_ID_MAX 64			/* an alert id in the URL */

/* ---- the token file ---- */

static bool
desk_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > DESK_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-' || c == '@'))
			return false;
	}
	return true;
}

int
desk_tokens_parse(const char *text, size_t len, const char *path,
    struct desk_operator **ret, size_t *n, struct tocsin_err *err)
{
	struct desk_operator *ops = NULL;
	size_t nops = 0, cap = 0, lineno = 0;
	const char *p = text, *end = text + len;

	*ret = NULL;
	*n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end, *sp;
		size_t ll;

		lineno++;
		if (le > p && le[-1] == '\r')
			le--;
		ll = (size_t)(le - p);
		if (ll == 0 || p[0] == '#')
			goto next;
		for (sp = p; sp < le && *sp != ' ' && *sp != '\t'; sp++)
			;
		if (!desk_name_ok(p, (size_t)(sp - p)) || sp == le ||
		    (size_t)(le - sp - 1) != 64) {
			free(ops);
			return tocsin_fail(err, TOCSIN_ECONFIG, "%s:%zu: not "
			    "\"NAME SHA256HEX\" (a name of letters, digits and "
			    "._@- of at most %d bytes, one space, the 64 hex "
			    "digits `tocsin desk-token NAME` printed)", path,
			    lineno, DESK_NAME_MAX);
		}
		if (base_grow(&ops, &cap, nops + 1, sizeof(*ops)) != 0) {
			free(ops);
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		}
		{
			struct desk_operator *o = &ops[nops];
			char hex[65];

			memcpy(hex, sp + 1, 64);
			hex[64] = '\0';
			memset(o, 0, sizeof(*o));
			memcpy(o->name, p, (size_t)(sp - p));
			if (base_unhex(o->hash, sizeof(o->hash), hex) != 0) {
				free(ops);
				return tocsin_fail(err, TOCSIN_ECONFIG, "%s:%zu: "
				    "the hash is not 64 hex digits; copy the "
				    "line `tocsin desk-token NAME` printed",
				    path, lineno);
			}
			for (size_t i = 0; i < nops; i++)
				if (strcmp(ops[i].name, o->name) == 0) {
					char dup[DESK_NAME_MAX + 1];

					memcpy(dup, o->name, sizeof(dup));
					free(ops);
					return tocsin_fail(err, TOCSIN_ECONFIG,
					    "%s:%zu: operator %s is named "
					    "twice; keep one line each", path,
					    lineno, dup);
				}
			if (++nops > DESK_MAX_OPERATORS) {
				free(ops);
				return tocsin_fail(err, TOCSIN_ECONFIG, "%s:%zu: "
				    "more than %d operators", path, lineno,
				    DESK_MAX_OPERATORS);
			}
		}
next:
		p = nl != NULL ? nl + 1 : end;
	}
	*ret = ops;
	*n = nops;
	return 0;
}

int
desk_tokens_load(const char *path, struct desk_operator **ret, size_t *n,
    struct tocsin_err *err)
{
	char buf[DESK_FILE_MAX + 1];
	struct stat st;
	size_t len = 0;
	ssize_t r;
	int fd, rc;

	*ret = NULL;
	*n = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return tocsin_fail(err, TOCSIN_ECONFIG, "the desk's token file "
		    "%s (gateway.desk_tokens) cannot be read: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_ECONFIG, "the desk's token file "
		    "%s (gateway.desk_tokens) is not a regular file of mode "
		    "0600; chmod 600 %s", path, path);
	}
	while (len <= DESK_FILE_MAX && (r = read(fd, buf + len,
	    DESK_FILE_MAX + 1 - len)) > 0)
		len += (size_t)r;
	(void)close(fd);
	if (len > DESK_FILE_MAX)
		return tocsin_fail(err, TOCSIN_ECONFIG, "the desk's token file "
		    "%s is over %d bytes", path, DESK_FILE_MAX);
	rc = desk_tokens_parse(buf, len, path, ret, n, err);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

bool
desk_tokens_match(const struct desk_operator *ops, size_t n, const char *name,
    const char *token)
{
	unsigned char h[32];
	int found = 0;

	(void)SHA256((const unsigned char *)token, strlen(token), h);
	/* every entry's hash is compared, whoever is named */
	for (size_t i = 0; i < n; i++) {
		int same = CRYPTO_memcmp(ops[i].hash, h, sizeof(h)) == 0;

		found |= same & (strcmp(ops[i].name, name) == 0);
	}
	OPENSSL_cleanse(h, sizeof(h));
	return found != 0;
}

int
desk_token_make(const char *name, char token[DESK_TOKEN_LEN + 1], char *line,
    size_t linelen, struct tocsin_err *err)
{
	unsigned char raw[DESK_TOKEN_BYTES], h[32];
	char hex[65];

	if (!desk_name_ok(name, strlen(name)))
		return tocsin_fail(err, TOCSIN_EDATA, "an operator's name is 1 "
		    "to %d letters, digits and ._@-", DESK_NAME_MAX);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "no random bytes to be "
		    "had");
	base_hex(token, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	(void)SHA256((const unsigned char *)token, DESK_TOKEN_LEN, h);
	base_hex(hex, h, sizeof(h));
	(void)snprintf(line, linelen, "%s %s", name, hex);
	return 0;
}

/* ---- HTTP Basic ---- */

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int
desk_basic_parse(const char *header, char name[DESK_NAME_MAX + 1],
    char *token, size_t tokenlen)
{
	unsigned char out[DESK_AUTH_MAX];
	size_t n, o = 0, pad = 0;
	const char *s, *colon;
	unsigned acc = 0;
	int bits = 0;

	if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
		return -1;
	for (s = header + 6; *s == ' '; s++)
		;
	n = strnlen(s, DESK_AUTH_MAX + 1);
	if (n == 0 || n > DESK_AUTH_MAX || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v;

		if (s[i] == '=') {
			if (++pad > 2 || i < n - 2)
				return -1;
			continue;
		}
		if (pad > 0 || (v = b64val((unsigned char)s[i])) < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if ((colon = memchr(out, ':', o)) == NULL) {
		OPENSSL_cleanse(out, sizeof(out));
		return -1;
	}
	{
		size_t nl = (size_t)(colon - (const char *)out);
		size_t tl = o - nl - 1;

		if (nl == 0 || nl > DESK_NAME_MAX || tl == 0 ||
		    tl >= tokenlen || memchr(out, '\0', o) != NULL) {
			OPENSSL_cleanse(out, sizeof(out));
			return -1;
		}
		memcpy(name, out, nl);
		name[nl] = '\0';
		memcpy(token, colon + 1, tl);
		token[tl] = '\0';
	}
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

/* ---- grouping ---- */

enum desk_group
desk_group_of(const struct store_team_row *t)
{
	if (t->state == NULL)
		return DESK_STOPPED;
	if (strcmp(t->state, "acked") == 0)
		return DESK_ACKED;
	if (strcmp(t->state, "unreached") == 0)
		return DESK_UNREACHED;
	/* step < 0: active, its first step held for quiet hours */
	if (strcmp(t->state, "active") == 0)
		return t->step > 0 ? DESK_ESCALATED : DESK_UNACKED;
	return DESK_STOPPED;
}

const char *
desk_group_name(enum desk_group g)
{
	static const char *const names[DESK_NGROUPS] = { "unacked",
		"escalated", "unreached", "acked", "stopped" };

	return (unsigned)g < DESK_NGROUPS ? names[g] : "?";
}

void
desk_order(const struct store_team_row *t, size_t n, size_t *order)
{
	size_t k = 0;

	/* a stable bucket pass: the store's order within a group */
	for (int g = 0; g < DESK_NGROUPS; g++)
		for (size_t i = 0; i < n; i++)
			if ((int)desk_group_of(&t[i]) == g)
				order[k++] = i;
}

/* ---- rendering ---- */

void
desk_span(char *out, size_t outlen, int64_t secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		(void)snprintf(out, outlen, "%lld s", (long long)secs);
	else if (secs < 3600)
		(void)snprintf(out, outlen, "%lld min", (long long)(secs / 60));
	else if (secs < 86400)
		(void)snprintf(out, outlen, "%lld h %02lld min",
		    (long long)(secs / 3600), (long long)(secs % 3600 / 60));
	else
		(void)snprintf(out, outlen, "%lld d %lld h",
		    (long long)(secs / 86400), (long long)(secs % 86400 / 3600));
}

static void
desk_utc(char *out, size_t outlen, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		(void)snprintf(out, outlen, "?");
}

/* One attribute line of a card: a label and escaped text; nothing when
   the value is absent. */
static void
desk_attr(struct base_buf *b, const char *label, const char *v, size_t max)
{
	if (v == NULL || v[0] == '\0')
		return;
	base_buf_puts(b, "<dt>");
	base_buf_puts(b, label);
	base_buf_puts(b, "</dt><dd>");
	base_esc_html(b, v, max);
	base_buf_puts(b, "</dd>");
}

/* A phone number as a tel: link (the repository checked it is E.164,
   and it is escaped all the same). */
static void
desk_phone(struct base_buf *b, const char *label, const char *v)
{
	if (v == NULL || v[0] == '\0')
		return;
	base_buf_puts(b, "<dt>");
	base_buf_puts(b, label);
	base_buf_puts(b, "</dt><dd><a href=\"tel:");
	base_esc_html(b, v, 32);
	base_buf_puts(b, "\">");
	base_esc_html(b, v, 32);
	base_buf_puts(b, "</a></dd>");
}

void
desk_contact_html(struct base_buf *b, const struct policy_contact *c)
{
	char hours[32];

	base_buf_puts(b, "<div class=\"card\"><h4>");
	base_esc_html(b, c->name, 200);
	if (c->primary)
		base_buf_puts(b, " <span class=\"tag\">primary</span>");
	if (c->substitute)
		base_buf_puts(b, " <span class=\"tag\">substitute</span>");
	base_buf_puts(b, "</h4><dl>");
	desk_attr(b, "Role", c->role, 200);
	if (c->email != NULL && c->email[0] != '\0') {
		base_buf_puts(b, "<dt>E-mail</dt><dd><a href=\"mailto:");
		base_esc_html(b, c->email, 254);
		base_buf_puts(b, "\">");
		base_esc_html(b, c->email, 254);
		base_buf_puts(b, "</a></dd>");
	}
	desk_attr(b, "OpenPGP key", c->pgp, POLICY_FPR_LEN);
	desk_phone(b, "Phone", c->phone);
	desk_phone(b, "Mobile", c->mobile);
	desk_phone(b, "Emergency phone", c->emergency_phone);
	desk_phone(b, "Fax", c->fax);
	for (size_t i = 0; i < c->nmessengers; i++) {
		base_buf_puts(b, "<dt>Messenger</dt><dd>");
		base_esc_html(b, c->messengers[i].service, 64);
		base_buf_puts(b, ": ");
		base_esc_html(b, c->messengers[i].id, 200);
		base_buf_puts(b, "</dd>");
	}
	desk_attr(b, "Other telecommunication", c->other_telecom, 500);
	if (c->nlanguages > 0) {
		base_buf_puts(b, "<dt>Languages</dt><dd>");
		for (size_t i = 0; i < c->nlanguages; i++) {
			if (i > 0)
				base_buf_puts(b, ", ");
			base_esc_html(b, c->languages[i], 32);
		}
		base_buf_puts(b, "</dd>");
	}
	desk_attr(b, "Time zone", c->timezone, 64);
	desk_attr(b, "Country", c->country, 8);
	if (c->bh_start >= 0 && c->bh_end >= 0) {
		(void)snprintf(hours, sizeof(hours), "%02d:%02d-%02d:%02d UTC",
		    c->bh_start / 60 % 100, c->bh_start % 60,
		    c->bh_end / 60 % 100, c->bh_end % 60);
		desk_attr(b, "Business hours", hours, sizeof(hours));
	}
	base_buf_puts(b, "</dl></div>\n");
}

static const struct policy_team *
desk_team_of(const struct policy_repo *repo, const char *id)
{
	for (size_t i = 0; i < repo->nteams; i++)
		if (strcmp(repo->teams[i].id, id) == 0)
			return &repo->teams[i];
	return NULL;
}

/* The steps of one team: when each began (its first delivery), and the
   deadline of the next. */
static void
desk_steps_html(struct base_buf *pg, const struct store_team_row *t,
    const struct store_delivery_row *d, size_t nd, int64_t now)
{
	char span[48], when[40], line[200];
	int maxstep = -1;

	for (size_t i = 0; i < nd; i++)
		if (strcmp(d[i].team, t->team) == 0 && !d[i].notice &&
		    !d[i].check && d[i].step > maxstep)
			maxstep = d[i].step;
	base_buf_puts(pg, "<ul class=\"steps\">");
	for (int s = 0; s <= maxstep && s < 1000; s++) {
		int64_t began = 0;
		int nd_s = 0;

		for (size_t i = 0; i < nd; i++)
			if (strcmp(d[i].team, t->team) == 0 && !d[i].notice &&
			    !d[i].check && d[i].step == s) {
				nd_s++;
				if (began == 0 || d[i].created < began)
					began = d[i].created;
			}
		if (nd_s == 0)
			continue;
		desk_span(span, sizeof(span), now - began);
		desk_utc(when, sizeof(when), began);
		(void)snprintf(line, sizeof(line), "<li>step %d began %s ago "
		    "(%s), %d message%s</li>", s + 1, span, when, nd_s,
		    nd_s == 1 ? "" : "s");
		base_buf_puts(pg, line);
	}
	if (t->deadline > 0 && desk_group_of(t) != DESK_ACKED) {
		desk_utc(when, sizeof(when), t->deadline);
		if (t->deadline > now) {
			desk_span(span, sizeof(span), t->deadline - now);
			(void)snprintf(line, sizeof(line), "<li>next step in %s "
			    "(%s)</li>", span, when);
		} else {
			desk_span(span, sizeof(span), now - t->deadline);
			(void)snprintf(line, sizeof(line), "<li>deadline passed "
			    "%s ago (%s)</li>", span, when);
		}
		base_buf_puts(pg, line);
	}
	base_buf_puts(pg, "</ul>");
}

static void
desk_team_html(struct base_buf *pg, const struct policy_repo *repo,
    const struct store_team_row *t, const struct store_delivery_row *d,
    size_t nd, int64_t now)
{
	const struct policy_team *pt = desk_team_of(repo, t->team);
	enum desk_group g = desk_group_of(t);
	char span[48], when[40], num[64];

	base_buf_puts(pg, "<section class=\"team g-");
	base_buf_puts(pg, desk_group_name(g));
	base_buf_puts(pg, "\"><h3>");
	base_esc_html(pg, t->team, 64);
	base_buf_puts(pg, " <span class=\"state\">");
	base_buf_puts(pg, desk_group_name(g));
	if (g == DESK_STOPPED) {
		base_buf_puts(pg, ": ");
		base_esc_html(pg, t->state, 32);
	}
	(void)snprintf(num, sizeof(num), ", step %d", t->step + 1);
	if (t->step >= 0)
		base_buf_puts(pg, num);
	else if (g == DESK_UNACKED)
		/* its first step waits for the team's business hours */
		base_buf_puts(pg, ", held for business hours");
	base_buf_puts(pg, "</span></h3>");
	if (t->why != NULL) {
		base_buf_puts(pg, "<p class=\"why\">moved on: ");
		base_esc_html(pg, t->why, 32);
		base_buf_puts(pg, "</p>");
	}
	if (t->ack_by != NULL) {
		desk_span(span, sizeof(span), now - t->ack_at);
		desk_utc(when, sizeof(when), t->ack_at);
		base_buf_puts(pg, "<p class=\"ack\">Acked by <b>");
		base_esc_html(pg, t->ack_by, 200);
		base_buf_puts(pg, "</b> via <b>");
		base_esc_html(pg, t->ack_via, 64);
		base_buf_puts(pg, "</b>, <b>");
		base_esc_html(pg, t->ack_strength, 16);
		base_buf_puts(pg, "</b>, ");
		base_buf_puts(pg, span);
		base_buf_puts(pg, " ago (");
		base_buf_puts(pg, when);
		base_buf_puts(pg, ")");
		if (t->ack_contact == NULL)
			base_buf_puts(pg, "; the name is what was typed or "
			    "claimed");
		base_buf_puts(pg, "</p>");
	}
	desk_steps_html(pg, t, d, nd, now);
	if (pt == NULL) {
		base_buf_puts(pg, "<p>This team is no longer in the "
		    "repository.</p></section>\n");
		return;
	}
	base_buf_puts(pg, "<dl class=\"teamattr\">");
	desk_attr(pg, "Domain", pt->domain, 253);
	desk_attr(pg, "ccTLD operator", pt->cctld_operator, 200);
	desk_attr(pg, "Host organisation", pt->host_organisation, 200);
	desk_attr(pg, "Registry operator", pt->registry_operator, 200);
	desk_attr(pg, "Country", pt->country, 8);
	desk_attr(pg, "Region", pt->region, 32);
	base_buf_puts(pg, "</dl><div class=\"cards\">");
	for (size_t i = 0; i < pt->ncontacts; i++)
		desk_contact_html(pg, &pt->contacts[i]);
	base_buf_puts(pg, "</div></section>\n");
}

static void
desk_head(struct base_buf *pg, const char *title, bool exercise)
{
	base_buf_puts(pg, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
	    "charset=\"utf-8\"><meta name=\"viewport\" content=\"width="
	    "device-width, initial-scale=1\"><meta http-equiv=\"refresh\" "
	    "content=\"30\"><title>");
	base_esc_html(pg, title, 200);
	base_buf_puts(pg, "</title><style>"
	    "*{box-sizing:border-box}"
	    "body{font-family:sans-serif;margin:0 auto;padding:.5em 1em;"
	    "max-width:90em;line-height:1.35;color:#000;background:#fff;"
	    "overflow-wrap:anywhere}"
	    "h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:2px solid #000;"
	    "margin-top:1.5em}h3{font-size:1.1em;margin:.2em 0}"
	    "h4{margin:0 0 .3em}"
	    ".band{padding:.4em;font-weight:bold;text-align:center;border:3px "
	    "solid #000}.actual{background:#000;color:#fff}"
	    ".team{border:1px solid #000;border-left:8px solid #000;"
	    "padding:.5em;margin:.6em 0;page-break-inside:avoid}"
	    ".g-unacked{border-left-color:#b00}.g-escalated{border-left-color:"
	    "#e60}.g-unreached{border-left-color:#606}.g-acked{"
	    "border-left-color:#070}"
	    ".state{font-weight:normal;font-size:.9em}"
	    ".cards{display:grid;grid-template-columns:repeat(auto-fill,"
	    "minmax(min(100%,19em),1fr));gap:.5em}"
	    ".card{border:1px solid #777;padding:.4em;min-width:0}"
	    ".tag{font-size:.8em;border:1px solid #000;padding:0 .2em}"
	    "dl{display:grid;grid-template-columns:max-content 1fr;gap:0 .6em;"
	    "margin:.2em 0}dt{font-weight:bold}dd{margin:0;min-width:0}"
	    ".teamattr{font-size:.95em}ul.steps{margin:.2em 0;padding-left:"
	    "1.2em}table{border-collapse:collapse;width:100%}"
	    "td,th{border:1px solid #000;padding:.2em .4em;text-align:left}"
	    "a{color:#00c}"
	    "@media (max-width:40em){dl{grid-template-columns:1fr}"
	    "dd{margin-left:.8em}td,th{font-size:.9em}}"
	    "@media print{a{color:#000}.actual{background:#fff;color:#000}"
	    ".team{border-left-width:3px}}"
	    "</style></head><body>\n");
	base_buf_puts(pg, exercise ? "<div class=\"band\">EXERCISE &ndash; NO "
	    "REAL INCIDENT</div>\n" : "<div class=\"band actual\">ACTUAL ALERT"
	    "</div>\n");
}

void
desk_alert_html(struct base_buf *pg, const struct policy_repo *repo,
    const struct store_alert_row *a, const struct store_team_row *t,
    size_t n, const struct store_delivery_row *d, size_t nd, int64_t now)
{
	size_t *order = calloc(n > 0 ? n : 1, sizeof(*order));
	size_t *runs = calloc(nd > 0 ? nd : 1, sizeof(*runs));
	size_t nruns = 0;
	int count[DESK_NGROUPS] = { 0 };
	char num[160], when[40];
	int shown = -1;

	if (order == NULL || runs == NULL) {
		free(order);
		free(runs);
		pg->rc = TOCSIN_ENOMEM;
		return;
	}
	/* where each team's deliveries start (the store keeps them
	   together) */
	for (size_t i = 0; i < nd; i++)
		if (i == 0 || strcmp(d[i].team, d[i - 1].team) != 0)
			runs[nruns++] = i;
	desk_head(pg, a->id, strcmp(a->status, "Exercise") == 0);
	base_buf_puts(pg, "<p><a href=\"../desk\">All active alerts</a></p>"
	    "<h1>Alert ");
	base_esc_html(pg, a->id, 64);
	base_buf_puts(pg, "</h1><p>");
	base_esc_html(pg, a->headline, 300);
	desk_utc(when, sizeof(when), a->received);
	base_buf_puts(pg, "</p><p>");
	base_esc_html(pg, a->status, 16);
	base_buf_puts(pg, " ");
	base_esc_html(pg, a->msg_type, 16);
	base_buf_puts(pg, ", severity ");
	base_esc_html(pg, policy_severity_name(a->severity), 16);
	base_buf_puts(pg, ", accepted ");
	base_buf_puts(pg, when);
	base_buf_puts(pg, ", from ");
	base_esc_html(pg, a->sender, 200);
	base_buf_puts(pg, ".</p>\n<p>");
	for (size_t i = 0; i < n; i++)
		count[desk_group_of(&t[i])]++;
	for (int g = 0; g < DESK_NGROUPS; g++) {
		(void)snprintf(num, sizeof(num), "%s<b>%d</b> %s", g > 0 ?
		    ", " : "", count[g], desk_group_name((enum desk_group)g));
		base_buf_puts(pg, num);
	}
	base_buf_puts(pg, "</p>\n");
	desk_order(t, n, order);
	for (size_t k = 0; k < n; k++) {
		const struct store_team_row *r = &t[order[k]];
		int g = (int)desk_group_of(r);

		if (g != shown) {
			(void)snprintf(num, sizeof(num), "<h2 id=\"%s\">%s "
			    "(%d)</h2>\n", desk_group_name((enum desk_group)g),
			    desk_group_name((enum desk_group)g), count[g]);
			base_buf_puts(pg, num);
			shown = g;
		}
		/* the store returns a team's deliveries together (ordered
		   by team): only its own run is looked at */
		{
			size_t from = 0, len = 0;

			for (size_t j = 0; j < nruns; j++)
				if (strcmp(d[runs[j]].team, r->team) == 0) {
					from = runs[j];
					len = (j + 1 < nruns ? runs[j + 1] : nd)
					    - from;
					break;
				}
			desk_team_html(pg, repo, r, d + from, len, now);
		}
	}
	desk_utc(when, sizeof(when), now);
	base_buf_puts(pg, "<p>As of ");
	base_buf_puts(pg, when);
	base_buf_puts(pg, "; this page reloads every 30 s.</p></body></html>\n");
	free(runs);
	free(order);
}

/* ---- serving ---- */

struct desk_rate {
	char addr[96];
	int64_t start, blocked_until;
	int fails;
	bool told;
};

struct desk {
	const struct policy_repo *repo;
	struct store *st;
	void (*log)(void *, const char *);
	void *log_arg;
	struct desk_rate rate[DESK_RATE_SLOTS];
	unsigned long logged, dropped;	/* failure lines, per minute */
	int64_t log_minute;
};

int
desk_new(const struct policy_repo *repo, struct store *st,
    void (*log)(void *, const char *), void *log_arg, struct desk **ret,
    struct tocsin_err *err)
{
	struct desk *d;

	*ret = NULL;
	if (repo->gateway.desk_tokens == NULL)
		return 0;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	d->repo = repo;
	d->st = st;
	d->log = log;
	d->log_arg = log_arg;
	*ret = d;
	return 0;
}

void
desk_free(struct desk *d)
{
	free(d);
}

static enum MHD_Result
desk_text(struct MHD_Connection *c, unsigned int status, const char *text,
    bool challenge)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text),
	    (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, "Content-Type",
	    "text/plain; charset=utf-8");
	(void)MHD_add_response_header(r, "Cache-Control", "no-store");
	if (challenge)
		(void)MHD_add_response_header(r, "WWW-Authenticate",
		    "Basic realm=\"tocsin desk\", charset=\"UTF-8\"");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		(void)MHD_add_response_header(r, "Allow", "GET, HEAD");
	if (status == MHD_HTTP_TOO_MANY_REQUESTS)
		(void)MHD_add_response_header(r, "Retry-After", "300");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
desk_page(struct MHD_Connection *c, unsigned int status, struct base_buf *pg)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (pg->rc != 0 || pg->full || pg->p == NULL) {
		base_buf_free(pg);
		return desk_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "the board is too large or memory is short\n", false);
	}
	r = MHD_create_response_from_buffer(pg->len, pg->p,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		base_buf_free(pg);
		return MHD_NO;
	}
	pg->p = NULL;
	(void)MHD_add_response_header(r, "Content-Type",
	    "text/html; charset=utf-8");
	(void)MHD_add_response_header(r, "Cache-Control", "no-store");
	(void)MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	(void)MHD_add_response_header(r, "X-Frame-Options", "DENY");
	(void)MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	(void)MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; "
	    "form-action 'none'; frame-ancestors 'none'");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static struct desk_rate *
desk_rate_slot(struct desk *d, const char *addr, int64_t now)
{
	struct desk_rate *best = &d->rate[0];

	for (size_t i = 0; i < DESK_RATE_SLOTS; i++) {
		struct desk_rate *r = &d->rate[i];

		if (strcmp(r->addr, addr) == 0) {
			if (now - r->start >= DESK_FAIL_WINDOW &&
			    now >= r->blocked_until) {
				r->start = now;
				r->fails = 0;
				r->told = false;
			}
			return r;
		}
		/* a slot that is blocked is kept over one that is not */
		if ((r->blocked_until <= now) > (best->blocked_until <= now) ||
		    ((r->blocked_until <= now) == (best->blocked_until <= now)
		    && r->start < best->start))
			best = r;
	}
	memset(best, 0, sizeof(*best));
	(void)snprintf(best->addr, sizeof(best->addr), "%s", addr);
	best->start = now;
	return best;
}

/* A failure line: at most 20 a minute over all clients, then a count. */
static void
desk_fail_log(struct desk *d, int64_t now, const char *addr, const char *why)
{
	char a[200];
	struct base_buf b = { .limit = 150 };

	base_esc_term(&b, addr, 96);
	(void)snprintf(a, sizeof(a), "%s", b.p != NULL ? b.p : "?");
	base_buf_free(&b);
	if (now / 60 != d->log_minute) {
		if (d->dropped > 0)
			tocsin_logf(d->log, d->log_arg, "desk: %lu more refusals not logged in the "
			    "last minute", d->dropped);
		d->log_minute = now / 60;
		d->logged = d->dropped = 0;
	}
	if (d->logged >= 20) {
		d->dropped++;
		return;
	}
	d->logged++;
	tocsin_logf(d->log, d->log_arg, "desk: refused %s: %s", a, why);
}

static bool
desk_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DESK_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-' || c == ':'))
			return false;
	}
	return true;
}

/* Whether an alert is still to be watched: not itself a Cancel, some team
   whose ladder did not stop for a Cancel or an Update, and not past the
   expiry of every info that has one. */
static bool
desk_active(const struct store_alert_row *a)
{
	return store_alert_asks(a) &&
	    a->nacked + a->nactive + a->nheld + a->nunreached > 0;
}

static bool
desk_expired(struct desk *d, const char *id, int64_t now)
{
	struct tocsin_err e;
	struct cap_alert *cap = NULL;
	char *doc = NULL;
	size_t len = 0;
	bool expired = false;

	if (store_alert_cap(d->st, id, &doc, &len, &e) != 0)
		return false;
	if (cap_parse(doc, len, d->repo->gateway.max_alert_bytes, &cap, &e)
	    == 0 && cap->ninfos > 0) {
		expired = true;
		for (size_t i = 0; i < cap->ninfos && expired; i++) {
			time_t x;

			if (cap->infos[i].expires == NULL ||
			    cap_datetime_parse(cap->infos[i].expires, &x) != 0
			    || (int64_t)x > now)
				expired = false;
		}
	}
	cap_free(cap);
	free(doc);
	return expired;
}

/* The open requests for help from teams (request.h): who asked, how and
   how strongly, the desk's page and its state, and the text, escaped: it
   is the team's, shown as theirs. */
static void
desk_requests_html(struct desk *d, struct base_buf *pg)
{
	struct store_request_row *r = NULL;
	struct tocsin_err e = { 0 };
	size_t n = 0;
	char when[40];

	if (store_requests(d->st, true, &r, &n, &e) != 0) {
		tocsin_logf(d->log, d->log_arg, "desk: %s", e.msg);
		return;
	}
	if (n > 0) {
		base_buf_puts(pg, "<h1>Requests from teams</h1>\n<table "
		    "class=\"requests\"><thead><tr><th>Request</th><th>Team"
		    "</th><th>From</th><th>Received</th><th>Page</th><th>Text"
		    "</th></tr></thead><tbody>\n");
		for (size_t i = 0; i < n; i++) {
			desk_utc(when, sizeof(when), r[i].at);
			base_buf_puts(pg, "<tr><td>");
			base_esc_html(pg, r[i].id, 64);
			base_buf_puts(pg, "</td><td>");
			base_esc_html(pg, r[i].team, 64);
			base_buf_puts(pg, r[i].name_us ? "" : " (not to be "
			    "named)");
			base_buf_puts(pg, "</td><td>");
			base_esc_html(pg, r[i].contact, 128);
			base_buf_puts(pg, " (");
			base_esc_html(pg, r[i].via, 16);
			base_buf_puts(pg, ", ");
			base_esc_html(pg, r[i].strength, 16);
			base_buf_puts(pg, ")</td><td>");
			base_buf_puts(pg, when);
			base_buf_puts(pg, "</td><td>");
			base_esc_html(pg, r[i].page_state != NULL ?
			    r[i].page_state : "not paged", 32);
			base_buf_puts(pg, "</td><td class=\"text\">");
			base_esc_html(pg, r[i].text, DESK_REQUEST_TEXT_MAX);
			base_buf_puts(pg, "</td></tr>\n");
		}
		base_buf_puts(pg, "</tbody></table>\n");
	}
	store_request_rows_free(r, n);
}

static enum MHD_Result
desk_index(struct desk *d, struct MHD_Connection *c, int64_t now,
    const char *who, bool slash)
{
	struct base_buf pg = { .limit = DESK_PAGE_MAX };
	struct store_alert_row *a = NULL;
	struct tocsin_err e = { 0 };
	size_t n = 0, shown = 0;
	char num[200], when[40];

	if (store_alerts(d->st, &a, &n, &e) != 0) {
		tocsin_logf(d->log, d->log_arg, "desk: %s", e.msg);
		return desk_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the store "
		    "cannot be read now; try again\n", false);
	}
	desk_head(&pg, "tocsin desk", false);
	base_buf_puts(&pg, "<h1>Active alerts</h1><p>Signed in as ");
	base_esc_html(&pg, who, DESK_NAME_MAX);
	base_buf_puts(&pg, ".</p>\n<table><thead><tr><th>Alert</th><th>"
	    "Headline</th><th>unacked</th><th>escalated</th><th>unreached"
	    "</th><th>acked</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < n; i++) {
		struct store_team_row *t = NULL;
		size_t nt = 0;
		int count[DESK_NGROUPS] = { 0 };

		if (!desk_active(&a[i]) || desk_expired(d, a[i].id, now))
			continue;
		if (store_teams(d->st, a[i].id, &t, &nt, &e) != 0) {
			tocsin_logf(d->log, d->log_arg, "desk: %s", e.msg);
			continue;
		}
		for (size_t k = 0; k < nt; k++)
			count[desk_group_of(&t[k])]++;
		store_team_rows_free(t, nt);
		base_buf_puts(&pg, slash ? "<tr><td><a href=\"" :
		    "<tr><td><a href=\"desk/");
		base_esc_html(&pg, a[i].id, 64);
		base_buf_puts(&pg, "\">");
		base_esc_html(&pg, a[i].id, 64);
		base_buf_puts(&pg, "</a>");
		if (strcmp(a[i].status, "Exercise") == 0)
			base_buf_puts(&pg, " (exercise)");
		base_buf_puts(&pg, "</td><td>");
		base_esc_html(&pg, a[i].headline, 200);
		(void)snprintf(num, sizeof(num), "</td><td>%d</td><td>%d</td>"
		    "<td>%d</td><td>%d</td></tr>\n", count[DESK_UNACKED],
		    count[DESK_ESCALATED], count[DESK_UNREACHED],
		    count[DESK_ACKED]);
		base_buf_puts(&pg, num);
		shown++;
	}
	store_alert_rows_free(a, n);
	base_buf_puts(&pg, "</tbody></table>\n");
	if (shown == 0)
		base_buf_puts(&pg, "<p>No active alert.</p>\n");
	desk_requests_html(d, &pg);
	desk_utc(when, sizeof(when), now);
	base_buf_puts(&pg, "<p>As of ");
	base_buf_puts(&pg, when);
	base_buf_puts(&pg, "; this page reloads every 30 s.</p></body></html>"
	    "\n");
	return desk_page(c, MHD_HTTP_OK, &pg);
}

static enum MHD_Result
desk_alert(struct desk *d, struct MHD_Connection *c, const char *id,
    int64_t now)
{
	struct base_buf pg = { .limit = DESK_PAGE_MAX };
	struct store_alert_row *a = NULL;
	struct store_team_row *t = NULL;
	struct store_delivery_row *dl = NULL;
	struct tocsin_err e = { 0 };
	size_t nt = 0, nd = 0;
	int rc;

	if (!desk_id_ok(id))
		return desk_text(c, MHD_HTTP_NOT_FOUND, "no such alert\n",
		    false);
	if ((rc = store_alert_get(d->st, id, &a, &e)) != 0) {
		if (rc == TOCSIN_ENOTFOUND)
			return desk_text(c, MHD_HTTP_NOT_FOUND, "no such "
			    "alert\n", false);
		tocsin_logf(d->log, d->log_arg, "desk: %s", e.msg);
		return desk_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the store "
		    "cannot be read now; try again\n", false);
	}
	if (store_teams(d->st, id, &t, &nt, &e) != 0 ||
	    store_deliveries(d->st, id, NULL, &dl, &nd, &e) != 0) {
		tocsin_logf(d->log, d->log_arg, "desk: %s", e.msg);
		store_team_rows_free(t, nt);
		store_alert_rows_free(a, 1);
		return desk_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the store "
		    "cannot be read now; try again\n", false);
	}
	desk_alert_html(&pg, d->repo, a, t, nt, dl, nd, now);
	store_delivery_rows_free(dl, nd);
	store_team_rows_free(t, nt);
	store_alert_rows_free(a, 1);
	return desk_page(c, MHD_HTTP_OK, &pg);
}

int
desk_serve(struct desk *d, struct MHD_Connection *c, const char *url,
    const char *method, const char *addr)
{
	struct desk_operator *ops = NULL;
	struct desk_rate *r;
	struct tocsin_err e = { 0 };
	char name[DESK_NAME_MAX + 1], token[DESK_AUTH_MAX];
	const char *auth, *why = NULL;
	size_t nops = 0;
	int64_t now = (int64_t)time(NULL);
	bool ok = false;
	enum MHD_Result res;

	if (d == NULL)
		return desk_text(c, MHD_HTTP_NOT_FOUND, "not found\n", false);
	if (strcmp(url, "/desk") != 0 && strcmp(url, "/desk/") != 0 &&
	    strncmp(url, "/desk/", 6) != 0)
		return desk_text(c, MHD_HTTP_NOT_FOUND, "not found\n", false);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return desk_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "the desk "
		    "board is read-only: GET only\n", false);
	r = desk_rate_slot(d, addr, now);
	if (r->blocked_until > now)
		return desk_text(c, MHD_HTTP_TOO_MANY_REQUESTS, "too many "
		    "failed sign-ins from your address; try again later\n",
		    false);
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (auth == NULL)
		why = "no credentials";
	else if (desk_basic_parse(auth, name, token, sizeof(token)) != 0)
		why = "credentials that are not HTTP Basic";
	else if (desk_tokens_load(d->repo->gateway.desk_tokens, &ops, &nops,
	    &e) != 0) {
		tocsin_logf(d->log, d->log_arg, "desk: %s", e.msg);
		OPENSSL_cleanse(token, sizeof(token));
		return desk_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the desk's "
		    "token file cannot be read; see the log\n", false);
	} else if (!(ok = desk_tokens_match(ops, nops, name, token)))
		why = "a wrong name or token";
	free(ops);
	OPENSSL_cleanse(token, sizeof(token));
	if (!ok) {
		/* a browser asks first without credentials: that is the
		   prompt, not a failure */
		if (auth != NULL) {
			char det[160];

			r->fails++;
			desk_fail_log(d, now, addr, why);
			if (r->fails >= DESK_MAX_FAILS && !r->told) {
				r->blocked_until = now + DESK_BLOCK_SECONDS;
				r->told = true;
				tocsin_logf(d->log, d->log_arg, "desk: %d failed sign-ins from one "
				    "address in a minute; it is refused for "
				    "%d s", r->fails, DESK_BLOCK_SECONDS);
			}
			(void)snprintf(det, sizeof(det), "%s; %d in this "
			    "minute", why, r->fails);
			if (store_audit(d->st, now, "desk", "desk-refused",
			    r->addr, det, &e) != 0)
				tocsin_logf(d->log, d->log_arg, "desk: %s", e.msg);
		}
		return desk_text(c, MHD_HTTP_UNAUTHORIZED, "sign in with your "
		    "operator name and desk token\n", true);
	}
	if (strcmp(url, "/desk") == 0 || strcmp(url, "/desk/") == 0)
		res = desk_index(d, c, now, name, url[5] == '/');
	else
		res = desk_alert(d, c, url + 6, now);
	return res;
}
