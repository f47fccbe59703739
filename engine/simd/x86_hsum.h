/* engine/simd/x86_hsum.h: the float helpers the x86 kernel files share. Compiled for
 * AVX2/FMA/F16C, so they inline into the AVX2 kernels and the AVX-512 ones alike (a callee's
 * target may be a subset of its caller's). Include inside `#if defined(__x86_64__)`. */
#ifndef MOESCOPE_X86_HSUM_H
#define MOESCOPE_X86_HSUM_H

#include <immintrin.h>

#include "quant_blocks.h"

static inline __attribute__((target("avx2,fma,f16c"))) float h2f(quant_half h)
{
    return _cvtsh_ss(h);
}

/* ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), as ggml's hsum_float_8 and tinyBLAS's hsum. */
static inline __attribute__((target("avx2,fma,f16c"))) float hsum8(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* Lane r = hsum8(v[r]), in hsum8's tree for every lane (each add has the same two operands,
 * so the sums are equal bit for bit): halves, then pairs two apart, then neighbours. */
static inline __attribute__((target("avx2,fma,f16c"))) __m256 hsum8x8(const __m256 v[8])
{
    __m256 h[4]; /* h[k]: [v[2k]'s l_i + l_(i+4) | v[2k+1]'s], i < 4 */
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        h[k] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x31),
                             _mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x20));
    /* q[k]: per 128-bit half, [(h0+h2), (h1+h3)] of two vectors */
    const __m256 q0 = _mm256_add_ps(_mm256_shuffle_ps(h[0], h[1], 0x44),
                                    _mm256_shuffle_ps(h[0], h[1], 0xEE));
    const __m256 q1 = _mm256_add_ps(_mm256_shuffle_ps(h[2], h[3], 0x44),
                                    _mm256_shuffle_ps(h[2], h[3], 0xEE));
    /* low half: v0, v2, v4, v6; high half: v1, v3, v5, v7 */
    const __m256 r = _mm256_add_ps(_mm256_shuffle_ps(q0, q1, 0x88), _mm256_shuffle_ps(q0, q1, 0xDD));
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* A block pair's float scale, the product ggml's x86 kernels form (y's d first). */
static inline __attribute__((target("avx2,fma,f16c"))) float
mxfp4_scale(const struct block_mxfp4 *x, const struct block_q8_0 *y)
{
    return h2f(y->d) * quant_e8m0_half(x->e);
}

static inline __attribute__((target("avx2,fma,f16c"))) float
iq4_nl_scale(const struct block_iq4_nl *x, const struct block_q8_0 *y)
{
    return h2f(y->d) * h2f(x->d);
}

#endif
