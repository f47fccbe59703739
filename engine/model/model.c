/* engine/model/model.c: hyper-parameters and weight binding (see model.h). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "ollama.h"
#include "quant.h"
#include "text_escape.h"

/* ------------------------------------------------------------------ keys */

/* "<arch>.<suffix>" */
static const char *model_key(const struct model *m, const char *suffix, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s", m->key_arch, suffix);
    return buf;
}

/* Reads an integer key into *out. required: absence is an error. Returns 0 or -1. */
static int model_get_int(const struct model *m, const char *suffix, int *out, bool required,
                         int lo, int hi, char *err, size_t errlen)
{
    char key[128];
    uint32_t v;
    int rc = gguf_get_u32(&m->f, model_key(m, suffix, key, sizeof key), &v, err, errlen);
    if (rc < 0) {
        /* Some files store per-layer arrays (e.g. feed_forward_length); use layer 0's. */
        const struct gguf_kv *kv = gguf_find(&m->f, key);
        int32_t x;
        if (kv && kv->type == GGUF_VT_ARRAY && kv->arr_n > 0 && gguf_arr_get_i32(kv, 0, &x) == 0
            && x >= 0) {
            v = (uint32_t)x;
            rc = 0;
        } else {
            return -1;
        }
    }
    if (rc == 1) {
        if (required)
            return gguf_fail(m->f.path, err, errlen, "the key '%s' is missing", key);
        return 0;
    }
    if ((int64_t)v < lo || (int64_t)v > hi)
        return gguf_fail(m->f.path, err, errlen, "the key '%s' is %u, outside [%d, %d]", key, v, lo,
                         hi);
    *out = (int)v;
    return 0;
}

static int model_get_float(const struct model *m, const char *suffix, float *out, char *err,
                           size_t errlen)
{
    char key[128];
    int rc = gguf_get_f32(&m->f, model_key(m, suffix, key, sizeof key), out, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0 && !isfinite(*out))
        return gguf_fail(m->f.path, err, errlen, "the key '%s' is not a finite number", key);
    return 0;
}

/* Latent attention's sizes (deepseek2): with key_length_mla/value_length_mla the file has
 * attn_k_b/attn_v_b and llama.cpp runs it absorbed (key_length/value_length are then the
 * latent cache's row and its value part); without them, the legacy attn_kv_b as plain
 * multi-head attention of key_length/value_length. */
static int model_read_latent(struct model *m, int vlen, char *err, size_t errlen)
{
    struct hparams *hp = &m->hp;
    int kmla = 0, vmla = 0;
    if (model_get_int(m, "attention.kv_lora_rank", &hp->n_lora_kv, true, 1, 65536, err,
                      errlen) ||
        model_get_int(m, "attention.q_lora_rank", &hp->n_lora_q, false, 0, 65536, err,
                      errlen) ||
        model_get_int(m, "attention.key_length_mla", &kmla, false, 0, 65536, err, errlen) ||
        model_get_int(m, "attention.value_length_mla", &vmla, false, 0, 65536, err, errlen))
        return -1;
    hp->mla_absorbed = kmla > 0 && vmla > 0;
    if (hp->mla_absorbed) {
        hp->head_dim = kmla;
        hp->head_dim_v = vmla;
    } else {
        hp->head_dim_v = vlen;
    }
    return 0;
}

/* RoPE scaling: none, linear, or YaRN as llama.cpp's context sets it up (ext_factor 1;
 * the attention factor from the yarn_log_multiplier, deepseek2 reading it as mscale_all_dim
 * over 0.1; RoPE's own 1 + 0.1 ln(factor) cancelled) and ggml's correction dims. */
