/* engine/sys/threads.c: the pool (see threads.h).
 *
 * A run is published by bumping an atomic generation; workers spin on it for a short while
 * (THREADS_SPIN_NS) before they sleep on a condition variable, so the ~100 runs of a decode
 * step cost a cache-line transfer each instead of a futex wake-up, while an idle pool
 * (between replies, or a machine shared with others) sleeps. The caller waits for the
 * workers the same way: spin, then sleep. Spinning threads yield every few microseconds:
 * on a machine with more runnable threads than cores, the thread we wait for may be
 * queued behind us (measured under load: decode 31 -> 43 tok/s at 2 threads).
 *
 * The generation works as a sequence lock: odd while the caller writes a run's fields,
 * even once they are published. A worker reads the fields, then checks that the generation
 * has not moved; with threads_run_any a late worker may find the run it woke for already
 * closed and the next one being written, and must not mix the two. */
#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define threads_relax() _mm_pause()
#elif defined(__aarch64__)
#define threads_relax() __asm__ __volatile__("yield")
#else
#define threads_relax() ((void)0)
#endif

/* Both sides of each sleep handshake write their own flag and then read the other's: the
 * caller publishes gen and reads `sleeping`, a worker counts itself in `sleeping` and reads
 * gen (and likewise `waiting` against `pending`/`entry`). C11 orders a sequentially
 * consistent store before a later sequentially consistent load, and aarch64 hardware keeps
 * that for STLR then LDAR; an emulator need not (qemu-user on an x86 host may turn them
 * into a plain store and load, which the host's store buffer lets pass each other). One
 * full test_engine run under qemu-aarch64 stopped with every thread in a futex wait, which
 * is what both sides sleeping would look like. The explicit fence costs one barrier per
 * handshake. */
#define threads_store_load_fence() atomic_thread_fence(memory_order_seq_cst)

/* The sleeps also wake on their own now and then and look again: the handshake above is
 * what wakes them, this only bounds what a lost wake-up could cost (a pause instead of a
 * hang) should a platform break the ordering in a way not yet seen. Workers idle between
 * replies, so theirs is long; the caller's is short, as a run is waiting on it. */
enum { THREADS_IDLE_RECHECK_MS = 100, THREADS_DONE_RECHECK_MS = 5 };

/* pthread_cond_wait for at most ms (the condition's default clock, CLOCK_REALTIME, which
 * every platform has; a clock step only moves one recheck) */
static void threads_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *mu, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(c, mu, &ts);
}

/* How long an idle worker spins before it sleeps: longer than the serial work between two
 * runs of one decode step (norms, quantizing an activation row), far shorter than a token.
 * The caller spins less before it sleeps while workers finish. */
enum { THREADS_SPIN_NS = 200 * 1000, THREADS_WAIT_NS = 50 * 1000 };

/* threads_run_any's entry word: bits 0..15 workers inside the run, bit 16 closed (the
 * caller is done: late workers stay out), bits 17.. the run's generation */
enum { ENTRY_CLOSED = 1 << 16, ENTRY_GEN_SHIFT = 17 };
#define ENTRY_ACTIVE(s) ((s) & 0xFFFFu)
#define ENTRY_OF(g) (((g) & (UINT64_MAX >> ENTRY_GEN_SHIFT)) << ENTRY_GEN_SHIFT)

struct thread_pool {
    int n;                   /* threads in all, the caller included */
    pthread_t *tid;          /* (n - 1) workers */
    pthread_mutex_t mu;      /* guards the sleeps */
    pthread_cond_t go;       /* workers sleep on it between runs */
    pthread_cond_t done;     /* the caller sleeps on it when the workers take long */
    _Atomic uint64_t gen;    /* even: run published; odd: the caller is writing one */
    _Atomic int pending;     /* threads_run: workers still running the current job */
    _Atomic uint64_t entry;  /* threads_run_any: see ENTRY_* */
    _Atomic int sleeping;    /* workers asleep (or about to be) on go */
    _Atomic bool waiting;    /* the caller asleep (or about to be) on done */
    _Atomic bool quit;
    /* the run's fields, written while gen is odd */
    _Atomic(threads_fn) fn;
    _Atomic(void *) arg;
    _Atomic bool any;
};

struct worker_arg {
    struct thread_pool *p;
    int ith;
};

/* True when gen holds a published run other than seen. */
static bool threads_new_run(uint64_t g, uint64_t seen)
{
    return g != seen && g % 2 == 0;
}

/* Waits until p->gen publishes a run other than seen (or quit); returns its generation. */
static uint64_t threads_wait_gen(struct thread_pool *p, uint64_t seen)
{
    uint64_t t0 = 0;
    for (unsigned spins = 1;; spins++) {
        uint64_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (threads_new_run(g, seen) || atomic_load(&p->quit))
            return g;
        threads_relax();
        if (spins % 256)
            continue;
        /* let a thread waiting for this core run (our caller's serial work, on a busy
         * machine); with nothing else runnable this returns at once */
        sched_yield();
        uint64_t t = clock_now_ns();
        if (!t0) {
            t0 = t;
            continue;
        }
        if (t - t0 < THREADS_SPIN_NS)
            continue;
        /* sleep: we count ourselves in `sleeping` before reading gen, the caller publishes
         * gen before reading `sleeping`, a full fence between each side's store and load
         * (threads_store_load_fence: an emulator may reorder the pair otherwise), so either
         * it sees us and signals or we see its new gen; the timed wait rechecks anyway */
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->sleeping, 1);
        threads_store_load_fence();
        while (!threads_new_run(atomic_load(&p->gen), seen) && !atomic_load(&p->quit))
            threads_cond_wait_ms(&p->go, &p->mu, THREADS_IDLE_RECHECK_MS);
        atomic_fetch_sub(&p->sleeping, 1);
        pthread_mutex_unlock(&p->mu);
        t0 = 0;
    }
}

