/* engine/simd/quant_neon.c: arm64 NEON kernels, with or without the dot-product instructions.
 *
 * They compute the float steps of quant_avx2.c, that is llama.cpp's x86 order (see there),
 * so that an arm64 machine gives the numbers the x86 reference fixtures were recorded with:
 * an 8-lane float accumulator is two float32x4_t (lanes 0..3, 4..7), lane k of a 32-value
 * chunk is the sum of bytes 4k..4k+3 (exactly what SDOT produces), and the final sums are
 * added in the same tree. The integer parts are exact, so only the lane layout matters.
 *
 * Each integer kernel exists twice: with SDOT (ARMv8.2 dotprod: Apple silicon, Graviton 2+,
 * Snapdragon, Cortex-A55/A76 on) and with plain NEON widening multiplies for older cores
 * (Cortex-A53/A72, Raspberry Pi 3/4). Both give the same exact lane sums; cpu.c says which
 * one this CPU runs. SDOT is written as the instruction, so that nothing outside the chosen
 * kernels needs the feature at compile time.
 *
 * Compiled for arm64 only (the whole file is empty elsewhere). The activation quantizers
 * stay the scalar ones, which round as the x86 reference does. */
#include "quant_blocks.h"

#include <stdbool.h>

#if defined(QUANT_NEON_EMULATE)
/* tests/test_quant.c includes this file on x86 to run the NEON code through SIMDe's
 * emulation of the intrinsics (when libsimde-dev is installed). */
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/arm/neon.h>
#define quant_neon_fill quant_neon_fill_emulated
void quant_neon_fill(struct quant_kernels *k, bool dotprod);
#define QUANT_NEON_ON 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define QUANT_NEON_ON 1
#endif

#if defined(QUANT_NEON_ON)

#include <math.h>
#include <string.h>

#include "neon_dot.h"

/* Eight float lanes as two quads. */
struct f8 {
    float32x4_t lo, hi;
};

static inline struct f8 f8_zero(void)
{
    struct f8 r = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    return r;
}

/* acc + d * lanes, fused, lane by lane (as _mm256_fmadd_ps). */
static inline struct f8 f8_fma(struct f8 acc, float d, int32x4_t lo, int32x4_t hi)
{
    acc.lo = vfmaq_n_f32(acc.lo, vcvtq_f32_s32(lo), d);
    acc.hi = vfmaq_n_f32(acc.hi, vcvtq_f32_s32(hi), d);
    return acc;
}

/* ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)) */
static inline float f8_sum(struct f8 a)
{
    const float32x4_t s = vaddq_f32(a.lo, a.hi);
    const float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
    return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}

/* gcc's _mm512_reduce_add_ps of 16 lanes a[0..3] (lanes 0..15). */
static inline float f16_lanes_sum(const float32x4_t a[4])
{
    const float32x4_t t0 = vaddq_f32(a[2], a[0]), t1 = vaddq_f32(a[3], a[1]);
    const float32x4_t u = vaddq_f32(t1, t0);
    const float32x2_t v = vadd_f32(vget_low_f32(u), vget_high_f32(u));
    return vget_lane_f32(v, 0) + vget_lane_f32(v, 1);
}

static inline float h2f(quant_half h)
{
    return quant_f16_to_f32(h);
}

/* 16 low nibbles then 16 high nibbles of 16 bytes (q4 value order), as int8. */
static inline void nibbles32(const uint8_t *p, int8x16_t *lo, int8x16_t *hi)
{
    const uint8x16_t v = vld1q_u8(p);
    *lo = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0xF)));
    *hi = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
}

/* ------------------------------------------------------------------ 32-value blocks */

NEON_INLINE float q8_0_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q8_0 *x = vx;
    const struct block_q8_0 *y = vy;
    struct f8 acc = f8_zero();
    const int32x4_t z = vdupq_n_s32(0);
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const int32x4_t lo = sdot(z, vld1q_s8(x[b].qs), vld1q_s8(y[b].qs), dp);
        const int32x4_t hi = sdot(z, vld1q_s8(x[b].qs + 16), vld1q_s8(y[b].qs + 16), dp);
        acc = f8_fma(acc, h2f(x[b].d) * h2f(y[b].d), lo, hi);
    }
    return f8_sum(acc);
}

