/* tui/input.h: the input line (input.c): readline's callback interface inside curses. */
#ifndef MOESCOPE_INPUT_H
#define MOESCOPE_INPUT_H

#include <stdbool.h>
#include <stddef.h>

#include <curses.h>

struct app;
struct input;

enum input_result {
    INPUT_NONE,                /* key consumed, nothing else happened */
    INPUT_CHANGED,             /* the line changed: draw it */
    INPUT_LINE,                /* a line was entered: input_take_line() */
    INPUT_EOF,                 /* Ctrl-D on an empty line */
};
/* Sets readline up for life inside curses and loads the history. NULL on failure. */
struct input *input_open(struct app *a);
void input_close(struct input *in);       /* saves the history */
/* Feeds bytes (a key as readline would get it from a terminal). */
enum input_result input_feed(struct input *in, const char *bytes, size_t n);
/* Editing keys curses decoded, done with readline's own commands. */
enum input_edit { INPUT_EDIT_HOME, INPUT_EDIT_END, INPUT_EDIT_DELETE, INPUT_EDIT_WORD_LEFT,
                  INPUT_EDIT_WORD_RIGHT };
enum input_result input_edit(struct input *in, enum input_edit op);
/* Inserts text as typed literally (paste, Alt-Enter's newline). */
enum input_result input_insert(struct input *in, const char *text, size_t n);
/* The entered line (owned by the input until the next call), or NULL. */
const char *input_take_line(struct input *in);
/* The current text. */
const char *input_text(const struct input *in, size_t *len);
void input_clear(struct input *in);
/* Rows the text needs at width w (prompt included). */
int input_rows(const struct input *in, int w);
/* Draws the line into w and leaves the cursor at the editing point. */
void input_draw(const struct input *in, WINDOW *w, const struct app *a);
/* A message readline produced (completion list), "" when none; cleared by reading. */
const char *input_take_note(struct input *in);
/* The history file path ($XDG_STATE_HOME/moescope/history), made in buf. */
const char *input_history_path(char *buf, size_t buflen);
/* `set editing-mode vi` in ~/.inputrc: a lone Esc belongs to readline then. */
bool input_vi_mode(const struct input *in);
/* In a bracketed paste: keys are text until the end marker. */
bool input_in_paste(const struct input *in);
/* One key from w, as wget_wch() returns it (OK and a character, KEY_CODE_YES and a key, or
 * ERR), except that a byte that is not UTF-8 arrives as the characters \xHH and never takes
 * the bytes after it along. */
int input_read_key(WINDOW *w, wint_t *c);
void input_paste_begin(struct input *in);
/* A paste with no byte for a second ends there (its end marker lost): the milliseconds until
 * then (-1 outside a paste), and the check that ends it (INPUT_CHANGED when it did). */
int input_paste_wait_ms(const struct input *in);
enum input_result input_paste_expire(struct input *in);
/* Adds one key's bytes to a paste; returns INPUT_CHANGED when the paste ended. */
enum input_result input_paste_bytes(struct input *in, const char *b, size_t n);

#endif
