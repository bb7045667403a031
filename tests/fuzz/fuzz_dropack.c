/*
 * fuzz_dropack.c: the name and the text of an ack file on an SSH drop host
 * are outside input.  Whatever the bytes, a name that parses gives an
 * alert id and a team of 1 to 63 bytes of [A-Za-z0-9-], terminated; the
 * "By:" value is 1 to 100 bytes with no control byte, terminated; and the
 * text is never read past its length (it is copied into a buffer of
 * exactly that size, with no NUL after it, so ASan sees any over-read).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dropack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME_MAX_FUZZ 300

/* s[0..size) holds a NUL, its length is 1..63, its bytes [A-Za-z0-9-]. */
static void
id_ok(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size || n == 0 || n > 63)
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[NAME_MAX_FUZZ + 1], alert[64], team[64], by[128];
	size_t nlen = size < NAME_MAX_FUZZ ? size : NAME_MAX_FUZZ;
	char *text;

	/* the name: a NUL-terminated copy of the first 300 bytes */
	memcpy(name, data, nlen);
	name[nlen] = '\0';
	memset(alert, 0x55, sizeof(alert));
	memset(team, 0x55, sizeof(team));
	if (dropack_name(name, alert, team) == 0) {
		id_ok(alert, sizeof(alert));
		id_ok(team, sizeof(team));
		/* and they are what the name says */
		if (strncmp(name, "alert-", 6) != 0 ||
		    strncmp(name + 6, alert, strlen(alert)) != 0 ||
		    name[6 + strlen(alert)] != '.' ||
		    strncmp(name + 7 + strlen(alert), team, strlen(team)) != 0)
			abort();
		{
			char after = name[7 + strlen(alert) + strlen(team)];

			if (after != '\0' && after != '.')
				abort();
		}
	}

	/* the text: all of it, exactly size bytes, no NUL after */
	if ((text = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(text, data, size);
	memset(by, 0x55, sizeof(by));
	if (dropack_by(text, size, by)) {
		size_t n = strnlen(by, sizeof(by));

		if (n == sizeof(by) || n == 0 || n > 100)
			abort();
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)by[i];

			if (c < 0x20 || c == 0x7f)
				abort();
		}
		if (by[n - 1] == ' ')
			abort();
	}
	free(text);
	return 0;
}
