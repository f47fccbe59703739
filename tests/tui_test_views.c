/* tests/tui_test_views.c: the inspector's views drawn into off-screen windows on a dummy
 * xterm-256color terminal (output to /dev/null) and read back cell by cell. The expected
 * figures are worked out by hand in the comments from hand-built trace records. */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "draw.h"
#include "engine.h"
#include "session.h"
#include "test.h"
#include "trace.h"
#include "views.h"

/* ---------------------------------------------------------------- fixtures */

static bool vt_ready;
static SCREEN *vt_screen;
static FILE *vt_out, *vt_in;

/* One dummy screen for the whole binary: 200 x 300 so any test window fits. */
static bool vt_init(void)
{
    if (vt_ready)
        return true;
    setlocale(LC_ALL, "C.UTF-8");
    setenv("TERM", "xterm-256color", 1);
    setenv("LINES", "200", 1);
    setenv("COLUMNS", "300", 1);
    unsetenv("COLORTERM");
    vt_out = fopen("/dev/null", "w");
    vt_in = fopen("/dev/null", "r");
    if (!vt_out || !vt_in || !(vt_screen = newterm("xterm-256color", vt_out, vt_in))) {
        test_skip("no xterm-256color terminfo: cannot make a dummy terminal");
        return false;
    }
    struct theme dark;
    theme_builtin("dark", &dark);
    draw_theme_apply(&dark);
    vt_ready = true;
    return true;
}

/* The text of row y as UTF-8 (wide characters once). */
static const char *vt_row(WINDOW *w, int y)
{
    static char buf[2048];
    wchar_t wbuf[600];
    int n = mvwinnwstr(w, y, 0, wbuf, getmaxx(w) < 599 ? getmaxx(w) : 599);
    if (n < 0)
        n = 0;
    wbuf[n] = 0;
    size_t m = wcstombs(buf, wbuf, sizeof buf - 1);
    if (m == (size_t)-1)
        m = 0;
    buf[m] = 0;
    return buf;
}

static short vt_pair(WINDOW *w, int y, int x)
{
    cchar_t cc;
    wchar_t wc[CCHARW_MAX + 1];
    attr_t a;
    short pair = -1;
    if (mvwin_wch(w, y, x, &cc) == ERR)
        return -1;
    getcchar(&cc, wc, &a, &pair, NULL);
    return pair;
}

static wchar_t vt_char(WINDOW *w, int y, int x)
{
    cchar_t cc;
    wchar_t wc[CCHARW_MAX + 1] = { 0 };
    attr_t a;
    short pair;
    if (mvwin_wch(w, y, x, &cc) == ERR)
        return 0;
    getcchar(&cc, wc, &a, &pair, NULL);
    return wc[0];
}

static bool vt_screen_has(WINDOW *w, const char *needle)
{
    for (int y = 0; y < getmaxy(w); y++)
        if (strstr(vt_row(w, y), needle))
            return true;
    return false;
}

/* A generated, fed record with its piece and, at every layer, experts[0..k) and weights. */
static void vt_push(struct trace_log *log, const char *piece, bool prompt, const int *experts,
                    const float *weights, int k, double ms)
{
    long i = trace_log_push(log, 7, piece, strlen(piece), prompt);
    if (i < 0)
        return;
    struct trace_token *t = &log->tok[i];
    t->fed = true;
    t->ns_total = (uint64_t)llround(ms * 1e6);
    struct trace_layer *tl = trace_layers(log, (size_t)i);
    for (int l = 0; l < log->n_layers; l++) {
        memset(&tl[l], 0, sizeof tl[l]);
        tl[l].n = (uint8_t)k;
        for (int j = 0; j < k; j++) {
            tl[l].experts[j] = (uint16_t)experts[l * k + j];
            tl[l].weights[j] = weights ? weights[l * k + j] : 1.0f / (float)k;
        }
        tl[l].entropy = 0.5f;
    }
}

static const struct view_ctx vt_ctx_default = { .sel = -1, .utf8 = true };

/* ---------------------------------------------------------------- the strip */

TEST(views_strip_colours_by_top1_expert)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 2, 12, 1);
    /* layer 1's top-1 experts: 0, 3, 9 (9 mod 8 = palette 1), 7 */
    const int ex[4][2] = { { 5, 0 }, { 5, 3 }, { 5, 9 }, { 5, 7 } };
    const char *pieces[4] = { "Hi", " there", "!", " ok" };
    for (int i = 0; i < 4; i++)
        vt_push(&log, pieces[i], false, ex[i], NULL, 1, 1.0);
    WINDOW *w = newwin(6, 60, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    ctx.layer = 1;
    ctx.sel = 3;
    view_strip_draw(&ctx, w);
    /* row 0 label, row 1 legend, row 2 the text "Hi there! ok" */
    CHECK(strstr(vt_row(w, 0), "layer 1/2") != NULL);
    CHECK(strstr(vt_row(w, 0), "token 3: expert 7") != NULL);
    CHECK(strstr(vt_row(w, 1), "expert mod 8") != NULL);
    CHECK(strncmp(vt_row(w, 2), "Hi there! ok", 12) == 0);
    /* The pair of expert e is the role THEME_EXPERT_1 + e % 8, pair number role + 1. */
    const int want_e[12] = { 0, 0, 3, 3, 3, 3, 3, 3, 9, 7, 7, 7 };
    for (int x = 0; x < 12; x++)
        CHECK_INT_EQ(vt_pair(w, 2, x), THEME_EXPERT_1 + want_e[x] % 8 + 1);
    /* Expert 0's colour is Okabe-Ito orange #e69f00 as background: nearest xterm-256 index
     * is the cube's (4, 3, 0) = 16 + 36*4 + 6*3 = 178 (230->215, 159->175, 0->0). */
    int fg = -2, bg = -2;
    extended_pair_content(THEME_EXPERT_1 + 1, &fg, &bg);
    CHECK_INT_EQ(bg, 178);
    CHECK_INT_EQ(fg, 0);
    /* The selected record is reversed, the others are not. */
    attr_t a;
    short pair;
    cchar_t cc;
    wchar_t wc[CCHARW_MAX + 1];
    mvwin_wch(w, 2, 10, &cc);
    getcchar(&cc, wc, &a, &pair, NULL);
    CHECK(a & A_REVERSE);
    mvwin_wch(w, 2, 0, &cc);
    getcchar(&cc, wc, &a, &pair, NULL);
    CHECK(!(a & A_REVERSE));

    /* Layer 0 colours everything as expert 5. */
    ctx.layer = 0;
    view_strip_draw(&ctx, w);
    for (int x = 0; x < 12; x++)
        CHECK_INT_EQ(vt_pair(w, 2, x), THEME_EXPERT_1 + 5 + 1);
    delwin(w);
    trace_log_free(&log);
}

