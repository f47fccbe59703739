/* engine/simd/quant_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) kernels.
 *
 * Same results, bit for bit, as quant_avx2.c (which reproduces llama.cpp's x86 order, see
 * there): the integer work runs two 32-value chunks per 512-bit register with VNNI, and its
 * exact int32 lane sums are folded back to the 8 lanes the float steps expect; the float
 * steps are unchanged. The f32/f16 dot is the AVX-512 build of ggml itself.
 *
 * Types and activation quantizers not listed in quant_avx512_fill keep their AVX2 kernels.
 * That includes q8_0 and q4_0 on purpose: their cost is the chain of one dependent FMA per
 * 32 values that the reference's order imposes (about 4 cycles a block), which the AVX2
 * kernel already reaches; wider integer work measured slower (2 blocks per register: 27
 * against 30 GB/s in cache for q8_0). */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu.h"
#include "x86_hsum.h"
#include "avx512_blocks.h"

static inline AVX512 __m256i load256(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* ------------------------------------------------------------------ K-quants */

/* For chunk pair q of a q6_K block (chunks 2q, 2q+1 = groups 4q..4q+3): 8 x each scale. */
static const uint16_t k6_idx[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};

/* mins times the group sums of 32 (from bsums): 4 int32 lanes, as in quant_avx2.c. */
static inline AVX512 __m128i k4_min_prod(const struct block_q8_K *y, const uint32_t u[4])
{
    const __m256i bs = load256(y->bsums);
    const __m128i g = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    const __m128i m = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[3], (int)u[2]));
    return _mm_madd_epi16(m, g);
}

static inline AVX512 __m512i k4_scales(const uint32_t u[4])
{
    return _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[1], (int)u[0])));
}

static AVX512 float q4_K_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_K *x = vx;
    const struct block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const float dmin = -y[b].d * h2f(x[b].dmin);
        uint32_t u[4];
        quant_k4_unpack(x[b].scales, u);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_min_prod(&y[b], u)), acc_m);
        const __m512i s16 = k4_scales(u);
        /* two integer accumulators so the VNNI steps do not wait on each other */
#define K4_PAIR(P) _mm512_maddubs_epi16(k4_chunks(x[b].qs + 32 * (P)), load512(y[b].qs + 64 * (P)))
        __m512i s0 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), K4_PAIR(0), pick16(s16, k4_idx[0]));
        __m512i s1 = _mm512_dpwssd_epi32(_mm512_setzero_si512(), K4_PAIR(1), pick16(s16, k4_idx[1]));
        s0 = _mm512_dpwssd_epi32(s0, K4_PAIR(2), pick16(s16, k4_idx[2]));
        s1 = _mm512_dpwssd_epi32(s1, K4_PAIR(3), pick16(s16, k4_idx[3]));
#undef K4_PAIR
        const __m512i si = _mm512_add_epi32(s0, s1);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(fold16(si)), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    return hsum8(acc) + _mm_cvtss_f32(acc_m);
}

/* One y row's share of a q4_K super-block whose x part (levels q0..q3 of the four chunk
 * pairs, their scale vectors s0..s3, the unpacked scales u) is decoded already: the same
 * steps as q4_K_dot. */
static inline __attribute__((always_inline)) AVX512 void
q4_K_step(const struct block_q8_K *yb, float dx, float dminx, const uint32_t u[4], __m512i q0,
          __m512i q1, __m512i q2, __m512i q3, __m512i s0, __m512i s1, __m512i s2, __m512i s3,
          __m256 *acc, __m128 *acc_m)
{
    const float d = yb->d * dx;
    const float dmin = -yb->d * dminx;
    *acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_min_prod(yb, u)), *acc_m);
    __m512i sumi = _mm512_dpwssd_epi32(_mm512_setzero_si512(),
                                       _mm512_maddubs_epi16(q0, load512(yb->qs)), s0);
    sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q1, load512(yb->qs + 64)), s1);
    sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q2, load512(yb->qs + 128)), s2);
    sumi = _mm512_dpwssd_epi32(sumi, _mm512_maddubs_epi16(q3, load512(yb->qs + 192)), s3);
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(fold16(sumi)), *acc);
}

