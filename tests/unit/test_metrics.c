/*
 * test_metrics.c: /metrics and /healthz from a store scripted step by step.
 *
 * The text is parsed back line by line: every sample belongs to a family
 * announced by # HELP and # TYPE, and the figures are those of the story
 * (what is due and since when, the last send per channel and provider,
 * acks by path and strength, escalations, alerts with a ladder running,
 * this process's results and latency histogram).  Label values are
 * escaped as the format asks.  Health fails when the scheduler has not
 * gone round within 2 s, and when another writer holds the store.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "metrics.h"
#include "store.h"
#include "unit_util.h"
#include "unit_store.h"

#define T0 INT64_C(1767607200)

struct fx {
	struct unit_store db;
	struct metrics *m;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct tocsin_err e;

	if (f == NULL || unit_store_open(&f->db, "/tmp/tmet", "t.db") != 0)
		return -1;
	if (metrics_new(T0 - 60, &f->m, &e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	unit_store_close(&f->db);
	metrics_free(f->m);
	free(f);
	return 0;
}

/*
 * The story, seconds after T0: ka gets SMS, kb SMS and e-mail.  At 5 ka's
 * SMS goes through provider "world"; kb's SMS fails for now (again at
 * 100); kb's e-mail waits.  At 30 ka acks by its link; at 900 kb moves to
 * step 1.
 */
static void
script(struct fx *f)
{
	struct store_alert a = { .id = "A1", .identifier = "ID-1",
		.sender = "desk@x", .sent = "s", .sent_t = T0,
		.status = "Actual", .msg_type = "Alert", .scope = "Private",
		.severity = 3, .headline = "h", .cap = "<alert/>",
		.cap_len = 8, .received = T0 };
	struct store_team_plan tp[] = { { "ka", 0, T0 + 900, NULL },
		{ "kb", 0, T0 + 900, NULL } };
	struct store_delivery_plan dp[] = {
		{ "ka", 0, "sms", "Ann", "+41790000001", T0 },
		{ "kb", 0, "pgp-email", "Bo", "b@x.example", T0 },
		{ "kb", 0, "sms", "Bo", "+41790000002", T0 },
	};
	struct store_delivery_row *r;
	struct tocsin_err e;
	size_t n;

	assert_int_equal(store_submit(f->db.st, &a, NULL, 0, tp, 2, dp, 3,
	    "test", &e), 0);
	r = unit_claim(f->db.st, "sms", T0, 2, &n);
	assert_int_equal(store_result(f->db.st, unit_row_of(r, n, "ka"), "w",
	    STORE_R_SENT, T0 + 5, 0, "world:SM1", NULL, &e), 0);
	assert_int_equal(store_result(f->db.st, unit_row_of(r, n, "kb"), "w",
	    STORE_R_TEMPFAIL, T0 + 6, T0 + 100, NULL, "busy", &e), 0);
	store_delivery_rows_free(r, n);
	unit_ack(f->db.st, "A1", "ka", "Ann", "link", "unsigned", T0 + 30);
	unit_escalate(f->db.st, "A1", "kb", 0, 1, "active", T0 + 1800, NULL, 0,
	    T0 + 900);
}

/* The text of a scrape at now, mono_ms. */
static char *
scrape(struct fx *f, int64_t now, int64_t mono_ms)
{
	struct base_buf b;
	struct tocsin_err e = { 0 };

	base_buf_init(&b, METRICS_TEXT_MAX);
	if (metrics_render(f->m, f->db.st, now, mono_ms, &b, &e) != 0)
		fail_msg("metrics_render: %s", e.msg);
	assert_non_null(b.p);
	return b.p;
}

/* The value of the sample whose name and labels are exactly `series`
   ("name{a=\"b\"}"); fails when it is not there once. */
