/*
 * pgp_floor: the OpenPGP work of a PGP e-mail broadcast, alone, in one
 * process: the floor the dispatcher is measured against (issue 21: "within
 * 1.5x of the same OpenPGP operations done in-process alone").
 *
 * Per team, exactly what channels/pgp_email.c asks of the engine:
 *   nested (RFC 3156 6.1, the default): certs_pubkey_usable for every
 *     contact's key, a detached signature of the body by the gateway key,
 *     the body and that signature framed as multipart/signed (a memcpy),
 *     then one encryption of that to all the team's keys;
 *   combined (6.2): certs_pubkey_usable for every key, then one
 *     sign-and-encrypt of the body.
 * N threads (default 2, the dispatcher's workers), each with a context of
 * its own attached to keys loaded once, as serve's workers have; a thread
 * takes the next team when it is done with one.  No SMTP, no store, no
 * MIME building beyond the framing the signature is encrypted with.
 *
 * --engine certs goes through the gateway's own engine (certs_*: librnp in
 * process, keys read by its keybox reader).  --engine rnp calls librnp
 * directly with librnp's own loaders: every thread's ffi loads the whole
 * pubring.kbx ("KBX") and the gateway's secret key (G10, else the
 * transferable key in --seckey, as gpg exports it), then locates keys
 * there.  Same algorithms both ways: SHA-256, AES-256, ZLIB level 6,
 * armoured.
 *
 * Input: --teams FILE, one team a line: its id then its contacts' key
 * fingerprints (40 hex), separated by spaces; --body FILE, the entity that
 * is signed.  Output on stdout: one line of key=value figures (wall and
 * CPU seconds, per-team milliseconds, peak RSS from getrusage).
 * --sample DIR writes the first team's signature and ciphertext there, for
 * the caller to check.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include <rnp/rnp.h>
#include <rnp/rnp_err.h>

#include "certs.h"

#define FLOOR_MAX_TEAMS 100000
#define FLOOR_MAX_KEYS 1024		/* contacts' keys in one team */
#define FLOOR_MAX_LINE (64 * 1024)
#define FLOOR_MAX_BODY (16L * 1024 * 1024)
#define FLOOR_MAX_THREADS 64

enum floor_engine { FLOOR_CERTS, FLOOR_RNP };

struct floor_team {
	char id[128];
	char (*fpr)[41];
	const char **fprs;	/* pointers into fpr, for the engine */
	size_t n;
	double ms;		/* how long its operations took */
	size_t outlen;
};

struct floor_run {
	enum floor_engine engine;
	bool combined;
	const char *home, *signer, *seckey_path, *sample_dir;
	unsigned char *body;
	size_t bodylen;
	unsigned char *seckey;	/* --seckey's bytes (rnp engine) */
	size_t seclen;
	struct floor_team *teams;
	size_t nteams, nkeys;
	struct certs_pubkeys *pk;	/* certs engine: shared, read-only */
	atomic_size_t next;
	atomic_int failed;
	pthread_mutex_t lock;		/* first error, load figures */
	char error[TOCSIN_ERRLEN + 128];
	double thread_load_s;		/* rnp engine: the slowest thread's */
};