static int model_read_rope(struct model *m, char *err, size_t errlen)
{
    struct hparams *hp = &m->hp;
    float factor = 0.0f, log_mul = 0.0f, beta_fast = 32.0f, beta_slow = 1.0f;
    int n_orig = hp->n_ctx_train;
    if (model_get_float(m, "rope.scaling.factor", &factor, err, errlen) ||
        model_get_float(m, "rope.scaling.yarn_log_multiplier", &log_mul, err, errlen) ||
        model_get_float(m, "rope.scaling.yarn_beta_fast", &beta_fast, err, errlen) ||
        model_get_float(m, "rope.scaling.yarn_beta_slow", &beta_slow, err, errlen) ||
        model_get_int(m, "rope.scaling.original_context_length", &n_orig, false, 1, 1 << 30, err,
                      errlen))
        return -1;
    char key[128], stype[32] = "";
    if (gguf_get_strz(&m->f, model_key(m, "rope.scaling.type", key, sizeof key), stype,
                      sizeof stype, err, errlen) < 0)
        return -1;
    /* Ollama's gptoss gives the factor and no type, and always runs YaRN (ext_factor 1) */
    if (!stype[0] && m->ollama && factor > 0.0f)
        snprintf(stype, sizeof stype, "yarn");
    if (stype[0] && strcmp(stype, "none") && strcmp(stype, "linear") && strcmp(stype, "yarn")) {
        char shown[4 * sizeof stype + 8]; /* the file's words: shown, never obeyed */
        text_escape_line(stype, strlen(stype), shown, sizeof shown);
        return gguf_fail(m->f.path, err, errlen,
                         "RoPE scaling '%s' is not supported (none, linear, yarn)", shown);
    }
    hp->rope_freq_scale = factor > 0.0f && strcmp(stype, "none") ? 1.0f / factor : 1.0f;
    hp->rope_attn_factor = 1.0f;
    if (strcmp(stype, "yarn"))
        return 0;
    if (m->arch->latent_attn && log_mul != 0.0f)
        log_mul /= 0.1f; /* llama.cpp cancels the converter's factor for deepseek2 */
    hp->yarn_log_mul = log_mul;
    hp->rope_ext_factor = 1.0f;
    const float f = 1.0f / hp->rope_freq_scale;
    if (log_mul != 0.0f) {
        const float ms = m->arch->latent_attn && log_mul != 1.0f ? log_mul : 1.0f;
        const float a = f <= 1.0f ? 1.0f : 0.1f * ms * logf(f) + 1.0f;
        const float b = f <= 1.0f ? 1.0f : 0.1f * log_mul * logf(f) + 1.0f;
        hp->rope_attn_factor = a / b;
    } else {
        hp->rope_attn_factor = f <= 1.0f ? 1.0f : 0.1f * logf(f) + 1.0f;
    }
    hp->rope_attn_factor *= 1.0f / (1.0f + 0.1f * logf(f));
    /* ggml_rope_yarn_corr_dims */
    const float two_ln_base = 2 * logf(hp->rope_base);
    const float lo = floorf((float)hp->n_rot * logf((float)n_orig / (beta_fast * 2 * (float)M_PI)) /
                            two_ln_base);
    const float hi = ceilf((float)hp->n_rot * logf((float)n_orig / (beta_slow * 2 * (float)M_PI)) /
                           two_ln_base);
    hp->rope_corr_dims[0] = lo > 0.0f ? lo : 0.0f;
    hp->rope_corr_dims[1] = hi < (float)(hp->n_rot - 1) ? hi : (float)(hp->n_rot - 1);
    return 0;
}

/* The sliding window of the families that have one (gpt-oss): attention.sliding_window and
 * the period of its layers (attention.sliding_window_pattern, else the family's). */
static int model_read_swa(struct model *m, char *err, size_t errlen)
{
    struct hparams *hp = &m->hp;
    if (!m->arch->swa_period)
        return 0;
    hp->swa_period = m->arch->swa_period;
    char key[128];
    const struct gguf_kv *kv = gguf_find(&m->f, model_key(m, "attention.sliding_window_pattern",
                                                           key, sizeof key));
    if (kv && kv->type == GGUF_VT_ARRAY)
        return gguf_fail(m->f.path, err, errlen,
                         "the key '%s' is a per-layer array: not supported", key);
    float base_swa = hp->rope_base;
    if (model_get_int(m, "attention.sliding_window", &hp->n_swa, false, 0, 1 << 30, err,
                      errlen) ||
        model_get_int(m, "attention.sliding_window_pattern", &hp->swa_period, false, 0, 4096,
                      err, errlen) ||
        model_get_float(m, "rope.freq_base_swa", &base_swa, err, errlen))
        return -1;
    if (base_swa != hp->rope_base)
        return gguf_fail(m->f.path, err, errlen,
                         "the key '%s.rope.freq_base_swa' differs from rope.freq_base: a second "
                         "RoPE base for the windowed layers is not supported", m->key_arch);
    return 0;
}

