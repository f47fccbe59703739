/* engine/simd/quant_iq_neon.c: arm64 NEON kernels of mxfp4, iq4_nl and iq4_xs.
 *
 * The float steps of quant_iq_avx2.c (llama.cpp's x86 order, see there), so that arm64
 * gives the numbers of the x86 reference: each 8-lane float accumulator is two quads, lane
 * k of a 32-value block is the sum of bytes 4k..4k+3 (SDOT's lanes), the codes become
 * levels through one TBL. Each kernel exists with SDOT and with plain NEON widening
 * multiplies (neon_dot.h: the same exact lane sums), for CPUs without dotprod. The repacked
 * order keeps the scalar kernel (one fused step per block; the integer sum is exact in any
 * order).
 *
 * Compiled for arm64 only (empty elsewhere), or included by tests/test_quant_iq.c on x86 to
 * run through SIMDe's emulation of the intrinsics. */
#include "quant_blocks.h"

#include <stdbool.h>

#if defined(QUANT_NEON_EMULATE)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/arm/neon.h>
#define quant_iq_neon_fill quant_iq_neon_fill_emulated
void quant_iq_neon_fill(struct quant_kernels *k, bool dotprod);
#define QUANT_IQ_NEON_ON 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define QUANT_IQ_NEON_ON 1
#endif

#if defined(QUANT_IQ_NEON_ON)

#include <math.h>

#include "neon_dot.h"

/* The 8 int32 lanes of a 32-value block (levels of 16 code bytes times 32 int8). */
struct lanes8 {
    int32x4_t lo, hi;
};

NEON_INLINE struct lanes8 block_lanes(const uint8_t *qs, const int8_t *q8, int8x16_t table,
                                     int32x4_t acc_lo, int32x4_t acc_hi, int scale,
                                     const bool dp)
{
    const uint8x16_t c = vld1q_u8(qs);
    const int8x16_t l = vqtbl1q_s8(table, vandq_u8(c, vdupq_n_u8(0xF)));
    const int8x16_t h = vqtbl1q_s8(table, vshrq_n_u8(c, 4));
    const int32x4_t z = vdupq_n_s32(0);
    struct lanes8 r;
    r.lo = vmlaq_n_s32(acc_lo, sdot(z, l, vld1q_s8(q8), dp), scale);
    r.hi = vmlaq_n_s32(acc_hi, sdot(z, h, vld1q_s8(q8 + 16), dp), scale);
    return r;
}

/* acc + d * lanes, fused, lane by lane. */
static inline void fma8(float32x4_t acc[2], float d, struct lanes8 p)
{
    acc[0] = vfmaq_n_f32(acc[0], vcvtq_f32_s32(p.lo), d);
    acc[1] = vfmaq_n_f32(acc[1], vcvtq_f32_s32(p.hi), d);
}

/* ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) */
static inline float sum8(float32x4_t lo, float32x4_t hi)
{
    const float32x4_t s = vaddq_f32(lo, hi);
    const float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
    return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}

static inline float mxfp4_scale(const struct block_mxfp4 *x, const struct block_q8_0 *y)
{
    return quant_f16_to_f32(y->d) * quant_e8m0_half(x->e);
}

static inline float iq4_nl_scale(const struct block_iq4_nl *x, const struct block_q8_0 *y)
{
    return quant_f16_to_f32(y->d) * quant_f16_to_f32(x->d);
}

