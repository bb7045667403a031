/*
 * test_certs.c: signature verification and key facts against a real
 * throwaway PKI (certs/mkpki.sh) and real gpg/openssl signatures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <cmocka.h>

#include "channel.h"
#include "certs.h"
#include "unit_util.h"

static char dir[64];
static char fpr_desk1[41], fpr_expired[41], fpr_revoked[41], fpr_gw[41];
static char alert[128];
static const char body[] = "<alert>certs unit test</alert>\n";

static int
setup(void **state)
{
	FILE *f;

	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/tcu-XXXXXX");
	if (mkdtemp(dir) == NULL || unit_pki_make(dir) != 0)
		return -1;
	unit_pki_fpr(dir, "desk-1", fpr_desk1);
	unit_pki_fpr(dir, "expired", fpr_expired);
	unit_pki_fpr(dir, "revoked", fpr_revoked);
	unit_pki_fpr(dir, "gateway", fpr_gw);
	(void)snprintf(alert, sizeof(alert), "%s/alert.xml", dir);
	f = fopen(alert, "w");
	fputs(body, f);
	fclose(f);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unit_pki_remove(dir);
	return 0;
}

/* Sign alert with an issuer key; extra gpg options; returns the file. */
static char *
gpg_sign(const char *fpr, const char *opts, const char *suffix, size_t *len)
{
	char out[256];

	(void)snprintf(out, sizeof(out), "%s.%s", alert, suffix);
	return unit_pki_sign(dir, fpr, opts, alert, out, len);
}

static struct certs_ctx *
ctx_open(void)
{
	char home[128];
	struct certs_ctx *cx = NULL;
	struct tocsin_err e;

	(void)snprintf(home, sizeof(home), "%s/pki/gnupg", dir);
	assert_int_equal(certs_open(home, &cx, &e), 0);
	return cx;
}

static void
test_blob_kind(void **state)
{
	(void)state;
	assert_int_equal(certs_blob_kind("-----BEGIN PGP SIGNATURE-----\n", 30),
	    CERTS_BLOB_OPENPGP);
	assert_int_equal(certs_blob_kind("-----BEGIN CMS-----\n", 20),
	    CERTS_BLOB_CMS);
	assert_int_equal(certs_blob_kind("-----BEGIN PKCS7-----\n", 22),
	    CERTS_BLOB_CMS);
	assert_int_equal(certs_blob_kind("\x30\x82", 2), CERTS_BLOB_CMS);
	assert_int_equal(certs_blob_kind("\x89\x01", 2), CERTS_BLOB_OPENPGP);
	assert_int_equal(certs_blob_kind("hello", 5), CERTS_BLOB_UNKNOWN);
	assert_true(certs_is_inline_openpgp(
	    "-----BEGIN PGP SIGNED MESSAGE-----\n", 35));
	assert_false(certs_is_inline_openpgp("<alert/>", 8));
}

static void
verify_one(const char *fpr, const char *faked, bool good, const char *why,
    const char *data, size_t dlen)
{
	struct certs_ctx *cx = ctx_open();
	struct certs_sigs sigs = { .n = 0 };
	struct tocsin_err e;
	char opts[128];
	size_t slen;
	char *sig;

	(void)snprintf(opts, sizeof(opts), "%s%s --armor --detach-sign",
	    faked ? "--faked-system-time " : "", faked ? faked : "");
	sig = gpg_sign(fpr, opts, "asc", &slen);
	assert_int_equal(certs_verify_detached(cx, data, dlen, sig, slen, NULL,
	    &sigs, &e), 0);
	assert_int_equal(sigs.n, 1);
	assert_int_equal(sigs.sig[0].good, good);
	assert_string_equal(sigs.sig[0].signer, fpr);
	if (why != NULL)
		assert_non_null(strstr(sigs.sig[0].reason, why));
	free(sig);
	certs_close(cx);
}

static void
test_detached_good(void **state)
{
	(void)state;
	verify_one(fpr_desk1, NULL, true, NULL, body, strlen(body));
}

static void
test_detached_tampered(void **state)
{
	(void)state;
	verify_one(fpr_desk1, NULL, false, "bad signature",
	    "<alert>certs unit test!</alert>\n", strlen(body) + 1);
}

static void
test_detached_expired(void **state)
{
	(void)state;
	verify_one(fpr_expired, "20200601T000000", false, "expired", body,
	    strlen(body));
}

static void
test_detached_revoked(void **state)
{
	(void)state;
	verify_one(fpr_revoked, NULL, false, "revoked", body, strlen(body));
}

