/*
 * policy.c: loading the configuration: the order of the work, where
 * messages point, and the repository's memory.
 *
 * A load is: pre-scan the files (include.c), let libconfig parse them with
 * the include folder set to the main file's folder, read every section,
 * run the checks across sections, sort the problems into file order.  The
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

struct policy_src
policy_src_of(struct policy_ctx *ctx, const config_setting_t *s)
{
	struct policy_src src;

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

static void
policy_read_all(struct policy_ctx *ctx, const config_t *cf)
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
	(void)policy_read_teams(ctx, root);
	policy_check_all(ctx);
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

static int
policy_load_file(const char *path, bool keep, struct policy_repo **ret,
    struct policy_diag *diag, struct tocsin_err *err)
{
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

	if (policy_prescan_files(&ctx, abs) == 0) {
		config_init(&cf);
		/* Relative @include paths are taken from the main file's
		   folder (the pre-scan refused absolute ones). */
		config_set_include_dir(&cf, repo->base_dir);
		if (config_read_file(&cf, abs) == CONFIG_FALSE)
			policy_parse_error(&ctx, &cf);
		else
			policy_read_all(&ctx, &cf);
		config_destroy(&cf);
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
				policy_read_all(&ctx, &cf);
			config_destroy(&cf);
		}
	}
	rc = policy_finish(&ctx, n0, e0, false, ret, err);
	if (diag == NULL)
		policy_diag_free(&own);
	return rc;
}
