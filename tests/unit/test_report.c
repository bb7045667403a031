/*
 * test_report.c: the after-action report from the store, as JSON and CSV.
 *
 * report_stats_of on sets of 0, 1, 2 and 10 values, unsorted and equal.
 * report_build on a store scripted step by step on a clock of the test's
 * own: one alert to four teams, one acked at step 0 by its link, one
 * acked by signed mail after an escalation, one unreached, one still
 * active two steps on; deliveries sent at known seconds on pgp-email and
 * sms, three dead (two with a 300-byte reason holding a newline).  Every
 * figure is worked out by hand below: per team, overall, by channel, by
 * region (from a small repository), by strength; escalations with their
 * triggers; failures cleaned, cut, counted and sorted; events in time
 * order.  The JSON is read back by a small scanner (one object, balanced
 * outside strings, no raw control byte, nothing after it) with a hostile
 * headline; the CSV keeps a spreadsheet from running a cell as a formula.
 * report_write: mode 0640, no temporary file left, unknown formats.
 * jsonw_members (jsonw.c, the heads of report, status, audit and verify
 * objects): members in the order given, a comma only between two, a NULL
 * key left out, a NULL value as null, a value escaped.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jsonw.h"
#include "policy.h"
#include "report.h"
#include "store.h"
#include "unit_util.h"
#include "unit_store.h"

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define FPR_C "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"

/* Four teams in three regions: ka and kb in AF, kc in EU, kd in AS. */
#define CONTACT "contacts = ( { name = \"Ann\"; role = \"r\"; " \
	"timezone = \"UTC\"; languages = [ \"en\" ]; email = \"a@x.example\"; " \
	"pgp = \"" FPR_C "\"; mobile = \"+254700555101\"; } ); "
#define TEAM(id, region) "{ id = \"" id "\"; domain = \"" id "\"; " \
	"cctld_operator = \"o\"; region = \"" region "\"; policy = \"p\"; " \
	CONTACT "}"
static const char repo_text[] =
	"gateway = { store = \"s.db\"; gnupg_home = \"g\"; "
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\"; };\n"
	"issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; "
	"may_address = [ \"all\" ]; } );\n"
	"policies = { p = { steps = ( { after = \"0s\"; notify = "
	"[ \"primary:pgp-email\", \"primary:sms\" ]; }, { after = \"15m\"; "
	"notify = [ \"primary:sms\" ]; } ); }; };\n"
	"teams = ( " TEAM("ka", "AF") ", " TEAM("kb", "af") ", "
	TEAM("kc", "EU") ", " TEAM("kd", "AS") " );\n";

#define T0 1767607200		/* the alert's acceptance */
#define HOSTILE "\"}],{\"x\":[\n\\u0000<script>\x01\x1f\x7f'"

struct fx {
	struct unit_store db;
	struct policy_repo *repo;
	char reason[301];	/* a dead delivery's 300-byte reason */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || unit_store_open(&f->db, "/tmp/trep", "t.db") != 0)
		return -1;
	f->repo = unit_load_repo(repo_text);
	/* "550 ...\n" then x up to 300 bytes */
	memset(f->reason, 'x', 300);
	memcpy(f->reason, "550 5.7.1 rejected\nby policy ", 29);
	f->reason[300] = '\0';
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	unit_store_close(&f->db);
	policy_free(f->repo);
	free(f);
	return 0;
}

/* ---- report_stats_of ---- */

