/* engine/sys/huge_pages.h: asking the kernel to back a large allocation with huge pages. */
#ifndef MOESCOPE_HUGE_PAGES_H
#define MOESCOPE_HUGE_PAGES_H

#include <stddef.h>

/* Advises that the whole 2 MB pages inside [p, p + n) be huge pages (Linux's transparent
 * huge pages, MADV_HUGEPAGE); nothing where the system has no such advice or refuses it.
 * For memory written with a long stride, like the transposed V cache: with 4 KB pages each
 * of a decode step's stores to it missed the TLB. The pages are then zeroed 2 MB at a time
 * on first use, so all of such a region is soon resident. */
void huge_pages_advise(void *p, size_t n);

#endif
