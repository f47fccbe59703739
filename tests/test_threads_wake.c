/* tests/test_threads_wake.c: the pool's sleeps never lose a wake-up (engine/sys/threads.c).
 *
 * A worker that has spun long enough goes to sleep while the caller may be publishing the
 * next run; a caller that has waited long enough goes to sleep while the last worker may be
 * finishing. Each side writes its own flag and then reads the other's: if both reads could
 * see the old values, both sides would sleep for ever. The test drives many runs with gaps
 * and job lengths spread around the spin limits, so that every ordering of the two comes
 * up, and fails (instead of hanging) when a run does not end within a generous limit. A
 * full test_engine run under qemu-aarch64 once stopped with every thread in a futex wait;
 * make test-arm64 runs this test on both emulated CPUs. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "threads.h"

enum { WAKE_RUNS = 3000, WAKE_LIMIT_S = 240 };

struct wake_job {
    _Atomic int done[4];
    uint64_t worker_ns; /* how long thread 1 works on this run */
};

static void spin_ns(uint64_t ns)
{
    const uint64_t end = clock_now_ns() + ns;
    while (clock_now_ns() < end)
        ;
}

static void wake_job_fn(void *arg, int ith, int nth)
{
    (void)nth;
    struct wake_job *j = arg;
    if (ith == 1)
        spin_ns(j->worker_ns);
    atomic_fetch_add(&j->done[ith], 1);
}

struct wake_drive {
    int n_threads;
    int runs_ok;          /* runs in which every thread took part once */
    _Atomic bool finished;
};

/* xorshift: a fixed sequence of gaps, the same on every run of the test */
static uint32_t wake_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void *wake_drive_main(void *v)
{
    struct wake_drive *d = v;
    struct thread_pool *p = threads_create(d->n_threads);
    uint32_t seed = 2463534242u;
    for (int r = 0; p && r < WAKE_RUNS; r++) {
        struct wake_job j = { .worker_ns = wake_rand(&seed) % 120000 };
        for (int t = 0; t < 4; t++)
            atomic_init(&j.done[t], 0);
        threads_run(p, wake_job_fn, &j);
        bool once = true;
        for (int t = 0; t < d->n_threads; t++)
            once = once && atomic_load(&j.done[t]) == 1;
        d->runs_ok += once;
        /* idle for 0..400 us: around the workers' 200 us spin before they sleep */
        spin_ns(wake_rand(&seed) % 400000);
    }
    threads_free(p);
    atomic_store(&d->finished, true);
    return NULL;
}

static void wake_check(int n_threads)
{
    static struct wake_drive d; /* outlives a stuck driver thread */
    d.n_threads = n_threads;
    d.runs_ok = 0;
    atomic_store(&d.finished, false);
    pthread_t t;
    CHECK_INT_EQ(pthread_create(&t, NULL, wake_drive_main, &d), 0);
    const uint64_t limit = clock_now_ns() + (uint64_t)WAKE_LIMIT_S * 1000000000u;
    while (!atomic_load(&d.finished) && clock_now_ns() < limit) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (!atomic_load(&d.finished)) {
        CHECK_MSG(false, "%d threads: the pool stopped after %d of %d runs (a lost wake-up)",
                  n_threads, d.runs_ok, WAKE_RUNS);
        pthread_detach(t); /* stuck for good; the process exit ends it */
        return;
    }
    pthread_join(t, NULL);
    CHECK_INT_EQ(d.runs_ok, WAKE_RUNS);
}

TEST(threads_pool_never_loses_a_wake_up)
{
    wake_check(2);
}
