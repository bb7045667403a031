/*
 * test_escalate.c: ladders on a clock the test moves, against a real
 * store.
 *
 * An alert is planned as intake plans it (quiet hours, step 0 due at
 * acceptance, the next deadline) and written to a SQLite store in a
 * temporary folder; then the clock, an int64_t, is moved to chosen times
 * and escalate_due runs there: twice on one connection and once on a
 * second one, as several serve processes would.  Every tick also replays
 * the moves a slow serve process saw due at an earlier tick and makes
 * only now (store_escalate with the step it read): the store must refuse
 * each of them, so a step fires once whatever the processes.  What holds
 * is read back from the store (store_teams, store_deliveries), never from
 * logs: step 0 queued at acceptance; nothing moves a second before a
 * deadline; the next step's deliveries queued once at the deadline; an
 * unreached team and the desk paged once; an ack or a Cancel that stops
 * a ladder and cancels what waits; repeats with new step numbers; quiet hours across a
 * day boundary and a DST change, Extreme at once; exercise_quiet_hours
 * and exercise_emergency; ack notices to the others once; a clock step
 * that keeps the spacing; an operator's ack (tocsin ack), recorded
 * unsigned by way of "operator:HOW" under the contact's own name.
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

#include "ack.h"
#include "escalate.h"
#include "plan.h"
#include "policy.h"
#include "store.h"
#include "unit_util.h"
#include "unit_store.h"

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

/* 2026-01-10 18:30 UTC, a Saturday evening */
#define T0 INT64_C(1768069800)

/* Three contacts: a primary (with business hours bh when not ""), a
   substitute and a third; each has a mobile, the primary an emergency
   number too. */
#define TEAM(id, policy, tz, bh) "{ id = \"" id "\"; domain = \"" id "\"; " \
	"cctld_operator = \"o\"; region = \"EU\"; policy = \"" policy "\"; " \
	"contacts = ( { name = \"ann\"; role = \"r\"; primary = true; " \
	"timezone = \"" tz "\"; languages = [ \"en\" ]; " bh \
	"mobile = \"+41790000001\"; emergency_phone = \"+41790000009\"; }, " \
	"{ name = \"bob\"; role = \"r\"; substitute = true; " \
	"timezone = \"UTC\"; languages = [ \"en\" ]; " \
	"mobile = \"+41790000002\"; }, { name = \"cy\"; role = \"r\"; " \
	"timezone = \"UTC\"; languages = [ \"en\" ]; " \
	"mobile = \"+41790000003\"; } ); }"
#define BH(span) "business_hours = \"" span "\"; "
#define TWO_STEPS "steps = ( { after = \"0s\"; notify = [ \"primary:sms\" " \
	"]; }, { after = \"10m\"; notify = [ \"substitute:sms\" ]; } ); "

/*
 * l: three steps at 0, 10 and 20 minutes, unreached 5 minutes after;
 * r: two steps, run twice; q: quiet hours below Severe; x: an exercise
 * waits for business hours, and skips the emergency number; y: an
 * exercise may use it; n: all contacts, and ack notices; d: the desk's.
 */
static const char repo_text[] =
	"gateway = { store = \"s.db\"; gnupg_home = \"g\"; "
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\"; "
	"desk_team = \"desk\"; };\n"
	"issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; "
	"may_address = [ \"all\" ]; } );\n"
	"policies = {\n"
	"  l = { steps = ( { after = \"0s\"; notify = [ \"primary:sms\" ]; }, "
	"{ after = \"10m\"; notify = [ \"substitute:sms\" ]; }, "
	"{ after = \"20m\"; notify = [ \"all:sms\" ]; } ); "
	"unreached_after = \"5m\"; };\n"
	"  r = { " TWO_STEPS "repeat = 1; unreached_after = \"5m\"; };\n"
	"  q = { " TWO_STEPS "hold_below = \"Severe\"; };\n"
	"  x = { steps = ( { after = \"0s\"; notify = [ \"primary:sms\" ]; }, "
	"{ after = \"10m\"; notify = [ \"substitute:sms\", "
	"\"primary:sms:emergency\" ]; } ); exercise_quiet_hours = true; };\n"
	"  y = { steps = ( { after = \"0s\"; notify = [ \"primary:sms\" ]; }, "
	"{ after = \"10m\"; notify = [ \"substitute:sms\", "
	"\"primary:sms:emergency\" ]; } ); exercise_emergency = true; };\n"
	"  n = { steps = ( { after = \"0s\"; notify = [ \"all:sms\" ]; }, "
	"{ after = \"10m\"; notify = [ \"primary:sms\" ]; }, "
	"{ after = \"20m\"; notify = [ \"substitute:sms\" ]; } ); "
	"ack_notice = true; };\n"
	"  d = { steps = ( { after = \"0s\"; notify = [ \"primary:sms\" ]; } ); "
	"};\n"
	"};\n"
	"teams = (\n"
	TEAM("ch", "l", "UTC", "") ",\n"
	TEAM("li", "l", "UTC", "") ",\n"
	TEAM("rp", "r", "UTC", "") ",\n"
	TEAM("qt", "q", "UTC", BH("07:00-16:00")) ",\n"
	TEAM("de", "q", "Europe/Berlin", BH("07:00-16:00")) ",\n"
	TEAM("nt", "q", "UTC", BH("22:00-06:00")) ",\n"
	TEAM("xq", "x", "UTC", BH("07:00-16:00")) ",\n"
	TEAM("ye", "y", "UTC", "") ",\n"
	TEAM("no", "n", "UTC", "") ",\n"
	TEAM("desk", "d", "UTC", "") "\n"
	");\n";

