/* remote/pieces.h: the token texts a remote server has shown, numbered by moescope.
 *
 * Not every server gives token ids (the OpenAI format has only the text), so a remote
 * backend numbers the distinct pieces it sees, in order of first sight; id 0 is the empty
 * piece, which stands for prompt tokens the server counts but does not show. These ids are
 * what a remote session's records hold (`token`, `top_id`); their texts are the pieces. */
#ifndef MOESCOPE_PIECES_H
#define MOESCOPE_PIECES_H

#include <stddef.h>
#include <stdint.h>

struct remote_pieces {
    uint32_t *off;             /* (n + 1) piece i is text[off[i] .. off[i+1]) */
    char *text;                /* (text_cap) */
    size_t text_len, text_cap;
    int32_t n, cap;            /* pieces / room in off */
    int32_t *slot;             /* (n_slot) open-addressing table of ids, -1 = empty */
    size_t n_slot;
};

int pieces_init(struct remote_pieces *p);
void pieces_free(struct remote_pieces *p);
/* The id of a piece (a new one when unseen), or -1 when memory runs out. */
int32_t pieces_intern(struct remote_pieces *p, const char *s, size_t n);
/* Copies piece id into buf (truncated to buflen); returns its full length, 0 for unknown. */
size_t pieces_get(const struct remote_pieces *p, int32_t id, char *buf, size_t buflen);

#endif