static inline AVX512 float k4_finish(__m256 acc, __m128 acc_m)
{
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    return hsum8(acc) + _mm_cvtss_f32(acc_m);
}

/* q4_K tile: each x row's super-block is decoded once for up to four y rows. */
static AVX512 void q4_K_tile(int64_t n, const void *vx, size_t xs, int nx, const void *const *y,
                             int ny, float *out, size_t os)
{
    for (int i = 0; i < nx; i++) {
        const struct block_q4_K *x = (const struct block_q4_K *)((const uint8_t *)vx + (size_t)i * xs);
        if (ny == 1) {
            out[(size_t)i * os] = q4_K_dot(n, x, y[0]);
            continue;
        }
        for (int j0 = 0; j0 < ny; j0 += 4) {
            const struct block_q8_K *y0 = y[j0];
            const struct block_q8_K *y1 = y[j0 + 1 < ny ? j0 + 1 : ny - 1];
            const struct block_q8_K *y2 = y[j0 + 2 < ny ? j0 + 2 : ny - 1];
            const struct block_q8_K *y3 = y[j0 + 3 < ny ? j0 + 3 : ny - 1];
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            __m128 m0 = _mm_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
            for (int64_t b = 0; b < n / QK_K; b++) {
                const float dx = h2f(x[b].d), dminx = h2f(x[b].dmin);
                uint32_t u[4];
                quant_k4_unpack(x[b].scales, u);
                const __m512i s16 = k4_scales(u);
                const __m512i q0 = k4_chunks(x[b].qs), q1 = k4_chunks(x[b].qs + 32);
                const __m512i q2 = k4_chunks(x[b].qs + 64), q3 = k4_chunks(x[b].qs + 96);
                const __m512i s0 = pick16(s16, k4_idx[0]), s1 = pick16(s16, k4_idx[1]);
                const __m512i s2 = pick16(s16, k4_idx[2]), s3 = pick16(s16, k4_idx[3]);
                q4_K_step(&y0[b], dx, dminx, u, q0, q1, q2, q3, s0, s1, s2, s3, &a0, &m0);
                q4_K_step(&y1[b], dx, dminx, u, q0, q1, q2, q3, s0, s1, s2, s3, &a1, &m1);
                q4_K_step(&y2[b], dx, dminx, u, q0, q1, q2, q3, s0, s1, s2, s3, &a2, &m2);
                q4_K_step(&y3[b], dx, dminx, u, q0, q1, q2, q3, s0, s1, s2, s3, &a3, &m3);
            }
            float *o = out + (size_t)i * os + (size_t)j0;
            const float r[4] = {k4_finish(a0, m0), k4_finish(a1, m1), k4_finish(a2, m2),
                                k4_finish(a3, m3)};
            for (int k = 0; k < 4 && j0 + k < ny; k++)
                o[k] = r[k];
        }
    }
}

static AVX512 float q5_K_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q5_K *x = vx;
    const struct block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const float dmin = -y[b].d * h2f(x[b].dmin);
        uint32_t u[4];
        quant_k4_unpack(x[b].scales, u);
        const __m128i prod = k4_min_prod(&y[b], u);
        const __m128i s2 = _mm_add_epi32(prod, _mm_unpackhi_epi64(prod, prod));
        const int msum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
        summs = fmaf(dmin, (float)msum, summs);
        const __m512i s16 = k4_scales(u);
        const __m512i qh = _mm512_broadcast_i64x4(load256(x[b].qh));
        __m512i sumi = _mm512_setzero_si512();
        for (int p = 0; p < 4; p++) {
            /* fifth bit: bit 2p of qh (low half), bit 2p+1 (high half) */
            const __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * p)),
                                                  _mm256_set1_epi16((short)(2 * p + 1)), 1);
            const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(qh, sh), _mm512_set1_epi8(1));
            const __m512i q = _mm512_or_si512(k4_chunks(x[b].qs + 32 * p), _mm512_slli_epi16(hb, 4));
            const __m512i pr = _mm512_maddubs_epi16(q, load512(y[b].qs + 64 * p));
            sumi = _mm512_dpwssd_epi32(sumi, pr, pick16(s16, k4_idx[p]));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(fold16(sumi)), acc);
    }
    return hsum8(acc) + summs;
}

