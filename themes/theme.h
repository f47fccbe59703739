/* themes/theme.h: colour themes as data: semantic roles, a parser, the built-ins.
 *
 * A theme file is plain text, one role a line:
 *     # comment
 *     role = FOREGROUND BACKGROUND [ATTRIBUTES...]
 * where a colour is `default`, a name (black red green yellow blue magenta cyan white, and
 * bright-black .. bright-white), a number 0-255 (xterm palette) or #rrggbb; attributes are
 * bold dim underline reverse italic standout, or `none`. A bad line is reported as
 * `file:line: what` and its role keeps the value it had (the base theme's).
 *
 * This module never touches curses, so the parser can be tested and fuzzed without a
 * terminal; tui/draw.c turns a theme into colour pairs. */
#ifndef MOESCOPE_THEME_H
#define MOESCOPE_THEME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { THEME_HEAT_STEPS = 8, THEME_EXPERT_COLORS = 8 };

enum theme_role {
    THEME_TEXT,          /* ordinary text */
    THEME_DIM,           /* secondary text, hints, zero cells */
    THEME_TITLE,         /* view labels, pane titles */
    THEME_BORDER,
    THEME_BORDER_FOCUS,  /* border of the pane with focus */
    THEME_SELECTION,     /* the selected token / line */
    THEME_STATUS,        /* the status bar */
    THEME_KEY,           /* key hints: "[h]" */
    THEME_WARNING,
    THEME_ERROR,
    THEME_USER,          /* transcript: the user's messages */
    THEME_ASSISTANT,     /* transcript: the model's replies */
    THEME_INPUT,         /* the input line */
    THEME_ESCAPE,        /* escaped bytes of model text: \x1b, <U+202E> */
    THEME_PROMPT,        /* prompt tokens in the strip */
    THEME_SPARK_ENTROPY,
    THEME_SPARK_LATENCY,
    THEME_PREFILL,       /* prefill apart in the latency view */
    THEME_BAR,           /* bars: load, time split */
    THEME_HEAT_1,        /* heat scale, THEME_HEAT_STEPS steps, weakest first */
    THEME_HEAT_8 = THEME_HEAT_1 + THEME_HEAT_STEPS - 1,
    THEME_EXPERT_1,      /* expert palette: expert e uses THEME_EXPERT_1 + e % 8 */
    THEME_EXPERT_8 = THEME_EXPERT_1 + THEME_EXPERT_COLORS - 1,
    THEME_ROLE_COUNT
};
/* "text", "dim", ..., "heat1".."heat8", "expert1".."expert8" */
extern const char *const theme_role_names[THEME_ROLE_COUNT];

enum theme_color_kind { THEME_COLOR_DEFAULT, THEME_COLOR_INDEX, THEME_COLOR_RGB };

struct theme_color {
    uint8_t kind;        /* enum theme_color_kind */
    uint8_t index;       /* 0-255 when INDEX */
    uint8_t r, g, b;     /* when RGB */
};

enum {
    THEME_ATTR_BOLD = 1 << 0,
    THEME_ATTR_DIM = 1 << 1,
    THEME_ATTR_UNDERLINE = 1 << 2,
    THEME_ATTR_REVERSE = 1 << 3,
    THEME_ATTR_ITALIC = 1 << 4,
    THEME_ATTR_STANDOUT = 1 << 5,
};

struct theme_style {
    struct theme_color fg, bg;
    unsigned attrs;      /* THEME_ATTR_* */
};

struct theme {
    char name[64];
    struct theme_style style[THEME_ROLE_COUNT];
};

/* The built-ins, compiled in: "dark" (the default), "light", "high-contrast", "mono". */
extern const char *const theme_builtin_names[];
extern const size_t theme_builtin_count;
/* Fills *out with a built-in. Returns 0, or -1 when the name is not a built-in. */
int theme_builtin(const char *name, struct theme *out);

/* Parses theme text over *th (roles it does not name keep their values). `file` names the
 * source in messages. Every bad line appends `file:line: what\n` to msg, which must hold a
 * terminated string on entry (empty, say); it is truncated to msglen and stays terminated.
 * msg may be NULL. Returns the number of bad lines. */
int theme_parse(struct theme *th, const char *text, size_t len, const char *file, char *msg,
                size_t msglen);

/* Loads a theme by name:
 *  - NULL or "": "mono" when $NO_COLOR is set and not empty, else "dark";
 *  - a name with a '/': that file, parsed over "dark";
 *  - else $XDG_CONFIG_HOME/moescope/themes/NAME.theme (default ~/.config/...; a ".theme"
 *    already on NAME is not doubled) when it
 *    exists, parsed over the built-in of that name if any, else over "dark";
 *  - else the built-in NAME.
 * Returns 0 on success (messages about bad lines may still be in msg), -1 when the theme
 * cannot be found or read: *out is then the default and msg says why. */
int theme_load(const char *name, struct theme *out, char *msg, size_t msglen);

/* The names /theme can take: the built-ins, then the user's NAME.theme files (sorted, those
 * that shadow a built-in once). Fills names[0..max) and returns how many were found. */
int theme_list(char (*names)[64], int max);

/* Parses a single colour word ("red", "208", "#ff8800", "default"). Returns 0 or -1. */
int theme_parse_color(const char *word, size_t len, struct theme_color *out);

#endif
