/*
 * gsmpdu.h: short-message PDUs for a GSM modem in PDU mode (3GPP TS 23.040
 * SMS-SUBMIT and SMS-DELIVER, TS 23.038 alphabets), for the modem path of
 * the SMS channel.  Pure functions: no I/O, no global state.
 */
#ifndef GSMPDU_H
#define GSMPDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tocsin.h"

#define GSMPDU_MAX_OCTETS 176		/* SMSC part + TPDU, as AT+CMGS takes */

/* One SMS-SUBMIT, ready for AT+CMGS=<tpdu_len> then hex and Ctrl-Z. */
struct gsmpdu_part {
	char hex[2 * GSMPDU_MAX_OCTETS + 1];	/* "00" (the SIM's SMSC)
						   then the TPDU, upper-case */
	unsigned tpdu_len;		/* octets after the SMSC part */
};

/*
 * The SMS-SUBMIT PDUs of len bytes of UTF-8 text to number ("+" and 1-15
 * digits: type 0x91).  Coding as smstext_measure() decides it: the GSM
 * 7-bit default alphabet with its extension table (escape pairs) when
 * every character is in them, else UCS-2 (surrogate pairs for characters
 * outside the BMP).  One part when the text fits (160 septets / 70 units),
 * else parts of at most 153 septets / 67 units filled in order, never
 * splitting an escape pair or a surrogate pair (the same count as
 * smstext_measure's segments), each with a concatenation UDH (IEI 0x00,
 * 8-bit reference ref, total, sequence from 1), 7-bit text after the UDH
 * aligned with fill bits.  TP-MR 0 (the modem sets it), TP-VPF relative
 * with vp (TS 23.040 9.2.3.12.1: 0xA7 is 24 hours), TP-PID 0, no status
 * report.  *ret is a malloc'd array of *nret parts the caller frees.
 * TOCSIN_EDATA for invalid UTF-8 or a number that is not E.164,
 * TOCSIN_ETOOBIG for more than max_parts parts, TOCSIN_ENOMEM.  Outputs
 * untouched on failure.
 */
int gsmpdu_submit(const char *number, const char *utf8, size_t len,
    uint8_t ref, uint8_t vp, unsigned max_parts, struct gsmpdu_part **ret,
    size_t *nret, struct tocsin_err *err);

/* An SMS-DELIVER as a modem gives it (+CMGR, +CMGL). */
struct gsmpdu_deliver {
	char from[24];			/* "+" and digits for an international
					   number (type 0x91), digits for another
					   numeric one, "" for an alphanumeric
					   sender */
	char text[512];			/* the user data without its UDH, as
					   UTF-8; controls other than LF become
					   spaces, invalid UCS-2 (a lone
					   surrogate) U+FFFD */
	bool concatenated;		/* a concatenation IE was there */
	unsigned ref, total, seq;	/* its reference (8 or 16 bit) */
	uint8_t dcs;
};

/*
 * Read an SMS-DELIVER PDU of hexlen hex digits (the SMSC part first, as
 * +CMGR gives it; case-insensitive; nothing else around it) into *out.
 * Every length is checked against what is left; at most
 * GSMPDU_MAX_OCTETS octets.  Data codings (TS 23.038 4): GSM 7-bit (the
 * uncompressed general and automatic-deletion groups 0x00-0x1F and
 * 0x40-0x5F with alphabet bits 00, message waiting 0xC0-0xDF, and
 * 0xF0-0xFF with bit 2 clear), UCS-2 (0x08 and the like: alphabet bits 10
 * in those groups, message waiting 0xE0-0xEF); 8-bit data, compressed
 * text, reserved codings and a PDU that is not an SMS-DELIVER are
 * TOCSIN_EDATA with the reason.  The user data must end the PDU exactly.
 * *out untouched on failure.
 */
int gsmpdu_deliver_parse(const char *hex, size_t hexlen,
    struct gsmpdu_deliver *out, struct tocsin_err *err);

#endif