TEST(views_strip_escapes_control_bytes_and_wide_chars)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 1, 4, 1);
    const int e0[1] = { 2 };
    vt_push(&log, "\x1b[31m", false, e0, NULL, 1, 1.0);
    vt_push(&log, "日本", false, e0, NULL, 1, 1.0);
    vt_push(&log, "\xff", false, e0, NULL, 1, 1.0);
    vt_push(&log, "\xe2\x80\xae", false, e0, NULL, 1, 1.0); /* U+202E right-to-left override */
    vt_push(&log, "", false, e0, NULL, 1, 1.0);             /* an empty piece: one cell, ∅ */
    WINDOW *w = newwin(6, 40, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    view_strip_draw(&ctx, w);
    /* \e[31m is 6 columns, 日本 4, \xFF 4, <U+202E> 8 */
    CHECK_STR_EQ(vt_row(w, 2), "\\e[31m日本\\xFF<U+202E>∅                 ");
    CHECK_INT_EQ(vt_char(w, 2, 6), L'日');
    CHECK_INT_EQ(vt_char(w, 2, 8), L'本');
    CHECK_INT_EQ(vt_char(w, 2, 10), L'\\');
    delwin(w);
    trace_log_free(&log);
}

/* ---------------------------------------------------------------- the heatmap */

TEST(views_heatmap_selected_token_intensity)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 2, 4, 2);
    /* layer 0: expert 2 at 0.75, expert 0 at 0.25; layer 1: experts 3 and 1 at 0.5 each */
    const int ex[4] = { 2, 0, 3, 1 };
    const float wt[4] = { 0.75f, 0.25f, 0.5f, 0.5f };
    vt_push(&log, "a", false, ex, wt, 2, 1.0);
    WINDOW *w = newwin(8, 40, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    ctx.heat = HEAT_SELECTED;
    view_heatmap_draw(&ctx, w);
    /* Grid: row 2 = layer 0, row 3 = layer 1; label "L0 " 3 columns; cells 3 wide.
     * Steps out of 8 over the max 0.75: 0.75 -> 8, 0.25 -> ceil(2.67) = 3, 0.5 -> ceil(5.33)
     * = 6, absent -> 0 (THEME_DIM). */
    const int step[2][4] = { { 3, 0, 8, 0 }, { 0, 6, 0, 6 } };
    for (int l = 0; l < 2; l++)
        for (int e = 0; e < 4; e++) {
            int want = step[l][e] ? THEME_HEAT_1 + step[l][e] - 1 + 1 : THEME_DIM + 1;
            for (int c = 0; c < 3; c++)
                CHECK_MSG(vt_pair(w, 2 + l, 3 + e * 3 + c) == want,
                          "layer %d expert %d col %d: pair %d, want %d", l, e, c,
                          vt_pair(w, 2 + l, 3 + e * 3 + c), want);
        }
    CHECK_INT_EQ(vt_char(w, 2, 9), L'█');  /* step 8: full block */
    CHECK_INT_EQ(vt_char(w, 2, 3), L'▒');  /* step 3: second shade */
    CHECK_INT_EQ(vt_char(w, 2, 6), L'·');  /* zero */
    CHECK(strstr(vt_row(w, 4), "0..0.75 gate weight") != NULL);
    delwin(w);
    trace_log_free(&log);
}

TEST(views_heatmap_session_load_and_many_experts)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 1, 128, 1);
    /* Expert 127 chosen 4 times, expert 0 once: load 4 and 1 over max 4 -> steps 8 and 2. */
    const int e127[1] = { 127 }, e0[1] = { 0 };
    for (int i = 0; i < 4; i++)
        vt_push(&log, "x", false, e127, NULL, 1, 1.0);
    vt_push(&log, "y", false, e0, NULL, 1, 1.0);
    WINDOW *parent = newwin(10, 50, 0, 0);
    for (int y = 0; y < 10; y++)
        mvwhline(parent, y, 0, 'X', 50);
    WINDOW *w = derwin(parent, 5, 40, 2, 5);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    ctx.heat = HEAT_SESSION;
    view_heatmap_draw(&ctx, w);
    /* 128 experts in 40 - 3 = 37 columns: ceil(128/37) = 4 experts a column, 32 columns;
     * expert 127 is in column 31, expert 0 in column 0. */
    CHECK_INT_EQ(vt_pair(w, 2, 3 + 31), THEME_HEAT_1 + 8 - 1 + 1);
    CHECK_INT_EQ(vt_pair(w, 2, 3 + 0), THEME_HEAT_1 + 2 - 1 + 1);
    CHECK_INT_EQ(vt_pair(w, 2, 3 + 1), THEME_DIM + 1);
    CHECK(strstr(vt_row(w, 3), "4 experts/col") != NULL);
    /* Nothing outside the derived window changed. */
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 50; x++)
            if (y < 2 || y >= 7 || x < 5 || x >= 45)
                CHECK_MSG(vt_char(parent, y, x) == L'X', "cell %d,%d outside was written", y, x);
    delwin(w);
    delwin(parent);
    trace_log_free(&log);
}

/* ---------------------------------------------------------------- latency */

TEST(views_latency_percentiles)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 1, 4, 1);
    const int e0[1] = { 0 };
    /* Three prompt records of 100 ms (TTFT 300 ms), then 20 generated of 1..20 ms. */
    for (int i = 0; i < 3; i++)
        vt_push(&log, "p", true, e0, NULL, 1, 100.0);
    for (int i = 1; i <= 20; i++)
        vt_push(&log, "g", false, e0, NULL, 1, (double)i);
    WINDOW *w = newwin(6, 100, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    view_latency_draw(&ctx, w);
    /* Nearest rank of 20 sorted values: p50 = 10th = 10, p95 = 19th = 19, p99 = 20th = 20.
     * tok/s = 20 / 0.210 s = 95.2. Jitter = population stddev of 1..20 = sqrt(399/12) =
     * 5.77 ms. */
    double sd = 0;
    for (int i = 1; i <= 20; i++)
        sd += (i - 10.5) * (i - 10.5);
    sd = sqrt(sd / 20);
    char want[64];
    snprintf(want, sizeof want, "jitter %.1f ms", sd);
    CHECK_STR_EQ(want, "jitter 5.8 ms");
    CHECK(strstr(vt_row(w, 0), "TTFT 300 ms") != NULL);
    CHECK(strstr(vt_row(w, 0), "p95 19.0 ms") != NULL);
    const char *r1 = vt_row(w, 1);
    CHECK_MSG(strstr(r1, "95.2 tok/s") && strstr(r1, "p50 10.0") && strstr(r1, "p99 20.0") &&
                  strstr(r1, want),
              "row 1: %s", r1);
    /* Sparkline: 20 columns after "pre 300ms|" (10 columns); the last (20 ms) is the
     * tallest: full blocks down its 4 rows. */
    CHECK(strncmp(vt_row(w, 5), "pre 300ms", 9) == 0);
    CHECK_INT_EQ(vt_char(w, 2, 10 + 19), L'█');
    CHECK_INT_EQ(vt_char(w, 5, 10 + 19), L'█');
    CHECK_INT_EQ(vt_char(w, 2, 10 + 0), L' ');
    /* Scaled from the smallest (1 ms: the lowest eighth) to the largest in sight: 2 ms is
     * 1/19 of the 31 eighths above the lowest, 1 + round(1.63) = 3 eighths: '▃'. */
    CHECK_INT_EQ(vt_char(w, 5, 10 + 0), L'▁');
    CHECK_INT_EQ(vt_char(w, 4, 10 + 0), L' ');
    CHECK_INT_EQ(vt_char(w, 5, 10 + 1), L'▃');
    CHECK(strstr(vt_row(w, 1), "range 1.0..20.0") != NULL);
    CHECK_INT_EQ(vt_pair(w, 5, 10 + 19), THEME_SELECTION + 1); /* the selection: the last */
    delwin(w);
    trace_log_free(&log);
}

