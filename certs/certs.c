/*
 * certs.c: OpenPGP verification and key facts through gpgme.
 *
 * gpgme is no OpenPGP implementation: every call below starts a gpg
 * process.  So a context is opened once per thread and run, and callers
 * look keys up once, never per message.  gpgme_op_verify() succeeds even
 * for a bad signature; the verdict is taken from each signature's status
 * and summary, and trust comes from the pinned fingerprint, never from
 * GnuPG's validity (an imported, uncertified issuer key is "unknown" to gpg
 * and yet exactly the key the configuration pins).  A signature made by a
 * subkey names the subkey; it is traced to its primary key through one
 * key look-up per signing key and context, and counts only when that
 * subkey may sign and is neither revoked nor expired.
 */
#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gpgme.h>

#include "base.h"
#include "certs.h"
#include "certs_int.h"

static pthread_once_t certs_once = PTHREAD_ONCE_INIT;

static void
certs_init_gpgme(void)
{
	(void)gpgme_check_version(NULL);
	(void)gpgme_set_locale(NULL, LC_CTYPE, setlocale(LC_CTYPE, NULL));
}

int
certs_open(const char *gnupg_home, struct certs_ctx **ret,
    struct tocsin_err *err)
{
	struct certs_ctx *c;
	gpgme_error_t ge;

	*ret = NULL;
	pthread_once(&certs_once, certs_init_gpgme);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((ge = gpgme_new(&c->gpg)) != 0) {
		free(c);
		return tocsin_fail(err, TOCSIN_EUNAVAIL,
		    "cannot start gpgme: %s", gpgme_strerror(ge));
	}
	if ((ge = gpgme_set_protocol(c->gpg, GPGME_PROTOCOL_OpenPGP)) != 0 ||
	    (ge = gpgme_ctx_set_engine_info(c->gpg, GPGME_PROTOCOL_OpenPGP,
	    NULL, gnupg_home)) != 0) {
		gpgme_release(c->gpg);
		free(c);
		return tocsin_fail(err, TOCSIN_EUNAVAIL,
		    "cannot use GnuPG home %s: %s", gnupg_home,
		    gpgme_strerror(ge));
	}
	/* Never fetch keys from anywhere: trust is what the home holds. */
	gpgme_set_offline(c->gpg, 1);
	(void)snprintf(c->home, sizeof(c->home), "%s", gnupg_home);
	*ret = c;
	return 0;
}

void
certs_close(struct certs_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->signer != NULL)
		gpgme_key_unref(ctx->signer);
	certs_rnp_close(ctx->rnp);
	gpgme_release(ctx->gpg);
	free(ctx);
}

static bool
certs_has_prefix(const unsigned char *p, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(p, prefix, n) == 0;
}

enum certs_blob
certs_blob_kind(const void *blob, size_t len)
{
	const unsigned char *p = blob;
	static const char pgp_arm[] = "-----BEGIN PGP SIGNATURE-----";

	while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		p++;
		len--;
	}
	if (len >= sizeof(pgp_arm) - 1 && memcmp(p, pgp_arm,
	    sizeof(pgp_arm) - 1) == 0)
		return CERTS_BLOB_OPENPGP;
	if (certs_has_prefix(p, len, "-----BEGIN CMS-----") ||
	    certs_has_prefix(p, len, "-----BEGIN PKCS7-----"))
		return CERTS_BLOB_CMS;
	if (len >= 2 && p[0] == 0x30)	/* DER SEQUENCE: ContentInfo */
		return CERTS_BLOB_CMS;
	/* Binary OpenPGP: a packet tag with bit 7 set; a signature packet is
	   tag 2 (old format 0x88-0x8b, new format 0xc2). */
	if (len >= 2 && ((p[0] & 0xfc) == 0x88 || p[0] == 0xc2))
		return CERTS_BLOB_OPENPGP;
	return CERTS_BLOB_UNKNOWN;
}

