/*
 * form.h: application/x-www-form-urlencoded bodies from outside (provider
 * webhooks), parsed with explicit limits.
 */
#ifndef FORM_H
#define FORM_H

#include <stddef.h>

#define FORM_MAX_BODY (16 * 1024)
#define FORM_MAX_FIELDS 64
#define FORM_MAX_NAME 64
#define FORM_MAX_VALUE 1600

struct form_field {
	char name[FORM_MAX_NAME + 1];
	char value[FORM_MAX_VALUE + 1];
};

struct form {
	struct form_field f[FORM_MAX_FIELDS];
	size_t n;
};

/* Parse len bytes ("+" is a space, %XX a byte).  -1 when the body breaks a
   limit or has a bad escape or a NUL; 0 otherwise. */
int form_parse(const char *body, size_t len, struct form *out);
/* The value of the first field called name, or NULL. */
const char *form_get(const struct form *f, const char *name);

#endif
