/*
 * test_policy.c: unit tests of policy/: loading the configuration, every
 * kind of mistake it must report (with file, line and remedy), address
 * resolution, targets, and the single-value parsers.
 *
 * Fixtures live in tests/data/config/ and are found through TOCSIN_SRCDIR,
 * which meson sets to the source root.  Files that need a mode (secrets)
 * are made at run time in a temporary folder, since git keeps no modes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "policy.h"
#include "policy_int.h"

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

/* A small valid configuration, to which tests add one mistake. */
#define GW "gateway = { store = \"s.db\"; gnupg_home = \"g\"; " \
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\"; };\n"
#define ISS "issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; " \
	"may_address = [ \"all\" ]; } );\n"
#define POL "policies = { p = { steps = ( { after = \"0s\"; " \
	"notify = [ \"primary:sms\" ]; } ); }; };\n"
#define CONTACT "{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; mobile = \"+254700555101\"; }"
#define TEAM(id) "{ id = \"" id "\"; domain = \"x\"; cctld_operator = \"o\"; " \
	"region = \"AF\"; policy = \"p\"; contacts = ( " CONTACT " ); }"
#define TEAMS "teams = ( " TEAM("ke") " );\n"

static char srcdir[1024];

static void
fixture(char *buf, size_t size, const char *rel)
{
	(void)snprintf(buf, size, "%s/tests/data/config/%s", srcdir, rel);
}

static void
dump(const struct policy_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		print_message("  %s:%d: %s: %s\n", d->items[i].file ?
		    d->items[i].file : "?", d->items[i].line,
		    d->items[i].sev == POLICY_ERROR ? "error" : "warning",
		    d->items[i].text);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Whether d holds an item of sev in a file ending with file_suffix (NULL:
   any) at line, whose text contains fragment. */
static bool
has(const struct policy_diag *d, enum policy_sev sev, const char *file_suffix,
    int line, const char *fragment)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct policy_diag_item *it = &d->items[i];

		if (it->sev != sev || it->line != line ||
		    strstr(it->text, fragment) == NULL)
			continue;
		if (file_suffix != NULL && (it->file == NULL ||
		    !ends_with(it->file, file_suffix)))
			continue;
		return true;
	}
	return false;
}

#define assert_diag(d, sev, file, line, frag) do {			\
	if (!has((d), (sev), (file), (line), (frag))) {			\
		print_message("missing %s:%d: %s\n", (file) ? (file) :	\
		    "*", (line), (frag));				\
		dump(d);						\
		fail();							\
	}								\
} while (0)

/* The base folder of load_str: /tmp, or a test's own folder of files. */
static const char *load_base = "/tmp";

/* Load text from a string with base folder load_base; returns the code. */
static int
load_str(const char *text, struct policy_diag *d, struct policy_repo **r)
{
	struct tocsin_err err;

	policy_diag_init(d);
	memset(&err, 0, sizeof(err));
	return policy_load_string(text, "t.conf", load_base, r, d, &err);
}

/* Load text that must fail with exactly one error containing frag at line.
   line 0 means any line. */
static void
expect_one_error(const char *text, int line, const char *frag)
{
	struct policy_diag d;
	struct policy_repo *r = (struct policy_repo *)1;
	int rc = load_str(text, &d, &r);

	if (rc != TOCSIN_ECONFIG || d.errors != 1 || r != NULL ||
	    (line != 0 && !has(&d, POLICY_ERROR, NULL, line, frag))) {
		print_message("expected one error at line %d with '%s', "
		    "rc=%d errors=%zu\n", line, frag, rc, d.errors);
		dump(&d);
		policy_diag_free(&d);
		fail();
	}
	for (size_t i = 0; line == 0 && i < d.n; i++)
		if (d.items[i].sev == POLICY_ERROR &&
		    strstr(d.items[i].text, frag) == NULL) {
			dump(&d);
			fail();
		}
	policy_diag_free(&d);
}

static void
expect_ok(const char *text)
{
	struct policy_diag d;
	struct policy_repo *r = NULL;

	if (load_str(text, &d, &r) != 0 || r == NULL) {
		dump(&d);
		policy_diag_free(&d);
		fail();
	}
	policy_diag_free(&d);
	policy_free(r);
}

/* A configuration that must be refused, one of a table whose cases share
   a template and the line of their one error: the text for the template's
   %s and a fragment of the error. */
struct mistake {
	const char *text;
	const char *frag;
};

/* tmpl with value in place of its "%s", into buf of size bytes. */
static void
fill(char *buf, size_t size, const char *tmpl, const char *value)
{
	const char *at = strstr(tmpl, "%s");
	int k;

	assert_non_null(at);
	k = snprintf(buf, size, "%.*s%s%s", (int)(at - tmpl), tmpl, value,
	    at + 2);
	assert_true(k > 0 && (size_t)k < size);
}

/* Each of the n mistakes, tmpl with its text for the %s, must be refused
   with one error at line holding its fragment. */
static void
expect_mistakes(const char *tmpl, int line, const struct mistake *m,
    size_t n)
{
	char text[8192];

	for (size_t i = 0; i < n; i++) {
		fill(text, sizeof(text), tmpl, m[i].text);
		expect_one_error(text, line, m[i].frag);
	}
}

/* tmpl with each of the n values for the %s must load. */
static void
expect_ok_each(const char *tmpl, const char *const *values, size_t n)
{
	char text[8192];

	for (size_t i = 0; i < n; i++) {
		fill(text, sizeof(text), tmpl, values[i]);
		expect_ok(text);
	}
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A configuration refused with one error whose text is known to the byte:
   the text for a template's %s, the error's line and its whole text. */
struct exact {
	const char *text;
	int line;
	const char *msg;
};

/* Each of the n cases, tmpl with its text for the %s, must be refused
   with exactly one error, at its line of t.conf, saying its msg. */
static void
expect_exact(const char *tmpl, const struct exact *x, size_t n)
{
	char text[8192];

	for (size_t i = 0; i < n; i++) {
		struct policy_diag d;
		struct policy_repo *r = NULL;
		const struct policy_diag_item *it = NULL;
		int rc;

		fill(text, sizeof(text), tmpl, x[i].text);
		rc = load_str(text, &d, &r);
		for (size_t k = 0; k < d.n; k++)
			if (d.items[k].sev == POLICY_ERROR)
				it = &d.items[k];
		if (rc != TOCSIN_ECONFIG || r != NULL || d.errors != 1 ||
		    it == NULL || it->file == NULL ||
		    !ends_with(it->file, "t.conf") || it->line != x[i].line ||
		    strcmp(it->text, x[i].msg) != 0) {
			print_message("case %zu: expected t.conf:%d: %s\n", i,
			    x[i].line, x[i].msg);
			dump(&d);
			policy_diag_free(&d);
			fail();
		}
		policy_diag_free(&d);
	}
}

/* Load text, which must load with no error and exactly one warning, at
   line of t.conf, holding frag; the caller frees the repository. */
static struct policy_repo *
load_warned(const char *text, int line, const char *frag)
{
	struct policy_diag d;
	struct policy_repo *r = NULL;

	assert_int_equal(load_str(text, &d, &r), 0);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 1);
	assert_diag(&d, POLICY_WARNING, "t.conf", line, frag);
	policy_diag_free(&d);
	return r;
}

static struct policy_repo *
load_good(struct policy_diag *d)
{
	char path[PATH_MAX];
	struct policy_repo *r = NULL;
	struct tocsin_err err;

	fixture(path, sizeof(path), "good/tocsin.conf");
	policy_diag_init(d);
	if (policy_load(path, &r, d, &err) != 0) {
		print_message("%s\n", err.msg);
		dump(d);
		fail();
	}
	return r;
}

static void
test_good_config(void **state)
{
	struct policy_diag d;
	struct policy_repo *r = load_good(&d);
	char base[PATH_MAX], exp[PATH_MAX + 64];
	const struct policy_team *ke, *ae;
	const struct policy_contact *c;
	const struct policy_policy *std;

	(void)state;
	fixture(base, sizeof(base), "good");
	assert_int_equal(d.errors, 0);
	/* team:sshdrop, no sshdrop; two first languages without catalog
	   (the build's, TOCSIN_LOCALEDIR: ar and ru have theirs) */
	assert_int_equal(d.warnings, 3);
	assert_diag(&d, POLICY_WARNING, "good/repo/teams.conf", 3,
	    "team \"ke\"'s policy \"standard\" sends team:sshdrop at step 4 "
	    "but the team has no sshdrop");
	assert_diag(&d, POLICY_WARNING, "good/repo/teams.conf", 28,
	    "language sw has no catalog in ");
	assert_diag(&d, POLICY_WARNING, "good/repo/teams.conf", 76,
	    "language de has no catalog in ");
	assert_string_equal(r->base_dir, base);
	(void)snprintf(exp, sizeof(exp), "%s/tocsin.conf", base);
	assert_string_equal(r->main_file, exp);
	assert_int_equal(r->nfiles, 2);
	assert_string_equal(r->files[0], exp);
	(void)snprintf(exp, sizeof(exp), "%s/repo/teams.conf", base);
	assert_string_equal(r->files[1], exp);

	/* gateway: relative paths made absolute against the main folder. */
	(void)snprintf(exp, sizeof(exp), "%s/state/tocsin.db", base);
	assert_string_equal(r->gateway.store, exp);
	(void)snprintf(exp, sizeof(exp), "%s/state/gnupg", base);
	assert_string_equal(r->gateway.gnupg_home, exp);
	(void)snprintf(exp, sizeof(exp), "%s/pki/issuer-ca.pem", base);
	assert_string_equal(r->gateway.issuer_ca, exp);
	assert_string_equal(r->gateway.signing_key,
	    "0123456789ABCDEF0123456789ABCDEF01234567");
	assert_int_equal(r->gateway.signing_key_src.line, 6);
	assert_ptr_equal(r->gateway.signing_key_src.file, r->files[0]);
	assert_int_equal(r->gateway.workers, 8);
	assert_string_equal(r->gateway.listen, "127.0.0.1:8025");
	assert_int_equal(r->gateway.replay_window, 12 * 3600);
	assert_int_equal(r->gateway.max_alert_bytes, 65536);
	assert_string_equal(r->gateway.default_audience, "all");
	assert_int_equal(r->gateway.src.line, 3);

	/* issuers */
	assert_int_equal(r->nissuers, 3);
	assert_string_equal(r->issuers[0].name, "desk-1");
	assert_string_equal(r->issuers[0].openpgp, FPR_A);
	assert_null(r->issuers[0].certificate);
	assert_int_equal(r->issuers[0].severities, 0x1f);
	assert_int_equal(r->issuers[0].statuses, 0x1f);
	assert_int_equal(r->issuers[0].nmay_address, 1);
	assert_int_equal(r->issuers[0].src.line, 17);
	assert_string_equal(r->issuers[1].openpgp, "");
	(void)snprintf(exp, sizeof(exp), "%s/pki/cms-issuer.pem", base);
	assert_string_equal(r->issuers[1].certificate, exp);
	assert_int_equal(r->issuers[1].severities,
	    (1u << POLICY_SEV_MINOR) | (1u << POLICY_SEV_MODERATE));
	assert_int_equal(r->issuers[1].statuses,
	    (1u << POLICY_ST_EXERCISE) | (1u << POLICY_ST_TEST));
	assert_int_equal(r->issuers[1].nmay_address, 2);
	assert_string_equal(r->issuers[1].may_address[1], "gulf");
	assert_string_equal(r->issuers[2].certificate,
	    "/etc/tocsin/pki/desk.pem");

	/* quorum */
	assert_int_equal(r->nquorum, 2);
	assert_int_equal(r->quorum[0].severities, 1u << POLICY_SEV_EXTREME);
	assert_string_equal(r->quorum[0].audience, "all");
	assert_int_equal(r->quorum[0].issuers, 2);
	assert_int_equal(r->quorum[1].severities, 0x1f);
	assert_null(r->quorum[1].audience);
	assert_int_equal(r->quorum[1].issuers, 3);

	/* providers */
	assert_non_null(r->smtp);
	assert_string_equal(r->smtp->host, "127.0.0.1");
	assert_int_equal(r->smtp->port, 8587);
	assert_string_equal(r->smtp->from, "tocsin@alerts.example.net");
	assert_true(r->smtp->starttls);
	assert_false(r->smtp->local);
	(void)snprintf(exp, sizeof(exp), "%s/pki/ca.pem", base);
	assert_string_equal(r->smtp->ca, exp);
	assert_null(r->smtp->credentials);
	assert_int_equal(r->smtp->timeout, 45);

	/* policies */
	assert_int_equal(r->npolicies, 2);
	std = policy_find(r, "standard");
	assert_non_null(std);
	assert_null(policy_find(r, "Standard"));
	assert_int_equal(std->nsteps, 4);
	assert_int_equal(std->steps[0].after, 0);
	assert_int_equal(std->steps[1].after, 900);
	assert_int_equal(std->steps[2].after, 1800);
	assert_int_equal(std->steps[3].after, 3600);
	assert_int_equal(std->steps[0].ntargets, 2);
	assert_int_equal(std->steps[0].targets[0].who, POLICY_WHO_PRIMARY);
	assert_ptr_equal(std->steps[0].targets[0].channel, &chan_pgp_email.kind);
	assert_false(std->steps[0].targets[0].emergency);
	assert_ptr_equal(std->steps[1].targets[1].channel, &chan_voice.kind);
	assert_true(std->steps[1].targets[1].emergency);
	assert_int_equal(std->steps[2].targets[1].who, POLICY_WHO_SUBSTITUTE);
	assert_int_equal(std->steps[3].targets[1].who, POLICY_WHO_TEAM);
	assert_ptr_equal(std->steps[3].targets[1].channel, &chan_sshdrop.kind);
	assert_int_equal(std->repeat, 2);
	assert_false(std->unsigned_acks);
	assert_true(policy_find(r, "light")->unsigned_acks);
	assert_int_equal(policy_find(r, "light")->repeat, 0);

	/* groups */
	assert_int_equal(r->ngroups, 3);
	assert_string_equal(r->groups[1].name, "middle");
	assert_int_equal(r->groups[1].nmembers, 2);

	/* teams and contacts, from the included file */
	assert_int_equal(r->nteams, 5);
	ke = policy_team_find(r, "KE");
	assert_non_null(ke);
	assert_ptr_equal(ke, &r->teams[0]);
	assert_ptr_equal(ke->src.file, r->files[1]);
	assert_int_equal(ke->src.line, 3);
	assert_string_equal(ke->domain, "ke");
	assert_string_equal(ke->cctld_operator,
	    "Kenya Network Information Centre");
	assert_string_equal(ke->host_organisation, "KENIC CSIRT");
	assert_string_equal(ke->registry_operator, "KENIC");
	assert_string_equal(ke->country, "KE");
	assert_string_equal(ke->region, "AF");
	assert_ptr_equal(ke->policy, std);
	assert_int_equal(ke->ncontacts, 3);
	c = &ke->contacts[0];
	assert_string_equal(c->name, "Amani Otieno");
	assert_string_equal(c->role, "Incident response lead");
	assert_true(c->primary);
	assert_false(c->substitute);
	assert_string_equal(c->country, "KE");
	assert_string_equal(c->timezone, "Africa/Nairobi");
	assert_int_equal(c->bh_start, 6 * 60);
	assert_int_equal(c->bh_end, 15 * 60);
	assert_int_equal(c->nlanguages, 2);
	assert_string_equal(c->languages[0], "en");
	assert_string_equal(c->languages[1], "sw");
	assert_string_equal(c->email, "amani@nic.example.ke");
	assert_string_equal(c->pgp, "1111111111111111111111111111111111111111");
	assert_int_equal(c->pgp_src.line, 20);
	assert_ptr_equal(c->pgp_src.file, r->files[1]);
	assert_string_equal(c->phone, "+254205550101");
	assert_string_equal(c->mobile, "+254700555101");
	assert_string_equal(c->emergency_phone, "+254733555101");
	assert_string_equal(c->fax, "+254205550199");
	assert_int_equal(c->nmessengers, 1);
	assert_string_equal(c->messengers[0].service, "signal");
	assert_string_equal(c->messengers[0].id, "+254700555101");
	assert_string_equal(c->other_telecom,
	    "HF radio 7.110 MHz, call sign 5Z4ZZZ");
	assert_int_equal(c->src.line, 12);
	c = &ke->contacts[1];
	assert_true(c->substitute);
	assert_null(c->phone);
	assert_null(c->country);
	assert_int_equal(c->bh_start, -1);
	assert_int_equal(c->bh_end, -1);
	c = &ke->contacts[2];
	assert_int_equal(c->bh_start, 22 * 60);
	assert_int_equal(c->bh_end, 6 * 60);
	assert_null(c->email);
	assert_string_equal(c->pgp, "");
	ae = policy_team_find(r, "ae");
	assert_non_null(ae);
	assert_string_equal(ae->region, "AS");
	assert_null(ae->host_organisation);
	assert_null(ae->country);
	assert_non_null(policy_team_find(r, "xn--p1ai"));
	assert_null(policy_team_find(r, "k"));

	policy_diag_free(&d);
	policy_free(r);
}

/* Relative @include and path values follow the main file, whatever the
   current directory. */
static void
test_include_other_cwd(void **state)
{
	char old[PATH_MAX], path[PATH_MAX], tests[PATH_MAX];
	char exp[PATH_MAX + 32];
	struct policy_repo *r = NULL;
	struct tocsin_err err;

	(void)state;
	assert_non_null(getcwd(old, sizeof(old)));
	fixture(path, sizeof(path), "good/tocsin.conf");
	fixture(exp, sizeof(exp), "good/state/tocsin.db");

	assert_int_equal(chdir("/"), 0);
	assert_int_equal(policy_load(path, &r, NULL, &err), 0);
	assert_string_equal(r->gateway.store, exp);
	assert_int_equal(r->nteams, 5);
	policy_free(r);

	(void)snprintf(tests, sizeof(tests), "%s/tests", srcdir);
	assert_int_equal(chdir(tests), 0);
	assert_int_equal(policy_load("./data/config/good/../good/tocsin.conf",
	    &r, NULL, &err), 0);
	assert_int_equal(r->nteams, 5);
	assert_true(ends_with(r->files[1], "/good/repo/teams.conf"));
	assert_true(r->main_file[0] == '/');
	assert_null(strstr(r->main_file, "/./"));
	policy_free(r);
	assert_int_equal(chdir(old), 0);
}

static void
test_bad_config(void **state)
{
	static const struct {
		enum policy_sev sev;
		const char *file;
		int line;
		const char *frag;
	} want[] = {
		{ POLICY_ERROR, "bad/tocsin.conf", 2, "store is missing; add" },
		{ POLICY_WARNING, "bad/tocsin.conf", 2, "public_url is not set" },
		{ POLICY_ERROR, "bad/tocsin.conf", 2,
		    "default_audience: address \"nowhere\" names no team" },
		{ POLICY_ERROR, "bad/tocsin.conf", 3,
		    "unknown key \"stor\"; did you mean \"store\"" },
		{ POLICY_ERROR, "bad/tocsin.conf", 5,
		    "signing_key \"0123 4567 89ab cdef\" is not a full "
		    "OpenPGP fingerprint" },
		{ POLICY_ERROR, "bad/tocsin.conf", 6,
		    "workers = 65 is out of range; use a value from 1 to 64" },
		{ POLICY_ERROR, "bad/tocsin.conf", 8,
		    "replay_window \"24 hours\" is not a duration" },
		{ POLICY_ERROR, "bad/tocsin.conf", 9,
		    "max_alert_bytes = 100 is out of range" },
		{ POLICY_ERROR, "bad/tocsin.conf", 14,
		    "both openpgp and certificate" },
		{ POLICY_ERROR, "bad/tocsin.conf", 16,
		    "neither openpgp nor certificate" },
		{ POLICY_ERROR, "bad/tocsin.conf", 17,
		    "\"region:OC\" names a region without teams" },
		{ POLICY_ERROR, "bad/tocsin.conf", 19,
		    "unknown severity \"extreme\"; use the CAP spelling" },
		{ POLICY_ERROR, "bad/tocsin.conf", 20,
		    "unknown status \"Real\"" },
		{ POLICY_ERROR, "bad/tocsin.conf", 24,
		    "issuers = 1 is out of range; use a value from 2 to 16" },
		{ POLICY_ERROR, "bad/tocsin.conf", 24,
		    "audience: address \"nobody\" names no team" },
		{ POLICY_WARNING, "bad/tocsin.conf", 28,
		    "providers.smtp is not configured" },
		{ POLICY_ERROR, "bad/tocsin.conf", 28,
		    "policy \"standard\" sends fax, which cannot be "
		    "encrypted, so the policy must allow fax explicitly; add "
		    "fax_detail = \"summary\"" },
		{ POLICY_WARNING, "bad/tocsin.conf", 28,
		    "gateway.duty_phone is not set" },
		{ POLICY_ERROR, "bad/tocsin.conf", 31,
		    "earlier than the step before (1800 s, line 30)" },
		{ POLICY_ERROR, "bad/tocsin.conf", 31,
		    "uses :emergency with fax" },
		{ POLICY_ERROR, "bad/tocsin.conf", 34,
		    "unsigned_acks must be true or false, not a string" },
		{ POLICY_ERROR, "bad/tocsin.conf", 40, "(a cycle)" },
		{ POLICY_ERROR, "bad/tocsin.conf", 41,
		    "member \"xx\" names no team" },
		{ POLICY_WARNING, "bad/teams.conf", 3,
		    "team \"ke\"'s policy \"standard\" sends team:sshdrop at "
		    "step 3 but the team has no sshdrop" },
		{ POLICY_ERROR, "bad/teams.conf", 6,
		    "contact \"Amani\" has no fax, but policy \"standard\" "
		    "step 1 sends primary:fax; add fax" },
		{ POLICY_ERROR, "bad/teams.conf", 8,
		    "business_hours \"6:00-15:00\" is not a span HH:MM-HH:MM" },
		{ POLICY_ERROR, "bad/teams.conf", 9,
		    "language \"english\" is not a BCP 47 tag" },
		{ POLICY_ERROR, "bad/teams.conf", 12,
		    "mobile \"254 700 555 101\" is not an E.164 number" },
		{ POLICY_ERROR, "bad/teams.conf", 13,
		    "the name is already used by the contact at line 6" },
		{ POLICY_ERROR, "bad/teams.conf", 14,
		    "timezone \"Mars/Olympus_Mons\" is not in /usr/share/zoneinfo" },
		{ POLICY_ERROR, "bad/teams.conf", 15,
		    "unknown key \"emial\"; did you mean \"email\"" },
		{ POLICY_ERROR, "bad/teams.conf", 19, "duplicate team id" },
		{ POLICY_ERROR, "bad/teams.conf", 20,
		    "policy \"missing\" does not exist" },
		{ POLICY_ERROR, "bad/teams.conf", 23, "email without pgp" },
		{ POLICY_ERROR, "bad/teams.conf", 25,
		    "id \"../etc\" is not a team id" },
		{ POLICY_WARNING, "bad/teams.conf", 25,
		    "team 3's policy \"standard\" sends team:sshdrop" },
		{ POLICY_ERROR, "bad/teams.conf", 27,
		    "timezone \"Europe\" is a folder" },
		{ POLICY_ERROR, "bad/teams.conf", 27,
		    "team 3 contact \"Z\" has no email and pgp" },
	};
	char path[PATH_MAX], exp[PATH_MAX + 64];
	struct policy_diag d;
	struct policy_repo *r = (struct policy_repo *)1;
	struct tocsin_err err;
	size_t nerr = 0, nwarn = 0;

	(void)state;
	fixture(path, sizeof(path), "bad/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_null(r);
	assert_int_equal(err.code, TOCSIN_ECONFIG);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_diag(&d, want[i].sev, want[i].file, want[i].line,
		    want[i].frag);
		if (want[i].sev == POLICY_ERROR)
			nerr++;
		else
			nwarn++;
	}
	if (d.errors != nerr || d.warnings != nwarn) {
		dump(&d);
		fail();
	}
	/* Every message says what to do, after a ';'. */
	for (size_t i = 0; i < d.n; i++)
		assert_non_null(strchr(d.items[i].text, ';'));
	/* The first error, in file order, as FILE:LINE: text. */
	(void)snprintf(exp, sizeof(exp), "%s:2: gateway: store is missing",
	    path);
	assert_memory_equal(err.msg, exp, strlen(exp));
	/* File order: the main file's items first, lines not decreasing. */
	for (size_t i = 1; i < d.n; i++) {
		bool same = strcmp(d.items[i].file, d.items[i - 1].file) == 0;

		if (same)
			assert_true(d.items[i].line >= d.items[i - 1].line);
		else
			assert_true(ends_with(d.items[i].file, "teams.conf"));
	}
	policy_diag_free(&d);
}

