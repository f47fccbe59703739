/* sessions/session_columns.c: the per-record columns of a session's traces (see
 * session_format.h), shared by session_save.c and session_load.c. */
#include <stddef.h>
#include <string.h>

#include "session_format.h"

#define FIELD(name) offsetof(struct trace_token, name), sizeof(((struct trace_token *)0)->name)
#define ENTRY(name) offsetof(struct trace_token, name), sizeof(((struct trace_token *)0)->name[0])
#define ONE "one per token"

/* In file order. piece_len comes before pieces: the loader checks that they agree. */
const struct session_column session_columns[] = {
    { "pos", SESSION_COL_INT, 1, ONE, 0, INT32_MAX, FIELD(pos), true, false },
    { "token", SESSION_COL_INT, 1, ONE, 0, SESSION_COL_HI_VOCAB, FIELD(token), true, false },
    { "piece_len", SESSION_COL_INT, 1, ONE, 0, UINT32_MAX, FIELD(piece_len), false, false },
    { "pieces", SESSION_COL_PIECES, 0, "", 0, 0, 0, 0, false, false },
    { "prompt", SESSION_COL_INT, 1, ONE, 0, 1, FIELD(prompt), false, false },
    { "fed", SESSION_COL_INT, 1, ONE, 0, 1, FIELD(fed), false, false },
    { "sampled", SESSION_COL_INT, 1, ONE, 0, 1, FIELD(sampled), false, false },
    { "logprob", SESSION_COL_FLOAT, 1, ONE, 0, 0, FIELD(logprob), true, false },
    { "top_id", SESSION_COL_INT, TRACE_TOP, "5 per token", -1, SESSION_COL_HI_VOCAB,
      ENTRY(top_id), true, false },
    { "top_logprob", SESSION_COL_FLOAT, TRACE_TOP, "5 per token", 0, 0, ENTRY(top_logprob),
      true, false },
    { "ns_total", SESSION_COL_INT, 1, ONE, 0, 1LL << 53, FIELD(ns_total), false, false },
    { "ns", SESSION_COL_INT, TRACE_PHASE_COUNT, "attn, router, experts, other per token", 0,
      1LL << 53, ENTRY(ns), false, false },
    { "faults_minor", SESSION_COL_INT, 1, ONE, 0, UINT32_MAX, FIELD(faults_minor), false, true },
    { "faults_major", SESSION_COL_INT, 1, ONE, 0, UINT32_MAX, FIELD(faults_major), false, true },
    { "ns_kernel", SESSION_COL_INT, 1, ONE, 0, 1LL << 53, FIELD(ns_kernel), false, true },
    { "preempted", SESSION_COL_INT, 1, ONE, 0, UINT32_MAX, FIELD(preempted), false, true },
    { "thinking", SESSION_COL_INT, 1, ONE, 0, 1, FIELD(thinking), false, true },
    { "shift_dropped", SESSION_COL_INT, 1, ONE, 0, UINT32_MAX, FIELD(shift_dropped), false, true },
    { "ns_shift", SESSION_COL_INT, 1, ONE, 0, 1LL << 53, FIELD(ns_shift), false, true },
    { "ns_server", SESSION_COL_INT, 1, ONE, 0, 1LL << 53, FIELD(ns_server), false, true },
};

const int session_column_count = (int)(sizeof session_columns / sizeof session_columns[0]);
_Static_assert(sizeof session_columns / sizeof session_columns[0] <= SESSION_COLUMN_MAX,
               "SESSION_COLUMN_MAX is too small for the column table");

static void *session_column_at(const struct session_column *c, const struct trace_token *t,
                               int j)
{
    return (char *)t + c->offset + (size_t)j * c->size;
}

long long session_column_get(const struct session_column *c, const struct trace_token *t, int j)
{
    const void *p = session_column_at(c, t, j);
    switch (c->size) {
    case 1: return *(const bool *)p;
    case 4: return c->is_signed ? (long long)*(const int32_t *)p : (long long)*(const uint32_t *)p;
    default: return (long long)*(const uint64_t *)p;
    }
}

void session_column_set(const struct session_column *c, struct trace_token *t, int j,
                        long long v)
{
    void *p = session_column_at(c, t, j);
    switch (c->size) {
    case 1: *(bool *)p = v != 0; break;
    case 4:
        if (c->is_signed)
            *(int32_t *)p = (int32_t)v;
        else
            *(uint32_t *)p = (uint32_t)v;
        break;
    default: *(uint64_t *)p = (uint64_t)v; break;
    }
}

float *session_column_float(const struct session_column *c, struct trace_token *t, int j)
{
    return session_column_at(c, t, j);
}
