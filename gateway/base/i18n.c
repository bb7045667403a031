/*
 * i18n.c: a reader of GNU gettext's compiled catalogs (.mo) and the
 * lookup of the gateway's own texts in a named language (i18n.h says why
 * not gettext(3)).
 *
 * The .mo format (GNU gettext manual, "The Format of GNU MO Files"): a
 * header of 32-bit words in the writer's byte order (magic 0x950412de,
 * revision, N, offset of the msgid table, offset of the msgstr table,
 * hash size and offset), then two tables of N (length, offset) pairs and
 * the strings, each followed by a NUL.  The file is trusted no more than
 * any input: its size, counts and every offset are checked before use,
 * the tables and strings must lie inside the file and overlap neither
 * each other nor the header, and the kept strings are copied, so nothing
 * points into the file once it is parsed.  msgfmt sorts the msgids, but
 * nothing here relies on it: the kept pairs are sorted again.
 *
 * A set of catalogs is built once and never written again: no lock, no
 * global state, any thread may look up.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "i18n.h"
#include "tocsin.h"
#include "utf8.h"

#define I18N_MAGIC 0x950412deU
#define I18N_HEADER 28			/* bytes of the words we read */
#define I18N_PH_MAX 16			/* placeholders of one string */
#define I18N_PH_NAME 24			/* bytes of a placeholder's name */
#define I18N_PROBLEMS_MAX 16

struct i18n_pair {
	char *id, *str;
};

struct i18n_mo {
	struct i18n_pair *pairs;	/* sorted by id */
	size_t n;
};

struct i18n_lang {
	char name[I18N_LANG_MAX + 1];	/* lowercase, '-' as '_' */
	struct i18n_mo *mo;
};

struct i18n_cat {
	char *dir;
	struct i18n_lang langs[I18N_LANGS_MAX];
	size_t nlangs;
	char *problems[I18N_PROBLEMS_MAX];
	size_t nproblems;
};

/* ---- the file ---- */

static uint32_t
i18n_word(const unsigned char *p, bool swap)
{
	return swap ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3] : (uint32_t)p[3] << 24 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* A region of the file, to find overlaps. */
struct i18n_span {
	size_t from, to;		/* [from, to) */
};

static int
i18n_span_cmp(const void *a, const void *b)
{
	const struct i18n_span *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

static int
i18n_pair_cmp(const void *a, const void *b)
{
	const struct i18n_pair *x = a, *y = b;

	return strcmp(x->id, y->id);
}

static int
i18n_ph_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * The placeholders of s ("{name}", name of letters, digits and '_'),
 * sorted, into ph; their count, or -1 for more than I18N_PH_MAX.
 */
static int
i18n_placeholders(const char *s, char ph[I18N_PH_MAX][I18N_PH_NAME])
{
	int n = 0;

	for (const char *p = s; (p = strchr(p, '{')) != NULL; p++) {
		size_t k = 1;

		while (isalnum((unsigned char)p[k]) || p[k] == '_')
			k++;
		if (p[k] != '}' || k == 1 || k - 1 >= I18N_PH_NAME)
			continue;
		if (n == I18N_PH_MAX)
			return -1;
		memcpy(ph[n], p + 1, k - 1);
		ph[n][k - 1] = '\0';
		n++;
	}
	qsort(ph, (size_t)n, I18N_PH_NAME, i18n_ph_cmp);
	return n;
}

/* Whether translation str may stand for id: valid UTF-8, no control but
   a line feed, the same placeholders as many times each. */
static bool
i18n_fits(const char *id, const char *str, size_t len)
{
	char (*pa)[I18N_PH_NAME] = NULL, (*pb)[I18N_PH_NAME] = NULL;
	bool ok;
	int na, nb;

	if (!utf8_valid(str, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)str[i] < 0x20 && str[i] != '\n') ||
		    str[i] == 0x7f)
			return false;
	/* on the heap: the parser may run on a small thread stack */
	if ((pa = calloc(I18N_PH_MAX, I18N_PH_NAME)) == NULL ||
	    (pb = calloc(I18N_PH_MAX, I18N_PH_NAME)) == NULL) {
		free(pa);
		return false;
	}
	na = i18n_placeholders(id, pa);
	nb = i18n_placeholders(str, pb);
	ok = na >= 0 && na == nb && memcmp(pa, pb, (size_t)na *
	    I18N_PH_NAME) == 0;
	free(pa);
	free(pb);
	return ok;
}

