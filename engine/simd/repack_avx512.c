/* engine/simd/repack_avx512.c: q4_K's repacked orders (quant.h's vec_dot_repack and
 * vec_dot_repack4) for many rows at once with AVX-512 VNNI: kern_dot_rows_in's KERN_REPACK
 * and KERN_REPACK4 on the AVX-512 path.
 *
 * The lanes are repack_avx2.c's (lane j: weight row j / L against activation row j % L,
 * eight float accumulators, one fused multiply-add per step of `per` groups of 32), with
 * the integer work on 512-bit registers: a pair of groups (64 values, one load of the
 * activations) is one vpmaddubsw and one vpdpwssd with the two groups' scales, which adds
 * scale times products into int32 lanes. Integer sums are exact in any order, so every
 * lane's step sums, and with them its chain of FMAs, are the single row's bit for bit.
 * Compiled with function target attributes: quant.c calls the fill only on the AVX-512
 * path (cpu.h: F/BW/VL/DQ + VNNI). */
#include "quant_blocks.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "x86_hsum.h"
#include "avx2_blocks.h"
#include "avx512_blocks.h"

enum { VNNI_PREFETCH = 512 }; /* bytes ahead of each row's stream */

/* nr <= 8 / L weight rows (xs bytes apart; the missing ones repeat the last) against
 * ny <= L activation rows (the missing ones repeat y[0]); only real pairs are stored. */
static inline __attribute__((always_inline)) AVX512 void
q4_K_vnni_lanes(int64_t n, const uint8_t *x, size_t xs, int nr, int L, const void *const *y,
                int ny, float *out, size_t out_row, size_t out_col, int per)
{
    const int R = 8 / L;
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QK_K; b++) {
        const struct block_q4_K *xb[8];
        const struct block_q8_K *yb[8];
        __m512i s16[8]; /* row r's 8 scales as int16, for pick16 */
        __m256i m16[8]; /* row r's 8 mins as int16 */
        int32_t dd[8]; /* row r's d and dmin (two halves) */
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            xb[r] = (const struct block_q4_K *)(x + (size_t)(r < nr ? r : nr - 1) * xs) + b;
            for (int c = 0; c < 3; c++) /* a block is 144 bytes: three lines */
                _mm_prefetch((const char *)xb[r] + VNNI_PREFETCH + 64 * c, _MM_HINT_T0);
            const __m256i sm = _mm256_cvtepu8_epi16(k4_unpack(xb[r]->scales));
            s16[r] = _mm512_castsi256_si512(sm);
            const __m128i mn = _mm256_extracti128_si256(sm, 1);
            /* per 8: each min twice, against the block's 16 bsums; per 2: k4_min_prod's */
            m16[r] = per == 8 ? _mm256_set_m128i(_mm_unpackhi_epi16(mn, mn), _mm_unpacklo_epi16(mn, mn))
                              : _mm256_castsi128_si256(mn);
            memcpy(&dd[r], &xb[r]->d, 4);
        }
        FOR_LANES(j) yb[j] = (const struct block_q8_K *)y[j % L < ny ? j % L : 0] + b;
        /* the lanes' scales built in registers (vectors stored lane by lane and loaded
         * whole stall on store forwarding): lane j's x halves are elements 2 (j / L) and
         * 2 (j / L) + 1 of xh */
        const __m512 xh = _mm512_cvtph_ps(_mm256_set_epi32(dd[7 % R], dd[6 % R], dd[5 % R],
                                                           dd[4 % R], dd[3 % R], dd[2 % R],
                                                           dd[1 % R], dd[0]));
        const __m512i lane_row = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 7 / L, 6 / L, 5 / L,
                                                  4 / L, 3 / L, 2 / L, 1 / L, 0);
        const __m512i id = _mm512_add_epi32(lane_row, lane_row);
        const __m256 xd = _mm512_castps512_ps256(_mm512_permutexvar_ps(id, xh));
        const __m256 xdmin = _mm512_castps512_ps256(
            _mm512_permutexvar_ps(_mm512_add_epi32(id, _mm512_set1_epi32(1)), xh));
        const __m256 vyd = _mm256_set_ps(yb[7]->d, yb[6]->d, yb[5]->d, yb[4]->d, yb[3]->d,
                                         yb[2]->d, yb[1]->d, yb[0]->d);
        const __m256 d = _mm256_mul_ps(xd, vyd);
        const __m256 dmin = _mm256_mul_ps(xdmin, vyd);
        /* the mins times the group sums: mins[p] lane j = pair p's share of lane j (per 2);
         * per 8 only the block's total, in mins[0] (each lane's eight products summed in
         * sum8x8 with the other lanes', no transpose) */
        __m256i mins[4];
        if (per == 8) {
            __m256i mq[8];
            FOR_LANES(j) mq[j] = _mm256_madd_epi16(load256(yb[j]->bsums), m16[j / L]);
            mins[0] = sum8x8(mq);
        } else {
            __m128i mp[8];
            FOR_LANES(j) mp[j] = k4_min_prod(yb[j], m16[j / L]);
            transpose8x4(mp, mins);
        }
        const int pairs = per / 2; /* pairs of groups of 32 per step */
        _Pragma("GCC unroll 4") for (int p0 = 0; p0 < 4; p0 += pairs) {
            __m512i sums[8];
            __m256i imin = mins[p0];
            FOR_LANES(j) sums[j] = _mm512_setzero_si512();
            _Pragma("GCC unroll 4") for (int p = p0; p < p0 + pairs; p++) {
                if (p > p0 && per != 8)
                    imin = _mm256_add_epi32(imin, mins[p]);
                __m512i q = _mm512_setzero_si512(), sc = q; /* row j / L's pair p */
                FOR_LANES(j) {
                    if (j % L == 0) {
                        q = k4_chunks(xb[j / L]->qs + 32 * p);
                        sc = pick16(s16[j / L], k4_idx[p]);
                    }
                    const __m512i pr = _mm512_maddubs_epi16(q, load512(yb[j]->qs + 64 * p));
                    sums[j] = _mm512_dpwssd_epi32(sums[j], pr, sc);
                }
            }
            __m256i s8[8];
            FOR_LANES(j) s8[j] = fold16(sums[j]);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum8x8(s8)), d, acc);
            acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(imin), dmin, acc_min);
        }
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_sub_ps(acc, acc_min));
    for (int j = 0; j < 8; j++)
        if (j / L < nr && j % L < ny)
            out[(size_t)(j / L) * out_row + (size_t)(j % L) * out_col] = t[j];
}

