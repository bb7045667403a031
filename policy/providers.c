/*
 * providers.c: providers.sms and providers.voice, the HTTP gateways that
 * send SMS and place calls.
 *
 * Each list is in the operator's order; a number is served by the
 * providers whose prefixes match it, the longest prefix first, so that a
 * national gateway serves its own country and the others take over when it
 * fails.  Rates and limits are configuration, never constants.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define POLICY_MAX_PROVIDERS 32
#define POLICY_MAX_PREFIXES 64
#define POLICY_MAX_HEADERS 16
#define POLICY_MAX_PINNED 8
#define POLICY_ADDRESS_LEN 45		/* INET6_ADDRSTRLEN - 1 */

static bool
prefix_valid(const char *p)
{
	size_t n = strlen(p);

	if (n < 1 || n > 8 || p[0] != '+')
		return false;
	for (size_t i = 1; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return n == 1 || p[1] != '0';
}

/* {name} placeholders a template may use. */
static bool
template_valid(const char *t, const char *const *names, char *bad,
    size_t badlen)
{
	for (const char *c = t; (c = strchr(c, '{')) != NULL; c++) {
		const char *e = strchr(c, '}');
		bool ok = false;

		if (e == NULL)
			break;		/* a lone brace is literal text */
		for (size_t i = 0; names[i] != NULL; i++)
			if ((size_t)(e - c - 1) == strlen(names[i]) &&
			    strncmp(c + 1, names[i], strlen(names[i])) == 0)
				ok = true;
		if (!ok && e - c - 1 > 0 && e - c - 1 < 32 &&
		    strspn(c + 1, "abcdefghijklmnopqrstuvwxyz_") ==
		    (size_t)(e - c - 1)) {
			snprintf(bad, badlen, "%.*s", (int)(e - c + 1), c);
			return false;
		}
	}
	return true;
}

/* Placeholders each template may use. */
static const char *const body_names[] = { "to", "from", "text", "id",
	"idempotency_key", NULL };
static const char *const header_names[] = { "secret", "id",
	"idempotency_key", NULL };
static const char *const url_names[] = { "idempotency_key", NULL };

/* The name, which also names the entry in where (of wlen bytes) for the
   messages that follow. */
static void
read_name(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *list, char *where, size_t wlen)
{
	char q[POLICY_QUOTE_LEN];

	snprintf(where, wlen, "providers.%s", list);
	if (policy_get_dup(ctx, g, where, "name", true, POLICY_MAX_NAME,
	    &pv->name) != 1)
		return;
	snprintf(where, wlen, "providers.%s %s", list,
	    policy_quote(q, sizeof(q), pv->name));
	/* The name goes into receipt URLs and delivery references. */
	if (strlen(pv->name) > 40 || pv->name[0] == '\0' ||
	    strspn(pv->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
	    "OPQRSTUVWXYZ0123456789-_") != strlen(pv->name))
		policy_err(ctx, config_setting_get_member(g, "name"),
		    "%s: a provider name is 1 to 40 letters, digits, "
		    "'-' or '_' (it is part of receipt URLs)", where);
}

/* Returns 0, or -1 when the kind is missing or unknown: what else is
   required depends on it, so the entry is read no further. */
static int
read_kind(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where, const char *list)
{
	char q[POLICY_QUOTE_LEN];
	const char *v;

	if (policy_get_string(ctx, g, where, "kind", true, 32, &v) != 1)
		return -1;
	if (strcmp(v, "twilio") == 0)
		pv->kind = POLICY_PK_TWILIO;
	else if (strcmp(v, "generic") == 0)
		pv->kind = POLICY_PK_GENERIC;
	else if (strcmp(v, "modem") == 0 && strcmp(list, "sms") == 0)
		pv->kind = POLICY_PK_MODEM;
	else if (strcmp(v, "modem") == 0) {
		policy_err(ctx, config_setting_get_member(g, "kind"),
		    "%s: a modem sends SMS only; list it in providers.sms",
		    where);
		return -1;
	} else {
		/* Say this one thing rather than guess. */
		policy_err(ctx, config_setting_get_member(g, "kind"),
		    "%s: kind %s is not \"twilio\"%s \"generic\"%s", where,
		    policy_quote(q, sizeof(q), v), strcmp(list, "sms") == 0 ?
		    "," : " or", strcmp(list, "sms") == 0 ? " or \"modem\"" :
		    "");
		return -1;
	}
	return 0;
}

static void
read_url(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where)
{
	char q[POLICY_QUOTE_LEN], bad[40];

	if (policy_get_dup(ctx, g, where, "url", true, POLICY_MAX_VALUE,
	    &pv->url) != 1)
		return;
	if (strncmp(pv->url, "https://", 8) != 0 &&
	    !(pv->local && strncmp(pv->url, "http://", 7) == 0))
		policy_err(ctx, config_setting_get_member(g, "url"),
		    "%s: url %s is not https://; alerts and auth tokens "
		    "must not cross the network in clear (http:// only "
		    "with local = true, for a gateway on this host)",
		    where, policy_quote(q, sizeof(q), pv->url));
	else if (strpbrk(pv->url, " \r\n\"") != NULL)
		policy_err(ctx, config_setting_get_member(g, "url"),
		    "%s: url %s has spaces or quotes; write a plain URL",
		    where, policy_quote(q, sizeof(q), pv->url));
	else if (pv->kind == POLICY_PK_GENERIC && !template_valid(pv->url,
	    url_names, bad, sizeof(bad)))
		policy_err(ctx, config_setting_get_member(g, "url"),
		    "%s: url has the unknown placeholder %s; a url may "
		    "use {idempotency_key} only", where, bad);
}

/* ca, secret, account and from; twilio requires the last three. */
static void
read_credentials(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where)
{
	bool twilio = pv->kind == POLICY_PK_TWILIO;
	char q[POLICY_QUOTE_LEN];

	(void)policy_get_path(ctx, g, where, "ca", false, &pv->ca);
	if (policy_get_path(ctx, g, where, "secret", twilio, &pv->secret) == 1)
		policy_check_secret(ctx, config_setting_get_member(g, "secret"),
		    where, "secret", pv->secret);
	if (policy_get_dup(ctx, g, where, "account", twilio, 64,
	    &pv->account) == 1 &&
	    strspn(pv->account, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789") != strlen(pv->account))
		policy_err(ctx, config_setting_get_member(g, "account"),
		    "%s: account must be letters and digits (e.g. AC...)",
		    where);
	if (policy_get_dup(ctx, g, where, "from", twilio, 64, &pv->from) == 1 &&
	    strpbrk(pv->from, " \r\n\"{}") != NULL)
		policy_err(ctx, config_setting_get_member(g, "from"),
		    "%s: from %s must be a number or a sender id without "
		    "spaces", where, policy_quote(q, sizeof(q), pv->from));
}

/* The prefixes served; "+" (every number) when none is given or good. */
static void
read_prefixes(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where)
{
	const config_setting_t *l;
	char q[POLICY_QUOTE_LEN];

	if (policy_get_strlist(ctx, g, where, "prefixes", false,
	    POLICY_MAX_PREFIXES, &l) == 1) {
		int m = config_setting_length(l);

		pv->prefixes = policy_xcalloc((size_t)m + 1, sizeof(char *));
		for (int k = 0; k < m; k++) {
			const char *p = config_setting_get_string_elem(l,
			    (unsigned)k);

			if (!prefix_valid(p))
				policy_err(ctx, l, "%s: prefix %s is not \"+\" "
				    "or an E.164 country or area prefix such "
				    "as \"+254\"", where,
				    policy_quote(q, sizeof(q), p));
			else
				pv->prefixes[pv->nprefixes++] =
				    policy_xstrdup(p);
		}
	}
	if (pv->prefixes == NULL) {
		pv->prefixes = policy_xcalloc(1, sizeof(char *));
		pv->prefixes[pv->nprefixes++] = policy_xstrdup("+");
	}
}

/* Why a that is not an IPv4 or IPv6 literal is refused, for the message
   that follows "address \"a\" ". */
static const char *
address_why(const char *a)
{
	unsigned char ip[sizeof(struct in6_addr)];
	const char *colon = strrchr(a, ':');
	char v4[POLICY_ADDRESS_LEN + 1];

	if (a[0] == '[')
		return "is in brackets; write an IPv6 address without them, "
		    "e.g. \"2001:db8::10\" (the port comes from the provider's "
		    "url or port)";
	if (strchr(a, '%') != NULL)
		return "has a scope id (%...), which is only meaningful on "
		    "one link; pin a global address, e.g. \"2001:db8::10\"";
	if (colon != NULL && strchr(a, ':') == colon && colon[1] != '\0' &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1) &&
	    (size_t)(colon - a) < sizeof(v4)) {
		memcpy(v4, a, (size_t)(colon - a));
		v4[colon - a] = '\0';
		if (inet_pton(AF_INET, v4, ip) == 1)
			return "has a port; write the address alone, e.g. "
			    "\"192.0.2.10\" (the port comes from the "
			    "provider's url or port)";
	}
	if (strchr(a, ':') != NULL)
		return "is not an IPv6 address; write e.g. \"2001:db8::10\"";
	return "is not an IP address; addresses are for when the name does "
	    "not resolve, so write IPv4 or IPv6 addresses such as "
	    "\"192.0.2.10\" or \"2001:db8::10\", never a host name";
}

int
policy_read_addresses(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, char ***ret, size_t *ret_n)
{
	unsigned char ip[sizeof(struct in6_addr)];
	const config_setting_t *l;
	char q[POLICY_QUOTE_LEN];
	int m, rc;

	*ret = NULL;
	*ret_n = 0;
	if ((rc = policy_get_strlist(ctx, g, where, "addresses", false,
	    POLICY_MAX_PINNED, &l)) != 1)
		return rc;
	if ((m = config_setting_length(l)) == 0) {
		policy_err(ctx, l, "%s: addresses is empty; give 1 to %d IP "
		    "addresses to connect to when the name does not resolve, "
		    "e.g. addresses = [ \"192.0.2.10\" ];, or remove it", where,
		    POLICY_MAX_PINNED);
		return -1;
	}
	*ret = policy_xcalloc((size_t)m, sizeof(char *));
	rc = 1;
	for (int k = 0; k < m; k++) {
		const char *a = config_setting_get_string_elem(l, (unsigned)k);

		if (strlen(a) > POLICY_ADDRESS_LEN) {
			policy_err(ctx, l, "%s: address %s is longer than the "
			    "%d characters of an IP address; write an IPv4 or "
			    "IPv6 address such as \"2001:db8::10\"", where,
			    policy_quote(q, sizeof(q), a), POLICY_ADDRESS_LEN);
			rc = -1;
		} else if (inet_pton(AF_INET, a, ip) != 1 &&
		    inet_pton(AF_INET6, a, ip) != 1) {
			policy_err(ctx, l, "%s: address %s %s", where,
			    policy_quote(q, sizeof(q), a), address_why(a));
			rc = -1;
		} else
			(*ret)[(*ret_n)++] = policy_xstrdup(a);
	}
	return rc;
}

void
policy_addresses_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Rates and limits, over their defaults; burst is the rate unless given. */
static void
read_limits(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where)
{
	(void)policy_get_int_field(ctx, g, where, "rate", false, 1, 10000,
	    &pv->rate);
	pv->burst = pv->rate;
	(void)policy_get_int_field(ctx, g, where, "burst", false, 1, 10000,
	    &pv->burst);
	(void)policy_get_int_field(ctx, g, where, "parallel", false, 1, 256,
	    &pv->parallel);
	(void)policy_get_int_field(ctx, g, where, "retries", false, 1, 10,
	    &pv->retries);
	if (policy_get_duration(ctx, g, where, "timeout", false,
	    &pv->timeout) == 1 && (pv->timeout < 1 || pv->timeout > 300))
		policy_err(ctx, config_setting_get_member(g, "timeout"),
		    "%s: timeout must be between 1s and 5m", where);
	(void)policy_get_int_field(ctx, g, where, "segments", false, 1, 10,
	    &pv->segments);
}

/* The settings of kind = "generic" are refused on another kind. */
static void
refuse_generic_only(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where)
{
	static const char *const only_generic[] = { "method",
		"content_type", "body", "headers", "id_field", "success",
		NULL };

	for (size_t i = 0; only_generic[i] != NULL; i++)
		if (config_setting_get_member(g, only_generic[i]))
			policy_err(ctx, config_setting_get_member(g,
			    only_generic[i]), "%s: %s is for kind = "
			    "\"generic\" only; remove it", where,
			    only_generic[i]);
}

void
policy_read_choice(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key, size_t maxlen,
    const char *const *allowed, const char *remedy, char **ret)
{
	const char *v;

	if (policy_get_string(ctx, g, where, key, false, maxlen, &v) != 1)
		return;
	for (size_t i = 0; allowed[i] != NULL; i++)
		if (strcmp(v, allowed[i]) == 0) {
			free(*ret);
			*ret = policy_xstrdup(v);
			return;
		}
	policy_err(ctx, config_setting_get_member(g, key), "%s: %s must be %s",
	    where, key, remedy);
}

static void
read_headers(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where)
{
	const config_setting_t *l;
	char q[POLICY_QUOTE_LEN], bad[40];
	int m;

	if (policy_get_strlist(ctx, g, where, "headers", false,
	    POLICY_MAX_HEADERS, &l) != 1)
		return;
	m = config_setting_length(l);
	pv->headers = policy_xcalloc((size_t)m + 1, sizeof(char *));
	for (int k = 0; k < m; k++) {
		const char *h = config_setting_get_string_elem(l, (unsigned)k);
		const char *colon = strchr(h, ':');

		if (colon == NULL || colon == h ||
		    strpbrk(h, "\r\n") != NULL || strlen(h) > 512)
			policy_err(ctx, l, "%s: header %s is not "
			    "\"Name: value\" on one line", where,
			    policy_quote(q, sizeof(q), h));
		else if (!template_valid(h, header_names, bad, sizeof(bad)))
			policy_err(ctx, l, "%s: header has the unknown "
			    "placeholder %s; use {secret} {id} "
			    "{idempotency_key}", where, bad);
		else
			pv->headers[pv->nheaders++] = policy_xstrdup(h);
	}
}

/* The HTTP statuses that mean accepted; 200, 201 and 202 by default. */
static void
read_success(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where)
{
	const config_setting_t *l;

	if ((l = config_setting_get_member(g, "success")) != NULL) {
		int m = config_setting_length(l);

		if ((config_setting_type(l) != CONFIG_TYPE_ARRAY &&
		    config_setting_type(l) != CONFIG_TYPE_LIST) || m > 8)
			m = -1;
		for (int k = 0; k < m; k++)
			if (config_setting_type(config_setting_get_elem(l,
			    (unsigned)k)) != CONFIG_TYPE_INT)
				m = -1;
		if (m < 0)
			policy_err(ctx, l, "%s: success must be a list of at "
			    "most 8 numbers, e.g. [ 200, 201, 202 ]", where);
		for (int k = 0; k < m; k++) {
			int st = config_setting_get_int_elem(l, k);

			if (st < 200 || st > 299)
				policy_err(ctx, l, "%s: success status %d is "
				    "not a 2xx status", where, st);
			else
				pv->success[pv->nsuccess++] = st;
		}
	}
	if (pv->nsuccess == 0) {
		pv->success[0] = 200;
		pv->success[1] = 201;
		pv->success[2] = 202;
		pv->nsuccess = 3;
	}
}

/* The request of kind = "generic": method, body and the rest. */
static void
read_generic(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where)
{
	static const char *const methods[] = { "POST", "PUT", NULL };
	static const char *const types[] = { "application/json",
		"application/x-www-form-urlencoded", NULL };
	char bad[40];

	pv->method = policy_xstrdup("POST");
	pv->content_type = policy_xstrdup("application/json");
	policy_read_choice(ctx, g, where, "method", 8, methods,
	    "\"POST\" or \"PUT\"", &pv->method);
	policy_read_choice(ctx, g, where, "content_type", 64, types,
	    "\"application/json\" or \"application/x-www-form-urlencoded\" "
	    "(values are escaped for it)", &pv->content_type);
	if (policy_get_dup(ctx, g, where, "body", true, 4096, &pv->body) == 1
	    && !template_valid(pv->body, body_names, bad, sizeof(bad)))
		policy_err(ctx, config_setting_get_member(g, "body"),
		    "%s: body has the unknown placeholder %s; use {to} {from} "
		    "{text} {id} {idempotency_key}", where, bad);
	read_headers(ctx, g, pv, where);
	(void)policy_get_dup(ctx, g, where, "id_field", false, 64,
	    &pv->id_field);
	read_success(ctx, g, pv, where);
}

/*
 * kind = "modem": the device, its speed, the PIN's file, and whether it is
 * the last resort.  A modem has no URL, account, sender or pinned
 * addresses (its SIM is the sender); one dialogue at a time, so parallel
 * is 1.  The device is checked here as a path only: that it is there and
 * answers is for `check` and the driver, since a USB modem may come after
 * the configuration is read.
 */
static void
read_modem(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *where)
{
	static const char *const http_only[] = { "url", "local", "ca",
		"account", "from", "addresses", "method", "content_type",
		"body", "headers", "id_field", "success", NULL };
	static const int bauds[] = { 9600, 19200, 38400, 57600, 115200,
		230400, 460800, 921600 };
	const config_setting_t *s;
	bool ok = false;

	for (size_t i = 0; http_only[i] != NULL; i++)
		if ((s = config_setting_get_member(g, http_only[i])) != NULL)
			policy_err(ctx, s, "%s: %s is for an HTTP provider; a "
			    "modem sends from its SIM over its serial device: "
			    "remove it", where, http_only[i]);
	if (policy_get_path(ctx, g, where, "device", true, &pv->device) == 1 &&
	    (strncmp(pv->device, "/dev/", 5) != 0 &&
	    strncmp(pv->device, "/run/", 5) != 0 &&
	    strncmp(pv->device, "/tmp/", 5) != 0))
		policy_err(ctx, config_setting_get_member(g, "device"),
		    "%s: device must be the modem's serial device under /dev "
		    "(e.g. \"/dev/serial/by-id/usb-...-if00\", which stays "
		    "the same across reboots; /run and /tmp for a test modem)",
		    where);
	if (policy_get_path(ctx, g, where, "secret", false, &pv->secret) == 1)
		policy_check_secret(ctx, config_setting_get_member(g, "secret"),
		    where, "secret", pv->secret);
	pv->baud = 115200;
	if (policy_get_int_field(ctx, g, where, "baud", false, 1, 921600,
	    &pv->baud) == 1) {
		for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
			ok = ok || bauds[i] == pv->baud;
		if (!ok)
			policy_err(ctx, config_setting_get_member(g, "baud"),
			    "%s: baud %d is not a serial line speed; use 9600, "
			    "19200, 38400, 57600, 115200 (the default), 230400, "
			    "460800 or 921600", where, pv->baud);
	}
	(void)policy_get_bool(ctx, g, where, "fallback", &pv->fallback);
	if ((s = config_setting_get_member(g, "parallel")) != NULL &&
	    pv->parallel != 1)
		policy_err(ctx, s, "%s: a modem has one dialogue at a time; "
		    "remove parallel (it is 1)", where);
	pv->parallel = 1;
}

/* One entry of a providers.sms or providers.voice list, into pv. */
static void
read_one(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_provider *pv, const char *list)
{
	static const char *const keys[] = { "name", "kind", "url", "local",
		"ca", "account", "secret", "from", "prefixes", "rate", "burst",
		"parallel", "retries", "timeout", "segments", "method",
		"content_type", "body", "headers", "id_field", "success",
		"addresses", "device", "baud", "fallback", NULL };
	char where[POLICY_QUOTE_LEN + 32];
	const config_setting_t *s;

	pv->src = policy_src_of(ctx, g);
	pv->rate = 10;
	pv->parallel = 4;
	pv->retries = 2;
	pv->timeout = 10;
	pv->segments = 3;
	read_name(ctx, g, pv, list, where, sizeof(where));
	(void)policy_check_keys(ctx, g, where, keys);
	if (read_kind(ctx, g, pv, where, list) != 0)
		return;
	if (pv->kind == POLICY_PK_MODEM) {
		/* a modem waits for the network's answer to each part */
		pv->rate = 1;
		pv->timeout = 60;
		read_prefixes(ctx, g, pv, where);
		read_limits(ctx, g, pv, where);
		read_modem(ctx, g, pv, where);
		return;
	}
	if ((s = config_setting_get_member(g, "device")) != NULL ||
	    (s = config_setting_get_member(g, "baud")) != NULL ||
	    (s = config_setting_get_member(g, "fallback")) != NULL)
		policy_err(ctx, s, "%s: %s is for kind = \"modem\" only; "
		    "remove it", where, config_setting_name(s));
	(void)policy_get_bool(ctx, g, where, "local", &pv->local);
	read_url(ctx, g, pv, where);
	read_credentials(ctx, g, pv, where);
	read_prefixes(ctx, g, pv, where);
	read_limits(ctx, g, pv, where);
	(void)policy_read_addresses(ctx, g, where, &pv->addresses,
	    &pv->naddresses);
	if (pv->kind == POLICY_PK_GENERIC)
		read_generic(ctx, g, pv, where);
	else
		refuse_generic_only(ctx, g, where);
}

void
policy_read_http_providers(struct policy_ctx *ctx,
    const config_setting_t *providers, const char *key,
    struct policy_provider **ret, size_t *ret_n)
{
	const config_setting_t *list = config_setting_get_member(providers,
	    key);
	int n;

	*ret = NULL;
	*ret_n = 0;
	if (list == NULL)
		return;
	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		policy_err(ctx, list, "providers: %s must be a list ( { ... }, "
		    "... ), not %s", key,
		    policy_type_name(config_setting_type(list)));
		return;
	}
	n = config_setting_length(list);
	if (n > POLICY_MAX_PROVIDERS) {
		policy_err(ctx, list, "providers.%s has %d entries, more than "
		    "the %d allowed", key, n, POLICY_MAX_PROVIDERS);
		n = POLICY_MAX_PROVIDERS;
	}
	*ret = policy_xcalloc((size_t)n + 1, sizeof(**ret));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = policy_list_elem_group(ctx, list, i,
		    "provider");
		struct policy_provider *pv = &(*ret)[*ret_n];

		if (g == NULL)
			continue;
		(*ret_n)++;
		read_one(ctx, g, pv, key);
		/* serve holds a modem's device: a second entry could never
		   open it */
		for (size_t k = 0; pv->device != NULL && k + 1 < *ret_n; k++)
			if ((*ret)[k].device != NULL &&
			    strcmp((*ret)[k].device, pv->device) == 0)
				policy_err(ctx, g, "providers.%s: the device %s is "
				    "already the modem of %s at %s:%d; a modem is "
				    "one provider (give it the prefixes of both)",
				    key, pv->device, (*ret)[k].name,
				    (*ret)[k].src.file, (*ret)[k].src.line);
		for (size_t k = 0; pv->name != NULL && k + 1 < *ret_n; k++)
			if ((*ret)[k].name != NULL &&
			    strcmp((*ret)[k].name, pv->name) == 0)
				policy_err(ctx, g, "providers.%s: the name %s is "
				    "already used at %s:%d; rename one", key,
				    pv->name, (*ret)[k].src.file,
				    (*ret)[k].src.line);
	}
}

