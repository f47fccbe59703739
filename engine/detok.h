/* engine/detok.h: the streaming detokenizer the front ends use to print generated text
 * (implemented in engine/text/tokenizer.c). */
#ifndef MOESCOPE_DETOK_H
#define MOESCOPE_DETOK_H

#include <stddef.h>

/* Streaming detokenization: pieces go in as they are generated, and what comes out is always
 * whole UTF-8 sequences; a sequence cut between two pieces is held back until it completes.
 * Bytes that can never become valid UTF-8 pass through unchanged. Zero-initialise, push,
 * and flush at the end (which emits any held bytes as they are). */
struct detok {
    unsigned char held[8];
    int n_held;
};
/* Writes up to outcap bytes; outcap >= n + 8 always suffices. Returns the bytes written. */
size_t detok_push(struct detok *d, const char *bytes, size_t n, char *out, size_t outcap);
size_t detok_flush(struct detok *d, char *out, size_t outcap);

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence that
 * could still be completed (what a stream may show now). A byte that can never start or
 * continue a sequence does not hold anything back: waiting would not mend it. */
size_t utf8_complete_prefix(const char *s, size_t n);

#endif
