/*
 * sections.c: typed access to settings, and the readers of the sections
 * gateway, issuers, quorum, providers, policies and groups (teams.c reads
 * teams).
 *
 * A reader never stops at the first problem: it reports each one at its
 * setting's file:line with a remedy, stores what is good, and leaves what is
 * bad unset (NULL, "", defaults).  The repository is returned only when no
 * error was found, so half-set fields never escape; the checks in check.c
 * must only tolerate them.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "i18n.h"
#include "policy_int.h"
#include "utf8.h"

/* Example values for "add KEY = ...;" remedies. */
static const struct {
	const char *key;
	const char *example;
} examples[] = {
	{ "store", "\"state/tocsin.db\"" },
	{ "gnupg_home", "\"state/gnupg\"" },
	{ "signing_key", "\"40-hex fingerprint\"" },
	{ "pgp_engine", "\"rnp\"" },
	{ "openpgp", "\"40-hex fingerprint\"" },
	{ "pgp", "\"40-hex fingerprint\"" },
	{ "name", "\"...\"" },
	{ "issuers", "2" },
	{ "host", "\"127.0.0.1\"" },
	{ "from", "\"tocsin@alerts.example.net\"" },
	{ "steps", "( { after = \"0s\"; notify = [ \"primary:pgp-email\" ]; } )" },
	{ "after", "\"0s\"" },
	{ "notify", "[ \"primary:pgp-email\", \"primary:sms\" ]" },
	{ "id", "\"ke\"" },
	{ "domain", "\"ke\"" },
	{ "cctld_operator", "\"...\"" },
	{ "region", "\"AF\"" },
	{ "policy", "\"standard\"" },
	{ "contacts", "( { name = ...; ... } )" },
	{ "role", "\"Incident response lead\"" },
	{ "timezone", "\"Africa/Nairobi\"" },
	{ "languages", "[ \"en\" ]" },
	{ "service", "\"signal\"" },
	{ "user", "\"tocsin\"" },
	{ "key", "\"secrets/drop_ed25519\"" },
	{ "path", "\"/srv/drop\"" },
};

static const char *
policy_example(const char *key)
{
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++)
		if (strcmp(examples[i].key, key) == 0)
			return examples[i].example;
	return "...";
}

const char *
policy_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a number with a fraction";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "true or false";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	default:
		return "nothing";
	}
}

int
policy_check_keys(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *const *allowed)
{
	int n = config_setting_length(grp), rc = 0;

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, i);
		const char *name = s->name != NULL ? s->name : "";
		const char *best = NULL;
		size_t bestd = 3;
		bool known = false;
		char q[POLICY_QUOTE_LEN];

		for (size_t k = 0; allowed[k] != NULL && !known; k++)
			known = strcmp(name, allowed[k]) == 0;
		if (known)
			continue;
		/* Suggest a key only when it is close (a typo); the distance
		   is worked out for unknown keys only, since a repository of
		   thousands of contacts has tens of thousands of known ones. */
		for (size_t k = 0; allowed[k] != NULL; k++) {
			size_t d = policy_distance(name, allowed[k]);

			if (d < bestd) {
				bestd = d;
				best = allowed[k];
			}
		}
		rc = -1;
		if (best != NULL)
			policy_err(ctx, s, "%s: unknown key %s; did you mean "
			    "\"%s\"? correct or remove it", where,
			    policy_quote(q, sizeof(q), name), best);
		else
			policy_err(ctx, s, "%s: unknown key %s (a typo would "
			    "silently disable a setting); remove it", where,
			    policy_quote(q, sizeof(q), name));
	}
	return rc;
}

/* Whether s is well-formed UTF-8 without control characters; why says what
   is wrong. */
static bool
policy_text_ok(const char *s, const char **why)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len = strlen(s), skip;
	uint32_t cp;

	while (i < len) {
		size_t n = utf8_next(p + i, len - i, &cp, &skip);

		if (n == 0) {
			*why = "is not valid UTF-8; save the file as UTF-8";
			return false;
		}
		if (cp < 0x20 || cp == 0x7f) {
			*why = "holds a control character (a line break or "
			    "tab); write it on one line without them";
			return false;
		}
		i += n;
	}
	return true;
}

/* Check one string setting: type, length, text.  Reports and returns false
   when bad. */
static bool
policy_string_check(struct policy_ctx *ctx, const config_setting_t *s,
    const char *where, const char *key, size_t maxlen)
{
	const char *v, *why;
	size_t n;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		policy_err(ctx, s, "%s: %s must be a string, not %s; put the "
		    "value in double quotes", where, key,
		    policy_type_name(config_setting_type(s)));
		return false;
	}
	v = config_setting_get_string(s);
	n = strlen(v);
	if (n > maxlen) {
		policy_err(ctx, s, "%s: %s is %zu bytes long, more than the "
		    "%zu allowed; shorten it", where, key, n, maxlen);
		return false;
	}
	if (!policy_text_ok(v, &why)) {
		policy_err(ctx, s, "%s: %s %s", where, key, why);
		return false;
	}
	return true;
}

static const config_setting_t *
policy_member(const config_setting_t *grp, const char *key)
{
	if (grp == NULL || config_setting_type(grp) != CONFIG_TYPE_GROUP)
		return NULL;
	return config_setting_get_member(grp, key);
}

static void
policy_missing(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key)
{
	policy_err(ctx, grp, "%s: %s is missing; add %s = %s;", where, key,
	    key, policy_example(key));
}

int
policy_get_string(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, size_t maxlen,
    const char **ret)
{
	const config_setting_t *s = policy_member(grp, key);

	if (s == NULL) {
		if (required)
			policy_missing(ctx, grp, where, key);
		return 0;
	}
	if (!policy_string_check(ctx, s, where, key, maxlen))
		return -1;
	if (config_setting_get_string(s)[0] == '\0') {
		policy_err(ctx, s, "%s: %s is empty; give it a value or "
		    "remove it", where, key);
		return -1;
	}
	*ret = config_setting_get_string(s);
	return 1;
}

int
policy_get_dup(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, size_t maxlen,
    char **ret)
{
	const char *v;
	int rc;

	if ((rc = policy_get_string(ctx, grp, where, key, required, maxlen,
	    &v)) == 1) {
		free(*ret);
		*ret = policy_xstrdup(v);
	}
	return rc;
}

int
policy_get_valid(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, size_t maxlen,
    bool (*valid)(const char *), const char *remedy, char **ret)
{
	char q[POLICY_QUOTE_LEN];
	const char *v;
	int rc;

	if ((rc = policy_get_string(ctx, grp, where, key, required, maxlen,
	    &v)) != 1)
		return rc;
	if (!valid(v))
		policy_err(ctx, config_setting_get_member(grp, key),
		    "%s: %s %s %s", where, key, policy_quote(q, sizeof(q), v),
		    remedy);
	else {
		free(*ret);
		*ret = policy_xstrdup(v);
	}
	return rc;
}

int
policy_get_int(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, long long min,
    long long max, long long *ret)
{
	const config_setting_t *s = policy_member(grp, key);
	long long v;

	if (s == NULL) {
		if (required)
			policy_missing(ctx, grp, where, key);
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		policy_err(ctx, s, "%s: %s must be an integer, not %s; write "
		    "it without quotes, e.g. %s = %lld;", where, key,
		    policy_type_name(config_setting_type(s)), key, min);
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		policy_err(ctx, s, "%s: %s = %lld is out of range; use a value "
		    "from %lld to %lld", where, key, v, min, max);
		return -1;
	}
	*ret = v;
	return 1;
}

