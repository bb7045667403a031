/*
 * desk.h: the desk board, a read-only page of the listener at /desk.
 *
 * The issuing desk watches its active alerts there: per alert, its teams
 * grouped by where their ladders are (unacked at their first step,
 * escalated past it and still silent, unreached, acked), how long each
 * step has run, who acked how and how strongly, and each team's contact
 * cards with every repository attribute, so that someone at the desk can
 * reach a silent team by hand.  The page carries no script (it refreshes
 * itself by a meta tag), no ack code and no link token.
 *
 * Operators are named in gateway.desk_tokens, a 0600 file of lines
 * "NAME SHA256HEX": the SHA-256 of each operator's token (`tocsin
 * desk-token NAME` makes one), so that the file holds no secret a reader
 * could replay.  The browser's own HTTP Basic prompt carries the name and
 * the token (the listener sits behind the operator's TLS proxy, as the
 * ack pages do); the file is read again on every request, so an operator
 * taken out of it is refused at once.  Wrong credentials count against the
 * client's address: after DESK_MAX_FAILS in a minute every request from
 * it, right or wrong, gets 429 for DESK_BLOCK_SECONDS.
 */
#ifndef DESK_H
#define DESK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "policy.h"
#include "store.h"
#include "tocsin.h"

#define DESK_NAME_MAX 64		/* an operator's name, bytes */
#define DESK_TOKEN_BYTES 32		/* random bytes of a token */
#define DESK_TOKEN_LEN (2 * DESK_TOKEN_BYTES)	/* as lowercase hex */
#define DESK_FILE_MAX 65536		/* the token file, bytes */
#define DESK_MAX_OPERATORS 256
#define DESK_MAX_FAILS 10		/* wrong credentials a minute */
#define DESK_FAIL_WINDOW 60		/* seconds */
#define DESK_BLOCK_SECONDS 300		/* 429 after that */

struct desk_operator {
	char name[DESK_NAME_MAX + 1];
	unsigned char hash[32];		/* SHA-256 of the token's text */
};

/*
 * The len bytes of a token file (named path in errors) into *ret (n
 * entries, malloc'd, owned by the caller: free()).  Blank lines and lines
 * starting with '#' are skipped; every other line is NAME, one space or
 * tab, 64 hex digits.  A name is 1..DESK_NAME_MAX of [A-Za-z0-9._@-]; a
 * name given twice is refused.  TOCSIN_ECONFIG with "PATH:LINE: ..." on
 * the first bad line; nothing is returned then.
 */
int desk_tokens_parse(const char *text, size_t len, const char *path,
    struct desk_operator **ret, size_t *n, struct tocsin_err *err);

/* The same from the file at path, which must be a regular file of mode
   0600 (or stricter) and at most DESK_FILE_MAX bytes. */
int desk_tokens_load(const char *path, struct desk_operator **ret,
    size_t *n, struct tocsin_err *err);

/* Whether name and token are those of an operator: the token's SHA-256
   is compared with every entry's in constant time (CRYPTO_memcmp). */
bool desk_tokens_match(const struct desk_operator *ops, size_t n,
    const char *name, const char *token);

/* A fresh token (DESK_TOKEN_LEN hex digits and a NUL, from RAND_bytes)
   and the line of the token file for name ("NAME SHA256HEX", no
   newline): 0, or TOCSIN_EDATA for a name the file does not take, or
   TOCSIN_EUNAVAIL when no randomness can be had. */
int desk_token_make(const char *name, char token[DESK_TOKEN_LEN + 1],
    char *line, size_t linelen, struct tocsin_err *err);

/* "Authorization: Basic ..." into name and token (the text after the
   first ':'): 0, or -1 when it is not Basic, not base64, too long, or
   either part is empty. */
int desk_basic_parse(const char *header, char name[DESK_NAME_MAX + 1],
    char *token, size_t tokenlen);

/* Where a team's ladder is, in the board's order. */
enum desk_group { DESK_UNACKED, DESK_ESCALATED, DESK_UNREACHED, DESK_ACKED,
	DESK_STOPPED, DESK_NGROUPS };
enum desk_group desk_group_of(const struct store_team_row *t);
const char *desk_group_name(enum desk_group g);

/* The indexes of n team rows in the board's order (group, then the order
   they came in) into order (n entries). */
void desk_order(const struct store_team_row *t, size_t n, size_t *order);

/* One contact's card: every repository attribute, escaped. */
void desk_contact_html(struct base_buf *b, const struct policy_contact *c);

/* "3 min", "2 h 05 min", "1 d 4 h": how long secs is, for the board. */
void desk_span(char *out, size_t outlen, int64_t secs);

/* The page of one alert, at now: teams (with their deliveries d, each
   team's together, as store_deliveries returns them) in the board's
   order, each with its team's attributes and contacts from repo. */
void desk_alert_html(struct base_buf *pg, const struct policy_repo *repo,
    const struct store_alert_row *a, const struct store_team_row *t,
    size_t n, const struct store_delivery_row *d, size_t nd, int64_t now);

struct desk;
struct MHD_Connection;

/* A board over the listener's store connection st (used from the
   listener's thread alone) and repo, both borrowed; log(log_arg, line)
   writes a line.  *ret owned by the caller: desk_free().  NULL *ret
   (and 0) when gateway.desk_tokens is not set: /desk is then 404. */
int desk_new(const struct policy_repo *repo, struct store *st,
    void (*log)(void *, const char *), void *log_arg, struct desk **ret,
    struct tocsin_err *err);
void desk_free(struct desk *d);

/* Answer a request for url (starting "/desk") from the client at addr
   (the listener's reading of it, X-Forwarded-For believed only from the
   trusted proxy).  d may be NULL: 404.  An MHD_Result. */
int desk_serve(struct desk *d, struct MHD_Connection *c, const char *url,
    const char *method, const char *addr);

#endif