static int model_read_hparams(struct model *m, char *err, size_t errlen)
{
    struct hparams *hp = &m->hp;
    const int big = 1 << 24;
    memset(hp, 0, sizeof *hp);
    if (model_get_int(m, "block_count", &hp->n_layers, true, 1, 4096, err, errlen) ||
        model_get_int(m, "embedding_length", &hp->d_model, true, 1, big, err, errlen) ||
        model_get_int(m, "attention.head_count", &hp->n_head, true, 1, 65536, err, errlen))
        return -1;
    /* llama.cpp counts the NextN blocks in block_count and runs the ones before them */
    if (model_get_int(m, "nextn_predict_layers", &hp->n_nextn, false, 0, hp->n_layers - 1, err,
                      errlen))
        return -1;
    hp->n_layers -= hp->n_nextn;
    hp->n_kv_head = hp->n_head;
    hp->n_ctx_train = 2048;
    if (model_get_int(m, "attention.head_count_kv", &hp->n_kv_head, false, 1, 65536, err,
                      errlen) ||
        model_get_int(m, "context_length", &hp->n_ctx_train, false, 1, 1 << 30, err, errlen) ||
        model_get_int(m, "feed_forward_length", &hp->n_ff, false, 0, big, err, errlen) ||
        model_get_int(m, "expert_count", &hp->n_experts, false, 0, 65536, err, errlen) ||
        model_get_int(m, "expert_used_count", &hp->n_experts_used, false, 0, 65536, err, errlen))
        return -1;
    if (hp->n_head % hp->n_kv_head)
        return gguf_fail(m->f.path, err, errlen,
                         "attention.head_count (%d) is not a multiple of head_count_kv (%d)",
                         hp->n_head, hp->n_kv_head);
    hp->head_dim = hp->d_model / hp->n_head;
    if (model_get_int(m, "attention.key_length", &hp->head_dim, false, 1, 65536, err, errlen))
        return -1;
    int vlen = hp->head_dim;
    if (model_get_int(m, "attention.value_length", &vlen, false, 1, 65536, err, errlen))
        return -1;
    hp->head_dim_v = hp->head_dim;
    if (m->arch->latent_attn) {
        if (model_read_latent(m, vlen, err, errlen))
            return -1;
    } else if (vlen != hp->head_dim) {
        return gguf_fail(m->f.path, err, errlen,
                         "attention.value_length (%d) differs from key_length (%d): "
                         "not supported",
                         vlen, hp->head_dim);
    }
    hp->n_rot = hp->head_dim;
    if (model_get_int(m, "rope.dimension_count", &hp->n_rot, false, 0, hp->head_dim, err, errlen))
        return -1;
    if (hp->n_rot % 2)
        return gguf_fail(m->f.path, err, errlen, "rope.dimension_count %d is odd", hp->n_rot);

    if (hp->n_experts > 0) {
        if (hp->n_experts_used < 1 || hp->n_experts_used > hp->n_experts)
            return gguf_fail(m->f.path, err, errlen, "expert_used_count %d is outside [1, %d]",
                             hp->n_experts_used, hp->n_experts);
        if (hp->n_experts_used > TRACE_MAX_K)
            return gguf_fail(m->f.path, err, errlen,
                             "expert_used_count %d is more than moescope traces (%d)",
                             hp->n_experts_used, TRACE_MAX_K);
        if (hp->n_experts > 65535)
            return gguf_fail(m->f.path, err, errlen, "expert_count %d is too large", hp->n_experts);
        hp->n_ff_exp = m->arch->ff_exp_div_k ? hp->n_ff / hp->n_experts_used : hp->n_ff;
        if (model_get_int(m, "expert_feed_forward_length", &hp->n_ff_exp, false, 1, big, err,
                          errlen) ||
            model_get_int(m, "leading_dense_block_count", &hp->n_dense_lead, false, 0,
                          hp->n_layers, err, errlen) ||
            model_get_int(m, "expert_shared_count", &hp->n_shared_experts, false, 0, 65536, err,
                          errlen) ||
            model_get_int(m, "expert_shared_feed_forward_length", &hp->n_ff_shexp, false, 0, big,
                          err, errlen))
            return -1;
        /* ernie4_5-moe's MoE layers may alternate with dense ones; llama.cpp's loader gives
         * every layer after the leading dense ones experts, so only a step of 1 runs there */
        int step = 1;
        if (model_get_int(m, "interleave_moe_layer_step", &step, false, 0, 65536, err, errlen))
            return -1;
        if (step > 1)
            return gguf_fail(m->f.path, err, errlen,
                             "the key '%s.interleave_moe_layer_step' is %d: MoE layers "
                             "between dense ones are not supported", m->key_arch, step);
        if (m->arch->need[AT_FFN_GATE_SHEXP] == AN_REQ && hp->n_ff_shexp == 0)
            hp->n_ff_shexp = hp->n_shared_experts > 0 && !m->arch->shared_gate
                                 ? hp->n_ff_exp * hp->n_shared_experts
                                 : hp->n_ff;
        if (hp->n_ff_shexp > 0 && hp->n_shared_experts == 0)
            hp->n_shared_experts = 1;
    } else {
        hp->n_experts_used = 0;
    }
    if (hp->n_ff <= 0 && (hp->n_experts == 0 || hp->n_dense_lead > 0))
        return gguf_fail(m->f.path, err, errlen, "the key '%s.feed_forward_length' is missing",
                         m->key_arch);

    hp->rope_base = 10000.0f;
    hp->norm_eps = 1e-5f;
    if (model_get_float(m, "rope.freq_base", &hp->rope_base, err, errlen) ||
        model_get_float(m, "attention.layer_norm_rms_epsilon", &hp->norm_eps, err, errlen) ||
        model_read_rope(m, err, errlen))
        return -1;
    /* Accepted, these computed garbage (a zero base is 0^x, a zero epsilon divides by 0). */
    if (!(hp->rope_base > 0.0f))
        return gguf_fail(m->f.path, err, errlen,
                         "the key '%s.rope.freq_base' is %g: it must be above 0", m->key_arch,
                         (double)hp->rope_base);
    if (!(hp->norm_eps > 0.0f))
        return gguf_fail(m->f.path, err, errlen,
                         "the key '%s.attention.layer_norm_rms_epsilon' is %g: it must be "
                         "above 0", m->key_arch, (double)hp->norm_eps);
    char key[128];

    hp->router = m->arch->router;
    hp->router_renorm = m->arch->router_renorm;
    int gating = 0;
    if (model_get_int(m, "expert_gating_func", &gating, false, 0, 4, err, errlen))
        return -1;
    if (m->arch->router == ARCH_ROUTER_SOFTMAX_WEIGHT)
        ; /* gpt-oss's graph routes so whatever the key says */
    else if (gating == 1)
        hp->router = ARCH_ROUTER_SOFTMAX;
    else if (gating == 2)
        hp->router = ARCH_ROUTER_SIGMOID;
    bool norm;
    int rc = gguf_get_bool(&m->f, model_key(m, "expert_weights_norm", key, sizeof key), &norm,
                           err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0)
        hp->router_renorm = norm;
    if (model_get_float(m, "expert_weights_scale", &hp->expert_weights_scale, err, errlen) ||
        model_get_int(m, "expert_group_count", &hp->n_expert_groups, false, 0, 256, err,
                      errlen) ||
        model_get_int(m, "expert_group_used_count", &hp->n_group_used, false, 0, 65536, err,
                      errlen))
        return -1;
    if (hp->n_expert_groups > 1 &&
        (hp->n_experts % hp->n_expert_groups || hp->n_experts / hp->n_expert_groups < 2 ||
         hp->n_group_used < 1 || hp->n_group_used > hp->n_expert_groups ||
         hp->n_group_used * (hp->n_experts / hp->n_expert_groups) < hp->n_experts_used))
        return gguf_fail(m->f.path, err, errlen,
                         "expert groups: %d experts in %d groups, %d used, top %d: not a "
                         "valid grouping",
                         hp->n_experts, hp->n_expert_groups, hp->n_group_used,
                         hp->n_experts_used);

    if (model_read_swa(m, err, errlen))
        return -1;
    hp->kq_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (m->arch->latent_attn) {
        /* llama.cpp's deepseek2 graph: the YaRN mscale folded into the scores' scale */
        const float lf = logf(1.0f / hp->rope_freq_scale);
        const float org = hp->rope_attn_factor * (1.0f + 0.1f * lf);
        const float mscale = org * (1.0f + 0.1f * hp->yarn_log_mul * lf);
        hp->kq_scale = 1.0f * mscale * mscale / sqrtf((float)hp->head_dim);
    }
    if (m->arch->granite_scales) {
        float attn_scale = 0.0f;
        if (model_get_float(m, "embedding_scale", &hp->embedding_scale, err, errlen) ||
            model_get_float(m, "residual_scale", &hp->residual_scale, err, errlen) ||
            model_get_float(m, "attention.scale", &attn_scale, err, errlen) ||
            model_get_float(m, "logit_scale", &hp->logit_scale, err, errlen))
            return -1;
        if (attn_scale != 0.0f)
            hp->kq_scale = attn_scale;
    }
    return 0;
}

