/* tui/view_balance.c: view 5, how evenly each layer spreads the session's tokens over its
 * experts (trace_balance_layer): avg/max load (1 = even), the coefficient of variation,
 * MaxVio ((max - mean) / mean, as in the auxiliary-loss-free balancing paper), and locality:
 * how often a token's top-1 expert is the previous token's, i.e. what keeping the last
 * expert cached would save. Each row ends with the layer's load per expert as a small
 * sparkline when there is room. The chosen layer is highlighted and kept in sight.
 *
 * Below the table, when there are rows left, the chosen layer's co-activation
 * (sessions/coactivation.h): an experts x experts matrix of how often two experts were
 * chosen by the same token against chance (lift), experts grouped when they do not fit (a
 * group's lift is its pairs' count over their expected sum). Step 0 (nothing drawn) is
 * below chance, then each step doubles: lift 1, 2, 4 ... 2^7 and more.
 *
 * Under the mean, a reasoning model's thinking tokens and answer tokens get a mean row
 * each, before the matrix. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "coactivation.h"
#include "draw.h"
#include "trace_stats.h"
#include "views.h"

/* The lift of the pairs (a in group ga, b in group gb, a != b) of per experts a group. */
static double coact_group_lift(const struct coact *c, int ga, int gb, int per)
{
    double seen = 0, expected = 0;
    const int ne = c->n_experts;
    for (int a = ga * per; a < (ga + 1) * per && a < ne; a++)
        for (int b = gb * per; b < (gb + 1) * per && b < ne; b++)
            if (a != b) {
                seen += c->same[(size_t)a * (size_t)ne + (size_t)b];
                expected += (double)c->load[a] * c->load[b] / c->n_tokens;
            }
    return expected > 0 ? seen / expected : NAN;
}

/* The chosen layer's co-activation matrix from row y0 down (see the top). */
static void balance_coact(const struct view_ctx *ctx, const struct view_area *va, WINDOW *w,
                          int y0, int layer)
{
    const int rows = va->rows - y0 - 1, width = va->cols - 5;
    struct coact c;
    if (rows < 2 || width < 2 || coact_count(&c, va->log, 0, va->log->n, layer) != 0)
        return;
    const int ne = c.n_experts;
    int per = (ne + rows - 1) / rows;
    if ((ne + per - 1) / per > width)
        per = (ne + width - 1) / width;
    const int groups = (ne + per - 1) / per;
    int x = draw_printf(w, y0, 0, va->cols, draw_attr(va->th, THEME_TITLE),
                        "co-activation L%d %s same token, lift", layer,
                        DRAW_GLYPH(ctx->utf8, "·", "-"));
    if (per > 1)
        x += draw_printf(w, y0, x, va->cols - x, draw_attr(va->th, THEME_DIM),
                         ", %d experts a cell", per);
    draw_printf(w, y0, x, va->cols - x, draw_attr(va->th, THEME_DIM),
                "  (1, 2, 4 ... x chance; blank: below)");
    for (int gy = 0; gy < groups && gy < rows; gy++) {
        draw_printf(w, y0 + 1 + gy, 0, 5, draw_attr(va->th, THEME_DIM), "%4d", gy * per);
        for (int gx = 0; gx < groups; gx++) {
            double lift = coact_group_lift(&c, gy, gx, per);
            int step = lift >= 1 ? 1 + (int)floor(log2(lift)) : 0;
            draw_heat_cell(w, y0 + 1 + gy, 5 + gx, 1,
                           step > THEME_HEAT_STEPS ? THEME_HEAT_STEPS : step, va->th,
                           ctx->utf8);
        }
    }
    coact_free(&c);
}

/* The mean over routed layers of b[nl]; false when no layer was routed. */
static bool balance_mean(const struct trace_balance *b, int nl, struct trace_balance *mean)
{
    int n = 0;
    *mean = (struct trace_balance){ 0 };
    for (int l = 0; l < nl; l++)
        if (b[l].n_tokens > 0) {
            mean->avg_max += b[l].avg_max;
            mean->cv += b[l].cv;
            mean->maxvio += b[l].maxvio;
            mean->locality += b[l].locality;
            n++;
        }
    if (n) {
        mean->avg_max /= n;
        mean->cv /= n;
        mean->maxvio /= n;
        mean->locality /= n;
    }
    return n > 0;
}

/* Rows from y on: the mean of thinking tokens and of answer tokens, when there are
 * thinking tokens. Returns the rows used. */
