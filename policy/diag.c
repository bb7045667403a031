/*
 * diag.c: the list of problems a load found, and the allocation policy of
 * policy/.
 *
 * Every item owns its copies of file and text, so the list outlives the
 * repository it was made for (a failed load frees the repository but the
 * caller still prints the list).  Out of memory aborts: the header promises
 * it, and a partial list of problems would hide errors.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "policy_int.h"

static void
policy_oom(void)
{
	/* No logging from library code, but this is the one fatal case. */
	fputs("tocsin: out of memory while reading the configuration\n",
	    stderr);
	abort();
}

void *
policy_xcalloc(size_t n, size_t size)
{
	void *p;

	/* calloc(0) may return NULL; ask for one element so NULL means OOM. */
	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		policy_oom();
	return p;
}

char *
policy_xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		policy_oom();
	return p;
}

char *
policy_xstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = strndup(s, n)) == NULL)
		policy_oom();
	return p;
}

void
policy_diag_init(struct policy_diag *d)
{
	memset(d, 0, sizeof(*d));
}

void
policy_diag_vadd(struct policy_diag *d, enum policy_sev sev, const char *file,
    int line, const char *fmt, va_list ap)
{
	struct policy_diag_item *it;
	char *text;

	if (base_grow(&d->items, &d->cap, d->n + 1, sizeof(*d->items)) != 0)
		policy_oom();
	if (vasprintf(&text, fmt, ap) < 0)
		policy_oom();

	it = &d->items[d->n++];
	it->sev = sev;
	it->file = file != NULL ? policy_xstrdup(file) : NULL;
	it->line = line;
	it->text = text;
	if (sev == POLICY_ERROR)
		d->errors++;
	else
		d->warnings++;
}

void
policy_diag_add(struct policy_diag *d, enum policy_sev sev, const char *file,
    int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	policy_diag_vadd(d, sev, file, line, fmt, ap);
	va_end(ap);
}

void
policy_diag_truncate(struct policy_diag *d, size_t n)
{
	while (d->n > n) {
		struct policy_diag_item *it = &d->items[--d->n];

		if (it->sev == POLICY_ERROR)
			d->errors--;
		else
			d->warnings--;
		free(it->file);
		free(it->text);
	}
}

void
policy_diag_free(struct policy_diag *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->items[i].file);
		free(d->items[i].text);
	}
	free(d->items);
	policy_diag_init(d);
}

/* Position of a file in the load's file list; unknown files sort first. */
static size_t
policy_file_rank(const char *file, char *const *files, size_t nfiles)
{
	if (file == NULL)
		return 0;
	for (size_t i = 0; i < nfiles; i++)
		if (strcmp(files[i], file) == 0)
			return i;
	return 0;
}

struct policy_sort_key {
	size_t rank;
	int line;
	size_t pos;
};

static int
policy_sort_cmp(const void *a, const void *b)
{
	const struct policy_sort_key *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	/* The original position keeps the sort stable. */
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

void
policy_diag_sort(struct policy_diag *d, size_t from, char *const *files,
    size_t nfiles)
{
	size_t n = d->n - from;
	struct policy_diag_item *it = d->items + from, *sorted;
	struct policy_sort_key *keys;

	if (n < 2)
		return;
	keys = policy_xcalloc(n, sizeof(*keys));
	for (size_t i = 0; i < n; i++) {
		keys[i].rank = policy_file_rank(it[i].file, files, nfiles);
		/* Problems of a whole file (line 0) after its lines: the
		   first error shown should point somewhere. */
		keys[i].line = it[i].line > 0 ? it[i].line : INT_MAX;
		keys[i].pos = i;
	}
	qsort(keys, n, sizeof(*keys), policy_sort_cmp);
	sorted = policy_xcalloc(n, sizeof(*sorted));
	for (size_t i = 0; i < n; i++)
		sorted[i] = it[keys[i].pos];
	memcpy(it, sorted, n * sizeof(*sorted));
	free(sorted);
	free(keys);
}

const char *
policy_quote(char *buf, size_t size, const char *s)
{
	size_t o = 0, max;

	if (size < 8) {
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	if (s == NULL)
		s = "";
	/* Room for the quotes, "..." and the NUL. */
	max = size - 6;
	buf[o++] = '"';
	for (; *s != '\0' && o < max; s++) {
		unsigned char c = (unsigned char)*s;

		/* Messages go to terminals and logs: no control bytes. */
		buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (*s != '\0') {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
