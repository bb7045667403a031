/*
 * drop.c: providers.sshdrop, the SSH drop hosts, and each team's sshdrop.
 *
 * A site without normal internet fetches its team folder from a drop host
 * out of band; the sshdrop channel writes each alert there over SSH.
 * Everything that ends up on an ssh command line or in a remote path is
 * checked here, once: the host (a host name or an IP address, so never an
 * option), the user (a POSIX portable name), the drop path (absolute, no
 * "." or "..", no spaces, quotes or backslashes) and each team's folder
 * (one name under it).  The host key is always pinned, by its SHA256
 * fingerprint or by a known_hosts file: a key is never trusted on first
 * use.  The private key must be mode 0600 or stricter.  A team's sshdrop
 * is read after the providers, so its host is looked up at once, and its
 * endpoint "NAME:PATH/FOLDER" is made here.  Nothing is connected to at
 * load time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_int.h"

#define POLICY_MAX_DROPS	32	/* drop hosts */
#define POLICY_DROP_NAME	40	/* bytes in a drop host's name */
#define POLICY_DROP_USER	32	/* bytes in a user name */
#define POLICY_DROP_PATH	200	/* bytes in the drop path */
#define POLICY_DROP_FOLDER	64	/* bytes in a team's folder */
#define POLICY_DROP_SHA256	"SHA256:"
#define POLICY_DROP_SHA256_LEN	(sizeof(POLICY_DROP_SHA256) - 1)
#define POLICY_DROP_B64_LEN	43	/* base64 of 32 bytes, no padding */

#define POLICY_DROP_ALNUM	"abcdefghijklmnopqrstuvwxyz" \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* In the order of their values (RFC 4648, section 4). */
static const char policy_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz0123456789+/";

/* A name: 1 to 40 letters, digits, '-' or '_'. */
static bool
policy_drop_name_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= POLICY_DROP_NAME &&
	    strspn(s, POLICY_DROP_ALNUM "-_") == n;
}

/* A host name or an IPv4 or IPv6 address; why says what is wrong. */
static bool
policy_drop_host_valid(const char *s, const char **why)
{
	unsigned char a[sizeof(struct in6_addr)];
	const char *last = strrchr(s, '.');

	if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
		return true;
	if (s[0] == '[') {
		*why = "is in brackets; write an IPv6 address without them, "
		    "e.g. \"2001:db8::10\" (the port goes in port)";
		return false;
	}
	if (strchr(s, ':') != NULL) {
		*why = "is not an IPv6 address or a host name; write e.g. "
		    "\"2001:db8::10\" or \"drop.example.net\" (the port goes "
		    "in port)";
		return false;
	}
	if (!policy_hostname_valid(s, strlen(s))) {
		*why = "is not a host name or an IP address; write labels of "
		    "letters, digits and '-' (1 to 63 each, no '-' first or "
		    "last) joined by dots, e.g. \"drop.example.net\", or an "
		    "address such as \"192.0.2.10\"";
		return false;
	}
	/* A host name's last label is never all digits: this is a
	   mistyped IPv4 address ("10.0.0.256"). */
	last = last != NULL ? last + 1 : s;
	if (strspn(last, "0123456789") == strlen(last)) {
		*why = "is not an IPv4 address; write four numbers from 0 to "
		    "255 joined by dots, e.g. \"192.0.2.10\"";
		return false;
	}
	return true;
}

/* A POSIX portable user name that cannot be taken for an option:
   [a-z_][a-z0-9_-]*, 1 to 32 bytes. */
