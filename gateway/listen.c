/*
 * listen.c: the HTTP listener (see listen.h).
 *
 * libmicrohttpd runs every callback in the listener's one thread, so the
 * listener's store connection and its rate table are used by that thread
 * alone.  Bodies are bounded.  Served: POST to a channel's receipt path;
 * GET and POST of /ack/TOKEN, the link in every message.  GET only shows
 * the alert and a button, because mail scanners fetch links; POST (the
 * button) acknowledges.  The store knows a token only by its SHA-256.
 * Unknown tokens count against the client's address: past a few a minute
 * it gets 429 until the minute is over, and every refusal is logged.
 *
 * Against slow and many connections (the listener is how people ack and
 * how providers report): at most gateway.listen_max_connections open at
 * once, at most listen_max_per_address of them from one address (the
 * trusted proxy excepted, as it carries every client), listen_idle_timeout
 * of silence, and listen_request_timeout for a request in all, counted
 * from its connection or from the end of the request before it on the
 * same connection.  libmicrohttpd's own timeout counts only silence, so a
 * client sending a byte now and then would hold a slot for ever: the
 * listener therefore runs libmicrohttpd's loop in a thread of its own and
 * between turns shuts down the sockets of requests past their time.
 * libmicrohttpd's per-address limit is not used: it cannot except the
 * proxy.
 *
 * /metrics and /healthz are answered by the monitor (monitor.h), in a
 * thread and on a store connection of its own: the connection waits
 * suspended meanwhile, and the listener goes on with every other request.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "ack.h"
#include "base.h"
#include "cap.h"
#include "desk.h"
#include "form.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "reply.h"
#include "store.h"
#include "tz.h"
#include "xff.h"
#include "verify.h"

#define LISTEN_MAX_BODY FORM_MAX_BODY
#define LISTEN_RATE_SLOTS 512		/* client addresses remembered */
#define LISTEN_RATE_WINDOW 60		/* seconds */
#define LISTEN_MAX_MISSES 10		/* unknown tokens per window */
#define LISTEN_MAX_HITS 120		/* ack requests per window */
#define LISTEN_TICK_MS 100		/* deadlines are looked at this often */

/* Ack requests of one client address in the current window. */
struct listen_rate {
	char addr[96];
	int64_t start;
	int hits, misses;
	bool told;			/* the refusal was logged */
};

/* One open connection: whose, and since when its request runs. */
struct listen_conn {
	struct listen_conn *prev, *next;
	char addr[INET6_ADDRSTRLEN];
	int fd;
	int64_t since;			/* monotonic ms: connected, or the last
					   request on it completed */
	bool cut;			/* shut down for its deadline */
};

struct listen_ctx {
	const struct policy_repo *repo;
	const struct listen_channel *chans;
	size_t nchans;
	struct log_sink *log;		/* NULL: none */
	struct store *st;
	struct MHD_Daemon *d;
	char base[1024];		/* public_url, ending in "/" */
	struct listen_rate rate[LISTEN_RATE_SLOTS];
	unsigned long receipts_repeated;	/* for a final delivery */
	unsigned long throttled;	/* replies refused for wrong codes */
	/* Used by the loop's thread alone (callbacks run in it). */
	struct listen_conn *conns;	/* open connections */
	int64_t swept;			/* monotonic ms of the last sweep */
	unsigned long refused, cut;	/* over the cap; past the deadline */
	pthread_t thread;
	int wake[2];			/* a pipe: listen_stop wakes the loop */
	atomic_bool stop;
	unsigned char secret[ACK_SECRET_LEN];	/* of tokens and codes */
	struct metrics *metrics;	/* serve's; NULL: no /metrics */
	struct monitor *monitor;	/* with metrics; else NULL */
	struct desk *desk;		/* NULL: no gateway.desk_tokens */
};

struct listen_req {
	struct base_buf body;	/* at most LISTEN_MAX_BODY; full: too big */
	/* /metrics, /healthz: asked of the monitor, the connection
	   suspended until it is answered */
	bool asked;
	struct monitor_job job;
};

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text),
	    (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, "Content-Type",
	    "text/plain; charset=utf-8");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static void listen_log(struct listen_ctx *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* One line to the log, written whole in one call (base_log_file), so
   that the lines of the listener and the dispatcher never mix. */
static void
listen_log(struct listen_ctx *l, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	if (l->log == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_put(l->log, TLOG_NOTICE, NULL, "%s", msg);
}

static enum MHD_Result inbound(struct listen_ctx *, struct MHD_Connection *,
    const struct listen_channel *, const char *, const char *,
    const struct listen_req *);

/*
 * A receipt the store had no use for because its delivery was final
 * already (a provider's retry, or a replay of a validly signed callback):
 * 200 to the provider, nothing changed, counted, and logged at the 1st,
 * 2nd, 4th, 8th... so that a replay cannot fill the log.
 */
static void
receipt_repeat(struct listen_ctx *l, const char *ref)
{
	char n[32];

	l->receipts_repeated++;
	if ((l->receipts_repeated & (l->receipts_repeated - 1)) != 0)
		return;
	(void)snprintf(n, sizeof(n), "%lu", l->receipts_repeated);
	listen_log(l, "receipt for %s ignored: its delivery is final already "
	    "(%s such receipts so far)", ref, n);
}

/* The provider named after a channel's receipt path in url, or NULL. */
static const char *
receipt_provider(const struct listen_ctx *l, const char *url)
{
	for (size_t i = 0; i < l->nchans; i++) {
		const char *rp = l->chans[i].ops->receipt_path;

		if (l->chans[i].ops->receipt != NULL && rp != NULL &&
		    rp[0] != '\0' && strncmp(url + 1, rp, strlen(rp)) == 0)
			return url + 1 + strlen(rp);
	}
	return NULL;
}

/*
 * A provider's delivery receipt, posted to a channel's receipt_path and
 * the provider's name.  The provider is looked for on every channel that
 * takes receipts, as calls placed before voice had a path of its own
 * were given the SMS one: the channel that knows the provider checks the
 * signature (which covers the URL) and reads the receipt.
 */
static enum MHD_Result
receipt(struct listen_ctx *l, struct MHD_Connection *c, const char *url,
    const struct listen_req *rq)
{
	const char *prov;

	for (size_t i = 0; i < l->nchans; i++) {
		const char *ip = l->chans[i].ops->inbound_path;

		if (ip != NULL && l->chans[i].ops->inbound != NULL &&
		    strncmp(url + 1, ip, strlen(ip)) == 0)
			return inbound(l, c, &l->chans[i], url + 1 + strlen(ip),
			    url, rq);
	}
	if ((prov = receipt_provider(l, url)) == NULL)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found\n");
	for (size_t i = 0; i < l->nchans; i++) {
		const struct chan_ops *ops = l->chans[i].ops;
		struct chan_receipt rec;
		struct tocsin_err err = { 0 };
		enum store_receipt_fate fate;
		char full[1400];
		const char *sig;
		int rc;

		if (ops->receipt == NULL)
			continue;
		/* The provider signed the public URL it was given. */
		snprintf(full, sizeof(full), "%s%s", l->base, url + 1);
		sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    "X-Twilio-Signature");
		rc = ops->receipt(l->chans[i].shared, prov, full,
		    rq->body.p != NULL ? rq->body.p : "", rq->body.len, sig, &rec,
		    &err);
		if (rc == TOCSIN_ENOTFOUND)
			continue;
		if (rc == TOCSIN_EPERM) {
			listen_log(l, "refused a receipt for %s: %s", url + 1,
			    err.msg);
			return reply(c, MHD_HTTP_FORBIDDEN, "bad signature\n");
		}
		if (rc != 0)
			return reply(c, MHD_HTTP_BAD_REQUEST, "bad receipt\n");
		if (!rec.final)
			return reply(c, MHD_HTTP_OK, "noted\n");
		if (store_receipt(l->st, rec.ref, rec.delivered, rec.detail,
		    (int64_t)time(NULL), &fate, &err) != 0) {
			listen_log(l, "cannot record a receipt: %s", err.msg);
			/* the provider tries again later */
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "try again\n");
		}
		if (fate == STORE_RECEIPT_FINAL) {
			receipt_repeat(l, rec.ref);
			return reply(c, MHD_HTTP_OK, "already final\n");
		}
		return reply(c, MHD_HTTP_OK, fate == STORE_RECEIPT_MOVED ?
		    "recorded\n" : "no such delivery\n");
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "no such provider\n");
}

