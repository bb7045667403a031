/*
 * dispatch.c: the worker pool of `tocsin serve` (see dispatch.h).
 *
 * Each worker owns its store connection and its OpenPGP context (gpgme
 * contexts and SQLite connections are one-thread objects); the public keys
 * are listed once and shared read-only.  The main thread only watches:
 * signals (taken with sigtimedwait, so no handler and no global flag),
 * progress, and the workers' end.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ack.h"
#include "audit.h"
#include "base.h"
#include "cap.h"
#include "certs.h"
#include "channel.h"
#include "clock.h"
#include "dispatch.h"
#include "dropack.h"
#include "escalate.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "plan.h"
#include "ratelog.h"
#include "render.h"
#include "reply.h"
#include "request.h"
#include "sdnotify.h"
#include "store.h"

#define DISPATCH_MAX_DRIVERS 8
#define DISPATCH_CACHE 16		/* alerts kept parsed per worker */
#define DISPATCH_DEFAULT_SUBJECT "Alert %i (%s)"
/* A store error of one kind (claim, escalation, leases) is logged once in
   this many ms, then counted: a full disk fails them several times a
   second. */
#define DISPATCH_LOG_INTERVAL 30000
/* Seconds another serve node waits for the ack poller's turn after its
   holder stopped renewing it (died, lost the store). */
#define DISP_POLL_TURN 30
/* The last worker to end tells the main thread with this signal, blocked
   with the others and taken by its sigtimedwait; sent from outside, it
   only makes serve look whether its workers ended. */
#define DISP_SIG_ENDED SIGRTMIN

struct disp {
	const struct policy_repo *repo;
	const struct dispatch_opts *o;
	struct certs_pubkeys *keys;
	unsigned char secret[ACK_SECRET_LEN];
	char host[64];
	char boot[64];			/* the kernel's boot id */
	const struct chan_ops *drivers[DISPATCH_MAX_DRIVERS];
	void *shared[DISPATCH_MAX_DRIVERS];	/* each driver's init() */
	size_t ndrivers;

	struct ratelog rlog;		/* repeated store errors */
	struct metrics *metrics;	/* /metrics: results, latency */
	pthread_mutex_t mu;
	/* workers with nothing to do wait on wake (with mu) until the
	   next due time, at most a second, or until wakes changes: the
	   scheduler queued deliveries, or serve stops */
	pthread_cond_t wake;
	uint64_t wakes;
	bool ticked;			/* the scheduler's first tick is done:
					   until then --until-idle waits for
					   what it will queue */
	bool stop;
	int running;			/* workers still going */
	pthread_t main;			/* serve_loop's thread: the last
					   worker to end sends it
					   DISP_SIG_ENDED, so that serve ends
					   then, not at its next look */
	int waiting;			/* batches whose results the store
					   has not taken yet */
	/* per driver, the results this process recorded sent and dead:
	   the progress line's numbers of this run (with mu) */
	int64_t run_sent[DISPATCH_MAX_DRIVERS], run_dead[DISPATCH_MAX_DRIVERS];
	/* per driver, the workers in one of its batches now (with mu) */
	int working[DISPATCH_MAX_DRIVERS];
	int fatal_rc;
	char fatal[TOCSIN_ERRLEN];
};

struct cached_alert {
	char *id;
	char *doc;
	size_t doclen;
	struct cap_alert *cap;
	struct store_signature_row *sigs;
	size_t nsigs;
	struct chan_part *parts;	/* CAP document + unique signatures */
	size_t nparts;
	char **names;			/* part file names */
	uint64_t used;
};

struct worker {
	struct disp *d;
	int index;
	char owner[128];
	struct store *st;
	struct certs_ctx *cx;
	uint64_t rng;
	struct cached_alert cache[DISPATCH_CACHE];
	uint64_t tick;
	pthread_t thread;
};

/* One message under construction: what the driver borrows during
   deliver(). */
struct pending_msg {
	char message_id[200];
	char subject[256];
	char *body;
	size_t body_len;
	char *short_text;
	struct chan_doc doc;		/* channels that lay out a page */
	char code[ACK_CODE_LEN + 1];
	char url[1024];
};

static uint32_t
worker_rand(struct worker *w)
{
	/* xorshift64*: jitter only, no secrecy needed */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return (uint32_t)((w->rng * 2685821657736338717ULL) >> 32);
}

int64_t
dispatch_backoff(int64_t base, int64_t max, int attempts, uint32_t r)
{
	int64_t d = base;

	if (base <= 0)
		base = d = 1;
	for (int i = 1; i < attempts && d < max; i++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	if (d > max)
		d = max;
	/* Equal jitter: never sooner than half the backoff, so that a relay
	   that is down is not hammered, yet spread so that many deliveries
	   failed together do not come back together. */
	return d / 2 + (int64_t)(r % (uint64_t)(d / 2 + 1));
}

int
dispatch_retry(const struct policy_gateway *gw, int attempts, bool untried,
    int64_t retry_after, int64_t now, uint32_t r, int64_t *ret_next)
{
	int done = attempts + 1;

	*ret_next = now;
	if (untried)
		return 0;
	if (done >= gw->max_attempts)
		return 1;
	*ret_next = now + dispatch_backoff(gw->retry_base, gw->retry_max, done,
	    r);
	/* a provider that said when to come back is not asked sooner */
	if (retry_after > 0 && now + retry_after > *ret_next)
		*ret_next = now + retry_after;
	return 0;
}

/* Wake the workers waiting for work (mu held). */
static void
disp_wake_locked(struct disp *d)
{
	d->wakes++;
	(void)pthread_cond_broadcast(&d->wake);
}

static void
disp_wake(struct disp *d)
{
	pthread_mutex_lock(&d->mu);
	disp_wake_locked(d);
	pthread_mutex_unlock(&d->mu);
}

/* The wake-ups so far: a worker reads it before it looks for work, so
   that a wake-up while it looked is not lost. */
static uint64_t
disp_wakes(struct disp *d)
{
	uint64_t n;

	pthread_mutex_lock(&d->mu);
	n = d->wakes;
	pthread_mutex_unlock(&d->mu);
	return n;
}

/* Wait ms at most, less when woken after seen (disp_wakes) or stopping. */
static void
disp_wait(struct disp *d, int64_t ms, uint64_t seen)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->mu);
	while (!d->stop && d->wakes == seen)
		if (pthread_cond_timedwait(&d->wake, &d->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&d->mu);
}

static void
disp_fail(struct disp *d, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
disp_fail(struct disp *d, int rc, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&d->mu);
	if (d->fatal_rc == 0) {
		d->fatal_rc = rc;
		va_start(ap, fmt);
		(void)vsnprintf(d->fatal, sizeof(d->fatal), fmt, ap);
		va_end(ap);
	}
	d->stop = true;
	disp_wake_locked(d);
	pthread_mutex_unlock(&d->mu);
}

static bool
disp_stopping(struct disp *d)
{
	bool s;

	pthread_mutex_lock(&d->mu);
	s = d->stop;
	pthread_mutex_unlock(&d->mu);
	return s;
}

/* A batch's results start (+1) or stop (-1) waiting for the store. */
static void
disp_waiting(struct disp *d, int delta)
{
	pthread_mutex_lock(&d->mu);
	d->waiting += delta;
	pthread_mutex_unlock(&d->mu);
}

/* Whether some batch of this process has results the store did not take:
   then no worker claims, so that none takes back those rows and sends
   them again the moment the store is writable. */
static bool
disp_results_waiting(struct disp *d)
{
	bool w;

	pthread_mutex_lock(&d->mu);
	w = d->waiting > 0;
	pthread_mutex_unlock(&d->mu);
	return w;
}

static void
disp_log(struct disp *d, int level, const struct log_fields *fl,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
disp_log(struct disp *d, int level, const struct log_fields *fl,
    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (d->o->log == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_put(d->o->log, level, fl, "%s", msg);
}

/* A line from a module that logs through a callback (the escalation
   scheduler, the audit anchor, the ack poller's dropack): arg is the
   struct disp. */
static void
disp_log_line(void *arg, const char *line)
{
	disp_log(arg, TLOG_NOTICE, NULL, "%s", line);
}

/* The same for what is logged because something failed (the repeated
   store errors of ratelog). */
static void
disp_log_warning(void *arg, const char *line)
{
	disp_log(arg, TLOG_WARNING, NULL, "%s", line);
}

static void
cache_entry_free(struct cached_alert *c)
{
	free(c->id);
	free(c->doc);
	cap_free(c->cap);
	store_signature_rows_free(c->sigs, c->nsigs);
	for (size_t i = 0; i < c->nparts; i++)
		free(c->names[i]);
	free(c->names);
	free(c->parts);
	memset(c, 0, sizeof(*c));
}

/* The parsed alert, its CAP document and signatures as attachments. */
static int
cache_get(struct worker *w, const char *alert_id, struct cached_alert **ret,
    struct tocsin_err *err)
{
	struct cached_alert *c = NULL, *victim = &w->cache[0];
	int rc;

	for (size_t i = 0; i < DISPATCH_CACHE; i++) {
		if (w->cache[i].id != NULL &&
		    strcmp(w->cache[i].id, alert_id) == 0) {
			c = &w->cache[i];
			c->used = ++w->tick;
			*ret = c;
			return 0;
		}
		if (w->cache[i].used < victim->used)
			victim = &w->cache[i];
	}
	c = victim;
	cache_entry_free(c);
	if ((c->id = strdup(alert_id)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = store_alert_cap(w->st, alert_id, &c->doc, &c->doclen,
	    err)) != 0)
		goto fail;
	/* The document was verified and parsed at intake; parse it again
	   with the same limits rather than trust a stored parse. */
	if ((rc = cap_parse(c->doc, c->doclen, c->doclen + 1, &c->cap,
	    err)) != 0)
		goto fail;
	if ((rc = store_signatures(w->st, alert_id, &c->sigs, &c->nsigs,
	    err)) != 0)
		goto fail;
	c->parts = calloc(c->nsigs + 1, sizeof(*c->parts));
	c->names = calloc(c->nsigs + 1, sizeof(*c->names));
	if (c->parts == NULL || c->names == NULL) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto fail;
	}
	/* File names come from the alert id, never from alert text. */
	if (asprintf(&c->names[0], "alert-%s.xml", alert_id) < 0) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto fail;
	}
	c->parts[0] = (struct chan_part){ .filename = c->names[0],
	    .content_type = "application/common-alerting-protocol+xml",
	    .data = c->doc, .len = c->doclen };
	c->nparts = 1;
	for (size_t i = 0; i < c->nsigs; i++) {
		const struct store_signature_row *s = &c->sigs[i];
		bool dup = false;
		const char *type, *ext;

		if (s->sig == NULL)
			continue;
		for (size_t j = 0; j < i && !dup; j++)
			dup = c->sigs[j].sig != NULL &&
			    c->sigs[j].sig_len == s->sig_len &&
			    memcmp(c->sigs[j].sig, s->sig, s->sig_len) == 0;
		if (dup)
			continue;
		if (strcmp(s->kind, "cms") == 0) {
			type = "application/pkcs7-signature";
			ext = "p7s";
		} else if (strcmp(s->kind, "openpgp-inline") == 0) {
			type = "application/pgp-signature";
			ext = "signed.asc";
		} else {
			type = "application/pgp-signature";
			ext = "asc";
		}
		if (asprintf(&c->names[c->nparts], "alert-%s.sig%zu.%s",
		    alert_id, c->nparts, ext) < 0) {
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
			goto fail;
		}
		c->parts[c->nparts] = (struct chan_part){
		    .filename = c->names[c->nparts], .content_type = type,
		    .data = s->sig, .len = s->sig_len };
		c->nparts++;
	}
	c->used = ++w->tick;
	*ret = c;
	return 0;
fail:
	cache_entry_free(c);
	return rc;
}

