/* engine/sys/huge_pages.c: MADV_HUGEPAGE where the system has it (huge_pages.h). */
#include "huge_pages.h"

#include <stdint.h>
#include <sys/mman.h>

void huge_pages_advise(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    const uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    const uintptr_t b = ((uintptr_t)p + n) & ~(huge - 1);
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_HUGEPAGE); /* advice only: a refusal is fine */
#else
    (void)p;
    (void)n;
#endif
}
