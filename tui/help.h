/* tui/help.h: the keys screen (F1, or ? on an empty line): every key and every command. */
#ifndef MOESCOPE_HELP_H
#define MOESCOPE_HELP_H

#include <stdbool.h>
#include <stddef.h>

#include <curses.h>

struct app;

/* The keys screen is a state of its own: open, it takes every key (help_key). */
struct help_state {
    bool open;
    int scroll;                /* the first line shown */
};

/* A key while the screen is open: scrolls, closes, or is swallowed. Returns dirty bits,
 * with KEYS_PASS for the keys that work over it too (Ctrl-C, Ctrl-L, Tab, ...). */
unsigned help_key(struct app *a, int key);
void help_draw(const struct app *a, WINDOW *w);
/* Lines the screen has (keys, then commands). */
int help_lines(void);

#endif
