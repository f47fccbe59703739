/* engine/json_out.h: the one JSON writer: the trace's lines (engine/trace.c) and the session
 * files (sessions/session_save.c) are both written with it.
 *
 * Text is appended to a buffer that is either fixed, like snprintf (what fits is written,
 * NUL-terminated, and len counts everything, so a caller can retry with len + 1 bytes), or
 * growing (malloc'd; when it cannot grow, oom is set and nothing more is written). The
 * number forms belong to each format and stay with it; this file does the text. */
#ifndef MOESCOPE_JSON_OUT_H
#define MOESCOPE_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>

struct json_out {
    char *buf;
    size_t cap, len;
    bool grow; /* buf is malloc'd (or NULL) and grows; the owner frees it */
    bool oom;  /* a growing buffer could not grow: the text is incomplete */
};

/* A writer into buf[0..cap) (cap may be 0). */
struct json_out json_out_fixed(char *buf, size_t cap);
/* A growing writer, empty; the text is in .buf (NUL-terminated), .len bytes. */
struct json_out json_out_growing(void);

void json_put(struct json_out *o, const char *s, size_t n);
void json_str(struct json_out *o, const char *s);
void json_fmt(struct json_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What a string does with bytes that are not UTF-8. */
enum json_bad_bytes {
    JSON_BAD_AS_HEX,  /* the four characters \xNN, so JSON's "\\xNN" (the trace's pieces) */
    JSON_BAD_AS_FFFD, /* U+FFFD, and NUL too (sessions keep the exact bytes beside it) */
};

/* s[0..n) as a JSON string, quotes included: ", \ and the controls escaped (\n \t \r \b \f,
 * the others and DEL as \u00XX), well-formed UTF-8 as itself. */
void json_string(struct json_out *o, const char *s, size_t n, enum json_bad_bytes bad);

#endif
