/*
 * clockshift.c: steps one process's wall clock, for the fault tests only.
 *
 * Preloaded (LD_PRELOAD) into a tocsin serve under test: time(),
 * gettimeofday() and clock_gettime() of the real-time clocks return the
 * machine's time plus the whole seconds written in the file named by
 * CLOCKSHIFT_FILE (read at every call), so that writing 3600 there is a
 * step of +1 h for that process alone, as an NTP step would be for the
 * machine.  The monotonic clock is left alone, as a real step leaves it.
 * Built by the test itself; never part of tocsin.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

/* The step is this process's alone: gpg and other children see the
   machine's clock (the test keys were made minutes ago, and a key made
   "in the future" would be unusable to them, which is not the fault
   under test). */
__attribute__((constructor)) static void
clockshift_init(void)
{
	(void)unsetenv("LD_PRELOAD");
}

static long long
shift(void)
{
	const char *path = getenv("CLOCKSHIFT_FILE");
	long long v = 0;
	FILE *f;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%lld", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	int rc;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
		    "clock_gettime");
	rc = real(id, ts);
	if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += (time_t)shift();
	return rc;
}

time_t
time(time_t *out)
{
	struct timespec ts;
	time_t t;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec;
	if (out != NULL)
		*out = t;
	return t;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}
