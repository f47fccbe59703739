/* engine/model/ollama.c: Ollama's 'gptoss' files, bound as gpt-oss (see ollama.h). */
#include "ollama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "quant_blocks.h"

const char *ollama_alt_name(enum arch_tensor t, int layer, char *buf, size_t len)
{
    static const struct { enum arch_tensor t; const char *name; } alt[] = {
        { AT_ATTN_OUT, "blk.%d.attn_out.weight" },
        { AT_ATTN_OUT_B, "blk.%d.attn_out.bias" },
        { AT_ATTN_SINKS, "blk.%d.attn_sinks" },
        { AT_ATTN_POST_NORM, "blk.%d.ffn_norm.weight" },
    };
    for (size_t i = 0; i < sizeof alt / sizeof alt[0]; i++)
        if (alt[i].t == t) {
            snprintf(buf, len, alt[i].name, layer);
            return buf;
        }
    return NULL;
}

/* Ollama's MXFP4 block: the scale, then 16 bytes of which byte k holds values 2k (low
 * nibble) and 2k+1 (high); ggml's keeps value j low and value j+16 high in byte j. */
static void ollama_mxfp4_reorder(unsigned char *q, const unsigned char *src, size_t n_blocks)
{
    const size_t bs = sizeof(struct block_mxfp4);
    for (size_t b = 0; b < n_blocks; b++, q += bs, src += bs) {
        q[0] = src[0];
        const unsigned char *p = src + 1;
        for (int j = 0; j < 16; j++) {
            const int lo = j & 1 ? p[j / 2] >> 4 : p[j / 2] & 15;
            const int hi = j & 1 ? p[8 + j / 2] >> 4 : p[8 + j / 2] & 15;
            q[1 + j] = (unsigned char)(lo | hi << 4);
        }
    }
}

/* A copy the model owns for tensor g (freed by model_close), or the one made before. */
static unsigned char *ollama_own(struct model *m, const struct gguf_tensor *g, size_t bytes,
                                 bool *fresh, char *err, size_t errlen)
{
    const size_t i = (size_t)(g - m->f.tensors);
    *fresh = false;
    if (!m->owned && !(m->owned = calloc((size_t)m->f.n_tensors, sizeof *m->owned))) {
        gguf_fail(m->f.path, err, errlen, "out of memory");
        return NULL;
    }
    if (!m->owned[i]) {
        if (!(m->owned[i] = malloc(bytes ? bytes : 1))) {
            gguf_fail(m->f.path, err, errlen, "out of memory for a copy of tensor '%s' "
                      "(%zu bytes)", g->name, bytes);
            return NULL;
        }
        *fresh = true;
    }
    return m->owned[i];
}

static size_t ollama_n_values(const struct gguf_tensor *g)
{
    size_t n = 1;
    for (uint32_t d = 0; d < g->n_dims; d++)
        n *= (size_t)g->ne[d];
    return n;
}

/* Value i of a float vector of type f32, bf16 or f16. */
static float ollama_value(const struct gguf_tensor *g, size_t i)
{
    if (g->type == GGML_TYPE_F32)
        return ((const float *)g->data)[i];
    const uint16_t h = ((const uint16_t *)g->data)[i];
    return g->type == GGML_TYPE_BF16 ? quant_bf16_to_f32(h) : quant_f16_to_f32(h);
}

const unsigned char *ollama_tensor_data(struct model *m, const struct gguf_tensor *g,
                                        bool to_f32, unsigned *type, char *err, size_t errlen)
{
    *type = g->type;
    const bool half = g->type == GGML_TYPE_BF16 || g->type == GGML_TYPE_F16;
    if (!g->ollama_mxfp4 && !(to_f32 && half))
        return g->data;
    bool fresh;
    if (g->ollama_mxfp4) {
        unsigned char *q = ollama_own(m, g, g->nbytes, &fresh, err, errlen);
        if (q && fresh)
            ollama_mxfp4_reorder(q, g->data, g->nbytes / sizeof(struct block_mxfp4));
        return q;
    }
    const size_t n = ollama_n_values(g);
    float *x = (float *)ollama_own(m, g, n * sizeof(float), &fresh, err, errlen);
    if (x && fresh)
        for (size_t i = 0; i < n; i++)
            x[i] = ollama_value(g, i);
    *type = GGML_TYPE_F32;
    return (const unsigned char *)x;
}

/* The fused tensors, and which part of one a role is. */
enum fused_part { PART_Q, PART_K, PART_V, PART_EVEN, PART_ODD };
static const struct {
    enum arch_tensor t;
    const char *name;
    enum fused_part part;
    bool bias;
} fused[] = {
    { AT_ATTN_Q, "blk.%d.attn_qkv.weight", PART_Q, false },
    { AT_ATTN_K, "blk.%d.attn_qkv.weight", PART_K, false },
    { AT_ATTN_V, "blk.%d.attn_qkv.weight", PART_V, false },
    { AT_ATTN_Q_B, "blk.%d.attn_qkv.bias", PART_Q, true },
    { AT_ATTN_K_B, "blk.%d.attn_qkv.bias", PART_K, true },
    { AT_ATTN_V_B, "blk.%d.attn_qkv.bias", PART_V, true },
    { AT_FFN_GATE_EXPS, "blk.%d.ffn_gate_up_exps.weight", PART_EVEN, false },
    { AT_FFN_UP_EXPS, "blk.%d.ffn_gate_up_exps.weight", PART_ODD, false },
    { AT_FFN_GATE_EXPS_B, "blk.%d.ffn_gate_up_exps.bias", PART_EVEN, true },
    { AT_FFN_UP_EXPS_B, "blk.%d.ffn_gate_up_exps.bias", PART_ODD, true },
};