/* ------------------------------------------------------------------ tensors */

/* The number each arch_dim stands for in this model. */
static int64_t model_dim(const struct model *m, enum arch_dim d)
{
    const struct hparams *hp = &m->hp;
    const int64_t q = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv = (int64_t)hp->n_kv_head * hp->head_dim;
    const int64_t v[AD_COUNT] = {
        [AD_NONE] = 1,
        [AD_D_MODEL] = hp->d_model,
        [AD_VOCAB] = hp->n_vocab,
        [AD_HEAD_DIM] = hp->head_dim,
        [AD_Q] = q,
        [AD_KV] = kv,
        [AD_Q_NORM] = q,
        [AD_K_NORM] = kv,
        [AD_FF] = hp->n_ff,
        [AD_EXPERTS] = hp->n_experts,
        [AD_FF_EXP] = hp->n_ff_exp,
        [AD_FF_SHEXP] = hp->n_ff_shexp,
        [AD_O_IN] = (int64_t)hp->n_head * hp->head_dim_v,
        [AD_Q_LORA] = hp->n_lora_q,
        [AD_KV_LORA] = hp->n_lora_kv,
        [AD_KV_A] = (int64_t)hp->n_lora_kv + hp->n_rot,
        [AD_QK_NOPE] = hp->head_dim - hp->n_rot,
        [AD_HEAD_V] = hp->head_dim_v,
        [AD_HEADS] = hp->n_head,
        [AD_KV_B] = (int64_t)hp->n_head * (hp->head_dim - hp->n_rot + hp->head_dim_v),
    };
    return (int)d >= 0 && d < AD_COUNT ? v[d] : 1;
}

/* Expected shape of a role, from the role table and the hyper-parameters; what names the
 * dimensions ("d_model x n_vocab"). Returns the number of dims. */
static int model_expected_shape(const struct model *m, enum arch_tensor t, int64_t ne[3],
                                char *what, size_t whatlen)
{
    enum arch_dim dims[3];
    int nd = arch_role_shape(m->arch, t, dims);
    size_t o = 0;
    what[0] = 0;
    for (int i = 0; i < 3; i++) {
        ne[i] = model_dim(m, dims[i]);
        if (i < nd && o < whatlen)
            o += (size_t)snprintf(what + o, whatlen - o, "%s%s", i ? " x " : "",
                                  arch_dim_name(dims[i]));
    }
    return nd;
}

