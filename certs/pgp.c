/*
 * pgp.c: the OpenPGP engine for outgoing mail (sign, encrypt, key cache),
 * and the choice between its two back ends.
 *
 * gateway.pgp_engine = "rnp" (the default) does the work in process
 * (rnp.c); "gpgme" does it here, where every operation starts a gpg
 * process, and so does every key look-up; the public keys are therefore
 * listed once, in one gpg run, into a sorted array that all workers share
 * read-only (gpgme's key reference counts are locked, so handing a key to
 * several contexts is safe).  What librnp cannot read (a keyring format, a
 * secret key) is done by gpgme, and certs_pubkeys_note() says so.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gpgme.h>
#include <openssl/crypto.h>

#include "base.h"
#include "certs.h"
#include "certs_int.h"

static int
pk_cmp(const void *a, const void *b)
{
	const gpgme_key_t *x = a, *y = b;

	return strcmp((*x)->fpr, (*y)->fpr);
}

/* gpgme's listing of every public key into pk->keys (one gpg run). */
static int
pk_list_gpgme(struct certs_ctx *ctx, struct certs_pubkeys *pk,
    struct tocsin_err *err)
{
	gpgme_key_t key;
	gpgme_error_t ge;
	size_t cap = 0;

	gpgme_set_keylist_mode(ctx->gpg, GPGME_KEYLIST_MODE_LOCAL);
	if ((ge = gpgme_op_keylist_start(ctx->gpg, NULL, 0)) != 0)
		goto fail;
	while ((ge = gpgme_op_keylist_next(ctx->gpg, &key)) == 0) {
		if (key->fpr == NULL || key->subkeys == NULL) {
			gpgme_key_unref(key);
			continue;
		}
		if (base_grow(&pk->keys, &cap, pk->n + 1,
		    sizeof(*pk->keys)) != 0) {
			gpgme_key_unref(key);
			(void)gpgme_op_keylist_end(ctx->gpg);
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		}
		pk->keys[pk->n++] = key;
	}
	if (gpgme_err_code(ge) != GPG_ERR_EOF)
		goto fail;
	if (pk->n > 1)
		qsort(pk->keys, pk->n, sizeof(*pk->keys), pk_cmp);
	return 0;
fail:
	(void)gpgme_op_keylist_end(ctx->gpg);
	return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot list the public keys "
	    "of the GnuPG home: %s", gpgme_strerror(ge));
}

/* What librnp's loading left in pk (index, keybox copy, open keybox)
   let go; pk is as before it. */
static void
pk_rnp_drop(struct certs_pubkeys *pk)
{
	free(pk->rkeys);
	free(pk->blob);
	if (pk->kbx_fd >= 0)
		(void)close(pk->kbx_fd);
	pk->kbx_fd = -1;
	pk->rkeys = NULL;
	pk->blob = NULL;
	pk->nrkeys = pk->bloblen = 0;
}

int
certs_pubkeys_load(struct certs_ctx *ctx, enum policy_pgp_engine engine,
    const char *signer_fpr, struct certs_pubkeys **ret,
    struct tocsin_err *err)
{
	struct certs_pubkeys *pk;
	struct tocsin_err e = { 0 };
	int rc = 0;

