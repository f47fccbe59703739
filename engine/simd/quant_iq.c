/* engine/simd/quant_iq.c: the plain C reference of the table-coded 4-bit types: mxfp4
 * (gpt-oss's experts), iq4_nl and iq4_xs (the popular 4-bit quantizations of large MoE
 * models). Each value is a 4-bit code looked up in a table of 16 levels, times a scale.
 *
 * Partners, as llama.cpp's CPU backend pairs them: mxfp4 and iq4_nl with q8_0
 * activations, iq4_xs with q8_K. The dot products follow ggml's generic C order (integer
 * sums per block, then the float scale); the repacked order is that of llama.cpp's
 * 8-row interleaved kernels, which its x86 and arm64 builds use for mxfp4 and iq4_nl
 * weights with a row count that is a multiple of 8 (experts included).
 *
 * The quantizers make simple valid blocks (for tests and tools/synth): the block scale
 * that maps the largest magnitude onto the table's end, then the nearest level. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "quant_blocks.h"

const int8_t quant_kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                        1,    13,   25,  38,  53,  69,  89,  113};
const int8_t quant_kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

#define H2F(h) quant_f16_to_f32(h)

/* The code whose level times scale is nearest to x (the first one on a tie). */
static uint8_t nearest_code(const int8_t levels[16], float x, float scale)
{
    int best = 0;
    float best_err = fabsf((float)levels[0] * scale - x);
    for (int i = 1; i < 16; i++) {
        const float err = fabsf((float)levels[i] * scale - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return (uint8_t)best;
}

/* 32 values onto 16 nibble bytes: value j low, value j + 16 high (q4_0's order). */
static void pack_codes(const int8_t levels[16], const float *x, float scale, uint8_t qs[16])
{
    for (int j = 0; j < 16; j++)
        qs[j] = (uint8_t)(nearest_code(levels, x[j], scale) |
                          (nearest_code(levels, x[j + 16], scale) << 4));
}

static void unpack_codes(const int8_t levels[16], const uint8_t qs[16], float scale, float *y)
{
    for (int j = 0; j < 16; j++) {
        y[j] = (float)levels[qs[j] & 0xF] * scale;
        y[j + 16] = (float)levels[qs[j] >> 4] * scale;
    }
}

/* sum over a 32-value block of level(code) * q8 (exact in int). */
static int block_isum(const int8_t levels[16], const uint8_t qs[16], const int8_t *q8)
{
    int s0 = 0, s1 = 0;
    for (int j = 0; j < 16; j++) {
        s0 += q8[j] * levels[qs[j] & 0xF];
        s1 += q8[j + 16] * levels[qs[j] >> 4];
    }
    return s0 + s1;
}

/* The two 32-value block types differ only in their table and scale: the dot products
 * (ggml's generic order, and the repacked order) are written once over a block view. */
struct block32_view {
    const int8_t *levels;
    size_t size;                            /* bytes per block */
    size_t qs;                              /* offset of the 16 code bytes */
    float (*scale)(const uint8_t *block);   /* the block's float scale */
};

static float mxfp4_scale(const uint8_t *b)
{
    return quant_e8m0_half(b[0]);
}

static float iq4_nl_scale(const uint8_t *b)
{
    quant_half h;
    memcpy(&h, b, 2);
    return H2F(h);
}

static const struct block32_view view_mxfp4 = {quant_kvalues_mxfp4, sizeof(struct block_mxfp4),
                                               offsetof(struct block_mxfp4, qs), mxfp4_scale};
static const struct block32_view view_iq4_nl = {quant_kvalues_iq4nl, sizeof(struct block_iq4_nl),
                                                offsetof(struct block_iq4_nl, qs), iq4_nl_scale};

/* ggml's generic order: per block d = d_y * d_x, sumf += d * isum (rounded twice). */
static float block32_dot(const struct block32_view *v, int64_t n, const void *vx,
                         const struct block_q8_0 *y)
{
    const uint8_t *x = vx;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / 32; b++, x += v->size) {
        const float d = H2F(y[b].d) * v->scale(x);
        sumf += d * (float)block_isum(v->levels, x + v->qs, y[b].qs);
    }
    return sumf;
}

/* The repacked kernels' order: one fused step a block. */
static float block32_dot_repack(const struct block32_view *v, int64_t n, const void *vx,
                                const struct block_q8_0 *y)
{
    const uint8_t *x = vx;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 32; b++, x += v->size)
        acc = fmaf((float)block_isum(v->levels, x + v->qs, y[b].qs), v->scale(x) * H2F(y[b].d),
                   acc);
    return acc;
}

/* ------------------------------------------------------------------ mxfp4 */

void quant_mxfp4_to_float(const void *src, float *dst, int64_t n)
{
    const struct block_mxfp4 *x = src;
    for (int64_t b = 0; b < n / QK_MXFP4; b++)
        unpack_codes(quant_kvalues_mxfp4, x[b].qs, quant_e8m0_half(x[b].e), dst + b * QK_MXFP4);
}

