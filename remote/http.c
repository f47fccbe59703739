/* remote/http.c: HTTP through libcurl (see http.h). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

enum { HTTP_MAX_ERROR_BODY = 64 << 10, HTTP_MAX_BODY = 64 << 20 };

struct http_call {
    const struct http_opts *o;
    struct http_response *r;
    http_body_fn fn;
    void *ud;
    size_t cap;
};

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static int http_init_rc;

static void http_init_once(void)
{
    http_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int http_global_init(void)
{
    pthread_once(&http_once, http_init_once);
    return http_init_rc;
}

void http_response_free(struct http_response *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static int http_keep(struct http_response *r, size_t *cap, const char *p, size_t n, size_t max)
{
    if (r->len + n > max)
        n = r->len < max ? max - r->len : 0;
    if (r->len + n + 1 > *cap) {
        size_t c = (r->len + n + 1) * 2;
        char *b = realloc(r->body, c);
        if (!b)
            return -1;
        r->body = b;
        *cap = c;
    }
    memcpy(r->body + r->len, p, n);
    r->len += n;
    r->body[r->len] = 0;
    return 0;
}

static size_t http_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct http_call *c = ud;
    size_t n = size * nmemb;
    long status = 0;
    (void)status;
    if (c->r->status >= 200 && c->r->status < 300 && c->fn) {
        if (c->fn(c->ud, p, n) != 0) {
            c->r->callback_failed = true;
            return 0;
        }
        return n;
    }
    size_t max = c->r->status >= 200 && c->r->status < 300 ? HTTP_MAX_BODY : HTTP_MAX_ERROR_BODY;
    if (http_keep(c->r, &c->cap, p, n, max) != 0)
        return 0;
    return n;
}

/* Copies a header's value (trimmed) into dst when the line is that header. */
static void http_header_value(const char *line, size_t n, const char *name, char *dst,
                              size_t dstlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return;
    const char *v = line + k + 1;
    size_t vn = n - k - 1;
    while (vn && (*v == ' ' || *v == '\t')) {
        v++;
        vn--;
    }
    while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
        vn--;
    if (vn >= dstlen)
        vn = dstlen - 1;
    for (size_t i = 0; i < vn; i++)
        dst[i] = v[i] >= 0x20 && v[i] < 0x7f ? v[i] : '?';
    dst[vn] = 0;
}

static size_t http_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct http_call *c = ud;
    size_t n = size * nmemb;
    if (n > 5 && !strncmp(p, "HTTP/", 5)) { /* a new response (after a 100 or a redirect) */
        long st = 0;
        const char *sp = memchr(p, ' ', n);
        if (sp)
            st = strtol(sp + 1, NULL, 10);
        c->r->status = st;
        c->r->content_type[0] = c->r->server[0] = c->r->retry_after[0] = 0;
        return n;
    }
    http_header_value(p, n, "Content-Type", c->r->content_type, sizeof c->r->content_type);
    http_header_value(p, n, "Server", c->r->server, sizeof c->r->server);
    http_header_value(p, n, "Retry-After", c->r->retry_after, sizeof c->r->retry_after);
    return n;
}

static int http_on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c2;
    (void)d;
    struct http_call *c = ud;
    if (c->o->should_stop && c->o->should_stop(c->o->stop_ud)) {
        c->r->stopped = true;
        return 1;
    }
    return 0;
}

/* The one line for a transfer that did not complete. */
static void http_explain(CURLcode rc, const char *detail, const struct http_call *c,
                         const char *shown_url, CURLU *u, char *err, size_t errlen)
{
    char *host = NULL, *port = NULL;
    if (u) {
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    }
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        snprintf(err, errlen, "%s: cannot connect to %s:%s (connection refused or no route; "
                 "is the server running?)", shown_url, host ? host : "?", port ? port : "?");
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(err, errlen, "%s: cannot resolve the host name '%s' (DNS)", shown_url,
                 host ? host : "?");
        break;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(err, errlen, "%s: no data for %.0f s (the read timeout; raise it with "
                 "--timeout)", shown_url, c->o->timeout_s);
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_USE_SSL_FAILED:
        snprintf(err, errlen, "%s: TLS error: %.200s (trusted: %.300s; --ca-cert FILE trusts "
                 "another CA, --insecure skips the check)", shown_url,
                 detail[0] ? detail : curl_easy_strerror(rc),
                 c->o->ca_file ? c->o->ca_from : "the system's CA store");
        break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
        snprintf(err, errlen, "%s: the connection was closed mid-reply (%s)", shown_url,
                 curl_easy_strerror(rc));
        break;
    case CURLE_ABORTED_BY_CALLBACK:
        snprintf(err, errlen, "%s: stopped", shown_url);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        snprintf(err, errlen, "%s: not a URL moescope can open (http:// or https://)", shown_url);
        break;
    default:
        snprintf(err, errlen, "%s: %s%s%.200s", shown_url, curl_easy_strerror(rc),
                 detail[0] ? ": " : "", detail);
    }
    curl_free(host);
    curl_free(port);
}

int http_request(const struct http_opts *o, const char *url, const char *shown_url,
                 const char *json, http_body_fn fn, void *ud, struct http_response *r,
                 char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (http_global_init() != 0) {
        snprintf(err, errlen, "%s: libcurl could not start", shown_url);
        return -1;
    }
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "%s: libcurl could not start", shown_url);
        return -1;
    }
    struct http_call c = { .o = o, .r = r, .fn = fn, .ud = ud };
    char detail[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdr = NULL;
    char *auth = NULL;
    if (json)
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Accept: text/event-stream, application/json");
    if (o->api_key) {
        size_t n = strlen(o->api_key) + 32;
        auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", o->api_key);
            hdr = curl_slist_append(hdr, auth);
        }
    }
    long t = o->timeout_s > 0 ? (long)(o->timeout_s + 0.999) : 60;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, http_on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &c);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, t);
    /* The read timeout: less than one byte a second for t seconds is a stall. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, t);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "identity");
    if (o->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
    if (o->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (json) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    }
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status)
        r->status = status;
    int ret = 0;
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r->callback_failed)) {
        CURLU *u = curl_url();
        if (u && curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
            curl_url_cleanup(u);
            u = NULL;
        }
        http_explain(r->stopped ? CURLE_ABORTED_BY_CALLBACK : rc, detail, &c, shown_url, u, err,
                     errlen);
        curl_url_cleanup(u);
        ret = -1;
    } else if (rc != CURLE_OK) {
        ret = -1; /* the callback said why, in its own words */
        err[0] = 0;
    }
    curl_slist_free_all(hdr);
    if (auth) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    curl_easy_cleanup(h);
    return ret;
}
