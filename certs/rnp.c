/*
 * rnp.c: the in-process OpenPGP engine for outgoing messages (librnp 0.16,
 * RFC 4880; RFC 3156 names the hash as micalg).
 *
 * Why: with gpgme every signature and every encryption starts gpg, and the
 * gateway forks itself twice to do it; that, not the cryptography, was
 * most of a broadcast's CPU.  Here the same operations run in the process.
 *
 * Keys.  pubring.kbx is read once per run and indexed by the fingerprint
 * of each keyblock's primary key (GnuPG's keybox format, read here:
 * librnp's own "KBX" loader parses and validates every key at once, about
 * 1.5 ms and 30 KiB a contact's key on the 2-core machine, which at 15,000
 * contacts would be seconds and half a gigabyte).  Then only the index
 * stays in memory and the file open: a keyblock is read (pread) by its
 * offset when a worker needs it, so memory does not grow with the keyring
 * (about 620 bytes a contact).  GnuPG rewrites the keybox into a new file
 * when it changes or deletes a key and appends when it adds one, so the
 * open file keeps the offsets of the run; a key read is found by its
 * fingerprint or refused.  A worker imports a
 * contact's keyblock into its own librnp when it first encrypts to it,
 * decides there whether the key is usable (revoked, expired, no encryption
 * subkey), and removes it after the message, so memory stays flat.
 * GnuPG's "disabled" flag lives in trustdb.gpg, which librnp does not read:
 * it is read here (trust records, 40 bytes each, see GnuPG's doc/DETAILS).
 * Keys are pinned by fingerprint in the repository; GnuPG's web of trust
 * has no say, as with gpgme's ALWAYS_TRUST.
 *
 * The gateway's secret key: librnp 0.16 cannot parse the "extended key
 * format" files that GnuPG 2.2.40 writes into private-keys-v1.d ("G10"), so
 * G10 is tried first and, when it yields no secret key, the key is exported
 * once through gpgme (loopback pinentry and no passphrase: a key that
 * needs one is not exported, and signing then fails in gpgme too rather
 * than prompting).  The export lives in memory only and is cleansed when
 * the keys are freed.  When neither works, signing goes through gpgme and
 * certs_pubkeys_note() says so, for the caller to log once.
 *
 * Threads.  librnp says nothing of threads, and an rnp_ffi_t changes as it
 * works (it caches key validity, it owns a random generator), so it is
 * never shared: every certs_ctx attached to the keys has an ffi of its own
 * (one per worker), into which a public key is imported from the shared,
 * read-only copy of the keybox.  The shared struct certs_pubkeys is never
 * written after certs_rnp_load returns.
 *
 * Output: armoured, SHA-256, compressed with ZLIB as GnuPG 2.2 does by
 * default (the MIME bodies are base64 and halve), AES-256 in CFB with MDC,
 * which GnuPG 2.2 makes and reads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <rnp/rnp.h>
#include <rnp/rnp_err.h>

#include "base.h"
#include "certs.h"
#include "certs_int.h"

#define RNP_MAX_TRUSTDB (64L * 1024 * 1024)
#define RNP_MAX_KBX (512L * 1024 * 1024)
#define RNP_MAX_SECKEY (64 * 1024)

struct certs_rnp {
	rnp_ffi_t ffi;
	const struct certs_pubkeys *pk;
	bool signer;		/* the secret key is imported */
	size_t nimported;	/* contacts' keys held since the last message */
};

/* Contacts' keys a worker holds at most between two messages. */
#define RNP_MAX_HELD 256

/* Never ask anyone for a passphrase: a protected key fails. */
static bool
rnp_no_password(rnp_ffi_t ffi, void *app, rnp_key_handle_t key,
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

/* A new ffi whose own messages go nowhere (the caller reports). */
static int
rnp_new_ffi(const char *pub, const char *sec, rnp_ffi_t *ret,
    struct tocsin_err *err)
{
	rnp_ffi_t ffi = NULL;
	rnp_result_t r;
	int fd;

	*ret = NULL;
	if ((r = rnp_ffi_create(&ffi, pub, sec)) != RNP_SUCCESS)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot start librnp: "
		    "%s", rnp_result_to_string(r));
	(void)rnp_ffi_set_pass_provider(ffi, rnp_no_password, NULL);
	/* the ffi takes the descriptor and closes it when destroyed */
	if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0 &&
	    rnp_ffi_set_log_fd(ffi, fd) != RNP_SUCCESS)
		(void)close(fd);
	*ret = ffi;
	return 0;
}

