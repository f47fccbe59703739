/* remote/turn.c: one turn against an OpenAI-compatible server: the request, the stream, and
 * the records it fills.
 *
 * The request: POST /v1/chat/completions (messages) or /v1/completions (raw text), with
 * stream, logprobs (chat: true and top_logprobs 5; completions: 5), stream_options
 * include_usage, the sampler (temperature, top_p, seed, and top_k, min_p and the repeat
 * penalty under the family's own names), llama-server's timings_per_token, and SGLang's
 * return_routed_experts when --routed-experts is on. vLLM returns routed experts only in a
 * whole reply, so with --routed-experts a vLLM turn is one non-streaming request: its wall
 * time is the TTFT, and the reply's tokens have no time of their own (ns_total 0, and
 * backend_result.streamed is false so the front ends say "not measured").
 *
 * The records (trace.h), measured at the client:
 *  - the turn's prompt: as many prompt records as the server's usage.prompt_tokens says the
 *    context grew by (one until it says), token 0 (the server does not show prompt tokens),
 *    the first one carrying the turn's new prompt text as its piece (the raw text from
 *    text_new, or the last chat message), the others empty; fed, their ns_total summing to
 *    the TTFT (request sent -> first content byte), so trace_stats' TTFT is the client's;
 *  - one record per token of the server's logprobs (piece = its bytes, logprob and top
 *    alternatives, token ids numbered by pieces.h), or one per content chunk when the server
 *    sends no logprobs (then not `sampled`);
 *  - a generated record's ns_total is the time from its chunk to the next one, shared evenly
 *    by the tokens that chunk brought, so trace_stats' inter-token latency is the client's
 *    inter-chunk time per token; the last one stays unfed (no next chunk), as locally, so
 *    routing a server sent for it is kept in the record but not shown;
 *  - routed expert ids (vLLM's .npy, SGLang's int32) fill the layers: ids only (weights 0,
 *    entropy NaN: a server reports neither);
 *  - the server's own time (ns_server) beside the client's: with timings_per_token
 *    llama-server's every chunk carries its running prompt_ms and predicted_ms, so a record
 *    gets what predicted_ms grew by until the next chunk (the prompt record: prompt_ms and
 *    the decode to the first token); a server that reports only the whole reply's times
 *    (Ollama's durations) has them spread evenly over the fed records.
 * A cut stream keeps every record received and ends BACKEND_STOP_INTERRUPTED. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ollama_api.h"
#include "remote_impl.h"
#include "routed.h"
#include "sampler.h"
#include "sse.h"
#include "text_escape.h"
#include "turn_impl.h"

enum { TURN_MAX_PROMPT = 1 << 24 };

uint64_t turn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the request ---- */

/* The request's input: the conversation as "messages" (system turn first, when there is
 * one), or the rendered text as "prompt". Shared by the OpenAI and Ollama requests. */
void turn_json_add_input(cJSON *j, const struct backend_request *rq, bool chat)
{
    if (chat) {
        cJSON *msgs = cJSON_AddArrayToObject(j, "messages");
        for (int i = -1; i < rq->n_msgs; i++) {
            if (i < 0 && !rq->system)
                continue;
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", i < 0 ? "system" : rq->msgs[i].role);
            cJSON_AddStringToObject(m, "content", i < 0 ? rq->system : rq->msgs[i].content);
            cJSON_AddItemToArray(msgs, m);
        }
        return;
    }
    char *text = malloc(rq->len + 1);
    if (text) {
        memcpy(text, rq->text, rq->len);
        text[rq->len] = 0;
        cJSON_AddStringToObject(j, "prompt", text);
        free(text);
    }
}

