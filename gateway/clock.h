/*
 * clock.h: the two clocks of serve.
 *
 * The wall clock (UTC seconds) is what the store keeps: deadlines, retry
 * times and leases, shared with other processes and kept across restarts.
 * The monotonic clock is what a running process measures with: a lease's
 * local end, a batch's deadline, the scheduler's sleeps, and the check
 * that the wall clock was stepped (store_clock_check).  A step of the wall
 * clock is logged and the store's times are moved by it, so that a ladder
 * keeps its spacing (forward) and does not stop (backward).  There is no
 * way to move these clocks from inside: the tests step a process's wall
 * clock from outside (tests/integration/clockshift.c, LD_PRELOAD).
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* UTC seconds; UTC milliseconds. */
int64_t clock_wall(void);
int64_t clock_wall_ms(void);
/* Milliseconds on CLOCK_MONOTONIC: base_mono_ms() (base.h). */
/* The kernel's boot id (the monotonic clock's epoch), "" when unknown. */
void clock_boot_id(char *out, size_t len);

#endif
