/* engine/quant_avx512.c: AVX-512 kernels (placeholder until the SIMD work lands). */
#include "quant_blocks.h"

void quant_avx512_fill(struct quant_kernels *k)
{
    (void)k;
}
