/* tests/test_trace_stats.c: aggregates over a hand-built log, answers worked out by hand
 * in the comments. */
#include "test.h"

#include <stdlib.h>

#include "trace_stats.h"

enum { MS = 1000000 };

/* 3 prompt records (3, 3, 4 ms), then generated ones taking 5, 7, 6, 20, 8 ms and a last
 * one never fed. Layer 1 routes every fed record (top-1, second):
 *   rec:   0     1     2     3     4     5     6     7
 *        (0,1) (0,2) (1,0) (1,3) (1,0) (2,1) (2,0) (0,3)
 * Layer 0 routes only records 2 (3,0), 5 (3,0), 6 (3,1), 7 (1,3); the rest are dense there.
 * Record 8 carries routing but was not fed: it must be ignored.
 * Entropy: ln(4)/4 at layer 1 everywhere except record 5 (ln 2); ln 4 at layer 0 of
 * record 5, 0 at its other routed records. */
static void build_log(struct trace_log *tl)
{
    trace_log_init(tl, 2, 4, 2);
    static const int ms[9] = { 3, 3, 4, 5, 7, 6, 20, 8, 0 };
    static const int l1[9][2] = { { 0, 1 }, { 0, 2 }, { 1, 0 }, { 1, 3 }, { 1, 0 },
                                  { 2, 1 }, { 2, 0 }, { 0, 3 }, { 3, 3 } };
    for (int i = 0; i < 9; i++) {
        trace_log_push(tl, 100 + i, "x", 1, i < 3);
        struct trace_token *t = &tl->tok[i];
        struct trace_layer *ly = trace_layers(tl, (size_t)i);
        t->fed = i < 8;
        t->sampled = i >= 3;
        t->ns_total = (uint64_t)ms[i] * MS;
        if (t->fed) {
            /* prompt: attn 1 ms, router 0.1 ms, other 0, experts the rest;
             * generated: attn 1 ms, router 0.2 ms, other 0.3 ms, experts the rest */
            t->ns[TRACE_ATTN] = MS;
            t->ns[TRACE_ROUTER] = t->prompt ? MS / 10 : MS / 5;
            t->ns[TRACE_OTHER] = t->prompt ? 0 : 3 * MS / 10;
            t->ns[TRACE_EXPERTS] = t->ns_total - t->ns[TRACE_ATTN] - t->ns[TRACE_ROUTER] -
                                   t->ns[TRACE_OTHER];
        }
        ly[1].n = 2;
        ly[1].experts[0] = (uint16_t)l1[i][0];
        ly[1].experts[1] = (uint16_t)l1[i][1];
        ly[1].entropy = (float)(log(4.0) / 4);
    }
    static const int l0_rec[4] = { 2, 5, 6, 7 };
    static const int l0[4][2] = { { 3, 0 }, { 3, 0 }, { 3, 1 }, { 1, 3 } };
    for (int j = 0; j < 4; j++) {
        struct trace_layer *ly = &trace_layers(tl, (size_t)l0_rec[j])[0];
        ly->n = 2;
        ly->experts[0] = (uint16_t)l0[j][0];
        ly->experts[1] = (uint16_t)l0[j][1];
    }
    trace_layers(tl, 5)[0].entropy = (float)log(4.0);
    trace_layers(tl, 5)[1].entropy = (float)log(2.0);
}

TEST(stats_percentile_nearest_rank)
{
    double a[4] = { 1, 2, 3, 4 };
    CHECK_NEAR(trace_percentile(a, 4, 50), 2, 0);   /* rank ceil(2) = 2 */
    CHECK_NEAR(trace_percentile(a, 4, 51), 3, 0);   /* rank ceil(2.04) = 3 */
    CHECK_NEAR(trace_percentile(a, 4, 100), 4, 0);
    CHECK_NEAR(trace_percentile(a, 4, 1), 1, 0);    /* rank at least 1 */
    double b[20];
    for (int i = 0; i < 20; i++)
        b[i] = i + 1;
    CHECK_NEAR(trace_percentile(b, 20, 95), 19, 0); /* rank 19 */
    CHECK_NEAR(trace_percentile(b, 20, 99), 20, 0); /* rank ceil(19.8) = 20 */
    CHECK_NEAR(trace_percentile(b, 20, 50), 10, 0);
    CHECK_NEAR(trace_percentile(b, 0, 50), 0, 0);
}