static void
rnp_upper(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 'a' + 'A');
}

/* rnp's validity end (uint64, UINT64_MAX: forever) as int64. */
static int64_t
rnp_till(rnp_key_handle_t k)
{
	uint64_t t = 0;

	if (rnp_key_valid_till64(k, &t) != RNP_SUCCESS)
		return 0;
	return t >= (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t;
}

static bool
rnp_flag(rnp_result_t (*f)(rnp_key_handle_t, bool *), rnp_key_handle_t k)
{
	bool v = false;

	return f(k, &v) == RNP_SUCCESS && v;
}

static int64_t
rnp_enc_till(rnp_key_handle_t k)
{
	bool enc = false;

	if (rnp_key_allows_usage(k, "encrypt", &enc) != RNP_SUCCESS || !enc ||
	    rnp_flag(rnp_key_is_revoked, k))
		return 0;
	return rnp_till(k);
}

/* What certs_pubkey_usable needs of one primary key. */
struct rnp_facts {
	bool revoked, invalid;
	int64_t valid_till;	/* INT64_MAX: never expires */
	int64_t enc_till;	/* latest end of an encryption (sub)key; 0:
				   none */
};

static void
rnp_facts(rnp_key_handle_t k, struct rnp_facts *f)
{
	size_t nsub = 0;

	f->revoked = rnp_flag(rnp_key_is_revoked, k);
	f->valid_till = rnp_till(k);
	f->invalid = !f->revoked && f->valid_till == 0;
	f->enc_till = rnp_enc_till(k);
	if (rnp_key_get_subkey_count(k, &nsub) != RNP_SUCCESS)
		nsub = 0;
	for (size_t i = 0; i < nsub; i++) {
		rnp_key_handle_t sk = NULL;
		int64_t t;

		if (rnp_key_get_subkey_at(k, i, &sk) != RNP_SUCCESS ||
		    sk == NULL)
			continue;
		/* a subkey's validity already ends with its primary's */
		if ((t = rnp_enc_till(sk)) > f->enc_till)
			f->enc_till = t;
		(void)rnp_key_handle_destroy(sk);
	}
}

static int
rk_cmp(const void *a, const void *b)
{
	const struct certs_rnp_key *x = a, *y = b;

	return strcmp(x->fpr, y->fpr);
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static uint16_t
be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * Index the keybox in pk->blob (GnuPG's kbx/keybox-blob.c): blobs one
 * after another, each: u32 length (itself included), u8 type (2 =
 * OpenPGP), u8 version (1), u16 flags (bit 1: ephemeral), u32 offset and
 * u32 length of the keyblock, u16 number of keys, u16 size of a key entry
 * (at least 28), then per key its 20-byte fingerprint first; the first key
 * is the primary.  Anything that does not fit is refused as a whole.
 */
int
certs_rnp_index_kbx(struct certs_pubkeys *pk, const char *path,
    struct tocsin_err *err)
{
	const unsigned char *b = pk->blob;
	size_t off = 0, cap = 0;

	while (off < pk->bloblen) {
		uint32_t len, koff, klen;
		uint16_t nkeys, ksize;
		struct certs_rnp_key *rk;

		if (pk->bloblen - off < 5 || (len = be32(b + off)) < 5 ||
		    len > pk->bloblen - off)
			return tocsin_fail(err, TOCSIN_EDATA, "%s: a keybox "
			    "record at byte %zu does not fit", path, off);
		if (b[off + 4] != 2 || len < 20 || b[off + 5] != 1 ||
		    (be16(b + off + 6) & 2) != 0) {
			off += len;	/* the header, or not an OpenPGP key */
			continue;
		}
		koff = be32(b + off + 8);
		klen = be32(b + off + 12);
		nkeys = be16(b + off + 16);
		ksize = be16(b + off + 18);
		if (nkeys < 1 || ksize < 28 || len - 20 < (size_t)ksize ||
		    koff > len || klen > len - koff || klen == 0)
			return tocsin_fail(err, TOCSIN_EDATA, "%s: the keybox "
			    "record at byte %zu is not one GnuPG 2.2 writes",
			    path, off);
		if (base_grow(&pk->rkeys, &cap, pk->nrkeys + 1,
		    sizeof(*pk->rkeys)) != 0)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		rk = &pk->rkeys[pk->nrkeys++];
		memset(rk, 0, sizeof(*rk));
		base_hex_upper(rk->fpr, b + off + 20, 20);
		rk->off = off + koff;
		rk->len = klen;
		off += len;
	}
	if (pk->nrkeys > 1)
		qsort(pk->rkeys, pk->nrkeys, sizeof(*pk->rkeys), rk_cmp);
	return 0;
}

static const struct certs_rnp_key *
rnp_find(const struct certs_pubkeys *pk, const char *fpr)
{
	struct certs_rnp_key key;

	if (pk == NULL || pk->nrkeys == 0 || fpr == NULL || strlen(fpr) != 40)
		return NULL;
	(void)snprintf(key.fpr, sizeof(key.fpr), "%s", fpr);
	rnp_upper(key.fpr);
	return bsearch(&key, pk->rkeys, pk->nrkeys, sizeof(*pk->rkeys),
	    rk_cmp);
}

/* len bytes of fd from off into buf.  0, or -1 with errno (0 when the
   file ended first). */
static int
rnp_read_at(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (unsigned char *)buf + got, len - got,
		    off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

/* pubring.kbx into pk->blob, at most RNP_MAX_KBX bytes; the file stays
   open in pk->kbx_fd (closed by certs_pubkeys_free). */
static int
rnp_read_kbx(const char *path, struct certs_pubkeys *pk,
    struct tocsin_err *err)
{
	struct stat sb;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return tocsin_fail(err, TOCSIN_ENOINPUT, "cannot read %s: %s",
		    path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 32 ||
	    sb.st_size > RNP_MAX_KBX) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_ETOOBIG, "%s is not a keybox "
		    "of up to %ld MiB", path, RNP_MAX_KBX >> 20);
	}
	if ((pk->blob = malloc((size_t)sb.st_size)) == NULL) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	pk->kbx_fd = fd;
	if (rnp_read_at(fd, pk->blob, (size_t)sb.st_size, 0) != 0)
		return tocsin_fail(err, TOCSIN_EIO, "cannot read %s: %s", path,
		    errno != 0 ? strerror(errno) : "it shrank");
	pk->bloblen = (size_t)sb.st_size;
	/* the first record is the header, "KBXf" at byte 8 */
	if (memcmp(pk->blob + 8, "KBXf", 4) != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "%s is not a GnuPG "
		    "keybox", path);
	return 0;
}

/*
 * GnuPG's "disabled" flag (gpg --edit-key KEY disable) is kept in the
 * ownertrust byte of the key's trust record in trustdb.gpg: record type 12,
 * then a reserved byte, the 20-byte fingerprint and the ownertrust, whose
 * bit 128 is TRUST_FLAG_DISABLED.  A missing trustdb disables nothing.
 */
static int
rnp_read_disabled(const char *home, struct certs_pubkeys *pk,
    struct tocsin_err *err)
{
	char path[4200];
	unsigned char rec[40];
	struct stat sb;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/trustdb.gpg", home);
	if ((f = fopen(path, "rbe")) == NULL)
		return errno == ENOENT ? 0 : tocsin_fail(err, TOCSIN_EIO,
		    "cannot read %s: %s", path, strerror(errno));
	if (fstat(fileno(f), &sb) != 0 || sb.st_size > RNP_MAX_TRUSTDB) {
		(void)fclose(f);
		return tocsin_fail(err, TOCSIN_ETOOBIG, "%s is not a trust "
		    "database of a gateway's size", path);
	}
	while (fread(rec, 1, sizeof(rec), f) == sizeof(rec)) {
		char fpr[41];
		struct certs_rnp_key *rk;

		if (rec[0] != 12 || (rec[22] & 128) == 0)
			continue;
		base_hex_upper(fpr, rec + 2, 20);
		if ((rk = (struct certs_rnp_key *)rnp_find(pk, fpr)) != NULL)
			rk->disabled = true;
	}
	(void)fclose(f);
	return 0;
}

/*
 * Whether librnp 0.16 can read every key file of private-keys-v1.d: files
 * of the old format are one S-expression, "(" first; GnuPG 2.2.40 writes
 * the extended format ("Created: ...", "Key: (...)"), which librnp cannot
 * parse and then reports on stderr by itself, so it is not even tried.
 */
static bool
rnp_g10_plain(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	bool ok = true;

	if (d == NULL)
		return false;
	while (ok && (e = readdir(d)) != NULL && n < 4096) {
		char path[4400];
		size_t l = strlen(e->d_name);
		int fd, c = 0;
		unsigned char b;

		if (l < 5 || strcmp(e->d_name + l - 4, ".key") != 0)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
			if (read(fd, &b, 1) == 1)
				c = b;
			(void)close(fd);
		}
		ok = c == '(';
		n++;
	}
	(void)closedir(d);
	return ok && n > 0;
}

/* The gateway's secret key, transferable and unprotected, into
   pk->seckey: from G10 when librnp reads it, else exported by gpgme. */
static int
rnp_load_secret(struct certs_ctx *ctx, rnp_ffi_t ffi, const char *home,
    const char *signer_fpr, struct certs_pubkeys *pk, char *why,
    size_t whylen)
{
	char path[4200];
	rnp_input_t in = NULL;
	rnp_key_handle_t k = NULL;
	rnp_output_t out = NULL;
	gpgme_data_t d = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	bool sec = false;

	(void)snprintf(path, sizeof(path), "%s/private-keys-v1.d", home);
	if (rnp_g10_plain(path) && rnp_input_from_path(&in, path) ==
	    RNP_SUCCESS) {
		(void)rnp_load_keys(ffi, RNP_KEYSTORE_G10, in,
		    RNP_LOAD_SAVE_SECRET_KEYS);
		(void)rnp_input_destroy(in);
	}
	if (rnp_locate_key(ffi, "fingerprint", signer_fpr, &k) == RNP_SUCCESS &&
	    k != NULL && rnp_key_have_secret(k, &sec) == RNP_SUCCESS && sec &&
	    rnp_output_to_memory(&out, 0) == RNP_SUCCESS &&
	    rnp_key_export(k, out, RNP_KEY_EXPORT_SECRET |
	    RNP_KEY_EXPORT_SUBKEYS) == RNP_SUCCESS &&
	    rnp_output_memory_get_buf(out, &buf, &len, false) == RNP_SUCCESS &&
	    len > 0 && (pk->seckey = malloc(len)) != NULL) {
		memcpy(pk->seckey, buf, len);
		pk->seclen = len;
	}
	if (out != NULL) {
		if (buf != NULL)
			OPENSSL_cleanse(buf, len);
		(void)rnp_output_destroy(out);
	}
	(void)rnp_key_handle_destroy(k);
	if (pk->seckey != NULL)
		return 0;
	/* GnuPG 2.2's extended key format: ask gpg for the key once. */
	(void)gpgme_set_pinentry_mode(ctx->gpg, GPGME_PINENTRY_MODE_LOOPBACK);
	gpgme_set_armor(ctx->gpg, 0);
	if (gpgme_data_new(&d) != 0) {
		(void)snprintf(why, whylen, "out of memory");
		return -1;
	}
	{
		gpgme_error_t ge = gpgme_op_export(ctx->gpg, signer_fpr,
		    GPGME_EXPORT_MODE_SECRET, d);
		char *p;

		p = gpgme_data_release_and_get_mem(d, &len);
		if (ge != 0 || p == NULL || len == 0 || len > RNP_MAX_SECKEY) {
			(void)snprintf(why, whylen, "librnp cannot read GnuPG's "
			    "secret key files (private-keys-v1.d) and gpg did "
			    "not export key %s without a passphrase%s%s",
			    signer_fpr,
			    ge != 0 ? ": " : "", ge != 0 ? gpgme_strerror(ge) :
			    "");
			if (p != NULL) {
				OPENSSL_cleanse(p, len);
				gpgme_free(p);
			}
			return -1;
		}
		if ((pk->seckey = malloc(len)) != NULL) {
			memcpy(pk->seckey, p, len);
			pk->seclen = len;
		}
		OPENSSL_cleanse(p, len);
		gpgme_free(p);
	}
	if (pk->seckey == NULL) {
		(void)snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

/* Import bytes into ffi (public or secret, binary or armoured). */
static rnp_result_t
rnp_import(rnp_ffi_t ffi, const void *p, size_t len, uint32_t flags)
{
	rnp_input_t in = NULL;
	rnp_result_t r;

	if ((r = rnp_input_from_memory(&in, p, len, false)) != RNP_SUCCESS)
		return r;
	r = rnp_import_keys(ffi, in, flags, NULL);
	(void)rnp_input_destroy(in);
	return r;
}

/*
 * A contact's public keyblock into ffi.  rnp_load_keys() first: librnp
 * 0.16's rnp_import_keys() checks every self-signature twice (in its
 * temporary keyring, then again in ffi's), and those checks are most of a
 * broadcast's CPU; loading keeps the first check's results.  A keyblock
 * that loading refuses whole (a packet it cannot read) goes through the
 * permissive import, which passes over what it does not know.
 */
static rnp_result_t
rnp_load_pub(rnp_ffi_t ffi, const void *p, size_t len)
{
	rnp_input_t in = NULL;
	rnp_result_t r;

	if ((r = rnp_input_from_memory(&in, p, len, false)) != RNP_SUCCESS)
		return r;
	r = rnp_load_keys(ffi, "GPG", in, RNP_LOAD_SAVE_PUBLIC_KEYS);
	(void)rnp_input_destroy(in);
	if (r == RNP_SUCCESS)
		return r;
	return rnp_import(ffi, p, len, RNP_LOAD_SAVE_PUBLIC_KEYS |
	    RNP_LOAD_SAVE_PERMISSIVE);
}

/* Whether the imported secret key signs without a passphrase. */
static int
rnp_check_secret(rnp_ffi_t ffi, const struct certs_pubkeys *pk, char *why,
    size_t whylen)
{
	rnp_key_handle_t k = NULL;
	bool sec = false, prot = true;
	rnp_result_t r;

	r = rnp_import(ffi, pk->seckey, pk->seclen, RNP_LOAD_SAVE_SECRET_KEYS |
	    RNP_LOAD_SAVE_PUBLIC_KEYS);
	if (r != RNP_SUCCESS) {
		(void)snprintf(why, whylen, "librnp cannot read the exported "
		    "secret key %s: %s", pk->signer_fpr,
		    rnp_result_to_string(r));
		return -1;
	}
	if (rnp_locate_key(ffi, "fingerprint", pk->signer_fpr, &k) !=
	    RNP_SUCCESS || k == NULL || rnp_key_have_secret(k, &sec) !=
	    RNP_SUCCESS || !sec) {
		(void)rnp_key_handle_destroy(k);
		(void)snprintf(why, whylen, "the export holds no secret key "
		    "%s", pk->signer_fpr);
		return -1;
	}
	(void)rnp_key_is_protected(k, &prot);
	(void)rnp_key_handle_destroy(k);
	if (prot) {
		(void)snprintf(why, whylen, "secret key %s needs a passphrase",
		    pk->signer_fpr);
		return -1;
	}
	return 0;
}

/* The gateway's secret key into pk (librnp's G10 reader, else gpgme's
   export), checked in ffi; when neither works, signing goes through
   gpgme and pk->note says why. */
static void
rnp_signer_load(struct certs_ctx *ctx, rnp_ffi_t ffi, const char *home,
    const char *signer_fpr, struct certs_pubkeys *pk)
{
	char why[400] = "";

	if (rnp_load_secret(ctx, ffi, home, signer_fpr, pk, why,
	    sizeof(why)) != 0 || rnp_check_secret(ffi, pk, why,
	    sizeof(why)) != 0) {
		if (pk->seckey != NULL)
			OPENSSL_cleanse(pk->seckey, pk->seclen);
		free(pk->seckey);
		pk->seckey = NULL;
		pk->seclen = 0;
		pk->sign_gpgme = true;
		(void)snprintf(pk->note, sizeof(pk->note), "signing goes "
		    "through gpgme (a gpg process each time): %s", why);
	}
}

int
certs_rnp_load(struct certs_ctx *ctx, const char *home,
    const char *signer_fpr, struct certs_pubkeys *pk, struct tocsin_err *err)
{
	char path[4200];
	const struct certs_rnp_key *sk;
	rnp_ffi_t ffi = NULL;
	int rc;

	(void)snprintf(path, sizeof(path), "%s/pubring.kbx", home);
	if ((rc = rnp_read_kbx(path, pk, err)) != 0 ||
	    (rc = certs_rnp_index_kbx(pk, path, err)) != 0 ||
	    (rc = rnp_read_disabled(home, pk, err)) != 0)
		return rc;
	pk->pub_rnp = true;
	if (signer_fpr != NULL && signer_fpr[0] != '\0') {
		(void)snprintf(pk->signer_fpr, sizeof(pk->signer_fpr), "%s",
		    signer_fpr);
		if ((rc = rnp_new_ffi(RNP_KEYSTORE_GPG, RNP_KEYSTORE_G10, &ffi,
		    err)) != 0)
			return rc;
		/* G10 files hold the secret half: the public key goes in
		   first */
		if ((sk = rnp_find(pk, signer_fpr)) != NULL)
			(void)rnp_import(ffi, pk->blob + sk->off, sk->len,
			    RNP_LOAD_SAVE_PUBLIC_KEYS |
			    RNP_LOAD_SAVE_PERMISSIVE);
		rnp_signer_load(ctx, ffi, home, signer_fpr, pk);
		(void)rnp_ffi_destroy(ffi);
	}
	/* from here a keyblock is read from the file when needed */
	free(pk->blob);
	pk->blob = NULL;
	pk->bloblen = 0;
	return 0;
}

int
certs_rnp_open(const struct certs_pubkeys *pk, struct certs_rnp **ret,
    struct tocsin_err *err)
{
	struct certs_rnp *r;
	int rc;

	*ret = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = rnp_new_ffi(RNP_KEYSTORE_GPG, RNP_KEYSTORE_GPG, &r->ffi,
	    err)) != 0) {
		free(r);
		return rc;
	}
	r->pk = pk;
	*ret = r;
	return 0;
}

void
certs_rnp_close(struct certs_rnp *r)
{
	if (r == NULL)
		return;
	(void)rnp_ffi_destroy(r->ffi);
	free(r);
}

/* rk's keyblock read from the keybox into *ret (malloc'd, the caller's). */
static int
rnp_keyblock(const struct certs_pubkeys *pk, const struct certs_rnp_key *rk,
    unsigned char **ret, struct tocsin_err *err)
{
	if ((*ret = malloc(rk->len)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if (rnp_read_at(pk->kbx_fd, *ret, rk->len, (off_t)rk->off) != 0) {
		int e = errno;

		free(*ret);
		*ret = NULL;
		return tocsin_fail(err, TOCSIN_EIO, "cannot read key %s from "
		    "the gateway's keybox: %s (restart tocsin serve if the "
		    "keybox was replaced)", rk->fpr, e != 0 ? strerror(e) :
		    "it is shorter than when it was indexed");
	}
	return 0;
}

/* fpr's key in this worker's ffi, read from the keybox if it is not there
   yet.  *ret is the caller's (rnp_key_handle_destroy). */
static int
rnp_key(struct certs_rnp *r, const char *fpr, rnp_key_handle_t *ret,
    struct tocsin_err *err)
{
	const struct certs_rnp_key *rk;
	unsigned char *kb = NULL;
	rnp_result_t res;
	int rc;

	*ret = NULL;
	if (rnp_locate_key(r->ffi, "fingerprint", fpr, ret) == RNP_SUCCESS &&
	    *ret != NULL)
		return 0;
	if ((rk = rnp_find(r->pk, fpr)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "key %s is not in "
		    "the gateway's keyring; import it (tocsin check lists "
		    "every missing key)", fpr);
	if ((rc = rnp_keyblock(r->pk, rk, &kb, err)) != 0)
		return rc;
	/* a keyblock whose every packet librnp cannot read is refused; one
	   packet it does not know (GnuPG's trust packets) is passed over.
	   Found by its fingerprint or refused: a keybox changed under the
	   run cannot hand over another key. */
	res = rnp_load_pub(r->ffi, kb, rk->len);
	free(kb);
	if (res != RNP_SUCCESS || rnp_locate_key(r->ffi, "fingerprint", fpr,
	    ret) != RNP_SUCCESS || *ret == NULL)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s cannot be read "
		    "by librnp (%s); set gateway.pgp_engine = \"gpgme\"",
		    fpr, rnp_result_to_string(res));
	r->nimported++;
	return 0;
}

/* Let the contacts' public keys go after a message (the gateway's own
   stays): a worker's memory does not grow with the keys it used. */
static void
rnp_forget(struct certs_rnp *r)
{
	if (r->nimported == 0)
		return;
	(void)rnp_unload_keys(r->ffi, RNP_KEY_UNLOAD_PUBLIC);
	r->nimported = 0;
}

int
certs_rnp_usable(struct certs_rnp *r, const char *fpr, int64_t now,
    struct tocsin_err *err)
{
	const struct certs_rnp_key *rk = rnp_find(r->pk, fpr);
	rnp_key_handle_t k = NULL;
	struct rnp_facts f;
	int rc;

	if (rk == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "key %s is not in "
		    "the gateway's keyring; import it (tocsin check lists "
		    "every missing key)", fpr);
	/* a worker that used many keys without a message (every contact
	   refused) lets them go before they pile up */
	if (r->nimported >= RNP_MAX_HELD)
		rnp_forget(r);
	if ((rc = rnp_key(r, fpr, &k, err)) != 0)
		return rc;
	rnp_facts(k, &f);
	(void)rnp_key_handle_destroy(k);
	if (f.revoked)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s is revoked", fpr);
	if (rk->disabled)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s is disabled",
		    fpr);
	if (f.invalid)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s is invalid",
		    fpr);
	if (f.valid_till <= now)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s has expired",
		    fpr);
	if (f.enc_till <= now)
		return tocsin_fail(err, TOCSIN_EPERM, "key %s has no usable "
		    "encryption subkey (expired, revoked or missing)", fpr);
	return 0;
}

