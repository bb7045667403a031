/*
 * phone.c: the SMS and voice channels, through HTTP providers.
 *
 * Both drivers share one engine on libcurl's multi interface: requests of
 * a batch run in parallel, each provider limited to `parallel` requests in
 * flight and to `rate` requests a second by a token bucket that every
 * worker of the process shares, and connections are kept in a cache that
 * the workers share too (a curl share handle).  A number is tried with the
 * providers that serve it, best first: a timeout, 5xx or 429 is tried again
 * (`retries` times, a 429 after its Retry-After) and then the next
 * provider is asked; a 4xx that is not 408 or 429 is permanent, with the
 * provider's own reason.
 *
 * A generic provider is sent an idempotency key ({idempotency_key} in its
 * templates) made from the message, never from the attempt, so that a
 * provider that accepted a request after our timeout sends the retry's
 * SMS once.  Twilio's REST API reads no such key (its
 * I-Twilio-Idempotency-Token is on the webhooks it sends), so a Twilio
 * message that timed out after acceptance may go twice.
 *
 * Pinned addresses (a provider's `addresses`): DNS is always asked
 * first; a request that ends in "could not resolve host" is started again
 * at once (not counted as a try) with CURLOPT_RESOLVE sending the url's
 * host to the pinned addresses, and keeps them for its later tries on
 * that provider; the batch's later requests to that provider go to the
 * pinned addresses at once.  The URL, the Host header, SNI and the
 * certificate check stay the configured name.  CURLOPT_RESOLVE puts its
 * entry, which never expires, into the DNS cache of the handle; through
 * the share handle it would steer every later request of the process away
 * from DNS.  So a pinned request is taken off the share handle and uses
 * the batch's multi handle's own DNS and connection caches, which end with
 * the batch: the next batch asks DNS again.
 *
 * A GSM modem (kind "modem", modem.c) is a provider like the others: in
 * the order of prefixes, or last with fallback = true.  A request for it
 * waits until none of the batch's HTTP requests is in flight and then
 * holds the worker while the modem answers (a serial dialogue cannot be
 * multiplexed), so that a slow modem never stretches an HTTP request past
 * its timeout.  Its messages are composed as for any provider, encoded
 * into PDUs there; their concatenation reference comes from the
 * idempotency key, so that a retry of a message reuses it and a phone
 * that keeps the parts it has may join them.
 *
 * Auth tokens are read once from their 0600 files into the shared state;
 * they go to libcurl and nowhere else: never into a reason, a log line or
 * the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base.h"
#include "channel.h"
#include "form.h"
#include "i18n.h"
#include "jsonget.h"
#include "mime.h"
#include "modem.h"
#include "smstext.h"

#define PH_MAX_PROVIDERS 8
#define PH_MAX_REPLY (64 * 1024)
#define PH_MAX_SECRET 4096
#define PH_MAX_RETRY_AFTER 120		/* longer: ask the next provider */
#define PH_MAX_LIST 32			/* providers in a list (policy's limit) */

enum ph_mode { PH_SMS, PH_VOICE };

struct ph_prov {
	const struct policy_provider *cfg;
	char *secret;			/* NUL-terminated, cleansed at fini */
	struct modem *modem;		/* kind modem: its device */
	double tokens;
	int64_t last_ms;
	int inflight;
};

/* One per serve, for each of the two drivers. */
struct ph_shared {
	enum ph_mode mode;
	pthread_mutex_t mu;
	struct ph_prov *provs;
	size_t nprovs;
	CURLSH *share;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
};

struct ph_session {
	const struct chan_env *env;
	struct ph_shared *sh;
	/* providers whose name did not resolve in this batch: their later
	   requests of the batch go to the pinned addresses at once rather
	   than each waiting for the resolver again */
	bool unresolved[PH_MAX_LIST];
};

struct ph_req {
	struct chan_msg *msg;
	struct chan_rcpt *rcpt;
	struct ph_prov *order[PH_MAX_PROVIDERS];
	size_t nprov, pi;
	int tries;
	int64_t not_before;		/* ms */
	int64_t sent_ms;		/* when the request in flight went */
	bool done, inflight;
	bool modem_due;			/* its modem's turn came: sent when no
					   HTTP request is in flight */
	bool told;			/* its message was reported */
	bool pinned;			/* the provider's name did not resolve:
					   its pinned addresses are used */
	struct curl_slist *resolve;	/* CURLOPT_RESOLVE of a pinned request;
					   kept until it ends */
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	struct base_buf reply;	/* at most PH_MAX_REPLY; full: cut */
	long retry_after;
	char errbuf[CURL_ERROR_SIZE];
	int segments;
};

/* --- shared state ---------------------------------------------------- */

static int
ph_read_secret(const char *path, char **ret, struct tocsin_err *err)
{
	char buf[PH_MAX_SECRET + 1];
	struct stat st;
	ssize_t n;
	int fd;

	*ret = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return tocsin_fail(err, TOCSIN_ECONFIG, "cannot read the secret "
		    "file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 077) != 0) {
		close(fd);
		return tocsin_fail(err, TOCSIN_ECONFIG, "the secret file %s is "
		    "not a regular file of mode 0600; chmod 600 %s", path,
		    path);
	}
	n = read(fd, buf, PH_MAX_SECRET + 1);
	close(fd);
	if (n <= 0 || n > PH_MAX_SECRET) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return tocsin_fail(err, TOCSIN_ECONFIG, "the secret file %s is "
		    "empty or larger than %d bytes", path, PH_MAX_SECRET);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (n == 0 || strpbrk(buf, "\r\n") != NULL) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return tocsin_fail(err, TOCSIN_ECONFIG, "the secret file %s must "
		    "hold one line", path);
	}
	*ret = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	if (*ret == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	return 0;
}

static void
ph_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	struct ph_shared *sh = arg;

	(void)h;
	(void)access;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&sh->share_mu[data]);
}

static void
ph_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct ph_shared *sh = arg;

	(void)h;
	if ((unsigned)data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&sh->share_mu[data]);
}