NEON_INLINE float q4_0_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q4_0 *x = vx;
    const struct block_q8_0 *y = vy;
    struct f8 acc = f8_zero();
    const int32x4_t z = vdupq_n_s32(0);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int8x16_t l, h;
        nibbles32(x[b].qs, &l, &h);
        const int32x4_t lo = sdot(z, vsubq_s8(l, eight), vld1q_s8(y[b].qs), dp);
        const int32x4_t hi = sdot(z, vsubq_s8(h, eight), vld1q_s8(y[b].qs + 16), dp);
        acc = f8_fma(acc, h2f(x[b].d) * h2f(y[b].d), lo, hi);
    }
    return f8_sum(acc);
}

/* Fifth bits of a q5 block: 16 bytes each 0x10 where bit (base + i) of qh is set. */
static inline int8x16_t q5_high(uint32_t qh, int base)
{
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x8_t b0 = vdup_n_u8((uint8_t)(qh >> base)), b1 = vdup_n_u8((uint8_t)(qh >> (base + 8)));
    const uint8x16_t m = vld1q_u8(bit);
    const uint8x16_t set = vtstq_u8(vcombine_u8(b0, b1), m);
    return vreinterpretq_s8_u8(vandq_u8(set, vdupq_n_u8(0x10)));
}

NEON_INLINE float q5_0_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q5_0 *x = vx;
    const struct block_q8_0 *y = vy;
    struct f8 acc = f8_zero();
    const int32x4_t z = vdupq_n_s32(0);
    const int8x16_t sixteen = vdupq_n_s8(16);
    for (int64_t b = 0; b < n / QK8_0; b++) {
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        int8x16_t l, h;
        nibbles32(x[b].qs, &l, &h);
        l = vsubq_s8(vorrq_s8(l, q5_high(qh, 0)), sixteen);
        h = vsubq_s8(vorrq_s8(h, q5_high(qh, 16)), sixteen);
        const int32x4_t lo = sdot(z, l, vld1q_s8(y[b].qs), dp);
        const int32x4_t hi = sdot(z, h, vld1q_s8(y[b].qs + 16), dp);
        acc = f8_fma(acc, h2f(x[b].d) * h2f(y[b].d), lo, hi);
    }
    return f8_sum(acc);
}

NEON_INLINE float q4_1_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q4_1 *x = vx;
    const struct block_q8_1 *y = vy;
    struct f8 acc = f8_zero();
    float summs = 0.0f;
    const int32x4_t z = vdupq_n_s32(0);
    for (int64_t b = 0; b < n / QK8_1; b++) {
        summs = fmaf(h2f(x[b].m), h2f(y[b].s), summs);
        int8x16_t l, h;
        nibbles32(x[b].qs, &l, &h);
        const int32x4_t lo = sdot(z, l, vld1q_s8(y[b].qs), dp);
        const int32x4_t hi = sdot(z, h, vld1q_s8(y[b].qs + 16), dp);
        acc = f8_fma(acc, h2f(x[b].d) * h2f(y[b].d), lo, hi);
    }
    return f8_sum(acc) + summs;
}

NEON_INLINE float q5_1_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q5_1 *x = vx;
    const struct block_q8_1 *y = vy;
    struct f8 acc = f8_zero();
    float summs = 0.0f;
    const int32x4_t z = vdupq_n_s32(0);
    for (int64_t b = 0; b < n / QK8_1; b++) {
        summs = fmaf(h2f(x[b].m), h2f(y[b].s), summs);
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        int8x16_t l, h;
        nibbles32(x[b].qs, &l, &h);
        l = vorrq_s8(l, q5_high(qh, 0));
        h = vorrq_s8(h, q5_high(qh, 16));
        const int32x4_t lo = sdot(z, l, vld1q_s8(y[b].qs), dp);
        const int32x4_t hi = sdot(z, h, vld1q_s8(y[b].qs + 16), dp);
        acc = f8_fma(acc, h2f(x[b].d) * h2f(y[b].d), lo, hi);
    }
    return f8_sum(acc) + summs;
}

/* ------------------------------------------------------------------ K-quants */

/* Integer lanes of a super-block: lo/hi gather lanes 0..3 / 4..7 of every 32-value chunk. */
struct k_lanes {
    int32x4_t lo, hi;
};

/* Adds chunk c's two 16-value halves, already signed levels a0/a1 against y, with the
 * scales s0 (first half) and s1 (second half). */