static char *turn_request_json(const struct turn *t, bool chat)
{
    const struct remote *r = t->r;
    const struct backend_request *rq = t->rq;
    const struct remote_family_info *f = &remote_families[r->family];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", r->base.info.served_model);
    if (chat) {
        turn_json_add_input(j, rq, true);
        cJSON_AddBoolToObject(j, "logprobs", true);
        cJSON_AddNumberToObject(j, "top_logprobs", TRACE_TOP);
    } else {
        turn_json_add_input(j, rq, false);
        cJSON_AddNumberToObject(j, "logprobs", TRACE_TOP);
    }
    cJSON_AddBoolToObject(j, "stream", t->streamed);
    if (t->streamed) {
        cJSON *so = cJSON_AddObjectToObject(j, "stream_options");
        cJSON_AddBoolToObject(so, "include_usage", true);
    }
    if (rq->n_predict >= 0)
        cJSON_AddNumberToObject(j, "max_tokens", (double)rq->n_predict);
    cJSON_AddNumberToObject(j, "temperature", rq->sp.temp);
    cJSON_AddNumberToObject(j, "top_p", rq->sp.top_p);
    if (rq->sp.seed != SAMPLER_SEED_RANDOM)
        cJSON_AddNumberToObject(j, "seed", (double)(rq->sp.seed & 0x7fffffff));
    if (f->top_k)
        cJSON_AddNumberToObject(j, f->top_k, rq->sp.top_k);
    if (f->min_p)
        cJSON_AddNumberToObject(j, f->min_p, rq->sp.min_p);
    if (f->repeat_penalty)
        cJSON_AddNumberToObject(j, f->repeat_penalty, rq->sp.repeat_penalty);
    if (f->timings)
        cJSON_AddBoolToObject(j, "timings_per_token", true);
    if (f->experts_stream && r->routed_experts)
        cJSON_AddBoolToObject(j, "return_routed_experts", true);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* ---- records ---- */

/* Text of a token entry: its "bytes" (exact, maybe part of a UTF-8 sequence) when given,
 * else its "token" string. Returns a malloc'd buffer. */
static char *turn_token_bytes(const cJSON *e, size_t *n)
{
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(e, "bytes");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(e, "token");
    if (cJSON_IsArray(bytes)) {
        int m = cJSON_GetArraySize(bytes);
        char *b = malloc((size_t)m + 1);
        if (!b)
            return NULL;
        size_t k = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, bytes) {
            if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 255)
                b[k++] = (char)(int)v->valuedouble;
        }
        *n = k;
        return b;
    }
    const char *s = cJSON_IsString(tok) ? tok->valuestring : "";
    *n = strlen(s);
    return strdup(s);
}

static float turn_logprob(const cJSON *v)
{
    return cJSON_IsNumber(v) ? (float)v->valuedouble : -INFINITY;
}

/* The top alternatives of one token entry ([{token, bytes, logprob}] best first). */
static int turn_fill_top(struct turn *t, struct trace_token *rec, const cJSON *top)
{
    for (int k = 0; k < TRACE_TOP; k++) {
        rec->top_id[k] = -1;
        rec->top_logprob[k] = -INFINITY;
    }
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, top) {
        if (k >= TRACE_TOP)
            break;
        size_t n;
        char *b = turn_token_bytes(e, &n);
        if (!b)
            return -1;
        int32_t id = pieces_intern(&t->r->pieces, b, n);
        free(b);
        if (id < 0)
            return -1;
        float lp = turn_logprob(cJSON_GetObjectItemCaseSensitive(e, "logprob"));
        int at = k++; /* keep best first whatever order the server used */
        while (at > 0 && rec->top_logprob[at - 1] < lp) {
            rec->top_id[at] = rec->top_id[at - 1];
            rec->top_logprob[at] = rec->top_logprob[at - 1];
            at--;
        }
        rec->top_id[at] = id;
        rec->top_logprob[at] = lp;
    }
    return 0;
}

/* Appends one generated record; 0, or -1 when memory runs out. */
int turn_push(struct turn *t, const char *piece, size_t n, bool sampled, float logprob,
                     const cJSON *top)
{
    int32_t id = pieces_intern(&t->r->pieces, piece, n);
    if (id < 0 || trace_log_push(t->log, id, piece, n, false) < 0)
        return -1;
    struct trace_token *rec = &t->log->tok[t->log->n - 1];
    rec->sampled = sampled;
    rec->logprob = sampled ? logprob : 0;
    if (sampled && turn_fill_top(t, rec, top) != 0)
        return -1;
    if (!sampled)
        for (int k = 0; k < TRACE_TOP; k++) {
            rec->top_id[k] = -1;
            rec->top_logprob[k] = -INFINITY;
        }
    t->res->n_gen++;
    return 0;
}

int turn_take_entries(struct turn *t, const cJSON *entries)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) {
        size_t n;
        char *b = turn_token_bytes(e, &n);
        int rc = b ? turn_push(t, b, n, true,
                               turn_logprob(cJSON_GetObjectItemCaseSensitive(e, "logprob")),
                               cJSON_GetObjectItemCaseSensitive(e, "top_logprobs"))
                   : -1;
        free(b);
        if (rc)
            return -1;
    }
    return 0;
}

