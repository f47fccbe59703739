/* cli/bench_levels.h: `bench --parallel`'s table and JSON, one row per concurrency level,
 * shared by the server bench (bench_remote.c) and the in-process engine's (bench_parallel.c)
 * so that the two print alike. Percentiles are nearest-rank (trace_stats.h). */
#ifndef MOESCOPE_BENCH_LEVELS_H
#define MOESCOPE_BENCH_LEVELS_H

#include <stdbool.h>
#include <stddef.h>

#include "trace.h"

enum { BENCH_MAX_LEVELS = 16 };

struct bench_level {
    int level, requests, errors;
    size_t tokens, n_itl, n_ttft;
    /* tg_tps: the aggregate decode rate, tokens sampled in batched decode steps over those
     * steps' time (the engine; a server's decode is not seen apart from its prompts, so
     * there it is wall_tps); wall_tps: every generated token over the level's wall time,
     * the joining prompts' prefill and the queue's waits included */
    double wall_s, tg_tps, wall_tps;
    double ttft_p50, ttft_p99, itl_p50, itl_p95, itl_p99;
    /* the in-process engine only (has_experts): mean distinct experts per MoE layer per
     * batched step, and mean bytes of weights read per batched step and per token */
    bool has_experts;
    double experts_per_step, bytes_per_step, bytes_per_token;
    /* the in-process engine only (has_split): the mean batched decode step in ms by phase
     * (trace.h's), then its samples and records (the per-sequence part after the pass) */
    bool has_split;
    double step_ms[TRACE_PHASE_COUNT + 1];
    char first_error[1024];
};

/* Fills r's percentiles from the samples (sorted here; none: the figure stays 0 and the
 * table prints a dash). */
void bench_level_percentiles(struct bench_level *r, double *ttft, size_t n_ttft, double *itl,
                             size_t n_itl);
/* The table's head (text) or the opening of the "parallel" array (json: the caller has
 * printed the object's other members, each followed by a comma). experts: the expert
 * columns. errors: the errors column (a server's requests can fail). */
void bench_levels_head(bool json, bool experts, bool errors);
/* Row i (0-based: json puts a comma before every row but the first). */
void bench_levels_row(const struct bench_level *r, int i, bool json, bool errors);
/* Closes the array and the object (json), or prints the table's notes. */
void bench_levels_foot(bool json, bool experts);

#endif