/* q6_K's -32 offset as in quant_avx2.c: 32 x bsums x scales, lane m = groups 2m, 2m+1. */
static inline AVX512 __m256i q6_K_offset(const int8_t scales[16], const struct block_q8_K *y)
{
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales));
    return _mm256_slli_epi32(_mm256_madd_epi16(load256(y->bsums), sc), 5);
}

/* The unsigned 6-bit levels of chunks 4h + 2 half and 4h + 2 half + 1 of a q6_K block, from
 * its half h's ql (64 bytes: [l1 | l2]) and qh (32 bytes in both halves): low nibbles for
 * half 0, high for 1; the high bits at shift 4 half (first chunk) and 4 half + 2 (second). */
static inline AVX512 __m512i q6_chunk_pair(__m512i ql, __m512i qh, int half)
{
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const __m512i lo = half ? _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4)
                            : _mm512_and_si512(ql, m4);
    const __m512i sh = _mm512_inserti64x4(_mm512_set1_epi16((short)(4 * half)),
                                          _mm256_set1_epi16((short)(4 * half + 2)), 1);
    const __m512i hi = _mm512_and_si512(_mm512_srlv_epi16(qh, sh), _mm512_set1_epi8(3));
    return _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));
}

static AVX512 float q6_K_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q6_K *x = vx;
    const struct block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const __m512i s16 = _mm512_castsi256_si512(
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales)));
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i ql = load512(x[b].ql + 64 * h); /* [l1 | l2] */
            const __m512i qh = _mm512_broadcast_i64x4(load256(x[b].qh + 32 * h));
            for (int half = 0; half < 2; half++) {
                const __m512i q = q6_chunk_pair(ql, qh, half);
                const __m512i y8 = load512(y[b].qs + 128 * h + 64 * half);
                const __m512i pr = _mm512_maddubs_epi16(q, y8);
                sumi = _mm512_dpwssd_epi32(sumi, pr, pick16(s16, k6_idx[2 * h + half]));
            }
        }
        const __m256i si = _mm256_sub_epi32(fold16(sumi), q6_K_offset(x[b].scales, &y[b]));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(si), acc);
    }
    return hsum8(acc);
}

/* q6_K tile: each x row's chunk pairs are decoded once for W <= 4 y rows (exactly W: a
 * batched decode's expert products have 2 or 3 rows, which a 4-wide step would pad with
 * repeats), every pair in the order of q6_K_dot. */
static inline __attribute__((always_inline)) AVX512 void
q6_K_tile_w(int64_t n, const struct block_q6_K *x, const struct block_q8_K *const yr[4], int W,
            float *o)
{
    __m256 a[4];
    _Pragma("GCC unroll 4") for (int k = 0; k < W; k++)
        a[k] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const __m512i s16 = _mm512_castsi256_si512(
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales)));
        __m512i u[4];
        _Pragma("GCC unroll 4") for (int k = 0; k < W; k++)
            u[k] = _mm512_setzero_si512();
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            const __m512i ql = load512(x[b].ql + 64 * h);
            const __m512i qh = _mm512_broadcast_i64x4(load256(x[b].qh + 32 * h));
            _Pragma("GCC unroll 2") for (int half = 0; half < 2; half++) {
                const __m512i q = q6_chunk_pair(ql, qh, half);
                const __m512i sc = pick16(s16, k6_idx[2 * h + half]);
                const size_t off = (size_t)(128 * h + 64 * half);
                _Pragma("GCC unroll 4") for (int k = 0; k < W; k++)
                    u[k] = _mm512_dpwssd_epi32(
                        u[k], _mm512_maddubs_epi16(q, load512(yr[k][b].qs + off)), sc);
            }
        }
        const float dx = h2f(x[b].d);
        _Pragma("GCC unroll 4") for (int k = 0; k < W; k++)
            a[k] = _mm256_fmadd_ps(
                _mm256_set1_ps(yr[k][b].d * dx),
                _mm256_cvtepi32_ps(_mm256_sub_epi32(fold16(u[k]),
                                                    q6_K_offset(x[b].scales, &yr[k][b]))),
                a[k]);
    }
    _Pragma("GCC unroll 4") for (int k = 0; k < W; k++)
        o[k] = hsum8(a[k]);
}