static void
test_stats(void **state)
{
	struct report_stats s;
	int64_t one[] = { 42 }, two[] = { 9, 3 };
	int64_t ten[] = { 100, 10, 90, 20, 80, 30, 70, 40, 60, 50 };
	int64_t same[] = { 7, 7, 7, 7, 7 };
	int64_t eleven[] = { 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1 };

	(void)state;
	memset(&s, 0x55, sizeof(s));
	report_stats_of(NULL, 0, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(s.median, 0);
	assert_int_equal(s.p90, 0);
	assert_int_equal(s.max, 0);

	report_stats_of(one, 1, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.median, 42);
	assert_int_equal(s.p90, 42);
	assert_int_equal(s.max, 42);

	/* the lower middle of two; p90 of two is the larger (rank 2) */
	report_stats_of(two, 2, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.median, 3);
	assert_int_equal(s.p90, 9);
	assert_int_equal(s.max, 9);

	/* ten unsorted: median rank 5, p90 rank 9; the input is sorted */
	report_stats_of(ten, 10, &s);
	assert_int_equal(s.n, 10);
	assert_int_equal(s.median, 50);
	assert_int_equal(s.p90, 90);
	assert_int_equal(s.max, 100);
	for (size_t i = 1; i < 10; i++)
		assert_true(ten[i - 1] <= ten[i]);

	/* eleven: median rank 6, p90 rank ceil(9.9) = 10 */
	report_stats_of(eleven, 11, &s);
	assert_int_equal(s.median, 6);
	assert_int_equal(s.p90, 10);
	assert_int_equal(s.max, 11);

	report_stats_of(same, 5, &s);
	assert_int_equal(s.n, 5);
	assert_int_equal(s.median, 7);
	assert_int_equal(s.p90, 7);
	assert_int_equal(s.max, 7);
}

/* ---- the scripted store ---- */

/*
 * The story, seconds after T0:
 *   0     submit: ka kb kc with pgp-email and sms, kd pgp-email only
 *   8..50 pgp-email: ka 20, kb 30, kc dead at 25 (reason), kd 50;
 *         sms: kb 8, kc 12, ka 40
 *   120   ka acks by its link, unsigned
 *   900   kb, kc, kd move to step 1 (kb gets sms + pgp-email)
 *   905   kb's sms dead ("no route\tx"); 910 its pgp-email dead (reason)
 *   1000  kb acks by signed mail
 *   1800  kc unreached; kd moves to step 2
 */
static void
script(struct fx *f, const char *headline, const char *by)
{
	struct store_alert a = { .id = "A1", .identifier = "ID-1",
		.sender = "desk@x", .sent = "s", .sent_t = T0,
		.status = "Actual", .msg_type = "Alert", .scope = "Private",
		.severity = 3, .headline = headline, .cap = "<alert/>",
		.cap_len = 8, .received = T0 };
	struct store_team_plan tp[] = {
		{ "ka", 0, T0 + 900, NULL }, { "kb", 0, T0 + 900, NULL },
		{ "kc", 0, T0 + 900, NULL }, { "kd", 0, T0 + 900, NULL },
	};
	struct store_delivery_plan dp[] = {
		{ "ka", 0, "pgp-email", "Ann", "a@x.example", T0 },
		{ "ka", 0, "sms", "Ann", "+254700555101", T0 },
		{ "kb", 0, "pgp-email", "Ann", "a@x.example", T0 },
		{ "kb", 0, "sms", "Ann", "+254700555101", T0 },
		{ "kc", 0, "pgp-email", "Ann", "a@x.example", T0 },
		{ "kc", 0, "sms", "Ann", "+254700555101", T0 },
		{ "kd", 0, "pgp-email", "Ann", "a@x.example", T0 },
	};
	struct store_delivery_plan kb1[] = {
		{ "kb", 1, "sms", "Ann", "+254700555101", T0 + 900 },
		{ "kb", 1, "pgp-email", "Ann", "a@x.example", T0 + 900 },
	};
	struct store *st = f->db.st;
	struct store_delivery_row *r;
	struct tocsin_err e;
	size_t n;

	assert_int_equal(store_submit(st, &a, NULL, 0, tp, 4, dp, 7,
	    "test", &e), 0);
	r = unit_claim(st, "pgp-email", T0, 4, &n);
	unit_result(st, unit_row_of(r, n, "ka"), STORE_R_SENT, T0 + 20, NULL);
	unit_result(st, unit_row_of(r, n, "kb"), STORE_R_SENT, T0 + 30, NULL);
	unit_result(st, unit_row_of(r, n, "kc"), STORE_R_PERMFAIL, T0 + 25, f->reason);
	unit_result(st, unit_row_of(r, n, "kd"), STORE_R_SENT, T0 + 50, NULL);
	store_delivery_rows_free(r, n);
	r = unit_claim(st, "sms", T0, 3, &n);
	unit_result(st, unit_row_of(r, n, "kb"), STORE_R_SENT, T0 + 8, NULL);
	unit_result(st, unit_row_of(r, n, "kc"), STORE_R_SENT, T0 + 12, NULL);
	unit_result(st, unit_row_of(r, n, "ka"), STORE_R_SENT, T0 + 40, NULL);
	store_delivery_rows_free(r, n);

	unit_ack(st, "A1", "ka", by, "link", "unsigned", T0 + 120);

	unit_escalate(st, "A1", "kb", 0, 1, "active", T0 + 1800, kb1, 2, T0 + 900);
	unit_escalate(st, "A1", "kc", 0, 1, "active", T0 + 1800, NULL, 0, T0 + 900);
	unit_escalate(st, "A1", "kd", 0, 1, "active", T0 + 1800, NULL, 0, T0 + 900);
	r = unit_claim(st, "sms", T0 + 900, 1, &n);
	unit_result(st, unit_row_of(r, n, "kb"), STORE_R_PERMFAIL, T0 + 905,
	    "no route\tx \xff refus\xc3\xa9");
	store_delivery_rows_free(r, n);
	r = unit_claim(st, "pgp-email", T0 + 900, 1, &n);
	unit_result(st, unit_row_of(r, n, "kb"), STORE_R_PERMFAIL, T0 + 910, f->reason);
	store_delivery_rows_free(r, n);

	unit_ack(st, "A1", "kb", "Ann", "mail", "signed", T0 + 1000);

	unit_escalate(st, "A1", "kc", 1, 1, "unreached", 0, NULL, 0, T0 + 1800);
	unit_escalate(st, "A1", "kd", 1, 2, "active", T0 + 2700, NULL, 0, T0 + 1800);
}

static struct report *
build(struct fx *f)
{
	struct report *r = NULL;
	struct tocsin_err e = { 0 };

	if (report_build(f->db.st, f->repo, "A1", &r, &e) != 0)
		fail_msg("report_build: %s", e.msg);
	assert_non_null(r);
	return r;
}

static void
stats_are(const struct report_stats *s, size_t n, int64_t median,
    int64_t p90, int64_t max)
{
	assert_int_equal(s->n, n);
	if (n == 0)
		return;
	assert_int_equal(s->median, median);
	assert_int_equal(s->p90, p90);
	assert_int_equal(s->max, max);
}

static const struct report_group *
group(const struct report_group *g, size_t n, size_t i, const char *key)
{
	assert_true(i < n);
	assert_string_equal(g[i].key, key);
	return &g[i];
}

static void
test_build_not_found(void **state)
{
	struct fx *f = *state;
	struct report *r = (struct report *)1;
	struct tocsin_err e;

	assert_int_equal(report_build(f->db.st, f->repo, "nope", &r, &e),
	    TOCSIN_ENOTFOUND);
	assert_null(r);
}

static void
test_build_teams(void **state)
{
	struct fx *f = *state;
	const struct report_team *t;
	struct report *r;

	script(f, "Registry outage", "Ann");
	r = build(f);
	assert_string_equal(r->alert_id, "A1");
	assert_string_equal(r->identifier, "ID-1");
	assert_string_equal(r->headline, "Registry outage");
	assert_int_equal(r->accepted, T0);
	assert_false(r->drill);
	assert_int_equal(r->nteams, 4);
	/* ordered by team id */
	for (size_t i = 1; i < r->nteams; i++)
		assert_true(strcmp(r->teams[i - 1].id, r->teams[i].id) < 0);

	t = unit_report_team(r, "ka");
	assert_int_equal(t->outcome, REPORT_ACKED);
	assert_string_equal(t->state, "acked");
	assert_string_equal(t->region, "AF");
	assert_int_equal(t->step, 0);
	assert_int_equal(t->escalations, 0);
	assert_int_equal(t->first, 20);
	assert_string_equal(t->first_channel, "pgp-email");
	assert_int_equal(t->ack, 120);
	assert_string_equal(t->ack_by, "Ann");
	assert_string_equal(t->ack_via, "link");
	assert_string_equal(t->ack_strength, "unsigned");
	assert_int_equal(t->sent, 2);
	assert_int_equal(t->failed, 0);

	t = unit_report_team(r, "kb");
	assert_int_equal(t->outcome, REPORT_ACKED_ESCALATED);
	assert_string_equal(t->region, "AF");
	assert_int_equal(t->step, 1);
	assert_int_equal(t->escalations, 1);
	assert_int_equal(t->first, 8);
	assert_string_equal(t->first_channel, "sms");
	assert_int_equal(t->ack, 1000);
	assert_string_equal(t->ack_via, "mail");
	assert_string_equal(t->ack_strength, "signed");
	assert_int_equal(t->sent, 2);
	assert_int_equal(t->failed, 2);

	t = unit_report_team(r, "kc");
	assert_int_equal(t->outcome, REPORT_UNREACHED);
	assert_string_equal(t->state, "unreached");
	assert_string_equal(t->region, "EU");
	assert_int_equal(t->step, 1);
	assert_int_equal(t->escalations, 1);
	assert_int_equal(t->first, 12);
	assert_string_equal(t->first_channel, "sms");
	assert_int_equal(t->ack, -1);
	assert_null(t->ack_by);
	assert_null(t->ack_via);
	assert_null(t->ack_strength);
	assert_int_equal(t->sent, 1);
	assert_int_equal(t->failed, 1);

	t = unit_report_team(r, "kd");
	assert_int_equal(t->outcome, REPORT_PENDING);
	assert_string_equal(t->state, "active");
	assert_string_equal(t->region, "AS");
	assert_int_equal(t->step, 2);
	assert_int_equal(t->escalations, 2);
	assert_int_equal(t->first, 50);
	assert_string_equal(t->first_channel, "pgp-email");
	assert_int_equal(t->ack, -1);
	assert_int_equal(t->sent, 1);
	assert_int_equal(t->failed, 0);

	assert_int_equal(r->nacked, 2);
	assert_int_equal(r->nunreached, 1);
	assert_int_equal(r->npending, 1);
	report_free(r);
}

static void
test_build_figures(void **state)
{
	struct fx *f = *state;
	const struct report_group *g;
	struct report *r;

	script(f, "h", "Ann");
	r = build(f);
	/* first delivery: 8 12 20 50; ack: 120 1000 */
	stats_are(&r->first, 4, 12, 50, 50);
	stats_are(&r->ack, 2, 120, 1000, 1000);

	/* by channel: pgp-email 20 30 50 (kc's was dead), sms 8 12 40; the
	   acks by the way they came: link (ka), mail -> pgp-email (kb) */
	assert_int_equal(r->nchannel, 3);
	g = group(r->by_channel, r->nchannel, 0, "link");
	assert_int_equal(g->teams, 0);
	stats_are(&g->first, 0, 0, 0, 0);
	stats_are(&g->ack, 1, 120, 120, 120);
	g = group(r->by_channel, r->nchannel, 1, "pgp-email");
	assert_int_equal(g->teams, 3);
	stats_are(&g->first, 3, 30, 50, 50);
	stats_are(&g->ack, 1, 1000, 1000, 1000);
	g = group(r->by_channel, r->nchannel, 2, "sms");
	assert_int_equal(g->teams, 3);
	stats_are(&g->first, 3, 12, 40, 40);
	stats_are(&g->ack, 0, 0, 0, 0);

	/* by region, from the repository (kb's "af" was made "AF") */
	assert_int_equal(r->nregion, 3);
	g = group(r->by_region, r->nregion, 0, "AF");
	assert_int_equal(g->teams, 2);
	stats_are(&g->first, 2, 8, 20, 20);
	stats_are(&g->ack, 2, 120, 1000, 1000);
	g = group(r->by_region, r->nregion, 1, "AS");
	assert_int_equal(g->teams, 1);
	stats_are(&g->first, 1, 50, 50, 50);
	stats_are(&g->ack, 0, 0, 0, 0);
	g = group(r->by_region, r->nregion, 2, "EU");
	assert_int_equal(g->teams, 1);
	stats_are(&g->first, 1, 12, 12, 12);

	assert_int_equal(r->nstrength, 3);
	g = group(r->by_strength, r->nstrength, 0, "none");
	assert_int_equal(g->teams, 2);
	stats_are(&g->ack, 0, 0, 0, 0);
	g = group(r->by_strength, r->nstrength, 1, "signed");
	assert_int_equal(g->teams, 1);
	stats_are(&g->ack, 1, 1000, 1000, 1000);
	g = group(r->by_strength, r->nstrength, 2, "unsigned");
	stats_are(&g->ack, 1, 120, 120, 120);
	report_free(r);
}

static void
test_build_escalations(void **state)
{
	struct fx *f = *state;
	const struct report_escalation *x;
	struct report *r;

	script(f, "h", "Ann");
	r = build(f);
	/* the unreached record is not a move; kd moved twice */
	assert_int_equal(r->nescalations, 4);
	for (size_t i = 0; i < 3; i++) {
		x = &r->escalations[i];
		assert_int_equal(x->at, 900);
		assert_int_equal(x->from_step, 0);
		assert_int_equal(x->to_step, 1);
		assert_string_equal(x->trigger, "no ack 900 s after step 0");
	}
	assert_string_equal(r->escalations[0].team, "kb");
	assert_string_equal(r->escalations[1].team, "kc");
	assert_string_equal(r->escalations[2].team, "kd");
	x = &r->escalations[3];
	assert_string_equal(x->team, "kd");
	assert_int_equal(x->at, 1800);
	assert_int_equal(x->from_step, 1);
	assert_int_equal(x->to_step, 2);
	/* counted from the step before, not from the acceptance */
	assert_string_equal(x->trigger, "no ack 900 s after step 1");
	report_free(r);
}

static void
test_build_failures(void **state)
{
	struct fx *f = *state;
	struct report *r;
	const char *reason;

	script(f, "h", "Ann");
	r = build(f);
	/* by reason, channel and region: the reason on pgp-email in region
	   AF (kb) and EU (kc), kb's "no route" on sms; each given up once */
	assert_int_equal(r->nfailures, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(r->failures[i].count, 1);
		assert_int_equal(r->failures[i].dead, 1);
		assert_int_equal(r->failures[i].cancelled, 0);
		assert_int_equal(r->failures[i].retrying, 0);
		assert_int_equal(r->failures[i].attempts, 1);
	}
	{
		const struct report_failure *eu = NULL, *af = NULL, *sms = NULL;

		for (size_t i = 0; i < 3; i++) {
			const struct report_failure *x = &r->failures[i];

			if (strcmp(x->channel, "sms") == 0)
				sms = x;
			else if (strcmp(x->region, "EU") == 0)
				eu = x;
			else if (strcmp(x->region, "AF") == 0)
				af = x;
		}
		assert_non_null(eu);
		assert_non_null(af);
		assert_non_null(sms);
		assert_string_equal(sms->region, "AF");
		assert_string_equal(af->reason, eu->reason);
		reason = eu->reason;
		/* a bad byte is shown as '?', a last letter kept whole */
		assert_string_equal(sms->reason, "no route x ? refus\xc3\xa9");
	}
	assert_int_equal(strlen(reason), 160);
	assert_null(strchr(reason, '\n'));
	assert_true(strncmp(reason, "550 5.7.1 rejected by policy xxx", 32)
	    == 0);
	for (const char *p = reason; *p != '\0'; p++)
		assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
	report_free(r);
}

/* Failures cut short count too: an SMS failing when its team acked
   (cancelled while failing, its reason kept), one still retrying, and
   one given up, each in its row by reason, channel and region. */
static void
test_build_failures_cut_short(void **state)
{
	struct fx *f = *state;
	struct store_alert a = { .id = "A1", .identifier = "ID-1",
		.sender = "desk@x", .sent = "s", .sent_t = T0,
		.status = "Actual", .msg_type = "Alert", .scope = "Private",
		.severity = 3, .headline = "h", .cap = "<alert/>",
		.cap_len = 8, .received = T0 };
	struct store_team_plan tp[] = {
		{ "ka", 0, T0 + 900, NULL }, { "kb", 0, T0 + 900, NULL },
		{ "kc", 0, T0 + 900, NULL },
	};
	struct store_delivery_plan dp[] = {
		{ "ka", 0, "sms", "Ann", "+254700555101", T0 },
		{ "kb", 0, "sms", "Ann", "+254700555101", T0 },
		{ "kc", 0, "sms", "Ann", "+254700555101", T0 },
	};
	struct store *st = f->db.st;
	struct store_delivery_row *r;
	struct tocsin_err e;
	struct report *rep;
	size_t n, seen = 0;

	assert_int_equal(store_submit(st, &a, NULL, 0, tp, 3, dp, 3, "test",
	    &e), 0);
	r = unit_claim(st, "sms", T0, 3, &n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(store_result(st, r[i].id, "w",
		    STORE_R_TEMPFAIL, T0 + 5, T0 + 60, NULL, "503 provider down",
		    &e), 0);
	store_delivery_rows_free(r, n);
	/* kc's second try fails too and is given up */
	r = unit_claim(st, "sms", T0 + 60, 3, &n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(store_result(st, r[i].id, "w", strcmp(r[i].team,
		    "kc") == 0 ? STORE_R_PERMFAIL : STORE_R_TEMPFAIL, T0 + 65,
		    T0 + 120, NULL, "503 provider down", &e), 0);
	store_delivery_rows_free(r, n);
	/* ka acks by e-mail while its SMS is failing */
	unit_ack(st, "A1", "ka", "Ann", "mail", "signed", T0 + 70);
	rep = build(f);
	for (size_t i = 0; i < rep->nfailures; i++) {
		const struct report_failure *x = &rep->failures[i];

		if (strcmp(x->reason, "503 provider down") != 0)
			continue;
		seen++;
		assert_string_equal(x->channel, "sms");
		if (strcmp(x->region, "EU") == 0) {		/* kc */
			assert_int_equal(x->count, 1);
			assert_int_equal(x->dead, 1);
			assert_int_equal(x->attempts, 2);
			continue;
		}
		assert_string_equal(x->region, "AF");	/* ka, kb */
		assert_int_equal(x->count, 2);
		assert_int_equal(x->cancelled, 1);
		assert_int_equal(x->retrying, 1);
		assert_int_equal(x->dead, 0);
		assert_int_equal(x->attempts, 4);
	}
	assert_int_equal(seen, 2);
	assert_int_equal(rep->nfailures, 2);
	report_free(rep);
}

static void
test_build_events(void **state)
{
	static const struct {
		int64_t at;
		enum report_event_kind kind;
		const char *team, *channel;
	} want[] = {
		{ 8, REPORT_EV_SENT, "kb", "sms" },
		{ 12, REPORT_EV_SENT, "kc", "sms" },
		{ 20, REPORT_EV_SENT, "ka", "pgp-email" },
		{ 25, REPORT_EV_FAILED, "kc", "pgp-email" },
		{ 30, REPORT_EV_SENT, "kb", "pgp-email" },
		{ 40, REPORT_EV_SENT, "ka", "sms" },
		{ 50, REPORT_EV_SENT, "kd", "pgp-email" },
		{ 120, REPORT_EV_ACKED, "ka", NULL },
		{ 900, REPORT_EV_ESCALATED, "kb", NULL },
		{ 900, REPORT_EV_ESCALATED, "kc", NULL },
		{ 900, REPORT_EV_ESCALATED, "kd", NULL },
		{ 905, REPORT_EV_FAILED, "kb", "sms" },
		{ 910, REPORT_EV_FAILED, "kb", "pgp-email" },
		{ 1000, REPORT_EV_ACKED, "kb", NULL },
		{ 1800, REPORT_EV_ESCALATED, "kd", NULL },
		{ 1800, REPORT_EV_UNREACHED, "kc", NULL },
	};
	struct fx *f = *state;
	struct report *r;

	script(f, "h", "Ann");
	r = build(f);
	assert_int_equal(r->nevents, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < r->nevents; i++) {
		const struct report_event *ev = &r->events[i];

		assert_int_equal(ev->at, want[i].at);
		assert_int_equal(ev->kind, want[i].kind);
		assert_string_equal(ev->team, want[i].team);
		if (want[i].channel == NULL)
			assert_null(ev->channel);
		else
			assert_string_equal(ev->channel, want[i].channel);
		if (i > 0)
			assert_true(r->events[i - 1].at <= ev->at);
	}
	assert_int_equal(r->events[8].step, 1);	/* kb moved to step 1 */
	assert_int_equal(r->events[14].step, 2);
	report_free(r);
}

/* A team no longer in the repository: region "", still counted. */
static void
test_build_without_repo(void **state)
{
	struct fx *f = *state;
	struct report *r = NULL;
	struct tocsin_err e;

	script(f, "h", "Ann");
	assert_int_equal(report_build(f->db.st, NULL, "A1", &r, &e), 0);
	assert_int_equal(r->nregion, 1);
	assert_string_equal(r->by_region[0].key, "");
	assert_int_equal(r->by_region[0].teams, 4);
	for (size_t i = 0; i < r->nteams; i++)
		assert_string_equal(r->teams[i].region, "");
	report_free(r);
}

/* ---- JSON ---- */

/*
 * One JSON object and nothing else: brackets balance outside strings and
 * close in the right order, strings hold no raw control byte and only
 * the escapes of RFC 8259, and only white space follows the object.
 */
static void
json_one_object(const char *s, size_t len)
{
	char stack[64];
	size_t depth = 0, i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\n'))
		i++;
	assert_true(i < len && s[i] == '{');
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		assert_true(c >= 0x20 || c == '\n' || c == ' ');
		if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++) {
				c = (unsigned char)s[i];
				assert_true(c >= 0x20 && c != 0x7f);
				if (c != '\\')
					continue;
				i++;
				assert_true(i < len);
				assert_non_null(strchr("\"\\/bfnrtu", s[i]));
				if (s[i] == 'u') {
					for (int k = 1; k <= 4; k++)
						assert_non_null(strchr(
						    "0123456789abcdefABCDEF",
						    s[i + (size_t)k]));
					i += 4;
				}
			}
			assert_true(i < len);
		} else if (c == '{' || c == '[') {
			assert_true(depth < sizeof(stack));
			stack[depth++] = c == '{' ? '}' : ']';
		} else if (c == '}' || c == ']') {
			assert_true(depth > 0);
			assert_int_equal(stack[--depth], c);
			if (depth == 0)
				break;
		}
	}
	assert_int_equal(depth, 0);
	assert_true(i < len);
	for (i++; i < len; i++)
		assert_true(s[i] == '\n' || s[i] == ' ');
}