/* ---- the ack link ---- */

/* An HTML page is a base_buf of at most LISTEN_PAGE_MAX bytes; text from
   outside goes through base_esc_html. */
#define LISTEN_PAGE_MAX (1024 * 1024)

static enum MHD_Result
page_reply(struct MHD_Connection *c, unsigned int status, struct base_buf *pg)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (pg->rc != 0 || pg->full || pg->p == NULL) {
		free(pg->p);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	r = MHD_create_response_from_buffer(pg->len, pg->p,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(pg->p);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, "Content-Type",
	    "text/html; charset=utf-8");
	/* the token is in the URL: never cached, never sent on */
	(void)MHD_add_response_header(r, "Cache-Control", "no-store");
	(void)MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	(void)MHD_add_response_header(r, "X-Frame-Options", "DENY");
	(void)MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; "
	    "form-action 'self'; frame-ancestors 'none'");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* The reader's language on a page: the catalogs and a language. */
struct page_lang {
	const struct i18n_cat *cat;
	const char *lang;		/* NULL: English */
};

/* msgid in the page's language, HTML-escaped, into tmp (emptied first):
   a template whose placeholders i18n_put fills with HTML made here. */
static const char *
page_tr(const struct page_lang *pl, const char *msgid, struct base_buf *tmp)
{
	base_buf_free(tmp);
	base_esc_html(tmp, i18n_text(pl->cat, pl->lang, msgid), 4096);
	return tmp->p != NULL && tmp->rc == 0 ? tmp->p : "";
}

/* msgid, escaped, with no placeholder. */
static void
page_put(struct base_buf *pg, const struct page_lang *pl, const char *msgid)
{
	base_esc_html(pg, i18n_text(pl->cat, pl->lang, msgid), 4096);
}

/* value escaped, isolated ("<bdi>value</bdi>", in "<b>" when bold), into
   tmp (emptied first).  bdi: an id, a date or a name keeps its own
   direction inside a right to left sentence (unisolated,
   "20261203-2fa3916bcf5d" reads "2fa3916bcf5d-20261203" on an Arabic page
   and a date turns day first). */
static const char *
page_isolate(const char *value, size_t max, bool bold, struct base_buf *tmp)
{
	base_buf_free(tmp);
	base_buf_puts(tmp, bold ? "<b><bdi>" : "<bdi>");
	base_esc_html(tmp, value, max);
	base_buf_puts(tmp, bold ? "</bdi></b>" : "</bdi>");
	return tmp->p != NULL && tmp->rc == 0 ? tmp->p : "";
}

static void
page_head(struct base_buf *pg, const struct page_lang *pl, const char *title,
    bool exercise)
{
	base_buf_puts(pg, "<!DOCTYPE html>\n<html lang=\"");
	base_buf_puts(pg, i18n_lang(pl->cat, pl->lang));
	base_buf_puts(pg, "\"");
	if (strcmp(i18n_lang(pl->cat, pl->lang), "ar") == 0)
		base_buf_puts(pg, " dir=\"rtl\"");
	base_buf_puts(pg, "><head><meta "
	    "charset=\"utf-8\"><meta name=\"viewport\" content=\"width="
	    "device-width\"><title>");
	base_esc_html(pg, title, 200);
	base_buf_puts(pg, "</title><style>body{font-family:sans-serif;max-width:"
	    "40em;margin:2em auto;padding:0 1em;line-height:1.4}.band{"
	    "padding:.5em;font-weight:bold;text-align:center;border:3px solid "
	    "#000}.actual{background:#000;color:#fff}button{font-size:1.2em;"
	    "padding:.5em 1em}</style></head><body>\n");
	base_buf_puts(pg, exercise ? "<div class=\"band\">" :
	    "<div class=\"band actual\">");
	page_put(pg, pl, exercise ? N_("EXERCISE \xe2\x80\x93 NO REAL INCIDENT") :
	    N_("ACTUAL ALERT"));
	base_buf_puts(pg, "</div>\n");
}

/* The first language of contact (by name) of team, else of the team's
   first contact with one; NULL when none is known. */
static const char *
link_contact_lang(const struct listen_ctx *l, const char *team,
    const char *contact)
{
	const struct policy_team *pt = policy_team_find(l->repo, team);

	for (size_t i = 0; pt != NULL && contact != NULL && i < pt->ncontacts;
	    i++)
		if (pt->contacts[i].name != NULL && strcmp(pt->contacts[i].name,
		    contact) == 0 && pt->contacts[i].nlanguages > 0)
			return pt->contacts[i].languages[0];
	for (size_t i = 0; pt != NULL && i < pt->ncontacts; i++)
		if (pt->contacts[i].nlanguages > 0)
			return pt->contacts[i].languages[0];
	return NULL;
}

/* A peer's address as text, "unknown" for another family. */
static void
addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	int rc = -1;

	/* base_ip_text's spelling, that of trusted_proxy and of xff_last:
	   a dual-stack socket's IPv4 peer is its IPv4 text */
	if (sa != NULL && sa->sa_family == AF_INET)
		rc = base_ip_text(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, out, outlen);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		rc = base_ip_text(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, out, outlen);
	if (rc != 0)
		(void)snprintf(out, outlen, "unknown");
}

/* Keeps the value of the last X-Forwarded-For line (MHD keeps each line
   a header of its own, in the order received). */
