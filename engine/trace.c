/* engine/trace.c: the trace log (growing plain arrays) and its JSON-lines form.
 *
 * JSON line of one record, keys in this order (`run --trace`, read by the tui, the sessions
 * and outside scripts):
 *   {"pos":3,"token":42,"piece":"the","prompt":false,
 *    "layers":[null,{"experts":[5,1],"weights":[0.61,0.39],"entropy":1.73,"cold":[1]},...],
 *    "logprob":-0.52,"top":[[42,-0.52],[7,-1.9],...],
 *    "ns":{"total":812345,"attn":100,"router":20,"experts":600,"other":92},
 *    "faults":{"minor":12,"major":0,"kernel_ns":40000}}
 * - piece: the token's bytes; well-formed UTF-8 is kept, any other byte is written as the
 *   four characters \xNN (so JSON's "\\xNN"), and JSON's own escapes apply to the rest.
 * - layers: always n_layers entries; null for a dense layer or a record not fed through.
 *   "cold" (ids of the experts first touched at this token) only when there is one.
 * - logprob and top: only for sampled records; top lists the ids the sampler found.
 * - ns: always; zeros for a record not fed through.
 * - shift: only on the first record fed after a context shift:
 *   "shift":{"dropped":120,"ns":4100000} (positions dropped, time to evaluate the kept tail).
 * - faults: the record's page faults and kernel time, only when one of them is not 0.
 * Numbers: integers as such, floats with %.6g; a float that is not finite is null. */
#include "trace.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

const char *const trace_phase_names[TRACE_PHASE_COUNT] = {
    [TRACE_ATTN] = "attn",
    [TRACE_ROUTER] = "router",
    [TRACE_EXPERTS] = "experts",
    [TRACE_OTHER] = "other",
};

void trace_log_touch(struct trace_log *log)
{
    static _Atomic uint64_t last_rev;
    log->rev = atomic_fetch_add_explicit(&last_rev, 1, memory_order_relaxed) + 1;
}

int trace_log_init(struct trace_log *log, int n_layers, int n_experts, int n_experts_used)
{
    memset(log, 0, sizeof *log);
    trace_log_touch(log);
    if (n_layers < 0 || n_experts < 0 || n_experts_used < 0 || n_experts_used > TRACE_MAX_K)
        return -1;
    log->n_layers = n_layers;
    log->n_experts = n_experts;
    log->n_experts_used = n_experts_used;
    return 0;
}

void trace_log_free(struct trace_log *log)
{
    free(log->tok);
    free(log->layer);
    free(log->text);
    log->tok = NULL;
    log->layer = NULL;
    log->text = NULL;
    log->n = log->cap = 0;
    log->text_len = log->text_cap = 0;
}

void trace_log_clear(struct trace_log *log)
{
    log->n = 0;
    log->text_len = 0;
    trace_log_touch(log);
}

/* Room for one more record and piece_len more text bytes; doubles what it grows. */
static int trace_log_reserve(struct trace_log *log, size_t piece_len)
{
    if (log->n == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 64;
        size_t nl = log->n_layers > 0 ? (size_t)log->n_layers : 1;
        if (cap > SIZE_MAX / sizeof(struct trace_layer) / nl)
            return -1;
        struct trace_token *tok = realloc(log->tok, cap * sizeof *tok);
        if (!tok)
            return -1;
        log->tok = tok;
        struct trace_layer *layer = realloc(log->layer, cap * nl * sizeof *layer);
        if (!layer)
            return -1;
        log->layer = layer;
        log->cap = cap;
    }
    if (piece_len > SIZE_MAX / 4 - log->text_len)
        return -1;
    if (log->text_len + piece_len + 1 > log->text_cap) {
        size_t cap = log->text_cap ? log->text_cap : 1024;
        while (cap < log->text_len + piece_len + 1)
            cap *= 2;
        char *text = realloc(log->text, cap);
        if (!text)
            return -1;
        log->text = text;
        log->text_cap = cap;
    }
    return 0;
}

long trace_log_push(struct trace_log *log, int32_t token, const char *piece, size_t piece_len,
                    bool prompt)
{
    if (piece_len > UINT32_MAX || trace_log_reserve(log, piece_len) != 0 ||
        log->text_len + piece_len > UINT32_MAX)
        return -1;
    size_t i = log->n;
    struct trace_token *t = &log->tok[i];
    memset(t, 0, sizeof *t);
    t->pos = (int32_t)i;
    t->token = token;
    t->prompt = prompt;
    t->piece_off = (uint32_t)log->text_len;
    t->piece_len = (uint32_t)piece_len;
    if (piece_len)
        memcpy(log->text + log->text_len, piece, piece_len);
    log->text_len += piece_len;
    log->text[log->text_len] = 0; /* so the last piece also reads as a C string */
    memset(trace_layers(log, i), 0, (size_t)log->n_layers * sizeof(struct trace_layer));
    log->n++;
    trace_log_touch(log);
    return (long)i;
}

