/*
 * test_chankind.c: a channel is one file plus one table line.
 *
 * This file is the whole of a channel, "pigeon", that only the test knows:
 * its descriptor (name, the contact field it reaches, its check of a
 * repository that uses it, its drill figures) and a driver that keeps what
 * it is handed in memory.  Registered at start-up (chan_register(), what a
 * table line does for a built-in channel), it is then read from
 * configuration, planned, dispatched by the real dispatcher against a real
 * store, reported and drilled, with nothing else of tocsin told about it.
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
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "channel.h"
#include "dispatch.h"
#include "drill.h"
#include "plan.h"
#include "policy.h"
#include "report.h"
#include "store.h"
#include "unit_util.h"

/* ---- the channel: everything a new channel writes ---- */

#define PIGEON_LOG_MAX 16

/* What the driver was handed; the test's own state. */
static struct {
	char address[PIGEON_LOG_MAX][64];
	char text[PIGEON_LOG_MAX][512];
	size_t n;
	/* a fault: once this many addresses are logged, deliver() fails
	   (the loft burns) with its messages left undecided; -1: never */
	int fail_after;
} pigeon_log;

/* A repository that sends pigeons must have a duty phone to call back. */
static void
pigeon_repo_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	extern const struct chan_ops chan_pigeon;

	for (size_t p = 0; p < repo->npolicies; p++)
		if (policy_sends(&repo->policies[p], &chan_pigeon.kind) &&
		    repo->gateway.duty_phone == NULL)
			policy_diag_add(diag, POLICY_ERROR,
			    repo->policies[p].src.file,
			    repo->policies[p].src.line, "policy %s sends "
			    "pigeon but gateway.duty_phone is not set",
			    repo->policies[p].name);
}

static size_t
pigeon_batch(const struct policy_repo *repo)
{
	(void)repo;
	return 4;
}

static size_t
pigeon_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	(void)repo;
	(void)diag;
	return 0;
}

static int
pigeon_open(const struct chan_env *env, void **ret, struct tocsin_err *err)
{
	(void)env;
	(void)err;
	*ret = &pigeon_log;
	return 0;
}

static int
pigeon_deliver(void *session, struct chan_msg *msgs, size_t n,
    struct tocsin_err *err)
{
	(void)session;
	for (size_t i = 0; i < n; i++) {
		struct chan_msg *m = &msgs[i];

		if (pigeon_log.fail_after >= 0 &&
		    pigeon_log.n >= (size_t)pigeon_log.fail_after)
			return tocsin_fail(err, TOCSIN_EINTERNAL,
			    "the loft burned");
		chan_msg_start(m);
		for (size_t j = 0; j < m->nrcpts; j++) {
			size_t k = pigeon_log.n;

			if (k >= PIGEON_LOG_MAX) {
				chan_rcpt_set(&m->rcpts[j], CHAN_PERMFAIL,
				    "the loft is full");
				continue;
			}
			(void)snprintf(pigeon_log.address[k],
			    sizeof(pigeon_log.address[k]), "%s",
			    m->rcpts[j].address);
			(void)snprintf(pigeon_log.text[k],
			    sizeof(pigeon_log.text[k]), "%s", m->short_text !=
			    NULL ? m->short_text : "");
			pigeon_log.n++;
			m->rcpts[j].status = CHAN_SENT;
			(void)snprintf(m->rcpts[j].ref, sizeof(m->rcpts[j].ref),
			    "ring-%zu", k);
		}
		chan_msg_done(m);
	}
	return 0;
}

static void
pigeon_close(void *session)
{
	(void)session;
}

const struct chan_ops chan_pigeon = {
	.kind = {
		.name = "pigeon",
		.field = POLICY_FIELD_MOBILE,
		.check = pigeon_repo_check,
	},
	.drill_latency = 600,
	.drill_via = "pigeon",
	.per_team = false,
	.batch = pigeon_batch,
	.check = pigeon_check,
	.open = pigeon_open,
	.deliver = pigeon_deliver,
	.close = pigeon_close,
};

/* ---- the test ---- */

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define T0 INT64_C(1767607200)

