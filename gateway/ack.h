/*
 * ack.h: per-team acknowledgement tokens and short codes.
 *
 * Both are derived with HMAC-SHA256 from a 32-byte secret kept in a 0600
 * file, the alert id and the team, so that the gateway can render them
 * again for any message without storing them in clear: the store only
 * ever needs their hashes.  The token carries 128 bits; the short code is
 * 8 digits, for SMS replies, voice keypads and fax forms.
 */
#ifndef ACK_H
#define ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "tocsin.h"

#define ACK_SECRET_LEN 32
#define ACK_TOKEN_LEN 32		/* hex digits */
#define ACK_CODE_LEN 8
#define ACK_HASH_LEN 64			/* hex digits of SHA-256 */
/* Who acknowledged by a team's link when no name was typed: the
   gateway's own words, never a quote. */
#define ACK_BY_LINK "someone with the link"

/*
 * Read the secret named by gateway.ack_secret, or by default ack.key beside
 * the store, which is made (32 random bytes, mode 0600) on first use.  A
 * file that others may read, or of the wrong size, is refused.
 */
int ack_secret_load(const struct policy_repo *repo,
    unsigned char out[ACK_SECRET_LEN], struct tocsin_err *err);
/* The path of that secret (gateway.ack_secret, or ack.key beside the
   store), into buf of len bytes. */
void ack_secret_path(const struct policy_repo *repo, char *buf, size_t len);

void ack_token(const unsigned char secret[ACK_SECRET_LEN],
    const char *alert_id, const char *team, char out[ACK_TOKEN_LEN + 1]);
void ack_code(const unsigned char secret[ACK_SECRET_LEN],
    const char *alert_id, const char *team, char out[ACK_CODE_LEN + 1]);
/*
 * One endpoint of one contact in a check of contacts: each gets a link
 * and a code of its own, so that only that endpoint's own link or code
 * (or the contact's number or key with it) confirms that contact.
 */
struct ack_endpoint {
	const char *alert_id, *team, *contact, *channel, *address;
};
void ack_ep_token(const unsigned char secret[ACK_SECRET_LEN],
    const struct ack_endpoint *ep, char out[ACK_TOKEN_LEN + 1]);
void ack_ep_code(const unsigned char secret[ACK_SECRET_LEN],
    const struct ack_endpoint *ep, char out[ACK_CODE_LEN + 1]);
/* Whether code is ep's code, compared in constant time. */
bool ack_ep_code_is(const unsigned char secret[ACK_SECRET_LEN],
    const struct ack_endpoint *ep, const char *code);

/* Whether code is the code of (alert, team), compared in constant time. */
bool ack_code_is(const unsigned char secret[ACK_SECRET_LEN],
    const char *alert_id, const char *team, const char *code);
struct store;

/*
 * Wrong codes, bounded alike on every path that takes a code unsigned
 * (e-mail reply, SMS reply, call keypress) and counted in the store, so
 * that the bounds hold across processes (one ingest-mail per message,
 * several serve) and restarts: at most ACK_TRY_FROM_MAX tries a minute
 * per sender, and ACK_TRY_CODE_MAX an hour per alert and team whoever
 * sends them and by whichever path, so that senders taken in turn cannot
 * guess a team's code.  A try is counted before it is compared; a right
 * code gives its try back.
 */
#define ACK_TRY_FROM_MAX 10
#define ACK_TRY_FROM_WINDOW 60
#define ACK_TRY_CODE_MAX 20
#define ACK_TRY_CODE_WINDOW 3600
#define ACK_TRY_ALERTS 32		/* a team's newest alerts a code may
					   be for */

/* One (alert, team) a code may be for, and its counter's key. */
struct ack_pair {
	char alert[64], team[64], key[144];
	const char *contact;		/* who acks by it; not owned */
};
/* Fills p for (alert, team), by contact. */
void ack_pair_init(struct ack_pair *p, const char *alert, const char *team,
    const char *contact);
