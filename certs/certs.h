/*
 * certs.h: trust.  Alert signature verification (OpenPGP through gpgme,
 * CMS through OpenSSL), issuer authorisation and quorum, and key facts for
 * `tocsin check`.
 *
 * Verification never decides trust by GnuPG's web of trust: a signature
 * counts when it is cryptographically good, made by a key that is neither
 * expired nor revoked, and its full fingerprint (or, for CMS, the signer
 * certificate's SHA-256) is pinned to an issuer in the configuration.
 * An OpenPGP key may sign with a subkey (the usual smart-card layout); the
 * signature then names the primary key that owns it, and counts only when
 * that subkey is a valid, signing-capable subkey of it.
 * A struct certs_ctx owns one gpgme context on tocsin's private GnuPG home
 * (and, once attached to the run's keys, one librnp context) and is used
 * by one thread at a time.
 */
#ifndef CERTS_H
#define CERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "tocsin.h"

#define CERTS_MAX_SIGS 16
#define CERTS_MAX_SCOPES 4
#define CERTS_MAX_SIG_BYTES (256 * 1024)

enum certs_kind { CERTS_OPENPGP, CERTS_CMS };

/* One signature found on an alert, good or not. */
struct certs_sig {
	enum certs_kind kind;
	char signer[65];	/* OpenPGP: the primary key's fingerprint (40
				   hex; the 16-hex key id when the key is
				   unknown), also when a subkey of it signed;
				   CMS: SHA-256 of the signer certificate */
	char subkey[41];	/* OpenPGP: the signing subkey's fingerprint
				   when a subkey made it, else "" */
	bool good;		/* valid, unexpired, unrevoked */
	char reason[256];	/* why not good; "" when good */
	int64_t created;	/* signature time, 0 when unknown */
	const char *sigfile;	/* borrowed: which --sig it came from, or NULL */
	const char *issuer;	/* borrowed from the repo: the issuer this
				   signature authorises, set by certs_authorise */
};

struct certs_sigs {
	struct certs_sig sig[CERTS_MAX_SIGS];
	size_t n;
};

struct certs_ctx;

/* Open a context on the GnuPG home (absolute path).  *ret is owned by the
   caller: certs_close(). */
int certs_open(const char *gnupg_home, struct certs_ctx **ret,
    struct tocsin_err *err);
void certs_close(struct certs_ctx *ctx);

/* What a signature blob is, judged from its first bytes. */
enum certs_blob { CERTS_BLOB_UNKNOWN, CERTS_BLOB_OPENPGP, CERTS_BLOB_CMS };
enum certs_blob certs_blob_kind(const void *blob, size_t len);

/* Whether data is an inline OpenPGP message (clearsigned or signed). */
bool certs_is_inline_openpgp(const void *data, size_t len);

/*
 * Verify a detached signature (OpenPGP armoured or binary, or CMS in PEM or
 * DER) over data, appending every signature found to sigs.  issuer_ca (may
 * be NULL) is the CA file CMS signers must chain to.  Returns 0 when the
 * blob could be read (its signatures may still be bad: see each .good);
 * TOCSIN_EPERM when it is no signature at all.
 */
int certs_verify_detached(struct certs_ctx *ctx, const void *data, size_t len,
    const void *sig, size_t siglen, const char *issuer_ca,
    struct certs_sigs *sigs, struct tocsin_err *err);

/*
 * Verify an inline OpenPGP message and return what it signs in *ret_plain
 * (malloc'd, NUL-terminated, owned by the caller), at most max bytes.  The
 * limit holds while gpg unpacks: a compressed message whose content passes
 * max is refused with TOCSIN_ETOOBIG as soon as it does, before memory
 * grows, and no signature of it is reported.
 */
int certs_verify_inline(struct certs_ctx *ctx, const void *msg, size_t len,
    size_t max, char **ret_plain, size_t *ret_len, struct certs_sigs *sigs,
    struct tocsin_err *err);

/* CMS: verify a detached CMS signature (PEM or DER) against the CA file. */
int certs_cms_verify(const void *data, size_t len, const void *sig,
    size_t siglen, const char *issuer_ca, struct certs_sigs *sigs,
    struct tocsin_err *err);

/* SHA-256 (64 hex, upper case) of the first certificate in a PEM file. */
int certs_cert_fingerprint(const char *pem_path, char out[65],
    struct tocsin_err *err);

/* What `check` needs to know of a key. */
struct certs_keyinfo {
	bool found, expired, revoked, disabled, invalid;
	bool can_encrypt, can_sign, secret;
	int64_t expires;	/* 0: never */
};
int certs_key_info(struct certs_ctx *ctx, const char *fpr, bool secret,
    struct certs_keyinfo *ret, struct tocsin_err *err);

/*
 * Every key of the home, listed once (one gpg run) and kept sorted by
 * fingerprint, so that a run never looks a key up per contact or message.
 * secret: list secret keys instead.  *ret is owned by the caller.
 */
struct certs_keyring;
int certs_keyring_load(struct certs_ctx *ctx, bool secret,
    struct certs_keyring **ret, struct tocsin_err *err);
/* Facts of one key by full fingerprint; found=false when absent. */
void certs_keyring_find(const struct certs_keyring *kr, const char *fpr,
    struct certs_keyinfo *ret);
size_t certs_keyring_size(const struct certs_keyring *kr);
void certs_keyring_free(struct certs_keyring *kr);

/*
 * Issuer authorisation and quorum.  Maps each good signature to a
 * configured issuer, checks that issuer may send this alert (every marked
 * team inside its may_address, severity and status allowed), and that the
 * number of distinct authorised issuers meets the quorum rules.  On success
 * the names of the authorised issuers are written to names (borrowed from
 * repo), *n how many.  TOCSIN_EPERM with a reason for every way it fails.
 */
