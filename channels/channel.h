/*
 * channel.h: the one interface between the dispatcher and a channel.
 *
 * A channel is a table of functions, in the spirit of curl's protocol
 * handlers: check its configuration, open a session for a batch, deliver
 * rendered messages, close.  The dispatcher knows nothing of SMTP, HTTP or
 * SSH; a driver knows nothing of the store: it is handed messages and
 * fills in a result per recipient.
 */
#ifndef CHANNEL_H
#define CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "certs.h"
#include "i18n.h"
#include "policy.h"
#include "tocsin.h"

enum chan_status { CHAN_SENT, CHAN_TEMPFAIL, CHAN_PERMFAIL };

/* One addressee of a message; the driver fills the second half. */
struct chan_rcpt {
	const char *address;		/* e-mail, E.164, host:path */
	const char *key;		/* OpenPGP fingerprint, or NULL */
	enum chan_status status;
	char ref[192];			/* provider's reference, "" if none */
	char reason[512];		/* why not sent; the server's reply */
	int segments;			/* SMS parts sent, 0 when not SMS */
	int64_t retry_after;		/* a temporary failure: not before this
					   many seconds (0: the usual backoff) */
	bool untried;			/* a temporary failure before anything
					   of it reached the peer (the batch's
					   time ran out, the session dropped
					   before its turn): no attempt is
					   counted */
};

struct chan_msg;
/*
 * What a batch shares with its messages: the dispatcher's callback, told
 * as each message completes so that its result is recorded at once (a
 * crash repeats only what was in flight, never a batch), and the batch's
 * deadline on the monotonic clock, past which a driver starts no new
 * message.  Owned by the dispatcher.
 */
struct chan_batch {
	void (*report)(void *ctx, struct chan_msg *m);
	/* the batch's first message is about to reach the peer: from now a
	   crash counts an attempt for what is still unreported */
	void (*start)(void *ctx);
	/* the driver is waiting on the peer: results held back for a group
	   are committed now if they have waited 50 ms */
	void (*idle)(void *ctx);
	/* a provider answered one request (ok: it took it), ms after the
	   request went; may be NULL */
	void (*peer)(void *ctx, const char *provider, bool ok, int64_t ms);
	void *ctx;
	int64_t deadline_ms;		/* base_mono_ms() scale; 0: none */
};

/* A file carried with the message (the signed CAP document and its
   issuer signatures, so that recipients can check the issuer themselves). */
struct chan_part {
	const char *filename;		/* made from ids, never from input */
	const char *content_type;	/* e.g. "application/cap+xml" */
	const void *data;
	size_t len;
};

/*
 * The alert for a channel that lays out its own page (fax), in the
 * recipient's language, each field cleaned as render.c cleans the body
 * (valid UTF-8, no controls; the long texts keep their line breaks) and
 * NULL when absent.  Labels are the channel's.  Owned by the dispatcher.
 */
struct chan_doc {
	char *status;			/* CAP status: Actual, Exercise, ... */
	char *msg_type_line;		/* what an Update or Cancel does */
	char *alert_id;
	char *cap_identifier;
	char *issuer;			/* the CAP sender, and its name */
	char *sent_utc;			/* "2026-11-25 10:00 UTC" */
	char *sent_local;		/* in the recipient's zone, or NULL */
	char *team;			/* "ke, domain ke (KENIC)" */
	char *recipient;		/* the contact's name */
	char *number;			/* the endpoint: an E.164 fax number */
	char *lang;			/* of the text below */
	char *headline;
	char *event;
	char *grading;			/* "Extreme / Immediate / Observed" */
	char *area;
	char *description;		/* NULL unless full */
	char *instruction;		/* NULL unless full */
	char *note;			/* NULL unless full */
	bool full;			/* the policy's fax_detail is "full" */
	char *duty_phone;		/* gateway.duty_phone, or NULL */
	char *ack_phone;		/* gateway.ack_phone, or NULL */
};

struct chan_msg {
	const char *alert_id;		/* the gateway's ids: safe for file */
	const char *team;		/* names (letters, digits, '-') */
	int step;			/* the ladder step */
	const char *message_id;		/* "<...>", stable across retries */
	const char *subject;		/* printable ASCII, non-sensitive */
	const char *body;		/* UTF-8, LF line ends */
	size_t body_len;
	const struct chan_part *parts;
	size_t nparts;
	bool exercise;
	/* For short channels (SMS, voice): one line of the alert in the
	   recipient's language, the language, the ack code and link. */
	const char *short_text;
	size_t short_own;		/* its first bytes that are the
					   gateway's words (the severity),
					   the rest the alert's */
	const char *lang;
	const char *ack_code;
	const char *ack_url;
	/* For channels with needs_doc: the fields of the alert. */
	const struct chan_doc *doc;
	struct chan_rcpt *rcpts;
	size_t nrcpts;
	/* The batch the message belongs to; NULL outside a dispatcher. */
	const struct chan_batch *batch;
};

