/*
 * test_drill.c: tabletop drills, from the scenario file to the report.
 *
 * A small repository (five teams in three regions, two policies of two
 * steps, two SMS providers so that a provider fault can be named) and
 * scenarios written to a temporary folder.  Loading: every mistake is an
 * error naming "file:LINE:" and what to write instead (no drill group, an
 * unknown setting, a bad channel, a team or group not in the repository,
 * a provider not configured, a chance outside 0..1, a p90 below the
 * median, never_answers with neither team nor region, a bad start time),
 * and a good scenario gives back exactly what it says.  Running: the same
 * scenario gives the same bytes of JSON twice, another seed another
 * drill; a team that never answers ends unreached; an e-mail outage in a
 * region moves its teams to SMS; a provider outage fails over to the next
 * provider, and both down leave the team without SMS; when everyone
 * answers, every team is acked; progress is told once a simulated hour.
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

#include "drill.h"
#include "policy.h"
#include "report.h"
#include "unit_util.h"

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define FPR_C "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"

/* A primary with e-mail and a mobile, a substitute with a mobile. */
#define TEAM(id, region, policy, mobile, mobile2) "{ id = \"" id "\"; " \
	"domain = \"" id "\"; cctld_operator = \"o\"; region = \"" region \
	"\"; policy = \"" policy "\"; contacts = ( { name = \"Ann " id "\"; " \
	"role = \"r\"; primary = true; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; email = \"ann@" id ".example\"; " \
	"pgp = \"" FPR_C "\"; mobile = \"" mobile "\"; }, { name = \"Bob " \
	id "\"; role = \"r\"; substitute = true; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; mobile = \"" mobile2 "\"; } ); }"
#define PROVIDER(name, extra) "{ name = \"" name "\"; kind = \"generic\"; " \
	"url = \"https://127.0.0.1:9/send\"; body = \"{to} {text}\"; " extra " }"

/*
 * p: e-mail and SMS at once, then SMS to the substitute at 15 minutes;
 * m: e-mail only, then SMS to both at 15 minutes.  ke's numbers go to
 * ke-gw first, then world; everyone else's to world alone.
 */
#define REPO_TEXT(extra) \
	"gateway = { store = \"s.db\"; gnupg_home = \"g\"; " \
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\"; " \
	"max_attempts = 3; };\n" \
	"issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; " \
	"may_address = [ \"all\" ]; } );\n" \
	"providers = { sms = ( " PROVIDER("ke-gw", "prefixes = [ \"+254\" ];") \
	", " PROVIDER("world", "") extra " ); };\n" \
	"policies = {\n" \
	"  p = { steps = ( { after = \"0s\"; notify = [ \"primary:pgp-email\", " \
	"\"primary:sms\" ]; }, { after = \"15m\"; notify = " \
	"[ \"substitute:sms\" ]; } ); };\n" \
	"  m = { steps = ( { after = \"0s\"; notify = [ \"primary:pgp-email\" " \
	"]; }, { after = \"15m\"; notify = [ \"primary:sms\", " \
	"\"substitute:sms\" ]; } ); };\n" \
	"};\n" \
	"groups = { west = [ \"ng\", \"fr\" ]; };\n" \
	"teams = (\n" \
	TEAM("ke", "AF", "p", "+254700555101", "+254700555102") ",\n" \
	TEAM("ng", "AF", "m", "+2348035550101", "+2348035550102") ",\n" \
	TEAM("de", "EU", "p", "+4915155501010", "+4915155501011") ",\n" \
	TEAM("fr", "EU", "m", "+33612345678", "+33612345679") ",\n" \
	TEAM("br", "SA", "m", "+5511955501010", "+5511955501011") "\n" \
	");\n"

static const char repo_text[] = REPO_TEXT("");
/* the same, and a GSM modem that serves Kenya when no HTTP provider can */
static const char repo_modem_text[] = REPO_TEXT(", { name = \"gsm\"; "
	"kind = \"modem\"; device = \"/dev/ttyUSB9\"; fallback = true; "
	"prefixes = [ \"+254\" ]; rate = 1; }");

