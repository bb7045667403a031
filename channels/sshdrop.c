/*
 * sshdrop.c: the out-of-band SSH drop, over SFTP with libssh.
 *
 * A site without normal internet fetches its folder on a drop host by
 * satellite, dial-up or a partner's network.  For each alert, team and
 * step the folder gets: the CAP document and its issuer signatures as
 * they were accepted, the rendered message clear-signed by the gateway
 * key, and last a manifest of SHA-256 sums (sha256sum's format, so
 * `sha256sum -c` checks it).  The manifest's presence says the drop is
 * whole.
 *
 * Names come from ids only: "alert-ID.xml", "alert-ID.sigN.asc" (the
 * dispatcher's part names), "alert-ID.TEAM.sN.txt.asc" and
 * "alert-ID.TEAM.sN.sha256"; every name is checked again here.  Each file
 * is written under a temporary name that starts with '.', opened with
 * O_EXCL, synced where the server can, then renamed into place, so a
 * reader never sees a partial file under a final name.  OpenSSH's rename
 * does not overwrite (LIBRARY-NOTES), which suits a retry: a file already
 * in place is read back and hashed; a CAP document or signature that
 * differs from ours is refused rather than vouched for.
 *
 * Trust: the host key is pinned (SHA256 fingerprint or a known_hosts file)
 * and checked before authenticating; an unknown or changed key writes
 * nothing.  ~/.ssh/config is never read.  The client key comes from a 0600
 * file.  One session per drop host serves all its messages of a batch.
 *
 * Acks come back the same way: a person leaves a file in the folder's
 * "ack/" subfolder; every ack_poll seconds serve looks, hands each file
 * to the gateway to verify, and moves it to "ack/done/" or
 * "ack/refused/" so that it is looked at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base.h"
#include "channel.h"
#include "pinned.h"

#define SD_MAX_FILES	16		/* CAP, signatures, message, manifest */
#define SD_MAX_NAME	128
#define SD_MAX_PATH	512
#define SD_READ_MAX	(8u * 1024 * 1024)	/* a file read back */
#define SD_POLL_FILES	64		/* ack files taken per folder per look */

/* One file of a drop. */
struct sd_file {
	char name[SD_MAX_NAME];
	const void *data;		/* ours; NULL for the manifest until
					   it is made */
	size_t len;
	bool ours_only;			/* a different file in place is an
					   error (CAP, signatures) */
	unsigned char sha[SHA256_DIGEST_LENGTH];	/* of what is in place */
};

/* One message: a drop into one team folder. */
struct sd_drop {
	struct chan_msg *msg;
	const struct policy_drop_host *host;
	char folder[SD_MAX_PATH];
	char *signed_text;		/* clear-signed message */
	size_t signed_len;
	char *manifest;
	struct sd_file files[SD_MAX_FILES];
	size_t nfiles;
	bool ready;
};

struct sd_session {
	const struct chan_env *env;
};

/* Shared by a serve: when each drop host is next looked at for acks.
   Only the poller thread touches it. */
struct sd_shared {
	int64_t *next_poll;		/* per repo->drops[i] */
	size_t n;
};

static size_t
sd_batch(const struct policy_repo *repo)
{
	(void)repo;
	return 20;
}

/* Letters, digits and "-_." only, not starting with '.', 1..max-1. */
static bool
sd_name_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL || s[0] == '.' || s[0] == '\0')
		return false;
	for (; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '-' ||
		    s[n] == '_' || s[n] == '.'))
			return false;
	return n < max;
}

/* team:sshdrop needs the team's sshdrop = { host = ...; }.  A team whose
   sshdrop was given but refused has its own error there.  Checked
   whenever a repository is read. */