static enum MHD_Result
xff_line(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	const char **last = cls;

	(void)kind;
	if (key != NULL && strcasecmp(key, "X-Forwarded-For") == 0)
		*last = value;
	return MHD_YES;
}

/* The client's address, for the rate table and the log: the peer's, or
   behind gateway.trusted_proxy the last address of the last
   X-Forwarded-For line, the one that proxy added (every earlier line and
   element comes from the client; see xff.h). */
static void
client_addr(const struct listen_ctx *l, struct MHD_Connection *c, char *out,
    size_t outlen)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	addr_text(ci != NULL ? ci->client_addr : NULL, out, outlen);
	if (l->repo->gateway.trusted_proxy != NULL &&
	    strcmp(out, l->repo->gateway.trusted_proxy) == 0) {
		const char *last = NULL;
		char cand[XFF_ADDR_MAX];

		(void)MHD_get_connection_values(c, MHD_HEADER_KIND, xff_line,
		    &last);
		/* an unreadable last element leaves the proxy's own address */
		if (last != NULL && xff_last(last, strlen(last), cand,
		    sizeof(cand)) == 0)
			(void)snprintf(out, outlen, "%s", cand);
	}
}

/* The client's slot in the rate table: its own, a stale one, or the
   oldest (an attacker with many addresses only ages others out). */
static struct listen_rate *
rate_slot(struct listen_ctx *l, const char *addr, int64_t now)
{
	struct listen_rate *best = &l->rate[0];

	for (size_t i = 0; i < LISTEN_RATE_SLOTS; i++) {
		struct listen_rate *r = &l->rate[i];

		if (strcmp(r->addr, addr) == 0) {
			if (now - r->start >= LISTEN_RATE_WINDOW) {
				r->start = now;
				r->hits = r->misses = 0;
				r->told = false;
			}
			return r;
		}
		if (r->start < best->start)
			best = r;
	}
	memset(best, 0, sizeof(*best));
	(void)snprintf(best->addr, sizeof(best->addr), "%s", addr);
	best->start = now;
	return best;
}

/*
 * The link of one endpoint of one contact in a check of contacts: the
 * link alone says who (the contact it was sent to) and which endpoint;
 * nothing typed on the page enters into it.  A GET shows a button, a POST
 * confirms that endpoint of that contact and no one else.
 */
static enum MHD_Result
check_link(struct listen_ctx *l, struct MHD_Connection *c,
    const struct store_check_token *k, bool post)
{
	struct store_alert_row *a = NULL;
	struct tocsin_err err = { 0 };
	struct base_buf pg = { .limit = LISTEN_PAGE_MAX };
	struct base_buf t0 = { .limit = 8192 }, t1 = { .limit = 1024 },
	    t2 = { .limit = 1024 }, t3 = { .limit = 1024 }, t4 = { .limit =
	    1024 };
	struct page_lang pl;
	const char *who;
	int rc = -1;

	if (store_alert_get(l->st, k->alert_id, &a, &err) != 0) {
		listen_log(l, "ack: %s", err.msg);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again\n");
	}
	if (post) {
		bool mine = k->contact[0] != '\0';
		struct store_ack_in in = { .alert_id = k->alert_id,
			.team = k->team, .by = mine ? k->contact :
			"someone with the team's drop link", .via = "link",
			.strength = "unsigned", .contact = mine ? k->contact :
			NULL, .ep_channel = k->channel,
			.ep_address = k->address };

		if ((rc = store_ack(l->st, &in, (int64_t)time(NULL),
		    "ack link", &err)) < 0) {
			listen_log(l, "ack: %s", err.msg);
			store_alert_rows_free(a, 1);
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "try again\n");
		}
		listen_log(l, "ack: a contact of team %s confirmed an endpoint "
		    "by its link (%s)", k->team, rc == 0 ? "recorded" :
		    "not a contact's");
	}
	pl.cat = l->repo->gateway.catalog;
	pl.lang = link_contact_lang(l, k->team, k->contact);
	page_head(&pg, &pl, i18n_text(pl.cat, pl.lang, N_("Contact check")),
	    strcmp(a->status, "Exercise") == 0);
	base_buf_puts(&pg, "<h1>");
	page_put(&pg, &pl, N_("Contact check"));
	base_buf_puts(&pg, "</h1>\n<p>");
	/* the channel, not the address: a forwarded link shows no one's
	   number or e-mail address */
	who = k->contact[0] != '\0' ? k->contact : i18n_text(pl.cat, pl.lang,
	    N_("the team's drop"));
	i18n_put(&pg, page_tr(&pl, N_("Check {check} for team {team}. This "
	    "link was sent to {who} by {channel} alone, and confirms that and "
	    "nothing else."), &t0), "check", page_isolate(a->id, 64, true,
	    &t1), "team", page_isolate(k->team, 64, true, &t2), "who",
	    page_isolate(who, 160, false, &t3), "channel",
	    page_isolate(k->channel, 32, false, &t4), NULL);
	base_buf_puts(&pg, "</p>\n");
	if (rc == 0) {
		base_buf_puts(&pg, "<p class=\"done\"><b>");
		page_put(&pg, &pl, N_("Confirmed, thank you."));
		base_buf_puts(&pg, "</b></p>\n");
	} else if (rc == 1) {
		base_buf_puts(&pg, "<p>");
		page_put(&pg, &pl, N_("Nothing was confirmed: this link is no "
		    "contact's own; sign an ack file instead."));
		base_buf_puts(&pg, "</p>\n");
	} else {
		base_buf_puts(&pg, "<form method=\"post\" action=\"\"><p><button "
		    "type=\"submit\">");
		page_put(&pg, &pl, N_("Confirm"));
		base_buf_puts(&pg, "</button></p></form>\n");
	}
	base_buf_puts(&pg, "</body></html>\n");
	base_buf_free(&t0);
	base_buf_free(&t1);
	base_buf_free(&t2);
	base_buf_free(&t3);
	base_buf_free(&t4);
	store_alert_rows_free(a, 1);
	return page_reply(c, MHD_HTTP_OK, &pg);
}

/* The client's rate slot, or NULL when it made too many requests or
   guessed too many tokens this minute (logged once a minute). */
static struct listen_rate *
link_rate(struct listen_ctx *l, const char *addr, int64_t now)
{
	struct listen_rate *r = rate_slot(l, addr, now);

	if (r->misses >= LISTEN_MAX_MISSES || ++r->hits > LISTEN_MAX_HITS) {
		if (!r->told)
			listen_log(l, "ack: %s made too many requests or guessed "
			    "tokens; refused until the minute is over%s", addr,
			    "");
		r->told = true;
		return NULL;
	}
	return r;
}

/* Whether token has the shape of a token: ACK_TOKEN_LEN lowercase hex
   digits. */
static bool
link_token_shape(const char *token)
{
	size_t n = strlen(token);
	bool hex = n == ACK_TOKEN_LEN;

	for (size_t i = 0; i < n && hex; i++)
		hex = (token[i] >= '0' && token[i] <= '9') ||
		    (token[i] >= 'a' && token[i] <= 'f');
	return hex;
}