struct fx {
	char dir[64];
	char path[128];			/* the scenario */
	struct policy_repo *repo;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tdrill-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->path, sizeof(f->path), "%s/s.conf", f->dir);
	f->repo = unit_load_repo(repo_text);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	(void)unlink(f->path);
	(void)rmdir(f->dir);
	policy_free(f->repo);
	free(f);
	return 0;
}

static void
write_scenario(struct fx *f, const char *text)
{
	FILE *o = fopen(f->path, "w");

	assert_non_null(o);
	assert_int_equal(fputs(text, o) >= 0, 1);
	assert_int_equal(fclose(o), 0);
}

static struct drill_scenario *
load(struct fx *f, const char *text)
{
	struct drill_scenario *s = NULL;
	struct tocsin_err e = { 0 };

	write_scenario(f, text);
	if (drill_scenario_load(f->path, f->repo, &s, &e) != 0)
		fail_msg("drill_scenario_load: %s", e.msg);
	assert_non_null(s);
	return s;
}

/* The scenario must be refused with "PATH:line: ..." holding remedy. */
static void
refused(struct fx *f, const char *text, int line, const char *remedy)
{
	struct drill_scenario *s = (struct drill_scenario *)1;
	struct tocsin_err e = { 0 };
	char where[160];

	write_scenario(f, text);
	assert_int_equal(drill_scenario_load(f->path, f->repo, &s, &e),
	    TOCSIN_ECONFIG);
	assert_null(s);
	(void)snprintf(where, sizeof(where), "%s:%d: ", f->path, line);
	if (strncmp(e.msg, where, strlen(where)) != 0 ||
	    strstr(e.msg, remedy) == NULL)
		fail_msg("wanted \"%s...%s\", got \"%s\"", where, remedy, e.msg);
}

/* ---- loading ---- */

#define GOOD \
	"drill = {\n" \
	"  seed = 7;\n" \
	"  alert = { headline = \"EPP down (tabletop)\"; event = \"outage\";" \
	" severity = \"Extreme\"; };\n" \
	"  teams = [ \"ke\", \"west\" ];\n" \
	"  start = \"2026-03-02T09:30:00Z\";\n" \
	"  length = \"6h\";\n" \
	"  answers = {\n" \
	"    pgp-email = { chance = 0.25; median = \"10m\"; p90 = \"40m\"; };\n" \
	"    sms = { chance = 0.75; median = 240; p90 = \"15m\"; };\n" \
	"  };\n" \
	"  faults = (\n" \
	"    { channel = \"sms\"; region = \"EU\"; from = \"10m\"; " \
	"for = \"1h\"; },\n" \
	"    { provider = \"ke-gw\"; team = \"ke\"; },\n" \
	"    { team = \"br\"; never_answers = true; }\n" \
	"  );\n" \
	"};\n"

static void
test_load_good(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, GOOD);

	assert_string_equal(s->path, f->path);
	assert_int_equal(s->seed, 7);
	assert_string_equal(s->headline, "EPP down (tabletop)");
	assert_string_equal(s->event, "outage");
	assert_int_equal(s->severity, POLICY_SEV_EXTREME);
	assert_int_equal(s->naudience, 2);
	assert_string_equal(s->audience[0], "ke");
	assert_string_equal(s->audience[1], "west");
	assert_int_equal(s->start, 1772443800);
	assert_int_equal(s->length, 6 * 3600);
	assert_true(s->answer[chan_index(&chan_pgp_email)].chance == 0.25);
	assert_int_equal(s->answer[chan_index(&chan_pgp_email)].median, 600);
	assert_int_equal(s->answer[chan_index(&chan_pgp_email)].p90, 2400);
	assert_true(s->answer[chan_index(&chan_sms)].chance == 0.75);
	assert_int_equal(s->answer[chan_index(&chan_sms)].median, 240);
	assert_int_equal(s->answer[chan_index(&chan_sms)].p90, 900);
	/* not given: the defaults */
	assert_true(s->answer[chan_index(&chan_voice)].chance == 0.5);
	assert_int_equal(s->answer[chan_index(&chan_voice)].median, 600);
	assert_int_equal(s->answer[chan_index(&chan_voice)].p90, 1800);

	assert_int_equal(s->nfaults, 3);
	assert_string_equal(s->faults[0].channel, "sms");
	assert_string_equal(s->faults[0].region, "EU");
	assert_null(s->faults[0].team);
	assert_null(s->faults[0].provider);
	assert_int_equal(s->faults[0].from, 600);
	assert_int_equal(s->faults[0].until, 600 + 3600);
	assert_false(s->faults[0].never_answers);
	assert_int_equal(s->faults[0].line, 12);
	assert_null(s->faults[1].channel);
	assert_string_equal(s->faults[1].provider, "ke-gw");
	assert_string_equal(s->faults[1].team, "ke");
	assert_int_equal(s->faults[1].from, 0);
	assert_int_equal(s->faults[1].until, 0);
	assert_int_equal(s->faults[1].line, 13);
	assert_string_equal(s->faults[2].team, "br");
	assert_true(s->faults[2].never_answers);
	assert_int_equal(s->faults[2].line, 14);
	drill_scenario_free(s);
	drill_scenario_free(NULL);
}

