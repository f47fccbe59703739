/* tests/tui_test_app.c: the app's state handling without a terminal: which panes a size
 * gets, the slash-command table and its handlers, the record queue between the engine
 * thread and the UI, UTF-8 held back while streaming, transcript wrapping, the status bar's
 * pieces, and the worker against the engine driven directly. */
#include <locale.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "app_session.h"
#include "commands_slash.h"
#include "conversation.h"
#include "intake.h"
#include "model_store.h"
#include "worker.h"
#include "draw.h"
#include "rec_queue.h"
#include "session.h"
#include "statusbar.h"
#include "test.h"

/* ---------------------------------------------------------------- layout */

/* Every cell of the screen belongs to exactly one pane, and no pane leaves the screen. */
static bool layout_tiles(const struct layout *l, int rows, int cols)
{
    static unsigned char cover[400][400];
    if (rows > 400 || cols > 400)
        return false;
    for (int y = 0; y < rows; y++)
        memset(cover[y], 0, (size_t)cols);
    const struct rect *r[] = { &l->status, &l->transcript, &l->input, &l->inspector, &l->sep,
                               &l->hints };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        if (r[i]->h == 0)
            continue;
        if (r[i]->y < 0 || r[i]->x < 0 || r[i]->y + r[i]->h > rows || r[i]->x + r[i]->w > cols)
            return false;
        for (int y = r[i]->y; y < r[i]->y + r[i]->h; y++)
            for (int x = r[i]->x; x < r[i]->x + r[i]->w; x++)
                cover[y][x]++;
    }
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++)
            if (cover[y][x] != 1)
                return false;
    return true;
}

TEST(app_layout_sizes)
{
    struct layout l;
    layout_compute(8, 30, true, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_TOO_SMALL);
    layout_compute(10, 39, true, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_TOO_SMALL);
    layout_compute(9, 200, true, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_TOO_SMALL);

    /* 120 columns: beside. 45% of 120 is 54, raised to the 56-column minimum. */
    layout_compute(40, 120, true, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_SIDE);
    CHECK_INT_EQ(l.inspector.w, 56);
    CHECK_INT_EQ(l.transcript.w, 120 - 56 - 1);
    CHECK_INT_EQ(l.inspector.h, 38);
    CHECK_INT_EQ(l.input.y, 38);
    CHECK_INT_EQ(l.hints.y, 39);
    /* 119: stacked, the inspector on top over the full width. */
    layout_compute(40, 119, true, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_STACKED);
    CHECK_INT_EQ(l.inspector.w, 119);
    CHECK(l.inspector.y < l.transcript.y);
    /* 80x24: stacked, 22 rows between the bars, 21 above the input: 45% is 9. */
    layout_compute(24, 80, true, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_STACKED);
    CHECK_INT_EQ(l.inspector.h, 9);
    CHECK_INT_EQ(l.transcript.h, 12);
    /* With focus the inspector takes 65% of those 21 rows: 13. */
    layout_compute(24, 80, true, true, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_STACKED);
    CHECK_INT_EQ(l.inspector.h, 13);
    CHECK_INT_EQ(l.transcript.h, 8);
    /* 200x60: beside, inspector at 90 columns. */
    layout_compute(60, 200, true, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_SIDE);
    CHECK_INT_EQ(l.inspector.w, 90);
    /* F2 off: the chat takes the whole width. */
    layout_compute(60, 200, false, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_CHAT_ONLY);
    CHECK_INT_EQ(l.transcript.w, 200);
    CHECK_INT_EQ(l.inspector.h, 0);
    /* Narrow and short: the chat, or the inspector when asked for (F2/Tab). */
    CHECK(layout_cramped(15, 80, 1));
    CHECK(!layout_cramped(24, 80, 1));
    CHECK(!layout_cramped(15, 120, 1));
    layout_compute(15, 80, true, false, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_CHAT_ONLY);
    layout_compute(15, 80, true, true, 1, &l);
    CHECK_INT_EQ(l.mode, LAYOUT_INSPECTOR_ONLY);
    CHECK(l.input.h == 1);
    /* A long input takes more rows, at most a third of the rows between the bars. */
    layout_compute(40, 120, true, false, 5, &l);
    CHECK_INT_EQ(l.input.h, 5);
    layout_compute(40, 120, true, false, 50, &l);
    CHECK_INT_EQ(l.input.h, 38 / 3);
}

TEST(app_layout_tiles_every_size)
{
    int bad = 0;
    for (int rows = 10; rows <= 120 && bad < 5; rows += 1)
        for (int cols = 40; cols <= 320; cols += 7)
            for (int mask = 0; mask < 8; mask++) {
                struct layout l;
                layout_compute(rows, cols, mask & 1, mask & 2, mask & 4 ? 6 : 1, &l);
                if (l.mode == LAYOUT_TOO_SMALL || !layout_tiles(&l, rows, cols)) {
                    CHECK_MSG(0, "%dx%d (mask %d): panes do not tile the screen", cols, rows,
                              mask);
                    bad++;
                }
                if (l.transcript.h > 0 && l.transcript.h < 4 && l.mode == LAYOUT_STACKED) {
                    CHECK_MSG(0, "%dx%d: stacked chat only %d rows", cols, rows,
                              l.transcript.h);
                    bad++;
                }
            }
}

/* ---------------------------------------------------------------- slash commands */

static void app_for_test(struct app *a)
{
    struct app_options o;
    app_options_default(&o);
    char err[256];
    CHECK(app_init(a, &o, err, sizeof err) == 0);
}

TEST(app_slash_table)
{
    for (size_t i = 0; i < slash_command_count; i++) {
        const struct slash_command *c = &slash_commands[i];
        CHECK_MSG(c->name[0] == '/' && c->help[0] && c->run, "row %zu incomplete", i);
        for (size_t j = 0; j < i; j++)
            CHECK_MSG(strcmp(c->name, slash_commands[j].name) != 0, "%s twice", c->name);
    }
    static const char *const wanted[] = { "/help", "/clear", "/system", "/set", "/regen",
                                          "/save", "/load", "/theme", "/quit" };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        const struct slash_command *c = slash_find(wanted[i], strlen(wanted[i]));
        CHECK_MSG(c && !strcmp(c->name, wanted[i]), "%s missing", wanted[i]);
    }
    CHECK(slash_find("/q", 2) == slash_find("/quit", 5));
    CHECK(slash_find("/s", 2) == NULL);        /* /system, /set, /save */
    CHECK(slash_find("/nope", 5) == NULL);
    CHECK(slash_find("/", 1) == NULL);
    CHECK(slash_find("/setx", 5) == NULL);
}