void quant_mxfp4_from_float(const float *src, void *dst, int64_t n)
{
    struct block_mxfp4 *y = dst;
    for (int64_t b = 0; b < n / QK_MXFP4; b++, src += QK_MXFP4) {
        const float amax = fabsf(quant_signed_absmax(src, QK_MXFP4));
        /* the smallest power of two with 12 * 2^(e-128) >= amax */
        int e = 0;
        if (amax > 0.0f) {
            int ex;
            frexpf(amax / 12.0f, &ex); /* amax/12 = m * 2^ex, m in [0.5, 1) */
            e = ex + 128;
            e = e < 0 ? 0 : e > 254 ? 254 : e;
        }
        y[b].e = (uint8_t)e;
        pack_codes(quant_kvalues_mxfp4, src, quant_e8m0_half(y[b].e), y[b].qs);
    }
}

float quant_mxfp4_vec_dot(int64_t n, const void *vx, const void *vy)
{
    return block32_dot(&view_mxfp4, n, vx, vy);
}

float quant_mxfp4_vec_dot_repack(int64_t n, const void *vx, const void *vy)
{
    return block32_dot_repack(&view_mxfp4, n, vx, vy);
}

/* ------------------------------------------------------------------ iq4_nl */

void quant_iq4_nl_to_float(const void *src, float *dst, int64_t n)
{
    const struct block_iq4_nl *x = src;
    for (int64_t b = 0; b < n / QK4_NL; b++)
        unpack_codes(quant_kvalues_iq4nl, x[b].qs, H2F(x[b].d), dst + b * QK4_NL);
}

void quant_iq4_nl_from_float(const float *src, void *dst, int64_t n)
{
    struct block_iq4_nl *y = dst;
    for (int64_t b = 0; b < n / QK4_NL; b++, src += QK4_NL) {
        /* the largest magnitude maps to the level -127 */
        y[b].d = quant_f32_to_f16(quant_signed_absmax(src, QK4_NL) / -127.0f);
        pack_codes(quant_kvalues_iq4nl, src, H2F(y[b].d), y[b].qs);
    }
}

float quant_iq4_nl_vec_dot(int64_t n, const void *vx, const void *vy)
{
    return block32_dot(&view_iq4_nl, n, vx, vy);
}

float quant_iq4_nl_vec_dot_repack(int64_t n, const void *vx, const void *vy)
{
    return block32_dot_repack(&view_iq4_nl, n, vx, vy);
}

/* ------------------------------------------------------------------ iq4_xs */

void quant_iq4_xs_to_float(const void *src, float *dst, int64_t n)
{
    const struct block_iq4_xs *x = src;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = H2F(x[b].d);
        for (int g = 0; g < QK_K / 32; g++)
            unpack_codes(quant_kvalues_iq4nl, x[b].qs + 16 * g,
                         d * (float)quant_iq4_xs_scale(&x[b], g), dst + b * QK_K + 32 * g);
    }
}

void quant_iq4_xs_from_float(const float *src, void *dst, int64_t n)
{
    struct block_iq4_xs *y = dst;
    for (int64_t b = 0; b < n / QK_K; b++, src += QK_K) {
        /* each group's own scale maps its largest magnitude to -127; the super-block
         * scale d makes those scales integers in -32..31 */
        float sc[QK_K / 32], max_sc = 0.0f;
        for (int g = 0; g < QK_K / 32; g++) {
            sc[g] = quant_signed_absmax(src + 32 * g, 32) / -127.0f;
            max_sc = fmaxf(max_sc, fabsf(sc[g]));
        }
        y[b].d = quant_f32_to_f16(max_sc / 31.0f);
        const float d = H2F(y[b].d);
        y[b].scales_h = 0;
        for (int g = 0; g < QK_K / 32; g++) {
            int l = d > 0.0f ? (int)lrintf(sc[g] / d) : 0;
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const int ls = l + 32;
            if (g % 2 == 0)
                y[b].scales_l[g / 2] = (uint8_t)(ls & 0xF);
            else
                y[b].scales_l[g / 2] |= (uint8_t)((ls & 0xF) << 4);
            y[b].scales_h |= (uint16_t)((ls >> 4) << (2 * g));
            pack_codes(quant_kvalues_iq4nl, src + 32 * g, d * (float)l, y[b].qs + 16 * g);
        }
    }
}

float quant_iq4_xs_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_iq4_xs *x = vx;
    const struct block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d4d8 = H2F(x[b].d) * y[b].d;
        for (int g = 0; g < QK_K / 32; g++) {
            const float dl = d4d8 * (float)quant_iq4_xs_scale(&x[b], g);
            sumf += dl * (float)block_isum(quant_kvalues_iq4nl, x[b].qs + 16 * g,
                                           y[b].qs + 32 * g);
        }
    }
    return sumf;
}