static double
value(const char *text, const char *series)
{
	size_t k = strlen(series);
	const char *p = text, *hit = NULL;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[k] == ' ') {
			assert_null(hit);
			hit = p;
		}
		p += k;
	}
	if (hit == NULL)
		fail_msg("no sample %s in:\n%s", series, text);
	return strtod(hit + k + 1, NULL);
}

/* Every line is a comment or a sample of a family announced before it
   by both # HELP and # TYPE. */
static void
well_formed(const char *text)
{
	char fam[128] = "";
	bool help = false, type = false;

	for (const char *l = text; *l != '\0';) {
		const char *nl = strchr(l, '\n');
		size_t len;

		assert_non_null(nl);		/* the text ends with \n */
		len = (size_t)(nl - l);
		if (strncmp(l, "# HELP ", 7) == 0) {
			(void)snprintf(fam, sizeof(fam), "%.*s",
			    (int)strcspn(l + 7, " \n"), l + 7);
			help = true;
			type = false;
		} else if (strncmp(l, "# TYPE ", 7) == 0) {
			assert_memory_equal(l + 7, fam, strlen(fam));
			type = true;
		} else {
			assert_true(help && type);
			assert_memory_equal(l, fam, strlen(fam));
			assert_non_null(memchr(l, ' ', len));
		}
		l = nl + 1;
	}
}

static void
test_store_figures(void **state)
{
	struct fx *f = *state;
	char *t;

	script(f);
	t = scrape(f, T0 + 200, 5000);
	well_formed(t);
	assert_true(value(t, "tocsin_build_info{version=\"" TOCSIN_VERSION
	    "\"}") == 1);
	assert_true(value(t, "tocsin_start_time_seconds") == T0 - 60);
	assert_true(value(t, "tocsin_deliveries{channel=\"sms\","
	    "state=\"sent\"}") == 1);
	assert_true(value(t, "tocsin_deliveries{channel=\"sms\","
	    "state=\"failed\"}") == 1);
	assert_true(value(t, "tocsin_deliveries{channel=\"pgp-email\","
	    "state=\"pending\"}") == 1);
	/* due now: the e-mail since T0, kb's SMS since T0 + 100 */
	assert_true(value(t, "tocsin_queue_due{channel=\"pgp-email\"}") == 1);
	assert_true(value(t, "tocsin_queue_oldest_due_seconds{channel="
	    "\"pgp-email\"}") == 200);
	assert_true(value(t, "tocsin_queue_due{channel=\"sms\"}") == 1);
	assert_true(value(t, "tocsin_queue_oldest_due_seconds{channel="
	    "\"sms\"}") == 100);
	assert_true(value(t, "tocsin_last_sent_timestamp_seconds{channel="
	    "\"sms\"}") == T0 + 5);
	assert_true(value(t, "tocsin_last_sent_timestamp_seconds{channel="
	    "\"pgp-email\"}") == 0);
	assert_true(value(t, "tocsin_provider_last_sent_timestamp_seconds{"
	    "channel=\"sms\",provider=\"world\"}") == T0 + 5);
	assert_true(value(t, "tocsin_acks{via=\"link\",strength="
	    "\"unsigned\"}") == 1);
	assert_true(value(t, "tocsin_escalations_total") == 1);
	assert_true(value(t, "tocsin_unreached_total") == 0);
	assert_true(value(t, "tocsin_alerts_active") == 1);
	assert_true(value(t, "tocsin_scheduler_last_round_age_seconds") == -1);
	free(t);

	/* before kb's retry is due, only the e-mail waits */
	t = scrape(f, T0 + 50, 5000);
	assert_true(value(t, "tocsin_queue_due{channel=\"sms\"}") == 0);
	assert_true(value(t, "tocsin_queue_oldest_due_seconds{channel="
	    "\"sms\"}") == 0);
	free(t);
}