struct fx {
	struct unit_store db;
	struct policy_repo *repo;
	struct store *b;	/* db.st and b: two serve processes */
	unsigned char secret[ACK_SECRET_LEN];
	/* what a slow serve process saw due at an earlier tick */
	struct store_due_team *stale;
	size_t nstale;
	size_t refused;			/* its moves the store refused */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct tocsin_err e;

	if (f == NULL || unit_store_open(&f->db, "/tmp/tesc", "t.db") != 0)
		return -1;
	if (store_open(f->db.path, &f->b, &e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	f->repo = unit_load_repo(repo_text);
	memset(f->secret, 7, sizeof(f->secret));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->b);
	unit_store_close(&f->db);
	policy_free(f->repo);
	store_due_teams_free(f->stale, f->nstale);
	free(f);
	return 0;
}

/*
 * Accept an alert for the NULL-ended teams at now, planned as intake
 * plans it: a team in quiet hours waits at step -1 until they open,
 * the others get step 0 due at once and the next step's deadline.
 */
static void
submit(struct fx *f, const char *id, int severity, bool exercise,
    const char *const *teams, int64_t now)
{
	struct store_team_plan tp[8];
	struct plan_list pl = { 0 };
	struct tocsin_err e = { 0 };
	char hashes[8][ACK_HASH_LEN + 1];
	size_t nt = 0;

	for (; teams[nt] != NULL; nt++) {
		const struct policy_team *t = policy_team_find(f->repo,
		    teams[nt]);
		int64_t hold;
		char token[ACK_TOKEN_LEN + 1];

		assert_non_null(t);
		assert_true(nt < 8);
		ack_token(f->secret, id, t->id, token);
		ack_token_hash(token, hashes[nt]);
		tp[nt] = (struct store_team_plan){ .team = t->id,
			.token_hash = hashes[nt] };
		hold = plan_hold_until_ex(t, severity, exercise, now);
		if (hold > 0) {
			tp[nt].step = -1;
			tp[nt].deadline = hold + t->policy->steps[0].after;
			continue;
		}
		assert_int_equal(plan_step_ex(t, 0, plan_step_due(t, 0, now),
		    exercise, &pl, &e), 0);
		tp[nt].deadline = plan_next_deadline(t, 0, now);
	}
	{
		static const char cap[] = "<alert/>";
		struct store_alert a = { .id = id, .identifier = id,
			.sender = "s@example", .sent = "x", .sent_t = now,
			.status = exercise ? "Exercise" : "Actual",
			.msg_type = "Alert", .scope = "Private",
			.severity = severity, .cap = cap,
			.cap_len = sizeof(cap) - 1, .received = now };

		assert_int_equal(store_submit(f->db.st, &a, NULL, 0, tp, nt,
		    pl.d, pl.n, "test", &e), 0);
	}
	plan_list_free(&pl);
}

/* The slow serve process makes the moves it saw due earlier, as
   escalate_due would have made them, with the time it writes at: the
   store must find each team moved on. */
static void
replay_stale(struct fx *f, int64_t now)
{
	for (size_t i = 0; i < f->nstale; i++) {
		const struct store_due_team *r = &f->stale[i];
		const struct policy_team *t = policy_team_find(f->repo, r->team);
		struct store_escalation e = { .alert_id = r->alert_id,
			.team = r->team, .from_step = r->step,
			.to_step = r->step + 1, .state = "active" };
		struct plan_list pl = { 0 };
		struct tocsin_err err = { 0 };

		if ((size_t)e.to_step >= plan_ladder_len(t)) {
			e.state = "unreached";
			e.to_step = r->step;
		} else {
			assert_int_equal(plan_step_ex(t, (size_t)e.to_step, now,
			    r->exercise, &pl, &err), 0);
			e.deadline = plan_next_deadline(t, (size_t)e.to_step,
			    now - plan_step_at(t, (size_t)e.to_step, 0));
		}
		assert_int_equal(store_escalate(f->db.st, &e, pl.d, pl.n, now,
		    "slow", &err), TOCSIN_ENOTFOUND);
		f->refused++;
		plan_list_free(&pl);
	}
}

/* The clock reads now: the slow process's late moves, then escalate_due
   twice on one connection and once on the other.  Returns the moves. */
static size_t
tick(struct fx *f, int64_t now)
{
	struct escalate_env env = { .repo = f->repo, .secret = f->secret,
		.now = now, .actor = "test" };
	struct store_due_team *rows = NULL;
	struct tocsin_err e = { 0 };
	size_t n = 0, m1 = 0, m2 = 0, m3 = 0;

	replay_stale(f, now);
	assert_int_equal(store_due_teams(f->b, now, 256, &rows, &n, &e), 0);
	if (n > 0) {
		store_due_teams_free(f->stale, f->nstale);
		f->stale = rows;
		f->nstale = n;
	} else
		store_due_teams_free(rows, n);
	assert_int_equal(escalate_due(f->db.st, &env, &m1, &e), 0);
	assert_int_equal(escalate_due(f->db.st, &env, &m2, &e), 0);
	assert_int_equal(escalate_due(f->b, &env, &m3, &e), 0);
	assert_int_equal(m2, 0);
	assert_int_equal(m3, 0);
	return m1;
}

/* The team's row for alert id: its step, deadline and state. */
static void
team_is(struct fx *f, const char *id, const char *team, int step,
    int64_t deadline, const char *state)
{
	struct store_team_row *rows = NULL;
	struct tocsin_err e = { 0 };
	size_t n = 0;
	bool found = false;

	assert_int_equal(store_teams(f->b, id, &rows, &n, &e), 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].team, team) != 0)
			continue;
		found = true;
		assert_int_equal(rows[i].step, step);
		assert_int_equal(rows[i].deadline, deadline);
		assert_string_equal(rows[i].state, state);
	}
	store_team_rows_free(rows, n);
	assert_true(found);
}

