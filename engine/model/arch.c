/* engine/model/arch.c: the architecture table (see arch.h). */
#include "arch.h"

#include <stdio.h>
#include <string.h>

/* The roles: names as llama.cpp's LLM_TENSOR_NAMES spell them, where each lives and its
 * shape, as llama.cpp's loader creates it. Adding a role is one row here (and its need in
 * the families that have it). */
#define R(kind, d0, d1, d2) AK_##kind, { AD_##d0, AD_##d1, AD_##d2 }
static const struct arch_role roles[AT_COUNT] = {
    [AT_TOKEN_EMBD] = { "token_embd.weight", R(MODEL, D_MODEL, VOCAB, NONE) },
    [AT_OUTPUT_NORM] = { "output_norm.weight", R(MODEL, D_MODEL, NONE, NONE) },
    [AT_OUTPUT] = { "output.weight", R(MODEL, D_MODEL, VOCAB, NONE) },
    [AT_ATTN_NORM] = { "blk.%d.attn_norm.weight", R(LAYER, D_MODEL, NONE, NONE) },
    [AT_ATTN_Q] = { "blk.%d.attn_q.weight", R(Q_PLAIN, D_MODEL, Q, NONE) },
    [AT_ATTN_K] = { "blk.%d.attn_k.weight", R(LAYER, D_MODEL, KV, NONE) },
    [AT_ATTN_V] = { "blk.%d.attn_v.weight", R(LAYER, D_MODEL, KV, NONE) },
    [AT_ATTN_OUT] = { "blk.%d.attn_output.weight", R(LAYER, O_IN, D_MODEL, NONE) },
    [AT_ATTN_Q_B] = { "blk.%d.attn_q.bias", R(LAYER, Q, NONE, NONE) },
    [AT_ATTN_K_B] = { "blk.%d.attn_k.bias", R(LAYER, KV, NONE, NONE) },
    [AT_ATTN_V_B] = { "blk.%d.attn_v.bias", R(LAYER, KV, NONE, NONE) },
    [AT_ATTN_OUT_B] = { "blk.%d.attn_output.bias", R(LAYER, D_MODEL, NONE, NONE) },
    [AT_ATTN_Q_NORM] = { "blk.%d.attn_q_norm.weight", R(LAYER, Q_NORM, NONE, NONE) },
    [AT_ATTN_K_NORM] = { "blk.%d.attn_k_norm.weight", R(LAYER, K_NORM, NONE, NONE) },
    [AT_ATTN_SINKS] = { "blk.%d.attn_sinks.weight", R(LAYER, HEADS, NONE, NONE) },
    [AT_ATTN_Q_A] = { "blk.%d.attn_q_a.weight", R(Q_LORA, D_MODEL, Q_LORA, NONE) },
    [AT_ATTN_Q_A_NORM] = { "blk.%d.attn_q_a_norm.weight", R(Q_LORA, Q_LORA, NONE, NONE) },
    [AT_ATTN_Q_B_LORA] = { "blk.%d.attn_q_b.weight", R(Q_LORA, Q_LORA, Q, NONE) },
    [AT_ATTN_KV_A_MQA] = { "blk.%d.attn_kv_a_mqa.weight", R(LAYER, D_MODEL, KV_A, NONE) },
    [AT_ATTN_KV_A_NORM] = { "blk.%d.attn_kv_a_norm.weight", R(LAYER, KV_LORA, NONE, NONE) },
    [AT_ATTN_KV_B] = { "blk.%d.attn_kv_b.weight", R(KV_JOINT, KV_LORA, KV_B, NONE) },
    [AT_ATTN_K_B_MLA] = { "blk.%d.attn_k_b.weight", R(KV_SPLIT, QK_NOPE, KV_LORA, HEADS) },
    [AT_ATTN_V_B_MLA] = { "blk.%d.attn_v_b.weight", R(KV_SPLIT, KV_LORA, HEAD_V, HEADS) },
    [AT_FFN_NORM] = { "blk.%d.ffn_norm.weight", R(LAYER, D_MODEL, NONE, NONE) },
    [AT_ATTN_POST_NORM] = { "blk.%d.post_attention_norm.weight", R(LAYER, D_MODEL, NONE, NONE) },
    [AT_FFN_GATE] = { "blk.%d.ffn_gate.weight", R(DENSE_FFN, D_MODEL, FF, NONE) },
    [AT_FFN_UP] = { "blk.%d.ffn_up.weight", R(DENSE_FFN, D_MODEL, FF, NONE) },
    [AT_FFN_DOWN] = { "blk.%d.ffn_down.weight", R(DENSE_FFN, FF, D_MODEL, NONE) },
    [AT_FFN_GATE_INP] = { "blk.%d.ffn_gate_inp.weight", R(MOE, D_MODEL, EXPERTS, NONE) },
    [AT_FFN_GATE_INP_B] = { "blk.%d.ffn_gate_inp.bias", R(MOE, EXPERTS, NONE, NONE) },
    [AT_FFN_EXP_PROBS_B] = { "blk.%d.exp_probs_b.bias", R(MOE, EXPERTS, NONE, NONE) },
    [AT_FFN_GATE_EXPS] = { "blk.%d.ffn_gate_exps.weight", R(EXPERTS, D_MODEL, FF_EXP, EXPERTS) },
    [AT_FFN_UP_EXPS] = { "blk.%d.ffn_up_exps.weight", R(EXPERTS, D_MODEL, FF_EXP, EXPERTS) },
    [AT_FFN_DOWN_EXPS] = { "blk.%d.ffn_down_exps.weight", R(EXPERTS, FF_EXP, D_MODEL, EXPERTS) },
    [AT_FFN_GATE_EXPS_B] = { "blk.%d.ffn_gate_exps.bias", R(EXPERTS, FF_EXP, EXPERTS, NONE) },
    [AT_FFN_UP_EXPS_B] = { "blk.%d.ffn_up_exps.bias", R(EXPERTS, FF_EXP, EXPERTS, NONE) },
    [AT_FFN_DOWN_EXPS_B] = { "blk.%d.ffn_down_exps.bias", R(EXPERTS, D_MODEL, EXPERTS, NONE) },
    [AT_FFN_GATE_INP_SHEXP] = { "blk.%d.ffn_gate_inp_shexp.weight",
                                R(SHARED_GATE, D_MODEL, NONE, NONE) },
    [AT_FFN_GATE_SHEXP] = { "blk.%d.ffn_gate_shexp.weight", R(SHARED, D_MODEL, FF_SHEXP, NONE) },
    [AT_FFN_UP_SHEXP] = { "blk.%d.ffn_up_shexp.weight", R(SHARED, D_MODEL, FF_SHEXP, NONE) },
    [AT_FFN_DOWN_SHEXP] = { "blk.%d.ffn_down_shexp.weight", R(SHARED, FF_SHEXP, D_MODEL, NONE) },
};
#undef R

