/*
 * teams.c: the contact repository: teams and their contacts.
 *
 * Read after policies and providers, so a team's policy and its sshdrop
 * host (drop.c reads sshdrop) are looked up at once.  A large list comes
 * from the pre-scan's plan a slice of teams at a time (see
 * policy_read_team_slices), so that libconfig's tree of it never exists
 * whole; a team is read the same way either way.  The checks
 * here are per team and per contact (ids, E.164 numbers, time zones, hours,
 * languages, keys); checks that need targets and contacts together live in
 * check.c.  Team ids are checked hardest: they become parts of file names
 * (drop files, reports), so only ^[a-z0-9][a-z0-9-]{1,31}$ passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

/* A phone-like key of a contact and where its value goes. */
static char **
policy_phone_slot(struct policy_contact *c, int k)
{
	switch (k) {
	case 0:
		return &c->phone;
	case 1:
		return &c->mobile;
	case 2:
		return &c->emergency_phone;
	default:
		return &c->fax;
	}
}

static const char *const phone_keys[] = { "phone", "mobile",
	"emergency_phone", "fax" };

static void
policy_read_phones(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_contact *c, const char *where)
{
	char num[17], q[POLICY_QUOTE_LEN];
	const char *v;

	for (int k = 0; k < 4; k++) {
		if (policy_get_string(ctx, g, where, phone_keys[k], false, 64,
		    &v) != 1)
			continue;
		if (policy_e164_normalise(v, num, sizeof(num)) != 0) {
			policy_err(ctx, config_setting_get_member(g,
			    phone_keys[k]), "%s: %s %s is not an E.164 number; "
			    "write +, the country code and the number, 8 to 15 "
			    "digits in all (spaces, dashes, dots and "
			    "parentheses allowed), e.g. \"+254 20 555 0101\"",
			    where, phone_keys[k], policy_quote(q, sizeof(q),
			    v));
			continue;
		}
		*policy_phone_slot(c, k) = policy_xstrdup(num);
	}
}

static void
policy_read_languages(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_contact *c, const char *where)
{
	const config_setting_t *l;
	char q[POLICY_QUOTE_LEN];
	int n;

	if (policy_get_strlist(ctx, g, where, "languages", true,
	    POLICY_MAX_LANGS, &l) != 1)
		return;
	n = config_setting_length(l);
	if (n == 0) {
		policy_err(ctx, l, "%s: languages is empty; list at least one, "
		    "first preferred, e.g. [ \"en\" ]", where);
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string_elem(l, (unsigned)i);

		if (!policy_language_valid(v)) {
			policy_err(ctx, config_setting_get_elem(l, (unsigned)i),
			    "%s: language %s is not a BCP 47 tag; write a "
			    "2- or 3-letter language code like \"en\", \"sw\" "
			    "or \"pt-BR\"", where, policy_quote(q, sizeof(q),
			    v));
			continue;
		}
		c->languages[c->nlanguages++] = policy_xstrdup(v);
	}
}

/* A two-letter code (country, region) that parse accepts, stored as
   parse writes it; otherwise "WHERE: KEY "VALUE" remedy". */
static void
policy_read_code(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key, bool required,
    int (*parse)(const char *, char *), const char *remedy, char **ret)
{
	char q[POLICY_QUOTE_LEN], cc[3];
	const char *v;

	if (policy_get_string(ctx, g, where, key, required, 16, &v) != 1)
		return;
	if (parse(v, cc) != 0)
		policy_err(ctx, config_setting_get_member(g, key), "%s: %s %s %s",
		    where, key, policy_quote(q, sizeof(q), v), remedy);
	else
		*ret = policy_xstrdup(cc);
}

/* A team's or a contact's country, stored upper-case. */
static void
policy_read_country(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, char **ret)
{
	policy_read_code(ctx, g, where, "country", false, policy_country_parse,
	    "is not an ISO 3166-1 alpha-2 code; write two letters, e.g. "
	    "\"KE\"", ret);
}

