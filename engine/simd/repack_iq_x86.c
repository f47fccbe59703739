/* engine/simd/repack_iq_x86.c: the repacked order of mxfp4 and iq4_nl (quant.h's
 * vec_dot_repack and vec_dot_repack4, which sum alike for these two) on AVX2 and AVX-512,
 * one row at a time and eight lanes at a time.
 *
 * llama.cpp repacks these weights into 8-row interleaved blocks (when rows % 8 == 0) and
 * keeps one float accumulator per output row, updated once per block of 32 with a fused
 * multiply-add of the block's exact integer sum times d_x * d_y. The lanes kernels do the
 * same with eight (weight row, activation row) pairs in the eight lanes of one register:
 * each lane's chain of FMAs is the single row's, so the results are equal bit for bit,
 * while the eight chains overlap and the integer sums are reduced eight at a time instead
 * of one horizontal sum per block and row. AVX-512 makes the integer sums with VNNI, two
 * lanes' blocks in each 512-bit register.
 * Compiled with function target attributes: the caller checks cpu.h first. */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#include "x86_hsum.h"
#include "avx2_blocks.h"

#define AVX512 \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The two block types' layouts (quant_blocks.h): bytes a block, where its codes start, its
 * 16 levels. */
static ALWAYS_INLINE size_t iq_block_size(uint32_t type)
{
    return type == GGML_TYPE_MXFP4 ? sizeof(struct block_mxfp4) : sizeof(struct block_iq4_nl);
}

static ALWAYS_INLINE size_t iq_codes_at(uint32_t type)
{
    return type == GGML_TYPE_MXFP4 ? offsetof(struct block_mxfp4, qs)
                                   : offsetof(struct block_iq4_nl, qs);
}

static ALWAYS_INLINE const int8_t *iq_levels(uint32_t type)
{
    return type == GGML_TYPE_MXFP4 ? quant_kvalues_mxfp4 : quant_kvalues_iq4nl;
}

/* ---- AVX2 ---- */

/* The block's integer sum, then one scalar fused step per block. */
static ALWAYS_INLINE AVX2 float iq_repack_dot(uint32_t type, int64_t n, const void *vx,
                                             const void *vy)
{
    const uint8_t *x = vx;
    const struct block_q8_0 *y = vy;
    const size_t bs = iq_block_size(type), at = iq_codes_at(type);
    const __m256i tb = table16(iq_levels(type));
    float acc = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *xb = x + (size_t)b * bs;
        const float scale = type == GGML_TYPE_MXFP4
                                ? mxfp4_scale((const struct block_mxfp4 *)xb, &y[b])
                                : iq4_nl_scale((const struct block_iq4_nl *)xb, &y[b]);
        acc = fmaf((float)hsum_i32_8(dot_i8(levels32(xb + at, tb), load256(y[b].qs))), scale,
                   acc);
    }
    return acc;
}

static AVX2 float mxfp4_repack_dot(int64_t n, const void *vx, const void *vy)
{
    return iq_repack_dot(GGML_TYPE_MXFP4, n, vx, vy);
}

static AVX2 float iq4_nl_repack_dot(int64_t n, const void *vx, const void *vy)
{
    return iq_repack_dot(GGML_TYPE_IQ4_NL, n, vx, vy);
}

/* x's levels times y's values in dot_i8's lanes (exact), with ay = |y|: the sign goes onto
 * x, so an activation row shared by several lanes costs one abs instead of a sign each. */
static ALWAYS_INLINE AVX2 __m256i dot_i8_abs(__m256i x, __m256i y, __m256i ay)
{
    const __m256i p = _mm256_maddubs_epi16(ay, _mm256_sign_epi8(x, y));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* The lanes' x scales (lane j: the block at xb[j / L]) as mxfp4_scale and iq4_nl_scale
 * take them: iq4_nl's half d, mxfp4's quant_e8m0_half(e) lane by lane. */
static ALWAYS_INLINE AVX2 __m256 iq_xscales(uint32_t type, const uint8_t *const xb[8], int L)
{
    if (type == GGML_TYPE_IQ4_NL) {
        quant_half h[8];
        FOR_LANES(j) memcpy(&h[j], xb[j / L] + offsetof(struct block_iq4_nl, d), sizeof h[j]);
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
    }
    uint8_t e[8];
    FOR_LANES(j) e[j] = xb[j / L][offsetof(struct block_mxfp4, e)];
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)e));
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(v, _mm256_set1_epi32(1)), 23);
    const __m256i subnormal = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), v);
    const __m256i small = _mm256_cmpgt_epi32(_mm256_set1_epi32(2), v);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(normal, subnormal, small));
}

