/* engine/trace_stats.c: aggregates of trace records; definitions in trace_stats.h. */
#include "trace_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t range_end(const struct trace_log *log, size_t to)
{
    return to < log->n ? to : log->n;
}

size_t trace_last_turn(const struct trace_log *log)
{
    size_t i = log->n;
    while (i > 0 && !log->tok[i - 1].prompt)
        i--;
    while (i > 0 && log->tok[i - 1].prompt)
        i--;
    return i;
}

/* The 1-based nearest rank of the p-th percentile of n values. */
static size_t percentile_rank(size_t n, double p)
{
    double r = ceil(p / 100.0 * (double)n);
    return r < 1 ? 1 : r > (double)n ? n : (size_t)r;
}

double trace_percentile(const double *sorted, size_t n, double p)
{
    return n == 0 ? 0 : sorted[percentile_rank(n, p) - 1];
}

/* The k-th smallest (0-based) of a[0..n), reordering a: quickselect with three-way
 * partitions (latencies repeat). Linear on average: the latency view asks for three
 * percentiles of every token of the session on each frame, and sorting them made the
 * frame time grow with the session (8 000 tokens: 3.5 ms a frame, 0.7 at 1 000). */
static double select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the answer is in a[lo..hi) */
    while (hi - lo > 1) {
        const double x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        const double pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) < pivot, [lt,i) == pivot, [gt,hi) > */
        while (i < gt) {
            const double v = a[i];
            if (v < pivot) {
                a[i++] = a[lt];
                a[lt++] = v;
            } else if (v > pivot) {
                a[i] = a[--gt];
                a[gt] = v;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return pivot;
    }
    return a[lo];
}

int trace_speed(const struct trace_log *log, size_t from, size_t to, struct trace_speed *out)
{
    memset(out, 0, sizeof *out);
    to = range_end(log, to);
    if (from >= to)
        return 0;
    uint64_t prompt_ns = 0, before_answer_ns = 0;
    size_t n_itl = 0;
    bool answered = false;
    for (size_t i = from; i < to; i++) {
        const struct trace_token *t = &log->tok[i];
        if (!t->prompt && !answered) {
            answered = !t->thinking;
            before_answer_ns += answered ? 0 : t->ns_total;
        }
        out->n_thinking += !t->prompt && t->thinking;
        if (t->shift_dropped) {
            out->n_shifts++;
            out->shift_dropped += t->shift_dropped;
            out->shift_ms += (double)t->ns_shift / 1e6;
        }
        out->n_server += t->fed && t->ns_server > 0;
        if (t->prompt) {
            out->n_prompt++;
            if (t->fed) {
                out->n_prompt_fed++;
                prompt_ns += t->ns_total;
                out->server_ttft_ms += (double)t->ns_server / 1e6;
            }
        } else {
            out->n_gen++;
            n_itl += t->fed;
        }
    }
    out->prompt_ms = (double)prompt_ns / 1e6;
    out->ttft_ms = out->prompt_ms;
    out->ttfa_ms = answered ? (double)(prompt_ns + before_answer_ns) / 1e6 : 0;
    if (prompt_ns)
        out->prompt_tps = (double)out->n_prompt_fed * 1e9 / (double)prompt_ns;
    out->n_itl = n_itl;
    if (n_itl == 0)
        return 0;
    double *ms = malloc(n_itl * sizeof *ms); /* (n_itl) ITL samples, sorted below */
    if (!ms)
        return -1;
    size_t k = 0;
    double sum = 0;
    for (size_t i = from; i < to; i++) {
        const struct trace_token *t = &log->tok[i];
        if (!t->prompt && t->fed) {
            ms[k] = (double)t->ns_server / 1e6;
            out->server_decode_ms += ms[k++];
        }
    }
    if (out->n_server)
        out->server_itl_p95_ms = select_kth(ms, n_itl, percentile_rank(n_itl, 95) - 1);
    k = 0;
    for (size_t i = from; i < to; i++) {
        const struct trace_token *t = &log->tok[i];
        if (!t->prompt && t->fed) {
            ms[k] = (double)t->ns_total / 1e6;
            sum += ms[k++];
        }
    }
    double mean = sum / (double)n_itl, var = 0;
    for (size_t j = 0; j < n_itl; j++)
        var += (ms[j] - mean) * (ms[j] - mean);
    out->itl_mean_ms = mean;
    out->jitter_ms = sqrt(var / (double)n_itl);
    out->itl_p50_ms = select_kth(ms, n_itl, percentile_rank(n_itl, 50) - 1);
    out->itl_p95_ms = select_kth(ms, n_itl, percentile_rank(n_itl, 95) - 1);
    out->itl_p99_ms = select_kth(ms, n_itl, percentile_rank(n_itl, 99) - 1);
    if (sum > 0)
        out->decode_tps = (double)n_itl * 1e3 / sum;
    free(ms);
    return 0;
}

