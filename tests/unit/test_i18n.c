/*
 * test_i18n.c: the reader of compiled gettext catalogs and the lookup of
 * the gateway's texts in a language.
 *
 * Catalogs are made here byte by byte (mo_build), in both byte orders, so
 * that each corruption is exactly the one meant: a bad magic, counts and
 * offsets out of the file, tables and strings over each other, a string
 * without its NUL, a translation whose placeholders differ.  The
 * catalogs the build compiled from po/ are read as well (TOCSIN_LOCALEDIR
 * names their folder): every language of po/LINGUAS is there and speaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "i18n.h"

#define MO_MAGIC 0x950412deU

/* One message of a catalog to build. */
struct mo_msg {
	const char *id, *str;
};

static void
put32(unsigned char *p, uint32_t v, bool be)
{
	for (int i = 0; i < 4; i++)
		p[be ? i : 3 - i] = (unsigned char)(v >> (8 * (3 - i)));
}

static uint32_t
get32(const unsigned char *p, bool be)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 8 | p[be ? i : 3 - i];
	return v;
}

/* A .mo of the n messages (sorted by id by the caller, as msgfmt
   does), big-endian when be; *len its size.  The caller frees. */
static unsigned char *
mo_build(const struct mo_msg *m, size_t n, bool be, size_t *len)
{
	size_t strs = 0, off, at;
	unsigned char *p;

	for (size_t i = 0; i < n; i++)
		strs += strlen(m[i].id) + 1 + strlen(m[i].str) + 1;
	*len = 28 + 16 * n + strs;
	p = calloc(1, *len);
	assert_non_null(p);
	put32(p, MO_MAGIC, be);
	put32(p + 4, 0, be);
	put32(p + 8, (uint32_t)n, be);
	put32(p + 12, 28, be);
	put32(p + 16, (uint32_t)(28 + 8 * n), be);
	put32(p + 20, 0, be);
	put32(p + 24, 0, be);
	off = 28 + 16 * n;
	at = off;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(m[i].id);

		put32(p + 28 + 8 * i, (uint32_t)l, be);
		put32(p + 28 + 8 * i + 4, (uint32_t)at, be);
		memcpy(p + at, m[i].id, l + 1);
		at += l + 1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(m[i].str);

		put32(p + 28 + 8 * n + 8 * i, (uint32_t)l, be);
		put32(p + 28 + 8 * n + 8 * i + 4, (uint32_t)at, be);
		memcpy(p + at, m[i].str, l + 1);
		at += l + 1;
	}
	return p;
}

static const struct mo_msg fr_msgs[] = {
	{ "", "Content-Type: text/plain; charset=UTF-8\n" },
	{ "Goodbye.", "Au revoir." },
	{ "Your code is {digits}.", "Votre code est {digits}." },
	{ "open {link} or reply {code}", "répondez {code} ou ouvrez {link}" },
	/* a translation that drops a placeholder stays English */
	{ "reply {code}", "répondez" },
	/* one that adds a placeholder the code never fills, likewise */
	{ "thanks", "merci {name}" },
	/* an empty translation is none */
	{ "untranslated", "" },
	/* a control character is refused */
	{ "bell", "ding\x07" },
};
#define FR_N (sizeof(fr_msgs) / sizeof(fr_msgs[0]))

static void
check_fr(const struct i18n_mo *mo)
{
	assert_int_equal(i18n_mo_count(mo), 3);
	assert_string_equal(i18n_mo_get(mo, "Goodbye."), "Au revoir.");
	assert_string_equal(i18n_mo_get(mo, "Your code is {digits}."),
	    "Votre code est {digits}.");
	assert_string_equal(i18n_mo_get(mo, "open {link} or reply {code}"),
	    "répondez {code} ou ouvrez {link}");
	assert_null(i18n_mo_get(mo, "reply {code}"));
	assert_null(i18n_mo_get(mo, "thanks"));
	assert_null(i18n_mo_get(mo, "untranslated"));
	assert_null(i18n_mo_get(mo, "bell"));
	assert_null(i18n_mo_get(mo, ""));
	assert_null(i18n_mo_get(mo, "no such message"));
}

static void
test_both_byte_orders(void **state)
{
	(void)state;
	for (int be = 0; be < 2; be++) {
		struct tocsin_err err = { 0 };
		struct i18n_mo *mo = NULL;
		size_t len;
		unsigned char *p = mo_build(fr_msgs, FR_N, be, &len);

		assert_int_equal(i18n_mo_parse(p, len, &mo, &err), 0);
		/* nothing points into the file once parsed */
		memset(p, 0xee, len);
		free(p);
		check_fr(mo);
		i18n_mo_free(mo);
	}
}

/* A parse of p that must be refused with a sentence naming why. */
static void
refused(const unsigned char *p, size_t len, const char *why)
{
	struct tocsin_err err = { 0 };
	struct i18n_mo *mo = NULL;

	assert_int_equal(i18n_mo_parse(p, len, &mo, &err), TOCSIN_EDATA);
	assert_null(mo);
	if (strstr(err.msg, why) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err.msg, why);
}

