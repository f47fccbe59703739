/* engine/simd/repack_avx2.c: the repacked orders (quant.h's vec_dot_repack and
 * vec_dot_repack4) on AVX2, one row at a time and eight rows at a time.
 *
 * llama.cpp repacks q4_0 and q4_K weights into 8-row interleaved blocks and keeps one float
 * accumulator per output row, updated once per step with a fused multiply-add of the step's
 * exact integer sum. Eight rows at a time is the same arithmetic with the rows in the eight
 * lanes of one register: every lane's chain of FMAs is the single row's, so the results are
 * equal bit for bit, while the eight chains overlap and the integer sums are reduced eight
 * at a time (sum8x8) instead of one horizontal sum per row. With several activation rows,
 * a block's scales are unpacked once for all of them. q4_K multiplies transposed nibbles
 * (k4t, below).
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

/* q4_K's integer sums with the nibbles transposed (k4t). A q4_K block's 32-byte vector of
 * pair p holds groups 2p (low nibbles) and 2p + 1 (high ones), so every maddubs product of it
 * is one group's and needs its own multiply by that group's scale: 8 maddubs and 8 madd a
 * block, and Zen 1 and 2 have one pipe for both. Transposed by dwords (dword_transpose4), vector
 * t holds 4 bytes of each pair, the same pair at the same place in every t; its products add
 * up as int16 over t (4 terms of at most 2 * 15 * 128: no overflow) and meet the scales once:
 * 8 maddubs and 2 madd. The sums are exact integers, so every order built on them is
 * unchanged. The activation rows are transposed the same way once per call (k4t_y). */

/* A q8_K block's 256 values in k4t order: q[t] meets the low nibbles of x's vector t,
 * q[4 + t] the high ones. */
static inline __attribute__((always_inline)) AVX2 void k4t_y(const struct block_q8_K *y,
                                                             __m256i q[8])
{
    __m256i lo[4], hi[4];
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++) {
        lo[p] = load256(y->qs + 64 * p);
        hi[p] = load256(y->qs + 64 * p + 32);
    }
    dword_transpose4(lo, q);
    dword_transpose4(hi, q + 4);
}

/* What every activation row meets of a q4_K block: its transposed nibbles, its group scales
 * as int16 where the sums of the low (sl) and high (sh) nibbles land (dword j: pair j % 4),
 * and its 8 mins as int16. */
struct k4t_x {
    __m256i lo[4], hi[4], sl, sh;
    __m128i mins;
};

/* pshufb controls from k4_unpack's bytes (scales 0..7) to int16 scales: word w of each half
 * takes scale 2 * (w / 2) (sl) or 2 * (w / 2) + 1 (sh). */
#define K4T_S(i) (i), (char)0x80, (i), (char)0x80
#define K4T_CTRL(o) K4T_S(o), K4T_S(o + 2), K4T_S(o + 4), K4T_S(o + 6), \
                    K4T_S(o), K4T_S(o + 2), K4T_S(o + 4), K4T_S(o + 6)
static const char k4t_scale_ctrl[2][32] __attribute__((aligned(32))) = { { K4T_CTRL(0) },
                                                                          { K4T_CTRL(1) } };

static inline __attribute__((always_inline)) AVX2 void k4t_x(const struct block_q4_K *x,
                                                             struct k4t_x *o)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256i q[4], v[4];
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++)
        q[p] = load256(x->qs + 32 * p);
    dword_transpose4(q, v);
