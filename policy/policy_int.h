/*
 * policy_int.h: what the files of policy/ share and nobody else sees.
 *
 * The loader is split by job: policy.c drives a load and owns the repo's
 * memory, sections.c and teams.c read the sections, check.c does the checks
 * that need the whole repository, include.c pre-scans @include lines
 * (and finds the teams list, which teams.c reads in slices), values.c
 * parses single values, diag.c collects problems, resolve.c answers
 * questions about a loaded repository, providers.c, fax.c and drop.c read
 * the providers other than smtp (drop.c also a team's sshdrop).
 * Allocation failure aborts: the repository is read at start-up, and a
 * half-read policy is worse than none.
 */
#ifndef POLICY_INT_H
#define POLICY_INT_H

#include <libconfig.h>
#include <stdarg.h>

#include "policy.h"

/* Defensive limits: a configuration is operator input, but it may come from
   a repository many people edit, and the loader must stay bounded. */
#define POLICY_MAX_VALUE	1024	/* bytes in a string value */
#define POLICY_MAX_NAME		256	/* bytes in a name (team, contact, ...) */
#define POLICY_MAX_TEAMS	4096
#define POLICY_MAX_CONTACTS	32	/* per team */
#define POLICY_MAX_STEPS	32	/* per policy */
#define POLICY_MAX_TARGETS	16	/* per step */
#define POLICY_MAX_ISSUERS	256
#define POLICY_MAX_QUORUM	64
#define POLICY_MAX_POLICIES	256
#define POLICY_MAX_GROUPS	4096
#define POLICY_MAX_MEMBERS	4096	/* per group */
#define POLICY_MAX_ADDRESSES	256	/* may_address entries per issuer */
#define POLICY_MAX_MESSENGERS	16	/* per contact */
#define POLICY_MAX_REPEAT	100
#define POLICY_MAX_FILE		(16 * 1024 * 1024)	/* bytes per file */
#define POLICY_MAX_NESTING	32	/* brackets, in the pre-scan */
#define POLICY_MAX_INCLUDES	64	/* files included, in all */
#define POLICY_MAX_INCLUDE_DEPTH 8	/* libconfig's own limit is 10 */
#define POLICY_MAX_GROUP_DEPTH	16	/* groups naming groups */
#define POLICY_MAX_DURATION	(400LL * 86400)
#define POLICY_SLICE_TEAMS	64	/* teams libconfig reads at a time */

/* The fax number's place in providers.fax's address template. */
#define POLICY_FAX_NUMBER	"{number}"
#define POLICY_FAX_NUMBER_LEN	(sizeof(POLICY_FAX_NUMBER) - 1)

/* State of one load. */
struct policy_ctx {
	struct policy_repo *repo;
	struct policy_diag *diag;
	const char *cfg_main;	/* the name libconfig knows the main file by */
	const char *last_raw;	/* cache of policy_src_of's last mapping */
	const char *last_file;
	bool parsed;		/* libconfig read it and the sections ran */
	/* While a slice of the teams list is read (teams.c): its tree, the
	   file it comes from and how many lines precede its first team
	   there, since libconfig numbers the slice's lines from 1. */
	const config_setting_t *slice_root;
	const char *slice_file;
	int slice_lines;
};

/* One team of the teams list: its text from '{' to past its '}', and the
   line of the '{'. */
struct policy_team_span {
	size_t start, end;
	int line;
};

/*
 * What the pre-scan found of the teams list, so that libconfig can be
 * given the list a slice of teams at a time instead of all at once (its
 * tree of a large repository is the peak of the process).  ok only for a
 * shape where that cannot change what libconfig makes of the text: one
 * top-level "teams = ( { ... }, ... );" of 1 to POLICY_MAX_TEAMS groups,
 * with no @include in it, on lines of its own, either in the main file or
 * alone in a file that the main file includes once, at top level.
 */
struct policy_teams_plan {
	bool ok;
	char *main_text;	/* the main file's text, owned */
	size_t main_len;
	/* What of main_text libconfig must not see: the teams setting, or
	   the @include of the file that holds it; and the ';' or ',' that
	   ended the setting ('\0': none). */
	size_t cut_start, cut_end;
	char cut_sep;
	const char *file;	/* the file of the list, one of repo->files */
	char *text;		/* its text: main_text, or owned */
	size_t len;
	struct policy_team_span *teams;
	size_t nteams;
};

/* Allocation that aborts on failure (see the top of this file). */
void *policy_xcalloc(size_t n, size_t size);
char *policy_xstrdup(const char *s);
char *policy_xstrndup(const char *s, size_t n);