static void
test_inline_clearsigned(void **state)
{
	struct certs_ctx *cx = ctx_open();
	struct certs_sigs sigs = { .n = 0 };
	struct tocsin_err e;
	char *msg, *plain;
	size_t mlen, plen;

	(void)state;
	msg = gpg_sign(fpr_desk1, "--clearsign", "clear", &mlen);
	assert_int_equal(certs_verify_inline(cx, msg, mlen, 4096, &plain, &plen,
	    &sigs, &e), 0);
	assert_int_equal(sigs.n, 1);
	assert_true(sigs.sig[0].good);
	assert_non_null(strstr(plain, "certs unit test"));
	free(plain);
	/* the same message over the size limit is refused */
	sigs.n = 0;
	assert_int_equal(certs_verify_inline(cx, msg, mlen, 4, &plain, &plen,
	    &sigs, &e), TOCSIN_ETOOBIG);
	assert_null(plain);
	free(msg);
	certs_close(cx);
}

/* A signed message of 200 MB of zeros, bzip2 at level 9: a few hundred
   bytes.  Refused at the limit while gpg unpacks it: memory grows by the
   limit, not by the 200 MB; no signature of it is reported. */
static void
test_inline_bomb_bounded(void **state)
{
	struct certs_ctx *cx = ctx_open();
	struct certs_sigs sigs = { .n = 0 };
	struct rusage before, after;
	struct tocsin_err e;
	char out[256], *msg, *plain = NULL;
	size_t mlen, plen = 0;

	(void)state;
	(void)snprintf(out, sizeof(out), "%s/bomb.gpg", dir);
	assert_int_equal(unit_sh("head -c 200000000 /dev/zero | gpg --homedir "
	    "%s/pki/signers --batch --yes --quiet --pinentry-mode loopback "
	    "--passphrase '' --local-user %s --compress-algo bzip2 "
	    "--bzip2-compress-level 9 -z 9 --sign --output %s", dir, fpr_desk1,
	    out), 0);
	msg = unit_slurp(out, &mlen);
	assert_true(mlen < 2048);
	assert_int_equal(getrusage(RUSAGE_SELF, &before), 0);
	assert_int_equal(certs_verify_inline(cx, msg, mlen, 256 * 1024, &plain,
	    &plen, &sigs, &e), TOCSIN_ETOOBIG);
	assert_int_equal(getrusage(RUSAGE_SELF, &after), 0);
	assert_null(plain);
	assert_int_equal(sigs.n, 0);
	assert_non_null(strstr(e.msg, "more than 262144 bytes"));
	/* ru_maxrss is in KiB: the peak grew by less than 16 MiB */
	assert_true(after.ru_maxrss - before.ru_maxrss < 16 * 1024);
	free(msg);
	certs_close(cx);
}

static void
test_garbage_signature(void **state)
{
	struct certs_ctx *cx = ctx_open();
	struct certs_sigs sigs = { .n = 0 };
	struct tocsin_err e;

	(void)state;
	assert_int_equal(certs_verify_detached(cx, body, strlen(body), "junk", 4,
	    NULL, &sigs, &e), TOCSIN_EPERM);
	assert_int_equal(sigs.n, 0);
	certs_close(cx);
}

static void
cms_one(const char *cert, const char *key, bool good)
{
	struct certs_sigs sigs = { .n = 0 };
	struct tocsin_err e;
	char out[256], ca[256], pem[256], fp[65];
	size_t slen;
	char *sig;

	(void)snprintf(out, sizeof(out), "%s.p7s", alert);
	assert_int_equal(unit_sh("openssl cms -sign -binary -in %s -signer %s/pki/%s "
	    "-inkey %s/pki/%s -outform PEM -out %s", alert, dir, cert, dir, key,
	    out), 0);
	sig = unit_slurp(out, &slen);
	(void)snprintf(ca, sizeof(ca), "%s/pki/issuer-ca.pem", dir);
	assert_int_equal(certs_cms_verify(body, strlen(body), sig, slen, ca,
	    &sigs, &e), 0);
	assert_int_equal(sigs.n, 1);
	assert_int_equal(sigs.sig[0].kind, CERTS_CMS);
	assert_int_equal(sigs.sig[0].good, good);
	(void)snprintf(pem, sizeof(pem), "%s/pki/%s", dir, cert);
	assert_int_equal(certs_cert_fingerprint(pem, fp, &e), 0);
	assert_string_equal(sigs.sig[0].signer, fp);
	free(sig);
}