static const struct policy_group_list messengers_list = {
	.key = "messengers",
	.max = POLICY_MAX_MESSENGERS,
	.shape = "( { service = ...; id = ...; } )",
	.write = "",
	.remedy = "remove some",
};

static void
policy_read_messengers(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_contact *c, const char *where)
{
	static const char *const keys[] = { "service", "id", NULL };
	const config_setting_t *l;
	int n;

	if (policy_get_group_list(ctx, g, where, &messengers_list, &l, &n)
	    != 1)
		return;
	c->messengers = policy_xcalloc((size_t)n, sizeof(*c->messengers));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l,
		    (unsigned)i);
		struct policy_messenger m = { NULL, NULL };

		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			policy_err(ctx, e, "%s: messenger %d must be a group "
			    "{ service = ...; id = ...; }, not %s", where, i + 1,
			    policy_type_name(config_setting_type(e)));
			continue;
		}
		(void)policy_check_keys(ctx, e, where, keys);
		(void)policy_get_dup(ctx, e, where, "service", true,
		    POLICY_MAX_NAME, &m.service);
		(void)policy_get_dup(ctx, e, where, "id", true, POLICY_MAX_NAME,
		    &m.id);
		if (m.service == NULL || m.id == NULL) {
			free(m.service);
			free(m.id);
			continue;
		}
		c->messengers[c->nmessengers++] = m;
	}
}

static void
policy_read_contact(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_team *team, struct policy_contact *c, int index,
    const char *twhere)
{
	static const char *const keys[] = { "name", "role", "primary",
		"substitute", "country", "timezone", "business_hours",
		"languages", "email", "pgp", "phone", "mobile",
		"emergency_phone", "fax", "messengers", "other_telecom", NULL };
	char where[2 * POLICY_QUOTE_LEN + 32], q[POLICY_QUOTE_LEN];
	char why[128];
	const char *v;
	bool has_email = false;
	int rc;

	c->src = policy_src_of(ctx, g);
	c->bh_start = c->bh_end = -1;
	(void)snprintf(where, sizeof(where), "%s contact %d", twhere, index);
	if (policy_get_dup(ctx, g, where, "name", true, POLICY_MAX_NAME,
	    &c->name) == 1) {
		(void)snprintf(where, sizeof(where), "%s contact %s", twhere,
		    policy_quote(q, sizeof(q), c->name));
		for (size_t k = 0; k < team->ncontacts; k++) {
			const struct policy_contact *o = &team->contacts[k];

			if (o != c && o->name != NULL &&
			    strcmp(o->name, c->name) == 0) {
				policy_err(ctx, config_setting_get_member(g,
				    "name"), "%s: the name is already used by "
				    "the contact at line %d of this team; "
				    "contact names must be unique in a team: "
				    "rename or merge them", where, o->src.line);
				break;
			}
		}
	}
	(void)policy_check_keys(ctx, g, where, keys);
	(void)policy_get_dup(ctx, g, where, "role", true, POLICY_MAX_NAME,
	    &c->role);
	(void)policy_get_bool(ctx, g, where, "primary", &c->primary);
	(void)policy_get_bool(ctx, g, where, "substitute", &c->substitute);
	if (c->primary && c->substitute)
		policy_warn(ctx, g, "%s: both primary and substitute; the "
		    "contact is paged as both: unset one of them", where);
	policy_read_country(ctx, g, where, &c->country);
	if (policy_get_string(ctx, g, where, "timezone", true, 128, &v) == 1) {
		if (policy_timezone_check(v, why, sizeof(why)) != 0)
			policy_err(ctx, config_setting_get_member(g, "timezone"),
			    "%s: timezone %s %s; write an IANA time zone name "
			    "such as \"Africa/Nairobi\" or \"UTC\"", where,
			    policy_quote(q, sizeof(q), v), why);
		else
			c->timezone = policy_xstrdup(v);
	}
	if (policy_get_string(ctx, g, where, "business_hours", false, 32, &v)
	    == 1 && policy_hours_parse(v, &c->bh_start, &c->bh_end) != 0) {
		c->bh_start = c->bh_end = -1;
		policy_err(ctx, config_setting_get_member(g, "business_hours"),
		    "%s: business_hours %s is not a span HH:MM-HH:MM in UTC; "
		    "write e.g. \"06:00-15:00\" (24-hour clock, start and end "
		    "differ)", where, policy_quote(q, sizeof(q), v));
	}
	policy_read_languages(ctx, g, c, where);
	has_email = policy_get_valid(ctx, g, where, "email", false, 254,
	    policy_email_valid, "is not a plain e-mail address; write e.g. "
	    "\"name@example.org\" (no display name, no brackets)",
	    &c->email) == 1;
	rc = policy_get_fpr(ctx, g, where, "pgp", false, c->pgp);
	c->pgp_src = policy_src_of(ctx, config_setting_get_member(g, "pgp") ?
	    config_setting_get_member(g, "pgp") : g);
	if (has_email && rc == 0)
		policy_err(ctx, config_setting_get_member(g, "email"), "%s: email "
		    "without pgp; alerts are only mailed encrypted: add the "
		    "contact's pgp fingerprint or remove email", where);
	policy_read_phones(ctx, g, c, where);
	policy_read_messengers(ctx, g, c, where);
	(void)policy_get_dup(ctx, g, where, "other_telecom", false,
	    POLICY_MAX_VALUE, &c->other_telecom);
	/* A contact nobody can reach is a hole in the 24/7 promise.  Only
	   count what was given, good or not, to avoid a second message. */
	if (!has_email && config_setting_get_member(g, "phone") == NULL &&
	    config_setting_get_member(g, "mobile") == NULL &&
	    config_setting_get_member(g, "emergency_phone") == NULL &&
	    config_setting_get_member(g, "fax") == NULL)
		policy_err(ctx, g, "%s has no reachable channel; add email and "
		    "pgp, mobile, phone, emergency_phone or fax", where);
}

