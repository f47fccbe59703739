/* engine/simd/quant_iq_avx2.c: AVX2 kernels of mxfp4, iq4_nl and iq4_xs.
 *
 * The float steps of llama.cpp's x86 build (the integer sums are exact, so only these
 * decide the rounding):
 *  - mxfp4 and iq4_nl: blocks in pairs, the even block FMA'd into one 8-lane accumulator
 *    and the odd one into another (lane k sums values 4k..4k+3), the two added and summed
 *    as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)); an odd last block is added after, scalar
 *    (fused: gcc contracts ggml's `sumf += d * sumi`);
 *  - their repacked order (8-row interleaved weights, gemv and gemm alike): the block's
 *    whole integer sum, one scalar FMA per block;
 *  - iq4_nl's dense 2-D order (tinyBLAS): one accumulator for every block;
 *  - iq4_xs: per super-block the group sums times their scales in 8 int32 lanes, one FMA
 *    with d * d8 per super-block, the same final sum.
 * Compiled with function target attributes: the caller checks cpu.h first. */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#include "x86_hsum.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* 16 bytes of codes -> 32 levels: low nibbles first, then the high ones. */
static inline AVX2 __m256i levels32(const uint8_t *qs, __m128i table)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m4 = _mm_set1_epi8(0xF);
    return _mm256_set_m128i(_mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(t, 4), m4)),
                            _mm_shuffle_epi8(table, _mm_and_si128(t, m4)));
}

/* Signed x times signed y, pairs of bytes in int16 lanes (|x|, |y| <= 127: no saturation). */
static inline AVX2 __m256i mul_pairs(__m256i x, __m256i y)
{
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* 8 int32 lanes, lane k = sum of bytes 4k..4k+3 of x * y. */
static inline AVX2 __m256i dot32(__m256i x, const int8_t *y)
{
    return _mm256_madd_epi16(mul_pairs(x, _mm256_loadu_si256((const __m256i *)y)),
                             _mm256_set1_epi16(1));
}

static inline AVX2 int hsum_i32(__m256i p)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

static inline AVX2 __m128i table16(const int8_t t[16])
{
    return _mm_loadu_si128((const __m128i *)t);
}

static inline AVX2 float mxfp4_scale(const struct block_mxfp4 *x, const struct block_q8_0 *y)
{
    return h2f(y->d) * quant_e8m0_half(x->e);
}

static inline AVX2 float iq4_nl_scale(const struct block_iq4_nl *x, const struct block_q8_0 *y)
{
    return h2f(y->d) * h2f(x->d);
}

/* The pairs-of-blocks order described above, for a 17- or 18-byte block type. */
#define PAIRED_DOT(name, btype, table, scale)                                                  \
    static AVX2 float name##_dot(int64_t n, const void *vx, const void *vy)                    \
    {                                                                                          \
        const btype *x = vx;                                                                   \
        const struct block_q8_0 *y = vy;                                                       \
        const __m128i tb = table16(table);                                                     \
        const int64_t nb = n / 32;                                                             \
        __m256 acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();                         \
        int64_t b = 0;                                                                         \
        for (; b + 1 < nb; b += 2) {                                                           \
            const __m256i p1 = dot32(levels32(x[b].qs, tb), y[b].qs);                          \
            const __m256i p2 = dot32(levels32(x[b + 1].qs, tb), y[b + 1].qs);                  \
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(scale(&x[b], &y[b])), _mm256_cvtepi32_ps(p1), \
                                   acc1);                                                      \
            acc2 = _mm256_fmadd_ps(_mm256_set1_ps(scale(&x[b + 1], &y[b + 1])),               \
                                   _mm256_cvtepi32_ps(p2), acc2);                              \
        }                                                                                      \
        float sumf = hsum8(_mm256_add_ps(acc1, acc2));                                         \
        for (; b < nb; b++)                                                                    \
            sumf = fmaf(scale(&x[b], &y[b]),                                                   \
                        (float)hsum_i32(dot32(levels32(x[b].qs, tb), y[b].qs)), sumf);         \
        return sumf;                                                                           \
    }                                                                                          \
    static AVX2 float name##_repack_dot(int64_t n, const void *vx, const void *vy)             \
    {                                                                                          \
        const btype *x = vx;                                                                   \
        const struct block_q8_0 *y = vy;                                                       \
        const __m128i tb = table16(table);                                                     \
        float acc = 0.0f;                                                                      \
        for (int64_t b = 0; b < n / 32; b++)                                                   \
            acc = fmaf((float)hsum_i32(dot32(levels32(x[b].qs, tb), y[b].qs)),                 \
                       scale(&x[b], &y[b]), acc);                                              \
        return acc;                                                                            \
    }

PAIRED_DOT(mxfp4, struct block_mxfp4, quant_kvalues_mxfp4, mxfp4_scale)
PAIRED_DOT(iq4_nl, struct block_iq4_nl, quant_kvalues_iq4nl, iq4_nl_scale)

/* tinyBLAS's order for dense iq4_nl weights: one accumulator over all blocks. */
static AVX2 float iq4_nl_gemm_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_iq4_nl *x = vx;
    const struct block_q8_0 *y = vy;
    const __m128i tb = table16(quant_kvalues_iq4nl);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(iq4_nl_scale(&x[b], &y[b])),
                              _mm256_cvtepi32_ps(dot32(levels32(x[b].qs, tb), y[b].qs)), acc);
    return hsum8(acc);
}

static AVX2 float iq4_xs_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_iq4_xs *x = vx;
    const struct block_q8_K *y = vy;
    const __m128i tb = table16(quant_kvalues_iq4nl);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int g = 0; g < QK_K / 32; g++) {
            const __m256i p = mul_pairs(levels32(x[b].qs + 16 * g, tb),
                                        _mm256_loadu_si256((const __m256i *)(y[b].qs + 32 * g)));
            const __m256i ls = _mm256_set1_epi16((short)quant_iq4_xs_scale(&x[b], g));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, ls));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * y[b].d), _mm256_cvtepi32_ps(sumi),
                              acc);
    }
    return hsum8(acc);
}

void quant_iq_avx2_fill(struct quant_kernels *k)
{
    k->vec_dot[GGML_TYPE_MXFP4] = mxfp4_dot;
    k->vec_dot_repack[GGML_TYPE_MXFP4] = mxfp4_repack_dot;
    k->vec_dot_repack4[GGML_TYPE_MXFP4] = mxfp4_repack_dot;
    k->vec_dot[GGML_TYPE_IQ4_NL] = iq4_nl_dot;
    k->vec_dot_repack[GGML_TYPE_IQ4_NL] = iq4_nl_repack_dot;
    k->vec_dot_repack4[GGML_TYPE_IQ4_NL] = iq4_nl_repack_dot;
    k->vec_dot_gemm[GGML_TYPE_IQ4_NL] = iq4_nl_gemm_dot;
    k->vec_dot[GGML_TYPE_IQ4_XS] = iq4_xs_dot;
}

#endif
