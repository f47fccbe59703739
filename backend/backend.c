/* backend/backend.c: opening a backend from -m, and the calls every implementation shares. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend_impl.h"

const char *const backend_stop_names[BACKEND_STOP_COUNT] = {
    [BACKEND_STOP_EOG] = "end of generation",
    [BACKEND_STOP_LENGTH] = "length",
    [BACKEND_STOP_CONTEXT] = "context full",
    [BACKEND_STOP_USER] = "stopped",
    [BACKEND_STOP_INTERRUPTED] = "interrupted",
    [BACKEND_STOP_ERROR] = "failed",
};

const char backend_args_usage[] =
    "  -m MODEL|URL         a GGUF file, or http(s)://HOST:PORT[/v1]: an OpenAI-compatible\n"
    "                       server (llama-server, vLLM, SGLang, Ollama)\n"
    "  --model NAME         with a URL: the served model (default: the first one listed)\n"
    "  --api-key-file FILE  with a URL: the API key (default: $MOESCOPE_API_KEY)\n"
    "  --timeout S          with a URL: give up after S seconds without data (default 60)\n"
    "  --insecure           with https://: do not check the server's certificate\n"
    "  --ca-cert FILE       with https://: trust the CA certificates in FILE (PEM)\n"
    "  --routed-experts     with a URL: ask vLLM or SGLang for the routed expert ids\n"
    "  --experts-shape L,K  SGLang's ids: L MoE layers, K experts per token\n"
    "  --native             with Ollama: its own /api/chat and /api/generate (its durations)\n";

bool backend_is_url(const char *model)
{
    return model && (!strncasecmp(model, "http://", 7) || !strncasecmp(model, "https://", 8));
}

int backend_args_take(struct backend_args *a, int argc, char **argv, int *i, char *err,
                      size_t errlen)
{
    const char *opt = argv[*i];
    bool is_model_long = !strcmp(opt, "--model");
    if (!strcmp(opt, "--insecure")) {
        a->insecure = true;
        return 1;
    }
    if (!strcmp(opt, "--routed-experts")) {
        a->routed_experts = true;
        return 1;
    }
    if (!strcmp(opt, "--native")) {
        a->native = true;
        return 1;
    }
    static const char *const with_value[] = {
        "-m", "--model", "--api-key-file", "--timeout", "--experts-shape", "--ca-cert",
    };
    bool known = false;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        known = known || !strcmp(opt, with_value[k]);
    if (!known)
        return 0;
    if (*i + 1 >= argc) {
        snprintf(err, errlen, "%s needs a value", opt);
        return -1;
    }
    const char *v = argv[++*i];
    if (!strcmp(opt, "-m")) {
        /* `--model NAME -m URL`: the earlier --model named the served model. */
        if (a->model_from_long && backend_is_url(v) && !a->served_model)
            a->served_model = a->model;
        a->model = v;
        a->model_from_long = false;
    } else if (is_model_long) {
        if (backend_is_url(a->model)) {
            a->served_model = v;
        } else {
            a->model = v;
            a->model_from_long = true;
        }
    } else if (!strcmp(opt, "--api-key-file")) {
        a->api_key_file = v;
    } else if (!strcmp(opt, "--ca-cert")) {
        a->ca_cert = v;
    } else if (!strcmp(opt, "--timeout")) {
        char *end;
        errno = 0;
        double t = strtod(v, &end);
        if (errno || end == v || *end || !(t > 0 && t <= 86400)) {
            snprintf(err, errlen, "bad value for --timeout: '%s' (seconds, more than 0)", v);
            return -1;
        }
        a->timeout_s = t;
    } else {
        int l, k;
        char c;
        if (sscanf(v, "%d,%d%c", &l, &k, &c) != 2 || l < 1 || l > 4096 || k < 1 ||
            k > TRACE_MAX_K) {
            snprintf(err, errlen, "bad value for --experts-shape: '%s' (LAYERS,K with K at "
                     "most %d)", v, TRACE_MAX_K);
            return -1;
        }
        a->experts_layers = l;
        a->experts_k = k;
    }
    return 1;
}

struct backend *backend_open(const struct backend_params *p, char *err, size_t errlen)
{
    if (backend_is_url(p->args.model))
        return backend_remote_open(p, err, errlen);
    return backend_local_open(p, err, errlen);
}

void backend_close(struct backend *b)
{
    if (b)
        b->ops->close(b);
}

const struct backend_info *backend_info(const struct backend *b)
{
    return &b->info;
}

struct engine *backend_engine(struct backend *b)
{
    return b->engine;
}

int backend_generate(struct backend *b, const struct backend_request *rq, struct trace_log *log,
                     struct backend_result *res)
{
    memset(res, 0, sizeof *res);
    res->server_prompt_ms = res->server_predicted_ms = -1;
    res->server_load_ms = res->server_total_ms = -1;
    res->server_prompt_n = res->server_predicted_n = res->server_cache_n = -1;
    res->first = log->n;
    return b->ops->generate(b, rq, log, res);
}

int backend_log_init(const struct backend *b, struct trace_log *log)
{
    const struct model_desc *d = &b->info.model;
    return trace_log_init(log, d->n_layers, d->n_experts, d->n_experts_used);
}

size_t backend_token_piece(const struct backend *b, int32_t id, char *buf, size_t buflen)
{
    return b->ops->token_piece(b, id, buf, buflen);
}

size_t backend_missing_text(unsigned reports, char *buf, size_t buflen)
{
    static const struct {
        unsigned bit;
        const char *what;
    } parts[] = {
        { BACKEND_REPORTS_LOGPROBS, "probabilities" },
        { BACKEND_REPORTS_EXPERTS, "expert ids" },
        { BACKEND_REPORTS_GATES, "gate weights" },
        { BACKEND_REPORTS_ENTROPY, "entropy" },
        { BACKEND_REPORTS_SPLIT, "time split" },
        { BACKEND_REPORTS_SERVER_TIMES, "server times" },
        { BACKEND_REPORTS_TOKEN_TIMES, "inter-token times (one whole reply)" },
    };
    size_t n = 0;
    if (buflen)
        buf[0] = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (reports & parts[i].bit)
            continue;
        int w = snprintf(buf + (n < buflen ? n : buflen), n < buflen ? buflen - n : 0, "%s%s",
                         n ? ", " : "not reported by this server: ", parts[i].what);
        n += w > 0 ? (size_t)w : 0;
    }
    return n;
}

bool backend_server_share(const struct trace_speed *s, char *server, size_t server_len,
                          char *pipe, size_t pipe_len)
{
    if (server_len)
        server[0] = 0;
    if (pipe_len)
        pipe[0] = 0;
    if (s->n_server == 0)
        return false;
    int a = snprintf(server, server_len, "server TTFT %.1f ms", s->server_ttft_ms);
    int b = snprintf(pipe, pipe_len, "network+queue TTFT %+.1f ms",
                     s->ttft_ms - s->server_ttft_ms);
    if (s->n_itl > 0 && s->server_decode_ms > 0 && a > 0 && b > 0 && (size_t)a < server_len &&
        (size_t)b < pipe_len) {
        double n = (double)s->n_itl;
        snprintf(server + a, server_len - (size_t)a, ", %.2f ms/tok (p95 %.2f)",
                 s->server_decode_ms / n, s->server_itl_p95_ms);
        snprintf(pipe + b, pipe_len - (size_t)b, ", %+.2f ms/tok",
                 (s->itl_mean_ms * n - s->server_decode_ms) / n);
    }
    return true;
}
