/* engine/engine.h: the MoE engine as an opaque handle: open, eval, sample, close.
 *
 * The engine never prints, never exits and never touches the terminal. Errors come back as
 * -1 (or NULL) with a one-line message in the caller's buffer. It is not thread-safe: one
 * thread drives one engine (the tui runs it on a worker thread). Records go into the
 * caller's trace_log (trace.h). */
#ifndef MOESCOPE_ENGINE_H
#define MOESCOPE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

struct engine;

/* What `moescope info` prints and the status bar shows: the model's shape, read from the
 * GGUF's metadata and tensor table. */
struct model_desc {
    char arch[32];            /* general.architecture, e.g. "qwen2moe" */
    char name[128];           /* general.name, or the file name */
    char path[1024];
    uint64_t file_size;              /* every part's bytes, for a split model */
    int n_files;                     /* the parts of a split model (1: one file) */
    uint32_t gguf_version;
    int n_layers, d_model, n_heads, n_kv_heads, head_dim;
    int n_ctx_train;
    int n_experts, n_experts_used;   /* 0 and 0 for a dense model */
    int d_ff;                        /* dense FFN size (0 when every layer is MoE) */
    int d_ff_expert;                 /* one expert's FFN size */
    int n_shared_experts, d_ff_shared;
    int n_dense_lead;                /* leading dense layers before MoE ones */
    int n_vocab;
    float rope_base, rope_scale;
    bool rope_neox;                  /* NeoX-style (halves) rather than interleaved pairs */
    float norm_eps;
    bool qk_norm, qkv_bias;
    char router[16];                 /* "softmax", "sigmoid" or "top-k softmax" (gpt-oss) */
    bool router_renorm;              /* top-k weights renormalised to sum to 1 */
    char tokenizer[16];              /* "spm" or "bpe" */
    char pretokenizer[32];           /* tokenizer.ggml.pre */
    char chat_family[16];            /* "chatml", ... or "" when none is recognised */
    char chat_style[24];             /* the family's variant the template is ("deepseek3"), or "" */
    uint32_t tensors_per_type[64];   /* count of tensors by ggml type id */
    uint64_t n_params;               /* every weight in the file */
    uint64_t n_active_params;        /* weights one decode step uses (k of n experts) */
    uint64_t active_bytes;           /* bytes one decode step must read */
    /* Bytes of one routed expert in one MoE layer (its gate, up and down slices): the mean
     * over the MoE layers, exact when they share their types; 0 for a dense model. What an
     * expert cache holds per slot (moescope analyze). */
    uint64_t expert_bytes;
    /* The KV cache (F16, as llama.cpp keeps it): bytes one token adds over all layers, and
     * what a plain multi-head cache of the same heads would take (they differ for latent
     * attention, which caches kv_lora_rank + RoPE dims per token and layer). */
    uint64_t kv_bytes_per_token, kv_bytes_per_token_plain;
    int kv_lora_rank, q_lora_rank;   /* latent attention's ranks (0: not latent) */
};

struct sampler_params {
    float temp;               /* 0 = greedy */
    int top_k;                /* 0 = off */
    float top_p;              /* 1 = off */
    float min_p;              /* 0 = off */
    float repeat_penalty;     /* 1 = off */
    int repeat_last_n;        /* window for the penalty */
    uint64_t seed;
};
void sampler_params_default(struct sampler_params *p);

struct engine_params {
    const char *model_path;
    int n_threads;            /* 0 = the number of cores */
    int n_ctx;                /* 0 = the model's trained context, capped at 4096 */
    struct sampler_params sampler;
    bool trace;               /* fill routing and timing in records (off: bench's baseline) */
    bool prewarm;             /* read every expert once before the first token */
    bool mlock;               /* pin the model in memory */
    bool context_shift;       /* go on past a full context (engine_set_context_shift) */
    /* Emulates a machine with this many bytes of RAM for the model (0: off; needs the
     * trace): the non-expert weights stay, the least recently used experts beyond the rest
     * are dropped from memory (the map and the page cache) after each pass, so using them
     * again reads storage (engine/mem_limit.h). Without prewarm every expert starts out of
     * memory (a cold start from storage); with it, in memory. */
    uint64_t mem_limit;
    int n_keep;               /* with context_shift: positions always kept */
};
void engine_params_default(struct engine_params *p);

/* Opens the model (and only reads it: weights stay in the mmap). */
struct engine *engine_open(const struct engine_params *p, char *err, size_t errlen);
void engine_close(struct engine *e);

/* Fills a model description without building an engine (what `info` uses). */
int model_describe(const char *path, struct model_desc *d, char *err, size_t errlen);
/* What any readable GGUF (or split set) says of itself, whether or not moescope can run it:
 * its architecture as written, the file, the tensor types and parameter count, and the
 * hyper-parameters its keys give (0 where absent; nothing derived from a binding: no active
 * bytes, KV sizes or router). -1 with err set when it is not a readable GGUF. */
int model_describe_file(const char *path, struct model_desc *d, char *err, size_t errlen);
const struct model_desc *engine_desc(const struct engine *e);
int engine_n_ctx(const struct engine *e);

/* Tokenization. Returns the count written (at most max), or -1 with err set. add_bos follows
 * the model's rule when true; parse_special turns special-token text into its ids. */
int engine_tokenize(struct engine *e, const char *text, size_t len, bool add_bos,
                    bool parse_special, int32_t *out, int max, char *err, size_t errlen);