static const struct policy_contact *
team_contact(const struct policy_team *t, const char *name)
{
	for (size_t i = 0; i < t->ncontacts; i++)
		if (strcmp(t->contacts[i].name, name) == 0)
			return &t->contacts[i];
	return NULL;
}

/* Printable ASCII without spaces, quotes or brackets inside <...>. */
static bool
message_id_safe(const char *id)
{
	for (const char *c = id + 1; c[1] != '\0'; c++)
		if (*c <= 0x20 || *c >= 0x7f || strchr("<>()\"\\,;:[]", *c))
			return false;
	return true;
}

static const char *
from_domain(const struct policy_repo *repo)
{
	const char *at = repo->smtp != NULL && repo->smtp->from != NULL ?
	    strrchr(repo->smtp->from, '@') : NULL;

	return at != NULL && at[1] != '\0' ? at + 1 : "tocsin.invalid";
}

/*
 * What the store says of an alert's teams that a message must tell: the
 * ack of `team` (a notice) into *ack, its strings in rows the caller
 * frees; the ids of the unreached teams (the desk's page) into
 * unreached, "" when none.
 */
static int
team_facts(struct worker *w, const char *alert, const char *team,
    struct store_team_row **rows, size_t *n, struct render_ack *ack,
    char *unreached, size_t ulen, struct tocsin_err *err)
{
	size_t used = 0;
	int rc;

	unreached[0] = '\0';
	memset(ack, 0, sizeof(*ack));
	if ((rc = store_teams(w->st, alert, rows, n, err)) != 0)
		return rc;
	for (size_t i = 0; i < *n; i++) {
		const struct store_team_row *t = &(*rows)[i];

		if (strcmp(t->team, team) == 0 && t->ack_by != NULL) {
			ack->by = t->ack_by;
			ack->via = t->ack_via != NULL ? t->ack_via : "";
			ack->strength = t->ack_strength != NULL ?
			    t->ack_strength : "";
			ack->at = t->ack_at;
			ack->contact = t->ack_contact;
		}
		if (strcmp(t->state, "unreached") == 0 && used + 64 < ulen)
			used += (size_t)snprintf(unreached + used, ulen - used,
			    "%s%s", used > 0 ? ", " : "", t->team);
	}
	return 0;
}

/* What the text of a message is built from (build_text's input), all
   borrowed from build_msg. */
struct text_src {
	const struct cached_alert *ca;
	const struct policy_team *team;
	const struct store_delivery_row *row;	/* the group's first */
	struct chan_rcpt *rcpts;	/* the message's recipients */
	size_t nrcpts;
	const char **langs;		/* the contacts' languages, in order */
	size_t nlangs;
	const char **readers;		/* each recipient's first language */
	size_t nreaders;
	const char *tz;			/* the first contact's time zone */
	const struct render_ack *ack;	/* a notice's ack, else NULL */
	const char *unreached;		/* for the desk ("" or NULL: none) */
};

/* The ack link and short code of the message for row into pm. */
static void
build_ack_link(struct worker *w, const struct store_delivery_row *row,
    struct pending_msg *pm)
{
	char token[ACK_TOKEN_LEN + 1];

	if (row->check) {
		/* a check of contacts: the endpoint's own link and code, so
		   that nobody else's answer can confirm it */
		struct ack_endpoint ep = { row->alert_id, row->team,
			row->contact, row->channel, row->address };

		ack_ep_token(w->d->secret, &ep, token);
		ack_ep_code(w->d->secret, &ep, pm->code);
	} else {
		ack_token(w->d->secret, row->alert_id, row->team, token);
		ack_code(w->d->secret, row->alert_id, row->team, pm->code);
	}
	ack_url(w->d->repo->gateway.public_url, token, pm->url,
	    sizeof(pm->url));
}

/* pm's Message-ID as the message's, or, when it is not safe inside <...>,
   one made of the delivery id alone. */
static void
build_id_safe(const struct policy_repo *repo,
    const struct store_delivery_row *row, struct pending_msg *pm,
    struct chan_msg *msg)
{
	if (!message_id_safe(pm->message_id))
		snprintf(pm->message_id, sizeof(pm->message_id),
		    "<tocsin.%lld@%s>", (long long)row->id, from_domain(repo));
	msg->message_id = pm->message_id;
}

/* The notice that the team acknowledged, on any channel. */
static int
build_notice(struct worker *w, const struct chan_ops *ops,
    const struct text_src *src, const struct render_in *in,
    struct chan_msg *msg, struct pending_msg *pm, struct tocsin_err *err)
{
	const struct policy_repo *repo = w->d->repo;
	const struct store_delivery_row *row = src->row;
	char subject[sizeof(pm->subject)];
	int rc;

	if (src->ack == NULL || src->ack->by == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "team %s has "
		    "no ack to tell of", row->team);
	if ((rc = render_notice(in, src->ack, &pm->body, &pm->body_len,
	    &pm->short_text, err)) != 0 ||
	    (rc = audit_stamp(w->st, &pm->body, &pm->body_len, err)) != 0)
		return rc;
	(void)snprintf(subject, sizeof(subject), "Acknowledged: %.*s",
	    (int)sizeof(subject) - 15, pm->subject);
	memcpy(pm->subject, subject, sizeof(subject));
	/* nothing more is asked: no code, no link, no attachments */
	msg->ack_code = NULL;
	msg->ack_url = NULL;
	msg->short_text = pm->short_text;
	msg->body = pm->body;
	msg->body_len = pm->body_len;
	if (ops->per_team)
		snprintf(pm->message_id, sizeof(pm->message_id),
		    "<tocsin.%s.%s.ack@%s>", row->alert_id, row->team,
		    from_domain(repo));
	else
		snprintf(pm->message_id, sizeof(pm->message_id),
		    "tocsin-%s-%lld", row->alert_id, (long long)row->id);
	build_id_safe(repo, row, pm, msg);
	return 0;
}

/*
 * SMS, voice, fax: one message per endpoint, in the contact's language;
 * the delivery is the message, so its id is the identity.  A channel that
 * lays out a page gets the page's fields too.
 */
static int
build_endpoint_text(const struct policy_repo *repo,
    const struct chan_ops *ops, const struct text_src *src,
    const struct render_in *in, struct chan_msg *msg,
    struct pending_msg *pm, struct tocsin_err *err)
{
	const struct store_delivery_row *row = src->row;
	int rc;

	if ((rc = render_short(src->ca->cap, msg->lang, in->cat,
	    &pm->short_text, &msg->short_own, err)) != 0)
		return rc;
	if (in->unreached != NULL) {
		char *t = NULL;

		if (asprintf(&t, "UNREACHED %s: %s", in->unreached,
		    pm->short_text) < 0)
			return tocsin_fail(err, TOCSIN_ENOMEM,
			    "out of memory");
		/* the team ids in front are the gateway's words too */
		msg->short_own += strlen(t) - strlen(pm->short_text);
		free(pm->short_text);
		pm->short_text = t;
	}
	msg->short_text = pm->short_text;
	snprintf(pm->message_id, sizeof(pm->message_id), "tocsin-%s-%lld",
	    row->alert_id, (long long)row->id);
	msg->message_id = pm->message_id;
	if (ops->needs_doc) {
		const struct policy_contact *c = team_contact(src->team,
		    row->contact);
		struct render_doc_in di = { 0 };

		di.recipient = c != NULL ? c->name : NULL;
		di.number = row->address;
		di.duty_phone = repo->gateway.duty_phone;
		di.ack_phone = repo->gateway.ack_phone;
		/* a policy changed since planning falls back to the least: a
		   summary */
		di.full = src->team->policy != NULL &&
		    src->team->policy->fax_detail == POLICY_FAX_FULL;
		if ((rc = render_doc(in, &di, &pm->doc, err)) != 0)
			return rc;
		msg->doc = &pm->doc;
	}
	return 0;
}

/* One message per team and step (ops->per_team): the body, stamped, with
   the CAP document and its signatures attached. */
static int
build_team_text(struct worker *w, const struct text_src *src,
    const struct render_in *in, struct chan_msg *msg, struct pending_msg *pm,
    struct tocsin_err *err)
{
	const struct policy_repo *repo = w->d->repo;
	const struct store_delivery_row *row = src->row;
	int rc;

