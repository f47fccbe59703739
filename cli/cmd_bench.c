/* cli/cmd_bench.c: `moescope bench`: prefill and decode speed, TTFT, inter-token
 * percentiles, where decode time goes, and decode speed against this machine's own
 * memory-bandwidth floor, all measured in one run.
 *
 * Method, per thread count: the read bandwidth over 1 GiB of random data (engine/sys/membw.c);
 * then R repeats of: rewind the context, prefill P prompt tokens in one batch, then decode
 * N tokens greedily, one at a time. Times are wall-clock around the engine calls (a decode
 * step = feed the last token + sample the next one), with the trace on, as the app runs;
 * the trace's cost comes from further repeats whose decode steps alternate between the
 * trace on and off on the same engine (bench_trace_cost); the model is mapped once. The floor is bandwidth / the bytes one
 * decode step must read (info's active bytes): no engine can decode faster than reading
 * its active weights once per token. RSS is the peak from the engine's opening on (the
 * bandwidth buffer's peak is reset first, through /proc/self/clear_refs). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "bench_memlimit.h"
#include "bench_parallel.h"
#include "bench_remote.h"
#include "clock.h"
#include "commands.h"
#include "model_store.h"
#include "proc_mem.h"
#include "engine.h"
#include "membw.h"
#include "text_escape.h"
#include "trace.h"
#include "trace_stats.h"

enum { BENCH_MAX_THREADS = 16, BENCH_MAX_REPEATS = 100 };

struct bench_opts {
    const char *model;
    int threads[BENCH_MAX_THREADS]; /* thread counts to run, in order */
    int n_threads;
    int n_prompt, n_gen, repeats, ctx;
    size_t bw_bytes;
    bool json, prewarm, mlock;
};

/* A decode step slower than this times the median is counted as slow (issue 13's jitter
 * bound: p99/p50 <= 1.3) and its cause looked up in its trace record. */
#define BENCH_SLOW 1.3

/* One thread count's figures. */
struct bench_result {
    int threads;
    double pp_tps, pp_sd, tg_tps, tg_sd;
    double ttft_ms, startup_ms;
    double itl_p50, itl_p95, itl_p99, jitter;
    /* decode steps over BENCH_SLOW x p50, and of them those during which an engine thread
     * was preempted (another task had its core) or pages were faulted in */
    int n_steps, n_slow, slow_preempted, slow_faulted;
    struct trace_split split;
    struct membw_result bw;
    double floor_tps, floor_ratio, trace_overhead;
    uint64_t active_bytes, file_size, kv_bytes;
    long rss_kb, hwm_kb;
};

