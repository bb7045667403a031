/*
 * check.c: key and certificate checks for `tocsin check`, and the
 * contacts not confirmed lately, when there is a store to say.
 *
 * Keys are listed once from the GnuPG home and looked up in memory: a
 * repository of a thousand contacts must not start a thousand gpg runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "ack.h"
#include "certs.h"
#include "channel.h"
#include "cap.h"
#include "check.h"
#include "desk.h"
#include "jsonw.h"
#include "render.h"
#include "store.h"
#include "verify.h"

static void
check_contact_key(const struct certs_keyring *kr, const struct policy_team *t,
    const struct policy_contact *c, const char *home, struct policy_diag *d)
{
	struct certs_keyinfo ki;
	const char *file = c->pgp_src.file ? c->pgp_src.file : c->src.file;
	int line = c->pgp_src.line ? c->pgp_src.line : c->src.line;

	certs_keyring_find(kr, c->pgp, &ki);
	if (!ki.found)
		policy_diag_add(d, POLICY_ERROR, file, line,
		    "team %s, contact %s: no key with fingerprint %s in %s; "
		    "import the contact's public key (gpg --homedir %s "
		    "--import KEYFILE)", t->id, c->name, c->pgp, home, home);
	else if (ki.revoked)
		policy_diag_add(d, POLICY_ERROR, file, line,
		    "team %s, contact %s: key %s is revoked; ask the contact "
		    "for their new key", t->id, c->name, c->pgp);
	else if (ki.expired)
		policy_diag_add(d, POLICY_ERROR, file, line,
		    "team %s, contact %s: key %s has expired; ask the contact "
		    "to extend it and import the update", t->id, c->name, c->pgp);
	else if (ki.disabled || ki.invalid || !ki.can_encrypt)
		policy_diag_add(d, POLICY_ERROR, file, line,
		    "team %s, contact %s: key %s cannot encrypt; ask the contact "
		    "for a key with an encryption subkey", t->id, c->name,
		    c->pgp);
	else if (ki.expires != 0 && ki.expires < (int64_t)time(NULL) + 30 * 86400)
		policy_diag_add(d, POLICY_WARNING, file, line,
		    "team %s, contact %s: key %s expires within 30 days; ask "
		    "the contact to extend it", t->id, c->name, c->pgp);
}

static void
check_issuers(const struct policy_repo *repo, const struct certs_keyring *kr,
    struct policy_diag *d)
{
	struct certs_keyinfo ki;
	char fp[65];

	for (size_t i = 0; i < repo->nissuers; i++) {
		const struct policy_issuer *is = &repo->issuers[i];
		struct tocsin_err e;

		if (is->certificate != NULL) {
			if (certs_cert_fingerprint(is->certificate, fp, &e) != 0)
				policy_diag_add(d, POLICY_ERROR, is->src.file,
				    is->src.line, "issuer %s: %s; give the "
				    "path of the issuer's PEM certificate",
				    is->name, e.msg);
			if (repo->gateway.issuer_ca == NULL)
				policy_diag_add(d, POLICY_ERROR, is->src.file,
				    is->src.line, "issuer %s signs with CMS but "
				    "gateway.issuer_ca is not set; set it to the "
				    "issuer CA certificate", is->name);
			continue;
		}
		certs_keyring_find(kr, is->openpgp, &ki);
		if (!ki.found)
			policy_diag_add(d, POLICY_ERROR, is->src.file,
			    is->src.line, "issuer %s: no key with fingerprint "
			    "%s in %s; import the issuer's public key", is->name,
			    is->openpgp, repo->gateway.gnupg_home);
		else if (ki.revoked || ki.expired)
			/* A warning, not an error: signatures by it are
			   refused anyway, and the entry may be kept on
			   purpose until a new key is exchanged. */
			policy_diag_add(d, POLICY_WARNING, is->src.file,
			    is->src.line, "issuer %s: key %s is %s; alerts it "
			    "signs are refused until a new key is configured",
			    is->name, is->openpgp,
			    ki.revoked ? "revoked" : "expired");
	}
}

