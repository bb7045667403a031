/*
 * metrics.c: /metrics in Prometheus's text format, and /healthz.
 *
 * The store's figures are read at each scrape (one snapshot, see
 * store_metrics); this process's own figures (send results, hand-over
 * latency per channel and provider, the scheduler's last round) are kept
 * here under one mutex, written by the workers and read by the listener.
 * Label values come from the configuration (channel and provider names)
 * and are escaped as the format asks; nothing typed by an outsider is
 * ever a label.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define METRICS_PAIRS 32
#define METRICS_NAME 48

/* Upper bounds of the latency histogram, in milliseconds. */
static const int64_t metrics_le_ms[] = { 100, 250, 500, 1000, 2500, 5000,
	10000, 30000, 60000 };
#define METRICS_BUCKETS (sizeof(metrics_le_ms) / sizeof(metrics_le_ms[0]))

struct metrics_pair {
	char channel[METRICS_NAME], provider[METRICS_NAME];
	int64_t results[METRICS_RESULTS];
	int64_t bucket[METRICS_BUCKETS];	/* counts at or below each */
	int64_t count, sum_ms;
};

/* Pairs of channel and provider, the last slot taking the rest. */
struct metrics_table {
	struct metrics_pair pairs[METRICS_PAIRS];
	size_t npairs;
};

struct metrics {
	pthread_mutex_t mu;
	int64_t started;
	int64_t tick_ms;			/* 0: never */
	struct metrics_table sends;		/* messages' results */
	struct metrics_table peers;		/* providers' answers:
						   results[0] ok, [1] not */
};

static const char *const metrics_result_names[METRICS_RESULTS] = {
	"sent", "tempfail", "permfail"
};

int
metrics_new(int64_t started, struct metrics **ret, struct tocsin_err *err)
{
	struct metrics *m = calloc(1, sizeof(*m));

	*ret = NULL;
	if (m == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	pthread_mutex_init(&m->mu, NULL);
	m->started = started;
	*ret = m;
	return 0;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void
metrics_tick(struct metrics *m, int64_t mono_ms)
{
	pthread_mutex_lock(&m->mu);
	m->tick_ms = mono_ms;
	pthread_mutex_unlock(&m->mu);
}

/* The pair of channel and provider, made when new; the last slot takes
   whatever does not fit.  Called with the mutex held. */
static struct metrics_pair *
metrics_pair(struct metrics_table *m, const char *channel,
    const char *provider)
{
	struct metrics_pair *p;

	for (size_t i = 0; i < m->npairs; i++)
		if (strcmp(m->pairs[i].channel, channel) == 0 &&
		    strcmp(m->pairs[i].provider, provider) == 0)
			return &m->pairs[i];
	if (m->npairs >= METRICS_PAIRS - 1) {
		/* the last slot, made once, takes all the rest */
		if (m->npairs == METRICS_PAIRS)
			return &m->pairs[METRICS_PAIRS - 1];
		channel = "(other)";
		provider = "(other)";
	}
	p = &m->pairs[m->npairs++];
	(void)snprintf(p->channel, sizeof(p->channel), "%s", channel);
	(void)snprintf(p->provider, sizeof(p->provider), "%s", provider);
	return p;
}

/* One observation into a table: result r, latency_ms.  Mutex held. */
static void
metrics_count(struct metrics_table *t, const char *channel,
    const char *provider, int r, int64_t latency_ms)
{
	struct metrics_pair *p;

	if (latency_ms < 0)
		latency_ms = 0;
	p = metrics_pair(t, channel != NULL ? channel : "",
	    provider != NULL ? provider : "");
	p->results[r]++;
	p->count++;
	p->sum_ms += latency_ms;
	for (size_t b = 0; b < METRICS_BUCKETS; b++)
		if (latency_ms <= metrics_le_ms[b])
			p->bucket[b]++;
}

void
metrics_send(struct metrics *m, const char *channel, const char *provider,
    enum metrics_result r, int64_t latency_ms)
{
	if (m == NULL || (unsigned)r >= METRICS_RESULTS)
		return;
	pthread_mutex_lock(&m->mu);
	metrics_count(&m->sends, channel, provider, (int)r, latency_ms);
	pthread_mutex_unlock(&m->mu);
}

void
metrics_peer(struct metrics *m, const char *channel, const char *provider,
    bool ok, int64_t ms)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	metrics_count(&m->peers, channel, provider, ok ? 0 : 1, ms);
	pthread_mutex_unlock(&m->mu);
}

/* A label value as the text format wants it: \\, \" and \n escaped. */
static void
metrics_label(struct base_buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			base_buf_puts(b, "\\\\");
		else if (*v == '"')
			base_buf_puts(b, "\\\"");
		else if (*v == '\n')
			base_buf_puts(b, "\\n");
		else
			base_buf_put(b, v, 1);
	}
}

