/* cli/bench_remote.h: `bench -m URL --parallel LEVELS` (bench_remote.c). */
#ifndef MOESCOPE_BENCH_REMOTE_H
#define MOESCOPE_BENCH_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "bench_levels.h"

struct bench_remote_opts {
    struct backend_args args;
    int levels[BENCH_MAX_LEVELS];
    int n_levels;
    int n_requests;            /* per level; 0: max(8, 2 x level) */
    int n_gen;                 /* tokens per request */
    const char *prompt;
    bool json;
};

/* Runs every level and prints the table (or --json). Returns the exit status. */
int bench_remote(const struct bench_remote_opts *o);

#endif