static int balance_draw_parts(const struct view_area *va, WINDOW *w, int y)
{
    int nl = va->log->n_layers;
    bool thinking = false;
    for (size_t i = 0; i < va->log->n && !thinking; i++)
        thinking = trace_selects(&va->log->tok[i], TRACE_SEL_THINKING);
    struct trace_balance *b = thinking ? malloc((size_t)nl * sizeof *b) : NULL;
    static const struct { enum trace_select sel; const char *name; } parts[] = {
        { TRACE_SEL_THINKING, "think" },
        { TRACE_SEL_ANSWER, "answer" },
    };
    int k = 0;
    for (; b && k < 2 && y + k < va->rows; k++) {
        struct trace_balance m;
        if (trace_balance_select(va->log, 0, va->log->n, parts[k].sel, b) == 0 &&
            balance_mean(b, nl, &m))
            draw_printf(w, y + k, 0, va->cols, draw_attr(va->th, THEME_DIM),
                        "%-6s%7.2f %5.2f %6.2f %7.0f%%", parts[k].name, m.avg_max, m.cv,
                        m.maxvio, m.locality * 100);
    }
    free(b);
    return k;
}

void view_balance_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    char title[64];
    snprintf(title, sizeof title, "balance per layer %s session", DRAW_GLYPH(ctx->utf8, "·", "-"));
    if (view_say_empty(&va, w, draw_label(w, 0, va.th, title, "[ ] layer"), 1))
        return;
    int nl = va.log->n_layers, ne = va.log->n_experts;
    /* the session's load[l * ne + e] and balance[l], kept across frames in ctx->cache */
    struct trace_load_cache own = { 0 }, *lc = ctx->cache ? &ctx->cache->load : &own;
    if (trace_load_cache_get(lc, va.log) != 0) {
        trace_load_cache_free(&own);
        draw_printf(w, 1, 0, va.cols, draw_attr(va.th, THEME_ERROR), "out of memory");
        return;
    }
    const uint32_t *load = lc->load;

    static const char head[] = "layer avg/max    CV MaxVio locality";
    enum { TABLE_W = sizeof head - 1 };
    draw_printf(w, 1, 0, va.cols, draw_attr(va.th, THEME_DIM), "%s%s", head,
                va.cols > TABLE_W + 4 ? "  load per expert" : "");
    int body = va.rows - 2;
    int layer = ctx->layer < 0 ? 0 : ctx->layer >= nl ? nl - 1 : ctx->layer;
    int first = 0;
    if (body > 0 && layer >= body)
        first = layer - body + 1;
    const struct trace_balance *all = lc->balance;
    for (int l = 0; l < nl; l++) {
        struct trace_balance b = all[l];
        int y = 2 + l - first;
        if (l < first || y >= va.rows)
            continue;
        attr_t a = draw_attr(va.th, l == layer ? THEME_SELECTION : THEME_TEXT);
        if (b.n_tokens == 0) {
            draw_printf(w, y, 0, va.cols, draw_attr(va.th, THEME_DIM), "L%-4d %s", l, "not routed");
            continue;
        }
        draw_printf(w, y, 0, va.cols, a, "L%-4d %7.2f %5.2f %6.2f %7.0f%%", l, b.avg_max, b.cv,
                    b.maxvio, b.locality * 100);
        int x0 = TABLE_W + 2, width = va.cols - x0;
        if (width < 4 || b.max_load <= 0)
            continue;
        /* Per-expert load as sparkline columns, experts grouped (max) when they do not fit. */
        int epc = (ne + width - 1) / width;
        for (int c = 0; c * epc < ne; c++) {
            uint32_t m = 0;
            for (int e = c * epc; e < (c + 1) * epc && e < ne; e++)
                if (load[(size_t)l * ne + e] > m)
                    m = load[(size_t)l * ne + e];
            draw_spark_col(w, y, x0 + c, 1, m / b.max_load, draw_attr(va.th, THEME_BAR), ctx->utf8);
        }
    }
    /* The mean over layers replaces the last row when the table is cut short. */
    int ys = 2 + nl - first;
    struct trace_balance mean;
    if (balance_mean(all, nl, &mean) && ys < va.rows)
        draw_printf(w, ys, 0, va.cols, draw_attr(va.th, THEME_TITLE),
                    "mean  %7.2f %5.2f %6.2f %7.0f%%", mean.avg_max, mean.cv, mean.maxvio,
                    mean.locality * 100);
    ys += balance_draw_parts(&va, w, ys + 1);
    if (ys + 2 < va.rows && all[layer].n_tokens > 0)
        balance_coact(ctx, &va, w, ys + 2, layer);
    trace_load_cache_free(&own);
}