static AVX512 void q6_K_tile(int64_t n, const void *vx, size_t xs, int nx, const void *const *y,
                             int ny, float *out, size_t os)
{
    for (int i = 0; i < nx; i++) {
        const struct block_q6_K *x = (const struct block_q6_K *)((const uint8_t *)vx + (size_t)i * xs);
        for (int j0 = 0; j0 < ny; j0 += 4) {
            const struct block_q8_K *yr[4];
            const int w = ny - j0 < 4 ? ny - j0 : 4;
            for (int k = 0; k < w; k++)
                yr[k] = y[j0 + k];
            float *o = out + (size_t)i * os + (size_t)j0;
            if (w == 4)
                q6_K_tile_w(n, x, yr, 4, o);
            else if (w == 3)
                q6_K_tile_w(n, x, yr, 3, o);
            else if (w == 2)
                q6_K_tile_w(n, x, yr, 2, o);
            else
                o[0] = q6_K_dot(n, x, yr[0]);
        }
    }
}

/* ------------------------------------------------------------------ kernels.h's rows, swiglu, expf
 *
 * q8_0 x q8_0, several rows at once. Each (row, y) pair keeps exactly the steps of the
 * row kernel (quant_avx2.c's q8_0_dot, llama.cpp's x86 order): per 32-value block, 8 int32
 * lanes (lane k sums products 4k..4k+3, exact), converted to float, multiplied by the
 * float product of the two block scales and FMA'd into one 8-lane accumulator; at the end
 * ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). The integer lanes come from VPDPBUSD (see
 * kx_q8_0_tile), the same exact sums as the row kernel's maddubs/madd, which cannot
 * saturate here. What changes is only the schedule: four
 * rows' FMA chains in flight instead of one (the row kernel waits ~4 cycles a block on
 * its chain), the scales converted in vector registers, the y scales converted once per
 * call, and the weights prefetched ahead of the stream.
 */

#define KX __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define KX_INLINE static inline __attribute__((always_inline)) KX

enum { KX_MAX_NB = 512,   /* blocks per row these kernels take (n <= 16384) */
       KX_PREFETCH = 512  /* bytes ahead of a row's stream */ };

/* ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)): ggml's hsum_float_8 */
KX_INLINE float kx_hsum8(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* the block scale of x as 8 equal float lanes */
KX_INLINE __m256 kx_scale8(const struct block_q8_0 *b)
{
    return _mm256_cvtph_ps(_mm_set1_epi16((short)b->d));
}

/* R rows x C activation rows over nb blocks: acc[r][c] as q8_0_dot(x_r, y_c).
 * The integer lanes come from x + 128 (unsigned) times y, started at yc = -128 * (the
 * lane's 4 y values): one VPDPBUSD per pair instead of the row kernel's sign steps. Both
 * give the exact lane sum while y has no -128 (the sign step wraps -(-128) to -128; quant's
 * from_float never writes -128: it rounds into -127..127). Measured: 10-20% faster in
 * cache than the sign steps, for one y row as for several. */
KX_INLINE void kx_q8_0_tile(int R, int C, int64_t nb, const struct block_q8_0 *const *xr,
                            const struct block_q8_0 *const *yr, const float (*yd)[KX_MAX_NB],
                            const __m256i (*yc)[KX_MAX_NB], float *out, size_t out_row,
                            size_t out_col)
{
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i ax[4];
        __m256 dx[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            _mm_prefetch((const char *)&xr[r][b] + KX_PREFETCH, _MM_HINT_T0);
            ax[r] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)xr[r][b].qs),
                                     _mm256_set1_epi8((char)0x80));
            dx[r] = kx_scale8(&xr[r][b]);
        }