static void
test_cms_good(void **state)
{
	(void)state;
	cms_one("cms-issuer.pem", "cms-issuer.key", true);
}

static void
test_cms_rogue(void **state)
{
	(void)state;
	cms_one("rogue-issuer.pem", "rogue-issuer.key", false);
}

static void
test_keyring(void **state)
{
	struct certs_ctx *cx = ctx_open();
	struct certs_keyring *pub = NULL, *sec = NULL;
	struct certs_keyinfo ki;
	struct tocsin_err e;

	(void)state;
	assert_int_equal(certs_keyring_load(cx, false, &pub, &e), 0);
	assert_int_equal(certs_keyring_load(cx, true, &sec, &e), 0);
	assert_true(certs_keyring_size(pub) >= 6);
	certs_keyring_find(pub, fpr_desk1, &ki);
	assert_true(ki.found && !ki.expired && !ki.revoked && ki.can_sign);
	certs_keyring_find(pub, fpr_expired, &ki);
	assert_true(ki.found && ki.expired);
	certs_keyring_find(pub, fpr_revoked, &ki);
	assert_true(ki.found && ki.revoked);
	certs_keyring_find(pub, "0000000000000000000000000000000000000000", &ki);
	assert_false(ki.found);
	certs_keyring_find(sec, fpr_gw, &ki);
	assert_true(ki.found && ki.secret);
	certs_keyring_find(sec, fpr_desk1, &ki);
	assert_false(ki.found);
	assert_int_equal(certs_key_info(cx, fpr_expired, false, &ki, &e), 0);
	assert_true(ki.found && ki.expired);
	certs_keyring_free(pub);
	certs_keyring_free(sec);
	certs_close(cx);
}

/* The last fingerprint gpg lists for key in home (a subkey's, when it has
   one), into out[41]. */
static void
last_fpr(const char *home, const char *key, char out[41])
{
	char cmd[512], line[512];
	FILE *p;

	(void)snprintf(cmd, sizeof(cmd), "gpg --homedir %s --with-colons "
	    "--list-keys %s 2>/dev/null", home, key);
	assert_non_null(p = popen(cmd, "r"));
	out[0] = '\0';
	while (fgets(line, sizeof(line), p) != NULL)
		if (strncmp(line, "fpr:::::::::", 12) == 0) {
			memcpy(out, line + 12, 40);
			out[40] = '\0';
		}
	pclose(p);
	assert_int_equal(strlen(out), 40);
}

/* A key that only certifies and signs with a subkey, as on a smart card:
   a signature by the subkey names the primary key and the subkey; a
   signature by an ordinary key names it alone; a revoked subkey's does
   not count. */
static void
test_subkey_signature(void **state)
{
	static const char q[] = "--batch --yes --quiet --pinentry-mode "
	    "loopback --passphrase ''";
	char home[128], primary[41], sub[41], sub2[41], sigpath[160];
	struct certs_ctx *cx;
	struct certs_sigs sigs = { .n = 0 };
	struct tocsin_err e;
	size_t slen;
	char *sig;

	(void)state;
	(void)snprintf(home, sizeof(home), "%s/card", dir);
	(void)snprintf(sigpath, sizeof(sigpath), "%s/card.asc", dir);
	assert_int_equal(unit_sh("mkdir -m 700 %s && gpg --homedir %s %s "
	    "--quick-gen-key 'Card <card@desk.example>' ed25519 cert 0", home,
	    home, q), 0);
	last_fpr(home, "card@desk.example", primary);
	assert_int_equal(unit_sh("gpg --homedir %s %s --quick-add-key %s ed25519 "
	    "sign 0 && gpg --homedir %s --export %s | gpg --homedir %s/pki/gnupg "
	    "%s --import", home, q, primary, home, primary, dir, q), 0);
	last_fpr(home, primary, sub);
	assert_string_not_equal(primary, sub);
	assert_int_equal(unit_sh("gpg --homedir %s %s --local-user %s --armor "
	    "--detach-sign --output %s %s", home, q, primary, sigpath, alert),
	    0);
	sig = unit_slurp(sigpath, &slen);
	cx = ctx_open();
	assert_int_equal(certs_verify_detached(cx, body, strlen(body), sig, slen,
	    NULL, &sigs, &e), 0);
	assert_true(sigs.sig[0].good);
	assert_string_equal(sigs.sig[0].signer, primary);
	assert_string_equal(sigs.sig[0].subkey, sub);
	free(sig);
	certs_close(cx);

	/* a second signing subkey, used, then revoked */
	assert_int_equal(unit_sh("gpg --homedir %s %s --quick-add-key %s ed25519 "
	    "sign 0", home, q, primary), 0);
	last_fpr(home, primary, sub2);
	assert_int_equal(unit_sh("gpg --homedir %s %s --local-user %s! --armor "
	    "--detach-sign --output %s %s && printf 'key %s\\nrevkey\\ny\\n0\\n"
	    "\\ny\\nsave\\n' | gpg --homedir %s %s --command-fd 0 --edit-key %s "
	    "&& gpg --homedir %s --export %s | gpg --homedir %s/pki/gnupg %s "
	    "--import", home, q, sub2, sigpath, alert, sub2, home, q, primary,
	    home, primary, dir, q), 0);
	sig = unit_slurp(sigpath, &slen);
	cx = ctx_open();
	sigs.n = 0;
	assert_int_equal(certs_verify_detached(cx, body, strlen(body), sig, slen,
	    NULL, &sigs, &e), 0);
	assert_false(sigs.sig[0].good);
	assert_non_null(strstr(sigs.sig[0].reason, "revoked"));
	free(sig);
	/* an ordinary key, in the same context: no subkey named */
	sig = gpg_sign(fpr_desk1, "--armor --detach-sign", "asc", &slen);
	sigs.n = 0;
	assert_int_equal(certs_verify_detached(cx, body, strlen(body), sig, slen,
	    NULL, &sigs, &e), 0);
	assert_true(sigs.sig[0].good);
	assert_string_equal(sigs.sig[0].signer, fpr_desk1);
	assert_string_equal(sigs.sig[0].subkey, "");
	free(sig);
	certs_close(cx);
	(void)unit_sh("gpgconf --homedir %s --kill all", home);
}

