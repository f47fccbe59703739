/* engine/engine.c: the engine handle (engine.h): a model, its forward pass and KV cache, a
 * thread pool, the tokenizer and the sampler, and the bookkeeping between them and a
 * trace_log. */
#include "engine.h"
#include "engine_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "clock.h"
#include "faults.h"
#include "forward.h"
#include "model.h"
#include "quant.h"
#include "sampler.h"
#include "threads.h"
#include "tokenizer.h"

enum { ENGINE_MAX_CTX_DEFAULT = 4096 };

void engine_params_default(struct engine_params *p)
{
    memset(p, 0, sizeof *p);
    sampler_params_default(&p->sampler);
    p->trace = true;
}

/* Whether the model file was truncated or rewritten while mapped (gguf_changed): its weights
 * now read as zeros, so the step just taken is void and no later one is allowed. */
bool engine_file_changed(const struct engine *e, char *err, size_t errlen)
{
    if (!gguf_changed(&e->m.f))
        return false;
    snprintf(err, errlen, "%s: the file changed under us (truncated or rewritten while in "
             "use): generation stopped; open the model again", e->m.f.path);
    return true;
}

/* Reads one byte per page of every tensor so the first token does not pay the faults. */
static void engine_prewarm(const struct model *m)
{
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < m->f.n_tensors; i++) {
        const struct gguf_tensor *t = &m->f.tensors[i];
        const uint8_t *p = t->data;
        for (uint64_t o = 0; o < t->nbytes; o += 4096)
            sink ^= p[o];
    }
    (void)sink;
}

struct engine *engine_open(const struct engine_params *p, char *err, size_t errlen)
{
    struct engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (model_open(&e->m, p->model_path, err, errlen)) {
        free(e);
        return NULL;
    }
    model_fill_desc(&e->m, &e->desc);
    const int train = e->m.hp.n_ctx_train;
    int n_ctx = p->n_ctx > 0 ? p->n_ctx
                             : (train < ENGINE_MAX_CTX_DEFAULT ? train : ENGINE_MAX_CTX_DEFAULT);
    if (n_ctx > train)
        n_ctx = train;
    e->n_ctx = n_ctx;
    e->trace = p->trace;
    engine_set_context_shift(e, p->context_shift, p->n_keep);
    int nt = p->n_threads > 0 ? p->n_threads : threads_cores();
    e->pool = threads_create(nt);
    e->hist = malloc((size_t)n_ctx * sizeof *e->hist);
    if (!e->pool || !e->hist) {
        snprintf(err, errlen, "%s: out of memory", p->model_path);
        goto fail;
    }
    e->fwd = fwd_create(&e->m, n_ctx, e->pool, err, errlen);
    if (!e->fwd)
        goto fail;
    e->tok = tokenizer_load(&e->m.f, err, errlen);
    if (!e->tok)
        goto fail;
    if (tokenizer_n_vocab(e->tok) > e->m.hp.n_vocab) {
        snprintf(err, errlen, "%s: the vocabulary has %d tokens but token_embd.weight only %d rows",
                 p->model_path, tokenizer_n_vocab(e->tok), e->m.hp.n_vocab);
        goto fail;
    }
    e->smp = sampler_create(&p->sampler);
    if (!e->smp) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* every part of a split model */
    for (uint32_t i = 0; p->mlock && i < (e->m.f.split_count > 1 ? e->m.f.split_count : 1); i++) {
        const struct gguf_file *part = i ? &e->m.f.split_parts[i - 1] : &e->m.f;
        if (mlock(part->base, part->size) != 0) {
            snprintf(err, errlen, "%s: cannot lock %llu bytes in memory (ulimit -l?)",
                     part->path, (unsigned long long)part->size);
            goto fail;
        }
    }
    if (p->prewarm) {
        engine_prewarm(&e->m);
        fwd_mark_warm(e->fwd); /* no expert's first use will fault its pages in */
    }
    if (p->mem_limit) {
        if (!p->trace) {
            snprintf(err, errlen, "%s: the memory limit follows the routing: it needs the "
                     "trace on", p->model_path);
            goto fail;
        }
        e->mem_limit = mem_limit_create(&e->m, p->mem_limit, !p->prewarm, err, errlen);
        if (!e->mem_limit)
            goto fail;
    }
    if (engine_file_changed(e, err, errlen))
        goto fail;
    return e;
fail:
    engine_close(e);
    return NULL;
}