/* Lane j's result to o[j / L][(j % L) * out_col], unless o[j / L] is NULL (a row the
 * caller does not have) or j % L >= ny. */
static ALWAYS_INLINE AVX2 void lanes_put(float *const o[8], size_t out_col, int L, int ny,
                                         __m256 v)
{
    float t[8];
    _mm256_storeu_ps(t, v);
    FOR_LANES(j) if (o[j / L] && j % L < ny) o[j / L][(size_t)(j % L) * out_col] = t[j];
}

/* The eight lanes: lane j multiplies weight row xr[j / L] (of R = 8 / L) with activation
 * row y[j % L] (y[0] for j % L >= ny), in iq_repack_dot's steps. */
static ALWAYS_INLINE AVX2 void iq_lanes_avx2(uint32_t type, int L, int64_t n,
                                             const uint8_t *const xr[8], const void *const *y,
                                             int ny, float *const o[8], size_t out_col)
{
    const int R = 8 / L;
    const size_t bs = iq_block_size(type), at = iq_codes_at(type);
    const __m256i tb = table16(iq_levels(type));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *xb[8];
        __m256i lv[8], yq[8], ya[8], sums[8];
        float yd[8], ydl[8];
        FOR_LANES(r) if (r < R) {
            xb[r] = xr[r] + (size_t)b * bs;
            lv[r] = levels32(xb[r] + at, tb);
        }
        FOR_LANES(c) if (c < L) {
            const struct block_q8_0 *yb = (const struct block_q8_0 *)y[c < ny ? c : 0] + b;
            yq[c] = load256(yb->qs);
            ya[c] = _mm256_abs_epi8(yq[c]);
            yd[c] = h2f(yb->d);
        }
        FOR_LANES(j) {
            sums[j] = dot_i8_abs(lv[j / L], yq[j % L], ya[j % L]);
            ydl[j] = yd[j % L];
        }
        const __m256 d = _mm256_mul_ps(_mm256_loadu_ps(ydl), iq_xscales(type, xb, L));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum8x8(sums)), d, acc);
    }
    lanes_put(o, out_col, L, ny, acc);
}

/* ---- AVX-512 ---- */

/* Two blocks' codes (16 bytes at a, at b) -> 64 bytes of levels + 128 (table: the levels
 * xor 0x80 in each 128-bit lane), as unsigned: a's low nibbles, a's high ones, b's. */
static ALWAYS_INLINE AVX512 __m512i levels64u(const uint8_t *a, const uint8_t *b,
                                              __m512i table)
{
    const __m256i ta = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)a));
    const __m256i tb = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b));
    const __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(ta), tb, 1);
    const __m512i codes = _mm512_mask_srli_epi16(t, 0xFF00FF00, t, 4);
    return _mm512_shuffle_epi8(table, _mm512_and_si512(codes, _mm512_set1_epi8(0xF)));
}

static ALWAYS_INLINE AVX512 __m512i join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* s[p] holds lane 2p's eight int32 values in its low half and lane 2p + 1's in its high
 * half; lane j of the result is the sum of lane j's (exact). */
static ALWAYS_INLINE AVX512 __m256i sum8x16(const __m512i s[4])
{
    /* pairs of neighbours, twice: 4 values a lane, then 2 */
    const __m512i e1 =
        _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i o1 = _mm512_add_epi32(e1, _mm512_set1_epi32(1));
    const __m512i t0 = _mm512_add_epi32(_mm512_permutex2var_epi32(s[0], e1, s[1]),
                                        _mm512_permutex2var_epi32(s[0], o1, s[1]));
    const __m512i t1 = _mm512_add_epi32(_mm512_permutex2var_epi32(s[2], e1, s[3]),
                                        _mm512_permutex2var_epi32(s[2], o1, s[3]));
    const __m512i u = _mm512_add_epi32(_mm512_permutex2var_epi32(t0, e1, t1),
                                       _mm512_permutex2var_epi32(t0, o1, t1));
    /* the last pair in each 64-bit lane: the low 32 bits of lo + hi */
    return _mm512_cvtepi64_epi32(_mm512_add_epi32(u, _mm512_srli_epi64(u, 32)));
}