static void
sd_repo_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	char q[POLICY_QUOTE_LEN], q2[POLICY_QUOTE_LEN];

	for (size_t i = 0; i < repo->nteams; i++) {
		const struct policy_team *tm = &repo->teams[i];
		const struct policy_policy *pol = tm->policy;
		size_t step = 0;

		if (pol == NULL || tm->drop_src.file != NULL)
			continue;
		for (size_t s = 0; s < pol->nsteps && step == 0; s++)
			for (size_t k = 0; k < pol->steps[s].ntargets; k++)
				if (pol->steps[s].targets[k].channel ==
				    &chan_sshdrop.kind)
					step = s + 1;
		if (step == 0)
			continue;
		/* A team whose id was refused is named by its place. */
		if (tm->id != NULL)
			(void)policy_quote(q, sizeof(q), tm->id);
		else
			(void)snprintf(q, sizeof(q), "%zu", i + 1);
		policy_diag_add(diag, POLICY_WARNING, tm->src.file,
		    tm->src.line, "team %s's policy %s sends team:sshdrop at "
		    "step %zu but the team has no sshdrop; add sshdrop = { "
		    "host = \"NAME\"; }; to the team (NAME from "
		    "providers.sshdrop), or no drop is written for it", q,
		    policy_quote(q2, sizeof(q2), pol->name), step);
	}
}

static bool
sd_configured(const struct policy_repo *repo)
{
	return repo->ndrops > 0;
}

static size_t
sd_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	size_t errors = 0;

	for (size_t i = 0; i < repo->ndrops; i++) {
		const struct policy_drop_host *h = &repo->drops[i];
		ssh_key key = NULL;

		/* that the key is a key, without ever showing it */
		if (h->key == NULL || ssh_pki_import_privkey_file(h->key, NULL,
		    NULL, NULL, &key) != SSH_OK) {
			policy_diag_add(diag, POLICY_ERROR, h->src.file,
			    h->src.line, "drop host %s: the key file %s is not "
			    "an unencrypted private key libssh can read; make "
			    "one with ssh-keygen -t ed25519 -N \"\" -f FILE",
			    h->name, h->key != NULL ? h->key : "(none)");
			errors++;
		}
		ssh_key_free(key);
	}
	return errors;
}

static int
sd_open(const struct chan_env *env, void **ret, struct tocsin_err *err)
{
	struct sd_session *s;

	*ret = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	s->env = env;
	*ret = s;
	return 0;
}

static void
sd_close(void *session)
{
	free(session);
}

/* Sort out the drop of message m: host, folder, file names, signed text. */
static int
sd_prepare(struct sd_session *s, struct sd_drop *dp, struct tocsin_err *err)
{
	const struct chan_env *env = s->env;
	struct chan_msg *m = dp->msg;
	const char *addr = m->rcpts[0].address, *colon, *folder;
	char name[64];
	size_t plen;
	int rc;

	/* "NAME:PATH/FOLDER", made by the policy module; checked again,
	   since the address comes back from the store */
	if ((colon = strchr(addr, ':')) == NULL ||
	    (size_t)(colon - addr) >= sizeof(name))
		return tocsin_fail(err, TOCSIN_EDATA, "the drop address %.80s "
		    "is not NAME:PATH", addr);
	memcpy(name, addr, (size_t)(colon - addr));
	name[colon - addr] = '\0';
	if ((dp->host = policy_drop_find(env->repo, name)) == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "the drop host %s is no "
		    "longer in providers.sshdrop", name);
	plen = strlen(dp->host->path);
	folder = colon + 1 + plen + 1;
	if (strncmp(colon + 1, dp->host->path, plen) != 0 ||
	    colon[1 + plen] != '/' || !sd_name_ok(folder, 65) ||
	    strlen(colon + 1) >= sizeof(dp->folder))
		return tocsin_fail(err, TOCSIN_EDATA, "the drop address %.80s "
		    "is not a folder right under %s", addr, dp->host->path);
	(void)snprintf(dp->folder, sizeof(dp->folder), "%s", colon + 1);
	if (!sd_name_ok(m->alert_id, 64) || !sd_name_ok(m->team, 64) ||
	    m->nparts + 2 > SD_MAX_FILES)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "the alert or team id "
		    "is not fit for a file name");
	for (size_t i = 0; i < m->nparts; i++) {
		struct sd_file *f = &dp->files[dp->nfiles++];

		if (!sd_name_ok(m->parts[i].filename, SD_MAX_NAME))
			return tocsin_fail(err, TOCSIN_EINTERNAL, "a part name "
			    "is not fit for a file name");
		(void)snprintf(f->name, sizeof(f->name), "%s",
		    m->parts[i].filename);
		f->data = m->parts[i].data;
		f->len = m->parts[i].len;
		f->ours_only = true;
	}
	if ((rc = certs_clearsign(env->certs, env->repo->gateway.signing_key,
	    m->body, m->body_len, &dp->signed_text, &dp->signed_len,
	    err)) != 0)
		return rc;
	{
		struct sd_file *f = &dp->files[dp->nfiles++];

		(void)snprintf(f->name, sizeof(f->name), "alert-%s.%s.s%d.txt.asc",
		    m->alert_id, m->team, m->step);
		f->data = dp->signed_text;
		f->len = dp->signed_len;
	}
	{
		struct sd_file *f = &dp->files[dp->nfiles++];

		(void)snprintf(f->name, sizeof(f->name), "alert-%s.%s.s%d.sha256",
		    m->alert_id, m->team, m->step);
	}
	return 0;
}