TEST(stats_speed)
{
    struct trace_log tl;
    build_log(&tl);
    struct trace_speed s;
    CHECK_INT_EQ(trace_speed(&tl, 0, tl.n, &s), 0);
    CHECK_INT_EQ(s.n_prompt, 3);
    CHECK_INT_EQ(s.n_gen, 6);
    CHECK_INT_EQ(s.n_prompt_fed, 3);
    CHECK_INT_EQ(s.n_itl, 5);
    CHECK_NEAR(s.prompt_ms, 10, 1e-9);                 /* 3 + 3 + 4 */
    CHECK_NEAR(s.ttft_ms, 10, 1e-9);
    CHECK_NEAR(s.prompt_tps, 300, 1e-9);                /* 3 tokens / 10 ms */
    CHECK_NEAR(s.decode_tps, 5.0 / 0.046, 1e-9);        /* 5 passes / 46 ms */
    /* ITL sorted: 5 6 7 8 20. p50 rank 3 = 7; p95 rank ceil(4.75) = 5 = 20; p99 = 20 */
    CHECK_NEAR(s.itl_p50_ms, 7, 1e-9);
    CHECK_NEAR(s.itl_p95_ms, 20, 1e-9);
    CHECK_NEAR(s.itl_p99_ms, 20, 1e-9);
    CHECK_NEAR(s.itl_mean_ms, 9.2, 1e-9);
    /* squared deviations 17.64 + 4.84 + 10.24 + 116.64 + 1.44 = 150.8, / 5 = 30.16 */
    CHECK_NEAR(s.jitter_ms, sqrt(30.16), 1e-9);

    /* A range of generated records only: no prompt, no TTFT. */
    CHECK_INT_EQ(trace_speed(&tl, 5, 100, &s), 0);
    CHECK_INT_EQ(s.n_prompt, 0);
    CHECK_NEAR(s.ttft_ms, 0, 0);
    CHECK_INT_EQ(s.n_itl, 3);                           /* 6, 20, 8 */
    CHECK_NEAR(s.itl_p50_ms, 8, 1e-9);
    CHECK_INT_EQ(trace_speed(&tl, 9, 9, &s), 0);
    CHECK_INT_EQ(s.n_gen, 0);
    trace_log_free(&tl);
}

/* A remote engine's own times (ns_server) beside the client's: the server TTFT is the fed
 * prompt records' sum, the server decode the ITL samples' sum and nearest-rank p95; an
 * unfed record's and a record without one (0) count for nothing. */
TEST(stats_speed_server_times)
{
    struct trace_log tl;
    build_log(&tl); /* prompt 3 fed (3, 3, 4 ms), generated fed ITL 5 6 7 8 20 ms, 1 unfed */
    static const double server_ms[9] = { 1, 1, 2, 4, 5, 6, 0, 7, 9 };
    for (int i = 0; i < 9; i++)
        tl.tok[i].ns_server = (uint64_t)(server_ms[i] * MS);
    struct trace_speed s;
    CHECK_INT_EQ(trace_speed(&tl, 0, tl.n, &s), 0);
    CHECK_INT_EQ(s.n_server, 7);                        /* fed with a time: 3 + 4 (not 0, 9) */
    CHECK_NEAR(s.server_ttft_ms, 4, 1e-9);              /* 1 + 1 + 2 */
    CHECK_NEAR(s.server_decode_ms, 22, 1e-9);           /* 4 + 5 + 6 + 0 + 7 */
    CHECK_NEAR(s.server_itl_p95_ms, 7, 1e-9);           /* sorted 0 4 5 6 7: rank 5 */
    /* a log with no server times: all zero, so the views say nothing of a server */
    for (int i = 0; i < 9; i++)
        tl.tok[i].ns_server = 0;
    CHECK_INT_EQ(trace_speed(&tl, 0, tl.n, &s), 0);
    CHECK_INT_EQ(s.n_server, 0);
    CHECK_NEAR(s.server_ttft_ms + s.server_decode_ms + s.server_itl_p95_ms, 0, 0);
    trace_log_free(&tl);
}

static int tts_double_cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* trace_speed's percentiles (found without sorting) against trace_percentile over the
 * sorted samples, for logs of 1 to 400 generated records whose times repeat a lot (whole
 * microseconds from a few values) or not at all, in random and in sorted order. */
