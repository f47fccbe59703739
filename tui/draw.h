/* tui/draw.h: drawing helpers shared by the views and the app: theme roles to curses
 * attributes, clipped and escaped text at its true width, sparklines and bars.
 *
 * Every helper clips to the window: nothing is written outside it, whatever the
 * coordinates. Text from the model goes through draw_text(), which shows control bytes,
 * bidi overrides and invalid UTF-8 as visible escapes in the THEME_ESCAPE role. */
#ifndef MOESCOPE_DRAW_H
#define MOESCOPE_DRAW_H

#include <stdbool.h>
#include <stddef.h>

#include <curses.h>

#include "theme.h"

enum draw_color_mode {
    DRAW_MONO,       /* no colour (NO_COLOR, mono theme, or a terminal without colour) */
    DRAW_8,          /* 8 (or 16) colours: every colour mapped to the nearest of them */
    DRAW_256,        /* xterm 256: #rrggbb mapped to the nearest of the cube / grey ramp */
    DRAW_REDEFINED,  /* COLORTERM=truecolor + can_change_color: slots set to exact RGB */
    DRAW_DIRECT,     /* direct-colour terminfo (e.g. xterm-direct): exact RGB */
};

/* Sets up colour pairs for the theme's roles (pair of role r = r + 1) for what the terminal
 * can do, after initscr()/newterm(). Call again after the theme changes. Returns the mode. */
enum draw_color_mode draw_theme_apply(const struct theme *th);
enum draw_color_mode draw_color_mode(void);
/* The curses attributes (colour pair included) of a role; th NULL = the built-in default.
 * In DRAW_MONO the mono theme's attributes are used, so roles stay distinguishable. */
attr_t draw_attr(const struct theme *th, enum theme_role role);
/* The pair number draw_attr() puts on a role (0 in DRAW_MONO): for tests reading cells. */
short draw_pair(enum theme_role role);

/* True when the current locale's codeset is UTF-8 (call after setlocale(LC_ALL, "")). */
bool draw_locale_utf8(void);

/* Draws model text (raw bytes, maybe not UTF-8) at (y, x), at most maxw columns, clipped to
 * the window. Control bytes, C1, bidi controls and invalid bytes become escapes (\n, \x1b,
 * <U+202E>) in THEME_ESCAPE; without utf8 every non-ASCII character is escaped. A wide
 * character that would not fit whole is not drawn. Returns the columns used. */
int draw_text(WINDOW *w, int y, int x, int maxw, const char *s, size_t len, attr_t attr,
              attr_t esc_attr, bool utf8);
/* The columns draw_text() would use for the whole text. */
int draw_text_width(const char *s, size_t len, bool utf8);

/* printf-style plain text (ASCII or UTF-8 labels written by us), clipped. Returns columns. */
int draw_printf(WINDOW *w, int y, int x, int maxw, attr_t attr, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Fills columns [x, x+n) of row y with blanks in attr (clipped). */
void draw_blank(WINDOW *w, int y, int x, int n, attr_t attr);

/* One sparkline column at x spanning rows [y_top, y_top+h): frac in [0,1] sets its height in
 * eighths of a row (block characters) or in whole rows (ASCII: one of "._-=*#" on top).
 * A NaN frac leaves the column blank. */
void draw_spark_col(WINDOW *w, int y_top, int x, int h, double frac, attr_t attr, bool utf8);

/* A horizontal bar of `width` columns filled to frac in [0,1], in eighths with block
 * characters, else '#'. The unfilled rest is left as it is. */
void draw_bar(WINDOW *w, int y, int x, int width, double frac, attr_t attr, bool utf8);

/* `width` cells with a heat-scale step 0..THEME_HEAT_STEPS (0 = nothing): a shade character
 * ("·░▒▓█" / ".:+*#", two colour steps a shade) in the step's role (THEME_DIM for 0), so the
 * intensity reads in mono too. */
void draw_heat_cell(WINDOW *w, int y, int x, int width, int step, const struct theme *th,
                    bool utf8);

/* A box over everything (the keys screen, the model picker): w erased in the text colour,
 * its border in the focus colour, title at the top left, the keys that close it at the
 * bottom right (as far as they fit). */
void draw_dialog(WINDOW *w, const struct theme *th, const char *title, const char *keys);
/* A view's label at row y: title in THEME_TITLE, then two blanks and hint in THEME_DIM,
 * clipped. Returns the column after it. */
int draw_label(WINDOW *w, int y, const struct theme *th, const char *title, const char *hint);

/* A string of one UTF-8 or ASCII glyph chosen by utf8. */
#define DRAW_GLYPH(utf8, u, a) ((utf8) ? (u) : (a))

#endif