static const struct policy_group_list contacts_list = {
	.key = "contacts",
	.max = POLICY_MAX_CONTACTS,
	.required = true,
	.example = "( { name = ...; role = ...; ... } )",
	.shape = "( { ... }, ... )",
	.write = "",
	.empty = "; a team needs at least one contact",
	.remedy = "keep the people who are paged",
};

static void
policy_read_contacts(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_team *team, const char *where)
{
	const config_setting_t *l;
	int n;

	if (policy_get_group_list(ctx, g, where, &contacts_list, &l, &n) != 1)
		return;
	team->contacts = policy_xcalloc((size_t)n, sizeof(*team->contacts));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l,
		    (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			policy_err(ctx, e, "%s: contact %d must be a group "
			    "{ name = ...; ... }, not %s", where, i + 1,
			    policy_type_name(config_setting_type(e)));
			continue;
		}
		/* Counted before reading, so duplicate names are found
		   against the contacts already read. */
		team->ncontacts++;
		policy_read_contact(ctx, e, team,
		    &team->contacts[team->ncontacts - 1], i + 1, where);
	}
}

/* The id, which also names the team in where (of wlen bytes) for the
   messages that follow. */
static void
policy_read_team_id(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_team *team, char *where, size_t wlen)
{
	struct policy_repo *repo = ctx->repo;
	char q[POLICY_QUOTE_LEN];
	const char *v;

	if (policy_get_string(ctx, g, where, "id", true, 64, &v) != 1)
		return;
	if (!policy_team_id_valid(v)) {
		policy_err(ctx, config_setting_get_member(g, "id"),
		    "%s: id %s is not a team id; use 2 to 32 lowercase "
		    "letters, digits or '-', starting with a letter or "
		    "digit (ids become parts of file names)", where,
		    policy_quote(q, sizeof(q), v));
		return;
	}
	(void)snprintf(where, wlen, "team %s", policy_quote(q, sizeof(q), v));
	for (size_t k = 0; team->id == NULL && k + 1 < repo->nteams; k++) {
		const struct policy_team *o = &repo->teams[k];

		if (o->id != NULL && strcasecmp(o->id, v) == 0) {
			policy_err(ctx, config_setting_get_member(g, "id"),
			    "%s: duplicate team id (the first is at %s:%d); "
			    "remove or rename one", where, o->src.file,
			    o->src.line);
			break;
		}
	}
	team->id = policy_xstrdup(v);
}

