/*
 * values.c: parsers for single configuration values (durations, E.164
 * numbers, fingerprints, time zones, team ids, notify targets, ...).
 *
 * Each parser is strict and bounded: it reads no more than its value's
 * length limit and accepts only the documented forms, because these values
 * later become parts of file names, provider requests and message headers.
 * None of them allocates.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "policy_int.h"

#define POLICY_ZONEINFO "/usr/share/zoneinfo"

static const char *const who_names[] = {
	[POLICY_WHO_PRIMARY] = "primary",
	[POLICY_WHO_SUBSTITUTE] = "substitute",
	[POLICY_WHO_ALL] = "all",
	[POLICY_WHO_TEAM] = "team",
};

/* CAP 1.2 values, in enum order. */
static const char *const severity_names[POLICY_SEV_COUNT] = {
	"Unknown", "Minor", "Moderate", "Severe", "Extreme",
};
static const char *const status_names[POLICY_ST_COUNT] = {
	"Actual", "Exercise", "System", "Test", "Draft",
};

/* The regions of docs/configuration.md (continents, as in ISO 3166 use). */
static const char *const region_names[] = {
	"AF", "AN", "AS", "EU", "NA", "OC", "SA",
};

const char *
policy_who_name(enum policy_who who)
{
	if ((unsigned)who > POLICY_WHO_TEAM)
		return "?";
	return who_names[who];
}

int
policy_severity_parse(const char *s)
{
	/* CAP values are case-sensitive; the exact spelling is required. */
	for (int i = 0; i < POLICY_SEV_COUNT; i++)
		if (strcmp(s, severity_names[i]) == 0)
			return i;
	return -1;
}

const char *
policy_severity_name(int severity)
{
	if (severity < 0 || severity >= POLICY_SEV_COUNT)
		return "?";
	return severity_names[severity];
}

const char *
policy_status_name(int status)
{
	if (status < 0 || status >= POLICY_ST_COUNT)
		return "?";
	return status_names[status];
}

int
policy_status_parse(const char *s)
{
	for (int i = 0; i < POLICY_ST_COUNT; i++)
		if (strcmp(s, status_names[i]) == 0)
			return i;
	return -1;
}

int
policy_duration_parse(const char *s, int64_t *ret_seconds)
{
	int64_t v = 0, mult = 1;
	size_t i = 0;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return TOCSIN_EDATA;
	/* Digits, bounded before they can overflow: 400 days is 8 digits. */
	for (; isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (s[i] - '0');
		if (v > POLICY_MAX_DURATION)
			return TOCSIN_EDATA;
	}
	switch (s[i]) {
	case '\0':
		break;
	case 's':
		mult = 1;
		i++;
		break;
	case 'm':
		mult = 60;
		i++;
		break;
	case 'h':
		mult = 3600;
		i++;
		break;
	case 'd':
		mult = 86400;
		i++;
		break;
	default:
		return TOCSIN_EDATA;
	}
	if (s[i] != '\0')
		return TOCSIN_EDATA;
	if (v > POLICY_MAX_DURATION / mult)
		return TOCSIN_EDATA;
	*ret_seconds = v * mult;
	return 0;
}

int
policy_e164_normalise(const char *in, char *out, size_t outlen)
{
	char buf[17];
	size_t nd = 0, i = 0;

	if (in == NULL)
		return TOCSIN_EDATA;
	while (in[i] == ' ')
		i++;
	if (in[i] != '+')
		return TOCSIN_EDATA;
	buf[nd++] = '+';
	/* Separators people write are dropped; anything else is refused.  The
	   input is bounded too, so that a long run of spaces is not read on. */
	for (i++; in[i] != '\0'; i++) {
		char c = in[i];

		if (i > 64)
			return TOCSIN_EDATA;
		if (c >= '0' && c <= '9') {
			if (nd == 1 && c == '0')	/* no country code 0 */
				return TOCSIN_EDATA;
			if (nd > 15)
				return TOCSIN_EDATA;
			buf[nd++] = c;
		} else if (c != ' ' && c != '-' && c != '.' && c != '(' &&
		    c != ')') {
			return TOCSIN_EDATA;
		}
	}
	/* E.164: country code and number, 8..15 digits in all. */
	if (nd - 1 < 8 || nd - 1 > 15)
		return TOCSIN_EDATA;
	if (outlen < nd + 1)
		return TOCSIN_EDATA;
	memcpy(out, buf, nd);
	out[nd] = '\0';
	return 0;
}

int
policy_fpr_normalise(const char *in, char *out)
{
	size_t n = 0;

	if (in == NULL)
		return TOCSIN_EDATA;
	for (size_t i = 0; in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == ' ')
			continue;
		if (!isxdigit(c) || n == POLICY_FPR_LEN)
			return TOCSIN_EDATA;
		out[n++] = (char)toupper(c);
	}
	if (n != POLICY_FPR_LEN)
		return TOCSIN_EDATA;
	out[n] = '\0';
	return 0;
}