void
check_trust(const struct policy_repo *repo, struct policy_diag *d)
{
	const struct policy_gateway *gw = &repo->gateway;
	struct certs_ctx *cx = NULL;
	struct certs_keyring *pub = NULL, *sec = NULL;
	struct certs_keyinfo ki;
	struct tocsin_err e;
	struct stat sb;

	if (gw->gnupg_home == NULL)
		return;
	if (stat(gw->gnupg_home, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		policy_diag_add(d, POLICY_ERROR, gw->src.file, gw->src.line,
		    "gnupg_home %s is not a folder; create it (mode 0700) and "
		    "import the gateway, issuer and contact keys", gw->gnupg_home);
		return;
	}
	if (certs_open(gw->gnupg_home, &cx, &e) != 0 ||
	    certs_keyring_load(cx, false, &pub, &e) != 0 ||
	    certs_keyring_load(cx, true, &sec, &e) != 0) {
		policy_diag_add(d, POLICY_ERROR, gw->src.file, gw->src.line,
		    "%s; check that gpg works with --homedir %s", e.msg,
		    gw->gnupg_home);
		goto out;
	}
	if (gw->signing_key[0] != '\0') {
		certs_keyring_find(sec, gw->signing_key, &ki);
		if (!ki.found || !ki.can_sign || ki.expired || ki.revoked)
			policy_diag_add(d, POLICY_ERROR,
			    gw->signing_key_src.file, gw->signing_key_src.line,
			    "signing_key %s is not a usable secret signing key "
			    "in %s; import the gateway's secret key or correct "
			    "the fingerprint", gw->signing_key, gw->gnupg_home);
	}
	if (gw->issuer_ca != NULL && access(gw->issuer_ca, R_OK) != 0)
		policy_diag_add(d, POLICY_ERROR, gw->src.file, gw->src.line,
		    "issuer_ca %s cannot be read; give the path of the issuer "
		    "CA certificate", gw->issuer_ca);
	check_issuers(repo, pub, d);
	for (size_t t = 0; t < repo->nteams; t++)
		for (size_t c = 0; c < repo->teams[t].ncontacts; c++)
			if (repo->teams[t].contacts[c].pgp[0] != '\0')
				check_contact_key(pub, &repo->teams[t],
				    &repo->teams[t].contacts[c],
				    gw->gnupg_home, d);
out:
	certs_keyring_free(pub);
	certs_keyring_free(sec);
	certs_close(cx);
}

int
check_load(const char *conf, struct policy_repo **repo,
    struct policy_diag *diag, struct tocsin_err *err)
{
	int rc = policy_load_check(conf, repo, diag, err);

	if (*repo != NULL) {
		check_trust(*repo, diag);
		check_channels(*repo, diag);
	}
	return rc;
}

int
check_reload(const char *conf, struct tocsin_err *err)
{
	struct policy_diag diag;
	struct policy_repo *repo = NULL;
	struct tocsin_err e = { 0 };
	int rc;

	policy_diag_init(&diag);
	rc = check_load(conf, &repo, &diag, &e);
	if (rc == 0 && diag.errors == 0)
		rc = 0;
	else {
		const struct policy_diag_item *it = NULL;

		for (size_t i = 0; i < diag.n && it == NULL; i++)
			if (diag.items[i].sev == POLICY_ERROR)
				it = &diag.items[i];
		if (it != NULL)
			rc = tocsin_fail(err, TOCSIN_ECONFIG, "%s:%d: %s (%zu "
			    "error%s)", it->file != NULL ? it->file : conf,
			    it->line, it->text, diag.errors, diag.errors == 1 ?
			    "" : "s");
		else
			rc = tocsin_fail(err, TOCSIN_ECONFIG, "%s", e.msg[0] ?
			    e.msg : "the configuration cannot be read");
	}
	policy_diag_free(&diag);
	policy_free(repo);
	return rc;
}

void
check_print(FILE *out, const struct policy_diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct policy_diag_item *it = &d->items[i];

		if (it->file != NULL && it->line > 0)
			fprintf(out, "%s:%d: ", it->file, it->line);
		else if (it->file != NULL)
			fprintf(out, "%s: ", it->file);
		fprintf(out, "%s: %s\n", it->sev == POLICY_ERROR ? "error" :
		    "warning", it->text);
	}
}

