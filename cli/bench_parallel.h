/* cli/bench_parallel.h: `bench [-m MODEL] --parallel LEVELS`: the in-process engine under
 * concurrency (engine_batch), with the MoE batching tax (bench_parallel.c). */
#ifndef MOESCOPE_BENCH_PARALLEL_H
#define MOESCOPE_BENCH_PARALLEL_H

#include <stdbool.h>

#include "bench_levels.h"
#include "engine.h"

struct bench_parallel_opts {
    const char *model;
    int n_threads;
    int levels[BENCH_MAX_LEVELS];
    int n_levels;
    int n_requests;            /* per level; 0: max(8, 2 x level) */
    int n_prompt, n_gen;       /* tokens per request */
    int ctx;                   /* 0: what a request needs */
    double rate;               /* Poisson arrivals per second; 0: all at once */
    bool json, prewarm, mlock;
};

/* Parses --arrival's value: "all" (rate 0) or "poisson:RATE" (requests per second, > 0).
 * Returns 0, or -1 when it is neither. */
int bench_parse_arrival(const char *s, double *rate);

/* Request i's prompt: n records pushed into log, the tokens of one of a few English texts
 * (chosen by i), repeated. Returns 0, or -1 with err set. */
int bench_prompt_records(struct engine *e, int i, int n, struct trace_log *log, char *err,
                         size_t errlen);
/* The parameters of a bench engine: the trace on, the context ctx or (0) need + 1. */
void bench_engine_params(struct engine_params *p, const char *model, int n_threads, int ctx,
                         int need);
/* The engine the levels run on (trace on, a context a request fits in), or NULL with err. */
struct engine *bench_parallel_open(const struct bench_parallel_opts *o, char *err,
                                   size_t errlen);
/* One level on e (above). Returns 0, or -1 with err set. */
int bench_parallel_level(struct engine *e, const struct bench_parallel_opts *o, int level,
                         struct bench_level *r, char *err, size_t errlen);
/* Runs, prints the table (or --json). Returns the exit status. */
int bench_parallel(const struct bench_parallel_opts *o);

#endif
