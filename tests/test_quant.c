/* tests/test_quant.c: tensor types (engine/quant.c) against independent float64 arithmetic,
 * hand-built blocks with known values, and the SIMD paths against the scalar reference. */
#include "test.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cpu.h"
#include "quant.h"
#include "quant_blocks.h"
#include "seeded_data.h"

/* Types that hold weights the forward pass multiplies. */
static const uint32_t weight_types[] = {
    GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0,
    GGML_TYPE_Q4_1, GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
    GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_MXFP4, GGML_TYPE_IQ4_NL,
    GGML_TYPE_IQ4_XS,
};
enum { N_WEIGHT_TYPES = sizeof weight_types / sizeof weight_types[0] };

/* ---- half and bfloat16 ---- */

/* Value of a binary16 pattern computed in double from the IEEE definition. */
static double half_value(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return sign ? -v : v;
}

TEST(quant_f16_to_f32_all_patterns)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = quant_f16_to_f32((uint16_t)h);
        int e = (h >> 10) & 31;
        if (e == 31) {
            bool nan = (h & 1023) != 0;
            bad += nan ? !isnan(f) : !(isinf(f) && (signbit(f) != 0) == ((h >> 15) != 0));
        } else {
            bad += (double)f != half_value((uint16_t)h) || (signbit(f) != 0) != ((h >> 15) != 0);
        }
    }
    CHECK_INT_EQ(bad, 0);
}

/* True when h is a nearest binary16 to f, and the even one on a tie. */
static bool half_is_nearest(float f, uint16_t h)
{
    double v = (double)f, got = half_value(h);
    if (fabs(v) >= 65520.0)
        return (h & 0x7FFF) == 0x7C00;
    uint16_t mag = h & 0x7FFF;
    double err = fabs(v - got);
    double up = mag < 0x7BFF ? fabs(v - (got < 0 ? -half_value(mag + 1) : half_value(mag + 1)))
                             : INFINITY;
    double down = mag > 0 ? fabs(v - (got < 0 ? -half_value(mag - 1) : half_value(mag - 1)))
                          : INFINITY;
    if (err > up || err > down)
        return false;
    if (err == up || err == down)
        return (mag & 1) == 0;
    return true;
}

TEST(quant_f32_to_f16_round_nearest_even)
{
    rng_state = 7;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        /* random bit patterns over the half range, plus exact ties (13 low bits 0x1000) */
        uint32_t u = (uint32_t)rng_next();
        u = (u & 0x80000000) | (0x33000000 + (u & 0x7FFFFFFF) % (0x47800000 - 0x33000000));
        if (i % 4 == 0)
            u = (u & ~0x1FFFu) | 0x1000;
        float f;
        memcpy(&f, &u, 4);
        uint16_t h = quant_f32_to_f16(f);
        if (!half_is_nearest(f, h)) {
            if (bad++ < 5)
                printf("  f16(%a) = 0x%04x\n", (double)f, h);
        }
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(quant_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_INT_EQ(quant_f32_to_f16(65519.996f), 0x7BFF);
    CHECK_INT_EQ(quant_f32_to_f16(65520.0f), 0x7C00);
    CHECK_INT_EQ(quant_f32_to_f16(-INFINITY), 0xFC00);
    CHECK_INT_EQ(quant_f32_to_f16(0x1p-24f), 0x0001);
    CHECK_INT_EQ(quant_f32_to_f16(0x1p-25f), 0x0000);         /* tie to even: 0 */
    CHECK_INT_EQ(quant_f32_to_f16(0x1.8p-24f), 0x0002);       /* tie to even: 2 */
    CHECK_INT_EQ(quant_f32_to_f16(-0.0f), 0x8000);
    CHECK_INT_EQ(quant_f32_to_f16(1.0f + 0x1p-11f), 0x3C00); /* tie to even */
    CHECK_INT_EQ(quant_f32_to_f16(1.0f + 0x1.8p-10f), 0x3C02);
    uint16_t hn = quant_f32_to_f16(NAN);
    CHECK((hn & 0x7C00) == 0x7C00 && (hn & 0x200));
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static int f16_hardware_mismatches(void)
{
    int bad = 0;
    rng_state = 11;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)rng_next();
        float f;
        memcpy(&f, &u, 4);
        uint16_t hw = _cvtss_sh(f, 0);
        bad += hw != quant_f32_to_f16(f);
    }
    for (uint32_t h = 0; h < 65536; h++) {
        float a = _cvtsh_ss((unsigned short)h), b = quant_f16_to_f32((uint16_t)h);
        bad += memcmp(&a, &b, 4) != 0;
    }
    return bad;
}

/* The reference runs on x86 convert with F16C: ours must agree bit for bit, NaNs included. */
TEST(quant_f16_matches_f16c)
{
    if (!cpu_supports(CPU_SIMD_AVX2)) {
        test_skip("no F16C (AVX2 path) on this CPU");
        return;
    }
    CHECK_INT_EQ(f16_hardware_mismatches(), 0);
}
#endif

TEST(quant_bf16_round_nearest_even)
{
    CHECK_INT_EQ(quant_f32_to_bf16(1.0f), 0x3F80);
    CHECK_INT_EQ(quant_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);       /* tie to even */
    CHECK_INT_EQ(quant_f32_to_bf16(1.0f + 0x1.8p-7f), 0x3F82);     /* tie to even, up */
    CHECK_INT_EQ(quant_f32_to_bf16(1.0f + 0x1.02p-8f), 0x3F81);
    CHECK_INT_EQ(quant_f32_to_bf16(-2.0f), 0xC000);
    CHECK_INT_EQ(quant_f32_to_bf16(INFINITY), 0x7F80);
    CHECK(isnan(quant_bf16_to_f32(quant_f32_to_bf16(NAN))));
    uint32_t snan = 0x7F800001; /* payload only in the low bits: must stay a NaN */
    float fs;
    memcpy(&fs, &snan, 4);
    CHECK(isnan(quant_bf16_to_f32(quant_f32_to_bf16(fs))));
    rng_state = 3;
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        float f = rng_gauss() * 1000.0f;
        double got = quant_bf16_to_f32(quant_f32_to_bf16(f));
        /* nearest with 8 significant bits: error at most half an ulp of bf16 */
        int e;
        frexp((double)f, &e);
        bad += fabs(got - (double)f) > ldexp(1.0, e - 9);
    }
    CHECK_INT_EQ(bad, 0);
}

/* ---- hand-built blocks with known values ---- */

TEST(quant_known_block_q8_0_q4_0)
{
    struct block_q8_0 b8;
    b8.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 32; j++)
        b8.qs[j] = (int8_t)(j - 16);
    float y[32];
    quant_traits(GGML_TYPE_Q8_0)->to_float(&b8, y, 32);
    for (int j = 0; j < 32; j++)
        CHECK_NEAR(y[j], (j - 16) * 0.5, 0);

    struct block_q4_0 b4;
    b4.d = 0xC000; /* -2.0 */
    for (int j = 0; j < 16; j++)
        b4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    quant_traits(GGML_TYPE_Q4_0)->to_float(&b4, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK_NEAR(y[j], (j - 8) * -2.0, 0);
        CHECK_NEAR(y[j + 16], (15 - j - 8) * -2.0, 0);
    }
}

