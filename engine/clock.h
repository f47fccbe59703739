/* engine/clock.h: the one clock every part of moescope times itself with: monotonic time
 * from an arbitrary start (CLOCK_MONOTONIC), immune to the wall clock being set. */
#ifndef MOESCOPE_CLOCK_H
#define MOESCOPE_CLOCK_H

#include <stdint.h>

uint64_t clock_now_ns(void);

/* The same clock in seconds, for rates and timeouts. */
static inline double clock_now_s(void)
{
    return (double)clock_now_ns() * 1e-9;
}

#endif
