/*
 * intake.h: from a file and its signatures to a queued alert, or a refusal.
 *
 * Order matters: size limit, then every signature is verified over the
 * exact bytes, and only then is the XML parsed, so that an outsider cannot
 * reach the CAP parser without an issuer's key; then addresses, issuer
 * authorisation and quorum, the replay window, and one store transaction
 * for the alert with its whole step-0 plan.
 */
#ifndef INTAKE_H
#define INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "certs.h"
#include "policy.h"
#include "store.h"

struct intake_request {
	const char *alert_path;
	const char *const *sig_paths;
	size_t nsigs;
	const char *actor;	/* who submits, for the audit log */
	int64_t now;
};

struct intake_result {
	char alert_id[32];
	char identifier[260];	/* known once the CAP parsed, else "" */
	size_t nteams;
	size_t ndeliveries;
	const char *issuers[CERTS_MAX_SIGS];	/* borrowed from the repo */
	size_t nissuers;
};

/*
 * Verify, authorise, plan and queue one alert.  On refusal returns the code
 * (TOCSIN_EDATA/ETOOBIG malformed, EPERM signature/authorisation/replay,
 * ENOINPUT unreadable) with the reason in err, writes nothing but an audit
 * record of the refusal, and leaves res->alert_id empty.
 */
int intake_submit(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, const struct intake_request *rq,
    struct intake_result *res, struct tocsin_err *err);

/* Read a whole file of at most max bytes into *ret (malloc'd, NUL added). */
int intake_read_file(const char *path, size_t max, char **ret, size_t *len,
    struct tocsin_err *err);

/* Resolve a CAP alert's audience into marks over repo->teams. */
struct cap_alert;
int intake_audience(const struct policy_repo *repo,
    const struct cap_alert *alert, bool *mark, size_t *nteams,
    struct tocsin_err *err);

/* A new alert id, "YYYYMMDD-" and 12 random hex digits, into out (at
   least 22 bytes).  0, TOCSIN_EIO or TOCSIN_EINTERNAL. */
int intake_new_id(int64_t now, char *out, size_t len);

#endif
