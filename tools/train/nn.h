/* tools/train/nn.h: the trainer's layers, forward and backward, written by hand.
 *
 * Every layer exists twice, from one source (nn_impl.h): in float for training (suffix _f)
 * and in double for the gradient checks (suffix _d), so the code that is checked against
 * finite differences is the code that trains. Kernels are single-threaded over the rows they
 * are given; the trainer splits rows across its thread pool. Backward functions ADD into
 * their gradient outputs (dX, dW, ...), so a caller zeroes them once per step.
 *
 * Layouts (row-major): activations X[n][d]; a linear layer's weight W[out][in], which is
 * ggml's layout for a tensor with ne0 = in, ne1 = out; attention tensors [t][head][hd]. */
#ifndef MOESCOPE_TRAIN_NN_H
#define MOESCOPE_TRAIN_NN_H

#include <stdint.h>

#define NN_DECLARE(T, S)                                                                   \
    /* Y[n][out] = X[n][in] . W[out][in]^T */                                              \
    void nn_linear_fwd_##S(T *Y, const T *X, const T *W, int n, int in, int out);         \
    /* dX[n][in] += dY . W  (dX may be NULL) */                                            \
    void nn_linear_bwd_x_##S(T *dX, const T *dY, const T *W, int n, int in, int out);     \
    /* dW[o][in] += sum_t dY[t][o] X[t], for o in [o0, o1) */                              \
    void nn_linear_bwd_w_##S(T *dW, const T *dY, const T *X, int n, int in, int out,      \
                             int o0, int o1);                                              \
    /* Y = X / rms(X) * g, per row; rstd[n] kept for backward */                           \
    void nn_rmsnorm_fwd_##S(T *Y, T *rstd, const T *X, const T *g, int n, int d, T eps);  \
    void nn_rmsnorm_bwd_##S(T *dX, T *dg, const T *dY, const T *X, const T *g,            \
                            const T *rstd, int n, int d);                                  \
    /* In-place rotation of pairs (2i, 2i+1) of each head by pos * base^(-2i/hd): the     \
     * "normal" RoPE of llama.cpp's llama architecture. inverse = 1 rotates back, which   \
     * is the backward pass of a rotation. */                                              \
    void nn_rope_##S(T *X, const int32_t *pos, int n, int n_head, int hd, T base,         \
                     int inverse);                                                         \
    /* Causal attention over one sequence of n tokens, GQA (head h reads kv head          \
     * h / (n_head / n_kv)). P[n_head][n][n] keeps the probabilities for backward. */     \
    void nn_attn_fwd_##S(T *O, T *P, const T *Q, const T *K, const T *V, int n,           \
                         int n_head, int n_kv, int hd);                                    \
    void nn_attn_bwd_##S(T *dQ, T *dK, T *dV, const T *dO, const T *P, const T *Q,        \
                         const T *K, const T *V, int n, int n_head, int n_kv, int hd);    \
    /* A[n][f] = silu(G) * U */                                                            \
    void nn_swiglu_fwd_##S(T *A, const T *G, const T *U, int64_t n);                      \
    void nn_swiglu_bwd_##S(T *dG, T *dU, const T *dA, const T *G, const T *U, int64_t n); \
    /* The router of one token: probs = softmax(logits[E]); idx/w = the k largest,        \
     * highest first, w renormalised to sum to 1 (Mixtral's rule). */                      \
    void nn_router_fwd_##S(T *probs, int32_t *idx, T *w, const T *logits, int E, int k);  \
    /* dlogits[E] += the gradient from dw[k] (through the renormalised top-k) and from    \
     * dprobs[E] (the balance loss's direct gradient on the probabilities; may be NULL). */\
    void nn_router_bwd_##S(T *dlogits, const T *dw, const T *dprobs, const T *probs,      \
                           const int32_t *idx, const T *w, int E, int k);                 \
    /* Mean cross-entropy of n rows of V logits against targets; dlogits = its gradient   \
     * (scaled by 1/n_total, so slices of a batch add up). Returns the summed loss. */    \
    double nn_xent_##S(T *dlogits, const T *logits, const int32_t *targets, int n, int V,  \
                       int n_total);

NN_DECLARE(float, f)
NN_DECLARE(double, d)

#endif