void
check_channels(const struct policy_repo *repo, struct policy_diag *d)
{
	for (const struct chan_ops *const *p = chan_all(); *p != NULL; p++)
		(void)(*p)->check(repo, d);
	if (repo->smtp != NULL && repo->smtp->subject != NULL) {
		char out[RENDER_SUBJECT_MAX];
		char st[] = "Actual", mt[] = "Alert";
		struct cap_alert a = { .status = st, .msg_type = mt };
		struct tocsin_err e;

		/* Try the template on an empty alert: only its syntax
		   matters here. */
		if (render_subject(repo->smtp->subject, &a, "ID", out,
		    sizeof(out), &e) == TOCSIN_ECONFIG)
			policy_diag_add(d, POLICY_ERROR, repo->smtp->src.file,
			    repo->smtp->src.line, "providers.smtp: %s", e.msg);
	}
}

void
check_stale(const struct policy_repo *repo, int64_t now,
    struct policy_diag *diag)
{
	struct verify_contact *v = NULL;
	struct store *st = NULL;
	struct tocsin_err e;
	size_t n = 0, total = 0, ever = 0;
	char tb[32];

	if (repo->gateway.store == NULL)
		return;		/* said as an error of the configuration */
	/* a database that does not answer now is worth knowing (one whose
	   conninfo is wrong is an error of check_modes already) */
	if (policy_store_is_pg(repo->gateway.store) &&
	    store_pg_check(repo->gateway.store, &e) != 0)
		goto out;
	/* a database not made as the store needs it is an error */
	if (policy_store_is_pg(repo->gateway.store) &&
	    store_open(repo->gateway.store, &st, &e) != 0) {
		policy_diag_add(diag, e.code == TOCSIN_ECONFIG ? POLICY_ERROR :
		    POLICY_WARNING, repo->gateway.store_src.file,
		    repo->gateway.store_src.line, "%s", e.msg);
		goto out;
	}
	if ((st == NULL && access(repo->gateway.store, F_OK) != 0) ||
	    (st == NULL && store_open(repo->gateway.store, &st, &e) != 0) ||
	    verify_stale(repo, st, now, &v, &n, &total, &e) != 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		ever += v[i].contact_verified > 0;
	if (verify_stale_contacts(v, n) == total && ever == 0) {
		policy_diag_add(diag, POLICY_WARNING, NULL, 0, "no contact has confirmed a contact "
		    "check yet: run 'tocsin verify-contacts'");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].whole && v[i].first)
			policy_diag_add(diag, POLICY_WARNING, v[i].src.file,
			    v[i].src.line, "contact %s of team %s is stale: "
			    "%s%s; 'tocsin verify-contacts %s' asks again",
			    v[i].contact, v[i].team, v[i].contact_verified ?
			    "last confirmed " : "never confirmed",
			    v[i].contact_verified ? jsonw_fmt_time(
			    v[i].contact_verified, tb, sizeof(tb)) : "",
			    v[i].team);
		else if (!v[i].whole)
			policy_diag_add(diag, POLICY_WARNING, v[i].src.file,
			    v[i].src.line, "contact %s of team %s has an "
			    "unconfirmed endpoint: %s %s", v[i].contact,
			    v[i].team, v[i].what, v[i].address != NULL ?
			    v[i].address : "");
out:
	free(v);
	store_close(st);
}

void
check_engine(const struct policy_repo *repo, struct policy_diag *diag,
    char *line, size_t linelen)
{
	const struct policy_gateway *gw = &repo->gateway;
	struct certs_ctx *cx = NULL;
	struct certs_pubkeys *pk = NULL;
	struct tocsin_err e = { 0 };
	struct stat sb;

	line[0] = '\0';
	if (gw->gnupg_home == NULL || stat(gw->gnupg_home, &sb) != 0)
		return;		/* check_trust said so */
	if (certs_open(gw->gnupg_home, &cx, &e) != 0 ||
	    certs_pubkeys_load(cx, gw->pgp_engine, gw->signing_key, &pk,
	    &e) != 0) {
		policy_diag_add(diag, POLICY_ERROR, gw->src.file, gw->src.line,
		    "the OpenPGP engine %s cannot load the keys of %s: %s",
		    gw->pgp_engine == POLICY_PGP_RNP ? "rnp" : "gpgme",
		    gw->gnupg_home, e.msg);
		certs_close(cx);
		return;
	}
	if (certs_pubkeys_note(pk) != NULL)
		policy_diag_add(diag, POLICY_WARNING, gw->src.file,
		    gw->src.line, "pgp_engine \"rnp\": %s",
		    certs_pubkeys_note(pk));
	(void)snprintf(line, linelen, "OpenPGP engine %s: %zu public keys "
	    "loaded from %s%s", certs_pubkeys_engine(pk),
	    certs_pubkeys_count(pk), gw->gnupg_home, gw->signing_key[0] != '\0'
	    ? ", the gateway's signing key ready" : "");
	certs_pubkeys_free(pk);
	certs_close(cx);
}

