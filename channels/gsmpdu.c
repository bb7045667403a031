/*
 * gsmpdu.c: SMS-SUBMIT and SMS-DELIVER PDUs (3GPP TS 23.040 9.2.2.1,
 * 9.2.2.2, 9.2.3) in the alphabets of TS 23.038 (the GSM 7-bit default
 * alphabet of gsm7.h, UCS-2), for a modem in PDU mode (TS 27.005).
 *
 * Submitting never decides a coding or a part count of its own: the text
 * is measured by smstext_measure() first and filled into parts by the same
 * rule (a pair that does not fit the part starts the next one whole), so
 * what the gateway promised a sender (the parts it counted) is what the
 * modem sends; a disagreement is a broken invariant, reported as such.
 *
 * A DELIVER is outside input (the network, and whoever can make a phone
 * send something): it is decoded from hex into a fixed buffer of
 * GSMPDU_MAX_OCTETS, and every field is read through one cursor that
 * checks what is left before each read, so no length in the PDU can move
 * a read past its end.  The text comes out as UTF-8 with controls made
 * spaces, so a caller may put it in a log line or a reply as it is.
 *
 * Deliberately not done: national language shift tables (smstext.c says
 * why), 8-bit data and compressed text (no alert reply is either), status
 * reports, and reassembly of concatenated parts (the caller holds the
 * parts; here is only each one's reference, total and sequence).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "gsm7.h"
#include "gsmpdu.h"
#include "smstext.h"
#include "utf8.h"

#define SEPT_SINGLE	160	/* septets in an unsplit message */
#define SEPT_PART	153	/* after the 6-octet UDH and its fill bit */
#define UCS_SINGLE	70	/* UTF-16 units */
#define UCS_PART	67
#define UD_MAX		140	/* octets of user data */
#define NUMBER_DIGITS	15	/* E.164 */
#define ADDR_DIGITS	20	/* an address field: 10 octets of digits */
#define SMSC_MAX	11	/* octets of the SMSC part after its length */
#define UDH_CONCAT_LEN	6	/* 05 00 03 ref total seq */
#define UDH_SEPTETS	7	/* 6 octets and 1 fill bit */
#define PARTS_MAX	255	/* the UDH's total is one octet */

#define FO_SUBMIT	0x01
#define FO_VPF_REL	0x10
#define FO_UDHI		0x40
#define MTI_MASK	0x03
#define MTI_DELIVER	0x00
#define TOA_INTL	0x91
#define DCS_GSM7	0x00
#define DCS_UCS2	0x08

/* 160 septets of up to 3 bytes of UTF-8 each (U+20AC takes two septets),
   70 units of up to 3 (a surrogate pair takes two units and 4 bytes). */
_Static_assert(sizeof(((struct gsmpdu_deliver *)0)->text) >
    3 * SEPT_SINGLE, "gsmpdu_deliver.text too small for 160 septets");
_Static_assert(sizeof(((struct gsmpdu_deliver *)0)->from) >
    1 + ADDR_DIGITS, "gsmpdu_deliver.from too small for 20 digits");

/* ---- submitting ---- */

/* A part's units being filled: septets or UTF-16 code units. */
struct gsmpdu_fill {
	bool gsm;
	uint16_t unit[SEPT_SINGLE];
	size_t n, room;
};

/* The semi-octets of "+" and 1-15 digits into addr (length, type, BCD);
   returns its octets, or 0 if the number is not that. */
static size_t
gsmpdu_address(const char *number, uint8_t *addr)
{
	size_t nd;

	if (number == NULL || number[0] != '+')
		return 0;
	nd = strnlen(number + 1, NUMBER_DIGITS + 1);
	if (nd < 1 || nd > NUMBER_DIGITS)
		return 0;
	addr[0] = (uint8_t)nd;
	addr[1] = TOA_INTL;
	for (size_t i = 0; i < nd; i++) {
		unsigned d = (unsigned char)number[1 + i] - '0';

		if (d > 9)
			return 0;
		if (i % 2 == 0)
			addr[2 + i / 2] = (uint8_t)(0xf0 | d);	/* F filler */
		else
			addr[2 + i / 2] = (uint8_t)((addr[2 + i / 2] & 0x0f) |
			    d << 4);
	}
	return 2 + (nd + 1) / 2;
}

/* septets packed LSB first after fill zero bits into out; returns the
   octets written. */
