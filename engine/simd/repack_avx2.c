/* engine/simd/repack_avx2.c: the repacked orders (quant.h's vec_dot_repack and
 * vec_dot_repack4) on AVX2, one row at a time and eight rows at a time.
 *
 * llama.cpp repacks q4_0 and q4_K weights into 8-row interleaved blocks and keeps one float
 * accumulator per output row, updated once per step with a fused multiply-add of the step's
 * exact integer sum. Eight rows at a time is the same arithmetic with the rows in the eight
 * lanes of one register: every lane's chain of FMAs is the single row's, so the results are
 * equal bit for bit, while the eight chains overlap and the integer sums are reduced eight
 * at a time (sum8x8) instead of one horizontal sum per row. With several activation rows,
 * a block's scales are unpacked once for all of them.
 * Compiled with function target attributes: the caller checks cpu.h first. */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "x86_hsum.h"
#include "avx2_blocks.h"
#include "kernels.h"

/* q4_0 in the repacked kernels' order: the block's integer sum (exact, any order), then
 * one scalar fused step per block. */
static AVX2 float q4_0_repack_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_0 *x = vx;
    const struct block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const __m256i qx = _mm256_sub_epi8(nibbles32(x[b].qs), _mm256_set1_epi8(8));
        const __m256i p = dot_i8(qx, load256(y[b].qs));
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
        s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
        const int isum = _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
        acc = fmaf((float)isum, h2f(x[b].d) * h2f(y[b].d), acc);
    }
    return acc;
}

/* q4_K in the repacked kernels' orders (quant.h): the integer sums of `per` groups of 32
 * per fused step; per = 8 is the gemv's step, per = 2 the gemm's. Inlined so that `per` is a
 * constant: out of line it left an integer division and the scale shuffles' set-up in the
 * inner loop, and the gemv ran at half its speed in cache (8.9 against 17.9 GB/s a core). */
static inline __attribute__((always_inline)) AVX2 float
q4_K_repack_steps(int64_t n, const void *vx, const void *vy, int per)
{
    const struct block_q4_K *x = vx;
    const struct block_q8_K *y = vy;
    /* lane 0: acc, lane 1: acc_min; each lane's FMA chain is the scalar one */
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32_t dm; /* d and dmin, adjacent halves */
        memcpy(&dm, &x[b].d, sizeof dm);
        const __m128 d = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(dm)), _mm_set1_ps(y[b].d));
        __m256i sm[2];
        k4_scales_mins(x[b].scales, sm);
        /* lane i: mins 2i, 2i+1 times the group sums of 32 */
        const __m128i mp = k4_min_prod(&y[b], sm[1]);
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++) {
            sumi = _mm256_add_epi32(sumi, k4_pair(x[b].qs, y[b].qs, sm[0], p));
            if ((2 * p + 2) % per == 0) {
                /* this step's mins: lanes p - per / 2 + 1 .. p of mp */
                const __m128i m =
                    per == 8 ? mp
                             : _mm_and_si128(mp, _mm_cmpeq_epi32(_mm_setr_epi32(0, 1, 2, 3),
                                                                 _mm_set1_epi32(p)));
                __m128i t = _mm_add_epi32(_mm256_castsi256_si128(sumi),
                                          _mm256_extracti128_si256(sumi, 1));
                t = _mm_hadd_epi32(t, m);
                t = _mm_hadd_epi32(t, t); /* [sum, imin, sum, imin] */
                acc = _mm_fmadd_ps(_mm_cvtepi32_ps(t), d, acc);
                sumi = _mm256_setzero_si256();
            }
        }
    }
    return _mm_cvtss_f32(acc) - _mm_cvtss_f32(_mm_movehdup_ps(acc));
}

static AVX2 float q4_K_repack_dot(int64_t n, const void *vx, const void *vy)
{
    return q4_K_repack_steps(n, vx, vy, 8);
}

static AVX2 float q4_K_repack4_dot(int64_t n, const void *vx, const void *vy)
{
    return q4_K_repack_steps(n, vx, vy, 2);
}

/* The eight lanes of the kernels below: lane j multiplies weight row j / L (of R = 8 / L
 * rows, xs bytes apart) with activation row j % L. Decode (one activation row) takes 8 rows
 * at a time, a prefill's expert products (a few rows each) 2 or 4 at a time, the rest 8
 * activation rows for one weight row; the chains are the single row's whatever the mix
 * (FOR_LANES: avx2_blocks.h). */
