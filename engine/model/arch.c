/* engine/model/arch.c: the architecture table (see arch.h). */
#include "arch.h"

#include <stdio.h>
#include <string.h>

/* Tensor names, as llama.cpp's LLM_TENSOR_NAMES spell them ("%d" is the layer). */
static const char *const tensor_names[AT_COUNT] = {
    [AT_TOKEN_EMBD] = "token_embd.weight",
    [AT_OUTPUT_NORM] = "output_norm.weight",
    [AT_OUTPUT] = "output.weight",
    [AT_ATTN_NORM] = "blk.%d.attn_norm.weight",
    [AT_ATTN_Q] = "blk.%d.attn_q.weight",
    [AT_ATTN_K] = "blk.%d.attn_k.weight",
    [AT_ATTN_V] = "blk.%d.attn_v.weight",
    [AT_ATTN_OUT] = "blk.%d.attn_output.weight",
    [AT_ATTN_Q_B] = "blk.%d.attn_q.bias",
    [AT_ATTN_K_B] = "blk.%d.attn_k.bias",
    [AT_ATTN_V_B] = "blk.%d.attn_v.bias",
    [AT_ATTN_OUT_B] = "blk.%d.attn_output.bias",
    [AT_ATTN_Q_NORM] = "blk.%d.attn_q_norm.weight",
    [AT_ATTN_K_NORM] = "blk.%d.attn_k_norm.weight",
    [AT_FFN_NORM] = "blk.%d.ffn_norm.weight",
    [AT_FFN_GATE] = "blk.%d.ffn_gate.weight",
    [AT_FFN_UP] = "blk.%d.ffn_up.weight",
    [AT_FFN_DOWN] = "blk.%d.ffn_down.weight",
    [AT_FFN_GATE_INP] = "blk.%d.ffn_gate_inp.weight",
    [AT_FFN_EXP_PROBS_B] = "blk.%d.exp_probs_b.bias",
    [AT_FFN_GATE_EXPS] = "blk.%d.ffn_gate_exps.weight",
    [AT_FFN_UP_EXPS] = "blk.%d.ffn_up_exps.weight",
    [AT_FFN_DOWN_EXPS] = "blk.%d.ffn_down_exps.weight",
    [AT_FFN_GATE_INP_SHEXP] = "blk.%d.ffn_gate_inp_shexp.weight",
    [AT_FFN_GATE_SHEXP] = "blk.%d.ffn_gate_shexp.weight",
    [AT_FFN_UP_SHEXP] = "blk.%d.ffn_up_shexp.weight",
    [AT_FFN_DOWN_SHEXP] = "blk.%d.ffn_down_shexp.weight",
};

/* What every family in the table has: the pre-norm block, Q/K/V/O, a dense FFN in dense
 * layers and gate_inp + the three expert tensors in MoE layers. */
#define NEED_COMMON                                                                         \
    [AT_TOKEN_EMBD] = AN_REQ, [AT_OUTPUT_NORM] = AN_REQ, [AT_OUTPUT] = AN_REQ,              \
    [AT_ATTN_NORM] = AN_REQ, [AT_ATTN_Q] = AN_REQ, [AT_ATTN_K] = AN_REQ,                    \
    [AT_ATTN_V] = AN_REQ, [AT_ATTN_OUT] = AN_REQ, [AT_FFN_NORM] = AN_REQ,                   \
    [AT_FFN_GATE] = AN_REQ, [AT_FFN_UP] = AN_REQ, [AT_FFN_DOWN] = AN_REQ,                   \
    [AT_FFN_GATE_INP] = AN_REQ, [AT_FFN_GATE_EXPS] = AN_REQ, [AT_FFN_UP_EXPS] = AN_REQ,     \
    [AT_FFN_DOWN_EXPS] = AN_REQ

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
};

enum { N_ARCH = (int)(sizeof table / sizeof table[0]) };

const struct arch_info *arch_find(const char *name)
{
    for (int i = 0; i < N_ARCH; i++)
        if (!strcmp(table[i].name, name))
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

const char *arch_tensor_name(enum arch_tensor t, int layer, char *buf, unsigned buflen)
{
    if ((int)t < 0 || t >= AT_COUNT) {
        snprintf(buf, buflen, "?");
        return buf;
    }
    if (t < AT_FIRST_LAYER_TENSOR)
        snprintf(buf, buflen, "%s", tensor_names[t]);
    else
        snprintf(buf, buflen, tensor_names[t], layer);
    return buf;
}

bool arch_tensor_is_moe(enum arch_tensor t)
{
    return t >= AT_FFN_GATE_INP && t <= AT_FFN_DOWN_SHEXP;
}

bool arch_tensor_is_dense_ffn(enum arch_tensor t)
{
    return t == AT_FFN_GATE || t == AT_FFN_UP || t == AT_FFN_DOWN;
}

const char *arch_rope_name(enum arch_rope r)
{
    return r == ARCH_ROPE_NEOX ? "neox" : "normal";
}
