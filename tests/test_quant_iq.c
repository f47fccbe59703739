/* tests/test_quant_iq.c: the table-coded 4-bit types mxfp4, iq4_nl and iq4_xs
 * (engine/simd/quant_iq*.c): hand-built blocks decoded from ggml's documented layout,
 * every SIMD path in llama.cpp's x86 order bit for bit (emulated here in plain C), and the
 * gpt-oss fixture's MXFP4 experts. Models whose blocks our own writer made (tools/synth
 * through engine/gguf/gguf_write.c) run on every path in tests/test_synth.c, and
 * tests/test_quant.c's generic checks (float64 dots, scalar against each path, tiles,
 * AVX-512 against AVX2, the NEON kernels through SIMDe against AVX2) take these types
 * through its weight type list. */
#include "test.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "cpu.h"
#include "gguf.h"
#include "quant.h"
#include "quant_blocks.h"
#include "seeded_data.h"

/* ---- ggml's documented layouts, decoded independently of engine/simd ---- */

/* E2M1 (OCP MX v1.0): sign, 2 exponent bits, 1 mantissa bit. */
static double e2m1_value(int code)
{
    static const double mag[8] = {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0};
    return (code & 8 ? -1.0 : 1.0) * mag[code & 7];
}

/* ggml-common.h's kvalues_iq4nl, the non-linear 4-bit grid. */
static const int iq4nl_grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                   1,    13,   25,  38,  53,  69,  89,  113};

/* Code of value v (0..31) of a 16-byte run: low nibbles are values 0..15. */
static int code_at(const uint8_t *qs, int v)
{
    return v < 16 ? qs[v] & 15 : qs[v - 16] >> 4;
}

/* Value v of a block of the type, in double, from the raw bytes. */
static double iq_ref_value(uint32_t type, const uint8_t *blk, int v)
{
    uint16_t h;
    switch (type) {
    case GGML_TYPE_MXFP4: /* e (E8M0), qs[16] */
        return e2m1_value(code_at(blk + 1, v)) * ldexp(1.0, blk[0] - 127);
    case GGML_TYPE_IQ4_NL: /* d (f16), qs[16] */
        memcpy(&h, blk, 2);
        return quant_f16_to_f32(h) * iq4nl_grid[code_at(blk + 2, v)];
    case GGML_TYPE_IQ4_XS: { /* d (f16), scales_h (u16), scales_l[4], qs[128] */
        uint16_t sh;
        memcpy(&h, blk, 2);
        memcpy(&sh, blk + 2, 2);
        const int g = v / 32;
        const int ls = ((blk[4 + g / 2] >> (4 * (g & 1))) & 15) | (((sh >> (2 * g)) & 3) << 4);
        return quant_f16_to_f32(h) * (ls - 32) * iq4nl_grid[code_at(blk + 8 + 16 * g, v % 32)];
    }
    }
    return NAN;
}

static const uint32_t iq_types[] = {GGML_TYPE_MXFP4, GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS};
enum { N_IQ = 3 };