/* The bytes of one token's piece (as the detokenizer emits them). */
size_t engine_token_piece(const struct engine *e, int32_t token, char *buf, size_t buflen);
bool engine_token_is_eog(const struct engine *e, int32_t token);

/* Runs every record of log the engine has not fed yet (from its last record on to log->n)
 * through the model (prompt batches at once), filling their layers, times and positions.
 * The log must be the one the engine has been fed, grown at its end. Returns 0, or -1 with
 * err set (a context full with the shift off, a bad token). */
int engine_eval(struct engine *e, struct trace_log *log, char *err, size_t errlen);
/* The context shift, as llama-cli's: when the records to feed do not fit, engine_eval keeps
 * the first n_keep positions, drops the oldest half of the rest (more if the new records
 * need it), and evaluates the kept tail again at its new positions before it feeds the new
 * records. Nothing is rotated in the cache: every number is what the model computes for the
 * context it now has. The first record fed after a shift carries shift_dropped and
 * ns_shift (trace.h). on = false: engine_eval fails when the context is full. */
void engine_set_context_shift(struct engine *e, bool on, int n_keep);
/* Positions in the context now (the KV cache's fill), and records the engine has fed. */
int engine_n_past(const struct engine *e);
size_t engine_n_fed(const struct engine *e);
/* Samples the next token from the last logits, appends its record (logprob, top) and
 * returns its index in the log, or -1 with err set. */
long engine_sample(struct engine *e, struct trace_log *log, char *err, size_t errlen);
/* Forgets what the engine computed for log records from n on (regenerate, or a new
 * conversation with n = 0); the next eval feeds from record n. When a shift had dropped
 * records before n, the context restarts after the kept ones and the next eval feeds
 * those records again (shifting again if they do not fit). */
void engine_rewind(struct engine *e, int n);
/* Updates the sampler between replies. */
void engine_set_sampler(struct engine *e, const struct sampler_params *p);
/* Turns the trace's routing and timing on or off between evals (what engine_params.trace
 * sets at open; bench alternates the two on one engine to measure the trace's cost). */
void engine_set_trace(struct engine *e, bool on);

/* A ggml tensor type's name as ggml spells it ("q4_K"), or "?" for an unknown id. */
const char *engine_type_name(uint32_t type);
/* Whether the engine can compute with weights of this type (a listing says why not). */
bool engine_type_computable(uint32_t type);

/* The logits of the last evaluated position (n_vocab floats), valid until the next eval. */
const float *engine_logits(const struct engine *e);
/* Under engine_params.mem_limit: bytes of experts used while out of memory (so read back
 * from storage) and bytes dropped, since the engine opened; zeros without a limit. */
void engine_mem_limit_counts(const struct engine *e, uint64_t *reloaded, uint64_t *evicted);

/* Several independent sequences decoded together on one engine (continuous batching).
 * Each sequence has its own log, KV cache, context and sampler; the engine's own sequence
 * (engine_eval) keeps its cache. A step evaluates what each live sequence has not fed - a
 * prompt alone (as engine_eval would), every sequence with one new token in ONE pass that
 * reads each weight once for all of them and each expert once for all rows routed to it -
 * then samples each sequence's next token into its log. Batching changes the timing only:
 * a sequence's records (tokens, experts, weights, logprobs) and logits are bit for bit
 * those of an engine running it alone with the same sampler settings (the `cold` flags
 * differ: an expert is cold once per engine, whichever sequence touches it first). A
 * decoded record's ns_total and phases are its whole pass's; faults are shared over the
 * pass's records. Sequences join and leave between steps. One batch per engine. */
struct engine_batch;
struct engine_batch_step {
    int n_decoded;               /* sequences in the step's batched pass (0: none) */
    int n_prefilled;             /* prompts evaluated alone in the step */
    uint64_t ns_batched;         /* wall time of the batched pass */
    uint64_t ns_decode;          /* wall time of the step's decode: the batched pass, its
                                  * records and the sequences' samples (no prompt) */
    uint64_t ns_phase[TRACE_PHASE_COUNT]; /* the batched pass's time by phase (trace.h) */
    /* The batched pass's weight reads (trace on; 0 otherwise): the distinct experts each MoE
     * layer ran, summed over the layers, and the bytes of weights the pass read (every
     * non-expert weight once, each distinct expert once: model_desc.expert_bytes each). */
    int experts_distinct, n_moe_layers;
    uint64_t bytes_read;
};
/* max_seqs: 1 to 64 sequences live at once (a KV cache of engine_n_ctx positions each). */
struct engine_batch *engine_batch_create(struct engine *e, int max_seqs, char *err,
                                         size_t errlen);
void engine_batch_free(struct engine_batch *b);
/* A sequence joins with log (its prompt records pushed, at least one; the log stays the
 * caller's and must outlive the sequence). Returns its slot (0 .. max_seqs-1), or -1 with
 * err set (every slot taken, an empty log, a prompt longer than the context). */
int engine_batch_join(struct engine_batch *b, struct trace_log *log,
                      const struct sampler_params *sp, char *err, size_t errlen);
void engine_batch_leave(struct engine_batch *b, int slot);
int engine_batch_n_live(const struct engine_batch *b);
/* One step (above). st may be NULL. Returns 0, or -1 with err set (a sequence's context is
 * full, nothing to feed: checked before anything is evaluated; the model file changed). */
int engine_batch_step(struct engine_batch *b, struct engine_batch_step *st, char *err,
                      size_t errlen);
/* The logits slot's last sample was drawn from (n_vocab floats), or NULL before its first
 * step; valid until the next step. */
const float *engine_batch_logits(const struct engine_batch *b, int slot);

#endif
