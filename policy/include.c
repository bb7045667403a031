/*
 * include.c: a pre-scan of the configuration text before libconfig reads it.
 *
 * libconfig 1.5 opens @include paths itself: relative to the current
 * directory, or, with config_set_include_dir(), by gluing the include folder
 * in front of the path, absolute paths included ("/etc/x" becomes
 * "DIR//etc/x").  We set the include folder to the main file's folder, so
 * the pre-scan finds every @include line first and refuses what libconfig
 * would get wrong or report badly: absolute paths, missing files (naming
 * the including file and line, which libconfig may not), cycles, deep
 * nesting.  It also bounds bracket nesting, because libconfig frees its tree
 * recursively, and reports two things libconfig lets pass silently: integers
 * that it would wrap into 32 bits, and settings not ended with ';'.  The
 * scan follows libconfig's lexical rules (comments, strings, names,
 * numbers, "@include at the start of a line") and tracks only as much
 * structure as the ';' check needs; libconfig still does the parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "policy_int.h"

static bool
policy_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
policy_is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*';
}

static bool
policy_is_name_char(char c)
{
	return policy_is_name_start(c) || policy_is_digit(c) || c == '-' ||
	    c == '_';
}

static bool
policy_is_hex(char c)
{
	return policy_is_digit(c) || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/*
 * libconfig 1.5 reads an integer without the L suffix into 32 bits and
 * silently wraps it (4294967297 becomes 1), which could turn a value far
 * out of range into one that passes the range checks.  Refuse such
 * literals here, where the text is still at hand.
 */
static int
policy_scan_number(struct policy_ctx *ctx, struct policy_src src,
    const char **pp, const char *end)
{
	const char *p = *pp, *start = *pp;
	unsigned long long v = 0;
	bool big = false, hex = false;

	if (*p == '-' || *p == '+')
		p++;
	if (p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		hex = true;
		for (p += 2; p < end && policy_is_hex(*p); p++) {
			int d = base_hexval((unsigned char)*p);

			v = v * 16 + (unsigned)d;
			if (v > 0x7fffffff) {
				big = true;
				v = 0x80000000ULL;
			}
		}
	} else {
		for (; p < end && policy_is_digit(*p); p++) {
			v = v * 10 + (unsigned)(*p - '0');
			if (v > 0x7fffffff) {
				big = true;
				v = 0x80000000ULL;
			}
		}
	}
	if (!hex && p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
		/* A float: libconfig reads those as doubles. */
		while (p < end && (policy_is_digit(*p) || *p == '.' ||
		    *p == 'e' || *p == 'E' || *p == '-' || *p == '+'))
			p++;
		*pp = p;
		return 0;
	}
	if (p < end && *p == 'L') {
		/* 64-bit: "L" or "LL" */
		p++;
		if (p < end && *p == 'L')
			p++;
		*pp = p;
		return 0;
	}
	*pp = p;
	if (big) {
		char q[POLICY_QUOTE_LEN];
		size_t n = (size_t)(p - start);
		char *lit = policy_xstrndup(start, n);

		policy_err_at(ctx, src, "integer %s is out of range (this "
		    "libconfig reads integers into 32 bits and would wrap it); "
		    "use a value the setting allows",
		    policy_quote(q, sizeof(q), lit));
		free(lit);
		return -1;
	}
	return 0;
}

/* Token kinds the pre-scan tells apart. */
enum policy_tok { TOK_NAME, TOK_SCALAR, TOK_STRING, TOK_ASSIGN, TOK_SEP,
	TOK_OPEN_GROUP, TOK_OPEN_LIST, TOK_CLOSE, TOK_INCLUDE, TOK_OTHER };

/* What a bracket level holds, and where it is in a setting. */
enum policy_lvl { LVL_SETTINGS, LVL_VALUES };
enum policy_st { ST_NAME, ST_ASSIGN, ST_VALUE, ST_AFTER };

struct policy_level {
	enum policy_lvl kind;
	enum policy_st st;
	int value_line;			/* where the last value ended */
	char name[40];			/* the setting, for messages */
};

struct policy_scan {
	struct policy_ctx *ctx;
	const char *file;
	struct policy_level lvl[POLICY_MAX_NESTING + 1];
	int depth;
	int rc;
};

/* A value ended at line: the setting it belongs to waits for ';'. */
static void
policy_scan_value_done(struct policy_scan *sc, int line)
{
	struct policy_level *l = &sc->lvl[sc->depth];

	if (l->kind == LVL_SETTINGS && (l->st == ST_VALUE ||
	    l->st == ST_AFTER)) {
		l->st = ST_AFTER;
		l->value_line = line;
	}
}

