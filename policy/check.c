/*
 * check.c: checks that need the whole repository, run once every section
 * has been read.
 *
 * - groups: members name something, no cycles, no chain deeper than
 *   POLICY_MAX_GROUP_DEPTH, no clash with a team id;
 * - addresses (default_audience, may_address, quorum audience and groups)
 *   resolve to at least one team; a quorum rule's min_teams is not above
 *   the number of teams;
 * - every contact a policy target addresses has that target's channel;
 * - targets that nothing can carry yet (pgp-email without providers.smtp);
 * - fax, never encrypted: a policy that sends it sets fax_detail, and the
 *   duty desk has a number a faxed team can call;
 * - a team whose policy sends team:sshdrop has an sshdrop (a warning: the
 *   other targets still reach it).
 * Key look-ups in GnuPG are not done here: certs/ does them with pgp_src and
 * signing_key_src.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base.h"
#include "i18n.h"
#include "policy_int.h"

enum { GRP_NEW, GRP_ACTIVE, GRP_DONE };

struct policy_grpcheck {
	struct policy_ctx *ctx;
	unsigned char *state;
	bool *nonempty;
};

/* Whether a member that is not a group names at least one team. */
static bool
policy_member_direct(const struct policy_repo *repo, const char *m)
{
	char r[3];

	if (strcasecmp(m, "all") == 0)
		return repo->nteams > 0;
	if (strncasecmp(m, "region:", 7) == 0) {
		if (policy_region_parse(m + 7, r) != 0)
			return false;
		for (size_t i = 0; i < repo->nteams; i++)
			if (repo->teams[i].region != NULL &&
			    strcmp(repo->teams[i].region, r) == 0)
				return true;
		return false;
	}
	return policy_team_find(repo, m) != NULL;
}

static void
policy_group_visit(struct policy_grpcheck *gc, size_t gi, int depth)
{
	struct policy_repo *repo = gc->ctx->repo;
	const struct policy_group *g = &repo->groups[gi];
	char q[POLICY_QUOTE_LEN], q2[POLICY_QUOTE_LEN];
	bool member_error = false;

	gc->state[gi] = GRP_ACTIVE;
	for (size_t k = 0; k < g->nmembers; k++) {
		const char *m = g->members[k];
		const struct policy_group *h;
		size_t hi;

		if (policy_member_direct(repo, m)) {
			gc->nonempty[gi] = true;
			continue;
		}
		if ((h = policy_group_find(repo, m)) == NULL) {
			member_error = true;
			policy_err_at(gc->ctx, g->src, "group %s: member %s names "
			    "no team, group or region with teams; fix or remove "
			    "it", policy_quote(q, sizeof(q), g->name),
			    policy_quote(q2, sizeof(q2), m));
			continue;
		}
		hi = (size_t)(h - repo->groups);
		if (gc->state[hi] == GRP_ACTIVE) {
			member_error = true;
			policy_err_at(gc->ctx, g->src, "group %s: member %s leads "
			    "back to this group (a cycle); remove one of the "
			    "references", policy_quote(q, sizeof(q), g->name),
			    policy_quote(q2, sizeof(q2), m));
			continue;
		}
		if (gc->state[hi] == GRP_NEW) {
			if (depth + 1 >= POLICY_MAX_GROUP_DEPTH) {
				member_error = true;
				policy_err_at(gc->ctx, g->src, "group %s: groups "
				    "nest deeper than %d through %s; flatten "
				    "them", policy_quote(q, sizeof(q), g->name),
				    POLICY_MAX_GROUP_DEPTH,
				    policy_quote(q2, sizeof(q2), m));
				/* Not visited from here: its own top-level
				   visit still checks its members. */
				continue;
			}
			policy_group_visit(gc, hi, depth + 1);
		}
		if (gc->nonempty[hi])
			gc->nonempty[gi] = true;
		else
			member_error = true;	/* reported at that group */
	}
	gc->state[gi] = GRP_DONE;
	if (!gc->nonempty[gi] && !member_error && g->nmembers > 0)
		policy_err_at(gc->ctx, g->src, "group %s names no team; add "
		    "team ids or remove the group", policy_quote(q, sizeof(q),
		    g->name));
}

