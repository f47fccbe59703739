/* engine/simd/quant_avx2.c: AVX2/FMA/F16C kernels.
 *
 * The integer part of each dot product is exact, so only the float steps decide the
 * rounding. These kernels reproduce the float steps of llama.cpp's x86 build, which
 * recorded the fixtures:
 *  - 32-value types (q4_0, q4_1, q5_0, q5_1, q8_0): per block, 8 int32 lanes (lane k sums
 *    values 4k..4k+3), converted to float and FMA'd with the block scale into one 8-lane
 *    accumulator, then summed as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)); q4_1/q5_1 add
 *    m * s in a separate float (fused multiply-add, as gcc contracts ggml's `+=`);
 *  - K-quants: lane k sums the values v with (v % 32) / 4 == k over the super-block, times
 *    their group scales, then the same FMA and sum; the mins as ggml's AVX2 code does;
 *  - f32/f16/bf16: ggml's AVX2 build (4 accumulators of 8 lanes), and the "gemm" order of
 *    llamafile's tinyBLAS (one 8-lane accumulator) that llama.cpp uses for dense 2-D
 *    weights.
 * Compiled with function target attributes: the caller checks cpu.h first. */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "x86_hsum.h"
#include "avx2_blocks.h"

/* Byte k = 0xFF when bit k of the little-endian uint32 at p is set, else 0. */
static inline AVX2 __m256i bits32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)v),
        _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

/* ------------------------------------------------------------------ 32-value blocks */

/* a q5_0 block's values as int8 */
static inline AVX2 __m256i q5_0_values(const struct block_q5_0 *xb)
{
    /* without the fifth bit the byte becomes nibble - 16 (0xF0 | nibble) */
    const __m256i hi = _mm256_andnot_si256(bits32(xb->qh), _mm256_set1_epi8((char)0xF0));
    return _mm256_or_si256(nibbles32(xb->qs), hi);
}

static AVX2 float q4_0_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_0 *x = vx;
    const struct block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        const __m256i qx = _mm256_sub_epi8(nibbles32(x[b].qs), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(qx, load256(y[b].qs))), acc);
    }
    return hsum8(acc);
}

static AVX2 float q5_0_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q5_0 *x = vx;
    const struct block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(q5_0_values(&x[b]), load256(y[b].qs))),
                              acc);
    }
    return hsum8(acc);
}

static AVX2 float q8_0_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q8_0 *x = vx;
    const struct block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK8_0; b++) {
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        const __m256i p = dot_i8(load256(x[b].qs), load256(y[b].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

static AVX2 float q4_1_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_1 *x = vx;
    const struct block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / QK8_1; b++) {
        summs = fmaf(h2f(x[b].m), h2f(y[b].s), summs);
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        const __m256i p = dot_u8(nibbles32(x[b].qs), load256(y[b].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc) + summs;
}

static AVX2 float q5_1_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q5_1 *x = vx;
    const struct block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / QK8_1; b++) {
        summs = fmaf(h2f(x[b].m), h2f(y[b].s), summs);
        const __m256i hi = _mm256_and_si256(bits32(x[b].qh), _mm256_set1_epi8(0x10));
        const __m256i qx = _mm256_or_si256(nibbles32(x[b].qs), hi);
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8(qx, load256(y[b].qs))), acc);
    }
    return hsum8(acc) + summs;
}

#define P2_PAIR(i) 2 * (i), 2 * (i) + 1
#define P2_HALF(i) P2_PAIR(i), P2_PAIR(i), P2_PAIR(i), P2_PAIR(i), \
                   P2_PAIR(i), P2_PAIR(i), P2_PAIR(i), P2_PAIR(i)
#define P2_CTRL(i, j) { P2_HALF(i), P2_HALF(j) }
#define P2_ROW(i) { P2_CTRL(i, 0), P2_CTRL(i, 1), P2_CTRL(i, 2), P2_CTRL(i, 3), \
                    P2_CTRL(i, 4), P2_CTRL(i, 5), P2_CTRL(i, 6), P2_CTRL(i, 7) }
__attribute__((aligned(32))) const uint8_t avx2_pick2_ctrl[8][8][32] = {
    P2_ROW(0), P2_ROW(1), P2_ROW(2), P2_ROW(3), P2_ROW(4), P2_ROW(5), P2_ROW(6), P2_ROW(7),
};

/* Tiles of q8_0/q4_0 dots (prefill): RX weight rows against RY activation rows, every pair
 * (row i, y j) with its own accumulator and exactly the steps of q8_0_dot/q4_0_dot (dot_i8's
 * integer lanes, the float product of the two scales, one FMA chain, hsum8), but a weight
 * block is loaded, made absolute and its scale converted once for the RY rows, and an
 * activation block once for the RX rows (as tinyBLAS blocks its tiles). Two rows by four
 * was 1.4 times faster than the four pairs sharing nothing before. A single y goes row by
 * row: four streamed rows measured 2.5 times slower from memory than one. */