static const char *const dim_names[AD_COUNT] = {
    [AD_NONE] = "?",
    [AD_D_MODEL] = "d_model",
    [AD_VOCAB] = "n_vocab",
    [AD_HEAD_DIM] = "head_dim",
    [AD_Q] = "n_head*head_dim",
    [AD_KV] = "n_kv_head*head_dim",
    [AD_Q_NORM] = "n_head*head_dim",
    [AD_K_NORM] = "n_kv_head*head_dim",
    [AD_FF] = "feed_forward_length",
    [AD_EXPERTS] = "n_experts",
    [AD_FF_EXP] = "n_ff_exp",
    [AD_FF_SHEXP] = "n_ff_shexp",
    [AD_O_IN] = "n_head*head_dim_v",
    [AD_Q_LORA] = "q_lora_rank",
    [AD_KV_LORA] = "kv_lora_rank",
    [AD_KV_A] = "kv_lora_rank+n_rot",
    [AD_QK_NOPE] = "head_dim-n_rot",
    [AD_HEAD_V] = "head_dim_v",
    [AD_HEADS] = "n_head",
    [AD_KV_B] = "n_head*(head_dim-n_rot+head_dim_v)",
};

/* What every family in the table has: the pre-norm block, Q/K/V/O, a dense FFN in dense
 * layers and gate_inp + the three expert tensors in MoE layers; NEED_COMMON adds the FFN's
 * norm under its usual name (ffn_norm), NEED_POST_NORM under glm4moe's and gpt-oss's. */
