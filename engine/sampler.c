/* engine/sampler.c: llama.cpp's sampler chain over a candidate array, and the raw report.
 * See sampler.h for the order and the rules of each step. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cand {
    float logit;
    int32_t id;
};

struct sampler {
    struct sampler_params p;
    uint64_t seed;            /* resolved: never SAMPLER_SEED_RANDOM */
    uint64_t rng[4];          /* xoshiro256** state */
    int cap;                  /* vocabulary size the scratch holds */
    struct cand *cand;        /* (cap) candidates, filtered in place */
    uint32_t *stamp;          /* (cap) penalty pass that last touched each id */
    uint32_t stamp_gen;
};

void sampler_params_default(struct sampler_params *p)
{
    /* llama.cpp's common defaults. */
    p->temp = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->seed = SAMPLER_SEED_RANDOM;
}

/* ---- random numbers: splitmix64 to seed, xoshiro256** to draw ---- */

static uint64_t splitmix64_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double rng_uniform(uint64_t s[4])
{
    return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53;
}

static void sampler_seed_rng(struct sampler *s, uint64_t seed)
{
    if (seed == SAMPLER_SEED_RANDOM) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^
                     ((uint64_t)getpid() << 32);
        seed = splitmix64_next(&x);
        if (seed == SAMPLER_SEED_RANDOM)
            seed = 0;
    }
    s->seed = seed;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64_next(&x);
}

struct sampler *sampler_create(const struct sampler_params *p)
{
    struct sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    sampler_set_params(s, p);
    return s;
}

void sampler_free(struct sampler *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->stamp);
    free(s);
}

void sampler_set_params(struct sampler *s, const struct sampler_params *p)
{
    s->p = *p;
    sampler_seed_rng(s, p->seed);
}

uint64_t sampler_seed(const struct sampler *s)
{
    return s->seed;
}

static int sampler_reserve(struct sampler *s, int n_vocab)
{
    if (n_vocab <= s->cap)
        return 0;
    struct cand *c = malloc((size_t)n_vocab * sizeof *c);
    uint32_t *st = calloc((size_t)n_vocab, sizeof *st);
    if (!c || !st) {
        free(c);
        free(st);
        return -1;
    }
    free(s->cand);
    free(s->stamp);
    s->cand = c;
    s->stamp = st;
    s->stamp_gen = 0;
    s->cap = n_vocab;
    return 0;
}

/* ---- the report on the raw distribution ---- */

static float logit_clean(float x)
{
    return isnan(x) ? -INFINITY : x;
}

/* The largest logit (NaN counts as -inf); its own loop so that the maximum stays in a
 * register. */
static float logits_max(const float *logits, int n)
{
    float m[4] = { -INFINITY, -INFINITY, -INFINITY, -INFINITY }; /* 4 independent chains */
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) {
            float l = logit_clean(logits[i + j]);
            m[j] = l > m[j] ? l : m[j];
        }
    for (; i < n; i++) {
        float l = logit_clean(logits[i]);
        m[0] = l > m[0] ? l : m[0];
    }
    float a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
    return a > b ? a : b;
}

void sampler_report(const float *logits, int n_vocab, int32_t token, struct trace_token *rec)
{
    for (int j = 0; j < TRACE_TOP; j++) {
        rec->top_id[j] = -1;
        rec->top_logprob[j] = -INFINITY;
    }
    rec->sampled = true;
    rec->logprob = -INFINITY;
    if (n_vocab <= 0)
        return;
    /* One pass for the maximum and the TRACE_TOP best (lowest id first on a tie). */
    int n_top = 0;
    int32_t top_id[TRACE_TOP];
    float top_l[TRACE_TOP];
    float max = logits_max(logits, n_vocab);
    float worst = INFINITY; /* top_l[n_top - 1] once full; kept in a register */
    for (int i = 0; i < n_vocab; i++) {
        float l = logit_clean(logits[i]);
        if (l > worst || n_top < TRACE_TOP) {
            int j = n_top < TRACE_TOP ? n_top++ : TRACE_TOP - 1;
            while (j > 0 && l > top_l[j - 1]) {
                top_l[j] = top_l[j - 1];
                top_id[j] = top_id[j - 1];
                j--;
            }
            top_l[j] = l;
            top_id[j] = i;
            worst = n_top == TRACE_TOP ? top_l[TRACE_TOP - 1] : INFINITY;
        }
    }
    /* log-sum-exp: expf summed in float over blocks of 64, the blocks in float64, so a
     * large vocabulary loses no digits (relative error ~1e-8 at 150k) at float speed. */
    double lse;
    if (max == -INFINITY) {
        lse = -log((double)n_vocab); /* all -inf: call it uniform, reported as -inf anyway */
        max = 0;
    } else {
        double sum = 0;
        for (int i0 = 0; i0 < n_vocab; i0 += 64) {
            int i1 = i0 + 64 < n_vocab ? i0 + 64 : n_vocab;
            float part = 0;
            for (int i = i0; i < i1; i++)
                part += expf(logit_clean(logits[i]) - max);
            sum += part;
        }
        lse = max + log(sum);
    }
    for (int j = 0; j < n_top; j++) {
        rec->top_id[j] = top_id[j];
        rec->top_logprob[j] = (float)((double)top_l[j] - lse);
    }
    if (token >= 0 && token < n_vocab)
        rec->logprob = (float)((double)logit_clean(logits[token]) - lse);
}

/* ---- the chain ---- */

