/*
 * policy.c: loading the configuration: the order of the work, where
 * messages point, and the repository's memory.
 *
 * A load is: pre-scan the files (include.c), let libconfig parse them with
 * the include folder set to the main file's folder, read every section,
 * run the checks across sections, sort the problems into file order.
 * libconfig gets the teams list a slice at a time when the pre-scan finds
 * it in a shape where that changes nothing (policy_load_sliced), since its
 * tree of a large list would be the peak of the process.  The
 * repository is handed out only when there is no error; otherwise it is
 * freed here and the caller gets the problems and the first error.  Every
 * file name a policy_src points at is one of repo->files, owned by the
 * repository, so it stays valid as long as the repository.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "i18n.h"
#include "policy_int.h"

const char *
policy_intern_file(struct policy_ctx *ctx, const char *abs)
{
	struct policy_repo *repo = ctx->repo;
	size_t cap = repo->nfiles;	/* the list grows one at a time */

	for (size_t i = 0; i < repo->nfiles; i++)
		if (strcmp(repo->files[i], abs) == 0)
			return repo->files[i];
	if (base_grow(&repo->files, &cap, repo->nfiles + 1,
	    sizeof(*repo->files)) != 0)
		abort();
	repo->files[repo->nfiles] = policy_xstrdup(abs);
	return repo->files[repo->nfiles++];
}

/* The file a libconfig setting or error names, as one of repo->files.
   libconfig knows the main file by the name it was given and included
   files by their @include path, relative to the include folder. */
static const char *
policy_map_file(struct policy_ctx *ctx, const char *raw)
{
	const char *base = ctx->repo->base_dir;
	const char *file;
	char *abs;
	size_t n;

	if (raw == NULL || (ctx->cfg_main != NULL &&
	    strcmp(raw, ctx->cfg_main) == 0))
		return ctx->repo->files[0];
	if (raw == ctx->last_raw)
		return ctx->last_file;
	if (raw[0] == '/') {
		file = policy_intern_file(ctx, raw);
	} else {
		n = strlen(base) + strlen(raw) + 2;
		abs = policy_xcalloc(n, 1);
		(void)snprintf(abs, n, "%s/%s", base, raw);
		file = policy_intern_file(ctx, abs);
		free(abs);
	}
	ctx->last_raw = raw;
	ctx->last_file = file;
	return file;
}

/* Whether s is a setting of the tree whose root is root. */
static bool
policy_in_tree(const config_setting_t *s, const config_setting_t *root)
{
	while (config_setting_parent(s) != NULL)
		s = config_setting_parent(s);
	return s == root;
}

struct policy_src
policy_src_of(struct policy_ctx *ctx, const config_setting_t *s)
{
	struct policy_src src;

	/* libconfig names a slice's settings by no file and by its own line
	   numbers (teams.c). */
	if (s != NULL && ctx->slice_root != NULL &&
	    policy_in_tree(s, ctx->slice_root)) {
		src.file = ctx->slice_file;
		src.line = (int)config_setting_source_line(s) + ctx->slice_lines;
		return src;
	}
	src.file = policy_map_file(ctx, s != NULL ?
	    config_setting_source_file(s) : NULL);
	src.line = s != NULL ? (int)config_setting_source_line(s) : 0;
	return src;
}

static void
policy_vreport(struct policy_ctx *ctx, enum policy_sev sev,
    struct policy_src src, const char *fmt, va_list ap)
{
	policy_diag_vadd(ctx->diag, sev, src.file, src.line, fmt, ap);
}

void
policy_err(struct policy_ctx *ctx, const config_setting_t *s,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	policy_vreport(ctx, POLICY_ERROR, policy_src_of(ctx, s), fmt, ap);
	va_end(ap);
}

void
policy_warn(struct policy_ctx *ctx, const config_setting_t *s,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	policy_vreport(ctx, POLICY_WARNING, policy_src_of(ctx, s), fmt, ap);
	va_end(ap);
}

void
policy_err_at(struct policy_ctx *ctx, struct policy_src src,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	policy_vreport(ctx, POLICY_ERROR, src, fmt, ap);
	va_end(ap);
}

void
policy_warn_at(struct policy_ctx *ctx, struct policy_src src,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	policy_vreport(ctx, POLICY_WARNING, src, fmt, ap);
	va_end(ap);
}

/* path made absolute against the current directory, "." and empty
   components removed ("..": kept, symbolic links may sit in between).
   NULL when the current directory cannot be found. */