static void
ph_fini(void *shared)
{
	struct ph_shared *sh = shared;

	if (sh == NULL)
		return;
	for (size_t i = 0; sh->provs != NULL && i < sh->nprovs; i++) {
		modem_free(sh->provs[i].modem);
		if (sh->provs[i].secret != NULL) {
			OPENSSL_cleanse(sh->provs[i].secret,
			    strlen(sh->provs[i].secret));
			free(sh->provs[i].secret);
		}
	}
	free(sh->provs);
	if (sh->share != NULL)
		curl_share_cleanup(sh->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&sh->share_mu[i]);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

/* A SIM's PIN: 4 to 8 digits (TS 31.101). */
static bool
ph_pin_ok(const char *pin)
{
	size_t n = strlen(pin);

	return n >= 4 && n <= 8 && strspn(pin, "0123456789") == n;
}

/* The modem of p, its PIN from its secret file checked. */
static int
ph_modem_new(struct ph_prov *p, struct tocsin_err *err)
{
	if (p->secret != NULL && !ph_pin_ok(p->secret))
		return tocsin_fail(err, TOCSIN_ECONFIG, "providers.sms %s: the "
		    "secret file %s does not hold a SIM PIN (4 to 8 digits)",
		    p->cfg->name, p->cfg->secret);
	return modem_new(p->cfg, p->secret, &p->modem, err);
}

static int
ph_init(const struct policy_repo *repo, enum ph_mode mode, void **ret,
    struct tocsin_err *err)
{
	const struct policy_provider *list = mode == PH_SMS ? repo->sms :
	    repo->voice;
	size_t n = mode == PH_SMS ? repo->nsms : repo->nvoice;
	struct ph_shared *sh;
	int rc;

	*ret = NULL;
	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	sh->mode = mode;
	pthread_mutex_init(&sh->mu, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&sh->share_mu[i], NULL);
	if ((sh->provs = calloc(n + 1, sizeof(*sh->provs))) == NULL) {
		ph_fini(sh);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	sh->nprovs = n;
	for (size_t i = 0; i < n; i++) {
		sh->provs[i].cfg = &list[i];
		sh->provs[i].tokens = list[i].burst;
		sh->provs[i].last_ms = base_mono_ms();
		if (list[i].secret != NULL && (rc = ph_read_secret(
		    list[i].secret, &sh->provs[i].secret, err)) != 0) {
			ph_fini(sh);
			return rc;
		}
		if (list[i].kind == POLICY_PK_MODEM && (rc = ph_modem_new(
		    &sh->provs[i], err)) != 0) {
			ph_fini(sh);
			return rc;
		}
	}
	/* Connections (and TLS sessions, DNS) are reused across workers. */
	if ((sh->share = curl_share_init()) == NULL ||
	    curl_share_setopt(sh->share, CURLSHOPT_LOCKFUNC, ph_lock) != 0 ||
	    curl_share_setopt(sh->share, CURLSHOPT_UNLOCKFUNC, ph_unlock) != 0 ||
	    curl_share_setopt(sh->share, CURLSHOPT_USERDATA, sh) != 0 ||
	    curl_share_setopt(sh->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_CONNECT) != 0 ||
	    curl_share_setopt(sh->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != 0 ||
	    curl_share_setopt(sh->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_DNS) != 0) {
		ph_fini(sh);
		return tocsin_fail(err, TOCSIN_EINTERNAL, "cannot set up the "
		    "HTTP connection cache");
	}
	*ret = sh;
	return 0;
}

static int
sms_init(const struct policy_repo *repo, void **ret, struct tocsin_err *err)
{
	return ph_init(repo, PH_SMS, ret, err);
}

static int
voice_init(const struct policy_repo *repo, void **ret, struct tocsin_err *err)
{
	return ph_init(repo, PH_VOICE, ret, err);
}

/*
 * Take a token and an in-flight slot of p: 0 when taken, else the ms to
 * wait before a token comes (or 50 when only the slots are full).
 */
static int64_t
ph_take(struct ph_shared *sh, struct ph_prov *p, int64_t now)
{
	int64_t wait = 0;

	pthread_mutex_lock(&sh->mu);
	p->tokens += (double)(now - p->last_ms) * p->cfg->rate / 1000.0;
	if (p->tokens > p->cfg->burst)
		p->tokens = p->cfg->burst;
	p->last_ms = now;
	if (p->inflight >= p->cfg->parallel)
		wait = 50;
	else if (p->tokens < 1.0)
		wait = (int64_t)((1.0 - p->tokens) * 1000.0 / p->cfg->rate) + 1;
	else {
		p->tokens -= 1.0;
		p->inflight++;
	}
	pthread_mutex_unlock(&sh->mu);
	return wait;
}

static void
ph_release(struct ph_shared *sh, struct ph_prov *p)
{
	pthread_mutex_lock(&sh->mu);
	p->inflight--;
	pthread_mutex_unlock(&sh->mu);
}

/* --- request bodies ----------------------------------------------------- */

/* application/x-www-form-urlencoded */
static void
buf_form(struct mime_buf *b, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char e[4];

		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '.' ||
		    *c == '_' || *c == '*')
			mime_add(b, (const char *)c, 1);
		else if (*c == ' ')
			mime_add(b, "+", 1);
		else {
			e[0] = '%';
			base_hex_upper(e + 1, c, 1);
			mime_add(b, e, 3);
		}
	}
}

/* Inside a JSON string: quotes, backslashes and controls escaped; UTF-8
   passes through. */
static void
buf_json(struct mime_buf *b, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char e[8];

		if (*c == '"' || *c == '\\') {
			e[0] = '\\';
			e[1] = (char)*c;
			mime_add(b, e, 2);
		} else if (*c < 0x20 || *c == 0x7f) {
			snprintf(e, sizeof(e), "\\u%04x", *c);
			mime_add(b, e, 6);
		} else
			mime_add(b, (const char *)c, 1);
	}
}

static void
buf_field(struct mime_buf *b, const char *name, const char *value)
{
	if (b->len > 0)
		mime_add(b, "&", 1);
	mime_adds(b, name);
	mime_add(b, "=", 1);
	buf_form(b, value);
}

/* XML text and attribute values: escaped as HTML is (base_esc_html:
   the five specials as entities, controls as spaces, bidi overrides
   dropped, ill-formed UTF-8 as U+FFFD), which XML reads alike. */
static void
buf_xml(struct mime_buf *b, const char *s)
{
	size_t n = strlen(s);
	/* an entity is at most 6 bytes for 1 */
	struct base_buf e = { .limit = n < SIZE_MAX / 8 ? 6 * n + 8 :
	    SIZE_MAX };

	base_esc_html(&e, s, n);
	if (e.rc != 0 || e.full)
		b->oom = true;
	else if (e.p != NULL)
		mime_add(b, e.p, e.len);
	free(e.p);
}

/* Expand a generic template: {to} {from} {text} {id} {idempotency_key}
   {secret}, each value
   escaped for where it goes (esc NULL: as is, for header values). */
static void
buf_template(struct mime_buf *b, const char *t, const char *const *names,
    const char *const *values, size_t n, void (*esc)(struct mime_buf *,
    const char *))
{
	while (*t != '\0') {
		const char *o = strchr(t, '{');
		bool done = false;

		if (o == NULL) {
			mime_adds(b, t);
			return;
		}
		mime_add(b, t, (size_t)(o - t));
		for (size_t i = 0; i < n; i++) {
			size_t l = strlen(names[i]);

			if (strncmp(o + 1, names[i], l) == 0 && o[l + 1] ==
			    '}') {
				if (esc != NULL)
					esc(b, values[i] ? values[i] : "");
				else
					mime_adds(b, values[i] ? values[i] : "");
				t = o + l + 2;
				done = true;
				break;
			}
		}
		if (!done) {
			mime_add(b, "{", 1);
			t = o + 1;
		}
	}
}


/* The URL under the gateway's public one where Twilio posts for provider
   name: path is "twilio/status/" (SMS receipts), "twilio/call-status/"
   (call receipts) or "twilio/gather/" (keys). */
static void
ph_receipt_url(struct mime_buf *b, const char *public_url, const char *path,
    const char *name)
{
	size_t n = strlen(public_url);

	mime_adds(b, public_url);
	if (n == 0 || public_url[n - 1] != '/')
		mime_adds(b, "/");
	mime_adds(b, path);
	buf_form(b, name);
}

/* The gateway's text msgid in the language of m's contact. */
static const char *
ph_text(const struct policy_repo *repo, const struct chan_msg *m,
    const char *msgid)
{
	return i18n_text(repo->gateway.catalog, m->lang, msgid);
}

/* "<Say language="...">": the voice of the language the call's words are
   in (the contact's when it has a catalog, else English), so that the
   whole call is spoken in one language. */
static void
ph_say_open(struct mime_buf *b, const struct policy_repo *repo,
    const struct chan_msg *m)
{
	mime_adds(b, "<Say language=\"");
	mime_adds(b, i18n_voice(i18n_lang(repo->gateway.catalog, m->lang)));
	mime_adds(b, "\">");
}

/* A <Say> of text (escaped). */
static void
ph_say(struct mime_buf *b, const struct policy_repo *repo,
    const struct chan_msg *m, const char *text)
{
	ph_say_open(b, repo, m);
	buf_xml(b, text);
	mime_adds(b, "</Say>");
}

/* The menu: a Gather whose keys go to action (the gateway's listener),
   saying the code digit by digit, then what to key. */
static void
ph_menu(struct mime_buf *b, const struct policy_repo *repo,
    const struct chan_msg *m, const char *action)
{
	size_t nd = m->ack_code != NULL ? strlen(m->ack_code) : 0;
	char digits[40] = "", line[600];
	size_t k = 0;

	mime_adds(b, CHAN_VOICE_GATHER);
	if (action != NULL) {
		mime_adds(b, " method=\"POST\" action=\"");
		buf_xml(b, action);
		mime_adds(b, "\"");
	}
	mime_adds(b, ">");
	ph_say_open(b, repo, m);
	if (nd > 0) {
		/* digit by digit, so that it is read out as digits */
		for (size_t i = 0; i < nd && i < 16; i++)
			if (m->ack_code[i] >= '0' && m->ack_code[i] <= '9') {
				digits[k++] = m->ack_code[i];
				digits[k++] = ' ';
			}
		while (k > 0 && digits[k - 1] == ' ')
			k--;
		digits[k] = '\0';
		(void)i18n_fmt(line, sizeof(line), ph_text(repo, m,
		    N_("Your code is {digits}.")), "digits", digits, NULL);
		buf_xml(b, line);
		mime_adds(b, " ");
	}
	buf_xml(b, ph_text(repo, m, CHAN_VOICE_MENU));
	mime_adds(b, "</Say></Gather>");
}