/* Entry i of the table at off: its string's span, checked to lie in the
   file with its NUL. */
static int
i18n_entry(const unsigned char *p, size_t len, size_t off, uint32_t i,
    bool swap, struct i18n_span *sp, struct tocsin_err *err)
{
	uint32_t l = i18n_word(p + off + (size_t)i * 8, swap);
	uint32_t o = i18n_word(p + off + (size_t)i * 8 + 4, swap);

	if (l > I18N_STRING_MAX)
		return tocsin_fail(err, TOCSIN_EDATA, "catalog string %u is %u "
		    "bytes, over the limit of %d", i, l, I18N_STRING_MAX);
	if ((size_t)o >= len || (size_t)l >= len - o || p[o + l] != '\0')
		return tocsin_fail(err, TOCSIN_EDATA, "catalog string %u lies "
		    "outside the file or has no NUL", i);
	sp->from = o;
	sp->to = (size_t)o + l + 1;
	return 0;
}

/* The header's tables: inside the file, past the header, apart. */
static int
i18n_tables(size_t len, uint32_t n, uint32_t to, uint32_t tt, uint32_t hs,
    uint32_t ho, struct i18n_span *sp, size_t *nsp, struct tocsin_err *err)
{
	size_t tbl = (size_t)n * 8;

	*nsp = 0;
	if (to < I18N_HEADER || tt < I18N_HEADER || to > len || tt > len ||
	    tbl > len - to || tbl > len - tt)
		return tocsin_fail(err, TOCSIN_EDATA, "catalog tables lie "
		    "outside the file");
	sp[(*nsp)++] = (struct i18n_span){ 0, I18N_HEADER };
	sp[(*nsp)++] = (struct i18n_span){ to, to + tbl };
	sp[(*nsp)++] = (struct i18n_span){ tt, tt + tbl };
	if (hs > 0) {
		if (hs > 2 * I18N_STRINGS_MAX + 1 || ho < I18N_HEADER ||
		    ho > len || (size_t)hs * 4 > len - ho)
			return tocsin_fail(err, TOCSIN_EDATA, "catalog hash "
			    "table lies outside the file");
		sp[(*nsp)++] = (struct i18n_span){ ho, ho + (size_t)hs * 4 };
	}
	return 0;
}

void
i18n_mo_free(struct i18n_mo *mo)
{
	if (mo == NULL)
		return;
	for (size_t i = 0; i < mo->n; i++) {
		free(mo->pairs[i].id);
		free(mo->pairs[i].str);
	}
	free(mo->pairs);
	free(mo);
}

/* Keep entry (id, str) of the file when it is one we use. */
static int
i18n_keep(struct i18n_mo *mo, const char *id, size_t idlen, const char *str,
    size_t strlen_)
{
	struct i18n_pair *pr;

	/* the header (""), contexts and plurals are not ours */
	if (idlen == 0 || strlen_ == 0 || memchr(id, '\x04', idlen) != NULL ||
	    strlen(id) != idlen || strlen(str) != strlen_ ||
	    !utf8_valid(id, idlen) || !i18n_fits(id, str, strlen_))
		return 0;
	pr = &mo->pairs[mo->n];
	if ((pr->id = strdup(id)) == NULL || (pr->str = strdup(str)) == NULL) {
		free(pr->id);
		return TOCSIN_ENOMEM;
	}
	mo->n++;
	return 0;
}

int
i18n_mo_parse(const void *data, size_t len, struct i18n_mo **ret,
    struct tocsin_err *err)
{
	const unsigned char *p = data;
	struct i18n_span *sp = NULL;
	struct i18n_mo *mo = NULL;
	uint32_t n, to, tt, hs, ho, rev;
	size_t nsp = 0;
	bool swap;
	int rc;

