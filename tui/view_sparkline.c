/* tui/view_sparkline.c: views 3 and 4, one column per record, newest on the right.
 *
 * Entropy: the router's entropy over ln(n_experts) (trace_entropy_norm), so 1 is a uniform
 * router and 0 a certain one; the mean over the routed layers, or the chosen layer. Prompt
 * records are drawn in THEME_PROMPT, generated ones in THEME_SPARK_ENTROPY. The label gives
 * the selected record's value and the mean of the records in sight.
 *
 * Latency: ms per generated record (its ns_total: the decode step it was fed in), scaled
 * from the smallest to the largest in sight (the range is printed), so jitter shows. A
 * record fed right after a context shift is its own bar, in the prefill colour, as tall as
 * the step and the shift together (the kept tokens evaluated again), and the second row
 * counts the shifts and their time. A bar whose step waited on page faults is in the
 * warning colour: it waited for storage (a major fault), or it is at or above the session's
 * p95 and faulted in more than twice the mean pages of the steps in sight (cold experts
 * mapped in); the second row counts them. Prefill is kept apart: it is a batched pass, so it is one figure
 * (TTFT) on the left, not columns. TTFT and tok/s are of the last turn; the inter-token
 * p50/p95/p99 and jitter are over the whole session (trace_stats.h has the definitions).
 *
 * A remote engine's last reply also says how many tokens a chunk of its stream brought (a
 * server that flushes several at once shows near-zero times for all but one of them).
 * A remote engine whose server reports its own times (llama-server's timings per token,
 * Ollama's durations) gets a row with them and the network+queue share: client minus
 * server, per TTFT and per token, and the selected token's pair.
 *
 * The window of records in sight ends at the newest record, unless the selection lies
 * further back: then it ends a little after the selection. The selected column is drawn in
 * THEME_SELECTION. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "draw.h"
#include "trace_stats.h"
#include "views.h"

const char *const entropy_mode_names[ENTROPY_MODE_COUNT] = {
    [ENTROPY_MEAN] = "mean over layers",
    [ENTROPY_LAYER] = "layer",
};

/* The records [*from, *to) in sight for `width` columns, drawn from the list idx[0..n). */
static void spark_window(long n, long sel_pos, int width, long *from, long *to)
{
    *to = n;
    if (sel_pos >= 0 && sel_pos < n - width)
        *to = sel_pos + 1 + width / 4 < n ? sel_pos + 1 + width / 4 : n;
    *from = *to - width > 0 ? *to - width : 0;
}

void view_entropy_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    int n_layers = va.log ? va.log->n_layers : 0;
    int layer = -1;
    char title[96];
    if (ctx->entropy == ENTROPY_LAYER && n_layers > 0) {
        layer = ctx->layer < 0 ? 0 : ctx->layer >= n_layers ? n_layers - 1 : ctx->layer;
        snprintf(title, sizeof title, "entropy %s layer %d", DRAW_GLYPH(ctx->utf8, "·", "-"),
                 layer);
    } else {
        snprintf(title, sizeof title, "entropy %s mean of layers",
                 DRAW_GLYPH(ctx->utf8, "·", "-"));
    }
    int x = draw_label(w, 0, va.th, title, NULL);
    if (!va.log || va.log->n == 0)
        draw_label(w, 0, va.th, title, "[e] mode");
    if (view_say_empty(&va, w, x, 2) ||
        view_say_not_reported(&va, w, BACKEND_REPORTS_ENTROPY, "entropy"))
        return;
    long sel = view_selected(ctx);
    long from, to;
    spark_window((long)va.log->n, sel, va.cols, &from, &to);
    double vsel = sel >= 0 ? trace_entropy_norm(va.log, (size_t)sel, layer) : NAN;
    /* The mean is of the records in sight, so a frame's work does not grow with the va.log. */
    double sum = 0;
    size_t cnt = 0;
    for (long i = from; i < to; i++) {
        double v = trace_entropy_norm(va.log, (size_t)i, layer);
        if (v == v) {
            sum += v;
            cnt++;
        }
    }
    char stats[96];
    if (vsel == vsel)
        snprintf(stats, sizeof stats, "  token %.2f  mean %.2f", vsel,
                 cnt ? sum / (double)cnt : 0.0);
    else
        snprintf(stats, sizeof stats, "  mean %.2f", cnt ? sum / (double)cnt : 0.0);
    x += draw_printf(w, 0, x, va.cols - x, draw_attr(va.th, THEME_TEXT), "%s", stats);
    draw_printf(w, 0, x, va.cols - x, draw_attr(va.th, THEME_DIM), "  [e] mode");
    if (va.rows < 2)
        return;

    int h = va.rows - 1;
    for (long i = from; i < to; i++) {
        double v = trace_entropy_norm(va.log, (size_t)i, layer);
        enum theme_role role = i == sel          ? THEME_SELECTION
                               : va.log->tok[i].prompt ? THEME_PROMPT
                                                    : THEME_SPARK_ENTROPY;
        draw_spark_col(w, 1, (int)(i - from), h, v, draw_attr(va.th, role), ctx->utf8);
    }
}