/* The tokens of a choice: logprobs.content[] (chat, llama-server), the legacy completions
 * form {tokens, token_logprobs, top_logprobs: [{text: logprob}]}, or else the text as one
 * record. Returns the records added, or -1. */
static long turn_take_tokens(struct turn *t, const cJSON *choice)
{
    size_t before = t->log->n;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(choice, "logprobs");
    const cJSON *content = cJSON_IsObject(lp) ? cJSON_GetObjectItemCaseSensitive(lp, "content")
                                              : NULL;
    const cJSON *legacy = cJSON_IsObject(lp) ? cJSON_GetObjectItemCaseSensitive(lp, "tokens")
                                             : NULL;
    if (cJSON_IsArray(content) && cJSON_GetArraySize(content) > 0) {
        if (turn_take_entries(t, content) != 0)
            return -1;
    } else if (cJSON_IsArray(legacy) && cJSON_GetArraySize(legacy) > 0) {
        const cJSON *lps = cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs");
        const cJSON *tops = cJSON_GetObjectItemCaseSensitive(lp, "top_logprobs");
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, legacy) {
            const char *s = cJSON_IsString(e) ? e->valuestring : "";
            /* {text: logprob} -> [{token, logprob}] so one reader serves both forms. */
            cJSON *top = cJSON_CreateArray();
            const cJSON *obj = cJSON_GetArrayItem(tops, i);
            const cJSON *kv;
            cJSON_ArrayForEach(kv, obj) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "token", kv->string ? kv->string : "");
                cJSON_AddNumberToObject(x, "logprob", kv->valuedouble);
                cJSON_AddItemToArray(top, x);
            }
            int rc = turn_push(t, s, strlen(s), true, turn_logprob(cJSON_GetArrayItem(lps, i)),
                               top);
            cJSON_Delete(top);
            if (rc)
                return -1;
            i++;
        }
    } else {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(choice, "text");
        if (!cJSON_IsString(text) && cJSON_IsObject(delta))
            text = cJSON_GetObjectItemCaseSensitive(delta, "content");
        if (!cJSON_IsString(text) && cJSON_IsObject(msg))
            text = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (cJSON_IsString(text) && text->valuestring[0] &&
            turn_push(t, text->valuestring, strlen(text->valuestring), false, 0, NULL) != 0)
            return -1;
    }
    return (long)(t->log->n - before);
}

/* A server's figure in ms as ns; a negative one is 0 and an absurd one is capped at 2^53 ns
 * (104 days: what a session's columns hold exactly). */
static uint64_t turn_ms_to_ns(double ms)
{
    const double cap = (double)(1ULL << 53);
    double ns = ms * 1e6 + 0.5;
    return ns > 1 ? ns < cap ? (uint64_t)ns : (uint64_t)cap : 0;
}

/* The server's share of the records a content chunk completes, from the running totals the
 * chunk carries (llama-server with timings_per_token): the prompt record gets prompt_ms
 * plus the decode time to the first token; the records since the last timed chunk the
 * growth of predicted_ms since then, evenly (as the client's chunk time). */
static void turn_server_chunk(struct turn *t, size_t first_new, bool first)
{
    const struct backend_result *res = t->res;
    bool timed = t->chunk_timed;
    t->chunk_timed = false;
    if (!timed || res->server_predicted_ms < 0 || (!first && !t->srv_per_chunk))
        return; /* (timings on a later chunk only: the whole reply's, spread at the end) */
    struct trace_log *log = t->log;
    if (first) {
        t->srv_per_chunk = true;
        log->tok[t->prompt_idx].ns_server =
            turn_ms_to_ns((res->server_prompt_ms > 0 ? res->server_prompt_ms : 0) +
                          res->server_predicted_ms);
        t->srv_from = first_new;
    } else if (t->pending > t->srv_from) {
        uint64_t share = turn_ms_to_ns(res->server_predicted_ms - t->srv_prev_ms) /
                         (t->pending - t->srv_from);
        for (size_t i = t->srv_from; i < t->pending; i++)
            log->tok[i].ns_server = share;
        t->srv_from = t->pending;
    }
    t->srv_prev_ms = res->server_predicted_ms;
}

