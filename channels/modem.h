/*
 * modem.h: a GSM modem on a serial port (AT commands, 3GPP TS 27.007 and
 * TS 27.005 in PDU mode), the SMS channel's path that needs no IP.
 * Private to the channels: phone.c sends through it as a provider of
 * providers.sms, and reads the SMS the modem received.
 *
 * One struct modem per configured modem and serve, shared by the workers:
 * a mutex orders its dialogues (a serial line carries one at a time), the
 * device is opened at first use and kept, and closed after any answer that
 * did not come, so that the next use starts a clean dialogue.  The device
 * is locked with flock() while open: a second serve, or a `check`, on the
 * same host does not talk over it.
 */
#ifndef MODEM_H
#define MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gsmpdu.h"
#include "policy.h"
#include "tocsin.h"

struct modem;

/*
 * A modem for provider cfg (kind modem), with the SIM's PIN (NULL when the
 * SIM asks for none; copied, and cleansed at modem_free).  Nothing is
 * opened yet.  *ret is the caller's, freed with modem_free.
 */
int modem_new(const struct policy_provider *cfg, const char *pin,
    struct modem **ret, struct tocsin_err *err);
void modem_free(struct modem *m);

/*
 * Send len bytes of UTF-8 text to number (E.164) as at most max_parts
 * parts, concatenated with reference ref, each part's answer awaited until
 * the provider's timeout and never past deadline_ms (base_mono_ms()).
 * 0: every part was taken by the network; mrs gets their message
 * references ("17" or "17+18+19") and *parts their count.  Else err says
 * why, naming the modem, and the return says what it means:
 * TOCSIN_EPERM   the network or the modem refused this message for good
 *                (an unassigned number, a barred destination, a PDU it
 *                cannot take): another provider may still try it;
 * TOCSIN_ETOOBIG the text needs more than max_parts parts;
 * TOCSIN_EUNAVAIL for now (no network, no answer, SIM locked, device
 *                gone): try again later or elsewhere.
 * *reached says whether anything of the message may have gone (a part
 * answered or an answer that never came): false only when it surely did
 * not.
 */
int modem_send(struct modem *m, const char *number, const char *utf8,
    size_t len, uint8_t ref, unsigned max_parts, int64_t deadline_ms,
    char *mrs, size_t mrslen, int *parts, bool *reached,
    struct tocsin_err *err);

/*
 * What to do with a received message: MODEM_TAKE deletes it from the
 * modem's memory (handled, or refused for good), MODEM_KEEP leaves it for
 * the next look (the store could not take it now).  d is NULL for a stored
 * PDU that is no readable SMS-DELIVER, why then saying what is wrong; it
 * is deleted whatever the answer, so that it cannot fill the memory.
 */
enum modem_fate { MODEM_TAKE, MODEM_KEEP };
typedef enum modem_fate (*modem_sms_fn)(void *ctx,
    const struct gsmpdu_deliver *d, const char *why);

/*
 * Read every message stored in the modem (AT+CMGL=4), hand each to fn,
 * delete those it takes.  At most 32 a look.  0, or TOCSIN_EUNAVAIL when
 * the modem could not be read (err says why).
 */
int modem_receive(struct modem *m, int64_t deadline_ms, modem_sms_fn fn,
    void *ctx, struct tocsin_err *err);

/*
 * Open the modem and say in out how it stands: the SIM, the network
 * registration, the signal ("SIM ready, registered (home network),
 * signal 20/31").  0, or an error whose sentence says what is wrong and
 * what to do (TOCSIN_EUNAVAIL, also when another process has the
 * device).  The device
 * is closed again after.
 */
int modem_probe(struct modem *m, int64_t deadline_ms, char *out,
    size_t outlen, struct tocsin_err *err);

#endif
