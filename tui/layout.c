/* tui/layout.c: which pane goes where, from the terminal's size alone.
 *
 *   wide (>= 120 columns)            narrow                      narrow and short
 *   +----- status ---------------+   +---- status ----------+   +---- status ---------+
 *   | transcript     | inspector |   | inspector            |   | transcript          |
 *   |                |           |   +----------------------+   | (F2 or Tab: the     |
 *   |                |           |   | transcript           |   |  inspector instead) |
 *   | input          |           |   | input                |   | input               |
 *   +----- hints ----------------+   +---- hints -----------+   +---- hints ----------+
 *
 * Pure: tests call it for sizes without a terminal. */
#include "layout.h"

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static struct rect rect_make(int y, int x, int h, int w)
{
    struct rect r = { y, x, h > 0 ? h : 0, w > 0 ? w : 0 };
    if (!r.h || !r.w)
        r.h = r.w = 0;
    return r;
}

void layout_compute(int rows, int cols, bool inspector_on, bool inspector_alone, int input_rows,
                    struct layout *out)
{
    struct layout l = { .rows = rows, .cols = cols };
    if (rows < LAYOUT_MIN_ROWS || cols < LAYOUT_MIN_COLS) {
        l.mode = LAYOUT_TOO_SMALL;
        *out = l;
        return;
    }
    l.status = rect_make(0, 0, 1, cols);
    l.hints = rect_make(rows - 1, 0, 1, cols);
    int body = rows - 2;                       /* rows between the bars */
    int in_rows = clampi(input_rows, 1, body / 3 > 1 ? body / 3 : 1);

    if (cols >= LAYOUT_SIDE_COLS && inspector_on) {
        /* The inspector gets 45% of the width (56..100 columns); the chat the rest, less
         * one column for the rule between them. */
        int iw = clampi(cols * 45 / 100, 56, 100);
        int cw = cols - iw - 1;
        l.mode = LAYOUT_SIDE;
        l.transcript = rect_make(1, 0, body - in_rows, cw);
        l.input = rect_make(1 + body - in_rows, 0, in_rows, cw);
        l.sep = rect_make(1, cw, body, 1);
        l.inspector = rect_make(1, cw + 1, body, iw);
    } else if (inspector_on && body - in_rows >= LAYOUT_STACK_ROWS) {
        /* Stacked: the inspector on top takes 45% of the room (at least 7 rows, so the
         * overview's sparklines fit), or 65% while it has focus; the chat keeps the rest. */
        int room = body - in_rows;
        int ih = clampi(room * (inspector_alone ? 65 : 45) / 100, 7, room - 4);
        l.mode = LAYOUT_STACKED;
        l.inspector = rect_make(1, 0, ih, cols);
        l.transcript = rect_make(1 + ih, 0, room - ih, cols);
        l.input = rect_make(1 + room, 0, in_rows, cols);
    } else if (inspector_on && inspector_alone) {
        /* No room to stack, and the user asked for the inspector (F2 or Tab): it takes the
         * chat's place; the input line stays. */
        l.mode = LAYOUT_INSPECTOR_ONLY;
        l.inspector = rect_make(1, 0, body - in_rows, cols);
        l.input = rect_make(1 + body - in_rows, 0, in_rows, cols);
    } else {
        l.mode = LAYOUT_CHAT_ONLY;
        l.transcript = rect_make(1, 0, body - in_rows, cols);
        l.input = rect_make(1 + body - in_rows, 0, in_rows, cols);
    }
    *out = l;
}

bool layout_cramped(int rows, int cols, int input_rows)
{
    if (rows < LAYOUT_MIN_ROWS || cols < LAYOUT_MIN_COLS || cols >= LAYOUT_SIDE_COLS)
        return false;
    int body = rows - 2;
    int in_rows = clampi(input_rows, 1, body / 3 > 1 ? body / 3 : 1);
    return body - in_rows < LAYOUT_STACK_ROWS;
}
