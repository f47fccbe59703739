/* engine/simd/quant.c: the type table, and the plain C reference of every kernel.
 *
 * Sections: half/bfloat16 conversions; activation quantizers (the partner types q8_0, q8_1,
 * q8_K, f16, bf16); weight quantizers (simple, valid blocks: for tests and tools/synth, not
 * llama-quantize's search); dequantizers; dot products; the table and the SIMD choice.
 *
 * The dot products follow ggml's CPU scalar ("generic") order of operations: integer sums
 * per block, then the float scale, accumulated in float (the K-quants in 8 float lanes),
 * and f32/f16/bf16 in double. The SIMD files sum in other orders, as ggml's do.
 *
 * The activation quantizers round as ggml's x86 build does (the reference fixtures were
 * recorded on an AVX2/AVX-512 machine): q8_0/q8_1 scale by 127/amax and round half to even
 * (ggml's portable _ref rounds half away from zero and scales by 1/(amax/127); the two
 * differ only on exact ties and in the last bit of the multiplier); q8_K is ggml's
 * reference on every architecture: iscale = -127/max, round half to even, clamp at 127. */
#include "quant.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "cpu.h"
#include "quant_blocks.h"

/* ------------------------------------------------------------------ half and bfloat16 */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float quant_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    if (exp == 0x1F) /* inf; a NaN keeps its payload and is made quiet, as F16C does */
        return f32_from_bits(sign | 0x7F800000 | ((man ? man | 0x200 : 0) << 13));
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t quant_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7FFFFFFF;
    if (a > 0x7F800000) /* NaN: quiet, top payload bits kept, as F16C (ggml on x86) does */
        return (uint16_t)(sign | 0x7E00 | ((a >> 13) & 0x3FF));
    if (a >= 0x477FF000) /* rounds to >= 65536 (65520 and up), or is inf */
        return sign | 0x7C00;
    if (a < 0x38800000) {
        /* below the smallest normal half (2^-14): a subnormal, value = round(|f| * 2^24),
         * which is exact to compute in float then round to nearest even */
        float v = f32_from_bits(a) * 0x1p24f;
        return sign | (uint16_t)lrintf(v);
    }
    /* normal: rebias the exponent, round the 13 dropped bits to nearest even; a carry out
     * of the mantissa correctly bumps the exponent */
    uint32_t r = a - (112u << 23);
    r += 0xFFF + ((r >> 13) & 1);
    return sign | (uint16_t)(r >> 13);
}

float quant_bf16_to_f32(uint16_t h)
{
    return f32_from_bits((uint32_t)h << 16);
}

uint16_t quant_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFF) > 0x7F800000) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

#define H2F(h) quant_f16_to_f32(h)
#define F2H(f) quant_f32_to_f16(f)

/* Round half to even, as cvtps2dq and ggml's nearest_int do (valid for |v| < 2^22). */
static int round_even(float v)
{
    return (int)lrintf(v);
}

/* ------------------------------------------------------------------ activation quantizers */

static void q8_0_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q8_0 *y = vy;
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = F2H(d);
        for (int j = 0; j < QK8_0; j++)
            y[b].qs[j] = (int8_t)round_even(x[j] * id);
    }
}

static void q8_1_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q8_1 *y = vy;
    for (int64_t b = 0; b < n / QK8_1; b++, x += QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[b].qs[j] = (int8_t)round_even(x[j] * id);
            sum += y[b].qs[j];
        }
        y[b].d = F2H(d);
        y[b].s = F2H(d * (float)sum);
    }
}

