/* engine/simd/kernels.h: the forward pass's matrix kernels: many weight rows against one or more
 * activation rows in one call.
 *
 * kern_dot_rows() computes, for i < nx and j < ny,
 *     out[i * out_row + j * out_col] = vec_dot(n, x + i * x_stride, y[j])
 * where vec_dot is quant_traits(type)->vec_dot of the active SIMD path, and every result is
 * equal to it bit for bit: the float steps (and so llama.cpp's summation order, forward.h)
 * are the row kernel's; only the work around them changes. With one y (decode) several
 * rows' chains of dependent FMAs overlap and their weights stream with prefetches; with
 * several y (prefill) a weight block is loaded once for all of them. Types without a kernel
 * here go through quant_dot_tile(). The y rows must be as quant's from_float writes them
 * (for q8_0: values in -127..127, never -128). */
#ifndef MOESCOPE_KERNELS_H
#define MOESCOPE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "quant.h"

enum { KERN_MAX_Y = 32 }; /* ny per call */

void kern_dot_rows(uint32_t type, int64_t n, const void *x, size_t x_stride, int nx,
                   const void *const *y, int ny, float *out, size_t out_row, size_t out_col);

/* The same in one of the orders llama.cpp sums in (quant.h): KERN_PLAIN is vec_dot (=
 * kern_dot_rows), KERN_REPACK vec_dot_repack (the repacked gemv), KERN_REPACK4
 * vec_dot_repack4 (the repacked gemm), KERN_GEMM vec_dot_gemm (tinyBLAS); every result
 * equals that function's bit for bit. */
enum kern_order { KERN_PLAIN, KERN_REPACK, KERN_REPACK4, KERN_GEMM };
/* The one-row function of order o for a type: vec_dot, vec_dot_repack, vec_dot_repack4 or
 * vec_dot_gemm (what kern_dot_rows_in's results equal). */
quant_vec_dot_fn kern_order_dot(const struct quant_traits *qt, enum kern_order o);
void kern_dot_rows_in(enum kern_order order, uint32_t type, int64_t n, const void *x,
                      size_t x_stride, int nx, const void *const *y, int ny, float *out,
                      size_t out_row, size_t out_col);

/* g[i] = silu(g[i]) * u[i] for i < n, equal bit for bit to forward.c's scalar definition
 * (ggml_vec_swiglu_f32 of the AVX2 build: ggml_v_expf lane for lane). Handles groups of 16.
 * Returns the count it did (a multiple of 16, or 0 when this path has no vector kernel);
 * the caller does the rest. */
int kern_swiglu16(float *g, const float *u, int n);
/* p[i] = ggml_v_expf(x[i] - sub) lane for lane (forward.c's fwd_vexpf) for the first
 * n & ~15 values; returns that count, or 0 when this path has no vector kernel. */
int kern_vexpf16(float *p, const float *x, float sub, int n);

#endif
