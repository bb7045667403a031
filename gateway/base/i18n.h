/*
 * i18n.h: the texts the gateway itself writes (labels, ack instructions,
 * call prompts, page wording), in the reader's language, from GNU gettext
 * catalogs compiled by msgfmt (po/LANG.po -> LANG/LC_MESSAGES/tocsin.mo).
 *
 * Why not gettext(3): one worker renders for many teams in different
 * languages at once, and glibc translates only for a locale generated on
 * the host (newlocale("fr_FR.UTF-8") fails on a stock Debian without
 * locales-all), so a per-thread uselocale() would silently give English.
 * Instead the .mo files of every language present are read once at start
 * into an immutable set; a lookup names its language and takes no lock.
 *
 * Placeholders are named, "{code}", never printf conversions: a
 * translator may put them in any order, and a catalog can never become a
 * format string.  A translation whose placeholders differ from its
 * msgid's, or that is not valid UTF-8 without controls, is dropped when
 * the catalog is read: that string stays English.
 */
#ifndef I18N_H
#define I18N_H

#include <stdbool.h>
#include <stddef.h>

#include "base.h"
#include "tocsin.h"

/* Marks a string for xgettext (--keyword=N_); looked up by i18n_text. */
#define N_(s) s

#define I18N_MO_MAX (1024 * 1024)	/* bytes of one .mo file */
#define I18N_STRINGS_MAX 8192		/* messages of one catalog */
#define I18N_STRING_MAX 8192		/* bytes of one msgid or msgstr */
#define I18N_LANGS_MAX 64		/* catalogs in one folder */
#define I18N_LANG_MAX 15		/* bytes of a language's name */
#define I18N_DOMAIN "tocsin"

struct i18n_mo;		/* one language's catalog */
struct i18n_cat;	/* every language of a folder */

/*
 * Parse a compiled catalog (either byte order) of len bytes.  Refused with
 * TOCSIN_EDATA and a sentence: a size over I18N_MO_MAX, a bad magic or
 * revision, counts over I18N_STRINGS_MAX, tables or strings out of the
 * file, overlapping each other or the header, a string without its NUL.
 * Entries with an empty msgstr, a plural or a context are skipped;
 * translations are checked as the file comment says.  *ret is owned by
 * the caller (i18n_mo_free); it does not point into data.
 */
int i18n_mo_parse(const void *data, size_t len, struct i18n_mo **ret,
    struct tocsin_err *err);
/* The translation of msgid, or NULL when the catalog has none. */
const char *i18n_mo_get(const struct i18n_mo *mo, const char *msgid);
/* How many translations were kept. */
size_t i18n_mo_count(const struct i18n_mo *mo);
void i18n_mo_free(struct i18n_mo *mo);

/*
 * Read DIR/LANG/LC_MESSAGES/tocsin.mo for every LANG folder of dir (a
 * name of 2 to I18N_LANG_MAX letters, '_' and '-').  A missing dir gives
 * an empty set (every text English).  A catalog that cannot be read or
 * parsed is left out and its reason kept (i18n_problem), so that one bad
 * file costs its language only.  *ret is owned by the caller (i18n_free)
 * and is never changed afterwards: any thread may read it.  0 or
 * TOCSIN_ENOMEM.
 */
int i18n_load(const char *dir, struct i18n_cat **ret, struct tocsin_err *err);
void i18n_free(struct i18n_cat *cat);
/* The i-th catalog left out by i18n_load ("fr: ..."), or NULL. */
const char *i18n_problem(const struct i18n_cat *cat, size_t i);
/* The folder it was loaded from. */
const char *i18n_dir(const struct i18n_cat *cat);

/*
 * Whether lang ("fr", "fr-FR", "pt_BR") has a catalog: its own, or that
 * of its primary subtag.  English always has (the source texts).
 */
bool i18n_has(const struct i18n_cat *cat, const char *lang);
/*
 * msgid in lang: the translation, or msgid itself when cat is NULL, lang
 * is NULL or English, there is no catalog or the catalog lacks it.  Never
 * NULL for a non-NULL msgid; valid as long as cat and msgid are.
 */
const char *i18n_text(const struct i18n_cat *cat, const char *lang,
    const char *msgid);
/*
 * The language texts in lang are actually given in: lang's primary
 * subtag ("fr") when it has a catalog, else "en".  For <html lang> and
 * the voice.
 */
const char *i18n_lang(const struct i18n_cat *cat, const char *lang);
/*
 * The code Twilio's <Say language="..."> takes for a language given by
 * i18n_lang: fr-FR, es-ES, pt-BR, ru-RU, zh-CN, arb (Arabic, which needs
 * an Amazon Polly or Google voice on the account), en-US for English and
 * any other.
 */
const char *i18n_voice(const char *lang);

/*
 * Append tmpl to b with each "{name}" replaced by the value that follows
 * name in the NULL-ended list of (name, value) pairs; a value of NULL, or
 * a name not in the list, writes the placeholder as it stands.  Values
 * are written as given: the caller cleans or escapes them.
 */
void i18n_put(struct base_buf *b, const char *tmpl, ...);
/* The same into out (at most outlen - 1 bytes, cut at a character
   boundary, NUL-terminated); returns the length written. */
size_t i18n_fmt(char *out, size_t outlen, const char *tmpl, ...);

#endif
