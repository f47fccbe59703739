/* engine/simd/kernels.c: picks the kernel of kernels.h for the active SIMD path (quant.h). */
#include "kernels.h"

#include "quant.h"
#include "quant_blocks.h"

void kern_dot_rows(uint32_t type, int64_t n, const void *x, size_t x_stride, int nx,
                   const void *const *y, int ny, float *out, size_t out_row, size_t out_col)
{
    const quant_rows_fn rows = type < GGML_TYPE_COUNT ? quant_kernels_active()->rows[type] : NULL;
    if (rows && rows(n, x, x_stride, nx, y, ny, out, out_row, out_col) == 0)
        return;
    if (out_col == 1 || ny == 1) {
        quant_dot_tile(type, n, x, x_stride, nx, y, ny, out, out_row);
        return;
    }
    /* quant_dot_tile writes y's side by side: go through a small tile and scatter */
    enum { ROWS = 16 };
    float tile[ROWS * KERN_MAX_Y]; /* (ROWS, ny) */
    for (int i0 = 0; i0 < nx; i0 += ROWS) {
        const int m = nx - i0 < ROWS ? nx - i0 : ROWS;
        for (int j0 = 0; j0 < ny; j0 += KERN_MAX_Y) {
            const int c = ny - j0 < KERN_MAX_Y ? ny - j0 : KERN_MAX_Y;
            quant_dot_tile(type, n, (const uint8_t *)x + (size_t)i0 * x_stride, x_stride, m,
                           y + j0, c, tile, (size_t)c);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < c; j++)
                    out[(size_t)(i0 + i) * out_row + (size_t)(j0 + j) * out_col] =
                        tile[i * c + j];
        }
    }
}

quant_vec_dot_fn kern_order_dot(const struct quant_traits *qt, enum kern_order o)
{
    const quant_vec_dot_fn by_order[] = { qt->vec_dot, qt->vec_dot_repack, qt->vec_dot_repack4,
                                          qt->vec_dot_gemm };
    return by_order[o];
}

void kern_dot_rows_in(enum kern_order order, uint32_t type, int64_t n, const void *x,
                      size_t x_stride, int nx, const void *const *y, int ny, float *out,
                      size_t out_row, size_t out_col)
{
    if (order == KERN_PLAIN || type >= GGML_TYPE_COUNT) {
        kern_dot_rows(type, n, x, x_stride, nx, y, ny, out, out_row, out_col);
        return;
    }
    const struct quant_kernels *k = quant_kernels_active();
    const quant_rows_fn rows = order == KERN_REPACK    ? k->rows_repack[type]
                               : order == KERN_REPACK4 ? k->rows_repack4[type]
                                                       : k->rows_gemm[type];
    if (rows && rows(n, x, x_stride, nx, y, ny, out, out_row, out_col) == 0)
        return;
    const quant_vec_dot_fn dot = kern_order_dot(quant_traits(type), order);
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++)
            out[(size_t)i * out_row + (size_t)j * out_col] =
                dot(n, (const uint8_t *)x + (size_t)i * x_stride, y[j]);
}

int kern_vexpf16(float *p, const float *x, float sub, int n)
{
    const struct quant_kernels *k = quant_kernels_active();
    return k->vexpf16 ? k->vexpf16(p, x, sub, n) : 0;
}

int kern_swiglu16(float *g, const float *u, int n)
{
    const struct quant_kernels *k = quant_kernels_active();
    return k->swiglu16 ? k->swiglu16(g, u, n) : 0;
}