static void
policy_check_groups(struct policy_ctx *ctx)
{
	struct policy_repo *repo = ctx->repo;
	struct policy_grpcheck gc;
	char q[POLICY_QUOTE_LEN];

	for (size_t i = 0; i < repo->ngroups; i++) {
		const struct policy_group *g = &repo->groups[i];

		/* An address must mean one thing. */
		if (policy_team_find(repo, g->name) != NULL)
			policy_err_at(ctx, g->src, "group %s has the name of a "
			    "team id, so the address is ambiguous; rename the "
			    "group", policy_quote(q, sizeof(q), g->name));
		for (size_t k = 0; k < i; k++)
			if (strcasecmp(repo->groups[k].name, g->name) == 0) {
				policy_err_at(ctx, g->src, "group %s differs "
				    "from group %s only in case; addresses "
				    "ignore case: rename one", policy_quote(q,
				    sizeof(q), g->name), repo->groups[k].name);
				break;
			}
	}
	gc.ctx = ctx;
	gc.state = policy_xcalloc(repo->ngroups, 1);
	gc.nonempty = policy_xcalloc(repo->ngroups, sizeof(bool));
	for (size_t i = 0; i < repo->ngroups; i++)
		if (gc.state[i] == GRP_NEW)
			policy_group_visit(&gc, i, 0);
	free(gc.state);
	free(gc.nonempty);
}

static void
policy_check_address(struct policy_ctx *ctx, struct policy_src src,
    const char *what, const char *address, bool *mark)
{
	struct tocsin_err err;

	memset(mark, 0, ctx->repo->nteams * sizeof(bool));
	if (policy_resolve(ctx->repo, address, mark, &err) != 0)
		policy_err_at(ctx, src, "%s: %s; use all, region:XX, a group "
		    "name or a team id that exists", what, err.msg);
}

static void
policy_check_addresses(struct policy_ctx *ctx)
{
	struct policy_repo *repo = ctx->repo;
	char what[POLICY_QUOTE_LEN + 32], q[POLICY_QUOTE_LEN];
	bool *mark;

	/* Without teams every address fails; that is reported once. */
	if (repo->nteams == 0)
		return;
	mark = policy_xcalloc(repo->nteams, sizeof(bool));
	if (repo->gateway.default_audience != NULL)
		policy_check_address(ctx, repo->gateway.src,
		    "gateway: default_audience",
		    repo->gateway.default_audience, mark);
	for (size_t i = 0; i < repo->nissuers; i++) {
		const struct policy_issuer *is = &repo->issuers[i];

		(void)snprintf(what, sizeof(what), "issuer %s: may_address",
		    policy_quote(q, sizeof(q), is->name));
		for (size_t k = 0; k < is->nmay_address; k++)
			policy_check_address(ctx, is->src, what,
			    is->may_address[k], mark);
	}
	for (size_t i = 0; i < repo->nquorum; i++) {
		const struct policy_quorum *qr = &repo->quorum[i];

		(void)snprintf(what, sizeof(what), "quorum rule %zu: audience",
		    i + 1);
		if (qr->audience != NULL)
			policy_check_address(ctx, qr->src, what, qr->audience,
			    mark);
		(void)snprintf(what, sizeof(what), "quorum rule %zu: groups",
		    i + 1);
		for (size_t k = 0; k < qr->ngroups; k++)
			policy_check_address(ctx, qr->groups_src, what,
			    qr->groups[k], mark);
		/* a rule no alert can meet protects nothing: say so */
		if (qr->min_teams > 0 && (size_t)qr->min_teams > repo->nteams)
			policy_warn_at(ctx, qr->src, "quorum rule %zu: "
			    "min_teams = %d but the repository has %zu teams, "
			    "so the rule applies to no alert; lower min_teams",
			    i + 1, qr->min_teams, repo->nteams);
	}
	free(mark);
}

