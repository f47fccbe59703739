/* engine/threads.c: the pool (see threads.h).
 *
 * A run is published by bumping an atomic generation; workers spin on it for a short while
 * (THREADS_SPIN_NS) before they sleep on a condition variable, so the ~100 runs of a decode
 * step cost a cache-line transfer each instead of a futex wake-up, while an idle pool
 * (between replies, or a machine shared with others) sleeps. The caller waits for the
 * workers the same way: spin, then yield. */
#include "threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define threads_relax() _mm_pause()
#elif defined(__aarch64__)
#define threads_relax() __asm__ __volatile__("yield")
#else
#define threads_relax() ((void)0)
#endif

/* How long an idle worker spins before it sleeps: longer than the serial work between two
 * runs of one decode step (norms, quantizing an activation row), far shorter than a token. */
enum { THREADS_SPIN_NS = 200 * 1000, THREADS_WAIT_NS = 50 * 1000 };

struct thread_pool {
    int n;                   /* threads in all, the caller included */
    pthread_t *tid;          /* (n - 1) workers */
    pthread_mutex_t mu;      /* guards the sleep and quit */
    pthread_cond_t go;
    pthread_cond_t done;     /* the caller sleeps on it when the workers take long */
    _Atomic uint64_t gen;    /* bumped for every run; workers wait for a change */
    _Atomic int pending;     /* workers still running the current job */
    _Atomic int sleeping;    /* workers asleep (or about to be) on go */
    _Atomic bool waiting;    /* the caller asleep (or about to be) on done */
    _Atomic bool quit;
    threads_fn fn;           /* written before gen is bumped, read after it is seen */
    void *arg;
};

struct worker_arg {
    struct thread_pool *p;
    int ith;
};

static uint64_t threads_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits until p->gen differs from seen (or quit); returns the new generation. */
static uint64_t threads_wait_gen(struct thread_pool *p, uint64_t seen)
{
    uint64_t t0 = 0;
    for (unsigned spins = 1;; spins++) {
        uint64_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g != seen || atomic_load(&p->quit))
            return g;
        threads_relax();
        if (spins % 256)
            continue;
        uint64_t t = threads_now_ns();
        if (!t0) {
            t0 = t;
            continue;
        }
        if (t - t0 < THREADS_SPIN_NS)
            continue;
        /* sleep; the runner bumps gen before it reads `sleeping` (both sequentially
         * consistent), so either it sees us here and signals, or we see its new gen */
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->sleeping, 1);
        while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit))
            pthread_cond_wait(&p->go, &p->mu);
        atomic_fetch_sub(&p->sleeping, 1);
        pthread_mutex_unlock(&p->mu);
        t0 = 0;
    }
}

static void *threads_worker(void *v)
{
    struct worker_arg wa = *(struct worker_arg *)v;
    free(v);
    struct thread_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        seen = threads_wait_gen(p, seen);
        if (atomic_load(&p->quit))
            return NULL;
        p->fn(p->arg, wa.ith, p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->waiting)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
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
    atomic_init(&p->waiting, false);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleeping, 0);
    atomic_init(&p->quit, false);
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

void threads_run(struct thread_pool *p, threads_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes fn/arg/pending, orders the read below */
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
    }

    fn(arg, 0, p->n);

    /* spin while the workers finish; when one takes long (descheduled on a busy machine,
     * or simply a lopsided job) sleep so that the core goes to it */
    uint64_t t0 = 0;
    for (unsigned spins = 1; atomic_load_explicit(&p->pending, memory_order_acquire) > 0;
         spins++) {
        threads_relax();
        if (spins % 256)
            continue;
        uint64_t t = threads_now_ns();
        if (!t0) {
            t0 = t;
            continue;
        }
        if (t - t0 < THREADS_WAIT_NS)
            continue;
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->waiting, true); /* seq_cst against the workers' decrement */
        while (atomic_load(&p->pending) > 0)
            pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->waiting, false);
        pthread_mutex_unlock(&p->mu);
        break;
    }
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