TEST(stats_speed_percentiles_equal_sorted_ranks)
{
    uint64_t seed = 12345;
    int bad = 0;
    for (int n = 1; n <= 400; n += n < 20 ? 1 : 37) {
        for (int kind = 0; kind < 3; kind++) {
            struct trace_log tl;
            trace_log_init(&tl, 1, 2, 1);
            double *want = malloc(sizeof(double) * (size_t)n);
            for (int i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                const uint64_t us = kind == 0   ? 1000 + (seed >> 61) * 250 /* 8 values */
                                    : kind == 1 ? 1000 + (seed >> 40) % 100000
                                                : 1000 + (uint64_t)i * 10; /* ascending */
                trace_log_push(&tl, 1, "x", 1, false);
                tl.tok[i].fed = true;
                tl.tok[i].ns_total = us * 1000;
                want[i] = (double)tl.tok[i].ns_total / 1e6;
            }
            qsort(want, (size_t)n, sizeof *want, tts_double_cmp);
            struct trace_speed s;
            CHECK_INT_EQ(trace_speed(&tl, 0, tl.n, &s), 0);
            const double got[3] = { s.itl_p50_ms, s.itl_p95_ms, s.itl_p99_ms };
            const double p[3] = { 50, 95, 99 };
            for (int q = 0; q < 3; q++)
                if (got[q] != trace_percentile(want, (size_t)n, p[q]) && bad++ < 3)
                    CHECK_MSG(false, "n %d kind %d p%g: %.6f, sorted rank gives %.6f", n, kind,
                              p[q], got[q], trace_percentile(want, (size_t)n, p[q]));
            free(want);
            trace_log_free(&tl);
        }
    }
    CHECK_INT_EQ(bad, 0);
}

/* Pushes a fed record of ms milliseconds (written after the push, as the engine does). */
static void tts_push_fed(struct trace_log *tl, bool prompt, int ms)
{
    long i = trace_log_push(tl, 1, "y", 1, prompt);
    if (i < 0)
        return;
    tl->tok[i].fed = true;
    tl->tok[i].ns_total = (uint64_t)ms * MS;
}

/* The cache gives trace_speed's figures, and new ones as soon as the log changes through
 * trace.h (push, truncate, clear, copy) or is touched after a direct write; a second log
 * never gets the first one's figures. */
TEST(stats_speed_cache_follows_the_log)
{
    struct trace_log tl, other;
    build_log(&tl);
    trace_log_touch(&tl); /* build_log wrote the records directly */
    struct trace_speed_cache c = { 0 };
    struct trace_speed want;
    CHECK_INT_EQ(trace_speed_cache_get(&c, &tl), 0);
    CHECK_INT_EQ(trace_speed(&tl, 0, tl.n, &want), 0);
    CHECK_NEAR(c.all.itl_p95_ms, want.itl_p95_ms, 0);
    CHECK_INT_EQ(c.all.n_itl, 5);
    CHECK_INT_EQ(c.turn.n_itl, 5); /* one turn: the whole log */

    trace_log_truncate(&tl, 6);    /* generated 5, 7, 6 ms remain */
    CHECK_INT_EQ(trace_speed_cache_get(&c, &tl), 0);
    CHECK_INT_EQ(c.all.n_itl, 3);
    CHECK_NEAR(c.all.itl_p99_ms, 7, 1e-9);

    tts_push_fed(&tl, false, 50);
    trace_log_touch(&tl);
    CHECK_INT_EQ(trace_speed_cache_get(&c, &tl), 0);
    CHECK_INT_EQ(c.all.n_itl, 4);
    CHECK_NEAR(c.all.itl_p99_ms, 50, 1e-9);

    /* a new turn: its own figures, the whole log's still counted in all */
    tts_push_fed(&tl, true, 2);
    tts_push_fed(&tl, false, 9);
    trace_log_touch(&tl);
    CHECK_INT_EQ(trace_speed_cache_get(&c, &tl), 0);
    CHECK_INT_EQ(c.turn.n_itl, 1);
    CHECK_NEAR(c.turn.ttft_ms, 2, 1e-9);
    CHECK_INT_EQ(c.all.n_itl, 5);

    trace_log_init(&other, 2, 4, 2);
    CHECK_INT_EQ(trace_speed_cache_get(&c, &other), 0);
    CHECK_INT_EQ(c.all.n_itl, 0);
    CHECK(trace_log_copy_from(&other, &tl, 4) >= 0); /* the 7 ms record */
    CHECK_INT_EQ(trace_speed_cache_get(&c, &other), 0);
    CHECK_NEAR(c.all.itl_p50_ms, 7, 1e-9);
    trace_log_clear(&other);
    CHECK_INT_EQ(trace_speed_cache_get(&c, &other), 0);
    CHECK_INT_EQ(c.all.n_itl, 0);
    trace_log_free(&other);
    trace_log_free(&tl);
}

