/*
 * policy.h: the contact repository and its policies, loaded from libconfig.
 *
 * policy_load() reads the main file (and its @includes), checks everything
 * that can be checked without other modules, and keeps the source file and
 * line of every item so that later checks (keys in certs/, channel settings)
 * can report file:line too.  The loaded repository is read-only afterwards
 * and may be shared between threads.  The format is docs/configuration.md.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin.h"

#define POLICY_FPR_LEN 40
#define POLICY_MAX_LANGS 8

/* Where an item came from, for messages. file points into the repo. */
struct policy_src {
	const char *file;
	int line;
};

enum policy_sev { POLICY_ERROR, POLICY_WARNING };

/* One problem found while loading or checking. */
struct policy_diag_item {
	enum policy_sev sev;
	char *file;		/* may be NULL when unknown */
	int line;		/* 0 when unknown */
	char *text;		/* "what is wrong; what to do" */
};

/* Every problem found, in file order. */
struct policy_diag {
	struct policy_diag_item *items;
	size_t n, cap;
	size_t errors, warnings;
};

void policy_diag_init(struct policy_diag *d);
/* Append one item (copies file and formatted text); out of memory is fatal. */
void policy_diag_add(struct policy_diag *d, enum policy_sev sev,
    const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void policy_diag_free(struct policy_diag *d);

struct policy_repo;

/* The contact field a channel reaches people by. */
enum policy_field {
	POLICY_FIELD_TEAM,		/* no contact: the team's own drop */
	POLICY_FIELD_EMAIL,		/* email, and only with a pgp key */
	POLICY_FIELD_MOBILE,
	POLICY_FIELD_PHONE,
	POLICY_FIELD_FAX
};

/*
 * A channel kind as the repository sees it.  It is written in the channel's
 * own file (channels/) and handed over once at start-up with
 * policy_kinds_set(), so that policy/ reads "primary:sms:emergency", finds
 * a contact's endpoint and checks what a policy using the channel must say
 * without a list of channels of its own.
 */
struct policy_kind {
	const char *name;		/* "sms": the CHANNEL of WHO:CHANNEL */
	enum policy_field field;	/* POLICY_FIELD_TEAM: team:NAME only,
					   else people (primary, ...) only */
	bool emergency;			/* NAME:emergency reaches the
					   contact's emergency_phone */
	/*
	 * What a repository that uses the channel must also say (a setting
	 * of the policy, a provider, a team's host), checked whenever a
	 * repository is read: errors refuse it as any other.  Adds to diag;
	 * may be NULL.
	 */
	void (*check)(const struct policy_repo *repo,
	    struct policy_diag *diag);
};

/*
 * The channel kinds known, NULL-terminated and in the order messages list
 * them; kept (not copied) until the process ends.  Start-up only: call
 * before any repository is read and before threads start.
 */
void policy_kinds_set(const struct policy_kind *const *kinds);

/* Whether gateway.store names a PostgreSQL database rather than a file:
   "postgresql://", "postgres://", or key=value conninfo. */
bool policy_store_is_pg(const char *store);
/* The kinds set, NULL-terminated (empty before policy_kinds_set()). */
const struct policy_kind *const *policy_kinds(void);
/* The kind of that name, or NULL. */
const struct policy_kind *policy_kind_find(const char *name);
/* The names of the kinds set (those pick() accepts when it is not NULL)
   as "a, b, c" with last between the last two (" or ", " and "), in buf;
   "(none built in)" when there are none.  Returns buf. */
const char *policy_kinds_join(char *buf, size_t len,
    bool (*pick)(const struct policy_kind *), const char *last);
#define POLICY_KINDS_LEN 256
/* Whether some step of a policy sends that kind. */
struct policy_policy;
bool policy_sends(const struct policy_policy *pol,
    const struct policy_kind *kind);
/* A value shown safely in a message: quoted, control bytes replaced, long
   values cut.  Returns buf. */
const char *policy_quote(char *buf, size_t size, const char *s);
#define POLICY_QUOTE_LEN 80

enum policy_who { POLICY_WHO_PRIMARY, POLICY_WHO_SUBSTITUTE, POLICY_WHO_ALL,
	POLICY_WHO_TEAM };

struct policy_messenger {
	char *service;
	char *id;
};

struct policy_contact {
	char *name;
	char *role;
	bool primary, substitute;
	char *country;			/* NULL if not given */
	char *timezone;
	int bh_start, bh_end;		/* business hours, minutes after 00:00 UTC;
					   both -1 when not given */
	char *languages[POLICY_MAX_LANGS];
	size_t nlanguages;
	char *email;			/* NULL if not given */
	char pgp[POLICY_FPR_LEN + 1];	/* upper-case hex, "" if not given */
	char *phone, *mobile, *emergency_phone, *fax;	/* E.164 "+..." or NULL */
	struct policy_messenger *messengers;
	size_t nmessengers;
	char *other_telecom;
	struct policy_src src;		/* the contact's group */
	struct policy_src pgp_src;	/* the pgp setting */
};

struct policy_target {
	enum policy_who who;
	const struct policy_kind *channel;	/* never NULL */
	bool emergency;
};

struct policy_step {
	int64_t after;			/* seconds after acceptance */
	struct policy_target *targets;
	size_t ntargets;
};

/* What a fax (never encrypted) may carry; a policy that sends fax must
   say so. */
enum policy_fax_detail { POLICY_FAX_UNSET, POLICY_FAX_SUMMARY,
	POLICY_FAX_FULL };

struct policy_policy {
	char *name;
	struct policy_step *steps;
	size_t nsteps;
	int repeat;
	bool unsigned_acks;
	bool ack_notice;		/* tell the team's other contacts who
					   acknowledged (e-mail, SMS) */
	bool exercise_emergency;	/* an Exercise may use :emergency
					   targets */
	bool exercise_quiet_hours;	/* an Exercise waits for business
					   hours, whatever its severity */
	enum policy_fax_detail fax_detail;
	struct policy_src fax_detail_src;	/* the setting, or the policy */
	int hold_below;			/* quiet hours: an alert whose highest
					   severity is below this (enum
					   policy_severity) waits for the
					   team's business hours; 0: none */
	int64_t unreached_after;	/* seconds after the last step with no
					   ack before the team is unreached;
					   0: the gap between the last two
					   steps (15 minutes for one step) */
	bool wait_on_failure;		/* on_failure = "wait": a step whose
					   every delivery died still waits out
					   its time; else the next step goes
					   at once */
	struct policy_src src;
};

/* An SSH drop host (providers.sshdrop): a site without normal internet
   fetches its team folder from it out of band. */
struct policy_drop_host {
	char *name;			/* letters, digits, '-', '_'; 40 at most */
	char *host;			/* DNS name or IP address */
	int port;			/* 22 by default */
	char *user;
	char *key;			/* absolute path of a 0600 private key */
	char fingerprint[64];		/* "SHA256:<43 base64>", or "" when
					   known_hosts pins the key */
	char *known_hosts;		/* absolute path, or NULL */
	char *path;			/* absolute folder on the host; team
					   folders are made under it */
	int64_t timeout;		/* connect, and each operation, seconds */
	int64_t ack_poll;		/* seconds between looks for ack files;
					   0: never */
	char **addresses;		/* pinned IP literals, used when host
					   does not resolve; NULL: none */
	size_t naddresses;
	bool private_path;		/* internet = false: reached over a
					   path of its own (a leased line, a
					   satellite link), so a drill's
					   internet = "down" leaves it up */
	struct policy_src src;
};

struct policy_team {
	char *id;
	char *domain;
	char *cctld_operator;
	char *host_organisation;	/* NULL if not given */
	char *registry_operator;	/* NULL if not given */
	char *country;
	char *region;
	const struct policy_policy *policy;
	struct policy_contact *contacts;
	size_t ncontacts;
	/* team:sshdrop: the drop host and the team's folder under its path
	   (one name, the team id by default), and the endpoint made of them,
	   "NAME:PATH/FOLDER"; all NULL when the team has no drop. */
	const struct policy_drop_host *drop;
	char *drop_folder;
	char *drop_address;
	struct policy_src drop_src;
	struct policy_src src;
};

struct policy_issuer {
	char *name;
	char openpgp[POLICY_FPR_LEN + 1];	/* "" when a certificate issuer */
	char *certificate;			/* absolute path, or NULL */
	char **may_address;
	size_t nmay_address;
	unsigned severities;			/* bit set of 1 << enum policy_severity */
	unsigned statuses;			/* bit set of 1 << enum policy_status */
	struct policy_src src;
};

/* CAP value sets that policies speak of. */
enum policy_severity { POLICY_SEV_UNKNOWN, POLICY_SEV_MINOR, POLICY_SEV_MODERATE,
	POLICY_SEV_SEVERE, POLICY_SEV_EXTREME, POLICY_SEV_COUNT };
enum policy_status { POLICY_ST_ACTUAL, POLICY_ST_EXERCISE, POLICY_ST_SYSTEM,
	POLICY_ST_TEST, POLICY_ST_DRAFT, POLICY_ST_COUNT };
/* Parse a CAP value ("Extreme", "Exercise"); -1 when not one. */
int policy_severity_parse(const char *s);
int policy_status_parse(const char *s);
/* The CAP spelling of a value; "?" when out of range. */
const char *policy_severity_name(int severity);
const char *policy_status_name(int status);

/*
 * A quorum rule applies to an alert when its highest severity is in
 * severities and every condition given holds: audience, the alert's teams
 * include every team of that address; groups, they include every team of
 * at least one listed address; min_teams, there are at least that many.
 * No condition: any audience.  audience is the older spelling of a groups
 * list of one, kept so that existing configurations keep their meaning.
 */
struct policy_quorum {
	unsigned severities;		/* bit set; all bits when not given */
	char *audience;			/* NULL when not given */
	char **groups;			/* addresses; NULL when not given */
	size_t ngroups;
	int min_teams;			/* 0 when not given */
	int issuers;
	struct policy_src src;
	struct policy_src groups_src;	/* of the groups list */
};

struct policy_smtp {
	char *host;
	int port;
	char *from;
	bool starttls;			/* false only with local */
	bool local;
	char *ca;			/* absolute path or NULL */
	char *credentials;		/* absolute path or NULL */
	int64_t timeout;
	char *subject;			/* clear-text Subject template or NULL
					   for the default */
	int batch;			/* messages per SMTP session */
	bool pgp_combined;		/* RFC 3156 6.2 instead of 6.1 */
	char **addresses;		/* pinned IP literals, used when host
					   does not resolve; NULL: none */
	size_t naddresses;
	struct policy_src src;
};

enum policy_paper { POLICY_PAPER_A4, POLICY_PAPER_LETTER };

/* The fax-to-email gateway (providers.fax): faxes go as e-mail with a PDF
   through providers.smtp to an address made from the fax number. */
struct policy_fax {
	char *address;			/* template with one {number} in the
					   local part: "FAX={number}@fax.example"
					   (format rfc3192) */
	bool plus;			/* {number} is "+254..." not "254..." */
	enum policy_paper paper;
	bool cover;			/* a cover page before the alert */
	int pages;			/* most pages of alert text, cover
					   excluded */
	char *font;			/* Pango family list, "Sans" default */
	struct policy_src src;
};

/* A provider for SMS or voice (providers.sms, providers.voice): an HTTP
   gateway, or (SMS only) a GSM modem on a serial port of this host. */
enum policy_provider_kind { POLICY_PK_TWILIO, POLICY_PK_GENERIC,
	POLICY_PK_MODEM };

struct policy_provider {
	char *name;
	enum policy_provider_kind kind;
	char *url;			/* twilio: API base; generic: endpoint */
	bool local;			/* http:// allowed (a gateway on this host) */
	char *ca;			/* CA file for https, NULL: the system's */
	char *account;			/* twilio account SID */
	char *secret;			/* 0600 file: auth token / bearer token */
	char *from;			/* sender number or service id */
	char **prefixes;		/* E.164 prefixes served, "+" for all */
	size_t nprefixes;
	int rate;			/* requests per second (token bucket) */
	int burst;			/* bucket size */
	int parallel;			/* requests in flight at most */
	int retries;			/* tries on this provider before the next */
	int64_t timeout;		/* per request, seconds */
	int segments;			/* SMS: at most this many parts */
	char **addresses;		/* pinned IP literals, used when the
					   url's host does not resolve */
	size_t naddresses;
	/* modem only (secret: a 0600 file holding the SIM's PIN, or NULL) */
	char *device;			/* absolute path of the serial device */
	int baud;			/* line speed */
	bool fallback;			/* tried only after every other
					   provider serving the number */
	/* generic only */
	char *method;			/* "POST" or "GET" */
	char *content_type;		/* body encoding: form or JSON */
	char *body;			/* template: {to} {from} {text} {id} */
	char **headers;			/* templates; {secret} allowed */
	size_t nheaders;
	char *id_field;			/* JSON member holding the message id */
	int success[8];			/* HTTP statuses meaning accepted */
	size_t nsuccess;
	struct policy_src src;
};

/* An alert the desk sends often (templates section), which `tocsin
   compose` fills in: its fixed CAP fields and a text per language, with
   {placeholders} for what changes. */
#define POLICY_PLACEHOLDER_MAX 31	/* letters of a placeholder's name */
struct policy_template_text {
	char *language;
	char *headline;
	char *description;		/* NULL when not given */
	char *instruction;		/* NULL when not given */
};

struct policy_template {
	char *name;
	char *event;
	char *category, *urgency, *certainty;	/* CAP values */
	int severity;			/* enum policy_severity */
	char **audience;		/* addresses; none: --to is needed */
	size_t naudience;
	struct policy_template_text *texts;
	size_t ntexts;
	struct policy_src src;
};

struct policy_group {
	char *name;
	char **members;
	size_t nmembers;
	struct policy_src src;
};

/* Which OpenPGP engine signs and encrypts outgoing messages
   (gateway.pgp_engine): librnp in process, or gpgme (a gpg process per
   operation).  Intake verification and `check` use gpgme either way. */
enum policy_pgp_engine { POLICY_PGP_RNP, POLICY_PGP_GPGME };

struct i18n_cat;

struct policy_gateway {
	char *store;			/* absolute path, or a PostgreSQL
					   conninfo (policy_store_is_pg) */
	char *gnupg_home;		/* absolute path */
	char signing_key[POLICY_FPR_LEN + 1];
	enum policy_pgp_engine pgp_engine;	/* default POLICY_PGP_RNP */
	char *issuer_ca;		/* absolute path or NULL */
	int workers;
	char *listen;
	char *public_url;
	int64_t replay_window;
	size_t max_alert_bytes;
	char *default_audience;
	int64_t lease;			/* seconds a claim is held */
	int64_t verify_after;		/* a contact not confirmed by a check
					   for this long is stale */
	int64_t retry_base, retry_max;	/* backoff bounds, seconds */
	int max_attempts;		/* then a delivery is dead */
	char *ack_secret;		/* 0600 key file of ack tokens, or NULL */
	char *duty_phone;		/* E.164 of the duty desk, or NULL */
	char *short_name;		/* who sends, first in an SMS and said
					   first in a call: 1 to
					   POLICY_SHORT_NAME_MAX printable
					   ASCII; "tocsin" unless set */
	char *ack_phone;		/* E.164 that takes "ACK code" by SMS
					   or call, or NULL */
	char *trusted_proxy;		/* IP address of the TLS proxy in front
					   of the listener, whose
					   X-Forwarded-For is believed; NULL */
	/* The listener's limits against slow or many connections. */
	int listen_max_connections;	/* open at once, in all */
	int listen_max_per_address;	/* open at once from one address
					   (the trusted proxy excepted) */
	int64_t listen_idle_timeout;	/* seconds a connection may be silent */
	int64_t listen_request_timeout;	/* seconds a request may take in all,
					   from its connection or the end of
					   the request before */
	char *desk_team;		/* the team of the desk's own on-call,
					   paged when a team is unreached;
					   NULL: none */
	struct policy_src desk_team_src;
	char *desk_tokens;		/* 0600 file of the desk board's
					   operators, "NAME SHA256HEX" a line
					   (gateway/desk.h); NULL: no /desk */
	struct policy_src desk_tokens_src;
	char *locale_dir;		/* where the compiled catalogs are:
					   gateway.locale_dir, else
					   $TOCSIN_LOCALEDIR, else the
					   installed share/locale */
	struct i18n_cat *catalog;	/* the gateway's texts in every
					   language found there (i18n.h);
					   never NULL once loaded, read-only */
	struct policy_src src;
	struct policy_src signing_key_src;
	struct policy_src store_src;	/* the store key's line */
};

#define POLICY_SHORT_NAME_MAX 20

struct policy_repo {
	char *main_file;		/* absolute path of the main file */
	char *base_dir;			/* its folder: base of relative paths */
	struct policy_gateway gateway;
	struct policy_issuer *issuers;
	size_t nissuers;
	struct policy_quorum *quorum;
	size_t nquorum;
	struct policy_smtp *smtp;	/* NULL when not configured */
	struct policy_provider *sms, *voice;	/* in configuration order */
	struct policy_fax *fax;		/* NULL when not configured */
	struct policy_drop_host *drops;	/* providers.sshdrop */
	size_t ndrops;
	size_t nsms, nvoice;
	struct policy_policy *policies;
	size_t npolicies;
	struct policy_group *groups;
	size_t ngroups;
	struct policy_template *templates;
	size_t ntemplates;
	struct policy_team *teams;
	size_t nteams;
	char **files;			/* every file read, for policy_src.file */
	size_t nfiles;
};

/*
 * Load and check the repository at path.  Every problem goes into diag
 * (errors and warnings, each with file:line).  Returns 0 and sets *ret
 * (owned by the caller, free with policy_free) when there is no error;
 * otherwise returns TOCSIN_ECONFIG with *ret NULL and err naming the first
 * error.  diag may be NULL when the caller only needs the first error.
 */
int policy_load(const char *path, struct policy_repo **ret,
    struct policy_diag *diag, struct tocsin_err *err);
/*
 * As policy_load, for `tocsin check`: when the files could be read and
 * parsed, *ret is set even if diag holds errors (the return is then
 * TOCSIN_ECONFIG), so that the checks of other modules (keys, certificates)
 * still run and every problem is reported in one go.  Such a repository is
 * for checking only: a value that was refused is left unset (NULL, "" or
 * its default; refused names are ""), and it must never be used to serve.
 * *ret is NULL when nothing could be parsed (unreadable file, syntax
 * error, @include problems).
 */
int policy_load_check(const char *path, struct policy_repo **ret,
    struct policy_diag *diag, struct tocsin_err *err);
/* As policy_load, from a string (for tests and fuzzing); name is the file name
   shown in messages, base_dir resolves relative paths. Includes are refused. */
int policy_load_string(const char *text, const char *name, const char *base_dir,
    struct policy_repo **ret, struct policy_diag *diag, struct tocsin_err *err);
void policy_free(struct policy_repo *repo);

/*
 * The providers (of a providers.sms or providers.voice list) that serve an
 * E.164 number, best first: the longest matching prefix first, then the
 * configuration's order.  Returns how many were written to out (at most
 * max); the pointers are borrowed from the list.
 */
size_t policy_providers_for(const struct policy_provider *p, size_t n,
    const char *number, const struct policy_provider **out, size_t max);
void policy_providers_free(struct policy_provider *p, size_t n);

/*
 * The fax gateway's e-mail address for an E.164 fax number ("+254...")
 * into out.  Returns 0, or TOCSIN_EDATA when the number is not E.164 or
 * the address would not fit outlen or 254 bytes, TOCSIN_EINTERNAL for a
 * missing argument; out is untouched on failure.
 */
int policy_fax_address(const struct policy_fax *fax, const char *e164,
    char *out, size_t outlen);

/* The drop host of that name, or NULL. */
const struct policy_drop_host *policy_drop_find(const struct policy_repo *repo,
    const char *name);

const struct policy_team *policy_team_find(const struct policy_repo *repo,
    const char *id);
/* The template of that name, or NULL. */
const struct policy_template *policy_template_find(
    const struct policy_repo *repo, const char *name);
/* Whether every "{...}" in t is a placeholder ({name}: a lower-case
   letter, then letters, digits, '_', at most POLICY_PLACEHOLDER_MAX); when
   not, bad gets the first offender. */
bool policy_placeholder_ok(const char *t, char *bad, size_t badlen);
const struct policy_policy *policy_find(const struct policy_repo *repo,
    const char *name);

/*
 * Resolve one address (all, region:XX, a group, a team id) into team
 * indexes.  mark has repo->nteams entries; every team the address names gets
 * mark[i] = true.  Returns 0, or TOCSIN_ENOTFOUND with err when the address
 * names nothing.
 */
int policy_resolve(const struct policy_repo *repo, const char *address,
    bool *mark, struct tocsin_err *err);

/*
 * Whether quorum rule q applies to an alert of highest severity severity
 * whose resolved audience is the marked teams (repo->nteams entries).
 * Returns 1 or 0, or TOCSIN_ENOMEM.
 */
int policy_quorum_applies(const struct policy_repo *repo,
    const struct policy_quorum *q, int severity, const bool *teams);

/*
 * What rule q applies to, as one sentence without a full stop, for `check`
 * and refusals: "2 issuers for Extreme alerts to 50 teams or more".
 * Written into out (always terminated, cut when it does not fit).
 */
void policy_quorum_explain(const struct policy_repo *repo,
    const struct policy_quorum *q, char *out, size_t len);

/* Parse "30s", "15m", "2h", "1d" or a bare number of seconds (max 400 days). */
int policy_duration_parse(const char *s, int64_t *ret_seconds);

/* Normalise an E.164 number ("+254 20 555 0101" -> "+254205550101");
   returns 0 or TOCSIN_EDATA. out must hold 17 bytes. */
int policy_e164_normalise(const char *in, char *out, size_t outlen);

/* Normalise a fingerprint (spaces removed, upper case, 40 hex) into out[41]. */
int policy_fpr_normalise(const char *in, char *out);

/*
 * The contacts of team that a target addresses (primary/substitute/all), as
 * indexes into team->contacts.  idx must hold team->ncontacts entries; *n is
 * set to how many were written.  POLICY_WHO_TEAM yields none.
 */
void policy_target_contacts(const struct policy_team *team,
    const struct policy_target *t, size_t *idx, size_t *n);

/*
 * The endpoint address of one contact for one target: the contact field
 * the target's kind names (the e-mail only with an OpenPGP key, the
 * emergency phone for NAME:emergency).  NULL when the contact lacks it, or
 * for a kind that reaches the team.
 */
const char *policy_contact_endpoint(const struct policy_contact *c,
    const struct policy_target *t);

#endif
