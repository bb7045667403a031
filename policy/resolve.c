/*
 * resolve.c: questions asked of a loaded repository: which teams an address
 * names, which contacts a target reaches, and at which endpoint; which
 * drop host a name means.
 *
 * The repository is read-only here, so these functions may run in many
 * threads at once; the only memory they take is a scratch array per
 * resolve.  Team ids and regions compare case-insensitively (alerts are
 * written by people); group names are exact first, then case-insensitive.
 * Groups are expanded once per resolve, which bounds the work on a group
 * graph with many paths and makes cycles harmless (load refuses them).
 * A fax number becomes its gateway's e-mail address here too, without
 * allocating.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

enum { RES_NEW, RES_ACTIVE, RES_FOUND, RES_EMPTY };

const struct policy_team *
policy_team_find(const struct policy_repo *repo, const char *id)
{
	if (repo == NULL || id == NULL)
		return NULL;
	for (size_t i = 0; i < repo->nteams; i++)
		if (repo->teams[i].id != NULL &&
		    strcasecmp(repo->teams[i].id, id) == 0)
			return &repo->teams[i];
	return NULL;
}

const struct policy_policy *
policy_find(const struct policy_repo *repo, const char *name)
{
	if (repo == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < repo->npolicies; i++)
		if (repo->policies[i].name != NULL &&
		    strcmp(repo->policies[i].name, name) == 0)
			return &repo->policies[i];
	return NULL;
}

const struct policy_drop_host *
policy_drop_find(const struct policy_repo *repo, const char *name)
{
	if (repo == NULL || name == NULL || name[0] == '\0')
		return NULL;
	for (size_t i = 0; i < repo->ndrops; i++)
		if (repo->drops[i].name != NULL &&
		    strcmp(repo->drops[i].name, name) == 0)
			return &repo->drops[i];
	return NULL;
}

const struct policy_group *
policy_group_find(const struct policy_repo *repo, const char *name)
{
	for (size_t i = 0; i < repo->ngroups; i++)
		if (strcmp(repo->groups[i].name, name) == 0)
			return &repo->groups[i];
	for (size_t i = 0; i < repo->ngroups; i++)
		if (strcasecmp(repo->groups[i].name, name) == 0)
			return &repo->groups[i];
	return NULL;
}

int
policy_resolve_depth(const struct policy_repo *repo, const char *address,
    bool *mark, unsigned char *state, int depth, struct tocsin_err *err)
{
	/* state holds one RES_* value per group. */
	char q[POLICY_QUOTE_LEN], r[3];
	const struct policy_team *t;
	const struct policy_group *g;
	size_t gi;
	bool any = false;

	if (address == NULL || address[0] == '\0')
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "the address is "
		    "empty");
	if (strcasecmp(address, "all") == 0) {
		if (repo->nteams == 0)
			return tocsin_fail(err, TOCSIN_ENOTFOUND, "address "
			    "\"all\" names no team: there are none");
		for (size_t i = 0; i < repo->nteams; i++)
			mark[i] = true;
		return 0;
	}
	if (strncasecmp(address, "region:", 7) == 0) {
		if (policy_region_parse(address + 7, r) != 0)
			return tocsin_fail(err, TOCSIN_ENOTFOUND, "address %s "
			    "names an unknown region (AF, AN, AS, EU, NA, OC, "
			    "SA)", policy_quote(q, sizeof(q), address));
		for (size_t i = 0; i < repo->nteams; i++)
			if (repo->teams[i].region != NULL &&
			    strcmp(repo->teams[i].region, r) == 0) {
				mark[i] = true;
				any = true;
			}
		if (!any)
			return tocsin_fail(err, TOCSIN_ENOTFOUND, "address %s "
			    "names a region without teams",
			    policy_quote(q, sizeof(q), address));
		return 0;
	}
	if ((t = policy_team_find(repo, address)) != NULL) {
		mark[t - repo->teams] = true;
		return 0;
	}
	if ((g = policy_group_find(repo, address)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "address %s names no "
		    "team, group or region", policy_quote(q, sizeof(q),
		    address));
	gi = (size_t)(g - repo->groups);
	switch (state[gi]) {
	case RES_FOUND:
		return 0;
	case RES_ACTIVE:
	case RES_EMPTY:
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "group %s names no "
		    "team", policy_quote(q, sizeof(q), address));
	default:
		break;
	}
	if (depth > POLICY_MAX_GROUP_DEPTH + 2)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "group %s nests too "
		    "deep", policy_quote(q, sizeof(q), address));
	state[gi] = RES_ACTIVE;
	for (size_t k = 0; k < g->nmembers; k++)
		if (policy_resolve_depth(repo, g->members[k], mark, state,
		    depth + 1, NULL) == 0)
			any = true;
	state[gi] = any ? RES_FOUND : RES_EMPTY;
	if (!any)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "group %s names no "
		    "team", policy_quote(q, sizeof(q), address));
	return 0;
}