bool
certs_is_inline_openpgp(const void *data, size_t len)
{
	const char *p = data;
	static const char clear[] = "-----BEGIN PGP SIGNED MESSAGE-----";
	static const char msg[] = "-----BEGIN PGP MESSAGE-----";

	while (len > 0 && (*p == ' ' || *p == '\r' || *p == '\n' || *p == '\t')) {
		p++;
		len--;
	}
	if (len >= sizeof(clear) - 1 && memcmp(p, clear, sizeof(clear) - 1) == 0)
		return true;
	if (len >= sizeof(msg) - 1 && memcmp(p, msg, sizeof(msg) - 1) == 0)
		return true;
	/* Binary signed message: one-pass signature (tag 4) or compressed
	   (tag 8) packet first. */
	if (len >= 2 && ((unsigned char)p[0] == 0x90 || (unsigned char)p[0] == 0xc4 ||
	    ((unsigned char)p[0] & 0xfc) == 0xa0 || (unsigned char)p[0] == 0xc8))
		return true;
	return false;
}

/* Keep what a VALIDSIG status line says: "FPR DATE TS EXPIRE VERSION
   RESERVED PK-ALGO HASH-ALGO CLASS PRIMARY-FPR". */
static gpgme_error_t
certs_status(void *opaque, const char *keyword, const char *args)
{
	struct certs_ctx *ctx = opaque;
	struct certs_validsig *v;
	const char *p = args, *f[10];
	size_t n = 0;

	if (strcmp(keyword, "VALIDSIG") != 0 || args == NULL ||
	    ctx->nvalidsig >= CERTS_VALIDSIG_MAX)
		return 0;
	while (*p != '\0' && n < 10) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		f[n++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
	}
	if (n == 0 || strcspn(f[0], " ") != 40)
		return 0;
	v = &ctx->validsig[ctx->nvalidsig++];
	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < 40; i++) {
		v->fpr[i] = (char)toupper((unsigned char)f[0][i]);
		if (n == 10 && strcspn(f[9], " ") == 40)
			v->primary[i] = (char)toupper((unsigned char)f[9][i]);
	}
	return 0;
}

/* gpgme_op_verify, keeping gpg's VALIDSIG lines in ctx for
   certs_sigs_to_primary; the status hook is on for this call only. */
static gpgme_error_t
certs_op_verify(struct certs_ctx *ctx, gpgme_data_t sig, gpgme_data_t text,
    gpgme_data_t plain)
{
	gpgme_error_t ge;

	ctx->nvalidsig = 0;
	(void)gpgme_set_ctx_flag(ctx->gpg, "full-status", "1");
	gpgme_set_status_cb(ctx->gpg, certs_status, ctx);
	ge = gpgme_op_verify(ctx->gpg, sig, text, plain);
	gpgme_set_status_cb(ctx->gpg, NULL, NULL);
	(void)gpgme_set_ctx_flag(ctx->gpg, "full-status", "0");
	return ge;
}

/* Copy the fingerprint in upper case; expand a key id to the full
   fingerprint through the key ring when the signature carried only that. */
static void
certs_sig_signer(struct certs_ctx *ctx, const char *fpr, char out[65])
{
	gpgme_key_t key = NULL;
	size_t i;

	out[0] = '\0';
	if (fpr == NULL)
		return;
	if (strlen(fpr) != 40 && gpgme_get_key(ctx->gpg, fpr, &key, 0) == 0 &&
	    key != NULL && key->fpr != NULL)
		fpr = key->fpr;
	for (i = 0; fpr[i] != '\0' && i < 64; i++)
		out[i] = (fpr[i] >= 'a' && fpr[i] <= 'f') ? fpr[i] - 32 : fpr[i];
	out[i] = '\0';
	if (key != NULL)
		gpgme_key_unref(key);
}

/* Whether the key found for fpr makes it a usable signer, and of which
   primary key: into k. */
static void
certs_signer_judge(gpgme_key_t key, const char *fpr,
    struct certs_signer_key *k)
{
	gpgme_subkey_t pk = key->subkeys, sk;
	const char *what = "subkey";