static void
test_live_figures(void **state)
{
	struct fx *f = *state;
	char *t;

	metrics_send(f->m, "sms", "world", METRICS_SENT, 150);
	metrics_send(f->m, "sms", "world", METRICS_PERMFAIL, 70000);
	metrics_send(f->m, "pgp-email", NULL, METRICS_TEMPFAIL, -5);
	/* a name with what the format must escape */
	metrics_send(f->m, "sms", "a\"b\\c\nd", METRICS_SENT, 1);
	metrics_tick(f->m, 4000);
	t = scrape(f, T0, 5000);
	well_formed(t);
	assert_true(value(t, "tocsin_send_results_total{channel=\"sms\","
	    "provider=\"world\",result=\"sent\"}") == 1);
	assert_true(value(t, "tocsin_send_results_total{channel=\"sms\","
	    "provider=\"world\",result=\"permfail\"}") == 1);
	assert_true(value(t, "tocsin_send_results_total{channel=\"pgp-email\","
	    "provider=\"\",result=\"tempfail\"}") == 1);
	assert_true(value(t, "tocsin_send_latency_seconds_bucket{channel="
	    "\"sms\",provider=\"world\",le=\"0.1\"}") == 0);
	assert_true(value(t, "tocsin_send_latency_seconds_bucket{channel="
	    "\"sms\",provider=\"world\",le=\"0.25\"}") == 1);
	assert_true(value(t, "tocsin_send_latency_seconds_bucket{channel="
	    "\"sms\",provider=\"world\",le=\"60\"}") == 1);
	assert_true(value(t, "tocsin_send_latency_seconds_bucket{channel="
	    "\"sms\",provider=\"world\",le=\"+Inf\"}") == 2);
	assert_true(value(t, "tocsin_send_latency_seconds_count{channel="
	    "\"sms\",provider=\"world\"}") == 2);
	assert_true(value(t, "tocsin_send_latency_seconds_sum{channel="
	    "\"sms\",provider=\"world\"}") == 70.15);
	/* a negative latency counts as none */
	assert_true(value(t, "tocsin_send_latency_seconds_sum{channel="
	    "\"pgp-email\",provider=\"\"}") == 0);
	assert_true(value(t, "tocsin_send_results_total{channel=\"sms\","
	    "provider=\"a\\\"b\\\\c\\nd\",result=\"sent\"}") == 1);
	assert_true(value(t, "tocsin_scheduler_last_round_age_seconds") == 1);
	free(t);

	/* pairs past the table's size are counted together, not lost */
	for (int i = 0; i < 100; i++) {
		char p[16];

		(void)snprintf(p, sizeof(p), "p%d", i);
		metrics_send(f->m, "voice", p, METRICS_SENT, 1);
	}
	t = scrape(f, T0, 5000);
	well_formed(t);
	assert_true(value(t, "tocsin_send_results_total{channel=\"voice\","
	    "provider=\"p0\",result=\"sent\"}") == 1);
	assert_true(value(t, "tocsin_send_results_total{channel=\"(other)\","
	    "provider=\"(other)\",result=\"sent\"}") > 70);
	free(t);
}

static void
test_health(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e = { 0 };
	sqlite3 *other = NULL;

	/* never went round */
	assert_int_equal(metrics_health(f->m, f->db.st, 1000, &e),
	    TOCSIN_EUNAVAIL);
	assert_non_null(strstr(e.msg, "scheduler"));
	metrics_tick(f->m, 1000);
	assert_int_equal(metrics_health(f->m, f->db.st, 3000, &e), 0);
	assert_int_equal(metrics_health(f->m, f->db.st, 3001, &e),
	    TOCSIN_EUNAVAIL);
	assert_non_null(strstr(e.msg, "2001 ms"));
	/* another writer holds the store past the busy wait */
	assert_int_equal(sqlite3_open(f->db.path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(metrics_health(f->m, f->db.st, 1500, &e),
	    TOCSIN_EUNAVAIL);
	assert_non_null(strstr(e.msg, "the store takes no write"));
	(void)sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	assert_int_equal(metrics_health(f->m, f->db.st, 1500, &e), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store_figures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_live_figures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_health, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