/* For `tocsin check`: what was read comes back despite errors. */
static void
test_load_check(void **state)
{
	char path[PATH_MAX];
	struct policy_diag d, d2;
	struct policy_repo *r = NULL;
	struct tocsin_err err;

	(void)state;
	fixture(path, sizeof(path), "bad/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load_check(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_non_null(r);
	/* The same problems as policy_load. */
	policy_diag_init(&d2);
	assert_int_equal(policy_load(path, &(struct policy_repo *){ NULL },
	    &d2, &err), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, d2.errors);
	assert_int_equal(d.warnings, d2.warnings);
	policy_diag_free(&d2);
	/* Refused names are "", never NULL; good values are there. */
	assert_int_equal(r->nteams, 3);
	assert_string_equal(r->teams[0].id, "ke");
	assert_string_equal(r->teams[2].id, "");
	assert_string_equal(r->teams[0].contacts[0].pgp,
	    "1111111111111111111111111111111111111111");
	assert_int_equal(r->teams[0].contacts[0].pgp_src.line, 11);
	assert_null(r->teams[0].contacts[0].mobile);
	assert_null(r->gateway.store);
	assert_non_null(r->gateway.gnupg_home);
	assert_string_equal(r->gateway.signing_key, "");
	assert_int_equal(r->nissuers, 3);
	assert_string_equal(r->issuers[2].openpgp, FPR_B);
	policy_free(r);
	policy_diag_free(&d);

	/* Nothing parsed, nothing returned. */
	fixture(path, sizeof(path), "syntax/tocsin.conf");
	policy_diag_init(&d);
	r = (struct policy_repo *)1;
	assert_int_equal(policy_load_check(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_null(r);
	policy_diag_free(&d);
	fixture(path, sizeof(path), "good/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load_check(path, &r, &d, &err), 0);
	assert_int_equal(d.errors, 0);
	policy_free(r);
	policy_diag_free(&d);
}

static void
test_syntax_error(void **state)
{
	char path[PATH_MAX], exp[PATH_MAX + 16];
	struct policy_diag d;
	struct policy_repo *r;
	struct tocsin_err err;

	(void)state;
	fixture(path, sizeof(path), "syntax/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_diag(&d, POLICY_ERROR, "syntax/tocsin.conf", 4, "syntax error; ");
	(void)snprintf(exp, sizeof(exp), "%s:4: syntax error", path);
	assert_memory_equal(err.msg, exp, strlen(exp));
	policy_diag_free(&d);

	/* libconfig takes a missing ';' between settings; the loader does
	   not, and names the line of the unfinished setting. */
	expect_one_error("gateway = {\n  store = \"x.db\"\n  gnupg_home = "
	    "\"g\"; signing_key = \"" FPR_A "\"; public_url = \"https://x/\";"
	    "\n};\n" ISS POL TEAMS, 2, "setting \"store\" is not ended with "
	    "';' before the next setting; add ';'");
	expect_one_error("gateway = { store = \"x.db\" gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\"; };\n"
	    ISS POL TEAMS, 1, "setting \"store\" is not ended");
	/* Strings on several lines are one value; "3 }" is fine. */
	expect_ok("gateway = { store = \"x\"\n  \".db\"; gnupg_home = "
	    "\"g\"; signing_key = \"" FPR_A "\"; public_url = \"https://x/\";"
	    " workers = 3 };\n" ISS POL TEAMS "groups = { g = [ \"ke\" ] }\n");
	assert_int_equal(load_str(GW ISS POL TEAMS "groups = { g = [ \"ke\" ] }"
	    "\n@include \"f\"\n", &d, &r), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 2);
	assert_diag(&d, POLICY_ERROR, "t.conf", 5, "setting \"groups\" is not "
	    "ended");
	policy_diag_free(&d);
	/* Before '}' and at the end it is harmless. */
	policy_diag_init(&d);
	assert_int_equal(policy_load_string(GW ISS POL "teams = ( { id = "
	    "\"ke\"; domain = \"x\"; cctld_operator = \"o\"; region = \"AF\"; "
	    "policy = \"p\"; contacts = ( { name = \"n\"; role = \"r\"; "
	    "timezone = \"UTC\"; languages = [ \"en\" ]; mobile = "
	    "\"+254700555101\" } ) } )", "t.conf", "/tmp", &r, &d, &err), 0);
	policy_free(r);
	policy_diag_free(&d);

	/* Without a diag, the first error still comes back. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(policy_load(path, &r, NULL, &err), TOCSIN_ECONFIG);
	assert_null(r);
	assert_memory_equal(err.msg, exp, strlen(exp));
}

static void
test_include_problems(void **state)
{
	char path[PATH_MAX];
	struct policy_diag d;
	struct policy_repo *r;
	struct tocsin_err err;

	(void)state;
	/* The missing file is named at the including file's line. */
	fixture(path, sizeof(path), "include-missing/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_diag(&d, POLICY_ERROR, "include-missing/sub/teams.conf", 3,
	    "cannot read included file");
	assert_diag(&d, POLICY_ERROR, "include-missing/sub/teams.conf", 3,
	    "include-missing/sub/nope.conf: No such file");
	policy_diag_free(&d);

	fixture(path, sizeof(path), "include-absolute/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_diag(&d, POLICY_ERROR, "include-absolute/tocsin.conf", 2,
	    "absolute path \"/etc/tocsin/teams.conf\" is not supported; write "
	    "the path relative to");
	policy_diag_free(&d);

	fixture(path, sizeof(path), "include-cycle/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_diag(&d, POLICY_ERROR, "include-cycle/other.conf", 2,
	    "include cycle");
	policy_diag_free(&d);

	/* libconfig's errors in an included file name that file. */
	fixture(path, sizeof(path), "include-syntax/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_diag(&d, POLICY_ERROR, "include-syntax/sub/teams.conf", 3,
	    "syntax error");
	assert_non_null(strstr(err.msg, "include-syntax/sub/teams.conf:3: "));
	policy_diag_free(&d);

	/* The main file itself missing. */
	fixture(path, sizeof(path), "no-such/tocsin.conf");
	policy_diag_init(&d);
	assert_int_equal(policy_load(path, &r, &d, &err), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_non_null(strstr(err.msg, "cannot read the configuration file"));
	policy_diag_free(&d);

	/* A string may not include anything. */
	expect_one_error(GW TEAMS "\n  @include \"x.conf\"\n", 4,
	    "@include is not allowed here");
	expect_one_error(GW TEAMS "x = \"@include\";\n", 3,
	    "@include is not allowed");
}

/* Secrets: only a regular file with no group or other bits passes. */
static void
test_secret_modes(void **state)
{
	char dir[] = "/tmp/tocsin-test-XXXXXX", file[64], sub[64];
	char text[2048];
	struct policy_diag d;
	struct policy_repo *r = NULL;
	struct tocsin_err err;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(file, sizeof(file), "%s/smtp.secret", dir);
	(void)snprintf(sub, sizeof(sub), "%s/adir", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("user:password\n", f);
	fclose(f);
	assert_int_equal(mkdir(sub, 0700), 0);
	(void)snprintf(text, sizeof(text), GW ISS POL TEAMS
	    "providers = { smtp = { host = \"127.0.0.1\"; from = "
	    "\"t@example.net\";\n  credentials = \"%s\"; }; };\n",
	    "smtp.secret");

	assert_int_equal(chmod(file, 0600), 0);
	policy_diag_init(&d);
	assert_int_equal(policy_load_string(text, "t.conf", dir, &r, &d, &err),
	    0);
	assert_string_equal(r->smtp->credentials, file);
	assert_int_equal(r->smtp->port, 25);
	assert_int_equal(r->smtp->timeout, 30);
	policy_free(r);
	policy_diag_free(&d);

	assert_int_equal(chmod(file, 0640), 0);
	policy_diag_init(&d);
	assert_int_equal(policy_load_string(text, "t.conf", dir, &r, &d, &err),
	    TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_diag(&d, POLICY_ERROR, "t.conf", 6, "has mode 0640");
	assert_diag(&d, POLICY_ERROR, "t.conf", 6, "; chmod 600 /tmp/tocsin-");
	policy_diag_free(&d);

	assert_int_equal(chmod(file, 0604), 0);
	policy_diag_init(&d);
	assert_int_equal(policy_load_string(text, "t.conf", dir, &r, &d, &err),
	    TOCSIN_ECONFIG);
	assert_diag(&d, POLICY_ERROR, "t.conf", 6, "has mode 0604");
	policy_diag_free(&d);

	assert_int_equal(unlink(file), 0);
	policy_diag_init(&d);
	assert_int_equal(policy_load_string(text, "t.conf", dir, &r, &d, &err),
	    TOCSIN_ECONFIG);
	assert_diag(&d, POLICY_ERROR, "t.conf", 6, "No such file");
	assert_diag(&d, POLICY_ERROR, "t.conf", 6, "chmod 600");
	policy_diag_free(&d);

	(void)snprintf(text, sizeof(text), GW ISS POL TEAMS
	    "providers = { smtp = { host = \"127.0.0.1\"; from = "
	    "\"t@example.net\";\n  credentials = \"adir\"; }; };\n");
	policy_diag_init(&d);
	assert_int_equal(policy_load_string(text, "t.conf", dir, &r, &d, &err),
	    TOCSIN_ECONFIG);
	assert_diag(&d, POLICY_ERROR, "t.conf", 6, "is not a regular file");
	policy_diag_free(&d);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

static size_t
count_marks(const bool *m, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += m[i];
	return k;
}

static void
test_resolve(void **state)
{
	struct policy_diag d;
	struct policy_repo *r = load_good(&d);
	struct tocsin_err err;
	bool m[8];
	/* teams: 0 ke (AF), 1 ae (AS), 2 om (AS), 3 de (EU), 4 xn--p1ai (EU) */

	(void)state;
	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "all", m, &err), 0);
	assert_int_equal(count_marks(m, r->nteams), 5);

	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "region:EU", m, &err), 0);
	assert_int_equal(count_marks(m, r->nteams), 2);
	assert_true(m[3] && m[4]);
	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "REGION:eu", m, &err), 0);
	assert_true(m[3] && m[4] && count_marks(m, r->nteams) == 2);
	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "region:as", m, &err), 0);
	assert_true(m[1] && m[2] && count_marks(m, r->nteams) == 2);

	assert_int_equal(policy_resolve(r, "region:OC", m, &err),
	    TOCSIN_ENOTFOUND);
	assert_non_null(strstr(err.msg, "region without teams"));
	assert_int_equal(policy_resolve(r, "region:XX", m, &err),
	    TOCSIN_ENOTFOUND);
	assert_non_null(strstr(err.msg, "unknown region"));

	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "gulf", m, &err), 0);
	assert_true(m[1] && m[2] && count_marks(m, r->nteams) == 2);
	/* Groups of groups, and team ids in any case. */
	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "middle", m, &err), 0);
	assert_true(m[0] && m[1] && m[2] && count_marks(m, r->nteams) == 3);
	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "outer", m, &err), 0);
	assert_int_equal(count_marks(m, r->nteams), 5);

	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "Ke", m, &err), 0);
	assert_true(m[0] && count_marks(m, r->nteams) == 1);
	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "XN--P1AI", m, &err), 0);
	assert_true(m[4] && count_marks(m, r->nteams) == 1);

	memset(m, 0, sizeof(m));
	assert_int_equal(policy_resolve(r, "nowhere", m, &err),
	    TOCSIN_ENOTFOUND);
	assert_non_null(strstr(err.msg, "\"nowhere\" names no team"));
	assert_int_equal(policy_resolve(r, "", m, &err), TOCSIN_ENOTFOUND);
	assert_int_equal(policy_resolve(r, "../ke", m, NULL), TOCSIN_ENOTFOUND);
	assert_int_equal(count_marks(m, r->nteams), 0);
	/* Marks accumulate over several addresses. */
	assert_int_equal(policy_resolve(r, "de", m, NULL), 0);
	assert_int_equal(policy_resolve(r, "ke", m, NULL), 0);
	assert_int_equal(count_marks(m, r->nteams), 2);

	policy_diag_free(&d);
	policy_free(r);
}

/* Five teams in three regions, a group, and the quorum rules given. */
#define TEAMR(id, reg) "{ id = \"" id "\"; domain = \"x\"; " \
	"cctld_operator = \"o\"; region = \"" reg "\"; policy = \"p\"; " \
	"contacts = ( " CONTACT " ); }"
#define TEAMS5 "teams = ( " TEAMR("ke", "AF") ", " TEAMR("ug", "AF") ", " \
	TEAMR("ae", "AS") ", " TEAMR("de", "EU") ", " TEAMR("fr", "EU") " );\n" \
	"groups = { gulf = [ \"ae\" ]; };\n"

/* Marks of the teams named in ids (space-separated) over r->teams. */
static void
marks_of(const struct policy_repo *r, const char *ids, bool *m)
{
	char buf[128], *save = NULL;

	memset(m, 0, (r->nteams + 1) * sizeof(bool));
	(void)snprintf(buf, sizeof(buf), "%s", ids);
	for (char *t = strtok_r(buf, " ", &save); t != NULL;
	    t = strtok_r(NULL, " ", &save))
		assert_int_equal(policy_resolve(r, t, m, NULL), 0);
}

static int
applies(const struct policy_repo *r, size_t rule, int sev, const char *ids)
{
	bool m[8];

	marks_of(r, ids, m);
	return policy_quorum_applies(r, &r->quorum[rule], sev, m);
}

static void
test_quorum_rules(void **state)
{
	struct policy_diag d;
	struct policy_repo *r = NULL;
	char why[256];

	(void)state;
	assert_int_equal(load_str(GW ISS POL TEAMS5 "quorum = (\n"
	    "{ severities = [ \"Extreme\" ]; min_teams = 4; issuers = 2; },\n"
	    "{ severities = [ \"Severe\", \"Extreme\" ];\n"
	    "  groups = [ \"region:AF\", \"gulf\" ]; issuers = 3; },\n"
	    "{ audience = \"all\"; issuers = 4; },\n"
	    "{ min_teams = 3; groups = [ \"region:AF\" ]; issuers = 2; },\n"
	    "{ severities = [ \"Minor\" ]; issuers = 2; }\n);\n", &d, &r), 0);
	assert_int_equal(d.errors, 0);
	policy_diag_free(&d);
	assert_int_equal(r->nquorum, 5);
	assert_int_equal(r->quorum[0].min_teams, 4);
	assert_int_equal(r->quorum[0].ngroups, 0);
	assert_int_equal(r->quorum[1].ngroups, 2);
	assert_string_equal(r->quorum[1].groups[0], "region:AF");
	assert_string_equal(r->quorum[1].groups[1], "gulf");
	assert_int_equal(r->quorum[1].src.line, 8);
	assert_int_equal(r->quorum[1].groups_src.line, 9);
	assert_int_equal(r->quorum[2].min_teams, 0);
	assert_string_equal(r->quorum[2].audience, "all");

	/* by size: all but one team is four teams */
	assert_int_equal(applies(r, 0, POLICY_SEV_EXTREME, "ke ug ae de"), 1);
	assert_int_equal(applies(r, 0, POLICY_SEV_EXTREME, "all"), 1);
	assert_int_equal(applies(r, 0, POLICY_SEV_EXTREME, "ke ae de"), 0);
	assert_int_equal(applies(r, 0, POLICY_SEV_SEVERE, "all"), 0);
	/* by group: any listed group wholly addressed */
	assert_int_equal(applies(r, 1, POLICY_SEV_SEVERE, "region:AF"), 1);
	assert_int_equal(applies(r, 1, POLICY_SEV_SEVERE, "ke ug"), 1);
	assert_int_equal(applies(r, 1, POLICY_SEV_EXTREME, "ae"), 1);
	assert_int_equal(applies(r, 1, POLICY_SEV_SEVERE, "ke de fr"), 0);
	assert_int_equal(applies(r, 1, POLICY_SEV_MODERATE, "region:AF"), 0);
	/* the older audience: every team of it */
	assert_int_equal(applies(r, 2, POLICY_SEV_UNKNOWN, "all"), 1);
	assert_int_equal(applies(r, 2, POLICY_SEV_UNKNOWN, "ke ug ae de"), 0);
	/* both conditions together */
	assert_int_equal(applies(r, 3, POLICY_SEV_MINOR, "ke ug"), 0);
	assert_int_equal(applies(r, 3, POLICY_SEV_MINOR, "ke ug de"), 1);
	assert_int_equal(applies(r, 3, POLICY_SEV_MINOR, "ke de fr"), 0);
	/* no condition: any audience; an out-of-range severity: none */
	assert_int_equal(applies(r, 4, POLICY_SEV_MINOR, "de"), 1);
	assert_int_equal(applies(r, 4, POLICY_SEV_COUNT, "de"), 0);
	assert_int_equal(applies(r, 4, -1, "de"), 0);

	policy_quorum_explain(r, &r->quorum[0], why, sizeof(why));
	assert_string_equal(why, "2 issuers for Extreme alerts to 4 teams or "
	    "more");
	policy_quorum_explain(r, &r->quorum[1], why, sizeof(why));
	assert_string_equal(why, "3 issuers for Severe or Extreme alerts to "
	    "every team of \"region:AF\" (2 teams) or of \"gulf\" (1 team)");
	policy_quorum_explain(r, &r->quorum[2], why, sizeof(why));
	assert_string_equal(why, "4 issuers for alerts of any severity to "
	    "every team of \"all\" (5 teams)");
	policy_quorum_explain(r, &r->quorum[3], why, sizeof(why));
	assert_string_equal(why, "2 issuers for alerts of any severity to 3 "
	    "teams or more and to every team of \"region:AF\" (2 teams)");
	policy_quorum_explain(r, &r->quorum[4], why, sizeof(why));
	assert_string_equal(why, "2 issuers for Minor alerts to any audience");
	/* cut, never overrun */
	policy_quorum_explain(r, &r->quorum[1], why, 20);
	assert_int_equal(strlen(why), 19);
	policy_free(r);

	/* a size above the repository's: legal, and said to protect nothing */
	r = load_warned(GW ISS POL TEAMS5 "quorum = (\n"
	    "{ min_teams = 6; issuers = 2; } );\n", 7, "applies to no alert");
	policy_free(r);
}

static void
test_quorum_mistakes(void **state)
{
	static const struct mistake m[] = {
		{ "min_teams = 0;", "min_teams = 0 is out of range" },
		{ "min_teams = 4097;", "min_teams = 4097 is out of range" },
		{ "min_teams = -3;", "out of range" },
		{ "min_teams = \"3\";", "min_teams must be an integer" },
		{ "min_teams = 2.5;", "min_teams must be an integer" },
		{ "groups = [ ];", "groups is empty" },
		{ "groups = \"all\";", "groups must be" },
		{ "groups = [ 1 ];", "groups" },
		{ "groups = [ \"\" ];", "empty name" },
		{ "groups = [ \"all\", \"atlantis\" ];", "names no team" },
		{ "groups = [ \"region:XX\" ];", "unknown region" },
		{ "groups = [ \"all\" ]; audience = \"all\";",
		  "both audience and groups" },
		{ "min_team = 3;", "unknown key \"min_team\"" },
	};

	(void)state;
	expect_mistakes(GW ISS POL TEAMS5 "quorum = (\n"
	    "{ issuers = 2; %s } );\n", 7, m, NELEM(m));
}