int
policy_get_int_field(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, int min, int max,
    int *ret)
{
	long long v;
	int rc;

	if ((rc = policy_get_int(ctx, grp, where, key, required, min, max,
	    &v)) == 1)
		*ret = (int)v;
	return rc;
}

int
policy_get_bool(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool *ret)
{
	const config_setting_t *s = policy_member(grp, key);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		policy_err(ctx, s, "%s: %s must be true or false, not %s; "
		    "write %s = true; or %s = false; without quotes", where,
		    key, policy_type_name(config_setting_type(s)), key, key);
		return -1;
	}
	*ret = config_setting_get_bool(s) != 0;
	return 1;
}

int
policy_get_duration(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, int64_t *ret)
{
	const config_setting_t *s = policy_member(grp, key);
	char q[POLICY_QUOTE_LEN];
	int64_t v;

	if (s == NULL) {
		if (required)
			policy_missing(ctx, grp, where, key);
		return 0;
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: {
		long long n = config_setting_get_int64(s);

		if (n < 0 || n > POLICY_MAX_DURATION) {
			policy_err(ctx, s, "%s: %s = %lld seconds is out of "
			    "range; use 0 to %lld seconds (400 days)", where,
			    key, n, POLICY_MAX_DURATION);
			return -1;
		}
		*ret = n;
		return 1;
	}
	case CONFIG_TYPE_STRING:
		if (!policy_string_check(ctx, s, where, key, 64))
			return -1;
		if (policy_duration_parse(config_setting_get_string(s), &v)
		    != 0) {
			policy_err(ctx, s, "%s: %s %s is not a duration; write "
			    "a number and one unit s, m, h or d, e.g. \"15m\" "
			    "(at most 400 days)", where, key, policy_quote(q,
			    sizeof(q), config_setting_get_string(s)));
			return -1;
		}
		*ret = v;
		return 1;
	default:
		policy_err(ctx, s, "%s: %s must be a duration string like "
		    "\"15m\", not %s; write %s = \"15m\";", where, key,
		    policy_type_name(config_setting_type(s)), key);
		return -1;
	}
}

int
policy_get_path(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, char **ret)
{
	const char *v;
	char *abs;
	size_t n;
	int rc;

	if ((rc = policy_get_string(ctx, grp, where, key, required,
	    POLICY_MAX_VALUE, &v)) != 1)
		return rc;
	if (v[0] == '~') {
		policy_err(ctx, config_setting_get_member(grp, key), "%s: %s "
		    "starts with ~, which is not expanded here; write an "
		    "absolute path or one relative to %s", where, key,
		    ctx->repo->base_dir);
		return -1;
	}
	/* Relative to the main file's folder, never to the current one. */
	if (v[0] == '/') {
		abs = policy_xstrdup(v);
	} else {
		n = strlen(ctx->repo->base_dir) + strlen(v) + 2;
		abs = policy_xcalloc(n, 1);
		(void)snprintf(abs, n, "%s/%s", ctx->repo->base_dir, v);
	}
	free(*ret);
	*ret = abs;
	return 1;
}

int
policy_get_fpr(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, char *out)
{
	const char *v;
	char q[POLICY_QUOTE_LEN];
	int rc;

	if ((rc = policy_get_string(ctx, grp, where, key, required, 128, &v))
	    != 1)
		return rc;
	if (policy_fpr_normalise(v, out) != 0) {
		out[0] = '\0';
		policy_err(ctx, config_setting_get_member(grp, key), "%s: %s %s "
		    "is not a full OpenPGP fingerprint; write all 40 hex digits "
		    "(spaces allowed), as gpg --fingerprint shows them", where,
		    key, policy_quote(q, sizeof(q), v));
		return -1;
	}
	return 1;
}

int
policy_get_strlist(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, size_t maxn,
    const config_setting_t **ret)
{
	const config_setting_t *s = policy_member(grp, key);
	int type, n, rc = 1;

	*ret = NULL;
	if (s == NULL) {
		if (required)
			policy_missing(ctx, grp, where, key);
		return 0;
	}
	type = config_setting_type(s);
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		policy_err(ctx, s, "%s: %s must be an array of strings, not %s; "
		    "write %s = [ \"...\", \"...\" ];", where, key,
		    policy_type_name(type), key);
		return -1;
	}
	n = config_setting_length(s);
	if ((size_t)n > maxn) {
		policy_err(ctx, s, "%s: %s has %d entries, more than the %zu "
		    "allowed; shorten the list", where, key, n, maxn);
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (!policy_string_check(ctx, config_setting_get_elem(s,
		    (unsigned)i), where, key, POLICY_MAX_VALUE))
			rc = -1;
	if (rc == 1)
		*ret = s;
	return rc;
}

bool
policy_is_list(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_LIST ||
	    (config_setting_type(s) == CONFIG_TYPE_ARRAY &&
	    config_setting_length(s) == 0);
}

int
policy_get_group_list(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const struct policy_group_list *d,
    const config_setting_t **ret, int *ret_n)
{
	const config_setting_t *l = policy_member(grp, d->key);
	int n;

	if (l == NULL) {
		if (d->required)
			policy_err(ctx, grp, "%s: %s is missing; add %s = %s;",
			    where, d->key, d->key, d->example != NULL ?
			    d->example : policy_example(d->key));
		return 0;
	}
	if (d->strict ? config_setting_type(l) != CONFIG_TYPE_LIST :
	    !policy_is_list(l)) {
		policy_err(ctx, l, "%s: %s must be a list %s, not %s%s", where,
		    d->key, d->shape, policy_type_name(config_setting_type(l)),
		    d->write);
		return -1;
	}
	n = config_setting_length(l);
	if (n == 0 && d->empty != NULL) {
		policy_err(ctx, l, "%s: %s is empty%s", where, d->key, d->empty);
		return -1;
	}
	if (n > d->max) {
		policy_err(ctx, l, "%s: %d %s, more than the %d allowed; %s",
		    where, n, d->key, d->max, d->remedy);
		n = d->max;
	}
	*ret = l;
	*ret_n = n;
	return 1;
}

/* A section that must be a group; returns it, or NULL. */
static const config_setting_t *
policy_section(struct policy_ctx *ctx, const config_setting_t *root,
    const char *name, int type)
{
	const config_setting_t *s = config_setting_get_member(root, name);

	if (s == NULL)
		return NULL;
	if (config_setting_type(s) == type)
		return s;
	/* An empty list written as [] or () is the same thing. */
	if (type == CONFIG_TYPE_LIST && config_setting_type(s) ==
	    CONFIG_TYPE_ARRAY && config_setting_length(s) == 0)
		return s;
	policy_err(ctx, s, "%s must be %s, not %s; see docs/configuration.md "
	    "for its shape", name, policy_type_name(type),
	    policy_type_name(config_setting_type(s)));
	return NULL;
}

const config_setting_t *
policy_section_entries(struct policy_ctx *ctx, const config_setting_t *root,
    const char *name, int type, const char *noun, int max, int *ret_n)
{
	const config_setting_t *s = policy_section(ctx, root, name, type);
	int n;

	if (s == NULL)
		return NULL;
	n = config_setting_length(s);
	if (n > max) {
		policy_err(ctx, s, "%s has %d %s, more than the %d allowed; "
		    "remove some", name, n, noun, max);
		n = max;
	}
	*ret_n = n;
	return s;
}

