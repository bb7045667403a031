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
 *
 * While it reads the files it also finds where the teams list lies (struct
 * policy_teams_plan), so that teams.c can give libconfig the list a slice
 * of teams at a time: libconfig's tree of a large repository is about
 * three times its text.  Anything but the plain shape of the list leaves
 * the plan off and the whole tree is read, as before.
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

/* Where a text's scan is in its top-level teams setting. */
enum policy_ts {
	TS_NONE,		/* not met yet */
	TS_ASSIGN,		/* after the name */
	TS_OPEN,		/* after '=' */
	TS_TEAM,		/* after '(' or ',': a team's '{' must come */
	TS_IN,			/* in a team */
	TS_NEXT,		/* after a team: ',' or ')' */
	TS_AFTER,		/* after ')': ';' or ',' may come */
	TS_SEP,			/* after that */
	TS_DONE,		/* ended, on lines of its own */
	TS_BAD			/* not a shape to read in slices */
};

/* An @include line at the top level of a text: the span libconfig reads
   as the include, and the path in it. */
struct policy_inc_span {
	size_t start, end;
	size_t path, pathlen;
};

/* What the scan of one text found of the teams list (see the top). */
struct policy_layout {
	enum policy_ts ts;
	int nteams_set;		/* top-level settings named teams */
	bool other;		/* any other top-level token */
	size_t start, end;	/* the teams setting, with its ';' */
	char sep;		/* that ';' or ',', or '\0' */
	int end_line;
	struct policy_team_span *teams;
	size_t nteams, cap;
	struct policy_inc_span inc[POLICY_MAX_INCLUDES];
	int ninc;
};