static void
test_group_problems(void **state)
{
	char text[8192];
	size_t o;

	(void)state;
	/* Cycles through three groups. */
	expect_one_error(GW ISS POL TEAMS
	    "groups = { a = [ \"b\" ]; b = [ \"c\" ]; c = [ \"a\", \"ke\" ]; };",
	    0, "(a cycle)");
	/* An empty group, a group named like a team, "all" as a name. */
	expect_one_error(GW ISS POL TEAMS "groups = { e = [ ]; };", 5,
	    "has no members");
	expect_one_error(GW ISS POL TEAMS "groups = { ke = [ \"all\" ]; };", 5,
	    "has the name of a team id");
	expect_one_error(GW ISS POL TEAMS "groups = { ALL = [ \"ke\" ]; };", 5,
	    "reserved address");
	/* A chain deeper than the limit. */
	o = (size_t)snprintf(text, sizeof(text), GW ISS POL TEAMS "groups = {\n");
	for (int i = 0; i < POLICY_MAX_GROUP_DEPTH + 2; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "g%d = [ \"g%d\" ];\n", i, i + 1);
	(void)snprintf(text + o, sizeof(text) - o, "g%d = [ \"ke\" ]; };\n",
	    POLICY_MAX_GROUP_DEPTH + 2);
	expect_one_error(text, 0, "nest deeper than");
	/* A chain at the limit is fine and resolves. */
	o = (size_t)snprintf(text, sizeof(text), GW ISS POL TEAMS "groups = {\n");
	for (int i = 0; i < POLICY_MAX_GROUP_DEPTH - 1; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "g%d = [ \"g%d\" ];\n", i, i + 1);
	(void)snprintf(text + o, sizeof(text) - o, "g%d = [ \"ke\" ]; };\n",
	    POLICY_MAX_GROUP_DEPTH - 1);
	expect_ok(text);
	/* Many paths to one group: expanded once, still right. */
	expect_ok(GW ISS POL TEAMS "groups = { a = [ \"b\", \"b\", \"c\" ]; "
	    "b = [ \"c\", \"c\" ]; c = [ \"ke\" ]; };");
}

static void
test_target_contacts(void **state)
{
	struct policy_diag d;
	struct policy_repo *r = load_good(&d);
	const struct policy_team *ke = policy_team_find(r, "ke");
	const struct policy_team *ae = policy_team_find(r, "ae");
	struct policy_target t = { POLICY_WHO_PRIMARY, &chan_sms.kind, false };
	struct policy_contact cs[3];
	struct policy_team fake;
	size_t idx[32], n;

	(void)state;
	policy_target_contacts(ke, &t, idx, &n);
	assert_int_equal(n, 1);
	assert_int_equal(idx[0], 0);
	assert_string_equal(policy_contact_endpoint(&ke->contacts[0], &t),
	    "+254700555101");
	t.emergency = true;
	assert_string_equal(policy_contact_endpoint(&ke->contacts[0], &t),
	    "+254733555101");
	t.channel = &chan_voice.kind;
	assert_string_equal(policy_contact_endpoint(&ke->contacts[0], &t),
	    "+254733555101");
	t.emergency = false;
	assert_string_equal(policy_contact_endpoint(&ke->contacts[0], &t),
	    "+254205550101");
	t.channel = &chan_fax.kind;
	assert_string_equal(policy_contact_endpoint(&ke->contacts[0], &t),
	    "+254205550199");
	t.channel = &chan_pgp_email.kind;
	assert_string_equal(policy_contact_endpoint(&ke->contacts[0], &t),
	    "amani@nic.example.ke");
	assert_null(policy_contact_endpoint(&ke->contacts[2], &t));
	t.channel = &chan_voice.kind;
	assert_null(policy_contact_endpoint(&ke->contacts[1], &t));

	t.who = POLICY_WHO_SUBSTITUTE;
	policy_target_contacts(ke, &t, idx, &n);
	assert_int_equal(n, 1);
	assert_int_equal(idx[0], 1);
	t.who = POLICY_WHO_ALL;
	policy_target_contacts(ke, &t, idx, &n);
	assert_int_equal(n, 3);
	assert_true(idx[0] == 0 && idx[1] == 1 && idx[2] == 2);
	t.who = POLICY_WHO_TEAM;
	t.channel = &chan_sshdrop.kind;
	policy_target_contacts(ke, &t, idx, &n);
	assert_int_equal(n, 0);
	assert_null(policy_contact_endpoint(&ke->contacts[0], &t));

	/* No primary: the first contact that is no substitute. */
	t.who = POLICY_WHO_PRIMARY;
	policy_target_contacts(ae, &t, idx, &n);
	assert_int_equal(n, 1);
	assert_int_equal(idx[0], 0);
	memset(cs, 0, sizeof(cs));
	memset(&fake, 0, sizeof(fake));
	cs[0].substitute = true;
	cs[2].substitute = true;
	fake.contacts = cs;
	fake.ncontacts = 3;
	policy_target_contacts(&fake, &t, idx, &n);
	assert_int_equal(n, 1);
	assert_int_equal(idx[0], 1);
	/* Several primaries are all paged. */
	cs[0].primary = cs[2].primary = true;
	policy_target_contacts(&fake, &t, idx, &n);
	assert_int_equal(n, 2);
	assert_true(idx[0] == 0 && idx[1] == 2);
	/* Only substitutes, no primary: nobody. */
	cs[0].primary = cs[2].primary = false;
	cs[1].substitute = true;
	policy_target_contacts(&fake, &t, idx, &n);
	assert_int_equal(n, 0);

	policy_diag_free(&d);
	policy_free(r);
}

/* A target whose channel a targeted contact lacks. */
static void
test_channel_needs(void **state)
{
	(void)state;
#define POLX(targets) "policies = { p = { steps = ( { after = \"0s\"; " \
	"notify = [ " targets " ]; } ); }; };\n"
#define TEAMX(contact) "teams = ( { id = \"ke\"; domain = \"x\"; " \
	"cctld_operator = \"o\"; region = \"AF\"; policy = \"p\";\n" \
	"contacts = ( " contact " ); } );\n"
#define C(extra) "{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; " extra " }"

	expect_one_error(GW ISS POLX("\"primary:sms\"")
	    TEAMX(C("phone = \"+254205550101\";")), 5,
	    "has no mobile, but policy \"p\" step 1 sends primary:sms");
	expect_one_error(GW ISS POLX("\"primary:voice\"")
	    TEAMX(C("mobile = \"+254700555101\";")), 5, "has no phone");
	expect_one_error(GW ISS POLX("\"primary:sms:emergency\"")
	    TEAMX(C("mobile = \"+254700555101\";")), 5,
	    "has no emergency_phone");
	expect_ok(GW ISS POLX("\"primary:sms:emergency\", "
	    "\"all:voice:emergency\"")
	    TEAMX(C("emergency_phone = \"+254733555101\";")));
	/* pgp-email needs both; with an smtp provider, no warning. */
	expect_one_error(GW ISS POLX("\"all:pgp-email\"")
	    TEAMX(C("fax = \"+254205550199\";")), 5, "has no email and pgp");
	/* (fax_detail: the only error is the contact's.) */
	expect_one_error(GW ISS "policies = { p = { fax_detail = \"summary\"; "
	    "steps = ( { after = \"0s\"; notify = [ \"all:fax\" ]; } ); }; };\n"
	    TEAMX("{ name = \"m\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\" ]; mobile = \"+254700555101\"; }, "
	    C("fax = \"+254205550199\";")), 5,
	    "contact \"m\" has no fax, but policy \"p\" step 1 sends all:fax");
	/* :emergency only with sms and voice; sshdrop only for the team. */
	expect_one_error(GW ISS POLX("\"primary:pgp-email:emergency\"") TEAMS, 3,
	    "uses :emergency with pgp-email");
	expect_one_error(GW ISS POLX("\"primary:sshdrop\"") TEAMS, 3,
	    "write team:sshdrop");
	expect_one_error(GW ISS POLX("\"team:sms\"") TEAMS, 3,
	    "only sshdrop goes to the team");
	expect_one_error(GW ISS POLX("\"boss:sms\"") TEAMS, 3, "names no one");
	expect_one_error(GW ISS POLX("\"primary:pager\"") TEAMS, 3,
	    "names no channel");
	expect_one_error(GW ISS POLX("\"primary:sms:urgent\"") TEAMS, 3,
	    "unknown suffix");
	expect_one_error(GW ISS POLX("\"primary\"") TEAMS, 3,
	    "is not WHO:CHANNEL");
	expect_one_error(GW ISS POLX("") TEAMS, 3, "notify is empty");
}

static void
test_warnings_only(void **state)
{
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	/* No substitute, no smtp for pgp-email, sshdrop, no issuers: warnings
	   alone, so the load succeeds. */
	assert_int_equal(load_str(GW "policies = { p = { steps = ( { after = 0; "
	    "notify = [ \"substitute:sms\", \"team:sshdrop\", "
	    "\"primary:sms\", \"primary:sms\" ]; } ); }; };\n" TEAMS, &d, &r),
	    0);
	assert_non_null(r);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 4);
	assert_diag(&d, POLICY_WARNING, "t.conf", 3, "has no substitute contact");
	assert_diag(&d, POLICY_WARNING, "t.conf", 3, "team \"ke\"'s policy "
	    "\"p\" sends team:sshdrop at step 1 but the team has no sshdrop; "
	    "add sshdrop = { host = ");
	assert_diag(&d, POLICY_WARNING, "t.conf", 2, "listed twice");
	assert_diag(&d, POLICY_WARNING, "t.conf", 0, "no issuers");
	policy_free(r);
	policy_diag_free(&d);
}

static void
test_value_mistakes(void **state)
{
	(void)state;
	expect_ok(GW ISS POL TEAMS);
	/* Types. */
	expect_one_error("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "workers = \"4\"; };\n" ISS POL TEAMS, 2, "must be an integer");
	expect_one_error("gateway = { store = 5; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\"; };\n"
	    ISS POL TEAMS, 1, "store must be a string");
	expect_one_error("gateway = ( 1 );\n" ISS POL TEAMS, 1,
	    "gateway must be a group");
	expect_one_error(GW ISS POL "teams = { a = 1; };\n", 4,
	    "teams must be a list");
	expect_one_error(GW ISS POL TEAMS "extra = 1;\n", 5,
	    "unknown key \"extra\"");
	expect_one_error(GW ISS POL TEAMS "team = ( );\n", 5,
	    "did you mean \"teams\"");
	/* libconfig would wrap this to 1; it must be refused. */
	expect_one_error("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "workers = 4294967297; };\n" ISS POL TEAMS, 2,
	    "integer \"4294967297\" is out of range");
	expect_one_error("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "max_alert_bytes = 0x100000400; };\n" ISS POL TEAMS, 2,
	    "is out of range");
	expect_one_error("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "max_alert_bytes = 4294968320L; };\n" ISS POL TEAMS, 2,
	    "max_alert_bytes = 4294968320 is out of range");
	expect_one_error("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "workers = 0; };\n" ISS POL TEAMS, 2, "workers = 0 is out of range");
	expect_ok("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "workers = 0x10LL; max_alert_bytes = 2048L; };\n" ISS POL TEAMS);
	expect_one_error("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "max_alert_bytes = 16777217; };\n" ISS POL TEAMS, 2,
	    "out of range");
	expect_ok("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "max_alert_bytes = 16777216; workers = 64; };\n" ISS POL TEAMS);
	expect_one_error("gateway = { store = \"~/s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\"; };\n"
	    ISS POL TEAMS, 1, "not expanded");
	expect_one_error("gateway = { store = \"s\"; gnupg_home = \"g\"; "
	    "signing_key = \"" FPR_A "\"; public_url = \"https://x/\";\n"
	    "listen = \"8025\"; };\n" ISS POL TEAMS, 2, "is not HOST:PORT");
	/* Control characters and bad UTF-8 in strings. */
	expect_one_error(GW ISS POL "teams = ( { id = \"ke\"; domain = \"x\"; "
	    "cctld_operator = \"a\\nb\"; region = \"AF\"; policy = \"p\";\n"
	    "contacts = ( " CONTACT " ); } );\n", 4, "control character");
	expect_one_error(GW ISS POL "teams = ( { id = \"ke\"; domain = \"x\"; "
	    "cctld_operator = \"a\xff\"; region = \"AF\"; policy = \"p\";\n"
	    "contacts = ( " CONTACT " ); } );\n", 4, "not valid UTF-8");
	expect_ok(GW ISS POL "teams = ( { id = \"ke\"; domain = \"x\"; "
	    "cctld_operator = \"Zo\xc3\xab \xe6\x97\xa5\"; region = \"AF\"; "
	    "policy = \"p\";\ncontacts = ( " CONTACT " ); } );\n");
	/* Issuers. */
	expect_one_error(GW "issuers = ( { name = \"d\"; openpgp = \"" FPR_B
	    "\"; may_address = [ \"all\" ]; },\n{ name = \"d\"; certificate = "
	    "\"c.pem\"; may_address = [ \"all\" ]; } );\n" POL TEAMS, 3,
	    "issuer names must be unique");
	expect_one_error(GW "issuers = ( { name = \"d\"; openpgp = \"" FPR_B
	    "\"; may_address = [ \"all\" ]; },\n{ name = \"e\"; openpgp = \""
	    FPR_B "\"; may_address = [ \"all\" ]; } );\n" POL TEAMS, 3,
	    "one key is one issuer");
	expect_one_error(GW "issuers = ( { name = \"d\"; openpgp = \"" FPR_B
	    "\"; may_address = [ \"all\" ]; severities = [ ]; } );\n" POL TEAMS,
	    2, "matches nothing");
	/* Quorum bounds. */
	expect_one_error(GW ISS "quorum = ( { issuers = 17; } );\n" POL TEAMS,
	    3, "from 2 to 16");
	expect_one_error(GW ISS "quorum = ( { audience = \"all\"; } );\n" POL
	    TEAMS, 3, "issuers is missing");
	/* SMTP. */
	expect_one_error(GW ISS POL TEAMS "providers = { smtp = { host = \"h\"; "
	    "from = \"t@example.net\";\nstarttls = \"none\"; }; };\n", 6,
	    "set local = true");
	expect_ok(GW ISS POL TEAMS "providers = { smtp = { host = \"h\"; "
	    "from = \"t@example.net\"; starttls = \"none\"; local = true; }; };");
	expect_one_error(GW ISS POL TEAMS "providers = { smtp = { host = \"h\"; "
	    "from = \"T <t@example.net>\"; }; };\n", 5,
	    "not a plain e-mail address");
	expect_one_error(GW ISS POL TEAMS "providers = { pager = { }; };\n", 5,
	    "unknown key \"pager\"");
	expect_one_error(GW ISS POL TEAMS "providers = { sms = { }; };\n", 5,
	    "sms must be a list");
	/* Policies. */
	expect_one_error(GW ISS "policies = { p = { steps = ( { after = \"5m\"; "
	    "notify = [ \"primary:sms\" ]; },\n{ after = \"1m\"; notify = "
	    "[ \"primary:sms\" ]; } ); }; };\n" TEAMS, 4,
	    "must not decrease along the ladder");
	expect_ok(GW ISS "policies = { p = { steps = ( { after = \"5m\"; "
	    "notify = [ \"primary:sms\" ]; },\n{ after = 300; notify = "
	    "[ \"all:sms\" ]; } ); }; };\n" TEAMS);
	expect_one_error(GW ISS "policies = { p = { steps = ( { after = \"5x\"; "
	    "notify = [ \"primary:sms\" ]; } ); }; };\n" TEAMS, 3,
	    "is not a duration");
	expect_one_error(GW ISS "policies = { p = { steps = ( { "
	    "notify = [ \"primary:sms\" ]; } ); }; };\n" TEAMS, 3,
	    "after is missing");
	expect_one_error(GW ISS "policies = { p = { repeat = 101; steps = ( { "
	    "after = 0; notify = [ \"primary:sms\" ]; } ); }; };\n" TEAMS, 3,
	    "repeat = 101 is out of range");
	expect_one_error(GW ISS "policies = { p = { steps = ( ); }; };\n" TEAMS,
	    3, "steps is empty");
	expect_one_error(GW ISS POL "teams = ( { id = \"ke\"; domain = \"x\"; "
	    "cctld_operator = \"o\"; region = \"AF\"; policy = \"q\";\n"
	    "contacts = ( " CONTACT " ); } );\n", 4,
	    "did you mean \"p\"");
}

static void
test_team_and_contact_mistakes(void **state)
{
	static const char *const bad_ids[] = { "a", "-ab", "ab/", "../x",
		"Ke", "k e", "abcdefghijklmnopqrstuvwxyz0123456", "k.e", "" };
	char text[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		(void)snprintf(text, sizeof(text), GW ISS POL "teams = ( "
		    "{ id = \"%s\"; domain = \"x\"; cctld_operator = \"o\"; "
		    "region = \"AF\"; policy = \"p\";\ncontacts = ( " CONTACT
		    " ); }, " TEAM("ok") " );\n", bad_ids[i]);
		expect_one_error(text, 4, bad_ids[i][0] ? "is not a team id" :
		    "id is empty");
	}
	expect_ok(GW ISS POL "teams = ( " TEAM("ab") ", "
	    TEAM("abcdefghijklmnopqrstuvwxyz012345") ", " TEAM("0-9") " );\n");
	expect_one_error(GW ISS POL "teams = ( " TEAM("ke") ",\n" TEAM("ke")
	    " );\n", 5, "duplicate team id");
	expect_one_error(GW ISS POL "teams = ( );\n", 4, "teams is empty");
	expect_one_error(GW ISS POL, 0, "the teams section is missing");
	expect_one_error(GW ISS POL "teams = ( { id = \"ke\"; domain = \"x\"; "
	    "cctld_operator = \"o\"; region = \"EUR\"; policy = \"p\";\n"
	    "contacts = ( " CONTACT " ); } );\n", 4, "region \"EUR\" is unknown");
	expect_one_error(GW ISS POL "teams = ( { id = \"ke\"; domain = \"x\"; "
	    "cctld_operator = \"o\"; region = \"AF\"; policy = \"p\"; "
	    "contacts = ( ); } );\n", 4, "contacts is empty");
	expect_one_error(GW ISS POL "teams = ( { id = \"ke\"; domain = \"x\"; "
	    "cctld_operator = \"o\"; policy = \"p\";\n"
	    "contacts = ( " CONTACT " ); } );\n", 4, "region is missing");
#define T1(contact) GW ISS POL "teams = ( { id = \"ke\"; domain = \"x\"; " \
	"cctld_operator = \"o\"; region = \"AF\"; policy = \"p\";\n" \
	"contacts = ( " contact " ); } );\n"
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; languages = "
	    "[ \"en\" ]; mobile = \"+254700555101\"; }"), 5,
	    "timezone is missing");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "mobile = \"+254700555101\"; }"), 5, "languages is missing");
	expect_one_error(T1("{ name = \"n\"; timezone = \"UTC\"; languages = "
	    "[ \"en\" ]; mobile = \"+254700555101\"; }"), 5,
	    "role is missing");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\" ]; }"), 5, "has no reachable channel");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\" ]; mobile = \"+254700555101\"; "
	    "pgp = \"12\"; }"), 5, "not a full OpenPGP fingerprint");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\" ]; mobile = \"+254700555101\"; "
	    "business_hours = \"09:00-09:00\"; }"), 5, "business_hours");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\" ]; mobile = \"+254700555101\"; "
	    "business_hours = \"09:00-24:01\"; }"), 5, "business_hours");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en_US\" ]; mobile = \"+254700555101\"; }"), 5,
	    "not a BCP 47 tag");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ ]; mobile = \"+254700555101\"; }"), 5,
	    "languages is empty");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = "
	    "\"../../../etc/passwd\"; languages = [ \"en\" ]; "
	    "mobile = \"+254700555101\"; }"), 5, "has a character");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\" ]; mobile = \"+254700555101\"; "
	    "email = \"a b@example.org\"; pgp = \"" FPR_A "\"; }"), 5,
	    "not a plain e-mail address");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\" ]; mobile = \"+254700555101\"; "
	    "messengers = ( { service = \"signal\"; } ); }"), 5,
	    "id is missing");
	expect_one_error(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\" ]; mobile = \"+254700555101\"; "
	    "country = \"KEN\"; }"), 5, "ISO 3166-1 alpha-2");
	expect_ok(T1("{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; "
	    "languages = [ \"en\", \"pt-BR\", \"zh-Hant\", \"fil\" ]; "
	    "mobile = \"+254700555101\"; business_hours = \"18:00-24:00\"; "
	    "email = \"a@example.org\"; pgp = \"" FPR_A "\"; }"));
}

