/*
 * pinned.h: a TCP connection to a provider's host name, or to its pinned
 * addresses when the name does not resolve, private to channels/.
 *
 * In a DNS incident the gateway may not resolve its own providers.  An
 * entry's `addresses` (policy) are then connected to in order; TLS and
 * host keys stay checked against the configured name by the caller.
 */
#ifndef PINNED_H
#define PINNED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"

/* Whether a getaddrinfo() result means that the name does not resolve
   now (no such name, a DNS failure or no answer), as opposed to a local
   fault. */
bool pinned_unresolved(int gai);

/*
 * Connect to host port port within timeout seconds for each address
 * tried: the name's addresses when it resolves, else the n pinned
 * addresses in order.  what names the peer in messages ("the SMTP
 * server").  On 0, *ret_fd is a connected blocking socket, the caller's
 * to close, and *ret_pinned the pinned address used (one of addresses) or
 * NULL when the name resolved.  TOCSIN_ETEMP with a sentence otherwise.
 */
int pinned_connect(const char *what, const char *host, int port,
    char *const *addresses, size_t n, int64_t timeout, int *ret_fd,
    const char **ret_pinned, struct tocsin_err *err);

#endif
