/* remote/http.h: one HTTP request through libcurl, the body streamed to a callback.
 *
 * Every failure becomes one line that names the URL (shown without credentials) and what
 * went wrong: connection refused, a name that does not resolve, a TLS error, no data for
 * the read timeout, the connection closed mid-body. The API key goes into the
 * Authorization header and nowhere else: no message, no log. */
#ifndef MOESCOPE_HTTP_H
#define MOESCOPE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct http_opts {
    const char *api_key;       /* "Authorization: Bearer KEY", or NULL */
    double timeout_s;          /* no byte for this long: give up (also the connect timeout) */
    bool insecure;             /* no certificate check */
    const char *ca_file;       /* the CA certificates to trust (PEM), or NULL: the system's */
    const char *ca_from;       /* what messages call it: "--ca-cert FILE", "$CURL_CA_BUNDLE" */
    /* Polled often while waiting; true aborts the transfer (the connection is closed). */
    bool (*should_stop)(void *ud);
    void *stop_ud;
};

struct http_response {
    long status;               /* 0 when no response arrived */
    char content_type[128];
    char server[128];          /* the Server header */
    char retry_after[64];      /* the Retry-After header, "" when absent */
    char *body;                /* (len) a non-2xx body, or a 2xx body with no callback */
    size_t len;
    bool stopped;              /* should_stop ended it */
    bool callback_failed;      /* the body callback returned non-zero */
};

/* Called with each piece of a 2xx body; non-zero ends the transfer (callback_failed). */
typedef int (*http_body_fn)(void *ud, const char *buf, size_t n);

/* GET (json == NULL) or POST json to url. A 2xx body goes to fn (or into r->body when fn is
 * NULL); any other status's body into r->body (at most 64 KiB). Returns 0 when the transfer
 * completed (whatever the status), -1 with err set when it did not (r keeps what arrived:
 * status, headers, stopped). shown_url is what messages call the URL. */
int http_request(const struct http_opts *o, const char *url, const char *shown_url,
                 const char *json, http_body_fn fn, void *ud, struct http_response *r,
                 char *err, size_t errlen);
void http_response_free(struct http_response *r);
/* libcurl's global set-up, once per process (not thread-safe itself: call from main first). */
int http_global_init(void);

#endif