static bool
policy_drop_user_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > POLICY_DROP_USER || !((s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* "SHA256:" and 43 base64 characters, as ssh-keygen -lf prints it. */
static bool
policy_drop_fpr_valid(const char *s)
{
	const char *p = s + POLICY_DROP_SHA256_LEN;
	size_t n;

	if (strncmp(s, POLICY_DROP_SHA256, POLICY_DROP_SHA256_LEN) != 0)
		return false;
	n = strspn(p, policy_b64);
	if (n != POLICY_DROP_B64_LEN || p[n] != '\0')
		return false;
	/* 43 characters hold 258 bits: the last one's low 2 bits are not
	   part of the hash and are 0 (a character was lost or changed). */
	return ((strchr(policy_b64, p[n - 1]) - policy_b64) & 3) == 0;
}

/* An absolute folder on the drop host; why says what is wrong. */
static bool
policy_drop_path_valid(const char *s, const char **why)
{
	const unsigned char *c;
	const char *p, *e;

	if (s[0] != '/') {
		*why = "is not absolute; write the folder's full path on the "
		    "drop host, e.g. \"/srv/drop\"";
		return false;
	}
	if (strcmp(s, "/") == 0) {
		*why = "is the root folder; give the drops a folder of their "
		    "own, e.g. \"/srv/drop\"";
		return false;
	}
	for (c = (const unsigned char *)s; *c != '\0'; c++)
		if (*c < 0x21 || *c > 0x7e || strchr("\"'`\\", *c) != NULL) {
			*why = "holds a space, a quote, a backslash or a byte "
			    "that is not printable ASCII; use a plain path, "
			    "e.g. \"/srv/drop\"";
			return false;
		}
	if (s[strlen(s) - 1] == '/') {
		*why = "ends with '/'; remove the trailing '/'";
		return false;
	}
	for (p = s; *p != '\0'; p = e) {
		size_t len;

		p++;		/* past the '/' */
		if ((e = strchr(p, '/')) == NULL)
			e = p + strlen(p);
		len = (size_t)(e - p);
		if (len == 0) {
			*why = "has an empty component (\"//\"); write one '/' "
			    "between folder names";
			return false;
		}
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.')) {
			*why = "has a \".\" or \"..\" component; write the "
			    "folder's own path without them";
			return false;
		}
	}
	return true;
}

/* One folder name: 1 to 64 letters, digits, '.', '_' or '-', not first
   '.' (so never "." or "..") or '-'.  This refuses '/' and every byte
   outside 0x21..0x7e, NUL included. */
static bool
policy_drop_folder_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= POLICY_DROP_FOLDER && s[0] != '.' &&
	    s[0] != '-' && strspn(s, POLICY_DROP_ALNUM "._-") == n;
}

/* known_hosts must be a regular file that can be read, and that others
   cannot write (they would change the pin).  Refused: left unset. */
static void
policy_drop_known_hosts(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, struct policy_drop_host *dh)
{
	const config_setting_t *s = config_setting_get_member(g,
	    "known_hosts");
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO must not stop the load. */
	if ((fd = open(dh->known_hosts, O_RDONLY | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC)) < 0) {
		policy_err(ctx, s, "%s: known_hosts file %s cannot be read: "
		    "%s; write the drop host's key into it (a line \"HOST "
		    "KEY\" made from the host's "
		    "/etc/ssh/ssh_host_ed25519_key.pub), or pin the key with "
		    "fingerprint = \"SHA256:...\" instead", where,
		    dh->known_hosts, strerror(errno));
		goto refuse;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		policy_err(ctx, s, "%s: known_hosts %s is not a regular file; "
		    "point known_hosts at the file itself", where,
		    dh->known_hosts);
		(void)close(fd);
		goto refuse;
	}
	(void)close(fd);
	if ((st.st_mode & 022) != 0) {
		policy_err(ctx, s, "%s: known_hosts file %s has mode %04o, so "
		    "others may change the pinned host key; chmod go-w %s",
		    where, dh->known_hosts, (unsigned)(st.st_mode & 07777),
		    dh->known_hosts);
		goto refuse;
	}
	return;
refuse:
	free(dh->known_hosts);
	dh->known_hosts = NULL;
}

