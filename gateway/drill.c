/*
 * drill.c: a tabletop exercise on a simulated clock.
 *
 * The drill is the gateway with two things swapped: the clock, which
 * jumps from one event to the next, and the channels, which decide from
 * the scenario (faults, and a seeded draw of who answers and when)
 * instead of talking to anyone.  Everything else is the real thing: the
 * planner makes the deliveries, the store queues and claims them, the
 * escalation step moves silent teams and pages the desk, acks go through
 * store_ack.  The store is a private one in memory, so a drill never
 * touches the gateway's queue, and with the same seed the same events
 * happen in the same order.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libconfig.h>

#include "ack.h"
#include "base.h"
#include "cap.h"
#include "dispatch.h"
#include "drill.h"
#include "request.h"
#include "escalate.h"
#include "plan.h"
#include "store.h"

#define DRILL_OWNER "drill"
#define DRILL_BATCH 512			/* groups claimed at a time */
/* When the scenario gives no start: a fixed Monday morning, so that a
   scenario without one still gives the same report every run. */
#define DRILL_DEFAULT_START 1767607200	/* 2026-01-05T10:00:00Z */
#define DRILL_DEFAULT_LENGTH (24 * 3600)

/* ---- the scenario ---- */

static int
drill_err(struct tocsin_err *err, const char *path,
    const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
drill_err(struct tocsin_err *err, const char *path,
    const config_setting_t *s, const char *fmt, ...)
{
	char msg[TOCSIN_ERRLEN - 64];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tocsin_fail(err, TOCSIN_ECONFIG, "%s:%d: %s", path,
	    s != NULL ? config_setting_source_line(s) : 0, msg);
}

/* A duration: "30m", "2h", or a number of seconds. */
static int
drill_duration(const char *path, const config_setting_t *g, const char *key,
    int64_t *out, struct tocsin_err *err)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	const char *v;

	if (s == NULL)
		return 1;
	if (config_setting_type(s) == CONFIG_TYPE_INT ||
	    config_setting_type(s) == CONFIG_TYPE_INT64) {
		*out = config_setting_get_int64(s);
	} else if ((v = config_setting_get_string(s)) == NULL ||
	    policy_duration_parse(v, out) != 0) {
		return drill_err(err, path, s, "%s must be a duration such as "
		    "\"30m\" or \"2h\"", key);
	}
	if (*out < 0 || *out > 366 * 86400)
		return drill_err(err, path, s, "%s must be between 0 and a "
		    "year", key);
	return 0;
}

static int
drill_string(const char *path, const config_setting_t *g, const char *key,
    char **out, struct tocsin_err *err)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	const char *v;

	if (s == NULL)
		return 1;
	if ((v = config_setting_get_string(s)) == NULL || v[0] == '\0' ||
	    strlen(v) > 200)
		return drill_err(err, path, s, "%s must be a string of 1 to "
		    "200 bytes", key);
	if ((*out = strdup(v)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	return 0;
}

static int
drill_keys(const char *path, const config_setting_t *g,
    const char *const *keys, struct tocsin_err *err)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g,
		    (unsigned)i);
		bool known = false;

		for (size_t k = 0; keys[k] != NULL && !known; k++)
			known = s->name != NULL && strcmp(s->name, keys[k]) == 0;
		if (!known) {
			char list[256] = "";

			for (size_t k = 0; keys[k] != NULL; k++)
				(void)snprintf(list + strlen(list),
				    sizeof(list) - strlen(list), "%s%s",
				    k ? ", " : "", keys[k]);
			return drill_err(err, path, s, "unknown setting '%s'; "
			    "known here: %s", s->name != NULL ? s->name : "?",
			    list);
		}
	}
	return 0;
}

static int
drill_answers(struct drill_scenario *sc, const config_setting_t *g,
    struct tocsin_err *err)
{
	static const char *const akeys[] = { "chance", "median", "p90", NULL };
	const struct chan_ops *const *all = chan_all();
	const char *keys[CHAN_MAX + 1];
	size_t nk = 0;
	int rc;