#define TILE32(NAME, XBLOCK, QX)                                                          \
    static inline __attribute__((always_inline)) AVX2 void                                \
    NAME##_block(int RX, int RY, int64_t nb, const XBLOCK *const *xr,                     \
                 const struct block_q8_0 *const *yr, float *out, size_t os)               \
    {                                                                                     \
        __m256 acc[2][4];                                                                 \
        _Pragma("GCC unroll 2") for (int i = 0; i < RX; i++)                              \
            _Pragma("GCC unroll 4") for (int j = 0; j < RY; j++)                          \
                acc[i][j] = _mm256_setzero_ps();                                          \
        for (int64_t b = 0; b < nb; b++) {                                                \
            __m256i qx[2], ax[2];                                                         \
            float xd[2];                                                                  \
            _Pragma("GCC unroll 2") for (int i = 0; i < RX; i++) {                        \
                const XBLOCK *xb = &xr[i][b];                                             \
                qx[i] = QX;                                                               \
                ax[i] = _mm256_sign_epi8(qx[i], qx[i]);                                   \
                xd[i] = h2f(xb->d);                                                       \
            }                                                                             \
            _Pragma("GCC unroll 4") for (int j = 0; j < RY; j++) {                        \
                const __m256i yq = load256(yr[j][b].qs);                                  \
                const float yd = h2f(yr[j][b].d);                                         \
                _Pragma("GCC unroll 2") for (int i = 0; i < RX; i++) {                    \
                    /* dot_i8(qx, yq) with |qx| made once */                              \
                    const __m256i p = _mm256_madd_epi16(                                  \
                        _mm256_maddubs_epi16(ax[i], _mm256_sign_epi8(yq, qx[i])),         \
                        _mm256_set1_epi16(1));                                            \
                    acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(xd[i] * yd),               \
                                                _mm256_cvtepi32_ps(p), acc[i][j]);        \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        _Pragma("GCC unroll 2") for (int i = 0; i < RX; i++)                              \
            _Pragma("GCC unroll 4") for (int j = 0; j < RY; j++)                          \
                out[(size_t)i * os + (size_t)j] = hsum8(acc[i][j]);                       \
    }                                                                                     \
    TILE32_SHAPE(NAME, XBLOCK, 1, 1) TILE32_SHAPE(NAME, XBLOCK, 1, 2)                     \
    TILE32_SHAPE(NAME, XBLOCK, 1, 3) TILE32_SHAPE(NAME, XBLOCK, 1, 4)                     \
    TILE32_SHAPE(NAME, XBLOCK, 2, 1) TILE32_SHAPE(NAME, XBLOCK, 2, 2)                     \
    TILE32_SHAPE(NAME, XBLOCK, 2, 3) TILE32_SHAPE(NAME, XBLOCK, 2, 4)                     \
    static AVX2 void NAME##_tile(int64_t n, const void *x, size_t xs, int nx,              \
                                 const void *const *y, int ny, float *out, size_t os)     \
    {                                                                                     \
        typedef void (*shape_fn)(int64_t, const XBLOCK *const *,                          \
                                 const struct block_q8_0 *const *, float *, size_t);      \
        static const shape_fn shape[2][4] = {                                             \
            { NAME##_1x1, NAME##_1x2, NAME##_1x3, NAME##_1x4 },                           \
            { NAME##_2x1, NAME##_2x2, NAME##_2x3, NAME##_2x4 },                           \
        };                                                                                \
        if (ny == 1) { /* four rows at once measured slower from memory: one at a time */ \
            for (int i = 0; i < nx; i++)                                                  \
                out[(size_t)i * os] = NAME##_dot(n, (const uint8_t *)x + (size_t)i * xs, y[0]); \
            return;                                                                       \
        }                                                                                 \
        for (int i = 0; i < nx; i += 2) {                                                 \
            const int rx = nx - i < 2 ? nx - i : 2;                                       \
            const XBLOCK *xr[2];                                                          \
            for (int k = 0; k < rx; k++)                                                  \
                xr[k] = (const XBLOCK *)((const uint8_t *)x + (size_t)(i + k) * xs);      \
            for (int j = 0; j < ny; j += 4) {                                             \
                const int ry = ny - j < 4 ? ny - j : 4;                                   \
                const struct block_q8_0 *yr[4];                                           \
                for (int k = 0; k < ry; k++)                                              \
                    yr[k] = y[j + k];                                                     \
                shape[rx - 1][ry - 1](n / QK8_0, xr, yr, out + (size_t)i * os + (size_t)j, os); \
            }                                                                             \
        }                                                                                 \
    }

/* One shape of NAME##_block as a function of its own (its loops unrolled). */
#define TILE32_SHAPE(NAME, XBLOCK, RX, RY)                                                \
    static AVX2 void NAME##_##RX##x##RY(int64_t nb, const XBLOCK *const *xr,              \
                                        const struct block_q8_0 *const *yr, float *out,   \
                                        size_t os)                                        \
    {                                                                                     \
        NAME##_block(RX, RY, nb, xr, yr, out, os);                                        \
    }

TILE32(q8_0, struct block_q8_0, load256(xb->qs))
TILE32(q4_0, struct block_q4_0, _mm256_sub_epi8(nibbles32(xb->qs), _mm256_set1_epi8(8)))

/* q8_0 and q5_0 decode (one y row) over many weight rows, for kernels.h's kern_dot_rows:
 * each row keeps exactly its row kernel's steps (q8_0_dot, q5_0_dot: the same integer lanes
 * from dot_i8, the same float product of the two scales, one FMA chain per row, hsum8),
 * but R = 4 rows run together from 4 separate stretches of the matrix (nx / 4 rows apart:
 * 4 sequential streams that the prefetchers follow, where 4 neighbouring rows measured 2.5x
 * slower), so their FMA chains overlap instead of one chain waiting ~4 cycles a block, the
 * y scales are converted once per call, and the weights are prefetched ahead of each
 * stream. q5_0 went row by row before: 2.4x slower per byte than q8_0 from memory, and
 * DeepSeek-V2-Lite's Q4_K_M has it for the experts' down projections (ff 1408 is no
 * multiple of 256, so no q4_K/q6_K there). */
enum { Q8_ROWS_MAX_NB = 512, Q8_ROWS_PREFETCH = 512 };

/* the weight block's values as int8, the row kernels' */
static inline AVX2 __m256i q8_0_values(const struct block_q8_0 *xb)
{
    return load256(xb->qs);
}

#define ROWS32(NAME, XBLOCK)                                                                \
    static inline __attribute__((always_inline)) AVX2 void                                  \
    NAME##_rows_step(int R, int64_t nb, const XBLOCK *const *xr,                            \
                     const struct block_q8_0 *y, const float *yd, float *out,               \
                     size_t out_step)                                                       \
    {                                                                                       \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),     \
                         _mm256_setzero_ps()};                                              \
        for (int64_t b = 0; b < nb; b++) {                                                  \
            const __m256i yq = load256(y[b].qs);                                            \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                             \
            {                                                                               \
                _mm_prefetch((const char *)&xr[r][b] + Q8_ROWS_PREFETCH, _MM_HINT_T0);      \
                const __m256 d = _mm256_set1_ps(h2f(xr[r][b].d) * yd[b]);                   \
                const __m256i p = dot_i8(NAME##_values(&xr[r][b]), yq);                     \
                acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r]);                 \
            }                                                                               \
        }                                                                                   \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                 \
            out[(size_t)r * out_step] = hsum8(acc[r]);                                      \
    }                                                                                       \
    static AVX2 void NAME##_rows4(int64_t nb, const XBLOCK *const *xr,                      \
                                  const struct block_q8_0 *y, const float *yd, float *out,  \
                                  size_t out_step)                                          \
    {                                                                                       \
        NAME##_rows_step(4, nb, xr, y, yd, out, out_step);                                  \
    }                                                                                       \
    static AVX2 void NAME##_rows1(int64_t nb, const XBLOCK *const *xr,                      \
                                  const struct block_q8_0 *y, const float *yd, float *out,  \
                                  size_t out_step)                                          \
    {                                                                                       \
        NAME##_rows_step(1, nb, xr, y, yd, out, out_step);                                  \
    }                                                                                       \
    /* 0 when done; -1 for several y rows (the tiles take those) or rows too long. */       \
    static AVX2 int NAME##_rows(int64_t n, const void *x, size_t x_stride, int nx,          \
                                const void *const *y, int ny, float *out, size_t out_row,   \
                                size_t out_col)                                             \
    {                                                                                       \
        const int64_t nb = n / QK8_0;                                                       \
        (void)out_col;                                                                      \
        if (ny != 1 || n % QK8_0 || nb > Q8_ROWS_MAX_NB)                                    \
            return -1;                                                                      \
        const struct block_q8_0 *yb = y[0];                                                 \
        float yd[Q8_ROWS_MAX_NB];                                                           \
        for (int64_t b = 0; b < nb; b++)                                                    \
            yd[b] = h2f(yb[b].d);                                                           \
        const int q = nx / 4;                                                               \
        for (int i = 0; i < q; i++) {                                                       \
            const XBLOCK *xr[4];                                                            \
            for (int r = 0; r < 4; r++)                                                     \
                xr[r] = (const XBLOCK *)((const uint8_t *)x + (size_t)(i + r * q) * x_stride); \
            NAME##_rows4(nb, xr, yb, yd, out + (size_t)i * out_row, (size_t)q * out_row);   \
        }                                                                                   \
        for (int i = 4 * q; i < nx; i++) {                                                  \
            const XBLOCK *xr[1] = {                                                         \
                (const XBLOCK *)((const uint8_t *)x + (size_t)i * x_stride)};               \
            NAME##_rows1(nb, xr, yb, yd, out + (size_t)i * out_row, out_row);               \
        }                                                                                   \
        return 0;                                                                           \
    }

