/* tests/test_reasoning.c: thinking told apart from the answer (engine/reasoning.h), in a
 * stream cut into pieces anywhere and in a stored reply, with the same result. */
#include "test.h"

#include <stdlib.h>

#include "reasoning.h"
#include "trace_stats.h"

/* What the stream showed, per part, and the part of each piece. */
struct rt_out {
    char text[REASON_PART_COUNT][512];
    size_t n[REASON_PART_COUNT];
};

static void rt_emit(void *ud, enum reason_part part, const char *s, size_t n)
{
    struct rt_out *o = ud;
    if (o->n[part] + n < sizeof o->text[part]) {
        memcpy(o->text[part] + o->n[part], s, n);
        o->n[part] += n;
        o->text[part][o->n[part]] = 0;
    }
}

/* Streams text cut at the given piece lengths (0-terminated; the rest as one piece). */
static void rt_stream(enum chat_style s, const char *text, const size_t *cuts,
                      enum reason_part *parts, struct rt_out *o)
{
    memset(o, 0, sizeof *o);
    struct reason_split rs;
    reason_split_init(&rs, s);
    size_t off = 0, n = strlen(text);
    for (int i = 0; off < n; i++) {
        size_t len = cuts && cuts[i] ? cuts[i] : n - off;
        parts[i] = reason_split_push(&rs, text + off, len, rt_emit, o);
        off += len;
    }
    reason_split_flush(&rs, rt_emit, o);
}

TEST(reasoning_stream_r1_tokens)
{
    /* DeepSeek-R1 as its tokens come: <think> and </think> are single tokens. */
    const char *r = "<think>\nThe user greets.\n</think>\n\nHello!";
    size_t cuts[] = { 7, 1, 4, 5, 8, 8, 2, 5, 1, 0 };
    enum reason_part parts[16];
    struct rt_out o;
    rt_stream(CHAT_STYLE_DEEPSEEK3, r, cuts, parts, &o);
    CHECK_STR_EQ(o.text[REASON_THINKING], "\nThe user greets.\n");
    CHECK_STR_EQ(o.text[REASON_ANSWER], "Hello!");
    for (int i = 0; i <= 6; i++) /* <think> ... </think> and the blank line after it */
        CHECK_MSG(parts[i] == REASON_THINKING, "piece %d: expected thinking", i);
    CHECK_INT_EQ(parts[7], REASON_ANSWER);
    CHECK_INT_EQ(parts[8], REASON_ANSWER);
}

/* gpt-oss (harmony) after its "<|start|>assistant" prompt: the analysis channel is the
 * thinking, the final channel the answer, the headers between them neither; the special
 * tokens come whole. */
TEST(reasoning_stream_harmony_channels)
{
    const char *r = "<|channel|>analysis<|message|>User asks why.<|end|><|start|>assistant"
                    "<|channel|>final<|message|>Sparse.";
    size_t cuts[] = { 11, 8, 11, 5, 5, 5, 7, 12, 9, 11, 5, 11, 0 };
    enum reason_part parts[16];
    struct rt_out o;
    rt_stream(CHAT_STYLE_GPT_OSS, r, cuts, parts, &o);
    CHECK_STR_EQ(o.text[REASON_THINKING], "User asks why.");
    CHECK_STR_EQ(o.text[REASON_ANSWER], "Sparse.");
    CHECK_INT_EQ(parts[0], REASON_THINKING);
    CHECK_INT_EQ(parts[12], REASON_ANSWER);
    /* a reply that opens the final channel at once is all answer */
    rt_stream(CHAT_STYLE_GPT_OSS, "<|channel|>final<|message|>Hi", NULL, parts, &o);
    CHECK_STR_EQ(o.text[REASON_ANSWER], "Hi");
    CHECK_INT_EQ((int)o.n[REASON_THINKING], 0);
    size_t off = 0, len = 0;
    reason_history_text(CHAT_STYLE_GPT_OSS, r, strlen(r), &off, &len);
    CHECK(len == strlen("Sparse.") && memcmp(r + off, "Sparse.", len) == 0);
    /* gpt-oss's own template (the harmony style) writes the reply the same way */
    CHECK(reason_markers_of(CHAT_STYLE_HARMONY) == reason_markers_of(CHAT_STYLE_GPT_OSS));
}

