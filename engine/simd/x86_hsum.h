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
