/* remote/remote_impl.h: the remote backend's state, shared by remote.c (opening, the served
 * models, messages) and turn.c (one streamed turn). */
#ifndef MOESCOPE_REMOTE_IMPL_H
#define MOESCOPE_REMOTE_IMPL_H

#include <cjson/cJSON.h>

#include "backend_impl.h"
#include "family.h"
#include "http.h"
#include "pieces.h"

struct remote {
    struct backend base;       /* first: a struct backend * is a struct remote * */
    char api[2048];            /* the base URL ending in /v1, credentials included (curl) */
    char *key;                 /* the API key, or NULL; wiped on close */
    char ca_file[4096];        /* --ca-cert, $CURL_CA_BUNDLE or $SSL_CERT_FILE ("": none) */
    char ca_from[4200];        /* how messages name it */
    struct http_opts http;
    enum remote_family family;
    char **served;             /* (n_served) the ids /v1/models listed */
    int n_served;
    bool routed_experts;       /* --routed-experts */
    bool native;               /* --native: Ollama's /api/chat and /api/generate (ollama_api.h) */
    int experts_layers, experts_k; /* --experts-shape */
    struct remote_pieces pieces;
};

/* The one line for a response that is not 2xx: names the URL and the status, the key's
 * source for 401/403 (never the key), the served models for 404, Retry-After for 429/503,
 * and the server's own message (escaped). */
void remote_explain_status(const struct remote *r, const char *what,
                           const struct http_response *resp, char *err, size_t errlen);
/* Removes every run of 6 or more characters of the key from msg (a server may quote it). */
void remote_scrub(const struct remote *r, char *msg);
/* cJSON's parse of text[0..n) with the byte offset of an error (from base). */
cJSON *remote_parse_json(const char *text, size_t n, uint64_t base, const char *what,
                         char *err, size_t errlen);

int remote_generate(struct backend *b, const struct backend_request *rq, struct trace_log *log,
                    struct backend_result *res);

#endif