/* a ranks before b: higher logit, then lower id (a total order, so results are stable). */
static int cand_before(const struct cand *a, const struct cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    return cand_before(a, b) ? -1 : cand_before(b, a) ? 1 : 0;
}

/* Min-heap on "before": the root is the worst of the kept candidates. */
static void heap_sift_down(struct cand *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_before(&h[w], &h[l]))
            w = l;
        if (r < n && cand_before(&h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        struct cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* Moves the k best of c[0..n) to c[0..k), sorted best first; the others stay in c[k..n). */
static void cand_top_k(struct cand *c, int n, int k)
{
    for (int i = k / 2 - 1; i >= 0; i--)
        heap_sift_down(c, k, i);
    for (int i = k; i < n; i++)
        if (cand_before(&c[i], &c[0])) {
            struct cand t = c[0];
            c[0] = c[i];
            c[i] = t;
            heap_sift_down(c, k, 0);
        }
    qsort(c, (size_t)k, sizeof *c, cand_cmp);
}

/* Top-p over c[0..n): the shortest best-first prefix whose softmax mass reaches p. Sorts
 * only as far as needed: the best 64, 256, ... until their mass reaches p (a peaked
 * distribution, the usual case), the whole array only when it must. Returns the prefix
 * length; c[0..that) is sorted. */
static int cand_top_p(struct cand *c, int n, bool sorted, float p)
{
    float max = c[0].logit;
    for (int i = 1; i < n; i++)
        if (c[i].logit > max)
            max = c[i].logit;
    double z = 0;
    for (int i = 0; i < n; i++)
        z += exp((double)c[i].logit - max);
    for (int m = 64;; m *= 4) {
        if (m >= n) {
            m = n;
            if (!sorted)
                qsort(c, (size_t)n, sizeof *c, cand_cmp);
        } else if (!sorted) {
            cand_top_k(c, n, m);
        }
        double cum = 0;
        for (int i = 0; i < m; i++) {
            cum += exp((double)c[i].logit - max) / z;
            if (cum >= p)
                return i + 1;
        }
        if (m == n)
            return n;
        if (sorted)
            continue; /* already sorted throughout: just look further */
    }
}

static void sampler_apply_penalty(struct sampler *s, int n_vocab, const int32_t *history,
                                  int n_history)
{
    const struct sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f || p->repeat_last_n == 0 || n_history <= 0 || !history)
        return;
    int start = p->repeat_last_n < 0 || p->repeat_last_n >= n_history
                    ? 0 : n_history - p->repeat_last_n;
    if (++s->stamp_gen == 0) { /* wrapped: forget every old stamp */
        memset(s->stamp, 0, (size_t)s->cap * sizeof *s->stamp);
        s->stamp_gen = 1;
    }
    for (int i = start; i < n_history; i++) {
        int32_t t = history[i];
        if (t < 0 || t >= n_vocab || s->stamp[t] == s->stamp_gen)
            continue;
        s->stamp[t] = s->stamp_gen;
        float *l = &s->cand[t].logit; /* candidates are still in id order here */
        if (*l <= 0)
            *l *= p->repeat_penalty;
        else
            *l /= p->repeat_penalty;
    }
}

int32_t sampler_sample(struct sampler *s, const float *logits, int n_vocab,
                       const int32_t *history, int n_history, struct trace_token *rec)
{
    if (n_vocab <= 0 || sampler_reserve(s, n_vocab) != 0)
        return -1;
    const struct sampler_params *p = &s->p;
    struct cand *c = s->cand; /* (n_vocab) */
    for (int i = 0; i < n_vocab; i++) {
        c[i].logit = logit_clean(logits[i]);
        c[i].id = i;
    }
    sampler_apply_penalty(s, n_vocab, history, n_history);

    int32_t chosen;
    if (p->temp <= 0) {
        int best = 0;
        float best_l = c[0].logit; /* in a register: no load chained on the last cmov */
        for (int i = 1; i < n_vocab; i++)
            if (c[i].logit > best_l) {
                best_l = c[i].logit;
                best = i;
            }
        chosen = c[best].id;
        goto report;
    }

    int n = n_vocab;
    bool sorted = false;
    if (p->top_k > 0 && p->top_k < n) {
        cand_top_k(c, n, p->top_k);
        n = p->top_k;
        sorted = true;
    }
    if (p->top_p < 1.0f) {
        n = cand_top_p(c, n, sorted, p->top_p);
        sorted = true;
    }
    if (p->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  l_i >= l_max + ln(min_p) */
        float max = c[0].logit;
        for (int i = 1; i < n; i++)
            if (c[i].logit > max)
                max = c[i].logit;
        float floor_l = max + logf(p->min_p);
        int kept = 0;
        for (int i = 0; i < n; i++)
            if (c[i].logit >= floor_l)
                c[kept++] = c[i]; /* keeps the order, sorted or not */
        n = kept > 0 ? kept : 1;
    }
    /* Temperature, then a draw from the softmax of what is left. */
    double max = -INFINITY;
    for (int i = 0; i < n; i++)
        if ((double)c[i].logit / p->temp > max)
            max = (double)c[i].logit / p->temp;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)c[i].logit / p->temp - max);
    double u = rng_uniform(s->rng) * sum, cum = 0;
    chosen = c[n - 1].id;
    for (int i = 0; i < n; i++) {
        cum += exp((double)c[i].logit / p->temp - max);
        if (u < cum) {
            chosen = c[i].id;
            break;
        }
    }

report:
    if (rec)
        sampler_report(logits, n_vocab, chosen, rec);
    return chosen;
}
