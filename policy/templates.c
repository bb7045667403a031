/*
 * templates.c: the alerts the desk sends often, as templates that
 * `tocsin compose` fills in (templates section).
 *
 * A template gives the CAP fields that do not change from one incident to
 * the next (event, category, severity, urgency, certainty, the usual
 * audience) and the texts in each language, with {placeholders} that
 * compose fills from --set NAME=VALUE.  Placeholders are checked here, so
 * that a template that cannot be filled is found by `check`, not at 3 a.m.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define POLICY_MAX_TEMPLATES 64
#define POLICY_MAX_TEXTS 16
#define POLICY_TEMPLATE_TEXT 4096	/* bytes of a description */

static const char *const cap_categories[] = { "Geo", "Met", "Safety",
	"Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
	"CBRNE", "Other", NULL };
static const char *const cap_urgencies[] = { "Immediate", "Expected",
	"Future", "Past", "Unknown", NULL };
static const char *const cap_certainties[] = { "Observed", "Likely",
	"Possible", "Unlikely", "Unknown", NULL };

bool
policy_placeholder_ok(const char *t, char *bad, size_t badlen)
{
	for (const char *c = t; (c = strchr(c, '{')) != NULL; c++) {
		const char *e = strchr(c, '}');
		size_t n;

		if (e == NULL) {
			snprintf(bad, badlen, "a '{' without its '}'");
			return false;
		}
		n = (size_t)(e - c - 1);
		if (n == 0 || n > POLICY_PLACEHOLDER_MAX ||
		    strspn(c + 1, "abcdefghijklmnopqrstuvwxyz0123456789_") != n ||
		    c[1] < 'a' || c[1] > 'z') {
			snprintf(bad, badlen, "%.*s", (int)(n > 40 ? 40 : n) + 2,
			    c);
			return false;
		}
		c = e;
	}
	return true;
}

/* A text of the template, its placeholders checked. */
static void
read_text_field(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key, bool required, size_t max,
    char **ret)
{
	char bad[64];

	if (policy_get_dup(ctx, g, where, key, required, max, ret) == 1 &&
	    !policy_placeholder_ok(*ret, bad, sizeof(bad)))
		policy_err(ctx, config_setting_get_member(g, key), "%s: %s has "
		    "%s, which is no placeholder; a placeholder is {name} of "
		    "lower-case letters, digits and '_', starting with a "
		    "letter (write a brace as part of a name's value)", where,
		    key, bad);
}

static void
read_texts(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_template *t, const char *where)
{
	static const struct policy_group_list d = {
		.key = "texts", .max = POLICY_MAX_TEXTS, .required = true,
		.example = "( { language = \"en\"; headline = \"...\"; } )",
		.empty = "; give at least the English text",
		.remedy = "one per language",
	};
	static const char *const keys[] = { "language", "headline",
		"description", "instruction", NULL };
	const config_setting_t *l;
	int n;

	if (policy_get_group_list(ctx, g, where, &d, &l, &n) != 1)
		return;
	t->texts = policy_xcalloc((size_t)n, sizeof(*t->texts));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = policy_list_elem_group(ctx, l, i,
		    "text");
		struct policy_template_text *x;
		char w[POLICY_QUOTE_LEN + 64];

		if (e == NULL)
			continue;
		x = &t->texts[t->ntexts++];
		(void)snprintf(w, sizeof(w), "%s text %d", where, i + 1);
		(void)policy_check_keys(ctx, e, w, keys);
		if (policy_get_valid(ctx, e, w, "language", true, 35,
		    policy_language_valid, "is not a language tag such as "
		    "\"en\", \"fr\" or \"zh-Hans\"", &x->language) == 1)
			for (size_t k = 0; k + 1 < t->ntexts; k++)
				if (t->texts[k].language != NULL &&
				    strcasecmp(t->texts[k].language,
				    x->language) == 0)
					policy_err(ctx, e, "%s: language %s "
					    "is given twice", w, x->language);
		read_text_field(ctx, e, w, "headline", true, 160,
		    &x->headline);
		read_text_field(ctx, e, w, "description", false,
		    POLICY_TEMPLATE_TEXT, &x->description);
		read_text_field(ctx, e, w, "instruction", false,
		    POLICY_TEMPLATE_TEXT, &x->instruction);
	}
}

