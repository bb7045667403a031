/*
 * listen.c: the HTTP listener (see listen.h).
 *
 * libmicrohttpd runs every callback in its one internal thread, so the
 * listener's store connection is used by that thread alone.  Bodies are
 * bounded; only POST to a channel's receipt path is served.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "form.h"
#include "listen.h"
#include "store.h"

#define LISTEN_MAX_BODY FORM_MAX_BODY

struct listen_ctx {
	const struct policy_repo *repo;
	const struct listen_channel *chans;
	size_t nchans;
	FILE *log;
	struct store *st;
	struct MHD_Daemon *d;
	char base[1024];		/* public_url, ending in "/" */
};

struct listen_req {
	char *body;
	size_t len;
	bool too_big;
};

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text),
	    (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, "Content-Type",
	    "text/plain; charset=utf-8");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static void
listen_log(struct listen_ctx *l, const char *fmt, const char *a,
    const char *b)
{
	if (l->log == NULL)
		return;
	fprintf(l->log, "tocsin serve: ");
	fprintf(l->log, fmt, a, b);
	fputc('\n', l->log);
	fflush(l->log);
}

static enum MHD_Result
receipt(struct listen_ctx *l, struct MHD_Connection *c, const char *url,
    const struct listen_req *rq)
{
	for (size_t i = 0; i < l->nchans; i++) {
		const struct chan_ops *ops = l->chans[i].ops;
		size_t pl = strlen(ops->receipt_path);
		struct chan_receipt rec;
		struct tocsin_err err = { 0 };
		char full[1400];
		const char *sig;
		int rc, changed = 0;

		if (strncmp(url + 1, ops->receipt_path, pl) != 0)
			continue;
		/* The provider signed the public URL it was given. */
		snprintf(full, sizeof(full), "%s%s", l->base, url + 1);
		sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    "X-Twilio-Signature");
		rc = ops->receipt(l->chans[i].shared, url + 1 + pl, full,
		    rq->body != NULL ? rq->body : "", rq->len, sig, &rec, &err);
		if (rc == TOCSIN_EPERM) {
			listen_log(l, "refused a receipt for %s: %s", url + 1,
			    err.msg);
			return reply(c, MHD_HTTP_FORBIDDEN, "bad signature\n");
		}
		if (rc == TOCSIN_ENOTFOUND)
			return reply(c, MHD_HTTP_NOT_FOUND, "no such provider\n");
		if (rc != 0)
			return reply(c, MHD_HTTP_BAD_REQUEST, "bad receipt\n");
		if (!rec.final)
			return reply(c, MHD_HTTP_OK, "noted\n");
		if (store_receipt(l->st, rec.ref, rec.delivered, rec.detail,
		    (int64_t)time(NULL), &changed, &err) != 0) {
			listen_log(l, "cannot record a receipt: %s%s", err.msg,
			    "");
			/* the provider tries again later */
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "try again\n");
		}
		return reply(c, MHD_HTTP_OK, changed ? "recorded\n" :
		    "no such delivery\n");
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct listen_ctx *l = cls;
	struct listen_req *rq = *con_cls;

	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->len + *upload_size > LISTEN_MAX_BODY)
			rq->too_big = true;
		else {
			char *nb = realloc(rq->body, rq->len + *upload_size +
			    1);

			if (nb == NULL)
				return MHD_NO;
			rq->body = nb;
			memcpy(rq->body + rq->len, upload, *upload_size);
			rq->len += *upload_size;
			rq->body[rq->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST only\n");
	if (rq->too_big)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "too large\n");
	if (url == NULL || url[0] != '/' || strlen(url) > 256)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found\n");
	return receipt(l, c, url, rq);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct listen_req *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq != NULL) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

/* "host:port" or "[v6]:port" into a socket address. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, struct tocsin_err *err)
{
	char host[128];
	const char *colon = strrchr(s, ':');
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return tocsin_fail(err, TOCSIN_ECONFIG, "gateway.listen %s is "
		    "not HOST:PORT", s);
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
		return tocsin_fail(err, TOCSIN_ECONFIG, "gateway.listen %s has a "
		    "bad port", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return tocsin_fail(err, TOCSIN_ECONFIG, "gateway.listen "
			    "%s is not an address", s);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return tocsin_fail(err, TOCSIN_ECONFIG, "gateway.listen "
			    "%s: give a numeric address, e.g. 127.0.0.1:8025", s);
	}
	return 0;
}

int
listen_start(const struct policy_repo *repo,
    const struct listen_channel *chans, size_t nchans, FILE *log,
    struct listen_ctx **ret, struct tocsin_err *err)
{
	struct listen_ctx *l;
	struct sockaddr_storage ss;
	size_t n;
	int rc;

	*ret = NULL;
	if ((rc = parse_listen(repo->gateway.listen, &ss, err)) != 0)
		return rc;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	l->repo = repo;
	l->chans = chans;
	l->nchans = nchans;
	l->log = log;
	n = strlen(repo->gateway.public_url);
	snprintf(l->base, sizeof(l->base), "%s%s", repo->gateway.public_url,
	    n > 0 && repo->gateway.public_url[n - 1] == '/' ? "" : "/");
	if ((rc = store_open(repo->gateway.store, &l->st, err)) != 0) {
		free(l);
		return rc;
	}
	l->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    0, NULL, NULL, handler, l,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, l,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)256,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
	    MHD_OPTION_END);
	if (l->d == NULL) {
		store_close(l->st);
		free(l);
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "cannot listen on %s "
		    "(gateway.listen): the address is in use or not this "
		    "host's", repo->gateway.listen);
	}
	*ret = l;
	return 0;
}

void
listen_stop(struct listen_ctx *l)
{
	if (l == NULL)
		return;
	MHD_stop_daemon(l->d);
	store_close(l->st);
	free(l);
}