/*
 * The TwiML of a call: who calls ("DNS-CERT alert", or "exercise" and
 * that it is a drill), the alert line in the contact's language where the
 * alert has it, then the menu, once more if nothing was keyed, and a
 * goodbye, every word of the gateway's in the contact's language.  A
 * notice of an ack (no code) asks for nothing.
 */
static void
ph_twiml(struct mime_buf *b, const struct policy_repo *repo,
    const struct chan_msg *m, const char *action)
{
	const char *name = repo->gateway.short_name;
	char intro[200];
	struct mime_buf all = { 0 };

	(void)i18n_fmt(intro, sizeof(intro), ph_text(repo, m, m->exercise ?
	    N_("{name} exercise. This is a drill, not a real incident.") :
	    N_("{name} alert.")), "name", name != NULL ? name : "tocsin",
	    NULL);
	mime_adds(&all, intro);
	mime_adds(&all, " ");
	mime_adds(&all, m->short_text != NULL ? m->short_text : "");
	mime_adds(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>");
	ph_say(b, repo, m, all.oom ? "" : all.p);
	free(all.p);
	if (m->ack_code != NULL) {
		ph_menu(b, repo, m, action);
		ph_menu(b, repo, m, action);
	}
	ph_say(b, repo, m, ph_text(repo, m, CHAN_VOICE_BYE));
	mime_adds(b, "<Hangup/></Response>");
}

/* Where the keys of a call to m's contact go: the listener's
   "twilio/gather/PROVIDER", then "/LANG" when the call is not in English,
   so that its answers (a wrong code, thanks) speak the call's language. */
static void
ph_gather_url(struct mime_buf *b, const struct policy_repo *repo,
    const char *provider, const struct chan_msg *m)
{
	const char *lang = i18n_lang(repo->gateway.catalog, m->lang);

	ph_receipt_url(b, repo->gateway.public_url, "twilio/gather/",
	    provider);
	if (strcmp(lang, "en") != 0) {
		mime_adds(b, "/");
		mime_adds(b, lang);	/* letters and '_' (i18n_lang) */
	}
}

/* --- one request ------------------------------------------------------- */

static size_t
ph_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct ph_req *r = arg;
	size_t n = size * nmemb;

	/* over the limit: keep the connection, ignore the rest */
	base_buf_put(&r->reply, data, n);
	return r->reply.rc != 0 ? 0 : n;
}

static size_t
ph_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct ph_req *r = arg;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		char v[32];
		size_t l = n - 12 < sizeof(v) - 1 ? n - 12 : sizeof(v) - 1;
		char *end;
		long s;

		memcpy(v, data + 12, l);
		v[l] = '\0';
		s = strtol(v, &end, 10);
		/* Only the delay-seconds form; an HTTP date counts as none. */
		if (end != v && s >= 0)
			r->retry_after = s > 86400 ? 86400 : s;
	}
	return n;
}

static void
ph_req_reset(struct ph_req *r)
{
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	curl_slist_free_all(r->resolve);
	r->resolve = NULL;
	free(r->body);
	r->body = NULL;
	base_buf_free(&r->reply);
	base_buf_init(&r->reply, PH_MAX_REPLY);
	r->retry_after = -1;
	r->errbuf[0] = '\0';
}

/* The fixed parts of an SMS, the marker and the tail, in m's language or,
   with english, in English. */
static void
ph_sms_frame(const struct policy_repo *repo, const struct chan_msg *m,
    bool english, char *marker, size_t mlen, char *tail, size_t tlen)
{
	const char *name = repo->gateway.short_name;
	const struct chan_msg en = { .lang = "en" };
	const struct chan_msg *l = english ? &en : m;

	/* who sends, first: the name the recipients know the desk by
	   (checked printable ASCII, so it cannot reorder or break the
	   text), then the exercise marker in the contact's language */
	snprintf(marker, mlen, "%.*s: %s%s", POLICY_SHORT_NAME_MAX,
	    name != NULL ? name : "tocsin", m->exercise ? ph_text(repo, l,
	    N_("[EXERCISE]")) : "", m->exercise ? " " : "");
	/* what to do, last and never cut: the reply that acks, and the
	   link; a notice that the team acknowledged asks for nothing.
	   "ACK" stays as it is: the word the reply is read for */
	tail[0] = '\0';
	if (m->ack_code != NULL) {
		tail[0] = ' ';
		(void)i18n_fmt(tail + 1, tlen - 1, m->ack_url != NULL ?
		    ph_text(repo, l, N_("- reply ACK {code} or open {link}")) :
		    ph_text(repo, l, N_("- reply ACK {code}")), "code",
		    m->ack_code, "link", m->ack_url, NULL);
	}
}

/*
 * The SMS of m with the gateway's words (marker, the severity word of
 * short_text, tail) spelt in GSM7 (smstext_fold), when the alert's own
 * text is GSM7 and only those words would make the message UCS-2: 0 with
 * *ret and *info as smstext_compose, 1 when that is not the case (the
 * caller composes the words as they are), or an error.
 */
static int
ph_sms_fold(const struct chan_msg *m, const char *marker, const char *tail,
    unsigned segments, char **ret, struct smstext_info *info,
    struct tocsin_err *err)
{
	const char *text = m->short_text != NULL ? m->short_text : "";
	size_t own = m->short_own <= strlen(text) ? m->short_own : 0;
	char *words = NULL, *fm = NULL, *ft = NULL, *fw = NULL, *all = NULL;
	int rc = 1;