static inline AVX2 void lanes_store(float *out, size_t out_row, size_t out_col, int L, int ny,
                                    __m256 v)
{
    float t[8];
    _mm256_storeu_ps(t, v);
    for (int j = 0; j < 8; j++)
        if (j % L < ny)
            out[(size_t)(j / L) * out_row + (size_t)(j % L) * out_col] = t[j];
}

/* Lane j = row j / L's d (or dmin) as a float. */
static inline __attribute__((always_inline)) AVX2 __m256
k4_lanes_half(const struct block_q4_K *const xb[8], int L, bool dmin)
{
    if (L == 8)
        return _mm256_set1_ps(h2f(dmin ? xb[0]->dmin : xb[0]->d));
    quant_half h[8];
    FOR_LANES(j) h[j] = dmin ? xb[j / L]->dmin : xb[j / L]->d;
    return _mm256_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3],
                                          (short)h[4], (short)h[5], (short)h[6], (short)h[7]));
}

/* What the q4_K lanes need of the activation rows alone, per block, made once per call for
 * all the weight rows it meets: lane j's y d, and for each pair p of groups lane j's group
 * sums of 32 as int16 pairs (2p, 2p + 1), so that a pair's mins are one multiply-add with
 * the row's two mins. Per weight row and block that was eight min products and a transpose. */
struct k4_ylanes {
    __m256i gsum[4];
    __m256 d;
};
enum { K4_MAX_BLOCKS = 128 }; /* rows of up to 32 768 values take the lanes (20 KB) */

static inline __attribute__((always_inline)) AVX2 void
q4_K_ylanes(int64_t n, int L, const void *const *y, int ny, struct k4_ylanes *pre)
{
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m128i g[8];
        float d[8];
        FOR_LANES(j) {
            const struct block_q8_K *yb = (const struct block_q8_K *)y[j % L < ny ? j % L : 0] + b;
            const __m256i bs = load256(yb->bsums);
            /* lane j's 8 group sums of 32 (16-value sums added in pairs) */
            g[j] = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
            d[j] = yb->d;
        }
        /* pair p's int16 pair of lane j at dword j */
        transpose8x4(g, pre[b].gsum);
        pre[b].d = _mm256_loadu_ps(d);
    }
}

/* Lane j's two mins of pair p (row j / L's), as int16 at dword j. */
static inline __attribute__((always_inline)) AVX2 __m256i
k4_lanes_mins(const __m256i sm[8][2], int L, int p)
{
    const __m256i idx = _mm256_set1_epi32(p); /* dword p: mins 2p, 2p + 1 */
    __m256i m = _mm256_permutevar8x32_epi32(sm[0][1], idx);
    if (L == 4)
        m = _mm256_blend_epi32(m, _mm256_permutevar8x32_epi32(sm[1][1], idx), 0xF0);
    if (L == 2) {
        m = _mm256_blend_epi32(m, _mm256_permutevar8x32_epi32(sm[1][1], idx), 0x0C);
        m = _mm256_blend_epi32(m, _mm256_permutevar8x32_epi32(sm[2][1], idx), 0x30);
        m = _mm256_blend_epi32(m, _mm256_permutevar8x32_epi32(sm[3][1], idx), 0xC0);
    }
    return m;
}

/* Pair p (groups 2p, 2p + 1) of each lane's block, times the group scales: into sums (add)
 * or as sums' first values. */
static inline __attribute__((always_inline)) AVX2 void
q4_K_lanes_pair(const struct block_q4_K *const xb[8], const struct block_q8_K *const yb[8],
                const __m256i sm[8][2], int L, int p, __m256i sums[8], bool add)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256i lo[8], hi[8], sl[8], sh[8];
    for (int r = 0; r < 8 / L; r++) {
        const __m256i bits = load256(xb[r]->qs + 32 * p);
        lo[r] = _mm256_and_si256(bits, m4);
        hi[r] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        sl[r] = pick2(sm[r][0], 2 * p, 2 * p);
        sh[r] = pick2(sm[r][0], 2 * p + 1, 2 * p + 1);
    }
    FOR_LANES(j) {
        const int r = j / L;
        const __m256i pl = _mm256_maddubs_epi16(lo[r], load256(yb[j]->qs + 64 * p));
        const __m256i ph = _mm256_maddubs_epi16(hi[r], load256(yb[j]->qs + 64 * p + 32));
        const __m256i v = _mm256_add_epi32(_mm256_madd_epi16(pl, sl[r]), _mm256_madd_epi16(ph, sh[r]));
        sums[j] = add ? _mm256_add_epi32(sums[j], v) : v;
    }
}

