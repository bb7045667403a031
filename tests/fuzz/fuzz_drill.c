/*
 * fuzz_drill.c: a drill scenario is a file someone wrote, read by
 * libconfig and checked by drill_scenario_load.  Whatever the bytes: a
 * scenario that is refused leaves nothing behind and names its file; one
 * that loads runs (at most two simulated hours, against a fixed
 * repository of five teams, so that a run stays short) into a report
 * whose figures add up, whose events are in time order, and whose JSON
 * is the same bytes when the same scenario runs again.  The input goes
 * to a temporary file (removed after), since the loader reads a path.
 *
 * Inputs that use libconfig's @include are skipped: it would make the
 * fuzzer read files of this machine (/dev/zero never ends), which is not
 * what is being tested here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "channel.h"
#include "drill.h"
#include "policy.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/*
 * libconfig 1.5 leaks its string buffer when a syntax error follows an
 * unfinished string: in the library, not here (as in fuzz_config.c).
 * Suppressed by module, so that leaks of our own code still stop the
 * fuzzer.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define FPR_C "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
#define MAX_LENGTH (2 * 3600)

#define TEAM(id, region, policy, mobile, mobile2) "{ id = \"" id "\"; " \
	"domain = \"" id "\"; cctld_operator = \"o\"; region = \"" region \
	"\"; policy = \"" policy "\"; contacts = ( { name = \"Ann " id "\"; " \
	"role = \"r\"; primary = true; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; email = \"ann@" id ".example\"; " \
	"pgp = \"" FPR_C "\"; mobile = \"" mobile "\"; emergency_phone = \"" \
	mobile2 "\"; fax = \"" mobile2 "\"; }, { name = \"Bob " id "\"; " \
	"role = \"r\"; substitute = true; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; mobile = \"" mobile2 "\"; } ); }"
#define PROVIDER(name, extra) "{ name = \"" name "\"; kind = \"generic\"; " \
	"url = \"https://127.0.0.1:9/send\"; body = \"{to} {text}\"; " extra " }"

/* The scenarios of tests/fuzz/corpus/drill name these teams, groups and
   providers; "desk" is paged when a team ends unreached. */
static const char repo_text[] =
	"gateway = { store = \"s.db\"; gnupg_home = \"g\"; "
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\"; "
	"max_attempts = 4; desk_team = \"desk\"; };\n"
	"issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; "
	"may_address = [ \"all\" ]; } );\n"
	"providers = {\n"
	"  sms = ( " PROVIDER("ke-gw", "prefixes = [ \"+254\" ];") ", "
	PROVIDER("world", "") " );\n"
	"  voice = ( " PROVIDER("callout", "") " );\n"
	"};\n"
	"policies = {\n"
	"  p = { steps = ( { after = \"0s\"; notify = [ \"primary:pgp-email\", "
	"\"primary:sms\" ]; }, { after = \"15m\"; notify = "
	"[ \"substitute:sms\", \"primary:voice:emergency\" ]; } ); "
	"repeat = 1; };\n"
	"  m = { steps = ( { after = \"0s\"; notify = [ \"primary:pgp-email\" "
	"]; }, { after = \"10m\"; notify = [ \"primary:sms\", "
	"\"substitute:sms\" ]; } ); exercise_emergency = true; };\n"
	"};\n"
	"groups = { west = [ \"ng\", \"fr\" ]; };\n"
	"teams = (\n"
	TEAM("ke", "AF", "p", "+254700555101", "+254700555102") ",\n"
	TEAM("ng", "AF", "m", "+2348035550101", "+2348035550102") ",\n"
	TEAM("de", "EU", "p", "+4915155501010", "+4915155501011") ",\n"
	TEAM("fr", "EU", "m", "+33612345678", "+33612345679") ",\n"
	TEAM("desk", "EU", "m", "+41225550100", "+41225550101") "\n"
	");\n";

static struct policy_repo *repo;
static FILE *devnull;