/* ---- one SSH session ---- */

struct sd_conn {
	ssh_session ssh;
	sftp_session sftp;
	bool fsync;
	const char *pinned;		/* the pinned address connected to,
					   NULL: by the name */
};

static void
sd_disconnect(struct sd_conn *c)
{
	if (c->sftp != NULL)
		sftp_free(c->sftp);
	if (c->ssh != NULL) {
		ssh_disconnect(c->ssh);
		ssh_free(c->ssh);
	}
	memset(c, 0, sizeof(*c));
}

/* The server's key against the pin; 0, or TOCSIN_EPERM with why. */
static int
sd_host_key(struct sd_conn *c, const struct policy_drop_host *h,
    struct tocsin_err *err)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;
	int rc = 0;

	if (ssh_get_server_publickey(c->ssh, &key) != SSH_OK ||
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) != 0 || (fp = ssh_get_fingerprint_hash(
	    SSH_PUBLICKEY_HASH_SHA256, hash, hlen)) == NULL) {
		rc = tocsin_fail(err, TOCSIN_ETEMP, "drop host %s: cannot read "
		    "the server's host key: %s", h->name, ssh_get_error(c->ssh));
		goto out;
	}
	if (h->fingerprint[0] != '\0') {
		if (strcmp(fp, h->fingerprint) != 0)
			rc = tocsin_fail(err, TOCSIN_EPERM, "drop host %s "
			    "(%s port %d) presented host key %s, not the "
			    "pinned %s: nothing was written; if the host's key "
			    "really changed, pin the new one in "
			    "providers.sshdrop", h->name, h->host, h->port, fp,
			    h->fingerprint);
		goto out;
	}
	switch (ssh_session_is_known_server(c->ssh)) {
	case SSH_KNOWN_HOSTS_OK:
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		rc = tocsin_fail(err, TOCSIN_EPERM, "drop host %s (%s port %d) "
		    "presented host key %s, which %s does not hold for it: "
		    "nothing was written", h->name, h->host, h->port, fp,
		    h->known_hosts);
		break;
	default:
		rc = tocsin_fail(err, TOCSIN_EPERM, "drop host %s (%s port %d) "
		    "is not in %s (its key is %s): nothing was written; a key "
		    "is never trusted on first use", h->name, h->host, h->port,
		    h->known_hosts, fp);
		break;
	}
out:
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}

/*
 * A drop host with pinned addresses is connected to here, and libssh is
 * given the socket (SSH_OPTIONS_FD): SSH_OPTIONS_HOST stays the
 * configured name, so known_hosts is looked up by the name (and the host
 * key algorithms asked for are those it holds), whichever address
 * answered.  libssh closes a socket it was given when the session ends.
 */
static int
sd_connect_fd(struct sd_conn *c, const struct policy_drop_host *h,
    struct tocsin_err *err)
{
	struct tocsin_err e = { 0 };
	socket_t fd;
	int s;

	if (h->naddresses == 0)
		return 0;
	if (pinned_connect("drop host", h->host, h->port, h->addresses,
	    h->naddresses, h->timeout, &s, &c->pinned, &e) != 0)
		return tocsin_fail(err, e.code, "drop host %s: %s", h->name,
		    e.msg);
	fd = s;
	if (ssh_options_set(c->ssh, SSH_OPTIONS_FD, &fd) != 0) {
		close(s);
		return tocsin_fail(err, TOCSIN_ECONFIG, "drop host %s: %s",
		    h->name, ssh_get_error(c->ssh));
	}
	return 0;
}

