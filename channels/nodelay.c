/*
 * nodelay.c: TCP_NODELAY on every TCP connection this process opens.
 *
 * libesmtp makes its sockets itself and offers no hook to set options on
 * them.  An SMTP client writes a message and then waits for the reply to
 * its final ".", so Nagle's algorithm holds that last short segment until
 * the server's delayed ACK comes (40 ms on Linux): 40 ms per message, the
 * larger part of a fan-out's time on loopback (bench/bench_dispatch.py).
 * Defining connect() in the executable takes precedence over the C
 * library's for the shared libraries too (ELF symbol interposition); this
 * one calls the C library's and sets TCP_NODELAY on TCP sockets.  Every
 * TCP peer of tocsin speaks a request/response protocol, where Nagle only
 * ever adds latency.  The SMTP client is also told the socket (its
 * "quick ACKs", mailer.c).
 */
#include <dlfcn.h>
#include <stddef.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "mailer.h"

int connect(int fd, const struct sockaddr *addr, socklen_t len);

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	/* Looked up on every call: no state kept, and it is cheap next to
	   a connection. */
	int (*real)(int, const struct sockaddr *, socklen_t) =
	    (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT,
	    "connect");
	int type = 0, one = 1;
	socklen_t tl = sizeof(type);

	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	if (addr != NULL && (addr->sa_family == AF_INET ||
	    addr->sa_family == AF_INET6) &&
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
	    type == SOCK_STREAM) {
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		mailer_note_connect(fd);
	}
	return real(fd, addr, len);
}
