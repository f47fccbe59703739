/* sessions/coactivation.h: which experts of one layer fire together, in the same token and
 * in consecutive tokens, against chance (Mixtral section 5's locality question).
 *
 * Counted over the records of [from, to) routed at the layer (fed, n > 0): a record's
 * experts are its k distinct ids; consecutive = records i and i + 1 both routed there (the
 * pairs of trace_stats.h's locality).
 *
 * Lift is observed / expected when each record picked its experts independently at the
 * layer's own rates p(e) = load(e) / n_tokens:
 *   same token   lift(a, b) = (same(a, b) / n_tokens) / (p(a) p(b))          (a != b)
 *   next token   lift(a, b) = (next(a, b) / n_pairs) / (p(a) p(b))  (a in i, b in i + 1)
 * 1 is chance. (k distinct of n cannot be fully independent: uniform routing has a
 * same-token lift of (k - 1) n / (k (n - 1)), a little under 1.) The repeat share is the
 * fraction of a record's experts its successor chose again, against the same chance. */
#ifndef MOESCOPE_COACTIVATION_H
#define MOESCOPE_COACTIVATION_H

#include <stddef.h>
#include <stdint.h>

#include "trace.h"

struct coact {
    int n_experts, layer;
    uint32_t n_tokens;      /* records routed at the layer */
    uint32_t n_pairs;       /* consecutive pairs of them */
    uint64_t n_chosen;      /* expert slots of those records (sum of their n) */
    uint32_t *load;         /* (n_experts) records that chose e */
    uint32_t *same;         /* (n_experts * n_experts) [a * n + b]: records that chose both
                             * (symmetric; the diagonal is 0) */
    uint32_t *next;         /* (n_experts * n_experts) [a * n + b]: pairs with a in the first
                             * record and b in the second (a == b: chosen again) */
};

/* Counts layer `layer` of [from, to). Returns 0, or -1 when memory runs out or the layer
 * is out of range (c then holds nothing; coact_free is still safe). */
int coact_count(struct coact *c, const struct trace_log *log, size_t from, size_t to,
                int layer);
void coact_free(struct coact *c);

/* The lifts above; NAN when a or b was never chosen (or there is no pair). */
double coact_lift_same(const struct coact *c, int a, int b);
double coact_lift_next(const struct coact *c, int a, int b);

/* The repeat share and its chance, sum_e p(e)^2 / (mean experts per record); NAN with no
 * pair. */
double coact_repeat_share(const struct coact *c);
double coact_repeat_chance(const struct coact *c);

struct coact_pair {
    int a, b;
    uint32_t count;
    double lift;
};

/* The pairs with at least min_count records (same token: a < b; next token: a != b,
 * since a == b is the repeat share), highest lift first (then count, then ids), at most
 * max of them into out. Returns how many were written. */
size_t coact_top(const struct coact *c, int next_token, uint32_t min_count,
                 struct coact_pair *out, size_t max);

#endif
