/*
 * faxpdf.c: the fax page, laid out with Pango and written as PDF by cairo.
 *
 * A fax is printed at 204x98 or 204x196 dots per inch, in black and white,
 * often by a tired machine: the type is large (13 pt text, 22 pt
 * headline), sans-serif, pure black on white, with no greys or thin rules.
 * Every page carries a band that says what the message is (a solid black
 * band with white letters for an ACTUAL alert, an outlined one for an
 * EXERCISE, so the two differ even where letters smear) and a footer with
 * the alert, the team and "page i of n", so that a lost page is noticed.
 *
 * Page 1 of the alert puts what the reader must do first: the headline,
 * then the box with the acknowledgement code, the number to call and the
 * link; the identities and times follow, then the text (full detail:
 * instruction, description, note) or where to get it (summary).  Text that does not fit the configured pages
 * is cut with a note that says so, in the room kept for it.
 *
 * Layout runs twice with the same Pango context: once to count pages, once
 * to draw with "of n" known.  The context is made from the font map, not
 * from the surface, with hinting off and 72 units per inch, so the two
 * passes break lines identically.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cairo-pdf.h>
#include <fontconfig/fontconfig.h>
#include <pango/pangocairo.h>

#include "base.h"
#include "faxpdf.h"
#include "i18n.h"

#define FP_MM		(72.0 / 25.4)
#define FP_MARGIN	(14.0 * FP_MM)
#define FP_BAND_H	46.0
#define FP_FOOT_H	18.0
#define FP_GAP		9.0
#define FP_LABEL_W	112.0
#define FP_PAD		10.0
#define FP_TEXT		13.0	/* points */
#define FP_LABEL	12.0
#define FP_HEAD		22.0
#define FP_SECTION	15.0
#define FP_SMALL	9.5
#define FP_PDF_MAX	(16u * 1024 * 1024)

struct faxpdf_fonts {
	PangoFontMap *map;
};

struct fp_buf {
	unsigned char *p;
	size_t len, cap;
	bool failed;
};

/* One pass of the layout. */
struct fp {
	const struct chan_doc *doc;
	const struct faxpdf_opts *o;
	PangoContext *pc;
	const char *family;
	cairo_t *cr;			/* NULL on the counting pass */
	double w, h;			/* the page */
	double x0, cw;			/* the column */
	double top, bottom;		/* of the text on a page */
	double y;
	double reserve;			/* kept on the last page for the cut
					   note */
	int page;			/* pages begun, the cover included */
	int last;			/* the last page allowed */
	int total;			/* pages in all (drawing pass) */
	int unknown;
	bool cut;
	bool on_cover;
	/* the doc's numbers grouped for reading ("+254 20 555 0101"), or
	   NULL when the doc has none */
	const char *duty, *ackp, *number;
	char duty_b[BASE_PHONE_MAX], ackp_b[BASE_PHONE_MAX];
	char number_b[BASE_PHONE_MAX];
};

/* A number of the doc as it is printed: grouped into buf, or NULL. */
static const char *
fp_phone(const char *e164, char buf[BASE_PHONE_MAX])
{
	if (e164 == NULL)
		return NULL;
	(void)base_phone_group(e164, buf, BASE_PHONE_MAX);
	return buf;
}

int
faxpdf_fonts_new(struct faxpdf_fonts **ret, struct tocsin_err *err)
{
	struct faxpdf_fonts *f = calloc(1, sizeof(*f));

	*ret = NULL;
	if (f == NULL || (f->map = pango_cairo_font_map_new()) == NULL) {
		free(f);
		return tocsin_fail(err, TOCSIN_ENOMEM, "cannot make a font map");
	}
	*ret = f;
	return 0;
}

int
faxpdf_global_init(struct tocsin_err *err)
{
	/* fontconfig reads its configuration and caches once, here, before
	   the workers start, rather than in whichever thread asks first.
	   Nothing calls FcFini: Pango sorts fonts in threads of its own that
	   outlive the font map freed, and FcFini while one still holds a
	   cache aborts the process (fccache.c's "fcCacheChains[i] == NULL"
	   assertion, seen at the end of a fax preview).  The caches are the
	   process's until it exits. */
	if (!FcInit())
		return tocsin_fail(err, TOCSIN_EUNAVAIL, "fontconfig cannot "
		    "load its configuration; is the fontconfig package "
		    "installed?");
	return 0;
}