ROWS32(q8_0, struct block_q8_0)
ROWS32(q5_0, struct block_q5_0)

/* ------------------------------------------------------------------ K-quants */

static AVX2 float q2_K_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q2_K *x = vx;
    const struct block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const float dmin = -y[b].d * h2f(x[b].dmin);
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)x[b].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4),
                                                                _mm_set1_epi8(0xF)));
        const __m256i prod = _mm256_madd_epi16(mins, load256(y[b].bsums));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
        __m256i sc[2];
        halves16(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, _mm_set1_epi8(0xF))), sc);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i bits = load256(x[b].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j; /* values 32c .. 32c + 31 */
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j),
                                                   _mm256_set1_epi8(3));
                const __m256i p = _mm256_maddubs_epi16(q, load256(y[b].qs + 32 * c));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pick2(sc[h], 2 * j, 2 * j + 1)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

static AVX2 float q3_K_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q3_K *x = vx;
    const struct block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        /* the 16 six-bit scales (stored +32): low nibbles from bytes 0..7, top bits from
         * bytes 8..11, assembled four at a time */
        uint32_t a[3], v[4];
        memcpy(a, x[b].scales, 12);
        const uint32_t low4 = 0x0f0f0f0f, low2 = 0x03030303;
        v[0] = (a[0] & low4) | ((a[2] & low2) << 4);
        v[1] = (a[1] & low4) | (((a[2] >> 2) & low2) << 4);
        v[2] = ((a[0] >> 4) & low4) | (((a[2] >> 4) & low2) << 4);
        v[3] = ((a[1] >> 4) & low4) | (((a[2] >> 6) & low2) << 4);
        const __m128i s8 = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)v), _mm_set1_epi8(32));
        __m256i sc[2];
        halves16(_mm256_cvtepi8_epi16(s8), sc);
        const __m256i hmask = load256(x[b].hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i bits = load256(x[b].qs + 32 * h);
            for (int j = 0; j < 4; j++) {
                const int c = 4 * h + j;
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j),
                                                     _mm256_set1_epi8(3));
                const __m256i m = _mm256_set1_epi8((char)(1 << c));
                const __m256i unset = _mm256_cmpeq_epi8(_mm256_and_si256(hmask, m),
                                                        _mm256_setzero_si256());
                const __m256i four = _mm256_and_si256(unset, _mm256_set1_epi8(4));
                const __m256i y8 = load256(y[b].qs + 32 * c);
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(low, y8),
                                                   _mm256_maddubs_epi16(four, y8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pick2(sc[h], 2 * j, 2 * j + 1)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

static AVX2 float q4_K_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_K *x = vx;
    const struct block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const float dmin = -y[b].d * h2f(x[b].dmin);
        __m256i sm[2]; /* [scales | scales], [mins | mins] as int16 */
        k4_scales_mins(x[b].scales, sm);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_min_prod(&y[b], sm[1])), acc_m);
        __m256i sumi = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            sumi = _mm256_add_epi32(sumi, k4_pair(x[b].qs, y[b].qs, sm[0], p));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    return hsum8(acc) + _mm_cvtss_f32(acc_m);
}

