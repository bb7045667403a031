/*
 * fuzz_mailack.c: an e-mail reply (tocsin ingest-mail) is outside input.
 * Whatever the bytes, the parts found lie inside the message, the strings
 * are bounded and terminated, and a code is eight digits; looking for an
 * alert id in the text reads only inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "mailack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const char *base, size_t len, const char *p, size_t n)
{
	if (p == NULL)
		return;
	if (p < base || p > base + len || n > (size_t)(base + len - p))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailack_msg m;
	struct tocsin_err e = { 0 };
	char alert[64], team[64], code[9];
	char *buf;

	if (size > 64 * 1024 || (buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (mailack_parse(buf, size, &m, &e) == 0) {
		inside(buf, size, m.signed_part, m.signed_len);
		inside(buf, size, m.sig, m.sig_len);
		inside(buf, size, m.text, m.text_len);
		if (strlen(m.from) >= sizeof(m.from) ||
		    strlen(m.refs) >= sizeof(m.refs))
			abort();
		if (mailack_our_ref(m.refs, alert, team) == 0 &&
		    (strlen(alert) == 0 || strlen(team) == 0))
			abort();
		if (m.text != NULL && mailack_code(m.text, m.text_len,
		    code) == 0 && strspn(code, "0123456789") != 8)
			abort();
		(void)mailack_clearsigned(m.text != NULL ? m.text : "",
		    m.text_len);
		(void)ingest_names(m.text, m.text_len, "20261202-a1b2c3d4e5f6");
	}
	free(buf);
	return 0;
}
