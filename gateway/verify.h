/*
 * verify.h: contact checks (tocsin verify-contacts) and stale contacts.
 */
#ifndef VERIFY_H
#define VERIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "certs.h"
#include "channel.h"
#include "policy.h"
#include "store.h"
#include "tocsin.h"

struct verify_result {
	char alert_id[64];
	size_t nteams, ndeliveries;
};

#include "ack.h"

/* One endpoint of a contact that a check reaches. */
#define VERIFY_EPS (2 * CHAN_MAX)	/* each channel, and its emergency phone */
struct verify_endpoint {
	const char *channel, *address;	/* borrowed from the repository */
	const char *what;		/* "e-mail", "mobile", "phone",
					   "emergency phone", "fax", "drop" */
};

/* The endpoints of contact c that a check reaches (channels the gateway
   has a provider for), each once, into out; how many. */
size_t verify_endpoints(const struct policy_repo *repo,
    const struct policy_contact *c, struct verify_endpoint out[VERIFY_EPS]);

/* Whether code is the own code of one of contact c's endpoints (or of
   the team's drop) in the check of contacts alert; the endpoint into
   *ret. */
bool verify_code_of(const struct policy_repo *repo,
    const unsigned char secret[ACK_SECRET_LEN], const char *alert,
    const char *team, const struct policy_contact *c, const char *code,
    struct verify_endpoint *ret);
/* For ack_code_try: a check's own endpoint codes of the pair's contact;
   the endpoint matched is left in ep. */
struct verify_also {
	const struct policy_repo *repo;
	const unsigned char *secret;	/* ACK_SECRET_LEN bytes */
	struct verify_endpoint ep;	/* out, when matched */
	bool matched;			/* out */
};
bool verify_also_fn(void *arg, const struct ack_pair *p, const char *code);

/* TOCSIN_EUSAGE when one of only[] is no team, group, region:XX or all. */
int verify_names_check(const struct policy_repo *repo,
    const char *const *only, size_t nonly, struct tocsin_err *err);

/*
 * Queue a check of every contact of the teams named in only[] (team ids,
 * groups, region:XX or all; all teams when nonly is 0): an alert of status System
 * made by the gateway and signed by its key (its CAP document carries the
 * gateway's detached signature, as an alert carries its issuers'), one
 * message to every endpoint of every contact (verify_endpoints) and to the
 * team's drop, each with a link and code of its own, no ladder.  0, or an error with nothing queued.
 */
int verify_campaign(const struct policy_repo *repo, struct store *st,
    struct certs_ctx *cx, const char *const *only, size_t nonly, int64_t now,
    const char *actor, struct verify_result *res, struct tocsin_err *err);

/* An endpoint of a contact not confirmed within gateway.verify_after (or
   a contact without any endpoint: channel NULL). */
struct verify_contact {
	const char *team, *contact;	/* borrowed from the repository */
	const char *what, *channel, *address;	/* the endpoint */
	int64_t verified;		/* it was last confirmed; 0 never */
	int64_t contact_verified;	/* any endpoint of the contact */
	bool whole;			/* no endpoint of the contact is
					   confirmed: the contact is stale */
	bool first;			/* the contact's first entry */
	struct policy_src src;		/* where the repository has it */
};

/* The stale endpoints of the repository at now, in repository order, into
   *ret (malloc'd array, strings borrowed); *total counts all contacts. */
int verify_stale(const struct policy_repo *repo, struct store *st,
    int64_t now, struct verify_contact **ret, size_t *n, size_t *total,
    struct tocsin_err *err);
/* How many contacts of v are stale as a whole. */
size_t verify_stale_contacts(const struct verify_contact *v, size_t n);

/* The stale list as text (one line each) or JSON. */
void verify_print(FILE *out, const struct verify_contact *v, size_t n,
    size_t total, int64_t verify_after, bool json);

#endif