void engine_close(struct engine *e)
{
    if (!e)
        return;
    mem_limit_free(e->mem_limit);
    sampler_free(e->smp);
    tokenizer_free(e->tok);
    fwd_free(e->fwd);
    threads_free(e->pool);
    free(e->hist);
    model_close(&e->m);
    free(e);
}

const struct model_desc *engine_desc(const struct engine *e)
{
    return &e->desc;
}

int engine_n_ctx(const struct engine *e)
{
    return e->n_ctx;
}

int engine_tokenize(struct engine *e, const char *text, size_t len, bool add_bos,
                    bool parse_special, int32_t *out, int max, char *err, size_t errlen)
{
    /* A text far too long for max is refused from its length alone: tokenizing 50 MB to
     * find that out took seconds and a gigabyte. */
    if (max >= 0 && len / 4 > (size_t)max) {
        size_t at_least = len / tokenizer_longest_piece(e->tok);
        if (at_least > (size_t)max) {
            snprintf(err, errlen, "the text is %zu bytes, at least %zu tokens, more than the %d "
                     "allowed", len, at_least, max);
            return -1;
        }
    }
    int n = tokenizer_encode(e->tok, text, len, add_bos, parse_special, out, max);
    if (n == INT32_MIN) {
        snprintf(err, errlen, "out of memory while tokenizing");
        return -1;
    }
    if (n < 0) {
        snprintf(err, errlen, "the text is %d tokens, more than the %d allowed", -n, max);
        return -1;
    }
    return n;
}

size_t engine_token_piece(const struct engine *e, int32_t token, char *buf, size_t buflen)
{
    return tokenizer_piece(e->tok, token, buf, buflen);
}

bool engine_token_is_eog(const struct engine *e, int32_t token)
{
    return tokenizer_is_eog(e->tok, token);
}

void engine_set_context_shift(struct engine *e, bool on, int n_keep)
{
    e->shift = on;
    e->n_keep = n_keep < 0 ? 0 : n_keep;
}

int engine_n_past(const struct engine *e)
{
    return e->n_past;
}

size_t engine_n_fed(const struct engine *e)
{
    return (size_t)e->n_past + e->n_dropped;
}

/* Makes room for n more positions: keeps n_keep, drops the oldest half of the rest (or more
 * when n needs it) and evaluates what is left after them again at its new positions.
 * Returns the positions dropped (0 when nothing had to go), or -1 with err set. */
static long engine_shift(struct engine *e, int n, uint64_t *ns, char *err, size_t errlen)
{
    *ns = 0;
    if (e->n_past + n <= e->n_ctx)
        return 0;
    /* Later shifts keep what the first one kept, so the dropped records stay one range. */
    int keep = e->n_dropped ? e->kept : e->n_keep < e->n_past ? e->n_keep : e->n_past;
    if (!e->shift || keep + n > e->n_ctx) {
        if (!e->shift)
            snprintf(err, errlen, "the context is full (%d tokens)", e->n_ctx);
        else
            snprintf(err, errlen, "the context is full (%d tokens): %d new ones do not fit "
                     "beside the %d kept", e->n_ctx, n, keep);
        return -1;
    }
    int left = e->n_past - keep, drop = left / 2;
    if (drop < e->n_past + n - e->n_ctx)
        drop = e->n_past + n - e->n_ctx;
    int tail = left - drop;
    memmove(e->hist + keep, e->hist + keep + drop, (size_t)tail * sizeof *e->hist);
    e->n_past = keep;
    e->kept = keep;
    e->n_dropped += (size_t)drop;
    e->has_logits = false;
    if (tail > 0) {
        struct fwd_out out = { 0 };
        uint64_t t0 = clock_now_ns();
        if (fwd_eval(e->fwd, e->hist + keep, tail, keep, &out)) {
            snprintf(err, errlen, "cannot evaluate positions %d..%d again after a context "
                     "shift", keep, keep + tail - 1);
            return -1;
        }
        *ns = clock_now_ns() - t0;
        e->n_past = keep + tail;
    }
    return drop;
}