TEST(quant_known_block_q5_0_q4_1_q5_1)
{
    float y[32];
    struct block_q5_0 b5;
    b5.d = 0x3C00; /* 1.0 */
    memset(b5.qs, 0x00, 16);
    b5.qs[3] = 0x7A;                     /* value 3: 10, value 19: 7 */
    uint32_t qh = (1u << 3) | (1u << 20); /* fifth bit of values 3 and 20 */
    memcpy(b5.qh, &qh, 4);
    quant_traits(GGML_TYPE_Q5_0)->to_float(&b5, y, 32);
    CHECK_NEAR(y[3], 10 + 16 - 16, 0);
    CHECK_NEAR(y[19], 7 - 16, 0);
    CHECK_NEAR(y[20], 16 - 16, 0);
    CHECK_NEAR(y[0], -16, 0);

    struct block_q4_1 b41;
    b41.d = 0x3400; /* 0.25 */
    b41.m = 0xBC00; /* -1.0 */
    for (int j = 0; j < 16; j++)
        b41.qs[j] = (uint8_t)(j << 4 | 1);
    quant_traits(GGML_TYPE_Q4_1)->to_float(&b41, y, 32);
    CHECK_NEAR(y[5], 0.25 - 1.0, 0);
    CHECK_NEAR(y[16 + 9], 9 * 0.25 - 1.0, 0);

    struct block_q5_1 b51;
    b51.d = 0x3C00;
    b51.m = 0x4000; /* 2.0 */
    memset(b51.qs, 0xFF, 16);
    qh = 0x80000001u;
    memcpy(b51.qh, &qh, 4);
    quant_traits(GGML_TYPE_Q5_1)->to_float(&b51, y, 32);
    CHECK_NEAR(y[0], 31 + 2, 0);
    CHECK_NEAR(y[1], 15 + 2, 0);
    CHECK_NEAR(y[31], 31 + 2, 0);
}

TEST(quant_known_block_q4_K)
{
    struct block_q4_K b;
    b.d = 0x3C00;    /* 1.0 */
    b.dmin = 0x3800; /* 0.5 */
    /* groups 0..3: scale 1,2,3,4 and min 5,6,7,8 in the low 6 bits of bytes 0..7;
     * groups 4..7: low nibbles from bytes 8..11, top two bits from bytes 0..3 (scale) and
     * 4..7 (min). Byte 0 carries 0x40: scale 4 gets +16. */
    const uint8_t s[12] = {1 | 0x40, 2, 3, 4, 5, 6, 7, 8 | 0x80, 0x21, 0x43, 0x65, 0x87};
    memcpy(b.scales, s, 12);
    memset(b.qs, 0x31, sizeof b.qs); /* low nibble 1 (even groups), high nibble 3 (odd) */
    float y[256];
    quant_traits(GGML_TYPE_Q4_K)->to_float(&b, y, 256);
    /* value = d * scale * q - dmin * min */
    const double want[8] = {
        1 * 1 - 0.5 * 5,        2 * 3 - 0.5 * 6, 3 * 1 - 0.5 * 7, 4 * 3 - 0.5 * 8,
        (1 + 16) * 1 - 0.5 * 2, 3 * 3 - 0.5 * 4, 5 * 1 - 0.5 * 6, 7 * 3 - 0.5 * (8 + 32),
    };
    for (int g = 0; g < 8; g++)
        for (int l = 0; l < 32; l++)
            CHECK_NEAR(y[32 * g + l], want[g], 0);
}

TEST(quant_known_block_q6_K)
{
    struct block_q6_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x2400; /* 1/64 */
    for (int g = 0; g < 16; g++)
        b.scales[g] = (int8_t)(g % 2 ? -(g + 1) : g + 1);
    b.ql[0] = 0x21;
    b.qh[0] = 0xE4; /* 2-bit fields 0,1,2,3 for values 0, 32, 64, 96 */
    b.ql[64 + 5] = 0x0F;
    b.qh[32 + 5] = 0x03; /* value 128 + 5 */
    float y[256];
    quant_traits(GGML_TYPE_Q6_K)->to_float(&b, y, 256);
    CHECK_NEAR(y[0], (1 - 32) * 1 / 64.0, 0);
    CHECK_NEAR(y[32], (16 - 32) * 3 / 64.0, 0);
    CHECK_NEAR(y[64], (2 + 32 - 32) * 5 / 64.0, 0);
    CHECK_NEAR(y[96], (48 - 32) * 7 / 64.0, 0);
    CHECK_NEAR(y[133], (63 - 32) * 9 / 64.0, 0);
    CHECK_NEAR(y[17], -32 * -2 / 64.0, 0);
    CHECK_NEAR(y[255], -32 * -16 / 64.0, 0);
}

TEST(quant_known_block_q2_K_q3_K_q5_K)
{
    float y[256];
    struct block_q2_K b2;
    memset(&b2, 0, sizeof b2);
    b2.d = 0x3C00;    /* 1 */
    b2.dmin = 0x4000; /* 2 */
    for (int g = 0; g < 16; g++)
        b2.scales[g] = (uint8_t)((g % 16) | ((15 - g) << 4));
    b2.qs[0] = 0xE4;     /* values 0, 32, 64, 96 get levels 0, 1, 2, 3 */
    b2.qs[32 + 17] = 0x0C; /* value 128 + 32 + 17 (group 11) gets level 3 */
    quant_traits(GGML_TYPE_Q2_K)->to_float(&b2, y, 256);
    CHECK_NEAR(y[0], 0 * 0 - 2 * 15, 0);
    CHECK_NEAR(y[32], 2 * 1 - 2 * 13, 0);
    CHECK_NEAR(y[64], 4 * 2 - 2 * 11, 0);
    CHECK_NEAR(y[96], 6 * 3 - 2 * 9, 0);
    CHECK_NEAR(y[128 + 32 + 17], 11 * 3 - 2 * 4, 0);

    struct block_q3_K b3;
    memset(&b3, 0, sizeof b3);
    b3.d = 0x3800; /* 0.5 */
    /* scale j stored as s+32: low nibble in byte j (j<8) or high nibble of byte j-8, top two
     * bits in byte 8 + j%4 at bit 2*(j/4). Scale 0 = 33-32 = 1; scale 9 = 0x2F - 32 = 15;
     * scale 15 = 0x05 - 32 = -27 */
    b3.scales[0] = 0x01;
    b3.scales[1] = 0xF0;
    b3.scales[7] = 0x50;
    b3.scales[8] = 0x02;
    b3.scales[9] = 0x08;
    b3.scales[11] = 0x00;
    b3.qs[0] = 0x03;      /* value 0: low bits 3 */
    b3.hmask[0] = 0x01;   /* value 0: high bit set -> level 3 */
    b3.qs[32 + 16] = 0x0C; /* value 128 + 32 + 16 = 176 (group 11): low bits 3 at shift 2 */
    b3.qs[32 + 31] = 0xC0; /* value 128 + 96 + 31 = 255 (group 15): low bits 3, no high */
    quant_traits(GGML_TYPE_Q3_K)->to_float(&b3, y, 256);
    CHECK_NEAR(y[0], 0.5 * 1 * 3, 0);
    CHECK_NEAR(y[1], 0.5 * 1 * -4, 0);
    CHECK_NEAR(y[255], 0.5 * -27 * (3 - 4), 0);
    /* group 9 (values 144..159): stored 0x2F: low nibble from byte 1's high nibble (0xF),
     * top bits from byte 9 at bit 4 (0x08 >> 2... bits 2*(9/4)=4): 0x08 has bit 3 set, so
     * bits 4..5 of byte 9 are 0 -> stored 0x0F -> scale -17 */
    CHECK_NEAR(y[144], 0.5 * -17 * -4, 0);
    /* group 11: low nibble from byte 3 (0) , top bits of byte 11 (0) -> scale -32 */
    CHECK_NEAR(y[176], 0.5 * -32 * (3 - 4), 0);

    struct block_q5_K b5;
    memset(&b5, 0, sizeof b5);
    b5.d = 0x3C00;
    b5.dmin = 0x3C00;
    const uint8_t s[12] = {2, 2, 2, 2, 1, 1, 1, 1, 0x12, 0x12, 0x12, 0x12};
    memcpy(b5.scales, s, 12);
    memset(b5.qs, 0x53, sizeof b5.qs);
    b5.qh[4] = 0x81; /* groups 0 and 7, position 4 */
    quant_traits(GGML_TYPE_Q5_K)->to_float(&b5, y, 256);
    CHECK_NEAR(y[4], 2 * (3 + 16) - 1, 0);
    CHECK_NEAR(y[5], 2 * 3 - 1, 0);
    CHECK_NEAR(y[32 + 4], 2 * 5 - 1, 0);
    CHECK_NEAR(y[224 + 4], 2 * (5 + 16) - 1, 0);
    CHECK_NEAR(y[224 + 5], 2 * 5 - 1, 0);
}