void
check_explain_quorum(FILE *out, const struct policy_repo *repo)
{
	char why[512];

	if (repo->nquorum == 0) {
		fprintf(out, "quorum: no rule; one authorised issuer suffices "
		    "for every alert\n");
		return;
	}
	for (size_t i = 0; i < repo->nquorum; i++) {
		const struct policy_quorum *q = &repo->quorum[i];
		bool main = q->src.file == NULL || (repo->main_file != NULL &&
		    strcmp(q->src.file, repo->main_file) == 0);

		policy_quorum_explain(repo, q, why, sizeof(why));
		if (main)
			fprintf(out, "quorum rule %zu (line %d): %s\n", i + 1,
			    q->src.line, why);
		else
			fprintf(out, "quorum rule %zu (%s line %d): %s\n", i + 1,
			    q->src.file, q->src.line, why);
	}
	fprintf(out, "quorum: an alert needs the largest number of issuers "
	    "of the rules that apply to it, one when none does; a Cancel or "
	    "an Update needs the larger of its own and that of the alert it "
	    "references\n");
}

/* A warning when path (when it exists) is open to its group or others;
   what is missing is left to the checks that need it. */
static void
check_mode_of(const char *what, const char *path, struct policy_diag *d)
{
	struct stat sb;

	if (path == NULL || stat(path, &sb) != 0 || (sb.st_mode & 077) == 0)
		return;
	policy_diag_add(d, POLICY_WARNING, NULL, 0, "%s %s has mode %04o: it is "
	    "open to its group or others; chmod %s %s", what, path,
	    (unsigned)(sb.st_mode & 07777), S_ISDIR(sb.st_mode) ? "700" :
	    "600", path);
}

void
check_modes(const struct policy_repo *repo, struct policy_diag *diag)
{
	char buf[4200];
	char *slash;

	/* a configuration without gateway.store (an error said already)
	   has no store, folder or secret beside it to look at */
	if (repo->gateway.store == NULL)
		goto home;
	if (policy_store_is_pg(repo->gateway.store)) {
		struct tocsin_err e;

		/* no password in it, its password file private */
		if (store_pg_check(repo->gateway.store, &e) != 0)
			policy_diag_add(diag, POLICY_ERROR,
			    repo->gateway.store_src.file,
			    repo->gateway.store_src.line, "%s", e.msg);
	} else
		check_mode_of("the store", repo->gateway.store, diag);
	(void)snprintf(buf, sizeof(buf), "%s", repo->gateway.store);
	if (!policy_store_is_pg(repo->gateway.store) &&
	    (slash = strrchr(buf, '/')) != NULL && slash != buf) {
		*slash = '\0';
		check_mode_of("the store's folder", buf, diag);
	}
	ack_secret_path(repo, buf, sizeof(buf));
	check_mode_of("the ack secret", buf, diag);
home:
	check_mode_of("the GnuPG home", repo->gateway.gnupg_home, diag);
	/* its mode was checked with the configuration; here its lines */
	if (repo->gateway.desk_tokens != NULL) {
		struct desk_operator *ops = NULL;
		struct tocsin_err e;
		size_t n = 0;
		struct stat sb;

		if (stat(repo->gateway.desk_tokens, &sb) == 0 &&
		    S_ISREG(sb.st_mode) && (sb.st_mode & 077) == 0 &&
		    desk_tokens_load(repo->gateway.desk_tokens, &ops, &n, &e)
		    != 0)
			policy_diag_add(diag, POLICY_ERROR, NULL, 0, "%s",
			    e.msg);
		free(ops);
	}
}