	if ((rc = render_body(in, &pm->body, &pm->body_len, err)) != 0 ||
	    (rc = audit_stamp(w->st, &pm->body, &pm->body_len, err)) != 0)
		return rc;
	/* The identity of the message, not of a claim: alert, team and
	   step, so that a retry of some of its recipients, or a repeat
	   after a crash, carries the same Message-ID. */
	if (row->check)		/* one message per contact */
		snprintf(pm->message_id, sizeof(pm->message_id),
		    "<tocsin.%s.%s.%d.%lld@%s>", row->alert_id, row->team,
		    row->step, (long long)row->id, from_domain(repo));
	else
		snprintf(pm->message_id, sizeof(pm->message_id),
		    "<tocsin.%s.%s.%d@%s>", row->alert_id, row->team,
		    row->step, from_domain(repo));
	build_id_safe(repo, row, pm, msg);
	msg->body = pm->body;
	msg->body_len = pm->body_len;
	msg->parts = src->ca->parts;
	msg->nparts = src->ca->nparts;
	return 0;
}

/* The text of the message built by build_msg: the alert's, with the
   unreached teams first for the desk, or a notice of ack. */
static int
build_text(struct worker *w, const struct chan_ops *ops,
    const struct text_src *src, struct chan_msg *msg, struct pending_msg *pm,
    struct tocsin_err *err)
{
	const struct policy_repo *repo = w->d->repo;
	const struct store_delivery_row *row = src->row;
	struct render_in in = { 0 };
	int rc;

	/* a message that asks nothing (a receipt, a relay's notice) never
	   has a code made for it, so that none can reach its text by any
	   path, and shows no code or link on any channel */
	if (!row->told)
		build_ack_link(w, row, pm);
	else
		pm->code[0] = pm->url[0] = '\0';
	msg->alert_id = row->alert_id;
	msg->team = row->team;
	msg->step = row->step;
	msg->ack_code = row->told ? NULL : pm->code;
	msg->ack_url = row->told ? NULL : pm->url;
	msg->lang = src->nlangs > 0 ? src->langs[0] : "en";
	msg->exercise = strcmp(src->ca->cap->status, "Exercise") == 0;
	msg->rcpts = src->rcpts;
	msg->nrcpts = src->nrcpts;
	if ((rc = render_subject(repo->smtp != NULL &&
	    repo->smtp->subject != NULL ? repo->smtp->subject :
	    DISPATCH_DEFAULT_SUBJECT, src->ca->cap, row->alert_id,
	    pm->subject, sizeof(pm->subject), err)) != 0)
		return rc;
	msg->subject = pm->subject;
	in.alert = src->ca->cap;
	in.alert_id = row->alert_id;
	in.team = src->team;
	in.langs = src->langs;
	in.nlangs = src->nlangs;
	in.readers = src->readers;
	in.nreaders = src->nreaders;
	in.timezone = src->tz;
	in.ack_url = msg->ack_url;
	in.ack_code = msg->ack_code;
	in.duty_phone = repo->gateway.duty_phone;
	in.cat = repo->gateway.catalog;
	in.unreached = src->unreached != NULL && src->unreached[0] != '\0' ?
	    src->unreached : NULL;
	if (row->notice)
		return build_notice(w, ops, src, &in, msg, pm, err);
	if (!ops->per_team)
		return build_endpoint_text(repo, ops, src, &in, msg, pm, err);
	return build_team_text(w, src, &in, msg, pm, err);
}

/*
 * Build the message of rows [lo, hi) (one alert, team and step).  Rows
 * that cannot be part of it get their result in items[] directly and
 * rcpt_row[] = -1.
 */
static int
build_msg(struct worker *w, const struct chan_ops *ops,
    struct store_delivery_row *rows, size_t lo, size_t hi,
    struct chan_msg *msg, struct pending_msg *pm, struct chan_rcpt *rcpts,
    size_t *rcpt_row, size_t *nrcpt, struct store_result_item *items,
    struct tocsin_err *err)
{
	const struct policy_repo *repo = w->d->repo;
	const struct policy_team *team;
	struct cached_alert *ca = NULL;
	const char *langs[64], *readers[64];
	size_t nlangs = 0, nreaders = 0, first = *nrcpt;
	const char *tz = NULL;
	char unreached[1024] = "";
	struct render_ack ack = { 0 };
	struct store_team_row *trows = NULL;
	size_t ntrows = 0;
	struct text_src src;
	int rc;

	if ((rc = cache_get(w, rows[lo].alert_id, &ca, err)) != 0)
		return rc;
	team = policy_team_find(repo, rows[lo].team);
	for (size_t i = lo; i < hi; i++) {
		const struct policy_contact *c = team != NULL ?
		    team_contact(team, rows[i].contact) : NULL;
		struct chan_rcpt *r = &rcpts[*nrcpt];

		if (team == NULL || (c == NULL && rows[i].contact[0] != '\0')) {
			items[i].result = STORE_R_PERMFAIL;
			items[i].error = team == NULL ? "the team is no longer "
			    "in the repository" : "the contact is no longer in "
			    "the repository";
			continue;
		}
		memset(r, 0, sizeof(*r));
		r->address = rows[i].address;
		r->key = c != NULL && c->pgp[0] != '\0' ? c->pgp : NULL;
		rcpt_row[*nrcpt] = i;
		(*nrcpt)++;
		if (c == NULL)
			continue;
		if (tz == NULL)
			tz = c->timezone;
		for (size_t l = 0; l < c->nlanguages && nlangs < 64; l++)
			langs[nlangs++] = c->languages[l];
		if (c->nlanguages > 0 && nreaders < 64)
			readers[nreaders++] = c->languages[0];
	}
	if (*nrcpt == first)
		return 0;
	src = (struct text_src){ .ca = ca, .team = team, .row = &rows[lo],
		.rcpts = &rcpts[first], .nrcpts = *nrcpt - first,
		.langs = langs, .nlangs = nlangs, .readers = readers,
		.nreaders = nreaders, .tz = tz };
	if (rows[lo].notice || (repo->gateway.desk_team != NULL &&
	    strcmp(repo->gateway.desk_team, rows[lo].team) == 0)) {
		if ((rc = team_facts(w, rows[lo].alert_id, rows[lo].team,
		    &trows, &ntrows, &ack, unreached, sizeof(unreached),
		    err)) != 0)
			return rc;
		src.ack = &ack;
		src.unreached = unreached;
		rc = build_text(w, ops, &src, msg, pm, err);
		store_team_rows_free(trows, ntrows);
		return rc;
	}
	return build_text(w, ops, &src, msg, pm, err);
}

/* A batch of escalations committed: its deliveries go now, not at the
   workers' next look. */
static void
disp_moved(void *arg, size_t n)
{
	(void)n;
	disp_wake(arg);
}

/*
 * The escalation scheduler's tick, in serve's main thread.  First the
 * check that the wall clock was not stepped (against the monotonic one):
 * a step moves the store's deadlines with it, so that a forward step does
 * not fire the ladders' steps at once and a backward one does not stop
 * them.
 */
static void
escalate_tick(struct disp *d, struct store *st)
{
	struct escalate_env env = { .repo = d->repo, .secret = d->secret,
		.now = clock_wall(), .actor = "tocsin serve",
		.log = disp_log_line, .log_arg = d,
		/* a batch's deliveries go while the next one is written */
		.moved = disp_moved, .moved_arg = d };
	struct tocsin_err err = { 0 };
	int64_t step = 0;

	if (store_clock_check(st, d->boot, clock_wall_ms() - base_mono_ms(),
	    env.now, &step, &err) != 0)
		(void)ratelog_line(&d->rlog, "clock", disp_log_line, d,
		    "clock check: %s", err.msg);
	else if (step != 0)
		disp_log(d, TLOG_WARNING, NULL, "the wall clock stepped by "
		    "%+lld s; ladder deadlines, retry times and leases are "
		    "moved with it, so that ladders keep their spacing",
		    (long long)step);
	if (escalate_due(st, &env, NULL, &err) != 0)
		(void)ratelog_line(&d->rlog, "escalation", disp_log_line, d,
		    "escalation: %s", err.msg);
}

#define REQUESTS_LOOK_MS 60000	/* requests' missing pages, this often */

/* A request whose desk page or receipt could not be queued when it came
   (the store busy, no desk team yet) is paged now: at start and once a
   minute, so that a request accepted is never left unpaged. */
static void
requests_tick(struct disp *d, struct store *st, int64_t *last_ms)
{
	struct request_ctx c = { .repo = d->repo, .st = st,
		.now = clock_wall(), .actor = "tocsin serve",
		.log = disp_log_line, .log_arg = d };
	struct tocsin_err err = { 0 };

	if (*last_ms != 0 && base_mono_ms() - *last_ms < REQUESTS_LOOK_MS)
		return;
	*last_ms = base_mono_ms();
	if (request_catch_up(&c, NULL, &err) != 0)
		(void)ratelog_line(&d->rlog, "requests", disp_log_line, d,
		    "requests: %s", err.msg);
}

static bool
same_group(const struct store_delivery_row *a,
    const struct store_delivery_row *b)
{
	return strcmp(a->alert_id, b->alert_id) == 0 &&
	    strcmp(a->team, b->team) == 0 && a->step == b->step &&
	    a->notice == b->notice && a->check == b->check &&
	    a->told == b->told &&
	    (!a->check || strcmp(a->contact, b->contact) == 0);
}

static size_t
driver_index(const struct disp *d, const struct chan_ops *ops)
{
	for (size_t k = 0; k < d->ndrivers; k++)
		if (d->drivers[k] == ops)
			return k;
	return 0;
}

/* Whether a failure to build a message is for good: all but the store's
   and memory's, which a later attempt may not meet. */
