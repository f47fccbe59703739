/* tui/worker.h: the engine on its own thread (worker.c); the UI copies out its status and
 * records and never waits for it. */
#ifndef MOESCOPE_WORKER_H
#define MOESCOPE_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "detok.h" /* utf8_complete_prefix */
#include "engine.h"
#include "trace.h"

enum worker_state {
    WORKER_LOADING,            /* opening the model */
    WORKER_IDLE,               /* ready for a job */
    WORKER_PREFILL,            /* feeding the prompt */
    WORKER_GENERATING,         /* sampling a reply */
    WORKER_FAILED,             /* the model could not be opened: err says why */
    WORKER_STATE_COUNT
};

enum reply_end {
    REPLY_EOG,                 /* the model ended its turn */
    REPLY_STOPPED,             /* Esc */
    REPLY_LIMIT,               /* n_predict tokens */
    REPLY_CTX_FULL,            /* the context is full */
    REPLY_ERROR,               /* err says what */
    REPLY_FED,                 /* a feed-only job (a loaded conversation) is in the cache */
    REPLY_INTERRUPTED,         /* a remote stream was cut: the partial reply stays, err says why */
    REPLY_TOO_LONG,            /* the conversation and a reply do not fit (need_tokens): the
                                  app drops its oldest turn and sends again */
};

/* What the UI copies out of the worker on each take. */
struct worker_status {
    enum worker_state state;
    bool opened;               /* desc, n_ctx and the vocabulary are valid */
    struct model_desc desc;    /* the model's shape (when opened) */
    int n_ctx;                 /* the context size in use */
    int n_threads;             /* threads the engine was asked for (0 = cores) */
    char err[512];             /* the last error: open failure or a failed reply */
    unsigned long done_seq;    /* counts finished replies: a change means one ended */
    enum reply_end done_why;   /* how the last reply ended */
    char *reply;               /* the reply so far (complete UTF-8 only), UI-owned copy */
    size_t reply_len;
    size_t reply_cap;
    long reply_first;          /* the log index of the reply's first token, -1 = none */
    size_t prefill_done;       /* prompt tokens fed so far, of prefill_total (PREFILL) */
    size_t prefill_total;
    /* A remote engine (backend.h): "llama-server at URL", and what it does not report
     * ("not reported by this server: gate weights, ..."); both "" for the local engine. */
    char backend[600];
    char missing[200];
    unsigned reports;          /* a remote engine: enum backend_report bits */
    /* A remote engine that takes /v1/chat/completions (its own chat template): true from
     * the open until the server refuses that endpoint; api_said then says why, and the
     * replies go as raw text to /v1/completions. */
    bool chat_api;
    char api_said[400];
    char fingerprint[128];     /* a remote engine's system_fingerprint or Server header */
    size_t chunks, chunk_tokens; /* a remote engine's last reply: the content chunks of its
                                  * stream and the tokens they brought (tokens per chunk) */
    size_t need_tokens;        /* REPLY_TOO_LONG: the conversation's tokens */
    int n_past;                /* tokens in the model's context after the last job */
    size_t shift_dropped;      /* tokens the last reply's context shifts dropped */
};

/* The vocabulary as plain data, built once by the worker after opening the model so the
 * UI can show a token id's text without touching the engine (which is not thread-safe). */
struct vocab_table {
    int n;                     /* tokens */
    uint32_t *off;             /* (n + 1) offsets into text */
    char *text;                /* every piece, back to back */
};

struct worker;
/* Starts the thread, which opens the model (the status says when it is ready). The
 * worker keeps its own copy of params and the path. When the path is an http(s):// URL the
 * worker drives that server through backend.h instead. Returns NULL on failure (err set). */
struct worker *worker_start(const struct engine_params *params, char *err, size_t errlen);
/* The same with a server's options (-m URL's companions; the strings must outlive the
 * worker; NULL: defaults). */
struct worker *worker_start_with(const struct engine_params *params,
                                 const struct backend_args *remote, char *err, size_t errlen);
/* Asks the thread to end and waits at most timeout_ms for it; a worker still inside the
 * engine after that is left behind (the process is exiting). */
void worker_quit(struct worker *w, int timeout_ms);
/* A file descriptor that becomes readable when the worker has something new (poll it). */
int worker_wake_fd(const struct worker *w);
/* Starts a reply to the rendered conversation text (the whole conversation: the worker
 * reuses the common prefix with what the engine has seen). Returns -1 when busy. */
int worker_submit_reply(struct worker *w, const char *text, size_t len,
                        const struct sampler_params *sp, int n_predict);
/* For the next reply: its first keep_bytes bytes (the system prompt) stay when the context
 * shifts; can_drop: the app can drop an older turn, so a conversation that leaves less
 * than a quarter of the context for the reply ends REPLY_TOO_LONG instead of being sent.
 * Call it just before worker_submit_reply. */
void worker_set_context(struct worker *w, size_t keep_bytes, bool can_drop);
/* For the next reply on a server that takes the chat endpoint (worker_status.chat_api):
 * the conversation as messages, the system prompt first when there is one; the reply's
 * text (worker_submit_reply) is then their contents one after the other, which is what
 * the records hold and what a raw fallback sends. Call just before worker_submit_reply.
 * Returns -1 when memory runs out (the reply then goes as raw text). */
int worker_set_messages(struct worker *w, const struct chat_msg *msgs, int n);
/* Feeds the rendered conversation without sampling (a loaded session, so the inspector
 * shows its records and the next reply starts at once). Returns -1 when busy. */
int worker_submit_feed(struct worker *w, const char *text, size_t len);
/* Forgets the context (/clear). Returns -1 when busy. */
int worker_submit_reset(struct worker *w);
/* Esc: the current reply ends after the token in flight. */
void worker_request_stop(struct worker *w);
/* Takes what the worker has posted: records into log, the rest into *st. Returns true when
 * anything changed. Never blocks longer than a copy. */
bool worker_take(struct worker *w, struct trace_log *log, size_t *first_changed,
                 struct worker_status *st);
/* The vocabulary, or NULL before the model is open. Immutable once returned. */
const struct vocab_table *worker_vocab(const struct worker *w);
bool worker_state_busy(enum worker_state s);
extern const char *const worker_state_names[WORKER_STATE_COUNT];

#endif