/*
 * Appends to *p (n of them) one pair per alert of team among its
 * ACK_TRY_ALERTS newest, newest first.  *p is realloc'd, owned by the
 * caller, who frees it also after an error.
 */
int ack_pairs_add(struct store *st, const char *team, const char *contact,
    struct ack_pair **p, size_t *n, struct tocsin_err *err);
/*
 * Try code, sent by sender (a key naming the sender and its path, such as
 * "sms-from:+41791234567"), at the pairs p: count the try against the
 * sender and each pair, compare the code in constant time with the pairs
 * not over their bound, and give the try back when it is right.  0 with
 * *hit the index of the pair the code is right for, or -1 when it is not
 * right for any compared; *throttled when it was not compared with every
 * pair (the sender or a pair over its bound) and is not right for any
 * other.  A store error leaves both unset.
 */
/* A second way a code may be right for a pair, the caller's own (the
   own code of an endpoint in a check of contacts): fn says whether code
   is right for p.  NULL: the team's code only. */
struct ack_code_also {
	bool (*fn)(void *arg, const struct ack_pair *p, const char *code);
	void *arg;
};
int ack_code_try(struct store *st, const unsigned char secret[ACK_SECRET_LEN],
    const char *sender, const char *code, const struct ack_pair *p,
    size_t n, const struct ack_code_also *also, int64_t now, int *hit,
    bool *throttled, struct tocsin_err *err);

/* The channels on which the other contacts of team hear that it
   acknowledged (the policy's ack_notice), for store_ack_in; NULL: none. */
const char *const *ack_notice_channels(const struct policy_repo *repo,
    const char *team);

/*
 * Whether an unsigned ack (a link, a code, an unsigned file) stops the
 * ladder of team t: its policy says unsigned_acks.  A team with no
 * policy, or no team (NULL), counts it, as every ack path always has;
 * when it does not count, the ack is recorded only
 * (store_ack_in.recorded_only).
 */
bool ack_unsigned_counts(const struct policy_team *t);

/* The contact of team whose name is name (any case), as the repository
   spells it; NULL when none. */
const char *ack_contact_named(const struct policy_repo *repo,
    const char *team, const char *name);

/*
 * The two rules every signed ack keeps (e-mail replies, drop files): what
 * names a signature for "acks once" is SHA-256 (hex) of its key's
 * fingerprint, its creation time and the text it signed (len bytes, as
 * OpenPGP's text mode reads it: without the white space that ends a line,
 * any line end as one, no empty lines at the end).  Not of its bytes:
 * armour, unhashed subpackets and (EC)DSA's second form of the same
 * signature change the bytes but not what was signed by whom and when;
 * the text is in it so that two acks a contact signs within one second
 * (a mail and a drop file) are two.  The store keeps it with the ack
 * (store_ack_in.sig_digest).
 */
void ack_sig_digest(const char *signer, int64_t created, const char *text,
    size_t len, char out[65]);
/* Whether a signature made at created may ack an alert accepted at
   received: it is dated, and not before. */
bool ack_sig_in_time(int64_t created, int64_t received);

/* What the store keeps of a token: its SHA-256, in hex.  A stolen store
   gives no working link. */
void ack_token_hash(const char *token, char out[ACK_HASH_LEN + 1]);
/* public_url + "ack/" + token, with one slash between them. */
void ack_url(const char *public_url, const char *token, char *out,
    size_t outlen);

struct store_ack_in;

/*
 * An ack an operator took and vouches for (tocsin ack; not a signature):
 * a holds alert_id, team, by, via (how: "phone") and note as the operator
 * gave them.  It is recorded unsigned at now by actor, via "operator:HOW"
 * (written into via_buf of via_len bytes, and a->via then points there),
 * with the team's notice channels and the contact named by, if any.  0;
 * 1 when the team had acknowledged already (this ack is recorded too);
 * or negative with err.
 */
int ack_by_operator(const struct policy_repo *repo, struct store *st,
    struct store_ack_in *a, char *via_buf, size_t via_len,
    const char *actor, int64_t now, struct tocsin_err *err);

#endif