static void
test_json(void **state)
{
	struct fx *f = *state;
	struct report *r;
	size_t len;
	char *j;

	script(f, HOSTILE, "@SUM(1)\"");
	r = build(f);
	j = unit_report_text(report_json, r, &len);
	assert_int_equal(strlen(j), len);
	json_one_object(j, len);
	/* the headline escaped, every control byte as \u00XX */
	assert_non_null(strstr(j, "\"headline\":\"\\\"}],{\\\"x\\\":[\\n"
	    "\\\\u0000<script>\\u0001\\u001f\\u007f'\""));
	assert_non_null(strstr(j, "\"ack_by\":\"@SUM(1)\\\"\""));
	assert_non_null(strstr(j, "\"accepted\":\"2026-01-05T10:00:00Z\""));
	assert_non_null(strstr(j, "\"drill\":false,\"teams\":4,\"acked\":2,"
	    "\"unreached\":1,\"pending\":1,"));
	assert_non_null(strstr(j, "\"unreached_teams\":[\"kc\"]"));
	assert_non_null(strstr(j, "\"first_delivery\":{\"n\":4,\"median\":12,"
	    "\"p90\":50,\"max\":50}"));
	/* a team without an ack: null, not -1 */
	assert_non_null(strstr(j, "\"ack\":null,\"ack_by\":null"));
	assert_null(strstr(j, ":-1"));
	assert_non_null(strstr(j, "\"trigger\":\"no ack 900 s after step 1\""));
	free(j);
	report_free(r);
}