/* The src of a group's member, or of the group when the member is absent. */
static struct policy_src
policy_src_key(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *key)
{
	const config_setting_t *s = policy_member(grp, key);

	return policy_src_of(ctx, s != NULL ? s : grp);
}

/* An E.164 number of the gateway's, stored normalised as contacts' are. */
static void
policy_read_gateway_phone(struct policy_ctx *ctx, const config_setting_t *g,
    const char *key, char **ret)
{
	char num[17], q[POLICY_QUOTE_LEN];
	const char *v;

	if (policy_get_string(ctx, g, "gateway", key, false, 64, &v) != 1)
		return;
	if (policy_e164_normalise(v, num, sizeof(num)) != 0) {
		policy_err(ctx, config_setting_get_member(g, key), "gateway: %s "
		    "%s is not an E.164 number; write +, the country code and "
		    "the number, 8 to 15 digits in all (spaces, dashes, dots "
		    "and parentheses allowed), e.g. \"+254 20 555 0100\"", key,
		    policy_quote(q, sizeof(q), v));
		return;
	}
	free(*ret);
	*ret = policy_xstrdup(num);
}

/* A duration of the gateway's over its default, which must be from min to
   max: otherwise the error is "gateway: KEY " and why. */
static void
policy_read_gateway_duration(struct policy_ctx *ctx,
    const config_setting_t *g, const char *key, int64_t min, int64_t max,
    const char *why, int64_t *ret)
{
	if (policy_get_duration(ctx, g, "gateway", key, false, ret) == 1 &&
	    (*ret < min || *ret > max))
		policy_err(ctx, config_setting_get_member(g, key),
		    "gateway: %s %s", key, why);
}

/* The listener's limits: how many connections, how long each may take. */
static void
policy_read_gateway_listen(struct policy_ctx *ctx, const config_setting_t *g)
{
	struct policy_gateway *gw = &ctx->repo->gateway;

	(void)policy_get_int_field(ctx, g, "gateway", "listen_max_connections",
	    false, 4, 4096, &gw->listen_max_connections);
	(void)policy_get_int_field(ctx, g, "gateway", "listen_max_per_address",
	    false, 1, 4096, &gw->listen_max_per_address);
	/* one address holding every slot is the flood the cap is for */
	if (gw->listen_max_per_address >= gw->listen_max_connections)
		policy_err(ctx, config_setting_get_member(g,
		    "listen_max_per_address") != NULL ?
		    config_setting_get_member(g, "listen_max_per_address") :
		    config_setting_get_member(g, "listen_max_connections"),
		    "gateway: listen_max_per_address (%d) must be less than "
		    "listen_max_connections (%d), or one address can take every "
		    "connection; e.g. 16 and 256", gw->listen_max_per_address,
		    gw->listen_max_connections);
	policy_read_gateway_duration(ctx, g, "listen_idle_timeout", 1, 3600,
	    "must be from 1s to 1h; e.g. \"10s\"", &gw->listen_idle_timeout);
	policy_read_gateway_duration(ctx, g, "listen_request_timeout", 1, 3600,
	    "must be from 1s to 1h; a request of a provider or a person takes "
	    "well under a second, e.g. \"30s\"", &gw->listen_request_timeout);
}

/* Defaults first, so that a missing section still leaves a whole
   structure for the checks that follow. */
static void
policy_gateway_defaults(struct policy_gateway *gw)
{
	gw->workers = 4;
	gw->listen = policy_xstrdup("127.0.0.1:8025");
	gw->public_url = policy_xstrdup("https://alerts.example.net/");
	gw->replay_window = 24 * 3600;
	gw->max_alert_bytes = 262144;
	gw->default_audience = policy_xstrdup("all");
	gw->short_name = policy_xstrdup("tocsin");
	gw->lease = 120;
	gw->verify_after = 180 * 86400;
	gw->retry_base = 30;
	gw->retry_max = 3600;
	gw->max_attempts = 10;
	gw->listen_max_connections = 256;
	gw->listen_max_per_address = 16;
	gw->listen_idle_timeout = 10;
	gw->listen_request_timeout = 30;
}

/* The store, the gateway's GnuPG home and key, the issuers' CA. */
static void
policy_read_gateway_files(struct policy_ctx *ctx, const config_setting_t *g)
{
	struct policy_gateway *gw = &ctx->repo->gateway;

	const char *v = NULL;

	/* a PostgreSQL database is named, not a file: no path made of it */
	if (config_setting_lookup_string(g, "store", &v) == CONFIG_TRUE &&
	    policy_store_is_pg(v))
		(void)policy_get_dup(ctx, g, "gateway", "store", true,
		    POLICY_MAX_VALUE, &gw->store);
	else
		(void)policy_get_path(ctx, g, "gateway", "store", true,
		    &gw->store);
	(void)policy_get_path(ctx, g, "gateway", "gnupg_home", true,
	    &gw->gnupg_home);
	(void)policy_get_fpr(ctx, g, "gateway", "signing_key", true,
	    gw->signing_key);
	gw->signing_key_src = policy_src_key(ctx, g, "signing_key");
	if (policy_get_string(ctx, g, "gateway", "pgp_engine", false, 32, &v)
	    == 1) {
		if (strcmp(v, "gpgme") == 0)
			gw->pgp_engine = POLICY_PGP_GPGME;
		else if (strcmp(v, "rnp") == 0)
			gw->pgp_engine = POLICY_PGP_RNP;
		else {
			char q[POLICY_QUOTE_LEN];

			policy_err(ctx, config_setting_get_member(g,
			    "pgp_engine"), "gateway: pgp_engine %s is not "
			    "\"rnp\" (librnp in process, the default) or "
			    "\"gpgme\" (a gpg process per operation)",
			    policy_quote(q, sizeof(q), v));
		}
	}
	gw->store_src = policy_src_key(ctx, g, "store");
	(void)policy_get_path(ctx, g, "gateway", "issuer_ca", false,
	    &gw->issuer_ca);
}

/* What the gateway listens on, and the base of its ack links. */
static void
policy_read_gateway_http(struct policy_ctx *ctx, const config_setting_t *g)
{
	struct policy_gateway *gw = &ctx->repo->gateway;
	char q[POLICY_QUOTE_LEN];
	const char *v;

	(void)policy_get_int_field(ctx, g, "gateway", "workers", false, 1, 64,
	    &gw->workers);
	(void)policy_get_valid(ctx, g, "gateway", "listen", false, 256,
	    policy_listen_valid, "is not HOST:PORT; write e.g. "
	    "\"127.0.0.1:8025\" or \"[::1]:8025\"", &gw->listen);
	switch (policy_get_string(ctx, g, "gateway", "public_url", false,
	    POLICY_MAX_VALUE, &v)) {
	case 1:
		if (strncmp(v, "https://", 8) != 0 &&
		    strncmp(v, "http://", 7) != 0) {
			policy_err(ctx, config_setting_get_member(g,
			    "public_url"), "gateway: public_url %s is not an "
			    "http(s) URL; write the base of ack links, e.g. "
			    "\"https://alerts.example.net/\"",
			    policy_quote(q, sizeof(q), v));
		} else {
			free(gw->public_url);
			gw->public_url = policy_xstrdup(v);
		}
		break;
	case 0:
		/* Ack links would point to the example host. */
		policy_warn(ctx, g, "gateway: public_url is not set, so ack "
		    "links point to %s; set public_url to this gateway's "
		    "address", gw->public_url);
		break;
	default:
		break;
	}
}

