/*
 * cms.c: CMS (S/MIME) detached signatures over alerts, with OpenSSL.
 *
 * The trust store holds the configured issuer CA and nothing else: the
 * system's CAs must never make an alert trusted.  The signer certificate's
 * SHA-256 is reported so that certs_authorise() can pin it to one issuer
 * entry; a valid chain alone authorises nobody.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>	/* before cms.h: it declares PEM_read_bio_CMS */
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "base.h"
#include "certs.h"

static void
cms_hex(const unsigned char *md, unsigned int n, char out[65])
{
	base_hex_upper(out, md, n < 32 ? n : 32);
}

static void
cms_cert_digest(X509 *x, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	out[0] = '\0';
	if (X509_digest(x, EVP_sha256(), md, &n) == 1)
		cms_hex(md, n, out);
}

static void
cms_last_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		(void)snprintf(buf, len, "unknown reason");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
}

int
certs_cert_fingerprint(const char *pem_path, char out[65],
    struct tocsin_err *err)
{
	FILE *f;
	X509 *x;

	out[0] = '\0';
	if ((f = fopen(pem_path, "r")) == NULL)
		return tocsin_fail(err, TOCSIN_ENOINPUT,
		    "cannot open certificate %s", pem_path);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		ERR_clear_error();
		return tocsin_fail(err, TOCSIN_ECONFIG,
		    "%s holds no PEM certificate", pem_path);
	}
	cms_cert_digest(x, out);
	X509_free(x);
	return 0;
}

static CMS_ContentInfo *
cms_read(const void *sig, size_t siglen)
{
	BIO *b = BIO_new_mem_buf(sig, (int)siglen);
	CMS_ContentInfo *cms;

	if (b == NULL)
		return NULL;
	if (certs_blob_kind(sig, siglen) == CERTS_BLOB_CMS &&
	    ((const char *)sig)[0] == '-')
		cms = PEM_read_bio_CMS(b, NULL, NULL, NULL);
	else
		cms = d2i_CMS_bio(b, NULL);
	BIO_free(b);
	return cms;
}

int
certs_cms_verify(const void *data, size_t len, const void *sig, size_t siglen,
    const char *issuer_ca, struct certs_sigs *sigs, struct tocsin_err *err)
{
	CMS_ContentInfo *cms = NULL;
	X509_STORE *store = NULL;
	BIO *content = NULL;
	STACK_OF(X509) *signers = NULL, *certs = NULL;
	struct certs_sig *o;
	int rc = 0, ok;

	if (siglen > CERTS_MAX_SIG_BYTES || len > INT_MAX)
		return tocsin_fail(err, TOCSIN_EPERM, "the CMS signature is too large");
	if ((cms = cms_read(sig, siglen)) == NULL) {
		ERR_clear_error();
		return tocsin_fail(err, TOCSIN_EPERM,
		    "the signature file is not a readable CMS signature");
	}
	if (sigs->n >= CERTS_MAX_SIGS) {
		CMS_ContentInfo_free(cms);
		return tocsin_fail(err, TOCSIN_EPERM, "too many signatures");
	}
	o = &sigs->sig[sigs->n++];
	memset(o, 0, sizeof(*o));
	o->kind = CERTS_CMS;

	if (issuer_ca == NULL) {
		(void)snprintf(o->reason, sizeof(o->reason),
		    "CMS signatures are refused: no issuer_ca is configured");
		goto done;
	}
	if ((store = X509_STORE_new()) == NULL ||
	    X509_STORE_load_file(store, issuer_ca) != 1) {
		cms_last_error(o->reason, sizeof(o->reason));
		rc = tocsin_fail(err, TOCSIN_ECONFIG,
		    "cannot load the issuer CA %s: %s", issuer_ca, o->reason);
		sigs->n--;
		goto done;
	}
	content = BIO_new_mem_buf(data, (int)len);
	/* CMS_BINARY: the alert's bytes are signed as they are, with no MIME
	   line-ending canonicalisation. */
	ok = CMS_verify(cms, NULL, store, content, NULL, CMS_BINARY);
	if (ok == 1) {
		signers = CMS_get0_signers(cms);
		if (signers != NULL && sk_X509_num(signers) > 0)
			cms_cert_digest(sk_X509_value(signers, 0), o->signer);
		sk_X509_free(signers);
		o->good = o->signer[0] != '\0';
		if (!o->good)
			(void)snprintf(o->reason, sizeof(o->reason),
			    "the CMS signature names no signer certificate");
	} else {
		char why[160];

		cms_last_error(why, sizeof(why));
		certs = CMS_get1_certs(cms);
		if (certs != NULL && sk_X509_num(certs) > 0)
			cms_cert_digest(sk_X509_value(certs, 0), o->signer);
		sk_X509_pop_free(certs, X509_free);
		(void)snprintf(o->reason, sizeof(o->reason),
		    "CMS signature by certificate %.16s... does not verify "
		    "against the issuer CA: %s", o->signer[0] ? o->signer :
		    "(none)", why);
	}
done:
	BIO_free(content);
	X509_STORE_free(store);
	CMS_ContentInfo_free(cms);
	return rc;
}