	if (!smstext_text_gsm(text + own))
		return 1;
	if ((words = strndup(text, own)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	/* already GSM7 as written: nothing to spell otherwise */
	if (smstext_text_gsm(marker) && smstext_text_gsm(tail) &&
	    smstext_text_gsm(words))
		goto out;
	if (smstext_fold(marker, &fm, err) == 1 &&
	    smstext_fold(tail, &ft, err) == 1 &&
	    smstext_fold(words, &fw, err) == 1) {
		if (asprintf(&all, "%s%s", fw, text + own) < 0) {
			all = NULL;
			rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		} else
			rc = smstext_compose(fm, all, ft, segments, ret, info,
			    err);
	}
out:
	free(words);
	free(fm);
	free(ft);
	free(fw);
	free(all);
	return rc;
}

/* The SMS text of r's message for provider pv into *ret (malloc'd, the
   caller's), and r's count of segments.  Fixed parts that do not fit the
   provider's segments in the contact's language (UCS-2 holds 70
   characters a part, not 160) go in English rather than not at all. */
static int
ph_sms_text(const struct ph_session *s, struct ph_req *r,
    const struct policy_provider *pv, char **ret, struct tocsin_err *err)
{
	const struct chan_msg *m = r->msg;
	const struct policy_repo *repo = s->env->repo;
	struct smstext_info info = { 0 };
	char tail[600], marker[POLICY_SHORT_NAME_MAX + 64];
	int rc;

	rc = TOCSIN_ETOOBIG;
	for (int english = 0; english < 2 && rc == TOCSIN_ETOOBIG; english++) {
		if (english && strcmp(i18n_lang(repo->gateway.catalog,
		    m->lang), "en") == 0)
			break;
		ph_sms_frame(repo, m, english, marker, sizeof(marker), tail,
		    sizeof(tail));
		rc = ph_sms_fold(m, marker, tail, (unsigned)pv->segments, ret,
		    &info, err);
		if (rc == 1)
			rc = smstext_compose(marker, m->short_text != NULL ?
			    m->short_text : "", tail, (unsigned)pv->segments,
			    ret, &info, err);
	}
	if (rc != 0)
		return rc;
	r->segments = (int)info.segments;
	return 0;
}

/* Twilio's URL and form for r: the message (SMS) or the TwiML of the
   call (voice), with receipts asked for when there is a public URL. */
static void
ph_twilio(const struct ph_session *s, const struct policy_provider *pv,
    const struct ph_req *r, const char *text, struct mime_buf *url,
    struct mime_buf *body)
{
	const char *public_url = s->env->repo->gateway.public_url;

	mime_adds(url, pv->url);
	if (url->len > 0 && url->p[url->len - 1] == '/')
		url->p[--url->len] = '\0';
	mime_adds(url, "/2010-04-01/Accounts/");
	buf_form(url, pv->account);
	mime_adds(url, s->sh->mode == PH_SMS ? "/Messages.json" :
	    "/Calls.json");
	buf_field(body, "To", r->rcpt->address);
	buf_field(body, "From", pv->from);
	if (public_url != NULL) {
		struct mime_buf cb = { 0 };

		/* each channel its own path: the listener hands a receipt
		   to the channel that knows the provider */
		ph_receipt_url(&cb, public_url, s->sh->mode == PH_SMS ?
		    chan_sms.receipt_path : chan_voice.receipt_path, pv->name);
		buf_field(body, "StatusCallback", cb.oom ? "" : cb.p);
		free(cb.p);
	}
	if (s->sh->mode == PH_SMS)
		buf_field(body, "Body", text);
	else {
		struct mime_buf tw = { 0 }, act = { 0 };

		if (public_url != NULL)
			ph_gather_url(&act, s->env->repo, pv->name, r->msg);
		ph_twiml(&tw, s->env->repo, r->msg, act.oom ? NULL : act.p);
		buf_field(body, "Twiml", tw.oom ? "" : tw.p);
		free(tw.p);
		free(act.p);
	}
}

/* A generic gateway's URL, body and headers for r, from the provider's
   templates: to, from, text, id and idempotency_key; the headers also
   take the secret. */
static int
ph_generic(const struct ph_session *s, const struct policy_provider *pv,
    struct ph_req *r, const char *secret, const char *text,
    struct mime_buf *url, struct mime_buf *body, struct tocsin_err *err)
{
	static const char *const names[] = { "to", "from", "text", "id",
		"idempotency_key" };
	static const char *const hn[] = { "secret", "id", "idempotency_key" };
	char key[CHAN_IDEM_LEN + 1], id[32];
	const char *values[] = { r->rcpt->address, pv->from, text, id, key };
	const char *hv[] = { secret, id, key };
	bool json = strcmp(pv->content_type, "application/json") == 0;

	snprintf(id, sizeof(id), "%s", r->msg->message_id);
	chan_idempotency_key(r->msg, r->rcpt->address, s->sh->mode == PH_SMS ?
	    "sms" : "voice", key);
	buf_template(url, pv->url, names + 4, values + 4, 1, buf_form);
	buf_template(body, pv->body, names, values, 5, json ? buf_json :
	    buf_form);
	for (size_t i = 0; i < pv->nheaders; i++) {
		struct mime_buf h = { 0 };
		struct curl_slist *nl;

		buf_template(&h, pv->headers[i], hn, hv, 3, NULL);
		nl = h.oom ? NULL : curl_slist_append(r->hdrs, h.p);
		if (h.p != NULL)
			OPENSSL_cleanse(h.p, h.len);
		free(h.p);
		if (nl == NULL)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		r->hdrs = nl;
	}
	return 0;
}

/* The headers every request has: its Content-Type, and no
   "Expect: 100-continue". */
static int
ph_common_headers(struct ph_req *r, const struct policy_provider *pv)
{
	char ct[80];
	struct curl_slist *nl;

	snprintf(ct, sizeof(ct), "Content-Type: %s",
	    pv->kind == POLICY_PK_TWILIO ?
	    "application/x-www-form-urlencoded" : pv->content_type);
	nl = curl_slist_append(r->hdrs, ct);
	if (nl != NULL) {
		r->hdrs = nl;
		nl = curl_slist_append(r->hdrs, "Expect:");
	}
	if (nl == NULL)
		return TOCSIN_ENOMEM;
	r->hdrs = nl;
	return 0;
}

/* The CURLOPT_RESOLVE entry "HOST:PORT:ADDR,[ADDR6]" that sends url's
   host to pv's pinned addresses (the caller's to free); NULL when the url
   has no host name or out of memory. */
static struct curl_slist *
ph_pinned_list(const struct policy_provider *pv, const char *url)
{
	struct curl_slist *l = NULL;
	struct mime_buf b = { 0 };
	char *host = NULL, *port = NULL;
	CURLU *u;

	if ((u = curl_url()) == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
	    CURLUE_OK && host[0] != '[') {
		mime_addf(&b, "%s:%s:", host, port);
		for (size_t i = 0; i < pv->naddresses; i++)
			mime_addf(&b, strchr(pv->addresses[i], ':') != NULL ?
			    "%s[%s]" : "%s%s", i > 0 ? "," : "",
			    pv->addresses[i]);
		if (!b.oom)
			l = curl_slist_append(NULL, b.p);
	}
	mime_buf_free(&b);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return l;
}

/* r's easy handle (made once, reused) set for url and r's body and
   headers: TLS verified, no redirect, the provider's timeout. */
static CURL *
ph_easy(const struct ph_session *s, struct ph_req *r,
    const struct policy_provider *pv, const char *secret, const char *url)
{
	CURL *e;

	if ((e = r->easy) == NULL && (e = r->easy = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_reset(e);
	if (r->pinned) {
		/* off the share handle: the entry stays in this batch's
		   caches (the file's head says why) */
		if ((r->resolve = ph_pinned_list(pv, url)) == NULL)
			return NULL;
		(void)curl_easy_setopt(e, CURLOPT_SHARE, NULL);
		(void)curl_easy_setopt(e, CURLOPT_RESOLVE, r->resolve);
	} else
		(void)curl_easy_setopt(e, CURLOPT_SHARE, s->sh->share);
	(void)curl_easy_setopt(e, CURLOPT_URL, url);
	(void)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, pv->local ?
	    "https,http" : "https");
	(void)curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	(void)curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)pv->timeout * 1000);
	(void)curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)pv->timeout * 1000);
	if (pv->ca != NULL)
		(void)curl_easy_setopt(e, CURLOPT_CAINFO, pv->ca);
	(void)curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	(void)curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	(void)curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
	    pv->kind == POLICY_PK_GENERIC && strcmp(pv->method, "PUT") == 0 ?
	    "PUT" : NULL);
	(void)curl_easy_setopt(e, CURLOPT_POST, 1L);
	(void)curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
	(void)curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
	    (long)(r->body ? strlen(r->body) : 0));
	(void)curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	if (pv->kind == POLICY_PK_TWILIO) {
		(void)curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		(void)curl_easy_setopt(e, CURLOPT_USERNAME, pv->account);
		(void)curl_easy_setopt(e, CURLOPT_PASSWORD, secret ? secret : "");
	}
	(void)curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ph_write);
	(void)curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	(void)curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, ph_header);
	(void)curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	(void)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	(void)curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	(void)curl_easy_setopt(e, CURLOPT_USERAGENT, "tocsin");
	return e;
}

/* The place of r's current provider in its list. */
static size_t
ph_index(const struct ph_session *s, const struct ph_req *r)
{
	size_t i = (size_t)(r->order[r->pi] - s->sh->provs);

	return i < PH_MAX_LIST ? i : PH_MAX_LIST - 1;
}

/* Build and start the request of r on its current provider. */
static int
ph_start(struct ph_session *s, CURLM *multi, struct ph_req *r,
    struct tocsin_err *err)
{
	const struct policy_provider *pv = r->order[r->pi]->cfg;
	const char *secret = r->order[r->pi]->secret;
	struct mime_buf url = { 0 }, body = { 0 };
	char *text = NULL;
	CURL *e;
	int rc;

	ph_req_reset(r);
	if (pv->naddresses > 0 && s->unresolved[ph_index(s, r)])
		r->pinned = true;
	if (s->sh->mode == PH_SMS && (rc = ph_sms_text(s, r, pv, &text, err)) != 0)
		return rc;
	if (pv->kind == POLICY_PK_TWILIO)
		ph_twilio(s, pv, r, text, &url, &body);
	else if ((rc = ph_generic(s, pv, r, secret, text, &url, &body,
	    err)) != 0) {
		free(text);
		free(url.p);
		free(body.p);
		return rc;
	}
	free(text);
	if (ph_common_headers(r, pv) != 0 || url.oom || body.oom) {
		free(url.p);
		free(body.p);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	r->body = body.p;
	e = ph_easy(s, r, pv, secret, url.p);
	free(url.p);
	if (e == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "cannot make a request");
	if (curl_multi_add_handle(multi, e) != CURLM_OK)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "cannot start a "
		    "request");
	r->inflight = true;
	r->sent_ms = base_mono_ms();
	return 0;
}

/* The provider's reason from its reply: Twilio's code and message, a
   generic gateway's error, else the first bytes of the body. */