	for (sk = pk; sk != NULL; sk = sk->next)
		if (sk->fpr != NULL && strcasecmp(sk->fpr, fpr) == 0)
			break;
	if (pk == NULL || key->fpr == NULL || strlen(key->fpr) != 40 ||
	    sk == NULL) {
		(void)snprintf(k->why, sizeof(k->why), "the key ring's key for "
		    "%s does not hold that key", fpr);
		return;
	}
	if (sk == pk)
		what = "key";
	if (key->revoked || pk->revoked)
		(void)snprintf(k->why, sizeof(k->why), "the signing key %s is "
		    "revoked", key->fpr);
	else if (key->expired || pk->expired)
		(void)snprintf(k->why, sizeof(k->why), "the signing key %s has "
		    "expired", key->fpr);
	else if (key->disabled || key->invalid || pk->disabled || pk->invalid)
		(void)snprintf(k->why, sizeof(k->why), "the signing key %s is "
		    "disabled or invalid", key->fpr);
	else if (sk->revoked || sk->expired || sk->disabled || sk->invalid)
		(void)snprintf(k->why, sizeof(k->why), "the signing subkey %s of "
		    "key %s is %s", fpr, key->fpr, sk->revoked ? "revoked" :
		    sk->expired ? "expired" : "disabled or invalid");
	else if (!sk->can_sign)
		(void)snprintf(k->why, sizeof(k->why), "%s %s of key %s may not "
		    "sign", what, fpr, key->fpr);
	else
		k->usable = true;
	for (size_t i = 0; i < 40; i++)
		k->primary[i] = (char)toupper((unsigned char)key->fpr[i]);
	k->primary[40] = '\0';
	k->expires = (int64_t)pk->expires;
	if (sk->expires != 0 && (k->expires == 0 ||
	    (int64_t)sk->expires < k->expires))
		k->expires = (int64_t)sk->expires;
}

/*
 * The key that signs as fpr (40 hex, upper case): looked up once per
 * context and kept, as gpgme starts a gpg process per look-up.  gpg finds
 * a key by a subkey's fingerprint too, so this is how a signature by a
 * subkey is traced to the primary key that the configuration pins.
 */
static const struct certs_signer_key *
certs_signer_key(struct certs_ctx *ctx, const char *fpr)
{
	struct certs_signer_key *k;
	gpgme_key_t key = NULL;
	gpgme_error_t ge;

	for (size_t i = 0; i < ctx->nsigners; i++)
		if (strcmp(ctx->signers[i].fpr, fpr) == 0)
			return &ctx->signers[i];
	if (ctx->nsigners < CERTS_SIGNER_CACHE)
		k = &ctx->signers[ctx->nsigners++];
	else {
		k = &ctx->signers[ctx->next];
		ctx->next = (ctx->next + 1) % CERTS_SIGNER_CACHE;
	}
	memset(k, 0, sizeof(*k));
	(void)snprintf(k->fpr, sizeof(k->fpr), "%s", fpr);
	ge = gpgme_get_key(ctx->gpg, fpr, &key, 0);
	if (ge == 0 && key != NULL)
		certs_signer_judge(key, fpr, k);
	else if (gpgme_err_code(ge) == GPG_ERR_AMBIGUOUS_NAME)
		(void)snprintf(k->why, sizeof(k->why), "the signing key %s is "
		    "part of more than one key in tocsin's key ring; remove "
		    "the one that is not the signer's", fpr);
	else {
		(void)snprintf(k->why, sizeof(k->why), "the signing key %s "
		    "cannot be looked up in tocsin's key ring: %s", fpr,
		    ge != 0 ? gpgme_strerror(ge) : "not found");
		k->fpr[0] = '\0';	/* not kept: asked again next time */
	}
	if (key != NULL)
		gpgme_key_unref(key);
	return k;
}

/* The primary key gpg bound signing key fpr to in this verification; NULL
   when it did not say. */
static const char *
certs_validsig_primary(const struct certs_ctx *ctx, const char *fpr)
{
	for (size_t i = 0; i < ctx->nvalidsig; i++)
		if (strcmp(ctx->validsig[i].fpr, fpr) == 0)
			return ctx->validsig[i].primary[0] != '\0' ?
			    ctx->validsig[i].primary : NULL;
	return NULL;
}

/*
 * Every good signature from first on names the primary key that owns the
 * (sub)key that made it, or becomes not good when that subkey may not sign
 * now.  A signature by a primary key, as gpg's VALIDSIG says, costs
 * nothing more; one by a subkey costs a key look-up, once per key and
 * context, that checks what gpg said: the subkey is a signing subkey of
 * that primary, neither revoked nor expired.
 */
