/*
 * ipaddr.c: one spelling for an IP address (base.h).  The listener keys
 * its rate table, its log and its trust in a proxy on an address's text,
 * and IPv6 has many texts for one address ("::1", "0:0::1", "::0001",
 * upper-case hex) and a second form for every IPv4 peer of a dual-stack
 * socket ("::ffff:192.0.2.7").  A configured trusted_proxy written one
 * way never matched a peer printed another way, so the proxy was not
 * trusted: its clients shared one rate limit, and a proxy on the loopback
 * reached the monitor pages meant for this host.  Everything compared is
 * put through here first.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base.h"

int
base_ip_text(int family, const void *addr, char *out, size_t outlen)
{
	const struct in6_addr *a6 = addr;

	if (outlen > 0)
		out[0] = '\0';
	if (outlen < BASE_IP_TEXT_MAX)
		return -1;
	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(a6))
		return inet_ntop(AF_INET, &a6->s6_addr[12], out,
		    (socklen_t)outlen) != NULL ? 0 : -1;
	if (family != AF_INET && family != AF_INET6)
		return -1;
	return inet_ntop(family, addr, out, (socklen_t)outlen) != NULL ? 0 :
	    -1;
}

int
base_ip_canon(const char *in, char *out, size_t outlen)
{
	unsigned char ip[sizeof(struct in6_addr)];

	if (outlen > 0)
		out[0] = '\0';
	if (in == NULL)
		return -1;
	if (inet_pton(AF_INET, in, ip) == 1)
		return base_ip_text(AF_INET, ip, out, outlen);
	if (inet_pton(AF_INET6, in, ip) == 1)
		return base_ip_text(AF_INET6, ip, out, outlen);
	return -1;
}