/* GLM-4.7 after its "<|assistant|><think>" prompt: the reply is thinking until "</think>";
 * a later prompt carries the whole reply (llama.cpp preserves the thinking). */
TEST(reasoning_stream_glm47_opened_by_prompt)
{
    const char *r = "\nThe user asks.</think>\nBecause.";
    size_t cuts[] = { 1, 9, 6, 8, 1, 0 };
    enum reason_part parts[8];
    struct rt_out o;
    rt_stream(CHAT_STYLE_GLM47, r, cuts, parts, &o);
    CHECK_STR_EQ(o.text[REASON_THINKING], "\nThe user asks.");
    CHECK_STR_EQ(o.text[REASON_ANSWER], "Because.");
    CHECK_INT_EQ(parts[0], REASON_THINKING);
    CHECK_INT_EQ(parts[3], REASON_THINKING); /* "</think>" */
    CHECK_INT_EQ(parts[5], REASON_ANSWER);
    size_t off = 0, len = 0;
    reason_history_text(CHAT_STYLE_GLM47, r, strlen(r), &off, &len);
    CHECK(off == 0 && len == strlen(r));
    /* the same text after glm4.5's prompt (which does not open the thinking) is all answer */
    rt_stream(CHAT_STYLE_GLM45, r, NULL, parts, &o);
    CHECK_INT_EQ((int)o.n[REASON_THINKING], 0);
}

TEST(reasoning_stream_no_thinking)
{
    enum reason_part parts[8];
    struct rt_out o;
    size_t cuts[] = { 1, 3, 0 };
    rt_stream(CHAT_STYLE_CHATML, "  Hi <think> there", cuts, parts, &o);
    CHECK_STR_EQ(o.text[REASON_ANSWER], "  Hi <think> there");
    CHECK_INT_EQ(o.n[REASON_THINKING], 0);
    CHECK_INT_EQ(parts[2], REASON_ANSWER);
    /* A style without markers: everything is answer, markers included. */
    rt_stream(CHAT_STYLE_LLAMA3, "<think>x</think>y", NULL, parts, &o);
    CHECK_STR_EQ(o.text[REASON_ANSWER], "<think>x</think>y");
    CHECK_INT_EQ(parts[0], REASON_ANSWER);
    /* Something that only began like the marker is shown once decided. */
    rt_stream(CHAT_STYLE_CHATML, "<thin", NULL, parts, &o);
    CHECK_STR_EQ(o.text[REASON_ANSWER], "<thin");
}

TEST(reasoning_stream_unclosed_and_partial_close)
{
    enum reason_part parts[8];
    struct rt_out o;
    /* The close marker cut across pieces, and a "</" that is not one. */
    size_t cuts[] = { 9, 4, 5, 3, 0 };
    rt_stream(CHAT_STYLE_DEEPSEEK3, "<think>a</b</thi</think>ok", cuts, parts, &o);
    CHECK_STR_EQ(o.text[REASON_THINKING], "a</b</thi");
    CHECK_STR_EQ(o.text[REASON_ANSWER], "ok");
    /* A reply cut off while thinking: all of it is thinking, held bytes included. */
    rt_stream(CHAT_STYLE_DEEPSEEK3, "<think>still </thi", NULL, parts, &o);
    CHECK_STR_EQ(o.text[REASON_THINKING], "still </thi");
    CHECK_INT_EQ(o.n[REASON_ANSWER], 0);
    CHECK_INT_EQ(parts[0], REASON_THINKING);
}

/* Every reply below, cut into pieces at every pair of points, shows what reason_spans_of
 * says its parts are. */
