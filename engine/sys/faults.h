/* engine/sys/faults.h: page faults, kernel time and preemptions of the engine's threads,
 * sampled around a forward pass for its trace records (trace.h's faults_minor, faults_major,
 * ns_kernel, preempted).
 *
 * Where the system counts per thread (Linux's RUSAGE_THREAD) every thread of the pool reads
 * its own counters inside one pool run and the sums are taken, so faults of other threads
 * of the process (the app's screen) are left out. Elsewhere (macOS, the BSDs) the whole
 * process's counters (RUSAGE_SELF) stand in for them, read by the calling thread. */
#ifndef MOESCOPE_FAULTS_H
#define MOESCOPE_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "threads.h"

struct fault_sample {
    uint64_t minor, major;  /* page faults served without / with I/O */
    uint64_t ns_kernel;     /* CPU time spent in the kernel on the threads' behalf (split
                             * from user time by the kernel's tick samples) */
    uint64_t preempted;     /* involuntary context switches: a thread taken off its core
                             * while it still had work (another task's turn) */
};

/* The counters now, summed over the pool's threads (or the process's, see above). */
void faults_sample(struct thread_pool *pool, struct fault_sample *out);
/* True when faults_sample counts per thread. */
bool faults_per_thread(void);

#endif