static double
floor_now(clockid_t c)
{
	struct timespec ts;

	(void)clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
floor_fail(struct floor_run *r, const char *team, const char *msg)
{
	pthread_mutex_lock(&r->lock);
	if (atomic_fetch_add(&r->failed, 1) == 0)
		(void)snprintf(r->error, sizeof(r->error), "team %s: %s",
		    team != NULL ? team : "-", msg);
	pthread_mutex_unlock(&r->lock);
}

/* The whole of a regular file, at most max bytes, into *ret (malloc'd,
   NUL-terminated, the caller's). */
static int
floor_slurp(const char *path, long max, unsigned char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long n;

	*ret = NULL;
	*ret_len = 0;
	if (f == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > max ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (p = malloc((size_t)n + 1)) == NULL ||
	    fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		(void)fclose(f);
		return -1;
	}
	(void)fclose(f);
	p[n] = '\0';
	*ret = p;
	*ret_len = (size_t)n;
	return 0;
}

static bool
floor_is_fpr(const char *s, size_t len)
{
	if (len != 40)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'F') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* One line of the teams file into t; -1 with a sentence in why. */
static int
floor_parse_team(char *line, struct floor_team *t, char *why, size_t whylen)
{
	char *save = NULL, *tok;
	size_t cap = 8;

	memset(t, 0, sizeof(*t));
	if ((tok = strtok_r(line, " \t\r\n", &save)) == NULL) {
		(void)snprintf(why, whylen, "an empty line");
		return -1;
	}
	if (strlen(tok) >= sizeof(t->id)) {
		(void)snprintf(why, whylen, "a team id longer than %zu bytes",
		    sizeof(t->id) - 1);
		return -1;
	}
	(void)snprintf(t->id, sizeof(t->id), "%s", tok);
	if ((t->fpr = calloc(cap, sizeof(*t->fpr))) == NULL) {
		(void)snprintf(why, whylen, "out of memory");
		return -1;
	}
	while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
		if (!floor_is_fpr(tok, strlen(tok))) {
			(void)snprintf(why, whylen, "team %s: \"%.60s\" is not "
			    "a 40-hex fingerprint", t->id, tok);
			return -1;
		}
		if (t->n == FLOOR_MAX_KEYS) {
			(void)snprintf(why, whylen, "team %s: more than %d keys",
			    t->id, FLOOR_MAX_KEYS);
			return -1;
		}
		if (t->n == cap) {
			char (*p)[41] = realloc(t->fpr, 2 * cap *
			    sizeof(*t->fpr));

			if (p == NULL) {
				(void)snprintf(why, whylen, "out of memory");
				return -1;
			}
			t->fpr = p;
			cap *= 2;
		}
		(void)snprintf(t->fpr[t->n++], 41, "%s", tok);
	}
	if (t->n == 0) {
		(void)snprintf(why, whylen, "team %s has no key", t->id);
		return -1;
	}
	if ((t->fprs = calloc(t->n, sizeof(*t->fprs))) == NULL) {
		(void)snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < t->n; i++)
		t->fprs[i] = t->fpr[i];
	return 0;
}

static int
floor_read_teams(const char *path, struct floor_run *r, char *why,
    size_t whylen)
{
	FILE *f = fopen(path, "r");
	char *line = malloc(FLOOR_MAX_LINE);
	size_t cap = 0, lineno = 0;
	int rc = 0;

	if (f == NULL || line == NULL) {
		(void)snprintf(why, whylen, "cannot read %s: %s", path,
		    strerror(errno));
		free(line);
		if (f != NULL)
			(void)fclose(f);
		return -1;
	}
	while (rc == 0 && fgets(line, FLOOR_MAX_LINE, f) != NULL) {
		size_t l = strlen(line);

		lineno++;
		if (l == FLOOR_MAX_LINE - 1 && line[l - 1] != '\n') {
			(void)snprintf(why, whylen, "%s:%zu: a line longer than "
			    "%d bytes", path, lineno, FLOOR_MAX_LINE - 2);
			rc = -1;
			break;
		}
		if (strspn(line, " \t\r\n") == l)
			continue;
		if (r->nteams == FLOOR_MAX_TEAMS) {
			(void)snprintf(why, whylen, "%s: more than %d teams",
			    path, FLOOR_MAX_TEAMS);
			rc = -1;
			break;
		}
		if (r->nteams == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct floor_team *p = realloc(r->teams, ncap *
			    sizeof(*p));

			if (p == NULL) {
				(void)snprintf(why, whylen, "out of memory");
				rc = -1;
				break;
			}
			r->teams = p;
			cap = ncap;
		}
		if (floor_parse_team(line, &r->teams[r->nteams], why,
		    whylen) != 0) {
			free(r->teams[r->nteams].fpr);
			free(r->teams[r->nteams].fprs);
			rc = -1;
			break;
		}
		r->nkeys += r->teams[r->nteams].n;
		r->nteams++;
	}
	if (rc == 0 && r->nteams == 0) {
		(void)snprintf(why, whylen, "%s lists no team", path);
		rc = -1;
	}
	free(line);
	(void)fclose(f);
	return rc;
}

