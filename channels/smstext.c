/*
 * smstext.c: SMS text under a part limit.  Implements the GSM 7-bit default
 * alphabet and its extension table of 3GPP TS 23.038 (GSM 03.38), and the
 * part sizes that the concatenation header of 3GPP TS 23.040 leaves.
 *
 * Counting runs once over the characters and keeps both codings' figures,
 * so the coding can be chosen at the end for the message as a whole.
 * Composing looks at no more alert text than ten parts could ever hold, so
 * a huge text costs no more than a long one, and every composed message is
 * measured again before it is returned.
 *
 * Deliberately not done: national language shift tables (the provider
 * decides the encoding, and few support them), transliteration of the
 * alert's text (an alert is sent as written; only the gateway's own words
 * are, by smstext_fold), and keeping grapheme clusters whole (a cut is at
 * a code point, so it may part a combining mark from its base).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gsm7.h"
#include "smstext.h"
#include "utf8.h"

#define GSM7_SINGLE	160	/* septets in an unsplit message */
#define GSM7_PART	153	/* septets per part after the 6-octet UDH */
#define UCS2_SINGLE	70
#define UCS2_PART	67

/* Characters of alert text looked at: more than the largest limit can hold,
   since every character takes at least one septet or unit. */
#define TEXT_MAX	2048
_Static_assert(TEXT_MAX > SMSTEXT_MAX_SEGMENTS * GSM7_PART,
    "TEXT_MAX must exceed what the largest message can hold");

/* How far back from a character cut a space is looked for. */
#define WORD_BACK	20

#define FFFD		0xfffdu

/* Septets cp takes in GSM7: 1 in the default alphabet, 2 in the extension
   table (escape + character), 0 if GSM7 cannot carry it (gsm7.h). */
static unsigned
smstext_septets(uint32_t cp)
{
	return gsm7_encode(cp, NULL);
}

/* ---- counting ---- */

/* Both codings' figures for the characters seen so far. */
struct smstext_tally {
	bool gsm;		/* every character so far is in GSM7 */
	size_t septets, gsm_parts, gsm_fill;
	size_t units, ucs_parts, ucs_fill;
};

static void
smstext_tally_init(struct smstext_tally *t)
{
	memset(t, 0, sizeof(*t));
	t->gsm = true;
	t->gsm_parts = 1;
	t->ucs_parts = 1;
}

/* A pair (w == 2) that does not fit the part being filled starts the next
   one whole: that is what keeps escape and surrogate pairs together. */
static void
smstext_fill(size_t *parts, size_t *fill, unsigned w, size_t room)
{
	if (*fill + w > room) {
		(*parts)++;
		*fill = w;
	} else {
		*fill += w;
	}
}

static void
smstext_tally_add(struct smstext_tally *t, uint32_t cp)
{
	unsigned sept = smstext_septets(cp), u16 = cp > 0xffff ? 2 : 1;

	if (sept == 0)
		t->gsm = false;
	if (t->gsm) {
		t->septets += sept;
		smstext_fill(&t->gsm_parts, &t->gsm_fill, sept, GSM7_PART);
	}
	t->units += u16;
	smstext_fill(&t->ucs_parts, &t->ucs_fill, u16, UCS2_PART);
}

/* Add len bytes of UTF-8; false with *bad its offset at the first
   ill-formed sequence. */
static bool
smstext_tally_utf8(struct smstext_tally *t, const char *s, size_t len,
    size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t off = 0;

	while (off < len) {
		uint32_t cp;
		size_t skip, n = utf8_next(p + off, len - off, &cp, &skip);

		if (n == 0) {
			*bad = off;
			return false;
		}
		smstext_tally_add(t, cp);
		off += n;
	}
	return true;
}

static void
smstext_tally_info(const struct smstext_tally *t, struct smstext_info *info)
{
	if (t->gsm) {
		info->coding = SMSTEXT_GSM7;
		info->units = t->septets;
		info->segments = t->septets <= GSM7_SINGLE ? 1 : t->gsm_parts;
	} else {
		info->coding = SMSTEXT_UCS2;
		info->units = t->units;
		info->segments = t->units <= UCS2_SINGLE ? 1 : t->ucs_parts;
	}
}