/* Whether alert id has a state for team. */
static bool
has_team(struct fx *f, const char *id, const char *team)
{
	struct store_team_row *rows = NULL;
	struct tocsin_err e = { 0 };
	size_t n = 0;
	bool found = false;

	assert_int_equal(store_teams(f->b, id, &rows, &n, &e), 0);
	for (size_t i = 0; i < n; i++)
		found = found || strcmp(rows[i].team, team) == 0;
	store_team_rows_free(rows, n);
	return found;
}

/* How many deliveries (notices when notice) of team's step, to contact
   when not NULL, in state st when st >= 0; the last one's not_before in
   *nb when nb is not NULL. */
static size_t
ndel(struct fx *f, const char *id, const char *team, int step,
    const char *contact, bool notice, int st, int64_t *nb)
{
	struct store_delivery_row *rows = NULL;
	struct tocsin_err e = { 0 };
	size_t n = 0, k = 0;

	assert_int_equal(store_deliveries(f->b, id, team, &rows, &n, &e), 0);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].step != step || rows[i].notice != notice ||
		    (contact != NULL && strcmp(rows[i].contact, contact) != 0) ||
		    (st >= 0 && (int)rows[i].state != st))
			continue;
		k++;
		if (nb != NULL)
			*nb = rows[i].next_attempt;
	}
	store_delivery_rows_free(rows, n);
	return k;
}

/* All deliveries of an alert's team. */
static size_t
nall(struct fx *f, const char *id, const char *team)
{
	struct store_delivery_row *rows = NULL;
	struct tocsin_err e = { 0 };
	size_t n = 0;

	assert_int_equal(store_deliveries(f->b, id, team, &rows, &n, &e), 0);
	store_delivery_rows_free(rows, n);
	return n;
}

/* Every delivery due at now is sent (a worker claims it and the peer took
   it), so that notices know who was told. */
static void
send_all(struct fx *f, int64_t now)
{
	struct store_delivery_row *rows = NULL;
	struct store_result_item items[32];
	struct tocsin_err e = { 0 };
	size_t n = 0;

	assert_int_equal(store_claim(f->db.st, "w", now, 60, NULL, 32, &rows, &n,
	    &e), 0);
	assert_true(n > 0 && n <= 32);
	for (size_t i = 0; i < n; i++)
		items[i] = (struct store_result_item){ .id = rows[i].id,
			.result = STORE_R_SENT };
	assert_int_equal(store_results(f->db.st, "w", now, items, n, NULL, &e),
	    0);
	store_delivery_rows_free(rows, n);
}

static const char *const ch_li[] = { "ch", "li", NULL };

/* Step 0 at acceptance; a second early nothing moves; at the deadline the
   next step once; then the last step, and the team unreached after it and
   unreached_after, the desk paged once for both teams. */