static size_t
gsmpdu_pack(const uint16_t *septet, size_t n, unsigned fill, uint8_t *out)
{
	size_t bits = fill;

	for (size_t i = 0; i < (n * 7 + fill + 7) / 8; i++)
		out[i] = 0;
	for (size_t i = 0; i < n; i++, bits += 7) {
		unsigned v = (unsigned)(septet[i] & 0x7f) << (bits % 8);

		out[bits / 8] |= (uint8_t)v;
		if (v > 0xff)
			out[bits / 8 + 1] |= (uint8_t)(v >> 8);
	}
	return (bits + 7) / 8;
}

/* The TPDU of one part (its units in f) into p. */
static void
gsmpdu_part(struct gsmpdu_part *p, const uint8_t *addr, size_t addrlen,
    const struct gsmpdu_fill *f, uint8_t ref, uint8_t vp, size_t total,
    size_t seq)
{
	uint8_t t[GSMPDU_MAX_OCTETS], *ud;
	size_t n = 0, udh = total > 1 ? UDH_CONCAT_LEN : 0;

	t[n++] = FO_SUBMIT | FO_VPF_REL | (udh ? FO_UDHI : 0);
	t[n++] = 0;				/* TP-MR: the modem's */
	memcpy(t + n, addr, addrlen);
	n += addrlen;
	t[n++] = 0;				/* TP-PID */
	t[n++] = f->gsm ? DCS_GSM7 : DCS_UCS2;
	t[n++] = vp;
	t[n++] = (uint8_t)(f->gsm ? f->n + (udh ? UDH_SEPTETS : 0) :
	    udh + 2 * f->n);			/* TP-UDL */
	ud = t + n;
	if (udh) {
		ud[0] = UDH_CONCAT_LEN - 1;	/* UDHL */
		ud[1] = 0x00;			/* IEI: 8-bit reference */
		ud[2] = 3;
		ud[3] = ref;
		ud[4] = (uint8_t)total;
		ud[5] = (uint8_t)seq;
		n += udh;
	}
	if (f->gsm) {
		/* the text starts at a septet boundary: 1 fill bit after 6
		   octets (TS 23.040 9.2.3.24) */
		n += gsmpdu_pack(f->unit, f->n, udh ? UDH_SEPTETS * 7 - 8 *
		    UDH_CONCAT_LEN : 0, t + n);
	} else {
		for (size_t i = 0; i < f->n; i++) {
			t[n++] = (uint8_t)(f->unit[i] >> 8);
			t[n++] = (uint8_t)f->unit[i];
		}
	}
	memcpy(p->hex, "00", 2);		/* the SIM's SMSC */
	base_hex_upper(p->hex + 2, t, n);
	p->tpdu_len = (unsigned)n;
}