void
faxpdf_fonts_free(struct faxpdf_fonts *f)
{
	if (f == NULL)
		return;
	g_object_unref(f->map);
	free(f);
}

static cairo_status_t
fp_write(void *closure, const unsigned char *data, unsigned int length)
{
	struct fp_buf *b = closure;

	if (b->failed || length > FP_PDF_MAX - b->len) {
		b->failed = true;
		return CAIRO_STATUS_WRITE_ERROR;
	}
	if (base_grow(&b->p, &b->cap, b->len + length, 1) != 0) {
		b->failed = true;
		return CAIRO_STATUS_NO_MEMORY;
	}
	memcpy(b->p + b->len, data, length);
	b->len += length;
	return CAIRO_STATUS_SUCCESS;
}

enum fp_style { FP_NORMAL, FP_BOLD, FP_MONO };

/* A layout of text in the column's width (or width when > 0). */
static PangoLayout *
fp_layout(struct fp *fp, const char *text, double size, enum fp_style st,
    double width, PangoAlignment align)
{
	PangoLayout *l = pango_layout_new(fp->pc);
	PangoFontDescription *fd = pango_font_description_new();

	pango_font_description_set_family(fd, st == FP_MONO ? "Monospace" :
	    fp->family);
	pango_font_description_set_weight(fd, st == FP_NORMAL ?
	    PANGO_WEIGHT_NORMAL : PANGO_WEIGHT_BOLD);
	pango_font_description_set_size(fd, (int)(size * PANGO_SCALE));
	pango_layout_set_font_description(l, fd);
	pango_font_description_free(fd);
	pango_layout_set_width(l, (int)((width > 0 ? width : fp->cw) *
	    PANGO_SCALE));
	pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
	pango_layout_set_alignment(l, align);
	if (g_utf8_validate(text, -1, NULL))
		pango_layout_set_text(l, text, -1);
	else {
		/* the gateway cleans every field; a byte that still is not
		   UTF-8 becomes U+FFFD rather than costing the whole fax
		   (cairo refuses invalid text) */
		gchar *ok = g_utf8_make_valid(text, -1);

		pango_layout_set_text(l, ok, -1);
		g_free(ok);
	}
	if (fp->cr == NULL)
		fp->unknown += pango_layout_get_unknown_glyphs_count(l);
	return l;
}

static double
fp_height(PangoLayout *l)
{
	int w, h;

	pango_layout_get_size(l, &w, &h);
	return (double)h / PANGO_SCALE;
}

static void
fp_show(struct fp *fp, PangoLayout *l, double x, double y)
{
	if (fp->cr == NULL)
		return;
	cairo_move_to(fp->cr, x, y);
	pango_cairo_show_layout(fp->cr, l);
}

/* A text of the page's in the reader's language. */
#define FT(fp, s) i18n_text((fp)->o->cat, (fp)->o->lang, (s))

static const char *
fp_band_text(const struct fp *fp, bool *solid)
{
	const char *st = fp->doc->status != NULL ? fp->doc->status : "";

	*solid = false;
	if (strcmp(st, "Exercise") == 0 || fp->o->exercise)
		return FT(fp, N_("EXERCISE \xe2\x80\x93 NO REAL INCIDENT"));
	if (strcmp(st, "Test") == 0 || strcmp(st, "System") == 0)
		return FT(fp, N_("TEST \xe2\x80\x93 NO REAL INCIDENT"));
	if (strcmp(st, "Draft") == 0)
		return FT(fp, N_("DRAFT \xe2\x80\x93 DO NOT ACT"));
	*solid = true;
	return FT(fp, N_("ACTUAL ALERT"));
}

