/*
 * listen.h: the HTTP listener of `tocsin serve` (gateway.listen).
 *
 * It takes providers' delivery receipts and replies, serves the ack
 * links (GET shows, POST acknowledges), the desk board at /desk to the
 * operators of gateway.desk_tokens (desk.h) and, to this host alone,
 * /metrics and /healthz.  It speaks plain HTTP on
 * the configured address: Debian's libmicrohttpd is built on GnuTLS, and
 * TLS is meant to end in front of it (a reverse proxy holding the
 * certificate of gateway.public_url), as the README says.
 */
#ifndef LISTEN_H
#define LISTEN_H

#include "channel.h"
#include "policy.h"
#include "tocsin.h"

struct listen_ctx;

/* A channel whose receipts the listener takes, with its shared state. */
struct listen_channel {
	const struct chan_ops *ops;
	void *shared;
};

struct log_sink;
struct metrics;

/*
 * Start listening on repo->gateway.listen in a thread of its own, with a
 * store connection of its own.  metrics (serve's, may be NULL) is served
 * at /metrics and /healthz to clients on this host, by a thread with a
 * store connection of its own again (monitor.h).  *ret is owned by the
 * caller: listen_stop().  TOCSIN_EUNAVAIL when the address cannot be
 * bound.
 */
int listen_start(const struct policy_repo *repo,
    const struct listen_channel *chans, size_t nchans, struct log_sink *log,
    struct metrics *metrics, struct listen_ctx **ret,
    struct tocsin_err *err);
void listen_stop(struct listen_ctx *l);

#endif