/* The gateway's signing key in this worker's ffi. */
static int
rnp_signer(struct certs_rnp *r, const char *signer_fpr,
    rnp_key_handle_t *ret, struct tocsin_err *err)
{
	char why[300];

	*ret = NULL;
	if (r->pk->seckey == NULL || strcasecmp(signer_fpr,
	    r->pk->signer_fpr) != 0)
		return tocsin_fail(err, TOCSIN_ECONFIG, "the gateway's signing "
		    "key %s was not loaded", signer_fpr);
	if (!r->signer) {
		if (rnp_check_secret(r->ffi, r->pk, why, sizeof(why)) != 0)
			return tocsin_fail(err, TOCSIN_EUNAVAIL, "%s", why);
		r->signer = true;
	}
	if (rnp_locate_key(r->ffi, "fingerprint", signer_fpr, ret) !=
	    RNP_SUCCESS || *ret == NULL)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "the gateway's signing "
		    "key %s vanished from librnp", signer_fpr);
	return 0;
}

/* The bytes of a memory output as a malloc'd, NUL-terminated string. */
static int
rnp_take(rnp_output_t out, char **ret, size_t *ret_len,
    struct tocsin_err *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (rnp_output_memory_get_buf(out, &buf, &len, false) != RNP_SUCCESS)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "librnp gave no "
		    "output");
	if ((*ret = malloc(len + 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	memcpy(*ret, buf, len);
	(*ret)[len] = '\0';
	*ret_len = len;
	return 0;
}

/*
 * RFC 3156 micalg of a binary signature packet: the hash algorithm octet
 * of a v4 signature (RFC 4880 5.2.3), after the packet header.
 */
static int
rnp_micalg(const uint8_t *p, size_t len, char micalg[32])
{
	static const struct {
		int id;
		const char *name;
	} h[] = { { 1, "pgp-md5" }, { 2, "pgp-sha1" }, { 3, "pgp-ripemd160" },
		{ 8, "pgp-sha256" }, { 9, "pgp-sha384" }, { 10, "pgp-sha512" },
		{ 11, "pgp-sha224" } };
	size_t hl;

	if (len < 2 || (p[0] & 0x80) == 0)
		return -1;
	if (p[0] & 0x40)	/* new format: 1, 2 or 5 length octets */
		hl = p[1] < 192 ? 2 : p[1] < 224 ? 3 : p[1] == 255 ? 6 : 0;
	else			/* old format */
		hl = (p[0] & 3) == 0 ? 2 : (p[0] & 3) == 1 ? 3 :
		    (p[0] & 3) == 2 ? 5 : 1;
	if (hl == 0 || len < hl + 4 || p[hl] != 4)
		return -1;
	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		if (h[i].id == p[hl + 3]) {
			(void)snprintf(micalg, 32, "%s", h[i].name);
			return 0;
		}
	return -1;
}

/* The binary detached signature in out, armoured, into *ret. */
static int
rnp_armour_sig(rnp_output_t bin, char **ret, size_t *ret_len,
    char micalg[32], struct tocsin_err *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	rnp_input_t in = NULL;
	rnp_output_t out = NULL;
	int rc;

	if (rnp_output_memory_get_buf(bin, &buf, &len, false) != RNP_SUCCESS ||
	    rnp_micalg(buf, len, micalg) != 0)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "librnp made no "
		    "signature packet of a known hash");
	if (rnp_input_from_memory(&in, buf, len, false) != RNP_SUCCESS ||
	    rnp_output_to_memory(&out, 0) != RNP_SUCCESS ||
	    rnp_enarmor(in, out, "signature") != RNP_SUCCESS)
		rc = tocsin_fail(err, TOCSIN_EINTERNAL, "librnp cannot armour "
		    "a signature");
	else
		rc = rnp_take(out, ret, ret_len, err);
	(void)rnp_input_destroy(in);
	(void)rnp_output_destroy(out);
	return rc;
}

int
certs_rnp_sign(struct certs_rnp *r, const char *signer_fpr, const void *data,
    size_t len, int mode, char **ret, size_t *ret_len, char micalg[32],
    struct tocsin_err *err)
{
	rnp_key_handle_t k = NULL;
	rnp_input_t in = NULL;
	rnp_output_t out = NULL;
	rnp_op_sign_t op = NULL;
	rnp_result_t res;
	int rc;

	*ret = NULL;
	*ret_len = 0;
	if ((rc = rnp_signer(r, signer_fpr, &k, err)) != 0)
		return rc;
	if (rnp_input_from_memory(&in, data, len, false) != RNP_SUCCESS ||
	    rnp_output_to_memory(&out, 0) != RNP_SUCCESS) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	res = mode == 'c' ? rnp_op_sign_cleartext_create(&op, r->ffi, in, out) :
	    rnp_op_sign_detached_create(&op, r->ffi, in, out);
	if (res == RNP_SUCCESS)
		res = rnp_op_sign_add_signature(op, k, NULL);
	if (res == RNP_SUCCESS)
		res = rnp_op_sign_set_hash(op, "SHA256");
	/* a clear-signed text is armoured by its nature; the detached one
	   is made binary so that its hash can be read, then armoured */
	if (res == RNP_SUCCESS && mode == 'c')
		res = rnp_op_sign_set_armor(op, true);
	if (res == RNP_SUCCESS)
		res = rnp_op_sign_execute(op);
	if (res != RNP_SUCCESS) {
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "signing with the "
		    "gateway key %s failed: %s", signer_fpr,
		    rnp_result_to_string(res));
		goto out;
	}
	rc = mode == 'c' ? rnp_take(out, ret, ret_len, err) :
	    rnp_armour_sig(out, ret, ret_len, micalg, err);
out:
	(void)rnp_op_sign_destroy(op);
	(void)rnp_input_destroy(in);
	(void)rnp_output_destroy(out);
	(void)rnp_key_handle_destroy(k);
	return rc;
}

