/*
 * certs_int.h: what the files of certs/ share and no other module sees.
 */
#ifndef CERTS_INT_H
#define CERTS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <gpgme.h>

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

struct certs_ctx {
	gpgme_ctx_t gpg;
	gpgme_key_t signer;	/* the gateway's secret key, once looked up */
	char signer_fpr[41];
	struct certs_validsig validsig[CERTS_VALIDSIG_MAX];
	size_t nvalidsig;
	struct certs_signer_key signers[CERTS_SIGNER_CACHE];
	size_t nsigners;	/* entries used */
	size_t next;		/* the one to replace when full */
};

#endif
