/*
 * compose.h: an alert made from a template of the repository (`tocsin
 * compose`), checked as `submit` would check it before any signature, and
 * previewed: who it reaches on which channel at which step, and what each
 * channel would carry to one team.
 */
#ifndef COMPOSE_H
#define COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "cap.h"
#include "policy.h"
#include "tocsin.h"

#define COMPOSE_MAX_SET 32		/* --set values */
#define COMPOSE_VALUE_MAX 500		/* bytes of one value */

struct compose_req {
	const struct policy_template *tmpl;
	const char *const *to;		/* addresses; none: the template's */
	size_t nto;
	int severity;			/* POLICY_SEV_UNKNOWN: the template's */
	const char *status;		/* "Actual" (NULL) or "Exercise" */
	const char *const *set;		/* "name=value" */
	size_t nset;
	const char *sender;		/* the CAP sender */
	int64_t now;
};

/*
 * The CAP 1.2 document of rq into *ret (malloc'd, the caller's, *len its
 * length): the template's fields, its texts with every {placeholder}
 * filled from rq->set (values bounded to COMPOSE_VALUE_MAX bytes of UTF-8
 * without controls, escaped for XML), a fresh identifier, sent now.
 * TOCSIN_EUSAGE with the remedy for a placeholder without a value, a value
 * no placeholder uses, a bad NAME=VALUE, a status other than Actual or
 * Exercise, or no audience.
 */
int compose_build(const struct compose_req *rq, char **ret, size_t *len,
    struct tocsin_err *err);

/*
 * Check a CAP document as submit does before it looks at signatures: its
 * size, its form, its addresses.  0 with *ret the parsed alert (cap_free)
 * and mark (repo->nteams entries) the teams it reaches, *nteams their
 * count; else submit's refusal.
 */
int compose_check(const struct policy_repo *repo, const char *xml, size_t len,
    struct cap_alert **ret, bool *mark, size_t *nteams,
    struct tocsin_err *err);

/*
 * Teams of mark whose primary contact's first language the alert has no
 * text in, as lines "LANG: team, team, ..." into out (nothing when none).
 * The count of such teams.
 */
size_t compose_language_gaps(const struct policy_repo *repo,
    const struct cap_alert *alert, const bool *mark, struct base_buf *out);

/*
 * The preview into out: the audience (teams per step and channel, the
 * teams whose language the alert lacks), and, for team (NULL: none), each
 * step's deliveries and what each channel would carry (the e-mail's text,
 * the SMS and its parts, the call's TwiML, the fax's pages, its PDF
 * written into dir as TEAM-fax-CONTACT.pdf when dir is not NULL).  The ack
 * code and link are stand-ins: real ones are made when it is sent.
 */
int compose_preview(const struct policy_repo *repo,
    const struct cap_alert *alert, const bool *mark, const char *team,
    const char *dir, struct base_buf *out, struct tocsin_err *err);

#endif
