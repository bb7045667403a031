/*
 * pinned.c: connect to a host by its name, or by its pinned addresses
 * when the name does not resolve.
 *
 * The addresses are a fallback, never a preference: while the name
 * resolves they are not used, so a provider that moves is followed.  Only
 * "the name does not resolve" (EAI_NONAME, EAI_AGAIN, EAI_FAIL, EAI_NODATA)
 * turns to them; a name that resolves to addresses that do not answer is
 * reported as such.  Nothing here checks who answered: the callers verify
 * TLS certificates and SSH host keys against the configured name.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pinned.h"

bool
pinned_unresolved(int gai)
{
	return gai == EAI_NONAME || gai == EAI_AGAIN || gai == EAI_FAIL
#ifdef EAI_NODATA
	    || gai == EAI_NODATA
#endif
	    ;
}

/* A socket connected to one of res's addresses within timeout seconds
   each, back in blocking mode; -1 with *last set (an errno) when none. */
static int
pinned_try(const struct addrinfo *res, int64_t timeout, int *last)
{
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(*last);
		int fd, rc;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			*last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			if (errno != EINPROGRESS) {
				*last = errno;
				close(fd);
				continue;
			}
			pfd.fd = fd;
			pfd.events = POLLOUT;
			rc = poll(&pfd, 1, (int)(timeout * 1000));
			if (rc != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR,
			    last, &sl) != 0 || *last != 0) {
				if (rc == 0)
					*last = ETIMEDOUT;
				else if (rc < 0)
					*last = errno;
				close(fd);
				continue;
			}
		}
		/* the libraries that take the socket expect a blocking one */
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
			*last = errno;
			close(fd);
			continue;
		}
		return fd;
	}
	return -1;
}

/* The pinned addresses in order; the first that connects. */
static int
pinned_try_pinned(char *const *addresses, size_t n, const char *svc,
    int64_t timeout, const char **ret_pinned, int *last)
{
	for (size_t i = 0; i < n; i++) {
		struct addrinfo hints = { 0 }, *res = NULL;
		int fd;

		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if (getaddrinfo(addresses[i], svc, &hints, &res) != 0) {
			*last = EINVAL;
			continue;
		}
		fd = pinned_try(res, timeout, last);
		freeaddrinfo(res);
		if (fd >= 0) {
			*ret_pinned = addresses[i];
			return fd;
		}
	}
	return -1;
}

int
pinned_connect(const char *what, const char *host, int port,
    char *const *addresses, size_t n, int64_t timeout, int *ret_fd,
    const char **ret_pinned, struct tocsin_err *err)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	const char *pinned = NULL;
	char svc[8];
	int rc, fd, last = 0;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(svc, sizeof(svc), "%d", port);
	if ((rc = getaddrinfo(host, svc, &hints, &res)) != 0) {
		if (!pinned_unresolved(rc) || n == 0)
			return tocsin_fail(err, TOCSIN_ETEMP, "cannot resolve "
			    "%s %s: %s", what, host, gai_strerror(rc));
		if ((fd = pinned_try_pinned(addresses, n, svc, timeout,
		    &pinned, &last)) < 0)
			return tocsin_fail(err, TOCSIN_ETEMP, "cannot connect "
			    "to %s %s port %d: the name does not resolve (%s) "
			    "and none of its %zu pinned addresses answered: %s",
			    what, host, port, gai_strerror(rc), n,
			    strerror(last));
	} else {
		fd = pinned_try(res, timeout, &last);
		freeaddrinfo(res);
		if (fd < 0)
			return tocsin_fail(err, TOCSIN_ETEMP, "cannot connect "
			    "to %s %s port %d: %s", what, host, port,
			    strerror(last));
	}
	*ret_fd = fd;
	*ret_pinned = pinned;
	return 0;
}
