/* backend/backend.h: what generates tokens, behind one interface: the in-process engine
 * (backend_local.c over engine.h) or an OpenAI-compatible server (remote/). The front ends
 * (run, bench, info, the app's worker) open a backend from `-m MODEL|URL` and ask it for
 * turns; the records it appends to the caller's trace_log are the same contract either way:
 * a remote backend fills what its server reports and leaves the rest unset (see
 * backend_info.reports), it never invents a zero.
 *
 * Not thread-safe: one thread drives one backend. Errors: -1 (or NULL) with one line in the
 * caller's buffer that names the file or URL; a key is never part of a message. */
#ifndef MOESCOPE_BACKEND_H
#define MOESCOPE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"
#include "engine.h"
#include "trace.h"
#include "trace_stats.h"

/* What a backend fills in the records it appends (bits of backend_info.reports). */
enum backend_report {
    BACKEND_REPORTS_LOGPROBS = 1 << 0,  /* logprob and the top alternatives */
    BACKEND_REPORTS_EXPERTS = 1 << 1,   /* the routed expert ids per layer */
    BACKEND_REPORTS_GATES = 1 << 2,     /* gate weights */
    BACKEND_REPORTS_ENTROPY = 1 << 3,   /* router entropy and top-1 probability */
    BACKEND_REPORTS_SPLIT = 1 << 4,     /* the attention/router/experts time split */
    BACKEND_REPORTS_SERVER_TIMES = 1 << 5, /* the server's own prompt and decode times */
    BACKEND_REPORTS_TOKEN_IDS = 1 << 6, /* the model's own token ids */
    BACKEND_REPORTS_TOKEN_TIMES = 1 << 7, /* a time per token (a stream, or the engine) */
};

/* Where the model comes from and how to reach it: what `-m` and its companions set. One
 * parser (backend_args_take) fills it for every command, so a new kind of -m value is added
 * in one place. */
struct backend_args {
    const char *model;         /* -m: a GGUF path or http(s)://HOST:PORT[/v1]; NULL: default */
    const char *served_model;  /* --model NAME with a URL: the served model (default: first) */
    const char *api_key_file;  /* --api-key-file FILE (else $MOESCOPE_API_KEY) */
    const char *ca_cert;       /* --ca-cert FILE (else $CURL_CA_BUNDLE, $SSL_CERT_FILE) */
    double timeout_s;          /* --timeout S: read timeout for a URL (0: 60 s) */
    bool insecure;             /* --insecure: no TLS certificate check */
    bool routed_experts;       /* --routed-experts: ask the server for expert ids */
    bool native;               /* --native: Ollama's own /api/chat (its durations) */
    int experts_layers, experts_k; /* --experts-shape L,K: SGLang's raw ids carry no shape */
    bool model_from_long;      /* model came from --model (a later -m URL makes it the name) */
};

/* If argv[*i] is one of the options above, takes it (and its value, advancing *i) and
 * returns 1; 0 when it is not one of them; -1 with a message in err for a bad or missing
 * value. `--model` is -m's long name unless -m already named a URL (then it names the served
 * model). */
int backend_args_take(struct backend_args *a, int argc, char **argv, int *i, char *err,
                      size_t errlen);
/* The usage lines of those options, for a command's --help. */
extern const char backend_args_usage[];
/* http:// or https:// */
bool backend_is_url(const char *model);

struct backend_params {
    struct backend_args args;
    int n_threads, n_ctx;      /* local */
    struct sampler_params sampler;
    bool trace, prewarm, mlock; /* local (engine_params) */
};

struct backend_info {
    struct model_desc model;   /* local: the GGUF's; remote: what the server tells */
    bool remote;
    char family[16];           /* "local", "llama-server", "vllm", "sglang", "ollama", "openai" */
    char url[512];             /* remote: the base URL without credentials */
    char served_model[256];    /* remote */
    char served_list[512];     /* remote: every model /v1/models listed, ", "-separated */
    char fingerprint[128];     /* remote: system_fingerprint or the Server header */
    char key_source[300];      /* remote: where the key came from ("" when none), never it */
    bool insecure;
    unsigned reports;          /* enum backend_report bits */
    int n_ctx;                 /* local: the context; remote: the server's when told, else 0 */
};

struct backend;

struct backend *backend_open(const struct backend_params *p, char *err, size_t errlen);
void backend_close(struct backend *b);
const struct backend_info *backend_info(const struct backend *b);
/* "not reported by this server: gate weights, entropy, ..." for what reports lacks, into
 * buf ("" for a backend that reports everything). */