static void
metrics_help(struct base_buf *b, const char *name, const char *type,
    const char *help)
{
	char line[512];

	(void)snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n",
	    name, help, name, type);
	base_buf_puts(b, line);
}

/* One sample: name{k1="v1",k2="v2"} value, with 0 to 3 labels. */
static void
metrics_sample(struct base_buf *b, const char *name, const char *const *kv,
    size_t nlabels, double value)
{
	char num[64];

	base_buf_puts(b, name);
	for (size_t i = 0; i < nlabels; i++) {
		base_buf_puts(b, i == 0 ? "{" : ",");
		base_buf_puts(b, kv[2 * i]);
		base_buf_puts(b, "=\"");
		metrics_label(b, kv[2 * i + 1]);
		base_buf_puts(b, "\"");
	}
	(void)snprintf(num, sizeof(num), "%s %.17g\n", nlabels > 0 ? "}" : "",
	    value);
	base_buf_puts(b, num);
}

static void
metrics_store_channels(struct base_buf *b, const struct store_metrics *sm,
    int64_t now)
{
	metrics_help(b, "tocsin_deliveries", "gauge",
	    "Deliveries in the store by channel and state.");
	for (size_t i = 0; i < sm->nchannels; i++)
		for (int k = 0; k < STORE_D_COUNT; k++) {
			const char *kv[] = { "channel", sm->channels[i].channel,
				"state", store_dstate_name(k) };

			metrics_sample(b, "tocsin_deliveries", kv, 2,
			    (double)sm->channels[i].n[k]);
		}
	metrics_help(b, "tocsin_queue_due", "gauge",
	    "Deliveries due now and not yet handed over, by channel.");
	for (size_t i = 0; i < sm->nchannels; i++) {
		const char *kv[] = { "channel", sm->channels[i].channel };

		metrics_sample(b, "tocsin_queue_due", kv, 1,
		    (double)sm->channels[i].due);
	}
	metrics_help(b, "tocsin_queue_oldest_due_seconds", "gauge",
	    "How long the longest-waiting due delivery has waited, by "
	    "channel (0: none waits).");
	for (size_t i = 0; i < sm->nchannels; i++) {
		const char *kv[] = { "channel", sm->channels[i].channel };
		int64_t o = sm->channels[i].oldest_due;

		metrics_sample(b, "tocsin_queue_oldest_due_seconds", kv, 1,
		    o > 0 && now > o ? (double)(now - o) : 0);
	}
	metrics_help(b, "tocsin_last_sent_timestamp_seconds", "gauge",
	    "When a delivery on the channel was last handed over (0: never).");
	for (size_t i = 0; i < sm->nchannels; i++) {
		const char *kv[] = { "channel", sm->channels[i].channel };

		metrics_sample(b, "tocsin_last_sent_timestamp_seconds", kv, 1,
		    (double)sm->channels[i].last_sent);
	}
}

static void
metrics_store_rest(struct base_buf *b, const struct store_metrics *sm)
{
	metrics_help(b, "tocsin_provider_last_sent_timestamp_seconds", "gauge",
	    "When a provider last took a delivery, by channel and provider.");
	for (size_t i = 0; i < sm->nproviders; i++) {
		const char *kv[] = { "channel", sm->providers[i].channel,
			"provider", sm->providers[i].provider };

		metrics_sample(b, "tocsin_provider_last_sent_timestamp_seconds",
		    kv, 2, (double)sm->providers[i].last_sent);
	}
	metrics_help(b, "tocsin_acks", "gauge",
	    "Acks in the store by how they came and their strength.");
	for (size_t i = 0; i < sm->nacks; i++) {
		const char *kv[] = { "via", sm->acks[i].via, "strength",
			sm->acks[i].strength };

		metrics_sample(b, "tocsin_acks", kv, 2, (double)sm->acks[i].n);
	}
	metrics_help(b, "tocsin_escalations_total", "counter",
	    "Ladder steps taken because a team did not ack.");
	metrics_sample(b, "tocsin_escalations_total", NULL, 0,
	    (double)sm->escalations);
	metrics_help(b, "tocsin_unreached_total", "counter",
	    "Ladders that ended with the team unreached.");
	metrics_sample(b, "tocsin_unreached_total", NULL, 0,
	    (double)sm->unreached);
	metrics_help(b, "tocsin_desk_pages_total", "counter",
	    "Times the desk was paged for an unreached team.");
	metrics_sample(b, "tocsin_desk_pages_total", NULL, 0,
	    (double)sm->desk_pages);
	metrics_help(b, "tocsin_alerts_active", "gauge",
	    "Alerts with a team's ladder still running.");
	metrics_sample(b, "tocsin_alerts_active", NULL, 0,
	    (double)sm->alerts_active);
}

