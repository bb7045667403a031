/*
 * intake.c: `tocsin submit`, from bytes on disk to a committed plan.
 *
 * Nothing unsigned, badly signed, unauthorised or replayed is queued: every
 * refusal returns before the one store transaction, and is itself written
 * to the audit log.  Signatures are checked over the exact bytes received
 * before the XML parser sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ack.h"
#include "base.h"
#include "cap.h"
#include "intake.h"
#include "plan.h"

int
intake_read_file(const char *path, size_t max, char **ret, size_t *len,
    struct tocsin_err *err)
{
	struct stat sb;
	char *buf;
	size_t got = 0;
	ssize_t r;
	int fd;

	*ret = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return tocsin_fail(err, TOCSIN_ENOINPUT, "cannot open %s: %s",
		    path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return tocsin_fail(err, TOCSIN_ENOINPUT,
		    "%s is not a regular file", path);
	}
	if ((size_t)sb.st_size > max) {
		close(fd);
		return tocsin_fail(err, TOCSIN_ETOOBIG,
		    "%s is %lld bytes, over the limit of %zu bytes "
		    "(gateway.max_alert_bytes)", path, (long long)sb.st_size, max);
	}
	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	/* Read up to max+1 so a file that grew after fstat is still caught. */
	while (got <= max && (r = read(fd, buf + got, max + 1 - got)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			close(fd);
			return tocsin_fail(err, TOCSIN_ENOINPUT,
			    "cannot read %s: %s", path, strerror(errno));
		}
		got += (size_t)r;
	}
	close(fd);
	if (got > max) {
		free(buf);
		return tocsin_fail(err, TOCSIN_ETOOBIG,
		    "%s is over the limit of %zu bytes", path, max);
	}
	buf[got] = '\0';
	*ret = buf;
	*len = got;
	return 0;
}

int
intake_audience(const struct policy_repo *repo, const struct cap_alert *alert,
    bool *mark, size_t *nteams, struct tocsin_err *err)
{
	int rc;

	*nteams = 0;
	if (alert->naddresses == 0) {
		/* Public and Restricted alerts from other CAP tools carry no
		   <addresses>: they go to the configured default audience. */
		const char *aud = repo->gateway.default_audience ?
		    repo->gateway.default_audience : "all";

		if ((rc = policy_resolve(repo, aud, mark, err)) != 0)
			return tocsin_fail(err, TOCSIN_ECONFIG,
			    "default_audience '%s' names no team", aud);
	}
	for (size_t i = 0; i < alert->naddresses; i++) {
		struct tocsin_err e;

		if (policy_resolve(repo, alert->addresses[i], mark, &e) != 0)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "<addresses> names '%.64s', which is no team, group "
			    "or region of the repository", alert->addresses[i]);
	}
	for (size_t t = 0; t < repo->nteams; t++)
		if (mark[t])
			(*nteams)++;
	if (*nteams == 0)
		return tocsin_fail(err, TOCSIN_EDATA,
		    "the alert addresses no team");
	return 0;
}

int
intake_new_id(int64_t now, char *out, size_t len)
{
	unsigned char rnd[6];
	time_t t = (time_t)now;
	struct tm tm;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return TOCSIN_EIO;
	gmtime_r(&t, &tm);
	if (len < 22 || strftime(out, len, "%Y%m%d-", &tm) != 9)
		return TOCSIN_EINTERNAL;
	base_hex(out + 9, rnd, sizeof(rnd));
	return 0;
}

