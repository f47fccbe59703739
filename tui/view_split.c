/* tui/view_split.c: view 6, where the time of a forward pass goes: attention, router,
 * experts and the rest, per token and in total (trace_time_split). The first line answers
 * the routing-overhead question directly ("routing: 0.40 ms/token, 3.1%"). Decode (the
 * generated records) and prefill are shown apart: prefill is batched, so its per-token
 * figures are shares of one pass. The last line is the selected record's own split. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "draw.h"
#include "trace_stats.h"
#include "views.h"

static const char *const split_names[TRACE_PHASE_COUNT] = {
    [TRACE_ATTN] = "attention", [TRACE_ROUTER] = "router",
    [TRACE_EXPERTS] = "experts", [TRACE_OTHER] = "other",
};

/* One block: a heading and a row per phase. Returns the next row. */
static int split_block(const struct view_ctx *ctx, WINDOW *w, int y, const char *what,
                       const struct trace_split *s)
{
    const struct theme *th = ctx->theme;
    int cols = getmaxx(w);
    draw_printf(w, y++, 0, cols, draw_attr(th, THEME_TITLE), "%s: %.2f ms/token over %zu tokens",
                what, s->total_ms_per_token, s->n_tokens);
    for (int p = 0; p < TRACE_PHASE_COUNT; p++, y++) {
        int x = draw_printf(w, y, 0, cols, draw_attr(th, THEME_TEXT), "  %-9s %7.2f ms %5.1f%% ",
                            split_names[p], s->ms_per_token[p], s->share[p] * 100);
        draw_bar(w, y, x, cols - x, s->share[p], draw_attr(th, THEME_BAR), ctx->utf8);
    }
    return y;
}

void view_split_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    draw_label(w, 0, va.th, "time split", "attention / router / experts / other");
    if (view_say_not_reported(&va, w, BACKEND_REPORTS_SPLIT, "time split"))
        return;
    struct trace_split gen, pre;
    if (va.log) {
        trace_time_split(va.log, 0, va.log->n, TRACE_SEL_GEN, &gen);
        trace_time_split(va.log, 0, va.log->n, TRACE_SEL_PROMPT, &pre);
    }
    if (!va.log || gen.n_tokens + pre.n_tokens == 0) {
        draw_printf(w, 1, 0, va.cols, draw_attr(va.th, THEME_DIM), "no timed tokens yet");
        return;
    }
    char buf[128];
    const struct trace_split *main_split = gen.n_tokens ? &gen : &pre;
    trace_split_routing_text(main_split, buf, sizeof buf);
    int x = draw_printf(w, 1, 0, va.cols, draw_attr(va.th, THEME_KEY), "%s", buf);
    draw_printf(w, 1, x, va.cols - x, draw_attr(va.th, THEME_DIM), "  (%s)",
                gen.n_tokens ? "decode" : "prefill");
    int y = 2;
    if (gen.n_tokens)
        y = split_block(ctx, w, y, "decode", &gen);
    if (pre.n_tokens && y < va.rows)
        y = split_block(ctx, w, y, "prefill", &pre);
    long sel = view_selected(ctx);
    if (sel >= 0 && y < va.rows) {
        const struct trace_token *t = &va.log->tok[sel];
        if (!t->fed) {
            draw_printf(w, y, 0, va.cols, draw_attr(va.th, THEME_DIM), "token %ld: not fed yet",
                        sel);
        } else {
            x = draw_printf(w, y, 0, va.cols, draw_attr(va.th, THEME_TITLE), "token %ld: %.2f ms",
                            sel, (double)t->ns_total / 1e6);
            for (int p = 0; p < TRACE_PHASE_COUNT; p++)
                x += draw_printf(w, y, x, va.cols - x, draw_attr(va.th, THEME_TEXT), "  %s %.2f",
                                 split_names[p], (double)t->ns[p] / 1e6);
        }
    }
}
