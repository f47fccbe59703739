/* engine/simd/quant_iq_avx512.c: AVX-512 kernels of mxfp4, iq4_nl and iq4_xs.
 *
 * The same results, bit for bit, as quant_iq_avx2.c (llama.cpp's x86 order, see there):
 * mxfp4 and iq4_nl take a pair of blocks per 512-bit register, so its low half is the
 * AVX2 kernel's even-block accumulator and its high half the odd-block one; iq4_xs takes
 * two groups per register and folds its exact int32 lanes back onto the 8 the float step
 * expects. The dense order keeps its AVX2 kernel; the repacked one is repack_iq_x86.c's. */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#include "x86_hsum.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

static inline AVX512 int hsum_i32(__m256i p)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

/* Codes of two 16-byte runs a and b -> 64 levels: a's low nibbles, a's high ones, then
 * b's (each run is one 32-value block or group). */
static inline AVX512 __m512i levels64(const uint8_t *a, const uint8_t *b, __m512i table)
{
    const __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)a));
    const __m256i tb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b));
    const __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(ta), tb, 1);
    const __m512i codes = _mm512_mask_srli_epi16(t, 0xFF00FF00, t, 4); /* 128-bit lanes 1, 3 */
    return _mm512_shuffle_epi8(table, _mm512_and_si512(codes, _mm512_set1_epi8(0xF)));
}

static inline AVX512 __m512i table64(const int8_t t[16])
{
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
}

/* Signed x times signed y, pairs of bytes in int16 lanes (|x|, |y| <= 127). */
static inline AVX512 __m512i mul_pairs(__m512i x, __m512i y)
{
    const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(x), _mm512_setzero_si512(), y);
    return _mm512_maddubs_epi16(_mm512_abs_epi8(x), sy);
}

static inline AVX512 __m512i join256(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

static inline AVX512 __m512 scales2(float a, float b)
{
    return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

#define PAIRED_DOT(name, btype, table, scale)                                                  \
    static AVX512 float name##_dot(int64_t n, const void *vx, const void *vy)                  \
    {                                                                                          \
        const btype *x = vx;                                                                   \
        const struct block_q8_0 *y = vy;                                                       \
        const __m512i tb = table64(table);                                                     \
        const int64_t nb = n / 32;                                                             \
        __m512 acc = _mm512_setzero_ps();                                                      \
        int64_t b = 0;                                                                         \
        for (; b + 1 < nb; b += 2) {                                                           \
            const __m512i p = mul_pairs(levels64(x[b].qs, x[b + 1].qs, tb),                    \
                                        join256(y[b].qs, y[b + 1].qs));                        \
            const __m512i s = _mm512_madd_epi16(p, _mm512_set1_epi16(1));                      \
            acc = _mm512_fmadd_ps(scales2(scale(&x[b], &y[b]), scale(&x[b + 1], &y[b + 1])),   \
                                  _mm512_cvtepi32_ps(s), acc);                                 \
        }                                                                                      \
        float sumf = hsum8(_mm256_add_ps(_mm512_castps512_ps256(acc),                          \
                                         _mm512_extractf32x8_ps(acc, 1)));                     \
        for (; b < nb; b++) {                                                                  \
            const __m512i p = mul_pairs(levels64(x[b].qs, x[b].qs, tb),                        \
                                        join256(y[b].qs, y[b].qs));                            \
            const __m512i s = _mm512_madd_epi16(p, _mm512_set1_epi16(1));                      \
            sumf = fmaf(scale(&x[b], &y[b]), (float)hsum_i32(_mm512_castsi512_si256(s)), sumf); \
        }                                                                                      \
        return sumf;                                                                           \
    }

PAIRED_DOT(mxfp4, struct block_mxfp4, quant_kvalues_mxfp4, mxfp4_scale)
PAIRED_DOT(iq4_nl, struct block_iq4_nl, quant_kvalues_iq4nl, iq4_nl_scale)

static AVX512 float iq4_xs_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_iq4_xs *x = vx;
    const struct block_q8_K *y = vy;
    const __m512i tb = table64(quant_kvalues_iq4nl);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m512i sumi = _mm512_setzero_si512();
        /* unrolled: each group's scale bits at constant shifts */
#pragma GCC unroll 8
        for (int g = 0; g < QK_K / 32; g += 2) {
            const uint8_t *qs = x[b].qs + 16 * g;
            const __m512i p = mul_pairs(levels64(qs, qs + 16, tb),
                                        _mm512_loadu_si512(y[b].qs + 32 * g));
            const __m512i ls = _mm512_inserti64x4(
                _mm512_set1_epi16((short)quant_iq4_xs_scale(&x[b], g)),
                _mm256_set1_epi16((short)quant_iq4_xs_scale(&x[b], g + 1)), 1);
            sumi = _mm512_add_epi32(sumi, _mm512_madd_epi16(p, ls));
        }
        const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(sumi),
                                            _mm512_extracti64x4_epi64(sumi, 1));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[b].d) * y[b].d), _mm256_cvtepi32_ps(s8), acc);
    }
    return hsum8(acc);
}

void quant_iq_avx512_fill(struct quant_kernels *k)
{
    k->vec_dot[GGML_TYPE_MXFP4] = mxfp4_dot;
    k->vec_dot[GGML_TYPE_IQ4_NL] = iq4_nl_dot;
    k->vec_dot[GGML_TYPE_IQ4_XS] = iq4_xs_dot;
}

#endif