#pragma GCC unroll 4
        for (int c = 0; c < C; c++) {
            const __m256i yq = _mm256_loadu_si256((const __m256i *)yr[c][b].qs);
            const __m256 dy = _mm256_set1_ps(yd[c][b]);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const __m256i p = _mm256_dpbusd_epi32(yc[c][b], ax[r], yq);
                acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], dy), _mm256_cvtepi32_ps(p),
                                            acc[r][c]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int c = 0; c < C; c++)
            out[(size_t)r * out_row + (size_t)c * out_col] = kx_hsum8(acc[r][c]);
}

#define KX_TILE(R, C)                                                                     \
    static KX void kx_q8_0_tile_##R##x##C(int64_t nb, const struct block_q8_0 *const *xr, \
                                          const struct block_q8_0 *const *yr,             \
                                          const float (*yd)[KX_MAX_NB],                   \
                                          const __m256i (*yc)[KX_MAX_NB], float *out,     \
                                          size_t out_row, size_t out_col)                 \
    {                                                                                     \
        kx_q8_0_tile(R, C, nb, xr, yr, yd, yc, out, out_row, out_col);                    \
    }
KX_TILE(4, 1)
KX_TILE(1, 1)
KX_TILE(2, 4)
KX_TILE(1, 4)
KX_TILE(2, 2)
KX_TILE(1, 2)

typedef void (*kx_tile_fn)(int64_t, const struct block_q8_0 *const *,
                           const struct block_q8_0 *const *, const float (*)[KX_MAX_NB],
                           const __m256i (*)[KX_MAX_NB], float *, size_t, size_t);

/* Returns 0 when done, -1 when the shape is not one this kernel takes. */
static KX int kx_q8_0_rows(int64_t n, const void *x, size_t x_stride, int nx,
                          const void *const *y, int ny, float *out, size_t out_row,
                          size_t out_col)
{
    const int64_t nb = n / QK8_0;
    if (n % QK8_0 || nb > KX_MAX_NB)
        return -1;
    float yd[4][KX_MAX_NB];   /* (4 y rows, nb) y block scales as floats */
    __m256i yc[4][KX_MAX_NB]; /* (4 y rows, nb) -128 x each lane's 4 y values */
    for (int c0 = 0; c0 < ny;) {
        /* y rows in groups of 4, then 2, then 1; x rows by 2 (with several y) or 4 */
        const int C = ny - c0 >= 4 ? 4 : ny - c0 >= 2 ? 2 : 1;
        const struct block_q8_0 *yr[4];
        for (int c = 0; c < C; c++) {
            yr[c] = y[c0 + c];
            for (int64_t b = 0; b < nb; b++) {
                yd[c][b] = _cvtsh_ss(yr[c][b].d);
                yc[c][b] = _mm256_sub_epi32(
                    _mm256_setzero_si256(),
                    _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80),
                                        _mm256_loadu_si256((const __m256i *)yr[c][b].qs)));
            }
        }
        const int R = C == 1 ? 4 : 2;
        const kx_tile_fn big = C == 4 ? kx_q8_0_tile_2x4 : C == 2 ? kx_q8_0_tile_2x2
                                                                  : kx_q8_0_tile_4x1;
        const kx_tile_fn one = C == 4 ? kx_q8_0_tile_1x4 : C == 2 ? kx_q8_0_tile_1x2
                                                                  : kx_q8_0_tile_1x1;
        float *o = out + (size_t)c0 * out_col;
        /* the R rows of a step come from R separate stretches of the matrix (q rows
         * apart): R sequential streams, which the prefetchers follow; R neighbouring rows
         * interleave within the same pages and measured 2.5x slower from memory */
        const int q = nx / R;
        for (int i = 0; i < q; i++) {
            const struct block_q8_0 *xr[4];
            for (int r = 0; r < R; r++)
                xr[r] = (const struct block_q8_0 *)((const uint8_t *)x +
                                                    (size_t)(i + r * q) * x_stride);
            big(nb, xr, yr, (const float (*)[KX_MAX_NB])yd, (const __m256i (*)[KX_MAX_NB])yc,
                o + (size_t)i * out_row,
                (size_t)q * out_row, out_col);
        }
        for (int i = q * R; i < nx; i++) {
            const struct block_q8_0 *xr[1] = {
                (const struct block_q8_0 *)((const uint8_t *)x + (size_t)i * x_stride)
            };
            one(nb, xr, yr, (const float (*)[KX_MAX_NB])yd, (const __m256i (*)[KX_MAX_NB])yc,
                o + (size_t)i * out_row,
                out_row, out_col);
        }
        c0 += C;
    }
    return 0;
}