/* q4_K tile: each x super-block's nibbles and scale vectors are made once for two y rows
 * (the steps per pair are those of q4_K_dot). */
static AVX2 void q4_K_tile(int64_t n, const void *vx, size_t xs, int nx, const void *const *y,
                           int ny, float *out, size_t os)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int i = 0; i < nx; i++) {
        const struct block_q4_K *x = (const struct block_q4_K *)((const uint8_t *)vx + (size_t)i * xs);
        if (ny == 1) {
            out[(size_t)i * os] = q4_K_dot(n, x, y[0]);
            continue;
        }
        for (int j0 = 0; j0 < ny; j0 += 2) {
            const struct block_q8_K *ya = y[j0], *yb = y[j0 + 1 < ny ? j0 + 1 : j0];
            __m256 acc_a = _mm256_setzero_ps(), acc_b = acc_a;
            __m128 m_a = _mm_setzero_ps(), m_b = m_a;
            for (int64_t b = 0; b < n / QK_K; b++) {
                const float dx = h2f(x[b].d), dminx = h2f(x[b].dmin);
                __m256i sm[2];
                k4_scales_mins(x[b].scales, sm);
                m_a = _mm_fmadd_ps(_mm_set1_ps(-ya[b].d * dminx),
                                   _mm_cvtepi32_ps(k4_min_prod(&ya[b], sm[1])), m_a);
                m_b = _mm_fmadd_ps(_mm_set1_ps(-yb[b].d * dminx),
                                   _mm_cvtepi32_ps(k4_min_prod(&yb[b], sm[1])), m_b);
                __m256i sa = _mm256_setzero_si256(), sb = sa;
                for (int p = 0; p < 4; p++) {
                    const __m256i bits = load256(x[b].qs + 32 * p);
                    const __m256i lo = _mm256_and_si256(bits, m4);
                    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
                    const __m256i sl = pick2(sm[0], 2 * p, 2 * p);
                    const __m256i sh = pick2(sm[0], 2 * p + 1, 2 * p + 1);
                    sa = _mm256_add_epi32(sa, _mm256_add_epi32(
                        _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(ya[b].qs + 64 * p)), sl),
                        _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(ya[b].qs + 64 * p + 32)), sh)));
                    sb = _mm256_add_epi32(sb, _mm256_add_epi32(
                        _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(yb[b].qs + 64 * p)), sl),
                        _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(yb[b].qs + 64 * p + 32)), sh)));
                }
                acc_a = _mm256_fmadd_ps(_mm256_set1_ps(ya[b].d * dx), _mm256_cvtepi32_ps(sa), acc_a);
                acc_b = _mm256_fmadd_ps(_mm256_set1_ps(yb[b].d * dx), _mm256_cvtepi32_ps(sb), acc_b);
            }
            m_a = _mm_add_ps(m_a, _mm_movehl_ps(m_a, m_a));
            m_a = _mm_add_ss(m_a, _mm_movehdup_ps(m_a));
            m_b = _mm_add_ps(m_b, _mm_movehl_ps(m_b, m_b));
            m_b = _mm_add_ss(m_b, _mm_movehdup_ps(m_b));
            out[(size_t)i * os + (size_t)j0] = hsum8(acc_a) + _mm_cvtss_f32(m_a);
            if (j0 + 1 < ny)
                out[(size_t)i * os + (size_t)j0 + 1] = hsum8(acc_b) + _mm_cvtss_f32(m_b);
        }
    }
}

