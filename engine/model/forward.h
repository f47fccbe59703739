/* engine/model/forward.h: the forward pass: embeddings, attention over an F16 KV cache, the
 * router, the experts (or a dense FFN, the same code with one "expert" of weight 1), the
 * shared expert, and the logits.
 *
 * It follows llama.cpp's CPU graph step for step so that the numbers round the same way:
 * - every matrix-vector product first quantizes the activation row to the weight type's
 *   partner type (quant_traits(type)->vec_dot_type), then sums in the order of the kernel
 *   llama.cpp would pick: tinyBLAS (vec_dot_gemm) for a 2-D weight with a row count that is
 *   a multiple of 4 and two activation rows or more, the repacked order for q4_0, else the
 *   per-row vec_dot (always for the experts' mul_mat_id);
 * - K and V are stored as F16 (V transposed, as llama.cpp's cache without flash attention);
 *   Q is rounded to F16 for Q.K and the softmax probabilities are rounded to F16 before they
 *   weight V; the attended length is padded to 32 cells with probability 0;
 * - RMSNorm sums squares in double, then scales by 1/sqrtf(mean + eps), then multiplies by
 *   the weight; RoPE builds its sin/cos table by repeated multiplication by
 *   base^(-2/n_rot), as ggml_rope_cache_init does, and rotates with the first product fused
 *   (ggml's C++ is built with contraction);
 * - exp in the softmaxes and SwiGLU is ggml_v_expf (the AVX2 build's form) for whole groups
 *   of 8 values and the C library's expf for the rest, as ggml's vector code;
 * - routed expert outputs are scaled by their weights and added in descending-probability
 *   order, then the shared expert, then the residual;
 * - in a prompt batch the last layer's FFN runs on the last row alone, as llama.cpp keeps
 *   only the rows whose logits it returns.
 *
 * Memory: fwd_create() allocates every buffer (sized for FWD_BATCH tokens) and the KV cache
 * once; fwd_eval() allocates nothing. Weights are read in place from the model's map. */
#ifndef MOESCOPE_FORWARD_H
#define MOESCOPE_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "threads.h"
#include "trace.h"

enum { FWD_BATCH = 64 }; /* prompt tokens run through each weight matrix together */

struct fwd;

/* What one fwd_eval call reports. */
struct fwd_out {
    struct trace_layer *layers;  /* NULL, or (n * n_layers): routing of each token and layer */
    uint64_t ns[TRACE_PHASE_COUNT]; /* time spent per phase over the whole call */
};

struct fwd *fwd_create(const struct model *m, int n_ctx, struct thread_pool *pool,
                       char *err, size_t errlen);
void fwd_free(struct fwd *f);
int fwd_n_ctx(const struct fwd *f);

/* Runs tokens[0..n) at positions pos0.. through the model (pos0 + n <= n_ctx, the caller
 * checks). The KV cache rows at those positions are overwritten; rows past them are
 * ignored. Afterwards fwd_logits() holds the last token's logits. Returns 0, -1 on a bad
 * argument (token out of range). */
int fwd_eval(struct fwd *f, const int32_t *tokens, int n, int pos0, struct fwd_out *out);
const float *fwd_logits(const struct fwd *f);

/* Several sequences at once (continuous batching): each has a KV cache of its own (cache 0
 * is fwd_eval's), and one pass takes one new token of each.
 * fwd_reserve() makes n_kv caches (n_ctx positions each, zeroed) and room for the logits of
 * n_rows rows (<= FWD_BATCH); it allocates, fwd_eval_rows() does not. Returns 0, -1 when
 * memory runs out or an argument is out of range. */
int fwd_reserve(struct fwd *f, int n_kv, int n_rows);
int fwd_n_kv(const struct fwd *f);
/* fwd_eval against cache kv (a prompt, or one token, of one sequence). Logits: fwd_logits. */
int fwd_eval_kv(struct fwd *f, int kv, const int32_t *tokens, int n, int pos0,
                struct fwd_out *out);
/* One pass of n rows: row i is token tokens[i] at position pos[i] of the sequence in cache
 * kv[i] (distinct caches; each row attends to its own cache only). The weights are read
 * once for all rows - the experts of all rows grouped by expert - but every product is
 * summed in the order of a one-row pass (kernels.h gives each row the same arithmetic
 * whatever the number of rows), so row i's routing and logits are bit for bit what
 * fwd_eval_kv(kv[i], &tokens[i], 1, pos[i]) gives. out->layers: NULL, or (n * n_layers)
 * records, row after row. Afterwards fwd_logits_row(i) holds row i's logits. Returns 0, -1
 * on a bad argument (n above fwd_reserve's n_rows, a token, position or cache out of range,
 * a cache twice). */
int fwd_eval_rows(struct fwd *f, const int *kv, const int32_t *tokens, const int *pos, int n,
                  struct fwd_out *out);
const float *fwd_logits_row(const struct fwd *f, int i);
/* Marks every expert as used before, so that no trace record calls one cold (after the
 * engine has read the whole model in, --prewarm). */
void fwd_mark_warm(struct fwd *f);

#endif