/* The nested form's inner framing, as pe_sign_then_encrypt builds it:
   the signed entity and its signature as multipart/signed.  *ret is
   malloc'd, the caller's. */
static int
floor_frame(const unsigned char *body, size_t bodylen, const char *sig,
    size_t siglen, unsigned char **ret, size_t *ret_len)
{
	static const char head[] = "Content-Type: multipart/signed; "
	    "micalg=pgp-sha256;\r\n protocol=\"application/pgp-signature\";\r\n"
	    " boundary=\"=-floor-b2-0123456789abcdef\"\r\n\r\n"
	    "--=-floor-b2-0123456789abcdef\r\n";
	static const char mid[] = "\r\n--=-floor-b2-0123456789abcdef\r\n"
	    "Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n"
	    "Content-Description: OpenPGP signature of the gateway\r\n\r\n";
	static const char tail[] = "\r\n--=-floor-b2-0123456789abcdef--\r\n";
	size_t n = sizeof(head) - 1 + bodylen + sizeof(mid) - 1 + siglen +
	    sizeof(tail) - 1;
	unsigned char *p = malloc(n), *o;

	if (p == NULL)
		return -1;
	o = p;
	memcpy(o, head, sizeof(head) - 1);
	o += sizeof(head) - 1;
	memcpy(o, body, bodylen);
	o += bodylen;
	memcpy(o, mid, sizeof(mid) - 1);
	o += sizeof(mid) - 1;
	memcpy(o, sig, siglen);
	o += siglen;
	memcpy(o, tail, sizeof(tail) - 1);
	*ret = p;
	*ret_len = n;
	return 0;
}

static void
floor_write(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4200];
	FILE *f;

	if (dir == NULL)
		return;
	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		return;
	(void)fwrite(p, 1, len, f);
	(void)fclose(f);
}

/* The first team's outputs, for the script to check (either path). */
static void
floor_sample(const struct floor_run *r, const char *sig, size_t siglen,
    const unsigned char *framed, size_t framedlen, const char *enc,
    size_t enclen)
{
	if (sig != NULL)
		floor_write(r->sample_dir, "team0.sig", sig, siglen);
	if (framed != NULL)
		floor_write(r->sample_dir, "team0.signed", framed, framedlen);
	floor_write(r->sample_dir, "team0.asc", enc, enclen);
}

/* ---- through the gateway's engine (certs_*) ---------------------------- */

static int
floor_team_certs(struct floor_run *r, struct certs_ctx *cx,
    struct floor_team *t, bool sample, struct tocsin_err *err)
{
	int64_t now = (int64_t)time(NULL);
	char micalg[32], *sig = NULL, *enc = NULL;
	size_t siglen = 0, enclen = 0, framedlen = 0;
	unsigned char *framed = NULL;
	int rc;

	for (size_t i = 0; i < t->n; i++)
		if ((rc = certs_pubkey_usable(cx, r->pk, t->fpr[i], now, err))
		    != 0)
			return rc;
	if (r->combined)
		rc = certs_encrypt_sign(cx, r->pk, r->signer, t->fprs, t->n,
		    r->body, r->bodylen, &enc, &enclen, err);
	else {
		if ((rc = certs_sign_detached(cx, r->signer, r->body,
		    r->bodylen, &sig, &siglen, micalg, err)) != 0)
			return rc;
		if (floor_frame(r->body, r->bodylen, sig, siglen, &framed,
		    &framedlen) != 0) {
			free(sig);
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		}
		rc = certs_encrypt(cx, r->pk, t->fprs, t->n, framed,
		    framedlen, &enc, &enclen, err);
	}
	if (rc == 0 && sample)
		floor_sample(r, sig, siglen, framed, framedlen, enc, enclen);
	t->outlen = enclen;
	free(sig);
	free(framed);
	free(enc);
	return rc;
}

/* ---- librnp directly, with librnp's own loaders ------------------------ */