static void q8_K_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q8_K *y = vy;
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float amax = 0.0f, max = 0.0f; /* max: the signed value of the first largest |x| */
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = round_even(iscale * x[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[b].qs[16 * g + l];
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

static void f16_from_float(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = F2H(x[i]);
}

static void bf16_from_float(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = quant_f32_to_bf16(x[i]);
}

static void f32_from_float(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

/* ------------------------------------------------------------------ weight quantizers */

float quant_signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void q4_0_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q4_0 *y = vy;
    for (int64_t b = 0; b < n / QK4_0; b++, x += QK4_0) {
        /* the largest magnitude maps to -8, so the full range -8..7 is used */
        const float d = quant_signed_absmax(x, QK4_0) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = F2H(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int q0 = clampi((int)(x[j] * id + 8.5f), 0, 15);
            int q1 = clampi((int)(x[j + QK4_0 / 2] * id + 8.5f), 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void q4_1_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q4_1 *y = vy;
    for (int64_t b = 0; b < n / QK4_1; b++, x += QK4_1) {
        float lo = x[0], hi = x[0];
        for (int j = 1; j < QK4_1; j++) {
            lo = fminf(lo, x[j]);
            hi = fmaxf(hi, x[j]);
        }
        const float d = (hi - lo) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = F2H(d);
        y[b].m = F2H(lo);
        for (int j = 0; j < QK4_1 / 2; j++) {
            int q0 = clampi((int)((x[j] - lo) * id + 0.5f), 0, 15);
            int q1 = clampi((int)((x[j + QK4_1 / 2] - lo) * id + 0.5f), 0, 15);
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

static void q5_0_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q5_0 *y = vy;
    for (int64_t b = 0; b < n / QK5_0; b++, x += QK5_0) {
        const float d = quant_signed_absmax(x, QK5_0) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        y[b].d = F2H(d);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int q0 = clampi((int)(x[j] * id + 16.5f), 0, 31);
            int q1 = clampi((int)(x[j + QK5_0 / 2] * id + 16.5f), 0, 31);
            y[b].qs[j] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + QK5_0 / 2);
        }
        memcpy(y[b].qh, &qh, 4);
    }
}

static void q5_1_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q5_1 *y = vy;
    for (int64_t b = 0; b < n / QK5_1; b++, x += QK5_1) {
        float lo = x[0], hi = x[0];
        for (int j = 1; j < QK5_1; j++) {
            lo = fminf(lo, x[j]);
            hi = fmaxf(hi, x[j]);
        }
        const float d = (hi - lo) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        y[b].d = F2H(d);
        y[b].m = F2H(lo);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int q0 = clampi((int)((x[j] - lo) * id + 0.5f), 0, 31);
            int q1 = clampi((int)((x[j + QK5_1 / 2] - lo) * id + 0.5f), 0, 31);
            y[b].qs[j] = (uint8_t)((q0 & 15) | ((q1 & 15) << 4));
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + QK5_1 / 2);
        }
        memcpy(y[b].qh, &qh, 4);
    }
}

/* Asymmetric groups: scale[g] and min[g] (min >= 0, meaning x ~ scale*q - min) of each
 * group of len values with levels 0..nmax. */
static void groups_scale_min(const float *x, int n_groups, int len, int nmax, float *scale,
                             float *min)
{
    for (int g = 0; g < n_groups; g++) {
        float lo = 0.0f, hi = 0.0f; /* the range includes 0 so the min is never negative */
        for (int l = 0; l < len; l++) {
            lo = fminf(lo, x[g * len + l]);
            hi = fmaxf(hi, x[g * len + l]);
        }
        scale[g] = (hi - lo) / (float)nmax;
        min[g] = -lo;
    }
}

static float max_of(const float *v, int n)
{
    float m = 0.0f;
    for (int i = 0; i < n; i++)
        m = fmaxf(m, v[i]);
    return m;
}

/* Level of x in a group with dequantized scale dl and min dm: round((x + dm) / dl). */
static int level_of(float x, float dl, float dm, int nmax)
{
    return dl > 0.0f ? clampi(round_even((x + dm) / dl), 0, nmax) : 0;
}

/* q4_K and q5_K share the scale packing: 8 groups of 32, 6-bit scale and min. */
static void k4_pack_scales(uint8_t s[K_SCALE_SIZE], const uint8_t ls[8], const uint8_t lm[8])
{
    memset(s, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Levels L[256] of a q4_K/q5_K super-block with nmax 15 or 31; sets d, dmin, scales. */
static void k4_quantize(const float *x, int nmax, quant_half *d, quant_half *dmin,
                        uint8_t scales[K_SCALE_SIZE], uint8_t L[QK_K])
{
    float sc[8], mn[8];
    uint8_t ls[8], lm[8];
    groups_scale_min(x, 8, 32, nmax, sc, mn);
    const float max_sc = max_of(sc, 8), max_mn = max_of(mn, 8);
    *d = F2H(max_sc / 63.0f);
    *dmin = F2H(max_mn / 63.0f);
    const float fd = H2F(*d), fm = H2F(*dmin);
    for (int g = 0; g < 8; g++) {
        ls[g] = (uint8_t)(fd > 0.0f ? clampi(round_even(sc[g] / fd), 0, 63) : 0);
        lm[g] = (uint8_t)(fm > 0.0f ? clampi(round_even(mn[g] / fm), 0, 63) : 0);
        const float dl = fd * ls[g], dm = fm * lm[g];
        for (int l = 0; l < 32; l++)
            L[32 * g + l] = (uint8_t)level_of(x[32 * g + l], dl, dm, nmax);
    }
    k4_pack_scales(scales, ls, lm);
}

static void q4_K_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q4_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        k4_quantize(x, 15, &y[b].d, &y[b].dmin, y[b].scales, L);
        /* qs[32p + l]: value 64p + l in the low nibble, 64p + 32 + l in the high one */
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++)
                y[b].qs[32 * p + l] = (uint8_t)(L[64 * p + l] | (L[64 * p + 32 + l] << 4));
    }
}

static void q5_K_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q5_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        k4_quantize(x, 31, &y[b].d, &y[b].dmin, y[b].scales, L);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int p = 0; p < 4; p++) {
            for (int l = 0; l < 32; l++) {
                uint8_t a = L[64 * p + l], c = L[64 * p + 32 + l];
                y[b].qs[32 * p + l] = (uint8_t)((a & 15) | ((c & 15) << 4));
                /* bit g of qh[l] is the fifth bit of value l of group g */
                y[b].qh[l] |= (uint8_t)(((a >> 4) << (2 * p)) | ((c >> 4) << (2 * p + 1)));
            }
        }
    }
}

static void q6_K_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q6_K *y = vy;
    int8_t L[QK_K]; /* levels -32..31 */
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float sc[16], max_abs_sc = 0.0f;
        for (int g = 0; g < 16; g++) {
            sc[g] = quant_signed_absmax(x + 16 * g, 16) / -32.0f; /* largest maps to -32 */
            max_abs_sc = fmaxf(max_abs_sc, fabsf(sc[g]));
        }
        y[b].d = F2H(max_abs_sc / 127.0f);
        const float fd = H2F(y[b].d);
        for (int g = 0; g < 16; g++) {
            int ls = fd > 0.0f ? clampi(round_even(sc[g] / fd), -128, 127) : 0;
            y[b].scales[g] = (int8_t)ls;
            const float dl = fd * (float)ls;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (int8_t)(dl != 0.0f
                                             ? clampi(round_even(x[16 * g + l] / dl), -32, 31)
                                             : 0);
        }
        for (int h = 0; h < 2; h++) {
            uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
            const int8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = Lh[l] + 32, q2 = Lh[l + 32] + 32, q3 = Lh[l + 64] + 32,
                    q4 = Lh[l + 96] + 32;
                ql[l] = (uint8_t)((q1 & 15) | ((q3 & 15) << 4));
                ql[l + 32] = (uint8_t)((q2 & 15) | ((q4 & 15) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                  ((q4 >> 4) << 6));
            }
        }
    }
}