	for (; all[nk] != NULL; nk++)
		keys[nk] = all[nk]->kind.name;
	keys[nk] = NULL;
	if ((rc = drill_keys(sc->path, g, keys, err)) != 0)
		return rc;
	for (size_t ch = 0; all[ch] != NULL; ch++) {
		const config_setting_t *a = config_setting_get_member(g,
		    all[ch]->kind.name);
		struct drill_answer *an = &sc->answer[ch];
		const config_setting_t *s;
		double chance;

		if (a == NULL)
			continue;
		if (!config_setting_is_group(a))
			return drill_err(err, sc->path, a, "answers.%s must be "
			    "{ chance = 0.7; median = \"5m\"; p90 = \"20m\"; }",
			    a->name);
		if ((rc = drill_keys(sc->path, a, akeys, err)) != 0)
			return rc;
		if ((s = config_setting_get_member(a, "chance")) != NULL) {
			if (config_setting_type(s) != CONFIG_TYPE_FLOAT &&
			    config_setting_type(s) != CONFIG_TYPE_INT &&
			    config_setting_type(s) != CONFIG_TYPE_INT64)
				return drill_err(err, sc->path, s, "chance must "
				    "be a number between 0 and 1, e.g. 0.7");
			chance = config_setting_type(s) == CONFIG_TYPE_FLOAT ?
			    config_setting_get_float(s) :
			    (double)config_setting_get_int64(s);
			if (chance < 0 || chance > 1)
				return drill_err(err, sc->path, a, "chance must "
				    "be between 0 and 1");
			an->chance = chance;
		}
		if ((rc = drill_duration(sc->path, a, "median", &an->median,
		    err)) < 0 || (rc = drill_duration(sc->path, a, "p90",
		    &an->p90, err)) < 0)
			return rc;
		if (an->median < 1 || an->p90 < an->median)
			return drill_err(err, sc->path, a, "median must be at "
			    "least 1s and p90 at least the median");
	}
	return 0;
}

/* requests = ( { team = "ke"; at = "30m"; via = "mail"; text = "..."; } ) */
static int
drill_requests(struct drill_scenario *sc, const struct policy_repo *repo,
    const config_setting_t *l, struct tocsin_err *err)
{
	static const char *const keys[] = { "team", "at", "via", "text",
		NULL };
	int rc;

	if (!config_setting_is_list(l))
		return drill_err(err, sc->path, l, "requests must be a list: "
		    "( { team = \"ke\"; at = \"30m\"; via = \"mail\"; } )");
	for (int i = 0; i < config_setting_length(l); i++) {
		const config_setting_t *g = config_setting_get_elem(l,
		    (unsigned)i);
		struct drill_request *q;

		if (sc->nrequests == DRILL_MAX_REQUESTS)
			return drill_err(err, sc->path, g, "at most %d requests",
			    DRILL_MAX_REQUESTS);
		q = &sc->requests[sc->nrequests++];
		q->line = config_setting_source_line(g);
		if (!config_setting_is_group(g))
			return drill_err(err, sc->path, g, "a request is a group "
			    "{ team = \"ke\"; at = \"30m\"; }");
		if ((rc = drill_keys(sc->path, g, keys, err)) != 0 ||
		    (rc = drill_string(sc->path, g, "team", &q->team, err)) < 0 ||
		    (rc = drill_string(sc->path, g, "via", &q->via, err)) < 0 ||
		    (rc = drill_string(sc->path, g, "text", &q->text, err)) < 0 ||
		    (rc = drill_duration(sc->path, g, "at", &q->at, err)) < 0)
			return rc;
		if (q->team == NULL || policy_team_find(repo, q->team) == NULL)
			return drill_err(err, sc->path, g, "a request needs the "
			    "team = of a team of the repository");
		if (q->via != NULL && strcmp(q->via, "mail") != 0 &&
		    strcmp(q->via, "sms") != 0 && strcmp(q->via, "drop") != 0)
			return drill_err(err, sc->path, g, "via is \"mail\", "
			    "\"sms\" or \"drop\"");
		if (q->text != NULL && strlen(q->text) > REQUEST_TEXT_MAX)
			return drill_err(err, sc->path, g, "text is at most %d "
			    "bytes", REQUEST_TEXT_MAX);
	}
	return 0;
}

