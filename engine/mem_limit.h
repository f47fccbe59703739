/* engine/mem_limit.h: a machine with less RAM than the model needs, emulated on this one
 * (engine_set_mem_limit, engine.h).
 *
 * A budget of bytes holds the non-expert weights (always resident: every step reads them)
 * and as many routed experts - (layer, expert) pairs, all their slices - as fit. After each
 * pass the experts it touched become the most recently used; while the resident experts
 * exceed the budget, the least recently used is dropped from memory: its whole pages in the
 * map are released (madvise MADV_DONTNEED) and then in the page cache (posix_fadvise
 * POSIX_FADV_DONTNEED on the file; the model's pages are clean, so the kernel frees them).
 * Its next use faults them back from storage: a real major fault and a real read, as on a
 * machine whose memory cgroup evicted it. The policy is LRU over experts, what the kernel's
 * page LRU approximates at expert granularity. Best effort: a page on the boundary of two
 * experts stays, and the kernel keeps a page it cannot drop yet (a large folio still partly
 * mapped, a page in another CPU's batch); the bench's major-fault counts say what really
 * happened. MADV_PAGEOUT first splits and reclaims what it can (measured on the mixtral
 * q8_0 fixture: 69% of the experts' pages dropped expert by expert, about all of them
 * tensor by tensor at a cold start; without it about a quarter). */
#ifndef MOESCOPE_MEM_LIMIT_H
#define MOESCOPE_MEM_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "trace.h"

struct mem_limit;

/* cold: drop every expert's pages now (a cold start from storage); otherwise the experts
 * count as resident in id order (after a prewarm). Returns NULL with err set (the file
 * cannot be opened again, no memory). */
struct mem_limit *mem_limit_create(const struct model *m, uint64_t limit_bytes, bool cold,
                                   char *err, size_t errlen);
void mem_limit_free(struct mem_limit *ml);
/* The experts the n records' layers name were used, in order; then evicts down to the
 * budget. */
void mem_limit_touch(struct mem_limit *ml, const struct trace_layer *layers, size_t n,
                     int n_layers);
/* Bytes of experts used while not resident (read back from storage) and evicted, so far. */
void mem_limit_counts(const struct mem_limit *ml, uint64_t *reloaded, uint64_t *evicted);

#endif
