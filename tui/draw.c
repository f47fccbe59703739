/* tui/draw.c: theme roles to curses colour pairs, escaped text at its true width,
 * sparklines, bars and heat cells. See draw.h. */
#include "draw.h"

#include <langinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "text_escape.h"

/* ---------------------------------------------------------------- colours */

static enum draw_color_mode draw_mode = DRAW_MONO;
static attr_t draw_extra[THEME_ROLE_COUNT];      /* A_BOLD standing in for bright fg (8 colours) */
static unsigned draw_mono_attrs[THEME_ROLE_COUNT]; /* THEME_ATTR_* used in DRAW_MONO */
static short draw_role_pair[THEME_ROLE_COUNT];   /* 0 in DRAW_MONO */

/* The default theme, built once on first use. */
static const struct theme *draw_default_theme(void)
{
    static struct theme dark;
    static bool ready;
    if (!ready) {
        theme_builtin("dark", &dark);
        ready = true;
    }
    return &dark;
}

/* xterm's 16 system colours, for mapping RGB to 8/16 colours and indexes to RGB. */
static const uint8_t draw_sys_rgb[16][3] = {
    { 0, 0, 0 },       { 205, 0, 0 },   { 0, 205, 0 },   { 205, 205, 0 },
    { 0, 0, 238 },     { 205, 0, 205 }, { 0, 205, 205 }, { 229, 229, 229 },
    { 127, 127, 127 }, { 255, 0, 0 },   { 0, 255, 0 },   { 255, 255, 0 },
    { 92, 92, 255 },   { 255, 0, 255 }, { 0, 255, 255 }, { 255, 255, 255 },
};
static const uint8_t draw_cube_level[6] = { 0, 95, 135, 175, 215, 255 };

static void draw_index_rgb(int i, uint8_t rgb[3])
{
    if (i < 16) {
        memcpy(rgb, draw_sys_rgb[i], 3);
    } else if (i < 232) {
        i -= 16;
        rgb[0] = draw_cube_level[i / 36];
        rgb[1] = draw_cube_level[i / 6 % 6];
        rgb[2] = draw_cube_level[i % 6];
    } else {
        rgb[0] = rgb[1] = rgb[2] = (uint8_t)(8 + 10 * (i - 232));
    }
}

static long draw_dist2(const uint8_t a[3], const uint8_t b[3])
{
    long d = 0;
    for (int c = 0; c < 3; c++)
        d += (long)(a[c] - b[c]) * (a[c] - b[c]);
    return d;
}

/* Nearest of palette indexes [0, n) (n = 8, 16 or 256) to an RGB colour. */
static int draw_nearest(const uint8_t rgb[3], int n)
{
    int best = 0;
    long bd = -1;
    for (int i = 0; i < n; i++) {
        uint8_t p[3];
        draw_index_rgb(i, p);
        long d = draw_dist2(rgb, p);
        if (bd < 0 || d < bd) {
            bd = d;
            best = i;
        }
    }
    return best;
}

/* Slots redefined to exact RGB in DRAW_REDEFINED, allocated from 255 downwards. */
struct draw_slots {
    uint32_t rgb[64];
    int slot[64];
    int n, next;
    bool used[256]; /* indexes the theme names itself: never redefined */
};