static char *
policy_abs_path(const char *path)
{
	char cwd[PATH_MAX], *joined, *out;
	size_t n, o = 0;
	const char *p;

	if (path[0] == '/') {
		joined = policy_xstrdup(path);
	} else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return NULL;
		n = strlen(cwd) + strlen(path) + 2;
		joined = policy_xcalloc(n, 1);
		(void)snprintf(joined, n, "%s/%s", cwd, path);
	}
	out = policy_xcalloc(strlen(joined) + 2, 1);
	for (p = joined; *p != '\0';) {
		const char *e;
		size_t len;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != '/'; e++)
			;
		len = (size_t)(e - p);
		if (!(len == 1 && p[0] == '.')) {
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	free(joined);
	return out;
}

static char *
policy_dirname(const char *abs)
{
	const char *slash = strrchr(abs, '/');

	if (slash == NULL || slash == abs)
		return policy_xstrdup("/");
	return policy_xstrndup(abs, (size_t)(slash - abs));
}

static void
policy_free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
policy_free_contact(struct policy_contact *c)
{
	free(c->name);
	free(c->role);
	free(c->country);
	free(c->timezone);
	for (size_t i = 0; i < c->nlanguages; i++)
		free(c->languages[i]);
	free(c->email);
	free(c->phone);
	free(c->mobile);
	free(c->emergency_phone);
	free(c->fax);
	for (size_t i = 0; i < c->nmessengers; i++) {
		free(c->messengers[i].service);
		free(c->messengers[i].id);
	}
	free(c->messengers);
	free(c->other_telecom);
}

void
policy_free(struct policy_repo *repo)
{
	if (repo == NULL)
		return;
	free(repo->gateway.store);
	free(repo->gateway.gnupg_home);
	free(repo->gateway.issuer_ca);
	free(repo->gateway.listen);
	free(repo->gateway.public_url);
	free(repo->gateway.default_audience);
	free(repo->gateway.ack_secret);
	free(repo->gateway.duty_phone);
	free(repo->gateway.short_name);
	free(repo->gateway.locale_dir);
	i18n_free(repo->gateway.catalog);
	free(repo->gateway.ack_phone);
	free(repo->gateway.desk_team);
	free(repo->gateway.desk_tokens);
	free(repo->gateway.trusted_proxy);
	for (size_t i = 0; i < repo->nissuers; i++) {
		free(repo->issuers[i].name);
		free(repo->issuers[i].certificate);
		policy_free_strv(repo->issuers[i].may_address,
		    repo->issuers[i].nmay_address);
	}
	free(repo->issuers);
	for (size_t i = 0; i < repo->nquorum; i++) {
		free(repo->quorum[i].audience);
		policy_free_strv(repo->quorum[i].groups,
		    repo->quorum[i].ngroups);
	}
	free(repo->quorum);
	if (repo->smtp != NULL) {
		free(repo->smtp->host);
		free(repo->smtp->from);
		free(repo->smtp->ca);
		free(repo->smtp->subject);
		free(repo->smtp->credentials);
		policy_addresses_free(repo->smtp->addresses,
		    repo->smtp->naddresses);
		free(repo->smtp);
	}
	if (repo->fax != NULL) {
		free(repo->fax->address);
		free(repo->fax->font);
		free(repo->fax);
	}
	policy_providers_free(repo->sms, repo->nsms);
	policy_providers_free(repo->voice, repo->nvoice);
	policy_drops_free(repo->drops, repo->ndrops);
	for (size_t i = 0; i < repo->npolicies; i++) {
		struct policy_policy *p = &repo->policies[i];

		for (size_t s = 0; s < p->nsteps; s++)
			free(p->steps[s].targets);
		free(p->steps);
		free(p->name);
	}
	free(repo->policies);
	for (size_t i = 0; i < repo->ngroups; i++) {
		free(repo->groups[i].name);
		policy_free_strv(repo->groups[i].members,
		    repo->groups[i].nmembers);
	}
	free(repo->groups);
	policy_templates_free(repo->templates, repo->ntemplates);
	for (size_t i = 0; i < repo->nteams; i++) {
		struct policy_team *t = &repo->teams[i];

		for (size_t c = 0; c < t->ncontacts; c++)
			policy_free_contact(&t->contacts[c]);
		free(t->contacts);
		free(t->id);
		free(t->domain);
		free(t->cctld_operator);
		free(t->host_organisation);
		free(t->registry_operator);
		free(t->country);
		free(t->region);
		free(t->drop_folder);
		free(t->drop_address);
	}
	free(repo->teams);
	policy_free_strv(repo->files, repo->nfiles);
	free(repo->main_file);
	free(repo->base_dir);
	free(repo);
}