int
policy_read_templates(struct policy_ctx *ctx, const config_setting_t *root)
{
	static const char *const keys[] = { "event", "category", "severity",
		"urgency", "certainty", "audience", "texts", NULL };
	struct policy_repo *repo = ctx->repo;
	const config_setting_t *p;
	int n;

	p = policy_section_entries(ctx, root, "templates", CONFIG_TYPE_GROUP,
	    "entries", POLICY_MAX_TEMPLATES, &n);
	if (p == NULL)
		return 0;
	repo->templates = policy_xcalloc((size_t)n, sizeof(*repo->templates));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(p,
		    (unsigned)i);
		struct policy_template *t;
		const config_setting_t *l;
		const char *sev = NULL;
		char where[POLICY_QUOTE_LEN + 16], q[POLICY_QUOTE_LEN];

		(void)snprintf(where, sizeof(where), "template %s",
		    policy_quote(q, sizeof(q), g->name));
		if (!config_setting_is_group(g)) {
			policy_err(ctx, g, "%s must be a group { event = "
			    "\"...\"; texts = ( ... ); }", where);
			continue;
		}
		if (strlen(g->name) > POLICY_MAX_NAME) {
			policy_err(ctx, g, "%s: the name is longer than %d "
			    "bytes; shorten it", where, POLICY_MAX_NAME);
			continue;
		}
		t = &repo->templates[repo->ntemplates++];
		t->name = policy_xstrdup(g->name);
		t->src = policy_src_of(ctx, g);
		(void)policy_check_keys(ctx, g, where, keys);
		read_text_field(ctx, g, where, "event", true, 160, &t->event);
		t->category = policy_xstrdup("Security");
		t->urgency = policy_xstrdup("Immediate");
		t->certainty = policy_xstrdup("Observed");
		policy_read_choice(ctx, g, where, "category", 32,
		    cap_categories, "a CAP category: Geo, Met, Safety, "
		    "Security, Rescue, Fire, Health, Env, Transport, Infra, "
		    "CBRNE or Other", &t->category);
		policy_read_choice(ctx, g, where, "urgency", 32, cap_urgencies,
		    "a CAP urgency: Immediate, Expected, Future, Past or "
		    "Unknown", &t->urgency);
		policy_read_choice(ctx, g, where, "certainty", 32,
		    cap_certainties, "a CAP certainty: Observed, Likely, "
		    "Possible, Unlikely or Unknown", &t->certainty);
		t->severity = POLICY_SEV_SEVERE;
		if (policy_get_string(ctx, g, where, "severity", false, 16,
		    &sev) == 1 && (t->severity = policy_severity_parse(sev)) ==
		    POLICY_SEV_UNKNOWN)
			policy_err(ctx, config_setting_get_member(g, "severity"),
			    "%s: severity \"%s\" is not Extreme, Severe, "
			    "Moderate or Minor", where, sev);
		if (policy_get_strlist(ctx, g, where, "audience", false, 64,
		    &l) == 1) {
			int m = config_setting_length(l);

			t->audience = policy_xcalloc((size_t)m + 1,
			    sizeof(char *));
			for (int k = 0; k < m; k++)
				t->audience[t->naudience++] = policy_xstrdup(
				    config_setting_get_string_elem(l,
				    (unsigned)k));
		}
		read_texts(ctx, g, t, where);
	}
	return 0;
}

void
policy_templates_free(struct policy_template *t, size_t n)
{
	for (size_t i = 0; i < n && t != NULL; i++) {
		free(t[i].name);
		free(t[i].event);
		free(t[i].category);
		free(t[i].urgency);
		free(t[i].certainty);
		for (size_t k = 0; k < t[i].naudience; k++)
			free(t[i].audience[k]);
		free(t[i].audience);
		for (size_t k = 0; k < t[i].ntexts; k++) {
			free(t[i].texts[k].language);
			free(t[i].texts[k].headline);
			free(t[i].texts[k].description);
			free(t[i].texts[k].instruction);
		}
		free(t[i].texts);
	}
	free(t);
}

const struct policy_template *
policy_template_find(const struct policy_repo *repo, const char *name)
{
	for (size_t i = 0; i < repo->ntemplates; i++)
		if (strcmp(repo->templates[i].name, name) == 0)
			return &repo->templates[i];
	return NULL;
}
