/* tests/test_kernels.c: engine/kernels.h against the kernels whose order it must keep.
 *
 * kern_dot_rows() must give, on every SIMD path this machine has, exactly (bit for bit) the
 * active path's vec_dot for every (row, y) pair, whatever the count of rows and of y rows
 * and whatever the output strides: the forward pass relies on it to keep llama.cpp's
 * rounding (test_fidelity). kern_dot_rows_in() the same against vec_dot_repack and
 * vec_dot_repack4 for the types llama.cpp repacks (its 8-row kernels and their remainders),
 * and against vec_dot_gemm (tinyBLAS) for F32, F16 and BF16. kern_swiglu16() must equal an independent scalar statement
 * of ggml_vec_swiglu_f32's vector lanes (ggml_v_expf, written out below from its
 * definition), over values that reach its overflow and underflow lanes. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"
#include "quant.h"
#include "quant_blocks.h"

static float tk_uniform(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xFFFFFF) / (float)0x1000000 * 2.0f - 1.0f;
}

/* kern_dot_rows_in(o) on every (nx <= 19, ny in nys) against ref, in two output layouts. */
static void tk_rows_against(uint32_t type, int simd, int ne0, enum kern_order o,
                            const int *nys, size_t n_nys, quant_vec_dot_fn ref,
                            const char *ref_name)
{
    enum { MAXR = 19, MAXY = 33 };
    const struct quant_traits *qt = quant_traits(type), *vt = quant_traits(qt->vec_dot_type);
    const size_t rs = quant_row_size(type, ne0), ys = quant_row_size(qt->vec_dot_type, ne0);
    uint8_t *w = malloc(rs * MAXR), *y = malloc(ys * MAXY);
    float *src = malloc(sizeof(float) * ne0), *out = malloc(sizeof(float) * MAXR * MAXY * 3);
    uint64_t seed = 42 + type;
    for (int i = 0; i < MAXR; i++) {
        for (int k = 0; k < ne0; k++)
            src[k] = tk_uniform(&seed) * (1.0f + (float)(i % 3));
        qt->from_float(src, w + (size_t)i * rs, ne0);
    }
    const void *yp[MAXY];
    for (int j = 0; j < MAXY; j++) {
        for (int k = 0; k < ne0; k++)
            src[k] = tk_uniform(&seed) * 3.0f;
        vt->from_float(src, y + (size_t)j * ys, ne0);
        yp[j] = y + (size_t)j * ys;
    }
    int bad = 0, total = 0;
    for (int nx = 1; nx <= MAXR; nx++)
        for (size_t q = 0; q < n_nys; q++) {
            const int ny = nys[q];
            for (int layout = 0; layout < 2; layout++) {
                /* layout 0: out[i * ny + j]; layout 1: out[j * 3 * nx + i] (y-major, gapped) */
                const size_t orow = layout ? 1 : (size_t)ny, ocol = layout ? 3 * (size_t)nx : 1;
                kern_dot_rows_in(o, type, ne0, w, rs, nx, yp, ny, out, orow, ocol);
                for (int i = 0; i < nx; i++)
                    for (int j = 0; j < ny; j++) {
                        const float want = ref(ne0, w + (size_t)i * rs, yp[j]);
                        const float got = out[(size_t)i * orow + (size_t)j * ocol];
                        total++;
                        if (memcmp(&want, &got, sizeof want) != 0 && bad++ < 3)
                            CHECK_MSG(false, "%s on %s, n %d: row %d of %d, y %d of %d: %.9g, "
                                      "%s %.9g", qt->name, cpu_simd_name(simd), ne0, i,
                                      nx, j, ny, got, ref_name, want);
                    }
            }
        }
    CHECK_MSG(bad == 0, "%s on %s, n %d: %d of %d products differ from %s", qt->name,
              cpu_simd_name(simd), ne0, bad, total, ref_name);
    free(w);
    free(y);
    free(src);
    free(out);
}

/* The same against the active path's one-row kernel of order o. */
static void tk_one_type(uint32_t type, int simd, int ne0, enum kern_order o)
{
    const struct quant_traits *qt = quant_traits(type);
    const int nys[] = { 1, 2, 3, 4, 5, 9, 32, 33 };
    const quant_vec_dot_fn ref = kern_order_dot(qt, o);
    static const char *const order_name[] = { "vec_dot", "vec_dot_repack", "vec_dot_repack4",
                                              "vec_dot_gemm" };
    tk_rows_against(type, simd, ne0, o, nys, sizeof nys / sizeof nys[0], ref, order_name[o]);
}