/* The units of cp (1 or 2) into u; 0 when the coding cannot carry it. */
static unsigned
gsmpdu_units(bool gsm, uint32_t cp, uint16_t *u)
{
	uint8_t s[2];
	unsigned w;

	if (!gsm) {
		if (cp <= 0xffff) {
			u[0] = (uint16_t)cp;
			return 1;
		}
		cp -= 0x10000;
		u[0] = (uint16_t)(0xd800 | cp >> 10);
		u[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
		return 2;
	}
	w = gsm7_encode(cp, s);
	for (unsigned i = 0; i < w; i++)
		u[i] = s[i];
	return w;
}

int
gsmpdu_submit(const char *number, const char *utf8, size_t len,
    uint8_t ref, uint8_t vp, unsigned max_parts, struct gsmpdu_part **ret,
    size_t *nret, struct tocsin_err *err)
{
	const unsigned char *p = (const unsigned char *)utf8;
	struct smstext_info info;
	struct gsmpdu_fill f;
	struct gsmpdu_part *parts;
	uint8_t addr[2 + (NUMBER_DIGITS + 1) / 2];
	size_t addrlen, np = 0, off = 0;
	int rc;

	if (ret == NULL || nret == NULL || (utf8 == NULL && len > 0))
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "gsmpdu_submit called without text or result");
	if ((addrlen = gsmpdu_address(number, addr)) == 0)
		return tocsin_fail(err, TOCSIN_EDATA,
		    "an SMS goes to \"+\" and 1 to %d digits, not to that "
		    "number", NUMBER_DIGITS);
	if ((rc = smstext_measure(utf8, len, &info, err)) != 0)
		return rc;
	if (info.segments > max_parts || info.segments > PARTS_MAX)
		return tocsin_fail(err, TOCSIN_ETOOBIG,
		    "the SMS takes %zu parts, more than the %u allowed",
		    info.segments, max_parts < PARTS_MAX ? max_parts :
		    PARTS_MAX);
	if ((parts = calloc(info.segments, sizeof(*parts))) == NULL)
		return tocsin_fail(err, TOCSIN_ENOMEM, "out of memory");

	f.gsm = info.coding == SMSTEXT_GSM7;
	f.n = 0;
	f.room = info.segments == 1 ? (f.gsm ? SEPT_SINGLE : UCS_SINGLE) :
	    (f.gsm ? SEPT_PART : UCS_PART);
	while (off < len) {
		uint16_t u[2];
		uint32_t cp;
		size_t skip, k = utf8_next(p + off, len - off, &cp, &skip);
		unsigned w = k > 0 ? gsmpdu_units(f.gsm, cp, u) : 0;

		if (w == 0)
			break;		/* measured valid: cannot happen */
		if (f.n + w > f.room) {
			if (np + 1 >= info.segments)
				break;	/* nor this */
			gsmpdu_part(&parts[np], addr, addrlen, &f, ref, vp,
			    info.segments, np + 1);
			np++;
			f.n = 0;
		}
		memcpy(f.unit + f.n, u, w * sizeof(u[0]));
		f.n += w;
		off += k;
	}
	if (off < len) {
		free(parts);
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "SMS parts disagree with the measured %zu at byte %zu",
		    info.segments, off);
	}
	gsmpdu_part(&parts[np], addr, addrlen, &f, ref, vp, info.segments,
	    np + 1);
	np++;
	if (np != info.segments) {
		free(parts);
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "SMS of %zu parts measured as %zu", np, info.segments);
	}
	*ret = parts;
	*nret = np;
	return 0;
}

/* ---- reading a DELIVER ---- */

/* A cursor over the PDU's octets: every read checks what is left. */
struct gsmpdu_rd {
	const uint8_t *b;
	size_t n, pos;
};

static bool
gsmpdu_take(struct gsmpdu_rd *r, size_t k, const uint8_t **at)
{
	if (k > r->n - r->pos)
		return false;
	*at = r->b + r->pos;
	r->pos += k;
	return true;
}

/* Append cp to the text of *o bytes (room checked by the static asserts
   and the UDL limits): a control other than LF as a space. */
static void
gsmpdu_put(char *text, size_t *o, uint32_t cp)
{
	if ((cp < 0x20 && cp != '\n') || (cp >= 0x7f && cp <= 0x9f))
		cp = ' ';
	*o += utf8_put(text + *o, cp);
}

/* The originating address into d->from. */
static int
gsmpdu_originator(struct gsmpdu_rd *r, struct gsmpdu_deliver *d,
    struct tocsin_err *err)
{
	const uint8_t *h, *bcd;
	size_t nd, o = 0;
	unsigned ton;

	if (!gsmpdu_take(r, 2, &h))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS PDU cut short in the sender's address");
	nd = h[0];
	ton = (h[1] >> 4) & 7;
	if (nd > ADDR_DIGITS)
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS sender address of %zu semi-octets, over %d", nd,
		    ADDR_DIGITS);
	if (!gsmpdu_take(r, (nd + 1) / 2, &bcd))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS PDU cut short in the sender's address");
	if (ton == 5) {				/* alphanumeric */
		d->from[0] = '\0';
		return 0;
	}
	if (nd == 0)
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS sender address without digits");
	if (ton == 1)
		d->from[o++] = '+';
	/* an odd count's last semi-octet is the filler, whatever it holds:
	   a number is matched by its digits, never by the filler */
	for (size_t i = 0; i < nd; i++) {
		unsigned v = i % 2 == 0 ? bcd[i / 2] & 0x0f : bcd[i / 2] >> 4;

		if (v > 9)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS sender address holds semi-octet 0x%X, not a "
			    "digit", v);
		d->from[o++] = (char)('0' + v);
	}
	d->from[o] = '\0';
	return 0;
}

/* Coding of dcs (TS 23.038 4): true for GSM7, false for UCS-2, or an
   error for 8-bit data, compressed text and reserved groups. */