/* q4_K with per = 8 groups of 32 per step (the gemv) or 2 (the gemm), as q4_K_repack_steps.
 * ny <= L activation rows (pre: q4_K_ylanes of them); the missing ones repeat y[0] and are
 * not stored. */
static inline __attribute__((always_inline)) AVX2 void
q4_K_repack_lanes(int64_t n, const uint8_t *x, size_t xs, int L, const void *const *y, int ny,
                  const struct k4_ylanes *pre, float *out, size_t out_row, size_t out_col,
                  int per)
{
    const int R = 8 / L;
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const struct block_q4_K *xb[8];
        const struct block_q8_K *yb[8];
        __m256i sm[8][2]; /* row r: [scales | scales], [mins | mins] as int16 */
        for (int r = 0; r < R; r++) {
            xb[r] = (const struct block_q4_K *)(x + (size_t)r * xs) + b;
            k4_scales_mins(xb[r]->scales, sm[r]);
        }
        FOR_LANES(j) yb[j] = (const struct block_q8_K *)y[j % L < ny ? j % L : 0] + b;
        const __m256 d = _mm256_mul_ps(k4_lanes_half(xb, L, false), pre[b].d);
        const __m256 dmin = _mm256_mul_ps(k4_lanes_half(xb, L, true), pre[b].d);
        const int pairs = per / 2; /* pairs of groups of 32 per step */
        for (int p0 = 0; p0 < 4; p0 += pairs) {
            __m256i sums[8];
            __m256i imin = _mm256_madd_epi16(k4_lanes_mins(sm, L, p0), pre[b].gsum[p0]);
            q4_K_lanes_pair(xb, yb, sm, L, p0, sums, false);
            for (int p = p0 + 1; p < p0 + pairs; p++) {
                q4_K_lanes_pair(xb, yb, sm, L, p, sums, true);
                imin = _mm256_add_epi32(imin, _mm256_madd_epi16(k4_lanes_mins(sm, L, p),
                                                                pre[b].gsum[p]));
            }
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum8x8(sums)), d, acc);
            acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin), dmin, acc_min);
        }
    }
    lanes_store(out, out_row, out_col, L, ny, _mm256_sub_ps(acc, acc_min));
}

/* q4_0: one step per block. */
static inline __attribute__((always_inline)) AVX2 void
q4_0_repack_lanes(int64_t n, const uint8_t *x, size_t xs, int L, const void *const *y, int ny,
                  const struct k4_ylanes *pre, float *out, size_t out_row, size_t out_col,
                  int per)
{
    (void)pre;
    (void)per;
    const int R = 8 / L;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const struct block_q4_0 *xb[8];
        __m256i qx[8];
        for (int r = 0; r < R; r++) {
            xb[r] = (const struct block_q4_0 *)(x + (size_t)r * xs) + b;
            qx[r] = _mm256_sub_epi8(nibbles32(xb[r]->qs), _mm256_set1_epi8(8));
        }
        const struct block_q8_0 *yb[8];
        __m256i sums[8];
        uint16_t xh[8], yh[8];
        FOR_LANES(j) {
            yb[j] = (const struct block_q8_0 *)y[j % L < ny ? j % L : 0] + b;
            sums[j] = dot_i8(qx[j / L], load256(yb[j]->qs));
            xh[j] = xb[j / L]->d;
            yh[j] = yb[j]->d;
        }
        const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xh)),
                                       _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)yh)));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum8x8(sums)), d, acc);
    }
    lanes_store(out, out_row, out_col, L, ny, acc);
}

