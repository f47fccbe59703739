/* tui/view_token.c: view 7, the selected record in detail: its text (escaped), id and
 * logprob; the sampler's top-5 alternatives with their probabilities (confident, or
 * guessing?); and for each layer the experts chosen, their gate weights, the router's
 * normalised entropy, and which experts were cold (touched for the first time) then.
 *
 * Also here: the overview (the default screen). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "draw.h"
#include "trace_stats.h"
#include "views.h"

/* 'text' quoted and escaped; returns the columns used. */
static int token_quoted(const struct view_ctx *ctx, WINDOW *w, int y, int x, int maxw,
                        const char *p, size_t len, attr_t a)
{
    const struct theme *th = ctx->theme;
    int cols = x + maxw;
    int x0 = x;
    x += draw_printf(w, y, x, cols - x, draw_attr(th, THEME_DIM), "'");
    x += draw_text(w, y, x, cols - x - 1, p, len, a, draw_attr(th, THEME_ESCAPE), ctx->utf8);
    x += draw_printf(w, y, x, cols - x, draw_attr(th, THEME_DIM), "'");
    return x - x0;
}

/* One alternative: its text (through ctx->piece) or its id. */
static int token_alt(const struct view_ctx *ctx, WINDOW *w, int y, int x, int maxw, int32_t id,
                     attr_t a)
{
    size_t len = 0;
    const char *p = ctx->piece ? ctx->piece(ctx->piece_user, id, &len) : NULL;
    if (p)
        return token_quoted(ctx, w, y, x, maxw, p, len, a);
    return draw_printf(w, y, x, maxw, a, "#%d", id);
}

/* The layer rows from row y on; returns the next row. */
static int token_layers(const struct view_ctx *ctx, WINDOW *w, int y, long sel)
{
    const struct trace_log *log = ctx->log;
    const struct theme *th = ctx->theme;
    int rows = getmaxy(w), cols = getmaxx(w);
    if (y >= rows)
        return y;
    if (log->n_experts <= 0 || log->n_layers <= 0) {
        draw_printf(w, y++, 0, cols, draw_attr(th, THEME_WARNING), "%s", view_no_routing(ctx->not_reported));
        return y;
    }
    if (!log->tok[sel].fed) {
        draw_printf(w, y++, 0, cols, draw_attr(th, THEME_DIM),
                    "not fed through the model yet: no routing");
        return y;
    }
    /* A server sends expert ids only: no weights, no entropy (not zeros). */
    bool ids_only = ctx->not_reported & BACKEND_REPORTS_GATES;
    draw_printf(w, y++, 0, cols, draw_attr(th, THEME_DIM), "%s",
                ids_only ? "layer  expert ids (gates, entropy: not reported by this server)"
                         : "layer  experts:weight      entropy  cold");
    int nl = log->n_layers, body = rows - y;
    if (body <= 0)
        return y;
    int layer = ctx->layer < 0 ? 0 : ctx->layer >= nl ? nl - 1 : ctx->layer;
    int first = layer >= body ? layer - body + 1 : 0;
    const struct trace_layer *tl = trace_layers(log, (size_t)sel);
    for (int l = first; l < nl && y < rows; l++, y++) {
        int x = draw_printf(w, y, 0, cols, draw_attr(th, l == layer ? THEME_TITLE : THEME_DIM),
                            "L%-4d", l);
        if (tl[l].n == 0) {
            draw_printf(w, y, x, cols - x, draw_attr(th, THEME_DIM), " dense");
            continue;
        }
        int n = tl[l].n < TRACE_MAX_K ? tl[l].n : TRACE_MAX_K;
        int ew = 0;
        for (int k = 0; k < n; k++) {
            unsigned e = tl[l].experts[k];
            x += draw_printf(w, y, x, cols - x, 0, " ");
            int u = draw_printf(w, y, x, cols - x,
                                draw_attr(th, THEME_EXPERT_1 + e % THEME_EXPERT_COLORS), "%u", e);
            x += u;
            int v = ids_only ? 0
                             : draw_printf(w, y, x, cols - x, draw_attr(th, THEME_TEXT), ":%.2f",
                                           tl[l].weights[k]);
            x += v;
            ew += 1 + u + v;
        }
        if (ids_only)
            continue;
        int pad = 19 - ew;
        x += pad > 0 ? pad : 0;
        double h = trace_entropy_norm(log, (size_t)sel, l);
        x += draw_printf(w, y, x, cols - x, draw_attr(th, THEME_TEXT), " %7.2f ", h);
        if (tl[l].cold) {
            x += draw_printf(w, y, x, cols - x, draw_attr(th, THEME_WARNING), " cold");
            for (int k = 0; k < n; k++)
                if (tl[l].cold & (1u << k))
                    x += draw_printf(w, y, x, cols - x, draw_attr(th, THEME_WARNING), " %u",
                                     tl[l].experts[k]);
        }
    }
    return y;
}