static void
test_ladder(void **state)
{
	struct fx *f = *state;
	int64_t nb = 0;

	submit(f, "A1", POLICY_SEV_SEVERE, false, ch_li, T0);
	team_is(f, "A1", "ch", 0, T0 + 600, "active");
	assert_int_equal(ndel(f, "A1", "ch", 0, "ann", false, STORE_D_PENDING,
	    &nb), 1);
	assert_int_equal(nb, T0);
	assert_int_equal(nall(f, "A1", "ch"), 1);

	assert_int_equal(tick(f, T0 + 599), 0);
	team_is(f, "A1", "ch", 0, T0 + 600, "active");
	assert_int_equal(nall(f, "A1", "ch"), 1);

	assert_int_equal(tick(f, T0 + 600), 2);
	team_is(f, "A1", "ch", 1, T0 + 1200, "active");
	assert_int_equal(ndel(f, "A1", "ch", 1, "bob", false, -1, &nb), 1);
	assert_int_equal(nb, T0 + 600);
	assert_int_equal(nall(f, "A1", "ch"), 2);

	assert_int_equal(tick(f, T0 + 1199), 0);
	assert_int_equal(tick(f, T0 + 1200), 2);
	team_is(f, "A1", "ch", 2, T0 + 1500, "active");
	assert_int_equal(ndel(f, "A1", "ch", 2, NULL, false, -1, NULL), 3);
	assert_int_equal(nall(f, "A1", "ch"), 5);
	assert_false(has_team(f, "A1", "desk"));

	assert_int_equal(tick(f, T0 + 1499), 0);
	team_is(f, "A1", "li", 2, T0 + 1500, "active");
	assert_int_equal(tick(f, T0 + 1500), 2);
	team_is(f, "A1", "ch", 2, 0, "unreached");
	team_is(f, "A1", "li", 2, 0, "unreached");
	assert_int_equal(nall(f, "A1", "ch"), 5);
	/* the desk's first step, once for the two teams, its link due a
	   second later so that one page names both */
	team_is(f, "A1", "desk", 0, T0 + 1500 + 900, "active");
	assert_int_equal(ndel(f, "A1", "desk", 0, "ann", false, -1, &nb), 1);
	assert_int_equal(nb, T0 + 1501);
	assert_int_equal(nall(f, "A1", "desk"), 1);

	/* nothing more for the unreached teams; the desk's own ladder (one
	   step) ends too, and it is not paged about itself */
	assert_int_equal(tick(f, T0 + 1500 + 899), 0);
	assert_int_equal(tick(f, T0 + 1500 + 900), 1);
	team_is(f, "A1", "desk", 0, 0, "unreached");
	assert_int_equal(nall(f, "A1", "desk"), 1);
	assert_int_equal(nall(f, "A1", "ch"), 5);
	assert_int_equal(tick(f, T0 + 86400), 0);
	assert_true(f->refused >= 2);
}

/* A late tick (a restart, a busy store) moves one step, and the next
   keeps its spacing from then: the steps never bunch. */
static void
test_late_tick(void **state)
{
	struct fx *f = *state;

	submit(f, "A2", POLICY_SEV_SEVERE, false, ch_li, T0);
	assert_int_equal(tick(f, T0 + 3600), 2);
	team_is(f, "A2", "ch", 1, T0 + 3600 + 600, "active");
	assert_int_equal(nall(f, "A2", "ch"), 2);
	assert_int_equal(tick(f, T0 + 4199), 0);
	assert_int_equal(tick(f, T0 + 4200), 2);
	team_is(f, "A2", "ch", 2, T0 + 4200 + 300, "active");
	assert_int_equal(nall(f, "A2", "ch"), 5);
	assert_true(f->refused >= 2);
}

/*
 * A burst: 1,300 teams (260 alerts of five teams) whose next step falls
 * due at the same second all move in one tick, each once, with one
 * delivery of that step each, whatever the batches they were written in;
 * the next tick finds nothing more to move.
 */
