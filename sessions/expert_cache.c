/* sessions/expert_cache.c: LRU and optimal (Belady) expert caches over a session's routing
 * (see expert_cache.h). LRU is a stack algorithm: a touch hits a cache of C items iff fewer
 * than C other items were touched since its last touch, so one pass (a Fenwick tree over
 * the touches, each item marked at its latest one) answers every size. The optimal policy
 * is simulated per size with a max-heap on next use; it is a stack algorithm too, so its
 * hit rate grows with the size and the smallest size for a rate is a binary search. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "expert_cache.h"

const char *const cache_policy_names[CACHE_POLICY_COUNT] = { "lru", "optimal" };

void cache_replay_free(struct cache_replay *r)
{
    free(r->item);
    free(r->next);
    free(r->lru_depth);
    memset(r, 0, sizeof *r);
}

static bool replay_routed(const struct trace_log *log, size_t i)
{
    if (!log->tok[i].fed)
        return false;
    const struct trace_layer *tl = trace_layers(log, i);
    for (int l = 0; l < log->n_layers; l++)
        if (tl[l].n)
            return true;
    return false;
}

static void replay_collect(struct cache_replay *r, const struct trace_log *log, size_t from,
                           size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (!replay_routed(log, i))
            continue;
        r->n_steps++;
        const struct trace_layer *tl = trace_layers(log, i);
        for (int l = 0; l < log->n_layers; l++) {
            if (r->layer >= 0 && l != r->layer)
                continue;
            for (int j = 0; j < tl[l].n && j < TRACE_MAX_K; j++) {
                if (tl[l].experts[j] >= log->n_experts)
                    continue; /* the loader refuses these; a hand-made log may not */
                if (r->item)
                    r->item[r->n_touch] = (uint32_t)(l * log->n_experts + tl[l].experts[j]);
                r->n_touch++;
            }
        }
    }
}

/* Fenwick tree over touch indices: prefix sums of "this index is its item's latest". */
static void fenwick_add(int32_t *f, size_t n, size_t i, int32_t v)
{
    for (i++; i <= n; i += i & (~i + 1))
        f[i - 1] += v;
}

static int32_t fenwick_sum(const int32_t *f, size_t i) /* sum of [0, i) */
{
    int32_t s = 0;
    for (; i > 0; i -= i & (~i + 1))
        s += f[i - 1];
    return s;
}

static int replay_index(struct cache_replay *r)
{
    const size_t n_items = (size_t)r->n_layers * (size_t)r->n_experts;
    uint32_t *last = malloc((n_items ? n_items : 1) * sizeof *last);
    int32_t *fen = calloc(r->n_touch ? r->n_touch : 1, sizeof *fen);
    if (!last || !fen) {
        free(last);
        free(fen);
        return -1;
    }
    const uint32_t none = UINT32_MAX;
    for (size_t i = 0; i < n_items; i++)
        last[i] = none;
    for (size_t t = 0; t < r->n_touch; t++) {
        const uint32_t x = r->item[t];
        if (last[x] == none) {
            r->lru_depth[t] = UINT32_MAX;
            r->n_distinct++;
        } else {
            /* items whose latest touch lies strictly between x's last touch and now */
            r->lru_depth[t] = (uint32_t)(fenwick_sum(fen, t) - fenwick_sum(fen, last[x] + 1));
            fenwick_add(fen, r->n_touch, last[x], -1);
        }
        fenwick_add(fen, r->n_touch, t, 1);
        last[x] = (uint32_t)t;
    }
    for (size_t i = 0; i < n_items; i++)
        last[i] = (uint32_t)r->n_touch;
    for (size_t t = r->n_touch; t-- > 0;) {
        r->next[t] = last[r->item[t]];
        last[r->item[t]] = (uint32_t)t;
    }
    free(last);
    free(fen);
    return 0;
}

int cache_replay_init(struct cache_replay *r, const struct trace_log *log, size_t from,
                      size_t to, int layer)
{
    memset(r, 0, sizeof *r);
    r->n_layers = log->n_layers;
    r->n_experts = log->n_experts;
    r->layer = layer;
    if (to > log->n)
        to = log->n;
    if (from > to)
        from = to;
    replay_collect(r, log, from, to); /* first the count */
    if (r->n_touch >= UINT32_MAX) {
        cache_replay_free(r);
        return -1;
    }
    const size_t n = r->n_touch ? r->n_touch : 1;
    r->item = malloc(n * sizeof *r->item);
    r->next = malloc(n * sizeof *r->next);
    r->lru_depth = malloc(n * sizeof *r->lru_depth);
    if (!r->item || !r->next || !r->lru_depth) {
        cache_replay_free(r);
        return -1;
    }
    r->n_steps = r->n_touch = 0;
    replay_collect(r, log, from, to); /* then the items */
    if (replay_index(r) != 0) {
        cache_replay_free(r);
        return -1;
    }
    return 0;
}