/* The least a scenario needs, and the defaults it gets. */
static void
test_load_defaults(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, "drill = { alert = { headline = "
	    "\"x\"; }; teams = [ \"all\" ]; };\n");

	assert_int_equal(s->seed, 1);
	assert_null(s->event);
	assert_int_equal(s->severity, POLICY_SEV_SEVERE);
	assert_int_equal(s->start, 1767607200);
	assert_int_equal(s->length, 24 * 3600);
	assert_int_equal(s->nfaults, 0);
	for (size_t ch = 0; chan_all()[ch] != NULL; ch++)
		assert_true(s->answer[ch].chance == 0.5);
	drill_scenario_free(s);
}

static void
test_load_errors(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = (struct drill_scenario *)1;
	struct tocsin_err e = { 0 };
	char want[160];

	/* no drill group: the file, and what to write */
	write_scenario(f, "drills = { seed = 1; };\n");
	assert_int_equal(drill_scenario_load(f->path, f->repo, &s, &e),
	    TOCSIN_ECONFIG);
	assert_null(s);
	(void)snprintf(want, sizeof(want), "%s: no 'drill = { ... };' group",
	    f->path);
	assert_string_equal(strstr(e.msg, f->path), e.msg);
	assert_non_null(strstr(e.msg, want));
	write_scenario(f, "drill = 3;\n");
	assert_int_equal(drill_scenario_load(f->path, f->repo, &s, &e),
	    TOCSIN_ECONFIG);
	assert_non_null(strstr(e.msg, "drill = { ... };"));

	/* no file; a syntax error at its line */
	(void)unlink(f->path);
	assert_int_equal(drill_scenario_load(f->path, f->repo, &s, &e),
	    TOCSIN_ENOINPUT);
	assert_null(s);
	assert_non_null(strstr(e.msg, f->path));
	refused(f, "drill = {\n  seed = 1;\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ;\n};\n", 4, "syntax error");

	/* an unknown setting, at its own line, with the known ones */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  colour = \"red\";\n};\n", 4,
	    "unknown setting 'colour'; known here: seed, alert, teams");
	refused(f, "drill = {\n  alert = { headline = \"x\";\n"
	    "    urgency = \"Immediate\"; };\n  teams = [ \"all\" ];\n};\n", 3,
	    "unknown setting 'urgency'; known here: headline, event, severity");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n    { channel = \"sms\";\n"
	    "      until = \"1h\"; }\n  );\n};\n", 6,
	    "unknown setting 'until'; known here: channel, region, team, "
	    "provider, from, for, never_answers");

	/* a bad channel: in answers, in a fault */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  answers = {\n"
	    "    pigeon = { chance = 0.5; };\n  };\n};\n", 5,
	    "unknown setting 'pigeon'; known here: pgp-email, sms, voice, fax, "
	    "sshdrop");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n    { channel = \"sms\"; },\n"
	    "    { channel = \"pigeon\"; }\n  );\n};\n", 6,
	    "channel 'pigeon' is none of pgp-email, sms, voice, fax, sshdrop");

	/* a team or group not in the repository: in teams, in a fault */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"ke\",\n    \"zz\" ];\n};\n", 3,
	    "'zz' is no team, group or region of the repository");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"east\" ];\n};\n", 3,
	    "'east' is no team, group or region of the repository");
	/* libconfig knows no line of an empty list: the drill group's */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ ];\n};\n", 1, "teams must be a list of addresses");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n};\n", 1,
	    "teams must be a list of addresses");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n"
	    "    { channel = \"sms\"; region = \"XX\"; }\n  );\n};\n", 5,
	    "no team of the repository is in region 'XX'");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  answers = {\n"
	    "    sms = { chance = 2; };\n  };\n};\n", 5,
	    "chance must be between 0 and 1");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n"
	    "    { channel = \"sms\"; team = \"zz\"; }\n  );\n};\n", 5,
	    "team 'zz' is not in the repository");

	/* a provider that is not configured */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n\n"
	    "    { provider = \"nope\"; }\n  );\n};\n", 6,
	    "provider 'nope' is no SMS or voice provider of the configuration");

	/* a chance outside 0..1, at its answer's line */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  answers = {\n"
	    "    sms = { chance = 1.5; };\n  };\n};\n", 5,
	    "chance must be between 0 and 1");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  answers = {\n    voice = {\n"
	    "      chance = -0.01; };\n  };\n};\n", 5,
	    "chance must be between 0 and 1");

	/* a p90 below the median; a median of 0 */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  answers = {\n    fax = { chance = 0.5;\n"
	    "      median = \"20m\"; p90 = \"10m\"; };\n  };\n};\n", 5,
	    "p90 at least the median");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  answers = {\n"
	    "    sms = { median = 0; };\n  };\n};\n", 5,
	    "median must be at least 1s");

	/* never_answers needs a team or a region; a fault needs something */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n"
	    "    { never_answers = true; }\n  );\n};\n", 5,
	    "never_answers needs a team or a region");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n"
	    "    { region = \"EU\"; }\n  );\n};\n", 5,
	    "a fault needs a channel, a provider, internet = \"down\", or "
	    "never_answers = true");
	/* the internet is only ever "down", and takes every channel */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n"
	    "    { internet = \"slow\"; }\n  );\n};\n", 5,
	    "internet can only be \"down\"");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  faults = (\n"
	    "    { internet = \"down\"; channel = \"sms\"; }\n  );\n};\n", 5,
	    "give no channel or provider with it");

	/* a bad start time, a bad length */
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  start = \"2026-02-30 9h\";\n};\n", 4,
	    "start must be a time such as \"2026-03-02T09:30:00Z\"");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n\n  start = 1772443800;\n};\n", 5,
	    "start must be a time such as");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  length = \"forever\";\n};\n", 4,
	    "length must be a duration such as \"30m\" or \"2h\"");
	refused(f, "drill = {\n  alert = { headline = \"x\"; };\n"
	    "  teams = [ \"all\" ];\n  length = -5;\n};\n", 4,
	    "length must be between 0 and a year");

	/* the alert: a headline, a known severity; a numeric seed */
	refused(f, "drill = {\n  teams = [ \"all\" ];\n"
	    "  alert = { event = \"x\"; };\n};\n", 3,
	    "the alert needs a headline");
	refused(f, "drill = {\n  alert = { headline = \"x\";\n"
	    "    severity = \"Dire\"; };\n  teams = [ \"all\" ];\n};\n", 2,
	    "severity must be Minor, Moderate, Severe or Extreme");
	refused(f, "drill = {\n  seed = \"lucky\";\n"
	    "  alert = { headline = \"x\"; };\n  teams = [ \"all\" ];\n};\n", 2,
	    "seed must be a number");
}