/* What alerts are taken, and how deliveries are claimed and retried. */
static void
policy_read_gateway_timing(struct policy_ctx *ctx, const config_setting_t *g)
{
	struct policy_gateway *gw = &ctx->repo->gateway;
	long long n;

	policy_read_gateway_duration(ctx, g, "replay_window", 1, INT64_MAX,
	    "is 0, which refuses every alert; use e.g. \"24h\"",
	    &gw->replay_window);
	if (policy_get_int(ctx, g, "gateway", "max_alert_bytes", false, 1024,
	    16LL * 1024 * 1024, &n) == 1)
		gw->max_alert_bytes = (size_t)n;
	(void)policy_get_dup(ctx, g, "gateway", "default_audience", false,
	    POLICY_MAX_VALUE, &gw->default_audience);
	policy_read_gateway_duration(ctx, g, "verify_after", 86400, INT64_MAX,
	    "must be at least a day (\"1d\"); a contact not confirmed within "
	    "it is stale", &gw->verify_after);
	/* A lease shorter than one SMTP session would let a second worker
	   take over work that is still being sent. */
	if (policy_get_duration(ctx, g, "gateway", "lease", false, &gw->lease)
	    == 1 && gw->lease < 5)
		policy_err(ctx, config_setting_get_member(g, "lease"),
		    "gateway: lease %llds is shorter than a delivery can take; "
		    "use at least \"5s\", e.g. \"2m\"", (long long)gw->lease);
	policy_read_gateway_duration(ctx, g, "retry_base", 1, INT64_MAX,
	    "is 0, which retries in a tight loop; use e.g. \"30s\"",
	    &gw->retry_base);
	policy_read_gateway_duration(ctx, g, "retry_max", gw->retry_base,
	    INT64_MAX, "is shorter than retry_base; make it longer, e.g. "
	    "\"1h\"", &gw->retry_max);
	(void)policy_get_int_field(ctx, g, "gateway", "max_attempts", false, 1,
	    1000, &gw->max_attempts);
}

/* Whether s may stand as the sender's name in front of an SMS and in a
   call: 1 to POLICY_SHORT_NAME_MAX printable ASCII characters (so no CR,
   LF or other control, and one GSM 03.38 septet each but for a few). */
static bool
policy_short_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > POLICY_SHORT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* The ack key, the desk's numbers, the proxy whose X-Forwarded-For is
   believed. */
static void
policy_read_gateway_acks(struct policy_ctx *ctx, const config_setting_t *g)
{
	struct policy_gateway *gw = &ctx->repo->gateway;
	char canon[BASE_IP_TEXT_MAX];

	if (policy_get_path(ctx, g, "gateway", "ack_secret", false,
	    &gw->ack_secret) == 1)
		policy_check_secret(ctx, config_setting_get_member(g,
		    "ack_secret"), "gateway", "ack_secret", gw->ack_secret);
	if (policy_get_path(ctx, g, "gateway", "desk_tokens", false,
	    &gw->desk_tokens) == 1) {
		gw->desk_tokens_src = policy_src_key(ctx, g, "desk_tokens");
		policy_check_secret_as(ctx, config_setting_get_member(g,
		    "desk_tokens"), "gateway", "desk_tokens", gw->desk_tokens,
		    "make a line for it with `tocsin desk-token NAME`");
	}
	policy_read_gateway_phone(ctx, g, "duty_phone", &gw->duty_phone);
	policy_read_gateway_phone(ctx, g, "ack_phone", &gw->ack_phone);
	(void)policy_get_valid(ctx, g, "gateway", "short_name", false,
	    POLICY_MAX_VALUE, policy_short_name_valid, "is not 1 to 20 "
	    "printable ASCII characters (no line break); write the name "
	    "recipients know the desk by, e.g. \"DNS-CERT\"", &gw->short_name);
	/* kept in the one spelling the listener prints its peers in
	   (base_ip_canon): "0:0::1" must match a peer printed "::1" */
	if (policy_get_dup(ctx, g, "gateway", "trusted_proxy", false, 64,
	    &gw->trusted_proxy) == 1 && base_ip_canon(gw->trusted_proxy, canon,
	    sizeof(canon)) == 0) {
		free(gw->trusted_proxy);
		gw->trusted_proxy = policy_xstrdup(canon);
	} else if (gw->trusted_proxy != NULL) {
		policy_err(ctx, config_setting_get_member(g, "trusted_proxy"),
		    "gateway: trusted_proxy %.64s is not an IP address; give "
		    "the address the TLS proxy connects from, e.g. "
		    "\"127.0.0.1\"", gw->trusted_proxy);
		free(gw->trusted_proxy);
		gw->trusted_proxy = NULL;
	}
}

#ifndef TOCSIN_LOCALEDIR
#define TOCSIN_LOCALEDIR "/usr/share/locale"
#endif

/* The catalogs of the gateway's own texts: gateway.locale_dir, else
   $TOCSIN_LOCALEDIR (a build tree's po folder, for its tests), else the
   installed folder.  One that cannot be read costs its language only:
   a warning, and that language's readers get English. */
static void
policy_read_gateway_locale(struct policy_ctx *ctx, const config_setting_t *g)
{
	struct policy_gateway *gw = &ctx->repo->gateway;
	struct tocsin_err e = { 0 };
	const char *env = getenv("TOCSIN_LOCALEDIR");
	const char *why;

	if (policy_get_path(ctx, g, "gateway", "locale_dir", false,
	    &gw->locale_dir) != 1)
		gw->locale_dir = policy_xstrdup(env != NULL && env[0] == '/' ?
		    env : TOCSIN_LOCALEDIR);
	if (i18n_load(gw->locale_dir, &gw->catalog, &e) != 0) {
		policy_err(ctx, g, "gateway: %s", e.msg);
		return;
	}
	for (size_t i = 0; (why = i18n_problem(gw->catalog, i)) != NULL; i++)
		policy_warn(ctx, config_setting_get_member(g, "locale_dir") !=
		    NULL ? config_setting_get_member(g, "locale_dir") : g,
		    "gateway: the catalog of language %s; its readers get "
		    "English until it is rebuilt (msgfmt --check)", why);
}

bool
policy_store_is_pg(const char *store)
{
	return store != NULL && (strncmp(store, "postgresql://", 13) == 0 ||
	    strncmp(store, "postgres://", 11) == 0 || strchr(store, '=') !=
	    NULL);
}