/* A delivery receipt a provider posted back to the gateway. */
struct chan_receipt {
	char ref[192];			/* the delivery's provider_ref */
	bool final;			/* false: an interim status, ignored */
	bool delivered;
	char detail[256];		/* the provider's status and error */
};

/* What a person sent back through a provider: an SMS reply, or the keys
   pressed during a call.  Checked for the provider's signature; not yet
   matched to any alert (the gateway does that). */
struct chan_inbound {
	bool keypress;			/* a call's Gather, else an SMS */
	char from[20];			/* E.164 of the sender, "" if unknown */
	char text[480];			/* the SMS text, or the digits */
	char call_ref[192];		/* keypress: the call's delivery ref */
};

/* An ack file a person left on an out-of-band host, as the driver found
   it; not yet verified (the gateway does that). */
#define CHAN_ACKFILE_MAX (64 * 1024)
struct chan_ackfile {
	const char *host;		/* the drop host's name */
	const char *team;		/* the team whose folder holds it */
	const char *name;		/* letters, digits, "-_.", not hidden */
	const char *data;		/* NUL-terminated; NULL when the file
					   is over CHAN_ACKFILE_MAX */
	size_t len;			/* its size */
};
/* What becomes of an ack file once the gateway has seen it. */
enum chan_ackfile_fate {
	CHAN_ACKFILE_DONE,		/* taken: moved to ack/done/ */
	CHAN_ACKFILE_REFUSED,		/* moved to ack/refused/ */
	CHAN_ACKFILE_KEEP		/* left for the next look (the store
					   was busy) */
};
typedef enum chan_ackfile_fate (*chan_ackfile_cb)(void *ctx,
    const struct chan_ackfile *f);

/* A reply read from a device of this host (a modem's SMS), as
   chan_inbound: CHAN_ACKFILE_KEEP leaves it for the next look (the store
   was busy), anything else lets the driver delete it. */
typedef enum chan_ackfile_fate (*chan_inbound_cb)(void *ctx,
    const struct chan_inbound *in);

/* What a driver would send for a message, without sending it (tocsin
   compose --preview): a text (the SMS, the TwiML of a call) or a document
   (the fax's PDF).  data is malloc'd, the caller's. */
struct chan_preview {
	char *data;
	size_t len;
	const char *type;		/* "text/plain", "application/xml",
					   "application/pdf" */
	char provider[48];		/* the provider that would take it, or
					   "" */
	int segments;			/* SMS parts, else 0 */
	int pages;			/* fax pages, else 0 */
};

/* What a driver may use: read-only repository, this worker's OpenPGP
   context, the keys listed once per run. */
struct chan_env {
	const struct policy_repo *repo;
	struct certs_ctx *certs;
	const struct certs_pubkeys *keys;
	void *shared;			/* the driver's own, from init() */
	int64_t now;
	int64_t budget;			/* seconds a deliver() may take */
};

/*
 * A channel: what the rest of tocsin knows of it and its driver, in the
 * channel's own file, listed once in channel.c's table.  The repository
 * reads targets and checks policies from .kind; the dispatcher, the drill
 * and the check of contacts read the flags below and never a channel's
 * name.
 */