/* libconfig's own message for a parse error, with a remedy. */
static void
policy_parse_error(struct policy_ctx *ctx, const config_t *cf)
{
	struct policy_src src;
	const char *text = config_error_text(cf);

	/* A NULL file name (seen for errors in included files) means the
	   error is best shown at the main file. */
	src.file = policy_map_file(ctx, config_error_file(cf));
	src.line = config_error_line(cf);
	if (text == NULL)
		text = "unreadable configuration";
	if (strcmp(text, "syntax error") == 0)
		policy_err_at(ctx, src, "syntax error; look on this line and "
		    "the one before for a missing ';', '=', quote or bracket");
	else if (strstr(text, "duplicate") != NULL)
		policy_err_at(ctx, src, "%s; a key may appear once per group: "
		    "remove or merge the repeated one", text);
	else if (strstr(text, "include") != NULL)
		policy_err_at(ctx, src, "%s; check the @include path (relative "
		    "to %s)", text, ctx->repo->base_dir);
	else
		policy_err_at(ctx, src, "%s; fix the configuration near this "
		    "line", text);
}

/* Every section of cf, the teams from plan when it is given (the cf of
   policy_load_sliced has none).  Returns 0, or -1 when libconfig refused
   a slice of the teams, before the checks across sections. */
static int
policy_read_all(struct policy_ctx *ctx, const config_t *cf,
    const struct policy_teams_plan *plan)
{
	static const char *const keys[] = { "gateway", "issuers", "quorum",
		"providers", "policies", "groups", "templates", "teams", NULL };
	const config_setting_t *root = config_root_setting(cf);

	ctx->parsed = true;
	(void)policy_check_keys(ctx, root, "top level", keys);
	(void)policy_read_gateway(ctx, root);
	(void)policy_read_issuers(ctx, root);
	(void)policy_read_quorum(ctx, root);
	(void)policy_read_providers(ctx, root);
	/* Policies before teams, which point at them. */
	(void)policy_read_policies(ctx, root);
	(void)policy_read_groups(ctx, root);
	(void)policy_read_templates(ctx, root);
	if (plan == NULL)
		(void)policy_read_teams(ctx, root);
	else if (policy_read_team_slices(ctx, plan) != 0)
		return -1;
	policy_check_all(ctx);
	return 0;
}

/* A repository kept despite errors is still printed from: names that
   were refused become "" rather than NULL. */
static void
policy_fill_names(struct policy_repo *repo)
{
	for (size_t i = 0; i < repo->nissuers; i++)
		if (repo->issuers[i].name == NULL)
			repo->issuers[i].name = policy_xstrdup("");
	for (size_t i = 0; i < repo->npolicies; i++)
		if (repo->policies[i].name == NULL)
			repo->policies[i].name = policy_xstrdup("");
	for (size_t i = 0; i < repo->ndrops; i++)
		if (repo->drops[i].name == NULL)
			repo->drops[i].name = policy_xstrdup("");
	for (size_t i = 0; i < repo->nteams; i++) {
		struct policy_team *t = &repo->teams[i];

		if (t->id == NULL)
			t->id = policy_xstrdup("");
		for (size_t c = 0; c < t->ncontacts; c++)
			if (t->contacts[c].name == NULL)
				t->contacts[c].name = policy_xstrdup("");
	}
}

/* Sort the new problems, hand out the repository or free it.  With keep,
   a repository that was parsed is handed out despite errors. */
static int
policy_finish(struct policy_ctx *ctx, size_t n0, size_t errors0, bool keep,
    struct policy_repo **ret, struct tocsin_err *err)
{
	struct policy_diag *d = ctx->diag;
	struct policy_repo *repo = ctx->repo;

	policy_diag_sort(d, n0, repo->files, repo->nfiles);
	if (d->errors == errors0) {
		*ret = repo;
		return 0;
	}
	for (size_t i = n0; i < d->n; i++) {
		const struct policy_diag_item *it = &d->items[i];

		if (it->sev != POLICY_ERROR)
			continue;
		if (it->line > 0)
			(void)tocsin_fail(err, TOCSIN_ECONFIG, "%s:%d: %s",
			    it->file != NULL ? it->file : repo->main_file,
			    it->line, it->text);
		else
			(void)tocsin_fail(err, TOCSIN_ECONFIG, "%s: %s",
			    it->file != NULL ? it->file : repo->main_file,
			    it->text);
		break;
	}
	if (keep && ctx->parsed) {
		policy_fill_names(repo);
		*ret = repo;
	} else {
		policy_free(repo);
		*ret = NULL;
	}
	return TOCSIN_ECONFIG;
}