NEON_INLINE void k_add(struct k_lanes *k, int8x16_t a0, int8x16_t a1, const int8_t *y,
                        int32_t s0, int32_t s1, const bool dp)
{
    const int32x4_t z = vdupq_n_s32(0);
    k->lo = vmlaq_n_s32(k->lo, sdot(z, a0, vld1q_s8(y), dp), s0);
    k->hi = vmlaq_n_s32(k->hi, sdot(z, a1, vld1q_s8(y + 16), dp), s1);
}

NEON_INLINE float q2_K_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q2_K *x = vx;
    const struct block_q8_K *y = vy;
    struct f8 acc = f8_zero();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const float dmin = -y[b].d * h2f(x[b].dmin);
        /* min term, lane k = mins 2k, 2k+1 times bsums 2k, 2k+1 */
        int32_t pm[8];
        for (int k = 0; k < 8; k++)
            pm[k] = (x[b].scales[2 * k] >> 4) * y[b].bsums[2 * k] +
                    (x[b].scales[2 * k + 1] >> 4) * y[b].bsums[2 * k + 1];
        acc = f8_fma(acc, dmin, vld1q_s32(pm), vld1q_s32(pm + 4));
        struct k_lanes k = {vdupq_n_s32(0), vdupq_n_s32(0)};
        for (int h = 0; h < 2; h++) {
            const uint8x16_t b0 = vld1q_u8(x[b].qs + 32 * h), b1 = vld1q_u8(x[b].qs + 32 * h + 16);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * j));
                const uint8x16_t m3 = vdupq_n_u8(3);
                const int8x16_t a0 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(b0, shift), m3));
                const int8x16_t a1 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(b1, shift), m3));
                k_add(&k, a0, a1, y[b].qs + 32 * c, x[b].scales[2 * c] & 0xF,
                      x[b].scales[2 * c + 1] & 0xF, dp);
            }
        }
        acc = f8_fma(acc, d, k.lo, k.hi);
    }
    return f8_sum(acc);
}

NEON_INLINE float q3_K_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q3_K *x = vx;
    const struct block_q8_K *y = vy;
    struct f8 acc = f8_zero();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const uint8_t *s = x[b].scales;
        int32_t sc[16];
        for (int j = 0; j < 16; j++) {
            int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
            sc[j] = (low | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
        }
        const uint8x16_t hm0 = vld1q_u8(x[b].hmask), hm1 = vld1q_u8(x[b].hmask + 16);
        struct k_lanes k = {vdupq_n_s32(0), vdupq_n_s32(0)};
        for (int h = 0; h < 2; h++) {
            const uint8x16_t b0 = vld1q_u8(x[b].qs + 32 * h), b1 = vld1q_u8(x[b].qs + 32 * h + 16);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * j));
                const uint8x16_t m3 = vdupq_n_u8(3), bit = vdupq_n_u8((uint8_t)(1 << c));
                /* level = low bits - 4 where the high bit is clear */
                const uint8x16_t f0 = vandq_u8(vceqq_u8(vandq_u8(hm0, bit), vdupq_n_u8(0)), vdupq_n_u8(4));
                const uint8x16_t f1 = vandq_u8(vceqq_u8(vandq_u8(hm1, bit), vdupq_n_u8(0)), vdupq_n_u8(4));
                const int8x16_t a0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(b0, shift), m3)),
                                              vreinterpretq_s8_u8(f0));
                const int8x16_t a1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(b1, shift), m3)),
                                              vreinterpretq_s8_u8(f1));
                k_add(&k, a0, a1, y[b].qs + 32 * c, sc[2 * c], sc[2 * c + 1], dp);
            }
        }
        acc = f8_fma(acc, d, k.lo, k.hi);
    }
    return f8_sum(acc);
}

/* q4_K/q5_K mins: 4 lanes, lane i = mins 2i, 2i+1 times the group sums of 32. */
static inline float32x4_t k4_min_lanes(const struct block_q8_K *y, const uint8_t *mn)
{
    int32_t p[4];
    for (int i = 0; i < 4; i++) {
        const int g0 = 2 * i, g1 = 2 * i + 1;
        p[i] = mn[g0] * (y->bsums[2 * g0] + y->bsums[2 * g0 + 1]) +
               mn[g1] * (y->bsums[2 * g1] + y->bsums[2 * g1 + 1]);
    }
    return vcvtq_f32_s32(vld1q_s32(p));
}