static bool
floor_no_password(rnp_ffi_t ffi, void *app, rnp_key_handle_t key,
    const char *why, char buf[], size_t len)
{
	(void)ffi;
	(void)app;
	(void)key;
	(void)why;
	(void)buf;
	(void)len;
	return false;
}

static int
floor_rnp_fail(struct tocsin_err *err, const char *what, rnp_result_t res)
{
	return tocsin_fail(err, TOCSIN_EUNAVAIL, "librnp: %s: %s", what,
	    rnp_result_to_string(res));
}

/* One thread's ffi with the home's public keyring and the gateway's
   secret key, loaded by librnp itself.  *ret is the caller's. */
static int
floor_rnp_ffi(struct floor_run *r, rnp_ffi_t *ret, struct tocsin_err *err)
{
	char path[4200];
	rnp_ffi_t ffi = NULL;
	rnp_input_t in = NULL;
	rnp_key_handle_t k = NULL;
	rnp_result_t res;
	bool sec = false;

	*ret = NULL;
	if ((res = rnp_ffi_create(&ffi, RNP_KEYSTORE_KBX, RNP_KEYSTORE_G10))
	    != RNP_SUCCESS)
		return floor_rnp_fail(err, "ffi", res);
	(void)rnp_ffi_set_pass_provider(ffi, floor_no_password, NULL);
	(void)snprintf(path, sizeof(path), "%s/pubring.kbx", r->home);
	if ((res = rnp_input_from_path(&in, path)) != RNP_SUCCESS ||
	    (res = rnp_load_keys(ffi, RNP_KEYSTORE_KBX, in,
	    RNP_LOAD_SAVE_PUBLIC_KEYS)) != RNP_SUCCESS) {
		(void)rnp_input_destroy(in);
		(void)rnp_ffi_destroy(ffi);
		return floor_rnp_fail(err, path, res);
	}
	(void)rnp_input_destroy(in);
	in = NULL;
	if (r->seckey == NULL) {
		/* librnp's G10 loader on private-keys-v1.d (on GnuPG 2.2's
		   extended key files librnp 0.16 fails, saying so on stderr
		   by itself; the error below follows) */
		(void)snprintf(path, sizeof(path), "%s/private-keys-v1.d",
		    r->home);
		if (rnp_input_from_path(&in, path) == RNP_SUCCESS)
			(void)rnp_load_keys(ffi, RNP_KEYSTORE_G10, in,
			    RNP_LOAD_SAVE_SECRET_KEYS);
		(void)rnp_input_destroy(in);
		in = NULL;
	} else if ((res = rnp_input_from_memory(&in, r->seckey, r->seclen,
	    false)) != RNP_SUCCESS || (res = rnp_import_keys(ffi, in,
	    RNP_LOAD_SAVE_SECRET_KEYS | RNP_LOAD_SAVE_PUBLIC_KEYS, NULL)) !=
	    RNP_SUCCESS) {
		(void)rnp_input_destroy(in);
		(void)rnp_ffi_destroy(ffi);
		return floor_rnp_fail(err, r->seckey_path, res);
	} else
		(void)rnp_input_destroy(in);
	if (rnp_locate_key(ffi, "fingerprint", r->signer, &k) != RNP_SUCCESS ||
	    k == NULL || rnp_key_have_secret(k, &sec) != RNP_SUCCESS || !sec) {
		(void)rnp_key_handle_destroy(k);
		(void)rnp_ffi_destroy(ffi);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "librnp holds no "
		    "secret key %s (GnuPG's extended key files are not read "
		    "by librnp 0.16: give --seckey, gpg's export)", r->signer);
	}
	(void)rnp_key_handle_destroy(k);
	*ret = ffi;
	return 0;
}