uint64_t engine_share(uint64_t count, int n, int i)
{
    return count / (uint64_t)n + ((uint64_t)i < count % (uint64_t)n);
}

void engine_mark_fed(struct trace_token *r, int pos, uint64_t ns_total, const uint64_t *ns,
                     const struct fault_sample *f0, const struct fault_sample *f1, int n, int i)
{
    r->fed = true;
    r->pos = pos;
    r->ns_total = ns_total;
    for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
        r->ns[ph] = ns ? ns[ph] : 0;
    /* counts shared so that the records add up to the pass's */
    r->faults_minor = (uint32_t)engine_share(f1->minor - f0->minor, n, i);
    r->faults_major = (uint32_t)engine_share(f1->major - f0->major, n, i);
    r->ns_kernel = engine_share(f1->ns_kernel - f0->ns_kernel, n, i);
    r->preempted = (uint32_t)engine_share(f1->preempted - f0->preempted, n, i);
}

void engine_fold_untimed(uint64_t *ns, uint64_t ns_total)
{
    uint64_t timed = 0;
    for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
        timed += ns[ph];
    if (ns_total > timed)
        ns[TRACE_OTHER] += ns_total - timed;
}

int engine_feed(struct engine *e, int kv, const int32_t *tokens, int pos0,
                struct trace_log *log, size_t start, int n, char *err, size_t errlen)
{
    struct fwd_out out = { .layers = e->trace ? trace_layers(log, start) : NULL };
    struct fault_sample f0 = { 0 }, f1 = { 0 };
    if (e->trace)
        faults_sample(e->pool, &f0);
    uint64_t t0 = clock_now_ns();
    if (fwd_eval_kv(e->fwd, kv, tokens, n, pos0, &out)) {
        snprintf(err, errlen, "cannot evaluate positions %d..%d", pos0, pos0 + n - 1);
        return -1;
    }
    if (engine_file_changed(e, err, errlen))
        return -1;
    uint64_t total = clock_now_ns() - t0;
    if (e->trace)
        faults_sample(e->pool, &f1);
    engine_fold_untimed(out.ns, total);
    uint64_t ns[TRACE_PHASE_COUNT];
    for (int ph = 0; ph < TRACE_PHASE_COUNT; ph++)
        ns[ph] = out.ns[ph] / (uint64_t)n;
    for (int i = 0; i < n; i++) {
        struct trace_token *r = &log->tok[start + (size_t)i];
        engine_mark_fed(r, pos0 + i, total / (uint64_t)n, e->trace ? ns : NULL, &f0, &f1, n, i);
        r->shift_dropped = 0;
        r->ns_shift = 0;
    }
    if (e->mem_limit && e->trace)
        mem_limit_touch(e->mem_limit, trace_layers(log, start), (size_t)n, log->n_layers);
    trace_log_touch(log);
    return 0;
}

int engine_eval(struct engine *e, struct trace_log *log, char *err, size_t errlen)
{
    const size_t start = engine_n_fed(e);
    if (start > log->n) {
        snprintf(err, errlen, "the log has %zu records but the engine has fed %zu", log->n,
                 start);
        return -1;
    }
    if (engine_file_changed(e, err, errlen))
        return -1;
    if (log->n - start > (size_t)e->n_ctx) {
        snprintf(err, errlen, "%zu tokens to feed at once, more than the context holds (%d)",
                 log->n - start, e->n_ctx);
        return -1;
    }
    const int n = (int)(log->n - start);
    if (n == 0)
        return 0;
    if (log->n_layers != e->m.hp.n_layers) {
        snprintf(err, errlen, "the log has %d layers, the model %d", log->n_layers,
                 e->m.hp.n_layers);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        int32_t tk = log->tok[start + (size_t)i].token;
        if (tk < 0 || tk >= e->m.hp.n_vocab) {
            snprintf(err, errlen, "token %d of record %zu is outside the vocabulary (%d)",
                     tk, start + (size_t)i, e->m.hp.n_vocab);
            return -1;
        }
    }
    uint64_t ns_shift;
    long dropped = engine_shift(e, n, &ns_shift, err, errlen);
    if (dropped < 0)
        return -1;
    const int pos0 = e->n_past;
    for (int i = 0; i < n; i++)
        e->hist[pos0 + i] = log->tok[start + (size_t)i].token;
    if (engine_feed(e, 0, e->hist + pos0, pos0, log, start, n, err, errlen) != 0) {
        e->has_logits = false;
        return -1;
    }
    log->tok[start].shift_dropped = (uint32_t)dropped;
    log->tok[start].ns_shift = ns_shift;
    trace_log_touch(log);
    e->n_past = pos0 + n;
    e->has_logits = true;
    return 0;
}