void view_token_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    long sel = view_selected(ctx);
    if (sel < 0) {
        view_say_empty(&va, w, draw_label(w, 0, va.th, "selected token", NULL), 0);
        return;
    }
    const struct trace_token *t = &va.log->tok[sel];
    char title[96];
    snprintf(title, sizeof title, "token %ld/%zu %s %s", sel, va.log->n,
             DRAW_GLYPH(ctx->utf8, "·", "-"), t->prompt ? "prompt" : "generated");
    draw_label(w, 0, va.th, title, ctx->focused ? DRAW_GLYPH(ctx->utf8, "←→ select", "<- -> select")
                                             : "[Tab] focus");
    if (va.rows < 2)
        return;

    /* Row 1: 'text'  id N  logprob L (p P) */
    int x = token_quoted(ctx, w, 1, 0, va.cols, trace_piece(va.log, (size_t)sel), t->piece_len,
                         draw_attr(va.th, THEME_SELECTION));
    x += draw_printf(w, 1, x, va.cols - x, draw_attr(va.th, THEME_TEXT), "  id %d", t->token);
    if (t->sampled)
        draw_printf(w, 1, x, va.cols - x, draw_attr(va.th, THEME_TEXT), "  logprob %.3f  p %.3f",
                    t->logprob, exp(t->logprob));
    int y = 2;
    if (y >= va.rows)
        return;

    /* The alternatives: one per row when there is room for them and some layers. */
    if (!t->sampled) {
        draw_printf(w, y++, 0, va.cols, draw_attr(va.th, THEME_DIM), "%s",
                    t->prompt ? "prompt token: not sampled" : "not sampled");
    } else if (va.rows - y >= TRACE_TOP + 3) {
        draw_printf(w, y++, 0, va.cols, draw_attr(va.th, THEME_DIM), "top %d alternatives:",
                    TRACE_TOP);
        for (int k = 0; k < TRACE_TOP && y < va.rows; k++) {
            if (t->top_id[k] < 0 || !isfinite(t->top_logprob[k]))
                continue;
            double p = exp(t->top_logprob[k]);
            bool chosen = t->top_id[k] == t->token;
            x = draw_printf(w, y, 0, va.cols, draw_attr(va.th, chosen ? THEME_TITLE : THEME_TEXT),
                            "%s%d %6.3f ", chosen ? "*" : " ", k + 1, p);
            int bw = va.cols - x >= 30 ? 10 : 0;
            draw_bar(w, y, x, bw, p, draw_attr(va.th, THEME_BAR), ctx->utf8);
            x += bw + (bw ? 1 : 0);
            token_alt(ctx, w, y, x, va.cols - x, t->top_id[k],
                      draw_attr(va.th, chosen ? THEME_TITLE : THEME_TEXT));
            y++;
        }
    } else {
        x = draw_printf(w, y, 0, va.cols, draw_attr(va.th, THEME_DIM), "top:");
        for (int k = 0; k < TRACE_TOP && x < va.cols; k++) {
            if (t->top_id[k] < 0 || !isfinite(t->top_logprob[k]))
                continue;
            x += draw_printf(w, y, x, va.cols - x, 0, " ");
            x += token_alt(ctx, w, y, x, va.cols - x, t->top_id[k], draw_attr(va.th, THEME_TEXT));
            x += draw_printf(w, y, x, va.cols - x, draw_attr(va.th, THEME_DIM), " %.2f",
                             exp(t->top_logprob[k]));
        }
        y++;
    }
    token_layers(ctx, w, y, sel);
}

/* ---------------------------------------------------------------- the overview */

/* Draws view fn into rows [y, y + h) of w through a derived window. */
static void overview_part(const struct view_ctx *ctx, WINDOW *w, int y, int h, view_draw_fn fn)
{
    if (h <= 0 || y >= getmaxy(w))
        return;
    if (y + h > getmaxy(w))
        h = getmaxy(w) - y;
    WINDOW *sub = derwin(w, h, getmaxx(w), y, 0);
    if (!sub)
        return;
    fn(ctx, sub);
    delwin(sub);
}

void view_overview_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    int nl = va.log ? va.log->n_layers : 0;
    /* Sparklines first (they are small and always useful), then the heatmap, then the
     * token detail gets what is left, at the top. */
    int ent = va.rows >= 24 ? 5 : va.rows >= 12 ? 3 : va.rows >= 6 ? 2 : 0;
    int lat = va.rows >= 24 ? 6 : va.rows >= 12 ? 4 : va.rows >= 6 ? 2 : va.rows >= 2 ? 1 : 0;
    int rest = va.rows - ent - lat;
    int heat = nl + 3;
    if (heat > rest / 2)
        heat = rest / 2;
    if (rest < 10)
        heat = 0;
    int tok = rest - heat;
    int y = 0;
    overview_part(ctx, w, y, tok, view_token_draw);
    y += tok;
    overview_part(ctx, w, y, heat, view_heatmap_draw);
    y += heat;
    overview_part(ctx, w, y, ent, view_entropy_draw);
    y += ent;
    overview_part(ctx, w, y, lat, view_latency_draw);
}
