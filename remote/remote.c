/* remote/remote.c: an OpenAI-compatible server behind backend.h: opening it (the key, the
 * served models, the family), and the messages for what a server refuses.
 *
 * Opening: GET BASE/v1/models (BASE is -m's URL; "/v1" is added when it does not end so).
 * The served model is --model NAME, which must be listed, else the first listed one. The
 * family comes from that entry's owned_by, the Server header, later also a reply's
 * system_fingerprint (family.h). llama-server's entry also carries the model's meta
 * (n_vocab, n_ctx_train, n_embd, n_params), which fills the description.
 *
 * The key: --api-key-file FILE (its first line, trimmed), else $MOESCOPE_API_KEY. It is
 * sent as "Authorization: Bearer" and kept nowhere else; every message a server sends back
 * is scrubbed of it before it is shown. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "remote_impl.h"
#include "text_escape.h"

enum { REMOTE_MAX_KEY = 4096 };

void remote_scrub(const struct remote *r, char *msg)
{
    if (!r->key || !r->key[0])
        return;
    size_t kn = strlen(r->key);
    size_t min_run = kn < 6 ? kn : 6; /* a short key is hidden only whole */
    for (char *p = msg; *p; p++) {
        size_t best = 0; /* the longest run at p that appears somewhere in the key */
        for (size_t s = 0; s < kn; s++) {
            size_t m = 0;
            while (p[m] && s + m < kn && p[m] == r->key[s + m])
                m++;
            if (m > best)
                best = m;
        }
        if (best < min_run)
            continue;
        if (best >= 5) { /* never longer than what it replaces */
            memcpy(p, "[key]", 5);
            memmove(p + 5, p + best, strlen(p + best) + 1);
            p += 4;
        } else {
            memset(p, '*', best);
            p += best - 1;
        }
    }
}

cJSON *remote_parse_json(const char *text, size_t n, uint64_t base, const char *what,
                         char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, n, &end, false);
    if (!j) {
        uint64_t at = base + (end && end >= text ? (uint64_t)(end - text) : 0);
        char near[40];
        size_t k = end && end >= text ? (size_t)(end - text) : 0;
        text_escape_line(text + k, n - k < 16 ? n - k : 16, near, sizeof near);
        snprintf(err, errlen, "malformed JSON at byte %" PRIu64 " of %s (near '%s')", at, what,
                 near);
    }
    return j;
}

/* The message a server put in an error body: {"error": {"message"}}, {"error": "..."},
 * {"detail": ...} (FastAPI), {"message": ...}; else the body's start. Escaped, one line. */
static void remote_server_message(const struct http_response *resp, char *out, size_t outlen)
{
    out[0] = 0;
    if (!resp->body || !resp->len)
        return;
    cJSON *j = cJSON_ParseWithLength(resp->body, resp->len);
    const char *m = NULL;
    if (j) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *msg = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
        if (!cJSON_IsString(msg))
            msg = cJSON_GetObjectItemCaseSensitive(j, "detail");
        if (!cJSON_IsString(msg))
            msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (cJSON_IsString(msg))
            m = msg->valuestring;
    }
    size_t n = m ? strlen(m) : resp->len;
    if (n > 200)
        n = 200;
    text_escape_line(m ? m : resp->body, n, out, outlen);
    cJSON_Delete(j);
}

static void remote_served_list(const struct remote *r, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < r->n_served && n + 1 < outlen; i++) {
        int w = snprintf(out + n, outlen - n, "%s%s", i ? ", " : "", r->served[i]);
        n += w > 0 ? (size_t)w : 0;
    }
    if (!r->n_served)
        snprintf(out, outlen, "none");
}

