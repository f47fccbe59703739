/* sessions/export_csv.c: one row per (position, token, layer, rank, expert, weight) of every
 * routed layer of every record that went through the model (RFC 4180; the piece quoted, in
 * its visible form from text_escape so the file stays valid UTF-8). */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "text_escape.h"

/* The piece as a quoted CSV field. */
static void csv_put_piece(FILE *out, const char *piece, size_t n)
{
    char small[512];
    char *vis = small;
    size_t need = text_escape(piece, n, small, sizeof small);
    if (need >= sizeof small) {
        vis = malloc(need + 1);
        if (!vis) {
            fputs("\"\"", out);
            return;
        }
        text_escape(piece, n, vis, need + 1);
    }
    fputc('"', out);
    for (size_t i = 0; i < need; i++) {
        if (vis[i] == '"')
            fputc('"', out);
        fputc(vis[i], out);
    }
    fputc('"', out);
    if (vis != small)
        free(vis);
}

int session_export_csv(const struct session *s, FILE *out, char *err, size_t errlen)
{
    const struct trace_log *log = &s->log;
    fputs("position,token,piece,layer,rank,expert,weight\n", out);
    for (size_t i = 0; i < log->n; i++) {
        const struct trace_token *t = &log->tok[i];
        if (!t->fed)
            continue;
        const struct trace_layer *ly = trace_layers(log, i);
        for (int l = 0; l < log->n_layers; l++)
            for (int k = 0; k < ly[l].n && k < TRACE_MAX_K; k++) {
                fprintf(out, "%ld,%ld,", (long)t->pos, (long)t->token);
                csv_put_piece(out, trace_piece(log, i), t->piece_len);
                fprintf(out, ",%d,%d,%u,%.6g\n", l, k, (unsigned)ly[l].experts[k],
                        (double)ly[l].weights[k]);
            }
    }
    if (ferror(out)) {
        snprintf(err, errlen, "write: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}