/* An alert without a headline, with no teams: still one object. */
static void
test_json_empty(void **state)
{
	struct fx *f = *state;
	struct store_alert a = { .id = "A2", .identifier = "ID-2",
		.sender = "desk@x", .sent = "s", .sent_t = T0,
		.status = "Actual", .msg_type = "Alert", .scope = "Private",
		.severity = 3, .cap = "<alert/>", .cap_len = 8,
		.received = T0 };
	struct report *r = NULL;
	struct tocsin_err e;
	size_t len;
	char *j;

	assert_int_equal(store_submit(f->db.st, &a, NULL, 0, NULL, 0, NULL, 0,
	    "test", &e), 0);
	assert_int_equal(report_build(f->db.st, f->repo, "A2", &r, &e), 0);
	assert_int_equal(r->nteams, 0);
	assert_null(r->headline);
	j = unit_report_text(report_json, r, &len);
	json_one_object(j, len);
	/* the head, byte for byte */
	assert_true(strncmp(j, "{\"alert\":\"A2\",\"identifier\":\"ID-2\","
	    "\"sender\":\"desk@x\",\"status\":\"Actual\",\"msg_type\":"
	    "\"Alert\",\"headline\":null,\"severity\":", 116) == 0);
	assert_non_null(strstr(j, "\"headline\":null"));
	assert_non_null(strstr(j, "\"ack\":{\"n\":0,\"median\":null"));
	assert_non_null(strstr(j, "\"per_team\":[],\"events\":[]}"));
	free(j);
	free(unit_report_text(report_csv, r, &len));
	report_free(r);
}