TEST(kernels_dot_rows_equal_vec_dot_on_every_path)
{
    const int before = quant_simd();
    const uint32_t types[] = { GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q5_0, GGML_TYPE_Q4_K,
                               GGML_TYPE_Q6_K, GGML_TYPE_F16, GGML_TYPE_F32 };
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
            tk_one_type(types[t], s, 512, KERN_PLAIN);
        /* DeepSeek-V2-Lite's expert down projections: rows of 1408 in q5_0 and q8_0 */
        tk_one_type(GGML_TYPE_Q5_0, s, 1408, KERN_PLAIN);
        tk_one_type(GGML_TYPE_Q8_0, s, 1408, KERN_PLAIN);
        /* the attention's F16 rows: head_dim long (64, 128) and KV lengths in steps of 32,
         * whose tails (n % 64) take a path of their own; and odd lengths */
        const int f16_lens[] = { 32, 64, 96, 128, 160, 17, 47, 113 };
        for (size_t q = 0; q < sizeof f16_lens / sizeof f16_lens[0]; q++)
            tk_one_type(GGML_TYPE_F16, s, f16_lens[q], KERN_PLAIN);
    }
    quant_set_simd(before);
}

TEST(kernels_dot_rows_in_repacked_orders_on_every_path)
{
    const int before = quant_simd();
    const uint32_t types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q4_K, GGML_TYPE_IQ4_NL,
                               GGML_TYPE_MXFP4 };
    const int lens[] = { 256, 1024, 2816 };
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
            for (size_t q = 0; q < sizeof lens / sizeof lens[0]; q++) {
                tk_one_type(types[t], s, lens[q], KERN_REPACK);
                tk_one_type(types[t], s, lens[q], KERN_REPACK4);
            }
    }
    quant_set_simd(before);
}

/* tinyBLAS's order (the attention's Q.K and P.V in a prefill, F32/F16 weights): eight rows'
 * chains side by side and their sums reduced together must give each row's vec_dot_gemm;
 * lengths of head sizes and KV lengths, and ones that are not a multiple of 8 (fall back). */
TEST(kernels_dot_rows_in_gemm_order_on_every_path)
{
    const int before = quant_simd();
    const uint32_t types[] = { GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_BF16 };
    const int lens[] = { 8, 64, 128, 256, 512, 17, 100 };
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
            for (size_t q = 0; q < sizeof lens / sizeof lens[0]; q++)
                tk_one_type(types[t], s, lens[q], KERN_GEMM);
    }
    quant_set_simd(before);
}

/* q4_K's multi-row kernels in both repacked orders (AVX2's lanes, AVX-512's VNNI lanes)
 * against the plain C statement of each order (quant.c, itself held to an independent loop
 * by test_quant's quant_q4_K_repack_orders), for every batch width up to 8 and a few more. */
TEST(kernels_q4_K_repack_rows_equal_the_scalar_order_on_every_path)
{
    const int before = quant_simd();
    const struct quant_traits *sc = quant_traits_scalar(GGML_TYPE_Q4_K);
    const int nys[] = { 1, 2, 3, 4, 5, 6, 7, 8, 12, 17 };
    const int lens[] = { 256, 512, 1024, 2816 };
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        for (size_t q = 0; q < sizeof lens / sizeof lens[0]; q++) {
            tk_rows_against(GGML_TYPE_Q4_K, s, lens[q], KERN_REPACK, nys,
                            sizeof nys / sizeof nys[0], sc->vec_dot_repack,
                            "scalar vec_dot_repack");
            tk_rows_against(GGML_TYPE_Q4_K, s, lens[q], KERN_REPACK4, nys,
                            sizeof nys / sizeof nys[0], sc->vec_dot_repack4,
                            "scalar vec_dot_repack4");
        }
    }
    quant_set_simd(before);
}

/* A random half: sign, exponents 2^-8..2^6 and now and then a subnormal, any mantissa. */
static quant_half tk_half(uint64_t *s)
{
    const uint32_t r = (uint32_t)(*s >> 33);
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    const uint32_t exp = r % 16 == 0 ? 0 : 7 + (r >> 4) % 15;
    return (quant_half)((r >> 20 & 1) << 15 | exp << 10 | (r >> 21 & 0x3FF));
}