/* diag.c */
void policy_diag_vadd(struct policy_diag *d, enum policy_sev sev,
    const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
/* Stable sort of items[from..n) by file (in the order of files) and line. */
void policy_diag_sort(struct policy_diag *d, size_t from, char *const *files,
    size_t nfiles);
/* Forget the items from n on, as if they had never been added. */
void policy_diag_truncate(struct policy_diag *d, size_t n);

/* The place of k in the kinds set (their number when it is none). */
size_t policy_kind_index(const struct policy_kind *k);

/* policy.c: file names and messages at a setting's place. */
const char *policy_intern_file(struct policy_ctx *ctx, const char *abs);
struct policy_src policy_src_of(struct policy_ctx *ctx,
    const config_setting_t *s);
void policy_err(struct policy_ctx *ctx, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void policy_warn(struct policy_ctx *ctx, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void policy_err_at(struct policy_ctx *ctx, struct policy_src src,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void policy_warn_at(struct policy_ctx *ctx, struct policy_src src,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* sections.c: typed access that reports what is wrong.  Each returns 1 when
   the key is present and good, 0 when absent (an error if required), -1
   when present but bad (the error is reported). */
int policy_check_keys(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *const *allowed);
int policy_get_string(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, size_t maxlen,
    const char **ret);
int policy_get_dup(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, size_t maxlen,
    char **ret);
int policy_get_int(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, long long min,
    long long max, long long *ret);
/* A string that valid accepts, copied into *ret (an older value freed);
   otherwise the error "WHERE: KEY "VALUE" remedy".  Returns as
   policy_get_string: 1 when present, whether valid or not. */
int policy_get_valid(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, size_t maxlen,
    bool (*valid)(const char *), const char *remedy, char **ret);
/* policy_get_int into an int that holds its default: *ret is set only
   when the setting is present and good. */
int policy_get_int_field(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, int min, int max,
    int *ret);
int policy_get_bool(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool *ret);
int policy_get_duration(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, int64_t *ret);
int policy_get_path(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, char **ret);
int policy_get_fpr(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, char *out);
/* A list of strings ([ ... ] or ( ... )); *ret is the setting, or NULL. */
int policy_get_strlist(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const char *key, bool required, size_t maxn,
    const config_setting_t **ret);
const char *policy_type_name(int type);
/* A list, or an empty array: libconfig reads [] as an array. */
bool policy_is_list(const config_setting_t *s);
/* A member that is a list of groups, and what its messages say: each text
   follows the fixed part of its message, given in the comment. */
struct policy_group_list {
	const char *key;
	int max;		/* "N KEY, more than the MAX allowed; " remedy */
	bool required;		/* "KEY is missing; add KEY = " example ";" */
	const char *example;	/* NULL: the usual example for key */
	bool strict;		/* [] (an empty array) is not a list */
	const char *shape;	/* "KEY must be a list " shape ", not TYPE" */
	const char *write;	/* after that: "" or "; write ..." */
	const char *empty;	/* "KEY is empty" empty; NULL: allowed */
	const char *remedy;
};
/* *ret is the list and *ret_n how many of its entries to read (at most
   d->max).  Returns 1, 0 when absent, -1 when bad or refused as empty. */
int policy_get_group_list(struct policy_ctx *ctx, const config_setting_t *grp,
    const char *where, const struct policy_group_list *d,
    const config_setting_t **ret, int *ret_n);
/* Element i of a list, which must be a group (reported when not). */
const config_setting_t *policy_list_elem_group(struct policy_ctx *ctx,
    const config_setting_t *list, int i, const char *what);
/* Report a secret file that is missing, not regular, or not mode 0600. */
void policy_check_secret(struct policy_ctx *ctx, const config_setting_t *s,
    const char *where, const char *key, const char *path);
/* The same, with create saying how to make a missing one ("create it
   with ..."); policy_check_secret says "create it (user:password)". */
void policy_check_secret_as(struct policy_ctx *ctx, const config_setting_t *s,
    const char *where, const char *key, const char *path, const char *create);
/* providers.c: a provider's, the relay's or a drop host's addresses, the
   IP literals (1 to 8) it is connected to when its name does not resolve.
   *ret (malloc'd, *ret_n entries, the caller's to free with
   policy_addresses_free) holds the good ones.  Returns 1, 0 when absent,
   -1 when refused (reported). */
int policy_read_addresses(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, char ***ret, size_t *ret_n);
void policy_addresses_free(char **v, size_t n);
/* providers.c: providers.sms and providers.voice lists. */
void policy_read_http_providers(struct policy_ctx *ctx,
    const config_setting_t *providers, const char *key,
    struct policy_provider **ret, size_t *n);
/* fax.c: providers.fax, a group. */
void policy_read_fax(struct policy_ctx *ctx, const config_setting_t *g);
/* drop.c: providers.sshdrop, a list, into repo->drops; a team's sshdrop
   group (read after the providers, so its host is looked up at once). */
void policy_read_drops(struct policy_ctx *ctx,
    const config_setting_t *providers);
void policy_read_team_drop(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_team *team, const char *where);
void policy_drops_free(struct policy_drop_host *d, size_t n);

int policy_read_gateway(struct policy_ctx *ctx, const config_setting_t *root);
int policy_read_issuers(struct policy_ctx *ctx, const config_setting_t *root);
int policy_read_quorum(struct policy_ctx *ctx, const config_setting_t *root);
int policy_read_providers(struct policy_ctx *ctx, const config_setting_t *root);
int policy_read_policies(struct policy_ctx *ctx, const config_setting_t *root);
int policy_read_groups(struct policy_ctx *ctx, const config_setting_t *root);
/* A string that must be one of allowed (NULL-ended), replacing *ret, its
   default; otherwise "KEY must be " and remedy. */
void policy_read_choice(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, const char *key, size_t maxlen,
    const char *const *allowed, const char *remedy, char **ret);
int policy_read_templates(struct policy_ctx *ctx, const config_setting_t *root);
void policy_templates_free(struct policy_template *t, size_t n);
/* A section read entry by entry: the section (NULL when absent or not of
   type, reported) and in *ret_n how many entries to read, at most max;
   more are reported as "NAME has N NOUN, more than the MAX allowed". */
const config_setting_t *policy_section_entries(struct policy_ctx *ctx,
    const config_setting_t *root, const char *name, int type,
    const char *noun, int max, int *ret_n);

/* teams.c */
int policy_read_teams(struct policy_ctx *ctx, const config_setting_t *root);
/* The teams of plan (ok), read a slice at a time, as policy_read_teams
   reads them from the whole tree.  Returns 0, or -1 when libconfig refused
   a slice: the caller then reads the whole tree, for libconfig's own
   message. */
int policy_read_team_slices(struct policy_ctx *ctx,
    const struct policy_teams_plan *plan);

/* check.c: checks across sections, once everything is read. */
void policy_check_all(struct policy_ctx *ctx);

/* values.c */
bool policy_team_id_valid(const char *s);
int policy_region_parse(const char *s, char out[3]);
int policy_country_parse(const char *s, char out[3]);
/* Returns 0, or a negative code with why[] saying what is wrong. */
int policy_timezone_check(const char *name, char *why, size_t whylen);
int policy_hours_parse(const char *s, int *start, int *end);
bool policy_language_valid(const char *s);
bool policy_email_valid(const char *s);
/* Host name labels (letters, digits, inner '-'), 253 bytes at most; n
   bytes of s. */
bool policy_hostname_valid(const char *s, size_t n);
bool policy_listen_valid(const char *s);
/* Parse one notify target "WHO:CHANNEL[:emergency]". */
int policy_target_parse(const char *s, struct policy_target *t, char *why,
    size_t whylen);
/* Names for messages. */
const char *policy_who_name(enum policy_who who);
/* Edit distance, capped: for "did you mean". */
size_t policy_distance(const char *a, const char *b);

/* include.c */
/* Pre-scan text (one file): bracket nesting, the @include lines, integers
   libconfig would wrap, settings not ended with ';'.  For each include
   calls fn (NULL: includes are refused) with its line and path.  Returns
   -1 when libconfig must not read the text (after reporting why), else 0,
   also when it reported problems that do not stop the load. */
typedef int (*policy_include_fn)(struct policy_ctx *ctx, const char *file,
    int line, const char *path, void *arg);
int policy_prescan(struct policy_ctx *ctx, const char *file, const char *text,
    size_t len, policy_include_fn fn, void *arg);
/* Pre-scan the main file and every file it includes (recursively), adding
   each to repo->files, and fill plan (policy_teams_plan_free frees it).
   Returns 0, or -1 after reporting. */
int policy_prescan_files(struct policy_ctx *ctx, const char *main_abs,
    struct policy_teams_plan *plan);
void policy_teams_plan_free(struct policy_teams_plan *plan);

/* resolve.c */
/* Resolve with a reason for failure; the load-time checks use it. */
int policy_resolve_depth(const struct policy_repo *repo, const char *address,
    bool *mark, unsigned char *state, int depth, struct tocsin_err *err);
const struct policy_group *policy_group_find(const struct policy_repo *repo,
    const char *name);

#endif