void turn_server_times_spread(struct turn *t)
{
    const struct backend_result *res = t->res;
    struct trace_log *log = t->log;
    if (t->srv_per_chunk || res->server_predicted_ms < 0 || log->n <= t->prompt_idx)
        return;
    log->tok[t->prompt_idx].ns_server = turn_ms_to_ns(res->server_prompt_ms);
    size_t n_fed = 0;
    for (size_t i = t->prompt_idx + 1; i < log->n; i++)
        n_fed += log->tok[i].fed;
    for (size_t i = t->prompt_idx + 1; n_fed && i < log->n; i++)
        if (log->tok[i].fed)
            log->tok[i].ns_server = turn_ms_to_ns(res->server_predicted_ms) / n_fed;
}

/* Times for the records a content chunk completes (see the top of the file). */
static void turn_time_chunk(struct turn *t, size_t first_new, uint64_t now)
{
    struct trace_log *log = t->log;
    bool first = !t->got_content;
    if (first) {
        t->got_content = true;
        t->res->ttft_ms = (double)(now - t->t0) / 1e6;
        log->tok[t->prompt_idx].ns_total = now - t->t0;
        log->tok[t->prompt_idx].fed = true;
        t->pending = first_new;
    } else if (log->n > t->pending + 1) {
        size_t count = log->n - 1 - t->pending;
        uint64_t share = t->streamed ? (now - t->t_last) / count : 0;
        for (size_t i = t->pending; i < log->n - 1; i++) {
            log->tok[i].ns_total = share;
            log->tok[i].fed = true;
        }
        t->pending = log->n - 1;
    }
    turn_server_chunk(t, first_new, first);
    t->t_last = now;
    t->res->n_chunks++;
}

/* ---- routed experts ---- */

static int turn_take_b64(struct turn *t, const cJSON *v, bool npy, struct routed_experts *into,
                         const char *what)
{
    if (!cJSON_IsString(v))
        return 0;
    struct routed_experts got;
    int rc;
    if (npy) {
        rc = routed_from_b64_npy(v->valuestring, strlen(v->valuestring), &got, what, t->err,
                                 sizeof t->err);
    } else {
        if (!t->r->experts_layers) {
            t->exp_shape_missing = true;
            return 0;
        }
        rc = routed_from_b64_int32(v->valuestring, strlen(v->valuestring), t->r->experts_layers,
                                   t->r->experts_k, &got, what, t->err, sizeof t->err);
    }
    if (rc == 0) {
        rc = routed_append(into, &got, t->err, sizeof t->err);
        routed_free(&got);
    }
    return rc;
}

static int turn_take_experts(struct turn *t, const cJSON *j, const cJSON *choice)
{
    const cJSON *where[2] = { choice, j };
    for (int w = 0; w < 2; w++) {
        if (!cJSON_IsObject(where[w]))
            continue;
        if (turn_take_b64(t, cJSON_GetObjectItemCaseSensitive(where[w], "routed_experts"), true,
                          &t->gen_exp, "routed_experts") != 0 ||
            turn_take_b64(t, cJSON_GetObjectItemCaseSensitive(where[w], "prompt_routed_experts"),
                          true, &t->prompt_exp, "prompt_routed_experts") != 0)
            return -1;
        const cJSON *sgl = cJSON_GetObjectItemCaseSensitive(where[w], "sgl_ext");
        if (cJSON_IsObject(sgl) &&
            turn_take_b64(t, cJSON_GetObjectItemCaseSensitive(sgl, "routed_experts"), false,
                          &t->gen_exp, "sgl_ext.routed_experts") != 0)
            return -1;
    }
    return 0;
}

/* A log of a new shape holding the same records (layers kept when the layer count is the
 * same). Returns 0, or -1 when memory runs out (log untouched). */
static int turn_reshape(struct trace_log *log, int n_layers, int n_experts, int k)
{
    struct trace_log nl;
    if (trace_log_init(&nl, n_layers, n_experts, k) != 0)
        return -1;
    for (size_t i = 0; i < log->n; i++) {
        const struct trace_token *o = &log->tok[i];
        if (trace_log_push(&nl, o->token, trace_piece(log, i), o->piece_len, o->prompt) < 0) {
            trace_log_free(&nl);
            return -1;
        }
        struct trace_token *d = &nl.tok[i];
        uint32_t off = d->piece_off;
        *d = *o;
        d->piece_off = off;
        if (log->n_layers == n_layers)
            memcpy(trace_layers(&nl, i), trace_layers(log, i), (size_t)n_layers * sizeof
                   (struct trace_layer));
    }
    trace_log_free(log);
    *log = nl;
    trace_log_touch(log);
    return 0;
}