static void model_fmt_shape(const int64_t *ne, int n, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < len)
        snprintf(buf + o, len - o, "]");
}

/* Binds one tensor. need: how much the model wants it. compute: types must be usable by
 * the forward pass (model_describe only needs the shapes). */
static int model_bind(struct model *m, enum arch_tensor t, int layer, enum arch_need need,
                      bool compute, struct wt *w, char *err, size_t errlen)
{
    char name[96];
    memset(w, 0, sizeof *w);
    if (need == AN_NO)
        return 0;
    arch_tensor_name(t, layer, name, sizeof name);
    const struct gguf_tensor *g = gguf_find_tensor(&m->f, name);
    if (!g && m->ollama) {
        char alt[96];
        if (ollama_alt_name(t, layer, alt, sizeof alt) && (g = gguf_find_tensor(&m->f, alt)))
            snprintf(name, sizeof name, "%s", alt);
        int rc = g ? 0 : ollama_bind_fused(m, t, layer, compute, w, err, errlen);
        if (rc)
            return rc < 0 ? -1 : 0;
    }
    if (!g) {
        if (need == AN_REQ)
            return gguf_fail(m->f.path, err, errlen, "tensor '%s' is missing (%s needs it)", name,
                             m->arch->name);
        return 0;
    }
    int64_t ne[3];
    char what[96];
    int nd = model_expected_shape(m, t, ne, what, sizeof what);
    int64_t got[GGUF_MAX_DIMS];
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        got[i] = i < (int)g->n_dims ? g->ne[i] : 1;
    bool ok = got[3] == 1;
    for (int i = 0; i < 3; i++)
        ok = ok && got[i] == ne[i];
    if (!ok) {
        char a[96], b[96];
        int gn = (int)g->n_dims < 1 ? 1 : (int)g->n_dims;
        model_fmt_shape(got, gn > 4 ? 4 : gn, a, sizeof a);
        model_fmt_shape(ne, nd, b, sizeof b);
        return gguf_fail(m->f.path, err, errlen, "tensor '%s' has shape %s, expected %s (%s)",
                         name, a, b, what);
    }
    /* vectors and biases are added or multiplied as floats */
    const bool floats = nd == 1 || t == AT_FFN_GATE_EXPS_B || t == AT_FFN_UP_EXPS_B ||
                        t == AT_FFN_DOWN_EXPS_B;
    unsigned type = g->type;
    const uint8_t *data = g->data;
    if (compute && m->ollama && !(data = ollama_tensor_data(m, g, floats, &type, err, errlen)))
        return -1;
    const struct quant_traits *qt = quant_traits(type);
    if (!qt || !qt->name)
        return gguf_fail(m->f.path, err, errlen, "tensor '%s' has unknown type %u", name, type);
    if (got[0] % qt->blck_size)
        return gguf_fail(m->f.path, err, errlen,
                         "tensor '%s': row length %lld is not a multiple of %s's block of %lld",
                         name, (long long)got[0], qt->name, (long long)qt->blck_size);
    if (compute) {
        if (floats && type != GGML_TYPE_F32)
            return gguf_fail(m->f.path, err, errlen, "tensor '%s' is %s; moescope needs f32 here",
                             name, qt->name);
        if (!quant_computable(type))
            return gguf_fail(m->f.path, err, errlen,
                             "tensor '%s' has type %s, which moescope cannot compute", name,
                             qt->name);
    }
    size_t nb1 = quant_row_size(type, got[0]);
    if (nb1 == 0 ||
        (uint64_t)quant_row_size(g->type, got[0]) * (uint64_t)got[1] * (uint64_t)got[2] > g->nbytes)
        return gguf_fail(m->f.path, err, errlen, "tensor '%s' is smaller than its shape says",
                         name);
    w->data = data;
    w->type = type;
    w->ne[0] = got[0], w->ne[1] = got[1], w->ne[2] = got[2];
    w->nb1 = nb1;
    w->nb2 = nb1 * (size_t)got[1];
    return 0;
}

/* How much layer L wants role t: the family's need, narrowed by the role's kind. */
static enum arch_need model_layer_need(const struct model *m, const struct layer *L, int t)
{
    enum arch_need need = (enum arch_need)m->arch->need[t];
    bool shared = m->hp.n_ff_shexp > 0;
    switch (arch_role((enum arch_tensor)t)->kind) {
    case AK_LAYER:
        return need;
    case AK_DENSE_FFN:
        return L->moe ? AN_NO : need;
    case AK_MOE:
    case AK_EXPERTS:
        return L->moe ? need : AN_NO;
    case AK_SHARED: /* required where the file says it has a shared expert */
        return L->moe && need != AN_NO && shared ? AN_REQ : AN_NO;
    case AK_SHARED_GATE:
        return L->moe && shared ? need : AN_NO;
    case AK_Q_PLAIN:
        return m->hp.n_lora_q > 0 ? AN_NO : need;
    case AK_Q_LORA:
        return m->hp.n_lora_q > 0 ? need : AN_NO;
    case AK_KV_JOINT:
        return m->hp.mla_absorbed ? AN_NO : need;
    case AK_KV_SPLIT:
        return m->hp.mla_absorbed ? need : AN_NO;
    case AK_MODEL:
        break;
    }
    return AN_NO;
}

