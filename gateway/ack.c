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
#include "base.h"
#include "channel.h"
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

void
ack_secret_path(const struct policy_repo *repo, char *buf, size_t len)
{
	const char *slash;

	if (repo->gateway.ack_secret != NULL) {
		snprintf(buf, len, "%s", repo->gateway.ack_secret);
		return;
	}
	slash = strrchr(repo->gateway.store, '/');
	if (slash == NULL)
		snprintf(buf, len, "ack.key");
	else
		snprintf(buf, len, "%.*s/ack.key",
		    (int)(slash - repo->gateway.store), repo->gateway.store);
}

int
ack_secret_load(const struct policy_repo *repo,
    unsigned char out[ACK_SECRET_LEN], struct tocsin_err *err)
{
	char path[4096], tmp[4200];
	unsigned char fresh[ACK_SECRET_LEN];
	int fd, rc;

	if (repo->gateway.ack_secret != NULL)
		return ack_read(repo->gateway.ack_secret, out, err);
	ack_secret_path(repo, path, sizeof(path));
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
ack_mac_fields(const unsigned char secret[ACK_SECRET_LEN],
    const char *const *f, size_t nf, unsigned char mac[32])
{
	unsigned char msg[1024];
	size_t n = 0, l;
	unsigned int maclen = 32;

	/* Length-prefixed fields: "a"+"bc" never equals "ab"+"c". */
	for (size_t i = 0; i < nf; i++) {
		/* Ids are short (alert ids 21 bytes, team ids at most 32).
		   A longer field goes in as its SHA-256 behind a marker that
		   no length byte can take, so nothing is ever cut off into a
		   collision. */
		l = strlen(f[i]);
		if (l > 150) {
			msg[n++] = 0xff;
			(void)SHA256((const unsigned char *)f[i], l, msg + n);
			n += 32;
			continue;
		}
		msg[n++] = (unsigned char)l;
		memcpy(msg + n, f[i], l);
		n += l;
	}
	(void)HMAC(EVP_sha256(), secret, ACK_SECRET_LEN, msg, n, mac, &maclen);
}

static void
ack_mac(const unsigned char secret[ACK_SECRET_LEN], const char *label,
    const char *alert_id, const char *team, unsigned char mac[32])
{
	const char *f[] = { label, alert_id, team };

	ack_mac_fields(secret, f, 3, mac);
}

/* A token or code of one endpoint of one contact: labels of their own,
   so that no endpoint's value is ever a team's. */
static void
ack_ep_mac(const unsigned char secret[ACK_SECRET_LEN], const char *label,
    const struct ack_endpoint *ep, unsigned char mac[32])
{
	const char *f[] = { label, ep->alert_id, ep->team, ep->contact,
		ep->channel, ep->address };

	ack_mac_fields(secret, f, 6, mac);
}

static void
ack_hex_token(const unsigned char mac[32], char out[ACK_TOKEN_LEN + 1])
{
	base_hex(out, mac, ACK_TOKEN_LEN / 2);
}

static void
ack_digits(const unsigned char mac[32], char out[ACK_CODE_LEN + 1])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | mac[i];
	snprintf(out, ACK_CODE_LEN + 1, "%08llu",
	    (unsigned long long)(v % 100000000ULL));
}

/* Whether code is the code want, compared in constant time: how long it
   takes says nothing of how many digits were right. */
static bool
ack_code_eq(const char want[ACK_CODE_LEN + 1], const char *code)
{
	return strlen(code) == ACK_CODE_LEN &&
	    CRYPTO_memcmp(want, code, ACK_CODE_LEN) == 0;
}

void
ack_ep_token(const unsigned char secret[ACK_SECRET_LEN],
    const struct ack_endpoint *ep, char out[ACK_TOKEN_LEN + 1])
{
	unsigned char mac[32];

	ack_ep_mac(secret, "tocsin check token", ep, mac);
	ack_hex_token(mac, out);
}

void
ack_ep_code(const unsigned char secret[ACK_SECRET_LEN],
    const struct ack_endpoint *ep, char out[ACK_CODE_LEN + 1])
{
	unsigned char mac[32];

	ack_ep_mac(secret, "tocsin check code", ep, mac);
	ack_digits(mac, out);
}

bool
ack_ep_code_is(const unsigned char secret[ACK_SECRET_LEN],
    const struct ack_endpoint *ep, const char *code)
{
	char want[ACK_CODE_LEN + 1];

	ack_ep_code(secret, ep, want);
	return ack_code_eq(want, code);
}

void
ack_token(const unsigned char secret[ACK_SECRET_LEN], const char *alert_id,
    const char *team, char out[ACK_TOKEN_LEN + 1])
{
	unsigned char mac[32];

	ack_mac(secret, "tocsin ack token", alert_id, team, mac);
	ack_hex_token(mac, out);
}

void
ack_code(const unsigned char secret[ACK_SECRET_LEN], const char *alert_id,
    const char *team, char out[ACK_CODE_LEN + 1])
{
	unsigned char mac[32];

	ack_mac(secret, "tocsin ack code", alert_id, team, mac);
	ack_digits(mac, out);
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
	base_hex(out, h, SHA256_DIGEST_LENGTH);
}

bool
ack_code_is(const unsigned char secret[ACK_SECRET_LEN], const char *alert_id,
    const char *team, const char *code)
{
	char want[ACK_CODE_LEN + 1];

	ack_code(secret, alert_id, team, want);
	return ack_code_eq(want, code);
}