static bool
dispatch_build_permanent(int code)
{
	return code != TOCSIN_ENOMEM && code != TOCSIN_ESTORE &&
	    code != TOCSIN_ETEMP && code != TOCSIN_EUNAVAIL &&
	    code != TOCSIN_EIO;
}

/*
 * A batch in flight: the rows claimed, the messages handed to the driver,
 * and the results waiting to be recorded.  Results are recorded as each
 * message completes (the driver's report), in small groups, so that a
 * crash repeats at most the messages in flight; a group the store cannot
 * take now (a lock, a full disk) stays queued and is tried again, never
 * dropped, until the lease ends.
 */
struct batch {
	struct worker *w;
	const struct chan_ops *ops;
	struct store_delivery_row *rows;
	size_t n;
	struct store_result_item *items;
	char (*why)[700];
	struct chan_rcpt *rcpts;
	size_t *rcpt_row;
	size_t nrcpt;
	bool *queued;			/* per row: its result is decided */
	size_t *q;			/* rows decided, not yet recorded */
	size_t nq;
	struct store_result_item *tmp;	/* the group being recorded */
	int64_t last_flush_ms, lease_end_ms;
	bool store_down;		/* said once per batch */
	bool unavailable;		/* the store takes no write now */
	bool started;			/* marked tried in the store */
	int64_t started_ms;		/* when the first message went */
	struct chan_batch cb;
};

#define BATCH_FLUSH_MS 50		/* a group is recorded this often */
#define BATCH_BACKLOG 64		/* results held before the driver waits */

/* The results just recorded (b->tmp, those not lost) into this run's
   sent and dead of the channel, which the progress line shows: counted
   here rather than in the store, where they would be read back from
   every row the store keeps. */
static void
batch_tally(struct batch *b)
{
	struct disp *d = b->w->d;
	size_t k = driver_index(d, b->ops);
	int64_t sent = 0, dead = 0;

	for (size_t i = 0; i < b->nq; i++) {
		if (b->tmp[i].lost)
			continue;
		sent += b->tmp[i].result == STORE_R_SENT;
		dead += b->tmp[i].result == STORE_R_PERMFAIL;
	}
	pthread_mutex_lock(&d->mu);
	d->run_sent[k] += sent;
	d->run_dead[k] += dead;
	pthread_mutex_unlock(&d->mu);
}

/* Record the queued results; wait_ms: how long one try may wait for
   another writer's lock.  0 when all are recorded. */
static int
batch_flush(struct batch *b, int wait_ms)
{
	struct worker *w = b->w;
	struct tocsin_err err = { 0 };
	size_t lost = 0;
	int64_t now = clock_wall();

	if (b->nq == 0)
		return 0;
	for (size_t k = 0; k < b->nq; k++)
		b->tmp[k] = b->items[b->q[k]];
	store_set_busy_wait(w->st, wait_ms);
	if (store_results(w->st, w->owner, now, b->tmp, b->nq, &lost,
	    &err) != 0) {
		b->unavailable = store_unavailable(w->st);
		store_set_busy_wait(w->st, 10000);
		/* a quick try that found another writer (another serve node,
		   a submit) is the usual case on a busy store: the results
		   wait for the next try, which waits and, failing, says so */
		if (wait_ms == 0 && !b->store_down)
			return err.code != 0 ? err.code : TOCSIN_ESTORE;
		if (!b->store_down) {
			disp_log(w->d, TLOG_WARNING, NULL, "%s: cannot record "
			    "%zu results yet (tried again until the store takes "
			    "them): %s", w->owner, b->nq, err.msg);
			disp_waiting(w->d, 1);
		}
		b->store_down = true;
		return err.code != 0 ? err.code : TOCSIN_ESTORE;
	}
	store_set_busy_wait(w->st, 10000);
	b->last_flush_ms = base_mono_ms();
	batch_tally(b);
	if (b->store_down) {
		disp_log(w->d, TLOG_NOTICE, NULL, "%s: %zu results recorded "
		    "after a wait", w->owner, b->nq);
		disp_waiting(w->d, -1);
	}
	b->store_down = false;
	for (size_t k = 0; k < b->nq; k++) {
		const struct store_delivery_row *r = &b->rows[b->q[k]];
		const struct store_result_item *it = &b->items[b->q[k]];
		const struct log_fields fl = { .alert = r->alert_id,
			.team = r->team, .channel = r->channel,
			.delivery = r->id };

		if (it->result == STORE_R_PERMFAIL)
			disp_log(w->d, TLOG_WARNING, &fl, "delivery %lld (%s, "
			    "team %s, %s) is dead: %s", (long long)r->id,
			    r->channel, r->team, r->address, it->error);
		else if (it->result == STORE_R_TEMPFAIL)
			disp_log(w->d, TLOG_INFO, &fl, "delivery %lld (%s, team "
			    "%s, %s) failed, retry in %llds: %s",
			    (long long)r->id, r->channel, r->team, r->address,
			    (long long)(it->next_attempt - now), it->error);
	}
	if (lost > 0)
		disp_log(w->d, TLOG_WARNING, NULL, "%s: %zu results came after "
		    "the lease ran out; those deliveries were taken back",
		    w->owner, lost);
	b->nq = 0;
	return 0;
}

/* Row i's result is decided: queue it (once). */
static void
batch_queue(struct batch *b, size_t i)
{
	if (b->queued[i])
		return;
	b->queued[i] = true;
	b->q[b->nq++] = i;
}

/* The result of row i from its recipient k, with its retry time. */
static void
batch_decide(struct batch *b, size_t k, int64_t now)
{
	const struct policy_gateway *gw = &b->w->d->repo->gateway;
	size_t i = b->rcpt_row[k];
	struct chan_rcpt *r = &b->rcpts[k];
	struct store_result_item *it = &b->items[i];

	switch (r->status) {
	case CHAN_SENT:
		it->result = STORE_R_SENT;
		it->error = NULL;
		it->provider_ref = r->ref[0] ? r->ref : NULL;
		it->segments = r->segments;
		return;
	case CHAN_PERMFAIL:
		it->result = STORE_R_PERMFAIL;
		it->error = r->reason;
		return;
	case CHAN_TEMPFAIL:
		break;
	}
	it->result = STORE_R_TEMPFAIL;
	it->error = r->reason;
	it->untried = r->untried;
	if (dispatch_retry(gw, b->rows[i].attempts, r->untried, r->retry_after,
	    now, worker_rand(b->w), &it->next_attempt) == 1) {
		snprintf(b->why[i], sizeof(b->why[i]), "gave up after %d "
		    "attempts; last: %s", b->rows[i].attempts + 1, r->reason);
		it->error = b->why[i];
		it->result = STORE_R_PERMFAIL;
	}
}

/* A recipient's result into /metrics: by channel and, for a channel that
   spreads its messages over providers, the provider that took it (the
   reference's "NAME:" part); latency from the batch's first hand-over. */
static void
batch_count(struct batch *b, size_t k)
{
	const struct chan_rcpt *r = &b->rcpts[k];
	char provider[48] = "";
	const char *colon = strchr(r->ref, ':');

	if (b->ops->providers != NULL && r->status == CHAN_SENT &&
	    colon != NULL && (size_t)(colon - r->ref) < sizeof(provider))
		(void)snprintf(provider, sizeof(provider), "%.*s",
		    (int)(colon - r->ref), r->ref);
	metrics_send(b->w->d->metrics, b->ops->kind.name, provider,
	    r->status == CHAN_SENT ? METRICS_SENT : r->status ==
	    CHAN_PERMFAIL ? METRICS_PERMFAIL : METRICS_TEMPFAIL,
	    b->started ? base_mono_ms() - b->started_ms : 0);
}

/* The driver's report: every recipient of m has its status. */
static void
batch_report(void *ctx, struct chan_msg *m)
{
	struct batch *b = ctx;
	size_t first = (size_t)(m->rcpts - b->rcpts);
	int64_t now = clock_wall(), shared = 0;
	bool anyq = false;

	for (size_t k = first; k < first + m->nrcpts; k++) {
		size_t i = b->rcpt_row[k];

		if (b->queued[i])
			continue;
		batch_decide(b, k, now);
		batch_count(b, k);
		/* the recipients of one message who failed together are
		   retried together, in one message */
		if (b->ops->per_team && b->items[i].result == STORE_R_TEMPFAIL &&
		    !b->items[i].untried) {
			if (shared == 0)
				shared = b->items[i].next_attempt;
			b->items[i].next_attempt = shared;
		}
		batch_queue(b, i);
		anyq = true;
	}
	/* a stop asked for (SIGTERM) ends the batch after this message */
	if (disp_stopping(b->w->d))
		b->cb.deadline_ms = base_mono_ms();
	if (!anyq)
		return;
	if (base_mono_ms() - b->last_flush_ms >= BATCH_FLUSH_MS ||
	    b->nq >= BATCH_BACKLOG)
		(void)batch_flush(b, 0);
	/* a store that stays locked holds the driver here, so that no more
	   than the backlog waits to be recorded */
	while (b->nq >= BATCH_BACKLOG && base_mono_ms() < b->lease_end_ms &&
	    batch_flush(b, 1000) != 0) {
		struct timespec ts = { 0, 200000000L };

		nanosleep(&ts, NULL);
	}
}

/* The driver is about to hand the first message to the peer: from now a
   lost lease counts as an attempt (never before, so that a crash while
   rendering or encrypting costs none). */
static void
batch_start(void *ctx)
{
	struct batch *b = ctx;
	struct tocsin_err err = { 0 };

	if (b->started)
		return;
	b->started = true;
	b->started_ms = base_mono_ms();
	store_set_busy_wait(b->w->st, 1000);
	if (store_mark_tried(b->w->st, b->w->owner, &err) != 0)
		disp_log(b->w->d, TLOG_WARNING, NULL, "%s: %s", b->w->owner,
		    err.msg);
	store_set_busy_wait(b->w->st, 10000);
}

/* A provider answered a request of this batch. */
static void
batch_peer(void *ctx, const char *provider, bool ok, int64_t ms)
{
	struct batch *b = ctx;

	metrics_peer(b->w->d->metrics, b->ops->kind.name, provider, ok, ms);
}

