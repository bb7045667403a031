/*
 * certs_int.h: what the files of certs/ share and no other module sees.
 */
#ifndef CERTS_INT_H
#define CERTS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <gpgme.h>

#include "policy.h"

/* Signers' keys seen by a context, so that a key is looked up once per run
   (one gpg process each), never once per message. */
#define CERTS_SIGNER_CACHE 64

struct certs_signer_key {
	char fpr[41];		/* the signing key, as signatures name it */
	char primary[41];	/* the key that owns it ("" when unusable) */
	bool usable;		/* a signing-capable, valid (sub)key of primary */
	char why[200];		/* why not usable */
	int64_t expires;	/* of the signing (sub)key or its primary, the
				   earlier; 0: never */
};

/* gpg's VALIDSIG lines of one verification: the key that signed and the
   primary key gpg bound it to (gpgme keeps only the first). */
#define CERTS_VALIDSIG_MAX 16

struct certs_validsig {
	char fpr[41];
	char primary[41];	/* "" when gpg did not say */
};

/* One public key as the in-process engine (rnp.c) finds it: where its
   keyblock lies in the shared copy of pubring.kbx, and GnuPG's disabled
   flag (trustdb.gpg), which librnp does not know. */
struct certs_rnp_key {
	char fpr[41];		/* primary key, upper-case hex */
	bool disabled;
	size_t off, len;	/* in certs_pubkeys.blob */
};

/*
 * The keys of one run, shared read-only by every worker.  With the gpgme
 * engine (or when librnp could not read the public keyring) keys holds
 * gpgme's listing; with librnp, rkeys is an index of pubring.kbx's
 * keyblocks, read from kbx_fd one at a time (a worker's librnp imports
 * and validates a key when it first needs it, and lets it go after the
 * message; the file is not held in memory), and
 * seckey the gateway's transferable secret key (binary, cleansed on free),
 * which every worker's own rnp_ffi_t imports.  sign_gpgme: the secret key
 * could not be read in process, so signing goes through gpgme.
 */
struct certs_pubkeys {
	enum policy_pgp_engine engine;	/* as asked */
	bool pub_rnp;			/* public keys in rkeys, not keys */
	bool sign_gpgme;
	gpgme_key_t *keys;		/* sorted by primary fingerprint */
	size_t n;
	struct certs_rnp_key *rkeys;	/* sorted by fpr */
	size_t nrkeys;
	unsigned char *blob;		/* pubring.kbx while it is indexed */
	size_t bloblen;
	int kbx_fd;			/* pubring.kbx, read a keyblock at a
					   time by rkeys' offsets; -1: none */
	unsigned char *seckey;
	size_t seclen;
	char signer_fpr[41];
	char note[512];			/* what was not done in process, or "" */
};

struct certs_rnp;

/* rnp.c: load the public keys (and the gateway's secret key) into pk. */
int certs_rnp_load(struct certs_ctx *ctx, const char *home,
    const char *signer_fpr, struct certs_pubkeys *pk, struct tocsin_err *err);
/* rnp.c: index the keybox in pk->blob (pk->bloblen bytes) into
   pk->rkeys; path names it in errors.  Exposed for fuzz_kbx. */
int certs_rnp_index_kbx(struct certs_pubkeys *pk, const char *path,
    struct tocsin_err *err);
/* rnp.c: certs_pubkey_usable for this worker's librnp; the key stays
   imported for the certs_rnp_encrypt that follows. */
int certs_rnp_usable(struct certs_rnp *r, const char *fpr, int64_t now,
    struct tocsin_err *err);
/* rnp.c: a worker's own librnp state on pk; *ret owned by the caller. */
int certs_rnp_open(const struct certs_pubkeys *pk, struct certs_rnp **ret,
    struct tocsin_err *err);
void certs_rnp_close(struct certs_rnp *r);
/* rnp.c: the outgoing operations in process.  mode: 'd' detached, 'c'
   clear-signed; micalg may be NULL for 'c'. */
int certs_rnp_sign(struct certs_rnp *r, const char *signer_fpr,
    const void *data, size_t len, int mode, char **ret, size_t *ret_len,
    char micalg[32], struct tocsin_err *err);
int certs_rnp_encrypt(struct certs_rnp *r, const char *signer_fpr,
    const char *const *fprs, size_t nfprs, const void *data, size_t len,
    char **ret, size_t *ret_len, struct tocsin_err *err);

struct certs_ctx {
	gpgme_ctx_t gpg;
	char home[4096];	/* the GnuPG home it was opened on */
	const struct certs_pubkeys *pk;	/* attached: outgoing engine */
	struct certs_rnp *rnp;	/* this context's librnp state, or NULL */
	gpgme_key_t signer;	/* the gateway's secret key, once looked up */
	char signer_fpr[41];
	struct certs_validsig validsig[CERTS_VALIDSIG_MAX];
	size_t nvalidsig;
	struct certs_signer_key signers[CERTS_SIGNER_CACHE];
	size_t nsigners;	/* entries used */
	size_t next;		/* the one to replace when full */
};

#endif
