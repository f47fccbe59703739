/* tui/view_strip.c: view 1, the token strip. Every record's text, coloured by the expert
 * it was routed to first (top-1) at the chosen layer, as in figure 8 of the Mixtral paper
 * (Jiang et al. 2024), but live. Expert e takes palette colour e mod THEME_EXPERT_COLORS;
 * records not fed through the model (the last sampled token) are dim. The text flows and
 * wraps like prose; a newline token shows as \n and breaks the line. The view scrolls so
 * that the selected record stays in sight, near the bottom. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "views.h"

/* The attribute of record i in the strip. */
static attr_t strip_attr(const struct view_ctx *ctx, size_t i, int layer)
{
    const struct trace_log *log = ctx->log;
    if (!log->tok[i].fed || log->n_experts <= 0)
        return draw_attr(ctx->theme, THEME_DIM);
    const struct trace_layer *tl = &trace_layers(log, i)[layer];
    if (tl->n == 0 || tl->experts[0] >= log->n_experts)
        return draw_attr(ctx->theme, THEME_DIM);
    return draw_attr(ctx->theme, THEME_EXPERT_1 + tl->experts[0] % THEME_EXPERT_COLORS);
}

static bool strip_piece_breaks(const struct trace_log *log, size_t i)
{
    const struct trace_token *t = &log->tok[i];
    return t->piece_len > 0 && trace_piece(log, i)[t->piece_len - 1] == '\n';
}

/* The legend row: which colour is which expert. */
static void strip_legend(const struct view_ctx *ctx, WINDOW *w, int y)
{
    int ne = ctx->log->n_experts, cols = getmaxx(w);
    int x = draw_printf(w, y, 0, cols, draw_attr(ctx->theme, THEME_DIM), "%s",
                        ne > THEME_EXPERT_COLORS ? "expert mod 8:" : "experts:");
    int shown = ne < THEME_EXPERT_COLORS ? ne : THEME_EXPERT_COLORS;
    for (int e = 0; e < shown && x < cols; e++) {
        x += draw_printf(w, y, x, cols - x, 0, " ");
        x += draw_printf(w, y, x, cols - x, draw_attr(ctx->theme, THEME_EXPERT_1 + e), " %d ", e);
    }
}

/* First pass, up to the selection: where lines start, to scroll the selection into view
 * near the bottom; sets sc->first (the first line shown) and sc->from (its first record).
 * Kept in ctx->cache while the log, the selection and the size stay (it walks the whole
 * session: 0.9 ms a frame at 8 000 tokens). */
static void strip_find_first(const struct view_ctx *ctx, int cols, int body, long sel,
                             struct strip_scroll *sc)
{
    const struct trace_log *log = ctx->log;
    /* starts[line % body]: the record each of the last `body` lines starts with, so the
     * second pass begins there and not at the first record. */
    size_t *starts = malloc((size_t)body * sizeof *starts);
    long sel_line = 0, line = 0;
    int x = 0;
    if (starts)
        starts[0] = 0;
    for (size_t i = 0; i < log->n; i++) {
        int wd = log->tok[i].piece_len == 0
                     ? 1
                     : draw_text_width(trace_piece(log, i), log->tok[i].piece_len, ctx->utf8);
        if (wd > cols)
            wd = cols;
        if (x > 0 && x + wd > cols) {
            line++;
            x = 0;
            if (starts)
                starts[line % body] = i;
        }
        sel_line = line;
        x += wd;
        if ((long)i == sel)
            break; /* a line after the selection's would overwrite starts[first % body] */
        if (strip_piece_breaks(log, i) && i + 1 < log->n) {
            line++;
            x = 0;
            if (starts)
                starts[line % body] = i + 1;
        }
    }
    long first = sel_line - body + 1;
    if (first < 0)
        first = 0;
    sc->from = 0;
    sc->first = 0;
    if (!starts)
        sc->at = (struct trace_stamp){ 0 }; /* drawn from the top now; again next frame */
    else {
        sc->from = starts[first % body];
        sc->first = first;
        free(starts);
    }
}

void view_strip_draw(const struct view_ctx *ctx, WINDOW *w)
{
    const struct view_area va = view_begin(ctx, w);
    if (!va.ok)
        return;
    int n_layers = va.log ? va.log->n_layers : 0;
    int layer = ctx->layer < 0 ? 0 : ctx->layer >= n_layers ? n_layers - 1 : ctx->layer;
    char title[96];
    snprintf(title, sizeof title, "top-1 experts %s layer %d/%d",
             DRAW_GLYPH(ctx->utf8, "·", "-"), layer < 0 ? 0 : layer, n_layers);
    /* The hint names the selected record's top-1 expert here, to match colour and number. */
    char hint[64] = "[ ] layer";
    long hs = view_selected(ctx);
    if (hs >= 0 && va.log->n_experts > 0 && layer >= 0 && va.log->tok[hs].fed &&
        trace_layers(va.log, (size_t)hs)[layer].n > 0)
        snprintf(hint, sizeof hint, "token %ld: expert %u  [ ] layer", hs,
                 (unsigned)trace_layers(va.log, (size_t)hs)[layer].experts[0]);
    if (view_say_empty(&va, w, draw_label(w, 0, va.th, title, hint), 0))
        return;
    int y0 = 1;
    if (va.log->n_experts <= 0) {
        draw_printf(w, 1, 0, va.cols, draw_attr(va.th, THEME_WARNING), "%s",
                    view_no_routing(va.not_reported));
        y0 = 2;
    } else if (va.rows >= 4) {
        strip_legend(ctx, w, 1);
        y0 = 2;
    }
    int body = va.rows - y0;
    if (body <= 0)
        return;

    long sel = view_selected(ctx);
    struct strip_scroll own = { 0 }, *sc = ctx->cache ? &ctx->cache->strip : &own;
    if (!(trace_stamp_fresh(sc->at, va.log) && sc->sel == sel && sc->cols == va.cols &&
          sc->body == body && sc->utf8 == ctx->utf8)) {
        *sc = (struct strip_scroll){ .at = trace_stamp_of(va.log), .sel = sel, .cols = va.cols,
                                     .body = body, .utf8 = ctx->utf8 };
        strip_find_first(ctx, va.cols, body, sel, sc);
    }
    size_t from = sc->from;
    long first = sc->first, line = first;

    /* Second pass: draw the lines [first, first + body). */
    int x = 0;
    for (size_t i = from; i < va.log->n && line < first + body; i++) {
        const char *p = trace_piece(va.log, i);
        size_t len = va.log->tok[i].piece_len;
        if (len == 0) { /* an empty piece (BOS, say) still gets a cell, so it can be selected */
            p = DRAW_GLYPH(ctx->utf8, "∅", "0");
            len = strlen(p);
        }
        int wd = draw_text_width(p, len, ctx->utf8);
        if (wd > va.cols)
            wd = va.cols;
        if (x > 0 && x + wd > va.cols) {
            line++;
            x = 0;
        }
        if (line >= first && line < first + body) {
            attr_t a = n_layers > 0 ? strip_attr(ctx, i, layer) : draw_attr(va.th, THEME_DIM);
            if ((long)i == sel)
                a = (a ^ A_REVERSE) | A_BOLD | (ctx->focused ? A_UNDERLINE : 0);
            draw_text(w, y0 + (int)(line - first), x, wd, p, len, a, a | A_UNDERLINE,
                      ctx->utf8);
        }
        x += wd;
        if (strip_piece_breaks(va.log, i) && i + 1 < va.log->n) {
            line++;
            x = 0;
        }
    }
}