static void
certs_sigs_to_primary(struct certs_ctx *ctx, struct certs_sigs *sigs,
    size_t first)
{
	for (size_t i = first; i < sigs->n; i++) {
		struct certs_sig *o = &sigs->sig[i];
		const struct certs_signer_key *k;
		const char *vp;
		char signer[sizeof(o->signer)];

		if (!o->good)
			continue;
		/* a copy: the reason is written beside it in the same struct */
		memcpy(signer, o->signer, sizeof(signer));
		vp = certs_validsig_primary(ctx, o->signer);
		if (vp != NULL && strcmp(vp, o->signer) == 0)
			continue;	/* the primary key signed */
		k = certs_signer_key(ctx, o->signer);
		if (k->usable && vp != NULL && strcmp(vp, k->primary) != 0) {
			o->good = false;
			(void)snprintf(o->reason, sizeof(o->reason), "gpg binds "
			    "the signing subkey %s to key %s, the key ring to "
			    "key %s; the signature is not counted", signer,
			    vp, k->primary);
		} else if (!k->usable) {
			o->good = false;
			(void)snprintf(o->reason, sizeof(o->reason), "%s", k->why);
		} else if (k->expires != 0 && k->expires <= (int64_t)time(NULL)) {
			o->good = false;
			(void)snprintf(o->reason, sizeof(o->reason), "the signing "
			    "key %s has expired", signer);
		} else if (strcmp(k->primary, o->signer) != 0) {
			(void)snprintf(o->subkey, sizeof(o->subkey), "%.40s",
			    signer);
			(void)snprintf(o->signer, sizeof(o->signer), "%s",
			    k->primary);
		}
	}
}

static void
certs_collect(struct certs_ctx *ctx, struct certs_sigs *sigs)
{
	gpgme_verify_result_t vr = gpgme_op_verify_result(ctx->gpg);
	gpgme_signature_t s;
	size_t first = sigs->n;

	if (vr == NULL)
		return;
	for (s = vr->signatures; s != NULL && sigs->n < CERTS_MAX_SIGS;
	    s = s->next) {
		struct certs_sig *o = &sigs->sig[sigs->n++];
		gpgme_sigsum_t sum = s->summary;
		char signer[65];

		memset(o, 0, sizeof(*o));
		o->kind = CERTS_OPENPGP;
		o->created = (int64_t)s->timestamp;
		certs_sig_signer(ctx, s->fpr, signer);
		memcpy(o->signer, signer, sizeof(signer));
		if (sum & GPGME_SIGSUM_KEY_REVOKED)
			(void)snprintf(o->reason, sizeof(o->reason),
			    "the signing key %s is revoked", signer);
		else if (sum & GPGME_SIGSUM_KEY_EXPIRED)
			(void)snprintf(o->reason, sizeof(o->reason),
			    "the signing key %s has expired", signer);
		else if (sum & GPGME_SIGSUM_SIG_EXPIRED)
			(void)snprintf(o->reason, sizeof(o->reason),
			    "the signature by %s has expired", signer);
		else if ((sum & GPGME_SIGSUM_KEY_MISSING) ||
		    gpgme_err_code(s->status) == GPG_ERR_NO_PUBKEY)
			(void)snprintf(o->reason, sizeof(o->reason),
			    "signed by key %s, which is not in tocsin's key ring",
			    signer);
		else if (gpgme_err_code(s->status) == GPG_ERR_BAD_SIGNATURE ||
		    (sum & GPGME_SIGSUM_RED))
			(void)snprintf(o->reason, sizeof(o->reason),
			    "bad signature by %s: the alert was changed after "
			    "signing or the signature is corrupt", signer);
		else if (gpgme_err_code(s->status) != GPG_ERR_NO_ERROR)
			(void)snprintf(o->reason, sizeof(o->reason),
			    "signature by %s does not verify: %s", signer,
			    gpgme_strerror(s->status));
		else if (strlen(signer) != 40)
			(void)snprintf(o->reason, sizeof(o->reason),
			    "signature names no full fingerprint (%s)", signer);
		else
			o->good = true;
	}
	/* after the loop: the verify result is not needed any more */
	certs_sigs_to_primary(ctx, sigs, first);
}

int
certs_verify_detached(struct certs_ctx *ctx, const void *data, size_t len,
    const void *sig, size_t siglen, const char *issuer_ca,
    struct certs_sigs *sigs, struct tocsin_err *err)
{
	gpgme_data_t dsig = NULL, dtext = NULL;
	gpgme_error_t ge;
	size_t before = sigs->n;

