/*
 * test_sdnotify.c: the datagrams serve sends to systemd, byte for byte.
 *
 * The test plays systemd: it binds an AF_UNIX datagram socket in a
 * temporary folder, names it in NOTIFY_SOCKET and reads what each
 * function sent.  A datagram sent to a bound AF_UNIX socket is in its
 * queue when send returns, so "nothing was sent" is a read that finds the
 * queue empty at once, never a wait.  Also: a status cannot add a line of
 * its own, a long one is cut, a socket that is gone is an error, and the
 * watchdog interval comes from WATCHDOG_USEC only for this process.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tocsin.h"
#include "sdnotify.h"

struct fake_systemd {
	char dir[64];
	char path[96];
	int fd;
};

static int
setup(void **state)
{
	struct fake_systemd *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/tcs-sdn-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* a message that should have come and did not fails, not hangs */
	assert_int_equal(setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fake_systemd *f = *state;

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* The next datagram, as a string. */
static void
next_msg(struct fake_systemd *f, char *out, size_t len)
{
	ssize_t n = recv(f->fd, out, len - 1, 0);

	if (n < 0)
		fail_msg("no datagram: %s", strerror(errno));
	out[n] = '\0';
}

static void
expect_msg(struct fake_systemd *f, const char *want)
{
	char got[1024];

	next_msg(f, got, sizeof(got));
	assert_string_equal(got, want);
}

static void
expect_none(struct fake_systemd *f)
{
	char got[1024];
	ssize_t n = recv(f->fd, got, sizeof(got), MSG_DONTWAIT);

	if (n >= 0)
		fail_msg("unexpected datagram: %.*s", (int)n, got);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
test_each_message(void **state)
{
	struct fake_systemd *f = *state;
	static const struct {
		int (*fn)(const char *);
		const char *status, *want;
	} with[] = {
		{ sdnotify_ready, "serving 3 teams",
		    "READY=1\nSTATUS=serving 3 teams" },
		{ sdnotify_ready, NULL, "READY=1" },
		{ sdnotify_status, "12 deliveries pending",
		    "STATUS=12 deliveries pending" },
		{ sdnotify_status, NULL, "STATUS=" },
	};
	static const struct {
		int (*fn)(void);
		const char *want;
	} without[] = {
		{ sdnotify_stopping, "STOPPING=1" },
		{ sdnotify_watchdog, "WATCHDOG=1" },
	};

	for (size_t i = 0; i < sizeof(with) / sizeof(with[0]); i++) {
		assert_int_equal(with[i].fn(with[i].status), 0);
		expect_msg(f, with[i].want);
	}
	for (size_t i = 0; i < sizeof(without) / sizeof(without[0]); i++) {
		assert_int_equal(without[i].fn(), 0);
		expect_msg(f, without[i].want);
	}
	expect_none(f);
}

static void
test_reloading_carries_monotonic_time(void **state)
{
	struct fake_systemd *f = *state;
	struct timespec ts;
	unsigned long long before, after, usec;
	char got[256], tail;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
	assert_int_equal(sdnotify_reloading(), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	after = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
	next_msg(f, got, sizeof(got));
	assert_int_equal(sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu%c",
	    &usec, &tail), 1);
	assert_true(strncmp(got, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
	assert_true(usec >= before && usec <= after);
	expect_none(f);
}

/* A status is one line of printable text: a newline inside it cannot
   say READY=1 or anything else, and a long one is cut. */
static void
test_status_stays_one_line(void **state)
{
	struct fake_systemd *f = *state;
	char longs[SDNOTIFY_STATUS_MAX * 2 + 1], want[SDNOTIFY_STATUS_MAX + 64];

	assert_int_equal(sdnotify_status("ok\nREADY=1\x1b[2J\xff"), 0);
	expect_msg(f, "STATUS=ok?READY=1?[2J?");
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	assert_int_equal(sdnotify_ready(longs), 0);
	snprintf(want, sizeof(want), "READY=1\nSTATUS=%.*s...",
	    SDNOTIFY_STATUS_MAX, longs);
	expect_msg(f, want);
}

static void
test_without_socket_nothing_is_sent(void **state)
{
	struct fake_systemd *f = *state;
	uint64_t usec = 77;

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(setenv("WATCHDOG_USEC", "30000000", 1), 0);
	assert_int_equal(sdnotify_ready("x"), 0);
	assert_int_equal(sdnotify_reloading(), 0);
	assert_int_equal(sdnotify_stopping(), 0);
	assert_int_equal(sdnotify_status("x"), 0);
	assert_int_equal(sdnotify_watchdog(), 0);
	assert_int_equal(sdnotify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(sdnotify_ready("x"), 0);
	assert_int_equal(sdnotify_watchdog(), 0);
	expect_none(f);
}

static void
test_socket_gone_is_an_error(void **state)
{
	struct fake_systemd *f = *state;
	char gone[160];

	snprintf(gone, sizeof(gone), "%s/gone", f->dir);
	assert_int_equal(setenv("NOTIFY_SOCKET", gone, 1), 0);
	assert_int_equal(sdnotify_ready("x"), TOCSIN_EUNAVAIL);
	assert_int_equal(sdnotify_watchdog(), TOCSIN_EUNAVAIL);
	expect_none(f);
}

static void
test_watchdog_usec(void **state)
{
	char pid[32];
	uint64_t usec = 77;

	(void)state;
	/* no WatchdogSec: none */
	assert_int_equal(sdnotify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 0);
	/* WatchdogSec=30 for this process */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_int_equal(setenv("WATCHDOG_USEC", "30000000", 1), 0);
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(sdnotify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 30000000);
	/* ... for another process (a child that inherited it): none */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	usec = 77;
	assert_int_equal(sdnotify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 0);
	/* malformed: an error, the out-value untouched */
	assert_int_equal(setenv("WATCHDOG_USEC", "thirty", 1), 0);
	unsetenv("WATCHDOG_PID");
	usec = 77;
	assert_int_equal(sdnotify_watchdog_usec(&usec), TOCSIN_ECONFIG);
	assert_int_equal(usec, 77);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_each_message, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_reloading_carries_monotonic_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_stays_one_line,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_without_socket_nothing_is_sent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_gone_is_an_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_usec, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
