/* engine/simd/cpu.c: run-time SIMD feature detection (see cpu.h). */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#if defined(__x86_64__)
#include <cpuid.h>
#endif

static const char *const simd_names[CPU_SIMD_COUNT] = {
    [CPU_SIMD_SCALAR] = "scalar",
    [CPU_SIMD_AVX2] = "avx2",
    [CPU_SIMD_AVX512] = "avx512",
    [CPU_SIMD_NEON] = "neon",
};

#if defined(__x86_64__)
/* F16C from CPUID leaf 1, ECX bit 29: clang's __builtin_cpu_supports does not know "f16c"
 * (gcc does), and `make fuzz` builds with clang. AVX2 being usable already implies the OS
 * saves the YMM state that F16C needs. */
static bool cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    return (c & bit_F16C) != 0;
}
#endif

bool cpu_supports(enum cpu_simd s)
{
    switch (s) {
    case CPU_SIMD_SCALAR:
        return true;
#if defined(__x86_64__)
    case CPU_SIMD_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               cpu_has_f16c();
    case CPU_SIMD_AVX512:
        __builtin_cpu_init();
        return cpu_supports(CPU_SIMD_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
    case CPU_SIMD_NEON:
        return true; /* Advanced SIMD is part of every arm64 CPU */
#endif
    default:
        return false;
    }
}

bool cpu_has_avx512_bf16(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return cpu_supports(CPU_SIMD_AVX512) && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

bool cpu_has_neon_dotprod(void)
{
#if defined(__aarch64__) && defined(__linux__)
    return (getauxval(AT_HWCAP) & (1ul << 20)) != 0; /* HWCAP_ASIMDDP: SDOT/UDOT */
#elif defined(__aarch64__) && defined(__APPLE__)
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) == 0 && v != 0;
#else
    return false; /* no way to ask: the plain NEON kernels run everywhere */
#endif
}

enum cpu_simd cpu_best_simd(void)
{
    for (int s = CPU_SIMD_COUNT - 1; s > CPU_SIMD_SCALAR; s--)
        if (cpu_supports((enum cpu_simd)s))
            return (enum cpu_simd)s;
    return CPU_SIMD_SCALAR;
}

const char *cpu_simd_name(enum cpu_simd s)
{
    return s >= 0 && s < CPU_SIMD_COUNT ? simd_names[s] : "unknown";
}

enum cpu_simd cpu_simd_from_name(const char *s)
{
    for (int i = 0; s && i < CPU_SIMD_COUNT; i++)
        if (strcmp(s, simd_names[i]) == 0)
            return (enum cpu_simd)i;
    return CPU_SIMD_COUNT;
}

enum cpu_simd cpu_default_simd(void)
{
    enum cpu_simd want = cpu_simd_from_name(getenv("MOESCOPE_SIMD"));
    if (want != CPU_SIMD_COUNT && cpu_supports(want))
        return want;
    return cpu_best_simd();
}
