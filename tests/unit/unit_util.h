/*
 * unit_util.h: small helpers shared by the cmocka unit tests.
 *
 * Include it after <cmocka.h> (and its prerequisites) and, for
 * unit_load_repo, after "policy.h" (it publishes the built-in channels'
 * kinds, so the test links the channels library).  Each helper is static, so every test
 * executable has its own copy, and marked unused, so that a test that does
 * not call one still builds without a warning.
 */
#ifndef TOCSIN_UNIT_UTIL_H
#define TOCSIN_UNIT_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *unit_rep(const char *, size_t) __attribute__((unused));

/* s repeated n times, in a string of malloc's that the caller frees. */
static char *
unit_rep(const char *s, size_t n)
{
	size_t k = strlen(s);
	char *r = malloc(k * n + 1);

	assert_non_null(r);
	for (size_t i = 0; i < n; i++)
		memcpy(r + i * k, s, k);
	r[k * n] = '\0';
	return r;
}

static void unit_store_remove(const char *, const char *)
    __attribute__((unused));

/* A SQLite store at path (closed) removed with its WAL and shared-memory
   files, then the folders between it and its temporary folder dir (those
   store_open made), then dir; each must then be empty. */
static void
unit_store_remove(const char *dir, const char *path)
{
	char p[512], *s;

	(void)unlink(path);
	(void)snprintf(p, sizeof(p), "%s-wal", path);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s-shm", path);
	(void)unlink(p);
	(void)snprintf(p, sizeof(p), "%s", path);
	while ((s = strrchr(p, '/')) != NULL && (size_t)(s - p) > strlen(dir)) {
		*s = '\0';
		assert_int_equal(rmdir(p), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

#ifdef POLICY_H	/* "policy.h" was included */
#include "channel.h"

static struct policy_repo *unit_load_repo(const char *)
    __attribute__((unused));

/* The configuration text, read as t.conf with the base folder /tmp; it
   must load: otherwise its diagnostics are printed and the test fails.
   The caller frees the repository with policy_free. */
static struct policy_repo *
unit_load_repo(const char *text)
{
	struct policy_repo *r = NULL;
	struct policy_diag d;
	struct tocsin_err e = { 0 };

	/* the channels as serve knows them: a repository names them */
	chan_kinds_publish();
	policy_diag_init(&d);
	if (policy_load_string(text, "t.conf", "/tmp", &r, &d, &e) != 0) {
		for (size_t i = 0; i < d.n; i++)
			print_message("  t.conf:%d: %s\n", d.items[i].line,
			    d.items[i].text);
		policy_diag_free(&d);
		fail_msg("policy_load_string: %s", e.msg);
	}
	policy_diag_free(&d);
	assert_non_null(r);
	return r;
}
#endif

#endif
