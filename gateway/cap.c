/*
 * cap.c: OASIS CAP 1.2 alerts from untrusted bytes.
 *
 * Refuses before parsing what must never reach libxml2's entity machinery:
 * NUL bytes (which also rules out UTF-16, where markup could hide) and any
 * DOCTYPE, so no DTD is loaded and no entity, internal or external, is ever
 * expanded.  libxml2 then runs with XML_PARSE_NONET and without NOENT or
 * DTDLOAD, through a parser context of its own so no global state changes
 * and nothing is printed.  Every element's text is bounded; the required
 * elements and CAP 1.2's value sets are checked, each refusal naming the
 * element.  Unknown elements are ignored (CAP is extensible).
 */
#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "base.h"
#include "cap.h"

/* The order of enum policy_severity (policy/policy.h), kept apart so the
   parser depends on no other module. */
static const char *const cap_severities[] = { "Unknown", "Minor", "Moderate",
	"Severe", "Extreme", NULL };
static const char *const cap_statuses[] = { "Actual", "Exercise", "System",
	"Test", "Draft", NULL };
static const char *const cap_msg_types[] = { "Alert", "Update", "Cancel",
	"Ack", "Error", NULL };
static const char *const cap_scopes[] = { "Public", "Restricted", "Private",
	NULL };
static const char *const cap_categories[] = { "Geo", "Met", "Safety",
	"Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
	"CBRNE", "Other", NULL };
static const char *const cap_urgencies[] = { "Immediate", "Expected",
	"Future", "Past", "Unknown", NULL };
static const char *const cap_certainties[] = { "Observed", "Likely",
	"Possible", "Unlikely", "Unknown", NULL };

static pthread_once_t cap_once = PTHREAD_ONCE_INIT;

static void
cap_init(void)
{
	xmlInitParser();
}

static int
cap_in(const char *const *set, const char *v)
{
	for (int i = 0; set[i] != NULL; i++)
		if (strcmp(set[i], v) == 0)
			return i;
	return -1;
}

static void
cap_set_list(const char *const *set, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; set[i] != NULL && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    i == 0 ? "" : set[i + 1] == NULL ? " or " : ", ", set[i]);
}

static int
cap_check_set(const char *elem, const char *v, const char *const *set,
    struct tocsin_err *err)
{
	char list[200];

	if (cap_in(set, v) >= 0)
		return 0;
	cap_set_list(set, list, sizeof(list));
	return tocsin_fail(err, TOCSIN_EDATA, "<%s> is \"%.64s\"; expected %s",
	    elem, v, list);
}

static bool
cap_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    strcmp((const char *)n->ns->href, CAP_NS) == 0 &&
	    strcmp((const char *)n->name, name) == 0;
}

/* The element's text, trimmed (keep_inner: only ends are trimmed, which is
   all we ever do), bounded by CAP_MAX_TEXT. */