static void
intake_fmt_duration(int64_t s, char *out, size_t len)
{
	if (s % 86400 == 0)
		(void)snprintf(out, len, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		(void)snprintf(out, len, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		(void)snprintf(out, len, "%lldm", (long long)(s / 60));
	else
		(void)snprintf(out, len, "%llds", (long long)s);
}

/* Everything up to the store transaction; fills the parts of a submit. */
struct intake_work {
	char *raw;			/* file as read */
	size_t rawlen;
	char *plain;			/* inline OpenPGP plaintext, or NULL */
	size_t plainlen;
	char *sigbuf[CERTS_MAX_SIGS];
	size_t siglen[CERTS_MAX_SIGS];
	struct certs_sigs sigs;
	struct cap_alert *cap;
	bool *mark;
	struct plan_list plan;
	struct store_team_plan *teams;
	char (*hashes)[ACK_HASH_LEN + 1];	/* of the teams' link tokens */
	/* a Cancel or an Update: the earlier alert and the teams whose
	   ladders it stops (borrowed from the repo) */
	char refers[64];
	const char **stops;
	size_t nstops;
	bool no_ladder;			/* a Cancel does not escalate */
};

static void
intake_work_free(struct intake_work *w)
{
	free(w->raw);
	free(w->plain);
	for (size_t i = 0; i < CERTS_MAX_SIGS; i++)
		free(w->sigbuf[i]);
	cap_free(w->cap);
	free(w->mark);
	plan_list_free(&w->plan);
	free(w->teams);
	free(w->hashes);
	free(w->stops);
}

static int
intake_verify(const struct policy_repo *repo, struct certs_ctx *cx,
    const struct intake_request *rq, struct intake_work *w,
    const char **doc, size_t *doclen, struct tocsin_err *err)
{
	size_t max = repo->gateway.max_alert_bytes;
	int rc;

	/* An inline OpenPGP message is larger than what it signs. */
	if ((rc = intake_read_file(rq->alert_path, max * 2 + 4096, &w->raw,
	    &w->rawlen, err)) != 0)
		return rc;
	if (certs_is_inline_openpgp(w->raw, w->rawlen)) {
		if ((rc = certs_verify_inline(cx, w->raw, w->rawlen, max,
		    &w->plain, &w->plainlen, &w->sigs, err)) != 0)
			return rc;
		*doc = w->plain;
		*doclen = w->plainlen;
	} else {
		if (w->rawlen > max)
			return tocsin_fail(err, TOCSIN_ETOOBIG,
			    "%s is %zu bytes, over the limit of %zu bytes "
			    "(gateway.max_alert_bytes)", rq->alert_path,
			    w->rawlen, max);
		*doc = w->raw;
		*doclen = w->rawlen;
	}
	if (rq->nsigs > CERTS_MAX_SIGS)
		return tocsin_fail(err, TOCSIN_EUSAGE,
		    "at most %d --sig files", CERTS_MAX_SIGS);
	for (size_t i = 0; i < rq->nsigs; i++) {
		size_t before = w->sigs.n;

		if ((rc = intake_read_file(rq->sig_paths[i], CERTS_MAX_SIG_BYTES,
		    &w->sigbuf[i], &w->siglen[i], err)) != 0) {
			if (rc == TOCSIN_ETOOBIG)
				rc = TOCSIN_EPERM;
			return rc;
		}
		if ((rc = certs_verify_detached(cx, *doc, *doclen, w->sigbuf[i],
		    w->siglen[i], repo->gateway.issuer_ca, &w->sigs, err)) != 0) {
			if (rc == TOCSIN_EPERM) {
				char why[TOCSIN_ERRLEN];

				/* never format err->msg into itself */
				(void)snprintf(why, sizeof(why), "%s", err->msg);
				return tocsin_fail(err, rc, "%s: %s",
				    rq->sig_paths[i], why);
			}
			return rc;
		}
		for (size_t j = before; j < w->sigs.n; j++)
			w->sigs.sig[j].sigfile = rq->sig_paths[i];
	}
	if (w->sigs.n == 0)
		return tocsin_fail(err, TOCSIN_EPERM,
		    "the alert is not signed; sign it with an issuer key "
		    "(--sig FILE, or an inline OpenPGP message)");
	for (size_t i = 0; i < w->sigs.n; i++)
		if (!w->sigs.sig[i].good)
			return tocsin_fail(err, TOCSIN_EPERM, "%s",
			    w->sigs.sig[i].reason);
	return 0;
}

static int
intake_check(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, const struct intake_request *rq,
    struct intake_work *w, struct intake_result *res, const char **doc,
    size_t *doclen, struct tocsin_err *err)
{
	char seen[64], win[32];
	int64_t d;
	int rc, status;

	if ((rc = intake_verify(repo, cx, rq, w, doc, doclen, err)) != 0)
		return rc;
	if ((rc = cap_parse(*doc, *doclen, repo->gateway.max_alert_bytes,
	    &w->cap, err)) != 0)
		return rc;
	(void)snprintf(res->identifier, sizeof(res->identifier), "%s",
	    w->cap->identifier);
	if ((w->mark = calloc(repo->nteams + 1, sizeof(bool))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((rc = intake_audience(repo, w->cap, w->mark, &res->nteams,
	    err)) != 0)
		return rc;
	status = policy_status_parse(w->cap->status);
	if ((rc = certs_authorise(repo, &w->sigs, w->mark, w->cap->max_severity,
	    status, res->issuers, &res->nissuers, err)) != 0)
		return rc;
	d = rq->now - (int64_t)w->cap->sent_t;
	if (d > repo->gateway.replay_window || -d > repo->gateway.replay_window) {
		intake_fmt_duration(repo->gateway.replay_window, win, sizeof(win));
		return tocsin_fail(err, TOCSIN_EPERM,
		    "<sent> %s is %lld s %s now, outside the replay window of "
		    "%s (gateway.replay_window); a stale or replayed alert is "
		    "refused", w->cap->sent, (long long)(d < 0 ? -d : d),
		    d < 0 ? "after" : "before", win);
	}
	if ((rc = store_seen(st, w->cap->identifier, w->cap->sender, seen,
	    sizeof(seen), err)) < 0)
		return rc;
	if (rc == 1)
		return tocsin_fail(err, TOCSIN_EPERM,
		    "alert identifier %s from sender %s was already accepted "
		    "as alert %s; a replay is refused", w->cap->identifier,
		    w->cap->sender, seen);
	return 0;
}

/*
 * The audience of an accepted alert, as its authority is judged: the teams
 * its stored CAP document resolves to now, and every team it has a ladder
 * for (should a group have shrunk since), but not the desk's own team,
 * whose page is the gateway's doing and not the issuer's.  Marks over
 * repo->teams into aud.
 */
static int
intake_ref_audience(const struct policy_repo *repo, struct store *st,
    const char *ref, const struct store_team_row *rows, size_t nrows,
    bool *aud, struct tocsin_err *err)
{
	const struct policy_team *desk = repo->gateway.desk_team != NULL ?
	    policy_team_find(repo, repo->gateway.desk_team) : NULL;
	struct cap_alert *cap = NULL;
	struct tocsin_err e;
	char *doc = NULL;
	size_t len = 0;
	int rc;

	if ((rc = store_alert_cap(st, ref, &doc, &len, err)) != 0)
		return rc;
	/* it parsed when it was accepted; its own length is the limit now.
	   Should it no longer parse, its authority cannot be judged: the
	   Cancel or Update is refused rather than let through. */
	if (cap_parse(doc, len, len, &cap, &e) != 0) {
		free(doc);
		return tocsin_fail(err, TOCSIN_EPERM, "the authority of alert "
		    "%.64s cannot be judged: its stored CAP document does not "
		    "parse (%.200s)", ref, e.msg);
	}
	if (cap->naddresses == 0)
		(void)policy_resolve(repo, repo->gateway.default_audience ?
		    repo->gateway.default_audience : "all", aud, &e);
	for (size_t i = 0; i < cap->naddresses; i++)
		(void)policy_resolve(repo, cap->addresses[i], aud, &e);
	for (size_t i = 0; i < nrows; i++) {
		const struct policy_team *t = policy_team_find(repo,
		    rows[i].team);

		if (t != NULL && t != desk)
			aud[t - repo->teams] = true;
	}
	cap_free(cap);
	free(doc);
	return 0;
}

/*
 * A Cancel or an Update needs the authority of the alert it stops as well
 * as its own: each issuer that counts must be allowed that alert's
 * audience, severity and status too, and the larger of the two quorums
 * applies.  Otherwise one issuer would cancel, or replace with a Minor
 * Update, an Extreme alert that took two.
 */
static int
intake_refers_authorise(const struct policy_repo *repo, struct store *st,
    struct intake_work *w, const struct store_team_row *rows, size_t nrows,
    struct intake_result *res, struct tocsin_err *err)
{
	bool cancel = strcmp(w->cap->msg_type, "Cancel") == 0;
	struct store_alert_row *ref = NULL;
	bool *aud;
	char what[128];
	int rc;

	if ((rc = store_alert_get(st, w->refers, &ref, err)) != 0)
		return rc;
	if ((aud = calloc(repo->nteams + 1, sizeof(bool))) == NULL) {
		store_alert_rows_free(ref, 1);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	(void)snprintf(what, sizeof(what), "the alert it %s, %.64s",
	    cancel ? "cancels" : "updates", w->refers);
	rc = intake_ref_audience(repo, st, w->refers, rows, nrows, aud, err);
	if (rc == 0) {
		struct certs_scope sc[2] = {
			{ .teams = w->mark, .severity = w->cap->max_severity,
			  .status = policy_status_parse(w->cap->status) },
			{ .teams = aud, .severity = ref->severity,
			  .status = ref->status != NULL ?
			      policy_status_parse(ref->status) : -1,
			  .what = what },
		};

		rc = certs_authorise_scopes(repo, &w->sigs, sc, 2, res->issuers,
		    &res->nissuers, err);
	}
	free(aud);
	store_alert_rows_free(ref, 1);
	return rc;
}

/*
 * A Cancel or an Update acts on the earlier alert it references (the first
 * of its references this gateway accepted), with the authority of both
 * (intake_refers_authorise).  A Cancel stops that alert's ladders and goes
 * only to the teams it had reached (a delivery sent); an Update stops them
 * and goes to the same teams, with a ladder of its own.  Either acts only
 * on teams of its own audience.
 */
static int
intake_refers(const struct policy_repo *repo, struct store *st,
    struct intake_work *w, struct intake_result *res, struct tocsin_err *err)
{
	size_t *nteams = &res->nteams;
	const struct cap_alert *a = w->cap;
	bool cancel = strcmp(a->msg_type, "Cancel") == 0;
	struct store_team_row *rows = NULL;
	size_t nrows = 0;
	char *refs, *save = NULL;
	int rc;

	if (!cancel && strcmp(a->msg_type, "Update") != 0)
		return 0;
	if ((refs = strdup(a->references != NULL ? a->references : "")) ==
	    NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (char *r = strtok_r(refs, " \t\r\n", &save); r != NULL &&
	    w->refers[0] == '\0'; r = strtok_r(NULL, " \t\r\n", &save)) {
		char *c1 = strchr(r, ','), *c2 = c1 != NULL ?
		    strchr(c1 + 1, ',') : NULL;

		if (c2 == NULL)
			continue;
		*c1 = *c2 = '\0';
		if ((rc = store_seen(st, c1 + 1, r, w->refers,
		    sizeof(w->refers), err)) < 0) {
			free(refs);
			return rc;
		}
		if (rc == 0)
			w->refers[0] = '\0';
	}
	free(refs);
	if (w->refers[0] == '\0')
		return tocsin_fail(err, TOCSIN_EDATA, "this %s references no "
		    "alert this gateway accepted (<references> %.200s); "
		    "nothing was %s", a->msg_type, a->references != NULL ?
		    a->references : "", cancel ? "cancelled" : "updated");
	if ((rc = store_teams(st, w->refers, &rows, &nrows, err)) != 0)
		return rc;
	if ((rc = intake_refers_authorise(repo, st, w, rows, nrows, res,
	    err)) != 0) {
		store_team_rows_free(rows, nrows);
		return rc;
	}
	if ((w->stops = calloc(nrows + 1, sizeof(*w->stops))) == NULL) {
		store_team_rows_free(rows, nrows);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	*nteams = 0;
	for (size_t t = 0; t < repo->nteams; t++) {
		const struct store_team_row *row = NULL;

		for (size_t i = 0; i < nrows && row == NULL && w->mark[t]; i++)
			if (strcmp(rows[i].team, repo->teams[t].id) == 0)
				row = &rows[i];
		if (row == NULL) {
			w->mark[t] = false;
			continue;
		}
		w->stops[w->nstops++] = repo->teams[t].id;
		if (cancel && row->counts[STORE_D_SENT] +
		    row->counts[STORE_D_DELIVERED] +
		    row->counts[STORE_D_UNDELIVERED] == 0)
			w->mark[t] = false;	/* never reached: nothing to
						   take back */
		else
			(*nteams)++;
	}
	store_team_rows_free(rows, nrows);
	w->no_ladder = cancel;
	return 0;
}

static int
intake_plan(const struct policy_repo *repo, int64_t now, struct intake_work *w,
    size_t *nteams, struct tocsin_err *err)
{
	bool exercise = w->cap->status != NULL &&
	    strcmp(w->cap->status, "Exercise") == 0;
	size_t k = 0;
	int rc;

	if ((w->teams = calloc(repo->nteams + 1, sizeof(*w->teams))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	for (size_t t = 0; t < repo->nteams; t++) {
		const struct policy_team *team = &repo->teams[t];

		int64_t hold;

		if (!w->mark[t])
			continue;
		w->teams[k].team = team->id;
		w->teams[k].wait_on_failure = team->policy != NULL &&
		    team->policy->wait_on_failure;
		hold = plan_hold_until_ex(team, w->cap->max_severity,
		    exercise, now);
		if (hold > 0 && !w->no_ladder) {
			/* quiet hours: the ladder starts when the team's
			   business hours open (step -1 until then) */
			w->teams[k].step = -1;
			w->teams[k].deadline = hold + (team->policy->nsteps > 0 ?
			    team->policy->steps[0].after : 0);
			k++;
			continue;
		}
		if ((rc = plan_step_ex(team, 0, plan_step_due(team, 0, now),
		    exercise, &w->plan, err)) != 0)
			return rc;
		w->teams[k].step = 0;
		w->teams[k].deadline = w->no_ladder ? 0 :
		    plan_next_deadline(team, 0, now);
		k++;
	}
	*nteams = k;
	return 0;
}

/* The hash of each team's ack link token, for the listener to find it by. */
static int
intake_tokens(const struct policy_repo *repo, const char *alert_id,
    struct intake_work *w, size_t nteams, struct tocsin_err *err)
{
	unsigned char secret[ACK_SECRET_LEN];
	char token[ACK_TOKEN_LEN + 1];
	int rc;

	if ((rc = ack_secret_load(repo, secret, err)) != 0)
		return rc;
	if ((w->hashes = calloc(nteams + 1, sizeof(*w->hashes))) == NULL) {
		OPENSSL_cleanse(secret, sizeof(secret));
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < nteams; k++) {
		ack_token(secret, alert_id, w->teams[k].team, token);
		ack_token_hash(token, w->hashes[k]);
		w->teams[k].token_hash = w->hashes[k];
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}

int
intake_submit(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, const struct intake_request *rq,
    struct intake_result *res, struct tocsin_err *err)
{
	struct intake_work w;
	struct store_signature ssig[CERTS_MAX_SIGS];
	struct store_alert a;
	const char *doc = NULL;
	size_t doclen = 0, nteams = 0;
	char details[TOCSIN_ERRLEN + 64];
	int rc;

	memset(&w, 0, sizeof(w));
	memset(res, 0, sizeof(*res));
	rc = intake_check(repo, st, cx, rq, &w, res, &doc, &doclen, err);
	if (rc == 0)
		rc = intake_refers(repo, st, &w, res, err);
	if (rc == 0)
		rc = intake_plan(repo, rq->now, &w, &nteams, err);
	if (rc == 0 && (rc = intake_new_id(rq->now, res->alert_id,
	    sizeof(res->alert_id))) != 0)
		(void)tocsin_fail(err, rc, "cannot draw random bytes for an id");
	if (rc == 0)
		rc = intake_tokens(repo, res->alert_id, &w, nteams, err);
	if (rc == 0) {
		size_t si = 0;

		for (size_t i = 0; i < w.sigs.n; i++) {
			const struct certs_sig *s = &w.sigs.sig[i];
			size_t f;

			for (f = 0; f < rq->nsigs; f++)
				if (s->sigfile == rq->sig_paths[f])
					break;
			if (s->issuer == NULL)
				continue;	/* not an issuer: not counted */
			ssig[si++] = (struct store_signature){
				.issuer = s->issuer,
				.kind = s->kind == CERTS_CMS ? "cms" :
				    f < rq->nsigs ? "openpgp" : "openpgp-inline",
				.signer = s->signer,
				/* an inline signature is the signed file */
				.sig = f < rq->nsigs ? w.sigbuf[f] : w.raw,
				.sig_len = f < rq->nsigs ? w.siglen[f] : w.rawlen,
			};
		}
		a = (struct store_alert){
			.id = res->alert_id, .identifier = w.cap->identifier,
			.sender = w.cap->sender, .sent = w.cap->sent,
			.sent_t = (int64_t)w.cap->sent_t, .status = w.cap->status,
			.msg_type = w.cap->msg_type, .scope = w.cap->scope,
			.severity = w.cap->max_severity,
			.headline = w.cap->ninfos ? w.cap->infos[0].headline : NULL,
			.references = w.cap->references,
			.cap = doc, .cap_len = doclen, .received = rq->now,
			.stops_alert = w.refers[0] != '\0' ? w.refers : NULL,
			.stop_teams = w.stops, .nstop_teams = w.nstops,
			.stop_state = w.no_ladder ? "cancelled" : "updated",
		};
		rc = store_submit(st, &a, ssig, si, w.teams, nteams, w.plan.d,
		    w.plan.n, rq->actor, err);
		if (rc == 0)
			res->ndeliveries = w.plan.n;
	}
	if (rc != 0) {
		struct tocsin_err aerr;

		res->alert_id[0] = '\0';
		(void)snprintf(details, sizeof(details), "exit=%d %s",
		    tocsin_exit_code(rc), err->msg);
		(void)store_audit(st, rq->now, rq->actor, "refuse",
		    res->identifier[0] ? res->identifier : "(unparsed)", details,
		    &aerr);
	}
	intake_work_free(&w);
	return rc;
}