NEON_INLINE float q4_K_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q4_K *x = vx;
    const struct block_q8_K *y = vy;
    struct f8 acc = f8_zero();
    float32x4_t acc_m = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const float dmin = -y[b].d * h2f(x[b].dmin);
        uint32_t u[4];
        quant_k4_unpack(x[b].scales, u);
        const uint8_t *sc = (const uint8_t *)u, *mn = sc + 8;
        acc_m = vfmaq_n_f32(acc_m, k4_min_lanes(&y[b], mn), dmin);
        struct k_lanes k = {vdupq_n_s32(0), vdupq_n_s32(0)};
        for (int p = 0; p < 4; p++) {
            int8x16_t l0, h0, l1, h1;
            nibbles32(x[b].qs + 32 * p, &l0, &h0);
            nibbles32(x[b].qs + 32 * p + 16, &l1, &h1);
            k_add(&k, l0, l1, y[b].qs + 64 * p, sc[2 * p], sc[2 * p], dp);
            k_add(&k, h0, h1, y[b].qs + 64 * p + 32, sc[2 * p + 1], sc[2 * p + 1], dp);
        }
        acc = f8_fma(acc, d, k.lo, k.hi);
    }
    const float32x2_t m2 = vadd_f32(vget_low_f32(acc_m), vget_high_f32(acc_m));
    return f8_sum(acc) + (vget_lane_f32(m2, 0) + vget_lane_f32(m2, 1));
}

NEON_INLINE float q5_K_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q5_K *x = vx;
    const struct block_q8_K *y = vy;
    struct f8 acc = f8_zero();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const float dmin = -y[b].d * h2f(x[b].dmin);
        uint32_t u[4];
        quant_k4_unpack(x[b].scales, u);
        const uint8_t *sc = (const uint8_t *)u, *mn = sc + 8;
        int msum = 0;
        for (int g = 0; g < 8; g++)
            msum += mn[g] * (y[b].bsums[2 * g] + y[b].bsums[2 * g + 1]);
        summs = fmaf(dmin, (float)msum, summs);
        const uint8x16_t qh0 = vld1q_u8(x[b].qh), qh1 = vld1q_u8(x[b].qh + 16);
        struct k_lanes k = {vdupq_n_s32(0), vdupq_n_s32(0)};
        for (int p = 0; p < 4; p++) {
            int8x16_t l0, h0, l1, h1;
            nibbles32(x[b].qs + 32 * p, &l0, &h0);
            nibbles32(x[b].qs + 32 * p + 16, &l1, &h1);
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1 << (2 * p)));
            const uint8x16_t bh = vdupq_n_u8((uint8_t)(2 << (2 * p)));
            const uint8x16_t s16 = vdupq_n_u8(16);
            l0 = vorrq_s8(l0, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh0, bl), s16)));
            l1 = vorrq_s8(l1, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh1, bl), s16)));
            h0 = vorrq_s8(h0, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh0, bh), s16)));
            h1 = vorrq_s8(h1, vreinterpretq_s8_u8(vandq_u8(vtstq_u8(qh1, bh), s16)));
            k_add(&k, l0, l1, y[b].qs + 64 * p, sc[2 * p], sc[2 * p], dp);
            k_add(&k, h0, h1, y[b].qs + 64 * p + 32, sc[2 * p + 1], sc[2 * p + 1], dp);
        }
        acc = f8_fma(acc, d, k.lo, k.hi);
    }
    return f8_sum(acc) + summs;
}