struct chan_ops {
	/* name, contact field, :emergency, and what a repository using it
	   must say (policy.h) */
	struct policy_kind kind;
	/* The gateway has what the channel needs to send at all (a relay, a
	   provider): a check of contacts passes a channel without it by.
	   NULL: always. */
	bool (*configured)(const struct policy_repo *repo);
	/* The providers that may carry a message to number, in the order
	   they are tried, at most max into out; NULL for a channel without
	   providers (drills take them down one by one). */
	size_t (*providers)(const struct policy_repo *repo, const char *number,
	    const struct policy_provider **out, size_t max);
	/* A check of contacts also reaches the emergency phone this way
	   (voice: once, as an endpoint to check, never as an escalation). */
	bool check_emergency;
	/* Drills: simulated seconds the channel takes to hand a message
	   over, and how the ack of someone reached this way comes back
	   ("link", "sms", "voice", "operator:phone", "drop"). */
	int64_t drill_latency;
	const char *drill_via;
	/* The via of an ack that comes back through this channel ("mail",
	   "sms", "voice", "drop"), for the report's figures; NULL: none. */
	const char *ack_via;
	/* Carries the notice of who acknowledged to a team's other contacts
	   (a text: a call or a fax saying nothing more is needed would be a
	   page of its own). */
	bool notices;
	/* One message per team and step to all its recipients (pgp-email),
	   or one message per endpoint (sms, voice). */
	bool per_team;
	/* Wants msg->doc filled (a channel that lays out a page). */
	bool needs_doc;
	/* Messages a session should carry at most. */
	size_t (*batch)(const struct policy_repo *repo);
	/* Problems of the channel's configuration go into diag; returns the
	   number of errors added. */
	size_t (*check)(const struct policy_repo *repo,
	    struct policy_diag *diag);
	/* State shared by every worker of a serve (rate limits, connection
	   caches, secrets); may be NULL.  *ret is freed by fini(). */
	int (*init)(const struct policy_repo *repo, void **ret,
	    struct tocsin_err *err);
	void (*fini)(void *shared);
	/* Open a session; *ret is owned by the driver until close(). */
	int (*open)(const struct chan_env *env, void **ret,
	    struct tocsin_err *err);
	/*
	 * Deliver n messages in this session, filling every recipient's
	 * status.  A return other than 0 means the session itself failed
	 * before anything was handed over: every recipient then counts as a
	 * temporary failure with err's sentence, unless the driver already
	 * set a status.
	 */
	int (*deliver)(void *session, struct chan_msg *msgs, size_t n,
	    struct tocsin_err *err);
	void (*close)(void *session);
	/*
	 * Check and read a receipt (a provider's webhook) posted for the
	 * provider named `provider` to url, the public URL the provider was
	 * given (its signature covers it).  0 with *out filled;
	 * TOCSIN_EPERM for a missing or wrong signature, TOCSIN_EDATA for a
	 * malformed body, TOCSIN_ENOTFOUND for no such provider.  May be
	 * NULL: the channel has no receipts.
	 */
	int (*receipt)(void *shared, const char *provider, const char *url,
	    const char *body, size_t len, const char *signature,
	    struct chan_receipt *out, struct tocsin_err *err);
	/* Where a provider posts receipts, under the gateway's public URL:
	   "twilio/status/" (SMS) or "twilio/call-status/" (voice) +
	   provider name; NULL when none. */
	const char *receipt_path;
	/*
	 * Check and read what a person sent back (posted for provider to
	 * url, as receipt): 0 with *out filled, TOCSIN_EPERM for a missing
	 * or wrong signature, TOCSIN_EDATA, TOCSIN_ENOTFOUND.  May be NULL.
	 */
	int (*inbound)(void *shared, const char *provider, const char *url,
	    const char *body, size_t len, const char *signature,
	    struct chan_inbound *out, struct tocsin_err *err);
	/* Where: "twilio/sms/" (replies) or "twilio/gather/" (keypresses)
	   + provider name; NULL when none. */
	const char *inbound_path;
	/*
	 * Look for ack files on the hosts due for a look at env->now (each
	 * has its own interval, kept in env->shared), hand each to cb and
	 * move it as cb says.  Called from one thread at a time.  0, or the
	 * last host's error (the other hosts are looked at all the same).
	 * May be NULL.
	 */
	int (*poll)(const struct chan_env *env, chan_ackfile_cb cb, void *ctx,
	    struct tocsin_err *err);
	/*
	 * Read what people sent back to a device of this host (the SMS a
	 * modem received), hand each to cb, and delete it unless cb keeps
	 * it.  Called about once a second from one thread, on every serve
	 * node (a device belongs to its host, not to the store's turn).  0,
	 * or the last device's error.  May be NULL.
	 */
	int (*receive)(const struct chan_env *env, chan_inbound_cb cb,
	    void *ctx, struct tocsin_err *err);
	/*
	 * What the driver would send for m to its first recipient, into
	 * *out, without sending (compose --preview; never inside serve: it
	 * may load and unload the libraries it needs).  NULL: the channel
	 * sends m->body as it is (the e-mail's text before encryption, the
	 * drop's message).
	 */
	int (*preview)(const struct policy_repo *repo, const struct chan_msg *m,
	    struct chan_preview *out, struct tocsin_err *err);
};

/* Process-wide start-up of the drivers' libraries (libcurl); call once
   from main before any thread starts.  0 or TOCSIN_EUNAVAIL. */
int chan_global_init(struct tocsin_err *err);

/*
 * The idempotency key of one message to one address, for providers whose
 * API takes one: CHAN_IDEM_LEN hex digits of SHA-256 over what makes the
 * message (alert, team, ladder step, channel, address, and whether it is
 * the alert or the notice of an ack: m->ack_code NULL), never over the
 * attempt.  A retry after a timeout, the next worker's retry after a crash
 * and a restart give the same key; a later step, another address or
 * channel, or the notice give another.
 */