/* The band and the footer of the page just begun. */
static void
fp_decorate(struct fp *fp)
{
	cairo_t *cr = fp->cr;
	const struct chan_doc *d = fp->doc;
	PangoLayout *l;
	bool solid;
	const char *band = fp_band_text(fp, &solid);
	char t[512], n1[16], n2[16];

	if (cr == NULL)
		return;
	cairo_set_source_rgb(cr, 0, 0, 0);
	if (solid) {
		cairo_rectangle(cr, fp->x0, FP_MARGIN, fp->cw, FP_BAND_H);
		cairo_fill(cr);
	} else {
		/* two rules, so that the band stays a band at 98 dpi */
		cairo_set_line_width(cr, 4.0);
		cairo_rectangle(cr, fp->x0 + 2, FP_MARGIN + 2, fp->cw - 4,
		    FP_BAND_H - 4);
		cairo_stroke(cr);
		cairo_set_line_width(cr, 1.5);
		cairo_rectangle(cr, fp->x0 + 8, FP_MARGIN + 8, fp->cw - 16,
		    FP_BAND_H - 16);
		cairo_stroke(cr);
	}
	l = fp_layout(fp, band, 22, FP_BOLD, 0, PANGO_ALIGN_CENTER);
	if (solid)
		cairo_set_source_rgb(cr, 1, 1, 1);
	fp_show(fp, l, fp->x0, FP_MARGIN + (FP_BAND_H - fp_height(l)) / 2);
	g_object_unref(l);
	cairo_set_source_rgb(cr, 0, 0, 0);

	(void)i18n_fmt(t, sizeof(t), FT(fp, N_("Alert {alert}")), "alert",
	    d->alert_id != NULL ? d->alert_id : "?", NULL);
	if (fp->number != NULL) {
		size_t k = strlen(t);

		(void)snprintf(t + k, sizeof(t) - k, " \xc2\xb7 ");
		k = strlen(t);
		(void)i18n_fmt(t + k, sizeof(t) - k, FT(fp, N_("fax to "
		    "{number}")), "number", fp->number, NULL);
	}
	if (fp->o->exercise) {
		size_t k = strlen(t);

		(void)snprintf(t + k, sizeof(t) - k, " \xc2\xb7 %s", FT(fp,
		    N_("EXERCISE")));
	}
	l = fp_layout(fp, t, FP_SMALL, FP_NORMAL, fp->cw - 90,
	    PANGO_ALIGN_LEFT);
	pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
	fp_show(fp, l, fp->x0, fp->h - FP_MARGIN - FP_FOOT_H + 4);
	g_object_unref(l);
	(void)snprintf(n1, sizeof(n1), "%d", fp->page);
	(void)snprintf(n2, sizeof(n2), "%d", fp->total);
	(void)i18n_fmt(t, sizeof(t), FT(fp, N_("Page {page} of {pages}")),
	    "page", n1, "pages", n2, NULL);
	l = fp_layout(fp, t, FP_SMALL, FP_BOLD, 0, PANGO_ALIGN_RIGHT);
	fp_show(fp, l, fp->x0, fp->h - FP_MARGIN - FP_FOOT_H + 4);
	g_object_unref(l);
}

static void
fp_new_page(struct fp *fp)
{
	if (fp->cr != NULL && fp->page > 0)
		cairo_show_page(fp->cr);
	fp->page++;
	fp->y = fp->top;
	fp_decorate(fp);
}

static double
fp_limit(const struct fp *fp)
{
	return fp->page >= fp->last ? fp->bottom - fp->reserve : fp->bottom;
}

/* The text did not fit: say so in the room kept for it, once. */
static void
fp_cut(struct fp *fp)
{
	PangoLayout *l;

	if (fp->cut)
		return;
	fp->cut = true;
	if (fp->on_cover)
		l = fp_layout(fp, FT(fp, N_("[cut: the names are longer than a "
		    "cover page]")), FP_LABEL, FP_BOLD, 0, PANGO_ALIGN_LEFT);
	else {
		char t[1024];

		(void)i18n_fmt(t, sizeof(t), fp->duty != NULL ? FT(fp,
		    N_("[The alert is longer than this fax may be; the rest is "
		    "not printed. Ask the duty desk for it: {phone}.]")) :
		    FT(fp, N_("[The alert is longer than this fax may be; the "
		    "rest is not printed.]")), "phone", fp->duty, NULL);
		l = fp_layout(fp, t, FP_LABEL, FP_BOLD, 0, PANGO_ALIGN_LEFT);
	}
	fp_show(fp, l, fp->x0, fp->y + 4);
	g_object_unref(l);
}

