/* engine/engine_impl.h: the engine handle's insides, shared by engine.c (one sequence) and
 * engine_batch.c (several sequences on the same model, pool and forward pass). Internal:
 * the front ends see engine.h only. */
#ifndef MOESCOPE_ENGINE_IMPL_H
#define MOESCOPE_ENGINE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "faults.h"
#include "forward.h"
#include "mem_limit.h"
#include "model.h"
#include "sampler.h"
#include "threads.h"
#include "tokenizer.h"

struct engine {
    struct model m;
    struct model_desc desc;
    struct thread_pool *pool;
    struct fwd *fwd;     /* its KV cache 0 is this sequence's; an engine_batch adds more */
    struct tokenizer *tok;
    struct sampler *smp;
    bool trace;
    int n_ctx;
    int n_past;          /* positions already in the KV cache */
    bool has_logits;     /* fwd_logits() belongs to position n_past - 1 */
    int32_t *hist;       /* (n_ctx) the tokens at each position */
    /* The records fed, after context shifts: records [0, kept) sit at their own positions,
     * records [kept, kept + n_dropped) were dropped, and record i after them sits at
     * position i - n_dropped. With no shift since the last rewind n_dropped is 0. */
    bool shift;          /* context shift on */
    int n_keep;          /* positions the next shift keeps (engine_set_context_shift) */
    int kept;            /* positions the shifts since the last rewind kept */
    size_t n_dropped;    /* records dropped by shifts since the last rewind */
    bool batch_open;     /* an engine_batch uses the forward pass's other caches */
    struct mem_limit *mem_limit; /* NULL: no emulated memory limit */
};

/* Whether the model file was truncated or rewritten while mapped; sets err when it was. */
bool engine_file_changed(const struct engine *e, char *err, size_t errlen);
/* Record i's share of a count over n records: the remainder goes to the first ones, so the
 * shares add up to the count. */
uint64_t engine_share(uint64_t count, int n, int i);
/* Adds the pass's time outside the timed phases (the layer loop between them, the file
 * check, a preemption in a gap) to "other", so that the phases add up to the pass. */
void engine_fold_untimed(uint64_t *ns, uint64_t ns_total);
/* Marks record r fed at pos: its pass time, its phases (NULL: zeros, the trace is off) and
 * its share (record i of n) of the fault counts between samples f0 and f1. */
void engine_mark_fed(struct trace_token *r, int pos, uint64_t ns_total, const uint64_t *ns,
                     const struct fault_sample *f0, const struct fault_sample *f1, int n, int i);
/* Evaluates records [start, start + n) of log, whose tokens are tokens[0..n), at positions
 * pos0.. of KV cache kv, and marks them fed (their layers when the trace is on, their
 * shares of the pass's time and faults; no shift). Returns 0, or -1 with err set. */
int engine_feed(struct engine *e, int kv, const int32_t *tokens, int pos0,
                struct trace_log *log, size_t start, int n, char *err, size_t errlen);
/* Samples the next token from logits with smp (history hist[0..n_past)), appends its record
 * to log and returns its index, or -1 with err set. */
long engine_push_sampled(struct engine *e, struct trace_log *log, struct sampler *smp,
                         const float *logits, const int32_t *hist, int n_past, char *err,
                         size_t errlen);

#endif
