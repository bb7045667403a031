/*
 * channel.c: the registry of channel drivers, and what every driver shares
 * (library start-up, a recipient's result, the idempotency key).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <curl/curl.h>
#include <auth-client.h>
#include <openssl/evp.h>

#include "base.h"
#include "channel.h"

/*
 * The channels, one line each; the order is the order messages list them
 * ("CHANNEL is pgp-email, sms, ...") and the check of contacts reaches
 * them.  Start-up may add more (chan_register()); read-only after.
 */
static const struct chan_ops *chan_table[CHAN_MAX + 1] = {
	&chan_pgp_email,
	&chan_sms,
	&chan_voice,
	&chan_fax,
	&chan_sshdrop,
	NULL
};
/* Their kinds, as the repository reader is given them, and the names of
   those that carry notices; made at start-up with the table. */
static const struct policy_kind *chan_kinds[CHAN_MAX + 1];
static const char *chan_notices[CHAN_MAX + 1];

const struct chan_ops *
chan_find(const char *name)
{
	for (size_t i = 0; chan_table[i] != NULL; i++)
		if (strcmp(chan_table[i]->kind.name, name) == 0)
			return chan_table[i];
	return NULL;
}

const struct chan_ops *const *
chan_all(void)
{
	return chan_table;
}

const struct chan_ops *
chan_of(const struct policy_kind *kind)
{
	for (size_t i = 0; chan_table[i] != NULL; i++)
		if (&chan_table[i]->kind == kind)
			return chan_table[i];
	return NULL;
}

size_t
chan_index(const struct chan_ops *ops)
{
	size_t i;

	for (i = 0; chan_table[i] != NULL && chan_table[i] != ops; i++)
		continue;
	return i;
}

void
chan_kinds_publish(void)
{
	size_t i, n = 0;

	for (i = 0; chan_table[i] != NULL; i++) {
		chan_kinds[i] = &chan_table[i]->kind;
		if (chan_table[i]->notices)
			chan_notices[n++] = chan_table[i]->kind.name;
	}
	chan_kinds[i] = NULL;
	chan_notices[n] = NULL;
	policy_kinds_set(chan_kinds);
}

const char *const *
chan_notice_names(void)
{
	return chan_notices;
}

const struct chan_ops *
chan_team_channel(void)
{
	for (size_t i = 0; chan_table[i] != NULL; i++)
		if (chan_table[i]->kind.field == POLICY_FIELD_TEAM)
			return chan_table[i];
	return NULL;
}

const struct chan_ops *
chan_of_ack_via(const char *via)
{
	for (size_t i = 0; via != NULL && chan_table[i] != NULL; i++)
		if (chan_table[i]->ack_via != NULL &&
		    strcmp(chan_table[i]->ack_via, via) == 0)
			return chan_table[i];
	return NULL;
}

int
chan_register(const struct chan_ops *ops, struct tocsin_err *err)
{
	size_t n;

	if (chan_find(ops->kind.name) != NULL)
		return tocsin_fail(err, TOCSIN_ECONFIG, "channel %s is "
		    "already in the table", ops->kind.name);
	for (n = 0; chan_table[n] != NULL; n++)
		continue;
	if (n >= CHAN_MAX)
		return tocsin_fail(err, TOCSIN_ECONFIG, "no room for channel "
		    "%s: the table holds %d", ops->kind.name, CHAN_MAX);
	chan_table[n] = ops;
	chan_table[n + 1] = NULL;
	chan_kinds_publish();
	return 0;
}

int
chan_global_init(struct tocsin_err *err)
{
	chan_kinds_publish();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot start libcurl");
	/* libesmtp's SASL client (SMTP AUTH) loads its plugins once */
	auth_client_init();
	return 0;
}

void
chan_idempotency_key(const struct chan_msg *m, const char *address,
    const char *channel, char out[CHAN_IDEM_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char step[24];
	const char *fields[7];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;

	snprintf(step, sizeof(step), "%d", m->step);
	fields[0] = "tocsin idempotency 1";
	fields[1] = m->alert_id != NULL ? m->alert_id : "";
	fields[2] = m->team != NULL ? m->team : "";
	fields[3] = step;
	fields[4] = channel != NULL ? channel : "";
	fields[5] = address != NULL ? address : "";
	fields[6] = m->ack_code != NULL ? "alert" : "notice";
	/* NUL-separated: no two field lists hash alike */
	for (size_t i = 0; ok && i < 7; i++)
		ok = EVP_DigestUpdate(c, fields[i], strlen(fields[i]) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 &&
	    mdlen * 2 >= CHAN_IDEM_LEN;
	EVP_MD_CTX_free(c);
	if (!ok) {
		/* no digest: the message id, one per delivery, still holds
		   across retries */
		snprintf(out, CHAN_IDEM_LEN + 1, "%s", m->message_id != NULL ?
		    m->message_id : "");
		return;
	}
	base_hex(out, md, CHAN_IDEM_LEN / 2);
}

void
chan_rcpt_set(struct chan_rcpt *r, enum chan_status st, const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	va_start(ap, fmt);
	(void)vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}

void
chan_msg_done(struct chan_msg *m)
{
	if (m->batch != NULL && m->batch->report != NULL)
		m->batch->report(m->batch->ctx, m);
}

void
chan_msg_start(const struct chan_msg *m)
{
	if (m->batch != NULL && m->batch->start != NULL)
		m->batch->start(m->batch->ctx);
}

void
chan_msg_idle(const struct chan_msg *m)
{
	if (m->batch != NULL && m->batch->idle != NULL)
		m->batch->idle(m->batch->ctx);
}

void
chan_msg_peer(const struct chan_msg *m, const char *provider, bool ok,
    int64_t ms)
{
	if (m->batch != NULL && m->batch->peer != NULL)
		m->batch->peer(m->batch->ctx, provider, ok, ms);
}

int64_t
chan_msg_left_ms(const struct chan_msg *m)
{
	if (m->batch == NULL || m->batch->deadline_ms == 0)
		return INT64_MAX;
	return m->batch->deadline_ms - base_mono_ms();
}

bool
chan_msg_late(const struct chan_msg *m)
{
	return chan_msg_left_ms(m) <= 0;
}

void
chan_msg_untried(struct chan_msg *m, const char *reason)
{
	for (size_t j = 0; j < m->nrcpts; j++) {
		struct chan_rcpt *r = &m->rcpts[j];

		if (r->status != CHAN_SENT || r->reason[0] != '\0' ||
		    r->ref[0] != '\0')
			continue;
		chan_rcpt_set(r, CHAN_TEMPFAIL, "%s", reason);
		r->untried = true;
	}
}