static AVX2 float q5_K_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q5_K *x = vx;
    const struct block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = y[b].d * h2f(x[b].d);
        const float dmin = -y[b].d * h2f(x[b].dmin);
        __m256i sm[2]; /* [scales | scales], [mins | mins] as int16 */
        k4_scales_mins(x[b].scales, sm);
        const __m128i prod = k4_min_prod(&y[b], sm[1]);
        const __m128i s2 = _mm_add_epi32(prod, _mm_unpackhi_epi64(prod, prod));
        const int msum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
        summs = fmaf(dmin, (float)msum, summs);
        const __m256i qh = load256(x[b].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            const __m256i bits = load256(x[b].qs + 32 * p);
            const __m256i m0 = _mm256_set1_epi8((char)(1 << (2 * p)));
            const __m256i m1 = _mm256_set1_epi8((char)(2 << (2 * p)));
            const __m256i h0 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, m0), m0),
                                                _mm256_set1_epi8(16));
            const __m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, m1), m1),
                                                _mm256_set1_epi8(16));
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi8(0xF)), h0);
            const __m256i hi = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(bits, 4), _mm256_set1_epi8(0xF)), h1);
            const __m256i pl = _mm256_maddubs_epi16(lo, load256(y[b].qs + 64 * p));
            const __m256i ph = _mm256_maddubs_epi16(hi, load256(y[b].qs + 64 * p + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(
                _mm256_madd_epi16(pl, pick2(sm[0], 2 * p, 2 * p)),
                _mm256_madd_epi16(ph, pick2(sm[0], 2 * p + 1, 2 * p + 1))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc) + summs;
}

/* q6_K's -32 offset as llama.cpp's current x86 kernel takes it: 32 times the group sums
 * times the scales, lane m = groups 2m and 2m+1 (values 32m .. 32m + 31), subtracted from
 * the lanes of the unsigned products once per block. */
static inline AVX2 __m256i q6_K_offset(const int8_t scales[16], const struct block_q8_K *y)
{
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales));
    return _mm256_slli_epi32(_mm256_madd_epi16(load256(y->bsums), sc), 5);
}

/* The unsigned 6-bit levels (0..63) of half h of a q6_K block, chunks 4h .. 4h + 3. The
 * high bits' first two fields come from a table lookup on qh's low nibble and the third is
 * in place: 3 shifts, where a shift per field and its move up took 9, and Zen 1 has one
 * pipe for vector shifts. */
static inline AVX2 void q6_levels(const struct block_q6_K *x, int h, __m256i q[4])
{
    /* n -> (n & 3) << 4 and ((n >> 2) & 3) << 4 */
    static const int8_t field0[16] = { 0, 16, 32, 48, 0, 16, 32, 48, 0, 16, 32, 48, 0, 16, 32, 48 };
    static const int8_t field1[16] = { 0, 0, 0, 0, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 48 };
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    const __m256i l1 = load256(x->ql + 64 * h), l2 = load256(x->ql + 64 * h + 32);
    const __m256i hb = load256(x->qh + 32 * h), hlo = _mm256_and_si256(hb, m4);
    q[0] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_shuffle_epi8(table16(field0), hlo));
    q[1] = _mm256_or_si256(_mm256_and_si256(l2, m4), _mm256_shuffle_epi8(table16(field1), hlo));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(hb, m30));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
}

/* A block's 16 scales as int16, [0..7 | 0..7] and [8..15 | 8..15], for q6_chunk_scales. */
static inline AVX2 void q6_scales(const int8_t scales[16], __m256i sc[2])
{
    halves16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales)), sc);
}

/* Chunk c's two scales as int16: 2c over its first 16 values, 2c + 1 over the rest. One
 * shuffle once c is a constant (building them from the bytes took six instructions). */
static inline __attribute__((always_inline)) AVX2 __m256i q6_chunk_scales(const __m256i sc[2],
                                                                          int c)
{
    return pick2(sc[c / 4], 2 * (c % 4), 2 * (c % 4) + 1);
}

enum { Q6_PREFETCH = 1260 }; /* bytes ahead of the block in use: 6 blocks of 210 */

/* q6_K against RY (up to 4) y rows, each pair in ggml's q6_K order (RY = 1 is q6_K_dot):
 * a block's levels are made once for all RY. Four rows a block instead of two: one thread,
 * in cache, 8 y rows 37.5 -> 42.8 GB/s of weights times rows, 3 rows (two pairs, one
 * padded) 28 -> 39. */
static inline __attribute__((always_inline)) AVX2 void
q6_K_rows_y(int64_t n, const struct block_q6_K *x, const struct block_q8_K *const *y, int RY,
            float *out)
{
    __m256 acc[4];
    for (int j = 0; j < RY; j++)
        acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        __m256i s[4], scs[2];
        for (int j = 0; j < RY; j++)
            s[j] = _mm256_setzero_si256();
        q6_scales(x[b].scales, scs);
        prefetch_ahead(&x[b], Q6_PREFETCH, 4);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            q6_levels(&x[b], h, q);
#pragma GCC unroll 4
            for (int m = 0; m < 4; m++) {
                const int c = 4 * h + m;
                const __m256i sc = q6_chunk_scales(scs, c);
                /* the unsigned level q (0..63) times y; the -32 comes from the bsums below */
#pragma GCC unroll 4
                for (int j = 0; j < RY; j++)
                    s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(
                        _mm256_maddubs_epi16(q[m], load256(y[j][b].qs + 32 * c)), sc));
            }
        }
        const float xd = h2f(x[b].d);
#pragma GCC unroll 4
        for (int j = 0; j < RY; j++) {
            s[j] = _mm256_sub_epi32(s[j], q6_K_offset(x[b].scales, &y[j][b]));
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(y[j][b].d * xd), _mm256_cvtepi32_ps(s[j]),
                                     acc[j]);
        }
    }
    for (int j = 0; j < RY; j++)
        out[j] = hsum8(acc[j]);
}