/*
 * What a call says, in the call's TwiML (phone.c) and in the gateway's
 * answers to its keys (the listener), so both speak alike.  A call: who
 * calls and "alert" or "exercise", the alert's line, then the menu, and
 * the menu once more when nothing is keyed.  Each wrong code: "not right"
 * and the menu again, up to CHAN_VOICE_TRIES tries on the call (the
 * number of the try travels in the Gather's action path, ".../2", only
 * for this wording: the store's bounds on wrong codes are the limit).
 */
#define CHAN_VOICE_TRIES 3
/* English msgids of the gateway's catalogs (i18n.h): said through
   i18n_text in the call's language. */
#define CHAN_VOICE_MENU N_("To acknowledge, enter your 8-digit code " \
	"followed by the hash key.")
#define CHAN_VOICE_WRONG N_("That code is not right.")
#define CHAN_VOICE_WRONG_BYE N_("That code is not right. Goodbye.")
#define CHAN_VOICE_ACKED N_("Thank you. Your team's acknowledgement is " \
	"recorded. Goodbye.")
#define CHAN_VOICE_THROTTLED N_("Too many tries. Goodbye.")
#define CHAN_VOICE_BYE N_("Goodbye.")
/* The Gather of a menu: keys until '#', or 15 s of silence. */
#define CHAN_VOICE_GATHER "<Gather input=\"dtmf\" finishOnKey=\"#\" " \
	"timeout=\"15\""

#define CHAN_IDEM_LEN 32
void chan_idempotency_key(const struct chan_msg *m, const char *address,
    const char *channel, char out[CHAN_IDEM_LEN + 1]);

/* Set a recipient's status and its reason (printf format), for drivers. */
void chan_rcpt_set(struct chan_rcpt *r, enum chan_status st, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* Tell the dispatcher that every recipient of m has its final status in
   this batch: called by a driver once per message, as it completes. */
void chan_msg_done(struct chan_msg *m);
/* Tell the dispatcher that m (and the rest of its batch) is about to be
   handed to the peer; called before the first byte of a message goes,
   any number of times. */
void chan_msg_start(const struct chan_msg *m);
/* Call while waiting on the peer (a poll loop, an SMTP reply), so that
   the results already reported are not held back longer than a group's
   50 ms. */
void chan_msg_idle(const struct chan_msg *m);
/* Tell the dispatcher that a provider answered one request for m (ok: it
   took it), ms after the request went: for a channel that spreads its
   messages over providers, so that each provider's errors and latency
   are seen. */
void chan_msg_peer(const struct chan_msg *m, const char *provider, bool ok,
    int64_t ms);
/* Whether the batch of m is past its deadline: a driver starts no new
   message then, and marks the rest untried temporary failures. */
bool chan_msg_late(const struct chan_msg *m);
/* Milliseconds left before the batch's deadline (INT64_MAX: none). */
int64_t chan_msg_left_ms(const struct chan_msg *m);
/* Mark every recipient of m not yet decided (status CHAN_SENT with no
   ref) a temporary failure that was never tried, with reason. */
void chan_msg_untried(struct chan_msg *m, const char *reason);

/* The driver for a channel name, or NULL when none is built. */
const struct chan_ops *chan_find(const char *name);
/* Every driver, NULL-terminated, in the table's order. */
const struct chan_ops *const *chan_all(void);
/* The driver of a repository's kind (a target's channel), or NULL. */
const struct chan_ops *chan_of(const struct policy_kind *kind);
/* The place of a driver in chan_all() (below CHAN_MAX). */
size_t chan_index(const struct chan_ops *ops);

/* The names of the channels that carry notices (notices set),
   NULL-terminated; filled at start-up with the kinds. */
const char *const *chan_notice_names(void);
/* The channel whose kind reaches a team's own drop (POLICY_FIELD_TEAM),
   or NULL when none is built. */
const struct chan_ops *chan_team_channel(void);
/* The channel acks of that via come back through, or NULL. */
const struct chan_ops *chan_of_ack_via(const char *via);

/* Drivers at most, those built in and those added. */
#define CHAN_MAX 16
/*
 * Add a driver to the table after those built in (a channel built apart,
 * or a test's), and hand the kinds to the repository reader.  Start-up
 * only, before any repository is read and before threads start.
 * TOCSIN_ECONFIG for a name taken or a table full (CHAN_MAX).
 */
int chan_register(const struct chan_ops *ops, struct tocsin_err *err);
/* Hand the kinds of the table to the repository reader
   (policy_kinds_set()); chan_global_init() and chan_register() do it. */
void chan_kinds_publish(void);

extern const struct chan_ops chan_pgp_email;
extern const struct chan_ops chan_sms;
extern const struct chan_ops chan_voice;
extern const struct chan_ops chan_fax;
extern const struct chan_ops chan_sshdrop;

#endif