int
smstext_measure(const char *utf8, size_t len, struct smstext_info *ret,
    struct tocsin_err *err)
{
	struct smstext_tally t;
	size_t bad;

	if (ret == NULL || (utf8 == NULL && len > 0))
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "smstext_measure called without text or result");
	smstext_tally_init(&t);
	if (!smstext_tally_utf8(&t, utf8, len, &bad))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS text is not valid UTF-8 at byte %zu", bad);
	smstext_tally_info(&t, ret);
	return 0;
}

/* ---- composing ---- */

#define ELLIPSIS_GSM	"..."
#define ELLIPSIS_UCS	"\xe2\x80\xa6"	/* U+2026 */

struct smstext_job {
	const char *marker, *tail;
	size_t marker_len, tail_len;
	bool frame_gsm;			/* marker and tail are all GSM7 */
	struct smstext_tally after_marker;
	uint32_t *text;			/* the cleaned alert text */
	size_t ntext;
	size_t first_ucs;		/* first non-GSM7 character, or ntext */
	unsigned max;
};

/*
 * Whether a character of alert text becomes a space: controls (CR and LF
 * included), Unicode spaces, and the bidirectional embedding, override and
 * isolate controls, whose effect lasts to the end of the paragraph, and an
 * SMS is one paragraph ending with the acknowledgement code.
 */
static bool
smstext_blank(uint32_t cp)
{
	return cp <= 0x20 ||
	    (cp >= 0x7f && cp <= 0xa0) ||	/* DEL, C1, no-break space */
	    cp == 0x1680 ||
	    (cp >= 0x2000 && cp <= 0x200a) ||
	    (cp >= 0x2028 && cp <= 0x202f) ||	/* LS, PS, LRE..RLO, NNBSP */
	    cp == 0x205f ||
	    (cp >= 0x2066 && cp <= 0x2069) ||	/* LRI..PDI */
	    cp == 0x3000;
}

/* Clean the alert text into job->text as smstext.h says, stopping at
   TEXT_MAX characters. */