static int
drill_faults(struct drill_scenario *sc, const struct policy_repo *repo,
    const config_setting_t *l, struct tocsin_err *err)
{
	static const char *const keys[] = { "channel", "region", "team",
		"provider", "from", "for", "never_answers", "internet", NULL };
	int rc;

	if (!config_setting_is_list(l))
		return drill_err(err, sc->path, l, "faults must be a list: "
		    "( { channel = \"sms\"; from = \"0m\"; for = \"1h\"; } )");
	for (int i = 0; i < config_setting_length(l); i++) {
		const config_setting_t *g = config_setting_get_elem(l,
		    (unsigned)i);
		struct drill_fault *f;
		int64_t from = 0, len = 0;
		char *net = NULL;
		int nev = 0;

		if (sc->nfaults == DRILL_MAX_FAULTS)
			return drill_err(err, sc->path, g, "at most %d faults",
			    DRILL_MAX_FAULTS);
		f = &sc->faults[sc->nfaults++];
		f->line = config_setting_source_line(g);
		if (!config_setting_is_group(g))
			return drill_err(err, sc->path, g, "a fault is a group "
			    "{ ... }");
		if ((rc = drill_keys(sc->path, g, keys, err)) != 0 ||
		    (rc = drill_string(sc->path, g, "channel", &f->channel,
		    err)) < 0 || (rc = drill_string(sc->path, g, "region",
		    &f->region, err)) < 0 || (rc = drill_string(sc->path, g,
		    "team", &f->team, err)) < 0 || (rc = drill_string(sc->path,
		    g, "provider", &f->provider, err)) < 0 ||
		    (rc = drill_duration(sc->path, g, "from", &from, err)) < 0 ||
		    (rc = drill_duration(sc->path, g, "for", &len, err)) < 0)
			return rc;
		(void)config_setting_lookup_bool(g, "never_answers", &nev);
		f->never_answers = nev != 0;
		if ((rc = drill_string(sc->path, g, "internet", &net, err)) < 0)
			return rc;
		if (net != NULL) {
			bool down = strcmp(net, "down") == 0;

			free(net);
			if (!down)
				return drill_err(err, sc->path, g, "internet can "
				    "only be \"down\": every channel and provider "
				    "that needs IP (HTTP, SMTP, SSH) fails; a GSM "
				    "modem still sends");
			if (f->channel != NULL || f->provider != NULL)
				return drill_err(err, sc->path, g, "internet = "
				    "\"down\" takes every channel that needs IP "
				    "down; give no channel or provider with it");
			f->internet_down = true;
		}
		f->from = from;
		f->until = len > 0 ? from + len : 0;
		if (f->channel != NULL && chan_find(f->channel) == NULL) {
			char names[POLICY_KINDS_LEN];

			return drill_err(err, sc->path, g, "channel '%s' is "
			    "none of %s", f->channel, policy_kinds_join(names,
			    sizeof(names), NULL, ", "));
		}
		if (f->team != NULL) {
			const struct policy_team *t = policy_team_find(repo,
			    f->team);

			if (t == NULL)
				return drill_err(err, sc->path, g, "team '%s' is "
				    "not in the repository", f->team);
			/* the repository's spelling, for matching at run */
			free(f->team);
			if ((f->team = strdup(t->id)) == NULL)
				return tocsin_fail(err, TOCSIN_ENOMEM,
				    "out of memory");
		}
		if (f->region != NULL) {
			bool ok = false;

			for (size_t t = 0; t < repo->nteams && !ok; t++)
				ok = repo->teams[t].region != NULL &&
				    strcasecmp(repo->teams[t].region,
				    f->region) == 0;
			if (!ok)
				return drill_err(err, sc->path, g, "no team of "
				    "the repository is in region '%s'",
				    f->region);
		}
		if (f->provider != NULL) {
			bool ok = false;

			for (size_t k = 0; k < repo->nsms && !ok; k++)
				ok = strcmp(repo->sms[k].name, f->provider) == 0;
			for (size_t k = 0; k < repo->nvoice && !ok; k++)
				ok = strcmp(repo->voice[k].name, f->provider)
				    == 0;
			if (!ok)
				return drill_err(err, sc->path, g, "provider "
				    "'%s' is no SMS or voice provider of the "
				    "configuration", f->provider);
		}
		if (!f->never_answers && f->channel == NULL &&
		    f->provider == NULL && !f->internet_down)
			return drill_err(err, sc->path, g, "a fault needs a "
			    "channel, a provider, internet = \"down\", or "
			    "never_answers = true");
		if (f->never_answers && f->team == NULL && f->region == NULL)
			return drill_err(err, sc->path, g, "never_answers needs "
			    "a team or a region");
	}
	return 0;
}

static int
drill_audience(struct drill_scenario *sc, const struct policy_repo *repo,
    const config_setting_t *d, const config_setting_t *l,
    struct tocsin_err *err)
{
	int n = l != NULL ? config_setting_length(l) : 0;
	bool *mark;
	int rc = 0;