void remote_explain_status(const struct remote *r, const char *what,
                           const struct http_response *resp, char *err, size_t errlen)
{
    char said[256], extra[600] = "";
    remote_server_message(resp, said, sizeof said);
    const char *url = r->base.info.url;
    long st = resp->status;
    if (st == 401 || st == 403) {
        if (r->base.info.key_source[0])
            snprintf(extra, sizeof extra, ": the server refused the API key from %s",
                     r->base.info.key_source);
        else
            snprintf(extra, sizeof extra, ": the server wants an API key (none given: "
                     "--api-key-file FILE or MOESCOPE_API_KEY)");
    } else if (st == 404 && r->n_served) {
        char list[400];
        remote_served_list(r, list, sizeof list);
        snprintf(extra, sizeof extra, ": model '%.150s' not found; served: %.300s",
                 r->base.info.served_model, list);
    } else if (st == 429 || st == 503) {
        if (resp->retry_after[0])
            snprintf(extra, sizeof extra, ": %s; the server asks to retry after %s%s",
                     st == 429 ? "too many requests" : "the server is busy", resp->retry_after,
                     strspn(resp->retry_after, "0123456789") == strlen(resp->retry_after)
                         ? " s" : "");
        else
            snprintf(extra, sizeof extra, ": %s (no Retry-After)",
                     st == 429 ? "too many requests" : "the server is busy");
    }
    snprintf(err, errlen, "%s%s: HTTP %ld%s%s%s", url, what, st, extra, said[0] ? " - " : "",
             said);
    remote_scrub(r, err);
}

/* The CA certificates to trust: --ca-cert FILE, else $CURL_CA_BUNDLE, else $SSL_CERT_FILE
 * (as curl and OpenSSL read them), else the system's store. 0, or -1 when it cannot be
 * read. */
static int remote_set_ca(struct remote *r, const char *file, char *err, size_t errlen)
{
    static const char *const env[] = { "CURL_CA_BUNDLE", "SSL_CERT_FILE" };
    const char *from = "--ca-cert";
    for (size_t i = 0; !(file && file[0]) && i < sizeof env / sizeof env[0]; i++) {
        file = getenv(env[i]);
        from = env[i];
    }
    if (!file || !file[0])
        return 0;
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, errlen, "%s%s %s: %s", strcmp(from, "--ca-cert") ? "$" : "", from, file,
                 strerror(errno));
        return -1;
    }
    fclose(f);
    snprintf(r->ca_file, sizeof r->ca_file, "%s", file);
    snprintf(r->ca_from, sizeof r->ca_from, "%s%s %s", strcmp(from, "--ca-cert") ? "$" : "",
             from, file);
    r->http.ca_file = r->ca_file;
    r->http.ca_from = r->ca_from;
    return 0;
}

/* The key from --api-key-file or the environment; 0, or -1 with err (never the key). */
static int remote_read_key(struct remote *r, const char *file, char *err, size_t errlen)
{
    char buf[REMOTE_MAX_KEY + 2];
    size_t n = 0;
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) {
            snprintf(err, errlen, "--api-key-file %s: %s", file, strerror(errno));
            return -1;
        }
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        buf[strcspn(buf, "\r\n")] = 0;
        snprintf(r->base.info.key_source, sizeof r->base.info.key_source, "--api-key-file %s",
                 file);
    } else {
        const char *env = getenv("MOESCOPE_API_KEY");
        if (!env || !*env)
            return 0;
        snprintf(buf, sizeof buf, "%s", env);
        snprintf(r->base.info.key_source, sizeof r->base.info.key_source, "$MOESCOPE_API_KEY");
    }
    char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    if (n == 0 || n > REMOTE_MAX_KEY) {
        snprintf(err, errlen, "%s: %s", r->base.info.key_source,
                 n ? "longer than 4096 bytes" : "the API key is empty");
        memset(buf, 0, sizeof buf);
        return -1;
    }
    r->key = strdup(s);
    memset(buf, 0, sizeof buf);
    if (!r->key) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* api = url + "/v1" unless it ends so; shown = the same without user:password@. */
static int remote_set_url(struct remote *r, const char *url, char *err, size_t errlen)
{
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    bool has_v1 = n >= 3 && !strncmp(url + n - 3, "/v1", 3);
    if (n + 4 >= sizeof r->base.info.url) {
        snprintf(err, errlen, "the URL is longer than %zu bytes", sizeof r->base.info.url - 5);
        return -1;
    }
    snprintf(r->api, sizeof r->api, "%.*s%s", (int)n, url, has_v1 ? "" : "/v1");
    const char *scheme_end = strstr(r->api, "://");
    const char *host = scheme_end ? scheme_end + 3 : r->api;
    const char *slash = strchr(host, '/');
    const char *at = memchr(host, '@', slash ? (size_t)(slash - host) : strlen(host));
    char *shown = r->base.info.url;
    size_t cap = sizeof r->base.info.url;
    if (at)
        snprintf(shown, cap, "%.*s%.*s", (int)(host - r->api), r->api,
                 (int)(cap - 1 - (size_t)(host - r->api)), at + 1);
    else
        snprintf(shown, cap, "%.*s", (int)cap - 1, r->api);
    return 0;
}

