/*
 * fuzz_faxpdf.c: libFuzzer target for laying out and writing the fax page.
 *
 * Input (at most 4 KiB): one byte of options, then the fields of a
 * chan_doc separated by NUL bytes, in the order of `fields` below; a field
 * the input does not reach is NULL, an empty one "".  Nothing is cleaned:
 * the gateway passes valid UTF-8, but the renderer must not crash on any
 * bytes.  (Pango 1.50 warns of invalid UTF-8 and hands the bad bytes on
 * to cairo, which refuses them, so such a render fails cleanly.)
 *
 * The option byte: bit 0 cover, bit 1 Letter, bit 2 full detail, bit 3
 * exercise, bits 4-5 pages 1 to 4, bits 6-7 the font (default, "Sans", a
 * family list, "Monospace").  Given valid UTF-8 and an ASCII ack code, a
 * render must succeed with a PDF of the pages counted, within the limit,
 * and a cut only at the limit; given anything else it may fail, with
 * TOCSIN_EINTERNAL and out untouched.
 *
 * One font map, made at the first call, serves every input, as one serves
 * a session of the fax driver.  Pango's warning about invalid UTF-8 is
 * expected and silenced; a critical (a failed g_return_if_fail) aborts,
 * since it means the renderer misused Pango.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "channel.h"
#include "faxpdf.h"

#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next NUL-separated field of [*p, end) as a fresh string, or NULL
   when the input is used up. */
static char *
field(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul;
	size_t n;
	char *s;

	if (*p >= end)
		return NULL;
	nul = memchr(*p, 0, (size_t)(end - *p));
	n = (size_t)((nul != NULL ? nul : end) - *p);
	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p = nul != NULL ? nul + 1 : end;
	return s;
}

/* Pango's warning about invalid UTF-8 is expected; a critical or an
   error is a finding. */
static GLogWriterOutput
fuzz_log(GLogLevelFlags level, const GLogField *f, gsize n, gpointer data)
{
	const char *msg = "";

	for (gsize i = 0; i < n; i++)
		if (strcmp(f[i].key, "MESSAGE") == 0 && f[i].length < 0)
			msg = f[i].value;
	if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0) {
		fprintf(stderr, "glib critical: %s\n", msg);
		abort();
	}
	if (strstr(msg, "Invalid UTF-8") != NULL)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_default(level, f, n, data);
}

/*
 * fontconfig links much of what it keeps (a pattern's elements, its
 * configuration) by offsets rather than pointers, so LeakSanitizer takes
 * the font map's caches, alive until exit, for leaks.  Nothing of this
 * file or of faxpdf.c is allocated by fontconfig.
 */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fonts_list[] = { NULL, "Sans",
		"Noto Sans, DejaVu Sans, Sans", "Monospace" };
	static struct faxpdf_fonts *fonts;
	const uint8_t *p, *end = data + size;
	struct chan_doc doc = { 0 };
	struct faxpdf_opts o = { 0 };
	struct faxpdf_out out = { 0 };
	struct tocsin_err e = { 0 };
	char *ack_code, *ack_url;
	char **fields[] = { &doc.headline, &doc.description,
		&doc.instruction, &doc.issuer, &doc.area, &doc.team,
		&doc.recipient, &doc.status, &doc.alert_id, &doc.number,
		&doc.event, &doc.grading, &doc.msg_type_line, &doc.note,
		&doc.cap_identifier, &doc.sent_utc, &doc.sent_local, &doc.lang,
		&doc.duty_phone, &doc.ack_phone, &ack_code, &ack_url };
	size_t nf = sizeof(fields) / sizeof(fields[0]);
	bool valid = true;
	int min, rc;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	if (fonts == NULL) {
		g_log_set_writer_func(fuzz_log, NULL, NULL);
		if (faxpdf_fonts_new(&fonts, &e) != 0) {
			fprintf(stderr, "faxpdf_fonts_new: %s\n", e.msg);
			abort();
		}
	}
	o.cover = (data[0] & 1) != 0;
	o.paper = (data[0] & 2) != 0 ? POLICY_PAPER_LETTER : POLICY_PAPER_A4;
	doc.full = (data[0] & 4) != 0;
	o.exercise = (data[0] & 8) != 0;
	o.pages = 1 + ((data[0] >> 4) & 3);
	o.font = fonts_list[data[0] >> 6];
	p = data + 1;
	for (size_t i = 0; i < nf; i++)
		*fields[i] = field(&p, end);
	o.ack_code = ack_code;
	o.ack_url = ack_url;

	for (size_t i = 0; i < nf; i++)
		if (*fields[i] != NULL && !g_utf8_validate(*fields[i], -1, NULL))
			valid = false;
	/* the code is the gateway's own eight digits (ack.c), which the page
	   groups byte by byte */
	for (const char *c = ack_code; c != NULL && *c != '\0'; c++)
		if ((unsigned char)*c >= 0x80)
			valid = false;

	rc = faxpdf_render(fonts, &doc, &o, &out, &e);
	if (rc != 0) {
		/* Pango passes invalid bytes on to cairo, which refuses them:
		   a failure, with out untouched, but never for valid text */
		if (valid || rc != TOCSIN_EINTERNAL || e.code != rc ||
		    out.pdf != NULL || out.len != 0 || out.pages != 0) {
			fprintf(stderr, "faxpdf_render: %d %s\n", rc, e.msg);
			abort();
		}
		goto done;
	}
	min = o.cover ? 2 : 1;
	if (out.pdf == NULL || out.len < 5 || memcmp(out.pdf, "%PDF-", 5) != 0)
		abort();
	if (out.pages < min || out.pages > o.pages + min - 1)
		abort();
	if (out.cut && out.pages != o.pages + min - 1)
		abort();
	if (out.unknown_glyphs < 0)
		abort();
	free(out.pdf);
done:
	for (size_t i = 0; i < nf; i++)
		free(*fields[i]);
	return 0;
}