/* Counts over the limits are errors, not silent truncation. */
static void
test_limits(void **state)
{
	size_t cap = 1u << 20, o;
	char *text = malloc(cap);
	char big[POLICY_MAX_VALUE + 2];

	(void)state;
	assert_non_null(text);
	/* 33 contacts in a team. */
	o = (size_t)snprintf(text, cap, GW ISS POL "teams = ( { id = \"ke\"; "
	    "domain = \"x\"; cctld_operator = \"o\"; region = \"AF\"; "
	    "policy = \"p\";\ncontacts = (\n");
	for (int i = 0; i <= POLICY_MAX_CONTACTS; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s{ name = \"n%d\"; "
		    "role = \"r\"; timezone = \"UTC\"; languages = [ \"en\" ]; "
		    "mobile = \"+254700555101\"; }\n", i ? "," : "", i);
	(void)snprintf(text + o, cap - o, "); } );\n");
	expect_one_error(text, 5, "33 contacts, more than the 32 allowed");

	/* 33 steps, 17 targets in a step. */
	o = (size_t)snprintf(text, cap, GW ISS "policies = { p = { steps = (\n");
	for (int i = 0; i <= POLICY_MAX_STEPS; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s{ after = %d; "
		    "notify = [ \"all:sms\" ]; }\n", i ? "," : "", i);
	(void)snprintf(text + o, cap - o, "); }; };\n" TEAMS);
	expect_one_error(text, 3, "33 steps, more than the 32 allowed");
	o = (size_t)snprintf(text, cap, GW ISS "policies = { p = { steps = ( "
	    "{ after = 0;\nnotify = [ ");
	for (int i = 0; i <= POLICY_MAX_TARGETS; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s\"all:sms\"",
		    i ? ", " : "");
	(void)snprintf(text + o, cap - o, " ]; } ); }; };\n" TEAMS);
	expect_one_error(text, 4, "notify has 17 entries, more than the 16");

	/* 4097 teams. */
	o = (size_t)snprintf(text, cap, GW ISS POL "teams = (\n");
	for (int i = 0; i <= POLICY_MAX_TEAMS; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s{ id = \"t%d\"; "
		    "domain = \"x\"; cctld_operator = \"o\"; region = \"AF\"; "
		    "policy = \"p\"; contacts = ( " CONTACT " ); }\n",
		    i ? "," : "", i);
	(void)snprintf(text + o, cap - o, ");\n");
	expect_one_error(text, 4, "teams has 4097 entries");

	/* Strings: values up to 1024 bytes, names up to 256. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	(void)snprintf(text, cap, GW ISS POL "teams = ( { id = \"ke\"; "
	    "domain = \"x\"; cctld_operator = \"o\"; region = \"AF\"; "
	    "policy = \"p\";\ncontacts = ( { name = \"n\"; role = \"r\"; "
	    "timezone = \"UTC\"; languages = [ \"en\" ]; mobile = "
	    "\"+254700555101\";\nother_telecom = \"%s\"; } ); } );\n", big);
	expect_one_error(text, 6, "1025 bytes long, more than the 1024");
	big[POLICY_MAX_NAME + 1] = '\0';
	(void)snprintf(text, cap, GW ISS POL "teams = ( { id = \"ke\"; "
	    "domain = \"x\"; cctld_operator = \"o\"; region = \"AF\"; "
	    "policy = \"p\";\ncontacts = ( { name = \"%s\"; role = \"r\"; "
	    "timezone = \"UTC\"; languages = [ \"en\" ]; mobile = "
	    "\"+254700555101\"; } ); } );\n", big);
	expect_one_error(text, 5, "257 bytes long, more than the 256");
	/* Brackets nested beyond reason are refused before parsing. */
	o = (size_t)snprintf(text, cap, GW "x = ");
	for (int i = 0; i < 5000; i++)
		text[o++] = '(';
	text[o] = '\0';
	expect_one_error(text, 2, "brackets nested deeper");
	free(text);
}

/* Sections read entry by entry stop at their limit, said at the section. */
static void
test_section_limits(void **state)
{
	size_t cap = 1u << 20, o;
	char *text = malloc(cap);
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	assert_non_null(text);
	o = (size_t)snprintf(text, cap, GW ISS POL TEAMS "quorum = (\n");
	for (int i = 0; i <= POLICY_MAX_QUORUM; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s{ issuers = 2; }\n",
		    i ? "," : "");
	(void)snprintf(text + o, cap - o, ");\n");
	expect_one_error(text, 5, "quorum has 65 rules, more than the 64 "
	    "allowed; remove some");

	o = (size_t)snprintf(text, cap, GW POL TEAMS "issuers = (\n");
	for (int i = 0; i <= POLICY_MAX_ISSUERS; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s{ name = \"i%d\"; "
		    "certificate = \"c.pem\"; may_address = [ \"all\" ]; }\n",
		    i ? "," : "", i);
	(void)snprintf(text + o, cap - o, ");\n");
	expect_one_error(text, 4, "issuers has 257 entries, more than the "
	    "256 allowed; remove some");

	/* TEAMS names policy p, the first; the others are p1, p2 ... */
	o = (size_t)snprintf(text, cap, GW ISS TEAMS "policies = {\n");
	for (int i = 0; i <= POLICY_MAX_POLICIES; i++) {
		char name[16] = "p";

		if (i > 0)
			(void)snprintf(name, sizeof(name), "p%d", i);
		o += (size_t)snprintf(text + o, cap - o, "%s = { steps = ( { "
		    "after = 0; notify = [ \"all:sms\" ]; } ); };\n", name);
	}
	(void)snprintf(text + o, cap - o, "};\n");
	expect_one_error(text, 4, "policies has 257 entries, more than the "
	    "256 allowed; remove some");

	o = (size_t)snprintf(text, cap, GW ISS POL TEAMS "groups = {\n");
	for (int i = 0; i <= POLICY_MAX_GROUPS; i++)
		o += (size_t)snprintf(text + o, cap - o, "g%d = [ \"ke\" ];\n",
		    i);
	(void)snprintf(text + o, cap - o, "};\n");
	expect_one_error(text, 5, "groups has 4097 entries, more than the "
	    "4096 allowed; remove some");

	/* At the limit, every entry is read. */
	o = (size_t)snprintf(text, cap, GW ISS POL TEAMS "quorum = (\n");
	for (int i = 0; i < POLICY_MAX_QUORUM; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s{ issuers = 2; }\n",
		    i ? "," : "");
	(void)snprintf(text + o, cap - o, ");\n");
	assert_int_equal(load_str(text, &d, &r), 0);
	assert_int_equal(r->nquorum, POLICY_MAX_QUORUM);
	assert_int_equal(r->quorum[POLICY_MAX_QUORUM - 1].issuers, 2);
	policy_free(r);
	policy_diag_free(&d);
	free(text);
}

/*
 * Members that are lists of groups (a policy's steps, a team's contacts, a
 * contact's messengers), and strings checked by a rule (a team's domain,
 * country and region, a contact's email): each mistake's whole message.
 */
#define TEAM_WITH(rest) GW ISS POL "teams = ( { id = \"ke\"; domain = " \
	"\"x\"; cctld_operator = \"o\"; region = \"AF\"; policy = \"p\";\n" \
	rest " } );\n"
#define CONTACT_WITH(rest) TEAM_WITH("contacts = ( { name = \"n\"; " \
	"role = \"r\"; timezone = \"UTC\"; languages = [ \"en\" ]; " \
	"mobile = \"+254700555101\";\n" rest " } );")

static void
test_list_members(void **state)
{
	static const struct exact team[] = {
		{ "", 4, "team \"ke\": contacts is missing; add contacts = "
		  "( { name = ...; role = ...; ... } );" },
		{ "contacts = \"n\";", 5, "team \"ke\": contacts must be a "
		  "list ( { ... }, ... ), not a string" },
		{ "contacts = [ ];", 5, "team \"ke\": contacts is empty; a "
		  "team needs at least one contact" },
	};
	static const struct exact contact[] = {
		{ "messengers = \"signal\";", 6, "team \"ke\" contact \"n\": "
		  "messengers must be a list ( { service = ...; id = ...; } ), "
		  "not a string" },
		{ "messengers = ( 1 );", 6, "team \"ke\" contact \"n\": "
		  "messenger 1 must be a group { service = ...; id = ...; }, "
		  "not an integer" },
		{ "email = \"<a@example.org>\"; pgp = \"" FPR_A "\";", 6,
		  "team \"ke\" contact \"n\": email \"<a@example.org>\" is not "
		  "a plain e-mail address; write e.g. \"name@example.org\" (no "
		  "display name, no brackets)" },
		{ "country = \"KEN\";", 6, "team \"ke\" contact \"n\": country "
		  "\"KEN\" is not an ISO 3166-1 alpha-2 code; write two "
		  "letters, e.g. \"KE\"" },
	};
	static const struct exact steps[] = {
		{ "", 3, "policy \"p\": steps is missing; add steps = ( { after "
		  "= \"0s\"; notify = [ \"primary:pgp-email\" ]; } );" },
		{ "steps = [ ];", 4, "policy \"p\": steps must be a list ( { "
		  "... }, ... ), not an array [ ... ]; write steps = ( { after "
		  "= \"0s\"; notify = [ ... ]; } );" },
		{ "steps = ( );", 4, "policy \"p\": steps is empty, so the "
		  "policy reaches no one; add at least one step" },
	};
	static const struct exact fields[] = {
		{ "domain = \"-x\";", 4, "team \"ke\": domain \"-x\" is not a "
		  "domain name; write the ccTLD in ASCII, e.g. \"ke\" or "
		  "\"xn--fiqs8s\"" },
		{ "region = \"AFR\";", 4, "team \"ke\": region \"AFR\" is "
		  "unknown; use one of AF, AN, AS, EU, NA, OC, SA" },
		{ "country = \"k\";", 4, "team \"ke\": country \"k\" is not an "
		  "ISO 3166-1 alpha-2 code; write two letters, e.g. \"KE\"" },
	};
	char text[8192];
	struct exact many = { text, 6, "team \"ke\" contact \"n\": 17 "
	    "messengers, more than the 16 allowed; remove some" };
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	expect_exact(TEAM_WITH("%s"), team, NELEM(team));
	expect_exact(CONTACT_WITH("%s"), contact, NELEM(contact));
	expect_exact(GW ISS "policies = { p = {\n%s\n}; };\n" TEAMS, steps,
	    NELEM(steps));
	/* The team's own fields: each mistake on the team's first line,
	   in place of the good value. */
	for (size_t i = 0; i < NELEM(fields); i++) {
		struct exact one = fields[i];

		(void)snprintf(text, sizeof(text), GW ISS POL "teams = ( { "
		    "id = \"ke\"; cctld_operator = \"o\"; policy = \"p\"; "
		    "%s%s%s%%s\ncontacts = ( " CONTACT " ); } );\n",
		    strncmp(one.text, "domain", 6) ? "domain = \"x\"; " : "",
		    strncmp(one.text, "region", 6) ? "region = \"AF\"; " : "",
		    strncmp(one.text, "country", 7) ? "country = \"KE\"; " : "");
		expect_exact(text, &one, 1);
	}
	/* 17 messengers: the first 16 are read. */
	(void)snprintf(text, sizeof(text), "%s", "messengers = ( ");
	for (int i = 0; i <= POLICY_MAX_MESSENGERS; i++)
		(void)snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "%s{ service = \"s\"; id = \"%d\"; }", i ? ", " : "", i);
	(void)snprintf(text + strlen(text), sizeof(text) - strlen(text), " );");
	expect_exact(CONTACT_WITH("%s"), &many, 1);
	/* An empty messengers list, [ ] or ( ), is allowed. */
	assert_int_equal(load_str(CONTACT_WITH("messengers = [ ];"), &d, &r),
	    0);
	assert_int_equal(r->teams[0].contacts[0].nmessengers, 0);
	policy_free(r);
	policy_diag_free(&d);
}

static void
test_duration(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t v;
	} cases[] = {
		{ "0", 0, 0 }, { "0s", 0, 0 }, { "30s", 0, 30 },
		{ "15m", 0, 900 }, { "2h", 0, 7200 }, { "1d", 0, 86400 },
		{ "90", 0, 90 }, { "400d", 0, 400LL * 86400 },
		{ "9600h", 0, 9600LL * 3600 }, { "34560000", 0, 34560000 },
		{ "401d", TOCSIN_EDATA, 0 }, { "34560001", TOCSIN_EDATA, 0 },
		{ "99999999999999999999", TOCSIN_EDATA, 0 },
		{ "", TOCSIN_EDATA, 0 }, { "s", TOCSIN_EDATA, 0 },
		{ "-5s", TOCSIN_EDATA, 0 }, { "+5s", TOCSIN_EDATA, 0 },
		{ " 5s", TOCSIN_EDATA, 0 }, { "5 s", TOCSIN_EDATA, 0 },
		{ "5s ", TOCSIN_EDATA, 0 }, { "5w", TOCSIN_EDATA, 0 },
		{ "1h30m", TOCSIN_EDATA, 0 }, { "5S", TOCSIN_EDATA, 0 },
		{ "1.5h", TOCSIN_EDATA, 0 }, { "0x10", TOCSIN_EDATA, 0 },
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = -1;
		if (policy_duration_parse(cases[i].s, &v) != cases[i].rc) {
			print_message("duration \"%s\"\n", cases[i].s);
			fail();
		}
		if (cases[i].rc == 0)
			assert_int_equal(v, cases[i].v);
		else
			assert_int_equal(v, -1);	/* untouched */
	}
	assert_int_equal(policy_duration_parse(NULL, &v), TOCSIN_EDATA);
}

static void
test_e164(void **state)
{
	static const struct {
		const char *in;
		const char *out;	/* NULL: refused */
	} cases[] = {
		{ "+254 20 555 0101", "+254205550101" },
		{ "+1 (555) 123-4567", "+15551234567" },
		{ "+44.20.7946.0958", "+442079460958" },
		{ "  +49 30 1234567", "+49301234567" },
		{ "+12345678", "+12345678" },			/* 8 digits */
		{ "+1234567", NULL },				/* 7 */
		{ "+123456789012345", "+123456789012345" },	/* 15 */
		{ "+1234567890123456", NULL },			/* 16 */
		{ "254205550101", NULL },
		{ "+0254205550101", NULL },
		{ "++254205550101", NULL },
		{ "+254 20 555 0101 ext 5", NULL },
		{ "+254/20/5550101", NULL },
		{ "+254205550101\n", NULL },
		{ "+", NULL }, { "", NULL },
		{ "+254 20 555 01+01", NULL },
		{ "+1                                                     "
		  "                    2345678", NULL },
	};
	char out[17];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = policy_e164_normalise(cases[i].in, out, sizeof(out));

		if ((rc == 0) != (cases[i].out != NULL)) {
			print_message("e164 \"%s\" rc=%d\n", cases[i].in, rc);
			fail();
		}
		if (rc == 0)
			assert_string_equal(out, cases[i].out);
		else
			assert_int_equal(rc, TOCSIN_EDATA);
	}
	/* The output buffer is checked too. */
	assert_int_equal(policy_e164_normalise("+254205550101", out, 13),
	    TOCSIN_EDATA);
	assert_int_equal(policy_e164_normalise("+254205550101", out, 14), 0);
	assert_int_equal(policy_e164_normalise(NULL, out, sizeof(out)),
	    TOCSIN_EDATA);
}

static void
test_fpr_and_names(void **state)
{
	char out[POLICY_FPR_LEN + 1];

	(void)state;
	assert_int_equal(policy_fpr_normalise("0123 4567 89ab cdef 0123  4567 "
	    "89AB CDEF 0123 4567", out), 0);
	assert_string_equal(out, "0123456789ABCDEF0123456789ABCDEF01234567");
	assert_int_equal(policy_fpr_normalise("0123456789ABCDEF0123456789ABCDEF"
	    "0123456", out), TOCSIN_EDATA);
	assert_int_equal(policy_fpr_normalise("0123456789ABCDEF0123456789ABCDEF"
	    "012345678", out), TOCSIN_EDATA);
	assert_int_equal(policy_fpr_normalise("0x23456789ABCDEF0123456789ABCDEF"
	    "01234567", out), TOCSIN_EDATA);
	assert_int_equal(policy_fpr_normalise("G123456789ABCDEF0123456789ABCDEF"
	    "01234567", out), TOCSIN_EDATA);
	assert_int_equal(policy_fpr_normalise("", out), TOCSIN_EDATA);

	assert_int_equal(policy_severity_parse("Extreme"), POLICY_SEV_EXTREME);
	assert_int_equal(policy_severity_parse("Unknown"), POLICY_SEV_UNKNOWN);
	assert_int_equal(policy_severity_parse("extreme"), -1);
	assert_int_equal(policy_status_parse("Exercise"), POLICY_ST_EXERCISE);
	assert_int_equal(policy_status_parse("Draft"), POLICY_ST_DRAFT);
	assert_int_equal(policy_status_parse("Real"), -1);
	assert_ptr_equal(policy_kind_find("pgp-email"), &chan_pgp_email.kind);
	assert_ptr_equal(policy_kind_find("sshdrop"), &chan_sshdrop.kind);
	assert_null(policy_kind_find("pgp"));
}

static void
test_timezones(void **state)
{
	static const char *const good[] = { "UTC", "Africa/Nairobi",
		"America/Argentina/Buenos_Aires", "Etc/GMT+3", "Etc/GMT-14",
		"Europe/Berlin" };
	static const char *const bad[] = { "", "Europe", "posixrules",
		"localtime", "Factory", "right/UTC", "zone.tab", "leapseconds",
		"/etc/passwd", "../../../etc/passwd", "Africa//Nairobi",
		"Africa/", "Africa/Nairobi\n", "Mars/Olympus_Mons",
		"Africa/Nai robi" };
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (policy_timezone_check(good[i], why, sizeof(why)) != 0) {
			print_message("%s: %s\n", good[i], why);
			fail();
		}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (policy_timezone_check(bad[i], why, sizeof(why)) == 0) {
			print_message("accepted \"%s\"\n", bad[i]);
			fail();
		}
}

static void
test_small_parsers(void **state)
{
	int a, b;

	(void)state;
	assert_int_equal(policy_hours_parse("00:00-24:00", &a, &b), 0);
	assert_true(a == 0 && b == 1440);
	assert_int_equal(policy_hours_parse("23:59-00:01", &a, &b), 0);
	assert_true(a == 1439 && b == 1);
	assert_int_equal(policy_hours_parse("24:00-01:00", &a, &b),
	    TOCSIN_EDATA);
	assert_int_equal(policy_hours_parse("09:60-10:00", &a, &b),
	    TOCSIN_EDATA);
	assert_int_equal(policy_hours_parse("9:00-10:00", &a, &b), TOCSIN_EDATA);
	assert_int_equal(policy_hours_parse("09:00 - 10:00", &a, &b),
	    TOCSIN_EDATA);
	assert_int_equal(policy_hours_parse("09:00-10:00Z", &a, &b),
	    TOCSIN_EDATA);
	assert_true(policy_language_valid("en"));
	assert_true(policy_language_valid("sw"));
	assert_true(policy_language_valid("pt-BR"));
	assert_true(policy_language_valid("zh-Hant-TW"));
	assert_false(policy_language_valid("e"));
	assert_false(policy_language_valid("engl"));
	assert_false(policy_language_valid("en-"));
	assert_false(policy_language_valid("en_US"));
	assert_false(policy_language_valid("en-abcdefghi"));
	assert_true(policy_team_id_valid("ke"));
	assert_true(policy_team_id_valid("xn--p1ai"));
	assert_false(policy_team_id_valid("k"));
	assert_false(policy_team_id_valid(".."));
	assert_false(policy_team_id_valid("a/"));
	assert_true(policy_email_valid("a.b@example.org"));
	assert_false(policy_email_valid("a@b@example.org"));
	assert_false(policy_email_valid("a@example.org\r\nBcc: x@y.z"));
	assert_false(policy_email_valid("@example.org"));
	assert_false(policy_email_valid("a@localhost"));
	assert_true(policy_listen_valid("[::1]:8025"));
	assert_true(policy_listen_valid("0.0.0.0:1"));
	assert_false(policy_listen_valid("host:0"));
	assert_false(policy_listen_valid("host:65536"));
	assert_false(policy_listen_valid(":80"));
}

static void
test_diag(void **state)
{
	struct policy_diag d;
	char q[16];

	(void)state;
	policy_diag_init(&d);
	policy_diag_add(&d, POLICY_ERROR, "f", 3, "e%d; fix", 1);
	policy_diag_add(&d, POLICY_WARNING, NULL, 0, "w; %s", "ok");
	assert_int_equal(d.n, 2);
	assert_int_equal(d.errors, 1);
	assert_int_equal(d.warnings, 1);
	assert_string_equal(d.items[0].text, "e1; fix");
	assert_string_equal(d.items[0].file, "f");
	assert_null(d.items[1].file);
	for (int i = 0; i < 100; i++)
		policy_diag_add(&d, POLICY_WARNING, "f", i, "w");
	assert_int_equal(d.n, 102);
	policy_diag_free(&d);
	assert_int_equal(d.n, 0);
	policy_diag_free(&d);
	assert_string_equal(policy_quote(q, sizeof(q), "a\nb"), "\"a?b\"");
	assert_string_equal(policy_quote(q, sizeof(q), "0123456789abcdef"),
	    "\"012345678...\"");
	policy_free(NULL);
}


/* providers.sms and providers.voice */
#define SMSP(extra) "providers = { sms = ( { name = \"tw\"; kind = " \
	"\"twilio\"; url = \"https://api.example\"; account = \"AC1\"; " \
	"secret = \"/tmp/tocsin-test-token\"; from = \"+15555550100\"; " \
	extra " } ); };\n"

static void
test_http_providers(void **state)
{
	struct policy_diag d;
	struct policy_repo *r = NULL;
	const struct policy_provider *out[4];
	FILE *f;

	(void)state;
	f = fopen("/tmp/tocsin-test-token", "w");
	assert_non_null(f);
	fputs("tok", f);
	fclose(f);
	assert_int_equal(chmod("/tmp/tocsin-test-token", 0600), 0);
	assert_int_equal(load_str(GW ISS POL TEAMS SMSP("rate = 5; parallel = "
	    "2; timeout = \"3s\"; segments = 2;"), &d, &r), 0);
	assert_int_equal(r->nsms, 1);
	assert_int_equal(r->sms[0].kind, POLICY_PK_TWILIO);
	assert_int_equal(r->sms[0].rate, 5);
	assert_int_equal(r->sms[0].burst, 5);
	assert_int_equal(r->sms[0].parallel, 2);
	assert_int_equal(r->sms[0].timeout, 3);
	assert_int_equal(r->sms[0].segments, 2);
	assert_string_equal(r->sms[0].prefixes[0], "+");
	policy_free(r);
	policy_diag_free(&d);

	/* a national gateway first for its own numbers, then the rest */
	assert_int_equal(load_str(GW ISS POL TEAMS "providers = { sms = ( "
	    "{ name = \"all\"; kind = \"generic\"; url = \"https://a\"; "
	    "body = \"{\\\"to\\\":\\\"{to}\\\"}\"; }, "
	    "{ name = \"ke\"; kind = \"generic\"; url = \"https://k\"; "
	    "prefixes = [ \"+254\" ]; body = \"to={to}&t={text}\"; "
	    "content_type = \"application/x-www-form-urlencoded\"; "
	    "success = [ 202 ]; id_field = \"id\"; } ); };\n", &d, &r), 0);
	assert_int_equal(policy_providers_for(r->sms, r->nsms, "+254205550101",
	    out, 4), 2);
	assert_string_equal(out[0]->name, "ke");
	assert_string_equal(out[1]->name, "all");
	assert_int_equal(policy_providers_for(r->sms, r->nsms, "+33155501", out,
	    4), 1);
	assert_string_equal(out[0]->name, "all");
	assert_int_equal(r->sms[1].nsuccess, 1);
	assert_int_equal(r->sms[1].success[0], 202);
	policy_free(r);
	policy_diag_free(&d);

	expect_one_error(GW ISS POL TEAMS "providers = { sms = ( { name = "
	    "\"x\"; kind = \"generic\"; url = \"http://a\"; body = \"b\"; } ); "
	    "};\n", 0, "not https://");
	expect_one_error(GW ISS POL TEAMS "providers = { sms = ( { name = "
	    "\"x\"; kind = \"generic\"; url = \"https://a\"; body = "
	    "\"{nope}\"; } ); };\n", 0, "unknown placeholder {nope}");
	/* the idempotency key goes where the provider's API takes it */
	assert_int_equal(load_str(GW ISS POL TEAMS "providers = { sms = ( "
	    "{ name = \"k\"; kind = \"generic\"; "
	    "url = \"https://a/send/{idempotency_key}\"; "
	    "body = \"{\\\"to\\\":\\\"{to}\\\",\\\"k\\\":"
	    "\\\"{idempotency_key}\\\"}\"; "
	    "headers = [ \"Idempotency-Key: {idempotency_key}\" ]; } ); };\n",
	    &d, &r), 0);
	assert_int_equal(r->sms[0].nheaders, 1);
	policy_free(r);
	policy_diag_free(&d);
	expect_one_error(GW ISS POL TEAMS "providers = { sms = ( { name = "
	    "\"x\"; kind = \"generic\"; url = \"https://a/{to}\"; body = "
	    "\"b\"; } ); };\n", 0, "url has the unknown placeholder {to}");
	expect_one_error(GW ISS POL TEAMS SMSP("prefixes = [ \"254\" ];"), 0,
	    "is not \"+\" or an E.164");
	expect_one_error(GW ISS POL TEAMS SMSP("body = \"x\";"), 0,
	    "for kind = \"generic\" only");
	expect_one_error(GW ISS POL TEAMS "providers = { sms = ( { name = "
	    "\"x\"; kind = \"smoke\"; url = \"https://a\"; } ); };\n", 0,
	    "not \"twilio\", \"generic\" or \"modem\"");
	expect_one_error(GW ISS POL TEAMS "providers = { voice = ( { name = "
	    "\"x\"; kind = \"smoke\"; url = \"https://a\"; } ); };\n", 0,
	    "not \"twilio\" or \"generic\"");
	assert_int_equal(chmod("/tmp/tocsin-test-token", 0644), 0);
	expect_one_error(GW ISS POL TEAMS SMSP(""), 0, "0600");
	unlink("/tmp/tocsin-test-token");
}