/* The activation quantizers on a hand-made block: q8_0/q8_1 scale by 127/amax and round
 * half to even (as ggml's x86 build, which recorded the fixtures, does); q8_K rounds half
 * to even with iscale = -127/max. */
static void check_activation_rounding(void)
{
    float x[256] = {0};
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 3.5f;
    x[4] = 0.5f;
    x[33] = -1.0f; /* second block: amax 1 -> d = 1/127 */
    struct block_q8_0 q[8];
    quant_traits(GGML_TYPE_Q8_0)->from_float(x, q, 256);
    CHECK_INT_EQ(q[0].d, 0x3C00);
    CHECK_INT_EQ(q[0].qs[0], 127);
    CHECK_INT_EQ(q[0].qs[1], 2);
    CHECK_INT_EQ(q[0].qs[2], -2);
    CHECK_INT_EQ(q[0].qs[3], 4);
    CHECK_INT_EQ(q[0].qs[4], 0);
    CHECK_INT_EQ(q[1].qs[1], -127);
    CHECK_INT_EQ(q[1].d, quant_f32_to_f16(1.0f / 127.0f));
    CHECK_INT_EQ(q[2].d, 0);
    CHECK_INT_EQ(q[2].qs[5], 0);

    struct block_q8_1 q1[8];
    quant_traits(GGML_TYPE_Q8_1)->from_float(x, q1, 256);
    CHECK_INT_EQ(q1[0].qs[1], 2);
    CHECK_NEAR(quant_f16_to_f32(q1[0].s), 127 + 2 - 2 + 4, 0);
    CHECK_NEAR(quant_f16_to_f32(q1[1].s), -1.0, 1e-3);

    struct block_q8_K qk;
    quant_traits(GGML_TYPE_Q8_K)->from_float(x, &qk, 256);
    CHECK_NEAR(qk.d, -1.0, 0);
    CHECK_INT_EQ(qk.qs[0], -127);
    CHECK_INT_EQ(qk.qs[1], -2);
    CHECK_INT_EQ(qk.qs[2], 2);
    CHECK_INT_EQ(qk.qs[3], -4);
    CHECK_INT_EQ(qk.qs[33], 1);
    CHECK_INT_EQ(qk.bsums[0], -127 - 2 + 2 - 4);
    CHECK_INT_EQ(qk.bsums[2], 1);
    /* the largest magnitude negative: iscale positive, and -128 can never appear */
    x[0] = -127.0f;
    quant_traits(GGML_TYPE_Q8_K)->from_float(x, &qk, 256);
    CHECK_NEAR(qk.d, 1.0, 0);
    CHECK_INT_EQ(qk.qs[0], -127);
    CHECK_INT_EQ(qk.qs[3], 4);
}

/* ... on every path this machine has (the SIMD quantizers round the same way). */
TEST(quant_known_activation_rounding)
{
    int before = quant_simd();
    for (int p = 0; p < CPU_SIMD_COUNT; p++) {
        if (!quant_set_simd(p))
            continue;
        check_activation_rounding();
    }
    quant_set_simd(before);
}

TEST(quant_table_sizes)
{
    /* bytes per block and values per block, as ggml defines them */
    CHECK_INT_EQ(quant_row_size(GGML_TYPE_Q4_K, 4096), 4096 / 256 * 144);
    CHECK_INT_EQ(quant_row_size(GGML_TYPE_Q8_0, 64), 68);
    CHECK_INT_EQ(quant_row_size(GGML_TYPE_BF16, 10), 20);
    CHECK(quant_traits(GGML_TYPE_COUNT) == NULL);
    CHECK(quant_traits(4) == NULL); /* ids 4 and 5 were removed from ggml */
    CHECK(!quant_computable(GGML_TYPE_IQ2_XXS));
    CHECK(!quant_computable(GGML_TYPE_Q8_K));
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        const struct quant_traits *t = quant_traits(weight_types[i]);
        CHECK_MSG(quant_computable(weight_types[i]) && t->from_float, "type %s", t->name);
        const struct quant_traits *p = quant_traits(t->vec_dot_type);
        CHECK_MSG(p && p->from_float && p->to_float, "partner of %s", t->name);
    }
    CHECK_INT_EQ(quant_traits(GGML_TYPE_Q4_1)->vec_dot_type, GGML_TYPE_Q8_1);
    CHECK_INT_EQ(quant_traits(GGML_TYPE_Q5_0)->vec_dot_type, GGML_TYPE_Q8_0);
    CHECK_INT_EQ(quant_traits(GGML_TYPE_Q3_K)->vec_dot_type, GGML_TYPE_Q8_K);
    CHECK_INT_EQ(quant_traits(GGML_TYPE_BF16)->vec_dot_type, GGML_TYPE_BF16);
}

/* ---- round trips ---- */

/* dequantize(quantize(x)) on Gaussian blocks of varying scale. The bound is on the RMS error
 * relative to the RMS of x: about step/sqrt(12) of a uniform quantizer whose step is the
 * block range over the number of levels, with headroom for the rounded scales (the K-quant
 * groups are 16 or 32 values with 6-bit scales, q2_K/q3_K very coarse). */