	if (p == NULL || ret == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "i18n_mo_parse: no "
		    "data");
	if (len > I18N_MO_MAX)
		return tocsin_fail(err, TOCSIN_EDATA, "catalog of %zu bytes is "
		    "over the limit of %d", len, I18N_MO_MAX);
	if (len < I18N_HEADER)
		return tocsin_fail(err, TOCSIN_EDATA, "catalog of %zu bytes is "
		    "too short for its header", len);
	if (i18n_word(p, false) == I18N_MAGIC)
		swap = false;
	else if (i18n_word(p, true) == I18N_MAGIC)
		swap = true;
	else
		return tocsin_fail(err, TOCSIN_EDATA, "not a compiled gettext "
		    "catalog (bad magic)");
	rev = i18n_word(p + 4, swap);
	n = i18n_word(p + 8, swap);
	to = i18n_word(p + 12, swap);
	tt = i18n_word(p + 16, swap);
	hs = i18n_word(p + 20, swap);
	ho = i18n_word(p + 24, swap);
	if (rev >> 16 > 1)
		return tocsin_fail(err, TOCSIN_EDATA, "catalog revision %u.%u "
		    "is not known", rev >> 16, rev & 0xffff);
	if (n > I18N_STRINGS_MAX)
		return tocsin_fail(err, TOCSIN_EDATA, "catalog of %u messages "
		    "is over the limit of %d", n, I18N_STRINGS_MAX);
	if ((sp = calloc((size_t)n * 2 + 4, sizeof(*sp))) == NULL ||
	    (mo = calloc(1, sizeof(*mo))) == NULL ||
	    (n > 0 && (mo->pairs = calloc(n, sizeof(*mo->pairs))) == NULL)) {
		rc = tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = i18n_tables(len, n, to, tt, hs, ho, sp, &nsp, err)) != 0)
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = i18n_entry(p, len, to, i, swap, &sp[nsp], err)) != 0 ||
		    (rc = i18n_entry(p, len, tt, i, swap, &sp[nsp + 1],
		    err)) != 0)
			goto fail;
		nsp += 2;
	}
	/* nothing may lie over anything else */
	qsort(sp, nsp, sizeof(*sp), i18n_span_cmp);
	for (size_t i = 1; i < nsp; i++)
		if (sp[i].from < sp[i - 1].to) {
			rc = tocsin_fail(err, TOCSIN_EDATA, "catalog regions "
			    "overlap at byte %zu", sp[i].from);
			goto fail;
		}
	for (uint32_t i = 0; i < n; i++) {
		size_t io = i18n_word(p + to + (size_t)i * 8 + 4, swap);
		size_t so = i18n_word(p + tt + (size_t)i * 8 + 4, swap);

		if ((rc = i18n_keep(mo, (const char *)p + io,
		    i18n_word(p + to + (size_t)i * 8, swap),
		    (const char *)p + so, i18n_word(p + tt + (size_t)i * 8,
		    swap))) != 0) {
			rc = tocsin_fail(err, rc, "out of memory");
			goto fail;
		}
	}
	if (mo->n > 0)
		qsort(mo->pairs, mo->n, sizeof(*mo->pairs), i18n_pair_cmp);
	/* two entries for one msgid: the file is not msgfmt's */
	for (size_t i = 1; i < mo->n; i++)
		if (strcmp(mo->pairs[i].id, mo->pairs[i - 1].id) == 0) {
			rc = tocsin_fail(err, TOCSIN_EDATA, "catalog has a "
			    "message twice");
			goto fail;
		}
	free(sp);
	*ret = mo;
	return 0;
fail:
	free(sp);
	i18n_mo_free(mo);
	return rc;
}

const char *
i18n_mo_get(const struct i18n_mo *mo, const char *msgid)
{
	struct i18n_pair key = { (char *)msgid, NULL }, *pr;

	if (mo == NULL || msgid == NULL || mo->n == 0)
		return NULL;
	pr = bsearch(&key, mo->pairs, mo->n, sizeof(*mo->pairs),
	    i18n_pair_cmp);
	return pr != NULL ? pr->str : NULL;
}

size_t
i18n_mo_count(const struct i18n_mo *mo)
{
	return mo != NULL ? mo->n : 0;
}

/* ---- the set of a folder ---- */

/* name as a catalog's key: lowercase, '-' as '_'; false when it is no
   language's name. */