/* What certs_pubkey_usable asks of a key, in librnp's words. */
static int
floor_rnp_usable(rnp_ffi_t ffi, const char *fpr, int64_t now,
    rnp_key_handle_t *ret, struct tocsin_err *err)
{
	rnp_key_handle_t k = NULL;
	uint64_t till = 0;
	bool revoked = false, enc = false;
	size_t nsub = 0;

	*ret = NULL;
	if (rnp_locate_key(ffi, "fingerprint", fpr, &k) != RNP_SUCCESS ||
	    k == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "key %s is not in "
		    "the keyring", fpr);
	(void)rnp_key_is_revoked(k, &revoked);
	(void)rnp_key_valid_till64(k, &till);
	if (revoked || till <= (uint64_t)now) {
		(void)rnp_key_handle_destroy(k);
		return tocsin_fail(err, TOCSIN_EPERM, "key %s is revoked, "
		    "invalid or expired", fpr);
	}
	(void)rnp_key_allows_usage(k, "encrypt", &enc);
	(void)rnp_key_get_subkey_count(k, &nsub);
	for (size_t i = 0; i < nsub && !enc; i++) {
		rnp_key_handle_t sk = NULL;
		bool rv = false;

		if (rnp_key_get_subkey_at(k, i, &sk) != RNP_SUCCESS ||
		    sk == NULL)
			continue;
		(void)rnp_key_allows_usage(sk, "encrypt", &enc);
		(void)rnp_key_is_revoked(sk, &rv);
		till = 0;
		(void)rnp_key_valid_till64(sk, &till);
		enc = enc && !rv && till > (uint64_t)now;
		(void)rnp_key_handle_destroy(sk);
	}
	if (!enc) {
		(void)rnp_key_handle_destroy(k);
		return tocsin_fail(err, TOCSIN_EPERM, "key %s has no usable "
		    "encryption subkey", fpr);
	}
	*ret = k;
	return 0;
}

