/*
 * faxpdf.h: the page of a fax, laid out with Pango and written as PDF by
 * cairo, private to channels/.
 *
 * The text is shaped by Pango (HarfBuzz and FriBidi), so Arabic joins and
 * runs right to left, Devanagari forms its clusters and CJK breaks lines
 * where it may; fontconfig picks a font per character from the installed
 * set (Noto and WenQuanYi on Debian, see README).
 */
#ifndef FAXPDF_H
#define FAXPDF_H

#include <stddef.h>

#include "channel.h"

/* Fonts of one session; a Pango font map is not for sharing between
   threads. */
struct faxpdf_fonts;

/* Load fontconfig before threads start (0 or TOCSIN_EUNAVAIL).  It stays
   loaded until the process ends: there is no matching unload (see
   faxpdf.c). */
int faxpdf_global_init(struct tocsin_err *err);

/* *ret is freed by faxpdf_fonts_free.  0 or TOCSIN_ENOMEM. */
int faxpdf_fonts_new(struct faxpdf_fonts **ret, struct tocsin_err *err);
void faxpdf_fonts_free(struct faxpdf_fonts *f);

struct faxpdf_opts {
	enum policy_paper paper;
	bool cover;
	int pages;		/* most pages of alert text, cover excluded */
	const char *font;	/* Pango family list, NULL: "Sans" */
	const char *ack_code;	/* may be NULL */
	const char *ack_url;	/* may be NULL */
	bool exercise;
	const struct i18n_cat *cat;	/* the page's words in lang (i18n.h);
					   NULL: English */
	const char *lang;
};

struct faxpdf_out {
	unsigned char *pdf;	/* malloc'd, owned by the caller */
	size_t len;
	int pages;		/* pages in all, the cover included */
	int unknown_glyphs;	/* characters no installed font has */
	bool cut;		/* the text did not fit opts->pages */
};

/*
 * Lay doc out and write the PDF into out.  Returns 0, TOCSIN_ENOMEM, or
 * TOCSIN_EINTERNAL when cairo fails (with its reason); out is untouched
 * on failure.
 */
int faxpdf_render(struct faxpdf_fonts *fonts, const struct chan_doc *doc,
    const struct faxpdf_opts *opts, struct faxpdf_out *out,
    struct tocsin_err *err);

#endif