#define TEAM(id, mobile) "{ id = \"" id "\"; domain = \"" id "\"; " \
	"cctld_operator = \"o\"; region = \"EU\"; policy = \"p\"; " \
	"contacts = ( { name = \"Ann " id "\"; role = \"r\"; " \
	"primary = true; timezone = \"UTC\"; languages = [ \"en\" ]; " \
	"mobile = \"" mobile "\"; } ); }"
#define REPO(dir, duty) \
	"gateway = { store = \"" dir "/s.db\"; gnupg_home = \"" dir "/g\"; " \
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\"; " \
	duty " };\n" \
	"issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; " \
	"may_address = [ \"all\" ]; } );\n" \
	"policies = { p = { steps = ( { after = \"0s\"; notify = " \
	"[ \"primary:pigeon\" ]; } ); }; };\n" \
	"teams = ( " TEAM("ka", "+41790000001") ", " \
	TEAM("kb", "+41790000002") " );\n"
#define DUTY "duty_phone = \"+41790000099\";"
#define CAP "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">" \
	"<identifier>ID-1</identifier><sender>desk@x</sender>" \
	"<sent>2026-01-05T10:00:00-00:00</sent><status>Actual</status>" \
	"<msgType>Alert</msgType><scope>Private</scope>" \
	"<addresses>ka kb</addresses><info><language>en</language>" \
	"<category>Security</category><event>Outage</event>" \
	"<urgency>Immediate</urgency><severity>Severe</severity>" \
	"<certainty>Observed</certainty>" \
	"<headline>Registry EPP outage</headline>" \
	"<area><areaDesc>Global</areaDesc></area></info></alert>"

struct fx {
	char dir[64];
	struct policy_repo *repo;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char text[2048], g[96];

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tkind-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(g, sizeof(g), "%s/g", f->dir);
	if (mkdir(g, 0700) != 0)
		return -1;
	(void)snprintf(text, sizeof(text), REPO("%s", DUTY), f->dir, f->dir);
	f->repo = unit_load_repo(text);
	memset(&pigeon_log, 0, sizeof(pigeon_log));
	pigeon_log.fail_after = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	policy_free(f->repo);
	unit_rm_rf(f->dir);
	free(f);
	return 0;
}

/* The diagnostics of loading text, joined, and whether it loaded. */
static bool
load_says(const char *text, char *out, size_t len)
{
	struct policy_repo *r = NULL;
	struct policy_diag d;
	struct tocsin_err e = { 0 };
	size_t off = 0;
	int rc;

	policy_diag_init(&d);
	rc = policy_load_string(text, "t.conf", "/tmp", &r, &d, &e);
	out[0] = '\0';
	for (size_t i = 0; i < d.n && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s\n",
		    d.items[i].text);
	policy_diag_free(&d);
	policy_free(r);
	return rc == 0;
}

/* The repository reads the channel's name, its field and its check. */
static void
test_repository_knows_it(void **state)
{
	struct fx *f = *state;
	const struct policy_team *ka = policy_team_find(f->repo, "ka");
	const struct policy_target *t = &f->repo->policies[0].steps[0].
	    targets[0];
	char said[4096];

	assert_ptr_equal(t->channel, &chan_pigeon.kind);
	assert_ptr_equal(chan_of(t->channel), &chan_pigeon);
	assert_string_equal(policy_contact_endpoint(&ka->contacts[0], t),
	    "+41790000001");
	/* its own check runs whenever a repository is read */
	assert_false(load_says(REPO("/tmp/none", ""), said, sizeof(said)));
	assert_non_null(strstr(said, "policy p sends pigeon but "
	    "gateway.duty_phone is not set"));
	/* the messages that list channels list it, from the table */
	assert_false(load_says("policies = { p = { steps = ( { after = "
	    "\"0s\"; notify = [ \"primary:owl\" ]; } ); }; };", said,
	    sizeof(said)));
	assert_non_null(strstr(said, "CHANNEL is pgp-email, sms, voice, fax, "
	    "sshdrop or pigeon"));
	/* it said nothing of :emergency or of teams: both refused */
	assert_false(load_says("policies = { p = { steps = ( { after = "
	    "\"0s\"; notify = [ \"primary:pigeon:emergency\" ]; } ); }; };",
	    said, sizeof(said)));
	assert_non_null(strstr(said, "uses :emergency with pigeon; "
	    ":emergency applies only to sms and voice"));
	assert_false(load_says("policies = { p = { steps = ( { after = "
	    "\"0s\"; notify = [ \"team:pigeon\" ]; } ); }; };", said,
	    sizeof(said)));
	assert_non_null(strstr(said, "sends pigeon to the team; only sshdrop "
	    "goes to the team"));
}