/* A record fed after a context shift is its own bar: prefill-coloured, as tall as its step
 * and the shift together; the second row counts the shifts. */
TEST(views_latency_shift_bar)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 1, 4, 1);
    const int e0[1] = { 0 };
    vt_push(&log, "p", true, e0, NULL, 1, 10.0);
    for (int i = 0; i < 10; i++)
        vt_push(&log, "g", false, e0, NULL, 1, 2.0);
    log.tok[5].shift_dropped = 40;
    log.tok[5].ns_shift = 18000000; /* 18 ms evaluating the kept tokens again */
    WINDOW *w = newwin(6, 100, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    ctx.sel = 2;
    view_latency_draw(&ctx, w);
    const char *r1 = vt_row(w, 1);
    CHECK_MSG(strstr(r1, "shifts 1: 18 ms") != NULL, "row 1: %s", r1);
    CHECK_MSG(strstr(r1, "range 2.0..20.0") != NULL, "row 1: %s", r1);
    /* after "pre 10ms|" (9 columns): record 5 is column 4, full height, prefill colour */
    CHECK_INT_EQ(vt_char(w, 2, 9 + 4), L'█');
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 4), THEME_PREFILL + 1);
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 3), THEME_SPARK_LATENCY + 1);
    delwin(w);
    trace_log_free(&log);
}

/* A log of one 10 ms prompt record and 20 generated steps of 2 ms, the steps in slow[]
 * (ending with -1) taking 9 ms: the latency view's cause colouring is tried on it. */
static void vt_latency_steps(struct trace_log *log, const int *slow)
{
    trace_log_init(log, 1, 4, 1);
    const int e0[1] = { 0 };
    vt_push(log, "p", true, e0, NULL, 1, 10.0);
    for (int i = 0; i < 20; i++) {
        bool is_slow = false;
        for (const int *s = slow; *s >= 0; s++)
            is_slow |= *s == i;
        vt_push(log, "g", false, e0, NULL, 1, is_slow ? 9.0 : 2.0);
    }
}

/* The latency view of `log` drawn into a new window of 6 rows and `cols` columns. */
static WINDOW *vt_latency_window(struct trace_log *log, int cols)
{
    WINDOW *w = newwin(6, cols, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = log;
    ctx.sel = 0;
    view_latency_draw(&ctx, w);
    return w;
}

/* Page faults colour a bar: a step that waited for storage (a major fault) always; a step
 * at or above p95 that faulted in more than twice the mean pages; not a fast step with the
 * same pages, nor a slow step without faults. */
TEST(views_latency_fault_bars)
{
    if (!vt_init())
        return;
    struct trace_log log;
    /* 20 steps of 2 ms with 10 minor faults; step 4 took 9 ms with 400 faults (mean 29.5:
     * over twice), step 8 had one major fault, step 12 took 9 ms without faults, step 16
     * faulted 400 times but was fast */
    vt_latency_steps(&log, (const int[]){ 4, 12, -1 });
    for (size_t i = 1; i < log.n; i++)
        log.tok[i].faults_minor = 10;
    log.tok[1 + 4].faults_minor = 400;
    log.tok[1 + 8].faults_major = 1;
    log.tok[1 + 12].faults_minor = 0;
    log.tok[1 + 16].faults_minor = 400;
    WINDOW *w = vt_latency_window(&log, 100);
    /* after "pre 10ms|" (9 columns) */
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 4), THEME_WARNING + 1);
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 8), THEME_WARNING + 1);
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 12), THEME_SPARK_LATENCY + 1);
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 16), THEME_SPARK_LATENCY + 1);
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 3), THEME_SPARK_LATENCY + 1);
    CHECK_MSG(strstr(vt_row(w, 1), "page faults: 2") != NULL, "row 1: %s", vt_row(w, 1));
    delwin(w);
    trace_log_free(&log);
}

/* A slow step (at or above p95) whose engine thread was preempted is dimmed: its time went
 * to another task. Not a fast step that was preempted, nor a slow one that was not; page
 * faults win where a step had both. */
TEST(views_latency_preempted_bars)
{
    if (!vt_init())
        return;
    struct trace_log log;
    vt_latency_steps(&log, (const int[]){ 6, 10, 18, -1 });
    log.tok[1 + 6].preempted = 2;
    log.tok[1 + 14].preempted = 1;
    log.tok[1 + 18].preempted = 1;
    log.tok[1 + 18].faults_major = 1;
    WINDOW *w = vt_latency_window(&log, 130);
    /* after "pre 10ms|" (9 columns) */
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 6), THEME_DIM + 1);
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 10), THEME_SPARK_LATENCY + 1);
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 14), THEME_SPARK_LATENCY + 1);
    CHECK_INT_EQ(vt_pair(w, 5, 9 + 18), THEME_WARNING + 1);
    CHECK_MSG(strstr(vt_row(w, 1), "page faults: 1  preempted: 1") != NULL, "row 1: %s",
              vt_row(w, 1));
    delwin(w);
    trace_log_free(&log);
}

/* ---------------------------------------------------------------- cost */

/* 1 layer of 4 experts, k = 1: a prompt record on expert 3, then 40 generated records on
 * 0 1 2 3 0 ..., each 2 ms of which 0.1 ms routing, 3 minor faults and 0.2 ms kernel time.
 * Model: 4 MB read per token of a 16 MB file, 1 MB experts. 3 MB free hold 3 experts: the
 * cycle of 4 always misses (41 misses of 1 MB over 41 steps); 4 MB hold all: 41 - 4 = 37
 * hits of 41 = 90.2%. */
TEST(views_cost_figures)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 1, 4, 1);
    const int e3[1] = { 3 };
    vt_push(&log, "p", true, e3, NULL, 1, 10.0);
    for (int i = 0; i < 40; i++) {
        const int e[1] = { i % 4 };
        vt_push(&log, "g", false, e, NULL, 1, 2.0);
        struct trace_token *t = &log.tok[log.n - 1];
        t->ns[TRACE_ROUTER] = 100000;
        t->faults_minor = 3;
        t->ns_kernel = 200000;
    }
    WINDOW *w = newwin(8, 150, 0, 0);
    struct view_cache cache = { 0 };
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    ctx.cache = &cache;
    ctx.costs = (struct view_costs){ 4000000, 16000000, 1000000, 3000000 };
    view_cost_draw(&ctx, w);
    CHECK_MSG(strstr(vt_row(w, 1), "4.0 MB per token; dense of this size 16.0 MB (0.25x)"), "%s", vt_row(w, 1));
    CHECK_MSG(strstr(vt_row(w, 2), "0.100 ms per token, 5.0% of time (< 50 ms: yes)"), "%s",
              vt_row(w, 2));
    CHECK_MSG(strstr(vt_row(w, 3), "3.0 minor, 0.00 major per token; kernel 10.0% of time"), "%s",
              vt_row(w, 3));
    CHECK_MSG(strstr(vt_row(w, 4), "LRU hits 0.0%, 1.00 MB read per token"), "%s", vt_row(w, 4));
    CHECK_MSG(strstr(vt_row(w, 5), "0.0 GB free: 3 experts; 4 touched in 41 records"), "%s",
              vt_row(w, 5));
    ctx.costs.free_ram = 4000000;
    view_cost_draw(&ctx, w);
    CHECK_MSG(strstr(vt_row(w, 4), "LRU hits 90.2%"), "%s", vt_row(w, 4));
    CHECK_MSG(strstr(vt_row(w, 5), "4 experts; 4 touched"), "%s", vt_row(w, 5));
    ctx.costs = (struct view_costs){ 0 };
    view_cost_draw(&ctx, w);
    CHECK(strstr(vt_row(w, 1), "not known") != NULL);
    CHECK(strstr(vt_row(w, 4), "experts' size is not known") != NULL);
    view_cache_free(&cache);
    delwin(w);
    trace_log_free(&log);
}