/* Room for an unbreakable block of height h: on this page or the next. */
static bool
fp_room(struct fp *fp, double h)
{
	if (fp->cut)
		return false;
	if (fp->y + h <= fp_limit(fp))
		return true;
	if (fp->page >= fp->last || fp->y == fp->top) {
		/* no further page, or a block taller than a page: it goes
		   line by line where it can (fp_flow) */
		if (fp->page >= fp->last) {
			fp_cut(fp);
			return false;
		}
		return true;
	}
	fp_new_page(fp);
	return true;
}

/* A layout line by line, breaking pages between lines. */
static void
fp_flow(struct fp *fp, PangoLayout *l, double x)
{
	PangoLayoutIter *it;

	if (fp->cut)
		return;
	it = pango_layout_get_iter(l);
	do {
		PangoRectangle log;
		double lh;
		int base;

		pango_layout_iter_get_line_extents(it, NULL, &log);
		base = pango_layout_iter_get_baseline(it);
		lh = (double)log.height / PANGO_SCALE;
		if (fp->y + lh > fp_limit(fp)) {
			if (fp->page >= fp->last) {
				fp_cut(fp);
				break;
			}
			fp_new_page(fp);
		}
		if (fp->cr != NULL) {
			cairo_move_to(fp->cr, x + (double)log.x / PANGO_SCALE,
			    fp->y + (double)(base - log.y) / PANGO_SCALE);
			pango_cairo_show_layout_line(fp->cr,
			    pango_layout_iter_get_line_readonly(it));
		}
		fp->y += lh;
	} while (pango_layout_iter_next_line(it));
	pango_layout_iter_free(it);
}

static void
fp_para(struct fp *fp, const char *text, double size, enum fp_style st,
    double space_after)
{
	PangoLayout *l;

	if (text == NULL || text[0] == '\0' || fp->cut)
		return;
	l = fp_layout(fp, text, size, st, 0, PANGO_ALIGN_LEFT);
	fp_flow(fp, l, fp->x0);
	g_object_unref(l);
	fp->y += space_after;
}

/* "Label   value" in two columns; the value may run right to left. */
static void
fp_field(struct fp *fp, const char *label, const char *value)
{
	PangoLayout *lab, *val;
	double h;

	if (value == NULL || value[0] == '\0' || fp->cut)
		return;
	lab = fp_layout(fp, FT(fp, label), FP_LABEL, FP_BOLD, FP_LABEL_W - 6,
	    PANGO_ALIGN_LEFT);
	val = fp_layout(fp, value, FP_TEXT, FP_NORMAL, fp->cw - FP_LABEL_W,
	    PANGO_ALIGN_LEFT);
	h = fp_height(val) > fp_height(lab) ? fp_height(val) : fp_height(lab);
	if (fp_room(fp, h)) {
		fp_show(fp, lab, fp->x0, fp->y + 1.5);
		if (fp->y + h <= fp_limit(fp)) {
			fp_show(fp, val, fp->x0 + FP_LABEL_W, fp->y);
			fp->y += h + 3;
		} else
			fp_flow(fp, val, fp->x0 + FP_LABEL_W);
	}
	g_object_unref(lab);
	g_object_unref(val);
}

/* Label and value pairs, one fp_field each, in order (an empty value is
   skipped there). */