/*
 * Each setting of a generic provider entry (its own line, 6) with a bad
 * value: the whole message, at the setting's line.  The entry is the
 * only provider, so nothing else is reported.
 */
#define GENERIC(extra) "name = \"gw\"; kind = \"generic\"; " extra
#define GEN_URL "url = \"https://a\"; "
#define GEN_BODY "body = \"b\"; "

static void
test_provider_values(void **state)
{
	static const struct exact bad[] = {
		{ "name = \"a b\"; kind = \"generic\"; " GEN_URL GEN_BODY, 6,
		  "providers.sms \"a b\": a provider name is 1 to 40 letters, "
		  "digits, '-' or '_' (it is part of receipt URLs)" },
		{ "name = \"gw\"; kind = \"smoke\"; " GEN_URL GEN_BODY, 6,
		  "providers.sms \"gw\": kind \"smoke\" is not \"twilio\", "
		  "\"generic\" or \"modem\"" },
		{ GENERIC("url = \"http://a\"; " GEN_BODY), 6,
		  "providers.sms \"gw\": url \"http://a\" is not https://; "
		  "alerts and auth tokens must not cross the network in clear "
		  "(http:// only with local = true, for a gateway on this "
		  "host)" },
		{ GENERIC("url = \"https://a b\"; " GEN_BODY), 6,
		  "providers.sms \"gw\": url \"https://a b\" has spaces or "
		  "quotes; write a plain URL" },
		{ GENERIC("url = \"https://a/{to}\"; " GEN_BODY), 6,
		  "providers.sms \"gw\": url has the unknown placeholder {to}; "
		  "a url may use {idempotency_key} only" },
		{ GENERIC(GEN_URL GEN_BODY "account = \"AC-1\";"), 6,
		  "providers.sms \"gw\": account must be letters and digits "
		  "(e.g. AC...)" },
		{ GENERIC(GEN_URL GEN_BODY "from = \"a b\";"), 6,
		  "providers.sms \"gw\": from \"a b\" must be a number or a "
		  "sender id without spaces" },
		{ GENERIC(GEN_URL GEN_BODY "prefixes = [ \"+254\", \"254\" ];"),
		  6, "providers.sms \"gw\": prefix \"254\" is not \"+\" or an "
		  "E.164 country or area prefix such as \"+254\"" },
		{ GENERIC(GEN_URL GEN_BODY "rate = 0;"), 6,
		  "providers.sms \"gw\": rate = 0 is out of range; use a value "
		  "from 1 to 10000" },
		{ GENERIC(GEN_URL GEN_BODY "burst = 10001;"), 6,
		  "providers.sms \"gw\": burst = 10001 is out of range; use a "
		  "value from 1 to 10000" },
		{ GENERIC(GEN_URL GEN_BODY "parallel = 257;"), 6,
		  "providers.sms \"gw\": parallel = 257 is out of range; use a "
		  "value from 1 to 256" },
		{ GENERIC(GEN_URL GEN_BODY "retries = \"3\";"), 6,
		  "providers.sms \"gw\": retries must be an integer, not a "
		  "string; write it without quotes, e.g. retries = 1;" },
		{ GENERIC(GEN_URL GEN_BODY "timeout = \"6m\";"), 6,
		  "providers.sms \"gw\": timeout must be between 1s and 5m" },
		{ GENERIC(GEN_URL GEN_BODY "segments = 11;"), 6,
		  "providers.sms \"gw\": segments = 11 is out of range; use a "
		  "value from 1 to 10" },
		{ GENERIC(GEN_URL GEN_BODY "method = \"GET\";"), 6,
		  "providers.sms \"gw\": method must be \"POST\" or \"PUT\"" },
		{ GENERIC(GEN_URL GEN_BODY "content_type = \"text/plain\";"), 6,
		  "providers.sms \"gw\": content_type must be "
		  "\"application/json\" or \"application/x-www-form-urlencoded\""
		  " (values are escaped for it)" },
		{ GENERIC(GEN_URL "body = \"{nope}\";"), 6,
		  "providers.sms \"gw\": body has the unknown placeholder "
		  "{nope}; use {to} {from} {text} {id} {idempotency_key}" },
		{ GENERIC(GEN_URL), 5,
		  "providers.sms \"gw\": body is missing; add body = ...;" },
		{ GENERIC(GEN_URL GEN_BODY "headers = [ \"NoColon\" ];"), 6,
		  "providers.sms \"gw\": header \"NoColon\" is not \"Name: "
		  "value\" on one line" },
		{ GENERIC(GEN_URL GEN_BODY "headers = [ \"X: {to}\" ];"), 6,
		  "providers.sms \"gw\": header has the unknown placeholder "
		  "{to}; use {secret} {id} {idempotency_key}" },
		{ GENERIC(GEN_URL GEN_BODY "success = [ 200, 404 ];"), 6,
		  "providers.sms \"gw\": success status 404 is not a 2xx "
		  "status" },
		{ GENERIC(GEN_URL GEN_BODY "success = \"200\";"), 6,
		  "providers.sms \"gw\": success must be a list of at most 8 "
		  "numbers, e.g. [ 200, 201, 202 ]" },
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	expect_exact(GW ISS POL TEAMS "providers = { sms = ( {\n%s\n} ); };\n",
	    bad, NELEM(bad));
	/* The defaults, and burst following the rate unless given. */
	assert_int_equal(load_str(GW ISS POL TEAMS "providers = { sms = ( {\n"
	    GENERIC(GEN_URL GEN_BODY "rate = 5;") "\n}, {\n"
	    "name = \"g2\"; kind = \"generic\"; " GEN_URL GEN_BODY
	    "burst = 3; method = \"PUT\"; headers = [ \"X-Id: {id}\" ];\n"
	    "} ); };\n", &d, &r), 0);
	assert_int_equal(r->nsms, 2);
	assert_int_equal(r->sms[0].rate, 5);
	assert_int_equal(r->sms[0].burst, 5);
	assert_int_equal(r->sms[0].parallel, 4);
	assert_int_equal(r->sms[0].retries, 2);
	assert_int_equal(r->sms[0].timeout, 10);
	assert_int_equal(r->sms[0].segments, 3);
	assert_string_equal(r->sms[0].method, "POST");
	assert_string_equal(r->sms[0].content_type, "application/json");
	assert_int_equal(r->sms[0].nsuccess, 3);
	assert_int_equal(r->sms[0].success[2], 202);
	assert_int_equal(r->sms[0].nprefixes, 1);
	assert_string_equal(r->sms[0].prefixes[0], "+");
	assert_int_equal(r->sms[1].rate, 10);
	assert_int_equal(r->sms[1].burst, 3);
	assert_string_equal(r->sms[1].method, "PUT");
	assert_int_equal(r->sms[1].nheaders, 1);
	assert_string_equal(r->sms[1].headers[0], "X-Id: {id}");
	policy_free(r);
	policy_diag_free(&d);
}

/* providers.fax, fax_detail, gateway.duty_phone and ack_phone */
#define FAXP(body) "providers = { fax = { " body " }; };\n"
#define RFC3192 "format = \"rfc3192\"; domain = \"fax.example.net\";"
#define GWX(extra) "gateway = { store = \"s.db\"; gnupg_home = \"g\"; " \
	"signing_key = \"" FPR_A "\"; public_url = \"https://x.example/\";\n" \
	extra " };\n"
#define FAXCONTACT "{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; mobile = \"+254700555101\"; " \
	"fax = \"+254205550101\"; }"
#define FAXTEAMS "teams = ( { id = \"ke\"; domain = \"x\"; " \
	"cctld_operator = \"o\"; region = \"AF\"; policy = \"p\"; " \
	"contacts = ( " FAXCONTACT " ); } );\n"
/* A policy that sends fax; detail is its own line (line 4 after GW ISS),
   the policy is at line 3. */
#define FAXPOL(detail) "policies = { p = {\n" detail "\nsteps = ( { " \
	"after = \"0s\"; notify = [ \"primary:sms\", \"primary:fax\" ]; } " \
	"); }; };\n"

static void
test_fax_provider(void **state)
{
	/* Good providers.fax, read with their settings and the defaults;
	   of is the address of +254205550101. */
	static const struct {
		const char *body, *address;
		bool plus;
		enum policy_paper paper;
		bool cover;
		int pages;
		const char *font, *of;
	} good[] = {
		/* rfc3192: the address is made from the domain */
		{ RFC3192, "FAX={number}@fax.example.net", true,
		  POLICY_PAPER_A4, false, 3, "Sans",
		  "FAX=+254205550101@fax.example.net" },
		/* template, digits (the default), every other key set */
		{ "format = \"template\"; address = "
		  "\"{number}@fax.provider.example\";\npaper = \"letter\"; "
		  "cover = true; pages = 20; font = \"Noto Sans, Sans\";",
		  "{number}@fax.provider.example", false, POLICY_PAPER_LETTER,
		  true, 20, "Noto Sans, Sans",
		  "254205550101@fax.provider.example" },
		/* template, e164 */
		{ "format = \"template\"; number = \"e164\"; paper = \"A4\";\n"
		  "address = \"{number}@fax.provider.example\";",
		  "{number}@fax.provider.example", true, POLICY_PAPER_A4,
		  false, 3, "Sans", "+254205550101@fax.provider.example" },
	};
	/* the whole local-part alphabet; a font name of 100 bytes */
	static const char *const good_too[] = {
		"format = \"template\"; number = \"digits\"; address = "
		"\"a.Z-9!#$%&'*+/=?^_`|~{number}x@f-1.x9.example\";",
		"format = \"template\"; address = \"fax={number}@localhost\";",
		RFC3192 "\nfont = \""
		"01234567890123456789012345678901234567890123456789"
		"01234567890123456789012345678901234567890123456789\";",
	};
	/* Refusals: a key missing, at the group's line 5 */
	static const struct mistake missing[] = {
		{ "\ndomain = \"f.example\";", "providers.fax: format is "
		  "missing; add format = \"rfc3192\";" },
		{ "format = \"rfc3192\";",
		  "domain is missing; format = \"rfc3192\" needs" },
		{ "format = \"template\";",
		  "address is missing; format = \"template\" needs" },
	};
	/* and a value refused, at its line 6 */
	static const struct mistake bad[] = {
		{ "\nformat = \"RFC3192\";",
		  "format \"RFC3192\" is not known; use \"rfc3192\"" },
		{ RFC3192 "\naddress = \"{number}@f.example\";",
		  "address is for format = \"template\"; with format = "
		  "\"rfc3192\" the address is always FAX=+NUMBER@domain" },
		{ RFC3192 "\nnumber = \"e164\";",
		  "number is for format = \"template\"" },
		{ "format = \"template\";\naddress = \"{number}@f.example\"; "
		  "domain = \"f.example\";",
		  "domain is for format = \"rfc3192\"" },
		{ "format = \"template\";\naddress = \"{number}@f.example\"; "
		  "number = \"plus\";", "number \"plus\" is not \"digits\"" },
		{ RFC3192 "\npaper = \"A5\";",
		  "paper \"A5\" is not \"A4\" or \"Letter\"" },
		{ RFC3192 "\ncover = \"yes\";", "cover must be true or false" },
		{ RFC3192 "\npages = 0;",
		  "pages = 0 is out of range; use a value from 1 to 20" },
		{ RFC3192 "\npages = 21;", "pages = 21 is out of range" },
		{ RFC3192 "\nfont = \"\";", "font is empty" },
		{ RFC3192 "\nfont = \"Sans\\t\";", "control character" },
		{ RFC3192 "\nfont = \"Sans\xc2\x85\";",
		  "is not 1 to 100 printable" },
		{ RFC3192 "\nfont = \""
		  "01234567890123456789012345678901234567890123456789"
		  "012345678901234567890123456789012345678901234567890\";",
		  "is not 1 to 100 printable" },
		{ RFC3192 "\ncolour = \"red\";",
		  "providers.fax: unknown key \"colour\"" },
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;
	char text[1024], out[300];

	(void)state;
	for (size_t i = 0; i < NELEM(good); i++) {
		fill(text, sizeof(text), GW ISS POL TEAMS FAXP("%s"),
		    good[i].body);
		assert_int_equal(load_str(text, &d, &r), 0);
		assert_int_equal(d.errors, 0);
		assert_int_equal(d.warnings, 0);
		assert_non_null(r->fax);
		assert_string_equal(r->fax->address, good[i].address);
		assert_int_equal(r->fax->plus, good[i].plus);
		assert_int_equal(r->fax->paper, good[i].paper);
		assert_int_equal(r->fax->cover, good[i].cover);
		assert_int_equal(r->fax->pages, good[i].pages);
		assert_string_equal(r->fax->font, good[i].font);
		assert_ptr_equal(r->fax->src.file, r->files[0]);
		assert_int_equal(r->fax->src.line, 5);
		assert_int_equal(policy_fax_address(r->fax, "+254205550101",
		    out, sizeof(out)), 0);
		assert_string_equal(out, good[i].of);
		policy_free(r);
		policy_diag_free(&d);
	}
	expect_ok_each(GW ISS POL TEAMS FAXP("%s"), good_too, NELEM(good_too));
	expect_mistakes(GW ISS POL TEAMS FAXP("%s"), 5, missing,
	    NELEM(missing));
	expect_mistakes(GW ISS POL TEAMS FAXP("%s"), 6, bad, NELEM(bad));
	expect_one_error(GW ISS POL TEAMS "providers = { fax = ( ); };\n", 5,
	    "fax must be a group");
}

/* A host name that providers.fax refuses, as domain and in address. */
static void
expect_bad_domain(const char *domain)
{
	char text[2048];

	(void)snprintf(text, sizeof(text), GW ISS POL TEAMS FAXP("format = "
	    "\"rfc3192\";\ndomain = \"%s\";"), domain);
	expect_one_error(text, 6, "is not a host name");
	(void)snprintf(text, sizeof(text), GW ISS POL TEAMS FAXP("format = "
	    "\"template\";\naddress = \"{number}@%s\";"), domain);
	expect_one_error(text, 6, "has a domain that is not a host name");
}

static void
test_fax_addresses(void **state)
{
	static const char *const bad_domains[] = { "-fax.example",
		"fax-.example", "fax..example", ".fax.example",
		"fax.example.", "fax_1.example", "fax example" };
	/* address templates, for format = "template" */
	static const struct mistake bad_templates[] = {
		{ "fax.provider.example", "must hold exactly one '@'" },
		{ "{number}@a@fax.example", "must hold exactly one '@'" },
		{ "fax@fax.example", "has no {number}" },
		{ "{number}{number}@fax.example",
		  "has {number} more than once" },
		{ "fax@{number}.example", "has {number} after the '@'" },
		{ "{number} x@fax.example",
		  "has a character the local part may not hold" },
		{ "\\\"{number}\\\"@fax.example",
		  "has a character the local part may not hold" },
		{ "{num}{number}@fax.example",
		  "has a character the local part may not hold" },
		{ "{NUMBER}@fax.example", "has no {number}" },
		{ "{number}\\r@fax.example", "control character" },
		{ "{number}\xc3\xa9@fax.example",
		  "has a character the local part may not hold" },
	};
	char label63[64], label64[65], host[300], text[2048];

	(void)state;
	memset(label63, 'a', 63);
	label63[63] = '\0';
	memset(label64, 'a', 64);
	label64[64] = '\0';
	for (size_t i = 0; i < NELEM(bad_domains); i++)
		expect_bad_domain(bad_domains[i]);
	expect_one_error(GW ISS POL TEAMS FAXP("format = \"rfc3192\";\n"
	    "domain = \"{number}.example\";"), 6, "is not a host name");
	(void)snprintf(host, sizeof(host), "%s.example", label64);
	expect_bad_domain(host);
	(void)snprintf(host, sizeof(host), "%s.example", label63);
	(void)snprintf(text, sizeof(text), GW ISS POL TEAMS FAXP("format = "
	    "\"rfc3192\"; domain = \"%s\";"), host);
	expect_ok(text);
	/* 253 bytes pass, 254 do not */
	(void)snprintf(host, sizeof(host), "%s.%s.%s.%.61s", label63, label63,
	    label63, label63);
	assert_int_equal(strlen(host), 253);
	(void)snprintf(text, sizeof(text), GW ISS POL TEAMS FAXP("format = "
	    "\"rfc3192\"; domain = \"%s\";"), host);
	expect_ok(text);
	(void)snprintf(host, sizeof(host), "%s.%s.%s.%.62s", label63, label63,
	    label63, label63);
	(void)snprintf(text, sizeof(text), GW ISS POL TEAMS FAXP("format = "
	    "\"rfc3192\";\ndomain = \"%s\";"), host);
	expect_one_error(text, 6, "more than the 253 allowed");

	expect_mistakes(GW ISS POL TEAMS FAXP("format = \"template\";\n"
	    "address = \"%s\";"), 6, bad_templates, NELEM(bad_templates));
}

static void
test_fax_address(void **state)
{
	struct policy_fax fax;
	char out[300], dom[300], addr[320];

	(void)state;
	memset(&fax, 0, sizeof(fax));
	fax.address = addr;
	(void)snprintf(addr, sizeof(addr), "FAX={number}@fax.example.net");
	fax.plus = true;
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "FAX=+254205550101@fax.example.net");
	(void)snprintf(addr, sizeof(addr), "{number}@fax.provider.example");
	fax.plus = false;
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "254205550101@fax.provider.example");
	fax.plus = true;
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "+254205550101@fax.provider.example");
	/* 8 and 15 digits */
	assert_int_equal(policy_fax_address(&fax, "+25420555", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "+25420555@fax.provider.example");
	assert_int_equal(policy_fax_address(&fax, "+254205550101234", out,
	    sizeof(out)), 0);

	/* Not normalised E.164: refused, out untouched. */
	{
		static const char *const bad[] = { "254205550101",
			"+2542055", "+2542055501012345", "+254 20 555 0101",
			"+0254205550101", "+", "", "+254205550101x",
			"++254205550101", "+254205550101\n" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			(void)snprintf(out, sizeof(out), "unchanged");
			if (policy_fax_address(&fax, bad[i], out,
			    sizeof(out)) != TOCSIN_EDATA) {
				print_message("accepted %s\n", bad[i]);
				fail();
			}
			assert_string_equal(out, "unchanged");
		}
	}

	/* Too long: 254 bytes is the most; outlen must hold the NUL. */
	memset(dom, 'a', sizeof(dom));
	fax.plus = true;
	(void)snprintf(addr, sizeof(addr), "FAX={number}@%.236s", dom);
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out,
	    sizeof(out)), 0);
	assert_int_equal(strlen(out), 254);
	(void)snprintf(out, sizeof(out), "unchanged");
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out, 254),
	    TOCSIN_EDATA);
	assert_string_equal(out, "unchanged");
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out, 255),
	    0);
	(void)snprintf(addr, sizeof(addr), "FAX={number}@%.237s", dom);
	(void)snprintf(out, sizeof(out), "unchanged");
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out,
	    sizeof(out)), TOCSIN_EDATA);
	assert_string_equal(out, "unchanged");
	(void)snprintf(addr, sizeof(addr), "{number}@fax.example");
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out, 5),
	    TOCSIN_EDATA);
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out, 0),
	    TOCSIN_EDATA);

	/* Caller mistakes. */
	assert_int_equal(policy_fax_address(NULL, "+254205550101", out,
	    sizeof(out)), TOCSIN_EINTERNAL);
	assert_int_equal(policy_fax_address(&fax, NULL, out, sizeof(out)),
	    TOCSIN_EINTERNAL);
	fax.address = NULL;
	assert_int_equal(policy_fax_address(&fax, "+254205550101", out,
	    sizeof(out)), TOCSIN_EINTERNAL);
}

