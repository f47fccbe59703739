/* engine/engine_batch.c: several sequences on one engine (engine.h's engine_batch): each in
 * a KV cache of the forward pass of its own (caches 1..max_seqs; 0 is the engine's), the
 * sequences with one new token each evaluated in one fwd_eval_rows pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "engine_impl.h"

enum { BATCH_MAX_SEQS = FWD_BATCH };

struct batch_seq {
    struct trace_log *log;   /* NULL: the slot is free */
    struct sampler *smp;
    int32_t *hist;           /* (n_ctx) its tokens by position */
    int n_past;              /* positions in its cache = records of log fed */
    float *logits;           /* (n_vocab) what its last sample was drawn from */
    bool has_logits;
};

struct engine_batch {
    struct engine *e;
    int max_seqs;
    struct batch_seq *seq;   /* (max_seqs); slot s uses cache s + 1 */
    /* the batched pass's rows */
    int *row_seq, *row_kv, *row_pos;
    int32_t *row_tok;
    struct trace_layer *layers; /* (max_seqs * n_layers) */
    uint8_t *seen;           /* (n_experts) distinct experts of a layer in the pass */
};

void engine_batch_free(struct engine_batch *b)
{
    if (!b)
        return;
    for (int s = 0; b->seq && s < b->max_seqs; s++) {
        sampler_free(b->seq[s].smp);
        free(b->seq[s].hist);
        free(b->seq[s].logits);
    }
    b->e->batch_open = false;
    free(b->seq);
    free(b->row_seq);
    free(b->row_kv);
    free(b->row_pos);
    free(b->row_tok);
    free(b->layers);
    free(b->seen);
    free(b);
}

struct engine_batch *engine_batch_create(struct engine *e, int max_seqs, char *err,
                                         size_t errlen)
{
    if (max_seqs < 1 || max_seqs > BATCH_MAX_SEQS) {
        snprintf(err, errlen, "a batch takes 1 to %d sequences, not %d", BATCH_MAX_SEQS,
                 max_seqs);
        return NULL;
    }
    if (e->batch_open) {
        snprintf(err, errlen, "this engine already has a batch");
        return NULL;
    }
    struct engine_batch *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->e = e;
    e->batch_open = true;
    b->max_seqs = max_seqs;
    const size_t n = (size_t)max_seqs, ne = (size_t)(e->m.hp.n_experts > 0 ? e->m.hp.n_experts : 1);
    b->seq = calloc(n, sizeof *b->seq);
    b->row_seq = malloc(n * sizeof *b->row_seq);
    b->row_kv = malloc(n * sizeof *b->row_kv);
    b->row_pos = malloc(n * sizeof *b->row_pos);
    b->row_tok = malloc(n * sizeof *b->row_tok);
    b->layers = malloc(n * (size_t)e->m.hp.n_layers * sizeof *b->layers);
    b->seen = malloc(ne);
    bool ok = b->seq && b->row_seq && b->row_kv && b->row_pos && b->row_tok && b->layers &&
              b->seen;
    for (int s = 0; ok && s < max_seqs; s++) {
        b->seq[s].hist = malloc((size_t)e->n_ctx * sizeof *b->seq[s].hist);
        b->seq[s].logits = malloc((size_t)e->m.hp.n_vocab * sizeof *b->seq[s].logits);
        ok = b->seq[s].hist && b->seq[s].logits;
    }
    if (!ok || fwd_reserve(e->fwd, max_seqs + 1, max_seqs) != 0) {
        snprintf(err, errlen, "out of memory for %d sequences of %d positions", max_seqs,
                 e->n_ctx);
        engine_batch_free(b);
        return NULL;
    }
    return b;
}