/* iq_lanes_avx2 with each block's integer sums from VPDPBUSD: the unsigned levels + 128
 * times y, started at -128 times the sums of y's fours, give the exact dot_i8 lanes. */
static ALWAYS_INLINE AVX512 void iq_lanes_avx512(uint32_t type, int L, int64_t n,
                                                 const uint8_t *const xr[8],
                                                 const void *const *y, int ny,
                                                 float *const o[8], size_t out_col)
{
    const int R = 8 / L;
    const size_t bs = iq_block_size(type), at = iq_codes_at(type);
    const __m512i tb = _mm512_xor_si512(
        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)iq_levels(type))),
        _mm512_set1_epi8((char)0x80));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *xb[8];
        __m256i yq[8], yn[8];
        __m512i sums[4];
        float yd[8], ydl[8];
        FOR_LANES(r) if (r < R) xb[r] = xr[r] + (size_t)b * bs;
        FOR_LANES(c) if (c < L) {
            const struct block_q8_0 *yb = (const struct block_q8_0 *)y[c < ny ? c : 0] + b;
            yq[c] = load256(yb->qs);
            yn[c] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                     _mm256_dpbusd_epi32(_mm256_setzero_si256(),
                                                         _mm256_set1_epi8((char)0x80), yq[c]));
            yd[c] = h2f(yb->d);
        }
        _Pragma("GCC unroll 4") for (int p = 0; p < 4; p++) {
            const int ja = 2 * p, jb = 2 * p + 1;
            const __m512i xu = levels64u(xb[ja / L] + at, xb[jb / L] + at, tb);
            sums[p] = _mm512_dpbusd_epi32(join256(yn[ja % L], yn[jb % L]), xu,
                                          join256(yq[ja % L], yq[jb % L]));
        }
        FOR_LANES(j) ydl[j] = yd[j % L];
        const __m256 d = _mm256_mul_ps(_mm256_loadu_ps(ydl), iq_xscales(type, xb, L));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum8x16(sums)), d, acc);
    }
    lanes_put(o, out_col, L, ny, acc);
}

/* ---- kern_dot_rows through the lanes ---- */

/* One lanes kernel for a fixed type and L (the activation rows a step takes). */
typedef void (*lanes_fn)(int64_t n, const uint8_t *const xr[8], const void *const *y, int ny,
                         float *const o[8], size_t out_col);

/* With one activation row (decode) the 8 weight rows of a step come from 8 stretches of
 * the matrix nx / 8 rows apart, 8 sequential streams (neighbouring rows interleave within
 * the same pages: quant_avx2.c's q8_0 measured that 2.5x slower from memory), the rest 8 at
 * a time; with L activation rows a step takes 8 / L neighbouring weight rows, each group of
 * L activation rows in turn. Rows past the end repeat the last and are not stored.
 * lanes[k] takes L = 1 << k. */
static ALWAYS_INLINE int rows_by_lanes(const lanes_fn lanes[4], int64_t n, const void *vx,
                                       size_t xs, int nx, const void *const *y, int ny,
                                       float *out, size_t out_row, size_t out_col)
{
    const uint8_t *x = vx;
    const int k = ny == 1 ? 0 : ny == 2 ? 1 : ny <= 4 ? 2 : 3, L = 1 << k, R = 8 / L;
    const int q = L == 1 ? nx / 8 : 0;
    for (int j0 = 0; j0 < ny; j0 += L) {
        const int c = ny - j0 < L ? ny - j0 : L;
        const uint8_t *xr[8];
        float *o[8];
        for (int i = 0; i < q; i++) {
            for (int r = 0; r < 8; r++) {
                xr[r] = x + (size_t)(i + r * q) * xs;
                o[r] = out + (size_t)(i + r * q) * out_row + (size_t)j0 * out_col;
            }
            lanes[k](n, xr, y + j0, c, o, out_col);
        }
        for (int i0 = 8 * q; i0 < nx; i0 += R) {
            for (int r = 0; r < R; r++) {
                const int i = i0 + r < nx ? i0 + r : nx - 1;
                xr[r] = x + (size_t)i * xs;
                o[r] = i0 + r < nx ? out + (size_t)i * out_row + (size_t)j0 * out_col : NULL;
            }
            lanes[k](n, xr, y + j0, c, o, out_col);
        }
    }
    return 0;
}

