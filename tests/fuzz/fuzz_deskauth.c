/*
 * fuzz_deskauth.c: the desk board's outside input before sign-in: the
 * Authorization header a client sends (any bytes up to a NUL) and, as
 * a second reading of the same bytes, a token file (written by an
 * operator, read on every request).  Whatever the bytes, what is taken
 * fits its room and is terminated, a name has the file's shape, and a
 * parsed file's operators are named once each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "desk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[DESK_NAME_MAX + 1], token[128];
	struct desk_operator *ops = NULL;
	struct tocsin_err err;
	size_t n = 0;
	char *buf;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (desk_basic_parse(buf, name, token, sizeof(token)) == 0) {
		if (strlen(name) == 0 || strlen(name) > DESK_NAME_MAX ||
		    strlen(token) == 0 || strlen(token) >= sizeof(token))
			abort();
		(void)desk_tokens_match(NULL, 0, name, token);
	}
	/* the file's text as it is, not terminated */
	if (desk_tokens_parse((const char *)data, size, "f", &ops, &n,
	    &err) == 0) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (strcmp(ops[i].name, ops[j].name) == 0)
					abort();
		free(ops);
	} else if (ops != NULL || n != 0)
		abort();
	free(buf);
	return 0;
}