static int remote_fetch_models(struct remote *r, const char *want, char *err, size_t errlen)
{
    char url[2100], shown[600];
    snprintf(url, sizeof url, "%s/models", r->api);
    snprintf(shown, sizeof shown, "%s/models", r->base.info.url);
    struct http_response resp;
    if (http_request(&r->http, url, shown, NULL, NULL, NULL, &resp, err, errlen) != 0) {
        http_response_free(&resp);
        return -1;
    }
    if (resp.status < 200 || resp.status >= 300) {
        remote_explain_status(r, "/models", &resp, err, errlen);
        if (resp.status == 404)
            snprintf(err + strlen(err), errlen - strlen(err),
                     " (not an OpenAI-compatible server? it has no /v1/models)");
        http_response_free(&resp);
        return -1;
    }
    cJSON *j = remote_parse_json(resp.body ? resp.body : "", resp.len, 0, "/v1/models", err,
                                 errlen);
    const cJSON *data = j ? cJSON_GetObjectItemCaseSensitive(j, "data") : NULL;
    if (j && !cJSON_IsArray(data)) {
        snprintf(err, errlen, "%s/models: no \"data\" list (not an OpenAI-compatible server?)",
                 r->base.info.url);
    }
    int rc = -1;
    const cJSON *chosen = NULL;
    if (cJSON_IsArray(data)) {
        int n = cJSON_GetArraySize(data);
        r->served = calloc((size_t)(n ? n : 1), sizeof *r->served);
        const cJSON *m;
        cJSON_ArrayForEach(m, data) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
            if (!r->served || !cJSON_IsString(id))
                continue;
            char esc[256];
            text_escape_line(id->valuestring, strlen(id->valuestring), esc, sizeof esc);
            r->served[r->n_served++] = strdup(esc);
            if (!chosen && (!want || !strcmp(want, id->valuestring)))
                chosen = m;
        }
        if (!chosen && want) {
            char list[400];
            remote_served_list(r, list, sizeof list);
            char wesc[200];
            text_escape_line(want, strlen(want), wesc, sizeof wesc);
            snprintf(err, errlen, "%s: model '%s' is not served there; served: %s",
                     r->base.info.url, wesc, list);
        } else if (!chosen) {
            snprintf(err, errlen, "%s/models: the server lists no model", r->base.info.url);
        } else {
            rc = 0;
        }
    }
    if (rc == 0) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(chosen, "id");
        const cJSON *owner = cJSON_GetObjectItemCaseSensitive(chosen, "owned_by");
        struct backend_info *in = &r->base.info;
        text_escape_line(id->valuestring, strlen(id->valuestring), in->served_model,
                         sizeof in->served_model);
        r->family = remote_family_detect(cJSON_IsString(owner) ? owner->valuestring : NULL,
                                         resp.server, NULL);
        snprintf(in->fingerprint, sizeof in->fingerprint, "%s", resp.server);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(chosen, "meta");
        struct { const char *key; int *dst; } ints[] = {
            { "n_vocab", &in->model.n_vocab }, { "n_ctx_train", &in->model.n_ctx_train },
            { "n_embd", &in->model.d_model },
        };
        for (size_t k = 0; cJSON_IsObject(meta) && k < sizeof ints / sizeof ints[0]; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, ints[k].key);
            if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e9)
                *ints[k].dst = (int)v->valuedouble;
        }
        const cJSON *np = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "n_params")
                                               : NULL;
        if (cJSON_IsNumber(np) && np->valuedouble >= 0 && np->valuedouble < 1e16)
            in->model.n_params = (uint64_t)np->valuedouble;
        const cJSON *sz = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "size")
                                               : NULL;
        if (cJSON_IsNumber(sz) && sz->valuedouble >= 0 && sz->valuedouble < 1e16)
            in->model.file_size = (uint64_t)sz->valuedouble;
        const cJSON *mml = cJSON_GetObjectItemCaseSensitive(chosen, "max_model_len"); /* vLLM */
        if (cJSON_IsNumber(mml) && mml->valuedouble > 0 && mml->valuedouble < 1e9)
            in->n_ctx = (int)mml->valuedouble;
    }
    cJSON_Delete(j);
    http_response_free(&resp);
    return rc;
}

