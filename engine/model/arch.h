/* engine/model/arch.h: architectures as data.
 *
 * One row per GGUF `general.architecture` says how that family differs from the common
 * pre-norm decoder that engine/model/forward.c runs: attention features (QKV bias, QK-norm and
 * its width, RoPE pairing), the router (softmax or sigmoid, renormalised top-k, a
 * selection bias), the shared expert and its sigmoid gate, the granite scales, and which
 * tensors the family has. A dense model is the same row with no experts: the loader picks,
 * layer by layer, the dense FFN or the MoE tensors (mixtral is GGUF arch `llama` with
 * `ffn_*_exps`), and forward.c runs both through one SwiGLU routine.
 *
 * Everything here was checked against llama.cpp's graph builders (src/models/ and
 * llm_graph_context::build_moe_ffn) and llama_model_rope_type(); the row comments say
 * what each family does. Adding a family that only differs in these knobs is one row. */
#ifndef MOESCOPE_ARCH_H
#define MOESCOPE_ARCH_H

#include <stdbool.h>

enum arch_rope {
    ARCH_ROPE_NORM, /* adjacent pairs (x[2i], x[2i+1]): llama, granite */
    ARCH_ROPE_NEOX, /* halves (x[i], x[i + n_rot/2]): qwen2, qwen2moe, qwen3moe, olmoe */
};

enum arch_qk_norm {
    ARCH_QK_NORM_NONE,
    ARCH_QK_NORM_HEAD, /* RMSNorm over each head, weight (head_dim): qwen3moe */
    ARCH_QK_NORM_FULL, /* RMSNorm over all heads at once, weight (n_head*head_dim): olmoe */
};

enum arch_router {
    ARCH_ROUTER_SOFTMAX, /* probs = softmax(logits) over all experts */
    ARCH_ROUTER_SIGMOID, /* probs = sigmoid(logits) per expert */
    ARCH_ROUTER_SOFTMAX_WEIGHT, /* top-k on the logits, weights = softmax over the chosen
                                 * (gpt-oss) */
};

/* The tensors a layer (or the model) may have, by role. Names are llama.cpp's. */
enum arch_tensor {
    AT_TOKEN_EMBD,
    AT_OUTPUT_NORM,
    AT_OUTPUT,
    /* per layer from here on ("blk.%d."): */
    AT_ATTN_NORM,
    AT_ATTN_Q,
    AT_ATTN_K,
    AT_ATTN_V,
    AT_ATTN_OUT,
    AT_ATTN_Q_B,
    AT_ATTN_K_B,
    AT_ATTN_V_B,
    AT_ATTN_OUT_B,
    AT_ATTN_Q_NORM,
    AT_ATTN_K_NORM,
    AT_ATTN_SINKS,      /* gpt-oss: one learned logit per head in each softmax's denominator */
    /* latent attention (deepseek2): the query through a LoRA or straight (AT_ATTN_Q), the
     * compressed KV and its RoPE part in one projection, and the up-projection as one
     * attn_kv_b (legacy files) or as attn_k_b + attn_v_b (absorbed into the query / output) */
    AT_ATTN_Q_A,
    AT_ATTN_Q_A_NORM,
    AT_ATTN_Q_B_LORA,
    AT_ATTN_KV_A_MQA,
    AT_ATTN_KV_A_NORM,
    AT_ATTN_KV_B,
    AT_ATTN_K_B_MLA,
    AT_ATTN_V_B_MLA,
    AT_FFN_NORM,
    AT_ATTN_POST_NORM,  /* the FFN's input norm under glm4moe's and gpt-oss's name */
    AT_FFN_GATE,        /* dense FFN */
    AT_FFN_UP,
    AT_FFN_DOWN,
    AT_FFN_GATE_INP,    /* router */
    AT_FFN_GATE_INP_B,  /* router bias (gpt-oss) */
    AT_FFN_EXP_PROBS_B, /* selection bias added to probs before top-k only */
    AT_FFN_GATE_EXPS,
    AT_FFN_UP_EXPS,
    AT_FFN_DOWN_EXPS,
    AT_FFN_GATE_EXPS_B, /* per-expert biases (gpt-oss) */
    AT_FFN_UP_EXPS_B,
    AT_FFN_DOWN_EXPS_B,
    AT_FFN_GATE_INP_SHEXP, /* the shared expert's sigmoid gate, one row */
    AT_FFN_GATE_SHEXP,
    AT_FFN_UP_SHEXP,
    AT_FFN_DOWN_SHEXP,
    AT_COUNT
};
#define AT_FIRST_LAYER_TENSOR AT_ATTN_NORM

/* A tensor's dimensions, by what sets them. The loader turns each into a number from the
 * hyper-parameters and names them in messages ("d_model x n_ff_exp x n_experts"). */
