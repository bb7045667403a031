/*
 * fuzz_mo.c: a compiled catalog is read from a folder any package or
 * operator may fill, so its bytes are outside input.  Whatever they are,
 * nothing is read past the length, and every translation kept is valid
 * UTF-8 without controls whose placeholders are its msgid's: a lookup
 * then returns it whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tocsin_err err = { 0 };
	struct i18n_mo *mo = NULL;
	unsigned char *buf;
	static const char *const ids[] = { "Goodbye.", "Your code is {digits}.",
		"a", "", "{x}{y}" };

	/* an exact-size copy, so that a read past size is caught */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	if (i18n_mo_parse(buf, size, &mo, &err) == 0) {
		/* nothing of the file is kept */
		memset(buf, 0, size);
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
			const char *t = i18n_mo_get(mo, ids[i]);

			if (t != NULL && (!utf8_valid(t, strlen(t)) ||
			    strlen(t) > I18N_STRING_MAX))
				abort();
		}
		if (i18n_mo_count(mo) > I18N_STRINGS_MAX)
			abort();
		i18n_mo_free(mo);
	} else if (err.msg[0] == '\0')
		abort();
	free(buf);
	return 0;
}