#define NEED_BLOCK                                                                          \
    [AT_TOKEN_EMBD] = AN_REQ, [AT_OUTPUT_NORM] = AN_REQ, [AT_OUTPUT] = AN_REQ,              \
    [AT_ATTN_NORM] = AN_REQ, [AT_ATTN_Q] = AN_REQ, [AT_ATTN_K] = AN_REQ,                    \
    [AT_ATTN_V] = AN_REQ, [AT_ATTN_OUT] = AN_REQ,                                           \
    [AT_FFN_GATE] = AN_REQ, [AT_FFN_UP] = AN_REQ, [AT_FFN_DOWN] = AN_REQ,                   \
    [AT_FFN_GATE_INP] = AN_REQ, [AT_FFN_GATE_EXPS] = AN_REQ, [AT_FFN_UP_EXPS] = AN_REQ,     \
    [AT_FFN_DOWN_EXPS] = AN_REQ
#define NEED_COMMON NEED_BLOCK, [AT_FFN_NORM] = AN_REQ
#define NEED_POST_NORM NEED_BLOCK, [AT_ATTN_POST_NORM] = AN_REQ

static const struct arch_info table[] = {
    /* llama: dense llama, and mixtral (experts when expert_count > 0; build_moe_ffn with
     * norm_w = true). Optional attn_output bias. RoPE NORM. output.weight may be tied. */
    {
        .name = "llama", .rope = ARCH_ROPE_NORM, .router = ARCH_ROUTER_SOFTMAX,
        .router_renorm = true, .output_tied_ok = true,
        .need = { NEED_COMMON, [AT_ATTN_OUT_B] = AN_OPT,
                  /* granite-style shared expert when expert_shared_feed_forward_length */
                  [AT_FFN_GATE_SHEXP] = AN_OPT, [AT_FFN_UP_SHEXP] = AN_OPT,
                  [AT_FFN_DOWN_SHEXP] = AN_OPT },
    },
    /* qwen2: dense, QKV bias, RoPE NEOX. */
    {
        .name = "qwen2", .rope = ARCH_ROPE_NEOX, .router = ARCH_ROUTER_SOFTMAX,
        .output_tied_ok = true,
        .need = { NEED_COMMON, [AT_ATTN_Q_B] = AN_REQ, [AT_ATTN_K_B] = AN_REQ,
                  [AT_ATTN_V_B] = AN_REQ },
    },
    /* qwen2moe: QKV bias, NEOX, softmax router WITHOUT renormalisation (norm_w = false),
     * a shared expert whose output is scaled by sigmoid(ffn_gate_inp_shexp . x) and added
     * to the routed experts' sum before the residual. */
    {
        .name = "qwen2moe", .rope = ARCH_ROPE_NEOX, .router = ARCH_ROUTER_SOFTMAX,
        .router_renorm = false, .ff_exp_div_k = true, .shared_gate = true,
        .need = { NEED_COMMON, [AT_ATTN_Q_B] = AN_REQ, [AT_ATTN_K_B] = AN_REQ,
                  [AT_ATTN_V_B] = AN_REQ, [AT_FFN_GATE_INP_SHEXP] = AN_REQ,
                  [AT_FFN_GATE_SHEXP] = AN_REQ, [AT_FFN_UP_SHEXP] = AN_REQ,
                  [AT_FFN_DOWN_SHEXP] = AN_REQ },
    },
    /* qwen3moe: per-head QK RMSNorm before RoPE, NEOX, renormalised top-k, no shared
     * expert, optional tied output. */
    {
        .name = "qwen3moe", .rope = ARCH_ROPE_NEOX, .qk_norm = ARCH_QK_NORM_HEAD,
        .router = ARCH_ROUTER_SOFTMAX, .router_renorm = true, .ff_exp_div_k = true,
        .output_tied_ok = true,
        .need = { NEED_COMMON, [AT_ATTN_Q_NORM] = AN_REQ, [AT_ATTN_K_NORM] = AN_REQ },
    },
    /* qwen3 (dense): the same attention as qwen3moe. */
    {
        .name = "qwen3", .rope = ARCH_ROPE_NEOX, .qk_norm = ARCH_QK_NORM_HEAD,
        .router = ARCH_ROUTER_SOFTMAX, .output_tied_ok = true,
        .need = { NEED_COMMON, [AT_ATTN_Q_NORM] = AN_REQ, [AT_ATTN_K_NORM] = AN_REQ },
    },
    /* olmoe: QK RMSNorm over the whole Q and K rows (before the head reshape) and before
     * RoPE, NEOX, softmax router with norm_w = false. */
    {
        .name = "olmoe", .rope = ARCH_ROPE_NEOX, .qk_norm = ARCH_QK_NORM_FULL,
        .router = ARCH_ROUTER_SOFTMAX, .router_renorm = false,
        .need = { NEED_COMMON, [AT_ATTN_Q_NORM] = AN_REQ, [AT_ATTN_K_NORM] = AN_REQ },
    },
    /* granitemoe (and dense granite): llama's block with four scales: embeddings times
     * embedding_scale, each residual branch times residual_scale, attention scaled by
     * attention.scale instead of 1/sqrt(head_dim), logits divided by logit_scale. RoPE
     * NORM, renormalised top-k, optional (ungated) shared expert. */
    {
        .name = "granitemoe", .rope = ARCH_ROPE_NORM, .router = ARCH_ROUTER_SOFTMAX,
        .router_renorm = true, .granite_scales = true, .output_tied_ok = true,
        .need = { NEED_COMMON, [AT_ATTN_OUT_B] = AN_OPT, [AT_FFN_GATE_SHEXP] = AN_OPT,
                  [AT_FFN_UP_SHEXP] = AN_OPT, [AT_FFN_DOWN_SHEXP] = AN_OPT },
    },
    {
        .name = "granite", .rope = ARCH_ROPE_NORM, .router = ARCH_ROUTER_SOFTMAX,
        .router_renorm = true, .granite_scales = true, .output_tied_ok = true,
        .need = { NEED_COMMON, [AT_ATTN_OUT_B] = AN_OPT },
    },
    /* dots1: a sigmoid-routed MoE with a selection bias (exp_probs_b, added to the probs
     * for the top-k choice only) and renormalised, scaled weights; per-head QK-norm, NEOX,
     * leading dense layers and ungated shared experts (n_ff_exp * expert_shared_count). */
    {
        .name = "dots1", .rope = ARCH_ROPE_NEOX, .qk_norm = ARCH_QK_NORM_HEAD,
        .router = ARCH_ROUTER_SIGMOID, .router_renorm = true,
        .need = { NEED_COMMON, [AT_ATTN_Q_NORM] = AN_REQ, [AT_ATTN_K_NORM] = AN_REQ,
                  [AT_FFN_EXP_PROBS_B] = AN_REQ, [AT_FFN_GATE_SHEXP] = AN_REQ,
                  [AT_FFN_UP_SHEXP] = AN_REQ, [AT_FFN_DOWN_SHEXP] = AN_REQ },
    },
    /* ernie4_5-moe (ERNIE-4.5-21B-A3B, 300B-A47B): llama's block (RoPE NORM, optional output
     * bias), softmax router renormalised over the chosen with an optional selection bias,
     * leading dense layers, ungated shared experts as one FFN of
     * expert_shared_feed_forward_length, tied output allowed. */
    {
        .name = "ernie4_5-moe", .rope = ARCH_ROPE_NORM, .router = ARCH_ROUTER_SOFTMAX,
        .router_renorm = true, .output_tied_ok = true,
        .need = { NEED_COMMON, [AT_ATTN_Q_B] = AN_OPT, [AT_ATTN_K_B] = AN_OPT,
                  [AT_ATTN_V_B] = AN_OPT, [AT_ATTN_OUT_B] = AN_OPT,
                  [AT_FFN_EXP_PROBS_B] = AN_OPT, [AT_FFN_GATE_SHEXP] = AN_OPT, [AT_FFN_UP_SHEXP] = AN_OPT,
                  [AT_FFN_DOWN_SHEXP] = AN_OPT },
    },
    /* glm4moe (GLM-4.5, GLM-4.5-Air): Q/K/V biases (no output bias), per-head QK-norm only
     * in some files (GLM-4.5 355B), NEOX RoPE on the first rope.dimension_count dims of each
     * head (partial rotary), the FFN's norm named post_attention_norm, leading dense layers,
     * sigmoid routing with a selection bias, expert_weights_norm/_scale from the file, an
     * ungated shared expert of n_ff_exp * expert_shared_count. The nextn_predict_layers
     * blocks after the others (multi-token prediction) are left out, as llama.cpp does
     * without load_mtp. */
    {
        .name = "glm4moe", .rope = ARCH_ROPE_NEOX, .qk_norm = ARCH_QK_NORM_HEAD,
        .router = ARCH_ROUTER_SIGMOID, .router_renorm = false, .output_tied_ok = true,
        .need = { NEED_POST_NORM, [AT_ATTN_Q_B] = AN_OPT, [AT_ATTN_K_B] = AN_OPT, [AT_ATTN_V_B] = AN_OPT,
                  [AT_ATTN_Q_NORM] = AN_OPT, [AT_ATTN_K_NORM] = AN_OPT,
                  [AT_FFN_EXP_PROBS_B] = AN_REQ, [AT_FFN_GATE_SHEXP] = AN_REQ,
                  [AT_FFN_UP_SHEXP] = AN_REQ, [AT_FFN_DOWN_SHEXP] = AN_REQ },
    },
    /* gpt-oss (gpt-oss-20b, -120b): Q/K/V and output biases, a learned sink logit per head
     * in every attention softmax, a sliding window on every other layer (0, 2, ...), NEOX
     * RoPE with YaRN, the FFN's norm named post_attention_norm, a router with a bias whose
     * top-k logits are softmaxed into the weights, per-expert biases around the clamped
     * SwiGLU (alpha 1.702, limit 7), no dense layers, no shared expert. */
    {
        .name = "gpt-oss", .alias = "gptoss", .rope = ARCH_ROPE_NEOX, .router = ARCH_ROUTER_SOFTMAX_WEIGHT,
        .swiglu_oai = true, .last_layer_all_rows = true, .swa_period = 2,
        .need = { NEED_POST_NORM, [AT_ATTN_Q_B] = AN_REQ, [AT_ATTN_K_B] = AN_REQ,
                  [AT_ATTN_V_B] = AN_REQ, [AT_ATTN_OUT_B] = AN_REQ, [AT_ATTN_SINKS] = AN_REQ,
                  [AT_FFN_GATE_INP_B] = AN_REQ, [AT_FFN_GATE_EXPS_B] = AN_REQ,
                  [AT_FFN_UP_EXPS_B] = AN_REQ, [AT_FFN_DOWN_EXPS_B] = AN_REQ },
    },
    /* deepseek2 (DeepSeek-V2/V2-Lite, V3, R1, Moonlight, Kimi): multi-head latent attention
     * (the query straight or through a LoRA; the keys and values from a compressed latent
     * of kv_lora_rank plus one RoPE key shared by the heads; the up-projection absorbed
     * (attn_k_b/attn_v_b, a latent KV cache) or as one attn_kv_b (plain multi-head); RoPE
     * NORM on the last n_rot dims of each key, YaRN with its mscale in the attention scale),
     * softmax (V2) or sigmoid with a selection bias (V3) routing, group-limited top-k,
     * expert_weights_norm and _scale, ungated shared experts, leading dense layers. */
    {
        .name = "deepseek2", .rope = ARCH_ROPE_NORM, .router = ARCH_ROUTER_SOFTMAX,
        .router_renorm = false, .output_tied_ok = true, .latent_attn = true,
        .need = { [AT_TOKEN_EMBD] = AN_REQ, [AT_OUTPUT_NORM] = AN_REQ, [AT_OUTPUT] = AN_REQ,
                  [AT_ATTN_NORM] = AN_REQ, [AT_ATTN_Q] = AN_REQ, [AT_ATTN_Q_A] = AN_REQ,
                  [AT_ATTN_Q_A_NORM] = AN_REQ, [AT_ATTN_Q_B_LORA] = AN_REQ,
                  [AT_ATTN_KV_A_MQA] = AN_REQ, [AT_ATTN_KV_A_NORM] = AN_REQ,
                  [AT_ATTN_KV_B] = AN_REQ, [AT_ATTN_K_B_MLA] = AN_REQ,
                  [AT_ATTN_V_B_MLA] = AN_REQ, [AT_ATTN_OUT] = AN_REQ, [AT_FFN_NORM] = AN_REQ,
                  [AT_FFN_GATE] = AN_REQ, [AT_FFN_UP] = AN_REQ, [AT_FFN_DOWN] = AN_REQ,
                  [AT_FFN_GATE_INP] = AN_REQ, [AT_FFN_EXP_PROBS_B] = AN_OPT,
                  [AT_FFN_GATE_EXPS] = AN_REQ, [AT_FFN_UP_EXPS] = AN_REQ,
                  [AT_FFN_DOWN_EXPS] = AN_REQ, [AT_FFN_GATE_SHEXP] = AN_REQ,
                  [AT_FFN_UP_SHEXP] = AN_REQ, [AT_FFN_DOWN_SHEXP] = AN_REQ },
    },
};