static void
fp_fields(struct fp *fp, const char *const f[][2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		fp_field(fp, f[i][0], f[i][1]);
}

/* "12345678" as "1234 5678": easier to read out over a phone. */
static void
fp_spaced(const char *code, char *out, size_t outlen)
{
	size_t n = strlen(code), j = 0;

	for (size_t i = 0; i < n && j + 2 < outlen; i++) {
		if (i > 0 && (n - i) % 4 == 0)
			out[j++] = ' ';
		out[j++] = code[i];
	}
	out[j] = '\0';
}

/* The acknowledgement box: the code, the number to call, the link. */
static void
fp_ack_box(struct fp *fp)
{
	const char *code = fp->o->ack_code, *url = fp->o->ack_url;
	char spaced[64], t[1024];
	PangoLayout *ls[6];
	double pad[6];
	size_t n = 0;
	double inner = fp->cw - 2 * FP_PAD, h = 0, y;

	if ((code == NULL || code[0] == '\0') && (url == NULL || url[0] == '\0'))
		return;
	ls[n] = fp_layout(fp, FT(fp, N_("TO ACKNOWLEDGE")), FP_SECTION,
	    FP_BOLD, inner, PANGO_ALIGN_LEFT);
	pad[n++] = 4;
	if (code != NULL && code[0] != '\0') {
		fp_spaced(code, spaced, sizeof(spaced));
		(void)i18n_fmt(t, sizeof(t), FT(fp, N_("Code  {code}")),
		    "code", spaced, NULL);
		ls[n] = fp_layout(fp, t, 30, FP_MONO, inner, PANGO_ALIGN_LEFT);
		pad[n++] = 6;
		if (fp->duty != NULL) {
			(void)i18n_fmt(t, sizeof(t), FT(fp, N_("Call the duty "
			    "desk at {phone} and give this code.")), "phone",
			    fp->duty, NULL);
			ls[n] = fp_layout(fp, t, FP_TEXT, FP_BOLD, inner,
			    PANGO_ALIGN_LEFT);
			pad[n++] = 3;
		}
		if (fp->ackp != NULL) {
			/* "ACK" stays: the word the reply is read for */
			(void)i18n_fmt(t, sizeof(t), FT(fp, N_("Or send \"ACK "
			    "{code}\" by SMS to {phone}.")), "code", code,
			    "phone", fp->ackp, NULL);
			ls[n] = fp_layout(fp, t, FP_TEXT, FP_NORMAL, inner,
			    PANGO_ALIGN_LEFT);
			pad[n++] = 3;
		}
	}
	if (url != NULL && url[0] != '\0') {
		ls[n] = fp_layout(fp, FT(fp, N_("Or open this address and press "
		    "the button:")), FP_TEXT, FP_NORMAL, inner,
		    PANGO_ALIGN_LEFT);
		pad[n++] = 1;
		ls[n] = fp_layout(fp, url, 11, FP_MONO, inner,
		    PANGO_ALIGN_LEFT);
		pad[n++] = 0;
	}
	for (size_t i = 0; i < n; i++)
		h += fp_height(ls[i]) + pad[i];
	h += 2 * FP_PAD;
	if (fp_room(fp, h)) {
		if (fp->cr != NULL) {
			cairo_set_line_width(fp->cr, 3.0);
			cairo_rectangle(fp->cr, fp->x0 + 1.5, fp->y + 1.5,
			    fp->cw - 3, h - 3);
			cairo_stroke(fp->cr);
		}
		y = fp->y + FP_PAD;
		for (size_t i = 0; i < n; i++) {
			fp_show(fp, ls[i], fp->x0 + FP_PAD, y);
			y += fp_height(ls[i]) + pad[i];
		}
		fp->y += h + FP_GAP;
	}
	for (size_t i = 0; i < n; i++)
		g_object_unref(ls[i]);
}

static void
fp_cover(struct fp *fp)
{
	const struct chan_doc *d = fp->doc;
	const char *const fields[][2] = { { N_("To"), d->recipient },
		{ N_("Fax number"), fp->number }, { N_("Team"), d->team },
		{ N_("From"), d->issuer }, { N_("Sent"), d->sent_utc },
		{ N_("Local time"), d->sent_local },
		{ N_("Alert id"), d->alert_id } };
	char pages[64], n1[16], who[1024];

	int last = fp->last;

	/* the cover is one page whatever its names: what does not fit is
	   cut there, and the alert's own pages are untouched */
	fp_new_page(fp);
	fp->last = fp->page;
	fp->on_cover = true;
	fp_para(fp, FT(fp, N_("FAX \xe2\x80\x93 URGENT")), 30, FP_BOLD,
	    FP_GAP);
	(void)i18n_fmt(who, sizeof(who), FT(fp, N_("Security alert for the "
	    "incident response team {team}. Hand it to the contact named "
	    "below at once.")), "team", d->team != NULL ? d->team : "", NULL);
	fp_para(fp, who, FP_SECTION, FP_NORMAL, 2 * FP_GAP);
	fp_fields(fp, fields, sizeof(fields) / sizeof(fields[0]));
	(void)snprintf(n1, sizeof(n1), "%d", fp->total);
	(void)i18n_fmt(pages, sizeof(pages), FT(fp, N_("{pages}, this cover "
	    "included")), "pages", n1, NULL);
	fp_field(fp, N_("Pages"), fp->cr != NULL ? pages : "0");
	fp_field(fp, N_("Duty desk"), fp->duty);
	fp->y += FP_GAP;
	fp_para(fp, FT(fp, N_("If this fax reached you by mistake, call the "
	    "duty desk and tell them; do not act on it.")), FP_TEXT, FP_NORMAL,
	    0);
	fp->last = last;
	fp->cut = false;
	fp->on_cover = false;
}

static void
fp_body(struct fp *fp)
{
	const struct chan_doc *d = fp->doc;
	const char *title = d->headline != NULL ? d->headline :
	    d->event != NULL ? d->event : FT(fp, N_("Security alert"));
	/* what to do before what happened: when the pages run out, the
	   description is what is cut */
	const char *const texts[][2] = { { N_("Instruction"), d->instruction },
		{ N_("Description"), d->description }, { N_("Note"), d->note } };
	/* the event is a field of its own only under a headline */
	const char *const fields[][2] = { { N_("Alert id"), d->alert_id },
		{ N_("Issued by"), d->issuer }, { N_("Sent"), d->sent_utc },
		{ N_("Local time"), d->sent_local }, { N_("Team"), d->team },
		{ N_("For"), d->recipient }, { N_("Severity"), d->grading },
		{ N_("Event"), d->headline != NULL ? d->event : NULL },
		{ N_("Area"), d->area }, { N_("CAP id"), d->cap_identifier } };
	char sum[1024];

	fp_new_page(fp);
	fp_para(fp, d->msg_type_line, FP_SECTION, FP_BOLD, 4);
	fp_para(fp, title, FP_HEAD, FP_BOLD, FP_GAP);
	fp_ack_box(fp);
	fp_fields(fp, fields, sizeof(fields) / sizeof(fields[0]));
	fp->y += FP_GAP;
	if (!d->full) {
		(void)i18n_fmt(sum, sizeof(sum), fp->duty != NULL ? FT(fp,
		    N_("This fax is a summary. The full alert went to your team "
		    "by encrypted e-mail. For details, call the duty desk at "
		    "{phone}.")) : FT(fp, N_("This fax is a summary. The full "
		    "alert went to your team by encrypted e-mail.")), "phone",
		    fp->duty, NULL);
		fp_para(fp, sum, FP_TEXT, FP_NORMAL, 0);
		return;
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (texts[i][1] == NULL)
			continue;
		fp_para(fp, FT(fp, texts[i][0]), FP_SECTION, FP_BOLD, 3);
		fp_para(fp, texts[i][1], FP_TEXT, FP_NORMAL, FP_GAP);
	}
}

/* One pass; cr NULL counts pages. */
static void
fp_pass(struct fp *fp)
{
	PangoLayout *l;
	char t[1024];

	fp->page = 0;
	fp->cut = false;
	fp->last = fp->o->pages + (fp->o->cover ? 1 : 0);
	/* the cut note's room: its height with a duty phone, the longest */
	(void)i18n_fmt(t, sizeof(t), FT(fp, N_("[The alert is longer than "
	    "this fax may be; the rest is not printed. Ask the duty desk for "
	    "it: {phone}.]")), "phone", "+000000000000000", NULL);
	l = fp_layout(fp, t, FP_LABEL, FP_BOLD, 0, PANGO_ALIGN_LEFT);
	fp->reserve = fp_height(l) + 8;
	g_object_unref(l);
	if (fp->o->cover)
		fp_cover(fp);
	fp_body(fp);
	if (fp->cr != NULL)
		cairo_show_page(fp->cr);
}

int
faxpdf_render(struct faxpdf_fonts *fonts, const struct chan_doc *doc,
    const struct faxpdf_opts *opts, struct faxpdf_out *out,
    struct tocsin_err *err)
{
	struct fp fp = { 0 };
	struct fp_buf buf = { 0 };
	cairo_surface_t *surf;
	cairo_font_options_t *fo;
	cairo_status_t cs;
	char title[160];

	if (fonts == NULL || doc == NULL || opts == NULL || out == NULL ||
	    opts->pages < 1)
		return tocsin_fail(err, TOCSIN_EINTERNAL, "faxpdf_render: "
		    "fonts, a document and at least one page are needed");
	fp.doc = doc;
	fp.o = opts;
	fp.duty = fp_phone(doc->duty_phone, fp.duty_b);
	fp.ackp = fp_phone(doc->ack_phone, fp.ackp_b);
	fp.number = fp_phone(doc->number, fp.number_b);
	fp.family = opts->font != NULL && opts->font[0] != '\0' ? opts->font :
	    "Sans";
	if (opts->paper == POLICY_PAPER_LETTER) {
		fp.w = 612;
		fp.h = 792;
	} else {
		fp.w = 210 * FP_MM;
		fp.h = 297 * FP_MM;
	}
	fp.x0 = FP_MARGIN;
	fp.cw = fp.w - 2 * FP_MARGIN;
	fp.top = FP_MARGIN + FP_BAND_H + 14;
	fp.bottom = fp.h - FP_MARGIN - FP_FOOT_H - 6;

	if ((fp.pc = pango_font_map_create_context(fonts->map)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	fo = cairo_font_options_create();
	cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
	cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
	pango_cairo_context_set_font_options(fp.pc, fo);
	cairo_font_options_destroy(fo);
	pango_cairo_context_set_resolution(fp.pc, 72);

	fp_pass(&fp);			/* count */
	fp.total = fp.page;
	out->unknown_glyphs = fp.unknown;

	surf = cairo_pdf_surface_create_for_stream(fp_write, &buf, fp.w, fp.h);
	(void)snprintf(title, sizeof(title), "Alert %.60s",
	    doc->alert_id != NULL && g_str_is_ascii(doc->alert_id) ?
	    doc->alert_id : "");
	cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_TITLE, title);
	cairo_pdf_surface_set_metadata(surf, CAIRO_PDF_METADATA_CREATOR,
	    "tocsin");
	fp.cr = cairo_create(surf);
	fp_pass(&fp);			/* draw */
	cs = cairo_status(fp.cr);
	cairo_destroy(fp.cr);
	cairo_surface_finish(surf);
	if (cs == CAIRO_STATUS_SUCCESS)
		cs = cairo_surface_status(surf);
	cairo_surface_destroy(surf);
	g_object_unref(fp.pc);
	if (cs != CAIRO_STATUS_SUCCESS || buf.failed || fp.page != fp.total) {
		free(buf.p);
		if (cs == CAIRO_STATUS_NO_MEMORY)
			return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
		return tocsin_fail(err, TOCSIN_EINTERNAL, "cannot write the fax "
		    "PDF: %s", buf.failed ? "it grew too large" :
		    cs != CAIRO_STATUS_SUCCESS ? cairo_status_to_string(cs) :
		    "the two layout passes differ");
	}
	out->pdf = buf.p;
	out->len = buf.len;
	out->pages = fp.total;
	out->cut = fp.cut;
	return 0;
}
