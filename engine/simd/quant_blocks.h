/* engine/simd/quant_blocks.h: the byte layout of every quantized block, as ggml stores it in GGUF.
 *
 * Each struct is one block; the comment gives the formula that turns it back into floats
 * and the bits per weight. Sizes are checked at compile time against ggml's. Also the
 * internal interface between quant.c (scalar reference, the type table) and the SIMD files
 * (quant_avx2.c, quant_avx512.c, quant_neon.c): nothing outside engine/quant*.c needs it,
 * except tools that write blocks by hand. */
#ifndef MOESCOPE_QUANT_BLOCKS_H
#define MOESCOPE_QUANT_BLOCKS_H

#include <stdint.h>
#include <string.h>

#include "quant.h"

enum { QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32, QK_K = 256,
       K_SCALE_SIZE = 12 };

typedef uint16_t quant_half; /* IEEE binary16 bits */

/* x = d * (q - 8), q in 0..15. qs[j] holds value j (low nibble) and j+16 (high nibble).
 * 4.5 bits per weight. */
struct block_q4_0 {
    quant_half d;
    uint8_t qs[QK4_0 / 2];
};
_Static_assert(sizeof(struct block_q4_0) == 2 + QK4_0 / 2, "q4_0 block");

/* x = d * q + m, q in 0..15, same nibble order as q4_0. 5 bits per weight. */
struct block_q4_1 {
    quant_half d;
    quant_half m;
    uint8_t qs[QK4_1 / 2];
};
_Static_assert(sizeof(struct block_q4_1) == 4 + QK4_1 / 2, "q4_1 block");

/* x = d * (q - 16), q in 0..31: low 4 bits in qs as q4_0, bit 4 of value j is bit j of the
 * little-endian uint32 qh. 5.5 bits per weight. */
struct block_q5_0 {
    quant_half d;
    uint8_t qh[4];
    uint8_t qs[QK5_0 / 2];
};
_Static_assert(sizeof(struct block_q5_0) == 2 + 4 + QK5_0 / 2, "q5_0 block");

/* x = d * q + m, q in 0..31, bits as q5_0. 6 bits per weight. */
struct block_q5_1 {
    quant_half d;
    quant_half m;
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
};
_Static_assert(sizeof(struct block_q5_1) == 4 + 4 + QK5_1 / 2, "q5_1 block");

/* x = d * q, q in -127..127. 8.5 bits per weight. */
struct block_q8_0 {
    quant_half d;
    int8_t qs[QK8_0];
};
_Static_assert(sizeof(struct block_q8_0) == 2 + QK8_0, "q8_0 block");

/* x = d * q; s = d * sum(q) rounded to half, so a q4_1/q5_1 dot can add m * s. 9 bits
 * per weight. Only used for activations. */
struct block_q8_1 {
    quant_half d;
    quant_half s;
    int8_t qs[QK8_1];
};
_Static_assert(sizeof(struct block_q8_1) == 4 + QK8_1, "q8_1 block");

/* Super-block of 16 groups of 16. scales[i]: low nibble the group's scale, high nibble its
 * min. x = d * (scales & 15) * q - dmin * (scales >> 4), q in 0..3 (2 bits in qs: byte l of
 * each 32-byte half holds 4 values, 32 apart). 2.625 bits per weight. */
struct block_q2_K {
    uint8_t scales[QK_K / 16];
    uint8_t qs[QK_K / 4];
    quant_half d;
    quant_half dmin;
};
_Static_assert(sizeof(struct block_q2_K) == 2 * 2 + QK_K / 16 + QK_K / 4, "q2_K block");

/* Super-block of 16 groups of 16, 6-bit signed scales (stored +32, packed in 12 bytes).
 * x = d * (scale - 32) * (q - (hmask bit ? 0 : 4)), q = 2 low bits from qs. 3.4375 bits per
 * weight. */
struct block_q3_K {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12];
    quant_half d;
};
_Static_assert(sizeof(struct block_q3_K) == 2 + QK_K / 4 + QK_K / 8 + 12, "q3_K block");

/* Super-block of 8 groups of 32; 6-bit scale and min per group packed in 12 bytes.
 * x = d * sc * q - dmin * m, q in 0..15. 4.5 bits per weight. */