TEST(app_slash_run)
{
    struct app a;
    app_for_test(&a);
    CHECK(slash_run(&a, "/set temp 0.25") == 0);
    CHECK_NEAR(a.sampler.temp, 0.25, 1e-7);
    CHECK(slash_run(&a, "/set top_k 40") == 0);
    CHECK_INT_EQ(a.sampler.top_k, 40);
    CHECK(slash_run(&a, "/set top_k 1.5") == -1);    /* not whole */
    CHECK_INT_EQ(a.sampler.top_k, 40);
    CHECK(slash_run(&a, "/set top_p 2") == -1);      /* out of range */
    CHECK(slash_run(&a, "/set min_p 0.05") == 0);
    CHECK_NEAR(a.sampler.min_p, 0.05, 1e-7);
    CHECK(slash_run(&a, "/set seed 42") == 0);
    CHECK(a.sampler.seed == 42);
    CHECK(slash_run(&a, "/set seed random") == 0);
    CHECK(a.sampler.seed == UINT64_MAX);
    CHECK(slash_run(&a, "/set warmth 3") == -1);
    CHECK(strstr(a.msg, "warmth") != NULL);
    CHECK(slash_run(&a, "/set temp") == -1);
    CHECK(slash_run(&a, "/set temp 1 2") == -1);
    CHECK(slash_run(&a, "/set temp abc") == -1);
    CHECK_NEAR(a.sampler.temp, 0.25, 1e-7);

    CHECK(slash_run(&a, "/system Be brief.  ") == 0);
    CHECK_STR_EQ(a.system, "Be brief.");
    CHECK(slash_run(&a, "/system") == 0);
    CHECK(a.system == NULL);

    int before = a.tr.n;
    CHECK(slash_run(&a, "/help") == 0);
    CHECK_INT_EQ(a.tr.n, before + 1);
    CHECK(strstr(a.tr.msg[a.tr.n - 1].text, "/theme") != NULL);

    CHECK(slash_run(&a, "/regen") == -1);   /* nothing to regenerate */
    CHECK(slash_run(&a, "/theme mono") == 0);
    CHECK_STR_EQ(a.theme.name, "mono");
    CHECK(a.theme_dirty);
    CHECK(slash_run(&a, "/theme no-such-theme") == -1);
    CHECK_STR_EQ(a.theme.name, "mono");
    CHECK(slash_run(&a, "/load") == -1);
    CHECK(slash_run(&a, "/bogus") == -1);
    CHECK(strstr(a.msg, "unknown command") != NULL);
    CHECK(slash_run(&a, "/clear") == 0);
    CHECK_INT_EQ(a.tr.n, 0);
    CHECK(!a.quit);
    CHECK(slash_run(&a, "/quit") == 0);
    CHECK(a.quit);
    app_free(&a);
}

TEST(app_slash_complete)
{
    char buf[64];
    const char *c;
    /* Command names in table order. */
    CHECK_STR_EQ(slash_complete("/s", 2, 0, buf, sizeof buf), "/system");
    CHECK_STR_EQ(slash_complete("/s", 2, 1, buf, sizeof buf), "/set");
    CHECK_STR_EQ(slash_complete("/s", 2, 2, buf, sizeof buf), "/save");
    CHECK(slash_complete("/s", 2, 3, buf, sizeof buf) == NULL);
    CHECK_STR_EQ(slash_complete("/q", 2, 0, buf, sizeof buf), "/quit");
    /* /set's keys. */
    CHECK_STR_EQ(slash_complete("/set t", 6, 0, buf, sizeof buf), "temp");
    CHECK_STR_EQ(slash_complete("/set t", 6, 1, buf, sizeof buf), "top_k");
    CHECK_STR_EQ(slash_complete("/set t", 6, 2, buf, sizeof buf), "top_p");
    CHECK(slash_complete("/set t", 6, 3, buf, sizeof buf) == NULL);
    CHECK(slash_complete("/set temp 0", 11, 0, buf, sizeof buf) == NULL);
    /* /theme's built-ins. */
    c = slash_complete("/theme h", 8, 0, buf, sizeof buf);
    CHECK(c && !strcmp(c, "high-contrast"));
    /* Not a command: nothing. */
    CHECK(slash_complete("hello", 5, 0, buf, sizeof buf) == NULL);
}

/* ---------------------------------------------------------------- the queue */

enum { QL = 3, QE = 6, QK = 2 };

/* A record whose every field follows from (token, version), so copies can be checked. */
static void rec_fill(struct trace_log *log, size_t i, int version)
{
    struct trace_token *t = &log->tok[i];
    t->fed = version > 0;
    t->sampled = !t->prompt;
    t->logprob = -0.5f * (float)(t->token % 7) - (float)version;
    t->ns_total = (uint64_t)(1000 * (t->token + 1) + version);
    for (int l = 0; l < QL; l++) {
        struct trace_layer *y = &trace_layers(log, i)[l];
        memset(y, 0, sizeof *y);
        if (!t->fed)
            continue;
        y->n = QK;
        y->experts[0] = (uint16_t)((t->token + l) % QE);
        y->experts[1] = (uint16_t)((t->token + l + 1 + version) % QE);
        y->weights[0] = 0.6f;
        y->weights[1] = 0.4f;
        y->entropy = 0.1f * (float)l;
    }
}

static long rec_push(struct trace_log *log, int32_t token, bool prompt)
{
    char piece[16];
    int n = snprintf(piece, sizeof piece, "t%d", token);
    long i = trace_log_push(log, token, piece, (size_t)n, prompt);
    if (i >= 0)
        rec_fill(log, (size_t)i, 0);
    return i;
}

/* Whether two logs hold the same records (every field a copy carries). */
static bool logs_equal(const struct trace_log *a, const struct trace_log *b, char *why,
                       size_t len)
{
    if (a->n != b->n) {
        snprintf(why, len, "%zu records against %zu", a->n, b->n);
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct trace_token *x = &a->tok[i], *y = &b->tok[i];
        if (x->token != y->token || x->fed != y->fed || x->prompt != y->prompt ||
            x->logprob != y->logprob || x->ns_total != y->ns_total ||
            x->piece_len != y->piece_len ||
            memcmp(trace_piece(a, i), trace_piece(b, i), x->piece_len) != 0) {
            snprintf(why, len, "record %zu differs", i);
            return false;
        }
        if (memcmp(trace_layers(a, i), trace_layers(b, i),
                   (size_t)a->n_layers * sizeof(struct trace_layer)) != 0) {
            snprintf(why, len, "record %zu: layers differ", i);
            return false;
        }
    }
    return true;
}

