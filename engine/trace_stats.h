/* engine/trace_stats.h: the aggregates of a trace log, computed from its records on demand
 * (never stored beside them). Used by `run`'s closing line, `bench`, and the tui's views.
 *
 * Every function looks at a range of records [from, to) of one log (to is clamped to
 * log->n), so a view can ask for the whole session, the last N tokens, or one reply.
 *
 * Definitions:
 * - A record counts for timing and routing only when it was fed (fed = 1).
 * - TTFT = the forward time (ns_total) of the prompt records in the range: the passes that
 *   produce the first token's logits. Time to first answer (TTFA) adds the passes of the
 *   generated records before the first one that is not thinking. Sampling the first token is not recorded in a trace
 *   record, and costs well under 1% of that, so it is left out.
 * - Prompt tokens/s = fed prompt records / their summed ns_total.
 * - Inter-token latency (ITL) of generated token j+1 = the ns_total of generated token j:
 *   the decode pass that fed j produced the logits j+1 was drawn from. So the ITL samples
 *   are the ns_total of the fed generated records, and decode tokens/s = their count / sum.
 * - Percentiles are nearest-rank: of n values sorted ascending, the p-th is the value of
 *   rank ceil(p/100 * n) (1-based, at least 1). p50 of {1,2,3,4} is 2; p95 of 20 values is
 *   the 19th.
 * - Jitter = the population standard deviation of the ITL samples, in ms.
 * - Load of expert e at layer l = the fed records in the range that chose e at l (any of
 *   their k slots).
 * - Balance of a layer over its n_experts loads: mean = sum / n_experts;
 *   avg_max = mean / max; cv = population stddev / mean; maxvio = (max - mean) / mean;
 *   locality = of the pairs of consecutive records in the range that were both routed at
 *   this layer, the fraction with the same top-1 expert (experts[0]).
 * - Normalised entropy of a layer's routing = entropy / ln(n_experts), in [0, 1].
 * - Time split: sums of ns[phase] and ns_total over the fed records; share = phase /
 *   total; ms per token = phase / fed records.
 * - A remote engine's own times (ns_server, when its server reports them): server TTFT =
 *   the fed prompt records' ns_server; server decode = the ITL samples' ns_server, and its
 *   p95 their nearest-rank p95. Client minus server is the network and queue share. */
#ifndef MOESCOPE_TRACE_STATS_H
#define MOESCOPE_TRACE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

/* Which records of a range a statistic looks at. */
enum trace_select {
    TRACE_SEL_ALL, TRACE_SEL_PROMPT, TRACE_SEL_GEN,
    TRACE_SEL_THINKING, TRACE_SEL_ANSWER, /* generated records of a reasoning model's thinking,
                                           * and the others (trace_token.thinking) */
};
/* Whether record t is one that sel selects. */
bool trace_selects(const struct trace_token *t, enum trace_select sel);

struct trace_speed {
    size_t n_prompt;          /* prompt records in the range (fed or not) */
    size_t n_gen;             /* generated records in the range */
    size_t n_prompt_fed, n_itl; /* fed prompt records; ITL samples (fed generated records) */
    double prompt_ms;         /* sum of the fed prompt records' ns_total */
    double ttft_ms;           /* = prompt_ms, see above; 0 without prompt records */
    double prompt_tps, decode_tps; /* 0 when there is nothing to divide */
    double itl_mean_ms, itl_p50_ms, itl_p95_ms, itl_p99_ms;
    double jitter_ms;         /* population stddev of the ITL samples */
    size_t n_shifts;          /* context shifts in the range (records with shift_dropped) */
    size_t shift_dropped;     /* positions they dropped */
    double shift_ms;          /* their cost, apart from the ITL samples and decode_tps */
    size_t n_thinking;        /* generated records that were thinking (trace_token.thinking) */
    double ttfa_ms;           /* time to the first answer token: TTFT plus the ns_total of
                               * the generated records before it (their passes produced the
                               * logits up to it); = TTFT without thinking; 0 while no
                               * answer token has come */
    size_t n_server;          /* fed records with the server's own time (ns_server > 0) */
    double server_ttft_ms;    /* sum of the fed prompt records' ns_server */
    double server_decode_ms;  /* sum of the ITL samples' ns_server */
    double server_itl_p95_ms; /* p95 of the ITL samples' ns_server */
};