/*
 * What token is a link of: 0, a team's link ((alert, team) filled); 1, an
 * endpoint's link in a check of contacts (*k filled); TOCSIN_ENOTFOUND,
 * none (or no token's shape); another error of the store.
 */
static int
link_token_lookup(struct listen_ctx *l, const char *token,
    char alert[64], char team[64], struct store_check_token *k,
    struct tocsin_err *err)
{
	char hash[ACK_HASH_LEN + 1];
	int rc;

	if (!link_token_shape(token))
		return TOCSIN_ENOTFOUND;
	ack_token_hash(token, hash);
	rc = store_token_find(l->st, hash, alert, 64, team, 64, err);
	if (rc == TOCSIN_ENOTFOUND && (rc = store_check_token_find(l->st,
	    hash, k, err)) == 0)
		return 1;
	return rc;
}

/* The page of a link nobody knows; the miss counts against addr. */
static enum MHD_Result
link_unknown(struct listen_ctx *l, struct MHD_Connection *c,
    struct listen_rate *r, const char *addr)
{
	struct base_buf pg = { .limit = LISTEN_PAGE_MAX };

	r->misses++;
	listen_log(l, "ack: unknown link from %s (%s)", addr,
	    r->misses >= LISTEN_MAX_MISSES ? "its last try this "
	    "minute" : "counted");
	/* nobody is known by it: English */
	page_head(&pg, &(struct page_lang){ NULL, NULL }, "Unknown link",
	    false);
	base_buf_puts(&pg, "<h1>This link is not known</h1><p>Check that the "
	    "whole address was copied, or use the code in the message "
	    "with the duty desk.</p></body></html>\n");
	return page_reply(c, MHD_HTTP_NOT_FOUND, &pg);
}

/* The row of team among the n teams of an alert, or NULL. */
static const struct store_team_row *
link_team_row(const struct store_team_row *teams, size_t n, const char *team)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(teams[i].team, team) == 0)
			return &teams[i];
	return NULL;
}

/* Who acks by a team's link: the name typed in the form body (controls
   made spaces), or ACK_BY_LINK when none was. */