/* The host key pin: exactly one of fingerprint and known_hosts. */
static void
policy_drop_read_pin(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, struct policy_drop_host *dh)
{
	char q[POLICY_QUOTE_LEN];
	const char *v;
	int has_fpr, has_kh;

	/* Room for a whole ssh-keygen line pasted by mistake, so that the
	   message below says what to copy. */
	has_fpr = policy_get_string(ctx, g, where, "fingerprint", false, 256,
	    &v);
	if (has_fpr == 1) {
		if (policy_drop_fpr_valid(v))
			(void)snprintf(dh->fingerprint,
			    sizeof(dh->fingerprint), "%s", v);
		else
			policy_err(ctx, config_setting_get_member(g,
			    "fingerprint"), "%s: fingerprint %s is not "
			    "\"SHA256:\" and 43 base64 characters; copy it "
			    "from ssh-keygen -lf "
			    "/etc/ssh/ssh_host_ed25519_key.pub run on the drop "
			    "host (the second field)", where,
			    policy_quote(q, sizeof(q), v));
	}
	has_kh = policy_get_path(ctx, g, where, "known_hosts", false,
	    &dh->known_hosts);
	if (has_kh == 1)
		policy_drop_known_hosts(ctx, g, where, dh);
	if (has_fpr == 0 && has_kh == 0)
		policy_err(ctx, g, "%s: the drop host's key is not pinned, and "
		    "trust on first use is never done; add fingerprint = "
		    "\"SHA256:...\"; (ssh-keygen -lf "
		    "/etc/ssh/ssh_host_ed25519_key.pub on the drop host prints "
		    "it) or known_hosts = \"FILE\";", where);
	else if (has_fpr != 0 && has_kh != 0)
		policy_err(ctx, g, "%s: both fingerprint and known_hosts are "
		    "given; the drop host's key must be pinned one way (trust "
		    "on first use is never done): keep one of them", where);
}

static void
policy_drop_read_key(struct policy_ctx *ctx, const config_setting_t *g,
    const char *where, struct policy_drop_host *dh)
{
	char *create;
	size_t n;

	if (policy_get_path(ctx, g, where, "key", true, &dh->key) != 1)
		return;
	n = strlen(dh->key) + 128;
	create = policy_xcalloc(n, 1);
	(void)snprintf(create, n, "create it with ssh-keygen -t ed25519 -N "
	    "\"\" -f %s (its .pub goes into the drop user's authorized_keys)",
	    dh->key);
	policy_check_secret_as(ctx, config_setting_get_member(g, "key"), where,
	    "key", dh->key, create);
	free(create);
}

static void
policy_drop_read_one(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_drop_host *dh, int index)
{
	static const char *const keys[] = { "name", "host", "port", "user",
		"key", "fingerprint", "known_hosts", "path", "timeout",
		"ack_poll", "addresses", "internet", NULL };
	char where[POLICY_QUOTE_LEN + 32], q[POLICY_QUOTE_LEN];
	const char *v, *why;
	long long n;
	int64_t t;

	dh->src = policy_src_of(ctx, g);
	dh->port = 22;
	dh->timeout = 20;
	dh->ack_poll = 60;
	(void)snprintf(where, sizeof(where), "providers.sshdrop %d", index);
	if (policy_get_dup(ctx, g, where, "name", true, POLICY_MAX_NAME,
	    &dh->name) == 1) {
		(void)snprintf(where, sizeof(where), "providers.sshdrop %s",
		    policy_quote(q, sizeof(q), dh->name));
		if (!policy_drop_name_valid(dh->name))
			policy_err(ctx, config_setting_get_member(g, "name"),
			    "%s: a drop host name is 1 to 40 letters, digits, "
			    "'-' or '_' (teams' sshdrop and delivery addresses "
			    "name it); rename it", where);
	}
	(void)policy_check_keys(ctx, g, where, keys);
	{
		bool internet = true;

		(void)policy_get_bool(ctx, g, where, "internet", &internet);
		dh->private_path = !internet;
	}
	switch (policy_get_string(ctx, g, where, "host", false, 253, &v)) {
	case 0:
		policy_err(ctx, g, "%s: host is missing; add host = "
		    "\"drop.example.net\"; (a host name or an IP address)",
		    where);
		break;
	case 1:
		if (policy_drop_host_valid(v, &why))
			dh->host = policy_xstrdup(v);
		else
			policy_err(ctx, config_setting_get_member(g, "host"),
			    "%s: host %s %s", where,
			    policy_quote(q, sizeof(q), v), why);
		break;
	default:
		break;
	}
	if (policy_get_int(ctx, g, where, "port", false, 1, 65535, &n) == 1)
		dh->port = (int)n;
	if (policy_get_string(ctx, g, where, "user", true, POLICY_DROP_USER,
	    &v) == 1) {
		if (policy_drop_user_valid(v))
			dh->user = policy_xstrdup(v);
		else
			policy_err(ctx, config_setting_get_member(g, "user"),
			    "%s: user %s is not a portable user name; write "
			    "lowercase letters, digits, '_' or '-', starting "
			    "with a letter or '_', e.g. \"tocsin\"", where,
			    policy_quote(q, sizeof(q), v));
	}
	policy_drop_read_key(ctx, g, where, dh);
	policy_drop_read_pin(ctx, g, where, dh);
	if (policy_get_string(ctx, g, where, "path", true, POLICY_DROP_PATH,
	    &v) == 1) {
		if (policy_drop_path_valid(v, &why))
			dh->path = policy_xstrdup(v);
		else
			policy_err(ctx, config_setting_get_member(g, "path"),
			    "%s: path %s %s", where,
			    policy_quote(q, sizeof(q), v), why);
	}
	if (policy_get_duration(ctx, g, where, "timeout", false, &t) == 1) {
		if (t < 1 || t > 600)
			policy_err(ctx, config_setting_get_member(g, "timeout"),
			    "%s: timeout must be between 1s and 10m; use e.g. "
			    "\"20s\"", where);
		else
			dh->timeout = t;
	}
	if (policy_get_duration(ctx, g, where, "ack_poll", false, &t) == 1) {
		if (t < 0 || t > 86400)
			policy_err(ctx, config_setting_get_member(g, "ack_poll"),
			    "%s: ack_poll must be between 0 (never) and 1d; use "
			    "e.g. \"60s\"", where);
		else
			dh->ack_poll = t;
	}
	(void)policy_read_addresses(ctx, g, where, &dh->addresses,
	    &dh->naddresses);
}

