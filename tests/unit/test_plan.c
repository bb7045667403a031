/*
 * test_plan.c: what submit plans for a team: plan_step (the deliveries
 * of one ladder step) and plan_step_due.
 *
 * A step makes one delivery per contact endpoint, and one for the team
 * itself where it sends team:sshdrop: contact "" and the team's drop
 * address.  A team without sshdrop gets no drop delivery; an endpoint
 * named twice in a step on one channel gets one delivery.  The
 * configuration is loaded from a string; the drop host's key is made 0600
 * in a folder of its own, the base of the load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "plan.h"
#include "policy.h"

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define DIR_TEMPLATE "/tmp/tocsin-plan-XXXXXX"

/* Two teams on one ladder: ke with a drop, tz without. */
static const char config[] =
    "gateway = { store = \"s.db\"; gnupg_home = \"g\"; signing_key = \""
    FPR_A "\"; public_url = \"https://x.example/\"; };\n"
    "issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; "
    "may_address = [ \"all\" ]; } );\n"
    "providers = { sshdrop = ( { name = \"sat-hub\"; host = "
    "\"drop.example.net\"; user = \"tocsin\"; key = \"id_ed25519\"; "
    "fingerprint = \"SHA256:MTIEf9NhYRqsUYP0Q9bU8NmV/xDf42vxEOY4FmV7FR8\"; "
    "path = \"/srv/drop\"; } ); };\n"
    "policies = { p = { steps = (\n"
    "  { after = \"0s\"; notify = [ \"primary:sms\", \"team:sshdrop\", "
    "\"all:sms\" ]; },\n"
    "  { after = \"1h\"; notify = [ \"team:sshdrop\" ]; }\n"
    "); }; };\n"
    "teams = (\n"
    "  { id = \"ke\"; domain = \"ke\"; cctld_operator = \"o\"; "
    "region = \"AF\"; policy = \"p\";\n"
    "    sshdrop = { host = \"sat-hub\"; };\n"
    "    contacts = (\n"
    "      { name = \"a\"; role = \"r\"; primary = true; timezone = \"UTC\"; "
    "languages = [ \"en\" ]; mobile = \"+254700555101\"; },\n"
    "      { name = \"b\"; role = \"r\"; substitute = true; "
    "timezone = \"UTC\"; languages = [ \"en\" ]; "
    "mobile = \"+254700555102\"; }\n"
    "    ); },\n"
    "  { id = \"tz\"; domain = \"tz\"; cctld_operator = \"o\"; "
    "region = \"AF\"; policy = \"p\";\n"
    "    contacts = ( { name = \"c\"; role = \"r\"; timezone = \"UTC\"; "
    "languages = [ \"en\" ]; mobile = \"+255700555101\"; } ); }\n"
    ");\n";

struct fixture {
	char dir[sizeof(DIR_TEMPLATE)];
	char key[sizeof(DIR_TEMPLATE) + 16];
	struct policy_repo *repo;
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct policy_diag d;
	struct tocsin_err err;
	FILE *f;

	assert_non_null(fx);
	memcpy(fx->dir, DIR_TEMPLATE, sizeof(DIR_TEMPLATE));
	assert_non_null(mkdtemp(fx->dir));
	(void)snprintf(fx->key, sizeof(fx->key), "%s/id_ed25519", fx->dir);
	assert_non_null(f = fopen(fx->key, "w"));
	fputs("not a real key\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(fx->key, 0600), 0);
	policy_diag_init(&d);
	if (policy_load_string(config, "t.conf", fx->dir, &fx->repo, &d,
	    &err) != 0) {
		for (size_t i = 0; i < d.n; i++)
			print_message("%d: %s\n", d.items[i].line,
			    d.items[i].text);
		fail();
	}
	/* tz's policy sends team:sshdrop and tz has no sshdrop. */
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 1);
	policy_diag_free(&d);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	policy_free(fx->repo);
	(void)unlink(fx->key);
	(void)rmdir(fx->dir);
	free(fx);
	return 0;
}

static void
test_plan_contacts_and_drop(void **state)
{
	struct fixture *fx = *state;
	const struct policy_team *ke = policy_team_find(fx->repo, "ke");
	struct plan_list l = { NULL, 0, 0 };
	struct tocsin_err err;

	assert_non_null(ke);
	assert_int_equal(plan_step(ke, 0, 1000, &l, &err), 0);
	/* a's mobile once (primary:sms and all:sms), the drop, b's mobile */
	assert_int_equal(l.n, 3);
	assert_string_equal(l.d[0].team, "ke");
	assert_int_equal(l.d[0].step, 0);
	assert_string_equal(l.d[0].channel, "sms");
	assert_string_equal(l.d[0].contact, "a");
	assert_string_equal(l.d[0].address, "+254700555101");
	assert_int_equal(l.d[0].not_before, 1000);
	assert_string_equal(l.d[1].team, "ke");
	assert_int_equal(l.d[1].step, 0);
	assert_string_equal(l.d[1].channel, "sshdrop");
	assert_string_equal(l.d[1].contact, "");
	assert_string_equal(l.d[1].address, "sat-hub:/srv/drop/ke");
	assert_ptr_equal(l.d[1].address, ke->drop_address);
	assert_int_equal(l.d[1].not_before, 1000);
	assert_string_equal(l.d[2].contact, "b");
	assert_string_equal(l.d[2].address, "+254700555102");

	/* step 1: the drop alone; planned twice, listed once */
	assert_int_equal(plan_step(ke, 1, 4600, &l, &err), 0);
	assert_int_equal(l.n, 4);
	assert_int_equal(plan_step(ke, 1, 4600, &l, &err), 0);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.d[3].step, 1);
	assert_string_equal(l.d[3].channel, "sshdrop");
	assert_string_equal(l.d[3].contact, "");
	assert_string_equal(l.d[3].address, "sat-hub:/srv/drop/ke");
	assert_int_equal(l.d[3].not_before, 4600);
	plan_list_free(&l);
	assert_null(l.d);
	assert_int_equal(l.n, 0);
}