struct block_q4_K {
    quant_half d;
    quant_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
};
_Static_assert(sizeof(struct block_q4_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2, "q4_K block");

/* As q4_K with a fifth bit per value in qh. x = d * sc * q - dmin * m, q in 0..31.
 * 5.5 bits per weight. */
struct block_q5_K {
    quant_half d;
    quant_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};
_Static_assert(sizeof(struct block_q5_K) == 2 * 2 + K_SCALE_SIZE + QK_K / 2 + QK_K / 8,
               "q5_K block");

/* Super-block of 16 groups of 16, 8-bit signed scales. x = d * scale * (q - 32), q in 0..63:
 * low 4 bits in ql, high 2 bits in qh. 6.5625 bits per weight. */
struct block_q6_K {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    quant_half d;
};
_Static_assert(sizeof(struct block_q6_K) == 2 + QK_K / 16 + 3 * QK_K / 4, "q6_K block");

/* Activations for the K-quants: x = d * q with a float d; bsums[i] = sum of qs[16i..16i+15]
 * so the mins of q2_K/q4_K/q5_K cost one multiply per group. 9.125 bits per weight. */
struct block_q8_K {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
};
_Static_assert(sizeof(struct block_q8_K) == 4 + QK_K + QK_K / 16 * 2, "q8_K block");

/* ---- 4-bit codes through a table of 16 levels (engine/simd/quant_iq.c) ---- */

enum { QK_MXFP4 = 32, QK4_NL = 32 };

/* OCP microscaling FP4: x = kvalues_mxfp4[code] * 2^(e - 128) (the table holds E2M1 values
 * doubled, so 2^(e-127) / 2), code in qs as q4_0's nibbles. 4.25 bits per weight. */
struct block_mxfp4 {
    uint8_t e; /* E8M0 exponent */
    uint8_t qs[QK_MXFP4 / 2];
};
_Static_assert(sizeof(struct block_mxfp4) == 1 + QK_MXFP4 / 2, "mxfp4 block");

/* x = d * kvalues_iq4nl[code], codes as q4_0's nibbles. 4.5 bits per weight. */
struct block_iq4_nl {
    quant_half d;
    uint8_t qs[QK4_NL / 2];
};
_Static_assert(sizeof(struct block_iq4_nl) == 2 + QK4_NL / 2, "iq4_nl block");

/* Super-block of 8 groups of 32, each with a 6-bit scale ls (low 4 bits: nibble g % 2 of
 * scales_l[g / 2]; high 2 bits: bits 2g..2g+1 of scales_h). x = d * (ls - 32) *
 * kvalues_iq4nl[code]; group g's codes are qs[16g..16g+15] as q4_0's nibbles.
 * 4.25 bits per weight. */
struct block_iq4_xs {
    quant_half d;
    uint16_t scales_h;
    uint8_t scales_l[QK_K / 64];
    uint8_t qs[QK_K / 2];
};
_Static_assert(sizeof(struct block_iq4_xs) == 2 + 2 + QK_K / 64 + QK_K / 2, "iq4_xs block");

/* The 16 levels of each (ggml-common.h's kvalues_iq4nl and kvalues_mxfp4). */
extern const int8_t quant_kvalues_iq4nl[16];
extern const int8_t quant_kvalues_mxfp4[16];

/* 2^(e - 128) exactly, as ggml_e8m0_to_fp32_half (subnormal for e < 2). */
static inline float quant_e8m0_half(uint8_t e)
{
    const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* The 6-bit scale of group g (0..7) of an iq4_xs block, minus 32. */
static inline int quant_iq4_xs_scale(const struct block_iq4_xs *b, int g)
{
    const int lo = (b->scales_l[g / 2] >> (4 * (g % 2))) & 0xF;
    const int hi = (b->scales_h >> (2 * g)) & 3;
    return (lo | (hi << 4)) - 32;
}

/* The signed value with the largest magnitude among n (the first one on a tie), which the
 * symmetric quantizers map to their extreme level. */
float quant_signed_absmax(const float *x, int n);

/* The scalar kernels of quant_iq.c, for the type table in quant.c. */
void quant_mxfp4_to_float(const void *src, float *dst, int64_t n);
void quant_mxfp4_from_float(const float *src, void *dst, int64_t n);
float quant_mxfp4_vec_dot(int64_t n, const void *x, const void *y);
float quant_mxfp4_vec_dot_repack(int64_t n, const void *x, const void *y);
void quant_iq4_nl_to_float(const void *src, float *dst, int64_t n);
void quant_iq4_nl_from_float(const float *src, void *dst, int64_t n);
float quant_iq4_nl_vec_dot(int64_t n, const void *x, const void *y);
float quant_iq4_nl_vec_dot_repack(int64_t n, const void *x, const void *y);
void quant_iq4_xs_to_float(const void *src, float *dst, int64_t n);
void quant_iq4_xs_from_float(const float *src, void *dst, int64_t n);
float quant_iq4_xs_vec_dot(int64_t n, const void *x, const void *y);

/* ---- internal: kernel sets, filled by each SIMD file ---- */

/* quant_dot_tile for one type (see quant.h). */
typedef void (*quant_tile_fn)(int64_t n, const void *x, size_t x_stride, int nx,
                              const void *const *y, int ny, float *out, size_t out_stride);

/* kern_dot_rows for one type (kernels.h): 0 when done, -1 when the shape is not one it
 * takes (kernels.c then goes through quant_dot_tile). */
typedef int (*quant_rows_fn)(int64_t n, const void *x, size_t x_stride, int nx,
                             const void *const *y, int ny, float *out, size_t out_row,
                             size_t out_col);

/* The kernels one instruction set provides; NULL entries keep the scalar one (or, for
 * rows, swiglu16 and vexpf16, kernels.c's generic way). */
struct quant_kernels {
    quant_vec_dot_fn vec_dot[GGML_TYPE_COUNT];
    quant_tile_fn tile[GGML_TYPE_COUNT];
    quant_vec_dot_fn vec_dot_gemm[GGML_TYPE_COUNT];
    quant_vec_dot_fn vec_dot_repack[GGML_TYPE_COUNT];
    quant_vec_dot_fn vec_dot_repack4[GGML_TYPE_COUNT];
    quant_from_float_fn from_float[GGML_TYPE_COUNT];
    quant_rows_fn rows[GGML_TYPE_COUNT];
    quant_rows_fn rows_repack[GGML_TYPE_COUNT];  /* kern_dot_rows_in(KERN_REPACK) */
    quant_rows_fn rows_repack4[GGML_TYPE_COUNT]; /* kern_dot_rows_in(KERN_REPACK4) */
    quant_rows_fn rows_gemm[GGML_TYPE_COUNT];    /* kern_dot_rows_in(KERN_GEMM) */
    int (*swiglu16)(float *g, const float *u, int n);            /* kern_swiglu16 */
    int (*vexpf16)(float *p, const float *x, float sub, int n);  /* kern_vexpf16 */
};

/* The active path's set (after quant_set_simd or the first use), for kernels.c. */
const struct quant_kernels *quant_kernels_active(void);

/* Each fills the entries it implements (compiled for its target with function attributes,
 * so calling them is only allowed after cpu.h says the machine has the features). */
void quant_avx2_fill(struct quant_kernels *k);
void quant_avx512_fill(struct quant_kernels *k);
void quant_neon_fill(struct quant_kernels *k, bool dotprod);
/* The repacked orders on AVX2 (repack_avx2.c), called right after quant_avx2_fill. */
void quant_repack_avx2_fill(struct quant_kernels *k);
/* The repacked order of mxfp4 and iq4_nl (repack_iq_x86.c), after quant_iq_avx2_fill and
 * after quant_iq_avx512_fill. */
void quant_repack_iq_avx2_fill(struct quant_kernels *k);
void quant_repack_iq_avx512_fill(struct quant_kernels *k);
/* q4_K's repacked orders with AVX-512 VNNI (repack_avx512.c), after quant_avx512_fill. */
void quant_repack_avx512_fill(struct quant_kernels *k);
/* kernels.h's swiglu16 and vexpf16 on AVX2 (vexpf_avx2.c). */
void quant_vexpf_avx2_fill(struct quant_kernels *k);
/* The same for the table-coded 4-bit types (quant_iq_avx2.c, quant_iq_avx512.c,
 * quant_iq_neon.c), called after the file-wide fills above. */
void quant_iq_avx2_fill(struct quant_kernels *k);
void quant_iq_avx512_fill(struct quant_kernels *k);
void quant_iq_neon_fill(struct quant_kernels *k, bool dotprod);

/* Unpacks the 6-bit scale and min of group j (0..7) of a q4_K/q5_K block. */
static inline void quant_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* All 8 scales (bytes 0..7 of out) and mins (bytes 8..15) of a q4_K/q5_K block at once,
 * with 32-bit masks; equal to quant_k4_scale_min for each group. */
static inline void quant_k4_unpack(const uint8_t s[K_SCALE_SIZE], uint32_t out[4])
{
    uint32_t u[3];
    memcpy(u, s, 12);
    const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    out[0] = u[0] & low6;
    out[1] = (u[2] & low4) | (((u[0] >> 6) & low2) << 4);
    out[2] = u[1] & low6;
    out[3] = ((u[2] >> 4) & low4) | (((u[1] >> 6) & low2) << 4);
}

#endif
