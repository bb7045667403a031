/*
 * fuzz_kbx.c: libFuzzer target for the keybox index of certs/rnp.c, which
 * reads the GnuPG home's pubring.kbx: a file that gpg writes, but one the
 * gateway trusts no further than its own parser's limits.
 *
 * Whatever it accepts must point inside the input: every keyblock's
 * offset and length within the blob, the index sorted by fingerprint.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "certs_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct certs_pubkeys pk;
	struct tocsin_err e;

	memset(&pk, 0, sizeof(pk));
	if ((pk.blob = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(pk.blob, data, size);
	pk.bloblen = size;
	if (certs_rnp_index_kbx(&pk, "fuzz", &e) == 0)
		for (size_t i = 0; i < pk.nrkeys; i++) {
			if (pk.rkeys[i].off > size || pk.rkeys[i].len >
			    size - pk.rkeys[i].off || pk.rkeys[i].len == 0 ||
			    strlen(pk.rkeys[i].fpr) != 40)
				__builtin_trap();
			if (i > 0 && strcmp(pk.rkeys[i - 1].fpr,
			    pk.rkeys[i].fpr) > 0)
				__builtin_trap();
		}
	free(pk.rkeys);
	free(pk.blob);
	return 0;
}