TEST(app_queue_handover)
{
    struct rec_queue q;
    struct trace_log prod, ui;
    CHECK(rec_queue_init(&q, QL, QE, QK) == 0);
    trace_log_init(&prod, QL, QE, QK);
    trace_log_init(&ui, QL, QE, QK);
    char why[128];
    size_t first = 99;

    /* A prompt of 4, posted unfed, then fed: the UI takes once and sees the fed copies. */
    for (int t = 0; t < 4; t++)
        rec_push(&prod, 10 + t, true);
    rec_queue_post(&q, &prod, 0);
    for (size_t i = 0; i < 4; i++)
        rec_fill(&prod, i, 1);
    rec_queue_post(&q, &prod, 0);
    CHECK(rec_queue_take(&q, &ui, &first));
    CHECK_INT_EQ(first, 0);
    CHECK_MSG(logs_equal(&prod, &ui, why, sizeof why), "after prompt: %s", why);
    CHECK(!rec_queue_take(&q, &ui, &first));   /* nothing new */

    /* Sampled (unfed), posted; fed, posted from its index; next sampled posted: merged. */
    long i = rec_push(&prod, 20, false);
    rec_queue_post(&q, &prod, (size_t)i);
    rec_fill(&prod, (size_t)i, 1);
    rec_queue_post(&q, &prod, (size_t)i);
    long j = rec_push(&prod, 21, false);
    rec_queue_post(&q, &prod, (size_t)j);
    CHECK(rec_queue_take(&q, &ui, &first));
    CHECK_INT_EQ(first, 4);
    CHECK_MSG(logs_equal(&prod, &ui, why, sizeof why), "after decode: %s", why);
    CHECK(ui.tok[4].fed && !ui.tok[5].fed);

    /* Regenerate: the producer drops back to 3 records and grows again. */
    trace_log_truncate(&prod, 3);
    rec_queue_post(&q, &prod, 3);
    rec_push(&prod, 30, true);
    rec_fill(&prod, 3, 2);
    rec_queue_post(&q, &prod, 3);
    CHECK(rec_queue_take(&q, &ui, &first));
    CHECK_INT_EQ(first, 3);
    CHECK_MSG(logs_equal(&prod, &ui, why, sizeof why), "after regen: %s", why);

    /* Clear. */
    trace_log_clear(&prod);
    rec_queue_post(&q, &prod, 0);
    CHECK(rec_queue_take(&q, &ui, &first));
    CHECK_INT_EQ(ui.n, 0);
    CHECK(!q.failed);
    rec_queue_free(&q);
    trace_log_free(&prod);
    trace_log_free(&ui);
}

/* A server's log has no routing shape until its first expert ids arrive; then the worker's
 * log takes one (remote/turn.c) and posts from the turn's start, not from 0. The UI's log
 * must come out in the new shape with every record, whether it took the old posts or not. */
TEST(app_queue_reshape)
{
    struct rec_queue q;
    struct trace_log prod, ui;
    CHECK(rec_queue_init(&q, 0, 0, 0) == 0);
    trace_log_init(&prod, 0, 0, 0);
    trace_log_init(&ui, 0, 0, 0);
    char why[128];
    size_t first = 99;
    for (int t = 0; t < 4; t++)
        rec_push(&prod, 10 + t, t < 2);
    rec_queue_post(&q, &prod, 0);
    CHECK(rec_queue_take(&q, &ui, &first));
    CHECK_INT_EQ(ui.n, 4);

    for (int round = 0; round < 2; round++) {
        /* round 0: the UI took everything before the reshape; round 1: a post of the old
         * shape is still pending when the new shape arrives. */
        if (round == 1) {
            trace_log_free(&prod);
            trace_log_init(&prod, 0, 0, 0);
            for (int t = 0; t < 6; t++)
                rec_push(&prod, 20 + t, t < 3);
            rec_queue_post(&q, &prod, 3);
        }
        struct trace_log shaped;
        CHECK(trace_log_init(&shaped, QL, QE, QK) == 0);
        for (size_t i = 0; i < prod.n; i++) {
            rec_push(&shaped, prod.tok[i].token, prod.tok[i].prompt);
            rec_fill(&shaped, i, 1);
        }
        trace_log_free(&prod);
        prod = shaped;
        rec_queue_post(&q, &prod, 2);
        CHECK(rec_queue_take(&q, &ui, &first));
        CHECK_INT_EQ(first, 0);
        CHECK_INT_EQ(ui.n_layers, QL);
        CHECK_INT_EQ(ui.n_experts, QE);
        CHECK_INT_EQ(ui.n_experts_used, QK);
        CHECK_MSG(logs_equal(&prod, &ui, why, sizeof why), "round %d: %s", round, why);
        CHECK(!q.failed);
        if (round == 0) {
            /* Same shape from now on: posts are tails again. */
            long i = rec_push(&prod, 40, false);
            rec_fill(&prod, (size_t)i, 1);
            rec_queue_post(&q, &prod, (size_t)i);
            CHECK(rec_queue_take(&q, &ui, &first));
            CHECK_INT_EQ(first, (size_t)i);
            CHECK_MSG(logs_equal(&prod, &ui, why, sizeof why), "after: %s", why);
            /* back to no shape for round 1 */
            trace_log_free(&prod);
            trace_log_init(&prod, 0, 0, 0);
            rec_queue_post(&q, &prod, 0);
            CHECK(rec_queue_take(&q, &ui, &first));
            CHECK_INT_EQ(ui.n_layers, 0);
            CHECK_INT_EQ(ui.n, 0);
        }
    }
    rec_queue_free(&q);
    trace_log_free(&prod);
    trace_log_free(&ui);
}

struct qthread {
    struct rec_queue *q;
    struct trace_log prod;
    atomic_int done;              /* set by the producer when it has posted everything */
};

/* A producer that behaves like the worker: pushes, feeds, sometimes regenerates. */
static void *queue_producer(void *arg)
{
    struct qthread *t = arg;
    unsigned seed = 7;
    for (int step = 0; step < 3000; step++) {
        seed = seed * 1103515245u + 12345u;
        if (seed % 97 == 0 && t->prod.n > 8) {
            size_t keep = t->prod.n - 1 - (seed >> 8) % 8;
            trace_log_truncate(&t->prod, keep);
            rec_queue_post(t->q, &t->prod, keep);
            continue;
        }
        long i = rec_push(&t->prod, (int32_t)(seed >> 16) % 500, (seed >> 4) % 5 == 0);
        rec_queue_post(t->q, &t->prod, (size_t)i);
        rec_fill(&t->prod, (size_t)i, 1);
        rec_queue_post(t->q, &t->prod, (size_t)i);
    }
    atomic_store(&t->done, 1);
    return NULL;
}

TEST(app_queue_threads)
{
    struct rec_queue q;
    CHECK(rec_queue_init(&q, QL, QE, QK) == 0);
    struct qthread t = { .q = &q };
    atomic_init(&t.done, 0);
    trace_log_init(&t.prod, QL, QE, QK);
    struct trace_log ui;
    trace_log_init(&ui, QL, QE, QK);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, queue_producer, &t) == 0);
    long takes = 0;
    size_t first;
    /* The consumer takes whenever it likes; it must end with an exact copy. */
    while (!atomic_load(&t.done)) {
        if (rec_queue_take(&q, &ui, &first))
            takes++;
        usleep(50);
    }
    pthread_join(th, NULL);
    rec_queue_take(&q, &ui, &first);
    char why[128];
    CHECK_MSG(logs_equal(&t.prod, &ui, why, sizeof why), "after %ld takes: %s", takes, why);
    CHECK(takes > 1);
    CHECK(!q.failed);
    rec_queue_free(&q);
    trace_log_free(&t.prod);
    trace_log_free(&ui);
}

/* ---------------------------------------------------------------- UTF-8 and wrapping */