/* Hand-built blocks, every code and the extreme scales, through to_float. */
TEST(quant_iq_known_blocks)
{
    uint8_t blk[136];
    float out[256];
    const struct quant_traits *t;
    /* mxfp4: exponents 0 and 1 (subnormal scales), 127 (1), 130 and 200 */
    static const uint8_t exps[] = {0, 1, 127, 130, 200};
    t = quant_traits_scalar(GGML_TYPE_MXFP4);
    CHECK(t && t->blck_size == 32 && t->type_size == 17 && t->vec_dot_type == GGML_TYPE_Q8_0);
    for (size_t i = 0; i < sizeof exps; i++) {
        blk[0] = exps[i];
        for (int j = 0; j < 16; j++)
            blk[1 + j] = (uint8_t)(j | ((15 - j) << 4));
        t->to_float(blk, out, 32);
        for (int v = 0; v < 32; v++)
            CHECK_MSG((double)out[v] == iq_ref_value(GGML_TYPE_MXFP4, blk, v),
                      "mxfp4 e=%d value %d: %g vs %g", exps[i], v, out[v],
                      iq_ref_value(GGML_TYPE_MXFP4, blk, v));
    }
    CHECK(out[7] == 6.0f * 0x1p73f && out[16] == -6.0f * 0x1p73f); /* e 200, codes 7, 15 */
    /* iq4_nl: d = 0.5, every code in both nibbles */
    t = quant_traits_scalar(GGML_TYPE_IQ4_NL);
    CHECK(t && t->blck_size == 32 && t->type_size == 18 && t->vec_dot_type == GGML_TYPE_Q8_0);
    const uint16_t half = quant_f32_to_f16(0.5f);
    memcpy(blk, &half, 2);
    for (int j = 0; j < 16; j++)
        blk[2 + j] = (uint8_t)(((j * 7) & 15) | (j << 4));
    t->to_float(blk, out, 32);
    for (int v = 0; v < 32; v++)
        CHECK_MSG((double)out[v] == iq_ref_value(GGML_TYPE_IQ4_NL, blk, v), "iq4_nl value %d", v);
    CHECK(out[16] == -63.5f && out[31] == 56.5f);
    /* iq4_xs: d = 0.25, scales 0, 1, 31, 32, 33, 47, 63, 17 (ls - 32 = -32 .. 31) */
    t = quant_traits_scalar(GGML_TYPE_IQ4_XS);
    CHECK(t && t->blck_size == 256 && t->type_size == 136 && t->vec_dot_type == GGML_TYPE_Q8_K);
    static const int ls[8] = {0, 1, 31, 32, 33, 47, 63, 17};
    const uint16_t quarter = quant_f32_to_f16(0.25f);
    memcpy(blk, &quarter, 2);
    uint16_t sh = 0;
    for (int g = 0; g < 8; g++) {
        sh |= (uint16_t)((ls[g] >> 4) << (2 * g));
        if (g % 2 == 0)
            blk[4 + g / 2] = (uint8_t)(ls[g] & 15);
        else
            blk[4 + g / 2] |= (uint8_t)((ls[g] & 15) << 4);
    }
    memcpy(blk + 2, &sh, 2);
    for (int j = 0; j < 128; j++)
        blk[8 + j] = (uint8_t)(j * 37 + 11);
    t->to_float(blk, out, 256);
    for (int v = 0; v < 256; v++)
        CHECK_MSG((double)out[v] == iq_ref_value(GGML_TYPE_IQ4_XS, blk, v), "iq4_xs value %d: %g vs %g",
                  v, out[v], iq_ref_value(GGML_TYPE_IQ4_XS, blk, v));
    for (int v = 96; v < 128; v++) /* scale 32 - 32 = 0 */
        CHECK(out[v] == 0.0f);
    CHECK_STR_EQ(quant_traits(GGML_TYPE_MXFP4)->name, "mxfp4");
    CHECK(quant_computable(GGML_TYPE_MXFP4) && quant_computable(GGML_TYPE_IQ4_NL) &&
          quant_computable(GGML_TYPE_IQ4_XS));
    /* the newest ggml types are known by name (so a file using them is refused naming
     * them) but not computed */
    static const struct {
        uint32_t id;
        const char *name;
        int64_t blck;
        size_t size;
    } named[] = {{40, "nvfp4", 64, 36}, {41, "q1_0", 128, 18}, {42, "q2_0", 64, 18}};
    for (int i = 0; i < 3; i++) {
        t = quant_traits(named[i].id);
        CHECK(t && !strcmp(t->name, named[i].name) && t->blck_size == named[i].blck &&
              t->type_size == named[i].size && !quant_computable(named[i].id));
    }
    CHECK(quant_traits(43) == NULL);
}

/* The quantizers give blocks whose values are near the source (Gaussian blocks of varying
 * scale): iq4 at 4.25-4.5 bits with a grid denser near 0 (as q4_0's 0.10), mxfp4's
 * power-of-two scale and coarse top levels (6 -> 4 is a step of a third) somewhat more. */
