/* tools/session_bench.c: how fast a large session loads, and how big it is on disk.
 *
 *   session_bench [TOKENS [LAYERS [EXPERTS [K]]]]   default 10000 48 64 8
 *   session_bench --sample FILE                      writes a small sample session
 *   session_bench --write FILE [TOKENS ...]          also saves the large session to FILE
 *
 * Builds a hand-made session of that shape (tests/session_build.h: one turn of TOKENS
 * records, layer 0 dense), serialises it, then times session_load_buffer over the JSON
 * (best of 3) and prints the bytes per (token, layer). For `make bench`; the sample is what
 * tools/check_html.sh exports and screenshots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/session_build.h"
#include "clock.h"
#include "session.h"

/* CPU seconds of this process (the wall clock is clock_now_s). */
static double bench_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    char err[1024];
    if (argc == 3 && !strcmp(argv[1], "--sample")) {
        struct build_spec sp = { 8, 16, 2, 32000, 3, 24, 80, 4 };
        struct session s;
        if (build_session(&s, &sp) != 0 || session_save(&s, argv[2], true, err, sizeof err)) {
            fprintf(stderr, "session_bench: %s\n", err);
            return 1;
        }
        session_free(&s);
        return 0;
    }
    struct build_spec sp = { 48, 64, 8, 150000, 1, 0, 10000, 1 };
    const char *write_to = NULL;
    if (argc >= 3 && !strcmp(argv[1], "--write")) {
        write_to = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc > 1)
        sp.gen_len = (size_t)strtoul(argv[1], NULL, 10);
    if (argc > 2)
        sp.n_layers = atoi(argv[2]);
    if (argc > 3)
        sp.n_experts = atoi(argv[3]);
    if (argc > 4)
        sp.k = atoi(argv[4]);
    if (sp.gen_len < 2 || sp.n_layers < 1 || sp.k < 1 || sp.k > TRACE_MAX_K ||
        sp.n_experts < sp.k || sp.n_experts > 65536) {
        fprintf(stderr, "usage: session_bench [TOKENS [LAYERS [EXPERTS [K]]]]\n");
        return 2;
    }
    struct session s;
    double t0 = clock_now_s();
    if (build_session(&s, &sp) != 0) {
        fprintf(stderr, "session_bench: out of memory building the session\n");
        return 1;
    }
    char *json;
    size_t len;
    double t1 = clock_now_s();
    if (session_to_json(&s, &json, &len, err, sizeof err) != 0) {
        fprintf(stderr, "session_bench: %s\n", err);
        return 1;
    }
    double t2 = clock_now_s(), best = 1e30, best_cpu = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        struct session t;
        double a = clock_now_s(), ac = bench_cpu_s();
        if (session_load_buffer(&t, json, len, "bench.json", err, sizeof err) != 0) {
            fprintf(stderr, "session_bench: %s\n", err);
            return 1;
        }
        double b = clock_now_s(), bc = bench_cpu_s();
        if (b - a < best)
            best = b - a;
        if (bc - ac < best_cpu)
            best_cpu = bc - ac;
        session_free(&t);
    }
    size_t pairs = s.log.n * (size_t)sp.n_layers;
    printf("session: %zu tokens x %d layers, %d experts, k = %d\n", s.log.n, sp.n_layers,
           sp.n_experts, sp.k);
    printf("  file      %zu bytes, %.1f bytes per (token, layer)\n", len,
           (double)len / (double)pairs);
    printf("  build     %.0f ms, serialise %.0f ms\n", (t1 - t0) * 1e3, (t2 - t1) * 1e3);
    printf("  load      %.0f ms wall, %.0f ms CPU (best of 3, from memory)\n", best * 1e3,
           best_cpu * 1e3);
    if (write_to) {
        double a = clock_now_s();
        if (session_save(&s, write_to, true, err, sizeof err) != 0) {
            fprintf(stderr, "session_bench: %s\n", err);
            return 1;
        }
        struct session t;
        double b = clock_now_s();
        if (session_load(&t, write_to, err, sizeof err) != 0) {
            fprintf(stderr, "session_bench: %s\n", err);
            return 1;
        }
        double c = clock_now_s();
        session_free(&t);
        printf("  file      saved in %.0f ms (fsync included), loaded from disk in %.0f ms\n",
               (b - a) * 1e3, (c - b) * 1e3);
    }
    free(json);
    session_free(&s);
    return 0;
}
