/*
 * jsonget.c: a bounded scanner for one top-level member of a JSON object.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base.h"
#include "jsonget.h"
#include "utf8.h"

struct js {
	const unsigned char *p, *end;
	int depth;
};

static void
ws(struct js *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hex4(const unsigned char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int d = base_hexval(p[i]);

		if (d < 0)
			return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/* Append a code point as UTF-8 when out is not NULL. */
static int
put_cp(char *out, size_t outlen, size_t *n, uint32_t cp)
{
	char b[4];
	size_t k = utf8_put(b, cp);

	if (out == NULL)
		return 0;
	if (*n + k + 1 > outlen)
		return -1;
	memcpy(out + *n, b, k);
	*n += k;
	out[*n] = '\0';
	return 0;
}

/* A string at s->p (the opening quote); copied unescaped into out when
   out is not NULL. */
static int
string(struct js *s, char *out, size_t outlen)
{
	size_t n = 0;

	if (out != NULL) {
		if (outlen == 0)
			return -1;
		out[0] = '\0';
	}
	s->p++;
	while (s->p < s->end && *s->p != '"') {
		uint32_t cp = *s->p;

		if (cp < 0x20)
			return -1;
		if (cp == '\\') {
			if (s->end - s->p < 2)
				return -1;
			s->p++;
			switch (*s->p) {
			case '"': cp = '"'; break;
			case '\\': cp = '\\'; break;
			case '/': cp = '/'; break;
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				if (s->end - s->p < 5 || hex4(s->p + 1, &cp))
					return -1;
				s->p += 4;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					uint32_t lo;

					if (s->end - s->p < 7 || s->p[1] != '\\'
					    || s->p[2] != 'u' ||
					    hex4(s->p + 3, &lo) || lo < 0xdc00 ||
					    lo > 0xdfff)
						return -1;
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					    (lo - 0xdc00);
					s->p += 6;
				} else if (cp >= 0xdc00 && cp <= 0xdfff)
					return -1;
				break;
			default:
				return -1;
			}
			s->p++;
			if (put_cp(out, outlen, &n, cp) != 0)
				return -1;
			continue;
		}
		/* Raw bytes are copied as they are (UTF-8 from the peer). */
		if (out != NULL) {
			if (n + 2 > outlen)
				return -1;
			out[n++] = (char)*s->p;
			out[n] = '\0';
		}
		s->p++;
	}
	if (s->p >= s->end)
		return -1;
	s->p++;
	return 0;
}

static int value(struct js *s, char *out, size_t outlen);

static int
literal(struct js *s, char *out, size_t outlen)
{
	const unsigned char *start = s->p;
	size_t n;

	if (*s->p == 't' || *s->p == 'f' || *s->p == 'n') {
		static const char *const words[] = { "true", "false", "null" };
		bool ok = false;

		for (int i = 0; i < 3 && !ok; i++) {
			size_t l = strlen(words[i]);

			if ((size_t)(s->end - s->p) >= l &&
			    memcmp(s->p, words[i], l) == 0) {
				s->p += l;
				ok = true;
			}
		}
		if (!ok)
			return -1;
	} else {
		/* -?digits[.digits][e[+-]digits] */
		if (s->p < s->end && *s->p == '-')
			s->p++;
		if (s->p >= s->end || *s->p < '0' || *s->p > '9')
			return -1;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
		if (s->p < s->end && *s->p == '.') {
			s->p++;
			if (s->p >= s->end || *s->p < '0' || *s->p > '9')
				return -1;
			while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
				s->p++;
		}
		if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
			s->p++;
			if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
				s->p++;
			if (s->p >= s->end || *s->p < '0' || *s->p > '9')
				return -1;
			while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
				s->p++;
		}
	}
	n = (size_t)(s->p - start);
	if (out != NULL) {
		if (n + 1 > outlen)
			return -1;
		memcpy(out, start, n);
		out[n] = '\0';
	}
	return 0;
}

static int
container(struct js *s)
{
	unsigned char close = *s->p == '{' ? '}' : ']';
	bool obj = close == '}';

	if (++s->depth > JSONGET_MAX_DEPTH)
		return -1;
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		ws(s);
		if (obj) {
			if (s->p >= s->end || *s->p != '"' ||
			    string(s, NULL, 0) != 0)
				return -1;
			ws(s);
			if (s->p >= s->end || *s->p != ':')
				return -1;
			s->p++;
		}
		if (value(s, NULL, 0) != 0)
			return -1;
		ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ',') {
			s->p++;
			continue;
		}
		if (*s->p != close)
			return -1;
		s->p++;
		s->depth--;
		return 0;
	}
}

static int
value(struct js *s, char *out, size_t outlen)
{
	ws(s);
	if (s->p >= s->end)
		return -1;
	if (*s->p == '"')
		return string(s, out, outlen);
	if (*s->p == '{' || *s->p == '[') {
		if (out != NULL && outlen > 0)
			out[0] = '\0';
		return container(s);
	}
	return literal(s, out, outlen);
}

static int
jsonget_scan(const char *buf, size_t len, const char *key, char *out,
    size_t outlen)
{
	struct js s = { (const unsigned char *)buf,
	    (const unsigned char *)buf + len, 1 };
	char name[256];
	int found = 0;

	if (buf == NULL || len > JSONGET_MAX_LEN || outlen == 0)
		return -1;
	out[0] = '\0';
	ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return -1;
	s.p++;
	ws(&s);
	if (s.p < s.end && *s.p == '}') {
		s.p++;
		goto tail;
	}
	for (;;) {
		bool want;

		ws(&s);
		if (s.p >= s.end || *s.p != '"' ||
		    string(&s, name, sizeof(name)) != 0)
			return -1;
		ws(&s);
		if (s.p >= s.end || *s.p != ':')
			return -1;
		s.p++;
		/* The first occurrence of a duplicated member wins. */
		want = !found && strcmp(name, key) == 0;
		if (value(&s, want ? out : NULL, outlen) != 0)
			return -1;
		if (want)
			found = 1;
		ws(&s);
		if (s.p >= s.end)
			return -1;
		if (*s.p == ',') {
			s.p++;
			continue;
		}
		if (*s.p != '}')
			return -1;
		s.p++;
		break;
	}
tail:
	ws(&s);
	if (s.p != s.end) {
		out[0] = '\0';
		return -1;
	}
	if (!found)
		out[0] = '\0';
	return found;
}

int
jsonget(const char *buf, size_t len, const char *key, char *out,
    size_t outlen)
{
	int rc;

	if (out == NULL || outlen == 0)
		return -1;
	/* Nothing of a document that failed half-way is handed out. */
	if ((rc = jsonget_scan(buf, len, key, out, outlen)) < 0)
		out[0] = '\0';
	return rc;
}