/* The driver waits on the peer: commit what waited a group's time. */
static void
batch_idle(void *ctx)
{
	struct batch *b = ctx;

	if (b->nq > 0 && base_mono_ms() - b->last_flush_ms >= BATCH_FLUSH_MS)
		(void)batch_flush(b, 0);
}

/*
 * A message the driver never reported was never decided: the driver
 * stopped before it (out of memory, a library that would not start) or
 * forgot it.  Its recipients still hold the zero status, "sent", and
 * recorded so the alert would be lost.  Those with no provider's
 * reference (nothing says they went) become a temporary failure that
 * counts an attempt: retried, and dead with the reason if the driver
 * keeps failing, never "sent".  why: the driver's error, or "".
 */
static void
batch_undecided(struct batch *b, struct chan_msg *msgs, size_t nmsgs,
    const char *why)
{
	size_t nundecided = 0;

	for (size_t m = 0; m < nmsgs; m++) {
		size_t first = (size_t)(msgs[m].rcpts - b->rcpts);
		bool told = false;

		for (size_t k = first; k < first + msgs[m].nrcpts; k++) {
			struct chan_rcpt *r = &b->rcpts[k];

			if (b->queued[b->rcpt_row[k]] ||
			    r->status != CHAN_SENT || r->ref[0] != '\0')
				continue;
			chan_rcpt_set(r, CHAN_TEMPFAIL, "not decided: the %s "
			    "channel stopped before it%s%.400s",
			    b->ops->kind.name, why[0] ? ": " : "", why);
			told = true;
		}
		nundecided += told;
	}
	if (nundecided > 0)
		disp_log(b->w->d, TLOG_WARNING, NULL, "%s: the %s channel "
		    "stopped with %zu messages undecided%s%s; they are "
		    "retried", b->w->owner, b->ops->kind.name, nundecided,
		    why[0] ? ": " : "", why);
}

/* After the driver: every row's result, recorded before the lease ends,
   or later if the store takes none till then (unless serve stops).
   why: the driver's error when deliver() failed, else "". */
static void
batch_finish(struct batch *b, struct chan_msg *msgs, size_t nmsgs,
    const char *why)
{
	const struct policy_gateway *gw = &b->w->d->repo->gateway;
	bool past = false;

	batch_undecided(b, msgs, nmsgs, why);
	for (size_t m = 0; m < nmsgs; m++)
		batch_report(b, &msgs[m]);
	for (size_t i = 0; i < b->n; i++) {
		struct store_result_item *it = &b->items[i];

		if (b->queued[i])
			continue;
		/* no message could be made of it (rendering failed): an
		   attempt, bounded like any other */
		if (it->result == STORE_R_TEMPFAIL &&
		    b->rows[i].attempts + 1 >= gw->max_attempts) {
			char last[sizeof(b->why[i])];

			/* the reason may live in why[i] itself */
			(void)snprintf(last, sizeof(last), "%s", it->error);
			snprintf(b->why[i], sizeof(b->why[i]), "gave up after "
			    "%d attempts; last: %.600s", b->rows[i].attempts + 1,
			    last);
			it->error = b->why[i];
			it->result = STORE_R_PERMFAIL;
		}
		batch_queue(b, i);
	}
	/* Past the lease the results still wait: while the store takes no
	   write, nobody can take these rows back either, and a "sent"
	   recorded late still counts; only a stop gives them up. */
	while (batch_flush(b, 1000) != 0) {
		struct timespec ts = { 0, 200000000L };

		if (base_mono_ms() < b->lease_end_ms) {
			nanosleep(&ts, NULL);
			continue;
		}
		/* a result the store refuses for itself would hold the
		   worker for ever: given up at the lease's end, as a stop */
		if (disp_stopping(b->w->d) || !b->unavailable) {
			disp_log(b->w->d, TLOG_WARNING, NULL, "%s: %zu results "
			    "could not be recorded before the lease ran out; "
			    "those deliveries are taken back and sent again",
			    b->w->owner, b->nq);
			disp_waiting(b->w->d, -1);
			return;
		}
		if (!past) {
			disp_log(b->w->d, TLOG_WARNING, NULL, "%s: the lease ran "
			    "out with %zu results not recorded; they wait for "
			    "the store (until serve stops)", b->w->owner, b->nq);
			past = true;
		}
		nanosleep(&ts, NULL);
	}
}

/* The batch's arrays for n rows; false when memory is short (what was
   made is freed by batch_free). */
static bool
batch_alloc(struct batch *b, size_t n)
{
	b->rcpts = calloc(n, sizeof(*b->rcpts));
	b->rcpt_row = calloc(n, sizeof(*b->rcpt_row));
	b->items = calloc(n, sizeof(*b->items));
	b->why = calloc(n, sizeof(*b->why));
	b->queued = calloc(n, sizeof(*b->queued));
	b->q = calloc(n, sizeof(*b->q));
	b->tmp = calloc(n, sizeof(*b->tmp));
	return b->rcpts != NULL && b->rcpt_row != NULL && b->items != NULL &&
	    b->why != NULL && b->queued != NULL && b->q != NULL &&
	    b->tmp != NULL;
}

static void
batch_free(struct batch *b)
{
	free(b->rcpts);
	free(b->rcpt_row);
	free(b->items);
	free(b->why);
	free(b->queued);
	free(b->q);
	free(b->tmp);
}

/* The messages of the batch's rows (one per team and step when the
   channel says so) into msgs; a group whose message cannot be built is
   decided here, dead at once when it never can be.  Returns how many. */
static size_t
batch_build(struct batch *b, struct chan_msg *msgs, struct pending_msg *pms)
{
	const struct chan_ops *ops = b->ops;
	struct tocsin_err err = { 0 };
	size_t nmsgs = 0;

	for (size_t lo = 0; lo < b->n;) {
		size_t hi = lo + 1;

		if (ops->per_team)
			while (hi < b->n && same_group(&b->rows[lo],
			    &b->rows[hi]))
				hi++;
		if (build_msg(b->w, ops, b->rows, lo, hi, &msgs[nmsgs],
		    &pms[nmsgs], b->rcpts, b->rcpt_row, &b->nrcpt, b->items,
		    &err) != 0) {
			for (size_t i = lo; i < hi; i++) {
				snprintf(b->why[i], sizeof(b->why[i]), "%s",
				    err.msg);
				b->items[i].error = b->why[i];
				/* a message that cannot be rendered never
				   will be: dead at once, with the reason */
				if (dispatch_build_permanent(err.code))
					b->items[i].result = STORE_R_PERMFAIL;
			}
			/* drop the recipients added for this group */
			while (b->nrcpt > 0 && b->rcpt_row[b->nrcpt - 1] >= lo)
				b->nrcpt--;
		} else if (msgs[nmsgs].nrcpts > 0) {
			msgs[nmsgs].batch = &b->cb;
			nmsgs++;
		}
		lo = hi;
	}
	return nmsgs;
}

static void
work_batch(struct worker *w, const struct chan_ops *ops,
    struct store_delivery_row *rows, size_t n, int64_t claimed_ms)
{
	struct disp *d = w->d;
	struct chan_msg *msgs = calloc(n, sizeof(*msgs));
	struct pending_msg *pms = calloc(n, sizeof(*pms));
	struct batch b = { .w = w, .ops = ops, .rows = rows, .n = n };
	struct chan_env env;
	struct tocsin_err err = { 0 };
	size_t nmsgs;
	void *sess = NULL;
	int64_t now = clock_wall();