#pragma GCC unroll 4
    for (int t = 0; t < 4; t++) {
        o->lo[t] = _mm256_and_si256(v[t], m4);
        o->hi[t] = _mm256_and_si256(_mm256_srli_epi16(v[t], 4), m4);
    }
    const __m128i u = k4_unpack(x->scales);
    /* both halves; vinserti128, where broadcastsi128 became a vperm2i128 (3 cycles on Zen 1) */
    const __m256i u2 = _mm256_inserti128_si256(_mm256_castsi128_si256(u), u, 1);
    o->sl = _mm256_shuffle_epi8(u2, _mm256_load_si256((const __m256i *)k4t_scale_ctrl[0]));
    o->sh = _mm256_shuffle_epi8(u2, _mm256_load_si256((const __m256i *)k4t_scale_ctrl[1]));
    o->mins = _mm_cvtepu8_epi16(_mm_srli_si128(u, 8));
}

/* The block's products with one activation row (yq: k4t_y's), times the group scales:
 * dword j sums pair j % 4 (both its groups). */
static inline __attribute__((always_inline)) AVX2 __m256i k4t_sums(const struct k4t_x *x,
                                                                   const __m256i yq[8])
{
    __m256i al = _mm256_maddubs_epi16(x->lo[0], yq[0]);
    __m256i ah = _mm256_maddubs_epi16(x->hi[0], yq[4]);
#pragma GCC unroll 4
    for (int t = 1; t < 4; t++) {
        al = _mm256_add_epi16(al, _mm256_maddubs_epi16(x->lo[t], yq[t]));
        ah = _mm256_add_epi16(ah, _mm256_maddubs_epi16(x->hi[t], yq[4 + t]));
    }
    return _mm256_add_epi32(_mm256_madd_epi16(al, x->sl), _mm256_madd_epi16(ah, x->sh));
}

/* The 4 pair sums of k4t_sums. */
static inline AVX2 __m128i k4t_pairs(__m256i s)
{
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* One row's steps in the repacked orders: per = 8 groups of 32 a step (the gemv: one step
 * a block) or 2 (the gemm: one a pair). pairs: the block's 4 pair sums; mp: its 4 mins
 * products; acc: lane 0 the sums' chain, lane 1 the mins'. */
static inline __attribute__((always_inline)) AVX2 __m128 k4t_steps(__m128i pairs, __m128i mp,
                                                                  __m128 d, __m128 acc, int per)
{
    if (per == 8) {
        __m128i t = _mm_hadd_epi32(pairs, mp);
        t = _mm_hadd_epi32(t, t); /* [sum, imin, sum, imin] */
        return _mm_fmadd_ps(_mm_cvtepi32_ps(t), d, acc);
    }
    /* [sum, imin] of pair p in lanes 0, 1, p in order: each lane's chain is the scalar one */
    const __m128 lo = _mm_cvtepi32_ps(_mm_unpacklo_epi32(pairs, mp));
    const __m128 hi = _mm_cvtepi32_ps(_mm_unpackhi_epi32(pairs, mp));
    acc = _mm_fmadd_ps(lo, d, acc);
    acc = _mm_fmadd_ps(_mm_movehl_ps(lo, lo), d, acc);
    acc = _mm_fmadd_ps(hi, d, acc);
    return _mm_fmadd_ps(_mm_movehl_ps(hi, hi), d, acc);
}

enum { K4T_PREFETCH = 1024 }; /* bytes ahead of the block in use: 7 blocks */

/* q4_K in the repacked kernels' orders (quant.h), one row: yq holds y's blocks in k4t
 * order, or is NULL to transpose each block here. Inlined so that `per` is a constant. */
static inline __attribute__((always_inline)) AVX2 float
q4_K_repack_steps(int64_t n, const void *vx, const void *vy, const __m256i *yq, int per)
{
    const struct block_q4_K *x = vx;
    const struct block_q8_K *y = vy;
    __m128 acc = _mm_setzero_ps(); /* lane 0: acc, lane 1: acc_min */
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32_t dm; /* d and dmin, adjacent halves */
        memcpy(&dm, &x[b].d, sizeof dm);
        const __m128 d = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(dm)), _mm_set1_ps(y[b].d));
        /* the prefetchers alone left a core at 7 of its 10 GB/s in cache (Zen 1) */
        prefetch_ahead(&x[b], K4T_PREFETCH, 3);
        struct k4t_x xt;
        k4t_x(&x[b], &xt);
        __m256i own[8];
        if (!yq)
            k4t_y(&y[b], own);
        const __m256i s = k4t_sums(&xt, yq ? yq + 8 * b : own);
        const __m128i mp = k4_min_prod(&y[b], _mm256_castsi128_si256(xt.mins));
        acc = k4t_steps(k4t_pairs(s), mp, d, acc, per);
    }
    return _mm_cvtss_f32(acc) - _mm_cvtss_f32(_mm_movehdup_ps(acc));
}

