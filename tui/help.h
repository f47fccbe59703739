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

struct help_key { const char *keys, *where, *what; };
extern const struct help_key help_keys[];
extern const size_t help_key_count;
void help_draw(const struct app *a, WINDOW *w);
int help_lines(void);

#endif