long engine_sample(struct engine *e, struct trace_log *log, char *err, size_t errlen)
{
    if (engine_file_changed(e, err, errlen))
        return -1;
    if (!e->has_logits || engine_n_fed(e) != log->n) {
        snprintf(err, errlen, "nothing to sample from: evaluate the log first");
        return -1;
    }
    return engine_push_sampled(e, log, e->smp, fwd_logits(e->fwd), e->hist, e->n_past, err,
                               errlen);
}

long engine_push_sampled(struct engine *e, struct trace_log *log, struct sampler *smp,
                         const float *logits, const int32_t *hist, int n_past, char *err,
                         size_t errlen)
{
    struct trace_token rec;
    memset(&rec, 0, sizeof rec);
    int32_t tk = sampler_sample(smp, logits, e->m.hp.n_vocab, hist, n_past, &rec);
    if (tk < 0) {
        snprintf(err, errlen, "out of memory while sampling");
        return -1;
    }
    char piece[256];
    size_t len = tokenizer_piece(e->tok, tk, piece, sizeof piece);
    if (len > sizeof piece)
        len = sizeof piece;
    long idx = trace_log_push(log, tk, piece, len, false);
    if (idx < 0) {
        snprintf(err, errlen, "out of memory for the trace");
        return -1;
    }
    struct trace_token *r = &log->tok[idx];
    r->pos = n_past; /* where it goes when fed (a shift may move it) */
    r->sampled = true;
    r->logprob = rec.logprob;
    memcpy(r->top_id, rec.top_id, sizeof r->top_id);
    memcpy(r->top_logprob, rec.top_logprob, sizeof r->top_logprob);
    return idx;
}

void engine_rewind(struct engine *e, int n)
{
    size_t at = n < 0 ? 0 : (size_t)n;
    if (at >= engine_n_fed(e))
        return;
    if (e->n_dropped == 0 || at >= (size_t)e->kept + e->n_dropped) {
        e->n_past = (int)(at - e->n_dropped);  /* no shift, or inside the kept tail */
    } else {
        /* Some records before n are no longer in the cache: start again after the kept
         * ones, and let the next eval feed the rest once more. */
        e->n_past = at < (size_t)e->kept ? (int)at : e->kept;
        e->n_dropped = 0;
    }
    e->has_logits = false;
}

void engine_set_sampler(struct engine *e, const struct sampler_params *p)
{
    sampler_set_params(e->smp, p);
}

void engine_set_trace(struct engine *e, bool on)
{
    e->trace = on;
}

const float *engine_logits(const struct engine *e)
{
    return e->has_logits ? fwd_logits(e->fwd) : NULL;
}

void engine_mem_limit_counts(const struct engine *e, uint64_t *reloaded, uint64_t *evicted)
{
    *reloaded = *evicted = 0;
    if (e->mem_limit)
        mem_limit_counts(e->mem_limit, reloaded, evicted);
}

const char *engine_type_name(uint32_t type)
{
    const struct quant_traits *q = quant_traits(type);
    return q && q->name ? q->name : "?";
}

bool engine_type_computable(uint32_t type)
{
    return quant_traits(type) && quant_computable(type);
}