TEST(reasoning_stream_equals_spans)
{
    static const char *const replies[] = {
        "<think>\nplan\n</think>\n\nanswer text",
        "   <think>x</think>y",
        "<think></think>",
        "<think>never closed",
        "plain answer",
        "\n\n",
        "<thi",
        "</think>answer",
        "<think>a</think>   ",
    };
    /* (glm4.7's prompt opens the thinking: its replies start in it) */
    static const enum chat_style styles[] = { CHAT_STYLE_DEEPSEEK3, CHAT_STYLE_GLM47 };
    for (size_t st = 0; st < sizeof styles / sizeof styles[0]; st++)
    for (size_t r = 0; r < sizeof replies / sizeof replies[0]; r++) {
        const char *t = replies[r];
        size_t n = strlen(t);
        struct reason_spans sp;
        reason_spans_of(styles[st], t, n, &sp);
        for (size_t a = 0; a <= n; a++)
            for (size_t b = a; b <= n; b++) {
                size_t cuts[4] = { a, b - a, 0, 0 };
                if (a == 0) { /* a zero cut would end the list: one cut at b */
                    cuts[0] = b;
                    cuts[1] = 0;
                } else if (b == a) {
                    cuts[1] = 0;
                }
                enum reason_part parts[8];
                struct rt_out o;
                rt_stream(styles[st], t, cuts[0] ? cuts : NULL, parts, &o);
                bool ok = o.n[REASON_THINKING] == sp.think_len &&
                          !memcmp(o.text[REASON_THINKING], t + sp.think_off, sp.think_len) &&
                          o.n[REASON_ANSWER] == n - sp.answer_off &&
                          !memcmp(o.text[REASON_ANSWER], t + sp.answer_off, n - sp.answer_off);
                CHECK_MSG(ok, "%s reply %zu cut at %zu,%zu: stream [%s|%s] spans think "
                              "%zu+%zu answer %zu", chat_style_name(styles[st]), r, a, b,
                          o.text[REASON_THINKING],
                          o.text[REASON_ANSWER], sp.think_off, sp.think_len, sp.answer_off);
            }
    }
}

TEST(reasoning_spans_and_history)
{
    const char *t = "<think>\nhmm\n</think>\n\nThe answer.";
    size_t n = strlen(t), off, len;
    struct reason_spans sp;
    reason_spans_of(CHAT_STYLE_DEEPSEEK3, t, n, &sp);
    CHECK(sp.has_thinking && sp.closed);
    CHECK_INT_EQ(sp.think_off, 7);
    CHECK_INT_EQ(sp.think_len, 5);
    CHECK_INT_EQ(sp.answer_off, n - strlen("The answer."));
    reason_history_text(CHAT_STYLE_DEEPSEEK3, t, n, &off, &len);
    CHECK_INT_EQ(off, sp.answer_off);
    CHECK_INT_EQ(len, strlen("The answer."));
    /* No thinking in the reply, or a style that keeps it: the whole text. */
    reason_history_text(CHAT_STYLE_DEEPSEEK3, "Hi", 2, &off, &len);
    CHECK(off == 0 && len == 2);
    reason_history_text(CHAT_STYLE_LLAMA3, t, n, &off, &len);
    CHECK(off == 0 && len == n);
    /* Still thinking: nothing of the answer yet. */
    reason_spans_of(CHAT_STYLE_CHATML, "<think>abc", 10, &sp);
    CHECK(sp.has_thinking && !sp.closed && sp.think_len == 3 && sp.answer_off == 10);
}

TEST(reasoning_table)
{
    /* The styles of the reasoning models moescope knows (R1/V3 and Qwen3) have markers,
     * and each marker fits what the stream can hold. */
    CHECK(reason_markers_of(CHAT_STYLE_DEEPSEEK3) != NULL);
    CHECK(reason_markers_of(CHAT_STYLE_CHATML) != NULL);
    CHECK(reason_markers_of(CHAT_STYLE_NONE) == NULL);
    CHECK(reason_markers_of(CHAT_STYLE_COUNT) == NULL);
    for (int s = 0; s < CHAT_STYLE_COUNT; s++) {
        const struct reason_markers *mk = reason_markers_of((enum chat_style)s);
        if (!mk)
            continue;
        CHECK(mk->open && mk->close && strlen(mk->open) && strlen(mk->close));
        CHECK(strlen(mk->open) < REASON_HOLD_MAX && strlen(mk->close) < REASON_HOLD_MAX);
        CHECK(!mk->answer_open || strlen(mk->answer_open) < REASON_HOLD_MAX);
    }
    enum reason_mode m;
    CHECK_INT_EQ(reason_mode_from_name("hide", &m), 0);
    CHECK_INT_EQ(m, REASON_HIDE);
    CHECK_INT_EQ(reason_mode_from_name("raw", &m), 0);
    CHECK_INT_EQ(m, REASON_RAW);
    CHECK_INT_EQ(reason_mode_from_name("shown", &m), -1);
}