/* --- authorisation and quorum, with signatures already verified ------- */

#define FA "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define FB "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define FC "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
#define AZ_CONTACT "{ name = \"n\"; role = \"r\"; timezone = \"UTC\"; " \
	"languages = [ \"en\" ]; mobile = \"+254700555101\"; }"
#define AZ_TEAM(id, reg) "{ id = \"" id "\"; domain = \"x\"; " \
	"cctld_operator = \"o\"; region = \"" reg "\"; policy = \"p\"; " \
	"contacts = ( " AZ_CONTACT " ); }"

static const char authz_conf[] =
    "gateway = { store = \"s.db\"; gnupg_home = \"g\"; signing_key = \""
    FC "\"; public_url = \"https://x.example/\"; };\n"
    "issuers = (\n"
    "{ name = \"a\"; openpgp = \"" FA "\"; may_address = [ \"all\" ]; },\n"
    "{ name = \"b\"; openpgp = \"" FB "\"; may_address = [ \"all\" ];"
    " statuses = [ \"Actual\" ]; },\n"
    "{ name = \"c\"; openpgp = \"" FC "\"; may_address = [ \"region:AF\" ]; }"
    " );\n"
    "quorum = (\n"
    "{ severities = [ \"Extreme\" ]; min_teams = 4; issuers = 2; },\n"
    "{ severities = [ \"Severe\" ]; groups = [ \"region:EU\" ]; issuers = 3; }"
    " );\n"
    "policies = { p = { steps = ( { after = \"0s\"; notify = [ "
    "\"primary:sms\" ]; } ); }; };\n"
    "teams = ( " AZ_TEAM("ke", "AF") ", " AZ_TEAM("ug", "AF") ", "
    AZ_TEAM("ae", "AS") ", " AZ_TEAM("de", "EU") ", " AZ_TEAM("fr", "EU")
    " );\n";

static struct policy_repo *
authz_repo(void)
{
	struct policy_diag d;
	struct policy_repo *r = NULL;
	struct tocsin_err e;

	policy_diag_init(&d);
	assert_int_equal(policy_load_string(authz_conf, "t.conf", "/tmp", &r,
	    &d, &e), 0);
	policy_diag_free(&d);
	return r;
}

/* Good OpenPGP signatures by the keys in fprs (space-separated). */
static void
authz_sigs(struct certs_sigs *sigs, const char *fprs)
{
	memset(sigs, 0, sizeof(*sigs));
	for (const char *p = fprs; *p != '\0'; p += p[40] ? 41 : 40) {
		struct certs_sig *s = &sigs->sig[sigs->n++];

		s->kind = CERTS_OPENPGP;
		memcpy(s->signer, p, 40);
		s->good = true;
	}
}

/* teams[] marks of "ke ug ae de fr" from a string of 0 and 1. */
static void
authz_marks(const char *bits, bool m[6])
{
	for (int i = 0; i < 5; i++)
		m[i] = bits[i] == '1';
	m[5] = false;
}

