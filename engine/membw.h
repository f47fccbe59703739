/* engine/membw.h: this machine's memory read bandwidth, measured, for the bench's floor. */
#ifndef MOESCOPE_MEMBW_H
#define MOESCOPE_MEMBW_H

#include <stddef.h>
#include <stdint.h>

struct membw_result {
    double gbps;          /* best pass, 1e9 bytes per second */
    double gbps_mean;     /* mean over the passes */
    size_t bytes;         /* bytes read per pass */
    int threads, passes;
    uint64_t checksum;    /* what the reads summed to: printed so they cannot be dropped */
};

/* Reads `bytes` (rounded down to 4 KiB, at least 1 GiB is what the bench asks) of random
 * data with n_threads threads, `passes` times. Random, because the host can merge identical
 * pages and serve constant data from cache. Returns 0, or -1 with err set. */
int membw_measure(size_t bytes, int n_threads, int passes, struct membw_result *out,
                  char *err, size_t errlen);

#endif
