/* remote/turn_impl.h: one turn's state, shared by turn.c (the OpenAI-compatible endpoints)
 * and ollama.c (Ollama's native /api/chat and /api/generate). */
#ifndef MOESCOPE_TURN_IMPL_H
#define MOESCOPE_TURN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remote_impl.h"
#include "routed.h"
#include "sse.h"

struct turn {
    struct remote *r;
    const struct backend_request *rq;
    struct trace_log *log;
    struct backend_result *res;
    struct sse_parser sse;
    bool sse_mode;             /* the reply is text/event-stream (decided at its first byte) */
    bool streamed;             /* we asked for a stream */
    char *body;                /* (body_len) a whole JSON reply; native: the line so far */
    size_t body_len, body_cap;
    uint64_t t0, t_last;       /* ns: request sent, last content chunk */
    size_t prompt_idx;         /* the turn's first (prompt) record */
    size_t pending;            /* first generated record whose time is not known yet */
    bool got_content, finished, done, user_stop;
    char finish[32];
    long usage_prompt, usage_completion;
    struct routed_experts gen_exp, prompt_exp;
    bool exp_shape_missing;    /* SGLang sent ids but --experts-shape was not given */
    bool native;               /* Ollama's own API: an NDJSON stream */
    uint64_t line_offset;      /* native: the stream offset of body[0] */
    /* The server's own times per record (trace_token.ns_server): llama-server's chunks
     * carry its running totals with timings_per_token */
    bool chunk_timed;          /* the object being read carried timings */
    bool srv_per_chunk;        /* some content chunk did: records got their own share */
    double srv_prev_ms;        /* the running decode total (predicted_ms) at the last one */
    size_t srv_from;           /* first record with no server time yet */
    char err[480];             /* why a callback stopped the transfer */
};

uint64_t turn_now(void);
/* Appends one generated record; 0, or -1 when memory runs out. */
int turn_push(struct turn *t, const char *piece, size_t n, bool sampled, float logprob,
              const cJSON *top);
/* Records for [{token, bytes, logprob, top_logprobs}] entries; 0, or -1. */
int turn_take_entries(struct turn *t, const cJSON *entries);
/* After records first_new.. were appended: their times, and on_token for each. 0, or 1
 * when on_token asked to stop. */
int turn_tokens_arrived(struct turn *t, size_t first_new);
/* An {"error": ...} object: -1 with t->err set; else 0. */
int turn_take_error(struct turn *t, const cJSON *j);
/* The request's input into j: "messages" (chat) or "prompt" (the rendered text). */
void turn_json_add_input(cJSON *j, const struct backend_request *rq, bool chat);
/* A count or a time a server sent, when it is a number in [0, 1e15]: a hostile stream may
 * send 1e300, which no integer holds. true and *out set, or false. */
bool turn_json_figure(const cJSON *v, double *out);
/* usage and llama-server's timings of an OpenAI-style object. */
void turn_take_usage(struct turn *t, const cJSON *j);
/* After the stream: a server that gave its times only for the whole reply (Ollama's
 * durations, timings on the last chunk alone) has them spread evenly over the records. */
void turn_server_times_spread(struct turn *t);

#endif
