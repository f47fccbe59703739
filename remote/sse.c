/* remote/sse.c: the Server-Sent Events parser (see sse.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

void sse_init(struct sse_parser *p)
{
    memset(p, 0, sizeof *p);
}

void sse_free(struct sse_parser *p)
{
    free(p->line);
    free(p->data);
    memset(p, 0, sizeof *p);
}

bool sse_pending(const struct sse_parser *p)
{
    return p->has_data || p->line_len > 0;
}

static int sse_grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *b = realloc(*buf, c);
    if (!b)
        return -1;
    *buf = b;
    *cap = c;
    return 0;
}

/* One complete line: a field, a comment, or the blank line that dispatches the event. */
static int sse_line(struct sse_parser *p, sse_event_fn fn, void *ud, char *err, size_t errlen)
{
    const char *s = p->line;
    size_t n = p->line_len;
    if (n == 0) {
        if (!p->has_data)
            return 0;
        p->has_data = false;
        size_t len = p->data_len;
        p->data_len = 0;
        if (sse_grow(&p->data, &p->data_cap, len + 1) != 0)
            goto oom;
        p->data[len] = 0;
        return fn(ud, p->data, len, p->event_start);
    }
    if (s[0] == ':')
        return 0;
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *value = colon ? colon + 1 : s + n;
    size_t value_len = n - (size_t)(value - s);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && !memcmp(s, "data", 4)) {
        if (!p->has_data) {
            p->has_data = true;
            p->event_start = p->line_start;
            p->data_len = 0;
        } else {
            if (sse_grow(&p->data, &p->data_cap, p->data_len + 1) != 0)
                goto oom;
            p->data[p->data_len++] = '\n';
        }
        if (p->data_len + value_len > SSE_MAX_EVENT) {
            snprintf(err, errlen, "malformed SSE at byte %" PRIu64 " of the stream: an event "
                     "over %d MiB", p->event_start, SSE_MAX_EVENT >> 20);
            return -1;
        }
        if (sse_grow(&p->data, &p->data_cap, p->data_len + value_len + 1) != 0)
            goto oom;
        memcpy(p->data + p->data_len, value, value_len);
        p->data_len += value_len;
        return 0;
    }
    static const char *const known[] = { "event", "id", "retry" };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (name_len == strlen(known[i]) && !memcmp(s, known[i], name_len))
            return 0;
    char shown[24];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof shown; i++)
        shown[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    shown[k] = 0;
    snprintf(err, errlen, "malformed SSE at byte %" PRIu64 " of the stream: a line that is "
             "not 'data:' ('%s%s')", p->line_start, shown, n > k ? "..." : "");
    return -1;
oom:
    snprintf(err, errlen, "out of memory reading the stream at byte %" PRIu64, p->line_start);
    return -1;
}

int sse_feed(struct sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *ud,
             char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        uint64_t at = p->offset++;
        if (c == '\n' && p->after_cr) {
            p->after_cr = false;
            p->line_start = at + 1;
            continue;
        }
        p->after_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            int rc = sse_line(p, fn, ud, err, errlen);
            p->line_len = 0;
            p->line_start = at + 1;
            if (rc != 0)
                return rc;
            continue;
        }
        if (p->line_len >= SSE_MAX_EVENT) {
            snprintf(err, errlen, "malformed SSE at byte %" PRIu64 " of the stream: a line "
                     "over %d MiB", p->line_start, SSE_MAX_EVENT >> 20);
            return -1;
        }
        if (sse_grow(&p->line, &p->line_cap, p->line_len + 1) != 0) {
            snprintf(err, errlen, "out of memory reading the stream at byte %" PRIu64, at);
            return -1;
        }
        p->line[p->line_len++] = c;
    }
    return 0;
}