static int model_bind_all(struct model *m, bool compute, char *err, size_t errlen)
{
    const struct arch_info *a = m->arch;
    const struct hparams *hp = &m->hp;
    if (model_bind(m, AT_TOKEN_EMBD, 0, AN_REQ, compute, &m->tok_embd, err, errlen) ||
        model_bind(m, AT_OUTPUT_NORM, 0, AN_REQ, compute, &m->output_norm, err, errlen) ||
        model_bind(m, AT_OUTPUT, 0, a->output_tied_ok ? AN_OPT : AN_REQ, compute, &m->output,
                   err, errlen))
        return -1;
    if (!m->output.data)
        m->output = m->tok_embd;
    m->layers = calloc((size_t)hp->n_layers, sizeof *m->layers);
    if (!m->layers)
        return gguf_fail(m->f.path, err, errlen, "out of memory");
    for (int il = 0; il < hp->n_layers; il++) {
        struct layer *L = &m->layers[il];
        L->moe = hp->n_experts > 0 && il >= hp->n_dense_lead;
        for (int t = AT_FIRST_LAYER_TENSOR; t < AT_COUNT; t++)
            if (model_bind(m, (enum arch_tensor)t, il, model_layer_need(m, L, t), compute,
                           &L->t[t], err, errlen))
                return -1;
    }
    /* A block_count below the blocks the file holds would run a cut model as if whole. */
    for (uint64_t i = 0; i < m->f.n_tensors; i++) {
        int il;
        if (sscanf(m->f.tensors[i].name, "blk.%d.", &il) == 1 && il >= hp->n_layers + hp->n_nextn)
            return gguf_fail(m->f.path, err, errlen, "the key '%s.block_count' is %d, but the "
                             "file holds tensors of block %d", m->key_arch,
                             hp->n_layers + hp->n_nextn, il);
    }
    return 0;
}

/* Binds m to the GGUF in m->f (already read; m takes it over, closing it on failure). */
static int model_bind_file(struct model *m, bool compute, char *err, size_t errlen)
{
    char arch[64];
    int rc = gguf_get_strz(&m->f, "general.architecture", arch, sizeof arch, err, errlen);
    if (rc != 0) {
        if (rc == 1)
            gguf_fail(m->f.path, err, errlen, "the key 'general.architecture' is missing");
        gguf_close(&m->f);
        return -1;
    }
    m->arch = arch_find(arch);
    if (!m->arch) {
        char list[512];
        size_t o = 0;
        for (int i = 0; i < arch_count() && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                                  arch_at(i)->name);
        /* the name is the file's: shown escaped, so a terminal never obeys it */
        char shown[4 * sizeof arch + 8];
        text_escape_line(arch, strlen(arch), shown, sizeof shown);
        gguf_fail(m->f.path, err, errlen, "architecture '%s' is not supported (moescope runs: %s)",
                  shown, list);
        gguf_close(&m->f);
        return -1;
    }
    m->ollama = m->arch->alias && !strcmp(arch, m->arch->alias);
    m->key_arch = m->ollama ? m->arch->alias : m->arch->name;
    if (model_read_hparams(m, err, errlen))
        goto fail;
    /* The vocabulary size is the embedding's row count (the token list says the same). */
    const struct gguf_tensor *emb = gguf_find_tensor(&m->f, "token_embd.weight");
    if (!emb || emb->n_dims < 2) {
        gguf_fail(m->f.path, err, errlen, "tensor 'token_embd.weight' is missing");
        goto fail;
    }
    if (emb->ne[1] < 1 || emb->ne[1] > INT32_MAX) {
        gguf_fail(m->f.path, err, errlen, "tensor 'token_embd.weight' has %lld rows",
                  (long long)emb->ne[1]);
        goto fail;
    }
    m->hp.n_vocab = (int)emb->ne[1];
    if (model_bind_all(m, compute, err, errlen))
        goto fail;
    return 0;
fail:
    model_close(m);
    return -1;
}

static int model_open_mode(struct model *m, const char *path, bool compute, char *err,
                           size_t errlen)
{
    memset(m, 0, sizeof *m);
    /* A description reads the header alone: no map of the weights. Any part of a split
     * model opens the whole set. */
    if (gguf_open_set(&m->f, path, !compute, err, errlen))
        return -1;
    return model_bind_file(m, compute, err, errlen);
}

int model_from_memory(struct model *m, const void *data, uint64_t size, const char *name,
                      char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (gguf_parse(&m->f, data, size, name, err, errlen))
        return -1;
    return model_bind_file(m, true, err, errlen);
}

int model_open(struct model *m, const char *path, char *err, size_t errlen)
{
    return model_open_mode(m, path, true, err, errlen);
}