TEST(app_utf8_stream_prefix)
{
    CHECK_INT_EQ(utf8_complete_prefix("abc", 3), 3);
    CHECK_INT_EQ(utf8_complete_prefix("a\xC3", 2), 1);              /* é cut after its lead */
    CHECK_INT_EQ(utf8_complete_prefix("a\xC3\xA9", 3), 3);
    CHECK_INT_EQ(utf8_complete_prefix("\xE2\x82", 2), 0);           /* € cut */
    CHECK_INT_EQ(utf8_complete_prefix("\xE2\x82\xAC", 3), 3);
    CHECK_INT_EQ(utf8_complete_prefix("x\xF0\x9F\x98", 4), 1);      /* emoji cut */
    CHECK_INT_EQ(utf8_complete_prefix("x\xF0\x9F\x98\x80", 5), 5);
    CHECK_INT_EQ(utf8_complete_prefix("a\xFF", 2), 2);              /* never valid: shown */
    CHECK_INT_EQ(utf8_complete_prefix("a\x80", 2), 2);              /* stray continuation */
    CHECK_INT_EQ(utf8_complete_prefix("", 0), 0);
}

static void wrap_lines(const char *text, int w, char out[][64], int *n)
{
    struct message m;
    memset(&m, 0, sizeof m);
    m.text = (char *)text;
    m.len = strlen(text);
    transcript_wrap(&m, w, true);
    *n = m.n_wl;
    for (int i = 0; i < m.n_wl && i < 16; i++)
        snprintf(out[i], 64, "%.*s", (int)m.wl[i].len, text + m.wl[i].off);
    free(m.wl);
}

TEST(app_transcript_wrap)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    char l[16][64];
    int n;
    wrap_lines("hello world foo", 10, l, &n);
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(l[0], "hello ");
    CHECK_STR_EQ(l[1], "world foo");
    wrap_lines("one\ntwo", 40, l, &n);
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(l[1], "two");
    /* A word longer than the width is cut. */
    wrap_lines("abcdefghij", 4, l, &n);
    CHECK_INT_EQ(n, 3);
    CHECK_STR_EQ(l[2], "ij");
    /* Wide characters take two columns: two of them fill a width of 5. */
    wrap_lines("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x83\x86", 5, l, &n);
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(l[0], "\xE6\x97\xA5\xE6\x9C\xAC");
    /* ESC is drawn as \e (2 columns): "a\eb" is 4 columns and fits 4 but not 3. */
    wrap_lines("a\x1b" "b", 4, l, &n);
    CHECK_INT_EQ(n, 1);
    wrap_lines("a\x1b" "b", 3, l, &n);
    CHECK_INT_EQ(n, 2);
    /* A tab goes to the next multiple of 4: "ab\tc" is 5 columns. */
    wrap_lines("ab\tcd", 6, l, &n);
    CHECK_INT_EQ(n, 1);
    wrap_lines("ab\tcd", 5, l, &n);
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(l[1], "d");
}

/* Random bytes: no line is wider than the width (unless one unit is), and the lines
 * together are the whole text, in order. */
TEST(app_transcript_wrap_random)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    unsigned seed = 1;
    char text[400];
    int bad = 0;
    for (int round = 0; round < 300 && bad < 3; round++) {
        size_t len = 0;
        while (len < sizeof text - 5) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            if (r % 5 == 0)
                text[len++] = ' ';
            else if (r % 7 == 0)
                len += (size_t)snprintf(text + len, 5, "\xE6\x97\xA5");
            else
                text[len++] = (char)(r % 3 == 0 ? (r >> 3) & 0xff : 'a' + r % 26);
            if (text[len - 1] == '\t')
                text[len - 1] = 'x';   /* tabs expand by column: measured apart below */
        }
        struct message m;
        memset(&m, 0, sizeof m);
        m.text = text;
        m.len = len;
        int w = 3 + round % 30;
        transcript_wrap(&m, w, true);
        size_t next = 0;
        for (int i = 0; i < m.n_wl; i++) {
            const struct wrap_line *wl = &m.wl[i];
            if (wl->off != next && !(wl->off == next + 1 && text[next] == '\n')) {
                CHECK_MSG(0, "round %d: line %d starts at %u, expected %zu", round, i, wl->off,
                          next);
                bad++;
                break;
            }
            next = wl->off + wl->len;
            int width = draw_text_width(text + wl->off, wl->len, true);
            /* Spaces kept at a line's end are invisible: measure without them. */
            size_t vis = wl->len;
            while (vis > 0 && text[wl->off + vis - 1] == ' ')
                vis--;
            int wv = draw_text_width(text + wl->off, vis, true);
            int unit;
            text_unit(text + wl->off, wl->len, true, &unit);
            (void)width;
            if (wv > w && wv > unit) {
                CHECK_MSG(0, "round %d: line %d is %d columns at width %d", round, i, wv, w);
                bad++;
                break;
            }
        }
        if (next != len) {
            CHECK_MSG(0, "round %d: lines end at %zu of %zu bytes", round, next, len);
            bad++;
        }
        free(m.wl);
    }
}

/* ---------------------------------------------------------------- the status bar */

TEST(app_statusbar_pieces)
{
    struct app a;
    app_for_test(&a);
    a.model_ready = true;
    a.random_weights = true;
    snprintf(a.model_label, sizeof a.model_label, "moescope random default");
    snprintf(a.ws.desc.arch, sizeof a.ws.desc.arch, "qwen2moe");
    a.ws.desc.n_experts = 8;
    a.ws.desc.n_experts_used = 2;
    a.frame.rss_mb = 123;
    char buf[512];
    statusbar_format(&a, 300, buf, sizeof buf);
    CHECK(strstr(buf, "random weights") != NULL);
    CHECK(strstr(buf, "2 of 8 experts") != NULL);
    CHECK(strstr(buf, "qwen2moe") != NULL);
    CHECK(strstr(buf, "RSS 123 MB") != NULL);
    CHECK(strstr(buf, "replay") != NULL);     /* no worker: what the bar calls it */
    /* 50 columns: the least important pieces go first; the warning stays. */
    size_t n = statusbar_format(&a, 50, buf, sizeof buf);
    CHECK(n <= 50);
    CHECK(strstr(buf, "random weights") != NULL);
    CHECK(strstr(buf, "RSS") == NULL);
    CHECK(strstr(buf, "qwen2moe") == NULL);
    app_free(&a);
}

/* ---------------------------------------------------------------- the worker */

/* Waits (polling its pipe, as the UI does) until the worker's state satisfies done. */
static bool worker_wait(struct worker *w, struct trace_log *log, struct worker_status *st,
                        bool (*done)(const struct worker_status *), int timeout_ms)
{
    size_t first;
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        worker_take(w, log, &first, st);
        if (done(st))
            return true;
        struct pollfd p = { worker_wake_fd(w), POLLIN, 0 };
        poll(&p, 1, 20);
    }
    return false;
}

static bool st_opened(const struct worker_status *s)
{
    return s->opened || s->state == WORKER_FAILED;
}

static unsigned long want_done;
static bool st_done(const struct worker_status *s)
{
    return s->done_seq >= want_done;
}

/* The worker's records, taken through the queue while it generates, are exactly what the
 * engine gives when driven directly with the same prompt and greedy sampling (timings
 * apart). Model: fixtures/models/qwen2moe-tiny-f32.gguf; prompt: the fixture's ChatML. */
