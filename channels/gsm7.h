/*
 * gsm7.h: the GSM 7-bit default alphabet and its extension table (3GPP TS
 * 23.038 6.2.1 and 6.2.1.1), internal to the channels module: smstext.c
 * measures texts with it, gsmpdu.c encodes and decodes septets with it, so
 * both always agree on what is GSM7 and what takes an escape pair.
 *
 * No national language shift tables (smstext.c says why).
 */
#ifndef GSM7_H
#define GSM7_H

#include <stdint.h>

#define GSM7_ESC	0x1b	/* the escape to the extension table */

/*
 * The septets cp takes: 1 in the default alphabet, 2 in the extension
 * table (GSM7_ESC, then its septet), 0 when GSM7 cannot carry it.  The
 * septets go to out (room for 2) unless out is NULL.  U+001B itself is not
 * carried: it would join the next character into an escape pair.
 */
unsigned gsm7_encode(uint32_t cp, uint8_t *out);

/* The character of septet s & 0x7f in the default alphabet, or 0 for
   GSM7_ESC (the caller decides what an escape means). */
uint32_t gsm7_char(uint8_t s);

/* The character of s & 0x7f after an escape, or 0 where the extension
   table has none (TS 23.038 says to show the default character then). */
uint32_t gsm7_ext_char(uint8_t s);

#endif