static void
ph_reason(const struct ph_req *r, long status, char *out, size_t outlen)
{
	char msg[300], code[32];
	size_t k;

	msg[0] = code[0] = '\0';
	if (r->reply.p != NULL && !r->reply.full) {
		if (jsonget(r->reply.p, r->reply.len, "message", msg,
		    sizeof(msg)) != 1)
			(void)jsonget(r->reply.p, r->reply.len, "error", msg,
			    sizeof(msg));
		(void)jsonget(r->reply.p, r->reply.len, "code", code,
		    sizeof(code));
	}
	if (msg[0] == '\0' && r->reply.p != NULL)
		snprintf(msg, sizeof(msg), "%.120s", r->reply.p);
	for (k = 0; msg[k] != '\0'; k++)
		if ((unsigned char)msg[k] < 0x20 || msg[k] == 0x7f)
			msg[k] = ' ';
	snprintf(out, outlen, "%s: HTTP %ld%s%s%s%s", r->order[r->pi]->cfg->name,
	    status, code[0] ? " code " : "", code, msg[0] ? ": " : "", msg);
}

/* A request ended: decide, and move on when it failed for now. */
static void
ph_done(struct ph_session *s, struct ph_req *r, CURLcode cc, int64_t now)
{
	const struct policy_provider *pv = r->order[r->pi]->cfg;
	long status = 0;
	bool temp, ok = false;
	char reason[512];

	(void)curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	r->inflight = false;
	ph_release(s->sh, r->order[r->pi]);
	if (cc == CURLE_OK && status >= 200 && status < 300) {
		ok = pv->kind == POLICY_PK_TWILIO;
		for (size_t i = 0; !ok && i < pv->nsuccess; i++)
			ok = pv->success[i] == status;
	}
	chan_msg_peer(r->msg, pv->name, ok, now - r->sent_ms);
	if (ok) {
		const char *field = pv->kind == POLICY_PK_TWILIO ? "sid" :
		    pv->id_field;
		char ref[128] = "";

		if (field != NULL && r->reply.p != NULL)
			(void)jsonget(r->reply.p, r->reply.len, field, ref,
			    sizeof(ref));
		r->rcpt->status = CHAN_SENT;
		r->rcpt->reason[0] = '\0';
		/* Provider names are at most 40 characters (policy), ids at
		   most 127: the reference is never cut, so a receipt finds it
		   again. */
		snprintf(r->rcpt->ref, sizeof(r->rcpt->ref), "%.40s:%.127s",
		    pv->name, ref[0] ? ref : "accepted");
		for (char *c = r->rcpt->ref; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = ' ';
		r->rcpt->segments = r->segments;
		r->done = true;
		return;
	}
	if (cc == CURLE_COULDNT_RESOLVE_HOST && pv->naddresses > 0 &&
	    !r->pinned) {
		/* not a try: the name did not resolve; the pinned addresses
		   are asked at once */
		r->pinned = true;
		s->unresolved[ph_index(s, r)] = true;
		r->not_before = now;
		snprintf(r->rcpt->reason, sizeof(r->rcpt->reason), "%s: %s",
		    pv->name, r->errbuf[0] ? r->errbuf :
		    curl_easy_strerror(cc));
		return;
	}
	if (cc != CURLE_OK) {
		/* curl's message names host and port, never credentials
		   (they are options, not part of the URL). */
		snprintf(reason, sizeof(reason), "%s: %s%s", pv->name,
		    r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc),
		    r->pinned ? " (at a pinned address: the name did not "
		    "resolve)" : "");
		temp = true;
	} else {
		ph_reason(r, status, reason, sizeof(reason));
		temp = status == 408 || status == 429 || status >= 500 ||
		    (status >= 200 && status < 300);
	}
	if (!temp) {
		chan_rcpt_set(r->rcpt, CHAN_PERMFAIL, "%s", reason);
		r->done = true;
		return;
	}
	r->tries++;
	if (r->tries < pv->retries && (r->retry_after < 0 ||
	    r->retry_after <= PH_MAX_RETRY_AFTER)) {
		r->not_before = now + (r->retry_after > 0 ?
		    r->retry_after * 1000 : 1000);
	} else {
		r->pi++;
		r->tries = 0;
		r->pinned = false;	/* the next provider: DNS first */
		r->not_before = now;
	}
	if (r->pi >= r->nprov) {
		chan_rcpt_set(r->rcpt, CHAN_TEMPFAIL, "%s", reason);
		r->rcpt->retry_after = r->retry_after > 0 ? r->retry_after : 0;
		r->done = true;
		return;
	}
	/* the next try keeps the last reason in case time runs out */
	snprintf(r->rcpt->reason, sizeof(r->rcpt->reason), "%s", reason);
}

/* --- the driver ----------------------------------------------------------- */

/* A claim (in teams' groups of messages) that a worker can send in about
   20 s at the providers' rates, so that a slow provider never leaves
   claimed deliveries unattempted when the batch's time is up (each such
   one costs an attempt); and at most twice what the providers take in
   flight, so that a broadcast spreads over every worker of every node
   instead of the first claims taking it all while others idle (a
   provider answering in 200 ms made one node with 200 groups in hand the
   whole broadcast's time). */
static size_t
ph_batch_of(const struct policy_provider *p, size_t n)
{
	size_t rate = 0, par = 0, b;

	for (size_t i = 0; i < n; i++) {
		rate += (size_t)p[i].rate;
		par += (size_t)p[i].parallel;
	}
	b = rate * 20;
	if (b > par * 2)
		b = par * 2;
	return b < 1 ? 1 : b > 200 ? 200 : b;
}

static size_t
sms_batch(const struct policy_repo *repo)
{
	return ph_batch_of(repo->sms, repo->nsms);
}

static size_t
voice_batch(const struct policy_repo *repo)
{
	return ph_batch_of(repo->voice, repo->nvoice);
}

static size_t
ph_check(const struct policy_repo *repo, struct policy_diag *diag,
    const struct policy_kind *kind, size_t nproviders)
{
	for (size_t p = 0; p < repo->npolicies && nproviders == 0; p++)
		if (policy_sends(&repo->policies[p], kind)) {
			policy_diag_add(diag, POLICY_ERROR,
			    repo->policies[p].src.file,
			    repo->policies[p].src.line, "policy %s sends %s, "
			    "but providers.%s is empty; add a provider (see "
			    "docs/configuration.md)", repo->policies[p].name,
			    kind->name, kind->name);
			return 1;
		}
	return 0;
}

/*
 * A modem's device and PIN, and how the modem stands when it can be asked
 * now: errors for what cannot work (no such device, not a serial device,
 * a PIN file without a PIN), a warning for what the modem says (no SIM
 * PIN, not registered, in use by a running serve: it may be only now).
 */
static size_t
ph_check_modem(const struct policy_provider *pv, struct policy_diag *diag)
{
	struct tocsin_err err = { 0 };
	struct stat st;
	struct modem *m = NULL;
	char *pin = NULL, state[160];
	size_t errors = 0;

	if (stat(pv->device, &st) != 0 || !S_ISCHR(st.st_mode)) {
		bool missing = stat(pv->device, &st) != 0;

		policy_diag_add(diag, POLICY_ERROR, pv->src.file, pv->src.line,
		    "providers.sms %s: the modem's device %s %s; plug the modem "
		    "in, or name its device (ls -l /dev/serial/by-id/)",
		    pv->name, pv->device, missing ? "does not exist" :
		    "is not a character device");
		return 1;
	}
	if (access(pv->device, R_OK | W_OK) != 0) {
		policy_diag_add(diag, POLICY_ERROR, pv->src.file, pv->src.line,
		    "providers.sms %s: this user cannot read and write %s; add "
		    "the user to the device's group (usually dialout)",
		    pv->name, pv->device);
		return 1;
	}
	if (pv->secret != NULL) {
		if (ph_read_secret(pv->secret, &pin, &err) != 0) {
			policy_diag_add(diag, POLICY_ERROR, pv->src.file,
			    pv->src.line, "providers.sms %s: %s", pv->name,
			    err.msg);
			return 1;
		}
		if (!ph_pin_ok(pin)) {
			policy_diag_add(diag, POLICY_ERROR, pv->src.file,
			    pv->src.line, "providers.sms %s: the secret file %s "
			    "does not hold a SIM PIN (4 to 8 digits)", pv->name,
			    pv->secret);
			errors++;
		}
	}
	/* a modem that answers well says nothing: check is quiet when all
	   is well */
	if (errors == 0 && modem_new(pv, pin, &m, &err) == 0 &&
	    modem_probe(m, base_mono_ms() + 10000, state, sizeof(state),
	    &err) != 0)
		policy_diag_add(diag, POLICY_WARNING, pv->src.file,
		    pv->src.line, "%s", err.msg);
	modem_free(m);
	if (pin != NULL) {
		OPENSSL_cleanse(pin, strlen(pin));
		free(pin);
	}
	return errors;
}