bool
policy_team_id_valid(const char *s)
{
	size_t n;

	/* ^[a-z0-9][a-z0-9-]{1,31}$: the id becomes part of file names, so
	   nothing else ("/", "..", NUL, upper case) gets through. */
	if (s == NULL || !((s[0] >= 'a' && s[0] <= 'z') ||
	    (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (n = 1; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= 32)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return false;
	}
	return n >= 2;
}

static int
policy_alpha2(const char *s, char out[3])
{
	if (s == NULL || !isalpha((unsigned char)s[0]) ||
	    !isalpha((unsigned char)s[1]) || s[2] != '\0')
		return TOCSIN_EDATA;
	out[0] = (char)toupper((unsigned char)s[0]);
	out[1] = (char)toupper((unsigned char)s[1]);
	out[2] = '\0';
	return 0;
}

int
policy_region_parse(const char *s, char out[3])
{
	char r[3];

	if (policy_alpha2(s, r) != 0)
		return TOCSIN_EDATA;
	for (size_t i = 0; i < sizeof(region_names) / sizeof(region_names[0]);
	    i++)
		if (strcmp(r, region_names[i]) == 0) {
			memcpy(out, r, 3);
			return 0;
		}
	return TOCSIN_EDATA;
}

int
policy_country_parse(const char *s, char out[3])
{
	/* The shape of ISO 3166-1 alpha-2; the list itself changes too often
	   to be compiled in. */
	return policy_alpha2(s, out);
}

int
policy_timezone_check(const char *name, char *why, size_t whylen)
{
	char path[sizeof(POLICY_ZONEINFO) + 130];
	unsigned char magic[4];
	struct stat st;
	const char *bad = base_tzname_check(name);
	ssize_t r;
	int fd;

	/* A safe relative path: it is joined to the zoneinfo folder. */
	if (bad != NULL) {
		snprintf(why, whylen, "%s", bad);
		return TOCSIN_EDATA;
	}
	/* Files in zoneinfo that are not zones, or not civil time. */
	if (strcmp(name, "posixrules") == 0 || strcmp(name, "localtime") == 0 ||
	    strcmp(name, "Factory") == 0 || strncmp(name, "right/", 6) == 0) {
		snprintf(why, whylen, "is a file of the time zone database, "
		    "not a zone for people");
		return TOCSIN_EDATA;
	}
	(void)snprintf(path, sizeof(path), "%s/%s", POLICY_ZONEINFO, name);
	/* O_NONBLOCK: a FIFO planted in the folder must not hang the load. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		snprintf(why, whylen, "is not in %s", POLICY_ZONEINFO);
		return TOCSIN_ENOTFOUND;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		snprintf(why, whylen, "is a folder of %s, not a zone",
		    POLICY_ZONEINFO);
		return TOCSIN_EDATA;
	}
	r = read(fd, magic, sizeof(magic));
	(void)close(fd);
	if (r != (ssize_t)sizeof(magic) || memcmp(magic, "TZif", 4) != 0) {
		snprintf(why, whylen, "is a file of the time zone database, "
		    "not a zone");
		return TOCSIN_EDATA;
	}
	return 0;
}

static int
policy_hhmm(const char *s, int *ret)
{
	int h, m;

	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
	    s[2] != ':' || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return TOCSIN_EDATA;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return TOCSIN_EDATA;
	*ret = h * 60 + m;
	return 0;
}

int
policy_hours_parse(const char *s, int *start, int *end)
{
	int a, b;

	/* "HH:MM-HH:MM" in UTC; the end may be 24:00 and may wrap past
	   midnight (22:00-06:00), but an empty span is a mistake. */
	if (strlen(s) != 11 || s[5] != '-')
		return TOCSIN_EDATA;
	if (policy_hhmm(s, &a) != 0 || policy_hhmm(s + 6, &b) != 0)
		return TOCSIN_EDATA;
	if (a == 24 * 60)
		return TOCSIN_EDATA;
	if (a == b)
		return TOCSIN_EDATA;
	*start = a;
	*end = b;
	return 0;
}

bool
policy_language_valid(const char *s)
{
	size_t n = 0;

	/* A BCP 47 tag's shape: a primary language subtag of 2-3 letters,
	   then optional subtags of 1-8 letters or digits ("en", "pt-BR",
	   "zh-Hant"). */
	while (isalpha((unsigned char)s[n]))
		n++;
	if (n < 2 || n > 3)
		return false;
	while (s[n] == '-') {
		size_t k = 0;

		n++;
		while (isalnum((unsigned char)s[n + k]))
			k++;
		if (k < 1 || k > 8)
			return false;
		n += k;
		if (n > 35)
			return false;
	}
	return s[n] == '\0';
}

/* Host name labels: letters, digits and '-' (not first or last), 1 to 63
   each, joined by dots, 253 bytes at most.  n bytes of s. */
bool
policy_hostname_valid(const char *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

bool
policy_email_valid(const char *s)
{
	const char *at = strchr(s, '@');
	size_t n = strlen(s);

	/* Not RFC 5321 in full: enough to refuse what would break a header
	   or an envelope (spaces, control bytes, brackets, several '@'). */
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') ||
	    n > 254)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>()[]\\,;:\"", c))
			return false;
	}
	if (at[1] == '.' || s[n - 1] == '.' || strchr(at, '.') == NULL)
		return false;
	return true;
}

