/*
 * channel.c: the registry of channel drivers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <auth-client.h>

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
chan_rcpt_set(struct chan_rcpt *r, enum chan_status st, const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	va_start(ap, fmt);
	(void)vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
}
