/*
 * test_dispatch.c: the retry backoff and attempt accounting of the
 * dispatcher (an untried message costs no attempt; max_attempts ends a
 * delivery), and ack tokens,
 * codes, URLs and the ack secret.
 *
 * Backoff: equal jitter between half and all of base * 2^(attempts-1),
 * capped at max, for any random value, without overflow for any number
 * of attempts.  Acks: the token and code are fixed functions of secret,
 * alert and team (a known answer pins the derivation, so that codes
 * already sent stay valid after an upgrade), each input and each field
 * boundary matters.  The secret file is made 0600 on first use and refused
 * when others may read it or when its size is wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ack.h"
#include "dispatch.h"
#include "unit_util.h"

/* ---- dispatch_backoff ---- */

static uint32_t
prng(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Every backoff for (base, max, attempts) lies in [d/2, d], r = 0 gives
   d/2 and r = d/2 gives d, where d = min(base * 2^(attempts-1), max). */
static void
check_backoff(int64_t base, int64_t max, int attempts, int64_t d)
{
	uint32_t seed = 0x1234567u;
	int64_t v;

	assert_int_equal(dispatch_backoff(base, max, attempts, 0), d / 2);
	assert_int_equal(dispatch_backoff(base, max, attempts,
	    (uint32_t)(d / 2)), d / 2 + d / 2);
	v = dispatch_backoff(base, max, attempts, UINT32_MAX);
	assert_in_range(v, d / 2, d);
	for (int i = 0; i < 2000; i++) {
		v = dispatch_backoff(base, max, attempts, prng(&seed));
		if (v < d / 2 || v > d)
			fail_msg("base %lld max %lld attempts %d: %lld not in "
			    "[%lld, %lld]", (long long)base, (long long)max,
			    attempts, (long long)v, (long long)(d / 2),
			    (long long)d);
	}
}

static void
test_backoff_bounds(void **state)
{
	(void)state;
	/* 30 s doubling: [15, 30], [30, 60], [60, 120], ... */
	check_backoff(30, 3600, 1, 30);
	check_backoff(30, 3600, 2, 60);
	check_backoff(30, 3600, 3, 120);
	check_backoff(30, 3600, 4, 240);
	check_backoff(30, 3600, 7, 1920);
	/* 30 * 2^7 = 3840 is past the cap: [1800, 3600] from then on. */
	for (int a = 8; a < 80; a++)
		check_backoff(30, 3600, a, 3600);
	check_backoff(30, 3600, 1000, 3600);
	check_backoff(30, 3600, INT_MAX, 3600);
	/* The policy's largest retry_max (400 days) with many attempts. */
	check_backoff(30, 400 * 86400, 1000, 400 * 86400);
	check_backoff(30, 400 * 86400, 20, 30 * ((int64_t)1 << 19));
	/* A base above max is capped at once; one second over is capped. */
	check_backoff(7200, 3600, 1, 3600);
	check_backoff(30, 59, 2, 59);
	check_backoff(30, 60, 2, 60);
	/* An odd d: the upper end is d rounded down to even. */
	check_backoff(30, 3601, 9, 3601);
	assert_int_equal(dispatch_backoff(30, 3601, 9, 1800), 3600);
}

static void
test_backoff_doubles(void **state)
{
	int64_t prev = dispatch_backoff(30, 3600, 1, 0);

	(void)state;
	assert_int_equal(prev, 15);
	for (int a = 2; a <= 7; a++) {
		int64_t lo = dispatch_backoff(30, 3600, a, 0);
		int64_t hi = dispatch_backoff(30, 3600, a, UINT32_MAX);

		assert_int_equal(lo, 2 * prev);
		assert_true(hi >= lo && hi <= 2 * lo);
		prev = lo;
	}
	/* Never above max, never below max/2 once capped; never shrinks. */
	prev = 0;
	for (int a = 1; a < 200; a++) {
		int64_t lo = dispatch_backoff(30, 3600, a, 0);

		assert_true(lo >= prev);
		assert_true(lo <= 1800);
		assert_true(dispatch_backoff(30, 3600, a, UINT32_MAX) <= 3600);
		prev = lo;
	}
	assert_int_equal(prev, 1800);
}

static void
test_backoff_base_zero(void **state)
{
	uint32_t seed = 77;

	(void)state;
	/* base 0 (or less) is treated as 1 s. */
	for (int a = 1; a < 40; a++)
		for (int i = 0; i < 50; i++) {
			uint32_t r = prng(&seed);
			int64_t one = dispatch_backoff(1, 3600, a, r);

			assert_int_equal(dispatch_backoff(0, 3600, a, r), one);
			assert_int_equal(dispatch_backoff(-5, 3600, a, r), one);
		}
	check_backoff(0, 3600, 1, 1);
	check_backoff(0, 3600, 5, 16);
	check_backoff(0, 3600, 13, 3600);
}

/* ---- ack tokens and codes ---- */

static const unsigned char secret0[ACK_SECRET_LEN] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
};