static AVX2 float q6_K_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q8_K *y = vy;
    float out;
    q6_K_rows_y(n, vx, &y, 1, &out);
    return out;
}

static AVX2 void q6_K_tile(int64_t n, const void *vx, size_t xs, int nx, const void *const *y,
                           int ny, float *out, size_t os)
{
    const struct block_q8_K *const *yk = (const struct block_q8_K *const *)y;
    for (int i = 0; i < nx; i++) {
        const struct block_q6_K *x = (const struct block_q6_K *)((const uint8_t *)vx + (size_t)i * xs);
        float *o = out + (size_t)i * os;
        int j = 0;
        for (; j + 4 <= ny; j += 4)
            q6_K_rows_y(n, x, yk + j, 4, o + j);
        if (ny - j == 3)
            q6_K_rows_y(n, x, yk + j, 3, o + j);
        else if (ny - j == 2)
            q6_K_rows_y(n, x, yk + j, 2, o + j);
        else if (ny - j == 1)
            o[j] = q6_K_dot(n, x, y[j]);
    }
}

/* ------------------------------------------------------------------ f32, f16, bf16 */

static inline AVX2 __m256 load_f32(const float *p)
{
    return _mm256_loadu_ps(p);
}

static inline AVX2 __m256 load_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* ggml_vec_dot_f32/_f16 as built for AVX2 (the reference build): 4 accumulators of 8 lanes
 * over chunks of 32, reduced 0+2, 1+3, then 0+1, then the halves added and two horizontal
 * adds: (t0 + t1) + (t2 + t3). */
static inline AVX2 float hadd_reduce8(__m256 v)
{
    const __m128 t0 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t1 = _mm_hadd_ps(t0, t0);
    return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

#define VEC_DOT_32(LOAD, x, y, np, out)                                                  \
    do {                                                                                 \
        __m256 a[4];                                                                     \
        for (int k_ = 0; k_ < 4; k_++)                                                   \
            a[k_] = _mm256_setzero_ps();                                                 \
        for (int64_t i_ = 0; i_ < (np); i_ += 32)                                        \
            for (int k_ = 0; k_ < 4; k_++)                                               \
                a[k_] = _mm256_fmadd_ps(LOAD((x) + i_ + 8 * k_), LOAD((y) + i_ + 8 * k_), \
                                        a[k_]);                                          \
        a[0] = _mm256_add_ps(a[0], a[2]);                                                \
        a[1] = _mm256_add_ps(a[1], a[3]);                                                \
        (out) = hadd_reduce8(_mm256_add_ps(a[0], a[1]));                                 \
    } while (0)

static AVX2 float f32_dot(int64_t n, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    const int64_t np = n & ~(int64_t)31;
    float sum;
    VEC_DOT_32(load_f32, x, y, np, sum);
    for (int64_t i = np; i < n; i++)
        sum = fmaf(x[i], y[i], sum);
    return sum;
}

static AVX2 float f16_dot(int64_t n, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    const int64_t np = n & ~(int64_t)31;
    float red;
    VEC_DOT_32(load_f16, x, y, np, red);
    double sum = red;
    for (int64_t i = np; i < n; i++)
        sum += (double)(h2f(x[i]) * h2f(y[i]));
    return (float)sum;
}

/* f16_dot for nx rows against each y, for the AVX-512 path too (this f16_dot is its order).
 * The chunks of 64 as f16_dot; the tail's products (float, as f16_dot rounds them) go
 * through a buffer so that 4 rows' double sums advance in the lanes of one register, each
 * still in f16_dot's order: the attention's P.V rows have a tail of 32 every other 32
 * positions, and summing it row by row was most of the decode step's attention time. The
 * KV cache's rows are short and far apart (V^T rows n_ctx cells apart): no prefetcher
 * follows them, so the rows F16_AHEAD ahead are asked for. Measured on the laptop shape,
 * Q8_0, 2 threads: decode 99 -> 110 tok/s (median of 6 runs). */
enum { F16_AHEAD = 16 };
static AVX2 void f16_tile(int64_t n, const void *vx, size_t xs, int nx, const void *const *vy,
                          int ny, float *out, size_t out_stride)
{
    const int64_t np = n & ~(int64_t)31;
    const int tail = (int)(n - np);
    float red[4], prod[4][32];
    const __m128i lane = _mm_setr_epi32(0, 32, 64, 96);
    for (int r = 0; r < F16_AHEAD && r < nx; r++)
        for (int64_t b = 0; b < n * 2; b += 64)
            _mm_prefetch((const char *)vx + (size_t)r * xs + b, _MM_HINT_T0);
    for (int j = 0; j < ny; j++) {
        const uint16_t *y = vy[j];
        for (int r0 = 0; r0 < nx; r0 += 4) {
            const int R = nx - r0 < 4 ? nx - r0 : 4;
            for (int r = 0; r < R; r++) {
                const uint16_t *x = (const uint16_t *)((const uint8_t *)vx + (size_t)(r0 + r) * xs);
                if (r0 + r + F16_AHEAD < nx)
                    for (int64_t b = 0; b < n * 2; b += 64)
                        _mm_prefetch((const char *)x + F16_AHEAD * xs + b, _MM_HINT_T0);
                VEC_DOT_32(load_f16, x, y, np, red[r]);
                int i = 0;
                for (; i + 8 <= tail; i += 8)
                    _mm256_storeu_ps(prod[r] + i, _mm256_mul_ps(load_f16(x + np + i),
                                                                load_f16(y + np + i)));
                for (; i < tail; i++)
                    prod[r][i] = h2f(x[np + i]) * h2f(y[np + i]);
            }
            if (tail == 0) {
                for (int r = 0; r < R; r++)
                    out[(size_t)(r0 + r) * out_stride + (size_t)j] = red[r];
                continue;
            }
            for (int r = R; r < 4; r++) { /* lanes nobody reads, but defined */
                red[r] = 0.0f;
                for (int i = 0; i < tail; i++)
                    prod[r][i] = 0.0f;
            }
            __m256d sum = _mm256_cvtps_pd(_mm_loadu_ps(red));
            for (int i = 0; i < tail; i++)
                sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm_i32gather_ps(&prod[0][i], lane, 4)));
            float res[4];
            _mm_storeu_ps(res, _mm256_cvtpd_ps(sum));
            for (int r = 0; r < R; r++)
                out[(size_t)(r0 + r) * out_stride + (size_t)j] = res[r];
        }
    }
}

