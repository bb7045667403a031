/*
 * test_xff.c: the last address of an X-Forwarded-For line.
 *
 * Only the last element is the trusted proxy's word: everything before it
 * came from the client.  An element that is not a plain numeric address
 * (a name, a port, brackets, garbage, an empty one) is not believed, nor
 * is a line over XFF_MAX_LINE, and nothing is read past the length given.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "xff.h"
#include "unit_util.h"

struct xff_case {
	const char *line;
	const char *want;		/* NULL: refused */
};

static const struct xff_case cases[] = {
	{ "192.0.2.7", "192.0.2.7" },
	{ "10.0.0.1, 192.0.2.7", "192.0.2.7" },
	{ "10.0.0.1,192.0.2.7", "192.0.2.7" },
	{ " 10.0.0.1 ,\t192.0.2.7 \t", "192.0.2.7" },
	{ "2001:db8::1", "2001:db8::1" },
	{ "192.0.2.1, 2001:db8::7", "2001:db8::7" },
	/* in the spelling the listener prints its peers in: one client,
	   one slot of the rate table, however its proxy writes it */
	{ "::ffff:192.0.2.9", "192.0.2.9" },
	{ "2001:DB8:0:0::7", "2001:db8::7" },
	{ "0:0:0:0:0:0:0:1", "::1" },
	/* the proxy's element is not an address: nothing is believed,
	   least of all the client's earlier one */
	{ "192.0.2.7, ", NULL },
	{ "192.0.2.7,", NULL },
	{ "192.0.2.7, unknown", NULL },
	{ "192.0.2.7, 198.51.100.1:443", NULL },
	{ "192.0.2.7, [2001:db8::1]", NULL },
	{ "192.0.2.7, 198.51.100.1 198.51.100.2", NULL },
	{ "192.0.2.7, 198.51.100.256", NULL },
	{ "192.0.2.7, evil.example", NULL },
	{ "", NULL },
	{ " ", NULL },
	{ ",", NULL },
	{ "192.0.2.7, 1111:2222:3333:4444:5555:6666:7777:8888:9999", NULL },
};

static void
test_cases(void **state)
{
	char out[XFF_ADDR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct xff_case *c = &cases[i];
		int rc = xff_last(c->line, strlen(c->line), out, sizeof(out));

		if (c->want == NULL) {
			if (rc != -1 || out[0] != '\0')
				fail_msg("\"%s\" was believed: \"%s\"", c->line,
				    out);
		} else if (rc != 0 || strcmp(out, c->want) != 0)
			fail_msg("\"%s\": %d \"%s\", want \"%s\"", c->line, rc,
			    out, c->want);
	}
}

/* A line longer than the limit is refused whole, even when it ends in a
   good address; one at the limit is read. */
static void
test_length_limit(void **state)
{
	char out[XFF_ADDR_MAX];
	const char *tail = ", 192.0.2.7";
	size_t fill = XFF_MAX_LINE - strlen(tail);
	char *pad = unit_rep("1", fill);
	char line[XFF_MAX_LINE + 2];

	(void)state;
	assert_non_null(pad);
	(void)snprintf(line, sizeof(line), "%s%s", pad, tail);
	assert_int_equal(strlen(line), XFF_MAX_LINE);
	assert_int_equal(xff_last(line, strlen(line), out, sizeof(out)), 0);
	assert_string_equal(out, "192.0.2.7");
	(void)snprintf(line, sizeof(line), "1%s%s", pad, tail);
	assert_int_equal(xff_last(line, strlen(line), out, sizeof(out)), -1);
	assert_string_equal(out, "");
	free(pad);
}

/* Only len bytes are read: what follows them is not the line's. */
static void
test_reads_only_len(void **state)
{
	char out[XFF_ADDR_MAX];
	const char buf[] = "10.0.0.1, 192.0.2.7X";

	(void)state;
	assert_int_equal(xff_last(buf, strlen(buf) - 1, out, sizeof(out)), 0);
	assert_string_equal(out, "192.0.2.7");
	assert_int_equal(xff_last(buf, strlen(buf), out, sizeof(out)), -1);
	/* a NUL inside the length is not a shorter line */
	assert_int_equal(xff_last("1.2.3.4\0 5", 10, out, sizeof(out)), -1);
	/* too small an out is refused, not cut */
	assert_int_equal(xff_last("192.0.2.7", 9, out, 8), -1);
	assert_int_equal(xff_last(NULL, 0, out, sizeof(out)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_reads_only_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