int certs_authorise(const struct policy_repo *repo, struct certs_sigs *sigs,
    const bool *teams, int severity, int status, const char **names,
    size_t *n, struct tocsin_err *err);

/* What a signer must be authorised for: one alert's resolved audience
   (marks over repo->teams), highest severity and status. */
struct certs_scope {
	const bool *teams;
	int severity;
	int status;
	const char *what;	/* for messages: NULL for the alert in hand,
				   else e.g. "the alert it cancels (ID)" */
};

/*
 * certs_authorise over several scopes at once: a Cancel or an Update
 * needs the authority of what it stops as well as its own.  An issuer
 * counts only when it may send every scope, and the distinct issuers that
 * count must meet the largest quorum of any scope.
 */
int certs_authorise_scopes(const struct policy_repo *repo,
    struct certs_sigs *sigs, const struct certs_scope *scopes,
    size_t nscopes, const char **names, size_t *n, struct tocsin_err *err);

/*
 * The OpenPGP engine for outgoing mail (signatures of every channel that
 * signs, encryption of PGP e-mail).  gateway.pgp_engine chooses it:
 *   POLICY_PGP_RNP (default): librnp in process.  The public keys are read
 *     once per run from the home's pubring.kbx into one read-only
 *     structure shared by every worker; the gateway's secret key is read
 *     from private-keys-v1.d or, when librnp cannot parse GnuPG 2.2's
 *     files, exported once by gpg.  An rnp_ffi_t is not safe to share
 *     between threads while it works, so every context attached to the
 *     keys (certs_attach: one per worker) has its own and imports a key
 *     from the shared structure the first time it uses it.
 *   POLICY_PGP_GPGME: a gpg process per operation; the public keys are
 *     listed once per run (one gpg process) and shared the same way.
 * What librnp cannot read is done by gpgme, never skipped: the
 * certs_pubkeys_note() sentence says what, for the caller to log once.
 * Verification of alerts, key facts and `check` stay with gpgme.
 */
struct certs_pubkeys;
/* Load the keys of ctx's GnuPG home for engine; signer_fpr is the
   gateway's signing key (may be NULL: no signing).  *ret is owned by the
   caller: certs_pubkeys_free(). */
int certs_pubkeys_load(struct certs_ctx *ctx, enum policy_pgp_engine engine,
    const char *signer_fpr, struct certs_pubkeys **ret,
    struct tocsin_err *err);
size_t certs_pubkeys_count(const struct certs_pubkeys *pk);
/* Which engine does the work: "rnp", "rnp (signing by gpgme)" or
   "gpgme" (static string). */
const char *certs_pubkeys_engine(const struct certs_pubkeys *pk);
/* Why part of the work goes through gpgme although librnp was asked for;
   NULL when nothing does.  Borrowed from pk. */
const char *certs_pubkeys_note(const struct certs_pubkeys *pk);
void certs_pubkeys_free(struct certs_pubkeys *pk);
/* Sign and encrypt through ctx with pk's engine from now on (pk must
   outlive that use; ctx stays one thread's).  A context never attached
   signs with gpgme, as `compose` and the audit checkpoint do. */
int certs_attach(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    struct tocsin_err *err);
/* Whether the key fpr can be encrypted to now: 0, or TOCSIN_ENOTFOUND /
   TOCSIN_EPERM with a sentence saying why not (absent, expired, revoked,
   disabled, no encryption subkey).  With librnp the key is read into
   ctx's own librnp here, for the certs_encrypt that follows; ctx is this
   thread's (it may be NULL when fpr is empty). */
int certs_pubkey_usable(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    const char *fpr, int64_t now, struct tocsin_err *err);

/*
 * Sign data with the secret key signer_fpr, detached and armoured.  *ret is
 * malloc'd (owned by the caller); micalg receives the RFC 3156 name of the
 * hash in lower case ("pgp-sha256"), read from the signature made.  The
 * key is looked up on first use and kept in ctx.  A key that needs a
 * passphrase fails rather than prompting, with either engine.
 */
int certs_sign_detached(struct certs_ctx *ctx, const char *signer_fpr,
    const void *data, size_t len, char **ret, size_t *ret_len,
    char micalg[32], struct tocsin_err *err);

/*
 * data (UTF-8 text) clear-signed by signer_fpr, as `gpg --clearsign` makes
 * it: the text stays readable and `gpg --verify` checks it.  *ret is
 * malloc'd, owned by the caller.
 */
int certs_clearsign(struct certs_ctx *ctx, const char *signer_fpr,
    const void *data, size_t len, char **ret, size_t *ret_len,
    struct tocsin_err *err);

/*
 * Encrypt data, armoured, to every key in fprs (all must be usable: check
 * with certs_pubkey_usable first).  Keys are pinned by fingerprint in the
 * repository, so GnuPG's validity is not asked.  *ret is malloc'd, owned by
 * the caller.
 */
int certs_encrypt(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    const char *const *fprs, size_t nfprs, const void *data, size_t len,
    char **ret, size_t *ret_len, struct tocsin_err *err);

/*
 * Sign with signer_fpr and encrypt to fprs in one OpenPGP message (RFC 3156
 * section 6.2): one gpg run instead of two.  Same ownership as
 * certs_encrypt.
 */
int certs_encrypt_sign(struct certs_ctx *ctx, const struct certs_pubkeys *pk,
    const char *signer_fpr, const char *const *fprs, size_t nfprs,
    const void *data, size_t len, char **ret, size_t *ret_len,
    struct tocsin_err *err);

#endif