static size_t
sms_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	size_t errors = ph_check(repo, diag, &chan_sms.kind, repo->nsms);

	for (size_t i = 0; i < repo->nsms; i++)
		if (repo->sms[i].kind == POLICY_PK_MODEM)
			errors += ph_check_modem(&repo->sms[i], diag);
	return errors;
}

static size_t
voice_check(const struct policy_repo *repo, struct policy_diag *diag)
{
	return ph_check(repo, diag, &chan_voice.kind, repo->nvoice);
}

static bool
sms_configured(const struct policy_repo *repo)
{
	return repo->nsms > 0;
}

static bool
voice_configured(const struct policy_repo *repo)
{
	return repo->nvoice > 0;
}

static size_t
sms_providers(const struct policy_repo *repo, const char *number,
    const struct policy_provider **out, size_t max)
{
	return policy_providers_for(repo->sms, repo->nsms, number, out, max);
}

static size_t
voice_providers(const struct policy_repo *repo, const char *number,
    const struct policy_provider **out, size_t max)
{
	return policy_providers_for(repo->voice, repo->nvoice, number, out,
	    max);
}

static int
ph_open(const struct chan_env *env, void **ret, struct tocsin_err *err)
{
	struct ph_session *s;

	*ret = NULL;
	if (env->shared == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "the phone driver was "
		    "not initialised");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	s->env = env;
	s->sh = env->shared;
	*ret = s;
	return 0;
}

static void
ph_close(void *session)
{
	free(session);
}

/* Report each message whose requests are all done, so that its result
   is recorded as it completes.  Requests are laid out message by message. */
static void
ph_report(struct ph_req *reqs, size_t nreq)
{
	for (size_t k = 0; k < nreq;) {
		size_t end = k + 1;
		bool all = reqs[k].done, told = reqs[k].told;

		while (end < nreq && reqs[end].msg == reqs[k].msg) {
			all = all && reqs[end].done;
			end++;
		}
		if (all && !told) {
			for (size_t j = k; j < end; j++)
				reqs[j].told = true;
			chan_msg_done(reqs[k].msg);
		}
		k = end;
	}
}

/* A multi handle that keeps as many idle connections as may be in
   flight, or it closes the shared cache's connections at the end of each
   batch and the next pays new TLS handshakes. */
static CURLM *
ph_multi(const struct ph_shared *sh)
{
	CURLM *multi;
	long keep = 4;

	if ((multi = curl_multi_init()) == NULL)
		return NULL;
	for (size_t i = 0; i < sh->nprovs; i++)
		keep += sh->provs[i].cfg->parallel;
	(void)curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, keep);
	return multi;
}

/* r for recipient rc of message m: its providers in order, or done
   already when the number is no E.164 number or no provider serves it. */
static void
ph_req_init(const struct ph_session *s, struct ph_req *r,
    struct chan_msg *m, struct chan_rcpt *rc)
{
	const struct policy_provider *order[PH_MAX_PROVIDERS];
	const struct policy_provider *list = s->sh->mode == PH_SMS ?
	    s->env->repo->sms : s->env->repo->voice;

	r->msg = m;
	r->rcpt = rc;
	r->retry_after = -1;
	rc->status = CHAN_TEMPFAIL;
	rc->reason[0] = rc->ref[0] = '\0';
	rc->segments = 0;
	rc->retry_after = 0;
	r->nprov = policy_providers_for(list, s->sh->nprovs, rc->address,
	    order, PH_MAX_PROVIDERS);
	for (size_t k = 0; k < r->nprov; k++)
		r->order[k] = &s->sh->provs[order[k] - list];
	if (rc->address[0] != '+' || strlen(rc->address) > 16) {
		chan_rcpt_set(rc, CHAN_PERMFAIL, "%s is not an E.164 number",
		    rc->address);
		r->done = true;
	} else if (r->nprov == 0) {
		chan_rcpt_set(rc, CHAN_PERMFAIL, "no provider in providers.%s "
		    "serves %s", s->sh->mode == PH_SMS ? "sms" : "voice",
		    rc->address);
		r->done = true;
	}
}

/* One pass over the requests at now: give up those out of time, start
   those due whose provider has room, and lower *wait (ms) to the next
   one due.  Returns how many are not done. */
static size_t
ph_pass(struct ph_session *s, CURLM *multi, struct ph_req *reqs,
    size_t nreq, int64_t now, int64_t deadline, int64_t *wait,
    struct tocsin_err *err)
{
	size_t left = 0;

	for (size_t i = 0; i < nreq; i++) {
		struct ph_req *r = &reqs[i];
		int64_t w;

		if (r->done)
			continue;
		left++;
		if (r->inflight)
			continue;
		if (now >= deadline || chan_msg_late(r->msg)) {
			if (r->rcpt->reason[0] == '\0') {
				chan_rcpt_set(r->rcpt, CHAN_TEMPFAIL, "not "
				    "attempted in time; it goes again");
				/* not a retry after a failure: never handed
				   to a provider */
				r->rcpt->untried = r->pi == 0;
			}
			r->rcpt->status = CHAN_TEMPFAIL;
			r->done = true;
			left--;
			continue;
		}
		if (r->not_before > now) {
			if (r->not_before - now < *wait)
				*wait = r->not_before - now;
			continue;
		}
		if ((w = ph_take(s->sh, r->order[r->pi], now)) != 0) {
			if (w < *wait)
				*wait = w;
			continue;
		}
		if (r->order[r->pi]->modem != NULL) {
			/* its slot is held until ph_modem_send */
			r->modem_due = r->inflight = true;
			continue;
		}
		chan_msg_start(r->msg);
		if (ph_start(s, multi, r, err) != 0) {
			ph_release(s->sh, r->order[r->pi]);
			chan_rcpt_set(r->rcpt, err->code == TOCSIN_ETOOBIG ?
			    CHAN_PERMFAIL : CHAN_TEMPFAIL, "%s", err->msg);
			r->done = true;
			left--;
		}
	}
	return left;
}

/* The requests that ended, each decided.  True when there was one. */
static bool
ph_collect(struct ph_session *s, CURLM *multi)
{
	CURLMsg *cm;
	bool any = false;
	int q;

	while ((cm = curl_multi_info_read(multi, &q)) != NULL) {
		struct ph_req *r = NULL;

		if (cm->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE,
		    (char **)&r);
		(void)curl_multi_remove_handle(multi, cm->easy_handle);
		if (r != NULL)
			ph_done(s, r, cm->data.result, base_mono_ms());
		any = true;
	}
	return any;
}

/* Whether an HTTP request of the batch is in flight. */
static bool
ph_http_busy(const struct ph_req *reqs, size_t nreq)
{
	for (size_t i = 0; i < nreq; i++)
		if (reqs[i].inflight && !reqs[i].modem_due)
			return true;
	return false;
}

/*
 * The message of r through its modem, now that no HTTP request waits on
 * the worker, and what follows from the modem's answer, as ph_done
 * decides for an HTTP provider: taken, refused for good, or for now (the
 * next try, or the next provider).
 */
