/*
 * verify.h: contact checks (tocsin verify-contacts) and stale contacts.
 */
#ifndef VERIFY_H
#define VERIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "certs.h"
#include "policy.h"
#include "store.h"
#include "tocsin.h"

struct verify_result {
	char alert_id[64];
	size_t nteams, ndeliveries;
};

/* TOCSIN_EUSAGE when one of only[] is no team or group. */
int verify_names_check(const struct policy_repo *repo,
    const char *const *only, size_t nonly, struct tocsin_err *err);

/*
 * Queue a check of every contact of the teams named in only[] (team ids
 * or group names; all teams when nonly is 0): an alert of status System
 * made by the gateway and signed by its key (its CAP document carries the
 * gateway's detached signature, as an alert carries its issuers'), one PGP
 * e-mail and one SMS to the mobile per
 * contact that has them, no ladder.  0, or an error with nothing queued.
 */
int verify_campaign(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, const char *const *only, size_t nonly, int64_t now,
    const char *actor, struct verify_result *res, struct tocsin_err *err);

/* A contact not confirmed within gateway.verify_after. */
struct verify_contact {
	const char *team, *contact;	/* borrowed from the repository */
	int64_t verified;		/* last confirmed; 0 never */
	struct policy_src src;		/* where the repository has it */
};

/* The stale contacts of the repository at now, in repository order, into
   *ret (malloc'd array, strings borrowed); *total counts all contacts. */
int verify_stale(const struct policy_repo *repo, struct store *st,
    int64_t now, struct verify_contact **ret, size_t *n, size_t *total,
    struct tocsin_err *err);

/* The stale list as text (one line each) or JSON. */
void verify_print(FILE *out, const struct verify_contact *v, size_t n,
    size_t total, int64_t verify_after, bool json);

#endif
