/* cli/bench_remote.h: `bench -m URL --parallel LEVELS` (bench_remote.c). */
#ifndef MOESCOPE_BENCH_REMOTE_H
#define MOESCOPE_BENCH_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

enum { BENCH_REMOTE_MAX_LEVELS = 16 };

struct bench_remote_opts {
    struct backend_args args;
    int levels[BENCH_REMOTE_MAX_LEVELS];
    int n_levels;
    int n_requests;            /* per level; 0: max(8, 2 x level) */
    int n_gen;                 /* tokens per request */
    const char *prompt;
    bool json;
};

struct bench_remote_level {
    int level, requests, errors;
    size_t tokens, n_itl, n_ttft;
    double wall_s, tg_tps;
    double ttft_p50, ttft_p99, itl_p50, itl_p95, itl_p99;
    char first_error[1024];
};

/* Runs every level and prints the table (or --json). Returns the exit status. */
int bench_remote(const struct bench_remote_opts *o);

#endif