/* A remote engine that reports its own times: the last turn's server figures (with room
 * for two rows) and the network+queue share beside the client's (backend_server_share),
 * then the selected record's pair, from row y. Returns the rows drawn (0 without them). */
static int latency_server_rows(const struct view_ctx *ctx, const struct view_area *va,
                               const struct trace_speed *turn, WINDOW *w, int y, int rows)
{
    char server[160], pipe[160];
    if (rows < 1 || !backend_server_share(turn, server, sizeof server, pipe, sizeof pipe))
        return 0;
    if (rows >= 2)
        draw_printf(w, y++, 0, va->cols, draw_attr(va->th, THEME_DIM), "%s", server);
    int x = draw_printf(w, y, 0, va->cols, draw_attr(va->th, THEME_TEXT), "%s", pipe);
    long sel = view_selected(ctx);
    if (sel >= 0 && va->log->tok[sel].fed && va->log->tok[sel].ns_server > 0)
        draw_printf(w, y, x, va->cols - x, draw_attr(va->th, THEME_SELECTION),
                    "  token %.1f ms, server %.1f", (double)va->log->tok[sel].ns_total / 1e6,
                    (double)va->log->tok[sel].ns_server / 1e6);
    return rows >= 2 ? 2 : 1;
}

void view_latency_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    int x = draw_label(w, 0, va.th, "latency ms/token", NULL);
    if (view_say_empty(&va, w, x, 0))
        return;
    struct trace_speed_cache own = { 0 }, *sc = ctx->cache ? &ctx->cache->speed : &own;
    if (trace_speed_cache_get(sc, va.log) < 0) {
        draw_printf(w, 0, x, va.cols - x, draw_attr(va.th, THEME_ERROR), "  out of memory");
        return;
    }
    const struct trace_speed turn = sc->turn, all = sc->all;
    if (va.not_reported & BACKEND_REPORTS_TOKEN_TIMES) {
        /* a server's whole replies (vLLM with routed experts): a TTFT, no token times */
        x += draw_printf(w, 0, x, va.cols - x, draw_attr(va.th, THEME_TEXT),
                         "  TTFT %.0f ms (the whole reply)", turn.ttft_ms);
        if (va.rows >= 2)
            draw_printf(w, 1, 0, va.cols, draw_attr(va.th, THEME_WARNING), "inter-token times: "
                        "not measured (the server sends each reply whole)");
        return;
    }
    /* Row 0 carries what matters most (TTFT, p95); row 1 the rest when there is room. */
    char a[128], b[160];
    snprintf(a, sizeof a, "  TTFT %.0f ms  p95 %.1f ms", turn.ttft_ms, all.itl_p95_ms);
    int bl = snprintf(b, sizeof b, "%.1f tok/s  p50 %.1f  p95 %.1f  p99 %.1f ms  jitter %.1f ms",
                      turn.decode_tps, all.itl_p50_ms, all.itl_p95_ms, all.itl_p99_ms,
                      all.jitter_ms);
    if (all.n_shifts && bl > 0 && (size_t)bl < sizeof b)
        snprintf(b + bl, sizeof b - (size_t)bl, "  shifts %zu: %.0f ms", all.n_shifts,
                 all.shift_ms);
    if (ctx->tokens_per_chunk > 0) { /* a server's stream: how many tokens a chunk brought */
        size_t al = strlen(a);
        snprintf(a + al, sizeof a - al, "  %.2f tok/chunk", ctx->tokens_per_chunk);
    }
    if (turn.n_thinking > 0) { /* a reasoning model: the first answer token beside TTFT */
        size_t al = strlen(a);
        if (turn.ttfa_ms > 0)
            snprintf(a + al, sizeof a - al, "  answer %.0f ms (%zu thinking)", turn.ttfa_ms,
                     turn.n_thinking);
        else
            snprintf(a + al, sizeof a - al, "  thinking %zu", turn.n_thinking);
    }
    x += draw_printf(w, 0, x, va.cols - x, draw_attr(va.th, THEME_TEXT), "%s", a);
    int y0 = 1;
    if (va.rows >= 3) {
        draw_printf(w, 1, 0, va.cols, draw_attr(va.th, THEME_TEXT), "%s", b);
        y0 = 2;
        /* (the bars keep at least three rows) */
        y0 += latency_server_rows(ctx, &va, &turn, w, 2, va.rows - 5);
    } else {
        snprintf(a, sizeof a, "  %.1f tok/s", turn.decode_tps);
        draw_printf(w, 0, x, va.cols - x, draw_attr(va.th, THEME_TEXT), "%s", a);
    }
    if (va.rows <= y0)
        return;

    /* Prefill apart, on the left: "pre 812ms|" */
    int h = va.rows - y0;
    char pre[32];
    snprintf(pre, sizeof pre, "pre %.0fms", turn.prompt_ms);
    int px = 0;
    if (turn.n_prompt_fed > 0 && va.cols >= 24) {
        px = draw_printf(w, y0 + h - 1, 0, va.cols, draw_attr(va.th, THEME_PREFILL), "%s", pre);
        for (int r = 0; r < h; r++)
            draw_printf(w, y0 + r, px, 1, draw_attr(va.th, THEME_DIM), "%s",
                        DRAW_GLYPH(ctx->utf8, "│", "|"));
        px++;
    }
    int width = va.cols - px;
    if (width <= 0)
        return;

    /* The generated, fed records: (count) indexes into va.log */
    long *idx = malloc(va.log->n * sizeof *idx);
    if (!idx)
        return;
    long n = 0, sel_pos = -1, sel = view_selected(ctx);
    for (size_t i = 0; i < va.log->n; i++)
        if (!va.log->tok[i].prompt && va.log->tok[i].fed) {
            if ((long)i <= sel)
                sel_pos = n;
            idx[n++] = (long)i;
        }
    if (sel_pos >= 0 && idx[sel_pos] != sel && sel_pos + 1 < n)
        sel_pos++; /* a prompt or unfed selection: show the next generated one */
    long from, to;
    spark_window(n, sel_pos, width, &from, &to);
    double vmin = 0, vmax = 0;
    for (long j = from; j < to; j++) {
        const struct trace_token *t = &va.log->tok[idx[j]];
        double v = (double)(t->ns_total + t->ns_shift);
        if (j == from || v > vmax)
            vmax = v;
        if (j == from || v < vmin)
            vmin = v;
    }
    double faults_mean = 0;
    for (long j = from; j < to; j++) {
        const struct trace_token *t = &va.log->tok[idx[j]];
        faults_mean += (double)t->faults_minor + t->faults_major;
    }
    faults_mean = to > from ? faults_mean / (double)(to - from) : 0;
    long n_fault = 0, n_preempted = 0;
    if (n == 0) {
        draw_printf(w, y0, px, width, draw_attr(va.th, THEME_DIM), "no generated tokens yet");
    } else {
        for (long j = from; j < to; j++) {
            const struct trace_token *t = &va.log->tok[idx[j]];
            double v = (double)(t->ns_total + t->ns_shift);
            double frac = vmax > vmin ? (v - vmin) / (vmax - vmin) : 0.5;
            bool faulted = t->faults_major > 0 ||
                           ((double)t->ns_total >= all.itl_p95_ms * 1e6 &&
                            (double)t->faults_minor > 2 * faults_mean);
            /* a slow step whose engine thread was taken off its core: the time went to
             * another task, not to the model */
            bool preempted = !faulted && t->preempted > 0 &&
                             (double)t->ns_total >= all.itl_p95_ms * 1e6;
            n_fault += faulted && !t->shift_dropped;
            n_preempted += preempted && !t->shift_dropped;
            enum theme_role role = idx[j] == sel        ? THEME_SELECTION
                                   : t->shift_dropped ? THEME_PREFILL
                                   : faulted          ? THEME_WARNING
                                   : preempted        ? THEME_DIM
                                                      : THEME_SPARK_LATENCY;
            draw_spark_col(w, y0, px + (int)(j - from), h, frac, draw_attr(va.th, role), ctx->utf8);
        }
        if (va.rows >= 3) {
            int bx = draw_text_width(b, strlen(b), true);
            bx += draw_printf(w, 1, bx, va.cols - bx, draw_attr(va.th, THEME_DIM),
                              "  range %.1f..%.1f", vmin / 1e6, vmax / 1e6);
            if (n_fault)
                bx += draw_printf(w, 1, bx, va.cols - bx, draw_attr(va.th, THEME_WARNING),
                                  "  page faults: %ld", n_fault);
            if (n_preempted)
                draw_printf(w, 1, bx, va.cols - bx, draw_attr(va.th, THEME_DIM),
                            "  preempted: %ld", n_preempted);
        }
    }
    free(idx);
}