static AVX2 float q4_K_repack_dot(int64_t n, const void *vx, const void *vy)
{
    return q4_K_repack_steps(n, vx, vy, NULL, 8);
}

static AVX2 float q4_K_repack4_dot(int64_t n, const void *vx, const void *vy)
{
    return q4_K_repack_steps(n, vx, vy, NULL, 2);
}

/* The eight lanes of the kernels below: lane j multiplies weight row j / L (of R = 8 / L
 * rows, xs bytes apart) with activation row j % L. A prefill's expert products (a few
 * activation rows each) take 2 or 4 weight rows at a time, the rest 8 activation rows for
 * one weight row; decode (one activation row) goes row by row (REPACK_ROWS, q4_K_rows).
 * The chains are the single row's whatever the mix (FOR_LANES: avx2_blocks.h). */
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

/* Up to 8 activation rows in k4t order (k4t_y), made once per call: per thread, as the
 * pool's workers call at once, and 256 KB would crowd a worker's stack. */
static _Thread_local __m256i k4t_ybuf[8][8 * K4_MAX_BLOCKS];

static inline AVX2 void k4t_y_rows(int64_t n, const void *const *y, int ny)
{
    for (int r = 0; r < ny; r++)
        for (int64_t b = 0; b < n / QK_K; b++)
            k4t_y((const struct block_q8_K *)y[r] + b, &k4t_ybuf[r][8 * b]);
}

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
    k4t_y_rows(n, y, ny);
}

/* Each dword of each half of v: its dword p (p < 4, an immediate in every build). */
#define K4_DWORD_EVERYWHERE(v, p)                                                          \
    ((p) == 0   ? _mm256_shuffle_epi32(v, 0x00)                                            \
     : (p) == 1 ? _mm256_shuffle_epi32(v, 0x55)                                            \
     : (p) == 2 ? _mm256_shuffle_epi32(v, 0xAA)                                            \
                : _mm256_shuffle_epi32(v, 0xFF))

/* m[p] lane j = the two mins of pair p of lane j's row (row j / L), as int16. */
static inline __attribute__((always_inline)) AVX2 void
k4_lanes_mins(const __m128i *mins, int L, __m256i m[4])
{
    if (L == 8 || L == 4) { /* one row in both halves, or rows 0 and 1 in the halves */
        const __m256i r = L == 8 ? _mm256_set_m128i(mins[0], mins[0])
                                 : _mm256_set_m128i(mins[1], mins[0]);
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)
            m[p] = K4_DWORD_EVERYWHERE(r, p);
        return;
    }
    /* L == 2: rows 0, 1 in the low half's dword pairs, rows 2, 3 in the high half's */
    const __m256i r02 = _mm256_set_m128i(mins[2], mins[0]);
    const __m256i r13 = _mm256_set_m128i(mins[3], mins[1]);
#pragma GCC unroll 4
    for (int p = 0; p < 4; p++)
        m[p] = _mm256_blend_epi32(K4_DWORD_EVERYWHERE(r02, p), K4_DWORD_EVERYWHERE(r13, p), 0xCC);
}

/* q4_K with per = 8 groups of 32 per step (the gemv) or 2 (the gemm), as q4_K_repack_steps.
 * ny <= L activation rows (pre: q4_K_ylanes of them, and k4t_ybuf); the missing ones repeat
 * y[0] and are not stored. */