	if (!batch_alloc(&b, n) || msgs == NULL || pms == NULL) {
		disp_fail(d, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	/* the lease on the monotonic clock: a step of the wall clock does
	   not shorten or lengthen it here */
	b.lease_end_ms = claimed_ms + d->repo->gateway.lease * 1000;
	/* finish well inside the lease, or the rows are taken back while
	   they are being sent */
	b.cb = (struct chan_batch){ .report = batch_report,
	    .start = batch_start, .idle = batch_idle, .peer = batch_peer,
	    .ctx = &b,
	    .deadline_ms = claimed_ms + d->repo->gateway.lease * 1000 / 2 };
	b.last_flush_ms = base_mono_ms();
	/* Default: a temporary failure, so that a row nobody decided on is
	   retried rather than lost. */
	for (size_t i = 0; i < n; i++) {
		b.items[i].id = rows[i].id;
		b.items[i].result = STORE_R_TEMPFAIL;
		b.items[i].error = "not attempted";
		b.items[i].next_attempt = now + dispatch_backoff(
		    d->repo->gateway.retry_base, d->repo->gateway.retry_max,
		    rows[i].attempts + 1, worker_rand(w));
	}
	if ((nmsgs = batch_build(&b, msgs, pms)) > 0) {
		env = (struct chan_env){ .repo = d->repo, .certs = w->cx,
		    .keys = d->keys, .now = now,
		    .shared = d->shared[driver_index(d, ops)],
		    .budget = d->repo->gateway.lease / 2 };
		if (ops->open(&env, &sess, &err) != 0) {
			for (size_t k = 0; k < b.nrcpt; k++)
				chan_rcpt_set(&b.rcpts[k], CHAN_TEMPFAIL, "%s",
				    err.msg);
		} else {
			if (ops->deliver(sess, msgs, nmsgs, &err) == 0)
				err.msg[0] = '\0';
			ops->close(sess);
		}
	}
	batch_finish(&b, msgs, nmsgs, err.msg);
out:
	for (size_t i = 0; i < n && pms != NULL; i++) {
		free(pms[i].body);
		free(pms[i].short_text);
		render_doc_free(&pms[i].doc);
	}
	free(msgs);
	free(pms);
	batch_free(&b);
}

/*
 * The next channel a worker looks at this round, marked as worked on
 * (undone by worker_out): of those it has not looked at yet (seen), the
 * first in the drivers' order that no worker is in, else the first.  So
 * every channel with work starts at once (the SMS of a broadcast does not
 * wait for the first e-mail batches), and a channel whose peer is slow (a
 * relay that takes minutes) holds one worker while another takes the
 * other channels' work, as long as there are more workers than slow
 * channels.  Chosen and marked under one lock: two workers woken together
 * take two channels.
 */
static size_t
worker_pick(struct disp *d, bool seen[DISPATCH_MAX_DRIVERS])
{
	size_t pick = SIZE_MAX;

	pthread_mutex_lock(&d->mu);
	for (size_t k = 0; k < d->ndrivers; k++)
		if (!seen[k] && (pick == SIZE_MAX || (d->working[k] == 0 &&
		    d->working[pick] > 0)))
			pick = k;
	if (pick != SIZE_MAX) {
		seen[pick] = true;
		d->working[pick]++;
	}
	pthread_mutex_unlock(&d->mu);
	return pick;
}

static void
worker_out(struct disp *d, size_t k)
{
	pthread_mutex_lock(&d->mu);
	d->working[k]--;
	pthread_mutex_unlock(&d->mu);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct disp *d = w->d;
	struct tocsin_err err = { 0 };
	bool last;

	if (store_open(d->repo->gateway.store, &w->st, &err) != 0 ||
	    certs_open(d->repo->gateway.gnupg_home, &w->cx, &err) != 0 ||
	    certs_attach(w->cx, d->keys, &err) != 0) {
		disp_fail(d, err.code, "%s", err.msg);
		goto out;
	}
	store_set_max_attempts(w->st, d->repo->gateway.max_attempts);
	while (!disp_stopping(d)) {
		/* another batch's results wait for the store: claim nothing
		   until they are recorded */
		uint64_t seen = disp_wakes(d);
		bool hold = disp_results_waiting(d);
		bool worked = false, busy = hold;
		int64_t now = clock_wall(), next = now + 1;
		bool looked[DISPATCH_MAX_DRIVERS] = { false };

		for (size_t j = 0; j < d->ndrivers && !hold &&
		    !disp_stopping(d); j++) {
			size_t k = worker_pick(d, looked);
			const struct chan_ops *ops = d->drivers[k];
			struct store_delivery_row *rows = NULL;
			size_t n = 0;
			int64_t due, claimed_ms = base_mono_ms();

			if (store_claim(w->st, w->owner, now,
			    d->repo->gateway.lease, ops->kind.name,
			    ops->batch(d->repo), &rows, &n, &err) != 0) {
				worker_out(d, k);
				(void)ratelog_line(&d->rlog, "claim",
				    disp_log_line, d, "%s: claim failed: %s",
				    w->owner, err.msg);
				busy = true;
				continue;
			}
			if (n > 0) {
				work_batch(w, ops, rows, n, claimed_ms);
				worked = true;
				/* with --until-idle, a worker with nothing
				   left waits for this batch's end: it looks
				   again now */
				if (d->o->until_idle)
					disp_wake(d);
			}
			worker_out(d, k);
			store_delivery_rows_free(rows, n);
			if (store_next_due(w->st, ops->kind.name, &due, &err) == 0) {
				busy = true;
				if (due < next)
					next = due;
			}
		}
		if (worked)
			continue;
		/* a team's step that fell due in the last seconds (its last
		   one just failed on every channel, or its time came) brings
		   deliveries at the scheduler's next look: --until-idle waits
		   for them, but not for ever for one it cannot move */
		if (!busy && d->o->until_idle) {
			int64_t dl = 0, t = clock_wall();

			pthread_mutex_lock(&d->mu);
			busy = !d->ticked;
			pthread_mutex_unlock(&d->mu);

			if (store_next_deadline(w->st, &dl, &err) == 0 &&
			    dl > 0 && dl <= t && t - dl < 5)
				busy = true;
		}
		if (!busy && d->o->until_idle)
			break;
		/* Nothing due now: wait until the next due time, at most a
		   second, so that alerts another process accepted are
		   picked up promptly; the scheduler's moves wake the
		   workers at once. */
		{
			int64_t ms = (next - clock_wall()) * 1000;

			/* --until-idle waits only for other workers' batches
			   and near retries: look again soon, so that it ends
			   right after the last result. */
			if (ms > (d->o->until_idle ? 100 : 1000))
				ms = d->o->until_idle ? 100 : 1000;
			if (ms < 50)
				ms = 50;
			disp_wait(d, ms, seen);
		}
	}
out:
	for (size_t i = 0; i < DISPATCH_CACHE; i++)
		cache_entry_free(&w->cache[i]);
	certs_close(w->cx);
	store_close(w->st);
	w->cx = NULL;
	w->st = NULL;
	pthread_mutex_lock(&d->mu);
	last = --d->running == 0;
	pthread_mutex_unlock(&d->mu);
	if (last)
		(void)pthread_kill(d->main, DISP_SIG_ENDED);
	return NULL;
}

/*
 * The ack poller: a thread of its own, since a drop host that does not
 * answer may hold a look for its whole timeout, which the scheduler's
 * one-second promise cannot wait for.  Each driver with a poll hook says
 * which of its hosts are due.  Of several serve nodes on one store, one
 * reads the ack files at a time: the one holding the store's turn
 * "ack-poll", which it renews once half of its time is gone (a write
 * transaction, with SQLite's fsync, not one each second); another takes
 * it over DISP_POLL_TURN seconds after the holder stopped renewing it,
 * or at once when the holder stopped cleanly and gave it back.
 * The SMS a modem of this host received are read on every node, turn or
 * not: the modem is this host's alone.
 */
static void *
poller_main(void *arg)
{
	struct disp *d = arg;
	struct store *st = NULL;
	struct certs_ctx *cx = NULL;
	struct tocsin_err err = { 0 };
	char last[TOCSIN_ERRLEN] = "", rlast[TOCSIN_ERRLEN] = "", owner[128];
	int64_t held_until = 0;		/* the turn is ours till then */
	unsigned long throttled = 0;

	(void)snprintf(owner, sizeof(owner), "tocsin/%s/%ld/poll", d->host,
	    (long)getpid());
	if (store_open(d->repo->gateway.store, &st, &err) != 0 ||
	    certs_open(d->repo->gateway.gnupg_home, &cx, &err) != 0 ||
	    certs_attach(cx, d->keys, &err) != 0) {
		disp_log(d, TLOG_ERR, NULL, "ack poller: %s; ack files are not "
		    "read", err.msg);
		goto out;
	}
	while (!disp_stopping(d)) {
		int64_t now = clock_wall();
		int turn = 1;

		/* nobody else takes it before held_until; renewed in the
		   second half of its time, or at once when the wall clock
		   went back (the store's end of it would stay ahead) */
		if (now >= held_until - DISP_POLL_TURN / 2 ||
		    now < held_until - DISP_POLL_TURN) {
			turn = store_turn(st, "ack-poll", owner, now,
			    DISP_POLL_TURN, &err);
			held_until = turn == 1 ? now + DISP_POLL_TURN : 0;
		}
		if (turn < 0)
			(void)ratelog_line(&d->rlog, "turn", disp_log_line, d,
			    "ack poller: %s", err.msg);
		for (size_t k = 0; k < d->ndrivers && turn == 1 &&
		    !disp_stopping(d); k++) {
			const struct chan_ops *ops = d->drivers[k];
			struct chan_env env = { .repo = d->repo, .certs = cx,
				.keys = d->keys, .shared = d->shared[k],
				.now = clock_wall() };
			struct dropack_ctx c = { .repo = d->repo, .st = st,
				.certs = cx, .secret = d->secret, .now = env.now,
				.log = disp_log_line, .log_arg = d };

			if (ops->poll == NULL)
				continue;
			/* a host that stays down is said once, not each look */
			if (ops->poll(&env, dropack_take, &c, &err) != 0) {
				if (strcmp(err.msg, last) != 0)
					disp_log(d, TLOG_WARNING, NULL,
					    "ack files: %s", err.msg);
				(void)snprintf(last, sizeof(last), "%s",
				    err.msg);
			} else
				last[0] = '\0';
		}
		/* a modem is this host's: read whoever holds the turn */
		for (size_t k = 0; k < d->ndrivers && !disp_stopping(d); k++) {
			const struct chan_ops *ops = d->drivers[k];
			struct chan_env env = { .repo = d->repo, .certs = cx,
				.keys = d->keys, .shared = d->shared[k],
				.now = clock_wall() };
			struct reply_ctx rc = { .st = st, .repo = d->repo,
				.secret = d->secret, .log = disp_log_line,
				.log_arg = d, .throttled = throttled,
				.now = env.now };

			if (ops->receive == NULL)
				continue;
			if (ops->receive(&env, reply_take_cb, &rc, &err) != 0) {
				if (strcmp(err.msg, rlast) != 0)
					disp_log(d, TLOG_WARNING, NULL,
					    "replies: %s", err.msg);
				(void)snprintf(rlast, sizeof(rlast), "%s",
				    err.msg);
			} else
				rlast[0] = '\0';
			throttled = rc.throttled;
		}
		/* a second between looks; at once when serve stops */
		for (int64_t until = base_mono_ms() + 1000, left;
		    !disp_stopping(d) && (left = until - base_mono_ms()) > 0;)
			disp_wait(d, left, disp_wakes(d));
	}
	/* a clean stop hands the turn over at once: another node, or this
	   serve started again, reads the ack files without waiting for its
	   time to run out (a node that dies still holds it that long) */
	if (held_until != 0 && store_turn_release(st, "ack-poll", owner,
	    &err) != 0)
		disp_log(d, TLOG_WARNING, NULL, "ack poller: %s", err.msg);
out:
	certs_close(cx);
	store_close(st);
	return NULL;
}

/* Leases of workers of this host whose process is gone. */
static void
release_dead(struct disp *d, struct store *st)
{
	struct tocsin_err err = { 0 };
	char **owners = NULL;
	size_t n = 0, nmoot = 0;

	if (store_cancel_moot(st, clock_wall(), &nmoot, &err) != 0)
		(void)ratelog_line(&d->rlog, "moot", disp_log_line, d,
		    "cannot cancel moot deliveries: %s", err.msg);
	else if (nmoot > 0)
		disp_log(d, TLOG_NOTICE, NULL, "cancelled %zu deliveries whose "
		    "team's ladder had stopped", nmoot);
	if (store_lease_owners(st, &owners, &n, &err) != 0) {
		(void)ratelog_line(&d->rlog, "leases", disp_log_line, d,
		    "cannot list leases: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char host[64];
		long pid;
		size_t nrel = 0;
		int c = 0;

		if (owners[i] == NULL || sscanf(owners[i],
		    "tocsin/%63[^/]/%ld/%*d%n", host, &pid, &c) != 2 ||
		    c == 0 || strcmp(host, d->host) != 0)
			goto next;
		if (pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH))
			goto next;
		if (store_release_owner(st, owners[i], clock_wall(),
		    &nrel, &err) == 0 && nrel > 0)
			disp_log(d, TLOG_WARNING, NULL, "released %zu deliveries "
			    "held by %s, which is no longer running; they are "
			    "sent again", nrel, owners[i]);
next:
		free(owners[i]);
	}
	free(owners);
}

/* The progress line: when it was last looked at (monotonic ms; 0:
   never) and what it said. */
struct progress {
	char last[512];
	int64_t last_ms;
};

#define PROGRESS_TTY_MS 1000		/* a terminal's line, at most */
#define PROGRESS_LOG_MS 2000		/* a log's (not a terminal) */

/*
 * The progress line, when one is due: on a terminal at most once a
 * second, rewritten in place; elsewhere (a log, the journal) every 2 s
 * when it changed; the final one whenever it changed.  Whether it is due
 * is decided before the store is asked anything: the main loop comes here
 * five times a second.  Per channel: what this process recorded sent and
 * dead in this run (its own tally, not a count of the store's rows, which
 * grow with history), and what is left to go in the store (one statement
 * that reads only the rows left to go, store_queue_counts).
 */
static void
progress_line(struct disp *d, struct store *st, struct progress *p,
    bool final)
{
	struct store_queue q;
	struct tocsin_err err;
	char line[512];
	size_t off = 0;
	bool tty;
	int64_t now = base_mono_ms();

	if (d->o->progress == NULL)
		return;
	tty = isatty(fileno(d->o->progress));
	if (!final && p->last_ms != 0 && now - p->last_ms <
	    (tty ? PROGRESS_TTY_MS : PROGRESS_LOG_MS))
		return;
	p->last_ms = now;
	if (store_queue_counts(st, &q, &err) != 0)
		return;
	line[0] = '\0';
	for (size_t k = 0; k < d->ndrivers && off < sizeof(line); k++) {
		struct store_queue_channel c = store_queue_of(&q,
		    d->drivers[k]->kind.name);
		int64_t sent, dead;

		pthread_mutex_lock(&d->mu);
		sent = d->run_sent[k];
		dead = d->run_dead[k];
		pthread_mutex_unlock(&d->mu);
		/* A channel with nothing to do in this run says nothing. */
		if (sent == 0 && dead == 0 && c.waiting + c.sending == 0)
			continue;
		off += (size_t)snprintf(line + off, sizeof(line) - off,
		    "%s%s: %lld sent, %lld dead, %lld to go (%lld sending, "
		    "%lld waiting to retry)", off ? "; " : "",
		    d->drivers[k]->kind.name, (long long)sent, (long long)dead,
		    (long long)(c.waiting + c.sending), (long long)c.sending,
		    (long long)c.failed);
	}
	if (strcmp(line, p->last) == 0 && (!final || !tty))
		return;
	snprintf(p->last, sizeof(p->last), "%s", line);
	pthread_mutex_lock(&d->mu);
	fprintf(d->o->progress, tty ? "\r\033[Ktocsin serve: %s%s" :
	    "tocsin serve: %s%s", line, tty && !final ? "" : "\n");
	fflush(d->o->progress);
	pthread_mutex_unlock(&d->mu);
}

/* Deliveries queued on channels this build has no driver for (a store
   written by another build): say so once; they stay queued, never
   dropped. */
static void
warn_undriven(struct disp *d, struct store *st)
{
	struct store_queue q;
	struct tocsin_err err;
	int64_t left;

	if (store_queue_counts(st, &q, &err) != 0)
		return;
	left = q.other.waiting;
	for (size_t i = 0; i < q.nchannels; i++)
		if (chan_find(q.channels[i].channel) == NULL)
			left += q.channels[i].waiting;
	if (left > 0)
		disp_log(d, TLOG_WARNING, NULL, "%lld deliveries stay queued: "
		    "this release has no driver for their channel",
		    (long long)left);
}

/* --until-idle ends with success only when nothing is left that this
   process could have done: deliveries still waiting (on a channel with no
   driver in this build) make it fail, with the count. */
static int
idle_check(struct store *st, struct tocsin_err *err)
{
	struct store_queue q;
	int64_t left;
	int rc;

	if ((rc = store_queue_counts(st, &q, err)) != 0)
		return rc;
	left = q.other.waiting + q.other.sending;
	for (size_t i = 0; i < q.nchannels; i++)
		left += q.channels[i].waiting + q.channels[i].sending;
	if (left > 0)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "%lld deliveries are "
		    "still waiting and this serve cannot make them (no driver "
		    "for their channel, or held by another serve)",
		    (long long)left);
	return 0;
}

/* One run of serve: what dispatch_serve's start-up, loop and shut-down
   share.  It lives on dispatch_serve's stack for the whole run: the
   workers point at d, the listener at lchans. */
struct serve_run {
	struct disp d;
	struct listen_channel lchans[DISPATCH_MAX_DRIVERS];
	size_t nl;
	struct listen_ctx *lst;
	struct store *st;		/* the main thread's connection */
	struct certs_ctx *cx;
	struct worker *ws;		/* nw of them, the first started
					   running */
	int nw, started;
	pthread_t poller;
	bool polling;
	sigset_t set, old;		/* the signals taken; the mask before */
	bool masked;			/* set is blocked: old is restored */
	bool signalled;
	bool reexec;			/* stopping to start again (SIGHUP) */
	int64_t watchdog_ms;		/* last WATCHDOG=1 */
	int64_t requests_ms;		/* last look for requests' missing
					   pages and receipts (0: never) */
	struct progress prog;
	struct audit_anchor anchor;
};

/* The start-up line (version, store, listener, channels, workers), and
   READY=1 for systemd. */
static void
serve_ready(struct serve_run *s)
{
	struct disp *d = &s->d;
	char chans[256], status[320];
	size_t off = 0;

	chans[0] = '\0';
	for (size_t k = 0; k < d->ndrivers && off < sizeof(chans); k++)
		off += (size_t)snprintf(chans + off, sizeof(chans) - off, "%s%s",
		    k ? " " : "", d->drivers[k]->kind.name);
	disp_log(d, TLOG_NOTICE, NULL, "tocsin %s serving: store %s, "
	    "listening on %s, %d workers, channels %s, OpenPGP engine %s "
	    "(%zu public keys)", TOCSIN_VERSION, d->repo->gateway.store,
	    d->repo->gateway.listen, s->nw, chans,
	    certs_pubkeys_engine(d->keys), certs_pubkeys_count(d->keys));
	(void)snprintf(status, sizeof(status), "serving %s with %d workers",
	    d->repo->gateway.listen, s->nw);
	(void)sdnotify_ready(status);
}

/*
 * SIGHUP: the configuration is read and checked again; a broken one is
 * refused (logged and audited with its first error) and serve goes on
 * with the one it has.  One that checks ends this run as SIGTERM would
 * (the batches in hand are finished, nothing is given up) and the caller
 * executes serve anew with it: the drivers' shared state, the listener
 * and every worker then start from the new configuration together, never
 * half of them from the old one.
 */
static void
serve_reload(struct serve_run *s)
{
	struct disp *d = &s->d;
	struct tocsin_err e = { 0 }, ae;
	int64_t now = (int64_t)time(NULL);
	int rc = d->o->reload_check(d->o->reload_arg, &e);

	if (rc != 0) {
		disp_log(d, TLOG_ERR, NULL, "reload refused, the running "
		    "configuration stays: %s", e.msg);
		if (store_audit(s->st, now, "tocsin serve", "reload-refused",
		    "configuration", e.msg, &ae) != 0)
			disp_log(d, TLOG_WARNING, NULL, "reload refused: not "
			    "audited: %s", ae.msg);
		(void)sdnotify_status("reload refused; serving the running "
		    "configuration");
		(void)sdnotify_ready(NULL);
		return;
	}
	disp_log(d, TLOG_NOTICE, NULL, "reload: the configuration checks; "
	    "finishing the batches in hand, then starting again with it");
	if (store_audit(s->st, now, "tocsin serve", "reload", "configuration",
	    "checked; serve starts again with it", &ae) != 0)
		disp_log(d, TLOG_WARNING, NULL, "reload: not audited: %s",
		    ae.msg);
	s->reexec = true;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	disp_wake_locked(d);
	pthread_mutex_unlock(&d->mu);
}

/*
 * Start-up: the host name, the drivers and their shared state, the ack
 * secret, the listener and the main thread's store, then what a start
 * does once (leases of dead workers, a first tick, the undriven
 * warning).  What it made is undone by serve_release, also on failure.
 */
static int
serve_start(struct serve_run *s, struct tocsin_err *err)
{
	struct disp *d = &s->d;
	const struct policy_repo *repo = d->repo;
	int rc;

	if (gethostname(d->host, sizeof(d->host)) != 0)
		snprintf(d->host, sizeof(d->host), "localhost");
	d->host[sizeof(d->host) - 1] = '\0';
	clock_boot_id(d->boot, sizeof(d->boot));
	for (char *c = d->host; *c != '\0'; c++)
		if (*c == '/')
			*c = '_';
	for (const struct chan_ops *const *p = chan_all(); *p != NULL &&
	    d->ndrivers < DISPATCH_MAX_DRIVERS; p++)
		d->drivers[d->ndrivers++] = *p;
	if ((rc = ack_secret_load(repo, d->secret, err)) != 0)
		return rc;
	for (size_t k = 0; k < d->ndrivers; k++)
		if (d->drivers[k]->init != NULL && (rc = d->drivers[k]->init(
		    repo, &d->shared[k], err)) != 0)
			return rc;
	for (size_t k = 0; k < d->ndrivers; k++)
		if (d->drivers[k]->receipt != NULL)
			s->lchans[s->nl++] = (struct listen_channel){
			    d->drivers[k], d->shared[k] };
	/* Signals are taken by the main thread alone with sigtimedwait, so
	   they are blocked before any other thread (the listener's, the
	   workers') starts; a peer closing a socket must not kill the
	   process. */
	sigemptyset(&s->set);
	sigaddset(&s->set, SIGINT);
	sigaddset(&s->set, SIGTERM);
	sigaddset(&s->set, SIGHUP);
	sigaddset(&s->set, DISP_SIG_ENDED);
	pthread_sigmask(SIG_BLOCK, &s->set, &s->old);
	s->masked = true;
	signal(SIGPIPE, SIG_IGN);
	if ((rc = metrics_new((int64_t)time(NULL), &d->metrics, err)) != 0 ||
	    (rc = listen_start(repo, s->lchans, s->nl, d->o->log, d->metrics,
	    &s->lst, err)) != 0)
		return rc;
	if ((rc = store_open(repo->gateway.store, &s->st, err)) != 0 ||
	    (rc = certs_open(repo->gateway.gnupg_home, &s->cx, err)) != 0 ||
	    (rc = certs_pubkeys_load(s->cx, repo->gateway.pgp_engine,
	    repo->gateway.signing_key, &d->keys, err)) != 0 ||
	    (rc = certs_attach(s->cx, d->keys, err)) != 0)
		return rc;
	/* said once per run: what librnp could not read goes through gpgme */
	if (certs_pubkeys_note(d->keys) != NULL)
		disp_log(d, TLOG_WARNING, NULL, "OpenPGP engine: %s",
		    certs_pubkeys_note(d->keys));
	store_set_max_attempts(s->st, repo->gateway.max_attempts);
	release_dead(d, s->st);
	/* before the workers look for work: what it queues is theirs */
	requests_tick(d, s->st, &s->requests_ms);
	warn_undriven(d, s->st);
	serve_ready(s);
	return 0;
}

/* The workers, then the ack poller when a driver polls.  A worker that
   cannot start stops the run (disp_fail) after those started finish. */
static int
serve_spawn(struct serve_run *s, struct tocsin_err *err)
{
	struct disp *d = &s->d;
	struct worker *ws;

	if ((ws = s->ws = calloc((size_t)s->nw, sizeof(*ws))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	d->running = s->nw;
	d->main = pthread_self();
	for (int i = 0; i < s->nw; i++) {
		unsigned char seed[8];

		ws[i].d = d;
		ws[i].index = i;
		snprintf(ws[i].owner, sizeof(ws[i].owner), "tocsin/%s/%ld/%d",
		    d->host, (long)getpid(), i);
		if (RAND_bytes(seed, sizeof(seed)) != 1)
			memcpy(seed, &ws, sizeof(seed) < sizeof(ws) ?
			    sizeof(seed) : sizeof(ws));
		memcpy(&ws[i].rng, seed, sizeof(ws[i].rng));
		ws[i].rng |= 1;
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])
		    != 0) {
			pthread_mutex_lock(&d->mu);
			d->running -= s->nw - i;
			pthread_mutex_unlock(&d->mu);
			disp_fail(d, TOCSIN_EUNAVAIL, "cannot start worker %d",
			    i);
			break;
		}
		s->started++;
	}
	for (size_t k = 0; k < d->ndrivers && !s->polling; k++)
		if (d->drivers[k]->poll != NULL ||
		    d->drivers[k]->receive != NULL) {
			s->polling = pthread_create(&s->poller, NULL,
			    poller_main, d) == 0;
			if (!s->polling)
				disp_log(d, TLOG_ERR, NULL, "cannot start the ack "
				    "poller; ack files are not read");
		}
	return 0;
}

