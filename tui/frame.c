/* tui/frame.c: the panes' windows for the current size, and one frame: only the dirty
 * windows are drawn, each wnoutrefresh'd, then one doupdate. Drawing changes no state but
 * the windows, the layout and the frame's own counters. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "draw.h"
#include "frame.h"
#include "input.h"
#include "statusbar.h"

static void win_free(WINDOW **w)
{
    if (*w)
        delwin(*w);
    *w = NULL;
}

static WINDOW *win_make(struct rect r)
{
    if (r.h <= 0 || r.w <= 0)
        return NULL;
    WINDOW *w = newwin(r.h, r.w, r.y, r.x);
    if (w)
        leaveok(w, TRUE);
    return w;
}

/* The panes' windows (not the keys' window, which lives as long as the terminal). */
static void frame_panes_free(struct frame_windows *w)
{
    win_free(&w->status);
    win_free(&w->transcript);
    win_free(&w->input);
    win_free(&w->inspector);
    win_free(&w->tabs);
    win_free(&w->sep);
    win_free(&w->hints);
}

void frame_windows_free(struct frame_windows *w)
{
    frame_panes_free(w);
    win_free(&w->keys);
}

static void frame_windows_make(struct app *a)
{
    frame_panes_free(&a->win);
    const struct layout *l = &a->lay;
    if (l->mode == LAYOUT_TOO_SMALL)
        return;
    a->win.status = win_make(l->status);
    a->win.transcript = win_make(l->transcript);
    a->win.input = win_make(l->input);
    if (a->win.input)
        leaveok(a->win.input, FALSE);   /* the cursor is shown where the user types */
    a->win.sep = win_make(l->sep);
    a->win.hints = win_make(l->hints);
    if (l->inspector.h > 0) {
        struct rect tabs = { l->inspector.y, l->inspector.x, 1, l->inspector.w };
        struct rect body = { l->inspector.y + 1, l->inspector.x, l->inspector.h - 1,
                             l->inspector.w };
        a->win.tabs = win_make(tabs);
        a->win.inspector = win_make(body);
    }
}

static void frame_layout(struct app *a)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    struct layout l;
    layout_compute(rows, cols, a->inspector_on, a->inspector_alone, 1, &l);
    int in_rows = a->in && l.input.w > 0 ? input_rows(a->in, l.input.w) : 1;
    if (in_rows > 1)
        layout_compute(rows, cols, a->inspector_on, a->inspector_alone, in_rows, &l);
    if (memcmp(&l, &a->lay, sizeof l) != 0 || !a->win.hints) {
        a->lay = l;
        frame_windows_make(a);
        a->dirty |= DIRTY_ALL;
    }
    /* The pane with focus must be on screen. */
    if (a->focus == FOCUS_INSPECTOR && l.inspector.h == 0 && l.mode != LAYOUT_TOO_SMALL)
        a->focus = FOCUS_INPUT;
}

static const char *frame_piece(void *user, int32_t token, size_t *len)
{
    const struct app *a = user;
    const struct vocab_table *v = a->vocab;
    if (!v || token < 0 || token >= v->n)
        return NULL;
    *len = v->off[token + 1] - v->off[token];
    return v->text + v->off[token];
}

static void frame_draw_tabs(const struct app *a, WINDOW *w)
{
    const struct theme *th = &a->theme;
    int wd = getmaxx(w);
    bool focus = a->focus == FOCUS_INSPECTOR;
    attr_t base = draw_attr(th, focus ? THEME_BORDER_FOCUS : THEME_BORDER);
    werase(w);
    draw_blank(w, 0, 0, wd, base);
    /* The widest form that fits: a label and full names, full names, short names, or
     * numbers with the current view's name. */
    int full = 0, brief = 0;
    for (int v = 0; v < VIEW_COUNT; v++) {
        full += (int)strlen(view_table[v].name) + 3;
        brief += (int)strlen(view_table[v].brief) + 3;
    }
    const char *label = focus ? "INSPECTOR" : "inspector";
    int level = full + 10 <= wd ? 0 : full <= wd ? 1 : brief <= wd ? 2 : 3;
    int x = 0;
    if (level == 0)
        x += draw_printf(w, 0, x, wd - x, base | A_BOLD, "%s ", label);
    for (int v = 0; v < VIEW_COUNT && x < wd; v++) {
        bool cur = (int)a->view == v;
        attr_t at = cur ? draw_attr(th, THEME_SELECTION) : draw_attr(th, THEME_DIM);
        attr_t ka = cur ? at : draw_attr(th, THEME_KEY);
        const char *name = level <= 1 || (level == 3 && cur) ? view_table[v].name
                           : level == 2                      ? view_table[v].brief
                                                             : NULL;
        x += draw_printf(w, 0, x, wd - x, ka, " %d", v);
        if (name)
            x += draw_printf(w, 0, x, wd - x, at, " %s ", name);
        else
            x += draw_printf(w, 0, x, wd - x, at, " ");
    }
    if (!focus && x + 12 < wd)
        draw_printf(w, 0, wd - 11, 11, draw_attr(th, THEME_DIM), "Tab: focus");
}

