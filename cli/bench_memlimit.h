/* cli/bench_memlimit.h: `bench [-m MODEL] --mem-limit MB` (bench_memlimit.c). */
#ifndef MOESCOPE_BENCH_MEMLIMIT_H
#define MOESCOPE_BENCH_MEMLIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct bench_memlimit_opts {
    const char *model;
    int n_threads, n_prompt, n_gen, ctx;
    uint64_t limit;            /* bytes */
    bool json;
};

/* Runs the three conditions, prints the table (or --json). Returns the exit status. */
int bench_memlimit(const struct bench_memlimit_opts *o);

#endif
