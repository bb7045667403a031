/*
 * test_ratelog.c: repeated errors logged once per kind per interval.
 *
 * On a clock of the test's own: a burst of 122 store errors in 30 s (what
 * a full disk gave) is two lines, the first at once and then one that
 * counts the rest; kinds are limited apart; a burst that stops is still
 * counted by the flush; the flush at the end reports what is held; a
 * later error after a quiet interval is written at once; more kinds than
 * slots stay bounded; threads hammering one kind lose no count.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelog.h"

#define MAXLINES 64

struct sink {
	char lines[MAXLINES][RATELOG_LINE_LEN + 100];
	size_t n;
};

static int64_t fake_now;

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static void
sink_out(void *arg, const char *line)
{
	struct sink *s = arg;

	if (s->n < MAXLINES)
		snprintf(s->lines[s->n], sizeof(s->lines[0]), "%s", line);
	s->n++;
}

static void
test_burst_is_two_lines(void **state)
{
	struct ratelog rl;
	struct sink s = { .n = 0 };
	int written = 0;

	(void)state;
	fake_now = 1000000;
	ratelog_init(&rl, 30000, fake_clock, NULL);
	/* 122 errors over 30 s, one every 245 ms */
	for (int i = 0; i < 122; i++) {
		written += ratelog_line(&rl, "claim", sink_out, &s,
		    "claim failed: database or disk is full (%d)", i);
		fake_now += 245;
		ratelog_flush(&rl, sink_out, &s, false);
	}
	assert_int_equal(written, 1);
	assert_int_equal(s.n, 1);
	/* the scheduler's flush once the 30 s are over */
	fake_now = 1000000 + 30000;
	ratelog_flush(&rl, sink_out, &s, false);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.lines[0],
	    "claim failed: database or disk is full (0)");
	/* the flush when the interval ended counts what it held, with the
	   last of them */
	assert_non_null(strstr(s.lines[1], "more like this in the last 30 s: "
	    "claim failed: database or disk is full ("));
	{
		unsigned long long held = strtoull(s.lines[1], NULL, 10);

		/* every line is accounted for: written or counted */
		assert_int_equal(held, 121);
	}
	ratelog_fini(&rl);
}

static void
test_kinds_apart_and_line_carries_count(void **state)
{
	struct ratelog rl;
	struct sink s = { .n = 0 };

	(void)state;
	fake_now = 0;
	ratelog_init(&rl, 30000, fake_clock, NULL);
	assert_true(ratelog_line(&rl, "claim", sink_out, &s, "c1"));
	fake_now = 1000;
	assert_true(ratelog_line(&rl, "results", sink_out, &s, "r1"));
	assert_false(ratelog_line(&rl, "claim", sink_out, &s, "c2"));
	assert_false(ratelog_line(&rl, "claim", sink_out, &s, "c3"));
	assert_false(ratelog_line(&rl, "results", sink_out, &s, "r2"));
	assert_int_equal(s.n, 2);
	/* without a flush, the next line after the interval carries the
	   count */
	fake_now = 30000;
	assert_true(ratelog_line(&rl, "claim", sink_out, &s, "c4"));
	assert_string_equal(s.lines[2],
	    "c4 (2 more like this in the last 30 s)");
	/* the end of serve: everything held is said, whatever the time */
	ratelog_flush(&rl, sink_out, &s, false);
	assert_int_equal(s.n, 3);		/* results' interval not over */
	ratelog_flush(&rl, sink_out, &s, true);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.lines[3], "1 more like this in the last 29 s: r2");
	ratelog_flush(&rl, sink_out, &s, true);
	assert_int_equal(s.n, 4);		/* nothing twice */
	ratelog_fini(&rl);
}

static void
test_quiet_then_again(void **state)
{
	struct ratelog rl;
	struct sink s = { .n = 0 };

	(void)state;
	fake_now = 5;
	ratelog_init(&rl, 30000, fake_clock, NULL);
	assert_true(ratelog_line(&rl, "leases", sink_out, &s, "a"));
	fake_now += 29999;
	assert_false(ratelog_line(&rl, "leases", sink_out, &s, "b"));
	ratelog_flush(&rl, sink_out, &s, false);
	assert_int_equal(s.n, 1);
	fake_now += 1;
	ratelog_flush(&rl, sink_out, &s, false);
	assert_int_equal(s.n, 2);
	/* the burst went on: the flush started a new interval */
	fake_now += 1000;
	assert_false(ratelog_line(&rl, "leases", sink_out, &s, "c"));
	/* an hour of quiet: the next error is written at once, alone */
	fake_now += 3600 * 1000;
	ratelog_flush(&rl, sink_out, &s, false);
	assert_int_equal(s.n, 3);
	fake_now += 3600 * 1000;
	assert_true(ratelog_line(&rl, "leases", sink_out, &s, "d"));
	assert_string_equal(s.lines[3], "d");
	ratelog_fini(&rl);
}

static void
test_more_kinds_than_slots_stay_bounded(void **state)
{
	struct ratelog rl;
	struct sink s = { .n = 0 };
	char kind[16];

	(void)state;
	fake_now = 0;
	ratelog_init(&rl, 30000, fake_clock, NULL);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 100; i++) {
			snprintf(kind, sizeof(kind), "k%d", i);
			(void)ratelog_line(&rl, kind, sink_out, &s, "%s", kind);
		}
	/* one line per slot, the overflow kinds sharing the last one */
	assert_int_equal(s.n, RATELOG_KINDS);
	assert_int_equal(rl.n, RATELOG_KINDS);
	ratelog_fini(&rl);
}

struct hammer {
	struct ratelog *rl;
	int written;
};

static void *
hammer(void *arg)
{
	struct hammer *h = arg;

	for (int i = 0; i < 10000; i++)
		h->written += ratelog_line(h->rl, "claim", NULL, NULL, "x");
	return NULL;
}

static void
test_threads_lose_no_count(void **state)
{
	struct ratelog rl;
	struct sink s = { .n = 0 };
	struct hammer h[4];
	pthread_t t[4];
	int written = 0;

	(void)state;
	fake_now = 0;
	ratelog_init(&rl, 30000, fake_clock, NULL);
	for (int i = 0; i < 4; i++) {
		h[i].rl = &rl;
		h[i].written = 0;
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		written += h[i].written;
	}
	assert_int_equal(written, 1);
	ratelog_flush(&rl, sink_out, &s, true);
	assert_int_equal(s.n, 1);
	assert_true(strncmp(s.lines[0], "39999 more like this", 20) == 0);
	ratelog_fini(&rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_is_two_lines),
		cmocka_unit_test(test_kinds_apart_and_line_carries_count),
		cmocka_unit_test(test_quiet_then_again),
		cmocka_unit_test(test_more_kinds_than_slots_stay_bounded),
		cmocka_unit_test(test_threads_lose_no_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