	if (siglen > CERTS_MAX_SIG_BYTES)
		return tocsin_fail(err, TOCSIN_EPERM,
		    "the signature is %zu bytes, over the limit of %d",
		    siglen, CERTS_MAX_SIG_BYTES);
	switch (certs_blob_kind(sig, siglen)) {
	case CERTS_BLOB_CMS:
		return certs_cms_verify(data, len, sig, siglen, issuer_ca, sigs,
		    err);
	case CERTS_BLOB_OPENPGP:
		break;
	default:
		return tocsin_fail(err, TOCSIN_EPERM,
		    "the signature file is neither OpenPGP nor CMS");
	}
	if (gpgme_data_new_from_mem(&dsig, sig, siglen, 0) != 0 ||
	    gpgme_data_new_from_mem(&dtext, data, len, 0) != 0) {
		gpgme_data_release(dsig);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	ge = certs_op_verify(ctx, dsig, dtext, NULL);
	gpgme_data_release(dsig);
	gpgme_data_release(dtext);
	if (ge != 0 && gpgme_err_code(ge) != GPG_ERR_BAD_SIGNATURE)
		return tocsin_fail(err, TOCSIN_EPERM,
		    "cannot read the OpenPGP signature: %s", gpgme_strerror(ge));
	certs_collect(ctx, sigs);
	if (sigs->n == before)
		return tocsin_fail(err, TOCSIN_EPERM,
		    "the OpenPGP signature file holds no signature");
	return 0;
}

/*
 * Where gpg's plaintext goes: a buffer that refuses to grow past max.  A
 * signed message may be compressed (a few hundred bytes of bzip2 make
 * hundreds of megabytes of text), so the limit must hold while gpg writes,
 * not after: the write callback fails with EFBIG once max is passed, gpgme
 * stops the operation and closes the pipe, and gpg dies on the broken pipe.
 */
/* gpgme's writer into a base_buf: the buffer's limit is the most the
   message may unpack to. */
static ssize_t
certs_sink_write(void *handle, const void *buf, size_t size)
{
	struct base_buf *s = handle;

	base_buf_put(s, buf, size);
	if (s->full) {
		errno = EFBIG;
		return -1;
	}
	if (s->rc != 0) {
		errno = ENOMEM;
		return -1;
	}
	return (ssize_t)size;
}

int
certs_verify_inline(struct certs_ctx *ctx, const void *msg, size_t len,
    size_t max, char **ret_plain, size_t *ret_len, struct certs_sigs *sigs,
    struct tocsin_err *err)
{
	struct gpgme_data_cbs cbs = { .write = certs_sink_write };
	struct base_buf sink;
	gpgme_data_t dmsg = NULL, dplain = NULL;
	gpgme_error_t ge;
	size_t before = sigs->n;

	base_buf_init(&sink, max);
	*ret_plain = NULL;
	*ret_len = 0;
	if (gpgme_data_new_from_mem(&dmsg, msg, len, 0) != 0 ||
	    gpgme_data_new_from_cbs(&dplain, &cbs, &sink) != 0) {
		gpgme_data_release(dmsg);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	ge = certs_op_verify(ctx, dmsg, NULL, dplain);
	gpgme_data_release(dmsg);
	gpgme_data_release(dplain);
	if (sink.full) {
		/* No verdict was reached, and none is needed: the message is
		   refused whoever signed it. */
		free(sink.p);
		sigs->n = before;
		return tocsin_fail(err, TOCSIN_ETOOBIG,
		    "the signed message holds more than %zu bytes (compressed "
		    "content is counted as it unpacks); refused unread", max);
	}
	if (ge != 0 && gpgme_err_code(ge) != GPG_ERR_BAD_SIGNATURE) {
		free(sink.p);
		return tocsin_fail(err, TOCSIN_EPERM,
		    "cannot read the signed OpenPGP message: %s",
		    gpgme_strerror(ge));
	}
	certs_collect(ctx, sigs);
	if (sigs->n == before) {
		free(sink.p);
		return tocsin_fail(err, TOCSIN_EPERM,
		    "the OpenPGP message carries no signature");
	}
	if (sink.p == NULL && (sink.p = malloc(1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	sink.p[sink.len] = '\0';
	*ret_plain = sink.p;
	*ret_len = sink.len;
	return 0;
}

int
certs_key_info(struct certs_ctx *ctx, const char *fpr, bool secret,
    struct certs_keyinfo *ret, struct tocsin_err *err)
{
	gpgme_key_t key = NULL;
	gpgme_error_t ge;

	memset(ret, 0, sizeof(*ret));
	ge = gpgme_get_key(ctx->gpg, fpr, &key, secret ? 1 : 0);
	if (gpgme_err_code(ge) == GPG_ERR_EOF || key == NULL)
		return 0;	/* not found */
	if (ge != 0) {
		gpgme_key_unref(key);
		return tocsin_fail(err, TOCSIN_EUNAVAIL,
		    "cannot look up key %s: %s", fpr, gpgme_strerror(ge));
	}
	ret->found = true;
	ret->expired = key->expired;
	ret->revoked = key->revoked;
	ret->disabled = key->disabled;
	ret->invalid = key->invalid;
	ret->can_encrypt = key->can_encrypt;
	ret->can_sign = key->can_sign;
	ret->secret = key->secret;
	if (key->subkeys != NULL)
		ret->expires = key->subkeys->expires;
	gpgme_key_unref(key);
	return 0;
}

struct certs_keyring {
	struct certs_keyring_entry {
		char fpr[41];
		struct certs_keyinfo info;
	} *e;
	size_t n, cap;
};

static int
certs_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct certs_keyring_entry *)a)->fpr,
	    ((const struct certs_keyring_entry *)b)->fpr);
}

int
certs_keyring_load(struct certs_ctx *ctx, bool secret,
    struct certs_keyring **ret, struct tocsin_err *err)
{
	struct certs_keyring *kr;
	gpgme_key_t key;
	gpgme_error_t ge;