/* ---- the optimal policy ---- */

struct heap_entry {
    uint32_t next, item; /* the item's next touch as of when it was pushed */
};

static void heap_push(struct heap_entry *h, size_t *n, struct heap_entry e)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2].next < e.next) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static struct heap_entry heap_pop(struct heap_entry *h, size_t *n)
{
    struct heap_entry top = h[0], e = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1].next > h[c].next)
            c++;
        if (h[c].next <= e.next)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = e;
    return top;
}

/* Entries go stale when their item is touched again (its next touch moves on) or evicted;
 * next[] values of touches are unique, so an entry is live iff it names the item's current
 * next touch and the item is held. */
static long long optimal_run(const struct cache_replay *r, size_t slots, uint64_t *hits)
{
    const size_t n_items = (size_t)r->n_layers * (size_t)r->n_experts;
    uint32_t *cur = malloc((n_items ? n_items : 1) * sizeof *cur);
    bool *held = calloc(n_items ? n_items : 1, sizeof *held);
    struct heap_entry *h = malloc((r->n_touch ? r->n_touch : 1) * sizeof *h);
    if (!cur || !held || !h) {
        free(cur);
        free(held);
        free(h);
        return -1;
    }
    size_t n_heap = 0, n_held = 0;
    long long total = 0;
    for (size_t t = 0; t < r->n_touch; t++) {
        const uint32_t x = r->item[t];
        if (held[x]) {
            hits[x / (uint32_t)r->n_experts]++;
            total++;
        } else {
            while (n_held >= slots && n_heap > 0) {
                struct heap_entry e = heap_pop(h, &n_heap);
                if (held[e.item] && cur[e.item] == e.next) {
                    held[e.item] = false;
                    n_held--;
                }
            }
            held[x] = true;
            n_held++;
        }
        cur[x] = r->next[t];
        heap_push(h, &n_heap, (struct heap_entry){ r->next[t], x });
    }
    free(cur);
    free(held);
    free(h);
    return total;
}

long long cache_replay_run(const struct cache_replay *r, enum cache_policy p, size_t slots,
                           uint64_t *hits, uint64_t *touches)
{
    memset(hits, 0, (size_t)r->n_layers * sizeof *hits);
    memset(touches, 0, (size_t)r->n_layers * sizeof *touches);
    for (size_t t = 0; t < r->n_touch; t++)
        touches[r->item[t] / (uint32_t)r->n_experts]++;
    if (slots == 0)
        return 0;
    if (p == CACHE_OPTIMAL)
        return optimal_run(r, slots, hits);
    long long total = 0;
    for (size_t t = 0; t < r->n_touch; t++)
        if (r->lru_depth[t] != UINT32_MAX && r->lru_depth[t] < slots) {
            hits[r->item[t] / (uint32_t)r->n_experts]++;
            total++;
        }
    return total;
}

int cache_replay_smallest(const struct cache_replay *r, enum cache_policy p, double rate,
                          size_t *slots)
{
    *slots = 0;
    if (r->n_touch == 0 || r->n_distinct == 0)
        return 0;
    uint64_t *hits = malloc((size_t)r->n_layers * sizeof *hits);
    uint64_t *touches = malloc((size_t)r->n_layers * sizeof *touches);
    if (!hits || !touches) {
        free(hits);
        free(touches);
        return -1;
    }
    /* hits needed: the rate of the touches, rounded up (a tiny slack keeps 0.9 * 10 at 9) */
    const double need = rate * (double)r->n_touch - 1e-9;
    size_t lo = 1, hi = r->n_distinct;
    int rc = 0;
    long long h = cache_replay_run(r, p, hi, hits, touches);
    if (h < 0)
        rc = -1;
    else if ((double)h >= need) {
        while (lo < hi) { /* the smallest size in [lo, hi] that reaches need */
            size_t mid = lo + (hi - lo) / 2;
            h = cache_replay_run(r, p, mid, hits, touches);
            if (h < 0) {
                rc = -1;
                break;
            }
            if ((double)h >= need)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (rc == 0)
            *slots = lo;
    }
    free(hits);
    free(touches);
    return rc;
}