	*ret = NULL;
	if ((pk = calloc(1, sizeof(*pk))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	pk->engine = engine;
	pk->kbx_fd = -1;
	if (engine == POLICY_PGP_RNP && certs_rnp_load(ctx, ctx->home,
	    signer_fpr, pk, &e) != 0) {
		/* nothing half-loaded stays: gpgme does it all */
		pk_rnp_drop(pk);
		pk->pub_rnp = false;
		if (e.code == TOCSIN_ENOMEM)
			rc = tocsin_fail(err, e.code, "%s", e.msg);
		else
			(void)snprintf(pk->note, sizeof(pk->note), "signing and "
			    "encryption go through gpgme (a gpg process each "
			    "time): %.400s", e.msg);
	}
	/* gpgme's listing when it encrypts, or signs in one message with
	   encryption (RFC 3156 6.2) */
	if (rc == 0 && (!pk->pub_rnp || pk->sign_gpgme))
		rc = pk_list_gpgme(ctx, pk, err);
	if (rc != 0) {
		certs_pubkeys_free(pk);
		return rc;
	}
	*ret = pk;
	return 0;
}

size_t
certs_pubkeys_count(const struct certs_pubkeys *pk)
{
	if (pk == NULL)
		return 0;
	return pk->pub_rnp ? pk->nrkeys : pk->n;
}

const char *
certs_pubkeys_engine(const struct certs_pubkeys *pk)
{
	if (pk == NULL || !pk->pub_rnp)
		return "gpgme";
	return pk->sign_gpgme ? "rnp (signing by gpgme)" : "rnp";
}

const char *
certs_pubkeys_note(const struct certs_pubkeys *pk)
{
	return pk != NULL && pk->note[0] != '\0' ? pk->note : NULL;
}

void
certs_pubkeys_free(struct certs_pubkeys *pk)
{
	if (pk == NULL)
		return;
	for (size_t i = 0; i < pk->n; i++)
		gpgme_key_unref(pk->keys[i]);
	free(pk->keys);
	pk_rnp_drop(pk);
	if (pk->seckey != NULL)
		OPENSSL_cleanse(pk->seckey, pk->seclen);
	free(pk->seckey);
	free(pk);
}

int
certs_attach(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    struct tocsin_err *err)
{
	if (ctx->rnp != NULL) {
		certs_rnp_close(ctx->rnp);
		ctx->rnp = NULL;
	}
	ctx->pk = pk;
	if (pk != NULL && pk->pub_rnp)
		return certs_rnp_open(pk, &ctx->rnp, err);
	return 0;
}

/* Whether this context signs in process. */
static bool
pgp_rnp_signs(const struct certs_ctx *ctx)
{
	return ctx->rnp != NULL && !ctx->pk->sign_gpgme;
}

static gpgme_key_t
pk_find(const struct certs_pubkeys *pk, const char *fpr)
{
	size_t lo = 0, hi = pk != NULL ? pk->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(fpr, pk->keys[mid]->fpr);

		if (c == 0)
			return pk->keys[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
certs_pubkey_usable(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    const char *fpr, int64_t now, struct tocsin_err *err)
{
	gpgme_key_t key;
	gpgme_subkey_t sk;

	if (fpr == NULL || fpr[0] == '\0')
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "the contact has no "
		    "OpenPGP key in the repository");
	if (pk != NULL && pk->pub_rnp) {
		int rc;

		if (ctx->pk != pk && (rc = certs_attach(ctx, pk, err)) != 0)
			return rc;
		return certs_rnp_usable(ctx->rnp, fpr, now, err);
	}
	if ((key = pk_find(pk, fpr)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "key %s is not in "
		    "the gateway's keyring; import it (tocsin check lists "
		    "every missing key)", fpr);
	if (key->revoked)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s is revoked", fpr);
	if (key->disabled)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s is disabled",
		    fpr);
	if (key->invalid)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s is invalid",
		    fpr);
	if (key->expired || (key->subkeys->expires != 0 &&
	    (int64_t)key->subkeys->expires <= now))
		return tocsin_fail(err, TOCSIN_EPERM, "key %s has expired",
		    fpr);
	for (sk = key->subkeys; sk != NULL; sk = sk->next)
		if (sk->can_encrypt && !sk->revoked && !sk->disabled &&
		    !sk->invalid && !sk->expired &&
		    (sk->expires == 0 || (int64_t)sk->expires > now))
			return 0;
	return tocsin_fail(err, TOCSIN_EPERM, "key %s has no usable "
	    "encryption subkey (expired, revoked or missing)", fpr);
}

/* Copy a gpgme data object into a malloc'd, NUL-terminated buffer. */
static int
pgp_take(gpgme_data_t d, char **ret, size_t *ret_len, struct tocsin_err *err)
{
	size_t len;
	char *p = gpgme_data_release_and_get_mem(d, &len);
	char *out;

	if (p == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((out = malloc(len + 1)) == NULL) {
		gpgme_free(p);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	memcpy(out, p, len);
	out[len] = '\0';
	gpgme_free(p);
	*ret = out;
	*ret_len = len;
	return 0;
}

/* Make signer_fpr the context's only signer, looking it up once. */
static int
pgp_use_signer(struct certs_ctx *ctx, const char *signer_fpr,
    struct tocsin_err *err)
{
	gpgme_error_t ge;

	if (ctx->signer == NULL || strcmp(ctx->signer_fpr, signer_fpr) != 0) {
		if (ctx->signer != NULL) {
			gpgme_key_unref(ctx->signer);
			ctx->signer = NULL;
		}
		if ((ge = gpgme_get_key(ctx->gpg, signer_fpr, &ctx->signer,
		    1)) != 0)
			return tocsin_fail(err, TOCSIN_ECONFIG, "the gateway's "
			    "signing key %s has no secret key in the GnuPG "
			    "home: %s", signer_fpr, gpgme_strerror(ge));
		snprintf(ctx->signer_fpr, sizeof(ctx->signer_fpr), "%s",
		    signer_fpr);
	}
	gpgme_signers_clear(ctx->gpg);
	if ((ge = gpgme_signers_add(ctx->gpg, ctx->signer)) != 0)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot use signing "
		    "key %s: %s", signer_fpr, gpgme_strerror(ge));
	/* No terminal and no agent prompt: a key with a passphrase fails
	   here instead of hanging a worker. */
	(void)gpgme_set_pinentry_mode(ctx->gpg, GPGME_PINENTRY_MODE_LOOPBACK);
	return 0;
}

/* One signature of data by signer_fpr in mode (detached or clear text),
   armoured; micalg as for certs_sign_detached. */
static int
pgp_sign(struct certs_ctx *ctx, const char *signer_fpr, const void *data,
    size_t len, gpgme_sig_mode_t mode, char **ret, size_t *ret_len,
    char micalg[32], struct tocsin_err *err)
{
	gpgme_data_t in = NULL, out = NULL;
	gpgme_sign_result_t res;
	gpgme_error_t ge;
	const char *h;
	int rc;

	*ret = NULL;
	*ret_len = 0;
	if (pgp_rnp_signs(ctx))
		return certs_rnp_sign(ctx->rnp, signer_fpr, data, len,
		    mode == GPGME_SIG_MODE_CLEAR ? 'c' : 'd', ret, ret_len,
		    micalg, err);
	if ((rc = pgp_use_signer(ctx, signer_fpr, err)) != 0)
		return rc;
	gpgme_set_armor(ctx->gpg, 1);
	if ((ge = gpgme_data_new_from_mem(&in, data, len, 0)) != 0 ||
	    (ge = gpgme_data_new(&out)) != 0) {
		gpgme_data_release(in);
		return tocsin_fail(err, TOCSIN_ENOMEM, "gpgme: %s",
		    gpgme_strerror(ge));
	}
	ge = gpgme_op_sign(ctx->gpg, in, out, mode);
	gpgme_data_release(in);
	gpgme_set_armor(ctx->gpg, 0);
	gpgme_signers_clear(ctx->gpg);
	if (ge != 0) {
		gpgme_data_release(out);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "signing with the "
		    "gateway key %s failed: %s", signer_fpr,
		    gpgme_strerror(ge));
	}
	res = gpgme_op_sign_result(ctx->gpg);
	if (res == NULL || res->signatures == NULL) {
		gpgme_data_release(out);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "gpg made no "
		    "signature with key %s", signer_fpr);
	}
	/* gpgme names the hash "SHA256"; RFC 3156 wants "pgp-sha256". */
	h = gpgme_hash_algo_name(res->signatures->hash_algo);
	if (h == NULL)
		h = "sha256";
	snprintf(micalg, 32, "pgp-%s", h);
	for (char *c = micalg; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return pgp_take(out, ret, ret_len, err);
}

int
certs_sign_detached(struct certs_ctx *ctx, const char *signer_fpr,
    const void *data, size_t len, char **ret, size_t *ret_len,
    char micalg[32], struct tocsin_err *err)
{
	return pgp_sign(ctx, signer_fpr, data, len, GPGME_SIG_MODE_DETACH,
	    ret, ret_len, micalg, err);
}

int
certs_clearsign(struct certs_ctx *ctx, const char *signer_fpr,
    const void *data, size_t len, char **ret, size_t *ret_len,
    struct tocsin_err *err)
{
	char micalg[32];

	return pgp_sign(ctx, signer_fpr, data, len, GPGME_SIG_MODE_CLEAR, ret,
	    ret_len, micalg, err);
}

static int
pgp_encrypt(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    const char *signer_fpr, const char *const *fprs, size_t nfprs,
    const void *data, size_t len, char **ret, size_t *ret_len,
    struct tocsin_err *err)
{
	gpgme_key_t *keys;
	gpgme_data_t in = NULL, out = NULL;
	gpgme_error_t ge;
	gpgme_encrypt_result_t res;
	int rc;

	*ret = NULL;
	*ret_len = 0;
	/* keys loaded by librnp are encrypted to by librnp: a context not
	   attached yet takes them now (it is this thread's alone) */
	if (pk != NULL && pk->pub_rnp && ctx->pk != pk &&
	    (rc = certs_attach(ctx, pk, err)) != 0)
		return rc;
	if (ctx->rnp != NULL && (signer_fpr == NULL || pgp_rnp_signs(ctx)))
		return certs_rnp_encrypt(ctx->rnp, signer_fpr, fprs, nfprs,
		    data, len, ret, ret_len, err);
	if (signer_fpr != NULL && (rc = pgp_use_signer(ctx, signer_fpr, err))
	    != 0)
		return rc;
	if (nfprs == 0)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "no recipient key");
	if ((keys = calloc(nfprs + 1, sizeof(*keys))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (size_t i = 0; i < nfprs; i++)
		if ((keys[i] = pk_find(pk, fprs[i])) == NULL) {
			free(keys);
			return tocsin_fail(err, TOCSIN_ENOTFOUND, "key %s is "
			    "not in the gateway's keyring", fprs[i]);
		}
	gpgme_set_armor(ctx->gpg, 1);
	if ((ge = gpgme_data_new_from_mem(&in, data, len, 0)) != 0 ||
	    (ge = gpgme_data_new(&out)) != 0) {
		gpgme_data_release(in);
		free(keys);
		return tocsin_fail(err, TOCSIN_ENOMEM, "gpgme: %s",
		    gpgme_strerror(ge));
	}
	/* Keys are pinned by fingerprint in the repository: GnuPG's web of
	   trust has no say (LIBRARY-NOTES). */
	ge = signer_fpr != NULL ? gpgme_op_encrypt_sign(ctx->gpg, keys,
	    GPGME_ENCRYPT_ALWAYS_TRUST, in, out) : gpgme_op_encrypt(ctx->gpg,
	    keys, GPGME_ENCRYPT_ALWAYS_TRUST, in, out);
	gpgme_data_release(in);
	gpgme_set_armor(ctx->gpg, 0);
	gpgme_signers_clear(ctx->gpg);
	free(keys);
	res = gpgme_op_encrypt_result(ctx->gpg);
	if (ge == 0 && res != NULL && res->invalid_recipients != NULL)
		ge = res->invalid_recipients->reason != 0 ?
		    res->invalid_recipients->reason : GPG_ERR_UNUSABLE_PUBKEY;
	if (ge != 0) {
		gpgme_data_release(out);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "encryption failed%s"
		    "%s: %s", res != NULL && res->invalid_recipients != NULL ?
		    " for key " : "", res != NULL &&
		    res->invalid_recipients != NULL &&
		    res->invalid_recipients->fpr != NULL ?
		    res->invalid_recipients->fpr : "", gpgme_strerror(ge));
	}
	return pgp_take(out, ret, ret_len, err);
}

int
certs_encrypt(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    const char *const *fprs, size_t nfprs, const void *data, size_t len,
    char **ret, size_t *ret_len, struct tocsin_err *err)
{
	return pgp_encrypt(ctx, pk, NULL, fprs, nfprs, data, len, ret,
	    ret_len, err);
}

int
certs_encrypt_sign(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    const char *signer_fpr, const char *const *fprs, size_t nfprs,
    const void *data, size_t len, char **ret, size_t *ret_len,
    struct tocsin_err *err)
{
	return pgp_encrypt(ctx, pk, signer_fpr, fprs, nfprs, data, len, ret,
	    ret_len, err);
}
