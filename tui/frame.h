/* tui/frame.h: the windows of the panes and one frame of them (frame.c): only the dirty
 * windows are drawn, each wnoutrefresh'd, then one doupdate. */
#ifndef MOESCOPE_FRAME_H
#define MOESCOPE_FRAME_H

#include <curses.h>

#include "theme.h"

struct frame_windows {
    WINDOW *status, *transcript, *input, *inspector, *tabs, *sep, *hints;
    WINDOW *keys;              /* a 1x1 window never drawn: keys are read through it */
};

struct frame_stats {
    double last_frame;         /* seconds (monotonic) of the last frame drawn */
    long frames_drawn;         /* for --frames */
    double draw_ms_sum, draw_ms_max; /* time spent drawing frames (the --frames report) */
    double rss_at;             /* when rss_mb was read */
    double rss_mb;             /* resident memory of the process */
};

struct app;
/* Lays the panes out for the terminal's size (windows made again when it changed), then
 * draws what is dirty and clears the bits. */
void frame_draw(struct app *a);
/* Frees every window (the terminal is being given back). */
void frame_windows_free(struct frame_windows *w);
/* /theme: the colours change on the next frame. */
void frame_theme_set(struct app *a, const struct theme *th);

#endif