bool
policy_listen_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return false;
	if (s[0] == '[' && colon[-1] != ']')
		return false;
	for (const char *p = s; p < colon; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || !isdigit((unsigned char)colon[1]) ||
	    port < 1 || port > 65535)
		return false;
	return true;
}

static bool
kind_emergency(const struct policy_kind *k)
{
	return k->emergency;
}

static bool
kind_team(const struct policy_kind *k)
{
	return k->field == POLICY_FIELD_TEAM;
}

/* The channel part of a target and its :emergency, against the kinds the
   channels described (policy_kinds_set()). */
static int
policy_target_kind(const char *ch, const char *extra, enum policy_who w,
    struct policy_target *t, char *why, size_t whylen)
{
	const struct policy_kind *k = policy_kind_find(ch);
	char names[POLICY_KINDS_LEN];

	if (k == NULL) {
		snprintf(why, whylen, "names no channel; CHANNEL is %s",
		    policy_kinds_join(names, sizeof(names), NULL, " or "));
		return TOCSIN_EDATA;
	}
	t->who = w;
	t->channel = k;
	t->emergency = false;
	if (extra != NULL) {
		if (strcmp(extra, "emergency") != 0) {
			snprintf(why, whylen, "has an unknown suffix; only "
			    ":emergency may follow the channel");
			return TOCSIN_EDATA;
		}
		if (!k->emergency) {
			snprintf(why, whylen, "uses :emergency with %s; "
			    ":emergency applies only to %s: remove it",
			    k->name, policy_kinds_join(names, sizeof(names),
			    kind_emergency, " and "));
			return TOCSIN_EDATA;
		}
		t->emergency = true;
	}
	if (w == POLICY_WHO_TEAM && k->field != POLICY_FIELD_TEAM) {
		snprintf(why, whylen, "sends %s to the team; only %s "
		    "goes to the team: name primary, substitute or all",
		    k->name, policy_kinds_join(names, sizeof(names), kind_team,
		    " and "));
		return TOCSIN_EDATA;
	}
	if (w != POLICY_WHO_TEAM && k->field == POLICY_FIELD_TEAM) {
		snprintf(why, whylen, "sends %s to people; the drop "
		    "belongs to the team: write team:%s", k->name, k->name);
		return TOCSIN_EDATA;
	}
	return 0;
}

int
policy_target_parse(const char *s, struct policy_target *t, char *why,
    size_t whylen)
{
	char buf[64];
	char *who, *ch, *extra;
	size_t n = strlen(s);
	int w = -1;

	if (n >= sizeof(buf)) {
		snprintf(why, whylen, "is too long; a target is "
		    "WHO:CHANNEL[:emergency]");
		return TOCSIN_EDATA;
	}
	memcpy(buf, s, n + 1);
	who = buf;
	if ((ch = strchr(who, ':')) == NULL) {
		snprintf(why, whylen, "is not WHO:CHANNEL; write e.g. "
		    "\"primary:sms\"");
		return TOCSIN_EDATA;
	}
	*ch++ = '\0';
	if ((extra = strchr(ch, ':')) != NULL)
		*extra++ = '\0';
	for (int i = 0; i <= POLICY_WHO_TEAM; i++)
		if (strcmp(who, who_names[i]) == 0)
			w = i;
	if (w < 0) {
		snprintf(why, whylen, "names no one; WHO is primary, "
		    "substitute, all or team");
		return TOCSIN_EDATA;
	}
	return policy_target_kind(ch, extra, (enum policy_who)w, t, why,
	    whylen);
}

size_t
policy_distance(const char *a, const char *b)
{
	/* Levenshtein on short keys only: a suggestion, not a search. */
	size_t la = strlen(a), lb = strlen(b);
	size_t row[33];

	if (la > 32 || lb > 32)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best;
			size_t cost = tolower((unsigned char)a[i - 1]) ==
			    tolower((unsigned char)b[j - 1]) ? 0 : 1;

			best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}