static void
test_corrupt(void **state)
{
	(void)state;
	for (int be = 0; be < 2; be++) {
		size_t len, n = FR_N, ids = 28, strs = 28 + 8 * FR_N;
		unsigned char *p = mo_build(fr_msgs, FR_N, be, &len);
		unsigned char *q = malloc(len);
		uint32_t o1;

		assert_non_null(q);
#define FRESH() memcpy(q, p, len)
		FRESH();
		refused(q, 20, "too short");
		q[0] ^= 0xff;
		refused(q, len, "bad magic");
		FRESH();
		put32(q + 4, 2u << 16, be);
		refused(q, len, "revision");
		FRESH();
		put32(q + 8, I18N_STRINGS_MAX + 1, be);
		refused(q, len, "over the limit");
		/* a count the tables do not hold */
		FRESH();
		put32(q + 8, (uint32_t)(n + 1000), be);
		refused(q, len, "outside the file");
		/* a table offset past the end, and one into the header */
		FRESH();
		put32(q + 12, (uint32_t)len, be);
		refused(q, len, "outside the file");
		FRESH();
		put32(q + 16, 4, be);
		refused(q, len, "outside the file");
		/* the two tables over each other */
		FRESH();
		put32(q + 16, (uint32_t)ids, be);
		refused(q, len, "overlap");
		/* a string's offset out of the file, and one at the edge */
		FRESH();
		put32(q + ids + 8 + 4, 0xfffffff0U, be);
		refused(q, len, "outside the file");
		FRESH();
		put32(q + strs + 8, 0xffffff00U, be);
		refused(q, len, "bytes, over the limit");
		/* a string that runs past its NUL */
		FRESH();
		put32(q + ids + 8, get32(q + ids + 8, be) + 1, be);
		refused(q, len, "no NUL");
		/* a string lying over a table, and two strings over each
		   other */
		FRESH();
		put32(q + ids + 8 + 4, (uint32_t)ids, be);
		put32(q + ids + 8, 0, be);
		q[ids] = '\0';
		refused(q, len, "overlap");
		FRESH();
		o1 = get32(q + ids + 8 + 4, be);
		put32(q + ids + 16 + 4, o1, be);
		put32(q + ids + 16, get32(q + ids + 8, be), be);
		refused(q, len, "overlap");
		/* a hash table out of the file */
		FRESH();
		put32(q + 20, 7, be);
		put32(q + 24, (uint32_t)len - 8, be);
		refused(q, len, "hash table");
		/* over the size limit, whatever the content */
		refused(p, I18N_MO_MAX + 1, "over the limit");
		free(q);
		free(p);
#undef FRESH
	}
}

/* A folder of catalogs: fr good, ru corrupt, de with no file, and a
   name that is no language's. */
static char *
make_dir(void)
{
	char tmpl[] = "/tmp/test_i18n.XXXXXX", path[512];
	char *dir = mkdtemp(tmpl);
	unsigned char *p;
	size_t len;
	FILE *f;

	assert_non_null(dir);
	dir = strdup(dir);
	assert_non_null(dir);
	for (const char *const *l = (const char *const[]){ "fr", "ru", "de",
	    "x.y", NULL }; *l != NULL; l++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *l);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/%s/LC_MESSAGES", dir, *l);
		assert_int_equal(mkdir(path, 0700), 0);
	}
	p = mo_build(fr_msgs, FR_N, true, &len);
	snprintf(path, sizeof(path), "%s/fr/LC_MESSAGES/tocsin.mo", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
	snprintf(path, sizeof(path), "%s/x.y/LC_MESSAGES/tocsin.mo", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
	p[0] = 'X';
	snprintf(path, sizeof(path), "%s/ru/LC_MESSAGES/tocsin.mo", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, len, f), len);
	fclose(f);
	free(p);
	return dir;
}

