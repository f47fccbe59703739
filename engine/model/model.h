/* engine/model/model.h: a GGUF model's hyper-parameters and its weights, bound by name.
 *
 * model_open() maps the file (engine/gguf), finds its architecture row (engine/arch),
 * reads the hyper-parameters and looks every tensor the row needs up by its llama.cpp name,
 * checking its shape against the hyper-parameters and its type against what the forward
 * pass can compute. A missing or wrong-shaped tensor is a one-line message naming the file
 * and the tensor. Weights stay in the mmap: a struct wt points into it and is valid until
 * model_close(). */
#ifndef MOESCOPE_MODEL_H
#define MOESCOPE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "engine.h"
#include "gguf.h"

struct wt {                    /* one weight tensor, in place in the map */
    const uint8_t *data;       /* NULL: the model has no such tensor */
    uint32_t type;             /* ggml type id */
    int64_t ne[3];             /* ne[0] = row length; ne[1] rows; ne[2] experts */
    size_t nb1;                /* bytes per row */
    size_t nb2;                /* bytes per ne[2] slice (one expert's matrix) */
};

struct hparams {
    int n_layers, d_model, n_head, n_kv_head, head_dim, n_rot;
    int n_ctx_train, n_vocab;
    int n_ff;                  /* dense FFN rows (dense layers) */
    int n_experts, n_experts_used;
    int n_ff_exp;              /* one expert's FFN rows */
    int n_ff_shexp;            /* the shared expert's FFN rows (0: none) */
    int n_shared_experts;      /* as the file counts them (dots1), 1 for qwen2moe, else 0 */
    int n_dense_lead;          /* leading dense layers before MoE ones */
    int n_nextn;               /* blocks after the n_layers that run (glm4moe's multi-token
                                * prediction): in the file, never computed */
    float rope_base, rope_freq_scale;
    float norm_eps;
    enum arch_router router;
    bool router_renorm;
    float expert_weights_scale; /* 0 or 1: none */
    float kq_scale;            /* attention scale: 1/sqrt(head_dim), granite's, or
                                * deepseek2's mscale^2/sqrt(head_dim) */
    int head_dim_v;            /* a head's value width (head_dim but for deepseek2) */
    int n_lora_q, n_lora_kv;   /* latent attention: query LoRA rank (0: none), KV latent */
    bool mla_absorbed;         /* latent attention with attn_k_b/attn_v_b: latent cache */
    /* YaRN (rope.scaling.type yarn): ext_factor 1, the magnitude factor handed to RoPE and
     * the correction dims, as llama.cpp's context and ggml_rope_yarn_corr_dims make them */
    float rope_ext_factor, rope_attn_factor, rope_corr_dims[2];
    float yarn_log_mul;        /* rope.scaling.yarn_log_multiplier (deepseek2: over 0.1) */
    int n_expert_groups, n_group_used; /* group-limited top-k (0: none) */
    int n_swa, swa_period;     /* sliding window (gpt-oss): layers il % swa_period <
                                * swa_period - 1 see the last n_swa positions (0: none) */
    float embedding_scale;     /* 0: none */
    float residual_scale;      /* 0: none */
    float logit_scale;         /* 0: none (logits are divided by it) */
};

struct layer {
    bool moe;                  /* routed experts (else a dense FFN) */
    struct wt t[AT_COUNT];     /* by role; the model-wide roles are unused here */
};

struct model {
    struct gguf_file f;
    const struct arch_info *arch;
    const char *key_arch;      /* the keys' prefix: the file's architecture (arch's name or
                                * alias) */
    bool ollama;               /* Ollama's 'gptoss' (engine/model/ollama.h) */
    void **owned;              /* (f.n_tensors) copies made at load (ollama.c), or NULL */
    struct hparams hp;
    struct wt tok_embd, output_norm, output; /* output may alias tok_embd (tied) */
    struct layer *layers;      /* (n_layers) */
};

int model_open(struct model *m, const char *path, char *err, size_t errlen);
/* The same over a GGUF already in memory (data must outlive m; name is for messages): the
 * fuzzer's way in to everything model_open checks after the file is read. */
int model_from_memory(struct model *m, const void *data, uint64_t size, const char *name,
                      char *err, size_t errlen);
void model_close(struct model *m);
/* Fills d from an open model (engine_desc and model_describe share it). */
void model_fill_desc(const struct model *m, struct model_desc *d);

#endif