/* All nx rows against all ny activation rows in tiles of R = 8 / L rows by L activation
 * rows. The R rows of a tile come from R separate stretches of the matrix (nx / R rows
 * apart), each prefetched ahead: R sequential streams. From memory (64-row calls, 1
 * thread, loaded machine) that took ny 2 from 7.2-10 to 5.9-7.1 ns per row and 256
 * values, ny 4 from 7.9-12.6 to 3.5-4.2, against the R neighbouring rows of a tile
 * before; ny 1 too noisy to tell (7-18 both). The rows left over go together at the end. */
static inline __attribute__((always_inline)) AVX512 void
q4_K_vnni_tiles(int64_t n, const uint8_t *x, size_t xs, int nx, int L, const void *const *y,
                int ny, float *out, size_t out_row, size_t out_col, int per)
{
    const int R = 8 / L, q = nx / R;
    for (int i = 0; i < q; i++)
        for (int j = 0; j < ny; j += L)
            q4_K_vnni_lanes(n, x + (size_t)i * xs, (size_t)q * xs, R, L, y + j,
                            ny - j < L ? ny - j : L, out + (size_t)i * out_row + (size_t)j * out_col,
                            (size_t)q * out_row, out_col, per);
    for (int i = q * R; i < nx; i += R)
        for (int j = 0; j < ny; j += L)
            q4_K_vnni_lanes(n, x + (size_t)i * xs, xs, nx - i < R ? nx - i : R, L, y + j,
                            ny - j < L ? ny - j : L, out + (size_t)i * out_row + (size_t)j * out_col,
                            out_row, out_col, per);
}

/* The activation rows per tile: as many as there are, up to 8 (then 8 at a time). */
static inline __attribute__((always_inline)) AVX512 int
q4_K_vnni_rows(int64_t n, const void *x, size_t xs, int nx, const void *const *y, int ny,
               float *out, size_t out_row, size_t out_col, int per)
{
    if (ny == 1)
        q4_K_vnni_tiles(n, x, xs, nx, 1, y, ny, out, out_row, out_col, per);
    else if (ny == 2)
        q4_K_vnni_tiles(n, x, xs, nx, 2, y, ny, out, out_row, out_col, per);
    else if (ny <= 4)
        q4_K_vnni_tiles(n, x, xs, nx, 4, y, ny, out, out_row, out_col, per);
    else
        q4_K_vnni_tiles(n, x, xs, nx, 8, y, ny, out, out_row, out_col, per);
    return 0;
}

static AVX512 int q4_K_repack_rows(int64_t n, const void *x, size_t xs, int nx,
                                   const void *const *y, int ny, float *out, size_t out_row,
                                   size_t out_col)
{
    return q4_K_vnni_rows(n, x, xs, nx, y, ny, out, out_row, out_col, 8);
}

static AVX512 int q4_K_repack4_rows(int64_t n, const void *x, size_t xs, int nx,
                                    const void *const *y, int ny, float *out, size_t out_row,
                                    size_t out_col)
{
    return q4_K_vnni_rows(n, x, xs, nx, y, ny, out, out_row, out_col, 2);
}

void quant_repack_avx512_fill(struct quant_kernels *k)
{
    k->rows_repack[GGML_TYPE_Q4_K] = q4_K_repack_rows;
    k->rows_repack4[GGML_TYPE_Q4_K] = q4_K_repack4_rows;
}

#else

void quant_repack_avx512_fill(struct quant_kernels *k)
{
    (void)k;
}

#endif
