/* engine/quant_avx2.c: AVX2/FMA kernels (placeholder until the SIMD work lands). */
#include "quant_blocks.h"

void quant_avx2_fill(struct quant_kernels *k)
{
    (void)k;
}