/* tinyBLAS (llama.cpp's dense f32/f16 matrix product, as built for AVX2): one 8-lane
 * accumulator over the whole row, then hsum8; rows not a multiple of 8 fall back. */
static AVX2 float f32_gemm_dot(int64_t n, const void *vx, const void *vy)
{
    if (n % 8)
        return f32_dot(n, vx, vy);
    const float *x = vx, *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        acc = _mm256_fmadd_ps(load_f32(x + i), load_f32(y + i), acc);
    return hsum8(acc);
}

static AVX2 float f16_gemm_dot(int64_t n, const void *vx, const void *vy)
{
    if (n % 8)
        return f16_dot(n, vx, vy);
    const uint16_t *x = vx, *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        acc = _mm256_fmadd_ps(load_f16(x + i), load_f16(y + i), acc);
    return hsum8(acc);
}

/* The gemm dots for nx rows against each y (kern_dot_rows_in's KERN_GEMM): eight rows'
 * chains side by side, each the one row's FMAs in order, y's step loaded once for all eight,
 * and the eight sums reduced together in hsum8's tree (hsum8x8). One chain is bound by the
 * FMA's latency; eight fill both FMA ports: the attention's Q.K and P.V in a prefill. */
#define GEMM_ROWS(name, T, LOAD, one)                                                        \
    static AVX2 int name(int64_t n, const void *vx, size_t xs, int nx, const void *const *y, \
                         int ny, float *out, size_t out_row, size_t out_col)                 \
    {                                                                                        \
        if (n % 8)                                                                           \
            return -1;                                                                       \
        const uint8_t *x = vx;                                                               \
        for (int j = 0; j < ny; j++) {                                                       \
            const T *yj = y[j];                                                              \
            int i = 0;                                                                       \
            for (; i + 8 <= nx; i += 8) {                                                    \
                const T *xr[8];                                                              \
                __m256 acc[8];                                                               \
                _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++) {                       \
                    xr[r] = (const T *)(x + (size_t)(i + r) * xs);                           \
                    acc[r] = _mm256_setzero_ps();                                            \
                }                                                                            \
                for (int64_t k = 0; k < n; k += 8) {                                         \
                    const __m256 vy = LOAD(yj + k);                                          \
                    _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++)                      \
                        acc[r] = _mm256_fmadd_ps(LOAD(xr[r] + k), vy, acc[r]);               \
                }                                                                            \
                float sums[8];                                                               \
                _mm256_storeu_ps(sums, hsum8x8(acc));                                        \
                for (int r = 0; r < 8; r++)                                                  \
                    out[(size_t)(i + r) * out_row + (size_t)j * out_col] = sums[r];          \
            }                                                                                \
            for (; i < nx; i++)                                                              \
                out[(size_t)i * out_row + (size_t)j * out_col] = one(n, x + (size_t)i * xs, yj); \
        }                                                                                    \
        return 0;                                                                            \
    }

GEMM_ROWS(f32_gemm_rows, float, load_f32, f32_gemm_dot)
GEMM_ROWS(f16_gemm_rows, uint16_t, load_f16, f16_gemm_dot)

static inline AVX2 __m256 load_bf16(const uint16_t *p)
{
    return _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* ggml_vec_dot_bf16 as built for AVX2 (the reference build has no AVX512_BF16): 4
 * accumulators of 8 lanes over chunks of 32 (the product and sum contracted to one FMA, as
 * gcc builds ggml's C++), reduced (0+2)+(1+3), then hsum8, the tail in double. */
static AVX2 float bf16_dot(int64_t n, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    __m256 c[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            c[k] = _mm256_fmadd_ps(load_bf16(x + i + 8 * k), load_bf16(y + i + 8 * k), c[k]);
    double sum = (double)hsum8(_mm256_add_ps(_mm256_add_ps(c[0], c[2]), _mm256_add_ps(c[1], c[3])));
    for (; i < n; i++)
        sum += (double)(quant_bf16_to_f32(x[i]) * quant_bf16_to_f32(y[i]));
    return (float)sum;
}

/* tinyBLAS bf16 as built for AVX2: one 8-lane FMA accumulator, then hsum8; rows not a
 * multiple of 8 fall back. */
static AVX2 float bf16_gemm_dot(int64_t n, const void *vx, const void *vy)
{
    if (n % 8)
        return bf16_dot(n, vx, vy);
    const uint16_t *x = vx, *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        acc = _mm256_fmadd_ps(load_bf16(x + i), load_bf16(y + i), acc);
    return hsum8(acc);
}

/* ------------------------------------------------------------------ activation quantizers */

/* Max |x| of 32 floats, as ggml's AVX2 quantize_row_q8_0 computes it. */
static inline AVX2 float absmax32(const float *x, __m256 v[4])
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 r = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* Rounds v[k] * id half to even and packs the 32 results into bytes in order. */
static inline AVX2 __m256i round_pack32(const __m256 v[4], float id, __m256i *sum)
{
    const __m256 mul = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], mul),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (sum)
        *sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    const __m256i a = _mm256_packs_epi32(q[0], q[1]), b = _mm256_packs_epi32(q[2], q[3]);
    return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b),
                                       _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static AVX2 void q8_0_quantize(const float *x, void *vy, int64_t n)
{
    struct block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        __m256 v[4];
        const float amax = absmax32(x, v);
        y[b].d = _cvtss_sh(amax / 127.0f, 0);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        _mm256_storeu_si256((__m256i *)y[b].qs, round_pack32(v, id, NULL));
    }
}