/* Memory this machine can give now: MemAvailable (Linux 3.14 on), else the free pages. */
static uint64_t frame_free_ram(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f) && sscanf(line, "MemAvailable: %llu", &kb) != 1)
        ;
    if (f)
        fclose(f);
    if (kb)
        return kb * 1024ull;
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* What the cost view compares with: the open model's sizes, else a loaded session's
 * record of them; the free memory only when that view is shown (a file read per frame). */
static void frame_costs(const struct app *a, struct view_costs *c)
{
    *c = (struct view_costs){ 0 };
    if (a->ws.opened && !a->ws.backend[0]) {
        c->active_bytes = a->ws.desc.active_bytes;
        c->file_bytes = a->ws.desc.file_size;
        c->expert_bytes = a->ws.desc.expert_bytes;
    } else if (a->sess.have_loaded_model) {
        c->active_bytes = a->sess.loaded_model.active_bytes;
        c->file_bytes = a->sess.loaded_model.size;
        c->expert_bytes = a->sess.loaded_model.expert_bytes;
    }
    if (a->view == VIEW_COST)
        c->free_ram = frame_free_ram();
}

static void frame_draw_inspector(struct app *a)
{
    struct view_ctx ctx = a->vctx;
    ctx.log = &a->log;
    ctx.cache = a->cache;
    ctx.sel = a->sel;
    ctx.theme = &a->theme;
    ctx.utf8 = a->utf8;
    ctx.focused = a->focus == FOCUS_INSPECTOR;
    ctx.piece = frame_piece;
    ctx.piece_user = a;
    ctx.not_reported = a->ws.backend[0] ? ~a->ws.reports &
                                              (BACKEND_REPORTS_EXPERTS | BACKEND_REPORTS_GATES |
                                               BACKEND_REPORTS_ENTROPY | BACKEND_REPORTS_SPLIT |
                                               BACKEND_REPORTS_TOKEN_TIMES)
                                        : 0;
    ctx.tokens_per_chunk = a->ws.backend[0] && a->ws.chunks
                               ? (double)a->ws.chunk_tokens / (double)a->ws.chunks : 0;
    frame_costs(a, &ctx.costs);
    if (a->win.tabs)
        frame_draw_tabs(a, a->win.tabs);
    if (a->win.inspector) {
        if (!a->model_ready) {
            werase(a->win.inspector);
            draw_printf(a->win.inspector, 1, 2, getmaxx(a->win.inspector) - 4,
                        draw_attr(&a->theme, THEME_DIM), "%s",
                        a->ws.state == WORKER_FAILED ? "no model, no records"
                                                     : "loading the model...");
        } else {
            view_table[a->view].draw(&ctx, a->win.inspector);
        }
    }
}

static void frame_draw_sep(const struct app *a, WINDOW *w)
{
    attr_t at = draw_attr(&a->theme, a->focus == FOCUS_INSPECTOR ? THEME_BORDER_FOCUS
                                                                 : THEME_BORDER);
    werase(w);
    wattrset(w, at);
    mvwvline(w, 0, 0, ACS_VLINE, getmaxy(w));
    wattrset(w, A_NORMAL);
}

static void frame_draw_too_small(void)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    werase(stdscr);
    char buf[128];
    snprintf(buf, sizeof buf, "terminal too small (%dx%d, needs %dx%d)", cols, rows,
             LAYOUT_MIN_COLS, LAYOUT_MIN_ROWS);
    if ((int)strlen(buf) > cols)
        snprintf(buf, sizeof buf, "terminal too small: %dx%d", cols, rows);
    if ((int)strlen(buf) > cols)
        snprintf(buf, sizeof buf, "too small");
    int len = (int)strlen(buf);
    int x = cols > len ? (cols - len) / 2 : 0;
    mvwaddnstr(stdscr, rows / 2, x, buf, cols - x);
    wnoutrefresh(stdscr);
}