/* ---- CSV ---- */

/* The lines of a CSV text, each ended by CRLF (none by a bare LF). */
static size_t
csv_lines(const char *s, char lines[][512], size_t max)
{
	size_t n = 0;
	const char *p = s, *e;

	while (*p != '\0') {
		e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true(n < max);
		assert_true((size_t)(e - p) < 512);
		for (const char *q = p; q < e; q++)
			assert_true(*q != '\n' && *q != '\r');
		memcpy(lines[n], p, (size_t)(e - p));
		lines[n++][e - p] = '\0';
		p = e + 2;
	}
	return n;
}

static void
set(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
	assert_non_null(*field);
}

static void
test_csv(void **state)
{
	static char lines[64][512];
	struct fx *f = *state;
	struct report *r;
	size_t len, n;
	char *c;

	script(f, HOSTILE, "=HYPERLINK(\"http://x.example\")");
	r = build(f);
	/* ids from outside of every dangerous kind */
	set(&r->teams[1].id, "+cmd|' /C calc'!A0");
	set(&r->teams[2].id, "@SUM(A1)");
	set(&r->teams[3].id, "-2+3");
	set(&r->teams[3].ack_by, "line\none\r\x01");
	c = unit_report_text(report_csv, r, &len);
	assert_int_equal(strlen(c), len);
	n = csv_lines(c, lines, 64);
	assert_string_equal(lines[0], "team,region,outcome,state,step,"
	    "escalations,sent,failed,first_delivery_s,first_channel,ack_s,"
	    "ack_by,ack_via,ack_strength");
	/* one row a team, then an empty line, then the figures */
	assert_string_equal(lines[1], "\"ka\",\"AF\",\"acked\",\"acked\",0,0,"
	    "2,0,20,\"pgp-email\",120,\"'=HYPERLINK(\"\"http://x.example\"\")\","
	    "\"link\",\"unsigned\"");
	assert_string_equal(lines[2], "\"'+cmd|' /C calc'!A0\",\"AF\","
	    "\"acked-escalated\",\"acked\",1,1,2,2,8,\"sms\",1000,\"Ann\","
	    "\"mail\",\"signed\"");
	assert_string_equal(lines[3], "\"'@SUM(A1)\",\"EU\",\"unreached\","
	    "\"unreached\",1,1,1,1,12,\"sms\",,,,");
	assert_string_equal(lines[4], "\"'-2+3\",\"AS\",\"pending\",\"active\","
	    "2,2,1,0,50,\"pgp-email\",,\"line one  \",,");
	assert_string_equal(lines[5], "");
	assert_string_equal(lines[6], "section,key,n,median_s,p90_s,max_s");
	assert_string_equal(lines[7], "\"overall\",\"first_delivery\",4,12,50,"
	    "50");
	assert_string_equal(lines[8], "\"overall\",\"ack\",2,120,1000,1000");
	assert_string_equal(lines[9], "\"channel first_delivery\",\"link\",0,,,");
	/* 2 overall + 2 per group: 3 channels, 3 regions, 3 strengths */
	assert_int_equal(n, 7 + 2 + 2 * 9);
	for (size_t i = 7; i < n; i++)
		assert_int_equal(lines[i][0], '"');
	free(c);
	report_free(r);
}

