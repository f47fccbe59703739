/* engine/mem_limit.c: the emulated memory limit (mem_limit.h). */
#include "mem_limit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "file_open.h"

struct mem_limit {
    const struct model *m;
    int fd;
    size_t page;
    int n_layers, n_experts;
    uint64_t budget;         /* bytes of experts that may stay resident */
    uint64_t *bytes;         /* (n_layers * n_experts) an expert's slices; 0: no expert */
    int *prev, *next;        /* the LRU list of resident experts, head = most recent */
    int head, tail;
    bool *resident;
    uint64_t resident_bytes, reloaded, evicted;
};

/* Releases the whole pages inside [p, p + len) of the map and of the page cache. */
static void ml_drop_range(const struct mem_limit *ml, const uint8_t *p, uint64_t len)
{
    const uintptr_t a = ((uintptr_t)p + ml->page - 1) & ~(uintptr_t)(ml->page - 1);
    const uintptr_t b = ((uintptr_t)p + len) & ~(uintptr_t)(ml->page - 1);
    if (b <= a)
        return;
#ifdef MADV_PAGEOUT
    /* reclaims the range's pages outright where it can (and splits the page cache's large
     * folios, which the two calls below must otherwise drop whole or not at all) */
    madvise((void *)a, b - a, MADV_PAGEOUT);
#endif
    madvise((void *)a, b - a, MADV_DONTNEED);
    const off_t off = (off_t)(a - (uintptr_t)ml->m->f.base);
    posix_fadvise(ml->fd, off, (off_t)(b - a), POSIX_FADV_DONTNEED);
}

static void ml_drop(const struct mem_limit *ml, int item)
{
    const int il = item / ml->n_experts, e = item % ml->n_experts;
    const struct layer *L = &ml->m->layers[il];
    for (int t = AT_FIRST_LAYER_TENSOR; t < AT_COUNT; t++) {
        const struct wt *w = &L->t[t];
        if (w->data && arch_role((enum arch_tensor)t)->kind == AK_EXPERTS)
            ml_drop_range(ml, w->data + (size_t)e * w->nb2, w->nb2);
    }
}

static void ml_unlink(struct mem_limit *ml, int i)
{
    if (ml->prev[i] >= 0)
        ml->next[ml->prev[i]] = ml->next[i];
    else
        ml->head = ml->next[i];
    if (ml->next[i] >= 0)
        ml->prev[ml->next[i]] = ml->prev[i];
    else
        ml->tail = ml->prev[i];
    ml->resident[i] = false;
    ml->resident_bytes -= ml->bytes[i];
}

static void ml_push_front(struct mem_limit *ml, int i)
{
    ml->prev[i] = -1;
    ml->next[i] = ml->head;
    if (ml->head >= 0)
        ml->prev[ml->head] = i;
    ml->head = i;
    if (ml->tail < 0)
        ml->tail = i;
    ml->resident[i] = true;
    ml->resident_bytes += ml->bytes[i];
}

void mem_limit_free(struct mem_limit *ml)
{
    if (!ml)
        return;
    if (ml->fd >= 0)
        close(ml->fd);
    free(ml->bytes);
    free(ml->prev);
    free(ml->next);
    free(ml->resident);
    free(ml);
}

struct mem_limit *mem_limit_create(const struct model *m, uint64_t limit_bytes, bool cold,
                                   char *err, size_t errlen)
{
    struct mem_limit *ml = calloc(1, sizeof *ml);
    if (!ml) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ml->m = m;
    char why[256];
    ml->fd = file_open_regular(m->f.path, NULL, why, sizeof why);
    if (ml->fd < 0) {
        snprintf(err, errlen, "%s: %s", m->f.path, why);
        free(ml);
        return NULL;
    }
    long pg = sysconf(_SC_PAGESIZE);
    ml->page = pg > 0 ? (size_t)pg : 4096;
    ml->n_layers = m->hp.n_layers;
    ml->n_experts = m->hp.n_experts > 0 ? m->hp.n_experts : 1;
    const size_t n = (size_t)ml->n_layers * (size_t)ml->n_experts;
    ml->bytes = calloc(n, sizeof *ml->bytes);
    ml->prev = malloc(n * sizeof *ml->prev);
    ml->next = malloc(n * sizeof *ml->next);
    ml->resident = calloc(n, sizeof *ml->resident);
    if (!ml->bytes || !ml->prev || !ml->next || !ml->resident) {
        snprintf(err, errlen, "out of memory");
        mem_limit_free(ml);
        return NULL;
    }
    uint64_t experts = 0;
    for (int il = 0; il < ml->n_layers && m->hp.n_experts > 0; il++)
        for (int t = AT_FIRST_LAYER_TENSOR; t < AT_COUNT; t++) {
            const struct wt *w = &m->layers[il].t[t];
            if (!w->data || arch_role((enum arch_tensor)t)->kind != AK_EXPERTS)
                continue;
            for (int e = 0; e < ml->n_experts; e++)
                ml->bytes[(size_t)il * (size_t)ml->n_experts + (size_t)e] += w->nb2;
            experts += (uint64_t)w->nb2 * (uint64_t)ml->n_experts;
            if (cold) /* the whole tensor at once: no page on a boundary between two stays */
                ml_drop_range(ml, w->data, (uint64_t)w->nb2 * (uint64_t)ml->n_experts);
        }
    const uint64_t rest = m->f.size > experts ? m->f.size - experts : 0;
    ml->budget = limit_bytes > rest ? limit_bytes - rest : 0;
    ml->head = ml->tail = -1;
    for (size_t i = 0; i < n && !cold; i++)
        if (ml->bytes[i])
            ml_push_front(ml, (int)i);
    return ml;
}

void mem_limit_touch(struct mem_limit *ml, const struct trace_layer *layers, size_t n,
                     int n_layers)
{
    for (size_t r = 0; r < n; r++)
        for (int il = 0; il < n_layers && il < ml->n_layers; il++) {
            const struct trace_layer *tl = &layers[r * (size_t)n_layers + (size_t)il];
            for (int j = 0; j < tl->n; j++) {
                if (tl->experts[j] >= ml->n_experts)
                    continue;
                const int i = il * ml->n_experts + tl->experts[j];
                if (!ml->bytes[i])
                    continue;
                if (ml->resident[i])
                    ml_unlink(ml, i);
                else
                    ml->reloaded += ml->bytes[i];
                ml_push_front(ml, i);
            }
        }
    while (ml->resident_bytes > ml->budget && ml->tail >= 0) {
        const int i = ml->tail;
        ml_unlink(ml, i);
        ml_drop(ml, i);
        ml->evicted += ml->bytes[i];
    }
}

void mem_limit_counts(const struct mem_limit *ml, uint64_t *reloaded, uint64_t *evicted)
{
    *reloaded = ml->reloaded;
    *evicted = ml->evicted;
}