static int
authz_one(const struct policy_repo *r, const char *fprs, const char *bits,
    int sev, int st, struct tocsin_err *e)
{
	struct certs_sigs sigs;
	const char *names[CERTS_MAX_SIGS];
	size_t n = 0;
	bool m[6];
	int rc;

	authz_sigs(&sigs, fprs);
	authz_marks(bits, m);
	rc = certs_authorise(r, &sigs, m, sev, st, names, &n, e);
	return rc == 0 ? (int)n : rc;
}

static void
test_quorum_by_size_and_group(void **state)
{
	struct policy_repo *r = authz_repo();
	struct tocsin_err e;

	(void)state;
	/* Extreme to all but one team: four teams, two issuers */
	assert_int_equal(authz_one(r, FA, "11110", POLICY_SEV_EXTREME,
	    POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "quorum not met"));
	assert_non_null(strstr(e.msg, "quorum rule 1: 2 issuers for Extreme "
	    "alerts to 4 teams or more"));
	assert_int_equal(authz_one(r, FA " " FA, "11110", POLICY_SEV_EXTREME,
	    POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_int_equal(authz_one(r, FA " " FB, "11110", POLICY_SEV_EXTREME,
	    POLICY_ST_ACTUAL, &e), 2);
	assert_int_equal(authz_one(r, FA, "11100", POLICY_SEV_EXTREME,
	    POLICY_ST_ACTUAL, &e), 1);
	/* Severe to every team of region:EU (and more): three issuers */
	assert_int_equal(authz_one(r, FA " " FB, "00011", POLICY_SEV_SEVERE,
	    POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "needs 3 distinct issuers"));
	assert_int_equal(authz_one(r, FA " " FB, "10011", POLICY_SEV_SEVERE,
	    POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_int_equal(authz_one(r, FA " " FB, "10001", POLICY_SEV_SEVERE,
	    POLICY_ST_ACTUAL, &e), 2);
	/* c's scope is region:AF */
	assert_int_equal(authz_one(r, FC, "11000", POLICY_SEV_SEVERE,
	    POLICY_ST_ACTUAL, &e), 1);
	assert_int_equal(authz_one(r, FC, "11100", POLICY_SEV_SEVERE,
	    POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "may not address team 'ae'"));
	policy_free(r);
}

/* A Cancel (own scope) of the alert in ref (second scope). */
static int
authz_stop(const struct policy_repo *r, const char *fprs, const char *own,
    int own_sev, const char *ref, int ref_sev, int ref_st,
    struct tocsin_err *e)
{
	struct certs_sigs sigs;
	const char *names[CERTS_MAX_SIGS];
	size_t n = 0;
	bool m1[6], m2[6];
	struct certs_scope sc[2] = {
		{ .teams = m1, .severity = own_sev, .status = POLICY_ST_ACTUAL },
		{ .teams = m2, .severity = ref_sev, .status = ref_st,
		  .what = "the alert it cancels, X1" },
	};
	int rc;

	authz_sigs(&sigs, fprs);
	authz_marks(own, m1);
	authz_marks(ref, m2);
	rc = certs_authorise_scopes(r, &sigs, sc, 2, names, &n, e);
	return rc == 0 ? (int)n : rc;
}

static void
test_cancel_needs_the_authority_of_what_it_stops(void **state)
{
	struct policy_repo *r = authz_repo();
	struct tocsin_err e;

	(void)state;
	/* a Cancel without <info> (Unknown) to one team, of an Extreme alert
	   to every team: the larger quorum, two */
	assert_int_equal(authz_stop(r, FA, "10000", POLICY_SEV_UNKNOWN,
	    "11111", POLICY_SEV_EXTREME, POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "quorum not met: the alert it cancels, "
	    "X1, of severity Extreme, needs 2 distinct issuers"));
	assert_int_equal(authz_stop(r, FA " " FB, "10000", POLICY_SEV_UNKNOWN,
	    "11111", POLICY_SEV_EXTREME, POLICY_ST_ACTUAL, &e), 2);
	/* c may address ke, but not the rest of what it would stop */
	assert_int_equal(authz_stop(r, FC, "10000", POLICY_SEV_UNKNOWN,
	    "11100", POLICY_SEV_MINOR, POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "issuer c may not address team 'ae' of "
	    "the alert it cancels, X1"));
	assert_int_equal(authz_stop(r, FC, "10000", POLICY_SEV_UNKNOWN,
	    "11000", POLICY_SEV_MINOR, POLICY_ST_ACTUAL, &e), 1);
	/* c's signature beside a's lends c nothing: one issuer counts */
	assert_int_equal(authz_stop(r, FA " " FC, "10000", POLICY_SEV_UNKNOWN,
	    "11111", POLICY_SEV_EXTREME, POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "also: issuer c may not address"));
	/* b may send Actual only: not stop an Exercise */
	assert_int_equal(authz_stop(r, FA " " FB, "10000", POLICY_SEV_UNKNOWN,
	    "11111", POLICY_SEV_EXTREME, POLICY_ST_EXERCISE, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "issuer b may not issue alerts of status "
	    "Exercise (the alert it cancels, X1)"));
	/* the Cancel's own quorum still holds when it is the larger */
	assert_int_equal(authz_stop(r, FA " " FB, "00011", POLICY_SEV_SEVERE,
	    "10000", POLICY_SEV_MINOR, POLICY_ST_ACTUAL, &e), TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "quorum not met: this alert"));
	/* an unknown status of the stopped alert refuses */
	assert_int_equal(authz_stop(r, FA " " FB, "10000", POLICY_SEV_UNKNOWN,
	    "10000", POLICY_SEV_MINOR, -1, &e), TOCSIN_EPERM);
	policy_free(r);
}

/* --- the outgoing engines (certs/pgp.c, certs/rnp.c) -------------------- */

/* Keys of the unit PKI's home loaded for engine, a context attached. */
static struct certs_pubkeys *
engine_load(enum policy_pgp_engine engine, struct certs_ctx **cx)
{
	struct certs_pubkeys *pk = NULL;
	struct tocsin_err e = { 0 };

	*cx = ctx_open();
	if (certs_pubkeys_load(*cx, engine, fpr_gw, &pk, &e) != 0)
		fail_msg("load: %s", e.msg);
	assert_int_equal(certs_attach(*cx, pk, &e), 0);
	/* the mkpki home: gateway, desk-1, desk-2, outsider, revoked,
	   expired; all readable in process, the secret key by export */
	assert_int_equal(certs_pubkeys_count(pk), 6);
	assert_null(certs_pubkeys_note(pk));
	assert_string_equal(certs_pubkeys_engine(pk),
	    engine == POLICY_PGP_RNP ? "rnp" : "gpgme");
	return pk;
}

static void
test_engines_sign_detached(void **state)
{
	(void)state;
	for (int en = 0; en < 2; en++) {
		struct certs_ctx *cx = NULL;
		struct certs_pubkeys *pk = engine_load(en == 0 ?
		    POLICY_PGP_RNP : POLICY_PGP_GPGME, &cx);
		struct certs_ctx *vx = ctx_open();
		struct certs_sigs sigs = { .n = 0 };
		struct tocsin_err e = { 0 };
		char micalg[32] = "", *sig = NULL;
		size_t slen = 0;

		assert_int_equal(certs_sign_detached(cx, fpr_gw, body,
		    strlen(body), &sig, &slen, micalg, &e), 0);
		assert_string_equal(micalg, "pgp-sha256");
		assert_non_null(strstr(sig, "-----BEGIN PGP SIGNATURE-----"));
		assert_int_equal(certs_verify_detached(vx, body, strlen(body),
		    sig, slen, NULL, &sigs, &e), 0);
		assert_int_equal(sigs.n, 1);
		assert_true(sigs.sig[0].good);
		assert_string_equal(sigs.sig[0].signer, fpr_gw);
		/* the attacker's version: one byte changed */
		sigs.n = 0;
		assert_int_equal(certs_verify_detached(vx, "<alert>certs unit "
		    "test</alerT>\n", strlen(body), sig, slen, NULL, &sigs,
		    &e), 0);
		assert_int_equal(sigs.n, 1);
		assert_false(sigs.sig[0].good);
		free(sig);
		/* a key that is not the gateway's is not used to sign */
		sig = NULL;
		assert_int_not_equal(certs_sign_detached(cx, fpr_desk1, body,
		    strlen(body), &sig, &slen, micalg, &e), 0);
		assert_null(sig);
		certs_close(vx);
		certs_close(cx);
		certs_pubkeys_free(pk);
	}
}

static void
test_engines_clearsign(void **state)
{
	(void)state;
	for (int en = 0; en < 2; en++) {
		struct certs_ctx *cx = NULL;
		struct certs_pubkeys *pk = engine_load(en == 0 ?
		    POLICY_PGP_RNP : POLICY_PGP_GPGME, &cx);
		struct certs_ctx *vx = ctx_open();
		struct certs_sigs sigs = { .n = 0 };
		struct tocsin_err e = { 0 };
		const char text[] = "Alert for team ke\nline two  \n-- dash\n";
		char *msg = NULL, *plain = NULL;
		size_t mlen = 0, plen = 0;

		assert_int_equal(certs_clearsign(cx, fpr_gw, text,
		    strlen(text), &msg, &mlen, &e), 0);
		assert_non_null(strstr(msg,
		    "-----BEGIN PGP SIGNED MESSAGE-----"));
		assert_non_null(strstr(msg, "Alert for team ke"));
		assert_int_equal(certs_verify_inline(vx, msg, mlen, 4096,
		    &plain, &plen, &sigs, &e), 0);
		assert_int_equal(sigs.n, 1);
		assert_true(sigs.sig[0].good);
		assert_string_equal(sigs.sig[0].signer, fpr_gw);
		assert_non_null(strstr(plain, "Alert for team ke"));
		free(plain);
		free(msg);
		certs_close(vx);
		certs_close(cx);
		certs_pubkeys_free(pk);
	}
}

/* The same sentence from either engine for every unusable key. */
static void
test_engines_usable(void **state)
{
	int64_t now = (int64_t)time(NULL);

	(void)state;
	for (int en = 0; en < 2; en++) {
		struct certs_ctx *cx = NULL;
		struct certs_pubkeys *pk = engine_load(en == 0 ?
		    POLICY_PGP_RNP : POLICY_PGP_GPGME, &cx);
		struct tocsin_err e = { 0 };
		char want[160];
		const char *fprs[1] = { fpr_revoked };
		char *out = NULL;
		size_t olen = 0;

		assert_int_equal(certs_pubkey_usable(cx, pk, fpr_revoked, now,
		    &e), TOCSIN_EPERM);
		(void)snprintf(want, sizeof(want), "key %s is revoked",
		    fpr_revoked);
		assert_string_equal(e.msg, want);
		assert_int_equal(certs_pubkey_usable(cx, pk, fpr_expired, now,
		    &e), TOCSIN_EPERM);
		(void)snprintf(want, sizeof(want), "key %s has expired",
		    fpr_expired);
		assert_string_equal(e.msg, want);
		/* sign-only keys: nothing to encrypt to */
		assert_int_equal(certs_pubkey_usable(cx, pk, fpr_desk1, now,
		    &e), TOCSIN_EPERM);
		assert_non_null(strstr(e.msg, "has no usable encryption "
		    "subkey"));
		assert_int_equal(certs_pubkey_usable(cx, pk,
		    "0000000000000000000000000000000000000000", now, &e),
		    TOCSIN_ENOTFOUND);
		assert_non_null(strstr(e.msg, "is not in the gateway's "
		    "keyring"));
		assert_int_equal(certs_pubkey_usable(cx, pk, "", now, &e),
		    TOCSIN_ENOTFOUND);
		/* and encryption to one of them is refused, never sent to
		   nobody */
		assert_int_not_equal(certs_encrypt(cx, pk, fprs, 1, body,
		    strlen(body), &out, &olen, &e), 0);
		assert_null(out);
		certs_close(cx);
		certs_pubkeys_free(pk);
	}
}

/* A home librnp's engine cannot read (the legacy pubring.gpg instead of
   pubring.kbx): gpgme does the work, and the note says so (the caller
   logs it once). */
/* The end of a test on a copied GnuPG home: keys, context and home go. */
static void
home_done(const char *home, struct certs_pubkeys *pk, struct certs_ctx *cx)
{
	char cmd[400];

	certs_pubkeys_free(pk);
	certs_close(cx);
	(void)snprintf(cmd, sizeof(cmd), "gpgconf --homedir %s --kill all; "
	    "rm -rf %s", home, home);
	assert_int_equal(system(cmd), 0);
}

/* librnp reads a contact's keyblock from the keybox when it needs it,
   not from a copy in memory: a keybox cut short under the run refuses
   the key with the remedy, and never hands over other bytes as it. */
static void
test_engine_reads_keys_from_the_keybox(void **state)
{
	char home[80], cmd[1024], *out = NULL;
	struct certs_ctx *cx = NULL;
	struct certs_pubkeys *pk = NULL;
	struct tocsin_err e = { 0 };
	const char *to[] = { fpr_desk1 };
	size_t olen = 0;
	int64_t now = (int64_t)time(NULL);

	(void)state;
	(void)snprintf(home, sizeof(home), "%s/gh3", dir);
	(void)snprintf(cmd, sizeof(cmd), "cp -r %s/pki/gnupg %s && rm -f "
	    "%s/S.*", dir, home, home);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(certs_open(home, &cx, &e), 0);
	if (certs_pubkeys_load(cx, POLICY_PGP_RNP, fpr_gw, &pk, &e) != 0)
		fail_msg("load: %s", e.msg);
	assert_string_equal(certs_pubkeys_engine(pk), "rnp");
	assert_int_equal(certs_attach(cx, pk, &e), 0);
	/* the honest run: the key read and judged (desk-1's signs only),
	   then let go as after a message */
	assert_int_equal(certs_pubkey_usable(cx, pk, fpr_desk1, now, &e),
	    TOCSIN_EPERM);
	assert_non_null(strstr(e.msg, "has no usable encryption subkey"));
	assert_int_not_equal(certs_encrypt(cx, pk, to, 1, body, strlen(body),
	    &out, &olen, &e), 0);
	assert_null(out);
	/* the keybox cut short in place (the same file, still open) */
	(void)snprintf(cmd, sizeof(cmd), "truncate -s 32 %s/pubring.kbx",
	    home);
	assert_int_equal(system(cmd), 0);
	assert_int_not_equal(certs_pubkey_usable(cx, pk, fpr_desk1, now, &e),
	    0);
	assert_non_null(strstr(e.msg, "cannot read key"));
	assert_non_null(strstr(e.msg, "restart tocsin serve"));
	assert_int_not_equal(certs_encrypt(cx, pk, to, 1, body, strlen(body),
	    &out, &olen, &e), 0);
	assert_null(out);
	home_done(home, pk, cx);
}

static void
test_engine_falls_back_without_a_keybox(void **state)
{
	char home[80], cmd[1024];
	struct certs_ctx *cx = NULL;
	struct certs_pubkeys *pk = NULL;
	struct tocsin_err e = { 0 };
	char micalg[32], *sig = NULL;
	size_t slen = 0;

	(void)state;
	(void)snprintf(home, sizeof(home), "%s/gh2", dir);
	(void)snprintf(cmd, sizeof(cmd), "cp -r %s/pki/gnupg %s && rm -f "
	    "%s/S.* && gpg --homedir %s --batch --quiet --export > "
	    "%s/pubring.gpg && rm %s/pubring.kbx", dir, home, home, home, home,
	    home);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(certs_open(home, &cx, &e), 0);
	if (certs_pubkeys_load(cx, POLICY_PGP_RNP, fpr_gw, &pk, &e) != 0)
		fail_msg("load: %s", e.msg);
	assert_string_equal(certs_pubkeys_engine(pk), "gpgme");
	assert_int_equal(certs_pubkeys_count(pk), 6);
	assert_non_null(certs_pubkeys_note(pk));
	assert_non_null(strstr(certs_pubkeys_note(pk), "go through gpgme"));
	assert_non_null(strstr(certs_pubkeys_note(pk), "pubring.kbx"));
	/* and it still signs */
	assert_int_equal(certs_attach(cx, pk, &e), 0);
	assert_int_equal(certs_sign_detached(cx, fpr_gw, body, strlen(body),
	    &sig, &slen, micalg, &e), 0);
	assert_string_equal(micalg, "pgp-sha256");
	free(sig);
	home_done(home, pk, cx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blob_kind),
		cmocka_unit_test(test_detached_good),
		cmocka_unit_test(test_detached_tampered),
		cmocka_unit_test(test_detached_expired),
		cmocka_unit_test(test_detached_revoked),
		cmocka_unit_test(test_inline_clearsigned),
		cmocka_unit_test(test_inline_bomb_bounded),
		cmocka_unit_test(test_garbage_signature),
		cmocka_unit_test(test_cms_good),
		cmocka_unit_test(test_cms_rogue),
		cmocka_unit_test(test_keyring),
		cmocka_unit_test(test_engines_sign_detached),
		cmocka_unit_test(test_engines_clearsign),
		cmocka_unit_test(test_engines_usable),
		cmocka_unit_test(test_engine_falls_back_without_a_keybox),
		cmocka_unit_test(test_engine_reads_keys_from_the_keybox),
		cmocka_unit_test(test_subkey_signature),
		cmocka_unit_test(test_quorum_by_size_and_group),
		cmocka_unit_test(test_cancel_needs_the_authority_of_what_it_stops),
	};

	/* the channels as serve knows them: a repository names them */
	chan_kinds_publish();
	return cmocka_run_group_tests(tests, setup, teardown);
}