static void
assert_token_shape(const char *t)
{
	assert_int_equal(strlen(t), ACK_TOKEN_LEN);
	for (size_t i = 0; i < ACK_TOKEN_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", t[i]));
}

static void
assert_code_shape(const char *c)
{
	assert_int_equal(strlen(c), ACK_CODE_LEN);
	for (size_t i = 0; i < ACK_CODE_LEN; i++)
		assert_true(c[i] >= '0' && c[i] <= '9');
}

static void
test_token(void **state)
{
	unsigned char s2[ACK_SECRET_LEN];
	char t[ACK_TOKEN_LEN + 1], u[ACK_TOKEN_LEN + 1];

	(void)state;
	memset(t, 'X', sizeof(t));
	ack_token(secret0, "A-1", "ke", t);
	assert_token_shape(t);
	/* HMAC-SHA256(secret, 16 "tocsin ack token" 3 "A-1" 2 "ke"), first
	   16 bytes: fixed, since tokens already sent must stay valid. */
	assert_string_equal(t, "d5e5f63b4d99f25fa2f107d242b4c966");
	ack_token(secret0, "A-1", "ke", u);
	assert_string_equal(t, u);
	/* Each input matters. */
	ack_token(secret0, "A-2", "ke", u);
	assert_token_shape(u);
	assert_string_not_equal(t, u);
	ack_token(secret0, "A-1", "ng", u);
	assert_string_not_equal(t, u);
	for (size_t i = 0; i < ACK_SECRET_LEN; i += 31) {
		memcpy(s2, secret0, sizeof(s2));
		s2[i] ^= 0x01;
		ack_token(s2, "A-1", "ke", u);
		assert_string_not_equal(t, u);
	}
	/* Field boundaries: "ab"+"c" is not "a"+"bc". */
	ack_token(secret0, "ab", "c", t);
	ack_token(secret0, "a", "bc", u);
	assert_string_not_equal(t, u);
	ack_token(secret0, "", "abc", t);
	ack_token(secret0, "abc", "", u);
	assert_string_not_equal(t, u);
}

static void
test_code(void **state)
{
	unsigned char s2[ACK_SECRET_LEN];
	char c[ACK_CODE_LEN + 1], d[ACK_CODE_LEN + 1];
	char (*all)[ACK_CODE_LEN + 1];
	char team[16];
	size_t distinct = 0;

	(void)state;
	memset(c, 'X', sizeof(c));
	ack_code(secret0, "A-1", "ke", c);
	assert_code_shape(c);
	/* HMAC-SHA256(secret, 15 "tocsin ack code" 3 "A-1" 2 "ke"), first 8
	   bytes as a big-endian number, mod 10^8. */
	assert_string_equal(c, "30231207");
	ack_code(secret0, "A-1", "ke", d);
	assert_string_equal(c, d);
	memcpy(s2, secret0, sizeof(s2));
	s2[5] ^= 0x80;
	ack_code(s2, "A-1", "ke", d);
	assert_string_not_equal(c, d);
	ack_code(secret0, "ab", "c", c);
	ack_code(secret0, "a", "bc", d);
	assert_string_not_equal(c, d);

	/* 1000 teams: codes spread over 10^8, so at most a handful alike. */
	all = calloc(1000, sizeof(*all));
	assert_non_null(all);
	for (int i = 0; i < 1000; i++) {
		(void)snprintf(team, sizeof(team), "t%03d", i);
		ack_code(secret0, "A-1", team, all[i]);
		assert_code_shape(all[i]);
	}
	for (int i = 0; i < 1000; i++) {
		bool dup = false;

		for (int j = 0; j < i && !dup; j++)
			dup = strcmp(all[i], all[j]) == 0;
		if (!dup)
			distinct++;
	}
	assert_true(distinct >= 990);
	free(all);
}

static void
test_url(void **state)
{
	char out[256];
	const char *tok = "d5e5f63b4d99f25fa2f107d242b4c966";

	(void)state;
	ack_url("https://x.example/", tok, out, sizeof(out));
	assert_string_equal(out,
	    "https://x.example/ack/d5e5f63b4d99f25fa2f107d242b4c966");
	ack_url("https://x.example", tok, out, sizeof(out));
	assert_string_equal(out,
	    "https://x.example/ack/d5e5f63b4d99f25fa2f107d242b4c966");
	ack_url("https://x.example/tocsin/", tok, out, sizeof(out));
	assert_string_equal(out, "https://x.example/tocsin/ack/"
	    "d5e5f63b4d99f25fa2f107d242b4c966");
	ack_url("https://x.example/tocsin", tok, out, sizeof(out));
	assert_string_equal(out, "https://x.example/tocsin/ack/"
	    "d5e5f63b4d99f25fa2f107d242b4c966");
	/* Too small: cut, but always terminated. */
	memset(out, 'X', sizeof(out));
	ack_url("https://x.example/", tok, out, 10);
	assert_string_equal(out, "https://x");
}

/* ---- the ack secret ---- */

struct fx {
	char dir[64];
	char state[96];
	char store[128];
	char key[128];
	struct policy_repo repo;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/tst-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	(void)snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
	(void)snprintf(f->store, sizeof(f->store), "%s/tocsin.db", f->state);
	(void)snprintf(f->key, sizeof(f->key), "%s/ack.key", f->state);
	if (mkdir(f->state, 0700) != 0) {
		rmdir(f->dir);
		free(f);
		return -1;
	}
	/* ack_secret_load reads gateway.store and gateway.ack_secret only. */
	f->repo.gateway.store = f->store;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	unit_rm_rf(f->dir);
	free(f);
	return 0;
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
read_file(const char *path, unsigned char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, out, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void
test_secret_made_then_read(void **state)
{
	struct fx *f = *state;
	unsigned char a[ACK_SECRET_LEN], b[ACK_SECRET_LEN], disk[ACK_SECRET_LEN];
	unsigned char zero[ACK_SECRET_LEN] = { 0 };
	struct tocsin_err e = { 0 };
	struct stat st;

	assert_int_equal(stat(f->key, &st), -1);
	assert_int_equal(ack_secret_load(&f->repo, a, &e), 0);
	assert_int_equal(stat(f->key, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, ACK_SECRET_LEN);
	read_file(f->key, disk, sizeof(disk));
	assert_memory_equal(a, disk, ACK_SECRET_LEN);
	assert_memory_not_equal(a, zero, ACK_SECRET_LEN);
	/* Second use: the same bytes, the file untouched. */
	memset(b, 0, sizeof(b));
	assert_int_equal(ack_secret_load(&f->repo, b, &e), 0);
	assert_memory_equal(a, b, ACK_SECRET_LEN);
	read_file(f->key, disk, sizeof(disk));
	assert_memory_equal(a, disk, ACK_SECRET_LEN);
}

static void
test_secret_refused(void **state)
{
	struct fx *f = *state;
	unsigned char out[ACK_SECRET_LEN], bytes[ACK_SECRET_LEN + 1];
	struct tocsin_err e = { 0 };
	char link[160];

	memset(bytes, 0x5a, sizeof(bytes));
	/* Readable by others: refused, not replaced. */
	write_file(f->key, bytes, ACK_SECRET_LEN, 0644);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	assert_non_null(strstr(e.msg, "chmod 600"));
	write_file(f->key, bytes, ACK_SECRET_LEN, 0640);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	write_file(f->key, bytes, ACK_SECRET_LEN, 0600);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), 0);
	assert_memory_equal(out, bytes, ACK_SECRET_LEN);
	/* Wrong sizes: refused, not replaced. */
	write_file(f->key, bytes, ACK_SECRET_LEN - 1, 0600);
	memset(&e, 0, sizeof(e));
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	assert_non_null(strstr(e.msg, "exactly 32 bytes"));
	write_file(f->key, bytes, ACK_SECRET_LEN + 1, 0600);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	write_file(f->key, bytes, 0, 0600);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	{
		struct stat st;

		assert_int_equal(stat(f->key, &st), 0);
		assert_int_equal(st.st_size, 0);
	}
	/* A folder or a symbolic link in its place: refused. */
	assert_int_equal(unlink(f->key), 0);
	assert_int_equal(mkdir(f->key, 0700), 0);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	assert_int_equal(rmdir(f->key), 0);
	(void)snprintf(link, sizeof(link), "%s/real.key", f->dir);
	write_file(link, bytes, ACK_SECRET_LEN, 0600);
	assert_int_equal(symlink(link, f->key), 0);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	assert_int_equal(unlink(f->key), 0);
	/* No folder yet (a fresh install): made, 0700, with the key. */
	assert_int_equal(rmdir(f->state), 0);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), 0);
	{
		struct stat st;

		assert_int_equal(stat(f->state, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
		assert_int_equal(stat(f->key, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	/* A folder that cannot be made (a file in its place): refused. */
	assert_int_equal(unlink(f->key), 0);
	assert_int_equal(rmdir(f->state), 0);
	write_file(f->state, bytes, 1, 0600);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	assert_int_equal(unlink(f->state), 0);
	assert_int_equal(mkdir(f->state, 0700), 0);
}

static void
test_secret_explicit(void **state)
{
	struct fx *f = *state;
	unsigned char out[ACK_SECRET_LEN], bytes[ACK_SECRET_LEN];
	struct tocsin_err e = { 0 };
	char path[160];
	struct stat st;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(0xa0 + i);
	(void)snprintf(path, sizeof(path), "%s/explicit.key", f->dir);
	write_file(path, bytes, sizeof(bytes), 0600);
	f->repo.gateway.ack_secret = path;
	assert_int_equal(ack_secret_load(&f->repo, out, &e), 0);
	assert_memory_equal(out, bytes, ACK_SECRET_LEN);
	/* The default file beside the store is neither made nor read. */
	assert_int_equal(stat(f->key, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* The explicit file is held to the same rules... */
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(ack_secret_load(&f->repo, out, &e), TOCSIN_ECONFIG);
	/* ...and, when missing, is an error, never made. */
	assert_int_equal(unlink(path), 0);
	assert_true(ack_secret_load(&f->repo, out, &e) != 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(stat(f->key, &st), -1);
}

/* ---- dispatch_retry: attempts are real, max_attempts bounds them ---- */

static void
test_retry_accounting(void **state)
{
	struct policy_gateway gw = { 0 };
	int64_t next = 0;

	(void)state;
	gw.retry_base = 30;
	gw.retry_max = 3600;
	gw.max_attempts = 3;
	/* never handed to the peer: due at once, whatever the count */
	assert_int_equal(dispatch_retry(&gw, 2, true, 0, 1000, 7, &next), 0);
	assert_int_equal(next, 1000);
	assert_int_equal(dispatch_retry(&gw, 50, true, 0, 1000, 7, &next), 0);
	assert_int_equal(next, 1000);
	/* attempt 1 and 2 back off; attempt 3 is the last */
	assert_int_equal(dispatch_retry(&gw, 0, false, 0, 1000, 0, &next), 0);
	assert_int_equal(next, 1000 + 15);
	assert_int_equal(dispatch_retry(&gw, 1, false, 0, 1000, 0, &next), 0);
	assert_int_equal(next, 1000 + 30);
	assert_int_equal(dispatch_retry(&gw, 2, false, 0, 1000, 0, &next), 1);
	/* a provider's Retry-After is kept when later than the backoff */
	assert_int_equal(dispatch_retry(&gw, 0, false, 600, 1000, 0, &next), 0);
	assert_int_equal(next, 1600);
	assert_int_equal(dispatch_retry(&gw, 0, false, 5, 1000, 0, &next), 0);
	assert_int_equal(next, 1015);
	/* max_attempts 1: the first real failure is the end */
	gw.max_attempts = 1;
	assert_int_equal(dispatch_retry(&gw, 0, false, 0, 1000, 0, &next), 1);
	assert_int_equal(dispatch_retry(&gw, 0, true, 0, 1000, 0, &next), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_bounds),
		cmocka_unit_test(test_retry_accounting),
		cmocka_unit_test(test_backoff_doubles),
		cmocka_unit_test(test_backoff_base_zero),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_code),
		cmocka_unit_test(test_url),
		cmocka_unit_test_setup_teardown(test_secret_made_then_read,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_secret_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_secret_explicit, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
