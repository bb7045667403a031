/*
 * xff.c: the last address of an X-Forwarded-For line (see xff.h).
 *
 * Pure: no allocation, reads only the len bytes it is given, and believes
 * nothing but a numeric address that inet_pton accepts, so that a client
 * cannot slip a name, a port or a second address past it.
 */
#include <arpa/inet.h>
#include <string.h>

#include "xff.h"

int
xff_last(const char *line, size_t len, char *out, size_t outlen)
{
	unsigned char ip[16];
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
	memcpy(out, line + start, end - start);
	out[end - start] = '\0';
	if (inet_pton(AF_INET, out, ip) == 1 ||
	    inet_pton(AF_INET6, out, ip) == 1)
		return 0;
	out[0] = '\0';
	return -1;
}