static void
ph_modem_send(struct ph_session *s, struct ph_req *r, int64_t deadline)
{
	struct ph_prov *p = r->order[r->pi];
	const struct policy_provider *pv = p->cfg;
	char key[CHAN_IDEM_LEN + 1], mrs[100];
	struct tocsin_err err = { 0 };
	char *text = NULL;
	int64_t t0 = base_mono_ms();
	bool reached = false;
	int rc, parts = 0;
	unsigned ref = 0;

	r->modem_due = false;
	if (t0 >= deadline || chan_msg_late(r->msg)) {
		r->inflight = false;
		ph_release(s->sh, p);
		if (r->rcpt->reason[0] == '\0') {
			chan_rcpt_set(r->rcpt, CHAN_TEMPFAIL, "not attempted in "
			    "time; it goes again");
			r->rcpt->untried = r->pi == 0;
		}
		r->rcpt->status = CHAN_TEMPFAIL;
		r->done = true;
		return;
	}
	if (chan_msg_left_ms(r->msg) < deadline - t0)
		deadline = t0 + chan_msg_left_ms(r->msg);
	chan_msg_start(r->msg);
	chan_idempotency_key(r->msg, r->rcpt->address, "sms", key);
	for (int i = 0; i < 2; i++)
		ref = ref * 16 + (unsigned)(key[i] <= '9' ? key[i] - '0' :
		    (key[i] | 0x20) - 'a' + 10);
	if ((rc = ph_sms_text(s, r, pv, &text, &err)) == 0)
		rc = modem_send(p->modem, r->rcpt->address, text, strlen(text),
		    (uint8_t)ref, (unsigned)pv->segments, deadline, mrs,
		    sizeof(mrs), &parts, &reached, &err);
	free(text);
	r->inflight = false;
	ph_release(s->sh, p);
	chan_msg_peer(r->msg, pv->name, rc == 0, base_mono_ms() - t0);
	if (rc == 0) {
		r->rcpt->status = CHAN_SENT;
		r->rcpt->reason[0] = '\0';
		snprintf(r->rcpt->ref, sizeof(r->rcpt->ref), "%.40s:%.127s",
		    pv->name, mrs[0] ? mrs : "accepted");
		r->rcpt->segments = parts;
		r->done = true;
		return;
	}
	if (rc == TOCSIN_EPERM || rc == TOCSIN_ETOOBIG) {
		chan_rcpt_set(r->rcpt, CHAN_PERMFAIL, "%s", err.msg);
		r->done = true;
		return;
	}
	r->tries++;
	if (r->tries < pv->retries)
		r->not_before = base_mono_ms() + 1000;
	else {
		r->pi++;
		r->tries = 0;
		r->not_before = base_mono_ms();
	}
	if (r->pi >= r->nprov) {
		chan_rcpt_set(r->rcpt, CHAN_TEMPFAIL, "%s", err.msg);
		r->done = true;
		return;
	}
	snprintf(r->rcpt->reason, sizeof(r->rcpt->reason), "%s", err.msg);
}

static int
ph_deliver(void *session, struct chan_msg *msgs, size_t n,
    struct tocsin_err *err)
{
	struct ph_session *s = session;
	struct ph_req *reqs;
	size_t nreq = 0;
	CURLM *multi;
	int64_t deadline = base_mono_ms() + (s->env->budget > 0 ?
	    s->env->budget : 60) * 1000;

	memset(s->unresolved, 0, sizeof(s->unresolved));
	for (size_t i = 0; i < n; i++)
		nreq += msgs[i].nrcpts;
	if ((reqs = calloc(nreq ? nreq : 1, sizeof(*reqs))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if ((multi = ph_multi(s->sh)) == NULL) {
		free(reqs);
		return tocsin_fail(err, TOCSIN_EINTERNAL, "cannot start libcurl");
	}
	nreq = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < msgs[i].nrcpts; j++)
			ph_req_init(s, &reqs[nreq++], &msgs[i],
			    &msgs[i].rcpts[j]);
	for (;;) {
		int64_t wait = 200;
		int running = 0;
		size_t left = ph_pass(s, multi, reqs, nreq, base_mono_ms(),
		    deadline, &wait, err);

		ph_report(reqs, nreq);
		if (nreq > 0)
			chan_msg_idle(reqs[0].msg);
		if (left == 0)
			break;
		if (!ph_http_busy(reqs, nreq)) {
			size_t i = 0;

			while (i < nreq && !reqs[i].modem_due)
				i++;
			if (i < nreq) {
				ph_modem_send(s, &reqs[i], deadline);
				continue;
			}
		}
		(void)curl_multi_perform(multi, &running);
		if (ph_collect(s, multi))
			wait = 0;
		if (wait > 0)
			(void)curl_multi_poll(multi, NULL, 0, (int)wait, NULL);
	}
	for (size_t i = 0; i < nreq; i++) {
		if (reqs[i].easy != NULL) {
			(void)curl_multi_remove_handle(multi, reqs[i].easy);
			curl_easy_cleanup(reqs[i].easy);
		}
		ph_req_reset(&reqs[i]);
	}
	curl_multi_cleanup(multi);
	free(reqs);
	return 0;
}


/* --- previews ------------------------------------------------------------ */

/* The SMS the first provider serving m's first number would get. */
static int
sms_preview(const struct policy_repo *repo, const struct chan_msg *m,
    struct chan_preview *out, struct tocsin_err *err)
{
	const struct policy_provider *order[PH_MAX_PROVIDERS];
	struct ph_req r = { .msg = (struct chan_msg *)m };
	struct chan_env env = { .repo = repo };
	struct ph_session ss = { .env = &env };
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (m->nrcpts == 0 || (n = policy_providers_for(repo->sms, repo->nsms,
	    m->rcpts[0].address, order, PH_MAX_PROVIDERS)) == 0)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "no provider in "
		    "providers.sms serves %s", m->nrcpts > 0 ?
		    m->rcpts[0].address : "the number");
	if ((rc = ph_sms_text(&ss, &r, order[0], &out->data, err)) != 0)
		return rc;
	out->len = strlen(out->data);
	out->type = "text/plain";
	out->segments = r.segments;
	snprintf(out->provider, sizeof(out->provider), "%s", order[0]->name);
	return 0;
}

/* The TwiML of the call the first provider serving the number would
   place. */
static int
voice_preview(const struct policy_repo *repo, const struct chan_msg *m,
    struct chan_preview *out, struct tocsin_err *err)
{
	const struct policy_provider *order[PH_MAX_PROVIDERS];
	struct mime_buf tw = { 0 }, act = { 0 };
	size_t n;

	memset(out, 0, sizeof(*out));
	if (m->nrcpts == 0 || (n = policy_providers_for(repo->voice,
	    repo->nvoice, m->rcpts[0].address, order, PH_MAX_PROVIDERS)) == 0)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "no provider in "
		    "providers.voice serves %s", m->nrcpts > 0 ?
		    m->rcpts[0].address : "the number");
	if (repo->gateway.public_url != NULL)
		ph_gather_url(&act, repo, order[0]->name, m);
	ph_twiml(&tw, repo, m, act.oom ? NULL : act.p);
	free(act.p);
	if (tw.oom) {
		free(tw.p);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	out->data = tw.p;
	out->len = tw.len;
	out->type = "application/xml";
	snprintf(out->provider, sizeof(out->provider), "%s", order[0]->name);
	return 0;
}

/* --- what modems received ------------------------------------------------ */

struct ph_rx {
	chan_inbound_cb cb;
	void *ctx;
	size_t bad;
	char why[200];
};