	/* libconfig knows no line of an empty list: the drill's then */
	if (l == NULL || !config_setting_is_array(l) || n == 0)
		return drill_err(err, sc->path, l != NULL && n > 0 ? l : d,
		    "teams must be a list of addresses as an alert has them: "
		    "team ids, group names, \"region:EU\" or \"all\"");
	if ((sc->audience = calloc((size_t)n, sizeof(*sc->audience))) == NULL ||
	    (mark = calloc(repo->nteams + 1, sizeof(*mark))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (int i = 0; i < n && rc == 0; i++) {
		const char *v = config_setting_get_string_elem(l, i);
		struct tocsin_err e;

		/* the same resolution as an alert's <addresses> */
		if (v == NULL || policy_resolve(repo, v, mark, &e) != 0)
			rc = drill_err(err, sc->path, l, "'%s' is no team, group "
			    "or region of the repository", v != NULL ? v : "?");
		else if ((sc->audience[sc->naudience++] = strdup(v)) == NULL)
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	free(mark);
	return rc;
}

int
drill_scenario_load(const char *path, const struct policy_repo *repo,
    struct drill_scenario **ret, struct tocsin_err *err)
{
	static const char *const keys[] = { "seed", "alert", "teams", "start",
		"length", "answers", "faults", "requests", NULL };
	static const char *const alert_keys[] = { "headline", "event",
		"severity", NULL };
	struct drill_scenario *sc;
	const config_setting_t *d, *a, *s;
	config_t cfg;
	const char *v;
	long long seed = 1;
	int rc = 0;

	*ret = NULL;
	if ((sc = calloc(1, sizeof(*sc))) == NULL ||
	    (sc->path = strdup(path)) == NULL) {
		free(sc);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	sc->start = DRILL_DEFAULT_START;
	sc->length = DRILL_DEFAULT_LENGTH;
	sc->severity = POLICY_SEV_SEVERE;
	for (size_t ch = 0; ch < CHAN_MAX; ch++)
		sc->answer[ch] = (struct drill_answer){ 0.5, 600, 1800 };
	config_init(&cfg);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		rc = config_error_type(&cfg) == CONFIG_ERR_FILE_IO ?
		    tocsin_fail(err, TOCSIN_ENOINPUT, "cannot read the scenario "
		    "%s", path) : tocsin_fail(err, TOCSIN_ECONFIG, "%s:%d: %s",
		    path, config_error_line(&cfg), config_error_text(&cfg));
		goto out;
	}
	if ((d = config_lookup(&cfg, "drill")) == NULL ||
	    !config_setting_is_group(d)) {
		rc = tocsin_fail(err, TOCSIN_ECONFIG, "%s: no 'drill = { ... };' "
		    "group; see tocsin(1), DRILLS", path);
		goto out;
	}
	if ((rc = drill_keys(path, d, keys, err)) != 0)
		goto out;
	if ((s = config_setting_get_member(d, "seed")) != NULL) {
		seed = config_setting_get_int64(s);
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64) {
			rc = drill_err(err, path, s, "seed must be a number");
			goto out;
		}
	}
	sc->seed = (uint64_t)seed;
	if ((a = config_setting_get_member(d, "alert")) == NULL ||
	    !config_setting_is_group(a)) {
		rc = drill_err(err, path, a != NULL ? a : d, "alert = { headline "
		    "= \"...\"; severity = \"Severe\"; }; is needed");
		goto out;
	}
	if ((rc = drill_keys(path, a, alert_keys, err)) != 0 ||
	    (rc = drill_string(path, a, "headline", &sc->headline, err)) < 0 ||
	    (rc = drill_string(path, a, "event", &sc->event, err)) < 0)
		goto out;
	if (sc->headline == NULL) {
		rc = drill_err(err, path, a, "the alert needs a headline");
		goto out;
	}
	if (config_setting_lookup_string(a, "severity", &v) == CONFIG_TRUE &&
	    ((sc->severity = policy_severity_parse(v)) < POLICY_SEV_MINOR)) {
		rc = drill_err(err, path, a, "severity must be Minor, Moderate, "
		    "Severe or Extreme");
		goto out;
	}
	if ((rc = drill_audience(sc, repo, d, config_setting_get_member(d,
	    "teams"), err)) != 0)
		goto out;
	if ((s = config_setting_get_member(d, "start")) != NULL) {
		time_t t;

		if ((v = config_setting_get_string(s)) == NULL ||
		    cap_datetime_parse(v, &t) != 0) {
			rc = drill_err(err, path, s, "start must be a time such "
			    "as \"2026-03-02T09:30:00Z\"");
			goto out;
		}
		sc->start = (int64_t)t;
	}
	if ((rc = drill_duration(path, d, "length", &sc->length, err)) < 0)
		goto out;
	rc = 0;
	if ((s = config_setting_get_member(d, "answers")) != NULL &&
	    (rc = drill_answers(sc, s, err)) != 0)
		goto out;
	if ((s = config_setting_get_member(d, "faults")) != NULL &&
	    (rc = drill_faults(sc, repo, s, err)) != 0)
		goto out;
	if ((s = config_setting_get_member(d, "requests")) != NULL &&
	    (rc = drill_requests(sc, repo, s, err)) != 0)
		goto out;
out:
	config_destroy(&cfg);
	if (rc < 0) {
		drill_scenario_free(sc);
		return rc;
	}
	*ret = sc;
	return 0;
}

void
drill_scenario_free(struct drill_scenario *s)
{
	if (s == NULL)
		return;
	free(s->path);
	free(s->headline);
	free(s->event);
	for (size_t i = 0; i < s->naudience; i++)
		free(s->audience[i]);
	free(s->audience);
	for (size_t i = 0; i < s->nrequests; i++) {
		free(s->requests[i].team);
		free(s->requests[i].via);
		free(s->requests[i].text);
	}
	for (size_t i = 0; i < s->nfaults; i++) {
		free(s->faults[i].channel);
		free(s->faults[i].region);
		free(s->faults[i].team);
		free(s->faults[i].provider);
	}
	free(s);
}

/* ---- the run ---- */

/* An ack someone will give, at a simulated time. */
struct drill_ack {
	int64_t at;
	const char *alert;		/* NULL: the drill's alert; else a
					   desk page's id (struct drill) */
	const char *team;		/* borrowed from the repository */
	const char *by;			/* a contact name, borrowed */
	const char *via;
};

struct drill {
	const struct policy_repo *repo;
	const struct drill_scenario *sc;
	struct store *st;
	uint64_t rng;
	int64_t now;
	const char *alert_id;
	struct drill_ack *acks;		/* a min-heap by time */
	size_t nacks, capacks;
	/* when each SMS provider that is a modem is free again (ms): a
	   modem sends one message after the other, at its rate */
	int64_t modem_free[32];
	unsigned char secret[32];
	/* the requests taken so far, and the desk's page of each */
	bool taken[DRILL_MAX_REQUESTS];
	char rids[DRILL_MAX_REQUESTS][40], pages[DRILL_MAX_REQUESTS][40];
	int64_t rat[DRILL_MAX_REQUESTS];
};

static uint64_t
drill_rand(struct drill *d)
{
	/* xorshift64*: a plain, portable generator, the same everywhere */
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return d->rng * 2685821657736338717ULL;
}

/* Uniform in (0, 1). */
static double
drill_unit(struct drill *d)
{
	return ((double)(drill_rand(d) >> 11) + 0.5) / 9007199254740992.0;
}

/* A log-normal delay with the given median and 90th percentile. */
static int64_t
drill_delay(struct drill *d, const struct drill_answer *a)
{
	double z = sqrt(-2.0 * log(drill_unit(d))) *
	    cos(2.0 * M_PI * drill_unit(d));
	double sigma = log((double)a->p90 / (double)a->median) / 1.2815515655;
	double v = (double)a->median * exp(sigma * z);

	return v < 1 ? 1 : v > 30 * 86400.0 ? 30 * 86400 : (int64_t)v;
}

static int
drill_ack_push(struct drill *d, struct drill_ack a)
{
	size_t i;

	if (base_grow(&d->acks, &d->capacks, d->nacks + 1,
	    sizeof(*d->acks)) != 0)
		return TOCSIN_ENOMEM;
	i = d->nacks++;
	while (i > 0 && d->acks[(i - 1) / 2].at > a.at) {
		d->acks[i] = d->acks[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	d->acks[i] = a;
	return 0;
}

static struct drill_ack
drill_ack_pop(struct drill *d)
{
	struct drill_ack top = d->acks[0], last = d->acks[--d->nacks];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= d->nacks)
			break;
		if (c + 1 < d->nacks && d->acks[c + 1].at < d->acks[c].at)
			c++;
		if (d->acks[c].at >= last.at)
			break;
		d->acks[i] = d->acks[c];
		i = c;
	}
	if (d->nacks > 0)
		d->acks[i] = last;
	return top;
}

/* The driver a delivery's channel names; a row of a channel this build
   does not know takes the first driver's answers. */
static const struct chan_ops *
drill_channel(const char *name)
{
	const struct chan_ops *ops = chan_find(name);

	return ops != NULL ? ops : chan_all()[0];
}

static bool
drill_fault_now(const struct drill *d, const struct drill_fault *f)
{
	int64_t t = d->now - d->sc->start;

	return t >= f->from && (f->until == 0 || t < f->until);
}

/* Whether fault f covers team t (its team and region filters). */
static bool
drill_fault_team(const struct drill_fault *f, const struct policy_team *t)
{
	return (f->team == NULL || strcmp(f->team, t->id) == 0) &&
	    (f->region == NULL || (t->region != NULL &&
	    strcasecmp(f->region, t->region) == 0));
}

/* Whether the internet is down for team t at the drill's now. */
static bool
drill_offline(const struct drill *d, const struct policy_team *t)
{
	for (size_t k = 0; k < d->sc->nfaults; k++)
		if (d->sc->faults[k].internet_down &&
		    drill_fault_now(d, &d->sc->faults[k]) &&
		    drill_fault_team(&d->sc->faults[k], t))
			return true;
	return false;
}

/* A provider of a number on a channel with providers (SMS, voice) that
   is up: is there one?  *via is the first that is (NULL when none). */
static bool
drill_provider_up(const struct drill *d, const struct chan_ops *ch,
    const char *number, const struct policy_team *t,
    const struct policy_provider **via)
{
	const struct policy_provider *order[16];
	size_t n = ch->providers(d->repo, number, order, 16);
	bool offline = drill_offline(d, t);

	*via = NULL;
	for (size_t i = 0; i < n; i++) {
		/* without the internet, only a modem's radio path is left */
		bool down = offline && order[i]->kind != POLICY_PK_MODEM;

		for (size_t k = 0; k < d->sc->nfaults && !down; k++) {
			const struct drill_fault *f = &d->sc->faults[k];

			down = f->provider != NULL &&
			    strcmp(f->provider, order[i]->name) == 0 &&
			    drill_fault_now(d, f) && drill_fault_team(f, t);
		}
		if (!down) {
			*via = order[i];
			return true;	/* fail-over to the next provider */
		}
	}
	return n == 0 && !offline;
}

/* Whether a delivery on ch to team t at the drill's now fails; *via is
   the provider that takes it, on a channel with providers. */
static bool
drill_down(const struct drill *d, const struct chan_ops *ch,
    const struct policy_team *t, const char *address,
    const struct policy_provider **via)
{
	*via = NULL;
	for (size_t k = 0; k < d->sc->nfaults; k++) {
		const struct drill_fault *f = &d->sc->faults[k];

		if (f->channel != NULL && f->provider == NULL &&
		    !f->never_answers && strcmp(f->channel,
		    ch->kind.name) == 0 && drill_fault_now(d, f) &&
		    drill_fault_team(f, t))
			return true;
	}
	if (ch->providers != NULL)
		return !drill_provider_up(d, ch, address, t, via);
	/* e-mail, fax by e-mail and the drops go over IP, but for a drop
	   host reached over a path of its own (internet = false) */
	if (ch == chan_team_channel() && t->drop != NULL &&
	    t->drop->private_path)
		return false;
	return drill_offline(d, t);
}

static bool
drill_silent(const struct drill *d, const struct policy_team *t)
{
	for (size_t k = 0; k < d->sc->nfaults; k++)
		if (d->sc->faults[k].never_answers &&
		    drill_fault_team(&d->sc->faults[k], t))
			return true;
	return false;
}

/* When a message handed to modem pv now is on its way: a modem sends one
   message after the other, each taking 1/rate seconds (kept in ms, the
   drill's clock being in seconds). */
static int64_t
drill_modem_slot(struct drill *d, const struct policy_provider *pv)
{
	size_t i = (size_t)(pv - d->repo->sms);
	int64_t start;

	if (i >= sizeof(d->modem_free) / sizeof(d->modem_free[0]))
		return d->now;
	start = d->modem_free[i] > d->now * 1000 ? d->modem_free[i] :
	    d->now * 1000;
	d->modem_free[i] = start + 1000 / (pv->rate > 0 ? pv->rate : 1);
	return (d->modem_free[i] + 999) / 1000;
}

/* Hand the claimed deliveries to the simulated channels. */
/* Which alert a delivery of alert id is answered for: NULL the drill's,
   a desk page's id kept in d, or DRILL_NONE (a receipt: nobody answers). */
static const char drill_none[] = "";
#define DRILL_NONE drill_none
static const char *
drill_alert_of(const struct drill *d, const char *id)
{
	if (strcmp(id, d->alert_id) == 0)
		return NULL;
	for (size_t k = 0; k < d->sc->nrequests; k++)
		if (d->taken[k] && strcmp(d->pages[k], id) == 0)
			return d->pages[k];
	return DRILL_NONE;
}

/* The requests whose time has come, taken as their path would take them
   (request_take): stored, audited, the desk paged, a receipt queued. */
static int
drill_take_requests(struct drill *d, struct tocsin_err *err)
{
	for (size_t k = 0; k < d->sc->nrequests; k++) {
		const struct drill_request *q = &d->sc->requests[k];
		const struct policy_team *t = policy_team_find(d->repo, q->team);
		const char *via = q->via != NULL ? q->via : "mail";
		struct request_ctx c = { .repo = d->repo, .st = d->st,
			.now = d->now, .actor = "drill" };
		struct request_text *rt;
		struct request_result rr;
		int rc;

		if (d->taken[k] || d->sc->start + q->at > d->now || t == NULL)
			continue;
		if ((rt = calloc(1, sizeof(*rt))) == NULL)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		rt->len = request_clean(q->text != NULL ? q->text : "", q->text !=
		    NULL ? strlen(q->text) : 0, rt->text, sizeof(rt->text),
		    &rt->cut, &rt->removed);
		{
			struct request_in in = { .team = t->id,
				.contact = t->ncontacts > 0 ?
				    t->contacts[0].name : t->id, .via = via,
				.strength = strcmp(via, "sms") == 0 ?
				    "unsigned" : "signed", .text = rt };

			rc = request_take(&c, &in, &rr, err);
		}
		free(rt);
		if (rc != 0)
			return rc;
		d->taken[k] = true;
		d->rat[k] = d->now;
		(void)snprintf(d->rids[k], sizeof(d->rids[k]), "%s", rr.id);
		(void)snprintf(d->pages[k], sizeof(d->pages[k]), "%s",
		    rr.page_alert);
	}
	return 0;
}

/* When the next request not taken yet comes; INT64_MAX when none. */
static int64_t
drill_next_request(const struct drill *d)
{
	int64_t t = INT64_MAX;

	for (size_t k = 0; k < d->sc->nrequests; k++)
		if (!d->taken[k] && d->sc->start + d->sc->requests[k].at < t)
			t = d->sc->start + d->sc->requests[k].at;
	return t;
}

/* The drill's requests into its report: when each came and when the
   desk acknowledged its page. */
static int
drill_report_requests(struct drill *d, struct report *r,
    struct tocsin_err *err)
{
	size_t n = 0;

	if (d->sc->nrequests == 0)
		return 0;
	if ((r->requests = calloc(d->sc->nrequests, sizeof(*r->requests))) ==
	    NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (size_t k = 0; k < d->sc->nrequests; k++) {
		struct report_request *q = &r->requests[n];
		struct store_team_row *t = NULL;
		size_t nt = 0;

		if (!d->taken[k])
			continue;
		q->id = strdup(d->rids[k]);
		q->team = strdup(d->sc->requests[k].team);
		q->via = strdup(d->sc->requests[k].via != NULL ?
		    d->sc->requests[k].via : "mail");
		q->at = d->rat[k] - r->accepted;
		q->desk_ack = -1;
		n++;
		if (d->pages[k][0] != '\0' && store_teams(d->st, d->pages[k], &t,
		    &nt, err) == 0 && nt > 0 && t[0].ack_at > 0)
			q->desk_ack = t[0].ack_at - r->accepted;
		store_team_rows_free(t, nt);
		if (q->id == NULL || q->team == NULL || q->via == NULL) {
			r->nrequests = n;
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		}
	}
	r->nrequests = n;
	return 0;
}

static int
drill_deliver(struct drill *d, const struct store_delivery_row *rows,
    size_t n, struct tocsin_err *err)
{
	const struct policy_gateway *gw = &d->repo->gateway;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct store_delivery_row *r = &rows[i];
		const struct policy_team *t = policy_team_find(d->repo, r->team);
		const struct chan_ops *ch = drill_channel(r->channel);
		const struct drill_answer *an = &d->sc->answer[chan_index(ch)];
		enum store_result res = STORE_R_SENT;
		int64_t at = d->now + ch->drill_latency, next = 0;
		const struct policy_provider *via = NULL;
		const char *why = NULL, *alert;

		if (t == NULL) {
			res = STORE_R_PERMFAIL;
			why = "the team is not in the repository";
		} else if (drill_down(d, ch, t, r->address, &via)) {
			at = d->now;
			why = drill_offline(d, t) ? "simulated outage (internet "
			    "down)" : "simulated outage";
			if (r->attempts >= (gw->max_attempts > 0 ?
			    gw->max_attempts : 10))
				res = STORE_R_PERMFAIL;
			else {
				res = STORE_R_TEMPFAIL;
				next = d->now + dispatch_backoff(gw->retry_base >
				    0 ? gw->retry_base : 30, gw->retry_max > 0 ?
				    gw->retry_max : 3600, r->attempts,
				    (uint32_t)drill_rand(d));
			}
		}
		if (via != NULL && via->kind == POLICY_PK_MODEM)
			at = drill_modem_slot(d, via) + ch->drill_latency;
		if ((rc = store_result(d->st, r->id, DRILL_OWNER, res, at, next,
		    via != NULL ? via->name : NULL, why, err)) != 0)
			break;
		/* who answers, and when: a notice asks for nothing, nor
		   does a request's receipt (only the drill's alert and the
		   desk's pages are answered) */
		if (res != STORE_R_SENT || r->notice || drill_silent(d, t) ||
		    drill_unit(d) >= an->chance)
			continue;
		if ((alert = drill_alert_of(d, r->alert_id)) == DRILL_NONE)
			continue;
		{
			const char *by = r->contact[0] != '\0' ? NULL : t->id;

			for (size_t c = 0; c < t->ncontacts && by == NULL; c++)
				if (strcmp(t->contacts[c].name, r->contact) == 0)
					by = t->contacts[c].name;
			rc = drill_ack_push(d, (struct drill_ack){
			    .at = at + drill_delay(d, an), .alert = alert,
			    .team = t->id,
			    .by = by != NULL ? by : t->id,
			    .via = ch->drill_via });
			if (rc != 0)
				(void)tocsin_fail(err, rc, "out of memory");
		}
	}
	return rc;
}

/* The first step of every team of the audience, as intake plans it. */
static int
drill_submit(struct drill *d, struct tocsin_err *err)
{
	const struct policy_repo *repo = d->repo;
	const struct drill_scenario *sc = d->sc;
	struct store_team_plan *tp = calloc(repo->nteams + 1, sizeof(*tp));
	bool *mark = calloc(repo->nteams + 1, sizeof(*mark));
	struct plan_list pl = { 0 };
	char *cap = NULL;
	size_t nt = 0;
	int rc = 0;

	if (tp == NULL || mark == NULL) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t a = 0; a < sc->naudience && rc == 0; a++)
		rc = policy_resolve(repo, sc->audience[a], mark, err);
	if (rc != 0)
		goto out;
	for (size_t t = 0; t < repo->nteams && rc == 0; t++) {
		const struct policy_team *team = &repo->teams[t];
		int64_t hold;

		if (!mark[t])
			continue;
		tp[nt].team = team->id;
		tp[nt].wait_on_failure = team->policy != NULL &&
		    team->policy->wait_on_failure;
		hold = plan_hold_until(team, sc->severity, d->now);
		if (hold > 0) {
			tp[nt].step = -1;
			tp[nt++].deadline = hold + (team->policy->nsteps > 0 ?
			    team->policy->steps[0].after : 0);
			continue;
		}
		rc = plan_step(team, 0, plan_step_due(team, 0, d->now), &pl,
		    err);
		tp[nt].step = 0;
		tp[nt++].deadline = plan_next_deadline(team, 0, d->now);
	}
	if (rc != 0)
		goto out;
	if (asprintf(&cap, "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:"
	    "1.2\"><identifier>drill-%llu</identifier><sender>tocsin-drill"
	    "</sender><status>Exercise</status><msgType>Alert</msgType>"
	    "<scope>Private</scope></alert>", (unsigned long long)sc->seed)
	    < 0) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	{
		char ident[64];
		struct store_alert a = { .id = d->alert_id,
			.identifier = ident, .sender = "tocsin-drill",
			.sent = "drill", .sent_t = d->now, .status = "Exercise",
			.msg_type = "Alert", .scope = "Private",
			.severity = sc->severity, .headline = sc->headline,
			.cap = cap, .cap_len = strlen(cap), .received = d->now };

		(void)snprintf(ident, sizeof(ident), "drill-%llu",
		    (unsigned long long)sc->seed);
		rc = store_submit(d->st, &a, NULL, 0, tp, nt, pl.d, pl.n,
		    "drill", err);
	}
out:
	free(cap);
	free(tp);
	free(mark);
	plan_list_free(&pl);
	return rc;
}

static void
drill_counts(struct drill *d, size_t *acked, size_t *teams)
{
	struct store_team_row *rows = NULL;
	size_t n = 0;
	struct tocsin_err e;

	*acked = *teams = 0;
	if (store_teams(d->st, d->alert_id, &rows, &n, &e) != 0)
		return;
	*teams = n;
	for (size_t i = 0; i < n; i++)
		*acked += strcmp(rows[i].state, "acked") == 0;
	store_team_rows_free(rows, n);
}

int
drill_run(const struct policy_repo *repo, const struct drill_scenario *sc,
    drill_progress_fn progress, void *arg, struct report **ret,
    struct tocsin_err *err)
{
	struct drill d = { .repo = repo, .sc = sc, .now = sc->start,
		.alert_id = "drill" };
	int64_t end = sc->start + sc->length, next_progress;
	int rc, spins = 0;

