/* tests/remote_test_sse.c: the SSE parser (remote/sse.c) on streams cut at every byte, the
 * three line ends, comments and fields, and what it refuses, with the byte offset named. */
#include <stdlib.h>

#include "sse.h"
#include "test.h"

struct got {
    char data[8][128];
    uint64_t offset[8];
    int n;
};

static int on_event(void *ud, const char *data, size_t len, uint64_t offset)
{
    struct got *g = ud;
    if (g->n < 8) {
        snprintf(g->data[g->n], sizeof g->data[g->n], "%.*s", (int)len, data);
        g->offset[g->n] = offset;
    }
    g->n++;
    return 0;
}

static const char stream[] = ": a comment\r\n"
                             "event: message\n"
                             "data: {\"a\":1}\n"
                             "\n"
                             "id: 7\r"
                             "data:two\r"
                             "data: lines\r"
                             "\r"
                             "retry: 10\r\n"
                             "data: [DONE]\r\n"
                             "\r\n";

TEST(sse_events_whatever_the_split)
{
    size_t n = sizeof stream - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        struct sse_parser p;
        struct got g = { 0 };
        char err[256] = "";
        sse_init(&p);
        CHECK(sse_feed(&p, stream, cut, on_event, &g, err, sizeof err) == 0);
        CHECK(sse_feed(&p, stream + cut, n - cut, on_event, &g, err, sizeof err) == 0);
        CHECK_INT_EQ(g.n, 3);
        CHECK_STR_EQ(g.data[0], "{\"a\":1}");
        CHECK_STR_EQ(g.data[1], "two\nlines");
        CHECK_STR_EQ(g.data[2], "[DONE]");
        /* Offsets: where each event's first data line starts in the stream. */
        CHECK_INT_EQ(g.offset[0], strstr(stream, "data: {") - stream);
        CHECK_INT_EQ(g.offset[1], strstr(stream, "data:two") - stream);
        CHECK_INT_EQ(g.offset[2], strstr(stream, "data: [DONE]") - stream);
        CHECK(!sse_pending(&p));
        sse_free(&p);
    }
}

TEST(sse_pending_when_cut_inside_an_event)
{
    struct sse_parser p;
    struct got g = { 0 };
    char err[256];
    sse_init(&p);
    const char *s = "data: {\"a\":1}\n\ndata: {\"b\"";
    CHECK(sse_feed(&p, s, strlen(s), on_event, &g, err, sizeof err) == 0);
    CHECK_INT_EQ(g.n, 1);
    CHECK(sse_pending(&p));
    sse_free(&p);
}

TEST(sse_refuses_a_line_that_is_no_field_naming_its_offset)
{
    struct sse_parser p;
    struct got g = { 0 };
    char err[256] = "";
    sse_init(&p);
    const char *s = "data: 1\n\ngarbage here\n\n";
    CHECK(sse_feed(&p, s, strlen(s), on_event, &g, err, sizeof err) == -1);
    CHECK_INT_EQ(g.n, 1);
    CHECK_MSG(strstr(err, "malformed SSE at byte 9 of the stream") != NULL, "%s", err);
    CHECK_MSG(strstr(err, "'garbage here'") != NULL, "%s", err);
    sse_free(&p);
}

TEST(sse_refuses_an_oversized_event)
{
    struct sse_parser p;
    struct got g = { 0 };
    char err[256] = "";
    sse_init(&p);
    size_t n = (size_t)SSE_MAX_EVENT + 64;
    char *big = malloc(n);
    CHECK(big != NULL);
    if (!big)
        return;
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', n - 6);
    CHECK(sse_feed(&p, big, n, on_event, &g, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "byte 0") != NULL, "%s", err);
    CHECK_INT_EQ(g.n, 0);
    free(big);
    sse_free(&p);
}

static int stop_at_second(void *ud, const char *data, size_t len, uint64_t offset)
{
    struct got *g = ud;
    on_event(ud, data, len, offset);
    return g->n == 2 ? 42 : 0;
}

TEST(sse_callback_value_stops_the_feed)
{
    struct sse_parser p;
    struct got g = { 0 };
    char err[64];
    sse_init(&p);
    const char *s = "data: a\n\ndata: b\n\ndata: c\n\n";
    CHECK_INT_EQ(sse_feed(&p, s, strlen(s), stop_at_second, &g, err, sizeof err), 42);
    CHECK_INT_EQ(g.n, 2);
    sse_free(&p);
}
