/* engine/simd/kernels_x86.c: AVX-512 (VL, BW, VNNI) kernels for kernels.h.
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
 *
 * Compiled with function target attributes: kernels.c calls these only on the AVX-512
 * path (quant_simd()), which cpu.c enables only on a CPU that has it. */
#include "kernels.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include "quant_blocks.h"

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
KX int kern_x86_q8_0_rows(int64_t n, const void *x, size_t x_stride, int nx,
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

KX int kern_x86_swiglu16(float *g, const float *u, int n)
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

KX int kern_x86_vexpf16(float *p, const float *x, float sub, int n)
{
    const int nv = n & ~15;
    const __m512 s = _mm512_set1_ps(sub);
    for (int i = 0; i < nv; i += 16)
        _mm512_storeu_ps(p + i, kx_vexpf(_mm512_sub_ps(_mm512_loadu_ps(x + i), s)));
    return nv;
}

#else

typedef int kernels_x86_unused; /* an empty translation unit is not ISO C */

#endif