size_t backend_missing_text(unsigned reports, char *buf, size_t buflen);

/* The server's own times beside the client's, from a range's trace_speed (the records'
 * ns_server): into server "server TTFT 13.6 ms, 0.53 ms/tok (p95 0.61)" and into pipe
 * "network+queue TTFT +3.7 ms, +0.12 ms/tok" (client minus server: the seeds'
 * "is it compute or the pipeline?"). Returns false (both "") when no record has them. */
bool backend_server_share(const struct trace_speed *s, char *server, size_t server_len,
                          char *pipe, size_t pipe_len);

struct backend_request {
    const char *system;        /* chat: the system prompt, or NULL */
    const struct chat_msg *msgs; /* chat: the conversation after the system prompt */
    int n_msgs;
    const char *text;          /* raw (msgs == NULL): the prompt text; with msgs (optional),
                                * the messages' contents one after the other: what the
                                * records' pieces hold (text_new as below) */
    size_t len;
    const char *text_name;     /* what messages call the prompt (a file), or NULL */
    size_t text_new;           /* remote, raw: text[text_new..len) is what the log's records
                                * do not hold yet (the app resends the whole conversation);
                                * the turn's first prompt record carries it as its piece */
    enum chat_style style;     /* local chat: the template (NONE: the model's own) */
    struct sampler_params sp;
    long n_predict;            /* -1: until the end or a full context */
    /* Local: a full context shifts as llama-cli's does (engine_set_context_shift) instead of
     * ending the turn with BACKEND_STOP_CONTEXT; n_keep is the prompt tokens after the BOS a
     * shift keeps (-1: the whole prompt; BACKEND_KEEP_SYSTEM: the system prompt's). A server
     * keeps its own context: a remote backend ignores both. */
    bool context_shift;
    long n_keep;
    /* After each generated record is appended: false stops the turn (BACKEND_STOP_USER). */
    bool (*on_token)(void *ud, const struct trace_log *log, size_t idx);
    /* Polled while waiting on the network or the engine: true stops the turn. May be NULL. */
    bool (*should_stop)(void *ud);
    void *ud;
};

enum { BACKEND_KEEP_SYSTEM = -2 };

enum backend_stop {
    BACKEND_STOP_EOG,          /* the model ended its turn */
    BACKEND_STOP_LENGTH,       /* n_predict reached */
    BACKEND_STOP_CONTEXT,      /* the context is full */
    BACKEND_STOP_USER,         /* on_token or should_stop asked */
    BACKEND_STOP_INTERRUPTED,  /* the stream was cut: the partial reply is kept */
    BACKEND_STOP_ERROR,        /* nothing usable (msg says why) */
    BACKEND_STOP_COUNT
};
extern const char *const backend_stop_names[BACKEND_STOP_COUNT];

struct backend_result {
    enum backend_stop stop;
    size_t first;              /* index of the turn's first record in the log */
    size_t n_prompt, n_gen;
    double ttft_ms;            /* remote: request sent -> first content byte (client) */
    size_t n_chunks;           /* remote: content chunks received */
    bool streamed;             /* remote: false for one whole reply (no inter-token times) */
    /* The server's own figures (remote; -1 when not reported). */
    double server_prompt_ms, server_predicted_ms;
    double server_load_ms, server_total_ms; /* Ollama's native load_ and total_duration */
    long server_prompt_n, server_predicted_n, server_cache_n;
    int http_status;           /* remote: the reply's HTTP status (0: no reply) */
    char msg[1024];            /* the failure's or the cut's one line ("" otherwise) */
};

/* One turn: appends its prompt records and generated records to log (whose shape must be
 * the backend's: backend_log_init), calling rq->on_token after each generated one. Returns
 * 0 when the turn ran (res->stop says how it ended, msg why when cut), -1 when nothing
 * could be generated (res->msg says why). */
int backend_generate(struct backend *b, const struct backend_request *rq, struct trace_log *log,
                     struct backend_result *res);
/* A log of the backend's current shape (a remote backend's shape may grow after a turn
 * returns expert ids: backend_generate reshapes a log that holds no routing yet). */
int backend_log_init(const struct backend *b, struct trace_log *log);
/* The text of a token id as the backend knows it (remote: the pieces it has seen), or 0. */
size_t backend_token_piece(const struct backend *b, int32_t id, char *buf, size_t buflen);
/* The local engine, or NULL for a remote backend (bench's engine-level measurements). */
struct engine *backend_engine(struct backend *b);

#endif