/* kern_dot_rows in a repacked order through a lanes kernel: 2 activation rows against 4
 * weight rows, 3-4 against 2, more in groups of 8 against each row; the rows left over one
 * at a time. One activation row (decode) goes row by row: 8 rows in the lanes was faster
 * with the weights in cache but 35% slower streaming them from memory (laptop shape q4_K,
 * 2 threads: 47 against 73 tok/s). prep makes a group's k4_ylanes first (no_ylanes: none). */
#define REPACK_ROWS(name, lanes, one, per, prep)                                               \
    static AVX2 int name(int64_t n, const void *vx, size_t xs, int nx, const void *const *y,   \
                         int ny, float *out, size_t out_row, size_t out_col)                   \
    {                                                                                          \
        const uint8_t *x = vx;                                                                 \
        const int L = ny == 1 ? 1 : ny == 2 ? 2 : ny <= 4 ? 4 : 8;                             \
        struct k4_ylanes pre[K4_MAX_BLOCKS];                                                   \
        const bool fits = n / QK_K <= K4_MAX_BLOCKS; /* else all one at a time below */       \
        int i = 0;                                                                             \
        if (fits && (L == 2 || L == 4)) {                                                      \
            prep(n, L, y, ny, pre);                                                            \
            if (L == 2) /* L a constant in each call, for the inlined lanes */                 \
                for (; i + 4 <= nx; i += 4)                                                    \
                    lanes(n, x + (size_t)i * xs, xs, 2, y, ny, pre,                            \
                          out + (size_t)i * out_row, out_row, out_col, per);                   \
            else                                                                               \
                for (; i + 2 <= nx; i += 2)                                                    \
                    lanes(n, x + (size_t)i * xs, xs, 4, y, ny, pre,                            \
                          out + (size_t)i * out_row, out_row, out_col, per);                   \
        } else if (fits && L == 8) {                                                           \
            /* y in groups of 8, each against all the rows (from cache after the first) */    \
            for (int j = 0; j < ny; j += 8) {                                                  \
                const int c = ny - j < 8 ? ny - j : 8;                                         \
                prep(n, 8, y + j, c, pre);                                                     \
                for (int r = 0; r < nx; r++)                                                   \
                    lanes(n, x + (size_t)r * xs, xs, 8, y + j, c, pre,                         \
                          out + (size_t)r * out_row + (size_t)j * out_col, out_row, out_col,   \
                          per);                                                                \
            }                                                                                  \
            i = nx;                                                                            \
        }                                                                                      \
        for (; i < nx; i++)                                                                    \
            for (int j = 0; j < ny; j++)                                                       \
                out[(size_t)i * out_row + (size_t)j * out_col] = one(n, x + (size_t)i * xs, y[j]); \
        return 0;                                                                              \
    }

static inline AVX2 void no_ylanes(int64_t n, int L, const void *const *y, int ny,
                                  struct k4_ylanes *pre)
{
    (void)n, (void)L, (void)y, (void)ny, (void)pre;
}

REPACK_ROWS(q4_K_repack_rows, q4_K_repack_lanes, q4_K_repack_dot, 8, q4_K_ylanes)
REPACK_ROWS(q4_K_repack4_rows, q4_K_repack_lanes, q4_K_repack4_dot, 2, q4_K_ylanes)
REPACK_ROWS(q4_0_repack_rows, q4_0_repack_lanes, q4_0_repack_dot, 1, no_ylanes)

void quant_repack_avx2_fill(struct quant_kernels *k)
{
    k->vec_dot_repack[GGML_TYPE_Q4_0] = q4_0_repack_dot;
    k->vec_dot_repack4[GGML_TYPE_Q4_0] = q4_0_repack_dot;
    k->rows_repack[GGML_TYPE_Q4_0] = q4_0_repack_rows;
    k->rows_repack4[GGML_TYPE_Q4_0] = q4_0_repack_rows;
    k->vec_dot_repack[GGML_TYPE_Q4_K] = q4_K_repack_dot;
    k->vec_dot_repack4[GGML_TYPE_Q4_K] = q4_K_repack4_dot;
    k->rows_repack[GGML_TYPE_Q4_K] = q4_K_repack_rows;
    k->rows_repack4[GGML_TYPE_Q4_K] = q4_K_repack4_rows;
}

#else

void quant_repack_avx2_fill(struct quant_kernels *k)
{
    (void)k;
}

#endif