static int
smstext_clean(struct smstext_job *job, const char *s, struct tocsin_err *err)
{
	const unsigned char *p = (const unsigned char *)s;
	bool space = false;
	size_t n = 0;

	job->text = malloc(TEXT_MAX * sizeof(job->text[0]));
	if (job->text == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	while (*p != '\0' && n < TEXT_MAX) {
		uint32_t cp;
		size_t skip;
		/* a NUL is never a continuation byte, so 4 is enough */
		size_t k = utf8_next(p, strnlen((const char *)p, 4), &cp,
		    &skip);

		if (k == 0) {
			cp = FFFD;
			k = skip;
		}
		p += k;
		if (smstext_blank(cp)) {
			space = n > 0;	/* leading blanks go */
			continue;
		}
		if (space) {
			job->text[n++] = ' ';
			space = false;
			if (n == TEXT_MAX)
				break;
		}
		job->text[n++] = cp;
	}
	job->ntext = n;
	job->first_ucs = n;
	for (size_t i = 0; i < n; i++)
		if (smstext_septets(job->text[i]) == 0) {
			job->first_ucs = i;
			break;
		}
	return 0;
}

/* Whether marker, the first k characters of text, and an ellipsis if cut
   are GSM7 (then the ellipsis must be too). */
static bool
smstext_is_gsm(const struct smstext_job *job, size_t k)
{
	return job->frame_gsm && k <= job->first_ucs;
}

/* The message of the first k characters, cut or not, measured. */
static void
smstext_try(const struct smstext_job *job, size_t k, bool cut,
    struct smstext_info *info)
{
	struct smstext_tally t = job->after_marker;
	const char *dots = smstext_is_gsm(job, k) ? ELLIPSIS_GSM : ELLIPSIS_UCS;
	size_t bad;

	for (size_t i = 0; i < k; i++)
		smstext_tally_add(&t, job->text[i]);
	if (cut)
		(void)smstext_tally_utf8(&t, dots, strlen(dots), &bad);
	(void)smstext_tally_utf8(&t, job->tail, job->tail_len, &bad);
	smstext_tally_info(&t, info);
}

static bool
smstext_fits(const struct smstext_job *job, size_t k, bool cut)
{
	struct smstext_info info;

	smstext_try(job, k, cut, &info);
	return info.segments <= job->max;
}

/* The largest k in [lo, hi] that fits cut, or SIZE_MAX if none; fitting
   must be monotone over the range, which holds while the coding stays. */
static size_t
smstext_search(const struct smstext_job *job, size_t lo, size_t hi)
{
	if (!smstext_fits(job, lo, true))
		return SIZE_MAX;
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (smstext_fits(job, mid, true))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/*
 * The most characters of text that fit when cut (fewer than ntext), or
 * SIZE_MAX.  Cuts after the first non-GSM7 character are UCS2 and longer;
 * only if none fits do the GSM7 cuts before it count, where more characters
 * fit per part.
 */
static size_t
smstext_longest(const struct smstext_job *job)
{
	size_t hi, k;

	if (job->ntext == 0)
		return SIZE_MAX;
	hi = job->ntext - 1;
	if (job->first_ucs < hi) {
		k = smstext_search(job, job->first_ucs + 1, hi);
		if (k != SIZE_MAX)
			return k;
		hi = job->first_ucs;
	}
	return smstext_search(job, 0, hi);
}

/*
 * Move a cut of k characters back to the last space among the last
 * WORD_BACK kept characters, dropping that space.  The cleaned text has no
 * leading or doubled spaces, so no cut ends with one.
 */
static size_t
smstext_word_cut(const struct smstext_job *job, size_t k)
{
	size_t stop = k > WORD_BACK ? k - WORD_BACK : 1;

	if (k >= job->ntext || job->text[k] == ' ')
		return k;		/* already at the end of a word */
	for (size_t i = k; i-- > stop; )
		if (job->text[i] == ' ')
			/* shorter never needs more parts while the coding
			   stays; checked all the same, since a shorter cut
			   may change the coding */
			return smstext_fits(job, i, true) ? i : k;
	return k;
}

int
smstext_compose(const char *marker, const char *text, const char *tail,
    unsigned max_segments, char **ret, struct smstext_info *info,
    struct tocsin_err *err)
{
	struct smstext_job job = { 0 };
	struct smstext_tally t;
	struct smstext_info frame, got;
	const char *dots = NULL;
	size_t k, bad, size;
	char *out, *o;
	int rc;

	if (ret == NULL || info == NULL)
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "smstext_compose called without a result");
	if (max_segments < 1 || max_segments > SMSTEXT_MAX_SEGMENTS)
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "an SMS may take 1 to %d parts, not %u",
		    SMSTEXT_MAX_SEGMENTS, max_segments);
	job.marker = marker != NULL ? marker : "";
	job.tail = tail != NULL ? tail : "";
	job.marker_len = strlen(job.marker);
	job.tail_len = strlen(job.tail);
	job.max = max_segments;

	smstext_tally_init(&job.after_marker);
	if (!smstext_tally_utf8(&job.after_marker, job.marker, job.marker_len,
	    &bad))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "the SMS marker is not valid UTF-8 at byte %zu", bad);
	t = job.after_marker;
	if (!smstext_tally_utf8(&t, job.tail, job.tail_len, &bad))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "the SMS tail is not valid UTF-8 at byte %zu", bad);
	smstext_tally_info(&t, &frame);
	if (frame.segments > max_segments)
		return tocsin_fail(err, TOCSIN_ETOOBIG,
		    "the SMS marker and tail alone take %zu parts, more than "
		    "the %u allowed", frame.segments, max_segments);
	job.frame_gsm = t.gsm;

	if ((rc = smstext_clean(&job, text != NULL ? text : "", err)) != 0)
		return rc;
	k = job.ntext;
	if (!smstext_fits(&job, k, false)) {
		k = smstext_longest(&job);
		if (k == SIZE_MAX)
			k = 0;	/* not even the ellipsis: marker and tail */
		else {
			k = smstext_word_cut(&job, k);
			dots = smstext_is_gsm(&job, k) ? ELLIPSIS_GSM :
			    ELLIPSIS_UCS;
		}
	}

	/* at most 4 bytes a character */
	size = job.marker_len + 4 * k + (dots ? strlen(dots) : 0) +
	    job.tail_len + 1;
	if ((out = malloc(size)) == NULL) {
		free(job.text);
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	}
	o = out;
	memcpy(o, job.marker, job.marker_len);
	o += job.marker_len;
	for (size_t i = 0; i < k; i++)
		o += utf8_put(o, job.text[i]);
	if (dots != NULL) {
		memcpy(o, dots, strlen(dots));
		o += strlen(dots);
	}
	memcpy(o, job.tail, job.tail_len);
	o += job.tail_len;
	*o = '\0';
	free(job.text);

	/* measured from the bytes themselves, not from the search */
	if (smstext_measure(out, (size_t)(o - out), &got, err) != 0 ||
	    got.segments > max_segments) {
		free(out);
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "composed SMS does not measure within %u parts",
		    max_segments);
	}
	*ret = out;
	*info = got;
	return 0;
}