/*
 * libconfig 1.5 lets a setting end without ';' or ',', so "a = 1" on one
 * line and "b = 2" on the next parse as two settings, and so does a lost
 * separator in the middle of a line.  The house format always writes the
 * ';': a setting followed by another setting without one is an error here
 * (before '}' or at the end of the file it is harmless and let be).
 */
static int
policy_scan_token(struct policy_scan *sc, enum policy_tok t, const char *tok,
    size_t toklen, int line)
{
	struct policy_level *l = &sc->lvl[sc->depth];
	struct policy_src src;
	char q[POLICY_QUOTE_LEN];

	if (l->kind == LVL_SETTINGS && l->st == ST_AFTER) {
		if (t == TOK_STRING)		/* "a" "b" is one string */
			return 0;
		if (t == TOK_SEP) {
			l->st = ST_NAME;
			return 0;
		}
		if (t == TOK_NAME || t == TOK_INCLUDE) {
			src.file = sc->file;
			src.line = l->value_line;
			policy_err_at(sc->ctx, src, "setting %s is not ended "
			    "with ';' before the next setting; add ';' at the "
			    "end of its value", policy_quote(q, sizeof(q),
			    l->name));
		}
		l->st = ST_NAME;
	}
	switch (t) {
	case TOK_OPEN_GROUP:
	case TOK_OPEN_LIST:
		if (sc->depth >= POLICY_MAX_NESTING) {
			src.file = sc->file;
			src.line = line;
			policy_err_at(sc->ctx, src, "brackets nested deeper "
			    "than %d; the configuration has no such depth: "
			    "look for a missing closing bracket",
			    POLICY_MAX_NESTING);
			return -1;
		}
		l = &sc->lvl[++sc->depth];
		memset(l, 0, sizeof(*l));
		l->kind = t == TOK_OPEN_GROUP ? LVL_SETTINGS : LVL_VALUES;
		l->st = ST_NAME;
		return 0;
	case TOK_CLOSE:
		/* Unbalanced closers are libconfig's to report. */
		if (sc->depth > 0)
			sc->depth--;
		policy_scan_value_done(sc, line);
		return 0;
	default:
		break;
	}
	if (l->kind != LVL_SETTINGS)
		return 0;
	switch (l->st) {
	case ST_NAME:
		if (t == TOK_NAME) {
			size_t n = toklen < sizeof(l->name) - 1 ? toklen :
			    sizeof(l->name) - 1;

			memcpy(l->name, tok, n);
			l->name[n] = '\0';
			l->st = ST_ASSIGN;
		}
		break;
	case ST_ASSIGN:
		l->st = t == TOK_ASSIGN ? ST_VALUE : ST_NAME;
		break;
	case ST_VALUE:
		if (t == TOK_NAME || t == TOK_SCALAR || t == TOK_STRING)
			policy_scan_value_done(sc, line);
		else
			l->st = ST_NAME;
		break;
	default:
		break;
	}
	return 0;
}

/*
 * A line that starts with @include (after blanks): its path goes to fn.
 * Returns where the scan goes on, or NULL when the line at p is not an
 * @include line.
 */
static const char *
policy_scan_include(struct policy_scan *sc, const char *p, const char *end,
    int line, policy_include_fn fn, void *arg)
{
	struct policy_src src = { sc->file, line };
	const char *q = p, *s, *e;

	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if ((size_t)(end - q) <= 8 || memcmp(q, "@include", 8) != 0 ||
	    (q[8] != ' ' && q[8] != '\t'))
		return NULL;
	(void)policy_scan_token(sc, TOK_INCLUDE, q, 8, line);
	q += 8;
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q >= end || *q != '"')
		return q;	/* libconfig reports the syntax. */
	s = ++q;
	while (q < end && *q != '"' && *q != '\n' && *q != '\\' && *q != '\0')
		q++;
	e = q;
	if (q >= end || *q != '"') {
		policy_err_at(sc->ctx, src, "@include path is not one plain "
		    "quoted string; write @include \"file\" without escapes");
		sc->rc = -1;
	} else if (e - s > POLICY_MAX_VALUE) {
		policy_err_at(sc->ctx, src, "@include path is too long; "
		    "shorten it");
		sc->rc = -1;
	} else if (fn == NULL) {
		policy_err_at(sc->ctx, src, "@include is not allowed here; load "
		    "the configuration from a file");
		sc->rc = -1;
	} else {
		char *path = policy_xstrndup(s, (size_t)(e - s));

		if (fn(sc->ctx, sc->file, line, path, arg) != 0)
			sc->rc = -1;
		free(path);
	}
	return q < end ? q + 1 : q;
}