static void
test_fax_detail(void **state)
{
	/* a refused value is one error, at its line */
	static const struct mistake bad[] = {
		{ "fax_detail = \"brief\";", "policy \"p\": fax_detail "
		  "\"brief\" is not known; use \"summary\"" },
		{ "fax_detail = \"Summary\";",
		  "fax_detail \"Summary\" is not known" },
		{ "fax_detail = true;", "fax_detail must be a string" },
		{ "fax_detail = \"\";", "fax_detail is empty" },
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;
	const struct policy_policy *p;

	(void)state;
	/* summary: read with its line; no duty_phone: a warning. */
	r = load_warned(GW ISS FAXPOL("fax_detail = \"summary\";") FAXTEAMS, 3,
	    "policy \"p\" sends fax but gateway.duty_phone is not set, so a "
	    "faxed team cannot reach the duty desk; set gateway.duty_phone");
	p = policy_find(r, "p");
	assert_int_equal(p->fax_detail, POLICY_FAX_SUMMARY);
	assert_int_equal(p->fax_detail_src.line, 4);
	assert_ptr_equal(p->fax_detail_src.file, r->files[0]);
	policy_free(r);

	/* full: a warning at the setting; with duty_phone, no other one. */
	r = load_warned(GWX("duty_phone = \"+254205550100\";") ISS
	    "policies = { p = {\nfax_detail = \"full\";\nsteps = ( { after = "
	    "\"0s\"; notify = [ \"primary:fax\" ]; } ); }; };\n" FAXTEAMS, 5,
	    "policy \"p\": fax_detail = \"full\" sends the whole alert "
	    "unencrypted over the phone network; use \"summary\" unless the "
	    "team needs the details on paper");
	assert_int_equal(policy_find(r, "p")->fax_detail, POLICY_FAX_FULL);
	policy_free(r);

	/* absent on a policy that sends no fax: fine, src the policy's */
	assert_int_equal(load_str(GW ISS POL TEAMS, &d, &r), 0);
	p = policy_find(r, "p");
	assert_int_equal(p->fax_detail, POLICY_FAX_UNSET);
	assert_int_equal(p->fax_detail_src.line, p->src.line);
	assert_ptr_equal(p->fax_detail_src.file, p->src.file);
	policy_free(r);
	policy_diag_free(&d);
	expect_ok(GW ISS "policies = { p = { fax_detail = \"full\"; steps = "
	    "( { after = \"0s\"; notify = [ \"primary:sms\" ]; } ); }; };\n"
	    TEAMS);

	/* absent on a policy that sends fax: the error is at the policy */
	expect_one_error(GW ISS FAXPOL("") FAXTEAMS, 3, "policy \"p\" sends "
	    "fax, which cannot be encrypted, so the policy must allow fax "
	    "explicitly; add fax_detail = \"summary\" (the headline and how "
	    "to reach the duty desk) or \"full\" (the whole alert, "
	    "unencrypted)");
	expect_mistakes(GW ISS FAXPOL("%s") FAXTEAMS, 4, bad, NELEM(bad));
}

static void
test_gateway_phones(void **state)
{
	static const struct mistake bad[] = {
		{ "duty_phone = \"254 20 555 0100\";", "gateway: duty_phone "
		  "\"254 20 555 0100\" is not an E.164 number; write +, the "
		  "country code" },
		{ "ack_phone = \"+12\";",
		  "gateway: ack_phone \"+12\" is not an E.164 number" },
		{ "duty_phone = 254;", "duty_phone must be a string" },
		{ "duty_phones = \"+254205550100\";",
		  "did you mean \"duty_phone\"" },
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	assert_int_equal(load_str(GW ISS POL TEAMS, &d, &r), 0);
	assert_null(r->gateway.duty_phone);
	assert_null(r->gateway.ack_phone);
	policy_free(r);
	policy_diag_free(&d);
	assert_int_equal(load_str(GWX("duty_phone = \"+254 20 555 0100\"; "
	    "ack_phone = \"+1 (555) 555-0100\";") ISS POL TEAMS, &d, &r), 0);
	assert_int_equal(d.errors, 0);
	assert_string_equal(r->gateway.duty_phone, "+254205550100");
	assert_string_equal(r->gateway.ack_phone, "+15555550100");
	policy_free(r);
	policy_diag_free(&d);
	expect_mistakes(GWX("%s") ISS POL TEAMS, 2, bad, NELEM(bad));
}

/* gateway.short_name: "tocsin" by default; 1 to 20 printable ASCII, no
   line break (an SMS starts with it, a call says it). */
static void
test_gateway_short_name(void **state)
{
	static const struct mistake bad[] = {
		{ "short_name = \"DESK\\r\\nBcc: x\";",
		  "gateway: short_name holds a control character" },
		{ "short_name = \"ABCDEFGHIJKLMNOPQRSTU\";",
		  "gateway: short_name \"ABCDEFGHIJKLMNOPQRSTU\" is not 1 to 20 "
		  "printable ASCII characters" },
		{ "short_name = \"D\xc3\xa9si\";", "is not 1 to 20 printable "
		  "ASCII characters" },
		{ "short_name = \"\";", "gateway: short_name is empty" },
		{ "short_name = 7;", "short_name must be a string" },
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	assert_int_equal(load_str(GW ISS POL TEAMS, &d, &r), 0);
	assert_string_equal(r->gateway.short_name, "tocsin");
	policy_free(r);
	policy_diag_free(&d);
	assert_int_equal(load_str(GWX("short_name = \"ABCDEFGHIJ KLMNOPQRS\";")
	    ISS POL TEAMS, &d, &r), 0);
	assert_int_equal(d.errors, 0);
	assert_string_equal(r->gateway.short_name, "ABCDEFGHIJ KLMNOPQRS");
	policy_free(r);
	policy_diag_free(&d);
	expect_mistakes(GWX("%s") ISS POL TEAMS, 2, bad, NELEM(bad));
}

/* The gateway's bounded settings: each bad value's whole message, at its
   line (2); a value at its bound passes. */
static void
test_gateway_values(void **state)
{
	static const struct exact bad[] = {
		{ "replay_window = 0;", 2, "gateway: replay_window is 0, which "
		  "refuses every alert; use e.g. \"24h\"" },
		{ "verify_after = \"23h\";", 2, "gateway: verify_after must be "
		  "at least a day (\"1d\"); a contact not confirmed within it "
		  "is stale" },
		{ "lease = \"4s\";", 2, "gateway: lease 4s is shorter than a "
		  "delivery can take; use at least \"5s\", e.g. \"2m\"" },
		{ "retry_base = 0;", 2, "gateway: retry_base is 0, which "
		  "retries in a tight loop; use e.g. \"30s\"" },
		{ "retry_base = \"2m\"; retry_max = \"119s\";", 2,
		  "gateway: retry_max is shorter than retry_base; make it "
		  "longer, e.g. \"1h\"" },
		{ "listen_idle_timeout = \"61m\";", 2, "gateway: "
		  "listen_idle_timeout must be from 1s to 1h; e.g. \"10s\"" },
		{ "listen_request_timeout = 0;", 2, "gateway: "
		  "listen_request_timeout must be from 1s to 1h; a request of "
		  "a provider or a person takes well under a second, e.g. "
		  "\"30s\"" },
		{ "workers = 65;", 2, "gateway: workers = 65 is out of range; "
		  "use a value from 1 to 64" },
		{ "max_attempts = 0;", 2, "gateway: max_attempts = 0 is out of "
		  "range; use a value from 1 to 1000" },
		{ "listen_max_per_address = 256;", 2, "gateway: "
		  "listen_max_per_address (256) must be less than "
		  "listen_max_connections (256), or one address can take every "
		  "connection; e.g. 16 and 256" },
		{ "trusted_proxy = \"proxy\";", 2, "gateway: trusted_proxy "
		  "proxy is not an IP address; give the address the TLS proxy "
		  "connects from, e.g. \"127.0.0.1\"" },
		{ "listen = \"8025\";", 2, "gateway: listen \"8025\" is not "
		  "HOST:PORT; write e.g. \"127.0.0.1:8025\" or \"[::1]:8025\"" },
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	expect_exact(GWX("%s") ISS POL TEAMS, bad, NELEM(bad));
	assert_int_equal(load_str(GWX("retry_base = \"2m\"; retry_max = "
	    "\"120s\"; verify_after = \"1d\"; lease = \"5s\"; "
	    "listen_idle_timeout = \"1h\"; listen_request_timeout = \"1s\"; "
	    "workers = 64; max_attempts = 1; listen_max_connections = 4; "
	    "listen_max_per_address = 3; trusted_proxy = \"::1\";")
	    ISS POL TEAMS, &d, &r), 0);
	assert_int_equal(r->gateway.retry_base, 120);
	assert_int_equal(r->gateway.retry_max, 120);
	assert_int_equal(r->gateway.verify_after, 86400);
	assert_int_equal(r->gateway.lease, 5);
	assert_int_equal(r->gateway.listen_idle_timeout, 3600);
	assert_int_equal(r->gateway.listen_request_timeout, 1);
	assert_int_equal(r->gateway.workers, 64);
	assert_int_equal(r->gateway.max_attempts, 1);
	assert_int_equal(r->gateway.listen_max_connections, 4);
	assert_int_equal(r->gateway.listen_max_per_address, 3);
	assert_string_equal(r->gateway.trusted_proxy, "::1");
	policy_free(r);
	policy_diag_free(&d);
	/* another spelling of the same address is kept in the listener's:
	   written as it came, it matched no peer and the proxy was not
	   trusted (its clients shared one rate limit; a proxy on this host
	   reached /metrics) */
	{
		static const char *const spell[][2] = {
			{ "0:0:0:0:0:0:0:1", "::1" },
			{ "::0001", "::1" },
			{ "2001:DB8:0::A", "2001:db8::a" },
			{ "::ffff:127.0.0.1", "127.0.0.1" },
			{ "192.0.2.70", "192.0.2.70" },
		};
		char conf[200], text[8192];

		for (size_t i = 0; i < NELEM(spell); i++) {
			(void)snprintf(conf, sizeof(conf),
			    "trusted_proxy = \"%s\";", spell[i][0]);
			fill(text, sizeof(text), GWX("%s") ISS POL TEAMS,
			    conf);
			assert_int_equal(load_str(text, &d, &r), 0);
			assert_string_equal(r->gateway.trusted_proxy,
			    spell[i][1]);
			policy_free(r);
			policy_diag_free(&d);
		}
	}
}

/*
 * providers.sshdrop and teams' sshdrop.  The files a drop host names (its
 * key, a known_hosts) are made in a folder of their own, which is the
 * base folder of the loads: key = "id_ed25519" is relative to it.
 */
#define DROP_DIR "/tmp/tocsin-drop-XXXXXX"
static char drop_dir[sizeof(DROP_DIR)];

static void
drop_file(const char *name, mode_t mode)
{
	char path[128];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", drop_dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a real key\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
drop_setup(void **state)
{
	(void)state;
	memcpy(drop_dir, DROP_DIR, sizeof(DROP_DIR));
	assert_non_null(mkdtemp(drop_dir));
	drop_file("id_ed25519", 0600);
	drop_file("id_0400", 0400);
	drop_file("id_0644", 0644);
	drop_file("known_hosts", 0644);
	drop_file("known_hosts_0666", 0666);
	load_base = drop_dir;
	return 0;
}

static int
drop_teardown(void **state)
{
	static const char *const names[] = { "id_ed25519", "id_0400",
		"id_0644", "known_hosts", "known_hosts_0666" };
	char path[128];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", drop_dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(drop_dir);
	load_base = "/tmp";
	return 0;
}

/* What ssh-keygen -lf prints for a host key (43 base64, last bits 0). */
#define SDFPR "SHA256:MTIEf9NhYRqsUYP0Q9bU8NmV/xDf42vxEOY4FmV7FR8"
/* One drop host; the pin is a setting or "". */
#define SDE(name, host, user, key, pin, path) "name = \"" name "\"; " \
	"host = \"" host "\"; user = \"" user "\"; key = \"" key "\"; " pin \
	" path = \"" path "\";"
#define SDPIN "fingerprint = \"" SDFPR "\";"
#define SDOK SDE("sat-hub", "drop.example.net", "tocsin", "id_ed25519", \
	SDPIN, "/srv/drop")
/* providers.sshdrop with one drop host: the group at line 5, the entry at
   line 6 (after GW ISS POL TEAMS), extra settings at line 7. */
#define SDP(entry) "providers = { sshdrop = ( {\n" entry " } ); };\n"
/* A policy that sends team:sshdrop at step 1 (line 3). */
#define DPOL "policies = { p = { steps = ( { after = \"0s\"; notify = " \
	"[ \"primary:sms\", \"team:sshdrop\" ]; } ); }; };\n"
/* One team with sshdrop: the team at line 5, sshdrop at line 6 (after GW
   ISS DPOL and a one-line providers). */
#define TEAMSD(id, sd) "teams = ( { id = \"" id "\"; domain = \"x\"; " \
	"cctld_operator = \"o\"; region = \"AF\"; policy = \"p\";\n" \
	"sshdrop = " sd ";\ncontacts = ( " CONTACT " ); } );\n"
#define SDP1 "providers = { sshdrop = ( { " SDOK " } ); };\n"

/* What a drop host must be read as: key and known_hosts relative to the
   drop folder (known_hosts NULL: none). */
struct drop_want {
	const char *name, *host;
	int port;
	const char *user, *key, *fingerprint, *known_hosts, *path;
	int64_t timeout;
	int line;
};

static void
expect_drop_host(const struct policy_drop_host *h, const struct drop_want *w)
{
	char exp[256];

	assert_string_equal(h->name, w->name);
	assert_string_equal(h->host, w->host);
	assert_int_equal(h->port, w->port);
	assert_string_equal(h->user, w->user);
	(void)snprintf(exp, sizeof(exp), "%s/%s", drop_dir, w->key);
	assert_string_equal(h->key, exp);
	assert_string_equal(h->fingerprint, w->fingerprint);
	if (w->known_hosts == NULL)
		assert_null(h->known_hosts);
	else {
		(void)snprintf(exp, sizeof(exp), "%s/%s", drop_dir,
		    w->known_hosts);
		assert_string_equal(h->known_hosts, exp);
	}
	assert_string_equal(h->path, w->path);
	assert_int_equal(h->timeout, w->timeout);
	assert_int_equal(h->src.line, w->line);
}

static void
test_drop_hosts(void **state)
{
	/* Fingerprints ssh-keygen -lf printed, ending in each kind of
	   base64 character. */
	static const char *const pins[] = {
		"SHA256:K2ZKOtWPsXFGxbVHHTv1Xc19Uv8l+pHcTm1kwzhRwvw",
		"SHA256:+wvtb9zO8uV2kwe5JV6eFZtHahL9mSwkDSf2dv5lhK8",
		"SHA256:HJ1QiDSTUorcl6QcUN2uC4Q7U0oHyaxRITiYqe0bitY",
		"SHA256:Ar9ncwtB1/J0TC/0VyDx5e3k2c4XiVoT0tu6z7UcV2M",
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;
	const struct policy_team *t;

	(void)state;
	/* Two drop hosts: the first with the defaults, the second with every
	   setting; teams with and without a folder of their own. */
	assert_int_equal(load_str(GW ISS DPOL
	    "providers = { sshdrop = (\n"
	    "{ " SDOK " },\n"
	    "{ name = \"relay_2\"; host = \"2001:db8::10\"; port = 2222; "
	    "user = \"_drop-1\"; key = \"id_0400\"; known_hosts = "
	    "\"known_hosts\"; path = \"/var/spool/tocsin.drop\"; timeout = "
	    "\"10m\"; }\n"
	    "); };\n"
	    "teams = ( { id = \"ke\"; domain = \"x\"; cctld_operator = \"o\"; "
	    "region = \"AF\"; policy = \"p\";\n"
	    "sshdrop = { host = \"sat-hub\"; folder = \"ke\"; };\n"
	    "contacts = ( " CONTACT " ); },\n"
	    "{ id = \"tz\"; domain = \"x\"; cctld_operator = \"o\"; "
	    "region = \"AF\"; policy = \"p\"; sshdrop = { host = \"relay_2\"; "
	    "};\ncontacts = ( " CONTACT " ); },\n"
	    "{ id = \"ug\"; domain = \"x\"; cctld_operator = \"o\"; "
	    "region = \"AF\"; policy = \"p\"; sshdrop = { host = \"sat-hub\"; "
	    "folder = \"Uganda_2.x-y\"; }; contacts = ( " CONTACT " ); } );\n",
	    &d, &r), 0);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 0);
	assert_int_equal(r->ndrops, 2);
	expect_drop_host(&r->drops[0], &(const struct drop_want){ "sat-hub",
	    "drop.example.net", 22, "tocsin", "id_ed25519", SDFPR, NULL,
	    "/srv/drop", 20, 5 });
	assert_ptr_equal(r->drops[0].src.file, r->files[0]);
	expect_drop_host(&r->drops[1], &(const struct drop_want){ "relay_2",
	    "2001:db8::10", 2222, "_drop-1", "id_0400", "", "known_hosts",
	    "/var/spool/tocsin.drop", 600, 6 });

	t = policy_team_find(r, "ke");
	assert_ptr_equal(t->drop, &r->drops[0]);
	assert_string_equal(t->drop_folder, "ke");
	assert_string_equal(t->drop_address, "sat-hub:/srv/drop/ke");
	assert_ptr_equal(t->drop_src.file, r->files[0]);
	assert_int_equal(t->drop_src.line, 9);
	t = policy_team_find(r, "tz");
	assert_ptr_equal(t->drop, &r->drops[1]);
	assert_string_equal(t->drop_folder, "tz");	/* the team id */
	assert_string_equal(t->drop_address,
	    "relay_2:/var/spool/tocsin.drop/tz");
	assert_int_equal(t->drop_src.line, 11);
	t = policy_team_find(r, "ug");
	assert_string_equal(t->drop_address, "sat-hub:/srv/drop/Uganda_2.x-y");

	/* policy_drop_find: exact names only. */
	assert_ptr_equal(policy_drop_find(r, "sat-hub"), &r->drops[0]);
	assert_ptr_equal(policy_drop_find(r, "relay_2"), &r->drops[1]);
	assert_null(policy_drop_find(r, "Sat-Hub"));
	assert_null(policy_drop_find(r, "sat"));
	assert_null(policy_drop_find(r, ""));
	assert_null(policy_drop_find(r, NULL));
	assert_null(policy_drop_find(NULL, "sat-hub"));
	policy_free(r);
	policy_diag_free(&d);

	/* A team without sshdrop has none; host names and addresses. */
	assert_int_equal(load_str(GW ISS POL TEAMS SDP(SDE("a", "127.0.0.1",
	    "t", "id_ed25519", SDPIN, "/d")), &d, &r), 0);
	t = policy_team_find(r, "ke");
	assert_null(t->drop);
	assert_null(t->drop_folder);
	assert_null(t->drop_address);
	assert_null(t->drop_src.file);
	assert_null(policy_drop_find(r, "sat-hub"));
	policy_free(r);
	policy_diag_free(&d);
	expect_ok(GW ISS POL TEAMS SDP(SDE("A-Z_0123456789abcdefghijklmnopqrstu"
	    "vwxy", "::1", "a", "id_ed25519", SDPIN, "/~a/b.c/-_+=@,:%")));
	expect_ok(GW ISS POL TEAMS SDP(SDE("x", "localhost", "a", "id_ed25519",
	    SDPIN, "/d")));
	expect_ok(GW ISS POL TEAMS SDP(SDE("x", "a-1.b2.example", "a",
	    "id_ed25519", SDPIN, "/d")));
	expect_ok_each(GW ISS POL TEAMS SDP(SDE("x", "h.example", "t",
	    "id_ed25519", "fingerprint = \"%s\";", "/d")), pins, NELEM(pins));
	expect_ok(GW ISS POL TEAMS "providers = { sshdrop = ( ); };\n");
	expect_ok(GW ISS POL TEAMS "providers = { sshdrop = [ ]; };\n");
}

/*
 * addresses, the pinned IP literals of a provider, the relay and a drop
 * host, connected to when the name does not resolve.  The setting is on
 * its own line, 6.
 */
#define PIN_SMS GW ISS POL TEAMS "providers = { sms = ( { name = \"g\"; " \
	"kind = \"generic\"; url = \"https://sms.example\"; body = \"b\";\n" \
	"addresses = %s; } ); };\n"

static void
test_pinned_addresses(void **state)
{
	static const struct mistake bad[] = {
		{ "[ \"sms.example.net\" ]", "providers.sms \"g\": address "
		  "\"sms.example.net\" is not an IP address; addresses are for "
		  "when the name does not resolve" },
		{ "[ \"192.0.2.10:443\" ]", "address \"192.0.2.10:443\" has a "
		  "port; write the address alone" },
		{ "[ \"[2001:db8::10]\" ]", "address \"[2001:db8::10]\" is in "
		  "brackets; write an IPv6 address without them" },
		{ "[ \"fe80::1%eth0\" ]", "has a scope id" },
		{ "[ \"2001:db8::10::1\" ]", "is not an IPv6 address" },
		{ "[ \"1111:2222:3333:4444:5555:6666:7777:8888:9999:0\" ]",
		  "is longer than the 45 characters of an IP address" },
		{ "[ ]", "providers.sms \"g\": addresses is empty; give 1 to 8 "
		  "IP addresses" },
		{ "[ \"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\", \"192.0.2.4\", "
		  "\"192.0.2.5\", \"192.0.2.6\", \"192.0.2.7\", \"192.0.2.8\", "
		  "\"192.0.2.9\" ]", "addresses has 9 entries, more than the 8 "
		  "allowed" },
		{ "\"192.0.2.10\"", "addresses must be an array of strings, not a "
		  "string" },
		{ "( \"192.0.2.10\", 7 )", "addresses must be a string" },
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;
	char text[8192];

	(void)state;
	fill(text, sizeof(text), PIN_SMS, "[ \"192.0.2.10\", \"2001:db8::10\" ]");
	assert_int_equal(load_str(text, &d, &r), 0);
	assert_int_equal(r->sms[0].naddresses, 2);
	assert_string_equal(r->sms[0].addresses[0], "192.0.2.10");
	assert_string_equal(r->sms[0].addresses[1], "2001:db8::10");
	policy_free(r);
	policy_diag_free(&d);
	/* none given: none */
	assert_int_equal(load_str(GW ISS POL TEAMS "providers = { voice = ( { "
	    "name = \"g\"; kind = \"generic\"; url = \"https://v.example\"; "
	    "body = \"b\"; } ); };\n", &d, &r), 0);
	assert_int_equal(r->voice[0].naddresses, 0);
	assert_null(r->voice[0].addresses);
	policy_free(r);
	policy_diag_free(&d);
	/* the relay */
	assert_int_equal(load_str(GW ISS POL TEAMS "providers = { smtp = { "
	    "host = \"smtp.example\"; from = \"t@example.net\"; addresses = "
	    "[ \"192.0.2.25\", \"127.0.0.1\" ]; }; };\n", &d, &r), 0);
	assert_int_equal(r->smtp->naddresses, 2);
	assert_string_equal(r->smtp->addresses[1], "127.0.0.1");
	policy_free(r);
	policy_diag_free(&d);
	expect_one_error(GW ISS POL TEAMS "providers = { smtp = { host = "
	    "\"smtp.example\"; from = \"t@example.net\";\naddresses = "
	    "[ \"smtp.example\" ]; }; };\n", 6, "providers.smtp: address "
	    "\"smtp.example\" is not an IP address");
	/* libesmtp takes no IPv6 literal in its "host:port" */
	expect_one_error(GW ISS POL TEAMS "providers = { smtp = { host = "
	    "\"smtp.example\"; from = \"t@example.net\";\naddresses = "
	    "[ \"192.0.2.25\", \"2001:db8::25\" ]; }; };\n", 6,
	    "providers.smtp: address \"2001:db8::25\" is an IPv6 address, "
	    "which the SMTP library (libesmtp) cannot connect to by address; "
	    "pin the relay's IPv4 addresses");
	/* a drop host */
	assert_int_equal(load_str(GW ISS POL TEAMS SDP(SDE("x", "h.example",
	    "t", "id_ed25519", SDPIN, "/d") " addresses = [ \"127.0.0.1\", "
	    "\"192.0.2.7\" ];"), &d, &r), 0);
	assert_int_equal(r->drops[0].naddresses, 2);
	assert_string_equal(r->drops[0].addresses[1], "192.0.2.7");
	policy_free(r);
	policy_diag_free(&d);
	expect_one_error(GW ISS POL TEAMS SDP(SDE("x", "h.example", "t",
	    "id_ed25519", SDPIN, "/d") "\naddresses = [ \"10.0.0.1:22\" ];"), 7,
	    "providers.sshdrop \"x\": address \"10.0.0.1:22\" has a port");
	expect_mistakes(PIN_SMS, 6, bad, NELEM(bad));
}

/* templates: a template's fields and placeholders; the mistake under
   test on line 6. */
static void
test_templates(void **state)
{
	struct policy_diag d;
	struct policy_repo *r = NULL;
	const struct policy_template *t;
	char bad[64];

	(void)state;
	assert_int_equal(load_str(GW ISS POL TEAMS "templates = { hijack = { "
	    "event = \"DNS hijack\"; severity = \"Extreme\"; audience = "
	    "[ \"all\" ]; texts = ( { language = \"en\"; headline = \"{tld} "
	    "hijacked\"; }, { language = \"fr\"; headline = \"{tld} "
	    "détourné\"; instruction = \"Vérifiez {tld}\"; } ); }; };\n", &d,
	    &r), 0);
	assert_non_null(t = policy_template_find(r, "hijack"));
	assert_null(policy_template_find(r, "hijacked"));
	assert_string_equal(t->category, "Security");
	assert_string_equal(t->urgency, "Immediate");
	assert_int_equal(t->severity, POLICY_SEV_EXTREME);
	assert_int_equal(t->ntexts, 2);
	assert_string_equal(t->texts[1].instruction, "Vérifiez {tld}");
	assert_null(t->texts[0].description);
	policy_free(r);
	policy_diag_free(&d);
	expect_one_error(GW ISS POL TEAMS "templates = { x = { event = \"e\"; "
	    "texts = ( { language = \"en\"; headline = \"h\"; } );\n"
	    "category = \"Cyber\"; }; };\n", 6, "template \"x\": category "
	    "must be a CAP category: Geo, Met");
	expect_one_error(GW ISS POL TEAMS "templates = { x = { event = \"e\";\n"
	    "texts = ( { language = \"en\"; headline = \"{Tld} down\"; } ); "
	    "}; };\n", 6, "headline has {Tld}, which is no placeholder");
	expect_one_error(GW ISS POL TEAMS "templates = { x = { event = \"e\";\n"
	    "texts = ( { language = \"en\"; headline = \"{tld down\"; } ); "
	    "}; };\n", 6, "headline has a '{' without its '}'");
	expect_one_error(GW ISS POL TEAMS "templates = { x = { event = \"e\";\n"
	    "texts = ( { language = \"en\"; } ); }; };\n", 6,
	    "headline is missing");
	expect_one_error(GW ISS POL TEAMS "templates = { x = { event = \"e\";\n"
	    "texts = ( { language = \"en\"; headline = \"a\"; }, { language "
	    "= \"EN\"; headline = \"b\"; } ); }; };\n", 6,
	    "language EN is given twice");
	assert_false(policy_placeholder_ok("{a_b1} {c", bad, sizeof(bad)));
	assert_true(policy_placeholder_ok("{a_b1} and {c2}", bad, sizeof(bad)));
	assert_false(policy_placeholder_ok("{1a}", bad, sizeof(bad)));
	assert_string_equal(bad, "{1a}");
}

/*
 * kind = "modem" in providers.sms: a device, a PIN file, a speed, and
 * fallback; none of an HTTP provider's settings.  The setting under test
 * is on its own line, 6.
 */
#define MODEM_SMS GW ISS POL TEAMS "providers = { sms = ( { name = \"m\"; " \
	"kind = \"modem\"; device = \"/dev/ttyUSB0\";\n%s } ); };\n"

static void
test_modem_provider(void **state)
{
	static const struct mistake bad[] = {
		{ "url = \"https://x.example\";", "providers.sms \"m\": url is "
		  "for an HTTP provider; a modem sends from its SIM" },
		{ "addresses = [ \"192.0.2.1\" ];", "addresses is for an HTTP "
		  "provider" },
		{ "baud = 12345;", "baud 12345 is not a serial line speed" },
		{ "parallel = 4;", "a modem has one dialogue at a time; remove "
		  "parallel" },
		{ "devices = \"/dev/ttyUSB1\";", "devices" },
	};
	const struct policy_provider *order[4];
	struct policy_diag d;
	struct policy_repo *r = NULL;
	char text[8192];

	(void)state;
	fill(text, sizeof(text), MODEM_SMS, "baud = 9600; fallback = true;");
	assert_int_equal(load_str(text, &d, &r), 0);
	assert_int_equal(r->sms[0].kind, POLICY_PK_MODEM);
	assert_string_equal(r->sms[0].device, "/dev/ttyUSB0");
	assert_int_equal(r->sms[0].baud, 9600);
	assert_int_equal(r->sms[0].parallel, 1);
	assert_int_equal(r->sms[0].rate, 1);
	assert_true(r->sms[0].fallback);
	policy_free(r);
	policy_diag_free(&d);
	expect_mistakes(MODEM_SMS, 6, bad, NELEM(bad));
	/* a device that is no device path; a modem for calls */
	expect_one_error(GW ISS POL TEAMS "providers = { sms = ( { name = "
	    "\"m\"; kind = \"modem\";\ndevice = \"/home/x/tty\"; } ); };\n",
	    6, "providers.sms \"m\": device must be the modem's serial device "
	    "under /dev");
	expect_one_error(GW ISS POL TEAMS "providers = { voice = ( { name = "
	    "\"m\";\nkind = \"modem\"; device = \"/dev/ttyUSB0\"; } ); };\n",
	    6, "a modem sends SMS only; list it in providers.sms");
	expect_one_error(GW ISS POL TEAMS "providers = { sms = ( { name = "
	    "\"g\"; kind = \"generic\"; url = \"https://s.example\"; "
	    "body = \"b\";\ndevice = \"/dev/ttyUSB0\"; } ); };\n", 6,
	    "device is for kind = \"modem\" only");
	/* one device, one provider */
	expect_one_error(GW ISS POL TEAMS "providers = { sms = ( { name = "
	    "\"a\"; kind = \"modem\"; device = \"/dev/ttyUSB0\"; },\n{ name = "
	    "\"b\"; kind = \"modem\"; device = \"/dev/ttyUSB0\"; } ); };\n", 6,
	    "the device /dev/ttyUSB0 is already the modem of a at");
	/* the order: the modem with its prefix first; a fallback last, even
	   with the longer prefix */
	assert_int_equal(load_str(GW ISS POL TEAMS "providers = { sms = ( "
	    "{ name = \"h\"; kind = \"generic\"; url = \"https://s.example\"; "
	    "body = \"b\"; }, { name = \"m\"; kind = \"modem\"; device = "
	    "\"/dev/ttyUSB0\"; prefixes = [ \"+254\" ]; }, { name = \"f\"; "
	    "kind = \"modem\"; device = \"/dev/ttyUSB1\"; prefixes = "
	    "[ \"+2547\" ]; fallback = true; } ); };\n", &d, &r), 0);
	assert_int_equal(policy_providers_for(r->sms, r->nsms, "+254700000001",
	    order, 4), 3);
	assert_string_equal(order[0]->name, "m");
	assert_string_equal(order[1]->name, "h");
	assert_string_equal(order[2]->name, "f");
	assert_int_equal(policy_providers_for(r->sms, r->nsms, "+33612345678",
	    order, 4), 1);
	assert_string_equal(order[0]->name, "h");
	policy_free(r);
	policy_diag_free(&d);
}

/* One drop host (its entry at line 6) with one setting for %s. */
#define SD_NAME GW ISS POL TEAMS SDP(SDE("%s", "h.example", "t", \
	"id_ed25519", SDPIN, "/d"))
#define SD_HOST GW ISS POL TEAMS SDP(SDE("x", "%s", "t", "id_ed25519", \
	SDPIN, "/d"))
#define SD_USER GW ISS POL TEAMS SDP(SDE("x", "h.example", "%s", \
	"id_ed25519", SDPIN, "/d"))