static void
link_by(const struct listen_req *rq, char by[160])
{
	struct form *f = calloc(1, sizeof(*f));
	const char *name = NULL;

	if (f != NULL && rq->body.p != NULL &&
	    form_parse(rq->body.p, rq->body.len, f) == 0)
		name = form_get(f, "name");
	(void)snprintf(by, 160, "%s%.100s", name != NULL &&
	    name[0] != '\0' ? "" : ACK_BY_LINK,
	    name != NULL ? name : "");
	for (char *p = by; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	free(f);
}

/* The ack of (alert, team) by its link's form: rc of store_ack, logged. */
static int
link_post(struct listen_ctx *l, const struct listen_req *rq,
    const char *alert, const char *team, int64_t now, struct tocsin_err *err)
{
	char by[160];
	struct store_ack_in in = { .alert_id = alert, .team = team,
		.by = by, .via = "link", .strength = "unsigned",
		.recorded_only = !ack_unsigned_counts(policy_team_find(l->repo,
		    team)),
		.notice_channels = ack_notice_channels(l->repo, team) };
	int rc;

	/* a team's link says no more than "someone of the team": the name
	   is what they typed, never who the gateway knows (in.contact stays
	   NULL) */
	link_by(rq, by);
	rc = store_ack(l->st, &in, now, "ack link", err);
	if (rc < 0)
		listen_log(l, "ack: %s", err->msg);
	else
		listen_log(l, "ack: team %s acknowledged by link (%s)", team,
		    rc == 0 ? "first" : "repeat");
	return rc;
}

/* The zone the team's page gives local times in: its first contact's
   with one (as its messages do), or NULL. */
static const char *
link_zone(const struct listen_ctx *l, const char *team)
{
	const struct policy_team *pt = policy_team_find(l->repo, team);

	for (size_t i = 0; pt != NULL && i < pt->ncontacts; i++)
		if (pt->contacts[i].timezone != NULL)
			return pt->contacts[i].timezone;
	return NULL;
}

/*
 * Instant t for a person: "2026-03-02 09:30 UTC", then, when the zone can
 * be read, " (your time, Africa/Nairobi: 2026-03-02 12:30 EAT
 * (UTC+03:00))".  Never the raw ISO string of the alert.
 */
static void
link_when(struct base_buf *pg, const struct page_lang *pl, const char *zone,
    int64_t t)
{
	char utc[TZ_FORMAT_MAX], local[TZ_FORMAT_MAX];
	struct base_buf t0 = { .limit = 8192 }, t1 = { .limit = 1024 },
	    t2 = { .limit = 1024 };

	if (tz_format_utc(t, utc, sizeof(utc), NULL) != 0) {
		page_put(pg, pl, N_("at an unknown time"));
		return;
	}
	base_buf_puts(pg, "<bdi>");
	base_esc_html(pg, utc, sizeof(utc));
	base_buf_puts(pg, "</bdi>");
	if (zone == NULL || tz_format(NULL, zone, t, local, sizeof(local),
	    NULL) != 0)
		return;
	base_buf_free(&t1);
	base_buf_puts(&t1, "<bdi class=\"zone\">");
	base_esc_html(&t1, zone, TZ_NAME_MAX);
	base_buf_puts(&t1, "</bdi>");
	base_buf_puts(pg, " ");
	i18n_put(pg, page_tr(pl, N_("(your time, {zone}: {time})"), &t0),
	    "zone", t1.p != NULL ? t1.p : "", "time", page_isolate(local,
	    sizeof(local), true, &t2), NULL);
	base_buf_free(&t0);
	base_buf_free(&t1);
	base_buf_free(&t2);
}

/*
 * The page of a team's link for alert a: the team's ack when it has one,
 * or the form that acks.  t is the team's row (NULL: the alert has no such
 * team any more); check_rc >= 0 when this request acked.  Times are given
 * in UTC and in zone (the team's contacts' local time; NULL: UTC only).
 */
static void
link_page(struct base_buf *pg, const struct page_lang *pl,
    const struct store_alert_row *a, const char *team,
    const struct store_team_row *t, int check_rc, const char *zone)
{
	struct base_buf t0 = { .limit = 8192 }, t1 = { .limit = 1024 },
	    t2 = { .limit = 1024 }, t3 = { .limit = 4096 },
	    t4 = { .limit = 1024 };
	time_t sent;

	page_head(pg, pl, a->headline != NULL ? a->headline :
	    i18n_text(pl->cat, pl->lang, N_("Alert")),
	    strcmp(a->status, "Exercise") == 0);
	base_buf_puts(pg, "<h1>");
	if (a->headline != NULL)
		base_esc_html(pg, a->headline, 1000);
	else
		page_put(pg, pl, N_("Security alert"));
	base_buf_puts(pg, "</h1>\n<p>");
	/* when, with its own words, as the sentence's last placeholder */
	if (a->sent != NULL && cap_datetime_parse(a->sent, &sent) == 0)
		link_when(&t3, pl, zone, (int64_t)sent);
	else
		page_put(&t3, pl, N_("at an unknown time"));
	i18n_put(pg, page_tr(pl, N_("Alert {alert} for team {team}, sent "
	    "{time}. The full text came in your encrypted message."), &t0),
	    "alert", page_isolate(a->id, 64, true, &t1), "team",
	    page_isolate(team, 64, true, &t2), "time", t3.p != NULL ? t3.p :
	    "", NULL);
	base_buf_puts(pg, "</p>\n");
	if (t != NULL && strcmp(a->status, "System") == 0) {
		/* a check of contacts: only a contact's own link confirms
		   them, never a team's link with a name typed on it */
		if (check_rc >= 0) {
			base_buf_puts(pg, "<p>");
			page_put(pg, pl, N_("Nothing was confirmed: in a check "
			    "each contact confirms with the link or code sent "
			    "to them."));
			base_buf_puts(pg, "</p>\n");
		}
	} else if (t != NULL && t->ack_by != NULL) {
		base_buf_free(&t3);
		link_when(&t3, pl, zone, t->ack_at);
		base_buf_puts(pg, "<p class=\"done\"><b>");
		page_put(pg, pl, N_("Acknowledged"));
		base_buf_puts(pg, "</b> ");
		i18n_put(pg, page_tr(pl, N_("by {who} ({via}) at {time}. Thank "
		    "you."), &t0), "who", page_isolate(t->ack_by, 200, false,
		    &t1), "via", page_isolate(t->ack_via, 64, false, &t2),
		    "time", t3.p != NULL ? t3.p :
		    "", NULL);
		base_buf_puts(pg, "</p>\n");
	} else if (t != NULL) {
		base_buf_puts(pg, "<p>");
		page_put(pg, pl, N_("Your team has not acknowledged yet. "
		    "Pressing the button tells the duty desk that the team has "
		    "the alert and stops further calls and messages."));
		base_buf_puts(pg, "</p>\n<form method=\"post\" action=\"\"><p>"
		    "<label>");
		page_put(pg, pl, N_("Your name"));
		base_buf_puts(pg, " <input name=\"name\" maxlength=\"100\" "
		    "autocomplete=\"name\"></label></p><p><button "
		    "type=\"submit\">");
		/* a button's label is one run of text: no isolate in it */
		base_esc_html(&t4, team, 64);
		i18n_put(pg, page_tr(pl, N_("Acknowledge for team {team}"), &t0),
		    "team", t4.p != NULL && t4.rc == 0 ? t4.p : "", NULL);
		base_buf_puts(pg, "</button></p></form>\n");
	}
	base_buf_puts(pg, "</body></html>\n");
	base_buf_free(&t0);
	base_buf_free(&t1);
	base_buf_free(&t2);
	base_buf_free(&t3);
	base_buf_free(&t4);
}

/*
 * A request for /ack/<token>: a team's link (a GET shows the alert and the
 * form, a POST acks for the team), or an endpoint's link in a check of
 * contacts (check_link).  Requests and misses are bounded per client.
 */
static enum MHD_Result
ack_link(struct listen_ctx *l, struct MHD_Connection *c, const char *token,
    bool post, const struct listen_req *rq)
{
	char addr[64], alert[64], team[64];
	struct store_alert_row *a = NULL;
	struct store_team_row *teams = NULL;
	const struct store_team_row *t;
	struct store_check_token k;
	struct tocsin_err err = { 0 };
	struct base_buf pg = { .limit = LISTEN_PAGE_MAX };
	struct listen_rate *r;
	int64_t now = (int64_t)time(NULL);
	size_t nt = 0;
	int rc, check_rc = -1;

	client_addr(l, c, addr, sizeof(addr));
	if ((r = link_rate(l, addr, now)) == NULL)
		return reply(c, MHD_HTTP_TOO_MANY_REQUESTS, "too many requests; "
		    "wait a minute\n");
	rc = link_token_lookup(l, token, alert, team, &k, &err);
	if (rc == 1)
		return check_link(l, c, &k, post);
	if (rc == TOCSIN_ENOTFOUND)
		return link_unknown(l, c, r, addr);
	if (rc != 0 || store_alert_get(l->st, alert, &a, &err) != 0 ||
	    store_teams(l->st, alert, &teams, &nt, &err) != 0) {
		listen_log(l, "ack: %s", err.msg);
		store_alert_rows_free(a, a != NULL ? 1 : 0);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again\n");
	}
	t = link_team_row(teams, nt, team);
	if (post && t != NULL) {
		if ((rc = link_post(l, rq, alert, team, now, &err)) < 0) {
			store_alert_rows_free(a, 1);
			store_team_rows_free(teams, nt);
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "try again\n");
		}
		check_rc = rc;
		/* the page shows the team as the ack left it */
		store_team_rows_free(teams, nt);
		teams = NULL;
		t = NULL;
		nt = 0;
		if (store_teams(l->st, alert, &teams, &nt, &err) == 0)
			t = link_team_row(teams, nt, team);
	}
	link_page(&pg, &(struct page_lang){ l->repo->gateway.catalog,
	    link_contact_lang(l, team, NULL) }, a, team, t, check_rc,
	    link_zone(l, team));
	store_alert_rows_free(a, 1);
	store_team_rows_free(teams, nt);
	return page_reply(c, MHD_HTTP_OK, &pg);
}