/* The balance view's co-activation matrix: 1 layer of 4 experts, k = 2, five records on
 * {0, 1} and five on {2, 3}: 0 and 1 fire together twice as often as chance (lift 2: the
 * second step), 0 and 2 never (nothing drawn), the diagonal has no pairs. */
TEST(views_balance_coactivation_matrix)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 1, 4, 2);
    const int a[2] = { 0, 1 }, b[2] = { 2, 3 };
    for (int i = 0; i < 10; i++)
        vt_push(&log, "x", false, i < 5 ? a : b, NULL, 2, 1.0);
    WINDOW *w = newwin(12, 70, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    view_balance_draw(&ctx, w);
    /* rows: label, header, L0, mean, blank, the matrix's label, experts 0..3 from row 6 */
    CHECK_MSG(strstr(vt_row(w, 5), "co-activation L0"), "row 5: %s", vt_row(w, 5));
    CHECK(strncmp(vt_row(w, 6), "   0", 4) == 0);
    CHECK_INT_EQ(vt_pair(w, 6, 5 + 1), THEME_HEAT_1 + 2);
    CHECK_INT_EQ(vt_pair(w, 6, 5 + 2), THEME_DIM + 1);
    CHECK_INT_EQ(vt_pair(w, 6, 5 + 0), THEME_DIM + 1);
    CHECK_INT_EQ(vt_pair(w, 9, 5 + 2), THEME_HEAT_1 + 2); /* 3 with 2 */
    delwin(w);
    trace_log_free(&log);
}

/* ---------------------------------------------------------------- balance, split, token */

TEST(views_balance_figures)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 1, 4, 1);
    /* top-1 experts 0, 0, 1, 2: loads 2 1 1 0, mean 1, max 2: avg/max 0.50, CV =
     * sqrt((1 + 0 + 0 + 1) / 4) = 0.71, MaxVio 1.00; locality: 1 of 3 pairs = 33%. */
    const int seq[4] = { 0, 0, 1, 2 };
    for (int i = 0; i < 4; i++)
        vt_push(&log, "t", false, &seq[i], NULL, 1, 1.0);
    WINDOW *w = newwin(5, 60, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    view_balance_draw(&ctx, w);
    double avgmax = 0, cv = 0, vio = 0, loc = 0;
    int l = -1;
    const char *r = vt_row(w, 2);
    CHECK_MSG(sscanf(r, "L%d %lf %lf %lf %lf%%", &l, &avgmax, &cv, &vio, &loc) == 5, "row: %s", r);
    CHECK_INT_EQ(l, 0);
    CHECK_NEAR(avgmax, 0.50, 1e-9);
    CHECK_NEAR(cv, 0.71, 1e-9);
    CHECK_NEAR(vio, 1.00, 1e-9);
    CHECK_NEAR(loc, 33, 1e-9);
    delwin(w);
    trace_log_free(&log);
}

TEST(views_split_routing_line)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 1, 4, 1);
    const int e0[1] = { 0 };
    /* Two generated records of 10 ms: router 0.4 ms of each = 4%. */
    for (int i = 0; i < 2; i++) {
        vt_push(&log, "g", false, e0, NULL, 1, 10.0);
        struct trace_token *t = &log.tok[log.n - 1];
        t->ns[TRACE_ATTN] = 5000000;
        t->ns[TRACE_ROUTER] = 400000;
        t->ns[TRACE_EXPERTS] = 4000000;
        t->ns[TRACE_OTHER] = 600000;
    }
    WINDOW *w = newwin(10, 70, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    view_split_draw(&ctx, w);
    CHECK_MSG(strstr(vt_row(w, 1), "routing: 0.40 ms/token, 4.0%") != NULL, "row 1: %s",
              vt_row(w, 1));
    CHECK(strstr(vt_row(w, 3), "attention    5.00 ms  50.0%") != NULL);
    CHECK(strstr(vt_row(w, 5), "experts      4.00 ms  40.0%") != NULL);
    delwin(w);
    trace_log_free(&log);
}

static const char *vt_piece(void *user, int32_t token, size_t *len)
{
    (void)user;
    static const char *const words[] = { "cat", "dog", "\x07" "bell" };
    if (token < 0 || token > 2)
        return NULL;
    *len = strlen(words[token]);
    return words[token];
}

TEST(views_token_detail)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 2, 8, 2);
    const int ex[4] = { 6, 1, 2, 4 };
    const float wt[4] = { 0.7f, 0.3f, 0.55f, 0.45f };
    vt_push(&log, "cat", false, ex, wt, 2, 1.0);
    struct trace_token *t = &log.tok[0];
    t->token = 0;
    t->sampled = true;
    t->logprob = logf(0.6f);
    const int32_t ids[5] = { 0, 1, 2, 9, -1 };
    const float ps[5] = { 0.6f, 0.25f, 0.1f, 0.05f, 0 };
    for (int k = 0; k < 5; k++) {
        t->top_id[k] = ids[k];
        t->top_logprob[k] = ps[k] > 0 ? logf(ps[k]) : -INFINITY;
    }
    trace_layers(&log, 0)[1].cold = 2; /* expert 4 at layer 1 was cold */
    WINDOW *w = newwin(14, 70, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    ctx.piece = vt_piece;
    view_token_draw(&ctx, w);
    CHECK(vt_screen_has(w, "'cat'  id 0  logprob -0.511  p 0.600"));
    CHECK(vt_screen_has(w, "*1  0.600"));
    CHECK(vt_screen_has(w, " 2  0.250"));
    CHECK(vt_screen_has(w, "'\\x07bell'"));
    CHECK(vt_screen_has(w, "#9"));
    CHECK(vt_screen_has(w, "L0    6:0.70 1:0.30         0.24"));
    if (getenv("VT_DUMP"))
        for (int r = 0; r < 14; r++)
            fprintf(stderr, "|%s|\n", vt_row(w, r));
    CHECK(vt_screen_has(w, "cold 4"));
    /* entropy 0.5 nats / ln 8 = 0.24; the expert ids are in their palette colours: "L0    6"
     * puts 6 at column 6 */
    int y = -1;
    for (int r = 0; r < 14; r++)
        if (strncmp(vt_row(w, r), "L0 ", 3) == 0)
            y = r;
    CHECK(y > 0);
    if (y > 0)
        CHECK_INT_EQ(vt_pair(w, y, 6), THEME_EXPERT_1 + 6 + 1);
    delwin(w);
    trace_log_free(&log);
}