/* Writes e's tokens [0, count) into records [at, at + count). */
static void turn_fill_layers(struct trace_log *log, size_t at, const struct routed_experts *e,
                             size_t count)
{
    for (size_t ti = 0; ti < count; ti++)
        for (int l = 0; l < e->n_layers; l++) {
            struct trace_layer *ly = &trace_layers(log, at + ti)[l];
            memset(ly, 0, sizeof *ly);
            ly->n = (uint8_t)e->top_k;
            for (int k = 0; k < e->top_k; k++)
                ly->experts[k] = e->ids[(ti * (size_t)e->n_layers + (size_t)l) * (size_t)e->top_k +
                                        (size_t)k];
            ly->entropy = NAN; /* a server reports ids only */
            ly->top1_prob = NAN;
        }
}

static int turn_apply_experts(struct turn *t, size_t n_prompt)
{
    struct routed_experts *g = &t->gen_exp, *p = &t->prompt_exp;
    struct routed_experts *any = g->ids ? g : p->ids ? p : NULL;
    if (!any)
        return 0;
    int layers = any->n_layers, k = any->top_k, max_id = -1;
    for (int w = 0; w < 2; w++) {
        const struct routed_experts *e = w ? p : g;
        if (e->ids && (e->n_layers != layers || e->top_k != k)) {
            snprintf(t->err, sizeof t->err, "routed experts of the prompt and the reply differ in "
                     "shape ([%d, %d] and [%d, %d])", p->n_layers, p->top_k, g->n_layers,
                     g->top_k);
            return -1;
        }
        for (size_t i = 0; e->ids && i < (size_t)e->n_tokens * (size_t)layers * (size_t)k; i++)
            max_id = e->ids[i] > max_id ? e->ids[i] : max_id;
    }
    struct trace_log *log = t->log;
    int n_experts = max_id + 1 > log->n_experts ? max_id + 1 : log->n_experts;
    if (log->n_layers != layers || log->n_experts_used != k || log->n_experts != n_experts) {
        if (log->n_layers != 0 && log->n_layers != layers) {
            snprintf(t->err, sizeof t->err, "routed experts have %d layers, earlier ones %d",
                     layers, log->n_layers);
            return -1;
        }
        if (turn_reshape(log, layers, n_experts, k > log->n_experts_used ? k : log->n_experts_used)
            != 0)
            return -1;
    }
    struct model_desc *d = &t->r->base.info.model;
    d->n_layers = log->n_layers;
    d->n_experts = log->n_experts;
    d->n_experts_used = log->n_experts_used;
    t->r->base.info.reports |= BACKEND_REPORTS_EXPERTS;
    size_t gen_at = t->prompt_idx + n_prompt, n_gen = log->n - gen_at;
    if (p->ids)
        turn_fill_layers(log, t->prompt_idx, p, (size_t)p->n_tokens < n_prompt ? (size_t)p->n_tokens
                                                                                : n_prompt);
    if (g->ids) {
        /* SGLang counts prompt and reply tokens in one array when it sends both. */
        size_t skip = !p->ids && (size_t)g->n_tokens >= n_prompt + n_gen - 1 && n_gen + 1 <
                      (size_t)g->n_tokens ? n_prompt : 0;
        if (skip)
            turn_fill_layers(log, t->prompt_idx, g, n_prompt);
        struct routed_experts tail = *g;
        tail.ids += skip * (size_t)layers * (size_t)k;
        tail.n_tokens -= (int)skip;
        turn_fill_layers(log, gen_at, &tail, (size_t)tail.n_tokens < n_gen ? (size_t)tail.n_tokens
                                                                           : n_gen);
    }
    trace_log_touch(log);
    return 0;
}

/* ---- the reply ---- */

bool turn_json_figure(const cJSON *v, double *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1e15))
        return false;
    *out = v->valuedouble;
    return true;
}

