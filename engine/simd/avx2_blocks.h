/* engine/simd/avx2_blocks.h: the AVX2 integer steps the block kernels share (quant_avx2.c for
 * the plain orders, repack_avx2.c for the repacked ones). Every step here is exact integer
 * arithmetic, so the files that share them may sum in their own orders. Include inside
 * `#if defined(__x86_64__)`, after x86_hsum.h. */
#ifndef MOESCOPE_AVX2_BLOCKS_H
#define MOESCOPE_AVX2_BLOCKS_H

#include <immintrin.h>

#include "quant_blocks.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* Signed x times signed y: 8 int32 lanes, lane k = sum of bytes 4k..4k+3. */
static inline AVX2 __m256i dot_i8(__m256i x, __m256i y)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Unsigned x (< 128) times signed y, same lanes. */
static inline AVX2 __m256i dot_u8(__m256i x, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles first, then high ones (q4 value order). */
static inline AVX2 __m256i nibbles32(const uint8_t *p)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0xF));
}

/* table's 16 bytes in both halves, for levels32 */
static inline AVX2 __m256i table16(const int8_t t[16])
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

/* 16 bytes of codes -> their 32 levels in table (table16's), in nibbles32's order (mxfp4,
 * iq4_nl, iq4_xs): the bytes in both halves, the high half shifted, one lookup. */
static inline AVX2 __m256i levels32(const uint8_t *p, __m256i table)
{
    const __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    const __m256i codes = _mm256_blend_epi32(t, _mm256_srli_epi16(t, 4), 0xF0);
    return _mm256_shuffle_epi8(table, _mm256_and_si256(codes, _mm256_set1_epi8(0xF)));
}

static inline AVX2 __m256i load256(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* pick2's shuffle controls, [i][j]: bytes 2i, 2i + 1 over the low half, 2j, 2j + 1 over the
 * high one (quant_avx2.c). From memory, so that the kernels neither keep eight of them in
 * registers nor rebuild them from immediates in their inner loops. */
extern const uint8_t avx2_pick2_ctrl[8][8][32];

/* From 8 int16 scales held in both 128-bit halves of s: element i in the low half and
 * element j in the high half, each broadcast over its half. */
static inline AVX2 __m256i pick2(__m256i s, int i, int j)
{
    return _mm256_shuffle_epi8(s, _mm256_load_si256((const __m256i *)avx2_pick2_ctrl[i][j]));
}

/* 16 int16 from 16 bytes, split as [low 8 | low 8] and [high 8 | high 8] for pick2. */
static inline AVX2 void halves16(__m256i s16, __m256i out[2])
{
    const __m128i lo = _mm256_castsi256_si128(s16), hi = _mm256_extracti128_si256(s16, 1);
    out[0] = _mm256_set_m128i(lo, lo);
    out[1] = _mm256_set_m128i(hi, hi);
}

/* A q4_K or q5_K block's 8 scales then 8 mins as bytes (quant_k4_unpack's four words) in
 * vector steps: the scalar unpack and its four moves into a vector were a fifth of the
 * repacked gemv's instructions. Reads 16 bytes from the 12 of scales: in both block types
 * more of the block follows them. */
static inline AVX2 __m128i k4_unpack(const uint8_t scales[K_SCALE_SIZE])
{
    const __m128i v = _mm_loadu_si128((const __m128i *)scales); /* w0 w1 w2 . */
    const __m128i low6 = _mm_and_si128(v, _mm_set1_epi8(0x3f));    /* u0 u2 in lanes 0, 1 */
    const __m128i top2 = _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(v, 6), _mm_set1_epi8(3)), 4);
    const __m128i w2 = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 2, 2, 2));
    const __m128i nib = _mm_and_si128(_mm_srlv_epi32(w2, _mm_setr_epi32(0, 4, 0, 0)),
                                      _mm_set1_epi8(0xF));
    /* lanes 0, 1: u1 = w2's low nibbles | w0's top bits, u3 = w2's high ones | w1's */
    return _mm_unpacklo_epi32(low6, _mm_or_si128(nib, top2));
}

/* A q4_K/q5_K block's scales and mins as int16 for pick2: [scales | scales], [mins | mins]. */
static inline AVX2 void k4_scales_mins(const uint8_t scales[K_SCALE_SIZE], __m256i sm[2])
{
    halves16(_mm256_cvtepu8_epi16(k4_unpack(scales)), sm);
}

/* Group sums of 32 (bsums pairs) times the 8 mins (int16, in both halves of m):
 * 4 int32 lanes, lane i = groups 2i, 2i+1. */