TEST(quant_iq_roundtrip_error)
{
    static const double bound[N_IQ] = {0.16, 0.10, 0.10};
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint8_t *q = malloc(N);
    fill_data(x, N, 42);
    for (int i = 0; i < N_IQ; i++) {
        const struct quant_traits *t = quant_traits_scalar(iq_types[i]);
        t->from_float(x, q, N);
        t->to_float(q, y, N);
        double se = 0, sx = 0;
        int off = 0;
        for (int v = 0; v < N; v++) {
            se += ((double)y[v] - x[v]) * ((double)y[v] - x[v]);
            sx += (double)x[v] * x[v];
            const uint8_t *blk = q + (v / t->blck_size) * t->type_size;
            off += (double)y[v] != iq_ref_value(iq_types[i], blk, (int)(v % t->blck_size));
        }
        printf("  %-6s rms error / rms %.5f (bound %.2f)\n", t->name, sqrt(se / sx), bound[i]);
        CHECK_MSG(sqrt(se / sx) <= bound[i], "%s: %g", t->name, sqrt(se / sx));
        CHECK_MSG(off == 0, "%s: %d values decode otherwise by the documented layout", t->name,
                  off);
    }
    free(x);
    free(y);
    free(q);
}

/* ---- llama.cpp's x86 order, emulated ---- */

static float emu_hsum8(const float l[8])
{
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* The level of value v of block b (integers, as the dot product multiplies them). */
static int emu_level(uint32_t type, const uint8_t *blk, int v)
{
    switch (type) {
    case GGML_TYPE_MXFP4:
        return (int)lrint(2.0 * e2m1_value(code_at(blk + 1, v)));
    case GGML_TYPE_IQ4_NL:
        return iq4nl_grid[code_at(blk + 2, v)];
    default: { /* iq4_xs, scale included */
        uint16_t sh;
        memcpy(&sh, blk + 2, 2);
        const int g = v / 32;
        const int ls = ((blk[4 + g / 2] >> (4 * (g & 1))) & 15) | (((sh >> (2 * g)) & 3) << 4);
        return (ls - 32) * iq4nl_grid[code_at(blk + 8 + 16 * g, v % 32)];
    }
    }
}

/* The float scale of a 32-value block times its q8_0 partner's. */
static float emu_scale(uint32_t type, const uint8_t *blk, const struct block_q8_0 *y)
{
    uint16_t h;
    memcpy(&h, blk, 2);
    const float xs = type == GGML_TYPE_MXFP4 ? (float)ldexp(1.0, blk[0] - 128)
                                             : quant_f16_to_f32(h);
    return quant_f16_to_f32(y->d) * xs;
}

/* order 0: ggml's vec_dot (even/odd accumulators, scalar tail); 1: repacked (one fmaf a
 * block); 2: tinyBLAS (one 8-lane accumulator). */
static float emu_dot32(uint32_t type, int order, int64_t n, const void *x, const void *y)
{
    const size_t ts = quant_traits_scalar(type)->type_size;
    const struct block_q8_0 *yb = y;
    float acc[2][8] = {{0}}, s = 0.0f;
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = (const uint8_t *)x + b * ts;
        int32_t lane[8] = {0};
        int isum = 0;
        for (int v = 0; v < 32; v++) {
            lane[v / 4 % 8] += emu_level(type, xb, v) * yb[b].qs[v];
            isum += emu_level(type, xb, v) * yb[b].qs[v];
        }
        const float d = emu_scale(type, xb, &yb[b]);
        if (order == 1) {
            s = fmaf((float)isum, d, s);
        } else if (order == 0 && b == nb - 1 && nb % 2) {
            float pair[8];
            for (int k = 0; k < 8; k++)
                pair[k] = acc[0][k] + acc[1][k];
            s = fmaf(d, (float)isum, emu_hsum8(pair));
        } else {
            float *a = acc[order == 0 ? b % 2 : 0];
            for (int k = 0; k < 8; k++)
                a[k] = fmaf(d, (float)lane[k], a[k]);
        }
    }
    if (order == 1 || (order == 0 && nb % 2))
        return s;
    float pair[8];
    for (int k = 0; k < 8; k++)
        pair[k] = acc[0][k] + acc[1][k];
    return emu_hsum8(pair);
}

static float emu_iq4_xs_dot(int64_t n, const void *x, const void *y)
{
    const struct block_q8_K *yb = y;
    float acc[8] = {0};
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *xb = (const uint8_t *)x + b * 136;
        int32_t lane[8] = {0};
        for (int v = 0; v < 256; v++)
            lane[v % 32 / 4] += emu_level(GGML_TYPE_IQ4_XS, xb, v) * yb[b].qs[v];
        uint16_t h;
        memcpy(&h, xb, 2);
        const float d = quant_f16_to_f32(h) * yb[b].d;
        for (int k = 0; k < 8; k++)
            acc[k] = fmaf(d, (float)lane[k], acc[k]);
    }
    return emu_hsum8(acc);
}