/* Past the comment at p ('#', "//" or a block comment), counting the
   lines of a block comment in *line; NULL when p starts no comment. */
static const char *
policy_scan_comment(const char *p, const char *end, int *line)
{
	if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/')) {
		while (p < end && *p != '\n')
			p++;
		return p;
	}
	if (*p != '/' || p + 1 >= end || p[1] != '*')
		return NULL;
	for (p += 2; p < end; p++) {
		if (*p == '\n')
			(*line)++;
		else if (*p == '*' && p + 1 < end && p[1] == '/')
			break;
	}
	return p < end ? p + 2 : end;
}

/* Past the string that starts at p, counting its lines in *line: strings
   may span lines in libconfig 1.5. */
static const char *
policy_scan_string(const char *p, const char *end, int *line)
{
	for (p++; p < end && *p != '"'; p++) {
		if (*p == '\\' && p + 1 < end)
			p++;
		if (*p == '\n')
			(*line)++;
	}
	return p < end ? p + 1 : p;
}

/* The token of a one-character bracket or separator; false for others. */
static bool
policy_scan_punct(char c, enum policy_tok *ret)
{
	switch (c) {
	case '{':
		*ret = TOK_OPEN_GROUP;
		return true;
	case '(':
	case '[':
		*ret = TOK_OPEN_LIST;
		return true;
	case '}':
	case ')':
	case ']':
		*ret = TOK_CLOSE;
		return true;
	case '=':
	case ':':
		*ret = TOK_ASSIGN;
		return true;
	case ';':
	case ',':
		*ret = TOK_SEP;
		return true;
	default:
		return false;
	}
}

/* A name, a number or another character at *pp, which moves past it. */
static int
policy_scan_word(struct policy_scan *sc, const char **pp, const char *end,
    int line)
{
	struct policy_src src = { sc->file, line };
	const char *p = *pp, *tok = *pp;
	char c = *p;
	int rc;

	if (policy_is_name_start(c)) {
		/* A setting name may hold digits: skip it whole so they are
		   not read as a number. */
		while (p < end && policy_is_name_char(*p))
			p++;
		rc = policy_scan_token(sc, TOK_NAME, tok, (size_t)(p - tok),
		    line);
	} else if (policy_is_digit(c) || ((c == '-' || c == '+' ||
	    c == '.') && p + 1 < end && policy_is_digit(p[1]))) {
		/* Out of range is reported, not fatal: the parse goes on
		   and finds more. */
		(void)policy_scan_number(sc->ctx, src, &p, end);
		if (p == tok)	/* cannot happen; never stall */
			p++;
		rc = policy_scan_token(sc, TOK_SCALAR, tok, 1, line);
	} else {
		rc = policy_scan_token(sc, TOK_OTHER, p, 1, line);
		p++;
	}
	*pp = p;
	return rc;
}

int
policy_prescan(struct policy_ctx *ctx, const char *file, const char *text,
    size_t len, policy_include_fn fn, void *arg)
{
	const char *p = text, *end = text + len, *next;
	struct policy_scan *sc;
	enum policy_tok t;
	bool line_start = true;
	int line = 1, rc = 0;

	sc = policy_xcalloc(1, sizeof(*sc));
	sc->ctx = ctx;
	sc->file = file;
	sc->lvl[0].kind = LVL_SETTINGS;
	sc->lvl[0].st = ST_NAME;
	while (p < end && rc == 0) {
		const char *tok = p;

		if (line_start) {
			line_start = false;
			next = policy_scan_include(sc, p, end, line, fn, arg);
			if (next != NULL) {
				p = next;
				continue;
			}
		}
		if (*p == '\n') {
			line++;
			line_start = true;
			p++;
		} else if ((next = policy_scan_comment(p, end, &line)) != NULL)
			p = next;
		else if (*p == '"') {
			p = policy_scan_string(p, end, &line);
			rc = policy_scan_token(sc, TOK_STRING, tok, 1, line);
		} else if (policy_scan_punct(*p, &t)) {
			rc = policy_scan_token(sc, t, p, 1, line);
			p++;
		} else if (*p == ' ' || *p == '\t' || *p == '\r' ||
		    *p == '\f' || *p == '\v')
			p++;
		else
			rc = policy_scan_word(sc, &p, end, line);
	}
	if (rc == 0)
		rc = sc->rc;
	free(sc);
	return rc;
}

