/* tui/view_heatmap.c: view 2, layers x experts as a heatmap. Modes: the selected record's
 * gate weights (a server's ids only: 1 each), the expert load (how many records chose it) over the whole session, or over
 * the last VIEW_RECENT_TOKENS records. Intensity is the value over the grid's maximum, in
 * THEME_HEAT_STEPS steps (ceil, so any non-zero value shows). When the experts do not fit,
 * a column stands for several consecutive experts and shows their maximum; layers likewise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "draw.h"
#include "trace_stats.h"
#include "views.h"

const char *const heat_mode_names[HEAT_MODE_COUNT] = {
    [HEAT_SELECTED] = "selected token",
    [HEAT_SESSION] = "session load",
    [HEAT_RECENT] = "last 64 tokens",
};

static int heat_step(double v, double vmax)
{
    if (!(v > 0) || !(vmax > 0))
        return 0;
    double s = v / vmax * THEME_HEAT_STEPS;
    int step = (int)s;
    if (step < s)
        step++;
    return step < 1 ? 1 : step > THEME_HEAT_STEPS ? THEME_HEAT_STEPS : step;
}

static int heat_digits(int v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

void view_heatmap_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    enum heat_mode mode = (unsigned)ctx->heat < HEAT_MODE_COUNT ? ctx->heat : HEAT_SELECTED;
    char title[96];
    snprintf(title, sizeof title, "heatmap %s %s", DRAW_GLYPH(ctx->utf8, "·", "-"),
             heat_mode_names[mode]);
    if (view_say_empty(&va, w, draw_label(w, 0, va.th, title, "[h] mode"), 1))
        return;
    int nl = va.log->n_layers, ne = va.log->n_experts;

    /* val[l * ne + e]: (n_layers * n_experts) */
    double *val = calloc((size_t)nl * (size_t)ne, sizeof *val);
    uint32_t *load = calloc((size_t)nl * (size_t)ne, sizeof *load);
    if (!val || !load) {
        free(val);
        free(load);
        draw_printf(w, 1, 0, va.cols, draw_attr(va.th, THEME_ERROR), "out of memory");
        return;
    }
    const char *unit = "tokens";
    long sel = view_selected(ctx);
    if (mode == HEAT_SELECTED) {
        /* A server sends the chosen ids without their gate weights: each counts 1. */
        bool ids_only = ctx->not_reported & BACKEND_REPORTS_GATES;
        unit = ids_only ? "chosen (ids only: no gate weights)" : "gate weight";
        if (sel >= 0 && va.log->tok[sel].fed) {
            const struct trace_layer *tl = trace_layers(va.log, (size_t)sel);
            for (int l = 0; l < nl; l++)
                for (int k = 0; k < tl[l].n && k < TRACE_MAX_K; k++)
                    if (tl[l].experts[k] < ne)
                        val[(size_t)l * ne + tl[l].experts[k]] += ids_only ? 1.0
                                                                           : tl[l].weights[k];
        }
    } else if (mode == HEAT_RECENT || !ctx->cache ||
               trace_load_cache_get(&ctx->cache->load, va.log) != 0) {
        /* the last 64 tokens (cheap), or the session without the cache */
        size_t from = 0;
        if (mode == HEAT_RECENT && va.log->n > VIEW_RECENT_TOKENS)
            from = va.log->n - VIEW_RECENT_TOKENS;
        trace_expert_load(va.log, from, va.log->n, load);
        for (size_t i = 0; i < (size_t)nl * (size_t)ne; i++)
            val[i] = load[i];
    } else {
        /* the session: kept across frames */
        for (size_t i = 0; i < (size_t)nl * (size_t)ne; i++)
            val[i] = ctx->cache->load.load[i];
    }
    free(load);

    /* Geometry: a label column "L12 ", a header row of expert numbers, a legend row. */
    int y0 = 1;
    bool header = va.rows >= 3;
    if (header)
        y0 = 2;
    int avail_rows = va.rows - y0;
    bool legend = avail_rows > nl;
    if (legend)
        avail_rows--;
    if (avail_rows < 1) {
        free(val);
        return;
    }
    int lpr = (nl + avail_rows - 1) / avail_rows; /* layers per row */
    int grid_rows = (nl + lpr - 1) / lpr;
    int labw = 1 + heat_digits(nl - 1) + (lpr > 1 ? 1 + heat_digits(nl - 1) : 0) + 1;
    if (labw >= va.cols)
        labw = 0;
    int avail_cols = va.cols - labw;
    int epc = (ne + avail_cols - 1) / avail_cols; /* experts per column */
    int grid_cols = (ne + epc - 1) / epc;
    int cw = epc > 1 ? 1 : avail_cols / ne;       /* cell width */
    if (cw > 3)
        cw = 3;
    if (cw < 1)
        cw = 1;

    double vmax = 0;
    for (size_t i = 0; i < (size_t)nl * (size_t)ne; i++)
        if (val[i] > vmax)
            vmax = val[i];

    if (header) {
        int step = (heat_digits(ne - 1) + 1 + cw - 1) / cw; /* columns between numbers */
        for (int c = 0; c < grid_cols; c += step)
            draw_printf(w, 1, labw + c * cw, va.cols - labw - c * cw, draw_attr(va.th, THEME_DIM),
                        "%d", c * epc);
    }
    for (int r = 0; r < grid_rows; r++) {
        int l0 = r * lpr, l1 = l0 + lpr < nl ? l0 + lpr : nl;
        attr_t la = draw_attr(va.th, (ctx->layer >= l0 && ctx->layer < l1) ? THEME_TITLE
                                                                          : THEME_DIM);
        if (labw > 0) {
            if (lpr > 1)
                draw_printf(w, y0 + r, 0, labw, la, "L%d-%d", l0, l1 - 1);
            else
                draw_printf(w, y0 + r, 0, labw, la, "L%d", l0);
        }
        for (int c = 0; c < grid_cols; c++) {
            int e0 = c * epc, e1 = e0 + epc < ne ? e0 + epc : ne;
            double v = 0;
            for (int l = l0; l < l1; l++)
                for (int e = e0; e < e1; e++)
                    if (val[(size_t)l * ne + e] > v)
                        v = val[(size_t)l * ne + e];
            draw_heat_cell(w, y0 + r, labw + c * cw, cw, heat_step(v, vmax), va.th, ctx->utf8);
        }
    }
    if (legend) {
        char buf[160];
        int y = y0 + grid_rows;
        const char *scale = DRAW_GLYPH(ctx->utf8, "·░▒▓█", ".:+*#");
        if (mode == HEAT_SELECTED && !(sel >= 0 && va.log->tok[sel].fed))
            snprintf(buf, sizeof buf, "token %ld not routed yet", sel);
        else if (mode == HEAT_SELECTED)
            snprintf(buf, sizeof buf, "%s 0..%.2f %s, token %ld", scale, vmax, unit, sel);
        else
            snprintf(buf, sizeof buf, "%s 0..%.0f %s", scale, vmax, unit);
        int x = draw_printf(w, y, 0, va.cols, draw_attr(va.th, THEME_DIM), "%s", buf);
        if (epc > 1)
            draw_printf(w, y, x, va.cols - x, draw_attr(va.th, THEME_DIM), ", %d experts/col", epc);
    }
    free(val);
}