/* The lanes kernel of one type on one instruction set for L activation rows a step. */
#define IQ_LANES(name, type, isa, ATTR, L)                                                     \
    static ATTR void name##_lanes##L##_##isa(int64_t n, const uint8_t *const xr[8],            \
                                             const void *const *y, int ny, float *const o[8],  \
                                             size_t out_col)                                   \
    {                                                                                          \
        iq_lanes_##isa(type, L, n, xr, y, ny, o, out_col);                                     \
    }

/* The four lanes kernels of one type on one instruction set, and its rows function. */
#define IQ_ROWS(name, type, isa, ATTR)                                                         \
    IQ_LANES(name, type, isa, ATTR, 1)                                                         \
    IQ_LANES(name, type, isa, ATTR, 2)                                                         \
    IQ_LANES(name, type, isa, ATTR, 4)                                                         \
    IQ_LANES(name, type, isa, ATTR, 8)                                                         \
    static ATTR int name##_rows_##isa(int64_t n, const void *x, size_t xs, int nx,             \
                                      const void *const *y, int ny, float *out,                \
                                      size_t out_row, size_t out_col)                          \
    {                                                                                          \
        static const lanes_fn lanes[4] = { name##_lanes1_##isa, name##_lanes2_##isa,           \
                                           name##_lanes4_##isa, name##_lanes8_##isa };         \
        return rows_by_lanes(lanes, n, x, xs, nx, y, ny, out, out_row, out_col);               \
    }

IQ_ROWS(mxfp4, GGML_TYPE_MXFP4, avx2, AVX2)
IQ_ROWS(iq4_nl, GGML_TYPE_IQ4_NL, avx2, AVX2)
IQ_ROWS(mxfp4, GGML_TYPE_MXFP4, avx512, AVX512)
IQ_ROWS(iq4_nl, GGML_TYPE_IQ4_NL, avx512, AVX512)

void quant_repack_iq_avx2_fill(struct quant_kernels *k)
{
    k->vec_dot_repack[GGML_TYPE_MXFP4] = mxfp4_repack_dot;
    k->vec_dot_repack4[GGML_TYPE_MXFP4] = mxfp4_repack_dot;
    k->rows_repack[GGML_TYPE_MXFP4] = mxfp4_rows_avx2;
    k->rows_repack4[GGML_TYPE_MXFP4] = mxfp4_rows_avx2;
    k->vec_dot_repack[GGML_TYPE_IQ4_NL] = iq4_nl_repack_dot;
    k->vec_dot_repack4[GGML_TYPE_IQ4_NL] = iq4_nl_repack_dot;
    k->rows_repack[GGML_TYPE_IQ4_NL] = iq4_nl_rows_avx2;
    k->rows_repack4[GGML_TYPE_IQ4_NL] = iq4_nl_rows_avx2;
}

void quant_repack_iq_avx512_fill(struct quant_kernels *k)
{
    k->rows_repack[GGML_TYPE_MXFP4] = mxfp4_rows_avx512;
    k->rows_repack4[GGML_TYPE_MXFP4] = mxfp4_rows_avx512;
    k->rows_repack[GGML_TYPE_IQ4_NL] = iq4_nl_rows_avx512;
    k->rows_repack4[GGML_TYPE_IQ4_NL] = iq4_nl_rows_avx512;
}

#else

void quant_repack_iq_avx2_fill(struct quant_kernels *k)
{
    (void)k;
}

void quant_repack_iq_avx512_fill(struct quant_kernels *k)
{
    (void)k;
}

#endif
