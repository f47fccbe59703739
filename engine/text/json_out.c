/* engine/text/json_out.c: the JSON writer (json_out.h). */
#include "json_out.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text_escape.h"

struct json_out json_out_fixed(char *buf, size_t cap)
{
    struct json_out o = { .buf = buf, .cap = cap };
    if (cap)
        buf[0] = 0;
    return o;
}

struct json_out json_out_growing(void)
{
    struct json_out o = { .grow = true };
    return o;
}

/* Room for more bytes and a NUL in a growing buffer; false (and oom) when there is none. */
static bool json_grow(struct json_out *o, size_t more)
{
    if (o->oom)
        return false;
    if (more > SIZE_MAX / 2 - o->len) {
        o->oom = true;
        return false;
    }
    if (o->len + more + 1 <= o->cap)
        return true;
    size_t cap = o->cap ? o->cap : 65536;
    while (cap < o->len + more + 1)
        cap *= 2;
    char *p = realloc(o->buf, cap);
    if (!p) {
        o->oom = true;
        return false;
    }
    o->buf = p;
    o->cap = cap;
    return true;
}

void json_put(struct json_out *o, const char *s, size_t n)
{
    if (o->grow) {
        if (!json_grow(o, n))
            return;
        memcpy(o->buf + o->len, s, n);
        o->len += n;
        o->buf[o->len] = 0;
        return;
    }
    if (o->len + 1 < o->cap) {
        size_t room = o->cap - o->len - 1, k = n < room ? n : room;
        memcpy(o->buf + o->len, s, k);
        o->buf[o->len + k] = 0;
    }
    o->len += n;
}

void json_str(struct json_out *o, const char *s)
{
    json_put(o, s, strlen(s));
}

void json_fmt(struct json_out *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        json_put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* The escape of an ASCII byte that JSON (or the eye) wants escaped, or NULL. */
static const char *json_escape_of(uint32_t cp)
{
    switch (cp) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\t': return "\\t";
    case '\r': return "\\r";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: return NULL;
    }
}

void json_string(struct json_out *o, const char *s, size_t n, enum json_bad_bytes bad)
{
    const unsigned char *u = (const unsigned char *)s;
    json_put(o, "\"", 1);
    size_t i = 0, run = 0; /* [i - run, i) is plain text not yet copied */
    while (i < n) {
        uint32_t cp = 0;
        int len = utf8_decode(u + i, n - i, &cp);
        bool broken = len == 0 || (cp == 0 && bad == JSON_BAD_AS_FFFD);
        if (!broken && cp >= 0x20 && cp != 0x7F && cp != '"' && cp != '\\') {
            i += (size_t)len;
            run += (size_t)len;
            continue;
        }
        json_put(o, s + i - run, run);
        run = 0;
        const char *esc = broken ? NULL : json_escape_of(cp);
        if (broken && bad == JSON_BAD_AS_FFFD)
            json_str(o, "\xEF\xBF\xBD");
        else if (broken)
            json_fmt(o, "\\\\x%02X", u[i]);
        else if (esc)
            json_str(o, esc);
        else
            json_fmt(o, "\\u%04x", (unsigned)cp);
        i += broken ? 1 : (size_t)len;
    }
    json_put(o, s + i - run, run);
    json_put(o, "\"", 1);
}