TEST(app_worker_matches_engine)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models/qwen2moe-tiny-f32.gguf", fx);
    if (access(path, R_OK) != 0) {
        test_skip("no qwen2moe-tiny-f32.gguf");
        return;
    }
    static const char prompt[] = "<|im_start|>user\nWhy is a mixture of experts fast?<|im_end|>\n"
                                 "<|im_start|>assistant\n";
    enum { N_PREDICT = 24 };
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    ep.trace = true;
    ep.sampler.temp = 0;
    char err[512];
    struct worker *w = worker_start(&ep, err, sizeof err);
    CHECK(w != NULL);
    if (!w)
        return;
    struct worker_status st;
    memset(&st, 0, sizeof st);
    struct trace_log ui;
    trace_log_init(&ui, 0, 0, 0);
    CHECK(worker_wait(w, &ui, &st, st_opened, 20000));
    CHECK_MSG(st.opened, "worker: %s", st.err);
    if (!st.opened) {
        worker_quit(w, 2000);
        return;
    }
    trace_log_free(&ui);
    trace_log_init(&ui, st.desc.n_layers, st.desc.n_experts, st.desc.n_experts_used);
    struct sampler_params sp = ep.sampler;
    CHECK(worker_submit_reply(w, prompt, strlen(prompt), &sp, N_PREDICT) == 0);
    CHECK(worker_submit_reply(w, prompt, strlen(prompt), &sp, N_PREDICT) == -1); /* busy */
    want_done = 1;
    CHECK(worker_wait(w, &ui, &st, st_done, 60000));
    CHECK_MSG(st.done_why == REPLY_EOG || st.done_why == REPLY_LIMIT, "ended %d: %s",
              (int)st.done_why, st.err);

    /* The same, straight through the engine. */
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK(e != NULL);
    if (e) {
        struct trace_log ref;
        const struct model_desc *d = engine_desc(e);
        trace_log_init(&ref, d->n_layers, d->n_experts, d->n_experts_used);
        int32_t toks[256];
        int m = engine_tokenize(e, prompt, strlen(prompt), true, true, toks, 256, err,
                                sizeof err);
        CHECK(m > 0);
        char piece[256];
        for (int i = 0; i < m; i++) {
            size_t pl = engine_token_piece(e, toks[i], piece, sizeof piece);
            trace_log_push(&ref, toks[i], piece, pl, true);
        }
        engine_set_sampler(e, &sp);
        CHECK(engine_eval(e, &ref, err, sizeof err) == 0);
        for (int k = 0; k < N_PREDICT; k++) {
            long idx = engine_sample(e, &ref, err, sizeof err);
            if (idx < 0 || engine_token_is_eog(e, ref.tok[idx].token) || k == N_PREDICT - 1)
                break;
            CHECK(engine_eval(e, &ref, err, sizeof err) == 0);
        }
        CHECK_INT_EQ(ui.n, ref.n);
        size_t n = ui.n < ref.n ? ui.n : ref.n;
        int diff = 0;
        for (size_t i = 0; i < n && diff < 3; i++) {
            const struct trace_token *a = &ui.tok[i], *b = &ref.tok[i];
            bool same = a->token == b->token && a->fed == b->fed && a->prompt == b->prompt &&
                        a->logprob == b->logprob && a->piece_len == b->piece_len;
            for (int l = 0; l < ui.n_layers && same; l++) {
                const struct trace_layer *x = &trace_layers(&ui, i)[l],
                                         *y = &trace_layers(&ref, i)[l];
                same = x->n == y->n &&
                       !memcmp(x->experts, y->experts, sizeof x->experts[0] * x->n) &&
                       !memcmp(x->weights, y->weights, sizeof x->weights[0] * x->n);
            }
            if (!same) {
                CHECK_MSG(0, "record %zu differs between the worker and the engine", i);
                diff++;
            }
        }
        /* The reply text is the generated pieces, without the end-of-turn token. */
        size_t want = 0;
        for (size_t i = (size_t)m; i < ref.n; i++)
            if (!engine_token_is_eog(e, ref.tok[i].token))
                want += ref.tok[i].piece_len;
        CHECK_INT_EQ(st.reply_len, want);
        CHECK_INT_EQ(st.reply_first, m);
        trace_log_free(&ref);
        engine_close(e);
    }

    /* A second turn keeps every record of the first, the sampled reply tokens included
     * (their text is matched, not re-tokenized), and feeds only what follows. */
    size_t n_before = ui.n;
    size_t first_reply_len = st.reply_len;
    int32_t *first_ids = malloc(n_before * sizeof *first_ids);
    for (size_t i = 0; first_ids && i < n_before; i++)
        first_ids[i] = ui.tok[i].token;
    char second[1024];
    snprintf(second, sizeof second, "%s%.*s<|im_end|>\n<|im_start|>user\nAnd?<|im_end|>\n"
             "<|im_start|>assistant\n", prompt, (int)st.reply_len, st.reply ? st.reply : "");
    CHECK(worker_submit_reply(w, second, strlen(second), &sp, 4) == 0);
    want_done = 2;
    CHECK(worker_wait(w, &ui, &st, st_done, 60000));
    CHECK(ui.n > n_before);
    int kept = 0;
    for (size_t i = 0; first_ids && i < n_before && i < ui.n; i++)
        kept += ui.tok[i].token == first_ids[i] && ui.tok[i].fed;
    CHECK_INT_EQ(kept, n_before);
    free(first_ids);

    /* Regenerate the first reply: the first prompt alone again. Its records are kept, the
     * rest dropped, and greedy sampling writes the same reply. */
    CHECK(worker_submit_reply(w, prompt, strlen(prompt), &sp, N_PREDICT) == 0);
    want_done = 3;
    CHECK(worker_wait(w, &ui, &st, st_done, 60000));
    CHECK_INT_EQ(ui.n, n_before);
    CHECK_INT_EQ(st.reply_len, first_reply_len);

    /* Reset: the UI's copy empties too. */
    CHECK(worker_submit_reset(w) == 0);
    for (int i = 0; i < 100 && ui.n > 0; i++) {
        size_t first;
        worker_take(w, &ui, &first, &st);
        usleep(10000);
    }
    CHECK_INT_EQ(ui.n, 0);
    worker_quit(w, 5000);
    trace_log_free(&ui);
    free(st.reply);
}

/* A model that cannot be opened is a status with a message, not a crash. */
TEST(app_worker_bad_model)
{
    struct engine_params ep;
    engine_params_default(&ep);
    char path[512];
    snprintf(path, sizeof path, "%s/nothing-here.gguf", test_tmp_dir());
    ep.model_path = path;
    char err[512];
    struct worker *w = worker_start(&ep, err, sizeof err);
    CHECK(w != NULL);
    if (!w)
        return;
    struct worker_status st;
    memset(&st, 0, sizeof st);
    struct trace_log ui;
    trace_log_init(&ui, 0, 0, 0);
    CHECK(worker_wait(w, &ui, &st, st_opened, 10000));
    CHECK_INT_EQ(st.state, WORKER_FAILED);
    CHECK(strstr(st.err, "nothing-here.gguf") != NULL);
    CHECK(worker_submit_reply(w, "x", 1, NULL, 1) == -1);
    worker_quit(w, 2000);
    trace_log_free(&ui);
    free(st.reply);
}

