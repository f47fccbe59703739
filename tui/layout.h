/* tui/layout.h: where each pane goes for a terminal size (layout.c: pure, tested). */
#ifndef MOESCOPE_LAYOUT_H
#define MOESCOPE_LAYOUT_H

#include <stdbool.h>

enum {
    LAYOUT_MIN_COLS = 40,      /* below this, or LAYOUT_MIN_ROWS, the too-small screen */
    LAYOUT_MIN_ROWS = 10,
    LAYOUT_SIDE_COLS = 120,    /* from this width the inspector stands beside the chat */
    LAYOUT_STACK_ROWS = 14,    /* rows needed (between the bars) to stack chat and inspector */
};

struct rect { int y, x, h, w; };   /* h == 0 or w == 0: not shown */

enum layout_mode {
    LAYOUT_TOO_SMALL,          /* one line saying so */
    LAYOUT_SIDE,               /* chat | inspector */
    LAYOUT_STACKED,            /* inspector above the chat */
    LAYOUT_CHAT_ONLY,          /* inspector hidden (F2), or no room to stack */
    LAYOUT_INSPECTOR_ONLY,     /* narrow and short: F2 or Tab swapped the chat out */
};

struct layout {
    enum layout_mode mode;
    int rows, cols;            /* the terminal size it was made for */
    struct rect status;        /* the top bar: model, speed, memory */
    struct rect transcript;    /* the chat */
    struct rect input;         /* the input line(s) */
    struct rect inspector;     /* tab row + the current view */
    struct rect sep;           /* the vertical rule between chat and inspector (side) */
    struct rect hints;         /* the bottom line: key hints or a message */
};

/* Decides the panes for a terminal of rows x cols. inspector_on is the user's F2 choice;
 * inspector_alone (the inspector has focus) asks for it in place of the chat when there is
 * no room to stack them, and for a larger share when stacked; input_rows the lines the
 * input wants (clamped to a third of the screen). */
void layout_compute(int rows, int cols, bool inspector_on, bool inspector_alone, int input_rows,
                    struct layout *out);
/* True when the size cannot hold chat and inspector together (F2 swaps them). */
bool layout_cramped(int rows, int cols, int input_rows);

#endif