static void
test_burst_in_one_tick(void **state)
{
	static const char *const five[] = { "ch", "li", "rp", "ye", "no",
	    NULL };
	struct fx *f = *state;
	struct escalate_env env = { .repo = f->repo, .secret = f->secret,
		.now = T0 + 600, .actor = "test" };
	struct tocsin_err e = { 0 };
	size_t moved = 0;
	char id[16];

	for (int i = 0; i < 260; i++) {
		(void)snprintf(id, sizeof(id), "B%03d", i);
		submit(f, id, POLICY_SEV_SEVERE, false, five, T0);
	}
	assert_int_equal(escalate_due(f->db.st, &env, &moved, &e), 0);
	assert_int_equal(moved, 1300);
	assert_int_equal(unit_store_int(&f->db, "SELECT count(*) FROM "
	    "team_states WHERE step = 1 AND state = 'active'"), 1300);
	/* step 1 is one SMS, two for ye (the emergency number too) */
	assert_int_equal(unit_store_int(&f->db, "SELECT count(*) FROM "
	    "deliveries WHERE step = 1"), 260 * 6);
	assert_int_equal(unit_store_int(&f->db, "SELECT count(*) FROM (SELECT "
	    "alert_id, team FROM deliveries WHERE step = 1 GROUP BY alert_id, "
	    "team) x"), 1300);
	assert_int_equal(unit_store_int(&f->db, "SELECT count(*) FROM (SELECT "
	    "alert_id, team, address FROM deliveries WHERE step = 1 GROUP BY "
	    "alert_id, team, address HAVING count(*) > 1) x"), 0);
	assert_int_equal(unit_store_int(&f->db, "SELECT count(*) FROM audit "
	    "WHERE action = 'escalate'"), 1300);
	assert_int_equal(escalate_due(f->b, &env, &moved, &e), 0);
	assert_int_equal(moved, 0);
}

/* An ack before the deadline stops that team's ladder and cancels what
   still waits; the other team's ladder goes on. */
static void
test_ack_stops(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e = { 0 };
	struct store_ack_in ack = { .alert_id = "A3", .team = "ch",
		.by = "ann", .via = "link", .strength = "unsigned" };

	submit(f, "A3", POLICY_SEV_SEVERE, false, ch_li, T0);
	assert_int_equal(tick(f, T0 + 600), 2);
	/* step 1's delivery waits (nobody sent it yet) when ch acks */
	assert_int_equal(store_ack(f->db.st, &ack, T0 + 700, "test", &e), 0);
	team_is(f, "A3", "ch", 1, 0, "acked");
	assert_int_equal(ndel(f, "A3", "ch", 1, "bob", false,
	    STORE_D_CANCELLED, NULL), 1);
	assert_int_equal(ndel(f, "A3", "ch", 0, "ann", false,
	    STORE_D_CANCELLED, NULL), 1);

	assert_int_equal(tick(f, T0 + 1200), 1);
	team_is(f, "A3", "ch", 1, 0, "acked");
	assert_int_equal(nall(f, "A3", "ch"), 2);
	team_is(f, "A3", "li", 2, T0 + 1500, "active");
	assert_int_equal(tick(f, T0 + 1500), 1);
	team_is(f, "A3", "ch", 1, 0, "acked");
	team_is(f, "A3", "li", 2, 0, "unreached");
	assert_int_equal(nall(f, "A3", "ch"), 2);
	assert_true(f->refused >= 1);
}

/* A Cancel of the alert for ch stops ch's ladder and cancels what waits,
   in its own submit; li, not named, goes on. */
static void
test_cancel_stops(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e = { 0 };
	static const char cap[] = "<alert/>";
	static const char *const stop[] = { "ch" };
	struct store_alert c = { .id = "K2", .identifier = "K2",
		.sender = "s@example", .sent = "x", .sent_t = T0 + 300,
		.status = "Actual", .msg_type = "Cancel", .scope = "Private",
		.severity = POLICY_SEV_SEVERE, .cap = cap,
		.cap_len = sizeof(cap) - 1, .received = T0 + 300,
		.stops_alert = "K1", .stop_teams = stop, .nstop_teams = 1,
		.stop_state = "cancelled" };

	submit(f, "K1", POLICY_SEV_SEVERE, false, ch_li, T0);
	assert_int_equal(store_submit(f->db.st, &c, NULL, 0, NULL, 0, NULL, 0,
	    "test", &e), 0);
	team_is(f, "K1", "ch", 0, 0, "cancelled");
	assert_int_equal(ndel(f, "K1", "ch", 0, "ann", false,
	    STORE_D_CANCELLED, NULL), 1);
	assert_int_equal(tick(f, T0 + 600), 1);
	assert_int_equal(tick(f, T0 + 1200), 1);
	team_is(f, "K1", "ch", 0, 0, "cancelled");
	assert_int_equal(nall(f, "K1", "ch"), 1);
	team_is(f, "K1", "li", 2, T0 + 1500, "active");
	assert_true(f->refused >= 1);
}

/* repeat = 1: the ladder runs again with new step numbers, spaced by the
   ladder and its time to answer, and the team is unreached after the
   second round. */