/* ---- running ---- */

static struct report *
run(struct fx *f, const struct drill_scenario *s)
{
	struct report *r = NULL;
	struct tocsin_err e = { 0 };

	if (drill_run(f->repo, s, NULL, NULL, &r, &e) != 0)
		fail_msg("drill_run: %s", e.msg);
	assert_non_null(r);
	assert_true(r->drill);
	assert_string_equal(r->status, "Exercise");
	assert_int_equal(r->nacked + r->nunreached + r->npending, r->nteams);
	return r;
}

static char *
json(const struct report *r)
{
	size_t len = 0;
	char *buf = unit_report_text(report_json, r, &len);

	assert_int_equal(strlen(buf), len);
	return buf;
}

/* Whether a delivery to team on channel went out (an event says so). */
static bool
sent_on(const struct report *r, const char *id, const char *channel)
{
	for (size_t i = 0; i < r->nevents; i++)
		if (r->events[i].kind == REPORT_EV_SENT &&
		    strcmp(r->events[i].team, id) == 0 &&
		    strcmp(r->events[i].channel, channel) == 0)
			return true;
	return false;
}

#define SCENARIO(seed, answers, faults) \
	"drill = {\n  seed = " seed ";\n" \
	"  alert = { headline = \"Registry EPP outage\"; };\n" \
	"  teams = [ \"all\" ];\n  start = \"2026-03-02T09:30:00Z\";\n" \
	"  length = \"8h\";\n  answers = { " answers " };\n" \
	"  faults = ( " faults " );\n};\n"