/* What a contact needs for a target, for the message. */
static const char *
policy_needs(const struct policy_target *t)
{
	switch (t->channel->field) {
	case POLICY_FIELD_EMAIL:
		return "email and pgp";
	case POLICY_FIELD_MOBILE:
		return t->emergency ? "emergency_phone" : "mobile";
	case POLICY_FIELD_PHONE:
		return t->emergency ? "emergency_phone" : "phone";
	case POLICY_FIELD_FAX:
		return "fax";
	default:
		return "nothing";
	}
}

static void
policy_check_team_targets(struct policy_ctx *ctx, const struct policy_team *tm,
    size_t *idx, unsigned *reported)
{
	const struct policy_policy *pol = tm->policy;
	char q[POLICY_QUOTE_LEN], q2[POLICY_QUOTE_LEN], q3[POLICY_QUOTE_LEN];
	unsigned who_warned = 0;

	/* A team whose id was refused is named by its place in the list. */
	if (tm->id != NULL)
		(void)policy_quote(q, sizeof(q), tm->id);
	else
		(void)snprintf(q, sizeof(q), "%zu",
		    (size_t)(tm - ctx->repo->teams) + 1);

	memset(reported, 0, tm->ncontacts * sizeof(unsigned));
	for (size_t s = 0; s < pol->nsteps; s++) {
		const struct policy_step *st = &pol->steps[s];

		for (size_t k = 0; k < st->ntargets; k++) {
			const struct policy_target *t = &st->targets[k];
			/* One bit per channel and emergency flag. */
			unsigned bit = 1u << (policy_kind_index(t->channel) %
			    16 * 2 + t->emergency);
			size_t n;

			if (t->who == POLICY_WHO_TEAM)
				continue;
			policy_target_contacts(tm, t, idx, &n);
			if (n == 0 && !(who_warned & (1u << t->who))) {
				who_warned |= 1u << t->who;
				policy_warn_at(ctx, tm->src, "team %s has no %s "
				    "contact, so policy %s step %zu reaches no "
				    "one with %s:%s; mark a contact %s = true",
				    q,
				    policy_who_name(t->who),
				    policy_quote(q2, sizeof(q2), pol->name),
				    s + 1, policy_who_name(t->who),
				    t->channel->name,
				    policy_who_name(t->who));
			}
			for (size_t i = 0; i < n; i++) {
				const struct policy_contact *c =
				    &tm->contacts[idx[i]];

				if (policy_contact_endpoint(c, t) != NULL ||
				    (reported[idx[i]] & bit))
					continue;
				/* A contact without any channel was reported
				   as such; one message is enough. */
				if (c->email == NULL && c->phone == NULL &&
				    c->mobile == NULL && c->fax == NULL &&
				    c->emergency_phone == NULL)
					continue;
				reported[idx[i]] |= bit;
				policy_err_at(ctx, c->src, "team %s contact %s "
				    "has no %s, but policy %s step %zu sends "
				    "%s:%s%s; add %s to the contact or change "
				    "the team's policy", q,
				    policy_quote(q2, sizeof(q2), c->name),
				    policy_needs(t),
				    policy_quote(q3, sizeof(q3), pol->name),
				    s + 1, policy_who_name(t->who),
				    t->channel->name,
				    t->emergency ? ":emergency" : "",
				    policy_needs(t));
			}
		}
	}
}

static void
policy_check_targets(struct policy_ctx *ctx)
{
	struct policy_repo *repo = ctx->repo;
	size_t *idx = policy_xcalloc(POLICY_MAX_CONTACTS, sizeof(size_t));
	unsigned *reported = policy_xcalloc(POLICY_MAX_CONTACTS,
	    sizeof(unsigned));

	for (size_t i = 0; i < repo->nteams; i++) {
		const struct policy_team *tm = &repo->teams[i];

		if (tm->policy != NULL && tm->ncontacts > 0)
			policy_check_team_targets(ctx, tm, idx, reported);
	}
	free(idx);
	free(reported);
}

/* The first language of contact c of team, when it has one. */
static const char *
policy_first_lang(const struct policy_team *team, size_t c)
{
	return team->contacts[c].nlanguages > 0 ?
	    team->contacts[c].languages[0] : NULL;
}