enum { N_ARCH = (int)(sizeof table / sizeof table[0]) };

const struct arch_info *arch_find(const char *name)
{
    for (int i = 0; i < N_ARCH; i++)
        if (!strcmp(table[i].name, name) || (table[i].alias && !strcmp(table[i].alias, name)))
            return &table[i];
    return NULL;
}

int arch_count(void)
{
    return N_ARCH;
}

const struct arch_info *arch_at(int i)
{
    return i >= 0 && i < N_ARCH ? &table[i] : NULL;
}

const struct arch_role *arch_role(enum arch_tensor t)
{
    return &roles[t];
}

const char *arch_tensor_name(enum arch_tensor t, int layer, char *buf, unsigned buflen)
{
    if ((int)t < 0 || t >= AT_COUNT) {
        snprintf(buf, buflen, "?");
        return buf;
    }
    if (roles[t].kind == AK_MODEL)
        snprintf(buf, buflen, "%s", roles[t].name);
    else
        snprintf(buf, buflen, roles[t].name, layer);
    return buf;
}

int arch_role_shape(const struct arch_info *a, enum arch_tensor t, enum arch_dim dims[3])
{
    int n = 0;
    for (int i = 0; i < 3; i++) {
        enum arch_dim d = (enum arch_dim)roles[t].shape[i];
        /* a per-head norm is one head wide; a full one spans all heads */
        if ((d == AD_Q_NORM || d == AD_K_NORM) && a->qk_norm == ARCH_QK_NORM_HEAD)
            d = AD_HEAD_DIM;
        dims[i] = d;
        if (d != AD_NONE)
            n = i + 1;
    }
    return n;
}

const char *arch_dim_name(enum arch_dim d)
{
    return (int)d >= 0 && d < AD_COUNT ? dim_names[d] : "?";
}

const char *arch_rope_name(enum arch_rope r)
{
    return r == ARCH_ROPE_NEOX ? "neox" : "normal";
}