static enum modem_fate
ph_rx_one(void *arg, const struct gsmpdu_deliver *d, const char *why)
{
	struct ph_rx *x = arg;
	struct chan_inbound in;

	if (d == NULL) {
		x->bad++;
		snprintf(x->why, sizeof(x->why), "%s", why);
		return MODEM_TAKE;
	}
	memset(&in, 0, sizeof(in));
	/* an alphanumeric sender or a national number matches no contact:
	   contacts' numbers are E.164 */
	if (d->from[0] != '+' || policy_e164_normalise(d->from, in.from,
	    sizeof(in.from)) != 0)
		in.from[0] = '\0';
	{
		/* a longer text is no ack code: cut at a character */
		size_t n = strlen(d->text);

		if (n >= sizeof(in.text)) {
			n = sizeof(in.text) - 1;
			while (n > 0 && ((unsigned char)d->text[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(in.text, d->text, n);
		in.text[n] = '\0';
	}
	return x->cb(x->ctx, &in) == CHAN_ACKFILE_KEEP ? MODEM_KEEP :
	    MODEM_TAKE;
}

/* The SMS each modem of this serve received: replies like those a
   provider posts, matched by the gateway as they are. */
static int
sms_receive(const struct chan_env *env, chan_inbound_cb cb, void *ctx,
    struct tocsin_err *err)
{
	struct ph_shared *sh = env->shared;
	int rc = 0;

	for (size_t i = 0; sh != NULL && i < sh->nprovs; i++) {
		struct ph_rx x = { .cb = cb, .ctx = ctx };
		struct tocsin_err e = { 0 };

		if (sh->provs[i].modem == NULL)
			continue;
		if (modem_receive(sh->provs[i].modem, base_mono_ms() + 10000,
		    ph_rx_one, &x, &e) != 0)
			rc = tocsin_fail(err, e.code, "%s", e.msg);
		else if (x.bad > 0)
			rc = tocsin_fail(err, TOCSIN_EDATA, "%s: deleted %zu "
			    "message(s) the modem received that are no readable "
			    "SMS (%s)", sh->provs[i].cfg->name, x.bad, x.why);
	}
	return rc;
}

/* --- receipts ---------------------------------------------------------- */

static int
ph_field_cmp(const void *a, const void *b)
{
	const struct form_field *x = *(const struct form_field *const *)a;
	const struct form_field *y = *(const struct form_field *const *)b;

	return strcmp(x->name, y->name);
}

/*
 * Twilio's request signature: base64 of HMAC-SHA1, keyed with the auth
 * token, over the full URL followed by every POST parameter's name and
 * value, sorted by name.
 */
static bool
ph_signature_ok(const char *token, const char *url, const struct form *f,
    const char *sig)
{
	const struct form_field *sorted[FORM_MAX_FIELDS];
	unsigned char mac[EVP_MAX_MD_SIZE], want[64];
	unsigned int maclen = 0;
	struct mime_buf msg = { 0 };
	int n;

	if (sig == NULL || token == NULL || strlen(sig) > 60)
		return false;
	for (size_t i = 0; i < f->n; i++)
		sorted[i] = &f->f[i];
	qsort(sorted, f->n, sizeof(sorted[0]), ph_field_cmp);
	/* One buffer and the one-shot HMAC: the body is bounded by
	   FORM_MAX_BODY, and decoded it is no longer. */
	msg.len = 0;
	mime_adds(&msg, url);
	for (size_t i = 0; i < f->n; i++) {
		mime_adds(&msg, sorted[i]->name);
		mime_adds(&msg, sorted[i]->value);
	}
	if (msg.oom || HMAC(EVP_sha1(), token, (int)strlen(token),
	    (const unsigned char *)msg.p, msg.len, mac, &maclen) == NULL) {
		free(msg.p);
		return false;
	}
	free(msg.p);
	n = EVP_EncodeBlock(want, mac, (int)maclen);
	return n > 0 && (size_t)n == strlen(sig) &&
	    CRYPTO_memcmp(want, sig, (size_t)n) == 0;
}

/*
 * A form Twilio posted for the provider called name, checked against its
 * signature before anything of it is believed: 0 with *ret (malloc'd,
 * the caller frees) and *prov set, or TOCSIN_ENOTFOUND, TOCSIN_EDATA,
 * TOCSIN_EPERM.  what names the post in messages.
 */
static int
ph_signed_form(struct ph_shared *sh, const char *name, const char *url,
    const char *body, size_t len, const char *signature, const char *what,
    struct form **ret, struct ph_prov **prov, struct tocsin_err *err)
{
	struct ph_prov *p = NULL;
	struct form *f;

	*ret = NULL;
	for (size_t i = 0; sh != NULL && i < sh->nprovs; i++)
		if (strcmp(sh->provs[i].cfg->name, name) == 0 &&
		    sh->provs[i].cfg->kind == POLICY_PK_TWILIO)
			p = &sh->provs[i];
	if (p == NULL)
		return tocsin_fail(err, TOCSIN_ENOTFOUND, "no Twilio provider "
		    "of that name");
	if ((f = malloc(sizeof(*f))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	if (form_parse(body, len, f) != 0) {
		free(f);
		return tocsin_fail(err, TOCSIN_EDATA, "the %s is not a "
		    "well-formed form within the limits", what);
	}
	if (!ph_signature_ok(p->secret, url, f, signature)) {
		free(f);
		return tocsin_fail(err, TOCSIN_EPERM, "the %s's "
		    "X-Twilio-Signature is missing or wrong", what);
	}
	*ret = f;
	*prov = p;
	return 0;
}

/* A Twilio SID: letters and digits, 64 at most. */
static bool
ph_sid_ok(const char *sid)
{
	return sid != NULL && sid[0] != '\0' && strlen(sid) <= 64 &&
	    strspn(sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789") == strlen(sid);
}

static int
ph_inbound(void *shared, const char *provider, const char *url,
    const char *body, size_t len, const char *signature,
    struct chan_inbound *out, struct tocsin_err *err)
{
	struct ph_prov *p;
	struct form *f;
	const char *digits, *from, *text, *sid;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ph_signed_form(shared, provider, url, body, len, signature,
	    "reply", &f, &p, err)) != 0)
		return rc;
	digits = form_get(f, "Digits");
	from = form_get(f, "From");
	if (from != NULL && policy_e164_normalise(from, out->from,
	    sizeof(out->from)) != 0)
		out->from[0] = '\0';
	if (digits != NULL) {
		sid = form_get(f, "CallSid");
		if (!ph_sid_ok(sid) || strlen(digits) > 32 ||
		    strspn(digits, "0123456789*#") != strlen(digits)) {
			free(f);
			return tocsin_fail(err, TOCSIN_EDATA, "the keypress "
			    "names no call or has other keys than digits");
		}
		out->keypress = true;
		snprintf(out->text, sizeof(out->text), "%s", digits);
		snprintf(out->call_ref, sizeof(out->call_ref), "%.40s:%.127s",
		    p->cfg->name, sid);
	} else {
		text = form_get(f, "Body");
		if (text == NULL || out->from[0] == '\0') {
			free(f);
			return tocsin_fail(err, TOCSIN_EDATA, "the reply has no "
			    "Body or no E.164 From");
		}
		snprintf(out->text, sizeof(out->text), "%s", text);
	}
	free(f);
	return 0;
}

static int
ph_receipt(void *shared, const char *provider, const char *url,
    const char *body, size_t len, const char *signature,
    struct chan_receipt *out, struct tocsin_err *err)
{
	struct ph_prov *p = NULL;
	static const char *const fin_ok[] = { "delivered", "completed", NULL };
	static const char *const fin_bad[] = { "undelivered", "failed",
		"busy", "no-answer", "canceled", NULL };
	struct form *f;
	const char *sid, *status, *code;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if ((rc = ph_signed_form(shared, provider, url, body, len, signature,
	    "receipt", &f, &p, err)) != 0)
		return rc;
	sid = form_get(f, "MessageSid");
	status = form_get(f, "MessageStatus");
	if (sid == NULL) {
		sid = form_get(f, "CallSid");
		status = form_get(f, "CallStatus");
	}
	if (!ph_sid_ok(sid) || status == NULL) {
		rc = tocsin_fail(err, TOCSIN_EDATA, "the receipt names no "
		    "message or call");
		goto out;
	}
	snprintf(out->ref, sizeof(out->ref), "%.40s:%.127s", p->cfg->name,
	    sid);
	for (size_t i = 0; fin_ok[i] != NULL; i++)
		if (strcmp(status, fin_ok[i]) == 0)
			out->final = out->delivered = true;
	for (size_t i = 0; fin_bad[i] != NULL; i++)
		if (strcmp(status, fin_bad[i]) == 0)
			out->final = true;
	code = form_get(f, "ErrorCode");
	snprintf(out->detail, sizeof(out->detail), "%s: %.40s%s%.16s",
	    p->cfg->name, status, code != NULL && code[0] ? ", error " : "",
	    code != NULL ? code : "");
	for (char *c = out->detail; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
out:
	free(f);
	return rc;
}

const struct chan_ops chan_sms = {
	.kind = {
		.name = "sms",
		.field = POLICY_FIELD_MOBILE,
		.emergency = true,
	},
	.configured = sms_configured,
	.providers = sms_providers,
	.drill_latency = 5,
	.drill_via = "sms",
	.ack_via = "sms",
	.notices = true,
	.per_team = false,
	.batch = sms_batch,
	.check = sms_check,
	.init = sms_init,
	.fini = ph_fini,
	.open = ph_open,
	.deliver = ph_deliver,
	.close = ph_close,
	.receipt = ph_receipt,
	.receipt_path = "twilio/status/",
	.inbound = ph_inbound,
	.inbound_path = "twilio/sms/",
	.receive = sms_receive,
	.preview = sms_preview,
};

const struct chan_ops chan_voice = {
	.kind = {
		.name = "voice",
		.field = POLICY_FIELD_PHONE,
		.emergency = true,
	},
	.configured = voice_configured,
	.providers = voice_providers,
	.check_emergency = true,
	.drill_latency = 40,
	.drill_via = "voice",
	.ack_via = "voice",
	.per_team = false,
	.batch = voice_batch,
	.check = voice_check,
	.init = voice_init,
	.fini = ph_fini,
	.open = ph_open,
	.deliver = ph_deliver,
	.close = ph_close,
	.receipt = ph_receipt,
	.receipt_path = "twilio/call-status/",
	.inbound = ph_inbound,
	.inbound_path = "twilio/gather/",
	.preview = voice_preview,
};