void
policy_read_drops(struct policy_ctx *ctx, const config_setting_t *providers)
{
	struct policy_repo *repo = ctx->repo;
	const config_setting_t *list = config_setting_get_member(providers,
	    "sshdrop");
	char q[POLICY_QUOTE_LEN];
	int n;

	if (list == NULL)
		return;
	if (config_setting_type(list) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(list) == CONFIG_TYPE_ARRAY &&
	    config_setting_length(list) == 0)) {
		policy_err(ctx, list, "providers: sshdrop must be a list "
		    "( { name = ...; host = ...; ... }, ... ), not %s; write "
		    "each drop host in braces inside ( )",
		    policy_type_name(config_setting_type(list)));
		return;
	}
	n = config_setting_length(list);
	if (n > POLICY_MAX_DROPS) {
		policy_err(ctx, list, "providers.sshdrop has %d entries, more "
		    "than the %d allowed; remove some", n, POLICY_MAX_DROPS);
		n = POLICY_MAX_DROPS;
	}
	repo->drops = policy_xcalloc((size_t)n + 1, sizeof(*repo->drops));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = policy_list_elem_group(ctx, list, i,
		    "providers.sshdrop entry");
		struct policy_drop_host *dh = &repo->drops[repo->ndrops];

		if (g == NULL)
			continue;
		repo->ndrops++;
		policy_drop_read_one(ctx, g, dh, i + 1);
		for (size_t k = 0; dh->name != NULL && k + 1 < repo->ndrops;
		    k++) {
			const struct policy_drop_host *o = &repo->drops[k];

			if (o->name == NULL || strcmp(o->name, dh->name) != 0)
				continue;
			policy_err(ctx, config_setting_get_member(g, "name"),
			    "providers.sshdrop: the name %s is already used at "
			    "%s:%d; drop host names must be unique: rename one",
			    policy_quote(q, sizeof(q), dh->name), o->src.file,
			    o->src.line);
			break;
		}
	}
}

void
policy_drops_free(struct policy_drop_host *d, size_t n)
{
	for (size_t i = 0; i < n && d != NULL; i++) {
		free(d[i].name);
		free(d[i].host);
		free(d[i].user);
		free(d[i].key);
		free(d[i].known_hosts);
		free(d[i].path);
		policy_addresses_free(d[i].addresses, d[i].naddresses);
	}
	free(d);
}

/* The drop hosts' names, quoted and joined by ", ", into buf (large
   enough for POLICY_MAX_DROPS of them); returns how many. */
