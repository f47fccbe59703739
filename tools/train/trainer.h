/* tools/train/trainer.h: a small MoE transformer that trains on bytes, in the Mixtral
 * layout (GGUF architecture `llama` with ffn_*_exps tensors), so that moescope and
 * llama.cpp load what it writes unchanged.
 *
 * The model: token embedding; per layer RMSNorm -> causal GQA attention with RoPE (llama's
 * "normal" pairs) -> residual, RMSNorm -> softmax router, top-k, weights renormalised ->
 * SwiGLU experts -> residual; final RMSNorm and an untied output matrix.
 *
 * Load balance: the Switch/Mixtral auxiliary loss, alpha * E * sum_e f_e * P_e (f_e the
 * share of token slots routed to e, P_e the mean router probability of e). Not DeepSeek-V3's
 * bias-based balancing: that adds a selection bias the Mixtral layout has no tensor for, so
 * llama.cpp would route differently from how the model was trained.
 *
 * All parameters live in one float block (and so do their gradients and Adam moments); a
 * table of named tensors views into it, and the same table writes the GGUF. */
#ifndef MOESCOPE_TRAIN_TRAINER_H
#define MOESCOPE_TRAIN_TRAINER_H

#include <stddef.h>
#include <stdint.h>

struct thread_pool;

enum { TRAIN_MAX_LAYERS = 16, TRAIN_MAX_TENSORS = 16 * 10 + 4, TRAIN_VOCAB = 257,
       TRAIN_EOS = 256 };

struct train_config {
    int n_layers, d_model, n_heads, n_kv_heads, head_dim;
    int n_experts, n_experts_used, d_ff;   /* d_ff: one expert's hidden size */
    int n_ctx;                              /* training sequence length */
    float rope_base, norm_eps;
    float aux_alpha;                        /* weight of the balance loss */
};

struct train_tensor {
    char name[48];
    int n_dims;
    int64_t ne[3];                          /* ggml order: ne[0] is the row length */
    size_t offset, size;                    /* floats, into the parameter block */
    int decay;                              /* AdamW weight decay applies (matrices) */
};

struct train_layer {                        /* views into the parameter block */
    float *attn_norm;                       /* (d) */
    float *wq, *wk, *wv, *wo;               /* (d, d) (kvd, d) (kvd, d) (d, d): [out][in] */
    float *ffn_norm;                        /* (d) */
    float *router;                          /* (E, d) */
    float *gate, *up;                       /* (E, ff, d) */
    float *down;                            /* (E, d, ff) */
};

struct train_model {
    struct train_config c;
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v; /* (n_params) each */
    struct train_tensor tensors[TRAIN_MAX_TENSORS];
    int n_tensors;
    float *tok_embd;                        /* (V, d) */
    struct train_layer layer[TRAIN_MAX_LAYERS];
    float *out_norm;                        /* (d) */
    float *output;                          /* (V, d) */
    struct train_acts *acts;                /* activations of the last forward */
    /* Residual dropout: a forward with targets drops this share of each attention and
     * expert output before it joins the residual stream (0: none; set it to 0 to evaluate).
     * dropout_rng draws the masks. */
    float dropout;
    uint64_t dropout_rng;
    struct thread_pool *pool;
};

int train_model_init(struct train_model *m, const struct train_config *c, uint64_t seed,
                     int n_threads, char *err, size_t errlen);
void train_model_free(struct train_model *m);

/* Forward over n_seq sequences of c.n_ctx tokens (tokens[n_seq * n_ctx]); with targets,
 * also the loss. Returns the mean cross-entropy (nats per token) or -1 on error; *aux gets
 * the balance loss when not NULL. logits_out (n_seq * n_ctx * V), when not NULL, gets the
 * logits. */
double train_forward(struct train_model *m, const int32_t *tokens, const int32_t *targets,
                     int n_seq, double *aux, float *logits_out);
/* Backward of the last forward (which must have had targets): fills m->grads (zeroed
 * first) with the gradient of cross-entropy + aux. */
void train_backward(struct train_model *m);
/* One AdamW step with gradient clipping at clip (global norm); returns the norm before
 * clipping. */
double train_adamw_step(struct train_model *m, float lr, float beta1, float beta2, float wd,
                        float clip, int step);
/* The experts the last forward chose at a layer: (n_tokens, k) ids, best first. */
const int32_t *train_last_routing(const struct train_model *m, int layer, int *n_tokens);

/* Starts from the weights of a GGUF this trainer wrote for the same shape (the context may
 * differ: it is not a weight). Returns 0, or -1 with err naming the file and tensor. */
int train_load_gguf(struct train_model *m, const char *path, char *err, size_t errlen);
/* Writes the model as GGUF (architecture llama with experts, byte-level vocabulary). */
int train_save_gguf(const struct train_model *m, const char *path, const char *name,
                    char *err, size_t errlen);

#endif
