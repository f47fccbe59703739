/* remote/ollama.c: Ollama's native /api/chat and /api/generate (ollama_api.h). The records are
 * made as for the OpenAI endpoints (turn.c): the same times, pieces and logprobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ollama_api.h"
#include "sampler.h"
#include "turn_impl.h"

enum { OLLAMA_MAX_LINE = 16 << 20 };

const char *ollama_path(bool chat)
{
    return chat ? "api/chat" : "api/generate";
}

char *ollama_request_json(const struct turn *t, bool chat)
{
    const struct backend_request *rq = t->rq;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", t->r->base.info.served_model);
    turn_json_add_input(j, rq, chat);
    if (!chat)
        cJSON_AddBoolToObject(j, "raw", true); /* the text as it is: no template */
    cJSON_AddBoolToObject(j, "stream", true);
    cJSON_AddBoolToObject(j, "logprobs", true);
    cJSON_AddNumberToObject(j, "top_logprobs", TRACE_TOP);
    cJSON *o = cJSON_AddObjectToObject(j, "options");
    cJSON_AddNumberToObject(o, "temperature", rq->sp.temp);
    cJSON_AddNumberToObject(o, "top_p", rq->sp.top_p);
    cJSON_AddNumberToObject(o, "top_k", rq->sp.top_k);
    cJSON_AddNumberToObject(o, "min_p", rq->sp.min_p);
    cJSON_AddNumberToObject(o, "repeat_penalty", rq->sp.repeat_penalty);
    if (rq->sp.seed != SAMPLER_SEED_RANDOM)
        cJSON_AddNumberToObject(o, "seed", (double)(rq->sp.seed & 0x7fffffff));
    if (rq->n_predict >= 0)
        cJSON_AddNumberToObject(o, "num_predict", (double)rq->n_predict);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* The final line's counts and durations (ns) into the result. */
static void ollama_take_durations(struct turn *t, const cJSON *j)
{
    struct backend_result *res = t->res;
    const struct { const char *key; double *ms; long *n; } fields[] = {
        { "prompt_eval_duration", &res->server_prompt_ms, NULL },
        { "eval_duration", &res->server_predicted_ms, NULL },
        { "load_duration", &res->server_load_ms, NULL },
        { "total_duration", &res->server_total_ms, NULL },
        { "prompt_eval_count", NULL, &res->server_prompt_n },
        { "eval_count", NULL, &res->server_predicted_n },
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        double x;
        if (!turn_json_figure(cJSON_GetObjectItemCaseSensitive(j, fields[i].key), &x))
            continue;
        if (fields[i].ms)
            *fields[i].ms = x / 1e6;
        else
            *fields[i].n = (long)x;
    }
    if (res->server_prompt_n >= 0)
        t->usage_prompt = res->server_prompt_n;
}

/* One line's object. 0, or non-zero to stop. */
static int ollama_take_object(struct turn *t, const cJSON *j)
{
    if (turn_take_error(t, j) != 0)
        return -1;
    size_t first_new = t->log->n;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(j, "logprobs");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "response");
    if (!cJSON_IsString(text) && cJSON_IsObject(msg))
        text = cJSON_GetObjectItemCaseSensitive(msg, "content");
    int rc = 0;
    if (cJSON_IsArray(lp) && cJSON_GetArraySize(lp) > 0)
        rc = turn_take_entries(t, lp);
    else if (cJSON_IsString(text) && text->valuestring[0])
        rc = turn_push(t, text->valuestring, strlen(text->valuestring), false, 0, NULL);
    if (rc != 0) {
        snprintf(t->err, sizeof t->err, "out of memory");
        return -1;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "done"))) {
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(j, "done_reason");
        t->finished = true;
        snprintf(t->finish, sizeof t->finish, "%s",
                 cJSON_IsString(why) ? why->valuestring : "stop");
        ollama_take_durations(t, j);
    }
    return turn_tokens_arrived(t, first_new);
}

static int ollama_take_line(struct turn *t, const char *line, size_t n, uint64_t offset)
{
    while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    if (n == 0)
        return 0;
    cJSON *j = remote_parse_json(line, n, offset, "the stream", t->err, sizeof t->err);
    if (!j)
        return -1;
    int rc = cJSON_IsObject(j) ? ollama_take_object(t, j) : 0;
    cJSON_Delete(j);
    return rc;
}

int ollama_on_body(void *ud, const char *buf, size_t n)
{
    struct turn *t = ud;
    while (n) {
        const char *nl = memchr(buf, '\n', n);
        size_t take = nl ? (size_t)(nl - buf) : n;
        if (t->body_len + take + 1 > t->body_cap) {
            size_t cap = (t->body_len + take + 1) * 2;
            char *b = cap <= (size_t)OLLAMA_MAX_LINE * 2 ? realloc(t->body, cap) : NULL;
            if (!b) {
                snprintf(t->err, sizeof t->err, "a line of more than %d MiB at byte %llu of "
                         "the stream", OLLAMA_MAX_LINE >> 20,
                         (unsigned long long)t->line_offset);
                return -1;
            }
            t->body = b;
            t->body_cap = cap;
        }
        memcpy(t->body + t->body_len, buf, take);
        t->body_len += take;
        buf += take;
        n -= take;
        if (!nl)
            break;
        buf++; /* the newline */
        n--;
        int rc = ollama_take_line(t, t->body, t->body_len, t->line_offset);
        t->line_offset += t->body_len + 1;
        t->body_len = 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ollama_finish(struct turn *t)
{
    int rc = t->body_len ? ollama_take_line(t, t->body, t->body_len, t->line_offset) : 0;
    t->body_len = 0;
    return rc;
}