#define EVERYONE "pgp-email = { chance = 1.0; median = \"2m\"; " \
	"p90 = \"5m\"; }; sms = { chance = 1.0; median = \"1m\"; " \
	"p90 = \"3m\"; };"
#define NOBODY "pgp-email = { chance = 0.0; }; sms = { chance = 0.0; };"

static void
test_run_same_twice(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, SCENARIO("42", "", ""));
	struct report *r1 = run(f, s), *r2 = run(f, s);
	char *j1 = json(r1), *j2 = json(r2), *j3;
	struct report *r3;

	assert_int_equal(r1->nteams, 5);
	assert_true(r1->nevents > 0);
	assert_string_equal(j1, j2);
	report_free(r2);
	/* loaded again from the file: the same bytes still */
	drill_scenario_free(s);
	s = load(f, SCENARIO("42", "", ""));
	r2 = run(f, s);
	free(j2);
	j2 = json(r2);
	assert_string_equal(j1, j2);
	/* another seed: another drill, not only another identifier */
	s->seed = 43;
	r3 = run(f, s);
	j3 = json(r3);
	assert_string_not_equal(strstr(j1, "\"per_team\":"),
	    strstr(j3, "\"per_team\":"));
	free(j1);
	free(j2);
	free(j3);
	report_free(r1);
	report_free(r2);
	report_free(r3);
	drill_scenario_free(s);
}

static void
test_run_everyone_acks(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, SCENARIO("5", EVERYONE, ""));
	struct report *r = run(f, s);

	assert_int_equal(r->nteams, 5);
	assert_int_equal(r->nacked, 5);
	assert_int_equal(r->nunreached, 0);
	assert_int_equal(r->npending, 0);
	assert_int_equal(r->ack.n, 5);
	/* the first answer comes within the ladder's first step */
	for (size_t i = 0; i < r->nteams; i++) {
		assert_int_equal(r->teams[i].outcome, REPORT_ACKED);
		assert_true(r->teams[i].ack > r->teams[i].first);
		assert_true(r->teams[i].ack < 900);
		assert_string_equal(r->teams[i].ack_strength, "unsigned");
	}
	assert_int_equal(r->nescalations, 0);
	report_free(r);
	drill_scenario_free(s);
}

static void
test_run_never_answers(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, SCENARIO("9", EVERYONE,
	    "{ team = \"br\"; never_answers = true; }"));
	struct report *r = run(f, s);
	const struct report_team *t = unit_report_team(r, "br");

	assert_int_equal(t->outcome, REPORT_UNREACHED);
	assert_int_equal(t->ack, -1);
	assert_int_equal(t->escalations, 1);
	assert_true(t->sent >= 3);	/* e-mail, then two SMS */
	assert_int_equal(r->nunreached, 1);
	assert_int_equal(r->nacked, 4);
	for (size_t i = 0; i < r->nescalations; i++)
		if (strcmp(r->escalations[i].team, "br") == 0)
			assert_string_equal(r->escalations[i].trigger,
			    "no ack 900 s after step 0");
	report_free(r);
	drill_scenario_free(s);

	/* a whole region that never answers */
	s = load(f, SCENARIO("9", EVERYONE,
	    "{ region = \"eu\"; never_answers = true; }"));
	r = run(f, s);
	assert_int_equal(unit_report_team(r, "de")->outcome, REPORT_UNREACHED);
	assert_int_equal(unit_report_team(r, "fr")->outcome, REPORT_UNREACHED);
	assert_int_equal(r->nacked, 3);
	report_free(r);
	drill_scenario_free(s);
}

