/*
 * unit_util.h: small helpers shared by the cmocka unit tests.
 *
 * Include it after <cmocka.h> (and its prerequisites), for the report
 * helpers after "report.h" and, for unit_load_repo, after "policy.h" (it publishes the built-in channels'
 * kinds, so the test links the channels library).  Each helper is static, so every test
 * executable has its own copy, and marked unused, so that a test that does
 * not call one still builds without a warning.
 */
#ifndef TOCSIN_UNIT_UTIL_H
#define TOCSIN_UNIT_UTIL_H

#include <stdarg.h>
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
	char p[1024], *s;

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

static int unit_sh(const char *, ...)
    __attribute__((unused, format(printf, 1, 2)));
static char *unit_slurp(const char *, size_t *) __attribute__((unused));
static int unit_pki_make(const char *) __attribute__((unused));
static void unit_pki_fpr(const char *, const char *, char[41])
    __attribute__((unused));
static char *unit_pki_sign(const char *, const char *, const char *,
    const char *, const char *, size_t *) __attribute__((unused));
static void unit_pki_remove(const char *) __attribute__((unused));

/* The shell command made of fmt as printf makes it, run by system(3);
   its status. */
static int
unit_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void unit_rm_rf(const char *) __attribute__((unused));

/* A test's temporary folder removed with what is in it; one that cannot
   be removed leaves a folder in /tmp, no more, and is said. */
static void
unit_rm_rf(const char *dir)
{
	if (unit_sh("rm -rf '%s'", dir) != 0)
		print_message("could not remove %s\n", dir);
}

/* The whole file at path, NUL-terminated, in a string of malloc's that
   the caller frees; its length in *len.  The file must be there. */
static char *
unit_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* The throwaway PKI of certs/mkpki.sh (from the source tree named by
   TOCSIN_SRCDIR) made in dir/pki, quietly; 0, or -1 when it could not
   be, so that a setup can return it. */
static int
unit_pki_make(const char *dir)
{
	const char *src = getenv("TOCSIN_SRCDIR");

	if (src == NULL || unit_sh("sh %s/certs/mkpki.sh %s/pki >/dev/null "
	    "2>&1", src, dir) != 0)
		return -1;
	return 0;
}

/* The fingerprint (40 hex digits) of the PKI's key named key, as
   dir/pki/pki.json lists it, into out. */
static void
unit_pki_fpr(const char *dir, const char *key, char out[41])
{
	char path[256], pat[64], *json;
	const char *p;
	size_t len;

	(void)snprintf(path, sizeof(path), "%s/pki/pki.json", dir);
	json = unit_slurp(path, &len);
	(void)snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(json, pat);
	assert_non_null(p);
	assert_true(strlen(p + strlen(pat)) >= 40);
	memcpy(out, p + strlen(pat), 40);
	out[40] = '\0';
	free(json);
}

/* The file in signed by the PKI's signer key fpr into out, with the gpg
   options opts (how: --clearsign, --detach-sign...); out read back as
   unit_slurp reads it. */
static char *
unit_pki_sign(const char *dir, const char *fpr, const char *opts,
    const char *in, const char *out, size_t *len)
{
	assert_int_equal(unit_sh("gpg --homedir %s/pki/signers --batch --yes "
	    "--quiet --pinentry-mode loopback --passphrase '' --local-user %s "
	    "%s --output %s %s", dir, fpr, opts, out, in), 0);
	return unit_slurp(out, len);
}

/* The agents of the PKI's GnuPG homes stopped, then dir removed with
   all it holds. */
static void
unit_pki_remove(const char *dir)
{
	(void)unit_sh("gpgconf --homedir %s/pki/gnupg --kill all; gpgconf "
	    "--homedir %s/pki/signers --kill all; rm -rf %s", dir, dir, dir);
}

#ifdef REPORT_H	/* "report.h" was included */
static const struct report_team *unit_report_team(const struct report *,
    const char *) __attribute__((unused));
static char *unit_report_text(int (*)(const struct report *, FILE *,
    struct tocsin_err *), const struct report *, size_t *)
    __attribute__((unused));

/* The report's team id, which must be in it. */
static const struct report_team *
unit_report_team(const struct report *r, const char *id)
{
	for (size_t i = 0; i < r->nteams; i++)
		if (strcmp(r->teams[i].id, id) == 0)
			return &r->teams[i];
	fail_msg("no team %s in the report", id);
	return NULL;
}

/* The report as fn writes it (report_json, report_csv...), which must
   succeed, in a string of malloc's that the caller frees; its length in
   *len. */
static char *
unit_report_text(int (*fn)(const struct report *, FILE *,
    struct tocsin_err *), const struct report *r, size_t *len)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);
	struct tocsin_err e;

	assert_non_null(m);
	assert_int_equal(fn(r, m, &e), 0);
	assert_int_equal(fclose(m), 0);
	assert_non_null(buf);
	return buf;
}
#endif

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