/* A theme colour as a curses colour number; *bold set when a bright 8-colour fg needs it. */
static int draw_color_number(const struct theme_color *c, bool fg, bool have_default,
                             struct draw_slots *slots, attr_t *bold)
{
    uint8_t rgb[3];
    if (c->kind == THEME_COLOR_DEFAULT)
        return have_default ? -1 : fg ? COLOR_WHITE : COLOR_BLACK;
    if (c->kind == THEME_COLOR_INDEX) {
        if (c->index < COLORS && draw_mode != DRAW_DIRECT)
            return c->index;
        if (draw_mode == DRAW_DIRECT && c->index < 8)
            return c->index;
        draw_index_rgb(c->index, rgb);
    } else {
        rgb[0] = c->r;
        rgb[1] = c->g;
        rgb[2] = c->b;
    }
    uint32_t v = (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
    switch (draw_mode) {
    case DRAW_DIRECT:
        return v < 8 ? 8 : (int)v; /* below 8 means a system colour in direct terminfo */
    case DRAW_REDEFINED:
        for (int i = 0; i < slots->n; i++)
            if (slots->rgb[i] == v)
                return slots->slot[i];
        while (slots->next >= 16 && slots->used[slots->next])
            slots->next--;
        if (slots->n < 64 && slots->next >= 16) {
            int s = slots->next--;
            if (init_extended_color(s, rgb[0] * 1000 / 255, rgb[1] * 1000 / 255,
                                    rgb[2] * 1000 / 255) == OK) {
                slots->rgb[slots->n] = v;
                slots->slot[slots->n++] = s;
                return s;
            }
        }
        return draw_nearest(rgb, 256);
    case DRAW_256:
        return draw_nearest(rgb, 256);
    default: {
        /* A bright background on 8 colours would fall back to its dim twin (grey to
         * black), so backgrounds pick among the 8 base colours directly; foregrounds may
         * take a bright one as base + bold. */
        if (!fg && COLORS < 16)
            return draw_nearest(rgb, 8);
        int i = draw_nearest(rgb, 16);
        if (i >= 8 && COLORS < 16) {
            i -= 8;
            *bold = A_BOLD;
        }
        return i;
    }
    }
}

static attr_t draw_curses_attrs(unsigned a)
{
    attr_t r = 0;
    if (a & THEME_ATTR_BOLD)
        r |= A_BOLD;
    if (a & THEME_ATTR_DIM)
        r |= A_DIM;
    if (a & THEME_ATTR_UNDERLINE)
        r |= A_UNDERLINE;
    if (a & THEME_ATTR_REVERSE)
        r |= A_REVERSE;
    if (a & THEME_ATTR_ITALIC)
        r |= A_ITALIC;
    if (a & THEME_ATTR_STANDOUT)
        r |= A_STANDOUT;
    return r;
}

static bool draw_theme_colorless(const struct theme *th)
{
    for (int r = 0; r < THEME_ROLE_COUNT; r++)
        if (th->style[r].fg.kind != THEME_COLOR_DEFAULT ||
            th->style[r].bg.kind != THEME_COLOR_DEFAULT)
            return false;
    return true;
}

enum draw_color_mode draw_theme_apply(const struct theme *th)
{
    if (!th)
        th = draw_default_theme();
    memset(draw_extra, 0, sizeof draw_extra);
    memset(draw_role_pair, 0, sizeof draw_role_pair);
    struct theme mono;
    theme_builtin("mono", &mono);
    bool colorless = draw_theme_colorless(th);
    for (int r = 0; r < THEME_ROLE_COUNT; r++)
        draw_mono_attrs[r] = colorless ? th->style[r].attrs : mono.style[r].attrs;

    draw_mode = DRAW_MONO;
    if (colorless || !has_colors() || start_color() != OK || COLORS < 8 ||
        COLOR_PAIRS <= THEME_ROLE_COUNT)
        return draw_mode;
    bool have_default = use_default_colors() == OK;
    const char *ct = getenv("COLORTERM");
    bool truecolor = ct && (strcmp(ct, "truecolor") == 0 || strcmp(ct, "24bit") == 0);
    if (COLORS >= 0x1000000)
        draw_mode = DRAW_DIRECT;
    else if (COLORS >= 256 && truecolor && can_change_color())
        draw_mode = DRAW_REDEFINED;
    else if (COLORS >= 256)
        draw_mode = DRAW_256;
    else
        draw_mode = DRAW_8;

