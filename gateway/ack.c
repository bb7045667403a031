/*
 * ack.c: ack tokens and codes derived from a secret (see ack.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ack.h"

static int
ack_read(const char *path, unsigned char out[ACK_SECRET_LEN],
    struct tocsin_err *err)
{
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
	n = read(fd, out, ACK_SECRET_LEN);
	close(fd);
	if (n != ACK_SECRET_LEN || st.st_size != ACK_SECRET_LEN)
		return tocsin_fail(err, TOCSIN_ECONFIG, "the ack secret %s must "
		    "hold exactly %d bytes; make one with: head -c %d "
		    "/dev/urandom > %s && chmod 600 %s", path, ACK_SECRET_LEN,
		    ACK_SECRET_LEN, path, path);
	return 0;
}

int
ack_secret_load(const struct policy_repo *repo,
    unsigned char out[ACK_SECRET_LEN], struct tocsin_err *err)
{
	char path[4096];
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
	/* First use: make it.  O_EXCL so that two processes starting at
	   once never both write; the loser reads the winner's. */
	if (RAND_bytes(out, ACK_SECRET_LEN) != 1)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "no randomness for "
		    "the ack secret");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return ack_read(path, out, err);
		return tocsin_fail(err, TOCSIN_ECONFIG, "cannot make the ack "
		    "secret %s: %s", path, strerror(errno));
	}
	if (write(fd, out, ACK_SECRET_LEN) != ACK_SECRET_LEN || fsync(fd) != 0) {
		close(fd);
		(void)unlink(path);
		return tocsin_fail(err, TOCSIN_ECONFIG, "cannot write the ack "
		    "secret %s: %s", path, strerror(errno));
	}
	close(fd);
	return 0;
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

		l = strlen(f);
		if (l > 150)
			l = 150;
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