/* mxfp4 and iq4_nl through kern_dot_rows_in in both repacked orders against their one-row
 * kernel vec_dot_repack, on random blocks: any code, any scale (mxfp4's E8M0 exponents
 * with the subnormal 0 and 1, iq4_nl's halves with subnormals), row counts that fill the eight lanes, leave a tail,
 * and stretch the decode's streams over many rows, every activation count from 1 to 9. */
TEST(kernels_iq4_repack_rows_equal_one_row_dot)
{
    enum { MAXR = 68, NY = 9 };
    const uint32_t types[] = { GGML_TYPE_MXFP4, GGML_TYPE_IQ4_NL };
    const int lens[] = { 32, 96, 2880 };
    const int nxs[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 24, 43, 68 };
    const int before = quant_simd();
    uint64_t seed = 1234;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t q = 0; q < sizeof lens / sizeof lens[0]; q++) {
            const int ne0 = lens[q], nb = ne0 / 32;
            const struct quant_traits *qt = quant_traits(types[t]);
            const size_t rs = quant_row_size(types[t], ne0);
            uint8_t *w = malloc(rs * MAXR);
            struct block_q8_0 *y = malloc(sizeof *y * (size_t)nb * NY);
            for (int i = 0; i < MAXR * nb; i++) {
                uint8_t *b = w + (size_t)i * qt->type_size;
                if (types[t] == GGML_TYPE_MXFP4) {
                    /* mostly 2^-8..2^8; now and then 0, 1 (subnormal) or 2 */
                    const int r = (int)(tk_uniform(&seed) * 40.0f + 40.0f); /* 0..79 */
                    b[0] = (uint8_t)(r < 6 ? r % 3 : 120 + r % 17);
                } else {
                    const quant_half d = tk_half(&seed);
                    memcpy(b, &d, sizeof d);
                }
                for (size_t k = qt->type_size - 16; k < qt->type_size; k++)
                    b[k] = (uint8_t)(tk_uniform(&seed) * 128.0f + 128.0f);
            }
            for (int i = 0; i < nb * NY; i++) {
                y[i].d = tk_half(&seed);
                for (int k = 0; k < 32; k++)
                    y[i].qs[k] = (int8_t)(tk_uniform(&seed) * 127.0f);
            }
            const void *yp[NY];
            for (int j = 0; j < NY; j++)
                yp[j] = y + (size_t)j * nb;
            for (int s = 0; s < CPU_SIMD_COUNT; s++) {
                if (!quant_set_simd(s))
                    continue;
                int bad = 0, total = 0;
                for (enum kern_order o = KERN_REPACK; o <= KERN_REPACK4; o++)
                    for (size_t a = 0; a < sizeof nxs / sizeof nxs[0]; a++)
                        for (int ny = 1; ny <= NY; ny++) {
                            const int nx = nxs[a];
                            float out[MAXR * NY];
                            kern_dot_rows_in(o, types[t], ne0, w, rs, nx, yp, ny, out,
                                             (size_t)ny, 1);
                            for (int i = 0; i < nx; i++)
                                for (int j = 0; j < ny; j++) {
                                    const float want =
                                        qt->vec_dot_repack(ne0, w + (size_t)i * rs, yp[j]);
                                    const float got = out[i * ny + j];
                                    total++;
                                    if (memcmp(&want, &got, sizeof want) != 0 && bad++ < 3)
                                        CHECK_MSG(false, "%s on %s, n %d, order %d: row %d of "
                                                  "%d, y %d of %d: %.9g, one row %.9g",
                                                  qt->name, cpu_simd_name(s), ne0, (int)o, i,
                                                  nx, j, ny, got, want);
                                }
                        }
                CHECK_MSG(bad == 0, "%s on %s, n %d: %d of %d products differ", qt->name,
                          cpu_simd_name(s), ne0, bad, total);
            }
            free(w);
            free(y);
        }
    quant_set_simd(before);
}

/* ggml_v_expf of the AVX2 build, one lane, from its definition (ggml-cpu vec.h): the same
 * constants and fused steps, k = 2^n from the bits of z and k + j * k; the lanes whose |n|
 * exceeds 126 scaled in two factors, and past 192 s1 * s1. */