	*ret = NULL;
	d.rng = sc->seed * 0x9e3779b97f4a7c15ULL | 1;
	next_progress = sc->start + 3600;
	if ((rc = store_open(":memory:", &d.st, err)) != 0)
		return rc;
	if ((rc = drill_submit(&d, err)) != 0)
		goto out;
	while (rc == 0) {
		struct store_delivery_row *rows = NULL;
		struct escalate_env env = { .repo = repo, .secret = d.secret,
			.actor = "drill", .as_actual = true };
		size_t n = 0;
		int64_t due = 0, deadline = 0, t = INT64_MAX;

		/* everything due now: acks, escalations, deliveries */
		if ((rc = drill_take_requests(&d, err)) != 0)
			goto out;
		while (d.nacks > 0 && d.acks[0].at <= d.now) {
			struct drill_ack a = drill_ack_pop(&d);
			struct store_ack_in in = { .alert_id = a.alert != NULL ?
				a.alert : d.alert_id,
				.team = a.team, .by = a.by, .via = a.via,
				.strength = "unsigned",
				.notice_channels = ack_notice_channels(repo,
				    a.team) };

			if ((rc = store_ack(d.st, &in, d.now, "drill", err)) < 0)
				goto out;
			rc = 0;
		}
		env.now = d.now;
		if ((rc = escalate_due(d.st, &env, NULL, err)) != 0)
			goto out;
		do {
			if ((rc = store_claim(d.st, DRILL_OWNER, d.now, 60, NULL,
			    DRILL_BATCH, &rows, &n, err)) == 0)
				rc = drill_deliver(&d, rows, n, err);
			store_delivery_rows_free(rows, n);
			rows = NULL;
		} while (rc == 0 && n > 0);
		if (rc != 0)
			goto out;
		/* the next event: the clock jumps to it */
		if (store_next_due(d.st, NULL, &due, err) == 0 && due < t)
			t = due;
		if (store_next_deadline(d.st, &deadline, err) == 0 &&
		    deadline > 0 && deadline < t)
			t = deadline;
		if (d.nacks > 0 && d.acks[0].at < t)
			t = d.acks[0].at;
		if (drill_next_request(&d) < t)
			t = drill_next_request(&d);
		if (t == INT64_MAX || t > end)
			break;
		/* more due at this second (escalations go 256 at a time);
		   a team that cannot move must not hold the clock */
		if (t > d.now) {
			d.now = t;
			spins = 0;
		} else if (++spins > 64) {
			d.now++;
			spins = 0;
		}
		while (progress != NULL && d.now >= next_progress) {
			size_t acked, teams;

			drill_counts(&d, &acked, &teams);
			progress(arg, next_progress - sc->start, acked, teams);
			next_progress += 3600;
		}
	}
	if ((rc = report_build(d.st, repo, d.alert_id, ret, err)) == 0) {
		(*ret)->drill = true;
		rc = drill_report_requests(&d, *ret, err);
	}
out:
	free(d.acks);
	store_close(d.st);
	return rc;
}
