/* tests/test_sampler.c: the sampler chain against float64 computations written here. */
#include "test.h"

#include <stdlib.h>

#include "sampler.h"

static uint64_t lcg_state;

static double test_rand01(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg_state >> 11) * 0x1.0p-53;
}

static void fill_logits(float *l, int n, double scale, uint64_t seed)
{
    lcg_state = seed;
    for (int i = 0; i < n; i++)
        l[i] = (float)((test_rand01() * 2 - 1) * scale);
}

static struct sampler_params params(float temp, int top_k, float top_p, float min_p,
                                    uint64_t seed)
{
    struct sampler_params p;
    sampler_params_default(&p);
    p.temp = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = 1.0f;
    p.seed = seed;
    return p;
}

static int argmax_f(const float *l, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b])
            b = i;
    return b;
}

TEST(sampler_greedy_is_argmax)
{
    float l[1000];
    struct sampler_params p = params(0, 40, 0.95f, 0.05f, 1);
    struct sampler *s = sampler_create(&p);
    CHECK(s != NULL);
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fill_logits(l, 1000, 5, seed);
        CHECK_INT_EQ(sampler_sample(s, l, 1000, NULL, 0, NULL), argmax_f(l, 1000));
    }
    /* A tie goes to the lowest id. */
    float tie[4] = { 1, 3, 3, 2 };
    CHECK_INT_EQ(sampler_sample(s, tie, 4, NULL, 0, NULL), 1);
    sampler_free(s);
}

TEST(sampler_top_k_1_is_greedy)
{
    float l[500];
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct sampler_params p = params(1.5f, 1, 1.0f, 0.0f, seed);
        struct sampler *s = sampler_create(&p);
        fill_logits(l, 500, 2, seed * 7);
        for (int r = 0; r < 5; r++)
            CHECK_INT_EQ(sampler_sample(s, l, 500, NULL, 0, NULL), argmax_f(l, 500));
        sampler_free(s);
    }
}

TEST(sampler_same_seed_same_draws)
{
    float l[300];
    fill_logits(l, 300, 1, 99);
    struct sampler_params p = params(1.0f, 0, 1.0f, 0.0f, 1234);
    struct sampler *a = sampler_create(&p), *b = sampler_create(&p);
    p.seed = 1235;
    struct sampler *c = sampler_create(&p);
    int differ = 0;
    int32_t first[200];
    for (int i = 0; i < 200; i++) {
        int32_t x = sampler_sample(a, l, 300, NULL, 0, NULL);
        first[i] = x;
        CHECK_INT_EQ(sampler_sample(b, l, 300, NULL, 0, NULL), x);
        differ += sampler_sample(c, l, 300, NULL, 0, NULL) != x;
    }
    CHECK(differ > 100); /* a flat-ish 300-way distribution: another seed differs mostly */
    CHECK(sampler_seed(a) == 1234);
    /* Setting the params again reseeds: the same sequence from the start. */
    p.seed = 1234;
    sampler_set_params(a, &p);
    for (int i = 0; i < 200; i++)
        CHECK_INT_EQ(sampler_sample(a, l, 300, NULL, 0, NULL), first[i]);
    p.seed = SAMPLER_SEED_RANDOM;
    sampler_set_params(c, &p);
    CHECK(sampler_seed(c) != SAMPLER_SEED_RANDOM);
    sampler_free(a);
    sampler_free(b);
    sampler_free(c);
}

TEST(sampler_low_temperature_tends_to_greedy)
{
    float l[64];
    /* Distinct logits at least 0.05 apart: at T = 1e-3 the runner-up has odds e^-50. */
    for (int i = 0; i < 64; i++)
        l[i] = (float)((i * 37) % 64) * 0.05f;
    int best = argmax_f(l, 64);
    struct sampler_params p = params(1e-3f, 0, 1.0f, 0.0f, 5);
    struct sampler *s = sampler_create(&p);
    for (int i = 0; i < 500; i++)
        CHECK_INT_EQ(sampler_sample(s, l, 64, NULL, 0, NULL), best);
    sampler_free(s);
}