int
policy_read_gateway(struct policy_ctx *ctx, const config_setting_t *root)
{
	static const char *const keys[] = { "store", "gnupg_home",
		"signing_key", "issuer_ca", "workers", "listen", "public_url",
		"replay_window", "max_alert_bytes", "default_audience", "lease",
		"retry_base", "retry_max", "max_attempts", "ack_secret",
		"duty_phone", "ack_phone", "desk_team", "desk_tokens",
		"trusted_proxy",
		"verify_after", "listen_max_connections",
		"listen_max_per_address", "listen_idle_timeout",
		"listen_request_timeout", "short_name", "pgp_engine",
		"locale_dir", NULL };
	struct policy_gateway *gw = &ctx->repo->gateway;
	const config_setting_t *g;

	policy_gateway_defaults(gw);
	g = policy_section(ctx, root, "gateway", CONFIG_TYPE_GROUP);
	if (g == NULL) {
		if (config_setting_get_member(root, "gateway") == NULL)
			policy_err(ctx, root, "the gateway section is missing; "
			    "add gateway = { store = ...; gnupg_home = ...; "
			    "signing_key = ...; };");
		gw->src = policy_src_of(ctx, root);
		return -1;
	}
	gw->src = policy_src_of(ctx, g);
	(void)policy_check_keys(ctx, g, "gateway", keys);
	policy_read_gateway_files(ctx, g);
	policy_read_gateway_http(ctx, g);
	policy_read_gateway_timing(ctx, g);
	policy_read_gateway_acks(ctx, g);
	/* nodes on one database answer each other's ack links and codes:
	   one secret, named, on every node (not beside a file store) */
	if (gw->store != NULL && policy_store_is_pg(gw->store) &&
	    gw->ack_secret == NULL)
		policy_err(ctx, config_setting_get_member(g, "store"), "gateway: "
		    "a PostgreSQL store needs gateway.ack_secret: the ack "
		    "secret shared by every serve node on the database (a 0600 "
		    "file of 32 random bytes: head -c 32 /dev/urandom > FILE)");
	policy_read_gateway_listen(ctx, g);
	policy_read_gateway_locale(ctx, g);
	/* checked against the teams once they are read (check.c) */
	gw->desk_team_src = policy_src_key(ctx, g, "desk_team");
	(void)policy_get_dup(ctx, g, "gateway", "desk_team", false, 64,
	    &gw->desk_team);
	return 0;
}

/* Severity or status names into a bit set.  Returns the bits, or 0 after
   reporting when a name is unknown or the list is empty. */
static unsigned
policy_read_cap_set(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool severities)
{
	const config_setting_t *l;
	unsigned bits = 0;
	bool bad = false;
	char q[POLICY_QUOTE_LEN];
	int n, rc;

	rc = policy_get_strlist(ctx, grp, where, key, false, 16, &l);
	if (rc == 0)
		return severities ? (1u << POLICY_SEV_COUNT) - 1 :
		    (1u << POLICY_ST_COUNT) - 1;
	if (rc < 0)
		return 0;
	n = config_setting_length(l);
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string_elem(l, (unsigned)i);
		int x = severities ? policy_severity_parse(v) :
		    policy_status_parse(v);

		if (x < 0) {
			bad = true;
			policy_err(ctx, config_setting_get_elem(l, (unsigned)i),
			    "%s: unknown %s %s; use the CAP spelling: %s",
			    where, severities ? "severity" : "status",
			    policy_quote(q, sizeof(q), v), severities ?
			    "Extreme, Severe, Moderate, Minor, Unknown" :
			    "Actual, Exercise, System, Test, Draft");
			continue;
		}
		bits |= 1u << x;
	}
	if (n == 0) {
		policy_err(ctx, l, "%s: %s is empty, which matches nothing; "
		    "list values or remove %s to match all", where, key, key);
		return 0;
	}
	return bad ? 0 : bits;
}

const config_setting_t *
policy_list_elem_group(struct policy_ctx *ctx, const config_setting_t *list,
    int i, const char *what)
{
	const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

	if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
		policy_err(ctx, e, "%s %d must be a group { ... }, not %s; "
		    "write it in braces", what, i + 1,
		    policy_type_name(config_setting_type(e)));
		return NULL;
	}
	return e;
}

int
policy_read_issuers(struct policy_ctx *ctx, const config_setting_t *root)
{
	static const char *const keys[] = { "name", "openpgp", "certificate",
		"may_address", "severities", "statuses", NULL };
	struct policy_repo *repo = ctx->repo;
	const config_setting_t *list;
	char where[POLICY_QUOTE_LEN + 16], q[POLICY_QUOTE_LEN];
	int n;

	list = policy_section_entries(ctx, root, "issuers", CONFIG_TYPE_LIST,
	    "entries", POLICY_MAX_ISSUERS, &n);
	if (list == NULL)
		return 0;
	repo->issuers = policy_xcalloc((size_t)n, sizeof(*repo->issuers));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g, *l;
		struct policy_issuer *is = &repo->issuers[repo->nissuers];
		int has_pgp, has_cert;

		if ((g = policy_list_elem_group(ctx, list, i, "issuer")) ==
		    NULL)
			continue;
		repo->nissuers++;
		is->src = policy_src_of(ctx, g);
		(void)snprintf(where, sizeof(where), "issuer %d", i + 1);
		if (policy_get_dup(ctx, g, where, "name", true, POLICY_MAX_NAME,
		    &is->name) == 1)
			(void)snprintf(where, sizeof(where), "issuer %s",
			    policy_quote(q, sizeof(q), is->name));
		(void)policy_check_keys(ctx, g, where, keys);
		for (size_t k = 0; is->name != NULL && k + 1 < repo->nissuers;
		    k++) {
			const struct policy_issuer *o = &repo->issuers[k];

			if (o->name != NULL && strcmp(o->name, is->name) == 0) {
				policy_err(ctx, g, "%s: the name is already "
				    "used by the issuer at %s:%d; issuer names "
				    "must be unique: rename one", where,
				    o->src.file, o->src.line);
				break;
			}
		}
		has_pgp = policy_get_fpr(ctx, g, where, "openpgp", false,
		    is->openpgp);
		has_cert = policy_get_path(ctx, g, where, "certificate", false,
		    &is->certificate);
		if (has_pgp == 0 && has_cert == 0)
			policy_err(ctx, g, "%s: neither openpgp nor certificate "
			    "is given; add openpgp = \"FINGERPRINT\"; or "
			    "certificate = \"FILE.pem\";", where);
		else if (has_pgp != 0 && has_cert != 0)
			policy_err(ctx, g, "%s: both openpgp and certificate are "
			    "given; an issuer signs one way: keep one of them "
			    "(make two issuers for two ways)", where);
		for (size_t k = 0; is->openpgp[0] != '\0' &&
		    k + 1 < repo->nissuers; k++) {
			const struct policy_issuer *o = &repo->issuers[k];

			if (strcmp(o->openpgp, is->openpgp) == 0) {
				policy_err(ctx, config_setting_get_member(g,
				    "openpgp"), "%s: the fingerprint is already "
				    "the issuer's at %s:%d; one key is one "
				    "issuer: remove the duplicate", where,
				    o->src.file, o->src.line);
				break;
			}
		}
		if (policy_get_strlist(ctx, g, where, "may_address", false,
		    POLICY_MAX_ADDRESSES, &l) == 1) {
			int m = config_setting_length(l);

			is->may_address = policy_xcalloc((size_t)m,
			    sizeof(char *));
			for (int k = 0; k < m; k++)
				is->may_address[is->nmay_address++] =
				    policy_xstrdup(config_setting_get_string_elem(
				    l, (unsigned)k));
		}
		if (config_setting_get_member(g, "may_address") == NULL ||
		    (l != NULL && config_setting_length(l) == 0))
			policy_warn(ctx, g, "%s: may_address is empty, so this "
			    "issuer may alert no one; give it a scope, e.g. "
			    "may_address = [ \"all\" ];", where);
		is->severities = policy_read_cap_set(ctx, g, where,
		    "severities", true);
		is->statuses = policy_read_cap_set(ctx, g, where, "statuses",
		    false);
	}
	return 0;
}

