/* engine/simd/neon_dot.h: the int8 dot step the NEON kernels share, with or without the
 * dot-product instructions, and NEON_BOTH, which builds each kernel both ways.
 *
 * Included by quant_neon.c and quant_iq_neon.c after <arm_neon.h> (or SIMDe's emulation of
 * it, when tests/test_quant.c includes both files on x86). */
#ifndef MOESCOPE_NEON_DOT_H
#define MOESCOPE_NEON_DOT_H

#include <stdbool.h>
#include <stdint.h>

/* Kernels written once with a constant `dp` and instantiated twice (NEON_BOTH): inlined,
 * the constant picks the SDOT or the plain steps. */
#define NEON_INLINE static inline __attribute__((always_inline))

/* acc lane k += the dot product of bytes 4k..4k+3 of a and b: SDOT when dp, else two
 * widening multiplies and pairwise adds (the same exact int32 sums). */
NEON_INLINE int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b, const bool dp)
{
    if (dp) {
#if defined(QUANT_NEON_EMULATE) || defined(__ARM_FEATURE_DOTPROD)
        return vdotq_s32(acc, a, b);
#else
        __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
        return acc;
#endif
    }
    const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t p1 = vmull_s8(vget_high_s8(a), vget_high_s8(b));
    return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1)));
}

/* The SDOT kernels are compiled for ARMv8.2 + dotprod (which lets the assembler take the
 * instruction); the rest of the file for the base arm64. */
#if defined(QUANT_NEON_EMULATE)
#define NEON_DP
#elif defined(__clang__)
#define NEON_DP __attribute__((target("dotprod")))
#else
#define NEON_DP __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

/* name##_dp and name##_plain from name(n, x, y, dp). */
#define NEON_BOTH(name)                                                           \
    static NEON_DP float name##_dp(int64_t n, const void *x, const void *y)      \
    {                                                                             \
        return name(n, x, y, true);                                               \
    }                                                                             \
    static float name##_plain(int64_t n, const void *x, const void *y)           \
    {                                                                             \
        return name(n, x, y, false);                                              \
    }

#endif