int
certs_rnp_encrypt(struct certs_rnp *r, const char *signer_fpr,
    const char *const *fprs, size_t nfprs, const void *data, size_t len,
    char **ret, size_t *ret_len, struct tocsin_err *err)
{
	rnp_key_handle_t sk = NULL;
	rnp_input_t in = NULL;
	rnp_output_t out = NULL;
	rnp_op_encrypt_t op = NULL;
	rnp_result_t res;
	int rc = 0;

	*ret = NULL;
	*ret_len = 0;
	if (nfprs == 0)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "no recipient key");
	if (signer_fpr != NULL && (rc = rnp_signer(r, signer_fpr, &sk, err))
	    != 0)
		return rc;
	if (rnp_input_from_memory(&in, data, len, false) != RNP_SUCCESS ||
	    rnp_output_to_memory(&out, 0) != RNP_SUCCESS ||
	    rnp_op_encrypt_create(&op, r->ffi, in, out) != RNP_SUCCESS) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nfprs && rc == 0; i++) {
		rnp_key_handle_t k = NULL;

		if ((rc = rnp_key(r, fprs[i], &k, err)) != 0)
			break;
		if ((res = rnp_op_encrypt_add_recipient(op, k)) != RNP_SUCCESS)
			rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "encryption "
			    "failed for key %s: %s", fprs[i],
			    rnp_result_to_string(res));
		(void)rnp_key_handle_destroy(k);
	}
	if (rc != 0)
		goto out;
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
	if (res != RNP_SUCCESS)
		rc = tocsin_fail(err, TOCSIN_EUNAVAIL, "encryption failed: %s",
		    rnp_result_to_string(res));
	else
		rc = rnp_take(out, ret, ret_len, err);
out:
	(void)rnp_op_encrypt_destroy(op);
	(void)rnp_input_destroy(in);
	(void)rnp_output_destroy(out);
	(void)rnp_key_handle_destroy(sk);
	rnp_forget(r);
	return rc;
}