static int
sd_connect(struct sd_conn *c, const struct policy_drop_host *h,
    struct tocsin_err *err)
{
	ssh_key key = NULL;
	struct stat st;
	long timeout = (long)h->timeout;
	unsigned port = (unsigned)h->port;
	bool no = false;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((c->ssh = ssh_new()) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	/* never ~/.ssh/config, never ~/.ssh/known_hosts */
	if (ssh_options_set(c->ssh, SSH_OPTIONS_PROCESS_CONFIG, &no) != 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_HOST, h->host) != 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_PORT, &port) != 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_USER, h->user) != 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_TIMEOUT, &timeout) != 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_KNOWNHOSTS,
	    h->known_hosts != NULL ? h->known_hosts : "/dev/null") != 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_GLOBAL_KNOWNHOSTS,
	    "/dev/null") != 0) {
		rc = tocsin_fail(err, TOCSIN_ECONFIG, "drop host %s: %s",
		    h->name, ssh_get_error(c->ssh));
		goto fail;
	}
	if ((rc = sd_connect_fd(c, h, err)) != 0)
		goto fail;
	if (ssh_connect(c->ssh) != SSH_OK) {
		rc = tocsin_fail(err, TOCSIN_ETEMP, "cannot connect to drop "
		    "host %s (%s port %d%s%s): %s", h->name, h->host, h->port,
		    c->pinned != NULL ? ", pinned address " : "",
		    c->pinned != NULL ? c->pinned : "", ssh_get_error(c->ssh));
		goto fail;
	}
	if ((rc = sd_host_key(c, h, err)) != 0)
		goto fail;
	/* the key file is a secret: 0600 or stricter, checked as read */
	if (stat(h->key, &st) != 0 || (st.st_mode & 077) != 0) {
		rc = tocsin_fail(err, TOCSIN_ECONFIG, "drop host %s: the key "
		    "file %s %s; chmod 600 it", h->name, h->key,
		    errno == ENOENT ? "is missing" : "may be read by others");
		goto fail;
	}
	if (ssh_pki_import_privkey_file(h->key, NULL, NULL, NULL, &key) !=
	    SSH_OK) {
		rc = tocsin_fail(err, TOCSIN_ECONFIG, "drop host %s: cannot "
		    "read the key file %s", h->name, h->key);
		goto fail;
	}
	rc = ssh_userauth_publickey(c->ssh, NULL, key);
	ssh_key_free(key);
	if (rc != SSH_AUTH_SUCCESS) {
		rc = tocsin_fail(err, TOCSIN_EPERM, "drop host %s refused the "
		    "key for user %s: %s", h->name, h->user,
		    ssh_get_error(c->ssh));
		goto fail;
	}
	if ((c->sftp = sftp_new(c->ssh)) == NULL || sftp_init(c->sftp) !=
	    SSH_OK) {
		rc = tocsin_fail(err, TOCSIN_ETEMP, "drop host %s: no SFTP: %s",
		    h->name, ssh_get_error(c->ssh));
		goto fail;
	}
	c->fsync = sftp_extension_supported(c->sftp, "fsync@openssh.com",
	    "1") != 0;
	return 0;
fail:
	sd_disconnect(c);
	return rc;
}

/* The SHA-256 of a file in place; 0, TOCSIN_ENOTFOUND, or another code. */
static int
sd_hash_remote(struct sd_conn *c, const char *path,
    unsigned char sha[SHA256_DIGEST_LENGTH], struct tocsin_err *err)
{
	sftp_file f;
	EVP_MD_CTX *ctx;
	char buf[32768];
	ssize_t n;
	size_t total = 0;

	if ((f = sftp_open(c->sftp, path, O_RDONLY, 0)) == NULL) {
		if (sftp_get_error(c->sftp) == SSH_FX_NO_SUCH_FILE)
			return TOCSIN_ENOTFOUND;
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot read %s on the "
		    "drop host: %s", path, ssh_get_error(c->ssh));
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		sftp_close(f);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	while ((n = sftp_read(f, buf, sizeof(buf))) > 0) {
		total += (size_t)n;
		if (total > SD_READ_MAX) {
			EVP_MD_CTX_free(ctx);
			sftp_close(f);
			return tocsin_fail(err, TOCSIN_EDATA, "%s on the drop "
			    "host is larger than any file of ours", path);
		}
		(void)EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	sftp_close(f);
	(void)EVP_DigestFinal_ex(ctx, sha, NULL);
	EVP_MD_CTX_free(ctx);
	if (n < 0)
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot read %s on the "
		    "drop host: %s", path, ssh_get_error(c->ssh));
	return 0;
}

