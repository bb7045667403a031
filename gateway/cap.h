/*
 * cap.h: OASIS CAP 1.2 alerts, parsed from untrusted bytes.
 *
 * The parser runs libxml2 with no network access, no entity substitution and
 * no DTD loading; a document with a DOCTYPE is refused outright.  It checks
 * the required elements and the value sets of CAP 1.2 and refuses the first
 * problem with a sentence naming it.  Lengths of every element are bounded.
 */
#ifndef CAP_H
#define CAP_H

#include <stddef.h>
#include <time.h>

#include "tocsin.h"

#define CAP_NS "urn:oasis:names:tc:emergency:cap:1.2"
#define CAP_MAX_INFOS 32
#define CAP_MAX_ADDRESSES 512
#define CAP_MAX_AREAS 32
#define CAP_MAX_TEXT 65536	/* any one element's text */

struct cap_area {
	char *area_desc;
};

struct cap_info {
	char *language;		/* "en-US" when absent, as CAP says */
	char *event;
	char *urgency, *severity, *certainty;
	char *sender_name;	/* NULL when absent, likewise below */
	char *headline;
	char *description;
	char *instruction;
	char *web;
	char *contact;
	char *effective, *onset, *expires;	/* as written, CAP dateTime */
	struct cap_area *areas;
	size_t nareas;
};

struct cap_alert {
	char *identifier;
	char *sender;
	char *sent;		/* as written */
	time_t sent_t;		/* the same instant, UTC */
	char *status;		/* Actual Exercise System Test Draft */
	char *msg_type;		/* Alert Update Cancel Ack Error */
	char *source;
	char *scope;		/* Public Restricted Private */
	char *restriction;
	char *note;
	char *references;	/* raw "sender,identifier,sent ..." */
	char **addresses;	/* <addresses> split on spaces; "quoted names" kept whole */
	size_t naddresses;
	struct cap_info *infos;
	size_t ninfos;
	int max_severity;	/* highest enum policy_severity over infos, 0 if none */
};

/*
 * Parse len bytes of a CAP 1.2 document.  Refuses documents over max_len
 * (TOCSIN_ETOOBIG) and anything malformed (TOCSIN_EDATA), each with a
 * sentence in err.  On success *ret is owned by the caller (cap_free).
 */
int cap_parse(const char *data, size_t len, size_t max_len,
    struct cap_alert **ret, struct tocsin_err *err);
void cap_free(struct cap_alert *alert);

/* Parse a CAP dateTime ("2026-11-25T10:00:00-00:00") into UTC seconds. */
int cap_datetime_parse(const char *s, time_t *ret);

/* The info block for a language tag ("ru" matches "ru-RU"); falls back to
   "en", then to the first block.  NULL when the alert has none. */
const struct cap_info *cap_info_for(const struct cap_alert *alert,
    const char *lang);

#endif
