/* remote/ollama_api.h: Ollama's own API (--native): POST /api/chat (messages) or /api/generate
 * (raw text), streamed as NDJSON, one JSON object a line; the last one has done: true and
 * the server's durations in nanoseconds (prompt_eval_duration, eval_duration,
 * load_duration, total_duration) with prompt_eval_count and eval_count. Tokens come with
 * logprobs where the version supports them ({token, bytes, logprob, top_logprobs} entries
 * beside the message), else one record per line of text. */
#ifndef MOESCOPE_OLLAMA_API_H
#define MOESCOPE_OLLAMA_API_H

#include <stdbool.h>
#include <stddef.h>

struct turn;

/* The request body (malloc'd), or NULL when memory runs out. */
char *ollama_request_json(const struct turn *t, bool chat);
/* The path after the server's root: "api/chat" or "api/generate". */
const char *ollama_path(bool chat);
/* http_body_fn for the stream: complete lines are taken as they arrive. */
int ollama_on_body(void *ud, const char *buf, size_t n);
/* After the transfer: a last line without its newline. 0, or -1 with t->err. */
int ollama_finish(struct turn *t);

#endif
