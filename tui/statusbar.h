/* tui/statusbar.h: the top bar (model, speed, memory) and the bottom hint line. */
#ifndef MOESCOPE_STATUSBAR_H
#define MOESCOPE_STATUSBAR_H

#include <stddef.h>

#include <curses.h>

struct app;

/* The status bar's text pieces, most important first, for a width (pure: tested). */
size_t statusbar_format(const struct app *a, int width, char *buf, size_t buflen);
void statusbar_draw(const struct app *a, WINDOW *w);
void hints_draw(const struct app *a, WINDOW *w);

#endif
