/* engine/simd/avx512_blocks.h: the AVX-512 integer steps the block kernels share
 * (quant_avx512.c for the plain orders, repack_avx512.c for the repacked ones). Every step
 * here is exact integer arithmetic. Include inside `#if defined(__x86_64__)`. */
#ifndef MOESCOPE_AVX512_BLOCKS_H
#define MOESCOPE_AVX512_BLOCKS_H

#include <immintrin.h>

#include "quant_blocks.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

static inline AVX512 __m512i load512(const void *p)
{
    return _mm512_loadu_si512(p);
}

/* Folds 16 int32 lanes (two chunks) onto 8: lane k + lane k+8, exact. */
static inline AVX512 __m256i fold16(__m512i v)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* 32 bytes of packed q4 in both halves, shifted by 0 (low half) or 4 (high): the low
 * nibbles of chunk 2p then the high nibbles (chunk 2p+1). */
static inline AVX512 __m512i k4_chunks(const uint8_t *qs)
{
    const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qs));
    const __m512i sh = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    return _mm512_and_si512(_mm512_srlv_epi16(v, sh), _mm512_set1_epi8(0xF));
}

/* int16 scale vectors: element e of the result is s16[idx[e]]. */
static inline AVX512 __m512i pick16(__m512i s16, const uint16_t idx[32])
{
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(idx), s16);
}

/* For chunk pair p of a q4_K/q5_K block: 16 x scale 2p then 16 x scale 2p+1. */
static const uint16_t k4_idx[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7},
};

#endif