struct trace_balance {
    uint32_t n_tokens;        /* records routed at this layer */
    double mean_load, max_load;
    double avg_max;           /* mean / max (1 = perfectly even); 0 when nothing routed */
    double cv;                /* coefficient of variation of the loads */
    double maxvio;            /* (max - mean) / mean */
    double locality;          /* same top-1 expert as the previous record; 0 with no pair */
    uint32_t n_pairs;         /* consecutive routed pairs behind locality */
};

struct trace_split {
    size_t n_tokens;          /* fed records summed */
    uint64_t ns_total;
    uint64_t ns[TRACE_PHASE_COUNT];
    double share[TRACE_PHASE_COUNT];       /* of ns_total, in [0, 1] */
    double ms_per_token[TRACE_PHASE_COUNT];
    double total_ms_per_token;
};

/* trace_speed of the last turn ([trace_last_turn, n)) and of the whole log, kept for one
 * (log, rev) (trace.h's trace_log_touch): the views ask on every frame, and recomputing them
 * made the frame time grow with the session. Start it zeroed. */
struct trace_speed_cache {
    struct trace_stamp at;        /* what turn and all were computed for */
    struct trace_speed turn, all;
};

/* Brings c up to date with log (recomputing only when it changed): 0, or -1 when out of
 * memory (c then holds nothing). */
int trace_speed_cache_get(struct trace_speed_cache *c, const struct trace_log *log);

/* Index where the last turn starts: the first record of the last run of prompt records
 * (0 when the log has none). The closing figures of a reply use [that, log->n). */
size_t trace_last_turn(const struct trace_log *log);

/* Nearest-rank p-th percentile (0 < p <= 100) of sorted[0..n) ascending; 0 when n == 0. */
double trace_percentile(const double *sorted, size_t n, double p);

/* Speed figures of [from, to). Returns 0, or -1 when memory for sorting runs out. */
int trace_speed(const struct trace_log *log, size_t from, size_t to, struct trace_speed *out);

/* load[l * n_experts + e] for every layer and expert ((n_layers * n_experts) counts,
 * zeroed first). Expert ids out of range are skipped. */
void trace_expert_load(const struct trace_log *log, size_t from, size_t to, uint32_t *load);

/* Balance of one layer over [from, to). */
void trace_balance_layer(const struct trace_log *log, size_t from, size_t to, int layer,
                         struct trace_balance *out);

/* Normalised routing entropy of record i: at one layer (layer >= 0), or the mean over its
 * routed layers (layer < 0). NAN when the record was not routed there (dense, not fed) or
 * the model has fewer than 2 experts. */
double trace_entropy_norm(const struct trace_log *log, size_t i, int layer);

/* Balance of every layer over [from, to) in one pass over the records: out[n_layers].
 * The same figures as trace_balance_layer for each layer. Returns 0, or -1 when memory
 * runs out. */
int trace_balance_all(const struct trace_log *log, size_t from, size_t to,
                      struct trace_balance *out);
/* The same over the selected records only (a record left out breaks locality's pairs):
 * thinking and answer apart, for a reasoning model. */
int trace_balance_select(const struct trace_log *log, size_t from, size_t to,
                         enum trace_select sel, struct trace_balance *out);

/* The whole log's expert load and per-layer balance, kept for one (log, rev) as
 * trace_speed_cache is: the heatmap's session mode and the balance view draw them on every
 * frame. Start it zeroed; trace_load_cache_free releases it. */
struct trace_load_cache {
    struct trace_stamp at;        /* what load and balance were computed for */
    int n_layers, n_experts;      /* the shape the buffers were made for */
    uint32_t *load;                /* (n_layers * n_experts): trace_expert_load of [0, n) */
    struct trace_balance *balance; /* (n_layers): trace_balance_all of [0, n) */
};

/* Brings c up to date with log: 0, or -1 when out of memory (c then holds nothing). */
int trace_load_cache_get(struct trace_load_cache *c, const struct trace_log *log);
void trace_load_cache_free(struct trace_load_cache *c);

/* Time split of the selected fed records of [from, to). */
void trace_time_split(const struct trace_log *log, size_t from, size_t to,
                      enum trace_select sel, struct trace_split *out);

/* "routing: 0.40 ms/token, 3.1%" into buf (snprintf-like). */
size_t trace_split_routing_text(const struct trace_split *s, char *buf, size_t buflen);

#endif