TEST(quant_roundtrip_error)
{
    static const struct {
        uint32_t type;
        double max_rel_rms;
    } cases[] = {
        {GGML_TYPE_F16, 4e-4},  {GGML_TYPE_BF16, 3e-3}, {GGML_TYPE_Q8_0, 0.01},
        {GGML_TYPE_Q8_1, 0.01}, {GGML_TYPE_Q8_K, 0.015}, {GGML_TYPE_Q5_0, 0.05},
        {GGML_TYPE_Q5_1, 0.05}, {GGML_TYPE_Q4_0, 0.10}, {GGML_TYPE_Q4_1, 0.10},
        {GGML_TYPE_Q6_K, 0.025}, {GGML_TYPE_Q5_K, 0.05}, {GGML_TYPE_Q4_K, 0.10},
        {GGML_TYPE_Q3_K, 0.22}, {GGML_TYPE_Q2_K, 0.45}, {GGML_TYPE_F32, 0},
    };
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *q = malloc(N * 4);
    fill_data(x, N, 42);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct quant_traits *t = quant_traits_scalar(cases[c].type);
        t->from_float(x, q, N);
        t->to_float(q, y, N);
        double se = 0, sx = 0;
        for (int i = 0; i < N; i++) {
            se += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
            sx += (double)x[i] * x[i];
        }
        double rel = sqrt(se / sx);
        printf("  %-5s rms error / rms %.5f (bound %.4f)\n", t->name, rel, cases[c].max_rel_rms);
        CHECK_MSG(rel <= cases[c].max_rel_rms, "%s: rms error ratio %g > %g", t->name, rel,
                  cases[c].max_rel_rms);
    }
    free(x);
    free(y);
    free(q);
}

/* ---- dot products against float64 ---- */

/* sum(dequant(x) * dequant(y)) in double. For the q8_1 partner the block's stored sum s
 * (d * sum(q) rounded to half) stands in for sum(y) in the weight's min term, because that
 * is what the block holds: m * s replaces m * sum_j(d * q_j). */
static double dot_reference(const struct quant_traits *t, const void *xq, const void *yq,
                            int64_t n, double *abs_sum)
{
    const struct quant_traits *p = quant_traits_scalar(t->vec_dot_type);
    float *dx = malloc((size_t)n * sizeof *dx), *dy = malloc((size_t)n * sizeof *dy);
    t->to_float(xq, dx, n);
    p->to_float(yq, dy, n);
    double sum = 0.0, asum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        sum += (double)dx[i] * dy[i];
        asum += fabs((double)dx[i] * dy[i]);
    }
    if (t->vec_dot_type == GGML_TYPE_Q8_1) {
        const struct block_q8_1 *yb = yq;
        for (int64_t b = 0; b < n / 32; b++) {
            double m = t == quant_traits_scalar(GGML_TYPE_Q4_1)
                           ? quant_f16_to_f32(((const struct block_q4_1 *)xq)[b].m)
                           : quant_f16_to_f32(((const struct block_q5_1 *)xq)[b].m);
            double ysum = 0;
            for (int j = 0; j < 32; j++)
                ysum += dy[32 * b + j];
            sum += m * (quant_f16_to_f32(yb[b].s) - ysum);
        }
    }
    free(dx);
    free(dy);
    *abs_sum = asum;
    return sum;
}

/* vec_dot of each weight type against its quantized partner equals float64 arithmetic on
 * the dequantized values. Tolerance: 2e-6 of sum|x_i*y_i| (float accumulation over at most
 * n/32 = 128 block sums with a relative error of a few float epsilons each; observed is
 * about 1e-7). */
TEST(quant_vec_dot_matches_float64)
{
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *xq = malloc(N * 4), *yq = malloc(N * 4 + 1024);
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        const struct quant_traits *t = quant_traits_scalar(weight_types[i]);
        const struct quant_traits *p = quant_traits_scalar(t->vec_dot_type);
        for (int trial = 0; trial < 4; trial++) {
            fill_data(x, N, 100 + (uint64_t)trial);
            fill_data(y, N, 200 + (uint64_t)trial);
            t->from_float(x, xq, N);
            p->from_float(y, yq, N);
            double asum, want = dot_reference(t, xq, yq, N, &asum);
            double got = t->vec_dot(N, xq, yq);
            CHECK_MSG(fabs(got - want) <= 2e-6 * asum, "%s trial %d: %.9g vs %.9g (|sum| %g)",
                      t->name, trial, got, want, asum);
        }
    }
    free(x);
    free(y);
    free(xq);
    free(yq);
}

/* ---- SIMD paths against the scalar reference ---- */

/* Every path this machine has: the activation quantizers give the same bytes as scalar,
 * and vec_dot agrees with scalar within 2e-6 of sum|x_i*y_i| (both sum floats, in different
 * orders). Odd block counts exercise the tails. */
TEST(quant_simd_matches_scalar)
{
    enum { N = 4096 + 256 + 32 * 3 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *xq = malloc(N * 4), *yq = malloc(N * 4 + 1024), *yq2 = malloc(N * 4 + 1024);
    int before = quant_simd(), paths = 0;
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        paths++;
        printf("  path %s\n", quant_simd_name());
        for (int i = 0; i < N_WEIGHT_TYPES; i++) {
            const struct quant_traits *ts = quant_traits_scalar(weight_types[i]);
            const struct quant_traits *t = quant_traits(weight_types[i]);
            const struct quant_traits *p = quant_traits(t->vec_dot_type);
            const struct quant_traits *ps = quant_traits_scalar(t->vec_dot_type);
            static const int sizes[] = {32, 64, 96, 256, 288, 512, 768, 1024 + 96, N};
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                const int n = sizes[si];
                if (n % t->blck_size || n % p->blck_size)
                    continue;
                fill_data(x, n, 300 + (uint64_t)n);
                fill_data(y, n, 400 + (uint64_t)n);
                ts->from_float(x, xq, n);
                p->from_float(y, yq, n);
                ps->from_float(y, yq2, n);
                size_t ysize = quant_row_size(t->vec_dot_type, n);
                CHECK_MSG(memcmp(yq, yq2, ysize) == 0, "%s: %s activations differ at n=%d",
                          quant_simd_name(), p->name, n);
                double asum;
                dot_reference(ts, xq, yq2, n, &asum);
                double got = t->vec_dot(n, xq, yq2), want = ts->vec_dot(n, xq, yq2);
                CHECK_MSG(fabs(got - want) <= 2e-6 * asum, "%s %s n=%d: %.9g vs scalar %.9g",
                          quant_simd_name(), t->name, n, got, want);
            }
        }
    }
    CHECK(paths >= 1);
    quant_set_simd(before);
    free(x);
    free(y);
    free(xq);
    free(yq);
    free(yq2);
}

/* ---- the reference's float order, emulated in plain C ---- */

/* llama.cpp's x86 kernels (see quant_avx2.c) sum 8 float lanes: lane k of a block holds
 * the integer sum of the values v with (v % 32) / 4 == k, FMA'd with the block scale, and
 * the lanes are added as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). This computes that order
 * independently of the SIMD code, from per-value levels decoded here. */
