/* sessions/session_format.h: what session_save.c and session_load.c share: the column
 * encodings of the file format (described in full in docs/session-format.md).
 *
 * Per (record, layer) columns are little-endian binary arrays in base64 (RFC 4648, with
 * padding): that is what keeps a (token, layer) with k = 8 under 64 bytes. Gate weights are
 * IEEE binary16: relative error at most 2^-11, range to 65504 (DeepSeek-style scaled
 * weights fit), and float16 -> float -> float16 is exact, so a re-save is byte-identical. */
#ifndef MOESCOPE_SESSION_FORMAT_H
#define MOESCOPE_SESSION_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

/* Base64 length of n bytes (with padding). */
static inline size_t session_b64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes session_b64_len(n) characters (no NUL). */
void session_b64_encode(const unsigned char *src, size_t n, char *dst);
/* Decodes src[0..n) into dst (room for n / 4 * 3 bytes). Returns the byte count, or -1
 * when src is not canonical padded base64. */
long session_b64_decode(const char *src, size_t n, unsigned char *dst);

/* IEEE binary16 <-> binary32, round to nearest even, NaN payloads kept. */
uint16_t session_f32_to_f16(float f);
float session_f16_to_f32(uint16_t h);

/* ---- the per-record columns of a trace chunk ----
 *
 * A chunk holds one JSON array per field of struct trace_token, in this table's order, each
 * with per_token entries per record; the writer and the loader both walk the table, so a new
 * per-record field is one row here (and a line in docs/session-format.md). */
enum session_col_kind {
    SESSION_COL_INT,    /* integers in [lo, hi] */
    SESSION_COL_FLOAT,  /* shortest round-trip text; "inf", "-inf", "nan" as strings */
    SESSION_COL_PIECES, /* the records' bytes: "pieces" (a string), or "pieces_b64" */
};

/* hi of a token-id column: the model's vocabulary (any id when it is not known). */
#define SESSION_COL_HI_VOCAB (-1LL)

struct session_column {
    const char *key;
    enum session_col_kind kind;
    int per_token;          /* entries per record */
    const char *what;       /* the count in words, for messages */
    long long lo, hi;       /* SESSION_COL_INT: the range; hi may be SESSION_COL_HI_VOCAB */
    size_t offset;          /* of the field in struct trace_token */
    unsigned char size;     /* of one entry: 1 (bool), 4 (int32_t, uint32_t, float), 8 */
    bool is_signed;
    bool optional;          /* added after version 1 was out: a file without it reads 0s */
};

extern const struct session_column session_columns[];
extern const int session_column_count;
enum { SESSION_COLUMN_MAX = 32 }; /* room the loader keeps per chunk */

/* Entry j of an integer column in record t, and setting it (v already in range). */
long long session_column_get(const struct session_column *c, const struct trace_token *t, int j);
void session_column_set(const struct session_column *c, struct trace_token *t, int j,
                        long long v);
/* Entry j of a float column. */
float *session_column_float(const struct session_column *c, struct trace_token *t, int j);

#endif
