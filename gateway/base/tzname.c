/*
 * tzname.c: the one rule for a time-zone name (base.h), used by the
 * configuration check and by the zone reader alike, so that a name the
 * check passes is one the reader opens.  The name is joined to the zone
 * folder to make a path, so the rule is what keeps it inside: the stricter
 * of the two rules there were (the reader's length, the check's shape).
 */
#include <string.h>

#include "base.h"

const char *
base_tzname_check(const char *name)
{
	size_t n;

	if (name == NULL || (n = strlen(name)) == 0)
		return "is empty";
	if (n > BASE_TZNAME_MAX)
		return "is longer than 64 characters";
	/* these two first, as they are the likely attacks */
	if (name[0] == '/')
		return "is an absolute path; write a name like Africa/Nairobi";
	if (strstr(name, "..") != NULL)
		return "has \"..\"; it has a character ('.') that no time "
		    "zone name has";
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '+' ||
		    c == '-' || c == '/'))
			return "has a character that no time zone name has";
	}
	if (name[n - 1] == '/' || strstr(name, "//") != NULL)
		return "is not a relative name like Africa/Nairobi";
	return NULL;
}