static size_t
policy_drop_names(const struct policy_repo *repo, char *buf, size_t size)
{
	char q[POLICY_QUOTE_LEN];
	size_t o = 0, k = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < repo->ndrops; i++) {
		int w;

		if (repo->drops[i].name == NULL ||
		    repo->drops[i].name[0] == '\0')
			continue;
		w = snprintf(buf + o, size - o, "%s%s", k > 0 ? ", " : "",
		    policy_quote(q, sizeof(q), repo->drops[i].name));
		if (w < 0 || (size_t)w >= size - o)
			break;
		o += (size_t)w;
		k++;
	}
	return k;
}

static void
policy_drop_unknown(struct policy_ctx *ctx, const config_setting_t *s,
    const char *where, const char *name)
{
	char known[POLICY_MAX_DROPS * (POLICY_QUOTE_LEN + 2) + 1];
	char q[POLICY_QUOTE_LEN];

	(void)policy_quote(q, sizeof(q), name);
	if (policy_drop_names(ctx->repo, known, sizeof(known)) == 0)
		policy_err(ctx, s, "%s: host %s is not a drop host: "
		    "providers.sshdrop is not configured; add "
		    "providers.sshdrop = ( { name = %s; host = ...; "
		    "user = ...; key = ...; fingerprint = ...; path = ...; "
		    "} );", where, q, q);
	else
		policy_err(ctx, s, "%s: host %s is not a drop host of "
		    "providers.sshdrop (those are %s); fix the name or add the "
		    "host to providers.sshdrop", where, q, known);
}

void
policy_read_team_drop(struct policy_ctx *ctx, const config_setting_t *g,
    struct policy_team *team, const char *twhere)
{
	static const char *const keys[] = { "host", "folder", NULL };
	const config_setting_t *s = config_setting_get_member(g, "sshdrop");
	const struct policy_drop_host *dh;
	char where[POLICY_QUOTE_LEN + 48], q[POLICY_QUOTE_LEN];
	const char *v, *folder = team->id;
	size_t n;

	if (s == NULL)
		return;
	/* Set even when refused: check.c then knows sshdrop was given. */
	team->drop_src = policy_src_of(ctx, s);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		policy_err(ctx, s, "%s: sshdrop must be a group "
		    "{ host = ...; }, not %s; write sshdrop = "
		    "{ host = \"NAME\"; }; with NAME one of providers.sshdrop",
		    twhere, policy_type_name(config_setting_type(s)));
		return;
	}
	(void)snprintf(where, sizeof(where), "%s sshdrop", twhere);
	(void)policy_check_keys(ctx, s, where, keys);
	switch (policy_get_string(ctx, s, where, "host", false, POLICY_MAX_NAME,
	    &v)) {
	case 0:
		policy_err(ctx, s, "%s: host is missing; add host = \"NAME\"; "
		    "with NAME one of providers.sshdrop", where);
		break;
	case 1:
		if ((dh = policy_drop_find(ctx->repo, v)) != NULL)
			team->drop = dh;
		else
			policy_drop_unknown(ctx, config_setting_get_member(s,
			    "host"), where, v);
		break;
	default:
		break;
	}
	switch (policy_get_string(ctx, s, where, "folder", false,
	    POLICY_DROP_FOLDER, &v)) {
	case 1:
		if (policy_drop_folder_valid(v)) {
			folder = v;
			break;
		}
		policy_err(ctx, config_setting_get_member(s, "folder"), "%s: "
		    "folder %s is not one folder name; write 1 to %d letters, "
		    "digits, '.', '_' or '-', not starting with '.' or '-' "
		    "(no '/': it is made under the drop host's path), e.g. "
		    "folder = \"ke\";", where, policy_quote(q, sizeof(q), v),
		    POLICY_DROP_FOLDER);
		folder = NULL;
		break;
	case -1:
		folder = NULL;
		break;
	default:
		break;		/* the team id (NULL if refused, reported) */
	}
	if (folder == NULL)
		return;
	team->drop_folder = policy_xstrdup(folder);
	if (team->drop == NULL || team->drop->name == NULL ||
	    team->drop->path == NULL)
		return;
	n = strlen(team->drop->name) + strlen(team->drop->path) +
	    strlen(folder) + 3;
	team->drop_address = policy_xcalloc(n, 1);
	(void)snprintf(team->drop_address, n, "%s:%s/%s", team->drop->name,
	    team->drop->path, folder);
}