void turn_take_usage(struct turn *t, const cJSON *j)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    double x;
    if (cJSON_IsObject(u)) {
        if (turn_json_figure(cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens"), &x))
            t->usage_prompt = (long)x;
        if (turn_json_figure(cJSON_GetObjectItemCaseSensitive(u, "completion_tokens"), &x))
            t->usage_completion = (long)x;
    }
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "timings");
    if (!cJSON_IsObject(tm))
        return;
    t->chunk_timed = true;
    struct backend_result *res = t->res;
    struct { const char *key; double *d; long *l; } fields[] = {
        { "prompt_ms", &res->server_prompt_ms, NULL },
        { "predicted_ms", &res->server_predicted_ms, NULL },
        { "prompt_n", NULL, &res->server_prompt_n },
        { "predicted_n", NULL, &res->server_predicted_n },
        { "cache_n", NULL, &res->server_cache_n },
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (turn_json_figure(cJSON_GetObjectItemCaseSensitive(tm, fields[i].key), &x)) {
            if (fields[i].d)
                *fields[i].d = x;
            else
                *fields[i].l = (long)x;
        }
}

/* One JSON object of the reply (a stream event or the whole body). 0, or non-zero to stop. */
int turn_take_error(struct turn *t, const cJSON *j)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (!e)
        return 0;
    const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
    char said[300] = "";
    if (cJSON_IsString(m))
        text_escape_line(m->valuestring, strlen(m->valuestring), said, sizeof said);
    snprintf(t->err, sizeof t->err, "the server reported an error mid-reply: %s",
             said[0] ? said : "(no message)");
    return -1;
}

int turn_tokens_arrived(struct turn *t, size_t first_new)
{
    if (t->log->n == first_new)
        return 0;
    turn_time_chunk(t, first_new, turn_now());
    for (size_t i = first_new; i < t->log->n; i++)
        if (t->rq->on_token && !t->rq->on_token(t->rq->ud, t->log, i)) {
            t->user_stop = true;
            return 1;
        }
    return 0;
}

static int turn_take_object(struct turn *t, const cJSON *j)
{
    if (turn_take_error(t, j) != 0)
        return -1;
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(j, "system_fingerprint");
    struct backend_info *in = &t->r->base.info;
    if (cJSON_IsString(fp) && fp->valuestring[0]) {
        text_escape_line(fp->valuestring, strlen(fp->valuestring), in->fingerprint,
                         sizeof in->fingerprint);
        if (t->r->family == REMOTE_OPENAI) {
            t->r->family = remote_family_detect(NULL, NULL, fp->valuestring);
            snprintf(in->family, sizeof in->family, "%s", remote_families[t->r->family].name);
        }
    }
    turn_take_usage(t, j);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *choice = cJSON_GetArrayItem(choices, 0);
    if (turn_take_experts(t, j, choice) != 0)
        return -1;
    if (!cJSON_IsObject(choice))
        return 0;
    size_t first_new = t->log->n;
    long added = turn_take_tokens(t, choice);
    if (added < 0) {
        snprintf(t->err, sizeof t->err, "out of memory");
        return -1;
    }
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    if (cJSON_IsString(fr)) {
        t->finished = true;
        snprintf(t->finish, sizeof t->finish, "%s", fr->valuestring);
    }
    return turn_tokens_arrived(t, first_new);
}

static int turn_on_event(void *ud, const char *data, size_t len, uint64_t offset)
{
    struct turn *t = ud;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        t->done = true;
        return 0;
    }
    cJSON *j = remote_parse_json(data, len, offset, "the stream", t->err, sizeof t->err);
    if (!j)
        return -1;
    int rc = cJSON_IsObject(j) ? turn_take_object(t, j) : 0;
    cJSON_Delete(j);
    return rc;
}

static int turn_on_body(void *ud, const char *buf, size_t n)
{
    struct turn *t = ud;
    if (t->sse.offset == 0 && t->body_len == 0 && !t->sse_mode) {
        /* The first bytes decide: an event stream starts with a field or a comment. */
        t->sse_mode = t->streamed && (n == 0 || buf[0] != '{');
    }
    if (t->sse_mode) {
        char why[sizeof t->err];
        int rc = sse_feed(&t->sse, buf, n, turn_on_event, t, why, sizeof why);
        if (rc < 0 && !t->err[0])
            snprintf(t->err, sizeof t->err, "%s", why);
        return rc;
    }
    if (t->body_len + n + 1 > t->body_cap) {
        size_t cap = (t->body_len + n + 1) * 2;
        char *b = cap <= (size_t)SSE_MAX_EVENT * 4 ? realloc(t->body, cap) : NULL;
        if (!b) {
            snprintf(t->err, sizeof t->err, "a reply of more than %d MiB", SSE_MAX_EVENT * 4 >> 20);
            return -1;
        }
        t->body = b;
        t->body_cap = cap;
    }
    memcpy(t->body + t->body_len, buf, n);
    t->body_len += n;
    t->body[t->body_len] = 0;
    return 0;
}