static void frame_read_rss(struct frame_stats *fs, double now)
{
    if (now - fs->rss_at < 1.0)
        return;
    fs->rss_at = now;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return;
    unsigned long size, rss;
    if (fscanf(f, "%lu %lu", &size, &rss) == 2)
        fs->rss_mb = (double)rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
    fclose(f);
}

/* The keys screen, centred over everything. */
static void frame_draw_help(const struct app *a)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    int h = help_lines() + 2, w = 92;
    if (h > rows - 2)
        h = rows - 2;
    if (w > cols - 2)
        w = cols - 2;
    WINDOW *hw = newwin(h, w, (rows - h) / 2, (cols - w) / 2);
    if (hw) {
        help_draw(a, hw);
        wnoutrefresh(hw);
        delwin(hw);
    }
}

/* The model picker over everything, as tall as its list (at most the screen); on a terminal
 * too small for the panes (whole) it takes the whole screen. */
static void frame_draw_picker(struct app *a, bool whole)
{
    int rows, cols;
    getmaxyx(stdscr, rows, cols);
    int h = (int)a->picker.list.n + 3, w = 96;
    if (h < 6)
        h = 6;
    if (whole) {
        h = rows;
        w = cols;
    }
    if (h > rows - (whole ? 0 : 2))
        h = rows - (whole ? 0 : 2);
    if (w > cols - (whole ? 0 : 2))
        w = cols - (whole ? 0 : 2);
    WINDOW *pw = newwin(h, w, (rows - h) / 2, (cols - w) / 2);
    if (pw) {
        picker_draw(a, pw);
        wnoutrefresh(pw);
        delwin(pw);
    }
}

void frame_draw(struct app *a)
{
    double now = clock_now_s();
    if (a->theme_dirty) {
        draw_theme_apply(&a->theme);
        a->theme_dirty = false;
        a->dirty |= DIRTY_ALL;
        clearok(curscr, TRUE);
    }
    frame_read_rss(&a->frame, now);
    frame_layout(a);
    if (a->lay.mode == LAYOUT_TOO_SMALL && a->picker.open && LINES >= 3 && COLS >= 8) {
        curs_set(0);
        werase(stdscr);
        wnoutrefresh(stdscr);
        frame_draw_picker(a, true);
        doupdate();
        a->dirty = 0;
        return;
    }
    if (a->lay.mode == LAYOUT_TOO_SMALL) {
        curs_set(0);
        frame_draw_too_small();
        doupdate();
        a->dirty = 0;
        return;
    }
    unsigned d = a->dirty;
    if ((d & DIRTY_STATUS) && a->win.status) {
        statusbar_draw(a, a->win.status);
        wnoutrefresh(a->win.status);
    }
    if ((d & DIRTY_TRANSCRIPT) && a->win.transcript) {
        transcript_draw(a, &a->tr, a->win.transcript);
        wnoutrefresh(a->win.transcript);
    }
    if ((d & DIRTY_INSPECTOR) && (a->win.inspector || a->win.tabs)) {
        frame_draw_inspector(a);
        if (a->win.tabs)
            wnoutrefresh(a->win.tabs);
        if (a->win.inspector)
            wnoutrefresh(a->win.inspector);
    }
    if ((d & DIRTY_LAYOUT) && a->win.sep) {
        frame_draw_sep(a, a->win.sep);
        wnoutrefresh(a->win.sep);
    }
    if ((d & DIRTY_HINTS) && a->win.hints) {
        hints_draw(a, a->win.hints);
        wnoutrefresh(a->win.hints);
    }
    if (a->picker.open) {
        frame_draw_picker(a, false);
        curs_set(0);
    } else if (a->help.open) {
        frame_draw_help(a);
        curs_set(0);
    } else if (a->win.input) {
        if (d & DIRTY_INPUT)
            input_draw(a->in, a->win.input, a);
        /* Last, so the terminal's cursor ends where the user types. */
        wnoutrefresh(a->win.input);
        curs_set(a->focus == FOCUS_INPUT ? 1 : 0);
    }
    doupdate();
    a->dirty = 0;
    a->frame.last_frame = now;
    a->frame.frames_drawn++;
    double ms = (clock_now_s() - now) * 1000.0;
    a->frame.draw_ms_sum += ms;
    if (ms > a->frame.draw_ms_max)
        a->frame.draw_ms_max = ms;
}

void frame_theme_set(struct app *a, const struct theme *th)
{
    a->theme = *th;
    a->theme_dirty = true;
    a->dirty |= DIRTY_ALL;
}