static float tk_vexpf(float x)
{
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    uint32_t zb, e, g;
    memcpy(&zb, &z, 4);
    e = zb << 23;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                              fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, 0x1.ffffecp-1f * b);
    float k, s1, s2;
    const uint32_t kb = e + 0x3f800000u;
    memcpy(&k, &kb, 4);
    if (!(fabsf(n) > 126.0f))
        return fmaf(j, k, k);
    g = n <= 0.0f ? 0x82000000u : 0u;
    const uint32_t b1 = g + 0x7f000000u, b2 = e - g;
    memcpy(&s1, &b1, 4);
    memcpy(&s2, &b2, 4);
    return fabsf(n) > 192.0f ? s1 * s1 : fmaf(s2, j, s2) * s1;
}

TEST(kernels_swiglu16_equals_ggml_lanes)
{
    enum { N = 4096 + 7 };
    float *g = malloc(sizeof(float) * N), *g0 = malloc(sizeof(float) * N);
    float *u = malloc(sizeof(float) * N);
    uint64_t seed = 7;
    for (int i = 0; i < N; i++) {
        /* mostly ordinary activations, some reaching exp's overflow and subnormal range */
        const float scale = i % 64 == 0 ? 200.0f : i % 16 == 0 ? 90.0f : 8.0f;
        g0[i] = tk_uniform(&seed) * scale;
        u[i] = tk_uniform(&seed) * 4.0f;
    }
    const int before = quant_simd();
    int paths = 0;
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        memcpy(g, g0, sizeof(float) * N);
        const int done = kern_swiglu16(g, u, N);
        CHECK(done % 16 == 0 && done <= N);
        int bad = 0;
        for (int i = 0; i < done; i++) {
            const float want = (g0[i] / (1.0f + tk_vexpf(0.0f - g0[i]))) * u[i];
            if (memcmp(&want, &g[i], sizeof want) != 0 && bad++ < 3)
                CHECK_MSG(false, "%s: swiglu(%.9g, %.9g) = %.9g, ggml's lanes %.9g",
                          cpu_simd_name(s), g0[i], u[i], g[i], want);
        }
        for (int i = done; i < N; i++)
            CHECK(memcmp(&g[i], &g0[i], sizeof g[i]) == 0); /* the rest left to the caller */
        paths += done > 0;
    }
    quant_set_simd(before);
    /* AVX2 and AVX-512 have vector kernels (vexpf_avx2.c, quant_avx512.c) */
    CHECK(paths >= (int)cpu_supports(CPU_SIMD_AVX2) + (int)cpu_supports(CPU_SIMD_AVX512));
    free(g);
    free(g0);
    free(u);
}

/* softmax's exponentials: kern_vexpf16 against the same lanes, with the -inf of masked
 * cells and the max subtracted */
TEST(kernels_vexpf16_equals_ggml_lanes)
{
    enum { N = 1024 + 5 };
    float *x = malloc(sizeof(float) * N), *p = malloc(sizeof(float) * N);
    uint64_t seed = 11;
    for (int i = 0; i < N; i++)
        x[i] = i % 37 == 0 ? -INFINITY : tk_uniform(&seed) * (i % 8 == 0 ? 150.0f : 20.0f);
    const float sub = 3.25f;
    const int before = quant_simd();
    int paths = 0;
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        const int done = kern_vexpf16(p, x, sub, N);
        CHECK(done % 16 == 0 && done <= N);
        int bad = 0;
        for (int i = 0; i < done; i++) {
            const float want = tk_vexpf(x[i] - sub);
            if (memcmp(&want, &p[i], sizeof want) != 0 && bad++ < 3)
                CHECK_MSG(false, "%s: exp(%.9g - %g) = %.9g, ggml's lane %.9g",
                          cpu_simd_name(s), x[i], sub, p[i], want);
        }
        paths += done > 0;
    }
    quant_set_simd(before);
    /* AVX2 and AVX-512 have vector kernels (vexpf_avx2.c, quant_avx512.c) */
    CHECK(paths >= (int)cpu_supports(CPU_SIMD_AVX2) + (int)cpu_supports(CPU_SIMD_AVX512));
    free(x);
    free(p);
}