/* Every SIMD path gives llama.cpp's x86 order bit for bit: vec_dot (odd and even block
 * counts), the repacked order, and iq4_nl's dense order; the scalar path's repacked order
 * too (it is the same fused chain). A path that keeps the scalar kernels of a type (NEON
 * without dotprod) says so in quant_reference_order, and only its repacked order is held
 * to the reference there. */
TEST(quant_iq_simd_matches_reference_order)
{
    static const int sizes[] = {32, 64, 96, 256, 2880, 4096 + 32, 4096 + 256};
    enum { N = 4096 + 256 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *xq = malloc(N), *yq = malloc(N * 2);
    const int before = quant_simd();
    int checked = 0;
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        for (int i = 0; i < N_IQ; i++) {
            const struct quant_traits *t = quant_traits(iq_types[i]);
            /* the dense orders are x86's where the path has its own kernels */
            const bool dense = s != CPU_SIMD_SCALAR && quant_reference_order(iq_types[i]);
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                const int n = sizes[si];
                if (n % t->blck_size)
                    continue;
                fill_data(x, n, 2100 + (uint64_t)n + (uint64_t)i);
                fill_data(y, n, 2200 + (uint64_t)n);
                t->from_float(x, xq, n);
                quant_traits(t->vec_dot_type)->from_float(y, yq, n);
                float got[3], want[3];
                int k = 0;
                if (iq_types[i] == GGML_TYPE_IQ4_XS) {
                    got[k] = t->vec_dot(n, xq, yq), want[k++] = emu_iq4_xs_dot(n, xq, yq);
                } else {
                    got[k] = t->vec_dot_repack(n, xq, yq);
                    want[k++] = emu_dot32(iq_types[i], 1, n, xq, yq);
                    if (dense)
                        got[k] = t->vec_dot(n, xq, yq), want[k++] = emu_dot32(iq_types[i], 0, n, xq, yq);
                    if (dense && iq_types[i] == GGML_TYPE_IQ4_NL)
                        got[k] = t->vec_dot_gemm(n, xq, yq), want[k++] = emu_dot32(iq_types[i], 2, n, xq, yq);
                }
                if (!dense && iq_types[i] == GGML_TYPE_IQ4_XS)
                    continue; /* the scalar kernel is ggml's generic C order, checked below */
                for (int j = 0; j < k; j++) {
                    CHECK_MSG(memcmp(&got[j], &want[j], 4) == 0, "%s %s n=%d order %d: %.9g vs %.9g",
                              quant_simd_name(), t->name, n, j, got[j], want[j]);
                    checked++;
                }
            }
        }
    }
    printf("  %d results in the reference order\n", checked);
    CHECK(checked >= 20);
    quant_set_simd(before);
    free(x);
    free(y);
    free(xq);
    free(yq);
}

/* ggml's generic C order (the scalar path): integer block sums, then one rounded multiply
 * and add a block (iq4_xs: a group of 32), written here from ggml-cpu/quants.c's text. */