/* Even blocks into one accumulator, odd into another, an odd last block added after. */
#define PAIRED_DOT(name, btype, table, scale)                                                  \
    NEON_INLINE float name##_dot(int64_t n, const void *vx, const void *vy, const bool dp)  \
    {                                                                                          \
        const btype *x = vx;                                                                   \
        const struct block_q8_0 *y = vy;                                                       \
        const int8x16_t tb = vld1q_s8(table);                                                  \
        const int32x4_t z = vdupq_n_s32(0);                                                    \
        const int64_t nb = n / 32;                                                             \
        float32x4_t acc1[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};                          \
        float32x4_t acc2[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};                          \
        int64_t b = 0;                                                                         \
        for (; b + 1 < nb; b += 2) {                                                           \
            fma8(acc1, scale(&x[b], &y[b]), block_lanes(x[b].qs, y[b].qs, tb, z, z, 1, dp));      \
            fma8(acc2, scale(&x[b + 1], &y[b + 1]),                                            \
                 block_lanes(x[b + 1].qs, y[b + 1].qs, tb, z, z, 1, dp));                          \
        }                                                                                      \
        float sumf = sum8(vaddq_f32(acc1[0], acc2[0]), vaddq_f32(acc1[1], acc2[1]));           \
        for (; b < nb; b++) {                                                                  \
            const struct lanes8 p = block_lanes(x[b].qs, y[b].qs, tb, z, z, 1, dp);                \
            sumf = fmaf(scale(&x[b], &y[b]), (float)vaddvq_s32(vaddq_s32(p.lo, p.hi)), sumf);  \
        }                                                                                      \
        return sumf;                                                                           \
    }

PAIRED_DOT(mxfp4, struct block_mxfp4, quant_kvalues_mxfp4, mxfp4_scale)
PAIRED_DOT(iq4_nl, struct block_iq4_nl, quant_kvalues_iq4nl, iq4_nl_scale)

/* tinyBLAS's order for dense iq4_nl weights: one accumulator over all blocks. */
NEON_INLINE float iq4_nl_gemm_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_iq4_nl *x = vx;
    const struct block_q8_0 *y = vy;
    const int8x16_t tb = vld1q_s8(quant_kvalues_iq4nl);
    const int32x4_t z = vdupq_n_s32(0);
    float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int64_t b = 0; b < n / 32; b++)
        fma8(acc, iq4_nl_scale(&x[b], &y[b]), block_lanes(x[b].qs, y[b].qs, tb, z, z, 1, dp));
    return sum8(acc[0], acc[1]);
}

NEON_INLINE float iq4_xs_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_iq4_xs *x = vx;
    const struct block_q8_K *y = vy;
    const int8x16_t tb = vld1q_s8(quant_kvalues_iq4nl);
    float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int64_t b = 0; b < n / QK_K; b++) {
        struct lanes8 s = {vdupq_n_s32(0), vdupq_n_s32(0)};
        for (int g = 0; g < QK_K / 32; g++)
            s = block_lanes(x[b].qs + 16 * g, y[b].qs + 32 * g, tb, s.lo, s.hi,
                            quant_iq4_xs_scale(&x[b], g), dp);
        fma8(acc, quant_f16_to_f32(x[b].d) * y[b].d, s);
    }
    return sum8(acc[0], acc[1]);
}

NEON_BOTH(mxfp4_dot)
NEON_BOTH(iq4_nl_dot)
NEON_BOTH(iq4_nl_gemm_dot)
NEON_BOTH(iq4_xs_dot)

/* The SDOT kernels where the CPU has dotprod, the plain NEON ones (the same sums) elsewhere. */
#define IQ_SET(slot, name) (slot) = dotprod ? name##_dp : name##_plain

void quant_iq_neon_fill(struct quant_kernels *k, bool dotprod)
{
    IQ_SET(k->vec_dot[GGML_TYPE_MXFP4], mxfp4_dot);
    IQ_SET(k->vec_dot[GGML_TYPE_IQ4_NL], iq4_nl_dot);
    IQ_SET(k->vec_dot_gemm[GGML_TYPE_IQ4_NL], iq4_nl_gemm_dot);
    IQ_SET(k->vec_dot[GGML_TYPE_IQ4_XS], iq4_xs_dot);
}

#else

void quant_iq_neon_fill(struct quant_kernels *k, bool dotprod)
{
    (void)k;
    (void)dotprod;
}

#endif
