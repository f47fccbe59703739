/* engine/quant.c: the type table. Kernels are filled in by the quant work (see quant.h). */
#include "quant.h"

#include <string.h>

#define ROW(id, nm, bs, ts, q) [id] = { .name = nm, .blck_size = bs, .type_size = ts, .is_quantized = q }

static const struct quant_traits table[GGML_TYPE_COUNT] = {
    ROW(GGML_TYPE_F32, "f32", 1, 4, false),
    ROW(GGML_TYPE_F16, "f16", 1, 2, false),
    ROW(GGML_TYPE_Q4_0, "q4_0", 32, 18, true),
    ROW(GGML_TYPE_Q4_1, "q4_1", 32, 20, true),
    ROW(GGML_TYPE_Q5_0, "q5_0", 32, 22, true),
    ROW(GGML_TYPE_Q5_1, "q5_1", 32, 24, true),
    ROW(GGML_TYPE_Q8_0, "q8_0", 32, 34, true),
    ROW(GGML_TYPE_Q8_1, "q8_1", 32, 36, true),
    ROW(GGML_TYPE_Q2_K, "q2_K", 256, 84, true),
    ROW(GGML_TYPE_Q3_K, "q3_K", 256, 110, true),
    ROW(GGML_TYPE_Q4_K, "q4_K", 256, 144, true),
    ROW(GGML_TYPE_Q5_K, "q5_K", 256, 176, true),
    ROW(GGML_TYPE_Q6_K, "q6_K", 256, 210, true),
    ROW(GGML_TYPE_Q8_K, "q8_K", 256, 292, true),
    ROW(GGML_TYPE_IQ2_XXS, "iq2_xxs", 256, 66, true),
    ROW(GGML_TYPE_IQ2_XS, "iq2_xs", 256, 74, true),
    ROW(GGML_TYPE_IQ3_XXS, "iq3_xxs", 256, 98, true),
    ROW(GGML_TYPE_IQ1_S, "iq1_s", 256, 50, true),
    ROW(GGML_TYPE_IQ4_NL, "iq4_nl", 32, 18, true),
    ROW(GGML_TYPE_IQ3_S, "iq3_s", 256, 110, true),
    ROW(GGML_TYPE_IQ2_S, "iq2_s", 256, 82, true),
    ROW(GGML_TYPE_IQ4_XS, "iq4_xs", 256, 136, true),
    ROW(GGML_TYPE_I8, "i8", 1, 1, false),
    ROW(GGML_TYPE_I16, "i16", 1, 2, false),
    ROW(GGML_TYPE_I32, "i32", 1, 4, false),
    ROW(GGML_TYPE_I64, "i64", 1, 8, false),
    ROW(GGML_TYPE_F64, "f64", 1, 8, false),
    ROW(GGML_TYPE_IQ1_M, "iq1_m", 256, 56, true),
    ROW(GGML_TYPE_BF16, "bf16", 1, 2, false),
    ROW(GGML_TYPE_TQ1_0, "tq1_0", 256, 54, true),
    ROW(GGML_TYPE_TQ2_0, "tq2_0", 256, 66, true),
    ROW(GGML_TYPE_MXFP4, "mxfp4", 32, 17, true),
};

const struct quant_traits *quant_traits(uint32_t type)
{
    if (type >= GGML_TYPE_COUNT || !table[type].name)
        return NULL;
    return &table[type];
}

bool quant_computable(uint32_t type)
{
    const struct quant_traits *t = quant_traits(type);
    return t && t->to_float && t->vec_dot;
}

size_t quant_row_size(uint32_t type, int64_t n)
{
    const struct quant_traits *t = quant_traits(type);
    return t ? (size_t)(n / t->blck_size) * t->type_size : 0;
}
