/* engine/simd/vexpf_avx2.c: kernels.h's swiglu16 and vexpf16 on AVX2, 8 lanes at a time.
 *
 * ggml_v_expf of llama.cpp's AVX2 build, lane for lane as forward.c's scalar fwd_vexpf
 * states it (the same FMAs, k = 2^n from the bits of z, k + j * k; the lanes with |n| > 126
 * through the two-factor scaling, past 192 s1 * s1), so softmax and SwiGLU give the scalar
 * path's bits (test_kernels). quant_avx512.c has the 16-lane twin for the AVX-512 path.
 * Compiled with function target attributes: the caller checks cpu.h first. */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

static inline AVX2 __m256 abs8(__m256 v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

static inline AVX2 __m256 vexpf8(__m256 x)
{
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_set1_epi32(0x3f800000)));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b,
                                        _mm256_set1_ps(0x1.573e2ep-5f)),
                        u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b,
                                        _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    const __m256 res = _mm256_fmadd_ps(j, k, k);
    const __m256 big = _mm256_cmp_ps(abs8(n), _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    if (_mm256_movemask_ps(big) == 0)
        return res;
    const __m256 neg = _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ);
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(neg),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256 huge = _mm256_cmp_ps(abs8(n), _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    const __m256 special = _mm256_blendv_ps(scaled, _mm256_mul_ps(s1, s1), huge);
    return _mm256_blendv_ps(res, special, big);
}

static AVX2 int swiglu16(float *g, const float *u, int n)
{
    const int nv = n & ~15;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (int i = 0; i < nv; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 e = vexpf8(_mm256_sub_ps(zero, x));
        const __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, e));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    return nv;
}

static AVX2 int vexpf16(float *p, const float *x, float sub, int n)
{
    const int nv = n & ~15;
    const __m256 s = _mm256_set1_ps(sub);
    for (int i = 0; i < nv; i += 8)
        _mm256_storeu_ps(p + i, vexpf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s)));
    return nv;
}

void quant_vexpf_avx2_fill(struct quant_kernels *k)
{
    k->swiglu16 = swiglu16;
    k->vexpf16 = vexpf16;
}

#else

void quant_vexpf_avx2_fill(struct quant_kernels *k)
{
    (void)k;
}

#endif