/* ---------------------------------------------------------------- edge cases */

TEST(views_empty_dense_and_tiny)
{
    if (!vt_init())
        return;
    struct trace_log empty, dense, moe;
    trace_log_init(&empty, 2, 4, 2);
    trace_log_init(&dense, 2, 0, 0);
    trace_log_init(&moe, 3, 8, 2);
    const int ex[6] = { 1, 2, 3, 4, 5, 6 };
    vt_push(&dense, "hi", false, ex, NULL, 0, 2.0);
    for (int i = 0; i < 50; i++)
        vt_push(&moe, i % 7 ? "word " : "\n", i < 10, ex, NULL, 2, 1.0 + i % 5);
    WINDOW *big = newwin(12, 60, 0, 0);
    for (int v = 0; v < VIEW_COUNT; v++) {
        struct view_ctx ctx = vt_ctx_default;
        ctx.log = &empty;
        view_table[v].draw(&ctx, big);
        CHECK_MSG(vt_screen_has(big, "no tokens yet") || vt_screen_has(big, "no timed tokens"),
                  "view %s with an empty log", view_table[v].name);
        ctx.log = NULL;
        view_table[v].draw(&ctx, big);
        if (v == VIEW_HEATMAP || v == VIEW_BALANCE || v == VIEW_ENTROPY || v == VIEW_STRIP) {
            ctx.log = &dense;
            view_table[v].draw(&ctx, big);
            CHECK_MSG(vt_screen_has(big, "dense model: no routing"), "view %s, dense",
                      view_table[v].name);
        }
    }
    /* Every view at every small size writes inside its window only. */
    WINDOW *parent = newwin(12, 30, 0, 0);
    const int sizes[][2] = { { 1, 1 }, { 1, 5 }, { 2, 3 }, { 3, 10 }, { 5, 20 }, { 4, 1 } };
    for (int v = 0; v < VIEW_COUNT; v++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int which = 0; which < 3; which++) {
                for (int y = 0; y < 12; y++)
                    mvwhline(parent, y, 0, 'X', 30);
                int h = sizes[s][0], wd = sizes[s][1];
                WINDOW *w = derwin(parent, h, wd, 3, 4);
                struct view_ctx ctx = vt_ctx_default;
                ctx.log = which == 0 ? &moe : which == 1 ? &dense : &empty;
                ctx.sel = 12;
                ctx.heat = HEAT_RECENT;
                ctx.entropy = ENTROPY_LAYER;
                ctx.layer = 99;
                view_table[v].draw(&ctx, w);
                int bad = 0;
                for (int y = 0; y < 12; y++)
                    for (int x = 0; x < 30; x++)
                        if ((y < 3 || y >= 3 + h || x < 4 || x >= 4 + wd) &&
                            vt_char(parent, y, x) != L'X')
                            bad++;
                CHECK_MSG(bad == 0, "view %s at %dx%d wrote %d cells outside", view_table[v].name,
                          wd, h, bad);
                delwin(w);
            }
    /* 1x1 shows the first character of the label rather than nothing. */
    WINDOW *one = newwin(1, 1, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &moe;
    view_heatmap_draw(&ctx, one);
    CHECK_INT_EQ(vt_char(one, 0, 0), L'h');
    delwin(one);
    delwin(parent);
    delwin(big);
    trace_log_free(&empty);
    trace_log_free(&dense);
    trace_log_free(&moe);
}

TEST(views_ascii_fallback)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 2, 4, 1);
    const int ex[2] = { 1, 2 };
    for (int i = 0; i < 30; i++) {
        vt_push(&log, "é", false, ex, NULL, 1, 1.0 + i % 4);
        trace_layers(&log, log.n - 1)[0].entropy = (float)(i % 10) * 0.1f;
    }
    WINDOW *w = newwin(16, 60, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    ctx.utf8 = false;
    for (int v = 0; v < VIEW_COUNT; v++) {
        view_table[v].draw(&ctx, w);
        int wide = 0;
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 60; x++)
                if (vt_char(w, y, x) > 0x7e)
                    wide++;
        CHECK_MSG(wide == 0, "view %s drew %d non-ASCII cells without UTF-8", view_table[v].name,
                  wide);
    }
    view_strip_draw(&ctx, w);
    CHECK(strncmp(vt_row(w, 2), "<U+00E9><U+00E9>", 16) == 0);
    delwin(w);
    trace_log_free(&log);
}

