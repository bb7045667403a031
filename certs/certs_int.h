/*
 * certs_int.h: what the files of certs/ share and no other module sees.
 */
#ifndef CERTS_INT_H
#define CERTS_INT_H

#include <gpgme.h>

struct certs_ctx {
	gpgme_ctx_t gpg;
	gpgme_key_t signer;	/* the gateway's secret key, once looked up */
	char signer_fpr[41];
};

#endif
