/*
 * test_check.c: what `tocsin check` says of contacts not confirmed lately
 * (check_stale).
 *
 * Without a store nothing is said (check never makes one); with a store
 * in which no contact ever confirmed a check, one warning says so,
 * instead of one per contact.
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

#include "check.h"
#include "policy.h"
#include "store.h"
#include "unit_util.h"

#define FPR_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FPR_B "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
/* 2026-01-10 18:30 UTC */
#define T0 INT64_C(1768069800)

static const char repo_text[] =
	"gateway = { store = \"s.db\"; gnupg_home = \"g\"; "
	"signing_key = \"" FPR_A "\"; };\n"
	"issuers = ( { name = \"d\"; openpgp = \"" FPR_B "\"; "
	"may_address = [ \"all\" ]; } );\n"
	"policies = { l = { steps = ( { after = \"0s\"; "
	"notify = [ \"primary:sms\" ]; } ); }; };\n"
	"teams = ( { id = \"ch\"; domain = \"ch\"; cctld_operator = \"o\"; "
	"region = \"EU\"; policy = \"l\"; contacts = ( { name = \"ann\"; "
	"role = \"r\"; primary = true; timezone = \"UTC\"; "
	"languages = [ \"en\" ]; mobile = \"+41790000001\"; }, "
	"{ name = \"bob\"; role = \"r\"; substitute = true; "
	"timezone = \"UTC\"; languages = [ \"en\" ]; "
	"mobile = \"+41790000002\"; } ); } );\n";

static void
test_stale(void **state)
{
	struct policy_repo *repo = unit_load_repo(repo_text);
	struct policy_diag d;
	struct store *st = NULL;
	struct tocsin_err e;
	char dir[] = "/tmp/tcheck-XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/s.db", dir);
	free(repo->gateway.store);
	assert_non_null(repo->gateway.store = strdup(path));

	/* no store: nothing said, and none made */
	policy_diag_init(&d);
	check_stale(repo, T0, &d);
	assert_int_equal(d.n, 0);
	assert_int_not_equal(access(path, F_OK), 0);
	policy_diag_free(&d);

	/* a store where nobody ever confirmed: one warning for all */
	assert_int_equal(store_open(path, &st, &e), 0);
	store_close(st);
	policy_diag_init(&d);
	check_stale(repo, T0, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.warnings, 1);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.items[0].sev, POLICY_WARNING);
	assert_string_equal(d.items[0].text, "no contact has confirmed a "
	    "contact check yet: run 'tocsin verify-contacts'");
	policy_diag_free(&d);

	policy_free(repo);
	unit_store_remove(dir, path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