struct policy_scan {
	struct policy_ctx *ctx;
	const char *file;
	const char *text;		/* where offsets count from */
	struct policy_level lvl[POLICY_MAX_NESTING + 1];
	int depth;
	int rc;
	int tok_line;			/* where the last token ended */
	struct policy_layout *lay;	/* NULL: no teams list is looked for */
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

/* A top-level token outside the teams setting; prev_line is where the
   token before it ended. */
static void
policy_layout_top(struct policy_scan *sc, enum policy_tok t, const char *tok,
    size_t toklen, int line, int prev_line)
{
	struct policy_layout *y = sc->lay;
	enum policy_st st = sc->lvl[0].st;

	if (t == TOK_NAME && toklen == 5 && memcmp(tok, "teams", 5) == 0 &&
	    (st == ST_NAME || st == ST_AFTER)) {
		/* A second one is libconfig's "duplicate setting name": the
		   plan is then refused for their number. */
		if (y->nteams_set++ == 0) {
			y->start = (size_t)(tok - sc->text);
			/* First on its line, so that taking it out cannot join
			   what stood before it to what follows. */
			y->ts = prev_line < line ? TS_ASSIGN : TS_BAD;
		}
		return;
	}
	y->other = true;
}

/* A team's '{' in the list at off. */
static void
policy_layout_team(struct policy_layout *y, size_t off, int line)
{
	struct policy_team_span *sp;

	if (y->nteams >= POLICY_MAX_TEAMS) {
		/* "more than allowed" is said at the list: whole tree */
		y->ts = TS_BAD;
		return;
	}
	if (base_grow(&y->teams, &y->cap, y->nteams + 1, sizeof(*y->teams))
	    != 0)
		abort();
	sp = &y->teams[y->nteams++];
	sp->start = off;
	sp->end = off;
	sp->line = line;
	y->ts = TS_IN;
}

/*
 * Follows the teams setting through the tokens of a text: t, at bracket
 * depth sc->depth before it is counted, at line (where it ended).  The
 * shape read in slices is "teams = ( { ... }, ... )" with an optional ';'
 * or ',', the first and last tokens of their lines; anything else, an
 * @include in it among them, gives TS_BAD.
 */
static void
policy_layout_token(struct policy_scan *sc, enum policy_tok t,
    const char *tok, size_t toklen, int line)
{
	struct policy_layout *y = sc->lay;
	size_t off = (size_t)(tok - sc->text);
	int prev_line = sc->tok_line;

	sc->tok_line = line;
	if (y == NULL)
		return;
	if (y->ts == TS_AFTER && t == TOK_SEP) {
		y->sep = *tok;
		y->end = off + 1;
		y->end_line = line;
		y->ts = TS_SEP;
		return;
	}
	if (y->ts == TS_AFTER || y->ts == TS_SEP)
		y->ts = line > y->end_line ? TS_DONE : TS_BAD;
	switch (y->ts) {
	case TS_ASSIGN:
		y->ts = t == TOK_ASSIGN ? TS_OPEN : TS_BAD;
		break;
	case TS_OPEN:
		y->ts = t == TOK_OPEN_LIST && *tok == '(' ? TS_TEAM : TS_BAD;
		break;
	case TS_TEAM:
		if (t == TOK_OPEN_GROUP)
			policy_layout_team(y, off, line);
		else
			y->ts = TS_BAD;
		break;
	case TS_IN:
		if (t == TOK_INCLUDE)
			y->ts = TS_BAD;
		else if (t == TOK_CLOSE && sc->depth == 2) {
			y->teams[y->nteams - 1].end = off + 1;
			y->ts = *tok == '}' ? TS_NEXT : TS_BAD;
		}
		break;
	case TS_NEXT:
		if (t == TOK_SEP && *tok == ',')
			y->ts = TS_TEAM;
		else if (t == TOK_CLOSE && *tok == ')') {
			y->end = off + 1;
			y->end_line = line;
			y->ts = TS_AFTER;
		} else
			y->ts = TS_BAD;
		break;
	default:
		if (sc->depth == 0)
			policy_layout_top(sc, t, tok, toklen, line, prev_line);
		break;
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

	policy_layout_token(sc, t, tok, toklen, line);
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
	struct policy_layout *y = sc->lay;
	const char *q = p, *s, *e, *at;

	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if ((size_t)(end - q) <= 8 || memcmp(q, "@include", 8) != 0 ||
	    (q[8] != ' ' && q[8] != '\t'))
		return NULL;
	at = q;
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
		/* The file of the teams list may be one of these. */
		if (y != NULL && sc->depth == 0 && y->ninc < POLICY_MAX_INCLUDES) {
			struct policy_inc_span *in = &y->inc[y->ninc++];

			in->start = (size_t)(at - sc->text);
			in->end = (size_t)(e + 1 - sc->text);
			in->path = (size_t)(s - sc->text);
			in->pathlen = (size_t)(e - s);
		}
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

/* policy_prescan, noting in lay (NULL: not) what it finds of the teams
   list. */
static int
policy_prescan_text(struct policy_ctx *ctx, const char *file,
    const char *text, size_t len, policy_include_fn fn, void *arg,
    struct policy_layout *lay)
{
	const char *p = text, *end = text + len, *next;
	struct policy_scan *sc;
	enum policy_tok t;
	bool line_start = true;
	int line = 1, rc = 0;

	sc = policy_xcalloc(1, sizeof(*sc));
	sc->ctx = ctx;
	sc->file = file;
	sc->text = text;
	sc->lay = lay;
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
	if (lay != NULL && (lay->ts == TS_AFTER || lay->ts == TS_SEP))
		lay->ts = TS_DONE;
	free(sc);
	return rc;
}

int
policy_prescan(struct policy_ctx *ctx, const char *file, const char *text,
    size_t len, policy_include_fn fn, void *arg)
{
	return policy_prescan_text(ctx, file, text, len, fn, arg, NULL);
}

/* The chain of files being scanned, for cycles and depth, and what was
   found of the teams list. */
struct policy_incstate {
	const char *stack[POLICY_MAX_INCLUDE_DEPTH + 2];
	int depth;
	int count;
	struct policy_teams_plan *plan;
	struct policy_layout *top;	/* the main file's */
	struct policy_layout *found;	/* the first file's with teams */
	int found_depth;		/* its include depth: 0 is main */
	int nfound;			/* top-level teams settings in all */
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

static void
policy_layout_free(struct policy_layout *y)
{
	if (y == NULL)
		return;
	free(y->teams);
	free(y);
}

/* Keep what the plan may need of a file just scanned (lay, its text): the
   main file's and the first file's with a teams setting.  Returns whether
   text is kept; lay is freed when it is not. */
static bool
policy_plan_note(struct policy_incstate *st, const char *file, char *text,
    size_t len, struct policy_layout *lay)
{
	struct policy_teams_plan *plan = st->plan;
	bool keep = false;

	if (st->depth == 0) {
		plan->main_text = text;
		plan->main_len = len;
		st->top = lay;
		keep = true;
	}
	if (lay->nteams_set > 0 && st->nfound == 0) {
		plan->file = file;
		plan->text = text;
		plan->len = len;
		st->found = lay;
		st->found_depth = st->depth;
		keep = true;
	}
	st->nfound += lay->nteams_set;
	if (st->top != lay && st->found != lay)
		policy_layout_free(lay);
	return keep;
}

/* Whether text[from, to) holds only blanks and closed comments; with
   eol, only up to the end of the line of from. */
static bool
policy_only_blank(const char *text, size_t from, size_t to, bool eol)
{
	const char *p = text + from, *end = text + to, *next;
	int lines = 0;

	while (p < end) {
		if (*p == '\n' && eol)
			return true;
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' ||
		    *p == '\v' || *p == '\n') {
			p++;
			continue;
		}
		if ((next = policy_scan_comment(p, end, &lines)) == NULL)
			return false;
		/* An open block comment would run on into what follows. */
		if (*p == '/' && p[1] == '*' && (next - p < 4 ||
		    next[-2] != '*' || next[-1] != '/'))
			return false;
		p = next;
	}
	return true;
}

/* The cut of the plan when the list is in a file of its own: that file
   holds nothing else, and the main file includes it at top level, the
   last thing on its line. */
static bool
policy_plan_cut_include(struct policy_ctx *ctx, struct policy_incstate *st)
{
	struct policy_teams_plan *plan = st->plan;
	const struct policy_layout *y = st->found, *top = st->top;
	const char *base = ctx->repo->base_dir;
	size_t blen = strlen(base);

	if (st->found_depth != 1 || y->other ||
	    !policy_only_blank(plan->text, 0, y->start, false) ||
	    !policy_only_blank(plan->text, y->end, plan->len, false))
		return false;
	for (int i = 0; i < top->ninc; i++) {
		const struct policy_inc_span *in = &top->inc[i];
		const char *f = plan->file;

		/* The name policy_on_include made of it: base/path. */
		if (strncmp(f, base, blen) != 0 || f[blen] != '/' ||
		    strlen(f + blen + 1) != in->pathlen ||
		    memcmp(f + blen + 1, plan->main_text + in->path,
		    in->pathlen) != 0)
			continue;
		if (!policy_only_blank(plan->main_text, in->end,
		    plan->main_len, true))
			return false;
		plan->cut_start = in->start;
		plan->cut_end = in->end;
		return true;
	}
	return false;
}

/* Whether the teams list can be read in slices (see policy_teams_plan);
   when it can, the plan takes the teams' spans. */
static bool
policy_plan_decide(struct policy_ctx *ctx, struct policy_incstate *st)
{
	struct policy_teams_plan *plan = st->plan;
	struct policy_layout *y = st->found;
	size_t first, last;

	/* Two top-level teams settings are libconfig's error to report. */
	if (st->nfound != 1 || y == NULL || st->top == NULL ||
	    y->ts != TS_DONE || y->nteams == 0)
		return false;
	if (y == st->top) {
		plan->cut_start = y->start;
		plan->cut_end = y->end;
	} else if (!policy_plan_cut_include(ctx, st))
		return false;
	plan->cut_sep = y->sep;
	/* libconfig reads a string up to its first NUL, a file past it. */
	first = y->teams[0].start;
	last = y->teams[y->nteams - 1].end;
	if (memchr(plan->text + first, '\0', last - first) != NULL)
		return false;
	plan->teams = y->teams;
	plan->nteams = y->nteams;
	y->teams = NULL;
	return true;
}

/* Returns 0, -1 after reporting, or an errno value when abs cannot be read
   (the caller reports it, at the @include line). */
static int
policy_prescan_one(struct policy_ctx *ctx, const char *abs,
    struct policy_incstate *st)
{
	struct policy_layout *lay;
	const char *file;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = policy_read_all(abs, &text, &len)) != 0)
		return rc;
	file = policy_intern_file(ctx, abs);
	lay = policy_xcalloc(1, sizeof(*lay));
	st->stack[st->depth++] = file;
	rc = policy_prescan_text(ctx, file, text, len, policy_on_include, st,
	    lay);
	st->depth--;
	if (!policy_plan_note(st, file, text, len, lay))
		free(text);
	return rc;
}

void
policy_teams_plan_free(struct policy_teams_plan *plan)
{
	if (plan->text != plan->main_text)
		free(plan->text);
	free(plan->main_text);
	free(plan->teams);
	memset(plan, 0, sizeof(*plan));
}

int
policy_prescan_files(struct policy_ctx *ctx, const char *main_abs,
    struct policy_teams_plan *plan)
{
	struct policy_incstate st;
	struct policy_src src = { NULL, 0 };
	int rc;

	memset(&st, 0, sizeof(st));
	memset(plan, 0, sizeof(*plan));
	st.plan = plan;
	rc = policy_prescan_one(ctx, main_abs, &st);
	if (rc == 0)
		plan->ok = policy_plan_decide(ctx, &st);
	if (st.found != st.top)
		policy_layout_free(st.found);
	policy_layout_free(st.top);
	/* The texts are only wanted for the slices. */
	if (!plan->ok)
		policy_teams_plan_free(plan);
	if (rc > 0) {
		src.file = policy_intern_file(ctx, main_abs);
		policy_err_at(ctx, src, "cannot read the configuration file: "
		    "%s; check the path given with -c", strerror(rc));
		return -1;
	}
	return rc;
}