TEST(quant_iq_scalar_is_generic_order)
{
    enum { N = 4096 + 256 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *xq = malloc(N), *yq = malloc(N * 2);
    for (int i = 0; i < N_IQ; i++) {
        const struct quant_traits *t = quant_traits_scalar(iq_types[i]);
        fill_data(x, N, 2300 + (uint64_t)i);
        fill_data(y, N, 2400 + (uint64_t)i);
        t->from_float(x, xq, N);
        quant_traits_scalar(t->vec_dot_type)->from_float(y, yq, N);
        float want = 0.0f;
        if (iq_types[i] == GGML_TYPE_IQ4_XS) {
            const struct block_q8_K *yb = yq;
            for (int b = 0; b < N / 256; b++) {
                const uint8_t *xb = (const uint8_t *)xq + b * 136;
                uint16_t h;
                memcpy(&h, xb, 2);
                const float d4d8 = quant_f16_to_f32(h) * yb[b].d;
                for (int g = 0; g < 8; g++) {
                    int isum = 0, ls = 0;
                    for (int v = 32 * g; v < 32 * g + 32; v++) {
                        const int lv = emu_level(GGML_TYPE_IQ4_XS, xb, v);
                        const int raw = iq4nl_grid[code_at(xb + 8 + 16 * g, v % 32)];
                        isum += raw * yb[b].qs[v];
                        ls = raw ? lv / raw : ls;
                    }
                    const float prod = d4d8 * (float)ls * (float)isum;
                    want = want + prod;
                }
            }
        } else {
            const struct block_q8_0 *yb = yq;
            for (int b = 0; b < N / 32; b++) {
                const uint8_t *xb = (const uint8_t *)xq + b * t->type_size;
                int isum = 0;
                for (int v = 0; v < 32; v++)
                    isum += emu_level(iq_types[i], xb, v) * yb[b].qs[v];
                const float prod = emu_scale(iq_types[i], xb, &yb[b]) * (float)isum;
                want = want + prod;
            }
        }
        const float got = t->vec_dot(N, xq, yq);
        CHECK_MSG(memcmp(&got, &want, 4) == 0, "%s: %.9g vs %.9g", t->name, got, want);
    }
    free(x);
    free(y);
    free(xq);
    free(yq);
}

/* ---- the gpt-oss fixture's experts (written by llama.cpp's converter) ---- */

/* Every MXFP4 tensor of gpt-oss-small-mxfp4.gguf: to_float of each value equals the
 * documented layout's, and row dots against seeded activations equal float64 arithmetic
 * within 2e-6 of sum |x_i y_i| on every path. */
TEST(quant_iq_fixture_mxfp4)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/models-2026/gpt-oss-small-mxfp4.gguf", fx);
    struct gguf_file f;
    if (gguf_open(&f, path, err, sizeof err) != 0) {
        test_skip("%s", err);
        return;
    }
    const struct quant_traits *t = quant_traits_scalar(GGML_TYPE_MXFP4);
    long values = 0, dots = 0;
    const int before = quant_simd();
    for (uint64_t ti = 0; ti < f.n_tensors; ti++) {
        const struct gguf_tensor *g = &f.tensors[ti];
        if (g->type != GGML_TYPE_MXFP4)
            continue;
        const int64_t n = g->ne[0], rows = (int64_t)(g->nbytes / quant_row_size(g->type, n));
        float *row = malloc((size_t)n * sizeof *row), *a = malloc((size_t)n * sizeof *a);
        struct block_q8_0 *aq = malloc((size_t)n / 32 * sizeof *aq);
        for (int64_t r = 0; r < rows; r += 7) {
            const uint8_t *src = (const uint8_t *)g->data + r * quant_row_size(g->type, n);
            t->to_float(src, row, n);
            int bad = 0;
            double want = 0.0, asum = 0.0;
            fill_data(a, n, 2700 + (uint64_t)r);
            quant_traits_scalar(GGML_TYPE_Q8_0)->from_float(a, aq, n);
            for (int64_t v = 0; v < n; v++) {
                bad += (double)row[v] != iq_ref_value(GGML_TYPE_MXFP4, src + v / 32 * 17, (int)(v % 32));
                const double yv = quant_f16_to_f32(aq[v / 32].d) * aq[v / 32].qs[v % 32];
                want += row[v] * yv;
                asum += fabs(row[v] * yv);
            }
            CHECK_MSG(bad == 0, "%s row %lld: %d values off", g->name, (long long)r, bad);
            values += n;
            for (int s = 0; s < CPU_SIMD_COUNT; s++) {
                if (!quant_set_simd(s))
                    continue;
                const struct quant_traits *tp = quant_traits(GGML_TYPE_MXFP4);
                const double got[2] = {tp->vec_dot(n, src, aq), tp->vec_dot_repack(n, src, aq)};
                for (int o = 0; o < 2; o++)
                    CHECK_MSG(fabs(got[o] - want) <= 2e-6 * asum, "%s %s row %lld: %.9g vs %.9g",
                              quant_simd_name(), g->name, (long long)r, got[o], want);
                dots++;
            }
        }
        free(row);
        free(a);
        free(aq);
    }
    quant_set_simd(before);
    gguf_close(&f);
    printf("  mxfp4: %ld values decoded, %ld row dots checked\n", values, dots);
    CHECK(values > 10000 && dots > 100);
}