/* SMS down in Africa for two hours while everyone answers by e-mail:
   the SMS that were failing when their teams acked are counted (cut
   short, their reason kept), not an empty failure table. */
static void
test_run_failures_cut_short_are_counted(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, SCENARIO("5", "pgp-email = { "
	    "chance = 1.0; median = \"30s\"; p90 = \"1m\"; }; sms = { "
	    "chance = 0.0; };", "{ channel = \"sms\"; region = \"AF\"; "
	    "from = \"0m\"; for = \"2h\"; }"));
	struct report *r = run(f, s);
	size_t cut = 0, attempts = 0;

	assert_true(r->nacked >= 1);
	assert_true(r->nfailures >= 1);
	for (size_t i = 0; i < r->nfailures; i++) {
		const struct report_failure *x = &r->failures[i];

		assert_string_equal(x->channel, "sms");
		assert_string_equal(x->region, "AF");
		assert_string_equal(x->reason, "simulated outage");
		assert_int_equal(x->count, x->dead + x->cancelled + x->retrying);
		cut += x->cancelled;
		attempts += x->attempts;
	}
	assert_true(cut >= 1);
	assert_true(attempts >= cut);
	report_free(r);
	drill_scenario_free(s);
}

/* E-mail down in EU for the whole drill: de is reached by SMS at once,
   fr (e-mail first) by SMS as soon as its e-mail is given up (its step
   failed on every channel), not 15 minutes later; elsewhere e-mail goes
   out.  With on_failure = "wait", fr waits out its step. */
static void
test_run_region_outage(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, SCENARIO("3", NOBODY,
	    "{ channel = \"pgp-email\"; region = \"EU\"; }"));
	struct report *r = run(f, s);
	const struct report_team *t;
	bool outage = false;

	assert_int_equal(r->nacked, 0);
	for (size_t i = 0; i < r->nteams; i++) {
		t = &r->teams[i];
		if (strcmp(t->region, "EU") != 0) {
			assert_true(sent_on(r, t->id, "pgp-email"));
			assert_int_equal(t->failed, 0);
			continue;
		}
		assert_false(sent_on(r, t->id, "pgp-email"));
		assert_true(t->first_channel == NULL ||
		    strcmp(t->first_channel, "pgp-email") != 0);
		assert_true(t->failed >= 1);
	}
	t = unit_report_team(r, "de");
	assert_string_equal(t->first_channel, "sms");
	assert_true(t->first < 60);
	t = unit_report_team(r, "fr");
	assert_string_equal(t->first_channel, "sms");
	assert_true(t->first < 900);
	assert_int_equal(t->escalations, 1);
	for (size_t i = 0; i < r->nescalations; i++)
		if (strcmp(r->escalations[i].team, "fr") == 0)
			assert_non_null(strstr(r->escalations[i].trigger,
			    "step 0 failed on every channel"));
	t = unit_report_team(r, "ng");
	assert_string_equal(t->first_channel, "pgp-email");
	assert_true(t->first < 60);
	for (size_t i = 0; i < r->nfailures; i++)
		if (strcmp(r->failures[i].reason, "simulated outage") == 0 &&
		    strcmp(r->failures[i].channel, "pgp-email") == 0)
			outage = r->failures[i].count == 2;
	assert_true(outage);
	for (size_t i = 0; i < r->nregion; i++)
		if (strcmp(r->by_region[i].key, "EU") == 0)
			assert_true(r->by_region[i].first.median < 60);
	report_free(r);

	((struct policy_policy *)policy_find(f->repo, "m"))->wait_on_failure =
	    true;
	r = run(f, s);
	((struct policy_policy *)policy_find(f->repo, "m"))->wait_on_failure =
	    false;
	t = unit_report_team(r, "fr");
	assert_string_equal(t->first_channel, "sms");
	assert_true(t->first >= 900);
	assert_int_equal(t->escalations, 1);
	for (size_t i = 0; i < r->nescalations; i++)
		if (strcmp(r->escalations[i].team, "fr") == 0)
			assert_string_equal(r->escalations[i].trigger,
			    "no ack 900 s after step 0");
	report_free(r);
	drill_scenario_free(s);

	/* an outage that ends: down for the first 10 seconds, then fr's
	   retry of e-mail (15 to 30 s later) goes through */
	s = load(f, SCENARIO("3", NOBODY, "{ channel = \"pgp-email\"; "
	    "team = \"fr\"; from = \"0m\"; for = \"10s\"; }"));
	r = run(f, s);
	t = unit_report_team(r, "fr");
	assert_true(sent_on(r, "fr", "pgp-email"));
	assert_string_equal(t->first_channel, "pgp-email");
	assert_true(t->first >= 15 + 20 && t->first <= 30 + 20);
	assert_int_equal(t->failed, 0);
	report_free(r);
	drill_scenario_free(s);
}