static void threads_wake_caller(struct thread_pool *p)
{
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->mu);
}

static void *threads_worker(void *v)
{
    struct worker_arg wa = *(struct worker_arg *)v;
    free(v);
    struct thread_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        const uint64_t g = threads_wait_gen(p, seen);
        if (atomic_load(&p->quit))
            return NULL;
        const threads_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *arg = atomic_load_explicit(&p->arg, memory_order_relaxed);
        const bool any = atomic_load_explicit(&p->any, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&p->gen, memory_order_relaxed) != g)
            continue; /* the fields moved on while we read them: look again */
        seen = g;
        if (!any) {
            /* the caller waits for us (pending), so run g is still the current one */
            fn(arg, wa.ith, p->n);
            const int left = atomic_fetch_sub(&p->pending, 1) - 1;
            threads_store_load_fence();
            if (left == 0 && atomic_load(&p->waiting))
                threads_wake_caller(p);
            continue;
        }
        /* enter run g unless the caller has closed it (or moved past it) */
        uint64_t e = atomic_load(&p->entry);
        bool in = false;
        while (!in && (e & ~(uint64_t)(ENTRY_CLOSED | 0xFFFFu)) == ENTRY_OF(g) &&
               !(e & ENTRY_CLOSED))
            in = atomic_compare_exchange_weak(&p->entry, &e, e + 1);
        if (!in)
            continue;
        fn(arg, wa.ith, p->n);
        e = atomic_fetch_sub(&p->entry, 1);
        threads_store_load_fence();
        if (ENTRY_ACTIVE(e) == 1 && (e & ENTRY_CLOSED) && atomic_load(&p->waiting))
            threads_wake_caller(p);
    }
}

struct thread_pool *threads_create(int n)
{
    if (n < 1)
        n = 1;
    struct thread_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->entry, 0);
    atomic_init(&p->sleeping, 0);
    atomic_init(&p->waiting, false);
    atomic_init(&p->quit, false);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->arg, NULL);
    atomic_init(&p->any, false);
    if (n > 1) {
        p->tid = calloc((size_t)n - 1, sizeof *p->tid);
        if (!p->tid) {
            threads_free(p);
            return NULL;
        }
        for (int i = 1; i < n; i++) {
            struct worker_arg *wa = malloc(sizeof *wa);
            if (!wa) {
                threads_free(p);
                return NULL;
            }
            wa->p = p;
            wa->ith = i;
            if (pthread_create(&p->tid[i - 1], NULL, threads_worker, wa) != 0) {
                free(wa);
                threads_free(p);
                return NULL;
            }
            p->n = i + 1;
        }
    }
    return p;
}

void threads_free(struct thread_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->tid[i - 1], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p);
}

int threads_count(const struct thread_pool *p)
{
    return p ? p->n : 1;
}

/* Writes a run's fields under an odd generation, then publishes it (even) and wakes the
 * sleepers. */
static void threads_publish(struct thread_pool *p, threads_fn fn, void *arg, bool any)
{
    const uint64_t g = atomic_load(&p->gen) + 2;
    atomic_store(&p->gen, g - 1);
    atomic_thread_fence(memory_order_release); /* odd before any field (sequence lock) */
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->any, any, memory_order_relaxed);
    if (any)
        atomic_store(&p->entry, ENTRY_OF(g));
    else
        atomic_store(&p->pending, p->n - 1);
    atomic_store(&p->gen, g); /* publishes the fields */
    threads_store_load_fence();
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
    }
}

/* True while workers of the current run have not finished it. */
static bool threads_busy(struct thread_pool *p, bool any)
{
    return any ? ENTRY_ACTIVE(atomic_load(&p->entry)) > 0 : atomic_load(&p->pending) > 0;
}

/* Spins while the workers finish; when one takes long (descheduled on a busy machine, or
 * a lopsided job) sleeps so that the core goes to it. */
static void threads_wait_done(struct thread_pool *p, bool any)
{
    uint64_t t0 = 0;
    for (unsigned spins = 1; threads_busy(p, any); spins++) {
        threads_relax();
        if (spins % 256)
            continue;
        sched_yield(); /* the worker we wait for may be queued on this core */
        uint64_t t = clock_now_ns();
        if (!t0) {
            t0 = t;
            continue;
        }
        if (t - t0 < THREADS_WAIT_NS)
            continue;
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->waiting, true);
        threads_store_load_fence(); /* against the workers' decrement */
        while (threads_busy(p, any))
            threads_cond_wait_ms(&p->done, &p->mu, THREADS_DONE_RECHECK_MS);
        atomic_store(&p->waiting, false);
        pthread_mutex_unlock(&p->mu);
        return;
    }
}

void threads_run(struct thread_pool *p, threads_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    threads_publish(p, fn, arg, false);
    fn(arg, 0, p->n);
    threads_wait_done(p, false);
}

void threads_run_any(struct thread_pool *p, threads_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    threads_publish(p, fn, arg, true);
    fn(arg, 0, p->n);
    /* the work is all taken: close the run, then wait for those inside to finish */
    atomic_fetch_or(&p->entry, (uint64_t)ENTRY_CLOSED);
    threads_wait_done(p, true);
}

void threads_split(int64_t n, int ith, int nth, int64_t *r0, int64_t *r1)
{
    int64_t per = (n + nth - 1) / nth;
    int64_t a = per * ith, b = a + per;
    *r0 = a < n ? a : n;
    *r1 = b < n ? b : n;
}

int threads_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}