/* One lane of ggml_v_expf as forward.c's fwd_vexpf (the AVX2 build's), 16 at a time: the
 * same FMAs, k = 2^n from the bits of z, k + j * k; the lanes with |n| > 126 through the
 * two-factor scaling, and |n| > 192 to s1 * s1. */
KX_INLINE __m512 kx_vexpf(__m512 x)
{
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __m512i e = _mm512_slli_epi32(_mm512_castps_si512(z), 23);
    const __m512 k = _mm512_castsi512_ps(_mm512_add_epi32(e, _mm512_set1_epi32(0x3f800000)));
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b,
                                        _mm512_set1_ps(0x1.573e2ep-5f)),
                        u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b,
                                        _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_mul_ps(_mm512_set1_ps(0x1.ffffecp-1f), b));
    const __m512 res = _mm512_fmadd_ps(j, k, k);
    const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(126.0f),
                                             _CMP_GT_OQ);
    if (!big)
        return res;
    const __mmask16 neg = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
    const __m512i g = _mm512_maskz_mov_epi32(neg, _mm512_set1_epi32((int)0x82000000u));
    const __m512 s1 = _mm512_castsi512_ps(_mm512_add_epi32(g, _mm512_set1_epi32(0x7f000000)));
    const __m512 s2 = _mm512_castsi512_ps(_mm512_sub_epi32(e, g));
    const __mmask16 huge = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f),
                                              _CMP_GT_OQ);
    const __m512 scaled = _mm512_mul_ps(_mm512_fmadd_ps(s2, j, s2), s1);
    const __m512 special = _mm512_mask_blend_ps(huge, scaled, _mm512_mul_ps(s1, s1));
    return _mm512_mask_blend_ps(big, res, special);
}

static KX int kx_swiglu16(float *g, const float *u, int n)
{
    const int nv = n & ~15;
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (int i = 0; i < nv; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m512 e = kx_vexpf(_mm512_sub_ps(zero, x));
        const __m512 s = _mm512_div_ps(x, _mm512_add_ps(one, e));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(s, _mm512_loadu_ps(u + i)));
    }
    return nv;
}

static KX int kx_vexpf16(float *p, const float *x, float sub, int n)
{
    const int nv = n & ~15;
    const __m512 s = _mm512_set1_ps(sub);
    for (int i = 0; i < nv; i += 16)
        _mm512_storeu_ps(p + i, kx_vexpf(_mm512_sub_ps(_mm512_loadu_ps(x + i), s)));
    return nv;
}

void quant_avx512_fill(struct quant_kernels *k)
{
    k->vec_dot[GGML_TYPE_Q4_K] = q4_K_dot;
    k->tile[GGML_TYPE_Q4_K] = q4_K_tile;
    k->vec_dot[GGML_TYPE_Q5_K] = q5_K_dot;
    k->vec_dot[GGML_TYPE_Q6_K] = q6_K_dot;
    k->tile[GGML_TYPE_Q6_K] = q6_K_tile;
    /* f32, f16 and bf16 keep quant_avx2.c's kernels: the reference build is AVX2's, 8 lanes
     * (VDPBF16PS, where the CPU has it, would sum bf16 in another order) */
    k->rows[GGML_TYPE_Q8_0] = kx_q8_0_rows;
    k->swiglu16 = kx_swiglu16;
    k->vexpf16 = kx_vexpf16;
}

#else

void quant_avx512_fill(struct quant_kernels *k)
{
    (void)k;
}

#endif