/* The experts' gate/up biases, alternating in Ollama's file, as the forward pass reads
 * them (f32): every expert's gate biases, then every expert's up biases. */
static const float *ollama_split_bias(struct model *m, const struct gguf_tensor *g,
                                      int64_t half, int64_t n_exp, char *err, size_t errlen)
{
    bool fresh;
    float *x = (float *)ollama_own(m, g, (size_t)(2 * half * n_exp) * sizeof(float), &fresh,
                                   err, errlen);
    if (x && fresh)
        for (int64_t e = 0; e < n_exp; e++)
            for (int64_t r = 0; r < half; r++) {
                x[e * half + r] = ollama_value(g, (size_t)(e * 2 * half + 2 * r));
                x[(n_exp + e) * half + r] = ollama_value(g, (size_t)(e * 2 * half + 2 * r + 1));
            }
    return x;
}

int ollama_bind_fused(struct model *m, enum arch_tensor t, int layer, bool compute,
                      struct wt *w, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < sizeof fused / sizeof fused[0] && fused[i].t != t)
        i++;
    if (i == sizeof fused / sizeof fused[0])
        return 0;
    char name[96];
    snprintf(name, sizeof name, fused[i].name, layer);
    const struct gguf_tensor *g = gguf_find_tensor(&m->f, name);
    if (!g)
        return 0;
    const struct hparams *hp = &m->hp;
    const bool experts = fused[i].part >= PART_EVEN;
    const int64_t q = (int64_t)hp->n_head * hp->head_dim, kv = (int64_t)hp->n_kv_head * hp->head_dim;
    const int64_t rows = experts ? 2 * (int64_t)hp->n_ff_exp : q + 2 * kv;
    const int64_t slices = experts ? hp->n_experts : 1;
    /* weights: (d_model, rows, slices); biases: (rows, slices) */
    const int64_t want[3] = { fused[i].bias ? rows : hp->d_model, fused[i].bias ? slices : rows,
                              fused[i].bias ? 1 : slices };
    bool ok = g->ne[3] == 1;
    for (int d = 0; d < 3; d++)
        ok = ok && g->ne[d] == want[d];
    if (!ok)
        return gguf_fail(m->f.path, err, errlen,
                         "tensor '%s' has shape [%lld, %lld, %lld], expected [%lld, %lld, %lld] "
                         "(Ollama's fused %s)", name, (long long)g->ne[0], (long long)g->ne[1],
                         (long long)g->ne[2], (long long)want[0], (long long)want[1],
                         (long long)want[2], experts ? "gate and up" : "Q, K and V");
    const bool half = g->type == GGML_TYPE_BF16 || g->type == GGML_TYPE_F16;
    if (compute && (fused[i].bias ? g->type != GGML_TYPE_F32 && !half
                                  : !quant_computable(g->type)))
        return gguf_fail(m->f.path, err, errlen,
                         "tensor '%s' has type %s, which moescope cannot compute here", name,
                         quant_traits(g->type)->name);
    unsigned type = g->type;
    const unsigned char *data = g->data;
    /* the experts' biases are split below; everything else is used as read (MXFP4 reordered,
     * a bias widened) */
    if (compute && !(experts && fused[i].bias) &&
        !(data = ollama_tensor_data(m, g, fused[i].bias, &type, err, errlen)))
        return -1;
    memset(w, 0, sizeof *w);
    w->type = type;
    if (fused[i].bias) {
        const float *b = (const float *)data;
        if (experts && compute && !(b = ollama_split_bias(m, g, hp->n_ff_exp, slices, err,
                                                          errlen)))
            return -1;
        w->type = GGML_TYPE_F32;
        /* (rows of this part, slices): experts' halves one after the other; Q, K, V in turn */
        const int64_t n = experts ? hp->n_ff_exp : fused[i].part == PART_Q ? q : kv;
        const int64_t off = experts ? (fused[i].part == PART_ODD ? hp->n_ff_exp * slices : 0)
                            : fused[i].part == PART_Q ? 0
                            : fused[i].part == PART_K ? q
                                                      : q + kv;
        w->data = (const uint8_t *)(b + off);
        w->ne[0] = n, w->ne[1] = slices, w->ne[2] = 1;
        w->nb1 = (size_t)n * sizeof(float);
        w->nb2 = w->nb1 * (size_t)slices;
        return 1;
    }
    const size_t row = quant_row_size(type, g->ne[0]);
    w->ne[0] = g->ne[0];
    w->ne[2] = slices;
    w->nb2 = row * (size_t)rows;
    if (experts) {
        w->data = data + (fused[i].part == PART_ODD ? row : 0);
        w->ne[1] = hp->n_ff_exp;
        w->nb1 = 2 * row;
    } else {
        const int64_t r0 = fused[i].part == PART_Q ? 0 : fused[i].part == PART_K ? q : q + kv;
        w->data = data + (size_t)r0 * row;
        w->ne[1] = fused[i].part == PART_Q ? q : kv;
        w->nb1 = row;
    }
    return 1;
}