/* The chain of files being scanned, for cycles and depth. */
struct policy_incstate {
	const char *stack[POLICY_MAX_INCLUDE_DEPTH + 2];
	int depth;
	int count;
};

/* Read a whole file, bounded.  Returns 0, or an errno value. */
static int
policy_read_all(const char *path, char **ret, size_t *retlen)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	ssize_t r;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return errno;
	if (fstat(fd, &st) != 0) {
		e = errno;
		(void)close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)close(fd);
		return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	}
	if (st.st_size > POLICY_MAX_FILE) {
		(void)close(fd);
		return EFBIG;
	}
	buf = policy_xcalloc((size_t)st.st_size + 1, 1);
	while (len < (size_t)st.st_size) {
		r = read(fd, buf + len, (size_t)st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			free(buf);
			(void)close(fd);
			return e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	(void)close(fd);
	buf[len] = '\0';
	*ret = buf;
	*retlen = len;
	return 0;
}

static int policy_prescan_one(struct policy_ctx *ctx, const char *abs,
    struct policy_incstate *st);

static int
policy_on_include(struct policy_ctx *ctx, const char *file, int line,
    const char *path, void *arg)
{
	struct policy_incstate *st = arg;
	struct policy_src src = { file, line };
	const char *base = ctx->repo->base_dir;
	char q[POLICY_QUOTE_LEN];
	char *abs;
	size_t n;
	int rc;

	if (path[0] == '\0') {
		policy_err_at(ctx, src, "@include with an empty path; name a "
		    "file relative to %s", base);
		return -1;
	}
	if (path[0] == '/') {
		/* libconfig would glue the include folder in front of it and
		   read another file than the one named, or none. */
		policy_err_at(ctx, src, "@include of absolute path %s is not "
		    "supported; write the path relative to the main file's "
		    "folder %s", policy_quote(q, sizeof(q), path), base);
		return -1;
	}
	if (st->depth >= POLICY_MAX_INCLUDE_DEPTH) {
		policy_err_at(ctx, src, "@include nested deeper than %d files; "
		    "include the files from the main file instead",
		    POLICY_MAX_INCLUDE_DEPTH);
		return -1;
	}
	if (++st->count > POLICY_MAX_INCLUDES) {
		policy_err_at(ctx, src, "more than %d @include lines in all; "
		    "merge some of the files", POLICY_MAX_INCLUDES);
		return -1;
	}
	n = strlen(base) + strlen(path) + 2;
	abs = policy_xcalloc(n, 1);
	(void)snprintf(abs, n, "%s/%s", base, path);
	for (int i = 0; i < st->depth; i++)
		if (strcmp(st->stack[i], abs) == 0) {
			policy_err_at(ctx, src, "@include of %s includes a file "
			    "that is already being read (an include cycle); "
			    "remove this @include",
			    policy_quote(q, sizeof(q), path));
			free(abs);
			return -1;
		}
	rc = policy_prescan_one(ctx, abs, st);
	if (rc > 0) {
		policy_err_at(ctx, src, "cannot read included file %s: %s; fix "
		    "the @include path (relative to %s, the main file's "
		    "folder)", abs, strerror(rc), base);
		rc = -1;
	}
	free(abs);
	return rc;
}

/* Returns 0, -1 after reporting, or an errno value when abs cannot be read
   (the caller reports it, at the @include line). */
static int
policy_prescan_one(struct policy_ctx *ctx, const char *abs,
    struct policy_incstate *st)
{
	const char *file;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = policy_read_all(abs, &text, &len)) != 0)
		return rc;
	file = policy_intern_file(ctx, abs);
	st->stack[st->depth++] = file;
	rc = policy_prescan(ctx, file, text, len, policy_on_include, st);
	st->depth--;
	free(text);
	return rc;
}

int
policy_prescan_files(struct policy_ctx *ctx, const char *main_abs)
{
	struct policy_incstate st;
	struct policy_src src = { NULL, 0 };
	int rc;

	memset(&st, 0, sizeof(st));
	rc = policy_prescan_one(ctx, main_abs, &st);
	if (rc > 0) {
		src.file = policy_intern_file(ctx, main_abs);
		policy_err_at(ctx, src, "cannot read the configuration file: "
		    "%s; check the path given with -c", strerror(rc));
		return -1;
	}
	return rc;
}