/* A ccTLD in ASCII (A-labels): letters, digits, '-' and '.', not
   starting with '.' or '-'. */
static bool
policy_domain_valid(const char *v)
{
	for (const char *p = v; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return v[0] != '.' && v[0] != '-';
}

/* The team's policy, read before the teams; a name close to a policy's
   gets "did you mean". */
static void
policy_read_team_policy(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_team *team, const char *where)
{
	struct policy_repo *repo = ctx->repo;
	char q[POLICY_QUOTE_LEN];
	const char *v, *best = NULL;
	size_t bestd = 3;

	if (policy_get_string(ctx, g, where, "policy", true, POLICY_MAX_NAME,
	    &v) != 1)
		return;
	if ((team->policy = policy_find(repo, v)) != NULL)
		return;
	for (size_t k = 0; k < repo->npolicies; k++) {
		size_t d = policy_distance(v, repo->policies[k].name);

		if (d < bestd) {
			bestd = d;
			best = repo->policies[k].name;
		}
	}
	if (best != NULL)
		policy_err(ctx, config_setting_get_member(g, "policy"),
		    "%s: policy %s does not exist; did you mean \"%s\"? fix "
		    "the name or define it under policies", where,
		    policy_quote(q, sizeof(q), v), best);
	else
		policy_err(ctx, config_setting_get_member(g, "policy"),
		    "%s: policy %s does not exist; define it under policies "
		    "or fix the name", where, policy_quote(q, sizeof(q), v));
}

static void
policy_read_team(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_team *team, int index)
{
	static const char *const keys[] = { "id", "domain", "cctld_operator",
		"host_organisation", "registry_operator", "country", "region",
		"policy", "contacts", "sshdrop", NULL };
	char where[POLICY_QUOTE_LEN + 16];

	team->src = policy_src_of(ctx, g);
	(void)snprintf(where, sizeof(where), "team %d", index);
	policy_read_team_id(ctx, g, team, where, sizeof(where));
	(void)policy_check_keys(ctx, g, where, keys);
	(void)policy_get_valid(ctx, g, where, "domain", true, 253,
	    policy_domain_valid, "is not a domain name; write the ccTLD in "
	    "ASCII, e.g. \"ke\" or \"xn--fiqs8s\"", &team->domain);
	(void)policy_get_dup(ctx, g, where, "cctld_operator", true,
	    POLICY_MAX_NAME, &team->cctld_operator);
	(void)policy_get_dup(ctx, g, where, "host_organisation", false,
	    POLICY_MAX_NAME, &team->host_organisation);
	(void)policy_get_dup(ctx, g, where, "registry_operator", false,
	    POLICY_MAX_NAME, &team->registry_operator);
	policy_read_country(ctx, g, where, &team->country);
	policy_read_code(ctx, g, where, "region", true, policy_region_parse,
	    "is unknown; use one of AF, AN, AS, EU, NA, OC, SA",
	    &team->region);
	policy_read_team_policy(ctx, g, team, where);
	policy_read_team_drop(ctx, g, team, where);
	policy_read_contacts(ctx, g, team, where);
}

/* The first n teams of list, which are teams first + 1 to first + n of the
   repository, into repo->teams (of room for them). */
static void
policy_read_team_list(struct policy_ctx *ctx, const config_setting_t *list,
    int n, int first)
{
	struct policy_repo *repo = ctx->repo;

	/* Each team's part of libconfig's tree goes once it is read: the
	   tree is about three times the text (31 MiB for 15,000 contacts),
	   and the teams built from it then reuse its memory instead of
	   adding to it. */
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, 0);

		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			policy_err(ctx, e, "team %d must be a group { id = ...; "
			    "... }, not %s", first + i + 1,
			    policy_type_name(config_setting_type(e)));
		else {
			repo->nteams++;
			policy_read_team(ctx, e, &repo->teams[repo->nteams - 1],
			    first + i + 1);
		}
		(void)config_setting_remove_elem((config_setting_t *)list, 0);
	}
}