static int
cap_text(const xmlNode *n, char **ret, struct tocsin_err *err)
{
	xmlChar *c = xmlNodeGetContent(n);
	const char *s, *e;
	size_t len;

	*ret = NULL;
	if (c == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	s = (const char *)c;
	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	len = (size_t)(e - s);
	if (len > CAP_MAX_TEXT) {
		xmlFree(c);
		return tocsin_fail(err, TOCSIN_EDATA, "<%s> on line %ld is %zu "
		    "bytes, over the limit of %d", (const char *)n->name,
		    (long)xmlGetLineNo(n), len, CAP_MAX_TEXT);
	}
	if ((*ret = strndup(s, len)) == NULL) {
		xmlFree(c);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	xmlFree(c);
	return 0;
}

/* A single-valued element: refuse a second occurrence. */
static int
cap_once_text(const xmlNode *n, char **slot, struct tocsin_err *err)
{
	if (*slot != NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "<%s> appears twice "
		    "(line %ld); CAP allows it once", (const char *)n->name,
		    (long)xmlGetLineNo(n));
	return cap_text(n, slot, err);
}

static int
cap_2d(const char *p, int *v)
{
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
		return -1;
	*v = (p[0] - '0') * 10 + (p[1] - '0');
	return 0;
}

int
cap_datetime_parse(const char *s, time_t *ret)
{
	struct tm tm;
	int y = 0, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	const char *p = s;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	for (int i = 0; i < 4; i++, p++) {
		if (!isdigit((unsigned char)*p))
			return TOCSIN_EDATA;
		y = y * 10 + (*p - '0');
	}
	if (*p++ != '-' || cap_2d(p, &mo) || p[2] != '-' || cap_2d(p + 3, &d) ||
	    p[5] != 'T' || cap_2d(p + 6, &h) || p[8] != ':' ||
	    cap_2d(p + 9, &mi) || p[11] != ':' || cap_2d(p + 12, &se))
		return TOCSIN_EDATA;
	p += 14;
	if (*p == '.') {		/* fractional seconds: allowed, dropped */
		p++;
		if (!isdigit((unsigned char)*p))
			return TOCSIN_EDATA;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (cap_2d(p + 1, &oh) || p[3] != ':' || cap_2d(p + 4, &om))
			return TOCSIN_EDATA;
		p += 6;
	} else {
		return TOCSIN_EDATA;
	}
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || se > 60 || oh > 14 || om > 59)
		return TOCSIN_EDATA;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if ((t = timegm(&tm)) == (time_t)-1)
		return TOCSIN_EDATA;
	/* timegm normalises 31 February into March: refuse such dates */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return TOCSIN_EDATA;
	*ret = t - sign * (oh * 3600 + om * 60);
	return 0;
}

static int
cap_check_time(const char *elem, const char *v, time_t *out,
    struct tocsin_err *err)
{
	time_t t;

	if (v == NULL)
		return 0;
	if (cap_datetime_parse(v, &t) != 0)
		return tocsin_fail(err, TOCSIN_EDATA, "<%s> is \"%.64s\"; expected "
		    "a CAP dateTime such as 2026-11-25T10:00:00-00:00", elem, v);
	if (out != NULL)
		*out = t;
	return 0;
}

/* Split <addresses>: space-delimited, "quoted entries" may hold spaces. */
static int
cap_split_addresses(struct cap_alert *a, const char *s, struct tocsin_err *err)
{
	size_t cap = 0;

	while (*s) {
		const char *b, *e;

		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (*s == '\0')
			break;
		if (*s == '"') {
			b = ++s;
			while (*s && *s != '"')
				s++;
			e = s;
			if (*s == '"')
				s++;
		} else {
			b = s;
			while (*s && *s != ' ' && *s != '\t' && *s != '\n' &&
			    *s != '\r')
				s++;
			e = s;
		}
		if (e == b)
			continue;
		if (a->naddresses >= CAP_MAX_ADDRESSES)
			return tocsin_fail(err, TOCSIN_EDATA, "<addresses> names "
			    "more than %d addresses", CAP_MAX_ADDRESSES);
		if (base_grow(&a->addresses, &cap, a->naddresses + 1,
		    sizeof(*a->addresses)) != 0)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		if ((a->addresses[a->naddresses] = strndup(b, (size_t)(e - b))) ==
		    NULL)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		a->naddresses++;
	}
	return 0;
}

static int
cap_parse_area(const xmlNode *n, struct cap_info *in, struct tocsin_err *err)
{
	struct cap_area *ar;
	size_t cap;
	int rc;

	if (in->nareas >= CAP_MAX_AREAS)
		return tocsin_fail(err, TOCSIN_EDATA, "more than %d <area> in one "
		    "<info>", CAP_MAX_AREAS);
	cap = in->nareas;
	if (base_grow(&in->areas, &cap, in->nareas + 1, sizeof(*in->areas)) != 0)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	ar = &in->areas[in->nareas++];
	memset(ar, 0, sizeof(*ar));
	for (const xmlNode *c = n->children; c != NULL; c = c->next)
		if (cap_is(c, "areaDesc") &&
		    (rc = cap_once_text(c, &ar->area_desc, err)) != 0)
			return rc;
	if (ar->area_desc == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "<area> on line %ld has no "
		    "<areaDesc>", (long)xmlGetLineNo(n));
	return 0;
}

static int
cap_parse_info(const xmlNode *n, struct cap_info *in, struct tocsin_err *err)
{
	static const struct {
		const char *name;
		size_t off;
	} single[] = {
		{ "language", offsetof(struct cap_info, language) },
		{ "event", offsetof(struct cap_info, event) },
		{ "urgency", offsetof(struct cap_info, urgency) },
		{ "severity", offsetof(struct cap_info, severity) },
		{ "certainty", offsetof(struct cap_info, certainty) },
		{ "senderName", offsetof(struct cap_info, sender_name) },
		{ "headline", offsetof(struct cap_info, headline) },
		{ "description", offsetof(struct cap_info, description) },
		{ "instruction", offsetof(struct cap_info, instruction) },
		{ "web", offsetof(struct cap_info, web) },
		{ "contact", offsetof(struct cap_info, contact) },
		{ "effective", offsetof(struct cap_info, effective) },
		{ "onset", offsetof(struct cap_info, onset) },
		{ "expires", offsetof(struct cap_info, expires) },
	};
	size_t ncat = 0;
	int rc;

	for (const xmlNode *c = n->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (cap_is(c, "category")) {
			char *v = NULL;

			if ((rc = cap_text(c, &v, err)) != 0)
				return rc;
			rc = cap_check_set("category", v, cap_categories, err);
			free(v);
			if (rc != 0)
				return rc;
			ncat++;
			continue;
		}
		if (cap_is(c, "area")) {
			if ((rc = cap_parse_area(c, in, err)) != 0)
				return rc;
			continue;
		}
		for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
			if (cap_is(c, single[i].name) && (rc = cap_once_text(c,
			    (char **)((char *)in + single[i].off), err)) != 0)
				return rc;
	}
	if (ncat == 0)
		return tocsin_fail(err, TOCSIN_EDATA, "<info> on line %ld has no "
		    "<category>", (long)xmlGetLineNo(n));
	if (in->event == NULL || in->urgency == NULL || in->severity == NULL ||
	    in->certainty == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "<info> on line %ld lacks "
		    "<%s>, which CAP requires", (long)xmlGetLineNo(n),
		    in->event == NULL ? "event" : in->urgency == NULL ? "urgency" :
		    in->severity == NULL ? "severity" : "certainty");
	if ((rc = cap_check_set("urgency", in->urgency, cap_urgencies, err)) ||
	    (rc = cap_check_set("severity", in->severity, cap_severities, err)) ||
	    (rc = cap_check_set("certainty", in->certainty, cap_certainties,
	    err)) || (rc = cap_check_time("effective", in->effective, NULL,
	    err)) || (rc = cap_check_time("onset", in->onset, NULL, err)) ||
	    (rc = cap_check_time("expires", in->expires, NULL, err)))
		return rc;
	if (in->language == NULL && (in->language = strdup("en-US")) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	return 0;
}

/* identifier and sender: no spaces, commas or markup characters, bounded. */
static int
cap_check_token(const char *elem, const char *v, struct tocsin_err *err)
{
	size_t n = strlen(v);

	if (n == 0 || n > 256)
		return tocsin_fail(err, TOCSIN_EDATA, "<%s> must be 1 to 256 "
		    "bytes", elem);
	for (size_t i = 0; i < n; i++)
		if (v[i] == ' ' || v[i] == ',' || v[i] == '<' || v[i] == '&' ||
		    (unsigned char)v[i] < 0x21)
			return tocsin_fail(err, TOCSIN_EDATA, "<%s> \"%.64s\" "
			    "contains a space, comma or character CAP forbids "
			    "there", elem, v);
	return 0;
}

static int
cap_parse_alert(const xmlNode *root, struct cap_alert *a, struct tocsin_err *err)
{
	static const struct {
		const char *name;
		size_t off;
	} single[] = {
		{ "identifier", offsetof(struct cap_alert, identifier) },
		{ "sender", offsetof(struct cap_alert, sender) },
		{ "sent", offsetof(struct cap_alert, sent) },
		{ "status", offsetof(struct cap_alert, status) },
		{ "msgType", offsetof(struct cap_alert, msg_type) },
		{ "source", offsetof(struct cap_alert, source) },
		{ "scope", offsetof(struct cap_alert, scope) },
		{ "restriction", offsetof(struct cap_alert, restriction) },
		{ "note", offsetof(struct cap_alert, note) },
		{ "references", offsetof(struct cap_alert, references) },
	};
	static const char *const required[] = { "identifier", "sender", "sent",
		"status", "msgType", "scope" };
	char *addresses = NULL;
	int rc;

	for (const xmlNode *c = root->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (cap_is(c, "info")) {
			size_t cap;

			if (a->ninfos >= CAP_MAX_INFOS) {
				free(addresses);
				return tocsin_fail(err, TOCSIN_EDATA, "more than "
				    "%d <info> blocks", CAP_MAX_INFOS);
			}
			cap = a->ninfos;
			if (base_grow(&a->infos, &cap, a->ninfos + 1,
			    sizeof(*a->infos)) != 0) {
				free(addresses);
				return tocsin_fail(err, TOCSIN_ENOMEM,
				    "out of memory");
			}
			memset(&a->infos[a->ninfos], 0, sizeof(*a->infos));
			a->ninfos++;
			if ((rc = cap_parse_info(c, &a->infos[a->ninfos - 1],
			    err)) != 0) {
				free(addresses);
				return rc;
			}
			continue;
		}
		if (cap_is(c, "addresses")) {
			if ((rc = cap_once_text(c, &addresses, err)) != 0) {
				free(addresses);
				return rc;
			}
			continue;
		}
		for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
			if (cap_is(c, single[i].name) && (rc = cap_once_text(c,
			    (char **)((char *)a + single[i].off), err)) != 0) {
				free(addresses);
				return rc;
			}
	}
	if (addresses != NULL) {
		rc = cap_split_addresses(a, addresses, err);
		free(addresses);
		if (rc != 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		for (size_t k = 0; k < sizeof(single) / sizeof(single[0]); k++)
			if (strcmp(single[k].name, required[i]) == 0 &&
			    *(char **)((char *)a + single[k].off) == NULL)
				return tocsin_fail(err, TOCSIN_EDATA, "the alert "
				    "lacks <%s>, which CAP requires", required[i]);
	if ((rc = cap_check_token("identifier", a->identifier, err)) ||
	    (rc = cap_check_token("sender", a->sender, err)) ||
	    (rc = cap_check_set("status", a->status, cap_statuses, err)) ||
	    (rc = cap_check_set("msgType", a->msg_type, cap_msg_types, err)) ||
	    (rc = cap_check_set("scope", a->scope, cap_scopes, err)) ||
	    (rc = cap_check_time("sent", a->sent, &a->sent_t, err)))
		return rc;
	if (strcmp(a->scope, "Restricted") == 0 && a->restriction == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "<scope> is Restricted but "
		    "there is no <restriction>");
	if (strcmp(a->scope, "Private") == 0 && a->naddresses == 0)
		return tocsin_fail(err, TOCSIN_EDATA, "<scope> is Private but "
		    "<addresses> names no one");
	if ((strcmp(a->msg_type, "Update") == 0 ||
	    strcmp(a->msg_type, "Cancel") == 0) && a->references == NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "<msgType> %s needs "
		    "<references> naming the earlier alert", a->msg_type);
	for (size_t i = 0; i < a->ninfos; i++) {
		int s = cap_in(cap_severities, a->infos[i].severity);

		if (s > a->max_severity)
			a->max_severity = s;
	}
	return 0;
}

/* Whether the prolog declares a document type; scanned on raw bytes so the
   parser never gets to process one. */
static bool
cap_has_doctype(const char *d, size_t len)
{
	static const char pat[] = "<!DOCTYPE";
	static const char ent[] = "<!ENTITY";

	for (size_t i = 0; i + sizeof(ent) - 1 <= len; i++) {
		if (d[i] != '<' || d[i + 1] != '!')
			continue;
		if (i + sizeof(pat) - 1 <= len &&
		    strncasecmp(d + i, pat, sizeof(pat) - 1) == 0)
			return true;
		if (strncasecmp(d + i, ent, sizeof(ent) - 1) == 0)
			return true;
	}
	return false;
}

int
cap_parse(const char *data, size_t len, size_t max_len, struct cap_alert **ret,
    struct tocsin_err *err)
{
	xmlParserCtxtPtr ctx;
	xmlDocPtr doc;
	xmlNodePtr root;
	struct cap_alert *a;
	int rc;

	*ret = NULL;
	if (len > max_len)
		return tocsin_fail(err, TOCSIN_ETOOBIG, "the alert is %zu bytes, "
		    "over the limit of %zu bytes", len, max_len);
	if (len > INT32_MAX || memchr(data, '\0', len) != NULL)
		return tocsin_fail(err, TOCSIN_EDATA, "the alert contains a NUL "
		    "byte; CAP alerts are UTF-8 text");
	if (cap_has_doctype(data, len))
		return tocsin_fail(err, TOCSIN_EDATA, "the alert contains a "
		    "DOCTYPE or entity declaration; CAP alerts must not declare "
		    "entities or DTDs");
	pthread_once(&cap_once, cap_init);
	if ((ctx = xmlNewParserCtxt()) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	doc = xmlCtxtReadMemory(ctx, data, (int)len, "alert.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		const xmlError *xe = xmlCtxtGetLastError(ctx);

		rc = tocsin_fail(err, TOCSIN_EDATA, "the alert is not well-formed "
		    "XML: line %d: %.200s", xe ? xe->line : 0,
		    xe && xe->message ? xe->message : "parse error");
		/* libxml2 messages end in a newline: drop it */
		err->msg[strcspn(err->msg, "\n")] = '\0';
		xmlFreeParserCtxt(ctx);
		return rc;
	}
	xmlFreeParserCtxt(ctx);
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		xmlFreeDoc(doc);
		return tocsin_fail(err, TOCSIN_EDATA, "the alert contains a "
		    "DOCTYPE; CAP alerts must not declare entities or DTDs");
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "alert") != 0 ||
	    root->ns == NULL || strcmp((const char *)root->ns->href, CAP_NS) != 0) {
		rc = tocsin_fail(err, TOCSIN_EDATA, "the root element is not "
		    "<alert> in the CAP 1.2 namespace %s", CAP_NS);
		xmlFreeDoc(doc);
		return rc;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		xmlFreeDoc(doc);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	rc = cap_parse_alert(root, a, err);
	xmlFreeDoc(doc);
	if (rc != 0) {
		cap_free(a);
		return rc;
	}
	*ret = a;
	return 0;
}

void
cap_free(struct cap_alert *a)
{
	if (a == NULL)
		return;
	free(a->identifier); free(a->sender); free(a->sent); free(a->status);
	free(a->msg_type); free(a->source); free(a->scope);
	free(a->restriction); free(a->note); free(a->references);
	for (size_t i = 0; i < a->naddresses; i++)
		free(a->addresses[i]);
	free(a->addresses);
	for (size_t i = 0; i < a->ninfos; i++) {
		struct cap_info *in = &a->infos[i];

		free(in->language); free(in->event); free(in->urgency);
		free(in->severity); free(in->certainty); free(in->sender_name);
		free(in->headline); free(in->description); free(in->instruction);
		free(in->web); free(in->contact); free(in->effective);
		free(in->onset); free(in->expires);
		for (size_t k = 0; k < in->nareas; k++)
			free(in->areas[k].area_desc);
		free(in->areas);
	}
	free(a->infos);
	free(a);
}

/* Whether tag's primary subtag equals lang's ("ru" ~ "ru-RU"). */
static bool
cap_primary_match(const char *tag, const char *lang)
{
	size_t a = strcspn(tag, "-_"), b = strcspn(lang, "-_");

	return a == b && strncasecmp(tag, lang, a) == 0;
}

const struct cap_info *
cap_info_for(const struct cap_alert *a, const char *lang)
{
	if (a == NULL || a->ninfos == 0)
		return NULL;
	if (lang != NULL) {
		for (size_t i = 0; i < a->ninfos; i++)
			if (strcasecmp(a->infos[i].language, lang) == 0)
				return &a->infos[i];
		for (size_t i = 0; i < a->ninfos; i++)
			if (cap_primary_match(a->infos[i].language, lang))
				return &a->infos[i];
	}
	for (size_t i = 0; i < a->ninfos; i++)
		if (cap_primary_match(a->infos[i].language, "en"))
			return &a->infos[i];
	return &a->infos[0];
}
