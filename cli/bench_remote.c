/* cli/bench_remote.c: `moescope bench -m URL --parallel 1,4,16 [--requests N]`: latency of an
 * OpenAI-compatible server under concurrency, measured at the client from the stream.
 *
 * Per level L: N streaming requests (default max(8, 2 L)), L at a time: L threads, each with
 * its own connection (backend), take the next request until N have been sent. Every request
 * is the same raw prompt (/v1/completions), greedy, n tokens. Per level:
 *  - TTFT p50/p99 over the requests (request sent -> first content byte);
 *  - inter-token p50/p95/p99 over every stream's inter-chunk times per token (a stream's
 *    records, as `run` measures them);
 *  - aggregate decode tokens/s = generated tokens of all requests / the level's wall time;
 *  - errors: requests that failed or were cut (the first one's message is printed).
 * Percentiles are nearest-rank (trace_stats.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "bench_remote.h"
#include "trace_stats.h"

struct level_run {
    const struct bench_remote_opts *o;
    int level;
    int n_requests;            /* this level's */
    atomic_int next;           /* the next request to send */
    pthread_mutex_t mu;        /* guards everything below */
    double *ttft;              /* (n_requests) */
    size_t n_ttft;
    double *itl;               /* (itl_cap) */
    size_t n_itl, itl_cap;
    size_t n_tokens;
    int errors;
    char first_error[1024];
};

static double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void level_record(struct level_run *lr, const struct trace_log *log,
                         const struct backend_result *res, bool ok)
{
    pthread_mutex_lock(&lr->mu);
    if (!ok) {
        if (!lr->errors)
            snprintf(lr->first_error, sizeof lr->first_error, "%s", res->msg);
        lr->errors++;
    }
    if (res->n_gen > 0) /* a first token arrived, even on a request cut later */
        lr->ttft[lr->n_ttft++] = res->ttft_ms;
    for (size_t i = res->first; i < log->n; i++) {
        const struct trace_token *t = &log->tok[i];
        if (t->prompt)
            continue;
        lr->n_tokens++;
        if (!t->fed)
            continue;
        if (lr->n_itl == lr->itl_cap) {
            size_t cap = lr->itl_cap ? lr->itl_cap * 2 : 1024;
            double *v = realloc(lr->itl, cap * sizeof *v);
            if (!v)
                break;
            lr->itl = v;
            lr->itl_cap = cap;
        }
        lr->itl[lr->n_itl++] = (double)t->ns_total / 1e6;
    }
    pthread_mutex_unlock(&lr->mu);
}

static void *level_thread(void *arg)
{
    struct level_run *lr = arg;
    const struct bench_remote_opts *o = lr->o;
    struct backend_params bp = { .args = o->args };
    char err[1024];
    struct backend *b = backend_open(&bp, err, sizeof err);
    struct backend_result res;
    if (!b) {
        memset(&res, 0, sizeof res);
        snprintf(res.msg, sizeof res.msg, "%s", err);
    }
    struct trace_log log;
    bool have_log = b && backend_log_init(b, &log) == 0;
    while (atomic_fetch_add(&lr->next, 1) < lr->n_requests) {
        if (!have_log) {
            struct trace_log empty = { 0 };
            level_record(lr, &empty, &res, false);
            continue;
        }
        trace_log_clear(&log);
        struct backend_request rq = { .text = o->prompt, .len = strlen(o->prompt),
                                      .n_predict = o->n_gen };
        sampler_params_default(&rq.sp);
        rq.sp.temp = 0;
        rq.sp.seed = 1;
        int rc = backend_generate(b, &rq, &log, &res);
        bool ok = rc == 0 && (res.stop == BACKEND_STOP_EOG || res.stop == BACKEND_STOP_LENGTH);
        if (rc == 0 && !ok && !res.msg[0])
            snprintf(res.msg, sizeof res.msg, "a request ended: %s", backend_stop_names[res.stop]);
        level_record(lr, &log, &res, ok);
    }
    if (have_log)
        trace_log_free(&log);
    backend_close(b);
    return NULL;
}

static int level_measure(const struct bench_remote_opts *o, int level,
                         struct bench_level *out)
{
    struct level_run lr = { .o = o, .level = level };
    lr.n_requests = o->n_requests ? o->n_requests : 2 * level > 8 ? 2 * level : 8;
    atomic_init(&lr.next, 0);
    pthread_mutex_init(&lr.mu, NULL);
    lr.ttft = calloc((size_t)lr.n_requests, sizeof *lr.ttft);
    pthread_t *th = calloc((size_t)level, sizeof *th);
    if (!lr.ttft || !th) {
        free(lr.ttft);
        free(th);
        return -1;
    }
    double t0 = bench_now_s();
    int started = 0;
    for (int i = 0; i < level; i++)
        if (pthread_create(&th[i], NULL, level_thread, &lr) == 0)
            started++;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double wall = bench_now_s() - t0;
    memset(out, 0, sizeof *out);
    out->level = level;
    out->requests = lr.n_requests;
    out->errors = lr.errors;
    out->tokens = lr.n_tokens;
    out->wall_s = wall;
    out->tg_tps = wall > 0 ? (double)lr.n_tokens / wall : 0;
    out->wall_tps = out->tg_tps;
    bench_level_percentiles(out, lr.ttft, lr.n_ttft, lr.itl, lr.n_itl);
    snprintf(out->first_error, sizeof out->first_error, "%s", lr.first_error);
    free(lr.ttft);
    free(lr.itl);
    free(th);
    pthread_mutex_destroy(&lr.mu);
    return 0;
}

int bench_remote(const struct bench_remote_opts *o)
{
    struct backend_params bp = { .args = o->args };
    char err[1024];
    struct backend *b = backend_open(&bp, err, sizeof err); /* fail early, name the server */
    if (!b) {
        fprintf(stderr, "moescope bench: %s\n", err);
        return 1;
    }
    const struct backend_info *in = backend_info(b);
    if (!o->json) {
        printf("server  %s (%s), model %s\n", in->url, in->family, in->served_model);
        printf("run     prompt of %zu bytes, %d tokens per request, greedy; streamed; "
               "times measured at the client\n\n", strlen(o->prompt), o->n_gen);
    } else {
        printf("{\"url\":\"%s\",\"family\":\"%s\",\"n_gen\":%d,", in->url, in->family,
               o->n_gen);
    }
    bench_levels_head(o->json, false, true);
    backend_close(b);
    int status = 0;
    for (int i = 0; i < o->n_levels; i++) {
        struct bench_level r;
        if (level_measure(o, o->levels[i], &r) != 0) {
            fprintf(stderr, "moescope bench: out of memory\n");
            return 1;
        }
        if (r.errors) {
            fprintf(stderr, "moescope bench: level %d: %d of %d requests failed; the first: %s\n",
                    r.level, r.errors, r.requests, r.first_error);
            status = 1;
        }
        bench_levels_row(&r, i, o->json, true);
        fflush(stdout);
    }
    bench_levels_foot(o->json, false);
    return status;
}