static void
test_plan_no_drop(void **state)
{
	struct fixture *fx = *state;
	const struct policy_team *tz = policy_team_find(fx->repo, "tz");
	struct plan_list l = { NULL, 0, 0 };
	struct tocsin_err err;

	assert_non_null(tz);
	assert_null(tz->drop_address);
	/* the contact's sms only */
	assert_int_equal(plan_step(tz, 0, 0, &l, &err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.d[0].channel, "sms");
	assert_string_equal(l.d[0].contact, "c");
	/* a step of team:sshdrop alone makes nothing */
	assert_int_equal(plan_step(tz, 1, 0, &l, &err), 0);
	assert_int_equal(l.n, 1);
	/* no such step */
	assert_int_equal(plan_step(tz, 2, 0, &l, &err), TOCSIN_EINTERNAL);
	assert_int_equal(l.n, 1);
	plan_list_free(&l);
}

static void
test_plan_due(void **state)
{
	struct fixture *fx = *state;
	const struct policy_team *ke = policy_team_find(fx->repo, "ke");

	assert_int_equal(plan_step_due(ke, 0, 1000), 1000);
	assert_int_equal(plan_step_due(ke, 1, 1000), 4600);
	assert_int_equal(plan_step_due(ke, 2, 1000), 0);
}

/* A repeated ladder: the steps go on counting, a round is the ladder and
   the time to answer its last step, unreached after the last round. */
static void
test_plan_repeat(void **state)
{
	struct policy_step steps[2] = { { .after = 0 }, { .after = 120 } };
	struct policy_policy pol = { .steps = steps, .nsteps = 2, .repeat = 1,
		.unreached_after = 60 };
	struct policy_team t = { .id = "xx", .policy = &pol };
	const int64_t b = 1000000;

	(void)state;
	assert_int_equal(plan_ladder_len(&t), 4);
	assert_int_equal(plan_step_at(&t, 0, b), b);
	assert_int_equal(plan_step_at(&t, 1, b), b + 120);
	assert_int_equal(plan_step_at(&t, 2, b), b + 180);
	assert_int_equal(plan_step_at(&t, 3, b), b + 300);
	assert_int_equal(plan_step_at(&t, 4, b), 0);
	assert_int_equal(plan_next_deadline(&t, 1, b), b + 180);
	assert_int_equal(plan_next_deadline(&t, 3, b), b + 360);
	assert_int_equal(plan_next_deadline(&t, 4, b), 0);
	/* no repeat: unreached after the one round */
	pol.repeat = 0;
	assert_int_equal(plan_ladder_len(&t), 2);
	assert_int_equal(plan_next_deadline(&t, 1, b), b + 180);
	/* the gap defaults to the last two steps' */
	pol.unreached_after = 0;
	assert_int_equal(plan_next_deadline(&t, 1, b), b + 240);
}

/* Quiet hours: the next opening of the primary contact's business hours
   (UTC), for alerts below hold_below only, never for Extreme. */
static void
test_plan_hold(void **state)
{
	struct policy_policy pol = { .nsteps = 0, .hold_below =
	    POLICY_SEV_EXTREME };
	struct policy_contact c[2] = {
		{ .name = "sub", .bh_start = 0, .bh_end = 1440 - 1 },
		{ .name = "pri", .primary = true, .bh_start = 9 * 60,
		  .bh_end = 17 * 60 },
	};
	struct policy_team t = { .id = "xx", .policy = &pol, .contacts = c,
		.ncontacts = 2 };
	const int64_t day = 20000 * 86400LL;	/* a midnight UTC */

	(void)state;
	/* before, during and after the hours */
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_SEVERE, day + 8 * 3600 +
	    30), day + 9 * 3600);
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_SEVERE, day + 12 *
	    3600), 0);
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_SEVERE, day + 18 *
	    3600), day + 86400 + 9 * 3600);
	/* Extreme never waits; nor what is not below hold_below */
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_EXTREME, day), 0);
	pol.hold_below = POLICY_SEV_SEVERE;
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_SEVERE, day), 0);
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_MODERATE, day),
	    day + 9 * 3600);
	/* hours across midnight UTC: 22:00-06:00 */
	c[1].bh_start = 22 * 60;
	c[1].bh_end = 6 * 60;
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_MINOR, day + 3 * 3600),
	    0);
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_MINOR, day + 12 * 3600),
	    day + 22 * 3600);
	/* no policy hold, or no hours known: never */
	pol.hold_below = 0;
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_MINOR, day + 12 * 3600),
	    0);
	pol.hold_below = POLICY_SEV_EXTREME;
	c[0].bh_start = c[1].bh_start = -1;
	assert_int_equal(plan_hold_until(&t, POLICY_SEV_MINOR, day + 12 * 3600),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_contacts_and_drop),
		cmocka_unit_test(test_plan_no_drop),
		cmocka_unit_test(test_plan_due),
		cmocka_unit_test(test_plan_hold),
		cmocka_unit_test(test_plan_repeat),
	};

	/* the channels as serve knows them: a repository names them */
	chan_kinds_publish();
	return cmocka_run_group_tests(tests, setup, teardown);
}