int engine_batch_join(struct engine_batch *b, struct trace_log *log,
                      const struct sampler_params *sp, char *err, size_t errlen)
{
    if (log->n == 0 || log->n > (size_t)b->e->n_ctx) {
        snprintf(err, errlen, "a sequence joins with 1 to %d prompt records, not %zu",
                 b->e->n_ctx, log->n);
        return -1;
    }
    if (log->n_layers != b->e->m.hp.n_layers) {
        snprintf(err, errlen, "the log has %d layers, the model %d", log->n_layers,
                 b->e->m.hp.n_layers);
        return -1;
    }
    int s = 0;
    while (s < b->max_seqs && b->seq[s].log)
        s++;
    if (s == b->max_seqs) {
        snprintf(err, errlen, "all %d sequences of the batch are live", b->max_seqs);
        return -1;
    }
    struct batch_seq *q = &b->seq[s];
    q->smp = sampler_create(sp);
    if (!q->smp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    q->log = log;
    q->n_past = 0;
    q->has_logits = false;
    return s;
}

void engine_batch_leave(struct engine_batch *b, int slot)
{
    if (slot < 0 || slot >= b->max_seqs || !b->seq[slot].log)
        return;
    sampler_free(b->seq[slot].smp);
    b->seq[slot].smp = NULL;
    b->seq[slot].log = NULL;
}

int engine_batch_n_live(const struct engine_batch *b)
{
    int n = 0;
    for (int s = 0; s < b->max_seqs; s++)
        n += b->seq[s].log != NULL;
    return n;
}

const float *engine_batch_logits(const struct engine_batch *b, int slot)
{
    if (slot < 0 || slot >= b->max_seqs || !b->seq[slot].log || !b->seq[slot].has_logits)
        return NULL;
    return b->seq[slot].logits;
}

/* Checks sequence s's unfed records before anything runs; returns how many, or -1. */
static int batch_pending(const struct engine_batch *b, int s, char *err, size_t errlen)
{
    const struct batch_seq *q = &b->seq[s];
    const struct engine *e = b->e;
    const size_t fed = (size_t)q->n_past;
    if (fed >= q->log->n) {
        snprintf(err, errlen, "sequence %d has nothing to feed (%zu records, all fed)", s,
                 q->log->n);
        return -1;
    }
    const size_t n = q->log->n - fed;
    if ((size_t)q->n_past + n > (size_t)e->n_ctx) {
        snprintf(err, errlen, "sequence %d: the context is full (%d tokens)", s, e->n_ctx);
        return -1;
    }
    for (size_t i = fed; i < q->log->n; i++) {
        int32_t tk = q->log->tok[i].token;
        if (tk < 0 || tk >= e->m.hp.n_vocab) {
            snprintf(err, errlen, "sequence %d: token %d of record %zu is outside the "
                     "vocabulary (%d)", s, tk, i, e->m.hp.n_vocab);
            return -1;
        }
    }
    return (int)n;
}

/* Samples sequence s's next token from logits (copied: later passes overwrite them). */
static int batch_sample(struct engine_batch *b, int s, const float *logits, char *err,
                        size_t errlen)
{
    struct batch_seq *q = &b->seq[s];
    struct engine *e = b->e;
    memcpy(q->logits, logits, (size_t)e->m.hp.n_vocab * sizeof *q->logits);
    q->has_logits = true;
    return engine_push_sampled(e, q->log, q->smp, q->logits, q->hist, q->n_past, err,
                               errlen) < 0 ? -1 : 0;
}

/* Sequence s's prompt (n records) alone against its cache, then its first sample. */
static int batch_prefill(struct engine_batch *b, int s, int n, char *err, size_t errlen)
{
    struct batch_seq *q = &b->seq[s];
    struct engine *e = b->e;
    const size_t start = (size_t)q->n_past;
    const int pos0 = q->n_past;
    for (int i = 0; i < n; i++)
        q->hist[pos0 + i] = q->log->tok[start + (size_t)i].token;
    if (engine_feed(e, s + 1, q->hist + pos0, pos0, q->log, start, n, err, errlen) != 0)
        return -1;
    q->n_past = pos0 + n;
    return batch_sample(b, s, fwd_logits(e->fwd), err, errlen);
}

/* The distinct experts each MoE layer ran in the pass's n rows, summed over the layers. */
static void batch_count_experts(struct engine_batch *b, int n, struct engine_batch_step *st)
{
    const struct engine *e = b->e;
    const int nl = e->m.hp.n_layers, ne = e->m.hp.n_experts;
    st->experts_distinct = 0;
    st->n_moe_layers = 0;
    for (int il = 0; il < nl && ne > 0; il++) {
        if (!e->m.layers[il].moe)
            continue;
        st->n_moe_layers++;
        memset(b->seen, 0, (size_t)ne);
        for (int r = 0; r < n; r++) {
            const struct trace_layer *tl = &b->layers[(size_t)r * (size_t)nl + (size_t)il];
            for (int j = 0; j < tl->n; j++)
                if (tl->experts[j] < ne && !b->seen[tl->experts[j]]) {
                    b->seen[tl->experts[j]] = 1;
                    st->experts_distinct++;
                }
        }
    }
    const struct model_desc *d = &e->desc;
    const uint64_t routed_one = (uint64_t)st->n_moe_layers * (uint64_t)d->n_experts_used *
                                d->expert_bytes;
    const uint64_t rest = d->active_bytes > routed_one ? d->active_bytes - routed_one : 0;
    st->bytes_read = rest + (uint64_t)st->experts_distinct * d->expert_bytes;
}

/* Every sequence with one new record, in one pass; then their samples. */
static int batch_decode(struct engine_batch *b, int n, struct engine_batch_step *st,
                        char *err, size_t errlen)
{
    struct engine *e = b->e;
    const int nl = e->m.hp.n_layers;
    for (int r = 0; r < n; r++) {
        struct batch_seq *q = &b->seq[b->row_seq[r]];
        b->row_kv[r] = b->row_seq[r] + 1;
        b->row_pos[r] = q->n_past;
        b->row_tok[r] = q->log->tok[q->n_past].token;
        q->hist[q->n_past] = b->row_tok[r];
    }
    struct fwd_out out = { .layers = e->trace ? b->layers : NULL };
    struct fault_sample f0 = { 0 }, f1 = { 0 };
    if (e->trace)
        faults_sample(e->pool, &f0);
    uint64_t t0 = clock_now_ns();
    if (fwd_eval_rows(e->fwd, b->row_kv, b->row_tok, b->row_pos, n, &out) != 0) {
        snprintf(err, errlen, "cannot evaluate a batch of %d sequences", n);
        return -1;
    }
    uint64_t total = clock_now_ns() - t0;
    if (e->trace) {
        faults_sample(e->pool, &f1);
        batch_count_experts(b, n, st);
        if (e->mem_limit)
            mem_limit_touch(e->mem_limit, b->layers, (size_t)n, nl);
    }
    st->ns_batched = total;
    engine_fold_untimed(out.ns, total);
    memcpy(st->ns_phase, out.ns, sizeof st->ns_phase);
    for (int r = 0; r < n; r++) {
        struct batch_seq *q = &b->seq[b->row_seq[r]];
        const size_t i = (size_t)q->n_past;
        engine_mark_fed(&q->log->tok[i], q->n_past, total, e->trace ? out.ns : NULL, &f0, &f1,
                        n, r);
        if (e->trace)
            memcpy(trace_layers(q->log, i), b->layers + (size_t)r * (size_t)nl,
                   (size_t)nl * sizeof *b->layers);
        trace_log_touch(q->log);
        q->n_past++;
    }
    for (int r = 0; r < n; r++)
        if (batch_sample(b, b->row_seq[r], fwd_logits_row(e->fwd, r), err, errlen) != 0)
            return -1;
    return 0;
}

int engine_batch_step(struct engine_batch *b, struct engine_batch_step *st, char *err,
                      size_t errlen)
{
    struct engine_batch_step local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    struct engine *e = b->e;
    if (engine_file_changed(e, err, errlen))
        return -1;
    int pending[BATCH_MAX_SEQS], n_rows = 0;
    for (int s = 0; s < b->max_seqs; s++) {
        pending[s] = 0;
        if (!b->seq[s].log)
            continue;
        if ((pending[s] = batch_pending(b, s, err, errlen)) < 0)
            return -1;
        /* one record after a prompt: a decode row (a one-record prompt is one too) */
        if (pending[s] == 1)
            b->row_seq[n_rows++] = s;
    }
    const uint64_t t0 = clock_now_ns();
    if (n_rows && batch_decode(b, n_rows, st, err, errlen) != 0)
        return -1;
    st->ns_decode = n_rows ? clock_now_ns() - t0 : 0;
    st->n_decoded = n_rows;
    for (int s = 0; s < b->max_seqs; s++) {
        if (pending[s] < 2)
            continue;
        if (batch_prefill(b, s, pending[s], err, errlen) != 0)
            return -1;
        st->n_prefilled++;
    }
    return engine_file_changed(e, err, errlen) ? -1 : 0;
}