TEST(stats_last_turn)
{
    struct trace_log tl;
    trace_log_init(&tl, 1, 2, 1);
    CHECK_INT_EQ(trace_last_turn(&tl), 0);
    const bool prompt[7] = { true, true, false, false, true, true, false };
    for (int i = 0; i < 7; i++)
        trace_log_push(&tl, i, "", 0, prompt[i]);
    CHECK_INT_EQ(trace_last_turn(&tl), 4);
    trace_log_truncate(&tl, 6);
    CHECK_INT_EQ(trace_last_turn(&tl), 4);
    trace_log_truncate(&tl, 3);
    CHECK_INT_EQ(trace_last_turn(&tl), 0);
    trace_log_free(&tl);
}

TEST(stats_expert_load)
{
    struct trace_log tl;
    build_log(&tl);
    uint32_t load[2 * 4];
    trace_expert_load(&tl, 0, tl.n, load);
    /* layer 0: e0 recs 2,5; e1 recs 6,7; e2 none; e3 recs 2,5,6,7 */
    const uint32_t want0[4] = { 2, 2, 0, 4 };
    /* layer 1: e0 recs 0,1,2,4,6,7; e1 0,2,3,4,5; e2 1,5,6; e3 3,7 (record 8 not fed) */
    const uint32_t want1[4] = { 6, 5, 3, 2 };
    for (int e = 0; e < 4; e++) {
        CHECK_INT_EQ(load[e], want0[e]);
        CHECK_INT_EQ(load[4 + e], want1[e]);
    }
    /* The last 3 records (6, 7, 8): layer 1 gets (2,0) and (0,3). */
    trace_expert_load(&tl, tl.n - 3, tl.n, load);
    const uint32_t want_last[4] = { 2, 0, 1, 1 };
    for (int e = 0; e < 4; e++)
        CHECK_INT_EQ(load[4 + e], want_last[e]);
    trace_log_free(&tl);
}

TEST(stats_balance)
{
    struct trace_log tl;
    build_log(&tl);
    struct trace_balance b;
    /* layer 1: loads 6 5 3 2, mean 4, max 6, variance (4+1+1+4)/4 = 2.5 */
    trace_balance_layer(&tl, 0, tl.n, 1, &b);
    CHECK_INT_EQ(b.n_tokens, 8);
    CHECK_NEAR(b.mean_load, 4, 1e-12);
    CHECK_NEAR(b.max_load, 6, 1e-12);
    CHECK_NEAR(b.avg_max, 4.0 / 6.0, 1e-12);
    CHECK_NEAR(b.cv, sqrt(2.5) / 4, 1e-12);
    CHECK_NEAR(b.maxvio, 0.5, 1e-12);
    /* top-1: 0 0 1 1 1 2 2 0 -> same in pairs 0-1, 2-3, 3-4, 5-6: 4 of 7 */
    CHECK_INT_EQ(b.n_pairs, 7);
    CHECK_NEAR(b.locality, 4.0 / 7.0, 1e-12);

    /* layer 0: loads 2 2 0 4, mean 2, max 4, variance (0+0+4+4)/4 = 2. Records 3 and 4 are
     * dense there, so record 2 pairs with nothing: pairs 5-6 (same), 6-7 (not). */
    trace_balance_layer(&tl, 0, tl.n, 0, &b);
    CHECK_INT_EQ(b.n_tokens, 4);
    CHECK_NEAR(b.avg_max, 0.5, 1e-12);
    CHECK_NEAR(b.cv, sqrt(2.0) / 2, 1e-12);
    CHECK_NEAR(b.maxvio, 1.0, 1e-12);
    CHECK_INT_EQ(b.n_pairs, 2);
    CHECK_NEAR(b.locality, 0.5, 1e-12);

    /* Nothing routed: zeros, not NaN. */
    trace_balance_layer(&tl, 3, 5, 0, &b);
    CHECK_INT_EQ(b.n_tokens, 0);
    CHECK_NEAR(b.cv, 0, 0);
    CHECK_NEAR(b.locality, 0, 0);
    trace_balance_layer(&tl, 0, tl.n, 7, &b); /* no such layer */
    CHECK_INT_EQ(b.n_tokens, 0);
    trace_log_free(&tl);
}

TEST(stats_entropy_normalised)
{
    struct trace_log tl;
    build_log(&tl);
    CHECK_NEAR(trace_entropy_norm(&tl, 5, 0), 1.0, 1e-6);       /* ln 4 / ln 4 */
    CHECK_NEAR(trace_entropy_norm(&tl, 5, 1), 0.5, 1e-6);       /* ln 2 / ln 4 */
    CHECK_NEAR(trace_entropy_norm(&tl, 5, -1), 0.75, 1e-6);     /* mean of the two */
    CHECK_NEAR(trace_entropy_norm(&tl, 3, -1), 0.25, 1e-6);     /* layer 1 only */
    CHECK(isnan(trace_entropy_norm(&tl, 3, 0)));                /* dense there */
    CHECK(isnan(trace_entropy_norm(&tl, 8, -1)));               /* not fed */
    CHECK(isnan(trace_entropy_norm(&tl, 99, -1)));
    trace_log_free(&tl);
}

