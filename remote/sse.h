/* remote/sse.h: a Server-Sent Events parser for the streams of OpenAI-compatible servers.
 *
 * Bytes go in as the network delivers them (any split, even inside a "\r\n"); each complete
 * event (its data lines joined by '\n', dispatched at a blank line) comes out through a
 * callback with the byte offset in the stream where the event began. Lines end in \n, \r or
 * \r\n. Comments (":...") and the fields event, id and retry are read and dropped.
 *
 * Limits, stated here because a server is not trusted: a line or an event's data over
 * SSE_MAX_EVENT bytes, or a line that is none of the four fields and not a comment, is
 * malformed: -1 with one line naming the byte offset. The parser never reads beyond what it
 * was given and owns its buffers (sse_free). */
#ifndef MOESCOPE_SSE_H
#define MOESCOPE_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SSE_MAX_EVENT = 16 << 20 };

struct sse_parser {
    char *line;                /* (line_cap) the line being read, without its end */
    size_t line_len, line_cap;
    char *data;                /* (data_cap) the event's data lines so far, '\n'-joined */
    size_t data_len, data_cap;
    bool has_data;             /* a data line was seen since the last dispatch */
    bool after_cr;             /* the last byte was '\r': a '\n' next ends nothing new */
    uint64_t offset;           /* bytes fed so far */
    uint64_t line_start;       /* stream offset of the current line's first byte */
    uint64_t event_start;      /* stream offset of the current event's first data line */
};

/* Called once per event; a non-zero return stops sse_feed, which returns it. */
typedef int (*sse_event_fn)(void *ud, const char *data, size_t len, uint64_t offset);

void sse_init(struct sse_parser *p);
void sse_free(struct sse_parser *p);
/* Feeds n bytes. Returns 0, the callback's non-zero value, or -1 with err set. */
int sse_feed(struct sse_parser *p, const char *buf, size_t n, sse_event_fn fn, void *ud,
             char *err, size_t errlen);
/* True when the stream ended inside an event (bytes read since the last dispatch). */
bool sse_pending(const struct sse_parser *p);

#endif