#define SD_PIN GW ISS POL TEAMS SDP(SDE("x", "h.example", "t", \
	"id_ed25519", "%s", "/d"))
#define SD_PATH GW ISS POL TEAMS SDP(SDE("x", "h.example", "t", \
	"id_ed25519", SDPIN, "%s"))

static void
test_drop_host_mistakes(void **state)
{
	static const struct mistake names[] = {
		{ "sat hub", "providers.sshdrop \"sat hub\": a drop host "
		  "name is 1 to 40 letters, digits, '-' or '_'" },
		{ "sat/hub", "a drop host name is 1 to 40" },
		{ "a123456789b123456789c123456789d123456789e",
		  "a drop host name is 1 to 40" },
		{ "", "name is empty" },
	};
	static const struct mistake hosts[] = {
		{ "-oProxyCommand=sh", "host \"-oProxyCommand=sh\" is not a "
		  "host name or an IP address; write labels of" },
		{ "h_1.example", "is not a host name" },
		{ "h..example", "is not a host name" },
		{ "h.example.", "is not a host name" },
		{ "user@h.example", "is not a host name" },
		{ "10.0.0.256", "host \"10.0.0.256\" is not an IPv4 "
		  "address; write four numbers" },
		{ "[2001:db8::10]", "is in brackets" },
		{ "h.example:22", "is not an IPv6 address or a host name" },
		{ "2001:db8::10::1", "is not an IPv6 address" },
	};
	static const struct mistake users[] = {
		{ "Tocsin", "user \"Tocsin\" is not a portable user name; "
		  "write lowercase letters" },
		{ "-oX", "is not a portable user name" },
		{ "1t", "is not a portable user name" },
		{ "t$", "is not a portable user name" },
		{ "t@h", "is not a portable user name" },
		{ "a123456789b123456789c123456789d12",
		  "user is 33 bytes long, more than the 32 allowed" },
	};
	/* the host key pin: exactly one (an error at the entry, line 5) */
	static const struct mistake unpinned[] = {
		{ "", "providers.sshdrop \"x\": the drop host's key is not "
		  "pinned, and trust on first use is never done; add "
		  "fingerprint = \"SHA256:...\"; (ssh-keygen -lf "
		  "/etc/ssh/ssh_host_ed25519_key.pub on the drop host prints "
		  "it) or known_hosts = \"FILE\";" },
		{ SDPIN " known_hosts = \"known_hosts\";",
		  "both fingerprint and known_hosts are given; the drop host's "
		  "key must be pinned one way (trust on first use is never "
		  "done)" },
	};
	/* and well-formed (at its line, 6) */
	static const struct mistake pins[] = {
		{ "fingerprint = \"SHA256:short\";",
		  "fingerprint \"SHA256:short\" is not \"SHA256:\" and 43 "
		  "base64 characters; copy it from ssh-keygen -lf" },
		{ "fingerprint = \"" SDFPR "=\";",
		  "is not \"SHA256:\" and 43 base64" },
		{ "fingerprint = \"sha256:MTIEf9NhYRqsUYP0Q9bU8NmV/"
		  "xDf42vxEOY4FmV7FR8\";", "is not \"SHA256:\"" },
		/* 43 characters hold 258 bits: the last 2 are 0 ('9', 'N',
		   'x' are not: a character was changed) */
		{ "fingerprint = \"SHA256:MTIEf9NhYRqsUYP0Q9bU8NmV/"
		  "xDf42vxEOY4FmV7FR9\";", "is not \"SHA256:\"" },
		{ "fingerprint = \"SHA256:Ar9ncwtB1/J0TC/0VyDx5e3k2c4"
		  "XiVoT0tu6z7UcV2N\";", "is not \"SHA256:\"" },
		{ "fingerprint = \"SHA256:K2ZKOtWPsXFGxbVHHTv1Xc19Uv8"
		  "l+pHcTm1kwzhRwvx\";", "is not \"SHA256:\"" },
		{ "fingerprint = \"SHA256:K2ZKOtWPsXFGxbVHHTv1Xc19Uv8"
		  "l+pHcTm1kwzhRwv\";", "is not \"SHA256:\"" },
		{ "fingerprint = \"SHA256:MTIEf9NhYRqsUYP0Q9bU8NmV-"
		  "xDf42vxEOY4FmV7FR8\";", "is not \"SHA256:\"" },
		{ "fingerprint = \"256 " SDFPR " root@drop (ED25519)\";",
		  "is not \"SHA256:\" and 43 base64 characters; copy it from "
		  "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub run on the "
		  "drop host (the second field)" },
		{ "fingerprint = \"MD5:16:27:ac:a5:76:28:2d:36:63:1b:"
		  "56:4d:eb:df:a6:48\";", "is not \"SHA256:\"" },
		{ "known_hosts = \"/tmp\";",
		  "known_hosts /tmp is not a regular file" },
	};
	/* path: absolute, plain, no "", ".", ".." component, no '/' last */
	static const struct mistake paths[] = {
		{ "srv/drop", "providers.sshdrop \"x\": path \"srv/drop\" is "
		  "not absolute; write the folder's full path" },
		{ "/srv/../etc", "path \"/srv/../etc\" has a \".\" or \"..\" "
		  "component" },
		{ "/srv/drop/..", "\"..\" component" },
		{ "/srv/./drop", "\"..\" component" },
		{ "/srv//drop", "path \"/srv//drop\" has an empty component "
		  "(\"//\")" },
		{ "/", "path \"/\" is the root folder; give the drops a "
		  "folder of their own" },
		{ "/srv/my drop", "path \"/srv/my drop\" holds a space, a "
		  "quote, a backslash" },
		{ "/srv/it's", "holds a space, a quote" },
		{ "/srv/\\\"x\\\"", "holds a space, a quote" },
		{ "/srv/`id`", "holds a space, a quote" },
		{ "/srv\\\\drop", "holds a space, a quote" },
		{ "/srv/d\xc3\xa9p\xc3\xb4t", "not printable ASCII" },
		{ "/srv/drop/", "ends with '/'; remove" },
		{ "/a23456789b123456789c123456789d123456789"
		  "e123456789f123456789g123456789h123456789i123456789j123456789"
		  "k123456789l123456789m123456789n123456789o123456789p123456789"
		  "q123456789r123456789s123456789t1234567890",
		  "path is 201 bytes long, more than the 200 allowed" },
	};
	/* a key missing: an error at the entry, line 5 */
	static const struct mistake missing[] = {
		{ "host = \"h.example\"; user = \"t\"; key = \"id_ed25519\"; "
		  SDPIN " path = \"/d\";",
		  "providers.sshdrop 1: name is missing; add name = " },
		{ "name = \"x\"; user = \"t\"; key = \"id_ed25519\"; " SDPIN
		  " path = \"/d\";",
		  "providers.sshdrop \"x\": host is missing; add host = " },
		{ "name = \"x\"; host = \"h.example\"; user = \"t\"; " SDPIN
		  " path = \"/d\";", "key is missing; add key = " },
	};
	/* port, timeout, unknown keys: line 7, after a good entry */
	static const struct mistake extras[] = {
		{ "port = 0;",
		  "port = 0 is out of range; use a value from 1 to 65535" },
		{ "port = 65536;", "port = 65536 is out of range" },
		{ "port = \"22\";", "port must be an integer" },
		{ "timeout = \"0s\";", "timeout must be between 1s and 10m" },
		{ "timeout = \"11m\";", "timeout must be between 1s and 10m" },
		{ "hosts = \"h\";", "providers.sshdrop \"sat-hub\": unknown "
		  "key \"hosts\"; did you mean \"host\"?" },
	};
	/* not a list of groups (at the providers group, line 5) */
	static const struct mistake shapes[] = {
		{ "providers = { sshdrop = { " SDOK " }; };\n",
		  "providers: sshdrop must be a list" },
		{ "providers = { sshdrop = ( \"x\" ); };\n",
		  "providers.sshdrop entry 1 must be a group" },
		{ "providers = { ssh_drop = ( ); };\n",
		  "did you mean \"sshdrop\"" },
	};
	char path[128], exp[1024];

	(void)state;
	expect_mistakes(SD_NAME, 6, names, NELEM(names));
	(void)snprintf(exp, sizeof(exp), "providers.sshdrop: the name "
	    "\"sat-hub\" is already used at %s/t.conf:5; drop host names must "
	    "be unique: rename one", drop_dir);
	expect_one_error(GW ISS POL TEAMS "providers = { sshdrop = ( {\n"
	    SDOK " },\n{ " SDOK " } ); };\n", 7, exp);
	expect_mistakes(SD_HOST, 6, hosts, NELEM(hosts));
	expect_mistakes(SD_USER, 6, users, NELEM(users));
	expect_mistakes(GW ISS POL TEAMS SDP("%s"), 5, missing,
	    NELEM(missing));

	/* key: there, a regular file, 0600 or stricter */
	(void)snprintf(path, sizeof(path), "%s/nope", drop_dir);
	(void)snprintf(exp, sizeof(exp), "providers.sshdrop \"x\": key file %s "
	    "cannot be used: No such file or directory; create it with "
	    "ssh-keygen -t ed25519 -N \"\" -f %s (its .pub goes into the drop "
	    "user's authorized_keys) and chmod 600 %s", path, path, path);
	expect_one_error(GW ISS POL TEAMS SDP(SDE("x", "h.example", "t",
	    "nope", SDPIN, "/d")), 6, exp);
	(void)snprintf(path, sizeof(path), "%s/id_0644", drop_dir);
	(void)snprintf(exp, sizeof(exp), "providers.sshdrop \"x\": key file %s "
	    "has mode 0644, not 0600, so others may read the secret; chmod 600 "
	    "%s", path, path);
	expect_one_error(GW ISS POL TEAMS SDP(SDE("x", "h.example", "t",
	    "id_0644", SDPIN, "/d")), 6, exp);
	expect_one_error(GW ISS POL TEAMS SDP(SDE("x", "h.example", "t", "/tmp",
	    SDPIN, "/d")), 6, "key file /tmp is not a regular file");

	expect_mistakes(SD_PIN, 5, unpinned, NELEM(unpinned));
	expect_mistakes(SD_PIN, 6, pins, NELEM(pins));
	(void)snprintf(exp, sizeof(exp), "known_hosts file %s/nope cannot be "
	    "read: No such file or directory; write the drop host's key into "
	    "it", drop_dir);
	expect_one_error(GW ISS POL TEAMS SDP(SDE("x", "h.example", "t",
	    "id_ed25519", "known_hosts = \"nope\";", "/d")), 6, exp);
	(void)snprintf(exp, sizeof(exp), "known_hosts file "
	    "%s/known_hosts_0666 has mode 0666, so others may change the "
	    "pinned host key; chmod go-w", drop_dir);
	expect_one_error(GW ISS POL TEAMS SDP(SDE("x", "h.example", "t",
	    "id_ed25519", "known_hosts = \"known_hosts_0666\";", "/d")), 6,
	    exp);

	expect_mistakes(SD_PATH, 6, paths, NELEM(paths));
	expect_ok(GW ISS POL TEAMS SDP(SDE("x", "h.example", "t",
	    "id_ed25519", SDPIN, "/a23456789b123456789c123456789d123456789"
	    "e123456789f123456789g123456789h123456789i123456789j123456789"
	    "k123456789l123456789m123456789n123456789o123456789p123456789"
	    "q123456789r123456789s123456789t123456789")));

	expect_mistakes(GW ISS POL TEAMS SDP(SDOK "\n%s"), 7, extras,
	    NELEM(extras));
	expect_ok(GW ISS POL TEAMS SDP(SDOK "\ntimeout = 1;"));
	expect_mistakes(GW ISS POL TEAMS "%s", 5, shapes, NELEM(shapes));
}