/* ---- report_write ---- */

static size_t
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void
test_write(void **state)
{
	static const char *const formats[] = { "json", "csv", "html" };
	struct fx *f = *state;
	struct report *r;
	struct tocsin_err e;
	struct stat sb;
	char dir[128], path[160];
	mode_t old = umask(0);

	script(f, "h", "Ann");
	r = build(f);
	(void)snprintf(dir, sizeof(dir), "%s/out", f->db.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	for (size_t i = 0; i < 3; i++) {
		(void)snprintf(path, sizeof(path), "%s/r.%s", dir, formats[i]);
		assert_int_equal(report_write(r, formats[i], path, &e), 0);
		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, 0640);
		assert_true(sb.st_size > 100);
		assert_int_equal(entries(dir), i + 1);
	}
	/* again over the first: replaced whole, still nothing aside */
	(void)snprintf(path, sizeof(path), "%s/r.json", dir);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(report_write(r, "json", path, &e), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_int_equal(entries(dir), 3);
	{
		FILE *in = fopen(path, "r");
		char buf[65536];
		size_t n;

		assert_non_null(in);
		n = fread(buf, 1, sizeof(buf), in);
		fclose(in);
		assert_true(n > 0 && n < sizeof(buf));
		json_one_object(buf, n);
	}
	(void)umask(old);

	/* an unknown format: nothing written */
	(void)snprintf(path, sizeof(path), "%s/r.xml", dir);
	assert_int_equal(report_write(r, "xml", path, &e), TOCSIN_EUSAGE);
	assert_non_null(strstr(e.msg, "xml"));
	assert_non_null(strstr(e.msg, "html, json or csv"));
	assert_int_equal(report_write(r, "JSON", NULL, &e), TOCSIN_EUSAGE);
	assert_int_equal(entries(dir), 3);

	/* a folder that is not there: an I/O error naming the path */
	(void)snprintf(path, sizeof(path), "%s/none/r.json", dir);
	assert_int_equal(report_write(r, "json", path, &e), TOCSIN_EIO);
	assert_non_null(strstr(e.msg, path));
	assert_int_equal(entries(dir), 3);

	/* a pipe (as /dev/null or /dev/stdout would be) is written to, never
	   renamed over: it is still a pipe, and its reader got the report */
	{
		char got[256] = "";
		struct stat fsb;
		pid_t pid;
		int st;

		(void)snprintf(path, sizeof(path), "%s/fifo", dir);
		assert_int_equal(mkfifo(path, 0600), 0);
		if ((pid = fork()) == 0) {
			int fd = open(path, O_RDONLY);
			ssize_t n = fd >= 0 ? read(fd, got, sizeof(got) - 1) : -1;
			char rest[4096];

			/* read to the end: a reader that left early would kill
			   the writer with SIGPIPE */
			while (fd >= 0 && read(fd, rest, sizeof(rest)) > 0)
				;
			_exit(n > 0 && got[0] == '{' ? 0 : 1);
		}
		assert_true(pid > 0);
		assert_int_equal(report_write(r, "json", path, &e), 0);
		assert_int_equal(lstat(path, &fsb), 0);
		if (!S_ISFIFO(fsb.st_mode))
			(void)kill(pid, SIGKILL);	/* it waits for a writer */
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(S_ISFIFO(fsb.st_mode));
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		assert_int_equal(entries(dir), 4);
		(void)unlink(path);
	}
	report_free(r);
	/* the folder emptied: the store's folder must hold nothing else */
	for (size_t i = 0; i < 3; i++) {
		(void)snprintf(path, sizeof(path), "%s/r.%s", dir, formats[i]);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* What jsonw_members writes for members m, as a string to free. */
static char *
members_text(const struct jsonw_member *m, size_t n)
{
	char *buf = NULL;
	size_t len;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	jsonw_members(f, m, n);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	return buf;
}

static void
test_members(void **state)
{
	const struct jsonw_member m[] = {
		{ NULL, "left out" },
		{ "id", "A1" },
		{ NULL, "left out" },
		{ "by", NULL },
		{ "say", "\"q\"\n" },
		{ NULL, "left out" },
	};
	char *t;

	(void)state;
	t = members_text(m, 6);
	assert_string_equal(t, "\"id\":\"A1\",\"by\":null,"
	    "\"say\":\"\\\"q\\\"\\n\"");
	free(t);
	t = members_text(m + 1, 1);
	assert_string_equal(t, "\"id\":\"A1\"");
	free(t);
	/* no member with a key: nothing at all, not even a comma */
	t = members_text(m, 1);
	assert_string_equal(t, "");
	free(t);
	t = members_text(m, 0);
	assert_string_equal(t, "");
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_members),
		cmocka_unit_test_setup_teardown(test_build_not_found, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_teams, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_figures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_escalations, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_failures_cut_short,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_events, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_without_repo, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write, setup, teardown),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
