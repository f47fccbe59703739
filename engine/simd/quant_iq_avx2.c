/* engine/simd/quant_iq_avx2.c: AVX2 kernels of mxfp4, iq4_nl and iq4_xs.
 *
 * The float steps of llama.cpp's x86 build (the integer sums are exact, so only these
 * decide the rounding):
 *  - mxfp4 and iq4_nl: blocks in pairs, the even block FMA'd into one 8-lane accumulator
 *    and the odd one into another (lane k sums values 4k..4k+3), the two added and summed
 *    as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)); an odd last block is added after, scalar
 *    (fused: gcc contracts ggml's `sumf += d * sumi`);
 *  - their repacked order (8-row interleaved weights, gemv and gemm alike): the block's
 *    whole integer sum, one scalar FMA per block (repack_avx2.c);
 *  - iq4_nl's dense 2-D order (tinyBLAS): one accumulator for every block;
 *  - iq4_xs: per super-block the group sums times their scales in 8 int32 lanes, one FMA
 *    with d * d8 per super-block, the same final sum.
 * Compiled with function target attributes: the caller checks cpu.h first. */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#include "x86_hsum.h"
#include "avx2_blocks.h"

/* Signed x times signed y, pairs of bytes in int16 lanes (|x|, |y| <= 127: no saturation). */
static inline AVX2 __m256i mul_pairs(__m256i x, __m256i y)
{
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* The pairs-of-blocks order described above, for a 17- or 18-byte block type (the
 * repacked order is repack_avx2.c's). */
#define PAIRED_DOT(name, btype, table, scale)                                                  \
    static AVX2 float name##_dot(int64_t n, const void *vx, const void *vy)                    \
    {                                                                                          \
        const btype *x = vx;                                                                   \
        const struct block_q8_0 *y = vy;                                                       \
        const __m256i tb = table16(table);                                                     \
        const int64_t nb = n / 32;                                                             \
        __m256 acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps();                         \
        int64_t b = 0;                                                                         \
        for (; b + 1 < nb; b += 2) {                                                           \
            const __m256i p1 = dot_i8(levels32(x[b].qs, tb), load256(y[b].qs));                \
            const __m256i p2 = dot_i8(levels32(x[b + 1].qs, tb), load256(y[b + 1].qs));        \
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(scale(&x[b], &y[b])), _mm256_cvtepi32_ps(p1), \
                                   acc1);                                                      \
            acc2 = _mm256_fmadd_ps(_mm256_set1_ps(scale(&x[b + 1], &y[b + 1])),                \
                                   _mm256_cvtepi32_ps(p2), acc2);                              \
        }                                                                                      \
        float sumf = hsum8(_mm256_add_ps(acc1, acc2));                                         \
        for (; b < nb; b++)                                                                    \
            sumf = fmaf(scale(&x[b], &y[b]),                                                   \
                        (float)hsum_i32_8(dot_i8(levels32(x[b].qs, tb), load256(y[b].qs))),    \
                        sumf);                                                                 \
        return sumf;                                                                           \
    }

PAIRED_DOT(mxfp4, struct block_mxfp4, quant_kvalues_mxfp4, mxfp4_scale)
PAIRED_DOT(iq4_nl, struct block_iq4_nl, quant_kvalues_iq4nl, iq4_nl_scale)

/* tinyBLAS's order for dense iq4_nl weights: one accumulator over all blocks. */
static AVX2 float iq4_nl_gemm_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_iq4_nl *x = vx;
    const struct block_q8_0 *y = vy;
    const __m256i tb = table16(quant_kvalues_iq4nl);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++)
        acc = _mm256_fmadd_ps(_mm256_set1_ps(iq4_nl_scale(&x[b], &y[b])),
                              _mm256_cvtepi32_ps(dot_i8(levels32(x[b].qs, tb), load256(y[b].qs))),
                              acc);
    return hsum8(acc);
}

static AVX2 float iq4_xs_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_iq4_xs *x = vx;
    const struct block_q8_K *y = vy;
    const __m256i tb = table16(quant_kvalues_iq4nl);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m256i sumi = _mm256_setzero_si256();
        /* unrolled: each group's scale bits at constant shifts */
#pragma GCC unroll 8
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
    k->vec_dot[GGML_TYPE_IQ4_NL] = iq4_nl_dot;
    k->vec_dot_gemm[GGML_TYPE_IQ4_NL] = iq4_nl_gemm_dot;
    k->vec_dot[GGML_TYPE_IQ4_XS] = iq4_xs_dot;
}

#endif