/* The main thread's loop, five times a second until no worker runs: a
   signal asks the workers to stop; else the escalation tick, the audit
   anchor, the rate-limited log and the progress line. */
static void
serve_loop(struct serve_run *s)
{
	struct disp *d = &s->d;

	for (;;) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 200000000L };
		int sig, running;

		/* the scheduler goes round: /healthz asks that it did
		   within 2 s */
		metrics_tick(d->metrics, base_mono_ms());
		if (base_mono_ms() - s->watchdog_ms >= 1000) {
			(void)sdnotify_watchdog();
			s->watchdog_ms = base_mono_ms();
		}
		sig = sigtimedwait(&s->set, NULL, &ts);
		if (sig == DISP_SIG_ENDED)
			;	/* the workers ended: seen below */
		else if (sig == SIGHUP && d->o->reload_check != NULL && !d->stop) {
			(void)sdnotify_reloading();
			serve_reload(s);
		} else if (sig > 0) {
			s->signalled = true;
			(void)sdnotify_stopping();
			disp_log(d, TLOG_NOTICE, NULL, "signal %d: finishing "
			    "the batches in hand, then stopping", sig);
			pthread_mutex_lock(&d->mu);
			d->stop = true;
			disp_wake_locked(d);
			pthread_mutex_unlock(&d->mu);
		}
		if (!d->stop) {
			requests_tick(d, s->st, &s->requests_ms);
			escalate_tick(d, s->st);
		}
		/* what escalations, the listener and the poller appended */
		audit_anchor_tick(&s->anchor, d->repo, s->st, s->cx, false,
		    disp_log_line, d);
		ratelog_flush(&d->rlog, disp_log_warning, d, false);
		progress_line(d, s->st, &s->prog, false);
		pthread_mutex_lock(&d->mu);
		running = d->running;
		pthread_mutex_unlock(&d->mu);
		if (running == 0)
			break;
	}
}