/* Planned, dispatched by the real dispatcher, recorded, reported. */
/* serve listens: on a port of its own, not the default 8025 that another
   gateway on this host may hold. */
static void
own_port(struct policy_repo *repo)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char hostport[32];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	(void)snprintf(hostport, sizeof(hostport), "127.0.0.1:%u",
	    (unsigned)ntohs(sa.sin_port));
	(void)close(fd);
	free(repo->gateway.listen);
	assert_non_null(repo->gateway.listen = strdup(hostport));
}

/* Alert A1 to teams ka and kb, planned and queued in the store: one
   pigeon to each primary contact. */
static void
submit_alert(struct fx *f)
{
	struct store_alert a = { .id = "A1", .identifier = "ID-1",
		.sender = "desk@x", .sent = "s", .sent_t = T0,
		.status = "Actual", .msg_type = "Alert", .scope = "Private",
		.severity = 3, .headline = "Registry EPP outage",
		.cap = CAP, .cap_len = sizeof(CAP) - 1, .received = T0 };
	struct store_team_plan tp[2] = { { "ka", 0, 0, NULL },
		{ "kb", 0, 0, NULL } };
	struct plan_list pl = { 0 };
	struct store *st = NULL;
	struct tocsin_err e = { 0 };

	for (size_t i = 0; i < 2; i++)
		assert_int_equal(plan_step(policy_team_find(f->repo,
		    tp[i].team), 0, T0, &pl, &e), 0);
	assert_int_equal(pl.n, 2);
	assert_string_equal(pl.d[0].channel, "pigeon");
	assert_string_equal(pl.d[0].address, "+41790000001");
	assert_int_equal(store_open(f->repo->gateway.store, &st, &e), 0);
	assert_int_equal(store_submit(st, &a, NULL, 0, tp, 2, pl.d, pl.n,
	    "test", &e), 0);
	plan_list_free(&pl);
	store_close(st);
}

static void
test_planned_dispatched_reported(void **state)
{
	struct fx *f = *state;
	struct dispatch_opts o = { .until_idle = true };
	struct store *st = NULL;
	struct report *r = NULL;
	struct tocsin_err e = { 0 };
	bool ka = false, kb = false;

	submit_alert(f);
	own_port(f->repo);
	if (dispatch_serve(f->repo, &o, &e) != 0)
		fail_msg("dispatch_serve: %s", e.msg);
	/* each contact's mobile got its message once */
	assert_int_equal(pigeon_log.n, 2);
	for (size_t i = 0; i < pigeon_log.n; i++) {
		ka |= strcmp(pigeon_log.address[i], "+41790000001") == 0;
		kb |= strcmp(pigeon_log.address[i], "+41790000002") == 0;
		assert_non_null(strstr(pigeon_log.text[i],
		    "Registry EPP outage"));
	}
	assert_true(ka && kb);
	/* a second run has nothing left to send */
	assert_int_equal(dispatch_serve(f->repo, &o, &e), 0);
	assert_int_equal(pigeon_log.n, 2);

	assert_int_equal(store_open(f->repo->gateway.store, &st, &e), 0);
	if (report_build(st, f->repo, "A1", &r, &e) != 0)
		fail_msg("report_build: %s", e.msg);
	assert_int_equal(r->nteams, 2);
	for (size_t i = 0; i < r->nteams; i++)
		assert_string_equal(r->teams[i].first_channel, "pigeon");
	assert_int_equal(r->nchannel, 1);
	assert_string_equal(r->by_channel[0].key, "pigeon");
	assert_int_equal(r->by_channel[0].teams, 2);
	report_free(r);
	store_close(st);
}

/* A driver that fails before deciding a message: the message is never
   recorded "sent" (the zero status it still holds).  It is retried, and
   ends dead with the driver's reason when it keeps failing; what the
   driver did decide stays as it was, sent once. */
