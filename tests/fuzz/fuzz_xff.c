/*
 * fuzz_xff.c: an X-Forwarded-For line is outside input (the client writes
 * all of it but the trusted proxy's last element).  Whatever the bytes,
 * nothing is read past the length, and what is believed is a terminated
 * numeric address that inet_pton accepts, in the one spelling (written
 * again, it is the same text).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "xff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[XFF_ADDR_MAX], again[XFF_ADDR_MAX];
	unsigned char ip[16];
	char *buf;

	/* an exact-size copy, so that a read past size is caught */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	if (xff_last(buf, size, out, sizeof(out)) == 0) {
		if (strlen(out) >= sizeof(out) ||
		    (inet_pton(AF_INET, out, ip) != 1 &&
		    inet_pton(AF_INET6, out, ip) != 1))
			abort();
		if (base_ip_canon(out, again, sizeof(again)) != 0 ||
		    strcmp(again, out) != 0)
			abort();
	} else if (out[0] != '\0')
		abort();
	free(buf);
	return 0;
}