/*
 * Put data at folder/name: a temporary name opened with O_EXCL, written,
 * synced, renamed into place.  A file already there is kept (see the top
 * comment) and its hash goes into f->sha.
 */
static int
sd_put(struct sd_conn *c, const char *folder, struct sd_file *f,
    struct tocsin_err *err)
{
	char path[SD_MAX_PATH + SD_MAX_NAME + 2], tmp[sizeof(path) + 40];
	unsigned char rnd[8];
	char rhex[17];
	sftp_file fh;
	size_t off = 0;
	int rc;

	(void)snprintf(path, sizeof(path), "%s/%s", folder, f->name);
	rc = sd_hash_remote(c, path, f->sha, err);
	if (rc == 0)
		goto in_place;
	if (rc != TOCSIN_ENOTFOUND)
		return rc;
	SHA256(f->data, f->len, f->sha);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "no random bytes");
	base_hex(rhex, rnd, sizeof(rnd));
	(void)snprintf(tmp, sizeof(tmp), "%s/.%s.%s.tmp", folder, f->name,
	    rhex);
	if ((fh = sftp_open(c->sftp, tmp, O_WRONLY | O_CREAT | O_EXCL,
	    0640)) == NULL)
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot create %s on the "
		    "drop host: %s", tmp, ssh_get_error(c->ssh));
	while (off < f->len) {
		size_t k = f->len - off > 32768 ? 32768 : f->len - off;
		ssize_t w = sftp_write(fh, (const char *)f->data + off, k);

		if (w <= 0) {
			sftp_close(fh);
			(void)sftp_unlink(c->sftp, tmp);
			return tocsin_fail(err, TOCSIN_ETEMP, "cannot write %s "
			    "on the drop host: %s", tmp, ssh_get_error(c->ssh));
		}
		off += (size_t)w;
	}
	if (c->fsync && sftp_fsync(fh) != 0) {
		sftp_close(fh);
		(void)sftp_unlink(c->sftp, tmp);
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot sync %s on the "
		    "drop host: %s", tmp, ssh_get_error(c->ssh));
	}
	if (sftp_close(fh) != SSH_NO_ERROR) {
		(void)sftp_unlink(c->sftp, tmp);
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot close %s on the "
		    "drop host: %s", tmp, ssh_get_error(c->ssh));
	}
	if (sftp_rename(c->sftp, tmp, path) == 0)
		return 0;
	/* someone (an earlier try whose result was lost) put it there */
	(void)sftp_unlink(c->sftp, tmp);
	if ((rc = sd_hash_remote(c, path, f->sha, err)) != 0)
		return rc == TOCSIN_ENOTFOUND ? tocsin_fail(err, TOCSIN_ETEMP,
		    "cannot rename %s into place on the drop host: %s", tmp,
		    ssh_get_error(c->ssh)) : rc;
in_place:
	if (f->ours_only) {
		unsigned char mine[SHA256_DIGEST_LENGTH];

		SHA256(f->data, f->len, mine);
		if (memcmp(mine, f->sha, sizeof(mine)) != 0)
			return tocsin_fail(err, TOCSIN_EPERM, "%s on the drop "
			    "host differs from the alert's: left as it is, "
			    "and the drop not completed", path);
	}
	return 0;
}