static bool
i18n_key(const char *name, size_t n, char out[I18N_LANG_MAX + 1])
{
	if (n < 2 || n > I18N_LANG_MAX || !isalpha((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalpha(c) && c != '_' && c != '-')
			return false;
		out[i] = c == '-' ? '_' : (char)tolower(c);
	}
	out[n] = '\0';
	return true;
}

static void
i18n_note(struct i18n_cat *cat, const char *lang, const char *why)
{
	char *s = NULL;

	if (cat->nproblems == I18N_PROBLEMS_MAX)
		return;
	if (asprintf(&s, "%s: %s", lang, why) >= 0)
		cat->problems[cat->nproblems++] = s;
}

/* The bytes of path, at most I18N_MO_MAX, into *ret (malloc'd). */
static int
i18n_read(const char *path, char **ret, size_t *ret_len,
    struct tocsin_err *err)
{
	struct stat st;
	char *p = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return tocsin_fail(err, errno == ENOENT ? TOCSIN_ENOTFOUND :
		    TOCSIN_EIO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > I18N_MO_MAX) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_EDATA, "%s is not a regular "
		    "file of at most %d bytes", path, I18N_MO_MAX);
	}
	if ((p = malloc((size_t)st.st_size + 1)) == NULL) {
		(void)close(fd);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	(void)close(fd);
	*ret = p;
	*ret_len = got;
	return 0;
}

static int
i18n_load_one(struct i18n_cat *cat, const char *name,
    struct tocsin_err *err)
{
	struct i18n_lang *l;
	struct tocsin_err e = { 0 };
	char *path = NULL, *data = NULL, key[I18N_LANG_MAX + 1];
	size_t len = 0;
	int rc;

	if (!i18n_key(name, strlen(name), key))
		return 0;
	if (cat->nlangs == I18N_LANGS_MAX) {
		i18n_note(cat, name, "more catalogs than the limit; left out");
		return 0;
	}
	l = &cat->langs[cat->nlangs];
	memcpy(l->name, key, sizeof(l->name));
	if (asprintf(&path, "%s/%s/LC_MESSAGES/" I18N_DOMAIN ".mo", cat->dir,
	    name) < 0)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	rc = i18n_read(path, &data, &len, &e);
	if (rc == 0)
		rc = i18n_mo_parse(data, len, &l->mo, &e);
	free(data);
	if (rc == TOCSIN_ENOMEM) {
		free(path);
		return tocsin_fail(err, rc, "out of memory");
	}
	if (rc == 0)
		cat->nlangs++;
	else if (rc != TOCSIN_ENOTFOUND) {
		char why[TOCSIN_ERRLEN + 64];

		/* the path is in e's sentence when it could not be read */
		(void)snprintf(why, sizeof(why), "%s%s%s", e.msg,
		    strstr(e.msg, path) != NULL ? "" : " in ",
		    strstr(e.msg, path) != NULL ? "" : path);
		i18n_note(cat, name, why);
	}
	free(path);
	return 0;
}

static int
i18n_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
i18n_load(const char *dir, struct i18n_cat **ret, struct tocsin_err *err)
{
	struct i18n_cat *cat = calloc(1, sizeof(*cat));
	char *names[I18N_LANGS_MAX * 2];
	size_t nn = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (cat == NULL || (cat->dir = strdup(dir != NULL ? dir : "")) ==
	    NULL) {
		free(cat);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	if (dir == NULL || (d = opendir(dir)) == NULL) {
		*ret = cat;
		return 0;
	}
	while ((de = readdir(d)) != NULL && nn < I18N_LANGS_MAX * 2) {
		char k[I18N_LANG_MAX + 1];

		if (!i18n_key(de->d_name, strlen(de->d_name), k))
			continue;
		if ((names[nn] = strdup(de->d_name)) == NULL) {
			rc = TOCSIN_ENOMEM;
			break;
		}
		nn++;
	}
	(void)closedir(d);
	/* the same set whatever order the folder lists them in */
	qsort(names, nn, sizeof(names[0]), i18n_name_cmp);
	for (size_t i = 0; i < nn; i++) {
		if (rc == 0)
			rc = i18n_load_one(cat, names[i], err);
		free(names[i]);
	}
	if (rc != 0) {
		i18n_free(cat);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	*ret = cat;
	return 0;
}

void
i18n_free(struct i18n_cat *cat)
{
	if (cat == NULL)
		return;
	for (size_t i = 0; i < cat->nlangs; i++)
		i18n_mo_free(cat->langs[i].mo);
	for (size_t i = 0; i < cat->nproblems; i++)
		free(cat->problems[i]);
	free(cat->dir);
	free(cat);
}

const char *
i18n_problem(const struct i18n_cat *cat, size_t i)
{
	return cat != NULL && i < cat->nproblems ? cat->problems[i] : NULL;
}

const char *
i18n_dir(const struct i18n_cat *cat)
{
	return cat != NULL ? cat->dir : "";
}

/* Whether lang is English (whose texts are the msgids). */
static bool
i18n_english(const char *lang)
{
	return lang == NULL || lang[0] == '\0' || (strncasecmp(lang, "en",
	    2) == 0 && (lang[2] == '\0' || lang[2] == '-' || lang[2] == '_'));
}

/* lang's catalog: its own, else its primary subtag's; NULL when none. */
static const struct i18n_lang *
i18n_find(const struct i18n_cat *cat, const char *lang)
{
	char k[I18N_LANG_MAX + 1];
	size_t n;

	if (cat == NULL || lang == NULL ||
	    !i18n_key(lang, strnlen(lang, I18N_LANG_MAX + 1), k))
		return NULL;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cat->nlangs; i++)
			if (strcmp(cat->langs[i].name, k) == 0)
				return &cat->langs[i];
		if ((n = strcspn(k, "_")) == strlen(k))
			break;
		k[n] = '\0';
	}
	return NULL;
}

