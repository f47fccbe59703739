/* engine/sys/threads.h: a small persistent pthread pool.
 *
 * threads_run() calls fn(arg, ith, nth) once on each of the pool's nth threads (the caller
 * is thread 0) and returns when every call has returned. Between runs the workers spin for
 * a fraction of a millisecond (a decode step makes ~100 runs), then sleep on a condition
 * variable (the machine is shared: an idle pool costs nothing). The usual job splits the
 * rows of a matrix: threads_split() gives thread ith its share [*r0, *r1). One thread
 * drives a pool; runs do not nest. */
#ifndef MOESCOPE_THREADS_H
#define MOESCOPE_THREADS_H

#include <stdint.h>

struct thread_pool;
typedef void (*threads_fn)(void *arg, int ith, int nth);

/* n threads in all (n <= 1: no workers, runs happen on the caller). NULL when out of
 * memory or threads cannot be started. */
struct thread_pool *threads_create(int n);
void threads_free(struct thread_pool *p);
int threads_count(const struct thread_pool *p);
void threads_run(struct thread_pool *p, threads_fn fn, void *arg);
/* Like threads_run, but fn runs on the caller and on whichever workers arrive while the
 * caller is still in its own call: a worker that comes late (descheduled on a busy
 * machine) is not waited for. So fn must share its work out dynamically (threads_claim),
 * and must not count on every ith being called; ith is still distinct per thread. */
void threads_run_any(struct thread_pool *p, threads_fn fn, void *arg);
/* Rows [r0, r1) of n for thread ith of nth, in contiguous blocks. */
void threads_split(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1);
/* The number of online cores (at least 1). */
int threads_cores(void);

#endif
