/* cli/bench_memlimit.c: `moescope bench [-m MODEL] --mem-limit MB`: decode when the model
 * does not fit in memory, measured, not simulated.
 *
 * The limit is emulated in the engine (engine_params.mem_limit, engine/mem_limit.h): the
 * non-expert weights stay in memory, and the least recently used experts beyond the limit
 * are dropped from the map and the page cache after each pass, so a step that routes to
 * one reads it back from storage (real major faults, real reads). A memory cgroup would
 * leave the choice to the kernel's page LRU; it is not used (a cgroup needs rights this
 * tool should not ask for). Three runs, each a fresh engine: prefill P tokens, then N
 * greedy tokens (end-of-generation does not stop them), trace on:
 *  - no limit: the model read in first (--prewarm), the speed with every expert in memory;
 *  - the limit, cold start: every expert dropped at open, so first uses read storage too;
 *  - the limit with --prewarm: every expert read in at open, then the limit applies.
 * Per run: TTFT (the prefill), decode tok/s and inter-token p50/p99 (eval + sample of each
 * step), major page faults per decoded token (the trace's getrusage counts) and the MB of
 * experts read back from storage per decoded token. Note: the runs drop the model's pages
 * from the page cache, so other programs reading the file read storage afterwards. */
#include "bench_memlimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_parallel.h"
#include "clock.h"
#include "engine.h"
#include "trace_stats.h"

struct ml_row {
    const char *name;
    double ttft_ms, tg_tps, itl_p50, itl_p99, major_per_tok, storage_mb_per_tok;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int ml_run(const struct bench_memlimit_opts *o, uint64_t limit, bool prewarm,
                  struct ml_row *r, char *err, size_t errlen)
{
    struct engine_params p;
    bench_engine_params(&p, o->model, o->n_threads, o->ctx, o->n_prompt + o->n_gen);
    p.prewarm = prewarm;
    p.mem_limit = limit;
    p.sampler.temp = 0;
    struct engine *e = engine_open(&p, err, errlen);
    if (!e)
        return -1;
    const struct model_desc *d = engine_desc(e);
    struct trace_log log;
    double *step = malloc((size_t)o->n_gen * sizeof *step);
    int rc = -1;
    if (!step || trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used) != 0) {
        snprintf(err, errlen, "out of memory");
        free(step);
        engine_close(e);
        return -1;
    }
    if (bench_prompt_records(e, 0, o->n_prompt, &log, err, errlen) != 0)
        goto out;
    uint64_t t0 = clock_now_ns();
    if (engine_eval(e, &log, err, errlen) != 0 || engine_sample(e, &log, err, errlen) < 0)
        goto out;
    r->ttft_ms = (double)(clock_now_ns() - t0) / 1e6;
    uint64_t reload0, evicted;
    engine_mem_limit_counts(e, &reload0, &evicted);
    const size_t first = log.n - 1; /* the first decoded record */
    double sum = 0;
    for (int i = 0; i < o->n_gen; i++) {
        uint64_t s0 = clock_now_ns();
        if (engine_eval(e, &log, err, errlen) != 0 || engine_sample(e, &log, err, errlen) < 0)
            goto out;
        step[i] = (double)(clock_now_ns() - s0) / 1e6;
        sum += step[i];
    }
    uint64_t reload1, major = 0;
    engine_mem_limit_counts(e, &reload1, &evicted);
    for (size_t i = first; i < log.n; i++)
        major += log.tok[i].faults_major;
    r->tg_tps = sum > 0 ? o->n_gen / (sum / 1e3) : 0;
    r->major_per_tok = (double)major / o->n_gen;
    r->storage_mb_per_tok = (double)(reload1 - reload0) / 1e6 / o->n_gen;
    qsort(step, (size_t)o->n_gen, sizeof *step, cmp_double);
    r->itl_p50 = trace_percentile(step, (size_t)o->n_gen, 50);
    r->itl_p99 = trace_percentile(step, (size_t)o->n_gen, 99);
    rc = 0;
out:
    free(step);
    trace_log_free(&log);
    engine_close(e);
    return rc;
}

int bench_memlimit(const struct bench_memlimit_opts *o)
{
    char err[1024];
    struct model_desc d;
    if (model_describe(o->model, &d, err, sizeof err) != 0) {
        fprintf(stderr, "moescope bench: %s\n", err);
        return 1;
    }
    if (!d.n_experts) {
        fprintf(stderr, "moescope bench: %s: --mem-limit drops experts, and this model has "
                "none\n", o->model);
        return 1;
    }
    const uint64_t experts = (uint64_t)d.n_experts * d.expert_bytes *
                             (uint64_t)(d.n_layers - d.n_dense_lead);
    const uint64_t rest = d.file_size > experts ? d.file_size - experts : 0;
    struct ml_row rows[3] = { { .name = "no limit (prewarmed)" },
                              { .name = "limit, cold start" },
                              { .name = "limit, --prewarm" } };
    const uint64_t limits[3] = { 0, o->limit, o->limit };
    const bool prewarm[3] = { true, false, true };
    if (!o->json) {
        printf("model   %s (%s), %d threads, prefill %d, decode %d greedy\n", o->model, d.arch,
               o->n_threads, o->n_prompt, o->n_gen);
        printf("limit   %.1f MB for a %.1f MB file: %.1f MB of non-expert weights always in, "
               "%.1f of %.1f MB of experts fit\n", o->limit / 1e6, d.file_size / 1e6,
               rest / 1e6, (o->limit > rest ? o->limit - rest : 0) / 1e6, experts / 1e6);
        printf("        (emulated: least recently used experts dropped from the map and the "
               "page cache after each pass)\n\n");
        printf("%-22s %9s %9s %9s %9s %10s %12s\n", "", "TTFT ms", "tg tok/s", "ITL p50",
               "p99", "major/tok", "storage MB/tok");
    }
    for (int i = 0; i < 3; i++) {
        if (ml_run(o, limits[i], prewarm[i], &rows[i], err, sizeof err) != 0) {
            fprintf(stderr, "moescope bench: %s\n", err);
            return 1;
        }
        if (!o->json)
            printf("%-22s %9.1f %9.1f %8.2fms %8.2fms %10.1f %12.2f\n", rows[i].name,
                   rows[i].ttft_ms, rows[i].tg_tps, rows[i].itl_p50, rows[i].itl_p99,
                   rows[i].major_per_tok, rows[i].storage_mb_per_tok);
        fflush(stdout);
    }
    if (o->json) {
        printf("{\"mem_limit_bytes\":%llu,\"file_bytes\":%llu,\"expert_bytes\":%llu,\"rows\":[",
               (unsigned long long)o->limit, (unsigned long long)d.file_size,
               (unsigned long long)experts);
        static const char *const keys[3] = { "none", "cold", "prewarm" };
        for (int i = 0; i < 3; i++)
            printf("%s{\"condition\":\"%s\",\"ttft_ms\":%.3f,\"tg_tps\":%.2f,"
                   "\"itl_p50_ms\":%.3f,\"itl_p99_ms\":%.3f,\"major_faults_per_token\":%.2f,"
                   "\"storage_mb_per_token\":%.4f}", i ? "," : "", keys[i], rows[i].ttft_ms,
                   rows[i].tg_tps, rows[i].itl_p50, rows[i].itl_p99, rows[i].major_per_tok,
                   rows[i].storage_mb_per_tok);
        printf("]}\n");
    }
    return 0;
}