/* ---------------------------------------------------------------- drawing, read back */

static SCREEN *dt_screen;

/* A dummy xterm-256color screen writing to /dev/null, the same size the views' tests use,
 * so whichever test file makes its screen first, the other's windows fit. */
static bool dt_init(void)
{
    if (dt_screen)
        return true;
    setlocale(LC_ALL, "C.UTF-8");
    setenv("LINES", "200", 1);
    setenv("COLUMNS", "300", 1);
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    if (!out || !in || !(dt_screen = newterm("xterm-256color", out, in))) {
        test_skip("no xterm-256color terminfo: cannot make a dummy terminal");
        return false;
    }
    return true;
}

static void dt_cell(WINDOW *w, int y, int x, wchar_t *ch, short *pair)
{
    cchar_t cc;
    wchar_t wc[CCHARW_MAX + 1] = { 0 };
    attr_t at;
    *pair = -1;
    *ch = 0;
    if (mvwin_wch(w, y, x, &cc) == ERR)
        return;
    getcchar(&cc, wc, &at, pair, NULL);
    *ch = wc[0];
}

static const char *dt_row(WINDOW *w, int y)
{
    static char buf[1024];
    wchar_t wbuf[300];
    int n = mvwinnwstr(w, y, 0, wbuf, getmaxx(w) < 299 ? getmaxx(w) : 299);
    wbuf[n > 0 ? n : 0] = 0;
    size_t m = wcstombs(buf, wbuf, sizeof buf - 1);
    buf[m == (size_t)-1 ? 0 : m] = 0;
    return buf;
}

/* The transcript draws a reply with its escapes in the escape colour and the token the
 * inspector selected in the selection colour, and scrolls that token into view. */
TEST(app_transcript_draw_selection)
{
    if (!dt_init())
        return;
    struct app a;
    app_for_test(&a);
    a.utf8 = true;
    draw_theme_apply(&a.theme);
    trace_log_free(&a.log);
    trace_log_init(&a.log, 1, 2, 1);
    static const char *const pieces[] = { "p", "He", "llo", " wor", "ld\x1b" };
    for (int i = 0; i < 5; i++) {
        long k = trace_log_push(&a.log, 10 + i, pieces[i], strlen(pieces[i]), i == 0);
        a.log.tok[k].sampled = i > 0;
    }
    transcript_add(&a.tr, MSG_USER, "hi", 2);
    /* Many lines before the reply, so it starts out of view. */
    for (int i = 0; i < 30; i++)
        transcript_addf(&a.tr, MSG_NOTE, "note %d", i);
    int r = transcript_add(&a.tr, MSG_ASSISTANT, "Hello world\x1b", 12);
    a.tr.msg[r].rec_first = 1;
    a.tr.msg[r].rec_end = 5;
    for (int i = 0; i < 30; i++)
        transcript_addf(&a.tr, MSG_NOTE, "after %d", i);
    a.sel = 2;                      /* "llo" */
    a.tr.reveal = true;
    WINDOW *w = newwin(10, 40, 0, 0);
    transcript_draw(&a, &a.tr, w);
    int row = -1;
    for (int y = 0; y < 10; y++)
        if (strstr(dt_row(w, y), "Hello world"))
            row = y;
    CHECK_MSG(row >= 0, "the selected token's reply was not scrolled into view");
    if (row >= 0) {
        /* "● Hello world\e": the gutter is 2 columns, "llo" is columns 4..6. */
        CHECK(strncmp(dt_row(w, row), "\xe2\x97\x8f Hello world\\e", 16) == 0);
        wchar_t ch;
        short pair, sel = draw_pair(THEME_SELECTION), esc = draw_pair(THEME_ESCAPE);
        dt_cell(w, row, 2, &ch, &pair);
        CHECK(ch == L'H' && pair != sel);
        for (int x = 4; x <= 6; x++) {
            dt_cell(w, row, x, &ch, &pair);
            CHECK_MSG(pair == sel, "column %d: pair %d, selection is %d", x, pair, sel);
        }
        dt_cell(w, row, 7, &ch, &pair);
        CHECK(ch == L' ' && pair != sel);
        dt_cell(w, row, 13, &ch, &pair);  /* the backslash of \e */
        CHECK(ch == L'\\' && pair == esc);
    }
    /* The end-of-turn style case: a selected record whose bytes are not in the text. */
    a.sel = 0;                      /* a prompt record: nothing highlighted */
    transcript_draw(&a, &a.tr, w);
    short sel = draw_pair(THEME_SELECTION);
    int highlighted = 0;
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 40; x++) {
            wchar_t ch;
            short pair;
            dt_cell(w, y, x, &ch, &pair);
            highlighted += pair == sel;
        }
    CHECK_INT_EQ(highlighted, 0);
    delwin(w);
    app_free(&a);
}

/* The status bar and the hint line are drawn in one row each, clipped to the width. */
TEST(app_bars_draw)
{
    if (!dt_init())
        return;
    struct app a;
    app_for_test(&a);
    a.utf8 = true;
    draw_theme_apply(&a.theme);
    a.model_ready = true;
    a.random_weights = true;
    snprintf(a.model_label, sizeof a.model_label, "tiny");
    snprintf(a.ws.desc.arch, sizeof a.ws.desc.arch, "qwen2moe");
    a.ws.desc.n_experts = 8;
    a.ws.desc.n_experts_used = 2;
    WINDOW *w = newwin(1, 60, 0, 0);
    statusbar_draw(&a, w);
    CHECK(strstr(dt_row(w, 0), "random weights") != NULL);
    CHECK(strstr(dt_row(w, 0), "2 of 8 experts") != NULL);
    hints_draw(&a, w);
    CHECK(strstr(dt_row(w, 0), "Enter send") != NULL);
    app_message(&a, true, "something\nwent wrong");
    hints_draw(&a, w);
    CHECK(strstr(dt_row(w, 0), "something went wrong") != NULL);
    a.msg[0] = 0;
    a.focus = FOCUS_INSPECTOR;
    hints_draw(&a, w);
    CHECK(strstr(dt_row(w, 0), "token") != NULL);
    delwin(w);
    app_free(&a);
}

/* A long prompt is fed in chunks (so Esc is heard). The records must be the ones a single
 * engine_eval of the whole prompt gives: the same tokens and experts everywhere, and the same
 * weights and entropies bit for bit except at the last layer of a chunk's last row. That
 * row's last layer is computed (its logits are needed at the end of a chunk), where in one
 * eval it is computed in a larger batch with other rows skipped, so its float sums may round
 * differently: there the weights must agree to 1e-6. Model: qwen2moe-tiny-f32. */