int trace_speed_cache_get(struct trace_speed_cache *c, const struct trace_log *log)
{
    if (trace_stamp_fresh(c->at, log))
        return 0;
    c->at = (struct trace_stamp){ 0 };
    if (trace_speed(log, trace_last_turn(log), log->n, &c->turn) != 0 ||
        trace_speed(log, 0, log->n, &c->all) != 0)
        return -1;
    c->at = trace_stamp_of(log);
    return 0;
}

void trace_expert_load(const struct trace_log *log, size_t from, size_t to, uint32_t *load)
{
    int nl = log->n_layers, ne = log->n_experts;
    memset(load, 0, (size_t)nl * (size_t)ne * sizeof *load);
    to = range_end(log, to);
    for (size_t i = from; i < to; i++) {
        if (!log->tok[i].fed)
            continue;
        const struct trace_layer *layers = trace_layers(log, i);
        for (int l = 0; l < nl; l++)
            for (int k = 0; k < layers[l].n && k < TRACE_MAX_K; k++)
                if (layers[l].experts[k] < ne)
                    load[(size_t)l * (size_t)ne + layers[l].experts[k]]++;
    }
}

/* Layer l of record i when it was routed there, else NULL. */
static const struct trace_layer *routed_layer(const struct trace_log *log, size_t i, int l)
{
    if (!log->tok[i].fed)
        return NULL;
    const struct trace_layer *ly = &trace_layers(log, i)[l];
    return ly->n ? ly : NULL;
}

/* Balance figures from one layer's loads (ne counts) and its locality counts. */
static void balance_finish(const uint32_t *load, int ne, uint32_t n_tokens, uint32_t n_pairs,
                           uint32_t same, struct trace_balance *out)
{
    memset(out, 0, sizeof *out);
    out->n_tokens = n_tokens;
    out->n_pairs = n_pairs;
    double sum = 0, max = 0;
    for (int e = 0; e < ne; e++) {
        sum += load[e];
        if (load[e] > max)
            max = load[e];
    }
    double mean = sum / ne, var = 0;
    for (int e = 0; e < ne; e++)
        var += ((double)load[e] - mean) * ((double)load[e] - mean);
    out->mean_load = mean;
    out->max_load = max;
    if (max > 0) {
        out->avg_max = mean / max;
        out->cv = sqrt(var / ne) / mean;
        out->maxvio = (max - mean) / mean;
    }
    if (n_pairs)
        out->locality = (double)same / n_pairs;
}

bool trace_selects(const struct trace_token *t, enum trace_select sel)
{
    switch (sel) {
    case TRACE_SEL_PROMPT: return t->prompt;
    case TRACE_SEL_GEN: return !t->prompt;
    case TRACE_SEL_THINKING: return !t->prompt && t->thinking;
    case TRACE_SEL_ANSWER: return !t->prompt && !t->thinking;
    default: return true;
    }
}

int trace_balance_all(const struct trace_log *log, size_t from, size_t to,
                      struct trace_balance *out)
{
    return trace_balance_select(log, from, to, TRACE_SEL_ALL, out);
}

int trace_balance_select(const struct trace_log *log, size_t from, size_t to,
                         enum trace_select sel, struct trace_balance *out)
{
    int nl = log->n_layers, ne = log->n_experts;
    if (nl <= 0)
        return 0;
    memset(out, 0, (size_t)nl * sizeof *out);
    if (ne <= 0)
        return 0;
    to = range_end(log, to);
    /* One pass over the records in memory order: a token's layers are contiguous, so this
     * reads the log once instead of once per layer. */
    uint32_t *load = calloc((size_t)nl * (size_t)ne, sizeof *load); /* (nl, ne) */
    uint32_t *cnt = calloc((size_t)nl * 3, sizeof *cnt);           /* (nl): tokens, pairs, same */
    int16_t *prev_top = malloc((size_t)nl * sizeof *prev_top);     /* (nl), -1: no previous */
    if (!load || !cnt || !prev_top) {
        free(load), free(cnt), free(prev_top);
        return -1;
    }
    for (int l = 0; l < nl; l++)
        prev_top[l] = -1;
    for (size_t i = from; i < to; i++) {
        const struct trace_layer *lys = trace_layers(log, i);
        bool fed = log->tok[i].fed && trace_selects(&log->tok[i], sel);
        for (int l = 0; l < nl; l++) {
            const struct trace_layer *ly = &lys[l];
            if (!fed || !ly->n) {
                prev_top[l] = -1;
                continue;
            }
            cnt[l * 3]++;
            for (int k = 0; k < ly->n && k < TRACE_MAX_K; k++)
                if (ly->experts[k] < ne)
                    load[(size_t)l * ne + ly->experts[k]]++;
            if (prev_top[l] >= 0) {
                cnt[l * 3 + 1]++;
                cnt[l * 3 + 2] += prev_top[l] == ly->experts[0];
            }
            prev_top[l] = (int16_t)ly->experts[0];
        }
    }
    for (int l = 0; l < nl; l++)
        balance_finish(load + (size_t)l * ne, ne, cnt[l * 3], cnt[l * 3 + 1], cnt[l * 3 + 2],
                       &out[l]);
    free(load), free(cnt), free(prev_top);
    return 0;
}

