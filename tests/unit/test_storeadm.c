/*
 * test_storeadm.c: the files of `store backup` (a private copy and its
 * checkpoint beside it, never over a file that exists, nothing left
 * behind), the dates `store prune --before` takes, and the mode warnings
 * of `check`.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "check.h"
#include "store.h"
#include "storeadm.h"
#include "unit_util.h"

struct fx {
	char dir[64];
	char store[128];
	struct policy_repo repo;
	FILE *out;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store *s = NULL;
	struct tocsin_err e;

	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tsa-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	(void)snprintf(f->store, sizeof(f->store), "%s/state/t.db", f->dir);
	f->repo.gateway.store = f->store;
	if (store_open(f->store, &s, &e) != 0 ||
	    store_audit(s, 1000, "test", "note", "x", "y", &e) != 0)
		return -1;
	store_close(s);
	f->out = fopen("/dev/null", "w");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fclose(f->out);
	unit_rm_rf(f->dir);
	free(f);
	return 0;
}

static void
put(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
expect_text(const char *path, const char *text)
{
	char buf[64] = "";
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, text);
}

static int
mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (int)(sb.st_mode & 07777);
}

/* The copy and the checkpoint's copy are 0600 under a loose umask; no
   temporary file stays; the copy is a store with the same log. */
static void
test_backup_makes_private_files(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;
	struct store *s = NULL;
	char copy[160], cp[160], src_cp[160], tmp[160];
	int64_t bad, n;
	mode_t old;

	(void)snprintf(copy, sizeof(copy), "%s/b.db", f->dir);
	(void)snprintf(cp, sizeof(cp), "%s/b.db.checkpoint", f->dir);
	(void)snprintf(tmp, sizeof(tmp), "%s/b.db.tmp", f->dir);
	(void)snprintf(src_cp, sizeof(src_cp), "%s.checkpoint", f->store);
	put(src_cp, "signed head\n");
	old = umask(0);
	assert_int_equal(storeadm_backup(&f->repo, copy, f->out, NULL, &e), 0);
	umask(old);
	assert_int_equal(mode_of(copy), 0600);
	assert_int_equal(mode_of(cp), 0600);
	expect_text(cp, "signed head\n");
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(store_open(copy, &s, &e), 0);
	assert_int_equal(store_audit_verify(s, &bad, &n, &e), 0);
	assert_int_equal(n, 1);
	store_close(s);
}

/* A file in the way (the copy, its checkpoint's copy, a temporary file
   left behind) is refused and left as it was; nothing else is made. */
static void
test_backup_never_replaces(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;
	char copy[160], cp[160], tmp[160];

	(void)snprintf(copy, sizeof(copy), "%s/b.db", f->dir);
	(void)snprintf(cp, sizeof(cp), "%s/b.db.checkpoint", f->dir);
	(void)snprintf(tmp, sizeof(tmp), "%s/b.db.tmp", f->dir);
	put(copy, "older backup\n");
	assert_int_equal(storeadm_backup(&f->repo, copy, f->out, NULL, &e),
	    TOCSIN_EUSAGE);
	assert_non_null(strstr(e.msg, "exists"));
	expect_text(copy, "older backup\n");
	assert_int_equal(access(tmp, F_OK), -1);
	unlink(copy);
	put(cp, "older checkpoint\n");
	assert_int_equal(storeadm_backup(&f->repo, copy, f->out, NULL, &e),
	    TOCSIN_EUSAGE);
	assert_int_equal(access(copy, F_OK), -1);
	expect_text(cp, "older checkpoint\n");
	unlink(cp);
	put(tmp, "half\n");
	assert_int_equal(storeadm_backup(&f->repo, copy, f->out, NULL, &e),
	    TOCSIN_EUSAGE);
	assert_non_null(strstr(e.msg, "did not finish"));
	assert_int_equal(access(copy, F_OK), -1);
	expect_text(tmp, "half\n");
}

/* No store: nothing to back up, and none is made. */
static void
test_backup_without_a_store(void **state)
{
	struct fx *f = *state;
	struct tocsin_err e;
	char none[160], copy[160];

	(void)snprintf(none, sizeof(none), "%s/none/t.db", f->dir);
	(void)snprintf(copy, sizeof(copy), "%s/b.db", f->dir);
	f->repo.gateway.store = none;
	assert_int_equal(storeadm_backup(&f->repo, copy, f->out, NULL, &e),
	    TOCSIN_ENOINPUT);
	assert_int_equal(access(none, F_OK), -1);
	assert_int_equal(access(copy, F_OK), -1);
}

static void
test_date_parse(void **state)
{
	int64_t t = 0;

	(void)state;
	assert_int_equal(storeadm_date_parse("2026-01-31", &t), 0);
	assert_int_equal(t, 1769817600);
	assert_int_equal(storeadm_date_parse("2026-01-31T12:00:00", &t), 0);
	assert_int_equal(t, 1769817600 + 43200);
	assert_int_equal(storeadm_date_parse("2026-01-31T12:00:00Z", &t), 0);
	assert_int_equal(t, 1769817600 + 43200);
	assert_int_equal(storeadm_date_parse("2026-01-31T12:00:00+01:00", &t),
	    0);
	assert_int_equal(t, 1769817600 + 39600);
	assert_int_equal(storeadm_date_parse("2026-02-30", &t), TOCSIN_EDATA);
	assert_int_equal(storeadm_date_parse("yesterday", &t), TOCSIN_EDATA);
	assert_int_equal(storeadm_date_parse("", &t), TOCSIN_EDATA);
	assert_int_equal(storeadm_date_parse("2026-01-31 12:00:00", &t),
	    TOCSIN_EDATA);
}

/* check warns of a store others can read, with its mode and remedy, and
   says nothing of private files. */
static void
test_check_modes(void **state)
{
	struct fx *f = *state;
	struct policy_diag d;

	policy_diag_init(&d);
	check_modes(&f->repo, &d);
	assert_int_equal(d.warnings, 0);
	policy_diag_free(&d);
	assert_int_equal(chmod(f->store, 0644), 0);
	policy_diag_init(&d);
	check_modes(&f->repo, &d);
	assert_int_equal(d.warnings, 1);
	assert_int_equal(d.errors, 0);
	assert_non_null(strstr(d.items[0].text, "mode 0644"));
	assert_non_null(strstr(d.items[0].text, "chmod 600"));
	assert_non_null(strstr(d.items[0].text, f->store));
	policy_diag_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backup_makes_private_files,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_never_replaces,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_without_a_store,
		    setup, teardown),
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test_setup_teardown(test_check_modes, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
