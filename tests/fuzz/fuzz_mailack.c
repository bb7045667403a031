/*
 * fuzz_mailack.c: an e-mail reply (tocsin ingest-mail) is outside input,
 * parsed by GMime under mailack's limits.  Whatever the bytes, the parse
 * ends, a refusal leaves nothing to free, and what it fills is bounded
 * and terminated: the signed entity is a piece of the message as it came,
 * the texts are within their limits, a code is eight digits; looking for
 * an alert id in the text reads only inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "mailack.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mailack_init();		/* start-up init, as ingest-mail does */
	return 0;
}

/* A buffer of the message: n bytes, NUL-terminated, within max. */
static void
bounded(const char *p, size_t n, size_t max)
{
	if (p == NULL) {
		if (n != 0)
			abort();
		return;
	}
	if (n > max || p[n] != '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailack_msg m;
	struct tocsin_err e = { 0 };
	char alert[64], team[64], code[9];

	if (size > 64 * 1024)
		return 0;
	if (mailack_parse((const char *)data, size, &m, &e) != 0) {
		if (m.signed_part != NULL || m.sig != NULL || m.text != NULL ||
		    m.octets != NULL || e.msg[0] == '\0')
			abort();
		return 0;
	}
	bounded(m.signed_part, m.signed_len, size);
	if (m.signed_part != NULL &&
	    memmem(data, size, m.signed_part, m.signed_len) == NULL)
		abort();
	bounded(m.sig, m.sig_len, size);
	bounded(m.text, m.text_len, MAILACK_TEXT_MAX);
	bounded(m.octets, m.octets_len, MAILACK_TEXT_MAX);
	if (strlen(m.from) >= sizeof(m.from) ||
	    strlen(m.refs) >= sizeof(m.refs) ||
	    strpbrk(m.from, "\r\n <>") != NULL)
		abort();
	if (mailack_our_ref(m.refs, alert, team) == 0 &&
	    (strlen(alert) == 0 || strlen(team) == 0))
		abort();
	if (m.text != NULL && mailack_code(m.text, m.text_len, code) == 0 &&
	    strspn(code, "0123456789") != 8)
		abort();
	(void)mailack_clearsigned(m.octets != NULL ? m.octets : "",
	    m.octets_len);
	(void)ingest_names(m.text, m.text_len, "20261202-a1b2c3d4e5f6");
	mailack_msg_free(&m);
	return 0;
}
