/* engine/simd/cpu.h: which SIMD instruction sets this machine has, and which one the kernels use.
 *
 * The choice is made once, at the first call that needs it: the best path the CPU supports,
 * unless the environment variable MOESCOPE_SIMD names another (scalar, avx2, avx512, neon).
 * A name the machine cannot run falls back to the best it can, never to a crash. */
#ifndef MOESCOPE_CPU_H
#define MOESCOPE_CPU_H

#include <stdbool.h>

enum cpu_simd {
    CPU_SIMD_SCALAR = 0,
    CPU_SIMD_AVX2,   /* AVX2 + FMA + F16C */
    CPU_SIMD_AVX512, /* AVX-512 F/BW/VL/DQ + VNNI (and AVX2) */
    CPU_SIMD_NEON,   /* arm64 Advanced SIMD (with SDOT where the CPU has dotprod) */
    CPU_SIMD_COUNT
};

/* True when this machine can run the path. Scalar is always supported. */
bool cpu_supports(enum cpu_simd s);
/* The best supported path. */
enum cpu_simd cpu_best_simd(void);
/* True when the CPU has AVX512_BF16 (the bf16 dot uses it when present). */
bool cpu_has_avx512_bf16(void);
/* True on arm64 CPUs with the ARMv8.2 dot-product instructions (SDOT/UDOT). */
bool cpu_has_neon_dotprod(void);
/* "scalar", "avx2", "avx512", "neon". */
const char *cpu_simd_name(enum cpu_simd s);
/* The path named by s ("scalar", ...); CPU_SIMD_COUNT when the name is unknown. */
enum cpu_simd cpu_simd_from_name(const char *s);
/* The path MOESCOPE_SIMD asks for (if supported), or the best one. */
enum cpu_simd cpu_default_simd(void);

#endif