static float emu_hsum8(const float l[8])
{
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* Levels of value v of a block, as the dot product sees them (weights of the q8 value). */
static int emu_level(uint32_t type, const void *blk, int v)
{
    switch (type) {
    case GGML_TYPE_Q8_0:
        return ((const struct block_q8_0 *)blk)->qs[v];
    case GGML_TYPE_Q4_0: {
        const struct block_q4_0 *b = blk;
        return (v < 16 ? b->qs[v] & 15 : b->qs[v - 16] >> 4) - 8;
    }
    case GGML_TYPE_Q4_K: {
        const struct block_q4_K *b = blk;
        uint8_t sc, m;
        quant_k4_scale_min(v / 32, b->scales, &sc, &m);
        const uint8_t q = b->qs[32 * (v / 64) + v % 32];
        return sc * (v % 64 < 32 ? q & 15 : q >> 4);
    }
    case GGML_TYPE_Q6_K: {
        const struct block_q6_K *b = blk;
        const int h = v / 128, c = (v % 128) / 32, l = v % 32;
        const uint8_t ql = b->ql[64 * h + 32 * (c & 1) + l];
        const int lo = c < 2 ? ql & 15 : ql >> 4;
        const int hi = (b->qh[32 * h + l] >> (2 * c)) & 3;
        /* the unsigned level: emu_dot takes the -32 from the bsums, as the kernel does */
        return b->scales[v / 16] * (lo | (hi << 4));
    }
    }
    return 0;
}

static float emu_dot(uint32_t type, int64_t n, const void *x, const void *y)
{
    const struct quant_traits *t = quant_traits_scalar(type);
    float acc[8] = {0}, acc_m[4] = {0};
    for (int64_t b = 0; b < n / t->blck_size; b++) {
        const void *xb = (const uint8_t *)x + b * t->type_size;
        int32_t lane[8] = {0};
        float d;
        if (t->blck_size == 32) {
            const struct block_q8_0 *yb = (const struct block_q8_0 *)y + b;
            for (int v = 0; v < 32; v++)
                lane[(v % 32) / 4] += emu_level(type, xb, v) * yb->qs[v];
            d = quant_f16_to_f32(*(const uint16_t *)xb) * quant_f16_to_f32(yb->d);
        } else {
            const struct block_q8_K *yb = (const struct block_q8_K *)y + b;
            for (int v = 0; v < 256; v++)
                lane[(v % 32) / 4] += emu_level(type, xb, v) * yb->qs[v];
            uint16_t xd;
            memcpy(&xd, type == GGML_TYPE_Q6_K ? (const uint8_t *)xb + 208 : xb, 2);
            d = yb->d * quant_f16_to_f32(xd);
            if (type == GGML_TYPE_Q6_K) {
                const struct block_q6_K *x6 = xb;
                for (int k = 0; k < 8; k++)
                    lane[k] -= 32 * (yb->bsums[2 * k] * x6->scales[2 * k] +
                                     yb->bsums[2 * k + 1] * x6->scales[2 * k + 1]);
            }
            if (type == GGML_TYPE_Q4_K) {
                const struct block_q4_K *xk = xb;
                const float dmin = -yb->d * quant_f16_to_f32(xk->dmin);
                for (int i = 0; i < 4; i++) {
                    int p = 0;
                    for (int g = 2 * i; g < 2 * i + 2; g++) {
                        uint8_t sc, m;
                        quant_k4_scale_min(g, xk->scales, &sc, &m);
                        p += m * (yb->bsums[2 * g] + yb->bsums[2 * g + 1]);
                    }
                    acc_m[i] = fmaf(dmin, (float)p, acc_m[i]);
                }
            }
        }
        for (int k = 0; k < 8; k++)
            acc[k] = fmaf(d, (float)lane[k], acc[k]);
    }
    float s = emu_hsum8(acc);
    if (type == GGML_TYPE_Q4_K)
        s += (acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]);
    return s;
}

/* ggml_vec_dot_f32 of the AVX2 reference build (4 x 8 lanes over chunks of 32, reduced
 * 0+2, 1+3, 0+1, then the halves added and (t0 + t1) + (t2 + t3), the tail fused), and
 * tinyBLAS's dense order (1 x 8 lanes, then hsum8). */
/* The FMA accumulators both share: 4 x 8 lanes over chunks of 32, or 1 x 8 (gemm).
 * Returns the values covered. */
static int64_t emu_fma_lanes(int64_t n, const float *x, const float *y, bool gemm,
                             float a[4][8])
{
    const int64_t step = gemm ? 8 : 32, np = n / step * step;
    for (int64_t i = 0; i < np; i += step)
        for (int j = 0; j < step / 8; j++)
            for (int l = 0; l < 8; l++)
                a[j][l] = fmaf(x[i + 8 * j + l], y[i + 8 * j + l], a[j][l]);
    return np;
}

static float emu_f32_dot(int64_t n, const float *x, const float *y, bool gemm)
{
    float a[4][8] = {{0}};
    const int64_t np = emu_fma_lanes(n, x, y, gemm, a);
    if (gemm)
        return emu_hsum8(a[0]);
    float t[4];
    for (int l = 0; l < 8; l++) {
        a[0][l] = a[0][l] + a[2][l];
        a[1][l] = a[1][l] + a[3][l];
        a[0][l] = a[0][l] + a[1][l];
    }
    for (int l = 0; l < 4; l++)
        t[l] = a[0][l] + a[0][l + 4];
    float s = (t[0] + t[1]) + (t[2] + t[3]);
    for (int64_t i = np; i < n; i++)
        s = fmaf(x[i], y[i], s);
    return s;
}

/* ggml_vec_dot_bf16 of the AVX2 reference build (4 x 8 lanes over chunks of 32, each step
 * one FMA, reduced (0+2)+(1+3) then hsum8, the tail's products added in double), and
 * tinyBLAS's (1 x 8 lanes, then hsum8). x, y: the bf16 values as floats. */
static float emu_bf16_dot(int64_t n, const float *x, const float *y, bool gemm)
{
    float a[4][8] = {{0}};
    const int64_t np = emu_fma_lanes(n, x, y, gemm, a);
    if (gemm)
        return emu_hsum8(a[0]);
    for (int l = 0; l < 8; l++)
        a[0][l] = (a[0][l] + a[2][l]) + (a[1][l] + a[3][l]);
    double s = (double)emu_hsum8(a[0]);
    for (int64_t i = np; i < n; i++)
        s += (double)(x[i] * y[i]);
    return (float)s;
}