TEST(app_worker_chunked_prefill)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models/qwen2moe-tiny-f32.gguf", fx);
    if (access(path, R_OK) != 0) {
        test_skip("no qwen2moe-tiny-f32.gguf");
        return;
    }
    char prompt[4096];
    size_t off = (size_t)snprintf(prompt, sizeof prompt, "<|im_start|>user\n");
    for (int i = 0; i < 25 && off < sizeof prompt - 200; i++)
        off += (size_t)snprintf(prompt + off, sizeof prompt - off, "expert %d routes token %d; ",
                                i % 8, i * 7);
    snprintf(prompt + off, sizeof prompt - off, "<|im_end|>\n");
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    ep.trace = true;
    char err[512];
    struct worker *w = worker_start(&ep, err, sizeof err);
    CHECK(w != NULL);
    if (!w)
        return;
    struct worker_status st;
    memset(&st, 0, sizeof st);
    struct trace_log ui;
    trace_log_init(&ui, 0, 0, 0);
    CHECK(worker_wait(w, &ui, &st, st_opened, 20000));
    trace_log_free(&ui);
    trace_log_init(&ui, st.desc.n_layers, st.desc.n_experts, st.desc.n_experts_used);
    CHECK(worker_submit_feed(w, prompt, strlen(prompt)) == 0);
    want_done = 1;
    CHECK(worker_wait(w, &ui, &st, st_done, 60000));
    CHECK_INT_EQ(st.done_why, REPLY_FED);
    CHECK_MSG(ui.n > 64, "the prompt is %zu tokens: not more than one chunk", ui.n);

    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK(e != NULL);
    if (e) {
        struct trace_log ref;
        const struct model_desc *d = engine_desc(e);
        trace_log_init(&ref, d->n_layers, d->n_experts, d->n_experts_used);
        int32_t toks[2048];
        int m = engine_tokenize(e, prompt, strlen(prompt), true, true, toks, 2048, err,
                                sizeof err);
        char piece[256];
        for (int i = 0; i < m; i++) {
            size_t pl = engine_token_piece(e, toks[i], piece, sizeof piece);
            trace_log_push(&ref, toks[i], piece, pl, true);
        }
        CHECK(engine_eval(e, &ref, err, sizeof err) == 0);
        CHECK_INT_EQ(ui.n, ref.n);
        int diff = 0, boundary_rows = 0;
        for (size_t i = 0; i < ui.n && i < ref.n && diff < 3; i++) {
            bool same = ui.tok[i].token == ref.tok[i].token && ui.tok[i].fed == ref.tok[i].fed;
            for (int l = 0; l < ui.n_layers && same; l++) {
                const struct trace_layer *x = &trace_layers(&ui, i)[l],
                                         *y = &trace_layers(&ref, i)[l];
                same = x->n == y->n &&
                       !memcmp(x->experts, y->experts, sizeof x->experts[0] * x->n);
                bool exact = same &&
                             !memcmp(x->weights, y->weights, sizeof x->weights[0] * x->n) &&
                             x->entropy == y->entropy;
                if (same && !exact) {
                    /* Only a last layer may differ, and only in the last bits. */
                    same = l == ui.n_layers - 1 && fabsf(x->entropy - y->entropy) < 1e-6f;
                    for (int k = 0; k < x->n && same; k++)
                        same = fabsf(x->weights[k] - y->weights[k]) < 1e-6f;
                    boundary_rows += same;
                }
            }
            if (!same) {
                CHECK_MSG(0, "record %zu: chunked prefill differs from one eval", i);
                diff++;
            }
        }
        /* At most one row a chunk: the prompt is a few hundred tokens, chunks are >= 16. */
        CHECK(boundary_rows <= (int)(ui.n / 16));
        trace_log_free(&ref);
        engine_close(e);
    }
    worker_quit(w, 5000);
    trace_log_free(&ui);
    free(st.reply);
}

/* A send that fails before its first token (here: one message longer than the whole
 * context) has no reply text: the worker used to hand back the previous reply's text, and
 * the app drew it again under the new message. Model: fixtures/models/qwen2moe-tiny-f32. */
TEST(app_worker_failed_send_has_no_reply)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models/qwen2moe-tiny-f32.gguf", fx);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = path;
    ep.n_threads = 1;
    ep.n_ctx = 64;
    char err[512];
    struct worker *w = worker_start(&ep, err, sizeof err);
    CHECK(w != NULL);
    if (!w)
        return;
    struct worker_status st;
    memset(&st, 0, sizeof st);
    struct trace_log ui;
    trace_log_init(&ui, 0, 0, 0);
    CHECK(worker_wait(w, &ui, &st, st_opened, 20000));
    trace_log_free(&ui);
    trace_log_init(&ui, st.desc.n_layers, st.desc.n_experts, st.desc.n_experts_used);
    struct sampler_params sp;
    sampler_params_default(&sp);
    sp.temp = 0;
    const char *hello = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    want_done = st.done_seq + 1;
    CHECK(worker_submit_reply(w, hello, strlen(hello), &sp, 6) == 0);
    CHECK(worker_wait(w, &ui, &st, st_done, 20000));
    CHECK_MSG(st.reply_len > 0, "the first reply is empty (ended %d)", st.done_why);
    char long_text[4096];
    size_t off = (size_t)snprintf(long_text, sizeof long_text, "<|im_start|>user\n");
    for (int i = 0; i < 60 && off < sizeof long_text - 64; i++)
        off += (size_t)snprintf(long_text + off, sizeof long_text - off, "word%d ", i);
    snprintf(long_text + off, sizeof long_text - off, "<|im_end|>\n<|im_start|>assistant\n");
    want_done = st.done_seq + 1;
    worker_set_context(w, 0, false);
    CHECK(worker_submit_reply(w, long_text, strlen(long_text), &sp, 6) == 0);
    CHECK(worker_wait(w, &ui, &st, st_done, 20000));
    CHECK_INT_EQ(st.done_why, REPLY_ERROR);
    CHECK_MSG(strstr(st.err, "the context holds 64"), "%s", st.err);
    CHECK_MSG(st.reply_len == 0, "a failed send shows a reply of %zu bytes: '%.40s'",
              st.reply_len, st.reply ? st.reply : "");
    worker_quit(w, 5000);
    trace_log_free(&ui);
    free(st.reply);
}

/* After a turn drop the worker feeds the kept turns again as one prompt: each kept reply gets
 * its records back (the session's chunks say which tokens were its), the dropped messages
 * none, and the saved session says which messages were out of context. */
