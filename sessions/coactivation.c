/* sessions/coactivation.c: expert pairs of one layer counted over records (coactivation.h). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "coactivation.h"

void coact_free(struct coact *c)
{
    free(c->load);
    free(c->same);
    free(c->next);
    memset(c, 0, sizeof *c);
}

/* A record's distinct valid experts at the layer into ids (at most TRACE_MAX_K). */
static int coact_ids(const struct trace_log *log, size_t i, int layer, int *ids)
{
    if (!log->tok[i].fed)
        return 0;
    const struct trace_layer *tl = &trace_layers(log, i)[layer];
    int n = 0;
    for (int j = 0; j < tl->n && j < TRACE_MAX_K; j++) {
        int e = tl->experts[j];
        bool seen = e >= log->n_experts;
        for (int q = 0; q < n && !seen; q++)
            seen = ids[q] == e;
        if (!seen)
            ids[n++] = e;
    }
    return n;
}

int coact_count(struct coact *c, const struct trace_log *log, size_t from, size_t to,
                int layer)
{
    memset(c, 0, sizeof *c);
    if (layer < 0 || layer >= log->n_layers || log->n_experts <= 0)
        return -1;
    const size_t n = (size_t)log->n_experts;
    c->n_experts = log->n_experts;
    c->layer = layer;
    c->load = calloc(n, sizeof *c->load);
    c->same = calloc(n * n, sizeof *c->same);
    c->next = calloc(n * n, sizeof *c->next);
    if (!c->load || !c->same || !c->next) {
        coact_free(c);
        return -1;
    }
    if (to > log->n)
        to = log->n;
    int prev[TRACE_MAX_K], cur[TRACE_MAX_K], n_prev = 0;
    for (size_t i = from; i < to; i++) {
        int n_cur = coact_ids(log, i, layer, cur);
        if (n_cur == 0) {
            n_prev = 0;
            continue;
        }
        c->n_tokens++;
        c->n_chosen += (uint64_t)n_cur;
        for (int x = 0; x < n_cur; x++) {
            c->load[cur[x]]++;
            for (int y = 0; y < n_cur; y++)
                if (x != y)
                    c->same[(size_t)cur[x] * n + (size_t)cur[y]]++;
        }
        if (n_prev) {
            c->n_pairs++;
            for (int x = 0; x < n_prev; x++)
                for (int y = 0; y < n_cur; y++)
                    c->next[(size_t)prev[x] * n + (size_t)cur[y]]++;
        }
        memcpy(prev, cur, sizeof cur);
        n_prev = n_cur;
    }
    return 0;
}

static double coact_p(const struct coact *c, int e)
{
    return c->n_tokens ? (double)c->load[e] / c->n_tokens : 0;
}

double coact_lift_same(const struct coact *c, int a, int b)
{
    double pa = coact_p(c, a), pb = coact_p(c, b);
    if (a == b || pa == 0 || pb == 0)
        return NAN;
    return (double)c->same[(size_t)a * (size_t)c->n_experts + (size_t)b] / c->n_tokens /
           (pa * pb);
}

double coact_lift_next(const struct coact *c, int a, int b)
{
    double pa = coact_p(c, a), pb = coact_p(c, b);
    if (c->n_pairs == 0 || pa == 0 || pb == 0)
        return NAN;
    return (double)c->next[(size_t)a * (size_t)c->n_experts + (size_t)b] / c->n_pairs /
           (pa * pb);
}

double coact_repeat_share(const struct coact *c)
{
    if (c->n_pairs == 0 || c->n_chosen == 0)
        return NAN;
    uint64_t again = 0;
    for (int e = 0; e < c->n_experts; e++)
        again += c->next[(size_t)e * (size_t)c->n_experts + (size_t)e];
    const double per_token = (double)c->n_chosen / c->n_tokens;
    return (double)again / c->n_pairs / per_token;
}

double coact_repeat_chance(const struct coact *c)
{
    if (c->n_pairs == 0 || c->n_chosen == 0)
        return NAN;
    double s = 0;
    for (int e = 0; e < c->n_experts; e++)
        s += coact_p(c, e) * coact_p(c, e);
    return s / ((double)c->n_chosen / c->n_tokens);
}

static bool pair_before(const struct coact_pair *x, const struct coact_pair *y)
{
    if (x->lift != y->lift)
        return x->lift > y->lift;
    if (x->count != y->count)
        return x->count > y->count;
    return x->a != y->a ? x->a < y->a : x->b < y->b;
}

size_t coact_top(const struct coact *c, int next_token, uint32_t min_count,
                 struct coact_pair *out, size_t max)
{
    size_t n_out = 0;
    const size_t n = (size_t)c->n_experts;
    for (int a = 0; a < c->n_experts; a++)
        for (int b = next_token ? 0 : a + 1; b < c->n_experts; b++) {
            if (a == b)
                continue;
            uint32_t cnt = (next_token ? c->next : c->same)[(size_t)a * n + (size_t)b];
            if (cnt == 0 || cnt < min_count)
                continue;
            struct coact_pair p = { a, b, cnt,
                                    next_token ? coact_lift_next(c, a, b)
                                               : coact_lift_same(c, a, b) };
            /* insertion into the kept best max, in order */
            size_t i = n_out < max ? n_out++ : max;
            if (i == max && (max == 0 || !pair_before(&p, &out[max - 1])))
                continue;
            if (i == max)
                i = max - 1;
            while (i > 0 && pair_before(&p, &out[i - 1])) {
                out[i] = out[i - 1];
                i--;
            }
            out[i] = p;
        }
    return n_out;
}
