/*
 * xff.c: the last address of an X-Forwarded-For line (see xff.h).
 *
 * Pure: no allocation, reads only the len bytes it is given, and believes
 * nothing but a numeric address that inet_pton accepts, so that a client
 * cannot slip a name, a port or a second address past it.  The address is
 * given back in base_ip_canon's spelling, the one the listener prints its
 * peers in.
 */
#include <string.h>

#include "base.h"
#include "xff.h"

int
xff_last(const char *line, size_t len, char *out, size_t outlen)
{
	char cand[XFF_ADDR_MAX];
	size_t start, end;

	if (outlen > 0)
		out[0] = '\0';
	if (line == NULL || len > XFF_MAX_LINE || outlen < XFF_ADDR_MAX)
		return -1;
	end = len;
	start = end;
	while (start > 0 && line[start - 1] != ',')
		start--;
	while (start < end && (line[start] == ' ' || line[start] == '\t'))
		start++;
	while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	if (end == start || end - start >= XFF_ADDR_MAX ||
	    memchr(line + start, '\0', end - start) != NULL)
		return -1;
	memcpy(cand, line + start, end - start);
	cand[end - start] = '\0';
	/* in the spelling the peer addresses have: one client, one slot */
	return base_ip_canon(cand, out, outlen);
}