long trace_log_copy_from(struct trace_log *dst, const struct trace_log *src, size_t i)
{
    if (i >= src->n || dst->n_layers != src->n_layers)
        return -1;
    const struct trace_token *s = &src->tok[i];
    long j = trace_log_push(dst, s->token, trace_piece(src, i), s->piece_len, s->prompt);
    if (j < 0)
        return -1;
    struct trace_token *d = &dst->tok[j];
    uint32_t off = d->piece_off;
    *d = *s;
    d->piece_off = off;
    memcpy(trace_layers(dst, (size_t)j), trace_layers(src, i),
           (size_t)src->n_layers * sizeof(struct trace_layer));
    trace_log_touch(dst);
    return j;
}

void trace_log_truncate(struct trace_log *log, size_t n)
{
    if (n >= log->n)
        return;
    log->n = n;
    /* Pieces are appended in record order, so the text ends where record n began. */
    log->text_len = n ? log->tok[n - 1].piece_off + log->tok[n - 1].piece_len : 0;
    trace_log_touch(log);
}

/* ---- JSON ---- */

static void out_float(struct json_out *o, double x)
{
    if (!isfinite(x))
        json_str(o, "null");
    else
        json_fmt(o, "%.6g", x);
}

static void out_layer(struct json_out *o, const struct trace_layer *l)
{
    if (l->n == 0) {
        json_str(o, "null");
        return;
    }
    int n = l->n <= TRACE_MAX_K ? l->n : TRACE_MAX_K;
    json_str(o, "{\"experts\":[");
    for (int k = 0; k < n; k++)
        json_fmt(o, k ? ",%u" : "%u", (unsigned)l->experts[k]);
    json_str(o, "],\"weights\":[");
    for (int k = 0; k < n; k++) {
        if (k)
            json_put(o, ",", 1);
        out_float(o, l->weights[k]);
    }
    json_str(o, "],\"entropy\":");
    out_float(o, l->entropy);
    if (l->cold) {
        json_str(o, ",\"cold\":[");
        bool first = true;
        for (int k = 0; k < n; k++)
            if (l->cold & (1u << k)) {
                json_fmt(o, first ? "%u" : ",%u", (unsigned)l->experts[k]);
                first = false;
            }
        json_put(o, "]", 1);
    }
    json_put(o, "}", 1);
}

size_t trace_json_line(const struct trace_log *log, size_t i, char *buf, size_t buflen)
{
    struct json_out o = json_out_fixed(buf, buflen);
    if (i >= log->n)
        return 0;
    const struct trace_token *t = &log->tok[i];
    json_fmt(&o, "{\"pos\":%ld,\"token\":%ld,\"piece\":", (long)t->pos, (long)t->token);
    json_string(&o, trace_piece(log, i), t->piece_len, JSON_BAD_AS_HEX);
    json_str(&o, t->prompt ? ",\"prompt\":true,\"layers\":[" : ",\"prompt\":false,\"layers\":[");
    const struct trace_layer *layers = trace_layers(log, i);
    for (int l = 0; l < log->n_layers; l++) {
        if (l)
            json_put(&o, ",", 1);
        if (t->fed)
            out_layer(&o, &layers[l]);
        else
            json_str(&o, "null");
    }
    json_put(&o, "]", 1);
    if (t->sampled) {
        json_str(&o, ",\"logprob\":");
        out_float(&o, t->logprob);
        json_str(&o, ",\"top\":[");
        bool first = true;
        for (int k = 0; k < TRACE_TOP; k++) {
            if (t->top_id[k] < 0)
                continue;
            json_fmt(&o, first ? "[%ld," : ",[%ld,", (long)t->top_id[k]);
            out_float(&o, t->top_logprob[k]);
            json_put(&o, "]", 1);
            first = false;
        }
        json_put(&o, "]", 1);
    }
    json_fmt(&o, ",\"ns\":{\"total\":%llu", (unsigned long long)t->ns_total);
    for (int p = 0; p < TRACE_PHASE_COUNT; p++)
        json_fmt(&o, ",\"%s\":%llu", trace_phase_names[p], (unsigned long long)t->ns[p]);
    if (t->ns_server)
        json_fmt(&o, ",\"server\":%llu", (unsigned long long)t->ns_server);
    json_str(&o, "}");
    if (t->shift_dropped)
        json_fmt(&o, ",\"shift\":{\"dropped\":%lu,\"ns\":%llu}", (unsigned long)t->shift_dropped,
                 (unsigned long long)t->ns_shift);
    if (t->faults_minor || t->faults_major || t->ns_kernel)
        json_fmt(&o, ",\"faults\":{\"minor\":%lu,\"major\":%lu,\"kernel_ns\":%llu}",
                 (unsigned long)t->faults_minor, (unsigned long)t->faults_major,
                 (unsigned long long)t->ns_kernel);
    if (t->preempted)
        json_fmt(&o, ",\"preempted\":%lu", (unsigned long)t->preempted);
    if (t->thinking)
        json_str(&o, ",\"thinking\":true");
    json_str(&o, "}");
    return o.len;
}