int
policy_read_teams(struct policy_ctx *ctx, const config_setting_t *root)
{
	struct policy_repo *repo = ctx->repo;
	const config_setting_t *list = config_setting_get_member(root, "teams");
	int n;

	if (list == NULL) {
		policy_err(ctx, root, "the teams section is missing, so there "
		    "is no one to alert; add teams = ( { id = ...; ... } );");
		return 0;
	}
	if (!policy_is_list(list)) {
		policy_err(ctx, list, "teams must be a list ( { ... }, ... ), "
		    "not %s", policy_type_name(config_setting_type(list)));
		return 0;
	}
	n = config_setting_length(list);
	if (n == 0) {
		policy_err(ctx, list, "teams is empty, so there is no one to "
		    "alert; add at least one team");
		return 0;
	}
	if (n > POLICY_MAX_TEAMS) {
		policy_err(ctx, list, "teams has %d entries, more than the %d "
		    "allowed; split the deployment", n, POLICY_MAX_TEAMS);
		n = POLICY_MAX_TEAMS;
	}
	repo->teams = policy_xcalloc((size_t)n, sizeof(*repo->teams));
	policy_read_team_list(ctx, list, n, 0);
	return 0;
}

/* Read libconfig's slice of a teams list: "teams = (" and the text of
   teams first to first + n - 1 of plan, then ");". */
static int
policy_read_slice(struct policy_ctx *ctx, const struct policy_teams_plan *plan,
    size_t first, size_t n)
{
	static const char head[] = "teams = (", tail[] = ");";
	const struct policy_team_span *a = &plan->teams[first];
	const struct policy_team_span *z = &plan->teams[first + n - 1];
	size_t hl = sizeof(head) - 1, body = z->end - a->start;
	const config_setting_t *list;
	config_t cf;
	char *text;
	int rc = -1;

	text = policy_xcalloc(hl + body + sizeof(tail), 1);
	memcpy(text, head, hl);
	memcpy(text + hl, plan->text + a->start, body);
	memcpy(text + hl + body, tail, sizeof(tail));
	config_init(&cf);
	if (config_read_string(&cf, text) == CONFIG_TRUE &&
	    (list = config_lookup(&cf, "teams")) != NULL &&
	    config_setting_length(list) == (int)n) {
		/* The first team's '{' is on line 1 of the slice. */
		ctx->slice_root = config_root_setting(&cf);
		ctx->slice_file = plan->file;
		ctx->slice_lines = a->line - 1;
		policy_read_team_list(ctx, list, (int)n, (int)first);
		ctx->slice_root = NULL;
		ctx->slice_file = NULL;
		ctx->slice_lines = 0;
		rc = 0;
	}
	config_destroy(&cf);
	free(text);
	return rc;
}

int
policy_read_team_slices(struct policy_ctx *ctx,
    const struct policy_teams_plan *plan)
{
	size_t n = plan->nteams;

	/* The pre-scan found 1 to POLICY_MAX_TEAMS teams: the messages of
	   policy_read_teams on the list as a whole cannot come. */
	ctx->repo->teams = policy_xcalloc(n, sizeof(*ctx->repo->teams));
	for (size_t first = 0; first < n; first += POLICY_SLICE_TEAMS)
		if (policy_read_slice(ctx, plan, first, n - first <
		    POLICY_SLICE_TEAMS ? n - first : POLICY_SLICE_TEAMS) != 0)
			return -1;
	return 0;
}