/*
 * A contact's first language is the one the gateway writes to them in;
 * one without a catalog gets the gateway's own texts in English.  One
 * warning per such language, naming its teams, at the first contact who
 * reads it.
 */
#define POLICY_LANG_TEAMS_SHOWN 12
static void
policy_check_languages(struct policy_ctx *ctx)
{
	const struct policy_repo *repo = ctx->repo;
	const struct i18n_cat *cat = repo->gateway.catalog;

	for (size_t t = 0; t < repo->nteams; t++)
		for (size_t c = 0; c < repo->teams[t].ncontacts; c++) {
			const char *lang = policy_first_lang(&repo->teams[t], c);
			struct base_buf ids = { .limit = 1024 };
			bool seen = false;
			size_t nteams = 0;

			if (lang == NULL || i18n_has(cat, lang))
				continue;
			/* told already, at an earlier contact? */
			for (size_t u = 0; u <= t && !seen; u++)
				for (size_t k = 0; k < repo->teams[u].ncontacts &&
				    (u < t || k < c) && !seen; k++)
					seen = policy_first_lang(&repo->teams[u],
					    k) != NULL && strcasecmp(
					    policy_first_lang(&repo->teams[u],
					    k), lang) == 0;
			if (seen)
				continue;
			for (size_t u = t; u < repo->nteams; u++) {
				bool reads = false;

				for (size_t k = 0; k < repo->teams[u].ncontacts &&
				    !reads; k++)
					reads = policy_first_lang(&repo->teams[u],
					    k) != NULL && strcasecmp(
					    policy_first_lang(&repo->teams[u],
					    k), lang) == 0;
				if (!reads)
					continue;
				/* a team whose id did not parse is still in the
				   repository for the other diagnostics */
				if (nteams++ < POLICY_LANG_TEAMS_SHOWN) {
					base_buf_puts(&ids, nteams > 1 ? ", " : "");
					base_buf_puts(&ids, repo->teams[u].id != NULL ?
					    repo->teams[u].id : "(no id)");
				}
			}
			if (nteams > POLICY_LANG_TEAMS_SHOWN)
				base_buf_puts(&ids, " and others");
			policy_warn_at(ctx, repo->teams[t].contacts[c].src,
			    "language %.16s has no catalog in %s, so the "
			    "gateway's own texts (labels, ack instructions, call "
			    "prompts, the ack page) reach team%s %s in English "
			    "(%zu team%s); add po/%.16s.po and rebuild (README, "
			    "\"Languages\"), or set gateway.locale_dir to the "
			    "folder that has it", lang, i18n_dir(cat),
			    nteams > 1 ? "s" : "", ids.p != NULL ? ids.p : "",
			    nteams, nteams > 1 ? "s" : "", lang);
			base_buf_free(&ids);
		}
}

void
policy_check_all(struct policy_ctx *ctx)
{
	struct policy_repo *repo = ctx->repo;
	struct policy_src src = { repo->files[0], 0 };

	policy_check_groups(ctx);
	policy_check_addresses(ctx);
	policy_check_targets(ctx);
	policy_check_languages(ctx);
	/* what each channel in use needs besides its contacts' fields */
	for (const struct policy_kind *const *k = policy_kinds(); *k != NULL;
	    k++)
		if ((*k)->check != NULL)
			(*k)->check(repo, ctx->diag);
	if (repo->gateway.desk_team != NULL &&
	    policy_team_find(repo, repo->gateway.desk_team) == NULL)
		policy_err_at(ctx, repo->gateway.desk_team_src, "gateway: "
		    "desk_team \"%.64s\" is not a team of the repository; add "
		    "the desk's own on-call as a team (its contacts and ladder "
		    "are paged when another team is unreached) or remove "
		    "desk_team", repo->gateway.desk_team);
	if (repo->nissuers == 0)
		policy_warn_at(ctx, src, "no issuers are configured, so every "
		    "alert is refused; add an issuers list");
}