/* Each SIMD path gives exactly (bit for bit) the order llama.cpp's x86 (AVX2) build uses. */
TEST(quant_simd_matches_reference_order)
{
    enum { N = 4096 + 256 + 64 + 32 };
    static const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
                                     GGML_TYPE_Q6_K};
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *xq = malloc(N * 4), *yq = malloc(N * 4 + 1024);
    int before = quant_simd(), paths = 0;
    for (int s = CPU_SIMD_AVX2; s <= CPU_SIMD_AVX512; s++) {
        if (!quant_set_simd(s))
            continue;
        paths++;
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            const struct quant_traits *t = quant_traits(types[i]);
            const int64_t n = t->blck_size == 256 ? 4096 + 256 : N;
            fill_data(x, n, 500 + i);
            fill_data(y, n, 600 + i);
            t->from_float(x, xq, n);
            quant_traits(t->vec_dot_type)->from_float(y, yq, n);
            float got = t->vec_dot(n, xq, yq), want = emu_dot(types[i], n, xq, yq);
            CHECK_MSG(memcmp(&got, &want, 4) == 0, "%s %s: %.9g, reference order %.9g",
                      quant_simd_name(), t->name, got, want);
        }
        const struct quant_traits *t = quant_traits(GGML_TYPE_F32);
        for (int64_t n = N - 32; n <= N; n += 16) {
            fill_data(x, n, 700 + n);
            fill_data(y, n, 800 + n);
            float got = t->vec_dot(n, x, y), want = emu_f32_dot(n, x, y, false);
            CHECK_MSG(memcmp(&got, &want, 4) == 0, "%s f32 n=%lld: %.9g vs %.9g",
                      quant_simd_name(), (long long)n, got, want);
            got = t->vec_dot_gemm(n, x, y);
            want = emu_f32_dot(n, x, y, true);
            CHECK_MSG(memcmp(&got, &want, 4) == 0, "%s f32 gemm n=%lld: %.9g vs %.9g",
                      quant_simd_name(), (long long)n, got, want);
        }
        const struct quant_traits *tb = quant_traits(GGML_TYPE_BF16);
        for (int64_t n = N - 40; n <= N; n += 8) {
            fill_data(x, n, 900 + n);
            fill_data(y, n, 1000 + n);
            uint16_t *xb = xq, *yb = yq;
            tb->from_float(x, xb, n);
            tb->from_float(y, yb, n);
            for (int64_t i = 0; i < n; i++) {
                x[i] = quant_bf16_to_f32(xb[i]);
                y[i] = quant_bf16_to_f32(yb[i]);
            }
            float got = tb->vec_dot(n, xb, yb), want = emu_bf16_dot(n, x, y, false);
            CHECK_MSG(memcmp(&got, &want, 4) == 0, "%s bf16 n=%lld: %.9g vs %.9g",
                      quant_simd_name(), (long long)n, got, want);
            got = tb->vec_dot_gemm(n, xb, yb);
            want = emu_bf16_dot(n, x, y, true);
            CHECK_MSG(memcmp(&got, &want, 4) == 0, "%s bf16 gemm n=%lld: %.9g vs %.9g",
                      quant_simd_name(), (long long)n, got, want);
        }
    }
    if (!paths)
        test_skip("no AVX2 on this CPU");
    quant_set_simd(before);
    free(x);
    free(y);
    free(xq);
    free(yq);
}

/* The AVX-512 kernels compute the same float steps as the AVX2 ones (which the test above
 * ties to the reference order), so every type must agree bit for bit, gemm order too. */
TEST(quant_avx512_equals_avx2)
{
    if (!cpu_supports(CPU_SIMD_AVX512)) {
        test_skip("no AVX-512 on this CPU");
        return;
    }
    enum { N = 4096 + 256 + 64 + 32 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *xq = malloc(N * 4), *yq = malloc(N * 4 + 1024);
    int before = quant_simd();
    static const int sizes[] = {32, 64, 96, 256, 512, 800, 1024, 4096, 4096 + 256, N};
    for (int i = 0; i < N_WEIGHT_TYPES; i++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            const int n = sizes[si];
            const struct quant_traits *ts = quant_traits_scalar(weight_types[i]);
            if (n % ts->blck_size)
                continue;
            fill_data(x, n, 900 + (uint64_t)n);
            fill_data(y, n, 1000 + (uint64_t)n);
            ts->from_float(x, xq, n);
            quant_traits_scalar(ts->vec_dot_type)->from_float(y, yq, n);
            float r[2][2];
            for (int p = 0; p < 2; p++) {
                quant_set_simd(p ? CPU_SIMD_AVX512 : CPU_SIMD_AVX2);
                const struct quant_traits *t = quant_traits(weight_types[i]);
                r[p][0] = t->vec_dot(n, xq, yq);
                r[p][1] = t->vec_dot_gemm(n, xq, yq);
            }
            CHECK_MSG(memcmp(r[0], r[1], sizeof r[0]) == 0,
                      "%s n=%d: avx2 %.9g/%.9g, avx512 %.9g/%.9g", ts->name, n, r[0][0],
                      r[0][1], r[1][0], r[1][1]);
        }
    }
    quant_set_simd(before);
    free(x);
    free(y);
    free(xq);
    free(yq);
}

/* ---- real llama-quantize tensors from the fixture models ---- */

#include "gguf.h"

/* Value v of block blk, re-derived in double from the block layout (ggml-common.h). */
static double ref_value(uint32_t type, const uint8_t *blk, int v, double *mag)
{
    *mag = 0.0;
    switch (type) {
    case GGML_TYPE_Q8_0:
        return quant_f16_to_f32(*(const uint16_t *)blk) * (double)(int8_t)blk[2 + v];
    case GGML_TYPE_Q4_0: {
        const uint8_t q = blk[2 + v % 16];
        return quant_f16_to_f32(*(const uint16_t *)blk) * ((v < 16 ? q & 15 : q >> 4) - 8);
    }
    case GGML_TYPE_Q4_K:
    case GGML_TYPE_Q5_K: {
        const double d = quant_f16_to_f32(*(const uint16_t *)blk);
        const double dmin = quant_f16_to_f32(*(const uint16_t *)(blk + 2));
        const uint8_t *s = blk + 4;
        const int g = v / 32;
        const int sc = g < 4 ? s[g] & 63 : (s[g + 4] & 15) | ((s[g - 4] >> 6) << 4);
        const int m = g < 4 ? s[g + 4] & 63 : (s[g + 4] >> 4) | ((s[g] >> 6) << 4);
        const uint8_t *qs = blk + 16 + (type == GGML_TYPE_Q5_K ? 32 : 0);
        const uint8_t byte = qs[32 * (v / 64) + v % 32];
        int q = (v % 64) < 32 ? byte & 15 : byte >> 4;
        if (type == GGML_TYPE_Q5_K)
            q += ((blk[16 + v % 32] >> g) & 1) * 16;
        *mag = fabs(d * sc * q) + fabs(dmin * m);
        return d * sc * q - dmin * m;
    }
    case GGML_TYPE_Q6_K: {
        const uint8_t *ql = blk, *qh = blk + 128;
        const int8_t *sc = (const int8_t *)(blk + 192);
        const double d = quant_f16_to_f32(*(const uint16_t *)(blk + 208));
        const int h = v / 128, c = (v % 128) / 32, l = v % 32;
        const uint8_t b = ql[64 * h + 32 * (c & 1) + l];
        const int q = ((c < 2 ? b & 15 : b >> 4) | (((qh[32 * h + l] >> (2 * c)) & 3) << 4)) - 32;
        return d * sc[v / 16] * q;
    }
    case GGML_TYPE_F16:
        return quant_f16_to_f32(*(const uint16_t *)(blk + 2 * v));
    }
    return NAN;
}

/* Compares with the fixture models' quantized tensors (written by llama-quantize, see
 * ../shared/fixtures/README.md): to_float of up to 64 rows of every q8_0, q4_0, q4_K, q5_K,
 * q6_K and f16 tensor against the double re-derivation above, within 4 float roundings of
 * the terms (float computes d*sc*q - dmin*m in three rounded steps); and vec_dot of those
 * rows with seeded activations against float64, as in quant_vec_dot_matches_float64. */