/* Value v of a q2_K/q3_K super-block sits in qs[32 * (v / 128) + v % 32] at bit shift
 * 2 * ((v % 128) / 32). */
static void k2_pack_low_bits(uint8_t qs[QK_K / 4], const uint8_t L[QK_K])
{
    memset(qs, 0, QK_K / 4);
    for (int v = 0; v < QK_K; v++)
        qs[32 * (v / 128) + v % 32] |= (uint8_t)((L[v] & 3) << (2 * ((v % 128) / 32)));
}

static void q2_K_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q2_K *y = vy;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float sc[16], mn[16];
        groups_scale_min(x, 16, 16, 3, sc, mn);
        y[b].d = F2H(max_of(sc, 16) / 15.0f);
        y[b].dmin = F2H(max_of(mn, 16) / 15.0f);
        const float fd = H2F(y[b].d), fm = H2F(y[b].dmin);
        for (int g = 0; g < 16; g++) {
            int ls = fd > 0.0f ? clampi(round_even(sc[g] / fd), 0, 15) : 0;
            int lm = fm > 0.0f ? clampi(round_even(mn[g] / fm), 0, 15) : 0;
            y[b].scales[g] = (uint8_t)(ls | (lm << 4));
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (uint8_t)level_of(x[16 * g + l], fd * ls, fm * lm, 3);
        }
        k2_pack_low_bits(y[b].qs, L);
    }
}

static void q3_K_from_float(const float *x, void *vy, int64_t n)
{
    struct block_q3_K *y = vy;
    uint8_t L[QK_K]; /* level + 4, 0..7 */
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float sc[16], max_abs_sc = 0.0f;
        for (int g = 0; g < 16; g++) {
            sc[g] = quant_signed_absmax(x + 16 * g, 16) / -4.0f; /* largest maps to -4 */
            max_abs_sc = fmaxf(max_abs_sc, fabsf(sc[g]));
        }
        y[b].d = F2H(max_abs_sc / 31.0f);
        const float fd = H2F(y[b].d);
        uint8_t ls[16];
        for (int g = 0; g < 16; g++) {
            int s = fd > 0.0f ? clampi(round_even(sc[g] / fd), -32, 31) : 0;
            ls[g] = (uint8_t)(s + 32);
            const float dl = fd * (float)s;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (uint8_t)(
                    (dl != 0.0f ? clampi(round_even(x[16 * g + l] / dl), -4, 3) : 0) + 4);
        }
        /* 6-bit scales: low nibbles in bytes 0..7, the top two bits of scale j in byte
         * 8 + j % 4 at bit 2 * (j / 4) */
        memset(y[b].scales, 0, sizeof y[b].scales);
        for (int j = 0; j < 16; j++) {
            if (j < 8)
                y[b].scales[j] |= (uint8_t)(ls[j] & 0xF);
            else
                y[b].scales[j - 8] |= (uint8_t)((ls[j] & 0xF) << 4);
            y[b].scales[8 + j % 4] |= (uint8_t)((ls[j] >> 4) << (2 * (j / 4)));
        }
        k2_pack_low_bits(y[b].qs, L);
        memset(y[b].hmask, 0, sizeof y[b].hmask);
        for (int v = 0; v < QK_K; v++)
            y[b].hmask[v % 32] |= (uint8_t)((L[v] >> 2) << (v / 32));
    }
}

/* ------------------------------------------------------------------ dequantizers */