/* Common start of both loads. */
static void
policy_begin(struct policy_ctx *ctx, struct policy_diag *diag,
    struct policy_diag *own)
{
	memset(ctx, 0, sizeof(*ctx));
	if (diag == NULL) {
		policy_diag_init(own);
		diag = own;
	}
	ctx->diag = diag;
	ctx->repo = policy_xcalloc(1, sizeof(*ctx->repo));
}

/* Undo a load that got as far as the sections: the repository goes back
   to its files (the pre-scan's) and the problems to the mark. */
static void
policy_rollback(struct policy_ctx *ctx, size_t mark)
{
	struct policy_repo *old = ctx->repo;
	struct policy_repo *repo = policy_xcalloc(1, sizeof(*repo));

	repo->files = old->files;
	repo->nfiles = old->nfiles;
	repo->main_file = old->main_file;
	repo->base_dir = old->base_dir;
	old->files = NULL;
	old->nfiles = 0;
	old->main_file = NULL;
	old->base_dir = NULL;
	policy_free(old);
	ctx->repo = repo;
	policy_diag_truncate(ctx->diag, mark);
	ctx->parsed = false;
	/* libconfig's names of the tree just destroyed may come back at the
	   same addresses. */
	ctx->last_raw = NULL;
	ctx->last_file = NULL;
}

/* The main file's text with what plan cuts out of it (the teams list or
   the @include of its file) replaced by an empty teams list, which stands
   in the grammar where the list stood (a setting there is refused as the
   list would be, a ';' after it ends it as it would end the list), then
   the line ends of the cut, so that every other line keeps its number. */
static char *
policy_cut_text(const struct policy_teams_plan *plan, size_t *ret_len)
{
	static const char empty[] = " teams = ()";
	const char *t = plan->main_text;
	size_t a = plan->cut_start, b = plan->cut_end, o = a, lines = 0;
	size_t el = sizeof(empty) - 1;
	char *out;

	for (size_t i = a; i < b; i++)
		if (t[i] == '\n')
			lines++;
	out = policy_xcalloc(plan->main_len - (b - a) + el + 1 + lines + 1, 1);
	memcpy(out, t, a);
	/* Its space keeps apart what stood before the cut and "teams". */
	memcpy(out + o, empty, el);
	o += el;
	if (plan->cut_sep != '\0')
		out[o++] = plan->cut_sep;
	for (size_t i = a; i < b; i++)
		if (t[i] == '\n')
			out[o++] = '\n';
	memcpy(out + o, t + b, plan->main_len - b);
	o += plan->main_len - b;
	*ret_len = o;
	return out;
}

/*
 * The load with the teams list read a slice at a time (plan->ok): libconfig
 * reads the main file's text with an empty list in place of the list, from
 * memory (its settings then have no file name, which policy_map_file takes
 * for the main file), and the files it includes from disk as ever; teams.c
 * gives it the list a slice at a time (the empty one is not read).  libconfig takes the parts iff it takes the whole (the
 * pre-scan saw to that), but its message for an error is the whole
 * file's: so on any error nothing read is kept and the caller reads the
 * whole tree.  Returns 0 when done, 1 for that.
 */
static int
policy_load_sliced(struct policy_ctx *ctx,
    const struct policy_teams_plan *plan)
{
	size_t mark = ctx->diag->n, len;
	char *text = policy_cut_text(plan, &len);
	config_t cf;
	FILE *fp;
	int rc = 1;

	config_init(&cf);
	config_set_include_dir(&cf, ctx->repo->base_dir);
	if ((fp = fmemopen(text, len, "r")) != NULL) {
		if (config_read(&cf, fp) == CONFIG_TRUE)
			rc = 0;
		(void)fclose(fp);
	}
	free(text);
	if (rc == 0 && policy_read_all(ctx, &cf, plan) != 0) {
		policy_rollback(ctx, mark);
		rc = 1;
	}
	config_destroy(&cf);
	return rc;
}

static int
policy_load_file(const char *path, bool keep, struct policy_repo **ret,
    struct policy_diag *diag, struct tocsin_err *err)
{
	struct policy_teams_plan plan;
	struct policy_diag own;
	struct policy_ctx ctx;
	struct policy_repo *repo;
	size_t n0, e0;
	config_t cf;
	char *abs;
	int rc;