TEST(views_overview_has_the_four_parts)
{
    if (!vt_init())
        return;
    struct trace_log log;
    trace_log_init(&log, 4, 8, 2);
    const int ex[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    for (int i = 0; i < 40; i++)
        vt_push(&log, "tok ", i < 8, ex, NULL, 2, 2.0 + i % 3);
    WINDOW *w = newwin(40, 60, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &log;
    view_overview_draw(&ctx, w);
    CHECK(vt_screen_has(w, "token 39/40"));
    CHECK(vt_screen_has(w, "heatmap"));
    CHECK(vt_screen_has(w, "entropy"));
    CHECK(vt_screen_has(w, "latency"));
    CHECK(vt_screen_has(w, "TTFT"));
    CHECK(vt_screen_has(w, "p95"));
    delwin(w);
    trace_log_free(&log);
}

/* ---------------------------------------------------------------- colour modes */

/* Applies the dark theme on a fresh dummy screen of terminal `term`, runs fn, goes back.
 * The extra screens are kept, not deleted: ncurses 6.4 crashes in a later
 * init_extended_pair on the first screen after delscreen() of one whose colours were
 * redefined. */
static SCREEN *vt_extra[8];
static void vt_on_terminal(const char *term, void (*fn)(void))
{
    SCREEN *s = newterm(term, vt_out, vt_in);
    if (!s) {
        test_skip("no %s terminfo", term);
        return;
    }
    struct theme dark;
    theme_builtin("dark", &dark);
    draw_theme_apply(&dark);
    fn();
    endwin();
    set_term(vt_screen);
    for (size_t i = 0; i < sizeof vt_extra / sizeof vt_extra[0]; i++)
        if (!vt_extra[i]) {
            vt_extra[i] = s;
            break;
        }
    draw_theme_apply(&dark);
}

static void vt_check_8(void)
{
    CHECK_INT_EQ(draw_color_mode(), DRAW_8);
    /* #e69f00 nearest of xterm's 16 system colours is yellow (205,205,0): distance
     * 25^2 + 46^2 = 2741, against bright yellow's 25^2 + 96^2 = 9841. */
    int fg = -2, bg = -2;
    extended_pair_content(draw_pair(THEME_EXPERT_1), &fg, &bg);
    CHECK_INT_EQ(bg, COLOR_YELLOW);
    CHECK_INT_EQ(fg, COLOR_BLACK);
    /* Grey #999999 as a background goes to white (distance 3 * 90^2), not to black through
     * bright black; no expert's text is the colour of its background. */
    extended_pair_content(draw_pair(THEME_EXPERT_1 + 7), &fg, &bg);
    CHECK_INT_EQ(bg, COLOR_WHITE);
    for (int e = 0; e < 8; e++) {
        extended_pair_content(draw_pair(THEME_EXPERT_1 + e), &fg, &bg);
        CHECK_MSG(fg != bg, "expert%d: fg %d on bg %d", e + 1, fg, bg);
    }
    /* bright-white foreground on 8 colours: white and bold */
    extended_pair_content(draw_pair(THEME_EXPERT_1 + 4), &fg, &bg);
    CHECK_INT_EQ(fg, COLOR_WHITE);
    CHECK(draw_attr(NULL, THEME_EXPERT_1 + 4) & A_BOLD);
}

static void vt_check_truecolor(void)
{
    CHECK_INT_EQ(draw_color_mode(), DRAW_REDEFINED);
    int fg = -2, bg = -2, r = -1, g = -1, b = -1;
    extended_pair_content(draw_pair(THEME_EXPERT_1), &fg, &bg);
    CHECK(bg >= 16);
    extended_color_content(bg, &r, &g, &b);
    /* #e69f00 in curses' 0..1000 scale: 230000/255 = 901, 159000/255 = 623, 0 */
    CHECK_INT_EQ(r, 901);
    CHECK_INT_EQ(g, 623);
    CHECK_INT_EQ(b, 0);
    /* the theme's own indexed colours (status = 252 236) are kept, not redefined */
    extended_pair_content(draw_pair(THEME_STATUS), &fg, &bg);
    CHECK_INT_EQ(fg, 252);
    CHECK_INT_EQ(bg, 236);
}

static void vt_check_mono(void)
{
    CHECK_INT_EQ(draw_color_mode(), DRAW_MONO);
    CHECK_INT_EQ(draw_pair(THEME_SELECTION), 0);
    /* without colour, roles fall back to the mono theme's attributes */
    CHECK_INT_EQ(draw_attr(NULL, THEME_SELECTION), A_REVERSE | A_BOLD);
    CHECK_INT_EQ(draw_attr(NULL, THEME_EXPERT_1 + 1), A_UNDERLINE);
}

TEST(views_colour_modes)
{
    if (!vt_init())
        return;
    vt_on_terminal("xterm", vt_check_8);
    vt_on_terminal("vt100", vt_check_mono);
    setenv("COLORTERM", "truecolor", 1);
    vt_on_terminal("xterm-256color", vt_check_truecolor);
    unsetenv("COLORTERM");
    /* the mono theme on a colour terminal (NO_COLOR): no colour pairs at all */
    struct theme mono, dark;
    theme_builtin("mono", &mono);
    theme_builtin("dark", &dark);
    CHECK_INT_EQ(draw_theme_apply(&mono), DRAW_MONO);
    CHECK_INT_EQ(draw_attr(&mono, THEME_STATUS), A_REVERSE);
    CHECK_INT_EQ(draw_theme_apply(&dark), DRAW_256);
}

/* ---------------------------------------------------------------- draw helpers */

TEST(draw_text_widths_and_escapes)
{
    if (!vt_init())
        return;
    /* e + U+0301 combining acute: one cell; a CJK character: two; ESC: "\e", two. */
    CHECK_INT_EQ(draw_text_width("e\xcc\x81", 3, true), 1);
    CHECK_INT_EQ(draw_text_width("日", 3, true), 2);
    CHECK_INT_EQ(draw_text_width("\x1b", 1, true), 2);
    CHECK_INT_EQ(draw_text_width("\xc3\xa9", 2, false), 8);  /* <U+00E9> without UTF-8 */
    CHECK_INT_EQ(draw_text_width("\xc3", 1, true), 4);       /* truncated: \xC3 */
    /* ZWJ between two pictographs is kept (one emoji), elsewhere it is shown */
    CHECK_INT_EQ(draw_text_width("a\xe2\x80\x8d" "b", 5, true), 10);     /* a<U+200D>b */
    CHECK_INT_EQ(draw_text_width("\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb", 11, true), 4);

    WINDOW *w = newwin(2, 5, 0, 0);
    werase(w);
    /* 日本語 is 6 columns: in 5 only two characters fit, the third is not cut in half */
    CHECK_INT_EQ(draw_text(w, 0, 0, 10, "日本語", 9, 0, 0, true), 4);
    CHECK_INT_EQ(vt_char(w, 0, 4), L' ');
    /* a combining mark stays in its base's cell */
    werase(w);
    CHECK_INT_EQ(draw_text(w, 1, 0, 5, "e\xcc\x81x", 4, 0, 0, true), 2);
    cchar_t cc;
    wchar_t wc[CCHARW_MAX + 1] = { 0 };
    attr_t a;
    short pair;
    mvwin_wch(w, 1, 0, &cc);
    getcchar(&cc, wc, &a, &pair, NULL);
    CHECK(wc[0] == L'e' && wc[1] == 0x301);
    CHECK_INT_EQ(vt_char(w, 1, 1), L'x');
    /* nothing is drawn outside: negative or too-large coordinates are clipped */
    CHECK_INT_EQ(draw_text(w, 2, 0, 5, "abc", 3, 0, 0, true), 0);
    CHECK_INT_EQ(draw_text(w, -1, 0, 5, "abc", 3, 0, 0, true), 0);
    delwin(w);
}

TEST(draw_locale_detection)
{
    if (!vt_init())
        return;
    CHECK(draw_locale_utf8());
    setlocale(LC_CTYPE, "C");
    CHECK(!draw_locale_utf8());
    setlocale(LC_CTYPE, "C.UTF-8");
    CHECK(draw_locale_utf8());
}

/* ---------------------------------------------------------------- robustness */

static uint32_t vt_rng = 12345;
static uint32_t vt_rand(void)
{
    vt_rng ^= vt_rng << 13;
    vt_rng ^= vt_rng >> 17;
    vt_rng ^= vt_rng << 5;
    return vt_rng;
}

TEST(views_random_logs_stay_inside)
{
    if (!vt_init())
        return;
    /* Random shapes, pieces of random bytes, expert ids partly out of range, NaN and huge
     * floats, random selections and sizes: every view draws inside its window only (and
     * under ASan, touches no memory it should not). */
    WINDOW *parent = newwin(40, 100, 0, 0);
    for (int round = 0; round < 60; round++) {
        int nl = (int)(vt_rand() % 6), ne = (int)(vt_rand() % 3 == 0 ? 0 : vt_rand() % 140);
        int k = ne ? 1 + (int)(vt_rand() % 8) : 0;
        struct trace_log log;
        trace_log_init(&log, nl, ne, k);
        int n = (int)(vt_rand() % 80);
        for (int i = 0; i < n; i++) {
            char piece[12];
            size_t len = vt_rand() % sizeof piece;
            for (size_t j = 0; j < len; j++)
                piece[j] = (char)vt_rand();
            long ix = trace_log_push(&log, (int32_t)(vt_rand() % 1000), piece, len, vt_rand() % 4 == 0);
            if (ix < 0)
                break;
            struct trace_token *t = &log.tok[ix];
            t->fed = vt_rand() % 5 != 0;
            t->sampled = !t->prompt;
            t->logprob = vt_rand() % 7 == 0 ? NAN : -(float)(vt_rand() % 1000) / 100;
            for (int j = 0; j < TRACE_TOP; j++) {
                t->top_id[j] = (int32_t)(vt_rand() % 2000) - 100;
                t->top_logprob[j] = -(float)(vt_rand() % 1000) / 100;
            }
            t->ns_total = vt_rand() % 50000000;
            for (int p = 0; p < TRACE_PHASE_COUNT; p++)
                t->ns[p] = t->ns_total / 4;
            struct trace_layer *tl = trace_layers(&log, (size_t)ix);
            for (int l = 0; l < nl; l++) {
                memset(&tl[l], 0, sizeof tl[l]);
                tl[l].n = (uint8_t)(vt_rand() % 3 == 0 ? 0 : k);
                for (int j = 0; j < tl[l].n; j++) {
                    tl[l].experts[j] = (uint16_t)(vt_rand() % (ne + 3));
                    tl[l].weights[j] = vt_rand() % 9 == 0 ? 1e30f : (float)(vt_rand() % 100) / 100;
                }
                tl[l].entropy = vt_rand() % 9 == 0 ? NAN : (float)(vt_rand() % 500) / 100;
                tl[l].cold = (uint16_t)vt_rand();
            }
        }
        int h = 1 + (int)(vt_rand() % 30), wd = 1 + (int)(vt_rand() % 80);
        int y0 = (int)(vt_rand() % (40 - h + 1)), x0 = (int)(vt_rand() % (100 - wd + 1));
        for (int v = 0; v < VIEW_COUNT; v++) {
            for (int y = 0; y < 40; y++)
                mvwhline(parent, y, 0, 'X', 100);
            WINDOW *w = derwin(parent, h, wd, y0, x0);
            struct view_ctx ctx = vt_ctx_default;
            ctx.log = &log;
            ctx.sel = (long)(vt_rand() % (unsigned)(n + 3)) - 2;
            ctx.layer = (int)(vt_rand() % 8) - 1;
            ctx.heat = (enum heat_mode)(vt_rand() % HEAT_MODE_COUNT);
            ctx.entropy = (enum entropy_mode)(vt_rand() % ENTROPY_MODE_COUNT);
            ctx.utf8 = vt_rand() % 2;
            ctx.focused = vt_rand() % 2;
            ctx.piece = vt_rand() % 2 ? vt_piece : NULL;
            view_table[v].draw(&ctx, w);
            int bad = 0;
            for (int y = 0; y < 40; y++)
                for (int x = 0; x < 100; x++)
                    if ((y < y0 || y >= y0 + h || x < x0 || x >= x0 + wd) &&
                        vt_char(parent, y, x) != L'X')
                        bad++;
            CHECK_MSG(bad == 0, "round %d view %s %dx%d: %d cells outside", round,
                      view_table[v].name, wd, h, bad);
            delwin(w);
        }
        trace_log_free(&log);
    }
    delwin(parent);
}

TEST(views_entropy_normalised)
{
    if (!vt_init())
        return;
    struct trace_log tl;
    trace_log_init(&tl, 2, 4, 1);
    const int ex[2] = { 0, 1 };
    /* entropies in nats, per layer: (0, 0), (0.5 ln 4, ln 4), (ln 4, ln 4): normalised by
     * ln 4, the means over layers are 0, 0.75 and 1. */
    const double h[3][2] = { { 0, 0 }, { 0.5, 1 }, { 1, 1 } };
    for (int i = 0; i < 3; i++) {
        vt_push(&tl, "t", false, ex, NULL, 1, 1.0);
        for (int l = 0; l < 2; l++)
            trace_layers(&tl, (size_t)i)[l].entropy = (float)(h[i][l] * log(4.0));
    }
    WINDOW *w = newwin(5, 50, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &tl;
    ctx.sel = 1;
    view_entropy_draw(&ctx, w);
    CHECK_MSG(strstr(vt_row(w, 0), "token 0.75  mean 0.58") != NULL, "row 0: %s", vt_row(w, 0));
    /* 4 rows = 32 eighths: 0 -> the lowest eighth; 0.75 -> 1 + round(0.75 * 31) = 24 eighths,
     * three full rows; 1 -> all four rows. */
    CHECK_INT_EQ(vt_char(w, 4, 0), L'▁');
    CHECK_INT_EQ(vt_char(w, 3, 0), L' ');
    CHECK_INT_EQ(vt_char(w, 1, 1), L' ');
    CHECK_INT_EQ(vt_char(w, 2, 1), L'█');
    CHECK_INT_EQ(vt_char(w, 4, 1), L'█');
    CHECK_INT_EQ(vt_char(w, 1, 2), L'█');
    CHECK_INT_EQ(vt_pair(w, 4, 1), THEME_SELECTION + 1);
    CHECK_INT_EQ(vt_pair(w, 4, 2), THEME_SPARK_ENTROPY + 1);
    /* one layer: layer 0 of record 1 is 0.5 */
    ctx.entropy = ENTROPY_LAYER;
    ctx.layer = 0;
    view_entropy_draw(&ctx, w);
    CHECK_MSG(strstr(vt_row(w, 0), "layer 0  token 0.50  mean 0.50") != NULL, "row 0: %s",
              vt_row(w, 0));
    delwin(w);
    trace_log_free(&tl);
}

TEST(views_strip_scrolls_the_selection_into_view)
{
    if (!vt_init())
        return;
    /* ASCII pieces of 1..6 letters and some newlines ("\n" drawn as 2 columns, then a line
     * break): laid out here independently into whole lines, the strip must show lines
     * [first, first + 4) with first = max(0, line of the selection - 3). */
    enum { N = 150, COLS = 20, BODY = 4 };
    struct trace_log tl;
    trace_log_init(&tl, 1, 8, 1);
    const int e0[1] = { 3 };
    char pieces[N][8];
    for (int i = 0; i < N; i++) {
        if (vt_rand() % 9 == 0) {
            strcpy(pieces[i], "\n");
        } else {
            int len = 1 + (int)(vt_rand() % 6);
            for (int j = 0; j < len; j++)
                pieces[i][j] = (char)('a' + (i + j) % 26);
            pieces[i][len] = 0;
        }
        vt_push(&tl, pieces[i], false, e0, NULL, 1, 1.0);
    }
    static char lines[N + 1][COLS + 1]; /* the reference layout */
    int line_of[N];
    int nlines = 1, x = 0;
    memset(lines, 0, sizeof lines);
    for (int i = 0; i < N; i++) {
        const char *shown = strcmp(pieces[i], "\n") == 0 ? "\\n" : pieces[i];
        int wd = (int)strlen(shown);
        if (x > 0 && x + wd > COLS) {
            nlines++;
            x = 0;
        }
        line_of[i] = nlines - 1;
        memcpy(lines[nlines - 1] + x, shown, (size_t)wd);
        x += wd;
        if (strcmp(pieces[i], "\n") == 0 && i + 1 < N) {
            nlines++;
            x = 0;
        }
    }
    WINDOW *w = newwin(2 + BODY, COLS, 0, 0);
    struct view_ctx ctx = vt_ctx_default;
    ctx.log = &tl;
    for (int sel = 0; sel < N; sel++) {
        ctx.sel = sel;
        view_strip_draw(&ctx, w);
        int first = line_of[sel] - (BODY - 1) > 0 ? line_of[sel] - (BODY - 1) : 0;
        for (int r = 0; r < BODY; r++) {
            char want[COLS + 1];
            snprintf(want, sizeof want, "%-*s", COLS, first + r < nlines ? lines[first + r] : "");
            const char *got = vt_row(w, 2 + r);
            CHECK_MSG(strcmp(got, want) == 0, "sel %d row %d: \"%s\", want \"%s\"", sel, r, got,
                      want);
        }
    }
    delwin(w);
    trace_log_free(&tl);
}

/* Issue 6: a saved session, replayed with no model, shows the same heatmap cells as the
 * live run that made it. The live run is the fixture olmoe-tiny-f16.gguf
 * (../shared/fixtures/models), greedy, through the real engine; the replay is the same
 * records after session_save_run and session_load. Every cell's character and colour pair
 * must be equal, in each heatmap mode. */
TEST(views_replay_heatmap_equals_live_run)
{
    if (!vt_init())
        return;
    const char *dir = test_fixtures_dir();
    if (!dir) {
        test_skip("../shared/fixtures is absent");
        return;
    }
    char model[4096], path[4096], err[512];
    snprintf(model, sizeof model, "%s/models/olmoe-tiny-f16.gguf", dir);
    struct engine_params ep;
    engine_params_default(&ep);
    ep.model_path = model;
    ep.n_threads = 1;
    ep.sampler.temp = 0;
    struct engine *e = engine_open(&ep, err, sizeof err);
    CHECK_MSG(e != NULL, "%s", err);
    if (!e)
        return;
    const struct model_desc *d = engine_desc(e);
    struct trace_log live;
    CHECK_INT_EQ(trace_log_init(&live, d->n_layers, d->n_experts, d->n_experts_used), 0);
    const char *prompt = "The router picks experts for every token";
    int32_t ids[64];
    int n = engine_tokenize(e, prompt, strlen(prompt), true, false, ids, 64, err, sizeof err);
    CHECK(n > 0);
    char piece[64], reply[256] = "";
    for (int i = 0; i < n; i++) {
        size_t l = engine_token_piece(e, ids[i], piece, sizeof piece);
        trace_log_push(&live, ids[i], piece, l < sizeof piece ? l : 0, true);
    }
    size_t reply_len = 0;
    for (int step = 0; step < 12; step++) {
        CHECK_INT_EQ(engine_eval(e, &live, err, sizeof err), 0);
        long at = engine_sample(e, &live, err, sizeof err);
        CHECK(at >= 0);
        if (at < 0)
            break;
        size_t l = live.tok[at].piece_len;
        if (reply_len + l < sizeof reply) {
            memcpy(reply + reply_len, trace_piece(&live, (size_t)at), l);
            reply_len += l;
        }
    }
    snprintf(path, sizeof path, "%s/replay-heatmap.json", test_tmp_dir());
    CHECK_INT_EQ(session_save_run(path, d, &ep.sampler, NULL, prompt, strlen(prompt), reply,
                                  reply_len, &live, false, err, sizeof err), 0);
    struct session s;
    int loaded = session_load(&s, path, err, sizeof err);
    CHECK_MSG(loaded == 0, "%s", err);
    if (loaded == 0) {
        CHECK_INT_EQ(s.log.n, live.n);
        WINDOW *a = newwin(12, 80, 0, 0), *b = newwin(12, 80, 0, 0);
        for (int mode = 0; mode < HEAT_MODE_COUNT; mode++) {
            struct view_ctx ca = vt_ctx_default, cb = vt_ctx_default;
            ca.log = &live;
            cb.log = &s.log;
            ca.heat = cb.heat = (enum heat_mode)mode;
            ca.sel = cb.sel = (long)n + 3; /* a generated token that went through the model */
            view_heatmap_draw(&ca, a);
            view_heatmap_draw(&cb, b);
            int differ = 0, marked = 0;
            for (int y = 0; y < 12; y++)
                for (int x = 0; x < 80; x++) {
                    differ += vt_char(a, y, x) != vt_char(b, y, x) ||
                              vt_pair(a, y, x) != vt_pair(b, y, x);
                    marked += y > 1 && vt_char(a, y, x) != L' ' && vt_char(a, y, x) != 0;
                }
            CHECK_MSG(differ == 0, "heatmap mode %s: %d cells differ between live and replay",
                      heat_mode_names[mode], differ);
            CHECK_MSG(marked > 20, "heatmap mode %s drew only %d cells", heat_mode_names[mode],
                      marked);
        }
        delwin(a);
        delwin(b);
        session_free(&s);
    }
    trace_log_free(&live);
    engine_close(e);
}

/* Copies window w's text into buf (rows joined by newlines). */
static void vt_text(WINDOW *w, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int y = 0; y < getmaxy(w) && n + 1 < len; y++)
        n += (size_t)snprintf(buf + n, len - n, "%s\n", vt_row(w, y));
}

/* Every view drawn through a view_cache shows what it shows without one, frame after frame
 * while the log grows, is truncated, is replaced by another log at the same address, and
 * while the selection and the size change: the cache must never show a past state. */
TEST(views_cache_draws_as_without)
{
    if (!vt_init())
        return;
    struct view_cache cache = { 0 };
    static char with[64 * 1024], without[64 * 1024];
    int bad = 0;
    for (int round = 0; round < 3; round++) {
        struct trace_log log;
        trace_log_init(&log, 3, 6, 2);
        for (int step = 0; step < 40; step++) {
            int ex[3 * 2];
            for (int j = 0; j < 6; j++)
                ex[j] = (int)(vt_rand() % 6);
            if (step == 25)
                trace_log_truncate(&log, 10);
            else
                vt_push(&log, step % 7 == 0 ? "\n" : "word ", step % 9 == 0, ex, NULL, 2,
                        1.0 + (double)(vt_rand() % 200) / 10);
            trace_log_touch(&log); /* vt_push writes the record after its push */
            const int h = 8 + step % 5, wd = 30 + (step * 7) % 40;
            for (int v = 0; v < VIEW_COUNT; v++) {
                WINDOW *w = newwin(h, wd, 0, 0);
                struct view_ctx ctx = vt_ctx_default;
                ctx.log = &log;
                ctx.sel = step % 3 == 0 ? -1 : (long)(vt_rand() % log.n);
                ctx.heat = (enum heat_mode)(step % HEAT_MODE_COUNT);
                view_table[v].draw(&ctx, w);
                vt_text(w, without, sizeof without);
                ctx.cache = &cache;
                view_table[v].draw(&ctx, w); /* fills the cache if it is stale */
                view_table[v].draw(&ctx, w); /* draws from it */
                vt_text(w, with, sizeof with);
                if (strcmp(with, without) != 0 && bad++ < 3)
                    CHECK_MSG(false, "round %d step %d view %s: with the cache\n%s\nwithout\n%s",
                              round, step, view_table[v].name, with, without);
                delwin(w);
            }
        }
        trace_log_free(&log);
    }
    view_cache_free(&cache);
    CHECK_INT_EQ(bad, 0);
}