TEST(stats_time_split)
{
    struct trace_log tl;
    build_log(&tl);
    struct trace_split s;
    /* Generated, fed: 5 records, 46 ms; router 5 x 0.2 = 1 ms; attn 5 ms; other 1.5 ms;
     * experts 46 - 7.5 = 38.5 ms. */
    trace_time_split(&tl, 0, tl.n, TRACE_SEL_GEN, &s);
    CHECK_INT_EQ(s.n_tokens, 5);
    CHECK_INT_EQ(s.ns_total, 46 * MS);
    CHECK_INT_EQ(s.ns[TRACE_ROUTER], MS);
    CHECK_NEAR(s.share[TRACE_ROUTER], 1.0 / 46, 1e-12);
    CHECK_NEAR(s.share[TRACE_ATTN], 5.0 / 46, 1e-12);
    CHECK_NEAR(s.share[TRACE_EXPERTS], 38.5 / 46, 1e-12);
    CHECK_NEAR(s.share[TRACE_OTHER], 1.5 / 46, 1e-12);
    CHECK_NEAR(s.ms_per_token[TRACE_ROUTER], 0.2, 1e-12);
    CHECK_NEAR(s.total_ms_per_token, 9.2, 1e-12);
    char buf[64];
    trace_split_routing_text(&s, buf, sizeof buf);
    CHECK_STR_EQ(buf, "routing: 0.20 ms/token, 2.2%");
    /* Prompt: 3 records, 10 ms, router 0.3 ms. */
    trace_time_split(&tl, 0, tl.n, TRACE_SEL_PROMPT, &s);
    CHECK_INT_EQ(s.n_tokens, 3);
    CHECK_NEAR(s.share[TRACE_ROUTER], 0.3 / 10, 1e-12);
    /* All: 8 records, 56 ms, router 1.3 ms. */
    trace_time_split(&tl, 0, tl.n, TRACE_SEL_ALL, &s);
    CHECK_INT_EQ(s.n_tokens, 8);
    CHECK_NEAR(s.share[TRACE_ROUTER], 1.3 / 56, 1e-12);
    CHECK_NEAR(s.ms_per_token[TRACE_ROUTER], 1.3 / 8, 1e-12);
    trace_time_split(&tl, 8, 9, TRACE_SEL_ALL, &s); /* only the unfed record */
    CHECK_INT_EQ(s.n_tokens, 0);
    CHECK_NEAR(s.share[TRACE_ROUTER], 0, 0);
    trace_log_free(&tl);
}

/* The one-pass balance of every layer equals the per-layer pass, on a random log with dense
 * layers, unfed records and expert ids spread over the range. */
TEST(stats_balance_all_equals_per_layer)
{
    struct trace_log log;
    CHECK_INT_EQ(trace_log_init(&log, 5, 16, 4), 0);
    uint64_t s = 99;
    for (int i = 0; i < 300; i++) {
        long at = trace_log_push(&log, i % 50, "x", 1, i < 20);
        log.tok[at].fed = (i % 37) != 36;
        struct trace_layer *ly = trace_layers(&log, (size_t)at);
        for (int l = 0; l < 5; l++) {
            ly[l].n = l == 2 ? 0 : 4; /* layer 2 is dense */
            for (int k = 0; k < 4; k++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                ly[l].experts[k] = (uint16_t)((s >> 33) % 16);
            }
        }
    }
    struct trace_balance all[5];
    CHECK_INT_EQ(trace_balance_all(&log, 10, 290, all), 0);
    for (int l = 0; l < 5; l++) {
        struct trace_balance one;
        trace_balance_layer(&log, 10, 290, l, &one);
        CHECK_INT_EQ(all[l].n_tokens, one.n_tokens);
        CHECK_INT_EQ(all[l].n_pairs, one.n_pairs);
        CHECK_NEAR(all[l].cv, one.cv, 1e-12);
        CHECK_NEAR(all[l].avg_max, one.avg_max, 1e-12);
        CHECK_NEAR(all[l].maxvio, one.maxvio, 1e-12);
        CHECK_NEAR(all[l].locality, one.locality, 1e-12);
    }
    CHECK_INT_EQ(all[2].n_tokens, 0);
    CHECK(all[0].n_tokens > 200);
    trace_log_free(&log);
}