/* A reply's records marked as the stream splits it, and the figures that follow: thinking
 * tokens, and the time to the first answer token (TTFT plus the passes before it). */
TEST(reasoning_marks_records_and_times_the_answer)
{
    struct trace_log log;
    CHECK_INT_EQ(trace_log_init(&log, 1, 4, 2), 0);
    static const char *const pieces[] = { "Hi", "<think>", "hm", "</think>", "\n\n", "Ok", "." };
    for (int i = 0; i < 7; i++) {
        long k = trace_log_push(&log, 100 + i, pieces[i], strlen(pieces[i]), i == 0);
        CHECK(k == i);
        log.tok[i].fed = i < 6;               /* the last token is never fed */
        log.tok[i].ns_total = (uint64_t)(i + 1) * 1000000;
    }
    CHECK(reason_mark_records(CHAT_STYLE_DEEPSEEK3, &log, 0, log.n));
    static const bool want[] = { false, true, true, true, true, false, false };
    for (int i = 0; i < 7; i++)
        CHECK_MSG(log.tok[i].thinking == want[i], "record %d", i);
    CHECK(!reason_mark_records(CHAT_STYLE_DEEPSEEK3, &log, 0, log.n)); /* nothing changes */
    struct trace_speed s;
    CHECK_INT_EQ(trace_speed(&log, 0, log.n, &s), 0);
    CHECK_INT_EQ(s.n_thinking, 4);
    CHECK_NEAR(s.ttft_ms, 1.0, 1e-9);
    CHECK_NEAR(s.ttfa_ms, 1.0 + 2 + 3 + 4 + 5, 1e-9); /* prompt, then the four thinking passes */
    /* Still thinking: no answer yet, so no time to it. */
    CHECK_INT_EQ(trace_speed(&log, 0, 4, &s), 0);
    CHECK(s.ttfa_ms == 0 && s.n_thinking == 3);
    /* A style without markers: nothing is thinking, and TTFA is TTFT. */
    CHECK(reason_mark_records(CHAT_STYLE_LLAMA3, &log, 0, log.n));
    CHECK_INT_EQ(trace_speed(&log, 0, log.n, &s), 0);
    CHECK(s.n_thinking == 0 && s.ttfa_ms == s.ttft_ms);
    trace_log_free(&log);
}

/* Routing of thinking and answer apart: thinking tokens all pick expert 0, answer tokens
 * experts 1 and 2 in turn; each selection sees only its own records. */
TEST(reasoning_balance_apart)
{
    struct trace_log log;
    CHECK_INT_EQ(trace_log_init(&log, 1, 4, 1), 0);
    for (int i = 0; i < 8; i++) {
        trace_log_push(&log, i, "x", 1, i == 0);
        struct trace_token *t = &log.tok[i];
        t->fed = true;
        t->thinking = i >= 1 && i <= 4;
        struct trace_layer *ly = trace_layers(&log, (size_t)i);
        ly->n = 1;
        ly->experts[0] = (uint16_t)(t->thinking ? 0 : 1 + i % 2);
    }
    struct trace_balance th, an;
    CHECK_INT_EQ(trace_balance_select(&log, 0, log.n, TRACE_SEL_THINKING, &th), 0);
    CHECK_INT_EQ(trace_balance_select(&log, 0, log.n, TRACE_SEL_ANSWER, &an), 0);
    CHECK_INT_EQ(th.n_tokens, 4);
    CHECK_NEAR(th.max_load, 4, 1e-12);
    CHECK_NEAR(th.locality, 1.0, 1e-12); /* always the same expert */
    CHECK_INT_EQ(an.n_tokens, 3);        /* records 5, 6, 7 (the prompt is neither) */
    CHECK_NEAR(an.max_load, 2, 1e-12);
    CHECK_NEAR(an.locality, 0.0, 1e-12); /* alternating */
    trace_log_free(&log);
}
