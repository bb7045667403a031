/*
 * xff.h: the client's address in X-Forwarded-For, as the trusted proxy in
 * front of the listener wrote it.
 *
 * A proxy appends the address it saw to whatever the client sent, as a
 * new element of the list or as a header line of its own; so only the
 * last element of the last line is the proxy's word, and everything
 * before it may be forged.  The listener hands over the last line (it
 * walks all of them); this file reads that line's last element.
 */
#ifndef XFF_H
#define XFF_H

#include <stddef.h>

/* Longest header line read; a longer one is not believed. */
#define XFF_MAX_LINE 1024
/* Room for the longest textual IPv6 address and its NUL. */
#define XFF_ADDR_MAX 46

/*
 * The last comma-separated element of line (len bytes, not necessarily
 * NUL-terminated), with spaces and tabs around it trimmed, into out
 * (outlen bytes, at least XFF_ADDR_MAX): 0 when it is an IPv4 or IPv6
 * address in numeric form, written in base_ip_canon's spelling (so
 * "2001:DB8:0::7" is "2001:db8::7" and "::ffff:192.0.2.7" is
 * "192.0.2.7"), -1 otherwise (empty, over XFF_MAX_LINE, a name, a port,
 * brackets, anything else); out is then "".
 */
int xff_last(const char *line, size_t len, char *out, size_t outlen);

#endif
