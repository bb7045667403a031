/*
 * ack.c: ack tokens and codes derived from a secret (see ack.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "ack.h"
#include "store.h"

static int
ack_read(const char *path, unsigned char out[ACK_SECRET_LEN],
    struct tocsin_err *err)
{
	unsigned char buf[ACK_SECRET_LEN];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return tocsin_fail(err, errno == ENOENT ? TOCSIN_ENOTFOUND :
		    TOCSIN_ECONFIG, "cannot read the ack secret %s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		close(fd);
		return tocsin_fail(err, TOCSIN_ECONFIG, "the ack secret %s is "
		    "not a regular file of mode 0600; chmod 600 %s", path,
		    path);
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != ACK_SECRET_LEN || st.st_size != ACK_SECRET_LEN) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return tocsin_fail(err, TOCSIN_ECONFIG, "the ack secret %s must "
		    "hold exactly %d bytes; make one with: head -c %d "
		    "/dev/urandom > %s && chmod 600 %s", path, ACK_SECRET_LEN,
		    ACK_SECRET_LEN, path, path);
	}
	memcpy(out, buf, sizeof(buf));
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int
ack_secret_load(const struct policy_repo *repo,
    unsigned char out[ACK_SECRET_LEN], struct tocsin_err *err)
{
	char path[4096], tmp[4200];
	unsigned char fresh[ACK_SECRET_LEN];
	const char *slash;
	int fd, rc;

	if (repo->gateway.ack_secret != NULL)
		return ack_read(repo->gateway.ack_secret, out, err);
	slash = strrchr(repo->gateway.store, '/');
	if (slash == NULL)
		snprintf(path, sizeof(path), "ack.key");
	else
		snprintf(path, sizeof(path), "%.*s/ack.key",
		    (int)(slash - repo->gateway.store), repo->gateway.store);
	rc = ack_read(path, out, err);
	if (rc != TOCSIN_ENOTFOUND)
		return rc;
	/* A fresh install: the key may be made before the store, which
	   makes this folder on first open. */
	store_make_folder(repo->gateway.store);
	/* First use: write a whole file under a private name, then link it
	   into place.  link() fails if another process got there first, and
	   a crash never leaves a short file under the real name. */
	if (RAND_bytes(fresh, sizeof(fresh)) != 1)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "no randomness for "
		    "the ack secret");
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		OPENSSL_cleanse(fresh, sizeof(fresh));
		return tocsin_fail(err, TOCSIN_ECONFIG, "cannot make the ack "
		    "secret %s: %s", path, strerror(errno));
	}
	if (write(fd, fresh, sizeof(fresh)) != (ssize_t)sizeof(fresh) ||
	    fsync(fd) != 0) {
		rc = errno;
		close(fd);
		(void)unlink(tmp);
		OPENSSL_cleanse(fresh, sizeof(fresh));
		return tocsin_fail(err, TOCSIN_ECONFIG, "cannot write the ack "
		    "secret %s: %s", path, strerror(rc));
	}
	close(fd);
	rc = link(tmp, path) == 0 ? 0 : errno;
	(void)unlink(tmp);
	OPENSSL_cleanse(fresh, sizeof(fresh));
	if (rc != 0 && rc != EEXIST)
		return tocsin_fail(err, TOCSIN_ECONFIG, "cannot make the ack "
		    "secret %s: %s", path, strerror(rc));
	/* Ours or the other process's: the file under the real name is
	   the secret. */
	return ack_read(path, out, err);
}

static void
ack_mac(const unsigned char secret[ACK_SECRET_LEN], const char *label,
    const char *alert_id, const char *team, unsigned char mac[32])
{
	unsigned char msg[512];
	size_t n = 0, l;
	unsigned int maclen = 32;

	/* Length-prefixed fields: "a"+"bc" never equals "ab"+"c". */
	for (int i = 0; i < 3; i++) {
		const char *f = i == 0 ? label : i == 1 ? alert_id : team;

		/* Ids are short (alert ids 21 bytes, team ids at most 32).
		   A longer field goes in as its SHA-256 behind a marker that
		   no length byte can take, so nothing is ever cut off into a
		   collision. */
		l = strlen(f);
		if (l > 150) {
			msg[n++] = 0xff;
			(void)SHA256((const unsigned char *)f, l, msg + n);
			n += 32;
			continue;
		}
		msg[n++] = (unsigned char)l;
		memcpy(msg + n, f, l);
		n += l;
	}
	(void)HMAC(EVP_sha256(), secret, ACK_SECRET_LEN, msg, n, mac, &maclen);
}

void
ack_token(const unsigned char secret[ACK_SECRET_LEN], const char *alert_id,
    const char *team, char out[ACK_TOKEN_LEN + 1])
{
	unsigned char mac[32];

	ack_mac(secret, "tocsin ack token", alert_id, team, mac);
	for (int i = 0; i < ACK_TOKEN_LEN / 2; i++)
		snprintf(out + i * 2, 3, "%02x", mac[i]);
}

void
ack_code(const unsigned char secret[ACK_SECRET_LEN], const char *alert_id,
    const char *team, char out[ACK_CODE_LEN + 1])
{
	unsigned char mac[32];
	uint64_t v = 0;

	ack_mac(secret, "tocsin ack code", alert_id, team, mac);
	for (int i = 0; i < 8; i++)
		v = v << 8 | mac[i];
	snprintf(out, ACK_CODE_LEN + 1, "%08llu",
	    (unsigned long long)(v % 100000000ULL));
}

void
ack_url(const char *public_url, const char *token, char *out, size_t outlen)
{
	size_t n = strlen(public_url);

	snprintf(out, outlen, "%s%sack/%s", public_url,
	    n > 0 && public_url[n - 1] == '/' ? "" : "/", token);
}

void
ack_token_hash(const char *token, char out[ACK_HASH_LEN + 1])
{
	unsigned char h[SHA256_DIGEST_LENGTH];

	(void)SHA256((const unsigned char *)token, strlen(token), h);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + i * 2, 3, "%02x", h[i]);
}

bool
ack_code_is(const unsigned char secret[ACK_SECRET_LEN], const char *alert_id,
    const char *team, const char *code)
{
	char want[ACK_CODE_LEN + 1];

	ack_code(secret, alert_id, team, want);
	return strlen(code) == ACK_CODE_LEN &&
	    CRYPTO_memcmp(want, code, ACK_CODE_LEN) == 0;
}

bool
ack_code_alert(struct store *st, const unsigned char secret[ACK_SECRET_LEN],
    const char *team, const char *code, char alert[64])
{
	char ids[32][64];
	size_t n = 0;
	struct tocsin_err e;

	if (store_team_alerts(st, team, 32, ids, &n, &e) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ack_code_is(secret, ids[i], team, code)) {
			(void)snprintf(alert, 64, "%s", ids[i]);
			return true;
		}
	return false;
}

const char *const *
ack_notice_channels(const struct policy_repo *repo, const char *team)
{
	/* Text channels only: a call or a fax to say that nothing more is
	   needed would be a page of its own. */
	static const char *const text[] = { "pgp-email", "sms", NULL };
	const struct policy_team *t = policy_team_find(repo, team);

	return t != NULL && t->policy != NULL && t->policy->ack_notice ?
	    text : NULL;
}

const char *
ack_contact_named(const struct policy_repo *repo, const char *team,
    const char *name)
{
	const struct policy_team *t = policy_team_find(repo, team);

	for (size_t i = 0; t != NULL && name != NULL && i < t->ncontacts; i++)
		if (strcasecmp(t->contacts[i].name, name) == 0)
			return t->contacts[i].name;
	return NULL;
}