static void
test_repeat(void **state)
{
	struct fx *f = *state;
	static const char *const rp[] = { "rp", NULL };
	int64_t nb = 0;

	submit(f, "A4", POLICY_SEV_SEVERE, false, rp, T0);
	team_is(f, "A4", "rp", 0, T0 + 600, "active");
	assert_int_equal(tick(f, T0 + 600), 1);
	/* round two starts after step 1 and its 5 minutes to answer */
	team_is(f, "A4", "rp", 1, T0 + 900, "active");
	assert_int_equal(tick(f, T0 + 899), 0);
	assert_int_equal(tick(f, T0 + 900), 1);
	team_is(f, "A4", "rp", 2, T0 + 1500, "active");
	/* step 2 is the first step again: ann, with a delivery of its own */
	assert_int_equal(ndel(f, "A4", "rp", 2, "ann", false, -1, &nb), 1);
	assert_int_equal(nb, T0 + 900);
	assert_int_equal(ndel(f, "A4", "rp", 0, "ann", false, -1, NULL), 1);
	assert_int_equal(tick(f, T0 + 1500), 1);
	team_is(f, "A4", "rp", 3, T0 + 1800, "active");
	assert_int_equal(ndel(f, "A4", "rp", 3, "bob", false, -1, NULL), 1);
	assert_int_equal(tick(f, T0 + 1800), 1);
	team_is(f, "A4", "rp", 3, 0, "unreached");
	assert_int_equal(nall(f, "A4", "rp"), 4);
	assert_int_equal(nall(f, "A4", "desk"), 1);
	assert_true(f->refused >= 3);
}

/* A held team: no delivery, step -1 until the opening; then step 0 at
   the opening and step 1 ten minutes later.  Other alerts may move at
   these ticks: the held team's rows are what is checked. */
static void
held_until(struct fx *f, const char *id, const char *team, int64_t open)
{
	int64_t nb = 0;

	team_is(f, id, team, -1, open, "active");
	assert_int_equal(nall(f, id, team), 0);
	(void)tick(f, open - 1);
	team_is(f, id, team, -1, open, "active");
	assert_int_equal(nall(f, id, team), 0);
	(void)tick(f, open);
	team_is(f, id, team, 0, open + 600, "active");
	assert_int_equal(ndel(f, id, team, 0, "ann", false, -1, &nb), 1);
	assert_int_equal(nb, open);
	assert_int_equal(nall(f, id, team), 1);
	(void)tick(f, open + 599);
	team_is(f, id, team, 0, open + 600, "active");
	(void)tick(f, open + 600);
	team_is(f, id, team, 1, open + 1200, "active");
	assert_int_equal(nall(f, id, team), 2);
}

/* Quiet hours (UTC): a Moderate alert on Saturday 18:30 waits for Sunday
   07:00; Severe and Extreme go at once. */
static void
test_quiet_day(void **state)
{
	struct fx *f = *state;
	static const char *const qt[] = { "qt", NULL };
	/* Sunday 2026-01-11 07:00 UTC */
	const int64_t open = INT64_C(1768114800);

	submit(f, "Q1", POLICY_SEV_MODERATE, false, qt, T0);
	submit(f, "Q2", POLICY_SEV_EXTREME, false, qt, T0);
	submit(f, "Q3", POLICY_SEV_SEVERE, false, qt, T0);
	team_is(f, "Q2", "qt", 0, T0 + 600, "active");
	assert_int_equal(ndel(f, "Q2", "qt", 0, "ann", false, STORE_D_PENDING,
	    NULL), 1);
	team_is(f, "Q3", "qt", 0, T0 + 600, "active");
	/* the Extreme and Severe alerts' ladders run meanwhile */
	assert_int_equal(tick(f, T0 + 600), 2);
	held_until(f, "Q1", "qt", open);
	assert_true(f->refused >= 1);
}

/* Business hours are UTC whatever the contact's zone: an alert on the
   evening before Europe's spring DST change waits for 07:00 UTC (09:00
   in Berlin now, 08:00 the day before).  Hours across midnight UTC are
   open at 23:00. */
static void
test_quiet_dst(void **state)
{
	struct fx *f = *state;
	static const char *const de[] = { "de", NULL };
	static const char *const nt[] = { "nt", NULL };
	/* 2026-03-28 20:00 UTC; 2026-03-29 07:00 UTC */
	const int64_t at = INT64_C(1774728000), open = INT64_C(1774767600);

	submit(f, "D1", POLICY_SEV_MINOR, false, de, at);
	submit(f, "D2", POLICY_SEV_MINOR, false, nt, at + 3 * 3600);
	team_is(f, "D2", "nt", 0, at + 3 * 3600 + 600, "active");
	assert_int_equal(nall(f, "D2", "nt"), 1);
	/* the night team's ladder runs at once, to its end */
	assert_int_equal(tick(f, at + 3 * 3600 + 600), 1);
	assert_int_equal(tick(f, at + 3 * 3600 + 1200), 1);
	team_is(f, "D2", "nt", 1, 0, "unreached");
	assert_int_equal(nall(f, "D2", "nt"), 2);
	held_until(f, "D1", "de", open);
	assert_true(f->refused >= 1);
}

/* exercise_quiet_hours: an Exercise waits for business hours even when
   Extreme; a real Minor alert to the same team does not (no hold_below).
   Neither rings the emergency number of step 1 (exercise_emergency
   false) for the exercise; the real alert does. */