static inline __attribute__((always_inline)) AVX2 void
q4_K_repack_lanes(int64_t n, const uint8_t *x, size_t xs, int L, const void *const *y, int ny,
                  const struct k4_ylanes *pre, float *out, size_t out_row, size_t out_col,
                  int per)
{
    (void)y;
    const int R = 8 / L;
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const struct block_q4_K *xb[8];
        __m256i s[8], pairs[4], mins[4];
        __m128i row_mins[8];
        /* a row's lanes right after its k4t_x: four rows' k4t_x at once spilled (L = 2) */
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            xb[r] = (const struct block_q4_K *)(x + (size_t)r * xs) + b;
            struct k4t_x xt;
            k4t_x(xb[r], &xt);
            row_mins[r] = xt.mins;
#pragma GCC unroll 8
            for (int l = 0; l < L; l++)
                s[r * L + l] = k4t_sums(&xt, &k4t_ybuf[l < ny ? l : 0][8 * b]);
        }
        const __m256 d = _mm256_mul_ps(k4_lanes_half(xb, L, false), pre[b].d);
        const __m256 dmin = _mm256_mul_ps(k4_lanes_half(xb, L, true), pre[b].d);
        fold8x4(s, pairs); /* pairs[p] lane j: pair p of lane j */
        k4_lanes_mins(row_mins, L, mins);
        if (per == 8) {
            __m256i imin = _mm256_madd_epi16(mins[0], pre[b].gsum[0]);
#pragma GCC unroll 4
            for (int p = 1; p < 4; p++)
                imin = _mm256_add_epi32(imin, _mm256_madd_epi16(mins[p], pre[b].gsum[p]));
            const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(pairs[0], pairs[1]),
                                                 _mm256_add_epi32(pairs[2], pairs[3]));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), d, acc);
            acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin), dmin, acc_min);
        } else {
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++) {
                const __m256i imin = _mm256_madd_epi16(mins[p], pre[b].gsum[p]);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pairs[p]), d, acc);
                acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin), dmin, acc_min);
            }
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

REPACK_ROWS(q4_K_lanes_rows, q4_K_repack_lanes, q4_K_repack_dot, 8, q4_K_ylanes)
REPACK_ROWS(q4_K_lanes4_rows, q4_K_repack_lanes, q4_K_repack4_dot, 2, q4_K_ylanes)

/* One activation row (decode): y in k4t order once for all the rows, then row by row. */
static inline __attribute__((always_inline)) AVX2 int
q4_K_rows(int64_t n, const void *vx, size_t xs, int nx, const void *const *y, int ny,
          float *out, size_t out_row, size_t out_col, int per)
{
    if (ny != 1 || n / QK_K > K4_MAX_BLOCKS)
        return (per == 8 ? q4_K_lanes_rows : q4_K_lanes4_rows)(n, vx, xs, nx, y, ny, out,
                                                                out_row, out_col);
    k4t_y_rows(n, y, 1);
    for (int i = 0; i < nx; i++)
        out[(size_t)i * out_row] = q4_K_repack_steps(n, (const uint8_t *)vx + (size_t)i * xs,
                                                     y[0], k4t_ybuf[0], per);
    return 0;
}

static AVX2 int q4_K_repack_rows(int64_t n, const void *vx, size_t xs, int nx,
                                 const void *const *y, int ny, float *out, size_t out_row,
                                 size_t out_col)
{
    return q4_K_rows(n, vx, xs, nx, y, ny, out, out_row, out_col, 8);
}

static AVX2 int q4_K_repack4_rows(int64_t n, const void *vx, size_t xs, int nx,
                                  const void *const *y, int ny, float *out, size_t out_row,
                                  size_t out_col)
{
    return q4_K_rows(n, vx, xs, nx, y, ny, out, out_row, out_col, 2);
}

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