static size_t remote_token_piece(const struct backend *b, int32_t id, char *buf, size_t buflen)
{
    return pieces_get(&((const struct remote *)b)->pieces, id, buf, buflen);
}

static void remote_close(struct backend *b)
{
    struct remote *r = (struct remote *)b;
    if (r->key) {
        memset(r->key, 0, strlen(r->key));
        free(r->key);
    }
    for (int i = 0; i < r->n_served; i++)
        free(r->served[i]);
    free(r->served);
    pieces_free(&r->pieces);
    free(r);
}

static const struct backend_ops remote_ops = {
    .generate = remote_generate,
    .token_piece = remote_token_piece,
    .close = remote_close,
};

/* What the family reports, for the status bar's "not reported by this server". */
static unsigned remote_reports(const struct remote *r)
{
    unsigned rep = BACKEND_REPORTS_LOGPROBS;
    const struct remote_family_info *f = &remote_families[r->family];
    if (!(f->experts_npy && r->routed_experts)) /* else one whole reply a turn (turn.c) */
        rep |= BACKEND_REPORTS_TOKEN_TIMES;
    if (f->timings || r->native)
        rep |= BACKEND_REPORTS_SERVER_TIMES;
    if (r->routed_experts && (f->experts_npy || (f->experts_stream && r->experts_layers)))
        rep |= BACKEND_REPORTS_EXPERTS;
    return rep;
}

struct backend *backend_remote_open(const struct backend_params *p, char *err, size_t errlen)
{
    struct remote *r = calloc(1, sizeof *r);
    if (!r || pieces_init(&r->pieces) != 0) {
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->base.ops = &remote_ops;
    struct backend_info *in = &r->base.info;
    in->remote = true;
    in->insecure = p->args.insecure;
    r->routed_experts = p->args.routed_experts;
    r->native = p->args.native;
    r->experts_layers = p->args.experts_layers;
    r->experts_k = p->args.experts_k;
    r->http.timeout_s = p->args.timeout_s > 0 ? p->args.timeout_s : 60;
    r->http.insecure = p->args.insecure;
    if (remote_set_url(r, p->args.model, err, errlen) != 0 ||
        remote_set_ca(r, p->args.ca_cert, err, errlen) != 0 ||
        remote_read_key(r, p->args.api_key_file, err, errlen) != 0) {
        remote_close(&r->base);
        return NULL;
    }
    r->http.api_key = r->key;
    if (remote_fetch_models(r, p->args.served_model, err, errlen) != 0) {
        remote_scrub(r, err);
        remote_close(&r->base);
        return NULL;
    }
    remote_served_list(r, in->served_list, sizeof in->served_list);
    snprintf(in->family, sizeof in->family, "%s", remote_families[r->family].name);
    if (r->native && r->family != REMOTE_OLLAMA) {
        snprintf(err, errlen, "%s: --native is Ollama's own API (/api/chat), and this server "
                 "is %s, not Ollama", in->url, in->family);
        remote_close(&r->base);
        return NULL;
    }
    snprintf(in->model.arch, sizeof in->model.arch, "%s", in->family);
    snprintf(in->model.name, sizeof in->model.name, "%.*s", (int)sizeof in->model.name - 1,
             in->served_model);
    snprintf(in->model.path, sizeof in->model.path, "%.*s", (int)sizeof in->model.path - 1,
             in->url);
    if (r->experts_layers) {
        in->model.n_layers = r->experts_layers;
        in->model.n_experts_used = r->experts_k;
    }
    in->reports = remote_reports(r);
    in->model.n_vocab = r->pieces.n; /* record ids are piece numbers (pieces.h) */
    return &r->base;
}
