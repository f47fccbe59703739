/* engine/threads.c: the pool (see threads.h). */
#include "threads.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

struct thread_pool {
    int n;                   /* threads in all, the caller included */
    pthread_t *tid;          /* (n - 1) workers */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    uint64_t gen;            /* bumped for every run; workers wait for a change */
    int pending;             /* workers still running the current job */
    bool quit;
    threads_fn fn;
    void *arg;
};

struct worker_arg {
    struct thread_pool *p;
    int ith;
};

static void *threads_worker(void *v)
{
    struct worker_arg wa = *(struct worker_arg *)v;
    free(v);
    struct thread_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        threads_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);

        fn(arg, wa.ith, p->n);

        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
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
    p->quit = true;
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
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);

    fn(arg, 0, p->n);

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
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