static bool turn_should_stop(void *ud)
{
    const struct turn *t = ud;
    return t->rq->should_stop && t->rq->should_stop(t->rq->ud);
}

/* The turn's prompt records: as many as the context grew by, their times summing to TTFT. */
static int turn_expand_prompt(struct turn *t, size_t *n_prompt)
{
    struct trace_log *log = t->log;
    long want = t->usage_prompt > 0 ? t->usage_prompt - (long)t->prompt_idx : 1;
    if (want < 1)
        want = 1;
    if (want > TURN_MAX_PROMPT)
        want = TURN_MAX_PROMPT;
    *n_prompt = (size_t)want;
    if (want == 1)
        return 0;
    struct trace_log gen;
    if (trace_log_init(&gen, log->n_layers, log->n_experts, log->n_experts_used) != 0)
        return -1;
    int rc = 0;
    for (size_t i = t->prompt_idx + 1; rc == 0 && i < log->n; i++)
        rc = trace_log_copy_from(&gen, log, i) < 0 ? -1 : 0;
    uint64_t ttft = log->tok[t->prompt_idx].ns_total;
    uint64_t server = log->tok[t->prompt_idx].ns_server;
    bool fed = log->tok[t->prompt_idx].fed;
    size_t first_len = log->tok[t->prompt_idx].piece_len;
    char *first = malloc(first_len + 1);
    if (!first) {
        trace_log_free(&gen);
        return -1;
    }
    memcpy(first, trace_piece(log, t->prompt_idx), first_len);
    trace_log_truncate(log, t->prompt_idx);
    for (long i = 0; rc == 0 && i < want; i++) {
        if (trace_log_push(log, 0, first, i ? 0 : first_len, true) < 0) {
            rc = -1;
            break;
        }
        struct trace_token *rec = &log->tok[log->n - 1];
        rec->fed = fed;
        rec->ns_total = ttft / (uint64_t)want + (i == want - 1 ? ttft % (uint64_t)want : 0);
        rec->ns_server = server / (uint64_t)want + (i == want - 1 ? server % (uint64_t)want : 0);
    }
    for (size_t i = 0; rc == 0 && i < gen.n; i++)
        rc = trace_log_copy_from(log, &gen, i) < 0 ? -1 : 0;
    for (size_t i = t->prompt_idx; i < log->n; i++)
        log->tok[i].pos = (int32_t)i;
    free(first);
    trace_log_free(&gen);
    trace_log_touch(log);
    return rc;
}

static void turn_free(struct turn *t)
{
    sse_free(&t->sse);
    free(t->body);
    routed_free(&t->gen_exp);
    routed_free(&t->prompt_exp);
}

/* After the transfer: the stop reason and message. Returns the backend_generate value. */
static int turn_conclude(struct turn *t, int http_rc, const struct http_response *resp,
                         const char *http_err)
{
    struct backend_result *res = t->res;
    const char *url = t->r->base.info.url;
    bool got = res->n_gen > 0;
    if (t->user_stop || resp->stopped) {
        res->stop = BACKEND_STOP_USER;
    } else if (resp->status && (resp->status < 200 || resp->status >= 300)) {
        remote_explain_status(t->r, "", resp, res->msg, sizeof res->msg);
        res->stop = BACKEND_STOP_ERROR;
    } else if (http_rc != 0) {
        if (t->err[0])
            snprintf(res->msg, sizeof res->msg, "%s: %s", url, t->err);
        else
            snprintf(res->msg, sizeof res->msg, "%s", http_err);
        res->stop = got ? BACKEND_STOP_INTERRUPTED : BACKEND_STOP_ERROR;
    } else if (!t->sse_mode && t->body_len) {
        cJSON *j = remote_parse_json(t->body, t->body_len, 0, "the reply", t->err, sizeof t->err);
        if (!j || turn_take_object(t, j) < 0) {
            snprintf(res->msg, sizeof res->msg, "%s: %s", url, t->err);
            res->stop = res->n_gen ? BACKEND_STOP_INTERRUPTED : BACKEND_STOP_ERROR;
        }
        cJSON_Delete(j);
        got = res->n_gen > 0;
    } else if (!t->finished && !t->done) {
        snprintf(res->msg, sizeof res->msg, "%s: the stream ended before the reply did (after "
                 "%zu tokens%s)", url, res->n_gen, sse_pending(&t->sse) ? ", inside an event" : "");
        res->stop = got ? BACKEND_STOP_INTERRUPTED : BACKEND_STOP_ERROR;
    }
    if (res->msg[0] == 0 || res->stop == BACKEND_STOP_USER) {
        if (res->stop != BACKEND_STOP_USER)
            res->stop = !strcmp(t->finish, "length") ? BACKEND_STOP_LENGTH : BACKEND_STOP_EOG;
    } else if (res->stop == BACKEND_STOP_INTERRUPTED) {
        snprintf(res->msg + strlen(res->msg), sizeof res->msg - strlen(res->msg),
                 "; the partial reply is kept, marked interrupted");
    }
    if (t->exp_shape_missing && res->stop != BACKEND_STOP_ERROR && !res->msg[0])
        snprintf(res->msg, sizeof res->msg, "%s sent routed experts without their shape: give "
                 "--experts-shape LAYERS,K to read them", url);
    remote_scrub(t->r, res->msg);
    return res->stop == BACKEND_STOP_ERROR && !got ? -1 : 0;
}