enum arch_dim {
    AD_NONE = 0,  /* past the last dimension */
    AD_D_MODEL,
    AD_VOCAB,
    AD_HEAD_DIM,
    AD_Q,         /* n_head*head_dim */
    AD_KV,        /* n_kv_head*head_dim */
    AD_Q_NORM,    /* the Q norm's width: head_dim or n_head*head_dim, by arch_qk_norm */
    AD_K_NORM,    /* the K norm's width: head_dim or n_kv_head*head_dim */
    AD_FF,        /* feed_forward_length */
    AD_EXPERTS,
    AD_FF_EXP,
    AD_FF_SHEXP,
    AD_O_IN,      /* n_head*head_dim_v: the attention output's width */
    AD_Q_LORA,    /* attention.q_lora_rank */
    AD_KV_LORA,   /* attention.kv_lora_rank */
    AD_KV_A,      /* kv_lora_rank + n_rot: the compressed KV and the shared RoPE key */
    AD_QK_NOPE,   /* head_dim - n_rot: a head's key dims without RoPE */
    AD_HEAD_V,    /* head_dim_v */
    AD_HEADS,     /* n_head */
    AD_KV_B,      /* n_head*(qk_nope + head_dim_v): attn_kv_b's rows */
    AD_COUNT
};

/* Where a role lives, which says when a layer looks it up. */
enum arch_kind {
    AK_MODEL,       /* once per model, not per layer */
    AK_LAYER,       /* every layer */
    AK_DENSE_FFN,   /* dense layers only */
    AK_MOE,         /* MoE layers only */
    AK_EXPERTS,     /* MoE layers only, one slice per expert: a decode step reads k of them */
    AK_SHARED,      /* MoE layers of a family that has the shared expert: required exactly
                     * when the file gives it a width (n_ff_shexp > 0) */
    AK_SHARED_GATE, /* the shared expert's gate: looked up only when there is one */
    AK_Q_PLAIN,     /* the query projection, unless the query goes through a LoRA */
    AK_Q_LORA,      /* the query LoRA: only when attention.q_lora_rank > 0 */
    AK_KV_JOINT,    /* latent attention's single up-projection (files without k_b/v_b) */
    AK_KV_SPLIT,    /* latent attention's k_b/v_b (files with key_length_mla) */
};

/* One row per role: its GGUF name ("%d" is the layer), kind and shape (innermost first). */
struct arch_role {
    const char *name;
    enum arch_kind kind;
    unsigned char shape[3]; /* enum arch_dim; AD_NONE past the last */
};

/* How much a family wants a tensor. Dense-FFN roles apply to dense layers only and
 * expert roles to MoE layers only; the loader decides which a layer is. */
enum arch_need {
    AN_NO = 0,  /* never looked up */
    AN_OPT,     /* used when present */
    AN_REQ,     /* missing is an error naming the file and the tensor */
};

struct arch_info {
    const char *name;            /* general.architecture */
    const char *alias;           /* another writer's name for the family (Ollama's "gptoss":
                                  * engine/model/ollama.c maps its names and layouts), or NULL */
    enum arch_rope rope;
    enum arch_qk_norm qk_norm;
    enum arch_router router;     /* default; "%s.expert_gating_func" overrides */
    bool router_renorm;          /* default; "%s.expert_weights_norm" overrides */
    bool ff_exp_div_k;           /* no expert_feed_forward_length: n_ff / k (qwen), else n_ff */
    bool shared_gate;            /* shared expert output times sigmoid(gate_inp_shexp . x) */
    bool granite_scales;         /* embedding, residual, attention and logit scales */
    bool output_tied_ok;         /* no output.weight: reuse token_embd */
    bool latent_attn;            /* deepseek2's multi-head latent attention (forward_mla) */
    bool swiglu_oai;             /* gpt-oss's clamped SwiGLU in the experts */
    bool last_layer_all_rows;    /* the last layer's FFN runs on every prompt row (gpt-oss's
                                  * graph drops the unneeded rows only after it) */
    unsigned char swa_period;    /* sliding window on layers il % period < period - 1 when
                                  * the file gives attention.sliding_window (0: never) */
    unsigned char need[AT_COUNT]; /* enum arch_need per role */
};

/* The row for an architecture name, or NULL when unknown. */
const struct arch_info *arch_find(const char *name);
/* Every row, for messages that list them ("qwen2moe, qwen3moe, ..."). */
int arch_count(void);
const struct arch_info *arch_at(int i);
/* The row of a role (t < AT_COUNT). */
const struct arch_role *arch_role(enum arch_tensor t);
/* The GGUF tensor name of a role: "blk.3.ffn_up_exps.weight". layer is ignored for the
 * model-wide roles. Returns buf. */
const char *arch_tensor_name(enum arch_tensor t, int layer, char *buf, unsigned buflen);
/* A role's shape in family a, the QK-norm widths resolved: fills dims[3] (AD_NONE past the
 * last) and returns the number of dimensions. */
int arch_role_shape(const struct arch_info *a, enum arch_tensor t, enum arch_dim dims[3]);
/* "d_model", "n_ff_exp", ... */
const char *arch_dim_name(enum arch_dim d);
const char *arch_rope_name(enum arch_rope r);

#endif