    struct draw_slots slots = { .next = 255 };
    for (int r = 0; r < THEME_ROLE_COUNT; r++) {
        if (th->style[r].fg.kind == THEME_COLOR_INDEX)
            slots.used[th->style[r].fg.index] = true;
        if (th->style[r].bg.kind == THEME_COLOR_INDEX)
            slots.used[th->style[r].bg.index] = true;
    }
    for (int r = 0; r < THEME_ROLE_COUNT; r++) {
        attr_t bold = 0, unused = 0;
        int fg = draw_color_number(&th->style[r].fg, true, have_default, &slots, &bold);
        int bg = draw_color_number(&th->style[r].bg, false, have_default, &slots, &unused);
        if (draw_mode == DRAW_8 && fg == bg && fg >= 0) {
            /* two colours that merged on 8: keep the text readable */
            fg = (bg == COLOR_BLACK || bg == COLOR_RED || bg == COLOR_BLUE ||
                  bg == COLOR_MAGENTA) ? COLOR_WHITE : COLOR_BLACK;
            bold = 0;
        }
        if (init_extended_pair(r + 1, fg, bg) == OK) {
            draw_role_pair[r] = (short)(r + 1);
            draw_extra[r] = bold;
        }
    }
    return draw_mode;
}

enum draw_color_mode draw_color_mode(void)
{
    return draw_mode;
}

attr_t draw_attr(const struct theme *th, enum theme_role role)
{
    if ((int)role < 0 || role >= THEME_ROLE_COUNT)
        role = THEME_TEXT;
    if (draw_mode == DRAW_MONO)
        return draw_curses_attrs(draw_mono_attrs[role]);
    if (!th)
        th = draw_default_theme();
    return COLOR_PAIR(draw_role_pair[role]) | draw_curses_attrs(th->style[role].attrs) |
           draw_extra[role];
}

short draw_pair(enum theme_role role)
{
    if ((int)role < 0 || role >= THEME_ROLE_COUNT || draw_mode == DRAW_MONO)
        return 0;
    return draw_role_pair[role];
}

bool draw_locale_utf8(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

/* ---------------------------------------------------------------- text */

/* Where a run of text goes: a row of a window from column x up to (not including) lim. */
struct draw_pen {
    WINDOW *w; /* NULL: only measure */
    int y, x, lim;
    int used;
};

static void draw_put_ascii(struct draw_pen *p, const char *s, attr_t attr)
{
    for (; *s; s++) {
        if (p->w && (p->x >= p->lim))
            return;
        if (p->w && p->x >= 0)
            mvwaddch(p->w, p->y, p->x, (chtype)(unsigned char)*s | attr);
        p->x++;
        p->used++;
    }
}

/* A base character with up to 4 zero-width characters after it; false when it does not fit. */
static bool draw_put_wide(struct draw_pen *p, const wchar_t *wcs, int width, attr_t attr)
{
    if (p->w && p->x + width > p->lim)
        return false;
    if (p->w && p->x >= 0) {
        cchar_t cc;
        setcchar(&cc, wcs, attr & ~A_COLOR, (short)PAIR_NUMBER(attr), NULL);
        mvwadd_wch(p->w, p->y, p->x, &cc);
    }
    p->x += width;
    p->used += width;
    return true;
}

static bool draw_is_pictograph(uint32_t cp)
{
    return (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0x2600 && cp <= 0x27BF);
}

/* The shared walk of draw_text and draw_text_width. */
static int draw_text_walk(struct draw_pen *p, const char *s, size_t len, attr_t attr,
                          attr_t esc_attr, bool utf8)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    uint32_t prev = 0;
    char esc[16];
    while (i < len) {
        if (p->w && p->x >= p->lim)
            break;
        uint32_t cp;
        int n = utf8_decode(u + i, len - i, &cp);
        if (n == 0) {
            snprintf(esc, sizeof esc, "\\x%02X", u[i]);
            draw_put_ascii(p, esc, esc_attr);
            i++;
            prev = 0;
            continue;
        }
        if (cp < 0x20 || cp == 0x7f) {
            if (cp == '\n')
                snprintf(esc, sizeof esc, "\\n");
            else if (cp == '\t')
                snprintf(esc, sizeof esc, "\\t");
            else if (cp == 0x1b)
                snprintf(esc, sizeof esc, "\\e");
            else
                snprintf(esc, sizeof esc, "\\x%02X", (unsigned)cp);
            draw_put_ascii(p, esc, esc_attr);
            i += (size_t)n;
            prev = 0;
            continue;
        }
        if (cp < 0x80 && (i + 1 == len || u[i + 1] < 0x80 || !utf8)) {
            char one[2] = { (char)cp, 0 };
            draw_put_ascii(p, one, attr);
            i += (size_t)n;
            prev = cp;
            continue;
        }
        /* Here: non-ASCII, or ASCII that a combining mark may follow. */
        int width = cp < 0x80 ? 1 : utf8 ? wcwidth((wchar_t)cp) : -1;
        bool zwj_ok = false;
        if (cp == 0x200D && draw_is_pictograph(prev)) {
            uint32_t next;
            zwj_ok = utf8_decode(u + i + n, len - i - (size_t)n, &next) > 0 &&
                     draw_is_pictograph(next);
        }
        if (width < 0 || (text_cp_is_unsafe(cp) && !zwj_ok) || (width == 0 && prev == 0)) {
            snprintf(esc, sizeof esc, "<U+%04X>", (unsigned)cp);
            draw_put_ascii(p, esc, esc_attr);
            i += (size_t)n;
            prev = 0;
            continue;
        }
        /* Gather the base character and the zero-width ones that combine with it. */
        wchar_t wcs[6] = { (wchar_t)cp };
        int nw = 1;
        size_t j = i + (size_t)n;
        uint32_t last = cp;
        while (j < len && nw < 5) {
            uint32_t c2;
            int n2 = utf8_decode(u + j, len - j, &c2);
            if (n2 == 0 || c2 < 0x300 || wcwidth((wchar_t)c2) != 0)
                break;
            if (c2 == 0x200D) {
                uint32_t c3;
                if (!draw_is_pictograph(last) ||
                    utf8_decode(u + j + n2, len - j - (size_t)n2, &c3) == 0 ||
                    !draw_is_pictograph(c3))
                    break;
            } else if (text_cp_is_unsafe(c2)) {
                break;
            }
            wcs[nw++] = (wchar_t)c2;
            last = c2;
            j += (size_t)n2;
        }
        wcs[nw] = 0;
        if (width == 0)
            width = 1; /* a lone combining mark after ASCII still takes its own cell here */
        if (!draw_put_wide(p, wcs, width, attr))
            break;
        i = j;
        prev = last;
    }
    return p->used;
}

int draw_text(WINDOW *w, int y, int x, int maxw, const char *s, size_t len, attr_t attr,
              attr_t esc_attr, bool utf8)
{
    if (!w || !s || maxw <= 0 || y < 0 || y >= getmaxy(w) || x >= getmaxx(w))
        return 0;
    int lim = x + maxw;
    if (lim > getmaxx(w))
        lim = getmaxx(w);
    struct draw_pen p = { w, y, x, lim, 0 };
    return draw_text_walk(&p, s, len, attr, esc_attr, utf8);
}

int draw_text_width(const char *s, size_t len, bool utf8)
{
    struct draw_pen p = { NULL, 0, 0, 0, 0 };
    return s ? draw_text_walk(&p, s, len, 0, 0, utf8) : 0;
}

int draw_printf(WINDOW *w, int y, int x, int maxw, attr_t attr, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return 0;
    size_t len = (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1;
    return draw_text(w, y, x, maxw, buf, len, attr, attr, true);
}

void draw_blank(WINDOW *w, int y, int x, int n, attr_t attr)
{
    if (!w || y < 0 || y >= getmaxy(w))
        return;
    int end = x + n < getmaxx(w) ? x + n : getmaxx(w);
    for (int c = x < 0 ? 0 : x; c < end; c++)
        mvwaddch(w, y, c, ' ' | attr);
}

/* ---------------------------------------------------------------- sparklines, bars */

static void draw_glyph(WINDOW *w, int y, int x, const char *g, attr_t attr)
{
    if (y < 0 || x < 0 || y >= getmaxy(w) || x >= getmaxx(w))
        return;
    if ((unsigned char)g[0] < 0x80) {
        mvwaddch(w, y, x, (chtype)(unsigned char)g[0] | attr);
        return;
    }
    uint32_t cp;
    if (utf8_decode((const unsigned char *)g, strlen(g), &cp) == 0)
        return;
    wchar_t wcs[2] = { (wchar_t)cp, 0 };
    cchar_t cc;
    setcchar(&cc, wcs, attr & ~A_COLOR, (short)PAIR_NUMBER(attr), NULL);
    mvwadd_wch(w, y, x, &cc);
}

static const char *const draw_eighths_v[9] = { " ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" };
static const char *const draw_eighths_h[9] = { " ", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█" };
static const char draw_quarters_ascii[5] = { ' ', '_', '-', '=', '#' };

void draw_spark_col(WINDOW *w, int y_top, int x, int h, double frac, attr_t attr, bool utf8)
{
    if (!w || h <= 0 || frac != frac)
        return;
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    int steps = utf8 ? 8 : 4;
    /* Every value shows at least the lowest step, so a column with data is never blank. */
    int level = 1 + (int)(frac * (h * steps - 1) + 0.5);
    for (int r = 0; r < h; r++) {
        int y = y_top + h - 1 - r;
        int in_row = level - r * steps;
        if (in_row <= 0)
            break;
        if (in_row > steps)
            in_row = steps;
        if (utf8) {
            draw_glyph(w, y, x, draw_eighths_v[in_row], attr);
        } else {
            char g[2] = { draw_quarters_ascii[in_row], 0 };
            draw_glyph(w, y, x, g, attr);
        }
    }
}

void draw_bar(WINDOW *w, int y, int x, int width, double frac, attr_t attr, bool utf8)
{
    if (!w || width <= 0 || frac != frac)
        return;
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    int eighths = (int)(frac * width * 8 + 0.5);
    for (int c = 0; c < width && eighths > 0; c++, eighths -= 8) {
        int e = eighths >= 8 ? 8 : eighths;
        if (utf8)
            draw_glyph(w, y, x + c, draw_eighths_h[e], attr);
        else
            draw_glyph(w, y, x + c, e >= 4 ? "#" : " ", attr);
    }
}

void draw_heat_cell(WINDOW *w, int y, int x, int width, int step, const struct theme *th,
                    bool utf8)
{
    static const char *const shade_u[5] = { "·", "░", "▒", "▓", "█" };
    static const char *const shade_a[5] = { ".", ":", "+", "*", "#" };
    if (!w)
        return;
    if (step < 0)
        step = 0;
    if (step > THEME_HEAT_STEPS)
        step = THEME_HEAT_STEPS;
    int s = step == 0 ? 0 : (step + 1) / 2; /* 8 colour steps onto 4 shades */
    attr_t a = step == 0 ? draw_attr(th, THEME_DIM) : draw_attr(th, THEME_HEAT_1 + step - 1);
    for (int c = 0; c < width; c++)
        draw_glyph(w, y, x + c, utf8 ? shade_u[s] : shade_a[s], a);
}

int draw_label(WINDOW *w, int y, const struct theme *th, const char *title, const char *hint)
{
    if (!w)
        return 0;
    int x = draw_printf(w, y, 0, getmaxx(w), draw_attr(th, THEME_TITLE), "%s", title);
    if (hint && hint[0])
        x += draw_printf(w, y, x, getmaxx(w) - x, draw_attr(th, THEME_DIM), "  %s", hint);
    return x;
}

void draw_dialog(WINDOW *w, const struct theme *th, const char *title, const char *keys)
{
    int h, wd;
    getmaxyx(w, h, wd);
    werase(w);
    wbkgdset(w, ' ' | draw_attr(th, THEME_TEXT));
    wattrset(w, draw_attr(th, THEME_BORDER_FOCUS));
    box(w, 0, 0);
    draw_printf(w, 0, 2, wd - 4, draw_attr(th, THEME_TITLE), "%s", title);
    int kw = (int)strlen(keys);
    draw_printf(w, h - 1, wd - kw - 2 > 2 ? wd - kw - 2 : 2, wd - 4, draw_attr(th, THEME_DIM),
                "%s", keys);
}
