/*
 * buf.c: the bounded growable buffer and array growth (base.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "tocsin.h"

void
base_buf_init(struct base_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	/* the NUL must fit a size_t too */
	b->limit = limit < SIZE_MAX ? limit : SIZE_MAX - 1;
}

void
base_buf_put(struct base_buf *b, const char *s, size_t n)
{
	if (b->rc != 0 || b->full)
		return;
	if (n > b->limit - b->len) {
		b->full = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1 && cap <= SIZE_MAX / 2)
			cap *= 2;
		/* never more than the limit can use */
		if (cap > b->limit + 1 || cap < b->len + n + 1)
			cap = b->limit + 1;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->rc = TOCSIN_ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
base_buf_puts(struct base_buf *b, const char *s)
{
	base_buf_put(b, s, strlen(s));
}

void
base_buf_free(struct base_buf *b)
{
	size_t limit = b->limit;

	free(b->p);
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

int
base_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p, *np;

	if (need <= *cap)
		return 0;
	if (elem == 0 || need > BASE_GROW_MAX / elem)
		return TOCSIN_ENOMEM;
	ncap = *cap >= 8 ? *cap : 8;
	while (ncap < need)
		ncap *= 2;
	if (ncap > BASE_GROW_MAX / elem)
		ncap = need;
	/* through memcpy: pp is a T **, which is no void ** to write to */
	memcpy(&p, pp, sizeof(p));
	if ((np = realloc(p, ncap * elem)) == NULL)
		return TOCSIN_ENOMEM;
	memcpy(pp, &np, sizeof(np));
	*cap = ncap;
	return 0;
}
