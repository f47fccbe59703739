/* engine/sys/faults.c: the counters of faults.h, from getrusage. */
#include "faults.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

enum { FAULTS_MAX_THREADS = 256 };

static void faults_from_rusage(const struct rusage *ru, struct fault_sample *out)
{
    out->minor = (uint64_t)ru->ru_minflt;
    out->major = (uint64_t)ru->ru_majflt;
    out->ns_kernel = (uint64_t)ru->ru_stime.tv_sec * 1000000000u +
                     (uint64_t)ru->ru_stime.tv_usec * 1000u;
    out->preempted = (uint64_t)ru->ru_nivcsw;
}

#ifdef RUSAGE_THREAD
bool faults_per_thread(void)
{
    return true;
}

/* One pool run: thread ith reads its own counters into slot ith. */
static void faults_job(void *arg, int ith, int nth)
{
    struct fault_sample *slot = arg;
    struct rusage ru;
    if (ith >= FAULTS_MAX_THREADS || nth > FAULTS_MAX_THREADS)
        return;
    if (getrusage(RUSAGE_THREAD, &ru) == 0)
        faults_from_rusage(&ru, &slot[ith]);
}

void faults_sample(struct thread_pool *pool, struct fault_sample *out)
{
    struct fault_sample slot[FAULTS_MAX_THREADS];
    const int n = pool ? threads_count(pool) : 1;
    memset(slot, 0, sizeof slot);
    threads_run(pool, faults_job, slot);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n && i < FAULTS_MAX_THREADS; i++) {
        out->minor += slot[i].minor;
        out->major += slot[i].major;
        out->ns_kernel += slot[i].ns_kernel;
        out->preempted += slot[i].preempted;
    }
}
#else
bool faults_per_thread(void)
{
    return false;
}

void faults_sample(struct thread_pool *pool, struct fault_sample *out)
{
    (void)pool;
    struct rusage ru;
    memset(out, 0, sizeof *out);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        faults_from_rusage(&ru, out);
}
#endif