static inline AVX2 __m128i k4_min_prod(const struct block_q8_K *y, __m256i m)
{
    const __m256i bs = load256(y->bsums);
    const __m128i g = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    return _mm_madd_epi16(_mm256_castsi256_si128(m), g);
}

/* Chunk pair p (values 64p .. 64p + 63) of a q4_K block against y, times the scales (sc:
 * [scales | scales] as int16): 8 int32 lanes, lane k = values with (v % 32) / 4 == k. */
static inline AVX2 __m256i k4_pair(const uint8_t *qs, const int8_t *y, __m256i sc, int p)
{
    const __m256i bits = load256(qs + 32 * p);
    const __m256i lo = _mm256_and_si256(bits, _mm256_set1_epi8(0xF));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), _mm256_set1_epi8(0xF));
    const __m256i pl = _mm256_maddubs_epi16(lo, load256(y + 64 * p));
    const __m256i ph = _mm256_maddubs_epi16(hi, load256(y + 64 * p + 32));
    return _mm256_add_epi32(_mm256_madd_epi16(pl, pick2(sc, 2 * p, 2 * p)),
                            _mm256_madd_epi16(ph, pick2(sc, 2 * p + 1, 2 * p + 1)));
}

/* Sum of the 8 int32 lanes (exact). */
static inline AVX2 int hsum_i32_8(__m256i a)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

/* The lanes of an 8-lane kernel, unrolled. */
#define FOR_LANES(j) _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)

/* Prefetch `lines` cache lines from `ahead` bytes past p: the rows kernels stream weights
 * faster than the hardware prefetchers alone follow them (Zen 1). */
static inline __attribute__((always_inline)) void prefetch_ahead(const void *p, int ahead,
                                                                 int lines)
{
#pragma GCC unroll 4
    for (int l = 0; l < lines; l++)
        _mm_prefetch((const char *)p + ahead + 64 * l, _MM_HINT_T0);
}

/* In each 128-bit half, out[t] dword j = in[j] dword t (j, t < 4): a 4x4 dword transpose. */
static inline __attribute__((always_inline)) AVX2 void dword_transpose4(const __m256i in[4],
                                                                        __m256i out[4])
{
    const __m256i t0 = _mm256_unpacklo_epi32(in[0], in[1]);
    const __m256i t1 = _mm256_unpackhi_epi32(in[0], in[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(in[2], in[3]);
    const __m256i t3 = _mm256_unpackhi_epi32(in[2], in[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t2);
    out[1] = _mm256_unpackhi_epi64(t0, t2);
    out[2] = _mm256_unpacklo_epi64(t1, t3);
    out[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* out[p] lane r = v[r]'s lanes p and p + 4 added (exact). Built from shuffles that Zen 1
 * runs in a cycle, where phaddd and vperm2i128 take three. */
static inline __attribute__((always_inline)) AVX2 void fold8x4(const __m256i v[8], __m256i out[4])
{
    __m256i w[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        /* [v_j low | v_j+4 low] + [v_j high | v_j+4 high] */
        const __m256i lo = _mm256_inserti128_si256(v[j], _mm256_castsi256_si128(v[j + 4]), 1);
        const __m256i hi = _mm256_inserti128_si256(v[j + 4], _mm256_extracti128_si256(v[j], 1), 0);
        w[j] = _mm256_add_epi32(lo, hi);
    }
    dword_transpose4(w, out);
}

/* Lane r = the sum of v[r]'s eight lanes (exact). */
static inline AVX2 __m256i sum8x8(const __m256i v[8])
{
    __m256i f[4];
    fold8x4(v, f);
    return _mm256_add_epi32(_mm256_add_epi32(f[0], f[1]), _mm256_add_epi32(f[2], f[3]));
}

static inline AVX2 void transpose8x4(const __m128i m[8], __m256i col[4])
{
    __m128i c[2][4];
    for (int h = 0; h < 2; h++) {
        const __m128i *r = m + 4 * h;
        const __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]), t1 = _mm_unpacklo_epi32(r[2], r[3]);
        const __m128i t2 = _mm_unpackhi_epi32(r[0], r[1]), t3 = _mm_unpackhi_epi32(r[2], r[3]);
        c[h][0] = _mm_unpacklo_epi64(t0, t1);
        c[h][1] = _mm_unpackhi_epi64(t0, t1);
        c[h][2] = _mm_unpacklo_epi64(t2, t3);
        c[h][3] = _mm_unpackhi_epi64(t2, t3);
    }
    for (int p = 0; p < 4; p++)
        col[p] = _mm256_set_m128i(c[1][p], c[0][p]);
}

#endif