NEON_INLINE float q6_K_dot(int64_t n, const void *vx, const void *vy, const bool dp)
{
    const struct block_q6_K *x = vx;
    const struct block_q8_K *y = vy;
    struct f8 acc = f8_zero();
    const uint8x16_t m4 = vdupq_n_u8(0xF), m3 = vdupq_n_u8(3);
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        struct k_lanes k = {vdupq_n_s32(0), vdupq_n_s32(0)};
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            for (int m = 0; m < 4; m++) {
                const int c = 4 * h + m;
                const uint8_t *lp = ql + 32 * (m & 1);
                int8x16_t a[2];
                for (int half = 0; half < 2; half++) {
                    const uint8x16_t lb = vld1q_u8(lp + 16 * half);
                    const uint8x16_t hb = vld1q_u8(qh + 16 * half);
                    const uint8x16_t lo4 = m < 2 ? vandq_u8(lb, m4) : vshrq_n_u8(lb, 4);
                    const uint8x16_t hi2 = vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(-2 * m))), m3);
                    a[half] = vreinterpretq_s8_u8(vorrq_u8(lo4, vshlq_n_u8(hi2, 4)));
                }
                k_add(&k, a[0], a[1], y[b].qs + 32 * c, x[b].scales[2 * c], x[b].scales[2 * c + 1], dp);
            }
        }
        /* the -32 as llama.cpp's x86 kernel takes it: lane m = groups 2m, 2m+1 */
        int32_t off[8];
        for (int m = 0; m < 8; m++)
            off[m] = 32 * (y[b].bsums[2 * m] * x[b].scales[2 * m] +
                           y[b].bsums[2 * m + 1] * x[b].scales[2 * m + 1]);
        k.lo = vsubq_s32(k.lo, vld1q_s32(off));
        k.hi = vsubq_s32(k.hi, vld1q_s32(off + 4));
        acc = f8_fma(acc, d, k.lo, k.hi);
    }
    return f8_sum(acc);
}

/* ------------------------------------------------------------------ f32 and f16 */

static inline float32x4_t ld_f32(const float *p)
{
    return vld1q_f32(p);
}

static inline float32x4_t ld_f16(const uint16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* ggml_vec_dot_f32/_f16 of the AVX2 reference build: 4 accumulators of 8 lanes (a_[2j],
 * a_[2j+1] the halves of accumulator j) over chunks of 32, reduced 0+2, 1+3, 0+1, then the
 * halves added and (t0 + t1) + (t2 + t3). */
static inline float hadd_reduce8(float32x4_t lo, float32x4_t hi)
{
    const float32x4_t t = vaddq_f32(lo, hi);
    return (vgetq_lane_f32(t, 0) + vgetq_lane_f32(t, 1)) +
           (vgetq_lane_f32(t, 2) + vgetq_lane_f32(t, 3));
}

/* The _mm256 hsum of tinyBLAS: halves added, then (t0 + t2) + (t1 + t3). */
static inline float hsum8_lanes(float32x4_t lo, float32x4_t hi)
{
    const float32x4_t t = vaddq_f32(hi, lo);
    return (vgetq_lane_f32(t, 0) + vgetq_lane_f32(t, 2)) +
           (vgetq_lane_f32(t, 1) + vgetq_lane_f32(t, 3));
}

#define VEC_DOT_32(LOAD, x, y, np, out)                                                  \
    do {                                                                                 \
        float32x4_t a_[8];                                                               \
        for (int k_ = 0; k_ < 8; k_++)                                                   \
            a_[k_] = vdupq_n_f32(0.0f);                                                  \
        for (int64_t i_ = 0; i_ < (np); i_ += 32)                                        \
            for (int k_ = 0; k_ < 8; k_++)                                               \
                a_[k_] = vfmaq_f32(a_[k_], LOAD((x) + i_ + 4 * k_), LOAD((y) + i_ + 4 * k_)); \
        for (int h_ = 0; h_ < 2; h_++) {                                                 \
            a_[h_] = vaddq_f32(a_[h_], a_[4 + h_]);                                      \
            a_[2 + h_] = vaddq_f32(a_[2 + h_], a_[6 + h_]);                              \
            a_[h_] = vaddq_f32(a_[h_], a_[2 + h_]);                                      \
        }                                                                                \
        (out) = hadd_reduce8(a_[0], a_[1]);                                              \
    } while (0)

/* name: tinyBLAS's order, one 8-lane accumulator (two quads) over the row, then its hsum;
 * rows not a multiple of 8 fall back to `fallback` (ggml's vec_dot order). */
#define GEMM_DOT_FN(name, T, LOAD, fallback)                                             \
    static float name(int64_t n, const void *vx, const void *vy)                         \
    {                                                                                    \
        if (n % 8)                                                                       \
            return fallback(n, vx, vy);                                                  \
        const T *x = vx, *y = vy;                                                        \
        float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);                      \
        for (int64_t i = 0; i < n; i += 8) {                                             \
            lo = vfmaq_f32(lo, LOAD(x + i), LOAD(y + i));                                \
            hi = vfmaq_f32(hi, LOAD(x + i + 4), LOAD(y + i + 4));                        \
        }                                                                                \
        return hsum8_lanes(lo, hi);                                                      \
    }

