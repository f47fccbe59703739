/* tui/picker.h: the model picker (/model with no argument): the models on this machine
 * (cli/model_store.h) in a box over everything, filtered as the user types, as tmux's
 * choose-tree and htop's search are. Up/Down (PgUp/PgDn, Home/End) choose, Enter switches to
 * the chosen model (the same checks as /model NAME), Esc closes. Like the keys screen it is a
 * state of its own: open, it takes every key (picker_key). */
#ifndef MOESCOPE_PICKER_H
#define MOESCOPE_PICKER_H

#include <stdbool.h>
#include <stddef.h>

#include <curses.h>

#include "model_store.h"

struct app;

struct picker_state {
    bool open;
    struct model_list list;    /* found and described when it opens, freed when it closes */
    char filter[128];          /* what the user typed (UTF-8) */
    size_t filter_len;
    size_t *match;             /* (n_match) indexes into list.v that the filter keeps */
    size_t n_match;
    size_t sel;                /* index into match */
    size_t top;                /* the first match shown */
};

/* Finds and describes the models and opens the picker over them. Returns 0, or -1 with err
 * set (out of memory). */
int picker_open(struct app *a, char *err, size_t errlen);
void picker_close(struct picker_state *p);
/* A key while the picker is open. Returns dirty bits, with KEYS_PASS for the keys that work
 * over it too (Ctrl-C, Ctrl-L, Ctrl-Z, a resize). */
unsigned picker_key(struct app *a, int key);
/* Draws the picker into w (its own window, any size from 3 rows and 8 columns); the list
 * scrolls to keep the chosen line in view. */
void picker_draw(struct app *a, WINDOW *w);
/* Sets the filter text and recomputes the matches (tests; picker_key uses it). */
void picker_set_filter(struct picker_state *p, const char *text, size_t len);

#endif