void trace_balance_layer(const struct trace_log *log, size_t from, size_t to, int layer,
                         struct trace_balance *out)
{
    memset(out, 0, sizeof *out);
    int ne = log->n_experts;
    if (layer < 0 || layer >= log->n_layers || ne <= 0)
        return;
    to = range_end(log, to);
    uint32_t stack_load[256];
    uint32_t *load = ne <= 256 ? stack_load : calloc((size_t)ne, sizeof *load); /* (ne) */
    if (!load)
        return;
    memset(load, 0, (size_t)ne * sizeof *load);
    const struct trace_layer *prev = NULL;
    uint32_t n_tokens = 0, n_pairs = 0, same = 0;
    for (size_t i = from; i < to; i++) {
        const struct trace_layer *ly = routed_layer(log, i, layer);
        if (!ly) {
            prev = NULL;
            continue;
        }
        n_tokens++;
        for (int k = 0; k < ly->n && k < TRACE_MAX_K; k++)
            if (ly->experts[k] < ne)
                load[ly->experts[k]]++;
        if (prev) {
            n_pairs++;
            same += prev->experts[0] == ly->experts[0];
        }
        prev = ly;
    }
    balance_finish(load, ne, n_tokens, n_pairs, same, out);
    if (load != stack_load)
        free(load);
}

double trace_entropy_norm(const struct trace_log *tl, size_t i, int layer)
{
    if (i >= tl->n || tl->n_experts < 2 || layer >= tl->n_layers)
        return NAN;
    double ln_n = log((double)tl->n_experts);
    if (layer >= 0) {
        const struct trace_layer *ly = routed_layer(tl, i, layer);
        return ly ? ly->entropy / ln_n : NAN;
    }
    double sum = 0;
    int n = 0;
    for (int l = 0; l < tl->n_layers; l++) {
        const struct trace_layer *ly = routed_layer(tl, i, l);
        if (ly) {
            sum += ly->entropy;
            n++;
        }
    }
    return n ? sum / n / ln_n : NAN;
}

void trace_time_split(const struct trace_log *log, size_t from, size_t to,
                      enum trace_select sel, struct trace_split *out)
{
    memset(out, 0, sizeof *out);
    to = range_end(log, to);
    for (size_t i = from; i < to; i++) {
        const struct trace_token *t = &log->tok[i];
        if (!t->fed || !trace_selects(t, sel))
            continue;
        out->n_tokens++;
        out->ns_total += t->ns_total;
        for (int p = 0; p < TRACE_PHASE_COUNT; p++)
            out->ns[p] += t->ns[p];
    }
    if (out->n_tokens == 0)
        return;
    for (int p = 0; p < TRACE_PHASE_COUNT; p++) {
        out->share[p] = out->ns_total ? (double)out->ns[p] / (double)out->ns_total : 0;
        out->ms_per_token[p] = (double)out->ns[p] / 1e6 / (double)out->n_tokens;
    }
    out->total_ms_per_token = (double)out->ns_total / 1e6 / (double)out->n_tokens;
}

size_t trace_split_routing_text(const struct trace_split *s, char *buf, size_t buflen)
{
    int n = snprintf(buf, buflen, "routing: %.2f ms/token, %.1f%%",
                     s->ms_per_token[TRACE_ROUTER], 100.0 * s->share[TRACE_ROUTER]);
    return n < 0 ? 0 : (size_t)n;
}

void trace_load_cache_free(struct trace_load_cache *c)
{
    free(c->load);
    free(c->balance);
    memset(c, 0, sizeof *c);
}

int trace_load_cache_get(struct trace_load_cache *c, const struct trace_log *log)
{
    if (trace_stamp_fresh(c->at, log))
        return 0;
    const int nl = log->n_layers > 0 ? log->n_layers : 0;
    const int ne = log->n_experts > 0 ? log->n_experts : 0;
    if (!c->load || !c->balance || nl != c->n_layers || ne != c->n_experts) {
        trace_load_cache_free(c);
        c->load = calloc((size_t)nl * (size_t)ne + 1, sizeof *c->load);
        c->balance = calloc((size_t)nl + 1, sizeof *c->balance);
        c->n_layers = nl;
        c->n_experts = ne;
    }
    c->at = (struct trace_stamp){ 0 };
    if (!c->load || !c->balance)
        return -1;
    trace_expert_load(log, 0, log->n, c->load);
    if (trace_balance_all(log, 0, log->n, c->balance) != 0)
        return -1;
    c->at = trace_stamp_of(log);
    return 0;
}