/* A quorum rule's groups list: addresses, at least one. */
static void
policy_read_quorum_groups(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, struct policy_quorum *qr)
{
	const config_setting_t *l;
	int m;

	if (policy_get_strlist(ctx, g, where, "groups", false,
	    POLICY_MAX_ADDRESSES, &l) != 1)
		return;
	qr->groups_src = policy_src_of(ctx, l);
	if ((m = config_setting_length(l)) == 0) {
		policy_err(ctx, l, "%s: groups is empty, which matches no "
		    "alert; list addresses (\"all\", \"region:AF\", a group) "
		    "or remove groups", where);
		return;
	}
	qr->groups = policy_xcalloc((size_t)m, sizeof(char *));
	for (int k = 0; k < m; k++) {
		const char *v = config_setting_get_string_elem(l, (unsigned)k);

		if (v[0] == '\0') {
			policy_err(ctx, config_setting_get_elem(l, (unsigned)k),
			    "%s: groups holds an empty name; remove it", where);
			continue;
		}
		qr->groups[qr->ngroups++] = policy_xstrdup(v);
	}
}

int
policy_read_quorum(struct policy_ctx *ctx, const config_setting_t *root)
{
	static const char *const keys[] = { "severities", "audience",
		"groups", "min_teams", "issuers", NULL };
	struct policy_repo *repo = ctx->repo;
	const config_setting_t *list;
	char where[32];
	int n;

	list = policy_section_entries(ctx, root, "quorum", CONFIG_TYPE_LIST,
	    "rules", POLICY_MAX_QUORUM, &n);
	if (list == NULL)
		return 0;
	repo->quorum = policy_xcalloc((size_t)n, sizeof(*repo->quorum));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g;
		struct policy_quorum *qr = &repo->quorum[repo->nquorum];
		long long k;

		if ((g = policy_list_elem_group(ctx, list, i, "quorum rule")) ==
		    NULL)
			continue;
		repo->nquorum++;
		qr->src = policy_src_of(ctx, g);
		(void)snprintf(where, sizeof(where), "quorum rule %d", i + 1);
		(void)policy_check_keys(ctx, g, where, keys);
		qr->severities = policy_read_cap_set(ctx, g, where,
		    "severities", true);
		(void)policy_get_dup(ctx, g, where, "audience", false,
		    POLICY_MAX_VALUE, &qr->audience);
		policy_read_quorum_groups(ctx, g, where, qr);
		if (qr->audience != NULL && config_setting_get_member(g,
		    "groups") != NULL)
			policy_err(ctx, config_setting_get_member(g, "groups"),
			    "%s: both audience and groups are given; audience "
			    "is the older spelling of a groups list of one: "
			    "move it into groups", where);
		if (policy_get_int(ctx, g, where, "min_teams", false, 1,
		    POLICY_MAX_TEAMS, &k) == 1)
			qr->min_teams = (int)k;
		if (policy_get_int(ctx, g, where, "issuers", true, 2, 16, &k)
		    == 1)
			qr->issuers = (int)k;
	}
	return 0;
}

/* A secret must be a regular file that only its owner can read. */
void
policy_check_secret(struct policy_ctx *ctx, const config_setting_t *s,
    const char *where, const char *key, const char *path)
{
	policy_check_secret_as(ctx, s, where, key, path,
	    "create it (user:password)");
}

void
policy_check_secret_as(struct policy_ctx *ctx, const config_setting_t *s,
    const char *where, const char *key, const char *path, const char *create)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		policy_err(ctx, s, "%s: %s file %s cannot be used: %s; %s and "
		    "chmod 600 %s", where, key, path, strerror(errno), create,
		    path);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		policy_err(ctx, s, "%s: %s file %s is not a regular file; "
		    "point %s at the secret file itself", where, key, path,
		    key);
		return;
	}
	if ((st.st_mode & 077) != 0)
		policy_err(ctx, s, "%s: %s file %s has mode %04o, not 0600, "
		    "so others may read the secret; chmod 600 %s", where, key,
		    path, (unsigned)(st.st_mode & 07777), path);
}

/* The relay's name or address, without a port or a path. */
static bool
policy_smtp_host_valid(const char *v)
{
	return strpbrk(v, " /") == NULL;
}

/* libesmtp 1.1.0's smtp_set_server() splits "host:port" at the first ':',
   so the relay can be reached at an IPv4 address only (an IPv6 literal
   fails as "Servname not supported"); tried with Debian 12's library. */
static void
policy_smtp_ipv4_only(struct policy_ctx *ctx, const config_setting_t *g,
    const struct policy_smtp *smtp)
{
	char q[POLICY_QUOTE_LEN];

	for (size_t i = 0; i < smtp->naddresses; i++)
		if (strchr(smtp->addresses[i], ':') != NULL)
			policy_err(ctx, config_setting_get_member(g,
			    "addresses"), "providers.smtp: address %s is an "
			    "IPv6 address, which the SMTP library (libesmtp) "
			    "cannot connect to by address; pin the relay's "
			    "IPv4 addresses", policy_quote(q, sizeof(q),
			    smtp->addresses[i]));
}

static void
policy_read_smtp(struct policy_ctx *ctx, const config_setting_t *g)
{
	static const char *const keys[] = { "host", "port", "from",
		"starttls", "local", "ca", "credentials", "timeout", "subject",
		"batch", "pgp_mime", "addresses", NULL };
	static const char where[] = "providers.smtp";
	struct policy_smtp *smtp;
	const char *v;
	char q[POLICY_QUOTE_LEN];
	long long n;
	bool tls_none = false;

	smtp = ctx->repo->smtp = policy_xcalloc(1, sizeof(*smtp));
	smtp->src = policy_src_of(ctx, g);
	smtp->port = 25;
	smtp->starttls = true;
	smtp->timeout = 30;
	smtp->batch = 50;
	(void)policy_check_keys(ctx, g, where, keys);
	(void)policy_get_valid(ctx, g, where, "host", true, 255,
	    policy_smtp_host_valid, "is not a host name or address; write "
	    "e.g. \"mail.example.net\" (the port goes in port)", &smtp->host);
	if (policy_get_int(ctx, g, where, "port", false, 1, 65535, &n) == 1)
		smtp->port = (int)n;
	(void)policy_get_valid(ctx, g, where, "from", true, 254,
	    policy_email_valid, "is not a plain e-mail address; write e.g. "
	    "\"tocsin@alerts.example.net\" (no name, no brackets)",
	    &smtp->from);
	(void)policy_get_bool(ctx, g, where, "local", &smtp->local);
	if (policy_get_string(ctx, g, where, "starttls", false, 32, &v) == 1) {
		if (strcmp(v, "none") == 0)
			tls_none = true;
		else if (strcmp(v, "required") != 0)
			policy_err(ctx, config_setting_get_member(g, "starttls"),
			    "%s: starttls %s is not \"required\" or \"none\"; "
			    "use \"required\"", where,
			    policy_quote(q, sizeof(q), v));
	}
	if (tls_none && !smtp->local)
		policy_err(ctx, config_setting_get_member(g, "starttls"),
		    "%s: starttls = \"none\" sends alerts in clear text over "
		    "the network; use \"required\", or set local = true if the "
		    "relay runs on this host", where);
	else if (tls_none)
		smtp->starttls = false;
	(void)policy_get_path(ctx, g, where, "ca", false, &smtp->ca);
	if (policy_get_path(ctx, g, where, "credentials", false,
	    &smtp->credentials) == 1)
		policy_check_secret(ctx, config_setting_get_member(g,
		    "credentials"), where, "credentials", smtp->credentials);
	if (policy_get_duration(ctx, g, where, "timeout", false,
	    &smtp->timeout) == 1 && smtp->timeout == 0)
		policy_err(ctx, config_setting_get_member(g, "timeout"),
		    "%s: timeout is 0; use e.g. \"30s\"", where);
	if (policy_get_string(ctx, g, where, "subject", false, 200, &v) == 1) {
		const char *c;

		/* The subject travels in clear: only printable ASCII and the
		   placeholders of non-sensitive facts. */
		for (c = v; *c != '\0'; c++)
			if (*c < 0x20 || *c > 0x7e)
				break;
		if (*c != '\0')
			policy_err(ctx, config_setting_get_member(g, "subject"),
			    "%s: subject must be printable ASCII (it is sent "
			    "unencrypted); use placeholders %%i %%s %%t %%m",
			    where);
		else
			smtp->subject = policy_xstrdup(v);
	}
	if (policy_get_int(ctx, g, where, "batch", false, 1, 1000, &n) == 1)
		smtp->batch = (int)n;
	if (policy_get_string(ctx, g, where, "pgp_mime", false, 32, &v) == 1) {
		if (strcmp(v, "combined") == 0)
			smtp->pgp_combined = true;
		else if (strcmp(v, "nested") != 0)
			policy_err(ctx, config_setting_get_member(g, "pgp_mime"),
			    "%s: pgp_mime %s is not \"nested\" (RFC 3156 6.1: "
			    "signed, then encrypted) or \"combined\" (6.2: one "
			    "OpenPGP message, one gpg run)", where,
			    policy_quote(q, sizeof(q), v));
	}
	if (policy_read_addresses(ctx, g, where, &smtp->addresses,
	    &smtp->naddresses) == 1)
		policy_smtp_ipv4_only(ctx, g, smtp);
}