TEST(quant_fixture_tensors)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    static const char *models[] = {"mixtral-small-q4_k_m", "mixtral-small-q8_0",
                                   "qwen2moe-small-q4_0", "qwen2moe-small-q6_k",
                                   "olmoe-tiny-f16"};
    static const uint32_t types[] = {GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K,
                                     GGML_TYPE_Q5_K, GGML_TYPE_Q6_K, GGML_TYPE_F16};
    long values[6] = {0}, dots[6] = {0};
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/models/%s.gguf", fx, models[mi]);
        struct gguf_file f;
        if (gguf_open(&f, path, err, sizeof err) != 0) {
            CHECK_MSG(false, "%s", err);
            continue;
        }
        for (uint64_t ti = 0; ti < f.n_tensors; ti++) {
            const struct gguf_tensor *t = &f.tensors[ti];
            int k = -1;
            for (int i = 0; i < 6; i++)
                k = t->type == types[i] ? i : k;
            if (k < 0)
                continue;
            const struct quant_traits *tr = quant_traits(t->type);
            const int64_t n = t->ne[0];
            const size_t rs = quant_row_size(t->type, n);
            const int64_t rows = (int64_t)(t->nbytes / rs) < 64 ? (int64_t)(t->nbytes / rs) : 64;
            float *row = malloc((size_t)n * sizeof *row), *a = malloc((size_t)n * sizeof *a);
            void *aq = malloc((size_t)n * 4 + 1024);
            for (int64_t r = 0; r < rows; r++) {
                const uint8_t *src = (const uint8_t *)t->data + (size_t)r * rs;
                tr->to_float(src, row, n);
                int bad = 0;
                for (int64_t i = 0; i < n; i++) {
                    const int64_t b = i / tr->blck_size;
                    const uint8_t *blk = src + (size_t)b * tr->type_size;
                    const int v = (int)(i % tr->blck_size);
                    double mag;
                    const double want = t->type == GGML_TYPE_F16
                                            ? ref_value(t->type, src, (int)i, &mag)
                                            : ref_value(t->type, blk, v, &mag);
                    if (mag == 0.0)
                        mag = fabs(want);
                    bad += !(fabs(row[i] - want) <= 4 * 0x1p-24 * mag);
                }
                CHECK_MSG(bad == 0, "%s %s row %lld: %d values off", models[mi], t->name,
                          (long long)r, bad);
                values[k] += n;
                /* the dot product on the real row */
                fill_data(a, n, 77 + (uint64_t)r);
                quant_traits(tr->vec_dot_type)->from_float(a, aq, n);
                double asum, want = dot_reference(tr, src, aq, n, &asum);
                double got = tr->vec_dot(n, src, aq);
                CHECK_MSG(fabs(got - want) <= 2e-6 * asum, "%s %s row %lld: dot %.9g vs %.9g",
                          models[mi], t->name, (long long)r, got, want);
                dots[k]++;
            }
            free(row);
            free(a);
            free(aq);
        }
        gguf_close(&f);
    }
    for (int i = 0; i < 6; i++)
        printf("  %-5s %8ld values dequantized, %5ld row dots checked\n",
               quant_traits(types[i])->name, values[i], dots[i]);
    CHECK(values[2] > 0 && values[4] > 0 && values[0] > 0);
}

/* ---- the NEON kernels, run on x86 through SIMDe ---- */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_include)
#if __has_include(<simde/arm/neon.h>)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#define QUANT_NEON_EMULATE
#include "quant_neon.c"
#include "quant_iq_neon.c"
#pragma GCC pop_options
#define HAVE_NEON_EMULATION 1
#endif
#endif

/* quant_neon.c computes the float steps of the x86 kernels (so arm64 reproduces the x86
 * reference): through SIMDe's emulation of the NEON intrinsics (with real FMA) every type
 * must equal the AVX2 path bit for bit, with the SDOT kernels and with the plain NEON ones. */
TEST(quant_neon_equals_avx2)
{
#if defined(HAVE_NEON_EMULATION)
    if (!cpu_supports(CPU_SIMD_AVX2)) {
        test_skip("no AVX2 to compare with");
        return;
    }
    enum { N = 4096 + 256 + 64 + 32 };
    static const int sizes[] = {40, 64, 256, 512, 800, 808, 1024, 4096, 4096 + 256, N};
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    void *xq = malloc(N * 4), *yq = malloc(N * 4 + 1024);
    int before = quant_simd(), checked = 0;
    quant_set_simd(CPU_SIMD_AVX2);
    for (int dotprod = 0; dotprod < 2; dotprod++) {
        struct quant_kernels k;
        memset(&k, 0, sizeof k);
        quant_neon_fill_emulated(&k, dotprod);
        quant_iq_neon_fill_emulated(&k, dotprod);
        for (int t = 0; t < GGML_TYPE_COUNT; t++) {
            if (!k.vec_dot[t])
                continue;
            const struct quant_traits *tr = quant_traits((uint32_t)t);
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                const int n = sizes[si];
                if (n % tr->blck_size)
                    continue;
                fill_data(x, n, 1100 + (uint64_t)n);
                fill_data(y, n, 1200 + (uint64_t)n);
                tr->from_float(x, xq, n);
                quant_traits(tr->vec_dot_type)->from_float(y, yq, n);
                float a[2] = {tr->vec_dot(n, xq, yq), tr->vec_dot_gemm(n, xq, yq)};
                float b[2] = {k.vec_dot[t](n, xq, yq),
                              k.vec_dot_gemm[t] ? k.vec_dot_gemm[t](n, xq, yq)
                                                : k.vec_dot[t](n, xq, yq)};
                CHECK_MSG(memcmp(a, b, sizeof a) == 0,
                          "%s n=%d %s: avx2 %.9g/%.9g, neon %.9g/%.9g", tr->name, n,
                          dotprod ? "sdot" : "plain", a[0], a[1], b[0], b[1]);
                checked++;
            }
        }
    }
    printf("  %d NEON results compared (SDOT and plain kernels)\n", checked);
    CHECK(checked > 80);
    quant_set_simd(before);
    free(x);
    free(y);
    free(xq);
    free(yq);
#else
    test_skip("needs gcc and libsimde-dev to run the NEON kernels on x86");
#endif
}

/* quant_dot_tile gives, pair for pair, the bits of vec_dot, on every path and for tile
 * shapes that leave partial groups (decode: one y; prefill: several). */
TEST(quant_tile_equals_vec_dot)
{
    enum { N = 1024 + 256, MAXR = 7, MAXC = 6 };
    static const int shapes[][2] = {{1, 1}, {5, 1}, {7, 1}, {3, 2}, {2, 5}, {4, 4}, {1, 6}};
    float *x = malloc(N * sizeof *x);
    uint8_t *xq = malloc((size_t)MAXR * N * 4);
    void *yq[MAXC];
    for (int j = 0; j < MAXC; j++)
        yq[j] = malloc(N * 4 + 1024);
    int before = quant_simd(), checked = 0;
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        for (int ti = 0; ti < N_WEIGHT_TYPES; ti++) {
            const struct quant_traits *t = quant_traits(weight_types[ti]);
            const size_t rs = quant_row_size(weight_types[ti], N);
            for (int r = 0; r < MAXR; r++) {
                fill_data(x, N, 1300 + (uint64_t)r);
                t->from_float(x, xq + (size_t)r * rs, N);
            }
            for (int j = 0; j < MAXC; j++) {
                fill_data(x, N, 1400 + (uint64_t)j);
                quant_traits(t->vec_dot_type)->from_float(x, yq[j], N);
            }
            for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
                const int nx = shapes[sh][0], ny = shapes[sh][1];
                float out[MAXR * MAXC];
                memset(out, 0xFF, sizeof out);
                quant_dot_tile(weight_types[ti], N, xq, rs, nx, (const void *const *)yq, ny, out,
                               MAXC);
                for (int i = 0; i < nx; i++) {
                    for (int j = 0; j < ny; j++) {
                        const float want = t->vec_dot(N, xq + (size_t)i * rs, yq[j]);
                        CHECK_MSG(memcmp(&out[i * MAXC + j], &want, 4) == 0,
                                  "%s %s %dx%d [%d][%d]: %.9g vs %.9g", quant_simd_name(),
                                  t->name, nx, ny, i, j, out[i * MAXC + j], want);
                        checked++;
                    }
                }
            }
        }
    }
    CHECK(checked > 0);
    quant_set_simd(before);
    free(x);
    free(xq);
    for (int j = 0; j < MAXC; j++)
        free(yq[j]);
}

