/*
 * form.c: parsing form-encoded webhook bodies (see form.h).
 */
#include <string.h>

#include "base.h"
#include "form.h"

/* Decode [p, end) into out (max bytes, NUL-terminated). */
static int
decode(const char *p, const char *end, char *out, size_t max)
{
	size_t n = 0;

	while (p < end) {
		int c = (unsigned char)*p;

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;

			if (end - p < 3 || (hi = base_hexval((unsigned char)p[1])) < 0 ||
			    (lo = base_hexval((unsigned char)p[2])) < 0)
				return -1;
			c = hi << 4 | lo;
			p += 2;
		}
		if (c == 0 || n >= max)
			return -1;
		out[n++] = (char)c;
		p++;
	}
	out[n] = '\0';
	return 0;
}

int
form_parse(const char *body, size_t len, struct form *out)
{
	const char *p = body, *end = body + len;

	out->n = 0;
	if (len > FORM_MAX_BODY || (len > 0 && body == NULL))
		return -1;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fe = amp != NULL ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(fe - p));
		struct form_field *f;

		if (fe == p) {		/* an empty pair, as in "a=1&&b=2" */
			p = fe + 1;
			continue;
		}
		if (out->n == FORM_MAX_FIELDS)
			return -1;
		f = &out->f[out->n];
		if (decode(p, eq != NULL ? eq : fe, f->name, FORM_MAX_NAME) != 0
		    || decode(eq != NULL ? eq + 1 : fe, fe, f->value,
		    FORM_MAX_VALUE) != 0)
			return -1;
		out->n++;
		p = amp != NULL ? amp + 1 : end;
	}
	return 0;
}

const char *
form_get(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->f[i].name, name) == 0)
			return f->f[i].value;
	return NULL;
}