static float f32_dot(int64_t n, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    const int64_t np = n & ~(int64_t)31;
    float sum;
    VEC_DOT_32(ld_f32, x, y, np, sum);
    for (int64_t i = np; i < n; i++)
        sum = fmaf(x[i], y[i], sum);
    return sum;
}

static float f16_dot(int64_t n, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    const int64_t np = n & ~(int64_t)31;
    float red;
    VEC_DOT_32(ld_f16, x, y, np, red);
    double sum = red;
    for (int64_t i = np; i < n; i++)
        sum += (double)(h2f(x[i]) * h2f(y[i]));
    return (float)sum;
}

GEMM_DOT_FN(f32_gemm_dot, float, ld_f32, f32_dot)

GEMM_DOT_FN(f16_gemm_dot, uint16_t, ld_f16, f16_dot)

/* bf16 widens to f32 by a 16-bit shift, as load_bf16 does on AVX2. */
static inline float32x4_t ld_bf16(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

/* ggml_vec_dot_bf16 of the AVX2 reference build: 4 accumulators of 8 lanes (a_[2j],
 * a_[2j+1] the halves of accumulator j) over chunks of 32, reduced (0+2)+(1+3), then the
 * _mm256 hsum, the tail in double. */
static float bf16_dot(int64_t n, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    float32x4_t a[8];
    for (int k = 0; k < 8; k++)
        a[k] = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 8; k++)
            a[k] = vfmaq_f32(a[k], ld_bf16(x + i + 4 * k), ld_bf16(y + i + 4 * k));
    const float32x4_t lo = vaddq_f32(vaddq_f32(a[0], a[4]), vaddq_f32(a[2], a[6]));
    const float32x4_t hi = vaddq_f32(vaddq_f32(a[1], a[5]), vaddq_f32(a[3], a[7]));
    double sum = (double)hsum8_lanes(lo, hi);
    for (; i < n; i++)
        sum += (double)(quant_bf16_to_f32(x[i]) * quant_bf16_to_f32(y[i]));
    return (float)sum;
}

GEMM_DOT_FN(bf16_gemm_dot, uint16_t, ld_bf16, bf16_dot)

NEON_BOTH(q4_0_dot)
NEON_BOTH(q4_1_dot)
NEON_BOTH(q5_0_dot)
NEON_BOTH(q5_1_dot)
NEON_BOTH(q8_0_dot)
NEON_BOTH(q2_K_dot)
NEON_BOTH(q3_K_dot)
NEON_BOTH(q4_K_dot)
NEON_BOTH(q5_K_dot)
NEON_BOTH(q6_K_dot)

#define NEON_SET(T, name) k->vec_dot[T] = dotprod ? name##_dp : name##_plain

/* The SDOT kernels where the CPU has dotprod, the plain NEON ones (the same sums) elsewhere. */
void quant_neon_fill(struct quant_kernels *k, bool dotprod)
{
    NEON_SET(GGML_TYPE_Q4_0, q4_0_dot);
    NEON_SET(GGML_TYPE_Q4_1, q4_1_dot);
    NEON_SET(GGML_TYPE_Q5_0, q5_0_dot);
    NEON_SET(GGML_TYPE_Q5_1, q5_1_dot);
    NEON_SET(GGML_TYPE_Q8_0, q8_0_dot);
    NEON_SET(GGML_TYPE_Q2_K, q2_K_dot);
    NEON_SET(GGML_TYPE_Q3_K, q3_K_dot);
    NEON_SET(GGML_TYPE_Q4_K, q4_K_dot);
    NEON_SET(GGML_TYPE_Q5_K, q5_K_dot);
    NEON_SET(GGML_TYPE_Q6_K, q6_K_dot);
    k->vec_dot[GGML_TYPE_F32] = f32_dot;
    k->vec_dot[GGML_TYPE_F16] = f16_dot;
    k->vec_dot_gemm[GGML_TYPE_F32] = f32_gemm_dot;
    k->vec_dot_gemm[GGML_TYPE_F16] = f16_gemm_dot;
    k->vec_dot[GGML_TYPE_BF16] = bf16_dot;
    k->vec_dot_gemm[GGML_TYPE_BF16] = bf16_gemm_dot;
}

#else

void quant_neon_fill(struct quant_kernels *k, bool dotprod)
{
    (void)k;
    (void)dotprod;
}

#endif