static void
test_undecided_is_not_sent(void **state)
{
	struct fx *f = *state;
	struct dispatch_opts o = { .until_idle = true };
	struct store *st = NULL;
	struct store_delivery_row *rows = NULL;
	struct tocsin_err e = { 0 };
	size_t n = 0, nsent = 0, ndead = 0;

	submit_alert(f);
	/* one attempt is all: the first failure that counts ends it */
	f->repo->gateway.max_attempts = 1;
	pigeon_log.fail_after = 1;
	own_port(f->repo);
	if (dispatch_serve(f->repo, &o, &e) != 0)
		fail_msg("dispatch_serve: %s", e.msg);
	/* the one message decided reached its contact, once */
	assert_int_equal(pigeon_log.n, 1);

	assert_int_equal(store_open(f->repo->gateway.store, &st, &e), 0);
	assert_int_equal(store_deliveries(st, "A1", NULL, &rows, &n, &e), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].state == STORE_D_SENT) {
			nsent++;
			assert_string_equal(rows[i].address,
			    pigeon_log.address[0]);
			continue;
		}
		/* the other: dead, with the driver's own reason */
		assert_int_equal(rows[i].state, STORE_D_DEAD);
		assert_non_null(rows[i].last_error);
		assert_non_null(strstr(rows[i].last_error, "not decided: the "
		    "pigeon channel stopped before it: the loft burned"));
		assert_int_equal(rows[i].attempts, 1);
		ndead++;
	}
	assert_int_equal(nsent, 1);
	assert_int_equal(ndead, 1);
	store_delivery_rows_free(rows, n);
	store_close(st);
}

/* A drill simulates it with its own figures and acks "via" it. */
static void
test_drilled(void **state)
{
	struct fx *f = *state;
	char path[128];
	FILE *fp;
	struct drill_scenario *s = NULL;
	struct report *r = NULL;
	struct tocsin_err e = { 0 };

	(void)snprintf(path, sizeof(path), "%s/s.conf", f->dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("drill = {\n  seed = 7;\n"
	    "  alert = { headline = \"Registry EPP outage\"; };\n"
	    "  teams = [ \"all\" ];\n  start = \"2026-03-02T09:30:00Z\";\n"
	    "  length = \"8h\";\n"
	    "  answers = { pigeon = { chance = 1.0; median = \"20m\"; "
	    "p90 = \"30m\"; }; };\n"
	    "  faults = ( { channel = \"pigeon\"; team = \"kb\"; "
	    "from = \"0s\"; for = \"8h\"; } );\n};\n", fp);
	assert_int_equal(fclose(fp), 0);
	if (drill_scenario_load(path, f->repo, &s, &e) != 0)
		fail_msg("drill_scenario_load: %s", e.msg);
	assert_true(s->answer[chan_index(&chan_pigeon)].chance == 1.0);
	assert_int_equal(s->answer[chan_index(&chan_pigeon)].median, 1200);
	if (drill_run(f->repo, s, NULL, NULL, &r, &e) != 0)
		fail_msg("drill_run: %s", e.msg);
	assert_int_equal(r->nteams, 2);
	for (size_t i = 0; i < r->nteams; i++) {
		const struct report_team *t = &r->teams[i];

		if (strcmp(t->id, "ka") == 0) {
			/* handed over after the channel's 600 s, acked by
			   pigeon after that */
			assert_string_equal(t->state, "acked");
			assert_string_equal(t->ack_via, "pigeon");
			assert_int_equal(t->first, 600);
			assert_true(t->ack > 600);
		} else {
			/* the channel is down for kb the whole drill */
			assert_string_not_equal(t->state, "acked");
			assert_null(t->ack_via);
		}
	}
	report_free(r);
	drill_scenario_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_repository_knows_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_planned_dispatched_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undecided_is_not_sent,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_drilled, setup, teardown),
	};
	struct tocsin_err e = { 0 };

	/* what a line in channel.c's table does for a built-in channel */
	if (chan_register(&chan_pigeon, &e) != 0 ||
	    chan_register(&chan_pigeon, &e) != TOCSIN_ECONFIG) {
		fprintf(stderr, "chan_register: %s\n", e.msg);
		return 1;
	}
	if (chan_global_init(&e) != 0) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