void
ack_pair_init(struct ack_pair *p, const char *alert, const char *team,
    const char *contact)
{
	(void)snprintf(p->alert, sizeof(p->alert), "%s", alert);
	(void)snprintf(p->team, sizeof(p->team), "%s", team);
	/* one counter per alert and team, whatever path a try takes */
	(void)snprintf(p->key, sizeof(p->key), "code:%s/%s", alert, team);
	p->contact = contact;
}

int
ack_pairs_add(struct store *st, const char *team, const char *contact,
    struct ack_pair **p, size_t *n, struct tocsin_err *err)
{
	char ids[ACK_TRY_ALERTS][64];
	struct ack_pair *np;
	size_t na = 0, cap = *n;	/* as allocated: grown as needed */
	int rc;

	if ((rc = store_team_alerts(st, team, ACK_TRY_ALERTS, ids, &na,
	    err)) != 0 || na == 0)
		return rc;
	if (base_grow(p, &cap, *n + na, sizeof(**p)) != 0)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	np = *p;
	for (size_t j = 0; j < na; j++, (*n)++)
		ack_pair_init(&np[*n], ids[j], team, contact);
	return 0;
}

int
ack_code_try(struct store *st, const unsigned char secret[ACK_SECRET_LEN],
    const char *sender, const char *code, const struct ack_pair *p,
    size_t n, const struct ack_code_also *also, int64_t now, int *hit,
    bool *throttled, struct tocsin_err *err)
{
	struct store_guess *g = calloc(n + 1, sizeof(*g));
	bool some_over = false;
	int rc, found = -1;

	if (g == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	g[0] = (struct store_guess){ .key = sender, .limit = ACK_TRY_FROM_MAX,
		.window = ACK_TRY_FROM_WINDOW };
	for (size_t i = 0; i < n; i++)
		g[i + 1] = (struct store_guess){ .key = p[i].key,
			.limit = ACK_TRY_CODE_MAX, .window = ACK_TRY_CODE_WINDOW };
	/* counted before the compare: tries made at once cannot all pass */
	if ((rc = store_guess_try(st, g, n + 1, now, err)) != 0) {
		free(g);
		return rc;
	}
	for (size_t i = 0; !g[0].over && i < n && found < 0; i++) {
		if (g[i + 1].over)
			some_over = true;
		else if (ack_code_is(secret, p[i].alert, p[i].team, code) ||
		    (also != NULL && also->fn(also->arg, &p[i], code)))
			found = (int)i;
	}
	/* a right code was no guess: its tries are given back */
	if (found >= 0 && (rc = store_guess_undo(st, g, n + 1, err)) != 0) {
		free(g);
		return rc;
	}
	*hit = found;
	*throttled = found < 0 && (g[0].over || some_over);
	free(g);
	return 0;
}

const char *const *
ack_notice_channels(const struct policy_repo *repo, const char *team)
{
	/* the channels that say they carry notices: text, not a call */
	const struct policy_team *t = policy_team_find(repo, team);

	return t != NULL && t->policy != NULL && t->policy->ack_notice ?
	    chan_notice_names() : NULL;
}

bool
ack_unsigned_counts(const struct policy_team *t)
{
	return t == NULL || t->policy == NULL || t->policy->unsigned_acks;
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

void
ack_sig_digest(const char *signer, int64_t created, const char *text,
    size_t len, char out[65])
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	char head[128];
	int n = snprintf(head, sizeof(head), "openpgp\n%s\n%lld\n", signer,
	    (long long)created);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t i = 0, blank = 0;

	/* out of memory: a digest of nothing that no signature can have */
	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(c);
		(void)snprintf(out, 65, "%064d", 0);
		return;
	}
	(void)EVP_DigestUpdate(c, head, n > 0 ? (size_t)n : 0);
	while (text != NULL && i < len) {
		size_t eol = i, end;

		while (eol < len && text[eol] != '\n')
			eol++;
		end = eol;
		while (end > i && (text[end - 1] == ' ' || text[end - 1] == '\t' ||
		    text[end - 1] == '\r'))
			end--;
		if (end == i)
			blank++;	/* held back: empty lines at the end drop */
		else {
			for (; blank > 0; blank--)
				(void)EVP_DigestUpdate(c, "\n", 1);
			(void)EVP_DigestUpdate(c, text + i, end - i);
			(void)EVP_DigestUpdate(c, "\n", 1);
		}
		i = eol + 1;
	}
	(void)EVP_DigestFinal_ex(c, h, NULL);
	EVP_MD_CTX_free(c);
	base_hex(out, h, SHA256_DIGEST_LENGTH);
}

bool
ack_sig_in_time(int64_t created, int64_t received)
{
	return created > 0 && created >= received;
}

int
ack_by_operator(const struct policy_repo *repo, struct store *st,
    struct store_ack_in *a, char *via_buf, size_t via_len,
    const char *actor, int64_t now, struct tocsin_err *err)
{
	(void)snprintf(via_buf, via_len, "operator:%s", a->via);
	a->via = via_buf;
	a->strength = "unsigned";
	a->notice_channels = ack_notice_channels(repo, a->team);
	a->contact = ack_contact_named(repo, a->team, a->by);
	return store_ack(st, a, now, actor, err);
}
