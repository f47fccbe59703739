/* engine/simd/quant.h: tensor types as data.
 *
 * One row per ggml type in quant_traits(): its name, block size, bytes per block, how to
 * turn a block into floats, and how to take a dot product against activations that have
 * been quantized to the type's partner ("vec_dot") type, exactly as llama.cpp's CPU backend
 * does, so that our numbers round the same way as the reference's.
 *
 * Type ids are ggml's (they are what GGUF files store). A type whose row has no to_float is
 * known by name and size (so a file using it can be described) but cannot be computed. */
#ifndef MOESCOPE_QUANT_H
#define MOESCOPE_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_IQ2_XXS = 16,
    GGML_TYPE_IQ2_XS = 17,
    GGML_TYPE_IQ3_XXS = 18,
    GGML_TYPE_IQ1_S = 19,
    GGML_TYPE_IQ4_NL = 20,
    GGML_TYPE_IQ3_S = 21,
    GGML_TYPE_IQ2_S = 22,
    GGML_TYPE_IQ4_XS = 23,
    GGML_TYPE_I8 = 24,
    GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27,
    GGML_TYPE_F64 = 28,
    GGML_TYPE_IQ1_M = 29,
    GGML_TYPE_BF16 = 30,
    GGML_TYPE_TQ1_0 = 34,
    GGML_TYPE_TQ2_0 = 35,
    GGML_TYPE_MXFP4 = 39,
    GGML_TYPE_NVFP4 = 40,
    GGML_TYPE_Q1_0 = 41,
    GGML_TYPE_Q2_0 = 42,
    GGML_TYPE_COUNT = 43,
};

/* Converts n values (a multiple of blck_size) from blocks to floats. */
typedef void (*quant_to_float_fn)(const void *src, float *dst, int64_t n);
/* Quantizes n floats (a multiple of blck_size) into blocks of this type. */
typedef void (*quant_from_float_fn)(const float *src, void *dst, int64_t n);
/* Dot product of n values: x is a row of this type, y is the same length already quantized
 * to vec_dot_type. */
typedef float (*quant_vec_dot_fn)(int64_t n, const void *x, const void *y);

struct quant_traits {
    const char *name;          /* "q4_K", as ggml spells it; NULL for an unused id */
    int64_t blck_size;         /* values per block */
    size_t type_size;          /* bytes per block */
    bool is_quantized;
    quant_to_float_fn to_float;      /* NULL: known but not computable */
    quant_from_float_fn from_float;  /* NULL where the type is never a target */
    quant_vec_dot_fn vec_dot;        /* NULL: not computable */
    enum ggml_type vec_dot_type;     /* the partner type y must be quantized to */
    /* The same product summed in the order of llama.cpp's dense matrix multiply (llamafile
     * tinyBLAS, used for 2-D weights: attention, router, shared expert); vec_dot is the
     * order of its per-row kernels, used for the 3-D expert tensors. They differ only for
     * f32, f16, bf16 and iq4_nl, and only in the last bits. */
    quant_vec_dot_fn vec_dot_gemm;
    /* The orders of llama.cpp's kernels for repacked weights (ggml-cpu/repack.cpp: on x86
     * with AVX2, q4_0, q4_K, iq4_nl and mxfp4 matrices whose row count is a multiple of 8,
     * interleaved by 8 rows, 2-D weights and expert tensors alike): integer sums turned
     * into floats and fused-multiply-added with the scale products, one accumulator per
     * output row (q4_K: a second one for the mins, subtracted at the end). vec_dot_repack
     * is the gemv's (one activation row; every expert product), vec_dot_repack4 the gemm's
     * (activation rows four at a time): q4_0, iq4_nl and mxfp4 take one step per block in
     * both, q4_K one per super-block in the gemv and one per 64 values in the gemm. NULL for
     * the types it does not repack. */
    quant_vec_dot_fn vec_dot_repack;
    quant_vec_dot_fn vec_dot_repack4;
};

/* The row for a type id, or NULL when the id is not a ggml type at all. */
const struct quant_traits *quant_traits(uint32_t type);
/* True when weights of this type can be used by the forward pass. */
bool quant_computable(uint32_t type);
/* Bytes a row of n values takes (n must be a multiple of blck_size). */
size_t quant_row_size(uint32_t type, int64_t n);

/* A tile of dot products computed together, each bit for bit equal to the type's vec_dot:
 *   out[i * out_stride + j] = vec_dot(n, x + i * x_stride, y[j])   for i < nx, j < ny
 * x: nx rows of a computable type, x_stride bytes apart; y: ny rows in its vec_dot_type.
 * With several y (prefill) a weight row is decoded once for several of them (q4_K on AVX2
 * and AVX-512, q6_K on AVX-512: 1.3 to 1.6 times faster); otherwise it loops over vec_dot. */
void quant_dot_tile(uint32_t type, int64_t n, const void *x, size_t x_stride, int nx,
                    const void *const *y, int ny, float *out, size_t out_stride);

/* SIMD paths (enum cpu_simd in cpu.h). The table above holds the kernels of one path,
 * chosen at the first call: the best this CPU has, or the one MOESCOPE_SIMD names
 * (scalar|avx2|avx512|neon). quant_set_simd switches path (for tests and bench; not while
 * other threads use the table) and returns false when the CPU cannot run it.
 * The SIMD paths give one result, bit for bit, whichever runs: the float order of
 * llama.cpp's x86 build, which recorded the fixtures (except bf16: NEON keeps the scalar
 * kernel, and VDPBF16PS flushes subnormal inputs). The scalar path is ggml's plain C
 * order; it agrees with them within 2e-6 of sum |x_i * y_i| (tests/test_quant.c). */
bool quant_set_simd(int simd);
int quant_simd(void);
/* True when the active path's kernels for this type sum in llama.cpp's x86 order, the one
 * the reference fixtures were recorded with: every type on AVX2 and AVX-512; on NEON the
 * types quant_neon.c has kernels for (not bf16, whose NEON kernel is the scalar one); none
 * on the scalar path. */
bool quant_reference_order(uint32_t type);
const char *quant_simd_name(void);
/* The plain C row of a type, whatever path is active: the reference tests compare with. */
const struct quant_traits *quant_traits_scalar(uint32_t type);

/* Half and bfloat16 conversions, with ggml's rounding (round to nearest even). */
float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

#endif
