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

static const struct chan_ops *const chan_table[] = {
	&chan_pgp_email,
	&chan_sms,
	&chan_voice,
	&chan_fax,
	&chan_sshdrop,
	NULL
};

const struct chan_ops *
chan_find(const char *name)
{
	for (size_t i = 0; chan_table[i] != NULL; i++)
		if (strcmp(chan_table[i]->name, name) == 0)
			return chan_table[i];
	return NULL;
}

const struct chan_ops *const *
chan_all(void)
{
	return chan_table;
}

int
chan_global_init(struct tocsin_err *err)
{
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
