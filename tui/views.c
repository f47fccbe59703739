/* tui/views.c: the registry of the inspector's views, and what every view shares: which
 * record is selected, and the prologue each draw begins with. */
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
};

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