/* Shut-down once the workers ended: join them and the poller, the last
   log and progress lines, and the run's result (a worker's fatal error,
   or with --until-idle what is left undone). */
static int
serve_finish(struct serve_run *s, struct tocsin_err *err)
{
	struct disp *d = &s->d;

	for (int i = 0; i < s->started; i++)
		pthread_join(s->ws[i].thread, NULL);
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	disp_wake_locked(d);
	pthread_mutex_unlock(&d->mu);
	if (s->polling)
		pthread_join(s->poller, NULL);
	ratelog_flush(&d->rlog, disp_log_warning, d, true);
	progress_line(d, s->st, &s->prog, true);
	if (d->fatal_rc != 0)
		return tocsin_fail(err, d->fatal_rc, "%s", d->fatal);
	if (s->reexec && d->o->reexec != NULL)
		*d->o->reexec = true;
	if (d->o->until_idle && !s->signalled && !s->reexec)
		return idle_check(s->st, err);
	return 0;
}

/* Everything serve_start and serve_spawn made, whatever they got to: the
   signal mask back, the listener stopped, the audit anchor's last
   checkpoint, the drivers' shared state, keys, store, secret. */
static void
serve_release(struct serve_run *s)
{
	struct disp *d = &s->d;

	if (s->masked) {
		sigset_t ended;
		struct timespec none = { 0, 0 };

		/* The workers are joined: the last one's DISP_SIG_ENDED may
		   still be pending, and would end the process (its default
		   action) once unblocked.  It is taken here and stays blocked,
		   so that one sent from outside as serve exits does not turn a
		   clean end into death by a signal. */
		sigemptyset(&ended);
		sigaddset(&ended, DISP_SIG_ENDED);
		while (sigtimedwait(&ended, NULL, &none) > 0)
			;
		sigaddset(&s->old, DISP_SIG_ENDED);
		pthread_sigmask(SIG_SETMASK, &s->old, NULL);
	}
	free(s->ws);
	listen_stop(s->lst);
	metrics_free(d->metrics);
	if (s->st != NULL && s->cx != NULL)
		audit_anchor_tick(&s->anchor, d->repo, s->st, s->cx, true,
		    disp_log_line, d);
	for (size_t k = 0; k < d->ndrivers; k++)
		if (d->drivers[k]->fini != NULL)
			d->drivers[k]->fini(d->shared[k]);
	certs_pubkeys_free(d->keys);
	certs_close(s->cx);
	store_close(s->st);
	OPENSSL_cleanse(d->secret, sizeof(d->secret));
	ratelog_fini(&d->rlog);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->mu);
}

int
dispatch_serve(const struct policy_repo *repo, const struct dispatch_opts *o,
    struct tocsin_err *err)
{
	struct serve_run s = { .d = { .repo = repo, .o = o },
		.nw = repo->gateway.workers > 0 ? repo->gateway.workers : 1 };
	int rc;

	pthread_mutex_init(&s.d.mu, NULL);
	{
		pthread_condattr_t ca;

		/* waits measured on the monotonic clock, as leases are */
		(void)pthread_condattr_init(&ca);
		(void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		(void)pthread_cond_init(&s.d.wake, &ca);
		(void)pthread_condattr_destroy(&ca);
	}
	ratelog_init(&s.d.rlog, DISPATCH_LOG_INTERVAL, NULL, NULL);
	if ((rc = serve_start(&s, err)) == 0 &&
	    (rc = serve_spawn(&s, err)) == 0) {
		/* the first tick once the workers run: a burst that fell due
		   while serve was down goes out batch by batch as it is
		   moved, not after the whole of it */
		escalate_tick(&s.d, s.st);
		pthread_mutex_lock(&s.d.mu);
		s.d.ticked = true;
		/* --until-idle workers that found nothing wait for it */
		disp_wake_locked(&s.d);
		pthread_mutex_unlock(&s.d.mu);
		serve_loop(&s);
		rc = serve_finish(&s, err);
	}
	serve_release(&s);
	return rc;
}