void model_close(struct model *m)
{
    if (!m)
        return;
    free(m->layers);
    for (uint64_t i = 0; m->owned && i < m->f.n_tensors; i++)
        free(m->owned[i]);
    free(m->owned);
    gguf_close(&m->f);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ description */

static uint64_t wt_elems(const struct wt *w)
{
    return w->data ? (uint64_t)w->ne[0] * (uint64_t)w->ne[1] * (uint64_t)w->ne[2] : 0;
}

static uint64_t wt_bytes(const struct wt *w)
{
    /* the rows read, not the strides: a view's rows may lie apart (ollama.c) */
    return w->data ? quant_row_size(w->type, w->ne[0]) * (uint64_t)w->ne[1] * (uint64_t)w->ne[2]
                   : 0;
}

/* The chat template's style as engine/chat recognises it, or CHAT_STYLE_NONE. */
static enum chat_style model_chat_style(const struct gguf_file *f)
{
    struct gguf_str s;
    char err[8];
    if (gguf_get_str(f, "tokenizer.chat_template", &s, err, sizeof err) != 0)
        return CHAT_STYLE_NONE;
    char *text = malloc(s.len + 1);
    if (!text)
        return CHAT_STYLE_NONE;
    memcpy(text, s.ptr, s.len);
    text[s.len] = 0;
    enum chat_style st = chat_detect_style(text);
    free(text);
    return st;
}

/* What a description takes from the file alone (d cleared first): the name (else the file
 * name), path, sizes, the tokenizer and chat style, the tensors' types and parameters. */
static void model_desc_of_file(const struct gguf_file *f, struct model_desc *d)
{
    char err[8];
    memset(d, 0, sizeof *d);
    if (gguf_get_strz(f, "general.name", d->name, sizeof d->name, err, sizeof err) != 0) {
        const char *base = strrchr(f->path, '/');
        snprintf(d->name, sizeof d->name, "%.*s", (int)sizeof d->name - 1,
                 base ? base + 1 : f->path);
    }
    snprintf(d->path, sizeof d->path, "%s", f->path);
    d->file_size = gguf_set_size(f);
    d->n_files = f->split_count > 1 ? (int)f->split_count : 1;
    d->gguf_version = f->version;
    char tk[16] = "";
    gguf_get_strz(f, "tokenizer.ggml.model", tk, sizeof tk, err, sizeof err);
    snprintf(d->tokenizer, sizeof d->tokenizer, "%s",
             !strcmp(tk, "llama") ? "spm" : !strcmp(tk, "gpt2") ? "bpe" : tk);
    gguf_get_strz(f, "tokenizer.ggml.pre", d->pretokenizer, sizeof d->pretokenizer, err,
                  sizeof err);
    /* The style, not only its family: a family name stands for its first style (deepseek:
     * DeepSeek-Coder's), and V3's template is another. */
    enum chat_style st = model_chat_style(f);
    snprintf(d->chat_family, sizeof d->chat_family, "%s",
             chat_family_names[chat_style_family(st)]);
    snprintf(d->chat_style, sizeof d->chat_style, "%s", chat_style_name(st));
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        if (t->type < 64)
            d->tensors_per_type[t->type]++;
        uint64_t n = 1;
        for (uint32_t k = 0; k < t->n_dims; k++)
            n *= (uint64_t)t->ne[k];
        d->n_params += n;
    }
}

