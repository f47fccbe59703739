/* sessions/expert_cache.h: a session's routing replayed through a cache of experts, so
 * "how much RAM must hold the hot experts?" is answered from the records alone (no model).
 *
 * The replay: each fed record routed at some layer is one step, in log order (prompt
 * records too, one by one as if decoded). A step touches its routed layers in order and,
 * in each, its k experts in rank order. An item is a (layer, expert) pair. The cache holds
 * `slots` items: one cache shared by every layer, or, for a replay of one layer, that
 * layer's experts alone. A touch is a hit when the item is held; a miss reads the expert
 * from storage and puts it in, evicting when full:
 *   LRU      the item used least recently;
 *   optimal  (Belady) the item next used furthest in the future, or never again: no policy
 *            can have more hits, so it is the floor any real cache is measured against.
 * The first touch of an item is always a miss, so even a cache that holds every expert
 * hits 1 - distinct / touches, and a target rate above that is never reached. */
#ifndef MOESCOPE_EXPERT_CACHE_H
#define MOESCOPE_EXPERT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "trace.h"

enum cache_policy { CACHE_LRU, CACHE_OPTIMAL, CACHE_POLICY_COUNT };
extern const char *const cache_policy_names[CACHE_POLICY_COUNT]; /* "lru", "optimal" */

/* The touches of one replay, and what each policy needs to know about them. */
struct cache_replay {
    int n_layers, n_experts;
    int layer;              /* the one layer replayed, or -1 for every layer */
    size_t n_steps;         /* records replayed */
    size_t n_touch;         /* items touched: n_steps * routed layers * k */
    size_t n_distinct;      /* items touched at least once */
    uint32_t *item;         /* (n_touch) layer * n_experts + expert, in replay order */
    uint32_t *next;         /* (n_touch) index of the item's next touch; n_touch when none */
    uint32_t *lru_depth;    /* (n_touch) distinct other items touched since its last touch
                             * (LRU hits iff depth < slots); UINT32_MAX for a first touch */
};

/* Builds the replay of [from, to) of log, of every layer (layer = -1) or one. Returns 0, or
 * -1 when memory runs out (r then holds nothing). */
int cache_replay_init(struct cache_replay *r, const struct trace_log *log, size_t from,
                      size_t to, int layer);
void cache_replay_free(struct cache_replay *r);

/* Runs the replay through a cache of `slots` items (at least 1): hits[l] and touches[l]
 * for every layer l (n_layers entries each, zeroed here). Returns the total hits, or -1
 * when memory runs out. */
long long cache_replay_run(const struct cache_replay *r, enum cache_policy p, size_t slots,
                           uint64_t *hits, uint64_t *touches);

/* *slots = the smallest cache, in items, whose hit rate reaches rate (in (0, 1]), or 0
 * when even a cache of every distinct item falls short. Returns 0, or -1 when memory runs
 * out. */
int cache_replay_smallest(const struct cache_replay *r, enum cache_policy p, double rate,
                          size_t *slots);

#endif
