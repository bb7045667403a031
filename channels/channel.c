/*
 * channel.c: the registry of channel drivers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

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
	return 0;
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

int64_t
chan_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	return m->batch->deadline_ms - chan_now_ms();
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