/* ke's SMS go to ke-gw first: with it down they fail over to world;
   with both down ke gets no SMS at all (its e-mail still goes). */
static void
test_run_provider_outage(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, SCENARIO("11", NOBODY,
	    "{ provider = \"ke-gw\"; }"));
	struct report *r = run(f, s);

	assert_true(sent_on(r, "ke", "sms"));
	assert_int_equal(unit_report_team(r, "ke")->failed, 0);
	report_free(r);
	drill_scenario_free(s);

	s = load(f, SCENARIO("11", NOBODY, "{ provider = \"ke-gw\"; }, "
	    "{ provider = \"world\"; team = \"ke\"; }"));
	r = run(f, s);
	assert_false(sent_on(r, "ke", "sms"));
	assert_true(sent_on(r, "ke", "pgp-email"));
	/* both SMS steps */
	assert_true(unit_report_team(r, "ke")->failed >= 2);
	assert_string_equal(unit_report_team(r, "ke")->first_channel,
	    "pgp-email");
	/* world is down for ke only */
	assert_true(sent_on(r, "de", "sms"));
	report_free(r);
	drill_scenario_free(s);
}

/* The internet down in AF: e-mail and the HTTP providers fail there; ke
   is still reached, by SMS through the modem (its e-mail failing), and ng,
   whose numbers the modem does not serve, is not reached at all.  The
   other regions are untouched.  Without the modem ke is not reached
   either. */
static void
test_run_internet_down(void **state)
{
	struct fx *f = *state;
	struct policy_repo *plain = f->repo;
	struct drill_scenario *s;
	struct report *r;
	const struct report_team *t;
	bool counted = false;

	f->repo = unit_load_repo(repo_modem_text);
	s = load(f, SCENARIO("5", NOBODY, "{ internet = \"down\"; "
	    "region = \"AF\"; }"));
	r = run(f, s);
	t = unit_report_team(r, "ke");
	assert_true(sent_on(r, "ke", "sms"));
	assert_false(sent_on(r, "ke", "pgp-email"));
	assert_string_equal(t->first_channel, "sms");
	assert_true(t->first <= 10);
	t = unit_report_team(r, "ng");
	assert_false(sent_on(r, "ng", "sms"));
	assert_false(sent_on(r, "ng", "pgp-email"));
	assert_null(t->first_channel);
	for (size_t i = 0; i < r->nteams; i++)
		if (strcmp(r->teams[i].region, "AF") != 0)
			assert_true(sent_on(r, r->teams[i].id, "pgp-email"));
	for (size_t i = 0; i < r->nfailures; i++)
		if (strcmp(r->failures[i].reason, "simulated outage (internet "
		    "down)") == 0 && strcmp(r->failures[i].channel, "sms") == 0)
			counted = r->failures[i].count >= 2;
	assert_true(counted);
	report_free(r);
	drill_scenario_free(s);
	policy_free(f->repo);
	f->repo = plain;

	/* no modem: nobody in AF is reached */
	s = load(f, SCENARIO("5", NOBODY, "{ internet = \"down\"; "
	    "region = \"AF\"; }"));
	r = run(f, s);
	assert_false(sent_on(r, "ke", "sms"));
	assert_null(unit_report_team(r, "ke")->first_channel);
	report_free(r);
	drill_scenario_free(s);
}

/* A modem sends one message after the other, at its rate: with the
   internet down everywhere and a modem for every number at 1 a second,
   every team is reached by SMS, each first message a second or more after
   the one before. */