static void
test_exercise_quiet(void **state)
{
	struct fx *f = *state;
	static const char *const xq[] = { "xq", NULL };
	const int64_t open = INT64_C(1768114800);

	submit(f, "X1", POLICY_SEV_EXTREME, true, xq, T0);
	submit(f, "X2", POLICY_SEV_MINOR, false, xq, T0);
	team_is(f, "X2", "xq", 0, T0 + 600, "active");
	assert_int_equal(tick(f, T0 + 600), 1);
	/* the real alert: bob and ann's emergency number */
	assert_int_equal(ndel(f, "X2", "xq", 1, NULL, false, -1, NULL), 2);
	assert_int_equal(ndel(f, "X2", "xq", 1, "ann", false, -1, NULL), 1);
	/* the exercise waits, then leaves the emergency number out */
	held_until(f, "X1", "xq", open);
	assert_int_equal(ndel(f, "X1", "xq", 1, "bob", false, -1, NULL), 1);
	assert_int_equal(ndel(f, "X1", "xq", 1, "ann", false, -1, NULL), 0);
	assert_true(f->refused >= 1);
}

/* exercise_emergency = true: an Exercise rings the emergency number at
   step 1, at once (no quiet hours for this policy). */
static void
test_exercise_emergency(void **state)
{
	struct fx *f = *state;
	static const char *const ye[] = { "ye", NULL };
	int64_t nb = 0;

	submit(f, "Y1", POLICY_SEV_MINOR, true, ye, T0);
	team_is(f, "Y1", "ye", 0, T0 + 600, "active");
	assert_int_equal(tick(f, T0 + 599), 0);
	assert_int_equal(tick(f, T0 + 600), 1);
	assert_int_equal(ndel(f, "Y1", "ye", 1, "ann", false, -1, &nb), 1);
	assert_int_equal(nb, T0 + 600);
	assert_int_equal(ndel(f, "Y1", "ye", 1, "bob", false, -1, NULL), 1);
	assert_int_equal(tick(f, T0 + 1200), 1);
	team_is(f, "Y1", "ye", 1, 0, "unreached");
	assert_int_equal(nall(f, "Y1", "ye"), 3);
	assert_true(f->refused >= 1);
}

/* ack_notice: when ann acknowledges, bob and cy, who were sent the
   alert, get one notice each and ann none; a second ack adds none. */
static void
test_notice(void **state)
{
	struct fx *f = *state;
	static const char *const no[] = { "no", NULL };
	struct tocsin_err e = { 0 };
	struct store_ack_in ack = { .alert_id = "N1", .team = "no",
		.by = "ann", .via = "sms", .strength = "unsigned",
		.contact = "ann",
		.notice_channels = ack_notice_channels(f->repo, "no") };

	assert_non_null(ack.notice_channels);
	submit(f, "N1", POLICY_SEV_SEVERE, false, no, T0);
	send_all(f, T0);
	assert_int_equal(tick(f, T0 + 600), 1);
	assert_int_equal(tick(f, T0 + 1200), 1);
	team_is(f, "N1", "no", 2, T0 + 1800, "active");
	send_all(f, T0 + 1200);
	assert_int_equal(store_ack(f->db.st, &ack, T0 + 1300, "test", &e), 0);
	team_is(f, "N1", "no", 2, 0, "acked");
	assert_int_equal(ndel(f, "N1", "no", 2, "bob", true, STORE_D_PENDING,
	    NULL), 1);
	assert_int_equal(ndel(f, "N1", "no", 2, "cy", true, STORE_D_PENDING,
	    NULL), 1);
	assert_int_equal(ndel(f, "N1", "no", 2, "ann", true, -1, NULL), 0);
	ack.by = "bob";
	ack.contact = "bob";
	assert_int_equal(store_ack(f->db.st, &ack, T0 + 1400, "test", &e), 1);
	assert_int_equal(ndel(f, "N1", "no", 2, NULL, true, -1, NULL), 2);
	assert_int_equal(tick(f, T0 + 1800), 0);
	assert_int_equal(ndel(f, "N1", "no", 2, NULL, true, -1, NULL), 2);
	assert_true(f->refused >= 1);
}

/* The wall clock steps an hour forward a few minutes into the ladder:
   the store's deadlines move with it, so the next step still comes ten
   minutes after the first, not at once; a step back keeps the ladder
   going, with its spacing. */