static int
gsmpdu_coding(uint8_t dcs, bool *gsm, struct tocsin_err *err)
{
	unsigned alpha;

	switch (dcs >> 4) {
	case 0x0: case 0x1: case 0x4: case 0x5:	/* general, uncompressed */
		alpha = (dcs >> 2) & 3;
		break;
	case 0x2: case 0x3: case 0x6: case 0x7:
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS of compressed text (DCS 0x%02X)", dcs);
	case 0xc: case 0xd:			/* message waiting, GSM7 */
		alpha = 0;
		break;
	case 0xe:				/* message waiting, UCS-2 */
		alpha = 2;
		break;
	case 0xf:				/* class, bit 2 the alphabet */
		alpha = (dcs & 0x04) ? 1 : 0;
		break;
	default:
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS of a reserved data coding (DCS 0x%02X)", dcs);
	}
	if (alpha == 0 || alpha == 2) {
		*gsm = alpha == 0;
		return 0;
	}
	return tocsin_fail(err, TOCSIN_EDATA,
	    "SMS of %s (DCS 0x%02X)", alpha == 1 ? "8-bit data" :
	    "a reserved alphabet", dcs);
}

/* The UDH of udhl octets at h: a concatenation IE into d. */
static int
gsmpdu_udh(const uint8_t *h, size_t udhl, struct gsmpdu_deliver *d,
    struct tocsin_err *err)
{
	for (size_t i = 0; i < udhl; ) {
		size_t ln;
		uint8_t iei;
		const uint8_t *v;

		if (udhl - i < 2)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS header element cut short");
		iei = h[i];
		ln = h[i + 1];
		if (ln > udhl - i - 2)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS header element longer than the header");
		v = h + i + 2;
		i += 2 + ln;
		if (iei != 0x00 && iei != 0x08)
			continue;		/* not concatenation */
		if (ln != (iei == 0x00 ? 3u : 4u))
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS concatenation element of %zu octets", ln);
		if (d->concatenated)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS with two concatenation elements");
		d->concatenated = true;
		d->ref = iei == 0x00 ? v[0] : (unsigned)v[0] << 8 | v[1];
		d->total = v[ln - 2];
		d->seq = v[ln - 1];
		if (d->total == 0 || d->seq == 0 || d->seq > d->total)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS part %u of %u", d->seq, d->total);
	}
	return 0;
}

/* count septets of ud after skip bits as text into d->text. */
static void
gsmpdu_gsm_text(const uint8_t *ud, size_t skip, size_t count,
    struct gsmpdu_deliver *d)
{
	size_t o = 0;
	bool esc = false;

	for (size_t k = 0; k < count; k++) {
		size_t bit = skip + 7 * k, i = bit / 8;
		unsigned sh = bit % 8, v = ud[i] >> sh;
		uint8_t s;

		if (sh > 1)	/* the caller checked ud holds every bit */
			v |= (unsigned)ud[i + 1] << (8 - sh);
		s = (uint8_t)(v & 0x7f);
		if (esc) {
			uint32_t e = gsm7_ext_char(s);

			/* an unknown extension shows the default character
			   (TS 23.038 6.2.1.1); a second escape a space */
			gsmpdu_put(d->text, &o, e != 0 ? e :
			    s == GSM7_ESC ? ' ' : gsm7_char(s));
			esc = false;
		} else if (s == GSM7_ESC) {
			esc = true;
		} else {
			gsmpdu_put(d->text, &o, gsm7_char(s));
		}
	}
	if (esc)
		gsmpdu_put(d->text, &o, ' ');	/* an escape at the end */
	d->text[o] = '\0';
}

/* n octets of UCS-2 (n even) as text into d->text. */
static void
gsmpdu_ucs2_text(const uint8_t *u, size_t n, struct gsmpdu_deliver *d)
{
	size_t o = 0;

	for (size_t i = 0; i + 1 < n; i += 2) {
		uint32_t c = (uint32_t)u[i] << 8 | u[i + 1];

		if (c >= 0xd800 && c <= 0xdbff && i + 3 < n) {
			uint32_t lo = (uint32_t)u[i + 2] << 8 | u[i + 3];

			if (lo >= 0xdc00 && lo <= 0xdfff) {
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
				i += 2;
			}
		}
		if (c >= 0xd800 && c <= 0xdfff)
			c = 0xfffd;		/* a lone surrogate */
		gsmpdu_put(d->text, &o, c);
	}
	d->text[o] = '\0';
}

