/*
 * mono.c: milliseconds on the monotonic clock (base.h), the one clock a
 * running process measures intervals with: a wall-clock step moves
 * neither a batch's deadline nor a lease's local end.
 */
#include <time.h>

#include "base.h"

int64_t
base_mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