/* A latency histogram per pair of a table, as family name. */
static void
metrics_histogram(struct base_buf *b, const struct metrics_table *t,
    const char *name, const char *help)
{
	char bucket[96], sum[96], count[96];

	(void)snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	(void)snprintf(sum, sizeof(sum), "%s_sum", name);
	(void)snprintf(count, sizeof(count), "%s_count", name);
	metrics_help(b, name, "histogram", help);
	for (size_t i = 0; i < t->npairs; i++) {
		const struct metrics_pair *p = &t->pairs[i];
		const char *kv[] = { "channel", p->channel, "provider",
			p->provider, "le", "" };
		char le[32];

		for (size_t k = 0; k <= METRICS_BUCKETS; k++) {
			if (k < METRICS_BUCKETS)
				(void)snprintf(le, sizeof(le), "%g",
				    (double)metrics_le_ms[k] / 1000);
			else
				(void)snprintf(le, sizeof(le), "+Inf");
			kv[5] = le;
			metrics_sample(b, bucket, kv, 3, (double)(k <
			    METRICS_BUCKETS ? p->bucket[k] : p->count));
		}
		metrics_sample(b, sum, kv, 2, (double)p->sum_ms / 1000);
		metrics_sample(b, count, kv, 2, (double)p->count);
	}
}

/* Counters per pair of a table and result (names[nres]). */
static void
metrics_counters(struct base_buf *b, const struct metrics_table *t,
    const char *name, const char *label, const char *const *names,
    int nres, const char *help)
{
	metrics_help(b, name, "counter", help);
	for (size_t i = 0; i < t->npairs; i++)
		for (int r = 0; r < nres; r++) {
			const struct metrics_pair *p = &t->pairs[i];
			const char *kv[] = { "channel", p->channel, "provider",
				p->provider, label, names[r] };

			metrics_sample(b, name, kv, 3, (double)p->results[r]);
		}
}

/* What this process saw since it started.  Mutex held. */
static void
metrics_live(struct base_buf *b, const struct metrics *m)
{
	static const char *const peer_names[] = { "ok", "error" };

	metrics_counters(b, &m->sends, "tocsin_send_results_total", "result",
	    metrics_result_names, METRICS_RESULTS, "Messages handed to a "
	    "channel since start, by channel, provider and result.");
	metrics_histogram(b, &m->sends, "tocsin_send_latency_seconds",
	    "From a batch's hand-over to a message's result, by channel and "
	    "provider.");
	metrics_counters(b, &m->peers, "tocsin_provider_requests_total",
	    "outcome", peer_names, 2, "Requests a provider answered since "
	    "start: ok (it took the message) or error.");
	metrics_histogram(b, &m->peers, "tocsin_provider_latency_seconds",
	    "From a request to a provider to its answer.");
}

int
metrics_render(struct metrics *m, struct store *st, int64_t now,
    int64_t mono_ms, struct base_buf *out, struct tocsin_err *err)
{
	struct store_metrics *sm = malloc(sizeof(*sm));
	const char *kv[] = { "version", TOCSIN_VERSION };
	int rc;

	if (sm == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = store_metrics(st, now, sm, err)) != 0) {
		free(sm);
		return rc;
	}
	metrics_help(out, "tocsin_build_info", "gauge",
	    "The running build: its version, always 1.");
	metrics_sample(out, "tocsin_build_info", kv, 1, 1);
	metrics_help(out, "tocsin_start_time_seconds", "gauge",
	    "When this serve started (Unix time).");
	metrics_sample(out, "tocsin_start_time_seconds", NULL, 0,
	    (double)m->started);
	metrics_store_channels(out, sm, now);
	metrics_store_rest(out, sm);
	free(sm);
	pthread_mutex_lock(&m->mu);
	metrics_help(out, "tocsin_scheduler_last_round_age_seconds", "gauge",
	    "Since the scheduler last went round (-1: not yet).");
	metrics_sample(out, "tocsin_scheduler_last_round_age_seconds", NULL, 0,
	    m->tick_ms == 0 ? -1 : (double)(mono_ms - m->tick_ms) / 1000);
	metrics_live(out, m);
	pthread_mutex_unlock(&m->mu);
	if (out->rc != 0 || out->full)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the metrics text passed "
		    "its %zu bytes", out->limit);
	return 0;
}

int
metrics_health(struct metrics *m, struct store *st, int64_t mono_ms,
    struct tocsin_err *err)
{
	struct tocsin_err e = { 0 };
	int64_t tick;

	pthread_mutex_lock(&m->mu);
	tick = m->tick_ms;
	pthread_mutex_unlock(&m->mu);
	if (tick == 0 || mono_ms - tick > METRICS_TICK_MAX_MS)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "the scheduler has not "
		    "gone round for %lld ms (at most %d)", tick == 0 ? -1LL :
		    (long long)(mono_ms - tick), METRICS_TICK_MAX_MS);
	if (store_probe_write(st, METRICS_STORE_WAIT_MS, &e) != 0)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "the store takes no "
		    "write: %s", e.msg);
	return 0;
}