int
policy_resolve(const struct policy_repo *repo, const char *address,
    bool *mark, struct tocsin_err *err)
{
	unsigned char *state;
	int rc;

	if (repo == NULL || mark == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "policy_resolve "
		    "without a repository");
	if ((state = calloc(repo->ngroups + 1, 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	rc = policy_resolve_depth(repo, address, mark, state, 0, err);
	free(state);
	return rc;
}

void
policy_target_contacts(const struct policy_team *team,
    const struct policy_target *t, size_t *idx, size_t *n)
{
	*n = 0;
	switch (t->who) {
	case POLICY_WHO_PRIMARY:
		for (size_t i = 0; i < team->ncontacts; i++)
			if (team->contacts[i].primary)
				idx[(*n)++] = i;
		if (*n > 0)
			return;
		/* No primary: the first contact that is no substitute. */
		for (size_t i = 0; i < team->ncontacts; i++)
			if (!team->contacts[i].substitute) {
				idx[(*n)++] = i;
				return;
			}
		return;
	case POLICY_WHO_SUBSTITUTE:
		for (size_t i = 0; i < team->ncontacts; i++)
			if (team->contacts[i].substitute)
				idx[(*n)++] = i;
		return;
	case POLICY_WHO_ALL:
		for (size_t i = 0; i < team->ncontacts; i++)
			idx[(*n)++] = i;
		return;
	case POLICY_WHO_TEAM:
	default:
		return;
	}
}

const char *
policy_contact_endpoint(const struct policy_contact *c,
    const struct policy_target *t)
{
	switch (t->channel->field) {
	case POLICY_FIELD_EMAIL:
		/* Mail goes out encrypted only: no key, no endpoint. */
		return c->pgp[0] != '\0' ? c->email : NULL;
	case POLICY_FIELD_MOBILE:
		return t->emergency ? c->emergency_phone : c->mobile;
	case POLICY_FIELD_PHONE:
		return t->emergency ? c->emergency_phone : c->phone;
	case POLICY_FIELD_FAX:
		return t->emergency ? NULL : c->fax;
	case POLICY_FIELD_TEAM:
	default:
		return NULL;
	}
}

/*
 * The number goes in as digits, or with its '+' when fax->plus; nothing is
 * escaped, because providers.fax's template and an E.164 number hold only
 * characters an address may hold (fax.c checked the template).  out is
 * written only on success: on failure it is untouched.
 */
int
policy_fax_address(const struct policy_fax *fax, const char *e164,
    char *out, size_t outlen)
{
	const char *ph;
	size_t nd, pre, post, len;

	if (fax == NULL || fax->address == NULL || e164 == NULL ||
	    out == NULL)
		return TOCSIN_EINTERNAL;
	/* Already normalised: "+", no country code 0, 8..15 digits. */
	if (e164[0] != '+' || e164[1] == '0')
		return TOCSIN_EDATA;
	nd = strspn(e164 + 1, "0123456789");
	if (e164[1 + nd] != '\0' || nd < 8 || nd > 15)
		return TOCSIN_EDATA;
	if ((ph = strstr(fax->address, POLICY_FAX_NUMBER)) == NULL)
		return TOCSIN_EINTERNAL;
	pre = (size_t)(ph - fax->address);
	post = strlen(ph + POLICY_FAX_NUMBER_LEN);
	len = pre + (fax->plus ? 1 : 0) + nd + post;
	/* RFC 5321 4.5.3.1.3: a path holds at most 256 bytes with its angle
	   brackets, so an address at most 254. */
	if (len > 254 || len >= outlen)
		return TOCSIN_EDATA;
	memcpy(out, fax->address, pre);
	if (fax->plus)
		out[pre++] = '+';
	memcpy(out + pre, e164 + 1, nd);
	memcpy(out + pre + nd, ph + POLICY_FAX_NUMBER_LEN, post);
	out[len] = '\0';
	return 0;
}