static void
test_lookup(void **state)
{
	struct tocsin_err err = { 0 };
	struct i18n_cat *cat = NULL;
	char *dir = make_dir(), cmd[600];

	(void)state;
	assert_int_equal(i18n_load(dir, &cat, &err), 0);
	/* found, in any spelling of the tag */
	assert_true(i18n_has(cat, "fr"));
	assert_true(i18n_has(cat, "fr-CA"));
	assert_true(i18n_has(cat, "FR_fr"));
	assert_string_equal(i18n_text(cat, "fr-BE", "Goodbye."), "Au revoir.");
	assert_string_equal(i18n_lang(cat, "fr-BE"), "fr");
	assert_string_equal(i18n_voice(i18n_lang(cat, "fr-BE")), "fr-FR");
	/* a msgid the catalog lacks, or left English: the msgid */
	assert_string_equal(i18n_text(cat, "fr", "reply {code}"),
	    "reply {code}");
	assert_string_equal(i18n_text(cat, "fr", "no such"), "no such");
	/* a language without a catalog: English, and said so */
	assert_false(i18n_has(cat, "sw"));
	assert_false(i18n_has(cat, "de"));
	assert_string_equal(i18n_text(cat, "sw", "Goodbye."), "Goodbye.");
	assert_string_equal(i18n_lang(cat, "sw"), "en");
	assert_string_equal(i18n_voice("en"), "en-US");
	assert_true(i18n_has(cat, "en"));
	assert_true(i18n_has(cat, "en-GB"));
	assert_string_equal(i18n_text(cat, "en", "Goodbye."), "Goodbye.");
	assert_string_equal(i18n_text(NULL, "fr", "Goodbye."), "Goodbye.");
	assert_string_equal(i18n_text(cat, NULL, "Goodbye."), "Goodbye.");
	/* the corrupt catalog is left out, with its reason */
	assert_false(i18n_has(cat, "ru"));
	assert_non_null(i18n_problem(cat, 0));
	assert_non_null(strstr(i18n_problem(cat, 0), "ru: "));
	assert_non_null(strstr(i18n_problem(cat, 0), "bad magic"));
	assert_null(i18n_problem(cat, 1));
	i18n_free(cat);
	/* a folder that is not there: English everywhere */
	cat = NULL;
	assert_int_equal(i18n_load("/nonexistent/tocsin-locale", &cat, &err),
	    0);
	assert_false(i18n_has(cat, "fr"));
	assert_string_equal(i18n_text(cat, "fr", "Goodbye."), "Goodbye.");
	i18n_free(cat);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

/* More catalogs than I18N_LANGS_MAX: the first ones in name order are
   read, the rest left out and said so, never written past the table. */
static void
test_too_many_languages(void **state)
{
	char tmpl[] = "/tmp/test_i18n.XXXXXX", path[600], cmd[600], name[8];
	char *dir = mkdtemp(tmpl);
	struct tocsin_err err = { 0 };
	struct i18n_cat *cat = NULL;
	unsigned char *p;
	size_t len;
	int n = I18N_LANGS_MAX + 2;
	FILE *f;

	(void)state;
	assert_non_null(dir);
	p = mo_build(fr_msgs, FR_N, false, &len);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "x%c%c", 'a' + i / 26, 'a' + i % 26);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/%s/LC_MESSAGES", dir, name);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/%s/LC_MESSAGES/tocsin.mo", dir,
		    name);
		assert_non_null(f = fopen(path, "wb"));
		assert_int_equal(fwrite(p, 1, len, f), len);
		fclose(f);
	}
	free(p);
	assert_int_equal(i18n_load(dir, &cat, &err), 0);
	assert_true(i18n_has(cat, "xaa"));
	snprintf(name, sizeof(name), "x%c%c", 'a' + (I18N_LANGS_MAX - 1) / 26,
	    'a' + (I18N_LANGS_MAX - 1) % 26);
	assert_true(i18n_has(cat, name));
	assert_string_equal(i18n_text(cat, name, "Goodbye."), "Au revoir.");
	snprintf(name, sizeof(name), "x%c%c", 'a' + I18N_LANGS_MAX / 26,
	    'a' + I18N_LANGS_MAX % 26);
	assert_false(i18n_has(cat, name));
	assert_non_null(i18n_problem(cat, 0));
	assert_non_null(strstr(i18n_problem(cat, 0), "more catalogs than the "
	    "limit"));
	assert_non_null(i18n_problem(cat, 1));
	assert_null(i18n_problem(cat, 2));
	i18n_free(cat);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void
test_placeholders(void **state)
{
	char out[64];
	struct base_buf b = { .limit = 256 };

	(void)state;
	i18n_put(&b, "{b} then {a}, {a} again, {c} and {", "a", "1", "b",
	    "2", NULL);
	assert_string_equal(b.p, "2 then 1, 1 again, {c} and {");
	base_buf_free(&b);
	/* a value is never read for placeholders itself */
	i18n_put(&b, "x{a}y", "a", "{a}", NULL);
	assert_string_equal(b.p, "x{a}y");
	base_buf_free(&b);
	/* cut at a character boundary */
	assert_int_equal(i18n_fmt(out, 6, "{v}", "v", "ab\xc3\xa9\xc3\xa9",
	    NULL), 4);
	assert_string_equal(out, "ab\xc3\xa9");
}

/* The catalogs the build made from po/: each language of LINGUAS is
   there, and says the prompts of a call in its own words. */
static void
test_built_catalogs(void **state)
{
	const char *dir = getenv("TOCSIN_LOCALEDIR");
	struct tocsin_err err = { 0 };
	struct i18n_cat *cat = NULL;
	static const char *const langs[] = { "ar", "es", "fr", "pt", "ru",
		"zh" };

	(void)state;
	assert_non_null(dir);
	assert_int_equal(i18n_load(dir, &cat, &err), 0);
	assert_null(i18n_problem(cat, 0));
	for (size_t i = 0; i < sizeof(langs) / sizeof(langs[0]); i++) {
		const char *t = i18n_text(cat, langs[i], "Goodbye.");

		assert_true(i18n_has(cat, langs[i]));
		if (strcmp(t, "Goodbye.") == 0)
			fail_msg("%s has no translation of Goodbye.", langs[i]);
	}
	assert_string_equal(i18n_text(cat, "fr", "Goodbye."), "Au revoir.");
	i18n_free(cat);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_byte_orders),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_too_many_languages),
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_built_catalogs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
