/* remote/pieces.c: numbering the pieces a server shows (see pieces.h). */
#include <stdlib.h>
#include <string.h>

#include "pieces.h"

static uint64_t pieces_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int pieces_init(struct remote_pieces *p)
{
    memset(p, 0, sizeof *p);
    return pieces_intern(p, "", 0) == 0 ? 0 : -1;
}

void pieces_free(struct remote_pieces *p)
{
    free(p->off);
    free(p->text);
    free(p->slot);
    memset(p, 0, sizeof *p);
}

static int pieces_rehash(struct remote_pieces *p, size_t n_slot)
{
    int32_t *slot = malloc(n_slot * sizeof *slot);
    if (!slot)
        return -1;
    for (size_t i = 0; i < n_slot; i++)
        slot[i] = -1;
    for (int32_t id = 0; id < p->n; id++) {
        size_t at = pieces_hash(p->text + p->off[id], p->off[id + 1] - p->off[id]) & (n_slot - 1);
        while (slot[at] >= 0)
            at = (at + 1) & (n_slot - 1);
        slot[at] = id;
    }
    free(p->slot);
    p->slot = slot;
    p->n_slot = n_slot;
    return 0;
}

int32_t pieces_intern(struct remote_pieces *p, const char *s, size_t n)
{
    if (p->n_slot) {
        size_t at = pieces_hash(s, n) & (p->n_slot - 1);
        for (; p->slot[at] >= 0; at = (at + 1) & (p->n_slot - 1)) {
            int32_t id = p->slot[at];
            if (p->off[id + 1] - p->off[id] == n && !memcmp(p->text + p->off[id], s, n))
                return id;
        }
    }
    if (p->n >= INT32_MAX - 1 || p->text_len + n > UINT32_MAX)
        return -1;
    if (p->n + 2 > p->cap) {
        int32_t cap = p->cap ? p->cap * 2 : 256;
        uint32_t *off = realloc(p->off, (size_t)cap * sizeof *off);
        if (!off)
            return -1;
        p->off = off;
        p->cap = cap;
    }
    if (p->text_len + n + 1 > p->text_cap) {
        size_t cap = (p->text_len + n + 1) * 2;
        char *t = realloc(p->text, cap);
        if (!t)
            return -1;
        p->text = t;
        p->text_cap = cap;
    }
    if ((size_t)(p->n + 1) * 2 > p->n_slot && pieces_rehash(p, p->n_slot ? p->n_slot * 2 : 512))
        return -1;
    int32_t id = p->n++;
    p->off[id] = (uint32_t)p->text_len;
    memcpy(p->text + p->text_len, s, n);
    p->text_len += n;
    p->off[id + 1] = (uint32_t)p->text_len;
    size_t at = pieces_hash(s, n) & (p->n_slot - 1);
    while (p->slot[at] >= 0)
        at = (at + 1) & (p->n_slot - 1);
    p->slot[at] = id;
    return id;
}

size_t pieces_get(const struct remote_pieces *p, int32_t id, char *buf, size_t buflen)
{
    if (id < 0 || id >= p->n)
        return 0;
    size_t n = p->off[id + 1] - p->off[id];
    if (buflen)
        memcpy(buf, p->text + p->off[id], n < buflen ? n : buflen);
    return n;
}