/* Send the TwiML document in pg (its buffer is taken). */
static enum MHD_Result
twiml_reply(struct MHD_Connection *c, struct base_buf *pg)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	if (pg->rc != 0 || pg->full) {
		free(pg->p);
		return MHD_NO;
	}
	r = MHD_create_response_from_buffer(pg->len, pg->p,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(pg->p);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, "Content-Type", "text/xml");
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
twiml(struct MHD_Connection *c, const char *verb, const char *text)
{
	struct base_buf pg = { .limit = LISTEN_PAGE_MAX };

	base_buf_puts(&pg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
	if (verb != NULL) {
		base_buf_puts(&pg, "<");
		base_buf_puts(&pg, verb);
		base_buf_puts(&pg, ">");
		base_esc_html(&pg, text, 300);
		base_buf_puts(&pg, "</");
		base_buf_puts(&pg, verb);
		base_buf_puts(&pg, ">");
	}
	base_buf_puts(&pg, "</Response>");
	return twiml_reply(c, &pg);
}

static void
listen_log_line(void *arg, const char *line)
{
	listen_log(arg, "%s", line);
}

/*
 * The try of a call's keys, from the tail of its Gather's action path:
 * "twilio-voice" is the call's first, "twilio-voice/2" its second (the
 * answer to a wrong code points there).  The provider's name goes to
 * prov.  Only the wording of the answer depends on it: a caller keys
 * digits and cannot choose the URL, Twilio signs it, and whatever it
 * says, the store's bounds on wrong codes are what limits tries.
 */
static int
inbound_try(const char *tail, char *prov, size_t provlen, char *lang,
    size_t langlen)
{
	const char *slash = strrchr(tail, '/');
	size_t end;
	int n = 1;

	if (slash != NULL && slash[1] >= '2' && slash[1] <= '0' +
	    CHAN_VOICE_TRIES && slash[2] == '\0')
		n = slash[1] - '0';
	else
		slash = NULL;
	end = slash != NULL ? (size_t)(slash - tail) : strlen(tail);
	/* then the call's language, "PROVIDER/fr[/N]" (phone.c's
	   ph_gather_url): letters and '_' only, never a provider's name
	   (those need no '/') */
	lang[0] = '\0';
	for (size_t i = end; i > 0; i--) {
		if (tail[i - 1] != '/')
			continue;
		if (end - i >= 2 && end - i < langlen &&
		    strspn(tail + i, "abcdefghijklmnopqrstuvwxyz_") >= end - i) {
			(void)snprintf(lang, langlen, "%.*s", (int)(end - i),
			    tail + i);
			end = i - 1;
		}
		break;
	}
	(void)snprintf(prov, provlen, "%.*s", (int)(end < provlen ? end :
	    provlen - 1), tail);
	return n;
}

/* A text of the gateway's in lang. */
static const char *
listen_text(const struct listen_ctx *l, const char *lang, const char *msgid)
{
	return i18n_text(l->repo->gateway.catalog, lang, msgid);
}

/* "<Say language=...>" in lang's voice. */
static void
listen_say(struct base_buf *pg, const struct listen_ctx *l, const char *lang)
{
	base_buf_puts(pg, "<Say language=\"");
	base_buf_puts(pg, i18n_voice(i18n_lang(l->repo->gateway.catalog,
	    lang)));
	base_buf_puts(pg, "\">");
}

/*
 * The answer to a call's keys: thanks and goodbye when they acked; when
 * the code was wrong, "not right" and the menu again with the next try's
 * action (lc's inbound path, the provider, "/N"), or goodbye after
 * CHAN_VOICE_TRIES; goodbye when the store refused to compare.  Every
 * answer ends the call or gathers again: none leaves a caller in
 * silence.
 */
static enum MHD_Result
twiml_keys(struct listen_ctx *l, struct MHD_Connection *c,
    const struct listen_channel *lc, const char *prov, const char *lang,
    int try, enum reply_outcome out)
{
	struct base_buf pg = { .limit = LISTEN_PAGE_MAX };
	char next[16];

	base_buf_puts(&pg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<Response>");
	listen_say(&pg, l, lang);
	if (out == REPLY_ACKED)
		base_esc_html(&pg, listen_text(l, lang, CHAN_VOICE_ACKED), 600);
	else if (out == REPLY_THROTTLED)
		base_esc_html(&pg, listen_text(l, lang, CHAN_VOICE_THROTTLED),
		    600);
	else if (try >= CHAN_VOICE_TRIES)
		base_esc_html(&pg, listen_text(l, lang, CHAN_VOICE_WRONG_BYE),
		    600);
	else {
		base_esc_html(&pg, listen_text(l, lang, CHAN_VOICE_WRONG), 600);
		(void)snprintf(next, sizeof(next), "/%d", try + 1);
		base_buf_puts(&pg, "</Say>" CHAN_VOICE_GATHER " method=\"POST\" "
		    "action=\"");
		base_esc_html(&pg, l->base, sizeof(l->base));
		base_esc_html(&pg, lc->ops->inbound_path, 256);
		base_esc_html(&pg, prov, 256);
		if (lang[0] != '\0') {
			base_buf_puts(&pg, "/");
			base_buf_puts(&pg, lang);
		}
		base_buf_puts(&pg, next);
		base_buf_puts(&pg, "\">");
		listen_say(&pg, l, lang);
		base_esc_html(&pg, listen_text(l, lang, CHAN_VOICE_MENU), 600);
		base_buf_puts(&pg, "</Say></Gather>");
		listen_say(&pg, l, lang);
		base_esc_html(&pg, listen_text(l, lang, CHAN_VOICE_BYE), 600);
	}
	base_buf_puts(&pg, "</Say><Hangup/></Response>");
	return twiml_reply(c, &pg);
}

/* The first language of the contact whose mobile or phone is number (an
   SMS reply's sender), or NULL. */
static const char *
listen_lang_of(const struct listen_ctx *l, const char *number)
{
	const struct policy_repo *repo = l->repo;

	for (size_t t = 0; number[0] != '\0' && t < repo->nteams; t++)
		for (size_t k = 0; k < repo->teams[t].ncontacts; k++) {
			const struct policy_contact *ct =
			    &repo->teams[t].contacts[k];

			if (ct->nlanguages > 0 && ((ct->mobile != NULL &&
			    strcmp(ct->mobile, number) == 0) || (ct->phone !=
			    NULL && strcmp(ct->phone, number) == 0)))
				return ct->languages[0];
		}
	return NULL;
}

/* What a person sent back through a provider (reply.c matches it), and
   the provider's answer: TwiML that thanks, or says the code is wrong
   (for a call, twiml_keys). */
static enum MHD_Result
inbound(struct listen_ctx *l, struct MHD_Connection *c,
    const struct listen_channel *lc, const char *tail, const char *url,
    const struct listen_req *rq)
{
	struct chan_inbound in;
	struct tocsin_err err = { 0 };
	struct reply_ctx rc_ = { .st = l->st, .repo = l->repo,
		.secret = l->secret, .log = listen_log_line, .log_arg = l,
		.throttled = l->throttled };
	enum reply_outcome out;
	char full[1400], provider[257], lang[I18N_LANG_MAX + 1], ans[600];
	const char *sl;
	int rc, try;

	/* the provider signed the whole URL, the try's "/N" included */
	try = inbound_try(tail, provider, sizeof(provider), lang, sizeof(lang));
	snprintf(full, sizeof(full), "%s%s", l->base, url + 1);
	rc = lc->ops->inbound(lc->shared, provider, full, rq->body.p != NULL ?
	    rq->body.p : "", rq->body.len, MHD_lookup_connection_value(c,
	    MHD_HEADER_KIND, "X-Twilio-Signature"), &in, &err);
	if (rc == TOCSIN_EPERM) {
		listen_log(l, "refused a reply for %s: %s", url + 1, err.msg);
		return reply(c, MHD_HTTP_FORBIDDEN, "bad signature\n");
	}
	if (rc == TOCSIN_ENOTFOUND)
		return reply(c, MHD_HTTP_NOT_FOUND, "no such provider\n");
	if (rc != 0)
		return reply(c, MHD_HTTP_BAD_REQUEST, "bad reply\n");
	if (!in.keypress && try != 1)	/* an SMS has no tries */
		return reply(c, MHD_HTTP_NOT_FOUND, "no such provider\n");
	rc = reply_take(&rc_, &in, (int64_t)time(NULL), &out, &err);
	l->throttled = rc_.throttled;
	if (rc != 0) {
		listen_log(l, "ack: %s", err.msg);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "try again\n");
	}
	if (in.keypress)
		return twiml_keys(l, c, lc, provider, lang, try, out);
	if (out == REPLY_THROTTLED || out == REPLY_REFUSED)
		return twiml(c, NULL, NULL);
	/* signed with the name the alert's SMS began with, in the language
	   of the contact the number is */
	sl = listen_lang_of(l, in.from);
	if (out == REPLY_REQUEST)
		/* ids only: the request's own words are never echoed */
		(void)snprintf(ans, sizeof(ans), "%s %s", listen_text(l, sl,
		    N_("your team's request is recorded and the desk is told. "
		    "Reference:")), rc_.request);
	else
		(void)snprintf(ans, sizeof(ans), "%s", listen_text(l, sl,
		    out == REPLY_ACKED ? N_("your team's acknowledgement is "
		    "recorded. Thank you.") : N_("that code matched no alert of "
		    "your team.")));
	(void)snprintf(full, sizeof(full), "%.*s: %s", POLICY_SHORT_NAME_MAX,
	    l->repo->gateway.short_name != NULL ?
	    l->repo->gateway.short_name : "tocsin", ans);
	return twiml(c, "Message", full);
}

/*
 * /metrics and /healthz answer a client on this host alone, and never one
 * the proxy forwards (its requests come from outside): the figures tell
 * an outsider how an incident goes.  A scraper elsewhere reaches them
 * through the host (an SSH tunnel, a local agent).
 */
static bool
monitor_allowed(const struct listen_ctx *l, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char addr[INET6_ADDRSTRLEN];

	addr_text(ci != NULL ? ci->client_addr : NULL, addr, sizeof(addr));
	if (l->repo->gateway.trusted_proxy != NULL &&
	    strcmp(addr, l->repo->gateway.trusted_proxy) == 0)
		return false;
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

static enum MHD_Result
monitor_reply(struct MHD_Connection *c, unsigned int status, char *text,
    size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	(void)MHD_add_response_header(r, "Content-Type", type);
	(void)MHD_add_response_header(r, "Cache-Control", "no-store");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* The monitor answered a job: its connection goes on (called in the
   monitor's thread; libmicrohttpd takes a resume from any thread). */
static void
monitor_ready(void *conn, void *arg)
{
	struct listen_ctx *l = arg;

	MHD_resume_connection(conn);
	if (write(l->wake[1], "r", 1) != 1) {
		/* the loop still turns within LISTEN_TICK_MS */
	}
}

/* GET /metrics (Prometheus text) or /healthz ("ok", or 503 and why):
   asked of the monitor, and answered when the handler is called again
   after monitor_ready resumed the connection. */
static enum MHD_Result
monitor(struct listen_ctx *l, struct MHD_Connection *c, bool health,
    struct listen_req *rq)
{
	char *text;

	if (!monitor_allowed(l, c))
		return reply(c, MHD_HTTP_FORBIDDEN, "from this host only\n");
	if (l->monitor == NULL)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found\n");
	if (!rq->asked) {
		/* only this thread adds jobs: room now is room below */
		if (monitor_full(l->monitor))
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many "
			    "monitoring requests wait already\n");
		rq->asked = true;
		rq->job.health = health;
		rq->job.conn = c;
		/* suspended first: the monitor may answer at once */
		MHD_suspend_connection(c);
		if (monitor_ask(l->monitor, &rq->job) == 0)
			return MHD_YES;
		/* stopping: the connection goes without an answer */
		MHD_resume_connection(c);
		return MHD_NO;
	}
	if (rq->job.text == NULL)
		return MHD_NO;
	if (!health && rq->job.status != MHD_HTTP_OK)
		listen_log(l, "metrics: %.*s", (int)(rq->job.len > 0 ?
		    rq->job.len - 1 : 0), rq->job.text);
	text = rq->job.text;
	rq->job.text = NULL;
	return monitor_reply(c, rq->job.status, text, rq->job.len,
	    rq->job.type);
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct listen_ctx *l = cls;
	struct listen_req *rq = *con_cls;

	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		base_buf_init(&rq->body, LISTEN_MAX_BODY);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		base_buf_put(&rq->body, upload, *upload_size);
		if (rq->body.rc != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->body.full)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "too large\n");
	if (url == NULL || url[0] != '/' || strlen(url) > 256)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found\n");
	if (strncmp(url, "/desk", 5) == 0 && (url[5] == '\0' ||
	    url[5] == '/')) {
		char addr[96];

		client_addr(l, c, addr, sizeof(addr));
		return (enum MHD_Result)desk_serve(l->desk, c, url, method,
		    addr);
	}
	if (strncmp(url, "/ack/", 5) == 0 && (strcmp(method, "GET") == 0 ||
	    strcmp(method, "POST") == 0))
		return ack_link(l, c, url + 5, strcmp(method, "POST") == 0, rq);
	if (strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0)
		return strcmp(method, "GET") == 0 ? monitor(l, c, url[1] ==
		    'h', rq) : reply(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "GET only\n");
	if (strcmp(method, "POST") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only\n");
	return receipt(l, c, url, rq);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct listen_req *rq = *con_cls;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	(void)cls;
	(void)toe;
	/* the next request on this connection has its own time */
	if (ci != NULL && ci->socket_context != NULL)
		((struct listen_conn *)ci->socket_context)->since = base_mono_ms();
	if (rq != NULL) {
		base_buf_free(&rq->body);
		free(rq->job.text);
		free(rq);
		*con_cls = NULL;
	}
}

/* Whether to log the nth of a count: the 1st, 2nd, 4th, 8th..., so that
   a flood cannot fill the log. */
static bool
listen_log_due(unsigned long n)
{
	return (n & (n - 1)) == 0;
}

/* Before a connection is taken: under the cap of its address?  (The
   total cap is libmicrohttpd's.) */
static enum MHD_Result
listen_admit(void *cls, const struct sockaddr *sa, socklen_t salen)
{
	struct listen_ctx *l = cls;
	char addr[INET6_ADDRSTRLEN];
	int n = 0;

	(void)salen;
	addr_text(sa, addr, sizeof(addr));
	if (l->repo->gateway.trusted_proxy != NULL &&
	    strcmp(addr, l->repo->gateway.trusted_proxy) == 0)
		return MHD_YES;
	for (const struct listen_conn *c = l->conns; c != NULL; c = c->next)
		if (strcmp(c->addr, addr) == 0 && !c->cut)
			n++;
	if (n < l->repo->gateway.listen_max_per_address)
		return MHD_YES;
	l->refused++;
	if (listen_log_due(l->refused))
		listen_log(l, "refused a connection from %s: it has "
		    "gateway.listen_max_per_address open already (%lu refused "
		    "so far)", addr, l->refused);
	return MHD_NO;
}

/* A connection opened or closed: kept in l->conns while open.  A
   connection whose record cannot be allocated is shut down at once. */
static void
listen_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct listen_ctx *l = cls;
	struct listen_conn *lc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		const union MHD_ConnectionInfo *fi = MHD_get_connection_info(c,
		    MHD_CONNECTION_INFO_CONNECTION_FD);

		if (fi == NULL)
			return;
		if ((lc = calloc(1, sizeof(*lc))) == NULL) {
			(void)shutdown(fi->connect_fd, SHUT_RDWR);
			return;
		}
		addr_text(ci != NULL ? ci->client_addr : NULL, lc->addr,
		    sizeof(lc->addr));
		lc->fd = fi->connect_fd;
		lc->since = base_mono_ms();
		lc->next = l->conns;
		if (l->conns != NULL)
			l->conns->prev = lc;
		l->conns = lc;
		*socket_context = lc;
		return;
	}
	if (lc == NULL)
		return;
	if (lc->prev != NULL)
		lc->prev->next = lc->next;
	else
		l->conns = lc->next;
	if (lc->next != NULL)
		lc->next->prev = lc->prev;
	free(lc);
	*socket_context = NULL;
}

/* Shuts down the sockets of requests past listen_request_timeout; the
   next turn of the loop sees them closed and lets them go. */
static void
listen_sweep(struct listen_ctx *l)
{
	int64_t now = base_mono_ms();
	int64_t limit = l->repo->gateway.listen_request_timeout * 1000;

	if (now - l->swept < LISTEN_TICK_MS)
		return;
	l->swept = now;
	for (struct listen_conn *c = l->conns; c != NULL; c = c->next) {
		if (c->cut || now - c->since <= limit)
			continue;
		(void)shutdown(c->fd, SHUT_RDWR);
		c->cut = true;
		l->cut++;
		if (listen_log_due(l->cut))
			listen_log(l, "closed a connection from %s: its request "
			    "took longer than gateway.listen_request_timeout "
			    "(%lu so far)", c->addr, l->cut);
	}
}

/* The listener's thread: libmicrohttpd's loop, woken by its epoll set,
   its own timeouts, the tick of the deadlines or listen_stop. */
static void *
listen_loop(void *arg)
{
	struct listen_ctx *l = arg;
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->d,
	    MHD_DAEMON_INFO_EPOLL_FD);
	struct pollfd pf[2] = {
		{ .fd = di != NULL ? di->epoll_fd : -1, .events = POLLIN },
		{ .fd = l->wake[0], .events = POLLIN },
	};

	while (!atomic_load(&l->stop)) {
		MHD_UNSIGNED_LONG_LONG to = 0;
		int ms = LISTEN_TICK_MS;

		if (MHD_get_timeout(l->d, &to) == MHD_YES &&
		    to < (MHD_UNSIGNED_LONG_LONG)ms)
			ms = (int)to;
		(void)poll(pf, 2, ms);
		(void)MHD_run(l->d);
		listen_sweep(l);
	}
	return NULL;
}