static void
free_one(struct policy_provider *pv)
{
	free(pv->name);
	free(pv->url);
	free(pv->ca);
	free(pv->account);
	free(pv->secret);
	free(pv->from);
	for (size_t i = 0; i < pv->nprefixes; i++)
		free(pv->prefixes[i]);
	free(pv->prefixes);
	free(pv->method);
	free(pv->content_type);
	free(pv->body);
	for (size_t i = 0; i < pv->nheaders; i++)
		free(pv->headers[i]);
	free(pv->headers);
	free(pv->id_field);
	policy_addresses_free(pv->addresses, pv->naddresses);
	free(pv->device);
}

void
policy_providers_free(struct policy_provider *p, size_t n)
{
	for (size_t i = 0; i < n && p != NULL; i++)
		free_one(&p[i]);
	free(p);
}

size_t
policy_providers_for(const struct policy_provider *p, size_t n,
    const char *number, const struct policy_provider **out, size_t max)
{
	size_t k = 0;

	/* Longest matching prefix first; the configuration's order among
	   equal lengths (a stable selection by length, 8 down to 1); a
	   fallback after all the others, in the same order among them. */
	for (int last = 0; last <= 1; last++) {
		for (size_t len = 8; len >= 1 && k < max; len--) {
			for (size_t i = 0; i < n && k < max; i++) {
				size_t best = 0;

				if (p[i].fallback != (last == 1))
					continue;
				for (size_t j = 0; j < p[i].nprefixes; j++) {
					size_t l = strlen(p[i].prefixes[j]);

					if (strncmp(number, p[i].prefixes[j],
					    l) == 0 && l > best)
						best = l;
				}
				if (best == len)
					out[k++] = &p[i];
			}
		}
	}
	return k;
}