/* The chain in float64, written from its definition: the probabilities a draw should have. */
static void expected_probs(const float *logits, int n, const struct sampler_params *p,
                           double *prob)
{
    int order[64];
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 0; i < n; i++) /* selection sort: best first */
        for (int j = i + 1; j < n; j++)
            if (logits[order[j]] > logits[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    int kept = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    if (p->top_p < 1) {
        double z = 0, cum = 0;
        for (int i = 0; i < kept; i++)
            z += exp(logits[order[i]] - logits[order[0]]);
        for (int i = 0; i < kept; i++) {
            cum += exp(logits[order[i]] - logits[order[0]]) / z;
            if (cum >= p->top_p) {
                kept = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        double z = 0;
        for (int i = 0; i < kept; i++)
            z += exp(logits[order[i]] - logits[order[0]]);
        double pmax = 1 / z;
        int k2 = 0;
        for (int i = 0; i < kept; i++)
            if (exp(logits[order[i]] - logits[order[0]]) / z >= p->min_p * pmax)
                k2 = i + 1;
        kept = k2;
    }
    double z = 0;
    for (int i = 0; i < n; i++)
        prob[i] = 0;
    for (int i = 0; i < kept; i++)
        z += exp((logits[order[i]] - logits[order[0]]) / p->temp);
    for (int i = 0; i < kept; i++)
        prob[order[i]] = exp((logits[order[i]] - logits[order[0]]) / p->temp) / z;
}

/* Draws once per seed over many seeds and compares the counts with expected_probs by a
 * chi-square statistic. Returns the statistic; *df gets the degrees of freedom. */
static double draw_chi2(const float *l, int n, struct sampler_params p, int draws, int *df,
                        int *n_outside)
{
    double prob[64];
    int count[64] = { 0 };
    expected_probs(l, n, &p, prob);
    for (int d = 0; d < draws; d++) {
        p.seed = (uint64_t)d;
        struct sampler *s = sampler_create(&p);
        int32_t t = sampler_sample(s, l, n, NULL, 0, NULL);
        if (t >= 0 && t < n)
            count[t]++;
        sampler_free(s);
    }
    double chi2 = 0;
    *df = -1;
    *n_outside = 0;
    for (int i = 0; i < n; i++) {
        if (prob[i] == 0) {
            *n_outside += count[i];
            continue;
        }
        double e = prob[i] * draws;
        chi2 += (count[i] - e) * (count[i] - e) / e;
        (*df)++;
    }
    return chi2;
}

TEST(sampler_draws_match_filtered_probabilities)
{
    float l[12];
    fill_logits(l, 12, 1.5, 4242);
    /* Chi-square critical values at 99.9% for df 1..11 (tables). The draws are fixed by
     * their seeds, so the test is deterministic; the bound only says the result is sane. */
    static const double crit[12] = { 0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46,
                                     24.32, 26.12, 27.88, 29.59, 31.26 };
    const struct { float temp; int k; float top_p, min_p; } cfg[] = {
        { 1.0f, 0, 1.0f, 0.0f },    /* plain softmax */
        { 0.7f, 5, 1.0f, 0.0f },    /* top-k */
        { 1.0f, 0, 0.8f, 0.0f },    /* top-p */
        { 1.3f, 0, 1.0f, 0.3f },    /* min-p */
        { 0.8f, 8, 0.9f, 0.1f },    /* all of them */
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        struct sampler_params p = params(cfg[c].temp, cfg[c].k, cfg[c].top_p, cfg[c].min_p, 0);
        int df, outside;
        double chi2 = draw_chi2(l, 12, p, 20000, &df, &outside);
        CHECK_MSG(df >= 1 && chi2 < crit[df], "config %zu: chi2 %.2f with df %d", c, chi2, df);
        CHECK_MSG(outside == 0, "config %zu: %d draws of filtered-out tokens", c, outside);
    }
}

TEST(sampler_repetition_penalty_rule)
{
    /* Hand-computed: penalty 2 divides a positive logit, multiplies a non-positive one,
     * once per id however often it repeats, only within the last repeat_last_n tokens. */
    struct sampler_params p = params(0, 0, 1.0f, 0.0f, 1);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 64;
    struct sampler *s = sampler_create(&p);
    float a[4] = { 2.0f, -1.0f, 0.5f, 1.5f };
    int32_t h1[] = { 0 };           /* 2.0 -> 1.0 < 1.5 */
    CHECK_INT_EQ(sampler_sample(s, a, 4, h1, 1, NULL), 3);
    CHECK_INT_EQ(sampler_sample(s, a, 4, NULL, 0, NULL), 0);
    int32_t h2[] = { 0, 3, 99, -4 }; /* 2.0 -> 1.0, 1.5 -> 0.75; bad ids ignored */
    CHECK_INT_EQ(sampler_sample(s, a, 4, h2, 4, NULL), 0);
    float b[2] = { -1.0f, -1.5f };  /* -1.0 -> -2.0 < -1.5 */
    CHECK_INT_EQ(sampler_sample(s, b, 2, h1, 1, NULL), 1);
    /* Window: with repeat_last_n = 1 only the last token (3) is penalised. */
    p.repeat_last_n = 1;
    sampler_set_params(s, &p);
    int32_t h3[] = { 0, 3 };
    CHECK_INT_EQ(sampler_sample(s, a, 4, h3, 2, NULL), 0);
    sampler_free(s);

    /* Once per id: {2.0, 1.2} with history {0,0,0} becomes {1.0, 1.2}, so at T = 1
     * P(0) = 1 / (1 + e^0.2) = 0.45017 (three times would give 0.2789). */
    p = params(1.0f, 0, 1.0f, 0.0f, 7);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = -1;
    s = sampler_create(&p);
    float c[2] = { 2.0f, 1.2f };
    int32_t h4[] = { 0, 0, 0 };
    int zeros = 0, draws = 20000;
    for (int i = 0; i < draws; i++)
        zeros += sampler_sample(s, c, 2, h4, 3, NULL) == 0;
    /* sd of the fraction is 0.0035: 4.3 sd of room */
    CHECK_NEAR((double)zeros / draws, 1.0 / (1.0 + exp(0.2)), 0.015);
    sampler_free(s);
}

TEST(sampler_report_matches_float64_log_softmax)
{
    enum { N = 5000 };
    float *l = malloc(N * sizeof *l);
    fill_logits(l, N, 8, 31337);
    struct sampler_params p = params(0.9f, 40, 0.95f, 0.05f, 3);
    struct sampler *s = sampler_create(&p);
    int32_t hist[] = { 1, 2, 3 };
    struct trace_token rec;
    memset(&rec, 0, sizeof rec);
    rec.pos = 77;
    rec.token = 5;
    int32_t t = sampler_sample(s, l, N, hist, 3, &rec);
    CHECK(t >= 0 && t < N);
    double max = -1e300, sum = 0;
    for (int i = 0; i < N; i++)
        max = fmax(max, l[i]);
    for (int i = 0; i < N; i++)
        sum += exp((double)l[i] - max);
    double lse = max + log(sum);
    CHECK(rec.sampled);
    CHECK_INT_EQ(rec.pos, 77); /* untouched */
    CHECK_INT_EQ(rec.token, 5);
    CHECK_NEAR(rec.logprob, l[t] - lse, 1e-5);
    /* top-5 by a plain float64 scan */
    bool used[N] = { false };
    for (int k = 0; k < TRACE_TOP; k++) {
        int b = -1;
        for (int i = 0; i < N; i++)
            if (!used[i] && (b < 0 || l[i] > l[b]))
                b = i;
        used[b] = true;
        CHECK_INT_EQ(rec.top_id[k], b);
        CHECK_NEAR(rec.top_logprob[k], (double)l[b] - lse, 1e-5);
    }
    /* The report uses the raw logits even when a penalty changes the choice. */
    struct trace_token r2;
    memset(&r2, 0, sizeof r2);
    sampler_report(l, N, 17, &r2);
    CHECK_NEAR(r2.logprob, l[17] - lse, 1e-5);
    CHECK_INT_EQ(r2.top_id[0], rec.top_id[0]);
    /* A vocabulary smaller than TRACE_TOP leaves -1 ids. */
    float small[2] = { 0, 0 };
    sampler_report(small, 2, 1, &r2);
    CHECK_NEAR(r2.logprob, log(0.5), 1e-6);
    CHECK_INT_EQ(r2.top_id[0], 0);
    CHECK_INT_EQ(r2.top_id[1], 1);
    CHECK_INT_EQ(r2.top_id[2], -1);
    sampler_free(s);
    free(l);
}

TEST(sampler_rejects_empty_vocab)
{
    struct sampler_params p = params(0, 0, 1, 0, 1);
    struct sampler *s = sampler_create(&p);
    float l[1] = { 0 };
    CHECK_INT_EQ(sampler_sample(s, l, 0, NULL, 0, NULL), -1);
    CHECK_INT_EQ(sampler_sample(s, l, 1, NULL, 0, NULL), 0);
    sampler_free(s);
}

TEST(sampler_top_p_cut_on_a_large_vocabulary)
{
    /* 1000 tokens, logit -0.01 * rank, ranks shuffled over the ids. top-p 0.5 keeps the
     * shortest best-first prefix with mass >= 0.5, found here in float64 (about 70 tokens,
     * past the sampler's first partial sort of 64). Every kept token must be drawn in 20000
     * draws (each has p > 1/100) and no other. */
    enum { N = 1000 };
    float l[N];
    int rank_of[N];
    for (int i = 0; i < N; i++)
        rank_of[i] = i;
    lcg_state = 77;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(test_rand01() * (i + 1));
        int t = rank_of[i];
        rank_of[i] = rank_of[j];
        rank_of[j] = t;
    }
    for (int i = 0; i < N; i++)
        l[i] = -0.01f * (float)rank_of[i];
    double z = 0, cum = 0;
    for (int r = 0; r < N; r++)
        z += exp(-0.01 * r);
    int keep = N;
    for (int r = 0; r < N; r++) {
        cum += exp((double)(-0.01f * (float)r)) / z;
        if (cum >= 0.5) {
            keep = r + 1;
            break;
        }
    }
    CHECK(keep > 64 && keep < 256);
    struct sampler_params p = params(1.0f, 0, 0.5f, 0.0f, 11);
    struct sampler *s = sampler_create(&p);
    static int count[N];
    memset(count, 0, sizeof count);
    for (int d = 0; d < 20000; d++) {
        int32_t t = sampler_sample(s, l, N, NULL, 0, NULL);
        if (t >= 0 && t < N)
            count[t]++;
    }
    int inside_missing = 0, outside_drawn = 0;
    for (int i = 0; i < N; i++) {
        if (rank_of[i] < keep)
            inside_missing += count[i] == 0;
        else
            outside_drawn += count[i];
    }
    CHECK_MSG(inside_missing == 0, "%d of the %d kept tokens never drawn", inside_missing, keep);
    CHECK_MSG(outside_drawn == 0, "%d draws outside the top-p set", outside_drawn);
    sampler_free(s);
}