/* Frees what listen_start made, whatever it got to; the loop's thread
   has stopped.  Stopping the daemon closes the connections still open,
   which frees their records. */
static void
listen_free(struct listen_ctx *l)
{
	/* first: it answers and resumes what it still holds, which the
	   daemon's stop then closes */
	monitor_stop(l->monitor);
	if (l->d != NULL)
		MHD_stop_daemon(l->d);
	if (l->wake[0] >= 0)
		(void)close(l->wake[0]);
	if (l->wake[1] >= 0)
		(void)close(l->wake[1]);
	desk_free(l->desk);
	store_close(l->st);
	OPENSSL_cleanse(l->secret, sizeof(l->secret));
	free(l);
}

/* "host:port" or "[v6]:port" into a socket address. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, struct tocsin_err *err)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return tocsin_fail(err, TOCSIN_ECONFIG, "gateway.listen %s is "
		    "not HOST:PORT", s);
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
		return tocsin_fail(err, TOCSIN_ECONFIG, "gateway.listen %s has a "
		    "bad port", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return tocsin_fail(err, TOCSIN_ECONFIG, "gateway.listen "
			    "%s is not an address", s);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return tocsin_fail(err, TOCSIN_ECONFIG, "gateway.listen "
			    "%s: give a numeric address, e.g. 127.0.0.1:8025", s);
	}
	return 0;
}

int
listen_start(const struct policy_repo *repo,
    const struct listen_channel *chans, size_t nchans, struct log_sink *log,
    struct metrics *metrics, struct listen_ctx **ret, struct tocsin_err *err)
{
	struct listen_ctx *l;
	struct sockaddr_storage ss;
	size_t n;
	int rc;

	*ret = NULL;
	if ((rc = parse_listen(repo->gateway.listen, &ss, err)) != 0)
		return rc;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	l->repo = repo;
	l->wake[0] = l->wake[1] = -1;
	l->chans = chans;
	l->nchans = nchans;
	l->log = log;
	l->metrics = metrics;
	n = strlen(repo->gateway.public_url);
	snprintf(l->base, sizeof(l->base), "%s%s", repo->gateway.public_url,
	    n > 0 && repo->gateway.public_url[n - 1] == '/' ? "" : "/");
	if ((rc = ack_secret_load(repo, l->secret, err)) != 0 ||
	    (rc = store_open(repo->gateway.store, &l->st, err)) != 0 ||
	    (rc = desk_new(repo, l->st, listen_log_line, l, &l->desk,
	    err)) != 0) {
		listen_free(l);
		return rc;
	}
	if (pipe(l->wake) != 0) {
		listen_free(l);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot start the "
		    "listener: out of file descriptors");
	}
	/* without MHD_USE_ERROR_LOG: libmicrohttpd's own lines ("Failed to
	   bind to port 0") say what the sentences here say better */
	if (metrics != NULL && (rc = monitor_start(repo->gateway.store,
	    metrics, monitor_ready, l, &l->monitor, err)) != 0) {
		listen_free(l);
		return rc;
	}
	l->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, listen_admit, l, handler, l,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, l,
	    MHD_OPTION_NOTIFY_CONNECTION, listen_notify, l,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)repo->gateway.listen_max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)repo->gateway.listen_idle_timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
	    MHD_OPTION_END);
	if (l->d == NULL) {
		listen_free(l);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot listen on %s "
		    "(gateway.listen): the address is in use or not this "
		    "host's", repo->gateway.listen);
	}
	atomic_init(&l->stop, false);
	if (pthread_create(&l->thread, NULL, listen_loop, l) != 0) {
		listen_free(l);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot start the "
		    "listener's thread");
	}
	*ret = l;
	return 0;
}

void
listen_stop(struct listen_ctx *l)
{
	if (l == NULL)
		return;
	atomic_store(&l->stop, true);
	if (write(l->wake[1], "x", 1) != 1) {
		/* the loop still sees stop at its next turn (100 ms) */
	}
	(void)pthread_join(l->thread, NULL);
	listen_free(l);
}