bool
i18n_has(const struct i18n_cat *cat, const char *lang)
{
	return i18n_english(lang) || i18n_find(cat, lang) != NULL;
}

const char *
i18n_text(const struct i18n_cat *cat, const char *lang, const char *msgid)
{
	const struct i18n_lang *l;
	const char *s;

	if (msgid == NULL || i18n_english(lang) ||
	    (l = i18n_find(cat, lang)) == NULL ||
	    (s = i18n_mo_get(l->mo, msgid)) == NULL)
		return msgid;
	return s;
}

const char *
i18n_lang(const struct i18n_cat *cat, const char *lang)
{
	const struct i18n_lang *l;

	if (i18n_english(lang) || (l = i18n_find(cat, lang)) == NULL)
		return "en";
	return l->name;
}

const char *
i18n_voice(const char *lang)
{
	/* the languages tocsin has catalogs for; Twilio's codes */
	static const char *const voices[][2] = {
		{ "fr", "fr-FR" }, { "es", "es-ES" }, { "pt", "pt-BR" },
		{ "ru", "ru-RU" }, { "zh", "zh-CN" }, { "ar", "arb" },
	};

	for (size_t i = 0; lang != NULL && i < sizeof(voices) /
	    sizeof(voices[0]); i++)
		if (strncmp(lang, voices[i][0], 2) == 0 && (lang[2] == '\0' ||
		    lang[2] == '_' || lang[2] == '-'))
			return voices[i][1];
	return "en-US";
}

/* ---- placeholders ---- */

static void
i18n_vput(struct base_buf *b, const char *tmpl, va_list ap)
{
	const char *p = tmpl;

	while (p != NULL && *p != '\0') {
		const char *o = strchr(p, '{'), *c;
		bool done = false;
		va_list aq;

		if (o == NULL) {
			base_buf_puts(b, p);
			return;
		}
		base_buf_put(b, p, (size_t)(o - p));
		c = o + 1;
		while (isalnum((unsigned char)*c) || *c == '_')
			c++;
		if (*c == '}' && c > o + 1) {
			const char *name, *value;

			va_copy(aq, ap);
			while ((name = va_arg(aq, const char *)) != NULL) {
				value = va_arg(aq, const char *);
				if (strlen(name) == (size_t)(c - o - 1) &&
				    strncmp(name, o + 1, (size_t)(c - o - 1))
				    == 0 && value != NULL) {
					base_buf_puts(b, value);
					done = true;
					break;
				}
			}
			va_end(aq);
		}
		if (done)
			p = c + 1;
		else {
			base_buf_put(b, "{", 1);
			p = o + 1;
		}
	}
}

void
i18n_put(struct base_buf *b, const char *tmpl, ...)
{
	va_list ap;

	va_start(ap, tmpl);
	i18n_vput(b, tmpl, ap);
	va_end(ap);
}

size_t
i18n_fmt(char *out, size_t outlen, const char *tmpl, ...)
{
	struct base_buf b = { .limit = 64 * 1024 };
	size_t n = 0;
	va_list ap;

	if (out == NULL || outlen == 0)
		return 0;
	va_start(ap, tmpl);
	i18n_vput(&b, tmpl, ap);
	va_end(ap);
	if (b.p != NULL && b.rc == 0) {
		n = utf8_cut(b.p, b.len, outlen - 1);
		memcpy(out, b.p, n);
	}
	out[n] = '\0';
	base_buf_free(&b);
	return n;
}