/* ---- the gateway's own words in GSM7 ---- */

/* The GSM7 spelling of a character the alphabet lacks, or NULL. */
static const char *
smstext_fold_one(uint32_t cp)
{
	static const struct { uint32_t cp; const char *to; } map[] = {
		{ 0x00c0, "A" }, { 0x00c1, "A" }, { 0x00c2, "A" },
		{ 0x00c3, "A" }, { 0x00c8, "E" }, { 0x00ca, "E" },
		{ 0x00cb, "E" }, { 0x00cc, "I" }, { 0x00cd, "I" },
		{ 0x00ce, "I" }, { 0x00cf, "I" }, { 0x00d2, "O" },
		{ 0x00d3, "O" }, { 0x00d4, "O" }, { 0x00d5, "O" },
		{ 0x00d9, "U" }, { 0x00da, "U" }, { 0x00db, "U" },
		{ 0x00dd, "Y" }, { 0x00e1, "a" }, { 0x00e2, "a" },
		{ 0x00e3, "a" }, { 0x00e7, "c" }, { 0x00ea, "e" },
		{ 0x00eb, "e" }, { 0x00ed, "i" }, { 0x00ee, "i" },
		{ 0x00ef, "i" }, { 0x00f3, "o" }, { 0x00f4, "o" },
		{ 0x00f5, "o" }, { 0x00fa, "u" }, { 0x00fb, "u" },
		{ 0x00fd, "y" }, { 0x00ff, "y" }, { 0x0152, "OE" },
		{ 0x0153, "oe" }, { 0x00ab, "\"" }, { 0x00bb, "\"" },
		{ 0x2010, "-" }, { 0x2011, "-" }, { 0x2013, "-" },
		{ 0x2014, "-" }, { 0x2018, "'" }, { 0x2019, "'" },
		{ 0x201c, "\"" }, { 0x201d, "\"" }, { 0x2026, "..." },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].cp == cp)
			return map[i].to;
	return NULL;
}

int
smstext_fold(const char *utf8, char **ret, struct tocsin_err *err)
{
	const unsigned char *p = (const unsigned char *)utf8;
	size_t len = strlen(utf8), off = 0, o = 0;
	char *out;

	*ret = NULL;
	/* a folded character is never longer than the bytes it replaces
	   but for the ligatures and the ellipsis: 3 bytes a character is
	   enough for both */
	if (len > SIZE_MAX / 3 - 1 || (out = malloc(3 * len + 1)) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");
	while (off < len) {
		uint32_t cp;
		size_t skip, n = utf8_next(p + off, len - off, &cp, &skip);
		const char *to;

		if (n == 0) {
			free(out);
			return tocsin_fail(err, TOCSIN_EDATA, "the SMS's own "
			    "words are not valid UTF-8 at byte %zu", off);
		}
		off += n;
		if (smstext_septets(cp) > 0) {
			o += utf8_put(out + o, cp);
			continue;
		}
		if ((to = smstext_fold_one(cp)) == NULL) {
			free(out);
			return 0;
		}
		memcpy(out + o, to, strlen(to));
		o += strlen(to);
	}
	out[o] = '\0';
	*ret = out;
	return 1;
}

bool
smstext_text_gsm(const char *utf8)
{
	const unsigned char *p = (const unsigned char *)utf8;
	size_t len = strlen(utf8), off = 0;

	while (off < len) {
		uint32_t cp;
		size_t skip, n = utf8_next(p + off, len - off, &cp, &skip);

		if (n == 0)
			return false;
		off += n;
		if (!smstext_blank(cp) && smstext_septets(cp) == 0)
			return false;
	}
	return true;
}