void model_fill_desc(const struct model *m, struct model_desc *d)
{
    const struct hparams *hp = &m->hp;
    model_desc_of_file(&m->f, d);
    snprintf(d->arch, sizeof d->arch, "%.*s", (int)sizeof d->arch - 1, m->key_arch);
    d->n_layers = hp->n_layers;
    d->d_model = hp->d_model;
    d->n_heads = hp->n_head;
    d->n_kv_heads = hp->n_kv_head;
    d->head_dim = hp->head_dim;
    d->n_ctx_train = hp->n_ctx_train;
    d->n_experts = hp->n_experts;
    d->n_experts_used = hp->n_experts_used;
    d->d_ff = (hp->n_experts == 0 || hp->n_dense_lead > 0) ? hp->n_ff : 0;
    d->d_ff_expert = hp->n_experts ? hp->n_ff_exp : 0;
    d->n_shared_experts = hp->n_shared_experts;
    d->d_ff_shared = hp->n_ff_shexp;
    d->n_dense_lead = hp->n_experts ? hp->n_dense_lead : 0;
    d->n_vocab = hp->n_vocab;
    d->rope_base = hp->rope_base;
    d->rope_scale = hp->rope_freq_scale;
    d->rope_neox = m->arch->rope == ARCH_ROPE_NEOX;
    d->norm_eps = hp->norm_eps;
    d->qk_norm = m->arch->qk_norm != ARCH_QK_NORM_NONE;
    d->qkv_bias = m->layers && m->layers[0].t[AT_ATTN_Q_B].data != NULL;
    snprintf(d->router, sizeof d->router, "%s",
             hp->router == ARCH_ROUTER_SIGMOID          ? "sigmoid"
             : hp->router == ARCH_ROUTER_SOFTMAX_WEIGHT ? "top-k softmax"
                                                        : "softmax");
    d->router_renorm = hp->router_renorm;
    if (m->ollama) /* the tokenizer splits Ollama's gptoss as gpt-4o whatever the key says */
        snprintf(d->pretokenizer, sizeof d->pretokenizer, "gpt-4o");

    /* One decode step: one embedding row, every non-expert weight of every layer, k of the
     * n experts' matrices, the final norm and the output matrix. (The KV cache reads grow
     * with the context and are not counted.) */
    uint64_t ap = (uint64_t)hp->d_model, ab = m->tok_embd.nb1, expert_total = 0;
    int n_moe_layers = 0;
    ap += wt_elems(&m->output_norm) + wt_elems(&m->output);
    ab += wt_bytes(&m->output_norm) + wt_bytes(&m->output);
    for (int il = 0; il < hp->n_layers; il++) {
        const struct layer *L = &m->layers[il];
        bool routed = false;
        for (int t = AT_FIRST_LAYER_TENSOR; t < AT_COUNT; t++) {
            const struct wt *w = &L->t[t];
            if (!w->data)
                continue;
            if (arch_role((enum arch_tensor)t)->kind == AK_EXPERTS) {
                routed = true;
                expert_total += wt_bytes(w);
                /* one slice per expert; a step reads k of the n */
                ap += wt_elems(w) / (uint64_t)hp->n_experts * (uint64_t)hp->n_experts_used;
                ab += wt_bytes(w) / (uint64_t)hp->n_experts * (uint64_t)hp->n_experts_used;
            } else {
                ap += wt_elems(w);
                ab += wt_bytes(w);
            }
        }
        n_moe_layers += routed;
    }
    d->n_active_params = ap;
    d->active_bytes = ab;
    if (n_moe_layers && hp->n_experts)
        d->expert_bytes = expert_total / (uint64_t)n_moe_layers / (uint64_t)hp->n_experts;

    const uint64_t plain = (uint64_t)hp->n_kv_head * (uint64_t)(hp->head_dim + hp->head_dim_v);
    const uint64_t heads = (uint64_t)hp->n_head * (uint64_t)(hp->head_dim + hp->head_dim_v);
    uint64_t per_layer = plain;
    if (m->arch->latent_attn && hp->mla_absorbed)
        per_layer = (uint64_t)hp->n_lora_kv + (uint64_t)hp->n_rot;
    d->kv_bytes_per_token = 2 * per_layer * (uint64_t)hp->n_layers;
    d->kv_bytes_per_token_plain = 2 * (m->arch->latent_attn ? heads : plain) * (uint64_t)hp->n_layers;
    d->kv_lora_rank = m->arch->latent_attn ? hp->n_lora_kv : 0;
    d->q_lora_rank = m->arch->latent_attn ? hp->n_lora_q : 0;
}

/* An integer key ARCH.suffix of f into *out when it is there and fits (else *out stays). */
static void model_file_int(const struct gguf_file *f, const char *arch, const char *suffix,
                           int *out)
{
    char key[160], err[8];
    int32_t v;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (gguf_get_i32(f, key, &v, err, sizeof err) == 0 && v >= 0)
        *out = v;
}

int model_describe_file(const char *path, struct model_desc *d, char *err, size_t errlen)
{
    struct gguf_file f;
    if (gguf_open_set(&f, path, true, err, errlen))
        return -1;
    model_desc_of_file(&f, d);
    char e8[8];
    if (gguf_get_strz(&f, "general.architecture", d->arch, sizeof d->arch, e8, sizeof e8) != 0)
        d->arch[0] = '\0';
    if (d->arch[0]) {
        model_file_int(&f, d->arch, "block_count", &d->n_layers);
        model_file_int(&f, d->arch, "embedding_length", &d->d_model);
        model_file_int(&f, d->arch, "attention.head_count", &d->n_heads);
        model_file_int(&f, d->arch, "attention.head_count_kv", &d->n_kv_heads);
        model_file_int(&f, d->arch, "context_length", &d->n_ctx_train);
        model_file_int(&f, d->arch, "expert_count", &d->n_experts);
        model_file_int(&f, d->arch, "expert_used_count", &d->n_experts_used);
        model_file_int(&f, d->arch, "feed_forward_length", &d->d_ff);
        model_file_int(&f, d->arch, "expert_feed_forward_length", &d->d_ff_expert);
    }
    const struct gguf_tensor *emb = gguf_find_tensor(&f, "token_embd.weight");
    if (emb && emb->n_dims >= 2 && emb->ne[1] <= INT32_MAX)
        d->n_vocab = (int)emb->ne[1];
    gguf_close(&f);
    return 0;
}

int model_describe(const char *path, struct model_desc *d, char *err, size_t errlen)
{
    struct model m;
    if (model_open_mode(&m, path, false, err, errlen))
        return -1;
    model_fill_desc(&m, d);
    model_close(&m);
    return 0;
}