/* The user data: UDL, then UD to the end of the PDU exactly. */
static int
gsmpdu_user_data(struct gsmpdu_rd *r, bool udhi, bool gsm,
    struct gsmpdu_deliver *d, struct tocsin_err *err)
{
	const uint8_t *l, *ud;
	size_t udl, octets, left, udhl = 0, hdr = 0;
	int rc;

	if (!gsmpdu_take(r, 1, &l))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS PDU cut short before the user data length");
	udl = l[0];
	if (udl > (gsm ? SEPT_SINGLE : UD_MAX))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS user data length %zu, over %d", udl,
		    gsm ? SEPT_SINGLE : UD_MAX);
	octets = gsm ? (udl * 7 + 7) / 8 : udl;
	left = r->n - r->pos;
	if (octets != left)
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS user data of %zu octets where its length says %zu",
		    left, octets);
	(void)gsmpdu_take(r, octets, &ud);
	if (udhi) {
		if (octets < 1 || (udhl = ud[0]) + 1 > octets)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS header longer than the user data");
		hdr = udhl + 1;
		if ((rc = gsmpdu_udh(ud + 1, udhl, d, err)) != 0)
			return rc;
	}
	if (gsm) {
		size_t hsept = (hdr * 8 + 6) / 7;	/* with fill bits */

		if (hsept > udl)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS header longer than the user data");
		gsmpdu_gsm_text(ud, hsept * 7, udl - hsept, d);
	} else {
		if ((udl - hdr) % 2 != 0)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "UCS-2 SMS text of an odd %zu octets", udl - hdr);
		gsmpdu_ucs2_text(ud + hdr, udl - hdr, d);
	}
	return 0;
}

int
gsmpdu_deliver_parse(const char *hex, size_t hexlen,
    struct gsmpdu_deliver *out, struct tocsin_err *err)
{
	uint8_t b[GSMPDU_MAX_OCTETS];
	struct gsmpdu_rd r = { b, 0, 0 };
	struct gsmpdu_deliver d;
	const uint8_t *at;
	bool udhi, gsm = true;
	int rc;

	if (out == NULL || (hex == NULL && hexlen > 0))
		return tocsin_fail(err, TOCSIN_EINTERNAL,
		    "gsmpdu_deliver_parse called without a PDU or result");
	if (hexlen % 2 != 0 || hexlen == 0 || hexlen > 2 * sizeof(b))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS PDU of %zu hex digits (an even 2 to %zu)", hexlen,
		    2 * sizeof(b));
	for (size_t i = 0; i < hexlen; i += 2) {
		int hi = base_hexval((unsigned char)hex[i]);
		int lo = base_hexval((unsigned char)hex[i + 1]);

		if (hi < 0 || lo < 0)
			return tocsin_fail(err, TOCSIN_EDATA,
			    "SMS PDU has a non-hex character at %zu",
			    hi < 0 ? i : i + 1);
		b[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	r.n = hexlen / 2;
	memset(&d, 0, sizeof(d));

	/* the SMSC part: its length, then skipped */
	(void)gsmpdu_take(&r, 1, &at);
	if (at[0] > SMSC_MAX || !gsmpdu_take(&r, at[0], &at))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS PDU with an SMSC part of %u octets", b[0]);
	if (!gsmpdu_take(&r, 1, &at))
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS PDU without a first octet");
	if ((at[0] & MTI_MASK) != MTI_DELIVER)
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS PDU of type %u, not an SMS-DELIVER",
		    at[0] & MTI_MASK);
	udhi = (at[0] & FO_UDHI) != 0;
	if ((rc = gsmpdu_originator(&r, &d, err)) != 0)
		return rc;
	if (!gsmpdu_take(&r, 2 + 7, &at))	/* PID, DCS, SCTS */
		return tocsin_fail(err, TOCSIN_EDATA,
		    "SMS PDU cut short before its time stamp ends");
	d.dcs = at[1];
	if ((rc = gsmpdu_coding(d.dcs, &gsm, err)) != 0)
		return rc;
	if ((rc = gsmpdu_user_data(&r, udhi, gsm, &d, err)) != 0)
		return rc;
	*out = d;
	return 0;
}