TEST(app_turn_drop_keeps_ranges_and_marks)
{
    struct app a;
    app_for_test(&a);
    trace_log_free(&a.log);
    CHECK_INT_EQ(trace_log_init(&a.log, 1, 4, 1), 0);
    static const char *const said[][2] = { { "u", "one" }, { "a", "alpha" }, { "u", "two" },
                                           { "a", "beta beta" }, { "u", "three" },
                                           { "a", "gamma" } };
    for (int i = 0; i < 6; i++) {
        int k = transcript_add(&a.tr, said[i][0][0] == 'u' ? MSG_USER : MSG_ASSISTANT,
                               said[i][1], strlen(said[i][1]));
        CHECK_INT_EQ(k, i);
        a.tr.msg[i].out_of_context = i < 2;
    }
    /* The context after the drop: system prompt, turn two fed again, turn three's reply. */
    static const char *const pieces[] = { "<s>", "<u>", "two", "</u>", "<a>", "beta", " beta",
                                          "</a>", "<u>", "three", "</u>", "<a>", "gam", "ma" };
    for (int i = 0; i < 14; i++)
        CHECK(trace_log_push(&a.log, i + 1, pieces[i], strlen(pieces[i]), i < 12) == i);
    a.tr.msg[5].rec_first = 12;
    a.tr.msg[5].rec_end = 14;
    conversation_rebind_ranges(&a, 5);
    CHECK_INT_EQ(a.tr.msg[3].rec_first, 5);
    CHECK_INT_EQ(a.tr.msg[3].rec_end, 7);
    CHECK_INT_EQ(a.tr.msg[1].rec_end, 0);
    CHECK_INT_EQ(a.tr.msg[1].rec_first, -1);

    char path[] = "/tmp/moescope-turndrop-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    CHECK_INT_EQ(app_session_save(&a, path, true), 0);
    struct session s;
    char err[512];
    CHECK_INT_EQ(session_load(&s, path, err, sizeof err), 0);
    CHECK_INT_EQ(s.n_msg, 6);
    for (size_t i = 0; i < s.n_msg && i < 6; i++)
        CHECK_MSG(s.msg[i].out_of_context == (i < 2), "message %zu: out_of_context %d", i,
                  s.msg[i].out_of_context);
    CHECK_MSG(s.msg[1].trace_begin == s.msg[1].trace_end, "a dropped reply owns records");
    CHECK_INT_EQ(s.msg[3].trace_begin, 0);
    CHECK_INT_EQ(s.msg[3].trace_end, 7);
    CHECK_INT_EQ(s.msg[5].trace_begin, 7);
    CHECK_INT_EQ(s.msg[5].trace_end, 14);
    session_free(&s);
    /* The replay shows the marks. */
    struct app b;
    app_for_test(&b);
    b.replay = true;
    CHECK_INT_EQ(app_session_load(&b, path), 0);
    int marked = 0, chat = 0;
    for (int i = 0; i < b.tr.n; i++) {
        const struct message *m = &b.tr.msg[i];
        if (!m->in_chat)
            continue;
        CHECK_MSG(m->out_of_context == (chat < 2), "replayed message %d: out_of_context %d",
                  chat, m->out_of_context);
        marked += strstr(m->meta, "out of context") != NULL;
        chat++;
    }
    CHECK_INT_EQ(chat, 6);
    CHECK_INT_EQ(marked, 2);
    app_free(&b);
    unlink(path);
    app_free(&a);
}

/* Pumps the app's intake until done(a) or timeout_ms. */
static bool app_pump_until(struct app *a, bool (*done)(const struct app *), int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 10) {
        intake_pump(a);
        if (done(a))
            return true;
        usleep(10000);
    }
    return false;
}
static bool app_ready(const struct app *a) { return a->model_ready && !app_busy(a); }
static bool app_switch_settled(const struct app *a) { return !a->next_worker; }

static int count_notes(const struct app *a, const char *needle)
{
    int n = 0;
    for (int i = 0; i < a->tr.n; i++)
        n += strstr(a->tr.msg[i].text, needle) != NULL;
    return n;
}

/* /model to a file whose header passes the check but which fails in engine_open (its
 * tokenizer model renamed: the header check reads the tensors, not the vocabulary): the old model stays open and answers, the reason is
 * in the transcript. Then a good file: it takes over, introduced once, and the app's welcome
 * is not shown again. */
TEST(app_switch_to_model_that_fails_to_open_keeps_the_old)
{
    const char *fx = test_fixtures_dir();
    if (!fx) {
        test_skip("no fixtures");
        return;
    }
    char good[1024], bad[] = "/tmp/moescope-nobind-XXXXXX";
    snprintf(good, sizeof good, "%s/models/qwen2moe-tiny-f32.gguf", fx);
    size_t len = 0;
    char *bytes = NULL;
    FILE *f = fopen(good, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    bytes = malloc(8 << 20);
    len = fread(bytes, 1, 8 << 20, f);
    fclose(f);
    char *key = memmem(bytes, len < 65536 ? len : 65536, "tokenizer.ggml.model", 20);
    char *at = key ? memmem(key, 64, "gpt2", 4) : NULL;
    CHECK(at != NULL);
    if (at)
        at[2] = 'X'; /* "gpX2": a tokenizer moescope does not know */
    int fd = mkstemp(bad);
    CHECK(fd >= 0 && write(fd, bytes, len) == (ssize_t)len);
    close(fd);
    free(bytes);
    struct model_desc d;
    char why[512] = "";
    CHECK_MSG(model_check(bad, &d, why, sizeof why) == 0, "the header check refused it: %s", why);

    struct app a;
    app_for_test(&a);
    a.opt.n_threads = 1;
    char err[1024];
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = good;
    ep.n_threads = 1;
    ep.n_ctx = 64;
    a.worker = worker_start(&ep, err, sizeof err);
    CHECK(a.worker != NULL);
    CHECK(app_pump_until(&a, app_ready, 20000));
    struct worker *old = a.worker;
    char label[sizeof a.model_label];
    snprintf(label, sizeof label, "%s", a.model_label);
    CHECK_INT_EQ(count_notes(&a, "Type a message"), 1);

    CHECK_INT_EQ(app_switch_model(&a, bad, err, sizeof err), 0);
    CHECK(a.worker == old && a.next_worker != NULL);
    CHECK(app_pump_until(&a, app_switch_settled, 20000));
    CHECK_MSG(a.worker == old && a.model_ready, "the old model was closed");
    CHECK_STR_EQ(a.model_label, label);
    CHECK_INT_EQ(count_notes(&a, "did not open"), 1);
    CHECK_MSG(count_notes(&a, "'gpX2'") == 1, "the reason is not in the transcript");
    CHECK_INT_EQ(count_notes(&a, "stays open"), 1);
    /* The old model still answers. */
    const char *hello = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    unsigned long seq = a.ws.done_seq;
    CHECK(worker_submit_reply(a.worker, hello, strlen(hello), &a.sampler, 4) == 0);
    for (int t = 0; t < 2000 && a.ws.done_seq == seq; t++) {
        struct trace_log none;
        size_t first = 0;
        trace_log_init(&none, 0, 0, 0);
        worker_take(a.worker, &none, &first, &a.ws);
        trace_log_free(&none);
        usleep(10000);
    }
    CHECK_MSG(a.ws.done_seq != seq && a.ws.reply_len > 0, "no reply from the old model (%s)",
              a.ws.err);

    /* A good file takes over; the model is introduced, the welcome not shown again. */
    CHECK_INT_EQ(app_switch_model(&a, good, err, sizeof err), 0);
    CHECK(app_pump_until(&a, app_switch_settled, 20000));
    CHECK(app_pump_until(&a, app_ready, 20000));
    CHECK(a.worker != old);
    CHECK_INT_EQ(count_notes(&a, "Type a message"), 1);
    CHECK_INT_EQ(count_notes(&a, "4 layers"), 2);
    worker_quit(a.worker, 5000);
    a.worker = NULL;
    app_free(&a);
    unlink(bad);
}