	*ret = NULL;
	if (path == NULL || path[0] == '\0')
		return tocsin_fail(err, TOCSIN_ECONFIG, "no configuration file "
		    "given; name one with -c FILE");
	if ((abs = policy_abs_path(path)) == NULL)
		return tocsin_fail(err, TOCSIN_ECONFIG, "%s: cannot find the "
		    "current directory (%s); give the configuration as an "
		    "absolute path", path, strerror(errno));
	policy_begin(&ctx, diag, &own);
	repo = ctx.repo;
	n0 = ctx.diag->n;
	e0 = ctx.diag->errors;
	repo->main_file = abs;
	repo->base_dir = policy_dirname(abs);
	(void)policy_intern_file(&ctx, abs);
	ctx.cfg_main = abs;

	if (policy_prescan_files(&ctx, abs, &plan) == 0) {
		rc = plan.ok ? policy_load_sliced(&ctx, &plan) : 1;
		policy_teams_plan_free(&plan);
		if (rc != 0) {
			config_init(&cf);
			/* Relative @include paths are taken from the main
			   file's folder (the pre-scan refused absolute
			   ones). */
			config_set_include_dir(&cf, ctx.repo->base_dir);
			if (config_read_file(&cf, abs) == CONFIG_FALSE)
				policy_parse_error(&ctx, &cf);
			else
				(void)policy_read_all(&ctx, &cf, NULL);
			config_destroy(&cf);
		}
	}
	rc = policy_finish(&ctx, n0, e0, keep, ret, err);
	if (diag == NULL)
		policy_diag_free(&own);
	return rc;
}

int
policy_load(const char *path, struct policy_repo **ret,
    struct policy_diag *diag, struct tocsin_err *err)
{
	return policy_load_file(path, false, ret, diag, err);
}

int
policy_load_check(const char *path, struct policy_repo **ret,
    struct policy_diag *diag, struct tocsin_err *err)
{
	return policy_load_file(path, true, ret, diag, err);
}

int
policy_load_string(const char *text, const char *name, const char *base_dir,
    struct policy_repo **ret, struct policy_diag *diag,
    struct tocsin_err *err)
{
	struct policy_diag own;
	struct policy_ctx ctx;
	struct policy_repo *repo;
	struct policy_src src;
	const char *inc;
	size_t n0, e0, len, n;
	config_t cf;
	char *base;
	int rc;

	*ret = NULL;
	if (text == NULL)
		return tocsin_fail(err, TOCSIN_ECONFIG, "no configuration text");
	if (name == NULL || name[0] == '\0')
		name = "(string)";
	if ((base = policy_abs_path(base_dir != NULL && base_dir[0] != '\0' ?
	    base_dir : ".")) == NULL)
		return tocsin_fail(err, TOCSIN_ECONFIG, "cannot find the current "
		    "directory (%s); give an absolute base folder",
		    strerror(errno));
	policy_begin(&ctx, diag, &own);
	repo = ctx.repo;
	n0 = ctx.diag->n;
	e0 = ctx.diag->errors;
	repo->base_dir = base;
	if (name[0] == '/') {
		repo->main_file = policy_xstrdup(name);
	} else {
		n = strlen(base) + strlen(name) + 2;
		repo->main_file = policy_xcalloc(n, 1);
		(void)snprintf(repo->main_file, n, "%s/%s", base, name);
	}
	src.file = policy_intern_file(&ctx, repo->main_file);
	src.line = 0;
	/* libconfig names settings read from a string by a NULL file. */
	ctx.cfg_main = NULL;

	len = strlen(text);
	if (len > POLICY_MAX_FILE) {
		policy_err_at(&ctx, src, "the configuration is %zu bytes, more "
		    "than the %d allowed; split or shorten it", len,
		    POLICY_MAX_FILE);
	} else if (policy_prescan(&ctx, src.file, text, len, NULL, NULL) == 0) {
		/* No file may be opened from here, whatever the pre-scan
		   thought of the text: a string is self-contained. */
		if ((inc = strstr(text, "@include")) != NULL) {
			src.line = 1;
			for (const char *p = text; p < inc; p++)
				if (*p == '\n')
					src.line++;
			policy_err_at(&ctx, src, "@include is not allowed in a "
			    "configuration given as text; load it from a "
			    "file");
		} else {
			config_init(&cf);
			if (config_read_string(&cf, text) == CONFIG_FALSE)
				policy_parse_error(&ctx, &cf);
			else
				(void)policy_read_all(&ctx, &cf, NULL);
			config_destroy(&cf);
		}
	}
	rc = policy_finish(&ctx, n0, e0, false, ret, err);
	if (diag == NULL)
		policy_diag_free(&own);
	return rc;
}