static int
floor_take(rnp_output_t out, char **ret, size_t *ret_len,
    struct tocsin_err *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (rnp_output_memory_get_buf(out, &buf, &len, false) != RNP_SUCCESS)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "no output");
	if ((*ret = malloc(len + 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	memcpy(*ret, buf, len);
	(*ret)[len] = '\0';
	*ret_len = len;
	return 0;
}

static int
floor_rnp_sign(rnp_ffi_t ffi, rnp_key_handle_t sk, const void *data,
    size_t len, char **ret, size_t *ret_len, struct tocsin_err *err)
{
	rnp_input_t in = NULL;
	rnp_output_t out = NULL;
	rnp_op_sign_t op = NULL;
	rnp_result_t res;
	int rc;

	if ((res = rnp_input_from_memory(&in, data, len, false)) ==
	    RNP_SUCCESS && (res = rnp_output_to_memory(&out, 0)) ==
	    RNP_SUCCESS)
		res = rnp_op_sign_detached_create(&op, ffi, in, out);
	if (res == RNP_SUCCESS)
		res = rnp_op_sign_add_signature(op, sk, NULL);
	if (res == RNP_SUCCESS)
		res = rnp_op_sign_set_hash(op, "SHA256");
	if (res == RNP_SUCCESS)
		res = rnp_op_sign_set_armor(op, true);
	if (res == RNP_SUCCESS)
		res = rnp_op_sign_execute(op);
	rc = res == RNP_SUCCESS ? floor_take(out, ret, ret_len, err) :
	    floor_rnp_fail(err, "sign", res);
	(void)rnp_op_sign_destroy(op);
	(void)rnp_input_destroy(in);
	(void)rnp_output_destroy(out);
	return rc;
}

static int
floor_rnp_encrypt(rnp_ffi_t ffi, rnp_key_handle_t *keys, size_t n,
    rnp_key_handle_t sk, const void *data, size_t len, char **ret,
    size_t *ret_len, struct tocsin_err *err)
{
	rnp_input_t in = NULL;
	rnp_output_t out = NULL;
	rnp_op_encrypt_t op = NULL;
	rnp_result_t res;
	int rc;

	if ((res = rnp_input_from_memory(&in, data, len, false)) ==
	    RNP_SUCCESS && (res = rnp_output_to_memory(&out, 0)) ==
	    RNP_SUCCESS)
		res = rnp_op_encrypt_create(&op, ffi, in, out);
	for (size_t i = 0; i < n && res == RNP_SUCCESS; i++)
		res = rnp_op_encrypt_add_recipient(op, keys[i]);
	if (res == RNP_SUCCESS)
		res = rnp_op_encrypt_set_armor(op, true);
	if (res == RNP_SUCCESS)
		res = rnp_op_encrypt_set_cipher(op, "AES256");
	if (res == RNP_SUCCESS)
		res = rnp_op_encrypt_set_compression(op, "ZLIB", 6);
	if (res == RNP_SUCCESS && sk != NULL) {
		res = rnp_op_encrypt_add_signature(op, sk, NULL);
		if (res == RNP_SUCCESS)
			res = rnp_op_encrypt_set_hash(op, "SHA256");
	}
	if (res == RNP_SUCCESS)
		res = rnp_op_encrypt_execute(op);
	rc = res == RNP_SUCCESS ? floor_take(out, ret, ret_len, err) :
	    floor_rnp_fail(err, "encrypt", res);
	(void)rnp_op_encrypt_destroy(op);
	(void)rnp_input_destroy(in);
	(void)rnp_output_destroy(out);
	return rc;
}

static int
floor_team_rnp(struct floor_run *r, rnp_ffi_t ffi, rnp_key_handle_t sk,
    struct floor_team *t, bool sample, struct tocsin_err *err)
{
	int64_t now = (int64_t)time(NULL);
	rnp_key_handle_t *keys = calloc(t->n, sizeof(*keys));
	char *sig = NULL, *enc = NULL;
	size_t siglen = 0, enclen = 0, framedlen = 0;
	unsigned char *framed = NULL;
	int rc = 0;

	if (keys == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n && rc == 0; i++)
		rc = floor_rnp_usable(ffi, t->fpr[i], now, &keys[i], err);
	if (rc == 0 && r->combined)
		rc = floor_rnp_encrypt(ffi, keys, t->n, sk, r->body,
		    r->bodylen, &enc, &enclen, err);
	else if (rc == 0) {
		rc = floor_rnp_sign(ffi, sk, r->body, r->bodylen, &sig,
		    &siglen, err);
		if (rc == 0 && floor_frame(r->body, r->bodylen, sig, siglen,
		    &framed, &framedlen) != 0)
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		if (rc == 0)
			rc = floor_rnp_encrypt(ffi, keys, t->n, NULL, framed,
			    framedlen, &enc, &enclen, err);
	}
	if (rc == 0 && sample)
		floor_sample(r, sig, siglen, framed, framedlen, enc, enclen);
	t->outlen = enclen;
	for (size_t i = 0; i < t->n; i++)
		(void)rnp_key_handle_destroy(keys[i]);
	free(keys);
	free(sig);
	free(framed);
	free(enc);
	return rc;
}

/* ---- the workers ------------------------------------------------------- */

static void *
floor_worker(void *arg)
{
	struct floor_run *r = arg;
	struct tocsin_err err = { 0 };
	struct certs_ctx *cx = NULL;
	rnp_ffi_t ffi = NULL;
	rnp_key_handle_t sk = NULL;
	double t0 = floor_now(CLOCK_MONOTONIC);

	if (r->engine == FLOOR_CERTS) {
		if (certs_open(r->home, &cx, &err) != 0 ||
		    certs_attach(cx, r->pk, &err) != 0) {
			floor_fail(r, NULL, err.msg);
			goto out;
		}
	} else {
		if (floor_rnp_ffi(r, &ffi, &err) != 0) {
			floor_fail(r, NULL, err.msg);
			goto out;
		}
		if (rnp_locate_key(ffi, "fingerprint", r->signer, &sk) !=
		    RNP_SUCCESS || sk == NULL) {
			floor_fail(r, NULL, "the signing key vanished");
			goto out;
		}
		pthread_mutex_lock(&r->lock);
		if (floor_now(CLOCK_MONOTONIC) - t0 > r->thread_load_s)
			r->thread_load_s = floor_now(CLOCK_MONOTONIC) - t0;
		pthread_mutex_unlock(&r->lock);
	}
	while (atomic_load(&r->failed) == 0) {
		size_t i = atomic_fetch_add(&r->next, 1);
		struct floor_team *t;
		double s;
		int rc;

		if (i >= r->nteams)
			break;
		t = &r->teams[i];
		s = floor_now(CLOCK_MONOTONIC);
		rc = r->engine == FLOOR_CERTS ?
		    floor_team_certs(r, cx, t, i == 0, &err) :
		    floor_team_rnp(r, ffi, sk, t, i == 0, &err);
		t->ms = (floor_now(CLOCK_MONOTONIC) - s) * 1000;
		if (rc != 0)
			floor_fail(r, t->id, err.msg);
	}
out:
	certs_close(cx);
	(void)rnp_key_handle_destroy(sk);
	(void)rnp_ffi_destroy(ffi);
	return NULL;
}

static int
floor_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
floor_tv(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void
floor_usage(void)
{
	fprintf(stderr, "usage: pgp_floor --home GNUPGHOME --signer FPR "
	    "--teams FILE --body FILE\n"
	    "                 [--threads N] [--mode nested|combined]\n"
	    "                 [--engine certs|rnp] [--seckey FILE] "
	    "[--sample DIR]\n");
}

static int
floor_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max)
		return -1;
	*ret = v;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct floor_run r = { .engine = FLOOR_CERTS };
	const char *teams_path = NULL, *body_path = NULL;
	unsigned long nthreads = 2;
	pthread_t th[FLOOR_MAX_THREADS];
	struct tocsin_err err = { 0 };
	struct certs_ctx *cx = NULL;
	struct rusage ru, rc_ru;
	char why[512];
	double w0, w1, w2, c0, *ms;
	size_t started = 0, outbytes = 0;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL) {
			floor_usage();
			return 2;
		}
		i++;
		if (strcmp(o, "--home") == 0)
			r.home = v;
		else if (strcmp(o, "--signer") == 0)
			r.signer = v;
		else if (strcmp(o, "--teams") == 0)
			teams_path = v;
		else if (strcmp(o, "--body") == 0)
			body_path = v;
		else if (strcmp(o, "--seckey") == 0)
			r.seckey_path = v;
		else if (strcmp(o, "--sample") == 0)
			r.sample_dir = v;
		else if (strcmp(o, "--threads") == 0) {
			if (floor_uint(v, FLOOR_MAX_THREADS, &nthreads) != 0) {
				fprintf(stderr, "pgp_floor: --threads takes 1 to "
				    "%d\n", FLOOR_MAX_THREADS);
				return 2;
			}
		} else if (strcmp(o, "--mode") == 0 &&
		    (strcmp(v, "nested") == 0 || strcmp(v, "combined") == 0))
			r.combined = strcmp(v, "combined") == 0;
		else if (strcmp(o, "--engine") == 0 &&
		    (strcmp(v, "certs") == 0 || strcmp(v, "rnp") == 0))
			r.engine = strcmp(v, "rnp") == 0 ? FLOOR_RNP :
			    FLOOR_CERTS;
		else {
			floor_usage();
			return 2;
		}
	}
	if (r.home == NULL || r.home[0] != '/' || r.signer == NULL ||
	    !floor_is_fpr(r.signer, strlen(r.signer)) || teams_path == NULL ||
	    body_path == NULL) {
		floor_usage();
		fprintf(stderr, "pgp_floor: --home (absolute), --signer (40 hex), "
		    "--teams and --body are needed\n");
		return 2;
	}
	pthread_mutex_init(&r.lock, NULL);
	if (floor_read_teams(teams_path, &r, why, sizeof(why)) != 0) {
		fprintf(stderr, "pgp_floor: %s\n", why);
		return 1;
	}
	if (floor_slurp(body_path, FLOOR_MAX_BODY, &r.body, &r.bodylen) != 0 ||
	    r.bodylen == 0) {
		fprintf(stderr, "pgp_floor: cannot read %s (empty, or larger "
		    "than %ld bytes)\n", body_path, FLOOR_MAX_BODY);
		return 1;
	}
	if (r.seckey_path != NULL && floor_slurp(r.seckey_path, 64 * 1024,
	    &r.seckey, &r.seclen) != 0) {
		fprintf(stderr, "pgp_floor: cannot read %s\n", r.seckey_path);
		return 1;
	}

	w0 = floor_now(CLOCK_MONOTONIC);
	c0 = floor_now(CLOCK_PROCESS_CPUTIME_ID);
	/* the keys, once, as serve loads them before its workers start */
	if (r.engine == FLOOR_CERTS &&
	    (certs_open(r.home, &cx, &err) != 0 ||
	    certs_pubkeys_load(cx, POLICY_PGP_RNP, r.signer, &r.pk,
	    &err) != 0)) {
		fprintf(stderr, "pgp_floor: %s\n", err.msg);
		return 1;
	}
	w1 = floor_now(CLOCK_MONOTONIC);
	for (unsigned long i = 0; i < nthreads; i++) {
		if (pthread_create(&th[i], NULL, floor_worker, &r) != 0) {
			floor_fail(&r, NULL, "cannot start a thread");
			break;
		}
		started++;
	}
	for (size_t i = 0; i < started; i++)
		(void)pthread_join(th[i], NULL);
	w2 = floor_now(CLOCK_MONOTONIC);
	(void)getrusage(RUSAGE_SELF, &ru);
	(void)getrusage(RUSAGE_CHILDREN, &rc_ru);
	if (atomic_load(&r.failed) != 0) {
		fprintf(stderr, "pgp_floor: %s\n", r.error);
		return 1;
	}
	if ((ms = calloc(r.nteams, sizeof(*ms))) == NULL)
		return 1;
	for (size_t i = 0; i < r.nteams; i++) {
		ms[i] = r.teams[i].ms;
		outbytes += r.teams[i].outlen;
	}
	/* p99: the value at rank ceil(0.99 n), as bench_deadlines.py takes it */
	qsort(ms, r.nteams, sizeof(*ms), floor_cmp_double);
	printf("engine=%s%s mode=%s threads=%lu teams=%zu keys=%zu "
	    "body_bytes=%zu out_bytes=%zu load_s=%.4f thread_load_s=%.4f "
	    "ops_s=%.4f wall_s=%.4f cpu_s=%.4f user_s=%.4f sys_s=%.4f "
	    "children_cpu_s=%.4f per_team_ms=%.3f team_ms_median=%.3f "
	    "team_ms_p99=%.3f team_ms_max=%.3f maxrss_kib=%ld "
	    "children_maxrss_kib=%ld\n",
	    r.engine == FLOOR_CERTS ? "certs" : "rnp",
	    r.engine == FLOOR_CERTS ? (strcmp(certs_pubkeys_engine(r.pk),
	    "rnp") == 0 ? "" : "+gpgme-signing") : "",
	    r.combined ? "combined" : "nested", nthreads, r.nteams, r.nkeys,
	    r.bodylen, outbytes, w1 - w0, r.thread_load_s, w2 - w1, w2 - w0,
	    floor_now(CLOCK_PROCESS_CPUTIME_ID) - c0, floor_tv(ru.ru_utime),
	    floor_tv(ru.ru_stime), floor_tv(rc_ru.ru_utime) +
	    floor_tv(rc_ru.ru_stime), (w2 - w0) * 1000 / (double)r.nteams,
	    ms[r.nteams / 2], ms[(r.nteams * 99 + 99) / 100 - 1],
	    ms[r.nteams - 1],
	    ru.ru_maxrss, rc_ru.ru_maxrss);
	if (r.pk != NULL && certs_pubkeys_note(r.pk) != NULL)
		fprintf(stderr, "pgp_floor: note: %s\n",
		    certs_pubkeys_note(r.pk));
	free(ms);
	for (size_t i = 0; i < r.nteams; i++) {
		free(r.teams[i].fpr);
		free(r.teams[i].fprs);
	}
	free(r.teams);
	free(r.body);
	if (r.seckey != NULL)
		memset(r.seckey, 0, r.seclen);
	free(r.seckey);
	certs_pubkeys_free(r.pk);
	certs_close(cx);
	return 0;
}