static void
test_run_modem_one_at_a_time(void **state)
{
	static const char text[] = REPO_TEXT(", { name = \"gsm\"; kind = "
	    "\"modem\"; device = \"/dev/ttyUSB9\"; fallback = true; "
	    "rate = 1; }");
	struct fx *f = *state;
	struct policy_repo *plain = f->repo;
	struct drill_scenario *s;
	struct report *r;
	int64_t firsts[8];
	size_t n = 0;

	f->repo = unit_load_repo(text);
	s = load(f, SCENARIO("5", NOBODY, "{ internet = \"down\"; }"));
	r = run(f, s);
	for (size_t i = 0; i < r->nteams; i++) {
		assert_string_equal(r->teams[i].first_channel, "sms");
		assert_false(sent_on(r, r->teams[i].id, "pgp-email"));
		firsts[n++] = r->teams[i].first;
	}
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			assert_true(firsts[i] != firsts[j]);
	report_free(r);
	drill_scenario_free(s);
	policy_free(f->repo);
	f->repo = plain;
}

/* The audience: a group, a team; the others are not in the report. */
static void
test_run_audience(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, "drill = { alert = { headline = "
	    "\"x\"; }; teams = [ \"west\", \"de\", \"fr\" ]; length = \"2h\"; "
	    "};\n");
	struct report *r = run(f, s);

	assert_int_equal(r->nteams, 3);
	assert_string_equal(r->teams[0].id, "de");
	assert_string_equal(r->teams[1].id, "fr");
	assert_string_equal(r->teams[2].id, "ng");
	assert_string_equal(r->headline, "x");
	report_free(r);
	drill_scenario_free(s);

	/* addresses as an alert's: any case, regions, groups */
	s = load(f, "drill = { alert = { headline = \"x\"; }; teams = "
	    "[ \"KE\", \"region:EU\" ]; length = \"2h\"; };\n");
	r = run(f, s);
	assert_int_equal(r->nteams, 3);
	assert_string_equal(r->teams[0].id, "de");
	assert_string_equal(r->teams[1].id, "fr");
	assert_string_equal(r->teams[2].id, "ke");
	report_free(r);
	drill_scenario_free(s);
}

/* A fault names a team in any case; a chance written as 0 is 0. */
static void
test_run_spellings(void **state)
{
	struct fx *f = *state;
	struct drill_scenario *s = load(f, SCENARIO("4", "pgp-email = { "
	    "chance = 1; median = \"2m\"; p90 = \"5m\"; }; sms = { chance = "
	    "0; };", "{ team = \"KE\"; never_answers = true; }"));
	struct report *r = run(f, s);

	assert_int_equal(unit_report_team(r, "ke")->outcome, REPORT_UNREACHED);
	for (size_t i = 0; i < r->nteams; i++)
		if (r->teams[i].ack_via != NULL)
			assert_string_equal(r->teams[i].ack_via, "link");
	report_free(r);
	drill_scenario_free(s);
}

/* Progress every simulated hour, until the drill ends. */
struct progress {
	int calls;
	int64_t last;
};

static void
on_progress(void *arg, int64_t sim, size_t acked, size_t teams)
{
	struct progress *p = arg;

	assert_int_equal(sim, p->last + 3600);
	assert_true(acked <= teams);
	assert_int_equal(teams, 5);
	p->last = sim;
	p->calls++;
}

static void
test_run_progress(void **state)
{
	struct fx *f = *state;
	/* answers that take hours: the clock jumps past whole hours, and
	   each is told once, in order */
	struct drill_scenario *s = load(f, SCENARIO("1", "pgp-email = { "
	    "chance = 1.0; median = \"3h\"; p90 = \"4h\"; }; sms = { "
	    "chance = 1.0; median = \"3h\"; p90 = \"4h\"; };", ""));
	struct progress p = { 0, 0 };
	struct report *r = NULL;
	struct tocsin_err e;

	assert_int_equal(drill_run(f->repo, s, on_progress, &p, &r, &e), 0);
	assert_true(p.calls >= 1 && p.calls <= 8);
	/* a late answer still counts, after the team was unreached */
	assert_true(r->nacked >= 1);
	report_free(r);
	drill_scenario_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_good, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_same_twice, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_everyone_acks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_never_answers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_run_failures_cut_short_are_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_internet_down, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_modem_one_at_a_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_region_outage, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_provider_outage,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_audience, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_spellings, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run_progress, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("drill", tests, NULL, NULL);
}
