/* engine/trace.h: the per-token trace record, the contract between engine, tui and sessions.
 *
 * A trace_log holds one record per position of a context, in order: prompt tokens (flagged)
 * and generated tokens. It is plain data with no pointers inside a record: a record's layers
 * are log->layer[i * n_layers .. (i+1) * n_layers), and its piece is the bytes
 * log->text[piece_off .. piece_off + piece_len). Aggregates (load, balance, percentiles,
 * TTFT) are computed from records by the readers, never stored.
 *
 * Life of a generated record: engine_sample() appends it with logprob and top alternatives;
 * engine_eval() later feeds it through the model and fills its layers and times (fed = 1).
 * The last generated token of a reply is never fed, so its layers stay empty (n = 0).
 *
 * After a context shift (engine.h) a record's index in the log and its position in the
 * context part: pos is where it was fed, and the first record fed after a shift says how
 * many positions that shift dropped and what re-evaluating the kept tail cost. */
#ifndef MOESCOPE_TRACE_H
#define MOESCOPE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { TRACE_MAX_K = 16, TRACE_TOP = 5 };

/* Where a forward pass spends its time; the names are the trace's JSON keys. */
enum trace_phase { TRACE_ATTN, TRACE_ROUTER, TRACE_EXPERTS, TRACE_OTHER, TRACE_PHASE_COUNT };
extern const char *const trace_phase_names[TRACE_PHASE_COUNT];

struct trace_layer {                   /* one layer's routing of one token */
    uint16_t experts[TRACE_MAX_K];     /* chosen expert ids, highest router score first */
    float weights[TRACE_MAX_K];        /* gate weights as applied to the expert outputs */
    float entropy;                     /* nats, over the router's full distribution */
    float top1_prob;                   /* router probability of experts[0] (before renorm) */
    uint16_t cold;                     /* bit i: experts[i] was touched for the first time */
    uint8_t n;                         /* experts used; 0 = dense layer or not computed */
};

struct trace_token {
    int32_t pos;                       /* position in the context */
    int32_t token;                     /* token id */
    uint32_t piece_off, piece_len;     /* the token's bytes in log->text (raw, maybe not UTF-8) */
    bool prompt;                       /* part of the input, not sampled */
    bool fed;                          /* has been through the model: layers and ns are set */
    bool sampled;                      /* logprob and top are set */
    float logprob;                     /* log-softmax of the raw logits for this token */
    int32_t top_id[TRACE_TOP];         /* the most likely tokens at this step, best first */
    float top_logprob[TRACE_TOP];
    uint64_t ns_total;                 /* wall time of the forward pass share for this token */
    uint64_t ns[TRACE_PHASE_COUNT];    /* split of ns_total; prompt tokens get their share */
    uint32_t shift_dropped;            /* a context shift dropped this many positions just
                                          before this record was fed (0: no shift here) */
    uint64_t ns_shift;                 /* what that shift cost (the kept tail evaluated
                                          again); not part of ns_total */
    /* What the pass cost the engine's threads in the kernel (engine/sys/faults.h: summed
     * per thread on Linux, the whole process elsewhere); prompt tokens get their share. */
    uint32_t faults_minor;             /* page faults served from memory (page cache) */
    uint32_t faults_major;             /* page faults that waited for storage */
    uint64_t ns_kernel;                /* kernel CPU time: page faults, as the pass makes no
                                          other system call than the pool's futex waits. The
                                          kernel splits user and system time by tick samples:
                                          sound summed over many tokens, coarse for one. A
                                          major fault's wait for storage is not CPU time and
                                          is not in it. */
    uint32_t preempted;                /* times an engine thread was taken off its core while
                                          it had work (involuntary context switches): the
                                          pass waited for it to run again */
    bool thinking;                     /* generated as a reasoning model's thinking (its
                                          markers included), not its answer (reasoning.h) */
    uint64_t ns_server;                /* a remote engine: the server's own time for this
                                          record, as it reports it (backend.h); beside
                                          ns_total, the client's, the difference is the
                                          network and the queue. 0: not reported */
};

struct trace_log {
    int n_layers, n_experts, n_experts_used; /* the model's shape, fixed at init */
    size_t n, cap;                     /* records used / allocated */
    struct trace_token *tok;           /* (cap) */
    struct trace_layer *layer;         /* (cap * n_layers) */
    char *text;                        /* piece bytes of all records */
    size_t text_len, text_cap;
    uint64_t rev;                      /* the state's number: see trace_log_touch */
};

int trace_log_init(struct trace_log *log, int n_layers, int n_experts, int n_experts_used);
void trace_log_free(struct trace_log *log);
/* Forgets every record but keeps the shape and the memory. */
void trace_log_clear(struct trace_log *log);
/* Appends a record (zeroed apart from token, pos = index, the piece and prompt). Returns its
 * index, or -1 when memory runs out. */
long trace_log_push(struct trace_log *log, int32_t token, const char *piece, size_t piece_len,
                    bool prompt);
/* Appends a full copy of record i of another log with the same shape (for queues/copies). */
long trace_log_copy_from(struct trace_log *dst, const struct trace_log *src, size_t i);
/* Drops records from index n on (regenerate, stop). */
void trace_log_truncate(struct trace_log *log, size_t n);
/* Gives log a new rev, a number no log of this process had before; every function above that
 * changes a log calls it, and code that writes records directly calls it when done. So
 * (log, rev) names one content, and an aggregate computed for it (trace_stats.h's
 * trace_speed_cache) stays valid while both are the same. */
void trace_log_touch(struct trace_log *log);

/* Which content of which log something was computed for: a cache keeps one and is fresh
 * while trace_stamp_fresh says so. A zeroed stamp is never fresh. */
struct trace_stamp {
    const struct trace_log *log;
    uint64_t rev;
};
static inline struct trace_stamp trace_stamp_of(const struct trace_log *log)
{
    return (struct trace_stamp){ log, log->rev };
}
static inline bool trace_stamp_fresh(struct trace_stamp s, const struct trace_log *log)
{
    return s.log == log && s.rev == log->rev && log->rev != 0;
}

static inline struct trace_layer *trace_layers(const struct trace_log *log, size_t i)
{
    return log->layer + i * (size_t)log->n_layers;
}
static inline const char *trace_piece(const struct trace_log *log, size_t i)
{
    return log->text + log->tok[i].piece_off;
}

/* Writes record i as one JSON line (the `run --trace` format, see the man page) into buf.
 * Returns the length, or the length it would need (like snprintf). */
size_t trace_json_line(const struct trace_log *log, size_t i, char *buf, size_t buflen);

#endif