int
policy_read_providers(struct policy_ctx *ctx, const config_setting_t *root)
{
	static const char *const keys[] = { "smtp", "sms", "voice", "fax",
		"sshdrop", NULL };
	const config_setting_t *p, *smtp, *fax;

	p = policy_section(ctx, root, "providers", CONFIG_TYPE_GROUP);
	if (p == NULL)
		return 0;
	(void)policy_check_keys(ctx, p, "providers", keys);
	policy_read_http_providers(ctx, p, "sms", &ctx->repo->sms,
	    &ctx->repo->nsms);
	policy_read_http_providers(ctx, p, "voice", &ctx->repo->voice,
	    &ctx->repo->nvoice);
	policy_read_drops(ctx, p);
	if ((fax = config_setting_get_member(p, "fax")) != NULL) {
		if (config_setting_type(fax) != CONFIG_TYPE_GROUP)
			policy_err(ctx, fax, "providers: fax must be a group "
			    "{ ... }, not %s; write fax = { format = ...; "
			    "... };",
			    policy_type_name(config_setting_type(fax)));
		else
			policy_read_fax(ctx, fax);
	}
	smtp = config_setting_get_member(p, "smtp");
	if (smtp == NULL)
		return 0;
	if (config_setting_type(smtp) != CONFIG_TYPE_GROUP) {
		policy_err(ctx, smtp, "providers: smtp must be a group { ... }, "
		    "not %s; write smtp = { host = ...; ... };",
		    policy_type_name(config_setting_type(smtp)));
		return 0;
	}
	policy_read_smtp(ctx, smtp);
	return 0;
}

static void
policy_read_step(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_policy *pol, const char *where, int64_t *prev,
    const config_setting_t **prev_s)
{
	static const char *const keys[] = { "after", "notify", NULL };
	struct policy_step *st = &pol->steps[pol->nsteps++];
	const config_setting_t *l;
	char q[POLICY_QUOTE_LEN], why[160];
	int n;

	(void)policy_check_keys(ctx, g, where, keys);
	if (policy_get_duration(ctx, g, where, "after", true, &st->after)
	    == 1) {
		if (*prev_s != NULL && st->after < *prev)
			policy_err(ctx, config_setting_get_member(g, "after"),
			    "%s: after is %lld s, earlier than the step before "
			    "(%lld s, line %d); after must not decrease along "
			    "the ladder: reorder the steps or fix the times",
			    where, (long long)st->after, (long long)*prev,
			    (int)config_setting_source_line(*prev_s));
		*prev = st->after;
		*prev_s = config_setting_get_member(g, "after");
	}
	if (policy_get_strlist(ctx, g, where, "notify", true,
	    POLICY_MAX_TARGETS, &l) != 1)
		return;		/* missing or bad: reported */
	n = config_setting_length(l);
	if (n == 0) {
		policy_err(ctx, l, "%s: notify is empty, so the step reaches no "
		    "one; add targets like \"primary:sms\" or remove the step",
		    where);
		return;
	}
	st->targets = policy_xcalloc((size_t)n, sizeof(*st->targets));
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string_elem(l, (unsigned)i);
		const config_setting_t *e = config_setting_get_elem(l,
		    (unsigned)i);
		struct policy_target t;

		if (policy_target_parse(v, &t, why, sizeof(why)) != 0) {
			policy_err(ctx, e, "%s: notify target %s %s", where,
			    policy_quote(q, sizeof(q), v), why);
			continue;
		}
		for (size_t k = 0; k < st->ntargets; k++)
			if (st->targets[k].who == t.who &&
			    st->targets[k].channel == t.channel &&
			    st->targets[k].emergency == t.emergency) {
				policy_warn(ctx, e, "%s: notify target %s is "
				    "listed twice; remove one", where,
				    policy_quote(q, sizeof(q), v));
				break;
			}
		st->targets[st->ntargets++] = t;
	}
}

/* Quiet hours: below this severity an alert waits for the team's
   business hours; Extreme never waits, so "Extreme" at most. */
static void
policy_read_hold_below(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_policy *pol, const char *where)
{
	char q[POLICY_QUOTE_LEN];
	const char *v;
	int sev;

	if (policy_get_string(ctx, g, where, "hold_below", false, 16, &v) != 1)
		return;
	sev = policy_severity_parse(v);
	if (sev < POLICY_SEV_MINOR || sev > POLICY_SEV_EXTREME)
		policy_err(ctx, config_setting_get_member(g, "hold_below"),
		    "%s: hold_below %s is not a severity that can wait; use "
		    "\"Moderate\", \"Severe\" or \"Extreme\" (alerts below it "
		    "wait for the team's business hours; Extreme ones never "
		    "wait)", where, policy_quote(q, sizeof(q), v));
	else
		pol->hold_below = sev;
}

/* A fax is never encrypted: what it may carry is said here, and check.c
   requires it of a policy that sends fax.  The src is the setting's even
   when its value is refused, so that check.c can tell "refused" (reported
   here) from "absent". */
static void
policy_read_fax_detail(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_policy *pol, const char *where)
{
	char q[POLICY_QUOTE_LEN];
	const char *v;

	pol->fax_detail_src = policy_src_key(ctx, g, "fax_detail");
	if (policy_get_string(ctx, g, where, "fax_detail", false, 32, &v) != 1)
		return;
	if (strcmp(v, "summary") == 0)
		pol->fax_detail = POLICY_FAX_SUMMARY;
	else if (strcmp(v, "full") == 0)
		pol->fax_detail = POLICY_FAX_FULL;
	else
		policy_err(ctx, config_setting_get_member(g, "fax_detail"),
		    "%s: fax_detail %s is not known; use \"summary\" (the "
		    "headline and how to reach the duty desk) or \"full\" (the "
		    "whole alert, unencrypted)", where,
		    policy_quote(q, sizeof(q), v));
}