static void
test_team_drop(void **state)
{
	/* folder: one name under the drop path */
	static const struct mistake folders[] = {
		{ "../x", "team \"ke\" sshdrop: folder \"../x\" is not one "
		  "folder name; write 1 to 64 letters, digits, '.', '_' or "
		  "'-', not starting with '.' or '-'" },
		{ "a/b", "folder \"a/b\" is not one folder name" },
		{ ".", "folder \".\" is not one folder name" },
		{ "..", "folder \"..\" is not one folder name" },
		{ ".hidden", "folder \".hidden\" is not one" },
		{ "-rf", "folder \"-rf\" is not one" },
		{ "k e", "folder \"k e\" is not one" },
		{ "k\xc3\xa9", "is not one folder name" },
		/* libconfig takes "\x00" out of a string; what is left is
		   checked */
		{ "ke\\x00/../x", "is not one folder name" },
		{ "ke\\x01", "folder holds a control character" },
		{ "", "folder is empty" },
		{ "a123456789b123456789c123456789d123456789e123456789"
		  "f123456789g1234",
		  "folder is 65 bytes long, more than the 64 allowed" },
	};
	/* host: one of providers.sshdrop */
	static const struct mistake hosts[] = {
		{ "providers = { sshdrop = ( { " SDOK " }, { " SDE("relay",
		  "h.example", "t", "id_ed25519", SDPIN, "/d") " } ); };\n"
		  TEAMSD("ke", "{ host = \"sathub\"; }"),
		  "team \"ke\" sshdrop: host \"sathub\" is not a drop host of "
		  "providers.sshdrop (those are \"sat-hub\", \"relay\"); fix "
		  "the name or add the host to providers.sshdrop" },
		{ "\n" TEAMSD("ke", "{ host = \"sat-hub\"; }"),
		  "team \"ke\" sshdrop: host \"sat-hub\" is not a drop host: "
		  "providers.sshdrop is not configured; add providers.sshdrop "
		  "= ( { name = \"sat-hub\"; host = ...;" },
		{ SDP1 TEAMSD("ke", "{ folder = \"ke\"; }"), "team \"ke\" "
		  "sshdrop: host is missing; add host = \"NAME\";" },
		{ SDP1 TEAMSD("ke", "{ host = \"sat-hub\"; hots = 1; }"),
		  "team \"ke\" sshdrop: unknown key \"hots\"; did you mean "
		  "\"host\"?" },
		{ SDP1 TEAMSD("ke", "\"sat-hub\""), "team \"ke\": sshdrop "
		  "must be a group { host = ...; }, not a string" },
	};
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	expect_mistakes(GW ISS DPOL SDP1 TEAMSD("ke", "{ host = \"sat-hub\"; "
	    "folder = \"%s\"; }"), 6, folders, NELEM(folders));
	expect_ok(GW ISS DPOL SDP1 TEAMSD("ke", "{ host = \"sat-hub\"; "
	    "folder = \"a123456789b123456789c123456789d123456789e123456789"
	    "f123456789g123\"; }"));
	expect_mistakes(GW ISS DPOL "%s", 6, hosts, NELEM(hosts));

	/* A refused sshdrop has its error, and no warning on top. */
	assert_int_equal(load_str(GW ISS DPOL SDP1 TEAMSD("ke",
	    "{ host = \"nope\"; }"), &d, &r), TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_int_equal(d.warnings, 0);
	policy_diag_free(&d);
}

/* team:sshdrop by a team without sshdrop: a warning at the team. */
static void
test_team_drop_warning(void **state)
{
	struct policy_diag d;
	struct policy_repo *r = NULL;

	(void)state;
	r = load_warned(GW ISS DPOL SDP1 TEAMS, 5, "team \"ke\"'s policy "
	    "\"p\" sends team:sshdrop at step 1 but the team has no sshdrop; "
	    "add sshdrop = { host = \"NAME\"; }; to the team (NAME from "
	    "providers.sshdrop), or no drop is written for it");
	assert_null(policy_team_find(r, "ke")->drop_address);
	policy_free(r);

	/* Named once, at the first step that sends it; only the team
	   without sshdrop. */
	r = load_warned(GW ISS "policies = { p = { steps = ( "
	    "{ after = \"0s\"; notify = [ \"primary:sms\" ]; }, "
	    "{ after = \"1h\"; notify = [ \"team:sshdrop\" ]; }, "
	    "{ after = \"2h\"; notify = [ \"team:sshdrop\" ]; } ); }; };\n"
	    SDP1 "teams = ( " TEAM("ke") ",\n{ id = \"tz\"; domain = \"x\"; "
	    "cctld_operator = \"o\"; region = \"AF\"; policy = \"p\"; sshdrop "
	    "= { host = \"sat-hub\"; }; contacts = ( " CONTACT " ); } );\n", 5,
	    "team \"ke\"'s policy \"p\" sends team:sshdrop at step 2 but");
	assert_string_equal(policy_team_find(r, "tz")->drop_address,
	    "sat-hub:/srv/drop/tz");
	policy_free(r);

	/* No team:sshdrop, no warning, with or without sshdrop. */
	assert_int_equal(load_str(GW ISS POL SDP1 TEAMSD("ke",
	    "{ host = \"sat-hub\"; }"), &d, &r), 0);
	assert_int_equal(d.warnings, 0);
	policy_free(r);
	policy_diag_free(&d);
}

/*
 * The teams list read a slice of POLICY_SLICE_TEAMS teams at a time: the
 * same repository and the same problems, at the same places, as libconfig's
 * whole tree gives.  policy_load_string still reads the whole tree, so a
 * file loaded both ways is the reference.
 */

/* How a generated team differs from the plain one. */
struct gen_opts {
	int bad_tz;		/* team (1-based) whose contact "a" has a bad
				   time zone; 0: none */
	int syntax;		/* team whose contact "a" has "role = ;" */
	int dup_of;		/* team dup_of + 80 takes team dup_of's id */
	bool tricky;		/* brackets and "teams = (" in strings and
				   comments */
};

/* Lines a generated team takes: team i's '{' is at line
   first + GEN_LINES * (i - 1), first being the line after "teams = (". */
#define GEN_LINES 8

/* "teams = (" and n teams on lines of GEN_LINES each, then ");". */
static char *
gen_teams(int n, const struct gen_opts *o)
{
	size_t cap = (size_t)n * 640 + 64, len = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	len += (size_t)snprintf(buf + len, cap - len, "teams = (\n");
	for (int i = 1; i <= n; i++) {
		int id = o->dup_of != 0 && i == o->dup_of + 80 ? o->dup_of : i;

		len += (size_t)snprintf(buf + len, cap - len,
		    "  { id = \"t%d\"; domain = \"x\"; cctld_operator = \"%s\";\n"
		    "    region = \"AF\"; policy = \"p\";%s\n"
		    "    contacts = (%s\n"
		    "      { name = \"a\"; role = %s; timezone = \"%s\";\n"
		    "        languages = [ \"en\" ]; mobile = \"+254700555%03d\"; },\n"
		    "      { name = \"b\"; role = \"r\"; timezone = \"UTC\";\n"
		    "        languages = [ \"en\" ]; mobile = \"+254700556%03d\"; } );\n"
		    "  }%s%s\n", id,
		    o->tricky ? "o } ) , { ( \\\" teams = ( { \\\\" : "o",
		    o->tricky ? " # } ) , teams = ( {" : "",
		    o->tricky ? " // ) } teams = ( \" {" : "",
		    i == o->syntax ? "" : "\"r\"",
		    i == o->bad_tz ? "Mars/Olympus" : "UTC", i % 1000, i % 1000,
		    i < n ? "," : "",
		    o->tricky ? " /* } ) , \" teams = ( { */" : "");
	}
	len += (size_t)snprintf(buf + len, cap - len, ");\n");
	assert_true(len < cap);
	return buf;
}

static void
put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void
rm_file(const char *dir, const char *name)
{
	char path[PATH_MAX];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

/* How many teams the pre-scan of dir/name plans to read in slices; 0 when
   it reads the whole tree. */
static size_t
slice_plan(const char *dir, const char *name)
{
	struct policy_teams_plan plan;
	struct policy_diag d;
	struct policy_ctx ctx;
	char path[PATH_MAX];
	size_t n;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	memset(&ctx, 0, sizeof(ctx));
	policy_diag_init(&d);
	ctx.diag = &d;
	ctx.repo = policy_xcalloc(1, sizeof(*ctx.repo));
	ctx.repo->main_file = policy_xstrdup(path);
	ctx.repo->base_dir = policy_xstrdup(dir);
	(void)policy_intern_file(&ctx, path);
	assert_int_equal(policy_prescan_files(&ctx, path, &plan), 0);
	n = plan.ok ? plan.nteams : 0;
	policy_teams_plan_free(&plan);
	policy_free(ctx.repo);
	policy_diag_free(&d);
	return n;
}

/* Load dir/name as a file (with keep, as `tocsin check` does). */
static int
load_file(const char *dir, const char *name, struct policy_diag *d,
    struct policy_repo **r, struct tocsin_err *err)
{
	char path[PATH_MAX];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	policy_diag_init(d);
	memset(err, 0, sizeof(*err));
	return policy_load_check(path, r, d, err);
}

/* n generated teams as dir/teams.conf. */
static void
put_teams(const char *dir, int n, const struct gen_opts *o)
{
	char *teams = gen_teams(n, o);

	put_file(dir, "teams.conf", teams);
	free(teams);
}

/* dir/tocsin.conf read in slices (plan_n teams) or whole (0), refused
   with one error only, at file_suffix:line, containing frag. */
static void
expect_only_error(const char *dir, size_t plan_n, const char *file_suffix,
    int line, const char *frag)
{
	struct policy_repo *r = (struct policy_repo *)1;
	struct policy_diag d;
	struct tocsin_err err;
	char exp[64];

	assert_int_equal(slice_plan(dir, "tocsin.conf"), plan_n);
	assert_int_equal(load_file(dir, "tocsin.conf", &d, &r, &err),
	    TOCSIN_ECONFIG);
	assert_null(r);
	assert_int_equal(d.errors, 1);
	assert_int_equal(d.warnings, 0);
	assert_diag(&d, POLICY_ERROR, file_suffix, line, frag);
	/* the first error as FILE:LINE: text */
	(void)snprintf(exp, sizeof(exp), "%s:%d: ", file_suffix, line);
	assert_non_null(strstr(err.msg, exp));
	policy_diag_free(&d);
}

static void
assert_same_diag(const struct policy_diag *a, const struct policy_diag *b)
{
	bool same = a->n == b->n;

	for (size_t i = 0; same && i < a->n; i++) {
		const struct policy_diag_item *x = &a->items[i];
		const struct policy_diag_item *y = &b->items[i];

		same = x->sev == y->sev && x->line == y->line &&
		    x->file != NULL && y->file != NULL &&
		    strcmp(x->file, y->file) == 0 &&
		    strcmp(x->text, y->text) == 0;
	}
	if (!same) {
		print_message("in slices:\n");
		dump(a);
		print_message("whole:\n");
		dump(b);
		fail();
	}
}

static void
assert_same_team(const struct policy_team *a, const struct policy_team *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->src.file, b->src.file);
	assert_int_equal(a->src.line, b->src.line);
	assert_string_equal(a->cctld_operator, b->cctld_operator);
	assert_ptr_equal(a->policy != NULL, b->policy != NULL);
	assert_int_equal(a->ncontacts, b->ncontacts);
	for (size_t c = 0; c < a->ncontacts; c++) {
		const struct policy_contact *x = &a->contacts[c];
		const struct policy_contact *y = &b->contacts[c];

		assert_string_equal(x->name, y->name);
		assert_int_equal(x->src.line, y->src.line);
		assert_string_equal(x->src.file, y->src.file);
		assert_int_equal(x->pgp_src.line, y->pgp_src.line);
		assert_string_equal(x->mobile, y->mobile);
		assert_int_equal(x->nlanguages, y->nlanguages);
	}
}

/* text as dir/tocsin.conf, read in slices of plan_n teams (0: whole), and
   from a string (whole): the same problems and the same teams. */
static void
expect_same_load(const char *dir, const char *text, size_t plan_n,
    size_t nteams)
{
	struct policy_repo *a = NULL, *b = NULL;
	struct policy_diag da, db;
	struct tocsin_err err;
	int ra, rb;

	put_file(dir, "tocsin.conf", text);
	assert_int_equal(slice_plan(dir, "tocsin.conf"), plan_n);
	ra = load_file(dir, "tocsin.conf", &da, &a, &err);
	policy_diag_init(&db);
	rb = policy_load_string(text, "tocsin.conf", dir, &b, &db, &err);
	assert_int_equal(ra, rb);
	assert_same_diag(&da, &db);
	if (rb == 0) {
		assert_int_equal(a->nteams, nteams);
		assert_int_equal(b->nteams, nteams);
		for (size_t i = 0; i < nteams; i++)
			assert_same_team(&a->teams[i], &b->teams[i]);
	}
	policy_free(a);
	policy_free(b);
	policy_diag_free(&da);
	policy_diag_free(&db);
	rm_file(dir, "tocsin.conf");
}

/* The main file GW ISS POL (lines 1 to 3), teams from line 4, then
   tail. */
static char *
gen_main_tail(int n, const struct gen_opts *o, const char *tail)
{
	char *teams = gen_teams(n, o);
	size_t len = strlen(GW ISS POL) + strlen(teams) + strlen(tail) + 1;
	char *text = malloc(len);

	assert_non_null(text);
	(void)snprintf(text, len, "%s%s%s", GW ISS POL, teams, tail);
	free(teams);
	return text;
}

static char *
gen_main(int n, const struct gen_opts *o)
{
	return gen_main_tail(n, o, "");
}

static void
test_slices_same_as_whole(void **state)
{
	/* 150 teams are slices of 64, 64 and 22 */
	static const struct {
		int n;
		struct gen_opts o;
	} cases[] = {
		{ 150, { 0, 0, 0, false } },
		/* one slice, exactly two */
		{ 1, { 0, 0, 0, false } },
		{ 128, { 0, 0, 0, false } },
		/* problems in the 64th, 65th, last and first teams, and an
		   id taken again in the third slice */
		{ 150, { 64, 0, 60, false } },
		{ 150, { 65, 0, 60, false } },
		{ 150, { 150, 0, 60, false } },
		{ 150, { 1, 0, 60, false } },
		/* brackets, quotes and "teams = (" in strings and
		   comments */
		{ 150, { 0, 0, 0, true } },
		{ 150, { 100, 0, 0, true } },
	};
	char dir[] = "/tmp/tocsin-test-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text = gen_main(cases[i].n, &cases[i].o);

		expect_same_load(dir, text, (size_t)cases[i].n,
		    (size_t)cases[i].n);
		free(text);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* The house layout: the teams in a file of their own that the main file
   includes; a problem past the first slice names that file and line. */
static void
test_slices_included(void **state)
{
	static const int boundary[] = { 1, 64, 65, 130 };
	char dir[] = "/tmp/tocsin-test-XXXXXX", teams_path[PATH_MAX];
	struct policy_repo *r = NULL;
	struct policy_diag d;
	struct tocsin_err err;
	struct gen_opts o;
	char *teams, exp[PATH_MAX + 64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(teams_path, sizeof(teams_path), "%s/teams.conf", dir);
	put_file(dir, "tocsin.conf", GW ISS POL "# the teams:\n"
	    "@include \"teams.conf\" // all of them\n");
	memset(&o, 0, sizeof(o));
	o.bad_tz = 100;
	put_teams(dir, 130, &o);
	assert_int_equal(slice_plan(dir, "tocsin.conf"), 130);
	assert_int_equal(load_file(dir, "tocsin.conf", &d, &r, &err),
	    TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	/* team 100's '{' is at 2 + 8 * 99, its contact "a" 3 lines on */
	assert_diag(&d, POLICY_ERROR, "/teams.conf", 2 + GEN_LINES * 99 + 3,
	    "team \"t100\" contact \"a\": timezone \"Mars/Olympus\"");
	(void)snprintf(exp, sizeof(exp), "%s:%d: team \"t100\"", teams_path,
	    2 + GEN_LINES * 99 + 3);
	assert_memory_equal(err.msg, exp, strlen(exp));
	assert_int_equal(r->nteams, 130);
	for (size_t k = 0; k < sizeof(boundary) / sizeof(boundary[0]); k++) {
		const struct policy_team *t = &r->teams[boundary[k] - 1];
		char id[16];

		(void)snprintf(id, sizeof(id), "t%d", boundary[k]);
		assert_string_equal(t->id, id);
		assert_string_equal(t->src.file, teams_path);
		assert_int_equal(t->src.line, 2 + GEN_LINES * (boundary[k] - 1));
		assert_int_equal(t->ncontacts, 2);
		assert_string_equal(t->contacts[1].name, "b");
		assert_int_equal(t->contacts[1].src.line, t->src.line + 5);
		assert_string_equal(t->contacts[1].src.file, teams_path);
		assert_non_null(t->policy);
	}
	policy_free(r);
	policy_diag_free(&d);

	/* A syntax error in a later slice: libconfig's message, alone,
	   though the main file has a problem of its own. */
	put_file(dir, "tocsin.conf", GW ISS POL "gateway2 = 1;\n"
	    "@include \"teams.conf\"\n");
	memset(&o, 0, sizeof(o));
	o.syntax = 120;
	put_teams(dir, 130, &o);
	expect_only_error(dir, 130, "/teams.conf", 2 + GEN_LINES * 119 + 3,
	    "syntax error; look on this line");

	/* Without the syntax error, the main file's problem is found. */
	memset(&o, 0, sizeof(o));
	put_teams(dir, 130, &o);
	assert_int_equal(load_file(dir, "tocsin.conf", &d, &r, &err),
	    TOCSIN_ECONFIG);
	assert_int_equal(d.errors, 1);
	assert_diag(&d, POLICY_ERROR, "/tocsin.conf", 4,
	    "unknown key \"gateway2\"");
	assert_int_equal(r->nteams, 130);
	policy_free(r);
	policy_diag_free(&d);

	/* A repeated key in a team is libconfig's error too. */
	teams = gen_teams(130, &o);
	memcpy(strstr(teams, "\"t99\"; domain") + 7, "id    ", 6);
	put_file(dir, "teams.conf", teams);
	free(teams);
	expect_only_error(dir, 130, "/teams.conf", 2 + GEN_LINES * 98,
	    "duplicate setting name; a key may appear once");
	rm_file(dir, "tocsin.conf");
	rm_file(dir, "teams.conf");
	assert_int_equal(rmdir(dir), 0);
}

/* Shapes that are not read in slices: the whole tree, as before. */
static void
test_slices_fallback(void **state)
{
	char dir[] = "/tmp/tocsin-test-XXXXXX";
	struct policy_repo *r = NULL;
	struct policy_diag d;
	struct tocsin_err err;
	struct gen_opts o;
	char *teams, *text, *cut;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&o, 0, sizeof(o));
	/* an @include in the list: 70 teams, the last 5 from more.conf */
	teams = gen_teams(70, &o);
	cut = strstr(teams, "  { id = \"t66\"");
	assert_non_null(cut);
	len = strlen(teams);
	text = malloc(len + 64);
	assert_non_null(text);
	memcpy(text, teams, (size_t)(cut - teams));
	(void)snprintf(text + (cut - teams), len + 64 - (size_t)(cut - teams),
	    "@include \"more.conf\"\n);\n");
	memcpy(strstr(cut, "\n);\n"), "\n", 2);
	put_file(dir, "more.conf", cut);
	free(teams);
	put_file(dir, "teams.conf", text);
	put_file(dir, "tocsin.conf", GW ISS POL "@include \"teams.conf\"\n");
	assert_int_equal(slice_plan(dir, "tocsin.conf"), 0);
	assert_int_equal(load_file(dir, "tocsin.conf", &d, &r, &err), 0);
	assert_int_equal(d.errors, 0);
	assert_int_equal(r->nteams, 70);
	assert_string_equal(r->teams[64].id, "t65");
	assert_true(ends_with(r->teams[64].src.file, "/teams.conf"));
	assert_string_equal(r->teams[69].id, "t70");
	assert_true(ends_with(r->teams[69].src.file, "/more.conf"));
	assert_int_equal(r->teams[69].src.line, 1 + GEN_LINES * 4);
	policy_free(r);
	policy_diag_free(&d);
	free(text);
	rm_file(dir, "more.conf");
	/* Where the list stands wrongly, libconfig refuses the main file
	   with the list cut out too (an empty list stands in for it), and
	   the whole tree gives its message: a ';' too many after it, a
	   setting before it not finished (in the main file or at the end
	   of one it includes) */
	put_teams(dir, 70, &o);
	put_file(dir, "tocsin.conf", GW ISS POL "@include \"teams.conf\"\n"
	    ";\n");
	expect_only_error(dir, 70, "/tocsin.conf", 5, "syntax error");
	put_file(dir, "tocsin.conf", GW ISS POL "x =\n@include \"teams.conf\"\n"
	    "\"v\";\n");
	expect_only_error(dir, 70, "/teams.conf", 1, "syntax error");
	rm_file(dir, "teams.conf");
	put_file(dir, "x.conf", "x =\n");
	teams = gen_teams(70, &o);
	len = strlen(teams) + 64;
	text = malloc(len);
	assert_non_null(text);
	(void)snprintf(text, len, "@include \"x.conf\"\n%s\"v\";\n", teams);
	free(teams);
	put_file(dir, "tocsin.conf", text);
	free(text);
	expect_only_error(dir, 70, "/tocsin.conf", 2, "syntax error");
	rm_file(dir, "x.conf");
	rm_file(dir, "tocsin.conf");
	text = gen_main_tail(70, &o, ";\n");
	expect_same_load(dir, text, 70, 0);
	free(text);

	/* a teams setting twice: libconfig's message */
	text = gen_main_tail(3, &o, TEAMS);
	expect_same_load(dir, text, 0, 0);
	free(text);
	/* the list sharing its line with another setting */
	text = gen_main(70, &o);
	text[strlen(GW ISS POL) - 1] = ' ';
	expect_same_load(dir, text, 0, 70);
	free(text);
	/* and a setting after it on its last line */
	text = gen_main_tail(70, &o, "groups = { };\n");
	memcpy(strstr(text, "\n);\n"), "\n); ", 4);
	expect_same_load(dir, text, 0, 70);
	free(text);
	/* a trailing ',' and an empty list */
	text = gen_main(70, &o);
	memcpy(strstr(text, "\n);\n"), ",\n);", 4);
	expect_same_load(dir, text, 0, 0);
	free(text);
	expect_same_load(dir, GW ISS POL "teams = (\n);\n", 0, 0);
	/* a team that is not a group */
	text = gen_main(70, &o);
	memcpy(strstr(text, "\n);\n"), ",1);", 4);
	expect_same_load(dir, text, 0, 0);
	free(text);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_config),
		cmocka_unit_test(test_include_other_cwd),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_load_check),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_include_problems),
		cmocka_unit_test(test_slices_same_as_whole),
		cmocka_unit_test(test_slices_included),
		cmocka_unit_test(test_slices_fallback),
		cmocka_unit_test(test_secret_modes),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_group_problems),
		cmocka_unit_test(test_target_contacts),
		cmocka_unit_test(test_channel_needs),
		cmocka_unit_test(test_warnings_only),
		cmocka_unit_test(test_value_mistakes),
		cmocka_unit_test(test_team_and_contact_mistakes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_section_limits),
		cmocka_unit_test(test_list_members),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_e164),
		cmocka_unit_test(test_fpr_and_names),
		cmocka_unit_test(test_timezones),
		cmocka_unit_test(test_small_parsers),
		cmocka_unit_test(test_diag),
		cmocka_unit_test(test_http_providers),
		cmocka_unit_test(test_provider_values),
		cmocka_unit_test(test_fax_provider),
		cmocka_unit_test(test_fax_addresses),
		cmocka_unit_test(test_fax_address),
		cmocka_unit_test(test_fax_detail),
		cmocka_unit_test(test_gateway_phones),
		cmocka_unit_test(test_gateway_short_name),
		cmocka_unit_test(test_gateway_values),
		cmocka_unit_test(test_quorum_rules),
		cmocka_unit_test(test_quorum_mistakes),
		cmocka_unit_test_setup_teardown(test_drop_hosts, drop_setup,
		    drop_teardown),
		cmocka_unit_test_setup_teardown(test_drop_host_mistakes,
		    drop_setup, drop_teardown),
		cmocka_unit_test_setup_teardown(test_team_drop, drop_setup,
		    drop_teardown),
		cmocka_unit_test_setup_teardown(test_team_drop_warning,
		    drop_setup, drop_teardown),
		cmocka_unit_test_setup_teardown(test_pinned_addresses,
		    drop_setup, drop_teardown),
		cmocka_unit_test_setup_teardown(test_templates,
		    drop_setup, drop_teardown),
		cmocka_unit_test_setup_teardown(test_modem_provider,
		    drop_setup, drop_teardown),
	};
	const char *s = getenv("TOCSIN_SRCDIR");

	if (s == NULL || s[0] != '/' || strlen(s) >= sizeof(srcdir)) {
		fprintf(stderr, "test_policy: set TOCSIN_SRCDIR to the "
		    "absolute source root\n");
		return 1;
	}
	(void)snprintf(srcdir, sizeof(srcdir), "%s", s);
	/* the channels as serve knows them: a repository names them */
	chan_kinds_publish();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