int remote_generate(struct backend *b, const struct backend_request *rq, struct trace_log *log,
                    struct backend_result *res)
{
    struct remote *r = (struct remote *)b;
    struct turn t = { .r = r, .rq = rq, .log = log, .res = res };
    sse_init(&t.sse);
    const struct remote_family_info *f = &remote_families[r->family];
    t.streamed = !(f->experts_npy && r->routed_experts);
    bool chat = rq->msgs != NULL;
    t.native = r->native;
    char *json = t.native ? ollama_request_json(&t, chat) : turn_request_json(&t, chat);
    t.prompt_idx = log->n;
    /* The first prompt record's piece: the new text, or without one the last message. */
    const char *said = rq->text ? rq->text + (rq->text_new < rq->len ? rq->text_new : rq->len)
                       : rq->n_msgs > 0 ? rq->msgs[rq->n_msgs - 1].content : "";
    size_t said_len = rq->text ? (size_t)(rq->text + rq->len - said) : strlen(said);
    if (!json || trace_log_push(log, 0, said, said_len, true) < 0) {
        free(json);
        snprintf(res->msg, sizeof res->msg, "out of memory");
        res->stop = BACKEND_STOP_ERROR;
        return -1;
    }
    char url[2100], shown[600], http_err[1024] = "";
    /* Ollama's own API is at the server's root, beside /v1 (both end in /v1) */
    const char *path = t.native ? ollama_path(chat) : chat ? "chat/completions" : "completions";
    int cut = t.native ? 3 : 0;
    snprintf(url, sizeof url, "%.*s/%s", (int)strlen(r->api) - cut, r->api, path);
    snprintf(shown, sizeof shown, "%.*s/%s", (int)strlen(b->info.url) - cut, b->info.url, path);
    struct http_opts ho = r->http;
    ho.should_stop = turn_should_stop;
    ho.stop_ud = &t;
    struct http_response resp;
    t.t0 = turn_now();
    int http_rc = http_request(&ho, url, shown, json, t.native ? ollama_on_body : turn_on_body,
                               &t, &resp, http_err, sizeof http_err);
    if (t.native && http_rc == 0 && resp.status >= 200 && resp.status < 300 &&
        ollama_finish(&t) != 0)
        http_rc = -1; /* a last line that does not parse: said as t.err */
    free(json);
    int rc = turn_conclude(&t, http_rc, &resp, http_err);
    res->http_status = (int)resp.status;
    res->streamed = t.streamed;
    if (!t.streamed) /* one whole reply: routed, but no time of its own (see the top) */
        for (size_t i = t.prompt_idx + 1; i < log->n; i++)
            log->tok[i].fed = true;
    turn_server_times_spread(&t);
    size_t n_prompt = 1;
    if (res->stop == BACKEND_STOP_ERROR && res->n_gen == 0) {
        trace_log_truncate(log, t.prompt_idx); /* nothing of the turn stays */
    } else if (turn_expand_prompt(&t, &n_prompt) != 0 || turn_apply_experts(&t, n_prompt) != 0) {
        snprintf(res->msg, sizeof res->msg, "%s: %s", b->info.url,
                 t.err[0] ? t.err : "out of memory");
    }
    res->n_prompt = log->n > t.prompt_idx ? n_prompt : 0;
    /* Record ids are piece numbers (pieces.h): the vocabulary sessions check them against. */
    b->info.model.n_vocab = r->pieces.n;
    http_response_free(&resp);
    turn_free(&t);
    return rc;
}