static void q4_0_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q4_0 *x = vx;
    for (int64_t b = 0; b < n / QK4_0; b++, y += QK4_0) {
        const float d = H2F(x[b].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[b].qs[j] & 0xF) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

static void q4_1_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q4_1 *x = vx;
    for (int64_t b = 0; b < n / QK4_1; b++, y += QK4_1) {
        const float d = H2F(x[b].d), m = H2F(x[b].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[b].qs[j] & 0xF) * d + m;
            y[j + QK4_1 / 2] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

static void q5_0_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q5_0 *x = vx;
    for (int64_t b = 0; b < n / QK5_0; b++, y += QK5_0) {
        const float d = H2F(x[b].d);
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        for (int j = 0; j < QK5_0 / 2; j++) {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(((x[b].qs[j] & 0xF) | h0) - 16) * d;
            y[j + QK5_0 / 2] = (float)(((x[b].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void q5_1_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q5_1 *x = vx;
    for (int64_t b = 0; b < n / QK5_1; b++, y += QK5_1) {
        const float d = H2F(x[b].d), m = H2F(x[b].m);
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)((x[b].qs[j] & 0xF) | h0) * d + m;
            y[j + QK5_1 / 2] = (float)((x[b].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void q8_0_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q8_0 *x = vx;
    for (int64_t b = 0; b < n / QK8_0; b++, y += QK8_0) {
        const float d = H2F(x[b].d);
        for (int j = 0; j < QK8_0; j++)
            y[j] = (float)x[b].qs[j] * d;
    }
}

static void q8_1_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q8_1 *x = vx;
    for (int64_t b = 0; b < n / QK8_1; b++, y += QK8_1) {
        const float d = H2F(x[b].d);
        for (int j = 0; j < QK8_1; j++)
            y[j] = (float)x[b].qs[j] * d;
    }
}

static void q2_K_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q2_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = H2F(x[b].d), dmin = H2F(x[b].dmin);
        const uint8_t *q = x[b].qs;
        int is = 0;
        for (int h = 0; h < QK_K / 128; h++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[b].scales[is++];
                    const float dl = d * (float)(sc & 0xF), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (float)((q[16 * half + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* The 16 signed 6-bit scales of a q3_K block (stored +32 in 12 bytes). */
static void q3_K_scales(const uint8_t s[12], int8_t out[16])
{
    for (int j = 0; j < 16; j++) {
        int low = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
        int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((low | (high << 4)) - 32);
    }
}

static void q3_K_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q3_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d_all = H2F(x[b].d);
        int8_t sc[16];
        q3_K_scales(x[b].scales, sc);
        const uint8_t *q = x[b].qs;
        uint8_t m = 1;
        int is = 0;
        for (int h = 0; h < QK_K / 128; h++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int half = 0; half < 2; half++) {
                    const float dl = d_all * (float)sc[is++];
                    for (int l = 16 * half; l < 16 * half + 16; l++) {
                        int v = ((q[l] >> shift) & 3) - ((x[b].hmask[l] & m) ? 0 : 4);
                        *y++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

static void q4_K_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q4_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = H2F(x[b].d), dmin = H2F(x[b].dmin);
        const uint8_t *q = x[b].qs;
        for (int p = 0; p < QK_K / 64; p++, q += 32) {
            uint8_t sc, m;
            quant_k4_scale_min(2 * p, x[b].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            quant_k4_scale_min(2 * p + 1, x[b].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void q5_K_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q5_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = H2F(x[b].d), dmin = H2F(x[b].dmin);
        const uint8_t *ql = x[b].qs, *qh = x[b].qh;
        for (int p = 0; p < QK_K / 64; p++, ql += 32) {
            uint8_t sc, m;
            quant_k4_scale_min(2 * p, x[b].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            quant_k4_scale_min(2 * p + 1, x[b].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const uint8_t u1 = (uint8_t)(1 << (2 * p)), u2 = (uint8_t)(2 << (2 * p));
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

static void q6_K_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q6_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const float d = H2F(x[b].d);
        for (int h = 0; h < QK_K / 128; h++, y += 128) {
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is + 0] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

static void q8_K_to_float(const void *vx, float *y, int64_t n)
{
    const struct block_q8_K *x = vx;
    for (int64_t b = 0; b < n / QK_K; b++, y += QK_K)
        for (int j = 0; j < QK_K; j++)
            y[j] = x[b].d * (float)x[b].qs[j];
}

static void f16_to_float(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = H2F(x[i]);
}

static void bf16_to_float(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = quant_bf16_to_f32(x[i]);
}

static void f32_to_float(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

/* ------------------------------------------------------------------ dot products */

static float q4_0_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_0 *x = vx;
    const struct block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK8_0 / 2; j++) {
            sumi0 += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
            sumi1 += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QK8_0 / 2];
        }
        sumf += (float)(sumi0 + sumi1) * H2F(x[b].d) * H2F(y[b].d);
    }
    return sumf;
}

/* q4_0 in the repacked kernels' order (see quant.h): one fused step per block. */
static float q4_0_vec_dot_repack(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_0 *x = vx;
    const struct block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int isum = 0;
        for (int j = 0; j < QK8_0 / 2; j++) {
            isum += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QK8_0 / 2];
        }
        acc = fmaf((float)isum, H2F(x[b].d) * H2F(y[b].d), acc);
    }
    return acc;
}

static float q4_1_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_1 *x = vx;
    const struct block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK8_1; b++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK8_1 / 2; j++) {
            sumi0 += (x[b].qs[j] & 0xF) * y[b].qs[j];
            sumi1 += (x[b].qs[j] >> 4) * y[b].qs[j + QK8_1 / 2];
        }
        sumf += (H2F(x[b].d) * H2F(y[b].d)) * (float)(sumi0 + sumi1) +
                H2F(x[b].m) * H2F(y[b].s);
    }
    return sumf;
}

static float q5_0_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q5_0 *x = vx;
    const struct block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK8_0 / 2; j++) {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            sumi0 += (((x[b].qs[j] & 0xF) | h0) - 16) * y[b].qs[j];
            sumi1 += (((x[b].qs[j] >> 4) | h1) - 16) * y[b].qs[j + QK8_0 / 2];
        }
        sumf += (H2F(x[b].d) * H2F(y[b].d)) * (float)(sumi0 + sumi1);
    }
    return sumf;
}

static float q5_1_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q5_1 *x = vx;
    const struct block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK8_1; b++) {
        uint32_t qh;
        memcpy(&qh, x[b].qh, 4);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < QK8_1 / 2; j++) {
            int h0 = (int)((qh >> j) & 1) << 4, h1 = (int)((qh >> (j + 16)) & 1) << 4;
            sumi0 += ((x[b].qs[j] & 0xF) | h0) * y[b].qs[j];
            sumi1 += ((x[b].qs[j] >> 4) | h1) * y[b].qs[j + QK8_1 / 2];
        }
        sumf += (H2F(x[b].d) * H2F(y[b].d)) * (float)(sumi0 + sumi1) +
                H2F(x[b].m) * H2F(y[b].s);
    }
    return sumf;
}

static float q8_0_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q8_0 *x = vx;
    const struct block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++)
            sumi += x[b].qs[j] * y[b].qs[j];
        sumf += (float)sumi * (H2F(x[b].d) * H2F(y[b].d));
    }
    return sumf;
}

static float q2_K_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q2_K *x = vx;
    const struct block_q8_K *y = vy;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        const uint8_t *q2 = x[b].qs, *sc = x[b].scales;
        const int8_t *q8 = y[b].qs;
        int summs = 0;
        for (int j = 0; j < 16; j++)
            summs += y[b].bsums[j] * (sc[j] >> 4);
        const float dall = y[b].d * H2F(x[b].d);
        const float dmin = y[b].d * H2F(x[b].dmin);
        int isum = 0, is = 0;
        for (int h = 0; h < QK_K / 128; h++, q2 += 32) {
            for (int shift = 0; shift < 8; shift += 2, q8 += 32) {
                int s0 = 0, s1 = 0;
                for (int l = 0; l < 16; l++)
                    s0 += q8[l] * ((q2[l] >> shift) & 3);
                for (int l = 16; l < 32; l++)
                    s1 += q8[l] * ((q2[l] >> shift) & 3);
                isum += (sc[is] & 0xF) * s0 + (sc[is + 1] & 0xF) * s1;
                is += 2;
            }
        }
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

/* The K-quant dots below keep ggml's shape: the block's integer products land in 8 int32
 * lanes (value i in lane i % 8), each lane is scaled by d into its own float sum, and the
 * 8 float sums are added at the end. */
static float k_lanes_finish(const float sums[8], float sumf)
{
    for (int l = 0; l < 8; l++)
        sumf += sums[l];
    return sumf;
}

static float q3_K_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q3_K *x = vx;
    const struct block_q8_K *y = vy;
    float sums[8] = {0};
    int8_t a[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++) {
        /* a[v]: the signed level of value v, ordered as the q8_K values are */
        const uint8_t *q3 = x[b].qs;
        int v = 0;
        uint8_t m = 1;
        for (int h = 0; h < QK_K / 128; h++, q3 += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                for (int l = 0; l < 32; l++)
                    a[v++] = (int8_t)(((q3[l] >> shift) & 3) - ((x[b].hmask[l] & m) ? 0 : 4));
        int8_t sc[16];
        q3_K_scales(x[b].scales, sc);
        int32_t aux32[8] = {0};
        for (int j = 0; j < QK_K; j++)
            aux32[j % 8] += sc[j / 16] * (y[b].qs[j] * a[j]);
        const float d = H2F(x[b].d) * y[b].d;
        for (int l = 0; l < 8; l++)
            sums[l] += d * (float)aux32[l];
    }
    return k_lanes_finish(sums, 0.0f);
}

/* q4_K and q5_K: a[256] levels (0..15 or 0..31), then ggml's lane sums and the mins. */
static void k4_dot_block(const int8_t a[QK_K], const uint8_t scales[K_SCALE_SIZE],
                         quant_half xd, quant_half xdmin, const struct block_q8_K *y,
                         float sums[8], float *sumf)
{
    uint8_t sc[8], mn[8];
    for (int g = 0; g < 8; g++)
        quant_k4_scale_min(g, scales, &sc[g], &mn[g]);
    int sumi = 0;
    for (int j = 0; j < QK_K / 16; j++)
        sumi += y->bsums[j] * mn[j / 2];
    int32_t aux32[8] = {0};
    for (int j = 0; j < QK_K; j++)
        aux32[j % 8] += sc[j / 32] * (y->qs[j] * a[j]);
    const float d = H2F(xd) * y->d;
    for (int l = 0; l < 8; l++)
        sums[l] += d * (float)aux32[l];
    const float dmin = H2F(xdmin) * y->d;
    *sumf -= dmin * (float)sumi;
}

static float q4_K_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q4_K *x = vx;
    const struct block_q8_K *y = vy;
    float sums[8] = {0}, sumf = 0.0f;
    int8_t a[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++) {
        for (int p = 0; p < QK_K / 64; p++) {
            for (int l = 0; l < 32; l++) {
                a[64 * p + l] = (int8_t)(x[b].qs[32 * p + l] & 0xF);
                a[64 * p + 32 + l] = (int8_t)(x[b].qs[32 * p + l] >> 4);
            }
        }
        k4_dot_block(a, x[b].scales, x[b].d, x[b].dmin, &y[b], sums, &sumf);
    }
    return k_lanes_finish(sums, sumf);
}

/* q4_K in the order of llama.cpp's repacked kernels (ggml-cpu/arch/x86/repack.cpp,
 * q4_K_8x8 against q8_K): per output row, the integer sums (exact in any order) are turned
 * into floats and fused-multiply-added with the scale products, the mins into a second
 * accumulator subtracted at the end. The gemv (one activation row, and every expert
 * product) takes one step per super-block; the gemm (activation rows four at a time) one
 * step per pair of groups of 32. */
static int k4_group_sum(const struct block_q4_K *x, const struct block_q8_K *y, int g)
{
    const uint8_t *q = x->qs + 32 * (g / 2);
    const int8_t *v = y->qs + 32 * g;
    int s = 0;
    for (int l = 0; l < 32; l++)
        s += (g % 2 ? q[l] >> 4 : q[l] & 0xF) * v[l];
    return s;
}

static float q4_K_vec_dot_repack_steps(int64_t n, const void *vx, const void *vy, int steps)
{
    const struct block_q4_K *x = vx;
    const struct block_q8_K *y = vy;
    float acc = 0.0f, acc_min = 0.0f;
    const int per = 8 / steps; /* groups of 32 per step */
    for (int64_t b = 0; b < n / QK_K; b++) {
        uint8_t sc[8], mn[8];
        for (int g = 0; g < 8; g++)
            quant_k4_scale_min(g, x[b].scales, &sc[g], &mn[g]);
        const float d = H2F(x[b].d) * y[b].d, dmin = H2F(x[b].dmin) * y[b].d;
        for (int s0 = 0; s0 < 8; s0 += per) {
            int isum = 0, imin = 0;
            for (int g = s0; g < s0 + per; g++) {
                isum += sc[g] * k4_group_sum(&x[b], &y[b], g);
                imin += mn[g] * (y[b].bsums[2 * g] + y[b].bsums[2 * g + 1]);
            }
            acc = fmaf((float)isum, d, acc);
            acc_min = fmaf((float)imin, dmin, acc_min);
        }
    }
    return acc - acc_min;
}

static float q4_K_vec_dot_repack(int64_t n, const void *vx, const void *vy)
{
    return q4_K_vec_dot_repack_steps(n, vx, vy, 1);
}

static float q4_K_vec_dot_repack4(int64_t n, const void *vx, const void *vy)
{
    return q4_K_vec_dot_repack_steps(n, vx, vy, 4);
}

static float q5_K_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q5_K *x = vx;
    const struct block_q8_K *y = vy;
    float sums[8] = {0}, sumf = 0.0f;
    int8_t a[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++) {
        const uint8_t *qh = x[b].qh;
        for (int p = 0; p < QK_K / 64; p++) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q = x[b].qs[32 * p + l];
                a[64 * p + l] = (int8_t)((q & 0xF) + ((qh[l] >> (2 * p)) & 1) * 16);
                a[64 * p + 32 + l] = (int8_t)((q >> 4) + ((qh[l] >> (2 * p + 1)) & 1) * 16);
            }
        }
        k4_dot_block(a, x[b].scales, x[b].d, x[b].dmin, &y[b], sums, &sumf);
    }
    return k_lanes_finish(sums, sumf);
}