static void
test_clock_step(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e = { 0 };
	int64_t step = 0, off = INT64_C(1000000);

	submit(f, "C1", POLICY_SEV_SEVERE, false, ch_li, T0);
	/* the base, at acceptance: nothing moved */
	assert_int_equal(store_clock_check(f->db.st, "boot", off, T0, &step, &e),
	    0);
	assert_int_equal(step, 0);
	/* at T0+300 the wall clock says T0+3900 */
	assert_int_equal(store_clock_check(f->b, "boot", off + 3600000,
	    T0 + 3900, &step, &e), 0);
	assert_int_equal(step, 3600);
	/* the other process sees the same offset: moved once */
	assert_int_equal(store_clock_check(f->db.st, "boot", off + 3600000,
	    T0 + 3900, &step, &e), 0);
	assert_int_equal(step, 0);
	team_is(f, "C1", "ch", 0, T0 + 4200, "active");
	assert_int_equal(tick(f, T0 + 3900), 0);
	assert_int_equal(tick(f, T0 + 4199), 0);
	assert_int_equal(nall(f, "C1", "ch"), 1);
	assert_int_equal(tick(f, T0 + 4200), 2);
	team_is(f, "C1", "ch", 1, T0 + 4800, "active");

	/* at T0+4500 the clock steps back two hours: T0-2700 */
	assert_int_equal(store_clock_check(f->db.st, "boot", off - 3600000,
	    T0 - 2700, &step, &e), 0);
	assert_int_equal(step, -7200);
	team_is(f, "C1", "ch", 1, T0 + 4800 - 7200, "active");
	assert_int_equal(tick(f, T0 - 2701), 0);
	assert_int_equal(tick(f, T0 - 2400), 2);
	team_is(f, "C1", "ch", 2, T0 - 2100, "active");
	assert_int_equal(nall(f, "C1", "ch"), 5);
	assert_true(f->refused >= 1);
}

/* A serve process reads the due teams, the other moves them, the wall
   clock steps back an hour, and the first makes its move with the time
   it read: the store's deadline is now behind that time, but the team is
   no longer at the step that process saw, so nothing moves twice. */
static void
test_stale_after_step_back(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e = { 0 };
	int64_t step = 0, off = INT64_C(1000000);
	struct escalate_env env = { .repo = f->repo, .secret = f->secret,
		.now = T0 + 600, .actor = "test" };
	size_t moved = 0;

	submit(f, "C2", POLICY_SEV_SEVERE, false, ch_li, T0);
	assert_int_equal(store_clock_check(f->db.st, "boot", off, T0, &step, &e),
	    0);
	/* the slow process reads ch and li due at step 0 */
	assert_int_equal(store_due_teams(f->b, T0 + 600, 256, &f->stale,
	    &f->nstale, &e), 0);
	assert_int_equal(f->nstale, 2);
	assert_int_equal(escalate_due(f->db.st, &env, &moved, &e), 0);
	assert_int_equal(moved, 2);
	team_is(f, "C2", "ch", 1, T0 + 1200, "active");
	assert_int_equal(store_clock_check(f->db.st, "boot", off - 3600000,
	    T0 - 2900, &step, &e), 0);
	assert_int_equal(step, -3600);
	team_is(f, "C2", "ch", 1, T0 + 1200 - 3600, "active");
	replay_stale(f, T0 + 600);
	team_is(f, "C2", "ch", 1, T0 + 1200 - 3600, "active");
	assert_int_equal(nall(f, "C2", "ch"), 2);
	assert_int_equal(nall(f, "C2", "li"), 2);
}

/* tocsin ack: an operator's ack is unsigned, "operator:HOW", names the
   contact as the repository spells it, and stops only that team's
   ladder; a second is recorded too and says so. */
static void
test_operator_ack(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e = { 0 };
	struct store_ack_in a = { .alert_id = "O1", .team = "ch",
		.by = "ANN", .via = "phone" };
	char via[96];

	submit(f, "O1", POLICY_SEV_SEVERE, false, ch_li, T0);
	assert_int_equal(ack_by_operator(f->repo, f->db.st, &a, via, sizeof(via),
	    "unix:op(1000)", T0 + 60, &e), 0);
	assert_string_equal(a.via, "operator:phone");
	assert_ptr_equal(a.via, via);
	assert_string_equal(a.strength, "unsigned");
	assert_non_null(a.contact);
	assert_string_equal(a.contact, "ann");
	team_is(f, "O1", "ch", 0, 0, "acked");
	team_is(f, "O1", "li", 0, T0 + 600, "active");
	a = (struct store_ack_in){ .alert_id = "O1", .team = "ch",
		.by = "the duty desk", .via = "fax" };
	assert_int_equal(ack_by_operator(f->repo, f->db.st, &a, via, sizeof(via),
	    "unix:op(1000)", T0 + 120, &e), 1);
	assert_null(a.contact);
	assert_string_equal(a.via, "operator:fax");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ladder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_in_one_tick, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_late_tick, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_operator_ack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ack_stops, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_stops, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_repeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiet_day, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_quiet_dst, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_exercise_quiet, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_exercise_emergency, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_notice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_step, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stale_after_step_back,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