	*ret = NULL;
	if ((kr = calloc(1, sizeof(*kr))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((ge = gpgme_op_keylist_start(ctx->gpg, NULL, secret ? 1 : 0)) != 0) {
		free(kr);
		return tocsin_fail(err, TOCSIN_EUNAVAIL,
		    "cannot list keys: %s", gpgme_strerror(ge));
	}
	while ((ge = gpgme_op_keylist_next(ctx->gpg, &key)) == 0) {
		struct certs_keyring_entry *en;

		if (key->fpr == NULL || strlen(key->fpr) != 40) {
			gpgme_key_unref(key);
			continue;
		}
		if (base_grow(&kr->e, &kr->cap, kr->n + 1, sizeof(*kr->e)) != 0) {
			gpgme_key_unref(key);
			(void)gpgme_op_keylist_end(ctx->gpg);
			certs_keyring_free(kr);
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		}
		en = &kr->e[kr->n++];
		memset(en, 0, sizeof(*en));
		memcpy(en->fpr, key->fpr, 41);
		for (size_t i = 0; i < 40; i++)
			if (en->fpr[i] >= 'a' && en->fpr[i] <= 'f')
				en->fpr[i] -= 32;
		en->info.found = true;
		en->info.expired = key->expired;
		en->info.revoked = key->revoked;
		en->info.disabled = key->disabled;
		en->info.invalid = key->invalid;
		en->info.can_encrypt = key->can_encrypt;
		en->info.can_sign = key->can_sign;
		en->info.secret = key->secret;
		if (key->subkeys != NULL)
			en->info.expires = key->subkeys->expires;
		gpgme_key_unref(key);
	}
	(void)gpgme_op_keylist_end(ctx->gpg);
	if (gpgme_err_code(ge) != GPG_ERR_EOF) {
		certs_keyring_free(kr);
		return tocsin_fail(err, TOCSIN_EUNAVAIL,
		    "cannot list keys: %s", gpgme_strerror(ge));
	}
	if (kr->n > 1)
		qsort(kr->e, kr->n, sizeof(*kr->e), certs_entry_cmp);
	*ret = kr;
	return 0;
}

void
certs_keyring_find(const struct certs_keyring *kr, const char *fpr,
    struct certs_keyinfo *ret)
{
	struct certs_keyring_entry k, *f;

	memset(ret, 0, sizeof(*ret));
	if (kr == NULL || kr->n == 0 || strlen(fpr) != 40)
		return;
	memcpy(k.fpr, fpr, 41);
	f = bsearch(&k, kr->e, kr->n, sizeof(*kr->e), certs_entry_cmp);
	if (f != NULL)
		*ret = f->info;
}

size_t
certs_keyring_size(const struct certs_keyring *kr)
{
	return kr != NULL ? kr->n : 0;
}

void
certs_keyring_free(struct certs_keyring *kr)
{
	if (kr == NULL)
		return;
	free(kr->e);
	free(kr);
}
