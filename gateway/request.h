/*
 * request.h: a team asks the coordination centre's desk for help (issue
 * 22), on the paths acks already use, each authenticated as strictly as a
 * signed ack:
 *   - an e-mail to the gateway (tocsin ingest-mail) whose text, under a
 *     good signature of a contact's pinned key, has a line "Request:";
 *   - an SMS from a contact's registered mobile starting "HELP" (unsigned
 *     strength, as SMS acks are);
 *   - a file "request-*.txt" clear-signed by a contact's pinned key in
 *     their team's drop folder (ack/ on the drop host).
 * A request is stored (team, contact, how, strength, its text cleaned and
 * bounded, time), audited, pages gateway.desk_team with the desk's own
 * ladder (an alert the gateway makes and queues itself, whose text is the
 * gateway's own words and ids, never the request's), and the requesting
 * team gets a receipt with the request's reference.  What cannot be tied
 * to a contact of the team it is for is refused, audited, never stored.
 *
 * The desk may relay a request (tocsin relay): a CAP draft, unsigned, that
 * issuers sign and submit like any alert.  Nothing reaches the community
 * without their signatures and quorum.
 */
#ifndef REQUEST_H
#define REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "certs.h"
#include "policy.h"
#include "store.h"
#include "tocsin.h"

/* Bytes of a request's text kept (UTF-8, cut at a character). */
#define REQUEST_TEXT_MAX 2000
/* Bytes of outside text looked at for a request at all. */
#define REQUEST_IN_MAX (64 * 1024)
/* How old a request's signature may be: a signed request is a fresh
   question, and with the store's one-use rule this bounds what an old
   signed text can do. */
#define REQUEST_SIG_MAX_AGE (3 * 86400)
#define REQUEST_SIG_SKEW 300		/* seconds a signer's clock may run
					   ahead */

/* What a request's text says, once parsed and cleaned. */
struct request_text {
	char text[REQUEST_TEXT_MAX + 1];	/* NUL-terminated */
	size_t len;
	char team[64];			/* "Team:" line, "" when none */
	bool name_us;			/* "Name-us: yes": the relay may name
					   the requesting team */
	bool cut;			/* the text was longer than the limit */
	size_t removed;			/* characters taken out (controls,
					   bidi overrides, ill-formed bytes) */
};

/*
 * Whether len bytes of text (signed e-mail or drop file text) are a
 * request: a line that starts, after blanks, with "Request:" in any case.
 * When so (0), out holds its text: what follows "Request:" on that line
 * and every line after it, but for the header lines right after it
 * ("Team: ID", "Name-us: yes|no") up to the first blank line.  -1: not a
 * request (an ack, say).  At most REQUEST_IN_MAX bytes are looked at.
 */
int request_parse(const char *text, size_t len, struct request_text *out);

/*
 * An SMS "HELP ..." (any case, then a blank, ':' or the end): 0 with the
 * text after HELP in out; -1 when it is not one.
 */
int request_parse_sms(const char *text, size_t len, struct request_text *out);

/*
 * len bytes of outside text into out (outsz bytes, NUL added) as UTF-8:
 * C0 and C1 controls but LF and TAB, DEL, bidi overrides and isolates
 * (U+202A-202E, U+2066-2069), U+200E/200F, U+2028/2029 and ill-formed
 * bytes removed (CR LF as LF), cut at a whole character so that at most
 * outsz - 1 bytes are kept, blank lines at either end dropped.  The bytes
 * written; *cut when something was left out for room, *removed counts what
 * was taken out.
 */
size_t request_clean(const char *in, size_t len, char *out, size_t outsz,
    bool *cut, size_t *removed);

/* Where a request comes from, decided and authenticated by its path. */
struct request_in {
	const char *team;		/* the team asking */
	const char *contact;		/* the contact, by their name */
	const char *via;		/* "mail", "sms", "drop" */
	const char *strength;		/* "signed" or "unsigned" */
	const char *sig_digest;		/* names its signature (signed); a
					   signature makes one request */
	const struct request_text *text;
};

struct request_ctx {
	const struct policy_repo *repo;
	struct store *st;
	int64_t now;
	const char *actor;		/* for the audit log */
	tocsin_log_fn log;
	void *log_arg;
};

struct request_result {
	char id[40];			/* the reference, "R-..." */
	char page_alert[40];		/* the desk's page, "" when none */
	char receipt_alert[40];		/* the team's receipt, "" when none */
};

/*
 * Store the request in, audited ("request"), page the desk and queue the
 * team's receipt.  0 with res filled; TOCSIN_EPERM when its signature made
 * a request before (audited "request-refused"); a store error.  A page or
 * receipt that could not be queued is logged and leaves its field empty:
 * the request itself is kept.
 */
int request_take(struct request_ctx *c, const struct request_in *in,
    struct request_result *res, struct tocsin_err *err);

/*
 * Queue what request_take could not: the desk's page and the team's
 * receipt of each open request that has none noted (the store was busy at
 * the time, or gateway.desk_team was not set).  A page or receipt already
 * in the store under its identifier (queued, its note lost) is noted, not
 * made again.  Each queued or found is noted and audited
 * ("request-paged"); what still cannot be queued is logged and tried at
 * the next call.  The number queued into *ret_n (may be NULL).
 */
int request_catch_up(struct request_ctx *c, size_t *ret_n,
    struct tocsin_err *err);

/*
 * The contact of team id (NULL: any team) whose pinned key is fpr, and the
 * team: 0, or -1 when there is none.  A request signed by the contact of
 * another team for team id finds none.
 */
int request_signer(const struct policy_repo *repo, const char *team_id,
    const char *fpr, const struct policy_team **ret_team,
    const struct policy_contact **ret_contact);

/* Whether a signature made at created is fresh enough for a request. */
bool request_sig_in_time(int64_t created, int64_t now);

/* A refusal of a request: audited ("request-refused"), logged. */
void request_refuse(struct request_ctx *c, const char *via, const char *who,
    const char *why);

/* What tocsin relay makes of a request. */
struct request_relay_in {
	const char *id;			/* the request's reference */
	const char *const *to;		/* addresses: teams, groups, all */
	size_t nto;
	const struct policy_template *tmpl;	/* NULL: the default words */
	const char *sender;		/* the CAP sender: the desk */
};

/*
 * The CAP draft of request rin->id for the addresses rin->to into *ret
 * (malloc'd, the caller's; *ret_len bytes), checked as submit checks a
 * document before its signatures (compose_check): sender the desk, the
 * request's text as the description, the requesting team named only when
 * the request said "Name-us: yes"; a template gives the event, category,
 * urgency, certainty, severity and (when it has no placeholder) the
 * headline.  The draft is not signed and nothing is queued for the
 * community: issuers sign and submit it like any alert.  The request is
 * marked relayed (audited "request-relayed") and its team is told (an
 * alert of msgType Ack, its first step only), with the draft's
 * identifier.  The draft's identifier into ident (size 96).
 */
int request_relay(struct request_ctx *c, const struct request_relay_in *rin,
    char **ret, size_t *ret_len, char ident[96], struct tocsin_err *err);

/*
 * The requests in the store (all, or the open ones: not relayed yet),
 * newest first, to out: a table with each text below its line, every
 * outside string escaped for the terminal; or (json) one object
 * {"requests":[...]}.  The count into *ret_n (may be NULL).
 */
int request_list(struct store *st, FILE *out, bool json, bool all,
    size_t *ret_n, struct tocsin_err *err);

#endif
