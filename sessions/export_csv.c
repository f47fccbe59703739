/* sessions/export_csv.c: one row per (position, token, layer, rank, expert, weight) of every
 * routed layer of every record that went through the model (RFC 4180; the piece quoted, in
 * its visible form from text_escape so the file stays valid UTF-8). */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "text_escape.h"

/* The piece as a quoted CSV field, NUL-terminated, in *buf (grown as needed). */
static int csv_quote_piece(const char *piece, size_t n, char **buf, size_t *cap)
{
    size_t need = text_escape(piece, n, NULL, 0);
    char *vis = malloc(need + 1);
    if (!vis)
        return -1;
    text_escape(piece, n, vis, need + 1);
    if (2 * need + 3 > *cap) {
        char *p = realloc(*buf, 2 * need + 3);
        if (!p) {
            free(vis);
            return -1;
        }
        *buf = p;
        *cap = 2 * need + 3;
    }
    char *o = *buf;
    *o++ = '"';
    for (size_t i = 0; i < need; i++) {
        if (vis[i] == '"')
            *o++ = '"';
        *o++ = vis[i];
    }
    *o++ = '"';
    *o = 0;
    free(vis);
    return 0;
}

int session_export_csv(const struct session *s, FILE *out, char *err, size_t errlen)
{
    const struct trace_log *log = &s->log;
    fputs("position,token,piece,layer,rank,expert,weight,thinking\n", out);
    char *q = NULL;
    size_t qcap = 0;
    for (size_t i = 0; i < log->n; i++) {
        const struct trace_token *t = &log->tok[i];
        if (!t->fed)
            continue;
        /* The row prefix "pos,token,piece," is the same for every row of a record. */
        if (csv_quote_piece(trace_piece(log, i), t->piece_len, &q, &qcap) != 0) {
            free(q);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        const struct trace_layer *ly = trace_layers(log, i);
        for (int l = 0; l < log->n_layers; l++)
            for (int k = 0; k < ly[l].n && k < TRACE_MAX_K; k++)
                fprintf(out, "%ld,%ld,%s,%d,%d,%u,%.6g,%d\n", (long)t->pos, (long)t->token, q,
                        l, k, (unsigned)ly[l].experts[k], (double)ly[l].weights[k],
                        t->thinking ? 1 : 0);
    }
    free(q);
    if (ferror(out)) {
        snprintf(err, errlen, "write: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