static float q6_K_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const struct block_q6_K *x = vx;
    const struct block_q8_K *y = vy;
    float sums[8] = {0};
    int8_t a[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++) {
        for (int h = 0; h < QK_K / 128; h++) {
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            int8_t *ah = a + 128 * h;
            for (int l = 0; l < 32; l++) {
                ah[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                ah[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                ah[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                ah[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int32_t aux32[8] = {0};
        for (int j = 0; j < QK_K; j++)
            aux32[j % 8] += x[b].scales[j / 16] * (y[b].qs[j] * a[j]);
        const float d = H2F(x[b].d) * y[b].d;
        for (int l = 0; l < 8; l++)
            sums[l] += d * (float)aux32[l];
    }
    return k_lanes_finish(sums, 0.0f);
}

/* ggml's scalar f32/f16/bf16 dots: each product in float, accumulated in double. */
static float f32_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * y[i]);
    return (float)sum;
}

static float f16_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(H2F(x[i]) * H2F(y[i]));
    return (float)sum;
}

static float bf16_vec_dot(int64_t n, const void *vx, const void *vy)
{
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(quant_bf16_to_f32(x[i]) * quant_bf16_to_f32(y[i]));
    return (float)sum;
}

/* ------------------------------------------------------------------ the table */

/* Sizes as ggml derives them: a computed type's block is sizeof its struct (quant_blocks.h);
 * a type moescope only reads is described by ggml-common.h's layout of its block. */
#define BLOCK(qk, type) .blck_size = qk, .type_size = sizeof(type)
#define ROW(id, nm, qk, ts, q) \
    [id] = { .name = nm, .blck_size = qk, .type_size = ts, .is_quantized = q }
#define KERNELS(fname, vdt) \
    .to_float = fname##_to_float, .from_float = fname##_from_float, \
    .vec_dot = fname##_vec_dot, .vec_dot_type = vdt, .vec_dot_gemm = fname##_vec_dot
/* The table-coded 4-bit types, whose reference lives in quant_iq.c. */
#define IQ_KERNELS(fname, vdt) \
    .to_float = quant_##fname##_to_float, .from_float = quant_##fname##_from_float, \
    .vec_dot = quant_##fname##_vec_dot, .vec_dot_type = vdt, .vec_dot_gemm = quant_##fname##_vec_dot

/* The scalar reference; `table` starts as a copy and takes the chosen SIMD kernels. */
static const struct quant_traits scalar_table[GGML_TYPE_COUNT] = {
    [GGML_TYPE_F32] = { .name = "f32", BLOCK(1, float), .is_quantized = false,
                        KERNELS(f32, GGML_TYPE_F32) },
    [GGML_TYPE_F16] = { .name = "f16", BLOCK(1, quant_half), .is_quantized = false,
                        KERNELS(f16, GGML_TYPE_F16) },
    [GGML_TYPE_Q4_0] = { .name = "q4_0", BLOCK(QK4_0, struct block_q4_0), .is_quantized = true,
                         KERNELS(q4_0, GGML_TYPE_Q8_0), .vec_dot_repack = q4_0_vec_dot_repack,
                         .vec_dot_repack4 = q4_0_vec_dot_repack },
    [GGML_TYPE_Q4_1] = { .name = "q4_1", BLOCK(QK4_1, struct block_q4_1), .is_quantized = true,
                         KERNELS(q4_1, GGML_TYPE_Q8_1) },
    [GGML_TYPE_Q5_0] = { .name = "q5_0", BLOCK(QK5_0, struct block_q5_0), .is_quantized = true,
                         KERNELS(q5_0, GGML_TYPE_Q8_0) },
    [GGML_TYPE_Q5_1] = { .name = "q5_1", BLOCK(QK5_1, struct block_q5_1), .is_quantized = true,
                         KERNELS(q5_1, GGML_TYPE_Q8_1) },
    [GGML_TYPE_Q8_0] = { .name = "q8_0", BLOCK(QK8_0, struct block_q8_0), .is_quantized = true,
                         KERNELS(q8_0, GGML_TYPE_Q8_0) },
    /* q8_1 and q8_K are activation types only: no weight dot product */
    [GGML_TYPE_Q8_1] = { .name = "q8_1", BLOCK(QK8_1, struct block_q8_1), .is_quantized = true,
                         .to_float = q8_1_to_float, .from_float = q8_1_from_float,
                         .vec_dot_type = GGML_TYPE_Q8_1 },
    [GGML_TYPE_Q2_K] = { .name = "q2_K", BLOCK(QK_K, struct block_q2_K), .is_quantized = true,
                         KERNELS(q2_K, GGML_TYPE_Q8_K) },
    [GGML_TYPE_Q3_K] = { .name = "q3_K", BLOCK(QK_K, struct block_q3_K), .is_quantized = true,
                         KERNELS(q3_K, GGML_TYPE_Q8_K) },
    [GGML_TYPE_Q4_K] = { .name = "q4_K", BLOCK(QK_K, struct block_q4_K), .is_quantized = true,
                         KERNELS(q4_K, GGML_TYPE_Q8_K), .vec_dot_repack = q4_K_vec_dot_repack,
                         .vec_dot_repack4 = q4_K_vec_dot_repack4 },
    [GGML_TYPE_Q5_K] = { .name = "q5_K", BLOCK(QK_K, struct block_q5_K), .is_quantized = true,
                         KERNELS(q5_K, GGML_TYPE_Q8_K) },
    [GGML_TYPE_Q6_K] = { .name = "q6_K", BLOCK(QK_K, struct block_q6_K), .is_quantized = true,
                         KERNELS(q6_K, GGML_TYPE_Q8_K) },
    [GGML_TYPE_Q8_K] = { .name = "q8_K", BLOCK(QK_K, struct block_q8_K), .is_quantized = true,
                         .to_float = q8_K_to_float, .from_float = q8_K_from_float,
                         .vec_dot_type = GGML_TYPE_Q8_K },
    /* d (f16) + the fields of each block, in ggml-common.h's order */
    ROW(GGML_TYPE_IQ2_XXS, "iq2_xxs", QK_K, 2 + QK_K / 8 * 2, true),
    ROW(GGML_TYPE_IQ2_XS, "iq2_xs", QK_K, 2 + QK_K / 8 * 2 + QK_K / 32, true),
    ROW(GGML_TYPE_IQ3_XXS, "iq3_xxs", QK_K, 2 + 3 * (QK_K / 8), true),
    ROW(GGML_TYPE_IQ1_S, "iq1_s", QK_K, 2 + QK_K / 8 + QK_K / 16, true),
    [GGML_TYPE_IQ4_NL] = { .name = "iq4_nl", BLOCK(QK4_NL, struct block_iq4_nl), .is_quantized = true,
                           IQ_KERNELS(iq4_nl, GGML_TYPE_Q8_0),
                           .vec_dot_repack = quant_iq4_nl_vec_dot_repack,
                           .vec_dot_repack4 = quant_iq4_nl_vec_dot_repack },
    ROW(GGML_TYPE_IQ3_S, "iq3_s", QK_K, 2 + 13 * (QK_K / 32) + QK_K / 64, true),
    ROW(GGML_TYPE_IQ2_S, "iq2_s", QK_K, 2 + QK_K / 4 + QK_K / 16, true),
    [GGML_TYPE_IQ4_XS] = { .name = "iq4_xs", BLOCK(QK_K, struct block_iq4_xs), .is_quantized = true,
                           IQ_KERNELS(iq4_xs, GGML_TYPE_Q8_K) },
    ROW(GGML_TYPE_I8, "i8", 1, sizeof(int8_t), false),
    ROW(GGML_TYPE_I16, "i16", 1, sizeof(int16_t), false),
    ROW(GGML_TYPE_I32, "i32", 1, sizeof(int32_t), false),
    ROW(GGML_TYPE_I64, "i64", 1, sizeof(int64_t), false),
    ROW(GGML_TYPE_F64, "f64", 1, sizeof(double), false),
    ROW(GGML_TYPE_IQ1_M, "iq1_m", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, true),
    [GGML_TYPE_BF16] = { .name = "bf16", BLOCK(1, uint16_t), .is_quantized = false,
                         KERNELS(bf16, GGML_TYPE_BF16) },
    ROW(GGML_TYPE_TQ1_0, "tq1_0", QK_K, (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2, true),
    ROW(GGML_TYPE_TQ2_0, "tq2_0", QK_K, QK_K / 4 + 2, true),
    [GGML_TYPE_MXFP4] = { .name = "mxfp4", BLOCK(QK_MXFP4, struct block_mxfp4), .is_quantized = true,
                          IQ_KERNELS(mxfp4, GGML_TYPE_Q8_0),
                          .vec_dot_repack = quant_mxfp4_vec_dot_repack,
                           .vec_dot_repack4 = quant_mxfp4_vec_dot_repack },
    /* known by name and size, so a file using them is refused naming the type: e4m3 scales
     * per 16 + 64 e2m1 nibbles; f16 d + 1 and 2 bits a value */
    ROW(GGML_TYPE_NVFP4, "nvfp4", 64, 64 / 16 + 64 / 2, true),
    ROW(GGML_TYPE_Q1_0, "q1_0", 128, 2 + 128 / 8, true),
    ROW(GGML_TYPE_Q2_0, "q2_0", 64, 2 + 64 / 4, true),
};

static struct quant_traits table[GGML_TYPE_COUNT];
static struct quant_kernels active; /* the active path's set; NULL tile: loop over vec_dot */
static bool reference_order[GGML_TYPE_COUNT]; /* quant_reference_order per type */
static enum cpu_simd active_simd = CPU_SIMD_SCALAR;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* Rebuilds `table` from the scalar rows plus the kernels of path s. */
static void table_apply(enum cpu_simd s)
{
    struct quant_kernels k;
    memset(&k, 0, sizeof k);
#if defined(__x86_64__)
    if (s == CPU_SIMD_AVX2 || s == CPU_SIMD_AVX512) {
        quant_avx2_fill(&k);
        quant_repack_avx2_fill(&k);
        quant_vexpf_avx2_fill(&k);
        quant_iq_avx2_fill(&k);
        quant_repack_iq_avx2_fill(&k);
    }
    if (s == CPU_SIMD_AVX512) {
        quant_avx512_fill(&k);
        quant_repack_avx512_fill(&k);
        quant_iq_avx512_fill(&k);
        quant_repack_iq_avx512_fill(&k);
    }
#endif
#if defined(__aarch64__)
    if (s == CPU_SIMD_NEON) {
        quant_neon_fill(&k, cpu_has_neon_dotprod());
        quant_iq_neon_fill(&k, cpu_has_neon_dotprod());
    }
#endif
    memcpy(table, scalar_table, sizeof table);
    active = k;
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        if (k.vec_dot[t] && table[t].vec_dot)
            table[t].vec_dot = k.vec_dot[t];
        /* the gemm order defaults to the row kernel's */
        if (table[t].vec_dot_gemm)
            table[t].vec_dot_gemm = k.vec_dot_gemm[t] ? k.vec_dot_gemm[t] : table[t].vec_dot;
        if (k.vec_dot_repack[t] && table[t].vec_dot_repack)
            table[t].vec_dot_repack = k.vec_dot_repack[t];
        if (k.vec_dot_repack4[t] && table[t].vec_dot_repack4)
            table[t].vec_dot_repack4 = k.vec_dot_repack4[t];
        if (k.from_float[t] && table[t].from_float)
            table[t].from_float = k.from_float[t];
        reference_order[t] = s == CPU_SIMD_AVX2 || s == CPU_SIMD_AVX512 ||
                             (s == CPU_SIMD_NEON && k.vec_dot[t]);
    }
    active_simd = s;
}

static void table_init(void)
{
    table_apply(cpu_default_simd());
}

bool quant_set_simd(int simd)
{
    pthread_once(&table_once, table_init);
    if (simd < 0 || simd >= CPU_SIMD_COUNT || !cpu_supports((enum cpu_simd)simd))
        return false;
    table_apply((enum cpu_simd)simd);
    return true;
}

int quant_simd(void)
{
    pthread_once(&table_once, table_init);
    return active_simd;
}

bool quant_reference_order(uint32_t type)
{
    pthread_once(&table_once, table_init);
    return type < GGML_TYPE_COUNT && reference_order[type];
}

const struct quant_kernels *quant_kernels_active(void)
{
    pthread_once(&table_once, table_init);
    return &active;
}

const char *quant_simd_name(void)
{
    return cpu_simd_name((enum cpu_simd)quant_simd());
}

void quant_dot_tile(uint32_t type, int64_t n, const void *x, size_t x_stride, int nx,
                    const void *const *y, int ny, float *out, size_t out_stride)
{
    const struct quant_traits *t = quant_traits(type);
    if (active.tile[type]) {
        active.tile[type](n, x, x_stride, nx, y, ny, out, out_stride);
        return;
    }
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++)
            out[(size_t)i * out_stride + (size_t)j] =
                t->vec_dot(n, (const uint8_t *)x + (size_t)i * x_stride, y[j]);
}

const struct quant_traits *quant_traits_scalar(uint32_t type)
{
    if (type >= GGML_TYPE_COUNT || !scalar_table[type].name)
        return NULL;
    return &scalar_table[type];
}

const struct quant_traits *quant_traits(uint32_t type)
{
    pthread_once(&table_once, table_init);
    if (type >= GGML_TYPE_COUNT || !table[type].name)
        return NULL;
    return &table[type];
}

bool quant_computable(uint32_t type)
{
    const struct quant_traits *t = quant_traits(type);
    return t && t->to_float && t->vec_dot;
}

size_t quant_row_size(uint32_t type, int64_t n)
{
    const struct quant_traits *t = quant_traits(type);
    return t ? (size_t)(n / t->blck_size) * t->type_size : 0;
}