/* The team folder, made when missing (its parent is the host's path). */
static int
sd_folder(struct sd_conn *c, const struct sd_drop *dp, struct tocsin_err *err)
{
	sftp_attributes a = sftp_stat(c->sftp, dp->folder);

	if (a != NULL) {
		bool dir = a->type == SSH_FILEXFER_TYPE_DIRECTORY;

		sftp_attributes_free(a);
		if (!dir)
			return tocsin_fail(err, TOCSIN_EPERM, "%s on drop host "
			    "%s is not a folder", dp->folder, dp->host->name);
		return 0;
	}
	if (sftp_mkdir(c->sftp, dp->folder, 0750) == 0)
		return 0;
	if (sftp_get_error(c->sftp) == SSH_FX_FILE_ALREADY_EXISTS)
		return 0;
	return tocsin_fail(err, TOCSIN_ETEMP, "cannot make the folder %s on "
	    "drop host %s (does %s exist?): %s", dp->folder, dp->host->name,
	    dp->host->path, ssh_get_error(c->ssh));
}

/* Every file of one drop, the manifest last. */
static int
sd_drop_one(struct sd_conn *c, struct sd_drop *dp, struct tocsin_err *err)
{
	struct sd_file *man = &dp->files[dp->nfiles - 1];
	size_t cap = dp->nfiles * (2 * SHA256_DIGEST_LENGTH + SD_MAX_NAME + 4),
	    len = 0;
	int rc;

	if ((rc = sd_folder(c, dp, err)) != 0)
		return rc;
	for (size_t i = 0; i + 1 < dp->nfiles; i++)
		if ((rc = sd_put(c, dp->folder, &dp->files[i], err)) != 0)
			return rc;
	if ((dp->manifest = malloc(cap)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (size_t i = 0; i + 1 < dp->nfiles; i++) {
		char hex[2 * SHA256_DIGEST_LENGTH + 1];

		base_hex(hex, dp->files[i].sha, SHA256_DIGEST_LENGTH);
		len += (size_t)snprintf(dp->manifest + len, cap - len,
		    "%s  %s\n", hex, dp->files[i].name);
	}
	man->data = dp->manifest;
	man->len = len;
	return sd_put(c, dp->folder, man, err);
}

static int
sd_deliver(void *session, struct chan_msg *msgs, size_t n,
    struct tocsin_err *err)
{
	struct sd_session *s = session;
	struct sd_drop *dps = calloc(n ? n : 1, sizeof(*dps));

	if (dps == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct chan_msg *m = &msgs[i];
		struct tocsin_err perr = { 0 };

		dps[i].msg = m;
		for (size_t j = 0; j < m->nrcpts; j++) {
			m->rcpts[j].status = CHAN_SENT;
			m->rcpts[j].reason[0] = m->rcpts[j].ref[0] = '\0';
			if (j > 0)
				chan_rcpt_set(&m->rcpts[j], CHAN_PERMFAIL,
				    "internal: a drop has one team folder");
		}
		if (m->nrcpts == 0)
			continue;
		if (sd_prepare(s, &dps[i], &perr) != 0)
			chan_rcpt_set(&m->rcpts[0], perr.code == TOCSIN_ENOMEM ||
			    perr.code == TOCSIN_EUNAVAIL ? CHAN_TEMPFAIL :
			    CHAN_PERMFAIL, "%s", perr.msg);
		else
			dps[i].ready = true;
	}
	/* one session per drop host, for all of its drops in the batch */
	for (size_t i = 0; i < n; i++) {
		const struct policy_drop_host *h = dps[i].host;
		struct sd_conn c;
		struct tocsin_err cerr = { 0 };
		bool connected;

		if (!dps[i].ready)
			continue;
		connected = sd_connect(&c, h, &cerr) == 0;
		for (size_t k = i; k < n; k++) {
			struct chan_rcpt *r;
			struct tocsin_err derr = { 0 };

			if (!dps[k].ready || dps[k].host != h)
				continue;
			dps[k].ready = false;
			r = &dps[k].msg->rcpts[0];
			if (chan_msg_late(dps[k].msg)) {
				/* no new drop past the batch's deadline */
				chan_msg_untried(dps[k].msg, "not attempted: "
				    "the batch's time ran out; it goes again");
				continue;
			}
			if (!connected) {
				chan_rcpt_set(r, cerr.code == TOCSIN_ETEMP ?
				    CHAN_TEMPFAIL : CHAN_PERMFAIL, "%s",
				    cerr.msg);
				continue;
			}
			chan_msg_start(dps[k].msg);
			if (sd_drop_one(&c, &dps[k], &derr) != 0)
				chan_rcpt_set(r, derr.code == TOCSIN_ETEMP ||
				    derr.code == TOCSIN_ENOMEM ? CHAN_TEMPFAIL :
				    CHAN_PERMFAIL, "%s", derr.msg);
			else
				(void)snprintf(r->ref, sizeof(r->ref), "%.40s: "
				    "%.120s", h->name,
				    dps[k].files[dps[k].nfiles - 1].name);
			chan_msg_done(dps[k].msg);
		}
		if (connected)
			sd_disconnect(&c);
	}
	for (size_t i = 0; i < n; i++) {
		free(dps[i].signed_text);
		free(dps[i].manifest);
	}
	free(dps);
	return 0;
}

/* ---- ack files ---- */

static int
sd_init(const struct policy_repo *repo, void **ret, struct tocsin_err *err)
{
	struct sd_shared *sh = calloc(1, sizeof(*sh));

	*ret = NULL;
	if (sh == NULL || (sh->next_poll = calloc(repo->ndrops ? repo->ndrops :
	    1, sizeof(*sh->next_poll))) == NULL) {
		free(sh);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	sh->n = repo->ndrops;
	*ret = sh;
	return 0;
}

static void
sd_fini(void *shared)
{
	struct sd_shared *sh = shared;

	if (sh != NULL)
		free(sh->next_poll);
	free(sh);
}

/* The whole of a small file, NUL-terminated, into *ret (malloc'd). */
static int
sd_read_small(struct sd_conn *c, const char *path, size_t size, char **ret,
    struct tocsin_err *err)
{
	sftp_file f;
	char *buf;
	size_t len = 0;
	ssize_t n = 0;

	*ret = NULL;
	if ((buf = malloc(size + 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((f = sftp_open(c->sftp, path, O_RDONLY, 0)) == NULL) {
		free(buf);
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot read %s: %s",
		    path, ssh_get_error(c->ssh));
	}
	/* the size was read a moment ago: a file that grew is cut there,
	   and a writer still busy shows on the next look */
	while (len < size && (n = sftp_read(f, buf + len, size - len)) > 0)
		len += (size_t)n;
	sftp_close(f);
	if (n < 0) {
		free(buf);
		return tocsin_fail(err, TOCSIN_ETEMP, "cannot read %s: %s",
		    path, ssh_get_error(c->ssh));
	}
	buf[len] = '\0';
	*ret = buf;
	return 0;
}

/* Move folder/name into folder/sub/, under another name if one is there. */
static int
sd_move_aside(struct sd_conn *c, const char *folder, const char *sub,
    const char *name, int64_t now, struct tocsin_err *err)
{
	char from[SD_MAX_PATH * 3], dir[SD_MAX_PATH * 3], to[SD_MAX_PATH * 4];

	if ((size_t)snprintf(from, sizeof(from), "%s/%s", folder, name) >=
	    sizeof(from) || (size_t)snprintf(dir, sizeof(dir), "%s/%s", folder,
	    sub) >= sizeof(dir) || (size_t)snprintf(to, sizeof(to), "%s/%s",
	    dir, name) >= sizeof(to))
		return tocsin_fail(err, TOCSIN_EINTERNAL, "an ack path is too "
		    "long");
	(void)sftp_mkdir(c->sftp, dir, 0750);	/* there already is fine */
	if (sftp_rename(c->sftp, from, to) == 0)
		return 0;
	/* OpenSSH's rename never overwrites: the same name acked twice */
	if ((size_t)snprintf(to, sizeof(to), "%s/%s.%lld", dir, name,
	    (long long)now) < sizeof(to) && sftp_rename(c->sftp, from, to) == 0)
		return 0;
	return tocsin_fail(err, TOCSIN_ETEMP, "cannot move %s into %s: %s",
	    from, dir, ssh_get_error(c->ssh));
}

/* The ack files of one team folder. */
static int
sd_poll_folder(struct sd_conn *c, const struct policy_drop_host *h,
    const struct policy_team *t, int64_t now, chan_ackfile_cb cb, void *ctx,
    struct tocsin_err *err)
{
	char folder[SD_MAX_PATH * 2], path[SD_MAX_PATH * 3];
	char names[SD_POLL_FILES][SD_MAX_NAME];
	uint64_t sizes[SD_POLL_FILES];
	size_t n = 0;
	sftp_dir d;
	sftp_attributes a;
	int rc = 0;

	if ((size_t)snprintf(folder, sizeof(folder), "%s/%s/ack", h->path,
	    t->drop_folder) >= sizeof(folder))
		return tocsin_fail(err, TOCSIN_EINTERNAL, "the ack folder of "
		    "%s is too long a path", t->id);
	if ((d = sftp_opendir(c->sftp, folder)) == NULL)
		return 0;		/* no ack folder: nothing to take */
	while (n < SD_POLL_FILES && (a = sftp_readdir(c->sftp, d)) != NULL) {
		/* regular files of safe names only; a name being written
		   by a careful writer starts with '.' */
		if (a->type == SSH_FILEXFER_TYPE_REGULAR && a->name != NULL &&
		    sd_name_ok(a->name, SD_MAX_NAME - 24)) {
			(void)snprintf(names[n], sizeof(names[n]), "%s",
			    a->name);
			sizes[n++] = a->size;
		}
		sftp_attributes_free(a);
	}
	sftp_closedir(d);
	for (size_t i = 0; i < n; i++) {
		struct chan_ackfile f = { .host = h->name, .team = t->id,
			.name = names[i], .len = (size_t)sizes[i] };
		char *data = NULL;
		enum chan_ackfile_fate fate;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", folder,
		    names[i]) >= sizeof(path))
			continue;
		if (sizes[i] <= CHAN_ACKFILE_MAX) {
			if ((rc = sd_read_small(c, path, (size_t)sizes[i],
			    &data, err)) != 0)
				continue;
			f.data = data;
		}
		fate = cb(ctx, &f);
		free(data);
		if (fate != CHAN_ACKFILE_KEEP && sd_move_aside(c, folder,
		    fate == CHAN_ACKFILE_DONE ? "done" : "refused", names[i],
		    now, err) != 0)
			rc = err->code;
	}
	return rc;
}

static int
sd_poll(const struct chan_env *env, chan_ackfile_cb cb, void *ctx,
    struct tocsin_err *err)
{
	const struct policy_repo *repo = env->repo;
	struct sd_shared *sh = env->shared;
	int last = 0;

	if (sh == NULL)
		return 0;
	for (size_t i = 0; i < repo->ndrops && i < sh->n; i++) {
		const struct policy_drop_host *h = &repo->drops[i];
		struct tocsin_err e = { 0 };
		struct sd_conn c;
		bool any = false;

		if (h->ack_poll <= 0)
			continue;
		/* the first look one interval after start: a serve that only
		   flushes its queue does not log in for nothing */
		if (sh->next_poll[i] == 0)
			sh->next_poll[i] = env->now + h->ack_poll;
		if (env->now < sh->next_poll[i])
			continue;
		sh->next_poll[i] = env->now + h->ack_poll;
		for (size_t t = 0; t < repo->nteams && !any; t++)
			any = repo->teams[t].drop == h &&
			    repo->teams[t].drop_folder != NULL;
		if (!any)
			continue;
		if (sd_connect(&c, h, &e) != 0) {
			last = tocsin_fail(err, e.code, "%s", e.msg);
			continue;
		}
		for (size_t t = 0; t < repo->nteams; t++)
			if (repo->teams[t].drop == h &&
			    repo->teams[t].drop_folder != NULL &&
			    sd_poll_folder(&c, h, &repo->teams[t], env->now, cb,
			    ctx, &e) != 0)
				last = tocsin_fail(err, e.code, "drop host %s: "
				    "%s", h->name, e.msg);
		sd_disconnect(&c);
	}
	return last;
}

const struct chan_ops chan_sshdrop = {
	.kind = {
		.name = "sshdrop",
		.field = POLICY_FIELD_TEAM,
		.check = sd_repo_check,
	},
	.configured = sd_configured,
	.drill_latency = 30,
	.drill_via = "drop",
	.ack_via = "drop",
	.per_team = true,
	.batch = sd_batch,
	.check = sd_check,
	.init = sd_init,
	.fini = sd_fini,
	.open = sd_open,
	.deliver = sd_deliver,
	.close = sd_close,
	.poll = sd_poll,
};
