/* cli/bench_levels.c: the concurrency table and its JSON (bench_levels.h). */
#include "bench_levels.h"

#include <stdio.h>
#include <stdlib.h>

#include "trace_stats.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_level_percentiles(struct bench_level *r, double *ttft, size_t n_ttft, double *itl,
                             size_t n_itl)
{
    qsort(ttft, n_ttft, sizeof *ttft, cmp_double);
    qsort(itl, n_itl, sizeof *itl, cmp_double);
    r->ttft_p50 = trace_percentile(ttft, n_ttft, 50);
    r->ttft_p99 = trace_percentile(ttft, n_ttft, 99);
    r->itl_p50 = trace_percentile(itl, n_itl, 50);
    r->itl_p95 = trace_percentile(itl, n_itl, 95);
    r->itl_p99 = trace_percentile(itl, n_itl, 99);
    r->n_itl = n_itl;
    r->n_ttft = n_ttft;
}

void bench_levels_head(bool json, bool experts, bool errors)
{
    if (json) {
        printf("\"parallel\":[");
        return;
    }
    printf("%5s %8s", "level", "requests");
    if (errors)
        printf(" %6s", "errors");
    printf(" %10s %10s %10s %10s %8s %8s %8s", "tg tok/s", "e2e tok/s", "TTFT p50", "TTFT p99",
           "ITL p50", "p95", "p99");
    if (experts)
        printf(" %9s %9s %8s", "experts", "MB/step", "MB/tok");
    printf("\n");
}

void bench_levels_row(const struct bench_level *r, int i, bool json, bool errors)
{
    if (json) {
        printf("%s{\"level\":%d,\"requests\":%d,\"tg_tps\":%.2f,\"wall_tps\":%.2f,"
               "\"itl_p50_ms\":%.3f,\"itl_p95_ms\":%.3f,\"itl_p99_ms\":%.3f,"
               "\"ttft_p50_ms\":%.3f,\"ttft_p99_ms\":%.3f", i ? "," : "", r->level,
               r->requests, r->tg_tps, r->wall_tps, r->itl_p50, r->itl_p95, r->itl_p99,
               r->ttft_p50, r->ttft_p99);
        if (errors)
            printf(",\"errors\":%d", r->errors);
        if (r->has_experts)
            printf(",\"experts_per_step\":%.3f,\"bytes_per_step\":%.0f", r->experts_per_step,
                   r->bytes_per_step);
        if (r->has_split) {
            printf(",\"decode_step_ms\":{");
            for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
                printf("\"%s\":%.3f,", trace_phase_names[ph], r->step_ms[ph]);
            printf("\"samples\":%.3f}", r->step_ms[TRACE_PHASE_COUNT]);
        }
        printf("}");
        return;
    }
    char t50[16] = "-", t99[16] = "-", i50[16] = "-", i95[16] = "-", i99[16] = "-";
    if (r->n_ttft) { /* no sample: a dash, never a zero */
        snprintf(t50, sizeof t50, "%.1fms", r->ttft_p50);
        snprintf(t99, sizeof t99, "%.1fms", r->ttft_p99);
    }
    if (r->n_itl) {
        snprintf(i50, sizeof i50, "%.2fms", r->itl_p50);
        snprintf(i95, sizeof i95, "%.2fms", r->itl_p95);
        snprintf(i99, sizeof i99, "%.2fms", r->itl_p99);
    }
    printf("%5d %8d", r->level, r->requests);
    if (errors)
        printf(" %6d", r->errors);
    printf(" %10.1f %10.1f %10s %10s %8s %8s %8s", r->tg_tps, r->wall_tps, t50, t99, i50, i95,
           i99);
    if (r->has_experts)
        printf(" %9.2f %9.1f %8.1f", r->experts_per_step, r->bytes_per_step / 1e6,
               r->bytes_per_token / 1e6);
    printf("\n");
}

void bench_levels_foot(bool json, bool experts)
{
    if (json) {
        printf("]}\n");
        return;
    }
    if (experts)
        printf("\n    tg tok/s = aggregate decode: tokens sampled in batched decode steps / "
               "those steps' time\n"
               "      (the joining prompts' prefill left out, as llama-batched-bench's S_TG);\n"
               "    e2e tok/s = generated tokens of all requests / the level's wall time "
               "(prompts included);\n"
               "    ITL = time between a sequence's tokens (one batched step), pooled;\n"
               "    experts = distinct experts per MoE layer per batched step (mean);\n"
               "    MB/step = weights read per batched step, MB/tok = that over its tokens\n");
    else
        printf("\n    tg tok/s = e2e tok/s = generated tokens of all requests / the level's "
               "wall time\n"
               "      (a server's decode is not seen apart from its prompts);\n"
               "    ITL = inter-chunk time per token of every stream, pooled\n");
}