/* The repacked order of q4_0 (gemv and gemm alike): on every path equal to a plain C loop
 * written here (integer block sums, one fmaf per block), and close to float64 like vec_dot. */
TEST(quant_q4_0_repack_order)
{
    enum { N = 4096 + 96 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    struct block_q4_0 *xq = malloc(N / 32 * sizeof *xq);
    struct block_q8_0 *yq = malloc(N / 32 * sizeof *yq);
    fill_data(x, N, 1500);
    fill_data(y, N, 1501);
    quant_traits_scalar(GGML_TYPE_Q4_0)->from_float(x, xq, N);
    quant_traits_scalar(GGML_TYPE_Q8_0)->from_float(y, yq, N);
    float want = 0.0f;
    for (int b = 0; b < N / 32; b++) {
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += ((j < 16 ? xq[b].qs[j] & 15 : xq[b].qs[j - 16] >> 4) - 8) * yq[b].qs[j];
        want = fmaf((float)isum, quant_f16_to_f32(xq[b].d) * quant_f16_to_f32(yq[b].d), want);
    }
    double asum, ref = dot_reference(quant_traits_scalar(GGML_TYPE_Q4_0), xq, yq, N, &asum);
    CHECK_NEAR(want, ref, 2e-6 * asum);
    int before = quant_simd();
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        const float got = quant_traits(GGML_TYPE_Q4_0)->vec_dot_repack(N, xq, yq);
        CHECK_MSG(memcmp(&got, &want, 4) == 0, "%s: %.9g vs %.9g", quant_simd_name(), got, want);
        const float got4 = quant_traits(GGML_TYPE_Q4_0)->vec_dot_repack4(N, xq, yq);
        CHECK_MSG(memcmp(&got4, &want, 4) == 0, "%s gemm: %.9g vs %.9g", quant_simd_name(), got4,
                  want);
    }
    quant_set_simd(before);
    free(x);
    free(y);
    free(xq);
    free(yq);
}

/* The repacked orders of q4_K (ggml's q4_K_8x8 gemv and gemm on x86): on every path equal
 * to a plain C loop written here from the kernels' description (integer sums per step, one
 * fmaf for the scales and one for the mins, subtracted at the end), and close to float64. */
TEST(quant_q4_K_repack_orders)
{
    enum { N = 4096 + 256 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    struct block_q4_K *xq = malloc(N / 256 * sizeof *xq);
    struct block_q8_K *yq = malloc(N / 256 * sizeof *yq);
    fill_data(x, N, 1600);
    fill_data(y, N, 1601);
    quant_traits_scalar(GGML_TYPE_Q4_K)->from_float(x, xq, N);
    quant_traits_scalar(GGML_TYPE_Q8_K)->from_float(y, yq, N);
    float want[2];
    for (int w = 0; w < 2; w++) {
        const int groups = w == 0 ? 8 : 2; /* groups of 32 per step: gemv, gemm */
        float acc = 0.0f, acc_min = 0.0f;
        for (int b = 0; b < N / 256; b++) {
            const float d = quant_f16_to_f32(xq[b].d) * yq[b].d;
            const float dmin = quant_f16_to_f32(xq[b].dmin) * yq[b].d;
            for (int g0 = 0; g0 < 8; g0 += groups) {
                int isum = 0, imin = 0;
                for (int g = g0; g < g0 + groups; g++) {
                    uint8_t sc, m;
                    quant_k4_scale_min(g, xq[b].scales, &sc, &m);
                    for (int v = 32 * g; v < 32 * g + 32; v++)
                        isum += emu_level(GGML_TYPE_Q4_K, &xq[b], v) * yq[b].qs[v];
                    imin += m * (yq[b].bsums[2 * g] + yq[b].bsums[2 * g + 1]);
                    (void)sc; /* emu_level has the scale in it */
                }
                acc = fmaf((float)isum, d, acc);
                acc_min = fmaf((float)imin, dmin, acc_min);
            }
        }
        want[w] = acc - acc_min;
    }
    double asum, ref = dot_reference(quant_traits_scalar(GGML_TYPE_Q4_K), xq, yq, N, &asum);
    CHECK_NEAR(want[0], ref, 2e-6 * asum);
    CHECK_NEAR(want[1], ref, 2e-6 * asum);
    int before = quant_simd();
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        if (!quant_set_simd(s))
            continue;
        const struct quant_traits *t = quant_traits(GGML_TYPE_Q4_K);
        const float gv = t->vec_dot_repack(N, xq, yq), gm = t->vec_dot_repack4(N, xq, yq);
        CHECK_MSG(memcmp(&gv, &want[0], 4) == 0, "%s gemv: %.9g vs %.9g", quant_simd_name(), gv,
                  want[0]);
        CHECK_MSG(memcmp(&gm, &want[1], 4) == 0, "%s gemm: %.9g vs %.9g", quant_simd_name(), gm,
                  want[1]);
    }
    CHECK(quant_traits(GGML_TYPE_Q6_K)->vec_dot_repack == NULL);
    quant_set_simd(before);
    free(x);
    free(y);
    free(xq);
    free(yq);
}

/* MOESCOPE_SIMD picks the path (when the CPU has it); an unknown name, or a path this
 * machine lacks, falls back to the best one. */
TEST(quant_simd_env_override)
{
    const char *old = getenv("MOESCOPE_SIMD");
    char saved[64] = "";
    if (old)
        snprintf(saved, sizeof saved, "%s", old);
    setenv("MOESCOPE_SIMD", "scalar", 1);
    CHECK_INT_EQ(cpu_default_simd(), CPU_SIMD_SCALAR);
    setenv("MOESCOPE_SIMD", "avx3000", 1);
    CHECK_INT_EQ(cpu_default_simd(), cpu_best_simd());
    for (int s = 0; s < CPU_SIMD_COUNT; s++) {
        setenv("MOESCOPE_SIMD", cpu_simd_name((enum cpu_simd)s), 1);
        CHECK_INT_EQ(cpu_default_simd(), cpu_supports((enum cpu_simd)s) ? s : (int)cpu_best_simd());
        CHECK_INT_EQ(cpu_simd_from_name(cpu_simd_name((enum cpu_simd)s)), s);
    }
    if (old)
        setenv("MOESCOPE_SIMD", saved, 1);
    else
        unsetenv("MOESCOPE_SIMD");
    int before = quant_simd();
    CHECK(quant_set_simd(CPU_SIMD_SCALAR));
    CHECK_STR_EQ(quant_simd_name(), "scalar");
    CHECK(quant_traits(GGML_TYPE_Q8_0)->vec_dot == quant_traits_scalar(GGML_TYPE_Q8_0)->vec_dot);
    CHECK(!quant_set_simd(CPU_SIMD_COUNT));
    CHECK(quant_set_simd(before));
}