static AVX2 void q8_1_quantize(const float *x, void *vy, int64_t n)
{
    struct block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        __m256 v[4];
        __m256i sum;
        const float amax = absmax32(x, v);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        _mm256_storeu_si256((__m256i *)y[b].qs, round_pack32(v, id, &sum));
        y[b].d = _cvtss_sh(d, 0);
        y[b].s = _cvtss_sh(d * (float)hsum_i32_8(sum), 0);
    }
}

static AVX2 void q8_K_quantize(const float *x, void *vy, int64_t n)
{
    struct block_q8_K *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < QK_K; k += 8)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
        __m128 r = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        r = _mm_max_ps(r, _mm_movehl_ps(r, r));
        r = _mm_max_ss(r, _mm_movehdup_ps(r));
        const float amax = _mm_cvtss_f32(r);
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float max = 0.0f; /* the signed value of the first element with |x| == amax */
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        }
        const float iscale = -127.0f / max;
        for (int k = 0; k < QK_K; k += 32) {
            __m256 v[4];
            for (int t = 0; t < 4; t++)
                v[t] = _mm256_loadu_ps(x + k + 8 * t);
            __m256i q = round_pack32(v, iscale, NULL);
            q = _mm256_min_epi8(q, _mm256_set1_epi8(127));
            _mm256_storeu_si256((__m256i *)(y[b].qs + k), q);
            /* bsums: sums of 16 bytes, via pairs (int16) then a horizontal add */
            const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
                                                _mm256_set1_epi16(1));
            __m128i s = _mm_hadd_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
            s = _mm_hadd_epi32(s, s);
            y[b].bsums[k / 16] = (int16_t)_mm_cvtsi128_si32(s);
            y[b].bsums[k / 16 + 1] = (int16_t)_mm_extract_epi32(s, 1);
        }
        y[b].d = 1.0f / iscale;
    }
}

static AVX2 void f16_quantize(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = _cvtss_sh(x[i], 0);
}

void quant_avx2_fill(struct quant_kernels *k)
{
    k->vec_dot[GGML_TYPE_Q4_0] = q4_0_dot;
    k->tile[GGML_TYPE_Q4_0] = q4_0_tile;
    k->tile[GGML_TYPE_Q8_0] = q8_0_tile;
    k->rows[GGML_TYPE_Q8_0] = q8_0_rows;
    k->vec_dot[GGML_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[GGML_TYPE_Q5_0] = q5_0_dot;
    k->rows[GGML_TYPE_Q5_0] = q5_0_rows;
    k->vec_dot[GGML_TYPE_Q5_1] = q5_1_dot;
    k->vec_dot[GGML_TYPE_Q8_0] = q8_0_dot;
    k->vec_dot[GGML_TYPE_Q2_K] = q2_K_dot;
    k->vec_dot[GGML_TYPE_Q3_K] = q3_K_dot;
    k->vec_dot[GGML_TYPE_Q4_K] = q4_K_dot;
    k->tile[GGML_TYPE_Q4_K] = q4_K_tile;
    k->vec_dot[GGML_TYPE_Q5_K] = q5_K_dot;
    k->vec_dot[GGML_TYPE_Q6_K] = q6_K_dot;
    k->tile[GGML_TYPE_Q6_K] = q6_K_tile;
    k->vec_dot[GGML_TYPE_F32] = f32_dot;
    k->vec_dot[GGML_TYPE_F16] = f16_dot;
    k->tile[GGML_TYPE_F16] = f16_tile;
    k->vec_dot[GGML_TYPE_BF16] = bf16_dot;
    k->vec_dot_gemm[GGML_TYPE_F32] = f32_gemm_dot;
    k->vec_dot_gemm[GGML_TYPE_F16] = f16_gemm_dot;
    k->vec_dot_gemm[GGML_TYPE_BF16] = bf16_gemm_dot;
    k->rows_gemm[GGML_TYPE_F32] = f32_gemm_rows;
    k->rows_gemm[GGML_TYPE_F16] = f16_gemm_rows;
    k->from_float[GGML_TYPE_Q8_0] = q8_0_quantize;
    k->from_float[GGML_TYPE_Q8_1] = q8_1_quantize;
    k->from_float[GGML_TYPE_Q8_K] = q8_K_quantize;
    k->from_float[GGML_TYPE_F16] = f16_quantize;
}

#else

void quant_avx2_fill(struct quant_kernels *k)
{
    (void)k;
}

#endif