static void mean_sd(const double *v, int n, double *mean, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mean = n ? s / n : 0;
    for (int i = 0; i < n; i++)
        q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reads the whole file once, so that start-up is measured with it in the page cache (the
 * target's condition) even when the machine has evicted it since it was written. */
static void bench_cache_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    static char buf[1 << 20];
    while (fread(buf, 1, sizeof buf, f) == sizeof buf)
        ;
    fclose(f);
}

/* A prompt of exactly n tokens: ordinary English, repeated as needed, so the router sees
 * the kind of text it would in use. */
static int bench_prompt(struct engine *e, int n, int32_t *out, char *err, size_t errlen)
{
    static const char text[] =
        "The committee met on a grey morning to weigh the harbour plan once more. Some "
        "argued that the old sea wall would hold for another decade; others had seen the "
        "cracks along its northern arm and wanted the money spent at once. ";
    int got = 0;
    int32_t *tmp = malloc(sizeof(int32_t) * 4096);
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (got < n) {
        int k = engine_tokenize(e, text, sizeof text - 1, got == 0, false, tmp, 4096, err,
                                errlen);
        if (k <= 0) {
            free(tmp);
            if (k == 0)
                snprintf(err, errlen, "the model's tokenizer gave no tokens for the prompt");
            return -1;
        }
        for (int i = 0; i < k && got < n; i++)
            out[got++] = tmp[i];
    }
    free(tmp);
    return 0;
}

/* Rewinds the context and queues the prompt's records in log. */
static int bench_rewind(struct engine *e, struct trace_log *log, const int32_t *prompt,
                        const struct bench_opts *o, char *err, size_t errlen)
{
    engine_rewind(e, 0);
    trace_log_clear(log);
    char piece[256];
    for (int i = 0; i < o->n_prompt; i++) {
        size_t len = engine_token_piece(e, prompt[i], piece, sizeof piece);
        if (trace_log_push(log, prompt[i], piece, len < sizeof piece ? len : 0, true) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Counts the decode steps over BENCH_SLOW x their median and what their records say about
 * them (cause: bit 1 an engine thread was preempted, bit 2 pages were faulted in). */
static void bench_slow_steps(const double *itl, const uint8_t *cause, size_t n,
                             struct bench_result *r)
{
    double *sorted = malloc(sizeof(double) * n);
    r->n_steps = (int)n;
    r->n_slow = r->slow_preempted = r->slow_faulted = 0;
    if (!sorted || n == 0) {
        free(sorted);
        return;
    }
    memcpy(sorted, itl, sizeof(double) * n);
    qsort(sorted, n, sizeof *sorted, cmp_double);
    const double limit = BENCH_SLOW * trace_percentile(sorted, n, 50);
    free(sorted);
    for (size_t i = 0; i < n; i++) {
        if (itl[i] <= limit)
            continue;
        r->n_slow++;
        r->slow_preempted += (cause[i] & 1) != 0;
        r->slow_faulted += (cause[i] & 2) != 0;
    }
}

/* One repeat: prefill, then decode. Fills the prefill rate, TTFT and the decode steps'
 * wall times (itl, n_gen - 1 of them) and returns the decode rate, or -1. */
static int bench_once(struct engine *e, struct trace_log *log, const int32_t *prompt,
                      const struct bench_opts *o, double *pp_tps, double *ttft_ms,
                      double *itl, double *tg_tps, char *err, size_t errlen)
{
    if (bench_rewind(e, log, prompt, o, err, errlen) != 0)
        return -1;
    double t0 = 1e3 * clock_now_s();
    if (engine_eval(e, log, err, errlen) != 0)
        return -1;
    double t1 = 1e3 * clock_now_s();
    if (engine_sample(e, log, err, errlen) < 0)
        return -1;
    double t2 = 1e3 * clock_now_s();
    *pp_tps = o->n_prompt / ((t1 - t0) / 1e3);
    *ttft_ms = t2 - t0;
    double prev = t2, sum = 0;
    for (int i = 1; i < o->n_gen; i++) {
        if (engine_eval(e, log, err, errlen) != 0 || engine_sample(e, log, err, errlen) < 0)
            return -1;
        double t = 1e3 * clock_now_s();
        itl[i - 1] = t - prev;
        sum += t - prev;
        prev = t;
    }
    *tg_tps = o->n_gen > 1 ? (o->n_gen - 1) / (sum / 1e3) : 0;
    return 0;
}

/* The trace's cost: R repeats of prefill then decode where the steps alternate between the
 * trace on and off (which goes first alternates too), so both halves see the same machine
 * from one 10 ms step to the next; separate runs with and without the trace differed by
 * +-6% on this host's drifting bandwidth, far more than the trace costs. Returns the
 * median on-step over the median off-step, minus 1, in *overhead; 0, or -1. */
static int bench_trace_cost(struct engine *e, struct trace_log *log, const int32_t *prompt,
                            const struct bench_opts *o, double *overhead, char *err,
                            size_t errlen)
{
    *overhead = 0;
    const int steps = o->n_gen - 1;
    if (steps < 2)
        return 0;
    double *on = malloc(sizeof(double) * (size_t)(steps * o->repeats));
    double *off = malloc(sizeof(double) * (size_t)(steps * o->repeats));
    size_t n_on = 0, n_off = 0;
    int rc = -1;
    if (!on || !off) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int rep = 0; rep < o->repeats; rep++) {
        engine_set_trace(e, true);
        if (bench_rewind(e, log, prompt, o, err, errlen) != 0)
            goto out;
        if (engine_eval(e, log, err, errlen) != 0 || engine_sample(e, log, err, errlen) < 0)
            goto out;
        for (int i = 0; i < steps; i++) {
            const bool tr = (i + rep) % 2 == 0;
            engine_set_trace(e, tr);
            const double t0 = 1e3 * clock_now_s();
            if (engine_eval(e, log, err, errlen) != 0 || engine_sample(e, log, err, errlen) < 0)
                goto out;
            const double dt = 1e3 * clock_now_s() - t0;
            if (tr)
                on[n_on++] = dt;
            else
                off[n_off++] = dt;
        }
    }
    qsort(on, n_on, sizeof *on, cmp_double);
    qsort(off, n_off, sizeof *off, cmp_double);
    const double off_p50 = trace_percentile(off, n_off, 50);
    *overhead = off_p50 > 0 ? trace_percentile(on, n_on, 50) / off_p50 - 1 : 0;
    rc = 0;
out:
    engine_set_trace(e, true);
    free(on);
    free(off);
    return rc;
}

static struct engine *bench_open(const struct bench_opts *o, int threads, bool trace,
                                 char *err, size_t errlen)
{
    struct engine_params p;
    engine_params_default(&p);
    p.model_path = o->model;
    p.n_threads = threads;
    p.n_ctx = o->ctx;
    p.trace = trace;
    p.prewarm = o->prewarm;
    p.mlock = o->mlock;
    p.sampler.temp = 0; /* greedy: every repeat does the same work */
    return engine_open(&p, err, errlen);
}

static int bench_threads(const struct bench_opts *o, int threads, struct bench_result *r,
                         char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->threads = threads;
    /* The best of 10 passes: this machine's bandwidth swings between runs (2 threads,
     * 1 GiB: 34 to 55 GB/s within a minute), and the floor is what the memory can give,
     * so a pass slowed by a neighbour must not lower it. 10 GiB read: about 0.3 s. */
    if (membw_measure(o->bw_bytes, threads, 10, &r->bw, err, errlen) != 0)
        return -1;
    proc_mem_reset_peak();

    /* Start-up: from opening the model to the first token of a 16-token prompt, with the
     * file in the page cache. */
    bench_cache_file(o->model);
    {
        struct trace_log log16 = { 0 };
        double t_open = 1e3 * clock_now_s();
        struct engine *first = bench_open(o, threads, true, err, errlen);
        if (!first)
            return -1;
        const struct model_desc *d16 = engine_desc(first);
        int32_t p16[16];
        struct bench_opts o16 = *o;
        o16.n_prompt = 16;
        o16.n_gen = 1;
        double pp16, ttft16, tg16, itl16;
        snprintf(err, errlen, "out of memory");
        int ok = trace_log_init(&log16, d16->n_layers, d16->n_experts, d16->n_experts_used) == 0 &&
                 bench_prompt(first, 16, p16, err, errlen) == 0 &&
                 bench_once(first, &log16, p16, &o16, &pp16, &ttft16, &itl16, &tg16, err,
                            errlen) == 0;
        r->startup_ms = 1e3 * clock_now_s() - t_open;
        engine_close(first);
        trace_log_free(&log16);
        if (!ok)
            return -1;
    }

    struct engine *e = bench_open(o, threads, true, err, errlen);
    if (!e)
        return -1;
    const struct model_desc *d = engine_desc(e);
    int n_ctx = engine_n_ctx(e);
    int rc = -1;
    struct trace_log log = { 0 };
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)(o->n_prompt > 16 ? o->n_prompt : 16));
    size_t n_itl = (size_t)o->repeats * (size_t)(o->n_gen > 1 ? o->n_gen - 1 : 1);
    double *itl = malloc(sizeof(double) * n_itl);
    uint8_t *cause = calloc(n_itl, 1); /* per step: 1 preempted, 2 faulted */
    double pp[BENCH_MAX_REPEATS], tg[BENCH_MAX_REPEATS], ttft[BENCH_MAX_REPEATS];
    if (!prompt || !itl || !cause ||
        trace_log_init(&log, d->n_layers, d->n_experts, d->n_experts_used) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (o->n_prompt + o->n_gen > n_ctx) {
        snprintf(err, errlen, "%d prompt + %d generated tokens do not fit the context of %d",
                 o->n_prompt, o->n_gen, n_ctx);
        goto out;
    }

    if (bench_prompt(e, o->n_prompt, prompt, err, errlen) != 0)
        goto out;
    /* A warm-up repeat: first touches of pages are start-up, not speed. */
    double w0, w1, w2;
    if (bench_once(e, &log, prompt, o, &w0, &w1, itl, &w2, err, errlen) != 0)
        goto out;
    struct trace_split total = { 0 };
    for (int rep = 0; rep < o->repeats; rep++) {
        double *slot = itl + (size_t)rep * (size_t)(o->n_gen > 1 ? o->n_gen - 1 : 1);
        if (bench_once(e, &log, prompt, o, &pp[rep], &ttft[rep], slot, &tg[rep], err,
                       errlen) != 0)
            goto out;
        /* decode step k fed record n_prompt + k - 1 (the token sampled before it) */
        uint8_t *c = cause + (slot - itl);
        for (int k = 1; k < o->n_gen && (size_t)(o->n_prompt + k - 1) < log.n; k++) {
            const struct trace_token *t = &log.tok[o->n_prompt + k - 1];
            c[k - 1] = (uint8_t)((t->preempted ? 1 : 0) |
                                 (t->faults_minor || t->faults_major ? 2 : 0));
        }
        struct trace_split s;
        trace_time_split(&log, 0, log.n, TRACE_SEL_GEN, &s);
        total.n_tokens += s.n_tokens;
        total.ns_total += s.ns_total;
        for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
            total.ns[ph] += s.ns[ph];
    }
    for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++) {
        total.share[ph] = total.ns_total ? (double)total.ns[ph] / (double)total.ns_total : 0;
        total.ms_per_token[ph] = total.n_tokens ? total.ns[ph] / 1e6 / total.n_tokens : 0;
    }
    total.total_ms_per_token = total.n_tokens ? total.ns_total / 1e6 / total.n_tokens : 0;
    r->split = total;

    double sd;
    mean_sd(pp, o->repeats, &r->pp_tps, &r->pp_sd);
    mean_sd(tg, o->repeats, &r->tg_tps, &r->tg_sd);
    mean_sd(ttft, o->repeats, &r->ttft_ms, &sd);
    if (o->n_gen > 1) {
        bench_slow_steps(itl, cause, n_itl, r);
        qsort(itl, n_itl, sizeof *itl, cmp_double);
        r->itl_p50 = trace_percentile(itl, n_itl, 50);
        r->itl_p95 = trace_percentile(itl, n_itl, 95);
        r->itl_p99 = trace_percentile(itl, n_itl, 99);
        double m;
        mean_sd(itl, (int)n_itl, &m, &r->jitter);
    }
    r->active_bytes = d->active_bytes;
    r->file_size = d->file_size;
    /* The cache as the engine keeps it: the model's KV bytes per token (F16 K and V, or the
     * latent and RoPE key of latent attention), and for an absorbed latent cache the
     * transposed copy of its latent part that P.V reads. */
    uint64_t kv_per_token = d->kv_bytes_per_token;
    if (d->kv_lora_rank && d->kv_bytes_per_token != d->kv_bytes_per_token_plain)
        kv_per_token += 2u * (uint64_t)d->kv_lora_rank * (uint64_t)d->n_layers;
    r->kv_bytes = (uint64_t)n_ctx * kv_per_token;
    r->floor_tps = d->active_bytes ? r->bw.gbps * 1e9 / (double)d->active_bytes : 0;
    r->floor_ratio = r->floor_tps > 0 ? r->tg_tps / r->floor_tps : 0;
    /* The trace's cost: how much longer the median decode step takes with it on. */
    if (bench_trace_cost(e, &log, prompt, o, &r->trace_overhead, err, errlen) != 0)
        goto out;
    proc_mem_rss(&r->rss_kb, &r->hwm_kb);
    rc = 0;
out:
    free(prompt);
    free(itl);
    free(cause);
    trace_log_free(&log);
    engine_close(e);
    return rc;
}

static void bench_print_json(const struct bench_result *r)
{
    printf("{\"threads\":%d,\"pp_tps\":%.2f,\"pp_tps_sd\":%.2f,\"tg_tps\":%.2f,"
           "\"tg_tps_sd\":%.2f,\"ttft_ms\":%.3f,\"startup_ms\":%.1f,\"itl_p50_ms\":%.3f,"
           "\"itl_p95_ms\":%.3f,\"itl_p99_ms\":%.3f,\"jitter_ms\":%.3f,"
           "\"bandwidth_gbps\":%.2f,\"active_bytes\":%llu,\"floor_tps\":%.2f,"
           "\"floor_ratio\":%.4f,\"split\":{",
           r->threads, r->pp_tps, r->pp_sd, r->tg_tps, r->tg_sd, r->ttft_ms, r->startup_ms,
           r->itl_p50, r->itl_p95, r->itl_p99, r->jitter, r->bw.gbps,
           (unsigned long long)r->active_bytes, r->floor_tps, r->floor_ratio);
    for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
        printf("%s\"%s\":%.4f", ph ? "," : "", trace_phase_names[ph], r->split.share[ph]);
    printf("},\"trace_overhead\":%.4f,\"rss_mib\":%.1f,\"rss_budget_mib\":%.1f,"
           "\"slow_steps\":{\"over_p50\":%.1f,\"steps\":%d,\"slow\":%d,\"preempted\":%d,"
           "\"faulted\":%d}}\n",
           r->trace_overhead, r->hwm_kb / 1024.0,
           (double)(r->file_size + r->kv_bytes) / 1048576.0 + 64, BENCH_SLOW, r->n_steps,
           r->n_slow, r->slow_preempted, r->slow_faulted);
}

static void bench_print_header(const struct bench_opts *o, const struct model_desc *d)
{
    char name[4 * sizeof d->name + 8]; /* the file's words: shown, never obeyed */
    text_escape_line(d->name, strlen(d->name), name, sizeof name);
    printf("model   %s (%s, %s)\n", name, d->arch, o->model);
    printf("shape   %d layers, d_model %d, %d of %d experts, %.1f MB file, %.1f MB read per "
           "token\n", d->n_layers, d->d_model, d->n_experts_used, d->n_experts,
           d->file_size / 1e6, d->active_bytes / 1e6);
    printf("run     prefill %d tokens, decode %d tokens, %d repeats (mean ± sd)\n\n",
           o->n_prompt, o->n_gen, o->repeats);
    printf("%3s %13s %13s %8s %7s %7s %7s %7s %7s %7s %6s %7s %7s\n", "thr", "pp tok/s",
           "tg tok/s", "TTFT ms", "p50 ms", "p95 ms", "p99 ms", "jit ms", "GB/s", "floor",
           "x floor", "trace", "start");
}

static void bench_print_row(const struct bench_result *r)
{
    char pp[32], tg[32];
    snprintf(pp, sizeof pp, "%.1f±%.1f", r->pp_tps, r->pp_sd);
    snprintf(tg, sizeof tg, "%.1f±%.1f", r->tg_tps, r->tg_sd);
    printf("%3d %13s %13s %8.1f %7.2f %7.2f %7.2f %7.2f %7.1f %7.1f %6.3f %+6.1f%% %5.0fms\n",
           r->threads, pp, tg, r->ttft_ms, r->itl_p50, r->itl_p95, r->itl_p99, r->jitter,
           r->bw.gbps, r->floor_tps, r->floor_ratio, r->trace_overhead * 100, r->startup_ms);
}

static void bench_print_details(const struct bench_result *r)
{
    printf("    %d threads: decode time split", r->threads);
    for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
        printf(" %s %.1f%% (%.3f ms)", trace_phase_names[ph], r->split.share[ph] * 100,
               r->split.ms_per_token[ph]);
    printf("\n    decode steps over %.1f x p50: %d of %d; of them %d with an engine thread "
           "preempted, %d with page faults\n",
           BENCH_SLOW, r->n_slow, r->n_steps, r->slow_preempted, r->slow_faulted);
    printf("    peak RSS %.1f MiB (budget: file %.1f + KV %.1f + 64 MiB = %.1f MiB)\n",
           r->hwm_kb / 1024.0, r->file_size / 1048576.0, r->kv_bytes / 1048576.0,
           (double)(r->file_size + r->kv_bytes) / 1048576.0 + 64);
}

static int bench_usage(void)
{
    fprintf(stderr, "usage: moescope bench [-m MODEL] [-t N[,N...]] [-p 64] [-n 64] [-r 5] "
                    "[-c CTX] [--prewarm] [--mlock] [--json]\n"
                    "       moescope bench [-m MODEL] --parallel N[,N...] [--requests N] "
                    "[--arrival all|poisson:RATE] [-t N] [-p 16] [-n 64] [--json]\n"
                    "       moescope bench [-m MODEL] --mem-limit MB [-t N] [-p 64] [-n 64] "
                    "[--json]\n"
                    "       moescope bench -m URL --parallel N[,N...] [--requests N] [-n 64] "
                    "[--json]\n%s", backend_args_usage);
    return 2;
}

/* A usage error that names what was wrong, then the usage line. */
static int bench_bad(const char *opt, const char *value, const char *want)
{
    if (value)
        fprintf(stderr, "moescope bench: bad value for %s: '%s' (%s)\n", opt, value, want);
    else
        fprintf(stderr, "moescope bench: %s %s\n", opt, want);
    return bench_usage();
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* The options that take a whole number: where it goes and its range. */
struct bench_int_opt {
    const char *name;
    int lo, hi;
    const char *want;
};
static const struct bench_int_opt bench_int_opts[] = {
    { "-p", 1, 1 << 16, "prompt tokens, 1 to 65536" },
    { "-n", 1, 1 << 16, "generated tokens, 1 to 65536" },
    { "-r", 1, BENCH_MAX_REPEATS, "repeats, 1 to 100" }, /* = BENCH_MAX_REPEATS */
    { "-c", 0, 1 << 24, "a context size, 0 for the model's, up to 16777216" },
};

int cmd_bench(int argc, char **argv)
{
    struct bench_opts o = { .model = NULL, .n_prompt = 0, .n_gen = 64, .repeats = 5,
                            .ctx = 0, .bw_bytes = (size_t)1 << 30 };
    int *int_dest[] = { &o.n_prompt, &o.n_gen, &o.repeats, &o.ctx };
    struct bench_remote_opts ro = { .n_gen = 64 };
    double rate = 0;
    int mem_limit_mb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char why[256];
        int took = backend_args_take(&ro.args, argc, argv, &i, why, sizeof why);
        if (took < 0) {
            fprintf(stderr, "moescope bench: %s\n", why);
            return bench_usage();
        }
        if (took) {
            o.model = ro.args.model;
            continue;
        }
        if (!strcmp(a, "--json")) {
            o.json = true;
            continue;
        }
        if (!strcmp(a, "--prewarm") || !strcmp(a, "--mlock")) {
            *(a[2] == 'p' ? &o.prewarm : &o.mlock) = true;
            continue;
        }
        size_t k = 0;
        while (k < sizeof bench_int_opts / sizeof bench_int_opts[0] &&
               strcmp(a, bench_int_opts[k].name))
            k++;
        bool known = k < sizeof bench_int_opts / sizeof bench_int_opts[0] ||
                     !strcmp(a, "-t") || !strcmp(a, "--parallel") || !strcmp(a, "--requests") ||
                     !strcmp(a, "--arrival") || !strcmp(a, "--mem-limit");
        if (!known)
            return bench_bad(a, NULL, "is not an option of bench");
        if (!v)
            return bench_bad(a, NULL, "needs a value");
        i++;
        if (!strcmp(a, "--parallel")) {
            char buf[128];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                if (ro.n_levels == BENCH_MAX_LEVELS ||
                    parse_int(tok, 1, 1024, &ro.levels[ro.n_levels]) != 0)
                    return bench_bad(a, v, "up to 16 concurrency levels from 1 to 1024");
                ro.n_levels++;
            }
        } else if (!strcmp(a, "--mem-limit")) {
            if (parse_int(v, 1, 1 << 24, &mem_limit_mb))
                return bench_bad(a, v, "megabytes, 1 to 16777216");
        } else if (!strcmp(a, "--arrival")) {
            if (bench_parse_arrival(v, &rate) != 0)
                return bench_bad(a, v, "'all' or 'poisson:RATE', RATE requests per second");
        } else if (!strcmp(a, "--requests")) {
            if (parse_int(v, 1, 1 << 20, &ro.n_requests))
                return bench_bad(a, v, "requests per level, 1 to 1048576");
        } else if (!strcmp(a, "-t")) {
            char buf[128];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                if (o.n_threads == BENCH_MAX_THREADS)
                    return bench_bad(a, v, "too many thread counts");
                if (parse_int(tok, 1, 256, &o.threads[o.n_threads]) != 0)
                    return bench_bad(a, tok, "thread counts from 1 to 256, comma-separated");
                o.n_threads++;
            }
            if (o.n_threads == 0)
                return bench_bad(a, v, "thread counts from 1 to 256, comma-separated");
        } else {
            const struct bench_int_opt *io = &bench_int_opts[k];
            if (parse_int(v, io->lo, io->hi, int_dest[k]) != 0)
                return bench_bad(a, v, io->want);
        }
    }
    if (mem_limit_mb && (ro.n_levels || backend_is_url(o.model))) {
        fprintf(stderr, "moescope bench: --mem-limit runs alone, on a model file\n");
        return 2;
    }
    if (backend_is_url(o.model)) {
        if (rate > 0) {
            fprintf(stderr, "moescope bench: --arrival is for the in-process engine (a "
                    "server's requests go L at a time)\n");
            return 2;
        }
        if (ro.n_levels == 0)
            ro.levels[ro.n_levels++] = 1;
        ro.n_gen = o.n_gen;
        ro.json = o.json;
        ro.prompt = "The history of the world, told in brief: in the beginning there was";
        return bench_remote(&ro);
    }
    if (rate > 0 && !ro.n_levels) {
        fprintf(stderr, "moescope bench: --arrival goes with --parallel\n");
        return 2;
    }
    if (!o.n_prompt) /* --parallel: short prompts, so that decode is what is measured */
        o.n_prompt = ro.n_levels ? 16 : 64;
    static char model_path[4096];
    char err[1024];
    if (!o.model) {
        o.model = default_model_path();
    } else if (model_resolve(o.model, model_path, sizeof model_path, err, sizeof err) == 0) {
        o.model = model_path;
    } else {
        fprintf(stderr, "moescope bench: %s\n", err);
        return 1;
    }
    if (o.n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads[o.n_threads++] = n > 0 ? (int)n : 1;
    }
    if ((o.json || ro.n_levels || mem_limit_mb) && o.n_threads != 1) {
        fprintf(stderr, "moescope bench: %s takes one thread count\n",
                ro.n_levels ? "--parallel" : mem_limit_mb ? "--mem-limit" : "--json");
        return 2;
    }
    if (mem_limit_mb) {
        const struct bench_memlimit_opts mo = { .model = o.model, .n_threads = o.threads[0],
                                                .n_prompt = o.n_prompt, .n_gen = o.n_gen,
                                                .ctx = o.ctx, .json = o.json,
                                                .limit = (uint64_t)mem_limit_mb * 1000000 };
        return bench_memlimit(&mo);
    }
    if (ro.n_levels) {
        struct bench_parallel_opts po = { .model = o.model, .n_threads = o.threads[0],
                                          .n_levels = ro.n_levels,
                                          .n_requests = ro.n_requests, .n_prompt = o.n_prompt,
                                          .n_gen = o.n_gen, .ctx = o.ctx, .rate = rate,
                                          .json = o.json, .prewarm = o.prewarm,
                                          .mlock = o.mlock };
        memcpy(po.levels, ro.levels, sizeof po.levels);
        return bench_parallel(&po);
    }

    struct model_desc d;
    if (model_describe(o.model, &d, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (!o.json)
        bench_print_header(&o, &d);
    struct bench_result res[BENCH_MAX_THREADS];
    for (int i = 0; i < o.n_threads; i++) {
        if (bench_threads(&o, o.threads[i], &res[i], err, sizeof err) != 0) {
            fprintf(stderr, "moescope bench: %s\n", err);
            return 1;
        }
        if (o.json)
            bench_print_json(&res[i]);
        else {
            bench_print_row(&res[i]);
            fflush(stdout);
        }
    }
    if (!o.json) {
        printf("\n");
        for (int i = 0; i < o.n_threads; i++)
            bench_print_details(&res[i]);
        printf("    GB/s = read bandwidth, best of 10 passes over 1 GiB of random data\n"
               "    floor = read bandwidth / bytes read per token; x floor = decode / floor;\n"
               "    trace = extra median decode step with the trace on (steps alternating on and off);\n"
               "    start = open to first token of a 16-token prompt\n");
    }
    return 0;
}