static void
init(void)
{
	struct tocsin_err e = { 0 };

	if (repo != NULL)
		return;
	/* the built-in channels' kinds, as serve hands them over at
	   start-up: the repository names them */
	chan_kinds_publish();
	if (policy_load_string(repo_text, "fuzz.conf", "/tmp", &repo, NULL,
	    &e) != 0) {
		fprintf(stderr, "fuzz_drill: the fixed repository: %s\n", e.msg);
		abort();
	}
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
}

/* The report as JSON, in a string of malloc's. */
static char *
json_of(const struct report *r, size_t *len)
{
	struct tocsin_err e;
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);

	if (m == NULL)
		abort();
	if (report_json(r, m, &e) != 0)
		abort();
	if (fclose(m) != 0)
		abort();
	return buf;
}

static void
check_report(const struct report *r)
{
	struct tocsin_err e;

	if (!r->drill || r->nteams > repo->nteams ||
	    r->nacked + r->nunreached + r->npending > r->nteams ||
	    r->ack.n != r->nacked || r->first.n > r->nteams)
		abort();
	for (size_t i = 1; i < r->nevents; i++)
		if (r->events[i - 1].at > r->events[i].at)
			abort();
	for (size_t i = 0; i < r->nteams; i++) {
		const struct report_team *t = &r->teams[i];

		if ((t->first < 0) != (t->first_channel == NULL) ||
		    (t->ack >= 0 && t->ack_by == NULL) ||
		    t->ack > MAX_LENGTH || t->first > MAX_LENGTH + 90)
			abort();
	}
	if (report_json(r, devnull, &e) != 0 ||
	    report_csv(r, devnull, &e) != 0)
		abort();
}

/* Run s, check the report, and return its JSON. */
static char *
run(const struct drill_scenario *s, size_t *len)
{
	struct report *r = NULL;
	struct tocsin_err e = { 0 };
	char *j;

	if (drill_run(repo, s, NULL, NULL, &r, &e) != 0) {
		/* a scenario that loaded must run: the repository is fine */
		fprintf(stderr, "fuzz_drill: drill_run: %s\n", e.msg);
		abort();
	}
	check_report(r);
	j = json_of(r, len);
	report_free(r);
	return j;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz_drill-XXXXXX";
	struct drill_scenario *s = (struct drill_scenario *)1;
	struct tocsin_err e = { 0 };
	char *j1, *j2;
	size_t n1, n2;
	int fd, rc;

	init();
	for (size_t i = 0; i + 8 <= size; i++)
		if (data[i] == '@' && strncasecmp((const char *)data + i + 1,
		    "include", 7) == 0)
			return 0;
	if ((fd = mkstemp(path)) < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	rc = drill_scenario_load(path, repo, &s, &e);
	(void)unlink(path);
	if (rc != 0) {
		/* refused: nothing handed back, and the file named */
		if (s != NULL || (rc != TOCSIN_ECONFIG && rc != TOCSIN_ENOMEM) ||
		    (rc == TOCSIN_ECONFIG && strncmp(e.msg, path,
		    strlen(path)) != 0))
			abort();
		return 0;
	}
	if (s == NULL || s->naudience == 0 || s->nfaults > DRILL_MAX_FAULTS)
		abort();
	for (size_t i = 0; chan_all()[i] != NULL; i++)
		if (!(s->answer[i].chance >= 0 && s->answer[i].chance <= 1) ||
		    s->answer[i].median < 1 ||
		    s->answer[i].p90 < s->answer[i].median)
			abort();
	if (s->length > MAX_LENGTH)
		s->length = MAX_LENGTH;
	/* the same scenario, the same bytes */
	j1 = run(s, &n1);
	j2 = run(s, &n2);
	if (n1 != n2 || memcmp(j1, j2, n1) != 0)
		abort();
	free(j1);
	free(j2);
	drill_scenario_free(s);
	return 0;
}
