/* tui/views.c: the registry of the inspector's views, and what every view shares: which
 * record is selected, and the prologue each draw begins with. */
#include "backend.h"
#include "draw.h"
#include "views.h"

const struct view_info view_table[VIEW_COUNT] = {
    [VIEW_OVERVIEW] = { "overview", "all", '0', "overview: token, heatmap, entropy, latency",
                        view_overview_draw },
    [VIEW_STRIP] = { "strip", "strip", '1', "token strip coloured by top-1 expert",
                     view_strip_draw },
    [VIEW_HEATMAP] = { "heatmap", "heat", '2', "heatmap layers x experts", view_heatmap_draw },
    [VIEW_ENTROPY] = { "entropy", "ent", '3', "routing entropy sparkline", view_entropy_draw },
    [VIEW_LATENCY] = { "latency", "lat", '4', "latency sparkline, TTFT, p50/p95/p99",
                       view_latency_draw },
    [VIEW_BALANCE] = { "balance", "bal", '5', "balance per layer: load, CV, MaxVio, locality",
                       view_balance_draw },
    [VIEW_SPLIT] = { "split", "split", '6', "time split: attention, router, experts",
                     view_split_draw },
    [VIEW_TOKEN] = { "token", "tok", '7', "the selected token in detail", view_token_draw },
    [VIEW_COST] = { "cost", "cost", '8',
                    "cost: bytes per token against dense, routing and fault time, expert cache",
                    view_cost_draw },
};

const char *view_no_routing(unsigned not_reported)
{
    return not_reported & BACKEND_REPORTS_EXPERTS ? "expert ids: not reported by this server"
                                                  : "dense model: no routing";
}

bool view_say_not_reported(const struct view_area *va, WINDOW *w, unsigned bit,
                           const char *what)
{
    if (!(va->not_reported & bit))
        return false;
    draw_printf(w, va->rows > 1 ? 1 : 0, 0, va->cols, draw_attr(va->th, THEME_WARNING),
                "%s: not reported by this server", what);
    return true;
}

long view_selected(const struct view_ctx *ctx)
{
    const struct trace_log *log = ctx->log;
    if (!log || log->n == 0)
        return -1;
    if (ctx->sel >= 0 && (size_t)ctx->sel < log->n)
        return ctx->sel;
    /* Following the newest: the newest fed record, since the record sampled last is only
     * fed (routed, timed) at the next step. */
    for (size_t i = log->n; i > 0; i--)
        if (log->tok[i - 1].fed)
            return (long)i - 1;
    return (long)log->n - 1;
}

struct view_area view_begin(const struct view_ctx *ctx, WINDOW *w)
{
    werase(w);
    struct view_area va = { false, getmaxy(w), getmaxx(w), ctx->log, ctx->theme,
                            ctx->not_reported };
    va.ok = va.rows >= 1 && va.cols >= 1;
    return va;
}

bool view_say_empty(const struct view_area *va, WINDOW *w, int x, int min_experts)
{
    const char *say = NULL;
    enum theme_role role = THEME_DIM;
    if (!va->log || va->log->n == 0) {
        say = "no tokens yet";
    } else if (min_experts > 0 &&
               (va->log->n_experts < min_experts || va->log->n_layers <= 0)) {
        say = view_no_routing(va->not_reported);
        role = THEME_WARNING;
    }
    if (!say)
        return false;
    bool below = va->rows > 1;
    draw_printf(w, below ? 1 : 0, below ? 0 : x, va->cols - (below ? 0 : x),
                draw_attr(va->th, role), "%s%s", below ? "" : "  ", say);
    return true;
}