/* What a step whose every delivery died does: "next" (the default) moves
   the team on at once, "wait" waits out the step's time as if it had
   been delivered. */
static void
policy_read_on_failure(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_policy *pol, const char *where)
{
	char q[POLICY_QUOTE_LEN];
	const char *v;

	if (policy_get_string(ctx, g, where, "on_failure", false, 32, &v) != 1)
		return;
	if (strcmp(v, "next") == 0)
		pol->wait_on_failure = false;
	else if (strcmp(v, "wait") == 0)
		pol->wait_on_failure = true;
	else
		policy_err(ctx, config_setting_get_member(g, "on_failure"),
		    "%s: on_failure %s is not known; use \"next\" (a step "
		    "whose every delivery failed moves the team to its next "
		    "step at once, the default) or \"wait\" (the step's time "
		    "is waited out all the same)", where,
		    policy_quote(q, sizeof(q), v));
}

/* The ladder: a list of at most POLICY_MAX_STEPS step groups. */
static const struct policy_group_list steps_list = {
	.key = "steps",
	.max = POLICY_MAX_STEPS,
	.required = true,
	.strict = true,
	.shape = "( { ... }, ... )",
	.write = "; write steps = ( { after = \"0s\"; notify = [ ... ]; } );",
	.empty = ", so the policy reaches no one; add at least one step",
	.remedy = "shorten the ladder (repeat can restart it)",
};

static void
policy_read_steps(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_policy *pol, const char *where)
{
	const config_setting_t *steps, *prev_s = NULL;
	char swhere[POLICY_QUOTE_LEN + 32];
	int64_t prev = 0;
	int n;

	if (policy_get_group_list(ctx, g, where, &steps_list, &steps, &n)
	    != 1)
		return;
	pol->steps = policy_xcalloc((size_t)n, sizeof(*pol->steps));
	for (int i = 0; i < n; i++) {
		const config_setting_t *sg = config_setting_get_elem(steps,
		    (unsigned)i);

		(void)snprintf(swhere, sizeof(swhere), "%s step %d", where,
		    i + 1);
		if (config_setting_type(sg) != CONFIG_TYPE_GROUP) {
			policy_err(ctx, sg, "%s must be a group { after = ...; "
			    "notify = [ ... ]; }, not %s", swhere,
			    policy_type_name(config_setting_type(sg)));
			continue;
		}
		policy_read_step(ctx, sg, pol, swhere, &prev, &prev_s);
	}
}

static void
policy_read_policy(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_policy *pol)
{
	static const char *const keys[] = { "steps", "repeat",
		"unsigned_acks", "fax_detail", "unreached_after", "hold_below",
		"ack_notice", "exercise_emergency", "exercise_quiet_hours",
		"on_failure", NULL };
	char where[POLICY_QUOTE_LEN + 16], q[POLICY_QUOTE_LEN];

	pol->src = policy_src_of(ctx, g);
	pol->name = policy_xstrdup(g->name);
	pol->unsigned_acks = true;
	(void)snprintf(where, sizeof(where), "policy %s",
	    policy_quote(q, sizeof(q), g->name));
	(void)policy_check_keys(ctx, g, where, keys);
	(void)policy_get_int_field(ctx, g, where, "repeat", false, 0,
	    POLICY_MAX_REPEAT, &pol->repeat);
	(void)policy_get_bool(ctx, g, where, "unsigned_acks",
	    &pol->unsigned_acks);
	(void)policy_get_bool(ctx, g, where, "ack_notice", &pol->ack_notice);
	(void)policy_get_bool(ctx, g, where, "exercise_emergency",
	    &pol->exercise_emergency);
	(void)policy_get_bool(ctx, g, where, "exercise_quiet_hours",
	    &pol->exercise_quiet_hours);
	/* 0: the ladder's last gap, see policy.h */
	(void)policy_get_duration(ctx, g, where, "unreached_after", false,
	    &pol->unreached_after);
	policy_read_hold_below(ctx, g, pol, where);
	policy_read_fax_detail(ctx, g, pol, where);
	policy_read_on_failure(ctx, g, pol, where);
	policy_read_steps(ctx, g, pol, where);
}

int
policy_read_policies(struct policy_ctx *ctx, const config_setting_t *root)
{
	struct policy_repo *repo = ctx->repo;
	const config_setting_t *p;
	int n;

	p = policy_section_entries(ctx, root, "policies", CONFIG_TYPE_GROUP,
	    "entries", POLICY_MAX_POLICIES, &n);
	if (p == NULL)
		return 0;
	repo->policies = policy_xcalloc((size_t)n, sizeof(*repo->policies));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(p,
		    (unsigned)i);
		char q[POLICY_QUOTE_LEN];

		if (strlen(g->name) > POLICY_MAX_NAME) {
			policy_err(ctx, g, "policy name %s is longer than %d "
			    "bytes; shorten it", policy_quote(q, sizeof(q),
			    g->name), POLICY_MAX_NAME);
			continue;
		}
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			policy_err(ctx, g, "policy %s must be a group { steps = "
			    "( ... ); }, not %s", policy_quote(q, sizeof(q),
			    g->name), policy_type_name(config_setting_type(g)));
			continue;
		}
		policy_read_policy(ctx, g, &repo->policies[repo->npolicies++]);
	}
	return 0;
}

int
policy_read_groups(struct policy_ctx *ctx, const config_setting_t *root)
{
	struct policy_repo *repo = ctx->repo;
	const config_setting_t *p;
	char where[POLICY_QUOTE_LEN + 16], q[POLICY_QUOTE_LEN];
	int n;

	p = policy_section_entries(ctx, root, "groups", CONFIG_TYPE_GROUP,
	    "entries", POLICY_MAX_GROUPS, &n);
	if (p == NULL)
		return 0;
	repo->groups = policy_xcalloc((size_t)n, sizeof(*repo->groups));
	for (int i = 0; i < n; i++) {
		const config_setting_t *l, *g = config_setting_get_elem(p,
		    (unsigned)i);
		struct policy_group *gr;
		int m;

		(void)snprintf(where, sizeof(where), "group %s",
		    policy_quote(q, sizeof(q), g->name));
		if (strlen(g->name) > POLICY_MAX_NAME) {
			policy_err(ctx, g, "%s: the name is longer than %d "
			    "bytes; shorten it", where, POLICY_MAX_NAME);
			continue;
		}
		if (strcasecmp(g->name, "all") == 0) {
			policy_err(ctx, g, "%s: \"all\" is a reserved address "
			    "(every team); rename the group", where);
			continue;
		}
		if (policy_get_strlist(ctx, p, "groups", g->name, true,
		    POLICY_MAX_MEMBERS, &l) != 1)
			continue;
		gr = &repo->groups[repo->ngroups++];
		gr->name = policy_xstrdup(g->name);
		gr->src = policy_src_of(ctx, g);
		m = config_setting_length(l);
		gr->members = policy_xcalloc((size_t)m, sizeof(char *));
		for (int k = 0; k < m; k++)
			gr->members[gr->nmembers++] = policy_xstrdup(
			    config_setting_get_string_elem(l, (unsigned)k));
		if (m == 0)
			policy_err(ctx, g, "%s has no members; add team ids "
			    "or remove the group", where);
	}
	return 0;
}
